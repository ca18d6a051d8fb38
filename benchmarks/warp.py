r"""Speed and memory of `BicubicWarp` against `tf.image.resize` (bicubic).

Side by side in one process, every function `tf.function`-compiled and
warmed up, runs interleaved (resize, warp forward, warp forward+backward,
... in turn) so that load from other processes hits all of them alike;
ratios are medians (and min/max) of the per-round ratios. Forward+backward includes
dL/dimages and dL/dM. Cases (one M per image, 0.5 ... 0.6): 8x256x256x3 ->
128x128 (also the full 256x256 canvas of the training path),
1x512x768x3 -> 256x384, a size sweep (4x512², 1x1024², 1x2048² to half
size; fewer rounds for the larger ones), then the 2160x3840x3
full-canvas warp in a fresh subprocess for time and peak memory (the TF
allocator's peak and the process's ru_maxrss).

With --alternatives, also times the implementations that were measured and
rejected (docs/warp.md): "dense" (per-image dense interpolation matrices,
the previous version), "band" (gathered row windows and batched block
matmuls, 16 output rows per block) and "taps" (a gather per kernel tap);
all three differentiate by autodiff; and "native_keys", TF's own Keys
resampler `ScaleAndTranslate` (forward only).

  python -m benchmarks.warp --output=results/warp.json
"""
import json
import os
import platform
import resource
import subprocess
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from resizer_tf import _io
from resizer_tf.layers import warp as warp_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "results/warp.json", "JSON results.")
flags.DEFINE_integer("runs", 50, "Timed rounds per case (median reported).")
flags.DEFINE_integer("warmup", 5, "Untimed calls of each function first.")
flags.DEFINE_bool("alternatives", True,
                  "Also time the rejected implementations.")
flags.DEFINE_bool("large", True,
                  "Also run the 2160x3840x3 full-canvas warp (subprocess).")
flags.DEFINE_bool("large_child", False,
                  "Internal: run only the large case and print its JSON.")

CASES = (  # name, input shape, output size, also time the full canvas
    ("8x256x256x3->128x128", (8, 256, 256, 3), (128, 128), True),
    ("1x512x768x3->256x384", (1, 512, 768, 3), (256, 384), False),
    # Size sweep: does the ratio grow with the image?
    ("4x512x512x3->256x256", (4, 512, 512, 3), (256, 256), False),
    ("1x1024x1024x3->512x512", (1, 1024, 1024, 3), (512, 512), False),
    ("1x2048x2048x3->1024x1024", (1, 2048, 2048, 3), (1024, 1024), False),
)
LARGE_SHAPE = (1, 2160, 3840, 3)


# ----------------------------------------------------------------------------
# Rejected implementations, kept here only to reproduce docs/warp.md.

def _taps(scale, n_in, n_out):
  """Clamped tap indices [B, n_out, 4] and Keys weights of one axis."""
  last = tf.cast(n_in - 1, tf.float32)
  i = tf.cast(tf.range(n_out), tf.float32)
  s = tf.clip_by_value(i[None] / scale[:, None], 0., last)
  pos = tf.floor(tf.stop_gradient(s))[..., None] + tf.constant(
      [-1., 0., 1., 2.])
  index = tf.cast(tf.clip_by_value(pos, 0., last), tf.int32)
  return index, warp_lib.keys_cubic(s[..., None] - pos)


def _dense_axis(u, scale, n_out):
  """[B, n_in, X] -> [B, n_out, X] with a dense [n_out, n_in] matrix."""
  index, weight = _taps(scale, tf.shape(u)[1], n_out)
  matrix = tf.reduce_sum(
      tf.one_hot(index, tf.shape(u)[1]) * weight[..., None], axis=2)
  return tf.matmul(matrix, u)


def _taps_axis(u, scale, n_out):
  index, weight = _taps(scale, tf.shape(u)[1], n_out)
  gathered = tf.gather(u, index, axis=1, batch_dims=1)     # [B, n_out, 4, X]
  return tf.reduce_sum(gathered * weight[..., None], axis=2)


def _band_axis(u, scale, n_out, block=16):
  """Blocks of `block` output rows, each a matmul with a gathered window."""
  n_in = tf.shape(u)[1]
  batch = tf.shape(u)[0]
  blocks = (n_out + block - 1) // block
  index, weight = _taps(scale, n_in, blocks * block)
  window = tf.minimum(tf.cast(tf.math.ceil(
      (block - 1) / tf.reduce_min(scale)), tf.int32) + 5, n_in)
  index = tf.reshape(index, [batch, blocks, block, 4])
  weight = tf.reshape(weight, [batch, blocks, block, 4])
  start = tf.clip_by_value(index[:, :, 0, 0], 0, n_in - window)
  local = tf.one_hot(index - start[:, :, None, None], window)
  matrix = tf.reduce_sum(local * weight[..., None], axis=3)
  rows = tf.gather(u, start[..., None] + tf.range(window), axis=1,
                   batch_dims=1)                           # [B, nb, win, X]
  v = tf.reshape(tf.matmul(matrix, rows), [batch, blocks * block, -1])
  return v[:, :n_out]


