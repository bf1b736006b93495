"""A short demo end to end: world, DNS, receivers, stepped crawl with watch scans and alert
delivery, report, measured vs. true, and re-uploads found and alerted vs. the world's truth."""

import json

from monitor import store
from monitor.alerts.xarf import NOT_SENT
from monitor.core import clock
from monitor.core.config import ScheduleConfig
from monitor.sim import scenario as scenarios
from monitor.sim.demo.printing import receivers_line
from monitor.sim.demo.run import compare, run_demo
from monitor.sim.demo.videos import lines as video_lines


def _group(
    name: str, notices: int, median: float | None, upper: float | None = None, too_few: bool = False
) -> dict:
    return {
        "hoster": name,
        "notices": notices,
        "median_hours": median,
        "median_hours_upper": upper,
        "removed_within": {"24": 0.5},
        "too_few_to_rank": too_few,
    }


def test_hosters_with_too_few_notices_are_shown_not_judged():
    """A scaled-down demo (`--days 5 --reports 60`) has fewer notices per hoster than
    min_notices_for_rates: no measured median, and that is not a miss."""
    truth = {name: {"median": 6.0, "within_24h": 0.9, "hours": []} for name in "ABC"}
    rows = compare(
        {
            "groups": [
                _group("A", 7, None, too_few=True),
                _group("B", 40, 6.5, upper=8.0),
                _group("C", 40, 11.0, upper=12.0),
            ]
        },
        truth,
        ScheduleConfig(),
    )
    a, b, c = rows
    assert a.ok and not a.comparable and a.error_fraction() is None
    # gap at 6 h: the 4 h and 8 h checks; the interval median within it, the upper bound too
    assert b.ok and b.resolution == 4.0
    assert b.error_fraction() == 0.125 and b.error_fraction(upper=True) == 0.5
    assert not c.ok  # 5 h from the truth: more than the gap (4 h) off


