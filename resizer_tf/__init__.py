"""resizer_tf: learned resizing for vision and for learned image compression.

Implements Talebi & Milanfar, "Learning to Resize Images for Computer Vision
Tasks" (ICCV 2021) and Chen et al., "Estimating the Resize Parameter in
End-to-end Learned Image Compression" (Resize-Compress).

Sub-packages: `layers`, `codecs`, `models` (vision), `data`, `metrics`,
`anchors` (classic codecs), `evaluation`, `training`.
"""
from resizer_tf.codecs.balle2017 import Balle2017
from resizer_tf.codecs.balle2018 import Balle2018Factorized
from resizer_tf.codecs.balle2018 import Balle2018Hyperprior
from resizer_tf.codecs.cheng2020 import Cheng2020
from resizer_tf.layers import BicubicWarp
from resizer_tf.layers import LearnedResizer
from resizer_tf.layers import PostFilter
from resizer_tf.layers import PreFilter
from resizer_tf.layers import ResizeParamNet
from resizer_tf.models import build_vision_model
from resizer_tf.models import InceptionV2
from resizer_tf.resize_compress import ResizeCompress
from resizer_tf.serving import Compressor

__version__ = "0.1.0"
