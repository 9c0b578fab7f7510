"""The enrichment stage's planning step on real records' shape: what each raw message becomes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from agents.enrich import SOURCE_OFFSET_HEADER, Cycle, Enricher, Names, Planner
from streams.topics import brand_partition, key_partition
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


def test_a_wrongly_keyed_message_too_large_to_send_back_goes_back_as_its_mention() -> None:
    """5 MB of unknown fields from a foreign producer, keyed otherwise than by its id: its copy
    keyed by id must fit a request (it was retried for ever, holding the partition up)."""
    from agents.enrich import DLQ_MAX_VALUE_BYTES
    from streams.records import parse_raw

    big = json.loads(good("c", "rekeyed Acme mention"))
    big["padding"] = "x" * (5 * 1024 * 1024)
    value = json.dumps(big).encode()
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    cycle = plan.plan({TP("raw", 0): records(0, [(b"wrong", value)])})
    [rekey] = cycle.side
    assert (rekey.topic, rekey.key) == ("raw", b"c") and len(rekey.value or b"") < DLQ_MAX_VALUE_BYTES
    now = datetime.now(UTC)
    back, sent = parse_raw(rekey.value, now=now), parse_raw(value, now=now)
    # The same mention (its time written to the millisecond, as every record's is).
    assert abs(back.created_at - sent.created_at) < timedelta(milliseconds=1)
    assert replace(back, created_at=sent.created_at) == sent
    assert count(metrics.rekeyed) == 1


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


def test_a_redelivered_message_whose_id_the_window_forgot_is_recognised_by_its_offset() -> None:
    """The worker came back later than the window's ttl (or the batch was larger than the
    window): the ids of the uncommitted batch are gone, but load_windows knows the raw offsets
    enriched past the committed one. Until 2026-12-05 they were enriched a second time."""
    messages: list[tuple[bytes | None, bytes]] = [
        (b"d", good("d", "@acme_fr espèce de connard")), (b"e", good("e", "Acme is fine")),
        (b"f", good("f", "Acme again")),
    ]
    window = DedupWindow(3600, 100, replay_from=7, replay_through=8)  # committed 7, written 8
    plan, metrics = planner({0: window})
    cycle = plan.plan({TP("raw", 0): records(0, messages, start=7)})
    assert [o.key for o in cycle.enriched[0]] == [b"f"]
    assert [(o.topic, o.key) for o in cycle.side] == [("queue", b"d")]
    assert count(metrics.redeliveries) == 2 and count(metrics.duplicates) == 0
    # A window without that range (a group that never committed): enriched as before.
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    cycle = plan.plan({TP("raw", 0): records(0, messages, start=7)})
    assert [o.key for o in cycle.enriched[0]] == [b"d", b"e", b"f"]


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
    window.add(b"4", 130.0, 9)  # the first sighting wins within the ttl
    assert window.get(b"4", 105) == (104.0, 4)
    assert window.get(b"2", 164) is None  # older than the ttl
    assert len(window) == 1  # its generation {2, 3} went with it; {4} is newer than the ttl
    assert window.get(b"4", 164) == (104.0, 4)
    assert window.expire(170) == 1 and len(window) == 0 and window.get(b"4", 170) is None


def test_an_id_enriched_again_after_the_ttl_replaces_its_stale_entry() -> None:
    """A re-sent id past the ttl is enriched again; its copies after that are duplicates of the
    new enrichment, not enriched once more because the stale first sighting still sat there."""
    window = DedupWindow(ttl=60, max_entries=1000)
    window.add(b"a", 100.0, 1)
    for i in range(20):  # other ids keep the generation alive
        window.add(str(i).encode(), 100.0 + 10 * i, 10 + i)
    assert window.get(b"a", 200.0) is None  # forgotten: older than the ttl
    window.add(b"a", 200.0, 50)  # so enriched again, from raw offset 50
    assert window.get(b"a", 230.0) == (200.0, 50)
    assert window.get(b"a", 255.0) == (200.0, 50)
    assert len(window) == 21


def test_the_planner_drops_copies_after_a_re_enrichment() -> None:
    window = DedupWindow(ttl=60, max_entries=1000)
    clock = [1000.0]
    plan, metrics = planner({0: window})
    plan.clock = lambda: clock[0]
    cycle = plan.plan({TP("raw", 0): records(0, [(b"a", good("a", "Acme"))])})
    assert [o.key for o in cycle.enriched[0]] == [b"a"]
    for t, offset in ((1000.0 + 3600, 1), (1000.0 + 3600 + 30, 2), (1000.0 + 3600 + 50, 3)):
        clock[0] = t
        window.add(b"keep-alive", t, -1)
        cycle = plan.plan({TP("raw", 0): records(0, [(b"a", good("a", "Acme"))], start=offset)})
        assert bool(cycle.enriched) == (offset == 1), offset  # once past the ttl, then copies
    assert count(metrics.duplicates) == 2


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

    def __init__(self, fail: set[bytes], error: Exception | None = None) -> None:
        self.fail = set(fail)
        self.fail_always = False
        self.error = error or ConnectionError("broker away")
        self.log: list[tuple[str, int, bytes | None]] = []

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, partition: int) -> Any:
        import asyncio

        fut = asyncio.get_running_loop().create_future()
        first = batch.records[0] or b""
        if first[:2] in self.fail or self.fail_always:
            self.fail.discard(first[:2])
            fut.set_exception(self.error)
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


def test_failed_sends_are_logged_with_the_brokers_error(tmp_path, caplog) -> None:
    """The runbook's SendsFailing sends the on-call to the worker's log for why the broker
    refuses (a topic deleted, ACLs, too few in-sync replicas, a record too large): until
    2026-12-07 the retry's warning only counted the failed sends, and the error was logged at
    DEBUG, which no deployment shows."""
    import asyncio
    import logging

    from aiokafka.errors import NotEnoughReplicasError

    from agents.enrich import EnrichStage, Out
    from veille.settings import Settings

    cycle = Cycle()
    cycle.enriched[0] = [Out("enriched", b"x", b"e0", None, 0)]
    plan, metrics = planner({})
    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    stage.producer = _Producer(fail={b"e0"}, error=NotEnoughReplicasError())
    stage.unwritten = lambda partition, outs: asyncio.sleep(0, outs)  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="agents.enrich"):
        asyncio.run(stage.deliver(cycle))
    warnings = [r.getMessage() for r in caplog.records if "sends failed" in r.getMessage()]
    assert warnings and "NotEnoughReplicasError" in warnings[0], warnings
    assert count(metrics.send_errors) == 1


# --- bad input that is not the payload's fault, and delivery that cannot succeed ---------------


def test_a_nonsense_record_timestamp_or_collected_at_never_crashes_nor_dates_the_future() -> None:
    """A producer stamping microseconds (a year past 9999) or a collector's clock ahead: the
    mention is enriched, its received_at is now, not a crash that replays for ever; a
    collected_at before the mention was posted gives its posting time."""
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    future = json.loads(good("b", "Acme again"))
    future["collected_at"] = "9999-12-31T00:00:00Z"
    # Collected before it was posted (year 1, a unit or clock wrong): arrived when posted.
    past = json.loads(good("c", "Acme once more"))
    past["collected_at"] = "0001-01-01T00:00:00Z"
    recs = [Rec("raw", 0, 0, b"a", good("a", "Acme"), timestamp=int(time.time() * 1e6)),
            Rec("raw", 0, 1, b"b", json.dumps(future).encode()),
            Rec("raw", 0, 2, b"c", json.dumps(past).encode())]
    before = datetime.now(UTC)
    cycle = plan.plan({TP("raw", 0): recs})
    values = [json.loads(o.value or b"") for o in cycle.enriched[0]]
    assert [v["id"] for v in values] == ["a", "b", "c"] and not cycle.side
    for v in values[:2]:
        received = datetime.fromisoformat(v["received_at"].replace("Z", "+00:00"))
        assert before - timedelta(seconds=1) <= received <= datetime.now(UTC)
    assert values[2]["received_at"] == values[2]["created_at"]
    assert count(metrics.raw_messages) == 3


def test_an_id_on_another_partition_than_its_keys_is_rekeyed() -> None:
    """De-duplication is per partition: a message keyed by its id but put on another partition
    (librdkafka's CRC32 partitioner, an explicit partition) goes back keyed by id."""
    ids = [f"m{i}" for i in range(40)]
    home = {i: key_partition(i.encode(), 4) for i in ids}
    windows = {p: DedupWindow(3600, 100) for p in range(4)}
    plan, metrics = planner(windows)
    plan.raw_partitions = 4
    for p in range(4):
        cycle = plan.plan({TP("raw", p): records(p, [(i.encode(), good(i, "Acme")) for i in ids])})
        enriched = [o.key for outs in cycle.enriched.values() for o in outs]
        rekeyed = [o.key for o in cycle.side if o.topic == "raw"]
        assert enriched == [i.encode() for i in ids if home[i] == p]
        assert rekeyed == [i.encode() for i in ids if home[i] != p]
    assert count(metrics.rekeyed) == 3 * len(ids)


def test_the_charters_kept_are_bounded() -> None:
    from agents.enrich import MAX_CHARTERS

    plan, _ = planner({})
    enricher = plan.enricher
    brands = enricher.watchlist.brand_ids
    for i in range(3 * MAX_CHARTERS):  # as many distinct sets of brands named together
        enricher.charter((brands[0],) * (1 + i % 7) + (brands[-1],) * (i // 7))
    assert 0 < len(enricher._charters) <= MAX_CHARTERS


def test_a_dead_letter_too_large_for_the_producer_or_the_broker_is_cut_not_stuck(tmp_path) -> None:
    import asyncio

    from aiokafka.errors import MessageSizeTooLargeError

    from agents.enrich import (
        DLQ_MAX_VALUE_BYTES,
        DLQ_SHRUNK_VALUE_BYTES,
        TRUNCATED_HEADER,
        EnrichStage,
    )
    from veille.settings import Settings

    plan, metrics = planner({0: DedupWindow(3600, 100)})
    huge = b"{" + b" " * (5 * 1024 * 1024)  # 5 MiB of invalid JSON: a dead letter
    cycle = plan.plan({TP("raw", 0): [Rec("raw", 0, 3, b"k", huge)]})
    [dead] = cycle.side
    headers = dict(dead.headers or [])
    assert len(dead.value or b"") == DLQ_MAX_VALUE_BYTES and (dead.value or b"") == huge[:DLQ_MAX_VALUE_BYTES]
    assert headers[TRUNCATED_HEADER] == str(len(huge)).encode()
    assert headers["veille-dlq-reason"] == b"invalid_json"

    class Producer:
        """A broker whose mentions.dlq takes 1 MB at most (Kafka's default message.max.bytes)."""

        def __init__(self) -> None:
            self.got: list[tuple[str, bytes | None, dict[str, bytes]]] = []

        async def send(self, topic: str, value: bytes | None, *, key: Any, headers: Any,
                       partition: Any) -> Any:
            fut = asyncio.get_running_loop().create_future()
            if len(value or b"") > 1_000_000:
                fut.set_exception(MessageSizeTooLargeError())
            else:
                self.got.append((topic, value, dict(headers or [])))
                fut.set_result(None)
            return fut

    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    stage.names = NAMES
    stage.producer = producer = Producer()
    asyncio.run(asyncio.wait_for(stage.deliver(cycle), 30))
    [(topic, value, got)] = producer.got
    assert topic == "dlq" and value == huge[:DLQ_SHRUNK_VALUE_BYTES]
    assert got[TRUNCATED_HEADER] == str(len(huge)).encode()  # the original size, not the first cut


def test_stopping_while_the_broker_refuses_abandons_the_batch_uncommitted(tmp_path) -> None:
    """Without this, a worker asked to stop during an outage would wait for the broker for ever."""
    import asyncio

    from agents.enrich import Abandoned, EnrichStage
    from veille.settings import Settings

    plan, metrics = planner({0: DedupWindow(3600, 100)})
    cycle = plan.plan({TP("raw", 0): records(0, [(b"a", good("a", "Acme"))])})
    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    stage.producer = _Producer(fail=set())
    stage.producer.fail_always = True

    async def scenario() -> None:
        delivering = asyncio.ensure_future(stage.deliver(cycle))
        await asyncio.sleep(0.5)
        assert not delivering.done()  # retrying while the broker refuses
        stage.stopping = True
        try:
            await asyncio.wait_for(delivering, 10)
        except Abandoned:
            return
        raise AssertionError("delivery went on while stopping")

    asyncio.run(scenario())
    assert count(metrics.send_errors) >= 2


def test_partitions_whose_window_could_not_be_read_are_read_once_it_is(tmp_path, monkeypatch) -> None:
    """The de-duplication window of an assigned partition fails to load (a broker blip): its
    records are held back, not enriched blind, and the window is re-read without waiting for
    another rebalance; then every record is enriched once and committed."""
    import asyncio

    import agents.enrich as enrich
    from veille.settings import Settings

    calls: list[list[int]] = []

    async def flaky_load(bootstrap: Any, enriched: str, partitions: Any, ttl: float,
                         max_entries: int, clock: Any = None, timeout: float = 0,
                         clocks: Any = None, committed: Any = None) -> Any:
        calls.append(list(partitions))
        if len(calls) == 1:
            raise ConnectionError("broker blip")
        return {p: DedupWindow(ttl, max_entries) for p in partitions}

    monkeypatch.setattr(enrich, "load_windows", flaky_load)
    plan, metrics = planner({})
    stage = enrich.EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    tp = TP(stage.names.raw, 0)
    ids = [i for i in (f"m{n}" for n in range(200)) if key_partition(i.encode(), 4) == 0][:20]
    recs = [Rec(tp.topic, 0, n, i.encode(), good(i, "Acme")) for n, i in enumerate(ids)]

    class Consumer:
        def __init__(self) -> None:
            self.position, self.seeks = 0, 0
            self.commits: dict[Any, int] = {}

        def assignment(self) -> set[TP]:
            return {tp}

        async def committed(self, partition: TP) -> int | None:
            return None

        async def getmany(self, timeout_ms: int) -> dict[TP, list[Rec]]:
            await asyncio.sleep(0.01)
            batch, self.position = recs[self.position:], len(recs)
            return {tp: batch} if batch else {}

        def seek(self, partition: TP, offset: int) -> None:
            self.position = offset
            self.seeks += 1

        async def commit(self, offsets: dict[Any, int]) -> None:
            self.commits.update(offsets)

    consumer = stage.consumer = Consumer()
    stage.producer = producer = _Producer(fail=set())

    async def scenario() -> None:
        await stage.assigned([tp])  # the load fails: logged, not raised into aiokafka
        assert stage.windows == {}
        running = asyncio.ensure_future(stage.run())
        deadline = time.monotonic() + 20
        while consumer.commits.get(tp) != len(recs) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stage.stopping = True
        await asyncio.wait_for(running, 5)

    asyncio.run(scenario())
    assert calls == [[0], [0]] and consumer.seeks >= 1
    assert consumer.commits == {tp: len(recs)}
    assert len([t for t, _, _ in producer.log if t == stage.names.enriched]) == len(recs)
    assert count(metrics.raw_messages) == len(recs)  # each planned once: none enriched blind
    assert count(metrics.duplicates) == 0 and count(metrics.redeliveries) == 0


def test_a_quiet_partition_whose_window_could_not_be_read_is_read_again(tmp_path, monkeypatch) -> None:
    """No record comes to a partition whose window failed to load (twice): it is re-read all
    the same, retried until it is (until 2026-12-05 only a fetched record scheduled the re-read:
    a quiet partition stayed without its window, and without source ticks, until the next
    rebalance). A window read across a newer assignment is not installed but read again."""
    import asyncio

    import agents.enrich as enrich
    from veille.settings import Settings

    calls: list[list[int]] = []

    async def flaky_load(bootstrap: Any, enriched: str, partitions: Any, ttl: float,
                         max_entries: int, clock: Any = None, timeout: float = 0,
                         clocks: Any = None, committed: Any = None) -> Any:
        calls.append(list(partitions))
        if len(calls) <= 2:
            raise ConnectionError("broker blip")
        if len(calls) == 3:  # a rebalance lands while this read is in flight
            stage.generation += 1
        return {p: DedupWindow(ttl, max_entries) for p in partitions}

    monkeypatch.setattr(enrich, "load_windows", flaky_load)
    plan, metrics = planner({})
    stage = enrich.EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    tp = TP(stage.names.raw, 0)
    async def committed(partition: TP) -> None:
        return None

    stage.consumer = SimpleNamespace(assignment=lambda: {tp}, committed=committed)

    async def scenario() -> None:
        await stage.assigned([tp])  # the load fails: logged, not raised into aiokafka
        assert stage.windows == {}
        deadline = time.monotonic() + 20
        while 0 not in stage.windows and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stage.stopping = True

    asyncio.run(scenario())
    assert list(stage.windows) == [0]
    assert calls == [[0], [0], [0], [0]]  # assignment, two retries, the read across a rebalance


def test_a_batch_written_although_its_send_failed_is_not_written_twice(tmp_path, monkeypatch) -> None:
    """A lost acknowledgement (or a frozen broker writing on waking): the send fails but the
    partition holds the records. Before sending them again the stage reads the partition's tail
    and sends only what is missing, so mentions.enriched still has each mention once."""
    import asyncio

    import agents.recovery as recovery
    from agents.enrich import EnrichStage, Out
    from veille.settings import Settings

    @dataclass
    class Written:
        key: bytes | None
        value: bytes | None
        headers: list[tuple[str, bytes]]

    log: dict[tuple[str, int], list[Written]] = {}

    class Producer:
        """Writes every batch; the first one's acknowledgement is lost, the next broker is away."""

        def __init__(self) -> None:
            self.calls = 0

        def create_batch(self) -> Any:
            return _Batch()

        async def send_batch(self, batch: Any, topic: str, partition: int) -> Any:
            raise AssertionError("unused: the stage's send_batch is replaced below")

    sends: list[int] = []

    async def send_batch(partition: int, outs: list[Out]) -> Any:
        fut = asyncio.get_running_loop().create_future()
        sends.append(len(outs))
        if len(sends) == 2:  # the broker is away: nothing written
            fut.set_exception(ConnectionError("broker away"))
            return fut
        place = log.setdefault((outs[0].topic, partition), [])
        offset = len(place)
        place.extend(Written(o.key, o.value, list(o.headers or [])) for o in outs)
        if len(sends) == 1:
            fut.set_exception(TimeoutError("request timed out"))  # written, ack lost
        else:
            fut.set_result(type("Meta", (), {"offset": offset})())
        return fut

    async def read_tail(bootstrap: Any, tps: list[Any], handle: Any, start: Any = None,
                        timeout: float = 60.0) -> int:
        [tp] = tps
        place = log.get((tp.topic, tp.partition), [])
        first = start(tp, len(place)) if start else 0
        for r in place[first:]:
            handle(r)
        return len(place) - first

    monkeypatch.setattr(recovery, "read_to_end", read_tail)
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    stage.names = NAMES
    stage.planner.names = NAMES
    stage.windows[0] = DedupWindow(3600, 100)
    ids = [f"m{i}" for i in range(30)]
    first = stage.planner.plan({TP("raw", 0): records(0, [(i.encode(), good(i, "Acme")) for i in ids])})
    first.by_brand.clear()
    first.side.clear()
    stage.send_batch = send_batch  # type: ignore[method-assign]
    asyncio.run(asyncio.wait_for(stage.deliver(first), 30))
    written = [w.key for w in log[("enriched", 0)]]
    assert written == [i.encode() for i in ids]  # once each, although the first send "failed"
    assert sends == [len(ids)]  # not sent again: the partition's tail showed all of them
    assert stage.enriched_ends == {}  # no acknowledged write yet: its end is not known
    # The next batch's first send finds the broker away (nothing written): sent again.
    more = [f"n{i}" for i in range(5)]
    second = stage.planner.plan({TP("raw", 0): records(0, [(i.encode(), good(i, "Acme"))
                                                              for i in more], start=30)})
    second.by_brand.clear()
    second.side.clear()
    asyncio.run(asyncio.wait_for(stage.deliver(second), 30))
    assert sends == [len(ids), len(more), len(more)]
    assert [w.key for w in log[("enriched", 0)]] == [i.encode() for i in ids + more]
    assert stage.enriched_ends[0] == len(ids) + len(more)


def test_after_a_crash_no_tick_overtakes_the_signals_it_speaks_for(tmp_path) -> None:
    """The crashed owner wrote the enriched records of raw offsets 0-49 but committed only up to
    20 (its by-brand signals of 20-49 may not have landed). The new owner's clock, rebuilt from
    the last enriched record, must not be claimed in a tick before 20-49 are re-sent: a tick
    saying "offset 49's event time" ahead of them would close their buckets in the spike agent,
    and every one of them would be late (a crash run's alerts then differ from the reference's)."""
    import asyncio

    from agents.enrich import EnrichStage
    from veille.crisis import SourceClock
    from veille.settings import Settings

    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [i for i in (f"m{n}" for n in range(400)) if key_partition(i.encode(), 4) == 0][:50]

    def mention(n: int) -> bytes:
        return json.dumps({"id": ids[n], "source": "t", "platform": "twitter",
                           "text": "Acme is terrible", "created_at":
                           (base + timedelta(minutes=n)).isoformat()}).encode()

    window = DedupWindow(10**9, 1000)
    for n in range(50):  # as load_windows re-read them from mentions.enriched
        window.add(ids[n].encode(), 1000.0, n)
    plan, metrics = planner({})
    stage = EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    stage.windows[0] = window
    last = (base + timedelta(minutes=49)).timestamp()
    stage.clocks[0] = SourceClock(last, 1000.0, unconfirmed=49)
    tp = TP(stage.names.raw, 0)

    class Consumer:
        def __init__(self) -> None:
            self.at = 20  # the committed offset

        def assignment(self) -> set[TP]:
            return {tp}

        def highwater(self, partition: TP) -> int:
            return 50

        async def position(self, partition: TP) -> int:
            return self.at

        async def getmany(self, timeout_ms: int) -> dict[TP, list[Rec]]:
            await asyncio.sleep(0.3)  # ticks go out meanwhile
            if self.at >= 50:
                return {}
            batch = [Rec(tp.topic, 0, n, ids[n].encode(), mention(n)) for n in range(self.at, 50)]
            self.at = 50
            return {tp: batch}

        def seek(self, partition: TP, offset: int) -> None:
            self.at = offset

        async def commit(self, offsets: dict[Any, int]) -> None:
            pass

    class Producer:
        def __init__(self) -> None:
            self.by_brand: list[dict[str, Any]] = []

        def create_batch(self) -> _Batch:
            return _Batch()

        def _done(self) -> Any:
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

        async def send_batch(self, batch: _Batch, topic: str, partition: int) -> Any:
            if topic == stage.names.by_brand:
                self.by_brand += [json.loads(v or b"") for v in batch.records]
            return self._done()

        async def send(self, topic: str, value: bytes, key: Any = None, headers: Any = None,
                       partition: int = 0) -> Any:
            if topic == stage.names.by_brand and partition == brand_partition("acme", 4):
                self.by_brand.append(json.loads(value))
            return self._done()

    producer = Producer()
    stage.consumer, stage.producer = Consumer(), producer

    backlog: list[float] = []

    async def scenario() -> None:
        tasks = [asyncio.ensure_future(stage.run()), asyncio.ensure_future(stage.punctuate(0.05))]
        await asyncio.sleep(0.15)  # ticks sent, the re-read batch not delivered yet
        backlog.append(count(metrics.raw_backlog))
        await asyncio.sleep(1.05)
        backlog.append(count(metrics.raw_backlog))
        stage.stopping = True
        await asyncio.wait_for(asyncio.gather(*tasks), 5)

    asyncio.run(scenario())
    assert backlog == [30, 0]  # veille_raw_backlog_messages: the partition's end less the position
    signals = [r for r in producer.by_brand if "id" in r]
    ticks = [(i, r) for i, r in enumerate(producer.by_brand) if "tick" in r]
    assert [s["o"] for s in signals] == list(range(20, 50))  # re-sent: they may not have landed
    first_signal = producer.by_brand.index(signals[0])
    assert any(i < first_signal for i, _ in ticks), "no tick before the re-sent signals"
    for i, t in ticks:
        later = [s["t"] for s in producer.by_brand[i + 1:] if "id" in s]
        assert t["t"] is None or all(t["t"] <= s for s in later), (i, t, later[:3])
    assert ticks[-1][1]["t"] == last  # claimed once the stage is past offset 49


def test_a_partition_waiting_for_its_window_counts_in_the_backlog(tmp_path) -> None:
    """Its window could not be read: its messages wait, read by nobody, and the backlog gauge
    said 0 (found in review: PipelineStalled's reader_stuck and backlog causes could not fire).
    No tick is sent for it meanwhile."""
    import asyncio

    import agents.enrich as enrich
    from veille.settings import Settings

    plan, metrics = planner({})
    stage = enrich.EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    tp = TP(stage.names.raw, 0)
    sent: list[Any] = []

    async def position(partition: TP) -> int:
        return 20

    async def send(topic: str, value: bytes, key: Any = None, headers: Any = None,
                   partition: int = 0) -> Any:
        sent.append(value)
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut

    stage.consumer = SimpleNamespace(assignment=lambda: {tp}, highwater=lambda p: 50,
                                     position=position)
    stage.producer = SimpleNamespace(send=send)

    async def scenario() -> None:
        ticking = asyncio.ensure_future(stage.punctuate(0.05))
        await asyncio.sleep(0.3)
        stage.stopping = True
        await asyncio.wait_for(ticking, 5)

    asyncio.run(scenario())
    assert count(metrics.raw_backlog) == 30 and sent == []


def test_a_backlog_the_consumer_cannot_measure_is_unknown_not_the_last_figure(tmp_path) -> None:
    """Found in review (2026-12-06): when the consumer's position (or end) query failed, the
    tick kept the gauge at its last figure, however old: PipelineStalled's backlog and
    reader_stuck causes judged a stale backlog. Now it reads NaN (no alert compares true on
    it) once no tick measured it for `backlog_unknown_after` seconds, until one measures it
    again; a failure shorter than that keeps the last measure (NaN at the first failed tick
    restarted PipelineStalled's `for:` at every one, 2026-12-06)."""
    import asyncio
    import math

    import agents.enrich as enrich
    from veille.settings import Settings

    plan, metrics = planner({})
    stage = enrich.EnrichStage(Settings.from_env({}, data_dir=str(tmp_path)), plan.enricher, metrics)
    tp = TP(stage.names.raw, 0)
    broken = False

    async def position(partition: TP) -> int:
        if broken:
            raise TimeoutError("no answer from the broker")
        return 20

    stage.consumer = SimpleNamespace(assignment=lambda: {tp}, highwater=lambda p: 50,
                                     position=position)
    # Margins of seconds around it: a loaded CI machine may deschedule the test for a while.
    stage.backlog_unknown_after = 2.0
    seen: list[float] = []

    async def scenario() -> None:
        nonlocal broken
        ticking = asyncio.ensure_future(stage.punctuate(0.05))
        await asyncio.sleep(0.2)
        seen.append(count(metrics.raw_backlog))
        broken = True
        await asyncio.sleep(0.2)  # a few failed ticks, well within the 2 s
        seen.append(count(metrics.raw_backlog))
        await asyncio.sleep(2.3)  # no measure for longer than that
        seen.append(count(metrics.raw_backlog))
        broken = False
        await asyncio.sleep(0.2)
        seen.append(count(metrics.raw_backlog))
        stage.stopping = True
        await asyncio.wait_for(ticking, 5)

    asyncio.run(scenario())
    assert seen[0] == 30 and seen[1] == 30 and math.isnan(seen[2]) and seen[3] == 30, seen


def test_a_brand_the_watch_list_lacks_is_counted_and_said_once_a_minute(caplog) -> None:
    """A raw mention's `brands` naming an id the watch list does not have (a typo in a Zap): the
    mention enriched without it, veille_mentions_unknown_brand_total counted, one warning."""
    def named(i: str, brands: list[str]) -> bytes:
        return json.dumps({**json.loads(good(i, "late again")), "brands": brands}).encode()

    plan, metrics = planner({0: DedupWindow(3600, 100)})
    with caplog.at_level("WARNING", logger="agents.enrich"):
        cycle = plan.plan({TP("raw", 0): records(0, [
            (b"a", named("a", ["acmee"])), (b"b", named("b", ["acme", "zorglub"])),
            (b"c", good("c", "late again"))])})
        plan.plan({TP("raw", 0): records(0, [(b"d", named("d", ["acmee"]))], start=3)})
    values = [json.loads(o.value or b"") for o in cycle.enriched[0]]
    assert [(v["brands"], v["rules"]) for v in values] == [
        ([], []), (["acme"], ["acme:source:twitter"]), ([], [])]
    assert count(metrics.unknown_brand) == 3
    [warning] = [r.getMessage() for r in caplog.records if "watch list does not have" in r.getMessage()]
    assert "2 mention(s)" in warning and "'b'" in warning and "zorglub" in warning


def test_a_redelivered_or_duplicate_mention_naming_an_unknown_brand_is_counted_once() -> None:
    """Found in review, 2026-12-07: veille_mentions_unknown_brand_total was counted by the
    enrichment, before de-duplication, so a raw message read again after a crash or rebalance
    (the same offset), or the same mention sent again (a new offset), counted once more although
    its enriched copy was dropped. It counts distinct mentions now, as
    veille_mentions_enriched_total does."""
    def named(i: str, brands: list[str]) -> bytes:
        return json.dumps({**json.loads(good(i, "late again")), "brands": brands}).encode()

    plan, metrics = planner({0: DedupWindow(3600, 100)})
    batch = records(0, [(b"a", named("a", ["acmee"])), (b"b", named("b", ["acme", "zorglub"]))])
    first = plan.plan({TP("raw", 0): batch})
    assert len(first.enriched[0]) == 2 and count(metrics.unknown_brand) == 2
    again = plan.plan({TP("raw", 0): batch})  # redelivered: the same offsets
    assert again.enriched == {} and count(metrics.redeliveries) == 2
    resent = plan.plan({TP("raw", 0): records(0, [(b"a", named("a", ["acmee"]))], start=2)})
    assert resent.enriched == {} and count(metrics.duplicates) == 1
    assert count(metrics.unknown_brand) == 2
    enriched = sum(count(c) for c in metrics.enriched._metrics.values())
    assert enriched == 2  # the metrics match the distinct mentions


def test_a_brands_news_is_not_negative_for_its_name_in_the_records_the_signals_and_the_metrics() -> None:
    """Found in review, 2026-12-07: "Boréal" is a lexicon word (-0.3), and Boréal's news were
    negative mentions of it, for the crisis monitor (by_brand's `neg`) and the metrics alike."""
    plan, metrics = planner({0: DedupWindow(3600, 100)})
    news = "Boreal Café ouvre 33 nouveaux cafés en 2026"
    cycle = plan.plan({TP("raw", 0): records(0, [(b"n", good("n", news)),
                                                 (b"m", good("m", "Boréal c'est nul"))])})
    values = [json.loads(o.value or b"") for o in cycle.enriched[0]]
    assert [(v["text"], v["brands"], v["sentiment"]["label"]) for v in values] == [
        (news, ["boreal"], "neutral"), ("Boréal c'est nul", ["boreal"], "negative")]
    signals = {s["id"]: s for outs in cycle.by_brand.values()
               for s in (json.loads(o.value or b"") for o in outs)}
    assert (signals["n"]["neg"], signals["m"]["neg"]) == (False, True)
    assert signals["n"]["text"] == news
    assert count(metrics.enriched.labels(brand="boreal", platform="twitter", language="fr",
                                         sentiment="neutral")) == 1
