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

import heapq
import math
from collections import Counter, deque
from collections.abc import Hashable, Sequence
from operator import mul, sub
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
        ringing = _int(getattr(state, "n_ringing", 0))
        waiting = _int(getattr(state, "n_waiting", 0))
        talking = _int(getattr(state, "n_talking", 0))
        free_lines = _int(_cfg(state, "max_lines", 10**6)) - ringing - waiting - talking
        want = int(free * self.lines_per_agent) - ringing - waiting
        return max(0, min(want, free_lines))


class PredictivePacer:
    """Probabilistic predictive pacer keeping abandons under target (R-PACE-2)."""

    def __init__(
        self,
        *,
        target_abandon: float = 0.03,
        safety_margin: float = 0.15,
        window_s: float = 1800.0,
        window_target: float = 0.05,
        run_guard: float = 0.9,
        theta_min: float = 0.001,
        theta_max: float = 0.25,
        answer_memory_s: float = 600.0,
        refresh_s: float = 60.0,
        prior_answer_rate: float = 0.3,
        prior_aht_s: float = 120.0,
        prior_wrap_s: float = 15.0,
        max_talk_s: int = 3600,
        calibration_s: float = 3600.0,
        busy_refresh_s: float = 600.0,
        budget_gain: float = 1.0,
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
        self.calibration_s = calibration_s
        self.busy_refresh_s = busy_refresh_s
        self.budget_gain = budget_gain

        self.rate_slow = DecayingRate(prior_answer_rate, 6.0, answer_memory_s, 150.0)
        self.rate_fast = DecayingRate(prior_answer_rate, 6.0, 120.0, 40.0)
        self.machines = DecayingRate(0.1, 4.0, answer_memory_s, 200.0)
        self.talk = Histogram(max_talk_s, exponential_prior(prior_aht_s, max_talk_s, 3.0), cap=3000.0)
        self.wrap = Histogram(600, exponential_prior(prior_wrap_s, 600, 3.0), cap=3000.0)
        self._ring_bins = 0  # set from the dial timeout on the first decide
        self.ring_answer: Histogram | None = None
        self.ring_other: Histogram | None = None
        self._maturing: list[tuple[float, int, float]] = []  # (launch time, outcome, duration)
        self._launched: dict[Any, float] = {}  # ringing call id -> launch time
        self._recent_answers: deque[tuple[float, float]] = deque()  # (answer time, launch time)
        self._pred_q: deque[tuple[float, float, float]] = deque()  # (time, answers due in 10 s, p)
        self.surges = 0
        self._i10 = 0

        self.answered = 0
        self.abandoned = 0
        self.predicted_abandons = 0.0
        self._answer_times: deque[float] = deque()
        self._abandon_times: deque[float] = deque()
        self._last_event_t = 0.0
        self._record_from = 0.0  # start of the abandon record: 0, or before it when resumed

        self._taus: list[int] = []
        self._dl = 2
        self._next_refresh = -1.0
        self._refresh_counts = (0, 0)
        self._next_busy_refresh = -1.0
        self._talk_rows: dict[int, tuple[float, ...]] = {}
        self._wrap_rows: dict[int, tuple[float, ...]] = {}
        self._kernels: list[list[float]] = []
        self._jmax = 1
        self._warm_after = 90.0
        self._cal_obs = 0.0
        self._cal_pred = 0.0
        self._cal_t = 0.0
        self._st: list[float] = []
        self._sw: list[float] = []
        self._sa: list[float] = []
        self._so: list[float] = []
        self._talk_mean = prior_aht_s
        self._wrap_mean = prior_wrap_s
        self._ring_rows: list[tuple[float, float, list[float], list[float]]] = []
        self.last_theta = self.target_eff

    # ------------------------------------------------------------------ learning
    def on_event(self, event: Any) -> None:
        kind = getattr(event, "kind", None)
        t = getattr(event, "time", None)
        d = getattr(event, "duration", 0.0)
        if not isinstance(t, int | float) or not isinstance(d, int | float):
            return  # malformed event: learning from it would only corrupt the estimates
        if not (math.isfinite(t) and math.isfinite(d)):
            return
        t = float(t)
        d = float(d)
        self._last_event_t = max(self._last_event_t, t)
        cid = getattr(event, "call_id", None)
        if not isinstance(cid, Hashable):
            cid = None
        if kind == "launch":
            if cid is not None and len(self._launched) < 100_000:
                self._launched[cid] = t
            return
        launched = t - d
        if kind in _LIVE_KINDS or kind in _OTHER_KINDS:
            launched = self._launched.pop(cid, launched)
        if kind in _LIVE_KINDS:
            self.answered += 1
            self._answer_times.append(t)
            self._recent_answers.append((t, launched))
            heapq.heappush(self._maturing, (t - d, 1, d))
        elif kind in _OTHER_KINDS:
            heapq.heappush(self._maturing, (t - d, 2 if kind == "machine" else 0, d))
        elif kind == "abandon":
            self.abandoned += 1
            self._cal_obs += 1.0
            self._abandon_times.append(t)
        elif kind == "talk_end":
            self.talk.add(d)
        elif kind == "wrap_end":
            self.wrap.add(d)

    def resume(
        self,
        *,
        answered: int,
        abandoned: int,
        recent_answers: Sequence[float] = (),
        recent_abandons: Sequence[float] = (),
    ) -> None:
        """Carry the project's abandon record into a new pacer (daemon restart, project resumed).

        R-PACE-2 holds the rate over the whole run and every 30-minute window, but a pacer is
        rebuilt whenever the daemon restarts or the project is paused and resumed; starting from
        zero would forget the abandons already spent and could break both limits.  ``answered``
        and ``abandoned`` are the run's live answers and abandons so far; the ``recent_*`` times
        (in this pacer's clock, so at or before 0) refill the trailing window.  Learned estimates
        are not carried: they re-converge within minutes, while the budget must never reset.
        """
        if answered < 0 or abandoned < 0 or abandoned > answered:
            raise ValueError(f"resume: need 0 <= abandoned <= answered, got {abandoned}/{answered}")
        for name, times in (("recent_answers", recent_answers), ("recent_abandons", recent_abandons)):
            if not all(isinstance(x, int | float) and math.isfinite(x) for x in times):
                raise ValueError(f"resume: {name} must be finite times")
        self.answered += answered
        self.abandoned += abandoned
        if answered:  # the record covers the window before this pacer existed
            self._record_from = min(self._record_from, -self.window_s)
        for dq, times in ((self._answer_times, recent_answers), (self._abandon_times, recent_abandons)):
            merged = sorted([*dq, *map(float, times)])
            dq.clear()
            dq.extend(merged)

    def _mature(self, now: float) -> None:
        """Learn from call outcomes only once every call launched at the same time has resolved.

        Busy signals resolve in a second or two, answers after ~10 s, no-answers at the dial
        timeout: counting outcomes as they arrive would see only the quick ones at the start
        of the shift (or after a burst) and badly underestimate the answer rate.  Waiting until
        the launch cohort is complete removes that censoring bias at the cost of ~30 s delay.
        """
        assert self.ring_answer is not None and self.ring_other is not None
        # a launch whose outcome never came (the originate failed to send, the attempt was
        # withdrawn or settled lost) would be kept for ever; past twice the ring window no
        # outcome can still come (launch order = insertion order, so the oldest are first)
        launched = self._launched
        old = now - 2.0 * self._ring_bins
        while launched:
            cid, t = next(iter(launched.items()))
            if t >= old:
                break
            del launched[cid]
        heap = self._maturing
        cut = now - self._ring_bins
        while heap and heap[0][0] <= cut:
            _launched, code, d = heapq.heappop(heap)
            live = code == 1
            self.rate_slow.observe(now, live)
            self.rate_fast.observe(now, live)
            self.machines.observe(now, code == 2)
            (self.ring_answer if live else self.ring_other).add(d)
        slow, fast = self.rate_slow, self.rate_fast
        if abs(fast.mean - slow.mean) > 2.5 * math.sqrt(fast.variance + slow.variance):
            # the answer rate has moved (new list segment, time of day): restart the long memory
            # from recent evidence instead of letting it drift across for half an hour
            slow.alpha, slow.beta = fast.alpha, fast.beta

    def _init_ring(self, dial_timeout: float, amd: bool) -> None:
        n = math.ceil(dial_timeout) + (8 if amd else 3)
        self._ring_bins = n
        self._warm_after = 3.0 * n
        self.ring_answer = Histogram(n + 1, uniform_prior(2, min(n, 20), n + 1, 2.0), cap=3000.0)
        other_prior = [0.0] * (n + 1)
        other_prior[min(n, int(dial_timeout))] = 1.5
        for i in range(1, 6):
            other_prior[i] += 0.1
        self.ring_other = Histogram(n + 1, other_prior, cap=3000.0)
        top = n + 1
        taus = [0, 2, 4, 6, 8, 10, 12, 15, 18, 22, 26, 30, 35, 40]
        self._taus = [x for x in taus if x < top] + [top]
        self._i10 = self._taus.index(10) if 10 in self._taus else len(self._taus) // 2

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
        """Re-snapshot the learned distributions and drop the cached per-age rows.

        Ring-time rows are cheap and follow the answer distribution every ``refresh_s``.
        Talk/wrap rows are the expensive part (one per distinct busy age), so they are rebuilt
        when a young distribution has grown by a fifth, and only every ``busy_refresh_s`` once
        a thousand calls have settled its shape.
        """
        assert self.ring_answer is not None and self.ring_other is not None
        self._sa = sa = self.ring_answer.survival()
        self._so = self.ring_other.survival()
        na = len(sa) - 1
        taus = self._taus
        self._ring_rows = []
        for s in range(na + 1):
            d = [sa[s] - sa[min(na, s + tau)] for tau in taus]
            self._ring_rows.append((sa[s], self._so[s], d, [x * x for x in d]))
        self._next_refresh = now + self.refresh_s
        counts = (self.talk.observed, self.wrap.observed)
        old = self._refresh_counts
        grown = any(o < 1000 and n >= 1.2 * o + 5 for o, n in zip(old, counts, strict=True))
        if not grown and now < self._next_busy_refresh:
            return
        self._refresh_counts = counts
        self._next_busy_refresh = now + self.busy_refresh_s
        self._talk_rows.clear()
        self._wrap_rows.clear()
        # snapshots: the histograms keep learning between refreshes without invalidating the rows
        self._st = self.talk.survival()
        self._sw = sw = self.wrap.survival()
        self._talk_mean = self.talk.mean()
        self._wrap_mean = self.wrap.mean()
        nw = len(sw) - 1
        dl = self._dl
        self._jmax = taus[-1] + dl + 1

        def wcdf(x: float) -> float:
            if x <= 0.0:
                return 0.0
            k = int(x)
            if k >= nw:
                return 1.0
            frac = x - k
            return 1.0 - (sw[k] * (1.0 - frac) + sw[k + 1] * frac)

        self._kernels = [[wcdf(tau + dl - j - 0.5) for j in range(self._jmax)] for tau in taus]

    def _talk_row(self, key: int) -> tuple[float, ...]:
        st = self._st
        n = len(st) - 1
        jmax = self._jmax
        s0 = st[key] if key < n else 0.0
        if s0 > 1e-9:
            seg = st[key : key + jmax + 1]
            if len(seg) < jmax + 1:
                seg = seg + [0.0] * (jmax + 1 - len(seg))
            inv = 1.0 / s0
            e = [x * inv for x in map(sub, seg, seg[1:])]
        else:  # beyond anything observed: a memoryless tail with the mean talk time
            m = max(60.0, self._talk_mean)
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
        sw = self._sw
        n = len(sw) - 1
        s0 = sw[w] if w < n else 0.0
        dl = self._dl
        if s0 > 1e-9:
            probs = [(s0 - sw[min(n, w + tau + dl)]) / s0 for tau in self._taus]
        else:
            m = max(5.0, self._wrap_mean)
            probs = [1.0 - math.exp(-(tau + dl) / m) for tau in self._taus]
        row = tuple(probs) + tuple(q * (1.0 - q) for q in probs)
        self._wrap_rows[w] = row
        return row

    # ------------------------------------------------------------------ control
    def _theta(self, now: float, horizon: float) -> float:
        """The per-call abandon risk allowed this tick; 0.0 means reserved-agent calls only.

        The model's probabilities are approximate, so the threshold is steered by what happened:
        observed vs predicted abandons (calibration), spent vs earned budget of the run, and hard
        floors whenever one more abandon would break the trailing 30-minute window or the
        projected whole-run rate -- the two limits regulators apply (R-PACE-2).
        """
        k0 = 3.0
        if now > self._cal_t:
            f = math.exp(-(now - self._cal_t) / self.calibration_s)
            self._cal_obs *= f
            self._cal_pred *= f
            self._cal_t = now
        calib = (self._cal_obs + k0) / (self._cal_pred + k0)
        # and lean on what actually happened: unspent abandon budget of the run buys risk back
        # (float ** float is typed Any: a negative base gives a complex; both are positive here)
        budget: float = ((self.target_eff * self.answered + k0) / (self.abandoned + k0)) ** self.budget_gain
        theta = self.target_eff / calib * min(3.0, max(0.5, budget))
        # trailing window budget
        cut = now - self.window_s
        at, bt = self._answer_times, self._abandon_times
        while at and at[0] < cut:
            at.popleft()
        while bt and bt[0] < cut:
            bt.popleft()
        a_w, b_w = len(at), len(bt)
        known = now - self._record_from  # how much of the trailing window the record covers
        span = min(max(known, 1.0), self.window_s)
        a_proj = a_w * self.window_s / span if known >= 300.0 else a_w
        allowed_w = self.window_target * max(a_w, a_proj)
        if b_w + 1 > allowed_w:
            if b_w >= 1 and allowed_w < 3.0:
                # a small team's window holds a couple of dozen answers: one more abandon would
                # break it, and the normal tail underestimates small binomial counts, so take
                # only the calls an idle agent is reserved for until the window clears
                return 0.0
            theta = self.theta_min
        elif b_w + 1 > 0.6 * allowed_w:
            theta *= 0.5
        if allowed_w < 3.0:
            # so few answers per window that two abandons in one burst break it: tread lighter
            theta *= max(0.25, allowed_w / 3.0)
        # whole-run budget, projected to the end of the shift
        if self.abandoned > 0:
            rate_per_s = a_w / span if span > 0 else 0.0
            a_end = self.answered + rate_per_s * max(0.0, horizon - now)
            if self.abandoned + 1 > self.run_guard * self.target * a_end:
                theta = self.theta_min
            elif self.abandoned > self.target_eff * self.answered + 2.0:
                theta *= 0.5
        return min(self.theta_max, max(self.theta_min, theta))

    def _prepare(self, state: Any, now: float) -> None:
        """Per-tick bookkeeping: learn matured outcomes, refresh the cached predictions."""
        if self.ring_answer is None:
            self._dl = math.ceil(float(_cfg(state, "connect_deadline_s", 2.0)))
            self._init_ring(float(_cfg(state, "dial_timeout_s", 25.0)), bool(_cfg(state, "amd", False)))
        self._mature(now)
        if now >= self._next_refresh or now >= self._next_busy_refresh:
            self._refresh(now)

    def _check_surge(self, now: float) -> None:
        """Catch a jump of the answer rate before the cohort-based estimate can see it.

        The learned answer rate only sees complete launch cohorts (~30 s late), and during a
        jump the pacer stops dialing, so it would learn even later.  Ten seconds after each
        decision, the answers that actually arrived from the calls then in flight are compared
        with the prediction; a significant excess rescales the answer-rate estimate at once
        by actual / predicted (and forgets predictions made with the stale rate).
        """
        q = self._pred_q
        recent = self._recent_answers
        while q and q[0][0] + 10.0 <= now:
            t0, pred, p_then = q.popleft()
            actual = sum(1 for ta, tl in recent if t0 < ta <= t0 + 10.0 and tl <= t0)
            if actual > pred + 3.0 * math.sqrt(pred) + 2.0:
                p_new = min(0.95, p_then * actual / max(pred, 0.5))
                w = max(20.0, actual + pred)
                for est in (self.rate_fast, self.rate_slow):
                    est.alpha = p_new * w
                    est.beta = (1.0 - p_new) * w
                self.surges += 1
                q.clear()
                break
        while recent and recent[0][0] < now - 60.0:
            recent.popleft()

    def _capacity(
        self, free: int, talking: Sequence[float], wrapping: Sequence[float]
    ) -> tuple[list[float], list[float]]:
        """Expected agents able to take a customer by each ``tau + deadline``, and its variance."""
        m_n = len(self._taus)
        cap = [float(free)] * m_n
        cap_var = [0.0] * m_n
        get = self._talk_rows.get
        rows = []
        for a in talking:
            k = int(a)
            if k >= 120:
                k -= k % 2 if k < 600 else k % 10
            row = get(k)
            rows.append(row if row is not None else self._talk_row(k))
        rows.extend(self._wrap_row(w) for w in wrapping)
        if rows:
            sums = list(map(sum, zip(*rows, strict=True)))
            for m in range(m_n):
                cap[m] += sums[m]
                cap_var[m] = sums[m_n + m]
        return cap, cap_var

    def _load(
        self, now: float, p: float, ringing: Sequence[float], n_wait: int
    ) -> tuple[list[float], list[float]]:
        """Expected live answers by each ``tau`` from waiting customers and ringing calls."""
        assert self.ring_answer is not None
        m_n = len(self._taus)
        na = len(self._sa) - 1
        load = [float(n_wait)] * m_n
        load_var = [0.0] * m_n
        if not ringing:
            return load, load_var
        warm = self.ring_answer.observed >= 100 and now >= self._warm_after
        ring_rows = self._ring_rows
        wrows = []
        for age, c in Counter(map(round, ringing)).items():
            sa_s, so_s, d, d2 = ring_rows[min(max(age, 0), na)]
            # before the ring-time distributions are learned, the early answers are only the
            # quick ones (censoring), so a call's age must not yet count as evidence against it
            denom = p * sa_s + (1.0 - p) * so_s if warm else sa_s
            if denom <= 1e-12 or sa_s <= 0.0:
                continue
            k = p / denom
            ck = c * k
            ck2 = ck * k
            wrows.append([ck * x for x in d] + [ck2 * x for x in d2])
        if wrows:
            sums = list(map(sum, zip(*wrows, strict=True)))
            for m in range(m_n):
                load[m] += sums[m]
                load_var[m] = sums[m] - sums[m_n + m]
        return load, load_var

    def decide(self, state: Any) -> int:
        n_agents = _int(getattr(state, "n_agents", 0))
        if n_agents <= 0:
            return 0
        now = float(getattr(state, "time", self._last_event_t) or 0.0)
        self._prepare(state, now)
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
        cap, cap_var = self._capacity(free, talking, wrapping)
        self._check_surge(now)
        p, var_p = self.answer_rate()
        p = min(0.999, max(1e-4, p))
        sa = self._sa
        na = len(sa) - 1
        n_wait = len(waiting)
        load, load_var = self._load(now, p, ringing, n_wait)
        # d load / d p, for the answer-rate uncertainty (q is nearly proportional to p)
        per_p = [(load[m] - n_wait) / p for m in range(m_n)]
        # a new call's chance to be answered by tau, and where its answer falls
        fa = [1.0 - sa[min(na, tau)] for tau in taus]
        weights = [fa[0]] + [fa[m] - fa[m - 1] for m in range(1, m_n)]
        weights[-1] += 1.0 - fa[-1]
        fnew = [p * x for x in fa]
        base_mu = [load[m] - cap[m] + 0.5 for m in range(m_n)]
        base_var = [load_var[m] + cap_var[m] + 1e-3 for m in range(m_n)]
        active = [m for m in range(m_n) if weights[m] > 1e-6]
        theta = self._theta(now, float(_cfg(state, "horizon_s", 8 * 3600.0)))
        self.last_theta = theta

        def abandon_prob(n_calls: int) -> float:
            if n_calls <= 0:
                return 0.0
            others = n_calls - 1
            tot = 0.0
            for m in active:
                f = fnew[m]
                mu = base_mu[m] + others * f
                dp = per_p[m] + others * fa[m]
                v = base_var[m] + others * f * (1.0 - f) + var_p * dp * dp
                tot += weights[m] * normal_cdf(mu / math.sqrt(v))
            return tot

        # calls with an idle agent reserved each carry no risk at all: never dial fewer
        safe = min(free_lines, max(0, free - len(ringing) - n_wait))
        lo = 0
        if theta > 0.0 and abandon_prob(1) <= theta:
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
            expected = lo * p * abandon_prob(lo)
            self.predicted_abandons += expected
            self._cal_pred += expected
        n_out = max(lo, safe)
        i = self._i10
        self._pred_q.append((now, load[i] - n_wait + n_out * fnew[i], p))
        return n_out
