"""Files and runs users can trust (issue 11): a corpus of hostile inputs.

Every case asserts the exact outcome: the error message, the exit status,
that no file changed, or the correct decode. Tiny models keep it fast.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf

from resizer_tf import bitstream
from resizer_tf import images
from resizer_tf import resize_compress
from resizer_tf import serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(seed, **kwargs):
  tf.keras.utils.set_random_seed(seed)
  kwargs.setdefault("scale_estimator", "global")
  kwargs.setdefault("initial_scale", 0.5)
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=8), **kwargs)
  model(tf.zeros([1, 64, 64, 3]))
  model.codec.prepare_for_coding()
  return model


def photo(h=45, w=70):
  return images.builtin_photo("astronaut")[100:100 + h, 180:180 + w]


@pytest.fixture(scope="module")
def models():
  return tiny(1), tiny(2)


@pytest.fixture(scope="module")
def decoder(models):
  """The first model's decompress, compiled (as the SavedModel runs it)."""
  return tf.function(models[0].decompress)


@pytest.fixture(scope="module")
def good_file(models):
  return models[0].compress(photo())[0].numpy()


def forge(file, **fields):
  """A copy of `file` with header fields replaced and a VALID checksum, as a
  hostile or buggy writer would make it."""
  data = bytearray(file)
  layout = {"version": (4, ">B"), "codec": (5, ">B"), "flags": (6, ">B"),
            "height": (8, ">I"), "width": (12, ">I"), "qy": (16, ">H"),
            "qx": (18, ">H"), "lh": (20, ">H"), "lw": (22, ">H")}
  for name, value in fields.items():
    offset, fmt = layout[name]
    struct.pack_into(fmt, data, offset, value)
  data[32:40] = bitstream.checksum(tf.constant(np.frombuffer(
      bytes(data[:32] + data[40:]), np.uint8))).numpy().tobytes()
  return bytes(data)


def refused(decoder, data):
  with pytest.raises(tf.errors.InvalidArgumentError) as e:
    decoder(tf.constant(data))
  return serving.error_message(e.value)


# -- 1. a file decodes correctly or not at all ----------------------------------------


def test_file_from_another_model_of_the_same_codec_is_refused(models):
  a, b = models
  file = a.compress(photo())[0]
  with pytest.raises(tf.errors.InvalidArgumentError) as e:
    tf.function(b.decompress)(file)
  message = serving.error_message(e.value)
  fa = bitstream.compute_model_fingerprint(a).hex()
  fb = bitstream.compute_model_fingerprint(b).hex()
  assert fa != fb
  assert message == (f"This file was made by model {fa}, not by this model "
                     f"({fb}): decode it with the model that made it.")
  # Old behaviour: it decoded into garbage with no error.


def test_fingerprint_names_weights_and_tables_exactly(models):
  a, _ = models
  before = bitstream.compute_model_fingerprint(a)
  assert before == bitstream.compute_model_fingerprint(a)  # deterministic
  same = tiny(1)
  assert bitstream.compute_model_fingerprint(same) == before
  module = serving.CompressionModule(a)  # computes it once, for export
  assert module.fingerprint.numpy() == before
  v = a.codec.weights[0]
  old = v.numpy()
  v.assign(old + np.float32(1e-6))
  try:
    assert bitstream.compute_model_fingerprint(a) != before
    # The live model is not frozen by the module: after more training its
    # files carry its new fingerprint.
    assert bitstream.model_fingerprint(a) != before
  finally:
    v.assign(old)


def test_three_byte_payload_edits_that_adler32_missed_are_refused(
    models, decoder, good_file):
  assert len(good_file) > 60
  rejected = 0
  for pos in range(44, len(good_file) - 3, 3):
    data = bytearray(good_file)
    if not (data[pos] < 255 and data[pos + 1] >= 2 and data[pos + 2] < 255):
      continue
    data[pos] += 1
    data[pos + 1] -= 2
    data[pos + 2] += 1   # Adler-32 of the file is unchanged by this edit.
    assert refused(decoder, bytes(data)) == (
        "Corrupt resizer_tf file: checksum mismatch.")
    rejected += 1
  assert rejected >= 5


