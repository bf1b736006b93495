"""The hosters' tools' view of everything a short demo sends: every webhook verified by the
`standardwebhooks` library, every XARF attachment valid under the `xarf` package and the
official schemas (strict mode asking only for fields we must not send), and the demo's closing
line saying so."""

import pytest

from monitor.alerts.xarf import NOT_SENT
from monitor.demo import run_demo
from monitor.demo_print import receivers_line

pytest.importorskip("standardwebhooks")
pytest.importorskip("xarf")


async def test_every_alert_the_demo_sends_passes_the_receivers_tools(tmp_path):
    result = await run_demo(days=5, hosters=3, reports=30, seed=4, out=tmp_path, progress=False)
    r = result.reuploads
    assert r.library and r.hooks_posted >= 1 and r.xarf_sent >= 1
    assert r.hooks_by_library == r.hooks_posted
    assert r.xarf_valid == r.xarf_sent
    # strict mode asks only for what we must not send, and domain (the demo's hosts are IPs)
    assert r.xarf_strict_gaps <= set(NOT_SENT) | {"domain"}, r.xarf_strict_gaps
    assert receivers_line(r) == (f"webhooks verified by standardwebhooks: {r.hooks_posted}/"
                                 f"{r.hooks_posted} sent; XARF valid: {r.xarf_sent}/"
                                 f"{r.xarf_sent} sent")
