"""Webhook delivery against the simulated abuse desk's receiver on loopback: signatures,
retries, failures, exactly-once across a crash, no content in any payload, dry run."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest

from monitor import store
from monitor.alerts.deliver import send_pending
from monitor.alerts.policy import DeliveryPolicy
from monitor.core import clock
from monitor.core.config import AlertsConfig, Config
from monitor.sim.pytest_plugin import WEBHOOK_TEST_SECRET
from tests.test_alerts import HOOK_ENV, PDQ, T0, alerts, loopback, make_db, reupload


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


FAST = DeliveryPolicy(timeout=0.5, backoff_base=0.01, jitter=0.5, inline_max=1.0)
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{100,}={0,2}")


def hook_db(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv(HOOK_ENV, WEBHOOK_TEST_SECRET)
    return make_db(tmp_path, webhook_url=receiver.url + "/hooks/mirror", abuse_email=None)


LOOP = loopback()


def config(**alerts):
    return loopback(Config(alerts=AlertsConfig(**alerts)) if alerts else Config())


async def test_signed_delivery_is_verified_and_sent_once(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    [alert_id] = reupload(db).alert_ids
    stats = await send_pending(db, LOOP, policy=FAST)
    assert (stats.sent, stats.failed, stats.messages) == (1, 0, 1)
    [delivery] = webhook_receiver.deliveries
    assert delivery.verified and delivery.status == 200 and delivery.path == "/hooks/mirror"
    assert delivery.scheme == "standard" and delivery.by_library
    [row] = alerts(db)
    assert delivery.headers["Idempotency-Key"] == row["idempotency_key"]
    assert delivery.headers["webhook-id"] == row["idempotency_key"]
    # the freshness stamp is the wall clock, not the pinned one (receivers check it)
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 300
    body = delivery.json
    assert (body["schema"], body["alert_id"], body["kind"], body["hoster"]) == (
        "ntd-monitor/alert-v1",
        alert_id,
        "reupload",
        "Mirror Host",
    )
    [item] = body["items"]
    assert item["url"] == "http://mirror.example/up/a.jpg" and item["first_seen_at"] == T0
    assert item["ip"] == "127.0.0.2" and item["asn"] == 64502
    assert item["match"]["algorithm"] == "pdq" and item["hashes"]["pdq"] == PDQ
    assert item["reference"].startswith("NL-2026-001/")
    assert (row["state"], row["sent_at"], row["attempts"]) == ("sent", T0, 1)
    again = await send_pending(db, LOOP, policy=FAST)
    assert again.sent == 0 and again.attempts == 0 and len(webhook_receiver.deliveries) == 1


async def test_500_and_timeout_are_retried_then_delivered(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    webhook_receiver.fail_next(2, 500)
    webhook_receiver.fail_next(1, "slow")
    stats = await send_pending(db, LOOP, policy=FAST)
    assert stats.sent == 1 and stats.attempts == 4
    assert [d.status for d in webhook_receiver.deliveries if d.status != 200] == [500, 500]
    assert len(webhook_receiver.verified()) == 1
    [row] = alerts(db)
    assert (row["state"], row["attempts"]) == ("sent", 4) and row["last_error"] is None


async def test_429_is_retried_after_the_wait_it_asks(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    webhook_receiver.fail_next(1, 429)  # Retry-After: 1 is above inline_max 0.5
    stats = await send_pending(db, LOOP, policy=replace_inline(0.5))
    assert stats.retrying == 1 and stats.sent == 0
    [row] = alerts(db)
    assert row["state"] == "pending" and row["last_error"].startswith("HTTP 429")
    assert row["next_attempt_at"] > T0
    assert (await send_pending(db, LOOP, policy=FAST)).sent == 0  # not due yet
    later = await send_pending(db, LOOP, policy=FAST, now=clock.parse(T0) + timedelta(hours=1))
    assert later.sent == 1 and alerts(db)[0]["attempts"] == 2


def replace_inline(seconds):
    return DeliveryPolicy(timeout=0.5, backoff_base=0.01, jitter=0.5, inline_max=seconds)


async def test_400_fails_at_once(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    webhook_receiver.fail_next(1, 400)
    stats = await send_pending(db, LOOP, policy=FAST)
    assert (stats.failed, stats.attempts) == (1, 1)
    [row] = alerts(db)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["last_error"] == "HTTP 400 Bad Request"
    assert len(webhook_receiver.deliveries) == 1


async def test_failed_after_max_attempts_with_the_last_error(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    webhook_receiver.fail_next(10, 503)
    stats = await send_pending(db, config(max_attempts=3), policy=FAST)
    assert stats.failed == 1 and stats.attempts == 3
    assert len(webhook_receiver.deliveries) == 3
    [row] = alerts(db)
    assert (row["state"], row["attempts"]) == ("failed", 3)
    assert row["last_error"] == "HTTP 503 Service Unavailable"


async def test_missing_secret_fails_with_a_clear_error(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    monkeypatch.delenv(HOOK_ENV)
    reupload(db)
    stats = await send_pending(db, LOOP, policy=FAST)
    assert stats.failed == 1 and webhook_receiver.deliveries == []
    [row] = alerts(db)
    assert row["state"] == "failed" and HOOK_ENV in row["last_error"]
    assert "not set" in row["last_error"]


async def test_duplicate_records_deliver_one_alert(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    reupload(db)  # same URL and match
    reupload(db, of_report_id=None, of_known_hash_id=1)  # same URL, other match
    await send_pending(db, LOOP, policy=FAST)
    assert len(webhook_receiver.verified()) == 1


CRASH = textwrap.dedent("""
    import os, signal, sys
    from monitor.core import clock
    from monitor import store
    from monitor.alerts.outbox import record_reupload
    from monitor.core.config import Config
    clock.fix(sys.argv[2])
    db = store.connect(sys.argv[1])
    for n in range(3):
        record_reupload(db, url=f"http://mirror.example/up/{n}.jpg", page_url=None,
                        of_report_id=1, algorithm="pdq", distance=n, ip="127.0.0.2",
                        asn=64502, hoster_id=2, seen_at=sys.argv[2],
                        hashes={"pdq": sys.argv[3]}, config=Config())
    os.kill(os.getpid(), signal.SIGKILL)     # dies between the outbox write and any send
