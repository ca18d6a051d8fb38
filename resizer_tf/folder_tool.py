"""What the figure binaries that run a trained model over a folder of
images share (experiments/m_mosaic.py, experiments/resizer_figure.py):
the required --model, --images_dir and --output_dir flags, and which files
of the folder are images.
"""
import os

from absl import app
from absl import flags

#: Files of --images_dir that are read (case-insensitive endings).
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
REQUIRED_FLAGS = ("model", "images_dir", "output_dir")


def define_flags(model_help, images_help, output_help):
  """Defines --model, --images_dir and --output_dir (no defaults)."""
  flags.DEFINE_string("model", None, model_help)
  flags.DEFINE_string("images_dir", None, images_help)
  flags.DEFINE_string("output_dir", None, output_help)


def image_names(folder):
  """The names of the image files in `folder` (by EXTENSIONS), sorted."""
  return sorted(n for n in os.listdir(folder)
                if n.lower().endswith(EXTENSIONS))


def run(main):
  """`app.run(main)` with the three flags of `define_flags` required."""
  flags.mark_flags_as_required(list(REQUIRED_FLAGS))
  app.run(main)
