"""Ground truth of a simulated world, and the import files a hotline would have for it.

`build(world)` is the truth as JSON-ready data: per item its URL, hoster, ASN, notice and true
removal time, behaviour, reappearance and re-uploads; per hoster the true median hours to
removal (never-removed items count as infinitely late; null when the median is infinite) and
the share removed within 12 and 24 hours. `write(world, directory)` writes truth.json plus
reports.csv, hosters.csv and hashes.csv in the formats of DESIGN.md.

Videos: items and re-uploads carry `kind` ("image" or "video"); `videos` lists the reported
video items, the video re-uploads (which report each copies, its transform, hoster and URL)
and the distractors (unrelated videos on galleries). A video report with a baseline has its
`sha256` and, in the last column `vpdq`, the dense vPDQ signature of the original
(`seconds_per_hash=VIDEO_BASELINE_SPH`, text form hashes.video_text.to_text); a video in the
hash list is one `vpdq` row.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import statistics
from pathlib import Path
from typing import Any, Protocol

import imagehash
from PIL import Image

from monitor.core import clock
from monitor.sim.plan import Item, Plan
from monitor.sim.scenario import Hoster, Scenario

VIDEO_BASELINE_SPH = 0.25  # a reported video's baseline: 4 frame hashes a second


class World(Protocol):
    """What the truth reads of a simulated world (monitor.sim.world.World), named here so that
    the world can serve its truth without an import cycle."""

    plan: Plan
    scenario: Scenario
    port: int
    ipv6: bool

    def url(self, item: Item | str) -> str: ...

    def front_url(self, hoster: str) -> str: ...

    def gallery_urls(self, hoster: str) -> list[str]: ...

    def body(self, item: Item, variant: str = "image") -> bytes: ...


def removal_hours(item: Item) -> float | None:
    if item.removal_at is None or item.noticed_at is None:
        return None
    return (item.removal_at - item.noticed_at).total_seconds() / 3600


def hoster_stats(plan: Plan, hoster: Hoster) -> dict[str, Any]:
    """True takedown figures of one hoster over its reported items."""
    mine = [i for i in plan.reports() if i.hoster == hoster.name]
    hours = [removal_hours(i) for i in mine]
    finite = [h for h in hours if h is not None]
    keyed = [h if h is not None else float("inf") for h in hours]
    median = statistics.median(keyed) if keyed else None
    n = len(mine)
    return {
        "items": n,
        "removed": len(finite),
        "never_removed": n - len(finite),
        "median_hours": round(median, 3) if median is not None and median != float("inf") else None,
        "within_12h": round(sum(h <= 12 for h in finite) / n, 4) if n else None,
        "within_24h": round(sum(h <= 24 for h in finite) / n, 4) if n else None,
        "reappearances": sum(i.reappear_at is not None for i in mine),
        "reuploads": sum(i.is_reupload and i.hoster == hoster.name for i in plan.items),
    }


def build(world: World) -> dict[str, Any]:
    """The whole truth of `world` (URLs use its current port)."""
    plan, scn = world.plan, world.scenario
    hosters = {h.name: h for h in scn.hosters}
    ids = plan.by_id()
    reuploads: dict[str, list[Item]] = {}
    for r in plan.reuploads():
        reuploads.setdefault(r.of or "", []).append(r)

    def reupload_row(r: Item) -> dict[str, Any]:
        return {
            "id": r.id,
            "of": r.of,
            "of_url": world.url(ids[r.of or ""]),
            "url": world.url(r),
            "hoster": r.hoster,
            "asn": hosters[r.hoster].asn,
            "appear_at": clock.iso(r.appear_at),
            "transform": r.transform,
            "format": r.fmt,
            "kind": _kind(r),
        }

    items = []
    for i in plan.reports():
        items.append(
            {
                "id": i.id,
                "url": world.url(i),
                "hoster": i.hoster,
                "asn": hosters[i.hoster].asn,
                "ip": "::1" if i.v6 and world.ipv6 else hosters[i.hoster].ip,
                "hostname": i.hostname,
                "reference": i.reference,
                "format": i.fmt,
                "kind": _kind(i),
                "reported_at": clock.iso(i.reported_at),
                "noticed_at": clock.iso(i.noticed_at),
                "removed_at": clock.iso(i.removal_at),
                "removal_hours": removal_hours(i),
                "behaviour": i.after if i.removal_at else "never_removed",
                "after": i.after,
                "noise": i.noise,
                "reappeared_at": clock.iso(i.reappear_at),
                "reappeared_until": clock.iso(i.reappear_until),
                "reuploads": [reupload_row(r) for r in reuploads.get(i.id, [])],
                "cdn": i.cdn,  # reached only through this CDN's edge
            }
        )
    return {
        "scenario": scn.name,
        "seed": scn.seed,
        "start": clock.iso(scn.start),
        "end": clock.iso(scn.start + clock.duration(f"{scn.days}d")),
        "port": world.port,
        "items": items,
        "reuploads": [reupload_row(r) for r in plan.reuploads()],
        "videos": {
            "items": [i.id for i in plan.reports() if i.is_video],
            "reuploads": [reupload_row(r) for r in plan.reuploads() if r.is_video],
            "distractors": [
                {"id": d.id, "url": world.url(d), "hoster": d.hoster} for d in plan.distractors
            ],
        },
        "hosters": [
            {
                "name": h.name,
                "asn": h.asn,
                "as_name": h.as_name,
                "ip": h.ip,
                "ipv6": "::1" if h.ipv6 and world.ipv6 else None,
                "prefix": h.prefix,
                "country": h.country,
                "front_url": world.front_url(h.name),
                "gallery_urls": world.gallery_urls(h.name),
                **hoster_stats(plan, h),
            }
            for h in scn.hosters
        ],
        "cdn": None
        if scn.cdn is None
        else {
            "name": scn.cdn.name,
            "asn": scn.cdn.asn,
            "as_name": scn.cdn.as_name,
            "ip": scn.cdn.ip,
            "prefix": scn.cdn.prefix,
            "abuse_email": scn.cdn.abuse_email,
            "fronted_items": sum(1 for i in plan.reports() if i.cdn),
        },
    }


def _kind(item: Item) -> str:
    return "video" if item.is_video else "image"


def secret_env(hoster: Hoster) -> str:
    return "NTD_SIM_WEBHOOK_" + hoster.slug.upper().replace("-", "_")


def webhook_secrets(scn: Scenario) -> dict[str, str]:
    """Environment variable name -> secret, for hosters with a webhook (deterministic)."""
    return {
        secret_env(h): hmac.new(
            str(scn.seed).encode(), h.name.encode(), hashlib.sha256
        ).hexdigest()[:32]
        for h in scn.hosters
        if h.webhook
    }


def webhook_path(hoster: Hoster) -> str:
    return f"/hooks/{hoster.slug}"


def image_hashes(data: bytes) -> dict[str, str]:
    """phash, pdq and sha256 of served bytes, computed as the crawler does (hashes.compute);
    imagehash's phash and no pdq where hashes.compute gives none (too small an image)."""
    from hashes.compute import compute  # only the truth writer needs it (heavy imports)

    got = compute(data)
    if got.ok and got.phash and got.pdq:
        return {"phash": got.phash, "pdq": got.pdq, "sha256": got.sha256}
    with Image.open(io.BytesIO(data)) as img:
        phash = str(imagehash.phash(img.convert("RGB")))
    return {"phash": phash, "sha256": hashlib.sha256(data).hexdigest()}


