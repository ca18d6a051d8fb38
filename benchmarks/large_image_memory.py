r"""Peak memory of coding large images (issue 11, "Large images").

  python -m benchmarks.large_image_memory \
      --output=docs/results/large_image_memory.json

(run it under `nice -n 15` on a shared machine).

For each size (12 MP = 4000x3000, 50 MP = 8660x5774 by default) a fresh
process encodes a photo with Ballé17 N = 128 + Resize (ResizeParamNet,
Pre- and Post-filter; random weights, which cost the same memory as trained
ones), and another fresh process decodes the file, both through the traced
`compress`/`decompress` functions a SavedModel serves
(`serving.CompressionModule`). Each process reports its peak resident set
(VmHWM of /proc/self/status), its resident set after building the model and
warming the functions up on a 64 x 64 image (the fixed cost of TF and the
model), and the wall time of the one coding call. Images above the model's
`tile_pixels` (4 Mpx) take the tiled path (resize_compress.py).

--sizes takes WIDTHxHEIGHT values; --whole also runs each size on the
whole-image path (tile_pixels=None): beware, tens of GB at 12 MP.
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SIZES = ("4000x3000", "8660x5774")

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", list(DEFAULT_SIZES), "Image sizes, WIDTHxHEIGHT.")
flags.DEFINE_bool("whole", False, "Also run the whole-image path "
                  "(tile_pixels=None; huge memory).")
flags.DEFINE_string("output", "docs/results/large_image_memory.json",
                    "JSON results (rewritten after every row).")
flags.DEFINE_string("child", None, "Internal: op,height,width,path,"
                    "tile_pixels of one measured process.")


def _status_mb(field):
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(field + ":"):
        return int(line.split()[1]) / 1024.
  return None


def _model(tile_pixels):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from resizer_tf import resize_compress  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(0)  # Same weights in every process.
  kwargs = {} if tile_pixels == "default" else dict(tile_pixels=tile_pixels)
  model = resize_compress.ResizeCompress(
      "balle2017", codec_kwargs=dict(num_filters=128), **kwargs)
  model(tf.zeros([1, 64, 64, 3]))
  return model


def _photo(height, width):
  """A real photo tiled (mirrored) to height x width, uint8 only: building it
  must not raise the peak we measure."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from resizer_tf import images  # pylint: disable=g-import-not-at-top
  photo = images.builtin_photo("astronaut")
  block = np.concatenate([photo, photo[::-1]], 0)
  block = np.concatenate([block, block[:, ::-1]], 1)
  reps = (-(-height // block.shape[0]), -(-width // block.shape[1]), 1)
  return np.ascontiguousarray(np.tile(block, reps)[:height, :width])


def child(op, height, width, path, tile_pixels):
  """Runs one coding call in this (fresh) process; prints a JSON line."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from resizer_tf import serving  # pylint: disable=g-import-not-at-top
  model = _model(tile_pixels)
  compressor = serving.Compressor.from_model(model)
  small = _photo(64, 64)
  compressor.decompress(compressor.compress(small)[0])  # Trace, warm up.
  out = dict(op=op, height=height, width=width,
             megapixels=round(height * width / 1e6, 2),
             tiled=bool(model.uses_tiles(height, width)),
             baseline_rss_mb=round(_status_mb("VmRSS"), 1))
  if op == "encode":
    image = _photo(height, width)
    start = time.perf_counter()
    data, scale = compressor.compress(image)
    out["seconds"] = round(time.perf_counter() - start, 1)
    with open(path, "wb") as f:
      f.write(data)
    out.update(file_bytes=len(data), scale=list(scale))
  else:
    with open(path, "rb") as f:
      data = f.read()
    start = time.perf_counter()
    image = compressor.decompress(data)
    out["seconds"] = round(time.perf_counter() - start, 1)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
  out["peak_rss_mb"] = round(_status_mb("VmHWM"), 1)
  out["tensorflow"] = tf.__version__
  print("RESULT " + json.dumps(out), flush=True)


def _run_child(op, height, width, path, tile_pixels):
  cmd = [sys.executable, "-m", "benchmarks.large_image_memory",
         f"--child={op},{height},{width},{path},{tile_pixels}"]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                        text=True, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith("RESULT "):
      return json.loads(line[len("RESULT "):])
  return dict(op=op, height=height, width=width, error=(
      f"exit {proc.returncode}: " + proc.stderr.strip().splitlines()[-1]
      if proc.stderr.strip() else f"exit {proc.returncode}"))


def main(argv):
  del argv
  if FLAGS.child:
    op, h, w, path, t = FLAGS.child.split(",")
    child(op, int(h), int(w), path, t if t == "default" else
          (None if t == "None" else int(t)))
    return
  output = FLAGS.output
  rows = []
  paths = [("default", "default")] + (
      [("None", "whole")] if FLAGS.whole else [])
  with tempfile.TemporaryDirectory() as tmp:
    for size in FLAGS.sizes:
      width, height = (int(v) for v in size.lower().split("x"))
      for tile_pixels, label in paths:
        path = os.path.join(tmp, f"{width}x{height}_{label}.rztf")
        for op in ("encode", "decode"):
          row = _run_child(op, height, width, path, tile_pixels)
          row["path"] = "tiled" if row.get("tiled") else "whole"
          print(json.dumps(row), flush=True)
          rows.append(row)
          _write(output, rows)  # After every row: a long run can stop.
          if "error" in row:
            break
  print(f"Wrote {output}")


def _write(output, rows):
  from resizer_tf import resize_compress  # pylint: disable=g-import-not-at-top
  result = dict(
      model="balle2017 num_filters=128 + Resize (ResizeParamNet, Pre- and "
            "Post-filter), random weights, seed 0",
      tile_pixels=resize_compress.DEFAULT_TILE_PIXELS,
      tile_size=resize_compress.DEFAULT_TILE_SIZE,
      cpus=os.cpu_count(), machine=platform.machine(),
      note="Peak RSS = VmHWM of a fresh process per row (TF, the model and "
           "tracing included); baseline = RSS after building the model and "
           "a 64x64 warm-up. Run under `nice -n 15` on a machine shared with "
           "a training job: times are indicative only.",
      rows=rows)
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  with open(output, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")


if __name__ == "__main__":
  app.run(main)
