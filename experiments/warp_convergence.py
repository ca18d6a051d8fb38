r"""Fig. 4 of Chen et al. (Sec. III-B): does M converge with each kernel?

Three toy tasks with N = 0.5 where only M is trained (Adam on MSE):
  down  (Eq. 6): Warp_M(I)             -> Warp_N(I),  optimum M = N
  up    (Eq. 7): Warp_{1/M}(Warp_N(I)) -> I,          optimum M = N
  pair  (Eq. 8): Warp_{1/M}(Warp_M(I)) -> I,          optimum M = 1
each with the bicubic and the bilinear warp. Writes the M-per-step curves to
CSV, a Fig. 4-like PNG, and prints the final M of every run.

  python -m experiments.warp_convergence --output_dir=runs/fig4
"""
import csv
import io
import os

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

import resizer_tf
from resizer_tf import _io
from resizer_tf import images

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", "runs/warp_convergence", "Where to write.")
flags.DEFINE_string("photo", "astronaut",
                    f"Built-in real photo: {images.builtin_photo_names()}.")
flags.DEFINE_string("image", None, "Or a path to an image file.")
flags.DEFINE_integer("size", 128, "The photo is area-resized to size x size.")
flags.DEFINE_float("target_scale", 0.5, "N of Eq. (6)-(7).")
flags.DEFINE_integer("steps", 300, "Adam steps per run.")
flags.DEFINE_float("learning_rate", 0.01, "Adam learning rate.")
flags.DEFINE_float("init_scale_down", 0.8, "Initial M, task 'down'.")
flags.DEFINE_float("init_scale_up", 0.8, "Initial M, task 'up'.")
flags.DEFINE_float("init_scale_pair", 0.6, "Initial M, task 'pair'.")
flags.DEFINE_list("kernels", ["bicubic", "bilinear"], "Warp kernels.")
flags.DEFINE_list("tasks", ["down", "up", "pair"], "Tasks of Eq. (6)-(8).")

OPTIMUM = {"down": "N", "up": "N", "pair": 1.0}


def run_task(task, kernel, image, target_scale, init_scale, steps, lr):
  """Trains M alone on one toy task; returns M after every step."""
  warp = resizer_tf.BicubicWarp(kernel=kernel)
  scale = tf.Variable(init_scale, dtype=tf.float32)
  if task == "down":
    source, target = image, warp(image, target_scale)
    model = lambda m: warp(source, m)
  elif task == "up":
    source, target = warp(image, target_scale), image
    model = lambda m: warp(source, 1. / m)
  elif task == "pair":
    source, target = image, image
    model = lambda m: warp(warp(source, m), 1. / m)
  else:
    raise ValueError(f"Unknown task {task!r}.")
  optimizer = tf.keras.optimizers.Adam(lr)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(model(scale) - target))
    optimizer.apply_gradients([(tape.gradient(loss, scale), scale)])
    # Keeps M a valid warp parameter; the optimum lies well inside.
    scale.assign(tf.clip_by_value(scale, 0.05, 4.))
    return loss

  history = []
  for _ in range(steps):
    loss = step()
    history.append((float(scale.numpy()), float(loss.numpy())))
  return history


def plot(curves, target_scale, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  tasks = sorted({t for t, _ in curves}, key=list(OPTIMUM).index)
  fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2),
                           squeeze=False)
  titles = {"down": "Scale down (Eq. 6)", "up": "Scale up (Eq. 7)",
            "pair": "Resize pair (Eq. 8)"}
  for ax, task in zip(axes[0], tasks):
    for (t, kernel), history in curves.items():
      if t == task:
        ax.plot([m for m, _ in history], label=kernel)
    optimum = target_scale if OPTIMUM[task] == "N" else OPTIMUM[task]
    ax.axhline(optimum, color="k", linestyle="--", linewidth=1)
    ax.set_title(titles[task])
    ax.set_xlabel("step")
    ax.set_ylabel("M")
    ax.legend()
  fig.tight_layout()
  _io.save_figure(fig, path, dpi=120)


def main(argv):
  del argv
  photo = (images.read_image(FLAGS.image) if FLAGS.image
           else images.builtin_photo(FLAGS.photo))
  image = tf.image.resize(photo[None].astype(np.float32) / 255.,
                          (FLAGS.size, FLAGS.size), method="area")
  inits = {"down": FLAGS.init_scale_down, "up": FLAGS.init_scale_up,
           "pair": FLAGS.init_scale_pair}
  curves = {}
  for task in FLAGS.tasks:
    for kernel in FLAGS.kernels:
      logging.info("task=%s kernel=%s", task, kernel)
      curves[(task, kernel)] = run_task(
          task, kernel, image, FLAGS.target_scale, inits[task], FLAGS.steps,
          FLAGS.learning_rate)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  rows = io.StringIO()
  writer = csv.writer(rows)
  writer.writerow(["task", "kernel", "step", "M", "mse"])
  for (task, kernel), history in curves.items():
    for step, (m, loss) in enumerate(history, 1):
      writer.writerow([task, kernel, step, f"{m:.6f}", f"{loss:.8f}"])
  _io.atomic_write_text(os.path.join(FLAGS.output_dir, "curves.csv"),
                        rows.getvalue())
  plot(curves, FLAGS.target_scale,
       os.path.join(FLAGS.output_dir, "fig4.png"))
  for (task, kernel), history in curves.items():
    optimum = FLAGS.target_scale if OPTIMUM[task] == "N" else OPTIMUM[task]
    print(f"{task:5s} {kernel:8s} final M = {history[-1][0]:.4f} "
          f"(optimum {optimum}), final MSE = {history[-1][1]:.2e}")
  print(f"Wrote {FLAGS.output_dir}/curves.csv and {FLAGS.output_dir}/fig4.png")


if __name__ == "__main__":
  app.run(main)
