"""Scenario files of the simulated world: hosters, their takedown habits, and world-wide shares.

A scenario is a small TOML or JSON file (see monitor/sim/scenarios/). It only describes; the
plan (which items exist and what happens to each, see plan.py) is derived from it by seed.

    name = "tiny"
    seed = 7
    start = "2026-01-05T00:00:00Z"
    days = 30                         # how long a demo runs
    report_window_days = 5            # items are reported over the first days
    reappear_share = 0.1              # of removed items
    reupload_share = 0.2              # of items; other_hoster_share of those go to another hoster
    [[hosters]]
    name = "Example Hosting"
    asn = 64500
    country = "NL"
    items = 10
    unknown = "404"                   # 404 | placeholder | soft404 (for paths that do not exist)
    delay = { dist = "lognormal", median_hours = 10, sigma = 1.0, never_share = 0.1 }
    after = { "404" = 0.6, placeholder = 0.4 }   # behaviour once removed (see plan.AFTER)
    noise = { "5xx" = 0.1 }           # share of items with noise while online (5xx | blocked)
    formats = { jpeg = 0.8, mp4 = 0.2 }   # mp4: a video item (monitor.sim.videos)
    ranges = true                     # false: its videos ignore Range requests (200, whole)

Video: `video_transforms` are the re-upload transforms of a video item (bitrate, resized,
trimmed, border), `video_reupload_share` the share of video items re-uploaded (default: the
`reupload_share`), `video_distractors` unrelated videos on the galleries of every hoster that
serves videos (they must never match anything).
"""

from __future__ import annotations

import ipaddress
import json
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.core import clock

AFTER = (
    "404",
    "410",
    "451",
    "placeholder",
    "redirect_front",
    "redirect_removed",
    "different_image",
    "html",
    "reset",
    "slow",
    "oversize",
    "bomb",
    "corrupt",
    "dns_gone",
)
NOISE = ("5xx", "blocked")
UNKNOWN = ("404", "placeholder", "soft404")
FORMATS = ("jpeg", "png", "webp", "gif", "mp4")
VIDEO_TRANSFORMS = ("bitrate", "resized", "trimmed", "border")
DISTS = ("lognormal", "fixed", "uniform")


class ScenarioError(ValueError):
    """A scenario file we cannot accept."""


@dataclass(frozen=True)
class Delay:
    """Hours from notice to removal: lognormal(median, sigma), fixed(median) or uniform(lo, hi)."""

    dist: str = "lognormal"
    median_hours: float = 24.0
    sigma: float = 1.0
    low_hours: float = 1.0
    high_hours: float = 72.0
    never_share: float = 0.0


@dataclass(frozen=True)
class Hoster:
    name: str
    asn: int
    ip: str
    as_name: str = ""
    country: str = "NL"
    prefix: str | None = None  # set for a reseller on another network's ASN
    ipv6: bool = False  # also served on [::1] (one hoster at most)
    abuse_email: str = ""
    webhook: bool = False
    items: int = 10
    galleries: int = 2
    unknown: str = "404"
    path_style: str = "files"  # files | dated | flat
    formats: dict[str, float] = field(default_factory=lambda: {"jpeg": 1.0})
    delay: Delay = Delay()
    after: dict[str, float] = field(default_factory=lambda: {"404": 1.0})
    noise: dict[str, float] = field(default_factory=dict)
    noise_rate: float = 0.3  # share of simulated hours a noisy item misbehaves
    ranges: bool = True  # its videos answer Range requests (206); False: always 200, whole

    @property
    def videos(self) -> bool:
        """Does this hoster serve video items?"""
        return self.formats.get("mp4", 0.0) > 0

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


