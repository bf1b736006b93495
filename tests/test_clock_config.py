"""The clock and the configuration file."""

import math
from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli.main import cli
from monitor.core import clock
from monitor.core.config import Config, ConfigError, from_dict, load
from monitor.core.config_rules import RULES
from monitor.runners.crawl import scrapy_settings


def test_iso_roundtrip_and_zone_rules():
    when = clock.parse("2026-11-28T19:31:44+01:00")
    assert clock.iso(when) == "2026-11-28T18:31:44Z"
    assert clock.parse("2026-11-28T18:31:44Z") == datetime(2026, 11, 28, 18, 31, 44, tzinfo=UTC)
    with pytest.raises(clock.TimeFormatError, match="without a zone"):
        clock.parse("2026-11-28 18:31")
    assert clock.iso(clock.parse("2026-11-28 18:31", assume_utc=True)) == "2026-11-28T18:31:00Z"
    with pytest.raises(clock.TimeFormatError):
        clock.parse("yesterday")


def test_fixed_clock():
    try:
        clock.fix("2026-01-01T00:00:00Z")
        assert clock.now_iso() == "2026-01-01T00:00:00Z"
    finally:
        clock.fix(None)
    assert clock.now().year >= 2026


def test_durations():
    assert clock.duration("90m") == timedelta(minutes=90)
    assert clock.duration("5d") == timedelta(days=5)
    with pytest.raises(clock.TimeFormatError):
        clock.duration("5 days")


def test_config_defaults_and_overrides(tmp_path):
    cfg = from_dict({})
    assert cfg.crawl.allow_networks == ()
    assert cfg.crawl.check_deadline == timedelta(seconds=60)
    assert cfg.schedule.after_notice[0] == timedelta(hours=1)
    assert cfg.report.deadlines_hours == (1, 12, 24, 48)
    path = tmp_path / "c.toml"
    path.write_text('[takedown]\nconfirm_span = "2h"\n[asn]\nnameservers = ["127.0.0.1:5353"]\n')
    cfg = load(path)
    assert cfg.takedown.confirm_span == timedelta(hours=2)
    assert cfg.asn.nameservers == ("127.0.0.1:5353",)


