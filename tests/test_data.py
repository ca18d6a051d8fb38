"""Input pipelines: Fashion-MNIST idx files, class folders, AVA, TFDS."""
import gzip
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from resizer_tf import data
from resizer_tf.data import fashion_mnist
from resizer_tf.data import files


def test_fashion_mnist_is_the_real_dataset():
  x, y = data.load_fashion_mnist("train")
  assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
  # Published facts of Fashion-MNIST: 6000 per class; first labels.
  np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
  np.testing.assert_array_equal(y[:10], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
  x, y = data.load_fashion_mnist("test")
  np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
  np.testing.assert_array_equal(y[:10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])


def _write_gz(path, payload):
  with gzip.open(path, "wb") as f:
    f.write(payload)


def test_fashion_mnist_bad_files(tmp_path):
  with pytest.raises(ValueError, match="not found"):
    data.load_fashion_mnist("train", root=str(tmp_path))
  with pytest.raises(ValueError, match="split"):
    data.load_fashion_mnist("val")
  header = (2051).to_bytes(4, "big") + b"".join(
      n.to_bytes(4, "big") for n in (2, 28, 28))
  _write_gz(tmp_path / "t10k-images-idx3-ubyte.gz", header + bytes(100))
  _write_gz(tmp_path / "t10k-labels-idx1-ubyte.gz",
            (2049).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes(2))
  with pytest.raises(ValueError, match="truncated"):
    data.load_fashion_mnist("test", root=str(tmp_path))
  _write_gz(tmp_path / "t10k-images-idx3-ubyte.gz", b"\x00" * 32)
  with pytest.raises(ValueError, match="magic"):
    data.load_fashion_mnist("test", root=str(tmp_path))


def test_fashion_mnist_dataset_enlarges_to_the_input_resolution():
  x, y = data.load_fashion_mnist("test")
  dataset, info = data.fashion_mnist_dataset("test", (28, 28), 4, subset=None)
  assert info.num_examples == 10000 and info.num_classes == 10
  images, labels = next(iter(dataset))
  # Identity size: the originals, repeated to RGB, as floats in [0, 255].
  np.testing.assert_array_equal(images.numpy(),
                                np.repeat(x[:4, ..., None], 3, -1))
  np.testing.assert_array_equal(labels.numpy(), y[:4])
  dataset, info = data.fashion_mnist_dataset(
      "train", (56, 42), 8, subset=100, seed=3)
  images, labels = next(iter(dataset))
  assert images.shape == (8, 56, 42, 3) and images.dtype == tf.float32
  assert info.num_examples == 100
  # 2x bilinear enlargement (half-pixel centres) in numpy: output 2i is
  # 0.75 x[i] + 0.25 x[i-1], output 2i+1 is 0.75 x[i] + 0.25 x[i+1].
  def up2(a, axis):
    a = np.moveaxis(a.astype(np.float64), axis, 0)
    prev = np.concatenate([a[:1], a[:-1]])
    nxt = np.concatenate([a[1:], a[-1:]])
    out = np.empty((2 * a.shape[0],) + a.shape[1:])
    out[0::2] = 0.75 * a + 0.25 * prev
    out[1::2] = 0.75 * a + 0.25 * nxt
    return np.moveaxis(out, 0, axis)
  dataset, _ = data.fashion_mnist_dataset("test", (56, 56), 2)
  images, _ = next(iter(dataset))
  np.testing.assert_allclose(images.numpy()[..., 0], up2(up2(x[:2], 1), 2),
                             atol=1e-3)


def test_subset_is_class_balanced():
  labels = np.repeat(np.arange(10), 50)
  index = fashion_mnist.subset_indices(labels, 30, seed=1)
  assert len(set(index)) == 30
  np.testing.assert_array_equal(np.bincount(labels[index]), [3] * 10)


def test_resize_to_input_contract():
  grey = tf.cast(tf.reshape(tf.range(16) * 16, [1, 4, 4, 1]), tf.uint8)
  out = data.resize_to_input(grey, (8, 8), "bicubic")
  assert out.shape == (1, 8, 8, 3) and out.dtype == tf.float32
  assert float(tf.reduce_min(out)) >= 0 and float(tf.reduce_max(out)) <= 255
  with pytest.raises(ValueError, match="rank|\\[H, W, C\\]"):
    data.resize_to_input(tf.zeros([4, 4]), (2, 2))
  with pytest.raises(ValueError, match="channels"):
    data.resize_to_input(tf.zeros([4, 4, 2]), (2, 2))
  with pytest.raises(ValueError, match="method"):
    data.resize_to_input(tf.zeros([4, 4, 3]), (2, 2), "cubic")


def _jpeg(path, value, size=(12, 10)):
  Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path, "JPEG")


