"""Compliance with a removal order from a report's checks (pure): every state, the edges exactly
at the deadline, reappearance after it, and blocked/unreachable around it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.core.classify import Outcome
from monitor.core.compliance import GRACE, ComplianceState, judge
from monitor.core.config import TakedownConfig
from monitor.core.timeline import Observation

D = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # the deadline
M = timedelta(minutes=1)
H = timedelta(hours=1)
S = ComplianceState
ON, R, G, U, B = (
    Outcome.ONLINE,
    Outcome.REMOVED,
    Outcome.DNS_GONE,
    Outcome.UNREACHABLE,
    Outcome.BLOCKED,
)


def obs(*checks: tuple[timedelta, Outcome]) -> list[Observation]:
    """Checks at offsets from the deadline."""
    return [Observation(D + at, outcome, "r") for at, outcome in checks]


def state(*checks):
    return judge(D, obs(*checks)).state


def test_removed_before_the_deadline_and_confirmed_is_complied():
    c = judge(D, obs((-20 * H, ON), (-2 * H, R), (0 * H, R), (M, R), (10 * M, R), (H, R)))
    assert c.state is S.COMPLIED and c.first_down_at == D - 2 * H
    assert c.last_online_at == D - 20 * H and c.lateness is None


def test_down_exactly_at_the_deadline_is_in_time_online_exactly_at_it_is_not():
    assert state((-H, ON), (0 * H, R), (H, G)) is S.COMPLIED
    assert state((-H, ON), (0 * H, ON), (M, R), (H, R), (2 * H, R)) is S.LATE
    assert state((-H, ON), (0 * H, ON)) is S.NOT_COMPLIED


def test_grace_for_the_crawl_reaching_the_deadline_slot():
    assert state((-H, ON), (GRACE, R), (H + GRACE, R)) is S.COMPLIED
    c = judge(D, obs((-H, ON), (GRACE + timedelta(seconds=1), R), (2 * H, R)))
    assert c.state is S.UNVERIFIABLE and "either side" in c.reason


def test_down_by_the_deadline_awaits_confirmation():
    # one down check, or two less than confirm_span apart: the +1 h check decides
    assert state((-H, ON), (0 * H, R)) is S.PENDING
    assert state((-H, ON), (0 * H, R), (10 * M, R)) is S.PENDING
    assert state((-H, ON), (0 * H, R), (10 * M, R), (H, R)) is S.COMPLIED
    # unreachable and blocked checks between the down checks are neutral
    assert state((-H, ON), (0 * H, R), (M, U), (10 * M, B), (H, R)) is S.COMPLIED


def test_no_check_at_or_after_the_deadline_is_pending():
    assert state() is S.PENDING
    assert state((-5 * H, ON)) is S.PENDING
    assert state((-5 * H, R), (-3 * H, R)) is S.PENDING  # down, but not seen after it yet


def test_late_with_lateness_and_its_resolution():
    c = judge(D, obs((-H, ON), (0 * H, ON), (M, ON), (10 * M, ON), (H, ON), (5 * H, R), (7 * H, R)))
    assert c.state is S.LATE
    assert c.lateness == 5 * H and c.lateness_low == H  # removal in (1 h, 5 h]
    assert c.lateness_hours == 5.0 and c.lateness_low_hours == 1.0
    # the unreachable rule confirms a takedown after the last online, too (48 h of failures)
    c = judge(D, obs((0 * H, ON), (2 * H, U), (30 * H, U), (51 * H, U)))
    assert c.state is S.LATE and c.lateness == 2 * H


def test_still_online_after_the_deadline_is_not_complied():
    assert state((-H, ON), (0 * H, ON), (H, ON), (24 * H, ON)) is S.NOT_COMPLIED
    assert state((0 * H, ON), (H, B), (2 * H, U)) is S.NOT_COMPLIED


def test_online_after_the_deadline_then_one_down_check_is_pending_not_not_complied():
    """The latest check says removed: "still online" would be false; late once confirmed."""
    c = judge(D, obs((0 * H, ON), (H, R)))
    assert c.state is S.PENDING and c.first_down_at == D + H and "late once" in c.reason
    assert state((0 * H, ON), (H, R), (2 * H, R)) is S.LATE


def test_reappearance_after_the_deadline_is_late_or_not_complied():
    complied = ((-H, ON), (-30 * M, R), (0 * H, R), (H, R))
    assert state(*complied) is S.COMPLIED
    assert state(*complied, (7 * 24 * H, ON)) is S.NOT_COMPLIED
    c = judge(D, obs(*complied, (7 * 24 * H, ON), (8 * 24 * H, R), (9 * 24 * H, R)))
    assert c.state is S.LATE and c.lateness == 8 * 24 * H and c.lateness_low == 7 * 24 * H


def test_blocked_or_unreachable_around_the_deadline_is_unverifiable():
    assert state((-H, ON), (0 * H, B), (M, B), (10 * M, U), (H, B)) is S.UNVERIFIABLE
    assert state((0 * H, U), (H, U)) is S.UNVERIFIABLE  # never seen at all
    # ... until the material is seen online after all: then it was not removed
    assert state((-H, ON), (0 * H, B), (H, B), (24 * H, ON)) is S.NOT_COMPLIED
    # down before the deadline and confirmed there: blocked at the deadline does not undo it
    assert state((-3 * H, R), (-H, R), (0 * H, B), (H, B)) is S.COMPLIED


def test_confirmation_follows_the_takedown_config():
    strict = TakedownConfig(confirm_checks=3, confirm_span=2 * H)
    checks = obs((-H, ON), (0 * H, R), (H, R))
    assert judge(D, checks).state is S.COMPLIED
    assert judge(D, checks, strict).state is S.PENDING
    assert judge(D, obs((-H, ON), (0 * H, R), (H, R), (2 * H, R)), strict).state is S.COMPLIED


@pytest.mark.parametrize("outcome", ["removed", "dns_gone"])
def test_outcomes_as_stored_strings(outcome):
    checks = [
        Observation(D - H, "online", "r"),
        Observation(D, outcome, "r"),  # type: ignore[arg-type]
        Observation(D + H, outcome, "r"),
    ]  # type: ignore[arg-type]
    assert judge(D, reversed(checks)).state is S.COMPLIED  # any order
