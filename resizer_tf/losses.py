"""Training losses of Talebi & Milanfar (2021), Sec. 3.2.

* `LabelSmoothedCrossEntropy`: Eq. (1), cross-entropy against smoothed labels
  q'_k = (1 - eps) delta_{k,y} + eps / K with eps = 0.1 (Sec. 3.2.1).
* `EarthMoversDistance`: Eq. (2), the NIMA EMD between the CDFs of the
  predicted and the ground-truth score distributions, d = 2 (Sec. 3.2.2).
"""
import tensorflow as tf


def label_smoothed_cross_entropy(labels, predictions, label_smoothing=0.1,
                                 from_logits=False):
  """Per-example Eq. (1) with sparse integer `labels`.

  Sec. 3.2.1 mentions a "Sigmoid layer", but Eq. (1) is the cross-entropy of a
  distribution p over the K classes, i.e. a softmax output; that is what is
  implemented (`predictions` are softmax probabilities, or logits with
  `from_logits=True`).

  Args:
    labels: integer class ids, shape [batch] or [batch, 1].
    predictions: [batch, K] probabilities (or logits).
    label_smoothing: eps of Eq. (1) (paper: 0.1).
    from_logits: whether `predictions` are logits.

  Returns:
    [batch] losses.
  """
  predictions = tf.convert_to_tensor(predictions)
  if predictions.shape.rank != 2:
    raise ValueError(
        "`predictions` must be [batch, num_classes]; received shape "
        f"{predictions.shape}.")
  labels = tf.convert_to_tensor(labels)
  if labels.dtype.is_floating:
    labels = tf.cast(labels, tf.int64)
  labels = tf.reshape(labels, [-1])
  num_classes = tf.shape(predictions)[-1]
  one_hot = tf.one_hot(labels, num_classes, dtype=predictions.dtype)
  # Keras implements exactly q' = (1 - eps) one_hot + eps / K.
  return tf.keras.losses.categorical_crossentropy(
      one_hot, predictions, from_logits=from_logits,
      label_smoothing=label_smoothing)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class LabelSmoothedCrossEntropy(tf.keras.losses.Loss):
  """Eq. (1) of Talebi & Milanfar (2021) for sparse labels, eps = 0.1."""

  def __init__(self, label_smoothing=0.1, from_logits=False,
               name="label_smoothed_cross_entropy", **kwargs):
    super().__init__(name=name, **kwargs)
    if not 0.0 <= label_smoothing < 1.0:
      raise ValueError(
          f"`label_smoothing` must be in [0, 1); received {label_smoothing}.")
    self.label_smoothing = float(label_smoothing)
    self.from_logits = bool(from_logits)

  def call(self, y_true, y_pred):
    return label_smoothed_cross_entropy(
        y_true, y_pred, self.label_smoothing, self.from_logits)

  def get_config(self):
    config = super().get_config()
    config.update(label_smoothing=self.label_smoothing,
                  from_logits=self.from_logits)
    return config


def earth_movers_distance(y_true, y_pred, d=2):
  """Per-example Eq. (2): ((1/K) sum_k |CDF_p(k) - CDF_q(k)|^d)^(1/d).

  Args:
    y_true: [batch, K] ground-truth score distributions (e.g. AVA rating
      histograms); normalised to sum to one here, so raw counts work too.
    y_pred: [batch, K] predicted distributions (softmax output).
    d: the norm of Eq. (2) (paper: 2).

  Returns:
    [batch] distances.
  """
  y_pred = tf.convert_to_tensor(y_pred)
  y_true = tf.cast(y_true, y_pred.dtype)
  if y_pred.shape.rank != 2 or y_true.shape.rank != 2:
    raise ValueError(
        "`y_true` and `y_pred` must be [batch, K]; received shapes "
        f"{y_true.shape} and {y_pred.shape}.")
  if (y_true.shape[-1] is not None and y_pred.shape[-1] is not None and
      y_true.shape[-1] != y_pred.shape[-1]):
    raise ValueError(
        f"`y_true` has {y_true.shape[-1]} bins but `y_pred` has "
        f"{y_pred.shape[-1]}.")
  total = tf.reduce_sum(y_true, axis=-1, keepdims=True)
  y_true = tf.math.divide_no_nan(y_true, total)
  cdf_diff = tf.abs(tf.cumsum(y_pred, axis=-1) - tf.cumsum(y_true, axis=-1))
  # The epsilon keeps the gradient of the d-th root finite at a perfect fit.
  mean = tf.reduce_mean(tf.pow(cdf_diff, d), axis=-1)
  return tf.pow(mean + tf.keras.backend.epsilon() ** d, 1.0 / d)


@tf.keras.utils.register_keras_serializable(package="resizer_tf")
class EarthMoversDistance(tf.keras.losses.Loss):
  """Eq. (2) of Talebi & Milanfar (2021) (NIMA's EMD loss), d = 2."""

  def __init__(self, d=2, name="earth_movers_distance", **kwargs):
    super().__init__(name=name, **kwargs)
    if d <= 0:
      raise ValueError(f"`d` must be > 0; received {d}.")
    self.d = d

  def call(self, y_true, y_pred):
    return earth_movers_distance(y_true, y_pred, self.d)

  def get_config(self):
    config = super().get_config()
    config.update(d=self.d)
    return config
