"""Tests of the coding-time kernel cache (resizer_tf/codecs/tfc_codec.py).

`prepare_for_coding()` evaluates every derived (RDFT) SignalConv2D kernel
once; the coding paths read those values instead of running the inverse
FFT per call (issue 10). References: a twin codec with the same weights
coding without a cache (tfc's own per-call kernels), `layer.kernel` itself,
and the ops of the traced coding graphs.
"""
import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import bitstream
from resizer_tf import codecs
from resizer_tf import resize_compress
from resizer_tf import weights_file
from resizer_tf.codecs import rdft_kernel
from resizer_tf.codecs import tfc_codec

SMALL = {
    "balle2017": dict(num_filters=8),
    "balle2018_factorized": dict(num_filters=8, num_latent=12),
    "balle2018_hyperprior": dict(num_filters=8, num_latent=12),
    "cheng2020": dict(num_filters=8, num_mixtures=2, entropy_hidden=16),
}
NAMES = tuple(SMALL)


def _image(h=64, w=64, seed=0):
  rng = np.random.default_rng(seed)
  smooth = rng.uniform(size=(1, h // 8, w // 8, 3)).astype(np.float32)
  return tf.image.resize(smooth, [h, w], "bicubic").numpy().clip(0, 1)


_TWINS = {}


def _shared_twins(name):
  """`_twins(name)`, made once per test session; for tests that change
  neither codec."""
  if name not in _TWINS:
    _TWINS[name] = _twins(name)
  return _TWINS[name]


def _twins(name):
  """(cached, uncached): two codecs with identical weights (perturbed away
  from the initialisation), prepared with and without the kernel cache."""
  tf.keras.utils.set_random_seed(4)
  cached = codecs.make_codec(name, **SMALL[name])
  for v in cached.trainable_variables:
    v.assign(v + tf.random.normal(v.shape, stddev=0.05))
  uncached = codecs.make_codec(name, **SMALL[name])
  uncached.set_weights(cached.get_weights())
  cached.prepare_for_coding()
  uncached.prepare_for_coding(cache_kernels=False)
  return cached, uncached


def _bytes(strings):
  return [s.numpy() for s in strings]


def _nudge_kernel(codec):
  """Changes one kernel parameter, as a training step would."""
  layer = codec.cached_kernel_layers[0]
  v = layer.kernel_source_variables()[0]
  v.assign(v + 0.01)


@pytest.mark.parametrize("name", NAMES)
def test_cached_coding_is_byte_identical_to_per_call_kernels(name):
  cached, uncached = _shared_twins(name)
  assert cached.cached_kernel_layers and not uncached.cached_kernel_layers
  x = _image()
  latent = tf.constant([4, 4], tf.int32)
  strings = cached.compress(x)
  assert _bytes(strings) == _bytes(uncached.compress(x))
  np.testing.assert_array_equal(cached.decompress(strings, latent),
                                uncached.decompress(strings, latent))


@pytest.mark.parametrize("name", NAMES)
def test_cached_kernels_equal_layer_kernels(name):
  cached, _ = _shared_twins(name)
  layers = cached.cached_kernel_layers
  # Every RDFT-parameterised SignalConv2D of the transforms is cached.
  convs = [l for m in cached._transform_layers()  # pylint: disable=protected-access
           for l in [m, *m.submodules]
           if isinstance(l, tfc_codec.SignalConv2D)]
  assert {id(l) for l in layers} == {
      id(l) for l in convs if not isinstance(l.kernel_parameter, tf.Variable)}
  for layer in layers:
    np.testing.assert_array_equal(layer.coding_kernel.numpy(),
                                  layer.kernel.numpy(), err_msg=layer.name)
  # Inside the coding block the layers hand out the cached tensors.
  with cached.coding_kernels():
    assert all(l.kernel is l.coding_kernel for l in layers)
  assert all(l.kernel is not l.coding_kernel for l in layers)


@pytest.mark.parametrize("name", ["balle2017", "balle2018_hyperprior"])
def test_traced_coding_graphs_compute_no_kernels(name):
  # The point of the cache: no kernel derivation in the coding graphs --
  # neither tfc's inverse FFT nor our matmul by the inverse-RDFT matrix (it
  # would also show that tfc's `call` stopped reading the `kernel` property).
  cached, uncached = _shared_twins(name)
  x = tf.constant(_image())
  layers = uncached._cached_conv_layers()  # pylint: disable=protected-access
  matrices = {rdft_kernel.inverse_rdft_matrix(*l.kernel_support).shape
              for l in layers}

  def derivations(codec):
    fn = tf.function(codec.compress).get_concrete_function(x)
    return [op.type for op in fn.graph.get_operations()
            if "FFT" in op.type or (
                op.type == "MatMul" and
                tuple(op.inputs[1].shape) in matrices)]
  assert not derivations(cached)
  # (compress runs the analysis side only: some of the layers.)
  assert set(derivations(uncached)) == {"MatMul"}


# Balle2018Factorized shares every coding path with Balle2017.
@pytest.mark.parametrize("name", ["balle2017", "balle2018_hyperprior",
                                  "cheng2020"])
def test_stale_kernels_are_refused_until_prepared_again(name):
  cached, uncached = _twins(name)
  x = _image()
  _nudge_kernel(cached)
  with pytest.raises(RuntimeError, match="prepare_for_coding"):
    cached.compress(x)
  with pytest.raises(RuntimeError, match="prepare_for_coding"):
    cached.decompress(_bytes(uncached.compress(x)), [4, 4])
  cached.prepare_for_coding()
  # Refreshed: codes like a codec that derives the new kernels per call.
  # (Not `set_weights`: a codec prepared twice also tracks its first,
  # replaced coder's tables, so the weight lists differ in length.)
  fresh = codecs.make_codec(name, **SMALL[name])
  for a, b in zip(cached.trainable_variables, fresh.trainable_variables):
    b.assign(a)
  fresh.prepare_for_coding(cache_kernels=False)
  assert _bytes(cached.compress(x)) == _bytes(fresh.compress(x))


def test_resize_compress_refuses_stale_kernels_and_reconstruct_matches():
  tf.keras.utils.set_random_seed(5)
  model = resize_compress.ResizeCompress(
      "balle2018_hyperprior", codec_kwargs=SMALL["balle2018_hyperprior"])
  model(tf.zeros([1, 64, 64, 3]))
  model.codec.prepare_for_coding()
  image = tf.constant(np.round(_image(80, 96, seed=2)[0] * 255).astype(
      np.uint8))
  file, _ = model.compress(image)
  np.testing.assert_array_equal(model.decompress(file),
                                model.reconstruct(image)[0])
  strings = model.codec.compress(tf.zeros([1, 64, 64, 3]))
  _nudge_kernel(model.codec)
  for code in (lambda: model.compress(image),
               lambda: model.reconstruct(image)):
    with pytest.raises(RuntimeError, match="prepare_for_coding"):
      code()
  # (The old file is refused earlier still: its header names other weights.)
  with pytest.raises(tf.errors.InvalidArgumentError, match="this model"):
    model.decompress(file)
  with pytest.raises(RuntimeError, match="prepare_for_coding"):
    model.codec.decompress(strings, [4, 4])
  # `call` (training, evaluation) reads the live kernels regardless.
  model(tf.zeros([1, 64, 64, 3]), training=False)


def _prepared_model(cache_kernels):
  tf.keras.utils.set_random_seed(6)
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=SMALL["balle2017"])
  model(tf.zeros([1, 64, 64, 3]))
  model.codec.prepare_for_coding(cache_kernels=cache_kernels)
  return model


def test_cache_is_not_a_weight():
  plain, cached = _prepared_model(False), _prepared_model(True)
  assert cached.codec.cached_kernel_layers
  assert ([(w.shape, w.dtype) for w in cached.weights] ==
          [(w.shape, w.dtype) for w in plain.weights])
  assert (bitstream.compute_model_fingerprint(cached) ==
          bitstream.compute_model_fingerprint(plain))
  arrays, cached_arrays = (weights_file.model_arrays(m)
                           for m in (plain, cached))
  assert sorted(cached_arrays) == sorted(arrays)
  for key, value in arrays.items():
    np.testing.assert_array_equal(cached_arrays[key], value)


def test_keras_load_rebuilds_the_cache(tmp_path):
  cached, _ = _shared_twins("balle2017")
  path = str(tmp_path / "codec.keras")
  cached.save(path)
  loaded = tf.keras.models.load_model(path)
  assert len(loaded.cached_kernel_layers) == len(cached.cached_kernel_layers)
  x = _image()
  assert _bytes(loaded.compress(x)) == _bytes(cached.compress(x))


def test_staleness_is_bitwise():
  """A change in the last bit, or 0 -> -0, is a change; NaN equals
  itself (it is the same weight)."""
  codec = codecs.make_codec("balle2017", **SMALL["balle2017"])
  codec.prepare_for_coding()
  v = codec.cached_kernel_layers[-1].kernel_source_variables()[0]
  flat = v.numpy().reshape(-1)

  def current_after(prepared_value, coded_value):
    for value in (prepared_value, coded_value):
      new = flat.copy()
      new[0] = value
      v.assign(new.reshape(v.shape))
      if value is prepared_value:
        codec.prepare_for_coding()
    return codec._kernel_cache.is_current()  # pylint: disable=protected-access

  one = np.float32(0.37)
  assert not current_after(one, np.nextafter(one, np.float32(1.)))
  assert not current_after(np.float32(0.), np.float32(-0.))
  assert current_after(np.float32(np.nan), np.float32(np.nan))
  assert current_after(one, np.float32(0.37))
