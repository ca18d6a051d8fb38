"""Shared pieces of every vision input pipeline (Talebi & Milanfar, Sec. 4).

"Images in ImageNet and AVA are first resized by the bilinear or the bicubic
method to a fixed resolution" — the resizer's input resolution — so that
mini-batches have equal sizes. `resize_to_input` is that step, used both by
the tf.data pipelines and inside the exported serving signature, so training
and serving see identical inputs. Pixels stay RGB floats in [0, 255].
"""
import collections
import os

import tensorflow as tf

from resizer_tf import _validation

PRERESIZE_METHODS = ("bilinear", "bicubic", "area", "nearest", "lanczos3")
# Decodable by tf.io.decode_image (JPEG, PNG, GIF, BMP).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")

# What a pipeline delivers besides its tf.data.Dataset.
SourceInfo = collections.namedtuple(
    "SourceInfo", ["num_examples", "num_classes", "class_names", "skipped"])


def resize_to_input(images, size, method="bilinear", antialias=False):
  """Resizes [H, W, C] or [B, H, W, C] images of any dtype to `size`.

  Returns float32 in [0, 255] (clipped, as bicubic can overshoot); grey
  images are repeated to 3 channels.

  Args:
    images: uint8 or float images in [0, 255].
    size: (height, width), the resizer's input resolution.
    method: the pre-resize method (paper: "bilinear or bicubic").
    antialias: `tf.image.resize` antialiasing (the paper does not say; off).
  """
  size = _validation.check_size(size, "size")
  if method not in PRERESIZE_METHODS:
    raise ValueError(
        f"`method` must be one of {PRERESIZE_METHODS}; received {method!r}.")
  images = tf.convert_to_tensor(images)
  if images.shape.rank not in (3, 4):
    raise ValueError(
        "`images` must be [H, W, C] or [B, H, W, C]; received shape "
        f"{images.shape}.")
  if images.shape[-1] not in (None, 1, 3):
    raise ValueError(
        f"`images` must have 1 or 3 channels; received shape {images.shape}.")
  images = tf.cast(images, tf.float32)
  if images.shape[-1] == 1:
    images = tf.repeat(images, 3, axis=-1)
  images = tf.image.resize(images, size, method=method, antialias=antialias)
  return tf.clip_by_value(images, 0.0, 255.0)


def decode_image_file(path, size, method="bilinear", antialias=False):
  """Reads and decodes one image file (JPEG/PNG/GIF/BMP) to `size`, RGB."""
  image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                             expand_animations=False)
  image.set_shape([None, None, 3])
  return resize_to_input(image, size, method, antialias)


def finish(dataset, batch_size, training, shuffle_buffer=0, seed=None,
           repeat=False, drop_remainder=None):
  """Shuffle (training), batch, optional repeat, prefetch."""
  if not isinstance(batch_size, int) or batch_size <= 0:
    raise ValueError(f"`batch_size` must be a positive int; received "
                     f"{batch_size!r}.")
  if training and shuffle_buffer:
    dataset = dataset.shuffle(shuffle_buffer, seed=seed,
                              reshuffle_each_iteration=True)
  if drop_remainder is None:
    drop_remainder = training
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  if repeat:
    dataset = dataset.repeat()
  return dataset.prefetch(tf.data.AUTOTUNE)


def file_dataset(paths, targets, size, batch_size, training, method="bilinear",
                 antialias=False, seed=None, repeat=False):
  """Parallel decoding of image files with their targets.

  The file list is shuffled (cheap) before decoding; a file that still fails
  to decode at run time is dropped with a logged warning instead of stopping
  training (`ignore_errors`), on top of the up-front scan of `scan_files`.
  """
  paths = [os.fspath(p) for p in paths]
  if not paths:
    raise ValueError("No images to read (empty file list).")
  dataset = tf.data.Dataset.from_tensor_slices((paths, targets))
  if training:
    dataset = dataset.shuffle(len(paths), seed=seed,
                              reshuffle_each_iteration=True)
  dataset = dataset.map(
      lambda p, t: (decode_image_file(p, size, method, antialias), t),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
  dataset = dataset.ignore_errors(log_warning=True)
  return finish(dataset, batch_size, training, seed=seed, repeat=repeat)
