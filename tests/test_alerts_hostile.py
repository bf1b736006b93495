"""Hostile rows at delivery: CR/LF in a case reference, hoster name or From address, a broken
subject row, a time that does not parse. Each fails (or is cleaned in) its own alert, visible in
`alerts list`; the other alerts go out, nothing crashes, nothing retries forever. And a batch's
Message-ID is the same on every retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from monitor import store
from monitor.alerts import mail
from monitor.alerts.deliver import send_pending
from monitor.alerts.views import alert_rows
from monitor.cli.main import cli
from monitor.core import clock
from monitor.core.config import AlertsConfig, Config
from tests.test_alerts import T0, alerts, loopback, make_db, reupload
from tests.test_alerts_email import FAST, smtp_config


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


def poison(db, sql: str, *params) -> None:
    """What an old database may hold (written before import checks existed)."""
    with store.transaction(db):
        db.conn.execute(sql, params)


async def test_crlf_in_reference_and_hoster_name_is_cleaned_not_fatal(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    poison(db, "UPDATE reports SET reference = ? WHERE id = 1", "NL-1\r\nBcc: x@evil.example")
    poison(db, "UPDATE hosters SET name = ? WHERE id = 2", "Mirror\r\nX-Injected: 1")
    reupload(db)
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert (stats.sent, stats.failed) == (1, 0)
    [got] = smtp_sink.messages
    assert got.rcpt_tos == ("abuse@mirror.example",)
    assert got.message["Bcc"] is None and got.message["X-Injected"] is None
    assert "\n" not in str(got.message["Subject"])
    assert all(check.valid for check in got.xarf)


async def test_crlf_in_from_address_fails_those_alerts_alone(
    tmp_path, pinned, smtp_sink, webhook_receiver, monkeypatch
):
    from monitor.sim.pytest_plugin import WEBHOOK_TEST_SECRET
    from tests.test_alerts import HOOK_ENV

    monkeypatch.setenv(HOOK_ENV, WEBHOOK_TEST_SECRET)
    db = make_db(tmp_path, webhook_url=webhook_receiver.url + "/hooks/mirror")
    reupload(db)  # one webhook alert, one e-mail alert
    config = loopback(smtp_config(smtp_sink, from_address="alerts@hotline.example\r\nBcc: x@y"))
    stats = await send_pending(db, config, policy=FAST)
    assert (stats.sent, stats.failed) == (1, 1)
    by_channel = {a["channel"]: a for a in alert_rows(db)}
    assert by_channel["webhook"]["state"] == "sent" and len(webhook_receiver.verified()) == 1
    email = by_channel["email"]
    assert email["state"] == "failed" and "could not deliver" in email["last_error"]
    assert "\n" not in email["last_error"] and "\r" not in email["last_error"]
    assert smtp_sink.messages == []
    again = await send_pending(db, config, policy=FAST, now=clock.parse(T0) + timedelta(days=1))
    assert again.attempts == 0 and again.failed == 0  # no retry loop


async def test_one_unrenderable_alert_fails_alone_and_the_batch_goes(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    for n in range(3):
        reupload(db, url=f"http://mirror.example/up/{n}.jpg")
    [bad, *_] = [a["id"] for a in alerts(db)]
    poison(
        db,
        "UPDATE alerts SET subject = json_set(subject, '$.item.first_seen_at', "
        "'yesterday-ish') WHERE id = ?",
        bad,
    )
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert (stats.sent, stats.failed, stats.messages) == (2, 1, 1)
    states = {a["id"]: (a["state"], a["last_error"]) for a in alerts(db)}
    assert states[bad][0] == "failed" and "could not render" in states[bad][1]
    assert [m.message["X-NTD-Alert-Ids"] for m in smtp_sink.messages] == [
        ",".join(str(i) for i in sorted(states) if i != bad)
    ]


async def test_an_unreadable_subject_row_fails_alone(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    reupload(db, url="http://mirror.example/up/1.jpg")
    reupload(db, url="http://mirror.example/up/2.jpg")
    first = alerts(db)[0]["id"]
    poison(db, "UPDATE alerts SET subject = '{not json' WHERE id = ?", first)
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert (stats.sent, stats.failed) == (1, 1)
    assert "unreadable alert subject" in alerts(db)[0]["last_error"]
    listed = {r["id"]: r for r in alert_rows(db)}  # `alerts list` still works
    assert listed[first]["state"] == "failed" and listed[first]["urls"] == []


def test_alerts_send_on_a_poisoned_database_exits_cleanly(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    reupload(db)
    poison(db, "UPDATE hosters SET abuse_email = ? WHERE id = 2", "abuse@x.example\r\nBcc: y@z")
    db.conn.close()
    toml = tmp_path / "c.toml"
    toml.write_text(f'[alerts]\nsmtp_host = "{smtp_sink.host}"\nsmtp_port = {smtp_sink.port}\n')
    args = ["--db", str(tmp_path / "alerts.db"), "--config", str(toml), "--now", T0]
    result = CliRunner().invoke(cli, [*args, "alerts", "send"])
    # exit 1 says "an alert failed" (documented); no traceback, the alert is failed for good
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "failed: 1" in result.output and "Traceback" not in result.output
    listed = CliRunner().invoke(cli, [*args, "alerts", "list", "--format", "json"])
    assert '"state": "failed"' in listed.output and "could not deliver" in listed.output


def test_message_id_is_the_same_on_every_retry_of_a_batch(tmp_path, pinned):
    db = make_db(tmp_path, webhook_url=None)
    reupload(db, url="http://mirror.example/up/1.jpg")
    reupload(db, url="http://mirror.example/up/2.jpg")
    entries = [
        {
            "id": a["id"],
            "idempotency_key": a["idempotency_key"],
            "item": __import__("json").loads(a["subject"])["item"],
        }
        for a in alerts(db)
    ]
    hoster = {"name": "Mirror Host", "abuse_email": "abuse@mirror.example", "country": "DE"}
    config = AlertsConfig()
    first = mail.render(hoster, entries, config, clock.parse(T0))
    retry = mail.render(hoster, entries, config, clock.parse(T0) + timedelta(hours=3))
    renumbered = mail.render(
        hoster, [{**e, "id": e["id"] + 100} for e in entries], config, clock.parse(T0)
    )
    assert first["Message-ID"] == retry["Message-ID"] == renumbered["Message-ID"]
    other = mail.render(hoster, entries[:1], config, clock.parse(T0))
    assert other["Message-ID"] != first["Message-ID"]
    assert first["Message-ID"].endswith("@hotline.example>")


async def test_message_id_survives_a_refused_first_attempt(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    reupload(db)
    dead = Config(alerts=AlertsConfig(smtp_host="127.0.0.1", smtp_port=9))
    assert (
        await send_pending(
            db, dead, policy=FAST.__class__(timeout=0.5, backoff_base=60, inline_max=0.1)
        )
    ).retrying == 1
    later = clock.parse(T0) + timedelta(hours=2)
    assert (await send_pending(db, smtp_config(smtp_sink), policy=FAST, now=later)).sent == 1
    [got] = smtp_sink.messages
    entries = [
        {
            "id": a["id"],
            "idempotency_key": a["idempotency_key"],
            "item": __import__("json").loads(a["subject"])["item"],
        }
        for a in alerts(db)
    ]
    again = mail.render(
        {"name": "x", "abuse_email": "a@b.example"},
        entries,
        AlertsConfig(),
        later + timedelta(days=1),
    )
    assert got.message["Message-ID"] == again["Message-ID"]
