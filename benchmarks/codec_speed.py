r"""Encode/decode time per codec, with and without Resize (Table IV layout).

  python -m benchmarks.codec_speed --output=results/codec_speed.json

For each codec: the plain model, and Resize-Compress at M forced to 1 (same
codec work, so the ratio is the cost of ResizeParamNet, filters and warps)
and at M = --scale (0.75 by default; give --models to time trained models at
their own M). Times are medians over --runs of the compiled `compress` and
`decompress` functions (CPU, model loading excluded, as in Table IV) on a
768x512 real photo. Models are randomly initialised at the paper's filter
counts unless --models names trained SavedModels/model dirs.
"""
import json
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


def time_model(model, image, runs):
  module = serving.CompressionModule(model)
  model.codec.prepare_for_coding()
  image = tf.constant(image)
  out = module.compress(image)
  file = out["file"]
  enc = median_ms(lambda: module.compress(image)["file"].numpy(), runs)
  dec = median_ms(lambda: module.decompress(file)["image"].numpy(), runs)
  h, w = image.shape[:2]
  return dict(encode_ms=enc, decode_ms=dec,
              bpp=8 * len(file.numpy()) / (h * w),
              scale=float(out["scale"][0]))


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
    result = {}
    for label, kwargs in variants:
      model = resize_compress.ResizeCompress(name, **kwargs)
      model(tf.zeros([1, 64, 64, 3]))
      result[label] = time_model(model, image, FLAGS.runs)
      print(f"{name:22s} {label:12s} enc {result[label]['encode_ms']:9.1f} ms"
            f"  dec {result[label]['decode_ms']:9.1f} ms", flush=True)
    plain = result["plain"]
    for label, r in result.items():
      r.update(codec=name, variant=label,
               encode_ratio=r["encode_ms"] / plain["encode_ms"],
               decode_ratio=r["decode_ms"] / plain["decode_ms"])
      rows.append(r)
  lines = ["| model | enc (CPU) ms | dec (CPU) ms | enc ratio | dec ratio |",
           "| --- | --- | --- | --- | --- |"]
  for r in rows:
    lines.append(f"| {r['codec']} {r['variant']} | {r['encode_ms']:.1f} | "
                 f"{r['decode_ms']:.1f} | {r['encode_ratio']:.2f} | "
                 f"{r['decode_ratio']:.2f} |")
  table = "\n".join(lines)
  print(table)
  _io.atomic_write_text(FLAGS.output, json.dumps(dict(
      image_shape=list(image.shape), runs=FLAGS.runs, rows=rows,
      components_ms=components,
      device="CPU", threads=tf.config.threading.get_intra_op_parallelism_threads()),
      indent=1))
  print(f"Wrote {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
