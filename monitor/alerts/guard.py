"""Where a webhook may go: only to public addresses (or the configured allow list).

The crawler's SSRF rule (`monitor.core.netguard.refusal`) applied to webhook delivery. A hoster's
`webhook_url` is data from a CSV, so `http://169.254.169.254/...` or an internal name must not
be POSTed to. The check sits inside the connection: `GuardedResolver` wraps aiohttp's default
resolver and drops every refused address from the answer, so the address connected to is an
address that passed the check (no DNS rebinding between check and connect). An IP literal
never reaches a resolver in aiohttp, so `literal_refusal` checks it before the POST.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.core.netguard import NetworkRefused, check_url_host, refusal


class WebhookRefused(NetworkRefused):
    """The webhook URL leads only to refused (non-public, not allowed) addresses."""


def literal_refusal(url: str, allow: tuple[str, ...]) -> str | None:
    """Why a webhook URL is refused before any lookup: an IP-literal (or ambiguous numeric)
    host that is not public and not allowed. None: allowed, or a name (checked on resolving)."""
    try:
        check_url_host(url, tuple(allow))
    except NetworkRefused as exc:
        return f"webhook URL refused: {exc}"
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, with every refused address removed from its answers."""

    def __init__(self, allow: tuple[str, ...] = (), inner: AbstractResolver | None = None) -> None:
        self.allow = tuple(allow)
        self.inner = inner or aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        kept, refused = [], []
        for answer in answers:
            reason = refusal(str(answer["host"]), self.allow)
            if reason is None:
                kept.append(answer)
            else:
                refused.append(f"{answer['host']} ({reason})")
        if not kept:
            raise WebhookRefused(
                f"webhook host {host} refused: it resolves only to "
                f"non-public addresses: {', '.join(refused) or 'none'}"
            )
        return kept

    async def close(self) -> None:
        await self.inner.close()


def connector(allow: tuple[str, ...] = (), **kwargs: Any) -> aiohttp.TCPConnector:
    """A connector that connects only to addresses the guard lets through."""
    return aiohttp.TCPConnector(resolver=GuardedResolver(allow), **kwargs)
