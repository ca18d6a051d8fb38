r"""Training throughput: steps/s, achieved GFLOP/s, fraction of conv peak.

  python -m benchmarks.train_speed --output=benchmarks/results/train_speed.json

Times the compiled training step (what `Model.fit` runs) of
  * Ballé17 (N = 128) plain and + Resize at 128 and 256 px, batch 8;
  * Ballé18-Hyperprior plain and + Resize at 128 px, batch 8;
  * Ballé17 plain and + Resize at 128 px under the "mixed_bfloat16" policy
    (`--precision` of the campaign's refine stage), against float32;
  * LearnedResizer + MobileNet-v2 and bilinear + MobileNet-v2, 448 -> 224,
    batch 8 (the resizer of Talebi & Milanfar, Fig. 3, n = 16, r = 1);
and, in the same run, the machine's reachable peak: a bare `tf.nn.conv2d`
forward + backward for shapes typical of these networks.

Models are timed round-robin (one block of --steps steps of each model per
round, --rounds rounds), so load changes hit every model alike; each pair's
time ratio (Resize / plain, learned / bilinear) is computed within a round,
and min / median / max over rounds are reported with the load average.
Training FLOPs are 3 x the forward FLOPs of `models.count_flops` (backward
~ 2 x forward, the usual convention). Results are written after every round.
"""
import json
import os
import statistics
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from resizer_tf import _io
from resizer_tf import models
from resizer_tf.training import compression

_OUTPUT = flags.DEFINE_string(
    "output", "benchmarks/results/train_speed.json", "JSON results.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Round-robin rounds.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps per model per round.")
_ONLY = flags.DEFINE_list("only", None, "Subset of model keys.")
_BATCH = flags.DEFINE_integer("batch", 8, "Batch size.")
_PROFILE = flags.DEFINE_bool(
    "profile", True, "Also time each component of a Resize training step.")

# (key, kind, kwargs); pairs are (numerator, denominator) keys.
MODELS = (
    ("balle2017_128", "codec", dict(codec="balle2017", resize=False, size=128)),
    ("balle2017+resize_128", "codec",
     dict(codec="balle2017", resize=True, size=128)),
    ("balle2017_256", "codec", dict(codec="balle2017", resize=False, size=256)),
    ("balle2017+resize_256", "codec",
     dict(codec="balle2017", resize=True, size=256)),
    ("hyperprior_128", "codec",
     dict(codec="balle2018_hyperprior", resize=False, size=128)),
    ("hyperprior+resize_128", "codec",
     dict(codec="balle2018_hyperprior", resize=True, size=128)),
    ("balle2017_128_xla", "codec",
     dict(codec="balle2017", resize=False, size=128, jit_compile=True)),
    ("balle2017_128_bf16", "codec",
     dict(codec="balle2017", resize=False, size=128,
          precision="mixed_bfloat16")),
    ("balle2017+resize_128_bf16", "codec",
     dict(codec="balle2017", resize=True, size=128,
          precision="mixed_bfloat16")),
    ("mobilenet_v2_bilinear", "vision", dict(resizer="bilinear")),
    ("mobilenet_v2_learned", "vision", dict(resizer="learned")),
)
PAIRS = (("balle2017+resize_128", "balle2017_128"),
         ("balle2017_128_xla", "balle2017_128"),
         ("balle2017_128_bf16", "balle2017_128"),
         ("balle2017+resize_128_bf16", "balle2017+resize_128"),
         ("balle2017+resize_256", "balle2017_256"),
         ("hyperprior+resize_128", "hyperprior_128"),
         ("mobilenet_v2_learned", "mobilenet_v2_bilinear"))
# (kernel, stride, c_in, c_out, size): PreFilter/ResizeParamNet-like and
# codec-like layers.
PEAK_SHAPES = ((3, 1, 32, 32, 256), (5, 2, 128, 128, 128))


def _conv_peak(batch, rounds=5):
  """GFLOP/s of a bare conv2d forward + backward (input and kernel grads)."""
  results = []
  for k, s, c_in, c_out, size in PEAK_SHAPES:
    x = tf.random.normal([batch, size, size, c_in])
    w = tf.Variable(tf.random.normal([k, k, c_in, c_out]) * 0.05)

    @tf.function
    def step(x=x, w=w, s=s):
      with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.nn.conv2d(x, w, s, "SAME"))
      return tape.gradient(loss, [x, w])
    out = size // s
    flops = 3 * 2 * batch * out * out * k * k * c_in * c_out
    times = _times(step, rounds)
    results.append({"shape": f"{k}x{k}/{s} {c_in}->{c_out} at {size}^2, "
                             f"batch {batch}",
                    "gflops_per_s_best": flops / min(times) / 1e9,
                    "gflops_per_s_median": flops / statistics.median(times)
                                           / 1e9})
  return results


