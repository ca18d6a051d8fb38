"""Resizer + backbone + head models of Talebi & Milanfar (2021), Sec. 3-4.

    images at the resizer's input resolution, RGB floats in [0, 255]
      -> resizer to the output resolution: `LearnedResizer` (Fig. 3) or the
         plain bilinear / bicubic baseline (Tables 4, 5)
      -> the backbone's own preprocessing (`BackbonePreprocessing`)
      -> backbone (Table 3) with global average pooling
      -> head: K-class softmax (Sec. 3.2.1) or the 10-bin NIMA score
         distribution (Sec. 3.2.2), both float32 even under mixed precision.

The model's input range is fixed to [0, 255] whatever the backbone, so data
pipelines, serving signatures and resizers are shared by all backbones.
"""
import os

import numpy as np
import tensorflow as tf

from resizer_tf import _validation
from resizer_tf.layers import learned_resizer as learned_resizer_lib
from resizer_tf.models import backbones
from resizer_tf.models import weights as weights_lib

RESIZERS = ("learned", "bilinear", "bicubic")
TASKS = ("classification", "iqa")
# Layer names the rest of the library relies on.
RESIZER_LAYER = "resizer"
RESIZED_OUTPUT = "backbone_preprocessing"
BACKBONE_LAYER = "backbone"


def build_resizer_stage(x, kind, output_size, filters=16, num_res_blocks=1,
                        interpolation="bilinear", input_scale=1.0 / 255.0):
  """Applies the resizer of `kind` to the Keras tensor `x` (0-255 in/out).

  Args:
    x: Keras tensor [batch, H_in, W_in, 3] in [0, 255].
    kind: "learned" (Fig. 3), "bilinear" or "bicubic" (the baselines, a
      `tf.keras.layers.Resizing`, no antialiasing, like `tf.image.resize`).
    output_size: (height, width) the backbone sees.
    filters, num_res_blocks: n and r of Fig. 3 (paper: 16 and 1).
    interpolation: base resizer inside the learned resizer (paper: bilinear).
    input_scale: the learned resizer runs on `x * input_scale` and its output
      is divided by it again. The paper does not state its pixel range; the
      default 1/255 runs the CNN on [0, 1] images. Not used by baselines.

  Returns:
    Keras tensor [batch, output_h, output_w, 3] in (about) [0, 255].
  """
  output_size = _validation.check_size(output_size, "output_size")
  if kind == "learned":
    if input_scale <= 0:
      raise ValueError(f"`input_scale` must be > 0; received {input_scale}.")
    layers = tf.keras.layers
    x = layers.Rescaling(input_scale, name="resizer_input_scale")(x)
    x = learned_resizer_lib.LearnedResizer(
        output_size, filters=filters, num_res_blocks=num_res_blocks,
        interpolation=interpolation, name=RESIZER_LAYER)(x)
    return layers.Rescaling(1.0 / input_scale, name="resizer_output_scale")(x)
  if kind in ("bilinear", "bicubic"):
    return tf.keras.layers.Resizing(
        output_size[0], output_size[1], interpolation=kind,
        name=RESIZER_LAYER)(x)
  raise ValueError(f"`resizer` must be one of {RESIZERS}; received {kind!r}.")


