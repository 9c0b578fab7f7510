#!/usr/bin/env python3
"""Tansu's cost per request against the number of record batches a partition holds.

usage: python bench/tansu_batches.py [--steps 0,10000,15000,20000] [--probe 100]

Found with the one-hour soak (README, "Memory over one hour"): at a constant 300 mentions/s the
embedded broker's CPU rose from half a core to 1.4 cores and it finally stopped serving the
worker. Not the bytes it holds: a partition of 2 million records written in large batches
answers as fast as an empty one. This measures the number of batches: partition 0 of topic "big"
is filled with one-record batches (linger 0, each send awaited), and at each step --probe
requests of each kind are timed by the broker's CPU (/proc/PID/stat):

* produce to the loaded partition, to partition 1 of the same topic, to another topic;
* fetch (one record per request, as a consumer keeping up does) from the loaded partition near
  its end, from its start, and from another topic.

Result on this machine (README): producing stays cheap everywhere; a fetch costs in proportion
to the batches the fetched partition holds, wherever it reads in it, and fetches of other
partitions stay cheap. So what wears the embedded broker down over a long run is many small
batches on partitions that consumers keep fetching (mentions.raw written one mention at a time,
for example), not the volume.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from enrich_throughput import cpu_seconds  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

from veille.broker import EmbeddedBroker, free_port  # noqa: E402

VALUE = b"x" * 1000
#: Probe kinds: (label, topic, partition, "produce" or the offset a fetch starts at).
KINDS = (
    ("produce, loaded partition", "big", 0, "produce"),
    ("produce, same topic, other partition", "big", 1, "produce"),
    ("produce, other topic", "other", 0, "produce"),
    ("fetch, loaded partition, near its end", "big", 0, "end"),
    ("fetch, loaded partition, from its start", "big", 0, "start"),
    ("fetch, other topic", "other", 0, "end"),
)


async def probe(bootstrap: str, producer: AIOKafkaProducer, pid: int, held: dict[tuple[str, int], int],
                topic: str, partition: int, how: str, n: int) -> float:
    """Broker CPU milliseconds per request over n requests of one kind."""
    c0 = cpu_seconds(pid)
    if how == "produce":
        for _ in range(n):
            await (await producer.send(topic, VALUE, partition=partition))
        held[(topic, partition)] = held.get((topic, partition), 0) + n
    else:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    fetch_max_wait_ms=10, max_partition_fetch_bytes=2000)
        await consumer.start()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = held.get((topic, partition), 0)
        consumer.seek(tp, 0 if how == "start" else max(0, end - n))
        got = 0
        while got < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1)
            got += sum(len(v) for v in batches.values())
        await consumer.stop()
    return 1000 * (cpu_seconds(pid) - c0) / n


async def run(steps: list[int], n: int) -> None:
    broker = EmbeddedBroker(free_port()).start()
    assert broker.process is not None
    pid = broker.process.pid
    bootstrap = broker.url.replace("kafka://", "")
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap).create_topics(
            [NewTopic("big", 2, 1), NewTopic("other", 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        held: dict[tuple[str, int], int] = {}
        rows = []
        try:
            for step in steps:
                while held.get(("big", 0), 0) < step:
                    await (await producer.send("big", VALUE, partition=0))
                    held[("big", 0)] = held.get(("big", 0), 0) + 1
                at = held.get(("big", 0), 0)
                costs = [await probe(bootstrap, producer, pid, held, t, p, how, n)
                         for _, t, p, how in KINDS]
                rows.append((at, costs))
                print(f"  {at:,} batches held: " + ", ".join(f"{c:.1f}" for c in costs),
                      file=sys.stderr, flush=True)
        finally:
            await producer.stop()
    finally:
        broker.stop()
    print(f"Broker CPU per request, ms ({n} requests of each kind per step; "
          "one-record batches held by partition 0 of 'big')\n")
    print("| request | " + " | ".join(f"{at:,}" for at, _ in rows) + " |")
    print("|---|" + "--:|" * len(rows))
    for i, (label, *_rest) in enumerate(KINDS):
        print(f"| {label} | " + " | ".join(f"{costs[i]:.1f}" for _, costs in rows) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="0,10000,15000,20000",
                    help="batches held at each probe (past 20,000 filling itself slows to a crawl)")
    ap.add_argument("--probe", type=int, default=1000,
                    help="requests timed per kind (CPU is read in 10 ms ticks: 1,000 resolve 0.01 ms)")
    args = ap.parse_args()
    asyncio.run(run([int(s) for s in args.steps.split(",")], args.probe))


if __name__ == "__main__":
    main()
