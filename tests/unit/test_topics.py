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
