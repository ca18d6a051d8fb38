"""Cheng20: learned image compression with a discretized Gaussian mixture.

Cheng, Sun, Takeuchi, Katto, "Learned Image Compression with Discretized
Gaussian Mixture Likelihoods and Attention Modules", CVPR 2020, the "anchor"
variant used by Resize-Compress (Chen et al., Sec. IV, Table II, footnote 2).
Layer by layer it follows the network figure of the paper as released by the
authors (TF1 code, docs/design_notes.md §4):

  g_a: ResBlockStride(3->N) RB ResBlockStride Attention RB ResBlockStride RB
       conv3x3/2 (no bias) Attention                         (y: stride 16)
  g_s: Attention RB ResBlockUp RB ResBlockUp Attention RB ResBlockUp RB
       sub-pixel conv3x3 -> 3
  h_a: conv3x3 lrelu, conv3x3 lrelu, conv3x3/2 lrelu, conv3x3 lrelu,
       conv3x3/2 (on y itself)                                (z: stride 64)
  h_s: conv3x3 lrelu, conv3x3 x2 lrelu, conv3x3 (1.5N) lrelu,
       conv3x3 x2 (1.5N) lrelu, conv3x3 (2N)
  context: 5x5 masked conv (type A), 2N outputs
  entropy parameters: 1x1 convs 640 lrelu, 640 lrelu, 3KN (no bias) on
       concat(context, h_s) -> per latent K weights (softmax), means, scales
       (abs, lower-bounded).

The rate of y is the discretized mixture likelihood (paper Sec. "Discretized
Gaussian Mixture Likelihoods"), -log2 sum_k w_k [Phi((y+.5-mu_k)/s_k) -
Phi((y-.5-mu_k)/s_k)], with additive uniform noise during training; z is
coded under `tfc.NoisyDeepFactorized` in `tfc.ContinuousBatchedEntropyModel`.

Quantisation: y is clipped to [-255, 256] and rounded to the nearest integer
(plain rounding, both as in the authors' release); z is quantised by
`_entropy.FactorizedBottleneck` (around the prior's median by default, as
tfc does). `call(training=False)` quantises exactly as `compress` once
`prepare_for_coding` has fixed the offsets.

Coding: the decoder runs the context model serially in raster order inside a
`tf.while_loop`; the encoder runs the very same per-position computation
(same ops, same shapes, same inputs), so both derive bit-identical mixture
parameters. Each symbol is binarised and range coded with
tensorflow-compression's fixed-table coder (see `_mixture_coding`).
"""
import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from resizer_tf import _validation
from resizer_tf.codecs import _entropy
from resizer_tf.codecs import _mixture_coding
from resizer_tf.codecs import tfc_codec
from resizer_tf.codecs import base
from resizer_tf import tiling

_register = tf.keras.utils.register_keras_serializable(package="resizer_tf")


def _lrelu(x):
  # tf.nn.leaky_relu's default slope 0.2, as in the authors' TF release.
  return tf.nn.leaky_relu(x)


def _conv(filters, kernel, down=1, up=1, **kwargs):
  """SignalConv2D, "same_zeros" padding (the authors' building block): a
  correlation downsampling by `down`, or a transposed convolution
  upsampling by `up`."""
  if up > 1:
    return tfc_codec.signal_conv(filters, kernel, up, False, **kwargs)
  return tfc_codec.signal_conv(filters, kernel, down, True, **kwargs)


