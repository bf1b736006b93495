"""Helpers for crawl tests: a world with one hoster per behaviour, imported into a fresh store."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from monitor import store
from monitor.core import clock
from monitor.core.config import Config
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports
from monitor.sim import truth
from monitor.sim.scenario import AFTER, from_dict


def behaviour_scenario(
    behaviours=AFTER,
    *,
    items: int = 1,
    noise: dict | None = None,
    delay_hours: float = 2.0,
    never_share: float = 0.0,
    formats: dict | None = None,
) -> object:
    hosters = []
    for index, after in enumerate(behaviours):
        hosters.append(
            {
                "name": f"H-{after}",
                "asn": 64600 + index,
                "country": "NL",
                "items": items,
                "galleries": 0,
                "unknown": "placeholder" if after == "placeholder" else "404",
                "delay": {"dist": "fixed", "median_hours": delay_hours, "never_share": never_share},
                "after": {after: 1.0},
                "noise": noise or {},
                **({"formats": formats} if formats else {}),
            }
        )
    return from_dict(
        {
            "name": "behaviours",
            "seed": 3,
            "start": "2026-02-01T00:00:00Z",
            "days": 10,
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0.0,
            "reupload_share": 0.0,
            "baseline_share": 0.0,
            "hash_list_share": 0.0,
            "hosters": hosters,
        }
    )


LOOPBACK = ("127.0.0.0/8", "::1/128")  # where the test worlds listen


def crawl_config(dns=None, **crawl) -> Config:
    base = Config()
    options = {
        "allow_networks": LOOPBACK,
        "download_timeout": timedelta(seconds=3),
        "hash_workers": 0,
        "match_process": False,
        "autothrottle": False,
        "max_download_bytes": 4 * 1024 * 1024,
    }
    if dns is not None:
        options["nameservers"] = (dns.address,)
    options.update(crawl)
    cfg = replace(base, crawl=replace(base.crawl, **options))
    if dns is not None:
        cfg = replace(
            cfg, asn=replace(cfg.asn, nameservers=(dns.address,), timeout=timedelta(seconds=1))
        )
    return cfg


def load_world(world, directory: Path, config: Config) -> Path:
    files = truth.write(world, directory)
    db_file = directory / "t.db"
    db = store.connect(db_file)
    import_hosters(db, files["hosters"])
    result = import_reports(db, files["reports"], config)
    assert result.bad == 0, result.errors
    db.conn.close()
    return db_file


def at(world, when) -> None:
    """Move both clocks (ours and the world's) to `when`."""
    world.set_now(when)
    clock.fix(when)


def has_ipv6() -> bool:
    """Whether this machine can bind the IPv6 loopback (tests that need it skip otherwise)."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False
