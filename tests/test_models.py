"""Resizer + backbone + head models (Talebi & Milanfar Sec. 3-4, Table 3-4)."""
import numpy as np
import pytest
import tensorflow as tf

import resizer_tf
from resizer_tf import losses
from resizer_tf import models
from resizer_tf.models import backbones
from resizer_tf.models import inception_v2
from resizer_tf.models import weights as weights_lib

import keras_compat  # tests/keras_compat.py

# Output sizes (H, W), deliberately non-square; InceptionV3's valid-padded
# reductions need at least 75 pixels.
BACKBONE_SIZES = {
    "resnet50": (64, 48), "densenet121": (64, 48), "mobilenet_v2": (64, 48),
    "efficientnet_b0": (64, 48), "inception_v3": (80, 76),
    "inception_v2": (64, 48), "small_cnn": (64, 48)}


@pytest.mark.parametrize("backbone", sorted(BACKBONE_SIZES))
def test_every_backbone_trains_one_step_behind_the_resizer(backbone):
  out_h, out_w = BACKBONE_SIZES[backbone]
  in_size = (out_h + 13, out_w + 7)  # non-square, larger than the output
  model = models.build_vision_model(
      backbone, num_classes=5, input_size=in_size,
      output_size=(out_h, out_w), resizer="learned")
  resized = models.resized_images_model(model)
  x = tf.random.uniform([2, *in_size, 3], 0, 255, seed=1)
  assert resized(x).shape == (2, out_h, out_w, 3)
  y = tf.constant([1, 3])
  before = [v.numpy() for v in model.trainable_variables]
  optimizer = tf.keras.optimizers.SGD(0.05, momentum=0.9)
  with tf.GradientTape() as tape:
    probs = model(x, training=True)
    loss = tf.reduce_mean(losses.label_smoothed_cross_entropy(y, probs))
  grads = tape.gradient(loss, model.trainable_variables)
  assert all(g is not None for g in grads)
  optimizer.apply_gradients(zip(grads, model.trainable_variables))
  np.testing.assert_allclose(probs.numpy().sum(-1), 1.0, rtol=1e-5)
  assert np.isfinite(loss.numpy())
  resizer_vars = {id(v) for v in models.builder.resizer_layer(
      model).trainable_variables}
  changed = [not np.array_equal(b, v.numpy())
             for b, v in zip(before, model.trainable_variables)]
  # Both the resizer and the backbone are trained jointly (Sec. 3.2).
  assert any(c for c, v in zip(changed, model.trainable_variables)
             if id(v) in resizer_vars)
  assert any(c for c, v in zip(changed, model.trainable_variables)
             if id(v) not in resizer_vars)


# Independent references: each application module's own preprocess_input.
_APP_PREPROCESS = {
    "resnet50": tf.keras.applications.resnet50.preprocess_input,
    "densenet121": tf.keras.applications.densenet.preprocess_input,
    "mobilenet_v2": tf.keras.applications.mobilenet_v2.preprocess_input,
    "inception_v3": tf.keras.applications.inception_v3.preprocess_input,
    "efficientnet_b0": tf.keras.applications.efficientnet.preprocess_input,
}


@pytest.mark.parametrize("backbone", sorted(_APP_PREPROCESS))
def test_backbone_preprocessing_matches_keras_applications(backbone):
  x = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3)).astype(
      np.float32)
  layer = backbones.BackbonePreprocessing(
      backbones.get_spec(backbone).preprocessing)
  np.testing.assert_allclose(
      layer(tf.constant(x)).numpy(), _APP_PREPROCESS[backbone](x.copy()),
      rtol=1e-5, atol=1e-4)


def test_caffe_and_torch_modes_by_formula():
  x = np.random.default_rng(1).uniform(0, 255, (1, 3, 2, 3)).astype(np.float32)
  caffe = backbones.BackbonePreprocessing("caffe")(x).numpy()
  np.testing.assert_allclose(
      caffe, x[..., ::-1] - np.array([103.939, 116.779, 123.68]), atol=1e-3)
  torch = backbones.BackbonePreprocessing("torch")(x).numpy()
  np.testing.assert_allclose(
      torch, (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225],
      atol=1e-5)


def test_baseline_resizer_is_plain_resize_before_preprocessing():
  model = models.build_vision_model(
      "small_cnn", num_classes=3, input_size=(20, 30), output_size=(9, 13),
      resizer="bicubic")
  x = tf.random.uniform([2, 20, 30, 3], 0, 255, seed=2)
  np.testing.assert_allclose(
      models.resized_images_model(model)(x),
      tf.image.resize(x, (9, 13), "bicubic"), atol=1e-3)
  names = [l.name for l in model.layers]
  assert names.index("resizer") < names.index("backbone_preprocessing") \
      < names.index("backbone")


