"""Per-hoster availability reports: statistics, model, renderers (html, csv, json, md), browse.

Public entry points: `build_report(db, config, ..., now=...)`, `render(report, fmt)`,
`write_report(report, out, fmt)`; `reports.browse.browse(db_path)` for Datasette.
"""

from reports.build import build_report
from reports.render import FORMATS, render, write_report

__all__ = ["FORMATS", "build_report", "render", "write_report"]
