"""Independent numpy replays of Fig. 3 (Talebi & Milanfar) and Table I
(Chen et al.) with random weights AND non-trivial BatchNorm statistics, so
that layer order, BatchNorm placement, activations and residual additions
are all checked (a zero-weight or identity-BN test cannot see them).

float64 numpy against float32 TF: tolerances rtol 1e-4 / atol 1e-4 (the
outputs are O(1)); independent of the number of threads.
"""
import numpy as np
import pytest
import tensorflow as tf

import resizer_tf
from resizer_tf import models


def _conv(x, kernel, bias=None):
  """'same' zero-padded stride-1 convolution (correlation), float64."""
  kh, kw, _, cout = kernel.shape
  b, h, w, _ = x.shape
  ph, pw = kh // 2, kw // 2
  xp = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
  out = np.zeros((b, h, w, cout))
  for i in range(kh):
    for j in range(kw):
      out += np.einsum("bhwc,cd->bhwd", xp[:, i:i + h, j:j + w],
                       kernel[i, j].astype(np.float64))
  return out if bias is None else out + bias


def _bn(layer, x):
  g, b, mean, var = [w.numpy().astype(np.float64) for w in layer.weights]
  return (x - mean) / np.sqrt(var + layer.epsilon) * g + b


def _randomize(layer, seed):
  """Random kernels, biases, BN gamma/beta and moving mean/variance."""
  rng = np.random.default_rng(seed)
  for v in layer.weights:
    name = v.name.split("/")[-1].split(":")[0]
    shape = v.shape
    if name == "kernel":
      fan_in = np.prod(shape[:-1])
      value = rng.normal(0, 1 / np.sqrt(fan_in), shape)
    elif name == "moving_variance":
      value = rng.uniform(0.5, 2.0, shape)
    elif name == "gamma":
      value = rng.uniform(0.5, 1.5, shape)
    else:  # bias, beta, moving_mean
      value = rng.normal(0, 0.3, shape)
    v.assign(value.astype(np.float32))


def _lrelu(x, a=0.2):
  return np.where(x >= 0, x, a * x)


def _resize(x, size):
  # The base resizer itself (bilinear, tf.image.resize) is not under test.
  return tf.image.resize(x, size, "bilinear").numpy().astype(np.float64)


def replay_learned_resizer(layer, x):
  """Fig. 3: r residual blocks between two skip connections."""
  size = layer.target_size
  x = x.astype(np.float64)
  skip = _resize(x, size)
  f = _lrelu(_conv(x, layer.head.kernel.numpy(), layer.head.bias.numpy()))
  f = _bn(layer.bottleneck_bn,
          _lrelu(_conv(f, layer.bottleneck.kernel.numpy(),
                       layer.bottleneck.bias.numpy())))
  g = _resize(f, size)
  h = g
  for conv1, bn1, conv2, bn2 in layer.blocks:
    y = _lrelu(_bn(bn1, _conv(h, conv1.kernel.numpy())))
    h = h + _bn(bn2, _conv(y, conv2.kernel.numpy()))
  h = _bn(layer.tail_bn, _conv(h, layer.tail.kernel.numpy())) + g
  return _conv(h, layer.out.kernel.numpy(), layer.out.bias.numpy()) + skip


@pytest.mark.parametrize("filters,blocks", [(16, 1), (32, 2)])
def test_learned_resizer_matches_numpy_replay_of_fig3(filters, blocks):
  layer = resizer_tf.LearnedResizer((10, 14), filters=filters,
                                    num_res_blocks=blocks)
  x = np.random.default_rng(1).uniform(0, 1, (2, 20, 28, 3)).astype(
      np.float32)
  layer(x)
  _randomize(layer, seed=filters + blocks)
  expected = replay_learned_resizer(layer, x)
  assert np.abs(expected).max() > 1  # non-degenerate
  np.testing.assert_allclose(layer(x, training=False), expected, rtol=1e-4,
                             atol=1e-4)
  # A replay that drops one residual add or moves a BN would differ.
  assert np.abs(expected - _resize(x, (10, 14))).max() > 0.1


def test_vision_model_runs_the_resizer_on_scaled_pixels():
  """build_resizer_stage: resizer(x * s) / s with s = 1/255 by default."""
  model = models.build_vision_model(
      "small_cnn", num_classes=3, input_size=(20, 28), output_size=(10, 14),
      backbone_kwargs={"width": 4})
  layer = model.get_layer("resizer")
  _randomize(layer, seed=5)
  x = np.random.default_rng(2).uniform(0, 255, (2, 20, 28, 3)).astype(
      np.float32)
  resized = models.resized_images_model(model)(x, training=False).numpy()
  expected = replay_learned_resizer(layer, x / 255.) * 255.
  np.testing.assert_allclose(resized, expected, rtol=1e-4, atol=2e-2)
  # Another scale gives another result (the resizer is not scale-equivariant
  # with its biases), so the test above pins the scale.
  other = replay_learned_resizer(layer, x)
  assert np.abs(other - expected).max() > 1.0


def replay_resize_param_net(net, x):
  """Table I: per stage C1-BN1-ReLU, C2-BN2[-ReLU], + shortcut C3, 2x2 max
  pool, ReLU; then global average pooling, mean over channels, ReLU."""
  h = x.astype(np.float64)
  for c1, bn1, c2, bn2, c3 in net.blocks:
    y = np.maximum(_bn(bn1, _conv(h, c1.kernel.numpy())), 0)
    y = _bn(bn2, _conv(y, c2.kernel.numpy()))
    if net.relu_before_add:
      y = np.maximum(y, 0)
    s = y + _conv(h, c3.kernel.numpy())
    b, hh, ww, c = s.shape
    s = np.pad(s, ((0, 0), (0, hh % 2), (0, ww % 2), (0, 0)),
               constant_values=-np.inf)
    s = s.reshape(b, (hh + 1) // 2, 2, (ww + 1) // 2, 2, c).max(axis=(2, 4))
    h = np.maximum(s, 0)
  return np.maximum(h.mean(axis=(1, 2, 3)), 0)


@pytest.mark.parametrize("variant", ["table1", "authors"])
def test_resize_param_net_matches_numpy_replay_of_table_1(variant):
  from resizer_tf.layers import resize_param_net  # pylint: disable=g-import-not-at-top
  net = resizer_tf.ResizeParamNet(
      **resize_param_net.variant_kwargs(variant))
  x = np.random.default_rng(3).uniform(0, 1, (2, 16, 12, 3)).astype(
      np.float32)
  net(x)
  _randomize(net, seed=7)
  assert net.blocks[0][4].kernel.shape[0] == (3 if variant == "table1" else 1)
  expected = replay_resize_param_net(net, x)
  assert expected.min() > 0  # the final ReLU is not hiding everything
  np.testing.assert_allclose(net(x, training=False), expected, rtol=1e-4,
                             atol=1e-5)
