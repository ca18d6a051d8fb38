"""The contract every learned codec in `resizer_tf.codecs` fulfils.

`ResizeCompress` (resize_compress.py), the file format (bitstream.py) and the
training and evaluation binaries talk to codecs only through this class.

Conventions:
  * Images are float32 in [0, 1], shape [B, H, W, 3].
  * `call(x, training, valid_size)` returns `(x_hat, bits)`: the
    reconstruction (same shape as x) and the rate in bits per image, shape
    [B], float32. With training=True the latents are perturbed with uniform
    noise as tensorflow-compression does (`ContinuousBatchedEntropyModel(...,
    training=True)`); with training=False they are hard-quantised exactly as
    `compress` quantises them, so `decompress(compress(x))` equals
    `call(x, training=False)[0]` bit for bit.
  * `valid_size` (optional, int32 [B, 2]) is the occupied (height, width) of
    each image in pixels: latents outside ceil(valid / stride) are excluded
    from the rate and set to zero before synthesis, which is what coding a
    cropped image does (Chen et al., Sec. III-B and docs/design_notes.md §4).
  * `compress(x, latent_size=None)` takes ONE image [1, H, W, 3] with H and
    W multiples of `size_multiple` and returns a list of scalar tf.string
    tensors. With `latent_size` (int32 [2], at most y's size) only the
    top-left latent_size of y is coded, and the hyperprior (if any) sees y
    cropped to it (its "same_zeros" convolutions extend it with zeros, as
    the training mask does). `call(x, training=False, latent_size=...)`
    crops identically and then returns x_hat of [B, 16h, 16w, 3] at most.
    ResizeCompress uses this to code exactly the ceil(M H / S) x
    ceil(M W / S) latents training charges, from an image edge-padded beyond
    the occupied region as the training canvas is (Chen et al. Sec. III-B).
    `latent_canvas` (int32 [2], >= latent_size; for codecs with a
    hyperprior) is the latent size of the canvas training would see: y is
    zero-padded to it before h_a and z_hat before h_s, exactly as training
    zeroes them outside the occupied region, and only the ceil(h / 4) x
    ceil(w / 4) positions of z training charges are coded. `decompress` and
    `call` take the same argument;
    `decompress(strings, latent_size)` inverts it. `latent_size` is the int32
    [2] size of the main latent y; the caller stores it (bitstream.py).
    Both run on CPU and are deterministic. Call `prepare_for_coding()` once
    after training (it builds the range-coding tables and caches the
    transforms' kernels, tfc_codec.py) before coding, and again after any
    further training.
  * Every coding path (`compress`, `decompress`, the tiled pieces below,
    `ResizeCompress.reconstruct`) runs inside `coding_kernels()`, where the
    transforms may use what `prepare_for_coding()` precomputed; `call`
    never does.
  * Variables are split for the optimizers: `entropy_model_variables` (the
    priors) and `transform_variables` (everything else).
  * Tiled coding of large images (resize_compress.py, tiling.py) uses the
    pieces of `compress`/`decompress`/`call(training=False)` separately:
    `analysis_transform(x)` -> y and `synthesis_transform(y_hat)` -> x_hat,
    run on overlapping tiles as wide as `analysis_field` /
    `synthesis_field` (their receptive fields, `tiling.Chain`) require, and
    the latent-level coding on the whole y: `compress_latent(y,
    latent_canvas)` -> strings, `decompress_latent(strings, latent_size,
    latent_canvas)` -> y_hat and `reconstruct_latent(y, latent_canvas)` ->
    (y_hat, bits), where y_hat equals what `decompress_latent` returns bit
    for bit. They are the same ops as the whole-image methods, in the same
    order.
"""
import contextlib

import tensorflow as tf


