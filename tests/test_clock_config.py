"""The clock and the configuration file."""

from datetime import UTC, datetime, timedelta

import pytest

from monitor import clock
from monitor.config import ConfigError, from_dict, load


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
    assert cfg.crawl.allow_private_networks is False
    assert cfg.schedule.after_notice[0] == timedelta(hours=1)
    assert cfg.report.deadlines_hours == (1, 12, 24, 48)
    path = tmp_path / "c.toml"
    path.write_text('[takedown]\nconfirm_span = "2h"\n[asn]\nnameservers = ["127.0.0.1:5353"]\n')
    cfg = load(path)
    assert cfg.takedown.confirm_span == timedelta(hours=2)
    assert cfg.asn.nameservers == ("127.0.0.1:5353",)


@pytest.mark.parametrize("text,match", [
    ("[crawl]\nconcurrency = 3\n", "unknown key"),
    ("[crawls]\n", "unknown section"),
    ('[takedown]\nconfirm_span = "soon"\n', "confirm_span"),
    ("[crawl]\nallow_private_networks = 1\n", "true or false"),
    ("[crawl\n", "not valid TOML"),
])
def test_config_errors(tmp_path, text, match):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load(path)
