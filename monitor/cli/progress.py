"""Progress display and closing summary for long work (rich), shared by crawl, run and demo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True)


@contextmanager
def crawl_progress(
    enabled: bool, label: str = "checks"
) -> Iterator[Callable[[int, int, dict[str, int]], None]]:
    """Yield an `update(done, total, outcome_counts)` callback drawing a progress bar
    (total 0: unknown, as for a distributed worker, shows a running count)."""
    if not enabled:
        yield lambda done, total, counts: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7.1f}/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[counts]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None, rate=0.0, counts="")

        def update(done: int, total: int, counts: dict[str, int]) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            bar.update(
                task,
                completed=done,
                total=max(total, done) if total else None,
                rate=done / elapsed if elapsed else 0.0,
                counts=" ".join(f"{k}={v}" for k, v in sorted(counts.items())),
            )

        yield update


def summary_table(title: str, rows: dict[str, object]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table
