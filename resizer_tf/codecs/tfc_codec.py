"""Building blocks shared by the codecs made of tensorflow-compression layers.

`signal_conv` and `gdn` give tfc's SignalConv2D/GDN with the settings of
tfc's bls2017/bmshj2018 models; `TfcCodec` is the Keras plumbing (variable
storage in `.keras` files) that Ballé17, Ballé18 and Cheng20 share.
"""
import tensorflow as tf
import tensorflow_compression as tfc

from resizer_tf.codecs import _entropy
from resizer_tf.codecs import base


def signal_conv(filters, kernel, stride, down, activation=None, use_bias=True,
                name=None, **kwargs):
  """tfc `SignalConv2D` with the settings of tfc's bls2017/bmshj2018.

  Downsampling layers are correlations (`corr=True`, `strides_down`),
  upsampling layers transposed convolutions (`corr=False`, `strides_up`),
  all with "same_zeros" padding: the padding does not depend on the input
  size, so a layer on a zero-padded crop equals the layer on the full
  zero-masked tensor inside the crop (what `valid_size` relies on).
  """
  stride_kwargs = ({"corr": True, "strides_down": stride} if down else
                   {"corr": False, "strides_up": stride})
  return tfc.SignalConv2D(
      filters, (kernel, kernel), padding="same_zeros", use_bias=use_bias,
      activation=activation, name=name, **stride_kwargs, **kwargs)


def gdn(name, inverse=False):
  return tfc.GDN(inverse=inverse, name=name)


def zero_pad_to(t, size):
  """Zero-pads the bottom/right of [B, h, w, C] to size (int [2], >= h, w)."""
  size = tf.cast(size, tf.int32)
  shape = tf.shape(t)
  check = tf.debugging.assert_greater_equal(
      size, shape[1:3], message="`latent_canvas` is smaller than the latent.")
  with tf.control_dependencies([check]):
    pad = size - shape[1:3]
  return tf.pad(t, [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]])


class TfcCodec(base.LearnedCodec):
  """Keras plumbing for codecs made of tfc layers (all Ballé codecs).

  Subclasses create every variable in `__init__` and list their transform
  sub-models in `_transform_layers()`.
  """

  def _set_filters(self, num_filters, num_latent):
    if int(num_filters) < 1 or int(num_latent) < 1:
      raise ValueError(
          "`num_filters` and `num_latent` must be >= 1; received "
          f"{num_filters}, {num_latent}.")
    self.num_filters = int(num_filters)
    self.num_latent = int(num_latent)

  def _transform_layers(self):
    raise NotImplementedError

  def _transform_layer_variables(self):
    return [v for layer in self._transform_layers() for v in layer.weights]

  # tfc keeps kernels and GDN parameters in tf.Modules, which `.keras` files
  # skip; store them here (the entropy layers store priors and tables).
  def save_own_variables(self, store):
    _entropy.save_variables(store, self._transform_layer_variables())

  def load_own_variables(self, store):
    _entropy.load_variables(store, self._transform_layer_variables(),
                            owner=self.name)

  def build_from_config(self, config):
    # Every variable exists after __init__: loading need not trace `call`.
    del config
    self.built = True

  def _canvas_hyper_latent(self, y, latent_canvas=None):
    """z = h_a(y), for a coded y [B, h, w, C] as on the training canvas.

    Training zeroes y outside its occupied region of a canvas of
    `latent_canvas` latents and runs h_a on the whole canvas; coding does
    the same (y zero-padded to the canvas), then keeps the ceil(h / 4) x
    ceil(w / 4) positions of z that training charges. Without
    `latent_canvas`, plain h_a(y).
    """
    if latent_canvas is None:
      return self._hyper_latent(y)
    shape = tf.shape(y)
    z = self._hyper_latent(zero_pad_to(y, latent_canvas))
    size = -(-shape[1:3] // self.hyper_stride)
    return z[:, :size[0], :size[1]]

  def _canvas_z_hat(self, z_hat, latent_canvas=None):
    """z_hat zero-padded to the canvas' hyper-latent size before h_s, as
    training zeroes z_hat outside its charged region (None: unchanged)."""
    if latent_canvas is None:
      return z_hat
    return zero_pad_to(z_hat, -(-tf.cast(latent_canvas, tf.int32) //
                                self.hyper_stride))

  def _masked_hyperprior(self, x, y, valid_size, training,
                         latent_canvas=None):
    """Hyperprior step shared by Ballé18-Hyper and Cheng20.

    y is zeroed outside its occupied region ceil(valid / stride) before the
    hyper-analysis, and z is charged only inside ceil(valid / (stride *
    hyper_stride)), which is what coding a cropped image does (coding
    passes `latent_canvas`, see `_canvas_hyper_latent`).
    Returns (y, mask_y or None, z_hat, z_bits).
    """
    mask_y = mask_z = None
    if valid_size is not None:
      valid_size = base.check_valid_size(valid_size, x)
      mask_y = base.valid_latent_mask(valid_size, self.stride, tf.shape(y))
      y *= mask_y
    z = self._canvas_hyper_latent(y, latent_canvas)
    if valid_size is not None:
      mask_z = base.valid_latent_mask(
          valid_size, self.stride * self.hyper_stride, tf.shape(z))
    z_hat, z_bits = self.hyperprior(z, training=training, valid_mask=mask_z)
    return y, mask_y, z_hat, z_bits
