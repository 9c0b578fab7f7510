"""A webhook collector on a free port, pushed to through real HTTP, with a sink that keeps what
it was given (no broker): for the tests of what the webhook makes of a body."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from veille.collectors.base import MentionSink
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


class Recorder(MentionSink):
    """Acknowledges every write at once, keeping what it was given."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.written: dict[str, Any] = {}

    async def send(self, mentions, timeout=None, *, records=()):  # type: ignore[no-untyped-def]
        batch = list(mentions)
        self.written.update((m.id, m) for m in batch)
        return len(batch)

    def close(self) -> None:
        pass


def post(settings: Settings, bodies: list[tuple[str, Any]]) -> tuple[list[tuple[int, Any]], Recorder]:
    """Each (kind, body) POSTed in turn to /mentions, kind "json" or "form" (a form body: a dict
    of fields): (status, JSON answer) each, and the sink."""

    async def scenario() -> tuple[list[tuple[int, Any]], Recorder]:
        metrics = CollectorMetrics(CollectorRegistry())
        sink = Recorder(settings, "webhook", metrics, ack_timeout=5.0)
        c = WebhookCollector(settings.with_(webhook_port=0), metrics, sink, ack_timeout=5.0)
        await c.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as http:
                for kind, body in bodies:
                    given = {"json": body} if kind == "json" else {"data": body}
                    async with http.post(c.url + "/mentions", **given) as resp:
                        answers.append((resp.status, await resp.json()))
        finally:
            await c.stop()
            await c.close()
        return answers, sink

    return asyncio.run(scenario())
