"""Differentiable scaling warp of Chen et al., Sec. III-B, Eq. (3)-(5).

Output pixel (i, j) samples the input at source coordinates (i / M, j / M)
(Eq. 3) on the unnormalised pixel grid whose origin is the top-left pixel
centre (no half-pixel offset), and interpolates with a separable kernel k
(Eq. 4): V = sum_n sum_m U_mn k(x_s - m) k(y_s - n). As in the authors' code
(docs/design_notes.md §4), source coordinates and kernel taps are clamped to the image
(edge replicate) and there is no antialiasing: the learned Pre-filter is the
only low-pass.

Implementation (resizer_tf/layers/_warp_ops.py, docs/warp.md): each axis is
one product with a block-diagonal sparse interpolation matrix (2r non-zeros
per output row, r the kernel radius) via `tf.sparse.sparse_dense_matmul`,
with a hand-written gradient: dL/dimages is the adjoint product and dL/dM is
sum <dL/dV, A' U> with A' = k'(s - m) ds/dM, ds/dM = -i / M^2. Coordinates and
weights are computed in float32 (float64 under a float64 policy), also under
mixed precision.
"""
import math
import numbers
from typing import Any

import numpy as np
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf.layers import _warp_ops

KERNELS = ("bicubic", "bilinear")
keys_cubic = _warp_ops.keys_cubic
triangle = _warp_ops.triangle


