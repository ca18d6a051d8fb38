"""Trained codecs shipped inside the package.

  import resizer_tf.pretrained as pretrained
  pretrained.list_models()                  # what is there, with numbers
  rc = pretrained.load("balle2017+resize", quality=1)   # ready to code
  file, scale = rc.compress(uint8_image)

Models: "balle2017" (Ballé et al. 2017, N = 128, the baseline of Chen et al.
Table II/III) and "balle2017+resize" (the same codec inside Resize-Compress,
Fig. 3), each at qualities 1 (lowest rate) ... 4, trained by the small-scale
protocol of docs/training_campaign.md. Each weights file (float16, or int8
kernels for the refine stage's q2-q3; see `weights_file`) is listed in
`pretrained_weights/index.json` with its sha256, which `load` verifies
before using it.
"""
import json
import os
from typing import Any, Dict, List

from resizer_tf import _io
from resizer_tf import weights_file

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "pretrained_weights")
INDEX_FILE = "index.json"
MODEL_NAMES = ("balle2017", "balle2017+resize")


def _index(weights_dir=None) -> Dict[str, Any]:
  weights_dir = weights_dir or WEIGHTS_DIR
  path = os.path.join(weights_dir, INDEX_FILE)
  if not os.path.isfile(path):
    return {"models": []}
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def list_models(weights_dir: str = None) -> List[Dict[str, Any]]:
  """One dict per shipped model: name, quality, lmbda, steps (its own run's
  "steps_done" and, with its warm starts, "steps_total"), file, sha256, and
  the measured bpp/PSNR on the stand-in bench set where recorded."""
  return list(_index(weights_dir)["models"])


def _describe(models):
  if not models:
    return "no pretrained models are installed"
  return ", ".join(f"{m['name']}:{m['quality']}" for m in models)


def entry(name: str, quality: int, weights_dir: str = None):
  """The index entry of (name, quality); ValueError listing what exists."""
  models = list_models(weights_dir)
  for m in models:
    if m["name"] == name and int(m["quality"]) == int(quality):
      return m
  raise ValueError(
      f"No pretrained model {name!r} at quality {quality!r}; available: "
      f"{_describe(models)}.")


def parse_spec(spec: str):
  """'NAME:Q' -> (NAME, int Q), with a clear error for anything else."""
  name, sep, quality = spec.rpartition(":")
  if not sep or not name or not quality.isdigit():
    raise ValueError(
        f"A pretrained model is NAME:QUALITY, e.g. 'balle2017+resize:1'; "
        f"received {spec!r}. Available: {_describe(list_models())}.")
  return name, int(quality)


