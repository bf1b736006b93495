"""The webhook channel: the signed JSON body of one alert and one POST of it (aiohttp).

Body: the alert JSON schema of docs/alerts.md (`schema`, `alert_id`, `idempotency_key`, `kind`,
`hoster`, `created_at`, `ask`, `items`), compact, sorted keys. Headers: `X-Timestamp` (unix
seconds), `X-Signature` = hex HMAC-SHA256 over f"{timestamp}.{body}" with the hoster's secret,
read from the environment variable the registry names (never stored), `Idempotency-Key`.
Redirects are not followed; a response body is never read into an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

import aiohttp

from monitor.alerts import items
from monitor.alerts.policy import Attempt, Verdict, http_verdict
from monitor.config import AlertsConfig


class SecretMissing(RuntimeError):
    """The hoster's webhook secret is not available."""


def secret(env_name: str | None, hoster: str) -> str:
    if not env_name:
        raise SecretMissing(f"hoster {hoster} has a webhook_url but no webhook_secret_env")
    value = os.environ.get(env_name)
    if not value:
        raise SecretMissing(f"webhook secret env var {env_name} (hoster {hoster}) is not set")
    return value


def body(*, alert_id: int, idempotency_key: str, kind: str, hoster: str, created_at: str,
         item: dict[str, Any], config: AlertsConfig) -> bytes:
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
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def sign(secret_value: str, timestamp: int, data: bytes) -> str:
    message = str(timestamp).encode() + b"." + data
    return hmac.new(secret_value.encode(), message, hashlib.sha256).hexdigest()


def headers(data: bytes, secret_value: str, timestamp: int, idempotency_key: str,
            user_agent: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "X-Timestamp": str(timestamp),
        "X-Signature": sign(secret_value, timestamp, data),
        "Idempotency-Key": idempotency_key,
    }


async def post(session: aiohttp.ClientSession, url: str, data: bytes, head: dict[str, str],
               timeout: float) -> Attempt:
    """One POST; its verdict (never raises for network trouble)."""
    try:
        async with session.post(url, data=data, headers=head, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return http_verdict(resp.status, resp.reason, resp.headers.get("Retry-After"))
    except TimeoutError:
        return Attempt(Verdict.RETRY, f"timeout after {timeout:g}s")
    except aiohttp.InvalidURL:
        return Attempt(Verdict.FAIL, f"invalid webhook URL {url}")
    except aiohttp.ClientError as exc:
        return Attempt(Verdict.RETRY, f"connection failed: {type(exc).__name__}")
