"""Evaluation loop, cache, reports, learned-model adapter and bench images."""
import csv
import glob
import hashlib
import io
import json
import os

from absl import flags
import bjontegaard
import numpy as np
from PIL import Image
import pytest
from skimage import data as skdata
import tensorflow as tf

from experiments import evaluate_compression
from resizer_tf import anchors
from resizer_tf import evaluation
from resizer_tf.data import bench_images
from resizer_tf.evaluation import learned
from resizer_tf.evaluation import report
from resizer_tf.evaluation import specs

_SIZE = (176, 192)  # >= 161: the smallest size 5-scale MS-SSIM accepts
_METRICS = ("psnr", "ms_ssim", "vif")


@pytest.fixture
def image_dir(tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  photos = {"astronaut": skdata.astronaut(), "coffee": skdata.coffee()}
  for name, photo in photos.items():
    crop = photo[:_SIZE[0], :_SIZE[1]]
    Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"{name}.png")
  return str(folder)


def _run_binary(argv):
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["evaluate_compression"] + argv)
  try:
    evaluate_compression.main([])
  finally:
    flags.FLAGS.unparse_flags()


def _read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_end_to_end_binary_and_cache(image_dir, tmp_path, monkeypatch):
  out = str(tmp_path / "out")
  argv = [f"--images_dir={image_dir}", f"--output_dir={out}",
          "--anchors=jpeg,jpeg2000", "--ladder=jpeg=5,30,80",
          "--ladder=jpeg2000=0.1,0.4,1.2", "--baseline=jpeg2000",
          f"--metrics={','.join(_METRICS)}"]
  _run_binary(argv)
  rows = _read_csv(os.path.join(out, "results.csv"))
  assert len(rows) == 2 * 2 * 3
  for row in rows:
    assert not row["error"]
    assert float(row["bpp"]) == pytest.approx(
        int(row["bytes"]) * 8 / (_SIZE[0] * _SIZE[1]))
    for m in _METRICS + ("encode_s", "decode_s"):
      assert np.isfinite(float(row[m]))
  # Table II cell: mean of per-image BD-rates, checked with bjontegaard.
  expected = []
  for image in ("astronaut.png", "coffee.png"):
    curve = {}
    for codec in ("jpeg2000", "jpeg"):
      pts = sorted((float(r["bpp"]), float(r["psnr"])) for r in rows
                   if r["codec"] == codec and r["image"] == image)
      curve[codec] = pts
    expected.append(bjontegaard.bd_rate(
        [p[0] for p in curve["jpeg2000"]], [p[1] for p in curve["jpeg2000"]],
        [p[0] for p in curve["jpeg"]], [p[1] for p in curve["jpeg"]],
        method="pchip", require_matching_points=False, min_overlap=0))
  text = open(os.path.join(out, "report.md")).read()
  jpeg_row = next(l for l in text.splitlines() if l.startswith("| JPEG |"))
  assert jpeg_row.split("|")[2].strip() == f"{np.mean(expected):+.2f}"
  assert "| JPEG 2000 (baseline) | +0.00 |" in text
  assert "Enc. (CPU) ms" in text
  with Image.open(os.path.join(out, "rd_curves.png")) as im:
    assert im.format == "PNG" and im.size[0] > 300
  assert len(glob.glob(os.path.join(out, "cache", "*", "*.json"))) == 12
  def reject(constant):
    raise AssertionError(f"non-standard JSON constant {constant}")
  with open(os.path.join(out, "results.json")) as f:
    assert len(json.load(f, parse_constant=reject)) == 12

  # Second run: every point from the cache, the codecs are never called.
  def fail(*args, **kwargs):
    raise AssertionError("encode called although the result is cached")
  monkeypatch.setattr(anchors.JpegCodec, "encode", fail)
  monkeypatch.setattr(anchors.Jpeg2000Codec, "encode", fail)
  _run_binary(argv)
  assert _read_csv(os.path.join(out, "results.csv")) == rows


class _FlakyJpeg(anchors.JpegCodec):
  name = "flaky"

  def encode(self, image, setting):
    if image[0, 0, 0] == 0:  # the black image
      raise RuntimeError("simulated encoder crash")
    return super().encode(image, setting)


