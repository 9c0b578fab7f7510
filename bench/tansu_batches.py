#!/usr/bin/env python3
"""Tansu's cost per request against the number of record batches a partition holds.

usage: python bench/tansu_batches.py [--steps 0,5000,10000,20000] [--probe 100]

Found with the one-hour soak (README, "Memory over one hour"): at a constant 300 mentions/s the
embedded broker's CPU rose from half a core to 1.4 cores and it finally stopped serving the
worker. Not the bytes it holds: a partition of 2 million records written in large batches
answers as fast as an empty one. This measures the number of batches: one partition is filled
with one-record batches (linger 0, each send awaited), and at each step --probe more one-record
sends are made and read back, timing them and the broker's CPU (/proc/PID/stat).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from enrich_throughput import cpu_seconds  # noqa: E402
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

from veille.broker import EmbeddedBroker, free_port  # noqa: E402


async def run(steps: list[int], probe: int) -> None:
    broker = EmbeddedBroker(free_port()).start()
    assert broker.process is not None
    bootstrap = broker.url.replace("kafka://", "")
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap).create_topics([NewTopic("big", 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
        await producer.start()
        value, held = b"x" * 1000, 0
        print("| batches held | probe sends + reads | seconds | broker CPU seconds | per request, ms |")
        print("|--:|--:|--:|--:|--:|")
        for step in steps:
            while held < step:
                await (await producer.send("big", value))
                held += 1
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        fetch_max_wait_ms=10)
            await consumer.start()
            tp = TopicPartition("big", 0)
            consumer.assign([tp])
            consumer.seek(tp, held)
            t0, c0 = time.perf_counter(), cpu_seconds(broker.process.pid)
            for _ in range(probe):
                await (await producer.send("big", value))
            got = 0
            while got < probe:
                got += sum(len(v) for v in (await consumer.getmany(timeout_ms=1000)).values())
            seconds, cpu = time.perf_counter() - t0, cpu_seconds(broker.process.pid) - c0
            await consumer.stop()
            held += probe
            print(f"| {step:,} | {probe} | {seconds:.2f} | {cpu:.2f} | {1000 * cpu / probe:.1f} |",
                  flush=True)
        await producer.stop()
    finally:
        broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="0,5000,10000,20000")
    ap.add_argument("--probe", type=int, default=100)
    args = ap.parse_args()
    asyncio.run(run([int(s) for s in args.steps.split(",")], args.probe))


if __name__ == "__main__":
    main()
