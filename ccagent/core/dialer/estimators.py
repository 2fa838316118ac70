"""Online estimators the predictive pacer learns from dialer events alone (SPEC R-PACE-2).

Everything here is pure: observations carry their own timestamps (seconds since the
shift started), nothing reads a clock, nothing draws random numbers.  The pacer never
sees the true answer probability or the true duration distributions, so each estimator
starts from a weak prior and converges on what the campaign actually does.
"""

from __future__ import annotations

import math
from itertools import accumulate


class DecayingRate:
    """Beta-posterior probability that forgets old calls, but never below a floor of evidence.

    The answer rate drifts during a shift (lists change, people go home), so old calls
    must lose weight.  Forgetting purely by time would leave a small team, which resolves
    a handful of calls per minute, with a posterior built on three calls; forgetting purely
    by count would make a 100-agent team forget within seconds.  Weight therefore decays
    with time (``memory_s``) but is never shrunk below ``min_weight`` pseudo-calls.
    """

    __slots__ = ("_last_t", "alpha", "beta", "memory_s", "min_weight")

    def __init__(
        self,
        prior_mean: float = 0.3,
        prior_weight: float = 6.0,
        memory_s: float = 600.0,
        min_weight: float = 150.0,
    ) -> None:
        if not 0.0 < prior_mean < 1.0:
            raise ValueError(f"prior_mean: must be in (0, 1), got {prior_mean!r}")
        if prior_weight <= 0.0:
            raise ValueError(f"prior_weight: must be > 0, got {prior_weight!r}")
        if memory_s <= 0.0:
            raise ValueError(f"memory_s: must be > 0, got {memory_s!r}")
        self.alpha = prior_mean * prior_weight
        self.beta = (1.0 - prior_mean) * prior_weight
        self.memory_s = memory_s
        self.min_weight = min_weight
        self._last_t: float | None = None

    def observe(self, t: float, success: bool) -> None:
        last = self._last_t
        if last is not None and t > last:
            total = self.alpha + self.beta
            if total > self.min_weight:
                shrunk = max(self.min_weight, total * math.exp(-(t - last) / self.memory_s))
                f = shrunk / total
                self.alpha *= f
                self.beta *= f
        if last is None or t > last:
            self._last_t = t
        if success:
            self.alpha += 1.0
        else:
            self.beta += 1.0

    @property
    def weight(self) -> float:
        return self.alpha + self.beta

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def variance(self) -> float:
        a, b = self.alpha, self.beta
        n = a + b
        return a * b / (n * n * (n + 1.0))


class Histogram:
    """Empirical distribution of a duration on 1-second bins, with a pseudo-count prior.

    A histogram rather than a parametric fit because the pacer needs conditional
    probabilities (P(talk ends within x | already talked a)) whose shape matters: talk
    times are skewed and heavy-tailed, ring-to-answer times are bounded by the dial
    timeout.  Counts are halved once they pass ``cap`` so that the distribution follows a
    slow drift without keeping the whole shift's history.
    """

    __slots__ = ("_surv", "_version", "cap", "counts", "n_bins", "observed", "total")

    def __init__(self, n_bins: int, prior: list[float] | None = None, cap: float = 4000.0) -> None:
        if n_bins < 2:
            raise ValueError(f"n_bins: must be >= 2, got {n_bins!r}")
        self.n_bins = n_bins
        self.counts = [0.0] * n_bins
        if prior is not None:
            for i, w in enumerate(prior[:n_bins]):
                self.counts[i] += w
        self.total = sum(self.counts)
        self.cap = cap
        self.observed = 0
        self._surv: list[float] | None = None
        self._version = 0

    def add(self, x: float) -> None:
        if not (x >= 0.0) or math.isinf(x):  # also rejects NaN
            return
        i = int(x)
        if i >= self.n_bins:
            i = self.n_bins - 1
        self.counts[i] += 1.0
        self.total += 1.0
        self.observed += 1
        if self.total > self.cap:
            self.counts = [c * 0.5 for c in self.counts]
            self.total *= 0.5
        self._surv = None

    def survival(self) -> list[float]:
        """S[k] = P(X >= k) for k = 0..n_bins (S[0] = 1, S[n_bins] = 0), cached until the next add."""
        s = self._surv
        if s is None:
            tot = self.total if self.total > 0 else 1.0
            tail = list(accumulate(reversed(self.counts)))
            tail.reverse()
            s = [c / tot for c in tail]
            s.append(0.0)
            self._surv = s
        return s

    def mean(self) -> float:
        if self.total <= 0:
            return 0.0
        return sum((i + 0.5) * c for i, c in enumerate(self.counts)) / self.total


def exponential_prior(mean_s: float, n_bins: int, weight: float) -> list[float]:
    """Pseudo-counts of an exponential distribution: a vague, long-tailed starting belief."""
    out = []
    for i in range(n_bins):
        out.append(weight * (math.exp(-i / mean_s) - math.exp(-(i + 1) / mean_s)))
    out[-1] += weight * math.exp(-n_bins / mean_s)
    return out


def uniform_prior(lo: int, hi: int, n_bins: int, weight: float) -> list[float]:
    out = [0.0] * n_bins
    lo = max(0, min(lo, n_bins - 1))
    hi = max(lo + 1, min(hi, n_bins))
    for i in range(lo, hi):
        out[i] = weight / (hi - lo)
    return out


def normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z * 0.7071067811865476))
