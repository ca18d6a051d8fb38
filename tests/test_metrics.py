"""Quality metrics and BD-rate against closed forms and reference packages."""
import io
import math

import numpy as np
from PIL import Image
import pytest
from sewar import full_ref
from skimage import color
from skimage import data as skdata
from skimage.metrics import structural_similarity

from resizer_tf import metrics
from resizer_tf.anchors import ffmpeg_codecs
from resizer_tf.anchors.base import CodecUnavailableError


def _photo(height=96, width=128):
  """A crop of skimage's astronaut (a real photo, shipped in the wheel)."""
  return np.ascontiguousarray(skdata.astronaut()[100:100 + height,
                                                 150:150 + width])


def _jpeg(image, quality):
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=quality)
  return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# ---------------------------------------------------------------- PSNR


def test_psnr_constant_offset_closed_form():
  ref = np.full((8, 10, 3), 100, np.uint8)
  dist = ref + 5  # MSE = 25 exactly
  assert metrics.psnr(ref, dist) == pytest.approx(
      10 * math.log10(255**2 / 25), abs=1e-12)


def test_psnr_random_pair_matches_formula():
  rng = np.random.default_rng(0)
  ref = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
  dist = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
  mse = np.mean((ref.astype(np.float64) - dist)**2)
  assert metrics.psnr(ref, dist) == pytest.approx(
      20 * math.log10(255) - 10 * math.log10(mse), abs=1e-9)


def test_psnr_identical_is_inf():
  img = _photo(16, 16)
  assert metrics.psnr(img, img) == math.inf
  assert metrics.psnr_y(img, img) == math.inf


def test_luma_matches_skimage_bt601():
  img = _photo(20, 30)
  # skimage's rgb2ycbcr is studio-range BT.601: Y = 16 + 219/255 * Y_full.
  y_studio = color.rgb2ycbcr(img)[..., 0]
  np.testing.assert_allclose(metrics.luma(img), (y_studio - 16) * 255 / 219,
                             atol=1e-9)


def test_psnr_y_closed_form():
  ref = np.zeros((4, 6, 3), np.uint8)
  dist = ref.copy()
  dist[..., 1] = 10  # only green changes: dY = 0.587 * 10 everywhere
  assert metrics.psnr_y(ref, dist) == pytest.approx(
      10 * math.log10(255**2 / (5.87**2)), abs=1e-9)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8, 3), np.float32), "uint8"),
    (np.zeros((8, 8), np.uint8), "shape"),
    (np.zeros((8, 8, 4), np.uint8), "shape"),
    ([[1, 2]], "numpy array"),
])
def test_bad_inputs_are_rejected(bad, message):
  with pytest.raises(ValueError, match=message):
    metrics.psnr(np.zeros((8, 8, 3), np.uint8), bad)


def test_shape_mismatch_is_rejected():
  with pytest.raises(ValueError, match="same shape"):
    metrics.psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


# ---------------------------------------------------------------- MS-SSIM


def test_ms_ssim_identical_is_one():
  img = _photo(176, 176)
  assert metrics.ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_single_scale_matches_skimage_ssim():
  ref = _photo(64, 80)
  dist = _jpeg(ref, 10)
  expected = structural_similarity(
      ref, dist, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, data_range=255, channel_axis=-1)
  assert metrics.ms_ssim(ref, dist, power_factors=(1.0,)) == pytest.approx(
      expected, abs=1e-4)


def test_ms_ssim_decreases_with_compression():
  ref = _photo(176, 176)
  good, bad = metrics.ms_ssim(ref, _jpeg(ref, 90)), metrics.ms_ssim(
      ref, _jpeg(ref, 5))
  assert 1.0 > good > bad


def test_ms_ssim_too_small_image_clear_error():
  img = _photo(100, 200)
  with pytest.raises(ValueError, match="161"):
    metrics.ms_ssim(img, img)
  assert metrics.ms_ssim(img, img, power_factors=(0.3, 0.3, 0.4)) == (
      pytest.approx(1.0, abs=1e-6))


# ---------------------------------------------------------------- VIFp


@pytest.mark.parametrize("distortion", ["jpeg", "noise", "blur"])
def test_vifp_matches_sewar(distortion):
  ref = _photo(64, 72)
  if distortion == "jpeg":
    dist = _jpeg(ref, 15)
  elif distortion == "noise":
    rng = np.random.default_rng(1)
    dist = np.clip(ref + rng.normal(0, 12, ref.shape), 0, 255).astype(
        np.uint8)
  else:
    dist = np.asarray(Image.fromarray(ref).resize((36, 32)).resize((72, 64)))
  expected = full_ref.vifp(metrics.luma(ref), metrics.luma(dist))
  assert metrics.vifp(ref, dist) == pytest.approx(expected, abs=1e-3)


