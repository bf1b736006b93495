"""A loopback TCP proxy in front of a test redis-server that loses one reply on the wire.

Redis executes a command and the connection drops before its reply arrives (a restart, a failover,
a network blip): redis-py retries the command, so a non-idempotent one (RPOP) has taken an entry
that the client never sees. The proxy reproduces that exactly once, on demand: the first reply to
a chosen command on a chosen key that carries a value (not a nil) is swallowed and both sockets
are closed.
"""

from __future__ import annotations

import re
import socket
import threading


class LossyRedisProxy:
    def __init__(
        self, upstream_port: int, command: bytes = b"RPOP", key_prefix: bytes = b""
    ) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.pattern = re.compile(
            rb"\r\n" + re.escape(command) + rb"\r\n\$\d+\r\n" + re.escape(key_prefix), re.IGNORECASE
        )
        self.lost = 0
        self._armed = True
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            pending: list[bool] = []  # per command sent on this connection: is it ours?
            threading.Thread(target=self._up, args=(client, server, pending), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, pending), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, pending: list[bool]) -> None:
        try:
            while data := client.recv(65536):
                pending.append(self.pattern.search(data) is not None)
                server.sendall(data)
        except OSError:
            pass
        _close(client, server)

    def _down(self, server: socket.socket, client: socket.socket, pending: list[bool]) -> None:
        try:
            while data := server.recv(65536):
                ours = pending.pop(0) if pending else False
                if ours and not data.startswith(b"$-1") and not data.startswith(b"*-1"):
                    with self._lock:
                        lose, self._armed = self._armed, False
                    if lose:
                        self.lost += 1
                        break
                client.sendall(data)
        except OSError:
            pass
        _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
