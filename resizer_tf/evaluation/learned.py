"""Learned codecs exported as SavedModels, seen through the `ImageCodec` API.

The compression trainer exports one SavedModel per trained model (one
lambda). Contract of such a SavedModel `m = tf.saved_model.load(path)`:

  * `m.signatures["compress"](image=<uint8 [H, W, 3]>)` -> {"file": scalar
    tf.string, the complete compressed file; "scale": the resize factor M
    (1.0 for plain codecs), a float32 scalar or float32 [2] = (My, Mx) as
    resizer_tf/serving.py exports it}.
  * `m.signatures["decompress"](file=<scalar tf.string>)` -> {"image":
    uint8 [H, W, 3]}.
  * optional attributes `m.lmbda` (float), `m.codec_name` (string) and
    `m.resize` (bool).

Curve naming rule: a learned model is named "CURVE@POINT", e.g.
"balle2017+resize@0.01". All models with the same CURVE form one R-D curve
(one row of Table II); POINT labels the model on it (its lambda). Without
"@", CURVE is the whole name and POINT is the model's lambda. Without a
name, CURVE is `m.codec_name` plus "+resize" when `m.resize` is true
(else the folder name) and POINT its lambda.
A curve "C+resize" is paired with the curve "C" in the R-D plot's legend
BD-rates, as in the paper's Fig. 7 (report.legend_reference).
"""
import hashlib
import os

import numpy as np
import tensorflow as tf

from resizer_tf import _optional
from resizer_tf.anchors import base


def _attribute(module, name):
  value = getattr(module, name, None)
  if value is None:
    return None
  if hasattr(value, "numpy"):
    value = value.numpy()
  if isinstance(value, np.ndarray) and value.shape == ():
    value = value.item()
  if isinstance(value, bytes):
    value = value.decode("utf-8")
  return value


def format_point(lmbda):
  """Point label of a lambda, 6 significant digits ("0.0067", "0.01")."""
  return f"{float(lmbda):.6g}"


def split_name(name):
  """"CURVE@POINT" -> (CURVE, POINT); "CURVE" -> (CURVE, None)."""
  if "@" not in name:
    curve, point = name, None
  else:
    curve, point = name.rsplit("@", 1)
    if not point:
      raise ValueError(f"Learned model name {name!r} has an empty point "
                       "after '@' (expected CURVE@POINT, e.g. "
                       "'balle2017+resize@0.01').")
  if not curve or any(c in curve for c in ",=\n"):
    raise ValueError(f"Learned model name {name!r}: the curve name must be "
                     "non-empty and contain no ',', '=' or newline.")
  return curve, point


def model_fingerprint(path):
  """Hash of the names, sizes and mtimes of the SavedModel's files."""
  digest = hashlib.sha256()
  for root, dirs, files in os.walk(path):
    dirs.sort()
    for f in sorted(files):
      full = os.path.join(root, f)
      st = os.stat(full)
      digest.update(f"{os.path.relpath(full, path)}|{st.st_size}|"
                    f"{st.st_mtime_ns}\n".encode())
  return digest.hexdigest()


PRETRAINED_PREFIX = "pretrained:"


class LearnedCodecAdapter(base.ImageCodec):
  """One learned model (one lambda) as an `ImageCodec` with one setting."""

  setting_name = "model"
  warm_up = True  # the first call of a loaded graph is slow; not timed

  def __init__(self, path, name=None):
    """Args:
      path: SavedModel folder exported by the compression trainer, or
        "pretrained:NAME:Q" for a model shipped in the package.
      name: "CURVE@POINT" (see module docstring); default from the model.
    Raises:
      FileNotFoundError: no SavedModel at `path`.
      ValueError: the SavedModel lacks the compress/decompress signatures.
    """
    if path.startswith(PRETRAINED_PREFIX):
      self._load_pretrained(path[len(PRETRAINED_PREFIX):])
    else:
      self._load_saved_model(path)
    self.lmbda = _attribute(self._model, "lmbda")
    self.codec_name = _attribute(self._model, "codec_name")
    self.resize = _attribute(self._model, "resize")
    lmbda_label = None if self.lmbda is None else format_point(self.lmbda)
    if name:
      curve, point = split_name(name)
    elif self.codec_name:
      curve, point = split_name(
          self.codec_name + ("+resize" if self.resize else ""))
    else:
      curve, point = split_name(os.path.basename(self.path.rstrip(os.sep)))
    point = point or lmbda_label or "default"
    self.name = curve
    self.label = curve
    self.point = point
    self.settings = (point,)

  def _load_saved_model(self, path):
    self.path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(self.path, "saved_model.pb")):
      raise FileNotFoundError(
          f"No SavedModel at {path!r} (expected {path}/saved_model.pb "
          "exported by the compression trainer).")
    self.fingerprint = model_fingerprint(self.path)
    # The range-coding ops of the SavedModel live in tensorflow_compression.
    _optional.import_tfc("A learned codec's SavedModel")
    from resizer_tf import serving  # pylint: disable=g-import-not-at-top
    with serving.quiet_savedmodel_load():  # see serving.py: harmless
      self._model = tf.saved_model.load(self.path)
    signatures = self._model.signatures
    missing = [k for k in ("compress", "decompress") if k not in signatures]
    if missing:
      raise ValueError(
          f"SavedModel {path!r} has no {' or '.join(missing)} signature "
          f"(found {sorted(signatures)}); export it with "
          "signatures={'compress': ..., 'decompress': ...}.")
    self._compress = signatures["compress"]
    self._decompress = signatures["decompress"]

  def _load_pretrained(self, spec):
    """A shipped model ("NAME:Q", resizer_tf.pretrained) through the same
    compiled coding functions a SavedModel export has."""
    from resizer_tf import pretrained  # pylint: disable=g-import-not-at-top
    from resizer_tf import serving  # pylint: disable=g-import-not-at-top
    name, quality = pretrained.parse_spec(spec)
    entry = pretrained.entry(name, quality)
    self.path = PRETRAINED_PREFIX + spec
    self.fingerprint = entry["sha256"]
    self._model = serving.CompressionModule(pretrained.load(name, quality))
    self._compress = self._model.compress
    self._decompress = self._model.decompress

  def config(self):
    return {"path": self.path, "fingerprint": self.fingerprint}

  def _check_setting(self, setting):
    if str(setting) != self.point:
      raise ValueError(
          f"{self.name}@{self.point} has the single setting {self.point!r}; "
          f"received {setting!r}.")

  def encode_with_info(self, image, setting):
    self._check_setting(setting)
    image = base.check_image_uint8(image)
    out = self._compress(image=tf.constant(image))
    data = out["file"].numpy()
    info = {}
    if "scale" in out:
      scale = np.asarray(out["scale"].numpy(), np.float64).ravel()
      if scale.size == 2:
        info["M_y"], info["M_x"] = float(scale[0]), float(scale[1])
        # One number per image for Fig. 6: the geometric mean, which is M
        # itself when My = Mx (the paper's shared factor).
        info["M"] = float(np.sqrt(scale[0] * scale[1]))
      elif scale.size == 1:
        info["M"] = float(scale[0])
      else:
        raise ValueError(f"'scale' must be a scalar or (My, Mx); received "
                         f"shape {out['scale'].shape}.")
    return data, info

  def encode(self, image, setting):
    return self.encode_with_info(image, setting)[0]

  def decode(self, data):
    data = base.check_bytes(data)
    image = self._decompress(file=tf.constant(data))["image"].numpy()
    return base.check_image_uint8(image, "decompressed image")
