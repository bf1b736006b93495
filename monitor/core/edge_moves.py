"""Moves between a CDN's edge and the origin in a report's checks, as timeline events (pure).

A check that got an address was answered either by a CDN edge (`checks.edge` set: the CDN
registry or the response's own headers named one) or by the server itself, the origin. A *move*
is a change of side between consecutive such checks, in time order: `to = "edge"` when the
material went behind a CDN (or a CDN was put in front of it), `to = "origin"` when a check reached
the server directly again. Checks without an address (DNS gone, unreachable before connecting)
are on no side and neither make nor break a move. `status --format json` lists them per report
under `moves_edge` (monitor.store.queries).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

EDGE: Literal["edge"] = "edge"
ORIGIN: Literal["origin"] = "origin"


@dataclass(frozen=True, slots=True)
class EdgeMove:
    at: str  # checked_at of the first check on the new side
    to: Literal["edge", "origin"]
    edge: str | None  # the CDN of the edge side (moved to or from)

    def as_dict(self) -> dict[str, str | None]:
        return {"at": self.at, "to": self.to, "edge": self.edge}


def edge_moves(checks: Iterable[tuple[str, str | None, str | None]]) -> tuple[EdgeMove, ...]:
    """Moves in `checks`: (checked_at, ip, edge) in time order (checked_at, then id)."""
    moves: list[EdgeMove] = []
    side: str | None = None
    last_edge: str | None = None
    for at, ip, edge in checks:
        if not ip:
            continue
        now = EDGE if edge else ORIGIN
        if side is not None and now != side:
            moves.append(EdgeMove(at, now, edge if now == EDGE else last_edge))
        side = now
        if edge:
            last_edge = edge
    return tuple(moves)
