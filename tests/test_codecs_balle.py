"""Tests of the Ballé codecs (resizer_tf/codecs/balle2017.py, balle2018.py).

References: the layer tables of tfc's bls2017 / bmshj2018, a numpy float64
re-implementation of the factorized density (Ballé et al. 2018, appendix
6.1) and scipy's normal CDF for the rate, real range-coded file sizes, and
cropping the latent (what `valid_size` must emulate).
"""
import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.special
import scipy.stats
import tensorflow as tf

from resizer_tf.codecs import _entropy
from resizer_tf.codecs.balle2017 import Balle2017
from resizer_tf.codecs.balle2018 import Balle2018Factorized
from resizer_tf.codecs.balle2018 import Balle2018Hyperprior

import codec_testing  # tests/codec_testing.py

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = {
    "balle2017": (Balle2017, dict(num_filters=8)),
    "balle2018_factorized": (Balle2018Factorized,
                             dict(num_filters=8, num_latent=12)),
    "balle2018_hyperprior": (Balle2018Hyperprior,
                             dict(num_filters=8, num_latent=12)),
}
NAMES = tuple(SMALL)


_photo = codec_testing.photo


def _test_image(h=128, w=128):
  return codec_testing.test_image(h, w)


def _train(codec, steps=20, lmbda=0.01, seed=0):
  codec_testing.train_codec(codec, _photo()[:300], steps, lmbda, seed)


_TRAINED = {}


def trained(name):
  """Small codec of `name`, trained a little and prepared (cached)."""
  if name not in _TRAINED:
    cls, kwargs = SMALL[name]
    tf.keras.utils.set_random_seed(1)
    codec = cls(**kwargs)
    _train(codec)
    codec.prepare_for_coding()
    _TRAINED[name] = codec
  return _TRAINED[name]


