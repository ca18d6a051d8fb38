"""Sparse separable implementation of the scaling warp (Chen et al., Eq. 3-5).

For one axis, output sample i of image b reads the input at
s_i = min(i / M_b, n_in - 1) and needs only the 2r taps
floor(s_i) - r + 1 ... floor(s_i) + r (r = kernel radius), each clamped to the
image. The axis is therefore one product with a block-diagonal sparse matrix
A (rows: (b, i); columns: (b, m); 2r non-zeros per row), applied with
`tf.sparse.sparse_dense_matmul`: O(taps x output) work, no dense matrix, no
gathered windows or per-tap copies. The second axis is brought to the front
with one transpose each way; the axis that shrinks the image goes first.

The gradient is written out (`tf.custom_gradient`), so the backward pass is
the same sparse products rather than autodiff through the construction of A:
  dL/dU = A^T dL/dV                      (the same op with `adjoint_a`),
  dL/dM = sum_i <dL/dV_i, (A' U)_i>,      A'[i, m] = k'(s_i - m) ds_i/dM,
with ds_i/dM = -i / M^2, and 0 where s_i is clamped to the last pixel.

The sparse GPU kernel accumulates with atomics and refuses to run under
`tf.config.experimental.enable_op_determinism()`; then (and a GPU visible)
each axis uses per-image dense matrices and batched matmuls instead.
See docs/warp.md for the measured cost of this and the alternatives.
"""
import tensorflow as tf
from tensorflow.python.framework import config as tf_config  # pylint: disable=g-direct-tensorflow-import

RADIUS = {"bicubic": 2, "bilinear": 1}


def keys_cubic(x, a=-0.5):
  """Keys (1981) cubic convolution kernel; a = -0.5 is Catmull-Rom.

  Written as two clamped polynomial pieces, each exactly 0 at its clamp, so
  integer offsets give exact weights (1, 0, 0, ...) and no comparison op is
  needed (they are slow on CPU).
  """
  x = tf.abs(x)
  near = tf.minimum(x, 1.)
  far = tf.clip_by_value(x, 1., 2.)
  return (((a + 2.) * near - (a + 3.)) * tf.square(near) + 1. +
          a * (far - 1.) * tf.square(far - 2.))


def keys_cubic_derivative(x, a=-0.5):
  """d/dx of `keys_cubic` (the kernel is C1, so this is unambiguous)."""
  u = tf.minimum(tf.abs(x), 2.)
  v = tf.nn.relu(u - 1.)
  # 3(a+2)u^2 - 2(a+3)u below 1; the v-terms switch to 3au^2 - 10au + 8a
  # above 1, and both pieces are 0 at u = 2.
  g = ((3. * (a + 2.)) * u - 2. * (a + 3.)) * u - (
      6. * v + 2. * (3. + 4. * a)) * v
  return tf.sign(x) * g


def triangle(x):
  """Linear interpolation kernel (Table III, ablation (a))."""
  return tf.nn.relu(1. - tf.abs(x))


def triangle_derivative(x):
  """Right derivative in the sample position, as a floor-based bilinear
  sampler (e.g. a spatial transformer) computes it: for a sample at s, the
  slope of the segment [floor(s), floor(s) + 1] that contains it."""
  zero = tf.zeros_like(x)
  one = tf.ones_like(x)
  return tf.where((x >= 0.) & (x < 1.), -one,
                  tf.where((x >= -1.) & (x < 0.), one, zero))


