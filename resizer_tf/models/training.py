"""Training, validation and export of the vision models (Sec. 3.2, 4).

Shared by `experiments/train_classifier.py` and `experiments/train_iqa.py`:
SGD with momentum 0.9, learning rate 0.05 from scratch / 0.005 fine-tuning,
decayed by 0.94 every two epochs (Sec. 4); Eq. (1) or Eq. (2) losses;
top-1/top-5 error or PLCC/SRCC validation; resume after a kill
(`runner.fit_callbacks`); TensorBoard with images of the resized inputs; a
SavedModel whose serving signature takes uint8 images of any size.
`train_fashion_mnist_classifier` is the one run of the small-scale
Fashion-MNIST benchmarks (benchmarks/resizer_fashion_mnist.py, Table 4;
experiments/table9_fashion_mnist.py, Table 9).
"""
import dataclasses
import json
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from resizer_tf import _io
from resizer_tf import losses
from resizer_tf.data import fashion_mnist
from resizer_tf.data import preprocess
from resizer_tf.metrics import correlation
from resizer_tf.models import builder
from resizer_tf.training import runner

LEARNING_RATE_SCRATCH = 0.05
LEARNING_RATE_FINE_TUNE = 0.005


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class TopKError(tf.keras.metrics.MeanMetricWrapper):
  """Top-k error = 1 - top-k accuracy for sparse labels (Table 4)."""

  def __init__(self, k=1, name=None, dtype=None):
    def error(y_true, y_pred):
      return 1.0 - tf.keras.metrics.sparse_top_k_categorical_accuracy(
          y_true, y_pred, k=k)
    super().__init__(error, name=name or f"top{k}_error", dtype=dtype)
    self.k = k

  def get_config(self):
    return {"k": self.k, "name": self.name, "dtype": self.dtype}


def learning_rate_schedule(initial_learning_rate, steps_per_epoch,
                           decay_rate=0.94, decay_epochs=2):
  """lr * decay_rate ** floor(step / (decay_epochs * steps_per_epoch))."""
  if steps_per_epoch <= 0:
    raise ValueError(
        f"`steps_per_epoch` must be > 0; received {steps_per_epoch}.")
  return tf.keras.optimizers.schedules.ExponentialDecay(
      initial_learning_rate, decay_steps=decay_epochs * steps_per_epoch,
      decay_rate=decay_rate, staircase=True)


def compile_vision_model(model, task, learning_rate, steps_per_epoch,
                         momentum=0.9, decay_rate=0.94, decay_epochs=2,
                         label_smoothing=0.1, emd_d=2):
  """Compiles with Sec. 4's optimiser and the task's loss and metrics."""
  optimizer = tf.keras.optimizers.SGD(
      learning_rate_schedule(learning_rate, steps_per_epoch, decay_rate,
                             decay_epochs), momentum=momentum)
  if task == "classification":
    num_classes = model.output_shape[-1]
    loss = losses.LabelSmoothedCrossEntropy(label_smoothing)
    metrics = [TopKError(1)] + ([TopKError(5)] if num_classes > 5 else [])
  elif task == "iqa":
    loss = losses.EarthMoversDistance(emd_d)
    metrics = []
  else:
    raise ValueError(f"`task` must be one of {builder.TASKS}; received "
                     f"{task!r}.")
  model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
  return model


def predict_mean_scores(model, dataset):
  """(predicted, ground-truth) mean scores sum_i i p_i over `dataset`."""
  predict = tf.function(lambda x: model(x, training=False))
  predicted, truth = [], []
  for images, distributions in dataset:
    predicted.append(predict(images).numpy())
    truth.append(np.asarray(distributions))
  predicted, truth = np.concatenate(predicted), np.concatenate(truth)
  return correlation.mean_scores(predicted), correlation.mean_scores(truth)


class CorrelationEvaluation(tf.keras.callbacks.Callback):
  """Adds val_plcc / val_srcc of mean scores to the epoch logs (Table 5).

  Must come before the loggers in the callback list, as the logs dict is
  shared by the callbacks that follow.
  """

  def __init__(self, dataset, prefix="val_"):
    super().__init__()
    self.dataset = dataset
    self.prefix = prefix

  def evaluate(self):
    predicted, truth = predict_mean_scores(self.model, self.dataset)
    return {self.prefix + "plcc": correlation.plcc(predicted, truth),
            self.prefix + "srcc": correlation.srcc(predicted, truth)}

  def on_epoch_end(self, epoch, logs=None):
    if logs is not None:
      logs.update(self.evaluate())