def test_failed_image_is_reported_and_run_goes_on(tmp_path):
  paths = []
  for name, value in (("black", 0), ("grey", 128)):
    img = np.full((48, 48, 3), value, np.uint8)
    img[10:20, 10:30] = 200
    path = str(tmp_path / f"{name}.png")
    Image.fromarray(img).save(path)
    paths.append(path)
  codec = _FlakyJpeg()
  records = evaluation.evaluate([codec], paths, ("psnr",),
                                ladders={"flaky": (20, 60)})
  errors = [r for r in records if r.get("error")]
  assert [r["image"] for r in errors] == ["black.png", "black.png"]
  assert "simulated encoder crash" in errors[0]["error"]
  ok = [r for r in records if not r.get("error")]
  assert [r["image"] for r in ok] == ["grey.png", "grey.png"]
  # An unreadable image is skipped too.
  bad = str(tmp_path / "bad.png")
  with open(bad, "wb") as f:
    f.write(b"not a png")
  records = evaluation.evaluate([anchors.JpegCodec()], [bad] + paths[1:],
                                ("psnr",), ladders={"jpeg": (50,)})
  assert [r["image"] for r in records] == ["grey.png"]


class _MissingToolJpeg(anchors.JpegCodec):
  name = "missing"

  def check_available(self):
    raise anchors.CodecUnavailableError("install the missing tool")


def test_unavailable_codec_is_skipped_with_message(tmp_path, caplog):
  path = str(tmp_path / "a.png")
  Image.fromarray(np.full((32, 32, 3), 50, np.uint8)).save(path)
  records = evaluation.evaluate([_MissingToolJpeg(), anchors.JpegCodec()],
                                [path], ("psnr",), ladders={"jpeg": (50,)})
  assert [r["codec"] for r in records] == ["jpeg"]
  assert "install the missing tool" in caplog.text


def test_cache_fills_missing_metric_from_stored_file(tmp_path, monkeypatch):
  img = np.ascontiguousarray(skdata.astronaut()[:64, :64])
  path = str(tmp_path / "a.png")
  Image.fromarray(img).save(path)
  cache = str(tmp_path / "cache")
  first = evaluation.evaluate([anchors.JpegCodec()], [path], ("psnr",),
                              cache_dir=cache, ladders={"jpeg": (30,)})
  monkeypatch.setattr(anchors.JpegCodec, "encode",
                      lambda *a: (_ for _ in ()).throw(AssertionError()))
  second = evaluation.evaluate([anchors.JpegCodec()], [path],
                               ("psnr", "vif"), cache_dir=cache,
                               ladders={"jpeg": (30,)})
  assert second[0]["psnr"] == first[0]["psnr"]
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format="JPEG", quality=30, subsampling=0,
                            optimize=True)
  recon = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
  from sewar import full_ref  # pylint: disable=g-import-not-at-top
  from resizer_tf import metrics  # pylint: disable=g-import-not-at-top
  assert second[0]["vif"] == pytest.approx(
      full_ref.vifp(metrics.luma(img), metrics.luma(recon)), abs=1e-3)
  assert second[0]["bytes"] == len(buf.getvalue())


def test_corrupt_cache_entry_is_recomputed(tmp_path):
  img = np.full((32, 32, 3), 90, np.uint8)
  path = str(tmp_path / "a.png")
  Image.fromarray(img).save(path)
  cache = str(tmp_path / "cache")
  kwargs = dict(metric_names=("psnr",), cache_dir=cache,
                ladders={"jpeg": (50,)})
  first = evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  (entry,) = glob.glob(os.path.join(cache, "*", "*.json"))
  with open(entry, "w") as f:
    f.write("{truncated")
  again = evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  assert again[0]["bytes"] == first[0]["bytes"]
  assert json.load(open(entry))["bytes"] == first[0]["bytes"]


@pytest.mark.parametrize("tamper,logged", [
    (lambda r: dict(r, psnr=r["psnr"] + 5), "edited after it was written"),
    (lambda r: [r], "not a record"),
    (lambda r: dict(r, bytes="12"), "'bytes' missing or invalid"),
    (lambda r: dict(r, cache_key="0" * 64), "stored under another key"),
])
def test_edited_or_invalid_cache_entry_is_recomputed(tmp_path, caplog, tamper,
                                                     logged):
  img = np.ascontiguousarray(skdata.astronaut()[:48, :48])
  path = str(tmp_path / "a.png")
  Image.fromarray(img).save(path)
  kwargs = dict(metric_names=("psnr",), cache_dir=str(tmp_path / "cache"),
                ladders={"jpeg": (50,)})
  (first,) = evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  (entry,) = glob.glob(os.path.join(str(tmp_path / "cache"), "*", "*.json"))
  stored = json.load(open(entry))
  assert stored["cache_key"] == os.path.basename(entry)[:-5]
  with open(entry, "w") as f:
    json.dump(tamper(stored), f)
  (again,) = evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  # Old behaviour: an edited PSNR entered the report unnoticed.
  assert again["psnr"] == first["psnr"]
  assert logged in caplog.text and entry in caplog.text
  assert json.load(open(entry))["psnr"] == first["psnr"]


