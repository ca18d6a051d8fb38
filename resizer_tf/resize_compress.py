"""Resize-Compress (Chen et al., Sec. III, Fig. 3): resizing around a codec.

    x -> ResizeParamNet -> M
    x -> PreFilter -> Warp(M) -> codec -> Warp(1/M) -> PostFilter -> x_hat

Training (Sec. III-D, Eq. 10-12; docs/design_notes.md §4): both warps keep the full H x W
canvas (the shrunk content sits top-left); per image only the occupied latent
region ceil(M H / S) x ceil(M W / S) is charged, bpp is divided by the
ORIGINAL pixel count, and the loss is  lambda * MSE + bpp  with the MSE on the
0-255 scale (tensorflow-compression's convention; lambda = 0.01 default as in
the authors' code). Three Adam optimizers (authors' code): transforms and
filters, ResizeParamNet, and the entropy models' priors.

Coding (our design, the authors never wrote it): M is estimated, clamped to
[min_scale, max_scale], quantised to multiples of 1/4096 (bitstream.py) and
the encoder warps with the quantised M, so the decoder reproduces it exactly.
The shrunk image is warped to its occupied region ceil(M H) x ceil(M W),
edge-padded by up to 64 more pixels as on the training canvas and to a
multiple of 16 (`analysis_size`), and only the ceil(M H / S) x ceil(M W / S)
latents training charges are coded, also with a hyperprior
(`coded_latent_size`, S = 16, Sec. III-B). After decoding the image is
cropped, warped back to H x W and post-filtered.

Large images (our design; the paper codes 512 x 768 Kodak and 256 x 256
crops): above `tile_pixels` pixels, every full-resolution network -- the
features of ResizeParamNet before its global pooling (Table I), the Pre- and
Post-filter, both warps (Eq. 3-5) and the codec's g_a and g_s -- runs on
overlapping tiles as wide as its receptive field requires (tiling.py), and
only the cropped, exact part of each tile is kept. The entropy coding of the
latent stays whole. Results equal the whole-image path up to float rounding
(tests/test_tiling.py), and `decompress` runs the very same tiled synthesis
as `reconstruct`, so the two stay bit-identical.
"""
import math

import tensorflow as tf
import tensorflow_compression as tfc

from resizer_tf import _validation
from resizer_tf import bitstream
from resizer_tf import codecs as codecs_lib
from resizer_tf import tiling
from resizer_tf.layers import filters
from resizer_tf.layers import resize_param_net
from resizer_tf.layers import warp as warp_lib

SCALE_ESTIMATORS = ("network", "global")
SEPARATE_SCALES_MODES = ("two_networks", "split_channels")
QUANTIZATIONS = ("noise", "ste", "mixed")


