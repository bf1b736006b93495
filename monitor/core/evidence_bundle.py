"""Signed evidence bundles: build, sign (Ed25519) and verify offline, without the database.

A bundle is one JSON object (docs/evidence.md): `format`, `encoding`, `scope`, `exported_at`,
`head` (the chain head at export), `orders`, `reports`, `row_count`, `rows` (each: `n`, the
canonical `check` object, `prev_id`, `prev`, `hash`, `attribution`), `signer` (algorithm, key
id), and `signature` (base64 Ed25519 over the canonical JSON bytes of every other key,
monitor.core.evidence.encode). Verification names
the first place it fails: a row's hash, a link between adjacent rows, a missing or moved row,
or the signature (what the chain does not cover: scope, head, attribution, orders).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from monitor.core import evidence
from monitor.core.evidence import FIELDS, GENESIS, Head

FORMAT = "ntd-evidence-bundle/1"
ENCODING = f"ntd-check/{evidence.VERSION}"
_CHECK_KEYS = frozenset((*FIELDS, "v"))


class KeyFileError(ValueError):
    """A key file that is not the Ed25519 PEM key it should be (bad input)."""


@dataclass(frozen=True)
class Failure:
    where: str  # "bundle", "row 3 (check 17, https://...)", "signature"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def build(selection: Any, exported_at: str) -> dict[str, Any]:
    """The unsigned bundle of a monitor.store.evidence.Selection."""
    head: Head = selection.head
    return {
        "format": FORMAT,
        "encoding": ENCODING,
        "scope": selection.scope,
        "exported_at": exported_at,
        "head": {"last_id": head.last_id, "hash": head.hash, "count": head.count},
        "orders": selection.orders,
        "reports": selection.reports,
        "row_count": len(selection.rows),
        "rows": [{"n": n, **row} for n, row in enumerate(selection.rows, 1)],
    }


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(bundle: Mapping[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    """The bundle with `signer` (signed too) and `signature` (base64 of the Ed25519 signature
    over the canonical bytes of everything but `signature`)."""
    body = {k: v for k, v in bundle.items() if k != "signature"}
    body["signer"] = {"algorithm": "Ed25519", "key_id": key_id(private.public_key())}
    value = private.sign(evidence.encode(body))
    return {**body, "signature": base64.b64encode(value).decode("ascii")}


def dumps(bundle: Mapping[str, Any]) -> str:
    """The file's text: readable JSON (whitespace is not signed; the values are)."""
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"


