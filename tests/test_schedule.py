"""Schedule: the default policy of DESIGN.md [schedule], late crawls, and slot invariants."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.core import schedule
from monitor.core.config import ScheduleConfig
from monitor.core.schedule import due_slot, next_check, phased, slots_between
from monitor.core.timeline import State, Timeline

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CFG = ScheduleConfig()
H, D = timedelta(hours=1), timedelta(days=1)
FRESH = Timeline()
ONLINE = Timeline(state=State.ONLINE, checks_count=1)


def down(at: datetime) -> Timeline:
    return Timeline(state=State.DOWN, takedown_at=at, first_down_at=at, checks_count=2)


def walk(
    timeline: Timeline,
    cfg: ScheduleConfig = CFG,
    *,
    steps: int = 100,
    noticed_at: datetime = T0,
    key: int | None = None,
) -> list[datetime]:
    out: list[datetime] = []
    slot = next_check(noticed_at, timeline, cfg, last_due_at=None, key=key)
    while slot is not None and len(out) < steps:
        out.append(slot)
        slot = next_check(noticed_at, timeline, cfg, last_due_at=slot, key=key)
    return out


def test_default_after_notice_then_daily():
    slots = walk(FRESH, steps=17)
    hours = [1, 2, 4, 8, 12, 18, 24, 36, 48, 72, 120, 168, 336, 720, 744, 768, 792]
    assert slots == [T0 + n * H for n in hours]


def test_online_and_unconfirmed_follow_the_same_slots():
    assert walk(ONLINE, steps=20) == walk(FRESH, steps=20)
    assert walk(Timeline(state=State.UNCONFIRMED), steps=20) == walk(FRESH, steps=20)


def test_confirmed_takedown_switches_to_after_takedown_slots_then_done():
    t = down(T0 + 2 * H)
    assert next_check(T0, t, CFG, last_due_at=T0 + 2 * H) == T0 + 2 * H + 7 * D
    assert walk(t) == [T0 + 2 * H + n * D for n in (7, 30, 90)]
    assert next_check(T0, t, CFG, last_due_at=T0 + 2 * H + 90 * D) is None
    assert due_slot(T0, t, CFG, last_due_at=T0 + 2 * H + 90 * D, now=T0 + 1000 * D) is None


def test_reappearance_goes_back_to_while_online_at_once():
    back = Timeline(state=State.ONLINE, reappearances=1)
    last = T0 + 2 * H + 7 * D  # the 7d reappearance check found it online
    assert next_check(T0, back, CFG, last_due_at=last) == T0 + 8 * D
    assert walk(back, steps=8)[:8] == [T0 + n * H for n in (1, 2, 4, 8, 12, 18, 24, 36)]
    later = slots_between(T0, back, CFG, after=last, until=T0 + 40 * D)
    assert later == [T0 + n * D for n in range(8, 41)]  # daily, the 14d/30d slots on the grid


def test_late_crawl_collapses_missed_slots_into_the_latest():
    assert due_slot(T0, FRESH, CFG, last_due_at=None, now=T0 + 10 * H) == T0 + 8 * H
    assert due_slot(T0, FRESH, CFG, last_due_at=T0 + 8 * H, now=T0 + 10 * H) is None
    assert due_slot(T0, FRESH, CFG, last_due_at=T0 + 8 * H, now=T0 + 12 * H) == T0 + 12 * H
    assert due_slot(T0, FRESH, CFG, last_due_at=None, now=T0 + 30 * H / 60) is None
    far = T0 + 400 * D + 5 * H
    assert due_slot(T0, ONLINE, CFG, last_due_at=T0 + 30 * D, now=far) == T0 + 400 * D
    t = down(T0 + 2 * H)
    assert due_slot(T0, t, CFG, last_due_at=T0 + 3 * H, now=T0 + 50 * D) == T0 + 2 * H + 30 * D


def test_configurable_policy():
    cfg = ScheduleConfig(after_notice=(2 * H, H), while_online=timedelta(0), after_takedown=())
    assert walk(FRESH, cfg) == [T0 + H, T0 + 2 * H]  # sorted; nothing after
    assert walk(down(T0 + H), cfg) == []
    cfg = ScheduleConfig(after_notice=(), while_online=12 * H)
    assert walk(FRESH, cfg, steps=3) == [T0 + 12 * H, T0 + 24 * H, T0 + 36 * H]


def test_slots_are_whole_seconds_never_before_the_notice():
    noticed = T0 + timedelta(microseconds=250_000)
    cfg = ScheduleConfig(after_notice=(timedelta(0), timedelta(seconds=1.4)))
    slots = walk(FRESH, cfg, steps=3, noticed_at=noticed)
    assert slots[:2] == [T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)]
    assert all(s.microsecond == 0 and s >= noticed for s in slots)


# --- invariants -----------------------------------------------------------------------------

offsets = st.lists(st.integers(0, 90 * 86400).map(lambda s: timedelta(seconds=s)), max_size=8)
configs = st.builds(
    ScheduleConfig,
    after_notice=offsets.map(tuple),
    while_online=st.integers(0, 5 * 86400).map(lambda s: timedelta(seconds=s)),
    after_takedown=offsets.map(tuple),
)
noticed = st.integers(0, 10**7).map(lambda s: T0 + timedelta(seconds=s, microseconds=s % 7))
keys = st.none() | st.integers(1, 10**9)


@st.composite
def timelines(draw, at):
    state = draw(st.sampled_from(list(State)))
    if state is State.DOWN:
        return down(at + timedelta(seconds=draw(st.integers(0, 60 * 86400))))
    return Timeline(state=state, reappearances=draw(st.integers(0, 2)))


@settings(max_examples=300)
@given(st.data(), configs, noticed, keys)
def test_slots_strictly_increase_never_before_notice_and_end_when_down(data, cfg, at, key):
    t = data.draw(timelines(at))
    with phases():
        slots = walk(t, cfg, steps=60, noticed_at=at, key=key)
    assert all(a < b for a, b in zip(slots, slots[1:], strict=False))
    assert all(s >= at and s.microsecond == 0 for s in slots)
    if t.state is State.DOWN:
        assert len(slots) <= len(cfg.after_takedown)
        assert all(s >= t.takedown_at for s in slots)
    elif cfg.while_online >= timedelta(seconds=1):
        assert len(slots) == 60  # still online: never done


@settings(max_examples=300)
@given(st.data(), configs, noticed, st.integers(0, 400 * 86400), st.integers(0, 30), keys)
def test_due_slot_is_the_latest_slot_due_and_consistent_with_next_check(
    data, cfg, at, ahead, pick, key
):
    with phases():
        _due_slot_consistent(data, cfg, at, ahead, pick, key)


def _due_slot_consistent(data, cfg, at, ahead, pick, key):
    t = data.draw(timelines(at))
    known = walk(t, cfg, steps=40, noticed_at=at, key=key)
    last = known[pick] if pick < len(known) else None
    now = at + timedelta(seconds=ahead)
    slot = due_slot(at, t, cfg, last_due_at=last, now=now, key=key)
    following = next_check(at, t, cfg, last_due_at=last, key=key)
    if slot is None:
        assert following is None or following > now
    else:
        assert (last is None or slot > last) and slot <= now and following <= slot
        after = next_check(at, t, cfg, last_due_at=slot, key=key)
        assert after is None or after > now  # nothing due is skipped past `now`
        # the collapsed slot is a member of the deterministic slot set
        just_before = slot - timedelta(microseconds=1)
        assert next_check(at, t, cfg, last_due_at=just_before, key=key) == slot


@settings(max_examples=200)
@given(configs, keys)
def test_phases_never_add_merge_or_reorder_checks(cfg, key):
    base = tuple(sorted({timedelta(seconds=round(o.total_seconds())) for o in cfg.after_notice}))
    moved = phased(base, key, 0.5)
    assert len(moved) == len(base)
    assert all(a < b for a, b in zip(moved, moved[1:], strict=False))
    if base:
        assert moved[0] == base[0] and moved[-1] == base[-1]


# --- randomised phases ------------------------------------------------------------------------


@contextmanager
def phases(fraction: float = 0.5):
    """Phases on (they are off by default: monitor.core.schedule.PHASE_FRACTION)."""
    saved = schedule.PHASE_FRACTION
    schedule.PHASE_FRACTION = fraction
    try:
        yield
    finally:
        schedule.PHASE_FRACTION = saved


def test_phases_are_off_by_default():
    assert walk(FRESH, steps=20, key=7) == walk(FRESH, steps=20)


@phases()
def test_phased_schedule_keeps_deadline_checks_and_the_number_of_checks():
    grid = walk(FRESH, steps=40)
    horizon = T0 + 40 * D
    counts = []
    for key in range(1, 301):
        slots = walk(FRESH, steps=40, key=key)
        assert slots == walk(FRESH, steps=40, key=key)  # deterministic per report
        for h in (1, 12, 24, 48, 720):  # deadlines, grid anchor
            assert T0 + h * H in slots
        counts.append(len(slots_between(T0, FRESH, CFG, after=None, until=horizon, key=key)))
        # the same checks, in the same order, each between its grid neighbours
        for i, slot in enumerate(slots):
            assert (
                (grid[i - 1] if i else T0) < slot < (grid[i + 1] if i + 1 < len(grid) else slot + D)
            )
    grid_count = len(slots_between(T0, FRESH, CFG, after=None, until=horizon))
    assert set(counts) == {grid_count}  # never more checks


@phases()
def test_phases_spread_the_checks_over_their_gaps():
    """Across reports, the free checks cover the gaps (what lets the interval estimator
    resolve below one gap): the 18 h check lands anywhere between the 12 h and 24 h checks,
    the 36 h check anywhere between 24 h and 48 h, the 72 h one from 48 h to 96 h (halfway
    to the next moving check, 120 h)."""
    hours = [[(s - T0) / H for s in walk(FRESH, steps=10, key=key)] for key in range(1, 2001)]
    at18 = [h[5] for h in hours]
    at36 = [h[7] for h in hours]
    at72 = [h[9] for h in hours]
    assert 12 < min(at18) < 12.2 and 23.8 < max(at18) < 24
    assert 24 < min(at36) < 24.5 and 47.5 < max(at36) < 48
    assert 48 < min(at72) < 49 and 95 < max(at72) <= 96
    assert len({h[1] for h in hours}) > 1000  # phases differ per report


def test_order_slots_merge_into_every_state():
    """An order's deadline and its follow-ups are slots whatever the timeline: between the
    notice schedule's checks, and after a confirmed takedown whose schedule has ended."""
    from monitor.core.schedule import order_slots

    deadline = T0 + 29 * H + 30 * timedelta(minutes=1)
    extra = order_slots([deadline])
    follow = [
        deadline,
        deadline + timedelta(minutes=1),
        deadline + timedelta(minutes=10),
        deadline + H,
    ]
    got = slots_between(T0, FRESH, CFG, after=T0 + 24 * H, until=T0 + 36 * H, extra=extra)
    assert got == [*follow, T0 + 36 * H]
    assert slots_between(T0, FRESH, CFG, after=T0 + 24 * H, until=T0 + 36 * H) == [T0 + 36 * H]
    finished = ScheduleConfig(after_takedown=())
    gone = down(T0 + 2 * H)
    assert next_check(T0, gone, finished, last_due_at=T0 + 3 * H) is None
    assert walk_extra(gone, finished, extra, after=T0 + 3 * H) == follow
    # a late crawl collapses missed order slots like any other
    assert due_slot(
        T0, gone, finished, last_due_at=T0 + 3 * H, now=deadline + 20 * 60 * S, extra=extra
    ) == deadline + timedelta(minutes=10)
    # two orders, overlapping follow-ups: each slot once
    both = order_slots([deadline, deadline + timedelta(minutes=1)])
    assert len(both) == len(set(both)) == 7 and list(both) == sorted(both)


S = timedelta(seconds=1)


def walk_extra(timeline, cfg, extra, *, after):
    out, slot = [], next_check(T0, timeline, cfg, last_due_at=after, extra=extra)
    while slot is not None:
        out.append(slot)
        slot = next_check(T0, timeline, cfg, last_due_at=slot, extra=extra)
    return out
