r"""Trains resizer + classifier jointly (Talebi & Milanfar 2021, Table 4).

Examples:

  # Real data always present (Fashion-MNIST), tiny CNN, 56 -> 28 learned:
  python -m experiments.train_classifier --dataset=fashion_mnist \
      --backbone=small_cnn --input_size=56,56 --output_size=28,28 \
      --batch_size=64 --epochs=4 --model_dir=runs/fmnist_learned

  # ImageNet prepared from the manual tar files (never downloaded):
  python -m experiments.train_classifier --dataset=tfds:imagenet2012 \
      --data_dir=/data/tfds --manual_dir=/data/imagenet_tars \
      --backbone=resnet50 --input_size=368,368 --output_size=224,224 \
      --batch_size=48 --epochs=40 --model_dir=runs/r50_368

  # Table 6: start from a resizer trained with another backbone.
  python -m experiments.train_classifier ... --backbone=densenet121 \
      --backbone_weights=/weights/densenet121_notop.h5 \
      --init_resizer_from=runs/r50_368/final.keras --epochs=4

A killed run restarted with the same flags continues from its last epoch.
"""
import json
import os

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from resizer_tf import data
from resizer_tf import models
from resizer_tf.models import builder
from resizer_tf.models import training
from resizer_tf.training import runner

FLAGS = flags.FLAGS


def define_model_flags(default_backbone, default_resizer,
                       default_weights_mode="full"):
  """Flags shared by both vision binaries."""
  flags.DEFINE_string("backbone", default_backbone,
                      f"One of {sorted(models.BACKBONES)}.")
  flags.DEFINE_string("backbone_kwargs", "{}",
                      'JSON constructor arguments, e.g. {"alpha": 0.35}.')
  flags.DEFINE_string("backbone_weights", None,
                      "Local file of the trained baseline (never downloaded): "
                      "its final.keras, or a Keras .h5 weights file.")
  flags.DEFINE_enum("weights_mode", default_weights_mode,
                    list(models.weights.WEIGHTS_MODES),
                    "full: backbone AND classifier head from "
                    "--backbone_weights (Sec. 4: classifiers initialised "
                    "from the trained baselines); backbone: headless "
                    "backbone only, new random head.")
  flags.DEFINE_enum("resizer", default_resizer, list(builder.RESIZERS),
                    "Learned resizer (Fig. 3) or the plain baseline.")
  flags.DEFINE_list("input_size", ["224", "224"],
                    "Resizer input resolution H,W (images are pre-resized).")
  flags.DEFINE_list("output_size", ["224", "224"],
                    "Resizer output = backbone input resolution H,W.")
  flags.DEFINE_integer("filters", 16, "n of Fig. 3 (paper: 16).")
  flags.DEFINE_integer("num_res_blocks", 1, "r of Fig. 3 (paper: 1).")
  flags.DEFINE_string("resizer_interpolation", "bilinear",
                      "Base resizer inside the learned resizer (paper).")
  flags.DEFINE_float("resizer_input_scale", 1 / 255,
                     "The learned resizer runs on pixels * this (unstated "
                     "in the paper; [0, 1]).")
  flags.DEFINE_string("init_resizer_from", None,
                      "A final.keras whose learned resizer initialises this "
                      "one (Tables 6-7).")
  flags.DEFINE_enum("preresize_method", "bilinear",
                    list(data.preprocess.PRERESIZE_METHODS),
                    "Resize to the input resolution (paper: bilinear or "
                    "bicubic).")
  flags.DEFINE_bool("preresize_antialias", False, "Antialias the pre-resize.")
  flags.DEFINE_integer("batch_size", 128, "Global batch size.")
  flags.DEFINE_integer("epochs", 10, "Epochs.")
  flags.DEFINE_integer("steps_per_epoch", None,
                       "Optimizer steps per epoch (default: one pass).")
  flags.DEFINE_float("learning_rate", None,
                     "Default 0.05 from scratch, 0.005 when fine-tuning (a "
                     "backbone or resizer is initialised), Sec. 4.")
  flags.DEFINE_float("momentum", 0.9, "SGD momentum (Sec. 4).")
  flags.DEFINE_float("decay_rate", 0.94, "Exponential decay (Sec. 4).")
  flags.DEFINE_float("decay_epochs", 2, "Decay every this many epochs.")
  flags.DEFINE_float("head_dropout", 0.0, "Dropout before the head.")
  flags.DEFINE_string("model_dir", None, "Checkpoints, TensorBoard, logs.")
  flags.DEFINE_string("export_dir", None,
                      "Serving SavedModel (default: model_dir/export).")
  flags.DEFINE_integer("num_devices", 0,
                       "Devices for MirroredStrategy (0: all GPUs or one CPU).")
  flags.DEFINE_integer("logical_cpus", 0,
                       "Split the CPU into this many devices (testing).")
  flags.DEFINE_bool("mixed_precision", False, "mixed_float16 policy.")
  flags.DEFINE_integer("seed", 0, "Random seed.")
  flags.DEFINE_integer("verbose", 2, "Keras fit verbosity.")
  flags.mark_flag_as_required("model_dir")


