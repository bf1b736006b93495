"""Alerts about videos found by vPDQ: the re-upload row (algorithm `vpdq`, distance 100 minus the
share of frames found), the webhook item (vPDQ named, the share, the file's digests only), the
e-mail text, XARF reports valid under the official schemas for any input, and reappearances
of a video report that never pick its `vpdq` baseline row up as a hash value."""

from __future__ import annotations

import email
import email.policy
import json
import re
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashes.video_text import to_text
from monitor.alerts import items, mail, xarf
from monitor.alerts.deliver import send_pending
from monitor.alerts.outbox import record_reappearance, record_reupload
from monitor.alerts.policy import DeliveryPolicy
from monitor.alerts.xarf_check import check, schema_errors
from monitor.core import clock
from monitor.core.config import AlertsConfig, Config
from monitor.sim.pytest_plugin import WEBHOOK_TEST_SECRET
from tests.test_alerts import HOOK_ENV, T0, alerts, loopback, make_db

SHA256, MD5, SHA1 = "5e" * 32, "4d" * 16, "3c" * 20
DIGESTS = {"sha256": SHA256, "md5": MD5, "sha1": SHA1}
FAST = DeliveryPolicy(timeout=2.0, backoff_base=0.01, jitter=0.5, inline_max=1.0)
CONFIG = AlertsConfig()
KEY = "cd" * 32


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


@cache
def signature_text(seed: int = 21) -> str:
    """The stored vPDQ text of a generated benign clip (kilobytes: never for an alert)."""
    from hashes.video import video_signature
    from tests.video_fixtures import clip

    return to_text(video_signature(clip(seed, seconds=5)))


def video_reupload(db, *, distance=3, hashes=None, url="http://mirror.example/v/clip.mp4"):
    return record_reupload(
        db,
        url=url,
        page_url="http://mirror.example/videos",
        of_report_id=1,
        algorithm="vpdq",
        distance=distance,
        ip="127.0.0.2",
        asn=64502,
        hoster_id=2,
        seen_at=T0,
        hashes=DIGESTS if hashes is None else hashes,
        config=Config(),
    )


def subject(db, alert_id: int) -> dict:
    [row] = [a for a in alerts(db) if a["id"] == alert_id]
    return json.loads(row["subject"])["item"]


def test_a_video_reupload_is_recorded_and_its_item_says_vpdq(tmp_path, pinned):
    db = make_db(tmp_path, webhook_url=None)
    result = video_reupload(db)
    assert result.new and len(result.alert_ids) == 1
    assert db.execute("SELECT algorithm, distance FROM reuploads").fetchall() == [("vpdq", 3)]
    item = subject(db, result.alert_ids[0])
    match = item["match"]
    assert (match["algorithm"], match["distance"], match["media"]) == ("vpdq", 3, "video")
    assert match["frames_matched_percent"] == 97
    assert "vPDQ" in match["detection"] and "97%" in match["detection"]
    assert match["of"] == {"type": "report", "reference": "NL-2026-001"}
    assert item["hashes"] == dict(sorted(DIGESTS.items()))


def test_a_signature_in_hashes_is_a_baseline_never_alert_text(tmp_path, pinned):
    db = make_db(tmp_path, webhook_url=None)
    text = signature_text()
    result = video_reupload(db, hashes={"sha256": SHA256, "vpdq": text})
    item = subject(db, result.alert_ids[0])
    assert item["hashes"] == {"sha256": SHA256}
    assert ";" not in json.dumps(item) and len(json.dumps(item)) < 1500
    baseline = dict(
        db.execute(
            "SELECT algorithm, hash FROM report_hashes WHERE report_id = ?",
            [result.tracked_report_id],
        ).fetchall()
    )
    assert baseline == {"sha256": SHA256, "vpdq": text}


@pytest.mark.parametrize("distance", [-1, 101, 1000])
def test_a_vpdq_distance_outside_0_to_100_is_refused(tmp_path, pinned, distance):
    db = make_db(tmp_path, webhook_url=None)
    with pytest.raises(ValueError, match="0..100"):
        video_reupload(db, distance=distance)
    assert alerts(db) == [] and db.execute("SELECT count(*) FROM reuploads").fetchone() == (0,)


async def test_webhook_body_names_vpdq_and_carries_only_the_digests(
    tmp_path, pinned, webhook_receiver, monkeypatch
):
    monkeypatch.setenv(HOOK_ENV, WEBHOOK_TEST_SECRET)
    db = make_db(tmp_path, webhook_url=webhook_receiver.url + "/hooks/mirror", abuse_email=None)
    video_reupload(db, distance=12, hashes={**DIGESTS, "vpdq": signature_text()})
    stats = await send_pending(db, loopback(), policy=FAST)
    assert stats.sent == 1
    [delivery] = webhook_receiver.deliveries
    assert delivery.verified and len(delivery.body) < 2048
    [item] = delivery.json["items"]
    assert item["match"]["algorithm"] == "vpdq" and item["match"]["media"] == "video"
    assert item["match"]["frames_matched_percent"] == 88
    assert item["hashes"] == dict(sorted(DIGESTS.items()))
    assert all(re.fullmatch(r"[0-9a-f]{32,64}", v) for v in item["hashes"].values())
    assert signature_text().split(";")[0] not in delivery.body.decode()


