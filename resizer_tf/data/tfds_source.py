"""TFDS datasets by name, read from a local `data_dir`; never downloaded.

ImageNet (`imagenet2012`) is a manual-download TFDS dataset: with
`manual_dir` holding ILSVRC2012_img_{train,val}.tar it is prepared locally
(no network). Any dataset that is neither prepared in `data_dir` nor
preparable from `manual_dir` is refused with a clear error.
"""
import os

import tensorflow as tf

from resizer_tf.data import preprocess


def _builder(name, data_dir):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    return tfds.builder(name, data_dir=data_dir, try_gcs=False)
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"Unknown or unloadable TFDS dataset {name!r}: {e}") from e


def prepared_builder(name, data_dir=None, manual_dir=None):
  """A prepared TFDS builder; prepares manual datasets from `manual_dir`."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = _builder(name, data_dir)
  if builder.is_prepared():
    return builder
  manual = getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
  if manual_dir and manual:
    if not os.path.isdir(manual_dir):
      raise ValueError(f"`manual_dir` not found: {manual_dir!r}.")
    config = tfds.download.DownloadConfig(
        manual_dir=manual_dir, try_download_gcs=False)
    builder.download_and_prepare(download_config=config)
    return builder
  where = data_dir or "the default TFDS data_dir"
  hint = (f"Put the manual files in a folder and pass manual_dir= "
          f"({' '.join(str(manual).split())[:200]})" if manual else
          "Prepare it with `tfds build` on a machine with network and copy "
          "the data_dir here")
  raise ValueError(
      f"TFDS dataset {name!r} is not prepared in {where!r} and this library "
      f"never downloads (download=False). {hint}.")


def tfds_dataset(name, split, input_size, batch_size, training=None,
                 data_dir=None, manual_dir=None, image_key="image",
                 label_key="label", method="bilinear", antialias=False,
                 seed=None, repeat=False):
  """(images [B, H, W, 3] float 0-255, labels) of a local TFDS dataset.

  Args:
    name: TFDS name, e.g. "imagenet2012".
    split: TFDS split, e.g. "train" or "validation".
    input_size: the resizer's input resolution (Sec. 4 pre-resize).
    batch_size: batch size.
    training: shuffle files and examples, drop the last partial batch
      (default: split starts with "train").
    data_dir, manual_dir: local TFDS folders.
    image_key, label_key: feature names.
    method, antialias: the pre-resize.
    seed: shuffle seed.
    repeat: repeat forever.

  Returns:
    (tf.data.Dataset, SourceInfo).
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = prepared_builder(name, data_dir, manual_dir)
  if training is None:
    training = str(split).startswith("train")
  features = builder.info.features
  for key in (image_key, label_key):
    if key not in features:
      raise ValueError(
          f"TFDS dataset {name!r} has no feature {key!r}; it has "
          f"{list(features.keys())}.")
  label_feature = features[label_key]
  num_classes = getattr(label_feature, "num_classes", None)
  class_names = tuple(label_feature.names) if num_classes else None
  # Corrupt records are skipped; decoding runs in parallel inside TFDS.
  read_config = tfds.ReadConfig(shuffle_seed=seed)
  dataset = builder.as_dataset(split=split, shuffle_files=training,
                               read_config=read_config)
  if training:
    dataset = dataset.shuffle(16 * batch_size, seed=seed,
                              reshuffle_each_iteration=True)
  dataset = dataset.map(
      lambda ex: (preprocess.resize_to_input(ex[image_key], input_size,
                                             method, antialias),
                  tf.cast(ex[label_key], tf.int32)),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  dataset = dataset.ignore_errors(log_warning=True)
  dataset = preprocess.finish(dataset, batch_size, training, repeat=repeat)
  num_examples = builder.info.splits[split].num_examples
  info = preprocess.SourceInfo(num_examples=num_examples,
                               num_classes=num_classes,
                               class_names=class_names, skipped=0)
  return dataset, info
