"""Render a `Report` in one of the formats (json, csv, md, html) and write it to a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reports.model import Report
from reports.render_html import render_html
from reports.render_text import render_csv, render_json, render_md

FORMATS = ("json", "csv", "md", "html")
_SUFFIX = {
    ".json": "json",
    ".csv": "csv",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
}


def render(report: Report, fmt: str, *, show_urls: bool = False) -> str:
    """The report as text. JSON and CSV never contain URLs; md/html redact them by default."""
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "md":
        return render_md(report, show_urls=show_urls)
    if fmt == "html":
        return render_html(report, show_urls=show_urls)
    raise ValueError(f"unknown report format {fmt!r} (use one of {', '.join(FORMATS)})")


def format_for(path: str | os.PathLike[str], default: str = "html") -> str:
    """The format a file name implies (`.json` -> json ...), else `default`."""
    return _SUFFIX.get(Path(path).suffix.lower(), default)


def write_report(
    report: Report, out: str | os.PathLike[str], fmt: str | None = None, *, show_urls: bool = False
) -> Path:
    """Render and write atomically (a temporary file renamed into place). Returns the path."""
    target = Path(out)
    text = render(report, fmt or format_for(target), show_urls=show_urls)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
