"""Strategy, fault-tolerant checkpoints and atomic exports for `fit` loops.

Both training binaries (compression and vision) train with `Model.fit`,
so multi-device training, resume-after-kill and TensorBoard behave alike.
"""
import contextlib
import ctypes
import errno
import fcntl
import os
import re
import shutil
import socket
import sys
import tempfile
import time

import tensorflow as tf
from absl import logging


def configure_logical_cpus(count):
  """Splits the CPU into `count` logical devices (before TF initialises).

  Lets a CPU-only machine run `MirroredStrategy` with several replicas, the
  way tests prove multi-device training without GPUs.
  """
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(num_devices=0):
  """`MirroredStrategy` over `num_devices` devices (0: all GPUs, else CPU).

  With a single device the default strategy is returned (BackupAndRestore
  supports it, not OneDeviceStrategy), so one code path serves one GPU,
  several GPUs and the CPU.
  """
  gpus = tf.config.list_logical_devices("GPU")
  devices = gpus or tf.config.list_logical_devices("CPU")
  if num_devices:
    if num_devices > len(devices):
      raise ValueError(
          f"Asked for {num_devices} devices but only {len(devices)} are "
          f"visible: {[d.name for d in devices]}.")
    devices = devices[:num_devices]
  elif not gpus:
    devices = devices[:1]
  if len(devices) == 1:
    return tf.distribute.get_strategy()
  logging.info("MirroredStrategy over %s", [d.name for d in devices])
  return tf.distribute.MirroredStrategy([d.name for d in devices])


def fit_callbacks(model_dir, tensorboard=True, save_freq="epoch",
                  extra=()):
  """BackupAndRestore (resume after a kill), TensorBoard and a CSV log.

  Also prepares `model_dir` for this run (`prepare_model_dir`): takes its
  lock, so a second concurrent run on it is refused, and cleans what killed
  runs left behind.
  """
  prepare_model_dir(model_dir)
  callbacks = [
      tf.keras.callbacks.BackupAndRestore(
          os.path.join(model_dir, "backup"), save_freq=save_freq,
          delete_checkpoint=False),
      tf.keras.callbacks.CSVLogger(
          os.path.join(model_dir, "log.csv"), append=True),
  ]
  if tensorboard:
    callbacks.append(tf.keras.callbacks.TensorBoard(
        os.path.join(model_dir, "tensorboard"), update_freq="epoch"))
  callbacks.extend(extra)
  return callbacks


# -- one run per model_dir -------------------------------------------------------

LOCK_FILE = ".lock"
_held_locks = {}  # realpath -> open lock file, held until the process ends


class ModelDirBusyError(RuntimeError):
  """Another process is training in the same model_dir."""


def lock_model_dir(model_dir):
  """Takes an exclusive lock on `model_dir` for the life of this process.

  flock(2) on model_dir/.lock: released by the kernel when the process
  ends, even by SIGKILL, so a killed run never leaves a stale lock. Calling
  it again from the same process is a no-op (a resumed `fit` in one
  process). Raises ModelDirBusyError naming the holder when another process
  holds it.
  """
  os.makedirs(model_dir, exist_ok=True)
  key = os.path.realpath(model_dir)
  if key in _held_locks:
    return
  path = os.path.join(model_dir, LOCK_FILE)
  f = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    f.seek(0)
    holder = f.read().strip() or "another process"
    f.close()
    raise ModelDirBusyError(
        f"{model_dir!r} is in use by another training run ({holder}): wait "
        "for it to finish, or give another --model_dir.") from e
  f.seek(0)
  f.truncate()
  f.write(f"pid {os.getpid()} on {socket.gethostname()}, started "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
  f.flush()
  _held_locks[key] = f


def release_model_dir(model_dir):
  f = _held_locks.pop(os.path.realpath(model_dir), None)
  if f is not None:
    f.close()


_TEMP_DIR_RE = re.compile(r".*_temp(_[0-9a-f]{32})?$")
# ".<name>.<8 random>.tmp" (_io.atomic_open), ".<name>.<8 random><suffix>"
# (write_file_atomically), "<name>.tmp<32 hex>" (TF's atomic file writes).
_ATOMIC_TMP_RE = re.compile(
    r"^(\..+\.[a-z0-9_]{8}(\.tmp|\.[A-Za-z0-9]+)?|.+\.tmp[0-9a-f]{32})$")


def clean_stale_files(model_dir):
  """Removes what killed runs leave in `model_dir` (call under its lock).

  - checkpoint staging folders `*_temp` / `*_temp_<hex>` (TF writes a
    checkpoint there and renames it; a kill leaves them forever);
  - temp files of `_io.atomic_open` / `write_file_atomically`
    (".<name>.<random>.tmp");
  - temp and old folders of interrupted export swaps (after recovering the
    export if the swap died half-way: `recover_directory`).
  Returns the removed paths.
  """
  removed = []
  if not os.path.isdir(model_dir):
    return removed
  for root, dirs, files in os.walk(model_dir, topdown=True):
    for d in list(dirs):
      path = os.path.join(root, d)
      if _TEMP_DIR_RE.match(d):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        dirs.remove(d)
      elif d.startswith("."):
        dirs.remove(d)  # export swap leftovers: recover_directory's job
    for name in files:
      if name != LOCK_FILE and _ATOMIC_TMP_RE.match(name):
        with contextlib.suppress(OSError):
          os.unlink(os.path.join(root, name))
          removed.append(os.path.join(root, name))
  for entry in os.listdir(model_dir):
    path = os.path.join(model_dir, entry)
    if os.path.isdir(path) and not entry.startswith("."):
      removed += recover_directory(path)
  # Swap leftovers whose target folder is gone too.
  for entry in os.listdir(model_dir):
    m = _SWAP_RE.match(entry)
    if m:
      target = os.path.join(model_dir, m.group(1))
      removed += recover_directory(target)
  for path in removed:
    logging.warning("Removed %s, left by an interrupted run.", path)
  return removed


def prepare_model_dir(model_dir):
  """Lock `model_dir` for this process, then clean stale leftovers."""
  lock_model_dir(model_dir)
  return clean_stale_files(model_dir)


# -- atomic directory replacement -------------------------------------------------

_SWAP_RE = re.compile(r"^\.(.+)\.(new|old)-(\d+)-[A-Za-z0-9_]+$")


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _rename_exchange(a, b):
  """Atomically swaps two paths (Linux renameat2 RENAME_EXCHANGE).

  Returns False when the OS or filesystem cannot (then callers fall back to
  two renames plus `recover_directory`).
  """
  if not sys.platform.startswith("linux"):
    return False
  try:
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = libc.renameat2
  except (OSError, AttributeError):
    return False
  at_fdcwd, rename_exchange = -100, 2
  renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                        ctypes.c_char_p, ctypes.c_uint]
  if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b),
               rename_exchange) == 0:
    return True
  err = ctypes.get_errno()
  if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
    return False
  raise OSError(err, os.strerror(err), a)


