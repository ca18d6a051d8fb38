r"""Checks that the commands in README.md and docs/*.md run as printed.

  make check-docs            # or: .venv/bin/python tools/check_docs.py [--list]

Every fenced shell block (``` with no language, sh, bash, console) is split
into commands (backslash continuations joined, `# comments` dropped), and
every ```python block is a snippet. Then, in document order:

* `make TARGET`: the target must exist (`make -n`); the cheap targets that
  later commands depend on (RUN_MAKE) are run for real.
* `python -m MODULE ARGS`: the binary must exist and accept ARGS exactly as
  printed (absl parses and validates them, required flags included, without
  running `main`). If no path it names is missing (e.g. /data/AVA/...), it is
  then run for real with the tiny flags of TINY_FLAGS appended (absl: the
  last value of a flag wins), so a training takes a minute or two. Binaries
  that are long by design (FLAGS_ONLY: benchmarks, campaigns, the demo) and
  commands that regenerate the published results under docs/ or
  benchmarks/results/ get the flag check only.
* Python snippets run as printed in a fresh interpreter.
* The same command twice is run once.

`--flags_only` runs no binary at all (a couple of minutes instead of about
ten on 2 idle cores).

Everything runs in a scratch working directory whose `runs/` holds links to
the repository's `runs/bench768` and `runs/train_images` (made by `make
bench-images` / `make train-images`), so commands never touch your own runs.
A placeholder (`...`) in a command is an error: docs show complete commands.
Fenced blocks that are not commands (program output, file contents) take a
language tag such as ```text; untagged diagrams are recognised and skipped.
The exit status is the number of failures (0: all good).
"""
import argparse
import dataclasses
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
SHELL_LANGS = ("", "sh", "bash", "shell", "console")
COMMAND_WORDS = ("make", "python", "python3", "pip", "bash", "sudo", "apt-get",
                 ".", "source")
# Outputs of make targets that later commands read (relative to the root).
SHARED_RUNS = ("runs/bench768", "runs/train_images")
# Make targets run for real (their outputs feed later commands); the others
# (demo, test, benchmarks, campaign, ...) are documented to take minutes to
# hours and are only checked to exist.
RUN_MAKE = ("bench-images", "train-images")
# Commands that write here regenerate the published results: long by design.
RESULTS_DIRS = ("docs/", "benchmarks/results")
# Appended to a binary's printed flags to make the run tiny.
TINY_FLAGS: Dict[str, List[str]] = {
    "experiments.train_compression": [
        "--steps=2", "--steps_per_epoch=2", "--patch_size=64",
        "--batch_size=2", "--num_filters=8", "--verbose=0",
        "--refine_steps=2", "--refine_patch_size=96"],
    "experiments.train_classifier": [
        "--epochs=1", "--steps_per_epoch=2", "--batch_size=4",
        "--train_subset=40", "--val_subset=20", "--verbose=0"],
    "experiments.evaluate_compression": ["--max_images=1", "--metrics=psnr"],
    "experiments.compress": [],
    "experiments.make_bench_images": [],
    "experiments.make_train_images": [],
}
# Binaries that are only checked for their flags (long by design; their
# docs give the measured time).
FLAGS_ONLY = ("experiments.warp_convergence", "experiments.train_campaign",
              "experiments.demo", "benchmarks.", "experiments.train_iqa")

_FLAG_CHECK = r"""
import runpy, sys
from absl import app, flags

def _parse_only(main, argv=None, **kwargs):
  del main, kwargs
  flags.FLAGS(argv or sys.argv)  # unknown flags, bad values, required flags
  print("FLAGS-OK")
  sys.exit(0)

app.run = _parse_only
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
print("main never called app.run", file=sys.stderr)
sys.exit(3)
"""


@dataclasses.dataclass
class Item:
  source: str  # file:line
  kind: str  # "shell" or "python"
  text: str


