"""Outbound pacing: how many new calls to launch each tick (SPEC R-PACE-1..3).

Both pacers follow the contract of shared/dialer/INTERFACE.md: constructible with no
arguments, ``decide(state) -> int`` once per tick, ``on_event(event)`` for every dialer event
in time order.  They are pure: no I/O, no clock (time comes from ``state.time`` and the
events), no randomness, so the simulator in ``bench/dialer`` and the daemon drive the very
same objects.

The predictive pacer plans with probabilities, not a dial ratio.  Each tick it predicts, for
a grid of horizons ``tau`` over the next ~30 s:

* ``D(tau)``: agents able to take a customer by ``tau + connect_deadline`` -- the idle ones,
  plus each talking agent's chance to finish talk *and* wrap-up in time (from the learned
  talk and wrap distributions, conditioned on how long that agent has already been busy),
  plus each wrap-up agent's chance to finish;
* ``L(tau)``: live answers that will have arrived by ``tau`` -- customers already waiting,
  calls already ringing (conditioned on their age: a call ringing for 20 s is now unlikely
  to be answered), and the new calls.

A new call is abandoned when its answer finds no agent within the deadline, i.e. when the
answers before it already use all the capacity.  With a normal approximation of
``L - D`` (Bernoulli variances plus the answer-rate uncertainty, which matters early in the
shift and for small teams) the pacer launches the largest batch whose per-call abandon
probability stays under a threshold ``theta``.  ``theta`` starts at the target abandon rate
minus a safety margin, is recalibrated by the ratio of observed to predicted abandons, and
drops to a floor whenever one more abandon would break the budget of the whole run or of
the trailing 30-minute window (one abandon is a large share of a small team's window).
"""

from __future__ import annotations

import math
from collections import Counter, deque
from operator import mul
from typing import Any

from ccagent.core.dialer.estimators import (
    DecayingRate,
    Histogram,
    exponential_prior,
    normal_cdf,
    uniform_prior,
)

__all__ = ["PredictivePacer", "ProgressivePacer"]

_LIVE_KINDS = frozenset({"answer"})
_OTHER_KINDS = frozenset({"machine", "no_answer"})


def _cfg(state: Any, key: str, default: Any) -> Any:
    cfg = getattr(state, "config", None)
    if not cfg:
        return default
    try:
        v = cfg.get(key, default)
    except AttributeError:
        v = getattr(cfg, key, default)
    return default if v is None else v


def _int(x: Any) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return 0


class ProgressivePacer:
    """One call per free operator (R-PACE-1): never more calls in flight than idle agents.

    Abandons are only possible if two calls race for the same agent, which this rule
    prevents by counting ringing calls and waiting customers against the idle agents.
    """

    def __init__(self, **settings: Any) -> None:
        unknown = set(settings) - {"lines_per_agent"}
        if unknown:
            raise TypeError(f"ProgressivePacer: unknown setting(s) {sorted(unknown)}")
        self.lines_per_agent = float(settings.get("lines_per_agent", 1.0))
        if self.lines_per_agent <= 0:
            raise ValueError("lines_per_agent: must be > 0")

    def on_event(self, event: Any) -> None:  # progressive dialing needs no memory
        return None

    def decide(self, state: Any) -> int:
        if _int(getattr(state, "n_agents", 0)) <= 0:
            return 0
        free = _int(getattr(state, "agents_free", 0))
        if free <= 0:
            return 0
        busy_lines = _int(getattr(state, "n_ringing", 0)) + _int(getattr(state, "n_waiting", 0))
        return max(0, int(free * self.lines_per_agent) - busy_lines)


