"""Repairs TensorFlow's eager context when TF was first imported inside an
absl `app.run` main (after absl parsed the flags).

Why: TF's `tensorflow/python/distribute/combinations.py`, imported by
`import tensorflow`, registers `absl.app.call_after_init(
_set_total_phsyical_gpus)`. Before `app.run` has initialised, absl defers
the callback; after, it runs it at once, i.e. in the middle of
`import tensorflow`, before TF has switched its default execution mode to
eager. The callback calls `context.context()`, so the process-wide eager
context is created in graph mode, and its stack of context switches lacks
the base "eager" entry (`_ContextSwitchStack(eager=False)`). Eager code
still works, but inside every `tf.function`
`ops.executing_eagerly_outside_functions()` is then False, with TF1
semantics in traced code: `tensor == x` and `tensor != x` fall back to
Python object identity (always False / True). tensorflow-compression's
`GDN.call` tests `self.alpha == 1` (a tensor) to pick `abs(inputs)`; traced
in such a process it takes `inputs ** alpha` instead, so a model traced there
(a `Compressor`, a SavedModel export) codes with other transforms than the
trained model: other files (for a shipped model 5408 bytes at 25.49 dB
instead of 4566 bytes at 26.61 dB) that still decode self-consistently.
Same cause: tensorflow/tensorflow#55889 (from_generator fails when TF is
imported inside an absl app).

A child process inherits TF2_BEHAVIOR=1 from a parent that imported TF,
which hides the problem there (TF starts in eager mode from the outset).
"""
import tensorflow as tf  # pylint: disable=unused-import


def eager_context_is_broken():
  """Whether the global eager context lacks its base eager entry (the
  state described in the module docstring)."""
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
  ctx = context.context_safe()
  if ctx is None or context.default_execution_mode != context.EAGER_MODE:
    return False
  # Building a function pushes onto this stack, so an empty stack also
  # means no function is being traced right now.
  return not ctx.context_switches.stack


def repair_eager_context():
  """Gives a context created in graph mode during `import tensorflow` the
  context-switch stack an eager context starts with. No-op otherwise.

  Returns whether it repaired anything. The stack is the only part of the
  context fixed at creation from the execution mode (`Context.__init__`);
  the rest reads the mode when used.
  """
  try:
    if not eager_context_is_broken():
      return False
    from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top,g-direct-tensorflow-import
    ctx = context.context()
    ctx._context_switches = context._ContextSwitchStack(True)  # pylint: disable=protected-access
  except (AttributeError, ImportError):  # Another TF version: leave it.
    return False
  return True
