"""Dialing rules as pure decisions: attempts, retries, calling hours, DNC, caller ID (R-PRJ-8).

Everything takes ``now`` as an aware datetime; nothing reads the clock.
Calling hours are wall-clock windows evaluated in the *contact's* time zone
with ``zoneinfo``, so a 09:00-20:00 window means 09:00-20:00 where the phone
rings, across DST changes (a window starting in a skipped hour opens at the
transition; a repeated hour is judged by its wall time both times).

Time zone of a contact, in order: an explicit ``time_zone`` (import column);
else what ``phonenumbers`` knows for the number; several candidate zones (a
mobile range spanning a country) mean the configured default zone when it is
one of them, else every candidate must be inside its window (the strictest
reading, as TCPA-careful dialers do); unknown means the default zone.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as pn_timezone

from ccagent.core.dialstring import DIAL_SETTINGS, check_dial_settings
from ccagent.core.projects import ContactState, ProjectError


class Outcome(StrEnum):
    """How one dial attempt ended, as the dialer reports it."""

    ANSWERED = "answered"  # got through: connected to an operator, or the autoinformer/robot ran
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, bad number, trunk error
    ABANDONED = "abandoned"  # answered, no operator within 2 s (R-PACE-2)
    MACHINE = "machine"  # answering machine detected (AMD / avmd)
    CALLBACK = "callback"  # an operator postponed the contact to a set time


RETRY_OUTCOMES: tuple[Outcome, ...] = (
    Outcome.BUSY,
    Outcome.NO_ANSWER,
    Outcome.FAILED,
    Outcome.ABANDONED,
    Outcome.MACHINE,
)

#: Minutes before the next attempt, per outcome (VICIdial-like defaults; a project overrides them).
DEFAULT_RETRY_MINUTES: Mapping[Outcome, int] = {
    Outcome.BUSY: 15,
    Outcome.NO_ANSWER: 60,
    Outcome.FAILED: 30,
    Outcome.ABANDONED: 10,
    Outcome.MACHINE: 240,
}

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


def _parse_hhmm(text: str, where: str) -> time | None:
    """``None`` stands for 24:00 (end of day)."""
    m = _HHMM.match(text.strip())
    if not m:
        raise ProjectError(f"{where}: {text!r} is not a time HH:MM")
    h, mi = int(m.group(1)), int(m.group(2))
    if h == 24:
        if mi:
            raise ProjectError(f"{where}: {text!r} is past 24:00")
        return None
    return time(h, mi)


def _parse_days(text: str, where: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if lo not in _DAYS or (hi and hi not in _DAYS):
            raise ProjectError(f"{where}: {part!r} is not a day or day range (mon..sun, e.g. mon-fri)")
        a, b = _DAYS.index(lo), _DAYS.index(hi or lo)
        if b < a:
            raise ProjectError(f"{where}: {part!r} runs backwards")
        days.update(range(a, b + 1))
    if not days:
        raise ProjectError(f"{where}: no days given")
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class Window:
    """Wall-clock window ``[start, end)`` on the given weekdays (0 = Monday); ``end None`` = midnight."""

    days: frozenset[int]
    start: time
    end: time | None

    def contains(self, wall: datetime) -> bool:
        if wall.weekday() not in self.days:
            return False
        t = wall.time()
        return self.start <= t and (self.end is None or t < self.end)

    def to_json(self) -> dict[str, str]:
        days = ",".join(_DAYS[d] for d in sorted(self.days))
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return {"days": days, "from": self.start.strftime("%H:%M"), "to": end}


@dataclass(frozen=True, slots=True)
class CallingHours:
    """When contacts may be called, in their own local time (R-PRJ-8)."""

    windows: tuple[Window, ...]

    @classmethod
    def parse(cls, data: Any, where: str = "calling_hours") -> CallingHours:
        """Accepts ``"09:00-20:00"`` (every day), ``{"days": "mon-fri", "from": "09:00", "to": "20:00"}``
        or a list of those."""
        items = data if isinstance(data, list) else [data]
        if not items:  # accepted, it would dial nothing and say nothing
            raise ProjectError(f"{where}: needs at least one window")
        windows: list[Window] = []
        for i, item in enumerate(items):
            w = f"{where}[{i}]" if isinstance(data, list) else where
            if isinstance(item, str):
                lo, sep, hi = item.partition("-")
                if not sep:
                    raise ProjectError(f"{w}: {item!r} is not a window HH:MM-HH:MM")
                days_text, start_text, end_text = "mon-sun", lo, hi
            elif isinstance(item, Mapping):
                extra = set(item) - {"days", "from", "to"}
                if extra:
                    raise ProjectError(
                        f"{w}: unknown key {', '.join(sorted(extra))} (allowed: days, from, to)"
                    )
                if "from" not in item or "to" not in item:
                    raise ProjectError(f"{w}: needs 'from' and 'to'")
                days_text = str(item.get("days", "mon-sun"))
                start_text, end_text = str(item["from"]), str(item["to"])
            else:
                raise ProjectError(f"{w}: expected 'HH:MM-HH:MM' or a mapping with days/from/to")
            start = _parse_hhmm(start_text, f"{w}.from")
            end = _parse_hhmm(end_text, f"{w}.to")
            if start is None:
                raise ProjectError(f"{w}.from: a window cannot start at 24:00")
            if end is not None and end <= start:
                raise ProjectError(f"{w}: 'to' must be after 'from' (split a window that crosses midnight)")
            windows.append(Window(_parse_days(days_text, f"{w}.days"), start, end))
        return cls(tuple(windows))

    def to_json(self) -> list[dict[str, str]]:
        return [w.to_json() for w in self.windows]

    def is_open_wall(self, wall: datetime) -> bool:
        return any(w.contains(wall) for w in self.windows)

    def is_open(self, now: datetime, tz: ZoneInfo) -> bool:
        return self.is_open_wall(now.astimezone(tz))

    def next_open(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The first instant at or after ``now`` inside a window in ``tz`` (UTC); None if never open."""
        now = now.astimezone(UTC)
        if self.is_open(now, tz):
            return now
        local_day = now.astimezone(tz).date()
        for offset in range(0, 9):
            day = local_day + timedelta(days=offset)
            starts = sorted(w.start for w in self.windows if day.weekday() in w.days)
            for start in starts:
                at = _first_instant_at_or_after_wall(day, start, tz)
                if at > now:
                    return at
        return None


