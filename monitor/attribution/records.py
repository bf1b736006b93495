"""Team Cymru IP-to-ASN records, pure: query names, TXT parsing, AsnInfo, and a prefix table.

No I/O here. `monitor.attribution.asn` does the DNS and the store; this module only turns addresses
into
query names and TXT strings into values, and keeps the longest-prefix table both the resolver
(prefixes learnt so far) and the hoster registry (curated prefixes) match addresses against.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Generic, TypeVar

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NEGATIVE_PREFIXLEN = {4: 24, 6: 48}
"""A not-announced answer is cached for the IP's /24 (IPv4) or /48 (IPv6)."""


class MalformedRecord(ValueError):
    """A TXT record that does not read as Cymru's format; the message carries its text."""


@dataclass(frozen=True)
class OriginRecord:
    """One parsed origin TXT: `64500 64501 | 198.18.0.0/24 | NL | ripencc | 2010-01-01`."""

    asns: tuple[int, ...]
    prefix: str
    country: str | None
    registry: str | None
    allocated: str | None


@dataclass(frozen=True)
class AsNameRecord:
    """One parsed AS-name TXT: `64500 | NL | ripencc | 2010-01-01 | EXAMPLE-AS Example, NL`."""

    asn: int
    country: str | None
    registry: str | None
    allocated: str | None
    name: str | None


@dataclass(frozen=True)
class AsnInfo:
    """What the routing data says about one IP at lookup time.

    `announced=False`: no announced prefix contains the IP (then asn is None, asns is empty and
    prefix is the range cached as not announced).
    """

    ip: str
    asn: int | None
    asns: tuple[int, ...]
    prefix: str | None
    country: str | None = None
    registry: str | None = None
    allocated: str | None = None
    as_name: str | None = None
    announced: bool = True


def _blank(value: str) -> str | None:
    value = value.strip()
    return value or None


def origin_name(ip: IPAddress | str, zone: str, zone6: str) -> str:
    """`198.18.0.1` -> `1.0.18.198.<zone>`; IPv6 nibble-reversed under `zone6`."""
    address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if address.version == 4:
        return ".".join(reversed(str(address).split("."))) + "." + zone.strip(".")
    nibbles = address.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + zone6.strip(".")


def asname_name(asn: int, zone: str) -> str:
    return f"AS{int(asn)}.{zone.strip('.')}"


def parse_origin(text: str, ip: IPAddress | str | None = None) -> OriginRecord:
    """Parse an origin TXT; with `ip`, also require the prefix to contain it."""
    fields = [f.strip() for f in text.split("|")]
    if len(fields) < 2:
        raise MalformedRecord(f"origin record without fields: {text!r}")
    try:
        asns = tuple(int(a) for a in fields[0].split())
        network = ipaddress.ip_network(fields[1], strict=False)
    except ValueError:
        raise MalformedRecord(f"origin record unreadable: {text!r}") from None
    if not asns or any(not 0 < a < 2**32 for a in asns):
        raise MalformedRecord(f"origin record without a valid ASN: {text!r}")
    if ip is not None:
        address = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if address.version != network.version or address not in network:
            raise MalformedRecord(f"origin record prefix does not contain {address}: {text!r}")
    rest = fields[2:] + [""] * 3
    return OriginRecord(asns, str(network), _blank(rest[0]), _blank(rest[1]), _blank(rest[2]))


def parse_asname(text: str, asn: int | None = None) -> AsNameRecord:
    """Parse an AS-name TXT (the name may itself contain `|`); with `asn`, require it to match."""
    fields = [f.strip() for f in text.split("|")]
    try:
        number = int(fields[0])
    except ValueError:
        raise MalformedRecord(f"AS-name record unreadable: {text!r}") from None
    if len(fields) < 5 or (asn is not None and number != asn):
        raise MalformedRecord(f"AS-name record malformed: {text!r}")
    name = text.split("|", 4)[4]
    return AsNameRecord(
        number, _blank(fields[1]), _blank(fields[2]), _blank(fields[3]), _blank(name)
    )


def to_int(text: str) -> tuple[int, int, str]:
    """An IP as (version, integer, canonical text); ValueError when it is none."""
    text = text.strip().strip("[]")
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
        return 4, int.from_bytes(packed, "big"), socket.inet_ntop(socket.AF_INET, packed)
    except OSError:
        pass
    address = ipaddress.ip_address(text)
    return address.version, int(address), str(address)


def from_int(version: int, number: int) -> IPAddress:
    return ipaddress.IPv4Address(number) if version == 4 else ipaddress.IPv6Address(number)


def negative_network(address: IPAddress) -> IPNetwork:
    """The range a not-announced answer for `address` is cached for."""
    return ipaddress.ip_network(f"{address}/{NEGATIVE_PREFIXLEN[address.version]}", strict=False)


def key(address: IPAddress) -> str:
    """An address as 32 hex digits (asn_cache start_key/end_key; sorts within a family)."""
    return f"{int(address):032x}"


T = TypeVar("T")


class PrefixTable(Generic[T]):
    """Longest-prefix match of addresses against networks (IPv4 and IPv6), values of any type.

    A small table (up to COARSE_MAX networks of a family, such as the CDN registry) first asks
    one set whether any of its networks shares the address's leading bits (as many as its
    shortest prefix has), so an address in none of them costs one lookup instead of one per
    prefix length."""

    COARSE_MAX = 4096

    def __init__(self) -> None:
        self._nets: dict[int, dict[int, dict[int, T]]] = {4: {}, 6: {}}
        self._lengths: dict[int, list[int]] = {4: [], 6: []}
        self._coarse: dict[int, tuple[int, frozenset[int]] | None] = {4: None, 6: None}

    def __len__(self) -> int:
        return sum(len(t) for fam in self._nets.values() for t in fam.values())

    def add(self, network: IPNetwork | str, value: T) -> None:
        net = ipaddress.ip_network(network, strict=False) if isinstance(network, str) else network
        family = self._nets[net.version]
        if net.prefixlen not in family:
            family[net.prefixlen] = {}
            self._lengths[net.version] = sorted(family, reverse=True)
        family[net.prefixlen][int(net.network_address)] = value
        self._coarse[net.version] = None  # rebuilt on the next match

    def _coarse_keys(self, version: int, bits: int) -> tuple[int, frozenset[int]]:
        """(shortest prefix length, the networks' leading bits at that length); an empty set
        (no filtering) for a large or empty family."""
        family = self._nets[version]
        lengths = self._lengths[version]
        if not lengths or sum(len(t) for t in family.values()) > self.COARSE_MAX:
            return 0, frozenset()
        shortest = lengths[-1]
        return shortest, frozenset(k >> (bits - shortest) for t in family.values() for k in t)

    def match(self, address: IPAddress) -> tuple[int, T] | None:
        """(prefix length, value) of the most specific network containing `address`."""
        return self.match_int(address.version, int(address))

    def match_int(self, version: int, number: int) -> tuple[int, T] | None:
        """`match` for an address given as (IP version, integer)."""
        bits = 32 if version == 4 else 128
        family = self._nets[version]
        coarse = self._coarse[version]
        if coarse is None:
            coarse = self._coarse[version] = self._coarse_keys(version, bits)
        shortest, keys = coarse
        if keys and number >> (bits - shortest) not in keys:
            return None
        for length in self._lengths[version]:
            found = family[length].get(number >> (bits - length) << (bits - length))
            if found is not None:
                return length, found
        return None
