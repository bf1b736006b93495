"""The simulated world's DNS: a Team Cymru-style IP-to-ASN server (dnslib) on loopback.

It answers, like Team Cymru's public service does:

* `<reversed IPv4 octets>.origin.asn.cymru.com TXT` with the most specific announced prefix that
  contains the address: `"64500 64501 | 127.0.1.0/24 | NL | ripencc | 2010-01-01"`;
  NXDOMAIN when no announced prefix contains it;
* `<nibble-reversed IPv6>.origin6.asn.cymru.com TXT` likewise (fewer labels than a full address
  are padded with zeros, as Cymru accepts `/64`-style partial names);
* `AS64500.asn.cymru.com TXT` with `"64500 | NL | ripencc | 2010-01-01 | EXAMPLE-AS Example, NL"`;
* A/AAAA for the world's host names (`add_host`), NXDOMAIN for gone domains and everything
  below them (`gone`), raw TXT overrides (`set_raw_txt`, e.g. malformed records), SERVFAIL on
  demand (`fail_next`), and a `silent` mode that never answers.

Every received question is appended to `queries` as `(name, type)`: the name lower-cased without
the trailing dot, the type as text (`"TXT"`, `"A"`), so tests can count what a client sent.
UDP is served by one thread without per-request threads (fast), TCP by a threading server on the
same port. Start and stop are quick: tests start many servers.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading

from dnslib import AAAA, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import DNSHandler

_TTL = 300


class _QuietLogger:
    """dnslib logs every packet to stdout by default; the simulation is silent."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


class _Handler(DNSHandler):
    def handle(self) -> None:  # noqa: D401 - socketserver hook
        if self.server.cymru.silent:
            self.server.cymru._note_raw(self._payload())
            return
        super().handle()

    def _payload(self) -> bytes:
        if self.server.socket_type == socket.SOCK_STREAM:
            try:
                self.request.settimeout(1.0)
                return bytes(self.request.recv(8192))[2:]
            except OSError:
                return b""
        return bytes(self.request[0])


class _Resolver:
    def __init__(self, owner: CymruDNS) -> None:
        self.owner = owner

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        return self.owner._answer(request)


def _server_class(base: type, family: int, threading_: bool) -> type:
    bases = (socketserver.ThreadingMixIn, base) if threading_ else (base,)
    attrs = {"address_family": family, "allow_reuse_address": False, "daemon_threads": True}
    return type("CymruServer", bases, attrs)


