"""A durable kafka-python producer for collectors: acks from all in-sync replicas, retries."""

from __future__ import annotations

import logging
from typing import Any

from veille import kafka_crc
from veille.settings import Settings

log = logging.getLogger(__name__)


def make_producer(settings: Settings, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    # Each batch's CRC-32C computed in C: in pure Python it was 60 % of a producer's CPU
    # (kafka-python, 60,000 records of 300 bytes to the embedded broker: 106-110 µs of CPU a
    # record, 42-46 with it; 2026-12-06).
    kafka_crc.install()

    config: dict[str, Any] = dict(
        **settings.kafka_client_options(),
        client_id=f"{settings.app_id}-collector",
        acks="all",
        retries=2**31 - 1,
        # kafka-python's idempotent producer works on Apache Kafka and on Tansu alike.
        enable_idempotence=True,
        linger_ms=int(settings.producer_linger_ms),
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=15_000,
        max_block_ms=30_000,
    )
    config.update(overrides)
    return KafkaProducer(**config)


def close_now(producer: Any, join_seconds: float) -> None:
    """Close a producer whose batches the broker does not acknowledge, without waiting for
    them: kafka-python 3.0's close() flushes first, and its idempotent producer waiting for a
    producer id never expires its batches, so that flush waited for ever. Stops the I/O thread
    (aborting the unacknowledged batches), then closes."""
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(join_seconds)
    try:
        producer.close(timeout=0)
    except Exception as exc:  # noqa: BLE001 (closing a failed producer: nothing to do)
        log.debug("closing a failed producer: %s", type(exc).__name__)
