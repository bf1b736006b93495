"""What hosters' abuse desks run, simulated: a signed-webhook receiver and an SMTP sink.

WebhookReceiver accepts POSTs on any path and checks the signature with the secret of that path
(or the default secret): a Standard Webhooks request (`webhook-signature`) with the
`standardwebhooks` library when it is installed (the receivers' own tool; else with
`verify_standard` here), an older one with `X-Signature` (hex HMAC-SHA256 over
f"{X-Timestamp}.{body}"). It records every delivery and counts those the library verified.
`fail_next(n, mode)` makes the next n requests fail: 500, 400, 429 or "slow" (answers only after
`slow_seconds`). SmtpSink is an aiosmtpd server on loopback that records messages and validates
each JSON attachment as XARF (monitor.alerts.xarf_check: the `xarf` package and its schemas).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import hashlib
import hmac
import json
import socket
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cached_property
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from monitor.alerts.xarf_check import XarfCheck, check_xarf


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any  # parsed body, or None when it is not JSON
    verified: bool  # signature valid for the path's secret
    status: int  # what the receiver answered
    scheme: str = "x-signature"  # "standard" (webhook-signature) or "x-signature"
    by_library: bool = False  # verified by the standardwebhooks library itself


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender must put in X-Signature."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_standard(secret: str, headers: Any, body: bytes, tolerance: float = 300.0) -> bool:
    """Standard Webhooks verification without the library: any `v1,` signature in the
    space-separated list matches HMAC-SHA256(key, f"{id}.{timestamp}.{body}"), and the
    timestamp is within `tolerance` seconds of now."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "")
    text = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not (msg_id and stamp.isdigit() and key) or abs(time.time() - int(stamp)) > tolerance:
        return False
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for entry in given.split():
        version, _, value = entry.partition(",")
        try:
            if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
                return True
        except (binascii.Error, ValueError):
            continue
    return False


def verify_with_library(secret: str, headers: Any, body: bytes) -> bool | None:
    """Verification by the `standardwebhooks` library (None: the library is not installed)."""
    try:  # a test extra: the receivers' view, optional for the demo
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError:
        return None
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error):
        return False
    except Exception:  # noqa: BLE001 - a malformed header makes the library raise anything
        return False
    return True


class WebhookReceiver:
    """An aiohttp server on loopback recording signed webhook deliveries."""

    def __init__(
        self,
        secrets: dict[str, str] | None = None,
        *,
        default_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_seconds: float = 30.0,
    ) -> None:
        self.secrets = dict(secrets or {})  # path -> secret
        self.default_secret = default_secret
        self.host, self.port = host, port
        self.slow_seconds = slow_seconds
        self.deliveries: list[Delivery] = []
        self._failures: list[int | str] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail_next(self, n: int = 1, mode: int | str = 500) -> None:
        """The next `n` requests fail with status `mode` (500, 400, 429...) or "slow"."""
        self._failures.extend([mode] * n)

    def verified(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.verified and d.status < 300]

    def library_verified(self) -> list[Delivery]:
        """Accepted deliveries the standardwebhooks library verified."""
        return [d for d in self.verified() if d.by_library]

    def _verify(self, request: web.Request, body: bytes) -> tuple[bool, str, bool]:
        """(verified, scheme, verified by the standardwebhooks library)."""
        secret = self.secrets.get(request.path, self.default_secret)
        if "webhook-signature" in request.headers:
            if secret is None:
                return False, "standard", False
            by_library = verify_with_library(secret, request.headers, body)
            if by_library is not None:
                return by_library, "standard", by_library
            return verify_standard(secret, request.headers, body), "standard", False
        stamp = request.headers.get("X-Timestamp")
        given = request.headers.get("X-Signature", "")
        if secret is None or stamp is None:
            return False, "x-signature", False
        if given.startswith("sha256="):
            given = given[7:]
        return (hmac.compare_digest(sign(secret, stamp, body), given.lower()), "x-signature", False)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        mode = self._failures.pop(0) if self._failures else None
        if mode == "slow":
            try:
                await asyncio.wait_for(self._stopping.wait(), self.slow_seconds)
            except TimeoutError:
                pass
        status = int(mode) if isinstance(mode, int) else 200
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        ok, scheme, by_library = self._verify(request, body)
        if status == 200 and not ok:
            status = 401
        self.deliveries.append(
            Delivery(
                request.path, dict(request.headers), body, parsed, ok, status, scheme, by_library
            )
        )
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.json_response({"ok": status == 200}, status=status, headers=headers)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)  # asyncio.Server (AbstractServer lacks it)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage = field(compare=False)

    @cached_property
    def xarf(self) -> tuple[XarfCheck, ...]:
        """Each JSON attachment, validated as XARF (on first use: never inside the SMTP
        session, where a slow first schema load would time the sender out)."""
        return tuple(
            check_xarf(_payload(part))
            for part in self.message.iter_attachments()
            if part.get_content_type() == "application/json"
        )


class _Recorder:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = (
            envelope.content
            if isinstance(envelope.content, bytes)
            else str(envelope.content).encode()
        )
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.sink.messages.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), data, msg))  # type: ignore[arg-type]
        return "250 OK"


def _payload(part: Any) -> bytes:
    """A MIME part's decoded bytes (b"" when it has none)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SmtpSink:
    """An SMTP server on loopback that records every message (aiosmtpd, own thread)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port or free_port(host)
        self.messages: list[Mail] = []
        self._controller = Controller(_Recorder(self), hostname=host, port=self.port)
        self._running = False

    def xarf_checks(self) -> list[XarfCheck]:
        """Every XARF attachment received, with its validation result."""
        return [c for m in self.messages for c in m.xarf]

    def start(self) -> SmtpSink:
        self._controller.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
