r"""One-off per-layer profile (docs/compression.md, Speed), 1 thread: each
SignalConv2D's call, its `kernel` property alone, and the same convolution
with a constant kernel.

  python -m benchmarks.layer_profile balle2017 balle2018_hyperprior
"""
import os, sys, time, statistics, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from resizer_tf import codecs

def ms(f, n=5):
  f(); t = []
  for _ in range(n):
    s = time.perf_counter(); f(); t.append(1000 * (time.perf_counter() - s))
  return round(statistics.median(t), 2)

out = {}
for name in sys.argv[1:]:
  tf.keras.utils.set_random_seed(0)
  c = codecs.make_codec(name)
  c(tf.zeros([1, 64, 64, 3]))
  mods = [(c.analysis, tf.random.uniform([1, 512, 768, 3]))]
  if hasattr(c, "hyper_analysis"):
    mods.append((c.hyper_analysis, tf.abs(tf.random.normal([1, 32, 48, c.num_latent]))))
  mods.append((c.synthesis, tf.random.normal([1, 32, 48, c.num_latent])))
  for mod, x in mods:
    for layer in mod.layers:
      k = tf.constant(layer.kernel)
      kf = tf.function(lambda l=layer: l.kernel)
      lf = tf.function(lambda l=layer, x=x: l(x))
      r = dict(layer=ms(lambda: lf().numpy()), kernel_only=ms(lambda: kf().numpy()))
      if layer.corr:
        pad = (layer.kernel_support[0] - 1) // 2
        s = layer.strides_down[0]
        expl = tf.function(lambda x=x, k=k, s=s, p=pad: tf.nn.conv2d(x, k, s, [[0, 0], [p, p], [p, p], [0, 0]]))
        padv = tf.function(lambda x=x, k=k, s=s, p=pad: tf.nn.conv2d(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]), k, s, "VALID"))
        r.update(conv_explicit_const=ms(lambda: expl().numpy()), pad_valid_const=ms(lambda: padv().numpy()))
      out[f"{name} {mod.name}/{layer.name} in{tuple(x.shape)} k{tuple(k.shape)}"] = r
      x = lf()
      print(list(out.items())[-1], flush=True)
print(json.dumps(out, indent=1))
