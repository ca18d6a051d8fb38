"""Training, validation, export, multi-device and resume of the vision binaries."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest
import scipy.stats
import tensorflow as tf

from resizer_tf import data
from resizer_tf import models
from resizer_tf.models import training

import keras_compat  # tests/keras_compat.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(input_size=(14, 12), output_size=(8, 6),
            backbone_kwargs={"width": 4})


def _env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def test_top_k_error_matches_numpy():
  rng = np.random.default_rng(0)
  probs = rng.dirichlet(np.ones(10), 20).astype(np.float32)
  labels = rng.integers(0, 10, 20)
  for k in (1, 5):
    top = np.argsort(-probs, axis=1)[:, :k]
    expected = 1 - np.mean([l in t for l, t in zip(labels, top)])
    metric = training.TopKError(k)
    metric.update_state(labels, probs)
    assert metric.result().numpy() == pytest.approx(expected)
    assert metric.name == f"top{k}_error"


def test_learning_rate_decays_by_094_every_two_epochs():
  schedule = training.learning_rate_schedule(0.05, steps_per_epoch=10)
  for step, lr in ((0, 0.05), (19, 0.05), (20, 0.05 * 0.94),
                   (39, 0.05 * 0.94), (45, 0.05 * 0.94 ** 2)):
    assert float(schedule(step)) == pytest.approx(lr, rel=1e-6)
  model = models.build_vision_model("small_cnn", num_classes=3, **TINY)
  training.compile_vision_model(model, "classification", 0.05, 10)
  assert isinstance(model.optimizer, tf.keras.optimizers.SGD)
  assert float(model.optimizer.momentum) == pytest.approx(0.9)
  assert model.loss.label_smoothing == pytest.approx(0.1)


@pytest.mark.parametrize("task", ["classification", "iqa"])
def test_saved_model_matches_keras_model(task, tmp_path):
  model = models.build_vision_model("small_cnn", task=task, num_classes=4,
                                    **TINY)
  export = str(tmp_path / "export")
  training.export_serving_model(model, export, task, TINY["input_size"])
  serve = tf.saved_model.load(export).signatures["serving_default"]
  spec = serve.structured_input_signature[1]["images"]
  assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None] * 3 + [3]
  images = np.random.default_rng(1).integers(0, 256, (3, 31, 22, 3), np.uint8)
  out = serve(images=tf.constant(images))
  reference = model(data.resize_to_input(images, TINY["input_size"]),
                    training=False).numpy()
  if task == "classification":
    np.testing.assert_allclose(out["probabilities"], reference, atol=1e-5)
  else:
    np.testing.assert_allclose(out["score_distribution"], reference,
                               atol=1e-5)
    np.testing.assert_allclose(out["mean_score"],
                               reference @ np.arange(1, 11), atol=1e-4)
  # Another batch size and image size through the same signature.
  assert serve(images=tf.zeros([1, 5, 7, 3], tf.uint8))[
      "probabilities" if task == "classification" else
      "score_distribution"].shape == (1, 4 if task == "classification" else 10)


def test_correlation_callback_matches_scipy():
  model = models.build_vision_model("small_cnn", task="iqa", **TINY)
  # Spread the predicted distributions so the correlations are well posed.
  logits = model.get_layer("logits")
  logits.kernel.assign(logits.kernel * 50)
  rng = np.random.default_rng(2)
  x = rng.uniform(0, 255, (6, 14, 12, 3)).astype(np.float32)
  y = rng.dirichlet(np.ones(10), 6).astype(np.float32)
  dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
  callback = training.CorrelationEvaluation(dataset)
  callback.set_model(model)
  logs = {}
  callback.on_epoch_end(0, logs)
  predicted = model(x, training=False).numpy() @ np.arange(1, 11)
  truth = y @ np.arange(1, 11)
  assert np.std(predicted) > 0.1
  assert logs["val_plcc"] == pytest.approx(
      scipy.stats.pearsonr(predicted, truth)[0], abs=1e-4)
  assert logs["val_srcc"] == pytest.approx(
      scipy.stats.spearmanr(predicted, truth)[0], abs=1e-6)


_MIRRORED = r"""
import numpy as np, tensorflow as tf
from resizer_tf.training import runner
runner.configure_logical_cpus(2)  # before TF initialises its devices
from resizer_tf import losses, models
from resizer_tf.models import training
tf.keras.utils.set_random_seed(0)
build = lambda: models.build_vision_model(
    "small_cnn", num_classes=4, input_size=(14, 12), output_size=(8, 6),
    backbone_kwargs={"width": 4})
x = np.random.RandomState(0).uniform(0, 255, (4, 14, 12, 3)).astype("float32")
y = np.array([0, 1, 2, 3])
strategy = runner.make_strategy(2)
assert isinstance(strategy, tf.distribute.MirroredStrategy)
assert strategy.num_replicas_in_sync == 2
with strategy.scope():
  mirrored = build()
  training.compile_vision_model(mirrored, "classification", 0.05, 10)
initial = mirrored.get_weights()
mirrored.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), epochs=1,
             verbose=0)
# One device: each replica's half has its own BN statistics; the gradient is
# the mean of the two halves' gradients.
single = build()
single.set_weights(initial)
grads = []
for half in (slice(0, 2), slice(2, 4)):
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(losses.label_smoothed_cross_entropy(
        y[half], single(x[half], training=True)))
  grads.append(tape.gradient(loss, single.trainable_variables))