def extract(path: str) -> List[Item]:
  """Shell commands and Python snippets of one Markdown file, in order."""
  items = []
  rel = os.path.relpath(path, ROOT)
  lines = open(path, encoding="utf8").read().splitlines()
  i = 0
  while i < len(lines):
    m = re.match(r"^\s*```\s*([\w+-]*)\s*$", lines[i])
    if not m:
      i += 1
      continue
    lang, start, body = m.group(1).lower(), i + 1, []
    i += 1
    while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
      body.append(lines[i])
      i += 1
    i += 1
    if lang == "python":
      items.append(Item(f"{rel}:{start + 1}", "python", "\n".join(body)))
    elif lang in SHELL_LANGS:
      command, first = "", None
      for n, line in enumerate(body, start + 1):
        if first is None:
          first = n
        stripped = line.rstrip()
        if stripped.endswith("\\"):
          command += stripped[:-1] + " "
          continue
        command += stripped
        words = _without_env(
            shlex.split(command, comments=True) if command.strip() else [])
        if words and (words[0] in COMMAND_WORDS or not _is_diagram(words)):
          items.append(Item(f"{rel}:{first}", "shell", command.strip()))
        command, first = "", None
  return items


def _without_env(words: List[str]) -> List[str]:
  """The command after leading VAR=value assignments (documented commands
  set e.g. TF_NUM_INTRAOP_THREADS; they tune a run, not its flags)."""
  while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
    words = words[1:]
  return words


def _is_diagram(words: List[str]) -> bool:
  """Fenced text that is not a command (an ASCII diagram, a table)."""
  return not re.match(r"^[\w./-]+$", words[0]) or any(
      c in " ".join(words) for c in "─►│┌└")


@dataclasses.dataclass
class Result:
  item: Item
  status: str  # "ran", "flags", "exists", "FAIL"
  detail: str = ""
  seconds: float = 0.0


class Checker:
  """Runs the items in one scratch directory."""

  def __init__(self, workdir: str, python: str, timeout: int,
               flags_only: bool = False):
    self.flags_only = flags_only
    self.workdir = workdir
    self.python = python
    self.timeout = timeout
    self.env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                    PYTHONPATH=ROOT + os.pathsep +
                    os.environ.get("PYTHONPATH", ""))
    os.makedirs(os.path.join(workdir, "runs"), exist_ok=True)
    self._passed: Dict[Tuple[str, str], str] = {}
    self._where: Dict[Tuple[str, str], str] = {}

  def _link_shared(self) -> None:
    for rel in SHARED_RUNS:
      src, dst = os.path.join(ROOT, rel), os.path.join(self.workdir, rel)
      if os.path.isdir(src) and not os.path.lexists(dst):
        os.symlink(src, dst)

  def _run(self, argv: List[str], cwd: Optional[str] = None
           ) -> Tuple[int, str]:
    try:
      p = subprocess.run(argv, cwd=cwd or self.workdir, env=self.env,
                         stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=self.timeout, check=False)
    except subprocess.TimeoutExpired:
      return -1, f"timed out after {self.timeout} s"
    return p.returncode, (p.stdout + p.stderr)[-3000:]

  def check(self, item: Item) -> Result:
    self._link_shared()
    start = time.time()
    key = (item.kind, " ".join(shlex.split(item.text, comments=True))
           if item.kind == "shell" else item.text)
    if key in self._passed:  # The same command again: once is enough.
      return Result(item, self._passed[key], f"same as {self._where[key]}")
    result = (self._python_snippet(item) if item.kind == "python"
              else self._shell(item))
    result.seconds = time.time() - start
    if result.status != "FAIL":
      self._passed[key], self._where[key] = result.status, item.source
    return result

  def _python_snippet(self, item: Item) -> Result:
    code, out = self._run([self.python, "-c", item.text])
    return Result(item, "ran" if code == 0 else "FAIL",
                  "" if code == 0 else out)

  def _shell(self, item: Item) -> Result:
    words = _without_env(shlex.split(item.text, comments=True))
    if "..." in words or any(w.endswith(",...") for w in words):
      return Result(item, "FAIL", "placeholder '...' in a documented command")
    if words[0] == "make":
      targets = [w for w in words[1:] if "=" not in w and
                 not w.startswith("-")]
      code, out = self._run(["make", "-n"] + words[1:], cwd=ROOT)
      if code != 0:
        return Result(item, "FAIL", out)
      if all(t in RUN_MAKE for t in targets) and targets and (
          not self.flags_only):
        code, out = self._run(words, cwd=ROOT)
        return Result(item, "ran" if code == 0 else "FAIL",
                      "" if code == 0 else out)
      return Result(item, "exists")
    if words[0] in ("python", "python3") and len(words) > 2 and (
        words[1] == "-m"):
      return self._binary(item, words[2], words[3:])
    if words[0] in (".", "source"):
      missing = [w for w in words[1:] if not os.path.exists(os.path.join(ROOT, w))]
      return Result(item, "FAIL" if missing else "exists",
                    f"missing {missing}" if missing else
                    "environment activation; commands here use this python")
    if words[0] in ("pip", "sudo", "apt-get", "bash"):
      return Result(item, "exists", "install/system command, not run")
    return Result(item, "FAIL", f"unknown command {words[0]!r}")

  def _binary(self, item: Item, module: str, args: List[str]) -> Result:
    code, out = self._run([self.python, "-c", _FLAG_CHECK, module] + args)
    if code != 0 or "FLAGS-OK" not in out:
      return Result(item, "FAIL", out)
    missing = [p for p in _paths(args) if p.startswith("/") and
               not glob.glob(p)]
    if missing:
      return Result(item, "flags", f"not run: needs {', '.join(missing)}")
    if self.flags_only:
      return Result(item, "flags", "--flags_only")
    if module.startswith(FLAGS_ONLY) or module not in TINY_FLAGS:
      return Result(item, "flags", "long-running; flags checked only")
    if any(p.startswith(RESULTS_DIRS) for p in _paths(args)):
      return Result(item, "flags", "regenerates published results (long); "
                    "flags checked only")
    code, out = self._run([self.python, "-m", module] + args +
                          TINY_FLAGS[module])
    return Result(item, "ran" if code == 0 else "FAIL",
                  "" if code == 0 else out)


