"""Alerts for URLs served through a CDN edge (issue 24): the CDN's abuse desk is asked to forward
to the origin hoster, the origin hoster is alerted too when known, and every XARF validates.

Delivery goes to the real SMTP sink on loopback; XARF attachments are checked with the `xarf`
package and the official schemas (monitor.alerts.xarf_check)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import store
from monitor.alerts import xarf as xarf_mod
from monitor.alerts.deliver import send_pending
from monitor.alerts.outbox import record_reappearance
from monitor.alerts.xarf_check import check
from monitor.attribution.cdn import origin_unknown
from monitor.core import clock
from tests.test_alerts import T0, alerts, make_db, reupload
from tests.test_alerts_email import FAST, smtp_config
from tests.test_xarf_fuzz import CONFIG, HOSTS, KEY, REFERENCES, item

CF = "Cloudflare"
CF_ABUSE = "abuse@cloudflare.com"  # the shipped CDN registry's contact (monitor.attribution.cdn)
FORWARD = "Forward this notice"


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


def cdn_db(tmp_path, *, group: bool = True):
    """make_db's hosters (1 Origin Host, 2 Mirror Host, 3 Silent Host), webhook-free, plus
    hoster 4 "Cloudflare (origin unknown)" (cdn = Cloudflare) as attribution creates it."""
    db = make_db(tmp_path, webhook_url=None)
    if group:
        with store.transaction(db):
            db.conn.execute(
                "INSERT INTO hosters (id, name, cdn, abuse_email, unmapped, "
                "created_at) VALUES (4, ?, ?, ?, 0, ?)",
                [origin_unknown(CF), CF, CF_ABUSE, T0],
            )
    return db


def by_recipient(sink):
    return {mail.rcpt_tos: mail for mail in sink.messages}


def body(mail) -> str:
    return mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def xarfs(mail) -> list[dict]:
    return [json.loads(p.get_content()) for p in mail.message.iter_attachments()]


def assert_valid(mail):
    checks = mail.xarf
    assert checks and all(c.valid for c in checks), [c.errors for c in checks]
    assert all(c.strict_other == () for c in checks)


async def test_reupload_behind_cdn_goes_to_the_cdn_asking_to_forward(tmp_path, pinned, smtp_sink):
    db = cdn_db(tmp_path)
    result = reupload(db, url="http://fronted.example/up/a.jpg", hoster_id=4)
    assert len(result.alert_ids) == 1  # origin unknown: the CDN alone
    [made] = alerts(db)
    assert made["hoster_id"] == 4
    subject = json.loads(made["subject"])["item"]
    assert (subject["edge"], subject["route"], subject["origin_hoster"]) == (CF, "cdn", None)
    assert subject["hoster"] == CF
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert stats.sent == 1
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == (CF_ABUSE,)
    text = body(mail)
    assert text.startswith("To the abuse desk of Cloudflare,\n")
    assert FORWARD in text and "origin hoster" in text
    assert "Served through:  CDN / reverse proxy Cloudflare (origin hoster: unknown to us)" in text
    assert "forward to the origin hoster" in str(mail.message["Subject"])
    [report] = xarfs(mail)
    assert report["hosting_provider"].startswith(
        "Cloudflare (CDN/reverse proxy edge, not the origin hoster"
    )
    assert "please forward this report to the origin hoster" in report["description"]
    assert "cdn:cloudflare" in report["tags"]
    assert_valid(mail)


async def test_known_origin_hoster_is_alerted_too(tmp_path, pinned, smtp_sink):
    db = cdn_db(tmp_path)
    with store.transaction(db):  # the hotline named the origin of another URL on this host
        db.conn.execute(
            "INSERT INTO reports (url, url_key, reference, reported_at, noticed_at,"
            " imported_at, hoster_id, origin_hoster_id) VALUES (?, ?, 'NL-2', ?, ?,"
            " ?, 4, 1)",
            ["http://fronted.example/old.jpg", "http://fronted.example/old.jpg", T0, T0, T0],
        )
    result = reupload(db, url="http://fronted.example/up/b.jpg", hoster_id=4)
    assert len(result.alert_ids) == 2
    assert {(a["hoster_id"], a["channel"]) for a in alerts(db)} == {(4, "email"), (1, "email")}
    assert len({a["idempotency_key"] for a in alerts(db)}) == 2
    stats = await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    assert (stats.sent, stats.messages) == (2, 2)
    mails = by_recipient(smtp_sink)
    assert set(mails) == {(CF_ABUSE,), ("abuse@origin.example",)}
    cdn, origin = mails[(CF_ABUSE,)], mails[("abuse@origin.example",)]
    assert FORWARD in body(cdn) and "(origin hoster: Origin Host)" in body(cdn)
    assert FORWARD not in body(origin)
    assert body(origin).startswith("To the abuse desk of Origin Host,\n")
    assert "Served through:  CDN / reverse proxy Cloudflare" in body(origin)
    [to_cdn] = xarfs(cdn)
    [to_origin] = xarfs(origin)
    assert "origin: Origin Host" in to_cdn["hosting_provider"]
    assert "Origin Host, also notified directly" in to_cdn["description"]
    assert to_origin["hosting_provider"] == "Origin Host"
    assert "served through the CDN/reverse proxy Cloudflare" in to_origin["description"]
    assert to_cdn["report_id"] != to_origin["report_id"]
    assert_valid(cdn)
    assert_valid(origin)


async def test_origin_found_by_attribution_and_cdn_group_created(tmp_path, pinned, smtp_sink):
    """The caller attributed the URL to its origin (hoster 2) and saw the CDN's edge: both
    are alerted, the CDN through its "(origin unknown)" row, created with the CDN's e-mail."""
    db = cdn_db(tmp_path, group=False)
    result = reupload(db, url="http://mirror.example/up/c.jpg", hoster_id=2, edge=CF)
    assert len(result.alert_ids) == 2
    [group] = db.query("SELECT id, name, cdn, abuse_email FROM hosters WHERE cdn = ?", [CF])
    assert (group["name"], group["abuse_email"]) == (origin_unknown(CF), CF_ABUSE)
    assert {a["hoster_id"] for a in alerts(db)} == {2, group["id"]}
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    mails = by_recipient(smtp_sink)
    assert set(mails) == {(CF_ABUSE,), ("abuse@mirror.example",)}
    assert FORWARD in body(mails[(CF_ABUSE,)])
    assert "(origin hoster: Mirror Host)" in body(mails[(CF_ABUSE,)])
    for mail in mails.values():
        assert_valid(mail)