def _first_instant_at_or_after_wall(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall time in ``tz`` is ``day wall`` or later.

    Normally the wall time's own instant (the first occurrence when the hour
    repeats).  A wall time skipped by a DST jump has no instant: the window
    opens at the transition itself, found by bisection between the two
    readings of the skipped time.
    """
    naive = datetime.combine(day, wall)
    a = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(a, b), max(a, b)
    if lo.astimezone(tz).replace(tzinfo=None) >= naive:
        return lo
    # lo reads before the wall time (we are in a gap): bisect to the transition, to the second.
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond == 0 else hi


# A predictive project's abandon target may be stricter than the law, never looser: 3% is the FTC's
# and Ofcom's cap, 5% Canada's CRTC (per day); the pacer's 30-minute window guard is 5% as well.
MAX_ABANDON_TARGET_PCT = 5.0

DEFAULT_CALLING_HOURS = CallingHours((Window(frozenset(range(7)), time(9, 0), time(20, 0)),))


def find_zone(name: str) -> ZoneInfo | None:
    """The IANA zone, or None.  ``ZoneInfo`` refuses in three ways: not found, a path (ValueError),
    and ``IsADirectoryError`` for a region such as ``Europe`` (an OSError, easy to miss)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone(name: str, where: str = "time_zone") -> ZoneInfo:
    found = find_zone(name)
    if found is None:
        raise ProjectError(f"{where}: unknown time zone {name!r} (use an IANA name like Europe/Kyiv)")
    return found


