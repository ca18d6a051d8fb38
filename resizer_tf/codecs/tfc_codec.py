"""Building blocks shared by the codecs made of tensorflow-compression layers.

`signal_conv` and `gdn` give tfc's SignalConv2D/GDN with the settings of
tfc's bls2017/bmshj2018 models; `TfcCodec` is the Keras plumbing (variable
storage in `.keras` files) and the coding-time kernel cache that Ballé17,
Ballé18 and Cheng20 share.

Kernel cache (issue 10, "coding speed"). tfc parameterises SignalConv2D
kernels in the frequency domain by default ("rdft": Ballé et al., "Efficient
nonlinear transforms for lossy image compression", PCS 2018, Sec. 2), so
reading `layer.kernel` runs an inverse real FFT of the trainable spectrum --
on every call, also when coding, where the weights no longer change. That
was about a third of Ballé17's encode time. `TfcCodec.prepare_for_coding()`
therefore evaluates every such kernel once, eagerly, and keeps the values
as constants (`SignalConv2D.coding_kernel`); the coding paths (`compress`,
`decompress`, their tiled pieces, and `ResizeCompress.reconstruct`) read
them inside `TfcCodec.coding_kernels()`. Training and `call` keep reading
the live parameterisation (by one matmul, `rdft_kernel.py`).

Contract, the same as for the range-coding tables: call
`prepare_for_coding()` again after any further training. Unlike stale
tables (which are hashed into the file's model fingerprint, so a stale
model still writes files only it decodes), stale kernels would code with
weights the fingerprint does not describe, so they are refused:
`coding_kernels()` compares the kernel parameters bitwise with a copy of
those the cache was made from and raises if the weights changed since. The
cache is not a weight: `codec.weights`, the model fingerprint, `.keras`
files and weights files are exactly as without it, and it is rebuilt from
the weights when a `.keras` file is loaded. Cached kernels are the very values `layer.kernel`
gives, so files are byte-identical to uncached coding.
"""
import contextlib

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from resizer_tf.codecs import _entropy
from resizer_tf.codecs import base
from resizer_tf.codecs import rdft_kernel


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
  return SignalConv2D(
      filters, (kernel, kernel), padding="same_zeros", use_bias=use_bias,
      activation=activation, name=name, **stride_kwargs, **kwargs)


