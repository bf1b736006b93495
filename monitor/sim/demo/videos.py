"""The demo's video block: reported videos and how their rechecks went, video re-uploads found,
against the world's truth, and what video checks cost in bytes.

`tally(db, world, end)` reads the store after the run. Every check of a reported video (a plan
report whose format is mp4) against what the world truly did at that moment (`plan.phase_at`
at `checked_at`): online seen online, down (removed, dns_gone) seen down, a false removal (down
while served), a missed one (online while removed), or no verdict (unreachable, blocked). For
the videos removed once within the run and never back, the measured takedown
(`reports.takedown_at`, the first down observation) against the true removal: a lag >= 0 is the
schedule's resolution, a negative one a removal claimed while the video was still served.

Re-uploads: the world's video re-uploads online by the end, found (a `reuploads` row for the
URL) or missed per transform; false finds are `reuploads` rows of algorithm `vpdq` that are not
a true video re-upload of the report (or hash-list entry) they name, those at a distractor
counted apart. Bytes: the `monitor/video/*` (rechecks) and `monitor/watch/videos/*` (watch
scans, without the per-status counts) crawl stats summed over the run's crawls, beside what the
world sent as video bodies.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.core import clock, urls
from monitor.sim.plan import ONLINE, phase_at


def _key(url: str) -> str:
    return urls.key(urls.clean(url))


@dataclass
class VideoTally:
    reported: int = 0  # video reports in the world
    with_baseline: int = 0  # ... whose import row carried sha256 + vpdq
    in_hash_list: int = 0  # ... also listed in the hash list as vpdq
    checks: Counter = field(default_factory=Counter)  # (seen, truly) -> checks of video reports
    reasons: Counter = field(default_factory=Counter)  # check reason -> checks of video reports
    removed: int = 0  # removed within the run, never back: the takedowns to judge
    lags: list[float] = field(default_factory=list)  # measured - true removal, hours
    served: int = 0  # video re-uploads online by the end
    found: int = 0  # ... of them found
    missed: Counter = field(default_factory=Counter)  # transform -> not found
    false: int = 0  # vpdq finds that are not a true video re-upload of what they name
    distractor_hits: int = 0  # ... of them at a distractor
    distractors: int = 0  # unrelated videos on the galleries
    stats: dict[str, int] = field(default_factory=dict)  # monitor/video/* over the crawls
    watch_stats: dict[str, int] = field(default_factory=dict)  # monitor/watch/videos/*
    world: dict[str, int] = field(default_factory=dict)  # video bodies the world sent

    @property
    def agree(self) -> int:
        return sum(n for (seen, truly), n in self.checks.items() if seen == truly)

    def count(self, seen: str, truly: str | None = None) -> int:
        return sum(n for (s, t), n in self.checks.items() if s == seen and truly in (None, t))

    @property
    def early(self) -> int:
        """Takedowns measured before the true removal (a removal claimed too soon)."""
        return sum(lag < 0 for lag in self.lags)


_SEEN = {"online": "online", "removed": "down", "dns_gone": "down"}  # else: no verdict


def tally(db: Any, world: Any, end: datetime) -> VideoTally:
    """The video block's figures (see the module docstring)."""
    plan = world.plan
    out = VideoTally(distractors=len(plan.distractors), world=dict(world.video_stats))
    reported = [i for i in plan.reports() if i.is_video]
    out.reported = len(reported)
    out.with_baseline = sum(i.with_baseline for i in reported)
    out.in_hash_list = sum(i.in_hash_list for i in reported)
    rows = {
        ref: (rid, takedown)
        for rid, ref, takedown in db.execute(
            "SELECT id, reference, takedown_at FROM reports WHERE kind = 'report'"
        ).fetchall()
    }
    items = {}
    for item in reported:
        rid, takedown = rows.get(item.reference, (None, None))
        if rid is not None:
            items[rid] = item
        gone = item.removal_at is not None and item.removal_at <= end
        if gone and item.reappear_at is None:
            out.removed += 1
            if takedown:
                lag = (clock.parse(takedown) - item.removal_at).total_seconds() / 3600
                out.lags.append(lag)
    ids = sorted(items)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for rid, checked_at, outcome, reason in db.execute(
            f"SELECT report_id, checked_at, outcome, reason FROM checks "
            f"WHERE report_id IN ({marks})",
            part,
        ).fetchall():
            truly = phase_at(items[rid], clock.parse(checked_at)) == ONLINE
            out.checks[(_SEEN.get(outcome, "none"), "online" if truly else "down")] += 1
            out.reasons[reason] += 1
    _reuploads(db, world, end, out)
    for (text,) in db.execute("SELECT stats FROM crawls WHERE stats IS NOT NULL").fetchall():
        for key, value in (json.loads(text) or {}).items():
            if not isinstance(value, int | float):
                continue
            for prefix, into in (
                ("monitor/video/", out.stats),
                ("monitor/watch/videos/", out.watch_stats),
            ):
                name = key.removeprefix(prefix)
                if name != key and "/" not in name:
                    into[name] = into.get(name, 0) + int(value)
    return out


