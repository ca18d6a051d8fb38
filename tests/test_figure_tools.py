"""The Fig. 4-6 tool (Talebi & Milanfar) and the Fig. 5 M-mosaic tool
(Chen et al.)."""
import numpy as np
import tensorflow as tf

from experiments import m_mosaic
from experiments import resizer_figure
from resizer_tf import models
from resizer_tf import resize_compress
from resizer_tf import serving


def test_resizer_figure_panels(tmp_path):
  tf.keras.utils.set_random_seed(0)
  model = models.build_vision_model(
      "small_cnn", num_classes=3, input_size=(24, 20), output_size=(16, 12),
      backbone_kwargs={"width": 4})
  path = str(tmp_path / "final.keras")
  model.save(path)
  loaded = resizer_figure.load(str(tmp_path))  # model_dir -> final.keras
  image = np.random.default_rng(0).integers(0, 256, (30, 26, 3), np.uint8)
  parts = resizer_figure.panels(loaded, image)
  assert [p.shape for p in parts] == [(30, 26, 3)] + [(16, 12, 3)] * 4
  x = tf.image.resize(tf.cast(image, tf.float32)[None], (24, 20))
  np.testing.assert_array_equal(
      parts[2], np.clip(np.round(tf.image.resize(x, (16, 12), "bicubic")[0]),
                        0, 255).astype(np.uint8))
  learned = models.resized_images_model(model)(x)[0].numpy()
  np.testing.assert_array_equal(
      parts[3], np.clip(np.round(learned), 0, 255).astype(np.uint8))
  assert resizer_figure.mosaic(parts, gap=4).shape == (30, 26 + 4 * 12 + 16,
                                                       3)


def test_m_mosaic_orders_patches_by_coded_m():
  tf.keras.utils.set_random_seed(1)
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=8))
  model(tf.zeros([1, 32, 32, 3]))
  compressor = serving.Compressor.from_model(model)
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (64, 96, 3), np.uint8)
  image[:, :32] = 128  # flat patches get another M than noisy ones
  patches = m_mosaic.cut_patches(image, 32)
  assert [(i, j) for i, j, _ in patches] == [
      (0, 0), (0, 32), (0, 64), (32, 0), (32, 32), (32, 64)]
  scales = m_mosaic.predict_scales(compressor, [p for _, _, p in patches])
  assert scales.shape == (6, 2)
  assert np.all((scales >= model.min_scale) & (scales <= model.max_scale))
  # As coded: multiples of 1/4096, equal to the model's own coding scale.
  np.testing.assert_allclose(scales * 4096, np.round(scales * 4096))
  canvas = m_mosaic.mosaic([p for _, _, p in patches], columns=4)
  assert canvas.shape == (2 * 32 + 2, 4 * 32 + 3 * 2, 3)
