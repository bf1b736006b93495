"""The demo's re-upload side: the world's galleries as watch sources, scans and alert delivery as
the clock steps, and what was found and delivered against the world's truth.

`Upkeep` is called at every clock step of the demo's recheck crawl (from its `on_step`, in the
same event loop while the recheck crawler waits between steps): it runs the watch scans due at
that time (`monitor.runners.watch.run_watch`, a second Scrapy crawler) and then delivers the due
alerts (`monitor.alerts.send_pending`) to the world's webhook receiver and SMTP sink.
`tally()` reads back from the store and the receivers: per hoster the re-uploads the world
served, those found, the alerts delivered per channel, and what each receiver got.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.alerts.deliver import send_pending
from monitor.core import clock, urls
from monitor.core.config import Config
from monitor.reuploads.watch_sources import add_source
from monitor.runners.watch import due_sources, run_watch
from monitor.sim import truth


@dataclass
class Upkeep:
    """What the demo does at each clock step besides rechecking: watch scans, then alerts."""

    db: Any
    db_file: Path
    config: Config
    hash_workers: int = 0  # inline: a scan is short, a hashing process per scan is not
    sources: int = 0  # watch sources (the world's galleries)
    scans: int = 0  # watch crawls run (each scans every source due then)
    sources_scanned: int = 0
    images: int = 0
    new_reuploads: int = 0  # reuploads rows recorded (a URL matching two entries: 2)
    urls_found: int = 0  # distinct re-upload URLs in the store
    watch_seconds: float = 0.0
    alerts_sent: int = 0
    alerts_failed: int = 0
    send_seconds: float = 0.0

    async def __call__(self, when: datetime) -> None:

        now = clock.iso(when) or ""
        if due_sources(self.db, now):
            started = time.monotonic()
            scan = await run_watch(self.db_file, self.config, hash_workers=self.hash_workers)
            self.watch_seconds += time.monotonic() - started
            self.scans += 1
            self.sources_scanned += scan.sources
            self.images += scan.images
            self.new_reuploads += scan.new_reuploads
            self.urls_found = self.db.execute(
                "SELECT COUNT(DISTINCT url_key) FROM reuploads"
            ).fetchone()[0]
        if self.db.execute(
            "SELECT 1 FROM alerts WHERE state = 'pending' AND next_attempt_at <= ? LIMIT 1", [now]
        ).fetchone():
            started = time.monotonic()
            stats = await send_pending(self.db, self.config)
            self.send_seconds += time.monotonic() - started
            self.alerts_sent += stats.sent
            self.alerts_failed += stats.failed


def add_galleries(db, world, config: Config) -> int:
    """Every gallery of every hoster in the world as a watch source (first scan due now)."""

    added = 0
    for hoster in world.scenario.hosters:
        for url in world.gallery_urls(hoster.name):
            add_source(db, url, config, depth=0)  # the gallery page itself
            added += 1
    return added


@dataclass
class HosterReuploads:
    """One hoster's re-uploads and alerts: the world's truth beside what the demo did."""

    hoster: str
    served: int = 0  # re-uploads the world put online on this hoster by the end
    found: int = 0  # of those, found by the demo (a reuploads row for the URL)
    aliases: int = 0  # a reported file of this hoster found at another address
    false: int = 0  # found on this hoster, neither a re-upload nor an alias
    alerts: Counter = field(default_factory=Counter)  # (kind, channel) -> alerts sent
    undelivered: int = 0  # alerts pending or failed at the end
    webhooks_received: int = 0  # verified POSTs at this hoster's webhook path
    emails_received: int = 0  # messages to this hoster's abuse address


@dataclass(frozen=True)
class FoundReupload:
    """One re-upload URL the demo found, with where the truth and the alerts say it is."""

    url: str
    kind: str  # "reupload" (in the world's truth), "alias", or "false"
    true_hoster: str | None  # who serves it in the world (None: false)
    alerted: tuple[str, ...]  # hosters its re-upload alerts were written for
    delivered: tuple[tuple[str, str], ...]  # (hoster, channel) whose receiver got its alert


@dataclass
class ReuploadTally:
    hosters: list[HosterReuploads] = field(default_factory=list)
    found: list[FoundReupload] = field(default_factory=list)
    missed: Counter = field(default_factory=Counter)  # transform -> re-uploads not found
    hooks_posted: int = 0  # webhook POSTs the receiver got
    hooks_by_library: int = 0  # of those, verified by the standardwebhooks library
    library: bool = False  # the standardwebhooks library was there to verify
    xarf_sent: int = 0  # XARF attachments the SMTP sink got
    xarf_valid: int | None = None  # of those, valid (xarf package + official schemas); None:
    # the validators are not installed
    xarf_strict_gaps: frozenset[str] = frozenset()  # what strict mode still asked for

    @property
    def served(self) -> int:
        return sum(h.served for h in self.hosters)

    @property
    def true_found(self) -> int:
        return sum(h.found for h in self.hosters)

    @property
    def aliases(self) -> int:
        return sum(h.aliases for h in self.hosters)

    @property
    def false_found(self) -> int:
        return sum(h.false for h in self.hosters)

    @property
    def wrong(self) -> list[FoundReupload]:
        """False finds, and finds not alerted to exactly the hoster serving them."""
        return [f for f in self.found if f.kind == "false" or f.alerted != (f.true_hoster,)]

    def alerts(self, kind: str | None = None, channel: str | None = None) -> int:
        return sum(
            n
            for h in self.hosters
            for (k, c), n in h.alerts.items()
            if kind in (None, k) and channel in (None, c)
        )


def _key(url: str) -> str:
    return urls.key(urls.clean(url))


def _aliases(world) -> dict[str, str]:
    """URL key -> hoster, for the reported files the world also serves at another address:
    its galleries link every file by path on the hoster's IPv4 address, while a file reported
    on [::1] or on its own hostname has that as its URL. Finding one there is finding the
    reported material at a URL that is not the reported one: a re-upload to the crawler."""
    out = {}
    for item in world.plan.reports():
        other = _key(f"http://{world.sites[item.hoster].hoster.ip}:{world.port}{item.path}")
        if other != _key(world.url(item)):
            out[other] = item.hoster
    return out


def _kind(url_key: str, true_at: dict[str, str], aliases: dict[str, str]) -> str:
    return "reupload" if url_key in true_at else "alias" if url_key in aliases else "false"


def _received(receiver, sink, world) -> tuple[dict[int, tuple[str, str]], Counter, Counter]:
    """alert id -> (hoster, channel) as the receivers got them (webhook POSTs with a valid
    signature at the hoster's path; e-mails to its abuse address), and per-hoster counts."""

    by_path = {truth.webhook_path(h): h.name for h in world.scenario.hosters if h.webhook}
    by_mail = {h.abuse_email.lower(): h.name for h in world.scenario.hosters}
    got: dict[int, tuple[str, str]] = {}
    hooks: Counter = Counter()
    mails: Counter = Counter()
    for d in receiver.verified():
        name = by_path.get(d.path)
        if name is not None and isinstance(d.json, dict) and "alert_id" in d.json:
            hooks[name] += 1
            got[int(d.json["alert_id"])] = (name, "webhook")
    for m in sink.messages:
        for rcpt in m.rcpt_tos:
            name = by_mail.get(rcpt.lower())
            if name is None:
                continue
            mails[name] += 1
            for alert_id in str(m.message.get("X-NTD-Alert-Ids", "")).split(","):
                if alert_id.strip().isdigit():
                    got[int(alert_id)] = (name, "email")
    return got, hooks, mails


def tally(db, world, receiver, sink, end: datetime) -> ReuploadTally:
    """Re-uploads and alerts per hoster: the world's truth, the store, and the receivers."""
    names = [h.name for h in world.scenario.hosters]
    rows = {n: HosterReuploads(n) for n in names}
    served = [r for r in world.plan.reuploads() if r.appear_at is not None and r.appear_at <= end]
    true_at = {_key(world.url(r)): r.hoster for r in served}
    for hoster in true_at.values():
        rows[hoster].served += 1
    aliases = _aliases(world)
    hoster_of = dict(db.execute("SELECT id, name FROM hosters").fetchall())
    found_keys: dict[str, str] = {}
    for url_key, url, hoster_id in db.execute(
        "SELECT url_key, MIN(url), MIN(hoster_id) FROM reuploads GROUP BY url_key ORDER BY MIN(id)"
    ).fetchall():
        found_keys[url_key] = url
        if url_key in true_at:
            rows[true_at[url_key]].found += 1
        elif url_key in aliases:
            rows[aliases[url_key]].aliases += 1
        elif hoster_of.get(hoster_id) in rows:
            rows[hoster_of[hoster_id]].false += 1
    got, hooks, mails = _received(receiver, sink, world)
    alerted: dict[str, set[str]] = {}
    delivered: dict[str, set[tuple[str, str]]] = {}
    for alert_id, kind, hoster_id, channel, state, subject in db.execute(
        "SELECT id, kind, hoster_id, channel, state, subject FROM alerts"
    ).fetchall():
        name = hoster_of.get(hoster_id)
        row = rows.get(name) if name else None
        if row is not None:
            if state == "sent":
                row.alerts[(kind, channel)] += 1
            else:
                row.undelivered += 1
        if kind == "reupload" and name:
            url_key = _key(json.loads(subject)["item"]["url"])
            alerted.setdefault(url_key, set()).add(name)
            if state == "sent" and got.get(alert_id) == (name, channel):
                delivered.setdefault(url_key, set()).add((name, channel))
    for name, row in rows.items():
        row.webhooks_received, row.emails_received = hooks[name], mails[name]
    found = [
        FoundReupload(
            url,
            _kind(k, true_at, aliases),
            true_at.get(k, aliases.get(k)),
            tuple(sorted(alerted.get(k, ()))),
            tuple(sorted(delivered.get(k, ()))),
        )
        for k, url in found_keys.items()
    ]
    missed = Counter(r.transform for r in served if _key(world.url(r)) not in found_keys)
    result = ReuploadTally(hosters=list(rows.values()), found=found, missed=missed)
    return _receivers_view(result, receiver, sink)


def _receivers_view(result: ReuploadTally, receiver, sink) -> ReuploadTally:
    """What the hosters' own tools make of the alerts: webhooks the standardwebhooks library
    verified, XARF attachments the xarf package and the official schemas accept."""

    result.library = importlib.util.find_spec("standardwebhooks") is not None
    result.hooks_posted = len(receiver.deliveries)
    result.hooks_by_library = sum(d.by_library for d in receiver.deliveries)
    checks = sink.xarf_checks()
    result.xarf_sent = len(checks)
    if checks and all(c.valid is not None for c in checks):
        result.xarf_valid = sum(bool(c.valid) for c in checks)
        result.xarf_strict_gaps = frozenset(f for c in checks for f in c.strict_missing)
    return result
