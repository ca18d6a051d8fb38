"""BicubicWarp (Chen et al., Sec. III-B, Eq. 3-5) against an independent
numpy implementation written here: loops over output pixels, clamped taps."""
import math

import numpy as np
import pytest
import tensorflow as tf

from resizer_tf.layers import _warp_ops
from resizer_tf.layers.warp import BicubicWarp

import keras_compat  # tests/keras_compat.py

RNG = np.random.default_rng(1234)


# ----------------------------------------------------------------------------
# Independent reference: Eq. (3) coordinates, Eq. (4) separable sum, float64.

def _keys(x, a=-0.5):
  x = abs(x)
  if x <= 1.:
    return (a + 2.) * x**3 - (a + 3.) * x**2 + 1.
  if x < 2.:
    return a * x**3 - 5. * a * x**2 + 8. * a * x - 4. * a
  return 0.


def _triangle(x):
  return max(0., 1. - abs(x))


def _taps(coordinate, size, kernel):
  """[(clamped index, weight)] for one output sample (Eq. 3 + clamping)."""
  k, radius = (_keys, 2) if kernel == "bicubic" else (_triangle, 1)
  s = min(coordinate, size - 1.)       # coordinates are >= 0 here
  base = math.floor(s)
  return [(min(max(m, 0), size - 1), k(s - m))
          for m in range(base - radius + 1, base + radius + 1)]


def reference_warp(u, m_y, m_x, out_h, out_w, kernel="bicubic"):
  """V[i, j] = sum_n sum_m U[n, m] k(x_s - m) k(y_s - n), x_s = j / M_x."""
  h, w, c = u.shape
  v = np.zeros((out_h, out_w, c))
  for i in range(out_h):
    rows = _taps(i / m_y, h, kernel)
    for j in range(out_w):
      cols = _taps(j / m_x, w, kernel)
      for n, wy in rows:
        for m, wx in cols:
          v[i, j] += u[n, m] * wy * wx
  return v


def reference_image_gradient(g, m_y, m_x, in_h, in_w, kernel="bicubic"):
  """Transpose of `reference_warp`: scatters dL/dV onto the taps."""
  out_h, out_w, c = g.shape
  du = np.zeros((in_h, in_w, c))
  for i in range(out_h):
    rows = _taps(i / m_y, in_h, kernel)
    for j in range(out_w):
      cols = _taps(j / m_x, in_w, kernel)
      for n, wy in rows:
        for m, wx in cols:
          du[n, m] += g[i, j] * wy * wx
  return du


def reference_loss(u, m, g, kernel):
  out_h, out_w = g.shape[:2]
  return float(np.sum(reference_warp(u, m, m, out_h, out_w, kernel) * g))


# ----------------------------------------------------------------------------
# Forward values.

@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
@pytest.mark.parametrize("m", [0.37, 0.5, 1.0, 1.6])
def test_matches_numpy_reference_full_canvas(kernel, m):
  u = RNG.uniform(size=(7, 11, 3))
  got = BicubicWarp(kernel=kernel)(u[None].astype(np.float32), m)[0]
  want = reference_warp(u, m, m, 7, 11, kernel)
  np.testing.assert_allclose(got, want, atol=2e-6)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
@pytest.mark.parametrize("m, size", [(0.37, (3, 5)), (0.5, (4, 6)),
                                     (1.6, (12, 17)), (2.5, (9, 4))])
def test_matches_numpy_reference_explicit_size(kernel, m, size):
  u = RNG.uniform(size=(7, 11, 2))
  got = BicubicWarp(kernel=kernel)(u.astype(np.float32), m, output_size=size)
  want = reference_warp(u, m, m, *size, kernel)
  np.testing.assert_allclose(got, want, atol=2e-6)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
def test_identity_at_m_equal_one_is_exact(kernel):
  x = RNG.normal(size=(2, 7, 11, 3)).astype(np.float32)
  y = BicubicWarp(kernel=kernel)(x, tf.constant([1., 1.]))
  np.testing.assert_array_equal(y, x)


def test_known_values_of_keys_kernel():
  # Catmull-Rom half-way sample between 4 taps: (-1, 9, 9, -1) / 16.
  u = np.array([0., 0., 1., 0., 0.], np.float32).reshape(1, 1, 5, 1)
  # M = 2: sample j sits at s = j / 2; the 1 is at index 2.
  y = BicubicWarp()(u, 2., output_size=(1, 6))
  np.testing.assert_allclose(y.numpy().ravel(),
                             [0., -1. / 16, 0., 9. / 16, 1., 9. / 16],
                             atol=1e-7)


