"""The optional `tensorflow_compression` dependency (the `compression` extra).

The base package (layers, vision models, data, metrics) runs on any
TensorFlow >= 2.14, Keras 2 or Keras 3. The learned codecs, `ResizeCompress`,
the file format and the exported SavedModels need tensorflow-compression,
whose newest release (2.14.1) is built for TensorFlow 2.14 only; the
`compression` extra installs that pinned stack.
"""
import types

INSTALL_HINT = (
    "pip install 'resizer_tf[compression]'  (pins TensorFlow 2.14.1 + "
    "tensorflow-compression 2.14.1; from a clone: pip install -e '.[compression]' "
    "or `make install`)")


def import_tfc(what: str = "This part of resizer_tf") -> types.ModuleType:
  """Returns the `tensorflow_compression` module or raises a clear ImportError.

  Args:
    what: what needs it, for the message (e.g. "resizer_tf.ResizeCompress").

  Raises:
    ImportError: tensorflow-compression is missing, or cannot load its op
      library into this TensorFlow (it is built for TensorFlow 2.14 only).
  """
  try:
    import tensorflow_compression  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f"{what} needs tensorflow-compression, which is not installed. "
        f"Install the compression stack: {INSTALL_HINT}. The layers, vision "
        "models, data and metrics work without it.",
        name="tensorflow_compression") from e
  except Exception as e:  # The op library does not match this TensorFlow.
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    raise ImportError(
        f"{what} needs tensorflow-compression, which is installed but cannot "
        f"load into TensorFlow {tf.__version__} (tensorflow-compression "
        f"2.14.1 is built for TensorFlow 2.14 only): {e}. Install the "
        f"compression stack in its own environment: {INSTALL_HINT}.",
        name="tensorflow_compression") from e
  return tensorflow_compression
