"""The compressed-file format of resizer_tf, written and read with TF ops.

Every op is a TF op so that the SavedModel's `compress` signature returns a
complete file and `decompress` takes one (no Python in serving).

Layout (all integers big-endian):

  offset  size  field
  0       4     magic b"RZTF"
  4       1     format version (1)
  5       1     codec id (LearnedCodec.codec_id)
  6       1     flags: bit 0 = Resize-Compress, bit 1 = separate My, Mx
  7       1     number of codec strings n
  8       4     original height H
  12      4     original width W
  16      2     My quantised: My = q / SCALE_DENOMINATOR
  18      2     Mx quantised
  20      2     height of the main latent y
  22      2     width of the main latent y
  24      4     Adler-32 of bytes [0, 24) followed by bytes [28, end)
  28      4n    lengths of the n codec strings
  28+4n   ...   the codec strings

M is quantised to multiples of 1/4096 (exact in float32, finer than any
visible change of a warp); both encoder and decoder warp with q / 4096.
The checksum turns truncation and bit flips into a clear error before any
range decoding happens.
"""
import struct
import zlib

import tensorflow as tf

MAGIC = b"RZTF"
VERSION = 1
SCALE_DENOMINATOR = 4096
HEADER_BYTES = 28
FLAG_RESIZE = 1
FLAG_SEPARATE_SCALES = 2

_BYTE_TABLE = [bytes([i]) for i in range(256)]


def quantize_scale(scale):
  """Nearest multiple of 1/4096, as the int32 numerator."""
  return tf.cast(tf.round(tf.cast(scale, tf.float32) * SCALE_DENOMINATOR),
                 tf.int32)


def dequantize_scale(q):
  return tf.cast(q, tf.float32) / SCALE_DENOMINATOR


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


def _from_be(byte_values, width):
  """uint8 [..., width] big-endian -> int64."""
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  return tf.reduce_sum(
      tf.bitwise.left_shift(tf.cast(byte_values, tf.int64), shifts), axis=-1)


def adler32(byte_values):
  """Adler-32 (RFC 1950) of a uint8 vector, computed with TF ops."""
  d = tf.cast(byte_values, tf.int64)
  n = tf.cast(tf.size(d), tf.int64)
  weights = n - tf.range(n, dtype=tf.int64)
  mod = tf.constant(65521, tf.int64)
  # Sums are reduced mod 65521 per element first so int64 never overflows
  # (n < 2^31 bytes: weights * d < 2^39, the sum < 2^70 would overflow, so
  # reduce the products before summing).
  a = (1 + tf.reduce_sum(d)) % mod
  b = (n + tf.reduce_sum((weights % mod) * d % mod)) % mod
  return b * 65536 + a


def pack(codec_id, height, width, scale_q, latent_size, strings,
         resize=True, separate_scales=False):
  """Builds one file. `scale_q` int32 [2] (y, x); `strings` list of scalars."""
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
  ], axis=0)
  lengths_bytes = tf.reshape(_be_bytes(lengths, 4), [-1])
  payload = tf.strings.join([_bytes_to_string(lengths_bytes)] + strings)
  checksum = adler32(tf.concat(
      [head, tf.io.decode_raw(payload, tf.uint8)], axis=0))
  return tf.strings.join([
      _bytes_to_string(head), _bytes_to_string(_be_bytes(checksum, 4)),
      payload])