def build_from_meta(meta: Dict[str, Any]):
  """An unbuilt-weights `ResizeCompress` with the architecture in `meta`."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from resizer_tf import resize_compress  # pylint: disable=g-import-not-at-top
  spec = meta["spec"]
  model = resize_compress.ResizeCompress(
      spec["codec"], codec_kwargs={"num_filters": spec["num_filters"]},
      resize=spec["resize"], lmbda=spec["lmbda"],
      quantization=spec.get("quantization", "noise"))
  model(tf.zeros([1, 64, 64, 3]))
  return model


def load_file(path: str, sha256: str = None):
  """A coding-ready `ResizeCompress` from a weights file (sha256 checked)."""
  arrays, meta = weights_file.read(path, sha256)
  model = build_from_meta(meta)
  weights_file.assign(model, arrays)
  model.codec.prepare_for_coding()
  return model


def load(name: str, quality: int, weights_dir: str = None):
  """The shipped model `name` at `quality`, range-coding tables built.

  Raises:
    ValueError: unknown name or quality (the message lists what exists), or
      a weights file whose sha256 does not match the index (corrupt).
    FileNotFoundError: the index names a file that is not installed.
  """
  m = entry(name, quality, weights_dir)
  return load_file(os.path.join(weights_dir or WEIGHTS_DIR, m["file"]),
                   m["sha256"])


STAND_IN_KEYS = ("bpp", "psnr", "ms_ssim", "vif", "vmaf", "M")


def measured_from_records(records, weights_dir: str = None):
  """{(name, quality): image-mean bpp, PSNR, ... and M} for `write_index`,
  from an evaluation's records (experiments.evaluate_compression with
  --learned=pretrained:NAME:Q), matched by curve name and lambda."""
  import math  # pylint: disable=g-import-not-at-top
  from resizer_tf.evaluation import learned  # pylint: disable=g-import-not-at-top
  measured = {}
  for m in list_models(weights_dir):
    rows = [r for r in records if r["codec"] == m["name"] and not
            r.get("error") and r["setting"] == learned.format_point(
                m["lmbda"])]
    if not rows:
      continue
    means = {}
    for key in STAND_IN_KEYS:
      values = [float(r[key]) for r in rows
                if r.get(key) is not None and math.isfinite(float(r[key]))]
      if values:
        means[key] = round(sum(values) / len(values), 4)
    means["images"] = len(rows)
    measured[(m["name"], int(m["quality"]))] = means
  return measured


def write_index(weights_dir: str = None, measured=None, fingerprint=True,
                steps_before=None):
  """Rebuilds index.json from the weights files in `weights_dir`.

  Published models are the files named "<name>_q<k>.npz" for the names in
  MODEL_NAMES (other files, e.g. a campaign's shared warm start, are not
  listed). `measured` maps (name, quality) to a dict of stand-in results
  (bpp, psnr, ...) to record. With `fingerprint`, each new or changed
  file's model is loaded once to record the fingerprint its compressed
  files carry (`serving.model_fingerprint_hex`), which lets `decompress`
  find the model from a file alone. `steps_before` maps a file stem
  ("balle2017_q2") to the steps of the warm starts behind it
  (`training.campaign.steps_before`), recorded with the file's own steps as
  "steps_total"; an entry without one keeps its previous value.
  """
  import hashlib  # pylint: disable=g-import-not-at-top
  weights_dir = weights_dir or WEIGHTS_DIR
  measured = measured or {}
  old = {(m["name"], m["quality"]): m for m in list_models(weights_dir)}
  models = []
  for file in sorted(os.listdir(weights_dir)):
    stem, ext = os.path.splitext(file)
    name, sep, q = stem.rpartition("_q")
    if ext != ".npz" or not sep or name not in MODEL_NAMES or not q.isdigit():
      continue
    path = os.path.join(weights_dir, file)
    with open(path, "rb") as f:
      sha = hashlib.sha256(f.read()).hexdigest()
    _, meta = weights_file.read(path, sha)
    spec = meta["spec"]
    entry_ = {
        "name": name, "quality": int(q), "file": file, "sha256": sha,
        "lmbda": spec["lmbda"], "num_filters": spec["num_filters"],
        "quantization": spec.get("quantization", "noise"),
        "steps_done": meta["steps_done"], "steps_planned": spec["steps"],
        "train_wall_s": meta.get("wall_s"),
        "warm_start": meta.get("warm_started_from"),
    }
    previous = old.get((name, int(q)), {})
    if previous.get("sha256") == sha:
      for key in ("stand_in", "fingerprint"):
        if key in previous:
          entry_[key] = previous[key]
    if (name, int(q)) in measured:
      entry_["stand_in"] = measured[(name, int(q))]
    if steps_before and stem in steps_before:
      entry_["steps_total"] = meta["steps_done"] + int(steps_before[stem])
    elif previous.get("sha256") == sha and "steps_total" in previous:
      entry_["steps_total"] = previous["steps_total"]
    if fingerprint and "fingerprint" not in entry_:
      from resizer_tf import serving  # pylint: disable=g-import-not-at-top
      entry_["fingerprint"] = serving.model_fingerprint_hex(
          load_file(path, sha))
    models.append(entry_)
  _io.atomic_write_text(os.path.join(weights_dir, INDEX_FILE),
                        json.dumps({"models": models}, indent=1) + "\n")
  return models
