"""The house's shape, enforced: the import-linter contracts in pyproject.toml (layers cli ->
runners -> spiders -> {reuploads, alerts, attribution, intake, reports, distributed} -> store ->
core; hashes imports nothing of ours; nothing outside monitor.sim imports it; no cycles between
siblings), and no import cycle between any two of our modules (every import counted, module- or
function-level, as bench/bench_house.py counts them)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _house():
    spec = importlib.util.spec_from_file_location("bench_house", ROOT / "bench/bench_house.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_house", module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def test_import_contracts_hold():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(no_cache=True, no_logo=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "4 kept, 0 broken" in done.stdout


def test_no_module_imports_itself_back():
    house = _house()
    files = house.sources(ROOT)
    known = {house.module_name(ROOT, p) for p in files}
    graph = {house.module_name(ROOT, p): house.imported(ROOT, p, known) for p in files}
    assert house.cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module cycle and a three-module cycle are found."""
    cycles = _house().cycles(
        {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    )
    assert sorted(cycles) == [["a", "b"], ["c", "d", "e"]]
