"""The HTML report in a real browser: headless Chromium over the DevTools protocol (aiohttp).

Opens the report from file://, asserts no console errors and no request other than the file
itself, that the charts and the ranking table render and the table sorts, and saves a
screenshot to docs/report.png. Skips without Chromium unless NTD_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from monitor import store
from monitor.core.config import Config
from reports import sample
from reports.build import build_report
from reports.render import write_report

NOW = "2026-03-01T00:00:00Z"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "report.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


@pytest.fixture
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("NTD_REQUIRE_BROWSER") == "1":
            pytest.fail("NTD_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium)")
        pytest.skip(
            "no Chromium found (apt-get install chromium); set NTD_REQUIRE_BROWSER=1 "
            "to make this a failure"
        )
    return path


class DevTools:
    """A minimal CDP client: numbered commands, events collected in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id, self.events = ws, 0, []
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def send(self, method: str, **params) -> dict:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 30)
        assert "error" not in reply, reply
        return reply["result"]

    async def wait_for(self, method: str, timeout: float = 30) -> dict:
        for _ in range(int(timeout * 20)):
            for event in self.events:
                if event["method"] == method:
                    return event
            await asyncio.sleep(0.05)
        raise TimeoutError(method)

    async def evaluate(self, expression: str):
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")


async def _devtools_port(proc: asyncio.subprocess.Process) -> int:
    assert proc.stderr is not None
    while True:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode(errors="replace")
        if not line:
            raise RuntimeError("chromium exited before its DevTools endpoint was up")
        if m := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line):
            return int(m.group(1))


async def test_html_report_in_headless_chromium(chromium, tmp_path) -> None:
    db = store.connect(tmp_path / "world.db")
    sample.fill(db, 6000, now=NOW, checks=14, seed=11)
    page = write_report(build_report(db, Config(), now=NOW), tmp_path / "report.html")
    proc = await asyncio.create_subprocess_exec(
        chromium,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        port = await _devtools_port(proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            target = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                cdp = DevTools(ws)
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await cdp.send(f"{domain}.enable")
                await cdp.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=1120,
                    height=1400,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await cdp.send("Page.navigate", url=page.as_uri())
                await cdp.wait_for("Page.loadEventFired")
                charts = await cdp.evaluate("document.querySelectorAll('svg.chart').length")
                rows = await cdp.evaluate(
                    "document.querySelectorAll('#ranking-table tbody tr').length"
                )
                width = await cdp.evaluate(
                    "document.querySelector('svg.chart').getBoundingClientRect().width"
                )
                paths = await cdp.evaluate("document.querySelectorAll('svg polyline').length")
                # sort by notices (3rd column): ascending, then descending
                sort_js = (
                    "(() => { document.querySelectorAll('#ranking-table th')[2].click();"
                    "return [...document.querySelectorAll('#ranking-table tbody tr')]"
                    ".map(r => +r.cells[2].dataset.v); })()"
                )
                ascending = await cdp.evaluate(sort_js)
                descending = await cdp.evaluate(sort_js)
                metrics = await cdp.send("Page.getLayoutMetrics")
                size = metrics["cssContentSize"]
                shot = await cdp.send(
                    "Page.captureScreenshot",
                    format="png",
                    captureBeyondViewport=True,
                    clip={
                        "x": 0,
                        "y": 0,
                        "width": size["width"],
                        "height": min(size["height"], 2700),
                        "scale": 1,
                    },
                )
                cdp.reader.cancel()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()

    events = cdp.events
    errors = [
        e
        for e in events
        if e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    requested = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    assert requested and all(u == page.as_uri() for u in requested), requested
    assert charts == 3 and paths >= 6 and width > 300
    assert rows == 9
    assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(png)
