"""int8 weights files and bfloat16 training steps (the refine stage)."""
import os

import numpy as np
import pytest
import tensorflow as tf

import codec_testing
from resizer_tf import pretrained
from resizer_tf import weights_file
from resizer_tf.codecs import tfc_codec
from resizer_tf.training import campaign


_patches = codec_testing.random_patches


def _trained_model(resize=True, steps=3):
  tf.keras.utils.set_random_seed(1)
  model = campaign.build(campaign.RunSpec(
      "a", resize=resize, lmbda=0.01, steps=steps, num_filters=8,
      learning_rate=1e-2))
  model(tf.zeros([1, 32, 32, 3]))
  # A few large steps, so the weights are not their structured initial
  # values (e.g. GDN's identity gamma).
  model.fit(_patches(0), steps_per_epoch=steps, epochs=1, verbose=0)
  return model


def _check_int8(w, got):
  """`got` is round(w / s) * s per slice along w's longest axis, with s
  within 2^-11 of max|w| / 127 and of 11 significant bits (what makes it
  exact in float32); checked in float64, independently of the code."""
  axis = int(np.argmax(w.shape))
  w = np.moveaxis(w.astype(np.float64), axis, 0)
  got = np.moveaxis(got.astype(np.float64), axis, 0)
  for row, out in zip(w.reshape(w.shape[0], -1), got.reshape(w.shape[0], -1)):
    peak = np.abs(row).max()
    if peak == 0:
      np.testing.assert_array_equal(out, 0)
      continue
    # The scale is the smallest nonzero step between decoded values or,
    # recovered exactly, |out| / |code| for the slice's largest entry.
    scale = np.abs(out).max() / 127
    assert abs(scale / (peak / 127) - 1) <= 2.**-11
    _, exponent = np.frexp(scale)
    assert float(np.ldexp(scale, 11 - exponent)).is_integer()
    np.testing.assert_array_equal(out, np.round(row / scale) * scale)


def test_int8_file_is_the_reference_quantization(tmp_path):
  model = _trained_model()
  path = str(tmp_path / "m.npz")
  sha = weights_file.save(model, path, {"k": 1}, encoding="int8")
  arrays, meta = weights_file.read(path, sha)
  assert meta == {"k": 1}
  exact = weights_file.model_arrays(model, np.float32)
  assert set(arrays) == set(exact)
  quantized = 0
  for key, w in exact.items():
    got = arrays[key]
    if w.ndim >= 4:
      assert got.dtype == np.float32
      _check_int8(w, got)
      quantized += w.size
    else:
      np.testing.assert_array_equal(got, w.astype(np.float16))
  # The convolution kernels' parameters are most of a codec.
  assert quantized > 0.8 * sum(w.size for w in exact.values())


def test_int8_keeps_tiny_and_zero_slices():
  w = np.stack([np.full((3, 2), 3e-9), np.zeros((3, 2)),
                np.linspace(-5, 7, 6).reshape(3, 2),
                np.arange(6.).reshape(3, 2)]).astype(np.float32)[..., None]
  codes, scale = weights_file.quantize_int8(w)
  assert scale.shape == (4, 1, 1, 1)
  got = weights_file.dequantize_int8(codes, scale)
  _check_int8(w, got)
  np.testing.assert_allclose(got[0], 3e-9, rtol=2.**-10)
  with pytest.raises(ValueError, match="non-finite"):
    weights_file.quantize_int8(np.where(w > 6, np.nan, w))


