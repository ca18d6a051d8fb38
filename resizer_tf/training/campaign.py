"""Resumable training runs that span sessions: weights-only snapshots.

A *run* trains one `ResizeCompress` (plain or + Resize) for a fixed number
of steps. Its state between processes is a weights file (`weights_file`,
float16 or, with `RunSpec.storage="int8"`, int8 kernels), written atomically
every `snapshot_every` steps, whose `meta` records the steps done and the
training curve so far; a new process resumes from it with fresh Adam state
(the difference to an uninterrupted run, with the rounding of the weights
to the file's precision: for int8 about one Adam step of the refine stage;
documented in docs/training_campaign.md). A run that has
no snapshot yet may warm-start components from another run's file (e.g. the
codec of a shared plain model).

The schedule is a function of the run's own step, so a resumed run follows
the same learning-rate curve as an uninterrupted one.
"""
import dataclasses
import math
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf

from resizer_tf import weights_file
from resizer_tf.training import compression

PRECISIONS = ("float32", "mixed_bfloat16")
CURVE_COLUMNS = ("step", "wall_s", "loss", "bpp", "mse", "psnr", "scale")


@dataclasses.dataclass
class RunSpec:
  """One training run.

  Attributes:
    name: file stem of the snapshot (e.g. "balle2017+resize_q1").
    resize: Resize-Compress (True) or the plain codec.
    lmbda: lambda of Eq. (12).
    steps: total steps of the run.
    learning_rate: Adam rate of all three optimizer groups until
      `decay_fraction * steps`, then times `decay_factor`; times
      `warmup_factor` for the first `warmup_steps` steps; the entropy
      models' priors at `entropy_rate_factor` times that (the authors' code
      trains its entropy-model parameters at 1e-3 against 1e-4), the
      ResizeParamNet at `resize_rate_factor` times that (Sec. III-F: 1).
    warm_start: (path, components) to initialise from when the run has no
      snapshot yet, or None.
    quantization: `ResizeCompress(quantization=...)`; the campaign's runs
      use "mixed" (docs/training_campaign.md: with "noise", short runs
      decoded 4 dB below their training PSNR).
    max_downscale: crops are cut at 1 ... max_downscale times the patch size
      and area-downscaled to it (`image_patches.patches_dataset`); 1 is the
      paper's "no augmentation" (Sec. III-F).
    precision: the Keras dtype policy of the training step: "float32" (the
      paper's) or "mixed_bfloat16" (variables stay float32; ~2x faster
      per step on CPUs with AMX/AVX512-BF16, docs/train_speed.md); the
      weights file is the same kind either way.
    storage: `weights_file.save(encoding=...)` of the run's snapshots.
  """
  name: str
  resize: bool
  lmbda: float
  steps: int
  codec: str = "balle2017"
  num_filters: int = 128
  learning_rate: float = 1e-4
  decay_fraction: float = 0.5
  decay_factor: float = 0.3
  warm_start: tuple = None
  seed: int = 0
  warmup_steps: int = 0
  warmup_factor: float = 1.0
  entropy_rate_factor: float = 1.0
  quantization: str = "noise"
  resize_rate_factor: float = 1.0
  max_downscale: float = 1.0
  precision: str = "float32"
  storage: str = "float16"

  def __post_init__(self):
    if self.precision not in PRECISIONS:
      raise ValueError(f"RunSpec.precision must be one of {PRECISIONS} "
                       f"(float32 variables), got {self.precision!r}.")
    if self.storage not in weights_file.ENCODINGS:
      raise ValueError(f"RunSpec.storage must be one of "
                       f"{weights_file.ENCODINGS}, got {self.storage!r}.")

  def learning_rate_at(self, step):
    if step < self.warmup_steps:
      return self.learning_rate * self.warmup_factor
    if step >= self.decay_fraction * self.steps:
      return self.learning_rate * self.decay_factor
    return self.learning_rate