async def test_reappearance_behind_cdn_routes_to_cdn_and_origin(tmp_path, pinned, smtp_sink):
    db = cdn_db(tmp_path)
    with store.transaction(db):  # report 1 is now served through Cloudflare, origin known
        db.conn.execute("UPDATE reports SET hoster_id = 4, origin_hoster_id = 1 WHERE id = 1")
        db.conn.execute(
            "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, "
            "ip, edge) VALUES (1, ?, ?, 'online', 'match', '127.0.0.9', ?)",
            [T0, T0, CF],
        )
    result = record_reappearance(
        db, report_id=1, seen_at=T0, ip="127.0.0.9", hoster_id=4, config=smtp_config(smtp_sink)
    )
    assert len(result.alert_ids) == 2
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    mails = by_recipient(smtp_sink)
    assert set(mails) == {(CF_ABUSE,), ("abuse@origin.example",)}
    assert FORWARD in body(mails[(CF_ABUSE,)])
    assert "online again after removal" in body(mails[("abuse@origin.example",)])
    for mail in mails.values():
        assert_valid(mail)


async def test_no_cdn_keeps_one_recipient_and_its_keys(tmp_path, pinned, smtp_sink):
    db = cdn_db(tmp_path)
    reupload(db, url="http://mirror.example/up/d.jpg", hoster_id=2)
    [made] = alerts(db)
    subject = json.loads(made["subject"])["item"]
    assert made["hoster_id"] == 2 and "edge" not in subject
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ("abuse@mirror.example",) and FORWARD not in body(mail)
    assert xarfs(mail)[0]["hosting_provider"] == "Mirror Host"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=HOSTS,
    reference=REFERENCES,
    edge=st.text(min_size=1, max_size=300),
    origin=st.one_of(st.none(), st.text(max_size=300)),
    route=st.sampled_from(["cdn", "origin"]),
)
def test_cdn_reports_validate_for_any_names(host, reference, edge, origin, route):
    subject = item(
        host,
        "/a.jpg",
        reference,
        {"algorithm": "pdq", "distance": 3},
        {"pdq": "f" * 64},
        hoster=origin if route == "origin" else edge,
    )
    subject.update(edge=edge, route=route, origin_hoster=origin)
    report = xarf_mod.build(subject, idempotency_key=KEY, config=CONFIG)
    result = check(report)
    assert result.valid, result.errors
    assert result.strict_other == ()
    assert len(report.get("hosting_provider", "")) <= 200


async def test_reupload_found_on_a_cdn_ip_is_attributed_to_the_cdn_group(
    tmp_path, pinned, smtp_sink
):
    """The re-upload recorder attributes a CDN edge's IP like the ASN stage does: to
    "Fastly (origin unknown)", never to an unmapped "AS54113" hoster; its alert goes to Fastly."""
    from monitor.attribution.dns import RoutingTableBackend
    from monitor.reuploads.record import Recorder

    db = cdn_db(tmp_path, group=False)
    table = tmp_path / "routes.txt"
    table.write_text("127.0.0.0/8 54113\n")  # Fastly's CDN-only ASN
    recorder = Recorder(db, smtp_config(smtp_sink), backend=RoutingTableBackend.from_file(table))
    asn, hoster_id = await recorder.attribute("127.0.0.5")
    [group] = db.query("SELECT id, name, cdn, abuse_email FROM hosters WHERE id = ?", [hoster_id])
    assert (asn, group["name"], group["cdn"]) == (54113, "Fastly (origin unknown)", "Fastly")
    assert not db.execute("SELECT 1 FROM hosters WHERE name = 'AS54113'").fetchall()
    reupload(db, url="http://fronted.example/up/e.jpg", hoster_id=hoster_id)
    await send_pending(db, smtp_config(smtp_sink), policy=FAST)
    [mail] = smtp_sink.messages
    assert mail.rcpt_tos == ("abuse@fastly.com",)
    assert body(mail).startswith("To the abuse desk of Fastly,\n") and FORWARD in body(mail)
    assert_valid(mail)
