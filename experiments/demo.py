r"""The README's main job: a short Resize-Compress training, then coding.

Trains Ballé17 + Resize briefly on real photos shipped inside installed
packages (scikit-image), exports the SavedModel, then compresses and
decompresses a photo it never saw (scikit-learn's "china"), printing bpp,
PSNR and M. A few minutes on 2 CPU cores; the short schedule (larger learning
rate, small patches and filters) is a demo setting, not the paper's.

  python -m experiments.demo [--output_dir=runs/demo]
"""
import os

from absl import app
from absl import flags
import numpy as np

from resizer_tf import images
from resizer_tf import serving
from resizer_tf.data import image_patches
from resizer_tf.training import compression

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/demo", "Model dir and outputs.")
flags.DEFINE_list("train_photos", ["astronaut", "coffee", "chelsea", "rocket",
                                   "immunohistochemistry", "hubble_deep_field"],
                  "Built-in photos to train on.")
flags.DEFINE_string("test_photo", "china", "Built-in photo to code.")
flags.DEFINE_integer("steps", 600, "Training steps.")
flags.DEFINE_integer("num_filters", 64, "Ballé17 N (paper-scale: 128).")
flags.DEFINE_float("lmbda", 0.01, "lambda of Eq. (12).")
flags.DEFINE_float("learning_rate", 1e-3, "Demo rate (paper: 1e-4).")
flags.DEFINE_integer("patch_size", 128, "Demo patches (paper: 256).")


def main(argv):
  del argv
  if FLAGS.test_photo in FLAGS.train_photos:
    raise app.UsageError("--test_photo must not be a training photo.")
  model_dir = os.path.join(FLAGS.output_dir, "model")
  source = image_patches.uint8_images_dataset(builtin=FLAGS.train_photos)
  build = lambda: compression.build_model(
      "balle2017", codec_kwargs=dict(num_filters=FLAGS.num_filters),
      lmbda=FLAGS.lmbda, learning_rate_value=FLAGS.learning_rate,
      resize_learning_rate=FLAGS.learning_rate,
      entropy_learning_rate=FLAGS.learning_rate,
      decayed_learning_rate=FLAGS.learning_rate)
  _, export_dir = compression.train(
      build, source, model_dir, FLAGS.steps, steps_per_epoch=100,
      patch_size=FLAGS.patch_size, batch_size=8, seed=0)
  compressor = serving.Compressor(export_dir)
  photo = images.builtin_photo(FLAGS.test_photo)
  data, scale = compressor.compress(photo)
  decoded = compressor.decompress(data)
  h, w = photo.shape[:2]
  mse = np.mean((photo.astype(np.float64) - decoded) ** 2)
  path = os.path.join(FLAGS.output_dir, FLAGS.test_photo + ".rztf")
  from resizer_tf import _io  # pylint: disable=g-import-not-at-top
  _io.atomic_write_bytes(path, data)
  print(f"\n{FLAGS.test_photo} ({w}x{h}, not seen in training) -> {path}\n"
        f"  {len(data)} bytes = {8 * len(data) / (h * w):.4f} bpp, "
        f"PSNR {10 * np.log10(255 ** 2 / mse):.2f} dB, M = {scale[0]:.4f}\n"
        f"  SavedModel: {export_dir}")


if __name__ == "__main__":
  app.run(main)