def test_int8_file_reloads_to_itself_and_is_small(tmp_path):
  """Loading an int8 file and saving the model again gives the same bytes:
  the loaded weights are exactly the stored model (what lets a run resume
  from its int8 snapshot and every machine code with the same weights)."""
  model = _trained_model()
  first = str(tmp_path / "a.npz")
  sha = weights_file.save(model, first, {"spec": 1}, encoding="int8")
  arrays, meta = weights_file.read(first, sha)
  weights_file.assign(model, arrays)
  second = str(tmp_path / "b.npz")
  assert weights_file.save(model, second, meta, encoding="int8") == sha
  half = str(tmp_path / "f16.npz")
  weights_file.save(model, half, meta)
  assert os.path.getsize(first) < 0.6 * os.path.getsize(half)
  with pytest.raises(ValueError, match="encoding"):
    weights_file.save(model, half, meta, encoding="int4")
  corrupt = bytearray(open(first, "rb").read())
  corrupt[len(corrupt) // 2] ^= 0xFF
  bad = tmp_path / "bad.npz"
  bad.write_bytes(bytes(corrupt))
  with pytest.raises(ValueError, match="corrupt"):
    weights_file.read(str(bad), sha)


def test_int8_published_model_codes_bit_exactly(tmp_path):
  """The registry's path for the shipped int8 models: index, sha256 check,
  load, and coding (decode equal to reconstruct())."""
  spec = campaign.RunSpec("balle2017_q1", resize=True, lmbda=0.01, steps=2,
                          num_filters=8, learning_rate=1e-3, storage="int8")
  campaign.train_run(spec, _patches, str(tmp_path / "balle2017+resize_q1.npz"),
                     log_every=1, snapshot_every=2, patch_size=32,
                     run_eagerly=True)
  pretrained.write_index(str(tmp_path))
  model = pretrained.load("balle2017+resize", 1, str(tmp_path))
  image = np.random.default_rng(3).integers(0, 256, (48, 40, 3), np.uint8)
  file, _ = model.compress(image)
  np.testing.assert_array_equal(model.decompress(file.numpy()).numpy(),
                                model.reconstruct(image)[0].numpy())


@pytest.mark.parametrize("down", [True, False])
def test_bfloat16_signal_conv_takes_the_prepadded_path(down):
  """Under mixed_bfloat16 the layer pre-pads with zeros and runs VALID
  (oneDNN's fast bfloat16 path); it must compute what tfc's EXPLICIT
  float32 path computes, to bfloat16 precision."""
  x = tf.random.stateless_uniform([2, 16, 12, 8], seed=[1, 2])
  ref = tfc_codec.signal_conv(8, 5, 2, down)
  ref(x)
  assert ref.use_explicit
  tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")
  try:
    layer = tfc_codec.signal_conv(8, 5, 2, down)
    layer(tf.cast(x, tf.bfloat16))
  finally:
    tf.keras.mixed_precision.set_global_policy("float32")
  assert not layer.use_explicit
  assert layer.get_config()["use_explicit"]  # the constructor's choice

  def paddings(l, dtype):
    graph = tf.function(l).get_concrete_function(
        tf.TensorSpec([2, 16, 12, 8], dtype)).graph
    return {op.get_attr("padding") for op in graph.get_operations()
            if op.type in ("Conv2D", "Conv2DBackpropInput")}
  assert paddings(ref, tf.float32) == {b"EXPLICIT"}
  assert paddings(layer, tf.bfloat16) == {b"VALID"}
  layer.set_weights(ref.get_weights())
  expected = ref(x).numpy()
  got = tf.cast(layer(tf.cast(x, tf.bfloat16)), tf.float32).numpy()
  assert got.shape == expected.shape
  # bfloat16 keeps 8 significant bits: ~0.4 % per rounding, a few roundings.
  np.testing.assert_allclose(got, expected, atol=0.03 * np.abs(expected).max())


def test_bfloat16_run_trains_and_stores_float32_weights(tmp_path):
  spec = campaign.RunSpec("r", resize=True, lmbda=0.01, steps=4,
                          num_filters=8, learning_rate=1e-3,
                          precision="mixed_bfloat16")
  model = campaign.build(spec)
  assert model.codec.compute_dtype == "bfloat16"
  assert all(v.dtype == tf.float32 for v in model.trainable_variables)
  assert tf.keras.mixed_precision.global_policy().name == "float32"
  path = str(tmp_path / "r.npz")
  meta = campaign.train_run(spec, _patches, path, log_every=2,
                            snapshot_every=4, patch_size=32)
  assert meta["steps_done"] == 4
  assert all(np.isfinite(row[2:]).all() for row in meta["curve"])
  arrays, saved = weights_file.read(path)
  assert saved["spec"]["precision"] == "mixed_bfloat16"
  # The file is an ordinary float32 model: it loads and codes.
  coder = pretrained.load_file(path)
  assert coder.codec.compute_dtype == "float32"
  image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
  file, _ = coder.compress(image)
  np.testing.assert_array_equal(coder.decompress(file.numpy()).numpy(),
                                coder.reconstruct(image)[0].numpy())
