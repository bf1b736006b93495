"""The evidence chain, pure: the canonical encoding of a check row and the chain step.

Every stored check row carries `chain_hash = SHA-256(canonical(row) || prev)` where `prev` is
the 32 bytes of the previous row's chain hash in id order (32 zero bytes before the first row),
and `chain_prev` = that previous hash, so a deleted or reordered row is told apart from a changed
one. Hashes are lower-case hex. The encoding is versioned (`"v": 1`, inside the hashed bytes):

    canonical v1 = UTF-8 of the JSON object {"v": 1, <FIELDS>} with sorted keys, no whitespace,
                   non-ASCII characters unescaped; integers as integers, text as strings,
                   missing values as null.

FIELDS are the observation as fixed when the row is inserted (the report's URL included).
Attribution (asn, asns, prefix, hoster) is filled later by the ASN stage and is not in the
chain; a signed bundle covers it as of its export (docs/evidence.md).

`ChainVerifier` re-computes the chain one row at a time (constant memory) and names each row
that breaks it: a missing hash, a hash that does not match the row's fields, or a link to a
previous hash that is not the previous row's (rows deleted or reordered before it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

VERSION = 1
GENESIS = "0" * 64
FIELDS = (
    "id",
    "report_id",
    "url",
    "due_at",
    "checked_at",
    "outcome",
    "reason",
    "http_status",
    "final_url",
    "redirects",
    "ip",
    "content_type",
    "size",
    "elapsed_ms",
    "algorithm",
    "distance",
)
# `checks.edge` (the CDN seen, m008) is deliberately not in FIELDS: canonical v1 is fixed for
# rows already chained; like the attribution columns it can be added only by a version 2.
ATTRIBUTION = ("asn", "asns", "prefix", "hoster")

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_sha256 = hashlib.sha256
_HEX = re.compile("[0-9a-f]{64}")


class EncodingError(ValueError):
    """A value that the canonical encoding cannot represent (not text, integer or null)."""


def encode(obj: Any) -> bytes:
    """Canonical JSON bytes of any JSON value (also what a bundle's signature covers)."""
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise EncodingError(str(exc)) from None


def check_object(row: Mapping[str, Any]) -> dict[str, Any]:
    """The object that is encoded: the version and exactly FIELDS (KeyError if one lacks)."""
    obj = {name: row[name] for name in FIELDS}
    obj["v"] = VERSION
    return obj


def canonical(row: Mapping[str, Any]) -> bytes:
    """Canonical v1 bytes of a check row (a mapping with at least FIELDS)."""
    obj = check_object(row)
    for name in FIELDS:
        value = obj[name]
        if value is not None and type(value) not in (int, str):
            raise EncodingError(
                f"field {name!r} is {type(value).__name__}, not text, integer or null"
            )
    return encode(obj)


def step(encoded: bytes, prev: str) -> str:
    """The chain step: SHA-256 over the row's canonical bytes and the previous hash's bytes."""
    return _sha256(encoded + bytes.fromhex(prev)).hexdigest()


def link(row: Mapping[str, Any], prev: str) -> str:
    return step(canonical(row), prev)


class Problem(StrEnum):
    MISSING_HASH = "missing hash"
    HASH_MISMATCH = "hash mismatch"
    BROKEN_LINK = "broken link"
    UNENCODABLE = "unencodable field"
    HEAD_MISMATCH = "head mismatch"


@dataclass(frozen=True)
class Break:
    """Where and how the chain breaks."""

    problem: Problem
    check_id: int | None
    url: str | None
    detail: str

    def __str__(self) -> str:
        where = f"check {self.check_id}" if self.check_id is not None else "chain head"
        url = f" ({self.url})" if self.url else ""
        return f"{where}{url}: {self.problem.value}: {self.detail}"


@dataclass(frozen=True)
class Head:
    """The chain's head as recorded: the last chained row's id and hash, and how many rows."""

    last_id: int
    hash: str
    count: int


class ChainVerifier:
    """Feed rows in id order (mappings with FIELDS, `chain_hash`, `chain_prev`); each call
    returns the Break that row makes, or None. `finish(head)` compares with the recorded head."""

    def __init__(self) -> None:
        self.prev = GENESIS
        self.last_id = 0
        self.count = 0

    def feed(self, row: Mapping[str, Any]) -> Break | None:
        stored, stored_prev = row["chain_hash"], str(row.get("chain_prev") or "")
        check_id, url = row["id"], row["url"]
        expected_prev = self.prev
        self.last_id = check_id
        self.count += 1
        if not stored:
            return Break(
                Problem.MISSING_HASH,
                check_id,
                url,
                "the row was never chained (stored outside the writer, or its hash was erased)",
            )
        if is_hash(stored):
            self.prev = stored
        else:
            return Break(
                Problem.HASH_MISMATCH,
                check_id,
                url,
                f"the recorded hash {str(stored)[:20]!r} is not 64 hex digits",
            )
        try:
            encoded = canonical(row)
        except EncodingError as exc:
            return Break(Problem.UNENCODABLE, check_id, url, str(exc))
        own = step(encoded, expected_prev)
        if own == stored:
            if stored_prev not in ("", expected_prev):
                return Break(
                    Problem.BROKEN_LINK,
                    check_id,
                    url,
                    f"its recorded previous hash {stored_prev[:16]}... is not "
                    "the previous row's (the row's own hash matches it)",
                )
            return None
        if (
            stored_prev != expected_prev
            and is_hash(stored_prev)
            and step(encoded, stored_prev) == stored
        ):
            return Break(
                Problem.BROKEN_LINK,
                check_id,
                url,
                f"it was chained after {stored_prev[:16]}..., but the row before it "
                f"hashes to {expected_prev[:16]}...: a row before it was deleted, "
                "rows were reordered, or the row before it was edited and re-hashed",
            )
        return Break(
            Problem.HASH_MISMATCH,
            check_id,
            url,
            f"recorded {stored[:16]}..., its fields give {own[:16]}...: the row "
            "(id, URL, time, outcome, ...) changed after it was chained",
        )

    def finish(self, head: Head | None) -> Break | None:
        if head is None:
            return None
        if (head.last_id, head.hash, head.count) != (self.last_id, self.prev, self.count):
            return Break(
                Problem.HEAD_MISMATCH,
                None,
                None,
                f"the head records {head.count} rows up to check {head.last_id} "
                f"({head.hash[:16]}...), the table has {self.count} up to check "
                f"{self.last_id} ({self.prev[:16]}...): rows at the end were "
                "deleted or added outside the writer",
            )
        return None


def is_hash(value: Any) -> bool:
    """A chain hash as written: 64 lower-case hex digits."""
    return isinstance(value, str) and _HEX.fullmatch(value) is not None