class CymruDNS:
    """A dnslib server answering Cymru-style TXT records (plus A/AAAA) on a free loopback port."""

    def __init__(
        self,
        *,
        origin_zone: str = "origin.asn.cymru.com",
        origin6_zone: str = "origin6.asn.cymru.com",
        asname_zone: str = "asn.cymru.com",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.origin_zone = origin_zone.strip(".").lower()
        self.origin6_zone = origin6_zone.strip(".").lower()
        self.asname_zone = asname_zone.strip(".").lower()
        self.host = host
        self.port = port
        self.silent = False
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        # family -> prefix length -> network int -> TXT text
        self._routes: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self._names: dict[int, str] = {}
        self._hosts: dict[str, list[str]] = {}
        self._gone: set[str] = set()
        self._raw: dict[str, str] = {}
        self._fail: dict[str, int] = {}
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    # -- the world's data ---------------------------------------------------------------------
    def announce(
        self,
        prefix: str,
        asns: list[int],
        cc: str = "NL",
        registry: str = "ripencc",
        allocated: str = "2010-01-01",
    ) -> None:
        """Announce `prefix` with origin ASNs `asns` (first is primary)."""
        net = ipaddress.ip_network(prefix, strict=False)
        text = f"{' '.join(str(a) for a in asns)} | {net} | {cc} | {registry} | {allocated}"
        with self._lock:
            table = self._routes[net.version].setdefault(net.prefixlen, {})
            table[int(net.network_address)] = text
            self._lengths[net.version] = sorted(self._routes[net.version], reverse=True)

    def withdraw(self, prefix: str) -> None:
        """Stop announcing `prefix` (extra: lets a scenario move or drop networks)."""
        net = ipaddress.ip_network(prefix, strict=False)
        with self._lock:
            self._routes[net.version].get(net.prefixlen, {}).pop(int(net.network_address), None)

    def name_asn(self, asn: int, name: str, cc: str = "NL", registry: str = "ripencc") -> None:
        self._names[int(asn)] = f"{int(asn)} | {cc} | {registry} | 2010-01-01 | {name}"

    def add_host(self, hostname: str, ips: list[str]) -> None:
        key = hostname.strip(".").lower()
        with self._lock:
            self._gone.discard(key)
            self._hosts[key] = [str(ipaddress.ip_address(ip)) for ip in ips]

    def gone(self, domain: str) -> None:
        """NXDOMAIN for `domain` and every name below it."""
        self._gone.add(domain.strip(".").lower())

    def set_raw_txt(self, qname: str, text: str) -> None:
        """Answer TXT `text` verbatim for `qname` (overrides everything else for that name)."""
        self._raw[qname.strip(".").lower()] = text

    def fail_next(self, qname: str, times: int = 1) -> None:
        """Answer SERVFAIL to the next `times` questions for `qname` (extra, for retry tests)."""
        self._fail[qname.strip(".").lower()] = times

    # -- server lifecycle ---------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        udp_cls = _server_class(socketserver.UDPServer, family, threading_=False)
        tcp_cls = _server_class(socketserver.TCPServer, family, threading_=True)
        last_error: OSError | None = None
        for _ in range(20):
            udp = tcp = None
            try:
                udp = udp_cls((self.host, self.port), _Handler)
                port = udp.server_address[1]
                tcp = tcp_cls((self.host, port), _Handler)
            except OSError as exc:  # the TCP side of a free UDP port may be taken: try again
                last_error = exc
                if udp is not None:
                    udp.server_close()
                if self.port:
                    raise
                continue
            self.port = port
            break
        else:
            raise OSError(f"no free port for the DNS server: {last_error}")
        for server in (udp, tcp):
            server.resolver = _Resolver(self)
            server.logger = _QuietLogger()
            server.cymru = self
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"cymru-dns-{port}",
                daemon=True,
            )
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> CymruDNS:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering ----------------------------------------------------------------------------
    def _note_raw(self, data: bytes) -> None:
        try:
            q = DNSRecord.parse(data).q
        except Exception:  # noqa: BLE001 - garbage in: nothing to note
            return
        self.queries.append((str(q.qname).rstrip(".").lower(), QTYPE.get(q.qtype, str(q.qtype))))

    def _answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply()
        reply.header.ra = 1
        q = request.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        self.queries.append((name, qtype))
        left = self._fail.get(name)
        if left:
            self._fail[name] = left - 1
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if name in self._raw:
            if qtype in ("TXT", "ANY"):
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(self._raw[name]), ttl=_TTL))
            return reply
        if self._is_gone(name):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        text, exists = self._lookup_txt(name)
        if text is not None:
            if qtype in ("TXT", "ANY"):
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(text), ttl=_TTL))
            return reply
        ips = self._hosts.get(name)
        if ips is not None:
            for ip in ips:
                if qtype in ("A", "ANY") and ":" not in ip:
                    reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=_TTL))
                elif qtype in ("AAAA", "ANY") and ":" in ip:
                    reply.add_answer(RR(q.qname, QTYPE.AAAA, rdata=AAAA(ip), ttl=_TTL))
            return reply
        if not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def _is_gone(self, name: str) -> bool:
        labels = name.split(".")
        return any(".".join(labels[i:]) in self._gone for i in range(len(labels)))

    def _lookup_txt(self, name: str) -> tuple[str | None, bool]:
        """(TXT text, name exists) for names in our zones; (None, False) otherwise."""
        for zone, family in ((self.origin6_zone, 6), (self.origin_zone, 4)):
            if name.endswith("." + zone):
                address = _unreverse(name[: -len(zone) - 1], family)
                if address is None:
                    return None, False
                return self._longest_match(address, family), False
            if name == zone:
                return None, True
        if name.endswith("." + self.asname_zone):
            label = name[: -len(self.asname_zone) - 1]
            if label.startswith("as") and label[2:].isdigit():
                text = self._names.get(int(label[2:]))
                return text, False
        return None, name == self.asname_zone

    def _longest_match(self, address: int, family: int) -> str | None:
        bits = 32 if family == 4 else 128
        routes = self._routes[family]
        for length in self._lengths[family]:
            mask = ((1 << length) - 1) << (bits - length) if length else 0
            text = routes.get(length, {}).get(address & mask)
            if text is not None:
                return text
        return None


def _unreverse(labels: str, family: int) -> int | None:
    """`1.0.0.127` -> 127.0.0.1 as an int; nibble-reversed for IPv6; short names zero-padded."""
    parts = labels.split(".")
    try:
        if family == 4:
            octets = [int(p) for p in reversed(parts)]
            if not 1 <= len(octets) <= 4 or any(not 0 <= o <= 255 for o in octets):
                return None
            octets += [0] * (4 - len(octets))
            return int.from_bytes(bytes(octets), "big")
        nibbles = list(reversed(parts))
        if not 1 <= len(nibbles) <= 32 or any(len(n) != 1 for n in nibbles):
            return None
        return int("".join(nibbles).ljust(32, "0"), 16)
    except ValueError:
        return None
