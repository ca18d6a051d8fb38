r"""Fig. 5 of Chen et al.: patches ordered by the resize factor M.

Cuts non-overlapping patches from every image of a folder, asks a trained
Resize-Compress model for M of each patch (the M its encoder uses and the
file carries, i.e. ResizeParamNet's estimate clamped to [min_scale,
max_scale] and quantised to 1/4096), and writes
  * mosaic.png: the patches in rows of `--columns`, ordered by M (smallest
    first: the patches the model shrinks most),
  * m_histogram.png: the histogram of M,
  * m_values.csv: image, row, column, My, Mx per patch.

  python -m experiments.m_mosaic --model=runs/b17_resize/export \
      --images_dir=runs/bench768 --output_dir=runs/b17_resize/fig5
"""
import csv
import os

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from resizer_tf import _io
from resizer_tf import folder_tool
from resizer_tf import images
from resizer_tf import pretrained
from resizer_tf import serving

FLAGS = flags.FLAGS
PRETRAINED = "pretrained:"


def define_flags():
  folder_tool.define_flags(
      model_help="Resize-Compress SavedModel export, training model_dir, "
      "or pretrained:NAME:Q for a shipped model.",
      images_help="Folder of images.", output_help="Where the outputs go.")
  flags.DEFINE_integer("patch_size", 128, "Patch side in pixels.")
  flags.DEFINE_integer("max_patches", 256, "At most this many patches.")
  flags.DEFINE_integer("columns", 16, "Patches per mosaic row.")
  flags.DEFINE_integer("seed", 0, "Which patches, when there are more.")


def cut_patches(image, size):
  """Non-overlapping size x size patches, row-major: [(row, col, patch)]."""
  h, w = image.shape[:2]
  return [(i, j, image[i:i + size, j:j + size])
          for i in range(0, h - size + 1, size)
          for j in range(0, w - size + 1, size)]


def predict_scales(compressor, patches):
  """(My, Mx) per patch, as coded (the compress signature's `scale`)."""
  return np.array([compressor.compress(p)[1] for p in patches], np.float64)


def mosaic(patches, columns, gap=2):
  size = patches[0].shape[0]
  rows = -(-len(patches) // columns)
  canvas = np.full((rows * (size + gap) - gap, columns * (size + gap) - gap,
                    3), 255, np.uint8)
  for k, p in enumerate(patches):
    r, c = divmod(k, columns)
    canvas[r * (size + gap):r * (size + gap) + size,
           c * (size + gap):c * (size + gap) + size] = p
  return canvas


def save_histogram(m, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.hist(m, bins=np.linspace(0, 1, 41), color="0.3")
  ax.set_xlabel("resize factor M")
  ax.set_ylabel("patches")
  fig.tight_layout()
  _io.save_figure(fig, path, dpi=150)


def main(argv):
  del argv
  if FLAGS.model.startswith(PRETRAINED):
    compressor = serving.Compressor.from_model(pretrained.load(
        *pretrained.parse_spec(FLAGS.model[len(PRETRAINED):])))
  else:
    compressor = serving.Compressor(FLAGS.model)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  records = []
  for name in folder_tool.image_names(FLAGS.images_dir):
    image = images.read_image(os.path.join(FLAGS.images_dir, name))
    records += [(name, i, j, p)
                for i, j, p in cut_patches(image, FLAGS.patch_size)]
  if not records:
    raise app.UsageError("No image holds a whole patch.")
  if len(records) > FLAGS.max_patches:
    keep = np.random.default_rng(FLAGS.seed).choice(
        len(records), FLAGS.max_patches, replace=False)
    records = [records[k] for k in sorted(keep)]
  scales = predict_scales(compressor, [r[3] for r in records])
  order = np.argsort(scales.mean(axis=1), kind="stable")
  Image.fromarray(mosaic([records[k][3] for k in order],
                         FLAGS.columns)).save(
                             os.path.join(FLAGS.output_dir, "mosaic.png"))
  save_histogram(scales.mean(axis=1),
                 os.path.join(FLAGS.output_dir, "m_histogram.png"))
  with open(os.path.join(FLAGS.output_dir, "m_values.csv"), "w",
            newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["image", "row", "column", "My", "Mx"])
    for k in order:
      name, i, j, _ = records[k]
      writer.writerow([name, i, j, f"{scales[k, 0]:.6f}",
                       f"{scales[k, 1]:.6f}"])
  print(f"{len(records)} patches, M from {scales.min():.3f} to "
        f"{scales.max():.3f}; wrote {FLAGS.output_dir}")


if __name__ == "__main__":
  define_flags()
  folder_tool.run(main)