async def test_e_mail_text_and_xarf_of_a_video(tmp_path, pinned, smtp_sink):
    db = make_db(tmp_path, webhook_url=None)
    video_reupload(db, distance=3)
    video_reupload(db, distance=0, hashes={}, url="http://mirror.example/v/cut.mp4")
    config = Config(alerts=AlertsConfig(smtp_host=smtp_sink.host, smtp_port=smtp_sink.port))
    stats = await send_pending(db, config, policy=FAST)
    assert (stats.sent, stats.messages) == (2, 1)
    [message] = smtp_sink.messages
    text = message.message.get_body(("plain",)).get_content()
    for needle in (
        "video hash match (vPDQ, Meta's open-source video hash: 97% of the frames",
        "100% of the frames",
        f"sha256 {SHA256}",
        f"md5 {MD5}",
        "the hash values are those of this exact file (a re-encoded copy differs)",
        "no file hash values (it was identified by its vPDQ frame hashes)",
    ):
        assert needle in text, needle
    reports = [json.loads(p.get_content()) for p in message.message.iter_attachments()]
    assert len(reports) == 2
    for report in reports:
        assert schema_errors(report) == [] and check(report).valid
        assert report["media_type"] == "video" and "algorithm:vpdq" in report["tags"]
        assert "detection:perceptual-hash" in report["tags"] and "vPDQ" in report["description"]
    assert reports[0]["confidence"] == 0.97 and reports[1]["confidence"] == 1.0
    assert reports[0]["hash_values"] == DIGESTS and reports[1]["hash_values"] == {}


def test_a_video_reappearance_never_sends_the_vpdq_row(tmp_path, pinned):
    db = make_db(tmp_path, webhook_url=None)
    now = clock.now_iso()
    db.conn.execute("DELETE FROM report_hashes WHERE report_id = 1")
    db.conn.executemany(
        "INSERT INTO report_hashes (report_id, algorithm, hash, origin, created_at) "
        "VALUES (1, ?, ?, 'imported', ?)",
        [("vpdq", signature_text(), now), ("sha256", SHA256, now)],
    )
    db.conn.execute(
        "INSERT INTO checks (report_id, due_at, checked_at, outcome, reason, algorithm, distance) "
        "VALUES (1, ?, ?, 'online', 'video matches', 'vpdq', 5)",
        [now, now],
    )
    db.conn.commit()
    result = record_reappearance(
        db, report_id=1, seen_at=T0, ip="127.0.0.3", hoster_id=1, config=Config()
    )
    item = subject(db, result.alert_ids[0])
    assert item["hashes"] == {"sha256": SHA256}
    assert item["match"]["algorithm"] == "vpdq" and item["match"]["frames_matched_percent"] == 95
    report = xarf.build(item, idempotency_key=KEY, config=CONFIG)
    assert check(report).valid and report["confidence"] == 0.95
    assert report["hash_values"] == {"sha256": SHA256}


def test_percent_and_wording_are_honest_about_odd_distances():
    assert items.frames_matched_percent(0) == 100 and items.frames_matched_percent(100) == 0
    assert items.frames_matched_percent(-7) == 100 and items.frames_matched_percent(250) == 0
    assert items.frames_matched_percent(None) is None and items.frames_matched_percent("x") is None
    assert "%" not in items.video_detection(None) and "vPDQ" in items.video_detection(None)


HOSTS = st.sampled_from(
    ["mirror.example", "xn--bcher-kva.example", "127.0.0.1", "[2001:db8::7]", "under_score.x"]
)
DISTANCES = st.one_of(
    st.integers(-(2**70), 2**70), st.none(), st.text(max_size=5), st.floats(allow_nan=True)
)
VIDEO_HASHES = st.dictionaries(
    st.sampled_from(["sha256", "md5", "sha1", "vpdq", "VPDQ", "pdq"]),
    st.one_of(
        st.from_regex(r"[0-9a-f]{32,64}", fullmatch=True),
        st.just(f"0,100,{'ab' * 32},0.000;1,90,{'cd' * 32},1.000"),
        st.text(max_size=40),
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    host=HOSTS,
    reference=st.one_of(st.none(), st.text(max_size=80)),
    distance=DISTANCES,
    hashes=VIDEO_HASHES,
    kind=st.sampled_from(["reupload", "reappearance"]),
)
def test_every_video_xarf_validates_for_any_input(host, reference, distance, hashes, kind):
    item = {
        "kind": kind,
        "url": f"http://{host}/v.mp4",
        "page_url": None,
        "first_seen_at": T0,
        "last_seen_at": T0,
        "ip": "127.0.0.2",
        "asn": 64502,
        "hoster": "Mirror Host",
        "reference": reference,
        "original_reference": reference,
        "match": {"algorithm": "vpdq", "distance": distance},
        "hashes": hashes,
    }
    report = xarf.build(item, idempotency_key=KEY, config=CONFIG, country="DE")
    assert schema_errors(report) == []
    result = check(report)
    assert result.valid, result.errors
    assert report["media_type"] == "video" and "evidence" not in report
    assert "vpdq" not in {k.lower() for k in report["hash_values"]}
    assert all(";" not in v for v in report["hash_values"].values())
    assert 0.0 <= report.get("confidence", 0.0) <= 1.0
    msg = mail.render(
        {"name": "Mirror Host", "abuse_email": "abuse@mirror.example", "country": "DE"},
        [{"id": 1, "idempotency_key": KEY, "item": item}],
        CONFIG,
        clock.parse(T0),
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "vPDQ" in body and ("," + "ab" * 32) not in body
