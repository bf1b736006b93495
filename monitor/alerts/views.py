"""What staff see of the outbox: `alerts list` rows and the `alerts send` summary text."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from monitor.alerts.deliver import DeliveryStats

COLUMNS = (
    "id",
    "kind",
    "hoster",
    "channel",
    "state",
    "attempts",
    "last_error",
    "created_at",
    "sent_at",
    "urls",
)


def alert_rows(db: Database) -> list[dict[str, Any]]:
    """Every alert, newest first, with stable keys (COLUMNS plus `next_attempt_at`)."""
    rows = db.conn.execute(
        "SELECT a.id, a.kind, h.name, a.channel, a.state, a.attempts, a.last_error, "
        "a.created_at, a.sent_at, a.subject, a.next_attempt_at FROM alerts a "
        "LEFT JOIN hosters h ON h.id = a.hoster_id ORDER BY a.id DESC"
    ).fetchall()
    out = []
    for (
        alert_id,
        kind,
        hoster,
        channel,
        state,
        attempts,
        error,
        created,
        sent,
        subject,
        next_at,
    ) in rows:
        try:
            item = json.loads(subject).get("item") or {}
        except (ValueError, TypeError, AttributeError):
            item = {}  # an unreadable row (old database): listed, failed by send
        item = item if isinstance(item, dict) else {}
        out.append(
            {
                "id": alert_id,
                "kind": kind,
                "hoster": hoster,
                "channel": channel,
                "state": state,
                "attempts": attempts,
                "last_error": error,
                "created_at": created,
                "sent_at": sent,
                "urls": [item["url"]] if item.get("url") else [],
                "next_attempt_at": next_at if state == "pending" else None,
            }
        )
    return out


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`alert_rows` with `urls` joined for a table cell."""
    return [{**r, "urls": " ".join(r["urls"])} for r in rows]


def send_summary(stats: DeliveryStats) -> str:
    """The text `alerts send` prints (with every rendered message on a dry run)."""
    lines = []
    if stats.dry_run:
        for r in stats.rendered:
            ids = ",".join(str(i) for i in r.alert_ids)
            lines += [
                f"--- {r.channel} to {r.hoster} <{r.to}> (alerts {ids}): {r.subject}",
                r.body.rstrip(),
                "",
            ]
        lines.append(
            f"dry run: {len(stats.rendered)} message(s) rendered, nothing sent, "
            f"{stats.deferred} alert(s) held by batch window or rate limit"
        )
        return "\n".join(lines)
    lines.append(
        f"alerts sent: {stats.sent} in {stats.messages} message(s); "
        f"failed: {stats.failed}; retry later: {stats.retrying}; "
        f"held by batch window or rate limit: {stats.deferred}; "
        f"attempts: {stats.attempts}"
    )
    if stats.failed:
        lines.append("see `ntd-monitor alerts list` for the errors")
    return "\n".join(lines)
