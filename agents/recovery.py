"""Table recovery that does not trust ListOffsets: reads changelogs up to the fetch high watermark.

Faust recovers a table by reading its changelog up to the end offset the broker reports. Tansu
reports the base offset of the last record batch plus one, so Faust silently stops before the
tail of every partition whose last batch held more than one record. This catch-up runs after
Faust's own recovery and before the streams resume: it re-reads the changelog partitions this
worker owns until its position reaches the high watermark returned in fetch responses (correct
on Tansu and Apache Kafka alike) and puts every entry in the table's store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)


async def read_to_end(
    brokers: Mapping[str, Any], tps: list[Any], handle: Callable[[Any], None],
    start: Callable[[Any, int], int] | None = None, timeout: float = 60.0,
) -> int:
    """Feed every record of the partitions `tps` to `handle`, up to the high watermark of fetch
    responses; return how many were read.

    `start(tp, reported_end)` gives the offset to read from (default: the beginning);
    `reported_end` is the broker's ListOffsets end, which Tansu reports too low, so it may only
    serve as a lower bound. `timeout` bounds a stall, not the whole read: TimeoutError once
    that long passed without a record read nor a partition finished. (A fixed deadline over
    the whole read, restarted from the beginning by catch_up_retrying, never ended once a
    changelog took longer than that to read: the agents stayed paused for good.)"""
    from aiokafka import AIOKafkaConsumer

    if not tps:
        return 0
    consumer = AIOKafkaConsumer(
        **brokers, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    read = 0
    try:
        consumer.assign(tps)
        if start is None:
            await consumer.seek_to_beginning(*tps)
        else:
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                consumer.seek(tp, start(tp, ends.get(tp, 0)))
        pending = set(tps)
        progress = time.monotonic()
        while pending:
            if time.monotonic() - progress > timeout:
                raise TimeoutError(f"reading {sorted(str(tp) for tp in pending)} to their end: "
                                   f"no progress for {timeout} s ({read} records read)")
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
            for records in batches.values():
                for r in records:
                    handle(r)
                    read += 1
                if records:
                    progress = time.monotonic()
            for tp in list(pending):
                hw = consumer.highwater(tp)
                if hw is not None and await consumer.position(tp) >= hw:
                    pending.discard(tp)
                    progress = time.monotonic()
    finally:
        await consumer.stop()
    return read


async def catch_up(
    table: Any, brokers: Mapping[str, Any], partitions: set[int], timeout: float = 60.0,
    decode: Callable[[bytes], Any] | None = None, current: Callable[[], bool] = lambda: True,
) -> int:
    """Load every record of the given changelog partitions into table.data; return the count.

    `decode` turns a changelog value into the stored value (default: the table's value type
    applied to the decoded text)."""
    if decode is None:
        def decode(raw: bytes) -> Any:
            return table.value_type(raw.decode())

    from aiokafka import TopicPartition

    topic = table.changelog_topic.get_topic_name()

    def load(r: Any) -> None:
        if not current():
            raise Superseded(topic)
        if r.value is None:
            table.data.pop(r.key, None)
        else:
            table.data[r.key] = decode(r.value)

    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    return await read_to_end(brokers, tps, load, timeout=timeout)


class Superseded(Exception):
    """A newer rebalance's recovery started: this one must stop and change nothing more."""


class Recoveries:
    """Numbers an agent's recoveries (its on_recover calls): `start()` at the top of each gives
    the `current` test of catch_up_retrying, False once a newer recovery has started."""

    def __init__(self) -> None:
        self.latest = 0

    def start(self) -> Callable[[], bool]:
        self.latest += 1
        mine = self.latest
        return lambda: self.latest == mine


async def catch_up_retrying(table: Any, brokers: Mapping[str, Any], partitions: set[int],
                            decode: Callable[[bytes], Any] | None = None,
                            backoff: float = 1.0, max_backoff: float = 30.0,
                            current: Callable[[], bool] = lambda: True) -> int:
    """catch_up until it succeeds. Faust runs on_recover callbacks with asyncio.wait, which
    drops their exceptions and resumes the streams anyway: a failed catch-up (a broker blip,
    its deadline) would leave the agents running on tables without the changelog's tail. Until
    it succeeds the streams stay paused, as for a recovery that takes long.

    Faust does not cancel an on_recover callback when a newer rebalance supersedes its
    recovery (its task was started apart): it ran on, and its end rebuilt the agents' state
    for the old assignment while the new generation's agent ran (found in review, 2026-12-05:
    a KeyError out of the spike agent). With `current` (False once a newer recovery started),
    it stops at the next record or retry, raising Superseded, and writes nothing more."""
    log = logging.getLogger(__name__)
    while True:
        if not current():
            raise Superseded(getattr(table, "name", str(table)))
        try:
            read = await catch_up(table, brokers, partitions, decode=decode, current=current)
        except Superseded:
            raise
        except Exception as exc:  # noqa: BLE001 (retried; a cancellation still stops it)
            log.warning("recovery: re-reading %s failed (%r); retrying in %.0f s",
                        getattr(table, "name", table), exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        if not current():  # superseded while the last records were read
            raise Superseded(getattr(table, "name", str(table)))
        return read
