"""The command line: every command has help with an Example; errors are one line, exit 2."""

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from monitor.cli.main import COMMANDS, cli


def all_commands(group: click.Group, prefix=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # contributed commands (sim, demo) included
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        yield path, command
        if isinstance(command, click.Group):
            yield from all_commands(command, path)


def test_the_help_listing_summaries_are_the_commands_own():
    """`ntd-monitor --help` lists commands without loading them (monitor.cli.main.COMMANDS):
    each summary must be the first paragraph of the command's own help, and the listing names
    every command."""
    ctx = click.Context(cli)
    for name, (_target, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.help is not None, name
        first = " ".join(command.help.strip().split("\n\n")[0].split())
        assert first == summary, name
    listing = CliRunner().invoke(cli, ["--help"]).output
    for name in cli.list_commands(ctx):
        assert f"  {name} " in listing, name


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    paths = [p for p, _ in all_commands(cli)]
    contract = {
        ("init",),
        ("import", "reports"),
        ("import", "hashes"),
        ("hosters", "import"),
        ("hosters", "list"),
        ("watch", "add"),
        ("schedule",),
        ("crawl",),
        ("run",),
        ("status",),
        ("alerts", "send"),
        ("alerts", "list"),
        ("report",),
        ("asn", "resolve"),
        ("browse",),
        ("sim", "serve"),
        ("worker",),
        ("ingest",),
        ("demo",),
    }
    assert contract <= set(paths)
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example:" in result.output, path


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["--db", str(tmp_path / "c.db"), *args])

    return invoke


def test_import_status_schedule_flow(run, tmp_path):
    reports = tmp_path / "r.csv"
    reports.write_text(
        "url,reference,noticed_at\nhttp://a.example/1.jpg,C1,2026-11-01T00:00:00Z\ngopher://x,C2,\n"
    )
    result = run("import", "reports", str(reports))
    assert result.exit_code == 2
    assert f"{reports}:3: url:" in result.output
    assert "added 1 reports" in result.output
    status = run("status", "--format", "json")
    assert status.exit_code == 0
    rows = json.loads(status.output)
    assert rows[0]["state"] == "unchecked" and rows[0]["kind"] == "report"
    for k in (
        "id",
        "url",
        "reference",
        "noticed_at",
        "state",
        "last_outcome",
        "last_checked_at",
        "last_online_at",
        "first_down_at",
        "takedown_at",
        "reappearances",
        "hoster",
        "asn",
    ):
        assert k in rows[0]
    sched = json.loads(run("--now", "2026-11-01T02:00:00Z", "schedule", "--format", "json").output)
    assert sched[0]["due_now"] == 1
    sched = json.loads(run("--now", "2026-11-01T00:30:00Z", "schedule", "--format", "json").output)
    assert sched[0]["due_now"] == 0 and sched[0]["next_due_at"] == "2026-11-01T01:00:00Z"


def test_hosters_and_watch(run, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("name,asn,country,abuse_email\nExample Hosting,64500,NL,abuse@ex.example\n")
    assert run("hosters", "import", str(path)).exit_code == 0
    rows = json.loads(run("hosters", "list", "--format", "json").output)
    assert rows[0]["name"] == "Example Hosting" and rows[0]["asns"] == [64500]
    out = run("watch", "add", "http://board.example/gallery", "--depth", "1")
    assert out.exit_code == 0 and "watching http://board.example/gallery" in out.output
    assert run("watch", "add", "file:///etc/passwd").exit_code == 2


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--now", "tomorrow", "status"], "--now"),
        (["import", "reports", "/nonexistent/file.csv"], "cannot read"),
        (["--config", "/nonexistent.toml", "status"], "config file not found"),
    ],
)
def test_errors_are_one_line_exit_2(run, args, needle):
    result = run(*args)
    assert result.exit_code == 2
    assert needle in result.output
    assert "Traceback" not in result.output


def test_status_without_database_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "status"])
    assert result.exit_code == 2 and "ntd-monitor init" in result.output


def test_real_subprocess(tmp_path):
    env = {**os.environ, "NTD_DB": str(tmp_path / "s.db")}
    init = subprocess.run(
        [sys.executable, "-m", "monitor", "init"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    assert "schema version" in init.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("nope\n1\n")
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "import", "reports", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown column" in out.stderr
