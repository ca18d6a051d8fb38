"""Ballé, Laparra, Simoncelli, "End-to-end Optimized Image Compression" (2017).

As re-implemented by tensorflow-compression (models/bls2017.py), which is the
Ballé17 codec of Resize-Compress (Chen et al., Sec. IV-B, footnote 1):
  analysis  g_a: SignalConv 9x9/4 + GDN, 5x5/2 + GDN, 5x5/2 (no bias);
  synthesis g_s: the mirror with IGDN, transposed convolutions, 9x9/4 -> 3;
  prior: `tfc.NoisyDeepFactorized` per channel in a
  `ContinuousBatchedEntropyModel` (coding_rank=3 when coding).
Images are in [0, 1] (tfc's reference scales uint8 by 1/255 first, so the
transforms see the same range). The reconstruction is not clipped.

`_FactorizedPriorCodec` is shared with `Balle2018Factorized` (balle2018.py).
"""
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf import tiling
from resizer_tf.codecs import _entropy
from resizer_tf.codecs import base
from resizer_tf.codecs.tfc_codec import gdn
from resizer_tf.codecs.tfc_codec import signal_conv
from resizer_tf.codecs.tfc_codec import TfcCodec


class _FactorizedPriorCodec(TfcCodec):
  """y = g_a(x), factorized prior on y, x_hat = g_s(y_hat)."""

  #: Number of strings `compress` returns.
  num_strings = 1

  def __init__(self, num_filters, num_latent, offset_heuristic=True,
               **kwargs):
    super().__init__(**kwargs)
    self._set_filters(num_filters, num_latent)
    self.offset_heuristic = bool(offset_heuristic)
    self.analysis = tf.keras.Sequential(self._analysis_layers(),
                                        name="analysis")
    self.synthesis = tf.keras.Sequential(self._synthesis_layers(),
                                         name="synthesis")
    self.entropy_bottleneck = _entropy.FactorizedBottleneck(
        self.num_latent, offset_heuristic=self.offset_heuristic,
        name="entropy_bottleneck")
    # Create every variable now, so weights can be loaded before a call.
    self.analysis.build((None, None, None, 3))
    self.synthesis.build((None, None, None, self.num_latent))

  def _analysis_layers(self):
    raise NotImplementedError

  def _synthesis_layers(self):
    raise NotImplementedError

  #: `call(..., mixed=True)` is supported (see `_entropy.FactorizedBottleneck`).
  supports_mixed_quantization = True

  def call(self, x, training=None, valid_size=None, latent_size=None,
           latent_canvas=None, mixed=False):
    """Returns (x_hat [B, H, W, 3] float32, bits [B] float32). See base.py.

    mixed: with training, noisy latents for the rate and rounded ones
      (straight-through) for the synthesis.
    """
    del latent_canvas  # No hyperprior.
    x, _ = _validation.check_image_batch(x, "x", channels=3)
    y = base.crop_latent(self.analysis(x), latent_size)
    mask = None
    if valid_size is not None:
      valid_size = base.check_valid_size(valid_size, x)
      mask = base.valid_latent_mask(valid_size, self.stride, tf.shape(y))
    y_hat, bits = self.entropy_bottleneck(y, training=training,
                                          valid_mask=mask, mixed=mixed)
    x_hat = self.synthesis(tf.cast(y_hat, self.compute_dtype))
    x_hat = x_hat[:, :tf.shape(x)[1], :tf.shape(x)[2], :]
    return tf.cast(x_hat, tf.float32), bits

  def _prepare_tables(self):
    """Builds the range-coding tables from the trained prior (eagerly)."""
    self.entropy_bottleneck.prepare_for_coding()

  def compress(self, x, latent_size=None, latent_canvas=None):
    """[1, H, W, 3] in [0, 1] -> [y string]; H, W multiples of 16.

    With `latent_size`, only y[:h, :w] is coded (see base.py).
    """
    del latent_canvas  # No hyperprior.
    x = base.check_compress_input(x, self.size_multiple)
    with tf.device("/cpu:0"), self.coding_kernels():
      y = base.crop_latent(self.analysis(tf.cast(x, self.compute_dtype)),
                           latent_size)
      strings = self.entropy_bottleneck.compress(y)
    return [strings[0]]

  def decompress(self, strings, latent_size, latent_canvas=None):
    """[y string], int32 (h, w) of y -> x_hat [1, 16h, 16w, 3] float32."""
    del latent_canvas  # No hyperprior.
    strings, latent_size = base.check_decompress_input(
        strings, latent_size, self.num_strings)
    with tf.device("/cpu:0"), self.coding_kernels():
      y_hat = self.entropy_bottleneck.decompress(strings[0][None],
                                                 latent_size)
      x_hat = self.synthesis(tf.cast(y_hat, self.compute_dtype))
    return tf.cast(x_hat, tf.float32)

  # -- tiled coding (base.py, tiling.py): the same ops, in pieces ----------

  def compress_latent(self, y, latent_canvas=None):
    del latent_canvas  # No hyperprior.
    with tf.device("/cpu:0"):
      return [self.entropy_bottleneck.compress(y)[0]]

  def decompress_latent(self, strings, latent_size, latent_canvas=None):
    del latent_canvas  # No hyperprior.
    strings, latent_size = base.check_decompress_input(
        strings, latent_size, self.num_strings)
    with tf.device("/cpu:0"):
      return self.entropy_bottleneck.decompress(strings[0][None], latent_size)

  def reconstruct_latent(self, y, latent_canvas=None):
    del latent_canvas  # No hyperprior.
    return self.entropy_bottleneck(y, training=False)

  @property
  def entropy_model_variables(self):
    return self.entropy_bottleneck.prior_variables

  def _transform_layers(self):
    return [self.analysis, self.synthesis]

  def get_config(self):
    return {"name": self.name, "trainable": self.trainable,
            "num_filters": self.num_filters,
            "offset_heuristic": self.offset_heuristic}


