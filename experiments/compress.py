r"""Compresses an image to a file, or decompresses a file to PNG.

  python -m experiments.compress --model=runs/b17/export compress photo.png photo.rztf
  python -m experiments.compress decompress photo.rztf out.png [--original=photo.png]

--model is an exported SavedModel, a train_compression --model_dir, or a
shipped model NAME:QUALITY (resizer_tf.pretrained; --pretrained=NAME:QUALITY
says the same). `decompress` finds the
model from the file's model fingerprint when it is a shipped model, so
--model is only needed for your own models.

Inputs and outputs are checked before the model is loaded: the output must
differ from the input and must not exist (unless --overwrite). Prints the
encode/decode time, bpp (from the file size), M, PSNR and MS-SSIM (against
the original when known). Any expected failure (missing, unreadable or
foreign file, corrupt or truncated stream, a file made by another model,
unwritable output, corrupt SavedModel) prints one line "error: ..." and
exits with status 1.
"""
import os
import sys


def _quiet_native_logs():
  """On a machine without an NVIDIA device, TF's C++ start-up only reports
  CUDA probing ("Unable to register cuDNN factory", TensorRT): silence it.
  Errors still surface as Python exceptions. RESIZER_TF_VERBOSE=1 keeps it.
  Must run before TensorFlow is imported."""
  if os.environ.get("RESIZER_TF_VERBOSE") or "tensorflow" in sys.modules:
    return
  if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0")):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
  else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


_quiet_native_logs()

# pylint: disable=g-import-not-at-top,wrong-import-position
import io
import time

from absl import app
from absl import flags
import numpy as np
# TensorFlow must be imported here, before app.run: imported inside main
# (after absl's init), `import tensorflow` creates TF's eager context in
# graph mode (absl's call_after_init runs TF's device-count callback at
# once), and every model this CLI traces computes `tensor == x` as object
# identity: tfc's GDN then skips its abs(), and the CLI wrote other (larger,
# worse) files than `model.compress` in-process. resizer_tf/_tf_context.py
# has the details and repairs the context for other programs.
import tensorflow as tf

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None,
                    "SavedModel, training model_dir, or shipped NAME:QUALITY. "
                    "Optional for decompress of a shipped model's file.")
flags.DEFINE_string("pretrained", None,
                    "A shipped model NAME:QUALITY, e.g. balle2017+resize:1 "
                    "(the same as --model=NAME:QUALITY).")
flags.DEFINE_string("original", None, "Original image, to report PSNR.")
flags.DEFINE_bool("overwrite", False, "Replace an existing output file.")


class CliError(Exception):
  """An expected failure: printed as one line, exit status 1."""


def _model_flag():
  if FLAGS.pretrained and FLAGS.model:
    raise CliError("Give --model or --pretrained, not both.")
  return FLAGS.pretrained or FLAGS.model


def psnr(a, b):
  mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
  return float("inf") if mse == 0 else 10 * np.log10(255. ** 2 / mse)


def quality_report(reference, decoded):
  """'PSNR x dB, MS-SSIM y' (MS-SSIM with as many scales as the size allows)."""
  from resizer_tf.metrics import quality  # pylint: disable=g-import-not-at-top
  text = f"PSNR {psnr(reference, decoded):.2f} dB"
  factors = list(quality.MS_SSIM_POWER_FACTORS)
  while factors and min(reference.shape[:2]) < quality.ms_ssim_min_size(
      tuple(factors)):
    factors.pop()
  if factors:
    text += f", MS-SSIM {quality.ms_ssim(reference, decoded, tuple(factors)):.4f}"
  return text


def check_paths(source, target, overwrite):
  """Refuses, before any work, what would fail late or destroy data."""
  if not os.path.exists(source):
    raise CliError(f"No such file: {source!r}.")
  if os.path.isdir(source):
    raise CliError(f"{source!r} is a directory, not a file.")
  if not os.access(source, os.R_OK):
    raise CliError(f"Cannot read {source!r}: permission denied.")
  if os.path.isdir(target):
    raise CliError(f"The output {target!r} is a directory: give a file name.")
  if os.path.realpath(source) == os.path.realpath(target) or (
      os.path.exists(target) and os.path.samefile(source, target)):
    raise CliError(f"The output {target!r} is the input file: refusing to "
                   "overwrite it.")
  if os.path.exists(target) and not overwrite:
    raise CliError(f"The output {target!r} exists: pass --overwrite to "
                   "replace it.")
  parent = os.path.dirname(os.path.abspath(target))
  if not os.path.isdir(parent):
    raise CliError(f"The output folder {parent!r} does not exist.")
  if not os.access(parent, os.W_OK):
    raise CliError(f"Cannot write to the output folder {parent!r}: "
                   "permission denied.")


