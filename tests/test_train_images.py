"""The training photographs are disjoint from the bench set and the demo."""
import os

import numpy as np
import pytest
from PIL import Image

from resizer_tf import images
from resizer_tf.data import bench_images
from resizer_tf.data import train_images


def _installed(sources):
  return [s for s in sources
          if s[1].startswith("skimage:") or os.path.isfile(s[1])]


def test_no_training_source_is_a_bench_source_by_name():
  train = {os.path.realpath(p) for _, p, _ in train_images.train_sources()
           if not p.startswith("skimage:")}
  bench = {os.path.realpath(p) for _, p, _ in bench_images.bench_sources()}
  assert not train & bench
  train_pkgs = {pkg for _, _, pkg in train_images.train_sources()}
  bench_pkgs = {pkg for _, _, pkg in bench_images.bench_sources()}
  assert not train_pkgs & bench_pkgs


def test_no_training_photo_shows_a_bench_or_demo_photo():
  """By content: a coarse signature that survives rescaling and
  re-encoding, so the same photo shipped under another name is caught."""
  train = _installed(train_images.train_sources())
  bench = _installed(bench_images.bench_sources())
  if len(train) < len(train_images.train_sources()) or len(bench) < len(
      bench_images.bench_sources()):
    pytest.skip("Debian photo packages not installed (.ci/run installs "
                "them: lomiri-wallpapers-16.04/-20.04, mate-backgrounds, "
                "plasma-workspace-wallpapers).")
  def signature(source):
    image = train_images.load_source(source)
    # The bench crops are centre crops: compare the central square.
    w, h = image.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)
    return train_images.thumbnail_signature(image.crop(box)).astype(int)
  train_sigs = {name: signature(p) for name, p, _ in train}
  others = {name: signature(p) for name, p, _ in bench}
  others["demo_china"] = train_images.thumbnail_signature(
      Image.fromarray(images.builtin_photo("china")).crop(
          (106, 0, 533, 427))).astype(int)
  for t, ts in train_sigs.items():
    for o, os_ in others.items():
      # Mean absolute difference of 4-bit levels; the same photo gives < 1.
      assert np.mean(np.abs(ts - os_)) > 1.0, (t, o)


def test_area_downscale_sizes():
  big = Image.new("RGB", (4000, 3000))
  assert train_images.area_downscale(big).shape == (1024, 1365, 3)
  medium = Image.new("RGB", (1400, 1000))
  assert train_images.area_downscale(medium).shape == (500, 700, 3)
  small = Image.new("RGB", (600, 400))
  assert train_images.area_downscale(small).shape == (400, 600, 3)


def test_build_train_set_refuses_missing_sources(tmp_path):
  with pytest.raises(FileNotFoundError, match="apt-get install pkg-x"):
    train_images.build_train_set(
        str(tmp_path), sources=[("a", str(tmp_path / "nope.jpg"), "pkg-x")])


def test_build_train_set_writes_manifest(tmp_path):
  src = tmp_path / "src.png"
  Image.fromarray(np.full((1200, 1600, 3), 7, np.uint8)).save(src)
  manifest = train_images.build_train_set(
      str(tmp_path / "out"), sources=[("a", str(src), "pkg")])
  entry, = manifest["images"]
  assert (entry["height"], entry["width"]) == (600, 800)
  assert entry["sha256"] == bench_images.file_sha256(
      str(tmp_path / "out" / "a.png"))
