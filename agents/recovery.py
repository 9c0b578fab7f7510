"""Table recovery that does not trust ListOffsets: reads changelogs up to the fetch high watermark.

Faust recovers a table by reading its changelog up to the end offset the broker reports. Tansu
reports the base offset of the last record batch plus one, so Faust silently stops before the
tail of every partition whose last batch held more than one record. This catch-up runs after
Faust's own recovery and before the streams resume: it re-reads the changelog partitions this
worker owns until its position reaches the high watermark returned in fetch responses (correct
on Tansu and Apache Kafka alike) and puts every entry in the table's store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


async def catch_up(
    table: Any, bootstrap: list[str], partitions: set[int], timeout: float = 60.0,
    decode: Callable[[bytes], Any] | None = None,
) -> int:
    """Load every record of the given changelog partitions into table.data; return the count.

    `decode` turns a changelog value into the stored value (default: the table's value type
    applied to the decoded text)."""
    if decode is None:
        def decode(raw: bytes) -> Any:
            return table.value_type(raw.decode())

    from aiokafka import AIOKafkaConsumer, TopicPartition

    if not partitions:
        return 0
    topic = table.changelog_topic.get_topic_name()
    tps = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    loaded = 0
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        pending = set(tps)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"changelog catch-up of {topic} did not finish in {timeout} s")
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=10_000)
            for records in batches.values():
                for r in records:
                    if r.value is None:
                        table.data.pop(r.key, None)
                    else:
                        table.data[r.key] = decode(r.value)
                    loaded += 1
            for tp in list(pending):
                hw = consumer.highwater(tp)
                if hw is not None and await consumer.position(tp) >= hw:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return loaded
