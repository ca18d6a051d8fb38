"""Masked entropy bottlenecks on top of tensorflow-compression's entropy models.

Shared by the learned codecs (Ballé17, Ballé18 and, if it wants, Cheng20).

Why these layers exist instead of using tfc's models directly:
  * tfc's `__call__` sums bits over `coding_rank` innermost axes. The codec
    contract (base.py) must exclude latents outside the occupied region from
    the rate, so the rate is evaluated with coding_rank=1 (bits per spatial
    position, summed over channels), multiplied by the spatial mask, then
    summed per image. `prepare_for_coding` builds coding_rank=3 instances
    (one string per image) from the same prior for `compress`/`decompress`.
  * With training=False the layers quantise exactly as their coders do (same
    quantisation offsets, same rounded scale indexes), so `bits` is the sum of
    -log2 p that the range coder codes with, up to its 12-bit CDF
    quantisation and the tail escape code.
  * They store their priors and range-coding tables in `.keras` files (see
    below). All rate computations run in float32, also under mixed precision.

`save_variables` / `load_variables` are the `.keras` glue: Keras' v3 format
saves only variables a layer made with `add_weight`, and silently skips those
held by tf.Modules, which is where tensorflow-compression keeps SignalConv2D
kernels (RDFT parameters), GDN parameters, priors and range-coding tables.
Codecs built from tfc layers call them from `save_own_variables` /
`load_own_variables`.
"""
import functools
import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def save_variables(store, variables, prefix=""):
  """Writes `variables` by position into a Keras weights store."""
  for i, v in enumerate(variables):
    store[f"{prefix}{i}"] = v.numpy()


def load_variables(store, variables, prefix="", owner=""):
  """Assigns what `save_variables` wrote; refuses count or shape mismatches."""
  keys = [k for k in store.keys()
          if k.startswith(prefix) and k[len(prefix):].isdigit()]
  if len(keys) != len(variables):
    raise ValueError(
        f"`{owner}` expected {len(variables)} saved variables '{prefix}*', the "
        f"file holds {len(keys)}: it was saved by a different configuration.")
  for i, v in enumerate(variables):
    value = np.asarray(store[f"{prefix}{i}"])
    if not v.shape.is_compatible_with(value.shape):
      raise ValueError(
          f"`{owner}`: saved variable {i} ({v.name}) has shape {value.shape}, "
          f"the model expects {v.shape}.")
    v.assign(value)


