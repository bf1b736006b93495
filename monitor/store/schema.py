"""The database schema as versioned migrations (sqlite-utils' `Migrations`).

Each migration is applied once, in order, inside a transaction, and recorded in
`_sqlite_migrations`. Never edit an applied migration: add the next one.

Times are ISO-8601 UTC text with `Z` (they sort lexically). Fetched content never has a column:
only hashes, statuses, addresses and times are stored.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from monitor.store.cdns import seed_defaults
from monitor.store.evidence import append
from monitor.store.summary import backfill_first_takedown

migrations = Migrations("ntd-monitor")

V1 = """
CREATE TABLE hosters (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    country TEXT,
    abuse_email TEXT,
    webhook_url TEXT,
    webhook_secret_env TEXT,
    unmapped INTEGER NOT NULL DEFAULT 0,       -- 1: named after an AS name, not curated
    created_at TEXT NOT NULL
);
CREATE TABLE hoster_networks (
    id INTEGER PRIMARY KEY,
    hoster_id INTEGER NOT NULL REFERENCES hosters(id) ON DELETE CASCADE,
    asn INTEGER,
    prefix TEXT,                               -- CIDR; NULL: the whole ASN
    UNIQUE (hoster_id, asn, prefix)
);
CREATE INDEX hoster_networks_asn ON hoster_networks(asn);

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'report' CHECK (kind IN ('report', 'reupload')),
    url TEXT NOT NULL,
    url_key TEXT NOT NULL UNIQUE,              -- normalised URL for de-duplication
    reference TEXT,
    reported_at TEXT NOT NULL,
    noticed_at TEXT NOT NULL,                  -- the takedown clock starts here
    imported_at TEXT NOT NULL,
    notified_hoster_id INTEGER REFERENCES hosters(id),
    of_reupload_id INTEGER,                    -- kind 'reupload': the reuploads row it tracks
    next_check_at TEXT,                        -- NULL: nothing more to check
    -- The timeline summary (monitor.core.timeline), rewritten by the single writer after
    -- each batch:
    state TEXT NOT NULL DEFAULT 'unchecked',   -- unchecked|online|down|unconfirmed
    checks_count INTEGER NOT NULL DEFAULT 0,
    last_outcome TEXT,
    last_checked_at TEXT,
    last_online_at TEXT,                       -- last 'online' before the takedown (or latest)
    first_down_at TEXT,
    takedown_at TEXT,                          -- confirmed takedown: the first down observation
    reappearances INTEGER NOT NULL DEFAULT 0,
    moves INTEGER NOT NULL DEFAULT 0,          -- changes of serving hoster while online
    hoster_id INTEGER REFERENCES hosters(id),  -- hoster of the latest attributed check
    asn INTEGER
);
CREATE INDEX reports_due ON reports(next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX reports_noticed ON reports(noticed_at);

CREATE TABLE report_hashes (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    hash TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('imported', 'first_check')),
    quality INTEGER,
    created_at TEXT NOT NULL,
    UNIQUE (report_id, algorithm, hash)
);
CREATE INDEX report_hashes_hash ON report_hashes(algorithm, hash);

