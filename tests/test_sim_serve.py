"""`serve()` runs world, DNS and receivers until SIGTERM and writes the truth files; a scenario's
CDN is described (edge, ASN, the `cdn import` file)."""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import tomllib
import urllib.request

import dns.resolver

from monitor.attribution.cdn import CdnRegistry, import_cdns
from monitor.core.config import from_dict
from monitor.sim.scenario import load as load_scenario
from monitor.sim.scenario import shipped
from monitor.store import connect


def test_serve_until_sigterm(tmp_path):
    code = (
        "from monitor.sim.serve import serve; "
        f"serve('tiny', start='2026-01-05T06:00:00Z', truth_out={str(tmp_path)!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith("Ctrl-C"):
                break
        text = "\n".join(lines)
        assert "clock 2026-01-05T06:00:00Z" in text
        front = next(ln.split(": ", 1)[1].split()[0] for ln in lines if "Alpha Hosting" in ln)
        with urllib.request.urlopen(front, timeout=5) as resp:
            assert resp.status == 200 and b"Alpha Hosting" in resp.read()
        dns_address = next(ln.split()[1] for ln in lines if ln.startswith("dns:"))
        host, port = dns_address.split(":")
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port, res.lifetime = [host], int(port), 2
        answer = res.resolve("1.1.0.127.origin.asn.cymru.com", "TXT")
        assert b"64501" in b"".join(answer[0].strings)
        snippet = "\n".join(
            ln[2:]
            for ln in lines[lines.index("config:") + 1 :]
            if ln.startswith("  ") and not ln.startswith("   ")
        )
        config = from_dict(tomllib.loads(snippet))  # the printed snippet is a valid config
        hoster_ips = {h.ip for h in load_scenario("tiny").hosters}
        allowed = {ipaddress.ip_network(n) for n in config.crawl.allow_networks}
        assert {str(n.network_address) for n in allowed if n.version == 4} == hoster_ips
        assert all(n.num_addresses == 1 for n in allowed)  # exactly its own addresses
        truth = json.loads((tmp_path / "truth.json").read_text())
        assert truth["scenario"] == "tiny" and (tmp_path / "hosters.csv").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _serve_lines(scenario: str, truth_out) -> tuple[subprocess.Popen, list[str]]:
    code = (
        "from monitor.sim.serve import serve; "
        f"serve({scenario!r}, start='2026-01-05T06:00:00Z', truth_out={str(truth_out)!r})"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C"):
            break
    return proc, lines


def test_serve_describes_the_scenarios_cdn(tmp_path):
    scenario = tmp_path / "fronted.toml"
    scenario.write_text(
        shipped("tiny").read_text().replace('name = "tiny"', 'name = "fronted"')
        + '\n[cdn]\nname = "Edgewise CDN"\nasn = 64600\nip = "127.0.2.1"\n'
        'prefix = "127.0.2.0/24"\nas_name = "EDGEWISE"\n'
        'abuse_email = "abuse@edgewise.example"\nshare = 0.5\n'
        'fronts = ["Alpha Hosting"]\n'
    )
    proc, lines = _serve_lines(str(scenario), tmp_path / "out")
    try:
        cdn_line = next(ln for ln in lines if ln.startswith("cdn:"))
        assert "Edgewise CDN" in cdn_line and "AS64600" in cdn_line
        assert "127.0.2.1" in cdn_line and "127.0.2.0/24" in cdn_line
        assert "abuse@edgewise.example" in cdn_line
        assert any("Alpha Hosting" in ln for ln in lines if ln.startswith("  fronts"))
        load = next(ln for ln in lines if "cdn import" in ln).split("cdn import ", 1)[1]
        db = connect(tmp_path / "m.db")  # the printed file loads the registry
        assert import_cdns(db, load).added == 1
        assert CdnRegistry.load(db).by_asn[64600] == "Edgewise CDN"
        dns_address = next(ln.split()[1] for ln in lines if ln.startswith("dns:"))
        host, port = dns_address.split(":")
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port, res.lifetime = [host], int(port), 2
        answer = res.resolve("1.2.0.127.origin.asn.cymru.com", "TXT")
        assert b"64600" in b"".join(answer[0].strings)
        snippet = "\n".join(
            ln[2:]
            for ln in lines[lines.index("config:") + 1 :]
            if ln.startswith("  ") and not ln.startswith("   ")
        )
        allowed = set(from_dict(tomllib.loads(snippet)).crawl.allow_networks)
        assert "127.0.2.1/32" in allowed  # checks through the edge are allowed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
