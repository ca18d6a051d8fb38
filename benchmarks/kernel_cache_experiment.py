r"""One-off experiment (docs/compression.md, Speed): tfc RDFT kernels rebuilt
per call vs cached as constants, interleaved, 1 thread; prints JSON per codec.

  RUNS=5 python -m benchmarks.kernel_cache_experiment balle2017 balle2018_hyperprior

Pokes the private `SignalConv2D._kernel_parameter`; not a package change.
"""
import os, sys, time, statistics, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import tensorflow_compression as tfc
from absl import flags
flags.FLAGS(["x"])
from benchmarks import codec_speed
from resizer_tf import resize_compress, serving
image = codec_speed.test_image()
res = {}
for name in sys.argv[1:]:
  fns = {}; files = {}
  for variant in ("rdft per call", "kernel cached"):
    tf.keras.utils.set_random_seed(0)
    m = resize_compress.ResizeCompress(name, resize=False)
    m(tf.zeros([1, 64, 64, 3]))
    if variant == "kernel cached":
      n = 0
      for l in m.codec.submodules:
        if isinstance(l, tfc.SignalConv2D) and not isinstance(l._kernel_parameter, tf.Variable):
          l._kernel_parameter = tf.Variable(l.kernel, trainable=False); n += 1
      print(name, "cached kernels:", n, flush=True)
    enc, dec, bpp, _ = codec_speed.coding_functions(m, image)
    files[variant] = enc()
    fns[(variant, "encode")] = enc; fns[(variant, "decode")] = dec
  same = files["rdft per call"] == files["kernel cached"]
  t = codec_speed.time_interleaved(fns, int(os.environ.get("RUNS", 5)))
  r = dict(bytes_identical=same)
  for op in ("encode", "decode"):
    r[op] = {v: statistics.median(t[(v, op)]) for v in ("rdft per call", "kernel cached")}
    r[op + "_ratio"] = codec_speed.ratio_spread(t[("kernel cached", op)], t[("rdft per call", op)])
  res[name] = r
  print(json.dumps({name: r}), flush=True)
