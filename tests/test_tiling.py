"""Tiled coding of large images (issue 11, "Large images"; tiling.py).

Receptive fields are checked against the layers' impulse responses; the
tiled path against the whole-image path on the same model (tiles forced by
a small `tile_pixels` and `tile_size`, so small images and tiny models keep
it fast); `decompress(compress(x)) == reconstruct(x)` bit-exactly in tiled
mode, eager and traced.

Tolerance of tiled against whole (float rounding only; convolutions of a
tile may sum in another order than on the whole image):
  * the latent y: max |difference| <= 1e-5 * max |y|;
  * the decoded uint8 image: every pixel within 1 level, >= 99.9 % equal;
  * the rate estimate: relative 1e-5; M before quantisation: relative 1e-5.
"""
import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import bitstream
from resizer_tf import images
from resizer_tf import resize_compress
from resizer_tf import tiling
from resizer_tf.codecs import balle2017
from resizer_tf.codecs.tfc_codec import signal_conv
from resizer_tf.layers import filters
from resizer_tf.layers import resize_param_net

TINY = {"balle2017": dict(num_filters=8),
        "balle2018_hyperprior": dict(num_filters=8, num_latent=8),
        "cheng2020": dict(num_filters=8, entropy_hidden=16)}
#: 257 x 333: not a multiple of the 64-pixel tiles nor of the stride 16;
#: the decoder's last tile row is 1 pixel tall.
H, W = 257, 333
TILES = dict(tile_pixels=1000, tile_size=64)


def photo(h=H, w=W):
  return images.builtin_photo("astronaut")[:h, 60:60 + w]


def tiny_model(codec="balle2017", **kwargs):
  tf.keras.utils.set_random_seed(3)
  model = resize_compress.ResizeCompress(
      codec, codec_kwargs=TINY[codec], **TILES, **kwargs)
  model(tf.zeros([1, 64, 64, 3]))
  model.codec.prepare_for_coding()
  return model


def whole(model):
  """The same model on the whole-image path."""
  class Whole:
    def __getattr__(self, name):
      attr = getattr(model, name)
      if not callable(attr):
        return attr

      def run(*args, **kwargs):
        model.tile_pixels = None
        try:
          return attr(*args, **kwargs)
        finally:
          model.tile_pixels = TILES["tile_pixels"]
      return run
  return Whole()


def assert_close_images(tiled, expected):
  diff = np.abs(np.asarray(tiled, int) - np.asarray(expected, int))
  assert diff.max() <= 1
  assert (diff == 0).mean() >= 0.999


# -- receptive fields ----------------------------------------------------------


def _dependencies(layer, n, channels=1):
  """{output index: (min, max) input index} from impulse responses."""
  base = layer(tf.zeros([1, 1, n, channels])).numpy()[0, 0, :, 0]
  deps = {}
  for i in range(n):
    x = np.zeros([1, 1, n, channels], np.float32)
    x[0, 0, i] = 1.
    out = layer(tf.constant(x)).numpy()[0, 0, :, 0]
    for o in np.nonzero(out != base)[0]:
      lo, hi = deps.get(int(o), (i, i))
      deps[int(o)] = (min(lo, i), max(hi, i))
  return deps


@pytest.mark.parametrize("kernel,stride,down", [
    (9, 4, True), (5, 2, True), (3, 2, True), (3, 1, True), (1, 1, True),
    (9, 4, False), (5, 2, False), (3, 2, False)])
def test_signal_conv_receptive_fields_match_impulse_responses(kernel, stride,
                                                              down):
  tf.keras.utils.set_random_seed(0)
  layer = signal_conv(1, kernel, stride, down)
  n = 24
  deps = _dependencies(layer, n)
  field = tiling.Conv(kernel, down=stride if down else 1,
                      up=1 if down else stride)
  out = n // stride if down else n * stride
  for o in range(out):
    lo, hi = field.need(o, o)
    # Only samples inside the axis exist; outside is the zero padding.
    assert deps[o] == (max(lo, 0), min(hi, n - 1)), (o, deps[o], (lo, hi))


