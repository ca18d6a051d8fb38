r"""Trains a learned codec with or without Resize-Compress (Chen et al.).

  python -m experiments.train_compression --codec=balle2017 --lmbda=0.01 \
      --train_glob='/data/clic/train/*.png' --model_dir=runs/b17_resize

Defaults follow Sec. III-F: patches 256, batch 8, Adam 1e-4 for 1M steps then
3e-5 for 1M, then 100K steps on 384 px patches (--refine_steps,
--refine_patch_size), loss lambda * MSE(0-255) + bpp, three optimizers. Checkpoints every
--steps_per_epoch steps and resumes after a kill; TensorBoard under
model_dir/tensorboard; exports a SavedModel with `compress`/`decompress`.
"""
from absl import app
from absl import flags
import tensorflow as tf

from resizer_tf import codecs
from resizer_tf.data import image_patches
from resizer_tf.layers import resize_param_net
from resizer_tf.training import compression
from resizer_tf.training import runner

FLAGS = flags.FLAGS
# Model.
flags.DEFINE_enum("codec", "balle2017", codecs.CODEC_NAMES, "Learned codec.")
flags.DEFINE_bool("resize", True, "Resize-Compress; --noresize: plain codec.")
flags.DEFINE_bool("pre_filter", True, "Ablation (b) of Table III when off.")
flags.DEFINE_bool("post_filter", True, "Ablation (c) of Table III when off.")
flags.DEFINE_enum("kernel", "bicubic", ["bicubic", "bilinear"],
                  "Warp kernel; bilinear is ablation (a).")
flags.DEFINE_enum("scale_estimator", "network", ["network", "global"],
                  "ResizeParamNet, or one trainable M (ablation (e)).")
flags.DEFINE_bool("separate_scales", False, "Estimate My, Mx (ablation (f)).")
flags.DEFINE_enum("separate_scales_mode", "two_networks",
                  ["two_networks", "split_channels"],
                  "Ablation (f): two ResizeParamNets (paper) or one whose "
                  "channels are split in two (half the parameters).")
flags.DEFINE_enum("resize_param_net_variant", "table1",
                  sorted(resize_param_net.VARIANTS),
                  "ResizeParamNet as Table I (3x3 shortcut, ReLU after BN2) "
                  "or as the authors' released code (1x1, no ReLU).")
flags.DEFINE_float("min_scale", 0.25, "Lower bound of M (our choice).")
flags.DEFINE_float("lmbda", 0.01, "lambda of Eq. (12).")
flags.DEFINE_enum("quantization", "noise", ["noise", "ste", "mixed"],
                  "Uniform noise (paper) or straight-through rounding.")
flags.DEFINE_integer("num_filters", None, "Codec N (default: codec's own).")
flags.DEFINE_integer("num_latent", None, "Codec M channels (Ballé18 only).")
# Data.
flags.DEFINE_string("train_glob", None, "Glob of training photos.")
flags.DEFINE_string("tfds_name", None, "Or a TFDS image dataset on disk.")
flags.DEFINE_string("data_dir", None, "TFDS data_dir (nothing downloaded).")
flags.DEFINE_list("train_builtin", None,
                  "Or names of real photos shipped in installed packages.")
flags.DEFINE_integer("patch_size", 256, "Square training crops.")
flags.DEFINE_integer("batch_size", 8, "Global batch size.")
# Schedule.
flags.DEFINE_integer("steps", 2_000_000, "Total training steps.")
flags.DEFINE_integer("steps_per_epoch", 1000, "Steps between checkpoints.")
flags.DEFINE_float("learning_rate", 1e-4, "Transforms and filters.")
flags.DEFINE_float("resize_learning_rate", 1e-4, "ResizeParamNet.")
flags.DEFINE_float("entropy_learning_rate", 1e-4, "Entropy-model priors.")
flags.DEFINE_float("decayed_learning_rate", 3e-5, "After --decay_steps.")
flags.DEFINE_integer("decay_steps", 1_000_000, "When rates drop (Sec. III-F).")
flags.DEFINE_integer("refine_steps", 100_000,
                     "Then steps on --refine_patch_size crops (Sec. III-F: "
                     "100K at 384 px); 0 skips the stage.")
flags.DEFINE_integer("refine_patch_size", 384, "Crops of the refinement stage.")
flags.DEFINE_integer("log_every", 100, "Steps between progress lines.")
# Running.
flags.DEFINE_string("model_dir", None, "Checkpoints, logs and the export.")
flags.DEFINE_string("export_dir", None, "Default: model_dir/export.")
flags.DEFINE_integer("num_devices", 0, "0: all GPUs (or the CPU).")
flags.DEFINE_integer("logical_cpus", 0,
                     "Split the CPU into N devices (tests, CPU-only).")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_integer("verbose", 0, "Keras fit verbosity (1: progress bar, 2: "
                     "a line per epoch); progress lines come every "
                     "--log_every steps regardless.")
flags.mark_flag_as_required("model_dir")


def codec_kwargs():
  kwargs = {}
  if FLAGS.num_filters:
    kwargs["num_filters"] = FLAGS.num_filters
  if FLAGS.num_latent:
    kwargs["num_latent"] = FLAGS.num_latent
  return kwargs


def build_model():
  return compression.build_model(
      FLAGS.codec, codec_kwargs=codec_kwargs(), resize=FLAGS.resize,
      pre_filter=FLAGS.pre_filter, post_filter=FLAGS.post_filter,
      kernel=FLAGS.kernel, scale_estimator=FLAGS.scale_estimator,
      separate_scales=FLAGS.separate_scales,
      separate_scales_mode=FLAGS.separate_scales_mode,
      resize_param_net_variant=FLAGS.resize_param_net_variant,
      min_scale=FLAGS.min_scale,
      lmbda=FLAGS.lmbda, quantization=FLAGS.quantization,
      learning_rate_value=FLAGS.learning_rate,
      resize_learning_rate=FLAGS.resize_learning_rate,
      entropy_learning_rate=FLAGS.entropy_learning_rate,
      decayed_learning_rate=FLAGS.decayed_learning_rate,
      decay_steps=FLAGS.decay_steps)


def main(argv):
  del argv
  if FLAGS.logical_cpus:
    runner.configure_logical_cpus(FLAGS.logical_cpus)
  if FLAGS.seed is not None:
    tf.keras.utils.set_random_seed(FLAGS.seed)
  source = image_patches.uint8_images_dataset(
      train_glob=FLAGS.train_glob, tfds_name=FLAGS.tfds_name,
      data_dir=FLAGS.data_dir, builtin=FLAGS.train_builtin)
  try:
    compression.train(
        build_model, source, FLAGS.model_dir, FLAGS.steps,
        FLAGS.steps_per_epoch, FLAGS.patch_size, FLAGS.batch_size,
        strategy=runner.make_strategy(FLAGS.num_devices), seed=FLAGS.seed,
        export_dir=FLAGS.export_dir, verbose=FLAGS.verbose,
        refine_steps=FLAGS.refine_steps,
        refine_patch_size=FLAGS.refine_patch_size, log_every=FLAGS.log_every)
  except runner.ModelDirBusyError as e:
    raise app.UsageError(str(e)) from None


if __name__ == "__main__":
  app.run(main)
