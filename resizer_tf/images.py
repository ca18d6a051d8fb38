"""Real photos that ship inside installed packages, and image file reading.

The demo, the toy experiments and the tests need real photographs on any
machine without downloads; scikit-image and scikit-learn carry a few
(docs/design_notes.md §2).
"""
import numpy as np

# name -> loader returning uint8 [H, W, 3].
_BUILTIN = {
    "astronaut": lambda: _skimage("astronaut"),
    "coffee": lambda: _skimage("coffee"),
    "chelsea": lambda: _skimage("chelsea"),
    "rocket": lambda: _skimage("rocket"),
    "immunohistochemistry": lambda: _skimage("immunohistochemistry"),
    "hubble_deep_field": lambda: _skimage("hubble_deep_field"),
    "china": lambda: _sklearn(0),
    "flower": lambda: _sklearn(1),
}


def _skimage(name):
  import skimage.data  # pylint: disable=g-import-not-at-top
  return np.asarray(getattr(skimage.data, name)(), np.uint8)


def _sklearn(index):
  try:
    from sklearn.datasets import load_sample_images  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ValueError(
        "The 'china' and 'flower' photos need scikit-learn: "
        "pip install scikit-learn") from e
  return np.asarray(load_sample_images().images[index], np.uint8)


def builtin_photo_names():
  return sorted(_BUILTIN)


def builtin_photo(name):
  """A real colour photo shipped by an installed package, uint8 [H, W, 3]."""
  if name not in _BUILTIN:
    raise ValueError(
        f"Unknown built-in photo {name!r}; choose one of {builtin_photo_names()}.")
  return _BUILTIN[name]()


def load_photo(spec):
  """A built-in photo by name (`builtin_photo_names()`), else an image file
  path (`read_image`): what the binaries' `--photo` flags take."""
  if spec in _BUILTIN:
    return builtin_photo(spec)
  return read_image(spec)


#: Largest image (pixels) `read_image` decodes: the file format's limit
#: (bitstream.MAX_PIXELS, 64 Mpx). Checked from the file header, before the
#: pixels are decoded, so a decompression bomb never allocates.
MAX_PIXELS = 1 << 26


def read_image(path, max_pixels=MAX_PIXELS):
  """Reads an image file as uint8 RGB [H, W, 3], as the camera meant it.

  The EXIF orientation of JPEG/TIFF/WebP files is applied (a portrait phone
  photo comes out upright). Grayscale is replicated to 3 channels, alpha is
  dropped (composited on nothing: the colour channels are kept as stored)
  and 16-bit images are rounded to 8 bits, so every codec sees the same
  8-bit RGB input. Images of more than `max_pixels` pixels are refused
  before decoding.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from PIL import ImageOps  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  if not os.path.exists(path):
    raise FileNotFoundError(f"No image file at {path!r}.")
  if os.path.isdir(path):
    raise ValueError(f"{path!r} is a directory, not an image file.")
  try:
    with Image.open(path) as im:
      width, height = im.size
      if width * height > max_pixels:
        raise ValueError(
            f"{path!r} is a {width}x{height} image, more than the "
            f"{max_pixels}-pixel limit (a decompression bomb or a too large "
            "photo).")
      im.load()
      transposed = ImageOps.exif_transpose(im)
      if transposed is not None:
        im = transposed
      if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, np.float64)
        maximum = 65535. if arr.max() > 255 or im.mode.startswith("I;16") else 255.
        arr = np.round(arr / maximum * 255.).clip(0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=-1)
      if im.mode == "RGBA" or im.mode == "LA" or "transparency" in im.info:
        im = im.convert("RGBA").convert("RGB")
      elif im.mode != "RGB":
        im = im.convert("RGB")
      return np.asarray(im, np.uint8)
  except Image.DecompressionBombError as e:
    raise ValueError(f"Refusing {path!r}: {e}") from e
  except (OSError, SyntaxError) as e:
    raise ValueError(f"Cannot read an image from {path!r}: {e}") from e
