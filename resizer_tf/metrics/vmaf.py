"""VMAF [67] of an image pair through ffmpeg's libvmaf filter.

Chen et al., Sec. IV-A use VMAF as one of the three perceptual quality
models of Table II. The static ffmpeg of the `imageio-ffmpeg` wheel is built
with libvmaf and carries the `vmaf_v0.6.1` model (docs/design_notes.md §3).

Both images are written as PNG to a temporary folder; ffmpeg converts them to
BT.601 limited-range YCbCr 4:4:4 (the video range VMAF was trained on; VMAF
reads luma only) and writes a JSON log whose pooled mean is returned. A single
frame has no motion, so the motion feature is 0 for every image alike.
"""
import json
import os
import tempfile

from PIL import Image

from resizer_tf.anchors import ffmpeg_codecs
from resizer_tf.anchors.base import CodecUnavailableError
from resizer_tf.metrics.quality import check_pair

DEFAULT_MODEL = "vmaf_v0.6.1"


class VmafUnavailableError(CodecUnavailableError):
  """ffmpeg is missing or was built without libvmaf."""


def _to_yuv(label):
  return (f"[{label}:v]scale=out_color_matrix=bt601:out_range=tv:"
          f"flags=accurate_rnd+full_chroma_int,format=yuv444p")


def vmaf(reference, distorted, model=DEFAULT_MODEL, n_threads=1,
         ffmpeg=None):
  """VMAF score (0..100, higher is better) of `distorted` against `reference`.

  Args:
    reference, distorted: uint8 [H, W, 3] RGB of equal shape.
    model: built-in libvmaf model version (paper: vmaf_v0.6.1).
    n_threads: libvmaf threads.
    ffmpeg: path of an ffmpeg with libvmaf (default: imageio-ffmpeg's).
  Raises:
    VmafUnavailableError: no ffmpeg with libvmaf (says what to install).
    RuntimeError: ffmpeg failed on these images.
  """
  reference, distorted = check_pair(reference, distorted)
  try:
    ffmpeg = ffmpeg or ffmpeg_codecs.find_ffmpeg()
  except CodecUnavailableError as e:
    raise VmafUnavailableError(str(e)) from None
  with tempfile.TemporaryDirectory(prefix="vmaf_") as tmp:
    Image.fromarray(reference).save(os.path.join(tmp, "ref.png"),
                                    compress_level=1)
    Image.fromarray(distorted).save(os.path.join(tmp, "dist.png"),
                                    compress_level=1)
    # libvmaf's first input is the distorted one, the second the reference.
    graph = (f"{_to_yuv(0)}[dist];{_to_yuv(1)}[ref];"
             f"[dist][ref]libvmaf=model=version={model}:log_fmt=json:"
             f"log_path=vmaf.json:n_threads={int(n_threads)}")
    try:
      # Relative paths (cwd=tmp) keep ':' and '\' of tmp out of the graph.
      ffmpeg_codecs.run_ffmpeg(
          ["-i", "dist.png", "-i", "ref.png", "-lavfi", graph, "-f", "null",
           "-"], ffmpeg=ffmpeg, cwd=tmp)
    except RuntimeError as e:
      if "libvmaf" in str(e) and ("No such filter" in str(e) or
                                  "not found" in str(e).lower()):
        raise VmafUnavailableError(
            f"{ffmpeg} has no libvmaf filter; pip install imageio-ffmpeg "
            "(its static ffmpeg is built with --enable-libvmaf).") from None
      raise
    with open(os.path.join(tmp, "vmaf.json")) as f:
      log = json.load(f)
  try:
    return float(log["pooled_metrics"]["vmaf"]["mean"])
  except (KeyError, TypeError) as e:
    raise RuntimeError(f"Unexpected libvmaf JSON log: missing {e}.") from None
