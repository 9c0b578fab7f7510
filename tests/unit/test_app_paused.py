"""veille.app.App: how long the Faust agents have been paused, for veille_agents_paused_seconds."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from veille.app import create_app
from veille.metrics import agents_paused
from veille.settings import Settings


def test_paused_from_creation_and_from_each_rebalance_start_to_its_end(tmp_path) -> None:
    app = create_app(Settings(data_dir=str(tmp_path)))
    registry = CollectorRegistry()
    agents_paused(registry, app.paused_seconds)

    def exported() -> float | None:
        return registry.get_sample_value("veille_agents_paused_seconds")

    time.sleep(0.02)
    assert exported() >= 0.02  # not joined yet: its agents have not run
    app.on_rebalance_end()
    assert exported() == 0 and not app.rebalancing
    app.on_rebalance_start()
    time.sleep(0.02)
    app.on_rebalance_start()  # a rebalance interrupting another: still paused since the first
    assert app.rebalancing and exported() >= 0.02
    app.on_rebalance_end()
    assert exported() == 0
    # A revoke while the previous recovery ends: its start is a no-op (already paused), then
    # that recovery's end clears the pause; the new rebalance's assignment marks it again.
    app.on_rebalance_start()
    app.on_rebalance_end()
    assert exported() == 0
    asyncio.run(app._on_partitions_assigned(set()))
    assert exported() > 0