def _static_int(value):
  value = tf.get_static_value(value)
  return None if value is None else int(value)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class BicubicWarp(tf.keras.layers.Layer):
  """Scales images by M with a differentiable warp (Chen et al., Eq. 3-5).

  Call as `warp(images, scale, output_size=None)`:
    images: float `[B, H, W, C]` (or `[H, W, C]`).
    scale: M, a scalar or one value per image (`[B]` or `[B, 1]`); M < 1
      shrinks, M > 1 enlarges. `[B, 2]` gives (M_y, M_x) per image (ablation
      (f) of Table III). Must be finite and > 0.
    output_size: None keeps `(H, W)` (the full canvas the authors train on;
      shrunk content sits top-left in about M*H x M*W), or `(h, w)` as two
      positive ints or an int tensor of shape [2] (e.g. the
      ceil(M*H) x ceil(M*W) crop of the coding path).

  Returns the warped images in the layer's compute dtype. Gradients flow to
  `images` and `scale`.

  Args:
    kernel: "bicubic" (Keys, a = `a`; the paper's choice, Sec. III-B) or
      "bilinear" (ablation (a) of Table III).
    a: Keys kernel parameter; -0.5 as in the authors' code.
  """

  def __init__(self, kernel="bicubic", a=-0.5, **kwargs):
    super().__init__(**kwargs)
    if kernel not in KERNELS:
      raise ValueError(
          f"`kernel` must be one of {KERNELS}; received {kernel!r}.")
    if (isinstance(a, bool) or not isinstance(a, numbers.Real) or
        not math.isfinite(a)):
      raise ValueError(f"`a` must be a finite number; received {a!r}.")
    self.kernel = kernel
    self.a = float(a)

  def __call__(self, images: Any, *args: Any, **kwargs: Any) -> tf.Tensor:
    # Keras 3 accepts only tensors as positional arguments after `images`;
    # passing `scale` and `output_size` by keyword lets `warp(x, 0.5)` and
    # `warp(x, m, (h, w))` work under Keras 2 and Keras 3 alike.
    names = ("scale", "output_size")
    if len(args) > len(names):
      raise TypeError(
          f"BicubicWarp takes (images, scale, output_size=None); received "
          f"{1 + len(args)} positional arguments.")
    for name, value in zip(names, args):
      if name in kwargs:
        raise TypeError(f"BicubicWarp got multiple values for {name!r}.")
      kwargs[name] = value
    return super().__call__(images, **kwargs)

  def call(self, images, scale, output_size=None):
    return self._warp(images, scale, output_size)

  # Plain ops only: skipping autograph saves about a second per trace.
  @tf.autograph.experimental.do_not_convert
  def _warp(self, images, scale, output_size):
    images, single = _validation.check_image_batch(images, allow_single=True)
    work_dtype = tf.float64 if images.dtype == tf.float64 else tf.float32
    shape = tf.shape(images)
    batch = shape[0]
    # Static sizes where known let the graph specialise (axis order).
    height, width = (shape[i] if images.shape[i] is None else images.shape[i]
                     for i in (1, 2))
    checks = self._check_spatial(images)
    out_h, out_w, size_checks = self._output_size(output_size, height, width)
    scale, scale_checks = self._check_scale(
        scale, batch, images.shape[0], work_dtype)
    with tf.control_dependencies(checks + size_checks + scale_checks):
      x = tf.cast(images, work_dtype)
    y = _warp_ops.scale_warp(x, scale, out_h, out_w, self.kernel, self.a)
    y.set_shape([images.shape[0], _static_int(out_h), _static_int(out_w),
                 images.shape[3]])
    y = tf.cast(y, self.compute_dtype)
    if single:
      y = y[0]
    return y

  def window(self, images, scale_yx, out_start, out_size, in_start,
             full_size, full_out_size):
    """A window of `call(full, scale_yx, full_out_size)` from the samples of
    `full` that it reads (tiled coding of large images, resize_compress.py;
    `_warp_ops.scale_warp_window`). Inference only; `scale_yx` [B, 2]."""
    work_dtype = tf.float64 if images.dtype == tf.float64 else tf.float32
    y = _warp_ops.scale_warp_window(
        tf.cast(images, work_dtype), tf.cast(scale_yx, work_dtype),
        out_start, out_size, in_start, full_size, full_out_size, self.kernel,
        self.a)
    return tf.cast(y, self.compute_dtype)

  def window_input_range(self, first, last, scale, n_full):
    """Inclusive input range outputs [first, last] of one axis read."""
    return _warp_ops.window_input_range(first, last, scale, n_full,
                                        self.kernel)

  @staticmethod
  def _check_spatial(images):
    static = images.shape[1:]
    if any(d == 0 for d in static):
      raise ValueError(
          "`images` must have non-empty height, width and channels; received "
          f"shape {images.shape}.")
    if all(d is not None for d in static):
      return []
    return [tf.debugging.assert_positive(
        tf.shape(images)[1:], message="`images` must have non-empty height, "
        "width and channels.")]

  @staticmethod
  def _output_size(output_size, height, width):
    """Returns (out_h, out_w, checks) as int32 scalars (or Python ints)."""
    if output_size is None:
      return height, width, []
    if isinstance(output_size, (tuple, list)) and all(
        isinstance(s, numbers.Integral) for s in output_size):
      out_h, out_w = _validation.check_size(output_size, "output_size")
      return out_h, out_w, []
    message = ("`output_size` must be two positive ints (height, width) or "
               f"an int tensor of shape [2]; received {output_size!r}.")
    if isinstance(output_size, (numbers.Number, str, bytes)):
      raise ValueError(message)
    try:
      size = tf.convert_to_tensor(output_size)
    except (TypeError, ValueError):
      raise ValueError(message) from None
    if not size.dtype.is_integer or not size.shape.is_compatible_with([2]):
      raise ValueError(message)
    size = tf.cast(size, tf.int32)
    static = tf.get_static_value(size)
    if static is not None:
      if not np.all(static > 0):
        raise ValueError(message)
      return int(static[0]), int(static[1]), []
    checks = [tf.debugging.assert_equal(
        tf.size(size), 2, message="`output_size` must have 2 entries."),
              tf.debugging.assert_positive(
                  size, message="`output_size` must be positive.")]
    # Gated, so that a bad size fails here rather than in a later op.
    with tf.control_dependencies(checks):
      size = tf.identity(size)
    return size[0], size[1], checks

  @staticmethod
  def _check_scale(scale, batch, static_batch, dtype):
    """Returns ([B, 2] (M_y, M_x) in `dtype`, runtime checks)."""
    if isinstance(scale, bool) or (
        isinstance(scale, numbers.Real) and
        not (math.isfinite(scale) and scale > 0)):
      raise ValueError(
          f"`scale` (M) must be finite and > 0; received {scale!r}.")
    try:
      scale = tf.convert_to_tensor(scale)
    except (TypeError, ValueError):
      raise ValueError(
          f"`scale` (M) must be a number or a float tensor; received {scale!r}."
      ) from None
    if not (scale.dtype.is_floating or scale.dtype.is_integer):
      raise ValueError(
          "`scale` (M) must be a number or a float tensor; received dtype "
          f"{scale.dtype.name}.")
    scale = tf.cast(scale, dtype)
    rank = scale.shape.rank
    shapes = "[], [B], [B, 1] or [B, 2] (M_y, M_x)"
    if rank not in (0, 1, 2) or (
        rank == 2 and scale.shape[1] not in (1, 2, None)):
      raise ValueError(
          f"`scale` must have shape {shapes}; received {scale.shape}.")
    if rank and None not in (static_batch, scale.shape[0]) and (
        scale.shape[0] != static_batch):
      raise ValueError(
          f"`scale` must have one entry per image ({static_batch}); received "
          f"shape {scale.shape}.")
    checks = list(_validation.assert_finite_positive(scale, "scale (M)"))
    if rank == 1:
      scale = scale[:, None]
    if rank:
      checks.append(tf.debugging.assert_equal(
          tf.shape(scale)[0], batch,
          message="`scale` must have one entry per image (its first "
          "dimension must equal the batch size)."))
    if rank == 2 and scale.shape[1] is None:
      checks.append(tf.debugging.assert_less_equal(
          tf.shape(scale)[1], 2,
          message=f"`scale` must have shape {shapes}."))
    # Gated, so that a bad M fails here rather than in a later op.
    with tf.control_dependencies(checks):
      scale = tf.broadcast_to(scale if rank else scale[None, None],
                              [batch, 2])
    return scale, checks

  def compute_output_shape(self, input_shape):
    # The default (output_size=None) keeps the full canvas.
    return tf.TensorShape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(kernel=self.kernel, a=self.a)
    return config
