"""ResizeCompress: training semantics, coding, file format, binaries."""
import json
import os
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from resizer_tf import bitstream
from resizer_tf import codecs
from resizer_tf import images
from resizer_tf import resize_compress
from resizer_tf import serving
from resizer_tf.training import compression

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"balle2017": dict(num_filters=8),
        "balle2018_factorized": dict(num_filters=8, num_latent=8),
        "balle2018_hyperprior": dict(num_filters=8, num_latent=8),
        "cheng2020": dict(num_filters=8)}


def tiny_model(codec="balle2017", **kwargs):
  tf.keras.utils.set_random_seed(1)
  model = resize_compress.ResizeCompress(codec, codec_kwargs=TINY[codec],
                                         **kwargs)
  model(tf.zeros([1, 64, 64, 3]))
  return model


def photo(h=45, w=70):
  return images.builtin_photo("astronaut")[100:100 + h, 180:180 + w]


@pytest.fixture(scope="module", params=codecs.CODEC_NAMES)
def coded(request):
  """Per codec, with and without Resize: a model ready to code."""
  out = {}
  for resize in (True, False):
    model = tiny_model(request.param, resize=resize,
                       scale_estimator="global", initial_scale=0.61803)
    model.codec.prepare_for_coding()
    out[resize] = model
  return request.param, out


@pytest.mark.parametrize("resize", [True, False])
def test_decoding_equals_hard_quantised_reconstruction(coded, resize):
  _, models = coded
  model = models[resize]
  image = photo()
  expected, bits, scale = model.reconstruct(image)
  file, file_scale = model.compress(image)
  decoded = model.decompress(file)
  assert decoded.shape == image.shape and decoded.dtype == tf.uint8
  np.testing.assert_array_equal(decoded.numpy(), expected.numpy())
  np.testing.assert_array_equal(file_scale, scale)
  if resize:
    # M survives the file bit-exactly, quantised to multiples of 1/4096.
    header = bitstream.read_header(file.numpy())
    assert header["scale"] == (2531 / 4096, 2531 / 4096)  # round(.61803*4096)
    assert header["resize"]
  else:
    assert bitstream.read_header(file.numpy())["scale"] == (1.0, 1.0)


def test_savedmodel_and_python_give_identical_bytes(coded, tmp_path):
  name, models = coded
  for resize, model in models.items():
    # CI time: the other codecs' plain exports repeat what their Resize
    # export covers (the same codec graph inside), and their codec-level
    # exports are tested in test_codecs_balle.py and test_cheng2020.py.
    if name != "balle2017" and not resize:
      continue
    # Exports hold the tiled path beside the whole-image one (a tf.cond on
    # the size), which multiplies the export's tracing time; Ballé17 keeps
    # it here, tests/test_tiling.py checks the tiled path of every codec
    # traced, and the other codecs export their whole-image path only.
    saved_tile_pixels = model.tile_pixels
    if name != "balle2017":
      model.tile_pixels = None
    try:
      image = photo(37, 52)
      file, _ = model.compress(image)
      module = serving.export(model, str(tmp_path / f"sm{resize}"))
      del module
      loaded = serving.Compressor(str(tmp_path / f"sm{resize}"))
      data, _ = loaded.compress(image)
      assert data == file.numpy(), (name, resize)
      np.testing.assert_array_equal(loaded.decompress(data),
                                    model.decompress(file).numpy())
      assert loaded.codec_name == name
    finally:
      model.tile_pixels = saved_tile_pixels


