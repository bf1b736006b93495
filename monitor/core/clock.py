"""The one clock of ntd-monitor, and its time format.

Every "now" in the application comes from `now()`. `--now ISO8601` (or `fix()`) pins it, so
simulations and the demo can step through days in seconds. Times are stored and printed as
ISO-8601 UTC strings with a trailing `Z`, to the second (`2026-11-28T18:31:44Z`): that form
sorts lexically in SQLite indexes.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import overload

_fixed: datetime | None = None


class TimeFormatError(ValueError):
    """A time string we cannot read."""


def now() -> datetime:
    """The current time (UTC, aware): the fixed time when one is set."""
    return _fixed if _fixed is not None else datetime.now(UTC).replace(microsecond=0)


def fix(when: datetime | str | None) -> None:
    """Pin the clock to `when` (None releases it)."""
    global _fixed
    _fixed = parse(when) if isinstance(when, str) else (to_utc(when) if when else None)


def is_fixed() -> bool:
    return _fixed is not None


def to_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise TimeFormatError(f"time without a zone: {when.isoformat()}")
    return when.astimezone(UTC)


def parse(text: str, *, assume_utc: bool = False) -> datetime:
    """Read an ISO-8601 time. Without a zone it is refused unless `assume_utc`."""
    raw = text.strip()
    if not raw:
        raise TimeFormatError("empty time")
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        when = datetime.fromisoformat(candidate)
    except ValueError:
        raise TimeFormatError(f"not an ISO-8601 time: {raw[:80]!r}") from None
    if when.tzinfo is None:
        if not assume_utc:
            raise TimeFormatError(f"time without a zone: {raw[:80]!r} (add Z or +01:00)")
        when = when.replace(tzinfo=UTC)
    try:
        return when.astimezone(UTC)
    except (OverflowError, ValueError):  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
        raise TimeFormatError(f"time out of range: {raw[:80]!r}") from None


@overload
def iso(when: datetime) -> str: ...
@overload
def iso(when: None) -> None: ...
@overload
def iso(when: datetime | None) -> str | None: ...


def iso(when: datetime | None) -> str | None:
    """`2026-11-28T18:31:44Z` (UTC, seconds), or None."""
    if when is None:
        return None
    w = to_utc(when)  # not strftime: its %Y gives "999", not "0999", for early years
    return f"{w.year:04d}-{w.month:02d}-{w.day:02d}T{w.hour:02d}:{w.minute:02d}:{w.second:02d}Z"


_last_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """`iso(now())`; the string is made once per second (a crawl stamps every image it sees)."""
    global _last_second
    if _fixed is not None:
        return iso(_fixed)  # type: ignore[return-value]
    second = int(time.time())
    if second != _last_second[0]:
        _last_second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _last_second[1]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str | int | float) -> timedelta:
    """`"30s"`, `"12h"`, `"5d"`, `"2w"` (or a number of seconds) as a timedelta."""
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = _DURATION.match(text)
    if not match:
        raise TimeFormatError(f"not a duration: {text!r} (use e.g. 30s, 12h, 5d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])
