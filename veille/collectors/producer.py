"""A durable kafka-python producer for collectors: acks from all in-sync replicas, retries."""

from __future__ import annotations

from typing import Any

from veille.settings import Settings


def make_producer(settings: Settings, **overrides: Any) -> Any:
    from kafka import KafkaProducer

    config: dict[str, Any] = dict(
        bootstrap_servers=settings.bootstrap_servers,
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
