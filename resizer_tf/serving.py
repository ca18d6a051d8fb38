"""SavedModel export and loading of a trained `ResizeCompress`.

The exported SavedModel has two serving signatures:
  compress(image: uint8 [H, W, 3]) -> {"file": string, "scale": float32 [2]}
  decompress(file: string) -> {"image": uint8 [H, W, 3]}
"file" is a complete compressed file (bitstream.py); bpp = 8 * len(file) / (H W).
"""
import json
import os

import tensorflow as tf

from resizer_tf import resize_compress
from resizer_tf.training import runner

CONFIG_FILE = "model_config.json"


class CompressionModule(tf.Module):
  """The coding functions of a model, with input signatures, for export."""

  def __init__(self, model):
    super().__init__()
    self.model = model
    self.codec_name = tf.Variable(model.codec.codec_name, trainable=False)
    self.lmbda = tf.Variable(model.lmbda, trainable=False)
    self.resize = tf.Variable(model.resize, trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
  def compress(self, image):
    with tf.device("/cpu:0"):
      file, scale = self.model.compress(image)
    return {"file": file, "scale": scale}

  @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
  def decompress(self, file):
    with tf.device("/cpu:0"):
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
  with open(config_path) as f:
    model = resize_compress.ResizeCompress.from_config(json.load(f))
  weights = tf.train.latest_checkpoint(os.path.join(model_dir, "weights"))
  if weights is None:
    raise FileNotFoundError(
        f"No weights checkpoint under {model_dir}/weights (training has not "
        "finished an epoch yet?).")
  model(tf.zeros([1, 64, 64, 3]))
  tf.train.Checkpoint(model=model).read(weights).expect_partial()
  return model


class Compressor:
  """compress/decompress on numpy arrays, from a SavedModel or a model_dir."""

  def __init__(self, path):
    if not os.path.exists(path):
      raise FileNotFoundError(f"No SavedModel or model directory at {path!r}.")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
      loaded = tf.saved_model.load(path)
      self._compress = loaded.signatures["compress"]
      self._decompress = loaded.signatures["decompress"]
      self.codec_name = loaded.codec_name.numpy().decode()
      self.lmbda = float(loaded.lmbda.numpy())
      self._keep = loaded
    else:
      model = model_from_checkpoint(path)
      model.codec.prepare_for_coding()
      module = CompressionModule(model)
      self._compress = lambda image: module.compress(image)
      self._decompress = lambda file: module.decompress(file)
      self.codec_name = model.codec.codec_name
      self.lmbda = model.lmbda
      self._keep = module

  def compress(self, image):
    """uint8 [H, W, 3] -> (bytes, (My, Mx))."""
    out = self._compress(image=tf.constant(image, tf.uint8))
    return out["file"].numpy(), tuple(float(v) for v in out["scale"].numpy())

  def decompress(self, data):
    """bytes -> uint8 [H, W, 3]."""
    return self._decompress(file=tf.constant(data))["image"].numpy()
