r"""Small-scale Table 9 (Talebi & Milanfar 2021, Sec. 4.3) on Fashion-MNIST.

Table 9 classifies distorted ImageNet images after an enhancing
pre-processor: Gaussian noise (sigma 0.1), 4x down-scaling (the resizer
trained to up-scale 4x) and JPEG quality 10 (`resizer_tf.data.distortions`).
Here: Fashion-MNIST (always present), each distortion applied to every train
and test image; the learned resizer (Fig. 3, n=16, r=1) against plain
bilinear and bicubic resizing as pre-processors, same `SmallCNN` backbone
trained jointly from scratch, same data and budget, several seeds. Noise and
JPEG keep 28 -> 28 (as the paper keeps the resolution), down-scaling is
7 -> 28.

Training as Sec. 4 (SGD momentum 0.9, lr 0.05, decay 0.94, label smoothing
0.1) with the decay every `--decay_epochs` (default 0.1 epoch, as the
Fashion-MNIST Table 4 benchmark, so a short run anneals).

  nice -n 19 python -m experiments.table9_fashion_mnist \
      --output=docs/results/table9_fashion_mnist.json
"""
import json
import os
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from resizer_tf import _io
from resizer_tf import data
from resizer_tf.models import training

FLAGS = flags.FLAGS
flags.DEFINE_string("output", "docs/results/table9_fashion_mnist.json",
                    "JSON results.")
flags.DEFINE_list("distortions", ["downscale", "noise", "jpeg"],
                  "Table 9 columns (data/distortions.py specs).")
flags.DEFINE_list("resizers", ["learned", "bilinear", "bicubic"], "Resizers.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (init, shuffle, subset).")
flags.DEFINE_integer("train_subset", 5000,
                     "Class-balanced training images per run.")
flags.DEFINE_integer("test_subset", 5000, "Class-balanced test images.")
flags.DEFINE_integer("epochs", 4, "Epochs per run.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("width", 16, "SmallCNN width.")
flags.DEFINE_float("learning_rate", 0.05, "Sec. 4: 0.05 from scratch.")
flags.DEFINE_float("decay_epochs", 0.1, "Decay 0.94 every this many epochs.")


def sizes(distortion):
  """(resizer input side, output side): 28 -> 28, or 7 -> 28 down-scaled."""
  side = data.distortions.output_size(distortion, (28, 28))[0]
  return side, 28


def run_one(distortion, resizer, seed):
  side_in, side_out = sizes(distortion)
  run = training.train_fashion_mnist_classifier(
      resizer, side_in, side_out, seed, batch_size=FLAGS.batch_size,
      train_subset=FLAGS.train_subset, test_subset=FLAGS.test_subset,
      epochs=FLAGS.epochs, width=FLAGS.width,
      learning_rate=FLAGS.learning_rate, decay_epochs=FLAGS.decay_epochs,
      distortion=distortion)
  result = run.test_results
  record = {
      "distortion": distortion, "resizer": resizer, "input": side_in,
      "output": side_out, "seed": seed,
      "test_top1_error": float(result["top1_error"]),
      "test_top5_error": float(result["top5_error"]),
      "final_train_loss": float(run.history.history["loss"][-1]),
      "train_seconds": round(run.train_seconds, 1),
      "train_examples": run.train_examples,
      "test_examples": run.test_examples}
  logging.info("%s", record)
  return record


def summarize(records):
  """Mean and std (ddof=1) of the top-1 error per (distortion, resizer)."""
  groups = {}
  for r in records:
    groups.setdefault(f"{r['distortion']} {r['resizer']}", []).append(r)
  summary = {}
  for key, rs in groups.items():
    top1 = np.array([r["test_top1_error"] for r in rs])
    summary[key] = {
        "top1_error_mean": float(top1.mean()),
        "top1_error_std": float(top1.std(ddof=1)) if top1.size > 1 else 0.,
        "top1_error_per_seed": [float(v) for v in top1],
        "train_seconds_mean": float(np.mean([r["train_seconds"]
                                             for r in rs])),
        "seeds": len(rs)}
  return summary


def main(argv):
  del argv
  start, cpu_start = time.time(), time.process_time()
  load_start = os.getloadavg()
  records = []
  for seed in [int(s) for s in FLAGS.seeds]:
    for distortion in FLAGS.distortions:
      for resizer in FLAGS.resizers:
        records.append(run_one(distortion, resizer, seed))
        # Partial results survive a kill.
        _io.atomic_write_text(FLAGS.output + ".partial", json.dumps(
            records, indent=2))
  summary = summarize(records)
  for key, s in summary.items():
    print(f"{key:<22} {100 * s['top1_error_mean']:6.2f} +- "
          f"{100 * s['top1_error_std']:4.2f} %  per seed "
          f"{[round(100 * v, 2) for v in s['top1_error_per_seed']]}")
  settings = {k: FLAGS[k].value for k in (
      "distortions", "resizers", "seeds", "train_subset", "test_subset",
      "epochs", "batch_size", "width", "learning_rate", "decay_epochs")}
  _io.atomic_write_text(FLAGS.output, json.dumps(
      {"settings": settings, "summary": summary, "runs": records,
       "wall_seconds": round(time.time() - start, 1),
       "process_cpu_seconds": round(time.process_time() - cpu_start, 1),
       "load_average_start": load_start,
       "load_average_end": os.getloadavg()}, indent=2))


if __name__ == "__main__":
  app.run(main)