def test_edited_compressed_file_in_cache_is_recomputed(tmp_path, caplog):
  img = np.ascontiguousarray(skdata.astronaut()[:48, :48])
  path = str(tmp_path / "a.png")
  Image.fromarray(img).save(path)
  kwargs = dict(metric_names=("psnr",), cache_dir=str(tmp_path / "cache"),
                ladders={"jpeg": (50,)})
  evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  (binary,) = glob.glob(os.path.join(str(tmp_path / "cache"), "*", "*.bin"))
  data = bytearray(open(binary, "rb").read())
  data[-3] ^= 1  # same size, other content
  open(binary, "wb").write(bytes(data))
  evaluation.evaluate([anchors.JpegCodec()], [path], **kwargs)
  assert "edited after it was written" in caplog.text


def test_run_without_any_point_exits_non_zero(image_dir, tmp_path, capsys,
                                              monkeypatch):
  monkeypatch.setattr(anchors.JpegCodec, "check_available", lambda self: (
      _ for _ in ()).throw(anchors.CodecUnavailableError("no tool")))
  with pytest.raises(SystemExit) as e:
    _run_binary([f"--images_dir={image_dir}",
                 f"--output_dir={tmp_path / 'out'}", "--anchors=jpeg",
                 "--baseline=jpeg", "--metrics=psnr"])
  assert e.value.code == 1
  assert capsys.readouterr().err.startswith(
      "error: No rate-distortion point was produced")


# ------------------------------------------------- learned-model adapter


