"""Tables and plots of an evaluation, laid out like Chen et al.'s.

  * `bd_table` + `markdown_bd_table`: Table II (BD-rate of every codec
    against one baseline, one column per metric). The paper's convention
    averages per-image BD-rates; the Fig. 7 convention (BD-rate between
    image-averaged curves) is available too.
  * `plot_rd`: Fig. 7 (aggregated R-D curves, log-scale bpp, one panel per
    metric, BD-rate against the baseline in parentheses).
  * `plot_m_distribution`: Fig. 6 (box plot of the resize factor M per
    lambda).
  * `markdown_timing`: Table IV (mean encode / decode time in ms).
Every file is written atomically.
"""
import collections
import csv
import io
import json
import math

from matplotlib import figure
import numpy as np

from resizer_tf import _io
from resizer_tf.evaluation import runner
from resizer_tf.metrics import rate as rate_lib

METRIC_LABELS = {
    "psnr": "PSNR",
    "psnr_y": "PSNR-Y",
    "ms_ssim": "MS-SSIM",
    "vif": "VIF",
    "vmaf": "VMAF",
}
METRIC_UNITS = {"psnr": "PSNR (dB)", "psnr_y": "PSNR-Y (dB)",
                "ms_ssim": "MS-SSIM", "vif": "VIF (VIFp)", "vmaf": "VMAF"}
CONVENTIONS = ("per_image", "aggregated")


def write_csv(records, path, fields=runner.RECORD_FIELDS):
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore",
                          lineterminator="\n")
  writer.writeheader()
  for r in records:
    writer.writerow({k: r.get(k, "") for k in fields})
  _io.atomic_write_text(path, buf.getvalue())


