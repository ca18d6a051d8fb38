"""Fashion-MNIST from Debian's `dataset-fashion-mnist` idx files (docs/design_notes.md §2).

The one labelled classification set always present on the project's
machines: 60k train + 10k test 28x28 grey images, 10 classes, read from
`/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-
ubyte.gz` (idx: big-endian header, images from byte 16, labels from byte 8).
"""
import gzip
import os

import numpy as np
import tensorflow as tf

from resizer_tf.data import distortions
from resizer_tf.data import preprocess

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(path, magic, offset):
  if not os.path.isfile(path):
    raise ValueError(
        f"Fashion-MNIST file not found: {path!r} (Debian package "
        "dataset-fashion-mnist, or pass root= to a folder with the idx files).")
  with gzip.open(path, "rb") as f:
    data = f.read()
  if len(data) < offset or int.from_bytes(data[:4], "big") != magic:
    raise ValueError(
        f"{path!r} is not an idx file with magic {magic}; received header "
        f"{data[:4].hex()}.")
  dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
          for i in range((offset - 4) // 4)]
  array = np.frombuffer(data, dtype=np.uint8, offset=offset)
  if array.size != int(np.prod(dims)):
    raise ValueError(
        f"{path!r} is truncated: header says {dims}, found {array.size} "
        "bytes of data.")
  return array.reshape(dims)


def load_fashion_mnist(split="train", root=DEFAULT_ROOT):
  """Returns (images uint8 [N, 28, 28], labels uint8 [N]) of `split`."""
  if split not in _PREFIX:
    raise ValueError(
        f"`split` must be 'train' or 'test'; received {split!r}.")
  prefix = os.path.join(root, _PREFIX[split])
  images = _read_idx(prefix + "-images-idx3-ubyte.gz", 2051, 16)
  labels = _read_idx(prefix + "-labels-idx1-ubyte.gz", 2049, 8)
  if images.shape[0] != labels.shape[0]:
    raise ValueError(
        f"{images.shape[0]} images but {labels.shape[0]} labels in {root!r}.")
  return images, labels


def subset_indices(labels, count, seed=0):
  """`count` indices with (as far as possible) equal counts per class."""
  labels = np.asarray(labels)
  if count is None or count >= labels.size:
    return np.arange(labels.size)
  rng = np.random.default_rng(seed)
  classes = np.unique(labels)
  per_class = -(-count // classes.size)
  picked = np.concatenate([
      rng.permutation(np.flatnonzero(labels == c))[:per_class]
      for c in classes])
  return np.sort(rng.permutation(picked)[:count])


def fashion_mnist_dataset(split, input_size, batch_size, training=None,
                          subset=None, seed=0, method="bilinear",
                          antialias=False, root=DEFAULT_ROOT, repeat=False,
                          distortion=None, distortion_seed=None):
  """Fashion-MNIST as (images [B, H, W, 3] float 0-255, labels int32).

  The 28x28 grey images are repeated to RGB and resized to `input_size`
  (the resizer's input resolution, Sec. 4), e.g. enlarged to 56x56.

  Args:
    split: "train" or "test".
    input_size: (height, width).
    batch_size: batch size.
    training: shuffle and drop the last partial batch (default: train split).
    subset: use only this many class-balanced examples (None: all).
    seed: shuffling and subset seed.
    method, antialias: the pre-resize (paper: bilinear or bicubic).
    root: folder of the idx files.
    repeat: repeat forever (for `steps_per_epoch`).
    distortion: a Table 9 distortion applied to the 28x28 image before the
      pre-resize (`data.distortions`: "noise", "downscale", "jpeg", with an
      optional ":value"); e.g. "downscale" gives 7x7 images, to be resized
      4x by the resizer (input_size=(7, 7), output_size=(28, 28)).
    distortion_seed: seed of the noise (default: 0 for "train", 1 for
      "test"); example i of the split always gets the same noise.

  Returns:
    (tf.data.Dataset, SourceInfo).
  """
  images, labels = load_fashion_mnist(split, root)
  index = subset_indices(labels, subset, seed)
  images, labels = images[index], labels[index].astype(np.int32)
  if training is None:
    training = split == "train"
  if distortion_seed is None:
    distortion_seed = 0 if split == "train" else 1
  distortions.parse(distortion)  # Fails early on a bad spec.
  dataset = tf.data.Dataset.from_tensor_slices(
      (images[..., None], labels, index.astype(np.int64)))
  if training:
    dataset = dataset.shuffle(len(labels), seed=seed,
                              reshuffle_each_iteration=True)

  def prepare(x, y, i):
    x = distortions.distort(tf.repeat(x, 3, axis=-1), distortion,
                            distortion_seed, i)
    return preprocess.resize_to_input(x, input_size, method, antialias), y

  dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=not training)
  dataset = preprocess.finish(dataset, batch_size, training, repeat=repeat)
  info = preprocess.SourceInfo(num_examples=len(labels), num_classes=10,
                               class_names=CLASS_NAMES, skipped=0)
  return dataset, info
