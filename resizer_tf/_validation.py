"""Input checks shared by every public entry point.

Errors name what was expected and what was received, so a user sees why a
call was refused instead of a shape error deep inside a convolution.
"""
import numbers

import tensorflow as tf


def check_image_batch(images, name="images", channels=None, allow_single=False,
                      require_float=True):
  """Checks rank (4, or 3 if `allow_single`), static channels and dtype.

  Returns `(images, was_single)`; a single image is given a batch axis.
  """
  images = tf.convert_to_tensor(images)
  rank = images.shape.rank
  was_single = False
  if rank == 3 and allow_single:
    images = images[None]
    was_single = True
  elif rank != 4:
    expected = "4 ([batch, height, width, channels])"
    if allow_single:
      expected += " or 3 ([height, width, channels])"
    raise ValueError(
        f"`{name}` must have rank {expected}; received rank {rank} with "
        f"shape {images.shape}.")
  if channels is not None:
    c = images.shape[-1]
    allowed = (channels,) if isinstance(channels, int) else tuple(channels)
    if c is not None and c not in allowed:
      raise ValueError(
          f"`{name}` must have {' or '.join(map(str, allowed))} channels; "
          f"received {c} (shape {images.shape}).")
  if require_float and not images.dtype.is_floating:
    raise ValueError(
        f"`{name}` must be a floating-point tensor; received dtype "
        f"{images.dtype.name}. Cast with tf.cast(images, tf.float32) (and "
        "scale uint8 data as the model expects).")
  return images, was_single


def check_size(size, name, allow_none=False):
  """Validates a (height, width) pair of positive Python ints."""
  if size is None and allow_none:
    return None
  if isinstance(size, numbers.Integral) and not isinstance(size, bool):
    size = (int(size), int(size))
  try:
    size = tuple(size)
  except TypeError:
    raise ValueError(
        f"`{name}` must be two positive ints (height, width); received "
        f"{size!r}.") from None
  if (len(size) != 2 or
      not all(isinstance(s, numbers.Integral) and not isinstance(s, bool)
              for s in size) or
      not all(s > 0 for s in size)):
    raise ValueError(
        f"`{name}` must be two positive ints (height, width); received "
        f"{size!r}.")
  return tuple(int(s) for s in size)


def assert_finite_positive(value, name):
  """Graph-compatible check that every entry is finite and > 0."""
  return [
      tf.debugging.assert_all_finite(
          value, f"`{name}` contains NaN or Inf."),
      tf.debugging.assert_positive(
          value, message=f"`{name}` must be > 0."),
  ]