class PredictivePacer:
    """Probabilistic predictive pacer keeping abandons under target (R-PACE-2)."""

    def __init__(
        self,
        *,
        target_abandon: float = 0.03,
        safety_margin: float = 0.3,
        window_s: float = 1800.0,
        window_target: float = 0.05,
        run_guard: float = 0.9,
        theta_min: float = 0.002,
        theta_max: float = 0.25,
        answer_memory_s: float = 900.0,
        refresh_s: float = 60.0,
        prior_answer_rate: float = 0.3,
        prior_aht_s: float = 120.0,
        prior_wrap_s: float = 15.0,
        max_talk_s: int = 3600,
    ) -> None:
        if not 0.0 < target_abandon < 1.0:
            raise ValueError(f"target_abandon: must be in (0, 1), got {target_abandon!r}")
        if not 0.0 <= safety_margin < 1.0:
            raise ValueError(f"safety_margin: must be in [0, 1), got {safety_margin!r}")
        if window_s <= 0:
            raise ValueError(f"window_s: must be > 0, got {window_s!r}")
        if not 0.0 < window_target < 1.0:
            raise ValueError(f"window_target: must be in (0, 1), got {window_target!r}")
        if not 0.0 < theta_min <= theta_max < 1.0:
            raise ValueError("theta_min/theta_max: need 0 < theta_min <= theta_max < 1")
        if refresh_s <= 0:
            raise ValueError(f"refresh_s: must be > 0, got {refresh_s!r}")
        self.target = target_abandon
        self.target_eff = target_abandon * (1.0 - safety_margin)
        self.window_s = window_s
        self.window_target = window_target
        self.run_guard = run_guard
        self.theta_min = theta_min
        self.theta_max = theta_max
        self.refresh_s = refresh_s
        self.max_talk_s = max_talk_s

        self.rate_slow = DecayingRate(prior_answer_rate, 6.0, answer_memory_s, 200.0)
        self.rate_fast = DecayingRate(prior_answer_rate, 6.0, 120.0, 40.0)
        self.machines = DecayingRate(0.1, 4.0, answer_memory_s, 200.0)
        self.talk = Histogram(max_talk_s, exponential_prior(prior_aht_s, max_talk_s, 3.0), cap=3000.0)
        self.wrap = Histogram(600, exponential_prior(prior_wrap_s, 600, 3.0), cap=3000.0)
        self._ring_bins = 0  # set from the dial timeout on the first decide
        self.ring_answer: Histogram | None = None
        self.ring_other: Histogram | None = None
        self._pending_ring: list[tuple[bool, float]] = []

        self.answered = 0
        self.abandoned = 0
        self.predicted_abandons = 0.0
        self._answer_times: deque[float] = deque()
        self._abandon_times: deque[float] = deque()
        self._last_event_t = 0.0

        self._taus: list[int] = []
        self._dl = 2
        self._next_refresh = -1.0
        self._refresh_counts = (0, 0, 0)
        self._talk_rows: dict[int, tuple[float, ...]] = {}
        self._wrap_rows: dict[int, tuple[float, ...]] = {}
        self._kernels: list[list[float]] = []
        self._jmax = 1
        self.last_theta = self.target_eff

    # ------------------------------------------------------------------ learning
    def on_event(self, event: Any) -> None:
        kind = getattr(event, "kind", None)
        t = getattr(event, "time", None)
        d = getattr(event, "duration", 0.0)
        if not isinstance(t, int | float) or not isinstance(d, int | float) or math.isnan(t) or math.isnan(d):
            return  # malformed event: learning from it would only corrupt the estimates
        t = float(t)
        d = float(d)
        self._last_event_t = max(self._last_event_t, t)
        if kind in _LIVE_KINDS:
            self.answered += 1
            self._answer_times.append(t)
            self.rate_slow.observe(t, True)
            self.rate_fast.observe(t, True)
            self.machines.observe(t, False)
            self._ring(True, d)
        elif kind in _OTHER_KINDS:
            self.rate_slow.observe(t, False)
            self.rate_fast.observe(t, False)
            self.machines.observe(t, kind == "machine")
            self._ring(False, d)
        elif kind == "abandon":
            self.abandoned += 1
            self._abandon_times.append(t)
        elif kind == "talk_end":
            self.talk.add(d)
        elif kind == "wrap_end":
            self.wrap.add(d)

    def _ring(self, live: bool, d: float) -> None:
        if self.ring_answer is None or self.ring_other is None:
            self._pending_ring.append((live, d))
            return
        (self.ring_answer if live else self.ring_other).add(d)

    def _init_ring(self, dial_timeout: float, amd: bool) -> None:
        n = int(math.ceil(dial_timeout)) + (8 if amd else 3)
        self._ring_bins = n
        self.ring_answer = Histogram(n + 1, uniform_prior(2, min(n, 20), n + 1, 2.0), cap=3000.0)
        other_prior = [0.0] * (n + 1)
        other_prior[min(n, int(dial_timeout))] = 1.5
        for i in range(1, 6):
            other_prior[i] += 0.1
        self.ring_other = Histogram(n + 1, other_prior, cap=3000.0)
        for live, d in self._pending_ring:
            (self.ring_answer if live else self.ring_other).add(d)
        self._pending_ring.clear()
        top = n + 1
        taus = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 19, 22, 25, 28, 32, 36, 40]
        self._taus = [x for x in taus if x < top] + [top]

    # ------------------------------------------------------------------ estimates
    def answer_rate(self) -> tuple[float, float]:
        """(estimate, variance) of P(live answer) per call; the fast estimate wins when it jumps up."""
        s, f = self.rate_slow, self.rate_fast
        ps, pf = s.mean, f.mean
        if pf > ps + 2.0 * math.sqrt(s.variance + f.variance):
            return pf, f.variance
        return ps, s.variance

    def estimates(self) -> dict[str, float]:
        p, var = self.answer_rate()
        out = {
            "answer_rate": p,
            "answer_rate_sd": math.sqrt(var),
            "machine_rate": self.machines.mean,
            "aht_s": self.talk.mean(),
            "mean_wrap_s": self.wrap.mean(),
            "theta": self.last_theta,
        }
        if self.ring_answer is not None:
            out["mean_ring_to_answer_s"] = self.ring_answer.mean()
        return out

    def _refresh(self, now: float) -> None:
        """Rebuild the cached per-age rows; often while the distributions are still young."""
        assert self.ring_answer is not None
        self._talk_rows.clear()
        self._wrap_rows.clear()
        sw = self.wrap.survival()
        nw = len(sw) - 1
        dl = self._dl
        self._jmax = self._taus[-1] + dl + 1

        def wcdf(x: float) -> float:
            if x <= 0.0:
                return 0.0
            k = int(x)
            if k >= nw:
                return 1.0
            frac = x - k
            return 1.0 - (sw[k] * (1.0 - frac) + sw[k + 1] * frac)

        self._kernels = [[wcdf(tau + dl - j - 0.5) for j in range(self._jmax)] for tau in self._taus]
        counts = (self.talk.observed, self.wrap.observed, self.ring_answer.observed)
        young = min(counts) < 200
        self._refresh_counts = counts
        self._next_refresh = now + (min(self.refresh_s, 10.0) if young else self.refresh_s)

    def _talk_row(self, age: float) -> tuple[float, ...]:
        a = int(age)
        key = a if a < 120 else (a - a % 2 if a < 600 else a - a % 10)
        row = self._talk_rows.get(key)
        if row is not None:
            return row
        st = self.talk.survival()
        n = len(st) - 1
        jmax = self._jmax
        s0 = st[key] if key < n else 0.0
        if s0 > 1e-9:
            seg = st[key : key + jmax + 1]
            if len(seg) < jmax + 1:
                seg = seg + [0.0] * (jmax + 1 - len(seg))
            e = [(seg[j] - seg[j + 1]) / s0 for j in range(jmax)]
        else:  # beyond anything observed: a memoryless tail with the mean talk time
            m = max(60.0, self.talk.mean())
            e = [math.exp(-j / m) - math.exp(-(j + 1) / m) for j in range(jmax)]
        probs = [sum(map(mul, e, k)) for k in self._kernels]
        row = tuple(probs) + tuple(q * (1.0 - q) for q in probs)
        self._talk_rows[key] = row
        return row

    def _wrap_row(self, age: float) -> tuple[float, ...]:
        w = int(age)
        row = self._wrap_rows.get(w)
        if row is not None:
            return row
        sw = self.wrap.survival()
        n = len(sw) - 1
        s0 = sw[w] if w < n else 0.0
        dl = self._dl
        if s0 > 1e-9:
            probs = [(s0 - sw[min(n, w + tau + dl)]) / s0 for tau in self._taus]
        else:
            m = max(5.0, self.wrap.mean())
            probs = [1.0 - math.exp(-(tau + dl) / m) for tau in self._taus]
        row = tuple(probs) + tuple(q * (1.0 - q) for q in probs)
        self._wrap_rows[w] = row
        return row

    # ------------------------------------------------------------------ control
    def _theta(self, now: float, horizon: float) -> float:
        k0 = 3.0
        calib = (self.abandoned + k0) / (self.predicted_abandons + k0)
        theta = self.target_eff / calib
        # trailing window budget
        cut = now - self.window_s
        at, bt = self._answer_times, self._abandon_times
        while at and at[0] < cut:
            at.popleft()
        while bt and bt[0] < cut:
            bt.popleft()
        a_w, b_w = len(at), len(bt)
        span = min(max(now, 1.0), self.window_s)
        a_proj = a_w * self.window_s / span if now >= 300.0 else a_w
        allowed_w = self.window_target * max(a_w, a_proj)
        if b_w + 1 > allowed_w:
            theta = self.theta_min
        elif b_w + 1 > 0.6 * allowed_w:
            theta *= 0.5
        # whole-run budget, projected to the end of the shift
        if self.abandoned > 0:
            rate_per_s = a_w / span if span > 0 else 0.0
            a_end = self.answered + rate_per_s * max(0.0, horizon - now)
            if self.abandoned + 1 > self.run_guard * self.target * a_end:
                theta = self.theta_min
            elif self.abandoned > self.target_eff * self.answered + 2.0:
                theta *= 0.5
        return min(self.theta_max, max(self.theta_min, theta))

    def decide(self, state: Any) -> int:
        n_agents = _int(getattr(state, "n_agents", 0))
        if n_agents <= 0:
            return 0
        now = float(getattr(state, "time", self._last_event_t) or 0.0)
        if self.ring_answer is None:
            self._dl = int(math.ceil(float(_cfg(state, "connect_deadline_s", 2.0))))
            self._init_ring(float(_cfg(state, "dial_timeout_s", 25.0)), bool(_cfg(state, "amd", False)))
        if now >= self._next_refresh:
            self._refresh(now)
        assert self.ring_answer is not None and self.ring_other is not None

        free = max(0, _int(getattr(state, "agents_free", 0)))
        talking = getattr(state, "agents_talking", ()) or ()
        wrapping = getattr(state, "agents_in_wrap", ()) or ()
        ringing = getattr(state, "calls_ringing", ()) or ()
        waiting = getattr(state, "calls_waiting", ()) or ()
        max_lines = _int(_cfg(state, "max_lines", 10**6))
        free_lines = max_lines - len(ringing) - len(waiting) - len(talking)
        if free_lines <= 0:
            return 0

        taus = self._taus
        m_n = len(taus)
        # capacity: agents available by tau + deadline
        cap = [float(free)] * m_n
        cap_var = [0.0] * m_n
        rows = [self._talk_row(a) for a in talking]
        rows.extend(self._wrap_row(w) for w in wrapping)
        if rows:
            sums = list(map(sum, zip(*rows, strict=True)))
            for m in range(m_n):
                cap[m] += sums[m]
                cap_var[m] = sums[m_n + m]

        # live answers by tau from customers waiting and calls ringing
        p, var_p = self.answer_rate()
        p = min(0.999, max(1e-4, p))
        sa = self.ring_answer.survival()
        so = self.ring_other.survival()
        na = len(sa) - 1
        n_wait = len(waiting)
        load = [float(n_wait)] * m_n
        load_var = [0.0] * m_n
        per_p = [0.0] * m_n  # d load / d p, for the answer-rate uncertainty
        if ringing:
            for age, c in Counter(map(round, ringing)).items():
                s = min(max(age, 0), na)
                sa_s = sa[s]
                denom = p * sa_s + (1.0 - p) * so[s]
                if denom <= 1e-12 or sa_s <= 0.0:
                    continue
                k = p / denom
                for m in range(m_n):
                    q = k * (sa_s - sa[min(na, s + taus[m])])
                    if q > 0.0:
                        load[m] += c * q
                        load_var[m] += c * q * (1.0 - q)
                        per_p[m] += c * q / p
        # a new call's chance to be answered by tau, and where its answer falls
        fa = [1.0 - sa[min(na, tau)] for tau in taus]
        weights = [fa[0]] + [fa[m] - fa[m - 1] for m in range(1, m_n)]
        weights[-1] += 1.0 - fa[-1]
        fnew = [p * x for x in fa]
        base_mu = [load[m] - cap[m] + 0.5 for m in range(m_n)]
        base_var = [load_var[m] + cap_var[m] + 0.05 for m in range(m_n)]
        active = [m for m in range(m_n) if weights[m] > 1e-6]
        theta = self._theta(now, float(_cfg(state, "horizon_s", 8 * 3600.0)))
        self.last_theta = theta

        def abandon_prob(n_calls: int) -> float:
            others = n_calls - 1
            tot = 0.0
            for m in active:
                f = fnew[m]
                mu = base_mu[m] + others * f
                dp = per_p[m] + others * fa[m]
                v = base_var[m] + others * f * (1.0 - f) + var_p * dp * dp
                tot += weights[m] * normal_cdf(mu / math.sqrt(v))
            return tot

        if abandon_prob(1) > theta:
            return 0
        lo, hi = 1, free_lines
        if abandon_prob(hi) <= theta:
            lo = hi
        else:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if abandon_prob(mid) <= theta:
                    lo = mid
                else:
                    hi = mid
        self.predicted_abandons += lo * p * abandon_prob(lo)
        return lo
