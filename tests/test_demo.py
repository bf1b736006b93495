"""A short demo end to end: world, DNS, receivers, stepped crawl with watch scans and alert
delivery, report, measured vs. true, and re-uploads found and alerted vs. the world's truth."""

import json

from monitor.config import ScheduleConfig
from monitor.demo import compare, run_demo
from monitor.sim import scenario as scenarios


def _group(name: str, notices: int, median: float | None, upper: float | None = None,
           too_few: bool = False) -> dict:
    return {"hoster": name, "notices": notices, "median_hours": median,
            "median_hours_upper": upper, "removed_within": {"24": 0.5},
            "too_few_to_rank": too_few}


def test_hosters_with_too_few_notices_are_shown_not_judged():
    """A scaled-down demo (`--days 5 --reports 60`) has fewer notices per hoster than
    min_notices_for_rates: no measured median, and that is not a miss."""
    truth = {name: {"median": 6.0, "within_24h": 0.9, "hours": []} for name in "ABC"}
    rows = compare({"groups": [_group("A", 7, None, too_few=True),
                               _group("B", 40, 6.5, upper=8.0),
                               _group("C", 40, 11.0, upper=12.0)]}, truth, ScheduleConfig())
    a, b, c = rows
    assert a.ok and not a.comparable and a.error_fraction() is None
    # gap at 6 h: the 4 h and 8 h checks; the interval median within it, the upper bound too
    assert b.ok and b.resolution == 4.0
    assert b.error_fraction() == 0.125 and b.error_fraction(upper=True) == 0.5
    assert not c.ok          # 5 h from the truth: more than the gap (4 h) off


async def test_short_demo(tmp_path):
    result = await run_demo(days=5, hosters=3, reports=30, seed=4, out=tmp_path, progress=False)
    assert (tmp_path / "demo-report.html").exists()
    data = json.loads((tmp_path / "demo-report.json").read_text())
    groups = data["groups"]
    # reported notices, plus one tracked notice per re-upload URL found (its own takedown clock)
    assert sum(g["notices"] - g["reupload_notices"] for g in groups) == 30
    assert sum(g["reupload_notices"] for g in groups) == len(result.reuploads.found)
    assert sum(c.notices for c in result.comparisons) == 30
    assert result.checks >= 30 * 5  # every report got its early slots
    assert {c.hoster for c in result.comparisons} == {g["hoster"] for g in groups}
    assert result.ok, [c for c in result.comparisons if not c.ok]

    # watch scans ran during the simulated days: one per day and one at the start
    assert result.watch is not None and result.watch.scans == 6
    assert result.watch.images > 0

    # re-uploads the world served were found, and nothing else was
    tally = result.reuploads
    assert tally.served >= 2
    assert tally.true_found >= 2
    assert tally.false_found == 0 and not tally.wrong
    webhook_hosters = {h.name for h in scenarios.load("default").hosters if h.webhook}
    by_webhook = 0
    for found in tally.found:
        hoster = found.true_hoster
        assert found.kind == "reupload" and hoster is not None, found  # in the world's truth
        assert found.alerted == (hoster,), found   # alerted to the hoster serving it
        # ... and its alert reached that hoster's receivers: the SMTP sink always, the webhook
        # receiver (signature verified) when the hoster has one
        assert (hoster, "email") in found.delivered, found
        if hoster in webhook_hosters:
            assert (hoster, "webhook") in found.delivered, found
            by_webhook += 1
    assert by_webhook >= 1
    assert tally.alerts("reupload") >= tally.true_found
    assert sum(h.undelivered for h in tally.hosters) == 0

    db_bytes = (tmp_path / "demo.db").read_bytes()
    assert b"\xff\xd8\xff" not in db_bytes  # no JPEG was ever stored
