"""The compressed-file format of resizer_tf, written and read with TF ops.

Every op is a TF op so that the SavedModel's `compress` signature returns a
complete file and `decompress` takes one (no Python in serving).

Format version 2 (all integers big-endian):

  offset  size  field
  0       4     magic b"RZTF"
  4       1     format version (2)
  5       1     codec id (LearnedCodec.codec_id)
  6       1     flags: bit 0 = Resize-Compress, bit 1 = separate My, Mx;
                other bits must be 0
  7       1     number of codec strings n
  8       4     original height H, 1 <= H <= MAX_DIMENSION
  12      4     original width W, 1 <= W <= MAX_DIMENSION, H W <= MAX_PIXELS
  16      2     My quantised: My = q / SCALE_DENOMINATOR
  18      2     Mx quantised
  20      2     height of the main latent y
  22      2     width of the main latent y
  24      8     model fingerprint: the first 8 bytes of the SHA-256 of the
                model's coding spec, weights and range-coding tables
                (`compute_model_fingerprint`)
  32      8     checksum: FarmHash Fingerprint64 (`tf.fingerprint`) of bytes
                [0, 32) followed by bytes [40, end)
  40      4n    lengths of the n codec strings
  40+4n   ...   the codec strings

M is quantised to multiples of 1/4096 (exact in float32, finer than any
visible change of a warp); both encoder and decoder warp with q / 4096.

Decoding (`unpack`) checks, in this order and before any allocation that
depends on the file: size, magic, version, flags, codec, string count,
lengths, checksum, model fingerprint, the Resize flags against the model,
H and W against the limits, M against the model's [min_scale, max_scale],
and the latent size against what H, W and M imply. A file therefore either
decodes with the model that made it or is refused with one clear message.

The checksum guards against accidental corruption (a 64-bit hash with no
blind spot for small edits, unlike Adler-32 in format 1); it is a TF op so
that SavedModels verify it without Python (TF has no SHA op). It is not a
signature: a forged file can carry a valid checksum, which is why every
header field is also validated.
"""
import contextlib
import hashlib
import json
import struct

import numpy as np
import tensorflow as tf

MAGIC = b"RZTF"
VERSION = 2
SCALE_DENOMINATOR = 4096
FINGERPRINT_BYTES = 8
CHECKSUM_BYTES = 8
HEADER_BYTES = 40
_CHECKSUM_OFFSET = 32
FLAG_RESIZE = 1
FLAG_SEPARATE_SCALES = 2
KNOWN_FLAGS = FLAG_RESIZE | FLAG_SEPARATE_SCALES
#: Largest height or width a file may declare (and `compress` accepts).
MAX_DIMENSION = 32768
#: Largest H * W a file may declare (and `compress` accepts): 64 Mpx, above
#: a 50 MP camera photo and an 8K frame (33 Mpx).
MAX_PIXELS = 1 << 26

_BYTE_TABLE = [bytes([i]) for i in range(256)]
_HEX_TABLE = [f"{i:02x}" for i in range(256)]
_V1_MESSAGE = (
    "This is a version-1 resizer_tf file (made before files carried a model "
    "fingerprint); this build reads format version 2 only: decode it with the "
    "resizer_tf release that made it, or re-compress the original image.")


def quantize_scale(scale):
  """Nearest multiple of 1/4096, as the int32 numerator."""
  return tf.cast(tf.round(tf.cast(scale, tf.float32) * SCALE_DENOMINATOR),
                 tf.int32)


def dequantize_scale(q):
  return tf.cast(q, tf.float32) / SCALE_DENOMINATOR


def _quantize_py(scale):
  return int(np.round(np.float32(scale) * np.float32(SCALE_DENOMINATOR)))


# -- model fingerprint ---------------------------------------------------------

_COMPONENTS = ("codec", "pre_filter", "post_filter", "scale_net")


def _coding_spec(model):
  return dict(codec=model.codec.codec_name, codec_id=int(model.codec.codec_id),
              resize=bool(model.resize),
              separate_scales=bool(model.separate_scales),
              kernel=model.kernel, pre_filter=model.pre_filter is not None,
              post_filter=model.post_filter is not None,
              scale_estimator=model.scale_estimator,
              min_scale=float(model.min_scale),
              max_scale=float(model.max_scale))