def ceil_scaled(size, scale_q):
  """ceil(size * q / 4096) in integer arithmetic (encoder == decoder)."""
  size = tf.cast(size, tf.int64)
  scale_q = tf.cast(scale_q, tf.int64)
  d = bitstream.SCALE_DENOMINATOR
  return tf.cast((size * scale_q + d - 1) // d, tf.int32)


#: Pixels of edge replication beyond the occupied region when coding (one
#: hyper-latent stride); see `ResizeCompress.analysis_size`.
CODING_MARGIN = 64


#: Images of more than this many pixels are coded in tiles (4 Mpx: a
#: 2048 x 2048 image still takes the whole-image path, as do Kodak, CLIC
#: and 1080p frames; 4K frames and camera photos are tiled).
DEFAULT_TILE_PIXELS = 1 << 22
#: Side of a tile in pixels of the full-resolution image (the decoder's
#: output and the encoder's analysis input): bounds the working memory of
#: one tile (docs/compression.md, "Large images").
DEFAULT_TILE_SIZE = 1024


def pad_to_multiple(x, multiple):
  """Edge-replicates the bottom/right of [B, H, W, C] to a multiple."""
  shape = tf.shape(x)
  h = -(-shape[1] // multiple) * multiple
  w = -(-shape[2] // multiple) * multiple
  return pad_to_size(x, h, w)


def pad_to_size(x, h, w):
  """Edge-replicates the bottom/right of [B, H, W, C] to h x w (>= H, W)."""
  shape = tf.shape(x)
  rows = tf.minimum(tf.range(h), shape[1] - 1)
  cols = tf.minimum(tf.range(w), shape[2] - 1)
  return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class ResizeCompress(tf.keras.Model):
  """A learned codec wrapped in learned resizing (Fig. 3 of Chen et al.).

  Args:
    codec: a `LearnedCodec` instance, or its name (see `codecs.CODEC_NAMES`)
      with `codec_kwargs`.
    resize: False gives the plain codec (the baselines of Table II) through
      the same training and coding code.
    pre_filter, post_filter: False for ablations (b), (c) of Table III.
    kernel: "bicubic" (paper) or "bilinear" (ablation (a)).
    scale_estimator: "network" (ResizeParamNet, paper) or "global" (one
      trainable M for all images, ablation (e)).
    separate_scales: estimate My and Mx (ablation (f)); default one M.
    separate_scales_mode: how (f) estimates them: "two_networks" (the
      paper's "M_x and M_y were predicted by two separate CNNs", twice the
      parameters; default) or "split_channels" (one ResizeParamNet, My and
      Mx the means of the two halves of its 64 channels).
    resize_param_net_variant: "table1" (Table I: 3x3 shortcut, ReLU after
      BN2; default) or "authors" (the authors' released code: 1x1 shortcut,
      no ReLU after BN2); see `layers.resize_param_net.VARIANTS`.
    min_scale, max_scale: M is bounded to [min_scale, max_scale] (our choice;
      the paper states no bound). The bound keeps 1/M finite; in training it
      is `tfc.lower_bound`/`upper_bound`, whose gradient still pushes M back
      inside, so the estimator never gets stuck at the bound.
    initial_scale: initial value of the "global" estimator.
    lmbda: lambda of Eq. (12), weighting the 0-255 MSE against bpp.
    quantization: "noise" (uniform noise, tensorflow-compression's default
      and the paper's), "ste" (rounding with straight-through gradients;
      deterministic, used by tests that compare devices) or "mixed" (noise
      for the rate, rounding for the synthesis: Minnen & Singh 2020; closes
      the noise/rounding gap of short trainings; factorized priors only).
    tile_pixels: `compress`, `decompress` and `reconstruct` code images of
      more than this many pixels in tiles (bounded memory, see the module
      docstring); smaller images take the whole-image path unchanged. None
      never tiles. Default `DEFAULT_TILE_PIXELS` (4 Mpx).
    tile_size: side of those tiles in full-resolution pixels, a multiple of
      64 (default `DEFAULT_TILE_SIZE`, 1024). Decoding is bit-exact for the
      same `tile_pixels` and `tile_size` as `reconstruct`; other settings
      decode the same file to within float rounding.
  """

  def __init__(self, codec, resize=True, pre_filter=True, post_filter=True,
               kernel="bicubic", scale_estimator="network",
               separate_scales=False, min_scale=0.25, max_scale=1.0,
               initial_scale=0.75, lmbda=0.01, quantization="noise",
               codec_kwargs=None, separate_scales_mode="two_networks",
               resize_param_net_variant="table1",
               tile_pixels=DEFAULT_TILE_PIXELS, tile_size=DEFAULT_TILE_SIZE,
               **kwargs):
    super().__init__(**kwargs)
    if isinstance(codec, str):
      codec = codecs_lib.make_codec(codec, **(codec_kwargs or {}))
    elif isinstance(codec, dict):
      codec = tf.keras.utils.deserialize_keras_object(codec)
    if not isinstance(codec, codecs_lib.LearnedCodec):
      raise ValueError(
          f"`codec` must be a LearnedCodec or one of {codecs_lib.CODEC_NAMES}; "
          f"received {codec!r}.")
    if scale_estimator not in SCALE_ESTIMATORS:
      raise ValueError(
          f"`scale_estimator` must be one of {SCALE_ESTIMATORS}; received "
          f"{scale_estimator!r}.")
    if not 0 < min_scale <= max_scale <= 1:
      raise ValueError(
          "Need 0 < min_scale <= max_scale <= 1; received "
          f"min_scale={min_scale}, max_scale={max_scale}.")
    if separate_scales_mode not in SEPARATE_SCALES_MODES:
      raise ValueError(
          f"`separate_scales_mode` must be one of {SEPARATE_SCALES_MODES}; "
          f"received {separate_scales_mode!r}.")
    net_kwargs = resize_param_net.variant_kwargs(resize_param_net_variant)
    if quantization not in QUANTIZATIONS:
      raise ValueError(f"`quantization` must be one of {QUANTIZATIONS}; "
                       f"received {quantization!r}.")
    if quantization == "mixed" and not getattr(
        codec, "supports_mixed_quantization", False):
      raise ValueError(
          f"`quantization='mixed'` is implemented for the factorized-prior "
          f"codecs (balle2017, balle2018_factorized), not {codec.codec_name}.")
    if not math.isfinite(lmbda) or lmbda <= 0:
      raise ValueError(f"`lmbda` must be > 0; received {lmbda}.")
    if tile_pixels is not None and (
        isinstance(tile_pixels, bool) or int(tile_pixels) != tile_pixels or
        tile_pixels < 1):
      raise ValueError("`tile_pixels` must be a positive int or None; "
                       f"received {tile_pixels!r}.")
    if (isinstance(tile_size, bool) or int(tile_size) != tile_size or
        tile_size < 64 or tile_size % 64):
      raise ValueError("`tile_size` must be a positive multiple of 64; "
                       f"received {tile_size!r}.")
    self.tile_pixels = None if tile_pixels is None else int(tile_pixels)
    self.tile_size = int(tile_size)
    self.codec = codec
    self.resize = bool(resize)
    self.use_pre_filter = bool(pre_filter) and self.resize
    self.use_post_filter = bool(post_filter) and self.resize
    self.kernel = kernel
    self.scale_estimator = scale_estimator
    self.separate_scales = bool(separate_scales)
    self.separate_scales_mode = separate_scales_mode
    self.resize_param_net_variant = resize_param_net_variant
    self.min_scale = float(min_scale)
    self.max_scale = float(max_scale)
    self.initial_scale = float(initial_scale)
    self.lmbda = float(lmbda)
    self.quantization = quantization
    self.warp = warp_lib.BicubicWarp(kernel=kernel, name="warp")
    self.pre_filter = filters.PreFilter(name="pre_filter") \
        if self.use_pre_filter else None
    self.post_filter = filters.PostFilter(name="post_filter") \
        if self.use_post_filter else None
    self.scale_net = None
    self.global_scale = None
    if self.resize:
      if scale_estimator == "network" and self.separate_scales and (
          separate_scales_mode == "two_networks"):
        self.scale_net = resize_param_net.SeparateResizeParamNets(
            name="resize_param_net", **net_kwargs)
      elif scale_estimator == "network":
        self.scale_net = resize_param_net.ResizeParamNet(
            num_outputs=2 if self.separate_scales else 1,
            name="resize_param_net", **net_kwargs)
      else:
        self.global_scale = tf.Variable(
            [self.initial_scale] * (2 if self.separate_scales else 1),
            dtype=tf.float32, name="global_scale")
    self.resize_optimizer = None
    self.entropy_optimizer = None

  # -- configuration --------------------------------------------------------

  def get_config(self):
    codec = tf.keras.utils.serialize_keras_object(self.codec)
    # The codec is built by the first call; a build_config here would make
    # configs of built and unbuilt models differ.
    codec.pop("build_config", None)
    return dict(
        codec=codec,
        resize=self.resize, pre_filter=self.use_pre_filter,
        post_filter=self.use_post_filter, kernel=self.kernel,
        scale_estimator=self.scale_estimator,
        separate_scales=self.separate_scales,
        separate_scales_mode=self.separate_scales_mode,
        resize_param_net_variant=self.resize_param_net_variant,
        min_scale=self.min_scale,
        max_scale=self.max_scale, initial_scale=self.initial_scale,
        lmbda=self.lmbda, quantization=self.quantization,
        tile_pixels=self.tile_pixels, tile_size=self.tile_size,
        name=self.name)

  @classmethod
  def from_config(cls, config):
    return cls(**config)

  # -- variable groups for the three optimizers ------------------------------

  @property
  def resize_variables(self):
    if self.scale_net is not None:
      return self.scale_net.trainable_variables
    return [self.global_scale] if self.global_scale is not None else []

  @property
  def entropy_variables(self):
    return self.codec.entropy_model_variables

  @property
  def main_variables(self):
    excluded = {id(v) for v in self.resize_variables + self.entropy_variables}
    return [v for v in self.trainable_variables if id(v) not in excluded]

  # -- the forward model -------------------------------------------------------

  def estimate_scale(self, x, training=None):
    """Unbounded estimate of M: [B, 2] as (My, Mx)."""
    batch = tf.shape(x)[0]
    if self.scale_net is not None:
      m = self.scale_net(x, training=training)
      m = tf.reshape(m, [batch, -1])
    else:
      m = tf.tile(self.global_scale[None], [batch, 1])
    return tf.broadcast_to(m, [batch, 2])

  def bounded_scale(self, m):
    """[min_scale, max_scale], with gradients that point back inside."""
    m = tfc.lower_bound(m, self.min_scale)
    return tfc.upper_bound(m, self.max_scale)

  def _warp(self, x, scale_yx, output_size=None):
    scale = scale_yx if self.separate_scales else scale_yx[:, 0]
    return self.warp(x, scale, output_size=output_size)

  def call(self, x, training=None):
    """Training/evaluation forward pass on a batch in [0, 1].

    Returns dict(x_hat, bits [B], bpp [B], mse [B] (0-255 scale), scale
    [B, 2] (My, Mx), loss [B]).
    """
    x, _ = _validation.check_image_batch(x, "x", channels=3)
    x = tf.cast(x, tf.float32)
    shape = tf.shape(x)
    height, width = shape[1], shape[2]
    noisy = bool(training) and self.quantization in ("noise", "mixed")
    mixed = {"mixed": True} if noisy and self.quantization == "mixed" else {}
    if self.resize:
      scale = self.bounded_scale(self.estimate_scale(x, training))
      x_d = self.pre_filter(x) if self.pre_filter is not None else x
      x_d = self._warp(x_d, scale)
      valid = tf.cast(tf.math.ceil(
          scale * tf.cast(tf.stack([height, width])[None], tf.float32)),
                      tf.int32)
      x_d_hat, bits = self.codec(x_d, training=noisy, valid_size=valid,
                                 **mixed)
      x_hat = self._warp(x_d_hat, 1. / scale)
      if self.post_filter is not None:
        x_hat = self.post_filter(x_hat)
    else:
      scale = tf.ones([shape[0], 2])
      x_hat, bits = self.codec(x, training=noisy, **mixed)
    x_hat = tf.cast(x_hat, tf.float32)
    bpp = bits / tf.cast(height * width, tf.float32)
    mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat),
                         axis=[1, 2, 3]) * 255. ** 2
    return dict(x_hat=x_hat, bits=bits, bpp=bpp, mse=mse, scale=scale,
                loss=self.lmbda * mse + bpp)

  # -- Keras training -----------------------------------------------------------

  def compile(self, optimizer=None, resize_optimizer=None,
              entropy_optimizer=None, **kwargs):
    """Adam 1e-4 for each group by default (Sec. III-F)."""
    super().compile(
        optimizer=optimizer or tf.keras.optimizers.Adam(1e-4), **kwargs)
    self.resize_optimizer = resize_optimizer or tf.keras.optimizers.Adam(1e-4)
    self.entropy_optimizer = entropy_optimizer or tf.keras.optimizers.Adam(1e-4)
    self._metrics_by_name = {
        name: tf.keras.metrics.Mean(name)
        for name in ("loss", "bpp", "mse", "psnr", "scale")}

  @property
  def metrics(self):
    return list(getattr(self, "_metrics_by_name", {}).values())

  def _update_metrics(self, out):
    mse = tf.reduce_mean(out["mse"])
    values = dict(loss=tf.reduce_mean(out["loss"]),
                  bpp=tf.reduce_mean(out["bpp"]), mse=mse,
                  psnr=tf.reduce_mean(
                      10. * tf.math.log(255. ** 2 / out["mse"]) /
                      tf.math.log(10.)),
                  scale=tf.reduce_mean(out["scale"]))
    for name, value in values.items():
      self._metrics_by_name[name].update_state(value)
    return {m.name: m.result() for m in self.metrics}

  def train_step(self, data):
    x = data[0] if isinstance(data, (tuple, list)) else data
    with tf.GradientTape() as tape:
      out = self(x, training=True)
      # Each replica sees 1/n of the global batch; optimizers sum over
      # replicas, so the per-replica mean is divided by n.
      replicas = tf.distribute.get_strategy().num_replicas_in_sync
      loss = tf.reduce_mean(out["loss"]) / replicas
    # Grouped after the forward pass: an unbuilt model creates its variables
    # there, on the first trace.
    groups = [(self.optimizer, self.main_variables),
              (self.resize_optimizer, self.resize_variables),
              (self.entropy_optimizer, self.entropy_variables)]
    groups = [(o, v) for o, v in groups if v]
    variables = [v for _, vs in groups for v in vs]
    grads = tape.gradient(loss, variables)
    start = 0
    for optimizer, vs in groups:
      optimizer.apply_gradients(zip(grads[start:start + len(vs)], vs))
      start += len(vs)
    return self._update_metrics(out)

  def test_step(self, data):
    x = data[0] if isinstance(data, (tuple, list)) else data
    return self._update_metrics(self(x, training=False))

  # -- coding -----------------------------------------------------------------

  def coding_scale(self, x):
    """Quantised (My, Mx) numerators used to code one image [1, H, W, 3]."""
    if not self.resize:
      return tf.fill([2], bitstream.SCALE_DENOMINATOR)
    return self._quantize_coding_scale(
        self.estimate_scale(x, training=False)[0])

  def _quantize_coding_scale(self, m):
    m = tf.clip_by_value(m, self.min_scale, self.max_scale)
    q = bitstream.quantize_scale(m)
    low = bitstream.quantize_scale(self.min_scale)
    high = bitstream.quantize_scale(self.max_scale)
    return tf.clip_by_value(q, low, high)

  def occupied_size(self, height, width, scale_q):
    """(height, width) the shrunk image occupies, int32 [2]: ceil(M H) x
    ceil(M W) in integer arithmetic on the quantised M (H x W without
    Resize)."""
    scale_q = tf.convert_to_tensor(scale_q)
    if self.resize:
      return tf.stack([ceil_scaled(height, scale_q[0]),
                       ceil_scaled(width, scale_q[1])])
    return tf.cast(tf.stack([height, width]), tf.int32)

  def coded_latent_size(self, height, width, scale_q):
    """(h, w) of the coded main latent y, int32 [2], from the original H, W
    and the quantised (My, Mx) numerators of the file header.

    ceil(ceil(M H) / S) x ceil(ceil(M W) / S), S = the codec's stride (16):
    exactly the region training charges (Chen et al. Sec. III-B;
    `codecs.valid_latent_mask`), also with a hyperprior, whose z then has
    ceil(h / 4) x ceil(w / 4) positions. A file whose latent size differs
    from this was not made by this model.
    """
    stride = self.codec.stride
    return -(-self.occupied_size(height, width, scale_q) // stride)

  def latent_canvas(self, height, width):
    """ceil(H / S) x ceil(W / S), int32 [2]: the latent size of the full
    H x W canvas training runs the codec on. The hyperprior's transforms
    see the coded y zero-padded to it, as in training (codecs/base.py)."""
    size = tf.cast(tf.stack([height, width]), tf.int32)
    return -(-size // self.codec.stride)

  def analysis_size(self, height, width, scale_q):
    """(height, width) of the edge-padded image the analysis transform sees
    when coding, int32 [2].

    The occupied region plus up to `CODING_MARGIN` pixels of edge
    replication, never beyond the original size, rounded up to the codec's
    `size_multiple`: the latents near the border then see what they see on
    the training canvas (edge replication up to H x W, docs/design_notes.md §4) rather
    than the zeros of the transforms' padding. Only the first
    `coded_latent_size` latents are coded.
    """
    occupied = self.occupied_size(height, width, scale_q)
    full = tf.cast(tf.stack([height, width]), tf.int32)
    size = tf.minimum(occupied + CODING_MARGIN, tf.maximum(full, occupied))
    multiple = self.codec.size_multiple
    return -(-size // multiple) * multiple

  @staticmethod
  def _check_image(image):
    """uint8 [H, W, 3], 1 <= H, W <= MAX_DIMENSION, H W <= MAX_PIXELS (the
    format's limits, bitstream.py), gated by run-time checks."""
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
      raise ValueError(
          f"`image` must be uint8 [H, W, 3]; received dtype {image.dtype.name}.")
    if image.shape.rank != 3 or image.shape[-1] not in (3, None):
      raise ValueError(
          f"`image` must be uint8 [H, W, 3]; received shape {image.shape}.")
    shape = tf.shape(image)
    pixels = tf.cast(shape[0], tf.int64) * tf.cast(shape[1], tf.int64)
    checks = [tf.debugging.assert_equal(
        shape[2], 3, message="`image` must have 3 channels (RGB)."),
              tf.debugging.assert_greater_equal(
                  tf.reduce_min(shape[:2]), 1,
                  message="`image` must be at least 1x1."),
              tf.debugging.assert_less_equal(
                  tf.reduce_max(shape[:2]), bitstream.MAX_DIMENSION,
                  message=f"`image` is larger than the format's limit of "
                  f"{bitstream.MAX_DIMENSION} pixels per side."),
              tf.debugging.assert_less_equal(
                  pixels, tf.constant(bitstream.MAX_PIXELS, tf.int64),
                  message=f"`image` has more than the format's limit of "
                  f"{bitstream.MAX_PIXELS} pixels (64 Mpx).")]
    with tf.control_dependencies(checks):
      return tf.identity(image)

  def _encoder_side(self, image):
    """uint8 [H, W, 3] -> (padded codec input, scale_q, latent size)."""
    image = self._check_image(image)
    shape = tf.shape(image)
    x = tf.cast(image, tf.float32)[None] / 255.
    height, width = shape[0], shape[1]
    scale_q = self.coding_scale(x)
    if self.resize:
      crop = self.occupied_size(height, width, scale_q)
      m = bitstream.dequantize_scale(scale_q)
      x_d = self.pre_filter(x) if self.pre_filter is not None else x
      x_d = self._warp(x_d, m[None], output_size=crop)
    else:
      x_d = x
    size = self.analysis_size(height, width, scale_q)
    return (pad_to_size(x_d, size[0], size[1]), scale_q,
            self.coded_latent_size(height, width, scale_q))

  def _decoder_side(self, x_d_hat, height, width, scale_q):
    """Codec output (padded) -> uint8 [H, W, 3]."""
    if self.resize:
      crop = self.occupied_size(height, width, scale_q)
      x_d_hat = x_d_hat[:, :crop[0], :crop[1]]
      m = bitstream.dequantize_scale(scale_q)
      x_hat = self._warp(x_d_hat, (1. / m)[None],
                         output_size=tf.stack([height, width]))
      if self.post_filter is not None:
        x_hat = self.post_filter(x_hat)
    else:
      x_hat = x_d_hat[:, :height, :width]
    x_hat = tf.cast(x_hat, tf.float32)
    return tf.cast(tf.round(tf.clip_by_value(x_hat[0], 0., 1.) * 255.),
                   tf.uint8)

  # -- whole image or tiles ------------------------------------------------------

  def uses_tiles(self, height, width):
    """Whether an H x W image is coded in tiles (bool tensor)."""
    if self.tile_pixels is None:
      return tf.constant(False)
    return tf.cast(height, tf.int64) * tf.cast(width, tf.int64) > (
        self.tile_pixels)

  def _by_size(self, height, width, tiled, whole):
    """tiled() for an image above `tile_pixels`, else whole(): a Python
    choice when the size is known (eager), a tf.cond in a traced function
    with a dynamic size (the SavedModel holds both paths)."""
    pred = self.uses_tiles(height, width)
    static = tf.get_static_value(pred)
    if static is not None:
      return tiled() if static else whole()
    return tf.cond(pred, tiled, whole)

  def reconstruct(self, image):
    """What decoding a file gives, computed without range coding.

    uint8 [H, W, 3] -> (uint8 [H, W, 3], bits estimated by the entropy
    models, (My, Mx) as coded).
    """
    image = self._check_image(image)
    shape = tf.shape(image)

    def whole():
      x_d, scale_q, latent = self._encoder_side(image)
      x_d_hat, bits = self.codec(x_d, training=False, latent_size=latent,
                                 latent_canvas=self.latent_canvas(shape[0],
                                                                  shape[1]))
      return (self._decoder_side(x_d_hat, shape[0], shape[1], scale_q),
              bits[0], bitstream.dequantize_scale(scale_q))

    def tiled():
      scale_q, latent, y = self._tiled_encoder_side(image)
      y_hat, bits = self.codec.reconstruct_latent(
          y, self.latent_canvas(shape[0], shape[1]))
      return (self._tiled_decoder_side(y_hat, shape[0], shape[1], scale_q),
              bits[0], bitstream.dequantize_scale(scale_q))
    # The coding kernels, as `decompress` uses them (bit-identical output).
    with self.codec.coding_kernels():
      return self._by_size(shape[0], shape[1], tiled, whole)

  def compress(self, image):
    """uint8 [H, W, 3] -> (file bytes as a scalar tf.string, (My, Mx))."""
    image = self._check_image(image)
    shape = tf.shape(image)
    canvas = self.latent_canvas(shape[0], shape[1])

    def whole():
      x_d, scale_q, latent = self._encoder_side(image)
      return self.codec.compress(x_d, latent_size=latent,
                                 latent_canvas=canvas), scale_q, latent

    def tiled():
      scale_q, latent, y = self._tiled_encoder_side(image)
      return self.codec.compress_latent(y, canvas), scale_q, latent

    # The same file layout either way: only how y was computed differs. One
    # coding-kernel block for all tiles (its freshness check runs once).
    with self.codec.coding_kernels():
      strings, scale_q, latent = self._by_size(shape[0], shape[1], tiled,
                                               whole)
    # Format 2: codec, flags and this model's fingerprint (bitstream.py).
    file = bitstream.pack_for_model(self, shape[0], shape[1], scale_q, latent,
                                    strings)
    return file, bitstream.dequantize_scale(scale_q)

  def decompress(self, file):
    """File bytes (scalar tf.string) -> uint8 [H, W, 3]."""
    # Every header field (model fingerprint, Resize flags, H, W, M, latent
    # size) is checked against this model before anything is allocated.
    fields = bitstream.unpack_for_model(self, file)
    height, width = fields["height"], fields["width"]
    canvas = self.latent_canvas(height, width)

    def whole():
      x_d_hat = self.codec.decompress(fields["strings"], fields["latent_size"],
                                      latent_canvas=canvas)
      return self._decoder_side(x_d_hat, height, width, fields["scale_q"])

    def tiled():
      y_hat = self.codec.decompress_latent(
          fields["strings"], fields["latent_size"], latent_canvas=canvas)
      return self._tiled_decoder_side(y_hat, height, width, fields["scale_q"])
    with self.codec.coding_kernels():
      return self._by_size(height, width, tiled, whole)

  # -- the tiled path (large images) ---------------------------------------------

  def _scale_networks(self):
    nets = self.scale_net
    if isinstance(nets, resize_param_net.SeparateResizeParamNets):
      return [nets.net_y, nets.net_x]
    return [nets]

  def _tiled_coding_scale(self, image):
    """`coding_scale` of uint8 [H, W, 3] (`_tiled_estimate_scale`)."""
    if not self.resize:
      return tf.fill([2], bitstream.SCALE_DENOMINATOR)
    if self.scale_net is None:  # One global M: no network to run.
      return self.coding_scale(tf.zeros([1, 1, 1, 3]))
    return self._quantize_coding_scale(self._tiled_estimate_scale(image))

  def _tiled_estimate_scale(self, image):
    """`estimate_scale` (My, Mx) [2] of uint8 [H, W, 3]: ResizeParamNet's
    features computed in tiles and their global average pooled from per-tile
    sums, so M equals the whole-image estimate up to float rounding."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    m = []
    for net in self._scale_networks():
      stride = net.feature_stride
      before, after = tiling.down_halo(net.receptive_field, stride)
      # "same" poolings: ceil(ceil(ceil(H / 2) / 2) / 2) = ceil(H / 8).
      fh, fw = -(-height // stride), -(-width // stride)
      t = self.tile_size // stride

      def tile(i, j, net=net, stride=stride, before=before, after=after,
               t=t, fh=fh, fw=fw):
        (r0, r1), (c0, c1) = (tiling.tile_span(i, t, fh),
                              tiling.tile_span(j, t, fw))
        # Starts at multiples of the stride keep every pooling's phase.
        y0 = tf.maximum(r0 * stride - before, 0)
        x0 = tf.maximum(c0 * stride - before, 0)
        y1 = tf.minimum(r1 * stride + after, height)
        x1 = tf.minimum(c1 * stride + after, width)
        x = tf.cast(image[y0:y1, x0:x1], tf.float32)[None] / 255.
        f = net.features(x, training=False)
        f = f[:, r0 - y0 // stride:r1 - y0 // stride,
              c0 - x0 // stride:c1 - x0 // stride]
        return tf.reduce_sum(f, axis=[1, 2])
      sums = tiling.accumulate(tiling.num_tiles(fh, t),
                               tiling.num_tiles(fw, t), tile,
                               tf.zeros([1, net.stages[-1]]))
      m.append(tf.reshape(net.pool_feature_sums(sums, fh * fw), [1, -1]))
    return tf.broadcast_to(tf.concat(m, axis=1), [1, 2])[0]

  def _tiled_encoder_side(self, image):
    """uint8 [H, W, 3] -> (scale_q, latent size, y [1, h, w, C]).

    y = g_a(edge-padded warp of the pre-filtered image), as `_encoder_side`
    and the codec's analysis compute it, latent tile by latent tile: each
    tile of y reads the padded image over its receptive field (`tiling`),
    which reads the warped image clamped to its occupied region (the edge
    padding), which reads the pre-filtered image around the warp's taps,
    which reads the image within the filter's 3-pixel halo.
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    full = tf.stack([height, width])
    scale_q = self._tiled_coding_scale(image)
    latent = self.coded_latent_size(height, width, scale_q)
    occupied = self.occupied_size(height, width, scale_q)
    padded = self.analysis_size(height, width, scale_q)
    m = bitstream.dequantize_scale(scale_q)[None]
    stride = self.codec.stride
    before, after = tiling.down_halo(self.codec.analysis_field, stride)
    pre = (tiling.same_halo(self.pre_filter.receptive_field)
           if self.pre_filter is not None else (0, 0))
    # Latent tiles of about tile_size pixels of the ORIGINAL image per side:
    # a window of the shrunk image reads 1 / M times as many pre-filtered
    # pixels (at M = 1/4 a tile of 1024 / 16 latents would read 4096 px).
    t = tf.maximum(self.tile_size * scale_q // (
        bitstream.SCALE_DENOMINATOR * stride), 1)

    def tile(i, j):
      spans = (tiling.tile_span(i, t[0], latent[0]),
               tiling.tile_span(j, t[1], latent[1]))
      # Padded-image window of g_a (starts at multiples of the stride).
      lo_p = [tf.maximum(s[0] * stride - before, 0) for s in spans]
      hi_p = [tf.minimum(s[1] * stride + after, padded[k]) - 1
              for k, s in enumerate(spans)]
      # Its rows and columns of the warped image (edge padding clamps).
      lo_d = [tf.minimum(lo_p[k], occupied[k] - 1) for k in range(2)]
      hi_d = [tf.minimum(hi_p[k], occupied[k] - 1) for k in range(2)]
      if self.resize:
        lo_f, hi_f = zip(*[self.warp.window_input_range(
            lo_d[k], hi_d[k], m[0, k], full[k]) for k in range(2)])
        lo_x = [tf.maximum(lo_f[k] - pre[0], 0) for k in range(2)]
        hi_x = [tf.minimum(hi_f[k] + pre[1], full[k] - 1) for k in range(2)]
        x = tf.cast(image[lo_x[0]:hi_x[0] + 1, lo_x[1]:hi_x[1] + 1],
                    tf.float32)[None] / 255.
        if self.pre_filter is not None:
          x = self.pre_filter(x)
        x = x[:, lo_f[0] - lo_x[0]:hi_f[0] - lo_x[0] + 1,
              lo_f[1] - lo_x[1]:hi_f[1] - lo_x[1] + 1]
        x_d = self.warp.window(
            x, m, out_start=tf.stack(lo_d),
            out_size=tf.stack(hi_d) - tf.stack(lo_d) + 1,
            in_start=tf.stack(lo_f), full_size=full, full_out_size=occupied)
      else:
        x_d = tf.cast(image[lo_d[0]:hi_d[0] + 1, lo_d[1]:hi_d[1] + 1],
                      tf.float32)[None] / 255.
      # Edge replication beyond the occupied region, as `pad_to_size`.
      x_p = x_d
      for k in range(2):
        index = tf.minimum(tf.range(lo_p[k], hi_p[k] + 1),
                           occupied[k] - 1) - lo_d[k]
        x_p = tf.gather(x_p, index, axis=k + 1)
      y = self.codec.analysis_transform(x_p)
      off = [(spans[k][0] * stride - lo_p[k]) // stride for k in range(2)]
      return y[0, off[0]:off[0] + spans[0][1] - spans[0][0],
               off[1]:off[1] + spans[1][1] - spans[1][0]]
    y = tiling.assemble(tiling.num_tiles(latent[0], t[0]),
                        tiling.num_tiles(latent[1], t[1]), tile, tf.float32,
                        self.codec.num_latent)
    return scale_q, latent, y[None]

  def _tiled_decoder_side(self, y_hat, height, width, scale_q):
    """y_hat [1, h, w, C] -> uint8 [H, W, 3], output tile by output tile:
    the Post-filter's 3-pixel halo, the warp's taps in the occupied region,
    and the latents g_s needs for them (`tiling.up_halo`)."""
    full = tf.stack([height, width])
    occupied = self.occupied_size(height, width, scale_q)
    inverse = (1. / bitstream.dequantize_scale(scale_q))[None]
    latent = tf.shape(y_hat)[1:3]
    stride = self.codec.stride
    before, after = tiling.up_halo(self.codec.synthesis_field, stride)
    post = (tiling.same_halo(self.post_filter.receptive_field)
            if self.post_filter is not None else (0, 0))
    t = self.tile_size

    def tile(i, j):
      spans = (tiling.tile_span(i, t, height), tiling.tile_span(j, t, width))
      if self.resize:
        lo_u = [tf.maximum(spans[k][0] - post[0], 0) for k in range(2)]
        hi_u = [tf.minimum(spans[k][1] - 1 + post[1], full[k] - 1)
                for k in range(2)]
        lo_q, hi_q = zip(*[self.warp.window_input_range(
            lo_u[k], hi_u[k], inverse[0, k], occupied[k]) for k in range(2)])
      else:
        lo_q = [s[0] for s in spans]
        hi_q = [s[1] - 1 for s in spans]
      lo_l = [tf.maximum(lo_q[k] // stride - before, 0) for k in range(2)]
      hi_l = [tf.minimum(hi_q[k] // stride + after, latent[k] - 1)
              for k in range(2)]
      x = self.codec.synthesis_transform(
          y_hat[:, lo_l[0]:hi_l[0] + 1, lo_l[1]:hi_l[1] + 1])
      x = x[:, lo_q[0] - stride * lo_l[0]:hi_q[0] - stride * lo_l[0] + 1,
            lo_q[1] - stride * lo_l[1]:hi_q[1] - stride * lo_l[1] + 1]
      if self.resize:
        x = self.warp.window(
            x, inverse, out_start=tf.stack(lo_u),
            out_size=tf.stack(hi_u) - tf.stack(lo_u) + 1,
            in_start=tf.stack(lo_q), full_size=occupied, full_out_size=full)
        if self.post_filter is not None:
          x = self.post_filter(x)
        x = x[:, spans[0][0] - lo_u[0]:spans[0][1] - lo_u[0],
              spans[1][0] - lo_u[1]:spans[1][1] - lo_u[1]]
      x = tf.cast(x, tf.float32)
      return tf.cast(tf.round(tf.clip_by_value(x[0], 0., 1.) * 255.),
                     tf.uint8)
    return tiling.assemble(tiling.num_tiles(height, t),
                           tiling.num_tiles(width, t), tile, tf.uint8, 3)