tf.keras.optimizers.SGD(0.05, momentum=0.9).apply_gradients(
    [((a + b) / 2, v) for a, b, v in zip(*grads, single.trainable_variables)])
diff = max(float(np.max(np.abs(a.numpy() - b.numpy())))
           for a, b in zip(single.trainable_variables,
                           mirrored.trainable_variables))
moved = max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(
    [w for w, v in zip(initial, mirrored.weights) if v.trainable],
    mirrored.trainable_variables))
print("RESULT", diff, moved)
"""


def test_two_device_mirrored_step_matches_one_device():
  out = subprocess.run([sys.executable, "-c", _MIRRORED], env=_env(),
                       capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  diff, moved = map(float, out.stdout.split("RESULT")[1].split())
  assert moved > 1e-3  # the step did change the weights
  assert diff < 1e-5


def _csv_epochs(path):
  with open(path) as f:
    return [int(line.split(",")[0]) for line in f.readlines()[1:]]


def test_classifier_resumes_after_kill(tmp_path):
  model_dir = str(tmp_path / "run")
  args = [sys.executable, "-m", "experiments.train_classifier",
          "--dataset=fashion_mnist", "--backbone=small_cnn",
          '--backbone_kwargs={"width": 4}', "--input_size=16,12",
          "--output_size=8,6", "--batch_size=32", "--train_subset=256",
          "--val_subset=64", f"--model_dir={model_dir}", "--verbose=0"]
  first = subprocess.Popen(args + ["--epochs=1000"], cwd=ROOT, env=_env(),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
  index = keras_compat.backup_checkpoint_file(os.path.join(model_dir, "backup"))
  log = os.path.join(model_dir, "log.csv")

  def saved_and_logged():
    # Keras 3 writes the backup before the CSV row of the same epoch, so a
    # kill right after the first checkpoint can leave an empty log; wait for
    # both so the resume is checked against at least one logged epoch.
    return (os.path.exists(index) and os.path.exists(log)
            and _csv_epochs(log))

  deadline = time.time() + 240
  while not saved_and_logged() and time.time() < deadline:
    assert first.poll() is None, "training exited before its first checkpoint"
    time.sleep(0.05)
  assert saved_and_logged(), "no checkpoint and log row within the deadline"
  first.send_signal(signal.SIGKILL)
  first.wait()
  done = _csv_epochs(log)
  assert done and done == list(range(len(done)))
  target = len(done) + 2
  second = subprocess.run(args + [f"--epochs={target}"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True,
                          timeout=300)
  assert second.returncode == 0, second.stderr[-3000:]
  resumed = _csv_epochs(os.path.join(model_dir, "log.csv"))[len(done):]
  # Continues after the last saved epoch (the kill may fall between the
  # checkpoint and the CSV row of the same epoch), never from scratch.
  assert resumed[0] in (len(done), len(done) + 1)
  assert resumed == list(range(resumed[0], target))
  results = json.load(open(os.path.join(model_dir, "results.json")))
  assert 0 <= results["top1_error"] <= 1 and results["flops_per_image"] > 0
  assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))


def test_iqa_binary_on_synthetic_ava(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  rng = np.random.default_rng(3)
  ids = list(range(2000, 2100))
  val = data.ava.in_validation_split(ids, 0.3)
  chosen = [i for i, v in zip(ids, val) if v][:4] + [
      i for i, v in zip(ids, val) if not v][:6]
  lines = []
  for n, image_id in enumerate(chosen):
    counts = rng.integers(0, 20, 10)
    lines.append(" ".join(map(str, [n, image_id, *counts, 0, 0, 1])))
    if n != 5:  # one training image is missing
      Image.fromarray(rng.integers(0, 256, (20 + n, 18, 3), np.uint8)).save(
          images / f"{image_id}.jpg")
  (tmp_path / "AVA.txt").write_text("\n".join(lines) + "\n")
  model_dir = str(tmp_path / "iqa")
  out = subprocess.run(
      [sys.executable, "-m", "experiments.train_iqa",
       f"--ava_txt={tmp_path / 'AVA.txt'}", f"--image_dir={images}",
       "--val_fraction=0.3", "--backbone=small_cnn",
       '--backbone_kwargs={"width": 4}', "--input_size=20,16",
       "--output_size=10,8", "--batch_size=2", "--epochs=1",
       f"--model_dir={model_dir}", "--verbose=0"],
      cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "Skipping 1 missing and 0 corrupt" in out.stderr
  results = json.load(open(os.path.join(model_dir, "results.json")))
  assert -1 <= results["plcc"] <= 1 and -1 <= results["srcc"] <= 1
  assert results["resizer_paper_parameters"] == 11872  # Table 2: 11.87 K
  log = open(os.path.join(model_dir, "log.csv")).readline()
  assert "val_plcc" in log and "val_srcc" in log
  assert os.listdir(os.path.join(model_dir, "tensorboard", "images"))
  serve = tf.saved_model.load(os.path.join(model_dir, "export")).signatures[
      "serving_default"]
  result = serve(images=tf.zeros([2, 33, 41, 3], tf.uint8))
  np.testing.assert_allclose(
      result["mean_score"], result["score_distribution"].numpy()
      @ np.arange(1, 11), rtol=1e-5)
