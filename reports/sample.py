"""A generated store for report tests, the browser screenshot and the benchmark (no network).

Hosters with known removal-time distributions; every report is checked on the default schedule
offsets (up to `checks` checks, never after `now`), its timeline summary columns filled as the
crawl writer would (takedown = the first down check once a second down check confirms it).
Rows go in with executemany; times are made vectorised with numpy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
from sqlite_utils import Database

from monitor.core import clock
from monitor.core.timeline import State
from monitor.store import transaction

OFFSETS_H = np.array([1, 2, 4, 8, 12, 18, 24, 36, 48, 72, 120, 168, 336, 720], dtype=np.float64)
# name, country, asn, median removal hours, share never removed
HOSTERS = [
    ("Quickstop Hosting", "NL", 64500, 3.0, 0.00),
    ("Bluewave Cloud", "DE", 64501, 9.0, 0.02),
    ("Nordlicht Server", "DE", 64502, 20.0, 0.03),
    ("Polder Datacenter", "NL", 64503, 6.0, 0.01),
    ("Slowlane Networks", "US", 64504, 60.0, 0.10),
    ("Harbor Colo", "FR", 64505, 14.0, 0.02),
    ("Meridian Host", "GB", 64506, 30.0, 0.05),
    ("Tiny Racks", "SE", 64507, 10.0, 0.00),
    ("AS64510 EXAMPLE-NET", "RO", 64510, 100.0, 0.25),
]


def _iso(seconds: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "Z")


def _opt(values: np.ndarray, present: np.ndarray) -> list:
    return [v if p else None for v, p in zip(values.tolist(), present.tolist(), strict=True)]


def fill(
    db: Database,
    n: int,
    *,
    now: datetime | str,
    checks: int = 10,
    days: float = 90.0,
    seed: int = 7,
    hosters: list[tuple] | None = None,
    batch: int = 200_000,
) -> None:
    """Insert `n` reports (and `checks` checks each) noticed over the `days` before `now`."""
    table = hosters or HOSTERS
    rng = np.random.default_rng(seed)
    end = (clock.parse(now) if isinstance(now, str) else now).timestamp()
    stamp = clock.iso(clock.parse(now) if isinstance(now, str) else now)
    with transaction(db):
        hid = {}
        for name, country, asn, _m, _s in table:
            db.execute(
                "INSERT OR IGNORE INTO hosters (name, country, unmapped, created_at) "
                "VALUES (?, ?, ?, ?)",
                [name, country, int(name.startswith("AS")), stamp],
            )
            hid[name] = db.execute("SELECT id FROM hosters WHERE name = ?", [name]).fetchone()[0]
            db.execute(
                "INSERT OR IGNORE INTO hoster_networks (hoster_id, asn) VALUES (?, ?)",
                [hid[name], asn],
            )
        base = db.execute("SELECT COALESCE(MAX(id), 0) FROM reports").fetchone()[0]
        for start in range(0, n, batch):
            size = min(batch, n - start)
            reports, rows = _batch(rng, base + start, size, end, days, checks, table, hid)
            db.conn.executemany(
                "INSERT INTO reports (id, kind, url, url_key, reference, reported_at, "
                "noticed_at, imported_at, notified_hoster_id, state, checks_count, last_outcome, "
                "last_checked_at, last_online_at, first_down_at, takedown_at, reappearances, "
                "moves, hoster_id, asn) VALUES "
                "(?, 'report', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                reports,
            )
            db.conn.executemany(
                "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, asn, "
                "hoster_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )


def _batch(
    rng: np.random.Generator,
    first: int,
    size: int,
    end: float,
    days: float,
    checks: int,
    table: list[tuple],
    hid: dict[str, int],
) -> tuple[list, Iterator]:
    h = rng.integers(0, len(table), size)
    medians = np.array([t[3] for t in table])[h]
    never = rng.random(size) < np.array([t[4] for t in table])[h]
    removal_h = np.where(never, np.inf, medians * rng.lognormal(0.0, 0.9, size))
    noticed = np.floor(end - rng.random(size) * days * 86400.0)
    offsets = OFFSETS_H[:checks]
    at = noticed[:, None] + offsets[None, :] * 3600.0 + rng.integers(0, 300, (size, checks))
    done = at <= end
    down = (offsets[None, :] >= removal_h[:, None]) & done
    count = done.sum(axis=1)
    first_down_i = np.where(down.any(axis=1), down.argmax(axis=1), -1)
    has_down = first_down_i >= 0
    confirmed = has_down & (first_down_i + 1 < count)
    rows_i = np.arange(size)
    fd = np.where(has_down, at[rows_i, np.maximum(first_down_i, 0)], np.nan)
    online_seen = ~down & done
    last_on_i = np.where(
        online_seen.any(axis=1), checks - 1 - online_seen[:, ::-1].argmax(axis=1), -1
    )
    lo = np.where(last_on_i >= 0, at[rows_i, np.maximum(last_on_i, 0)], np.nan)
    lc = np.where(count > 0, at[rows_i, np.maximum(count - 1, 0)], np.nan)
    state = np.where(
        count == 0,
        State.UNCHECKED,
        np.where(confirmed, State.DOWN, np.where(has_down, State.UNCONFIRMED, State.ONLINE)),
    )
    ids = np.arange(first + 1, first + size + 1)
    iso_n = _iso(noticed)
    iso = {k: _iso(np.nan_to_num(v)) for k, v in (("fd", fd), ("lo", lo), ("lc", lc))}
    names = [t[0] for t in table]
    asns = np.array([t[2] for t in table])[h]
    hosts = np.array([hid[x] for x in names])[h]
    urls = [
        f"http://files{i % 997}.{names[k].split()[0].lower()}.test/img/{i}.jpg"
        for i, k in zip(ids.tolist(), h.tolist(), strict=True)
    ]
    last_out = np.where(
        count == 0, "", np.where(down[rows_i, np.maximum(count - 1, 0)], "removed", "online")
    )
    reports = list(
        zip(
            ids.tolist(),
            urls,
            urls,
            [f"case-{i}" for i in ids.tolist()],
            iso_n.tolist(),
            iso_n.tolist(),
            iso_n.tolist(),
            hosts.tolist(),
            state.tolist(),
            count.tolist(),
            _opt(last_out, count > 0),
            _opt(iso["lc"], count > 0),
            _opt(iso["lo"], last_on_i >= 0),
            _opt(iso["fd"], has_down),
            _opt(iso["fd"], confirmed),
            [0] * size,
            [0] * size,
            hosts.tolist(),
            asns.tolist(),
            strict=True,
        )
    )

    i, j = np.nonzero(done)
    outcome = np.where(down[i, j], "removed", "online").tolist()
    checks_rows = zip(
        ids[i].tolist(),
        _iso(noticed[i] + offsets[j] * 3600.0).tolist(),
        _iso(at[i, j]).tolist(),
        outcome,
        outcome,
        asns[i].tolist(),
        hosts[i].tolist(),
        strict=True,
    )
    return reports, checks_rows
