r"""Encode/decode time per codec, with and without Resize (Table IV layout).

  python -m benchmarks.codec_speed --output=results/codec_speed.json

For each codec: the plain model, and Resize-Compress at M forced to 1 (same
codec work, so the ratio is the cost of ResizeParamNet, filters and warps)
and at M = --scale (0.75 by default; give --models to time trained models at
their own M). Plain and Resize variants are called round by round (interleaved), and
each ratio is taken within a round; medians and min-max over --runs rounds
of the compiled `compress` and `decompress` functions (CPU, model loading excluded, as in Table IV) on a
768x512 real photo. Models are randomly initialised at the paper's filter
counts unless --models names trained SavedModels/model dirs.

--threads (default 1) sets TF's intra- and inter-op pools (0: TF's default).
With --compressai_python=PATH (a virtualenv's python with torch and
compressai, see benchmarks/compressai_reference.py; never a dependency of the
package), each round also runs that script once in a subprocess at the same
thread count on the same image, and the plain row of each codec gets
ours/CompressAI ratios per round (min/median/max). With --parts, the
transforms are timed alone (ours and CompressAI's), to split a codec's time
into transforms and entropy coding.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from resizer_tf import _io
from resizer_tf import codecs
from resizer_tf import images
from resizer_tf import resize_compress
from resizer_tf import serving

FLAGS = flags.FLAGS
flags.DEFINE_list("codecs", list(codecs.CODEC_NAMES), "Codecs to time.")
flags.DEFINE_integer("runs", 5, "Timed runs per function (median).")
flags.DEFINE_float("scale", 0.75, "M for the 'own M' rows of untrained models.")
flags.DEFINE_string("image", None, "Image file (default: a built-in photo "
                    "area-resized and cropped to 768x512).")
flags.DEFINE_string("output", "results/codec_speed.json", "JSON results.")
flags.DEFINE_integer("threads", 1, "TF intra-op and inter-op threads (and "
                     "torch's for --compressai_python); 0: TF's default.")
flags.DEFINE_string("compressai_python", "", "Python of a virtualenv with "
                    "torch and compressai; empty: no CompressAI reference.")
flags.DEFINE_integer("compressai_calls", 1, "compress/decompress calls per "
                     "round in the CompressAI subprocess (after a warm-up).")
flags.DEFINE_list("compressai_arch", [], "Overrides of the reference "
                  "architecture, codec=arch:quality (default: "
                  "REFERENCE_ARCHS).")
flags.DEFINE_boolean("resize_variants", True, "Also time the Resize rows.")
flags.DEFINE_boolean("components", True, "Time the Resize components.")
flags.DEFINE_boolean("parts", False, "Time each codec's transforms alone.")

# CompressAI architecture and quality with the same N/M as our defaults:
# Ballé18 N=128, M=192 = bmshj2018-* quality 1-5; Cheng20 N=128 with
# attention = cheng2020-attn quality 1-3 (CompressAI's uses one Gaussian
# where ours has a 3-Gaussian mixture); Ballé17 (bls2017 layout, N=M=128) has
# no zoo entry, so the reference script builds it from CompressAI's parts.
REFERENCE_ARCHS = {
    "balle2017": ("bls2017", 1),
    "balle2018_factorized": ("bmshj2018-factorized", 1),
    "balle2018_hyperprior": ("bmshj2018-hyperprior", 1),
    "cheng2020": ("cheng2020-attn", 1),
}
REFERENCE_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "compressai_reference.py")


def test_image():
  if FLAGS.image:
    return images.read_image(FLAGS.image)
  photo = images.builtin_photo("hubble_deep_field")
  x = tf.image.resize(photo[None].astype(np.float32), (768, 881), "area")[0]
  return np.asarray(tf.round(x[128:640, 56:824]), np.uint8)


def median_ms(fn, runs):
  fn()  # Trace and warm up.
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    fn()
    times.append(1000 * (time.perf_counter() - start))
  return statistics.median(times)


def coding_functions(model, image):
  """(encode fn, decode fn, bpp, M) of a model, traced and warmed up."""
  module = serving.CompressionModule(model)
  model.codec.prepare_for_coding()
  image = tf.constant(image)
  out = module.compress(image)
  file = out["file"]
  encode = lambda: module.compress(image)["file"].numpy()
  decode = lambda: module.decompress(file)["image"].numpy()
  encode()
  decode()
  h, w = image.shape[:2]
  return encode, decode, 8 * len(file.numpy()) / (h * w), float(
      out["scale"][0])


def time_interleaved(functions, runs, external=None):
  """{label: [ms per round]}: one call of each function per round, in turn,
  so a change of machine load hits every variant of a round alike.

  `external`, if given, is called once per round after ours and returns
  {label: ms} to append (e.g. the CompressAI subprocess)."""
  times = {label: [] for label in functions}
  for i in range(runs):
    for label, fn in functions.items():
      start = time.perf_counter()
      fn()
      times[label].append(1000 * (time.perf_counter() - start))
    if external is not None:
      for label, ms in external().items():
        times.setdefault(label, []).append(ms)
    print(f"  round {i + 1}/{runs} done", flush=True)
  return times


def _spread(values):
  return dict(min=min(values), median=statistics.median(values),
              max=max(values))


def ratio_spread(ours, theirs):
  """min/median/max of per-round ratios ours[i] / theirs[i]."""
  if len(ours) != len(theirs) or not ours:
    raise ValueError(f"need equal non-empty rounds; got {len(ours)} and "
                     f"{len(theirs)}")
  return _spread([a / b for a, b in zip(ours, theirs)])


def reference_archs(overrides=()):
  """REFERENCE_ARCHS with `codec=arch:quality` overrides applied."""
  archs = dict(REFERENCE_ARCHS)
  for item in overrides:
    codec, _, rest = item.partition("=")
    arch, _, quality = rest.partition(":")
    if not codec or not arch:
      raise ValueError(f"expected codec=arch[:quality], got {item!r}")
    archs[codec] = (arch, int(quality or 1))
  return archs


def run_reference(python, arch, quality, threads, image_npy, calls,
                  parts=False):
  """Runs compressai_reference.py once; its JSON as a dict."""
  env = dict(os.environ, OMP_NUM_THREADS=str(threads),
             MKL_NUM_THREADS=str(threads))
  cmd = [python, REFERENCE_SCRIPT, f"--arch={arch}", f"--quality={quality}",
         f"--threads={threads}", f"--calls={calls}",
         f"--image_npy={image_npy}"] + (["--parts"] if parts else [])
  out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                       text=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def transform_times(codec, image, runs):
  """Forward ms of each transform of a codec alone (g_a, g_s, h_a, h_s)."""
  x = tf.constant(image[None], tf.float32) / 255.
  y = codec.analysis(x)
  fns = {"g_a": tf.function(lambda: codec.analysis(x)),
         "g_s": tf.function(lambda: codec.synthesis(y))}
  if hasattr(codec, "hyper_analysis"):
    hin = tf.abs(y) if codec.codec_name.startswith("balle") else y
    z = codec.hyper_analysis(hin)
    fns["h_a"] = tf.function(lambda: codec.hyper_analysis(hin))
    fns["h_s"] = tf.function(lambda: codec.hyper_synthesis(z))
  return {k: median_ms(lambda f=f: f().numpy(), runs)
          for k, f in fns.items()}


def component_times(image, runs):
  """Forward time of each Resize-Compress component on the full image."""
  from resizer_tf import layers  # pylint: disable=g-import-not-at-top
  x = tf.constant(image[None], tf.float32) / 255.
  pre, net, warp = layers.PreFilter(), layers.ResizeParamNet(), \
      layers.BicubicWarp()
  parts = {
      "pre_filter (= post_filter)": tf.function(lambda: pre(x)),
      "ResizeParamNet": tf.function(lambda: net(x, training=False)),
      "warp M=1": tf.function(lambda: warp(x, 1.0)),
      "warp M=0.75 (cropped)": tf.function(
          lambda: warp(x, 0.75, output_size=(384, 576))),
  }
  return {k: median_ms(lambda f=f: f().numpy(), runs)
          for k, f in parts.items()}


def main(argv):
  del argv
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
  load_before = os.getloadavg()
  image = test_image()
  components = {}
  if FLAGS.components:
    components = component_times(image, FLAGS.runs)
  for k, v in components.items():
    print(f"component {k:28s} {v:8.1f} ms", flush=True)
  archs = reference_archs(FLAGS.compressai_arch)
  image_npy = None
  if FLAGS.compressai_python:
    fd, image_npy = tempfile.mkstemp(suffix=".npy")
    os.close(fd)
    np.save(image_npy, image)
  rows, references, parts = [], [], {}
  for name in FLAGS.codecs:
    tf.keras.utils.set_random_seed(0)
    variants = [("plain", dict(resize=False))]
    if FLAGS.resize_variants:
      variants += [("resize M=1", dict(min_scale=1.0, max_scale=1.0)),
                   (f"resize M={FLAGS.scale:g}",
                    dict(min_scale=FLAGS.scale, max_scale=FLAGS.scale))]
    functions, info = {}, {}
    for label, kwargs in variants:
      model = resize_compress.ResizeCompress(name, **kwargs)
      model(tf.zeros([1, 64, 64, 3]))
      encode, decode, bpp, scale = coding_functions(model, image)
      functions[(label, "encode")] = encode
      functions[(label, "decode")] = decode
      info[label] = dict(bpp=bpp, scale=scale)
      if label == "plain" and FLAGS.parts:
        parts[name] = dict(ours_ms=transform_times(model.codec, image,
                                                   FLAGS.runs))
    external, ref_runs = None, []
    if FLAGS.compressai_python:
      arch, quality = archs[name]

      def external(arch=arch, quality=quality):
        ref = run_reference(FLAGS.compressai_python, arch, quality,
                            FLAGS.threads, image_npy, FLAGS.compressai_calls)
        ref_runs.append(ref)
        return {("compressai", "encode"): statistics.median(ref["encode_ms"]),
                ("compressai", "decode"): statistics.median(ref["decode_ms"])}
    times = time_interleaved(functions, FLAGS.runs, external)
    if ref_runs:
      ref = dict(codec=name, arch=arch, quality=quality,
                 threads=FLAGS.threads, calls_per_round=FLAGS.compressai_calls,
                 torch=ref_runs[0]["torch"],
                 compressai=ref_runs[0]["compressai"],
                 bpp=ref_runs[0]["bpp"])
      for op in ("encode", "decode"):
        ref[f"{op}_ms_spread"] = _spread(times[("compressai", op)])
        ref[f"{op}_ms"] = ref[f"{op}_ms_spread"]["median"]
        ref[f"ours_{op}_ms"] = statistics.median(times[("plain", op)])
        ref[f"{op}_ratio_spread"] = ratio_spread(times[("plain", op)],
                                                 times[("compressai", op)])
        ref[f"{op}_ratio"] = ref[f"{op}_ratio_spread"]["median"]
      references.append(ref)
      print(f"{name:22s} vs {arch} q{quality}: ours/CompressAI enc "
            f"x{ref['encode_ratio']:.2f} ({ref['encode_ms']:.1f} ms) dec "
            f"x{ref['decode_ratio']:.2f} ({ref['decode_ms']:.1f} ms)",
            flush=True)
      if FLAGS.parts:
        parts[name]["compressai_ms"] = {
            k: v["median"] for k, v in run_reference(
                FLAGS.compressai_python, arch, quality, FLAGS.threads,
                image_npy, 3, parts=True)["parts_ms"].items()}
    for label, _ in variants:
      r = dict(codec=name, variant=label, **info[label])
      for op in ("encode", "decode"):
        ms = times[(label, op)]
        base = times[("plain", op)]
        r[f"{op}_ms"] = statistics.median(ms)
        r[f"{op}_ms_spread"] = _spread(ms)
        # Ratios per round (same load), then their spread.
        r[f"{op}_ratio_spread"] = _spread([a / b for a, b in zip(ms, base)])
        r[f"{op}_ratio"] = r[f"{op}_ratio_spread"]["median"]
      rows.append(r)
      print(f"{name:22s} {label:12s} enc {r['encode_ms']:9.1f} ms "
            f"(x{r['encode_ratio']:.2f})  dec {r['decode_ms']:9.1f} ms "
            f"(x{r['decode_ratio']:.2f})", flush=True)
  lines = ["| model | enc (CPU) ms | dec (CPU) ms | enc ratio (min-max) | "
           "dec ratio (min-max) |",
           "| --- | --- | --- | --- | --- |"]
  for r in rows:
    e, d = r["encode_ratio_spread"], r["decode_ratio_spread"]
    lines.append(f"| {r['codec']} {r['variant']} | {r['encode_ms']:.1f} | "
                 f"{r['decode_ms']:.1f} | {e['median']:.2f} ({e['min']:.2f}-"
                 f"{e['max']:.2f}) | {d['median']:.2f} ({d['min']:.2f}-"
                 f"{d['max']:.2f}) |")
  if references:
    lines += ["", "| codec | CompressAI | ours enc ms | CompressAI enc ms | "
              "enc ratio (min-max) | ours dec ms | CompressAI dec ms | "
              "dec ratio (min-max) |", "| --- | --- | --- | --- | --- | --- "
              "| --- | --- |"]
    for r in references:
      e, d = r["encode_ratio_spread"], r["decode_ratio_spread"]
      lines.append(
          f"| {r['codec']} | {r['arch']} q{r['quality']} | "
          f"{r['ours_encode_ms']:.1f} | {r['encode_ms']:.1f} | "
          f"{e['median']:.2f} ({e['min']:.2f}-{e['max']:.2f}) | "
          f"{r['ours_decode_ms']:.1f} | {r['decode_ms']:.1f} | "
          f"{d['median']:.2f} ({d['min']:.2f}-{d['max']:.2f}) |")
  table = "\n".join(lines)
  print(table)
  if parts:
    print(json.dumps(parts, indent=1))
  if image_npy:
    os.remove(image_npy)
  _io.atomic_write_text(FLAGS.output, json.dumps(dict(
      image_shape=list(image.shape), runs=FLAGS.runs, rows=rows,
      load_average=os.getloadavg(), load_average_before=load_before,
      components_ms=components, compressai=references,
      transform_parts_ms=parts, command=" ".join(sys.argv),
      device="CPU", threads=FLAGS.threads,
      intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads()),
      indent=1))
  print(f"Wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
