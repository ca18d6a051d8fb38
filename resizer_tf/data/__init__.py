"""Input pipelines of the vision experiments (Talebi & Milanfar, Sec. 4)."""
from resizer_tf.data import distortions
from resizer_tf.data import files
from resizer_tf.data import preprocess
from resizer_tf.data import fashion_mnist
from resizer_tf.data.ava import ava_dataset
from resizer_tf.data.ava import ava_examples
from resizer_tf.data.ava import parse_ava_txt
from resizer_tf.data.fashion_mnist import fashion_mnist_dataset
from resizer_tf.data.fashion_mnist import load_fashion_mnist
from resizer_tf.data.folders import image_folder_dataset
from resizer_tf.data.folders import list_image_folder
from resizer_tf.data.preprocess import resize_to_input
from resizer_tf.data.preprocess import SourceInfo
from resizer_tf.data.tfds_source import tfds_dataset
