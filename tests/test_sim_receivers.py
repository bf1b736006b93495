"""Webhook receiver verifies signatures and fails on demand; the SMTP sink records mail."""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from email.message import EmailMessage

import aiohttp
import pytest

from monitor.alerts.webhook import generate_secret, sign_standard, standard_key
from monitor.sim.pytest_plugin import WEBHOOK_TEST_SECRET
from monitor.sim.receivers import sign, verify_standard


async def post(session, url, payload, secret, *, timestamp=None, timeout=None):
    body = json.dumps(payload).encode()
    stamp = timestamp or str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": sign(secret, stamp, body),
    }
    async with session.post(url, data=body, headers=headers, timeout=timeout) as resp:
        return resp.status


async def test_signed_delivery_is_verified(webhook_receiver):
    async with aiohttp.ClientSession() as s:
        status = await post(s, webhook_receiver.url + "/any", {"alert": 1}, WEBHOOK_TEST_SECRET)
    assert status == 200
    [d] = webhook_receiver.deliveries
    assert d.verified and d.json == {"alert": 1} and d.path == "/any"
    assert webhook_receiver.verified() == [d]


async def test_bad_signature_is_recorded_unverified(webhook_receiver):
    async with aiohttp.ClientSession() as s:
        status = await post(s, webhook_receiver.url + "/any", {"alert": 2}, "wrong-secret")
        async with s.post(webhook_receiver.url + "/any", json={"x": 1}) as resp:
            unsigned = resp.status
    assert status == 401 and unsigned == 401
    assert [d.verified for d in webhook_receiver.deliveries] == [False, False]
    assert webhook_receiver.verified() == []


async def test_per_path_secrets(webhook_receiver):
    path, secret = next(iter(webhook_receiver.secrets.items()))
    async with aiohttp.ClientSession() as s:
        assert await post(s, webhook_receiver.url + path, {"a": 1}, secret) == 200
        assert await post(s, webhook_receiver.url + path, {"a": 1}, WEBHOOK_TEST_SECRET) == 401


@pytest.mark.parametrize("mode", [500, 400, 429])
async def test_fails_on_demand_then_recovers(webhook_receiver, mode):
    webhook_receiver.fail_next(2, mode)
    async with aiohttp.ClientSession() as s:
        statuses = [
            await post(s, webhook_receiver.url + "/h", {"n": n}, WEBHOOK_TEST_SECRET)
            for n in range(3)
        ]
    assert statuses == [mode, mode, 200]
    assert len(webhook_receiver.verified()) == 1


async def test_slow_on_demand(webhook_receiver):
    webhook_receiver.fail_next(1, "slow")
    async with aiohttp.ClientSession() as s:
        with pytest.raises(asyncio.TimeoutError):
            await post(
                s,
                webhook_receiver.url + "/h",
                {},
                WEBHOOK_TEST_SECRET,
                timeout=aiohttp.ClientTimeout(total=0.3),
            )
        assert await post(s, webhook_receiver.url + "/h", {}, WEBHOOK_TEST_SECRET) == 200


def test_smtp_sink_records_messages(smtp_sink):
    msg = EmailMessage()
    msg["From"] = "alerts@hotline.example"
    msg["To"] = "abuse@polder.example"
    msg["Subject"] = "Re-upload report"
    msg.set_content("3 re-uploads found")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.send_message(msg)
    [mail] = smtp_sink.messages
    assert mail.mail_from == "alerts@hotline.example"
    assert mail.rcpt_tos == ("abuse@polder.example",)
    assert mail.message["Subject"] == "Re-upload report"
    assert "3 re-uploads" in mail.message.get_content()


async def post_standard(session, url, payload, secrets, *, stamp=None):
    body = json.dumps(payload).encode()
    stamp = stamp or int(time.time())
    keys = tuple(standard_key(s) for s in secrets)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(keys, "msg_1", stamp, body),
    }
    async with session.post(url, data=body, headers=headers) as resp:
        return resp.status


async def test_standard_webhooks_are_verified_by_the_library(webhook_receiver):
    pytest.importorskip("standardwebhooks")
    async with aiohttp.ClientSession() as s:
        assert (
            await post_standard(s, webhook_receiver.url + "/h", {"a": 1}, [WEBHOOK_TEST_SECRET])
            == 200
        )
        assert (
            await post_standard(s, webhook_receiver.url + "/h", {"a": 2}, [generate_secret()])
            == 401
        )
        assert (
            await post_standard(
                s,
                webhook_receiver.url + "/h",
                {"a": 3},
                [WEBHOOK_TEST_SECRET],
                stamp=int(time.time()) - 3600,
            )
            == 401
        )
    ok, forged, stale = webhook_receiver.deliveries
    assert (ok.scheme, ok.by_library, ok.verified) == ("standard", True, True)
    assert not forged.verified and not stale.verified
    assert webhook_receiver.library_verified() == [ok]


def test_own_standard_verification_agrees_with_the_spec():
    secret = generate_secret()
    body = b'{"x":1}'
    stamp = int(time.time())
    head = {
        "webhook-id": "id-7",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(
            (standard_key(generate_secret()), standard_key(secret)), "id-7", stamp, body
        ),
    }
    assert verify_standard(secret, head, body)  # second of two signatures
    assert not verify_standard(secret, head, body + b" ")
    assert not verify_standard(secret, {**head, "webhook-id": "id-8"}, body)
    assert not verify_standard(generate_secret(), head, body)


def test_smtp_sink_validates_xarf_attachments(smtp_sink):
    pytest.importorskip("xarf")
    from monitor.alerts import xarf
    from monitor.core.config import AlertsConfig

    report = xarf.build(
        {
            "kind": "reupload",
            "url": "http://m.example/a.jpg",
            "first_seen_at": "2026-03-02T10:00:00Z",
            "reference": "NL-1.2",
            "match": {"algorithm": "pdq", "distance": 2},
            "hashes": {},
        },
        idempotency_key="cd" * 32,
        config=AlertsConfig(),
    )
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@hotline.example", "b@m.example", "x"
    msg.set_content("see attachments")
    for data in (report, {**report, "tags": ["case:nl-1.2"]}):
        msg.add_attachment(json.dumps(data).encode(), maintype="application", subtype="json")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.send_message(msg)
    good, bad = smtp_sink.xarf_checks()
    assert good.valid and set(good.strict_missing) <= set(xarf.NOT_SENT)
    assert bad.valid is False and any("tags" in e for e in bad.errors)
