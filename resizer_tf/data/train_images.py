"""Training photographs from Debian packages, disjoint from the bench set.

Chen et al. train on large natural-image sets (Sec. III-F: CLIC / DIV2K-like
collections, 256x256 patches); none can be downloaded here. This module
builds a small stand-in training folder from the photographs that Debian's
`lomiri-wallpapers-16.04` and `lomiri-wallpapers-20.04` ship (CC-BY-4.0 or
CC-BY-SA-4.0, per file in the packages' copyright files; illustrations, renders and heavily
edited images were left out after looking at each) plus scikit-image's
colour sample photos (BSD-3 / public domain, `skimage.data`). Debian's
`ukui-wallpapers` and `gnome-backgrounds` were looked at too, every image
(2026-12-03): renders, illustrations and patterns, no photographs. The bench set
(`bench_images`: `mate-backgrounds`, `plasma-workspace-wallpapers`) and the
demo photo (scikit-learn's `china.jpg`) are not among them; the test suite
checks that by path and by pixel content.

Each photo is area-downscaled so that its short side is min(1024, short / 2):
a box filter over at least 2x2 source pixels hides the sources' JPEG
artefacts (as in the bench set), and the crops the trainer cuts still see
whole objects.
"""
import hashlib
import json
import os

import numpy as np
from PIL import Image
from PIL import ImageOps

from resizer_tf import _io
from resizer_tf.data import bench_images

BACKGROUNDS_DIR = "/usr/share/backgrounds"
# Photographs only; the packages' other images are illustrations or renders.
LOMIRI_1604 = ("Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly",
               "Picture_0B_by_freespace", "Picture_1A_by_freespace",
               "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
               "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
               "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
               "picosdeeuropa_by_Aitzol_Berasategi",
               "seeding_by_Clements_Engelhardt",
               "sunset_by_Aitzol_Berasategi")
LOMIRI_2004 = ("Kleiber_by_Lukas_Baubkus",)
# scikit-image's colour photographs that ship inside its wheel.
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
SKIMAGE_LICENSE = "BSD-3-Clause / public domain (skimage.data)"
MAX_SHORT_SIDE = 1024
MIN_DOWNSCALE = 2


def train_sources():
  """(output name, source, package) of the training photographs.

  `source` is a file path, or "skimage:<name>" for scikit-image's data.
  """
  sources = [(f"lomiri_{n}", os.path.join(BACKGROUNDS_DIR, n + ".jpg"),
              "lomiri-wallpapers-16.04") for n in LOMIRI_1604]
  sources += [(f"lomiri_{n}", os.path.join(BACKGROUNDS_DIR, n + ".jpg"),
               "lomiri-wallpapers-20.04") for n in LOMIRI_2004]
  sources += [(f"skimage_{n}", f"skimage:{n}", "scikit-image")
              for n in SKIMAGE_PHOTOS]
  return sources


def debian_license(package, filename):
  """The License: field of `filename`'s stanza in the package's copyright."""
  path = f"/usr/share/doc/{package}/copyright"
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except OSError:
    return f"see {path}"
  for stanza in text.split("\n\n"):
    fields = dict(line.split(":", 1) for line in stanza.splitlines()
                  if ":" in line and not line.startswith(" "))
    if filename in fields.get("Files", "").split("/")[-1:]:
      return fields.get("License", "").strip() or f"see {path}"
  return f"see {path}"


def load_source(source):
  """RGB PIL image of a source (EXIF orientation applied)."""
  if source.startswith("skimage:"):
    from skimage import data  # pylint: disable=g-import-not-at-top
    return Image.fromarray(getattr(data, source.split(":", 1)[1])()).convert(
        "RGB")
  with Image.open(source) as im:
    return ImageOps.exif_transpose(im).convert("RGB")


def area_downscale(image, max_short_side=MAX_SHORT_SIDE,
                   min_factor=MIN_DOWNSCALE):
  """Box-downscales so the short side is min(max_short_side, short/factor).

  Sources whose short side is already below `max_short_side * min_factor`
  shrink by exactly `min_factor`; small sources (scikit-image's) with a
  short side under 2 * 256 are kept as they are (they are PNG, no JPEG
  artefacts to hide, and halving them would leave nothing to crop).
  """
  w, h = image.size
  short = min(w, h)
  if short < 2 * 256:
    return np.asarray(image, dtype=np.uint8)
  target = min(max_short_side, short / min_factor)
  factor = short / target
  size = (max(1, round(w / factor)), max(1, round(h / factor)))
  return np.asarray(image.resize(size, resample=Image.Resampling.BOX),
                    dtype=np.uint8)


def build_train_set(output_dir, sources=None):
  """Writes the training PNGs and `manifest.json` (written last, atomically).

  Raises:
    FileNotFoundError: a source photo is missing (names the Debian package).
  """
  sources = train_sources() if sources is None else sources
  missing = [(p, pkg) for _, p, pkg in sources
             if not p.startswith("skimage:") and not os.path.isfile(p)]
  if missing:
    pkgs = sorted({pkg for _, pkg in missing})
    raise FileNotFoundError(
        f"{len(missing)} training photo(s) are missing, e.g. {missing[0][0]}. "
        f"Install the Debian package(s): apt-get install {' '.join(pkgs)}.")
  entries = []
  for name, source, package in sources:
    pixels = area_downscale(load_source(source))
    out_path = os.path.join(output_dir, name + ".png")
    with _io.atomic_open(out_path, "wb") as f:
      Image.fromarray(pixels).save(f, format="PNG")
    entries.append({
        "file": name + ".png", "source": source, "package": package,
        "license": (SKIMAGE_LICENSE if package == "scikit-image" else
                    debian_license(package, os.path.basename(source))), "height": int(pixels.shape[0]),
        "width": int(pixels.shape[1]),
        "sha256": bench_images.file_sha256(out_path),
        "pixels_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
    })
  manifest = {
      "description": ("Training photographs, disjoint from the bench set: "
                      "box-downscaled to a short side of min(1024, short/2), "
                      "PNG."),
      "images": entries,
  }
  _io.atomic_write_text(os.path.join(output_dir, "manifest.json"),
                        json.dumps(manifest, indent=2) + "\n")
  return manifest


def thumbnail_signature(image, size=16):
  """A coarse content signature ([size, size] grey, 4-bit) that survives
  re-encoding and rescaling: equal signatures flag the same photo shipped
  under two names."""
  grey = image.convert("L").resize((size, size), Image.Resampling.BOX)
  return (np.asarray(grey, dtype=np.uint8) >> 4).astype(np.uint8)
