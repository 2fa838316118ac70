"""Dialing rules with a fake clock: calling hours per contact time zone across DST, retries, DNC (R-PRJ-8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ccagent.core.dialing_rules import (
    CallingHours,
    ContactSnapshot,
    DialingRules,
    Outcome,
    Refusal,
    after_attempt,
    check_settings,
    contact_zones,
    eligible,
    rules_from_settings,
)
from ccagent.core.projects import ContactState, ProjectError

NY_PHONE = "+12125551234"  # America/New_York
KYIV_PHONE = "+380501234567"  # Europe/Kyiv
RU_MOBILE = "+79161234567"  # phonenumbers: 16 zones from Kaliningrad-ish to Kamchatka
NY, KYIV = ZoneInfo("America/New_York"), ZoneInfo("Europe/Kyiv")

RULES = DialingRules(calling_hours=CallingHours.parse("09:00-20:00"), default_time_zone="Europe/Kyiv")


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def c(phone: str, **kw: object) -> ContactSnapshot:
    return ContactSnapshot(phone, kw.pop("state", ContactState.NOT_CALLED), **kw)  # type: ignore[arg-type]


def test_R_PRJ_8_same_instant_open_in_kyiv_closed_in_new_york() -> None:
    now = utc(2024, 5, 1, 10, 0)  # 13:00 in Kyiv, 06:00 in New York
    assert eligible(c(KYIV_PHONE), now, RULES)
    refusal = eligible(c(NY_PHONE), now, RULES)
    assert refusal.reason is Refusal.OUTSIDE_CALLING_HOURS
    assert refusal.not_before == utc(2024, 5, 1, 13, 0)  # 09:00 EDT


def test_R_PRJ_8_us_spring_forward_moves_the_window_by_an_hour_in_utc() -> None:
    # 13:30 UTC: Saturday 08:30 EST (closed), Sunday after the jump 09:30 EDT (open).
    assert not eligible(c(NY_PHONE), utc(2024, 3, 9, 13, 30), RULES)
    assert eligible(c(NY_PHONE), utc(2024, 3, 10, 13, 30), RULES)
    # Closing time follows local time too: 20:00 EDT = 00:00 UTC.
    assert eligible(c(NY_PHONE), utc(2024, 3, 10, 23, 59), RULES)
    assert not eligible(c(NY_PHONE), utc(2024, 3, 11, 0, 0), RULES)


def test_R_PRJ_8_kyiv_fall_back_judges_the_wall_clock() -> None:
    # 2024-10-27 04:00 EEST -> 03:00 EET.  19:30 local = 17:30 UTC, 20:00 local = 18:00 UTC after the change.
    assert eligible(c(KYIV_PHONE), utc(2024, 10, 27, 17, 59), RULES)
    assert not eligible(c(KYIV_PHONE), utc(2024, 10, 27, 18, 0), RULES)
    # the day before, still summer time: 20:00 local was 17:00 UTC
    assert not eligible(c(KYIV_PHONE), utc(2024, 10, 26, 17, 0), RULES)


def test_R_PRJ_8_window_starting_inside_a_skipped_hour_opens_at_the_transition() -> None:
    hours = CallingHours.parse("03:30-20:00")
    # Kyiv, 2024-03-31: 03:00 EET jumps to 04:00 EEST (01:00 UTC); 03:30 never happens.
    at = hours.next_open(utc(2024, 3, 30, 21, 0), KYIV)
    assert at == utc(2024, 3, 31, 1, 0)
    assert at is not None and at.astimezone(KYIV).hour == 4


def test_R_PRJ_8_repeated_hour_window_opens_at_first_occurrence() -> None:
    hours = CallingHours.parse("01:30-20:00")
    # New York 2024-11-03: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert hours.next_open(utc(2024, 11, 3, 5, 0), NY) == utc(2024, 11, 3, 5, 30)


def test_R_PRJ_8_weekday_windows() -> None:
    rules = DialingRules(
        calling_hours=CallingHours.parse(
            [
                {"days": "mon-fri", "from": "09:00", "to": "18:00"},
                {"days": "sat", "from": "10:00", "to": "14:00"},
            ]
        ),
        default_time_zone="Europe/Kyiv",
    )
    sat_noon = utc(2024, 5, 4, 9, 0)  # Saturday 12:00 Kyiv
    assert eligible(c(KYIV_PHONE), sat_noon, rules)
    sat_late = utc(2024, 5, 4, 12, 0)  # Saturday 15:00 -> next is Monday 09:00 Kyiv
    assert eligible(c(KYIV_PHONE), sat_late, rules).not_before == utc(2024, 5, 6, 6, 0)


def test_R_PRJ_8_explicit_time_zone_column_wins_over_the_number() -> None:
    now = utc(2024, 5, 1, 10, 0)
    assert not eligible(c(KYIV_PHONE, time_zone="America/New_York"), now, RULES)
    assert eligible(c(NY_PHONE, time_zone="Europe/Kyiv"), now, RULES)


def test_R_PRJ_8_many_zone_number_uses_the_default_zone_when_it_is_a_candidate() -> None:
    assert contact_zones(RU_MOBILE, None, "Europe/Moscow") == (ZoneInfo("Europe/Moscow"),)
    # Default not among them: every candidate zone (UTC+3 .. UTC+12 in May) must be inside its hours.
    # 09:00-20:00 everywhere overlaps only 06:00-08:00 UTC (09:00 Bucharest .. 20:00 Kamchatka).
    refusal = eligible(c(RU_MOBILE), utc(2024, 5, 1, 10, 0), RULES)
    assert refusal.not_before == utc(2024, 5, 2, 6, 0)
    assert eligible(c(RU_MOBILE), utc(2024, 5, 2, 7, 59), RULES)
    assert not eligible(c(RU_MOBILE), utc(2024, 5, 2, 8, 0), RULES)
    narrow = DialingRules(calling_hours=CallingHours.parse("10:00-18:00"), default_time_zone="Europe/Kyiv")
    assert eligible(c(RU_MOBILE), utc(2024, 5, 1, 10, 0), narrow).reason is Refusal.NEVER_CALLABLE


def test_R_PRJ_8_unknown_zone_falls_back_to_default() -> None:
    assert contact_zones("+15555555555", None, "Europe/Kyiv") == (KYIV,)
    # a stored zone that does not read (a region is a directory of the zone database) falls back
    # to the number, like an unknown one, instead of raising IsADirectoryError into the dialer
    for stored in ("Europe", "Mars/Base"):
        assert contact_zones(KYIV_PHONE, stored, "America/New_York") == (KYIV,)


def test_R_PRJ_8_dnc_stops_the_next_attempt() -> None:
    contact = c(KYIV_PHONE, state=ContactState.WILL_CALL_AGAIN, attempts=1)
    now = utc(2024, 5, 1, 10, 0)
    assert eligible(contact, now, RULES, dnc=set())
    assert eligible(contact, now, RULES, dnc={KYIV_PHONE}).reason is Refusal.DNC


@pytest.mark.parametrize(
    ("outcome", "minutes"),
    [
        (Outcome.BUSY, 5),
        (Outcome.NO_ANSWER, 30),
        (Outcome.FAILED, 7),
        (Outcome.ABANDONED, 2),
        (Outcome.MACHINE, 90),
    ],
)
def test_R_PRJ_8_retry_interval_per_outcome(outcome: Outcome, minutes: int) -> None:
    rules = rules_from_settings(
        {
            "calling_hours": "00:00-24:00",
            "retry_minutes": {"busy": 5, "no_answer": 30, "failed": 7, "abandoned": 2, "machine": 90},
        },
        default_time_zone="Europe/Kyiv",
    )
    now = utc(2024, 5, 1, 10, 0)
    upd = after_attempt(c(KYIV_PHONE), outcome, now, rules)
    assert (upd.state, upd.attempts, upd.last_result) == (ContactState.WILL_CALL_AGAIN, 1, outcome.value)
    assert upd.next_attempt_at == now + timedelta(minutes=minutes)
    pending = c(KYIV_PHONE, state=upd.state, attempts=1, next_attempt_at=upd.next_attempt_at)
    assert eligible(pending, now + timedelta(minutes=minutes - 1), rules).reason is Refusal.RETRY_PENDING
    assert eligible(pending, now + timedelta(minutes=minutes), rules)


def test_R_PRJ_8_retry_is_pushed_into_the_contacts_calling_hours() -> None:
    now = utc(2024, 5, 1, 16, 30)  # 19:30 Kyiv; busy retry in 60 min would be 20:30 -> next day 09:00 Kyiv
    rules = rules_from_settings({"retry_minutes": {"busy": 60}, "calling_hours": "09:00-20:00"})
    upd = after_attempt(c(KYIV_PHONE), Outcome.BUSY, now, rules)
    assert upd.next_attempt_at == utc(2024, 5, 2, 6, 0)


def test_R_PRJ_8_attempts_limit_makes_the_contact_not_reached() -> None:
    rules = rules_from_settings({"max_attempts": 2})
    now = utc(2024, 5, 1, 10, 0)
    first = after_attempt(c(KYIV_PHONE), Outcome.NO_ANSWER, now, rules)
    second = after_attempt(
        c(KYIV_PHONE, state=first.state, attempts=first.attempts), Outcome.BUSY, now, rules
    )
    assert (second.state, second.attempts, second.next_attempt_at) == (ContactState.NOT_REACHED, 2, None)
    exhausted = c(KYIV_PHONE, state=ContactState.WILL_CALL_AGAIN, attempts=2)
    assert eligible(exhausted, now, rules).reason is Refusal.ATTEMPTS_EXHAUSTED


def test_R_PRJ_5_answered_is_reached_and_final() -> None:
    upd = after_attempt(c(KYIV_PHONE), Outcome.ANSWERED, utc(2024, 5, 1, 10), RULES)
    assert upd.state is ContactState.REACHED
    assert eligible(c(KYIV_PHONE, state=upd.state), utc(2024, 5, 1, 10), RULES).reason is Refusal.FINAL


def test_R_PRJ_5_callback_is_will_call_again_even_past_the_limit() -> None:
    rules = rules_from_settings({"max_attempts": 1, "calling_hours": "00:00-24:00"})
    at = utc(2024, 5, 2, 12, 0)
    upd = after_attempt(c(KYIV_PHONE), Outcome.CALLBACK, utc(2024, 5, 1, 10), rules, callback_at=at)
    assert (upd.state, upd.next_attempt_at) == (ContactState.WILL_CALL_AGAIN, at)
    snap = c(KYIV_PHONE, state=upd.state, attempts=1, next_attempt_at=at, last_result=upd.last_result)
    assert eligible(snap, at, rules)
    with pytest.raises(ProjectError, match="callback_at"):
        after_attempt(c(KYIV_PHONE), Outcome.CALLBACK, at, rules)


def test_R_PRJ_8_caller_id_per_project() -> None:
    rules = DialingRules(caller_id="+380441110000")
    assert rules.caller_id_for("+380442220000") == "+380442220000"
    assert rules.caller_id_for(None) == "+380441110000"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_attempts": 0}, "settings.max_attempts"),
        ({"retry_minutes": {"busy": -1}}, "settings.retry_minutes.busy"),
        ({"retry_minutes": {"answered": 5}}, "settings.retry_minutes.answered: unknown outcome"),
        ({"calling_hours": "20:00-09:00"}, "settings.calling_hours: 'to' must be after"),
        ({"calling_hours": [{"days": "mon-xyz", "from": "09:00", "to": "10:00"}]}, "calling_hours[0].days"),
        ({"calling_hours": "9h-10h"}, "settings.calling_hours.from"),
        ({"time_zone": "Mars/Olympus"}, "settings.time_zone: unknown time zone"),
        ({"time_zone": "Europe"}, "settings.time_zone: unknown time zone 'Europe'"),  # a directory
        ({"colour": "red"}, "settings.colour: unknown setting"),
        ({"wrap_up_s": "ten"}, "settings.wrap_up_s"),
        ({"amd": "yes"}, "settings.amd"),
        ({"abandon_target_pct": 6}, "settings.abandon_target_pct: .*at most 5 .*3% FTC"),
        ({"abandon_target_pct": 100}, "settings.abandon_target_pct"),
        ({"abandon_target_pct": 0}, "settings.abandon_target_pct"),
        ({"max_channels": 0}, "settings.max_channels: must be an integer from 1"),
        ({"calling_hours": []}, "settings.calling_hours: needs at least one window"),
    ],
)
def test_R_PRJ_8_bad_settings_name_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ProjectError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_settings(settings)


def test_R_PACE_2_a_stricter_or_a_canadian_abandon_target_is_accepted() -> None:
    for pct in (0.5, 3, 5):
        check_settings({"abandon_target_pct": pct})


def test_R_PRJ_8_calling_hours_round_trip() -> None:
    hours = CallingHours.parse([{"days": "mon-fri", "from": "09:00", "to": "24:00"}])
    assert CallingHours.parse(hours.to_json()) == hours