AVA_LINES = [
    # index, id, counts 1..10, tag, tag, challenge
    "1 1001 0 1 2 3 4 3 2 1 0 0 10 20 100",
    "2 1002 0 0 0 0 1 1 0 0 0 8 0 0 100",
    "3 1003 1 1 1 1 1 1 1 1 1 1 5 0 101",
    "4 1004 0 0 0 2 0 0 0 0 0 0 0 0 101",  # image missing from the folder
    "5 1005 0 0 0 0 0 0 0 0 0 1 0 0 101",  # corrupt file
    "6 1006 0 0 0 0 0 0 0 0 0 0 0 0 101",  # no ratings at all
]


@pytest.fixture
def ava(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for image_id, value in ((1001, 40), (1002, 120), (1003, 200), (1006, 9)):
    _jpeg(images / f"{image_id}.jpg", value)
  (images / "1005.jpg").write_bytes(b"this is not a jpeg")
  txt = tmp_path / "AVA.txt"
  txt.write_text("\n".join(AVA_LINES) + "\n")
  return str(txt), str(images)


def test_parse_ava_txt(ava, tmp_path):
  index = data.parse_ava_txt(ava[0])
  np.testing.assert_array_equal(index.image_ids,
                                [1001, 1002, 1003, 1004, 1005, 1006])
  np.testing.assert_array_equal(index.counts[0], [0, 1, 2, 3, 4, 3, 2, 1, 0, 0])
  np.testing.assert_array_equal(index.tags[0], [10, 20])
  np.testing.assert_array_equal(index.challenge_ids, [100, 100] + [101] * 4)
  bad = tmp_path / "bad.txt"
  bad.write_text(AVA_LINES[0] + "\n1 2 3\n")
  with pytest.raises(ValueError, match=":2: expected 15 columns"):
    data.parse_ava_txt(str(bad))
  bad.write_text(AVA_LINES[0].replace("100", "x") + "\n")
  with pytest.raises(ValueError, match="integers"):
    data.parse_ava_txt(str(bad))


def test_ava_skips_and_counts_missing_corrupt_and_unrated(ava):
  paths, dists, stats = data.ava_examples(*ava, split="all")
  assert stats == dict(total=6, missing=1, corrupt=1, unrated=1, used=3)
  assert [os.path.basename(p) for p in paths] == [
      "1001.jpg", "1002.jpg", "1003.jpg"]
  np.testing.assert_allclose(dists[0], np.array([0, 1, 2, 3, 4, 3, 2, 1, 0, 0])
                             / 16)
  np.testing.assert_allclose(dists[2], np.full(10, 0.1))
  dataset, info = data.ava_dataset(*ava, (16, 20), 2, split="all",
                                   training=False)
  assert info.num_examples == 3 and info.skipped == 3
  batches = list(dataset)
  images = np.concatenate([b[0] for b in batches])
  targets = np.concatenate([b[1] for b in batches])
  assert images.shape == (3, 16, 20, 3)
  np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), [40, 120, 200],
                             atol=3)
  np.testing.assert_allclose(targets, dists, rtol=1e-6)


