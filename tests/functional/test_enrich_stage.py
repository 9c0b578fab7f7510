"""The enrichment stage's planning step on real records' shape: what each raw message becomes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from agents.enrich import SOURCE_OFFSET_HEADER, Cycle, Enricher, Names, Planner
from streams.topics import brand_partition
from tests.conftest import ROOT
from veille.dedup import DedupWindow
from veille.metrics import Metrics
from veille.rules import Watchlist
from veille.sentiment import Analyzer


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class Rec:
    """The fields of an aiokafka ConsumerRecord the stage reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


NAMES = Names("raw", "enriched", "dlq", "queue", "by_brand")


def good(i: str, text: str) -> bytes:
    return json.dumps({"id": i, "source": "t", "platform": "twitter", "text": text,
                       "created_at": datetime.now(UTC).isoformat()}).encode()


def planner(windows: dict[int, DedupWindow]) -> tuple[Planner, Metrics]:
    watchlist = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")
    analyzer = Analyzer()
    metrics = Metrics(CollectorRegistry(), watchlist.brand_ids, analyzer.languages)
    return Planner(Enricher(analyzer, watchlist), metrics, NAMES, windows, clock=lambda: 1000.0,
                   brand_partitions=4), metrics


def records(partition: int, messages: list[tuple[bytes | None, bytes]], start: int = 0) -> list[Rec]:
    return [Rec("raw", partition, start + i, k, v) for i, (k, v) in enumerate(messages)]


def count(metric: Any) -> float:
    return float(metric._value.get())


def test_a_batch_becomes_enriched_dead_rekeyed_and_queue_records() -> None:
    messages: list[tuple[bytes | None, bytes]] = [
        (b"a", good("a", "I love Acme Mobile!")),
        (b"x", b"\xff"),
        (b"b", good("b", "Boréal café est vraiment nul, très déçu")),
        (b"a", good("a", "I love Acme Mobile!")),  # a business duplicate: a new offset
        (b"wrong", good("c", "rekeyed Acme mention")),
        (b"d", good("d", "@acme_fr espèce de connard")),
    ]
    windows = {0: DedupWindow(3600, 100)}
    plan, metrics = planner(windows)
    cycle = plan.plan({TP("raw", 0): records(0, messages, start=10)})
    assert cycle.commit == {TP("raw", 0): 16}
    enriched = cycle.enriched[0]
    assert [o.key for o in enriched] == [b"a", b"b", b"d"]
    # Each enriched record goes to its raw partition and names its raw offset.
    assert {o.partition for o in enriched} == {0}
    assert [dict(o.headers or [])[SOURCE_OFFSET_HEADER] for o in enriched] == [b"10", b"12", b"15"]
    values = [json.loads(o.value or b"") for o in enriched]
    assert values[0]["triage"] == {"categories": [], "severity": "none", "action": "none"}
    assert values[0]["sentiment"]["label"] == "positive" and values[0]["brands"] == ["acme"]
    assert values[1]["language"] == "fr" and values[1]["sentiment"]["label"] == "negative"
    by_topic: dict[str, list[Any]] = {}
    for o in cycle.side:
        by_topic.setdefault(o.topic, []).append(o)
    [dead] = by_topic["dlq"]
    assert dead.key == b"x" and dead.value == b"\xff"
    assert dict(dead.headers or [])["veille-dlq-reason"] == b"undecodable_bytes"
    assert dict(dead.headers or [])["veille-dlq-offset"] == b"11"
    [rekey] = by_topic["raw"]
    assert rekey.key == b"c" and rekey.value == messages[4][1]
    # Only what needs a moderator goes to moderation.queue, keyed by the mention (case) id.
    [queued] = by_topic["queue"]
    item = json.loads(queued.value or b"")
    assert queued.key == b"d" and (item["case_id"], item["action"]) == ("d", "hide")
    assert count(metrics.duplicates) == 1 and count(metrics.redeliveries) == 0
    assert count(metrics.raw_messages) == 6 and len(windows[0]) == 3
    # The spike agent's input: one mentions.by_brand record per (mention, brand) on the brand's
    # partition, naming the raw partition and offset it came from.
    signals = [(o.topic, o.partition, o.key, json.loads(o.value or b""))
               for outs in cycle.by_brand.values() for o in outs]
    assert sorted((t, p, k, s["id"], s["p"], s["o"], s["neg"]) for t, p, k, s in signals) == sorted([
        ("by_brand", brand_partition("acme", 4), b"acme", "a", 0, 10, False),
        ("by_brand", brand_partition("boreal", 4), b"boreal", "b", 0, 12, True),
        ("by_brand", brand_partition("acme", 4), b"acme", "d", 0, 15, True),
    ])
    assert all(s["text"] and s["t"] > 0 and s["aud"] == 0 for *_, s in signals)


