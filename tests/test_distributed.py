"""Distributed mode with real redis-server processes and worker subprocesses on the loopback
hoster world: the result equals a single-process crawl, and nothing is lost or doubled when a
worker is SIGKILLed, the writer dies before acknowledging, or Redis restarts."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.distributed.conn import connect
from monitor.distributed.keys import GROUP, Keys
from monitor.sim.dns import CymruDNS
from tests.dist_helpers import Setup, env, observations, report_states
from tests.redis_proxy import LossyRedisProxy

KEYS = Keys("ntd")


@pytest.fixture
def dns():
    server = CymruDNS()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def setup(tmp_path, dns):
    s = Setup(tmp_path, dns, items=4, hours=1.2)
    yield s
    s.close()


def single(setup: Setup, name: str):
    db = setup.database(name)
    return db


def enqueue(setup: Setup, db, redis_url: str) -> str:
    done = setup.cli(db, "crawl", "--redis", redis_url, "--enqueue")
    return done.stdout + done.stderr


def workers(setup: Setup, db, redis_url: str, n: int = 2, idle: float = 2.0) -> list[str]:
    procs = [
        setup.popen(
            db,
            "worker",
            "--redis",
            redis_url,
            "--idle-exit",
            str(idle),
            "--no-progress",
            "--name",
            f"w{i}",
        )
        for i in range(n)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
        outs.append(out)
    return outs


def ingest(setup: Setup, db, redis_url: str, *, name: str = "writer") -> str:
    done = setup.cli(db, "ingest", "--redis", redis_url, "--idle-exit", "1", "--name", name)
    return done.stdout + done.stderr


def queued(redis_url: str) -> int:
    client = connect(redis_url)
    try:
        return sum(
            client.llen(KEYS.queue("recheck", p.decode()))
            for p in client.smembers(KEYS.partitions("recheck"))
        )
    finally:
        client.close()


def stream_state(redis_url: str) -> tuple[int, int]:
    import redis

    client = connect(redis_url)
    try:
        try:
            pending = client.xpending(KEYS.items, GROUP)["pending"]
        except redis.exceptions.ResponseError:  # no group yet: nobody read anything
            pending = 0
        return client.xlen(KEYS.items), pending
    finally:
        client.close()


def test_distributed_crawl_equals_single_process(setup, redis_server):
    one, dist = single(setup, "one"), single(setup, "dist")
    for hours in (1.2, 2.1):  # first checks (baselines), then removals
        setup.at(hours)
        setup.cli(one, "crawl", "--no-progress")
        out = enqueue(setup, dist, redis_server.url)
        assert "checks enqueued" in out
        workers(setup, dist, redis_server.url)
        ingest(setup, dist, redis_server.url)
    a, b = observations(one), observations(dist)
    assert len(a) == 48 and a == b
    assert {row[3] for row in b} >= {"online", "removed"}
    assert report_states(one) == report_states(dist)
    assert stream_state(redis_server.url) == (0, 0)  # all acknowledged and trimmed
    # nothing left due at this clock: a second enqueue sends nothing
    enqueue(setup, dist, redis_server.url)
    assert queued(redis_server.url) == 0


def test_enqueue_sends_each_slot_once_until_it_is_stored_or_requeued(setup, redis_server):
    from monitor.runners.enqueue import enqueue_due

    db_file = single(setup, "db")
    db = store.connect(db_file)
    client = connect(redis_server.url)
    cfg = replace(
        setup.config,
        distributed=replace(setup.config.distributed, requeue_after=timedelta(seconds=1)),
    )
    first = enqueue_due(db, cfg, client)
    again = enqueue_due(db, cfg, client)
    assert first.checks == 24 and again.checks == 0 and again.already_sent == 24
    assert queued(redis_server.url) == 24
    # one queue per hoster: every report of a partition has the same host
    assert len(first.partitions) == 6 and set(first.partitions.values()) == {4}
    time.sleep(1.2)
    assert enqueue_due(db, cfg, client).checks == 24  # not stored yet: sent again
    db.conn.close()


def test_worker_killed_mid_crawl_loses_nothing(tmp_path, dns, redis_server):
    s = Setup(tmp_path, dns, items=10, hours=1.2)
    s.world.latency = 0.15  # keep requests in flight
    try:
        one, dist = single(s, "one"), single(s, "dist")
        s.cli(one, "crawl", "--no-progress")
        enqueue(s, dist, redis_server.url)
        victim = s.popen(
            dist, "worker", "--redis", redis_server.url, "--no-progress", "--name", "victim"
        )
        client = connect(redis_server.url)
        deadline = time.monotonic() + 60
        while client.xlen(KEYS.items) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # the survivor takes over the victim's hoster queues once its leases expire (2 s)
        workers(s, dist, redis_server.url, n=1, idle=3.5)
        ingest(s, dist, redis_server.url)
        lost = len(observations(one)) - len(observations(dist))
        assert lost > 0, "the kill came too late to lose anything in flight"
        time.sleep(1.1)  # requeue_after = 1s
        out = enqueue(s, dist, redis_server.url)
        assert str(lost) in out
        workers(s, dist, redis_server.url, n=1)
        ingest(s, dist, redis_server.url)
        assert observations(one) == observations(dist)
        assert len(observations(dist)) == 60
    finally:
        s.close()


def test_writer_death_and_redis_restart_lose_and_double_nothing(setup, redis_server):
    one, dist = single(setup, "one"), single(setup, "dist")
    setup.cli(one, "crawl", "--no-progress")
    enqueue(setup, dist, redis_server.url)
    workers(setup, dist, redis_server.url)
    entries, _ = stream_state(redis_server.url)
    assert entries >= 24
    # a writer reads everything and dies before acknowledging (as if SIGKILLed mid-batch)
    client = connect(redis_server.url)
    client.xgroup_create(KEYS.items, GROUP, id="0", mkstream=True)
    taken = client.xreadgroup(GROUP, "dead-writer", {KEYS.items: ">"}, count=10_000)
    assert len(taken[0][1]) == entries
    client.close()
    # Redis restarts (its AOF keeps the stream, the group and the pending entries)
    redis_server.restart(pause=0.2)
    assert stream_state(redis_server.url) == (entries, entries)
    time.sleep(1.1)  # claim_idle = 1s
    out = ingest(setup, dist, redis_server.url, name="new-writer")
    assert re.search(rf"reclaimed\s*│\s*{entries}\s", out), out
    assert observations(one) == observations(dist)
    assert stream_state(redis_server.url) == (0, 0)
    # ingesting the same entries again (a crash after COMMIT, before XACK) doubles nothing
    db = store.connect(dist)
    count = db.execute("SELECT count(*) FROM checks").fetchone()[0]
    db.conn.close()
    assert count == 24


DIE_BEFORE_ACK = """
import os, signal, sys
import redis
def die(self, *args, **kwargs):          # SIGKILL right after the first COMMIT, before XACK
    os.kill(os.getpid(), signal.SIGKILL)
