"""Inception-v2 / BN-Inception (Ioffe & Szegedy, ICML 2015, Fig. 5).

`tf.keras.applications` has no Inception-v2, which Talebi & Milanfar (2021)
use as a baseline (Table 3, 4, 5). This is the network of Fig. 5 of the
BN-Inception paper: GoogLeNet with batch normalisation after every
convolution, the 5x5 convolutions replaced by two stacked 3x3 ("double 3x3")
convolutions, average pooling in most pooling branches, and the strided
modules 3c and 4e that concatenate a pass-through max pool. No dropout
(Sec. 4.2.1 of the BN paper removes it).

Every convolution is conv (no bias) -> BatchNorm -> ReLU, "same" padding.
"""
import tensorflow as tf

from resizer_tf.models import weights as weights_lib

layers = tf.keras.layers

# Fig. 5 of Ioffe & Szegedy (2015): name, #1x1, #3x3 reduce, #3x3,
# double #3x3 reduce, double #3x3, pool type, pool projection, stride.
# A stride-2 module has no 1x1 branch and a pass-through max pool.
INCEPTION_MODULES = (
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
)


def _conv_bn(x, filters, kernel, name, strides=1, separable=False):
  if separable:
    # TF-slim's variant of the stem: depthwise 7x7 (multiplier 8) then 1x1.
    x = layers.SeparableConv2D(
        filters, kernel, strides=strides, padding="same", depth_multiplier=8,
        use_bias=False, name=name)(x)
  else:
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same",
                      use_bias=False, name=name)(x)
  x = layers.BatchNormalization(axis=-1, name=name + "_bn")(x)
  return layers.Activation("relu", name=name + "_relu")(x)


def inception_module(x, name, n1x1, n3x3_reduce, n3x3, ndouble_reduce,
                     ndouble, pool, pool_proj, strides):
  """One row of Fig. 5: the four branches, concatenated on channels."""
  p = f"inception_{name}_"
  branches = []
  if n1x1:
    branches.append(_conv_bn(x, n1x1, 1, p + "1x1"))
  b = _conv_bn(x, n3x3_reduce, 1, p + "3x3_reduce")
  branches.append(_conv_bn(b, n3x3, 3, p + "3x3", strides=strides))
  b = _conv_bn(x, ndouble_reduce, 1, p + "double3x3_reduce")
  b = _conv_bn(b, ndouble, 3, p + "double3x3a")
  branches.append(_conv_bn(b, ndouble, 3, p + "double3x3b", strides=strides))
  pool_layer = (layers.AveragePooling2D if pool == "avg"
                else layers.MaxPooling2D)
  b = pool_layer(3, strides=strides, padding="same", name=p + pool + "pool")(x)
  if pool_proj:
    b = _conv_bn(b, pool_proj, 1, p + "pool_proj")
  branches.append(b)
  return layers.Concatenate(axis=-1, name=p + "output")(branches)


def InceptionV2(include_top=True, weights=None, input_tensor=None,  # pylint: disable=invalid-name
                input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", separable_stem=True):
  """BN-Inception with the `tf.keras.applications` calling convention.

  Args:
    include_top: add global average pooling and the `classes`-way FC layer.
    weights: None (random) or the path of a local weights file; "imagenet"
      is refused (nothing is downloaded).
    input_tensor: optional Keras tensor to build on.
    input_shape: (height, width, 3); default (None, None, 3), any size.
    pooling: with include_top=False: None (4-D features), "avg" or "max".
    classes: number of classes of the top layer.
    classifier_activation: activation of the top layer ("softmax" or None).
    separable_stem: the first 7x7 convolution as a depthwise-separable
      convolution (depth multiplier 8), as Google's Inception-v2 has it
      (Chollet, Xception, Sec. 2: separable convolutions "as the first layer
      of Inception V1 and V2"; TF-slim's `inception_v2`). With it the model
      has 3.91 GFLOPs at 224x224 against 3.88 in Table 4 of Talebi &
      Milanfar (a plain 7x7 stem gives 4.08); False = a plain convolution.

  Inputs are expected in [-1, 1] (Inception preprocessing).
  """
  weights_lib.check_weights_argument(weights, "InceptionV2")
  if input_shape is None:
    input_shape = (None, None, 3)
  if input_tensor is None:
    inputs = layers.Input(shape=input_shape)
  elif not tf.keras.backend.is_keras_tensor(input_tensor):
    inputs = layers.Input(tensor=input_tensor, shape=input_shape)
  else:
    inputs = input_tensor
  if inputs.shape[-1] is not None and inputs.shape[-1] != 3:
    raise ValueError(
        f"InceptionV2 expects 3 input channels; received shape {inputs.shape}.")
  x = _conv_bn(inputs, 64, 7, "conv1_7x7", strides=2,
               separable=separable_stem)
  x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
  x = _conv_bn(x, 64, 1, "conv2_3x3_reduce")
  x = _conv_bn(x, 192, 3, "conv2_3x3")
  x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
  for spec in INCEPTION_MODULES:
    x = inception_module(x, *spec)
  if include_top:
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(classes, activation=classifier_activation,
                     name="predictions")(x)
  elif pooling == "avg":
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
  elif pooling == "max":
    x = layers.GlobalMaxPooling2D(name="max_pool")(x)
  elif pooling is not None:
    raise ValueError(
        f"`pooling` must be None, 'avg' or 'max'; received {pooling!r}.")
  if input_tensor is not None:
    inputs = tf.keras.utils.get_source_inputs(input_tensor)
  model = tf.keras.Model(inputs, x, name="inception_v2")
  weights_lib.load_weights_file(model, weights, "InceptionV2")
  return model
