"""Distributed-mode commands: `crawl --redis URL --enqueue`, `worker` and `ingest`.

Thin shells over monitor.runners (enqueue, run_worker, ingest); Redis being unreachable or a
second writer become one clear line and exit code 1."""

from __future__ import annotations

import asyncio

import click

from monitor.cli.common import BadInput, State, pass_state
from monitor.cli.progress import console, crawl_progress, summary_table
from monitor.distributed.conn import RedisUnavailable, connect
from monitor.runners.crawl import run_worker, stop_on_signals
from monitor.runners.enqueue import enqueue_due, queue_depths
from monitor.runners.ingest import IngestBusy, run_ingest


class Failed(click.ClickException):
    exit_code = 1


def _client(url: str):

    try:
        return connect(url)
    except RedisUnavailable as exc:
        raise Failed(str(exc)) from None


def enqueue_command(
    state, redis_url: str | None, enqueue: bool, *, limit, hoster, report_ids
) -> None:
    if not (redis_url and enqueue):
        raise BadInput(
            "distributed mode needs both --redis URL and --enqueue "
            "(workers crawl: `ntd-monitor worker --redis URL`)"
        )

    client = _client(redis_url)
    result = enqueue_due(
        state.db(), state.config, client, limit=limit, hoster=hoster, report_ids=report_ids
    )
    rows: dict[str, object] = {
        "checks enqueued": result.checks,
        "already enqueued (not yet stored)": result.already_sent,
        "watch scans enqueued": result.watch_scans,
    }
    rows.update({f"waiting {k}": v for k, v in queue_depths(client, state.config).items()})
    console.print(summary_table("Enqueued", rows))


@click.command()
@click.option("--redis", "redis_url", metavar="URL", required=True, help="Redis URL.")
@click.option("--name", help="Worker name [default: HOST-PID].")
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    default=0,
    help="Exit after this many seconds without work (0: run until SIGTERM).",
)
@click.option(
    "--only", type=click.Choice(["recheck", "watch"]), help="Run only this spider [default: both]."
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@pass_state
def worker(state: State, redis_url, name, idle_exit, only, progress) -> None:
    """Distributed mode: a crawl worker taking due checks and watch scans from Redis.

    Holds hoster queues under leases (one worker per hoster at a time), crawls them and
    adds every observation to a Redis stream for `ingest`. Stops cleanly on SIGTERM.

    \b
    Example:
      ntd-monitor worker --redis redis://127.0.0.1:6379/0
    """

    async def go():
        return await run_worker(
            state.config,
            redis_url,
            worker=name,
            idle_exit=idle_exit,
            stop=stop_on_signals(),
            on_progress=update,
            kinds=(only,) if only else ("recheck", "watch"),
        )

    try:
        with crawl_progress(progress) as update:
            result = asyncio.run(go())
    except RedisUnavailable as exc:
        raise Failed(str(exc)) from None
    rows: dict[str, object] = {
        "worker": result.worker,
        "checks": result.checks,
        "seconds": f"{result.seconds:.1f}",
        "watch sources scanned": result.watch_sources,
        "images hashed": result.images,
    }
    if result.lost:
        rows["requests lost in transit (sent again)"] = result.lost
    rows.update({f"outcome {k}": v for k, v in sorted(result.outcomes.items())})
    console.print(summary_table("Worker", rows))


@click.command()
@click.option("--redis", "redis_url", metavar="URL", required=True, help="Redis URL.")
@click.option("--name", help="Consumer name [default: writer-HOST].")
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0),
    help="Exit after this many seconds with nothing to store [default: never].",
)
@click.option(
    "--asn/--no-asn",
    "resolve_asn",
    default=True,
    help="Attribute new checks to ASNs and hosters when the stream is quiet "
    "[default: on; off: run `asn resolve` yourself].",
)
@pass_state
def ingest(state: State, redis_url, name, idle_exit, resolve_asn) -> None:
    """Distributed mode: the single writer, from the Redis stream into SQLite, in batches.

    Acknowledges entries only after they are committed; reclaims what a killed writer left.
    Then attributes new checks to ASNs and hosters. Stops cleanly on SIGTERM.

    \b
    Example:
      ntd-monitor ingest --redis redis://127.0.0.1:6379/0
    """

    client = _client(redis_url)
    state.db()  # create/migrate first

    async def go():
        return await run_ingest(
            state.db_arg,
            state.config,
            client,
            consumer=name,
            idle_exit=idle_exit,
            stop=stop_on_signals(),
            resolve_asn=resolve_asn,
        )

    try:
        result = asyncio.run(go())
    except (RedisUnavailable, IngestBusy) as exc:
        raise Failed(str(exc)) from None
    console.print(
        summary_table(
            "Ingest",
            {
                "entries": result.entries,
                "checks stored": result.checks,
                "placeholders": result.placeholders,
                "images matched": result.images,
                "videos matched": result.videos,
                "re-uploads recorded": result.reuploads,
                "watch scans": result.scans,
                "reclaimed": result.reclaimed,
                "ASN attributed": result.asn_resolved,
                "seconds": f"{result.seconds:.1f}",
            },
        )
    )