def wait_for_warm_start(spec, poll_seconds=30, timeout_seconds=None):
  """Blocks until the run that `spec` warm-starts from has finished (its
  snapshot reports `steps_done >= steps`), so several processes can share
  one campaign. No-op for runs without a warm start."""
  if not spec.warm_start:
    return
  source = spec.warm_start[0]
  start = time.time()
  while True:
    if os.path.isfile(source):
      _, meta = weights_file.read(source)
      if meta.get("steps_done", 0) >= meta.get("spec", {}).get("steps", 0):
        return
    if timeout_seconds is not None and time.time() - start > timeout_seconds:
      raise TimeoutError(f"{source} did not finish within "
                         f"{timeout_seconds} s.")
    logging.info("%s: waiting for %s to finish", spec.name, source)
    time.sleep(poll_seconds)


def snapshot_steps(path):
  """Steps done according to a snapshot file (0 if there is none)."""
  if not os.path.isfile(path):
    return 0
  _, meta = weights_file.read(path)
  return int(meta.get("steps_done", 0))


class _Snapshots(tf.keras.callbacks.Callback):
  """Logs the curve every epoch (= log_every steps); snapshots the weights."""

  def __init__(self, spec, path, meta, log_every, snapshot_every, on_snapshot):
    super().__init__()
    self.spec, self.path, self.meta = spec, path, meta
    self.log_every, self.snapshot_every = log_every, snapshot_every
    self.on_snapshot = on_snapshot
    self._start = None

  def on_train_begin(self, logs=None):
    self._start = time.time() - self.meta.get("wall_s", 0.)

  def on_epoch_begin(self, epoch, logs=None):
    rate = self.spec.learning_rate_at(epoch * self.log_every)
    self.model.optimizer.learning_rate.assign(rate)
    self.model.resize_optimizer.learning_rate.assign(
        rate * self.spec.resize_rate_factor)
    self.model.entropy_optimizer.learning_rate.assign(
        rate * self.spec.entropy_rate_factor)

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    step = (epoch + 1) * self.log_every
    values = [float(logs.get(k, math.nan)) for k in CURVE_COLUMNS[2:]]
    if not all(math.isfinite(v) for v in values):
      raise FloatingPointError(
          f"Run {self.spec.name}: non-finite training metrics at step {step} "
          f"({dict(zip(CURVE_COLUMNS[2:], values))}); the last good "
          f"snapshot is {self.path}.")
    wall = time.time() - self._start
    self.meta["curve"].append([step, round(wall, 1)] +
                              [round(v, 6) for v in values])
    self.meta["steps_done"] = step
    self.meta["wall_s"] = round(wall, 1)
    logging.info("%s step %d/%d: loss %.4f bpp %.4f PSNR %.2f M %.3f "
                 "(%.2f s/step)", self.spec.name, step, self.spec.steps,
                 values[0], values[1], values[3], values[4],
                 wall / max(1, step - self.meta["resumed_at"][-1]))
    if step % self.snapshot_every == 0 or step >= self.spec.steps:
      self.save()

  def save(self):
    sha = weights_file.save(self.model, self.path, self.meta,
                            encoding=self.spec.storage)
    logging.info("%s: snapshot at step %d -> %s", self.spec.name,
                 self.meta["steps_done"], self.path)
    if self.on_snapshot:
      self.on_snapshot(self.spec, self.path, sha, self.meta)


def build(spec, patch_size=128):
  """The compiled, built model of `spec` (fixed Adam rates; the callback
  sets them), constructed and first called under `spec.precision`."""
  with compression.dtype_policy(spec.precision):
    model = _build(spec)
    model(tf.zeros([1, patch_size, patch_size, 3]))
  return model


def _build(spec):
  model = compression.build_model(
      spec.codec, codec_kwargs={"num_filters": spec.num_filters},
      resize=spec.resize, lmbda=spec.lmbda, quantization=spec.quantization,
      learning_rate_value=spec.learning_rate,
      resize_learning_rate=spec.learning_rate,
      entropy_learning_rate=spec.learning_rate,
      decayed_learning_rate=spec.learning_rate, decay_steps=1)
  # Fixed-rate Adams whose rate is a variable the callback assigns.
  model.compile(
      optimizer=tf.keras.optimizers.Adam(spec.learning_rate),
      resize_optimizer=tf.keras.optimizers.Adam(spec.learning_rate),
      entropy_optimizer=tf.keras.optimizers.Adam(spec.learning_rate))
  return model


