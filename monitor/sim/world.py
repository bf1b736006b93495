"""The simulated hoster world: one aiohttp application serving every hoster of a plan.

Each hoster listens on its own loopback address (127.0.1.x, one shared free port; one hoster
may also be on [::1]), so server IPs, and through the sim DNS the ASNs, differ per hoster. The
world's clock is simulated: `set_now()` in Python or POST /__admin/clock {"now": ISO} on the
admin address (127.0.0.1 by default, same port) moves it, and every item answers per its script
(plan.phase_at). Bodies are rendered once per (item, variant) and cached. Video items
(monitor.sim.videos) are served as video/mp4 with byte ranges (206/416), except on a hoster with
`ranges = false`, which always sends the whole body; `video_stats` counts what was sent.

A scenario's CDN listens on its own address (127.0.2.x; its prefix and ASN announced in the sim
DNS): the items it fronts are reached only there, under a name per fronted site (`edge_host`,
pointing at the edge in the sim DNS); the edge forwards in-process to the origin hoster's answer
and adds its headers (`cf-ray`, `x-cdn`, `via`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.core import clock
from monitor.sim import images, pages, truth, videos
from monitor.sim.plan import ABSENT, ONLINE, Item, Plan, generate, noise_hit, phase_at
from monitor.sim.scenario import Hoster, Scenario, load

_HTML = "text/html"


@dataclass(frozen=True)
class Site:
    """One hoster as served: its routes (path -> item) and gallery members."""

    hoster: Hoster
    routes: dict[str, Item]
    galleries: dict[int, tuple[Item, ...]]


class World:
    """Every hoster of a scenario, served on loopback, following a simulated clock."""

    def __init__(
        self,
        scenario: Scenario | str | Path,
        *,
        now: datetime | str | None = None,
        port: int = 0,
        ipv6: bool = True,
        admin_host: str = "127.0.0.1",
        slow_seconds: float = 60.0,
        oversize_bytes: int = 64 * 2**20,
        canary: bytes | None = None,
        latency: float = 0.0,
    ) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load(scenario)
        self.latency = float(latency)  # seconds added to every hoster response
        self.plan: Plan = generate(self.scenario)
        self._items = self.plan.by_id()
        self._now = self.scenario.start if now is None else _when(now)
        self.port = port
        self.admin_host = admin_host
        self.slow_seconds = min(float(slow_seconds), 60.0)
        self.oversize_bytes = oversize_bytes
        self.canary = canary
        self.requests = 0
        self.video_stats = {"responses": 0, "partial": 0, "bytes": 0}  # video bodies sent
        self._want_v6 = ipv6 and any(h.ipv6 for h in self.scenario.hosters)
        self.ipv6 = False  # True once [::1] is bound
        self.sites: dict[str, Site] = {h.name: _site(h, self.plan) for h in self.scenario.hosters}
        self._by_ip: dict[str, Site] = {s.hoster.ip: s for s in self.sites.values()}
        self.cdn = self.scenario.cdn
        self._edge_sites: dict[str, Site] = {
            edge_host(self.scenario, it.hoster): self.sites[it.hoster]
            for it in self.plan.items
            if it.cdn
        }
        self._cache: dict[tuple[Any, ...], bytes] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._dns: Any = None

    # -- clock ----------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self._now

    def set_now(self, when: datetime | str) -> None:
        """Move the simulated clock (forwards or back)."""
        self._now = _when(when)
        self._sync_dns()

    def advance(self, delta: timedelta | str) -> datetime:
        """Step the clock by `delta` ("6h", "-1d" or a timedelta); returns the new time."""
        if isinstance(delta, str):
            text = delta.strip()
            step = clock.duration(text.lstrip("-"))
            delta = -step if text.startswith("-") else step
        self.set_now(self._now + delta)
        return self._now

    # -- addresses ------------------------------------------------------------------------------
    def base_url(self, hoster: str, *, v6: bool = False) -> str:
        host = "[::1]" if v6 and self.ipv6 else self.sites[hoster].hoster.ip
        return f"http://{host}:{self.port}"

    def url(self, item: Item | str) -> str:
        """The URL of an item (IP literal; dns_gone items use their hostname)."""
        it = self._items[item] if isinstance(item, str) else item
        if it.hostname:
            return f"http://{it.hostname}:{self.port}{it.path}"
        if it.cdn and self.cdn is not None:
            return f"http://{edge_host(self.scenario, it.hoster)}:{self.port}{it.path}"
        return self.base_url(it.hoster, v6=it.v6) + it.path

    def ip_url(self, item: Item | str) -> str:
        """The item's URL by IP literal, even for items that live on a hostname."""
        it = self._items[item] if isinstance(item, str) else item
        return self.base_url(it.hoster, v6=it.v6) + it.path

    def front_url(self, hoster: str) -> str:
        return self.base_url(hoster) + "/"

    def gallery_urls(self, hoster: str) -> list[str]:
        return [f"{self.base_url(hoster)}/g/{k}.html" for k in sorted(self.sites[hoster].galleries)]

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_host}:{self.port}"

    def item(self, item_id: str) -> Item:
        return self._items[item_id]

    # -- DNS ------------------------------------------------------------------------------------
    @property
    def dns(self) -> Any:
        """The attached CymruDNS, or None."""
        return self._dns

    def attach_dns(self, dns: Any) -> None:
        """Announce every hoster's prefix/ASN to a CymruDNS and keep dns_gone names in step."""
        owners = {h.asn for h in self.scenario.hosters if not h.prefix}
        for h in self.scenario.hosters:
            dns.announce(h.prefix or f"{h.ip}/32", [h.asn], cc=h.country)
            if h.ipv6:
                dns.announce("::1/128", [h.asn], cc=h.country)
            if not h.prefix or h.asn not in owners:
                dns.name_asn(h.asn, h.as_name, cc=h.country)
        if self.cdn is not None:
            dns.announce(self.cdn.prefix, [self.cdn.asn], cc=self.cdn.country)
            dns.name_asn(self.cdn.asn, self.cdn.as_name, cc=self.cdn.country)
            for name in self._edge_sites:  # the fronted sites' names point at the edge
                dns.add_host(name, [self.cdn.ip])
        self._dns = dns
        self._sync_dns()

    def _sync_dns(self) -> None:
        if self._dns is None:
            return
        for it in self.plan.items:
            if it.hostname:
                if phase_at(it, self._now) == "dns_gone":
                    self._dns.gone(it.hostname)
                else:
                    self._dns.add_host(it.hostname, [self.sites[it.hoster].hoster.ip])

    # -- bodies ---------------------------------------------------------------------------------
    def body(self, item: Item, variant: str = "image") -> bytes:
        """The bytes an item serves as `variant` (image, different, corrupt), cached."""
        key = (item.id, variant)
        data = self._cache.get(key)
        if data is None and item.is_video:
            data = self._video(item, variant)
            self._cache[key] = data
        elif data is None:
            if variant == "different":
                data = images.render(item.seed ^ 0x5A5A5A, item.fmt, canary=self.canary)
            elif variant == "corrupt":
                data = images.corrupt(item.seed)
            elif item.transform:
                data = images.render_transformed(
                    item.seed, item.transform, item.fmt, canary=self.canary
                )
            else:
                data = images.render(item.seed, item.fmt, canary=self.canary)
            self._cache[key] = data
        return data

    def _video(self, item: Item, variant: str) -> bytes:
        if variant == "different":
            return videos.render(item.seed ^ videos.DIFFERENT, canary=self.canary)
        if variant == "corrupt":
            return videos.corrupt(self.body(item), item.seed)
        if item.transform and item.of:
            original = self.body(self._items[item.of])
            return videos.render_transformed(
                original, item.transform, item.seed, canary=self.canary
            )
        return videos.render(item.seed, canary=self.canary)

    def _media(self, request: web.Request, site: Site, item: Item, body: bytes) -> web.Response:
        """An item's body as its format's type: a video with byte ranges where the hoster
        serves them (counted in video_stats)."""
        kind = images.CONTENT_TYPES[item.fmt]
        if not item.is_video:
            return web.Response(body=body, content_type=kind)
        answer = videos.respond(
            body, request.headers.get("Range"), ranges=site.hoster.ranges, content_type=kind
        )
        self.video_stats["responses"] += 1
        self.video_stats["partial"] += answer.status == 206
        self.video_stats["bytes"] += len(answer.body) if isinstance(answer.body, bytes) else 0
        return answer

    def placeholder(self, hoster: str) -> bytes:
        key = ("placeholder", hoster)
        if key not in self._cache:
            self._cache[key] = images.placeholder(hoster, canary=self.canary)
        return self._cache[key]

    def prerender(self) -> None:
        """Render every item's image now (benchmarks; otherwise bodies render on first use)."""
        for it in self.plan.items + self.plan.distractors:
            self.body(it)

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> World:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        edges = [self.cdn.ip] if self.cdn is not None else []
        socks, self.ipv6 = _bind_all(
            [self.admin_host] + [h.ip for h in self.scenario.hosters] + edges,
            self.port,
            self._want_v6,
        )
        self.port = socks[0].getsockname()[1]
        for sock in socks:
            await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> World:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- serving --------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        local = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        if self.cdn is not None and local == self.cdn.ip:
            return await self._at_edge(request)
        site = self._by_ip.get(local) or (self._v6_site() if local == "::1" else None)
        if site is None:
            return await self._admin(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        item = site.routes.get(request.path)
        if item is None:
            return self._page(site, request.path)
        return await self._serve(request, site, item)

    async def _at_edge(self, request: web.Request) -> web.StreamResponse:
        """The CDN's edge: forwards (in-process) every request for a fronted site's name to its
        origin hoster, as a reverse proxy forwards its customer's site (unknown paths get the
        origin's answer for them), and adds its own headers; any other name gets its 404."""
        assert self.cdn is not None
        head = {
            "cf-ray": f"{zlib.crc32(request.path.encode()) ^ self.requests:016x}-SIM",
            "x-cdn": self.cdn.name,
            "via": f"1.1 {self.cdn.as_name.lower()}",
        }
        site = self._edge_sites.get((request.host or "").rsplit(":", 1)[0].lower())
        if site is None:
            return web.Response(
                status=404, body=pages.not_found(self.cdn.name), content_type=_HTML, headers=head
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        item = site.routes.get(request.path)
        try:
            response = (
                self._page(site, request.path)
                if item is None
                else await self._serve(request, site, item)
            )
        except web.HTTPException as exc:  # the origin's redirects pass the edge too
            exc.headers.update(head)
            raise
        response.headers.update(head)
        return response

    async def _serve(self, request: web.Request, site: Site, item: Item) -> web.StreamResponse:
        phase = phase_at(item, self._now)
        if phase == ABSENT:
            return self._unknown(site)
        if phase == ONLINE:
            status = noise_hit(item, self._now, site.hoster.noise_rate)
            if status is not None:
                headers = {"Retry-After": "3600"} if status == 429 else None
                return web.Response(
                    status=status,
                    body=pages.not_found(site.hoster.name),
                    content_type=_HTML,
                    headers=headers,
                )
            return self._media(request, site, item, self.body(item))
        return await self._after(request, site, item, phase)

    def _v6_site(self) -> Site | None:
        return next((s for s in self.sites.values() if s.hoster.ipv6), None)

    async def _after(
        self, request: web.Request, site: Site, item: Item, phase: str
    ) -> web.StreamResponse:
        name = site.hoster.name
        if phase in ("404", "410", "451", "dns_gone"):
            status = 404 if phase == "dns_gone" else int(phase)
            return web.Response(status=status, body=pages.removed(name), content_type=_HTML)
        if phase == "placeholder":
            return web.Response(body=self.placeholder(name), content_type="image/png")
        if phase == "redirect_front":
            raise web.HTTPFound("/")
        if phase == "redirect_removed":
            raise web.HTTPFound("/removed.html")
        if phase == "different_image":
            return self._media(request, site, item, self.body(item, "different"))
        if phase == "html":
            return web.Response(body=pages.html_instead(name), content_type=_HTML)
        if phase == "bomb":
            return web.Response(body=self._bomb(), content_type="image/png")
        if phase == "corrupt" and item.is_video:
            return self._media(request, site, item, self.body(item, "corrupt"))
        if phase == "corrupt":
            return web.Response(body=self.body(item, "corrupt"), content_type="image/jpeg")
        if phase == "reset":
            return _reset(request)
        if phase == "slow":
            try:
                await asyncio.wait_for(self._stopping.wait(), self.slow_seconds)
            except TimeoutError:
                pass
            return web.Response(status=504, body=pages.not_found(name), content_type=_HTML)
        if phase == "oversize":
            return await self._oversize(request, item)
        raise AssertionError(f"unhandled phase {phase}")

    def _bomb(self) -> bytes:
        if ("bomb",) not in self._cache:
            self._cache[("bomb",)] = images.bomb()
        return self._cache[("bomb",)]

    async def _oversize(self, request: web.Request, item: Item) -> web.StreamResponse:
        kind = "video/mp4" if item.is_video else "image/jpeg"
        resp = web.StreamResponse(headers={"Content-Type": kind})
        resp.content_length = self.oversize_bytes
        await resp.prepare(request)
        head = self.body(item)[: 64 * 1024]
        chunk = bytes(256 * 1024)
        sent = 0
        try:
            await resp.write(head)
            sent = len(head)
            while sent < self.oversize_bytes and not self._stopping.is_set():
                part = chunk[: self.oversize_bytes - sent]
                await resp.write(part)
                sent += len(part)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        return resp

    def _page(self, site: Site, path: str) -> web.StreamResponse:
        name = site.hoster.name
        if path == "/":
            online = [
                it
                for it in site.routes.values()
                if not it.is_video and phase_at(it, self._now) == ONLINE
            ]
            og = online[0].path if online else None
            return web.Response(
                body=pages.front(name, site.hoster.galleries, og), content_type=_HTML
            )
        if path.startswith("/g/") and path.endswith(".html"):
            try:
                k = int(path[3:-5])
            except ValueError:
                k = -1
            if k in site.galleries:
                paths = [it.path for it in site.galleries[k] if phase_at(it, self._now) == ONLINE]
                return web.Response(body=pages.gallery(name, k, paths), content_type=_HTML)
        if path == "/removed.html":
            return web.Response(body=pages.removed(name), content_type=_HTML)
        if path == "/robots.txt":
            return web.Response(body=pages.ROBOTS, content_type="text/plain")
        if path == "/static/thumb.png":
            return web.Response(body=self.placeholder("thumbnail"), content_type="image/png")
        return self._unknown(site)

    def _unknown(self, site: Site) -> web.Response:
        """The hoster's usual answer for a path that does not exist."""
        name = site.hoster.name
        if site.hoster.unknown == "placeholder":
            return web.Response(body=self.placeholder(name), content_type="image/png")
        if site.hoster.unknown == "soft404":
            return web.Response(body=pages.not_found(name), content_type=_HTML)
        return web.Response(status=404, body=pages.not_found(name), content_type=_HTML)

    async def _admin(self, request: web.Request) -> web.StreamResponse:

        if request.path == "/__admin/clock":
            if request.method == "POST":
                try:
                    data = await request.json()
                    if "now" in data:
                        self.set_now(data["now"])
                    elif "advance" in data:
                        self.advance(str(data["advance"]))
                    else:
                        raise ValueError("give now or advance")
                except (ValueError, TypeError, clock.TimeFormatError) as exc:
                    return web.json_response({"error": str(exc)}, status=400)
            return web.json_response({"now": clock.iso(self._now)})
        if request.path == "/__admin/truth":
            return web.json_response(truth.build(self))
        if request.path == "/__admin/stats":
            return web.json_response(
                {"requests": self.requests, "now": clock.iso(self._now), "video": self.video_stats}
            )
        return web.json_response({"error": "not found"}, status=404)


def _when(value: datetime | str) -> datetime:
    return clock.parse(value) if isinstance(value, str) else clock.to_utc(value)


def edge_host(scenario: Scenario, hoster: str) -> str:
    """The name under which the CDN fronts `hoster`'s site (resolves to the CDN's edge in the
    sim DNS): a neutral token, as a customer's domain says nothing of its origin hoster."""
    index = next(i for i, h in enumerate(scenario.hosters) if h.name == hoster)
    cdn = re.sub(r"[^a-z0-9]+", "-", (scenario.cdn.name if scenario.cdn else "cdn").lower())
    return f"site{index + 1}.{cdn.strip('-')}.{scenario.test_domain}"


def _site(hoster: Hoster, plan: Plan) -> Site:
    mine = [it for it in plan.items + plan.distractors if it.hoster == hoster.name]
    galleries: dict[int, list[Item]] = {k: [] for k in range(max(1, hoster.galleries))}
    for it in mine:
        if not it.cdn:  # a fronted item is linked through the CDN only
            galleries.setdefault(it.gallery, []).append(it)
    return Site(
        hoster=hoster,
        routes={it.path: it for it in mine},
        galleries={k: tuple(v) for k, v in galleries.items()},
    )


def _reset(request: web.Request) -> web.StreamResponse:
    """Abort the connection with a TCP RST (SO_LINGER 0, then close)."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise asyncio.CancelledError()


def _bind_all(hosts: list[str], port: int, v6: bool) -> tuple[list[socket.socket], bool]:
    """Listening sockets on every host, all on one port (a free one when port is 0)."""
    for _ in range(50):
        socks: list[socket.socket] = []
        try:
            first = _listen(socket.AF_INET, hosts[0], port)
            socks.append(first)
            chosen = first.getsockname()[1]
            socks += [_listen(socket.AF_INET, h, chosen) for h in hosts[1:]]
        except OSError:
            for s in socks:
                s.close()
            if port:
                raise
            continue
        have_v6 = False
        if v6:
            try:
                socks.append(_listen(socket.AF_INET6, "::1", chosen))
                have_v6 = True
            except OSError:
                pass
        return socks, have_v6
    raise OSError("no free port shared by every world address")


def _listen(family: int, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
