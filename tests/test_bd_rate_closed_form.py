"""BD-rate against closed-form answers (Bjøntegaard, VCEG-M33).

VCEG-M33: fit log10(rate) as a cubic polynomial of quality through the
points of each curve, integrate both over the overlap of their quality
ranges, and BD-rate = 10^(mean difference) - 1. A curve whose log-rate IS a
cubic in quality is reproduced exactly by the "cubic" method, so the answer
is an integral of polynomials; pchip is not exact there and must differ.
"""
import numpy as np
import pytest

from resizer_tf import metrics


def _log_rate_anchor(d):
  return 0.002 * (d - 33.) ** 3 + 0.08 * d - 3.


def _log_rate_test(d):
  return 0.001 * (d - 35.) ** 3 + 0.07 * d - 2.8


def _closed_form(low, high):
  diff = np.polysub(np.polyfit(D, _log_rate_test(D), 3),
                    np.polyfit(D, _log_rate_anchor(D), 3))
  integral = np.polyint(diff)
  mean = (np.polyval(integral, high) - np.polyval(integral, low)) / (
      high - low)
  return 100. * (10. ** mean - 1.)


D = np.linspace(28., 44., 9)


def test_cubic_method_equals_the_closed_form_and_pchip_differs():
  da = np.array([30., 32., 34., 36.])
  dt = np.array([32., 34.5, 37., 40.])  # overlap: [32, 36]
  ra, rt = 10. ** _log_rate_anchor(da), 10. ** _log_rate_test(dt)
  expected = _closed_form(32., 36.)
  cubic = metrics.bd_rate(ra, da, rt, dt, method="cubic")
  assert cubic == pytest.approx(expected, abs=1e-6)
  # Integrating over the union of the ranges (a range error) would give:
  assert abs(_closed_form(30., 40.) - expected) > 5.
  # pchip is close to, but not exactly, the cubic answer.
  pchip = metrics.bd_rate(ra, da, rt, dt, method="pchip")
  assert abs(pchip - expected) > 1e-3
  assert abs(pchip - expected) < 1.0


def test_vceg_m33_by_hand_on_straight_lines():
  # log10 R linear in PSNR: anchor 0.1 D - 3, test 0.12 D - 3.6; quality
  # ranges [30, 36] and [32, 40] overlap on [32, 36]; the mean difference is
  # 0.02 * 34 - 0.6 = 0.08 (by hand), so BD-rate = 10^0.08 - 1 = 20.226 %.
  da = np.array([30., 32., 34., 36.])
  dt = np.array([32., 35., 38., 40.])
  ra, rt = 10. ** (0.1 * da - 3.), 10. ** (0.12 * dt - 3.6)
  for method in ("cubic", "pchip", "akima"):
    assert metrics.bd_rate(ra, da, rt, dt, method=method) == pytest.approx(
        100. * (10. ** 0.08 - 1.), abs=1e-6)
  # Symmetry: swapping anchor and test gives 1 / (1 + x) - 1.
  assert metrics.bd_rate(rt, dt, ra, da, method="cubic") == pytest.approx(
      100. * (10. ** -0.08 - 1.), abs=1e-6)