def test_file_header_is_the_documented_layout():
  model = tiny_model(scale_estimator="global", initial_scale=0.5)
  model.codec.prepare_for_coding()
  image = photo(33, 50)
  file = model.compress(image)[0].numpy()
  assert file[:4] == b"RZTF" and file[4] == 2
  assert file[5] == model.codec.codec_id
  assert file[6] == bitstream.FLAG_RESIZE
  assert int.from_bytes(file[8:12], "big") == 33
  assert int.from_bytes(file[12:16], "big") == 50
  assert int.from_bytes(file[16:18], "big") == 2048
  # ceil(0.5 * 33) = 17 rows -> padded to 32 -> 2 latent rows (stride 16).
  assert int.from_bytes(file[20:22], "big") == 2
  assert int.from_bytes(file[22:24], "big") == 2
  assert file[24:32] == bitstream.compute_model_fingerprint(model)
  assert file[32:40] == bytes(tf.fingerprint(tf.constant(
      np.frombuffer(file[:32] + file[40:], np.uint8))[None]).numpy()[0])
  n = file[7]
  lengths = [int.from_bytes(file[40 + 4 * i:44 + 4 * i], "big")
             for i in range(n)]
  assert 40 + 4 * n + sum(lengths) == len(file)


def test_checksum_is_farmhash64_and_sees_every_small_edit():
  data = np.random.RandomState(0).randint(0, 256, 70001).astype(np.uint8)
  value = bitstream.checksum(tf.constant(data)).numpy()
  assert value.dtype == np.uint8 and value.shape == (8,)
  # Adler-32 misses these 3-byte edits (+1, -2, +1 on consecutive bytes keeps
  # both of its sums); the format-2 checksum changes for every one of them.
  rng = np.random.RandomState(1)
  for pos in rng.randint(1, len(data) - 3, 40):
    edited = data.copy().astype(np.int64)
    if not (edited[pos] < 255 and edited[pos + 1] >= 2 and
            edited[pos + 2] < 255):
      continue
    edited[pos:pos + 3] += [1, -2, 1]
    edited = edited.astype(np.uint8)
    assert zlib.adler32(edited.tobytes()) == zlib.adler32(data.tobytes())
    assert not np.array_equal(
        bitstream.checksum(tf.constant(edited)).numpy(), value)


@pytest.mark.parametrize("mutate,match", [
    (lambda f: f[:-3], "Truncated"),
    (lambda f: f[:20], "shorter than"),
    (lambda f: b"GIF8" + f[4:], "magic"),
    (lambda f: f[:-2] + bytes([f[-2] ^ 0x10]) + f[-1:], "checksum"),
    (lambda f: f[:40] + bytes([f[40] ^ 0x10]) + f[41:], "Truncated or padded"),
    (lambda f: f[:5] + bytes([9]) + f[6:], "another codec"),
    (lambda f: b"", "shorter than"),
])
def test_corrupt_files_give_clear_errors(mutate, match):
  model = tiny_model(scale_estimator="global")
  model.codec.prepare_for_coding()
  file = model.compress(photo())[0].numpy()
  with pytest.raises(tf.errors.InvalidArgumentError, match=match):
    model.decompress(mutate(file))


def test_file_from_another_codec_is_refused():
  a = tiny_model("balle2017", scale_estimator="global")
  b = tiny_model("balle2018_hyperprior", scale_estimator="global")
  a.codec.prepare_for_coding()
  b.codec.prepare_for_coding()
  file = a.compress(photo())[0]
  with pytest.raises(tf.errors.InvalidArgumentError, match="another codec"):
    b.decompress(file)


def test_training_charges_only_the_occupied_region():
  model = tiny_model(scale_estimator="global", initial_scale=0.5,
                     pre_filter=False, quantization="ste")
  x = tf.constant(photo(64, 64)[None], tf.float32) / 255.
  out = model(x, training=True)
  # Independent recomputation: warp by 0.5 on the full canvas, then the codec
  # charged for ceil(0.5 * 64) = 32 px = 2 latent rows/cols only.
  x_d = model.warp(x, 0.5)
  _, bits = model.codec(x_d, training=False, valid_size=[[32, 32]])
  np.testing.assert_allclose(out["bits"], bits, rtol=1e-5)
  _, all_bits = model.codec(x_d, training=False)
  assert float(bits[0]) < 0.6 * float(all_bits[0])
  # bpp divides by the ORIGINAL pixel count.
  np.testing.assert_allclose(out["bpp"], bits / (64 * 64), rtol=1e-5)
  np.testing.assert_allclose(
      out["mse"], np.mean((x.numpy() - out["x_hat"].numpy()) ** 2) * 255 ** 2,
      rtol=1e-4)
  np.testing.assert_allclose(out["loss"], 0.01 * out["mse"] + out["bpp"],
                             rtol=1e-6)