def load_compressor(model_flag, fingerprint=None):
  """A Compressor from --model, or the shipped model that made a file."""
  from resizer_tf import serving  # pylint: disable=g-import-not-at-top
  if model_flag:
    if not os.path.exists(model_flag) and ":" in model_flag:
      from resizer_tf import pretrained  # pylint: disable=g-import-not-at-top
      name, quality = pretrained.parse_spec(model_flag)
      return serving.Compressor.from_model(pretrained.load(name, quality))
    return serving.Compressor(model_flag)
  if fingerprint is None:
    raise CliError("--model is required to compress: a SavedModel, a "
                   "training model_dir or a shipped NAME:QUALITY.")
  found = serving.find_registered_model(fingerprint)
  if found is None:
    raise CliError(
        f"The file was made by model {fingerprint}, which is not a shipped "
        "model: pass the SavedModel or model_dir that made it with --model.")
  return serving.Compressor.from_model(found[1]())


def write_output(path, data):
  from resizer_tf import _io  # pylint: disable=g-import-not-at-top
  try:
    _io.atomic_write_bytes(path, data)
  except OSError as e:
    raise CliError(f"Cannot write {path!r}: {e.strerror or e} (disk full "
                   "or not writable?).") from e


def run(command, source, target):
  from resizer_tf import bitstream  # pylint: disable=g-import-not-at-top
  from resizer_tf import images  # pylint: disable=g-import-not-at-top
  from resizer_tf import serving  # pylint: disable=g-import-not-at-top
  check_paths(source, target, FLAGS.overwrite)
  original = images.read_image(FLAGS.original) if FLAGS.original else None
  if command == "compress":
    image = images.read_image(source)
    compressor = load_compressor(_model_flag())
    start = time.perf_counter()
    data, scale = compressor.compress(image)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = compressor.decompress(data)
    decode_s = time.perf_counter() - start
    write_output(target, data)
    h, w = image.shape[:2]
    m = f"{scale[0]:.4f}" + (f" x {scale[1]:.4f}" if scale[0] != scale[1]
                             else "")
    print(f"{target}: {len(data)} bytes, {8 * len(data) / (h * w):.4f} bpp, "
          f"M = {m}, {quality_report(image, decoded)}, encode "
          f"{encode_s * 1e3:.0f} ms, decode {decode_s * 1e3:.0f} ms")
    return
  try:
    with open(source, "rb") as f:
      data = f.read()
  except OSError as e:
    raise CliError(f"Cannot read {source!r}: {e.strerror}.") from e
  try:
    header = bitstream.read_header(data)
  except ValueError as e:
    raise CliError(f"{source}: {e}") from e
  compressor = load_compressor(_model_flag(), header["fingerprint"])
  if header["fingerprint"] != compressor.fingerprint:
    raise CliError(
        f"{source} was made by "
        f"{serving.describe_fingerprint(header['fingerprint'])}, not by "
        f"{_model_flag() or 'this model'} (model {compressor.fingerprint}): "
        "decode it with the model that made it.")
  start = time.perf_counter()
  decoded = compressor.decompress(data)
  decode_s = time.perf_counter() - start
  from PIL import Image  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  Image.fromarray(decoded).save(buffer, format="PNG")
  write_output(target, buffer.getvalue())
  h, w = decoded.shape[:2]
  line = (f"{target}: {w}x{h}, {8 * len(data) / (h * w):.4f} bpp, "
          f"M = {header['scale'][0]:.4f}")
  if original is not None:
    if original.shape != decoded.shape:
      raise CliError(f"--original {FLAGS.original!r} is {original.shape[1]}x"
                     f"{original.shape[0]}, the file {w}x{h}.")
    line += ", " + quality_report(original, decoded)
  print(line + f", decode {decode_s * 1e3:.0f} ms")


def main(argv):
  if len(argv) != 4 or argv[1] not in ("compress", "decompress"):
    raise app.UsageError(
        "usage: compress IMAGE OUT | decompress FILE OUT.png")
  from resizer_tf import serving  # pylint: disable=g-import-not-at-top
  try:
    run(*argv[1:])
  except (CliError, ValueError, OSError) as e:
    print(f"error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
    sys.exit(1)
  except tf.errors.OpError as e:
    if os.environ.get("RESIZER_TF_VERBOSE"):
      raise
    print(f"error: {serving.error_message(e)}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
