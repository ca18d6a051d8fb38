"""HEVC intra (x265) and VVC intra (VVenC) anchors through ffmpeg.

Both use the static ffmpeg of the `imageio-ffmpeg` wheel (docs/design_notes.md §3: it has
libx265 and libvvenc) and store the raw Annex-B bitstream, which is what an
HM/VTM encoder writes: no container bytes are counted.

Colour: RGB -> BT.601 limited-range YCbCr with swscale's accurate rounding,
signalled in the bitstream and forced again when decoding, so the decoder
never guesses. Timings include starting one ffmpeg process per call.
"""
import functools
import io
import shutil
import subprocess

import numpy as np
from PIL import Image

from resizer_tf.anchors import base

_SWS_FLAGS = "accurate_rnd+full_chroma_int+full_chroma_inp"


@functools.lru_cache(maxsize=None)
def find_ffmpeg():
  """Path of the imageio-ffmpeg binary, else an ffmpeg on PATH."""
  try:
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
    return imageio_ffmpeg.get_ffmpeg_exe()
  except (ImportError, RuntimeError):
    path = shutil.which("ffmpeg")
    if path:
      return path
  raise base.CodecUnavailableError(
      "No ffmpeg found: pip install imageio-ffmpeg (its static ffmpeg has "
      "libx265, libvvenc and libvmaf).")


@functools.lru_cache(maxsize=None)
def ffmpeg_encoders(ffmpeg):
  out = subprocess.run([ffmpeg, "-hide_banner", "-encoders"],
                       capture_output=True, check=False, text=True).stdout
  return frozenset(line.split()[1] for line in out.splitlines()
                   if len(line.split()) > 1 and line.startswith(" V"))