def build_vision_model(backbone, task="classification", num_classes=1000,
                       input_size=(224, 224), output_size=(224, 224),
                       resizer="learned", filters=16, num_res_blocks=1,
                       resizer_interpolation="bilinear",
                       resizer_input_scale=1.0 / 255.0, backbone_weights=None,
                       head_dropout=0.0, num_score_bins=10,
                       backbone_kwargs=None, name=None, weights_mode="full"):
  """Builds resizer -> backbone -> head (Fig. 1, Table 3).

  Args:
    backbone: a key of `resizer_tf.models.backbones.BACKBONES`.
    task: "classification" (K-class softmax, trained with Eq. 1) or "iqa"
      (NIMA: `num_score_bins`-way softmax, trained with Eq. 2).
    num_classes: K for classification (ImageNet: 1000).
    input_size: the resizer's input resolution (images are first resized to
      it, Sec. 4); None accepts any size (the resizer output is fixed).
    output_size: the resizer's output resolution = the backbone's input.
    resizer: "learned", "bilinear" or "bicubic".
    filters, num_res_blocks: n, r of the learned resizer (paper: 16, 1).
    resizer_interpolation: the learned resizer's base resizer (paper:
      bilinear).
    resizer_input_scale: see `build_resizer_stage`.
    backbone_weights: None or a local file of a trained baseline: a
      `.keras` / SavedModel of `build_vision_model` (e.g. a bilinear
      baseline's final.keras), or an HDF5 weights file (Keras applications
      full or "_notop" files, matched by layer name).
    head_dropout: dropout before the head (paper: none stated; 0).
    num_score_bins: bins of the IQA distribution (AVA: 10).
    backbone_kwargs: extra constructor arguments (e.g. {"alpha": 0.35}).
    name: model name.
    weights_mode: "full" (default; Sec. 4: the classifiers are initialised
      from the trained baselines, Tables 4, 6): backbone AND classifier head
      from `backbone_weights` (a file without a head raises); "backbone":
      the headless backbone only, the head starts random (a new head, e.g.
      the IQA bins on an ImageNet backbone).

  Returns:
    A functional `tf.keras.Model`, [batch, H_in, W_in, 3] in [0, 255] ->
    [batch, K] probabilities (or [batch, bins] score distribution).
  """
  if task not in TASKS:
    raise ValueError(f"`task` must be one of {TASKS}; received {task!r}.")
  spec = backbones.get_spec(backbone)
  output_size = _validation.check_size(output_size, "output_size")
  input_size = _validation.check_size(input_size, "input_size",
                                      allow_none=True)
  if task == "classification":
    units = num_classes
  else:
    units = num_score_bins
  if not isinstance(units, (int, np.integer)) or units < 2:
    raise ValueError(
        f"The head needs at least 2 outputs; received {units!r} for {task}.")
  if not 0.0 <= head_dropout < 1.0:
    raise ValueError(f"`head_dropout` must be in [0, 1); received "
                     f"{head_dropout}.")
  if weights_mode not in weights_lib.WEIGHTS_MODES:
    raise ValueError(f"`weights_mode` must be one of "
                     f"{weights_lib.WEIGHTS_MODES}; received {weights_mode!r}.")
  if backbone_weights is not None:
    backbone_weights = weights_lib.check_weights_argument(
        backbone_weights, f"backbone {backbone!r}")
  model_file = (backbone_weights is not None and
                weights_lib.is_model_file(backbone_weights))
  layers = tf.keras.layers
  inputs = layers.Input(shape=(*(input_size or (None, None)), 3),
                        name="images")
  x = build_resizer_stage(inputs, resizer, output_size, filters,
                          num_res_blocks, resizer_interpolation,
                          resizer_input_scale)
  x = backbones.BackbonePreprocessing(spec.preprocessing,
                                      name=RESIZED_OUTPUT)(x)
  net = backbones.build_backbone(
      backbone, output_size, None if model_file else backbone_weights,
      **(backbone_kwargs or {}))
  if model_file:
    weights_lib.load_backbone_from_model_file(net, backbone_weights)
  try:  # Keras 3: `name` is a plain attribute.
    net.name = BACKBONE_LAYER
  except AttributeError:  # Keras 2: a read-only property over `_name`.
    net._name = BACKBONE_LAYER  # pylint: disable=protected-access
  x = net(x)
  if head_dropout:
    x = layers.Dropout(head_dropout, name="head_dropout")(x)
  head = layers.Dense(int(units), name="logits")
  x = head(x)
  if backbone_weights is not None and weights_mode == "full":
    weights_lib.load_head_weights(head, backbone_weights)
  # float32 softmax: the losses must not see float16 under mixed precision.
  outputs = layers.Activation(
      "softmax", dtype="float32",
      name="probabilities" if task == "classification" else
      "score_distribution")(x)
  return tf.keras.Model(inputs, outputs,
                        name=name or f"{resizer}_{backbone}_{task}")


def resized_images_model(model):
  """Sub-model from the input to the resized images (0-255, what the
  backbone's preprocessing receives), for summaries and Fig. 4-5 figures."""
  return tf.keras.Model(model.inputs, model.get_layer(RESIZED_OUTPUT).input)