@lru_cache(maxsize=65536)
def _zones_for_number(phone_e164: str) -> tuple[str, ...]:
    try:
        num = phonenumbers.parse(phone_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in pn_timezone.time_zones_for_number(num) if z != "Etc/Unknown")


def contact_zones(phone_e164: str, explicit: str | None, default_zone: str) -> tuple[ZoneInfo, ...]:
    """Time zones whose calling hours apply to a contact (see the module docstring for the order)."""
    if explicit:
        found = find_zone(explicit)
        if found is not None:
            return (found,)
        # a bad stored value falls back to the number; the import reported it
    names = _zones_for_number(phone_e164)
    if not names:
        return (ZoneInfo(default_zone),)
    if len(names) > 1 and default_zone in names:
        return (ZoneInfo(default_zone),)
    return tuple(ZoneInfo(n) for n in names)


@dataclass(frozen=True, slots=True)
class DialingRules:
    """A project's dialing rules (R-PRJ-8), parsed from its settings JSON with config defaults."""

    max_attempts: int = 3
    retry_minutes: Mapping[Outcome, int] = field(default_factory=lambda: dict(DEFAULT_RETRY_MINUTES))
    calling_hours: CallingHours = DEFAULT_CALLING_HOURS
    default_time_zone: str = "UTC"
    caller_id: str | None = None

    def retry_after(self, outcome: Outcome) -> timedelta:
        return timedelta(minutes=self.retry_minutes.get(outcome, DEFAULT_RETRY_MINUTES.get(outcome, 60)))

    def zones_of(self, phone_e164: str, explicit_zone: str | None) -> tuple[ZoneInfo, ...]:
        return contact_zones(phone_e164, explicit_zone, self.default_time_zone)

    def is_callable_time(self, now: datetime, zones: Iterable[ZoneInfo]) -> bool:
        return all(self.calling_hours.is_open(now, z) for z in zones)

    def next_callable_time(self, now: datetime, zones: Iterable[ZoneInfo]) -> datetime | None:
        """First instant >= now inside the calling hours of every zone; None if they never overlap."""
        zs = tuple(zones)
        t = now.astimezone(UTC)
        for _ in range(64):
            nexts = [self.calling_hours.next_open(t, z) for z in zs]
            if any(n is None for n in nexts):
                return None
            latest = max(n for n in nexts if n is not None)
            if latest == t:
                return t
            t = latest
        return None

    def caller_id_for(self, project_caller_id: str | None) -> str | None:
        """The project's caller ID wins; ``caller_id`` of the rules is the configured fallback."""
        return project_caller_id or self.caller_id


@dataclass(frozen=True, slots=True)
class ContactSnapshot:
    """What the rules need to know about one contact of one project."""

    phone_e164: str
    state: ContactState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_result: str | None = None
    time_zone: str | None = None


class Refusal(StrEnum):
    FINAL = "final"  # reached or not reached already
    DNC = "dnc"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    RETRY_PENDING = "retry_pending"
    OUTSIDE_CALLING_HOURS = "outside_calling_hours"
    NEVER_CALLABLE = "never_callable"  # calling hours never overlap in the contact's zones


@dataclass(frozen=True, slots=True)
class Eligibility:
    ok: bool
    reason: Refusal | None = None
    not_before: datetime | None = None  # when it may become eligible (retry / hours), if known

    def __bool__(self) -> bool:
        return self.ok