def run_ffmpeg(args, stdin=None, ffmpeg=None, cwd=None):
  """Runs ffmpeg quietly; raises RuntimeError with its stderr on failure."""
  ffmpeg = ffmpeg or find_ffmpeg()
  proc = subprocess.run(
      [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"] +
      list(args), input=stdin, capture_output=True, check=False, cwd=cwd)
  if proc.returncode:
    raise RuntimeError(
        f"ffmpeg failed (exit {proc.returncode}): "
        f"{proc.stderr.decode(errors='replace').strip()[-2000:]}")
  return proc.stdout


class _FfmpegCodec(base.ImageCodec):
  """Shared encode/decode plumbing; subclasses give encoder arguments."""

  encoder = None      # ffmpeg encoder name
  muxer = None        # raw bitstream format name for -f
  pix_fmt = None
  install_hint = ""

  def _encoder_args(self, setting):
    raise NotImplementedError

  def check_available(self):
    ffmpeg = find_ffmpeg()
    if self.encoder not in ffmpeg_encoders(ffmpeg):
      raise base.CodecUnavailableError(
          f"{ffmpeg} has no {self.encoder} encoder. {self.install_hint}")

  def _check_size(self, image):
    return image

  def encode(self, image, setting):
    image = self._check_size(base.check_image_uint8(image))
    h, w = image.shape[:2]
    args = [
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-",
        "-vf", (f"scale=out_color_matrix=bt601:out_range=tv:"
                f"flags={_SWS_FLAGS},format={self.pix_fmt}"),
        "-color_range", "tv", "-colorspace", "bt470bg",
        "-color_primaries", "bt470bg", "-color_trc", "smpte170m",
        "-c:v", self.encoder, *self._encoder_args(setting),
        "-frames:v", "1", "-f", self.muxer, "-"]
    data = run_ffmpeg(args, stdin=image.tobytes())
    if not data:
      raise RuntimeError(f"{self.encoder} produced an empty bitstream.")
    return data

  def decode(self, data):
    data = base.check_bytes(data)
    args = [
        "-f", self.muxer, "-i", "-",
        "-vf", (f"scale=in_color_matrix=bt601:in_range=tv:"
                f"flags={_SWS_FLAGS},format=rgb24"),
        "-frames:v", "1", "-c:v", "ppm", "-f", "image2pipe", "-"]
    try:
      ppm = run_ffmpeg(args, stdin=data)
      with Image.open(io.BytesIO(ppm)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (RuntimeError, OSError) as e:
      raise ValueError(
          f"Cannot decode {len(data)} bytes as {self.label}: {e}") from e


class HevcCodec(_FfmpegCodec):
  """HEVC intra, Main 4:4:4 (RExt) profile, with x265.

  The paper used "the intra-coded HEVC main-RExt profile" without chroma
  subsampling (Sec. IV-B). Defaults: preset placebo (maximum gain), constant
  QP, and tune=psnr, which turns off x265's psycho-visual RD and adaptive
  quantisation so it behaves like the HM reference encoder.
  """

  name = "hevc"
  label = "HEVC intra (x265)"
  settings = (46, 42, 38, 35, 31, 27, 24, 20)
  setting_name = "qp"
  encoder = "libx265"
  muxer = "hevc"
  install_hint = ("pip install imageio-ffmpeg (its ffmpeg has libx265), or "
                  "apt-get install ffmpeg.")

  def __init__(self, preset="placebo", tune="psnr", pix_fmt="yuv444p",
               threads=1):
    """Args: preset (x265 preset, placebo = maximum gain), tune ("psnr"
    like HM, or "" for x265's perceptual defaults), pix_fmt ("yuv444p"
    8-bit 4:4:4; "yuv444p10le" 10-bit), threads (1: single-thread timings)."""
    self.preset = preset
    self.tune = tune
    self.pix_fmt = pix_fmt
    self.threads = int(threads)

  def config(self):
    return {"preset": self.preset, "tune": self.tune,
            "pix_fmt": self.pix_fmt}

  def _encoder_args(self, setting):
    qp = _check_qp(setting, 0, 51)
    args = ["-preset", self.preset]
    if self.tune:
      args += ["-tune", self.tune]
    params = [f"qp={qp}", "keyint=1", "info=0", "hash=0", "log-level=error",
              f"frame-threads={self.threads}",
              f"pools={self.threads}" if self.threads > 1 else "pools=none"]
    return args + ["-x265-params", ":".join(params)]


class VvcCodec(_FfmpegCodec):
  """VVC intra with Fraunhofer VVenC (not in the paper; newer anchor).

  ffmpeg's libvvenc wrapper only accepts yuv420p10le, so VVC is coded with
  4:2:0 chroma subsampling (10-bit), unlike the paper's 4:4:4 setting;
  height and width must be even. Defaults: preset "slower" (maximum gain),
  constant QP (qpa=0: no perceptual QP adaptation, like VTM's common test
  conditions).
  """

  name = "vvc"
  label = "VVC intra (VVenC)"
  settings = (42, 38, 33, 29, 24, 20, 15, 11)
  setting_name = "qp"
  encoder = "libvvenc"
  muxer = "vvc"
  pix_fmt = "yuv420p10le"
  install_hint = ("pip install --upgrade imageio-ffmpeg (>=0.6; its ffmpeg "
                  "is built with --enable-libvvenc).")

  def __init__(self, preset="slower", qpa=False, threads=1):
    """Args: preset (faster..slower; slower = maximum gain), qpa
    (perceptual QP adaptation), threads (1: single-thread timings)."""
    if preset not in ("faster", "fast", "medium", "slow", "slower"):
      raise ValueError("VVenC preset must be one of faster, fast, medium, "
                       f"slow, slower; received {preset!r}.")
    self.preset = preset
    self.qpa = bool(qpa)
    self.threads = int(threads)

  def config(self):
    return {"preset": self.preset, "qpa": self.qpa, "pix_fmt": self.pix_fmt}

  def _check_size(self, image):
    h, w = image.shape[:2]
    if h % 2 or w % 2:
      raise ValueError(
          f"VVC via libvvenc codes 4:2:0 only, so height and width must be "
          f"even; received {h}x{w}.")
    return image

  def _encoder_args(self, setting):
    qp = _check_qp(setting, 0, 63)
    return ["-preset", self.preset, "-qp", str(qp),
            "-qpa", "1" if self.qpa else "0", "-threads", str(self.threads)]


def _check_qp(setting, low, high):
  if (isinstance(setting, bool) or
      not isinstance(setting, (int, np.integer, float, np.floating)) or
      not float(setting).is_integer() or not low <= setting <= high):
    raise ValueError(
        f"QP must be an integer in [{low}, {high}]; received {setting!r}.")
  return int(setting)