def test_learned_resizer_runs_on_scaled_pixels():
  # With every resizer conv zeroed, Fig. 3 is the plain bilinear resize.
  model = models.build_vision_model(
      "small_cnn", num_classes=3, input_size=(16, 12), output_size=(8, 10))
  layer = models.builder.resizer_layer(model)
  for v in layer.trainable_variables:
    v.assign(tf.zeros_like(v))
  x = tf.random.uniform([1, 16, 12, 3], 0, 255, seed=3)
  np.testing.assert_allclose(models.resized_images_model(model)(x),
                             tf.image.resize(x, (8, 10)), rtol=1e-5, atol=1e-3)


# Fig. 5 of Ioffe & Szegedy (2015), copied here independently of the module:
# (#1x1, #3x3 reduce, #3x3, double reduce, double #3x3, pool proj, stride).
_BN_INCEPTION = [("3a", 64, 64, 64, 64, 96, 32, 1),
                 ("3b", 64, 64, 96, 64, 96, 64, 1),
                 ("3c", 0, 128, 160, 64, 96, 0, 2),
                 ("4a", 224, 64, 96, 96, 128, 128, 1),
                 ("4b", 192, 96, 128, 96, 128, 128, 1),
                 ("4c", 160, 128, 160, 128, 160, 128, 1),
                 ("4d", 96, 128, 192, 160, 192, 128, 1),
                 ("4e", 0, 128, 192, 192, 256, 0, 2),
                 ("5a", 352, 192, 320, 160, 224, 128, 1),
                 ("5b", 352, 192, 320, 192, 224, 128, 1)]


def test_inception_v2_structure_and_parameter_count():
  model = models.InceptionV2(input_shape=(224, 224, 3), classes=1000)

  def conv(k, cin, cout):  # kernel, no bias + BN gamma, beta, mean, var
    return k * k * cin * cout + 4 * cout
  # Stem: separable 7x7 (depthwise x8 then 1x1 to 64), 1x1 64, 3x3 192.
  expected = 7 * 7 * 3 * 8 + 3 * 8 * 64 + 4 * 64
  expected += conv(1, 64, 64) + conv(3, 64, 192)
  depth, side = 192, 28
  for name, n1, r3, n3, rd, nd, proj, stride in _BN_INCEPTION:
    expected += (conv(1, depth, n1) if n1 else 0) + conv(1, depth, r3) + \
        conv(3, r3, n3) + conv(1, depth, rd) + conv(3, rd, nd) + \
        conv(3, nd, nd) + (conv(1, depth, proj) if proj else 0)
    depth = n1 + n3 + nd + (proj if proj else depth)  # max pass-through
    side //= stride
    # Fig. 5 prints 576 for 4c/4d; its own columns sum to 608 (as slim has).
    assert tuple(model.get_layer(f"inception_{name}_output").output.shape) \
        == (None, side, side, depth), name
  assert (side, depth) == (7, 1024)
  expected += 1024 * 1000 + 1000  # the 1000-class FC layer
  assert model.count_params() == expected
  assert 11.2e6 < expected < 11.4e6  # "11.2M" is the usual quote
  # Every conv is followed by BN; no dropout (BN paper Sec. 4.2.1).
  assert not any(isinstance(l, tf.keras.layers.Dropout) for l in model.layers)


def test_inception_v2_flops_and_resizer_flops_match_table_4():
  # Table 4: Inception-v2 with bilinear 224: 3.88 GFLOPs; the learned
  # resizer adds 5.07 - 3.88 = 1.19 (224 -> 224) and 5.86 - 3.88 = 1.98
  # (448 -> 224) GFLOPs.
  net = models.InceptionV2(input_shape=(224, 224, 3))
  assert models.count_flops(net) / 1e9 == pytest.approx(3.88, rel=0.015)
  # Keras 2 runs inference BatchNorm as one FusedBatchNormV3 op, which the
  # profiler does not count; Keras 3 writes it as Mul/Sub/Add/Rsqrt ops,
  # which it counts: about 0.011 GFLOPs more for the resizer's four BNs.
  tolerance = 0.02 if keras_compat.KERAS_3 else 0.01
  for side, paper in ((224, 5.07 - 3.88), (448, 5.86 - 3.88)):
    x = tf.keras.Input((side, side, 3))
    resizer = tf.keras.Model(x, resizer_tf.LearnedResizer((224, 224))(x))
    assert models.count_flops(resizer) / 1e9 == pytest.approx(
        paper, abs=tolerance)


def test_count_flops_closed_form():
  x = tf.keras.Input((8, 6, 3))
  model = tf.keras.Model(x, tf.keras.layers.Conv2D(4, 3, padding="same")(x))
  # 2 (multiply + add) per kernel tap + the bias add.
  assert models.count_flops(model) == 2 * 8 * 6 * 27 * 4 + 8 * 6 * 4


