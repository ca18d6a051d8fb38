r"""Fig. 4-6 of Talebi & Milanfar: what a trained learned resizer produces.

For every photo of a folder writes one PNG, panels left to right:
original | bilinear | bicubic | learned | |learned - bicubic|, the last
three at the resizer's output size (Fig. 6 shows the residual of the learned
resizer against bicubic). The original is pre-resized to the model's input
resolution first (Sec. 4, `data.resize_to_input`, bilinear), as in
training; the bilinear and bicubic panels resize that same input (no
antialiasing, as the baselines of `build_vision_model`). The learned output
is unbounded: shown clipped to [0, 255]; the residual is scaled so its 99th
percentile is white.

  python -m experiments.resizer_figure --model=runs/r50_368/final.keras \
      --images_dir=photos --output_dir=runs/r50_368/figures
"""
import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image
import tensorflow as tf

from resizer_tf import folder_tool
from resizer_tf import images
from resizer_tf import models
from resizer_tf.data import preprocess

FLAGS = flags.FLAGS


def define_flags():
  folder_tool.define_flags(
      model_help="A trained classifier / IQA model: its final.keras, or the "
      "model_dir holding it.", images_help="Folder of photos.",
      output_help="Where the PNGs go.")
  flags.DEFINE_integer("gap", 4, "White pixels between panels.")


def load(path):
  if os.path.isdir(path) and not os.path.exists(
      os.path.join(path, "saved_model.pb")):
    path = os.path.join(path, "final.keras")
  return tf.keras.models.load_model(path, compile=False)


def panels(model, image):
  """uint8 [H, W, 3] -> list of uint8 panels (see module docstring)."""
  resized_model = models.resized_images_model(model)
  in_shape = model.inputs[0].shape[1:3]
  size = (tuple(in_shape) if None not in in_shape else image.shape[:2])
  x = preprocess.resize_to_input(image, size)[None]
  learned = resized_model(x, training=False)[0].numpy()
  out_size = learned.shape[:2]
  bilinear = tf.image.resize(x, out_size, "bilinear")[0].numpy()
  bicubic = tf.image.resize(x, out_size, "bicubic")[0].numpy()
  residual = np.abs(learned - bicubic)
  scale = max(float(np.percentile(residual, 99)), 1e-6)
  to_u8 = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)
  return [image, to_u8(bilinear), to_u8(bicubic), to_u8(learned),
          to_u8(residual / scale * 255.)]


def mosaic(parts, gap=4):
  height = max(p.shape[0] for p in parts)
  width = sum(p.shape[1] for p in parts) + gap * (len(parts) - 1)
  canvas = np.full((height, width, 3), 255, np.uint8)
  x = 0
  for p in parts:
    canvas[:p.shape[0], x:x + p.shape[1]] = p
    x += p.shape[1] + gap
  return canvas


def main(argv):
  del argv
  model = load(FLAGS.model)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  names = folder_tool.image_names(FLAGS.images_dir)
  if not names:
    raise app.UsageError(f"No images in {FLAGS.images_dir!r}.")
  for name in names:
    image = images.read_image(os.path.join(FLAGS.images_dir, name))
    out = os.path.join(FLAGS.output_dir, os.path.splitext(name)[0] + ".png")
    Image.fromarray(mosaic(panels(model, image), FLAGS.gap)).save(out)
    print(out)


if __name__ == "__main__":
  define_flags()
  folder_tool.run(main)
