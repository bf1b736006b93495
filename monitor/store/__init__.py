"""The store: one SQLite database through sqlite-utils, opened the same way everywhere.

WAL journal (readers such as `report` and `status` never block a running crawl, and the crawl
never blocks them), a busy timeout, foreign keys on, and the schema migrated to the latest
version on open. Writers batch their rows into transactions; see `transaction()`.

Opening refuses bad files before any work, as a `StoreError`: a file that is not an SQLite
database (never turned into one), a database that is not ours (readers), a read-only file or
directory (writers), and on request a damaged database (`PRAGMA quick_check`). Readers open
with `mode=ro` and change nothing. A new database file is created owner-only (0600; SQLite
gives its -wal and -shm files the database file's mode). `exclusive()` is the one-crawl-at-a-
time lock on a database.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from monitor.store import schema
from monitor.store.sql import in_list, transaction

__all__ = [
    "StoreBusy",
    "StoreError",
    "check_integrity",
    "connect",
    "db_path",
    "exclusive",
    "explain",
    "in_list",
    "transaction",
]

DEFAULT_DB = "ntd-monitor.db"
SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(RuntimeError):
    """The database cannot be opened, is damaged, not ours, read-only, or of a newer schema."""


class StoreBusy(StoreError):
    """Another process holds the database's crawl lock."""


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path or os.environ.get("NTD_DB") or DEFAULT_DB)


def _refuse_bad_file(target: Path, *, readonly: bool, create: bool) -> None:
    """Look at the file (without SQLite, which would turn an empty file into a database)."""
    if not target.exists():
        if readonly or not create:
            raise StoreError(f"no database at {target} (run `ntd-monitor init` first)")
        if not os.access(target.parent, os.W_OK):
            raise StoreError(f"cannot create database {target}: directory is not writable")
        return
    if not target.is_file():
        raise StoreError(f"{target} is not a database file")
    try:
        with open(target, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read database {target}: {exc.strerror}") from None
    if not head and not (create and not readonly):
        raise StoreError(
            f"{target} is an empty file, not an ntd-monitor database "
            "(run `ntd-monitor init` to make it one)"
        )
    if head and head != SQLITE_HEADER:
        raise StoreError(f"{target} is not an SQLite database (left unchanged)")
    if not readonly:
        for need in (target, target.parent):
            if not os.access(need, os.W_OK):
                raise StoreError(
                    f"database {target} is read-only ({need} is not writable); "
                    "this command writes: give it write access or use a copy"
                )


def _create_private(target: Path) -> None:
    """Create the empty database file owner-only; SQLite fills it in (and its -wal/-shm
    files inherit its mode)."""
    try:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create database {target}: {exc.strerror}") from None


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    migrate: bool = True,
    readonly: bool = False,
    create: bool = True,
    verify: bool = False,
) -> Database:
    """Open the database with our pragmas; migrate it unless told not to.

    `readonly`: open with mode=ro and refuse a missing file or one that is not ours.
    `create=False`: refuse a missing or empty file instead of creating a database.
    `verify`: run `PRAGMA quick_check` first (O(size): about 1 s per 200 MB)."""
    target = db_path(path)
    _refuse_bad_file(target, readonly=readonly, create=create)
    if not readonly and not target.exists():
        _create_private(target)
    try:
        if readonly:
            conn = sqlite3.connect(
                f"{target.resolve().as_uri()}?mode=ro",
                uri=True,
                timeout=30,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            conn = sqlite3.connect(
                str(target), timeout=30, isolation_level=None, check_same_thread=False
            )
        conn.execute("PRAGMA busy_timeout=30000")
        if verify:
            check_integrity(conn, target)
        db = Database(conn)
        ours = schema.version(db) > 0
        if not ours and (readonly or not create or not migrate):
            conn.close()
            raise StoreError(
                f"{target} is not an ntd-monitor database (left unchanged; "
                "run `ntd-monitor init` to make a new one)"
            )
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open database {target}: {explain(exc)}") from None
    if migrate and not readonly:
        try:
            schema.migrations.apply(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot migrate database {target}: {explain(exc)}") from None
    if schema.version(db) > schema.LATEST:
        raise StoreError(f"{target} has a newer schema than this program; upgrade ntd-monitor")
    return db


def check_integrity(conn: sqlite3.Connection, target: Path | str) -> None:
    """`PRAGMA quick_check` (structure of every page, index and record; no index-vs-table
    content comparison): a `StoreError` naming the first problem when it is not "ok"."""
    try:
        rows = conn.execute("PRAGMA quick_check(5)").fetchall()
    except sqlite3.DatabaseError as exc:
        rows = [(str(exc),)]
    if rows != [("ok",)]:
        first = "; ".join(str(r[0]) for r in rows[:2])
        raise StoreError(
            f"database {target} is damaged ({first}); nothing was changed. Restore "
            "it from a backup (`sqlite3 DB .recover` may salvage rows)"
        )


def explain(exc: sqlite3.DatabaseError) -> str:
    """SQLite's message with a hint for the cases staff meet: damage, read-only, not ours."""
    text = str(exc)
    low = text.lower()
    if "malformed" in low or "file is not a database" in low:
        return f"{text} (the file is damaged or not an SQLite database; restore it from a backup)"
    if "readonly" in low or "read-only" in low:
        return f"{text} (the file or its directory is read-only; give write access or use a copy)"
    return text


@contextmanager
def exclusive(path: str | os.PathLike[str] | None, what: str = "crawl") -> Iterator[Path]:
    """One crawl at a time on a database: flock on `<db>.lock` (owner-only), holding our pid.
    A second taker gets `StoreBusy` naming the holder's pid; the kernel releases the lock when
    the holder exits, however it exits."""
    target = db_path(path)
    lock = target.with_name(target.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create lock file {lock}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise StoreBusy(
                f"another {what} is running on {target} (pid {holder}, lock "
                f"{lock}); wait for it or stop it first"
            ) from None
        mine = f"{os.getpid()}\n".encode()
        os.pwrite(fd, mine, 0)
        os.ftruncate(fd, len(mine))
        yield lock
    finally:
        os.close(fd)  # closing the descriptor releases the lock
