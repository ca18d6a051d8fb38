"""Ballé, Minnen, Singh, Hwang, Johnston, "Variational Image Compression with
a Scale Hyperprior" (ICLR 2018), as re-implemented by tensorflow-compression
(models/bmshj2018.py): the Ballé18-Fact and Ballé18-Hyper codecs of
Resize-Compress (Chen et al., Sec. IV-B, footnote 1).

Transforms (all SignalConv 5x5, "same_zeros" padding):
  g_a: N /2 GDN, N /2 GDN, N /2 GDN, M /2          (y: M channels, stride 16)
  g_s: N x2 IGDN, N x2 IGDN, N x2 IGDN, 3 x2
  h_a on |y|: N 3x3/1 ReLU, N /2 ReLU, N /2 (no bias)      (z: stride 64)
  h_s: N x2 ReLU, N x2 ReLU, M 3x3/1 -> scale indexes of y
tfc's bmshj2018 uses one filter count for every layer; N (num_filters) and
M (num_latent) are separated as in Ballé et al. 2018 and CompressAI.
The defaults N=128, M=192 are the low-rate setting (CompressAI's for its
lower lambdas, docs/design_notes.md §4); the high-rate setting is N=192, M=320 (pass
them as arguments).

`Balle2018Factorized` is these g_a/g_s with Ballé17's factorized prior on y
(Ballé et al. 2018's "factorized prior" baseline).
"""
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf import tiling
from resizer_tf.codecs import _entropy
from resizer_tf.codecs import base
from resizer_tf.codecs.balle2017 import _FactorizedPriorCodec
from resizer_tf.codecs.tfc_codec import gdn
from resizer_tf.codecs.tfc_codec import signal_conv
from resizer_tf.codecs.tfc_codec import TfcCodec


def _analysis_layers(n, m):
  return [
      signal_conv(n, 5, 2, True, gdn("gdn_0"), name="layer_0"),
      signal_conv(n, 5, 2, True, gdn("gdn_1"), name="layer_1"),
      signal_conv(n, 5, 2, True, gdn("gdn_2"), name="layer_2"),
      signal_conv(m, 5, 2, True, None, name="layer_3"),
  ]


def _synthesis_layers(n):
  return [
      signal_conv(n, 5, 2, False, gdn("igdn_0", True), name="layer_0"),
      signal_conv(n, 5, 2, False, gdn("igdn_1", True), name="layer_1"),
      signal_conv(n, 5, 2, False, gdn("igdn_2", True), name="layer_2"),
      signal_conv(3, 5, 2, False, None, name="layer_3"),
  ]


