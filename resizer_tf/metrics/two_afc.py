"""2AFC similarity score (Chen et al., Sec. IV-E, Fig. 10; their ref. [71]).

For one comparison (a pair of distorted images A, B of one reference),
p_hat is the fraction of human votes for A and q_hat in {0, 1} the decision
of a quality model (1: the model prefers A). The score is

    p_hat * q_hat + (1 - p_hat) * (1 - q_hat),

averaged over comparisons. Its upper bound max(p_hat, 1 - p_hat) is reached
by the oracle q_hat = 1[p_hat > 0.5] (the paper's "human oracle", 0.69).
"""
import numpy as np


def _check(p_hat):
  p = np.asarray(p_hat, np.float64)
  if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
    raise ValueError("`p_hat` must be non-empty fractions of votes in [0, 1].")
  return p


def two_afc_score(p_hat, q_hat):
  """Mean 2AFC score of a quality model's decisions `q_hat` (0/1, or scores
  in [0, 1]) against human vote fractions `p_hat` (same shape)."""
  p = _check(p_hat)
  q = np.asarray(q_hat, np.float64)
  if q.shape != p.shape or not np.all((q >= 0) & (q <= 1)):
    raise ValueError("`q_hat` must have the shape of `p_hat`, values in "
                     "[0, 1] (model decisions).")
  return float(np.mean(p * q + (1 - p) * (1 - q)))


def two_afc_oracle(p_hat):
  """Upper bound: mean of max(p_hat, 1 - p_hat) (oracle q = 1[p > 0.5])."""
  p = _check(p_hat)
  return float(np.mean(np.maximum(p, 1 - p)))


def model_decisions(quality_a, quality_b):
  """q_hat from a model's quality of A and B (higher better): 1 if A is
  preferred, 0 if B, 0.5 on a tie."""
  a = np.asarray(quality_a, np.float64)
  b = np.asarray(quality_b, np.float64)
  return np.where(a > b, 1., np.where(a < b, 0., 0.5))
