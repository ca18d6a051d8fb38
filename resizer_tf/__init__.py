"""resizer_tf: learned resizing for vision and for learned image compression.

Implements Talebi & Milanfar, "Learning to Resize Images for Computer Vision
Tasks" (ICCV 2021) and Chen et al., "Estimating the Resize Parameter in
End-to-end Learned Image Compression" (Resize-Compress).
"""
from resizer_tf.layers import BicubicWarp
from resizer_tf.layers import LearnedResizer
from resizer_tf.layers import PostFilter
from resizer_tf.layers import PreFilter
from resizer_tf.layers import ResizeParamNet

__version__ = "0.1.0"
