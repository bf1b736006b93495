"""The simulation's commands, `sim serve` and `demo`: contributed to `ntd-monitor` through the
`ntd_monitor.commands` entry point group, so the production command line never imports sim/."""

from __future__ import annotations

import asyncio

import click


@click.group()
def sim() -> None:
    """The simulated hoster world (loopback only), for tests, demos and benchmarks.

    \b
    Example:
      ntd-monitor sim serve --scenario monitor/sim/scenarios/tiny.toml
    """


@sim.command("serve")
@click.option("--scenario", required=True, help="Scenario file or shipped name.")
@click.option(
    "--truth",
    type=click.Path(file_okay=False),
    help="Directory for truth.json and the import files (reports, hosters, hashes, cdns).",
)
def sim_serve(scenario, truth) -> None:
    """Run the simulated hoster world, its DNS and receivers until Ctrl-C.

    Everything binds to loopback only. A shipped scenario can be named (tiny, default,
    bench) instead of a path.

    \b
    Example:
      ntd-monitor sim serve --scenario monitor/sim/scenarios/tiny.toml
    """

    from monitor.sim.serve import serve  # loaded when run: `ntd-monitor --help` stays fast

    serve(scenario, truth_out=truth)


@click.command()
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--hosters", "n_hosters", type=click.IntRange(1, 60), default=8, show_default=True)
@click.option(
    "--reports", "n_reports", type=click.IntRange(1, 100000), default=500, show_default=True
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), default=".", show_default=True)
def demo(days, n_hosters, n_reports, seed, out) -> None:
    """Simulate a hoster world on loopback, run the whole job over simulated days, report.

    Writes demo-report.html and demo-report.json in --out, prints measured against true
    takedown times per hoster, and exits 1 when they differ beyond the measurement
    resolution.

    \b
    Example:
      ntd-monitor demo --days 30 --hosters 8 --reports 500
    """

    from monitor.sim.demo.run import print_result, run_demo  # loaded when run (see serve)

    result = asyncio.run(
        run_demo(days=days, hosters=n_hosters, reports=n_reports, seed=seed, out=out)
    )
    print_result(result)
    if not result.ok:
        raise SystemExit(1)
