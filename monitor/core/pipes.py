"""A child Python process served over its stdin/stdout pipes by the event loop.

The crawl hands CPU-heavy work (hashing fetched bytes, matching hashes against a big index) to
child processes so its one event-loop thread stays free for the network. Frames go both ways as
(id, length) plus that many bytes; the child answers each request in order with the same id.
The parent side (`Child`) runs no helper threads: with a ProcessPoolExecutor, its manager and
queue-feeder threads took the GIL from the event loop on every call (measured: ~0.8 ms of
crawl-process CPU per image). Payloads travel in memory (a pipe) only; nothing touches the disk.

`Child.spawn(module, function)` starts `python -c "from module import function; function()"`,
where the function calls `serve(handle)`; `serve` warms up, sends a ready frame (whose payload
`spawn` keeps as `Child.ready`), then answers every request with `handle(payload)`. A child that
dies fails its pending calls with `ChildGone`; the caller decides whether to retry elsewhere.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HEAD = struct.Struct("!IQ")  # request id, payload length
_ROOT = str(Path(__file__).resolve().parent.parent)
# Pipes enlarged (Linux) so a parent writes a request of up to this size in one syscall instead
# of one per chunk as the child drains it.
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) process `pid` has used so far, from /proc (Linux; None
    elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ChildGone(Exception):
    """The child process holding a request died (or was closed) before answering."""


class Child:
    """One child process and the event loop's two pipes to it (no threads, no child watcher:
    the process is reaped when it is closed)."""

    def __init__(
        self,
        popen: subprocess.Popen,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transports: tuple,
    ) -> None:
        self.popen = popen
        self.reader = reader
        self.writer = writer
        self.transports = transports
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.ready = b""
        self.dead = False
        self._ids = itertools.count(1)
        self._task: asyncio.Task | None = None
        self._cpu_at_close: float | None = None
        self._cpu_at_ready = 0.0

    @classmethod
    async def spawn(cls, module: str, function: str) -> Child:
        """Start the child and wait for its ready frame."""
        code = (
            f"import sys; sys.path.insert(0, {_ROOT!r}); "
            f"from {module} import {function}; {function}()"
        )
        popen = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        transports: list = []
        try:  # until the child is ready; cancelled or failed, nothing is left running
            if sys.platform.startswith("linux"):
                for pipe in (popen.stdin, popen.stdout):
                    if pipe is None:
                        continue
                    try:
                        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)
                    except OSError:  # above /proc/sys/fs/pipe-max-size: the default works
                        pass
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=1 << 20)
            rtransport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), popen.stdout
            )
            transports.append(rtransport)
            wtransport, protocol = await loop.connect_write_pipe(
                asyncio.streams.FlowControlMixin, popen.stdin
            )
            transports.append(wtransport)
            writer = asyncio.StreamWriter(wtransport, protocol, None, loop)
            child = cls(popen, reader, writer, (wtransport, rtransport))
            _, size = HEAD.unpack(await reader.readexactly(HEAD.size))
            child.ready = await reader.readexactly(size)
            child._cpu_at_ready = process_cpu(popen.pid) or 0.0
        except BaseException:
            for transport in transports:
                transport.close()
            for pipe in (popen.stdin, popen.stdout):
                if pipe is not None:
                    pipe.close()
            if popen.poll() is None:
                popen.kill()
                popen.wait()
            raise
        child._task = asyncio.ensure_future(child._read())
        return child

    @property
    def alive(self) -> bool:
        return not (self.dead or self.writer.is_closing())

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the child has used since it was ready (its start-up and
        imports left out), read from /proc (Linux; None elsewhere or when it is gone); after
        `close`, what it had used by then."""
        if self._cpu_at_close is not None:
            return self._cpu_at_close
        total = process_cpu(self.pid)
        return None if total is None else max(0.0, total - self._cpu_at_ready)

    async def call(self, *parts: bytes) -> bytes:
        """Send one request (its parts back to back) and return the child's answer;
        ChildGone if the child dies first."""
        if not self.alive:
            raise ChildGone("the child process has exited")
        ident = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        try:  # one write (one syscall when the pipe has room), not one per part
            self.writer.writelines([HEAD.pack(ident, sum(len(p) for p in parts)), *parts])
            await self.writer.drain()
            return await future
        except ConnectionError as exc:
            self.dead = True
            raise ChildGone(str(exc)) from None
        finally:
            self.pending.pop(ident, None)
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # retrieved: a dead child's ChildGone is raised above

    async def _read(self) -> None:
        try:
            while True:
                ident, size = HEAD.unpack(await self.reader.readexactly(HEAD.size))
                answer = await self.reader.readexactly(size)
                future = self.pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.dead = True
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ChildGone("the child process exited"))
            self.pending.clear()
            self.popen.poll()  # reap it if it has exited

    def close(self) -> None:
        if self._cpu_at_close is None and self.popen.returncode is None:
            self._cpu_at_close = self.cpu_seconds()
        self.dead = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ChildGone("the child process was closed"))
        for transport in self.transports:
            try:
                transport.close()
            except RuntimeError:  # its loop is closed already
                pass
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def serve(handle: Callable[[bytes], bytes], warm: Callable[[], bytes] | None = None) -> None:
    """A child's loop: warm up, say ready (with warm's bytes), then answer each request with
    handle(payload) until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us (EOF), not Ctrl-C
    inp = os.fdopen(os.dup(0), "rb", buffering=1 << 16)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints go to stderr, never into the answer stream
    ready = warm() if warm is not None else b""
    out.write(HEAD.pack(0, len(ready)) + ready)
    out.flush()
    while True:
        head = inp.read(HEAD.size)
        if len(head) < HEAD.size:
            return
        ident, size = HEAD.unpack(head)
        payload = inp.read(size)
        if len(payload) < size:
            return
        answer = handle(payload)
        del payload
        out.write(HEAD.pack(ident, len(answer)) + answer)
        out.flush()
