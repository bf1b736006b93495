"""The plan of a simulated world: every item, its script over time, and its truth.

`generate(scenario)` is pure and deterministic by the scenario's seed. An item serves its image
until `removal_at`, then behaves as `after` says (404, placeholder, reset, ...); it may come back
(`reappear_at` .. `reappear_until`). Re-uploads are items too (`of` names the original), with a
transform, on the same or another hoster, appearing at `appear_at`. `phase_at(item, t)` says
what an item does at simulated time `t`: "absent", "online" or its `after` behaviour.

Videos: an item whose format is `mp4` is a video (monitor.sim.videos); its re-uploads take the
scenario's `video_transforms` and stay MP4. `Plan.distractors` are unrelated videos on the
galleries of the hosters that serve videos: never reported, never a copy of anything.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.sim.images import EXTENSIONS
from monitor.sim.scenario import Hoster, Scenario

ONLINE = "online"
ABSENT = "absent"


@dataclass(frozen=True)
class Item:
    id: str
    hoster: str
    path: str
    fmt: str
    seed: int
    gallery: int
    removal_at: datetime | None = None
    after: str = "404"
    noise: str | None = None
    reported_at: datetime | None = None
    noticed_at: datetime | None = None
    reference: str | None = None
    reappear_at: datetime | None = None
    reappear_until: datetime | None = None
    hostname: str | None = None  # dns_gone items live on their own hostname
    v6: bool = False  # URL on [::1] (hoster with ipv6)
    with_baseline: bool = False  # the reports CSV carries its hashes
    in_hash_list: bool = False
    of: str | None = None  # re-upload: the original item's id
    transform: str | None = None
    appear_at: datetime | None = None
    cdn: str | None = None  # reached only through this CDN's edge (scenario.cdn)

    @property
    def is_reupload(self) -> bool:
        return self.of is not None

    @property
    def is_video(self) -> bool:
        return self.fmt == "mp4"


@dataclass(frozen=True)
class Plan:
    scenario: Scenario
    items: tuple[Item, ...]
    distractors: tuple[Item, ...] = ()  # unrelated videos on galleries (not in `items`)

    def by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items + self.distractors}

    def reports(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.is_reupload)

    def reuploads(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if i.is_reupload)

    def hoster(self, name: str) -> Hoster:
        return next(h for h in self.scenario.hosters if h.name == name)


def phase_at(item: Item, t: datetime) -> str:
    """What `item` does at time `t`: ABSENT, ONLINE, or its after-removal behaviour."""
    if item.appear_at is not None and t < item.appear_at:
        return ABSENT
    if item.removal_at is None or t < item.removal_at:
        return ONLINE
    if (
        item.reappear_at is not None
        and item.reappear_at <= t
        and (item.reappear_until is None or t < item.reappear_until)
    ):
        return ONLINE
    return item.after


def noise_hit(item: Item, t: datetime, rate: float) -> int | None:
    """While online, a noisy item misbehaves in some simulated hours: the status, or None."""
    if item.noise is None:
        return None
    hour = int(t.timestamp() // 3600)
    roll = zlib.crc32(f"{item.seed}:{hour}".encode())
    if (roll & 0xFFFF) / 0x10000 >= rate:
        return None
    codes = (500, 502, 503, 504) if item.noise == "5xx" else (401, 403, 429)
    return codes[(roll >> 16) % len(codes)]


def _pick(rnd: random.Random, shares: dict[str, float]) -> str:
    names = sorted(shares)
    return rnd.choices(names, weights=[shares[n] for n in names])[0]


def _delay_hours(rnd: random.Random, hoster: Hoster) -> float | None:
    d = hoster.delay
    if rnd.random() < d.never_share:
        return None
    if d.dist == "fixed":
        return d.median_hours
    if d.dist == "uniform":
        return rnd.uniform(d.low_hours, d.high_hours)
    return math.exp(rnd.gauss(math.log(d.median_hours), d.sigma))


def allocate(shares: dict[str, float], n: int, rnd: random.Random) -> list[str | None]:
    """`n` labels in proportion to `shares` (largest remainder), shuffled; shares summing to
    less than 1 leave the rest None."""
    total = max(sum(shares.values()), 1.0)
    want = {k: n * v / total for k, v in shares.items()}
    counts = {k: int(v) for k, v in want.items()}
    for k in sorted(want, key=lambda k: (counts[k] - want[k], k))[
        : round(sum(want.values())) - sum(counts.values())
    ]:
        counts[k] += 1
    labels: list[str | None] = [k for k in sorted(counts) for _ in range(counts[k])]
    labels += [None] * (n - len(labels))
    rnd.shuffle(labels)
    return labels


def _path(rnd: random.Random, hoster: Hoster, index: int, ext: str, t: datetime) -> str:
    token = f"{rnd.getrandbits(40):010x}"
    if hoster.path_style == "dated":
        return f"/uploads/{t:%Y/%m}/{token}.{ext}"
    if hoster.path_style == "flat":
        return f"/{token}.{ext}"
    return f"/files/{token}/{'video' if ext == 'mp4' else 'image'}{index}.{ext}"


def _within(rnd: random.Random, start: datetime, days: tuple[float, float]) -> datetime:
    return start + timedelta(days=rnd.uniform(*days))


def _item(scn: Scenario, hoster: Hoster, index: int, after: str, noise: str | None) -> Item:
    rnd = random.Random(f"{scn.seed}:{hoster.name}:{index}")
    fmt = _pick(rnd, hoster.formats)
    reported = scn.start + timedelta(hours=rnd.uniform(0, scn.report_window_days * 24))
    reported = reported.replace(microsecond=0)
    noticed = (reported + timedelta(hours=rnd.uniform(*scn.notice_delay_hours))).replace(
        microsecond=0
    )
    hours = _delay_hours(rnd, hoster)
    removal = None if hours is None else (noticed + timedelta(hours=hours)).replace(microsecond=0)
    reappear_at = reappear_until = None
    if removal is not None and after != "dns_gone" and rnd.random() < scn.reappear_share:
        reappear_at = _within(rnd, removal, scn.reappear_after_days).replace(microsecond=0)
        if scn.reappear_stay_days is not None:
            reappear_until = _within(rnd, reappear_at, scn.reappear_stay_days).replace(
                microsecond=0
            )
    item_id = f"{hoster.slug}-{index:04d}"
    hostname = f"{item_id}.{hoster.slug}.{scn.test_domain}" if after == "dns_gone" else None
    return Item(
        id=item_id,
        hoster=hoster.name,
        path=_path(rnd, hoster, index, EXTENSIONS[fmt], reported),
        fmt=fmt,
        seed=zlib.crc32(f"{scn.seed}:{item_id}".encode()),
        gallery=index % max(1, hoster.galleries),
        removal_at=removal,
        after=after,
        noise=noise,
        reported_at=reported,
        noticed_at=noticed,
        reference=f"CASE-{scn.seed}-{item_id}",
        reappear_at=reappear_at,
        reappear_until=reappear_until,
        hostname=hostname,
        v6=hoster.ipv6 and index % 2 == 1,
        with_baseline=rnd.random() < scn.baseline_share,
        in_hash_list=rnd.random() < scn.hash_list_share,
    )


def _reupload(scn: Scenario, original: Item, hosters: tuple[Hoster, ...], n: int) -> Item:
    rnd = random.Random(f"{scn.seed}:reupload:{original.id}")
    home = next(h for h in hosters if h.name == original.hoster)
    others = [h for h in hosters if h.name != original.hoster]
    target = home
    if others and rnd.random() < scn.reupload_other_hoster_share:
        target = rnd.choice(others)
    if original.is_video:  # a video's copies are videos (the image draws stay as they were)
        kind, fmt = rnd.choice(scn.video_transforms), "mp4"
    else:
        kind = rnd.choice(scn.transforms)
        stills = {k: v for k, v in target.formats.items() if k != "mp4"} or {"jpeg": 1.0}
        fmt = "jpeg" if kind == "reencode" else _pick(rnd, stills)
    base = original.removal_at or original.noticed_at or scn.start
    appear = _within(rnd, base, scn.reupload_after_days).replace(microsecond=0)
    token = f"{rnd.getrandbits(40):010x}"
    return Item(
        id=f"{original.id}-r{n}",
        hoster=target.name,
        path=f"/re/{token}/copy.{EXTENSIONS[fmt]}",
        fmt=fmt,
        seed=original.seed,
        gallery=rnd.randrange(max(1, target.galleries)),
        of=original.id,
        transform=kind,
        appear_at=appear,
        v6=False,
    )


def generate(scn: Scenario) -> Plan:
    """Every item of the scenario, deterministic by its seed."""
    items = []
    for h in scn.hosters:
        rnd = random.Random(f"{scn.seed}:{h.name}:allocate")
        afters = allocate(h.after, h.items, rnd)
        noises = allocate(h.noise, h.items, rnd)
        items += [_item(scn, h, i, afters[i] or "404", noises[i]) for i in range(h.items)]
    rnd = random.Random(f"{scn.seed}:reuploads")
    share = scn.reupload_share
    video_share = share if scn.video_reupload_share is None else scn.video_reupload_share
    chosen = [it for it in items if rnd.random() < (video_share if it.is_video else share)]
    items += [_reupload(scn, it, scn.hosters, 1) for it in chosen]
    distractors = tuple(
        _distractor(scn, h, k)
        for h in scn.hosters
        if h.videos
        for k in range(scn.video_distractors)
    )
    return Plan(
        scenario=scn, items=tuple(_fronted(scn, it) for it in items), distractors=distractors
    )


def _distractor(scn: Scenario, hoster: Hoster, k: int) -> Item:
    """Unrelated video `k` on `hoster`'s galleries, online all the time."""
    item_id = f"{hoster.slug}-d{k}"
    rnd = random.Random(f"{scn.seed}:distractor:{item_id}")
    return Item(
        id=item_id,
        hoster=hoster.name,
        path=f"/v/{rnd.getrandbits(40):010x}/clip{k}.mp4",
        fmt="mp4",
        seed=zlib.crc32(f"{scn.seed}:distractor:{item_id}".encode()),
        gallery=k % max(1, hoster.galleries),
    )


def _fronted(scn: Scenario, item: Item) -> Item:
    """`item` behind the scenario's CDN when it is one of the CDN's share of a fronted hoster's
    reported items (by a hash of its id: the rest of the plan does not move)."""
    cdn = scn.cdn
    if cdn is None or item.is_reupload or item.hostname or item.v6 or not cdn.fronting(item.hoster):
        return item
    if zlib.crc32(f"{scn.seed}:cdn:{item.id}".encode()) / 2**32 >= cdn.share:
        return item
    return replace(item, cdn=cdn.name)
