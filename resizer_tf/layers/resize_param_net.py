"""ResizeParamNet of Chen et al., Table I and Sec. III-C."""
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf import tiling

#: Named configurations of ResizeParamNet. "table1": Table I of Chen et al.
#: (shortcut conv C3 3x3, ReLU after BN2; the default). "authors": the
#: authors' released code (1x1 shortcut, no ReLU after BN2).
VARIANTS = {
    "table1": dict(shortcut_kernel_size=3, relu_before_add=True),
    "authors": dict(shortcut_kernel_size=1, relu_before_add=False),
}


def variant_kwargs(variant):
  """Constructor arguments of a named ResizeParamNet variant."""
  if variant not in VARIANTS:
    raise ValueError(f"ResizeParamNet variant must be one of "
                     f"{sorted(VARIANTS)}; received {variant!r}.")
  return dict(VARIANTS[variant])


def receptive_field(stages, shortcut_kernel_size):
  """Receptive field of the features before the global pooling, along one
  axis (tiling.py): per stage C1 3x3 and C2 3x3 in series, the shortcut C3
  in parallel, then 2x2/2 max pooling; BatchNorm (inference) and ReLU are
  pointwise."""
  stage = tiling.Chain(
      tiling.Branches(tiling.Chain(tiling.Conv(3), tiling.Conv(3)),
                      tiling.Conv(shortcut_kernel_size)),
      tiling.MaxPool())
  return tiling.Chain(*[stage] * len(stages))


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class ResizeParamNet(tf.keras.layers.Layer):
  """Predicts one resize factor M per image (Table I, "ResizeParamNet").

  Three residual stages with C = 16, 32, 64 (Table I "Res": C1 3x3-BN1-ReLU,
  C2 3x3-BN2[-ReLU], shortcut C3, addition, 2x2/2 max pooling, ReLU), global
  average pooling, the mean of the 64 values, ReLU. No fully connected layer
  and no bias on the output (Sec. III-C). Returns float32 M of shape [B],
  also under mixed precision, since M sets sampling positions.

  Args:
    stages: channels of the residual stages (Table I: 16, 32, 64).
    shortcut_kernel_size: kernel of the shortcut conv C3 (Table I: 3; the
      authors' released code uses 1).
    relu_before_add: ReLU after BN2, as Table I's activation column lists
      (the authors' released code omits it).
    output_activation: "relu" (Table I) or "linear".
    num_outputs: 1 (Table I: one M, shape [B]) or 2 (ablation (f) of Table
      III: (My, Mx), shape [B, 2], each the mean of half of the channels).
    synchronized_batch_norm: BatchNorm statistics over the global batch under
      a multi-device strategy, so training does not depend on how the batch
      is split (the paper trains on one GPU). With one replica (the
      strategy in scope when the layer is built) plain BatchNorm is used:
      the same statistics, without the synchronised layer's unfused moments.
  """

  def __init__(self, stages=(16, 32, 64), shortcut_kernel_size=3,
               relu_before_add=True, output_activation="relu", num_outputs=1,
               synchronized_batch_norm=True, **kwargs):
    super().__init__(**kwargs)
    if num_outputs not in (1, 2):
      raise ValueError(f"`num_outputs` must be 1 or 2; received {num_outputs!r}.")
    self.num_outputs = num_outputs
    self.synchronized_batch_norm = bool(synchronized_batch_norm)
    self.stages = tuple(int(s) for s in stages)
    self.shortcut_kernel_size = int(shortcut_kernel_size)
    self.relu_before_add = bool(relu_before_add)
    if output_activation not in ("relu", "linear"):
      raise ValueError(
          "`output_activation` must be 'relu' or 'linear'; received "
          f"{output_activation!r}.")
    self.output_activation = output_activation

  def build(self, input_shape):
    input_shape = tf.TensorShape(input_shape)
    if input_shape.rank != 4:
      raise ValueError(
          "`ResizeParamNet` expects rank-4 input [batch, height, width, channels]; "
          f"received {input_shape}.")
    conv = tf.keras.layers.Conv2D
    synchronized = self.synchronized_batch_norm and (
        tf.distribute.get_strategy().num_replicas_in_sync > 1)
    bn = lambda name: tf.keras.layers.BatchNormalization(
        synchronized=synchronized, name=name)
    # A flat list: `.keras` weight saving does not descend into tuples.
    self.block_layers = []
    for i, c in enumerate(self.stages):
      self.block_layers.extend((
          conv(c, 3, padding="same", use_bias=False, name=f"r{i}_c1"),
          bn(name=f"r{i}_bn1"),
          conv(c, 3, padding="same", use_bias=False, name=f"r{i}_c2"),
          bn(name=f"r{i}_bn2"),
          conv(c, self.shortcut_kernel_size, padding="same", use_bias=False,
               name=f"r{i}_c3")))
    self.pool = tf.keras.layers.MaxPool2D(2, 2, padding="same")
    # Built eagerly so `.keras` loading restores every variable.
    channels = input_shape[-1]
    for c1, bn1, c2, bn2, c3 in self.blocks:
      shape_in = tf.TensorShape([None, None, None, channels])
      channels = c1.filters
      shape = tf.TensorShape([None, None, None, channels])
      c1.build(shape_in)
      c3.build(shape_in)
      for layer in (bn1, c2, bn2):
        layer.build(shape)
    super().build(input_shape)

  @property
  def blocks(self):
    """The residual stages as (c1, bn1, c2, bn2, c3) tuples."""
    layers = self.block_layers
    return [tuple(layers[i:i + 5]) for i in range(0, len(layers), 5)]

  def call(self, inputs, training=None):
    return self.pool_features(self.features(inputs, training=training))

  @property
  def receptive_field(self):
    """Of `features` (tiling.py); its stride is `feature_stride`."""
    return receptive_field(self.stages, self.shortcut_kernel_size)

  @property
  def feature_stride(self):
    return 2 ** len(self.stages)

  def features(self, inputs, training=None):
    """The residual stages: float32 [B, ceil(H / 8), ceil(W / 8), 64], the
    map the global average pooling reduces (tiled coding computes it in
    tiles, resize_compress.py)."""
    inputs, _ = _validation.check_image_batch(inputs, "inputs")
    x = inputs
    for c1, bn1, c2, bn2, c3 in self.blocks:
      y = tf.nn.relu(bn1(c1(x), training=training))
      y = bn2(c2(y), training=training)
      if self.relu_before_add:
        y = tf.nn.relu(y)
      x = tf.nn.relu(self.pool(y + c3(x)))
    return tf.cast(x, tf.float32)

  def pool_features(self, x):
    """Global average pooling, channel mean(s) and output activation."""
    if self.num_outputs == 1:
      m = tf.reduce_mean(x, axis=[1, 2, 3])
    else:
      m = tf.stack([tf.reduce_mean(h, axis=[1, 2, 3])
                    for h in tf.split(x, 2, axis=-1)], axis=-1)
    return self._activate(m)

  def _activate(self, m):
    if self.output_activation == "relu":
      m = tf.nn.relu(m)
    return m

  def pool_feature_sums(self, sums, count):
    """`pool_features` from per-channel sums [B, C] of the features over
    `count` positions (the tiled path's partial sums, resize_compress.py)."""
    means = sums / tf.cast(count, tf.float32)
    if self.num_outputs == 1:
      m = tf.reduce_mean(means, axis=-1)
    else:
      m = tf.stack([tf.reduce_mean(h, axis=-1)
                    for h in tf.split(means, 2, axis=-1)], axis=-1)
    return self._activate(m)

  def compute_output_shape(self, input_shape):
    batch = tf.TensorShape(input_shape)[0]
    return tf.TensorShape([batch] if self.num_outputs == 1 else [batch, 2])

  def get_config(self):
    config = super().get_config()
    config.update(stages=self.stages,
                  shortcut_kernel_size=self.shortcut_kernel_size,
                  relu_before_add=self.relu_before_add,
                  output_activation=self.output_activation,
                  num_outputs=self.num_outputs,
                  synchronized_batch_norm=self.synchronized_batch_norm)
    return config


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class SeparateResizeParamNets(tf.keras.layers.Layer):
  """Ablation (f) of Table III: "M_x and M_y were predicted by two separate
  CNNs" -- two independent ResizeParamNets (twice the parameters).

  Returns float32 (My, Mx), shape [B, 2]. Keyword arguments go to both
  networks (e.g. a `VARIANTS` entry).
  """

  def __init__(self, **net_kwargs):
    layer_kwargs = {k: net_kwargs.pop(k) for k in
                    ("name", "trainable", "dtype") if k in net_kwargs}
    super().__init__(**layer_kwargs)
    net_kwargs.pop("num_outputs", None)
    self.net_kwargs = net_kwargs
    self.net_y = ResizeParamNet(num_outputs=1, name="net_y", **net_kwargs)
    self.net_x = ResizeParamNet(num_outputs=1, name="net_x", **net_kwargs)

  def build(self, input_shape):
    self.net_y.build(input_shape)
    self.net_x.build(input_shape)
    super().build(input_shape)

  def call(self, inputs, training=None):
    return tf.stack([self.net_y(inputs, training=training),
                     self.net_x(inputs, training=training)], axis=-1)

  def compute_output_shape(self, input_shape):
    return tf.TensorShape([tf.TensorShape(input_shape)[0], 2])

  def get_config(self):
    config = super().get_config()
    config.update(self.net_kwargs)
    return config
