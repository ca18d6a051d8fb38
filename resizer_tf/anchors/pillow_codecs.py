"""JPEG, WebP, JPEG 2000 and AVIF anchors through Pillow.

Chen et al., Sec. IV-B: "For all conventional codecs, we choose maximum gain
over encoding speed, and conducted encoding in the codec's native YCbCr color
space without chroma subsampling." Each class applies that where its library
allows it and says in its docstring where it cannot.

Ladders: 8 settings chosen so that the median bitrate over the 768x512
stand-in set (experiments/make_bench_images.py) spans ~0.05-1 bpp (Sec. IV-A:
"8 approximate different bitrates, ranging from 0.05 bpp to 1 bpp"); see
docs/evaluation.md for the measured bitrates.
"""
import io

import numpy as np
from PIL import features
from PIL import Image

from resizer_tf.anchors import base


def _pil_decode(data, expected_format):
  data = base.check_bytes(data)
  try:
    with Image.open(io.BytesIO(data)) as im:
      if expected_format and im.format != expected_format:
        raise ValueError(f"file is {im.format}, expected {expected_format}")
      return np.asarray(im.convert("RGB"), dtype=np.uint8)
  except (OSError, SyntaxError, ValueError) as e:
    raise ValueError(
        f"Cannot decode {len(data)} bytes as {expected_format}: {e}") from e


def _pil_encode(image, fmt, **options):
  image = base.check_image_uint8(image)
  buf = io.BytesIO()
  Image.fromarray(image, "RGB").save(buf, format=fmt, **options)
  return buf.getvalue()


def _check_number(setting, name, low, high, integer=True):
  ok = isinstance(setting, (int, float, np.integer, np.floating)) and not (
      isinstance(setting, bool))
  if ok and integer:
    ok = float(setting).is_integer()
  if not ok or not low <= setting <= high:
    kind = "an integer" if integer else "a number"
    raise ValueError(
        f"{name} must be {kind} in [{low}, {high}]; received {setting!r}.")
  return int(setting) if integer else float(setting)


class JpegCodec(base.ImageCodec):
  """Baseline JPEG (libjpeg via Pillow), 4:4:4, optimised Huffman tables.

  Even quality 1 stays above ~0.1 bpp on 768x512 photos, so JPEG's curve
  starts higher than the others (as in the paper's Fig. 7).
  """

  name = "jpeg"
  label = "JPEG"
  settings = (3, 6, 10, 18, 30, 45, 62, 78)
  setting_name = "quality"

  def __init__(self, subsampling="4:4:4", optimize=True, progressive=False):
    """Args (defaults follow Sec. IV-B):
      subsampling: "4:4:4" (no chroma subsampling), "4:2:2" or "4:2:0".
      optimize: optimised Huffman tables (maximum gain over speed).
      progressive: progressive scan script (off: baseline JPEG).
    """
    if subsampling not in ("4:4:4", "4:2:2", "4:2:0"):
      raise ValueError("subsampling must be '4:4:4', '4:2:2' or '4:2:0'; "
                       f"received {subsampling!r}.")
    self.subsampling = subsampling
    self.optimize = bool(optimize)
    self.progressive = bool(progressive)

  def config(self):
    return {"subsampling": self.subsampling, "optimize": self.optimize,
            "progressive": self.progressive}

  def encode(self, image, setting):
    quality = _check_number(setting, "JPEG quality", 1, 100)
    return _pil_encode(image, "JPEG", quality=quality,
                       subsampling=self.subsampling, optimize=self.optimize,
                       progressive=self.progressive)

  def decode(self, data):
    return _pil_decode(data, "JPEG")

  def sweep(self, image, qualities=range(1, 96)):
    """[(quality, file bytes)] for every quality: the JPEG rates a learned
    model is matched against (`make demo`, `experiments.jpeg_gap`)."""
    return [(q, self.encode(image, q)) for q in qualities]


class WebPCodec(base.ImageCodec):
  """Lossy WebP (libwebp via Pillow), method 6 (slowest, best).

  Lossy WebP (VP8 intra) only codes 4:2:0: chroma subsampling cannot be
  turned off, unlike the paper's setting for the other codecs.
  """

  name = "webp"
  label = "WebP"
  settings = (0, 5, 20, 40, 60, 75, 85, 93)
  setting_name = "quality"

  def __init__(self, method=6):
    """Args: method: libwebp effort 0..6 (6: maximum gain, Sec. IV-B)."""
    self.method = _check_number(method, "WebP method", 0, 6)

  def config(self):
    return {"method": self.method}

  def check_available(self):
    if not features.check("webp"):
      raise base.CodecUnavailableError(
          "Pillow was built without WebP; install a Pillow wheel from PyPI "
          "(pip install --force-reinstall pillow).")

  def encode(self, image, setting):
    quality = _check_number(setting, "WebP quality", 0, 100)
    return _pil_encode(image, "WEBP", quality=quality, method=self.method,
                       lossless=False)

  def decode(self, data):
    return _pil_decode(data, "WEBP")


