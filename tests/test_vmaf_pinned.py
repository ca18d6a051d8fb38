"""VMAF pinned by a second path: ffmpeg's CLI run directly on raw YUV that
numpy converts (BT.601 limited range, 4:4:4), not through
`metrics.vmaf`'s PNG + scale filter; plus a pinned value for a fixed pair
and the asymmetry of reference vs distorted."""
import json
import os
import subprocess

import numpy as np
import pytest
import skimage.data

from resizer_tf import metrics
from resizer_tf.anchors import ffmpeg_codecs
from resizer_tf.anchors.base import CodecUnavailableError

# Measured with imageio-ffmpeg's static ffmpeg (libvmaf, vmaf_v0.6.1); the
# raw-YUV CLI path gave 77.4789. Swapped, the sharp image "improves" on the
# blurred one and VMAF saturates at 100.
PINNED = {"vmaf": 77.4535, "swapped": 100.0}


def _pair():
  ref = skimage.data.astronaut()[64:192, 160:352]  # 128 x 192
  x = ref.astype(np.float64)
  # A deterministic distortion: 3x3 box blur (edge-replicated), rounded.
  p = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
  blur = sum(p[i:i + 128, j:j + 192] for i in range(3) for j in range(3)) / 9
  return ref, np.round(blur).astype(np.uint8)


def _yuv444_bt601_limited(rgb):
  r, g, b = [rgb[..., i].astype(np.float64) for i in range(3)]
  y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
  cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
  cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
  planes = [np.clip(np.round(c), 0, 255).astype(np.uint8) for c in (y, cb, cr)]
  return b"".join(p.tobytes() for p in planes)


def _vmaf_cli(ffmpeg, ref, dist, tmp):
  h, w = ref.shape[:2]
  for name, img in (("ref", ref), ("dist", dist)):
    with open(os.path.join(tmp, f"{name}.yuv"), "wb") as f:
      f.write(_yuv444_bt601_limited(img))
  raw = ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{w}x{h}"]
  cmd = [ffmpeg, "-nostdin", "-loglevel", "error", *raw, "-i", "dist.yuv",
         *raw, "-i", "ref.yuv", "-lavfi",
         "[0:v][1:v]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:"
         "log_path=out.json:n_threads=1", "-f", "null", "-"]
  subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
  with open(os.path.join(tmp, "out.json")) as f:
    return float(json.load(f)["pooled_metrics"]["vmaf"]["mean"])


def test_vmaf_matches_ffmpeg_cli_on_raw_yuv_and_is_asymmetric(tmp_path):
  try:
    ffmpeg = ffmpeg_codecs.find_ffmpeg()
  except CodecUnavailableError as e:
    pytest.skip(str(e))
  ref, dist = _pair()
  ours = metrics.vmaf(ref, dist)
  cli = _vmaf_cli(ffmpeg, ref, dist, str(tmp_path))
  swapped = metrics.vmaf(dist, ref)
  print(f"vmaf {ours:.4f}, cli {cli:.4f}, swapped {swapped:.4f}")
  # Two colour conversions (ffmpeg's swscale vs numpy), same libvmaf.
  assert abs(ours - cli) < 0.5
  assert 20 < ours < 95
  # VMAF is not symmetric: the reference is the second input of libvmaf.
  assert abs(swapped - ours) > 0.5
  if PINNED["vmaf"] is not None:
    assert ours == pytest.approx(PINNED["vmaf"], abs=0.01)
    assert swapped == pytest.approx(PINNED["swapped"], abs=0.01)