def eligible(
    contact: ContactSnapshot, now: datetime, rules: DialingRules, dnc: Container[str] = frozenset()
) -> Eligibility:
    """May the dialer call this contact at ``now``?  Checked at dial time, DNC included (R-PRJ-8)."""
    if contact.state.final:
        return Eligibility(False, Refusal.FINAL)
    if contact.phone_e164 in dnc:
        return Eligibility(False, Refusal.DNC)
    if contact.attempts >= rules.max_attempts and contact.last_result != Outcome.CALLBACK:
        return Eligibility(False, Refusal.ATTEMPTS_EXHAUSTED)
    if contact.next_attempt_at is not None and contact.next_attempt_at > now:
        return Eligibility(False, Refusal.RETRY_PENDING, contact.next_attempt_at)
    zones = rules.zones_of(contact.phone_e164, contact.time_zone)
    if not rules.is_callable_time(now, zones):
        nxt = rules.next_callable_time(now, zones)
        if nxt is None:
            return Eligibility(False, Refusal.NEVER_CALLABLE)
        return Eligibility(False, Refusal.OUTSIDE_CALLING_HOURS, nxt)
    return Eligibility(True)


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """The contact's new state after an attempt, to be written to ``project_contacts``."""

    state: ContactState
    attempts: int
    next_attempt_at: datetime | None
    last_result: str


def next_attempt_at(
    outcome: Outcome,
    attempts_done: int,
    now: datetime,
    rules: DialingRules,
    zones: Iterable[ZoneInfo] = (),
) -> datetime | None:
    """When to try again after ``outcome`` (``attempts_done`` includes this attempt); None = no retry.

    The retry interval is pushed forward into the contact's calling hours so
    the stored time is the real next chance (and the dialer's "due" query
    stays a plain index range).
    """
    if outcome is Outcome.ANSWERED or outcome is Outcome.CALLBACK or attempts_done >= rules.max_attempts:
        return None
    at = now.astimezone(UTC) + rules.retry_after(outcome)
    zs = tuple(zones)
    if zs:
        return rules.next_callable_time(at, zs) or at
    return at


def after_attempt(
    contact: ContactSnapshot,
    outcome: Outcome,
    now: datetime,
    rules: DialingRules,
    *,
    callback_at: datetime | None = None,
) -> ContactUpdate:
    """The pure transition of a contact after one finished attempt (R-PRJ-5, R-PRJ-8).

    A callback postponed by an operator is a promise to the customer: it is
    dialled at its time even past the attempts limit.
    """
    attempts = contact.attempts + 1
    if outcome is Outcome.ANSWERED:
        return ContactUpdate(ContactState.REACHED, attempts, None, outcome.value)
    if outcome is Outcome.CALLBACK:
        if callback_at is None:
            raise ProjectError("callback_at: a callback needs a time")
        return ContactUpdate(
            ContactState.WILL_CALL_AGAIN, attempts, callback_at.astimezone(UTC), outcome.value
        )
    zones = rules.zones_of(contact.phone_e164, contact.time_zone)
    at = next_attempt_at(outcome, attempts, now, rules, zones)
    if at is None:
        return ContactUpdate(ContactState.NOT_REACHED, attempts, None, outcome.value)
    return ContactUpdate(ContactState.WILL_CALL_AGAIN, attempts, at, outcome.value)


# --- Project settings JSON <-> rules ---

#: Settings keys a project may carry, with a one-line meaning (docs/projects.md lists them).
SETTINGS_KEYS: Mapping[str, str] = {
    "max_attempts": "attempts per contact (1..100)",
    "retry_minutes": "minutes before retrying, per outcome busy/no_answer/failed/abandoned/machine",
    "calling_hours": "windows in the contact's local time",
    "time_zone": "zone for contacts whose zone is unknown (default: projects.default_time_zone)",
    "wrap_up_s": "seconds of wrap-up after each call before the agent gets the next",
    "message": "recording played by the autoinformer / on abandon (PBX sound name)",
    "dtmf": "autoinformer: collect a DTMF digit",
    "amd": "run answering-machine detection",
    "robot_context": "dialog robot: dialplan context / AGI / bot the answered call goes to",
    "abandon_target_pct": "predictive pacing target abandonment rate in % (R-PACE-2; default 3, at most 5)",
    "max_channels": "ceiling of simultaneous calls",
    **DIAL_SETTINGS,  # where the calls go out (core/dialstring.py, issue 13)
}


