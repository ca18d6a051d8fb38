"""The Sec. III-F schedule of `training.compression.train`: the 256 px stage,
then the 384 px refinement stage, resumable as one schedule."""
import csv
import os

import numpy as np
import tensorflow as tf

from resizer_tf.data import image_patches
from resizer_tf.training import compression


def test_refinement_stage_follows_on_larger_crops(tmp_path, monkeypatch):
  requested = []
  original = image_patches.patches_dataset

  def spy(source, patch_size=256, batch_size=8, **kwargs):
    requested.append(patch_size)
    return original(source, patch_size, batch_size, **kwargs)

  monkeypatch.setattr(image_patches, "patches_dataset", spy)
  rng = np.random.default_rng(0)
  photos = [rng.integers(0, 256, (80, 96, 3), dtype=np.uint8)
            for _ in range(3)]
  source = tf.data.Dataset.from_tensor_slices(np.stack(photos))
  build = lambda: compression.build_model(
      "balle2017", codec_kwargs=dict(num_filters=8), resize=False)
  model_dir = str(tmp_path / "run")
  compression.train(build, source, model_dir, steps=4, steps_per_epoch=2,
                    patch_size=32, batch_size=2, refine_steps=3,
                    refine_patch_size=64, export_dir=str(tmp_path / "exp"))
  assert requested == [32, 64]
  with open(os.path.join(model_dir, "log.csv")) as f:
    epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
  # 2 epochs of 2 steps, then ceil(3 / 2) = 2 refinement epochs.
  assert epochs == [0, 1, 2, 3]
  # Run again: everything is done, nothing is retrained.
  requested.clear()
  compression.train(build, source, model_dir, steps=4, steps_per_epoch=2,
                    patch_size=32, batch_size=2, refine_steps=3,
                    refine_patch_size=64, export_dir=str(tmp_path / "exp"))
  with open(os.path.join(model_dir, "log.csv")) as f:
    assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2, 3]


def test_progress_lines_report_rate_and_eta(caplog):
  progress = compression.Progress(total_steps=4, every=2)
  progress.set_params({"steps": 2})
  progress.on_epoch_begin(0)
  with caplog.at_level("INFO", logger="absl"):
    for i in range(4):
      progress.on_train_batch_end(i, {"loss": 1.5})
  lines = [r.getMessage() for r in caplog.records if "steps/s" in r.getMessage()]
  assert len(lines) == 2
  assert lines[0].startswith("step 2/4") and "ETA" in lines[0]
  assert lines[1].startswith("step 4/4") and "ETA 0:00:00" in lines[1]
  assert "loss 1.5" in lines[1]


def test_mixed_quantization_decodes_what_coding_decodes():
  """quantization="mixed": the training pass synthesises from the coder's
  rounding (equal to the evaluation pass), while the rate is the noisy
  bound and gradients still reach the analysis transform."""
  from resizer_tf import resize_compress  # pylint: disable=g-import-not-at-top
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=8), resize=False,
      quantization="mixed")
  x = tf.random.stateless_uniform([2, 32, 48, 3], seed=(4, 5))
  evaluated = model(x, training=False)
  with tf.GradientTape() as tape:
    trained = model(x, training=True)
    loss = tf.reduce_mean(trained["loss"])
  np.testing.assert_allclose(trained["x_hat"].numpy(),
                             evaluated["x_hat"].numpy(), atol=1e-5)
  grads = tape.gradient(loss, model.codec.analysis.trainable_variables)
  assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
             for g in grads)
  noise = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=8), resize=False)
  noise(x[:1])
  noise.set_weights(model.get_weights())
  tf.random.set_seed(0)
  noisy_bits = noise(x, training=True)["bits"]
  tf.random.set_seed(0)
  mixed_bits = model(x, training=True)["bits"]
  np.testing.assert_allclose(mixed_bits.numpy(), noisy_bits.numpy(),
                             rtol=1e-5)
  try:
    resize_compress.ResizeCompress(
        "balle2018_hyperprior", codec_kwargs=dict(num_filters=8),
        quantization="mixed")
  except ValueError as e:
    assert "factorized-prior" in str(e)
  else:
    raise AssertionError("mixed quantization accepted for a hyperprior")


def _batch(image, patch, downscale_range, count=6):
  source = tf.data.Dataset.from_tensors(image)
  ds = image_patches.patches_dataset(source, patch, count, seed=3,
                                     downscale_range=downscale_range)
  return next(iter(ds)).numpy()


def test_downscaled_crops_are_box_means_of_a_crop():
  """Factor 2: each patch equals the 2x2 block means (rounded to 8 bits) of
  some 2P x 2P window of the source, found by search."""
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (20, 22, 3), dtype=np.uint8)
  patch = 4
  windows = {}
  src = image.astype(np.float64)
  for top in range(20 - 2 * patch + 1):
    for left in range(22 - 2 * patch + 1):
      w = src[top:top + 2 * patch, left:left + 2 * patch]
      windows[(top, left)] = np.round(
          w.reshape(patch, 2, patch, 2, 3).mean((1, 3))) / 255.
  for p in _batch(image, patch, (2., 2.)):
    assert any(np.allclose(p, w, atol=1e-6) for w in windows.values())
  # Without downscaling, patches are plain crops.
  for p in _batch(image, patch, (1., 1.)):
    assert any(np.array_equal(np.round(p * 255).astype(np.uint8),
                              image[t:t + patch, l:l + patch])
               for t in range(17) for l in range(19))


def test_fractional_downscale_averages_a_ramp_over_its_cells():
  """Factor 2.5 on a horizontal ramp v = 10 * column: an area-weighted mean
  over [c, c + 2.5) is the ramp at the cell's centre, so neighbouring output
  columns differ by 25 grey levels (up to 8-bit rounding)."""
  cols = np.arange(24, dtype=np.float64)
  image = np.broadcast_to((10 * cols)[None, :, None], (24, 24, 3)).astype(
      np.uint8)
  for p in _batch(image, 4, (2.5, 2.5)):
    steps = np.diff(p[0, :, 0] * 255.)
    np.testing.assert_allclose(steps, 25., atol=1.)
    np.testing.assert_allclose(p[:, :, 0], p[:1, :, 0].repeat(4, 0))


def test_downscale_factors_stay_in_range_and_vary():
  """Log-uniform factors in [1.5, 3]: a ramp's step between output columns
  is 10 * factor, so it reveals each patch's factor."""
  cols = np.arange(24, dtype=np.float64)
  image = np.broadcast_to((10 * cols)[None, :, None], (24, 24, 3)).astype(
      np.uint8)
  factors = [np.mean(np.diff(p[0, :, 0] * 255.)) / 10.
             for p in _batch(image, 4, (1.5, 3.), count=16)]
  # side = round(4 * f) in 6..12, so the measured factor is side / 4.
  assert min(factors) >= 1.5 - 0.1 and max(factors) <= 3. + 0.1
  assert max(factors) - min(factors) > 0.5


def test_bad_downscale_range_is_refused():
  source = tf.data.Dataset.from_tensors(np.zeros((8, 8, 3), np.uint8))
  for bad in ((0.5, 2.), (3., 2.)):
    with np.testing.assert_raises(ValueError):
      image_patches.patches_dataset(source, 4, 2, downscale_range=bad)
