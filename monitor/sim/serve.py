"""Run the simulated internet for people and benchmarks until SIGINT/SIGTERM.

`serve(scenario)` starts the hoster world, the Cymru-style DNS (with the world announced), a
webhook receiver and an SMTP sink, all on loopback, prints their addresses and a config snippet,
optionally writes the truth and import files, and stops everything cleanly on a signal. A
scenario with a CDN also gets its edge described: address, prefix, ASN, the hosters it fronts
and the `cdn import` file that puts it in the CDN registry (written with the truth files).
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.core import clock
from monitor.sim import truth
from monitor.sim.dns import CymruDNS
from monitor.sim.receivers import SmtpSink, WebhookReceiver
from monitor.sim.world import World


def serve(
    scenario_path: str | Path,
    *,
    start: datetime | str | None = None,
    truth_out: str | Path | None = None,
    port: int = 0,
    out: Callable[[str], Any] = print,
) -> None:
    """Serve `scenario_path` (a file or a shipped name) until SIGINT/SIGTERM.

    `start` sets the world clock (default: the scenario's start); `truth_out` is a directory
    that receives truth.json, reports.csv, hosters.csv and hashes.csv.
    """
    asyncio.run(_serve(scenario_path, start=start, truth_out=truth_out, port=port, out=out))


async def _serve(
    scenario_path: str | Path,
    *,
    start: datetime | str | None,
    truth_out: str | Path | None,
    port: int,
    out: Callable[[str], Any],
) -> None:

    world = World(scenario_path, now=start, port=port)
    secrets = truth.webhook_secrets(world.scenario)
    receiver = WebhookReceiver(
        {
            truth.webhook_path(h): secrets[truth.secret_env(h)]
            for h in world.scenario.hosters
            if h.webhook
        }
    )
    dns = CymruDNS()
    smtp = SmtpSink()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await world.start()
        dns.start()
        world.attach_dns(dns)
        await receiver.start()
        smtp.start()
        files: dict[str, Path] = (
            {} if truth_out is None else truth.write(world, truth_out, webhook_base=receiver.url)
        )
        for line in describe(world, dns, receiver, smtp, cdns_file=files.get("cdns")):
            out(line)
        if files:
            out("files: " + ", ".join(str(p) for p in files.values()))
        for env, secret in secrets.items():
            out(f"export {env}={secret}")
        out("Ctrl-C stops.")
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        smtp.stop()
        await receiver.stop()
        dns.stop()
        await world.stop()


def describe(
    world: World,
    dns: Any,
    receiver: WebhookReceiver,
    smtp: SmtpSink,
    cdns_file: str | Path | None = None,
) -> list[str]:
    """Human-readable addresses of a running simulation, and a config snippet for it."""
    lines = [
        f"world: scenario {world.scenario.name!r}, clock {clock.iso(world.now)}",
        f'  admin: {world.admin_url}/__admin/clock (POST {{"now": ISO}}), '
        f"{world.admin_url}/__admin/truth",
    ]
    for h in world.scenario.hosters:
        v6 = f" and http://[::1]:{world.port}/" if h.ipv6 and world.ipv6 else ""
        lines.append(f"  {h.name} (AS{h.asn}): {world.front_url(h.name)}{v6}")
    lines += describe_cdn(world, cdns_file)
    lines += [
        f"dns: {dns.address}",
        f"webhooks: {receiver.url}/hooks/<hoster>",
        f"smtp: {smtp.host}:{smtp.port}",
        "config:",
        "  [crawl]",
        f"  allow_networks = [{', '.join(map(quoted, served_networks(world)))}]",
        "  [asn]",
        f'  nameservers = ["{dns.address}"]',
        "  [alerts]",
        f'  smtp_host = "{smtp.host}"',
        f"  smtp_port = {smtp.port}",
    ]
    return lines


def describe_cdn(world: World, cdns_file: str | Path | None) -> list[str]:
    """The scenario's CDN: its edge, network and ASN, whom it fronts, how to register it."""
    cdn = world.scenario.cdn
    if cdn is None:
        return []
    fronts = ", ".join(cdn.fronts) if cdn.fronts else "all hosters"
    load = (
        f"ntd-monitor cdn import {cdns_file}"
        if cdns_file is not None
        else "ntd-monitor cdn import DIR/cdns.csv (written by sim serve --truth DIR)"
    )
    return [
        f"cdn: {cdn.name} (AS{cdn.asn} {cdn.as_name}, {cdn.country}): edge "
        f"http://{cdn.ip}:{world.port}/ in {cdn.prefix}, abuse {cdn.abuse_email or '-'}",
        f"  fronts {cdn.share:.0%} of the reported items of: {fronts}",
        f"  registry: {load}",
    ]


def served_networks(world: World) -> list[str]:
    """Exactly the addresses the world listens on (hosters, CDN edge), as /32 and /128 networks."""
    nets = dict.fromkeys(str(ipaddress.ip_network(h.ip)) for h in world.scenario.hosters)
    if world.scenario.cdn is not None:
        nets[str(ipaddress.ip_network(world.scenario.cdn.ip))] = None
    if world.ipv6 and any(h.ipv6 for h in world.scenario.hosters):
        nets["::1/128"] = None
    return list(nets)


def quoted(text: str) -> str:
    return f'"{text}"'
