"""Files on disk: atomic writes and image reading."""
import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
  """Opens a temp file beside `path`; renames it over `path` on success.

  A crash or exception never leaves a half-written `path` behind.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(
      dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
  # mkstemp makes 0600 files; give the final file the usual umask mode.
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(tmp, 0o666 & ~umask)
  try:
    with os.fdopen(fd, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def atomic_write_bytes(path, data):
  with atomic_open(path, "wb") as f:
    f.write(data)


def atomic_write_text(path, text):
  with atomic_open(path, "w") as f:
    f.write(text)


def save_figure(fig, path, dpi=120, **kwargs):
  """Writes a matplotlib figure as PNG atomically and closes it."""
  import io  # pylint: disable=g-import-not-at-top
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=dpi, **kwargs)
  plt.close(fig)
  atomic_write_bytes(path, buffer.getvalue())
