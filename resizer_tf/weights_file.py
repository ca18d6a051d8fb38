"""Weights-only files for `ResizeCompress`: float16 `.npz`, by component.

A file holds, per component of the model (`codec`, `pre_filter`,
`post_filter`, `scale_net`, `global_scale`), its `get_weights()` list in
order, as float16, plus a JSON `meta` entry (config, training record).
Keys are "<component>/<index>". Component-wise storage is what lets a plain
codec warm-start the codec of a Resize model (same `codec/*` arrays) and
lets a later session resume a run with fresh optimizer state (no optimizer
slots are stored: a file is ~2 bytes per parameter).

The float16 file IS the model: loading casts to float32 exactly, so every
process that loads it has identical weights and identical range-coding
tables, and files it encodes decode bit-exactly anywhere.
"""
import hashlib
import io
import json
import os

import numpy as np

from resizer_tf import _io

COMPONENTS = ("codec", "pre_filter", "post_filter", "scale_net")
META_KEY = "meta"


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


def save(model, path, meta=None, dtype=np.float16):
  """Writes the model's weights (and `meta`, JSON-able) atomically.

  Returns the file's sha256 (hex).
  """
  arrays = model_arrays(model, dtype)
  arrays[META_KEY] = np.frombuffer(
      json.dumps(meta or {}, sort_keys=True).encode("utf-8"), np.uint8)
  buffer = io.BytesIO()
  np.savez(buffer, **arrays)
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
