"""FLOP counting (every conv counted) and speed changes that must not change results."""
import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import models

import keras_compat  # tests/keras_compat.py


def _balle2017_conv_flops(n, height, width):
  """2 x multiply-adds of Ballé17's six convolutions, by hand.

  Analysis: 9x9/4 3->n, 5x5/2 n->n, 5x5/2 n->n, counted at their outputs.
  Synthesis: the transposed mirror, counted at their inputs (a transposed
  convolution multiplies each input pixel by the whole kernel).
  """
  h1, w1 = height // 4, width // 4
  h2, w2 = height // 8, width // 8
  h3, w3 = height // 16, width // 16
  analysis = 81 * 3 * n * h1 * w1 + 25 * n * n * (h2 * w2 + h3 * w3)
  synthesis = 25 * n * n * (h3 * w3 + h2 * w2) + 81 * n * 3 * h1 * w1
  return 2 * (analysis + synthesis)


def _gdn_flops(n, height, width):
  """Each (I)GDN: a 1x1 n->n convolution of x^2 plus a few element-wise ops
  per value (square, bias, (r)sqrt, multiply): 2 n^2 + 4 n per pixel."""
  pixels = (height // 4) * (width // 4) * 2 + (height // 8) * (width // 8) * 2
  return (2 * n * n + 4 * n) * pixels


@pytest.mark.parametrize("n,height,width", [(8, 64, 64), (16, 64, 96)])
def test_count_flops_counts_both_codec_transforms(n, height, width):
  # The codecs need the `compression` extra (absent in the Keras 3 leg).
  pytest.importorskip("tensorflow_compression")
  from resizer_tf.codecs.balle2017 import Balle2017  # pylint: disable=g-import-not-at-top
  codec = Balle2017(num_filters=n)
  flops = models.count_flops(lambda x: codec(x, training=False)[0],
                             (height, width, 3))
  convs = _balle2017_conv_flops(n, height, width)
  gdn = _gdn_flops(n, height, width)
  # Every conv of both transforms and the GDNs; the rest (entropy model,
  # rounding, bias adds) is a small remainder. Counting one transform only
  # (the old bug) gives about half of `convs`.
  assert convs + 0.5 * gdn <= flops <= 1.1 * (convs + gdn)


def test_count_flops_of_a_keras_layer_unchanged():
  """Static shapes and run shapes agree on a plain conv: 2 k^2 c_in c_out
  per output pixel plus one add per output value for the bias."""
  layer = tf.keras.layers.Conv2D(4, 3, padding="same")
  flops = models.count_flops(layer, (10, 12, 2))
  assert flops == 2 * 9 * 2 * 4 * 10 * 12 + 4 * 10 * 12


def test_resize_param_net_uses_plain_batch_norm_on_one_replica():
  """Synchronised BatchNorm only when several replicas share the batch. On
  one replica the plain layer normalises exactly as the synchronised one
  does; under Keras 2 its moving variance takes the unbiased batch variance
  (as the fused TF1 layer of the authors' code did), the synchronised one
  (and Keras 3's plain one) the biased one: checked against numpy."""
  from resizer_tf.layers import resize_param_net  # pylint: disable=g-import-not-at-top
  x = tf.random.stateless_uniform([4, 24, 24, 3], seed=(1, 2))
  net = resize_param_net.ResizeParamNet()
  net.build(x.shape)
  bns = [l for l in net.block_layers
         if isinstance(l, tf.keras.layers.BatchNormalization)]
  assert len(bns) == 6
  assert not any(l.synchronized for l in bns)
  assert net.get_config()["synchronized_batch_norm"]
  features = tf.random.stateless_normal([4, 6, 6, 5], seed=(3, 4)) * 3 + 1
  plain = tf.keras.layers.BatchNormalization()
  synced = tf.keras.layers.BatchNormalization(synchronized=True)
  plain.build(features.shape)
  synced.build(features.shape)
  tf.debugging.assert_near(plain(features, training=True),
                           synced(features, training=True), atol=1e-5)
  values = features.numpy().reshape(-1, 5).astype(np.float64)
  n = values.shape[0]
  mean, var = values.mean(0), values.var(0)
  momentum = 0.99
  for layer in (plain, synced):
    np.testing.assert_allclose(layer.moving_mean.numpy(),
                               (1 - momentum) * mean, rtol=1e-4, atol=1e-6)
  # Keras 2's fused kernel keeps the unbiased batch variance; Keras 3's
  # plain layer keeps the biased one, as the synchronised layer does.
  plain_var = var if keras_compat.KERAS_3 else var * n / (n - 1)
  np.testing.assert_allclose(plain.moving_variance.numpy(),
                             momentum + (1 - momentum) * plain_var,
                             rtol=1e-5)
  np.testing.assert_allclose(synced.moving_variance.numpy(),
                             momentum + (1 - momentum) * var, rtol=1e-5)