redis.Redis.xack = die
from monitor.cli.main import main
sys.argv[0] = "ntd-monitor"
main()
"""


def test_a_writer_sigkilled_between_commit_and_ack_loses_and_doubles_nothing(setup, redis_server):
    one, dist = single(setup, "one"), single(setup, "dist")
    setup.cli(one, "crawl", "--no-progress")
    enqueue(setup, dist, redis_server.url)
    workers(setup, dist, redis_server.url)
    entries, _ = stream_state(redis_server.url)  # 24 checks and a placeholder
    argv = setup.argv(dist, "ingest", "--redis", redis_server.url, "--name", "first")
    killed = subprocess.run(
        [argv[0], "-c", DIE_BEFORE_ACK, *argv[3:]],
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL
    db = store.connect(dist)
    stored = db.execute("SELECT count(*) FROM checks").fetchone()[0]
    db.conn.close()
    assert stored == 10  # one batch (ingest_batch = 10)
    assert stream_state(redis_server.url) == (entries, 10)  # committed, never acknowledged
    redis = connect(redis_server.url)
    redis.delete(KEYS.ingest_lock)  # a dead writer's lock expires; the test won't wait
    redis.close()
    out = ingest(setup, dist, redis_server.url, name="second")
    assert re.search(r"reclaimed\s*│\s*10\s", out), out
    assert observations(one) == observations(dist)  # the 10 again: not doubled
    assert stream_state(redis_server.url) == (0, 0)
    # the ingest writer chained each stored row once: the 10 again did not advance the chain
    assert "chain intact: 24 checks" in setup.cli(dist, "evidence", "verify").stdout


def test_a_worker_rides_out_a_redis_restart(tmp_path, dns, redis_server):
    s = Setup(tmp_path, dns, items=10, hours=1.2)
    s.world.latency = 0.1
    try:
        one, dist = single(s, "one"), single(s, "dist")
        s.cli(one, "crawl", "--no-progress")
        enqueue(s, dist, redis_server.url)
        proc = s.popen(
            dist,
            "worker",
            "--redis",
            redis_server.url,
            "--no-progress",
            "--idle-exit",
            "3",
            "--name",
            "w",
        )
        client = connect(redis_server.url)
        deadline = time.monotonic() + 60
        while client.xlen(KEYS.items) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        client.close()
        redis_server.restart(pause=0.5)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        ingest(s, dist, redis_server.url)
        time.sleep(1.1)  # anything in flight: sent again
        enqueue(s, dist, redis_server.url)
        workers(s, dist, redis_server.url, n=1)
        ingest(s, dist, redis_server.url)
        assert observations(one) == observations(dist)
    finally:
        s.close()


def test_a_reply_lost_on_the_wire_does_not_hang_a_worker(tmp_path, dns, redis_server):
    """Redis ran the scheduler's RPOP, the reply never arrived, redis-py ran it again: one
    request of the worker's window is gone. The worker notices nothing is left in Scrapy,
    stops waiting for it (its check is re-sent by the enqueuer) and exits when idle."""
    s = Setup(tmp_path, dns, items=6, hours=1.2)
    proxy = LossyRedisProxy(redis_server.port, b"RPOP", b"ntd:sched:")  # the window
    try:
        one, dist = single(s, "one"), single(s, "dist")
        s.cli(one, "crawl", "--no-progress")
        enqueue(s, dist, redis_server.url)
        proc = s.popen(
            dist, "worker", "--redis", proxy.url, "--no-progress", "--idle-exit", "2", "--name", "w"
        )
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err[-3000:]
        assert proxy.lost == 1
        assert re.search(r"requests lost in transit \(sent again\)\s*│\s*1\s", err), err
        ingest(s, dist, redis_server.url)
        assert observations(one) != observations(dist)  # the lost check is not stored yet
        time.sleep(1.1)  # unacknowledged: sent again
        enqueue(s, dist, redis_server.url)
        workers(s, dist, redis_server.url, n=1)
        ingest(s, dist, redis_server.url)
        assert observations(one) == observations(dist)
    finally:
        proxy.close()
        s.close()


def test_one_writer_only_and_clear_errors(setup, redis_server):
    db = single(setup, "db")
    client = connect(redis_server.url)
    client.set(KEYS.ingest_lock, "someone-else", px=60_000)
    busy = setup.cli(db, "ingest", "--redis", redis_server.url, "--idle-exit", "0", check=False)
    assert busy.returncode == 1 and "another ingest is running (someone-else)" in busy.stderr
    no_flag = setup.cli(db, "crawl", "--redis", redis_server.url, check=False)
    assert no_flag.returncode == 2 and "--enqueue" in no_flag.stderr
    bad_url = setup.cli(db, "crawl", "--redis", "http://x", "--enqueue", check=False)
    assert bad_url.returncode == 2 and "not a Redis URL" in bad_url.stderr
    redis_server.stop()
    down = setup.cli(
        db, "worker", "--redis", redis_server.url, "--idle-exit", "1", check=False, timeout=120
    )
    assert down.returncode == 1 and "cannot reach Redis" in down.stderr
    assert "Traceback" not in down.stderr


def test_watch_scans_run_on_workers_and_find_the_same_reuploads(tmp_path, dns, redis_server):
    from monitor.reuploads.watch_sources import add_source
    from monitor.runners.watch import run_watch
    from tests.watch_helpers import copy_scenario, reuploads, set_baseline

    s = Setup(tmp_path, dns, world_scenario=copy_scenario(("mirror",)), hours=72)
    try:
        dbs = {}
        for name in ("one", "dist"):
            dbs[name] = single(s, name)
            db = store.connect(dbs[name])
            for item in s.world.plan.reports():
                set_baseline(db, s.world, item)
            add_source(db, s.world.gallery_urls("Copy Host")[0], s.config)
            db.conn.close()
        asyncio.run(run_watch(dbs["one"], s.config))  # the single-process scan
        out = enqueue(s, dbs["dist"], redis_server.url)
        assert re.search(r"watch scans enqueued\s*│\s*1\s", out), out
        workers(s, dbs["dist"], redis_server.url, n=1)
        out = ingest(s, dbs["dist"], redis_server.url)
        assert re.search(r"watch scans\s*│\s*1\s", out), out

        def found(name):
            return {
                (r["url"], r["of_report_id"], r["hoster"], r["asn"], r["page_url"])
                for r in reuploads(dbs[name])
            }

        assert found("one") and found("one") == found("dist")
        for name in ("one", "dist"):  # alerted to the serving hoster, rescheduled
            db = store.connect(dbs[name])
            hosters = {
                h
                for (h,) in db.execute(
                    "SELECT h.name FROM alerts a JOIN hosters h ON h.id = a.hoster_id"
                )
            }
            next_scan = db.execute("SELECT next_scan_at FROM watch_sources").fetchone()[0]
            db.conn.close()
            assert hosters == {"Copy Host"}
            assert next_scan == clock.iso(s.now + timedelta(hours=24))
    finally:
        s.close()


def test_video_reuploads_found_on_workers_equal_the_single_process_scan(
    tmp_path, dns, redis_server
):
    """Seen videos travel the stream (one entry each) and the writer matches them by vPDQ:
    the same re-uploads, attributed and alerted, as a scan in one process."""
    from hashes.video import video_signature
    from hashes.video_compare import BASELINE_SECONDS_PER_HASH
    from hashes.video_text import to_text
    from monitor.reuploads.watch_sources import add_source
    from monitor.runners.watch import run_watch
    from tests.watch_helpers import copy_scenario, report_id, reuploads

    images = copy_scenario(("mirror",), items=2)  # the copy world, its originals as videos
    scenario = replace(
        images,
        hosters=tuple(
            replace(h, formats={"mp4": 1.0}) if h.name == "Origin Host" else h
            for h in images.hosters
        ),
        video_transforms=("bitrate", "border"),
        video_distractors=1,
    )
    s = Setup(tmp_path, dns, world_scenario=scenario, hours=72)
    try:
        dbs = {}
        for name in ("one", "dist"):
            dbs[name] = single(s, name)
            db = store.connect(dbs[name])
            for item in s.world.plan.reports():
                db.execute(
                    "INSERT INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
                    "VALUES (?, 'vpdq', ?, 'imported', ?)",
                    [
                        report_id(db, s.world, item),
                        to_text(
                            video_signature(
                                s.world.body(item), seconds_per_hash=BASELINE_SECONDS_PER_HASH
                            )
                        ),
                        clock.now_iso(),
                    ],
                )
            add_source(db, s.world.gallery_urls("Copy Host")[0], s.config)
            db.conn.commit()
            db.conn.close()
        asyncio.run(run_watch(dbs["one"], s.config))
        enqueue(s, dbs["dist"], redis_server.url)
        workers(s, dbs["dist"], redis_server.url, n=1)
        out = ingest(s, dbs["dist"], redis_server.url)
        assert re.search(r"videos matched\s*│\s*[1-9]", out), out

        def found(name):
            return {
                (r["url"], r["of_report_id"], r["hoster"], r["algorithm"])
                for r in reuploads(dbs[name])
            }

        copies = {s.world.url(r) for r in s.world.plan.reuploads()}
        assert copies and {url for url, *_ in found("one")} == copies
        assert found("one") == found("dist")
        assert {algorithm for *_, algorithm in found("dist")} == {"vpdq"}
    finally:
        s.close()