def _times(fn, n):
  fn()
  fn()
  out = []
  for _ in range(n):
    start = time.perf_counter()
    fn()
    out.append(time.perf_counter() - start)
  return out


def _build(kind, kw, batch):
  """(step fn, forward FLOPs per image)."""
  if kind == "codec":
    size = kw["size"]
    x = tf.random.uniform([batch, size, size, 3], seed=1)
    with compression.dtype_policy(kw.get("precision", "float32")):
      model = compression.build_model(kw["codec"], resize=kw["resize"])
      model(x[:1])
    # XLA (jit_compile) is timed for the plain codec only: it has no CPU
    # kernel for the warp's SparseTensorDenseMatMul.
    step = tf.function(model.train_step,
                       jit_compile=kw.get("jit_compile", False))
    flops = models.count_flops(
        lambda im: model(im, training=False)["x_hat"], (size, size, 3))
    return (lambda: step(x)), flops
  model = models.build_vision_model(
      "mobilenet_v2", num_classes=1000, input_size=(448, 448),
      output_size=(224, 224), resizer=kw["resizer"])
  model.compile(tf.keras.optimizers.SGD(0.005, momentum=0.9),
                tf.keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
  x = tf.random.uniform([batch, 448, 448, 3], maxval=255.)
  y = tf.one_hot(tf.range(batch) % 1000, 1000)
  step = tf.function(model.train_step)
  flops = models.count_flops(model, (448, 448, 3))
  return (lambda: step((x, y))), flops


def component_profile(batch, size, rounds):
  """Forward + backward time of each part of a Ballé17 + Resize training
  step (interleaved rounds), to show where a step's time goes."""
  model = compression.build_model("balle2017", resize=True)
  x = tf.random.uniform([batch, size, size, 3], seed=2)
  model(x[:1])
  scale = tf.fill([batch], 0.6)
  half = tf.random.uniform([batch, size, size, 3], seed=3)

  def grad_fn(call, inputs):
    @tf.function
    def run():
      with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = call(inputs)
        loss = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32))
                         for o in tf.nest.flatten(out)])
      return tape.gradient(loss, [inputs] + model.trainable_variables,
                           unconnected_gradients="zero")
    return run

  parts = {
      "PreFilter": grad_fn(model.pre_filter, x),
      "PostFilter": grad_fn(model.post_filter, x),
      "ResizeParamNet (BatchNorm, training)": grad_fn(
          lambda v: model.scale_net(v, training=True), x),
      "warp M=0.6 (full canvas)": grad_fn(lambda v: model.warp(v, scale), x),
      "warp 1/M": grad_fn(lambda v: model.warp(v, 1. / scale), half),
      "codec (g_a, noise, prior, g_s)": grad_fn(
          lambda v: model.codec(v, training=True), x),
  }
  step = tf.function(model.train_step)
  parts["whole train step (incl. 3 Adam updates)"] = lambda: step(x)
  times = {k: [] for k in parts}
  for _ in range(rounds):
    for k, fn in parts.items():
      times[k].append(statistics.median(_times(fn, 2)))
  return {k: {"median_s": statistics.median(v), "min_s": min(v),
              "max_s": max(v)} for k, v in times.items()}


