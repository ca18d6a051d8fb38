r"""Compresses an image to a file, or decompresses a file to PNG.

  python -m experiments.compress --model=runs/b17/export compress photo.png photo.rztf
  python -m experiments.compress --model=runs/b17/export decompress photo.rztf out.png \
      [--original=photo.png]

--model is an exported SavedModel or a train_compression --model_dir.
Prints bpp (from the file size), M, and PSNR when the original is known.
Any bad input (missing or foreign file, corrupt or truncated stream, wrong
codec) prints one clear error line and exits with status 1.
"""
import sys

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from resizer_tf import _io
from resizer_tf import bitstream
from resizer_tf import images
from resizer_tf import serving

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "SavedModel or training model_dir.")
flags.DEFINE_string("original", None, "Original image, to report PSNR.")
flags.mark_flag_as_required("model")


def psnr(a, b):
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else 10 * np.log10(255. ** 2 / mse)


def run(command, source, target):
  compressor = serving.Compressor(FLAGS.model)
  if command == "compress":
    image = images.read_image(source)
    data, scale = compressor.compress(image)
    _io.atomic_write_bytes(target, data)
    h, w = image.shape[:2]
    line = (f"{target}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp, "
            f"M = {scale[0]:.4f}" + (f" x {scale[1]:.4f}"
                                     if scale[0] != scale[1] else ""))
    decoded = compressor.decompress(data)
    print(line + f", PSNR {psnr(image, decoded):.2f} dB")
  else:
    try:
      with open(source, "rb") as f:
        data = f.read()
    except OSError as e:
      raise ValueError(f"Cannot read {source!r}: {e.strerror}.") from e
    header = bitstream.read_header(data)
    decoded = compressor.decompress(data)
    from PIL import Image  # pylint: disable=g-import-not-at-top
    import io  # pylint: disable=g-import-not-at-top
    buffer = io.BytesIO()
    Image.fromarray(decoded).save(buffer, format="PNG")
    _io.atomic_write_bytes(target, buffer.getvalue())
    h, w = decoded.shape[:2]
    line = (f"{target}: {w}x{h}, {8 * len(data) / (h * w):.4f} bpp, "
            f"M = {header['scale'][0]:.4f}")
    if FLAGS.original:
      line += f", PSNR {psnr(images.read_image(FLAGS.original), decoded):.2f} dB"
    print(line)


def main(argv):
  if len(argv) != 4 or argv[1] not in ("compress", "decompress"):
    raise app.UsageError(
        "usage: compress IMAGE OUT | decompress FILE OUT.png")
  try:
    run(*argv[1:])
  except (ValueError, FileNotFoundError, tf.errors.InvalidArgumentError) as e:
    message = getattr(e, "message", None) or str(e)
    print(f"error: {message.strip().splitlines()[0]}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
