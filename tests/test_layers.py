"""LearnedResizer, ResizeParamNet, PreFilter, PostFilter: structure and Keras citizenship."""
import numpy as np
import pytest
import tensorflow as tf

import resizer_tf
from resizer_tf.layers import learned_resizer

import keras_compat  # tests/keras_compat.py

# Table 2 of Talebi & Milanfar (2021), parameters in thousands.
TABLE_2 = {(16, 1): 11.87, (16, 2): 16.48, (16, 3): 21.08, (16, 4): 25.69,
           (32, 1): 38.08, (32, 2): 56.51, (32, 3): 74.94, (32, 4): 93.37}


@pytest.mark.parametrize("n,r", sorted(TABLE_2))
def test_paper_parameter_count_matches_table_2(n, r):
  layer = resizer_tf.LearnedResizer((8, 8), filters=n, num_res_blocks=r)
  layer(tf.zeros([1, 16, 16, 3]))
  count = layer.paper_parameter_count()
  # Table 2 truncates to two decimals in thousands.
  assert np.floor(count / 10) / 100 == pytest.approx(TABLE_2[(n, r)])
  # The conv kernels actually built are exactly what Table 2 counts.
  kernels = sum(int(np.prod(v.shape)) for v in layer.trainable_variables
                if v.name.split(":")[0].endswith("kernel"))
  assert kernels == count


def test_learned_resizer_structure_follows_fig3():
  layer = resizer_tf.LearnedResizer((10, 14), filters=4, num_res_blocks=2)
  x = tf.random.uniform([2, 20, 28, 3])
  y = layer(x)
  assert y.shape == (2, 10, 14, 3)
  # With every conv zeroed, Fig. 3 reduces to the skip branch: the plain resize.
  for v in layer.trainable_variables:
    v.assign(tf.zeros_like(v))
  np.testing.assert_allclose(
      layer(x), tf.image.resize(x, (10, 14), "bilinear"), atol=1e-6)
  assert len(layer.blocks) == 2


def test_learned_resizer_upscales_and_accepts_other_methods():
  layer = resizer_tf.LearnedResizer((33, 17), interpolation="bicubic")
  y = layer(tf.random.uniform([1, 11, 9, 3]))
  assert y.shape == (1, 33, 17, 3)


def _numpy_conv_same(x, k, b):
  """Zero-padded 'same' 2-D convolution (cross-correlation), NHWC/HWIO."""
  kh, kw = k.shape[:2]
  pad = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
  out = np.zeros(x.shape[:3] + (k.shape[-1],))
  for i in range(kh):
    for j in range(kw):
      out += np.einsum("bhwc,cd->bhwd",
                       pad[:, i:i + x.shape[1], j:j + x.shape[2]], k[i, j])
  return out + b


@pytest.mark.parametrize("cls", [resizer_tf.PreFilter, resizer_tf.PostFilter])
def test_filters_match_table_1_in_numpy(cls):
  layer = cls()
  x = np.random.RandomState(0).uniform(size=(2, 7, 5, 3)).astype(np.float32)
  y = layer(x).numpy()
  k1, b1, k2, b2, k3, b3 = [v.numpy().astype(np.float64) for v in layer.weights]
  assert k1.shape == (3, 3, 3, 32) and k2.shape == (3, 3, 32, 32)
  assert k3.shape == (3, 3, 32, 3)
  h = np.maximum(_numpy_conv_same(x, k1, b1), 0)
  h = np.maximum(_numpy_conv_same(h, k2, b2), 0)
  ref = x + np.tanh(_numpy_conv_same(h, k3, b3))
  np.testing.assert_allclose(y, ref, atol=1e-5)


def test_pre_and_post_filters_do_not_share_weights():
  pre, post = resizer_tf.PreFilter(), resizer_tf.PostFilter()
  x = tf.zeros([1, 4, 4, 3])
  pre(x), post(x)
  assert not {id(v) for v in pre.weights} & {id(v) for v in post.weights}


def test_resize_param_net_matches_table_1():
  net = resizer_tf.ResizeParamNet()
  x = tf.random.uniform([3, 32, 24, 3])
  m = net(x, training=False)
  assert m.shape == (3,) and m.dtype == tf.float32
  assert np.all(m.numpy() >= 0)  # ReLU output.
  convs = [v for v in net.weights if "kernel" in v.name]
  assert [tuple(v.shape) for v in convs] == [
      (3, 3, 3, 16), (3, 3, 16, 16), (3, 3, 3, 16),
      (3, 3, 16, 32), (3, 3, 32, 32), (3, 3, 16, 32),
      (3, 3, 32, 64), (3, 3, 64, 64), (3, 3, 32, 64)]
  assert not [v for v in net.weights if "bias" in v.name]


