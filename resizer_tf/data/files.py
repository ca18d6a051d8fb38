"""Up-front checks of image files: missing and corrupt files are counted.

A corrupt or missing image must never stop a long training run (AVA has a
few broken files); they are found before training, skipped, counted and
logged.
"""
import collections
import concurrent.futures
import os

from absl import logging

VERIFY_MODES = ("none", "exists", "header", "decode")
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")

ScanStats = collections.namedtuple(
    "ScanStats", ["total", "missing", "corrupt", "used"])


def _check(path, verify):
  """Returns "ok", "missing" or "corrupt"."""
  if verify == "none":
    return "ok"
  try:
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
      return "missing" if not os.path.isfile(path) else "corrupt"
    if verify == "exists":
      return "ok"
    with open(path, "rb") as f:
      head = f.read(8)
    if not head.startswith(_MAGIC):
      return "corrupt"
    if verify == "decode":
      from PIL import Image  # pylint: disable=g-import-not-at-top
      with Image.open(path) as image:
        image.load()
  except OSError:
    return "corrupt"
  except Exception:  # pylint: disable=broad-except
    # PIL raises various errors on damaged data; all mean "corrupt".
    return "corrupt"
  return "ok"


def scan_files(paths, verify="header", num_threads=16, what="images"):
  """Checks `paths`; returns (mask of usable files, ScanStats).

  Args:
    paths: file paths.
    verify: "none" (trust the list), "exists" (file present and non-empty),
      "header" (also a JPEG/PNG/GIF/BMP signature; default) or "decode"
      (also fully decodable by Pillow: catches truncated files, slow).
    num_threads: parallel file checks.
    what: name used in the log line.
  """
  if verify not in VERIFY_MODES:
    raise ValueError(
        f"`verify` must be one of {VERIFY_MODES}; received {verify!r}.")
  paths = list(paths)
  with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
    results = list(pool.map(lambda p: _check(p, verify), paths))
  mask = [r == "ok" for r in results]
  stats = ScanStats(total=len(paths), missing=results.count("missing"),
                    corrupt=results.count("corrupt"), used=sum(mask))
  if stats.missing or stats.corrupt:
    bad = [p for p, r in zip(paths, results) if r != "ok"][:5]
    logging.warning(
        "Skipping %d missing and %d corrupt %s of %d (e.g. %s).",
        stats.missing, stats.corrupt, what, stats.total, bad)
  return mask, stats