@pytest.mark.parametrize("m", [[0.37, 1.0, 1.6], [0.37, 0.6, 0.45]])
def test_per_image_scale_equals_warping_each_image_alone(m):
  warp = BicubicWarp()
  x = RNG.uniform(size=(3, 9, 10, 3)).astype(np.float32)
  m = np.array(m, np.float32)
  for scale in (m, m[:, None]):
    batch = warp(x, scale)
    for b in range(3):
      np.testing.assert_allclose(batch[b], warp(x[b:b + 1], float(m[b]))[0],
                                 atol=1e-6)
      np.testing.assert_allclose(
          batch[b], reference_warp(x[b].astype(np.float64), m[b], m[b], 9,
                                   10), atol=2e-6)


def test_separate_vertical_and_horizontal_scales():
  """[B, 2] = (M_y, M_x), ablation (f) of Table III."""
  x = RNG.uniform(size=(2, 8, 9, 1)).astype(np.float32)
  scale = np.array([[0.5, 1.6], [1.3, 0.37]], np.float32)
  y = BicubicWarp()(x, scale, output_size=(6, 7))
  for b in range(2):
    np.testing.assert_allclose(
        y[b], reference_warp(x[b].astype(np.float64), *scale[b], 6, 7),
        atol=2e-6)


def test_single_image_and_explicit_output_size_tensor():
  x = RNG.uniform(size=(7, 11, 3)).astype(np.float32)
  warp = BicubicWarp()
  want = reference_warp(x.astype(np.float64), 0.5, 0.5, 4, 6)
  for size in ((4, 6), [4, 6], tf.constant([4, 6]),
               tf.constant([4, 6], tf.int64), np.array([4, 6])):
    y = warp(x, 0.5, output_size=size)
    assert y.shape == (4, 6, 3)
    np.testing.assert_allclose(y, want, atol=2e-6)


# ----------------------------------------------------------------------------
# Gradients.

@pytest.mark.parametrize("kernel, m, size", [
    ("bicubic", 0.37, None), ("bicubic", 1.6, None), ("bilinear", 0.37, None),
    ("bilinear", 1.3, None), ("bicubic", 0.37, (4, 5)),
    ("bicubic", 1.0, (4, 5)), ("bicubic", 1.7, (9, 12)),
    ("bilinear", 0.37, (4, 5)), ("bilinear", 1.3, (9, 5))])
def test_gradients_match_reference_and_finite_differences(kernel, m, size):
  # Own generator: the module's RNG state depends on which tests ran before
  # in the same xdist worker.
  rng = np.random.default_rng(4321)
  u = rng.uniform(size=(6, 7, 2))
  out = size or (6, 7)
  g = rng.normal(size=out + (2,))
  warp = BicubicWarp(kernel=kernel, dtype="float64")
  x = tf.constant(u[None])
  scale = tf.constant([m], tf.float64)
  with tf.GradientTape() as tape:
    tape.watch([x, scale])
    loss = tf.reduce_sum(warp(x, scale, output_size=size) * g)
  dx, dm = tape.gradient(loss, [x, scale])
  np.testing.assert_allclose(
      dx[0], reference_image_gradient(g, m, m, 6, 7, kernel), atol=1e-10)
  h = 1e-6
  fd = (reference_loss(u, m + h, g, kernel) -
        reference_loss(u, m - h, g, kernel)) / (2 * h)
  # At M = 1 every sample sits on a knot of the Keys kernel, which is C1
  # but not C2 there: the central difference is then only O(h) accurate
  # (seen: 2.9e-6 absolute on a gradient of 0.036), elsewhere O(h^2).
  atol = 1e-5 if m == 1.0 else 0.
  np.testing.assert_allclose(dm[0], fd, rtol=1e-5, atol=atol)


