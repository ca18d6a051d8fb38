r"""Builds the Kodak-sized stand-in benchmark set (docs/design_notes.md §2).

  python -m experiments.make_bench_images --output_dir=data/bench768

23 photos from the Debian packages mate-backgrounds and
plasma-workspace-wallpapers (GPL-2+), centre-cropped to 3:2 and area-downscaled
to 768x512 PNG, plus manifest.json (source, licence, sha256).
"""
from absl import app
from absl import flags
from absl import logging

from resizer_tf.data import bench_images

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder that receives the PNGs and manifest.json.",
    required=True)
_HEIGHT = flags.DEFINE_integer(
    "height", bench_images.DEFAULT_SIZE[0], "Output height (Kodak: 512).")
_WIDTH = flags.DEFINE_integer(
    "width", bench_images.DEFAULT_SIZE[1], "Output width (Kodak: 768).")


def main(argv):
  del argv
  manifest = bench_images.build_bench_set(
      _OUTPUT_DIR.value, size=(_HEIGHT.value, _WIDTH.value))
  logging.info("Wrote %d images and manifest.json to %s",
               len(manifest["images"]), _OUTPUT_DIR.value)


if __name__ == "__main__":
  app.run(main)