def video_hashes(data: bytes) -> dict[str, str]:
    """sha256 and the dense vPDQ signature (text form) of a served video."""
    from hashes.video import video_signature  # only the truth writer needs these
    from hashes.video_text import to_text

    sig = video_signature(data, seconds_per_hash=VIDEO_BASELINE_SPH)
    return {"sha256": hashlib.sha256(data).hexdigest(), "vpdq": to_text(sig)}


def _hashes(item: Item, data: bytes) -> dict[str, str]:
    return video_hashes(data) if item.is_video else image_hashes(data)


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def reports_csv(world: World) -> str:
    rows: list[list[Any]] = [
        ["url", "reference", "reported_at", "noticed_at", "phash", "pdq", "sha256", "vpdq"]
    ]
    for i in world.plan.reports():
        h = _hashes(i, world.body(i)) if i.with_baseline else {}
        rows.append(
            [
                world.url(i),
                i.reference,
                clock.iso(i.reported_at),
                clock.iso(i.noticed_at),
                h.get("phash", ""),
                h.get("pdq", ""),
                h.get("sha256", ""),
                h.get("vpdq", ""),
            ]
        )
    return _csv(rows)


def hosters_csv(scn: Scenario, webhook_base: str | None = None) -> str:
    rows: list[list[Any]] = [
        ["name", "asn", "prefix", "country", "abuse_email", "webhook_url", "webhook_secret_env"]
    ]
    for h in scn.hosters:
        hook = f"{webhook_base.rstrip('/')}{webhook_path(h)}" if h.webhook and webhook_base else ""
        rows.append(
            [
                h.name,
                h.asn,
                h.prefix or "",
                h.country,
                h.abuse_email,
                hook,
                secret_env(h) if hook else "",
            ]
        )
    return _csv(rows)


def cdns_csv(scn: Scenario) -> str:
    """The CDN registry rows of the scenario's CDN (`cdn import`): its ASN, with its contact."""
    rows: list[list[Any]] = [["name", "asn", "prefix", "abuse_email"]]
    if scn.cdn is not None:
        rows.append([scn.cdn.name, scn.cdn.asn, "", scn.cdn.abuse_email])
    return _csv(rows)


def hashes_csv(world: World) -> str:
    rows: list[list[Any]] = [["algorithm", "hash", "label"]]
    for i in world.plan.reports():
        if i.in_hash_list and i.is_video:
            rows.append(["vpdq", video_hashes(world.body(i))["vpdq"], i.reference])
        elif i.in_hash_list:
            for algo, value in image_hashes(world.body(i)).items():
                rows.append([algo, value, i.reference])
    return _csv(rows)


def write(
    world: World, directory: str | Path, *, webhook_base: str | None = None
) -> dict[str, Path]:
    """truth.json, reports.csv, hosters.csv, hashes.csv (and cdns.csv when the scenario has
    a CDN) in `directory` (created)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "truth": out / "truth.json",
        "reports": out / "reports.csv",
        "hosters": out / "hosters.csv",
        "hashes": out / "hashes.csv",
    }
    files["truth"].write_text(json.dumps(build(world), indent=2) + "\n", encoding="utf-8")
    files["reports"].write_text(reports_csv(world), encoding="utf-8")
    files["hosters"].write_text(hosters_csv(world.scenario, webhook_base), encoding="utf-8")
    files["hashes"].write_text(hashes_csv(world), encoding="utf-8")
    if world.scenario.cdn is not None:
        files["cdns"] = out / "cdns.csv"
        files["cdns"].write_text(cdns_csv(world.scenario), encoding="utf-8")
    return files