@pytest.mark.parametrize("fields,message", [
    (dict(height=90), "its latent size is not the one"),       # doubled H
    (dict(qy=1, qx=1), "M outside [0.25, 1.0], the range of this model"),
    (dict(qy=65535, qx=65535), "M outside [0.25, 1.0]"),  # M ~ 16
    (dict(qy=2048, qx=2560), "My differs from Mx"),
    (dict(lh=3), "its latent size is not the one"),             # off by one
    (dict(lw=2), "its latent size is not the one"),
    (dict(height=1 << 31), "image size outside 1..32768"),
    (dict(height=0), "image size outside 1..32768"),
    (dict(height=30000, width=30000), "more than 67108864 pixels"),
    (dict(flags=1 | 8), "unknown flag bits"),
    (dict(flags=0), "different Resize setting"),
    (dict(flags=3), "different separate_scales setting"),
    (dict(codec=3), "another codec"),
    (dict(version=3), "Unsupported resizer_tf file version"),
    (dict(version=1), "version-1 resizer_tf file"),
])
def test_forged_header_fields_are_refused_before_decoding(
    decoder, good_file, fields, message):
  assert message in refused(decoder, forge(good_file, **fields))


def test_python_header_reader_checks_the_same(good_file):
  header = bitstream.read_header(good_file)
  assert header["version"] == 2 and header["height"] == 45
  with pytest.raises(ValueError, match="version-1"):
    bitstream.read_header(forge(good_file, version=1))
  with pytest.raises(ValueError, match="checksum"):
    bitstream.read_header(good_file[:-1] + bytes([good_file[-1] ^ 4]))
  with pytest.raises(ValueError, match="outside 1..32768"):
    bitstream.read_header(forge(good_file, height=1 << 31))


def test_version_1_file_is_refused_with_a_message_saying_so(decoder):
  # A real format-1 header (28 bytes, Adler-32), as the old build wrote it.
  import zlib  # pylint: disable=g-import-not-at-top
  body = b"RZTF" + bytes([1, 1, 1, 1]) + struct.pack(
      ">IIHHHH", 45, 70, 2048, 2048, 2, 3)
  payload = struct.pack(">I", 5) + b"abcde"
  v1 = body + struct.pack(">I", zlib.adler32(body + payload)) + payload
  assert "version-1 resizer_tf file" in refused(decoder, v1)
  assert "re-compress the original" in refused(decoder, v1)


def test_savedmodel_refuses_forged_and_foreign_files(models, good_file,
                                                     tmp_path):
  serving.export(models[0], str(tmp_path / "export"))
  compressor = serving.Compressor(str(tmp_path / "export"))
  assert compressor.fingerprint == bitstream.compute_model_fingerprint(
      models[0]).hex()
  np.testing.assert_array_equal(compressor.decompress(good_file),
                                models[0].decompress(good_file).numpy())
  with pytest.raises(tf.errors.InvalidArgumentError) as e:
    compressor.decompress(forge(good_file, height=1 << 31))
  assert "outside 1..32768" in serving.error_message(e.value)
  other = models[1].compress(photo())[0].numpy()
  with pytest.raises(tf.errors.InvalidArgumentError) as e:
    compressor.decompress(other)
  assert "was made by model" in serving.error_message(e.value)
  assert (os.stat(tmp_path / "export").st_mode & 0o777) != 0o700


# -- 2. inputs are what the user meant, or refused ----------------------------------


def test_compressor_inputs(models, tmp_path):
  compressor = serving.Compressor.from_model(models[0])
  image = photo(20, 30)
  data, _ = compressor.compress(image)
  # float in [0, 1] is the same image (it used to be coded as black).
  assert compressor.compress(image.astype(np.float32) / 255.)[0] == data
  assert compressor.compress(image.astype(np.uint16) * 257)[0] == data
  for bad, match in [
      (image.astype(np.float32), r"float image must be in \[0, 1\]"),
      (image.astype(np.int32) + 300, "must be uint8, uint16 or float"),
      (np.full((20, 30, 3), np.nan, np.float32), "NaN or Inf"),
      (np.zeros((0, 30, 3), np.uint8), "empty image"),
      (image[..., 0], r"shape \[height, width, 3\]"),
      (np.zeros((2, 40000, 3), np.uint8), "limit of 32768 pixels per side"),
  ]:
    with pytest.raises(ValueError, match=match):
      compressor.compress(bad)


def test_nan_lmbda_is_refused():
  for value in (float("nan"), float("inf")):
    with pytest.raises(ValueError, match="lmbda"):
      resize_compress.ResizeCompress("balle2017", lmbda=value)


