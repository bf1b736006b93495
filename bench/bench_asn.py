"""Benchmark: batched, prefix-cached ASN lookup vs a naive sequential resolver.

10k distinct IPs in 500 prefixes (documentation/benchmark ranges, only ever data in DNS names)
against the simulated Cymru DNS server on loopback, run in its own process. Ours:
`monitor.attribution.asn.
lookup` on a cold store (then a warm one). Baseline, same run, same server: one origin and one
AS-name question per IP, sequentially, with dnspython's resolver. Prints lookups/s, DNS
questions sent, and the ratio of the medians. `--quick` (or BENCH_QUICK=1): 1k IPs, 50 prefixes.

Attribution per check, same run: `EdgeAttribution.decide` over every IP (ASN answers from the
warm store, hoster registry warmed) with the CDN registry empty (baseline, as before CDNs) and
with the shipped one (`monitor.attribution.cdn.DEFAULTS`, ours); medians over alternating rounds,
and their
ratio (1.00 = unchanged).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dns.resolver

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.attribution import asn  # noqa: E402
from monitor.attribution.cdn import CdnRegistry  # noqa: E402
from monitor.attribution.cdn_attribute import EdgeAttribution  # noqa: E402
from monitor.attribution.hosters import Registry  # noqa: E402
from monitor.attribution.records import AsnInfo, asname_name, origin_name  # noqa: E402
from monitor.core.config import AsnConfig  # noqa: E402
from monitor.sim.dns import CymruDNS  # noqa: E402
from monitor.store import connect  # noqa: E402
from monitor.store.cdns import DEFAULTS  # noqa: E402


def world(prefixes: int, per_prefix: int, asns: int) -> tuple[list[tuple[str, int]], list[str]]:
    """`prefixes` /24s in 198.18.0.0/15 (and IPv6 /48s in 2001:db8::/32 for a tenth)."""
    routes, ips = [], []
    v6 = prefixes // 10
    for i in range(prefixes - v6):
        net = ipaddress.ip_network("198.18.0.0/15")
        base = int(net.network_address) + i * 256
        routes.append((f"{ipaddress.ip_address(base)}/24", 64500 + i % asns))
        ips += [str(ipaddress.ip_address(base + 1 + h * 7 % 254)) for h in range(per_prefix)]
    for j in range(v6):
        routes.append((f"2001:db8:{j:x}::/48", 64500 + j % asns))
        ips += [f"2001:db8:{j:x}::{h + 1:x}" for h in range(per_prefix)]
    return routes, ips


def serve(routes, asns, ready, stop) -> None:
    server = CymruDNS()
    server.start()
    for prefix, number in routes:
        server.announce(prefix, [number])
    for k in range(asns):
        server.name_asn(64500 + k, f"BENCH-{k} Bench Hosting {k}, NL")
    ready.put(server.port)
    stop.wait()
    ready.put(len(server.queries))
    server.stop()


def naive(ips: list[str], port: int) -> tuple[float, int]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    resolver.cache = None
    sent = 0
    start = time.perf_counter()
    for ip in ips:
        text = b"".join(
            resolver.resolve(
                origin_name(ip, "origin.asn.cymru.com", "origin6.asn.cymru.com"), "TXT"
            )[0].strings
        )
        number = int(text.split(b"|")[0].split()[0])
        resolver.resolve(asname_name(number, "asn.cymru.com"), "TXT")
        sent += 2
    return time.perf_counter() - start, sent


def ours(ips: list[str], port: int, db) -> tuple[float, int, int]:
    config = AsnConfig(nameservers=(f"127.0.0.1:{port}",), timeout=timedelta(seconds=2))
    backend = asn.DnsBackend(config)
    start = time.perf_counter()
    result = asyncio.run(asn.lookup(ips, db, config, backend=backend))
    elapsed = time.perf_counter() - start
    resolved = sum(1 for v in result.values() if v is not None and v.asn)
    return elapsed, backend.queries, resolved


def attribution(db, infos: dict[str, AsnInfo | None], rounds: int) -> tuple[float, float]:
    """Median microseconds per check of `decide`: CDN registry empty vs shipped, alternating."""
    checks = [(ip, info) for ip, info in infos.items() if info is not None]
    edges = EdgeAttribution(db, Registry.load(db))
    empty, shipped = CdnRegistry(), CdnRegistry.of(DEFAULTS)
    for ip, info in checks:  # warm: unmapped fallbacks created once, cached
        edges.decide(ip, info, None)
    base: list[float] = []
    ours_: list[float] = []
    for n in range(2 * rounds):
        edges.cdns = shipped if n % 2 else empty
        start = time.perf_counter()
        for ip, info in checks:
            edges.decide(ip, info, None)
        (ours_ if n % 2 else base).append((time.perf_counter() - start) / len(checks) * 1e6)
    return statistics.median(base), statistics.median(ours_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rounds",
        type=int,
        default=21,
        help="alternating rounds of the attribution benchmark (default 21)",
    )
    args = parser.parse_args()
    prefixes, per_prefix, asns = (50, 20, 10) if args.quick else (500, 20, 100)
    naive_sample = 500 if args.quick else 2000
    routes, ips = world(prefixes, per_prefix, asns)
    ctx = mp.get_context("fork")
    ready, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=serve, args=(routes, asns, ready, stop), daemon=True)
    proc.start()
    port = ready.get(timeout=30)
    try:
        cold, warm, sent = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                db = connect(Path(tmp) / f"bench{run}.db")
                elapsed, queries, resolved = ours(ips, port, db)
                assert resolved == len(ips), f"only {resolved} of {len(ips)} resolved"
                cold.append(len(ips) / elapsed)
                sent.append(queries)
                elapsed, queries, _ = ours(ips, port, db)
                assert queries == 0
                warm.append(len(ips) / elapsed)
                if run == 0:
                    infos = asyncio.run(
                        asn.lookup(
                            ips,
                            db,
                            AsnConfig(
                                nameservers=(f"127.0.0.1:{port}",), timeout=timedelta(seconds=2)
                            ),
                        )
                    )
                    attr_base, attr_ours = attribution(db, infos, args.rounds)
                db.conn.close()
        sample = ips[:: max(1, len(ips) // naive_sample)][:naive_sample]
        base = []
        for _ in range(args.runs):
            elapsed, naive_sent = naive(sample, port)
            base.append(len(sample) / elapsed)
    finally:
        stop.set()
        proc.join(timeout=10)
    ours_rate, base_rate = statistics.median(cold), statistics.median(base)
    limit = prefixes + asns
    print(f"IPs: {len(ips)} distinct in {prefixes} prefixes, {asns} ASNs; runs: {args.runs}")
    print(
        f"ours (cold store):  {ours_rate:10.0f} lookups/s, DNS queries {max(sent)} "
        f"(limit prefixes+ASNs = {limit}: {'ok' if max(sent) <= limit else 'OVER'})"
    )
    print(f"ours (warm store):  {statistics.median(warm):10.0f} lookups/s, DNS queries 0")
    print(
        f"naive sequential:   {base_rate:10.0f} lookups/s, DNS queries {2 * len(ips)} "
        f"(2 per IP; rate measured on {len(sample)} IPs)"
    )
    print(
        f"ratio (cold, medians): {ours_rate / base_rate:.1f}x   "
        f"queries: {2 * len(ips) / max(sent):.1f}x fewer"
    )
    print(f"attribution per check ({len(ips)} checks, {args.rounds} alternating rounds, medians):")
    print(f"  CDN registry empty (baseline): {attr_base:7.2f} us")
    print(f"  shipped CDN registry (ours):   {attr_ours:7.2f} us ({len(DEFAULTS)} networks)")
    print(f"  ratio ours/baseline: {attr_ours / attr_base:.2f}")


if __name__ == "__main__":
    main()