CREATE TABLE crawls (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'recheck',
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',    -- running|finished|interrupted|failed
    planned INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    stats TEXT                                 -- JSON of monitor/* counters
);

CREATE TABLE checks (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    crawl_id INTEGER REFERENCES crawls(id),
    due_at TEXT NOT NULL,                      -- the schedule slot this check fills
    checked_at TEXT NOT NULL,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('online', 'removed', 'dns_gone', 'unreachable', 'blocked')),
    reason TEXT NOT NULL,
    http_status INTEGER,
    final_url TEXT,
    redirects TEXT,                            -- JSON [[url, status], ...]
    ip TEXT,
    asn INTEGER,
    asns TEXT,                                 -- JSON list when several origins
    prefix TEXT,
    hoster_id INTEGER REFERENCES hosters(id),
    content_type TEXT,
    size INTEGER,
    elapsed_ms INTEGER,
    algorithm TEXT,
    distance INTEGER,
    UNIQUE (report_id, due_at)                 -- a slot is recorded once, never twice
);
CREATE INDEX checks_report_time ON checks(report_id, checked_at);
CREATE INDEX checks_hoster ON checks(hoster_id, outcome);
CREATE INDEX checks_unresolved ON checks(ip) WHERE asn IS NULL AND ip IS NOT NULL;

CREATE TABLE hash_lists (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT,
    allowlist INTEGER NOT NULL DEFAULT 0,      -- 1: known-benign, never matches
    created_at TEXT NOT NULL
);
CREATE TABLE known_hashes (
    id INTEGER PRIMARY KEY,
    list_id INTEGER NOT NULL REFERENCES hash_lists(id) ON DELETE CASCADE,
    algorithm TEXT NOT NULL,
    hash TEXT NOT NULL,
    label TEXT,
    UNIQUE (list_id, algorithm, hash)
);
CREATE INDEX known_hashes_hash ON known_hashes(algorithm, hash);

CREATE TABLE reuploads (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    url_key TEXT NOT NULL,
    page_url TEXT,
    of_report_id INTEGER REFERENCES reports(id),
    of_known_hash_id INTEGER REFERENCES known_hashes(id),
    algorithm TEXT NOT NULL,
    distance INTEGER NOT NULL,
    ip TEXT,
    asn INTEGER,
    hoster_id INTEGER REFERENCES hosters(id),
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    tracked_report_id INTEGER REFERENCES reports(id),  -- its own takedown is measured too
    UNIQUE (url_key, of_report_id, of_known_hash_id)
);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    hoster_id INTEGER REFERENCES hosters(id),
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    kind TEXT NOT NULL CHECK (kind IN ('reupload', 'reappearance')),
    subject TEXT NOT NULL,                     -- JSON: what the alert is about (URLs, hashes)
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX alerts_pending ON alerts(state, next_attempt_at);

CREATE TABLE asn_cache (
    prefix TEXT PRIMARY KEY,                   -- CIDR as announced
    family INTEGER NOT NULL,                   -- 4 or 6
    start_key TEXT NOT NULL,                   -- first address, 32 hex digits (sorts)
    end_key TEXT NOT NULL,                     -- last address, 32 hex digits
    status TEXT NOT NULL CHECK (status IN ('announced', 'not_announced')),
    asn INTEGER,
    asns TEXT,                                 -- JSON list, first is primary
    country TEXT,
    registry TEXT,
    allocated TEXT,
    fetched_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX asn_cache_range ON asn_cache(start_key, end_key);
CREATE TABLE asn_names (
    asn INTEGER PRIMARY KEY,
    name TEXT,
    country TEXT,
    fetched_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE watch_sources (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    url_key TEXT NOT NULL UNIQUE,
    depth INTEGER NOT NULL DEFAULT 1,
    max_pages INTEGER NOT NULL DEFAULT 200,
    interval_s INTEGER NOT NULL DEFAULT 86400,
    added_at TEXT NOT NULL,
    last_scan_at TEXT,
    next_scan_at TEXT NOT NULL
);
CREATE INDEX watch_due ON watch_sources(next_scan_at);
"""

V2 = """
CREATE TABLE placeholders (
    host TEXT NOT NULL,                        -- what a host serves for a path that never existed
    algorithm TEXT NOT NULL,
    hash TEXT NOT NULL,
    http_status INTEGER,
    learned_at TEXT NOT NULL,
    PRIMARY KEY (host, algorithm)
);
CREATE INDEX reports_hoster ON reports(notified_hoster_id);
"""

V3 = """
-- the first confirmed takedown ever (takedown_at is the current episode's)
ALTER TABLE reports ADD COLUMN first_takedown_at TEXT;
UPDATE reports SET first_takedown_at = takedown_at WHERE reappearances = 0;
"""

V4 = """
-- labelled hash-list entries, so the re-upload index finds a list's labels without a scan
CREATE INDEX known_hashes_labelled ON known_hashes(list_id) WHERE label IS NOT NULL;
"""

V5 = """
-- how a hoster's webhooks are signed: the Standard Webhooks specification, or the older
-- X-Signature scheme (hosters that had a webhook before this migration keep it)
ALTER TABLE hosters ADD COLUMN webhook_scheme TEXT NOT NULL DEFAULT 'standard'
    CHECK (webhook_scheme IN ('standard', 'x-signature'));
UPDATE hosters SET webhook_scheme = 'x-signature'
    WHERE webhook_url IS NOT NULL AND webhook_url != '';
"""

V6 = """
-- removal orders: an authority orders removal of a reported URL by a deadline; the order adds
-- checks at and just after its deadline, and its compliance is judged from the checks
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,                    -- the authority's identifier
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    authority TEXT,
    issued_at TEXT NOT NULL,
    deadline_at TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    UNIQUE (order_id, report_id)
);
CREATE INDEX orders_report ON orders(report_id);
"""

V7 = """
-- the tamper-evident record: each check row's SHA-256 over its canonical encoding and the
-- previous row's chain hash (monitor.core.evidence); chain_prev is that previous hash, so a deleted
-- or reordered row is told apart from a changed one
ALTER TABLE checks ADD COLUMN chain_hash TEXT;
ALTER TABLE checks ADD COLUMN chain_prev TEXT;
-- the chain's head: the last chained row, its hash and the number of chained rows (rows cut
-- off the end of the table show against it)
CREATE TABLE evidence_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    count INTEGER NOT NULL
);
INSERT INTO evidence_head (id, last_id, hash, count) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 0);
"""

V8 = """
-- the CDN registry (monitor.attribution.cdn): networks that are CDN / reverse-proxy edges,
-- not hosters;
-- one row per network (an ASN or a prefix), seeded with monitor.attribution.cdn.DEFAULTS
CREATE TABLE cdns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    asn INTEGER,
    prefix TEXT,                               -- CIDR; NULL: the whole ASN
    abuse_email TEXT,
    source TEXT NOT NULL DEFAULT 'import' CHECK (source IN ('default', 'import')),
    created_at TEXT NOT NULL
);
CREATE INDEX cdns_name ON cdns(name);
-- the CDN whose edge answered the check (response headers or the CDN registry); NULL: none seen
ALTER TABLE checks ADD COLUMN edge TEXT;
-- the reports ever seen through an edge (status's moves_edge) without a scan of every check
CREATE INDEX checks_edge ON checks(report_id) WHERE edge IS NOT NULL;
-- the group a check through CDN X's edge is attributed to when its origin is unknown:
-- a hosters row named "X (origin unknown)" with cdn = 'X' (never ranked as a hoster)
ALTER TABLE hosters ADD COLUMN cdn TEXT;
-- the origin behind a CDN as the hotline knows it (import reports: origin_ip, origin_hoster);
-- a check through a CDN edge is then attributed to the origin's hoster
ALTER TABLE reports ADD COLUMN origin_ip TEXT;
ALTER TABLE reports ADD COLUMN origin_hoster_id INTEGER REFERENCES hosters(id);
"""


def _statements(script: str) -> list[str]:
    """Split a script into statements (executescript would COMMIT the migration's transaction)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def _run(db: Database, script: str) -> None:
    for statement in _statements(script):
        db.execute(statement)


@migrations()
def m001_initial(db: Database) -> None:
    _run(db, V1)


@migrations()
def m002_placeholders(db: Database) -> None:
    _run(db, V2)


@migrations()
def m003_first_takedown(db: Database) -> None:
    """`reports.first_takedown_at`: the first confirmed takedown, kept across reappearances
    (`takedown_at` is the current episode's). Never reappeared: it is `takedown_at`. Reappeared:
    replayed from the checks (monitor.store.summary.backfill_first_takedown)."""
    _run(db, V3)
    backfill_first_takedown(db)


@migrations()
def m004_labelled_hashes(db: Database) -> None:
    """An index of the hash-list entries that carry a label (reupload_index.load_index)."""
    _run(db, V4)


@migrations()
def m005_webhook_scheme(db: Database) -> None:
    """`hosters.webhook_scheme`: 'standard' (Standard Webhooks, the default for new hosters) or
    'x-signature' (the older scheme). Existing hosters with a webhook were verified by their
    receivers with X-Signature, so they keep it until staff switch them."""
    _run(db, V5)


@migrations()
def m006_orders(db: Database) -> None:
    """`orders`: removal orders with their deadlines (monitor.intake.orders)."""
    _run(db, V6)


@migrations()
def m007_evidence_chain(db: Database) -> None:
    """`checks.chain_hash`: the hash chain over the stored checks, back-filled for existing
    rows in id order (monitor.core.evidence), and `evidence_head`, the chain's head."""
    _run(db, V7)
    append(db.conn)


@migrations()
def m008_cdns(db: Database) -> None:
    """`cdns`: the CDN registry, seeded with the shipped list; `checks.edge`: the CDN seen."""
    _run(db, V8)
    seed_defaults(db)


def version(db: Database) -> int:
    """How many of our migrations the database has."""
    return len(migrations.applied(db))


LATEST = 8
