"""The re-upload index: what seen images are matched against, and what a match is a copy of.

`load_index(db, config)` builds one `hashes.match.Matcher` per crawl from the store: every
report baseline (`report_hashes`) as ref ("report", id) in list "reports", every `known_hashes`
entry as ref ("known", id) under its list's name (allowlists flagged, so a known-benign image
never matches). A hash list is read per algorithm as one string (`Matcher.add_packed`).
Video signatures (`vpdq` rows) are no image hashes: they stay out of this Matcher (their
reports still count as having a baseline); monitor.reuploads.videos loads them.
The Matcher lives in the crawl process or in a match process (monitor.reuploads.match_worker); the
rest
of a `ReuploadIndex` (which reports have a baseline, what a tracked re-upload copies) is small
and always with the crawl.

`ReuploadIndex.targets()` turns confirmed matches (exact or strong) of one image into what it
is a re-upload of, after the rules that keep rechecks out:
- a match on a tracked re-upload (a reports row of kind 'reupload') counts as a match on what
  that re-upload is a copy of (its own report or list entry);
- an image that is the material of a report at its own URL, or on its reported page, is that
  report's recheck (or, after its takedown, its reappearance: the recheck writer's business),
  never a re-upload; nor is anything at a reported URL or page whose report has no baseline yet.
  The report a recheck fetched the page for (`report_id`) counts as reported there even when
  the page was reached through a redirect.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from sqlite_utils import Database

from hashes.formats import ALGORITHMS, VIDEO_ALGORITHMS, HashFormatError
from hashes.match import Matcher
from monitor.core import urls
from monitor.core.config import Config

REPORTS = "reports"
Target = tuple[str, int]  # ("report", report_id) or ("known", known_hash_id)


@dataclass(frozen=True)
class Found:
    """One confirmed re-upload of one image: what it copies and how it was matched."""

    target: Target
    algorithm: str  # as stored in reuploads.algorithm (see record())
    match_algorithm: str  # as the Matcher said (e.g. "phash+pdq")
    distance: int
    strength: str
    list_name: str
    label: str | None

    @property
    def of_report_id(self) -> int | None:
        return self.target[1] if self.target[0] == "report" else None

    @property
    def of_known_hash_id(self) -> int | None:
        return self.target[1] if self.target[0] == "known" else None


@dataclass
class ReuploadIndex:
    matcher: Matcher | None  # None: it lives in a match process (match_worker)
    with_baseline: set[int] = field(default_factory=set)  # reports that have hashes
    origin_of: dict[int, Target] = field(default_factory=dict)  # tracked re-upload -> original
    entries: int = 0

    def targets(
        self,
        db: Database,
        matches: list[Any],
        *,
        url: str,
        page_url: str | None,
        report_id: int | None = None,
    ) -> list[Found]:
        """What the image at `url` (seen on `page_url`, while rechecking `report_id` if given)
        is a re-upload of, from its confirmed matches (`Matcher.match_many`)."""
        if not matches:
            return []
        found: dict[Target, Found] = {}
        direct: set[int] = set()
        for m in matches:  # best first: the first per target wins
            target = _target(m.ref)
            if target[0] == "report":
                direct.add(target[1])
                target = self.origin_of.get(target[1], target)
            if target not in found:
                found[target] = Found(
                    target,
                    stored_algorithm(m.algorithm),
                    m.algorithm,
                    int(m.distance),
                    m.strength,
                    m.list_name,
                    m.label,
                )
        here = _reports_at(db, [u for u in (url, page_url) if u], report_id)
        for rid, kind in here.items():
            if kind != "report":
                continue
            if rid in direct or ("report", rid) in found:
                return []  # its own material: a recheck, not a re-upload
            if rid not in self.with_baseline:
                return []  # cannot tell yet: the recheck sets a baseline
        return list(found.values())


def _target(ref: Hashable) -> Target:
    kind, ident = cast(tuple[str, int], ref)
    return (str(kind), int(ident))


def stored_algorithm(matched: str) -> str:
    """reuploads.algorithm holds an algorithm name: "phash+pdq" is confirmed by PDQ but found
    by pHash, so it is stored as the finding hash ("phash")."""
    return matched.split("+")[0]


def _keys(values: Iterable[str]) -> list[str]:
    out = []
    for value in values:
        try:
            out.append(urls.key(urls.clean(value)))
        except urls.UrlError:
            continue
    return out


def _reports_at(db: Database, values: list[str], report_id: int | None = None) -> dict[int, str]:
    """Reports (id -> kind) at these URLs, plus `report_id` (the page's rechecked report)."""
    keys = _keys(values)
    if not keys and report_id is None:
        return {}
    marks = ",".join("?" * len(keys))
    return {
        rid: kind
        for rid, kind in db.execute(
            f"SELECT id, kind FROM reports WHERE url_key IN ({marks}) OR id = ?", [*keys, report_id]
        )
    }


def load_index(db: Database, config: Config) -> ReuploadIndex:
    """The Matcher over every report baseline and every hash list in the store."""
    matcher = Matcher(
        phash_threshold=config.hashes.phash_threshold, pdq_threshold=config.hashes.pdq_threshold
    )
    index = ReuploadIndex(matcher)
    conn = db.conn
    with_baseline = index.with_baseline

    video = ",".join("?" * len(VIDEO_ALGORITHMS))

    def report_rows() -> Iterator[tuple[Any, ...]]:
        for rid, algorithm, value in conn.execute(  # a video signature is a baseline too
            f"SELECT report_id, algorithm, CASE WHEN algorithm IN ({video}) THEN NULL "
            "ELSE hash END FROM report_hashes",
            VIDEO_ALGORITHMS,
        ):
            with_baseline.add(rid)
            if value is not None:
                yield (("report", rid), algorithm, value)

    index.entries += matcher.add_many(report_rows(), list_name=REPORTS, skip_invalid=True)
    for rid, of_report, of_known in conn.execute(
        "SELECT r.id, u.of_report_id, u.of_known_hash_id FROM reports r "
        "JOIN reuploads u ON u.id = r.of_reupload_id WHERE r.kind = 'reupload'"
    ):
        if of_report is not None:
            index.origin_of[rid] = ("report", of_report)
        elif of_known is not None:
            index.origin_of[rid] = ("known", of_known)
    lists = conn.execute("SELECT id, name, allowlist FROM hash_lists ORDER BY id").fetchall()
    for list_id, name, allowlist in lists:
        index.entries += _add_list(conn, matcher, list_id, name, bool(allowlist))
    return index


def _add_list(conn: Any, matcher: Matcher, list_id: int, name: str, allowlist: bool) -> int:
    """One hash list into the Matcher: per algorithm its hashes come as one string
    (group_concat over the covering unique index), so there is no Python work per row for
    perceptual hashes; a 1M-entry list loads in seconds, not tens of them. An algorithm whose
    stored rows do not all parse goes row by row instead (a bad stored row is left out)."""
    labels = dict(
        conn.execute(
            "SELECT id, label FROM known_hashes INDEXED BY known_hashes_labelled "
            "WHERE list_id = ? AND label IS NOT NULL",
            [list_id],
        ).fetchall()
    )
    count = 0
    packed: list[str] = []
    for algorithm in ALGORITHMS:
        hexes, ids = conn.execute(
            "SELECT group_concat(hash, ''), group_concat(id) FROM known_hashes "
            "WHERE list_id = ? AND algorithm = ?",
            [list_id, algorithm],
        ).fetchone()
        if not ids:
            continue
        numbers = [int(i) for i in ids.split(",")]
        try:
            count += matcher.add_packed(
                algorithm,
                hexes,
                [("known", i) for i in numbers],
                [labels.get(i) for i in numbers] if labels else None,
                list_name=name,
                allowlist=allowlist,
            )
            packed.append(algorithm)
        except HashFormatError:
            pass  # row by row, below
    skip = [*packed, *VIDEO_ALGORITHMS]  # video signatures: monitor.reuploads.video_index
    sql = (
        "SELECT id, algorithm, hash, label FROM known_hashes WHERE list_id = ? "
        f"AND algorithm NOT IN ({','.join('?' * len(skip))})"
    )
    rows = (
        (("known", kid), algorithm, value, label)
        for kid, algorithm, value, label in conn.execute(sql, [list_id, *skip])
    )
    return count + matcher.add_many(rows, list_name=name, allowlist=allowlist, skip_invalid=True)