#: Receptive fields of g_a (4 x 5x5/2 correlations) and g_s (4 x 5x5 x2
#: transposed convolutions) along one axis (tiling.py); GDN is pointwise.
ANALYSIS_FIELD = tiling.Chain(*[tiling.Conv(5, down=2)] * 4)
SYNTHESIS_FIELD = tiling.Chain(*[tiling.Conv(5, up=2)] * 4)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class Balle2018Factorized(_FactorizedPriorCodec):
  """Ballé18 transforms with the factorized prior; see module docstring.

  Args:
    num_filters: N, hidden channels (default 128; 192 for high rates).
    num_latent: M, channels of y (default 192; 320 for high rates).
    offset_heuristic: as in `Balle2017`.
  """

  codec_name = "balle2018_factorized"
  codec_id = 2
  stride = 16
  size_multiple = 16
  analysis_field = ANALYSIS_FIELD
  synthesis_field = SYNTHESIS_FIELD

  def __init__(self, num_filters=128, num_latent=192, offset_heuristic=True,
               **kwargs):
    super().__init__(num_filters, num_latent,
                     offset_heuristic=offset_heuristic, **kwargs)

  def _analysis_layers(self):
    return _analysis_layers(self.num_filters, self.num_latent)

  def _synthesis_layers(self):
    return _synthesis_layers(self.num_filters)

  def get_config(self):
    config = super().get_config()
    config["num_latent"] = self.num_latent
    return config


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class Balle2018Hyperprior(TfcCodec):
  """Ballé18 with the scale hyperprior; see the module docstring.

  z = h_a(|y|) is coded with a factorized prior; y with zero-mean Gaussians
  whose scales are indexed by h_s(z_hat) (`_entropy.GaussianConditional`).
  `compress` returns [y string, z string].

  Args:
    num_filters: N (default 128; 192 for high rates).
    num_latent: M, channels of y (default 192; 320 for high rates).
    num_scales, scale_min, scale_max: the scale table (bmshj2018: 64 scales
      log-spaced from 0.11 to 256).
    offset_heuristic: quantise z to its prior's median plus an integer (tfc's
      default, True).
  """

  codec_name = "balle2018_hyperprior"
  codec_id = 3
  stride = 16
  # 16, not 64: y is coded at exactly ceil(H / 16) x ceil(W / 16) positions,
  # the region training charges (Chen et al. Sec. III-B, docs/design_notes.md §4). h_a's
  # "same_zeros" padding extends y with the zeros training masks it with, so
  # z has ceil(h / 4) positions without padding the image to 64.
  size_multiple = 16
  #: Extra downsampling of z relative to y.
  hyper_stride = 4
  num_strings = 2
  analysis_field = ANALYSIS_FIELD
  synthesis_field = SYNTHESIS_FIELD

  def __init__(self, num_filters=128, num_latent=192, num_scales=64,
               scale_min=0.11, scale_max=256., offset_heuristic=True,
               **kwargs):
    super().__init__(**kwargs)
    self._set_filters(num_filters, num_latent)
    self.offset_heuristic = bool(offset_heuristic)
    n, m = self.num_filters, self.num_latent
    self.analysis = tf.keras.Sequential(_analysis_layers(n, m),
                                        name="analysis")
    self.synthesis = tf.keras.Sequential(_synthesis_layers(n),
                                         name="synthesis")
    self.hyper_analysis = tf.keras.Sequential([
        signal_conv(n, 3, 1, True, tf.nn.relu, name="layer_0"),
        signal_conv(n, 5, 2, True, tf.nn.relu, name="layer_1"),
        signal_conv(n, 5, 2, True, None, use_bias=False, name="layer_2"),
    ], name="hyper_analysis")
    # bmshj2018 parameterises these kernels directly ("variable").
    self.hyper_synthesis = tf.keras.Sequential([
        signal_conv(n, 5, 2, False, tf.nn.relu, name="layer_0",
                    kernel_parameter="variable"),
        signal_conv(n, 5, 2, False, tf.nn.relu, name="layer_1",
                    kernel_parameter="variable"),
        signal_conv(m, 3, 1, False, None, name="layer_2",
                    kernel_parameter="variable"),
    ], name="hyper_synthesis")
    self.hyperprior = _entropy.FactorizedBottleneck(
        n, offset_heuristic=self.offset_heuristic, name="hyperprior")
    self.conditional = _entropy.GaussianConditional(
        num_scales, scale_min, scale_max, name="conditional")
    self.analysis.build((None, None, None, 3))
    self.synthesis.build((None, None, None, m))
    self.hyper_analysis.build((None, None, None, m))
    self.hyper_synthesis.build((None, None, None, n))

  def _hyper_latent(self, y):
    """z = h_a(|y|); y float32, z float32."""
    return tf.cast(self.hyper_analysis(tf.cast(tf.abs(y), self.compute_dtype)),
                   tf.float32)

  def _scale_indexes(self, z_hat, y_shape, latent_canvas=None):
    """h_s(z_hat) cropped to y's spatial size, float32."""
    z_hat = self._canvas_z_hat(z_hat, latent_canvas)
    indexes = self.hyper_synthesis(tf.cast(z_hat, self.compute_dtype))
    return tf.cast(indexes[:, :y_shape[1], :y_shape[2], :], tf.float32)

  def call(self, x, training=None, valid_size=None, latent_size=None,
           latent_canvas=None):
    """Returns (x_hat [B, H, W, 3] float32, bits [B] float32). See base.py.

    With `valid_size`, y outside ceil(valid / 16) is zeroed before h_a (the
    hyper-analysis then sees what it would see on the cropped latent), z
    outside ceil(valid / 64) costs no bits and is zeroed before h_s, and y
    outside costs no bits and is zeroed before g_s.
    """
    x, _ = _validation.check_image_batch(x, "x", channels=3)
    y = base.crop_latent(tf.cast(self.analysis(x), tf.float32), latent_size)
    y, mask_y, z_hat, z_bits = self._masked_hyperprior(
        x, y, valid_size, training, latent_canvas)
    indexes = self._scale_indexes(z_hat, tf.shape(y), latent_canvas)
    y_hat, y_bits = self.conditional(y, indexes, training=training,
                                     valid_mask=mask_y)
    x_hat = self.synthesis(tf.cast(y_hat, self.compute_dtype))
    x_hat = x_hat[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
    return tf.cast(x_hat, tf.float32), y_bits + z_bits

  def _prepare_tables(self):
    """Builds the range-coding tables of z's prior and y's scale table."""
    self.hyperprior.prepare_for_coding()
    self.conditional.prepare_for_coding()

  def compress(self, x, latent_size=None, latent_canvas=None):
    """[1, H, W, 3] in [0, 1] -> [y string, z string]; H, W multiples of 16.

    y has (h, w) = latent_size (default (H / 16, W / 16)) positions, z
    ceil(h / 4) x ceil(w / 4); see base.py for `latent_canvas`.
    """
    x = base.check_compress_input(x, self.size_multiple)
    with tf.device("/cpu:0"), self.coding_kernels():
      y = base.crop_latent(self.analysis_transform(x), latent_size)
      return self.compress_latent(y, latent_canvas)

  def decompress(self, strings, latent_size, latent_canvas=None):
    """[y string, z string], int32 (h, w) of y -> x_hat [1, 16h, 16w, 3]."""
    with tf.device("/cpu:0"), self.coding_kernels():
      y_hat = self.decompress_latent(strings, latent_size, latent_canvas)
      return self.synthesis_transform(y_hat)

  # -- tiled coding (base.py, tiling.py): the same ops, in pieces ----------

  def compress_latent(self, y, latent_canvas=None):
    with tf.device("/cpu:0"), self.coding_kernels():
      z = self._canvas_hyper_latent(y, latent_canvas)
      z_hat = self.hyperprior.quantize(z)
      indexes = self._scale_indexes(z_hat, tf.shape(y), latent_canvas)
      y_strings = self.conditional.compress(y, indexes)
      z_strings = self.hyperprior.compress(z)
    return [y_strings[0], z_strings[0]]

  def decompress_latent(self, strings, latent_size, latent_canvas=None):
    strings, latent_size = base.check_decompress_input(
        strings, latent_size, self.num_strings)
    with tf.device("/cpu:0"), self.coding_kernels():
      z_size = -(-latent_size // self.hyper_stride)
      z_hat = self.hyperprior.decompress(strings[1][None], z_size)
      indexes = self._scale_indexes(
          z_hat, tf.concat([[1], latent_size, [self.num_latent]], 0),
          latent_canvas)
      return self.conditional.decompress(strings[0][None], indexes)

  def reconstruct_latent(self, y, latent_canvas=None):
    # `call(training=False)` without valid_size, from y on.
    with self.coding_kernels():
      z = self._canvas_hyper_latent(y, latent_canvas)
      z_hat, z_bits = self.hyperprior(z, training=False)
      indexes = self._scale_indexes(z_hat, tf.shape(y), latent_canvas)
      y_hat, y_bits = self.conditional(y, indexes, training=False)
    return y_hat, y_bits + z_bits

  @property
  def entropy_model_variables(self):
    return self.hyperprior.prior_variables

  def _transform_layers(self):
    return [self.analysis, self.synthesis, self.hyper_analysis,
            self.hyper_synthesis]

  def get_config(self):
    return {"name": self.name, "trainable": self.trainable,
            "num_filters": self.num_filters, "num_latent": self.num_latent,
            "num_scales": self.conditional.num_scales,
            "scale_min": self.conditional.scale_min,
            "scale_max": self.conditional.scale_max,
            "offset_heuristic": self.offset_heuristic}