class Jpeg2000Codec(base.ImageCodec):
  """JPEG 2000 (OpenJPEG via Pillow): 9/7 wavelet + ICT, rate-controlled.

  The setting is the target rate in bpp (OpenJPEG's PCRD rate control gets
  within a few percent). `irreversible=True, mct=1` is the lossy 9/7
  wavelet with the YCbCr colour transform (docs/design_notes.md §3: Pillow's default
  mct=0 codes RGB and costs ~4 dB). No chroma subsampling. Output is a raw
  J2K codestream (no JP2 box overhead).
  """

  name = "jpeg2000"
  label = "JPEG 2000"
  settings = tuple(round(float(b), 4) for b in np.geomspace(0.05, 1.0, 8))
  setting_name = "bpp"

  def __init__(self, irreversible=True, mct=1, num_resolutions=6):
    """Args: irreversible (9/7 wavelet), mct (1: YCbCr transform),
    num_resolutions (wavelet levels + 1; OpenJPEG's default 6)."""
    self.irreversible = bool(irreversible)
    self.mct = _check_number(mct, "mct", 0, 1)
    self.num_resolutions = _check_number(num_resolutions, "num_resolutions",
                                         1, 33)

  def config(self):
    return {"irreversible": self.irreversible, "mct": self.mct,
            "num_resolutions": self.num_resolutions}

  def check_available(self):
    if not features.check("jpg_2000"):
      raise base.CodecUnavailableError(
          "Pillow was built without OpenJPEG (JPEG 2000); install a Pillow "
          "wheel from PyPI or libopenjp2 and rebuild Pillow.")

  def encode(self, image, setting):
    bpp = _check_number(setting, "JPEG 2000 target bpp", 1e-3, 24.0,
                        integer=False)
    image = base.check_image_uint8(image)
    # OpenJPEG needs 2^(resolutions-1) <= min(H, W).
    levels = min(self.num_resolutions,
                 int(np.floor(np.log2(min(image.shape[:2])))) + 1)
    return _pil_encode(image, "JPEG2000", quality_mode="rates",
                       quality_layers=[24.0 / bpp],
                       irreversible=self.irreversible, mct=self.mct,
                       num_resolutions=levels, no_jp2=True)

  def decode(self, data):
    return _pil_decode(data, "JPEG2000")


class AvifCodec(base.ImageCodec):
  """AVIF (AV1 intra, libavif + libaom via Pillow), 4:4:4, speed 0.

  8-bit, full-range BT.601 YCbCr inside the HEIF container.
  """

  name = "avif"
  label = "AVIF"
  settings = (0, 15, 30, 42, 54, 66, 78, 87)
  setting_name = "quality"

  def __init__(self, speed=0, subsampling="4:4:4", codec="aom", threads=1):
    """Args (defaults follow Sec. IV-B):
      speed: libavif speed 0 (slowest, best) .. 10.
      subsampling: "4:4:4" (none), "4:2:2" or "4:2:0".
      codec: AV1 encoder inside libavif ("aom" ships with Pillow).
      threads: encoder threads (1: comparable single-thread timings).
    """
    self.speed = _check_number(speed, "AVIF speed", 0, 10)
    if subsampling not in ("4:4:4", "4:2:2", "4:2:0"):
      raise ValueError("subsampling must be '4:4:4', '4:2:2' or '4:2:0'; "
                       f"received {subsampling!r}.")
    self.subsampling = subsampling
    self.codec = codec
    self.threads = _check_number(threads, "threads", 1, 256)

  def config(self):
    return {"speed": self.speed, "subsampling": self.subsampling,
            "codec": self.codec}

  def check_available(self):
    try:
      from PIL import _avif  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise base.CodecUnavailableError(
          "Pillow has no AVIF support; install Pillow>=11.3 from PyPI "
          "(its wheels bundle libavif).") from None
    if not _avif.encoder_codec_available(self.codec):
      raise base.CodecUnavailableError(
          f"libavif in this Pillow has no {self.codec!r} encoder; install "
          "a Pillow wheel from PyPI (bundles libaom).")

  def encode(self, image, setting):
    quality = _check_number(setting, "AVIF quality", 0, 100)
    return _pil_encode(image, "AVIF", quality=quality, speed=self.speed,
                       subsampling=self.subsampling, codec=self.codec,
                       max_threads=self.threads)

  def decode(self, data):
    return _pil_decode(data, "AVIF")
