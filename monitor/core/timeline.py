"""Timeline: what a report's ordered checks say about its takedown (pure).

`build(noticed_at, observations, cfg)` walks the checks once, in time order, and returns a frozen
`Timeline`: the current state, last online, first down, the confirmed takedown, reappearances,
moves between hosters. The rules are DESIGN.md's glossary with `[takedown]` config:

- A *stretch* is a maximal run of non-`online` checks. Only an `online` check ends a stretch.
- **Down rule**: the stretch confirms a takedown once it holds `confirm_checks` down checks
  (`removed`/`dns_gone`) whose first and latest are at least `confirm_span` apart. The takedown
  is the first down check of the stretch.
- **Unreachable rule**: failing checks (`unreachable` or down) confirm a takedown once there are
  `confirm_checks` of them spanning at least `unreachable_after` (48 h). The takedown is then the
  first failing check of the stretch: the material has not been served since.
- `blocked` checks (401/403/429) are ambiguous: they never count as down or failing, and they do
  not break a stretch either (a WAF answering 403 now and then must not reset the clock).
- `unreachable` checks between down checks are neutral for the down rule (neither counted nor
  breaking): a 503 says nothing about whether the 404 before it was honest. They do count as
  failures for the unreachable rule.
- Whichever rule is met first, in time order, fixes the takedown; later checks of the same
  stretch never move it (a confirmed takedown is stable as checks are appended).
- An `online` check after a confirmed takedown is a **reappearance**: the takedown is kept in
  `takedowns` as a past `(last_online_at, takedown_at)` pair and the report starts afresh.
  An `online` check ending an unconfirmed stretch is flapping: nothing is counted.
- Checks before `noticed_at` (a check at report time, before the hoster was notified) are kept
  as evidence (they count, they can be online and they can start a stretch), but every takedown
  time is clamped to `noticed_at`: removal before the notice is a takedown time of zero, and
  `(last_online_at, first_down_at]` still contains the true removal.
- **State**: `unchecked` (no checks), `online` (the latest check is online), `down` (a confirmed
  takedown, not online since), `unconfirmed` (anything else: down checks short of the rule, or
  only unreachable/blocked since the last online).
- **Moves**: changes of hoster between consecutive attributed `online` checks (across a
  takedown too: material reappearing at another hoster has moved).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from monitor.core.classify import DOWN, Outcome
from monitor.core.config import TakedownConfig

DEFAULT = TakedownConfig()


class State(StrEnum):
    UNCHECKED = "unchecked"
    ONLINE = "online"
    DOWN = "down"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class Observation:
    """One recorded check of a report, as the timeline needs it."""

    checked_at: datetime
    outcome: Outcome
    reason: str
    hoster_id: int | None = None
    asn: int | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    state: State = State.UNCHECKED
    checks_count: int = 0
    last_outcome: Outcome | None = None
    last_checked_at: datetime | None = None
    last_online_at: datetime | None = None  # latest online check (so: before any takedown)
    first_down_at: datetime | None = None  # first down check since the last online
    # (= takedown_at once confirmed); clamped
    takedown_at: datetime | None = None  # confirmed takedown of the current stretch
    confirmed_at: datetime | None = None  # the check that met the rule
    reappearances: int = 0
    takedowns: tuple[tuple[datetime | None, datetime], ...] = ()  # past, ended by reappearance
    moves: int = 0
    first_hoster_id: int | None = None  # first attributed check: the notified hoster
    hoster_id: int | None = None  # latest attributed check
    asn: int | None = None  # latest check with an ASN


class _Stretch:
    """The running non-online stretch since the last online check."""

    __slots__ = ("seen", "first_down", "downs", "first_fail", "fails", "takedown", "confirmed")

    def __init__(self) -> None:
        self.seen = False
        self.first_down: datetime | None = None
        self.downs = 0
        self.first_fail: datetime | None = None
        self.fails = 0
        self.takedown: datetime | None = None
        self.confirmed: datetime | None = None

    def add(self, when: datetime, outcome: Outcome, cfg: TakedownConfig) -> None:
        self.seen = True
        down = outcome in DOWN
        if down:
            self.downs += 1
            if self.first_down is None:
                self.first_down = when
        if down or outcome is Outcome.UNREACHABLE:
            self.fails += 1
            if self.first_fail is None:
                self.first_fail = when
        if self.takedown is not None:
            return
        need = max(1, cfg.confirm_checks)
        if (
            down
            and self.first_down is not None
            and self.downs >= need
            and when - self.first_down >= cfg.confirm_span
        ):
            self.takedown, self.confirmed = self.first_down, when
        elif (
            self.first_fail is not None
            and self.fails >= need
            and outcome is not Outcome.BLOCKED
            and when - self.first_fail >= max(cfg.unreachable_after, cfg.confirm_span)
        ):
            self.takedown, self.confirmed = self.first_fail, when


def _clamp(when: datetime | None, floor: datetime) -> datetime | None:
    return None if when is None else max(when, floor)


def build(
    noticed_at: datetime, observations: Iterable[Observation], cfg: TakedownConfig = DEFAULT
) -> Timeline:
    """The timeline of one report from its checks (sorted here by checked_at, stably)."""
    obs = sorted(observations, key=lambda o: o.checked_at)
    if not obs:
        return Timeline()
    stretch = _Stretch()
    last_online: datetime | None = None
    reappearances, moves = 0, 0
    takedowns: list[tuple[datetime | None, datetime]] = []
    online_hoster: int | None = None
    first_hoster: int | None = None
    hoster: int | None = None
    asn: int | None = None
    for o in obs:
        if o.hoster_id is not None:
            hoster = o.hoster_id
            if first_hoster is None:
                first_hoster = o.hoster_id
        if o.asn is not None:
            asn = o.asn
        outcome = o.outcome if type(o.outcome) is Outcome else Outcome(o.outcome)
        if outcome is not Outcome.ONLINE:
            stretch.add(o.checked_at, outcome, cfg)
            continue
        if stretch.takedown is not None:
            reappearances += 1
            takedowns.append((last_online, max(stretch.takedown, noticed_at)))
        if o.hoster_id is not None:
            if online_hoster is not None and o.hoster_id != online_hoster:
                moves += 1
            online_hoster = o.hoster_id
        last_online = o.checked_at
        stretch = _Stretch()
    first_down: datetime | None
    if stretch.takedown is not None:
        state = State.DOWN
        first_down = stretch.takedown
    else:
        state = State.UNCONFIRMED if stretch.seen else State.ONLINE
        first_down = stretch.first_down
    last = obs[-1]
    return Timeline(
        state=state,
        checks_count=len(obs),
        last_outcome=Outcome(last.outcome),
        last_checked_at=last.checked_at,
        last_online_at=last_online,
        first_down_at=_clamp(first_down, noticed_at),
        takedown_at=_clamp(stretch.takedown, noticed_at),
        confirmed_at=stretch.confirmed,
        reappearances=reappearances,
        takedowns=tuple(takedowns),
        moves=moves,
        first_hoster_id=first_hoster,
        hoster_id=hoster,
        asn=asn,
    )
