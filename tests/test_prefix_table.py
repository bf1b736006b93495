"""PrefixTable's longest-prefix match, with and without its coarse first filter, equals a plain
scan over every network (hypothesis), including after networks are added between matches."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.attribution.records import PrefixTable


def naive(nets: list[tuple[ipaddress.IPv4Network, int]], address: ipaddress.IPv4Address):
    best = None
    for net, value in nets:  # the last added wins a tie, as in the table
        if address in net and (best is None or net.prefixlen >= best[0]):
            best = (net.prefixlen, value)
    return best


networks = st.lists(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), min_size=0, max_size=20
)
addresses = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(networks, networks, addresses)
def test_match_equals_a_scan(first, later, probes) -> None:
    table: PrefixTable[int] = PrefixTable()
    seen: list[tuple[ipaddress.IPv4Network, int]] = []
    for batch in (first, later):  # a match between two batches builds the filter once
        for i, (number, length) in enumerate(batch):
            net = ipaddress.ip_network((number, length), strict=False)
            value = len(seen) * 100 + i
            table.add(net, value)
            seen = [(n, v) for n, v in seen if n != net] + [(net, value)]
        for probe in probes:
            for address in (ipaddress.ip_address(probe), *(n.network_address for n, _ in seen[:3])):
                assert table.match(address) == naive(seen, address), (address, seen)


def test_a_large_table_skips_the_filter_and_still_matches() -> None:
    table: PrefixTable[int] = PrefixTable()
    for i in range(PrefixTable.COARSE_MAX + 10):
        table.add(ipaddress.ip_network((i << 8, 24)), i)
    assert table.match(ipaddress.ip_address((5 << 8) + 7)) == (24, 5)
    assert table.match(ipaddress.ip_address("203.0.113.9")) is None
