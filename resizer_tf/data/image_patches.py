"""Training patches for the compression models (Chen et al., Sec. III-F).

Random square crops (256 in the paper) of photos, no augmentation, images
smaller than the crop skipped (the paper drops CLIC images under 384 px).
Sources: a file glob, a TFDS dataset that is already on disk, or the real
photos shipped by installed packages (`images.builtin_photo`).
"""
import glob as glob_lib

from absl import logging
import numpy as np
from PIL import Image
import tensorflow as tf

from resizer_tf import images


def _decode(path, channels=3):
  data = tf.io.read_file(path)
  image = tf.io.decode_image(data, channels=channels, expand_animations=False)
  return tf.image.convert_image_dtype(image, tf.uint8)


def _readable_image(path):
  """None if PIL can decode the whole file, else the reason it cannot."""
  try:
    with Image.open(path) as im:
      im.load()
    return None
  except Exception as e:  # PIL raises many types for broken files.
    return f"{type(e).__name__}: {e}"


def image_paths(pattern):
  """Sorted decodable image files matching `pattern`.

  Files that do not decode (corrupt, truncated, not an image) are skipped,
  each named in the log with the reason, so one bad file cannot stop a
  training run mid-epoch.
  """
  paths = sorted(glob_lib.glob(pattern))
  if not paths:
    raise ValueError(
        f"No files match --train_glob={pattern!r}. Pass a glob of PNG/JPEG "
        "photos, e.g. '/data/clic/train/*.png'.")
  good = []
  for path in paths:
    reason = _readable_image(path)
    if reason is None:
      good.append(path)
    else:
      logging.warning("Skipping training file %s: it does not decode (%s).",
                      path, reason)
  if len(good) < len(paths):
    logging.warning("Skipped %d of %d training files that do not decode.",
                    len(paths) - len(good), len(paths))
  if not good:
    raise ValueError(
        f"None of the {len(paths)} files matching {pattern!r} decodes as an "
        "image.")
  return good


def uint8_images_dataset(train_glob=None, tfds_name=None, data_dir=None,
                         split="train", builtin=None):
  """A dataset of uint8 [H, W, 3] images from exactly one source."""
  sources = [s for s in (train_glob, tfds_name, builtin) if s]
  if len(sources) != 1:
    raise ValueError(
        "Give exactly one image source: a file glob, a TFDS name (with "
        "data_dir, no download) or built-in photo names.")
  if train_glob:
    ds = tf.data.Dataset.from_tensor_slices(image_paths(train_glob))
    return ds.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
  if builtin:
    photos = [images.builtin_photo(n) for n in builtin]
    return tf.data.Dataset.from_generator(
        lambda: iter(photos),
        output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  try:
    ds = tfds.load(tfds_name, split=split, data_dir=data_dir, download=False,
                   shuffle_files=True)
  except Exception as e:  # TFDS raises several types for a missing dataset.
    raise ValueError(
        f"TFDS dataset {tfds_name!r} is not prepared under data_dir="
        f"{data_dir!r} and nothing is downloaded at run time. Prepare it "
        "there first (tfds build / manual_dir) or pass --train_glob.") from e
  return ds.map(lambda d: d["image"] if isinstance(d, dict) else d)


def downscaled_crop(image, patch_size, factor, seed=None):
  """A random square crop of side round(patch_size * factor), box-filtered
  (area resampling) down to patch_size and rounded to 8-bit levels, as
  float32 in [0, 1]. `factor` is clipped so the crop fits the image."""
  shape = tf.shape(image)
  side = tf.cast(tf.round(patch_size * factor), tf.int32)
  side = tf.clip_by_value(side, patch_size, tf.reduce_min(shape[:2]))
  crop = tf.image.random_crop(image, tf.stack([side, side, 3]), seed=seed)
  small = tf.image.resize(tf.cast(crop, tf.float32), (patch_size, patch_size),
                          method="area")
  return tf.round(small) / 255.


def patches_dataset(source, patch_size=256, batch_size=8, shuffle_buffer=256,
                    seed=None, repeat=True, cache=False,
                    downscale_range=(1., 1.)):
  """Random patch_size x patch_size crops in [0, 1], batched.

  cache: keep the decoded images in memory after the first pass, so each
    crop costs a copy instead of a PNG/JPEG decode (for training sets that
    fit in memory; a decode per crop costs about as much CPU as a training
    step's convolutions on small sets).
  downscale_range: (lo, hi); each crop is first cut at a size drawn
    log-uniformly from [lo, hi] times patch_size and area-downscaled to
    patch_size (`downscaled_crop`), which puts more texture into each patch
    of a small training set. (1, 1), the paper's "no augmentation"
    (Sec. III-F), cuts plain crops.
  """
  lo, hi = (float(v) for v in downscale_range)
  if not 1. <= lo <= hi:
    raise ValueError(
        f"downscale_range must be (lo, hi) with 1 <= lo <= hi; got "
        f"{downscale_range!r}.")
  ds = source.filter(lambda im: tf.reduce_min(tf.shape(im)[:2]) >= patch_size)
  if cache:
    ds = ds.cache()
  if repeat:
    ds = ds.repeat()
  ds = ds.shuffle(shuffle_buffer, seed=seed)
  if hi == 1.:
    ds = ds.map(
        lambda im: tf.image.random_crop(im, (patch_size, patch_size, 3),
                                        seed=seed),
        num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda im: tf.cast(im, tf.float32) / 255.)
  else:
    factors = tf.data.Dataset.random(seed=seed).map(
        lambda r: tf.exp(tf.cast(r % 2**24, tf.float32) / 2**24 *
                         np.log(hi / lo)) * lo)
    ds = tf.data.Dataset.zip((ds, factors)).map(
        lambda im, f: downscaled_crop(im, patch_size, f, seed=seed),
        num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def fixed_batch(source, patch_size, count):
  """A deterministic batch of centre crops (for TensorBoard summaries)."""
  crops = []
  for im in source.take(count * 4):
    im = im.numpy()
    h, w = im.shape[:2]
    if min(h, w) < patch_size:
      continue
    top, left = (h - patch_size) // 2, (w - patch_size) // 2
    crops.append(im[top:top + patch_size, left:left + patch_size])
    if len(crops) == count:
      break
  if not crops:
    raise ValueError(f"No training image is at least {patch_size} px.")
  return np.stack(crops).astype(np.float32) / 255.
