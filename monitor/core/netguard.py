"""The network guard's policy: which IP addresses the crawler (and alert delivery) may reach.

Pure data and functions, plus one small async lookup helper for callers without a resolver of
their own. An address is refused when it lies in a range that these IANA registries list as not
globally reachable (data below, most specific entry wins):

- "IANA IPv4 Special-Purpose Address Registry" (RFC 6890 and updates), plus 224.0.0.0/4 from
  the "IPv4 Multicast Address Space Registry";
- "IANA IPv6 Special-Purpose Address Registry", plus ff00::/8 from the "IPv6 Multicast Address
  Space Registry", and anything outside 2000::/3, the only IPv6 space IANA delegates as global
  unicast ("IPv6 Global Unicast Address Assignments"; refuses e.g. fec0::/10 site-local).

Deviations from the registries' "Globally Reachable" column, both towards refusing: the anycast
addresses of local services (PCP, TURN, DNS-SD SRP: 192.0.0.9, 192.0.0.10, 2001:1::1-3) reach
the nearest, usually in-house, server; the deprecated 6to4 relay anycast 192.88.99.0/24 and
IPv4-compatible ::/96 (RFC 4291, deprecated) are refused as well.

IPv6 forms that carry an IPv4 address are judged by it (Python's `ipaddress.is_global` is not,
for all of them):
- IPv4-mapped ::ffff:0:0/96 *is* the IPv4 address: judged exactly as that address;
- 6to4 2002::/16 embeds an IPv4 address in bits 16-47;
- Teredo 2001::/32 embeds the server (bits 32-63) and the client (last 32 bits, XOR 0xffffffff);
- NAT64 64:ff9b::/96 (RFC 6052 well-known prefix) embeds it in the last 32 bits.
Such a form is refused when an embedded IPv4 address is refused (allow_networks does not open
them: 2002:7f00:1::1 is not loopback). With only public IPv4 inside it is allowed: the NAT64
form of a public address (64:ff9b::8.8.8.8) reaches that public host through the local
translator, as the crawl would over IPv4. The local-use NAT64 prefix 64:ff9b:1::/48 has a
network-specific layout and is refused outright.

`allow_networks` ([crawl] allow_networks) opens named non-public networks, for tests, the demo
and benchmarks on loopback. It never opens NEVER (link-local, unspecified, multicast, limited
broadcast), and entries that `allow_network_problem` rejects (over-broad, embedded forms) are
ignored here and refused by the config.

Stable API (alert delivery and hoster import depend on these names and signatures):
    refusal(address: str, allow_networks: tuple[str, ...] = ()) -> str | None
        None: may connect; else a short reason, e.g. "carrier-grade NAT 100.64.0.0/10".
        Never raises (an unreadable address is refused with a reason).
    class NetworkRefused(ValueError)          raised by the check helpers below
    check_address(address, allow_networks=()) -> None
    check_url_host(url, allow_networks=()) -> None
        for a URL whose host is an IP literal (also refuses numeric hosts such as "127.1" or
        "2130706433" that some clients read as IPv4); host names pass (check after resolving)
    async resolve_and_check(host, port, allow_networks=(), timeout=5.0) -> tuple[str, ...]
        the addresses of `host` that may be reached (system resolver, bounded by `timeout`);
        NetworkRefused if none may, OSError/TimeoutError if the lookup fails
    allow_network_problem(text: str) -> str | None   why an allow_networks entry is unacceptable
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from functools import lru_cache
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (network, name, globally reachable): the registries' rows, with the deviations above.
IPV4_SPECIAL: tuple[tuple[str, str, bool], ...] = (
    ("0.0.0.0/8", "this network", False),
    ("0.0.0.0/32", "this host on this network", False),
    ("10.0.0.0/8", "private-use", False),
    ("100.64.0.0/10", "carrier-grade NAT", False),
    ("127.0.0.0/8", "loopback", False),
    ("169.254.0.0/16", "link-local", False),
    ("172.16.0.0/12", "private-use", False),
    ("192.0.0.0/24", "IETF protocol assignments", False),
    ("192.0.0.0/29", "IPv4 service continuity prefix", False),
    ("192.0.0.8/32", "IPv4 dummy address", False),
    ("192.0.0.9/32", "PCP anycast (local service)", False),
    ("192.0.0.10/32", "TURN anycast (local service)", False),
    ("192.0.0.170/31", "NAT64/DNS64 discovery", False),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112-v4", True),
    ("192.52.193.0/24", "AMT", True),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast", False),
    ("192.168.0.0/16", "private-use", False),
    ("192.175.48.0/24", "direct delegation AS112 service", True),
    ("198.18.0.0/15", "benchmarking", False),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", False),
    ("224.0.0.0/4", "multicast", False),
    ("240.0.0.0/4", "reserved", False),
    ("255.255.255.255/32", "limited broadcast", False),
)

IPV6_SPECIAL: tuple[tuple[str, str, bool], ...] = (
    ("::/96", "deprecated IPv4-compatible", False),
    ("::/128", "unspecified", False),
    ("::1/128", "loopback", False),
    ("64:ff9b:1::/48", "local-use NAT64", False),
    ("100::/64", "discard-only", False),
    ("100:0:0:1::/64", "dummy IPv6 prefix", False),
    ("2001::/23", "IETF protocol assignments", False),
    ("2001:1::1/128", "PCP anycast (local service)", False),
    ("2001:1::2/128", "TURN anycast (local service)", False),
    ("2001:1::3/128", "DNS-SD SRP anycast (local service)", False),
    ("2001:2::/48", "benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "deprecated ORCHID", False),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "drone remote ID DETs", True),
    ("2001:db8::/32", "documentation", False),
    ("2620:4f:8000::/48", "direct delegation AS112 service", True),
    ("3fff::/20", "documentation", False),
    ("5f00::/16", "segment routing SIDs", False),
    ("fc00::/7", "unique-local", False),
    ("fe80::/10", "link-local", False),
    ("ff00::/8", "multicast", False),
)

# Forms that embed IPv4 (judged by what they embed; checked before the table).
MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
TEREDO = ipaddress.IPv6Network("2001::/32")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

# Never reachable, whatever allow_networks says.
NEVER: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), name)
    for net, name in (
        ("0.0.0.0/8", "this network"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "limited broadcast"),
        ("::/128", "unspecified"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    )
)
# Embedded-IPv4 prefixes: allow the IPv4 network itself instead.
EMBEDDING = ((MAPPED, "IPv4-mapped"), (SIX_TO_FOUR, "6to4"), (TEREDO, "Teredo"), (NAT64, "NAT64"))
MIN_PREFIX = {4: 8, 6: 16}  # shorter allow_networks prefixes are over-broad

_NUMERIC_HOST = re.compile(r"(?i)^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+)){0,3}\.?$")


class NetworkRefused(ValueError):
    """The target address may not be reached; the message is a short reason."""


def _table(rows: tuple[tuple[str, str, bool], ...]) -> tuple[tuple[IPNetwork, str, bool], ...]:
    parsed = [(ipaddress.ip_network(net), name, ok) for net, name, ok in rows]
    return tuple(sorted(parsed, key=lambda row: -row[0].prefixlen))  # most specific first


_V4 = _table(IPV4_SPECIAL)
_V6 = _table(IPV6_SPECIAL)


def _special(ip: IPAddress) -> str | None:
    """The reason from the registry tables alone (no allow list, no embedded forms)."""
    for net, name, reachable in _V4 if ip.version == 4 else _V6:
        if ip in net:
            return None if reachable else f"{name} {net}"
    if ip.version == 6 and ip not in GLOBAL_UNICAST:
        return f"not global unicast (outside {GLOBAL_UNICAST})"
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, tuple[ipaddress.IPv4Address, ...]]:
    """(form name, the IPv4 addresses it carries) for 6to4, Teredo, NAT64; ("", ()) else."""
    if ip in SIX_TO_FOUR:
        return f"6to4 {SIX_TO_FOUR}", (ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF),)
    if ip in TEREDO:
        server = ipaddress.IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address((int(ip) & 0xFFFFFFFF) ^ 0xFFFFFFFF)
        return f"Teredo {TEREDO}", (server, client)
    if ip in NAT64:
        return f"NAT64 {NAT64}", (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return "", ()


def allow_network_problem(text: str) -> str | None:
    """Why `text` cannot be an allow_networks entry, or None when it can."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except (ValueError, TypeError) as exc:
        return f"not a network in CIDR form ({exc})"
    for never, name in NEVER:
        if net.version == never.version and net.subnet_of(never):  # type: ignore[arg-type]
            return f"{net} is {name} ({never}), which can never be allowed"
    if net.prefixlen < MIN_PREFIX[net.version]:
        return (
            f"{net} is over-broad (at least /{MIN_PREFIX[net.version]} for "
            f"IPv{net.version}; name the networks you serve)"
        )
    for never, name in NEVER:
        if net.version == never.version and net.overlaps(never):
            return f"{net} overlaps {name} {never}, which can never be allowed"
    for prefix, name in EMBEDDING:
        if net.version == 6 and net.overlaps(prefix):
            return f"{net} overlaps the {name} prefix {prefix}; allow the IPv4 network instead"
    return None


