"""Keras layers of the two papers."""
from resizer_tf.layers.filters import PostFilter, PreFilter
from resizer_tf.layers.learned_resizer import LearnedResizer
from resizer_tf.layers.resize_param_net import ResizeParamNet
from resizer_tf.layers.warp import BicubicWarp