def test_a_redelivered_message_is_recognised_by_its_offset_and_its_queue_item_resent() -> None:
    """After a crash the raw offset is redelivered; its enriched record is already in the window
    (re-read from mentions.enriched): not enriched again, but its moderation item is re-sent."""
    messages: list[tuple[bytes | None, bytes]] = [
        (b"d", good("d", "@acme_fr espèce de connard")), (b"e", good("e", "Acme is fine")),
    ]
    window = DedupWindow(3600, 100)
    window.add(b"d", 990.0, 7)  # as load_windows found it: enriched from raw offset 7
    plan, metrics = planner({0: window})
    cycle = plan.plan({TP("raw", 0): records(0, messages, start=7)})
    assert [o.key for o in cycle.enriched[0]] == [b"e"]
    assert [(o.topic, o.key) for o in cycle.side] == [("queue", b"d")]
    # Both mentions' signals: the redelivered one's may not have reached mentions.by_brand
    # before the crash (the spike agent drops it by its raw offset if it did).
    [signals] = cycle.by_brand.values()
    assert [(json.loads(o.value or b"")["id"], json.loads(o.value or b"")["o"]) for o in signals] \
        == [("d", 7), ("e", 8)]
    assert count(metrics.redeliveries) == 1 and count(metrics.duplicates) == 0


def test_records_of_a_partition_not_owned_are_left_alone() -> None:
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    cycle = plan.plan({TP("raw", 1): records(1, [(b"a", good("a", "Acme"))])})
    assert len(cycle) == 0 and cycle.commit == {} and count(metrics.raw_messages) == 0
    assert isinstance(cycle, Cycle)


def test_the_window_is_bounded_by_count_and_age() -> None:
    """Two generations of max_entries // 2 ids: between half and all of max_entries remembered."""
    window = DedupWindow(ttl=60, max_entries=4)
    for i in range(5):
        window.add(str(i).encode(), 100.0 + i, i)
    # Generations {0, 1}, then {2, 3}, then {4}: the oldest generation went whole.
    assert len(window) == 3
    assert window.get(b"0", 105) is None and window.get(b"1", 105) is None
    assert window.get(b"2", 105) == (102.0, 2) and window.get(b"4", 105) == (104.0, 4)
    window.add(b"4", 200.0, 9)  # the first sighting wins
    assert window.get(b"4", 105) == (104.0, 4)
    assert window.get(b"2", 164) is None  # older than the ttl
    assert len(window) == 1  # its generation {2, 3} went with it; {4} is newer than the ttl
    assert window.get(b"4", 164) == (104.0, 4)
    assert window.expire(170) == 1 and len(window) == 0 and window.get(b"4", 170) is None


def test_the_window_holds_its_bound_under_churn() -> None:
    window = DedupWindow(ttl=10**9, max_entries=1000)
    for i in range(10_000):
        window.add(str(i).encode(), float(i), i)
        assert 500 <= len(window) <= 1000 or i < 500
    assert window.get(b"9999", 1e4) is not None and window.get(b"9499", 1e4) is not None
    assert window.get(b"8000", 1e4) is None

class _Batch:
    def __init__(self) -> None:
        self.records: list[bytes | None] = []

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: Any,
               headers: Any) -> object:
        self.records.append(value)
        return object()


class _Producer:
    """Records what reaches the broker, in order; the sends listed in `fail` fail once."""

    def __init__(self, fail: set[bytes]) -> None:
        self.fail = set(fail)
        self.log: list[tuple[str, int, bytes | None]] = []

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> Any:
        import asyncio

        fut = asyncio.get_running_loop().create_future()
        first = batch.records[0] or b""
        if first[:2] in self.fail:
            self.fail.discard(first[:2])
            fut.set_exception(ConnectionError("broker away"))
        else:
            self.log += [(topic, partition, v[:2] if v else v) for v in batch.records]
            fut.set_result(None)
        return fut


def test_delivery_keeps_each_partitions_batches_in_order_through_a_failed_send(tmp_path) -> None:
    """A failed batch is sent again before any later batch of its partition (mentions.by_brand
    must keep each raw partition's order: the spike agent takes an older offset for a repeat);
    other partitions go on meanwhile."""
    import asyncio

    from agents.enrich import EnrichStage, Out
    from veille.settings import Settings

    big = 150 * 1024  # one record per producer batch (chunks of 200 KiB at most)
    cycle = Cycle()
    cycle.by_brand[0] = [Out("by_brand", b"acme", f"a{i}".encode() + b"." * big, None, 0)
                         for i in range(4)]
    cycle.by_brand[1] = [Out("by_brand", b"boreal", f"b{i}".encode() + b"." * big, None, 1)
                         for i in range(3)]
    cycle.enriched[0] = [Out("enriched", b"x", b"e0" + b"." * big, None, 0)]
    plan, metrics = planner({})
    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    producer = _Producer(fail={b"a1", b"b0"})
    stage.producer = producer
    asyncio.run(stage.deliver(cycle))
    sent = [(t, p, v) for t, p, v in producer.log]
    assert [v for t, p, v in sent if (t, p) == ("by_brand", 0)] == [b"a0", b"a1", b"a2", b"a3"]
    assert [v for t, p, v in sent if (t, p) == ("by_brand", 1)] == [b"b0", b"b1", b"b2"]
    assert [v for t, p, v in sent if t == "enriched"] == [b"e0"]
    # While a1 and b0 waited for their retry, nothing after them in their partitions was sent;
    # the enriched partition was not held up by them.
    assert sent.index(("enriched", 0, b"e0")) < sent.index(("by_brand", 0, b"a1"))
    assert count(metrics.send_errors) == 2
