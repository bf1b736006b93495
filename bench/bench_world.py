"""Benchmark: the simulated hoster world vs. aiohttp's static route serving the same bytes.

A server process runs both the world (bench scenario, clock three days in: a mix of online
images, removals, placeholders, redirects, galleries, front pages, unknown paths) and an aiohttp
static file route holding exactly the bytes the world answered. The client process sends the same
mixed request list to each, in alternating rounds, with keep-alive connections, and prints the
median requests/s of both and the ratio world/static.

    python bench/bench_world.py            # 20k requests per round, 3 rounds
    python bench/bench_world.py --quick    # 2k requests, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

CONCURRENCY = 32


def _server(conn, tmp: str) -> None:
    """Server process: world + static route on loopback; sends URL lists, then idles."""
    from monitor.sim.world import World

    async def main() -> None:
        world = World("bench", ipv6=False)
        world.set_now(world.scenario.start + timedelta(days=3))
        world.prerender()
        await world.start()
        rnd = random.Random(1)
        urls: list[str] = []
        items = list(world.plan.items)
        for _ in range(4000):
            roll = rnd.random()
            item = rnd.choice(items)
            if roll < 0.7:
                urls.append(world.ip_url(item))
            elif roll < 0.8:
                urls.append(rnd.choice(world.gallery_urls(item.hoster)))
            elif roll < 0.9:
                urls.append(world.front_url(item.hoster))
            else:
                urls.append(world.base_url(item.hoster) + f"/missing/{rnd.getrandbits(32)}.jpg")
        # the static server gets exactly the bytes the world answers with 200
        root = Path(tmp)
        static_urls = []
        async with aiohttp.ClientSession() as s:
            for url in dict.fromkeys(urls):
                async with s.get(url, allow_redirects=False) as resp:
                    body = await resp.read()
                    status = resp.status
                host = url.split("/")[2].replace(":", "_")
                rel = host + "/" + (url.split("/", 3)[3] or "index.html")
                if status == 200:
                    path = root / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(body)
                static_urls.append((url, rel))
        mapping = dict(static_urls)
        app = web.Application()
        app.router.add_static("/", root)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        static = [f"http://127.0.0.1:{port}/{mapping[u]}" for u in urls]
        conn.send((urls, static))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()
        await world.stop()

    asyncio.run(main())


async def _round(urls: list[str], total: int) -> float:
    """Requests/s for `total` requests cycling through `urls`."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, force_close=False)
    todo = iter(urls[: min(len(urls), 500)])  # warm connections and caches
    async with aiohttp.ClientSession(connector=connector) as s:

        async def worker() -> None:
            for url in todo:
                async with s.get(url, allow_redirects=False) as resp:
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        todo = iter([urls[i % len(urls)] for i in range(total)])
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return total / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2k requests, one round")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    total, rounds = (2000, 1) if args.quick else (args.requests, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        parent, child = mp.Pipe()
        proc = mp.get_context("spawn").Process(target=_server, args=(child, tmp), daemon=True)
        proc.start()
        while not parent.poll(1):
            if not proc.is_alive():
                raise SystemExit("the server process died")
        world_urls, static_urls = parent.recv()
        world, static = [], []
        for _ in range(rounds):
            world.append(asyncio.run(_round(world_urls, total)))
            static.append(asyncio.run(_round(static_urls, total)))
        parent.send("stop")
        proc.join(10)
    w, s = statistics.median(world), statistics.median(static)
    print(f"world:  {w:8.0f} requests/s  ({total} mixed requests, {rounds} rounds, median)")
    print(f"static: {s:8.0f} requests/s  (aiohttp static route, same bytes)")
    print(f"ratio world/static: {w / s:.2f}")


if __name__ == "__main__":
    main()