def test_scale_is_bounded_and_gradient_points_back_inside():
  model = tiny_model(scale_estimator="global", initial_scale=0.05)
  x = tf.random.uniform([1, 64, 64, 3])
  with tf.GradientTape() as tape:
    out = model(x, training=True)
    loss = tf.reduce_mean(out["loss"])
  assert np.all(out["scale"].numpy() == 0.25)  # min_scale
  assert np.all(np.isfinite(out["x_hat"].numpy()))
  grad = tape.gradient(loss, model.global_scale)
  assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_resize_param_net_receives_gradients_and_m_moves():
  # M as trained: with batch statistics. (At inference an untrained net's
  # BatchNorm moving statistics put M at its clamp, min_scale, and five
  # steps of moving averages may or may not lift it off: the test was
  # order-dependent.)
  tf.keras.utils.set_random_seed(11)
  model = compression.build_model(
      "balle2017", codec_kwargs=TINY["balle2017"], learning_rate_value=1e-2,
      resize_learning_rate=1e-2, entropy_learning_rate=1e-2,
      decayed_learning_rate=1e-2)
  x = tf.constant(
      np.stack([photo(64, 64), images.builtin_photo("coffee")[:64, :64]]),
      tf.float32) / 255.
  model(x)
  before = [v.numpy().copy() for v in model.resize_variables]
  m0 = model(x, training=True)["scale"].numpy()
  free = (m0 > 0.25) & (m0 < 1.)     # not at a clamp, so M can move
  assert np.any(free)
  model.fit(tf.data.Dataset.from_tensors(x).repeat(5), epochs=1, verbose=0)
  after = [v.numpy() for v in model.resize_variables]
  assert before and all(np.any(a != b) for a, b in zip(after, before))
  m1 = model(x, training=True)["scale"].numpy()
  assert np.all(np.abs(m1 - m0)[free] > 1e-4)


def test_three_optimizers_own_disjoint_variable_groups():
  model = tiny_model("balle2018_hyperprior")
  groups = [model.main_variables, model.resize_variables,
            model.entropy_variables]
  ids = [{id(v) for v in g} for g in groups]
  assert all(ids) and not (ids[0] & ids[1] or ids[0] & ids[2] or
                           ids[1] & ids[2])
  assert sum(map(len, ids)) == len(model.trainable_variables)


@pytest.mark.parametrize("kwargs", [
    dict(pre_filter=False), dict(post_filter=False), dict(kernel="bilinear"),
    dict(scale_estimator="global"), dict(resize=False)])
def test_ablations_build_and_code(kwargs):
  model = tiny_model(**kwargs)
  model.codec.prepare_for_coding()
  image = photo(30, 41)
  expected = model.reconstruct(image)[0]
  np.testing.assert_array_equal(
      model.decompress(model.compress(image)[0]), expected)
  assert (model.pre_filter is None) == (not model.use_pre_filter)
  assert model.warp.kernel == kwargs.get("kernel", "bicubic")


def test_config_round_trip_rebuilds_the_same_model():
  model = tiny_model("balle2018_factorized", kernel="bilinear", lmbda=0.05,
                     min_scale=0.3, pre_filter=False)
  clone = resize_compress.ResizeCompress.from_config(
      json.loads(json.dumps(model.get_config())))
  clone(tf.zeros([1, 64, 64, 3]))
  assert clone.get_config() == model.get_config()
  assert type(clone.codec) is type(model.codec)
  assert len(clone.weights) == len(model.weights)


