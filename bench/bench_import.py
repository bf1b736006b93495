"""Import throughput: `import reports` (validating, normalising) beside a plain
`sqlite-utils insert` of the same CSV, measured in the same run.

    python bench/bench_import.py [--rows 1000000] [--quick]

Goal (issue 2): ours >= 0.5x the plain insert's rows/s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor import store  # noqa: E402
from monitor.core.config import Config  # noqa: E402
from monitor.intake.reports import import_reports  # noqa: E402


def make_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("url,reference,reported_at,noticed_at\n")
        for i in range(rows):
            fh.write(
                f"https://host{i % 997}.example/gallery/{i // 997}/image-{i}.jpg,"
                f"CASE-{i},2026-11-01T10:{i % 60:02d}:00Z,"
                f"2026-11-01T11:{i % 60:02d}:00+01:00\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k rows")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    csv_path = work / "reports.csv"
    make_csv(csv_path, rows)
    ours, plain = [], []
    sqlite_utils = Path(sys.executable).with_name("sqlite-utils")
    for n in range(args.repeat):
        db_path = work / f"plain-{n}.db"
        started = time.perf_counter()
        subprocess.run(
            [str(sqlite_utils), "insert", str(db_path), "reports", str(csv_path), "--csv"],
            check=True,
        )
        plain.append(rows / (time.perf_counter() - started))
        db = store.connect(work / f"ours-{n}.db")
        started = time.perf_counter()
        result = import_reports(db, csv_path, Config())
        ours.append(rows / (time.perf_counter() - started))
        assert result.added == rows and result.bad == 0
    o, p = statistics.median(ours), statistics.median(plain)
    print(f"rows: {rows}")
    print(f"ours  (validate + normalise + dedupe key + schedule): {o:10.0f} rows/s")
    print(f"plain sqlite-utils insert --csv (same file):          {p:10.0f} rows/s")
    print(f"ratio ours/plain = {o / p:.2f}x (goal >= 0.5x)")


if __name__ == "__main__":
    main()
