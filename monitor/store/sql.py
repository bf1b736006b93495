"""Small SQL helpers every store module shares: one write transaction, one `IN (...)` list."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlite_utils import Database


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


def in_list(values: Iterable[int]) -> str:
    """`1,2,3` for `WHERE id IN (...)`, the one way every store module builds one. Integers only
    (anything else raises TypeError), so the text is safe to put into SQL; empty gives `NULL`,
    which matches nothing."""
    return ",".join(str(operator.index(v)) for v in values) or "NULL"
