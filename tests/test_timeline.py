"""Timeline: the takedown rules of DESIGN.md, as examples and as hypothesis invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core.classify import DOWN, Outcome
from monitor.core.config import TakedownConfig
from monitor.core.timeline import Observation, State, Timeline, build

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CFG = TakedownConfig()
ON, RM, DNS, UN, BL = (
    Outcome.ONLINE,
    Outcome.REMOVED,
    Outcome.DNS_GONE,
    Outcome.UNREACHABLE,
    Outcome.BLOCKED,
)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def obs(*items) -> list[Observation]:
    """(hours, outcome) or (hours, outcome, hoster_id) tuples."""
    out = []
    for item in items:
        hours, outcome, *rest = item
        out.append(Observation(h(hours), outcome, str(outcome), rest[0] if rest else None))
    return out


def tl(*items, cfg: TakedownConfig = CFG) -> Timeline:
    return build(T0, obs(*items), cfg)


# --- examples -------------------------------------------------------------------------------


def test_no_checks_is_unchecked():
    t = build(T0, [], CFG)
    assert t == Timeline() and t.state is State.UNCHECKED and t.checks_count == 0


def test_online():
    t = tl((1, ON), (2, ON))
    assert t.state is State.ONLINE
    assert t.last_online_at == h(2) and t.last_checked_at == h(2) and t.checks_count == 2
    assert t.last_outcome is ON and t.takedown_at is None and t.first_down_at is None


def test_one_down_check_is_unconfirmed():
    t = tl((1, ON), (2, RM))
    assert t.state is State.UNCONFIRMED
    assert t.first_down_at == h(2) and t.takedown_at is None and t.last_online_at == h(1)


def test_two_down_checks_an_hour_apart_confirm_the_first():
    t = tl((1, ON), (2, RM), (3, RM))
    assert t.state is State.DOWN
    assert t.takedown_at == h(2) and t.first_down_at == h(2) and t.confirmed_at == h(3)
    assert t.last_online_at == h(1) and t.last_outcome is RM


def test_span_shorter_than_confirm_span_waits():
    t = tl((1, RM), (1.5, RM))
    assert t.state is State.UNCONFIRMED and t.takedown_at is None
    t = tl((1, RM), (1.5, RM), (2, DNS))
    assert t.state is State.DOWN and t.takedown_at == h(1) and t.confirmed_at == h(2)


def test_confirm_checks_counts():
    cfg = TakedownConfig(confirm_checks=3, confirm_span=timedelta(hours=1))
    assert tl((1, RM), (3, RM), cfg=cfg).state is State.UNCONFIRMED
    assert tl((1, RM), (3, RM), (4, RM), cfg=cfg).takedown_at == h(1)


def test_unreachable_and_blocked_between_down_checks_are_neutral():
    t = tl((0.5, ON), (1, RM), (2, UN), (3, BL), (4, RM))
    assert t.state is State.DOWN and t.takedown_at == h(1) and t.confirmed_at == h(4)


def test_flap_is_not_a_takedown_nor_a_reappearance():
    t = tl((1, ON), (2, RM), (4, ON))
    assert t.state is State.ONLINE and t.reappearances == 0 and t.takedowns == ()
    assert t.first_down_at is None and t.last_online_at == h(4)


def test_reappearance_after_confirmed_takedown():
    t = tl((1, ON), (2, RM), (4, RM), (200, ON))
    assert t.state is State.ONLINE and t.reappearances == 1
    assert t.takedowns == ((h(1), h(2)),)
    assert t.takedown_at is None and t.first_down_at is None and t.last_online_at == h(200)
    # and it can be taken down again: a second, independent takedown
    t = tl((1, ON), (2, RM), (4, RM), (200, ON), (201, RM), (203, RM))
    assert t.state is State.DOWN and t.takedown_at == h(201) and t.reappearances == 1


def test_unreachable_alone_needs_48_hours():
    t = tl((1, ON), (2, UN), (24, UN), (49, UN))
    assert t.state is State.UNCONFIRMED and t.takedown_at is None and t.first_down_at is None
    t = tl((1, ON), (2, UN), (24, UN), (49, UN), (50, UN))
    assert t.state is State.DOWN and t.takedown_at == h(2) and t.confirmed_at == h(50)
    assert t.first_down_at == h(2)


def test_down_checks_count_as_failures_for_the_unreachable_rule():
    t = tl((1, ON), (2, UN), (30, RM), (50, UN))
    assert t.state is State.DOWN and t.takedown_at == h(2)


def test_confirmed_takedown_does_not_move_when_more_checks_arrive():
    t = tl((1, UN), (49, UN), (50, RM), (52, RM))
    assert t.takedown_at == h(1) and t.confirmed_at == h(49)


def test_blocked_never_confirms():
    t = tl((1, ON), *[(2 + 12 * i, BL) for i in range(20)])
    assert t.state is State.UNCONFIRMED and t.takedown_at is None and t.last_outcome is BL


def test_checks_before_the_notice_clamp_the_takedown():
    t = tl((-5, ON), (-2, RM), (-1, RM))
    assert t.state is State.DOWN
    assert t.takedown_at == T0 and t.first_down_at == T0 and t.last_online_at == h(-5)
    t = tl((-2, RM), (3, RM))
    assert t.takedown_at == T0


def test_moves_and_hosters():
    t = tl(
        (1, ON, 1),
        (2, ON, 2),
        (3, RM, None),
        (5, RM, 3),
        (200, ON, 2),
        (201, ON, 1),
        (202, UN, None),
    )
    assert t.moves == 2  # 1 -> 2, then 2 -> 1 (the removal at 3 is not online)
    assert t.first_hoster_id == 1 and t.hoster_id == 1
    assert t.reappearances == 1


def test_asn_is_the_latest_known():
    o = [
        Observation(h(1), ON, "hash_match", 4, 64500),
        Observation(h(2), UN, "timeout", None, None),
    ]
    t = build(T0, o, CFG)
    assert t.asn == 64500 and t.hoster_id == 4


def test_input_order_does_not_matter():
    items = obs((1, ON), (2, RM), (3, RM))
    assert build(T0, list(reversed(items)), CFG) == build(T0, items, CFG)


# --- invariants -----------------------------------------------------------------------------

OUTCOMES = st.sampled_from([ON, RM, DNS, UN, BL])


def observations(outcomes=OUTCOMES, max_minutes=20 * 24 * 60):
    item = st.tuples(st.integers(-24 * 60, max_minutes), outcomes, st.sampled_from([None, 1, 2]))
    return st.lists(item, max_size=30).map(
        lambda xs: [
            Observation(T0 + timedelta(minutes=m), o, str(o), hid)
            for m, o, hid in sorted(xs, key=lambda x: x[0])
        ]
    )


def prefixes(items):
    return [build(T0, items[:i], CFG) for i in range(len(items) + 1)]


@settings(max_examples=300)
@given(observations())
def test_takedown_never_precedes_the_notice(items):
    t = build(T0, items, CFG)
    assert t.takedown_at is None or t.takedown_at >= T0
    assert t.first_down_at is None or t.first_down_at >= T0
    assert all(down >= T0 for _, down in t.takedowns)


@settings(max_examples=300)
@given(observations())
def test_down_state_means_a_takedown_and_nothing_online_after_it(items):
    t = build(T0, items, CFG)
    if t.state is State.DOWN:
        assert t.takedown_at is not None and t.first_down_at == t.takedown_at
        assert t.last_outcome is not ON
        assert all(o.checked_at <= t.takedown_at for o in items if o.outcome is ON)
        assert t.confirmed_at is not None
        assert t.confirmed_at >= t.takedown_at or t.takedown_at == T0  # clamped
    else:
        assert t.takedown_at is None
    if t.last_online_at and t.first_down_at:
        assert t.last_online_at <= t.first_down_at
    assert t.checks_count == len(items)
    assert (t.state is State.UNCHECKED) == (not items)


@settings(max_examples=200)
@given(observations())
def test_reappearance_needs_a_prior_confirmed_takedown(items):
    steps = prefixes(items)
    for before, after, o in zip(steps, steps[1:], items, strict=False):
        came_back = before.state is State.DOWN and o.outcome is ON
        assert after.reappearances == before.reappearances + came_back
        assert len(after.takedowns) == after.reappearances
        if before.state is State.DOWN and o.outcome is not ON:
            # a confirmed takedown is stable as checks are appended
            assert after.state is State.DOWN and after.takedown_at == before.takedown_at


@settings(max_examples=200)
@given(observations(outcomes=st.sampled_from([ON, UN, BL])))
def test_flapping_5xx_alone_never_confirms_before_unreachable_after(items):
    t = build(T0, items, CFG)
    if t.takedown_at is not None:
        last_on = max((i for i, o in enumerate(items) if o.outcome is ON), default=-1)
        first_un = next(o.checked_at for o in items[last_on + 1 :] if o.outcome is UN)
        assert t.confirmed_at - first_un >= CFG.unreachable_after
    window = [o for o in items if o.checked_at < T0 + CFG.unreachable_after - timedelta(hours=1)]
    short = build(T0, [o for o in window if o.checked_at >= T0], CFG)
    assert short.takedown_at is None and short.state is not State.DOWN


@settings(max_examples=200)
@given(observations(), st.integers(1, 1000))
def test_online_after_a_confirmed_takedown_is_a_reappearance(items, later_minutes):
    t = build(T0, items, CFG)
    last = items[-1].checked_at if items else T0
    again = build(T0, [*items, Observation(last + timedelta(minutes=later_minutes), ON, "m")], CFG)
    assert again.state is State.ONLINE and again.takedown_at is None
    if t.state is State.DOWN:
        assert again.reappearances == t.reappearances + 1
        assert again.takedowns[-1] == (t.last_online_at, t.takedown_at)
    else:
        assert again.reappearances == t.reappearances


@settings(max_examples=200)
@given(observations())
def test_enough_down_checks_always_confirm(items):
    t = build(T0, items, CFG)
    last_on = max((i for i, o in enumerate(items) if o.outcome is ON), default=-1)
    downs = [o.checked_at for o in items[last_on + 1 :] if o.outcome in DOWN]
    if len(downs) >= CFG.confirm_checks and downs[-1] - downs[0] >= CFG.confirm_span:
        assert t.state is State.DOWN and t.takedown_at is not None
        assert t.takedown_at <= max(downs[0], T0)
