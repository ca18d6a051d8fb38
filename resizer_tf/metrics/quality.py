"""Full-reference quality metrics on uint8 RGB image pairs.

Chen et al. (Resize-Compress), Sec. IV-A: BD-rates are computed "with respect
to a variety of quality models": PSNR, MS-SSIM [65], VIF [66] and VMAF [67]
(VMAF lives in vmaf.py). Every function takes the reference first and the
distorted image second, both uint8 [H, W, 3] RGB of the same shape, and
returns a Python float (higher is better).
"""
import numpy as np
from scipy import ndimage
import tensorflow as tf

from resizer_tf.anchors.base import check_image_uint8

# ITU-R BT.601 luma weights (as in JPEG/JFIF's YCbCr).
BT601_LUMA = (0.299, 0.587, 0.114)
# tf.image.ssim_multiscale defaults: Wang et al. 2003 weights, 11x11 window.
MS_SSIM_POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_FILTER_SIZE = 11


def check_pair(reference, distorted):
  """Validates and returns (reference, distorted) as uint8 [H, W, 3] arrays."""
  reference = check_image_uint8(reference, "reference")
  distorted = check_image_uint8(distorted, "distorted")
  if reference.shape != distorted.shape:
    raise ValueError(
        "`reference` and `distorted` must have the same shape; received "
        f"{reference.shape} and {distorted.shape}.")
  return reference, distorted


def luma(image):
  """BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B, float64 in [0, 255].

  Full range and unrounded (JFIF convention), so PSNR-Y and VIF measure the
  codec, not a second 8-bit rounding.
  """
  image = check_image_uint8(image)
  return image.astype(np.float64) @ np.asarray(BT601_LUMA)


def _psnr_from_mse(mse, peak=255.0):
  if mse == 0:
    return float("inf")
  return float(10.0 * np.log10(peak * peak / mse))


def psnr(reference, distorted):
  """PSNR in dB over all RGB samples: 10 log10(255^2 / MSE); inf if equal."""
  reference, distorted = check_pair(reference, distorted)
  diff = reference.astype(np.float64) - distorted.astype(np.float64)
  return _psnr_from_mse(np.mean(diff * diff))


def psnr_y(reference, distorted):
  """PSNR in dB of the BT.601 luma channel (see `luma`)."""
  reference, distorted = check_pair(reference, distorted)
  diff = luma(reference) - luma(distorted)
  return _psnr_from_mse(np.mean(diff * diff))


def ms_ssim_min_size(power_factors=MS_SSIM_POWER_FACTORS,
                     filter_size=MS_SSIM_FILTER_SIZE):
  """Smallest height/width that `ms_ssim` accepts.

  tf.image.ssim_multiscale halves the image (ceil, 'SAME' pooling) between
  scales and needs at least `filter_size` pixels at the coarsest scale.
  """
  return (filter_size - 1) * 2**(len(power_factors) - 1) + 1


def ms_ssim(reference, distorted, power_factors=MS_SSIM_POWER_FACTORS):
  """MS-SSIM (Wang et al. 2003) of the RGB images via tf.image.ssim_multiscale.

  As TF (and CompressAI) do, the score is computed per channel and averaged.

  Args:
    reference, distorted: uint8 [H, W, 3].
    power_factors: per-scale exponents; default the 5 scales of the paper
      [65]. Fewer factors = fewer scales, for smaller images.
  Raises:
    ValueError: an image side is below `ms_ssim_min_size(power_factors)`
      (161 px for 5 scales); pass fewer `power_factors` to use fewer scales.
  """
  reference, distorted = check_pair(reference, distorted)
  min_size = ms_ssim_min_size(power_factors)
  if min(reference.shape[:2]) < min_size:
    raise ValueError(
        f"MS-SSIM with {len(power_factors)} scales needs height and width "
        f">= {min_size}; received {reference.shape[0]}x{reference.shape[1]}. "
        "Pass fewer power_factors (e.g. the first 3) for smaller images.")
  value = tf.image.ssim_multiscale(
      tf.constant(reference[None]), tf.constant(distorted[None]),
      max_val=255, power_factors=power_factors,
      filter_size=MS_SSIM_FILTER_SIZE)
  return float(value.numpy()[0])


def _gaussian_1d(size):
  """1-D factor of the Gaussian window of VIFp (sigma = size / 5)."""
  half = size // 2
  x = np.arange(-half, half + 1, dtype=np.float64)
  g = np.exp(-x * x / (2.0 * (size / 5.0)**2))
  return g / g.sum()


