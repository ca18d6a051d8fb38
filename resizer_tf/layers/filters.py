"""Pre-filter and Post-filter of Chen et al., Table I and Sec. III-C.

Three zero-padded 3x3 convolutions, 32-32-3 filters, ReLU-ReLU-tanh, whose
output is a residual added to the input (global residual). The Pre-filter
runs before the downscaling warp, the Post-filter after the upscaling warp;
they never share parameters (two separate instances).
"""
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf import tiling

#: Receptive field of a filter along one axis (tiling.py): three "same"
#: 3x3 convolutions in series, the residual pointwise (a 3-pixel halo).
RECEPTIVE_FIELD = tiling.Chain(*[tiling.Conv(3)] * 3)


class _ResidualFilter(tf.keras.layers.Layer):
  """Table I "Pre/Post-filter": C1, C2 (3x3, 32, ReLU), C3 (3x3, c, tanh), + x."""

  def __init__(self, filters=32, kernel_size=3, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 4 or input_shape[-1] is None:
      raise ValueError(
          f"`{type(self).__name__}` expects rank-4 input [batch, height, width, channels] "
          f"with known channels; received {input_shape}.")
    self.channels = int(input_shape[-1])
    conv = tf.keras.layers.Conv2D
    k = self.kernel_size
    self.c1 = conv(self.filters, k, padding="same", activation="relu", name="c1")
    self.c2 = conv(self.filters, k, padding="same", activation="relu", name="c2")
    self.c3 = conv(self.channels, k, padding="same", activation="tanh", name="c3")
    # Built eagerly so `.keras` loading restores every variable.
    self.c1.build(input_shape)
    self.c2.build(input_shape[:-1].concatenate([self.filters]))
    self.c3.build(input_shape[:-1].concatenate([self.filters]))
    super().build(input_shape)

  @property
  def receptive_field(self):
    return tiling.Chain(*[tiling.Conv(self.kernel_size)] * 3)

  def call(self, inputs):
    inputs, _ = _validation.check_image_batch(inputs, "inputs",
                                              channels=self.channels)
    return inputs + self.c3(self.c2(self.c1(inputs)))

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters, kernel_size=self.kernel_size)
    return config


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class PreFilter(_ResidualFilter):
  """Learned pre-filter applied before the downscaling warp (Fig. 3b)."""


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class PostFilter(_ResidualFilter):
  """Learned post-filter applied after the upscaling warp (Fig. 3d)."""
