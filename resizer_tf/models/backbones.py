"""Baseline networks of Table 3 with their own input preprocessing.

Every backbone here takes images in the library's pixel convention, RGB
floats in [0, 255] ("uint8-like"), and applies its own ImageNet
preprocessing first, through `BackbonePreprocessing`:

| backbone         | source                              | preprocessing          |
| ---------------- | ----------------------------------- | ---------------------- |
| resnet50         | tf.keras.applications.ResNet50      | "caffe": BGR, - mean   |
| densenet121      | tf.keras.applications.DenseNet121   | "torch": /255, mean/std|
| mobilenet_v2     | tf.keras.applications.MobileNetV2   | "tf": [-1, 1]          |
| inception_v3     | tf.keras.applications.InceptionV3   | "tf": [-1, 1]          |
| efficientnet_b0  | tf.keras.applications.EfficientNetB0| "raw": 0-255 (inside)  |
| inception_v2     | resizer_tf.models.inception_v2      | "tf": [-1, 1]          |
| small_cnn        | `SmallCNN` below (benchmarks only)  | "tf": [-1, 1]          |

Backbones are headless (`include_top=False`) with global average pooling; the
task head is added by `resizer_tf.models.builder`.
"""
import collections

import tensorflow as tf

from resizer_tf.models import inception_v2
from resizer_tf.models import weights as weights_lib

PREPROCESSING_MODES = ("caffe", "torch", "tf", "raw")


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class BackbonePreprocessing(tf.keras.layers.Layer):
  """Maps [0, 255] RGB to a backbone's expected input (keras imagenet_utils).

  Modes: "caffe" (RGB->BGR, minus the ImageNet mean), "torch" (/255, minus
  mean, / std), "tf" (/127.5 - 1) and "raw" (identity; EfficientNet rescales
  and normalises inside the network).
  """

  def __init__(self, mode, **kwargs):
    super().__init__(**kwargs)
    if mode not in PREPROCESSING_MODES:
      raise ValueError(
          f"`mode` must be one of {PREPROCESSING_MODES}; received {mode!r}.")
    self.mode = mode

  def call(self, inputs):
    if self.mode == "raw":
      return inputs
    return tf.keras.applications.imagenet_utils.preprocess_input(
        inputs, data_format="channels_last", mode=self.mode)

  def compute_output_shape(self, input_shape):
    return tf.TensorShape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(mode=self.mode)
    return config


def SmallCNN(include_top=False, weights=None, input_tensor=None,  # pylint: disable=invalid-name
             input_shape=None, pooling="avg", classes=10, width=32):
  """A 4-conv CNN for the small-scale reproduction (not in the paper).

  conv3x3(w) - conv3x3(2w, /2) - conv3x3(2w) - conv3x3(4w, /2), each
  conv-BN-ReLU, then global average pooling: cheap enough to train on two CPU
  cores, with the stride pattern of the big backbones in miniature.
  """
  weights_lib.check_weights_argument(weights, "SmallCNN")
  layers = tf.keras.layers
  if input_tensor is not None:
    inputs = input_tensor
  else:
    inputs = layers.Input(shape=input_shape or (None, None, 3))
  x = inputs
  for i, (filters, strides) in enumerate(
      [(width, 1), (2 * width, 2), (2 * width, 1), (4 * width, 2)]):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same",
                      use_bias=False, name=f"conv{i}")(x)
    x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
    x = layers.Activation("relu", name=f"conv{i}_relu")(x)
  if include_top or pooling == "avg":
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
  elif pooling == "max":
    x = layers.GlobalMaxPooling2D(name="max_pool")(x)
  if include_top:
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
  model = tf.keras.Model(inputs, x, name="small_cnn")
  weights_lib.load_weights_file(model, weights, "SmallCNN")
  return model


BackboneSpec = collections.namedtuple(
    "BackboneSpec", ["constructor", "preprocessing", "min_size"])

_apps = tf.keras.applications
# min_size: the smallest output-resolution side the network accepts (Keras'
# own check; InceptionV3's valid-padded reductions need 75).
BACKBONES = {
    "resnet50": BackboneSpec(_apps.ResNet50, "caffe", 32),
    "densenet121": BackboneSpec(_apps.DenseNet121, "torch", 32),
    "mobilenet_v2": BackboneSpec(_apps.MobileNetV2, "tf", 32),
    "inception_v3": BackboneSpec(_apps.InceptionV3, "tf", 75),
    "efficientnet_b0": BackboneSpec(_apps.EfficientNetB0, "raw", 32),
    "inception_v2": BackboneSpec(inception_v2.InceptionV2, "tf", 1),
    "small_cnn": BackboneSpec(SmallCNN, "tf", 1),
}


def get_spec(name):
  if name not in BACKBONES:
    raise ValueError(
        f"Unknown backbone {name!r}; choose one of {sorted(BACKBONES)}.")
  return BACKBONES[name]


def build_backbone(name, input_size, weights=None, **kwargs):
  """Headless backbone with global average pooling at `input_size`.

  Args:
    name: a key of `BACKBONES`.
    input_size: (height, width) the backbone sees (the resizer's output).
    weights: None or a local weights file (HDF5 files are matched by layer
      name, so a Keras "_notop" or full ImageNet file both work).
    **kwargs: passed to the constructor (e.g. alpha=0.35 for MobileNetV2).

  Returns:
    A `tf.keras.Model` mapping preprocessed images to [batch, features].
  """
  spec = get_spec(name)
  height, width = input_size
  if min(height, width) < spec.min_size:
    raise ValueError(
        f"Backbone {name!r} needs inputs of at least {spec.min_size}x"
        f"{spec.min_size}; received output size {height}x{width}.")
  weights = weights_lib.check_weights_argument(weights, f"backbone {name!r}")
  model = spec.constructor(include_top=False, weights=None,
                           input_shape=(height, width, 3), pooling="avg",
                           **kwargs)
  if weights is not None:
    weights_lib.load_weights_file(model, weights, f"backbone {name!r}")
    if name.startswith("efficientnet"):
      weights_lib.fix_keras_efficientnet_normalization(model)
  return model
