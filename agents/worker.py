"""Wiring: Settings -> the Faust app with its agents, metrics and topics, ready to run."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from agents import moderation, spikes
from agents.enrich import Enricher, install
from streams.records import Limits
from streams.topics import Topics, declare
from veille.app import create_app
from veille.metrics import Metrics, ModerationMetrics, SpikeMetrics
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    app: Any
    topics: Topics
    metrics: Metrics
    enricher: Enricher
    registry: CollectorRegistry


def build(settings: Settings, registry: CollectorRegistry | None = None,
          analyzer: Analyzer | None = None) -> Pipeline:
    registry = registry if registry is not None else CollectorRegistry()
    watchlist = Watchlist.from_toml(settings.watchlist_path)
    analyzer = analyzer or Analyzer()
    app = create_app(settings)
    topics = declare(app, settings)
    metrics = Metrics(registry, watchlist.brand_ids, analyzer.languages)
    enricher = Enricher(analyzer, watchlist, Limits.from_settings(settings))
    install(app, settings, enricher, metrics)

    async def count_rebalance(sender: Any, *args: Any, **kwargs: Any) -> None:
        metrics.rebalances.inc()

    app.on_partitions_assigned.connect(count_rebalance)  # type: ignore[arg-type]

    spikes.install(app, topics, watchlist, SpikeMetrics(registry, watchlist.brand_ids), settings)
    moderation.install(app, topics, ModerationMetrics(registry, watchlist.brand_ids), settings,
                       watchlist.brand_ids)
    return Pipeline(app, topics, metrics, enricher, registry)


def run(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM: topics ensured, /metrics served, agents started."""
    import faust
    import mode.loop
    from prometheus_client import start_http_server

    from streams.topics import ensure_topics

    ensure_topics(settings)
    pipeline = build(settings)
    server, _thread = start_http_server(
        settings.metrics_port, addr=settings.metrics_host, registry=pipeline.registry
    )
    port = server.server_address[1]
    print(f"veille worker: metrics at http://{settings.metrics_host}:{port}/metrics", flush=True)
    # uvloop: the worker is bound by per-message event-loop overhead, which uvloop trims.
    mode.loop.use("uvloop")
    try:
        worker = faust.Worker(
            pipeline.app, loglevel=settings.log_level.lower(), quiet=True,
            override_logging=True,
        )
        worker.execute_from_commandline()
    finally:
        server.shutdown()