def _filter_valid(x, g):
  """Separable 'valid' 2-D filtering with the symmetric 1-D window `g`."""
  r = len(g) // 2
  y = ndimage.correlate1d(x, g, axis=0, mode="nearest")
  y = ndimage.correlate1d(y, g, axis=1, mode="nearest")
  return y[r:x.shape[0] - r, r:x.shape[1] - r]


VIFP_SCALES = 4


def vifp_min_size():
  """Smallest height/width for which every VIFp scale has a valid region."""
  need = 1
  for scale in range(VIFP_SCALES, 0, -1):
    size = 2**(VIFP_SCALES - scale + 1) + 1
    need = max(need, size)  # this scale's statistics window
    if scale > 1:
      need = 2 * need - 1 + size - 1  # before subsampling and the blur
  return need


def vifp_luma(reference_y, distorted_y, sigma_nsq=2.0):
  """Pixel-domain VIF of two 2-D float arrays (Sheikh & Bovik's vifp_mscale).

  Four scales with Gaussian windows of 17, 9, 5, 3 taps (sigma = taps / 5);
  between scales the image is blurred with that scale's window ('valid')
  and subsampled by 2. Local variances use E[x^2] - E[x]^2 as the reference
  code does, and the same guards (gain < 0, zero variances). Vectorised:
  the windows are separable, so each 2-D filter is two 1-D passes.

  Args:
    reference_y, distorted_y: 2-D arrays of equal shape (e.g. `luma`).
    sigma_nsq: variance of the HVS noise (2.0 for [0, 255] data).
  """
  eps = 1e-10
  ref = np.asarray(reference_y, dtype=np.float64)
  dist = np.asarray(distorted_y, dtype=np.float64)
  if ref.ndim != 2 or ref.shape != dist.shape:
    raise ValueError(
        "VIFp needs two 2-D arrays of the same shape; received "
        f"{ref.shape} and {dist.shape}.")
  min_size = vifp_min_size()
  if min(ref.shape) < min_size:
    raise ValueError(
        f"VIFp (4 scales) needs height and width >= {min_size}; received "
        f"{ref.shape[0]}x{ref.shape[1]}.")
  if not (np.all(np.isfinite(ref)) and np.all(np.isfinite(dist))):
    raise ValueError("VIFp inputs contain NaN or Inf.")
  num = den = 0.0
  for scale in range(1, VIFP_SCALES + 1):
    g = _gaussian_1d(2**(VIFP_SCALES - scale + 1) + 1)
    if scale > 1:
      ref = _filter_valid(ref, g)[::2, ::2]
      dist = _filter_valid(dist, g)[::2, ::2]
    mu1, mu2 = _filter_valid(ref, g), _filter_valid(dist, g)
    sigma1_sq = np.maximum(_filter_valid(ref * ref, g) - mu1 * mu1, 0.0)
    sigma2_sq = np.maximum(_filter_valid(dist * dist, g) - mu2 * mu2, 0.0)
    sigma12 = _filter_valid(ref * dist, g) - mu1 * mu2

    gain = sigma12 / (sigma1_sq + eps)
    sv_sq = sigma2_sq - gain * sigma12
    flat_ref = sigma1_sq < eps
    gain[flat_ref] = 0.0
    sv_sq[flat_ref] = sigma2_sq[flat_ref]
    sigma1_sq[flat_ref] = 0.0
    flat_dist = sigma2_sq < eps
    gain[flat_dist] = 0.0
    sv_sq[flat_dist] = 0.0
    negative = gain < 0
    sv_sq[negative] = sigma2_sq[negative]
    gain[negative] = 0.0
    sv_sq = np.maximum(sv_sq, eps)

    num += np.sum(np.log10(1.0 + gain * gain * sigma1_sq / (sv_sq + sigma_nsq)))
    den += np.sum(np.log10(1.0 + sigma1_sq / sigma_nsq))
  if den == 0:
    raise ValueError("VIFp is undefined for a constant reference image.")
  return float(num / den)


def vifp(reference, distorted, sigma_nsq=2.0):
  """VIFp on the BT.601 luma of uint8 RGB images (1.0 for identical images).

  Paper [66] is VIF (Sheikh & Bovik 2006); this is its pixel-domain
  multi-scale form (VIFp), the common fast stand-in for it, computed on
  luma like VMAF's VIF features.
  """
  reference, distorted = check_pair(reference, distorted)
  return vifp_luma(luma(reference), luma(distorted), sigma_nsq)