@dataclass(frozen=True)
class Cdn:
    """A CDN / reverse proxy in front of some hosters: its own loopback address and prefix,
    ASN and AS name; `share` of the reported items of each hoster in `fronts` (all hosters when
    empty) are reached only through its edge, which forwards to the hoster (monitor.sim.world)."""

    name: str
    asn: int
    ip: str = "127.0.2.1"
    prefix: str = "127.0.2.0/24"
    as_name: str = ""
    country: str = "US"
    abuse_email: str = ""
    share: float = 0.3
    fronts: tuple[str, ...] = ()

    def fronting(self, hoster: str) -> bool:
        return not self.fronts or hoster in self.fronts


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    hosters: tuple[Hoster, ...]
    days: float = 30.0
    report_window_days: float = 7.0
    notice_delay_hours: tuple[float, float] = (0.0, 2.0)
    reappear_share: float = 0.0
    reappear_after_days: tuple[float, float] = (2.0, 14.0)
    reappear_stay_days: tuple[float, float] | None = None  # None: stays once back
    reupload_share: float = 0.0
    reupload_other_hoster_share: float = 0.5
    reupload_after_days: tuple[float, float] = (0.5, 20.0)
    transforms: tuple[str, ...] = ("reencode", "resize", "crop", "border", "mirror")
    video_transforms: tuple[str, ...] = VIDEO_TRANSFORMS  # of a video item's re-uploads
    video_distractors: int = 2  # unrelated videos on the galleries of each video hoster
    video_reupload_share: float | None = None  # of video items (None: reupload_share)
    baseline_share: float = 0.5  # reports that carry reference hashes in the CSV
    hash_list_share: float = 0.2  # items whose hashes go into the hash list CSV
    test_domain: str = "ntd-sim.test"
    cdn: Cdn | None = None  # [cdn]: a CDN in front of some hosters' items


def load(source: str | Path) -> Scenario:
    """A scenario from a .toml/.json file, or the name of a shipped one ("tiny", "default")."""
    path = Path(source)
    if not path.is_file() and re.fullmatch(r"[a-z0-9_-]+", str(source)):
        text = resources.files("monitor.sim").joinpath(f"scenarios/{source}.toml").read_text()
        return from_dict(tomllib.loads(text))
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    return from_dict(data)


def shipped(name: str) -> Path:
    """The path of a scenario that ships with the project."""
    return Path(str(resources.files("monitor.sim").joinpath(f"scenarios/{name}.toml")))


