"""Webhook secrets for `hosters secret NAME`: a new Standard Webhooks secret (`whsec_...`),
printed once with where it goes; stored nowhere (only in the environment variable the hoster
registry names)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlite_utils import Database

from monitor.alerts.webhook import generate_secret


@dataclass(frozen=True)
class WebhookSecret:
    hoster: str
    secret: str  # whsec_<base64>: shown once, never stored
    env: str  # the environment variable that must hold it
    env_named: bool  # False: the registry names no variable yet (a suggestion)
    scheme: str  # the hoster's webhook_scheme


def new_webhook_secret(db: Database, name: str) -> WebhookSecret:
    """A new `whsec_` secret for hoster `name`, with the variable it belongs in (ValueError
    when there is no such hoster)."""
    row = db.execute(
        "SELECT name, webhook_secret_env, webhook_scheme FROM hosters WHERE name = ?", [name]
    ).fetchone()
    if row is None:
        raise ValueError(f"no hoster named {name!r} (see `ntd-monitor hosters list`)")
    env = row[1] or "NTD_WEBHOOK_" + (
        re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") or "HOSTER"
    )
    return WebhookSecret(row[0], generate_secret(), env, bool(row[1]), row[2] or "standard")


def secret_instructions(found: WebhookSecret) -> list[str]:
    """What `hosters secret` prints: the secret once, and where it goes."""
    lines = [
        f"Standard Webhooks secret for {found.hoster} (shown once; ntd-monitor never stores it):",
        "",
        f"  {found.secret}",
        "",
        "1. Give it to the hoster's abuse desk for their receiver (e.g. the "
        "`standardwebhooks` library).",
        f"2. Set it where ntd-monitor runs:  export {found.env}='{found.secret}'",
        f"   While rotating, list the old and the new secret: "
        f"export {found.env}='whsec_OLD {found.secret}'",
    ]
    if not found.env_named:
        lines.append(
            f"3. The registry names no variable for {found.hoster} yet: add "
            f"webhook_secret_env={found.env} to its row and `hosters import` it."
        )
    if found.scheme != "standard":
        lines.append(
            f"Note: {found.hoster} uses the older {found.scheme} scheme; set "
            f"webhook_scheme=standard in its hosters CSV row to sign this way."
        )
    return lines
