"""Partition leases on a real redis-server: one worker per hoster queue, fair shares, expiry
after a worker dies; and the wire format of checks and items."""

from __future__ import annotations

import time

from monitor.distributed.conn import connect
from monitor.distributed.keys import Keys, check_message, decode_item, encode_item, parse_check
from monitor.distributed.leases import PartitionLeases
from monitor.store.due import DueCheck

KEYS = Keys("t")


def fill(client, parts: dict[str, int]) -> None:
    for part, n in parts.items():
        for i in range(n):
            client.lpush(KEYS.queue("recheck", part), f"{part}-{i}")
        client.sadd(KEYS.partitions("recheck"), part)


def test_a_queue_is_held_by_one_worker_and_shares_are_fair(redis_server):
    client = connect(redis_server.url)
    fill(client, {"A": 5, "B": 5, "C": 5, "D": 5})
    one = PartitionLeases(client, KEYS, "recheck", "one", lease_s=5)
    two = PartitionLeases(client, KEYS, "recheck", "two", lease_s=5)
    assert sorted(one.refresh()) == ["A", "B", "C", "D"]  # alone: everything
    held_two = two.refresh()  # nothing free yet
    assert held_two == []
    one.refresh(busy=["A", "B", "C", "D"])  # over its share of 2: drains two
    assert len(one.draining) == 2
    one.refresh()  # drained: gives them up
    assert len(one.held) == 2 and not one.draining
    assert len(two.refresh()) == 2
    assert set(one.held).isdisjoint(two.held)
    from_one, from_two = one.take(100), two.take(100)
    assert {p for p, _ in from_one} == set(one.held)  # only from queues it holds
    assert {p for p, _ in from_two} == set(two.held)
    assert sorted(m.decode() for _, m in from_one + from_two) == sorted(
        f"{p}-{i}" for p in "ABCD" for i in range(5)
    )  # each message exactly once


def test_a_dead_workers_queues_are_taken_over_after_the_lease(redis_server):
    client = connect(redis_server.url)
    fill(client, {"A": 3})
    dead = PartitionLeases(client, KEYS, "recheck", "dead", lease_s=0.3)
    live = PartitionLeases(client, KEYS, "recheck", "live", lease_s=0.3)
    assert dead.refresh() == ["A"]
    assert live.refresh() == []
    time.sleep(0.4)  # "dead" never renews
    assert live.refresh() == ["A"]
    assert dead.refresh() == []  # its renewal fails: not its own
    assert [m for _, m in live.take(10)] == [b"A-0", b"A-1", b"A-2"]


def test_messages_and_items_round_trip():
    from spiders.items import CheckItem, SeenImage

    check = DueCheck(
        7,
        "http://h.example/a.jpg",
        "2026-01-01T01:00:00Z",
        (("phash", "ab" * 8), ("pdq", "cd" * 32)),
        64500,
        "Example",
    )
    back = parse_check(check_message(check))
    assert back == DueCheck(7, check.url, check.due_at, check.baseline, 64500, None)
    item = CheckItem(
        report_id=1,
        url="u",
        due_at="d",
        checked_at="c",
        outcome="removed",
        reason="http_404",
        http_status=404,
        redirects=(("u2", 301),),
        new_baseline=(("phash", "ab", None),),
    )
    kind, rec = decode_item(encode_item(item))
    assert kind == "CheckItem" and CheckItem(**vars(rec)) == item
    seen = SeenImage(
        url="u",
        page_url="p",
        ip="::1",
        seen_at="s",
        phash="a",
        pdq=None,
        pdq_quality=None,
        sha256="x",
        md5="y",
        sha1="z",
        pdq_dihedral=("q",),
    )
    kind, rec = decode_item({k.encode(): v.encode() for k, v in encode_item(seen).items()})
    assert kind == "SeenImage" and SeenImage(**vars(rec)) == seen
