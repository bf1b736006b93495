"""Draining the outbox: deliver due pending alerts by webhook and e-mail, exactly once.

`send_pending` claims the due alerts (a lease on `next_attempt_at`, so a second sender skips
them and a crashed one's claim runs out), delivers them, and commits each outcome right after
the attempt: 'sent' with `sent_at` (never sent again), a retry time with backoff and jitter,
or 'failed' with the last error. Waits up to `policy.inline_max` happen inside the call.
E-mail alerts of one hoster go out as one message; a hoster gets at most one message per
`batch_window` and at most `per_hoster_per_hour` messages per hour (the rest wait).
`dry_run` renders everything and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlite_utils import Database

from monitor import clock, store
from monitor.alerts import mail, webhook
from monitor.alerts.policy import Attempt, DeliveryPolicy, Verdict
from monitor.config import Config


@dataclass(frozen=True)
class Rendered:
    """One message as it would go out (dry run)."""
    channel: str
    hoster: str
    to: str
    alert_ids: tuple[int, ...]
    subject: str
    body: str                     # webhook JSON body, or the e-mail as text (with attachments)


@dataclass(frozen=True)
class DeliveryStats:
    sent: int = 0                 # alerts delivered
    failed: int = 0               # alerts given up on in this call
    retrying: int = 0             # alerts left pending with a later retry time
    deferred: int = 0             # e-mail alerts held back by batch window or rate limit
    attempts: int = 0             # POSTs and SMTP sessions tried
    messages: int = 0             # webhook POSTs and e-mails delivered
    dry_run: bool = False
    rendered: tuple[Rendered, ...] = ()


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rendered: list[Rendered] = field(default_factory=list)


_DUE = """
SELECT a.id, a.idempotency_key, a.hoster_id, a.channel, a.kind, a.subject, a.attempts,
       a.created_at, h.name, h.abuse_email, h.webhook_url, h.webhook_secret_env, h.country
