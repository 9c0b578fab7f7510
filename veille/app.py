"""The Faust application, built from Settings (one per process)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import faust

from veille.settings import Settings

_FETCH_MAX_WAIT_MS = [100]


def _bound_fetch_wait() -> None:
    """Make Faust's worker consumer use our fetch_max_wait_ms instead of its hard-coded 1500.

    A fetch with no new data waits up to fetch_max_wait_ms. Apache Kafka answers as soon as
    data arrives, but Tansu holds the request for the whole wait (measured: 715 ms at 1500,
    16 ms at 100), which added ~0.75 s per hop. Faust offers no setting for it, so the
    consumer it builds is adjusted before it starts. Idempotent.
    """
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    if getattr(cls._create_worker_consumer, "_veille", False):
        return
    original = cls._create_worker_consumer

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = _FETCH_MAX_WAIT_MS[0]
        return consumer

    create._veille = True  # type: ignore[attr-defined]
    cls._create_worker_consumer = create  # type: ignore[method-assign]


class App(faust.App):
    """faust.App that knows since when its agents have been paused.

    Faust suspends every agent's stream from the start of a rebalance until its tables are
    recovered and the on_recover callbacks (the catch-up of agents/recovery.py, retried until
    it succeeds) have returned; before the first rebalance they have not run at all. Nothing
    else tells a paused worker from an idle one: the heartbeat and the enrichment stage go on.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.paused_since: float | None = time.monotonic()

    def on_rebalance_start(self) -> None:
        self._mark_paused()
        super().on_rebalance_start()

    async def _on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        # Again at each assignment: a revoke arriving while the previous recovery was ending
        # (its on_rebalance_start a no-op, the pause already marked) was followed by that
        # recovery's on_rebalance_end, and the new rebalance ran unmarked.
        self._mark_paused()
        await super()._on_partitions_assigned(assigned, generation_id)

    def on_rebalance_end(self) -> None:
        try:
            super().on_rebalance_end()
        finally:
            self.paused_since = None

    def _mark_paused(self) -> None:
        if self.paused_since is None:
            self.paused_since = time.monotonic()

    def paused_seconds(self) -> float:
        """How long the agents have been paused; 0 while they run."""
        since = self.paused_since
        return 0.0 if since is None else time.monotonic() - since


def faust_credentials(settings: Settings) -> Any:
    """VEILLE_BROKER_SECURITY_PROTOCOL and its settings as Faust's broker_credentials, which
    Faust hands to every aiokafka client it makes (the same options as veille's own clients:
    Settings.kafka_security); None for PLAINTEXT."""
    from faust.auth import SASLCredentials, SSLCredentials

    protocol = settings.broker_security_protocol
    if protocol.startswith("SASL_"):
        return SASLCredentials(username=settings.broker_sasl_username,
                               password=settings.broker_sasl_password,
                               mechanism=settings.broker_sasl_mechanism,
                               ssl_context=settings.ssl_context())
    if protocol == "SSL":
        return SSLCredentials(settings.ssl_context())
    return None


def create_app(settings: Settings) -> App:
    """A Faust app configured from settings alone: the same code talks to Tansu and Apache Kafka."""
    _FETCH_MAX_WAIT_MS[0] = settings.consumer_fetch_max_wait_ms
    _bound_fetch_wait()
    # Faust 0.15.3 resumes table-backed streams before its seek to the committed offsets:
    # records fetched in between are dropped as "already read" and a partition's commits can
    # stall (bench/faust_handback.py --table). See veille/faust_fixes.py.
    from veille import faust_fixes

    faust_fixes.install()
    datadir = Path(settings.data_dir) / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    return App(
        settings.app_id,
        broker=settings.faust_broker,
        broker_credentials=faust_credentials(settings),
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
        # Faust refuses a session timeout above its request timeout (90 s by default): a longer
        # session (Apache Kafka allows 30 minutes) gets the requests to match.
        broker_request_timeout=settings.group_request_timeout,
        # Metrics are served by prometheus-client on their own port; no Faust web server.
        web_enabled=False,
        # No <app_id>-__assignor-__leader topic: it serves Faust's on_leader timers, which
        # veille has none of; Faust created it and subscribed the group to it all the same (one
        # more topic to create, authorize and assign; until 2026-12-06).
        topic_disable_leader=True,
        table_standby_replicas=0,
        # Faust compares a table's last applied changelog offset with the end offset the broker
        # reports and crashes the worker when the first is higher. Tansu reports end offsets
        # too low (see agents/recovery.py), so a partition handed back to a worker that had
        # owned it crashed that worker (seen in tests/integration/test_scaling.py). The check
        # guards against RocksDB files outliving their topic; tables here live in memory and
        # are re-read to the fetch high watermark after every recovery (agents/recovery.py).
        recovery_consistency_check=False,
    )