def _separable(axis_fn, x, scale, out_h, out_w):
  """Rows with `axis_fn`, transpose, columns, transpose back."""
  b, h, w, c = (tf.shape(x)[i] for i in range(4))
  v = axis_fn(tf.reshape(x, [b, h, w * c]), scale, out_h)
  v = tf.transpose(tf.reshape(v, [b, out_h, w, c]), [0, 2, 1, 3])
  v = axis_fn(tf.reshape(v, [b, w, out_h * c]), scale, out_w)
  return tf.transpose(tf.reshape(v, [b, out_w, out_h, c]), [0, 2, 1, 3])


ALTERNATIVES = {"dense": _dense_axis, "band": _band_axis, "taps": _taps_axis}


def _scale_and_translate(x, scale, size):
  """TF's native Keys (a = -0.5) resampler, one call per image (it takes one
  scale per call); translation 0.5 - M/2 maps its half-pixel grid onto
  Eq. (3)'s i / M. Forward only: it has no gradient for the scale."""
  outs = []
  for k in range(x.shape[0]):
    s = tf.stack([scale[k], scale[k]])
    outs.append(tf.raw_ops.ScaleAndTranslate(
        images=x[k:k + 1], size=size, scale=s, translation=0.5 - 0.5 * s,
        kernel_type="keyscubic", antialias=False))
  return tf.concat(outs, 0)


# ----------------------------------------------------------------------------

def _functions(size, alternatives, full_canvas):
  """name -> tf.function(x, m, g, g_full) for one output size."""
  warp = warp_lib.BicubicWarp()
  fns = {"resize_forward": lambda x, m, g, g_full: tf.image.resize(
      x, size, method="bicubic")}
  impls = {"warp": lambda x, m: warp(x, m, output_size=size)}
  if full_canvas:
    # The training path (output_size=None): shrunk content top-left, the
    # rest edge-replicated; its output is larger than the resize's.
    impls["warp_full_canvas"] = lambda x, m: warp(x, m)
  if alternatives:
    fns["native_keys_forward"] = (
        lambda x, m, g, g_full: _scale_and_translate(x, m, size))
    for name, axis_fn in ALTERNATIVES.items():
      impls[name] = (lambda x, m, axis_fn=axis_fn: _separable(
          axis_fn, x, m, *size))
  for name, impl in impls.items():
    fns[name + "_forward"] = lambda x, m, g, g_full, impl=impl: impl(x, m)

    def forward_backward(x, m, g, g_full, impl=impl, name=name):
      with tf.GradientTape() as tape:
        tape.watch([x, m])
        y = impl(x, m)
      return tape.gradient(
          y, [x, m], output_gradients=g_full if "full" in name else g)

    fns[name + "_forward_backward"] = forward_backward
  return {k: tf.function(v) for k, v in fns.items()}


def _time_interleaved(fns, args, runs, warmup):
  """Per-round wall and process-CPU milliseconds, [runs, len(fns)] each."""
  names = list(fns)
  for name in names:
    for _ in range(warmup):
      fns[name](*args)
  wall = np.zeros((runs, len(names)))
  cpu = np.zeros((runs, len(names)))
  for r in range(runs):
    for j, name in enumerate(names):
      t0, c0 = time.perf_counter(), time.process_time()
      fns[name](*args)   # returns once computed (CPU execution is synchronous)
      wall[r, j] = time.perf_counter() - t0
      cpu[r, j] = time.process_time() - c0
  return names, wall * 1e3, cpu * 1e3