@lru_cache(maxsize=64)
def _allowed_networks(allow_networks: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(
        ipaddress.ip_network(text) for text in allow_networks if allow_network_problem(text) is None
    )


def refusal(address: str, allow_networks: tuple[str, ...] = ()) -> str | None:
    """None when `address` may be reached, else a short reason (see the module docstring)."""
    try:
        allow = tuple(str(n) for n in allow_networks)
        return _refusal(address, allow)
    except TypeError:  # an unhashable address: not an address
        return f"not a plain IP address: {address!r}"[:120]


@lru_cache(maxsize=8192)
def _refusal(address: str, allow_networks: tuple[str, ...]) -> str | None:
    if not isinstance(address, str) or "%" in address:
        return f"not a plain IP address: {address!r}"[:120]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"not an IP address: {address!r}"[:120]
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for net, name in NEVER:
        if ip in net:
            return f"{name} {net}"
    if any(ip in net for net in _allowed_networks(allow_networks)):
        return None
    if ip.version == 6:
        form, inner = embedded_ipv4(ip)
        for v4 in inner:
            reason = _refusal(str(v4), ())
            if reason is not None:
                return f"{form} embedding {v4}: {reason}"
        if inner:
            return None
    return _special(ip)


def check_address(address: str, allow_networks: tuple[str, ...] = ()) -> None:
    reason = refusal(address, tuple(allow_networks))
    if reason is not None:
        raise NetworkRefused(f"refused {address}: {reason}"[:200])


def literal_host(host: str) -> str | None:
    """`host` as an IP address string when it is an IP literal (brackets stripped), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return bare if "%" in bare and ":" in bare else None  # scoped IPv6: refused later


def check_url_host(url: str, allow_networks: tuple[str, ...] = ()) -> None:
    """Refuse a URL whose host is a non-allowed IP literal (or an ambiguous numeric host)."""
    try:
        host = urlsplit(url).hostname
    except ValueError as exc:
        raise NetworkRefused(f"unreadable URL ({exc})") from None
    if not host:
        raise NetworkRefused("URL without a host")
    literal = literal_host(host)
    if literal is not None:
        check_address(literal, allow_networks)
    elif _NUMERIC_HOST.match(host):
        raise NetworkRefused(f"numeric host {host!r} is not a dotted-quad IPv4 address")


async def resolve_and_check(
    host: str, port: int, allow_networks: tuple[str, ...] = (), timeout: float = 5.0
) -> tuple[str, ...]:
    """The addresses of `host` that may be reached (the system resolver, at most `timeout`
    seconds). Connect to one of these, not to the name (no second lookup that could differ)."""
    literal = literal_host(host)
    if literal is not None:
        check_address(literal, allow_networks)
        return (literal,)
    if _NUMERIC_HOST.match(host):
        raise NetworkRefused(f"numeric host {host!r} is not a dotted-quad IPv4 address")
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    allowed = tuple(a for a in addresses if refusal(a, tuple(allow_networks)) is None)
    if not allowed:
        first = addresses[0] if addresses else host
        raise NetworkRefused(
            f"refused {host} ({first}): {refusal(first, tuple(allow_networks)) or 'no address'}"
        )
    return allowed