def test_scale_gradient_where_the_last_sample_meets_the_clamp():
  """M = 1 on the full canvas puts the last row/column exactly at H - 1,
  where s = min(i / M, H - 1) has a kink; the gradient is the one-sided
  slope for growing M (the side where s is not clamped), as for
  tf.clip_by_value."""
  u = RNG.uniform(size=(6, 7, 2))
  g = RNG.normal(size=(6, 7, 2))
  scale = tf.constant([1.], tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(scale)
    loss = tf.reduce_sum(BicubicWarp(dtype="float64")(u[None], scale) * g)
  h = 1e-7
  one_sided = (reference_loss(u, 1. + h, g, "bicubic") -
               reference_loss(u, 1., g, "bicubic")) / h
  np.testing.assert_allclose(tape.gradient(loss, scale)[0], one_sided,
                             rtol=1e-5)


@pytest.mark.parametrize("m", [[0.63, 0.81], [0.63, 1.7]])
def test_float32_batch_gradients_match_float64_reference(m):
  """Per-image M in one batch, full canvas (clamped rows differ per image)."""
  u = RNG.uniform(size=(9, 8, 3))
  g = RNG.normal(size=(9, 8, 3))
  m = tf.constant(m)
  x = tf.constant(np.stack([u, u[::-1]]), tf.float32)
  with tf.GradientTape() as tape:
    tape.watch([x, m])
    loss = tf.reduce_sum(BicubicWarp()(x, m) * g, axis=[1, 2, 3])
  dx, dm = tape.gradient(loss, [x, m])
  for b in range(2):
    ub = x[b].numpy().astype(np.float64)
    mb, h = float(m[b]), 1e-6
    fd = (reference_loss(ub, mb + h, g, "bicubic") -
          reference_loss(ub, mb - h, g, "bicubic")) / (2 * h)
    np.testing.assert_allclose(dm[b], fd, rtol=2e-4)
    np.testing.assert_allclose(
        dx[b], reference_image_gradient(g, mb, mb, 9, 8), atol=1e-5)


def test_bilinear_scale_gradient_at_a_kink_is_the_floor_sided_slope():
  """At integer sample positions (M = 0.5) the slope of the segment that
  holds the sample, i.e. s moving up: a one-sided difference in -M."""
  u = RNG.uniform(size=(8, 8, 1))
  g = RNG.normal(size=(4, 4, 1))
  scale = tf.constant([0.5], tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(scale)
    loss = tf.reduce_sum(BicubicWarp(kernel="bilinear", dtype="float64")(
        u[None], scale, output_size=(4, 4)) * g)
  h = 1e-7
  one_sided = (reference_loss(u, 0.5, g, "bilinear") -
               reference_loss(u, 0.5 - h, g, "bilinear")) / h
  np.testing.assert_allclose(tape.gradient(loss, scale)[0], one_sided,
                             rtol=1e-5)


def test_compute_gradient_numeric_jacobian():
  """tf.test.compute_gradient on images and (M_y, M_x) together, float64."""
  warp = BicubicWarp(dtype="float64")
  x = tf.constant(RNG.uniform(size=(1, 4, 5, 1)))
  scale = tf.constant([[0.61, 1.37]], tf.float64)
  fn = tf.function(lambda x, s: warp(x, s, output_size=(3, 6)))
  theoretical, numerical = tf.test.compute_gradient(fn, [x, scale], delta=1e-6)
  for t, n in zip(theoretical, numerical):
    np.testing.assert_allclose(t, n, atol=1e-6)


def test_dense_fallback_matches_reference():
  """The per-image dense-matrix path used under GPU op determinism."""
  u = RNG.uniform(size=(2, 6, 7, 2))
  g = RNG.normal(size=(2, 5, 9, 2))
  x = tf.constant(u)
  scale = tf.constant([[0.8, 1.3], [0.37, 1.0]], tf.float64)
  with tf.GradientTape() as tape:
    tape.watch([x, scale])
    y = _warp_ops.scale_warp(x, scale, 5, 9, dense=True)
    loss = tf.reduce_sum(y * g)
  dx, dm = tape.gradient(loss, [x, scale])
  for b in range(2):
    np.testing.assert_allclose(
        y[b], reference_warp(u[b], *scale[b].numpy(), 5, 9), atol=1e-12)
    np.testing.assert_allclose(
        dx[b], reference_image_gradient(g[b], *scale[b].numpy(), 6, 7),
        atol=1e-12)
  with tf.GradientTape() as tape:
    tape.watch(scale)
    sparse = tf.reduce_sum(_warp_ops.scale_warp(x, scale, 5, 9) * g)
  np.testing.assert_allclose(dm, tape.gradient(sparse, scale), rtol=1e-12)


# ----------------------------------------------------------------------------
# Graph mode, dtypes, Keras citizenship.

@pytest.mark.parametrize("size", [(5, 4), (13, 17), None])
def test_tf_function_with_unknown_shapes(size):
  """Both axis orders (shrinking and growing rows) behind tf.cond, and the
  full canvas."""
  warp = BicubicWarp()

  @tf.function(input_signature=[
      tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None]),
      tf.TensorSpec([2], tf.int32)])
  def fn(x, m, out_size):
    with tf.GradientTape() as tape:
      tape.watch([x, m])
      y = warp(x, m, output_size=None if size is None else out_size)
      loss = tf.reduce_sum(y * y)
    return y, tape.gradient(loss, [x, m])

  x = RNG.uniform(size=(2, 8, 9, 3)).astype(np.float32)
  m = np.array([0.6, 1.4] if size else [0.6, 0.45], np.float32)
  y, (dx, dm) = fn(x, m, tf.constant(size or (0, 0)))
  xt, mt = tf.constant(x), tf.constant(m)
  with tf.GradientTape() as tape:
    tape.watch([xt, mt])
    y_eager = warp(xt, mt, output_size=size)
    loss = tf.reduce_sum(y_eager * y_eager)
  dx_eager, dm_eager = tape.gradient(loss, [xt, mt])
  np.testing.assert_allclose(y, y_eager, atol=1e-6)
  np.testing.assert_allclose(dx, dx_eager, atol=1e-5)
  # dm sums a few hundred float32 products; graph and eager may sum them in a
  # different order (thread count), so allow ~100 ulp of relative error.
  np.testing.assert_allclose(dm, dm_eager, rtol=1e-4, atol=1e-5)
  for b in range(2):
    np.testing.assert_allclose(
        y[b], reference_warp(x[b].astype(np.float64), m[b], m[b],
                             *(size or (8, 9))), atol=2e-6)


