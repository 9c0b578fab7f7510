"""The Faust application, built from Settings (one per process)."""

from __future__ import annotations

from pathlib import Path

import faust

from veille.settings import Settings


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured from settings alone: the same code talks to Tansu and Apache Kafka."""
    datadir = Path(settings.data_dir) / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        settings.app_id,
        broker=settings.broker_url,
        datadir=str(datadir),
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        # A new consumer group starts from the beginning: what collectors wrote before the
        # first worker started is enriched too.
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000.0,
        producer_max_batch_size=256 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        consumer_max_fetch_size=4 * 1024 * 1024,
        broker_max_poll_records=2000,
        stream_buffer_maxsize=16384,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        broker_session_timeout=settings.broker_session_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        # Metrics are served by prometheus-client on their own port; no Faust web server.
        web_enabled=False,
        table_standby_replicas=0,
    )
