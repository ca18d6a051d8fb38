"""A Kodak-sized benchmark set built from photos shipped by Debian packages.

Chen et al. (Resize-Compress, Sec. IV-A) evaluate on Kodak (24 images,
768x512), Tecnick and the JPEG-AI test set; none of them can be downloaded
here (docs/design_notes.md §2). This module builds a deterministic stand-in: the 12 photos
of `mate-backgrounds` (nature/*.jpg) and 11 photos of
`plasma-workspace-wallpapers`, each area-downscaled and centre-cropped to
768x512 (landscape), which also hides the sources' JPEG artefacts.

`list_images` lists any folder of images (Kodak, Tecnick, CLIC, ...) for
the evaluation; files are read with `resizer_tf.images.read_image`.
"""
import hashlib
import json
import os

import numpy as np
from PIL import Image

from resizer_tf import _io

MATE_NATURE_DIR = "/usr/share/backgrounds/mate/nature"
MATE_NATURE = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden",
               "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings",
               "Wood", "YellowFlower")
PLASMA_DIR = "/usr/share/wallpapers"
# The plasma themes that are photographs (the others are illustrations).
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour",
                 "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut",
                 "Path", "summer_1am")
LICENSE = "GPL-2+"
# Kodak's size, landscape (Chen et al., Sec. IV-A).
DEFAULT_SIZE = (512, 768)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff",
                    ".webp")


def bench_sources():
  """(output name, source path, Debian package) of the 23 stand-in photos."""
  sources = []
  for name in MATE_NATURE:
    sources.append((f"mate_{name}", os.path.join(MATE_NATURE_DIR, name + ".jpg"),
                    "mate-backgrounds"))
  for name in PLASMA_PHOTOS:
    sources.append((f"plasma_{name}",
                    os.path.join(PLASMA_DIR, name, "contents", "images",
                                 "2560x1600.jpg"),
                    "plasma-workspace-wallpapers"))
  return sources


def area_resize_crop(image, size=DEFAULT_SIZE):
  """Centre crop to the aspect of `size`, then area (box) downscale to it.

  Portrait sources are rotated to landscape first when `size` is landscape
  (Kodak stores its portrait photos the same way). Cropping in source
  coordinates before resizing avoids a second rounding step.

  Args:
    image: a PIL image (any mode; converted to RGB, greyscale is replicated).
    size: (height, width) of the result.
  Returns:
    uint8 [height, width, 3].
  """
  height, width = size
  image = image.convert("RGB")
  w, h = image.size
  if (h > w) != (height > width) and h != w:
    image = image.transpose(Image.Transpose.ROTATE_90)
    w, h = image.size
  if w < width or h < height:
    raise ValueError(
        f"Source image is {w}x{h}; it must be at least {width}x{height} to "
        "be downscaled (upscaling would invent detail).")
  aspect = width / height
  if w / h > aspect:
    crop_w, crop_h = h * aspect, float(h)
  else:
    crop_w, crop_h = float(w), w / aspect
  left, top = (w - crop_w) / 2, (h - crop_h) / 2
  out = image.resize((width, height), resample=Image.Resampling.BOX,
                     box=(left, top, left + crop_w, top + crop_h))
  return np.asarray(out, dtype=np.uint8)


def _sha256(data):
  return hashlib.sha256(data).hexdigest()


def build_bench_set(output_dir, size=DEFAULT_SIZE, sources=None):
  """Writes the stand-in PNGs and `manifest.json` into `output_dir`.

  Every file is written atomically (temp file + rename); the manifest comes
  last, so a folder with a manifest is complete.

  Args:
    output_dir: destination folder (created).
    size: (height, width), default Kodak's 512x768.
    sources: optional list of (name, path, package); default
      `bench_sources()`.
  Returns:
    The manifest dict.
  Raises:
    FileNotFoundError: a source photo is missing (names the Debian package).
  """
  sources = bench_sources() if sources is None else sources
  missing = [(p, pkg) for _, p, pkg in sources if not os.path.isfile(p)]
  if missing:
    pkgs = sorted({pkg for _, pkg in missing})
    raise FileNotFoundError(
        f"{len(missing)} source photo(s) are missing, e.g. {missing[0][0]}. "
        f"Install the Debian package(s) {', '.join(pkgs)} "
        f"(apt-get install {' '.join(pkgs)}).")
  entries = []
  for name, path, package in sources:
    with Image.open(path) as im:
      pixels = area_resize_crop(im, size)
    out_path = os.path.join(output_dir, name + ".png")
    with _io.atomic_open(out_path, "wb") as f:
      Image.fromarray(pixels).save(f, format="PNG")
    with open(out_path, "rb") as f:
      file_sha = _sha256(f.read())
    entries.append({
        "file": name + ".png",
        "source": path,
        "debian_package": package,
        "license": LICENSE,
        "height": int(pixels.shape[0]),
        "width": int(pixels.shape[1]),
        "sha256": file_sha,
        "pixels_sha256": _sha256(pixels.tobytes()),
    })
  manifest = {
      "description": ("Kodak-sized stand-in: centre crop to 3:2, area (box) "
                      "downscale to %dx%d, PNG." % (size[1], size[0])),
      "images": entries,
  }
  _io.atomic_write_text(os.path.join(output_dir, "manifest.json"),
                        json.dumps(manifest, indent=2) + "\n")
  return manifest


def list_images(folder):
  """Sorted image files (by extension) directly inside `folder`."""
  if not os.path.isdir(folder):
    raise FileNotFoundError(f"Image folder {folder!r} does not exist.")
  paths = sorted(
      os.path.join(folder, f) for f in os.listdir(folder)
      if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
  if not paths:
    raise ValueError(
        f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {folder!r}.")
  return paths


def file_sha256(path):
  with open(path, "rb") as f:
    return _sha256(f.read())
