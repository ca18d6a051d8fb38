"""Training loop pieces for `ResizeCompress` (Chen et al., Sec. III-F)."""
import os

import tensorflow as tf
from absl import logging

from resizer_tf import serving


def learning_rate(base, decay_steps, decayed):
  """base until `decay_steps`, then `decayed` (1e-4 then 3e-5, Sec. III-F)."""
  return tf.keras.optimizers.schedules.PiecewiseConstantDecay(
      [decay_steps], [base, decayed])


class WeightsCheckpoint(tf.keras.callbacks.Callback):
  """Keeps the last few model weights under model_dir/weights, per epoch.

  These are what `compress.py` and `evaluate_compression.py` load; the
  BackupAndRestore backup (with optimizer state) is for resuming training.
  """

  def __init__(self, model_dir, max_to_keep=3):
    super().__init__()
    self.directory = os.path.join(model_dir, "weights")
    self.max_to_keep = max_to_keep
    self._manager = None

  def on_epoch_end(self, epoch, logs=None):
    if self._manager is None:
      self._manager = tf.train.CheckpointManager(
          tf.train.Checkpoint(model=self.model), self.directory,
          self.max_to_keep, checkpoint_name="weights")
    path = self._manager.save(checkpoint_number=epoch + 1)
    logging.info("epoch %d: weights saved to %s", epoch + 1, path)


class ScaleSummaries(tf.keras.callbacks.Callback):
  """Histogram of M, and reconstructions, on a fixed batch, per epoch."""

  def __init__(self, log_dir, batch):
    super().__init__()
    self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "scale"))
    self.batch = tf.constant(batch)

  def on_epoch_end(self, epoch, logs=None):
    out = self.model(self.batch, training=False)
    with self.writer.as_default(step=epoch + 1):
      tf.summary.histogram("M", out["scale"][:, 0])
      tf.summary.scalar("M_mean", tf.reduce_mean(out["scale"]))
      tf.summary.image("reconstruction", tf.clip_by_value(out["x_hat"], 0, 1),
                       max_outputs=4)
    self.writer.flush()


def export_when_done(model, model_dir, export_dir=None):
  export_dir = export_dir or os.path.join(model_dir, "export")
  serving.export(model, export_dir)
  logging.info("SavedModel with compress/decompress signatures: %s",
               export_dir)
  return export_dir


def build_model(codec, codec_kwargs=None, learning_rate_value=1e-4,
                resize_learning_rate=1e-4, entropy_learning_rate=1e-4,
                decayed_learning_rate=3e-5, decay_steps=1_000_000,
                **model_kwargs):
  """A compiled `ResizeCompress` with the three Adam optimizers of Sec. III-F.

  Every rate drops by decayed_learning_rate / learning_rate_value after
  `decay_steps`.
  """
  from resizer_tf import resize_compress  # pylint: disable=g-import-not-at-top
  model = resize_compress.ResizeCompress(
      codec, codec_kwargs=codec_kwargs, **model_kwargs)
  factor = decayed_learning_rate / learning_rate_value
  adam = lambda lr: tf.keras.optimizers.Adam(
      learning_rate(lr, decay_steps, lr * factor))
  model.compile(optimizer=adam(learning_rate_value),
                resize_optimizer=adam(resize_learning_rate),
                entropy_optimizer=adam(entropy_learning_rate))
  return model


def train(build, source, model_dir, steps, steps_per_epoch, patch_size=256,
          batch_size=8, strategy=None, seed=None, export_dir=None, verbose=2):
  """Trains (resuming from model_dir if a backup exists) and exports.

  Args:
    build: () -> compiled model; called inside the strategy's scope.
    source: dataset of uint8 [H, W, 3] training images.
  Returns:
    (model, export_dir).
  """
  from resizer_tf.data import image_patches  # pylint: disable=g-import-not-at-top
  from resizer_tf.training import runner  # pylint: disable=g-import-not-at-top
  strategy = strategy or tf.distribute.get_strategy()
  data = image_patches.patches_dataset(source, patch_size, batch_size,
                                       seed=seed)
  with strategy.scope():
    model = build()
    model(tf.zeros([1, patch_size, patch_size, 3]))
  # Lock before writing anything: a second run on model_dir is refused
  # (runner.prepare_model_dir; fit_callbacks takes the same lock).
  runner.prepare_model_dir(model_dir)
  serving.save_config(model, model_dir)
  summary_batch = image_patches.fixed_batch(source, patch_size, 4)
  callbacks = runner.fit_callbacks(model_dir, extra=[
      WeightsCheckpoint(model_dir),
      ScaleSummaries(os.path.join(model_dir, "tensorboard"), summary_batch)])
  epochs = -(-steps // steps_per_epoch)
  logging.info("Training for %d steps in %d epochs of %d steps.", steps,
               epochs, steps_per_epoch)
  model.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, verbose=verbose)
  return model, export_when_done(model, model_dir, export_dir)
