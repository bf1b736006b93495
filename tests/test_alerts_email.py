"""E-mail delivery to the SMTP sink on loopback: one message per hoster and batch, text an abuse
desk can act on, XARF v4 attachments with every required field, batch window, rate limit,
retries, dry run."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest

from monitor.alerts.deliver import send_pending
from monitor.alerts.outbox import record_reappearance
from monitor.alerts.policy import DeliveryPolicy
from monitor.alerts.views import send_summary
from monitor.alerts.xarf import REQUIRED
from monitor.core import clock
from monitor.core.config import AlertsConfig, Config
from monitor.sim.receivers import free_port
from tests.test_alerts import PDQ, PHASH, SHA256, T0, alerts, make_db, reupload


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


FAST = DeliveryPolicy(timeout=2.0, backoff_base=0.01, jitter=0.5, inline_max=1.0)
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{100,}={0,2}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def smtp_config(sink, **extra):
    return Config(alerts=AlertsConfig(smtp_host=sink.host, smtp_port=sink.port, **extra))


def mail_db(tmp_path):
    db = make_db(tmp_path, webhook_url=None)
    reupload(db, url="http://mirror.example/up/a.jpg")
    reupload(db, url="http://mirror.example/up/b.jpg", of_report_id=None, of_known_hash_id=1)
    return db


def attachments(message):
    return [
        (part.get_filename(), json.loads(part.get_content())) for part in message.iter_attachments()
    ]


async def test_one_message_per_hoster_with_actionable_text(tmp_path, pinned, smtp_sink):
    db = mail_db(tmp_path)
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert (stats.sent, stats.messages) == (2, 1)
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ("abuse@mirror.example",)
    assert mail.mail_from == "alerts@hotline.example"
    text = mail.message.get_body(("plain",)).get_content()
    for needle in (
        "http://mirror.example/up/a.jpg",
        "http://mirror.example/up/b.jpg",
        "2026-03-02 10:00:00 UTC",
        "127.0.0.2",
        "AS64502",
        "NL-2026-001/reupload-",
        "known:series-7/reupload-",
        "Remove the material",
        "Prevent its re-upload",
        "Reply to alerts@hotline.example",
        "Found on page:",
        "pdq " + PDQ,
        "perceptual hash match (pdq, Hamming distance 4 of 256 bits)",
    ):
        assert needle in text, needle
    assert "Mirror Host" in str(mail.message["Subject"])
    assert [a["state"] for a in alerts(db)] == ["sent", "sent"]
    assert {a["sent_at"] for a in alerts(db)} == {T0}


async def test_xarf_attachment_has_every_required_field(tmp_path, pinned, smtp_sink):
    db = mail_db(tmp_path)
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    [mail] = smtp_sink.messages
    reports = attachments(mail.message)
    assert [name for name, _ in reports] == ["xarf-1.json", "xarf-2.json"]
    for _, report in reports:
        # xarf-core.json, types/content-base.json and types/content-csam.json of XARF v4
        for field in REQUIRED:
            assert report.get(field) not in (None, "", {}), field
        assert re.fullmatch(r"4\.\d+\.\d+", report["xarf_version"])
        assert uuid.UUID(report["report_id"]).version == 4
        assert ISO_Z.fullmatch(report["timestamp"])
        for who in ("reporter", "sender"):
            assert set(report[who]) == {"org", "contact", "domain"}
            assert "@" in report[who]["contact"]
        assert (report["category"], report["type"]) == ("content", "csam")
        assert report["classification"] in {"baseline", "A1", "A2", "B1", "B2"}
        assert report["detection_method"] == "hash_match"
        assert report["source_identifier"] == "127.0.0.2" and report["source_port"] == 80
        assert report["asn"] == 64502 and report["domain"] == "mirror.example"
        assert report["country_code"] == "DE" and report["hosting_provider"] == "Mirror Host"
        assert report["hash_values"] == {"pdq": PDQ, "phash": PHASH, "sha256": SHA256}
        assert "perceptual hash" in report["description"]
        assert "detection:perceptual-hash" in report["tags"]
        assert all(
            re.fullmatch(r"[a-z0-9][a-z0-9_+-]*:[a-z0-9][a-z0-9_+\-.]*", t) for t in report["tags"]
        )
        assert "evidence" not in report
    assert reports[0][1]["url"] == "http://mirror.example/up/a.jpg"
    assert reports[0][1]["report_id"] != reports[1][1]["report_id"]


async def test_message_carries_no_content(tmp_path, pinned, smtp_sink):
    db = mail_db(tmp_path)
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    [mail] = smtp_sink.messages
    assert len(mail.data) < 16384
    assert not BASE64_RUN.search(mail.data)
    assert b"Content-Transfer-Encoding: base64" not in mail.data
    assert not [p for p in mail.message.walk() if p.get_content_maintype() == "image"]


async def test_batch_window_holds_the_next_message(tmp_path, pinned, smtp_sink):
    db = mail_db(tmp_path)
    config = smtp_config(smtp_sink)
    await send_pending(db, config, policy=FAST)
    clock.fix(clock.parse(T0) + timedelta(minutes=10))
    reupload(db, url="http://mirror.example/up/c.jpg")
    held = await send_pending(db, config, policy=FAST)
    assert (held.deferred, held.sent, len(smtp_sink.messages)) == (1, 0, 1)
    assert alerts(db)[-1]["next_attempt_at"] == "2026-03-02T11:00:00Z"
    later = await send_pending(db, config, policy=FAST, now=clock.parse("2026-03-02T11:00:00Z"))
    assert later.sent == 1 and len(smtp_sink.messages) == 2
    assert "up/c.jpg" in smtp_sink.messages[1].message.get_body(("plain",)).get_content()


async def test_hourly_rate_limit_per_hoster(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    config = smtp_config(smtp_sink, batch_window=timedelta(minutes=1), per_hoster_per_hour=2)
    for n in range(3):
        now = clock.parse(T0) + timedelta(minutes=5 * n)
        clock.fix(now)
        reupload(db, url=f"http://mirror.example/up/{n}.jpg")
        await send_pending(db, config, policy=FAST, now=now)
    assert len(smtp_sink.messages) == 2
    assert alerts(db)[-1]["state"] == "pending"
    assert alerts(db)[-1]["next_attempt_at"] == "2026-03-02T11:00:00Z"


async def test_reappearance_goes_by_mail_too(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    record_reappearance(db, report_id=1, seen_at=T0, ip="127.0.0.3", hoster_id=1, config=Config())
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ("abuse@origin.example",)
    text = mail.message.get_body(("plain",)).get_content()
    assert "online again after removal" in text and "NL-2026-001" in text
    [(_, report)] = attachments(mail.message)
    assert report["tags"][-2:] == ["alert:reappearance", "case:nl-2026-001"]


async def test_refused_smtp_is_retried_then_failed(tmp_path, pinned):
    db = mail_db(tmp_path)
    config = Config(
        alerts=AlertsConfig(smtp_host="127.0.0.1", smtp_port=free_port(), max_attempts=2)
    )
    stats = await send_pending(db, config, policy=FAST)
    assert (stats.failed, stats.attempts) == (2, 2)
    assert [(a["state"], a["attempts"]) for a in alerts(db)] == [("failed", 2)] * 2
    assert alerts(db)[0]["last_error"].startswith("SMTP connection failed")


async def test_missing_smtp_credentials_fail_clearly(tmp_path, pinned, smtp_sink, monkeypatch):
    monkeypatch.delenv("NTD_TEST_SMTP_USER", raising=False)
    db = mail_db(tmp_path)
    stats = await send_pending(
        db, smtp_config(smtp_sink, smtp_user_env="NTD_TEST_SMTP_USER"), policy=FAST
    )
    assert stats.failed == 2 and smtp_sink.messages == []
    assert "NTD_TEST_SMTP_USER" in alerts(db)[0]["last_error"]


async def test_dry_run_renders_and_changes_nothing(tmp_path, pinned, smtp_sink):
    db = mail_db(tmp_path)
    before = alerts(db)
    stats = await send_pending(db, smtp_config(smtp_sink), dry_run=True, policy=FAST)
    assert alerts(db) == before and smtp_sink.messages == []
    [rendered] = stats.rendered
    assert rendered.channel == "email" and rendered.to == "abuse@mirror.example"
    assert rendered.alert_ids == (1, 2) and "http://mirror.example/up/b.jpg" in rendered.body
    summary = send_summary(stats)
    assert "dry run: 1 message(s) rendered, nothing sent" in summary
    assert "abuse@mirror.example" in summary