class _Axis:
  """Sampling positions and sparse interpolation matrix of one axis."""

  def __init__(self, scale, n_in, n_out, kernel, a, dense=False,
               window=None):
    """scale: [B] float; n_in, n_out: int32 scalars.

    window: None, or (out_start, in_start, n_full) for a window of a larger
    warp (`scale_warp_window`): the outputs are rows out_start ... of the
    warp of an n_full-long axis, whose samples from in_start on are the
    n_in given ones. Positions and weights are computed from the global
    output index, by the same ops as without a window.
    """
    self.scale, self.n_in, self.n_out = scale, n_in, n_out
    self.kernel, self.a, self.dense = kernel, a, dense
    dtype = scale.dtype
    radius = RADIUS[kernel]
    batch = tf.shape(scale)[0]
    if window is None:
      last = tf.cast(n_in - 1, dtype)
      self.i = tf.cast(tf.range(n_out), dtype)
    else:
      out_start, in_start, n_full = window
      last = tf.cast(n_full - 1, dtype)
      self.i = tf.cast(tf.range(n_out) + out_start, dtype)
    t = self.i[None] / scale[:, None]                    # [B, n_out]
    # i >= 0 and M > 0, so only the upper clamp can bind.
    self.unclamped = t <= last
    s = tf.minimum(t, last)
    taps = tf.floor(s)[..., None] + tf.cast(
        tf.range(1 - radius, radius + 1), dtype)         # [B, n_out, 2r]
    self.offset = s[..., None] - taps
    self.weights = self._kernel(self.offset)
    self.taps = tf.clip_by_value(taps, 0., last)          # edge replicate
    if window is not None:
      self.taps -= tf.cast(in_start, dtype)               # into the window
    # Block-diagonal over the batch: row b * n_out + i, column b * n_in + m.
    in_base = tf.range(batch, dtype=tf.int64) * tf.cast(n_in, tf.int64)
    cols = tf.cast(self.taps, tf.int64) + in_base[:, None, None]
    rows = tf.broadcast_to(
        tf.range(tf.cast(batch * n_out, tf.int64))[:, None],
        [tf.cast(batch * n_out, tf.int64), 2 * radius])
    self.indices = tf.stack(
        [tf.reshape(rows, [-1]), tf.reshape(cols, [-1])], axis=1)
    self.dense_shape = tf.cast(
        tf.stack([batch * n_out, batch * n_in]), tf.int64)

  def _kernel(self, x):
    if self.kernel == "bicubic":
      return keys_cubic(x, self.a)
    return triangle(x)

  def _kernel_derivative(self, x):
    if self.kernel == "bicubic":
      return keys_cubic_derivative(x, self.a)
    return triangle_derivative(x)

  def _product(self, values, u, adjoint=False):
    """A u (or A^T u) for the matrix with `values` [B, n_out, 2r] at the
    taps; u is [B * n_in, X] (or [B * n_out, X])."""
    if not self.dense:
      matrix = tf.SparseTensor(self.indices, tf.reshape(values, [-1]),
                               self.dense_shape)
      return tf.sparse.sparse_dense_matmul(matrix, u, adjoint_a=adjoint)
    # Per-image dense [n_out, n_in] matrices and batched matmuls: the
    # deterministic GPU fallback (the sparse GPU kernel accumulates with
    # atomics and refuses to run under op determinism).
    batch = tf.shape(self.scale)[0]
    matrix = tf.reduce_sum(
        tf.one_hot(tf.cast(self.taps, tf.int32), self.n_in,
                   dtype=values.dtype) * values[..., None], axis=2)
    product = tf.matmul(matrix, tf.reshape(u, [batch, -1, tf.shape(u)[1]]),
                        transpose_a=adjoint)
    return tf.reshape(product, [-1, tf.shape(u)[1]])

  def apply(self, u):
    """[B * n_in, X] -> [B * n_out, X]."""
    return self._product(self.weights, u)

  def backprop(self, grad, u):
    """Returns (dL/du [B * n_in, X], dL/dM [B]) given dL/d(apply(u))."""
    du = self._product(self.weights, grad, adjoint=True)
    ds_dm = tf.where(self.unclamped,
                     -self.i[None] / tf.square(self.scale[:, None]),
                     tf.zeros_like(self.offset[..., 0]))
    # d(offset)/dM = ds/dM, so d(weights)/dM = k'(offset) ds/dM.
    slope = self._kernel_derivative(self.offset) * ds_dm[..., None]
    dv_dm = self._product(slope, u)
    batch = tf.shape(self.scale)[0]
    # (A batched matmul [B, 1, N] x [B, N, 1] measured 3x slower.)
    dm = tf.reduce_sum(tf.reshape(dv_dm * grad, [batch, -1]), axis=1)
    return du, dm


def _content_rows(scale, n_in, n_out):
  """Rows [0, n) hold every sample of any image below n_in - 1 and one row
  that all images sample at the clamped n_in - 1; rows >= n repeat it.
  (Same arithmetic as `_Axis`, so the split agrees with its clamping.)"""
  i = tf.cast(tf.range(n_out), scale.dtype)
  unclamped = i[None] / scale[:, None] <= tf.cast(n_in - 1, scale.dtype)
  n = tf.reduce_max(tf.reduce_sum(tf.cast(unclamped, tf.int32), axis=1)) + 1
  return tf.clip_by_value(n, 1, n_out)