def _coded(codec, x):
  strings = codec.compress(x)
  latent = tf.constant([x.shape[1] // 16, x.shape[2] // 16], tf.int32)
  return strings, latent


# -- Independent rate references (numpy / scipy, float64). --


def _factorized_log2_pmf(bottleneck, values):
  """log2 P(bin of `values`) under the factorized prior, numpy float64.

  Re-implements the cumulative of Ballé et al. 2018 appendix 6.1 from the
  prior's parameters: c(x) = sigmoid(f_K(...f_1(x))), f_k(x) = softplus(H_k)
  x + b_k, plus tanh(a_k) * tanh(.) for k < K.
  """
  base_dist = bottleneck.prior.base
  # pylint: disable=protected-access
  matrices = [np.logaddexp(0., m.numpy().astype(np.float64))  # softplus
              for m in base_dist._matrices]
  biases = [b.numpy().astype(np.float64) for b in base_dist._biases]
  factors = [np.tanh(f.numpy().astype(np.float64))
             for f in base_dist._factors]
  # pylint: enable=protected-access

  def logits(v):  # v: [..., C] -> [..., C]
    c = v.shape[-1]
    u = v.reshape(-1, c).T[:, None, :]  # [C, 1, N]
    for k, matrix in enumerate(matrices):
      u = matrix @ u + biases[k]
      if k < len(factors):
        u = u + factors[k] * np.tanh(u)
    return u[:, 0, :].T.reshape(v.shape)

  values = np.asarray(values, np.float64)
  upper, lower = logits(values + .5), logits(values - .5)
  # sigmoid(u) - sigmoid(l), computed on the side with the smaller tail.
  flip = (upper + lower) > 0
  upper, lower = np.where(flip, -lower, upper), np.where(flip, -upper, lower)
  p = scipy.special.expit(upper) - scipy.special.expit(lower)
  return np.log2(p)


def _normal_log2_pmf(values, scales):
  values = np.abs(np.asarray(values, np.float64))
  p = (scipy.stats.norm.sf((values - .5) / scales) -
       scipy.stats.norm.sf((values + .5) / scales))
  return np.log2(p)


def _quantize(values, offset):
  offset = 0. if offset is None else np.asarray(offset)
  return np.round(values - offset) + offset


def _reference_cropped(codec, x, valid):
  """Codes the occupied latent region of `x` (one image) as a cropped tensor.

  Returns (bits, x_hat): the -log2 likelihood of the cropped quantised
  latents and the synthesis of those latents zero-padded to full size.
  """
  y = codec.analysis(x).numpy().astype(np.float64)
  hy, wy = [-(-v // 16) for v in valid]
  y_crop = y[:, :hy, :wy]
  if isinstance(codec, Balle2018Hyperprior):
    z = codec.hyper_analysis(tf.constant(np.abs(y_crop), tf.float32)).numpy()
    z_hat = _quantize(z, codec.hyperprior.coder.quantization_offset)
    bits = -_factorized_log2_pmf(codec.hyperprior, z_hat).sum()
    indexes = codec.hyper_synthesis(tf.constant(z_hat, tf.float32)).numpy()
    indexes = np.round(np.clip(indexes[:, :hy, :wy], 0, 63))
    scales = 0.11 * (256. / 0.11) ** (indexes / 63.)
    y_hat = np.round(y_crop)
    bits -= _normal_log2_pmf(y_hat, scales).sum()
  else:
    offset = codec.entropy_bottleneck.coder.quantization_offset
    y_hat = _quantize(y_crop, offset)
    bits = -_factorized_log2_pmf(codec.entropy_bottleneck, y_hat).sum()
  padded = np.zeros_like(y)
  padded[:, :hy, :wy] = y_hat
  x_hat = codec.synthesis(tf.constant(padded, tf.float32))
  return bits, x_hat[:, :x.shape[1], :x.shape[2]].numpy()


# -- Architecture: the layer tables of tfc's bls2017 and bmshj2018. --


def _describe(sequential):
  rows = []
  for layer in sequential.layers:
    stride = layer.strides_down[0] if layer.corr else layer.strides_up[0]
    act = layer.activation
    act = ("igdn" if act.inverse else "gdn") if hasattr(act, "inverse") else (
        "relu" if act is tf.nn.relu else None)
    rows.append((layer.filters, layer.kernel_support[0], stride, layer.corr,
                 act, layer.use_bias))
  return rows


def _defaults(cls):
  return {k: v.default for k, v in inspect.signature(cls).parameters.items()
          if v.default is not inspect.Parameter.empty}


def test_architectures_match_reference_tables():
  # Defaults: bls2017 N=128; CompressAI's low-rate N=128, M=192; bmshj2018's
  # scale table (64 scales, 0.11 .. 256).
  assert _defaults(Balle2017)["num_filters"] == 128
  assert _defaults(Balle2018Factorized) == dict(
      num_filters=128, num_latent=192, offset_heuristic=True)
  assert _defaults(Balle2018Hyperprior) == dict(
      num_filters=128, num_latent=192, num_scales=64, scale_min=0.11,
      scale_max=256., offset_heuristic=True)
  n, m = 4, 6  # small N, M keep the test fast; the tables are in N, M.
  c = Balle2017(num_filters=n)
  assert _describe(c.analysis) == [
      (n, 9, 4, True, "gdn", True), (n, 5, 2, True, "gdn", True),
      (n, 5, 2, True, None, False)]
  assert _describe(c.synthesis) == [
      (n, 5, 2, False, "igdn", True), (n, 5, 2, False, "igdn", True),
      (3, 9, 4, False, None, True)]
  f = Balle2018Factorized(num_filters=n, num_latent=m)
  h = Balle2018Hyperprior(num_filters=n, num_latent=m)
  for codec in (f, h):
    assert _describe(codec.analysis) == [(n, 5, 2, True, "gdn", True)] * 3 + [
        (m, 5, 2, True, None, True)]
    assert _describe(codec.synthesis) == [
        (n, 5, 2, False, "igdn", True)] * 3 + [(3, 5, 2, False, None, True)]
  assert f.entropy_bottleneck.prior.batch_shape == (m,)
  assert h.hyperprior.prior.batch_shape == (n,)
  assert _describe(h.hyper_analysis) == [
      (n, 3, 1, True, "relu", True), (n, 5, 2, True, "relu", True),
      (n, 5, 2, True, None, False)]
  assert _describe(h.hyper_synthesis) == [
      (n, 5, 2, False, "relu", True), (n, 5, 2, False, "relu", True),
      (m, 3, 1, False, None, True)]
  scales = h.conditional.scale(tf.range(64)).numpy()
  np.testing.assert_allclose(scales, np.geomspace(0.11, 256., 64), rtol=1e-5)
  assert (Balle2017.codec_id, Balle2018Factorized.codec_id,
          Balle2018Hyperprior.codec_id) == (1, 2, 3)
  assert (Balle2017.codec_name, Balle2018Factorized.codec_name,
          Balle2018Hyperprior.codec_name) == NAMES
  assert c.stride == f.stride == h.stride == 16
  # 16 for every codec: y is coded at the positions training charges.
  assert h.size_multiple == c.size_multiple == f.size_multiple == 16


@pytest.mark.parametrize("name", NAMES)
def test_latent_shapes_and_variable_split(name):
  codec = SMALL[name][0](**SMALL[name][1])
  x = tf.zeros([2, 96, 80, 3])  # sizes not multiples of 64: cropping path
  y = codec.analysis(x)
  assert y.shape == (2, 6, 5, codec.num_latent)
  x_hat, bits = codec(x, training=True)
  assert x_hat.shape == x.shape and bits.shape == (2,)
  assert x_hat.dtype == bits.dtype == tf.float32
  def ids(variables):
    return {id(v) for v in variables}
  prior, transform = codec.entropy_model_variables, codec.transform_variables
  assert prior and transform and not ids(prior) & ids(transform)
  assert ids(prior) | ids(transform) == ids(codec.trainable_variables)
  expected = (codec.hyperprior if name.endswith("hyperprior")
              else codec.entropy_bottleneck).prior.trainable_variables
  assert ids(prior) == ids(expected)
  # Every variable gets a gradient from the rate-distortion loss.
  with tf.GradientTape() as tape:
    x_hat, bits = codec(tf.random.uniform([1, 64, 64, 3]), training=True)
    loss = tf.reduce_sum(bits) + tf.reduce_sum(tf.square(x_hat))
  grads = tape.gradient(loss, codec.trainable_variables)
  assert all(g is not None for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_decompress_inverts_compress_exactly(name):
  codec = trained(name)
  x = _test_image(128, 64)
  strings, latent = _coded(codec, x)
  assert len(strings) == codec.num_strings
  assert all(s.shape == () and s.dtype == tf.string for s in strings)
  x_dec = codec.decompress(strings, latent).numpy()
  x_hat = codec(x, training=False)[0].numpy()
  assert x_dec.shape == (1, 128, 64, 3)
  np.testing.assert_array_equal(x_dec, x_hat)
  # Noisy (training) reconstructions differ: the quantised path is distinct.
  assert not np.array_equal(codec(x, training=True)[0].numpy(), x_hat)


@pytest.mark.parametrize("name", ["balle2017", "balle2018_factorized"])
def test_rate_estimate_matches_file_size(name):
  codec = trained(name)
  x = tf.constant(_photo()[256:, 128:384][None])  # a 256x256 crop
  bits = float(codec(x, training=False)[1][0])
  strings, _ = _coded(codec, x)
  file_bits = 8 * sum(len(s.numpy()) for s in strings)
  gap = (file_bits - bits) / file_bits
  print(f"{name}: estimate {bits:.1f} bits, file {file_bits} bits, "
        f"gap {100 * gap:+.2f}%")
  assert abs(gap) < 0.03


def test_gaussian_conditional_codes_at_its_estimate():
  """y ~ N(0, s_i), s_i from the scale table: the model is well specified.

  (The hyperprior codec itself needs long training before its scales fit y:
  at initialisation every scale index is ~0, i.e. s = 0.11, and symbols the
  model gives p < 2^-12 cost the range coder far less than -log2 p.)
  """
  rng = np.random.default_rng(0)
  layer = _entropy.GaussianConditional()
  layer.prepare_for_coding()
  indexes = rng.uniform(8, 63, size=(1, 32, 32, 16)).astype(np.float32)
  scales = 0.11 * (256. / 0.11) ** (np.round(indexes) / 63.)
  y = (rng.standard_normal(indexes.shape) * scales).astype(np.float32)
  y_hat, bits = layer(y, indexes, training=False)
  np.testing.assert_array_equal(y_hat, np.round(y))
  reference = -_normal_log2_pmf(np.round(y), scales).sum()
  np.testing.assert_allclose(bits[0], reference, rtol=1e-4)
  strings = layer.compress(y, indexes)
  file_bits = 8 * len(strings[0].numpy())
  gap = (file_bits - reference) / file_bits
  print(f"gaussian conditional: estimate {reference:.1f} bits, file "
        f"{file_bits} bits, gap {100 * gap:+.2f}%")
  assert abs(file_bits - reference) < 0.01 * file_bits
  np.testing.assert_array_equal(layer.decompress(strings, indexes),
                                np.round(y))


@pytest.mark.parametrize("name", NAMES)
def test_bits_and_masking_match_cropped_latent_reference(name):
  codec = trained(name)
  x = tf.concat([_test_image(128, 128), _test_image(128, 128)[:, ::-1]], 0)
  valid = np.array([[40, 100], [128, 64]], np.int32)
  x_hat, bits = codec(x, training=False, valid_size=valid)
  x_full, bits_full = codec(x, training=False)
  for i in range(2):
    ref_bits, ref_x = _reference_cropped(codec, x[i:i + 1], valid[i])
    np.testing.assert_allclose(bits[i], ref_bits, rtol=1e-4)
    np.testing.assert_allclose(x_hat[i:i + 1], ref_x, atol=1e-5)
    full_bits, full_x = _reference_cropped(codec, x[i:i + 1], (128, 128))
    np.testing.assert_allclose(bits_full[i], full_bits, rtol=1e-4)
    np.testing.assert_allclose(x_full[i:i + 1], full_x, atol=1e-5)
  # Masking changed the result (the references are not trivially equal).
  assert np.all(bits.numpy() < 0.9 * bits_full.numpy())
  assert np.abs(x_hat.numpy() - x_full.numpy()).max() > 1e-2


_SUBPROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
import resizer_tf.codecs.balle2017, resizer_tf.codecs.balle2018

out = {}
x = tf.constant(np.load(sys.argv[1]))
for path in sys.argv[2:]:
  codec = tf.keras.models.load_model(path)
  out[path] = [s.numpy().hex() for s in codec.compress(x)]
print("RESULT" + json.dumps(out))
"""


def test_keras_file_round_trip_and_cross_process_determinism(tmp_path):
  x = _test_image(128, 128)
  np.save(tmp_path / "x.npy", x.numpy())
  expected, paths = {}, []
  for name in NAMES:
    codec = trained(name)
    path = str(tmp_path / f"{name}.keras")
    codec.save(path)
    paths.append(path)
    expected[path] = [s.numpy().hex() for s in codec.compress(x)]
    # In-process: reloaded model codes to the same bytes and decodes them.
    loaded = tf.keras.models.load_model(path)
    assert type(loaded) is type(codec)
    strings, latent = _coded(loaded, x)
    assert [s.numpy().hex() for s in strings] == expected[path]
    np.testing.assert_array_equal(loaded.decompress(strings, latent),
                                  codec.decompress(strings, latent))
  env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3",
             CUDA_VISIBLE_DEVICES="")
  result = subprocess.run(
      [sys.executable, "-c", _SUBPROCESS, str(tmp_path / "x.npy"), *paths],
      capture_output=True, text=True, env=env, timeout=300, check=True)
  line = [l for l in result.stdout.splitlines() if l.startswith("RESULT")][0]
  assert json.loads(line[len("RESULT"):]) == expected


@tf.keras.utils.register_keras_serializable(package="resizer_tf_tests")
class _Wrapper(tf.keras.Model):
  """A model holding a codec, as ResizeCompress does."""

  def __init__(self, codec, **kwargs):
    super().__init__(**kwargs)
    self.codec = codec

  def call(self, x):
    return self.codec(x)[0]

  def get_config(self):
    return {"codec": tf.keras.utils.serialize_keras_object(self.codec)}

  @classmethod
  def from_config(cls, config):
    return cls(tf.keras.utils.deserialize_keras_object(config["codec"]))


def test_keras_file_of_a_model_holding_a_codec(tmp_path):
  tf.keras.utils.set_random_seed(3)
  codec = Balle2017(num_filters=8)
  for v in codec.trainable_variables:  # far from any fresh initialisation
    v.assign(v + tf.random.normal(v.shape, stddev=0.1))
  codec.prepare_for_coding()
  x = _test_image(64, 64)
  path = str(tmp_path / "wrapper.keras")
  _Wrapper(codec).save(path)
  loaded = tf.keras.models.load_model(path).codec
  assert len(loaded.weights) == len(codec.weights)
  for a, b in zip(codec.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
  assert ([s.numpy() for s in loaded.compress(x)] ==
          [s.numpy() for s in codec.compress(x)])


# Balle2018Factorized shares every coding path with Balle2017.
@pytest.mark.parametrize("name", ["balle2017", "balle2018_hyperprior"])
def test_savedmodel_round_trip_gives_identical_bytes(name, tmp_path):
  codec = trained(name)
  x = _test_image(64, 128)
  strings, latent = _coded(codec, x)
  tf.saved_model.save(codec_testing.Exporter(codec), str(tmp_path))
  loaded = tf.saved_model.load(str(tmp_path))
  loaded_strings = loaded.compress(x)
  assert [s.numpy() for s in loaded_strings] == [s.numpy() for s in strings]
  np.testing.assert_array_equal(loaded.decompress(loaded_strings, latent),
                                codec(x, training=False)[0])


_CONFIGS = {  # non-default values everywhere, so a dropped key shows
    "balle2017": dict(num_filters=8, offset_heuristic=False),
    "balle2018_factorized": dict(num_filters=8, num_latent=12,
                                 offset_heuristic=False),
    "balle2018_hyperprior": dict(num_filters=8, num_latent=12, num_scales=32,
                                 scale_min=0.2, scale_max=100.,
                                 offset_heuristic=False),
}


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
  cls = SMALL[name][0]
  kwargs = _CONFIGS[name]
  codec = cls(**kwargs, name="my_codec")
  config = codec.get_config()
  assert {k: config[k] for k in kwargs} == kwargs
  assert config["name"] == "my_codec"
  serialized = tf.keras.utils.serialize_keras_object(codec)
  assert serialized["registered_name"] == f"resizer_tf>{cls.__name__}"
  restored = tf.keras.utils.deserialize_keras_object(serialized)
  assert type(restored) is cls and restored.get_config() == config
  assert len(restored.weights) == len(codec.weights)
  if name.endswith("hyperprior"):
    assert restored.conditional.num_scales == 32
    assert not restored.hyperprior.offset_heuristic
    layers = (restored.hyperprior, restored.conditional)
  else:
    assert not restored.entropy_bottleneck.offset_heuristic
    layers = (restored.entropy_bottleneck,)
  for layer in layers:
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_mixed_precision_rates_are_float32(mixed_precision):
  del mixed_precision
  tf.keras.utils.set_random_seed(2)
  codec = Balle2018Hyperprior(num_filters=8, num_latent=12)
  x = _test_image(64, 64)
  assert codec.analysis.layers[0].compute_dtype == "float16"
  x_hat, bits = codec(x, training=True)
  assert x_hat.dtype == bits.dtype == tf.float32
  assert codec.hyperprior.prior.dtype == tf.float32
  codec.prepare_for_coding()
  strings, latent = _coded(codec, x)
  x_hat, bits = codec(x, training=False)
  assert np.isfinite(bits.numpy()).all()
  np.testing.assert_array_equal(codec.decompress(strings, latent), x_hat)


def test_bad_inputs_raise_clear_errors():
  codec = trained("balle2018_hyperprior")
  x = _test_image(128, 128)
  with pytest.raises(ValueError, match="shape"):
    codec.compress(x[0])
  with pytest.raises(ValueError, match="shape"):
    codec.compress(tf.concat([x, x[..., :1]], -1))
  with pytest.raises(ValueError, match="multiple of 16"):
    codec.compress(x[:, :72])
  with pytest.raises(ValueError, match="batch 1"):
    codec.compress(tf.concat([x, x], 0))
  with pytest.raises(ValueError, match="float"):
    codec.compress(tf.cast(x * 255, tf.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
    codec.compress(x * np.nan)
  with pytest.raises(ValueError, match="channels"):
    codec(x[..., :1])
  with pytest.raises(ValueError, match="integer"):
    codec(x, valid_size=[[10., 10.]])
  with pytest.raises(ValueError, match="batch, 2"):
    codec(x, valid_size=[10, 10])
  strings = codec.compress(x)
  with pytest.raises(ValueError, match="list of 2"):
    codec.decompress(strings[:1], [8, 8])
  with pytest.raises(ValueError, match="latent_size"):
    codec.decompress(strings, [[8, 8]])
  # Shapes only known at run time: graph-mode assertion with a clear message.
  compress = tf.function(codec.compress, input_signature=[
      tf.TensorSpec([None, None, None, 3], tf.float32)])
  with pytest.raises(tf.errors.InvalidArgumentError, match="multiples of 16"):
    compress(x[:, :88])
  # `latent_size` larger than the image's latent is refused.
  with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds"):
    codec.compress(x, latent_size=[9, 8])
  # Coding before `prepare_for_coding` names the missing step.
  fresh = Balle2017(num_filters=8)
  with pytest.raises(RuntimeError, match="prepare_for_coding"):
    fresh.compress(x)
  # A corrupt string does not decode silently (tfc's sanity check).
  with pytest.raises(tf.errors.InvalidArgumentError):
    codec.decompress([strings[0][:-4], strings[1]], [8, 8])


def test_preparing_many_bottlenecks_warns_of_no_retracing():
  """Each factorized bottleneck traces its table estimate once; loading
  several models (the demo loads eight) must not look like a retracing
  loop to TF's frequent-tracing detector (it warns at the 5th trace)."""
  import logging  # pylint: disable=g-import-not-at-top
  records = []
  handler = logging.Handler()
  handler.emit = records.append
  tf.get_logger().addHandler(handler)
  try:
    for _ in range(5):
      layer = _entropy.FactorizedBottleneck(2)
      layer(tf.zeros([1, 2, 2, 2]))
      layer.prepare_for_coding()
  finally:
    tf.get_logger().removeHandler(handler)
  assert not [r for r in records if "retracing" in r.getMessage()]