def test_mixed_float16(mixed_precision):
  del mixed_precision
  warp = BicubicWarp()
  x = RNG.uniform(size=(2, 8, 9, 3)).astype(np.float32)
  m = tf.constant([0.5, 1.3])
  with tf.GradientTape() as tape:
    tape.watch(m)
    y = warp(x, m)
    loss = tf.reduce_sum(tf.cast(y, tf.float32))
  assert y.dtype == tf.float16
  dm = tape.gradient(loss, m)
  assert dm.dtype == tf.float32 and np.all(np.isfinite(dm))
  for b in range(2):
    want = reference_warp(x[b].astype(np.float16).astype(np.float64),
                          float(m[b]), float(m[b]), 8, 9)
    np.testing.assert_allclose(tf.cast(y[b], tf.float32), want, atol=4e-3)


def _model(both):
  images = tf.keras.Input((None, None, 3))
  scale = tf.keras.Input(())
  outputs = [BicubicWarp(kernel="bilinear", name="crop")(
      images, scale, output_size=(5, 6))]
  if both:
    outputs.append(BicubicWarp(name="full")(images, scale))
  return tf.keras.Model([images, scale], outputs)


@pytest.mark.parametrize("fmt", ["keras", pytest.param(
    "savedmodel", marks=keras_compat.requires_keras_2_savedmodel)])
def test_save_and_load_round_trip(tmp_path, fmt):
  model = _model(both=fmt == "keras")
  x = RNG.uniform(size=(2, 9, 10, 3)).astype(np.float32)
  m = np.array([0.45, 1.3], np.float32)
  want = model([x, m])
  want = want if isinstance(want, list) else [want]
  np.testing.assert_allclose(
      want[0][0], reference_warp(x[0].astype(np.float64), 0.45, 0.45, 5, 6,
                                 "bilinear"), atol=2e-6)
  path = keras_compat.save_model(model, tmp_path, fmt)
  loaded = tf.keras.models.load_model(path)
  assert isinstance(loaded.get_layer("crop"), BicubicWarp)
  assert loaded.get_layer("crop").kernel == "bilinear"
  got = loaded([x, m])
  got = got if isinstance(got, list) else [got]
  assert len(got) == len(want)
  for a, b in zip(got, want):
    np.testing.assert_array_equal(a, b)


def test_model_export_and_python_float_scale(tmp_path):
  """`warp(x, 0.5)` (a Python float) inside a model, and `model.export()`
  (Keras 3 refuses non-tensor positional arguments unless passed by name)."""
  images = tf.keras.Input((None, None, 3))
  model = tf.keras.Model(images, [BicubicWarp()(images, 0.5),
                                  BicubicWarp()(images, 0.5, (4, 5))])
  x = RNG.uniform(size=(2, 9, 10, 3)).astype(np.float32)
  want = model(x)
  np.testing.assert_allclose(
      want[1][0], reference_warp(x[0].astype(np.float64), 0.5, 0.5, 4, 5),
      atol=2e-6)
  loaded = keras_compat.export_and_load(model, tmp_path)
  got = loaded.serve(x)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_config_round_trip_and_registration():
  warp = BicubicWarp(kernel="bilinear", a=-0.75, name="w")
  clone = BicubicWarp.from_config(warp.get_config())
  assert clone.get_config() == warp.get_config()
  assert tf.keras.utils.get_registered_object(
      "resizer_tf>BicubicWarp") is BicubicWarp