FROM alerts a LEFT JOIN hosters h ON h.id = a.hoster_id
WHERE a.state = 'pending' AND a.next_attempt_at <= ? ORDER BY a.id
"""


def _due(db: Database, now: datetime, limit: int | None, claim_until: datetime | None
         ) -> list[dict[str, Any]]:
    with store.transaction(db):
        cursor = db.conn.execute(_DUE + (f" LIMIT {int(limit)}" if limit else ""),
                                 [clock.iso(now)])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        if claim_until is not None and rows:
            db.conn.executemany("UPDATE alerts SET next_attempt_at = ? WHERE id = ?",
                                [(clock.iso(claim_until), r["id"]) for r in rows])
    for row in rows:
        row["item"] = json.loads(row["subject"])["item"]
    return rows


class _Sender:
    def __init__(self, db: Database, config: Config, policy: DeliveryPolicy, dry_run: bool,
                 at: Callable[[], datetime]) -> None:
        self.db, self.config, self.policy, self.dry_run, self.at = db, config, policy, dry_run, at
        self.tally = _Tally()
        self.rng = random.Random()

    def _commit(self, ids: list[int], attempts: list[int], outcome: Attempt, final: bool,
                retry_at: datetime | None) -> None:
        """Write one attempt's outcome for the alerts it carried (its own transaction)."""
        stamp = clock.iso(self.at())
        with store.transaction(self.db):
            for alert_id, n in zip(ids, attempts, strict=True):
                if outcome.verdict is Verdict.SENT:
                    self.db.conn.execute(
                        "UPDATE alerts SET state = 'sent', sent_at = ?, attempts = ?, "
                        "last_error = NULL WHERE id = ? AND state = 'pending'",
                        [stamp, n, alert_id])
                elif final:
                    self.db.conn.execute(
                        "UPDATE alerts SET state = 'failed', attempts = ?, last_error = ? "
                        "WHERE id = ? AND state = 'pending'", [n, outcome.error, alert_id])
                else:
                    self.db.conn.execute(
                        "UPDATE alerts SET attempts = ?, last_error = ?, next_attempt_at = ? "
                        "WHERE id = ? AND state = 'pending'",
                        [n, outcome.error, clock.iso(retry_at or self.at()), alert_id])

    async def _attempts(self, rows: list[dict[str, Any]],
                        once: Callable[[], Any]) -> None:
        """Try `once()` (an awaitable Attempt) with backoff until sent, failed or postponed."""
        ids = [r["id"] for r in rows]
        counts = [r["attempts"] for r in rows]
        c = self.tally.counts
        while True:
            outcome: Attempt = await once()
            counts = [n + 1 for n in counts]
            c["attempts"] += 1
            exhausted = max(counts) >= self.config.alerts.max_attempts
            if outcome.verdict is Verdict.SENT:
                self._commit(ids, counts, outcome, True, None)
                c["sent"] += len(ids)
                c["messages"] += 1
                return
            if outcome.verdict is Verdict.FAIL or exhausted:
                self._commit(ids, counts, outcome, True, None)
                c["failed"] += len(ids)
                return
            wait = self.policy.delay(max(counts), outcome.retry_after, self.rng)
            if wait > self.policy.inline_max:
                self._commit(ids, counts, outcome, False, self.at() + timedelta(seconds=wait))
                c["retrying"] += len(ids)
                return
            self._commit(ids, counts, outcome, False, self.at() + timedelta(seconds=wait))
            await asyncio.sleep(wait)

    def _fail_now(self, rows: list[dict[str, Any]], error: str) -> None:
        self._commit([r["id"] for r in rows], [r["attempts"] for r in rows],
                     Attempt(Verdict.FAIL, error), True, None)
        self.tally.counts["failed"] += len(rows)

    async def webhook(self, session: aiohttp.ClientSession | None, row: dict[str, Any],
                      gate: asyncio.Semaphore) -> None:
        data = webhook.body(alert_id=row["id"], idempotency_key=row["idempotency_key"],
                            kind=row["kind"], hoster=row["name"] or "",
                            created_at=row["created_at"], item=row["item"],
                            config=self.config.alerts)
        if self.dry_run:
            self.tally.rendered.append(Rendered("webhook", row["name"] or "", row["webhook_url"]
                                                or "", (row["id"],), row["kind"], data.decode()))
            return
        if not row["webhook_url"]:
            return self._fail_now([row], f"hoster {row['name']} has no webhook_url any more")
        try:
            secret = webhook.secret(row["webhook_secret_env"], row["name"])
        except webhook.SecretMissing as exc:
            return self._fail_now([row], str(exc))

        async def once() -> Attempt:
            stamp = int(self.at().timestamp())
            head = webhook.headers(data, secret, stamp, row["idempotency_key"],
                                   self.config.crawl.user_agent)
            async with gate:
                return await webhook.post(session, row["webhook_url"], data, head,  # type: ignore
                                          self.policy.timeout)
        await self._attempts([row], once)

    def _hold(self, hoster_id: int, now: datetime) -> datetime | None:
        """Until when e-mail to this hoster waits (batch window, hourly limit), or None."""
        alerts = self.config.alerts
        times = [clock.parse(r[0]) for r in self.db.conn.execute(
            "SELECT DISTINCT sent_at FROM alerts WHERE hoster_id = ? AND channel = 'email' "
            "AND state = 'sent' AND sent_at > ? ORDER BY sent_at DESC",
            [hoster_id, clock.iso(now - max(alerts.batch_window, timedelta(hours=1)))])]
        holds = []
        if times and times[0] + alerts.batch_window > now:
            holds.append(times[0] + alerts.batch_window)
        hour = [t for t in times if t > now - timedelta(hours=1)]
        if alerts.per_hoster_per_hour and len(hour) >= alerts.per_hoster_per_hour:
            holds.append(hour[alerts.per_hoster_per_hour - 1] + timedelta(hours=1))
        return max(holds) if holds else None

    async def email(self, hoster_id: int, rows: list[dict[str, Any]]) -> None:
        first = rows[0]
        hoster = {"name": first["name"], "abuse_email": first["abuse_email"],
                  "country": first["country"]}
        now = self.at()
        hold = self._hold(hoster_id, now)
        if hold is not None:
            self.tally.counts["deferred"] += len(rows)
            if not self.dry_run:
                with store.transaction(self.db):
                    self.db.conn.executemany(
                        "UPDATE alerts SET next_attempt_at = ? WHERE id = ?",
                        [(clock.iso(hold), r["id"]) for r in rows])
            return
        if not first["abuse_email"]:
            return self._fail_now(rows, f"no abuse contact for hoster {first['name']}")
        entries = [{"id": r["id"], "idempotency_key": r["idempotency_key"], "item": r["item"]}
                   for r in rows]
        msg = mail.render(hoster, entries, self.config.alerts, now)
        if self.dry_run:
            self.tally.rendered.append(Rendered(
                "email", first["name"], first["abuse_email"], tuple(r["id"] for r in rows),
                str(msg["Subject"]), mail.readable(msg)))
            return

        async def once() -> Attempt:
            return await asyncio.to_thread(mail.send, msg, self.config.alerts,
                                           self.policy.timeout)
        await self._attempts(rows, once)


async def send_pending(db: Database, config: Config, *, dry_run: bool = False,
                       now: datetime | None = None, policy: DeliveryPolicy | None = None,
                       limit: int | None = None) -> DeliveryStats:
    """Deliver every due pending alert; `now` pins the time used for due dates and stamps."""
    policy = policy or DeliveryPolicy()
    start = now or clock.now()

    def at() -> datetime:
        return now if now is not None else clock.now()

    claim = None if dry_run else start + timedelta(seconds=policy.lease)
    rows = _due(db, start, limit, claim)
    sender = _Sender(db, config, policy, dry_run, at)
    hooks = [r for r in rows if r["channel"] == "webhook"]
    mails: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["channel"] == "email":
            mails[r["hoster_id"]].append(r)
    gate = asyncio.Semaphore(policy.concurrency)
    if hooks and dry_run:
        await asyncio.gather(*(sender.webhook(None, r, gate) for r in hooks))
    elif hooks:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(sender.webhook(session, r, gate) for r in hooks))
    for hoster_id, group in mails.items():
        await sender.email(hoster_id, group)
    c = sender.tally.counts
    return DeliveryStats(sent=c["sent"], failed=c["failed"], retrying=c["retrying"],
                         deferred=c["deferred"], attempts=c["attempts"], messages=c["messages"],
                         dry_run=dry_run, rendered=tuple(sender.tally.rendered))


def send_pending_sync(db: Database, config: Config, **kwargs: Any) -> DeliveryStats:
    """`send_pending` for synchronous callers (the CLI, `run`)."""
    return asyncio.run(send_pending(db, config, **kwargs))
