"""Test helpers shared by the codec tests."""
import numpy as np
import skimage.data
import tensorflow as tf


def photo():
  """The astronaut photo as float [0, 1]; training crops use rows < 300."""
  return skimage.data.astronaut().astype(np.float32) / 255.


def test_image(h, w):
  """A [1, h, w, 3] crop from rows 300+, never seen by `train_codec`."""
  return tf.constant(photo()[300:300 + h, 200:200 + w][None])


class Exporter(tf.Module):
  """What a SavedModel export of the coding functions looks like."""

  def __init__(self, codec):
    super().__init__()
    self.codec = codec
    self.compress = tf.function(
        codec.compress,
        input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    self.decompress = tf.function(
        codec.decompress,
        input_signature=[[tf.TensorSpec([], tf.string)] * codec.num_strings,
                         tf.TensorSpec([2], tf.int32)])


def train_codec(codec, photo, steps=20, lmbda=0.01, seed=0):
  """A few eager Adam steps on 64x64 crops of `photo` (float [0, 1], at least
  300x512), so that the priors fit real latents (eager: tracing a training
  step costs more than these steps)."""
  rng = np.random.default_rng(seed)
  optimizer = tf.keras.optimizers.Adam(1e-3)
  for _ in range(steps):
    i, j = rng.integers(0, 300 - 64), rng.integers(0, 512 - 64)
    x = tf.constant(photo[None, i:i + 64, j:j + 64])
    with tf.GradientTape() as tape:
      x_hat, bits = codec(x, training=True)
      bpp = tf.reduce_mean(bits) / (64. * 64.)
      loss = lmbda * 255.**2 * tf.reduce_mean(tf.square(x - x_hat)) + bpp
    variables = codec.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))


def random_patches(seed, max_downscale=1., size=32):
  """A campaign `make_patches`: one repeating batch of 4 uniform crops."""
  del max_downscale
  rng = np.random.default_rng(seed)
  return tf.data.Dataset.from_tensors(
      rng.uniform(size=(4, size, size, 3)).astype(np.float32)).repeat()
