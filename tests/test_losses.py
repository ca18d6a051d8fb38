"""Eq. (1) label smoothing, Eq. (2) EMD, and PLCC/SRCC (Table 5 metrics)."""
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from resizer_tf import losses
from resizer_tf.metrics import correlation


def test_emd_hand_computed():
  # K = 3: CDF_q = (.2, .5, 1), CDF_p = (.5, .8, 1); |diff| = (.3, .3, 0).
  y_true = [[0.2, 0.3, 0.5]]
  y_pred = [[0.5, 0.3, 0.2]]
  d2 = losses.earth_movers_distance(y_true, y_pred, d=2).numpy()
  np.testing.assert_allclose(d2, [np.sqrt((0.09 + 0.09) / 3)], rtol=1e-5)
  d1 = losses.earth_movers_distance(y_true, y_pred, d=1).numpy()
  np.testing.assert_allclose(d1, [0.6 / 3], rtol=1e-5)
  # All mass at opposite ends of 4 bins: CDF diffs (1, 1, 1, 0).
  far = losses.earth_movers_distance([[1., 0, 0, 0]], [[0., 0, 0, 1]]).numpy()
  np.testing.assert_allclose(far, [np.sqrt(3 / 4)], rtol=1e-5)


def test_emd_accepts_rating_counts_and_is_zero_at_a_perfect_fit():
  counts = tf.constant([[2., 3., 5.]])  # AVA-style raw counts.
  assert losses.earth_movers_distance(counts, [[0.2, 0.3, 0.5]]).numpy()[0] \
      == pytest.approx(0.0, abs=1e-6)
  pred = tf.Variable([[0.2, 0.3, 0.5]])
  with tf.GradientTape() as tape:
    loss = losses.EarthMoversDistance()(counts, pred)
  assert np.all(np.isfinite(tape.gradient(loss, pred).numpy()))


def test_emd_keras_loss_averages_and_rejects_mismatched_bins():
  rng = np.random.default_rng(0)
  t = rng.dirichlet(np.ones(10), 4).astype(np.float32)
  p = rng.dirichlet(np.ones(10), 4).astype(np.float32)
  expected = np.mean(np.sqrt(np.mean(
      (np.cumsum(p, 1) - np.cumsum(t, 1)) ** 2, axis=1)))
  assert losses.EarthMoversDistance()(t, p).numpy() == pytest.approx(
      expected, rel=1e-5)
  with pytest.raises(ValueError, match="bins"):
    losses.earth_movers_distance(t[:, :5], p)
  config = losses.EarthMoversDistance(d=1).get_config()
  assert losses.EarthMoversDistance.from_config(config).d == 1


def _numpy_smoothed_ce(labels, logits, eps):
  k = logits.shape[1]
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  q = np.full_like(p, eps / k)
  q[np.arange(len(labels)), labels] += 1 - eps  # q'_k of Eq. (1).
  return -(q * np.log(p)).sum(1)


@pytest.mark.parametrize("eps", [0.1, 0.0, 0.3])
def test_label_smoothing_matches_eq1(eps):
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(5, 7)).astype(np.float32) * 3
  labels = rng.integers(0, 7, 5)
  expected = _numpy_smoothed_ce(labels, logits.astype(np.float64), eps)
  from_probs = losses.label_smoothed_cross_entropy(
      labels, tf.nn.softmax(logits), eps).numpy()
  from_logits = losses.label_smoothed_cross_entropy(
      labels[:, None], logits, eps, from_logits=True).numpy()
  np.testing.assert_allclose(from_probs, expected, rtol=1e-4)
  np.testing.assert_allclose(from_logits, expected, rtol=1e-4)
  keras_loss = losses.LabelSmoothedCrossEntropy(eps, from_logits=True)
  assert keras_loss(labels, logits).numpy() == pytest.approx(
      expected.mean(), rel=1e-4)


def test_label_smoothing_default_is_paper_value_and_validates():
  assert losses.LabelSmoothedCrossEntropy().label_smoothing == 0.1
  with pytest.raises(ValueError, match="label_smoothing"):
    losses.LabelSmoothedCrossEntropy(1.5)
  with pytest.raises(ValueError, match="num_classes"):
    losses.label_smoothed_cross_entropy([1], tf.zeros([1, 2, 3]))


def test_plcc_srcc_match_scipy_with_ties():
  rng = np.random.default_rng(2)
  x = rng.normal(size=50)
  y = x + rng.normal(size=50)
  x_tied = np.round(x, 0)  # many ties: average ranks matter
  for a, b in ((x, y), (x_tied, y), (x_tied, np.round(y))):
    assert correlation.plcc(a, b) == pytest.approx(
        scipy.stats.pearsonr(a, b)[0], abs=1e-12)
    assert correlation.srcc(a, b) == pytest.approx(
        scipy.stats.spearmanr(a, b)[0], abs=1e-12)
  np.testing.assert_allclose(correlation.rankdata(x_tied),
                             scipy.stats.rankdata(x_tied))


def test_correlations_edge_cases():
  assert np.isnan(correlation.plcc([1, 1, 1], [1, 2, 3]))
  with pytest.raises(ValueError, match="same length"):
    correlation.plcc([1, 2], [1, 2, 3])
  with pytest.raises(ValueError, match="NaN"):
    correlation.srcc([1, np.nan], [1, 2])
  with pytest.raises(ValueError, match="at least 2"):
    correlation.srcc([1], [1])


def test_mean_scores():
  counts = np.array([[0, 0, 1, 1, 0, 0, 0, 0, 0, 2]])
  assert correlation.mean_scores(counts)[0] == pytest.approx(
      (3 + 4 + 2 * 10) / 4)
