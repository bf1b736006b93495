"""Helpers for distributed-mode tests: a hoster world on its own thread (so this process may
block on subprocesses), its DNS, a config file for subprocesses, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from monitor import store
from monitor.core import clock
from monitor.sim.background import SimThread
from monitor.sim.world import World
from tests.crawl_helpers import behaviour_scenario, crawl_config, load_world

BEHAVIOURS = ("404", "different_image", "redirect_front", "410", "placeholder", "451")


def scenario(items: int = 4):
    return behaviour_scenario(BEHAVIOURS, items=items, delay_hours=1.5)


def write_config(path: Path, dns, **distributed: str | int) -> Path:
    lines = [
        "[crawl]",
        'allow_networks = ["127.0.0.0/8", "::1/128"]',
        "hash_workers = 0",
        "autothrottle = false",
        'download_timeout = "3s"',
        "concurrent_requests = 16",
        f'nameservers = ["{dns.address}"]',
        "[asn]",
        f'nameservers = ["{dns.address}"]',
        'timeout = "1s"',
        "[distributed]",
    ]
    lines += [
        f"{k} = {v}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in distributed.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Setup:
    """A world (on a thread) with DNS, at `now`; fresh databases loaded from it on demand."""

    def __init__(
        self, tmp: Path, dns, items: int = 4, hours: float = 2.1, world_scenario=None
    ) -> None:
        self.tmp = tmp
        self.world = World(world_scenario or scenario(items))
        self.world.attach_dns(dns)
        self.sim = SimThread(self.world).start()
        self.now: datetime = self.world.scenario.start + timedelta(hours=hours)
        self.world.set_now(self.now)
        clock.fix(self.now)
        self.config = crawl_config(dns)
        self.config_file = write_config(
            tmp / "ntd.toml", dns, lease="2s", requeue_after="1s", claim_idle="1s", ingest_batch=10
        )

    def database(self, name: str) -> Path:
        directory = self.tmp / name
        directory.mkdir()
        return load_world(self.world, directory, self.config)

    def cli(
        self, db: Path, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(db, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            env=env(),
        )

    def popen(self, db: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.argv(db, *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )

    def argv(self, db: Path, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "monitor",
            "--db",
            str(db),
            "--config",
            str(self.config_file),
            "--now",
            clock.iso(self.now),
            *args,
        ]

    def at(self, hours: float) -> None:
        self.now = self.world.scenario.start + timedelta(hours=hours)
        self.world.set_now(self.now)
        clock.fix(self.now)

    def close(self) -> None:
        self.sim.stop()
        clock.fix(None)


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    return out


def observations(db_file: Path) -> set[tuple]:
    """What a crawl observed, without what differs run to run (timings, crawl ids)."""
    db = store.connect(db_file)
    try:
        return set(
            db.execute(
                "SELECT r.url, c.due_at, c.checked_at, c.outcome, c.reason, c.http_status, "
                "c.final_url, c.ip, c.algorithm, c.distance, c.asn, c.hoster_id FROM checks c "
                "JOIN reports r ON r.id = c.report_id"
            ).fetchall()
        )
    finally:
        db.conn.close()


def report_states(db_file: Path) -> set[tuple]:
    db = store.connect(db_file)
    try:
        return set(
            db.execute(
                "SELECT url, state, last_online_at, first_down_at, takedown_at, next_check_at, "
                "hoster_id FROM reports"
            ).fetchall()
        )
    finally:
        db.conn.close()