def _pair(value: Any, key: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ScenarioError(f"{key} must be a pair [low, high]")
    return (float(value[0]), float(value[1]))


def _shares(value: Any, allowed: tuple[str, ...], key: str) -> dict[str, float]:
    shares = {str(k): float(v) for k, v in dict(value).items()}
    bad = set(shares) - set(allowed)
    if bad:
        raise ScenarioError(f"{key}: unknown {sorted(bad)} (known: {', '.join(allowed)})")
    return shares


def _hoster(raw: dict[str, Any], index: int) -> Hoster:
    try:
        delay = Delay(**raw.get("delay", {}))
    except TypeError as exc:
        raise ScenarioError(f"hoster {raw.get('name')!r}: delay: {exc}") from None
    if delay.dist not in DISTS:
        raise ScenarioError(f"delay dist must be one of {DISTS}")
    unknown = str(raw.get("unknown", "404"))
    if unknown not in UNKNOWN:
        raise ScenarioError(f"unknown must be one of {UNKNOWN}")
    known = set(Hoster.__dataclass_fields__) - {"delay", "after", "noise", "formats", "unknown"}
    extra = set(raw) - known - {"delay", "after", "noise", "formats", "unknown"}
    if extra:
        raise ScenarioError(f"hoster {raw.get('name')!r}: unknown keys {sorted(extra)}")
    if "name" not in raw or "asn" not in raw:
        raise ScenarioError(f"hoster #{index + 1} needs name and asn")
    args = {k: raw[k] for k in known if k in raw}
    args.setdefault("ip", f"127.0.1.{index + 1}")
    args.setdefault("as_name", str(raw["name"]).upper().replace(" ", "-"))
    domain = re.sub(r"[^a-z0-9]+", "", str(raw["name"]).lower())
    args.setdefault("abuse_email", f"abuse@{domain}.example")
    if not str(args["ip"]).startswith("127."):
        raise ScenarioError(f"hoster {raw['name']!r}: ip must be a loopback address 127.x")
    return Hoster(
        **args,
        delay=delay,
        unknown=unknown,
        after=_shares(raw.get("after", {"404": 1}), AFTER, "after"),
        noise=_shares(raw.get("noise", {}), NOISE, "noise"),
        formats=_shares(raw.get("formats", {"jpeg": 1}), FORMATS, "formats"),
    )


def _cdn(raw: dict[str, Any], hosters: tuple[Hoster, ...]) -> Cdn:

    extra = set(raw) - set(Cdn.__dataclass_fields__)
    if extra:
        raise ScenarioError(f"cdn: unknown keys {sorted(extra)}")
    if "name" not in raw or "asn" not in raw:
        raise ScenarioError("cdn needs name and asn")
    args = dict(raw)
    args["fronts"] = tuple(str(n) for n in args.get("fronts", ()))
    args.setdefault("as_name", str(raw["name"]).upper().replace(" ", "-"))
    domain = re.sub(r"[^a-z0-9]+", "", str(raw["name"]).lower())
    args.setdefault("abuse_email", f"abuse@{domain}.example")
    cdn = Cdn(**args)
    if not cdn.ip.startswith("127.") or cdn.ip in {h.ip for h in hosters}:
        raise ScenarioError("cdn: ip must be a loopback address 127.x no hoster uses")
    try:
        inside = ipaddress.ip_address(cdn.ip) in ipaddress.ip_network(cdn.prefix)
    except ValueError as exc:
        raise ScenarioError(f"cdn: {exc}") from None
    if not inside or any(
        ipaddress.ip_address(h.ip) in ipaddress.ip_network(cdn.prefix) for h in hosters
    ):
        raise ScenarioError("cdn: prefix must hold its ip and no hoster's")
    if not 0.0 <= cdn.share <= 1.0:
        raise ScenarioError("cdn: share must be within [0, 1]")
    return cdn


def from_dict(data: dict[str, Any]) -> Scenario:
    """Build and check a Scenario from parsed TOML/JSON."""
    data = dict(data)
    raw_hosters = data.pop("hosters", None)
    if not raw_hosters:
        raise ScenarioError("a scenario needs at least one [[hosters]]")
    hosters = tuple(_hoster(h, i) for i, h in enumerate(raw_hosters))
    if len({h.ip for h in hosters}) != len(hosters):
        raise ScenarioError("hoster ips must differ")
    if sum(h.ipv6 for h in hosters) > 1:
        raise ScenarioError("at most one hoster can be on [::1]")
    for key in (
        "notice_delay_hours",
        "reappear_after_days",
        "reupload_after_days",
        "reappear_stay_days",
    ):
        if data.get(key) is not None:
            data[key] = _pair(data[key], key)
    if data.get("cdn") is not None:
        data["cdn"] = _cdn(dict(data["cdn"]), hosters)
    if "transforms" in data:
        data["transforms"] = tuple(data["transforms"])
    if "video_transforms" in data:
        data["video_transforms"] = tuple(str(t) for t in data["video_transforms"])
        bad = set(data["video_transforms"]) - set(VIDEO_TRANSFORMS)
        if bad or not data["video_transforms"]:
            raise ScenarioError(f"video_transforms: one or more of {', '.join(VIDEO_TRANSFORMS)}")
    known = set(Scenario.__dataclass_fields__)
    extra = set(data) - known
    if extra:
        raise ScenarioError(f"unknown scenario keys {sorted(extra)}")
    try:
        start = clock.parse(str(data.pop("start", "2026-01-05T00:00:00Z")))
    except clock.TimeFormatError as exc:
        raise ScenarioError(f"start: {exc}") from None
    return Scenario(
        name=str(data.pop("name", "scenario")),
        seed=int(data.pop("seed", 1)),
        start=start,
        hosters=hosters,
        **data,
    )
