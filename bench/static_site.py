"""A minimal HTTP/1.1 server for benchmarks: a fixed dict of path -> (content type, body)
served from memory on one address, keep-alive, GET and HEAD only.

Why by hand: a benchmark's simulated hoster shares the machine's two cores with what is being
measured. aiohttp's web server (monitor.sim.world) costs about 0.45 ms of CPU per request on
these machines, which the crawl then cannot use; a real hoster is remote and costs the crawl
nothing. This protocol answers from a dict for a fraction of that. It serves only what it is
given (copied out of a running World), so the bytes the crawl fetches are the same.
"""

from __future__ import annotations

import asyncio

Routes = dict[str, tuple[bytes, bytes]]  # path -> (content type, body)
_NOT_FOUND = (b"404 Not Found", b"text/plain", b"not found")


class _Static(asyncio.Protocol):
    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            line = head.split(b"\r\n", 1)[0].split()
            if len(line) != 3:
                self.transport.close()
                return
            method, target = line[0], line[1].decode("latin-1").split("?", 1)[0]
            found = self.routes.get(target)
            status, ctype, body = _NOT_FOUND if found is None else (b"200 OK", *found)
            head = b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
                status,
                ctype,
                len(body),
            )
            # head and body in one write, as servers send a small file (writev / sendfile)
            self.transport.write(head if method == b"HEAD" else head + body)


async def serve(host: str, port: int, routes: Routes) -> asyncio.Server:
    """Start serving `routes` on host:port (keep it running until `close()`)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Static(routes), host, port, reuse_address=True)
