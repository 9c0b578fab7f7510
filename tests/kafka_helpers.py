"""Produce to and read from the real broker with kafka-python, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from streams.topics import MENTIONS_RAW
from veille.broker import BrokerError, EmbeddedBroker, free_port
from veille.settings import Settings


def produce(settings: Settings, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                             linger_ms=5, max_request_size=4 * 1024 * 1024)
    try:
        for key, value in records:
            producer.send(settings.topic(topic), key=key, value=value)
        producer.flush(30)
    finally:
        producer.close()


def read_all(settings: Settings, topic: str, expect: int, timeout: float = 60.0,
             settle: float = 1.5) -> list[Any]:
    """Every record of the topic, waiting until at least `expect` arrived, then `settle` more
    seconds so that extra (duplicate) records would show too."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", consumer_timeout_ms=500,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    name = settings.topic(topic)
    deadline = time.monotonic() + timeout
    while True:
        parts = consumer.partitions_for_topic(name)
        if parts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    consumer.assign([TopicPartition(name, p) for p in sorted(parts or [])])
    consumer.seek_to_beginning()
    records: list[Any] = []
    settle_until = None
    while time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=300, max_records=10_000)
        for msgs in batch.values():
            records.extend(msgs)
        if len(records) >= expect:
            settle_until = settle_until or time.monotonic() + settle
            if time.monotonic() >= settle_until:
                break
    consumer.close()
    return records


def read_to_end(settings: Settings, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of the topic up to its end, as fetch responses give it (for a topic whose
    writers are done: see wait_committed_to_end)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    name = settings.topic(topic)
    deadline = time.monotonic() + timeout
    try:
        while not (parts := consumer.partitions_for_topic(name)):
            assert time.monotonic() < deadline, f"no topic {name}"
            time.sleep(0.2)
        tps = [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        records: list[Any] = []
        while True:
            for msgs in consumer.poll(timeout_ms=300, max_records=10_000).values():
                records.extend(msgs)
            highs = {tp: consumer.highwater(tp) for tp in tps}
            if all(h is not None and consumer.position(tp) >= h for tp, h in highs.items()):
                return records
            assert time.monotonic() < deadline, f"{name} not read to its end in {timeout} s"
    finally:
        consumer.close()


def fetch_high_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    """Each partition's end, from fetch responses (Tansu's ListOffsets answers are wrong)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    name = settings.topic(topic)
    tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    ends: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(ends) < len(tps) and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200, max_records=100_000)
        for tp in tps:
            high = consumer.highwater(tp)
            if high is not None and consumer.position(tp) >= high:
                ends[tp.partition] = high
    consumer.close()
    return ends


def committed_offsets(settings: Settings, topic: str, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == settings.topic(topic)}


def wait_committed_to_end(settings: Settings, topic: str, group: str, timeout: float,
                          poll: float = 0.5) -> dict[int, int]:
    """Wait until consumer group `group` committed every partition of `topic` to its end (the
    ends read once, now: call it once the topic's writers are done). For the enrichment stage's
    group on mentions.raw, every output of what it read is then on the broker (a batch is
    committed only once the broker acknowledged all its outputs): reading the output topics
    shows any duplicate or extra record, whatever the read's settle delay."""
    ends = fetch_high_watermarks(settings, topic)
    deadline = time.monotonic() + timeout
    while True:
        committed = committed_offsets(settings, topic, group)
        if all(committed.get(p, 0) >= end for p, end in ends.items()):
            return committed
        assert time.monotonic() < deadline, (
            f"{settings.topic(topic)}: {group} committed {committed} in {timeout} s, log ends {ends}")
        time.sleep(poll)


async def raw_on_topic(settings: Settings, expect: int) -> list[dict[str, Any]]:
    """The records on mentions.raw (read_all, off the event loop), each checked keyed by its id."""
    records = await asyncio.to_thread(read_all, settings, MENTIONS_RAW, expect, 30.0, 1.5)
    out = []
    for r in records:
        value = json.loads(r.value)
        assert r.key == value["id"].encode(), "mentions.raw must be keyed by id"
        out.append(value)
    return out


#: What EmbeddedBroker.start() says when its port was taken meanwhile, by another of the test
#: processes (xdist) that chose the same free port at the same time: worth another port.
PORT_LOST = ("already in use", "taken by another process", "before answering")


def start_broker(tries: int = 3, **kwargs: Any) -> EmbeddedBroker:
    """An embedded broker started on a free port (EmbeddedBroker's other arguments as given),
    on another one when the port chosen was taken before Tansu listened on it: free_port()
    chooses at random, and the test processes choosing theirs at once (a session's start) may
    meet. Any other failure, or the same one `tries` times, is raised."""
    for attempt in range(tries):
        try:
            return EmbeddedBroker(free_port(), **kwargs).start()
        except BrokerError as exc:
            if attempt == tries - 1 or not any(words in str(exc) for words in PORT_LOST):
                raise
    raise AssertionError("unreachable")