""")


async def test_exactly_once_across_a_crash(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    db.conn.close()
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path / "alerts.db"), T0, PDQ],
        capture_output=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    db = store.connect(tmp_path / "alerts.db")
    assert [a["state"] for a in alerts(db)] == ["pending"] * 3
    first = await send_pending(db, LOOP, policy=FAST)
    second = await send_pending(db, LOOP, policy=FAST, now=clock.parse(T0) + timedelta(days=1))
    assert (first.sent, second.sent, second.attempts) == (3, 0, 0)
    urls = sorted(d.json["items"][0]["url"] for d in webhook_receiver.verified())
    assert urls == [f"http://mirror.example/up/{n}.jpg" for n in range(3)]
    assert len(webhook_receiver.deliveries) == 3


async def test_a_crashed_senders_claim_runs_out(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    with store.transaction(db):  # what a sender that died after claiming leaves behind
        db.conn.execute("UPDATE alerts SET next_attempt_at = '2026-03-02T10:05:00Z'")
    assert (await send_pending(db, LOOP, policy=FAST)).sent == 0
    later = await send_pending(db, LOOP, policy=FAST, now=clock.parse(T0) + timedelta(hours=1))
    assert later.sent == 1 and len(webhook_receiver.verified()) == 1


async def test_payload_carries_no_content(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    await send_pending(db, LOOP, policy=FAST)
    [delivery] = webhook_receiver.deliveries
    assert len(delivery.body) < 2048
    assert not BASE64_RUN.search(delivery.body)
    item = delivery.json["items"][0]
    assert set(item) == {
        "kind",
        "url",
        "page_url",
        "first_seen_at",
        "last_seen_at",
        "ip",
        "asn",
        "hoster",
        "reference",
        "original_reference",
        "match",
        "hashes",
    }
    assert all(re.fullmatch(r"[0-9a-f]{16,64}", v) for v in item["hashes"].values())


async def test_dry_run_renders_and_changes_nothing(tmp_path, pinned, webhook_receiver, monkeypatch):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    reupload(db)
    before = alerts(db)
    stats = await send_pending(db, LOOP, dry_run=True, policy=FAST)
    assert alerts(db) == before and webhook_receiver.deliveries == []
    [rendered] = stats.rendered
    assert rendered.channel == "webhook" and rendered.to.endswith("/hooks/mirror")
    assert json.loads(rendered.body)["items"][0]["url"] == "http://mirror.example/up/a.jpg"


async def test_two_senders_at_once_deliver_each_alert_once(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    db = hook_db(tmp_path, webhook_receiver, monkeypatch)
    for n in range(4):
        reupload(db, url=f"http://mirror.example/up/{n}.jpg")
    other = store.connect(tmp_path / "alerts.db")
    a, b = await asyncio.gather(
        send_pending(db, LOOP, policy=FAST), send_pending(other, LOOP, policy=FAST)
    )
    assert a.sent + b.sent == 4 and len(webhook_receiver.deliveries) == 4
    keys = [d.headers["Idempotency-Key"] for d in webhook_receiver.deliveries]
    assert len(set(keys)) == 4