def _reuploads(db: Any, world: Any, end: datetime, out: VideoTally) -> None:
    plan = world.plan
    by_id = plan.by_id()
    served = [
        r for r in plan.reuploads() if r.is_video and r.appear_at is not None and r.appear_at <= end
    ]
    true_of = {_key(world.url(r)): by_id[r.of or ""].reference for r in served}
    every_copy = {_key(world.url(r)) for r in plan.reuploads() if r.is_video}
    found = {k for (k,) in db.execute("SELECT DISTINCT url_key FROM reuploads").fetchall()}
    out.served = len(served)
    out.found = sum(k in found for k in true_of)
    out.missed = Counter(r.transform for r in served if _key(world.url(r)) not in found)
    distractors = {_key(world.url(d)) for d in plan.distractors}
    for url_key, ref, label in db.execute(
        "SELECT u.url_key, r.reference, k.label FROM reuploads u "
        "LEFT JOIN reports r ON r.id = u.of_report_id "
        "LEFT JOIN known_hashes k ON k.id = u.of_known_hash_id WHERE u.algorithm = 'vpdq'"
    ).fetchall():
        named = ref if ref is not None else label
        if url_key in every_copy and true_of.get(url_key) == named:
            continue
        out.false += 1
        out.distractor_hits += url_key in distractors


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def lines(t: VideoTally) -> list[str]:
    """The demo's "Video" block."""
    if not t.reported and not t.served:
        return ["video: the world served no videos"]
    out = [
        f"reported videos: {t.reported} ({t.with_baseline} with a vpdq baseline, "
        f"{t.in_hash_list} in the hash list); {sum(t.checks.values())} rechecks against the "
        f"truth: {t.agree} agree ({t.count('online', 'online')} online, "
        f"{t.count('down', 'down')} down), {t.count('down', 'online')} false removals, "
        f"{t.count('online', 'down')} missed, {t.count('none')} no verdict"
    ]
    if t.removed:
        judged = len(t.lags)
        lag = f"median {statistics.median(t.lags):+.1f} h" if t.lags else "no lag"
        out.append(
            f"takedowns of videos: {judged}/{t.removed} removed ones measured ({lag} after "
            f"the true removal; {t.early} measured before it)"
        )
    if t.reasons:
        top = ", ".join(f"{r} {n}" for r, n in t.reasons.most_common(6))
        out.append(f"video recheck reasons: {top}")
    share = f" ({t.found / t.served:.0%})" if t.served else ""
    missed = ", ".join(f"{n} {kind}" for kind, n in sorted(t.missed.items()))
    out.append(
        f"video re-uploads: {t.served} put online by the world, {t.found} found{share}"
        + (f" (missed: {missed})" if missed else "")
        + f"; {t.false} false vpdq finds ({t.distractor_hits} at the {t.distractors} "
        "distractors)"
    )
    sent = t.world.get("bytes", 0)
    world = (
        f"the world sent {_mb(sent)} of video in {t.world.get('responses', 0)} responses "
        f"({t.world.get('partial', 0)} partial)"
    )
    for label, stats in (("video rechecks", t.stats), ("watch scans' videos", t.watch_stats)):
        if stats:
            parts = ", ".join(
                _mb(v) if k == "bytes" else f"{k} {v}" for k, v in sorted(stats.items())
            )
            out.append(f"{label} (crawl stats): {parts}")
    if not t.stats and not t.watch_stats:
        world += "; no video crawl stats recorded"
    out.append(world)
    return out