def main(argv):
  del argv
  batch = _BATCH.value
  keys = [m for m in MODELS if not _ONLY.value or m[0] in _ONLY.value]
  results = {"command": "python -m benchmarks.train_speed " + " ".join(
      f"--{f}={v}" for f, v in (("rounds", _ROUNDS.value),
                                ("steps", _STEPS.value),
                                ("batch", batch))) + (
                                    f" --only={','.join(_ONLY.value)}"
                                    if _ONLY.value else "") + (
                                    "" if _PROFILE.value else " --noprofile"),
             "tensorflow": tf.__version__, "cpu_count": os.cpu_count(),
             "load_avg_start": os.getloadavg()}
  results["conv_peak"] = _conv_peak(batch)
  if _PROFILE.value:
    results["components_balle2017+resize_128"] = component_profile(
        batch, 128, _ROUNDS.value)
    for k, v in results["components_balle2017+resize_128"].items():
      print(f"component {k:42s} {v['median_s'] * 1000:8.1f} ms")
  peak = max(p["gflops_per_s_best"] for p in results["conv_peak"])
  results["peak_gflops_per_s"] = peak
  steps = {}
  flops = {}
  for key, kind, kw in keys:
    steps[key], flops[key] = _build(kind, kw, batch)
    steps[key]()  # Trace.
  times = {key: [] for key in steps}
  for r in range(_ROUNDS.value):
    for key in steps:
      per_step = _times(steps[key], _STEPS.value)
      times[key].append(statistics.median(per_step))
    _write(results, times, flops, peak, batch)
    print(f"round {r + 1}/{_ROUNDS.value} done", flush=True)
  results = _write(results, times, flops, peak, batch)
  print(markdown(results))
  for key, row in results["models"].items():
    print(f"{key:24s} {row['step_s_median']:7.3f} s/step "
          f"{row['gflops_per_s']:6.1f} GFLOP/s {row['fraction_of_peak']:.2f}")
  for row in results["pairs"]:
    print(f"{row['pair']:48s} time {row['time_ratio_median']:.2f} "
          f"({row['time_ratio_min']:.2f}-{row['time_ratio_max']:.2f}) "
          f"FLOPs {row['flop_ratio']:.2f}")


def markdown(results):
  """The docs/train_speed.md tables of a results dict."""
  lines = ["| model | s/step (min-max) | steps/s | fwd GFLOP/image | "
           "GFLOP/s | of conv peak |", "| --- | --- | --- | --- | --- | --- |"]
  for key, r in results["models"].items():
    lines.append(
        f"| {key} | {r['step_s_median']:.3f} ({r['step_s_min']:.3f}-"
        f"{r['step_s_max']:.3f}) | {r['steps_per_s']:.2f} | "
        f"{r['forward_gflop_per_image']:.2f} | {r['gflops_per_s']:.1f} | "
        f"{100 * r['fraction_of_peak']:.0f} % |")
  lines += ["", "| pair | time ratio median (min-max) | FLOP ratio | "
            "time / FLOP ratio |", "| --- | --- | --- | --- |"]
  for p in results["pairs"]:
    lines.append(
        f"| {p['pair']} | {p['time_ratio_median']:.2f} "
        f"({p['time_ratio_min']:.2f}-{p['time_ratio_max']:.2f}) | "
        f"{p['flop_ratio']:.2f} | "
        f"{p['time_ratio_median'] / p['flop_ratio']:.2f} |")
  lines += ["", "| conv2d forward+backward | GFLOP/s best | median |",
            "| --- | --- | --- |"]
  for c in results["conv_peak"]:
    lines.append(f"| {c['shape']} | {c['gflops_per_s_best']:.1f} | "
                 f"{c['gflops_per_s_median']:.1f} |")
  components = results.get("components_balle2017+resize_128")
  if components:
    lines += ["", "| Ballé17 + Resize step at 128 px, batch 8: part "
              "(forward+backward) | ms median (min-max) |", "| --- | --- |"]
    for k, v in components.items():
      lines.append(f"| {k} | {1000 * v['median_s']:.0f} "
                   f"({1000 * v['min_s']:.0f}-{1000 * v['max_s']:.0f}) |")
  return "\n".join(lines)


def _write(results, times, flops, peak, batch):
  rows = {}
  for key, ts in times.items():
    if not ts:
      continue
    med = statistics.median(ts)
    train_flops = 3 * flops[key] * batch
    rows[key] = {
        "step_s_min": min(ts), "step_s_median": med, "step_s_max": max(ts),
        "steps_per_s": 1 / med, "forward_gflop_per_image": flops[key] / 1e9,
        "gflops_per_s": train_flops / med / 1e9,
        "fraction_of_peak": train_flops / med / 1e9 / peak}
  pairs = []
  for a, b in PAIRS:
    if a in rows and b in rows:
      ratios = [ta / tb for ta, tb in zip(times[a], times[b])]
      pairs.append({"pair": f"{a} / {b}",
                    "time_ratio_min": min(ratios),
                    "time_ratio_median": statistics.median(ratios),
                    "time_ratio_max": max(ratios),
                    "flop_ratio": flops[a] / flops[b]})
  results.update(models=rows, pairs=pairs, load_avg_end=os.getloadavg(),
                 rounds_done=len(next(iter(times.values()))))
  _io.atomic_write_text(_OUTPUT.value, json.dumps(results, indent=1) + "\n")
  return results


if __name__ == "__main__":
  app.run(main)
