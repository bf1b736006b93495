"""Configuration: the TOML file of DESIGN.md, read into frozen dataclasses with its defaults.

Every key is optional. Unknown sections or keys are refused with a clear message (a typo in a
deadline must not silently fall back to a default). Durations are strings such as "12h". Every
value is checked against its key's rule (monitor.core.config_rules: type, range, form; no control
characters in any string) and files the config names must exist, so a bad config stops before
any work. Loading raises nothing but ConfigError, whose message starts "[section] key: ".
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.core.clock import duration
from monitor.core.config_rules import REPLACED, RULES, Bad, fallback


class ConfigError(ValueError):
    """The configuration file is unreadable or has a bad value."""


@dataclass(frozen=True)
class CrawlConfig:
    user_agent: str = "ntd-monitor (+https://example.org/contact)"
    allow_networks: tuple[str, ...] = ()  # non-public networks to allow (tests, demo, bench)
    concurrent_requests: int = 64
    per_hoster_concurrency: int = 4
    download_timeout: timedelta = timedelta(seconds=30)
    max_download_bytes: int = 20 * 1024 * 1024
    nameservers: tuple[str, ...] = ()  # resolver for crawl targets ("host:port"); empty: system
    hash_workers: int = 1  # processes hashing fetched bytes (0: in the crawl loop)
    autothrottle: bool = True  # back off hosters that slow down (off: loopback worlds)
    match_process: bool = True  # match seen images in a child process holding the index
    check_deadline: timedelta = timedelta(seconds=60)  # one check, redirects and retries included
    video_prefix_bytes: int = 4 * 1024 * 1024  # a video is judged from its first bytes (range)


@dataclass(frozen=True)
class ScheduleConfig:
    after_notice: tuple[timedelta, ...] = tuple(
        duration(d)
        for d in [
            "1h",
            "2h",
            "4h",
            "8h",
            "12h",
            "18h",
            "24h",
            "36h",
            "48h",
            "72h",
            "5d",
            "7d",
            "14d",
            "30d",
        ]
    )
    while_online: timedelta = timedelta(hours=24)
    after_takedown: tuple[timedelta, ...] = tuple(duration(d) for d in ["7d", "30d", "90d"])


@dataclass(frozen=True)
class WatchConfig:
    interval: timedelta = timedelta(hours=24)
    depth: int = 1
    max_pages: int = 200


@dataclass(frozen=True)
class TakedownConfig:
    confirm_checks: int = 2
    confirm_span: timedelta = timedelta(hours=1)
    unreachable_after: timedelta = timedelta(hours=48)


@dataclass(frozen=True)
class AsnConfig:
    nameservers: tuple[str, ...] = ()
    origin_zone: str = "origin.asn.cymru.com"
    origin6_zone: str = "origin6.asn.cymru.com"
    asname_zone: str = "asn.cymru.com"
    cache_ttl: timedelta = timedelta(hours=24)
    timeout: timedelta = timedelta(seconds=3)
    concurrency: int = 32
    routing_table: str = ""  # offline backend: a "prefix asn" file; empty: Cymru DNS


@dataclass(frozen=True)
class HashesConfig:
    phash_threshold: int = 10
    pdq_threshold: int = 31
    # vPDQ (hashes.vpdq_match): frames match within vpdq_distance bits; frames below
    # vpdq_quality are left out; a video matches when this share of the fetched video's
    # unique frames is found in the reference (and vpdq_target_percent of the reference's).
    vpdq_distance: int = 31
    vpdq_quality: int = 50
    vpdq_query_percent: float = 80.0
    vpdq_target_percent: float = 0.0


@dataclass(frozen=True)
class AlertsConfig:
    batch_window: timedelta = timedelta(hours=1)
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user_env: str = ""
    smtp_password_env: str = ""
    from_address: str = "alerts@hotline.example"
    max_attempts: int = 5
    per_hoster_per_hour: int = 10


@dataclass(frozen=True)
class ReportConfig:
    deadlines_hours: tuple[float, ...] = (1, 12, 24, 48)
    min_notices_for_rates: int = 10


@dataclass(frozen=True)
class DistributedConfig:
    key_prefix: str = "ntd"  # every Redis key starts with this
    lease: timedelta = timedelta(seconds=30)  # a worker's hold on a hoster's queue
    requeue_after: timedelta = timedelta(hours=1)  # sent, not stored yet: send again
    claim_idle: timedelta = timedelta(seconds=60)  # entries a dead writer left unacked
    ingest_batch: int = 500  # rows per SQLite transaction in `ingest`


@dataclass(frozen=True)
class Config:
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    takedown: TakedownConfig = field(default_factory=TakedownConfig)
    asn: AsnConfig = field(default_factory=AsnConfig)
    hashes: HashesConfig = field(default_factory=HashesConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)


def _coerce(section: str, name: str, default: Any, value: Any) -> Any:
    rule = RULES.get(section, {}).get(name) or fallback(default)
    try:
        return rule(value)
    except Bad as exc:
        raise ConfigError(f"[{section}] {name}: {exc}") from None


def from_dict(data: Any) -> Config:
    """The Config of parsed TOML `data`; ConfigError (and nothing else) for any bad value."""
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a table of sections")
    config = Config()
    known = {f.name for f in fields(Config)}
    for section, values in data.items():
        if section not in known:
            raise ConfigError(
                f"unknown section [{str(section)[:60]}] (known: {', '.join(sorted(known))})"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table")
        current = getattr(config, section)
        names = {f.name: getattr(current, f.name) for f in fields(current)}
        changes = {}
        for key, value in values.items():
            if (section, key) in REPLACED:
                raise ConfigError(f"[{section}] {key}: {REPLACED[section, key]}")
            if key not in names:
                raise ConfigError(
                    f"unknown key {str(key)[:60]!r} in [{section}] "
                    f"(known: {', '.join(sorted(names))})"
                )
            changes[key] = _coerce(section, key, names[key], value)
        config = replace(config, **{section: replace(current, **changes)})
    return config


def check_files(config: Config) -> None:
    """Files the config names must exist now, not when the crawl needs them."""
    table = config.asn.routing_table
    if table and not Path(table).is_file():
        raise ConfigError(f"[asn] routing_table: file not found: {table}")


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config file: `path`, else $NTD_CONFIG, else ./ntd-monitor.toml if present."""
    explicit = path or os.environ.get("NTD_CONFIG")
    candidate = Path(explicit) if explicit else Path("ntd-monitor.toml")
    if not candidate.exists():
        if explicit:
            raise ConfigError(f"config file not found: {candidate}")
        return Config()
    try:
        data = tomllib.loads(candidate.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{candidate}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{candidate}: cannot read: {exc.strerror or exc}") from None
    config = from_dict(data)
    check_files(config)
    return config
