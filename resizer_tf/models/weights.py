"""Loading backbone weights from local files; nothing is ever downloaded.

`tf.keras.applications` would fetch `weights="imagenet"` from the internet;
this library refuses instead and asks for a local file (docs/design_notes.md §1: offline
machines fail with an opaque "URL fetch failure").
"""
import os

import numpy as np
import tensorflow as tf

#: How `build_vision_model(backbone_weights=...)` initialises a model.
#: "full": backbone and classifier head from a trained baseline (Talebi &
#: Milanfar Sec. 4: "the classifiers are initialized from the trained
#: baselines", Tables 4, 6); "backbone": the headless backbone only, the
#: head starts random (e.g. a new head, like the 10-bin IQA head on an
#: ImageNet backbone, Sec. 4.2).
WEIGHTS_MODES = ("full", "backbone")
#: Names of the classifier head in the files `full` accepts: this library's
#: models ("logits") and tf.keras.applications' full files ("predictions").
HEAD_LAYER_NAMES = ("logits", "predictions")


def check_weights_argument(weights, what):
  """Returns None or an existing path; refuses "imagenet" with a clear error."""
  if weights is None:
    return None
  if not isinstance(weights, (str, os.PathLike)):
    raise ValueError(
        f"`weights` of {what} must be None or a path to a local weights file; "
        f"received {weights!r}.")
  weights = os.fspath(weights)
  if weights == "imagenet":
    raise ValueError(
        f"weights='imagenet' for {what} would be downloaded, which this "
        "library never does. Download the Keras ImageNet weights file once "
        "(e.g. the '..._notop.h5' file of tf.keras.applications) and pass its "
        "local path as weights=/path/to/file.h5, or use weights=None.")
  if not (tf.io.gfile.exists(weights) or tf.io.gfile.exists(weights + ".index")):
    raise ValueError(
        f"Weights file for {what} not found: {weights!r}. Pass None or the "
        "path of a local .h5 / TF-checkpoint weights file.")
  return weights


def _h5_layer_names(path):
  import h5py  # pylint: disable=g-import-not-at-top
  with h5py.File(path, "r") as f:
    group = f["model_weights"] if "model_weights" in f else f
    names = group.attrs.get("layer_names")
    if names is None:
      raise ValueError(
          f"{path!r} is not a Keras HDF5 weights file (no 'layer_names').")
    return {n.decode("utf8") if isinstance(n, bytes) else str(n)
            for n in names}


def load_weights_file(model, path, what="the backbone"):
  """Loads `path` into `model`.

  HDF5 files are first loaded in topological order (layer names may differ
  between Keras sessions, e.g. "normalization_2"); if the file's layers do
  not line up (e.g. an ImageNet file with the classifier for a headless
  model), they are matched by name, and every layer of `model` that has
  weights must then be present in the file: a ValueError lists the missing
  ones instead of leaving them silently random.
  """
  path = check_weights_argument(path, what)
  if path is None:
    return model
  if not path.endswith((".h5", ".hdf5")):
    model.load_weights(path).expect_partial()
    return model
  try:
    model.load_weights(path)
    return model
  except ValueError as e:
    topological_error = e
  present = _h5_layer_names(path)
  missing = [l.name for l in model.layers
             if l.weights and l.name not in present]
  if missing:
    raise ValueError(
        f"{path!r} does not hold weights for {len(missing)} layer(s) of "
        f"{what} (e.g. {missing[:5]}) and its layers do not line up either "
        f"({topological_error}); is it the file for this architecture?")
  try:
    model.load_weights(path, by_name=True)
  except ValueError as e:
    raise ValueError(f"Weights in {path!r} do not fit {what}: {e}") from None
  return model