@pytest.mark.parametrize("shape,dtype", [
    ((45, 70), np.uint8), ((45, 70, 4), np.uint8), ((2, 45, 70, 3), np.uint8),
    ((45, 70, 3), np.float32)])
def test_compress_rejects_bad_images(shape, dtype):
  model = tiny_model(scale_estimator="global")
  model.codec.prepare_for_coding()
  with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
    model.compress(np.zeros(shape, dtype))


def test_images_smaller_than_the_stride_round_trip():
  model = tiny_model(scale_estimator="global")
  model.codec.prepare_for_coding()
  for h, w in [(1, 1), (5, 7), (15, 3)]:
    image = photo(h, w)
    file = model.compress(image)[0]
    np.testing.assert_array_equal(model.decompress(file),
                                  model.reconstruct(image)[0])


def _run(args, **kwargs):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  return subprocess.run([sys.executable] + args, cwd=ROOT, env=env,
                        capture_output=True, text=True, **kwargs)


_DETERMINISM = """
import sys, tensorflow as tf
from resizer_tf import resize_compress, images
tf.keras.utils.set_random_seed(3)
out = []
for name, kw in %r.items():
  m = resize_compress.ResizeCompress(name, codec_kwargs=kw)
  m(tf.zeros([1, 64, 64, 3]))
  m.codec.prepare_for_coding()
  out.append(m.compress(images.builtin_photo("coffee")[:50, :60])[0].numpy())
sys.stdout.write(b"".join(out).hex())
""" % TINY


def test_compressing_in_two_processes_gives_identical_bytes():
  a = _run(["-c", _DETERMINISM])
  b = _run(["-c", _DETERMINISM])
  assert a.returncode == 0, a.stderr[-2000:]
  assert a.stdout and a.stdout == b.stdout


_DEVICES = """
import sys, json, numpy as np, tensorflow as tf
from resizer_tf.training import runner, compression
runner.configure_logical_cpus(2)
n = int(sys.argv[1])
tf.keras.utils.set_random_seed(0)
strategy = runner.make_strategy(n)
with strategy.scope():
  model = compression.build_model("balle2018_hyperprior",
      codec_kwargs=dict(num_filters=8, num_latent=8), quantization="ste")
  model(tf.zeros([1, 64, 64, 3]))
x = np.random.RandomState(0).uniform(size=(3, 4, 64, 64, 3)).astype("float32")
h = model.fit(tf.data.Dataset.from_tensor_slices(x), epochs=1, verbose=0)
print(json.dumps([h.history["loss"][-1], model(x[0], training=False)["loss"].numpy().mean().item()]))
"""


def test_two_device_mirrored_strategy_matches_one_device():
  one = _run(["-c", _DEVICES, "1"])
  two = _run(["-c", _DEVICES, "2"])
  assert one.returncode == 0, one.stderr[-3000:]
  assert two.returncode == 0, two.stderr[-3000:]
  loss1 = json.loads(one.stdout.strip().splitlines()[-1])
  loss2 = json.loads(two.stdout.strip().splitlines()[-1])
  np.testing.assert_allclose(loss1, loss2, rtol=2e-4)


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path):
  model_dir = str(tmp_path / "run")
  args = ["-m", "experiments.train_compression", "--codec=balle2017",
          "--num_filters=8", "--train_builtin=astronaut,coffee",
          "--patch_size=64", "--batch_size=2", "--steps=40",
          "--steps_per_epoch=10", "--refine_steps=0",
          f"--model_dir={model_dir}", "--verbose=0"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  proc = subprocess.Popen([sys.executable] + args, cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  weights = os.path.join(model_dir, "weights", "checkpoint")
  deadline = time.time() + 120
  while not os.path.exists(weights) and time.time() < deadline:
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.exists(weights)
  with open(os.path.join(model_dir, "log.csv")) as f:
    done_before = [int(l.split(",")[0]) for l in f.read().split()[1:]]
  assert done_before and max(done_before) < 3
  result = _run(args)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(model_dir, "log.csv")) as f:
    rows = [l.split(",") for l in f.read().split() if l[0].isdigit()]
  epochs = [int(r[0]) for r in rows]
  # Resumed: the epochs finished before the kill are not trained again.
  assert sorted(epochs) == sorted(set(epochs)) == [0, 1, 2, 3]
  assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))