def _size(values, name):
  try:
    return tuple(int(v) for v in values)
  except ValueError:
    raise app.UsageError(f"--{name} must be H,W integers; got {values}.")


def setup():
  """Devices, precision and seeds; returns the strategy."""
  if FLAGS.logical_cpus:
    runner.configure_logical_cpus(FLAGS.logical_cpus)
  if FLAGS.mixed_precision:
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
  tf.keras.utils.set_random_seed(FLAGS.seed)
  return runner.make_strategy(FLAGS.num_devices)


def model_builder(task, num_outputs, initialise=True):
  """A closure building (and initialising) the model from the flags."""
  def build():
    model = models.build_vision_model(
        FLAGS.backbone, task=task, num_classes=num_outputs,
        num_score_bins=num_outputs,
        input_size=_size(FLAGS.input_size, "input_size"),
        output_size=_size(FLAGS.output_size, "output_size"),
        resizer=FLAGS.resizer, filters=FLAGS.filters,
        num_res_blocks=FLAGS.num_res_blocks,
        resizer_interpolation=FLAGS.resizer_interpolation,
        resizer_input_scale=FLAGS.resizer_input_scale,
        backbone_weights=FLAGS.backbone_weights if initialise else None,
        weights_mode=FLAGS.weights_mode,
        head_dropout=FLAGS.head_dropout,
        backbone_kwargs=json.loads(FLAGS.backbone_kwargs))
    if initialise and FLAGS.init_resizer_from:
      models.transfer_resizer_weights(FLAGS.init_resizer_from, model)
    return model
  return build


