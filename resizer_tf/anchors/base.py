"""The small interface every image codec in the evaluation implements.

Classic anchors (this package) and learned SavedModels
(`resizer_tf.evaluation.LearnedCodecAdapter`) are evaluated through the same
four members, so the rate-distortion loop does not care which is which.
"""
import abc

import numpy as np


class CodecUnavailableError(RuntimeError):
  """The external tool a codec needs is missing; the message says what to install."""


class ImageCodec(abc.ABC):
  """An image codec with a ladder of rate settings.

  Attributes:
    name: short identifier used on the command line and in result files.
    label: human-readable name for tables and plots.
    settings: the default ladder (tuple of settings, low rate first).
    setting_name: what a setting means ("quality", "qp", "bpp", ...).
    warm_up: True if the first call is slow (graph initialisation), so the
      evaluation codes one untimed point first.
  """

  name = None
  label = None
  settings = ()
  setting_name = "setting"
  warm_up = False

  @abc.abstractmethod
  def encode(self, image, setting):
    """uint8 [H, W, 3] RGB -> the complete compressed file (bytes)."""

  @abc.abstractmethod
  def decode(self, data):
    """The compressed file (bytes) -> uint8 [H, W, 3] RGB."""

  def encode_with_info(self, image, setting):
    """(file bytes, dict of side information such as {"M": 0.7})."""
    return self.encode(image, setting), {}

  def config(self):
    """Options that change the output; part of the results-cache key."""
    return {}

  def check_available(self):
    """Raises CodecUnavailableError naming what to install; else None."""

  def __repr__(self):
    return f"{type(self).__name__}({self.config()})"


def check_image_uint8(image, name="image"):
  """Returns `image` as a C-contiguous uint8 [H, W, 3] numpy array.

  Raises:
    ValueError: wrong type, rank, channel count or dtype, or an empty image.
  """
  if hasattr(image, "numpy"):
    image = image.numpy()
  if not isinstance(image, np.ndarray):
    raise ValueError(
        f"`{name}` must be a uint8 numpy array [H, W, 3]; received "
        f"{type(image).__name__}.")
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(
        f"`{name}` must have shape [H, W, 3] (RGB); received shape "
        f"{image.shape}.")
  if image.dtype != np.uint8:
    raise ValueError(
        f"`{name}` must have dtype uint8 (0..255); received {image.dtype}. "
        "Convert float images with np.round(x * 255).astype(np.uint8).")
  if image.shape[0] < 1 or image.shape[1] < 1:
    raise ValueError(f"`{name}` is empty: shape {image.shape}.")
  return np.ascontiguousarray(image)


def check_bytes(data, name="data"):
  if isinstance(data, (bytearray, memoryview)):
    data = bytes(data)
  if not isinstance(data, bytes):
    raise ValueError(
        f"`{name}` must be the compressed file as bytes; received "
        f"{type(data).__name__}.")
  if not data:
    raise ValueError(f"`{name}` is empty (0 bytes); nothing to decode.")
  return data
