"""Pure helpers of benchmarks/codec_speed.py (no timing is asserted)."""
import pytest

from benchmarks import codec_speed


def test_ratio_spread_is_per_round():
  r = codec_speed.ratio_spread([10., 30., 20.], [10., 10., 40.])
  assert r == dict(min=0.5, median=1.0, max=3.0)


def test_ratio_spread_rejects_unequal_rounds():
  with pytest.raises(ValueError):
    codec_speed.ratio_spread([1.], [1., 2.])
  with pytest.raises(ValueError):
    codec_speed.ratio_spread([], [])


def test_time_interleaved_appends_external_per_round():
  calls = []
  times = codec_speed.time_interleaved(
      {"a": lambda: calls.append("a")}, 3,
      external=lambda: calls.append("ext") or {"ref": float(len(calls))})
  assert calls == ["a", "ext"] * 3
  assert times["ref"] == [2., 4., 6.]
  assert len(times["a"]) == 3


def test_reference_archs_overrides():
  archs = codec_speed.reference_archs(["balle2017=bmshj2018-factorized:2"])
  assert archs["balle2017"] == ("bmshj2018-factorized", 2)
  assert archs["balle2018_hyperprior"] == ("bmshj2018-hyperprior", 1)
  with pytest.raises(ValueError):
    codec_speed.reference_archs(["nonsense"])