class LearnedCodec(tf.keras.Model):
  """Abstract base of the learned codecs."""

  #: Short name stored in configs and on the command line.
  codec_name = None
  #: Small int written into compressed files (never reuse a value).
  codec_id = None
  #: Downsampling factor of the main latent y (S of Sec. III-B).
  stride = 16
  #: H and W given to `compress` must be multiples of this (>= stride; e.g.
  #: 64 when a hyperprior downsamples y by 4 more).
  size_multiple = 16
  #: How many strings `compress` returns (fixed per codec).
  num_strings = 1

  def call(self, x, training=None, valid_size=None, latent_size=None,
           latent_canvas=None):
    raise NotImplementedError

  def compress(self, x, latent_size=None, latent_canvas=None):
    raise NotImplementedError

  def decompress(self, strings, latent_size, latent_canvas=None):
    raise NotImplementedError

  def prepare_for_coding(self):
    raise NotImplementedError

  def coding_kernels(self):
    """Context for the coding paths (see the module docstring); codecs with
    nothing precomputed for coding need not override it."""
    return contextlib.nullcontext()

  #: Receptive fields of g_a and g_s along one axis (`tiling.Chain`).
  analysis_field = None
  synthesis_field = None

  def analysis_transform(self, x):
    """y = g_a(x), float32 [B, H / 16, W / 16, C] (as `compress` codes it)."""
    with self.coding_kernels():
      return tf.cast(self.analysis(tf.cast(x, self.compute_dtype)),
                     tf.float32)

  def synthesis_transform(self, y_hat):
    """x_hat = g_s(y_hat), float32 [B, 16 h, 16 w, 3]."""
    with self.coding_kernels():
      return tf.cast(self.synthesis(tf.cast(y_hat, self.compute_dtype)),
                     tf.float32)

  def compress_latent(self, y, latent_canvas=None):
    """`compress` after the analysis: y [1, h, w, C] -> list of strings."""
    raise NotImplementedError

  def decompress_latent(self, strings, latent_size, latent_canvas=None):
    """`decompress` before the synthesis: -> y_hat float32 [1, h, w, C]."""
    raise NotImplementedError

  def reconstruct_latent(self, y, latent_canvas=None):
    """`call(training=False)` after the analysis: y -> (y_hat, bits [B])."""
    raise NotImplementedError

  @property
  def entropy_model_variables(self):
    raise NotImplementedError

  @property
  def transform_variables(self):
    ids = {id(v) for v in self.entropy_model_variables}
    return [v for v in self.trainable_variables if id(v) not in ids]


