"""The contract every learned codec in `resizer_tf.codecs` fulfils.

`ResizeCompress` (resize_compress.py), the file format (bitstream.py) and the
training and evaluation binaries talk to codecs only through this class.

Conventions:
  * Images are float32 in [0, 1], shape [B, H, W, 3].
  * `call(x, training, valid_size)` returns `(x_hat, bits)`: the
    reconstruction (same shape as x) and the rate in bits per image, shape
    [B], float32. With training=True the latents are perturbed with uniform
    noise as tensorflow-compression does (`ContinuousBatchedEntropyModel(...,
    training=True)`); with training=False they are hard-quantised exactly as
    `compress` quantises them, so `decompress(compress(x))` equals
    `call(x, training=False)[0]` bit for bit.
  * `valid_size` (optional, int32 [B, 2]) is the occupied (height, width) of
    each image in pixels: latents outside ceil(valid / stride) are excluded
    from the rate and set to zero before synthesis, which is what coding a
    cropped image does (Chen et al., Sec. III-B and NOTES.md §4).
  * `compress(x)` takes ONE image [1, H, W, 3] with H and W multiples of
    `size_multiple` and returns a list of scalar tf.string tensors;
    `decompress(strings, latent_size)` inverts it. `latent_size` is the int32
    [2] size of the main latent y; the caller stores it (bitstream.py).
    Both run on CPU and are deterministic. Call `prepare_for_coding()` once
    after training (it builds the range-coding tables) before coding.
  * Variables are split for the optimizers: `entropy_model_variables` (the
    priors) and `transform_variables` (everything else).
"""
import tensorflow as tf


class LearnedCodec(tf.keras.Model):
  """Abstract base of the learned codecs."""

  #: Short name stored in configs and on the command line.
  codec_name = None
  #: Small int written into compressed files (never reuse a value).
  codec_id = None
  #: Downsampling factor of the main latent y (S of Sec. III-B).
  stride = 16
  #: H and W given to `compress` must be multiples of this (>= stride; e.g.
  #: 64 when a hyperprior downsamples y by 4 more).
  size_multiple = 16

  def call(self, x, training=None, valid_size=None):
    raise NotImplementedError

  def compress(self, x):
    raise NotImplementedError

  def decompress(self, strings, latent_size):
    raise NotImplementedError

  def prepare_for_coding(self):
    raise NotImplementedError

  @property
  def entropy_model_variables(self):
    raise NotImplementedError

  @property
  def transform_variables(self):
    ids = {id(v) for v in self.entropy_model_variables}
    return [v for v in self.trainable_variables if id(v) not in ids]


def valid_latent_mask(valid_size, stride, latent_shape):
  """1 inside the occupied latent region ceil(valid_size / stride), else 0.

  Args:
    valid_size: int [B, 2], occupied (height, width) in input pixels.
    stride: the latent's total downsampling factor.
    latent_shape: shape of the latent, [B, h, w, C] (static or dynamic).
  Returns:
    float32 [B, h, w, 1].
  """
  valid_size = tf.cast(valid_size, tf.int32)
  occupied = -(-valid_size // stride)  # ceil division
  rows = tf.range(latent_shape[1])[None, :] < occupied[:, :1]
  cols = tf.range(latent_shape[2])[None, :] < occupied[:, 1:]
  mask = tf.logical_and(rows[:, :, None], cols[:, None, :])
  return tf.cast(mask, tf.float32)[..., None]
