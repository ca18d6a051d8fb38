"""AVA (Murray et al. 2012) for the IQA experiments (Sec. 3.2.2, 4.2).

`AVA.txt` has one image per line, 15 whitespace-separated integers: index,
image id, the counts of ratings 1..10, two semantic tag ids and the challenge
id. Images are `<image_dir>/<image id>.jpg`. The target of an image is its
normalised 10-bin rating histogram (NIMA); its mean score is sum_i i p_i.
"""
import collections
import os
import zlib

import numpy as np

from resizer_tf.data import files
from resizer_tf.data import preprocess

NUM_BINS = 10

AvaIndex = collections.namedtuple(
    "AvaIndex", ["image_ids", "counts", "tags", "challenge_ids"])


def parse_ava_txt(path):
  """Parses AVA.txt; malformed lines raise ValueError naming the line."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(f"AVA index file not found: {path!r}.")
  ids, counts, tags, challenges = [], [], [], []
  with open(path, "r", encoding="utf8") as f:
    for number, line in enumerate(f, 1):
      fields = line.split()
      if not fields:
        continue
      if len(fields) != 15:
        raise ValueError(
            f"{path}:{number}: expected 15 columns (index, image id, 10 "
            f"rating counts, 2 tags, challenge id); received {len(fields)}.")
      try:
        values = [int(v) for v in fields]
      except ValueError:
        raise ValueError(
            f"{path}:{number}: all 15 columns must be integers; received "
            f"{line.strip()!r}.") from None
      if any(v < 0 for v in values[2:12]):
        raise ValueError(f"{path}:{number}: negative rating count.")
      ids.append(values[1])
      counts.append(values[2:12])
      tags.append(values[12:14])
      challenges.append(values[14])
  if not ids:
    raise ValueError(f"{path!r} has no entries.")
  return AvaIndex(np.array(ids, np.int64), np.array(counts, np.int64),
                  np.array(tags, np.int64), np.array(challenges, np.int64))


def in_validation_split(image_ids, fraction):
  """Deterministic split by a hash of the image id (stable across runs)."""
  keys = np.array([zlib.crc32(str(int(i)).encode()) for i in image_ids])
  return (keys % 10000) < int(round(fraction * 10000))


def ava_examples(ava_txt, image_dir, split="all", val_fraction=0.1,
                 verify="header"):
  """Image paths and normalised rating histograms of a split.

  Images missing from `image_dir`, corrupt ones and entries without any
  rating are skipped and counted (never a crash).

  Args:
    ava_txt: path of AVA.txt.
    image_dir: folder of `<image id>.jpg`.
    split: "train", "val" or "all"; "val" is a deterministic `val_fraction`
      of image ids (the paper does not publish its split).
    val_fraction: share of the validation split.
    verify: see `files.scan_files`.

  Returns:
    (paths, distributions float32 [N, 10], stats) where stats is a dict with
    total, missing, corrupt, unrated and used.
  """
  if split not in ("train", "val", "all"):
    raise ValueError(
        f"`split` must be 'train', 'val' or 'all'; received {split!r}.")
  if not os.path.isdir(image_dir):
    raise ValueError(f"AVA image folder not found: {image_dir!r}.")
  index = parse_ava_txt(ava_txt)
  keep = np.ones(index.image_ids.size, bool)
  if split != "all":
    val = in_validation_split(index.image_ids, val_fraction)
    keep = val if split == "val" else ~val
  ids, counts = index.image_ids[keep], index.counts[keep]
  totals = counts.sum(axis=1)
  rated = totals > 0
  paths = [os.path.join(image_dir, f"{i}.jpg") for i in ids[rated]]
  mask, scan = files.scan_files(paths, verify, what="AVA images")
  mask = np.array(mask, bool)
  distributions = (counts[rated] / totals[rated, None]).astype(np.float32)
  stats = dict(total=int(ids.size), missing=scan.missing,
               corrupt=scan.corrupt, unrated=int((~rated).sum()),
               used=int(mask.sum()))
  if not stats["used"]:
    raise ValueError(
        f"No usable AVA images for split {split!r}: {stats} (image_dir "
        f"{image_dir!r}).")
  return ([p for p, ok in zip(paths, mask) if ok], distributions[mask],
          stats)


def ava_dataset(ava_txt, image_dir, input_size, batch_size, split="train",
                training=None, val_fraction=0.1, verify="header",
                method="bilinear", antialias=False, seed=None, repeat=False):
  """(images [B, H, W, 3] float 0-255, distributions [B, 10]) of AVA.

  Returns:
    (tf.data.Dataset, SourceInfo); `skipped` counts missing, corrupt and
    unrated entries.
  """
  paths, distributions, stats = ava_examples(ava_txt, image_dir, split,
                                             val_fraction, verify)
  if training is None:
    training = split == "train"
  dataset = preprocess.file_dataset(paths, distributions, input_size,
                                    batch_size, training, method, antialias,
                                    seed, repeat)
  info = preprocess.SourceInfo(
      num_examples=len(paths), num_classes=NUM_BINS, class_names=None,
      skipped=stats["missing"] + stats["corrupt"] + stats["unrated"])
  return dataset, info
