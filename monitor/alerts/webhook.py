"""The webhook channel: the signed JSON body of one alert and one POST of it (aiohttp).

Body: the alert JSON schema of docs/alerts.md (`schema`, `alert_id`, `idempotency_key`, `kind`,
`hoster`, `created_at`, `ask`, `items`), compact, sorted keys, UTF-8.

Signing, per hoster (`hosters.webhook_scheme`):
- `standard` (the default): the Standard Webhooks specification. `webhook-id` is the alert's
  idempotency key (the same on every retry), `webhook-timestamp` the wall-clock send time in unix
  seconds (a freshness value receivers check against their own clock, so never the simulated
  one), `webhook-signature` a space-separated list of `v1,<base64 HMAC-SHA256>` over
  f"{id}.{timestamp}.{body}", one per live secret. Secrets are `whsec_<base64>`.
- `x-signature` (the older scheme, opt-in): `X-Timestamp` and `X-Signature` = hex HMAC-SHA256
  over f"{timestamp}.{body}" with the secret as UTF-8 text.
The secret is read from the environment variable the registry names (never stored); it may hold
two secrets separated by a space during rotation: `standard` signs with both, `x-signature`
with the first. Redirects are not followed; a response body is never read into an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets as _random
from typing import Any

import aiohttp

from monitor.alerts import items
from monitor.alerts.guard import WebhookRefused
from monitor.alerts.policy import Attempt, Verdict, http_verdict
from monitor.core.config import AlertsConfig

SCHEMES = ("standard", "x-signature")
PREFIX = "whsec_"


class SecretMissing(RuntimeError):
    """The hoster's webhook secret is not available or not usable."""


def generate_secret(size: int = 32) -> str:
    """A new Standard Webhooks secret: `whsec_` and the base64 of `size` random bytes."""
    return PREFIX + base64.b64encode(_random.token_bytes(size)).decode()


def secrets(env_name: str | None, hoster: str) -> tuple[str, ...]:
    """The live secrets in the hoster's environment variable (one, or two while rotating)."""
    if not env_name:
        raise SecretMissing(f"hoster {hoster} has a webhook_url but no webhook_secret_env")
    value = os.environ.get(env_name, "")
    found = tuple(value.split())
    if not found:
        raise SecretMissing(f"webhook secret env var {env_name} (hoster {hoster}) is not set")
    return found


def secret(env_name: str | None, hoster: str) -> str:
    """The first live secret (the `x-signature` scheme signs with one)."""
    return secrets(env_name, hoster)[0]


def standard_key(value: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_<base64>`; the prefix is optional)."""
    text = value[len(PREFIX) :] if value.startswith(PREFIX) else value
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise SecretMissing(
            "webhook secret is not a Standard Webhooks secret (whsec_<base64>); "
            "make one with `ntd-monitor hosters secret NAME`"
        )
    return key


def body(
    *,
    alert_id: int,
    idempotency_key: str,
    kind: str,
    hoster: str,
    created_at: str,
    item: dict[str, Any],
    config: AlertsConfig,
) -> bytes:
    payload = {
        "schema": items.SCHEMA,
        "alert_id": alert_id,
        "idempotency_key": idempotency_key,
        "kind": kind,
        "hoster": hoster,
        "created_at": created_at,
        "reply_to": config.from_address,
        "ask": items.ask(config),
        "items": [item],
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret_value: str, timestamp: int, data: bytes) -> str:
    """The `x-signature` scheme: hex HMAC-SHA256 over f"{timestamp}.{body}"."""
    message = str(timestamp).encode() + b"." + data
    return hmac.new(secret_value.encode(), message, hashlib.sha256).hexdigest()


def sign_standard(keys: tuple[bytes, ...], msg_id: str, timestamp: int, data: bytes) -> str:
    """The Standard Webhooks `webhook-signature` value: one `v1,<base64>` per key."""
    message = f"{msg_id}.{timestamp}.".encode() + data
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        for key in keys
    )


def headers(
    data: bytes,
    scheme: str,
    live: tuple[str, ...],
    timestamp: int,
    idempotency_key: str,
    user_agent: str,
) -> dict[str, str]:
    """The request headers of one POST under the hoster's scheme (raises SecretMissing)."""
    head = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "Idempotency-Key": idempotency_key,
    }
    if scheme == "x-signature":
        head["X-Timestamp"] = str(timestamp)
        head["X-Signature"] = sign(live[0], timestamp, data)
        return head
    if scheme != "standard":
        raise SecretMissing(f"unknown webhook_scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    keys = tuple(standard_key(s) for s in live)
    head["webhook-id"] = idempotency_key
    head["webhook-timestamp"] = str(timestamp)
    head["webhook-signature"] = sign_standard(keys, idempotency_key, timestamp, data)
    return head


async def post(
    session: aiohttp.ClientSession, url: str, data: bytes, head: dict[str, str], timeout: float
) -> Attempt:
    """One POST; its verdict (never raises for network trouble or a refused address)."""
    try:
        async with session.post(
            url,
            data=data,
            headers=head,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            return http_verdict(resp.status, resp.reason, resp.headers.get("Retry-After"))
    except WebhookRefused as exc:
        return Attempt(Verdict.FAIL, str(exc))
    except TimeoutError:
        return Attempt(Verdict.RETRY, f"timeout after {timeout:g}s")
    except aiohttp.InvalidURL:
        return Attempt(Verdict.FAIL, "invalid webhook URL")
    except aiohttp.ClientError as exc:
        cause = exc.__cause__ or getattr(exc, "os_error", None)
        if isinstance(cause, WebhookRefused):
            return Attempt(Verdict.FAIL, str(cause))
        return Attempt(Verdict.RETRY, f"connection failed: {type(exc).__name__}")
