"""The store: one SQLite database through sqlite-utils, opened the same way everywhere.

WAL journal (readers such as `report` and `status` never block a running crawl, and the crawl
never blocks them), a busy timeout, foreign keys on, and the schema migrated to the latest
version on open. Writers batch their rows into transactions; see `transaction()`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from monitor import schema

DEFAULT_DB = "ntd-monitor.db"


class StoreError(RuntimeError):
    """The database cannot be opened or is of a newer schema than this program."""


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path or os.environ.get("NTD_DB") or DEFAULT_DB)


def connect(path: str | os.PathLike[str] | None = None, *, migrate: bool = True,
            readonly: bool = False) -> Database:
    """Open the database with our pragmas; migrate it unless told not to."""
    target = db_path(path)
    if readonly and not target.exists():
        raise StoreError(f"no database at {target} (run `ntd-monitor init` first)")
    try:
        conn = sqlite3.connect(str(target), timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database {target}: {exc}") from None
    db = Database(conn)
    if migrate and not readonly:
        try:
            schema.migrations.apply(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot migrate database {target}: {exc}") from None
    elif schema.version(db) == 0:
        raise StoreError(f"{target} is not an ntd-monitor database (run `ntd-monitor init`)")
    if schema.version(db) > schema.LATEST:
        raise StoreError(f"{target} has a newer schema than this program; upgrade ntd-monitor")
    return db


@contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error). Takes the write lock up front."""
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
