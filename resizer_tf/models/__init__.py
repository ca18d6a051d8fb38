"""Vision models of Talebi & Milanfar (2021): resizer + backbone + head."""
from resizer_tf.models.backbones import BACKBONES
from resizer_tf.models.backbones import BackbonePreprocessing
from resizer_tf.models.backbones import build_backbone
from resizer_tf.models.backbones import SmallCNN
from resizer_tf.models.builder import build_resizer_stage
from resizer_tf.models.builder import build_vision_model
from resizer_tf.models.builder import count_flops
from resizer_tf.models.builder import resized_images_model
from resizer_tf.models.builder import transfer_resizer_weights
from resizer_tf.models.inception_v2 import InceptionV2
from resizer_tf.models import weights
