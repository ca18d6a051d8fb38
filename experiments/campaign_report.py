r"""Training curves of the campaign runs, and the pretrained index.

  python -m experiments.campaign_report --output_dir=docs/results/campaign

For every snapshot in --weights_dir: its curve as CSV (step, wall_s, loss,
bpp, mse, psnr, scale) and one PNG with loss, bpp, PSNR and mean M against
steps for all runs; a summary.json (steps, wall time, processes); then
rewrites the pretrained index (sha256 of each published file).
"""
import csv
import io
import json
import os

from absl import app
from absl import flags

from resizer_tf import _io
from resizer_tf import pretrained
from resizer_tf import weights_file
from resizer_tf.evaluation import report
from resizer_tf.training import campaign

_WEIGHTS_DIR = flags.DEFINE_string("weights_dir", pretrained.WEIGHTS_DIR,
                                   "Campaign snapshots.")
_INTERMEDIATE_DIR = flags.DEFINE_string(
    "intermediate_dir", os.path.join("weights", "campaign"),
    "The shared warm-start stages (reported, not published).")
_STAND_IN = flags.DEFINE_string(
    "stand_in_results", None,
    "results.json of the stand-in evaluation of the shipped models; their "
    "image-mean bpp, PSNR, ... and M go into the index.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "docs/results/campaign",
                                  "CSV, PNG and summary.json.")


def main(argv):
  del argv
  runs = {}
  for folder in (_INTERMEDIATE_DIR.value, _WEIGHTS_DIR.value):
    if not os.path.isdir(folder):
      continue
    for file in sorted(os.listdir(folder)):
      if file.endswith(".npz"):
        _, meta = weights_file.read(os.path.join(folder, file))
        runs[file[:-4]] = meta
  if not runs:
    raise app.UsageError(f"No snapshots in {_WEIGHTS_DIR.value}.")
  os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
  summary = {}
  for name, meta in runs.items():
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(campaign.CURVE_COLUMNS)
    writer.writerows(meta.get("curve", []))
    _io.atomic_write_text(os.path.join(_OUTPUT_DIR.value, name + ".csv"),
                          buffer.getvalue())
    spec = meta["spec"]
    summary[name] = {
        "resize": spec["resize"], "lmbda": spec["lmbda"],
        "steps_done": meta["steps_done"], "steps_planned": spec["steps"],
        "wall_s": meta.get("wall_s"), "resumed_at": meta.get("resumed_at"),
        "warm_start": meta.get("warm_started_from"),
        "steps_before": campaign.steps_before(runs, name),
        "last": dict(zip(campaign.CURVE_COLUMNS, meta["curve"][-1]))
                if meta.get("curve") else None}
  _io.atomic_write_text(os.path.join(_OUTPUT_DIR.value, "summary.json"),
                        json.dumps(summary, indent=1) + "\n")
  _plot(runs, os.path.join(_OUTPUT_DIR.value, "curves.png"))
  measured = None
  if _STAND_IN.value:
    measured = pretrained.measured_from_records(
        report.read_json(_STAND_IN.value), _WEIGHTS_DIR.value)
  pretrained.write_index(
      _WEIGHTS_DIR.value, measured=measured,
      steps_before={n: s["steps_before"] for n, s in summary.items()})
  for name, s in summary.items():
    print(f"{name:24s} {s['steps_done']:6d}/{s['steps_planned']} steps "
          f"{(s['wall_s'] or 0) / 3600:.2f} h")
  print(f"total {sum(s['wall_s'] or 0 for s in summary.values()) / 3600:.2f}"
        " process-hours")


def _plot(runs, path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  columns = campaign.CURVE_COLUMNS
  fig, axes = plt.subplots(1, 4, figsize=(18, 4))
  for name, meta in runs.items():
    curve = campaign.curve_array(meta)
    if not len(curve):
      continue
    # A run that warm-starts continues its chain's step axis.
    offset = campaign.steps_before(runs, name)
    style = "-" if meta["spec"]["resize"] else "--"
    for ax, column in zip(axes, ("loss", "bpp", "psnr", "scale")):
      ax.plot(curve[:, 0] + offset, curve[:, columns.index(column)], style,
              label=name)
      ax.set_title(column if column != "scale" else "mean M")
      ax.set_xlabel("step")
  axes[0].set_yscale("log")
  axes[1].set_yscale("log")
  axes[-1].legend(fontsize=7)
  fig.tight_layout()
  _io.save_figure(fig, path)


if __name__ == "__main__":
  app.run(main)