#: Receptive fields of Ballé17's transforms along one axis (tiling.py): g_a
#: 9x9/4, 5x5/2, 5x5/2 correlations; g_s 5x5 x2, 5x5 x2, 9x9 x4 transposed
#: convolutions; (I)GDN is pointwise in space.
ANALYSIS_FIELD = tiling.Chain(tiling.Conv(9, down=4), tiling.Conv(5, down=2),
                              tiling.Conv(5, down=2))
SYNTHESIS_FIELD = tiling.Chain(tiling.Conv(5, up=2), tiling.Conv(5, up=2),
                               tiling.Conv(9, up=4))


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class Balle2017(_FactorizedPriorCodec):
  """Ballé17 (ICLR 2017) as in tfc's bls2017; see the module docstring.

  Args:
    num_filters: channels of every hidden layer and of y (bls2017: 128).
    offset_heuristic: quantise y to the prior's median plus an integer (tfc's
      default, True); False rounds to integers.
  """

  codec_name = "balle2017"
  codec_id = 1
  stride = 16
  size_multiple = 16
  analysis_field = ANALYSIS_FIELD
  synthesis_field = SYNTHESIS_FIELD

  def __init__(self, num_filters=128, offset_heuristic=True, **kwargs):
    super().__init__(num_filters, num_filters,
                     offset_heuristic=offset_heuristic, **kwargs)

  def _analysis_layers(self):
    n = self.num_filters
    return [
        signal_conv(n, 9, 4, True, gdn("gdn_0"), name="layer_0"),
        signal_conv(n, 5, 2, True, gdn("gdn_1"), name="layer_1"),
        signal_conv(n, 5, 2, True, None, use_bias=False, name="layer_2"),
    ]

  def _synthesis_layers(self):
    n = self.num_filters
    return [
        signal_conv(n, 5, 2, False, gdn("igdn_0", True), name="layer_0"),
        signal_conv(n, 5, 2, False, gdn("igdn_1", True), name="layer_1"),
        signal_conv(3, 9, 4, False, None, name="layer_2"),
    ]