def test_rate_estimate_matches_file_size_on_a_photo():
  model = compression.build_model(
      "balle2017", codec_kwargs=dict(num_filters=16), learning_rate_value=1e-3,
      resize_learning_rate=1e-3, entropy_learning_rate=1e-3,
      decayed_learning_rate=1e-3, scale_estimator="global",
      initial_scale=0.8)
  photo_ = images.builtin_photo("coffee")
  x = tf.constant(photo_[None, :256, :256], tf.float32) / 255.
  model.fit(tf.data.Dataset.from_tensors(x).repeat(30), epochs=1, verbose=0)
  model.codec.prepare_for_coding()
  image = images.builtin_photo("astronaut")[:384, :512]
  _, bits, _ = model.reconstruct(image)
  file = model.compress(image)[0].numpy()
  payload_bits = 8 * (len(file) - 32)  # minus the 32-byte header.
  assert abs(payload_bits - float(bits)) / payload_bits < 0.03


def _write(path, array, mode=None):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  Image.fromarray(array, mode=mode).save(path)
  return str(path)


def test_read_image_defines_grayscale_rgba_and_16_bit(tmp_path):
  rgb = photo(20, 30)
  gray = rgb[..., 0]
  out = images.read_image(_write(tmp_path / "g.png", gray))
  assert out.shape == (20, 30, 3) and np.all(out == gray[..., None])
  rgba = np.concatenate([rgb, np.full((20, 30, 1), 7, np.uint8)], -1)
  np.testing.assert_array_equal(
      images.read_image(_write(tmp_path / "a.png", rgba)), rgb)
  deep = (gray.astype(np.uint16) * 257)  # 16-bit, same picture.
  out = images.read_image(_write(tmp_path / "d.png", deep))
  np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, -1))
  with pytest.raises(FileNotFoundError):
    images.read_image(str(tmp_path / "missing.png"))
  (tmp_path / "junk.png").write_bytes(b"not an image")
  with pytest.raises(ValueError, match="Cannot read"):
    images.read_image(str(tmp_path / "junk.png"))


def test_compress_cli_codes_and_refuses_bad_files(tmp_path, capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from experiments import compress as cli  # pylint: disable=g-import-not-at-top
  model = tiny_model(scale_estimator="global")
  export = str(tmp_path / "export")
  serving.export(model, export)
  # Other binaries imported by other tests register required flags of their
  # own in the same global FLAGS: set ours without validating theirs.
  flags.FLAGS.mark_as_parsed()
  flags.FLAGS.model = export
  flags.FLAGS.original = None
  src = _write(tmp_path / "in.png", photo(24, 40)[..., 0])  # grayscale
  out = str(tmp_path / "in.rztf")
  cli.main(["compress", "compress", src, out])
  assert "bpp" in capsys.readouterr().out
  data = open(out, "rb").read()
  cli.main(["compress", "decompress", out, str(tmp_path / "out.png")])
  assert images.read_image(str(tmp_path / "out.png")).shape == (24, 40, 3)
  for name, content in [("trunc.rztf", data[:-5]), ("foreign.rztf",
                                                    b"\x89PNG" + data[4:]),
                        ("empty.rztf", b"")]:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SystemExit) as e:
      cli.main(["compress", "decompress", str(path), str(tmp_path / "x.png")])
    assert e.value.code == 1
    assert capsys.readouterr().err.startswith("error: ")
  assert not (tmp_path / "x.png").exists()
  with pytest.raises(SystemExit):
    cli.main(["compress", "decompress", str(tmp_path / "nope.rztf"),
              str(tmp_path / "x.png")])
