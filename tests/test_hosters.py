"""Hoster attribution (prefix beats ASN, resellers, unmapped fallback) and resolve_pending."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from monitor.attribution import asn, hosters
from monitor.attribution.records import AsnInfo
from monitor.core.config import AsnConfig, Config
from monitor.sim.dns import CymruDNS
from monitor.store import connect

T0 = "2026-01-01T00:00:00Z"


@pytest.fixture
def db(tmp_path):
    db = connect(tmp_path / "hosters.db")
    db["hosters"].insert_all(
        [
            {"id": 1, "name": "Big Hosting", "country": "NL", "created_at": T0},
            {"id": 2, "name": "Tiny Reseller", "country": "NL", "created_at": T0},
            {"id": 3, "name": "Prefix Only", "country": "DE", "created_at": T0},
        ]
    )
    db["hoster_networks"].insert_all(
        [
            {"hoster_id": 1, "asn": 64500, "prefix": None},
            {"hoster_id": 2, "asn": 64500, "prefix": "198.18.8.0/24"},
            {"hoster_id": 3, "asn": None, "prefix": "2001:db8:100::/48"},
        ]
    )
    return db


def info(ip, asn_, name=None, announced=True):
    return AsnInfo(ip, asn_, (asn_,) if asn_ else (), None, as_name=name, announced=announced)


def test_prefix_beats_asn_and_reseller_is_its_own_hoster(db):
    registry = hosters.Registry.load(db)
    assert registry.attribute("198.18.0.1", info("198.18.0.1", 64500)).name == "Big Hosting"
    reseller = registry.attribute("198.18.8.9", info("198.18.8.9", 64500))
    assert (reseller.id, reseller.name, reseller.unmapped) == (2, "Tiny Reseller", False)
    assert registry.attribute("2001:db8:100::1", None).name == "Prefix Only"
    assert registry.attribute("203.0.113.1", info("203.0.113.1", None, announced=False)) is None


def test_unmapped_asn_gets_a_flagged_hoster_once(db):
    registry = hosters.Registry.load(db)
    first = registry.attribute("198.51.100.1", info("198.51.100.1", 64777, "ODD-AS Odd Net, FR"))
    again = registry.attribute("198.51.100.2", info("198.51.100.2", 64777, "ODD-AS Odd Net, FR"))
    nameless = registry.attribute("198.51.100.3", info("198.51.100.3", 64778))
    assert first == again and first.unmapped and first.name == "ODD-AS Odd Net, FR"
    assert nameless.name == "AS64778" and nameless.unmapped
    clash = registry.attribute("198.51.100.4", info("198.51.100.4", 64779, "Big Hosting"))
    assert clash.name == "Big Hosting (AS64779)" and clash.id != 1
    reloaded = hosters.Registry.load(db)
    assert reloaded.attribute("198.51.100.9", info("198.51.100.9", 64777)).id == first.id
    assert db["hoster_networks"].count_where("asn = 64777 AND prefix IS NULL") == 1


def test_moves_counts_hoster_changes_between_online_checks():
    checks = [
        {"outcome": "online", "hoster_id": 1},
        {"outcome": "removed", "hoster_id": 2},
        {"outcome": "online", "hoster_id": 1},
        {"outcome": "online", "hoster_id": 2},
        {"outcome": "online", "hoster_id": None},
        {"outcome": "online", "hoster_id": 1},
    ]
    assert hosters.moves(checks) == 2
    assert hosters.moves([]) == 0


@pytest.fixture
def cymru():
    server = CymruDNS()
    server.start()
    server.announce("198.18.0.0/16", [64500])
    server.announce("198.51.100.0/24", [64777])
    server.name_asn(64500, "BIG-AS Big Hosting, NL")
    server.name_asn(64777, "ODD-AS Odd Net, FR", cc="FR")
    yield server
    server.stop()


def add_checks(db, rows):
    db["reports"].insert_all(
        [
            {
                "id": i,
                "url": f"http://h{i}.test/x",
                "url_key": f"h{i}.test/x",
                "reported_at": T0,
                "noticed_at": T0,
                "imported_at": T0,
            }
            for i in (1, 2, 3, 4)
        ]
    )
    db["checks"].insert_all(
        [
            {
                "report_id": r,
                "due_at": f"2026-01-01T0{n}:00:00Z",
                "checked_at": T0,
                "outcome": o,
                "reason": "test",
                "ip": ip,
                **extra,
            }
            for n, (r, o, ip, extra) in enumerate(rows)
        ]
    )


async def test_resolve_pending_fills_checks_and_keeps_history(db, cymru):
    add_checks(
        db,
        [
            (1, "online", "198.18.0.5", {}),
            (1, "online", "198.18.8.5", {}),  # reseller prefix
            (2, "online", "198.51.100.7", {}),  # unmapped ASN
            (3, "removed", "203.0.113.5", {}),  # not announced
            (4, "online", "198.18.0.6", {"asn": 64999, "hoster_id": 3, "prefix": "x"}),  # kept
            (4, "unreachable", None, {}),
        ],
    )
    config = Config(asn=AsnConfig(nameservers=(cymru.address,), timeout=timedelta(seconds=1)))
    stats = await asn.resolve_pending(db, config)
    assert (stats.checks, stats.resolved, stats.not_announced, stats.unresolved) == (4, 3, 1, 0)
    assert stats.report_ids == {1, 2, 3}
    rows = {r["ip"]: r for r in db.query("SELECT * FROM checks")}
    assert (rows["198.18.0.5"]["asn"], rows["198.18.0.5"]["hoster_id"]) == (64500, 1)
    assert json.loads(rows["198.18.0.5"]["asns"]) == [64500]
    assert rows["198.18.0.5"]["prefix"] == "198.18.0.0/16"
    assert rows["198.18.8.5"]["hoster_id"] == 2
    odd = db["hosters"].get(rows["198.51.100.7"]["hoster_id"])
    assert (odd["name"], odd["unmapped"]) == ("ODD-AS Odd Net, FR", 1)
    assert rows["203.0.113.5"]["asn"] is None and rows["203.0.113.5"]["asns"] == "[]"
    assert (rows["198.18.0.6"]["asn"], rows["198.18.0.6"]["hoster_id"]) == (64999, 3)
    before = len(cymru.queries)
    assert (await asn.resolve_pending(db, config)).checks == 0
    assert len(cymru.queries) == before

    volumes = {v.name: v for v in hosters.hoster_volumes(db)}
    assert volumes["Big Hosting"].checks == 1 and volumes["Big Hosting"].asns == (64500,)
    assert volumes["Tiny Reseller"].prefixes == ("198.18.8.0/24",)
    assert volumes["ODD-AS Odd Net, FR"].unmapped and volumes["ODD-AS Odd Net, FR"].checks == 1
    top = hosters.unmapped_asns(db)
    assert [(u.asn, u.name, u.checks) for u in top] == [(64777, "ODD-AS Odd Net, FR", 1)]


def test_resolve_pending_sync_leaves_failures_pending(db, cymru):
    add_checks(db, [(1, "online", "198.18.0.5", {})])
    cymru.silent = True
    config = Config(asn=AsnConfig(nameservers=(cymru.address,), timeout=timedelta(seconds=0.2)))
    stats = asn.resolve_pending_sync(db, config)
    assert (stats.checks, stats.unresolved, stats.report_ids) == (1, 1, frozenset())
    assert db.execute("SELECT asn, asns, hoster_id FROM checks").fetchone() == (None, None, None)
    cymru.silent = False
    stats = asn.resolve_pending_sync(db, config, limit=5)
    assert stats.resolved == 1 and stats.report_ids == {1}


# --- hostile hoster rows (issue 18): ASNs, prefixes, webhooks, e-mail, webhook_scheme ---


def import_csv(db, tmp_path, text, **kw):
    from monitor.intake.hosters import import_hosters

    path = tmp_path / "hosters.csv"
    path.write_text(text, encoding="utf-8")
    return path, import_hosters(db, path, **kw)


@pytest.mark.parametrize(
    "value,asn",
    [
        ("64500", 64500),
        ("AS64500", 64500),
        ("as64500", 64500),
        (" AS064500 ", 64500),
        ("1", 1),
        ("4294967294", 4294967294),
        ("\u00b2", None),  # superscript two: str.isdigit() is True, int() fails
        ("\u0663\u0664", None),  # Arabic-Indic 34: int() reads it as 34
        ("AS\uff16\uff14\uff15\uff10\uff10", None),  # fullwidth 64500
        ("A\u017f64500", None),  # long s: .upper() made it "AS64500"
        ("0", None),
        ("4294967295", None),
        ("4294967296", None),
        ("AS", None),
        ("-1", None),
        ("+64500", None),
        ("64_500", None),
        ("6" * 5000, None),
    ],
)
def test_asn_is_ascii_digits_in_range(tmp_path, value, asn):
    db = connect(tmp_path / "asn.db")
    path, result = import_csv(db, tmp_path, f"name,asn\nGood,64501\nX,{value}\n")
    stored = db.execute(
        "SELECT asn FROM hoster_networks n JOIN hosters h ON h.id = n.hoster_id WHERE h.name = 'X'"
    ).fetchall()
    if asn is None:
        assert len(result.errors) == 1
        assert str(result.errors[0]).startswith(f"{path}:3: asn: not an AS number")
        assert "0 and 4294967295 are reserved" in result.errors[0].reason
        assert stored == []
    else:
        assert result.bad == 0 and stored == [(asn,)]


@pytest.mark.parametrize(
    "prefix,reason",
    [
        ("0.0.0.0/0", "too wide"),
        ("::/0", "too wide"),
        ("10.0.0.0/7", "too wide"),
        ("2000::/15", "too wide"),
        ("192.0.2.1/24", "has host bits set (the network is 192.0.2.0/24)"),
        ("2001:db8::1/32", "has host bits set (the network is 2001:db8::/32)"),
        ("fe80::%eth0/64", "not an IP prefix"),
        ("\u0661\u0660.0.0.0/8", "not an IP prefix"),
        ("10.0.0.0/\u0668", "not an IP prefix"),
    ],
)
def test_bad_hoster_prefixes_are_refused(tmp_path, prefix, reason):
    db = connect(tmp_path / "p.db")
    path, result = import_csv(
        db,
        tmp_path,
        f"name,asn,prefix\nOk,64500,198.18.8.0/24\nOk6,,2001:db8:100::/48\nX,,{prefix}\n",
    )
    assert len(result.errors) == 1 and str(result.errors[0]).startswith(f"{path}:4: prefix: ")
    assert reason in result.errors[0].reason
    assert db["hoster_networks"].count == 2


@pytest.mark.parametrize(
    "hook,reason",
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::ffff:169.254.169.254]/x", "link-local"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://10.1.2.3/hook", "private-use"),
        ("http://127.1/hook", "numeric host"),
        ("http://2130706433/hook", "numeric host"),
        ("ftp://hooks.example/x", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("https://user:pw@hooks.example/x", "contains credentials"),
        ("https://hooks..example/x", "empty label"),
        ("https://hooks.example:0/x", "port 0"),
    ],
)
def test_webhook_urls_that_are_not_public_http_are_refused(tmp_path, hook, reason):
    db = connect(tmp_path / "w.db")
    path, result = import_csv(
        db,
        tmp_path,
        "name,webhook_url,webhook_secret_env\n"
        "Good,https://hooks.example/x,GOOD_SECRET\n"
        f"Bad,{hook},BAD_SECRET\n",
    )
    assert len(result.errors) == 1 and str(result.errors[0]).startswith(f"{path}:3: webhook_url:")
    assert reason in result.errors[0].reason and "pw" not in result.errors[0].reason
    assert db.execute("SELECT name, webhook_url FROM hosters").fetchall() == [
        ("Good", "https://hooks.example/x")
    ]


def test_allow_networks_opens_a_loopback_webhook(tmp_path):
    db = connect(tmp_path / "w.db")
    _, result = import_csv(
        db,
        tmp_path,
        "name,webhook_url\nSim,http://127.0.0.1:8080/h\nMeta,http://169.254.169.254/\n",
        allow_networks=("127.0.0.0/8", "169.254.0.0/16"),
    )
    assert [e.line for e in result.errors] == [3]  # link-local is never opened
    assert db.execute("SELECT webhook_url FROM hosters").fetchall() == [
        ("http://127.0.0.1:8080/h",)
    ]


@pytest.mark.parametrize(
    "email",
    [
        "a@b.example,c@d.example",
        "a@b.example;c@d.example",
        "a@b@c.example",
        "Abuse Desk <abuse@x.example>",
        "abuse@localhost",
        "abuse@x..example",
        "abuse@1.2.3.4",
        "@x.example",
        "abuse@",
        "ab use@x.example",
        '"a,b"@x.example',
        "abuse@\u212a.example",
    ],
)
def test_abuse_email_is_one_plain_address(tmp_path, email):
    db = connect(tmp_path / "e.db")
    path, result = import_csv(
        db,
        tmp_path,
        "name,abuse_email\nGood,abuse+nl@big.example\n"
        f'Bad,"{email.replace(chr(34), chr(34) * 2)}"\n',
    )
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(f"{path}:3: abuse_email: not a single plain")
    assert db.execute("SELECT abuse_email FROM hosters").fetchall() == [("abuse+nl@big.example",)]


def test_webhook_scheme_is_validated_and_stored(tmp_path):
    db = connect(tmp_path / "s.db")
    path, result = import_csv(
        db,
        tmp_path,
        "name,webhook_url,webhook_secret_env,webhook_scheme\n"
        "Std,https://std.example/h,STD,\n"
        "Old,https://old.example/h,OLD,X-Signature\n"
        "Odd,https://odd.example/h,ODD,hmac-md5\n",
    )
    assert [str(e) for e in result.errors] == [
        f"{path}:4: webhook_scheme: 'hmac-md5' is not one of standard, x-signature"
    ]
    assert db.execute("SELECT name, webhook_scheme FROM hosters ORDER BY name").fetchall() == [
        ("Old", "x-signature"),
        ("Std", "standard"),
    ]
    _, again = import_csv(db, tmp_path, "name,webhook_scheme\nOld,standard\nStd,standard\n")
    assert (again.added, again.unchanged) == (1, 1)
    assert db.execute("SELECT webhook_scheme FROM hosters WHERE name = 'Old'").fetchone() == (
        "standard",
    )