def db_rows(tmp_path, sql):
    db = store.connect(tmp_path / "demo.db", readonly=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.conn.close()


def test_order_truth_and_verdicts():
    """The world's truth of an order, and the verdicts the demo gives (pure)."""
    from datetime import timedelta

    from monitor.core.compliance import Compliance, ComplianceState
    from monitor.sim.demo.orders import IssuedOrder, _verdict, true_state
    from monitor.sim.plan import Item

    t0 = clock.parse("2026-01-05T00:00:00Z")
    h = timedelta(hours=1)
    end = t0 + 100 * h

    def item(removal=None, back=None, until=None, noise=None):
        return Item(
            id="x",
            hoster="H",
            path="/x",
            fmt="jpeg",
            seed=1,
            gallery=0,
            removal_at=None if removal is None else t0 + removal * h,
            noticed_at=t0,
            reappear_at=None if back is None else t0 + back * h,
            reappear_until=None if until is None else t0 + until * h,
            noise=noise,
        )

    deadline = t0 + 10 * h
    assert true_state(item(5), deadline, end) == ("complied", None)
    assert true_state(item(10), deadline, end) == ("complied", None)  # at the deadline
    assert true_state(item(12), deadline, end) == ("late", 2.0)
    assert true_state(item(), deadline, end) == ("not_complied", None)
    assert true_state(item(200), deadline, end) == ("not_complied", None)  # after the end
    assert true_state(item(5, 30, 40), deadline, end) == ("late", 30.0)  # came back
    assert true_state(item(5, 30), deadline, end) == ("not_complied", None)
    assert true_state(item(5, 8, 9), deadline, end) == ("complied", None)  # back before it
    assert true_state(item(5, 130, 140), deadline, end) == ("complied", None)

    def verdict(
        state, truth, sampled, lateness=None, measured_late=(None, None), sampled_lateness=None
    ):
        o = IssuedOrder(
            "O",
            item(12),
            1,
            deadline,
            truth=truth,
            true_lateness=lateness,
            sampled=sampled,
            sampled_lateness=sampled_lateness,
        )
        low, high = measured_late
        o.measured = Compliance(
            ComplianceState(state),
            deadline,
            "r",
            lateness=None if high is None else high * h,
            lateness_low=None if low is None else low * h,
        )
        return _verdict(o, [deadline], 0.3)

    assert verdict("late", "late", "late", 2.0, (1.0, 3.0)) == "ok"
    assert verdict("late", "late", "late", 2.0, (2.5, 3.0)) == "WRONG"  # lateness off
    # ... unless the checks' own times say the same (back online between two checks)
    assert verdict("late", "late", "late", 2.0, (2.5, 3.0), 3.0) == "not observable"
    assert verdict("complied", "late", "complied") == "not observable"
    assert verdict("complied", "not_complied", "not_complied") == "WRONG"
    # unverifiable only where the world blocked or failed around the deadline
    assert verdict("unverifiable", "late", "late") == "WRONG"


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

    # CDN-fronted notices: their own group, never ranked; every notice with its right party
    cdn = result.cdn
    assert cdn.cdn == "Edgewise CDN" and cdn.fronted >= 1, cdn
    assert (cdn.right, cdn.notices, cdn.cdn_ranked, cdn.misrouted) == (30, 30, 0, 0), cdn.wrong
    [group] = [g for g in groups if g["cdn"]]
    assert group["hoster"] == "Edgewise CDN (origin unknown)" and group["rank"] is None
    assert group["notices"] - group["reupload_notices"] == cdn.fronted
    assert cdn.alerts_to_cdn == cdn.alerts_fronted

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
        assert found.alerted == (hoster,), found  # alerted to the hoster serving it
        # ... and its alert reached that hoster's receivers: the SMTP sink always, the webhook
        # receiver (signature verified) when the hoster has one
        assert (hoster, "email") in found.delivered, found
        if hoster in webhook_hosters:
            assert (hoster, "webhook") in found.delivered, found
            by_webhook += 1
    assert by_webhook >= 1
    assert tally.alerts("reupload") >= tally.true_found
    assert sum(h.undelivered for h in tally.hosters) == 0

    # removal orders went to the slowest hosters at day 2 and were judged against the truth
    orders = result.orders
    assert orders.issued_at is not None and len(orders.orders) >= 5
    assert {o.item.hoster for o in orders.orders} <= set(orders.hosters)
    assert not orders.misclassified, [
        (o.order_id, o.measured, o.truth) for o in orders.misclassified
    ]
    assert sum(o.verdict == "ok" for o in orders.orders) >= len(orders.orders) - 2
    states = {o.measured.state.value for o in orders.orders if o.measured}
    assert {"complied", "not_complied"} <= states
    for order in orders.orders:  # every deadline was checked: pending only where the material
        if order.measured and order.measured.state.value == "pending":  # is down since, unconfirmed
            assert "late once confirmed" in order.measured.reason, order.measured
    for order in orders.orders:  # each one checked at its deadline, from the import file
        due = {
            row[0]
            for row in db_rows(
                tmp_path, f"SELECT due_at FROM checks WHERE report_id = {order.report_id}"
            )
        }
        assert clock.iso(order.deadline_at) in due, order.order_id
    assert len(data["orders"]) == len(orders.orders)
    assert sum(g["orders"]["orders"] for g in groups) == len(orders.orders)

    # the hosters' tools' view of everything the demo sent: every webhook verified by the
    # `standardwebhooks` library, every XARF attachment valid under the `xarf` package and the
    # official schemas (strict mode asks only for fields we must not send, and `domain`: the
    # demo's hosts are IP addresses), and the closing line saying so
    assert tally.library and tally.hooks_posted >= 1 and tally.xarf_sent >= 1
    assert tally.hooks_by_library == tally.hooks_posted
    assert tally.xarf_valid == tally.xarf_sent
    assert tally.xarf_strict_gaps <= set(NOT_SENT) | {"domain"}, tally.xarf_strict_gaps
    assert receivers_line(tally) == (
        f"webhooks verified by standardwebhooks: {tally.hooks_posted}/{tally.hooks_posted} "
        f"sent; XARF valid: {tally.xarf_sent}/{tally.xarf_sent} sent"
    )
    assert (tmp_path / "demo-world" / "orders.csv").exists()

    # videos: the world's video reports were rechecked against the truth (no removal claimed
    # while a video was served), no vPDQ find named the wrong report or a distractor, and the
    # demo's "Video" block says so
    video = result.video
    assert video.reported >= 1 and video.distractors >= 1 and sum(video.checks.values()) >= 5
    assert video.count("down", "online") == 0, video.checks
    assert video.false == 0 and video.distractor_hits == 0
    assert video.served >= 1 and video.found >= 1  # a video re-upload found by a watch scan
    assert video.world["responses"] >= 1 and video.world["bytes"] > 0
    block = video_lines(video)
    assert block[0].startswith(f"reported videos: {video.reported} ")
    assert any(line.startswith("video re-uploads: ") for line in block)

    db_bytes = (tmp_path / "demo.db").read_bytes()
    assert b"\xff\xd8\xff" not in db_bytes  # no JPEG was ever stored