def verify(data: bytes, public: Ed25519PublicKey) -> list[Failure]:
    """Every failure found, most specific first (empty: the bundle verifies)."""
    try:
        bundle = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [Failure("bundle", f"not UTF-8 text (byte {exc.start})")]
    except json.JSONDecodeError as exc:
        return [
            Failure("bundle", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
        ]
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        return [
            Failure(
                "bundle",
                f"not an {FORMAT} bundle (format: "
                f"{bundle.get('format') if isinstance(bundle, dict) else '?'})",
            )
        ]
    failures = _rows(bundle)
    failures += _signature(bundle, public)
    return failures


def _rows(bundle: dict[str, Any]) -> list[Failure]:
    rows, out = bundle.get("rows"), []
    if not isinstance(rows, list):
        return [Failure("bundle", "no rows list")]
    if bundle.get("encoding") != ENCODING:
        out.append(Failure("bundle", f"encoding {bundle.get('encoding')!r} is not {ENCODING}"))
    previous: dict[str, Any] | None = None
    for index, row in enumerate(rows, 1):
        out += _row(index, row, previous)
        if isinstance(row, dict) and isinstance(row.get("check"), dict):
            previous = row
    if bundle.get("row_count") != len(rows):
        out.append(
            Failure(
                "bundle",
                f"row_count says {bundle.get('row_count')} rows, there "
                f"are {len(rows)}: a row was removed or added",
            )
        )
    head = bundle.get("head")
    if (
        previous is not None
        and isinstance(head, dict)
        and head.get("last_id") == previous["check"].get("id")
        and head.get("hash") != previous.get("hash")
    ):
        out.append(Failure(_where(len(rows), previous), "its hash is not the head's"))
    return out


def _where(index: int, row: Any) -> str:
    check = row.get("check") if isinstance(row, dict) else None
    if isinstance(check, dict):
        return f"row {index} (check {check.get('id')}, {check.get('url')})"
    return f"row {index}"


def _row(index: int, row: Any, previous: dict[str, Any] | None) -> list[Failure]:
    where = _where(index, row)
    if not isinstance(row, dict) or not isinstance(row.get("check"), dict):
        return [Failure(where, "not a row object with a check")]
    out: list[Failure] = []
    check = row["check"]
    if row.get("n") != index:
        out.append(
            Failure(
                where,
                f"is numbered n={row.get('n')}, expected n={index}: rows "
                "were removed, added or reordered before it",
            )
        )
    if previous is not None and not _after(check.get("id"), previous["check"].get("id")):
        out.append(
            Failure(
                where,
                f"check {check.get('id')} comes after check "
                f"{previous['check'].get('id')}: rows are out of chain order",
            )
        )
    if set(check) != _CHECK_KEYS:
        missing, extra = sorted(_CHECK_KEYS - set(check)), sorted(set(check) - _CHECK_KEYS)
        return [
            *out,
            Failure(where, f"check fields differ (missing {missing}, unexpected {extra})"),
        ]
    if check["v"] != evidence.VERSION:
        out.append(
            Failure(where, f"check encoding version {check['v']!r} is not {evidence.VERSION}")
        )
    prev, stored = row.get("prev"), row.get("hash")
    if not isinstance(prev, str) or not evidence.is_hash(prev):
        return [*out, Failure(where, "prev is not a 64-hex-digit hash")]
    try:
        own = evidence.link(check, prev)
    except evidence.EncodingError as exc:
        return [*out, Failure(where, f"check cannot be encoded: {exc}")]
    if own != stored:
        out.append(
            Failure(
                where,
                f"hash mismatch: recorded {str(stored)[:16]}..., the check's "
                f"fields and prev give {own[:16]}...: a field or the hash "
                "was changed",
            )
        )
    if (
        previous is not None
        and row.get("prev_id") is not None
        and row.get("prev_id") == previous["check"].get("id")
        and prev != previous.get("hash")
    ):
        out.append(
            Failure(
                where,
                f"broken link: its prev is not the hash of check "
                f"{previous['check'].get('id')}, which precedes it in the "
                "chain",
            )
        )
    if row.get("prev_id") is None and prev != GENESIS:
        out.append(Failure(where, "no previous row, but prev is not the genesis hash"))
    return out


def _after(this: Any, before: Any) -> bool:
    return isinstance(this, int) and isinstance(before, int) and this > before


def _signature(bundle: dict[str, Any], public: Ed25519PublicKey) -> list[Failure]:
    signer, sig = bundle.get("signer"), bundle.get("signature")
    if not isinstance(signer, dict) or signer.get("algorithm") != "Ed25519":
        return [Failure("signature", "the signer is missing, or not an Ed25519 key")]
    try:
        value = base64.b64decode(str(sig), validate=True)
    except ValueError:
        value = b""
    if len(value) != 64 or base64.b64encode(value).decode("ascii") != sig:
        return [Failure("signature", "not the base64 of a 64-byte Ed25519 signature")]
    body = {k: v for k, v in bundle.items() if k != "signature"}
    try:
        public.verify(value, evidence.encode(body))
    except (InvalidSignature, evidence.EncodingError):
        if signer.get("key_id") != key_id(public):
            return [
                Failure(
                    "signature",
                    f"signed with key {signer.get('key_id')}, not with "
                    f"the given key {key_id(public)} (wrong key, or "
                    "changed)",
                )
            ]
        return [
            Failure(
                "signature",
                "does not verify: the bundle was changed after signing "
                "(scope, head, orders, reports, attribution or a row)",
            )
        ]
    return []


def generate() -> tuple[bytes, bytes]:
    """A new key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    private = Ed25519PrivateKey.generate()
    return (
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem(private.public_key()),
    )


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(data: bytes, name: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{name}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{name}: not an Ed25519 key (`ntd-monitor evidence keygen` makes one)")
    return key


def load_public(data: bytes, name: str) -> Ed25519PublicKey:
    """A public key PEM (a private key PEM is accepted too: its public half is used)."""
    try:
        key: Any = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = load_private(data, name).public_key()
        except KeyFileError:
            raise KeyFileError(
                f"{name}: not an Ed25519 public key PEM (the .pub file "
                "`ntd-monitor evidence keygen` wrote)"
            ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{name}: not an Ed25519 public key")
    return key
