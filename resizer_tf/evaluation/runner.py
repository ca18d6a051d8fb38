"""The rate-distortion loop: every codec x setting x image, with a cache.

Chen et al., Sec. IV-A: each image is coded at 8 rates from ~0.05 to 1 bpp
and scored with PSNR, MS-SSIM, VIF and VMAF; bpp comes from the real file
size. One record (a dict) per (codec, setting, image).

Cache: one entry per (codec class + options, e.g. a model's path and file
mtimes; setting; image sha256), holding the compressed file (`<key>.bin`)
and the record (`<key>.json`), both written atomically. A repeated or
interrupted run reuses every finished point; if a metric is missing from a
cached record, the cached file is decoded again to compute it. Points that
failed are not cached, so a re-run retries them. Cached timings are those of
the run that computed them.

Each record carries its key (the hash of image, codec config and model) and
a seal: the SHA-256 of the record and of the compressed file. An entry that
is not valid JSON, not a valid record, stored under another key, or whose
record or file was edited, is logged (naming the file) and recomputed: a
stale or edited entry never enters a report unnoticed.
"""
import hashlib
import json
import math
import os
import time

from absl import logging
import numpy as np

from resizer_tf import _io
from resizer_tf import images as images_lib
from resizer_tf import metrics as metrics_lib
from resizer_tf.anchors import base
from resizer_tf.data import bench_images

DEFAULT_METRICS = ("psnr", "psnr_y", "ms_ssim", "vif", "vmaf")
CACHE_VERSION = 2  # 2: records carry their key and a seal
RECORD_FIELDS = ("codec", "label", "setting", "setting_name", "image",
                 "height", "width", "bytes", "bpp") + DEFAULT_METRICS + (
                     "encode_s", "decode_s", "M", "M_y", "M_x", "error")


def check_metrics(names):
  names = tuple(names)
  unknown = [m for m in names if m not in metrics_lib.QUALITY_METRICS]
  if unknown or not names:
    raise ValueError(
        f"Unknown or no metrics {unknown or names}; choose from "
        f"{', '.join(metrics_lib.QUALITY_METRICS)}.")
  return names


