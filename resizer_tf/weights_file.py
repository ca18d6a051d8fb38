"""Weights-only files for `ResizeCompress`: float16 or int8 `.npz`, by component.

A file holds, per component of the model (`codec`, `pre_filter`,
`post_filter`, `scale_net`, `global_scale`), its `get_weights()` list in
order, plus a JSON `meta` entry (config, training record). Two encodings:

- "float16" (default; training snapshots): every array as float16.
- "int8" (the shipped models since the repository's weight budget ran
  low): the convolution kernels (rank-4 arrays: the codec's RDFT kernel
  parameters, 97 % of a Ballé17's parameters, and the filters' and
  ResizeParamNet's Keras kernels) as int8 codes with one scale per index of
  the array's longest axis (a channel axis; symmetric, 127 levels); the
  rest (biases, GDN, BatchNorm, entropy models) as float16;
  deflate-compressed. 0.44-0.45 of the float16 file; measured effect on
  the decoded PSNR in docs/training_campaign.md.
Keys are "<component>/<index>". Component-wise storage is what lets a plain
codec warm-start the codec of a Resize model (same `codec/*` arrays) and
lets a later session resume a run with fresh optimizer state (no optimizer
slots are stored: a file is ~2 bytes per parameter, ~0.9 in int8).

The file IS the model: loading gives float32 weights by exact IEEE
operations (a float16 -> float32 cast; an int8 code times its scale, both
exact in float32), so every process that loads it has
identical weights and identical range-coding tables, and files it encodes
decode bit-exactly anywhere.
"""
import hashlib
import io
import json
import os

import numpy as np

from resizer_tf import _io

COMPONENTS = ("codec", "pre_filter", "post_filter", "scale_net")
META_KEY = "meta"
ENCODINGS = ("float16", "int8")
INT8_MIN_RANK = 4
_CODES, _SCALES = ".int8", ".scale"


def _round_significand(x, bits=11):
  """x (float32) rounded to `bits` significant bits (float16's 11, without
  float16's range: no underflow for tiny weights)."""
  mantissa, exponent = np.frexp(x.astype(np.float64))
  return np.ldexp(np.round(mantissa * 2.**bits) / 2.**bits,
                  exponent).astype(np.float32)


def _scale_axis(shape):
  return int(np.argmax(shape))  # the first of the longest axes


def quantize_int8(array):
  """(int8 codes, float32 scales) of a float array: one scale per index of
  its longest axis (shape 1 elsewhere), max |a| / 127 over the slice rounded
  to 11 significant bits (1 for an all-zero slice); codes = round(a /
  scale) clipped to [-127, 127]."""
  a = np.asarray(array, np.float32)
  if not np.isfinite(a).all():
    raise ValueError("Cannot store non-finite weights (NaN or Inf): the "
                     "model diverged.")
  axis = _scale_axis(a.shape)
  axes = tuple(i for i in range(a.ndim) if i != axis)
  scale = _round_significand(np.max(np.abs(a), axis=axes, keepdims=True)
                             / np.float32(127))
  scale[scale == 0] = 1
  codes = np.clip(np.round(a / scale), -127, 127)
  return codes.astype(np.int8), scale


def dequantize_int8(codes, scale):
  """float32 weights of `quantize_int8`'s output. Exact: a code (8
  significant bits) times a scale (11) fits float32's 24, so every machine
  gets the same weights, and quantizing them again gives the same file."""
  return codes.astype(np.float32) * scale.astype(np.float32)


def _component(model, name):
  return getattr(model, name, None)


def model_arrays(model, dtype=np.float16):
  """{"<component>/<i>": array} of a built `ResizeCompress`."""
  arrays = {}
  for name in COMPONENTS:
    layer = _component(model, name)
    if layer is None:
      continue
    for i, w in enumerate(layer.get_weights()):
      arrays[f"{name}/{i:04d}"] = np.asarray(w).astype(dtype)
  if getattr(model, "global_scale", None) is not None:
    arrays["global_scale/0000"] = model.global_scale.numpy().astype(dtype)
  return arrays


