"""2AFC score of Chen et al. Sec. IV-E: p q + (1 - p)(1 - q), bound
max(p, 1 - p)."""
import numpy as np
import pytest

from resizer_tf.metrics import two_afc


def test_worked_example_from_the_definition():
  # Three comparisons, 47 voters each (the paper's study size): 30, 10 and
  # 24 votes for image A; the model prefers A, A, B.
  p = np.array([30, 10, 24]) / 47
  q = [1, 1, 0]
  # By hand: 30/47 + 10/47 + 23/47 = 63/47 over 3 comparisons.
  assert two_afc.two_afc_score(p, q) == pytest.approx(63 / 141)
  # Oracle: max(30, 17)/47 + max(10, 37)/47 + max(24, 23)/47 = 91/141.
  assert two_afc.two_afc_oracle(p) == pytest.approx(91 / 141)
  oracle_q = (p > 0.5).astype(float)
  assert two_afc.two_afc_score(p, oracle_q) == pytest.approx(
      two_afc.two_afc_oracle(p))
  # No decision rule beats the oracle.
  rng = np.random.default_rng(0)
  for _ in range(20):
    assert two_afc.two_afc_score(p, rng.integers(0, 2, 3)) <= (
        two_afc.two_afc_oracle(p) + 1e-12)


def test_decisions_from_quality_scores_and_bad_inputs():
  np.testing.assert_array_equal(
      two_afc.model_decisions([30., 20., 5.], [25., 20., 7.]), [1, .5, 0])
  with pytest.raises(ValueError):
    two_afc.two_afc_score([1.2], [1])
  with pytest.raises(ValueError):
    two_afc.two_afc_score([0.5, 0.5], [1])
  with pytest.raises(ValueError):
    two_afc.two_afc_oracle([])
