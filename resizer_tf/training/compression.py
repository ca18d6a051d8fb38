"""Training loop pieces for `ResizeCompress` (Chen et al., Sec. III-F)."""
import contextlib
import os
import time

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


@contextlib.contextmanager
def dtype_policy(policy):
  """The global Keras dtype policy inside the block, restored after.

  Keras sublayers that a layer creates in its `build` take the policy of
  the first call, so construct a model and call it once inside one block.
  "mixed_bfloat16" keeps float32 variables (a weights file is the same
  either way) and runs convolutions in bfloat16: on CPUs with AMX or
  AVX512-BF16, oneDNN's fast path (docs/train_speed.md). Coding always runs
  in float32 (models are rebuilt from weights files under the default).
  """
  previous = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(policy)
  try:
    yield
  finally:
    tf.keras.mixed_precision.set_global_policy(previous)


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


class Progress(tf.keras.callbacks.Callback):
  """One log line every `every` steps: step, steps/s, ETA and the metrics."""

  def __init__(self, total_steps, every=100):
    super().__init__()
    self.total, self.every = int(total_steps), max(1, int(every))
    self._step = 0
    self._t0 = None
    self._s0 = 0

  def on_epoch_begin(self, epoch, logs=None):
    if self._t0 is None:
      self._step = epoch * self.params["steps"]
      self._s0, self._t0 = self._step, time.time()

  def on_train_batch_end(self, batch, logs=None):
    self._step += 1
    if self._step % self.every and self._step != self.total:
      return
    rate = (self._step - self._s0) / max(1e-9, time.time() - self._t0)
    eta = (self.total - self._step) / rate if rate else float("inf")
    metrics = " ".join(f"{k} {float(v):.4g}" for k, v in (logs or {}).items())
    logging.info("step %d/%d  %.2f steps/s  ETA %s  %s", self._step,
                 self.total, rate, _hms(eta), metrics)


def _hms(seconds):
  if seconds == float("inf"):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def train(build, source, model_dir, steps, steps_per_epoch, patch_size=256,
          batch_size=8, strategy=None, seed=None, export_dir=None, verbose=0,
          refine_steps=0, refine_patch_size=384, log_every=100):
  """Trains (resuming from model_dir if a backup exists) and exports.

  Args:
    build: () -> compiled model; called inside the strategy's scope.
    source: dataset of uint8 [H, W, 3] training images.
    steps: steps on `patch_size` crops (Sec. III-F: 2M on 256 px).
    refine_steps: then this many steps on `refine_patch_size` crops
      (Sec. III-F: "we further refined the models using patches of size
      384 x 384 for only 100K steps"); 0 skips the stage. Both stages are
      one resumable schedule: a kill in either resumes where it stopped.
    verbose: Keras' own per-epoch/progress-bar output (0: only the
      `log_every` progress lines with steps/s and ETA).
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
  refine_epochs = -(-refine_steps // steps_per_epoch) if refine_steps else 0
  total = (epochs + refine_epochs) * steps_per_epoch
  callbacks.append(Progress(total, log_every))
  logging.info("Training for %d steps in %d epochs of %d steps, then %d "
               "refinement steps on %d px crops.", steps, epochs,
               steps_per_epoch, refine_epochs * steps_per_epoch,
               refine_patch_size)
  model.fit(data, epochs=epochs, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, verbose=verbose)
  if refine_epochs:
    # BackupAndRestore restores the epoch counter, so after a kill in this
    # stage the first fit trains nothing and this one resumes.
    refine = image_patches.patches_dataset(source, refine_patch_size,
                                           batch_size, seed=seed)
    model.fit(refine, initial_epoch=epochs, epochs=epochs + refine_epochs,
              steps_per_epoch=steps_per_epoch, callbacks=callbacks,
              verbose=verbose)
  return model, export_when_done(model, model_dir, export_dir)
