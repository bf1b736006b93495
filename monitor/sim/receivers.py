"""What hosters' abuse desks run, simulated: a signed-webhook receiver and an SMTP sink.

WebhookReceiver accepts POSTs on any path, checks `X-Signature` (hex HMAC-SHA256 over
f"{X-Timestamp}.{body}" with the secret of that path, or the default secret) and records every
delivery. `fail_next(n, mode)` makes the next n requests fail: 500, 400, 429 or "slow" (answers
only after `slow_seconds`). SmtpSink is an aiosmtpd server on loopback that records messages.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import json
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any                     # parsed body, or None when it is not JSON
    verified: bool                # signature valid for the path's secret
    status: int                   # what the receiver answered


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender must put in X-Signature."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookReceiver:
    """An aiohttp server on loopback recording signed webhook deliveries."""

    def __init__(self, secrets: dict[str, str] | None = None, *, default_secret: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, slow_seconds: float = 30.0) -> None:
        self.secrets = dict(secrets or {})      # path -> secret
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

    def _verify(self, request: web.Request, body: bytes) -> bool:
        secret = self.secrets.get(request.path, self.default_secret)
        stamp = request.headers.get("X-Timestamp")
        given = request.headers.get("X-Signature", "")
        if secret is None or stamp is None:
            return False
        if given.startswith("sha256="):
            given = given[7:]
        return hmac.compare_digest(sign(secret, stamp, body), given.lower())

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
        ok = self._verify(request, body)
        if status == 200 and not ok:
            status = 401
        self.deliveries.append(Delivery(request.path, dict(request.headers), body, parsed, ok,
                                        status))
        headers = {"Retry-After": "1"} if status == 429 else None
        return web.json_response({"ok": status == 200}, status=status, headers=headers)

    async def start(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and server.sockets:      # type: ignore[union-attr]
            self.port = server.sockets[0].getsockname()[1]   # type: ignore[union-attr]
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


class _Recorder:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = envelope.content if isinstance(envelope.content, bytes) else \
            str(envelope.content).encode()
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.sink.messages.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), data,
                                       msg))  # type: ignore[arg-type]
        return "250 OK"


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
