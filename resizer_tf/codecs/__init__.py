"""Learned codecs on tensorflow-compression, by name.

Needs the `compression` extra; without tensorflow-compression importing this
package raises an ImportError that names it.
"""
from resizer_tf import _optional

_optional.import_tfc("resizer_tf.codecs")

from resizer_tf.codecs.base import LearnedCodec  # pylint: disable=g-import-not-at-top,wrong-import-position

_REGISTRY = {
    "balle2017": ("resizer_tf.codecs.balle2017", "Balle2017"),
    "balle2018_factorized": ("resizer_tf.codecs.balle2018",
                             "Balle2018Factorized"),
    "balle2018_hyperprior": ("resizer_tf.codecs.balle2018",
                             "Balle2018Hyperprior"),
    "cheng2020": ("resizer_tf.codecs.cheng2020", "Cheng2020"),
}
CODEC_NAMES = tuple(_REGISTRY)


def codec_class(name):
  """The LearnedCodec subclass registered under `name`."""
  if name not in _REGISTRY:
    raise ValueError(f"Unknown codec {name!r}; choose one of {CODEC_NAMES}.")
  import importlib  # pylint: disable=g-import-not-at-top
  module, cls = _REGISTRY[name]
  return getattr(importlib.import_module(module), cls)


def make_codec(name, **kwargs):
  return codec_class(name)(**kwargs)
