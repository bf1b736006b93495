"""The simulated world's videos: video items served as video/mp4 with byte ranges (and one
hoster that ignores them), takedown behaviours for videos, video re-uploads that match their
original under vPDQ while the galleries' distractors match nothing, and the truth and import
files that list them (plain aiohttp client on loopback)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import timedelta

import aiohttp
import pytest

from hashes.video import VideoUndecodable, video_signature
from hashes.video_text import parse, to_text
from hashes.vpdq_match import match
from monitor.sim import truth, videos
from monitor.sim.plan import generate
from monitor.sim.scenario import ScenarioError, from_dict, load

SPH = truth.VIDEO_BASELINE_SPH  # baselines are dense; queries at the reference's 1 s


def video_scenario(**extra):
    """Two video hosters: "Ranged" answers Range requests, "Plain" ignores them. Every item is
    re-uploaded on its own hoster, each video hoster has one distractor."""
    base = {"delay": {"never_share": 1.0}, "galleries": 1}  # never removed
    return from_dict(
        {
            "name": "videos",
            "seed": 5,
            "start": "2026-01-05T00:00:00Z",
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "reupload_share": 0.0,
            "video_reupload_share": 1.0,
            "reupload_other_hoster_share": 0.0,
            "reupload_after_days": [0.1, 0.2],
            "video_distractors": 1,
            "hosters": [
                {"name": "Ranged", "asn": 64700, "items": 1, "formats": {"mp4": 1}, **base},
                {
                    "name": "Plain",
                    "asn": 64701,
                    "items": 1,
                    "formats": {"mp4": 1},
                    "ranges": False,
                    **base,
                },
            ],
            **extra,
        }
    )


async def get(session, url, **kw):
    async with session.get(url, allow_redirects=False, **kw) as resp:
        return resp.status, resp.headers, await resp.read()


def _second():
    return timedelta(seconds=1)


@pytest.fixture
async def world(make_world):
    w = await make_world(video_scenario())
    w.set_now(max(r.appear_at for r in w.plan.reuploads()))  # everything online
    return w


def test_byte_range_answers():
    n = 1000
    assert videos.byte_range(None, n) == videos.Slice(200, 0, n)
    assert videos.byte_range("bytes=0-99", n) == videos.Slice(206, 0, 100)
    assert videos.byte_range("bytes=900-", n) == videos.Slice(206, 900, n)
    assert videos.byte_range("bytes=990-5000", n) == videos.Slice(206, 990, n)  # clipped
    assert videos.byte_range("bytes=-10", n) == videos.Slice(206, 990, n)  # the last 10
    assert videos.byte_range("bytes=-5000", n) == videos.Slice(206, 0, n)
    assert videos.byte_range("bytes=1000-", n).status == 416
    assert videos.byte_range("bytes=-0", n).status == 416
    for ignored in ("bytes=0-1,5-6", "items=0-1", "bytes=5-1", "bytes=a-b", "bytes=-", "bytes"):
        assert videos.byte_range(ignored, n) == videos.Slice(200, 0, n), ignored


async def test_a_video_item_is_served_whole_and_decodes(world):
    ranged = next(i for i in world.plan.reports() if i.hoster == "Ranged")
    assert ranged.is_video and ranged.path.endswith(".mp4")
    async with aiohttp.ClientSession() as s:
        status, headers, body = await get(s, world.url(ranged))
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert headers["Accept-Ranges"] == "bytes"
    assert body == world.body(ranged)
    sig = video_signature(body)
    assert len(sig.frames) >= int(videos.seconds(ranged.seed)) - 1  # one hash a second
    assert world.video_stats["responses"] == 1 and world.video_stats["bytes"] == len(body)


async def test_range_requests(world):
    ranged = next(i for i in world.plan.reports() if i.hoster == "Ranged")
    plain = next(i for i in world.plan.reports() if i.hoster == "Plain")
    whole = world.body(ranged)
    n = len(whole)
    async with aiohttp.ClientSession() as s:
        status, headers, body = await get(s, world.url(ranged), headers={"Range": "bytes=100-4195"})
        assert status == 206 and body == whole[100:4196]
        assert headers["Content-Range"] == f"bytes 100-4195/{n}"
        assert headers["Content-Type"] == "video/mp4"
        status, headers, body = await get(s, world.url(ranged), headers={"Range": "bytes=5000-"})
        assert status == 206 and body == whole[5000:]
        assert headers["Content-Range"] == f"bytes 5000-{n - 1}/{n}"
        status, _, body = await get(s, world.url(ranged), headers={"Range": "bytes=-64"})
        assert status == 206 and body == whole[-64:]
        status, headers, body = await get(s, world.url(ranged), headers={"Range": f"bytes={n}-"})
        assert status == 416 and headers["Content-Range"] == f"bytes */{n}" and not body
        # the hoster that ignores ranges: 200 and the whole body, whatever was asked
        status, headers, body = await get(s, world.url(plain), headers={"Range": "bytes=0-99"})
        assert status == 200 and body == world.body(plain) and "Content-Range" not in headers
        assert "Accept-Ranges" not in headers
    assert world.video_stats["partial"] == 3
    # a prefix decodes as far as it goes: enough for a check to stop early
    head = video_signature(whole[: n // 2], partial=True)
    assert head.truncated and head.frames


async def test_reuploads_match_their_original_and_distractors_do_not(world):
    originals = {i.id: i for i in world.plan.reports()}
    copies = world.plan.reuploads()
    assert len(copies) == 2 and all(c.is_video and c.path.endswith(".mp4") for c in copies)
    assert {c.transform for c in copies} <= set(videos.TRANSFORMS)
    baseline = {
        i.id: video_signature(world.body(i), seconds_per_hash=SPH) for i in originals.values()
    }
    async with aiohttp.ClientSession() as s:
        for copy in copies:
            status, headers, body = await get(s, world.url(copy))
            assert status == 200 and headers["Content-Type"] == "video/mp4"
            assert body != world.body(originals[copy.of])
            query = video_signature(body)
            assert match(query, baseline[copy.of]).is_match, copy.transform
            for other, sig in baseline.items():
                if other != copy.of:
                    assert not match(query, sig).is_match
        assert len(world.plan.distractors) == 2
        for d in world.plan.distractors:
            status, _, body = await get(s, world.url(d))
            assert status == 200
            query = video_signature(body)
            for sig in baseline.values():
                assert match(query, sig).query_percent == 0.0


def test_every_video_transform_matches(world):
    original = world.plan.reports()[0]
    data = world.body(original)
    target = video_signature(data, seconds_per_hash=SPH)
    for kind in videos.TRANSFORMS:
        copy = videos.render_transformed(data, kind, original.seed)
        assert copy != data
        assert match(video_signature(copy), target).is_match, kind
    different = video_signature(world.body(original, "different"))
    assert match(different, target).query_percent == 0.0
    with pytest.raises(ValueError):
        videos.variant_options("mirror", 1)


async def test_galleries_show_videos(world):
    async with aiohttp.ClientSession() as s:
        for hoster in ("Ranged", "Plain"):
            [gallery] = world.gallery_urls(hoster)
            page = (await get(s, gallery))[2].decode()
            shown = [i for i in world.plan.items + world.plan.distractors if i.hoster == hoster]
            assert len(shown) == 3  # the reported video, a re-upload, a distractor
            for item in shown:
                assert item.path in page
            assert f'<source src="{shown[0].path}" type="video/mp4">' in page
            assert page.count("<video controls") == 2 and page.count("download video") == 1
            assert "og:image" not in page  # no still on it


async def test_takedown_behaviours_of_video_items(make_world):
    behaviours = ("410", "placeholder", "different_image", "corrupt", "redirect_front")
    scn = from_dict(
        {
            "name": "video-behaviours",
            "seed": 3,
            "start": "2026-01-05T00:00:00Z",
            "report_window_days": 0,
            "notice_delay_hours": [0, 0],
            "hosters": [
                {
                    "name": f"H {b}",
                    "asn": 64710 + n,
                    "items": 1,
                    "formats": {"mp4": 1},
                    "delay": {"dist": "fixed", "median_hours": 10},
                    "after": {b: 1},
                }
                for n, b in enumerate(behaviours)
            ],
        }
    )
    world = await make_world(scn, now="2026-01-06T00:00:00Z")  # all removed
    items = {i.after: i for i in world.plan.reports()}
    async with aiohttp.ClientSession() as s:
        status, _, _ = await get(s, world.url(items["410"]))
        assert status == 410
        status, headers, body = await get(s, world.url(items["placeholder"]))
        assert status == 200 and headers["Content-Type"] == "image/png"  # the image placeholder
        status, headers, _ = await get(s, world.url(items["redirect_front"]))
        assert status == 302 and headers["Location"] == "/"
        status, headers, body = await get(s, world.url(items["different_image"]))
        assert status == 200 and headers["Content-Type"] == "video/mp4"
        original = video_signature(world.body(items["different_image"]), seconds_per_hash=SPH)
        assert not match(video_signature(body), original).is_match  # another video
        status, headers, body = await get(s, world.url(items["corrupt"]))
        assert status == 200 and headers["Content-Type"] == "video/mp4"
        with pytest.raises(VideoUndecodable):
            video_signature(body)


async def test_truth_and_import_files_list_videos(make_world, tmp_path):
    scn = video_scenario(baseline_share=1.0, hash_list_share=1.0)
    world = await make_world(scn)
    files = truth.write(world, tmp_path)
    data = json.loads(files["truth"].read_text())
    plan = world.plan
    assert data["videos"]["items"] == [i.id for i in plan.reports()]
    assert all(i["kind"] == "video" and i["format"] == "mp4" for i in data["items"])
    rows = {r["id"]: r for r in data["videos"]["reuploads"]}
    for copy in plan.reuploads():
        row = rows[copy.id]
        assert row["of"] == copy.of and row["transform"] == copy.transform
        assert row["hoster"] == copy.hoster and row["url"] == world.url(copy)
        assert row["of_url"] == world.url(plan.by_id()[copy.of]) and row["kind"] == "video"
    assert [d["url"] for d in data["videos"]["distractors"]] == [
        world.url(d) for d in plan.distractors
    ]

    reports = list(csv.DictReader(io.StringIO(files["reports"].read_text())))
    assert list(reports[0])[-1] == "vpdq" and len(reports) == 2
    for row in reports:
        item = next(i for i in plan.reports() if world.url(i) == row["url"])
        body = world.body(item)
        assert row["sha256"] == hashlib.sha256(body).hexdigest()
        assert row["phash"] == row["pdq"] == ""
        frames = parse(row["vpdq"])
        assert row["vpdq"] == to_text(video_signature(body, seconds_per_hash=SPH))
        assert len(frames) >= 4 * int(videos.seconds(item.seed)) - 4  # four a second
    listed = list(csv.DictReader(io.StringIO(files["hashes"].read_text())))
    assert {r["algorithm"] for r in listed} == {"vpdq"} and len(listed) == 2
    assert {r["label"] for r in listed} == {i.reference for i in plan.reports()}
    assert all(parse(r["hash"]) for r in listed)


async def test_canary_rides_in_a_video_that_still_decodes(make_world):
    world = await make_world(video_scenario(), canary=b"NTD-CANARY-VIDEO")
    item = world.plan.reports()[0]
    body = world.body(item)
    assert b"NTD-CANARY-VIDEO" in body
    assert video_signature(body).frames


def test_default_world_serves_videos():
    plan = generate(load("default"))
    reported = [i for i in plan.reports() if i.is_video]
    copies = [r for r in plan.reuploads() if r.is_video]
    assert len(plan.reports()) == 230  # the item counts of the default world stay
    assert {i.hoster for i in reported} == {"Tulip Images", "Rhine Cloud", "Canal Media"}
    assert len(reported) == 18 and len(copies) == 6 and len(plan.distractors) == 6
    by_id = plan.by_id()
    for copy in plan.reuploads():
        original = by_id[copy.of or ""]
        assert copy.is_video == original.is_video  # videos copy to videos, images to images
        assert copy.transform in (videos.TRANSFORMS if copy.is_video else plan.scenario.transforms)
    rhine = plan.hoster("Rhine Cloud")
    assert not rhine.ranges and rhine.videos and plan.hoster("Tulip Images").ranges


def test_scenario_checks_video_keys():
    assert video_scenario().hosters[1].ranges is False
    with pytest.raises(ScenarioError):
        video_scenario(video_transforms=["mirror"])
    with pytest.raises(ScenarioError):
        from_dict({"hosters": [{"name": "X", "asn": 1, "formats": {"avi": 1}}]})


def test_demo_video_block_prints_what_is_there():
    from collections import Counter

    from monitor.sim.demo.videos import VideoTally, lines

    t = VideoTally(
        reported=4,
        with_baseline=2,
        in_hash_list=1,
        checks=Counter({("online", "online"): 10, ("down", "down"): 3, ("down", "online"): 1}),
        removed=2,
        lags=[1.5, -0.5],
        served=3,
        found=2,
        missed=Counter({"trimmed": 1}),
        distractors=2,
        world={"responses": 14, "partial": 9, "bytes": 3 * 2**20},
    )
    block = lines(t)
    assert block[0] == (
        "reported videos: 4 (2 with a vpdq baseline, 1 in the hash list); 14 rechecks against "
        "the truth: 13 agree (10 online, 3 down), 1 false removals, 0 missed, 0 no verdict"
    )
    assert "2/2 removed ones measured (median +0.5 h" in block[1]
    assert "1 measured before it" in block[1]
    assert block[-2] == (
        "video re-uploads: 3 put online by the world, 2 found (67%) (missed: 1 trimmed); "
        "0 false vpdq finds (0 at the 2 distractors)"
    )
    assert block[-1] == (  # no stats: said so
        "the world sent 3.0 MB of video in 14 responses (9 partial); no video crawl stats recorded"
    )
    t.stats = {"bytes": 2**20, "checks": 14}
    assert lines(t)[-2:] == [
        "video rechecks (crawl stats): 1.0 MB, checks 14",
        "the world sent 3.0 MB of video in 14 responses (9 partial)",
    ]
    assert lines(VideoTally()) == ["video: the world served no videos"]
