"""resizer_tf: learned resizing for vision and for learned image compression.

Implements Talebi & Milanfar, "Learning to Resize Images for Computer Vision
Tasks" (ICCV 2021) and Chen et al., "Estimating the Resize Parameter in
End-to-end Learned Image Compression" (Resize-Compress).

Sub-packages: `layers`, `codecs`, `models` (vision), `data`, `metrics`,
`anchors` (classic codecs), `evaluation`, `training`.

`import resizer_tf` needs only TensorFlow (>= 2.14, Keras 2 or Keras 3). The
compression names (`Balle2017`, `Balle2018Factorized`, `Balle2018Hyperprior`,
`Cheng2020`, `ResizeCompress`, `Compressor`) load on first use and need the
`compression` extra (`pip install resizer_tf[compression]`: TensorFlow 2.14.1
and tensorflow-compression 2.14.1); without it they raise an ImportError that
says so.
"""
import importlib
from typing import Any, List, TYPE_CHECKING

from resizer_tf import _optional
from resizer_tf import _tf_context
from resizer_tf.layers import BicubicWarp
from resizer_tf.layers import LearnedResizer
from resizer_tf.layers import PostFilter
from resizer_tf.layers import PreFilter
from resizer_tf.layers import ResizeParamNet
from resizer_tf.models import build_vision_model
from resizer_tf.models import InceptionV2

# TF imported inside an absl main leaves traced code with TF1 `==` semantics
# (wrong GDN in every Compressor and export): repair before any tracing.
_tf_context.repair_eager_context()

if TYPE_CHECKING:
  from resizer_tf.codecs.balle2017 import Balle2017
  from resizer_tf.codecs.balle2018 import Balle2018Factorized
  from resizer_tf.codecs.balle2018 import Balle2018Hyperprior
  from resizer_tf.codecs.cheng2020 import Cheng2020
  from resizer_tf.resize_compress import ResizeCompress
  from resizer_tf.serving import Compressor

__version__ = "0.1.0"

# Public names that need tensorflow_compression -> the module defining them.
_COMPRESSION_NAMES = {
    "Balle2017": "resizer_tf.codecs.balle2017",
    "Balle2018Factorized": "resizer_tf.codecs.balle2018",
    "Balle2018Hyperprior": "resizer_tf.codecs.balle2018",
    "Cheng2020": "resizer_tf.codecs.cheng2020",
    "ResizeCompress": "resizer_tf.resize_compress",
    "Compressor": "resizer_tf.serving",
}


def __getattr__(name: str) -> Any:
  module = _COMPRESSION_NAMES.get(name)
  if module is None:
    raise AttributeError(f"module 'resizer_tf' has no attribute {name!r}")
  _optional.import_tfc(f"resizer_tf.{name}")
  value = getattr(importlib.import_module(module), name)
  globals()[name] = value
  return value


def __dir__() -> List[str]:
  return sorted(set(globals()) | set(_COMPRESSION_NAMES))
