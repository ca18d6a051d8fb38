import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture
def mixed_precision():
  tf.keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    yield
  finally:
    tf.keras.mixed_precision.set_global_policy("float32")
