"""Which alerts are due: the pending ones whose time has come, claimed with a lease (their
`next_attempt_at` moves to the lease end, so a second sender skips them and a crashed sender's
claim runs out), each with its item parsed; and how an error reads in `alerts.last_error`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from monitor import store
from monitor.core import clock

_DUE = """
SELECT a.id, a.idempotency_key, a.hoster_id, a.channel, a.kind, a.subject, a.attempts,
       a.created_at, h.name, h.abuse_email, h.webhook_url, h.webhook_secret_env, h.country,
       h.webhook_scheme
FROM alerts a LEFT JOIN hosters h ON h.id = a.hoster_id
WHERE a.state = 'pending' AND a.next_attempt_at <= ? ORDER BY a.id
"""


def due(
    db: Database, now: datetime, limit: int | None, claim_until: datetime | None
) -> list[dict[str, Any]]:
    """The due pending alerts (claimed until `claim_until`; None: a dry run claims nothing).
    A row whose subject cannot be read has `broken` set (the sender fails it alone)."""
    with store.transaction(db):
        cursor = db.conn.execute(_DUE + (f" LIMIT {int(limit)}" if limit else ""), [clock.iso(now)])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        if claim_until is not None and rows:
            db.conn.executemany(
                "UPDATE alerts SET next_attempt_at = ? WHERE id = ?",
                [(clock.iso(claim_until), r["id"]) for r in rows],
            )
    for row in rows:
        try:
            row["item"] = json.loads(row["subject"])["item"]
            row["broken"] = None if isinstance(row["item"], dict) else "no item object"
        except (ValueError, TypeError, KeyError) as exc:
            row["item"], row["broken"] = None, describe(exc)
    return rows


def describe(exc: BaseException) -> str:
    """An exception as one short line for `alerts.last_error` (control characters escaped)."""
    text = f"{type(exc).__name__}: {exc}"
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text[:300]
