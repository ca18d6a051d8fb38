"""Test helper: a tf.Module exporting a codec's coding functions."""
import tensorflow as tf


class Exporter(tf.Module):
  """What a SavedModel export of the coding functions looks like."""

  def __init__(self, codec):
    super().__init__()
    self.codec = codec
    self.compress = tf.function(
        codec.compress,
        input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    self.decompress = tf.function(
        codec.decompress,
        input_signature=[[tf.TensorSpec([], tf.string)] * codec.num_strings,
                         tf.TensorSpec([2], tf.int32)])