def test_exif_orientation_is_applied(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  upright = photo(40, 30)            # portrait, as the user sees it
  stored = np.rot90(upright, 1)      # sensor landscape
  exif = Image.Exif()
  exif[0x0112] = 6  # "rotate 90 CW to display"
  path = str(tmp_path / "phone.jpg")
  Image.fromarray(np.ascontiguousarray(stored)).save(
      path, exif=exif, quality=100, subsampling=0)
  out = images.read_image(path)
  assert out.shape == (40, 30, 3)
  assert np.abs(out.astype(int) - upright.astype(int)).mean() < 4


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / "bomb.png")
  Image.new("L", (10000, 10000)).save(path)  # 100 Mpx, compresses to ~100 kB
  with pytest.raises(ValueError, match="pixel limit"):
    images.read_image(path)


# -- 3. the CLI never destroys data and never shows a raw traceback ------------------


@pytest.fixture(scope="module")
def cli_export(models, tmp_path_factory):
  path = str(tmp_path_factory.mktemp("cli") / "export")
  serving.export(models[0], path)
  return path


def shell_env(**extra):
  """os.environ as a shell would pass it to the CLI: without the
  TF2_BEHAVIOR=1 that importing TensorFlow (here, in pytest) exports, which
  would hide what the CLI does when it starts TF itself."""
  env = {k: v for k, v in os.environ.items() if k != "TF2_BEHAVIOR"}
  env.update(extra)
  return env


def run_cli(*args, env=None):
  return subprocess.run(
      [sys.executable, "-m", "experiments.compress", *args], cwd=ROOT,
      capture_output=True, text=True, timeout=600,
      env=shell_env(**(env or {})))


def write_png(path, image):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  Image.fromarray(image).save(path)
  return str(path)


def test_cli_refuses_to_destroy_data_before_loading_the_model(
    tmp_path, capsys, monkeypatch):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from experiments import compress as cli  # pylint: disable=g-import-not-at-top
  flags.FLAGS.mark_as_parsed()
  flags.FLAGS.model = str(tmp_path / "never_loaded")
  flags.FLAGS.original = None
  flags.FLAGS.overwrite = False

  def no_model(*_, **__):
    raise AssertionError("the model was loaded before the inputs were checked")
  monkeypatch.setattr(serving, "Compressor", no_model)
  src = write_png(tmp_path / "a.png", photo(20, 30))
  before = open(src, "rb").read()
  existing = tmp_path / "exists.rztf"
  existing.write_bytes(b"keep me")
  (tmp_path / "dir.rztf").mkdir()
  cases = [
      (["compress", src, src], "is the input file"),
      (["compress", src, str(tmp_path / "." / "a.png")], "is the input file"),
      (["compress", src, str(existing)], "pass --overwrite"),
      (["compress", src, str(tmp_path / "dir.rztf")], "is a directory"),
      (["compress", str(tmp_path / "missing.png"), str(tmp_path / "o")],
       "No such file"),
      (["compress", src, str(tmp_path / "nodir" / "o.rztf")],
       "does not exist"),
      (["decompress", str(existing), str(tmp_path / "o.png")],
       "Not a resizer_tf file"),
  ]
  for args, message in cases:
    with pytest.raises(SystemExit) as e:
      cli.main(["compress"] + args)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, (args, err)
    assert err.count("\n") == 1
  assert open(src, "rb").read() == before
  assert existing.read_bytes() == b"keep me"
  assert not (tmp_path / "o.png").exists()


