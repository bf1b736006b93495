"""The house's shape, before and after the restructure (issue 20), measured in one run.

For the working tree and for the commit before the restructure (extracted with `git archive`
into a temporary directory): the largest module and function (lines), imports inside functions
(and how many carry a comment saying why), import cycles between our modules (strongly connected
components of the graph of every import, module- or function-level), and mypy errors with
`check_untyped_defs`. Prints both columns side by side.

Run: .venv/bin/python bench/bench_house.py [BASELINE_COMMIT]
"""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "f124643"  # main just before the restructure
PACKAGES = ("monitor", "spiders", "hashes", "reports")


@dataclass(frozen=True)
class Shape:
    largest_module: tuple[int, str]
    largest_function: tuple[int, str]
    inner_imports: int
    inner_commented: int
    cycles: list[list[str]]
    mypy_errors: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources(root: Path) -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py"))


def resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported(root: Path, path: Path, known: set[str]) -> set[str]:
    """Our modules `path` imports (a `from package import name` counts the submodule)."""
    current = module_name(root, path)
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = resolve(current, path.name == "__init__.py", node)
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != current:
                out.add(name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def inner_imports(path: Path) -> tuple[int, int]:
    """Imports inside functions, and how many say why: a comment on the import's own lines, or
    directly above the run of import lines it belongs to."""
    text = path.read_text()
    lines = text.splitlines()
    count = commented = 0
    for fn in ast.walk(ast.parse(text)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom):
                count += 1
                commented += _says_why(lines, node.lineno, node.end_lineno or node.lineno)
    return count, commented


def _says_why(lines: list[str], first: int, last: int) -> bool:
    if any("#" in line for line in lines[first - 1 : last]):
        return True
    above = first - 2
    while above >= 0 and (
        not lines[above].strip() or lines[above].strip().startswith(("from ", "import ", ")"))
    ):
        if "#" in lines[above]:
            return True
        above -= 1
    return above >= 0 and "#" in lines[above]  # a comment line, or the `try:  # why` above


def measure(root: Path) -> Shape:
    files = sources(root)
    known = {module_name(root, p) for p in files}
    graph = {module_name(root, p): imported(root, p, known) for p in files}
    biggest = max((len(p.read_text().splitlines()), str(p.relative_to(root))) for p in files)
    longest = (0, "")
    inner = commented = 0
    for p in files:
        for fn in ast.walk(ast.parse(p.read_text())):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (fn.end_lineno or fn.lineno) - fn.lineno + 1
                longest = max(longest, (size, f"{p.relative_to(root)}:{fn.name}"))
        n, c = inner_imports(p)
        inner += n
        commented += c
    return Shape(biggest, longest, inner, commented, cycles(graph), mypy_errors(root))


def mypy_errors(root: Path) -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--check-untyped-defs",
            "--no-incremental",
            "--ignore-missing-imports",
            *[p for p in PACKAGES if (root / p).is_dir()],
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    return sum(1 for line in done.stdout.splitlines() if ": error:" in line)


def extract(commit: str, into: Path) -> Path:
    data = subprocess.run(
        ["git", "archive", commit, *PACKAGES], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    commit = sys.argv[1] if len(sys.argv) > 1 else BASELINE
    with tempfile.TemporaryDirectory(prefix="ntd-house-") as tmp:
        before = measure(extract(commit, Path(tmp)))
    after = measure(ROOT)
    rows = [
        ("largest module (lines)", before.largest_module, after.largest_module),
        ("largest function (lines)", before.largest_function, after.largest_function),
        ("imports inside functions", before.inner_imports, after.inner_imports),
        ("  of them commented", before.inner_commented, after.inner_commented),
        ("import cycles", len(before.cycles), len(after.cycles)),
        ("mypy errors (check_untyped_defs)", before.mypy_errors, after.mypy_errors),
    ]
    print(f"{'figure':34} {'before (' + commit + ')':>40} {'after (working tree)':>40}")
    for name, b, a in rows:
        print(f"{name:34} {_show(b):>40} {_show(a):>40}")
    for label, shape in (("before", before), ("after", after)):
        for cycle in shape.cycles:
            print(f"cycle {label}: {' <-> '.join(cycle)}")


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return f"{value[0]} {value[1]}"
    return str(value)


if __name__ == "__main__":
    main()
