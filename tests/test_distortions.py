"""Table 9 distortions (Talebi & Milanfar Sec. 4.3): noise sigma 0.1, 4x
bicubic down-scaling, JPEG quality 10."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from resizer_tf import data
from resizer_tf.data import distortions


def _image():
  rng = np.random.default_rng(0)
  base = np.linspace(0, 255, 32 * 32).reshape(32, 32, 1)
  return np.clip(base + rng.normal(0, 10, (32, 32, 3)), 0, 255).astype(
      np.uint8)


def test_specs_parse_with_paper_defaults():
  assert distortions.parse("noise") == ("noise", 0.1)
  assert distortions.parse("downscale") == ("downscale", 4)
  assert distortions.parse("jpeg") == ("jpeg", 10)
  assert distortions.parse("jpeg:50") == ("jpeg", 50)
  assert distortions.parse("none") is None and distortions.parse(None) is None
  for bad in ("blur", "jpeg:x", "jpeg:101", "downscale:0"):
    with pytest.raises(ValueError):
      distortions.parse(bad)
  assert distortions.output_size("downscale", (28, 28)) == (7, 7)
  assert distortions.output_size("noise", (28, 28)) == (28, 28)


def test_noise_has_sigma_0_1_of_the_range_and_is_fixed_per_example():
  flat = np.full([64, 64, 3], 128, np.uint8)
  a = distortions.distort(flat, "noise", seed=0, index=5).numpy()
  b = distortions.distort(flat, "noise", seed=0, index=5).numpy()
  c = distortions.distort(flat, "noise", seed=0, index=6).numpy()
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  # sigma 0.1 on [0, 1] images = 25.5 on [0, 255] (128 +- 5 sigma: no clip).
  assert abs((a - 128).std() - 25.5) < 1.0
  assert abs((a - 128).mean()) < 1.0


def test_downscale_is_antialiased_bicubic_by_4():
  image = _image()
  out = distortions.distort(image, "downscale").numpy()
  assert out.shape == (8, 8, 3)
  expected = tf.image.resize(tf.cast(image, tf.float32), (8, 8),
                             method="bicubic", antialias=True)
  np.testing.assert_allclose(out, np.clip(expected, 0, 255), atol=1e-4)
  # Antialiased: a flat region stays flat and the mean is preserved.
  assert abs(out.mean() - image.mean()) < 2.0


def test_jpeg_quality_10_equals_libjpeg_through_pillow_closely():
  image = _image()
  out = distortions.distort(image, "jpeg").numpy()
  assert out.shape == image.shape
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=10)
  pil = np.asarray(Image.open(buf)).astype(np.float32)
  # Same quantisation tables; decoders may differ by an upsampling detail.
  assert np.abs(out - pil).mean() < 2.0
  err10 = np.abs(out - image).mean()
  err90 = np.abs(distortions.distort(image, "jpeg:90").numpy() - image).mean()
  assert err10 > err90


def test_fashion_mnist_pipeline_applies_the_distortion():
  ds, _ = data.fashion_mnist_dataset("test", (7, 7), 4, subset=8,
                                     distortion="downscale")
  x, _ = next(iter(ds))
  assert x.shape == (4, 7, 7, 3)
  clean, _ = data.fashion_mnist_dataset("test", (28, 28), 4, subset=8)
  noisy, _ = data.fashion_mnist_dataset("test", (28, 28), 4, subset=8,
                                        distortion="noise")
  a, b = next(iter(clean))[0].numpy(), next(iter(noisy))[0].numpy()
  assert 15 < np.abs(a - b).mean() < 30
  again = next(iter(data.fashion_mnist_dataset(
      "test", (28, 28), 4, subset=8, distortion="noise")[0]))[0].numpy()
  np.testing.assert_array_equal(b, again)