def test_cli_end_to_end_quiet_and_model_checked(models, cli_export, tmp_path):
  src = write_png(tmp_path / "in.png", photo(40, 60))
  out = str(tmp_path / "in.rztf")
  r = run_cli(f"--model={cli_export}", "compress", src, out)
  assert r.returncode == 0, r.stderr
  for word in ("bpp", "PSNR", "encode", "decode", "M = 0.5000"):
    assert word in r.stdout
  # Quiet: no custom-gradient flood, no CUDA probing on this CPU machine.
  assert "unsaved custom gradients" not in r.stderr
  assert "cuDNN" not in r.stderr and "cuBLAS" not in r.stderr
  assert len(r.stderr.strip().splitlines()) <= 2, r.stderr
  r = run_cli(f"--model={cli_export}", "compress", src, out)
  assert r.returncode == 1 and "pass --overwrite" in r.stderr
  # A file from another model: one line naming the model that made it.
  other = tmp_path / "other.rztf"
  other.write_bytes(models[1].compress(photo(40, 60))[0].numpy())
  r = run_cli(f"--model={cli_export}", "decompress", str(other),
              str(tmp_path / "o.png"))
  assert r.returncode == 1
  fp = bitstream.compute_model_fingerprint(models[1]).hex()
  assert r.stderr.startswith(f"error: {other} was made by model {fp}")
  assert "Traceback" not in r.stderr and "Graph execution" not in r.stderr
  assert not (tmp_path / "o.png").exists()
  # Without --model, an unregistered model's file says what to pass.
  r = run_cli("decompress", out, str(tmp_path / "o.png"))
  assert r.returncode == 1 and "not a shipped model" in r.stderr
  r = run_cli(f"--model={cli_export}", f"--original={src}", "decompress", out,
              str(tmp_path / "o.png"))
  assert r.returncode == 0, r.stderr
  assert "PSNR" in r.stdout and "decode" in r.stdout


def _model_dir(model, path):
  """A train_compression-style --model_dir holding `model`'s weights."""
  serving.save_config(model, str(path))
  manager = tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), str(path / "weights"), 1,
      checkpoint_name="weights")
  manager.save()
  return str(path)


def test_cli_codes_the_same_bytes_as_the_model_in_process(models, tmp_path):
  """The CLI traces the model in its own process (a model_dir, like a
  shipped NAME:QUALITY, is not a SavedModel): its file must be the one
  `model.compress` writes in-process, byte for byte, and decode alike.

  It was not when the CLI imported TensorFlow inside absl's main: TF then
  creates its eager context in graph mode (absl `call_after_init` runs TF's
  callback at once), tensor `==` inside tf.function falls back to object
  identity, and tfc's GDN took its `inputs ** alpha` branch instead of
  `abs(inputs)`: other, self-consistent files."""
  model_dir = _model_dir(models[0], tmp_path / "run")
  image = photo(40, 60)
  src = write_png(tmp_path / "in.png", image)
  out = str(tmp_path / "in.rztf")
  r = run_cli(f"--model={model_dir}", "compress", src, out)
  assert r.returncode == 0, r.stderr
  expected = models[0].compress(image)[0].numpy()
  with open(out, "rb") as f:
    assert f.read() == expected
  png = str(tmp_path / "out.png")
  r = run_cli(f"--model={model_dir}", "decompress", out, png)
  assert r.returncode == 0, r.stderr
  np.testing.assert_array_equal(images.read_image(png),
                                models[0].decompress(expected).numpy())


_LATE_IMPORT = r"""
import json
from absl import app

def main(argv):
  import numpy as np
  import tensorflow as tf
  from tensorflow.python.eager import context
  broken = not context.context().context_switches.stack
  import resizer_tf  # repairs the context
  import tensorflow_compression as tfc
  gdn = tfc.GDN()
  x = tf.constant(np.linspace(-3, 3, 24, dtype=np.float32).reshape(1, 2, 4, 3))
  eager = gdn(x).numpy()
  traced = tf.function(gdn)(x).numpy()
  equal = tf.function(lambda: tf.constant(1.) == 1.)()
  print(json.dumps({"broken_before": broken,
                    "gdn_diff": float(np.abs(eager - traced).max()),
                    "equal": bool(equal)}))

app.run(main)
"""


def test_tensorflow_imported_inside_an_absl_main_traces_like_eager():
  """resizer_tf repairs the eager context TF creates in graph mode when it
  is first imported after absl's init (resizer_tf/_tf_context.py)."""
  r = subprocess.run([sys.executable, "-c", _LATE_IMPORT], cwd=ROOT,
                     capture_output=True, text=True, timeout=600,
                     env=shell_env(TF_CPP_MIN_LOG_LEVEL="3"))
  assert r.returncode == 0, r.stderr[-3000:]
  out = json.loads(r.stdout.strip().splitlines()[-1])
  assert out["broken_before"], (
      "TF no longer creates its context in graph mode here: "
      "resizer_tf/_tf_context.py may be obsolete")
  assert out["equal"] and out["gdn_diff"] < 1e-5, out


