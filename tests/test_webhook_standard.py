"""Webhooks as a hoster's receiver sees them: Standard Webhooks signatures verified by the
`standardwebhooks` library (the docs/alerts.md example, verbatim), secret rotation, the older
X-Signature scheme per hoster, the m005 migration, `hosters secret`, and the address guard
(no POST to link-local, loopback or private addresses unless allowed)."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from monitor import store
from monitor.alerts.deliver import send_pending
from monitor.alerts.guard import GuardedResolver, WebhookRefused
from monitor.alerts.webhook import generate_secret, standard_key
from monitor.cli.main import cli
from monitor.core import clock
from monitor.core.config import Config
from monitor.sim.receivers import WebhookReceiver
from monitor.store import schema
from tests.test_alerts import HOOK_ENV, T0, alerts, loopback, make_db, reupload
from tests.test_alerts_webhook import FAST

standardwebhooks = pytest.importorskip("standardwebhooks")
LOOP = loopback()


@pytest.fixture
def pinned():
    clock.fix(T0)
    yield clock.parse(T0)
    clock.fix(None)


def docs_example() -> dict:
    """The receiver example of docs/alerts.md, run as written (its 5 lines)."""
    text = (Path(__file__).parent.parent / "docs" / "alerts.md").read_text()
    [code] = [
        block
        for block in re.findall(r"```python\n(.*?)```", text, re.S)
        if "standardwebhooks" in block
    ]
    assert len(code.strip().splitlines()) == 5
    namespace: dict = {}
    exec(compile(code, "docs/alerts.md", "exec"), namespace)
    return namespace


async def docs_receiver(secret: str):
    """An abuse desk's receiver written exactly as docs/alerts.md shows it."""
    got: list[dict] = []
    os.environ["NTD_WEBHOOK_SECRET"] = secret
    from standardwebhooks import WebhookVerificationError

    receive = docs_example()["receive"]

    async def handle(request: web.Request) -> web.Response:
        try:
            alert = receive(await request.read(), dict(request.headers))
        except WebhookVerificationError:
            return web.Response(status=401)
        got.append({"alert": alert, "id": request.headers["webhook-id"]})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/mirror", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hooks/mirror", got


async def test_the_docs_receiver_verifies_every_alert_with_the_library(
    tmp_path, pinned, monkeypatch
):
    secret = generate_secret()
    runner, url, got = await docs_receiver(secret)
    try:
        monkeypatch.setenv(HOOK_ENV, secret)
        db = make_db(tmp_path, webhook_url=url, abuse_email=None)
        for n in range(3):
            reupload(db, url=f"http://mirror.example/up/{n}.jpg")
        stats = await send_pending(db, LOOP, policy=FAST)
    finally:
        await runner.cleanup()
        os.environ.pop("NTD_WEBHOOK_SECRET", None)
    assert (stats.sent, stats.failed) == (3, 0) and len(got) == 3
    keys = {a["idempotency_key"] for a in alerts(db)}
    assert {g["id"] for g in got} == keys  # webhook-id: the idempotency key
    assert {g["alert"]["items"][0]["url"] for g in got} == {
        f"http://mirror.example/up/{n}.jpg" for n in range(3)
    }


async def test_a_forged_alert_is_refused_by_the_docs_receiver(tmp_path, pinned, monkeypatch):
    runner, url, got = await docs_receiver(generate_secret())
    try:
        monkeypatch.setenv(HOOK_ENV, generate_secret())  # the sender has another secret
        db = make_db(tmp_path, webhook_url=url, abuse_email=None)
        reupload(db)
        stats = await send_pending(db, LOOP, policy=FAST)
    finally:
        await runner.cleanup()
    assert stats.failed == 1 and got == []
    assert alerts(db)[0]["last_error"].startswith("HTTP 401")


@pytest.mark.parametrize("live", ["old", "new"])
async def test_rotation_signs_with_both_secrets(tmp_path, pinned, monkeypatch, live):
    old, new = generate_secret(), generate_secret()
    receiver = await WebhookReceiver(default_secret=old if live == "old" else new).start()
    try:
        monkeypatch.setenv(HOOK_ENV, f"{old} {new}")
        db = make_db(tmp_path, webhook_url=receiver.url + "/hooks/mirror", abuse_email=None)
        reupload(db)
        assert (await send_pending(db, LOOP, policy=FAST)).sent == 1
    finally:
        await receiver.stop()
    [delivery] = receiver.deliveries
    assert delivery.by_library and len(delivery.headers["webhook-signature"].split()) == 2


async def test_x_signature_hosters_keep_the_older_scheme(tmp_path, pinned, monkeypatch):
    receiver = await WebhookReceiver(default_secret="plain-old-secret").start()
    try:
        monkeypatch.setenv(HOOK_ENV, "plain-old-secret")
        db = make_db(tmp_path, webhook_url=receiver.url + "/hooks/mirror", abuse_email=None)
        db.execute("UPDATE hosters SET webhook_scheme = 'x-signature' WHERE id = 2")
        reupload(db)
        assert (await send_pending(db, LOOP, policy=FAST)).sent == 1
    finally:
        await receiver.stop()
    [delivery] = receiver.deliveries
    assert delivery.verified and delivery.scheme == "x-signature"
    assert "webhook-signature" not in delivery.headers and "X-Signature" in delivery.headers


