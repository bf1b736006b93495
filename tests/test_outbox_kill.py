"""A crawl process killed between the outbox write and the send delivers exactly once later.

A real `ntd-monitor run` subprocess scans a watch source on the loopback hoster world, finds a
re-upload on 'Copy Host', commits it and its webhook alert to the outbox, and dies by SIGKILL
when it starts delivering: before claiming the due alerts, or after claiming them but before the
first POST. A restarted process (`run` again, or `alerts send`) delivers the alert to the
webhook receiver exactly once, with its idempotency key; later sends deliver nothing more.

The kill point is set by a wrapper (`KILLER`) that patches the sender in the subprocess and then
runs the console script's entry point: no test hook lives in the product.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

import pytest

from monitor import store
from monitor.core import clock
from monitor.intake.hosters import import_hosters
from monitor.intake.reports import import_reports
from monitor.reuploads.watch_sources import add_source
from monitor.sim import truth
from monitor.sim.pytest_plugin import WEBHOOK_TEST_SECRET
from monitor.sim.scenario import from_dict
from tests.crawl_helpers import at, crawl_config
from tests.watch_helpers import set_baseline

NTD = [sys.executable, "-m", "monitor"]
SECRET_ENV = "NTD_SIM_WEBHOOK_COPY_HOST"
LEASE = timedelta(seconds=300)  # monitor.alerts.policy.DeliveryPolicy.lease
KILLER = """
import os, signal, sys
from monitor.alerts import deliver

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if sys.argv[1] == "before_claim":
    deliver._due = die                      # send_pending's first step: claim the due alerts
else:
    async def webhook(*args, **kwargs):     # claimed, before the first POST
        die()
    deliver._Sender.webhook = webhook
