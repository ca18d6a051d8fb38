r"""The README's main job: code a photo with the shipped trained models.

  python -m experiments.demo [--output_dir=runs/demo]

Codes a photo that is in neither the training nor the bench set
(scikit-learn's "china", 640x427) with every shipped model
(`resizer_tf.pretrained`: Ballé17 and Ballé17 + Resize at each quality) and
with JPEG (Pillow, 4:4:4) at the quality whose bpp is nearest each learned
point; prints bpp, PSNR, MS-SSIM, M and encode/decode times; writes the
decoded PNGs, the compressed files and one side-by-side comparison PNG.
No training: a couple of minutes on 2 CPU cores.
"""
import os
import sys
import time

from absl import app
from absl import flags
import numpy as np
from PIL import Image

from resizer_tf import _io
from resizer_tf import images
from resizer_tf import pretrained
from resizer_tf.anchors import pillow_codecs
from resizer_tf.metrics import quality

_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/demo",
                                  "Decoded PNGs, files and the comparison.")
_PHOTO = flags.DEFINE_string(
    "photo", "china", "A built-in photo name or an image file path.")
_WEIGHTS_DIR = flags.DEFINE_string(
    "weights_dir", pretrained.WEIGHTS_DIR, "Folder of the shipped models.")


def code_learned(model, photo):
  """(file bytes, decoded uint8, M, encode ms, decode ms)."""
  start = time.perf_counter()
  file, scale = model.compress(photo)
  data = file.numpy()
  encode_ms = 1000 * (time.perf_counter() - start)
  start = time.perf_counter()
  decoded = model.decompress(data).numpy()
  decode_ms = 1000 * (time.perf_counter() - start)
  return data, decoded, float(scale.numpy()[0]), encode_ms, decode_ms


def jpeg_nearest(photo, target_bpp):
  """JPEG (Pillow, 4:4:4) at the quality whose bpp is nearest target_bpp."""
  codec = pillow_codecs.JpegCodec()
  pixels = photo.shape[0] * photo.shape[1]
  q, data = min(codec.sweep(photo),
                key=lambda qd: abs(8 * len(qd[1]) / pixels - target_bpp))
  return q, data, codec.decode(data)


def _row(label, photo, data, decoded, scale, enc, dec):
  pixels = photo.shape[0] * photo.shape[1]
  return dict(label=label, bpp=8 * len(data) / pixels,
              psnr=float(quality.psnr(photo, decoded)),
              ms_ssim=float(quality.ms_ssim(photo, decoded)),
              scale=scale, encode_ms=enc, decode_ms=dec)


def main(argv):
  del argv
  try:
    run()
  except (ValueError, OSError) as e:
    # A missing photo or a corrupt shipped file: one line, not a traceback.
    text = str(e).strip()
    print(f"error: {text.splitlines()[0] if text else repr(e)}",
          file=sys.stderr)
    sys.exit(1)


def run():
  models = pretrained.list_models(_WEIGHTS_DIR.value)
  if not models:
    raise app.UsageError(
        f"No pretrained models in {_WEIGHTS_DIR.value}; train them with "
        "`make campaign` (see docs/training_campaign.md).")
  photo = images.load_photo(_PHOTO.value)
  out = _OUTPUT_DIR.value
  os.makedirs(out, exist_ok=True)
  rows, panels, nearest = [], {}, {}
  for m in sorted(models, key=lambda m: (m["quality"], m["name"])):
    label = f"{m['name']}:{m['quality']}"
    model = pretrained.load(m["name"], m["quality"], _WEIGHTS_DIR.value)
    data, decoded, scale, enc, dec = code_learned(model, photo)
    stem = label.replace(":", "_q").replace("+", "_")
    _io.atomic_write_bytes(os.path.join(out, stem + ".rztf"), data)
    _save_png(os.path.join(out, stem + ".png"), decoded)
    rows.append(_row(label, photo, data, decoded, scale, enc, dec))
    panels[label] = decoded
    q, jdata, jdecoded = jpeg_nearest(photo, rows[-1]["bpp"])
    jlabel = f"JPEG q{q}"
    nearest[label] = jlabel
    if jlabel not in panels:
      _save_png(os.path.join(out, f"jpeg_q{q}.png"), jdecoded)
      rows.append(_row(jlabel, photo, jdata, jdecoded, None, None, None))
      panels[jlabel] = jdecoded
  print(f"\n{_PHOTO.value} ({photo.shape[1]}x{photo.shape[0]}), in neither "
        "the training nor the bench set:\n")
  # Times are of one eager call on this machine (no tf.function tracing);
  # benchmarks/codec_speed.py times the compiled functions.
  print("| model | bpp | PSNR dB | MS-SSIM | M | enc ms | dec ms |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  cell = lambda v, spec: "-" if v is None else format(v, spec)
  for r in rows:
    print(f"| {r['label']} | {r['bpp']:.3f} | {r['psnr']:.2f} | "
          f"{r['ms_ssim']:.4f} | {cell(r['scale'], '.3f')} | "
          f"{cell(r['encode_ms'], '.0f')} | {cell(r['decode_ms'], '.0f')} |")
  path = os.path.join(out, "comparison.png")
  _comparison(path, photo, rows, panels, nearest)
  print(f"\nDecoded PNGs, files and {path} are in {out}/")


def _save_png(path, pixels):
  with _io.atomic_open(path, "wb") as f:
    Image.fromarray(pixels).save(f, format="PNG")


def _comparison(path, photo, rows, panels, nearest):
  """Original and, at the lowest quality, plain | Resize | JPEG, with a
  centre crop enlarged 2x so the artefacts show."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  lowest = min(int(r["label"].split(":")[1]) for r in rows
               if not r["label"].startswith("JPEG"))
  chosen = [r for r in rows if r["label"].endswith(f":{lowest}")]
  jpegs = {nearest[r["label"]] for r in chosen}
  chosen += [r for r in rows if r["label"] in jpegs]
  h, w = photo.shape[:2]
  crop = (slice(h // 4, h // 4 + h // 3), slice(w // 3, w // 3 + w // 3))
  fig, axes = plt.subplots(2, len(chosen) + 1,
                           figsize=(4 * (len(chosen) + 1), 6.5))
  axes[0, 0].imshow(photo)
  axes[1, 0].imshow(photo[crop], interpolation="nearest")
  axes[0, 0].set_title("original")
  for i, r in enumerate(chosen, 1):
    axes[0, i].imshow(panels[r["label"]])
    axes[1, i].imshow(panels[r["label"]][crop], interpolation="nearest")
    axes[0, i].set_title(f"{r['label']}\n{r['bpp']:.3f} bpp, "
                         f"{r['psnr']:.2f} dB", fontsize=9)
  for ax in axes.ravel():
    ax.axis("off")
  fig.tight_layout()
  _io.save_figure(fig, path)


if __name__ == "__main__":
  app.run(main)