class _EntropyLayer(tf.keras.layers.Layer):
  """Common state handling: coder tables, `.keras` storage, float32 policy."""

  def __init__(self, tail_mass=2**-8, range_coder_precision=12, **kwargs):
    # Rates and quantisation must be float32 whatever the global policy.
    kwargs.pop("dtype", None)
    super().__init__(dtype="float32", **kwargs)
    self.tail_mass = float(tail_mass)
    self.range_coder_precision = int(range_coder_precision)
    self.coder = None

  @property
  def prior_variables(self):
    """Trainable parameters of the prior (empty if it has none)."""
    return []

  def _make_coder(self):
    raise NotImplementedError

  def prepare_for_coding(self):
    """Builds the coding_rank=3 entropy model with range-coding tables.

    Must run eagerly, after training: the tables are frozen copies of the
    prior (tfc's `compression=True`), stored as variables so SavedModels and
    `.keras` files carry them and sender and receiver use identical tables.
    """
    if not tf.executing_eagerly():
      raise RuntimeError(
          "`prepare_for_coding()` creates variables and must be called "
          "eagerly (outside tf.function), once after training.")
    self.coder = self._make_coder()

  def _require_coder(self):
    if self.coder is None:
      raise RuntimeError(
          f"`{self.name}` has no range-coding tables: call the codec's "
          "`prepare_for_coding()` after training, before compress/decompress.")
    return self.coder

  def _mask_and_sum(self, outputs, bits, valid_mask):
    if valid_mask is not None:
      valid_mask = tf.cast(valid_mask, tf.float32)
      outputs *= valid_mask
      bits *= valid_mask[..., 0]
    return outputs, tf.reduce_sum(bits, axis=(1, 2))

  def get_config(self):
    config = super().get_config()
    config.pop("dtype", None)
    config.update(tail_mass=self.tail_mass,
                  range_coder_precision=self.range_coder_precision)
    return config

  def _coder_tables(self):
    """The coder's range-coding state, by name (what `.keras` files store)."""
    return {"cdf": self.coder.cdf, "cdf_offset": self.coder.cdf_offset}

  def _coder_from_tables(self, tables):
    raise NotImplementedError

  def save_own_variables(self, store):
    save_variables(store, self.prior_variables, "prior_")
    if self.coder is not None:
      for key, value in self._coder_tables().items():
        store["coder_" + key] = value.numpy()

  def load_own_variables(self, store):
    load_variables(store, self.prior_variables, "prior_", self.name)
    tables = {k[len("coder_"):]: np.asarray(store[k]) for k in store.keys()
              if k.startswith("coder_")}
    if tables:
      # The stored tables, not ones rebuilt from the prior: the decoder must
      # use exactly the encoder's tables.
      self.coder = self._coder_from_tables(tables)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class FactorizedBottleneck(_EntropyLayer):
  """Factorized prior: one `tfc.NoisyDeepFactorized` density per channel.

  The "fully factorized" entropy model of Ballé et al. 2018, appendix 6.1
  (used by Ballé17's tfc re-implementation and as the hyperprior of
  Ballé18), in `tfc.ContinuousBatchedEntropyModel`.

  Args:
    channels: number of latent channels (the prior's batch shape).
    offset_heuristic: quantise to the prior's median plus an integer, as
      tfc's `ContinuousBatchedEntropyModel` does by default (True); False
      rounds to integers.
    tail_mass, range_coder_precision: tfc's range-coder settings (defaults
      2**-8 and 12, tfc's defaults).
  """

  def __init__(self, channels, offset_heuristic=True, **kwargs):
    super().__init__(**kwargs)
    self.channels = int(channels)
    if self.channels < 1:
      raise ValueError(f"`channels` must be >= 1; received {channels}.")
    self.offset_heuristic = bool(offset_heuristic)
    with tf.name_scope(self.name):
      self.prior = tfc.NoisyDeepFactorized(batch_shape=(self.channels,))

  @property
  def prior_variables(self):
    return list(self.prior.trainable_variables)

  def _estimate_tables(self):
    model = tfc.ContinuousBatchedEntropyModel(
        self.prior, coding_rank=3, compression=True, stateless=True,
        tail_mass=self.tail_mass,
        range_coder_precision=self.range_coder_precision,
        bottleneck_dtype=tf.float32, offset_heuristic=self.offset_heuristic)
    offset = model.quantization_offset
    if offset is None:
      offset = tf.zeros([self.channels], tf.float32)
    return model.cdf, model.cdf_offset, offset

  def _make_coder(self):
    # The tail and median estimates are iterative (tfc.estimate_tails); traced
    # once they run ~7x faster than eagerly, with identical tables. A partial
    # (no __code__) makes each layer's function its own key in TF's
    # retracing detector, which otherwise counts every layer's single trace
    # against one shared code object and warns of a retracing loop.
    estimate = tf.function(functools.partial(type(self)._estimate_tables,
                                             self), autograph=False)
    cdf, cdf_offset, offset = estimate()
    tables = {"cdf": cdf, "cdf_offset": cdf_offset}
    if np.any(offset.numpy()):  # else plain rounding, as tfc does for zeros
      tables["quantization_offset"] = offset
    return self._coder_from_tables(tables)

  def _coder_tables(self):
    tables = super()._coder_tables()
    if self.coder.quantization_offset is not None:
      tables["quantization_offset"] = self.coder.quantization_offset
    return tables

  def _coder_from_tables(self, tables):
    return tfc.ContinuousBatchedEntropyModel(
        prior_shape=(self.channels,), coding_rank=3, compression=True,
        cdf=tables["cdf"], cdf_offset=tables["cdf_offset"],
        quantization_offset=tables.get("quantization_offset"),
        offset_heuristic=False, tail_mass=self.tail_mass,
        bottleneck_dtype=tf.float32)

  def quantization_offset(self):
    """Offsets `compress` will use (None: plain rounding)."""
    if self.coder is not None:
      return self.coder.quantization_offset
    if self.offset_heuristic:
      return tfc.quantization_offset(self.prior)
    return None

  def _rate_model(self, quantization_offset=None):
    return tfc.ContinuousBatchedEntropyModel(
        self.prior, coding_rank=1, compression=False, tail_mass=self.tail_mass,
        bottleneck_dtype=tf.float32, offset_heuristic=False,
        quantization_offset=quantization_offset)

  def call(self, inputs, training=None, valid_mask=None, mixed=False):
    """Returns (quantised or noisy latents, bits per image [B]).

    Args:
      inputs: latents [B, h, w, channels].
      training: True adds uniform noise (differentiable rate bound); False
        quantises exactly as `compress`.
      valid_mask: optional float [B, h, w, 1]; latents where it is 0 cost no
        bits and are set to 0.
      mixed: with training, the rate still comes from the noisy latents but
        the returned latents are the coder's rounding with a straight-through
        gradient ("mixed quantization", Minnen & Singh, ICIP 2020): the
        synthesis then trains on what it will decode.
    """
    inputs = tf.cast(inputs, tf.float32)
    if training:
      outputs, bits = self._rate_model()(inputs, training=True)
      if mixed:
        outputs = self.quantize(inputs)
    else:
      model = self._rate_model(self.quantization_offset())
      outputs, bits = model(inputs, training=False)
    return self._mask_and_sum(outputs, bits, valid_mask)

  def quantize(self, inputs):
    """The hard quantisation of `compress` (straight-through gradient)."""
    inputs = tf.cast(inputs, tf.float32)
    return self._rate_model(self.quantization_offset()).quantize(inputs)

  def compress(self, inputs):
    """Latents [B, h, w, C] -> strings [B]."""
    return self._require_coder().compress(tf.cast(inputs, tf.float32))

  def decompress(self, strings, spatial_shape):
    """Strings [B] and int32 (h, w) -> quantised latents [B, h, w, C]."""
    return self._require_coder().decompress(strings, spatial_shape)

  def get_config(self):
    config = super().get_config()
    config.update(channels=self.channels,
                  offset_heuristic=self.offset_heuristic)
    return config


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class GaussianConditional(_EntropyLayer):
  """Zero-mean Gaussian (convolved with unit uniform noise) with given scales.

  The conditional model of Ballé et al. 2018 (Sec. 3, "scale hyperprior"), as
  tfc's `LocationScaleIndexedEntropyModel(tfc.NoisyNormal, num_scales,
  scale_fn)`: the hyper-synthesis output is an index into `num_scales`
  scales log-spaced from `scale_min` to `scale_max` (bmshj2018: 64, 0.11,
  256).

  With training=False and when coding, indexes are clipped to
  [0, num_scales - 1] and rounded to the nearest table entry, and the rate is
  evaluated with that rounded scale. (tfc's `__call__` evaluates the
  unrounded scale while its coder truncates the index, so its estimate is
  not the coded rate.) Training uses the continuous index, as tfc does.

  The estimate matches the file when the scales fit the latents (0.2% on
  well-specified data, tests/test_codecs_balle.py). Symbols given p < 2^-12
  are cheaper to code than -log2 p (12-bit tables, tail escape codes), so
  an untrained hyperprior (indexes near 0, scale 0.11, latents of std ~0.5)
  reports far more bits than its file holds.
  """

  def __init__(self, num_scales=64, scale_min=0.11, scale_max=256., **kwargs):
    super().__init__(**kwargs)
    self.num_scales = int(num_scales)
    self.scale_min = float(scale_min)
    self.scale_max = float(scale_max)
    if self.num_scales < 2 or not 0 < self.scale_min < self.scale_max:
      raise ValueError(
          "Need num_scales >= 2 and 0 < scale_min < scale_max; received "
          f"{num_scales}, {scale_min}, {scale_max}.")

  def scale(self, indexes):
    """Scale for a (continuous) index: exp-linear from scale_min to max."""
    log_min = np.log(self.scale_min)
    step = (np.log(self.scale_max) - log_min) / (self.num_scales - 1)
    return tf.math.exp(log_min + step * tf.cast(indexes, tf.float32))

  def coding_indexes(self, indexes):
    """Integer-valued float32 indexes, used by training=False and coding."""
    indexes = tf.cast(indexes, tf.float32)
    return tf.round(tf.clip_by_value(indexes, 0., self.num_scales - 1.))

  def _make_model(self, coding_rank, compression):
    return tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, self.num_scales, self.scale, coding_rank=coding_rank,
        compression=compression, tail_mass=self.tail_mass,
        range_coder_precision=self.range_coder_precision,
        bottleneck_dtype=tf.float32)

  def _make_coder(self):
    return self._make_model(coding_rank=3, compression=True)

  def _coder_from_tables(self, tables):
    coder = self._make_coder()
    # tfc's indexed models take no tables as arguments: overwrite the freshly
    # built ones, which are exactly the variables (cdf, cdf_offset).
    names = [v.name.split("/")[-1] for v in coder.variables]
    if names != ["cdf:0", "cdf_offset:0"]:
      raise RuntimeError(
          f"Unexpected tfc LocationScaleIndexedEntropyModel state: {names}.")
    coder.set_weights([tables["cdf"], tables["cdf_offset"]])
    return coder

  def call(self, inputs, indexes, training=None, valid_mask=None):
    """Returns (quantised or noisy latents, bits per image [B]).

    Args:
      inputs: latents [B, h, w, C].
      indexes: scale indexes, same shape (the hyper-synthesis output).
      training: True adds uniform noise; False rounds as `compress`.
      valid_mask: optional float [B, h, w, 1], 0 = not coded (no bits, 0).
    """
    inputs = tf.cast(inputs, tf.float32)
    model = self._make_model(coding_rank=1, compression=False)
    if training:
      outputs, bits = model(inputs, tf.cast(indexes, tf.float32),
                            training=True)
    else:
      outputs, bits = model(inputs, self.coding_indexes(indexes),
                            training=False)
    return self._mask_and_sum(outputs, bits, valid_mask)

  def compress(self, inputs, indexes):
    """Latents and indexes [B, h, w, C] -> strings [B]."""
    return self._require_coder().compress(
        tf.cast(inputs, tf.float32), self.coding_indexes(indexes))

  def decompress(self, strings, indexes):
    """Strings [B] and indexes [B, h, w, C] -> quantised latents."""
    return self._require_coder().decompress(
        strings, self.coding_indexes(indexes))

  def get_config(self):
    config = super().get_config()
    config.update(num_scales=self.num_scales, scale_min=self.scale_min,
                  scale_max=self.scale_max)
    return config
