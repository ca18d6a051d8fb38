"""Differentiable scaling warp of Chen et al., Sec. III-B, Eq. (3)-(5).

Output pixel (i, j) samples the input at source coordinates (i / M, j / M)
(Eq. 3) on the unnormalised pixel grid whose origin is the top-left pixel
centre (no half-pixel offset), and interpolates with a separable kernel k
(Eq. 4): V = sum_n sum_m U_mn k(x_s - m) k(y_s - n). As in the authors' code,
source coordinates and kernel taps are clamped to the image (edge replicate)
and there is no antialiasing: the learned Pre-filter is the only low-pass.

Implementation: the warp is separable, so each axis is one batched matrix
product with a per-image interpolation matrix A[b] (rows: output samples,
4 non-zeros each). A is built from M with differentiable ops, so dL/dM comes
from autodiff through the kernel weights; dL/dimages is A^T G, again a matrix
product. See docs/warp.md for the measured cost.
"""
import numbers

import tensorflow as tf

from resizer_tf import _validation

KERNELS = ("bicubic", "bilinear")


def keys_cubic(x, a=-0.5):
  """Keys (1981) cubic convolution kernel; a = -0.5 is Catmull-Rom."""
  x = tf.abs(x)
  x2 = x * x
  x3 = x2 * x
  near = (a + 2.) * x3 - (a + 3.) * x2 + 1.
  far = a * x3 - 5. * a * x2 + 8. * a * x - 4. * a
  return tf.where(x <= 1., near, tf.where(x < 2., far, tf.zeros_like(x)))


def triangle(x):
  return tf.maximum(1. - tf.abs(x), 0.)


def interpolation_matrix(scale, in_size, out_size, kernel="bicubic", a=-0.5):
  """Per-image 1-D interpolation matrices, shape [B, out_size, in_size].

  Row i holds the weights k(s_i - m) of source samples m for
  s_i = clip(i / scale, 0, in_size - 1); taps outside [0, in_size) are
  clamped onto the edge sample (edge replicate).
  """
  scale = tf.cast(scale, tf.float32)
  last = tf.cast(in_size - 1, tf.float32)
  i = tf.cast(tf.range(out_size), tf.float32)
  s = tf.clip_by_value(i[None, :] / scale[:, None], 0., last)
  base = tf.floor(tf.stop_gradient(s))
  if kernel == "bicubic":
    taps, k = (-1., 0., 1., 2.), lambda d: keys_cubic(d, a)
  else:
    taps, k = (0., 1.), triangle
  matrix = 0.
  for t in taps:
    index = tf.cast(tf.clip_by_value(base + t, 0., last), tf.int32)
    weight = k(s - (base + t))
    matrix += tf.one_hot(index, in_size, dtype=tf.float32) * weight[..., None]
  return matrix


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class BicubicWarp(tf.keras.layers.Layer):
  """Scales images by M with a differentiable warp (Chen et al., Eq. 3-5).

  Call as `warp(images, scale, output_size=None)`:
    images: float `[B, H, W, C]` (or `[H, W, C]`).
    scale: M, a scalar or one value per image (`[B]` or `[B, 1]`); M < 1
      shrinks, M > 1 enlarges. Must be finite and > 0.
    output_size: None keeps `(H, W)` (the full canvas the authors train on;
      shrunk content sits top-left in about M*H x M*W), or `(h, w)` as two
      positive ints or an int tensor of shape [2].

  Args:
    kernel: "bicubic" (Keys, a = `a`; the paper's choice) or "bilinear"
      (ablation (a) of Table III).
    a: Keys kernel parameter; -0.5 as in the authors' code.
  """

  def __init__(self, kernel="bicubic", a=-0.5, **kwargs):
    super().__init__(**kwargs)
    if kernel not in KERNELS:
      raise ValueError(f"`kernel` must be one of {KERNELS}; received {kernel!r}.")
    self.kernel = kernel
    self.a = float(a)

  def call(self, images, scale, output_size=None):
    images, single = _validation.check_image_batch(
        images, allow_single=True)
    scale = self._check_scale(scale)
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    if output_size is None:
      out_h, out_w = height, width
    elif isinstance(output_size, (tuple, list)) and all(
        isinstance(s, numbers.Integral) for s in output_size):
      out_h, out_w = _validation.check_size(output_size, "output_size")
    else:
      output_size = tf.convert_to_tensor(output_size)
      if not output_size.dtype.is_integer or output_size.shape.rank != 1:
        raise ValueError(
            "`output_size` must be two positive ints (height, width); "
            f"received {output_size!r}.")
      with tf.control_dependencies([tf.debugging.assert_positive(
          output_size, message="`output_size` must be positive.")]):
        out_h, out_w = output_size[0], output_size[1]
    scale = tf.broadcast_to(scale, [batch])
    x = tf.cast(images, tf.float32)
    a_y = interpolation_matrix(scale, height, out_h, self.kernel, self.a)
    a_x = interpolation_matrix(scale, width, out_w, self.kernel, self.a)
    # Channels-first makes both passes plain batched matmuls.
    x = tf.transpose(x, [0, 3, 1, 2])
    x = tf.matmul(a_y[:, None], x)
    x = tf.matmul(x, a_x[:, None], transpose_b=True)
    x = tf.transpose(x, [0, 2, 3, 1])
    x = tf.cast(x, self.compute_dtype)
    if single:
      x = x[0]
    return x

  def _check_scale(self, scale):
    if isinstance(scale, numbers.Number) and not isinstance(scale, bool):
      if not scale > 0 or scale != scale or scale in (float("inf"),):
        raise ValueError(
            f"`scale` (M) must be finite and > 0; received {scale!r}.")
    scale = tf.convert_to_tensor(scale)
    if not scale.dtype.is_floating:
      if scale.dtype.is_integer:
        scale = tf.cast(scale, tf.float32)
      else:
        raise ValueError(
            f"`scale` must be a float tensor; received {scale.dtype.name}.")
    scale = tf.cast(scale, tf.float32)
    if scale.shape.rank == 2:
      if scale.shape[1] not in (1, None):
        raise ValueError(
            f"`scale` must have shape [], [B] or [B, 1]; received {scale.shape}.")
      scale = scale[:, 0]
    elif scale.shape.rank not in (0, 1):
      raise ValueError(
          f"`scale` must have shape [], [B] or [B, 1]; received {scale.shape}.")
    with tf.control_dependencies(
        _validation.assert_finite_positive(scale, "scale (M)")):
      return tf.identity(scale)

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(kernel=self.kernel, a=self.a)
    return config
