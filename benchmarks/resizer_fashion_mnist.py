r"""Small-scale reproduction of Table 4 on Fashion-MNIST (Talebi & Milanfar).

Fashion-MNIST (the labelled set always present, docs/design_notes.md §2) is enlarged to the
resizer's input resolution and classified at a reduced output resolution,
with the learned resizer (Fig. 3, n=16, r=1) against the bilinear and
bicubic baselines, same backbone, same data, same optimiser budget, several
seeds. Two configurations: 56 -> 28 (28x28 originals enlarged 2x, then
resized back to 28) and 28 -> 14 (originals resized to 14).

Backbone: `SmallCNN(width=16)` from scratch (4 conv-BN-ReLU layers + GAP;
a full ImageNet backbone does not train in minutes on two CPU cores).
Training as Sec. 4 (SGD momentum 0.9, lr 0.05, exponential decay 0.94,
label smoothing 0.1), except that the decay comes every 0.1 epoch instead of
every 2 (`--decay_epochs`) so that 6 epochs anneal; batch 64, 10000
class-balanced training images, the full 10000-image test set.

Writes a JSON with every run, a PNG of what the resizers produce (like
Fig. 4-5) and prints mean +- std test error side by side.

  python -m benchmarks.resizer_fashion_mnist \
      --output=benchmarks/results/resizer_fashion_mnist.json \
      --figure=docs/images/resizer_fashion_mnist.png
"""
import json
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from resizer_tf import _io
from resizer_tf import models
from resizer_tf.models import training

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "benchmarks/results/resizer_fashion_mnist.json",
                    "JSON results.")
flags.DEFINE_string("figure", "docs/images/resizer_fashion_mnist.png",
                    "PNG of resized examples ('' to skip).")
flags.DEFINE_list("configs", ["56:28", "28:14"], "input:output sides.")
flags.DEFINE_list("resizers", ["learned", "bilinear", "bicubic"], "Resizers.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (init, shuffle, subset).")
flags.DEFINE_integer("train_subset", 10000,
                     "Class-balanced training images per run.")
