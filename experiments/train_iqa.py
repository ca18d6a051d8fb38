r"""Trains resizer + NIMA-style IQA model on AVA (Talebi & Milanfar, Table 5).

The backbone's head is a 10-bin softmax over rating scores trained with the
EMD loss of Eq. (2); validation reports PLCC and SRCC of predicted vs
ground-truth mean scores. Missing or corrupt AVA images are skipped and
counted.

  python -m experiments.train_iqa --ava_txt=/data/AVA/AVA.txt \
      --image_dir=/data/AVA/images --backbone=inception_v2 \
      --backbone_weights=/weights/inception_v2.h5 \
      --input_size=320,320 --output_size=224,224 --batch_size=64 \
      --epochs=20 --model_dir=runs/iqa_iv2_320

A killed run restarted with the same flags continues from its last epoch.
"""
from absl import app
from absl import flags

from resizer_tf import data
from experiments import train_classifier as vision

FLAGS = flags.FLAGS


def define_iqa_flags():
  flags.DEFINE_string("ava_txt", None, "Path of AVA.txt.")
  flags.DEFINE_string("image_dir", None, "Folder of <image id>.jpg files.")
  flags.DEFINE_float("val_fraction", 0.1,
                     "Share of image ids held out for validation (the paper's "
                     "split is unpublished; deterministic by id hash).")
  flags.DEFINE_enum("verify", "header", list(data.files.VERIFY_MODES),
                    "Up-front check of image files (skipped and counted).")
  flags.mark_flags_as_required(["ava_txt", "image_dir"])


def main(argv):
  del argv
  strategy = vision.setup()
  input_size = vision._size(FLAGS.input_size, "input_size")  # pylint: disable=protected-access
  common = dict(val_fraction=FLAGS.val_fraction, verify=FLAGS.verify,
                method=FLAGS.preresize_method,
                antialias=FLAGS.preresize_antialias)
  train, info = data.ava_dataset(
      FLAGS.ava_txt, FLAGS.image_dir, input_size, FLAGS.batch_size, "train",
      seed=FLAGS.seed, repeat=FLAGS.steps_per_epoch is not None, **common)
  val, _ = data.ava_dataset(FLAGS.ava_txt, FLAGS.image_dir, input_size,
                            FLAGS.batch_size, "val", **common)
  vision.run("iqa", train, val, info, strategy)


if __name__ == "__main__":
  # Sec. 4.2: ImageNet backbones, a new 10-bin head.
  vision.define_model_flags("inception_v2", "learned", "backbone")
  define_iqa_flags()
  app.run(main)
