"""Produce to and read from the real broker with kafka-python, for tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

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
