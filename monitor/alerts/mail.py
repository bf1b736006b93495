"""The e-mail channel: one plain-text message per hoster and batch, with XARF attachments.

`render` builds the message an abuse desk can act on: every URL with its case reference, first
and last seen times (UTC, zone written out), server IP, ASN, page found on, how it was matched
and the hash values, and what is asked (remove, prevent re-upload, reply quoting the
reference). One XARF v4 JSON report per URL is attached as quoted-printable text (no base64).
A batch for a CDN (alerts routed "cdn", monitor.alerts.cdn_route) is addressed to the CDN by
name and asks first to forward the notice to the origin hoster; each URL says which CDN serves
it and the origin hoster when known. A video found by vPDQ says so (the share of its frames
that match) and that its hash values are those of this exact file (a re-encoded copy differs);
a vPDQ signature is never in the text.
`send` delivers it with smtplib (STARTTLS and login as configured; credentials come from the
environment variables the config names) and is run in a thread by the deliverer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from hashes.formats import ALGORITHMS
from monitor.alerts import items as alert_items
from monitor.alerts import xarf
from monitor.alerts.cdn_route import CDN
from monitor.alerts.policy import Attempt, Verdict, smtp_verdict
from monitor.core import clock
from monitor.core.config import AlertsConfig


class CredentialsMissing(RuntimeError):
    """An SMTP credential environment variable named in the config is not set."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_DOMAIN = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)


def one_line(value: Any) -> str:
    """A value as one line of text: control characters (CR, LF...) become a space, so a case
    reference or hoster name can neither break a header nor forge lines in the text."""
    return _CONTROL.sub(" ", str(value)).strip()


def message_id(keys: list[str], config: AlertsConfig) -> str:
    """The Message-ID of a batch: derived from its alerts' idempotency keys only, so every
    retry of the same batch carries the same id and receivers can drop duplicates."""
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:40]
    domain = xarf.contact_domain(config)
    return f"<ntd.{digest}@{domain if _DOMAIN.fullmatch(domain) else 'ntd-monitor.invalid'}>"


def _utc(text: str | None) -> str:
    if not text:
        return "unknown"
    return clock.parse(text).strftime("%Y-%m-%d %H:%M:%S UTC")


def _origin(item: dict[str, Any]) -> str:
    if item["kind"] == "reappearance":
        return f"online again after removal (case {one_line(item.get('reference'))})"
    of = (item.get("match") or {}).get("of") or {}
    if of.get("type") == "hash_list":
        return (
            f"known material, hash list {one_line(of.get('list'))} entry "
            f"{one_line(of.get('label') or '-')}"
        )
    return f"material reported under case {one_line(item.get('original_reference'))}"


def _detection(item: dict[str, Any]) -> str:
    match = item.get("match") or {}
    algorithm = match.get("algorithm")
    if not algorithm:
        return "hash match against the reported material"
    if alert_items.is_video(algorithm):
        return alert_items.video_detection(match.get("distance"))
    algo = ALGORITHMS.get(algorithm)
    if algo is None:
        return f"hash match ({one_line(algorithm)})"
    if algo.perceptual:
        return (
            f"perceptual hash match ({algorithm}, Hamming distance {match.get('distance')} "
            f"of {algo.bits} bits)"
        )
    return f"exact hash match ({algorithm})"


def _fixed_hex(algorithm: Any, value: Any) -> bool:
    """Whether a hash value is one an abuse desk can block: the fixed-width hex of a known
    algorithm (never a video signature's text, nor anything else a subject might hold)."""
    algo = ALGORITHMS.get(str(algorithm))
    return bool(
        algo and isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{algo.hex_len}}}", value)
    )


def _paragraph(n: int, item: dict[str, Any]) -> str:
    asn = f"AS{one_line(item['asn'])}" if item.get("asn") else "unknown"
    hashes = item.get("hashes") or {}
    lines = [
        f"{n}. {one_line(item['url'])}",
        f"   Case reference:  {one_line(item.get('reference') or '-')}",
        f"   What:            {_origin(item)}",
        f"   First seen:      {_utc(item.get('first_seen_at'))}",
        f"   Last seen:       {_utc(item.get('last_seen_at'))}",
        f"   Server IP:       {one_line(item.get('ip') or 'unknown')}",
        f"   ASN:             {asn}",
    ]
    if item.get("page_url"):
        lines.append(f"   Found on page:   {one_line(item['page_url'])}")
    if item.get("edge"):
        origin = one_line(item.get("origin_hoster") or "unknown to us")
        lines.append(
            f"   Served through:  CDN / reverse proxy {one_line(item['edge'])} "
            f"(origin hoster: {origin})"
        )
    lines.append(f"   Detection:       {one_line(_detection(item))}")
    video = alert_items.is_video((item.get("match") or {}).get("algorithm"))
    shown = {k: v for k, v in sorted(hashes.items()) if _fixed_hex(k, v)}
    for i, (algorithm, value) in enumerate(shown.items()):
        label = "Hash values:" if i == 0 else ""
        lines.append(f"   {label:<17}{algorithm} {value}")
    if video:
        lines.append(
            "   Note:            a video; "
            + (
                "the hash values are those of this exact file (a re-encoded copy differs)"
                if shown
                else "no file hash values (it was identified by its vPDQ frame hashes)"
            )
        )
    return "\n".join(lines)


def to_cdn(entries: list[dict[str, Any]]) -> str | None:
    """The CDN a batch goes to (its alerts' route is "cdn"), None for a hoster's batch."""
    items = [e["item"] for e in entries]
    return items[0].get("edge") if items and items[0].get("route") == CDN else None