class _ToyCodec(tf.Module):
  """Honours the trainer's SavedModel contract with a quantise+PNG scheme."""

  def __init__(self, step, lmbda, codec_name="toy", resize=False,
               vector_scale=False):
    super().__init__()
    self.step = step
    self.vector_scale = vector_scale
    self.resize = tf.Variable(resize, trainable=False)
    self.lmbda = tf.Variable(lmbda, dtype=tf.float32, trainable=False)
    self.codec_name = tf.Variable(codec_name, dtype=tf.string,
                                  trainable=False)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
  def compress(self, image):
    quantised = (image // self.step) * self.step
    # A content-dependent "resize factor" so Fig. 6 has a spread.
    scale = 0.5 + tf.reduce_mean(tf.cast(image, tf.float32)) / 510.0
    if self.vector_scale:  # (My, Mx), as resizer_tf/serving.py exports
      scale = tf.stack([scale, scale * 0.9])
    return {"file": tf.io.encode_png(quantised), "scale": scale}

  @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
  def decompress(self, file):
    return {"image": tf.io.decode_png(file, channels=3)}


def _save_toy(path, step, lmbda, **kwargs):
  module = _ToyCodec(step, lmbda, **kwargs)
  tf.saved_model.save(module, path, signatures={
      "compress": module.compress, "decompress": module.decompress})
  return path


def test_learned_adapter_round_trip(tmp_path):
  path = _save_toy(str(tmp_path / "toy"), 16, 0.01, resize=True,
                   vector_scale=True)
  codec = evaluation.LearnedCodecAdapter(path)
  assert (codec.name, codec.settings) == ("toy+resize", ("0.01",))
  img = np.ascontiguousarray(skdata.astronaut()[:40, :56])
  data, info = codec.encode_with_info(img, "0.01")
  expected = (img // 16) * 16
  with Image.open(io.BytesIO(data)) as im:  # the file is a real PNG
    np.testing.assert_array_equal(np.asarray(im), expected)
  np.testing.assert_array_equal(codec.decode(data), expected)
  m = 0.5 + img.mean() / 510
  assert info["M_y"] == pytest.approx(m, abs=1e-5)
  assert info["M_x"] == pytest.approx(0.9 * m, abs=1e-5)
  assert info["M"] == pytest.approx(np.sqrt(0.9) * m, abs=1e-5)
  with pytest.raises(ValueError, match="single setting"):
    codec.encode(img, "0.1")
  named = evaluation.LearnedCodecAdapter(path, name="balle2017+resize@0.05")
  assert (named.name, named.point) == ("balle2017+resize", "0.05")


def test_learned_adapter_bad_paths(tmp_path):
  with pytest.raises(FileNotFoundError, match="saved_model.pb"):
    evaluation.LearnedCodecAdapter(str(tmp_path))
  module = tf.Module()
  module.f = tf.function(lambda x: x,
                         input_signature=[tf.TensorSpec([], tf.float32)])
  tf.saved_model.save(module, str(tmp_path / "plain"),
                      signatures={"serving_default": module.f})
  with pytest.raises(ValueError, match="compress"):
    evaluation.LearnedCodecAdapter(str(tmp_path / "plain"))


def test_learned_curves_table_and_m_plot(image_dir, tmp_path):
  paths = [_save_toy(str(tmp_path / f"toy{s}"), s, l)
           for s, l in ((32, 0.001), (8, 0.01), (2, 0.1))]
  out = str(tmp_path / "out")
  _run_binary([
      f"--images_dir={image_dir}", f"--output_dir={out}",
      "--anchors=jpeg2000", "--ladder=jpeg2000=0.3,1,3,6",
      f"--learned=toy@0.001={paths[0]},toy@0.01={paths[1]},{paths[2]}",
      "--baseline=toy", "--metrics=psnr"])
  rows = _read_csv(os.path.join(out, "results.csv"))
  toy = [r for r in rows if r["codec"] == "toy"]
  assert sorted({r["setting"] for r in toy}) == ["0.001", "0.01", "0.1"]
  assert all(0.5 <= float(r["M"]) <= 1.0 for r in toy)
  text = open(os.path.join(out, "report.md")).read()
  assert "| toy (baseline) | +0.00 |" in text
  assert "Resize factor M per lambda" in text
  with Image.open(os.path.join(out, "m_distribution.png")) as im:
    assert im.format == "PNG"


@pytest.mark.parametrize("name, expected", [
    ("balle2017+resize@0.01", ("balle2017+resize", "0.01")),
    ("a@b@0.1", ("a@b", "0.1")),
    ("cheng20", ("cheng20", None)),
])
def test_split_name(name, expected):
  assert learned.split_name(name) == expected


@pytest.mark.parametrize("bad", ["@0.1", "x@", "a,b@1"])
def test_split_name_rejects(bad):
  with pytest.raises(ValueError):
    learned.split_name(bad)


def test_specs_parsing():
  assert specs.parse_learned(["a@1=/m/a,/m/b", "c=/m/c"]) == [
      ("a@1", "/m/a"), (None, "/m/b"), ("c", "/m/c")]
  assert specs.parse_ladders(["jpeg=5,10", "jpeg2000=0.1,1"]) == {
      "jpeg": (5, 10), "jpeg2000": (0.1, 1)}
  assert specs.parse_anchor_options(
      ["avif.speed=4", "vvc.preset=faster", "jpeg.progressive=true"]) == {
          "avif": {"speed": 4}, "vvc": {"preset": "faster"},
          "jpeg": {"progressive": True}}
  with pytest.raises(ValueError, match="unknown anchor"):
    specs.parse_ladders(["bpg=1,2"])
  with pytest.raises(ValueError, match="CODEC.OPTION"):
    specs.parse_anchor_options(["speed=4"])
  with pytest.raises(ValueError, match="Bad options"):
    specs.make_anchors(["jpeg"], {"jpeg": {"speed": 3}})


def test_legend_reference_pairs_resize_curves():
  codecs = ["jpeg2000", "balle2017", "balle2017+resize", "cheng20+resize"]
  assert report.legend_reference("balle2017+resize", codecs,
                                 "jpeg2000") == "balle2017"
  assert report.legend_reference("cheng20+resize", codecs,
                                 "jpeg2000") == "jpeg2000"
  assert report.legend_reference("jpeg2000", codecs, "jpeg2000") is None


def test_report_rejects_unknown_baseline():
  records = [{"codec": "jpeg", "label": "JPEG", "setting": "5",
              "image": "a", "bpp": 0.1, "psnr": 30.0}]
  with pytest.raises(ValueError, match="Baseline 'vvc'"):
    report.bd_table(records, "vvc", ["psnr"])


# ------------------------------------------------- benchmark image set


def test_area_resize_crop_is_block_mean_of_centre():
  rng = np.random.default_rng(0)
  centre = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
  wide = np.zeros((64, 96 + 2 * 10, 3), np.uint8)
  wide[:, :10] = 255  # margins that the 3:2 centre crop must remove
  wide[:, 10:106] = centre
  out = bench_images.area_resize_crop(Image.fromarray(wide), size=(32, 48))
  block_mean = centre.reshape(32, 2, 48, 2, 3).astype(float).mean(axis=(1, 3))
  assert out.shape == (32, 48, 3) and out.dtype == np.uint8
  # Pillow's fixed-point box filter is off by at most one level.
  assert np.max(np.abs(out - block_mean)) <= 1.0


def test_area_resize_crop_portrait_and_greyscale():
  grey = Image.fromarray(np.full((90, 60), 77, np.uint8), mode="L")
  out = bench_images.area_resize_crop(grey, size=(20, 30))  # rotated
  assert out.shape == (20, 30, 3) and np.all(out == 77)
  with pytest.raises(ValueError, match="at least"):
    bench_images.area_resize_crop(grey, size=(200, 300))


def test_build_bench_set_manifest_and_determinism(tmp_path):
  sources = []
  for i in range(2):
    path = str(tmp_path / f"src{i}.jpg")
    Image.fromarray(np.ascontiguousarray(
        skdata.astronaut()[:300, i * 50:i * 50 + 400])).save(path)
    sources.append((f"img{i}", path, "some-package"))
  manifests = [bench_images.build_bench_set(str(tmp_path / d), (40, 60),
                                            sources) for d in ("a", "b")]
  assert manifests[0] == manifests[1]  # deterministic, byte for byte
  on_disk = json.load(open(tmp_path / "a" / "manifest.json"))
  assert on_disk == manifests[0]
  for entry in on_disk["images"]:
    png = tmp_path / "a" / entry["file"]
    assert hashlib.sha256(png.read_bytes()).hexdigest() == entry["sha256"]
    assert entry["license"] == "GPL-2+" and entry["source"].endswith(".jpg")
    with Image.open(png) as im:
      assert im.size == (60, 40) and im.mode == "RGB"
  assert bench_images.list_images(str(tmp_path / "a")) == [
      str(tmp_path / "a" / "img0.png"), str(tmp_path / "a" / "img1.png")]


def test_build_bench_set_missing_source_names_package(tmp_path):
  with pytest.raises(FileNotFoundError, match="mate-backgrounds"):
    bench_images.build_bench_set(
        str(tmp_path), sources=[("x", "/nonexistent/x.jpg",
                                 "mate-backgrounds")])


def test_bench_sources_are_the_23_named_photos():
  sources = bench_images.bench_sources()
  assert len(sources) == 23
  assert sum(s[2] == "mate-backgrounds" for s in sources) == 12
  assert all(s[1].endswith("2560x1600.jpg") for s in sources
             if s[2] == "plasma-workspace-wallpapers")


def test_merge_results_joins_an_earlier_run(image_dir, tmp_path):
  cache = str(tmp_path / "cache")
  common = [f"--images_dir={image_dir}", f"--cache_dir={cache}",
            "--baseline=jpeg2000", "--metrics=psnr"]
  jpeg, j2k = "--ladder=jpeg=5,30,80", "--ladder=jpeg2000=0.1,0.4,1.2"
  both, only_jpeg, merged = (str(tmp_path / n) for n in ("b", "j", "m"))
  _run_binary(common + [f"--output_dir={both}", "--anchors=jpeg,jpeg2000",
                        jpeg, j2k])
  _run_binary(common + [f"--output_dir={only_jpeg}", "--anchors=jpeg", jpeg])
  _run_binary(common + [f"--output_dir={merged}", "--anchors=jpeg2000", j2k,
                        f"--merge_results={only_jpeg}/results.json"])
  row = lambda d: next(l for l in open(os.path.join(d, "report.md"))
                       if l.startswith("| JPEG |"))
  assert row(merged) == row(both)
  assert len(_read_csv(os.path.join(merged, "results.csv"))) == 12
  # A merged codec that lacks an evaluated image is refused.
  with open(os.path.join(only_jpeg, "results.json")) as f:
    records = [r for r in json.load(f) if r["image"] != "coffee.png"]
  partial = tmp_path / "partial.json"
  partial.write_text(json.dumps(records))
  with pytest.raises(SystemExit):
    _run_binary(common + [f"--output_dir={merged}", "--anchors=jpeg2000",
                          j2k, f"--merge_results={partial}"])