def run(task, train_data, val_data, train_info, strategy):
  """Trains, validates and exports; shared by both binaries."""
  input_size = _size(FLAGS.input_size, "input_size")
  steps = FLAGS.steps_per_epoch or max(
      1, train_info.num_examples // FLAGS.batch_size)
  learning_rate = FLAGS.learning_rate
  if learning_rate is None:
    fine_tune = FLAGS.backbone_weights or FLAGS.init_resizer_from
    learning_rate = (training.LEARNING_RATE_FINE_TUNE if fine_tune
                     else training.LEARNING_RATE_SCRATCH)
  logging.info("%s: %d training examples (%d skipped), %d steps/epoch, lr %g",
               task, train_info.num_examples, train_info.skipped, steps,
               learning_rate)
  summary_images = next(iter(val_data))[0][:4]
  build = model_builder(task, train_info.num_classes)
  # Table 4's "Total FLOPS" (architecture only: no weights needed).
  architecture = model_builder(task, train_info.num_classes, False)()
  flops = models.count_flops(architecture)
  resizer = architecture.get_layer(builder.RESIZER_LAYER)
  extra = {"flops_per_image": flops,
           "resizer_paper_parameters": (resizer.paper_parameter_count() if
                                        FLAGS.resizer == "learned" else 0)}
  logging.info("%s", extra)
  del architecture
  model, results = training.train_vision_model(
      build, task, train_data, val_data, steps_per_epoch=steps,
      epochs=FLAGS.epochs, model_dir=FLAGS.model_dir,
      learning_rate=learning_rate, momentum=FLAGS.momentum,
      decay_rate=FLAGS.decay_rate, decay_epochs=FLAGS.decay_epochs,
      strategy=strategy, train_steps=FLAGS.steps_per_epoch,
      summary_images=summary_images,
      export_dir=FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export"),
      input_size=input_size, preresize_method=FLAGS.preresize_method,
      preresize_antialias=FLAGS.preresize_antialias, verbose=FLAGS.verbose,
      extra_results=extra,
      **({"label_smoothing": FLAGS.label_smoothing}
         if task == "classification" else {}))
  logging.info("done: %s", results)
  return model, results


def classification_data(input_size):
  """(train, val, train_info) from --dataset."""
  common = dict(method=FLAGS.preresize_method,
                antialias=FLAGS.preresize_antialias)
  repeat = FLAGS.steps_per_epoch is not None
  batch = FLAGS.batch_size
  if FLAGS.dataset == "fashion_mnist":
    train, info = data.fashion_mnist_dataset(
        "train", input_size, batch, subset=FLAGS.train_subset,
        seed=FLAGS.seed, repeat=repeat, root=FLAGS.fashion_mnist_root,
        distortion=FLAGS.distortion, **common)
    val, _ = data.fashion_mnist_dataset(
        "test", input_size, batch, subset=FLAGS.val_subset,
        root=FLAGS.fashion_mnist_root, distortion=FLAGS.distortion, **common)
  elif FLAGS.dataset == "folder":
    if not FLAGS.train_dir or not FLAGS.val_dir:
      raise app.UsageError("--dataset=folder needs --train_dir and --val_dir.")
    train, info = data.image_folder_dataset(
        FLAGS.train_dir, input_size, batch, True, verify=FLAGS.verify,
        seed=FLAGS.seed, repeat=repeat, **common)
    val, _ = data.image_folder_dataset(
        FLAGS.val_dir, input_size, batch, False, verify=FLAGS.verify,
        class_names=info.class_names, **common)
  elif FLAGS.dataset.startswith("tfds:"):
    name = FLAGS.dataset[len("tfds:"):]
    kw = dict(data_dir=FLAGS.data_dir, manual_dir=FLAGS.manual_dir, **common)
    train, info = data.tfds_dataset(name, FLAGS.train_split, input_size, batch,
                                    True, seed=FLAGS.seed, repeat=repeat, **kw)
    val, _ = data.tfds_dataset(name, FLAGS.val_split, input_size, batch,
                               False, **kw)
  else:
    raise app.UsageError(
        "--dataset must be fashion_mnist, folder or tfds:<name>; got "
        f"{FLAGS.dataset!r}.")
  if FLAGS.distortion not in (None, "", "none") and (
      FLAGS.dataset != "fashion_mnist"):
    raise app.UsageError("--distortion is implemented for "
                         "--dataset=fashion_mnist only.")
  if not info.num_classes:
    raise app.UsageError("The dataset's number of classes is unknown.")
  return train, val, info


def main(argv):
  del argv
  strategy = setup()
  train, val, info = classification_data(_size(FLAGS.input_size,
                                               "input_size"))
  run("classification", train, val, info, strategy)


def define_classifier_flags():
  flags.DEFINE_string("dataset", "fashion_mnist",
                      "fashion_mnist, folder or tfds:<name> (e.g. "
                      "tfds:imagenet2012).")
  flags.DEFINE_string("fashion_mnist_root", data.fashion_mnist.DEFAULT_ROOT,
                      "Folder of the Fashion-MNIST idx files.")
  flags.DEFINE_integer("train_subset", None,
                       "Fashion-MNIST: class-balanced training subset size.")
  flags.DEFINE_integer("val_subset", None,
                       "Fashion-MNIST: test subset size.")
  flags.DEFINE_string("train_dir", None, "Folder dataset: training classes.")
  flags.DEFINE_string("val_dir", None, "Folder dataset: validation classes.")
  flags.DEFINE_enum("verify", "header", list(data.files.VERIFY_MODES),
                    "Up-front check of image files (skipped and counted).")
  flags.DEFINE_string("data_dir", None, "TFDS data_dir.")
  flags.DEFINE_string("manual_dir", None, "TFDS manual_dir (ImageNet tars).")
  flags.DEFINE_string("train_split", "train", "TFDS training split.")
  flags.DEFINE_string("val_split", "validation", "TFDS validation split.")
  flags.DEFINE_float("label_smoothing", 0.1, "eps of Eq. (1) (paper: 0.1).")
  flags.DEFINE_string("distortion", "none",
                      "Table 9: none, noise[:0.1], downscale[:4] or "
                      "jpeg[:10], applied to every train and test image "
                      "before the pre-resize (data/distortions.py). With "
                      "downscale the resizer input is the small image, e.g. "
                      "--input_size=7,7 --output_size=28,28.")


if __name__ == "__main__":
  define_model_flags("resnet50", "learned")
  define_classifier_flags()
  app.run(main)