def resizer_layer(model):
  return model.get_layer(RESIZER_LAYER)


def transfer_resizer_weights(source, target):
  """Copies a trained learned resizer into another model (Sec. 4.3).

  Tables 6-7: a resizer trained with one backbone initialises the resizer of
  another backbone, which is then fine-tuned jointly.

  Args:
    source: a model built by `build_vision_model`, or the path of one saved
      as `.keras` / `.h5` (as the training binaries write `final.keras`).
    target: the model to initialise (any backbone, same n and r).

  Returns:
    `target`.
  """
  if isinstance(source, (str, os.PathLike)):
    source = os.fspath(source)
    if not tf.io.gfile.exists(source):
      raise ValueError(f"Resizer source model not found: {source!r}.")
    source = tf.keras.models.load_model(source, compile=False)
  src, dst = resizer_layer(source), resizer_layer(target)
  for layer, which in ((src, "source"), (dst, "target")):
    if not isinstance(layer, learned_resizer_lib.LearnedResizer):
      raise ValueError(
          f"The {which} model has no learned resizer (its '{RESIZER_LAYER}' "
          f"layer is {type(layer).__name__}).")
  if ((src.filters, src.num_res_blocks, src.channels) !=
      (dst.filters, dst.num_res_blocks, dst.channels)):
    raise ValueError(
        "Source and target resizers differ: source n, r, channels = "
        f"{src.filters}, {src.num_res_blocks}, {src.channels}; target = "
        f"{dst.filters}, {dst.num_res_blocks}, {dst.channels}.")
  dst.set_weights(src.get_weights())
  return target


def count_flops(model, input_shape=None):
  """Floating-point operations of one forward pass per image (Table 4, 5).

  Counted by the TF profiler on the frozen inference graph, the convention
  of the paper's "Total FLOPS": a multiply-add is two operations (e.g. the
  224 -> 224 learned resizer adds 1.19 B to Inception-v2, 5.07 - 3.88 in
  Table 4). The graph is run and the profiler reads the run's shapes:
  statically, ops whose shapes depend on `tf.shape` (a codec's synthesis
  transform after the entropy model, transposed convolutions) have
  incomplete shapes and would be dropped. Per image = the count at batch 2
  minus the count at batch 1, so that work done once per call whatever the
  batch (deriving RDFT convolution kernels from their spectra) is not
  charged to every image.

  Args:
    model: a Keras model (or layer) taking one image batch, or any callable
      of one [B, H, W, C] float32 tensor.
    input_shape: (height, width, channels); default the model's input shape,
      which must then be fully known.

  Returns:
    int, FLOPs per image.
  """
  if input_shape is None:
    input_shape = tuple(model.inputs[0].shape[1:])
  if any(d is None for d in input_shape):
    raise ValueError(
        f"FLOPs need a fully known input shape; received {input_shape}.")
  call = (lambda x: model(x, training=False)) if isinstance(
      model, tf.keras.layers.Layer) else model
  return (_profiled_flops(call, (2, *input_shape)) -
          _profiled_flops(call, (1, *input_shape)))


def _profiled_flops(call, shape):
  """The TF profiler's FLOP count of one run of `call` on zeros of `shape`."""
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-direct-tensorflow-import,g-import-not-at-top
  fn = tf.function(call).get_concrete_function(
      tf.TensorSpec(shape, tf.float32))
  frozen = convert_to_constants.convert_variables_to_constants_v2(fn)
  graph = tf.Graph()
  with graph.as_default():
    tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    feed = graph.get_tensor_by_name(frozen.inputs[0].name)
    fetches = [graph.get_tensor_by_name(t.name) for t in frozen.outputs]
    run_meta = tf.compat.v1.RunMetadata()
    with tf.compat.v1.Session(graph=graph) as session:
      session.run(fetches, {feed: np.zeros(shape, np.float32)},
                  options=tf.compat.v1.RunOptions(
                      trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
                  run_metadata=run_meta)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=graph, run_meta=run_meta,
                                         options=opts)
  return int(info.total_float_ops)