def _repeat_last_row(v, batch, n, n_out):
  """[B * n, X] -> [B * n_out, X]; rows >= n - 1 copy row n - 1."""
  def repeat():
    rows = tf.minimum(tf.range(n_out), n - 1)
    u = tf.gather(tf.reshape(v, [batch, n, -1]), rows, axis=1)
    return tf.reshape(u, [batch * n_out, -1])
  return tf.cond(n < n_out, repeat, lambda: v)


def _sum_repeated_rows(g, batch, n, n_out):
  """Adjoint of `_repeat_last_row` (deterministic on every device)."""
  def add():
    u = tf.reshape(g, [batch, n_out, -1])
    u = tf.concat([u[:, :n - 1],
                   tf.reduce_sum(u[:, n - 1:], axis=1, keepdims=True)], 1)
    return tf.reshape(u, [batch * n, -1])
  return tf.cond(n < n_out, add, lambda: g)


def _swap_rows_cols(x, batch, rows, cols, channels):
  """[B * rows, cols * C] -> [B * cols, rows * C] (one transpose)."""
  x = tf.reshape(x, [batch, rows, cols, channels])
  x = tf.transpose(x, [0, 2, 1, 3])
  return tf.reshape(x, [batch * cols, rows * channels])


# Plain TF ops and an explicit tf.cond: autograph has nothing to convert, and
# converting these functions costs about a second per trace.
@tf.autograph.experimental.do_not_convert
def scale_warp(images, scale_yx, out_height, out_width, kernel="bicubic",
               a=-0.5, dense=None):
  """Warps `images` [B, H, W, C] by per-image, per-axis factors.

  Args:
    images: float32 or float64 [B, H, W, C].
    scale_yx: [B, 2] (M_y, M_x), same dtype as `images`, finite and > 0.
    out_height, out_width: int32 scalars (tensors or ints), > 0.
    kernel: "bicubic" or "bilinear".
    a: Keys parameter of the bicubic kernel.
    dense: use per-image dense matrices instead of the sparse product; None
      does so only when op determinism is enabled and a GPU is visible.

  Returns:
    [B, out_height, out_width, C]; output pixel (i, j) samples the input at
    (min(i / M_y, H - 1), min(j / M_x, W - 1)).
  """
  out_height = tf.convert_to_tensor(out_height, tf.int32)
  out_width = tf.convert_to_tensor(out_width, tf.int32)
  if dense is None:
    # TF 2.14 exposes only the setter of op determinism publicly.
    dense = bool(tf_config.is_op_determinism_enabled() and
                 tf.config.list_logical_devices("GPU"))

  @tf.custom_gradient
  def warp(x, scale):
    shape = tf.shape(x)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    # Shrinking rows first keeps both transposes on the smaller tensors;
    # when rows grow, columns first does (the transposes dominate the cost).
    rows_first = out_height <= height
    static_sizes = (x.shape[1], tf.get_static_value(out_height))
    static = None if None in static_sizes else bool(
        static_sizes[1] <= static_sizes[0])
    xs = _Axis(scale[:, 1], width, out_width, kernel, a, dense)
    if static is not False:
      # Rows first on the full canvas: only the content rows go through
      # both passes and transposes; the clamped rows below repeat one row.
      content = _content_rows(scale[:, 0], height, out_height)
      ys_content = _Axis(scale[:, 0], height, content, kernel, a, dense)
    if static is not True:
      ys = _Axis(scale[:, 0], height, out_height, kernel, a, dense)

    def forward_rows_first():
      u1 = tf.reshape(x, [batch * height, width * channels])
      u2 = _swap_rows_cols(ys_content.apply(u1), batch, content, width,
                           channels)
      v = _swap_rows_cols(xs.apply(u2), batch, out_width, content, channels)
      return _repeat_last_row(v, batch, content, out_height), u1, u2

    def forward_cols_first():
      u1 = _swap_rows_cols(tf.reshape(x, [batch * height, width * channels]),
                           batch, height, width, channels)
      u2 = _swap_rows_cols(xs.apply(u1), batch, out_width, height, channels)
      return ys.apply(u2), u1, u2

    if static is None:
      v, u1, u2 = tf.cond(rows_first, forward_rows_first, forward_cols_first)
    elif static:
      v, u1, u2 = forward_rows_first()
    else:
      v, u1, u2 = forward_cols_first()
    y = tf.reshape(v, [batch, out_height, out_width, channels])

    def grad(dy):
      dy = tf.reshape(dy, [batch * out_height, out_width * channels])

      def backward_rows_first():
        g2 = _sum_repeated_rows(dy, batch, content, out_height)
        g2 = _swap_rows_cols(g2, batch, content, out_width, channels)
        g1, dm_x = xs.backprop(g2, u2)
        g1 = _swap_rows_cols(g1, batch, width, content, channels)
        dx, dm_y = ys_content.backprop(g1, u1)
        return dx, dm_y, dm_x

      def backward_cols_first():
        g2, dm_y = ys.backprop(dy, u2)
        g1 = _swap_rows_cols(g2, batch, height, out_width, channels)
        dx, dm_x = xs.backprop(g1, u1)
        dx = _swap_rows_cols(dx, batch, width, height, channels)
        return dx, dm_y, dm_x

      if static is None:
        dx, dm_y, dm_x = tf.cond(rows_first, backward_rows_first,
                                 backward_cols_first)
      elif static:
        dx, dm_y, dm_x = backward_rows_first()
      else:
        dx, dm_y, dm_x = backward_cols_first()
      return tf.reshape(dx, shape), tf.stack([dm_y, dm_x], axis=1)

    return y, grad

  return warp(images, scale_yx)


