"""What each configuration key accepts: its type, its range, its form (pure).

One rule per key of monitor.core.config (RULES). A rule turns the TOML value into the dataclass
value
or raises `Bad` with a short reason; monitor.core.config adds "[section] key: " in front. Rules
never
raise anything else, for any TOML-representable value (booleans are not numbers, NaN and
infinities are not durations, control characters are refused in every string).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from monitor.core import netguard
from monitor.core.clock import TimeFormatError, duration
from monitor.core.config_forms import (
    dns_name_problem,
    email_problem,
    env_name_problem,
    host_problem,
    key_prefix_problem,
    parse_nameserver,
    show,
)

DAY = 86400.0
YEAR = 366 * DAY


class Bad(ValueError):
    """A value a rule refuses; the message says what was expected."""


def _show(value: Any) -> str:
    return show(value)


def control_characters(text: str) -> bool:
    """Whether `text` holds a control, format, surrogate or line/paragraph separator."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text)


@dataclass(frozen=True)
class Flag:
    def __call__(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Bad(f"expected true or false, got {_show(value)}")
        return value


@dataclass(frozen=True)
class Integer:
    low: int
    high: int

    def __call__(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Bad(f"expected a whole number, got {_show(value)}")
        if not self.low <= value <= self.high:
            raise Bad(f"must be between {self.low} and {self.high}, got {value}")
        return value


@dataclass(frozen=True)
class Percent:
    """A share in percent, 0..100 (a whole or decimal number)."""

    def __call__(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"expected a percentage 0..100, got {_show(value)}")
        if not 0 <= value <= 100 or not math.isfinite(value):  # (ranged first: 10**400)
            raise Bad(f"must be between 0 and 100, got {_show(value)}")
        return float(value)


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Bad(f'expected a duration such as "30s" or "12h", got {_show(value)}')
    if isinstance(value, float) and not math.isfinite(value):
        raise Bad(f"expected a finite duration, got {_show(value)}")
    try:
        seconds = duration(value).total_seconds()
    except OverflowError:
        raise Bad(f"duration out of range: {_show(value)}") from None
    except (TimeFormatError, ValueError) as exc:
        raise Bad(str(exc)[:120]) from None
    if not math.isfinite(seconds):
        raise Bad(f"expected a finite duration, got {_show(value)}")
    return seconds


def _span(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class Duration:
    """A duration of more than zero (or exactly zero when `zero`), at least `minimum` seconds
    and at most `high` seconds."""

    high: float
    minimum: float = 0.0
    zero: bool = False

    def __call__(self, value: Any) -> timedelta:
        seconds = _seconds(value)
        if seconds == 0 and self.zero:
            return timedelta(0)
        if not (seconds > 0 and self.minimum <= seconds <= self.high):
            least = f"at least {_span(self.minimum)}" if self.minimum else "more than 0s"
            also = " (or 0s)" if self.zero else ""
            raise Bad(f"must be {least}{also} and at most {_span(self.high)}, got {_show(value)}")
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Text:
    """A string without control characters, of bounded length, optionally of a form."""

    max_len: int = 256
    empty: bool = True
    form: Callable[[str], str | None] | None = None  # returns a problem or None

    def __call__(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Bad(f"expected a string, got {_show(value)}")
        if control_characters(value):
            raise Bad("control characters (such as CR or LF) are not allowed")
        if not value and not self.empty:
            raise Bad("must not be empty")
        if len(value) > self.max_len:
            raise Bad(f"longer than {self.max_len} characters")
        if value and self.form is not None:
            problem = self.form(value)
            if problem:
                raise Bad(problem)
        return value


@dataclass(frozen=True)
class Many:
    """A list whose every element passes `each`; returned as a tuple."""

    each: Callable[[Any], Any]
    max_items: int = 1000
    nonempty: bool = False

    def __call__(self, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Bad(f"expected a list, got {_show(value)}")
        if self.nonempty and not value:
            raise Bad("must not be empty")
        if len(value) > self.max_items:
            raise Bad(f"more than {self.max_items} entries")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(self.each(item))
            except Bad as exc:
                raise Bad(f"entry {index + 1}: {exc}") from None
        return tuple(out)


@dataclass(frozen=True)
class Hours:
    """A positive, finite number of hours (at most ten years)."""

    def __call__(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Bad(f"expected a number of hours, got {_show(value)}")
        if not (math.isfinite(value) and 0 < value <= 10 * 8784):
            raise Bad(f"must be more than 0 and at most 87840 hours, got {_show(value)}")
        return float(value)


def _nameserver_problem(text: str) -> str | None:
    try:
        parse_nameserver(text)
    except ValueError as exc:
        return str(exc)
    return None


NETWORKS = Many(Text(max_len=64, empty=False, form=netguard.allow_network_problem), max_items=256)
NAMESERVERS = Many(Text(max_len=64, empty=False, form=_nameserver_problem), max_items=16)
OFFSETS = Many(Duration(high=10 * YEAR, minimum=1.0), max_items=200)
ZONE = Text(max_len=253, empty=False, form=dns_name_problem)

RULES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "crawl": {
        "user_agent": Text(max_len=512, empty=False),
        "allow_networks": NETWORKS,
        "check_deadline": Duration(high=3600.0),
        "concurrent_requests": Integer(1, 10_000),
        "per_hoster_concurrency": Integer(1, 1_000),
        "download_timeout": Duration(high=3600.0),
        "max_download_bytes": Integer(1024, 4 * 1024**3),
        "nameservers": NAMESERVERS,
        "hash_workers": Integer(0, 256),
        "autothrottle": Flag(),
        "match_process": Flag(),
        "video_prefix_bytes": Integer(64 * 1024, 4 * 1024**3),
    },
    "schedule": {
        "after_notice": OFFSETS,
        "while_online": Duration(high=YEAR, minimum=60.0),
        "after_takedown": OFFSETS,
    },
    "watch": {
        "interval": Duration(high=YEAR, minimum=60.0),
        "depth": Integer(0, 10),
        "max_pages": Integer(1, 1_000_000),
    },
    "takedown": {
        "confirm_checks": Integer(1, 100),
        "confirm_span": Duration(high=YEAR, zero=True),
        "unreachable_after": Duration(high=YEAR),
    },
    "asn": {
        "nameservers": NAMESERVERS,
        "origin_zone": ZONE,
        "origin6_zone": ZONE,
        "asname_zone": ZONE,
        "cache_ttl": Duration(high=YEAR, zero=True),
        "timeout": Duration(high=60.0),
        "concurrency": Integer(1, 1024),
        "routing_table": Text(max_len=4096),
    },
    "hashes": {
        "phash_threshold": Integer(0, 64),
        "pdq_threshold": Integer(0, 256),
        "vpdq_distance": Integer(0, 256),
        "vpdq_quality": Integer(0, 100),
        "vpdq_query_percent": Percent(),
        "vpdq_target_percent": Percent(),
    },
    "alerts": {
        "batch_window": Duration(high=7 * DAY, zero=True),
        "smtp_host": Text(max_len=253, empty=False, form=host_problem),
        "smtp_port": Integer(1, 65535),
        "smtp_starttls": Flag(),
        "smtp_user_env": Text(max_len=128, form=env_name_problem),
        "smtp_password_env": Text(max_len=128, form=env_name_problem),
        "from_address": Text(max_len=254, empty=False, form=email_problem),
        "max_attempts": Integer(1, 100),
        "per_hoster_per_hour": Integer(0, 100_000),  # 0: no hourly limit
    },
    "report": {
        "deadlines_hours": Many(Hours(), max_items=32, nonempty=True),
        "min_notices_for_rates": Integer(0, 1_000_000),
    },
    "distributed": {
        "key_prefix": Text(max_len=64, empty=False, form=key_prefix_problem),
        "lease": Duration(high=3600.0),
        "requeue_after": Duration(high=30 * DAY),
        "claim_idle": Duration(high=DAY),
        "ingest_batch": Integer(1, 100_000),
    },
}

# Keys that were renamed or removed: what to write instead.
REPLACED = {
    (
        "crawl",
        "allow_private_networks",
    ): "was replaced by allow_networks, an explicit list of the non-public networks to allow "
    '(e.g. allow_networks = ["127.0.0.0/8", "::1/128"] for a loopback test world; '
    "link-local can never be allowed)",
}


def fallback(default: Any) -> Callable[[Any], Any]:
    """A rule by the default's type, for a key without an entry in RULES."""
    if isinstance(default, bool):
        return Flag()
    if isinstance(default, int):
        return Integer(0, 2**31)
    if isinstance(default, float):
        return Hours()
    if isinstance(default, timedelta):
        return Duration(high=10 * YEAR, zero=True)
    if isinstance(default, tuple):
        return Many(Text())
    return Text()
