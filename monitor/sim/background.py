"""The simulated world on its own thread and event loop, for callers that are not asyncio.

Scrapy runs on Twisted, the CLI demo is synchronous: `SimThread` starts a World (and optionally
a WebhookReceiver) in a daemon thread with a private asyncio loop and stops it cleanly. The
world's clock may be moved from any thread (`sim.world.set_now(...)`): it is a plain attribute.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from monitor.sim.receivers import WebhookReceiver
from monitor.sim.world import World


class SimThread:
    def __init__(self, world: World, receiver: WebhookReceiver | None = None) -> None:
        self.world, self.receiver = world, receiver
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sim-world", daemon=True
        )

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the world's loop and wait for its result."""
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def start(self) -> SimThread:
        self._thread.start()
        self.call(self.world.start())
        if self.receiver is not None:
            self.call(self.receiver.start())
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self.receiver is not None:
            self.call(self.receiver.stop())
        self.call(self.world.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> SimThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