def test_cli_corrupt_savedmodel_is_one_line(cli_export, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  broken = tmp_path / "broken"
  shutil.copytree(cli_export, broken)
  (broken / "saved_model.pb").write_bytes(b"\x00garbage")
  src = write_png(tmp_path / "in.png", photo(20, 30))
  r = run_cli(f"--model={broken}", "compress", src, str(tmp_path / "o.rztf"))
  assert r.returncode == 1
  assert r.stderr.startswith("error: Cannot load the SavedModel")
  assert "Traceback" not in r.stderr


# -- 4. training and export survive kills and mistakes -----------------------------

_SWAP_SCRIPT = r"""
import os, sys
import tensorflow as tf
from resizer_tf.training import runner

class M(tf.Module):
  def __init__(self, v):
    super().__init__()
    self.v = tf.Variable(v)
  @tf.function(input_signature=[])
  def get(self):
    return self.v

def write(v):
  return lambda path: tf.saved_model.save(M(float(v)), path)

target, version, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "fallback":
  runner._rename_exchange = lambda a, b: False  # as on a non-Linux system
runner._between_renames = lambda: os._exit(9)   # killed between renames
runner.replace_directory_atomically(write(version), target)
print("swapped")
"""


def _swap(target, version, mode):
  return subprocess.run(
      [sys.executable, "-c", _SWAP_SCRIPT, target, str(version), mode],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))


def _loaded_value(path):
  loaded = tf.saved_model.load(path)
  return float(loaded.get().numpy())


def test_export_swap_killed_between_renames_is_recovered(tmp_path):
  from resizer_tf.training import runner  # pylint: disable=g-import-not-at-top
  model_dir = tmp_path / "run"
  target = str(model_dir / "export")
  r = _swap(target, 1, "fallback")
  assert r.returncode == 0 and "swapped" in r.stdout, r.stderr
  assert _loaded_value(target) == 1.0
  r = _swap(target, 2, "fallback")
  assert r.returncode == 9  # killed between the two renames
  # Old behaviour: no export at all, and nothing ever put it back.
  assert not os.path.exists(target)
  runner.prepare_model_dir(str(model_dir))  # the next start-up
  try:
    assert _loaded_value(target) == 2.0  # the complete new version
    assert [e for e in os.listdir(model_dir) if e.startswith(".export")] == []
  finally:
    runner.release_model_dir(str(model_dir))


def test_export_swap_is_one_atomic_exchange_on_linux(tmp_path):
  target = str(tmp_path / "export")
  assert _swap(target, 1, "exchange").returncode == 0
  r = _swap(target, 2, "exchange")
  # The kill hook between renames never runs: one renameat2 exchange.
  assert r.returncode == 0 and "swapped" in r.stdout, r.stderr
  assert _loaded_value(target) == 2.0
  assert os.listdir(tmp_path) == ["export"]
  assert (os.stat(target).st_mode & 0o777) != 0o700


_HOLD_LOCK = r"""
import sys
from resizer_tf.training import runner
runner.lock_model_dir(sys.argv[1])
print("locked", flush=True)
sys.stdin.read()
"""