def test_keras_layers_receptive_fields_match_impulse_responses():
  tf.keras.utils.set_random_seed(0)
  n = 20
  conv = tf.keras.layers.Conv2D(1, 3, padding="same")
  pool = tf.keras.layers.MaxPool2D(2, 2, padding="same")
  d2s = lambda x: tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4]), 2)[:, :1]
  for layer, field, out in ((conv, tiling.Conv(3), n),
                            (pool, tiling.MaxPool(), n // 2),
                            (d2s, tiling.DepthToSpace(), 2 * n)):
    # Max pooling of zeros and a positive impulse: shift inputs by 1.
    deps = _dependencies(
        (lambda x, layer=layer: layer(x + 1.)) if layer is pool else layer, n)
    for o in range(out):
      lo, hi = field.need(o, o)
      assert deps[o] == (max(lo, 0), min(hi, n - 1)), (layer, o)


def test_documented_halos():
  """The halos tiling.py's docstring lists are what the fields give."""
  assert tiling.describe() == {
      "balle2017 g_a": (32, 13), "balle2017 g_s": (1, 2),
      "balle2018 g_a": (32, 15), "balle2018 g_s": (1, 2),
      "resize_param_net": (16, 14), "filter": (3, 3)}
  # Ballé17: latent a reads pixels [16 a - 28, 16 a + 28].
  assert balle2017.ANALYSIS_FIELD.need(10, 10) == (160 - 28, 160 + 28)
  assert tiling.same_halo(filters.RECEPTIVE_FIELD) == (3, 3)
  assert tiling.down_halo(resize_param_net.receptive_field(
      (16, 32, 64), 1), 8) == (16, 14)


# -- tiled == whole -------------------------------------------------------------


@pytest.mark.parametrize("codec,resize", [
    ("balle2017", True), ("balle2017", False),
    ("balle2018_hyperprior", True)])
def test_tiled_path_matches_whole_image_path(codec, resize):
  model = tiny_model(codec, resize=resize, scale_estimator="global",
                     initial_scale=0.61803)
  image = photo()
  assert bool(model.uses_tiles(H, W))
  # The latent y, before quantisation.
  scale_q, latent, y = model._tiled_encoder_side(tf.constant(image))
  x_d, scale_q_whole, latent_whole = model._encoder_side(tf.constant(image))
  np.testing.assert_array_equal(scale_q, scale_q_whole)
  np.testing.assert_array_equal(latent, latent_whole)
  y_whole = model.codec.analysis_transform(x_d)[:, :latent[0], :latent[1]]
  assert y.shape == y_whole.shape
  scale = float(tf.reduce_max(tf.abs(y_whole)))
  np.testing.assert_allclose(y, y_whole, rtol=0, atol=1e-5 * scale)
  # The decoder side on the same y_hat.
  y_hat, _ = model.codec.reconstruct_latent(y_whole)
  tiled = model._tiled_decoder_side(y_hat, H, W, scale_q)
  expected = model._decoder_side(model.codec.synthesis_transform(y_hat), H,
                                 W, scale_q)
  assert_close_images(tiled, expected)
  # End to end.
  out, bits, m = model.reconstruct(image)
  out_whole, bits_whole, m_whole = whole(model).reconstruct(image)
  assert out.shape == image.shape
  assert_close_images(out, out_whole)
  np.testing.assert_allclose(bits, bits_whole, rtol=1e-5)
  np.testing.assert_array_equal(m, m_whole)
  if resize:
    assert m.numpy().tolist() == [2531 / 4096] * 2  # M < 1


@pytest.mark.parametrize("kwargs", [{}, dict(separate_scales=True)])
def test_tiled_resize_param_net_matches_whole(kwargs):
  """M from tiled ResizeParamNet features (a tile of features is 8 x 8 at
  tile_size 64, so 33 x 42 features make 5 x 6 tiles)."""
  model = tiny_model(scale_estimator="network", **kwargs)
  image = photo()
  x = tf.cast(image, tf.float32)[None] / 255.
  expected = model.estimate_scale(x, training=False)[0]
  m = model._tiled_estimate_scale(tf.constant(image))
  np.testing.assert_allclose(m, expected, rtol=1e-5)
  assert float(tf.reduce_min(expected)) > 0


# -- determinism: decompress(compress(x)) == reconstruct(x) ---------------------


@pytest.mark.parametrize("codec,resize", [
    ("balle2017", True), ("balle2017", False),
    ("balle2018_hyperprior", True)])
def test_tiled_decoding_equals_reconstruction_bit_exactly(codec, resize):
  model = tiny_model(codec, resize=resize, scale_estimator="network",
                     min_scale=0.5, max_scale=0.8)
  image = photo()
  expected, _, scale = model.reconstruct(image)
  file, file_scale = model.compress(image)
  np.testing.assert_array_equal(model.decompress(file), expected)
  np.testing.assert_array_equal(file_scale, scale)
  header = bitstream.read_header(file.numpy())
  assert (header["height"], header["width"]) == (H, W)
  # Traced with a dynamic size, as the SavedModel runs it (a tf.cond picks
  # the tiled path): the same bytes and the same image.
  compress = tf.function(model.compress, input_signature=[
      tf.TensorSpec([None, None, 3], tf.uint8)])
  decompress = tf.function(model.decompress, input_signature=[
      tf.TensorSpec([], tf.string)])
  traced_file, _ = compress(image)
  assert traced_file.numpy() == file.numpy()
  np.testing.assert_array_equal(decompress(file), expected)


def test_tiled_cheng2020_round_trip():
  """Cheng20 (the largest receptive fields: a 128-pixel aligned halo)."""
  model = tiny_model("cheng2020", scale_estimator="global",
                     initial_scale=0.61803)
  image = photo(150, 181)
  expected, bits, _ = model.reconstruct(image)
  out_whole, bits_whole, _ = whole(model).reconstruct(image)
  assert_close_images(expected, out_whole)
  np.testing.assert_allclose(bits, bits_whole, rtol=1e-5)
  file, _ = model.compress(image)
  np.testing.assert_array_equal(model.decompress(file), expected)


def test_small_images_keep_the_whole_image_path():
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=TINY["balle2017"])
  assert model.tile_pixels == resize_compress.DEFAULT_TILE_PIXELS == 1 << 22
  assert not bool(model.uses_tiles(2048, 2048))
  assert bool(model.uses_tiles(2048, 2049))
  config = model.get_config()
  assert config["tile_pixels"] == 1 << 22 and config["tile_size"] == 1024
  rebuilt = resize_compress.ResizeCompress.from_config(
      dict(config, tile_pixels=None, tile_size=128))
  assert rebuilt.tile_pixels is None and rebuilt.tile_size == 128
  with pytest.raises(ValueError, match="tile_size"):
    resize_compress.ResizeCompress("balle2017", tile_size=100)
  with pytest.raises(ValueError, match="tile_pixels"):
    resize_compress.ResizeCompress("balle2017", tile_pixels=0)


def test_size_limits_pass_50_mp_and_refuse_beyond():
  assert 8660 * 5774 <= bitstream.MAX_PIXELS
  model = tiny_model(scale_estimator="global", initial_scale=0.5)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="32768 pixels per side"):
    model.compress(np.zeros([1, bitstream.MAX_DIMENSION + 1, 3], np.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="more than the format's limit of 67108864"):
    model.compress(tf.zeros([8192, 8193, 3], tf.uint8))
