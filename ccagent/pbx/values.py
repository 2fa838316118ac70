"""Sanity bounds for the numbers a PBX sends, shared by the AMI and ESL translators (R-SAFE-1).

A header is text; ``float("nan")``, ``int("99999999999999999999")`` and a microsecond count a
thousand years ahead all parse.  Such a value reached the store, which could not turn it into a
row (``datetime.fromtimestamp`` and sqlite3's 64-bit integers refuse them), and a call that can
never be written is worse than one value dropped: the translators keep the event and replace
only the absurd number.
"""

from __future__ import annotations

import math

# 9999-12-31T23:59:59Z: the last second a datetime (and so the store) can hold.
MAX_EPOCH_S = 253_402_300_799.0
# Q.850 causes are 0..127; FreeSWITCH adds its own above them (487 ORIGINATOR_CANCEL ... 701
# SYSTEM_SHUTDOWN).  Anything past 999 is not a cause.
MAX_CAUSE = 999


def epoch_seconds(value: float | None) -> float | None:
    """``value`` if it is a time the store can hold (finite, after 1970, before year 10000)."""
    if value is None or not math.isfinite(value) or not 0.0 < value <= MAX_EPOCH_S:
        return None
    return value


def hangup_cause(value: int) -> int:
    """A hangup cause as stored: its number, 0 (unknown) when no PBX would send it."""
    return value if 0 <= value <= MAX_CAUSE else 0