def test_resize_param_net_output_is_relu_of_mean_of_gap():
  """Independent replay of Table I with the layer's own weights in numpy."""
  net = resizer_tf.ResizeParamNet(shortcut_kernel_size=1, relu_before_add=False)
  x = np.random.RandomState(1).uniform(size=(2, 8, 8, 3)).astype(np.float32)
  m = net(x, training=False).numpy()
  h = x.astype(np.float64)
  for c1, bn1, c2, bn2, c3 in net.blocks:
    def bn(layer, v):
      g, b, mean, var = [w.numpy() for w in layer.weights]
      return (v - mean) / np.sqrt(var + layer.epsilon) * g + b
    zero = lambda k: np.zeros(k.shape[-1])
    k1, k2, k3 = c1.kernel.numpy(), c2.kernel.numpy(), c3.kernel.numpy()
    y = np.maximum(bn(bn1, _numpy_conv_same(h, k1, zero(k1))), 0)
    y = bn(bn2, _numpy_conv_same(y, k2, zero(k2)))
    s = y + _numpy_conv_same(h, k3, zero(k3))
    b, hh, ww, c = s.shape
    s = s.reshape(b, hh // 2, 2, ww // 2, 2, c).max(axis=(2, 4))
    h = np.maximum(s, 0)
  np.testing.assert_allclose(m, np.maximum(h.mean(axis=(1, 2, 3)), 0),
                             rtol=1e-4, atol=1e-6)


LAYERS = [
    lambda: resizer_tf.LearnedResizer((6, 10), filters=4),
    lambda: resizer_tf.PreFilter(),
    lambda: resizer_tf.PostFilter(),
]


FORMATS = ["keras", pytest.param(
    "savedmodel", marks=keras_compat.requires_keras_2_savedmodel)]


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, make, fmt):
  inputs = tf.keras.Input([None, None, 3])
  model = tf.keras.Model(inputs, make()(inputs))
  x = tf.random.uniform([2, 12, 16, 3])
  expected = model(x)
  path = keras_compat.save_model(model, tmp_path, fmt)
  loaded = tf.keras.models.load_model(path)
  np.testing.assert_array_equal(loaded(x), expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_resize_param_net_round_trip(tmp_path, fmt):
  inputs = tf.keras.Input([None, None, 3])
  model = tf.keras.Model(inputs, resizer_tf.ResizeParamNet()(inputs))
  x = tf.random.uniform([2, 16, 24, 3])
  expected = model(x)
  path = keras_compat.save_model(model, tmp_path, fmt)
  np.testing.assert_array_equal(
      tf.keras.models.load_model(path)(x), expected)


@pytest.mark.parametrize("make", LAYERS + [lambda: resizer_tf.ResizeParamNet()])
def test_model_export_serves_the_same_outputs(tmp_path, make):
  inputs = tf.keras.Input([None, None, 3])
  model = tf.keras.Model(inputs, make()(inputs))
  x = tf.random.uniform([2, 16, 24, 3])
  loaded = keras_compat.export_and_load(model, tmp_path)
  np.testing.assert_allclose(loaded.serve(x), model(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("make", LAYERS + [lambda: resizer_tf.ResizeParamNet()])
def test_sequential_subclassed_and_tf_function(make):
  seq = tf.keras.Sequential([tf.keras.Input([None, None, 3]), make()])
  x = tf.random.uniform([1, 16, 8, 3])
  assert seq(x).shape[0] == 1

  class Wrapper(tf.keras.Model):

    def __init__(self):
      super().__init__()
      self.inner = make()

    def call(self, x):
      return self.inner(x)

  wrapper = Wrapper()
  fn = tf.function(wrapper, input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32)])
  for shape in ([1, 16, 8, 3], [3, 24, 16, 3]):
    x = tf.random.uniform(shape)
    np.testing.assert_allclose(fn(x), wrapper(x), atol=1e-5)


@pytest.mark.parametrize("make", LAYERS + [lambda: resizer_tf.ResizeParamNet()])
def test_mixed_precision(mixed_precision, make):
  layer = make()
  x = tf.random.uniform([2, 16, 16, 3])
  y = layer(x)
  expected = tf.float32 if isinstance(layer, resizer_tf.ResizeParamNet) \
      else tf.float16
  assert y.dtype == expected
  assert np.all(np.isfinite(y.numpy()))


def test_config_round_trip():
  layer = resizer_tf.LearnedResizer((5, 7), filters=8, num_res_blocks=3,
                                    interpolation="area")
  clone = resizer_tf.LearnedResizer.from_config(layer.get_config())
  assert clone.get_config() == layer.get_config()
  net = resizer_tf.ResizeParamNet(stages=(8, 8), shortcut_kernel_size=1)
  assert resizer_tf.ResizeParamNet.from_config(
      net.get_config()).get_config() == net.get_config()


@pytest.mark.parametrize("kwargs,match", [
    (dict(target_size=(0, 4)), "target_size"),
    (dict(target_size=(4,)), "target_size"),
    (dict(target_size="big"), "target_size"),
    (dict(target_size=(4, 4.5)), "target_size"),
    (dict(target_size=(4, 4), filters=0), "filters"),
    (dict(target_size=(4, 4), interpolation="cubic"), "interpolation"),
])
def test_learned_resizer_rejects_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    resizer_tf.LearnedResizer(**kwargs)


@pytest.mark.parametrize("make", LAYERS + [lambda: resizer_tf.ResizeParamNet()])
def test_bad_inputs(make):
  layer = make()
  with pytest.raises(ValueError, match="rank"):
    layer(tf.zeros([4, 4, 3]))
  layer = make()
  with pytest.raises(ValueError, match="floating-point"):
    layer(tf.zeros([1, 8, 8, 3], tf.uint8))
  layer = make()
  layer(tf.zeros([1, 8, 8, 3]))
  if not isinstance(layer, resizer_tf.ResizeParamNet):
    with pytest.raises(ValueError, match="channels"):
      layer(tf.zeros([1, 8, 8, 4]))


def test_paper_parameter_count_formula():
  # docs/design_notes.md §4: P(n, r) = 294 n + (10 + 18 r) n^2.
  for n in (8, 16, 32, 64):
    for r in range(5):
      assert learned_resizer.paper_parameter_count(n, r) == \
          294 * n + (10 + 18 * r) * n * n