class _FiltersLayer(tf.keras.layers.Layer):
  """Base of the blocks below: one `filters` argument, serialised."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)

  def get_config(self):
    config = super().get_config()
    config.update(filters=self.filters)
    return config


@_register
class ResidualUnit(_FiltersLayer):
  """Bottleneck unit of the attention module: 1x1 (N/2) ReLU, 3x3 (N/2) ReLU,
  1x1 (N), plus the input."""

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    half = self.filters // 2
    self.conv1 = _conv(half, 1, activation=tf.nn.relu, name="conv1")
    self.conv2 = _conv(half, 3, activation=tf.nn.relu, name="conv2")
    self.conv3 = _conv(self.filters, 1, name="conv3")

  def call(self, x):
    return x + self.conv3(self.conv2(self.conv1(x)))


@_register
class AttentionModule(_FiltersLayer):
  """Simplified attention module (paper Sec. "Simplified Attention Module").

  Trunk: 3 residual units. Mask: 3 residual units, 1x1 conv, sigmoid.
  Output: x + trunk(x) * mask(x).
  """

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    self.trunk = [ResidualUnit(self.filters, name=f"trunk_{i}")
                  for i in range(3)]
    self.mask = [ResidualUnit(self.filters, name=f"mask_{i}")
                 for i in range(3)]
    self.mask_conv = _conv(self.filters, 1, name="mask_conv")

  def call(self, x):
    trunk = x
    for unit in self.trunk:
      trunk = unit(trunk)
    mask = x
    for unit in self.mask:
      mask = unit(mask)
    return x + trunk * tf.sigmoid(self.mask_conv(mask))


@_register
class ResidualBlock(_FiltersLayer):
  """conv3x3 LeakyReLU, conv3x3 LeakyReLU, plus the input."""

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    self.conv1 = _conv(self.filters, 3, activation=_lrelu, name="conv1")
    self.conv2 = _conv(self.filters, 3, activation=_lrelu, name="conv2")

  def call(self, x):
    return x + self.conv2(self.conv1(x))


@_register
class ResidualBlockWithStride(_FiltersLayer):
  """conv3x3/2 LeakyReLU, conv3x3 GDN, plus a 1x1/2 conv shortcut.

  The shortcut subsamples by 2 and then applies a 1x1 convolution, which is
  the same function as a stride-2 1x1 convolution: TF 2.14's oneDNN kernel
  for the filter gradient of stride-2 1x1 convolutions corrupts the heap on
  CPU (crashes with "free(): invalid size"; fine with
  TF_ENABLE_ONEDNN_OPTS=0).
  """

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    self.conv1 = _conv(self.filters, 3, down=2, activation=_lrelu,
                       name="conv1")
    self.conv2 = _conv(self.filters, 3, activation=tfc_codec.gdn("gdn"),
                       name="conv2")
    self.shortcut = _conv(self.filters, 1, name="shortcut")

  def call(self, x):
    return self.conv2(self.conv1(x)) + self.shortcut(x[:, ::2, ::2])


@_register
class SubpixelConv2D(_FiltersLayer):
  """Sub-pixel upsampling by 2: conv to 4 x filters, activation,
  depth-to-space."""

  def __init__(self, filters, kernel_size=3, activation=None, **kwargs):
    super().__init__(filters, **kwargs)
    self.kernel_size = int(kernel_size)
    self.activation = tf.keras.activations.get(activation)
    self.conv = _conv(4 * self.filters, self.kernel_size,
                      activation=self.activation, name="conv")

  def call(self, x):
    return tf.nn.depth_to_space(self.conv(x), 2)

  def get_config(self):
    config = super().get_config()
    config.update(kernel_size=self.kernel_size,
                  activation=tf.keras.activations.serialize(self.activation))
    return config


@_register
class ResidualBlockUpsample(_FiltersLayer):
  """Sub-pixel conv3x3 x2 LeakyReLU, conv3x3 IGDN, plus a sub-pixel 1x1
  shortcut."""

  def __init__(self, filters, **kwargs):
    super().__init__(filters, **kwargs)
    self.up = SubpixelConv2D(self.filters, 3, activation=tf.nn.leaky_relu,
                             name="up")
    self.conv = _conv(self.filters, 3,
                      activation=tfc_codec.gdn("igdn", inverse=True),
                      name="conv")
    self.shortcut = SubpixelConv2D(self.filters, 1, name="shortcut")

  def call(self, x):
    return self.conv(self.up(x)) + self.shortcut(x)


@_register
class MaskedConv2D(tf.keras.layers.Conv2D):
  """Causal ("type A") convolution of the context model, zero "same" padding.

  The kernel is multiplied by a mask that keeps only the positions strictly
  before the centre in raster order (the rows above, and the left part of
  the centre row), so the output at (i, j) sees y_hat only where it is
  already decoded when (i, j) is decoded.
  """

  def __init__(self, filters, kernel_size=5, **kwargs):
    padding = kwargs.pop("padding", "same")
    strides = kwargs.pop("strides", (1, 1))
    if padding != "same" or tuple(np.broadcast_to(strides, 2)) != (1, 1):
      raise ValueError(
          "MaskedConv2D is a stride-1, 'same'-padded convolution; received "
          f"padding={padding!r}, strides={strides!r}.")
    super().__init__(filters, kernel_size, padding="same", **kwargs)
    if any(k % 2 == 0 for k in self.kernel_size):
      raise ValueError(
          f"MaskedConv2D needs an odd kernel size; received {kernel_size}.")
    kh, kw = self.kernel_size
    mask = np.zeros((kh, kw, 1, 1), np.float32)
    mask[:kh // 2] = 1
    mask[kh // 2, :kw // 2] = 1
    self._mask = mask

  @property
  def num_causal_positions(self):
    """Kernel taps kept by the mask; they come first in raster order."""
    kh, kw = self.kernel_size
    return (kh // 2) * kw + kw // 2

  def convolution_op(self, inputs, kernel):
    # Reading the (possibly auto-cast) variable gives the compute dtype.
    kernel = tf.convert_to_tensor(kernel)
    return super().convolution_op(inputs,
                                  kernel * tf.cast(self._mask, kernel.dtype))

  def get_config(self):
    config = super().get_config()
    for key in ("padding", "strides", "dilation_rate", "groups"):
      config.pop(key, None)
    return config


def _fields():
  """Receptive fields of Cheng20's g_a and g_s along one axis (tiling.py),
  block by block as the classes above define them; GDN, LeakyReLU, ReLU and
  sigmoid are pointwise in space."""
  t = tiling
  residual_block = t.Branches(t.IDENTITY, t.Chain(t.Conv(3), t.Conv(3)))
  strided_block = t.Branches(t.Chain(t.Conv(3, down=2), t.Conv(3)),
                             t.Chain(t.Subsample(), t.Conv(1)))
  unit = t.Branches(t.IDENTITY, t.Chain(t.Conv(1), t.Conv(3), t.Conv(1)))
  attention = t.Branches(t.IDENTITY, t.Chain(unit, unit, unit),
                         t.Chain(unit, unit, unit, t.Conv(1)))
  subpixel = lambda k: t.Chain(t.Conv(k), t.DepthToSpace())
  up_block = t.Branches(t.Chain(subpixel(3), t.Conv(3)), subpixel(1))
  analysis = t.Chain(strided_block, residual_block, strided_block, attention,
                     residual_block, strided_block, residual_block,
                     t.Conv(3, down=2), attention)
  synthesis = t.Chain(attention, residual_block, up_block, residual_block,
                      up_block, attention, residual_block, up_block,
                      residual_block, subpixel(3))
  return analysis, synthesis


ANALYSIS_FIELD, SYNTHESIS_FIELD = _fields()


@_register
class Cheng2020(tfc_codec.TfcCodec):
  """Cheng et al. (CVPR 2020) anchor with a K-component Gaussian mixture.

  Args:
    num_filters: N, channels of every transform and of y and z (the paper
      uses 128 at low and 192 at high rates). Must be even.
    num_mixtures: K, Gaussian components per latent (paper: 3).
    entropy_hidden: width of the two hidden 1x1 layers of the entropy
      parameter network (authors' release: 640 for N = 128 and 192).
    scale_lower_bound: floor on the component scales after abs (not in the
      paper, whose release uses abs only; 0.11 is tensorflow-compression's and
      CompressAI's scale floor and keeps the CDFs finite).
    likelihood_bound: floor on each latent's likelihood in the rate
      (authors' release: 1e-6).
    offset_heuristic: quantise z to the prior's median plus an integer (tfc's
      default and the authors' tfc 1.x EntropyBottleneck, True); False
      rounds to integers.
  """

  codec_name = "cheng2020"
  codec_id = 4
  stride = 16
  # 16, not 64: y is coded at exactly the ceil(H / 16) x ceil(W / 16)
  # positions training charges; see Balle2018Hyperprior.size_multiple.
  size_multiple = 16
  #: Extra downsampling of z relative to y.
  hyper_stride = 4
  #: Number of strings `compress` returns: [y, z].
  num_strings = 2
  analysis_field = ANALYSIS_FIELD
  synthesis_field = SYNTHESIS_FIELD

  def __init__(self, num_filters=128, num_mixtures=3, entropy_hidden=640,
               scale_lower_bound=0.11, likelihood_bound=1e-6,
               offset_heuristic=True, **kwargs):
    super().__init__(**kwargs)
    for value, name in ((num_filters, "num_filters"),
                        (num_mixtures, "num_mixtures"),
                        (entropy_hidden, "entropy_hidden")):
      if (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
          or value < 1):
        raise ValueError(f"`{name}` must be a positive int; received "
                         f"{value!r}.")
    if num_filters % 2:
      raise ValueError("`num_filters` must be even (the attention units use "
                       f"N/2 and h_s uses 1.5N); received {num_filters}.")
    if not 0 < scale_lower_bound < np.inf:
      raise ValueError("`scale_lower_bound` must be finite and > 0; received "
                       f"{scale_lower_bound!r}.")
    if not 0 < likelihood_bound < 1:
      raise ValueError("`likelihood_bound` must be in (0, 1); received "
                       f"{likelihood_bound!r}.")
    self._set_filters(num_filters, num_filters)
    n = self.num_filters
    self.num_mixtures = k = int(num_mixtures)
    self.entropy_hidden = int(entropy_hidden)
    self.scale_lower_bound = float(scale_lower_bound)
    self.likelihood_bound = float(likelihood_bound)
    self.offset_heuristic = bool(offset_heuristic)

    self.analysis = tf.keras.Sequential([
        ResidualBlockWithStride(n, name="rbs_0"),
        ResidualBlock(n, name="rb_1"),
        ResidualBlockWithStride(n, name="rbs_1"),
        AttentionModule(n, name="attention_0"),
        ResidualBlock(n, name="rb_2"),
        ResidualBlockWithStride(n, name="rbs_2"),
        ResidualBlock(n, name="rb_3"),
        _conv(n, 3, down=2, use_bias=False, name="conv_out"),
        AttentionModule(n, name="attention_1"),
    ], name="analysis")
    self.synthesis = tf.keras.Sequential([
        AttentionModule(n, name="attention_0"),
        ResidualBlock(n, name="rb_0"),
        ResidualBlockUpsample(n, name="rbu_0"),
        ResidualBlock(n, name="rb_1"),
        ResidualBlockUpsample(n, name="rbu_1"),
        AttentionModule(n, name="attention_1"),
        ResidualBlock(n, name="rb_2"),
        ResidualBlockUpsample(n, name="rbu_2"),
        ResidualBlock(n, name="rb_3"),
        SubpixelConv2D(3, 3, name="conv_out"),
    ], name="synthesis")
    self.hyper_analysis = tf.keras.Sequential([
        _conv(n, 3, activation=_lrelu, name="conv_0"),
        _conv(n, 3, activation=_lrelu, name="conv_1"),
        _conv(n, 3, down=2, activation=_lrelu, name="conv_2"),
        _conv(n, 3, activation=_lrelu, name="conv_3"),
        _conv(n, 3, down=2, name="conv_4"),
    ], name="hyper_analysis")
    self.hyper_synthesis = tf.keras.Sequential([
        _conv(n, 3, activation=_lrelu, name="conv_0"),
        _conv(n, 3, up=2, activation=_lrelu, name="conv_1"),
        _conv(n * 3 // 2, 3, activation=_lrelu, name="conv_2"),
        _conv(n * 3 // 2, 3, up=2, activation=_lrelu, name="conv_3"),
        _conv(2 * n, 3, name="conv_4"),
    ], name="hyper_synthesis")
    self.context_model = MaskedConv2D(2 * n, 5, name="context_model")
    self.entropy_parameters = tf.keras.Sequential([
        _conv(self.entropy_hidden, 1, activation=_lrelu, name="conv_0"),
        _conv(self.entropy_hidden, 1, activation=_lrelu, name="conv_1"),
        _conv(3 * k * n, 1, use_bias=False, name="conv_2"),
    ], name="entropy_parameters")
    self.hyperprior = _entropy.FactorizedBottleneck(
        n, offset_heuristic=self.offset_heuristic, name="hyperprior")
    self._binarizer = _mixture_coding.MixtureBinarizer()
    self._compress_fn = None
    self._decompress_fn = None
    self._latent_fns = None
    # Create every variable now, so weights can be loaded before a call.
    for model, channels in ((self.analysis, 3), (self.synthesis, n),
                            (self.hyper_analysis, n),
                            (self.hyper_synthesis, n),
                            (self.context_model, n),
                            (self.entropy_parameters, 4 * n)):
      model.build((None, None, None, channels))

  # -- The model ----------------------------------------------------------

  @property
  def entropy_model_variables(self):
    return self.hyperprior.prior_variables

  def _transform_layers(self):
    return [self.analysis, self.synthesis, self.hyper_analysis,
            self.hyper_synthesis, self.context_model, self.entropy_parameters]

  def _latent(self, x):
    """y = g_a(x), float32, clipped to the codable range (authors' release)."""
    y = tf.cast(self.analysis(x), tf.float32)
    return tf.clip_by_value(y, _mixture_coding.SYMBOL_MIN,
                            _mixture_coding.SYMBOL_MAX)

  def _hyper_latent(self, y):
    """z = h_a(y) (on y itself, not |y|), float32."""
    return tf.cast(self.hyper_analysis(tf.cast(y, self.compute_dtype)),
                   tf.float32)

  def _hyper_features(self, z_hat, latent_hw, latent_canvas=None):
    """h_s(z_hat) cropped to the size of y (z has ceil(y / 4) positions)."""
    z_hat = self._canvas_z_hat(z_hat, latent_canvas)
    psi = self.hyper_synthesis(tf.cast(z_hat, self.compute_dtype))
    return psi[:, :latent_hw[0], :latent_hw[1]]

  def mixture_parameters(self, context, hyper):
    """Entropy parameters -> (weights, means, scales), float32 [..., N, K]."""
    feats = tf.concat([context, tf.cast(hyper, context.dtype)], axis=-1)
    return self._split_mixture(self.entropy_parameters(feats))

  def _split_mixture(self, params):
    """[..., 3KN] -> (weights, means, scales), each float32 [..., N, K].

    The channel order of the last 1x1 layer follows the authors' release: for
    each component k, N weight logits, N means, N scales.
    """
    params = tf.cast(params, tf.float32)
    shape = tf.shape(params)
    rank = params.shape.rank
    params = tf.reshape(params, tf.concat(
        [shape[:-1], [self.num_mixtures, 3, self.num_filters]], 0))
    # [..., K, 3, N] -> [..., 3, N, K]
    perm = list(range(rank - 1)) + [rank, rank + 1, rank - 1]
    logits, loc, scale = tf.unstack(tf.transpose(params, perm), axis=-3)
    weight = tf.nn.softmax(logits, axis=-1)
    scale = tfc.lower_bound(tf.abs(scale), self.scale_lower_bound)
    return weight, loc, scale

  def mixture_bits(self, y, weight, loc, scale):
    """-log2 of the mixture mass of [y - 1/2, y + 1/2], the likelihood floored
    at `likelihood_bound` (paper Sec. "Discretized Gaussian Mixture
    Likelihoods"); float32, shaped like y."""
    dist = tfc.NoisyNormalMixture(loc=loc, scale=scale, weight=weight)
    log_p = tfc.lower_bound(dist.log_prob(y), math.log(self.likelihood_bound))
    return log_p / -math.log(2.0)

  def call(self, x, training=None, valid_size=None, latent_size=None,
           latent_canvas=None):
    """Returns (x_hat [B, H, W, 3] float32, bits [B] float32). See base.py.

    With `valid_size`, y outside ceil(valid / 16) is zeroed before h_a and
    the context model and costs no bits, z outside ceil(valid / 64) costs no
    bits and is zeroed before h_s, and g_s sees the zeroed y_hat.
    """
    x, _ = _validation.check_image_batch(x, "x", channels=3)
    y = base.crop_latent(self._latent(x), latent_size)
    y, mask_y, z_hat, z_bits = self._masked_hyperprior(
        x, y, valid_size, training, latent_canvas)
    if training:
      y_hat = y + tf.random.uniform(tf.shape(y), -.5, .5)
    else:
      y_hat = tfc.round_st(y)
    if mask_y is not None:
      y_hat *= mask_y
    psi = self._hyper_features(z_hat, tf.shape(y)[1:3], latent_canvas)
    weight, loc, scale = self.mixture_parameters(
        self.context_model(tf.cast(y_hat, self.compute_dtype)), psi)
    y_bits = tf.reduce_sum(self.mixture_bits(y_hat, weight, loc, scale), -1)
    if mask_y is not None:
      y_bits *= mask_y[..., 0]
    bits = tf.reduce_sum(y_bits, axis=(1, 2)) + z_bits
    x_hat = self.synthesis(tf.cast(y_hat, self.compute_dtype))
    x_hat = x_hat[:, :tf.shape(x)[1], :tf.shape(x)[2]]
    return tf.cast(x_hat, tf.float32), bits

  # -- Coding -------------------------------------------------------------

  def _prepare_tables(self):
    """Builds z's range-coding tables from the trained prior (eagerly).

    (`prepare_for_coding`, tfc_codec.py.) Call it again after any further
    training: the tables, the cached kernels and the traced coding
    functions capture the model as it is now.
    """
    self.hyperprior.prepare_for_coding()
    self._kernel_cache_changed()

  def _kernel_cache_changed(self):
    # The traced coders captured the previous tables and kernels.
    self._compress_fn = self._decompress_fn = self._latent_fns = None

  def _coding_functions(self):
    """The traced coders; made on first use (also after loading a file that
    holds z's tables)."""
    if self.hyperprior.coder is None:
      raise ValueError(
          "Cheng2020: call `prepare_for_coding()` after training and before "
          "`compress` / `decompress`.")
    if self._compress_fn is None:
      self._compress_fn = tf.function(
          self._compress_graph,
          input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32),
                           tf.TensorSpec([2], tf.int32),
                           tf.TensorSpec([2], tf.int32)])
      self._decompress_fn = tf.function(
          self._decompress_graph,
          input_signature=[tf.TensorSpec([], tf.string),
                           tf.TensorSpec([], tf.string),
                           tf.TensorSpec([2], tf.int32),
                           tf.TensorSpec([2], tf.int32)])
    return self._compress_fn, self._decompress_fn

  def compress(self, x, latent_size=None, latent_canvas=None):
    """[1, H, W, 3] in [0, 1] -> [y string, z string]; H, W multiples of 16.

    With `latent_size`, only y[:h, :w] is coded; see base.py for
    `latent_canvas`.
    """
    compress_fn, _ = self._coding_functions()
    x = base.check_compress_input(x, self.size_multiple)
    latent_size = self._latent_size(x, latent_size)
    if latent_canvas is None:
      latent_canvas = latent_size
    # Traced inside the block: the graph captures the cached kernels.
    with self.coding_kernels():
      return list(compress_fn(x, latent_size,
                              tf.cast(latent_canvas, tf.int32)))

  def _latent_size(self, x, latent_size):
    if latent_size is None:
      return tf.shape(x)[1:3] // self.stride
    return tf.cast(latent_size, tf.int32)

  def decompress(self, strings, latent_size, latent_canvas=None):
    """[y string, z string], int32 (h, w) of y -> x_hat [1, 16h, 16w, 3].

    A damaged z string raises InvalidArgumentError (tfc's sanity check); the
    y string has no redundancy to check, so damage to it is caught only by
    the file format's checksum (bitstream.py).
    """
    _, decompress_fn = self._coding_functions()
    strings, latent_size = base.check_decompress_input(
        strings, latent_size, self.num_strings)
    if latent_canvas is None:
      latent_canvas = latent_size
    with self.coding_kernels():
      return decompress_fn(strings[0], strings[1], latent_size,
                           tf.cast(latent_canvas, tf.int32))

  def _compress_graph(self, x, latent_size, latent_canvas,
                      return_parameters=False):
    with tf.device("/cpu:0"):
      y = base.crop_latent(self._latent(tf.cast(x, self.compute_dtype)),
                           latent_size)
      return self._compress_latent_graph(y, latent_canvas, return_parameters)

  def _compress_latent_graph(self, y, latent_canvas, return_parameters=False):
    with tf.device("/cpu:0"):
      y = tf.debugging.assert_all_finite(
          y, "Cheng2020.compress: the latent y has NaN/Inf (diverged "
          "weights?).")
      z = self._canvas_hyper_latent(y, latent_canvas)
      z_string = self.hyperprior.compress(z)[0]
      psi = self._hyper_features(self.hyperprior.quantize(z),
                                 tf.shape(y)[1:3], latent_canvas)
      symbols = tf.cast(tf.round(y[0]), tf.int32)
      handle = tfc.create_range_encoder([], self._binarizer.lookup)
      outputs = self._code_serially(psi[0], handle, symbols,
                                    return_parameters)
      y_string = tfc.entropy_encode_finalize(outputs[0])
      if return_parameters:
        return y_string, z_string, outputs[2]
      return y_string, z_string

  def serial_mixture_parameters(self, x):
    """The mixtures `compress` codes y of one image with, computed serially.

    For diagnostics and tests: (weights, means, scales), each float32
    [1, h, w, N, K], to compare with the parallel `mixture_parameters`.
    """
    self._coding_functions()
    x = base.check_compress_input(x, self.size_multiple)
    size = self._latent_size(x, None)
    with self.coding_kernels():
      params = self._compress_graph(x, size, size,
                                    return_parameters=True)[2]
    return tuple(params[None, :, :, i] for i in range(3))

  def _decompress_graph(self, y_string, z_string, latent_size,
                        latent_canvas):
    with tf.device("/cpu:0"):
      y_hat = self._decompress_latent_graph(y_string, z_string, latent_size,
                                            latent_canvas)
      x_hat = self.synthesis(tf.cast(y_hat, self.compute_dtype))
      return tf.cast(x_hat, tf.float32)

  def _decompress_latent_graph(self, y_string, z_string, latent_size,
                               latent_canvas):
    """y_hat [1, h, w, N], gated by the check that y decoded cleanly."""
    with tf.device("/cpu:0"):
      z_size = -(-latent_size // self.hyper_stride)
      z_hat = self.hyperprior.decompress(z_string[None], z_size)
      psi = self._hyper_features(z_hat, latent_size, latent_canvas)
      handle = tfc.create_range_decoder(y_string, self._binarizer.lookup)
      handle, y_hat = self._code_serially(psi[0], handle)
      check = tf.debugging.assert_equal(
          tfc.entropy_decode_finalize(handle), True,
          message="Cheng2020.decompress: corrupt or truncated y string.")
      with tf.control_dependencies([check]):
        return tf.identity(y_hat[None])

  def _code_serially(self, psi, handle, symbols=None,
                     return_parameters=False):
    """Runs the context model in raster order, coding (or decoding) y.

    Encoder (`symbols` given) and decoder (`symbols` None) execute the same
    per-position ops on the same buffer contents, so both compute the same
    mixture parameters bit for bit. The convolutions run in float32 as matrix
    products on kernels materialised once before the loop (SignalConv2D
    rebuilds its kernel from the RDFT parameter on every read, which would
    dominate the loop; with the kernel cache, tfc_codec.py, they are read
    from it), and the hyper half of the first 1x1 layer is applied
    to all positions at once. Returns (handle, y_hat float32 [h, w, N]),
    plus the parameters [h, w, 3, N, K] with `return_parameters`.
    """
    n = self.num_filters
    kh, kw = self.context_model.kernel_size
    ph, pw = kh // 2, kw // 2
    h, w = tf.shape(psi)[0], tf.shape(psi)[1]

    def matrix(kernel):
      kernel = tf.cast(kernel, tf.float32)
      return tf.reshape(kernel, [-1, kernel.shape[-1]])

    causal = self.context_model.num_causal_positions * n
    context_kernel = matrix(self.context_model.kernel)[:causal]
    context_bias = tf.cast(self.context_model.bias, tf.float32)
    layers = self.entropy_parameters.layers
    kernels = [matrix(layer.kernel) for layer in layers]
    biases = [tf.cast(layer.bias, tf.float32) for layer in layers[:-1]]
    hyper_term = tf.matmul(
        tf.reshape(tf.cast(psi, tf.float32), [-1, 2 * n]),
        kernels[0][2 * n:]) + biases[0]
    buf = tf.zeros([h + 2 * ph, w + 2 * pw, n])

    def body(p, handle, buf, params):
      i, j = p // w, p % w
      patch = tf.reshape(tf.slice(buf, [i, j, 0], [kh, kw, n]), [1, -1])
      context = tf.matmul(patch[:, :causal], context_kernel) + context_bias
      act = _lrelu(tf.matmul(context, kernels[0][:2 * n]) +
                   hyper_term[p:p + 1])
      act = _lrelu(tf.matmul(act, kernels[1]) + biases[1])
      weight, loc, scale = (t[0] for t in self._split_mixture(
          tf.matmul(act, kernels[2])))
      if symbols is None:
        handle, values = self._binarizer.decode(handle, weight, loc, scale)
      else:
        values = symbols[i, j]
        handle = self._binarizer.encode(handle, values, weight, loc, scale)
      buf = tf.tensor_scatter_nd_update(
          buf, [[i + ph, j + pw]], tf.cast(values, tf.float32)[None])
      if return_parameters:
        params = params.write(p, tf.stack([weight, loc, scale]))
      return p + 1, handle, buf, params

    params = tf.TensorArray(tf.float32, size=h * w if return_parameters else 0)
    _, handle, buf, params = tf.while_loop(
        lambda p, *_: p < h * w, body, (tf.constant(0), handle, buf, params),
        parallel_iterations=1)
    y_hat = buf[ph:ph + h, pw:pw + w]
    if return_parameters:
      params = tf.reshape(params.stack(),
                          [h, w, 3, n, self.num_mixtures])
      return handle, y_hat, params
    return handle, y_hat

  # -- tiled coding (base.py, tiling.py): the same ops, in pieces ----------

  def analysis_transform(self, x):
    with self.coding_kernels():
      return self._latent(tf.cast(x, self.compute_dtype))

  def _latent_functions(self):
    self._coding_functions()  # Checks that the tables exist.
    if self._latent_fns is None:
      n = self.num_filters
      self._latent_fns = (
          tf.function(self._compress_latent_graph, input_signature=[
              tf.TensorSpec([1, None, None, n], tf.float32),
              tf.TensorSpec([2], tf.int32)]),
          tf.function(self._decompress_latent_graph, input_signature=[
              tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string),
              tf.TensorSpec([2], tf.int32), tf.TensorSpec([2], tf.int32)]))
    return self._latent_fns

  def compress_latent(self, y, latent_canvas=None):
    compress_fn, _ = self._latent_functions()
    y = tf.cast(y, tf.float32)
    if latent_canvas is None:
      latent_canvas = tf.shape(y)[1:3]
    with self.coding_kernels():
      return list(compress_fn(y, tf.cast(latent_canvas, tf.int32)))

  def decompress_latent(self, strings, latent_size, latent_canvas=None):
    _, decompress_fn = self._latent_functions()
    strings, latent_size = base.check_decompress_input(
        strings, latent_size, self.num_strings)
    if latent_canvas is None:
      latent_canvas = latent_size
    with self.coding_kernels():
      return decompress_fn(strings[0], strings[1], latent_size,
                           tf.cast(latent_canvas, tf.int32))

  def reconstruct_latent(self, y, latent_canvas=None):
    # `call(training=False)` without valid_size, from y on.
    with self.coding_kernels():
      z = self._canvas_hyper_latent(y, latent_canvas)
      z_hat, z_bits = self.hyperprior(z, training=False, valid_mask=None)
      y_hat = tfc.round_st(y)
      psi = self._hyper_features(z_hat, tf.shape(y)[1:3], latent_canvas)
      weight, loc, scale = self.mixture_parameters(
          self.context_model(tf.cast(y_hat, self.compute_dtype)), psi)
    y_bits = tf.reduce_sum(self.mixture_bits(y_hat, weight, loc, scale), -1)
    return y_hat, tf.reduce_sum(y_bits, axis=(1, 2)) + z_bits

  def get_config(self):
    return {"name": self.name, "trainable": self.trainable,
            "num_filters": self.num_filters,
            "num_mixtures": self.num_mixtures,
            "entropy_hidden": self.entropy_hidden,
            "scale_lower_bound": self.scale_lower_bound,
            "likelihood_bound": self.likelihood_bound,
            "offset_heuristic": self.offset_heuristic}