sys.argv = ["ntd-monitor", *sys.argv[2:]]
from monitor.cli.main import main
main()
"""


@pytest.fixture(autouse=True)
def release_clock():
    yield
    clock.fix(None)


def _scenario():
    """'Origin Host' holds one reported item (removed after 2h); a mirrored copy appears on
    'Copy Host', whose abuse desk takes webhooks only."""
    return from_dict(
        {
            "name": "outbox-kill",
            "seed": 11,
            "start": "2026-03-01T00:00:00Z",
            "days": 10,
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reappear_share": 0.0,
            "reupload_share": 1.0,
            "reupload_other_hoster_share": 1.0,
            "reupload_after_days": [0.5, 1.0],
            "transforms": ["mirror"],
            "baseline_share": 0.0,
            "hash_list_share": 0.0,
            "hosters": [
                {
                    "name": "Origin Host",
                    "asn": 64701,
                    "items": 1,
                    "galleries": 1,
                    "delay": {"dist": "fixed", "median_hours": 2},
                },
                {
                    "name": "Copy Host",
                    "asn": 64702,
                    "items": 0,
                    "galleries": 1,
                    "webhook": True,
                    "abuse_email": "",
                    "delay": {"dist": "fixed", "median_hours": 2},
                },
            ],
        }
    )


@pytest.fixture
async def setup(make_world, sim_dns, webhook_receiver, tmp_path):
    world = await make_world(_scenario())
    world.attach_dns(sim_dns)
    config = crawl_config(sim_dns)
    files = truth.write(world, tmp_path / "world", webhook_base=webhook_receiver.url)
    when = world.scenario.start + timedelta(days=3)
    at(world, when)
    db_file = tmp_path / "t.db"
    db = store.connect(db_file)
    assert import_hosters(db, files["hosters"], allow_networks=("127.0.0.0/8",)).bad == 0
    assert import_reports(db, files["reports"], config).bad == 0
    (original,) = world.plan.reports()
    set_baseline(db, world, original)
    add_source(db, world.gallery_urls("Copy Host")[0], config)
    db.conn.close()
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[crawl]\nallow_networks = ["127.0.0.0/8", "::1/128"]\nhash_workers = 0\n'
        "autothrottle = false\n"
        f'download_timeout = "3s"\nnameservers = ["{sim_dns.address}"]\n'
        f'[asn]\nnameservers = ["{sim_dns.address}"]\ntimeout = "1s"\n'
    )
    clock.fix(None)  # the subprocesses get the time with --now; the world keeps `when`
    env = dict(os.environ, **{SECRET_ENV: WEBHOOK_TEST_SECRET})
    return world, db_file, ["--db", str(db_file), "--config", str(toml)], when, env


async def _spawn(args, env, *, stage: str | None = None):
    head = [sys.executable, "-c", KILLER, stage] if stage else NTD
    return await asyncio.create_subprocess_exec(
        *head, *args, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def _finish(proc, seconds: float = 120.0) -> tuple[int, str]:
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), seconds)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, err.decode(errors="replace")[-3000:]


async def _send(base, env, when) -> str:
    proc = await _spawn([*base, "--now", clock.iso(when), "alerts", "send"], env)
    code, err = await _finish(proc)
    assert code == 0, err
    return err


def _outbox(db_file) -> list[dict]:
    db = store.connect(db_file)
    rows = [
        dict(r)
        for r in db.query(
            "SELECT a.id, a.idempotency_key, a.channel, a.state, a.attempts, a.next_attempt_at, "
            "h.name AS hoster FROM alerts a LEFT JOIN hosters h ON h.id = a.hoster_id ORDER BY a.id"
        )
    ]
    db.conn.close()
    return rows


def _reupload_urls(db_file) -> list[str]:
    db = store.connect(db_file)
    rows = [u for (u,) in db.execute("SELECT url FROM reuploads")]
    db.conn.close()
    return rows


async def _killed_run(setup, webhook_receiver, stage: str) -> dict:
    world, db_file, base, when, env = setup
    proc = await _spawn([*base, "--now", clock.iso(when), "run"], env, stage=stage)
    code, err = await _finish(proc)

    assert code == -signal.SIGKILL, err
    (copy,) = world.plan.reuploads()
    assert _reupload_urls(db_file) == [world.url(copy)]
    (alert,) = _outbox(db_file)
    assert (alert["channel"], alert["hoster"], alert["state"], alert["attempts"]) == (
        "webhook",
        "Copy Host",
        "pending",
        0,
    )
    assert webhook_receiver.deliveries == []  # committed, never sent
    return alert


def _delivered_once(webhook_receiver, alert: dict, url: str) -> None:
    (delivery,) = webhook_receiver.deliveries
    assert delivery.verified and delivery.status == 200
    assert delivery.path == "/hooks/copy-host"
    assert delivery.headers["Idempotency-Key"] == alert["idempotency_key"]
    assert delivery.json["idempotency_key"] == alert["idempotency_key"]
    assert [item["url"] for item in delivery.json["items"]] == [url]


async def test_killed_before_claiming_a_restarted_run_delivers_once(setup, webhook_receiver):
    world, db_file, base, when, env = setup
    alert = await _killed_run(setup, webhook_receiver, "before_claim")
    assert alert["next_attempt_at"] == clock.iso(when)  # not claimed: due at once

    proc = await _spawn([*base, "--now", clock.iso(when), "run"], env)
    for _ in range(600):
        if webhook_receiver.deliveries or proc.returncode is not None:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a double send would show by now
    proc.send_signal(signal.SIGTERM)
    code, err = await _finish(proc)
    assert code == 0, err

    (copy,) = world.plan.reuploads()
    _delivered_once(webhook_receiver, alert, world.url(copy))
    assert [a["state"] for a in _outbox(db_file)] == ["sent"]
    await _send(base, env, when + timedelta(days=1))
    assert len(webhook_receiver.deliveries) == 1
    assert _reupload_urls(db_file) == [world.url(copy)]


async def test_killed_after_claiming_the_claim_runs_out_then_delivers_once(setup, webhook_receiver):
    world, db_file, base, when, env = setup
    alert = await _killed_run(setup, webhook_receiver, "after_claim")
    assert alert["next_attempt_at"] == clock.iso(when + LEASE)  # claimed by the dead sender

    await _send(base, env, when + timedelta(minutes=1))  # the claim still holds
    assert webhook_receiver.deliveries == []
    await _send(base, env, when + LEASE + timedelta(minutes=1))
    (copy,) = world.plan.reuploads()
    _delivered_once(webhook_receiver, alert, world.url(copy))
    assert [a["state"] for a in _outbox(db_file)] == ["sent"]
    await _send(base, env, when + timedelta(days=1))
    assert len(webhook_receiver.deliveries) == 1