class ResultCache:
  """Results keyed by (codec + options, setting, image sha256) on disk."""

  def __init__(self, directory):
    self.directory = directory
    if directory:
      os.makedirs(directory, exist_ok=True)

  @staticmethod
  def key(codec, setting, image_sha256):
    blob = json.dumps({
        "version": CACHE_VERSION,
        "codec": codec.name,
        "class": type(codec).__name__,
        "config": codec.config(),
        "setting": repr(setting),
        "image": image_sha256,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()

  def _paths(self, key):
    sub = os.path.join(self.directory, key[:2])
    return os.path.join(sub, key + ".json"), os.path.join(sub, key + ".bin")

  def get(self, key):
    """(record, file bytes), or None when absent or invalid (logged)."""
    if not self.directory:
      return None
    json_path, bin_path = self._paths(key)
    if not os.path.exists(json_path):
      return None
    try:
      with open(json_path) as f:
        record = json.load(f)
      with open(bin_path, "rb") as f:
        data = f.read()
    except (OSError, ValueError) as e:
      logging.warning("Recomputing the cached point %s: unreadable (%s).",
                      json_path, e)
      return None
    problem = _record_problem(record, key, data)
    if problem:
      logging.warning("Recomputing the cached point %s: %s.", json_path,
                      problem)
      return None
    return record, data

  def put(self, key, record, data):
    if not self.directory:
      return
    json_path, bin_path = self._paths(key)
    record = dict(record)
    record["cache_key"] = key
    record["seal"] = _seal(record, data)
    # The file goes first: a record is only visible once its file exists.
    _io.atomic_write_bytes(bin_path, data)
    _io.atomic_write_text(json_path, json.dumps(record, sort_keys=True))


def _seal(record, data):
  body = {k: v for k, v in record.items() if k != "seal"}
  digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode())
  digest.update(hashlib.sha256(data).digest())
  return digest.hexdigest()


def _record_problem(record, key, data):
  """Why a cached record cannot be used, or None."""
  if not isinstance(record, dict):
    return "not a record"
  for field, types in (("bytes", int), ("height", int), ("width", int),
                       ("bpp", (int, float)), ("setting", str)):
    if not isinstance(record.get(field), types) or isinstance(
        record.get(field), bool):
      return f"field {field!r} missing or invalid"
  if record.get("cache_key") != key:
    return "stored under another key (stale or moved entry)"
  if record["bytes"] != len(data):
    return "its compressed file has another size"
  if record.get("seal") != _seal(record, data):
    return "record or compressed file edited after it was written"
  return None


def _compute_metrics(reference, recon, names, record):
  errors = []
  for name in names:
    try:
      record[name] = metrics_lib.QUALITY_METRICS[name](reference, recon)
    except (ValueError, RuntimeError) as e:
      record[name] = float("nan")
      errors.append(f"{name}: {e}")
  return errors


def _describe(record):
  parts = [f"{record['bpp']:.4f} bpp"]
  if "psnr" in record and math.isfinite(record.get("psnr", float("nan"))):
    parts.append(f"PSNR {record['psnr']:.2f} dB")
  if "vmaf" in record and math.isfinite(record.get("vmaf", float("nan"))):
    parts.append(f"VMAF {record['vmaf']:.2f}")
  return ", ".join(parts)


def evaluate_point(codec, setting, image, image_name, metric_names,
                   cache=None, image_sha256=None, warm_up=False):
  """Codes one image at one setting; returns (record, came from cache).

  Args:
    warm_up: before a computed (not cached) point, code it once untimed, so
      one-off graph initialisation is not counted (Table IV excludes model
      loading).
  Raises whatever the codec raises; metric failures become NaN plus a note
  in record["error"].
  """
  key = cached = None
  if cache is not None and image_sha256:
    key = cache.key(codec, setting, image_sha256)
    cached = cache.get(key)
  if cached is not None:
    record, data = cached
    record = {k: v for k, v in record.items() if k not in ("cache_key", "seal")}
    missing = [m for m in metric_names if m not in record]
    record.update(codec=codec.name, label=codec.label, image=image_name)
    if not missing:
      return record, True
    recon = codec.decode(data)
    errors = _compute_metrics(image, recon, missing, record)
    if not errors:
      cache.put(key, record, data)
    else:
      record["error"] = "; ".join(errors)
    return record, True

  if warm_up:
    codec.decode(codec.encode(image, setting))
  start = time.perf_counter()
  data, info = codec.encode_with_info(image, setting)
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  recon = codec.decode(data)
  decode_s = time.perf_counter() - start
  if recon.shape != image.shape:
    raise ValueError(
        f"{codec.name} decoded shape {recon.shape} != input {image.shape}.")
  height, width = image.shape[:2]
  record = {
      "codec": codec.name,
      "label": codec.label,
      "setting": str(setting),
      "setting_name": codec.setting_name,
      "image": image_name,
      "height": height,
      "width": width,
      "bytes": len(data),
      "bpp": metrics_lib.bpp(len(data), height, width),
      "encode_s": encode_s,
      "decode_s": decode_s,
  }
  for field in ("M", "M_y", "M_x"):
    if field in info:
      record[field] = float(info[field])
  errors = _compute_metrics(image, recon, metric_names, record)
  if errors:
    record["error"] = "; ".join(errors)
  elif cache is not None and key:
    cache.put(key, record, data)
  return record, False


def evaluate(codecs, image_paths, metric_names=DEFAULT_METRICS,
             cache_dir=None, ladders=None):
  """Runs every codec at every setting on every image.

  Args:
    codecs: list of `ImageCodec` (anchors and/or LearnedCodecAdapter).
      Codecs whose tool is missing are skipped with a logged message.
    image_paths: image files (see bench_images.list_images).
    metric_names: names from metrics.QUALITY_METRICS.
    cache_dir: results cache folder (None: no cache).
    ladders: optional dict codec name -> settings overriding codec.settings.
  Returns:
    List of records (dicts with RECORD_FIELDS). A failed point is logged
    and recorded with its "error"; the run goes on.
  """
  metric_names = check_metrics(metric_names)
  ladders = dict(ladders or {})
  unknown = set(ladders) - {c.name for c in codecs}
  if unknown:
    raise ValueError(f"Ladders given for unknown codecs {sorted(unknown)}.")
  usable = []
  for codec in codecs:
    try:
      codec.check_available()
    except base.CodecUnavailableError as e:
      logging.warning("Skipping %s: %s", codec.name, e)
      continue
    usable.append((codec, tuple(ladders.get(codec.name, codec.settings))))
  cache = ResultCache(cache_dir) if cache_dir else None
  total = len(image_paths) * sum(len(s) for _, s in usable)
  records, done, hits = [], 0, 0
  warmed = set()
  for image_path in image_paths:
    image_name = os.path.basename(image_path)  # unique within a folder
    try:
      image = images_lib.read_image(image_path)
      sha = bench_images.file_sha256(image_path)
    except (OSError, ValueError) as e:
      logging.error("Skipping image %s: %s", image_path, e)
      done += sum(len(s) for _, s in usable)
      continue
    for codec, settings in usable:
      for setting in settings:
        done += 1
        warm_up = getattr(codec, "warm_up", False) and id(codec) not in warmed
        try:
          record, hit = evaluate_point(codec, setting, image, image_name,
                                       metric_names, cache, sha, warm_up)
          if not hit:
            warmed.add(id(codec))
        except Exception as e:  # pylint: disable=broad-except
          # A codec crash on one image must not lose the rest of the run.
          logging.error("[%d/%d] %s %s=%s on %s FAILED: %s", done, total,
                        codec.name, codec.setting_name, setting, image_name,
                        e)
          records.append({
              "codec": codec.name, "label": codec.label,
              "setting": str(setting), "setting_name": codec.setting_name,
              "image": image_name, "error": f"{type(e).__name__}: {e}"})
          continue
        hits += hit
        logging.info("[%d/%d] %s %s=%s %s: %s%s%s", done, total, codec.name,
                     codec.setting_name, setting, image_name,
                     _describe(record), " (cached)" if hit else "",
                     f" ({record['error']})" if record.get("error") else "")
        records.append(record)
  logging.info("Evaluated %d points (%d from cache).", len(records), hits)
  return records


def records_ok(records, metric=None):
  """Records without a codec failure (and with a finite `metric`)."""
  out = []
  for r in records:
    if "bpp" not in r:
      continue
    if metric is not None and not (
        isinstance(r.get(metric), (int, float)) and
        np.isfinite(r.get(metric))):
      continue
    out.append(r)
  return out