def test_ava_split_is_deterministic_and_disjoint(ava):
  train, _, _ = data.ava_examples(*ava, split="train", val_fraction=0.5)
  val, _, _ = data.ava_examples(*ava, split="val", val_fraction=0.5)
  assert not set(train) & set(val)
  assert sorted(train + val) == sorted(data.ava_examples(*ava)[0])
  with pytest.raises(ValueError, match="not found"):
    data.ava_examples(ava[0], ava[1] + "_nowhere")


def test_truncated_image_that_passes_the_scan_is_dropped_at_run_time(tmp_path):
  for i in range(3):
    _jpeg(tmp_path / f"{i}.jpg", 50 * i, size=(64, 64))
  raw = (tmp_path / "1.jpg").read_bytes()
  (tmp_path / "1.jpg").write_bytes(raw[:len(raw) // 3])  # valid header only
  paths = [str(tmp_path / f"{i}.jpg") for i in range(3)]
  mask, stats = files.scan_files(paths, "header")
  assert all(mask) and stats.used == 3
  mask, stats = files.scan_files(paths, "decode")
  assert mask == [True, False, True] and stats.corrupt == 1
  dataset = data.preprocess.file_dataset(paths, [0, 1, 2], (8, 8), 4, False)
  labels = np.concatenate([b[1] for b in dataset])
  np.testing.assert_array_equal(labels, [0, 2])


def test_image_folder(tmp_path):
  for name, value in (("cat", 10), ("dog", 240)):
    (tmp_path / name).mkdir()
    for i in range(2):
      _jpeg(tmp_path / name / f"{i}.jpg", value)
  (tmp_path / "dog" / "broken.png").write_bytes(b"\x00" * 20)
  (tmp_path / "dog" / "notes.txt").write_text("ignored")
  dataset, info = data.image_folder_dataset(str(tmp_path), (6, 5), 8, False)
  assert info.class_names == ("cat", "dog") and info.skipped == 1
  images, labels = next(iter(dataset))
  np.testing.assert_array_equal(labels, [0, 0, 1, 1])
  np.testing.assert_allclose(images.numpy().mean(axis=(1, 2, 3)),
                             [10, 10, 240, 240], atol=3)
  with pytest.raises(ValueError, match="not found"):
    data.image_folder_dataset(str(tmp_path / "none"), (6, 5), 8, False)


def test_tfds_prepares_manual_datasets_and_never_downloads(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class ResizerTfTinyManual(tfds.core.GeneratorBasedBuilder):
    """A manual-download dataset, as imagenet2012 is."""
    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Put tiny.npz in manual_dir."

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          "image": tfds.features.Image(shape=(6, 4, 3)),
          "label": tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
      arrays = np.load(os.path.join(dl_manager.manual_dir, "tiny.npz"))
      return {"train": self._generate_examples(arrays)}

    def _generate_examples(self, arrays):
      for i, (image, label) in enumerate(zip(arrays["x"], arrays["y"])):
        yield i, {"image": image, "label": label}

  manual = tmp_path / "manual"
  manual.mkdir()
  x = np.stack([np.full((6, 4, 3), v, np.uint8) for v in (10, 20, 30)])
  np.savez(manual / "tiny.npz", x=x, y=np.array([2, 0, 1]))
  name = "resizer_tf_tiny_manual"
  with pytest.raises(ValueError, match="never downloads.*manual_dir"):
    data.tfds_dataset(name, "train", (6, 4), 3, data_dir=str(tmp_path / "d"))
  dataset, info = data.tfds_dataset(
      name, "train", (12, 8), 3, training=False, data_dir=str(tmp_path / "d"),
      manual_dir=str(manual))
  assert info.num_examples == 3 and info.num_classes == 3
  images, labels = next(iter(dataset))
  assert images.shape == (3, 12, 8, 3)
  by_label = {int(l): float(tf.reduce_mean(im)) for im, l in zip(images,
                                                                  labels)}
  assert by_label == {2: 10.0, 0: 20.0, 1: 30.0}
  with pytest.raises(ValueError, match="never downloads"):
    data.tfds_dataset("mnist", "train", (8, 8), 2,
                      data_dir=str(tmp_path / "empty"))
