"""What differs between Keras 2 (`tf.keras` of TF 2.14) and Keras 3 (TF >= 2.16).

The layer and vision tests run in both CI legs (README.md, "Test matrix").
"""
import os

import pytest
import tensorflow as tf

KERAS_VERSION = getattr(tf.keras, "__version__", "2")  # Keras 2.14 has none.
KERAS_3 = int(KERAS_VERSION.split(".")[0]) >= 3

# `model.save(<directory>)` writes a SavedModel only in Keras 2; Keras 3 writes
# SavedModels with `model.export(<directory>)` (tested in both).
requires_keras_2_savedmodel = pytest.mark.skipif(
    KERAS_3, reason="Keras 3 has no model.save() to a SavedModel directory; "
    "model.export() is tested instead")


def save_model(model, path, fmt):
  """Writes `model` as `fmt` ("keras" or "savedmodel") at `path`/<name>;
  returns the file or directory name."""
  path = str(path / ("m.keras" if fmt == "keras" else "sm"))
  model.save(path)
  return path


def export_and_load(model, path):
  """`model.export()` (Keras >= 2.13 and Keras 3), then the reloaded
  SavedModel; call its `serve` endpoint (keep the object alive: its
  variables go with it)."""
  path = str(path / "export")
  model.export(path)
  return tf.saved_model.load(path)


def save_legacy_h5_weights(model, path):
  """Writes `model`'s weights in the HDF5 layout of the Keras ImageNet files
  (`..._notop.h5`, layers by name). Keras 3 writes that layout only as part
  of a whole-model `.h5` file (its `save_weights` needs `.weights.h5`, a
  different layout); the weight loaders read either."""
  if KERAS_3:
    model.save(path)
  else:
    model.save_weights(path)


def backup_checkpoint_file(backup_dir):
  """The file `tf.keras.callbacks.BackupAndRestore` writes once a backup is
  complete: a TF checkpoint index in Keras 2, the training metadata (written
  after the weights) in Keras 3."""
  if KERAS_3:
    return os.path.join(backup_dir, "training_metadata.json")
  return os.path.join(backup_dir, "chief", "checkpoint")