def valid_latent_mask(valid_size, stride, latent_shape):
  """1 inside the occupied latent region ceil(valid_size / stride), else 0.

  Args:
    valid_size: int [B, 2], occupied (height, width) in input pixels.
    stride: the latent's total downsampling factor.
    latent_shape: shape of the latent, [B, h, w, C] (static or dynamic).
  Returns:
    float32 [B, h, w, 1].
  """
  valid_size = tf.cast(valid_size, tf.int32)
  occupied = -(-valid_size // stride)  # ceil division
  rows = tf.range(latent_shape[1])[None, :] < occupied[:, :1]
  cols = tf.range(latent_shape[2])[None, :] < occupied[:, 1:]
  mask = tf.logical_and(rows[:, :, None], cols[:, None, :])
  return tf.cast(mask, tf.float32)[..., None]


def _latent_size_tensor(latent_size):
  """`latent_size` as int32 [2] (height, width of y); ValueError otherwise."""
  latent_size = tf.convert_to_tensor(latent_size)
  if not latent_size.dtype.is_integer or latent_size.shape.rank != 1 or (
      latent_size.shape[0] not in (None, 2)):
    raise ValueError(
        "`latent_size` must be an int32 tensor of shape [2] (height, width "
        f"of y); received {latent_size.dtype.name} {latent_size.shape}.")
  return tf.cast(latent_size, tf.int32)


def crop_latent(y, latent_size):
  """y[:, :h, :w] for `latent_size` (h, w) (None: y unchanged).

  Run-time check that (h, w) is positive and fits inside y.
  """
  if latent_size is None:
    return y
  latent_size = _latent_size_tensor(latent_size)
  checks = [tf.debugging.assert_positive(
      latent_size, message="`latent_size` entries must be > 0."),
            tf.debugging.assert_less_equal(
                latent_size, tf.shape(y)[1:3],
                message="`latent_size` exceeds the latent of the image.")]
  with tf.control_dependencies(checks):
    return y[:, :latent_size[0], :latent_size[1]]


def check_valid_size(valid_size, images):
  """Validates `valid_size` (int [B, 2], > 0) against `images` [B, H, W, C].

  Returns the int32 tensor, with run-time checks attached in graph mode.
  """
  valid_size = tf.convert_to_tensor(valid_size)
  if not valid_size.dtype.is_integer:
    raise ValueError(
        "`valid_size` must be an integer tensor of (height, width) in "
        f"pixels; received dtype {valid_size.dtype.name}.")
  if valid_size.shape.rank != 2 or valid_size.shape[-1] not in (None, 2):
    raise ValueError(
        "`valid_size` must have shape [batch, 2] (height, width); received "
        f"shape {valid_size.shape}.")
  valid_size = tf.cast(valid_size, tf.int32)
  checks = [
      tf.debugging.assert_equal(
          tf.shape(valid_size)[0], tf.shape(images)[0],
          message="`valid_size` must have one row per image."),
      tf.debugging.assert_positive(
          valid_size, message="`valid_size` entries must be > 0."),
  ]
  with tf.control_dependencies(checks):
    return tf.identity(valid_size)


def check_compress_input(x, size_multiple):
  """Checks the single image given to `LearnedCodec.compress`.

  Expects float [1, H, W, 3], finite, H and W multiples of `size_multiple`.
  Static violations raise ValueError; dynamic ones InvalidArgumentError.
  Returns float32 `x` with the run-time checks attached.
  """
  x = tf.convert_to_tensor(x)
  if x.shape.rank != 4 or x.shape[-1] not in (None, 3):
    raise ValueError(
        "`compress` expects one RGB image of shape [1, height, width, 3]; "
        f"received shape {x.shape}.")
  if not x.dtype.is_floating:
    raise ValueError(
        "`compress` expects a float image in [0, 1]; received dtype "
        f"{x.dtype.name}.")
  if x.shape[0] not in (None, 1):
    raise ValueError(
        "`compress` codes one image at a time (batch 1); received batch "
        f"{x.shape[0]}.")
  for axis, name in ((1, "height"), (2, "width")):
    n = x.shape[axis]
    if n is not None and n % size_multiple:
      raise ValueError(
          f"`compress` needs {name} to be a multiple of {size_multiple}; "
          f"received {n} (shape {x.shape}).")
  x = tf.cast(x, tf.float32)
  shape = tf.shape(x)
  checks = [
      tf.debugging.assert_equal(
          shape[0], 1, message="`compress` codes one image (batch 1)."),
      tf.debugging.assert_equal(
          shape[1:3] % size_multiple, 0,
          message=(f"`compress` needs height and width to be multiples of "
                   f"{size_multiple}.")),
      tf.debugging.assert_all_finite(x, "`compress` input has NaN or Inf."),
  ]
  with tf.control_dependencies(checks):
    return tf.identity(x)


def check_decompress_input(strings, latent_size, num_strings):
  """Checks the arguments of `LearnedCodec.decompress`.

  `strings` must be a list of `num_strings` scalar tf.string tensors and
  `latent_size` an int [2] of positive values. Returns (strings, latent_size)
  as tensors, latent_size int32 with run-time checks attached.
  """
  if isinstance(strings, (bytes, str)) or tf.is_tensor(strings):
    strings = [strings]
  strings = [tf.convert_to_tensor(s, tf.string) for s in strings]
  if len(strings) != num_strings or any(s.shape.rank != 0 for s in strings):
    raise ValueError(
        f"`decompress` expects a list of {num_strings} scalar tf.string "
        f"tensors (as returned by `compress`); received {len(strings)} with "
        f"shapes {[s.shape for s in strings]}.")
  latent_size = _latent_size_tensor(latent_size)
  checks = [
      tf.debugging.assert_equal(
          tf.size(latent_size), 2, message="`latent_size` must have 2 values."),
      tf.debugging.assert_positive(
          latent_size, message="`latent_size` entries must be > 0."),
  ]
  with tf.control_dependencies(checks):
    return strings, tf.identity(latent_size)