def _json_safe(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None if math.isnan(value) else str(value)  # "inf": lossless
  return value


def write_json(records, path):
  """Records as strict JSON (NaN -> null, infinite PSNR -> "inf")."""
  safe = [{k: _json_safe(v) for k, v in r.items()} for r in records]
  _io.atomic_write_text(path, json.dumps(safe, indent=1, sort_keys=True,
                                         allow_nan=False))


def read_json(path):
  """Records written by `write_json` (null -> NaN, "inf" -> infinity)."""
  with open(path) as f:
    records = json.load(f)
  if not isinstance(records, list) or not all(
      isinstance(r, dict) and "codec" in r and "image" in r for r in records):
    raise ValueError(f"{path} is not a results.json of an evaluation.")
  numeric = set(runner.RECORD_FIELDS) - {
      "codec", "label", "setting", "setting_name", "image", "error"}
  for r in records:
    for k, v in r.items():
      if k in numeric and (v is None or v in ("inf", "-inf")):
        r[k] = math.nan if v is None else float(v)
  return records


def merge_records(records, extra, image_names):
  """`records` plus the `extra` records of codecs not in `records`, restricted
  to `image_names`; an extra codec that lacks one of them is an error (its
  BD-rates would silently average over other images)."""
  have = {r["codec"] for r in records}
  merged = list(records)
  by_codec = collections.defaultdict(list)
  for r in extra:
    if r["codec"] not in have and r["image"] in image_names:
      by_codec[r["codec"]].append(r)
  for codec, rows in by_codec.items():
    missing = set(image_names) - {r["image"] for r in rows}
    if missing:
      raise ValueError(
          f"Merged results of {codec!r} lack {len(missing)} of the evaluated "
          f"images (e.g. {sorted(missing)[0]}); evaluate it again instead.")
    merged.extend(rows)
  return merged


def codec_order(records):
  """Codec names in order of first appearance."""
  return list(dict.fromkeys(r["codec"] for r in records))


def codec_labels(records):
  return {r["codec"]: r.get("label") or r["codec"] for r in records}


def curves_by_image(records, codec, metric):
  """image -> (rates, quality) of one codec, failed points left out."""
  points = collections.defaultdict(list)
  for r in runner.records_ok(records, metric):
    if r["codec"] == codec:
      points[r["image"]].append((r["bpp"], r[metric]))
  return {image: (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
          for image, pts in points.items()}


def complete_images(records, codec, metric):
  """Images on which every setting of `codec` has a finite `metric`."""
  seen = collections.defaultdict(set)
  for r in runner.records_ok(records, metric):
    if r["codec"] == codec:
      seen[r["image"]].add(r["setting"])
  settings = set().union(*seen.values()) if seen else set()
  return sorted(i for i, s in seen.items() if s == settings)


def aggregated_curve(records, codec, metric, images=None):
  """Fig. 7: per setting, mean bpp and mean `metric` over `images`.

  Args:
    images: the images to average over (default: those complete for this
      codec); every one must have every setting.
  Returns:
    (settings, mean bpp, mean metric), sorted by bpp.
  """
  images = complete_images(records, codec, metric) if images is None else (
      images)
  if not images:
    raise ValueError(f"{codec}: no image has all settings with finite "
                     f"{metric}.")
  table = {}
  for r in runner.records_ok(records, metric):
    if r["codec"] == codec and r["image"] in images:
      table[(r["setting"], r["image"])] = (r["bpp"], r[metric])
  settings = sorted({s for s, _ in table})
  rates = np.array([[table[(s, i)][0] for s in settings] for i in images])
  dists = np.array([[table[(s, i)][1] for s in settings] for i in images])
  mean_rate, mean_dist = rate_lib.aggregate_curve(rates, dists)
  order = np.argsort(mean_rate)
  return ([settings[k] for k in order], mean_rate[order], mean_dist[order])


def bd_cell(records, baseline, codec, metric, method="pchip",
            convention="per_image"):
  """BD-rate (percent) of `codec` vs `baseline` for one metric.

  Returns a dict: value (NaN if undefined), n (images used), n_total,
  note (why images were left out or why the value is undefined).
  """
  if convention not in CONVENTIONS:
    raise ValueError(f"convention must be one of {CONVENTIONS}; received "
                     f"{convention!r}.")
  anchor = curves_by_image(records, baseline, metric)
  test = curves_by_image(records, codec, metric)
  n_total = len(set(anchor) | set(test))
  try:
    if convention == "per_image":
      value, values, failures = rate_lib.bd_rate_per_image(
          anchor, test, method=method)
      note = "; ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
      return {"value": value, "n": len(values), "n_total": n_total,
              "note": note}
    images = sorted(set(complete_images(records, baseline, metric)) &
                    set(complete_images(records, codec, metric)))
    if not images:
      raise ValueError("no image is complete for both codecs")
    _, ra, da = aggregated_curve(records, baseline, metric, images)
    _, rt, dt = aggregated_curve(records, codec, metric, images)
    value = rate_lib.bd_rate(ra, da, rt, dt, method=method)
    return {"value": value, "n": len(images), "n_total": n_total, "note": ""}
  except ValueError as e:
    return {"value": float("nan"), "n": 0, "n_total": n_total,
            "note": str(e)}


def bd_table(records, baseline, metric_names, method="pchip",
             convention="per_image", codecs=None):
  """{codec: {metric: bd_cell}} for every codec (Table II)."""
  codecs = codecs or codec_order(records)
  if baseline not in codecs:
    raise ValueError(
        f"Baseline {baseline!r} has no results; codecs evaluated: "
        f"{', '.join(codecs)}.")
  return {c: {m: bd_cell(records, baseline, c, m, method, convention)
              for m in metric_names} for c in codecs}


def _format_bd(cell):
  if not math.isfinite(cell["value"]):
    return "n/a"
  text = f"{cell['value']:+.2f}"
  if cell["n"] < cell["n_total"]:
    text += f" ({cell['n']}/{cell['n_total']})"
  return text


def markdown_bd_table(table, metric_names, baseline, labels=None):
  """Markdown rows like Table II; cells "(n/N)" when images were left out."""
  labels = labels or {}
  header = ["Codec"] + [METRIC_LABELS.get(m, m) for m in metric_names]
  lines = ["| " + " | ".join(header) + " |",
           "|" + "|".join(["---"] + ["---:"] * len(metric_names)) + "|"]
  notes = []
  for codec, cells in table.items():
    name = labels.get(codec, codec)
    if codec == baseline:
      name += " (baseline)"
    lines.append("| " + " | ".join(
        [name] + [_format_bd(cells[m]) for m in metric_names]) + " |")
    for m in metric_names:
      if cells[m]["note"] and codec != baseline:
        notes.append(f"{labels.get(codec, codec)} / "
                     f"{METRIC_LABELS.get(m, m)}: {cells[m]['note']}")
  text = "\n".join(lines) + "\n"
  if notes:
    text += ("\nImages left out (BD-rate undefined on them):\n\n" +
             "\n".join(f"- {n}" for n in notes) + "\n")
  return text


def markdown_timing(records, codecs=None):
  """Table IV: mean encode / decode wall time in ms per codec."""
  labels = codec_labels(records)
  lines = ["| Codec | Enc. (CPU) ms | Dec. (CPU) ms | points |",
           "|---|---:|---:|---:|"]
  for codec in codecs or codec_order(records):
    rs = [r for r in runner.records_ok(records) if r["codec"] == codec]
    if not rs:
      continue
    enc = 1000 * np.mean([r["encode_s"] for r in rs])
    dec = 1000 * np.mean([r["decode_s"] for r in rs])
    lines.append(f"| {labels[codec]} | {enc:.1f} | {dec:.1f} | {len(rs)} |")
  return "\n".join(lines) + "\n"


def markdown_ladder(records, metric="psnr", codecs=None):
  """Per codec and setting: median / min / max bpp and mean `metric`."""
  labels = codec_labels(records)
  lines = [f"| Codec | setting | median bpp | min bpp | max bpp | "
           f"mean {METRIC_LABELS.get(metric, metric)} |",
           "|---|---|---:|---:|---:|---:|"]
  for codec in codecs or codec_order(records):
    rs = [r for r in runner.records_ok(records) if r["codec"] == codec]
    by_setting = collections.defaultdict(list)
    for r in rs:
      by_setting[r["setting"]].append(r)
    rows = sorted(by_setting.items(),
                  key=lambda kv: np.median([r["bpp"] for r in kv[1]]))
    for setting, group in rows:
      b = np.array([r["bpp"] for r in group])
      q = [r.get(metric, float("nan")) for r in group]
      q = np.array([v for v in q if isinstance(v, (int, float))], float)
      q = q[np.isfinite(q)]
      mean_q = f"{q.mean():.2f}" if q.size else "n/a"
      lines.append(
          f"| {labels[codec]} | {group[0]['setting_name']}={setting} | "
          f"{np.median(b):.3f} | {b.min():.3f} | {b.max():.3f} | {mean_q} |")
  return "\n".join(lines) + "\n"


def legend_reference(codec, codecs, baseline):
  """What a curve's legend BD-rate is measured against (Fig. 7).

  As in the paper's Fig. 7, a curve named "C+resize" (any "C+suffix") is
  compared with "C" when that curve was evaluated; others with `baseline`.
  """
  if "+" in codec and codec.rsplit("+", 1)[0] in codecs:
    return codec.rsplit("+", 1)[0]
  return baseline if baseline != codec else None


def plot_rd(records, path, metric_names, baseline=None, method="pchip",
            codecs=None):
  """Fig. 7: aggregated R-D curves, log-scale bpp, one panel per metric.

  Legend entries carry the BD-rate between aggregated curves (the Fig. 7
  convention) against `legend_reference` (C+resize vs C, else baseline).
  """
  codecs = codecs or codec_order(records)
  labels = codec_labels(records)
  cols = min(3, len(metric_names))
  rows = int(math.ceil(len(metric_names) / cols))
  fig = figure.Figure(figsize=(5.2 * cols, 4.2 * rows))
  axes = fig.subplots(rows, cols, squeeze=False).ravel()
  for ax, metric in zip(axes, metric_names):
    for codec in codecs:
      try:
        _, rates, dists = aggregated_curve(records, codec, metric)
      except ValueError:
        continue
      label = labels[codec]
      reference = legend_reference(codec, codecs, baseline)
      if reference:
        cell = bd_cell(records, reference, codec, metric, method,
                       "aggregated")
        if math.isfinite(cell["value"]):
          vs = "" if reference == baseline else (
              f" vs {labels.get(reference, reference)}")
          label += f" ({cell['value']:+.1f}%{vs})"
      ax.plot(rates, dists, marker="o", markersize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("bpp")
    ax.set_ylabel(METRIC_UNITS.get(metric, metric))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
  for ax in axes[len(metric_names):]:
    ax.set_visible(False)
  if baseline:
    paired = any(legend_reference(c, codecs, baseline) not in (baseline, None)
                 for c in codecs)
    fig.suptitle("Mean over images per setting; legend: BD-rate vs "
                 f"{labels.get(baseline, baseline)}" +
                 (" (C+resize: vs C)" if paired else ""), fontsize=10)
  _io.save_figure(fig, path, dpi=110, bbox_inches="tight")


def _point_key(setting):
  try:
    return (0, float(setting), setting)
  except ValueError:
    return (1, 0.0, setting)


def plot_m_distribution(records, path):
  """Fig. 6: box plot of M per lambda, one panel per learned curve.

  Only curves whose M is not 1.0 everywhere are drawn. Returns False (and
  writes nothing) when there is no such curve.
  """
  per_curve = collections.defaultdict(lambda: collections.defaultdict(list))
  for r in runner.records_ok(records):
    if isinstance(r.get("M"), (int, float)) and math.isfinite(r["M"]):
      per_curve[r["codec"]][r["setting"]].append(r["M"])
  per_curve = {c: v for c, v in per_curve.items()
               if any(m != 1.0 for ms in v.values() for m in ms)}
  if not per_curve:
    return False
  fig = figure.Figure(figsize=(5.0 * len(per_curve), 4.0))
  axes = fig.subplots(1, len(per_curve), squeeze=False).ravel()
  for ax, (codec, points) in zip(axes, sorted(per_curve.items())):
    keys = sorted(points, key=_point_key)
    ax.boxplot([points[k] for k in keys], sym="o")
    ax.set_xticks(range(1, len(keys) + 1), keys)
    ax.set_xlabel("λ")
    ax.set_ylabel("resize factor M")
    ax.set_title(codec)
    ax.grid(True, axis="y", alpha=0.3)
  _io.save_figure(fig, path, dpi=110, bbox_inches="tight")
  return True


def write_report(records, output_dir, baseline, metric_names, method="pchip",
                 title="Rate-distortion evaluation", preamble=""):
  """Writes results.csv/json, report.md and the plots into `output_dir`.

  Returns the list of files written.
  """
  labels = codec_labels(records)
  paths = {"csv": "results.csv", "json": "results.json", "md": "report.md",
           "rd": "rd_curves.png", "m": "m_distribution.png"}
  paths = {k: f"{output_dir}/{v}" for k, v in paths.items()}
  write_csv(records, paths["csv"])
  write_json(records, paths["json"])
  written = [paths["csv"], paths["json"]]
  codecs = codec_order(records)
  ok_codecs = [c for c in codecs if runner.records_ok(
      [r for r in records if r["codec"] == c])]
  failed = [r for r in records if r.get("error")]
  sections = [f"# {title}\n", preamble] if preamble else [f"# {title}\n"]
  images = sorted({r["image"] for r in records})
  sections.append(f"{len(images)} images, {len(ok_codecs)} codecs, "
                  f"{len(records)} points ({len(failed)} with errors). "
                  f"BD-rate interpolation: {method}.\n")
  if baseline in ok_codecs:
    for convention, heading in (
        ("per_image", "BD-rate (%) vs {b}, mean of per-image BD-rates "
                      "(Table II convention)"),
        ("aggregated", "BD-rate (%) vs {b} between image-averaged curves "
                       "(Fig. 7 convention)")):
      table = bd_table(records, baseline, metric_names, method, convention,
                       codecs=ok_codecs)
      sections.append(f"## {heading.format(b=labels[baseline])}\n\n" +
                      markdown_bd_table(table, metric_names, baseline,
                                        labels))
    plot_rd(records, paths["rd"], metric_names, baseline, method, ok_codecs)
    written.append(paths["rd"])
  else:
    sections.append(f"No BD-rate table: baseline {baseline!r} has no "
                    "results.\n")
  if plot_m_distribution(records, paths["m"]):
    written.append(paths["m"])
    sections.append("## Resize factor M per lambda (Fig. 6)\n\n"
                    "![M distribution](m_distribution.png)\n")
  sections.append("## Mean coding time per image (Table IV layout)\n\n" +
                  markdown_timing(records, ok_codecs))
  sections.append("## Rate ladders\n\n" + markdown_ladder(records,
                                                          codecs=ok_codecs))
  if paths["rd"] in written:
    sections.append("## R-D curves (Fig. 7 layout)\n\n"
                    "![R-D curves](rd_curves.png)\n")
  if failed:
    sections.append("## Errors\n\n" + "\n".join(
        f"- {r['codec']} {r.get('setting_name', '')}={r['setting']} "
        f"{r['image']}: {r['error']}" for r in failed) + "\n")
  _io.atomic_write_text(paths["md"], "\n".join(sections))
  written.append(paths["md"])
  return written