def _coding_arrays(model):
  """(label, variable) pairs of everything that decides how `model` codes.

  Per component its weights in order, except that range-coding tables are
  taken from each entropy layer's CURRENT coder (`_coder_tables()`): a
  codec that ran `prepare_for_coding()` twice still tracks the first,
  replaced coder's variables, which must not change the fingerprint.
  """
  from tensorflow_compression.python.entropy_models import continuous_base  # pylint: disable=g-import-not-at-top
  out = []
  for name in _COMPONENTS:
    layer = getattr(model, name, None)
    if layer is None:
      continue
    modules = list(layer.submodules) if isinstance(layer, tf.Module) else []
    coder_vars = {id(v) for m in modules
                  if isinstance(m, continuous_base.ContinuousEntropyModelBase)
                  for v in m.variables}
    out += [(name, w) for w in layer.weights if id(w) not in coder_vars]
    for m in modules:
      if getattr(m, "coder", None) is not None and hasattr(m, "_coder_tables"):
        tables = m._coder_tables()  # pylint: disable=protected-access
        out += [(f"{name}/{m.name}/{k}", tables[k]) for k in sorted(tables)]
  if getattr(model, "global_scale", None) is not None:
    out.append(("global_scale", model.global_scale))
  return out


def compute_model_fingerprint(model):
  """8 bytes naming a `ResizeCompress` exactly: what makes its files.

  SHA-256 over the coding spec (codec, Resize settings, M bounds) and every
  weight of the coding components (codec transforms, entropy models and
  their range-coding tables, filters, ResizeParamNet with its BatchNorm
  statistics), in order, with dtypes and shapes. Two models give the same
  fingerprint only if they code identically. Needs eager variable values
  (call it outside tf.function, or see `model_fingerprint`).
  """
  h = hashlib.sha256(b"resizer_tf model fingerprint 1\0")
  h.update(json.dumps(_coding_spec(model), sort_keys=True).encode())
  for name, w in _coding_arrays(model):
    a = np.ascontiguousarray(np.asarray(
        w.numpy() if hasattr(w, "numpy") else w))
    h.update(f"|{name}|{a.dtype.str}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.digest()[:FINGERPRINT_BYTES]


@contextlib.contextmanager
def frozen_fingerprint(model, fingerprint):
  """Within the block, `model` writes and expects `fingerprint` (computed
  once, e.g. at export) instead of recomputing it from its weights. Used
  while tracing a SavedModel's functions: the graph keeps the constant, and
  the live model is left as it was (later training changes its
  fingerprint again)."""
  previous = getattr(model, "_coding_fingerprint", None)
  model._coding_fingerprint = bytes(fingerprint)  # pylint: disable=protected-access
  try:
    yield
  finally:
    model._coding_fingerprint = previous  # pylint: disable=protected-access


def model_fingerprint(model):
  """The fingerprint `model` writes: the frozen one inside
  `frozen_fingerprint`, else computed now from the current weights (inside a
  tf.function: at trace time)."""
  frozen = getattr(model, "_coding_fingerprint", None)
  if frozen is not None:
    return frozen
  with tf.init_scope():
    return compute_model_fingerprint(model)


def fingerprint_hex(fingerprint):
  return bytes(fingerprint).hex()


# -- byte helpers ----------------------------------------------------------------


def _be_bytes(values, width):
  """int32/int64 values -> uint8 [..., width] big-endian."""
  values = tf.cast(values, tf.int64)
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  return tf.cast(tf.bitwise.bitwise_and(
      tf.bitwise.right_shift(values[..., None], shifts), 255), tf.uint8)


def _bytes_to_string(byte_values):
  table = tf.constant(_BYTE_TABLE)
  return tf.strings.reduce_join(tf.gather(table, tf.cast(byte_values,
                                                         tf.int32)))


def _hex_string(byte_values):
  table = tf.constant(_HEX_TABLE)
  return tf.strings.reduce_join(tf.gather(table, tf.cast(byte_values,
                                                         tf.int32)))


def _from_be(byte_values, width):
  """uint8 [..., width] big-endian -> int64."""
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  return tf.reduce_sum(
      tf.bitwise.left_shift(tf.cast(byte_values, tf.int64), shifts), axis=-1)


def checksum(byte_values):
  """FarmHash Fingerprint64 of a uint8 vector, uint8 [8] (`tf.fingerprint`,
  stable across platforms and TF versions by contract)."""
  return tf.fingerprint(tf.reshape(tf.cast(byte_values, tf.uint8), [1, -1]),
                        method="farmhash64")[0]


def _checksum_py(data):
  return bytes(checksum(tf.constant(np.frombuffer(
      data[:_CHECKSUM_OFFSET] + data[HEADER_BYTES:], np.uint8))).numpy())


# -- writing -------------------------------------------------------------------


def _flag_set(flags, bit):
  """Whether `bit` is set in the flags tensor. tf.not_equal, not `!=`: the
  operator compares tensors elementwise only while TF's tensor equality is
  enabled, and falls back to Python identity (always "different") when a
  library or an import order leaves it off, as it was under `python -m
  experiments.compress` (TF imported inside absl's main: see
  resizer_tf/_tf_context.py, which now repairs that state)."""
  return tf.not_equal(tf.bitwise.bitwise_and(flags, bit), 0)


def pack(codec_id, height, width, scale_q, latent_size, strings, fingerprint,
         resize=True, separate_scales=False):
  """Builds one file. `scale_q` int32 [2] (y, x); `strings` list of scalars;
  `fingerprint` the 8 bytes of the model (`model_fingerprint`)."""
  fingerprint = bytes(fingerprint)
  if len(fingerprint) != FINGERPRINT_BYTES:
    raise ValueError(f"A model fingerprint has {FINGERPRINT_BYTES} bytes; "
                     f"received {len(fingerprint)}.")
  strings = [tf.reshape(s, []) for s in strings]
  lengths = tf.stack([tf.strings.length(s) for s in strings])
  flags = (FLAG_RESIZE if resize else 0) | (
      FLAG_SEPARATE_SCALES if separate_scales else 0)
  head = tf.concat([
      tf.constant(list(MAGIC), tf.uint8),
      tf.constant([VERSION, codec_id, flags, len(strings)], tf.uint8),
      tf.reshape(_be_bytes(tf.stack([height, width]), 4), [-1]),
      tf.reshape(_be_bytes(scale_q, 2), [-1]),
      tf.reshape(_be_bytes(latent_size, 2), [-1]),
      tf.constant(list(fingerprint), tf.uint8),
  ], axis=0)
  lengths_bytes = tf.reshape(_be_bytes(lengths, 4), [-1])
  payload = tf.strings.join([_bytes_to_string(lengths_bytes)] + strings)
  check = checksum(tf.concat([head, tf.io.decode_raw(payload, tf.uint8)], 0))
  return tf.strings.join([
      _bytes_to_string(head), _bytes_to_string(check), payload])


def pack_for_model(model, height, width, scale_q, latent_size, strings):
  """`pack` with the codec id, flags and fingerprint of a ResizeCompress."""
  return pack(model.codec.codec_id, height, width, scale_q, latent_size,
              strings, model_fingerprint(model), resize=model.resize,
              separate_scales=model.separate_scales)


# -- reading ---------------------------------------------------------------------


class _Chain:
  """Run-time checks that run one after the other, in creation order, so a
  file gets the message of the FIRST thing wrong with it, and reads of later
  fields only happen once earlier checks passed."""

  def __init__(self):
    self._last = []

  def check(self, condition, message):
    with tf.control_dependencies(self._last):
      if not isinstance(message, str):
        message = tf.strings.join(message)
      op = tf.debugging.Assert(condition, [message])
    self._last = [op]

  def gate(self, fn):
    """Builds `fn()` (tensors) after every check so far."""
    with tf.control_dependencies(self._last):
      return fn()


def _latent_size_for(model, height, width, scale_q):
  if hasattr(model, "coded_latent_size"):
    return tf.cast(model.coded_latent_size(height, width, scale_q), tf.int32)
  # Older ResizeCompress without coded_latent_size: what compress() does.
  size = tf.cast(tf.stack([height, width]), tf.int64)
  if model.resize:
    d = SCALE_DENOMINATOR
    size = (size * tf.cast(scale_q, tf.int64) + d - 1) // d
  multiple = model.codec.size_multiple
  size = -(-size // multiple) * multiple
  return tf.cast(size // model.codec.stride, tf.int32)


def unpack(file, codec_id, num_strings, fingerprint, codec_name="",
           resize=True, separate_scales=False, min_scale=0.25, max_scale=1.0,
           latent_size_fn=None, max_pixels=MAX_PIXELS):
  """Parses and verifies one file for the model described by the arguments.

  `latent_size_fn(height, width, scale_q)` gives the main latent size the
  model codes for H, W and M. Returns dict(height, width, scale_q [2],
  latent_size [2], strings (list), resize (bool)), every tensor gated by all
  checks. Raises InvalidArgumentError with a clear message for a truncated,
  corrupt, forged or foreign file, or one made by another model.
  """
  fingerprint = bytes(fingerprint)
  file = tf.reshape(tf.convert_to_tensor(file, tf.string), [])
  size = tf.cast(tf.strings.length(file), tf.int64)
  c = _Chain()
  c.check(size >= 8, "Not a resizer_tf file: shorter than 8 bytes "
          "(truncated or foreign file).")
  pre = c.gate(lambda: tf.io.decode_raw(tf.strings.substr(file, 0, 8),
                                        tf.uint8))
  c.check(tf.reduce_all(tf.equal(pre[:4], tf.constant(list(MAGIC), tf.uint8))),
          "Not a resizer_tf file (bad magic bytes).")
  c.check(tf.not_equal(pre[4], 1), _V1_MESSAGE)
  c.check(tf.equal(pre[4], VERSION),
          f"Unsupported resizer_tf file version (this build reads version "
          f"{VERSION}); the file is newer than this build or corrupt.")
  c.check(size >= HEADER_BYTES,
          f"Truncated resizer_tf file: shorter than the {HEADER_BYTES}-byte "
          "header.")
  head = c.gate(lambda: tf.io.decode_raw(
      tf.strings.substr(file, 0, HEADER_BYTES), tf.uint8))
  flags = tf.cast(head[6], tf.int32)
  c.check(tf.equal(tf.bitwise.bitwise_and(flags, ~KNOWN_FLAGS), 0),
          "Corrupt resizer_tf file: unknown flag bits set.")
  c.check(tf.equal(head[5], codec_id),
          f"This file was made by another codec (codec id in file differs "
          f"from {codec_id}, {codec_name}).")
  c.check(tf.equal(head[7], num_strings),
          "Corrupt resizer_tf file: wrong number of codec strings.")
  lengths_end = HEADER_BYTES + 4 * num_strings
  c.check(size >= lengths_end, "Truncated resizer_tf file.")
  lengths = c.gate(lambda: _from_be(tf.reshape(tf.io.decode_raw(
      tf.strings.substr(file, HEADER_BYTES, 4 * num_strings), tf.uint8),
                                               [num_strings, 4]), 4))
  c.check(tf.equal(size, lengths_end + tf.reduce_sum(lengths)),
          "Truncated or padded resizer_tf file: its size does not match the "
          "lengths in its header.")
  everything = c.gate(lambda: tf.io.decode_raw(file, tf.uint8))
  computed = checksum(tf.concat(
      [everything[:_CHECKSUM_OFFSET], everything[HEADER_BYTES:]], 0))
  c.check(tf.reduce_all(tf.equal(
      everything[_CHECKSUM_OFFSET:HEADER_BYTES], computed)),
          "Corrupt resizer_tf file: checksum mismatch.")
  file_fp = head[24:24 + FINGERPRINT_BYTES]
  c.check(tf.reduce_all(tf.equal(file_fp, tf.constant(list(fingerprint),
                                                        tf.uint8))),
          ["This file was made by model ", _hex_string(file_fp),
           ", not by this model (", fingerprint.hex(), "): decode it with "
           "the model that made it."])
  c.check(tf.equal(_flag_set(flags, FLAG_RESIZE),
                   bool(resize)),
          f"The file was made with a different Resize setting than this "
          f"model (resize={bool(resize)}).")
  c.check(tf.equal(_flag_set(flags, FLAG_SEPARATE_SCALES),
                   bool(separate_scales)),
          "The file was made with a different separate_scales setting than "
          f"this model ({bool(separate_scales)}).")
  fields = _from_be(tf.reshape(head[16:24], [4, 2]), 2)
  height = _from_be(head[8:12], 4)
  width = _from_be(head[12:16], 4)
  c.check(tf.reduce_all(tf.stack([height >= 1, width >= 1,
                                  height <= MAX_DIMENSION,
                                  width <= MAX_DIMENSION])),
          f"Corrupt resizer_tf file: image size outside 1..{MAX_DIMENSION} "
          "pixels per side.")
  c.check(height * width <= max_pixels,
          f"The file declares an image of more than {max_pixels} pixels, "
          "the limit of this decoder.")
  scale_q = fields[0:2]
  if resize:
    low, high = _quantize_py(min_scale), _quantize_py(max_scale)
    c.check(tf.reduce_all((scale_q >= low) & (scale_q <= high)),
            f"Corrupt resizer_tf file: M outside [{min_scale}, {max_scale}], "
            "the range of this model.")
  else:
    c.check(tf.reduce_all(tf.equal(scale_q, SCALE_DENOMINATOR)),
            "Corrupt resizer_tf file: M must be 1 without Resize.")
  if not separate_scales:
    c.check(tf.equal(scale_q[0], scale_q[1]),
            "Corrupt resizer_tf file: My differs from Mx for a model with "
            "one M.")
  latent_size = tf.cast(fields[2:4], tf.int32)
  if latent_size_fn is not None:
    expected = c.gate(lambda: latent_size_fn(
        tf.cast(height, tf.int32), tf.cast(width, tf.int32),
        tf.cast(scale_q, tf.int32)))
    c.check(tf.reduce_all(tf.equal(latent_size, expected)),
            "Corrupt resizer_tf file: its latent size is not the one its "
            "image size and M imply.")

  def outputs():
    strings = []
    offset = tf.constant(lengths_end, tf.int64)
    for i in range(num_strings):
      strings.append(tf.strings.substr(file, offset, lengths[i]))
      offset += lengths[i]
    return dict(
        height=tf.identity(tf.cast(height, tf.int32)),
        width=tf.identity(tf.cast(width, tf.int32)),
        scale_q=tf.identity(tf.cast(scale_q, tf.int32)),
        latent_size=tf.identity(latent_size),
        resize=tf.not_equal(tf.bitwise.bitwise_and(flags, FLAG_RESIZE), 0),
        strings=strings)
  return c.gate(outputs)


def unpack_for_model(model, file):
  """`unpack` with everything a ResizeCompress knows about its own files."""
  return unpack(
      file, model.codec.codec_id, model.codec.num_strings,
      model_fingerprint(model), model.codec.codec_name, resize=model.resize,
      separate_scales=model.separate_scales, min_scale=model.min_scale,
      max_scale=model.max_scale,
      latent_size_fn=lambda h, w, q: _latent_size_for(model, h, w, q))


def read_header(data, verify_checksum=True):
  """Python-side header reader for tools (bytes -> dict), with every check
  that does not need the model (size, magic, version, flags, lengths,
  checksum, H and W limits). Raises ValueError with a clear message."""
  data = bytes(data)
  if len(data) < 8 or data[:4] != MAGIC:
    raise ValueError("Not a resizer_tf file (bad magic bytes or truncated).")
  if data[4] == 1:
    raise ValueError(_V1_MESSAGE)
  if data[4] != VERSION:
    raise ValueError(
        f"Unsupported resizer_tf file version {data[4]} (this build reads "
        f"version {VERSION}).")
  if len(data) < HEADER_BYTES:
    raise ValueError(f"Truncated resizer_tf file: shorter than the "
                     f"{HEADER_BYTES}-byte header.")
  (version, codec_id, flags, n, height, width, qy, qx, lh,
   lw) = struct.unpack(">BBBBIIHHHH", data[4:24])
  fingerprint = data[24:32]
  stored = data[32:40]
  if flags & ~KNOWN_FLAGS:
    raise ValueError("Corrupt resizer_tf file: unknown flag bits set.")
  lengths_end = HEADER_BYTES + 4 * n
  if len(data) < lengths_end or len(data) != lengths_end + sum(
      struct.unpack(f">{n}I", data[HEADER_BYTES:lengths_end])):
    raise ValueError(
        "Truncated or padded resizer_tf file: its size does not match the "
        "lengths in its header.")
  if verify_checksum and _checksum_py(data) != stored:
    raise ValueError("Corrupt resizer_tf file: checksum mismatch.")
  if not (1 <= height <= MAX_DIMENSION and 1 <= width <= MAX_DIMENSION):
    raise ValueError(f"Corrupt resizer_tf file: image size {height}x{width} "
                     f"outside 1..{MAX_DIMENSION} pixels per side.")
  if height * width > MAX_PIXELS:
    raise ValueError(f"The file declares a {height}x{width} image, more than "
                     f"the {MAX_PIXELS}-pixel limit.")
  return dict(version=version, codec_id=codec_id,
              resize=bool(flags & FLAG_RESIZE),
              separate_scales=bool(flags & FLAG_SEPARATE_SCALES),
              num_strings=n, height=height, width=width,
              scale=(qy / SCALE_DENOMINATOR, qx / SCALE_DENOMINATOR),
              scale_q=(qy, qx), latent_size=(lh, lw),
              fingerprint=fingerprint.hex())
