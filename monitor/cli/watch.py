"""`watch add`: pages and galleries scanned for re-uploads."""

from __future__ import annotations

import click

from monitor.cli.common import State, pass_state
from monitor.reuploads.watch_sources import add_source


@click.group()
def watch() -> None:
    """Pages and galleries scanned for re-uploads.

    \b
    Example:
      ntd-monitor watch add https://board.example/gallery --depth 1 --max-pages 200
    """


@watch.command("add")
@click.argument("url")
@click.option("--depth", type=click.IntRange(0, 5), help="Link depth [default: config, 1].")
@click.option(
    "--max-pages",
    type=click.IntRange(1, 100000),
    help="Page budget per scan [default: config, 200].",
)
@pass_state
def watch_add(state: State, url: str, depth: int | None, max_pages: int | None) -> None:
    """Add a page or gallery to scan for re-uploads (same site, bounded depth and pages).

    \b
    Example:
      ntd-monitor watch add https://board.example/gallery --depth 1 --max-pages 200
    """

    source = add_source(state.db(), url, state.config, depth=depth, max_pages=max_pages)
    click.echo(
        f"watching {source['url']} (depth {source['depth']}, "
        f"max {source['max_pages']} pages, next scan {source['next_scan_at']})"
    )
