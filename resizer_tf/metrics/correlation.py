"""PLCC and SRCC of predicted vs ground-truth mean scores (Sec. 4.2, Table 5).

Talebi & Milanfar (2021) report "correlation between the mean ground truth
score and mean predicted score": the Pearson linear (PLCC) and Spearman rank
(SRCC) correlation coefficients over the whole test set.
"""
import numpy as np


def _as_pair(x, y):
  x = np.asarray(x, dtype=np.float64).reshape(-1)
  y = np.asarray(y, dtype=np.float64).reshape(-1)
  if x.shape != y.shape:
    raise ValueError(
        f"Both score arrays must have the same length; received {x.size} and "
        f"{y.size}.")
  if x.size < 2:
    raise ValueError(
        f"A correlation needs at least 2 scores; received {x.size}.")
  if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    raise ValueError("Scores contain NaN or Inf.")
  return x, y


def plcc(x, y):
  """Pearson linear correlation coefficient; NaN if either input is constant."""
  x, y = _as_pair(x, y)
  x = x - x.mean()
  y = y - y.mean()
  denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
  if denominator == 0:
    return float("nan")
  return float(np.sum(x * y) / denominator)


def rankdata(x):
  """Ranks 1..N with ties given their average rank (as Spearman requires)."""
  x = np.asarray(x, dtype=np.float64).reshape(-1)
  order = np.argsort(x, kind="mergesort")
  sorted_x = x[order]
  # Runs of equal values share the mean of the ranks they span.
  starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
  ends = np.r_[starts[1:], x.size]
  average = (starts + ends + 1) / 2.0
  ranks = np.empty(x.size)
  ranks[order] = np.repeat(average, ends - starts)
  return ranks


def srcc(x, y):
  """Spearman rank correlation coefficient (PLCC of tie-averaged ranks)."""
  x, y = _as_pair(x, y)
  return plcc(rankdata(x), rankdata(y))


def mean_scores(distributions, scores=None):
  """Mean score sum_i s_i p_i of [N, K] distributions (NIMA; s_i = 1..K).

  Rows are normalised first, so raw rating counts work too.
  """
  distributions = np.asarray(distributions, dtype=np.float64)
  if distributions.ndim != 2:
    raise ValueError(
        "`distributions` must be [N, K]; received shape "
        f"{distributions.shape}.")
  if scores is None:
    scores = np.arange(1, distributions.shape[1] + 1, dtype=np.float64)
  totals = distributions.sum(axis=1, keepdims=True)
  if np.any(totals <= 0):
    raise ValueError("Every distribution needs a positive total.")
  return (distributions / totals) @ np.asarray(scores, dtype=np.float64)
