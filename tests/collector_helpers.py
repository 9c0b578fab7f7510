"""Test doubles for the collectors."""

from __future__ import annotations

from collections.abc import Iterable

from streams.records import RawMention
from veille.collectors.base import MentionSink
from veille.metrics import CollectorMetrics
from veille.settings import Settings


class ListSink(MentionSink):
    """Acknowledges every mention at once and keeps it (no broker)."""

    def __init__(self, settings: Settings, collector: str, metrics: CollectorMetrics) -> None:
        super().__init__(settings, collector, metrics)
        self.sent: list[RawMention] = []

    async def send(self, mentions: Iterable[RawMention], timeout: float | None = None) -> int:
        batch = list(mentions)
        self.sent.extend(batch)
        return len(batch)

    def close(self) -> None:
        pass