def fix_keras_efficientnet_normalization(model):
  """Repairs the variance of the ImageNet EfficientNet files of Keras.

  The Keras EfficientNet weight files store the ImageNet std (0.229, 0.224,
  0.225) where the Normalization layer expects a variance; Keras patches
  this only for the string weights="imagenet" (an extra Rescaling layer).
  Loading the same file from a local path needs the same repair, done here by
  squaring the stored value when it equals the std (idempotent otherwise).
  """
  std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
  for layer in model.layers:
    if isinstance(layer, tf.keras.layers.Normalization):
      stored = getattr(layer, "adapt_variance", None)
      if stored is None:
        continue
      variance = stored.numpy().reshape(-1)
      if variance.size == 3 and np.allclose(variance, std, atol=1e-4):
        stored.assign(np.reshape(std ** 2, stored.shape))
        layer.finalize_state()
        return True
  return False


def is_model_file(path):
  """True for a whole saved model (`.keras` file or SavedModel folder), as
  the training binaries write (`final.keras`), rather than a weights file."""
  path = os.fspath(path)
  return path.endswith(".keras") or tf.io.gfile.exists(
      os.path.join(path, "saved_model.pb"))


def _h5_layer_weights(path, names):
  """(layer name, [arrays]) of the first of `names` stored in an HDF5 weights
  file, or (None, None)."""
  import h5py  # pylint: disable=g-import-not-at-top
  with h5py.File(path, "r") as f:
    group = f["model_weights"] if "model_weights" in f else f
    for name in names:
      if name not in group:
        continue
      layer = group[name]
      weight_names = [n.decode("utf8") if isinstance(n, bytes) else str(n)
                      for n in layer.attrs.get("weight_names", [])]
      if weight_names:
        return name, [np.asarray(layer[n]) for n in weight_names]
  return None, None


def _assign(layer, values, path, what):
  shapes = [tuple(w.shape) for w in layer.weights]
  if [tuple(v.shape) for v in values] != shapes:
    raise ValueError(
        f"The {what} in {path!r} has weight shapes "
        f"{[tuple(v.shape) for v in values]}; this model's "
        f"'{layer.name}' layer needs {shapes} (another number of classes? "
        "Use weights_mode='backbone' to start the head from scratch).")
  layer.set_weights(values)


def load_head_weights(head, path):
  """Initialises the classifier head (`Dense`) from the one in `path`.

  `path` is an HDF5 weights file holding a "logits" (this library) or
  "predictions" (a full tf.keras.applications file) layer, or a `.keras` /
  SavedModel of a model with a "logits" layer. A file without a head raises
  a ValueError naming weights_mode="backbone".
  """
  path = os.fspath(path)
  if is_model_file(path):
    source = tf.keras.models.load_model(path, compile=False)
    try:
      layer = source.get_layer(HEAD_LAYER_NAMES[0])
    except ValueError:
      layer = None
    values = layer.get_weights() if layer is not None else None
  else:
    _, values = _h5_layer_weights(path, HEAD_LAYER_NAMES)
  if not values:
    raise ValueError(
        f"{path!r} has no classifier head (no layer named one of "
        f"{HEAD_LAYER_NAMES}), so the whole baseline cannot be loaded. Pass "
        "a file of the trained baseline (e.g. its final.keras, or a full "
        "Keras applications .h5), or weights_mode='backbone' to load only "
        "the backbone and start the head from scratch.")
  _assign(head, values, path, "classifier head")
  return head


def load_backbone_from_model_file(backbone, path, backbone_layer="backbone"):
  """Copies the backbone of a saved vision model (`.keras` / SavedModel of
  `build_vision_model`, e.g. a baseline's final.keras) into `backbone`."""
  source = tf.keras.models.load_model(os.fspath(path), compile=False)
  try:
    src = source.get_layer(backbone_layer)
  except ValueError:
    raise ValueError(
        f"{path!r} is a saved model without a '{backbone_layer}' layer; "
        "expected a model built by resizer_tf.models.build_vision_model."
    ) from None
  src_weights = src.get_weights()
  if [w.shape for w in src_weights] != [tuple(w.shape)
                                        for w in backbone.weights]:
    raise ValueError(
        f"The backbone in {path!r} does not have this backbone's "
        "architecture (different weight shapes).")
  backbone.set_weights(src_weights)
  return backbone
