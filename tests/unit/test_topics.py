"""Partitioning by key: veille's murmur2 is Kafka's default partitioner's, byte for byte."""

from __future__ import annotations

import random

from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from streams.topics import brand_partition, key_partition, murmur2


def test_murmur2_is_kafka_pythons_on_every_length_and_byte() -> None:
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 41) for _ in range(200)]
    keys += [b"", b"\x00", b"\xff" * 4, "marché-é".encode(), b"tw-1234567890123456789"]
    for key in keys:
        assert murmur2(key) == kafka_python_murmur2(key), key


def test_partitions_are_the_java_clients() -> None:
    # Values of org.apache.kafka.common.utils.Utils.murmur2 (the Java client's own tests:
    # "21" -> -973932308, "foobar" -> -790332482, "a-little-bit-long-string" -> -985981536).
    for key, java in ((b"21", -973932308), (b"foobar", -790332482),
                      (b"a-little-bit-long-string", -985981536)):
        assert murmur2(key) == java & 0xFFFFFFFF
        assert key_partition(key, 7) == (java & 0x7FFFFFFF) % 7
    assert brand_partition("acme", 4) == key_partition(b"acme", 4)


def test_topic_configs_replicas_and_retention() -> None:
    """min.insync.replicas makes acks=all mean a write survives a broker's loss (2 of 3, 1 of
    2; one replica keeps the broker's 1); the moderation topics outlive a pending case and the
    year the report covers; the dead letters stay long enough to be replayed once fixed."""
    from streams.topics import MENTIONS_DLQ, MENTIONS_RAW, MODERATION_QUEUE, topic_configs
    from veille.settings import Settings

    one, two, three = (Settings(topic_replication=n) for n in (1, 2, 3))
    assert topic_configs(one, MENTIONS_RAW) == {}
    assert topic_configs(two, MENTIONS_RAW) == {"min.insync.replicas": "1"}
    assert topic_configs(three, MENTIONS_RAW) == {"min.insync.replicas": "2"}
    assert topic_configs(Settings(topic_replication=5), MENTIONS_RAW) == \
        {"min.insync.replicas": "2"}
    assert topic_configs(one, MODERATION_QUEUE) == {"retention.ms": str(400 * 86_400_000)}
    assert topic_configs(three, MENTIONS_DLQ) == {"min.insync.replicas": "2",
                                                  "retention.ms": str(30 * 86_400_000)}
    kept = Settings(moderation_retention_days=0, dlq_retention_days=0)
    assert topic_configs(kept, MODERATION_QUEUE) == topic_configs(kept, MENTIONS_DLQ) == {}


def test_the_tables_changelogs_are_compacted_hourly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Faust creates the changelogs compacted; on Apache Kafka's defaults the active segment
    (1 GiB, rolled weekly) is never compacted, and the spike agent writes a brand's open state
    with every batch: each of the four tables asks for hourly segments."""
    from agents.worker import build
    from veille.settings import Settings

    pipeline = build(Settings(data_dir=str(tmp_path), topic_replication=3))
    tables = {name: t for name, t in pipeline.app.tables.items()}
    assert sorted(tables) == ["moderation-cases", "moderation-held", "spikes-core", "spikes-open"]
    for name, table in tables.items():
        assert table.changelog_topic.config == {
            "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.1",
            "min.insync.replicas": "2"}, name