class ResizedImageSummary(tf.keras.callbacks.Callback):
  """TensorBoard images of what the resizer feeds the backbone (Fig. 4-6)."""

  def __init__(self, images, log_dir, max_outputs=4):
    super().__init__()
    self.images = tf.convert_to_tensor(images[:max_outputs], tf.float32)
    self.writer = tf.summary.create_file_writer(log_dir)
    self.max_outputs = max_outputs

  def on_train_begin(self, logs=None):
    self._resized = builder.resized_images_model(self.model)
    with self.writer.as_default():
      tf.summary.image("resizer_input", self.images / 255.0, step=0,
                       max_outputs=self.max_outputs)

  def on_epoch_end(self, epoch, logs=None):
    resized = self._resized(self.images, training=False)
    resized = tf.clip_by_value(tf.cast(resized, tf.float32) / 255.0, 0., 1.)
    with self.writer.as_default():
      tf.summary.image("resized", resized, step=epoch,
                       max_outputs=self.max_outputs)
    self.writer.flush()


class EpochLogger(tf.keras.callbacks.Callback):
  """One absl log line per epoch (progress of long runs in log files)."""

  def on_epoch_end(self, epoch, logs=None):
    logging.info("epoch %d: %s", epoch + 1, {
        k: round(float(v), 5) for k, v in (logs or {}).items()})


def export_serving_model(model, export_dir, task, input_size,
                         method="bilinear", antialias=False):
  """SavedModel with a uint8 [None, None, None, 3] serving signature.

  Images of any size are resized inside to the resizer's input resolution
  with the training pipeline's own `resize_to_input`, then the model runs.
  Outputs: {"probabilities"} or {"score_distribution", "mean_score"}. The
  export replaces `export_dir` atomically.
  """
  if task not in builder.TASKS:
    raise ValueError(f"`task` must be one of {builder.TASKS}; received "
                     f"{task!r}.")

  class Serving(tf.Module):

    def __init__(self, model):
      super().__init__()
      self.model = model

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def serve(self, images):
      if input_size is not None:
        x = preprocess.resize_to_input(images, input_size, method, antialias)
      else:
        x = tf.cast(images, tf.float32)
      out = tf.cast(self.model(x, training=False), tf.float32)
      if task == "classification":
        return {"probabilities": out}
      bins = tf.range(1, tf.shape(out)[-1] + 1, dtype=tf.float32)
      return {"score_distribution": out,
              "mean_score": tf.reduce_sum(out * bins, axis=-1)}

  module = Serving(model)
  runner.replace_directory_atomically(
      lambda tmp: tf.saved_model.save(
          module, tmp, signatures={"serving_default": module.serve}),
      export_dir)
  return export_dir


def save_keras_model(model, path):
  """`model.save(path)` through a temp file + rename."""
  runner.write_file_atomically(model.save, path)


