"""SavedModel export and loading of a trained `ResizeCompress`.

The exported SavedModel has two serving signatures:
  compress(image: uint8 [H, W, 3]) -> {"file": string, "scale": float32 [2]}
  decompress(file: string) -> {"image": uint8 [H, W, 3]}
"file" is a complete compressed file (bitstream.py); bpp = 8 * len(file) / (H W).
Load it after `import tensorflow_compression` (its range-coding ops must be
registered; also for TF Serving, which needs the tfc op library).

The SavedModel also stores the model fingerprint (`fingerprint`, 8 bytes)
that every file it writes carries and that its `decompress` requires.
"""
import contextlib
import json
import logging as py_logging
import os
import re

import numpy as np
import tensorflow as tf

from resizer_tf import bitstream
from resizer_tf import resize_compress
from resizer_tf.training import runner

CONFIG_FILE = "model_config.json"


class CompressionModule(tf.Module):
  """The coding functions of a model, with input signatures, for export.

  The model's fingerprint is computed once, here, and baked into the
  traced functions, as are the codec's cached coding kernels (when they
  are traced; `prepare_for_coding`, codecs/tfc_codec.py): the module is for
  a trained model whose weights no longer change (after more training, call
  `prepare_for_coding()` and make a new module).
  """

  def __init__(self, model):
    super().__init__()
    self.model = model
    fingerprint = bitstream.compute_model_fingerprint(model)
    self._fingerprint_bytes = fingerprint
    self.codec_name = tf.Variable(model.codec.codec_name, trainable=False)
    self.lmbda = tf.Variable(model.lmbda, trainable=False)
    self.resize = tf.Variable(model.resize, trainable=False)
    self.fingerprint = tf.Variable(fingerprint, trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
  def compress(self, image):
    with tf.device("/cpu:0"), bitstream.frozen_fingerprint(
        self.model, self._fingerprint_bytes):
      file, scale = self.model.compress(image)
    return {"file": file, "scale": scale}

  @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
  def decompress(self, file):
    with tf.device("/cpu:0"), bitstream.frozen_fingerprint(
        self.model, self._fingerprint_bytes):
      return {"image": self.model.decompress(file)}


def export(model, export_dir):
  """Builds the coding tables and writes the SavedModel atomically."""
  model.codec.prepare_for_coding()
  module = CompressionModule(model)

  def write(path):
    tf.saved_model.save(module, path, signatures={
        "compress": module.compress, "decompress": module.decompress})
  runner.replace_directory_atomically(write, export_dir)
  return module


def save_config(model, model_dir):
  from resizer_tf import _io  # pylint: disable=g-import-not-at-top
  _io.atomic_write_text(os.path.join(model_dir, CONFIG_FILE),
                        json.dumps(model.get_config(), indent=1))


def model_from_checkpoint(model_dir):
  """Rebuilds a `ResizeCompress` from a training directory's latest weights."""
  config_path = os.path.join(model_dir, CONFIG_FILE)
  if not os.path.exists(config_path):
    raise FileNotFoundError(
        f"No {CONFIG_FILE} in {model_dir!r}: pass the --model_dir of a "
        "train_compression run, or an exported SavedModel directory.")
  try:
    with open(config_path) as f:
      model = resize_compress.ResizeCompress.from_config(json.load(f))
  except (ValueError, TypeError, KeyError) as e:
    raise ValueError(f"Corrupt {config_path!r} ({e}): re-run training or "
                     "restore the file.") from e
  weights = tf.train.latest_checkpoint(os.path.join(model_dir, "weights"))
  if weights is None:
    raise FileNotFoundError(
        f"No weights checkpoint under {model_dir}/weights (training has not "
        "finished an epoch yet?).")
  model(tf.zeros([1, 64, 64, 3]))
  try:
    tf.train.Checkpoint(model=model).read(weights).expect_partial()
  except (tf.errors.OpError, ValueError) as e:
    raise ValueError(
        f"Cannot read the weights checkpoint {weights!r} (corrupt or from "
        f"another model): {error_message(e)}") from e
  return model


# -- quiet loading -----------------------------------------------------------------


class _UnsavedCustomGradientFilter(py_logging.Filter):
  """Drops exactly TF's "Importing a function (...) with ops with unsaved
  custom gradients" warning.

  Why harmless: the custom gradients are those of tensorflow-compression's
  training-time ops (lower_bound/upper_bound, straight-through rounding),
  which TF does not serialise. The loaded signatures (`compress`,
  `decompress`) are inference only: nothing asks for a gradient through
  them, and the warning only says that asking would fail. TF prints it once
  per imported function (about 72 for one model).
  """

  def filter(self, record):
    msg = str(record.msg)
    return not (msg.startswith("Importing a function (") and
                "unsaved custom gradients" in msg)


@contextlib.contextmanager
def quiet_savedmodel_load():
  logger = py_logging.getLogger("tensorflow")
  flt = _UnsavedCustomGradientFilter()
  logger.addFilter(flt)
  try:
    yield
  finally:
    logger.removeFilter(flt)


def load_savedmodel(path):
  """`tf.saved_model.load` without the custom-gradient warning flood, with
  a clear ValueError for a corrupt or foreign SavedModel."""
  import tensorflow_compression  # pylint: disable=g-import-not-at-top,unused-import
  try:
    with quiet_savedmodel_load():
      return tf.saved_model.load(path)
  except (tf.errors.OpError, OSError, ValueError, KeyError,
          AttributeError) as e:
    raise ValueError(
        f"Cannot load the SavedModel at {path!r} (corrupt, truncated or not "
        f"made by resizer_tf): {error_message(e)}") from e


def error_message(error):
  """The useful line of a TF error: an assertion's own message instead of
  'Graph execution error:' and a node trace."""
  text = getattr(error, "message", None) or str(error)
  m = re.search(r"assertion failed: \[(.*?)\](?: \[|\s*$|\n)", text, re.S)
  if m:
    return m.group(1).strip().replace("\\'", "'")
  m = re.search(r"Summarized data: b?['\"](.*?)['\"]\s*$", text, re.S | re.M)
  if m:
    return m.group(1).strip()
  lines = [l.strip() for l in text.strip().splitlines()
           if l.strip() and not l.startswith("Graph execution error")
           and not l.strip().startswith("Detected at node")]
  return lines[0] if lines else type(error).__name__


# -- numpy front end ---------------------------------------------------------------


def to_uint8_image(image):
  """The image `Compressor.compress` codes, as uint8 [H, W, 3].

  Accepted, with an explicit conversion:
    uint8: as is;
    uint16: round(v / 257) (65535 -> 255);
    float16/32/64 in [0, 1]: round(v * 255).
  Anything else (other dtypes, floats outside [0, 1], NaN/Inf, other
  shapes, empty or too large sizes) raises ValueError: nothing is wrapped
  around or silently clipped.
  """
  if isinstance(image, tf.Tensor):
    image = image.numpy()
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(
        f"An image to compress must have shape [height, width, 3] (RGB); "
        f"received shape {image.shape}. Read files with "
        "resizer_tf.images.read_image, which converts grayscale and RGBA.")
  height, width = image.shape[:2]
  if height < 1 or width < 1:
    raise ValueError(f"Cannot compress an empty image ({height}x{width}).")
  if max(height, width) > bitstream.MAX_DIMENSION or (
      height * width > bitstream.MAX_PIXELS):
    raise ValueError(
        f"A {height}x{width} image exceeds the format's limit of "
        f"{bitstream.MAX_DIMENSION} pixels per side and "
        f"{bitstream.MAX_PIXELS} pixels in all.")
  if image.dtype == np.uint8:
    return image
  if image.dtype == np.uint16:
    return np.round(image.astype(np.float64) / 257.).astype(np.uint8)
  if image.dtype in (np.float16, np.float32, np.float64):
    if not np.all(np.isfinite(image)):
      raise ValueError("The image has NaN or Inf values.")
    low, high = float(image.min()), float(image.max())
    if low < 0 or high > 1:
      raise ValueError(
          f"A float image must be in [0, 1]; received values in [{low:g}, "
          f"{high:g}] (for 0-255 values pass a uint8 array).")
    return np.round(image.astype(np.float64) * 255.).astype(np.uint8)
  raise ValueError(
      f"Images must be uint8, uint16 or float in [0, 1]; received dtype "
      f"{image.dtype}.")


class Compressor:
  """compress/decompress on numpy arrays, from a SavedModel or a model_dir.

  `fingerprint` (hex) names the model; every file it writes carries it.
  """

  def __init__(self, path):
    if not os.path.exists(path):
      raise FileNotFoundError(f"No SavedModel or model directory at {path!r}.")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
      loaded = load_savedmodel(path)
      try:
        self._compress = loaded.signatures["compress"]
        self._decompress = loaded.signatures["decompress"]
        self.codec_name = loaded.codec_name.numpy().decode()
        self.lmbda = float(loaded.lmbda.numpy())
        fingerprint = getattr(loaded, "fingerprint", None)
      except (KeyError, AttributeError) as e:
        raise ValueError(
            f"The SavedModel at {path!r} is not a resizer_tf compression "
            f"export (missing {e}).") from e
      if fingerprint is None:
        raise ValueError(
            f"The SavedModel at {path!r} was exported before file format "
            f"{bitstream.VERSION} (no model fingerprint): export it again "
            "with this version (train_compression resumes and re-exports).")
      self.fingerprint = fingerprint.numpy().hex()
      self._keep = loaded
    else:
      model = model_from_checkpoint(path)
      self._init_from_model(model)
    self.path = path

  @classmethod
  def from_model(cls, model):
    """A Compressor for a live `ResizeCompress` (e.g. a pretrained one)."""
    self = cls.__new__(cls)
    self._init_from_model(model)
    self.path = None
    return self

  def _init_from_model(self, model):
    model.codec.prepare_for_coding()
    module = CompressionModule(model)
    self._compress = lambda image: module.compress(image)
    self._decompress = lambda file: module.decompress(file)
    self.codec_name = model.codec.codec_name
    self.lmbda = model.lmbda
    self.fingerprint = module.fingerprint.numpy().hex()
    self._keep = module

  def compress(self, image):
    """Image -> (bytes, (My, Mx)); see `to_uint8_image` for what is
    accepted (uint8, uint16, float in [0, 1], [H, W, 3])."""
    image = to_uint8_image(image)
    out = self._compress(image=tf.constant(image, tf.uint8))
    return out["file"].numpy(), tuple(float(v) for v in out["scale"].numpy())

  def decompress(self, data):
    """bytes -> uint8 [H, W, 3]."""
    return self._decompress(file=tf.constant(data))["image"].numpy()


# -- finding the model that made a file ---------------------------------------------


def model_fingerprint_hex(model):
  """The fingerprint (hex) files coded by `model` carry: what
  `resizer_tf.pretrained`'s index records per shipped model (the model must
  be ready to code: `prepare_for_coding()` done)."""
  return bitstream.compute_model_fingerprint(model).hex()


def find_registered_model(fingerprint):
  """The shipped model whose files carry `fingerprint` (hex), or None.

  The hook `decompress` uses when no --model is given: asks
  `resizer_tf.pretrained`, whose index records each shipped model's
  fingerprint (`model_fingerprint_hex`). Entries without a recorded
  fingerprint are loaded and fingerprinted once (slower, logged). Returns
  (description, loader) with loader() -> a coding-ready ResizeCompress.
  """
  try:
    from resizer_tf import pretrained  # pylint: disable=g-import-not-at-top
    models = pretrained.list_models()
  except (ImportError, OSError, ValueError):
    return None

  def found(m, model=None):
    name, quality = m["name"], m["quality"]
    return (f"pretrained model {name}:{quality}",
            (lambda: model) if model is not None else
            (lambda: pretrained.load(name, quality)))
  for m in models:
    if m.get("fingerprint") == fingerprint:
      return found(m)
  for m in models:
    if "fingerprint" in m:
      continue
    key = (m.get("name"), m.get("quality"), m.get("sha256"))
    if key not in _FINGERPRINT_CACHE:
      from absl import logging  # pylint: disable=g-import-not-at-top
      logging.info("Fingerprinting shipped model %s:%s (not in its index).",
                   m.get("name"), m.get("quality"))
      try:
        model = pretrained.load(m["name"], m["quality"])
      except (OSError, ValueError, KeyError):
        _FINGERPRINT_CACHE[key] = (None, None)
        continue
      _FINGERPRINT_CACHE[key] = (model_fingerprint_hex(model), model)
    value, model = _FINGERPRINT_CACHE[key]
    if value == fingerprint:
      return found(m, model)
  return None


_FINGERPRINT_CACHE = {}


def describe_fingerprint(fingerprint):
  """'pretrained model NAME:Q (fingerprint ...)' or 'model <fingerprint>'."""
  found = find_registered_model(fingerprint)
  if found:
    return f"{found[0]} (fingerprint {fingerprint})"
  return f"model {fingerprint}"
