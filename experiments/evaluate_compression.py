r"""Rate-distortion evaluation of learned models and classic anchors.

Chen et al., Sec. IV: Table II (BD-rates vs a baseline, per metric), Fig. 7
(aggregated R-D curves), Fig. 6 (M per lambda), Table IV (timings).

  python -m experiments.evaluate_compression \
      --images_dir=data/bench768 --output_dir=runs/eval \
      --learned=balle2017@0.01=runs/b17_001/export,balle2017@0.1=... \
      --baseline=balle2017

Learned models are SavedModels exported by the compression trainer, named
CURVE@POINT (models sharing CURVE form one curve; see
resizer_tf/evaluation/learned.py). Results are cached in --cache_dir, so an
interrupted or repeated run only computes what is missing.
"""
import os
import sys

from absl import app
from absl import flags
from absl import logging

from resizer_tf import anchors as anchors_lib
from resizer_tf import evaluation
from resizer_tf.data import bench_images
from resizer_tf.evaluation import report
from resizer_tf.evaluation import runner
from resizer_tf.evaluation import specs

_IMAGES_DIR = flags.DEFINE_string(
    "images_dir", None, "Folder of test images (PNG, JPEG, ...).",
    required=True)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Folder for results.csv/json, report.md and plots.",
    required=True)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", None, "Results cache (default: <output_dir>/cache).")
_ANCHORS = flags.DEFINE_list(
    "anchors", list(anchors_lib.ANCHORS),
    "Classic codecs to evaluate (empty for none): "
    f"{', '.join(anchors_lib.ANCHORS)}.")
_LEARNED = flags.DEFINE_list(
    "learned", [], "Learned models as NAME=SAVEDMODEL_DIR (NAME = CURVE@POINT,"
    " e.g. balle2017+resize@0.01) or bare SAVEDMODEL_DIR.")
_BASELINE = flags.DEFINE_string(
    "baseline", "jpeg2000",
    "Codec/curve that BD-rates are measured against (paper: Ballé17).")
_METRICS = flags.DEFINE_list(
    "metrics", list(evaluation.DEFAULT_METRICS),
    "Quality metrics (paper: psnr, ms_ssim, vif, vmaf).")
_BD_METHOD = flags.DEFINE_enum(
    "bd_method", "pchip", ["pchip", "cubic", "akima"],
    "BD-rate interpolation (pchip as the JPEG-AI scripts).")
_LADDER = flags.DEFINE_multi_string(
    "ladder", [], "Override an anchor's settings: CODEC=v1,v2,... "
    "(repeatable), e.g. jpeg=5,20,50.")
_ANCHOR_OPTION = flags.DEFINE_multi_string(
    "anchor_option", [], "Anchor constructor option CODEC.OPTION=VALUE "
    "(repeatable), e.g. avif.speed=4.")
_MAX_IMAGES = flags.DEFINE_integer(
    "max_images", 0, "Evaluate only the first N images (0: all).")
_MERGE = flags.DEFINE_list(
    "merge_results", [],
    "results.json files of earlier runs on the same images (e.g. "
    "docs/results/anchors_stand_in/results.json) whose codecs join the "
    "report without being recomputed; codecs evaluated now take precedence.")
_TITLE = flags.DEFINE_string(
    "title", "Rate-distortion evaluation", "Title of report.md.")


def run():
  images = bench_images.list_images(_IMAGES_DIR.value)
  if _MAX_IMAGES.value:
    images = images[:_MAX_IMAGES.value]
  codecs = specs.make_anchors(
      _ANCHORS.value, specs.parse_anchor_options(_ANCHOR_OPTION.value))
  for name, path in specs.parse_learned(_LEARNED.value):
    codecs.append(evaluation.LearnedCodecAdapter(path, name=name))
  if not codecs:
    raise app.UsageError("Nothing to evaluate: give --anchors or --learned.")
  for path in _MERGE.value:
    if not os.path.isfile(path):
      raise FileNotFoundError(f"--merge_results: no file {path!r}.")
  cache_dir = _CACHE_DIR.value or os.path.join(_OUTPUT_DIR.value, "cache")
  logging.info("Evaluating %d codecs on %d images from %s", len(codecs),
               len(images), _IMAGES_DIR.value)
  records = evaluation.evaluate(
      codecs, images, _METRICS.value, cache_dir=cache_dir,
      ladders=specs.parse_ladders(_LADDER.value))
  if not runner.records_ok(records):
    # Every codec unavailable or failing: a report of nothing is an error.
    raise RuntimeError(
        f"No rate-distortion point was produced ({len(records)} failed): "
        "see the log above for each codec's error (missing tools are "
        "skipped, not fatal).")
  names = {os.path.basename(p) for p in images}
  for path in _MERGE.value:
    records = report.merge_records(records, report.read_json(path), names)
  written = evaluation.write_report(
      records, _OUTPUT_DIR.value, _BASELINE.value, _METRICS.value,
      _BD_METHOD.value, title=_TITLE.value)
  logging.info("Wrote %s", ", ".join(written))


def main(argv):
  del argv
  try:
    run()
  except (ValueError, OSError, RuntimeError) as e:
    # Expected failures (bad folder or flag, unreadable model, nothing
    # evaluated): one line and a non-zero exit, not a traceback.
    text = str(e).strip()
    print(f"error: {text.splitlines()[0] if text else repr(e)}",
          file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
