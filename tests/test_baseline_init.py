"""Initialising from the trained baseline (Talebi & Milanfar, Sec. 4).

"The classifiers are initialized from the trained baselines" (fine-tuned at
lr 0.005, Tables 4, 6): the whole baseline, backbone AND classifier head.
Before this test the head always started random.
"""
import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import models
from resizer_tf.models import backbones

import keras_compat  # tests/keras_compat.py

KW = dict(num_classes=5, input_size=(24, 20), output_size=(16, 12),
          backbone_kwargs={"width": 4})


def _baseline(tmp_path):
  tf.keras.utils.set_random_seed(3)
  baseline = models.build_vision_model("small_cnn", resizer="bilinear", **KW)
  # Non-trivial head and BN statistics, as after training.
  head = baseline.get_layer("logits")
  head.set_weights([np.random.default_rng(0).normal(size=w.shape)
                    for w in head.get_weights()])
  path = str(tmp_path / "final.keras")
  baseline.save(path)
  return baseline, path


def _assert_same(a, b):
  for x, y in zip(a.get_weights(), b.get_weights()):
    np.testing.assert_array_equal(x, y)


def test_full_baseline_file_initialises_backbone_and_head(tmp_path):
  baseline, path = _baseline(tmp_path)
  model = models.build_vision_model("small_cnn", resizer="learned",
                                    backbone_weights=path, **KW)
  _assert_same(model.get_layer("backbone"), baseline.get_layer("backbone"))
  _assert_same(model.get_layer("logits"), baseline.get_layer("logits"))
  # The named option keeps the old behaviour: the head starts random.
  tf.keras.utils.set_random_seed(7)
  only = models.build_vision_model("small_cnn", resizer="learned",
                                   backbone_weights=path,
                                   weights_mode="backbone", **KW)
  _assert_same(only.get_layer("backbone"), baseline.get_layer("backbone"))
  assert not np.allclose(only.get_layer("logits").get_weights()[0],
                         baseline.get_layer("logits").get_weights()[0])
  with pytest.raises(ValueError, match="weights_mode"):
    models.build_vision_model("small_cnn", backbone_weights=path,
                              weights_mode="head", **KW)


def test_keras_applications_full_h5_loads_the_predictions_layer(tmp_path):
  tf.keras.utils.set_random_seed(4)
  full = backbones.SmallCNN(include_top=True, classes=5, width=4,
                            input_shape=(16, 12, 3))
  predictions = full.get_layer("predictions")
  predictions.set_weights([w + 0.5 for w in predictions.get_weights()])
  path = str(tmp_path / "small_cnn_full.h5")
  keras_compat.save_legacy_h5_weights(full, path)
  model = models.build_vision_model("small_cnn", backbone_weights=path, **KW)
  _assert_same(model.get_layer("logits"), predictions)
  np.testing.assert_array_equal(
      model.get_layer("backbone").get_layer("conv0").get_weights()[0],
      full.get_layer("conv0").get_weights()[0])
  # A headless file cannot give the whole baseline: a clear error names the
  # backbone-only option, which loads it.
  notop = str(tmp_path / "small_cnn_notop.h5")
  keras_compat.save_legacy_h5_weights(
      backbones.SmallCNN(width=4, input_shape=(16, 12, 3)), notop)
  with pytest.raises(ValueError, match="weights_mode='backbone'"):
    models.build_vision_model("small_cnn", backbone_weights=notop, **KW)
  models.build_vision_model("small_cnn", backbone_weights=notop,
                            weights_mode="backbone", **KW)
  # A head for another number of classes is refused, not silently skipped.
  with pytest.raises(ValueError, match="number of classes"):
    models.build_vision_model("small_cnn", backbone_weights=path,
                              **dict(KW, num_classes=7))