_ASK = """What we ask:
  1. Remove the material at each URL below without delay.
  2. Prevent its re-upload: block the hash values listed (pdq, phash and
     dhash are perceptual hashes that survive resizing and recompression).
  3. Reply to {reply} quoting the case reference(s) when done."""

_ASK_CDN = """The URLs below are served through your CDN / reverse proxy: your edge is not
where the material is stored; the origin server behind it is.

What we ask:
  1. Forward this notice, with its XARF attachments, to the origin hoster of
     each URL below (the hosting provider of your customer's origin server),
     and tell us who it is. Where we know the origin hoster we have notified
     it directly too (named under "Served through").
  2. Stop serving the material at each URL from your edge without delay, and
     block the hash values listed (pdq, phash and dhash are perceptual hashes
     that survive resizing and recompression).
  3. Reply to {reply} quoting the case reference(s) when done."""


def text(hoster: str, entries: list[dict[str, Any]], config: AlertsConfig) -> str:
    org = xarf.contact(config)["org"]
    paragraphs = "\n\n".join(_paragraph(n, e["item"]) for n, e in enumerate(entries, 1))
    cdn = to_cdn(entries)
    hoster = one_line(cdn or hoster)
    where = "through your network" if cdn else "on your network"
    ask = (_ASK_CDN if cdn else _ASK).format(reply=config.from_address)
    return f"""To the abuse desk of {hoster},

{org} found {len(entries)} URL(s) {where} serving child sexual abuse
material that was reported before and identified again by its hash values.
All times are in UTC.

{ask}

{paragraphs}

A machine-readable XARF v4 report (category content, type csam) is attached
for each URL. We identify material by hash values only; no copy of it is kept
or sent.

--{" "}
ntd-monitor for {org} ({config.from_address})
"""


def render(
    hoster: dict[str, Any], entries: list[dict[str, Any]], config: AlertsConfig, now: datetime
) -> EmailMessage:
    """`entries`: dicts with `id`, `idempotency_key`, `item` (one per alert, in order)."""
    refs = [one_line(e["item"]["reference"])[:80] for e in entries if e["item"].get("reference")]
    msg = EmailMessage()
    msg["From"] = config.from_address
    msg["To"] = hoster["abuse_email"]
    msg["Reply-To"] = config.from_address
    cdn = to_cdn(entries)
    where = (
        f"via {one_line(cdn)}: please forward to the origin hoster"
        if cdn
        else f"on {one_line(hoster['name'])}"
    )
    msg["Subject"] = f"CSAM notice: {len(entries)} URL(s) {where}" + (
        f" [{refs[0]}{' +' + str(len(refs) - 1) if len(refs) > 1 else ''}]" if refs else ""
    )
    msg["Date"] = format_datetime(clock.to_utc(now))
    msg["Message-ID"] = message_id([e["idempotency_key"] for e in entries], config)
    msg["X-NTD-Alert-Ids"] = ",".join(str(e["id"]) for e in entries)
    body = text(hoster["name"], entries, config)
    msg.set_content(body, cte=_cte(body))
    for n, e in enumerate(entries, 1):
        report = xarf.build(
            e["item"],
            idempotency_key=e["idempotency_key"],
            config=config,
            country=hoster.get("country"),
        )
        data = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=True)
        msg.add_attachment(
            data.encode(),
            maintype="application",
            subtype="json",
            filename=f"xarf-{n}.json",
            cte=_cte(data),
        )
    return msg


def _cte(data: str) -> str:
    """7bit when SMTP can carry the text as is (ASCII, short lines), else quoted-printable."""
    ok = data.isascii() and max(map(len, data.splitlines() or [""])) <= 990
    return "7bit" if ok else "quoted-printable"


def readable(msg: EmailMessage) -> str:
    """The message as a person reads it: headers, text, then each attachment decoded."""
    head = "\n".join(
        f"{k}: {v}"
        for k, v in msg.items()
        if k in ("From", "To", "Subject", "Date", "X-NTD-Alert-Ids")
    )
    parts = [head, "", msg.get_body(("plain",)).get_content().rstrip()]  # type: ignore[union-attr]
    for part in msg.iter_attachments():
        raw = part.get_payload(decode=True)
        parts += [
            "",
            f"--- attachment {part.get_filename()} ({part.get_content_type()})",
            raw.decode("ascii", "replace") if isinstance(raw, bytes) else "",
        ]
    return "\n".join(parts)


def credentials(config: AlertsConfig) -> tuple[str | None, str | None]:
    def read(name: str) -> str | None:
        if not name:
            return None
        value = os.environ.get(name)
        if value is None:
            raise CredentialsMissing(f"SMTP credential env var {name} is not set")
        return value

    return read(config.smtp_user_env), read(config.smtp_password_env)


def send(msg: EmailMessage, config: AlertsConfig, timeout: float) -> Attempt:
    """Deliver one message (blocking; run it in a thread). Never raises for SMTP trouble."""
    try:
        user, password = credentials(config)
    except CredentialsMissing as exc:
        return Attempt(Verdict.FAIL, str(exc))
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout) as client:
            if config.smtp_starttls:
                client.starttls(context=ssl.create_default_context())
            if user:
                client.login(user, password or "")
            refused = client.send_message(msg)
        if refused:
            refused_code = next(iter(refused.values()))[0]
            return smtp_verdict(refused_code, f"recipient refused: SMTP {refused_code}")
        return Attempt(Verdict.SENT)
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0] if exc.recipients else None
        return smtp_verdict(code, f"recipient refused: SMTP {code}")
    except smtplib.SMTPResponseException as exc:
        return smtp_verdict(exc.smtp_code, f"SMTP {exc.smtp_code} {type(exc).__name__}")
    except (smtplib.SMTPException, OSError) as exc:
        return Attempt(Verdict.RETRY, f"SMTP connection failed: {type(exc).__name__}: {exc}")