def train_vision_model(build_model, task, train_data, val_data, *,
                       steps_per_epoch, epochs, model_dir, learning_rate,
                       momentum=0.9, decay_rate=0.94, decay_epochs=2,
                       label_smoothing=0.1, emd_d=2, strategy=None,
                       train_steps=None, summary_images=None, export_dir=None,
                       input_size=None, preresize_method="bilinear",
                       preresize_antialias=False, verbose=1,
                       extra_results=None):
  """The full training run of both binaries.

  Args:
    build_model: callable returning an uncompiled model (called inside the
      strategy scope); e.g. `builder.build_vision_model` with arguments.
    task: "classification" or "iqa".
    train_data, val_data: batched datasets of (images, targets).
    steps_per_epoch: optimiser steps per epoch, for the decay schedule.
    epochs: epochs to train in total (a resumed run continues to it).
    model_dir: checkpoints (BackupAndRestore), TensorBoard, log.csv,
      final.keras and results.json.
    learning_rate, momentum, decay_rate, decay_epochs: Sec. 4.
    label_smoothing, emd_d: Eq. (1) eps and Eq. (2) d.
    strategy: a `tf.distribute.Strategy` (default: the current one).
    train_steps: if set, passed as `steps_per_epoch` to fit (the training
      dataset must then repeat).
    summary_images: a few [0, 255] images at the input resolution for the
      TensorBoard image summaries.
    export_dir: where to write the serving SavedModel (None: no export).
    input_size, preresize_method, preresize_antialias: the serving pre-resize.
    verbose: Keras progress bar verbosity.
    extra_results: more entries for results.json (e.g. FLOPs).

  Returns:
    (model, results dict of the final validation).
  """
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = build_model()
    compile_vision_model(model, task, learning_rate, steps_per_epoch,
                         momentum, decay_rate, decay_epochs, label_smoothing,
                         emd_d)
  first = []
  if task == "iqa":
    first.append(CorrelationEvaluation(val_data))
  extra = [EpochLogger()]
  if summary_images is not None:
    extra.append(ResizedImageSummary(
        summary_images, os.path.join(model_dir, "tensorboard", "images")))
  callbacks = first + runner.fit_callbacks(model_dir, extra=extra)
  model.fit(train_data, epochs=epochs, steps_per_epoch=train_steps,
            validation_data=val_data, callbacks=callbacks, verbose=verbose)
  results = model.evaluate(val_data, return_dict=True, verbose=0)
  if task == "iqa":
    predicted, truth = predict_mean_scores(model, val_data)
    results.update(plcc=correlation.plcc(predicted, truth),
                   srcc=correlation.srcc(predicted, truth))
  results = {k: float(v) for k, v in results.items()}
  results.update(extra_results or {})
  logging.info("final validation: %s", results)
  save_keras_model(model, os.path.join(model_dir, "final.keras"))
  _io.atomic_write_text(os.path.join(model_dir, "results.json"),
                        json.dumps(results, indent=2, sort_keys=True))
  if export_dir:
    export_serving_model(model, export_dir, task, input_size,
                         preresize_method, preresize_antialias)
  return model, results


@dataclasses.dataclass
class FashionMnistRun:
  """What `train_fashion_mnist_classifier` returns."""
  model: tf.keras.Model
  test: tf.data.Dataset
  history: tf.keras.callbacks.History
  test_results: dict
  train_seconds: float
  train_examples: int
  test_examples: int


def train_fashion_mnist_classifier(resizer, input_side, output_side, seed, *,
                                   batch_size, train_subset, test_subset,
                                   epochs, width, learning_rate, decay_epochs,
                                   distortion=None):
  """One run of the small-scale Fashion-MNIST benchmarks (Table 4 and
  Table 9 of Talebi & Milanfar): a `SmallCNN(width)` behind `resizer`
  ("learned", "bilinear", ...), input_side -> output_side, trained from
  scratch as Sec. 4 (SGD momentum 0.9, decay 0.94 every `decay_epochs`,
  label smoothing 0.1) and evaluated on the test split.

  `seed` seeds TF (init), the shuffle and the class-balanced training
  subset; the test subset is always drawn with seed 0, in batches of 500.
  `distortion` (a `data.distortions` spec, Table 9) is applied to every
  train and test image.
  """
  tf.keras.utils.set_random_seed(seed)
  size_in, size_out = (input_side, input_side), (output_side, output_side)
  train, info = fashion_mnist.fashion_mnist_dataset(
      "train", size_in, batch_size, subset=train_subset, seed=seed,
      distortion=distortion)
  test, test_info = fashion_mnist.fashion_mnist_dataset(
      "test", size_in, 500, subset=test_subset, seed=0,
      distortion=distortion)
  model = builder.build_vision_model(
      "small_cnn", num_classes=10, input_size=size_in, output_size=size_out,
      resizer=resizer, backbone_kwargs={"width": width})
  steps = info.num_examples // batch_size
  compile_vision_model(model, "classification", learning_rate, steps,
                       decay_epochs=decay_epochs)
  start = time.time()
  history = model.fit(train, epochs=epochs, verbose=0)
  train_seconds = time.time() - start
  results = model.evaluate(test, return_dict=True, verbose=0)
  return FashionMnistRun(model, test, history, results, train_seconds,
                         info.num_examples, test_info.num_examples)
