"""Scenarios load and check; plans are deterministic; the truth and import files add up."""

from __future__ import annotations

import csv
import io
import json
import statistics

import aiohttp
import pytest

from hashes.formats import normalize
from monitor.core import clock
from monitor.sim import scenario, truth
from monitor.sim.plan import generate, phase_at


@pytest.mark.parametrize("name", ["tiny", "default", "bench"])
def test_shipped_scenarios_load(name):
    scn = scenario.load(name)
    assert scn.name == name and scn.hosters
    assert scenario.load(scenario.shipped(name)) == scn


def test_plan_is_deterministic_and_seed_dependent():
    scn = scenario.load("tiny")
    assert generate(scn) == generate(scn)
    other = scenario.from_dict({**_tiny_dict(), "seed": 8})
    assert [i.path for i in generate(other).items] != [i.path for i in generate(scn).items]


def _tiny_dict():
    import tomllib

    return tomllib.loads(scenario.shipped("tiny").read_text())


def test_json_scenarios_load(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "name": "j",
                "seed": 1,
                "start": "2026-02-01T00:00:00Z",
                "hosters": [{"name": "J", "asn": 65000, "items": 3}],
            }
        )
    )
    scn = scenario.load(path)
    assert scn.hosters[0].ip == "127.0.1.1" and len(generate(scn).items) == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"hosters": []},
        {"hosters": [{"name": "X"}]},
        {"hosters": [{"name": "X", "asn": 1, "after": {"explode": 1}}]},
        {"hosters": [{"name": "X", "asn": 1, "ip": "10.0.0.1"}]},
        {"hosters": [{"name": "X", "asn": 1, "colour": "red"}]},
        {"hosters": [{"name": "X", "asn": 1}], "start": "tomorrow"},
        {"hosters": [{"name": "X", "asn": 1}], "wibble": 3},
    ],
)
def test_bad_scenarios_are_refused(bad):
    with pytest.raises(scenario.ScenarioError):
        scenario.from_dict(bad)


def test_removal_times_follow_the_script():
    scn = scenario.load("default")
    plan = generate(scn)
    for item in plan.reports():
        assert phase_at(item, item.reported_at) == "online"
        if item.removal_at is not None:
            assert item.removal_at > item.noticed_at >= item.reported_at
            assert phase_at(item, item.removal_at) == item.after
    for copy in plan.reuploads():
        assert copy.appear_at is not None
        assert phase_at(copy, copy.appear_at) == "online"


async def test_truth_json_and_import_files(make_world, tmp_path):
    world = await make_world("default")
    files = truth.write(world, tmp_path, webhook_base="http://127.0.0.1:9999")
    data = json.loads(files["truth"].read_text())
    plan = world.plan
    assert len(data["items"]) == len(plan.reports())
    assert len(data["reuploads"]) == len(plan.reuploads())
    first = data["items"][0]
    assert first["url"].startswith("http://127.0.1.") and str(world.port) in first["url"]
    assert {
        "hoster",
        "asn",
        "noticed_at",
        "removed_at",
        "behaviour",
        "reuploads",
        "reappeared_at",
    } <= set(first)
    # per hoster figures match a direct computation
    for row in data["hosters"]:
        mine = [i for i in data["items"] if i["hoster"] == row["name"]]
        hours = [
            i["removal_hours"] if i["removal_hours"] is not None else float("inf") for i in mine
        ]
        median = statistics.median(hours)
        assert row["median_hours"] == (None if median == float("inf") else round(median, 3))
        assert row["within_24h"] == round(sum(h <= 24 for h in hours) / len(hours), 4)
    offshore = next(r for r in data["hosters"] if r["name"] == "Offshore Bits")
    assert offshore["never_removed"] > 0
    # dns_gone items use their hostname
    gone = [i for i in data["items"] if i["after"] == "dns_gone"]
    assert gone and all(i["url"].startswith(f"http://{i['hostname']}:") for i in gone)

    reports = list(csv.DictReader(io.StringIO(files["reports"].read_text())))
    assert len(reports) == len(plan.reports())
    assert list(reports[0]) == [
        "url",
        "reference",
        "reported_at",
        "noticed_at",
        "phash",
        "pdq",
        "sha256",
        "vpdq",  # the last column: a video report's dense vPDQ signature
    ]
    with_hashes = [r for r in reports if r["phash"]]
    assert with_hashes
    for row in with_hashes:
        normalize("phash", row["phash"])
        normalize("sha256", row["sha256"])
        clock.parse(row["reported_at"])

    hosters = list(csv.DictReader(io.StringIO(files["hosters"].read_text())))
    assert [h["name"] for h in hosters] == [h.name for h in world.scenario.hosters]
    reseller = next(h for h in hosters if h["name"] == "Dike Reseller")
    assert reseller["prefix"] == "127.0.1.3/32" and reseller["asn"] == "64510"
    hooked = [h for h in hosters if h["webhook_url"]]
    assert hooked and all(h["webhook_secret_env"].startswith("NTD_SIM_WEBHOOK_") for h in hooked)
    assert set(truth.webhook_secrets(world.scenario)) == {h["webhook_secret_env"] for h in hooked}

    listed = list(csv.DictReader(io.StringIO(files["hashes"].read_text())))
    assert listed and {r["algorithm"] for r in listed} >= {"phash", "sha256"}
    for r in listed:
        normalize(r["algorithm"], r["hash"])


async def test_baseline_hashes_match_what_is_served(make_world, tmp_path):
    world = await make_world("tiny")
    rows = list(csv.DictReader(io.StringIO(truth.reports_csv(world))))
    row = next(r for r in rows if r["sha256"])
    async with aiohttp.ClientSession() as s:
        async with s.get(row["url"]) as resp:
            body = await resp.read()
    got = truth.image_hashes(body)
    assert got["phash"] == row["phash"] and got["sha256"] == row["sha256"]
    assert got.get("pdq", "") == row["pdq"]


async def test_truth_over_admin_endpoint(sim_world):
    async with aiohttp.ClientSession() as s:
        async with s.get(sim_world.admin_url + "/__admin/truth") as resp:
            data = await resp.json()
    assert data["scenario"] == "tiny" and data["port"] == sim_world.port
    assert len(data["hosters"]) == 3