flags.DEFINE_integer("test_subset", None, "Test images (None: all 10000).")
flags.DEFINE_integer("epochs", 6, "Epochs per run.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("width", 16, "SmallCNN width.")
flags.DEFINE_float("learning_rate", 0.05, "Sec. 4: 0.05 from scratch.")
flags.DEFINE_float("decay_epochs", 0.1,
                   "Decay 0.94 every this many epochs. Sec. 4 says 2, meant "
                   "for long ImageNet runs; in a 6-epoch run that leaves the "
                   "rate at 0.04 and the final weights noisy, so the "
                   "schedule is compressed (0.94^60: ends at 0.0012).")
flags.DEFINE_integer("num_examples", 6, "Test images in the figure.")


def run_one(resizer, input_side, output_side, seed):
  """Trains one configuration; returns (record, resized example images)."""
  run = training.train_fashion_mnist_classifier(
      resizer, input_side, output_side, seed, batch_size=FLAGS.batch_size,
      train_subset=FLAGS.train_subset, test_subset=FLAGS.test_subset,
      epochs=FLAGS.epochs, width=FLAGS.width,
      learning_rate=FLAGS.learning_rate, decay_epochs=FLAGS.decay_epochs)
  model, result = run.model, run.test_results
  examples = next(iter(run.test.unbatch().batch(FLAGS.num_examples)))[0]
  resized = models.resized_images_model(model)(examples, training=False)
  layer = model.get_layer("resizer")
  record = {
      "resizer": resizer, "input": input_side, "output": output_side,
      "seed": seed, "test_top1_error": float(result["top1_error"]),
      "test_top5_error": float(result["top5_error"]),
      "test_loss": float(result["loss"]),
      "final_train_loss": float(run.history.history["loss"][-1]),
      "flops_per_image": models.count_flops(model),
      "resizer_paper_parameters": (layer.paper_parameter_count()
                                   if resizer == "learned" else 0),
      "train_seconds": round(run.train_seconds, 1),
      "train_examples": run.train_examples,
      "test_examples": run.test_examples,
  }
  logging.info("%s", record)
  return record, np.asarray(examples), np.asarray(resized)


def summarize(records):
  """Mean and std (ddof=1) of the test errors per configuration."""
  table = {}
  for r in records:
    key = f"{r['input']}->{r['output']} {r['resizer']}"
    table.setdefault(key, []).append(r)
  summary = {}
  for key, rs in table.items():
    top1 = np.array([r["test_top1_error"] for r in rs])
    top5 = np.array([r["test_top5_error"] for r in rs])
    summary[key] = {
        "top1_error_mean": float(top1.mean()),
        "top1_error_std": float(top1.std(ddof=1)) if top1.size > 1 else 0.0,
        "top5_error_mean": float(top5.mean()),
        "top5_error_std": float(top5.std(ddof=1)) if top5.size > 1 else 0.0,
        "flops_per_image": rs[0]["flops_per_image"],
        "resizer_paper_parameters": rs[0]["resizer_paper_parameters"],
        "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
        "seeds": len(rs)}
  return summary


def save_figure(examples, path):
  """Rows: test images; columns: input, each resizer, |learned - bilinear|.

  Channel 0 is shown (Fashion-MNIST is grey, repeated to RGB).
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  configs = sorted(examples, key=lambda c: -c[0])
  columns = []
  for config in configs:
    inputs, resized = examples[config]
    columns.append((f"input {config[0]}x{config[0]}", inputs))
    for name in FLAGS.resizers:
      images = resized[name]
      title = f"{name} {config[1]}x{config[1]}"
      if name == "learned":
        # Its output is unbounded; show each image min-max scaled.
        low = images.min(axis=(1, 2, 3), keepdims=True)
        high = images.max(axis=(1, 2, 3), keepdims=True)
        images = (images - low) / np.maximum(high - low, 1e-6) * 255
        title += " (min-max)"
      columns.append((title, images))
    if "learned" in resized and "bilinear" in resized:
      diff = np.abs(resized["learned"] - resized["bilinear"])
      columns.append(("|learned - bilinear|", diff / max(diff.max(), 1e-6)
                      * 255))
  rows = FLAGS.num_examples
  fig, axes = plt.subplots(rows, len(columns),
                           figsize=(1.3 * len(columns), 1.3 * rows))
  for j, (title, images) in enumerate(columns):
    for i in range(rows):
      ax = axes[i, j]
      ax.imshow(np.clip(images[i, ..., 0], 0, 255), cmap="gray", vmin=0,
                vmax=255, interpolation="nearest")
      ax.set_xticks([])
      ax.set_yticks([])
      if i == 0:
        ax.set_title(title, fontsize=6)
  fig.tight_layout()
  _io.save_figure(fig, path, dpi=150)


def main(argv):
  del argv
  start = time.time()
  records, examples = [], {}
  configs = [tuple(int(v) for v in c.split(":")) for c in FLAGS.configs]
  for seed in [int(s) for s in FLAGS.seeds]:
    for config in configs:
      for resizer in FLAGS.resizers:
        record, inputs, resized = run_one(resizer, *config, seed)
        records.append(record)
        if seed == int(FLAGS.seeds[0]):
          examples.setdefault(config, (inputs, {}))[1][resizer] = resized
  summary = summarize(records)
  total = time.time() - start
  print(f"{'configuration':<24} {'top-1 error':>16} {'top-5 error':>16} "
        f"{'MFLOPs':>8} {'train s':>8}")
  for key, s in summary.items():
    print(f"{key:<24} {100 * s['top1_error_mean']:7.2f} +- "
          f"{100 * s['top1_error_std']:4.2f}% {100 * s['top5_error_mean']:7.2f}"
          f" +- {100 * s['top5_error_std']:4.2f}% "
          f"{s['flops_per_image'] / 1e6:8.2f} {s['train_seconds_mean']:8.1f}")
  for config in configs:
    base = summary.get(f"{config[0]}->{config[1]} bilinear")
    learned = summary.get(f"{config[0]}->{config[1]} learned")
    if base and learned:
      print(f"{config[0]}->{config[1]}: learned / bilinear top-1 error = "
            f"{learned['top1_error_mean'] / base['top1_error_mean']:.3f}")
  print(f"total wall time {total:.0f} s")
  settings = {k: FLAGS[k].value for k in (
      "configs", "resizers", "seeds", "train_subset", "test_subset", "epochs",
      "batch_size", "width", "learning_rate", "decay_epochs")}
  _io.atomic_write_text(FLAGS.output, json.dumps(
      {"settings": settings, "summary": summary, "runs": records,
       "wall_seconds": round(total, 1)}, indent=2))
  if FLAGS.figure:
    save_figure(examples, FLAGS.figure)


if __name__ == "__main__":
  app.run(main)