# -- windows of a warp (tiled coding of large images) -------------------------


def window_input_range(first, last, scale, n_full, kernel="bicubic"):
  """Inclusive range of input samples that outputs [first, last] of a warp
  of an n_full-long axis by `scale` (a float32 scalar) read.

  Output i reads the 2r taps floor(s) - r + 1 ... floor(s) + r around
  s = min(i / M, n_full - 1) (Eq. 3-4), clamped to the axis; computed here
  by the same float ops as `_Axis`, widened by one sample on each side so
  that no rounding can leave a tap outside. int32 (lo, hi).
  """
  radius = RADIUS[kernel]
  top = tf.cast(n_full - 1, scale.dtype)

  def position(i):
    return tf.cast(tf.floor(tf.minimum(tf.cast(i, scale.dtype) / scale, top)),
                   tf.int32)
  lo = tf.maximum(position(first) - radius, 0)
  hi = tf.minimum(position(last) + radius + 1, n_full - 1)
  return lo, hi


@tf.autograph.experimental.do_not_convert
def scale_warp_window(images, scale_yx, out_start, out_size, in_start,
                      full_size, full_out_size, kernel="bicubic", a=-0.5):
  """A window of `scale_warp` (inference only, no gradient).

  Args:
    images: [B, h, w, C], the samples [in_start, in_start + (h, w)) of the
      full [B, H, W, C] input; must hold every tap the window reads
      (`window_input_range`).
    scale_yx: [B, 2] (M_y, M_x).
    out_start, out_size: int32 [2], the window of the full output.
    in_start: int32 [2]. full_size: int32 [2], (H, W) of the full input.
    full_out_size: int32 [2], the full output size (it picks the axis order
      `scale_warp` uses, so the window rounds as the whole warp does).

  Returns:
    [B, out_size[0], out_size[1], C]: the same weights and taps as
    `scale_warp(full, scale_yx, *full_out_size)` at those outputs.
  """
  x = images
  shape = tf.shape(x)
  batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
  out_h, out_w = out_size[0], out_size[1]
  ys = _Axis(scale_yx[:, 0], height, out_h, kernel, a,
             window=(out_start[0], in_start[0], full_size[0]))
  xs = _Axis(scale_yx[:, 1], width, out_w, kernel, a,
             window=(out_start[1], in_start[1], full_size[1]))

  def rows_first():
    u1 = tf.reshape(x, [batch * height, width * channels])
    u2 = _swap_rows_cols(ys.apply(u1), batch, out_h, width, channels)
    return _swap_rows_cols(xs.apply(u2), batch, out_w, out_h, channels)

  def cols_first():
    u1 = _swap_rows_cols(tf.reshape(x, [batch * height, width * channels]),
                         batch, height, width, channels)
    u2 = _swap_rows_cols(xs.apply(u1), batch, out_w, height, channels)
    return ys.apply(u2)

  v = tf.cond(full_out_size[0] <= full_size[0], rows_first, cols_first)
  return tf.reshape(v, [batch, out_h, out_w, channels])
