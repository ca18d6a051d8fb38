"""`models.count_flops` against hand counts (issue: every conv counted)."""
import pytest
import tensorflow as tf

from resizer_tf import models


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