async def test_a_secret_that_is_not_whsec_fails_clearly(tmp_path, pinned, monkeypatch):
    monkeypatch.setenv(HOOK_ENV, "not base64 at all!")
    db = make_db(tmp_path, webhook_url="http://127.0.0.1:9/hooks/mirror", abuse_email=None)
    reupload(db)
    stats = await send_pending(db, LOOP, policy=FAST)
    [row] = alerts(db)
    assert stats.failed == 1 and stats.attempts == 0 and row["state"] == "failed"
    assert "whsec_" in row["last_error"] and "hosters secret" in row["last_error"]


def test_generated_secrets_are_whsec_base64_of_32_bytes():
    a, b = generate_secret(), generate_secret()
    assert a != b and a.startswith("whsec_") and len(standard_key(a)) == 32


def test_m005_keeps_existing_receivers_on_x_signature(tmp_path):
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    from sqlite_utils import Database

    old = Database(conn)
    schema.migrations.apply(old, stop_before="m005_webhook_scheme")
    assert schema.version(old) == 4
    old.execute(
        "INSERT INTO hosters (name, webhook_url, webhook_secret_env, created_at) VALUES "
        "('Hooked', 'https://hooks.example/x', 'ENV', 't'), ('Mail only', NULL, NULL, "
        "'t'), ('Empty', '', NULL, 't')"
    )
    conn.commit()
    conn.close()
    db = store.connect(path)
    assert schema.version(db) == schema.LATEST == 8
    assert dict(db.execute("SELECT name, webhook_scheme FROM hosters").fetchall()) == {
        "Hooked": "x-signature",
        "Mail only": "standard",
        "Empty": "standard",
    }
    db.execute("INSERT INTO hosters (name, webhook_url, created_at) VALUES ('New', 'u', 't')")
    assert db.execute("SELECT webhook_scheme FROM hosters WHERE name = 'New'").fetchone() == (
        "standard",
    )
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE hosters SET webhook_scheme = 'md5' WHERE name = 'New'")


def test_hosters_secret_prints_once_and_stores_nothing(tmp_path, pinned):
    db = make_db(tmp_path)
    db.conn.close()
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", str(tmp_path / "alerts.db"), "hosters", "secret", "Mirror Host"]
    )
    assert result.exit_code == 0, result.output
    [secret] = [w.strip("'") for w in result.output.split() if w.startswith("whsec_")][:1]
    assert len(standard_key(secret)) == 32
    assert f"export {HOOK_ENV}='{secret}'" in result.output
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("alerts"))
    assert secret.encode() not in data and secret[6:].encode() not in data
    missing = runner.invoke(
        cli, ["--db", str(tmp_path / "alerts.db"), "hosters", "secret", "Nobody"]
    )
    assert missing.exit_code == 2 and "no hoster named" in missing.output


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.0.0.1:{port}/hooks/mirror", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/hooks/mirror", "loopback"),
        ("http://localhost:{port}/hooks/mirror", "non-public"),
    ],
)
async def test_webhooks_to_non_public_addresses_are_refused(
    tmp_path, pinned, monkeypatch, webhook_receiver, url, reason
):
    monkeypatch.setenv(HOOK_ENV, generate_secret())
    db = make_db(tmp_path, webhook_url=url.format(port=webhook_receiver.port), abuse_email=None)
    reupload(db)
    stats = await send_pending(db, Config(), policy=FAST)  # no allow_networks
    [row] = alerts(db)
    assert (stats.failed, stats.retrying, row["state"]) == (1, 0, "failed")
    assert reason in row["last_error"] and "refused" in row["last_error"]
    assert webhook_receiver.deliveries == []


async def test_link_local_stays_refused_even_when_allowed_networks_are_set(
    tmp_path, pinned, monkeypatch
):
    monkeypatch.setenv(HOOK_ENV, generate_secret())
    db = make_db(tmp_path, webhook_url="http://169.254.169.254/x", abuse_email=None)
    reupload(db)
    assert (await send_pending(db, LOOP, policy=FAST)).failed == 1
    assert "link-local" in alerts(db)[0]["last_error"]


class Rebinding:
    """A resolver whose answer mixes a refused address with an allowed one (DNS rebinding)."""

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {
                "hostname": host,
                "host": h,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for h in ("169.254.169.254", "10.0.0.7", "127.0.0.1")
        ]

    async def close(self):
        pass


async def test_the_resolver_hands_the_connection_only_allowed_addresses():
    kept = await GuardedResolver(("127.0.0.0/8",), Rebinding()).resolve("hooks.example", 80)
    assert [k["host"] for k in kept] == ["127.0.0.1"]
    with pytest.raises(WebhookRefused, match="link-local"):
        await GuardedResolver((), Rebinding()).resolve("hooks.example", 80)