def check_settings(settings: Mapping[str, Any], *, unknown_ok: bool = False) -> None:
    """Refuse unknown or malformed settings with the key's path (``settings.retry_minutes.busy: ...``).

    Keys starting with ``x_`` are free for integrations.  ``unknown_ok``: the daemon checks stored
    settings before dialing, and a key a newer version wrote (then rolled back) is no reason to stop.
    """
    unknown = [k for k in settings if k not in SETTINGS_KEYS and not str(k).startswith("x_")]
    if unknown and not unknown_ok:
        raise ProjectError(
            f"settings.{sorted(unknown)[0]}: unknown setting (known: {', '.join(sorted(SETTINGS_KEYS))})"
        )
    for key, low in (("wrap_up_s", 0), ("max_channels", 1)):  # 0 channels would read as "no limit"
        if key in settings:
            v = settings[key]
            if not isinstance(v, int) or isinstance(v, bool) or v < low or v > 86400:
                raise ProjectError(f"settings.{key}: must be an integer from {low} to 86400")
    for key in ("dtmf", "amd"):
        if key in settings and not isinstance(settings[key], bool):
            raise ProjectError(f"settings.{key}: must be true or false")
    for key in ("message", "robot_context"):
        if key in settings and not isinstance(settings[key], str):
            raise ProjectError(f"settings.{key}: must be text")
    if "abandon_target_pct" in settings:
        v = settings["abandon_target_pct"]
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v <= MAX_ABANDON_TARGET_PCT:
            raise ProjectError(
                "settings.abandon_target_pct: must be a number above 0 and at most "
                f"{MAX_ABANDON_TARGET_PCT:g} (the legal caps: 3% FTC and Ofcom, 5% CRTC)"
            )
    check_dial_settings(settings)
    rules_from_settings(settings)


def rules_from_settings(
    settings: Mapping[str, Any],
    *,
    caller_id: str | None = None,
    default_time_zone: str = "UTC",
    default_calling_hours: CallingHours = DEFAULT_CALLING_HOURS,
    default_max_attempts: int = 3,
) -> DialingRules:
    """A project's ``DialingRules``: its settings over the configured defaults; errors name the key."""
    max_attempts = settings.get("max_attempts", default_max_attempts)
    if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or not 1 <= max_attempts <= 100:
        raise ProjectError("settings.max_attempts: must be an integer from 1 to 100")
    retry = dict(DEFAULT_RETRY_MINUTES)
    given = settings.get("retry_minutes", {})
    if not isinstance(given, Mapping):
        raise ProjectError("settings.retry_minutes: must be a mapping outcome -> minutes")
    for key, minutes in given.items():
        try:
            outcome = Outcome(key)
        except ValueError:
            outcome = None
        if outcome not in RETRY_OUTCOMES:
            raise ProjectError(
                f"settings.retry_minutes.{key}: unknown outcome (one of {', '.join(RETRY_OUTCOMES)})"
            )
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 525600:
            raise ProjectError(f"settings.retry_minutes.{key}: must be whole minutes from 0 to 525600")
        assert outcome is not None
        retry[outcome] = minutes
    hours = (
        CallingHours.parse(settings["calling_hours"], "settings.calling_hours")
        if "calling_hours" in settings
        else default_calling_hours
    )
    tz_name = settings.get("time_zone", default_time_zone)
    if not isinstance(tz_name, str):
        raise ProjectError("settings.time_zone: must be an IANA zone name")
    zone(tz_name, "settings.time_zone")
    return DialingRules(
        max_attempts=max_attempts,
        retry_minutes=retry,
        calling_hours=hours,
        default_time_zone=tz_name,
        caller_id=caller_id,
    )
