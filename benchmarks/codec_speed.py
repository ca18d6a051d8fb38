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


def time_interleaved(functions, runs):
  """{label: [ms per round]}: one call of each function per round, in turn,
  so a change of machine load hits every variant of a round alike."""
  times = {label: [] for label in functions}
  for _ in range(runs):
    for label, fn in functions.items():
      start = time.perf_counter()
      fn()
      times[label].append(1000 * (time.perf_counter() - start))
  return times


def _spread(values):
  return dict(min=min(values), median=statistics.median(values),
              max=max(values))


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
  image = test_image()
  components = component_times(image, FLAGS.runs)
  for k, v in components.items():
    print(f"component {k:28s} {v:8.1f} ms", flush=True)
  rows = []
  for name in FLAGS.codecs:
    tf.keras.utils.set_random_seed(0)
    variants = [("plain", dict(resize=False)),
                ("resize M=1", dict(min_scale=1.0, max_scale=1.0)),
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
    times = time_interleaved(functions, FLAGS.runs)
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
  table = "\n".join(lines)
  print(table)
  _io.atomic_write_text(FLAGS.output, json.dumps(dict(
      image_shape=list(image.shape), runs=FLAGS.runs, rows=rows,
      load_average=os.getloadavg(),
      components_ms=components,
      device="CPU", threads=tf.config.threading.get_intra_op_parallelism_threads()),
      indent=1))
  print(f"Wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
