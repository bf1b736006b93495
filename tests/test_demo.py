"""A short demo end to end: world, DNS, receivers, stepped crawl, report, measured vs. true."""

import json

from monitor.demo import run_demo


async def test_short_demo(tmp_path):
    result = await run_demo(days=5, hosters=3, reports=30, seed=4, out=tmp_path, progress=False)
    assert (tmp_path / "demo-report.html").exists()
    data = json.loads((tmp_path / "demo-report.json").read_text())
    assert sum(g["notices"] for g in data["groups"]) == 30
    assert result.checks >= 30 * 5  # every report got its early slots
    assert {c.hoster for c in result.comparisons} == {g["hoster"] for g in data["groups"]}
    assert result.ok, [c for c in result.comparisons if not c.ok]
    db_bytes = (tmp_path / "demo.db").read_bytes()
    assert b"\xff\xd8\xff" not in db_bytes  # no JPEG was ever stored