def run_case(name, shape, size, full_canvas):
  batch = shape[0]
  x = tf.random.stateless_uniform(shape, seed=(1, 2))
  m = tf.constant(np.linspace(0.5, 0.6, batch), tf.float32)
  g = tf.random.stateless_normal((batch,) + size + (shape[3],), seed=(3, 4))
  g_full = tf.random.stateless_normal(shape, seed=(3, 4))
  fns = _functions(size, FLAGS.alternatives, full_canvas)
  # The sweep's large cases take ~10x longer per round.
  runs = max(10, FLAGS.runs * 8 * 256 * 256 // int(np.prod(shape[:3])))
  runs = min(runs, FLAGS.runs)
  names, wall, cpu = _time_interleaved(fns, (x, m, g, g_full), runs,
                                       FLAGS.warmup)
  base = names.index("resize_forward")
  record = {"case": name, "runs": runs, "timings": {},
            "load_average_after": os.getloadavg()[0]}
  for j, fn_name in enumerate(names):
    ratio = wall[:, j] / wall[:, base]
    record["timings"][fn_name] = {
        "median_ms": float(np.median(wall[:, j])),
        "min_ms": float(np.min(wall[:, j])),
        "max_ms": float(np.max(wall[:, j])),
        "median_cpu_ms": float(np.median(cpu[:, j])),
        "ratio_to_resize": float(np.median(ratio)),
        "ratio_to_resize_min_max": [float(np.min(ratio)),
                                    float(np.max(ratio))],
        "ratio_to_resize_q25_q75": [float(np.percentile(ratio, 25)),
                                    float(np.percentile(ratio, 75))],
        "cpu_ratio_to_resize": float(np.median(cpu[:, j] / cpu[:, base])),
    }
  return record


def large_child():
  """Runs in a fresh process: time and peak memory of the 2160x3840 warp.

  Memory: the TF CPU allocator's peak (tensors only, input included) and the
  process's peak resident set (ru_maxrss, includes the TF runtime).
  """
  rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10

  def mib():
    # Only the BFC allocator keeps statistics (run_large turns it on); with
    # the default CPU allocator these calls raise ValueError.
    try:
      return {k: v / 2**20 for k, v in
              tf.config.experimental.get_memory_info("CPU:0").items()}
    except ValueError:
      return {"peak": float("nan")}

  def reset_peak():
    try:
      tf.config.experimental.reset_memory_stats("CPU:0")
    except ValueError:
      pass

  warp = warp_lib.BicubicWarp()
  x = tf.random.stateless_uniform(LARGE_SHAPE, seed=(5, 6))
  m = tf.constant([0.5])
  forward = tf.function(lambda x, m: warp(x, m))

  @tf.function
  def forward_backward(x, m):
    with tf.GradientTape() as tape:
      tape.watch([x, m])
      y = warp(x, m)
    return tape.gradient(y, [x, m], output_gradients=tf.ones_like(y))

  resize = tf.function(lambda x, m: tf.image.resize(
      x, [LARGE_SHAPE[1] // 2, LARGE_SHAPE[2] // 2], method="bicubic"))
  record = {"shape": list(LARGE_SHAPE), "scale": 0.5,
            "output": "full canvas",
            "input_mb": float(np.prod(LARGE_SHAPE)) * 4 / 2**20,
            "rss_before_mb": rss()}
  for name, fn in (("resize_to_half_forward", resize), ("forward", forward),
                   ("forward_backward", forward_backward)):
    reset_peak()
    seconds = []
    for _ in range(2):       # the first call includes tracing
      t0 = time.perf_counter()
      out = fn(x, m)
      seconds.append(time.perf_counter() - t0)
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(t))
                            for t in tf.nest.flatten(out)])
    assert bool(finite)
    del out, finite
    record[name + "_first_call_s"] = seconds[0]
    record[name + "_s"] = seconds[1]
    record[name + "_tf_peak_mb"] = mib()["peak"]
    record[name + "_peak_rss_mb"] = rss()
  return record


def run_large():
  out = subprocess.run(
      [sys.executable, "-m", "benchmarks.warp", "--large_child"],
      capture_output=True, text=True, check=True,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               TF_CPU_ALLOCATOR_USE_BFC="true"))
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  if FLAGS.large_child:
    print(json.dumps(large_child()))
    return
  results = {
      "command": " ".join(["python -m benchmarks.warp"] + sys.argv[1:]),
      "tensorflow": tf.__version__, "machine": platform.machine(),
      "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg(),
      "cases": [],
  }
  for name, shape, size, full_canvas in CASES:
    record = run_case(name, shape, size, full_canvas)
    results["cases"].append(record)
    t = record["timings"]
    line = [f"{name}: resize {t['resize_forward']['median_ms']:.2f} ms"]
    for fn_name, v in t.items():
      if fn_name != "resize_forward":
        lo, hi = v["ratio_to_resize_min_max"]
        line.append(f"{fn_name} {v['median_ms']:.2f} ms "
                    f"(x{v['ratio_to_resize']:.2f}, min-max x{lo:.2f}-"
                    f"x{hi:.2f}, cpu x{v['cpu_ratio_to_resize']:.2f})")
    print("\n  ".join(line))
    # Each case is kept as soon as it is measured.
    _io.atomic_write_text(FLAGS.output, json.dumps(results, indent=1) + "\n")
  if FLAGS.large:
    results["large"] = run_large()
    big = results["large"]
    print(f"2160x3840x3 full canvas, M=0.5: forward {big['forward_s']:.2f} s"
          f", forward+backward {big['forward_backward_s']:.2f} s (resize to "
          f"1080x1920: {big['resize_to_half_forward_s']:.2f} s); peak TF "
          f"memory {big['forward_tf_peak_mb']:.0f} MB forward, "
          f"{big['forward_backward_tf_peak_mb']:.0f} MB with backward "
          f"(input {big['input_mb']:.0f} MB); peak RSS "
          f"{big['forward_backward_peak_rss_mb']:.0f} MB (after start-up "
          f"{big['rss_before_mb']:.0f} MB)")
  results["load_average_end"] = os.getloadavg()
  _io.atomic_write_text(FLAGS.output, json.dumps(results, indent=1) + "\n")
  logging.info("Wrote %s", FLAGS.output)


if __name__ == "__main__":
  app.run(main)