def test_vifp_identical_is_one_and_orders_quality():
  ref = _photo(64, 64)
  assert metrics.vifp(ref, ref) == pytest.approx(1.0, abs=1e-6)
  assert metrics.vifp(ref, _jpeg(ref, 80)) > metrics.vifp(ref, _jpeg(ref, 5))


def test_vifp_min_size():
  # Smallest size with a valid region at all 4 scales (17, 9, 5, 3 taps).
  assert metrics.quality.vifp_min_size() == 41
  img = _photo(41, 41)
  assert metrics.vifp(img, img) == pytest.approx(1.0, abs=1e-6)
  with pytest.raises(ValueError, match="41"):
    metrics.vifp(_photo(40, 60), _photo(40, 60))


# ---------------------------------------------------------------- VMAF


def _require_vmaf():
  try:
    ffmpeg = ffmpeg_codecs.find_ffmpeg()
  except CodecUnavailableError as e:
    pytest.skip(f"needs ffmpeg with libvmaf: {e}")
  import subprocess  # pylint: disable=g-import-not-at-top
  filters = subprocess.run([ffmpeg, "-hide_banner", "-filters"],
                           capture_output=True, text=True).stdout
  if "libvmaf" not in filters:
    pytest.skip(f"{ffmpeg} lacks libvmaf: pip install imageio-ffmpeg")


def test_vmaf_self_near_max_and_lower_for_jpeg():
  _require_vmaf()
  ref = _photo(128, 160)
  self_score = metrics.vmaf(ref, ref)
  jpeg_score = metrics.vmaf(ref, _jpeg(ref, 5))
  assert self_score > 95.0
  assert jpeg_score < self_score - 20.0


# ---------------------------------------------------------------- bpp, BD-rate


def test_bpp_from_file_size():
  assert metrics.bpp(1000, 100, 80) == pytest.approx(1.0)
  assert metrics.bpp(b"\0" * 48, 16, 24) == pytest.approx(1.0)
  with pytest.raises(ValueError):
    metrics.bpp(10, 0, 5)


_RATES = np.array([0.06, 0.11, 0.2, 0.35, 0.6, 1.0])
_PSNR = np.array([27.0, 29.5, 32.0, 34.6, 37.1, 39.8])


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_bd_rate_of_ten_percent_cheaper_curve(method):
  assert metrics.bd_rate(_RATES, _PSNR, 0.9 * _RATES, _PSNR,
                         method=method) == pytest.approx(-10.0, abs=1e-6)


def test_bd_rate_ignores_dominated_points():
  # An extra point that costs more bits for less quality is dropped.
  rates = np.append(0.9 * _RATES, 0.5)
  psnr = np.append(_PSNR, 30.0)
  assert metrics.bd_rate(_RATES, _PSNR, rates, psnr) == pytest.approx(
      -10.0, abs=1e-6)


def test_bd_rate_no_overlap_clear_error():
  with pytest.raises(metrics.NoOverlapError, match="do not overlap"):
    metrics.bd_rate(_RATES, _PSNR, _RATES, _PSNR + 20)


def test_bd_rate_too_few_points_for_cubic():
  with pytest.raises(ValueError, match="at least 4"):
    metrics.bd_rate(_RATES, _PSNR, _RATES[:3], _PSNR[:3], method="cubic")


def test_bd_rate_rejects_nan_and_bad_method():
  with pytest.raises(ValueError, match="NaN"):
    metrics.bd_rate(_RATES, np.append(_PSNR[:-1], np.nan), _RATES, _PSNR)
  with pytest.raises(ValueError, match="method"):
    metrics.bd_rate(_RATES, _PSNR, _RATES, _PSNR, method="linear")


def test_bd_rate_per_image_is_mean_of_image_values():
  anchor = {"a": (_RATES, _PSNR), "b": (_RATES, _PSNR + 1),
            "c": (_RATES, _PSNR)}
  test = {"a": (0.9 * _RATES, _PSNR), "b": (1.2 * _RATES, _PSNR + 1),
          "c": (_RATES, _PSNR + 30)}  # no overlap on "c": left out
  mean, values, failures = metrics.bd_rate_per_image(anchor, test)
  assert values["a"] == pytest.approx(-10.0, abs=1e-6)
  assert values["b"] == pytest.approx(20.0, abs=1e-6)
  assert mean == pytest.approx(5.0, abs=1e-6)
  assert set(failures) == {"c"}


def test_bd_rate_aggregated_convention():
  anchor_r = np.stack([_RATES, 2 * _RATES])
  anchor_d = np.stack([_PSNR, _PSNR + 2])
  value = metrics.bd_rate_aggregated(anchor_r, anchor_d, 0.8 * anchor_r,
                                     anchor_d)
  assert value == pytest.approx(-20.0, abs=1e-6)
  r, d = metrics.aggregate_curve(anchor_r, anchor_d)
  np.testing.assert_allclose(r, 1.5 * _RATES)
  np.testing.assert_allclose(d, _PSNR + 1)
