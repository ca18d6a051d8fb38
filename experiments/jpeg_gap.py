r"""PSNR of weights files against JPEG at the same bit rate, on one photo.

For each weights file (a shipped model or a campaign snapshot), codes the
photo with it (as `make demo` does) and prints bpp, PSNR and the PSNR that
Pillow's JPEG (4:4:4) reaches at that bpp, linearly interpolated over
qualities 1-95; the gap > 0 means the model beats JPEG there. Used for
docs/training_campaign.md, "What more steps buy".

  python -m experiments.jpeg_gap --photo=china \
      --weights=resizer_tf/pretrained_weights/balle2017_q3.npz
"""
import json

from absl import app
from absl import flags
import numpy as np

from resizer_tf import _io
from resizer_tf import images
from resizer_tf import pretrained
from resizer_tf.anchors import pillow_codecs
from resizer_tf.metrics import quality

_WEIGHTS = flags.DEFINE_list("weights", None, "Weights files (.npz).")
_PHOTO = flags.DEFINE_string(
    "photo", "china", "A built-in photo name or an image file path.")
_OUTPUT = flags.DEFINE_string("output", "", "Optional JSON-lines file.")
flags.mark_flag_as_required("weights")


def jpeg_curve(photo):
  """(bpp, PSNR) of Pillow JPEG at qualities 1-95, sorted by bpp."""
  codec = pillow_codecs.JpegCodec()
  pixels = photo.shape[0] * photo.shape[1]
  points = []
  for _, data in codec.sweep(photo):
    points.append((8 * len(data) / pixels,
                   float(quality.psnr(photo, codec.decode(data)))))
  points.sort()
  return np.array(points).T


def main(argv):
  del argv
  photo = images.load_photo(_PHOTO.value)
  pixels = photo.shape[0] * photo.shape[1]
  jpeg_bpp, jpeg_psnr = jpeg_curve(photo)
  lines = []
  for path in _WEIGHTS.value:
    model = pretrained.load_file(path)
    file, scale = model.compress(photo)
    data = file.numpy()
    psnr = float(quality.psnr(photo, model.decompress(data).numpy()))
    bpp = 8 * len(data) / pixels
    jpeg = float(np.interp(bpp, jpeg_bpp, jpeg_psnr))
    lines.append(json.dumps(dict(
        weights=path, bpp=round(bpp, 4), psnr=round(psnr, 3),
        m=round(float(scale.numpy()[0]), 4), jpeg_psnr_at_bpp=round(jpeg, 3),
        gap_db=round(psnr - jpeg, 3))))
    print(lines[-1], flush=True)
  if _OUTPUT.value:
    _io.atomic_write_text(_OUTPUT.value, "\n".join(lines) + "\n")


if __name__ == "__main__":
  app.run(main)
