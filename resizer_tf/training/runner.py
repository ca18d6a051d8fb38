"""Strategy, fault-tolerant checkpoints and atomic exports for `fit` loops.

Both training binaries (compression and vision) train with `Model.fit`,
so multi-device training, resume-after-kill and TensorBoard behave alike.
"""
import os
import shutil
import tempfile

import tensorflow as tf
from absl import logging


def configure_logical_cpus(count):
  """Splits the CPU into `count` logical devices (before TF initialises).

  Lets a CPU-only machine run `MirroredStrategy` with several replicas, the
  way tests prove multi-device training without GPUs.
  """
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(num_devices=0):
  """`MirroredStrategy` over `num_devices` devices (0: all GPUs, else CPU).

  With a single device the default strategy is returned (BackupAndRestore
  supports it, not OneDeviceStrategy), so one code path serves one GPU,
  several GPUs and the CPU.
  """
  gpus = tf.config.list_logical_devices("GPU")
  devices = gpus or tf.config.list_logical_devices("CPU")
  if num_devices:
    if num_devices > len(devices):
      raise ValueError(
          f"Asked for {num_devices} devices but only {len(devices)} are "
          f"visible: {[d.name for d in devices]}.")
    devices = devices[:num_devices]
  elif not gpus:
    devices = devices[:1]
  if len(devices) == 1:
    return tf.distribute.get_strategy()
  logging.info("MirroredStrategy over %s", [d.name for d in devices])
  return tf.distribute.MirroredStrategy([d.name for d in devices])


def fit_callbacks(model_dir, tensorboard=True, save_freq="epoch",
                  extra=()):
  """BackupAndRestore (resume after a kill), TensorBoard and a CSV log."""
  os.makedirs(model_dir, exist_ok=True)
  callbacks = [
      tf.keras.callbacks.BackupAndRestore(
          os.path.join(model_dir, "backup"), save_freq=save_freq,
          delete_checkpoint=False),
      tf.keras.callbacks.CSVLogger(
          os.path.join(model_dir, "log.csv"), append=True),
  ]
  if tensorboard:
    callbacks.append(tf.keras.callbacks.TensorBoard(
        os.path.join(model_dir, "tensorboard"), update_freq="epoch"))
  callbacks.extend(extra)
  return callbacks


def replace_directory_atomically(write_fn, target_dir):
  """Calls `write_fn(tmp_dir)`, then moves the result onto `target_dir`.

  A crash while writing leaves any previous export intact and no partial
  directory at `target_dir`.
  """
  parent = os.path.dirname(os.path.abspath(target_dir))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(
      os.path.abspath(target_dir)) + ".")
  try:
    write_fn(tmp)
    old = None
    if os.path.exists(target_dir):
      old = tmp + ".old"
      os.replace(target_dir, old)
    os.replace(tmp, target_dir)
    if old:
      shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def write_file_atomically(write_fn, path):
  """Calls `write_fn(tmp_path)` (same suffix as `path`), then renames.

  For writers that insist on a file name rather than a file object, such as
  `Model.save("x.keras")`: a crash never leaves a half-written `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  base = os.path.basename(path)
  suffix = "".join(os.path.splitext(base)[1:])
  fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + base + ".",
                             suffix=suffix)
  os.close(fd)
  try:
    os.unlink(tmp)  # Some writers refuse to overwrite an existing file.
    write_fn(tmp)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
