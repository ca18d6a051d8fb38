"""Weights files, resumable campaign runs and the pretrained loader."""
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import codec_testing
from resizer_tf import pretrained
from resizer_tf import weights_file
from resizer_tf.training import campaign


_patches = codec_testing.random_patches


def _spec(name, resize, steps=4, **kwargs):
  return campaign.RunSpec(name, resize=resize, lmbda=0.01, steps=steps,
                          num_filters=8, learning_rate=1e-3, **kwargs)


def test_learning_rate_schedule_closed_form():
  spec = campaign.RunSpec("x", resize=False, lmbda=0.01, steps=1000,
                          learning_rate=5e-4, decay_fraction=0.75,
                          decay_factor=0.3, warmup_steps=100,
                          warmup_factor=0.4)
  assert spec.learning_rate_at(0) == pytest.approx(2e-4)
  assert spec.learning_rate_at(99) == pytest.approx(2e-4)
  assert spec.learning_rate_at(100) == pytest.approx(5e-4)
  assert spec.learning_rate_at(749) == pytest.approx(5e-4)
  assert spec.learning_rate_at(750) == pytest.approx(1.5e-4)


def test_weights_file_round_trip_is_float16_exact(tmp_path):
  model = campaign.build(_spec("a", True))
  model(tf.zeros([1, 32, 32, 3]))
  path = str(tmp_path / "a.npz")
  sha = weights_file.save(model, path, {"k": 1})
  arrays, meta = weights_file.read(path, sha)
  assert meta == {"k": 1}
  expected = [w.astype(np.float16) for w in model.codec.get_weights()]
  stored = [arrays[f"codec/{i:04d}"] for i in range(len(expected))]
  for e, s in zip(expected, stored):
    np.testing.assert_array_equal(e, s)
  # BatchNorm moving statistics travel too (non-trainable weights).
  assert len([k for k in arrays if k.startswith("scale_net/")]) == len(
      model.scale_net.weights)
  other = campaign.build(_spec("b", True))
  other(tf.zeros([1, 32, 32, 3]))
  weights_file.assign(other, arrays)
  for e, w in zip(expected, other.codec.get_weights()):
    np.testing.assert_array_equal(e.astype(np.float32), w)