class _Pair(tf.keras.Model):
  """Subclassed model: warp by M, then back by 1 / M (Eq. 8)."""

  def __init__(self):
    super().__init__()
    self.warp = BicubicWarp()

  def call(self, inputs):
    images, scale = inputs
    return self.warp(self.warp(images, scale), 1. / scale)


def test_subclassed_model_resize_pair():
  x = RNG.uniform(size=(1, 6, 7, 3)).astype(np.float32)
  y = _Pair()((x, tf.constant([0.7])))
  down = reference_warp(x[0].astype(np.float64), 0.7, 0.7, 6, 7)
  np.testing.assert_allclose(
      y[0], reference_warp(down, 1 / 0.7, 1 / 0.7, 6, 7), atol=3e-6)


# ----------------------------------------------------------------------------
# Bad input.

X = np.zeros((2, 6, 7, 3), np.float32)


@pytest.mark.parametrize("images", [np.zeros((6, 7), np.float32),
                                    np.zeros((1, 2, 6, 7, 3), np.float32),
                                    np.zeros((2, 6, 7, 3), np.int32),
                                    np.zeros((2, 0, 7, 3), np.float32)])
def test_rejects_bad_images(images):
  with pytest.raises(ValueError, match="images"):
    BicubicWarp()(images, 0.5)


@pytest.mark.parametrize("scale", [0., -0.5, float("nan"), float("inf"), True,
                                   "0.5"])
def test_rejects_bad_python_scale(scale):
  with pytest.raises(ValueError, match="scale"):
    BicubicWarp()(X, scale)


@pytest.mark.parametrize("scale", [[0.5, 0.], [0.5, -1.], [0.5, np.nan],
                                   [np.inf, 0.5]])
def test_rejects_bad_scale_values(scale):
  with pytest.raises(tf.errors.InvalidArgumentError, match="scale"):
    BicubicWarp()(X, tf.constant(scale))


@pytest.mark.parametrize("scale", [np.ones((3,), np.float32),
                                   np.ones((2, 3), np.float32),
                                   np.ones((2, 1, 1), np.float32)])
def test_rejects_bad_scale_shapes(scale):
  with pytest.raises(ValueError, match="scale"):
    BicubicWarp()(X, scale)


def test_rejects_bad_input_inside_tf_function():
  warp = BicubicWarp()
  fn = tf.function(lambda x, m: warp(x, m), input_signature=[
      tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None])])
  with pytest.raises(tf.errors.InvalidArgumentError, match="scale"):
    fn(X, tf.constant([0.5, float("nan")]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="scale"):
    fn(X, tf.constant([0.5, 0.5, 0.5]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="non-empty"):
    fn(np.zeros((2, 0, 7, 3), np.float32), tf.constant([0.5, 0.5]))


@pytest.mark.parametrize("size", [(0, 5), (5,), (2.5, 3), (3, -1), 5, "ab",
                                  (True, 3), (3, 4, 5), tf.constant([3., 4.]),
                                  tf.constant([3, 4, 5]), tf.constant([3, 0])])
def test_rejects_bad_output_size(size):
  with pytest.raises(ValueError, match="output_size"):
    BicubicWarp()(X, 0.5, output_size=size)


def test_rejects_non_positive_output_size_tensor_at_run_time():
  fn = tf.function(lambda s: BicubicWarp()(X, 0.5, output_size=s),
                   input_signature=[tf.TensorSpec([2], tf.int32)])
  for size in ([3, 0], [-2, 4]):
    with pytest.raises(tf.errors.InvalidArgumentError, match="output_size"):
      fn(tf.constant(size))


@pytest.mark.parametrize("kwargs", [dict(kernel="lanczos"),
                                    dict(kernel="Bicubic"),
                                    dict(a=float("nan")), dict(a="x")])
def test_rejects_bad_constructor_arguments(kwargs):
  with pytest.raises(ValueError):
    BicubicWarp(**kwargs)
