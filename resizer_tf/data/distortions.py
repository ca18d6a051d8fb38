"""Distortions of Table 9 (Talebi & Milanfar 2021, Sec. 4.3).

"We followed the authors instructions in [20] to generate the distorted
images with Gaussian noise (standard deviation 0.1), spatial down-scaling
(4x), and JPEG compression with quality factor 10. We trained the resizer to
increase the resolution by a factor of 4 for the down-scaled inputs, and kept
the resolution unchanged for the other distortions."

Specs (`--distortion` of `experiments/train_classifier.py`):

| spec | what | paper |
| --- | --- | --- |
| `noise` / `noise:S` | + N(0, (S * 255)^2) per pixel, clipped to [0, 255]; S = 0.1 | "Gaussian noise (standard deviation 0.1)" on [0, 1] images |
| `downscale` / `downscale:F` | bicubic down-scaling by F (antialiased, as MATLAB's imresize that [20] uses), F = 4; the resizer then upsamples F x | "spatial down-scaling (4x)" |
| `jpeg` / `jpeg:Q` | JPEG encode/decode at quality Q = 10 (libjpeg via `tf.image.adjust_jpeg_quality`) | "JPEG compression with quality factor 10" |

Every distortion is deterministic per example: the noise of example i is
drawn from a stateless generator seeded with (seed, i), so a test set is
distorted identically in every run and epoch (a fixed distorted data set,
as in [20]).
"""
import tensorflow as tf

KINDS = ("noise", "downscale", "jpeg")
DEFAULTS = {"noise": 0.1, "downscale": 4, "jpeg": 10}


def parse(spec):
  """'noise', 'noise:0.1', 'downscale:4', 'jpeg:10' -> (kind, parameter).

  None or '' or 'none' -> None.
  """
  if spec is None or spec in ("", "none"):
    return None
  kind, _, value = str(spec).partition(":")
  if kind not in KINDS:
    raise ValueError(
        f"Unknown distortion {spec!r}: use none, {', '.join(KINDS)}, "
        "optionally with ':value' (noise:0.1, downscale:4, jpeg:10).")
  try:
    param = DEFAULTS[kind] if not value else (
        float(value) if kind == "noise" else int(value))
  except ValueError:
    raise ValueError(f"Bad value in distortion {spec!r}.") from None
  if (kind == "noise" and not 0 <= param < float("inf")) or (
      kind == "downscale" and param < 1) or (
          kind == "jpeg" and not 0 <= param <= 100):
    raise ValueError(f"Out-of-range value in distortion {spec!r}.")
  return kind, param


def output_size(spec, size):
  """Spatial size (h, w) of a `size` image after the distortion."""
  parsed = parse(spec)
  h, w = size
  if parsed and parsed[0] == "downscale":
    f = parsed[1]
    return max(1, -(-h // f)), max(1, -(-w // f))
  return h, w


def distort(image, spec, seed=0, index=0):
  """Applies one distortion to one image.

  Args:
    image: [H, W, C] uint8 or float in [0, 255] (C = 1 or 3).
    spec: see the module docstring (None: unchanged).
    seed, index: the noise of this example comes from stateless_normal
      seeded with (seed, index).
  Returns:
    float32 [h, w, C] in [0, 255]; h, w = `output_size(spec, (H, W))`.
  """
  parsed = parse(spec)
  image = tf.convert_to_tensor(image)
  if image.shape.rank != 3:
    raise ValueError(f"`image` must be [H, W, C]; received {image.shape}.")
  x = tf.cast(image, tf.float32)
  if parsed is None:
    return x
  kind, param = parsed
  if kind == "noise":
    noise = tf.random.stateless_normal(
        tf.shape(x), tf.cast(tf.stack([seed, index]), tf.int64),
        stddev=param * 255.)
    return tf.clip_by_value(x + noise, 0., 255.)
  if kind == "downscale":
    shape = tf.shape(x)
    size = tf.maximum(-(-shape[:2] // param), 1)
    y = tf.image.resize(x, size, method="bicubic", antialias=True)
    return tf.clip_by_value(y, 0., 255.)
  # JPEG: libjpeg on the rounded uint8 image (grey stays grey).
  u8 = tf.cast(tf.round(tf.clip_by_value(x, 0., 255.)), tf.uint8)
  encoded = tf.io.encode_jpeg(u8, quality=param, chroma_downsampling=True)
  decoded = tf.io.decode_jpeg(encoded, channels=0)
  decoded = tf.reshape(decoded, tf.shape(u8))
  return tf.cast(decoded, tf.float32)
