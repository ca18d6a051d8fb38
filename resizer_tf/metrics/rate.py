"""Bits per pixel and Bjøntegaard-delta rate (BD-rate).

Chen et al., Sec. IV-A: "The coding efficiency on the test set was measured
by the Bjøntegaard-Delta bitrate (BD-rate) [64]". Two conventions:

  * Table II: "averaging over per-image BD-rates" (MPEG practice) ->
    `bd_rate_per_image`.
  * Fig. 7: each R-D point is the average over the test images for one
    setting, and the BD-rate is taken between those aggregated curves ->
    `aggregate_curve` + `bd_rate`.

The interpolation is the `bjontegaard` package's; "pchip" (the JPEG-AI
reference scripts' choice, docs/design_notes.md §3) is the default, "cubic" is the
classic VCEG-M33 polynomial fit.
"""
import warnings

from absl import logging
import bjontegaard
import numpy as np

METHODS = ("pchip", "cubic", "akima")


class NoOverlapError(ValueError):
  """The two curves share no quality range, so BD-rate is undefined."""


def bpp(num_bytes, height, width):
  """Bits per pixel of a file of `num_bytes` for an H x W image."""
  if isinstance(num_bytes, (bytes, bytearray)):
    num_bytes = len(num_bytes)
  if num_bytes < 0 or height <= 0 or width <= 0:
    raise ValueError(
        f"bpp needs num_bytes >= 0 and a positive size; received "
        f"{num_bytes} bytes for {height}x{width}.")
  return num_bytes * 8.0 / (height * width)


def _clean_curve(rates, dists, name):
  """Sorted by rate, dominated points dropped (see `bd_rate`)."""
  rates = np.asarray(rates, dtype=np.float64).ravel()
  dists = np.asarray(dists, dtype=np.float64).ravel()
  if rates.shape != dists.shape:
    raise ValueError(
        f"{name}: {rates.size} rates but {dists.size} distortion values.")
  if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(dists))):
    raise ValueError(f"{name}: rates/quality contain NaN or Inf: "
                     f"rates={rates.tolist()}, quality={dists.tolist()}.")
  if np.any(rates <= 0):
    raise ValueError(f"{name}: rates must be > 0; received {rates.tolist()}.")
  order = np.lexsort((-dists, rates))
  rates, dists = rates[order], dists[order]
  # The interpolation needs quality strictly increasing with rate: a point
  # that costs more bits without better quality is dominated and dropped.
  keep = []
  best = -np.inf
  for i, d in enumerate(dists):
    if d > best:
      keep.append(i)
      best = d
  return rates[keep], dists[keep]


def bd_rate(rate_anchor, dist_anchor, rate_test, dist_test, method="pchip",
            min_overlap=0.75):
  """BD-rate in percent of the test curve against the anchor curve.

  Negative means the test codec needs fewer bits for the same quality.

  Args:
    rate_anchor, dist_anchor: the anchor's rates (bpp) and quality values
      (higher is better: PSNR, MS-SSIM, VIF, VMAF).
    rate_test, dist_test: the same for the tested codec.
    method: "pchip" (default), "cubic" or "akima".
    min_overlap: relative quality-range overlap below which a warning is
      logged (the `bjontegaard` default 0.75).
  Returns:
    float, percent.
  Raises:
    NoOverlapError: the quality ranges do not overlap.
    ValueError: bad input, or fewer than 2 (4 for "cubic") usable points.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {METHODS}; received {method!r}.")
  ra, da = _clean_curve(rate_anchor, dist_anchor, "anchor curve")
  rt, dt = _clean_curve(rate_test, dist_test, "test curve")
  needed = 4 if method == "cubic" else 2
  for name, d in (("anchor", da), ("test", dt)):
    if d.size < needed:
      raise ValueError(
          f"The {name} curve has {d.size} point(s) with increasing quality; "
          f"BD-rate with {method!r} needs at least {needed}.")
  low, high = max(da.min(), dt.min()), min(da.max(), dt.max())
  if high <= low:
    raise NoOverlapError(
        f"The quality ranges do not overlap: anchor [{da.min():.4g}, "
        f"{da.max():.4g}], test [{dt.min():.4g}, {dt.max():.4g}]; BD-rate is "
        "undefined. Extend one codec's ladder.")
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    value = bjontegaard.bd_rate(ra, da, rt, dt, method=method,
                                require_matching_points=False,
                                min_overlap=min_overlap)
  for w in caught:
    # Per-image tables call this hundreds of times; a few examples suffice.
    logging.log_first_n(logging.WARNING, "BD-rate: %s", 3, w.message)
  return float(value)


def bd_rate_per_image(anchor, test, method="pchip", min_overlap=0.75):
  """Average of per-image BD-rates (Table II convention).

  Args:
    anchor, test: dicts image id -> (rates, quality values).
    method, min_overlap: as in `bd_rate`.
  Returns:
    (mean over the images where BD-rate is defined, dict image -> value,
     dict image -> reason for the images that were left out).
  Raises:
    ValueError: no image has a defined BD-rate (the reasons are listed).
  """
  common = sorted(set(anchor) & set(test))
  if not common:
    raise ValueError("Anchor and test curves share no image.")
  values, failures = {}, {}
  for image in common:
    try:
      values[image] = bd_rate(*anchor[image], *test[image], method=method,
                              min_overlap=min_overlap)
    except ValueError as e:
      failures[image] = str(e)
  for image in sorted(set(anchor) ^ set(test)):
    failures[image] = "missing from one of the two codecs"
  if not values:
    raise ValueError(
        "BD-rate is undefined for every image: " +
        "; ".join(f"{k}: {v}" for k, v in failures.items()))
  return float(np.mean(list(values.values()))), values, failures


def aggregate_curve(rates, dists):
  """Fig. 7 convention: per setting, the mean rate and mean quality.

  Args:
    rates, dists: arrays [num_images, num_settings] (same setting order).
  Returns:
    (mean rates [num_settings], mean quality [num_settings]).
  """
  rates = np.asarray(rates, dtype=np.float64)
  dists = np.asarray(dists, dtype=np.float64)
  if rates.ndim != 2 or rates.shape != dists.shape:
    raise ValueError(
        "aggregate_curve needs two [num_images, num_settings] arrays; "
        f"received {rates.shape} and {dists.shape}.")
  return rates.mean(axis=0), dists.mean(axis=0)


def bd_rate_aggregated(anchor_rates, anchor_dists, test_rates, test_dists,
                       method="pchip", min_overlap=0.75):
  """BD-rate between the image-averaged curves (Fig. 7 convention)."""
  ra, da = aggregate_curve(anchor_rates, anchor_dists)
  rt, dt = aggregate_curve(test_rates, test_dists)
  return bd_rate(ra, da, rt, dt, method=method, min_overlap=min_overlap)