def test_weights_file_errors(tmp_path):
  model = campaign.build(_spec("a", False))
  model(tf.zeros([1, 32, 32, 3]))
  path = str(tmp_path / "a.npz")
  sha = weights_file.save(model, path)
  with open(path, "rb") as f:
    data = bytearray(f.read())
  data[len(data) // 2] ^= 0xFF
  bad = tmp_path / "bad.npz"
  bad.write_bytes(bytes(data))
  with pytest.raises(ValueError, match="corrupt"):
    weights_file.read(str(bad), sha)
  junk = tmp_path / "junk.npz"
  junk.write_bytes(b"not a zip file")
  with pytest.raises(ValueError, match="not a resizer_tf weights file"):
    weights_file.read(str(junk))
  with pytest.raises(FileNotFoundError):
    weights_file.read(str(tmp_path / "missing.npz"))
  arrays, _ = weights_file.read(path)
  wide = campaign.build(campaign.RunSpec("w", resize=False, lmbda=0.01,
                                         steps=1, num_filters=16))
  wide(tf.zeros([1, 32, 32, 3]))
  with pytest.raises(ValueError, match="do not fit"):
    weights_file.assign(wide, arrays)
  resize = campaign.build(_spec("r", True))
  resize(tf.zeros([1, 32, 32, 3]))
  with pytest.raises(ValueError, match="no 'pre_filter' component"):
    weights_file.assign(resize, arrays, ["pre_filter"])


def test_run_resumes_from_snapshot_and_warm_starts(tmp_path):
  warm = _spec("warm", False, steps=2)
  warm_path = str(tmp_path / "warm.npz")
  campaign.train_run(warm, _patches, warm_path, log_every=1,
                     snapshot_every=1, patch_size=32, run_eagerly=True)
  run = _spec("run", True, steps=4, warm_start=(warm_path, ("codec",)))
  path = str(tmp_path / "run.npz")
  meta = campaign.train_run(run, _patches, path, log_every=1,
                            snapshot_every=2, patch_size=32, max_steps=2, run_eagerly=True)
  assert meta["steps_done"] == 2
  assert meta["warm_started_from"]["steps"] == 2
  arrays, saved = weights_file.read(path)
  assert saved["steps_done"] == 2 and len(saved["curve"]) == 2
  assert [row[0] for row in saved["curve"]] == [1, 2]
  meta = campaign.train_run(run, _patches, path, log_every=1,
                            snapshot_every=2, patch_size=32, run_eagerly=True)
  assert meta["steps_done"] == 4
  assert meta["resumed_at"] == [0, 2]
  assert [row[0] for row in meta["curve"]] == [1, 2, 3, 4]
  assert all(np.isfinite(row[2]) for row in meta["curve"])
  # The resumed run continued from the snapshot, not from the warm start.
  final, _ = weights_file.read(path)
  assert not np.array_equal(final["codec/0000"], arrays["codec/0000"])
  # A finished run is not trained again.
  again = campaign.train_run(run, _patches, path, log_every=1,
                             snapshot_every=2, patch_size=32, run_eagerly=True)
  assert again["steps_done"] == 4 and again["resumed_at"] == [0, 2]


def test_small_campaign_pairs_share_everything_but_resize(tmp_path):
  runs = campaign.small_campaign(str(tmp_path / "w"),
                                 intermediate_dir=str(tmp_path / "i"))
  names = [spec.name for spec, _ in runs]
  assert names[:2] == ["balle2017_warm", "balle2017_base"]
  textured = {q - 1 for q in campaign.TEXTURE_QUALITIES}
  n_chain = 2 * len(campaign.CAMPAIGN_LAMBDAS)
  pairs = runs[2:2 + n_chain]
  texture = runs[2 + n_chain:2 + n_chain + 2 * len(textured)]
  refine = runs[2 + n_chain + 2 * len(textured):]
  assert len(refine) == 2 * len(campaign.REFINE_QUALITIES)
  # Stages are not published: they live in the intermediate folder; so do
  # the chain runs that a texture stage continues.
  published = {f"balle2017{v}_q{q + 1}"
               for v in ("", "+resize") for q in range(4)}
  assert {s.name for s, _ in runs} & published == published
  for spec, path in runs:
    folder = "w" if spec.name in published else "i"
    assert path == str(tmp_path / folder / f"{spec.name}.npz")
  done = set(names[:2])
  for (plain, _), (resize, _) in zip(pairs[::2], pairs[1::2]):
    assert (plain.resize, resize.resize) == (False, True)
    assert plain.resize_rate_factor == 1.0
    assert resize.resize_rate_factor == campaign.RESIZE_RATE_FACTOR
    a, b = dict(vars(plain)), dict(vars(resize))
    for d in (a, b):
      for key in ("name", "resize", "warm_start", "resize_rate_factor"):
        d.pop(key)
    assert a == b
    assert a["max_downscale"] == 1.0  # the paper's "no augmentation"
    # Each run starts from a stage trained earlier in the order, at the
    # nearest lambda: the base at WARM_LAMBDA (codec only, for both), else
    # its own variant's chain run of the neighbouring lambda (the Resize
    # chain carries its filters and ResizeParamNet along).
    for spec in (plain, resize):
      source, components = spec.warm_start
      source = os.path.basename(source)[:-len(".npz")]
      assert source in done
      if spec.lmbda == campaign.WARM_LAMBDA:
        assert (source, components) == ("balle2017_base", ("codec",))
      else:
        variant, q = spec.name.split("_chain")[0].rsplit("_q", 1)
        towards = int(q) + (1 if spec.lmbda < campaign.WARM_LAMBDA else -1)
        assert source.split("_chain")[0] == f"{variant}_q{towards}"
        assert set(components) == ({"codec"} if not spec.resize else
                                   set(weights_file.COMPONENTS))
    done.update((plain.name, resize.name))
  # The texture stage continues each variant's own chain run, with the same
  # settings for both variants but steps and downscaled crops.
  chain = {spec.name: spec for spec, _ in pairs}
  for (plain, _), (resize, _) in zip(texture[::2], texture[1::2]):
    assert (plain.resize, resize.resize) == (False, True)
    assert plain.lmbda == resize.lmbda
    assert campaign.CAMPAIGN_LAMBDAS.index(plain.lmbda) in textured
    for spec in (plain, resize):
      source, components = spec.warm_start
      before = chain[spec.name.replace("_texture", "") + "_chain"]
      assert source == str(tmp_path / "i" / f"{before.name}.npz")
      assert set(components) == ({"codec"} if not spec.resize else
                                 set(weights_file.COMPONENTS))
      assert spec.steps == campaign.TEXTURE_STEPS
      assert spec.max_downscale == campaign.MAX_DOWNSCALE
      assert dataclasses.replace(
          spec, name=before.name, steps=before.steps,
          warm_start=before.warm_start, max_downscale=1.0) == before
  # The refine stage continues each variant's own texture run (renamed
  # "_texture", kept in the intermediate folder) and publishes the model;
  # both variants get the same settings.
  texture_specs = {spec.name: spec for spec, _ in texture}
  refined = {campaign.CAMPAIGN_LAMBDAS[q - 1]
             for q in campaign.REFINE_QUALITIES}
  assert {spec.name for spec in texture_specs.values()
          if spec.name.endswith("_texture")} == {
              f"balle2017{v}_q{q}_texture" for v in ("", "+resize")
              for q in campaign.REFINE_QUALITIES}
  for (plain, _), (resize, _) in zip(refine[::2], refine[1::2]):
    assert (plain.resize, resize.resize) == (False, True)
    assert plain.lmbda == resize.lmbda and plain.lmbda in refined
    for spec in (plain, resize):
      assert spec.name in published
      before = texture_specs[spec.name + "_texture"]
      source, components = spec.warm_start
      assert source == str(tmp_path / "i" / f"{before.name}.npz")
      assert set(components) == ({"codec"} if not spec.resize else
                                 set(weights_file.COMPONENTS))
      assert (spec.steps, spec.learning_rate, spec.max_downscale,
              spec.precision, spec.storage) == (
                  campaign.REFINE_STEPS, 3e-4, 6., "mixed_bfloat16", "int8")
      assert dataclasses.replace(
          spec, name=before.name, steps=before.steps,
          warm_start=before.warm_start, learning_rate=before.learning_rate,
          max_downscale=before.max_downscale, precision="float32",
          storage="float16") == before


def test_refine_stage_needs_a_texture_stage(tmp_path):
  with pytest.raises(ValueError, match="no texture stage"):
    campaign.small_campaign(str(tmp_path), texture_qualities=(3,),
                            refine_qualities=(2,))
  with pytest.raises(ValueError, match="no texture stage"):
    campaign.small_campaign(str(tmp_path), texture_steps=0)
  with pytest.raises(ValueError, match="not in 1...4"):
    campaign.small_campaign(str(tmp_path), refine_qualities=(5,),
                            texture_qualities=(2, 5))
  with pytest.raises(ValueError, match="precision"):
    campaign.RunSpec("x", resize=False, lmbda=0.01, steps=1,
                     precision="bfloat16")
  runs = campaign.small_campaign(str(tmp_path), refine_steps=0)
  assert not any(spec.storage == "int8" or spec.name.endswith("_texture")
                 for spec, _ in runs)


def test_small_campaign_without_texture_stage_publishes_the_chain(tmp_path):
  runs = campaign.small_campaign(str(tmp_path / "w"),
                                 intermediate_dir=str(tmp_path / "i"),
                                 texture_steps=0, refine_steps=0)
  assert len(runs) == 2 + 2 * len(campaign.CAMPAIGN_LAMBDAS)
  assert not any("_chain" in spec.name for spec, _ in runs)
  assert all(spec.max_downscale == 1.0 for spec, _ in runs)


def _publish(tmp_path, name, resize):
  spec = campaign.RunSpec(name, resize=resize, lmbda=0.01, steps=2,
                          num_filters=8, learning_rate=1e-3)
  campaign.train_run(spec, _patches, str(tmp_path / f"{name}.npz"),
                     log_every=1, snapshot_every=2, patch_size=32, run_eagerly=True)


def test_pretrained_registry_load_and_errors(tmp_path):
  _publish(tmp_path, "balle2017+resize_q1", True)
  _publish(tmp_path, "balle2017_warm", False)   # not a published name
  models = pretrained.write_index(str(tmp_path))
  assert [(m["name"], m["quality"]) for m in models] == [
      ("balle2017+resize", 1)]
  assert "steps_total" not in models[0]
  # Steps behind the run's warm starts are added to its own; an unchanged
  # file keeps them when the index is rebuilt without.
  models = pretrained.write_index(
      str(tmp_path), steps_before={"balle2017+resize_q1": 40})
  assert (models[0]["steps_done"], models[0]["steps_total"]) == (2, 42)
  models = pretrained.write_index(str(tmp_path))
  assert models[0]["steps_total"] == 42
  model = pretrained.load("balle2017+resize", 1, str(tmp_path))
  # The recorded fingerprint is the one the model's files carry.
  from resizer_tf import bitstream  # pylint: disable=g-import-not-at-top
  assert models[0]["fingerprint"] == (
      bitstream.compute_model_fingerprint(model).hex())
  image = (np.random.default_rng(0).uniform(size=(40, 56, 3)) * 255).astype(
      np.uint8)
  file, _ = model.compress(image)
  decoded = model.decompress(file).numpy()
  np.testing.assert_array_equal(decoded, model.reconstruct(image)[0].numpy())
  with pytest.raises(ValueError, match=r"available: balle2017\+resize:1"):
    pretrained.load("balle2017", 1, str(tmp_path))
  with pytest.raises(ValueError, match="NAME:QUALITY"):
    pretrained.parse_spec("balle2017")
  assert pretrained.parse_spec("balle2017+resize:3") == ("balle2017+resize", 3)
  path = tmp_path / "balle2017+resize_q1.npz"
  data = bytearray(path.read_bytes())
  data[100] ^= 1
  path.write_bytes(bytes(data))
  with pytest.raises(ValueError, match="corrupt"):
    pretrained.load("balle2017+resize", 1, str(tmp_path))


def test_evaluation_reads_a_pretrained_model(tmp_path, monkeypatch):
  from resizer_tf.evaluation import learned  # pylint: disable=g-import-not-at-top
  _publish(tmp_path, "balle2017_q1", False)
  pretrained.write_index(str(tmp_path), fingerprint=False)
  monkeypatch.setattr(pretrained, "WEIGHTS_DIR", str(tmp_path))
  adapter = learned.LearnedCodecAdapter("pretrained:balle2017:1")
  assert (adapter.name, adapter.point) == ("balle2017", "0.01")
  assert adapter.fingerprint == pretrained.entry("balle2017", 1)["sha256"]
  image = (np.random.default_rng(1).uniform(size=(32, 48, 3)) * 255).astype(
      np.uint8)
  data, info = adapter.encode_with_info(image, "0.01")
  assert info["M"] == 1.0
  model = pretrained.load("balle2017", 1)
  np.testing.assert_array_equal(adapter.decode(data),
                                model.reconstruct(image)[0].numpy())


def _shipped():
  return [(m["name"], m["quality"]) for m in pretrained.list_models()]


def test_models_ship_with_the_package():
  assert _shipped(), "resizer_tf/pretrained_weights/index.json lists no model"
  index = os.path.join(pretrained.WEIGHTS_DIR, pretrained.INDEX_FILE)
  with open(index, encoding="utf-8") as f:
    listed = {m["file"] for m in json.load(f)["models"]}
  total = sum(os.path.getsize(os.path.join(pretrained.WEIGHTS_DIR, f))
              for f in os.listdir(pretrained.WEIGHTS_DIR))
  assert total <= 40 * 2**20
  for file in listed:
    assert os.path.isfile(os.path.join(pretrained.WEIGHTS_DIR, file))


@pytest.mark.parametrize("name,quality", _shipped())
def test_shipped_model_codes_a_real_photo(name, quality):
  """sha256 verified on load; compress -> decompress is bit-exact with
  reconstruct(); and the weights are really trained: on the model's own
  objective (lambda * MSE + bpp, measured from the decoded image and the
  file) it beats the same architecture with its initial weights by far, and
  its PSNR is higher (an untrained Resize model may spend fewer bits on
  noise, so bpp alone proves nothing)."""
  from resizer_tf import images  # pylint: disable=g-import-not-at-top
  from resizer_tf.metrics import quality as quality_lib  # pylint: disable=g-import-not-at-top
  photo = images.builtin_photo("china")[150:278, 200:392]
  model = pretrained.load(name, quality)
  file, _ = model.compress(photo)
  data = file.numpy()
  decoded = model.decompress(data).numpy()
  np.testing.assert_array_equal(decoded, model.reconstruct(photo)[0].numpy())
  _, meta = weights_file.read(os.path.join(
      pretrained.WEIGHTS_DIR, pretrained.entry(name, quality)["file"]))
  tf.keras.utils.set_random_seed(0)
  untrained = pretrained.build_from_meta(meta)
  untrained.codec.prepare_for_coding()
  raw = untrained.compress(photo)[0].numpy()
  raw_decoded = untrained.decompress(raw).numpy()
  pixels = photo[..., 0].size

  def objective(payload, image):
    mse = np.mean((photo.astype(np.float64) - image) ** 2)
    return model.lmbda * mse + 8 * len(payload) / pixels

  assert objective(data, decoded) < 0.5 * objective(raw, raw_decoded)
  assert quality_lib.psnr(photo, decoded) > (
      quality_lib.psnr(photo, raw_decoded) + 3)


def test_snapshot_of_other_settings_is_not_resumed(tmp_path):
  path = str(tmp_path / "run.npz")
  campaign.train_run(_spec("run", False, steps=1), _patches, path,
                     log_every=1, snapshot_every=1, patch_size=32,
                     run_eagerly=True)
  changed = _spec("run", False, steps=2, quantization="mixed")
  with pytest.raises(ValueError, match="quantization"):
    campaign.train_run(changed, _patches, path, log_every=1,
                       snapshot_every=1, patch_size=32, run_eagerly=True)


def test_measured_from_records_means_the_models_own_points(tmp_path):
  _publish(tmp_path, "balle2017_q1", False)
  pretrained.write_index(str(tmp_path), fingerprint=False)
  from resizer_tf.evaluation import learned  # pylint: disable=g-import-not-at-top
  point = learned.format_point(0.01)
  rows = [dict(codec="balle2017", setting=point, bpp=0.1, psnr=30., M=1.),
          dict(codec="balle2017", setting=point, bpp=0.3, psnr=32., M=1.),
          dict(codec="balle2017", setting=point, bpp=9., error="failed"),
          dict(codec="balle2017", setting="0.5", bpp=9., psnr=1.),
          dict(codec="balle2017+resize", setting=point, bpp=9., psnr=1.)]
  measured = pretrained.measured_from_records(rows, str(tmp_path))
  assert measured == {("balle2017", 1): dict(bpp=0.2, psnr=31., M=1.,
                                             images=2)}


def test_schedule_sets_each_optimizer_group_its_rate():
  spec = campaign.RunSpec("r", resize=True, lmbda=0.01, steps=1000,
                          learning_rate=1e-4, decay_fraction=0.5,
                          decay_factor=0.3, entropy_rate_factor=10.,
                          resize_rate_factor=4.)
  model = type("M", (), {})()
  for group in ("optimizer", "resize_optimizer", "entropy_optimizer"):
    setattr(model, group, tf.keras.optimizers.Adam(tf.Variable(0.)))
  callback = campaign._Snapshots(spec, "unused", {}, log_every=100,
                                 snapshot_every=500, on_snapshot=None)
  callback.set_model(model)
  for epoch, codec_rate in ((0, 1e-4), (4, 1e-4), (5, 3e-5), (9, 3e-5)):
    callback.on_epoch_begin(epoch)
    rates = [float(getattr(model, g).learning_rate.numpy()) for g in
             ("optimizer", "resize_optimizer", "entropy_optimizer")]
    np.testing.assert_allclose(rates, [codec_rate, 4 * codec_rate,
                                       10 * codec_rate], rtol=1e-6)


def test_run_draws_crops_with_its_own_downscale_and_seed(tmp_path):
  calls = []

  def patches(seed, max_downscale):
    calls.append((seed, max_downscale))
    return _patches(seed)

  spec = _spec("run", False, steps=2, max_downscale=2.5, seed=7)
  path = str(tmp_path / "run.npz")
  campaign.train_run(spec, patches, path, log_every=1, snapshot_every=1,
                     patch_size=32, max_steps=1, run_eagerly=True)
  campaign.train_run(spec, patches, path, log_every=1, snapshot_every=1,
                     patch_size=32, run_eagerly=True)
  # A resumed run draws new crops: seed + steps done.
  assert calls == [(7, 2.5), (8, 2.5)]


def test_report_follows_renamed_chain_runs():
  """Steps behind a run: chain runs recorded their parents under the names
  they had before the texture stage renamed them to "<name>_chain"."""
  start = lambda file, steps: {"warm_started_from": {"file": file,
                                                     "steps": steps}}
  runs = {"base": {},
          "m_q2_chain": start("base.npz", 1500),
          "m_q3_chain": start("m_q2.npz", 600),   # recorded before renaming
          "m_q1": start("m_q2.npz", 600),
          "m_q2": start("m_q2_chain.npz", 600),
          "m_q3": start("m_q3_chain.npz", 600)}
  assert campaign.steps_before(runs, "m_q2_chain") == 1500
  assert campaign.steps_before(runs, "m_q3_chain") == 2100
  assert campaign.steps_before(runs, "m_q1") == 2100
  assert campaign.steps_before(runs, "m_q2") == 2100
  assert campaign.steps_before(runs, "m_q3") == 2700
  # The refine stage: the texture run, renamed "<name>_texture", is the
  # published run's recorded warm start.
  runs["m_q3_texture"] = runs.pop("m_q3")
  runs["m_q3"] = start("m_q3_texture.npz", 800)
  assert campaign.steps_before(runs, "m_q3_texture") == 2700
  assert campaign.steps_before(runs, "m_q3") == 3500


def test_jpeg_gap_binary_against_in_process_coding_and_pillow(tmp_path):
  import io  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from resizer_tf import images  # pylint: disable=g-import-not-at-top
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  photo_path = tmp_path / "crop.png"
  photo = images.builtin_photo("china")[100:228, 200:392]   # 128 x 192
  Image.fromarray(photo).save(photo_path)
  weights = os.path.join(pretrained.WEIGHTS_DIR, "balle2017_q1.npz")
  output = tmp_path / "gap.jsonl"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
             PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
  out = subprocess.run(
      [sys.executable, "-m", "experiments.jpeg_gap", f"--weights={weights}",
       f"--photo={photo_path}", f"--output={output}"],
      cwd=root, env=env, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  row = json.loads(output.read_text().splitlines()[0])
  # The file the binary measured is the one in-process coding writes.
  model = pretrained.load_file(weights)
  data = model.compress(photo)[0].numpy()
  assert row["bpp"] == round(8 * len(data) / photo[..., 0].size, 4)
  decoded = model.decompress(data).numpy().astype(np.float64)
  mse = np.mean((decoded - photo) ** 2)
  assert abs(row["psnr"] - 10 * np.log10(255 ** 2 / mse)) < 1e-3
  # JPEG's PSNR at that bpp lies between the Pillow qualities around it.
  points = []
  for q in range(1, 96):
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=q, subsampling=0,
                                optimize=True)
    jpeg = np.asarray(Image.open(buffer)).astype(np.float64)
    points.append((8 * buffer.tell() / photo[..., 0].size,
                   10 * np.log10(255 ** 2 / np.mean((jpeg - photo) ** 2))))
  points.sort()
  # (Outside JPEG's range the curve is clamped to its end.)
  below = max([p for p in points if p[0] <= row["bpp"]] or points[:1])
  above = min([p for p in points if p[0] >= row["bpp"]] or points[-1:])
  assert min(below[1], above[1]) - 1e-3 <= row["jpeg_psnr_at_bpp"] <= max(
      below[1], above[1]) + 1e-3
  assert abs(row["gap_db"] - (row["psnr"] - row["jpeg_psnr_at_bpp"])) < 2e-3
