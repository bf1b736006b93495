"""The demo's CDN figures: notices attributed to the right party, no CDN ranked, alerts routed.

The world puts some reported items behind its CDN (monitor.sim.scenario.Cdn); the hotline's
import names no origin for them, so the right party of such a notice is the group
"CDN (origin unknown)" and of every other notice its hoster. Read from the store and the
report JSON after the run; pure apart from the queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.attribution.cdn import origin_unknown


@dataclass
class CdnTally:
    cdn: str | None = None
    notices: int = 0  # reported notices of the world (no re-upload rows)
    fronted: int = 0  # of them reached only through the CDN's edge
    right: int = 0  # attributed to the right party (CDN group / hoster)
    wrong: list[tuple[str, str | None, str]] = field(default_factory=list)  # ref, got, want
    cdn_groups: tuple[str, ...] = ()  # report groups marked as CDN groups
    cdn_ranked: int = 0  # CDN groups or CDN names with a hoster rank (must be 0)
    alerts_fronted: int = 0  # alerts about fronted URLs
    alerts_to_cdn: int = 0  # ... written for the CDN's abuse desk
    alerts_to_cdn_sent: int = 0  # ... and delivered
    misrouted: int = 0  # alerts about fronted URLs written for nobody's CDN row

    @property
    def share_right(self) -> float | None:
        return self.right / self.notices if self.notices else None

    @property
    def ok(self) -> bool:
        return (
            self.right == self.notices
            and self.cdn_ranked == 0
            and self.misrouted == 0
            and self.alerts_to_cdn == self.alerts_fronted
        )


def tally(db: Any, world: Any, report_json: dict[str, Any]) -> CdnTally:
    cdn = world.scenario.cdn
    out = CdnTally(cdn=cdn.name if cdn else None)
    got = {
        ref: name
        for ref, name in db.execute(
            "SELECT r.reference, h.name FROM reports r LEFT JOIN hosters h ON "
            "h.id = COALESCE(r.notified_hoster_id, r.hoster_id) WHERE r.kind != 'reupload'"
        )
    }
    fronted_urls = set()
    for item in world.plan.reports():
        if item.reference not in got:
            continue  # not imported (after the run's end)
        want = origin_unknown(item.cdn) if item.cdn else item.hoster
        out.notices += 1
        if item.cdn:
            out.fronted += 1
            fronted_urls.add(world.url(item))
        if got[item.reference] == want:
            out.right += 1
        else:
            out.wrong.append((str(item.reference), got[item.reference], want))
    groups = report_json.get("groups", [])
    out.cdn_groups = tuple(g["hoster"] for g in groups if g.get("cdn"))
    cdn_names = {origin_unknown(cdn.name)} if cdn else set()
    out.cdn_ranked = sum(
        1
        for g in groups
        if g.get("rank") is not None and (g.get("cdn") or g["hoster"] in cdn_names)
    )
    for url, cdn_row, state in db.execute(
        "SELECT json_extract(a.subject, '$.item.url'), h.cdn, a.state FROM alerts a "
        "LEFT JOIN hosters h ON h.id = a.hoster_id"
    ):
        if url not in fronted_urls:
            continue
        out.alerts_fronted += 1
        if cdn and cdn_row == cdn.name:
            out.alerts_to_cdn += 1
            out.alerts_to_cdn_sent += state == "sent"
        else:
            out.misrouted += 1
    return out


def lines(t: CdnTally) -> list[str]:
    """What the demo prints about the CDN."""
    if t.cdn is None:
        return []
    share = f"{t.share_right:.0%}" if t.share_right is not None else "-"
    out = [
        f"CDN {t.cdn}: {t.fronted} of {t.notices} notices reached only through its edge; "
        f"attributed to the right party (CDN group vs origin hoster): {t.right}/{t.notices}"
        f" = {share}; CDN groups ranked as a hoster: {t.cdn_ranked} "
        f"(groups apart: {', '.join(t.cdn_groups) or 'none'})",
        f"CDN alerts: {t.alerts_to_cdn}/{t.alerts_fronted} alerts about CDN-fronted URLs "
        f"went to {t.cdn}'s abuse desk ({t.alerts_to_cdn_sent} delivered), each asking to "
        f"forward to the origin hoster; misrouted: {t.misrouted}",
    ]
    for ref, got, want in t.wrong[:10]:
        out.append(f"[red]misattributed:[/red] {ref}: {got} (should be {want})")
    return out
