"""Evidence commands of `ntd-monitor`: `evidence keygen`, `evidence export`, `evidence verify`.

Thin shells over monitor.store.evidence (the chain in the database) and monitor.core.evidence_bundle
(signed bundles). Exit codes: 0 verified; 1 the chain or the bundle does not verify (each
failure named: row, check id, URL, what differs); 2 bad usage or input (no such order or
hoster, a key file that is not an Ed25519 PEM key, an unreadable file).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from monitor.cli.common import BadInput, State, pass_state
from monitor.core import clock
from monitor.core.evidence_bundle import (
    KeyFileError,
    build,
    dumps,
    generate,
    load_private,
    load_public,
    sign,
)
from monitor.core.evidence_bundle import verify as verify_bundle
from monitor.store.evidence import ChainBroken, ExportError, NoChain, select, verify_db


class NotVerified(click.ClickException):
    exit_code = 1


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None


def _keys(call, *args):

    try:
        return call(*args)
    except KeyFileError as exc:
        raise BadInput(str(exc)) from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise BadInput(
            f"{path} exists; a key is never overwritten (choose another --out)"
        ) from None
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@click.group("evidence")
def evidence_group() -> None:
    """The hash-chained observation record and signed, offline-verifiable bundles.

    \b
    Example:
      ntd-monitor evidence verify
      ntd-monitor evidence export --order ATKM-2026-17 --out bundle.json --key key.pem
      ntd-monitor evidence verify bundle.json --key key.pem.pub
    """


@evidence_group.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Private key file to write (PEM, mode 0600); the public key goes to OUT.pub.",
)
def keygen(out: str) -> None:
    """Make an Ed25519 signing key: the private key to OUT, the public key to OUT.pub.

    Give the public key to whoever verifies bundles; keep the private key.

    \b
    Example:
      ntd-monitor evidence keygen --out hotline-evidence.pem
    """

    private, public = generate()
    target = Path(out)
    _write_new(target, private, 0o600)
    _write_new(target.with_name(target.name + ".pub"), public, 0o644)
    click.echo(f"private key: {target} (0600; keep it)")
    click.echo(f"public key:  {target}.pub")
    click.echo(public.decode("ascii"), nl=False)


@evidence_group.command("export")
@click.option("--order", "order_id", metavar="ID", help="A removal order's id.")
@click.option("--hoster", metavar="NAME", help="A hoster's name (`hosters list`).")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Bundle file to write (JSON)."
)
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Ed25519 private key (PEM) to sign with.",
)
@pass_state
def export(state: State, order_id, hoster, out, key_file) -> None:
    """Export the observations of an order's or a hoster's reports as a signed bundle.

    Times, URLs, IPs, ASNs, hosters, outcomes, HTTP statuses and hash distances (never
    content), each row with its chain link and the chain head, signed with Ed25519.

    \b
    Example:
      ntd-monitor evidence export --order ATKM-2026-17 --out order-17.json --key key.pem
      ntd-monitor evidence export --hoster "Example Hosting" --out eh.json --key key.pem
    """

    if (order_id is None) == (hoster is None):
        raise click.UsageError("give exactly one of --order ID or --hoster NAME")
    private = _keys(load_private, _read(key_file, "key file"), key_file)
    db = state.db(readonly=True)
    try:
        selection = select(db.conn, order=order_id, hoster=hoster)
    except (ExportError, NoChain) as exc:
        raise BadInput(str(exc)) from None
    except ChainBroken as exc:
        raise NotVerified(str(exc)) from None
    finally:
        db.conn.close()
    bundle = sign(build(selection, clock.now_iso()), private)
    try:
        Path(out).write_text(dumps(bundle), encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror}") from None
    click.echo(
        f"{out}: {len(selection.rows)} observations of {len(selection.reports)} "
        f"reports, chain head check {selection.head.last_id} "
        f"({selection.head.hash[:16]}...), signed by key "
        f"{bundle['signer']['key_id']}"
    )


@evidence_group.command("verify")
@click.argument("bundle", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False),
    help="The signer's Ed25519 public key (PEM), to verify a BUNDLE.",
)
@pass_state
def verify(state: State, bundle, key_file) -> None:
    """Re-compute the database's chain, or verify a BUNDLE offline (no database).

    Names the first row that breaks: its check id and URL, and whether its hash does not
    match its fields, its hash is missing, or a row before it was deleted or moved.
    Exit code 0: intact; 1: broken.

    \b
    Example:
      ntd-monitor evidence verify
      ntd-monitor evidence verify order-17.json --key hotline-evidence.pem.pub
    """
    if bundle is None:
        if key_file is not None:
            raise click.UsageError("--key verifies a BUNDLE: give the bundle file too")
        _verify_db(state)
        return
    if key_file is None:
        raise click.UsageError("verifying a bundle needs the signer's public key: --key PUB")

    public = _keys(load_public, _read(key_file, "key file"), key_file)
    failures = verify_bundle(_read(bundle, "bundle"), public)
    if failures:
        more = f"\n({len(failures) - 1} more problems)" if len(failures) > 1 else ""
        lines = "\n".join(f"  {f}" for f in failures[1:6])
        raise NotVerified(
            f"{bundle} does NOT verify: {failures[0]}{more}{chr(10) + lines if lines else ''}"
        )
    click.echo(f"{bundle}: verified (signature, every row's hash, links between adjacent rows)")


def _verify_db(state: State) -> None:

    db = state.db(readonly=True)
    try:
        result = verify_db(db.conn)
    except NoChain as exc:
        raise BadInput(str(exc)) from None
    finally:
        db.conn.close()
    if not result.intact:
        first, rest = result.breaks[0], result.total_breaks - 1
        others = "".join(f"\n  {b}" for b in result.breaks[1:])
        more = f"\n({rest} more breaks after it){others}" if rest else ""
        raise NotVerified(f"chain BROKEN at {first}{more}")
    head = result.head
    click.echo(
        f"chain intact: {result.count} checks, head check "
        f"{head.last_id if head else 0} ({head.hash if head else ''})"
    )
