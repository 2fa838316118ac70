"""Online estimators behind the predictive pacer (SPEC R-PACE-2)."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccagent.core.dialer.estimators import DecayingRate, Histogram, exponential_prior, normal_cdf


def test_decaying_rate_converges_and_forgets_but_keeps_a_floor_of_evidence() -> None:
    rng = random.Random(7)
    r = DecayingRate(prior_mean=0.5, prior_weight=4.0, memory_s=300.0, min_weight=100.0)
    t = 0.0
    for _ in range(3000):
        t += 0.5
        r.observe(t, rng.random() < 0.2)
    assert abs(r.mean - 0.2) < 0.04
    assert r.weight < 700.0  # ~300 s of calls at 2/s, not all 3000
    for _ in range(2000):  # the rate moves: the old evidence must fade
        t += 0.5
        r.observe(t, rng.random() < 0.6)
    assert abs(r.mean - 0.6) < 0.06
    slow = DecayingRate(memory_s=10.0, min_weight=100.0)
    for i in range(500):  # one call per minute: time-decay alone would leave almost nothing
        slow.observe(60.0 * i, i % 4 == 0)
    assert slow.weight >= 100.0
    assert abs(slow.mean - 0.25) < 0.08
    assert slow.variance < 0.003


def test_decaying_rate_validates_its_settings() -> None:
    with pytest.raises(ValueError, match="prior_mean"):
        DecayingRate(prior_mean=1.0)
    with pytest.raises(ValueError, match="memory_s"):
        DecayingRate(memory_s=0.0)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.floats(min_value=-10.0, max_value=5000.0), st.just(math.nan)), max_size=200))
def test_histogram_survival_is_a_proper_survival_function(xs: list[float]) -> None:
    h = Histogram(100, exponential_prior(20.0, 100, 1.0))
    for x in xs:
        h.add(x)
    s = h.survival()
    assert s[0] == pytest.approx(1.0)
    assert s[-1] == 0.0
    assert all(a >= b - 1e-12 for a, b in pairwise(s))
    assert h.observed == sum(1 for x in xs if x >= 0.0)


def test_histogram_learns_a_distribution() -> None:
    rng = random.Random(3)
    h = Histogram(600, exponential_prior(120.0, 600, 3.0), cap=100_000.0)
    for _ in range(5000):
        h.add(rng.uniform(10.0, 50.0))
    s = h.survival()
    assert abs(h.mean() - 30.0) < 1.0
    assert s[10] > 0.99 and s[30] == pytest.approx(0.5, abs=0.03) and s[51] < 0.01


def test_normal_cdf() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-5)
    assert normal_cdf(-40.0) == 0.0 and math.isclose(normal_cdf(40.0), 1.0)
