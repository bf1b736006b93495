"""`serve()` runs world, DNS and receivers until SIGTERM and writes the truth files."""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
import tomllib
import urllib.request

import dns.resolver

from monitor.config import from_dict
from monitor.sim.scenario import load as load_scenario


def test_serve_until_sigterm(tmp_path):
    code = ("from monitor.sim.serve import serve; "
            f"serve('tiny', start='2026-01-05T06:00:00Z', truth_out={str(tmp_path)!r})")
    proc = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
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
        snippet = "\n".join(ln[2:] for ln in lines[lines.index("config:") + 1:]
                             if ln.startswith("  ") and not ln.startswith("   "))
        config = from_dict(tomllib.loads(snippet))      # the printed snippet is a valid config
        hoster_ips = {h.ip for h in load_scenario("tiny").hosters}
        allowed = {ipaddress.ip_network(n) for n in config.crawl.allow_networks}
        assert {str(n.network_address) for n in allowed if n.version == 4} == hoster_ips
        assert all(n.num_addresses == 1 for n in allowed)   # exactly its own addresses
        truth = json.loads((tmp_path / "truth.json").read_text())
        assert truth["scenario"] == "tiny" and (tmp_path / "hosters.csv").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
