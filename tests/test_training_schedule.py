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
