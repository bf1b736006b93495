"""Per-hoster availability reports: statistics, model, renderers (html, csv, json, md), browse.

Entry points: `reports.build.build_report(db, config, ..., now=...)`,
`reports.render.render(report, fmt)` and `write_report(report, out, fmt)`;
`reports.browse.browse(db_path)` for Datasette.

May import: monitor.store, monitor.core, hashes.
"""
