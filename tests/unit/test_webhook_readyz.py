"""The webhook's /readyz under a flood: a real collector, and a silent stand-in for the broker."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


def test_a_flood_of_readyz_asks_the_broker_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review (2026-12-06): /readyz, which needs no credentials (load balancers ask
    it), made a probe per request: a thread and a connection to every bootstrap server each,
    1 s long against a silent server. 100 requests at once from anyone on the internet made 100
    threads and 100 connections to the broker. Requests at once now share one probe, and its
    verdict answers the next second's requests too."""
    import veille.collectors.webhook as webhook

    # The reuse window widened: answering the 100 and sending one more within the real 1 s
    # after the probe ended is a race on a loaded CI machine (a second probe: 2 connections).
    monkeypatch.setattr(webhook, "PROBE_REUSE_SECONDS", 30.0)
    accepted: list[int] = []
    probes_alive: list[int] = []

    async def scenario() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(1)
            await reader.read()  # says nothing; the probe times out
            writer.close()

        broker = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = broker.sockets[0].getsockname()[1]
        settings = Settings.from_env({}).with_(webhook_port=0, broker_url=f"127.0.0.1:{port}",
                                               collector_state_dir=str(tmp_path / "state"))
        metrics = CollectorMetrics(CollectorRegistry())
        c = WebhookCollector(settings, metrics, ListSink(settings, "webhook", metrics))
        await c.start()
        try:
            async def ready(http: aiohttp.ClientSession) -> int:
                async with http.get(c.url + "/readyz") as resp:
                    return resp.status

            async def count_probes() -> None:
                while True:
                    probes_alive.append(sum(t.name == "veille-probe" for t in threading.enumerate()))
                    await asyncio.sleep(0.05)

            counting = asyncio.create_task(count_probes())
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                statuses = await asyncio.gather(*(ready(http) for _ in range(100)))
                again = await ready(http)  # within the reuse window: the same verdict, no new probe
            counting.cancel()
            assert statuses == [503] * 100 and again == 503
        finally:
            await c.stop()
            await c.close()
            broker.close()

    asyncio.run(scenario())
    assert len(accepted) == 1, len(accepted)
    assert max(probes_alive) <= 1, max(probes_alive)