def test_second_run_on_the_same_model_dir_is_refused(tmp_path):
  from resizer_tf.training import runner  # pylint: disable=g-import-not-at-top
  model_dir = str(tmp_path / "run")
  holder = subprocess.Popen(
      [sys.executable, "-c", _HOLD_LOCK, model_dir], cwd=ROOT,
      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
      env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(runner.ModelDirBusyError,
                       match=f"in use by another training run \\(pid "
                             f"{holder.pid} "):
      runner.fit_callbacks(model_dir)
  finally:
    holder.stdin.close()
    holder.wait(timeout=60)
  # The holder ended: the lock is free again (also after a SIGKILL).
  runner.prepare_model_dir(model_dir)
  runner.release_model_dir(model_dir)


def test_stale_temp_files_are_cleaned_at_start_up(tmp_path):
  from resizer_tf.training import runner  # pylint: disable=g-import-not-at-top
  run = tmp_path / "run"
  stale = [run / "weights" / "weights-3_temp" / "part-00000-of-00001",
           run / "backup" / "chief" / ("ckpt-2_temp_" + "a" * 32) / "part",
           run / ".log.csv.k2j4_x9a.tmp",
           run / "weights" / ("checkpoint.tmp" + "0f" * 16)]
  keep = [run / "weights" / "checkpoint", run / "log.csv",
          run / "weights" / "weights-2.index"]
  for path in stale + keep:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
  # A swap of a process that died (pid far beyond pid_max) left the old
  # export aside and no export/.
  dead = run / ".export.old-99999999-abcd1234"
  dead.mkdir()
  (dead / "saved_model.pb").write_text("old export")
  runner.prepare_model_dir(str(run))
  runner.release_model_dir(str(run))
  for path in stale:
    assert not path.exists(), path
  assert not (run / "weights" / "weights-3_temp").exists()
  for path in keep:
    assert path.read_text() == "x"
  assert (run / "export" / "saved_model.pb").read_text() == "old export"
  assert not dead.exists()


def test_cli_decompress_finds_a_shipped_model_from_the_fingerprint(
    models, tmp_path, capsys, monkeypatch):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from experiments import compress as cli  # pylint: disable=g-import-not-at-top
  from resizer_tf import pretrained  # pylint: disable=g-import-not-at-top
  model = models[0]
  fp = serving.model_fingerprint_hex(model)
  index = [{"name": "toy", "quality": 1, "sha256": "x"},
           {"name": "toy", "quality": 2, "sha256": "y", "fingerprint": fp}]
  loads = []
  monkeypatch.setattr(pretrained, "list_models", lambda *a: index)
  monkeypatch.setattr(pretrained, "load", lambda name, q: loads.append(q) or (
      models[1] if q == 1 else model))
  flags.FLAGS.mark_as_parsed()
  flags.FLAGS.model = None
  flags.FLAGS.original = None
  flags.FLAGS.overwrite = False
  src = tmp_path / "a.rztf"
  src.write_bytes(model.compress(photo(30, 40))[0].numpy())
  cli.main(["compress", "decompress", str(src), str(tmp_path / "a.png")])
  assert loads == [2]  # the recorded fingerprint, nothing else loaded
  assert images.read_image(str(tmp_path / "a.png")).shape == (30, 40, 3)
  # Not recorded in the index: found by fingerprinting the shipped models.
  index[1].pop("fingerprint")
  serving._FINGERPRINT_CACHE.clear()  # pylint: disable=protected-access
  cli.main(["compress", "decompress", str(src), str(tmp_path / "b.png")])
  assert loads == [2, 1, 2]
  out = capsys.readouterr().out
  assert "b.png: 40x30" in out and "decode" in out
  # A full disk when writing: one line, exit 1, no partial file.
  from resizer_tf import _io  # pylint: disable=g-import-not-at-top

  def full(*_):
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(_io, "atomic_write_bytes", full)
  with pytest.raises(SystemExit) as e:
    cli.main(["compress", "decompress", str(src), str(tmp_path / "c.png")])
  assert e.value.code == 1
  assert "No space left on device" in capsys.readouterr().err
  assert not (tmp_path / "c.png").exists()


class _PreFormat2Export(tf.Module):
  """What serving.py exported before format 2: no `fingerprint`."""

  def __init__(self):
    super().__init__()
    self.codec_name = tf.Variable("balle2017", trainable=False)
    self.lmbda = tf.Variable(0.01, trainable=False)
    self.resize = tf.Variable(True, trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
  def compress(self, image):
    return {"file": tf.io.encode_png(image), "scale": tf.ones([2])}

  @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
  def decompress(self, file):
    return {"image": tf.io.decode_png(file, channels=3)}


def test_savedmodel_exported_before_format_2_is_refused(tmp_path):
  module = _PreFormat2Export()
  path = str(tmp_path / "old_export")
  tf.saved_model.save(module, path, signatures={
      "compress": module.compress, "decompress": module.decompress})
  with pytest.raises(ValueError, match="exported before file format 2"):
    serving.Compressor(path)


def test_load_photo_takes_a_builtin_name_or_a_path(tmp_path):
  from resizer_tf import images  # pylint: disable=g-import-not-at-top
  china = images.builtin_photo("china")
  np.testing.assert_array_equal(images.load_photo("china"), china)
  path = tmp_path / "crop.png"
  Image.fromarray(china[:20, :30]).save(path)
  np.testing.assert_array_equal(images.load_photo(str(path)), china[:20, :30])
  with pytest.raises((OSError, ValueError)):
    images.load_photo(str(tmp_path / "missing.png"))
