"""Attribution of a check served through a CDN edge: the origin's hoster, or "X (origin unknown)".

The ASN stage (monitor.attribution.asn.resolve_pending) asks `EdgeAttribution.decide` for every
check it
attributes. The edge is the CDN registry's name for the check's IP (a CDN prefix or CDN-only
ASN: monitor.attribution.edge.edge_from_asn), else the CDN the response headers named (stored by the
recheck spider). A check through an edge is attributed:

1. to the origin's hoster when the hotline's import named it (`origin_hoster`) or gave the
   origin's IP (`origin_ip`, attributed like any IP through the hoster registry);
2. else to the group "X (origin unknown)": a `hosters` row with `cdn = 'X'` and the CDN's abuse
   e-mail, never ranked as a hoster (reports) and told to forward alerts to the origin.

Headers can be forged by whoever runs the server: a header-only edge (the IP is not a CDN's)
never moves a check away from a curated hoster whose network holds the IP; it is still stored
in `checks.edge`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlite_utils import Database

from monitor.attribution.cdn import CdnRegistry, origin_unknown
from monitor.attribution.edge import edge_from_asn
from monitor.attribution.hosters import HosterRef, Registry
from monitor.attribution.records import AsnInfo
from monitor.core import clock


@dataclass(frozen=True)
class Decision:
    hoster: HosterRef | None
    edge: str | None


class EdgeAttribution:
    def __init__(self, db: Database, hosters: Registry) -> None:
        self.db = db
        self.hosters = hosters
        self.cdns = CdnRegistry.load(db)
        self._groups: dict[str, HosterRef] = {}
        self._refs = {ref.id: ref for ref in hosters.by_name.values()}

    def decide(
        self, ip: str, info: AsnInfo, header_edge: str | None, origin: HosterRef | None = None
    ) -> Decision:
        asn_edge = edge_from_asn(info.asn if info.announced else None, ip, self.cdns)
        edge = asn_edge or header_edge
        if edge is None:
            return Decision(self.hosters.attribute(ip, info), None)
        if asn_edge is None:
            curated = self.curated(ip, info)
            if curated is not None:  # forged or the hoster's own proxy: IP decides
                return Decision(curated, edge)
        return Decision(origin or self.group(edge), edge)

    def curated(self, ip: str, info: AsnInfo) -> HosterRef | None:
        """The curated hoster whose prefix or ASN holds `ip` (never an unmapped fallback)."""

        try:
            found = self.hosters.by_prefix.match(ipaddress.ip_address(ip))
        except ValueError:
            found = None
        if found is not None and not found[1].unmapped:
            return found[1]
        ref = self.hosters.by_asn.get(info.asn) if info.asn is not None else None
        return ref if ref is not None and not ref.unmapped else None

    def origin_of(
        self, hoster_id: int | None, origin_ip: str | None, origin_info: AsnInfo | None
    ) -> HosterRef | None:
        """The report's origin hoster: named at import, else attributed from its origin IP."""
        if hoster_id is not None:
            ref = self._refs.get(hoster_id)
            if ref is not None:
                return ref
        if origin_ip and origin_info is not None:
            decided = self.decide(origin_ip, origin_info, None)
            return None if decided.edge else decided.hoster  # an "origin" on a CDN: unknown
        return None

    def group(self, cdn: str) -> HosterRef:
        """The "CDN (origin unknown)" hosters row of `cdn`, created on first use."""
        ref = self._groups.get(cdn)
        if ref is not None:
            return ref
        name = origin_unknown(cdn)
        email = self.cdns.emails.get(cdn)
        row = self.db.execute("SELECT id FROM hosters WHERE name = ?", [name]).fetchone()
        if row is None:
            hoster_id = int(
                str(
                    self.db.table("hosters")
                    .insert(
                        {
                            "name": name,
                            "cdn": cdn,
                            "abuse_email": email,
                            "unmapped": 0,
                            "created_at": clock.now_iso(),
                        }
                    )
                    .last_pk
                )
            )
        else:
            hoster_id = row[0]
            self.db.execute(
                "UPDATE hosters SET cdn = ?, abuse_email = COALESCE(?, abuse_email) WHERE id = ?",
                [cdn, email, hoster_id],
            )
        ref = HosterRef(hoster_id, name, False)
        self._groups[cdn] = ref
        return ref