def save(model, path, meta=None, encoding="float16"):
  """Writes the model's weights (and `meta`, JSON-able) atomically.

  Args:
    encoding: one of ENCODINGS (module docstring).
  Returns the file's sha256 (hex).
  """
  if encoding not in ENCODINGS:
    raise ValueError(f"encoding must be one of {ENCODINGS}, got "
                     f"{encoding!r}.")
  arrays = model_arrays(model, np.float32)
  bad = [k for k, v in arrays.items() if not np.isfinite(v).all()]
  if bad:
    raise ValueError(f"Cannot save {path!r}: non-finite weights (NaN or "
                     f"Inf) in {bad[:3]}; the model diverged.")
  if encoding == "int8":
    for key in list(arrays):
      value = arrays.pop(key)
      if value.ndim >= INT8_MIN_RANK:
        arrays[key + _CODES], arrays[key + _SCALES] = quantize_int8(value)
      else:
        arrays[key] = value.astype(np.float16)
  else:
    arrays = {k: v.astype(np.float16) for k, v in arrays.items()}
  arrays[META_KEY] = np.frombuffer(
      json.dumps(meta or {}, sort_keys=True).encode("utf-8"), np.uint8)
  buffer = io.BytesIO()
  (np.savez_compressed if encoding == "int8" else np.savez)(buffer, **arrays)
  data = buffer.getvalue()
  _io.atomic_write_bytes(path, data)
  return hashlib.sha256(data).hexdigest()


def read(path, sha256=None):
  """(arrays dict, meta dict) of a weights file, verifying `sha256`.

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file's sha256 differs from `sha256`, or it is not a
      weights file.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Weights file {path!r} does not exist.")
  with open(path, "rb") as f:
    data = f.read()
  if sha256 is not None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
      raise ValueError(
          f"Weights file {path!r} is corrupt: sha256 {digest[:16]}... "
          f"differs from the recorded {sha256[:16]}.... Reinstall the "
          "package (or re-download the file).")
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    for key in [k for k in arrays if k.endswith(_CODES)]:
      stem = key[:-len(_CODES)]
      arrays[stem] = dequantize_int8(arrays.pop(key),
                                     arrays.pop(stem + _SCALES))
  except Exception as e:  # zip, npy and JSON errors all mean "not ours".
    raise ValueError(
        f"{path!r} is not a resizer_tf weights file ({e}).") from None
  return arrays, meta


def assign(model, arrays, components=None):
  """Loads `arrays` into a built model, component by component.

  Args:
    components: names to load (default: every component in `arrays`).
  Returns:
    The names of the components loaded.
  Raises:
    ValueError: a component is missing from the model or the file, or its
      arrays do not match the model's shapes.
  """
  by_component = {}
  for key, value in arrays.items():
    name, index = key.rsplit("/", 1)
    by_component.setdefault(name, {})[int(index)] = value
  names = list(components or by_component)
  for name in names:
    if name not in by_component:
      raise ValueError(f"The weights file has no {name!r} component; it has "
                       f"{sorted(by_component)}.")
    values = [by_component[name][i] for i in sorted(by_component[name])]
    if name == "global_scale":
      target = [model.global_scale] if model.global_scale is not None else []
    else:
      layer = _component(model, name)
      target = layer.weights if layer is not None else []
    if not target:
      raise ValueError(f"The model has no {name!r} component to load into.")
    shapes = [tuple(v.shape) for v in target]
    if [tuple(v.shape) for v in values] != shapes:
      raise ValueError(
          f"The {name!r} weights in the file do not fit this model "
          f"(file shapes {[tuple(v.shape) for v in values][:3]}..., model "
          f"{shapes[:3]}...): a different architecture or size.")
    if name == "global_scale":
      model.global_scale.assign(values[0].astype(np.float32))
    else:
      layer.set_weights([v.astype(np.float32) for v in values])
  return names
