"""Draining the outbox: deliver due pending alerts by webhook and e-mail, exactly once.

`send_pending` claims the due alerts (a lease on `next_attempt_at`, so a second sender skips
them and a crashed one's claim runs out), delivers them, and commits each outcome right after
the attempt: 'sent' with `sent_at` (never sent again), a retry time with backoff and jitter,
or 'failed' with the last error. Waits up to `policy.inline_max` happen inside the call.
E-mail alerts of one hoster go out as one message; a hoster gets at most one message per
`batch_window` and at most `per_hoster_per_hour` messages per hour (the rest wait).
`dry_run` renders everything and changes nothing.

Hostile input stays contained: any exception while rendering or sending one alert (or one
e-mail batch) fails those alerts alone with the error in `last_error` (a batch first drops the
alerts that cannot be rendered and sends the rest), never the other alerts or the `run` loop.
Webhooks go only to addresses `monitor.alerts.guard` lets through (`crawl.allow_networks`); a
refused address fails the alert at once, without retries.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
from sqlite_utils import Database

from monitor import store
from monitor.alerts import claim, guard, mail, webhook
from monitor.alerts.claim import due as _due
from monitor.alerts.policy import Attempt, DeliveryPolicy, Verdict
from monitor.core import clock
from monitor.core.config import Config


@dataclass(frozen=True)
class Rendered:
    """One message as it would go out (dry run)."""

    channel: str
    hoster: str
    to: str
    alert_ids: tuple[int, ...]
    subject: str
    body: str  # webhook JSON body, or the e-mail as text (with attachments)


@dataclass(frozen=True)
class DeliveryStats:
    sent: int = 0  # alerts delivered
    failed: int = 0  # alerts given up on in this call
    retrying: int = 0  # alerts left pending with a later retry time
    deferred: int = 0  # e-mail alerts held back by batch window or rate limit
    attempts: int = 0  # POSTs and SMTP sessions tried
    messages: int = 0  # webhook POSTs and e-mails delivered
    dry_run: bool = False
    rendered: tuple[Rendered, ...] = ()


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rendered: list[Rendered] = field(default_factory=list)


def allow_networks(config: Config) -> tuple[str, ...]:
    """The non-public networks webhooks may go to (`crawl.allow_networks`, as the crawler)."""
    return tuple(getattr(config.crawl, "allow_networks", ()) or ())


class _Sender:
    def __init__(
        self,
        db: Database,
        config: Config,
        policy: DeliveryPolicy,
        dry_run: bool,
        at: Callable[[], datetime],
    ) -> None:
        self.db, self.config, self.policy, self.dry_run, self.at = db, config, policy, dry_run, at
        self.tally = _Tally()
        self.rng = random.Random()
        self.allow = allow_networks(config)

    def _commit(
        self,
        ids: list[int],
        attempts: list[int],
        outcome: Attempt,
        final: bool,
        retry_at: datetime | None,
    ) -> int:
        """Write one attempt's outcome for the alerts it carried (its own transaction);
        how many pending alerts it changed."""
        stamp = clock.iso(self.at())
        changed = 0
        with store.transaction(self.db):
            for alert_id, n in zip(ids, attempts, strict=True):
                if outcome.verdict is Verdict.SENT:
                    cursor = self.db.conn.execute(
                        "UPDATE alerts SET state = 'sent', sent_at = ?, attempts = ?, "
                        "last_error = NULL WHERE id = ? AND state = 'pending'",
                        [stamp, n, alert_id],
                    )
                elif final:
                    cursor = self.db.conn.execute(
                        "UPDATE alerts SET state = 'failed', attempts = ?, last_error = ? "
                        "WHERE id = ? AND state = 'pending'",
                        [n, outcome.error, alert_id],
                    )
                else:
                    cursor = self.db.conn.execute(
                        "UPDATE alerts SET attempts = ?, last_error = ?, next_attempt_at = ? "
                        "WHERE id = ? AND state = 'pending'",
                        [n, outcome.error, clock.iso(retry_at or self.at()), alert_id],
                    )
                changed += cursor.rowcount
        return changed

    async def _attempts(self, rows: list[dict[str, Any]], once: Callable[[], Any]) -> None:
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
        if self.dry_run:
            return
        self.tally.counts["failed"] += self._commit(
            [r["id"] for r in rows],
            [r["attempts"] for r in rows],
            Attempt(Verdict.FAIL, error),
            True,
            None,
        )

    async def guarded(self, rows: list[dict[str, Any]], work: Awaitable[None]) -> None:
        """Run the delivery of `rows`; any exception fails those alerts alone (with the error
        visible in `alerts list`), never the batch, the other hosters or the `run` loop."""
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - one bad alert must not stop delivery
            self._fail_now(rows, f"could not deliver: {claim.describe(exc)}")

    async def webhook(
        self, session: aiohttp.ClientSession | None, row: dict[str, Any], gate: asyncio.Semaphore
    ) -> None:
        await self.guarded([row], self._webhook(session, row, gate))

    async def _webhook(
        self, session: aiohttp.ClientSession | None, row: dict[str, Any], gate: asyncio.Semaphore
    ) -> None:
        data = webhook.body(
            alert_id=row["id"],
            idempotency_key=row["idempotency_key"],
            kind=row["kind"],
            hoster=row["name"] or "",
            created_at=row["created_at"],
            item=row["item"],
            config=self.config.alerts,
        )
        if self.dry_run:
            self.tally.rendered.append(
                Rendered(
                    "webhook",
                    row["name"] or "",
                    row["webhook_url"] or "",
                    (row["id"],),
                    row["kind"],
                    data.decode(),
                )
            )
            return
        if not row["webhook_url"]:
            return self._fail_now([row], f"hoster {row['name']} has no webhook_url any more")
        refused = guard.literal_refusal(row["webhook_url"], self.allow)
        if refused is not None:
            return self._fail_now([row], refused)
        scheme = row.get("webhook_scheme") or "standard"
        try:
            live = webhook.secrets(row["webhook_secret_env"], row["name"])
            webhook.headers(data, scheme, live, 0, row["idempotency_key"], "")
        except webhook.SecretMissing as exc:
            return self._fail_now(
                [row], f"{exc} (hoster {row['name']}, env {row['webhook_secret_env']})"
            )

        async def once() -> Attempt:
            stamp = int(time.time())  # freshness for the receiver's clock: never simulated
            head = webhook.headers(
                data, scheme, live, stamp, row["idempotency_key"], self.config.crawl.user_agent
            )
            async with gate:
                return await webhook.post(
                    session,  # type: ignore[arg-type]  # never None when a webhook is sent
                    row["webhook_url"],
                    data,
                    head,
                    self.policy.timeout,
                )

        await self._attempts([row], once)

    def _hold(self, hoster_id: int, now: datetime) -> datetime | None:
        """Until when e-mail to this hoster waits (batch window, hourly limit), or None."""
        alerts = self.config.alerts
        times = [
            clock.parse(r[0])
            for r in self.db.conn.execute(
                "SELECT DISTINCT sent_at FROM alerts WHERE hoster_id = ? AND channel = 'email' "
                "AND state = 'sent' AND sent_at > ? ORDER BY sent_at DESC",
                [hoster_id, clock.iso(now - max(alerts.batch_window, timedelta(hours=1)))],
            )
        ]
        holds = []
        if times and times[0] + alerts.batch_window > now:
            holds.append(times[0] + alerts.batch_window)
        hour = [t for t in times if t > now - timedelta(hours=1)]
        if alerts.per_hoster_per_hour and len(hour) >= alerts.per_hoster_per_hour:
            holds.append(hour[alerts.per_hoster_per_hour - 1] + timedelta(hours=1))
        return max(holds) if holds else None

    async def email(self, hoster_id: int, rows: list[dict[str, Any]]) -> None:
        await self.guarded(rows, self._email(hoster_id, rows))

    def _render(
        self, hoster: dict[str, Any], rows: list[dict[str, Any]], now: datetime
    ) -> tuple[EmailMessage, list[dict[str, Any]]]:
        """The message for `rows`; an alert that cannot be rendered fails alone and the
        others go out (raises only when none can be rendered)."""

        def entries(part: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [
                {"id": r["id"], "idempotency_key": r["idempotency_key"], "item": r["item"]}
                for r in part
            ]

        try:
            return mail.render(hoster, entries(rows), self.config.alerts, now), rows
        except Exception:  # noqa: BLE001 - find the alert that breaks the batch
            if len(rows) == 1:
                raise
        good = []
        for r in rows:
            try:
                mail.render(hoster, entries([r]), self.config.alerts, now)
            except Exception as exc:  # noqa: BLE001
                self._fail_now([r], f"could not render: {claim.describe(exc)}")
            else:
                good.append(r)
        if not good:
            raise ValueError("no alert of this batch could be rendered")
        return mail.render(hoster, entries(good), self.config.alerts, now), good

    async def _email(self, hoster_id: int, rows: list[dict[str, Any]]) -> None:
        first = rows[0]
        hoster = {
            "name": first["name"],
            "abuse_email": first["abuse_email"],
            "country": first["country"],
        }
        now = self.at()
        hold = self._hold(hoster_id, now)
        if hold is not None:
            self.tally.counts["deferred"] += len(rows)
            if not self.dry_run:
                with store.transaction(self.db):
                    self.db.conn.executemany(
                        "UPDATE alerts SET next_attempt_at = ? WHERE id = ?",
                        [(clock.iso(hold), r["id"]) for r in rows],
                    )
            return
        if not first["abuse_email"]:
            return self._fail_now(rows, f"no abuse contact for hoster {first['name']}")
        msg, rows = self._render(hoster, rows, now)
        if self.dry_run:
            self.tally.rendered.append(
                Rendered(
                    "email",
                    first["name"],
                    first["abuse_email"],
                    tuple(r["id"] for r in rows),
                    str(msg["Subject"]),
                    mail.readable(msg),
                )
            )
            return

        async def once() -> Attempt:
            return await asyncio.to_thread(mail.send, msg, self.config.alerts, self.policy.timeout)

        await self._attempts(rows, once)


async def send_pending(
    db: Database,
    config: Config,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    policy: DeliveryPolicy | None = None,
    limit: int | None = None,
) -> DeliveryStats:
    """Deliver every due pending alert; `now` pins the time used for due dates and stamps."""
    policy = policy or DeliveryPolicy()
    start = now or clock.now()

    def at() -> datetime:
        return now if now is not None else clock.now()

    until = None if dry_run else start + timedelta(seconds=policy.lease)
    rows = _due(db, start, limit, until)
    sender = _Sender(db, config, policy, dry_run, at)
    for r in rows:
        if r["broken"]:
            sender._fail_now([r], f"unreadable alert subject: {r['broken']}")
    rows = [r for r in rows if not r["broken"]]
    hooks = [r for r in rows if r["channel"] == "webhook"]
    mails: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["channel"] == "email":
            mails[r["hoster_id"]].append(r)
    gate = asyncio.Semaphore(policy.concurrency)
    if hooks and dry_run:
        await asyncio.gather(*(sender.webhook(None, r, gate) for r in hooks))
    elif hooks:
        async with aiohttp.ClientSession(connector=guard.connector(sender.allow)) as session:
            await asyncio.gather(*(sender.webhook(session, r, gate) for r in hooks))
    for hoster_id, group in mails.items():
        await sender.email(hoster_id, group)
    c = sender.tally.counts
    return DeliveryStats(
        sent=c["sent"],
        failed=c["failed"],
        retrying=c["retrying"],
        deferred=c["deferred"],
        attempts=c["attempts"],
        messages=c["messages"],
        dry_run=dry_run,
        rendered=tuple(sender.tally.rendered),
    )


def send_pending_sync(db: Database, config: Config, **kwargs: Any) -> DeliveryStats:
    """`send_pending` for synchronous callers (the CLI, `run`)."""
    return asyncio.run(send_pending(db, config, **kwargs))
