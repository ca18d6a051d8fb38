r"""Trains the shipped Ballé17 / Ballé17 + Resize models (resumable).

  python -m experiments.train_campaign --train_dir=runs/train_images

Runs the small-scale protocol of docs/training_campaign.md in order (a
shared plain warm start, then plain and Resize per lambda), each run resuming
from its float16 snapshot in --weights_dir. Snapshots are written atomically
every --snapshot_every steps, so the campaign can be stopped at any time.
"""
import glob
import os

from absl import app
from absl import flags
from absl import logging

from resizer_tf.data import image_patches
from resizer_tf.training import campaign

_TRAIN_DIR = flags.DEFINE_string(
    "train_dir", "runs/train_images",
    "Training photos (make train-images builds them).")
_WEIGHTS_DIR = flags.DEFINE_string(
    "weights_dir", os.path.join("resizer_tf", "pretrained_weights"),
    "Where run snapshots are read and written.")
_INTERMEDIATE_DIR = flags.DEFINE_string(
    "intermediate_dir", os.path.join("weights", "campaign"),
    "Where the shared warm-start stages live (not shipped in the package).")
_ONLY = flags.DEFINE_list("only", None, "Train only these run names.")
_PATCH = flags.DEFINE_integer("patch_size", 128, "Square crops (paper: 256).")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Batch (paper: 8).")
_WARM_STEPS = flags.DEFINE_integer("warm_steps", campaign.WARM_STEPS,
                                   "Steps of the shared plain warm start.")
_RUN_STEPS = flags.DEFINE_integer("run_steps", campaign.RUN_STEPS,
                                  "Steps of each lambda's runs.")
_RESIZE_RATE = flags.DEFINE_float(
    "resize_rate_factor", campaign.RESIZE_RATE_FACTOR,
    "ResizeParamNet Adam rate / codec rate in the Resize runs (paper: 1; "
    "docs/training_campaign.md).")
_TEXTURE_STEPS = flags.DEFINE_integer(
    "texture_steps", campaign.TEXTURE_STEPS,
    "Steps of the texture stage on downscaled crops (0: none; "
    "docs/training_campaign.md).")
_TEXTURE_QUALITIES = flags.DEFINE_list(
    "texture_qualities", [str(q) for q in campaign.TEXTURE_QUALITIES],
    "Qualities (1 = lowest rate) that get the texture stage.")
_MAX_DOWNSCALE = flags.DEFINE_float(
    "max_downscale", campaign.MAX_DOWNSCALE,
    "Texture-stage crops are cut at 1 ... this times --patch_size and "
    "area-downscaled (paper: 1, no augmentation).")
_REFINE_STEPS = flags.DEFINE_integer(
    "refine_steps", campaign.REFINE_STEPS,
    "Steps of the refine stage after the texture stage (0: none; "
    "docs/training_campaign.md).")
_REFINE_QUALITIES = flags.DEFINE_list(
    "refine_qualities", [str(q) for q in campaign.REFINE_QUALITIES],
    "Qualities that get the refine stage (each needs a texture stage).")
_WAIT = flags.DEFINE_bool(
    "wait", False, "Wait for a run's warm start to finish (when another "
    "process trains it) instead of failing.")
_LOG_EVERY = flags.DEFINE_integer("log_every", 100, "Curve resolution.")
_SNAPSHOT_EVERY = flags.DEFINE_integer("snapshot_every", 500,
                                       "Steps between weight snapshots.")


def main(argv):
  del argv
  paths = sorted(glob.glob(os.path.join(_TRAIN_DIR.value, "*.png")))
  if not paths:
    raise app.UsageError(
        f"No PNG photos in --train_dir={_TRAIN_DIR.value!r}; run "
        "`make train-images` first.")
  source = image_patches.uint8_images_dataset(
      train_glob=os.path.join(_TRAIN_DIR.value, "*.png"))
  make_patches = lambda seed, max_downscale: image_patches.patches_dataset(
      source, _PATCH.value, _BATCH.value, seed=seed, cache=True,
      downscale_range=(1., max_downscale))
  runs = campaign.small_campaign(
      _WEIGHTS_DIR.value, _WARM_STEPS.value, _RUN_STEPS.value,
      intermediate_dir=_INTERMEDIATE_DIR.value,
      resize_rate_factor=_RESIZE_RATE.value,
      texture_steps=_TEXTURE_STEPS.value,
      texture_qualities=[int(q) for q in _TEXTURE_QUALITIES.value],
      max_downscale=_MAX_DOWNSCALE.value,
      refine_steps=_REFINE_STEPS.value,
      refine_qualities=[int(q) for q in _REFINE_QUALITIES.value])
  for spec, path in runs:
    if _ONLY.value and spec.name not in _ONLY.value:
      continue
    if _WAIT.value and not os.path.isfile(path):
      campaign.wait_for_warm_start(spec)
    meta = campaign.train_run(
        spec, make_patches, path, log_every=_LOG_EVERY.value,
        snapshot_every=_SNAPSHOT_EVERY.value, patch_size=_PATCH.value)
    logging.info("%s: %d/%d steps, %.0f s", spec.name, meta["steps_done"],
                 spec.steps, meta["wall_s"])


if __name__ == "__main__":
  app.run(main)