def unpack(file, codec_id, num_strings, codec_name=""):
  """Parses and verifies one file made for a codec with `codec_id`.

  Returns dict(height, width, scale_q [2], latent_size [2], strings (list),
  resize (bool)). Raises InvalidArgumentError with a clear message for a
  truncated, corrupt or foreign file, or one made by another codec.
  """
  file = tf.reshape(tf.convert_to_tensor(file, tf.string), [])
  size = tf.strings.length(file)
  checks = [tf.debugging.assert_greater_equal(
      size, HEADER_BYTES,
      message="Not a resizer_tf file: shorter than the 28-byte header "
              "(truncated or foreign file).")]
  with tf.control_dependencies(checks):
    head = tf.io.decode_raw(tf.strings.substr(file, 0, HEADER_BYTES), tf.uint8)
  checks = [
      tf.debugging.assert_equal(
          head[:4], tf.constant(list(MAGIC), tf.uint8),
          message="Not a resizer_tf file (bad magic bytes)."),
      tf.debugging.assert_equal(
          head[4], tf.constant(VERSION, tf.uint8),
          message=f"Unsupported resizer_tf file version (this build reads "
                  f"version {VERSION})."),
      tf.debugging.assert_equal(
          head[5], tf.constant(codec_id, tf.uint8),
          message=f"This file was made by another codec (codec id in file "
                  f"differs from {codec_id}, {codec_name})."),
      tf.debugging.assert_equal(
          head[7], tf.constant(num_strings, tf.uint8),
          message="Corrupt file: wrong number of codec strings."),
  ]
  with tf.control_dependencies(checks):
    lengths_end = HEADER_BYTES + 4 * num_strings
    enough = tf.debugging.assert_greater_equal(
        size, lengths_end, message="Truncated resizer_tf file.")
  with tf.control_dependencies([enough]):
    lengths = _from_be(tf.reshape(tf.io.decode_raw(
        tf.strings.substr(file, HEADER_BYTES, 4 * num_strings), tf.uint8),
                                  [num_strings, 4]), 4)
  total = lengths_end + tf.reduce_sum(lengths)
  checks = [tf.debugging.assert_equal(
      tf.cast(size, tf.int64), total,
      message="Truncated or padded resizer_tf file: its size does not match "
              "the lengths in its header.")]
  with tf.control_dependencies(checks):
    everything = tf.io.decode_raw(file, tf.uint8)
    stored = _from_be(everything[24:28], 4)
    computed = adler32(tf.concat([everything[:24], everything[28:]], 0))
  checks = [tf.debugging.assert_equal(
      stored, computed,
      message="Corrupt resizer_tf file: checksum mismatch.")]
  with tf.control_dependencies(checks):
    fields = _from_be(tf.reshape(head[8:24], [8, 2]), 2)
    height = tf.cast(_from_be(head[8:12], 4), tf.int32)
    width = tf.cast(_from_be(head[12:16], 4), tf.int32)
    strings = []
    offset = tf.cast(lengths_end, tf.int64)
    for i in range(num_strings):
      strings.append(tf.strings.substr(file, offset, lengths[i]))
      offset += lengths[i]
  return dict(
      height=height, width=width,
      scale_q=tf.cast(fields[4:6], tf.int32),
      latent_size=tf.cast(fields[6:8], tf.int32),
      resize=tf.not_equal(tf.bitwise.bitwise_and(head[6], FLAG_RESIZE), 0),
      strings=strings)


def read_header(data):
  """Python-side header reader for tools (bytes -> dict), with checks."""
  if len(data) < HEADER_BYTES or data[:4] != MAGIC:
    raise ValueError("Not a resizer_tf file (bad magic bytes or truncated).")
  (version, codec_id, flags, n, height, width, qy, qx, lh, lw,
   checksum) = struct.unpack(">BBBBIIHHHHI", data[4:HEADER_BYTES])
  if version != VERSION:
    raise ValueError(f"Unsupported resizer_tf file version {version}.")
  lengths_end = HEADER_BYTES + 4 * n
  if len(data) < lengths_end or len(data) != lengths_end + sum(
      struct.unpack(f">{n}I", data[HEADER_BYTES:lengths_end])):
    raise ValueError(
        "Truncated or padded resizer_tf file: its size does not match the "
        "lengths in its header.")
  if zlib.adler32(data[:24] + data[28:]) != checksum:
    raise ValueError("Corrupt resizer_tf file: checksum mismatch.")
  return dict(version=version, codec_id=codec_id,
              resize=bool(flags & FLAG_RESIZE),
              separate_scales=bool(flags & FLAG_SEPARATE_SCALES),
              num_strings=n, height=height, width=width,
              scale=(qy / SCALE_DENOMINATOR, qx / SCALE_DENOMINATOR),
              latent_size=(lh, lw))