@pytest.mark.parametrize(
    "text,match",
    [
        ("[crawl]\nconcurrency = 3\n", "unknown key"),
        ("[crawls]\n", "unknown section"),
        ('[takedown]\nconfirm_span = "soon"\n', "confirm_span"),
        ("[crawl]\nautothrottle = 1\n", "true or false"),
        ("[crawl\n", "not valid TOML"),
    ],
)
def test_config_errors(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load(path)


@pytest.mark.parametrize(
    "text,match",
    [
        ('[crawl]\nuser_agent = "ntd\\r\\nX-Evil: 1"\n', r"\[crawl\] user_agent: control char"),
        ('[crawl]\nuser_agent = "ntd\\u0085"\n', r"\[crawl\] user_agent: control char"),
        ('[report]\ndeadlines_hours = ["abc"]\n', r"\[report\] deadlines_hours: entry 1"),
        ("[report]\ndeadlines_hours = [0]\n", r"\[report\] deadlines_hours: entry 1"),
        ("[report]\ndeadlines_hours = [nan]\n", r"\[report\] deadlines_hours"),
        ("[report]\ndeadlines_hours = [true]\n", r"\[report\] deadlines_hours"),
        ("[crawl]\nper_hoster_concurrency = 0\n", r"\[crawl\] per_hoster_concurrency: must be"),
        ("[crawl]\nconcurrent_requests = -1\n", r"\[crawl\] concurrent_requests"),
        ('[crawl]\ndownload_timeout = "0s"\n', r"\[crawl\] download_timeout: must be more than"),
        ('[crawl]\ncheck_deadline = "0s"\n', r"\[crawl\] check_deadline"),
        ("[crawl]\ndownload_timeout = inf\n", r"\[crawl\] download_timeout"),
        ('[crawl]\ndownload_timeout = "99999999999999d"\n', r"\[crawl\] download_timeout"),
        ("[crawl]\nmax_download_bytes = 100\n", r"\[crawl\] max_download_bytes"),
        ("[hashes]\nphash_threshold = 65\n", r"\[hashes\] phash_threshold"),
        ("[hashes]\npdq_threshold = 257\n", r"\[hashes\] pdq_threshold"),
        ('[schedule]\nafter_notice = ["1h", "-2h"]\n', r"\[schedule\] after_notice: entry 2"),
        ('[schedule]\nafter_notice = ["0s"]\n', r"\[schedule\] after_notice: entry 1"),
        ('[takedown]\nunreachable_after = "0s"\n', r"\[takedown\] unreachable_after"),
        (
            "[crawl]\nallow_private_networks = true\n",
            r"\[crawl\] allow_private_networks: was replaced by allow_networks",
        ),
        (
            '[crawl]\nallow_networks = ["169.254.0.0/16"]\n',
            r"\[crawl\] allow_networks: .*link-local",
        ),
        ('[crawl]\nallow_networks = ["fe80::/10"]\n', r"\[crawl\] allow_networks: .*link-local"),
        ('[crawl]\nallow_networks = ["0.0.0.0/0"]\n', r"\[crawl\] allow_networks: .*over-broad"),
        ('[crawl]\nallow_networks = ["::/0"]\n', r"\[crawl\] allow_networks: .*over-broad"),
        ('[asn]\nnameservers = ["dns.example:53"]\n', r"\[asn\] nameservers: entry 1"),
        ('[asn]\nnameservers = ["127.0.0.1:0"]\n', r"\[asn\] nameservers: entry 1: port"),
        ('[crawl]\nnameservers = ["127.0.0.1:53x"]\n', r"\[crawl\] nameservers"),
        ('[asn]\norigin_zone = "origin asn.cymru.com"\n', r"\[asn\] origin_zone: not a DNS"),
        (
            '[alerts]\nfrom_address = "a@b.example\\r\\nBcc: x@y.example"\n',
            r"\[alerts\] from_address: control",
        ),
        ('[alerts]\nfrom_address = "not-an-address"\n', r"\[alerts\] from_address: not an e-mail"),
        ('[alerts]\nsmtp_password_env = "MY SECRET"\n', r"\[alerts\] smtp_password_env"),
        ("[alerts]\nsmtp_port = 70000\n", r"\[alerts\] smtp_port"),
        ('[distributed]\nkey_prefix = "a b"\n', r"\[distributed\] key_prefix"),
        (
            '[asn]\nrouting_table = "/nonexistent/routes.txt"\n',
            r"\[asn\] routing_table: file not found",
        ),
        ("[[crawl]]\n", r"\[crawl\] must be a table"),
    ],
)
def test_bad_values_name_their_key(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load(path)


def test_good_values_are_read(tmp_path):
    table = tmp_path / "routes.txt"
    table.write_text("127.0.1.0/24 64500\n")
    cfg = from_dict(
        {
            "crawl": {
                "allow_networks": ["127.0.0.0/8", "::1/128"],
                "check_deadline": "90s",
                "nameservers": ["[::1]:5353"],
            },
            "asn": {"routing_table": str(table), "nameservers": ["10.0.0.1"]},
            "alerts": {"batch_window": "0s", "smtp_user_env": "SMTP_USER"},
            "report": {"deadlines_hours": [1, 12.5]},
            "takedown": {"confirm_span": "0s"},
        }
    )
    assert cfg.crawl.allow_networks == ("127.0.0.0/8", "::1/128")
    assert cfg.report.deadlines_hours == (1.0, 12.5)
    assert cfg.alerts.batch_window == timedelta(0)
    settings = scrapy_settings(cfg)
    assert settings.getlist("NTD_ALLOW_NETWORKS") == ["127.0.0.0/8", "::1/128"]
    assert settings.getfloat("NTD_CHECK_DEADLINE") == 90.0
    assert "NTD_ALLOW_PRIVATE_NETWORKS" not in settings


def test_every_key_has_its_own_rule():
    for section in fields(Config):
        keys = {f.name for f in fields(section.default_factory())}  # type: ignore[misc]
        assert keys == set(RULES[section.name]), section.name


def test_cli_bad_config_exits_2_with_the_message(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[crawl]\nper_hoster_concurrency = 0\n")
    result = CliRunner().invoke(
        cli, ["--db", str(tmp_path / "x.db"), "--config", str(path), "status"]
    )
    assert result.exit_code == 2
    assert "[crawl] per_hoster_concurrency: must be between 1" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, ConfigError)
    path.write_text('[report]\ndeadlines_hours = ["abc"]\n')
    result = CliRunner().invoke(cli, ["--config", str(path), "schedule"])
    assert result.exit_code == 2 and "[report] deadlines_hours" in result.output


# Everything TOML can hold: the fuzz below may only ever get a Config or a ConfigError.
_SCALARS = (
    st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.datetimes()
    | st.dates()
    | st.times()
    | st.sampled_from(
        [
            "0s",
            "1h",
            "-1h",
            "1e999s",
            "9" * 40 + "d",
            "nan",
            "127.0.0.1:53",
            "::1",
            "[::1]:5353",
            "10.0.0.0/8",
            "169.254.0.0/16",
            "a@b.c",
            "",
            "\r\n",
            "x\x00y",
        ]
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [k for keys in RULES.values() for k in keys] + ["allow_private_networks", "bogus"]
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(sorted(RULES) + ["nope"]),
        st.dictionaries(_KEYS, _VALUES, max_size=4) | _VALUES,
        max_size=3,
    )
)
def test_from_dict_raises_only_config_error(data):
    try:
        from_dict(data)
    except ConfigError:
        pass


def test_from_dict_odd_toml_values():
    for value in (
        math.nan,
        math.inf,
        -math.inf,
        10**400,
        -(10**30),
        True,
        date(2026, 1, 1),
        time(1, 2),
        datetime(2026, 1, 1),
        [],
        {},
        [[1]],
        "\u2028",
    ):
        for section, keys in RULES.items():
            for key in keys:
                try:
                    from_dict({section: {key: value}})
                except ConfigError:
                    pass
