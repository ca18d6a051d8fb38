"""The learned resizer of Talebi & Milanfar, ICCV 2021 (Sec. 3.1, Fig. 3)."""
import tensorflow as tf

from resizer_tf import _validation

_METHODS = ("bilinear", "bicubic", "nearest", "area", "lanczos3", "lanczos5",
            "gaussian", "mitchellcubic")


def paper_parameter_count(filters, num_res_blocks, channels=3):
  """Conv-kernel weights of Fig. 3, the count Table 2 reports.

  Table 2 counts convolution kernels only (no biases, no BatchNorm):
  7x7 in (c*n*49) + 1x1 (n^2) + r blocks (2 * 9 n^2) + 3x3 (9 n^2) +
  7x7 out (n*c*49) = 294 n + (10 + 18 r) n^2 for c = 3.
  """
  n, r, c = filters, num_res_blocks, channels
  return 2 * 49 * c * n + n * n + 18 * r * n * n + 9 * n * n


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class LearnedResizer(tf.keras.layers.Layer):
  """CNN resizer of Fig. 3 (Talebi & Milanfar 2021).

  skip = resize(x); f = LReLU(conv7x7_n(x)); f = BN(LReLU(conv1x1_n(f)));
  g = resize(f); h = g + r x [conv3x3-BN-LReLU-conv3x3-BN with identity add];
  h = BN(conv3x3(h)) + g; out = conv7x7_c(h) + skip.

  Args:
    target_size: (height, width) of the output; any aspect ratio, up or down.
    filters: n, the filters of every intermediate conv (paper: 16).
    num_res_blocks: r (paper: 1 or 2).
    interpolation: the base resizer, any `tf.image.resize` method (paper:
      bilinear; Sec. 3.1 says the choice barely matters).
    negative_slope: LeakyReLU slope (paper: 0.2).
    antialias: passed to `tf.image.resize` (paper: not used).
  """

  def __init__(self, target_size, filters=16, num_res_blocks=1,
               interpolation="bilinear", negative_slope=0.2, antialias=False,
               **kwargs):
    super().__init__(**kwargs)
    self.target_size = _validation.check_size(target_size, "target_size")
    if not isinstance(filters, int) or filters <= 0:
      raise ValueError(f"`filters` must be a positive int; received {filters!r}.")
    if not isinstance(num_res_blocks, int) or num_res_blocks < 0:
      raise ValueError(
          f"`num_res_blocks` must be an int >= 0; received {num_res_blocks!r}.")
    if interpolation not in _METHODS:
      raise ValueError(
          f"`interpolation` must be one of {_METHODS}; received {interpolation!r}.")
    self.filters = filters
    self.num_res_blocks = num_res_blocks
    self.interpolation = interpolation
    self.negative_slope = float(negative_slope)
    self.antialias = bool(antialias)

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 4:
      raise ValueError(
          "`LearnedResizer` expects rank-4 input [batch, height, width, channels]; received "
          f"shape {input_shape}.")
    channels = input_shape[-1]
    if channels is None:
      raise ValueError("The channel dimension of the input must be known.")
    self.channels = int(channels)
    n = self.filters
    conv = tf.keras.layers.Conv2D
    bn = tf.keras.layers.BatchNormalization
    self.head = conv(n, 7, padding="same", name="conv_in")
    self.bottleneck = conv(n, 1, padding="same", name="conv_1x1")
    self.bottleneck_bn = bn(name="bn_1x1")
    # A flat list: `.keras` weight saving does not descend into tuples.
    self.block_layers = []
    for i in range(self.num_res_blocks):
      self.block_layers += [
          conv(n, 3, padding="same", use_bias=False, name=f"res{i}_conv1"),
          bn(name=f"res{i}_bn1"),
          conv(n, 3, padding="same", use_bias=False, name=f"res{i}_conv2"),
          bn(name=f"res{i}_bn2")]
    self.tail = conv(n, 3, padding="same", use_bias=False, name="conv_tail")
    self.tail_bn = bn(name="bn_tail")
    self.out = conv(self.channels, 7, padding="same", name="conv_out")
    # Sub-layers are built here, not lazily, so that `.keras` loading (which
    # builds from config and then restores weights) finds every variable.
    features = tf.TensorShape([None, None, None, n])
    self.head.build(input_shape)
    self.bottleneck.build(features)
    self.bottleneck_bn.build(features)
    for layer in self.block_layers:
      layer.build(features)
    self.tail.build(features)
    self.tail_bn.build(features)
    self.out.build(features)
    super().build(input_shape)

  @property
  def blocks(self):
    """The r residual blocks as (conv1, bn1, conv2, bn2) tuples."""
    layers = self.block_layers
    return [tuple(layers[i:i + 4]) for i in range(0, len(layers), 4)]

  def _act(self, x):
    return tf.nn.leaky_relu(x, alpha=self.negative_slope)

  def _resize(self, x):
    y = tf.image.resize(x, self.target_size, method=self.interpolation,
                        antialias=self.antialias)
    return tf.cast(y, x.dtype)

  def call(self, inputs, training=None):
    inputs, _ = _validation.check_image_batch(inputs, "inputs")
    if inputs.shape[-1] is not None and inputs.shape[-1] != self.channels:
      raise ValueError(
          f"`inputs` must have {self.channels} channels (as when built); "
          f"received {inputs.shape[-1]}.")
    skip = self._resize(inputs)
    f = self._act(self.head(inputs))
    f = self.bottleneck_bn(self._act(self.bottleneck(f)), training=training)
    g = self._resize(f)
    h = g
    for conv1, bn1, conv2, bn2 in self.blocks:
      y = self._act(bn1(conv1(h), training=training))
      y = bn2(conv2(y), training=training)
      h = h + y
    h = self.tail_bn(self.tail(h), training=training) + g
    return self.out(h) + skip

  def paper_parameter_count(self):
    """Conv-kernel parameter count as in Table 2 of the paper."""
    channels = getattr(self, "channels", 3)
    return paper_parameter_count(self.filters, self.num_res_blocks, channels)

  def compute_output_shape(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    return tf.TensorShape(
        [input_shape[0], *self.target_size, input_shape[-1]])

  def get_config(self):
    config = super().get_config()
    config.update(target_size=self.target_size, filters=self.filters,
                  num_res_blocks=self.num_res_blocks,
                  interpolation=self.interpolation,
                  negative_slope=self.negative_slope,
                  antialias=self.antialias)
    return config