def _paths(args: List[str]) -> List[str]:
  """File-system paths among the arguments (flag values and positionals)."""
  paths = []
  for a in args:
    value = a.split("=", 1)[1] if a.startswith("--") and "=" in a else a
    for part in value.split(","):
      part = part.split("=")[-1]  # name@lambda=path
      if "/" in part:
        paths.append(part)
  return paths


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--list", action="store_true",
                      help="only list the extracted commands")
  parser.add_argument("--timeout", type=int, default=600,
                      help="seconds per command")
  parser.add_argument("--keep", action="store_true",
                      help="keep the scratch directory")
  parser.add_argument("--flags_only", action="store_true",
                      help="check binaries' flags but run none of them "
                      "(minutes instead of tens of minutes on 2 cores)")
  args = parser.parse_args()
  items = [it for path in DOCS for it in extract(os.path.join(ROOT, path))]
  if args.list:
    for it in items:
      print(f"{it.source}: [{it.kind}] {it.text.splitlines()[0]}")
    return 0
  workdir = tempfile.mkdtemp(prefix="check_docs_")
  checker = Checker(workdir, sys.executable, args.timeout, args.flags_only)
  failures = 0
  total = time.time()
  for it in items:
    r = checker.check(it)
    first = it.text.splitlines()[0]
    print(f"{r.status:6s} {r.seconds:6.1f}s  {it.source}  {first[:90]}"
          + (f"  ({r.detail})" if r.detail and r.status != "FAIL" else ""),
          flush=True)
    if r.status == "FAIL":
      failures += 1
      print("       " + r.detail.replace("\n", "\n       "), flush=True)
  print(f"{len(items)} commands/snippets, {failures} failed, "
        f"{time.time() - total:.0f} s; scratch: {workdir}")
  if not args.keep:
    subprocess.run(["rm", "-rf", workdir], check=False)
  return min(failures, 100)


if __name__ == "__main__":
  sys.exit(main())