# Same class name as tfc's, so `.keras` files (which address sublayers by
# their snake-cased class name) keep their layout.
@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class SignalConv2D(tfc.SignalConv2D):
  """`tfc.SignalConv2D` that can read a precomputed kernel while coding.

  `cache_coding_kernel()` stores the current `kernel` as a constant; while
  the owning codec's `coding_kernels()` block is active, `kernel` returns
  it instead of re-deriving it from the parameter. tfc's `call` reads the
  kernel only through the public `kernel` property, so overriding that
  property is all it takes (no tfc private is touched; tests check that
  coding really uses the cache). Outside that block (training, `call`)
  nothing changes.
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._coding_kernel = None
    self._read_coding_kernel = False

  @property
  def kernel(self):
    if self._read_coding_kernel:
      return self._coding_kernel
    return self._derive_kernel()

  def _derive_kernel(self):
    # The RDFT kernel by one matmul instead of tfc's per-channel-pair FFTs:
    # same variables and maths, ~4x faster forward + backward per layer
    # (rdft_kernel.py).
    if rdft_kernel.is_matmul_compatible(self.kernel_parameter):
      return rdft_kernel.rdft_kernel(self.kernel_parameter,
                                     self.compute_dtype)
    return super().kernel

  @property
  def use_explicit(self) -> bool:
    # oneDNN has no bfloat16 kernel for convolutions with EXPLICIT padding:
    # TF falls back to a generic one, 40x slower than zero pre-padding plus
    # VALID (measured: 5x5/2 128->128 layer forward + backward, 264 vs 6 ms;
    # transposed 2,190 vs 43 ms). Same maths; float32 keeps tfc's path, so
    # coded files do not change.
    if self.compute_dtype == "bfloat16":
      return False
    return self._use_explicit

  @use_explicit.setter
  def use_explicit(self, value):
    self._use_explicit = bool(value)

  def get_config(self):
    # The constructor's choice, not the bfloat16 override: a config rebuilt
    # under float32 takes tfc's path again.
    return dict(super().get_config(), use_explicit=self._use_explicit)

  @property
  def derives_kernel(self):
    """Whether reading `kernel` computes it (e.g. "rdft"), rather than
    reading a variable; only such kernels are worth caching."""
    return not isinstance(self.kernel_parameter, tf.Variable)

  @property
  def coding_kernel(self):
    """The cached kernel (compute dtype), or None."""
    return self._coding_kernel

  def kernel_source_variables(self):
    """The variables the kernel is derived from, in a fixed order."""
    return list(getattr(self.kernel_parameter, "variables", ()))

  def cache_coding_kernel(self):
    """Evaluates `kernel` now (eagerly) and keeps the value for coding."""
    with tf.init_scope():
      # An EagerTensor, not a tf.Variable: Keras does not track it, so it
      # is not a weight (fingerprints, `.keras` and weights files are
      # unchanged); traced coding functions and SavedModels capture it as a
      # constant.
      self._coding_kernel = tf.identity(self._derive_kernel())
    return self._coding_kernel

  def clear_coding_kernel(self):
    self._coding_kernel = None
    self._read_coding_kernel = False


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


class _KernelCache:
  """Which layers hold cached kernels, and a copy of the variables they
  were made from. A plain object on purpose: Keras does not track it, so it
  adds no weights or checkpoint dependencies.

  The copy costs as much memory as the cached kernels themselves; comparing
  against it is what every eager coding call pays, and a bitwise compare
  measured 5.0 ms against 9.4 ms for a SHA-256 of the same 2M parameters
  (Ballé17, N = 128; medians of 9 interleaved rounds, load 1).
  """

  def __init__(self, layers):
    self.layers = tuple(layers)
    self._sources = [bits.copy() for bits in self._bits()]

  def _bits(self):
    """Bit patterns of the source variables (views, not copies): a NaN
    weight equals itself and -0 differs from 0."""
    with tf.init_scope():
      values = [np.ascontiguousarray(v.numpy()) for layer in self.layers
                for v in layer.kernel_source_variables()]
    return [a.view(f"u{a.dtype.itemsize}") for a in values]

  def is_current(self):
    now = self._bits()
    # array_equal is False for different shapes; equal bits need equal widths.
    return len(now) == len(self._sources) and all(
        a.dtype == b.dtype and np.array_equal(a, b)
        for a, b in zip(now, self._sources))


class TfcCodec(base.LearnedCodec):
  """Keras plumbing for codecs made of tfc layers (all Ballé codecs).

  Subclasses create every variable in `__init__`, list their transform
  sub-models in `_transform_layers()`, build their range-coding tables in
  `_prepare_tables()` and run every coding path inside `coding_kernels()`
  (see the module docstring for the kernel cache).
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._kernel_cache = None
    self._kernel_cache_depth = 0

  def _set_filters(self, num_filters, num_latent):
    if int(num_filters) < 1 or int(num_latent) < 1:
      raise ValueError(
          "`num_filters` and `num_latent` must be >= 1; received "
          f"{num_filters}, {num_latent}.")
    self.num_filters = int(num_filters)
    self.num_latent = int(num_latent)

  def _transform_layers(self):
    raise NotImplementedError

  def _prepare_tables(self):
    raise NotImplementedError

  def prepare_for_coding(self, cache_kernels=True):
    """Readies the codec to code: call once after training (eagerly).

    Builds the range-coding tables from the trained priors and, with
    `cache_kernels`, evaluates the transforms' kernels once for coding
    (module docstring). Call it again after any further training: coding
    refuses kernels cached from other weights. `cache_kernels=False`
    drops the cache (coding then derives the kernels on every call, as
    training does; for tests and benchmarks).
    """
    self._prepare_tables()
    if cache_kernels:
      self._cache_kernels()
    else:
      self._clear_kernel_cache()

  def _cached_conv_layers(self):
    """The SignalConv2D layers of the transforms whose kernel is derived."""
    layers, seen = [], set()
    for model in self._transform_layers():
      for layer in [model, *model.submodules]:
        if (isinstance(layer, SignalConv2D) and layer.derives_kernel and
            id(layer) not in seen):
          seen.add(id(layer))
          layers.append(layer)
    return layers

  def _cache_kernels(self):
    if not tf.executing_eagerly():
      raise RuntimeError(
          "`prepare_for_coding()` evaluates the coding kernels and must be "
          "called eagerly (outside tf.function).")
    if self._kernel_cache_depth:
      raise RuntimeError("Cannot rebuild the kernel cache while coding.")
    layers = self._cached_conv_layers()
    for layer in layers:
      layer.cache_coding_kernel()
    self._kernel_cache = _KernelCache(layers)
    self._kernel_cache_changed()

  def _clear_kernel_cache(self):
    for layer in self._cached_conv_layers():
      layer.clear_coding_kernel()
    self._kernel_cache = None
    self._kernel_cache_changed()

  def _kernel_cache_changed(self):
    """Hook: drop anything traced with the previous kernels."""

  @property
  def cached_kernel_layers(self):
    """The layers whose kernels are cached for coding ([] without a cache)."""
    return list(self._kernel_cache.layers) if self._kernel_cache else []

  @contextlib.contextmanager
  def coding_kernels(self):
    """Within the block, the transforms read the kernels cached by
    `prepare_for_coding()` (module docstring); without a cache, the live
    ones. Re-entrant; the outermost entry checks, eagerly (in a
    tf.function: when tracing), that the weights are still those the cache
    was made from.

    Raises:
      RuntimeError: the kernel parameters changed since the cache was built
        (more training, loaded weights): call `prepare_for_coding()` again.
    """
    cache = self._kernel_cache if self._kernel_cache_depth == 0 else None
    if cache is not None and not cache.is_current():
      raise RuntimeError(
          f"`{self.name}`: the transform weights changed since "
          "`prepare_for_coding()` cached the coding kernels (further "
          "training or loaded weights): call `prepare_for_coding()` again "
          "before compress/decompress.")
    layers = cache.layers if cache is not None else ()
    for layer in layers:
      layer._read_coding_kernel = True  # pylint: disable=protected-access
    self._kernel_cache_depth += 1
    try:
      yield
    finally:
      self._kernel_cache_depth -= 1
      for layer in layers:
        layer._read_coding_kernel = False  # pylint: disable=protected-access

  def _transform_layer_variables(self):
    return [v for layer in self._transform_layers() for v in layer.weights]

  # tfc keeps kernels and GDN parameters in tf.Modules, which `.keras` files
  # skip; store them here (the entropy layers store priors and tables).
  def save_own_variables(self, store):
    _entropy.save_variables(store, self._transform_layer_variables())

  def load_own_variables(self, store):
    _entropy.load_variables(store, self._transform_layer_variables(),
                            owner=self.name)
    # The file stores weights, not the cache: derive it from them (a model
    # loaded for coding is then as fast as a freshly prepared one; one
    # loaded to train further must be prepared again anyway).
    self._cache_kernels()

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