# Test hook: called between the two renames of the fallback swap.
_between_renames = None


def recover_directory(target_dir):
  """Repairs an export swap that a kill interrupted; returns removed paths.

  If `target_dir` is missing but a swap left its previous version
  (".<name>.old-<pid>-<x>") or a finished new one (".<name>.new-..."), the
  newest complete one becomes `target_dir` again. Leftovers of dead
  processes are removed; those of live ones are left alone.
  """
  parent = os.path.dirname(os.path.abspath(target_dir))
  base = os.path.basename(os.path.abspath(target_dir))
  if not os.path.isdir(parent):
    return []
  leftovers = []
  for entry in os.listdir(parent):
    m = _SWAP_RE.match(entry)
    if m and m.group(1) == base and not _pid_alive(int(m.group(3))):
      leftovers.append((m.group(2), os.path.join(parent, entry)))
  if not os.path.exists(target_dir):
    # A finished ".new" was complete before the swap began; ".old" was the
    # export users had. Prefer the newer complete export.
    for kind in ("new", "old"):
      for k, path in sorted(leftovers, key=lambda kp: -os.path.getmtime(
          kp[1])):
        # ".old" was the live version (complete by definition, even if an
        # older build wrote it without the marker); ".new" only once marked.
        if k == kind and (kind == "old" or os.path.isfile(
            os.path.join(path, ".complete"))):
          os.replace(path, target_dir)
          logging.warning("Recovered %s from %s (an export swap was "
                          "interrupted).", target_dir, path)
          leftovers.remove((k, path))
          break
      if os.path.exists(target_dir):
        break
  removed = []
  for _, path in leftovers:
    shutil.rmtree(path, ignore_errors=True)
    removed.append(path)
  return removed


def _make_readable(path):
  """mkdtemp makes 0700 folders: give the usual umask mode, as files get."""
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o777 & ~umask)


def replace_directory_atomically(write_fn, target_dir):
  """Calls `write_fn(tmp_dir)`, then puts the result at `target_dir`.

  At every instant `target_dir` is either the previous complete version or
  the new complete one: on Linux the swap is one renameat2(RENAME_EXCHANGE);
  elsewhere it is two renames, and a kill between them is repaired by
  `recover_directory` (run at the next start-up by `prepare_model_dir`).
  A crash while writing leaves the previous version intact. The folder
  gets the umask mode (readable by others, not 0700).
  """
  parent = os.path.dirname(os.path.abspath(target_dir))
  base = os.path.basename(os.path.abspath(target_dir))
  os.makedirs(parent, exist_ok=True)
  recover_directory(target_dir)
  tmp = tempfile.mkdtemp(dir=parent, prefix=f".{base}.new-{os.getpid()}-")
  try:
    write_fn(tmp)
    _make_readable(tmp)
    # Marks a version as complete for recovery (written last).
    with open(os.path.join(tmp, ".complete"), "w", encoding="utf-8") as f:
      f.write("complete\n")
    if not os.path.exists(target_dir):
      os.replace(tmp, target_dir)
      return
    if _rename_exchange(tmp, target_dir):
      shutil.rmtree(tmp, ignore_errors=True)  # now the previous version
      return
    old = tempfile.mkdtemp(dir=parent, prefix=f".{base}.old-{os.getpid()}-")
    os.rmdir(old)
    os.replace(target_dir, old)
    try:
      if _between_renames is not None:
        _between_renames()
      os.replace(tmp, target_dir)
    except BaseException:
      os.replace(old, target_dir)
      raise
    shutil.rmtree(old, ignore_errors=True)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def write_file_atomically(write_fn, path):
  """Calls `write_fn(tmp_path)` (same suffix as `path`), then renames.

  For writers that insist on a file name rather than a file object, such as
  `Model.save("x.keras")`: a crash never leaves a half-written `path`.
  """
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  base = os.path.basename(path)
  suffix = "".join(os.path.splitext(base)[1:])
  fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + base + ".",
                             suffix=suffix)
  os.close(fd)
  try:
    os.unlink(tmp)  # Some writers refuse to overwrite an existing file.
    write_fn(tmp)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
