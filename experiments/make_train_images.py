r"""Builds the training photographs (disjoint from the bench set).

  python -m experiments.make_train_images --output_dir=runs/train_images

Photographs from the Debian packages lomiri-wallpapers-16.04/-20.04 and
scikit-image's sample photos, area-downscaled, plus manifest.json (source,
package, licence, sha256). See resizer_tf/data/train_images.py.
"""
from absl import app
from absl import flags
from absl import logging

from resizer_tf.data import train_images

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder that receives the PNGs and manifest.json.",
    required=True)


def main(argv):
  del argv
  manifest = train_images.build_train_set(_OUTPUT_DIR.value)
  logging.info("Wrote %d images and manifest.json to %s",
               len(manifest["images"]), _OUTPUT_DIR.value)


if __name__ == "__main__":
  app.run(main)