def train_run(spec, make_patches, path, log_every=100, snapshot_every=500,
              patch_size=128, on_snapshot=None, max_steps=None,
              run_eagerly=False):
  """Trains `spec` from its snapshot at `path` (or its warm start).

  Args:
    make_patches: (seed, max_downscale) -> a repeating dataset of
      [B, P, P, 3] float batches in [0, 1]; seeded with spec.seed + steps
      done, so a resumed run draws new crops rather than replaying the first
      ones; max_downscale is the spec's.
    path: the run's snapshot file (read to resume, written to save).
    max_steps: stop after this many steps in this process (None: finish).
    run_eagerly: no tf.function for the step (debugging, and tiny models
      whose steps cost less than tracing one).
  Returns:
    The run's meta dict (steps_done, curve, wall_s, ...).
  """
  tf.keras.utils.set_random_seed(spec.seed)
  model = build(spec, patch_size)
  model.run_eagerly = run_eagerly
  meta = {"spec": dataclasses.asdict(spec), "steps_done": 0, "curve": [],
          "wall_s": 0., "resumed_at": [], "columns": list(CURVE_COLUMNS)}
  if os.path.isfile(path):
    arrays, old = weights_file.read(path)
    # A field the snapshot's spec lacks had its default then.
    defaults = {f.name: f.default for f in dataclasses.fields(RunSpec)}
    changed = {k: (old["spec"].get(k, defaults[k]), v)
               for k, v in dataclasses.asdict(spec).items()
               if k not in ("warm_start", "name")
               and old["spec"].get(k, defaults[k]) != v}
    if changed:
      raise ValueError(
          f"{path} was trained with other settings than run {spec.name} "
          f"now asks for ({changed}, as (snapshot, now)); move the file "
          "away to restart the run from its warm start.")
    weights_file.assign(model, arrays)
    meta.update({k: old[k] for k in ("steps_done", "curve", "wall_s",
                                     "resumed_at", "warm_started_from")
                 if k in old})
    logging.info("%s: resumed from %s at step %d (fresh optimizer state)",
                 spec.name, path, meta["steps_done"])
  elif spec.warm_start:
    source, components = spec.warm_start
    arrays, source_meta = weights_file.read(source)
    planned = source_meta.get("spec", {}).get("steps", 0)
    if source_meta.get("steps_done", 0) < planned:
      raise ValueError(
          f"{spec.name} warm-starts from {source}, which has trained "
          f"{source_meta.get('steps_done', 0)} of its {planned} steps; "
          "finish that run first (or pass --wait).")
    weights_file.assign(model, arrays, components)
    meta["warm_started_from"] = {
        "file": os.path.basename(source), "components": list(components),
        "steps": int(source_meta.get("steps_done", 0))}
    logging.info("%s: warm start of %s from %s", spec.name, components,
                 source)
  done = meta["steps_done"]
  if done % log_every:
    raise ValueError(f"{path}: steps_done={done} is not a multiple of "
                     f"log_every={log_every}.")
  if done >= spec.steps:
    logging.info("%s: already done (%d steps).", spec.name, done)
    return meta
  end = spec.steps if max_steps is None else min(spec.steps, done + max_steps)
  meta["resumed_at"].append(done)
  callback = _Snapshots(spec, path, meta, log_every, snapshot_every,
                        on_snapshot)
  tf.keras.utils.set_random_seed(spec.seed + done)
  model.fit(make_patches(spec.seed + done, spec.max_downscale), initial_epoch=done // log_every,
            epochs=-(-end // log_every), steps_per_epoch=log_every,
            callbacks=[callback], verbose=0)
  if meta["steps_done"] % snapshot_every:
    callback.save()
  return meta


def curve_array(meta):
  """The training curve as a float array [n, len(CURVE_COLUMNS)]."""
  return np.asarray(meta.get("curve", []), dtype=np.float64).reshape(
      -1, len(CURVE_COLUMNS))


def steps_before(runs, name):
  """Steps of the chain of warm starts that run `name` continues.

  Args:
    runs: {run name: snapshot meta} of every run of a campaign.
  Returns:
    0 for a run without warm start; else the warm start's steps plus the
    steps before it (a source missing from `runs` counts its own steps).
  """
  source = (runs[name].get("warm_started_from") or {})
  parent = source.get("file", "")[:-len(".npz")]
  # Chain runs that a texture stage continues were renamed "<name>_chain"
  # after they finished (texture runs that a refine stage continues,
  # "<name>_texture", are recorded under that name by the refine run).
  if parent + "_chain" in runs:
    parent += "_chain"
  if parent not in runs:
    return int(source.get("steps", 0))
  return steps_before(runs, parent) + int(source.get("steps", 0))


# The small-scale protocol of docs/training_campaign.md (paper values there).
CAMPAIGN_LAMBDAS = (0.0005, 0.002, 0.008, 0.032)
WARM_LAMBDA = 0.002
WARM_STEPS = 1000
BASE_STEPS = 1500
RUN_STEPS = 600
RESIZE_RATE_FACTOR = 10.
# The texture stage: more steps on denser-textured (downscaled) crops for
# the qualities listed (1-based); quality 1 already beats JPEG on the demo
# photo, and the repository's weight budget holds six more files.
TEXTURE_STEPS = 800
TEXTURE_QUALITIES = (2, 3, 4)
MAX_DOWNSCALE = 3.
# The refine stage (2026-12-03): the repository's weights budget held four
# more int8 files (docs/training_campaign.md, "The refine stage").
REFINE_STEPS = 8000
REFINE_QUALITIES = (2, 3)
REFINE = dict(learning_rate=3e-4, max_downscale=6., precision="mixed_bfloat16",
              storage="int8")


def small_campaign(weights_dir, warm_steps=WARM_STEPS, run_steps=RUN_STEPS,
                   lambdas=CAMPAIGN_LAMBDAS, base_steps=BASE_STEPS,
                   intermediate_dir=None,
                   resize_rate_factor=RESIZE_RATE_FACTOR,
                   texture_steps=TEXTURE_STEPS,
                   texture_qualities=TEXTURE_QUALITIES,
                   max_downscale=MAX_DOWNSCALE,
                   refine_steps=REFINE_STEPS,
                   refine_qualities=REFINE_QUALITIES):
  """(RunSpec, snapshot path) pairs in training order.

  Two shared plain stages at WARM_LAMBDA ("balle2017_warm", then
  "balle2017_base" with the per-lambda rates and noise), both written to
  `intermediate_dir` (default `weights_dir`; they are not published). Then,
  per lambda from the nearest to WARM_LAMBDA outwards, the plain and the
  Resize model. At WARM_LAMBDA both start their codec from the base (the
  Resize model's filters and ResizeParamNet from their initialisers);
  elsewhere each variant starts entirely from its own finished run of the
  neighbouring lambda one step closer to WARM_LAMBDA (a rate change of 4x
  rather than 16x, which the short runs can afford), so the two variants
  form two chains with equal steps, data and schedule.

  `resize_rate_factor` sets the ResizeParamNet's Adam rate relative to the
  codec's (Sec. III-F trains all at 1e-4): Adam moves a parameter by about
  its rate per step, so 600 steps at 1e-4 leave M within ~0.1 of its
  initial value (measured: 0.44-0.55 at every lambda), where the paper's
  2M steps do not bind.

  Texture stage: for each quality in `texture_qualities` (when texture_steps >
  0), the chain run is renamed "<name>_chain" and kept in
  `intermediate_dir`, and the published "<name>" continues it (every
  component, fresh Adam state) for `texture_steps` on crops cut at up to
  `max_downscale` times the patch size and area-downscaled
  (docs/training_campaign.md: the chain runs decoded textured photos 10 dB
  below smooth ones). Both variants of a quality get the same texture stage.

  Refine stage: for each quality in `refine_qualities` (when refine_steps >
  0; each needs a texture stage), the texture run is kept in
  `intermediate_dir` as "<name>_texture", and the published
  "<name>" continues it (every component, fresh Adam state) for
  `refine_steps` with the settings of REFINE: 3e-4 (the last 25 % at
  0.3x), crops downscaled up to 6x, bfloat16 steps, int8 storage. Both
  variants of a quality get the same refine stage.
  """
  intermediate_dir = intermediate_dir or weights_dir
  if refine_steps > 0:
    untextured = set(refine_qualities) - (
        set(texture_qualities) if texture_steps > 0 else set())
    if untextured:
      raise ValueError(
          f"Refined qualities {sorted(untextured)} have no texture stage to "
          "refine; pass refine_steps=0 (--refine_steps=0) or texture them.")
  for q in set(refine_qualities) | set(texture_qualities):
    if not 1 <= q <= len(lambdas):
      raise ValueError(f"Quality {q} is not in 1...{len(lambdas)}.")
  warm = RunSpec("balle2017_warm", resize=False, lmbda=WARM_LAMBDA,
                 steps=warm_steps, learning_rate=5e-4, decay_fraction=1.0,
                 warmup_steps=500, warmup_factor=0.4)
  warm_path = os.path.join(intermediate_dir, warm.name + ".npz")
  base = RunSpec("balle2017_base", resize=False, lmbda=WARM_LAMBDA,
                 steps=base_steps, learning_rate=1e-4, decay_fraction=0.75,
                 entropy_rate_factor=10., quantization="noise",
                 warm_start=(warm_path, ("codec",)))
  base_path = os.path.join(intermediate_dir, base.name + ".npz")
  runs = [(warm, warm_path), (base, base_path)]
  textured = ({q - 1 for q in texture_qualities} if texture_steps > 0
              else set())

  def chain_path(variant, i):
    name = f"{variant}_q{i + 1}"
    if i in textured:
      return os.path.join(intermediate_dir, name + "_chain.npz")
    return os.path.join(weights_dir, name + ".npz")

  centre = min(range(len(lambdas)),
               key=lambda i: abs(math.log(lambdas[i] / WARM_LAMBDA)))
  order = sorted(range(len(lambdas)), key=lambda i: (abs(i - centre), i))
  texture_runs = []
  for i in order:
    for resize in (False, True):
      variant = f"balle2017{'+resize' if resize else ''}"
      components = weights_file.COMPONENTS if resize else ("codec",)
      if i == centre:
        warm_start = (base_path, ("codec",))
      else:
        neighbour = i + (1 if i < centre else -1)
        warm_start = (chain_path(variant, neighbour), components)
      path = chain_path(variant, i)
      name = os.path.basename(path)[:-len(".npz")]
      spec = RunSpec(name, resize=resize, lmbda=lambdas[i],
                     steps=run_steps, learning_rate=1e-4,
                     decay_fraction=0.75, entropy_rate_factor=10.,
                     quantization="mixed", warm_start=warm_start,
                     resize_rate_factor=(resize_rate_factor if resize
                                         else 1.0))
      runs.append((spec, path))
      if i in textured:
        final = f"{variant}_q{i + 1}"
        texture = dataclasses.replace(
            spec, name=final, steps=texture_steps,
            warm_start=(path, components), max_downscale=max_downscale)
        texture_runs.append((texture,
                             os.path.join(weights_dir, final + ".npz")))
  runs += sorted(texture_runs, key=lambda r: (r[0].lmbda, r[0].resize))
  refined = ({q - 1 for q in refine_qualities} if refine_steps > 0
             else set())
  refine_runs = []
  for k, (spec, path) in enumerate(runs):
    q = spec.name.partition("_q")[2]
    if not q.isdigit() or int(q) - 1 not in refined:
      continue
    kept = os.path.join(intermediate_dir, spec.name + "_texture.npz")
    runs[k] = (dataclasses.replace(spec, name=os.path.basename(kept)[:-4]),
               kept)
    components = weights_file.COMPONENTS if spec.resize else ("codec",)
    refine_runs.append((dataclasses.replace(
        spec, steps=refine_steps, warm_start=(kept, components), **REFINE),
                        path))
  return runs + sorted(refine_runs, key=lambda r: (r[0].lmbda, r[0].resize))
