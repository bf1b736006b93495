"""Re-upload search: match hashes of seen images against every report baseline and hash list.

`load_index(db, config)` builds one `hashes.match.Matcher` per crawl from the store: every
report baseline (`report_hashes`) as ref ("report", id) in list "reports", every `known_hashes`
entry as ref ("known", id) under its list's name (allowlists flagged, so a known-benign image
never matches). A hash list is read per algorithm as one string (`Matcher.add_packed`).

`ReuploadIndex.targets()` turns confirmed matches (exact or strong) of one image into what it
is a re-upload of, after the rules that keep rechecks out:
- a match on a tracked re-upload (a reports row of kind 'reupload') counts as a match on what
  that re-upload is a copy of (its own report or list entry);
- an image that is the material of a report at its own URL, or on its reported page, is that
  report's recheck (or, after its takedown, its reappearance: the recheck writer's business),
  never a re-upload; nor is anything at a reported URL or page whose report has no baseline yet.
  The report a recheck fetched the page for (`report_id`) counts as reported there even when
  the page was reached through a redirect.

dHash: carried on a SeenImage like pHash (usable images only) and handed to the Matcher, which
treats a dHash hit as pHash: a candidate unless the entry's PDQ agrees (hashes.match), so it
never confirms a match on its own. It is also one of the hash values an alert gives a hoster.

`Recorder.observe_many()` is the adapter the pipeline calls per page (a batch of seen images:
one index search), `observe()` for one image: match, attribute the serving IP to ASN and
hoster (cached per IP for the crawl), record through the alert outbox.
Nothing here sees content: only hashes, URLs and addresses.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from hashes.compute import MediaHashes
from hashes.formats import ALGORITHMS, HashFormatError
from hashes.match import Matcher
from monitor import urls
from monitor.config import Config
from monitor.match_worker import MatchWorkerFailed

REPORTS = "reports"
log = logging.getLogger(__name__)
Target = tuple[str, int]  # ("report", report_id) or ("known", known_hash_id)


@dataclass(frozen=True)
class Found:
    """One confirmed re-upload of one image: what it copies and how it was matched."""
    target: Target
    algorithm: str          # as stored in reuploads.algorithm (see record())
    match_algorithm: str    # as the Matcher said (e.g. "phash+pdq")
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
    matcher: Matcher | None                 # None: it lives in a match process (match_worker)
    with_baseline: set[int] = field(default_factory=set)      # reports that have hashes
    origin_of: dict[int, Target] = field(default_factory=dict)  # tracked re-upload -> original
    entries: int = 0

    def targets(self, db: Database, matches: list[Any], *, url: str, page_url: str | None,
                report_id: int | None = None) -> list[Found]:
        """What the image at `url` (seen on `page_url`, while rechecking `report_id` if given)
        is a re-upload of, from its confirmed matches (`Matcher.match_many`)."""
        if not matches:
            return []
        found: dict[Target, Found] = {}
        direct: set[int] = set()
        for m in matches:                       # best first: the first per target wins
            target = _target(m.ref)
            if target[0] == "report":
                direct.add(target[1])
                target = self.origin_of.get(target[1], target)
            if target not in found:
                found[target] = Found(target, stored_algorithm(m.algorithm), m.algorithm,
                                      int(m.distance), m.strength, m.list_name, m.label)
        here = _reports_at(db, [u for u in (url, page_url) if u], report_id)
        for rid, kind in here.items():
            if kind != "report":
                continue
            if rid in direct or ("report", rid) in found:
                return []                       # its own material: a recheck, not a re-upload
            if rid not in self.with_baseline:
                return []                       # cannot tell yet: the recheck sets a baseline
        return list(found.values())


def _target(ref: Hashable) -> Target:
    kind, ident = ref  # type: ignore[misc]
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


def _reports_at(db: Database, values: list[str], report_id: int | None = None
                ) -> dict[int, str]:
    """Reports (id -> kind) at these URLs, plus `report_id` (the page's rechecked report)."""
    keys = _keys(values)
    if not keys and report_id is None:
        return {}
    marks = ",".join("?" * len(keys))
    return {rid: kind for rid, kind in db.execute(
        f"SELECT id, kind FROM reports WHERE url_key IN ({marks}) OR id = ?",
        [*keys, report_id])}


def load_index(db: Database, config: Config) -> ReuploadIndex:
    """The Matcher over every report baseline and every hash list in the store."""
    matcher = Matcher(phash_threshold=config.hashes.phash_threshold,
                      pdq_threshold=config.hashes.pdq_threshold)
    index = ReuploadIndex(matcher)
    conn = db.conn
    with_baseline = index.with_baseline

    def report_rows() -> Iterator[tuple[Any, ...]]:
        for rid, algorithm, value in conn.execute(
                "SELECT report_id, algorithm, hash FROM report_hashes"):
            with_baseline.add(rid)
            yield (("report", rid), algorithm, value)

    index.entries += matcher.add_many(report_rows(), list_name=REPORTS, skip_invalid=True)
    for rid, of_report, of_known in conn.execute(
            "SELECT r.id, u.of_report_id, u.of_known_hash_id FROM reports r "
            "JOIN reuploads u ON u.id = r.of_reupload_id WHERE r.kind = 'reupload'"):
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
    labels = dict(conn.execute(
        "SELECT id, label FROM known_hashes INDEXED BY known_hashes_labelled "
        "WHERE list_id = ? AND label IS NOT NULL", [list_id]).fetchall())
    count = 0
    packed: list[str] = []
    for algorithm in ALGORITHMS:
        hexes, ids = conn.execute(
            "SELECT group_concat(hash, ''), group_concat(id) FROM known_hashes "
            "WHERE list_id = ? AND algorithm = ?", [list_id, algorithm]).fetchone()
        if not ids:
            continue
        numbers = [int(i) for i in ids.split(",")]
        try:
            count += matcher.add_packed(
                algorithm, hexes, [("known", i) for i in numbers],
                [labels.get(i) for i in numbers] if labels else None,
                list_name=name, allowlist=allowlist)
            packed.append(algorithm)
        except HashFormatError:
            pass                                # row by row, below
    sql = "SELECT id, algorithm, hash, label FROM known_hashes WHERE list_id = ?"
    if packed:
        sql += f" AND algorithm NOT IN ({','.join('?' * len(packed))})"
    rows = ((("known", kid), algorithm, value, label)
            for kid, algorithm, value, label in conn.execute(sql, [list_id, *packed]))
    return count + matcher.add_many(rows, list_name=name, allowlist=allowlist,
                                    skip_invalid=True)


def media_hashes(seen: Any) -> MediaHashes:
    """MediaHashes back from a SeenImage (spiders.items): perceptual hashes are only present
    on a SeenImage when the image was usable for matching (see spiders.pipelines.reuploads)."""
    perceptual = bool(seen.pdq or seen.phash)
    return MediaHashes(
        ok=perceptual, error=None, format=None, width=0, height=0, phash=seen.phash,
        dhash=getattr(seen, "dhash", None), pdq=seen.pdq, pdq_quality=seen.pdq_quality,
        sha256=seen.sha256, sha1=seen.sha1, md5=seen.md5, phash_mirror=seen.phash_mirror,
        pdq_dihedral=tuple(seen.pdq_dihedral), usable=perceptual)


def alert_hashes(seen: Any) -> dict[str, str]:
    """The hash values a hoster needs to find the file (no content, nothing else)."""
    values = {"sha256": seen.sha256, "md5": seen.md5, "sha1": seen.sha1}
    if seen.pdq:
        values["pdq"] = seen.pdq
    if seen.phash:
        values["phash"] = seen.phash
    if getattr(seen, "dhash", None):
        values["dhash"] = seen.dhash
    return values


def record(db: Database, **kwargs: Any) -> Any:
    """The outbox call (one line to switch): writes the reuploads row, its tracked report and
    the pending alert(s) in one transaction."""
    from monitor.alerts import record_reupload
    return record_reupload(db, **kwargs)


@dataclass
class Observed:
    found: int = 0
    recorded: int = 0       # reuploads rows written for the first time
    seen_again: int = 0     # existing rows whose last_seen_at moved
    alerts: int = 0
    skipped: int = 0        # the outbox refused (allowlisted list entry)


class Recorder:
    """Per crawl: the index (built on first use; in `worker`, a monitor.match_worker
    MatchWorker, when given), the hoster registry and an IP cache."""

    def __init__(self, db: Database, config: Config, *, backend: Any = None,
                 worker: Any = None) -> None:
        self.db = db
        self.config = config
        self.backend = backend
        self.worker = worker
        self.worker_failed: str | None = None   # why matching moved back into this process
        self._index: ReuploadIndex | None = None
        self._registry: Any = None
        self._ips: dict[str, tuple[int | None, int | None]] = {}

    @property
    def index(self) -> ReuploadIndex:
        """The index in this process (built on first use)."""
        if self._index is None:
            self._index = load_index(self.db, self.config)
        return self._index

    @property
    def entries(self) -> int | None:
        """Entries in the index, once it is built (here or in the worker)."""
        if self.worker is not None:
            return self.worker.entries
        return self._index.entries if self._index is not None else None

    async def _match(self, hs: list[MediaHashes]) -> tuple[ReuploadIndex, list[list[Any]]]:
        worker = self.worker
        if worker is not None:
            try:
                return await worker.index(), await worker.match_many(hs)
            except MatchWorkerFailed as exc:    # no image lost: match here from now on
                worker.close()
                if self.worker is worker:       # (other pages' batches may fail with it)
                    log.warning("re-upload matching continues in the crawl process: %s", exc)
                    self.worker, self.worker_failed = None, str(exc)
        index = self.index
        assert index.matcher is not None
        return index, index.matcher.match_many(hs)

    async def attribute(self, ip: str | None) -> tuple[int | None, int | None]:
        """(asn, hoster_id) of the IP that served the image, looked up once per crawl."""
        if not ip:
            return (None, None)
        if ip not in self._ips:
            from monitor import asn
            from monitor.hosters import Registry
            try:
                if self.backend is None:
                    self.backend = asn.backend_for(self.config.asn)
                infos = await asn.lookup([ip], self.db, self.config.asn, backend=self.backend)
            except Exception:  # noqa: BLE001 - attribution failing must not lose the find
                infos = {}
            info = infos.get(ip)
            if self._registry is None:
                self._registry = Registry.load(self.db)
            hoster = self._registry.attribute(ip, info)
            self._ips[ip] = (info.asn if info is not None and info.announced else None,
                             hoster.id if hoster is not None else None)
        return self._ips[ip]

    async def observe(self, seen: Any) -> Observed:
        """Match one SeenImage and record what it is a re-upload of."""
        return await self.observe_many([seen])

    async def observe_many(self, seen: list[Any]) -> Observed:
        """Match a batch of SeenImages (one index search) and record what each is a re-upload
        of; the counts are summed over the batch."""
        out = Observed()
        if not seen:
            return out
        index, batch = await self._match([media_hashes(s) for s in seen])
        for image, matches in zip(seen, batch, strict=True):
            if not matches:
                continue
            found = index.targets(self.db, matches, url=image.url, page_url=image.page_url,
                                    report_id=getattr(image, "report_id", None))
            if found:
                await self._record(image, found, out)
        return out

    async def _record(self, seen: Any, found: list[Found], out: Observed) -> None:
        asn_, hoster_id = await self.attribute(seen.ip)
        values = alert_hashes(seen)
        for f in found:
            out.found += 1
            result = record(self.db, url=seen.url, page_url=seen.page_url,
                            of_report_id=f.of_report_id, of_known_hash_id=f.of_known_hash_id,
                            algorithm=f.algorithm, distance=f.distance, ip=seen.ip, asn=asn_,
                            hoster_id=hoster_id, seen_at=seen.seen_at, hashes=values,
                            config=self.config)
            if getattr(result, "skipped", None):
                out.skipped += 1
            elif getattr(result, "new", False):
                out.recorded += 1
            else:
                out.seen_again += 1
            out.alerts += len(getattr(result, "alert_ids", ()) or ())