def test_weights_are_never_downloaded_and_load_from_local_files(tmp_path):
  with pytest.raises(ValueError, match="local path"):
    models.build_vision_model("mobilenet_v2", backbone_weights="imagenet",
                              output_size=(32, 32), input_size=(32, 32))
  with pytest.raises(ValueError, match="not found"):
    backbones.build_backbone("small_cnn", (16, 16), str(tmp_path / "no.h5"))
  source = backbones.build_backbone("small_cnn", (16, 12), width=4)
  path = str(tmp_path / "w.h5")
  keras_compat.save_legacy_h5_weights(source, path)
  loaded = backbones.build_backbone("small_cnn", (20, 24), path, width=4)
  for a, b in zip(source.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  other = str(tmp_path / "other.h5")
  keras_compat.save_legacy_h5_weights(
      inception_v2.InceptionV2(input_shape=(32, 32, 3), include_top=False),
      other)
  with pytest.raises(ValueError, match="does not hold weights"):
    backbones.build_backbone("small_cnn", (16, 16), other, width=4)


def test_efficientnet_std_stored_as_variance_is_repaired(tmp_path):
  net = tf.keras.applications.EfficientNetB0(
      include_top=False, weights=None, input_shape=(32, 32, 3))
  norm = [l for l in net.layers
          if isinstance(l, tf.keras.layers.Normalization)][0]
  std = np.array([0.229, 0.224, 0.225], np.float32)
  norm.adapt_variance.assign(std)  # how the Keras ImageNet file stores it
  norm.adapt_mean.assign([0.485, 0.456, 0.406])
  path = str(tmp_path / "eff.h5")
  keras_compat.save_legacy_h5_weights(net, path)
  loaded = backbones.build_backbone("efficientnet_b0", (32, 32), path)
  norm = [l for l in loaded.layers
          if isinstance(l, tf.keras.layers.Normalization)][0]
  # ImageNet normalisation (x/255 - mean) / std, as Keras' own "imagenet".
  x = np.full([1, 2, 2, 3], 200.0, np.float32)
  expected = (200 / 255 - np.array([0.485, 0.456, 0.406])) / std
  rescaled = tf.keras.layers.Rescaling(1 / 255)(x)
  np.testing.assert_allclose(norm(rescaled).numpy()[0, 0, 0], expected,
                             rtol=1e-4)


def test_transfer_resizer_between_backbones(tmp_path):
  kw = dict(num_classes=4, input_size=(40, 36), output_size=(32, 32))
  source = models.build_vision_model("small_cnn", **kw)
  layer = models.builder.resizer_layer(source)
  for v in layer.trainable_variables:
    v.assign(tf.random.normal(v.shape, seed=4))
  path = str(tmp_path / "source.keras")
  source.save(path)
  target = models.build_vision_model("mobilenet_v2", **kw)
  backbone_before = [w.numpy() for w in target.get_layer("backbone").weights]
  models.transfer_resizer_weights(path, target)
  for a, b in zip(layer.weights,
                  models.builder.resizer_layer(target).weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  for a, b in zip(backbone_before, target.get_layer("backbone").weights):
    np.testing.assert_array_equal(a, b.numpy())
  with pytest.raises(ValueError, match="differ"):
    models.transfer_resizer_weights(
        source, models.build_vision_model("small_cnn", filters=8, **kw))
  with pytest.raises(ValueError, match="no learned resizer"):
    models.transfer_resizer_weights(
        models.build_vision_model("small_cnn", resizer="bilinear", **kw),
        target)


def test_keras_save_load_and_iqa_head(tmp_path):
  model = models.build_vision_model(
      "small_cnn", task="iqa", input_size=None, output_size=(12, 10),
      backbone_kwargs={"width": 4})
  x = tf.random.uniform([3, 17, 23, 3], 0, 255, seed=5)  # any input size
  y = model(x).numpy()
  assert y.shape == (3, 10)
  np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-5)
  path = str(tmp_path / "m.keras")
  model.save(path)
  np.testing.assert_allclose(tf.keras.models.load_model(path)(x), y,
                             rtol=1e-5, atol=1e-6)


def test_mixed_precision_outputs_float32(mixed_precision):
  del mixed_precision
  model = models.build_vision_model(
      "small_cnn", num_classes=3, input_size=(20, 18), output_size=(10, 8))
  y = model(tf.random.uniform([2, 20, 18, 3], 0, 255))
  assert y.dtype == tf.float32
  assert np.all(np.isfinite(y.numpy()))


def test_bad_arguments_are_refused():
  with pytest.raises(ValueError, match="Unknown backbone"):
    models.build_vision_model("vgg16")
  with pytest.raises(ValueError, match="at least 75"):
    models.build_vision_model("inception_v3", input_size=(64, 64),
                              output_size=(64, 48))
  with pytest.raises(ValueError, match="resizer"):
    models.build_vision_model("small_cnn", resizer="lanczos",
                              output_size=(8, 8))
  with pytest.raises(ValueError, match="task"):
    models.build_vision_model("small_cnn", task="detection")
  with pytest.raises(ValueError, match="output_size"):
    models.build_vision_model("small_cnn", output_size=(0, 8))
  with pytest.raises(ValueError, match="mode"):
    backbones.BackbonePreprocessing("caffee")
  with pytest.raises(ValueError, match="fully known"):
    models.count_flops(models.build_vision_model(
        "small_cnn", input_size=None, output_size=(8, 8)))
  assert weights_lib.check_weights_argument(None, "x") is None
