"""Test doubles for the collectors."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from streams.records import RawMention
from veille.collectors.base import Collector, MentionSink, Record
from veille.collectors.polling import PollingCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


class ListSink(MentionSink):
    """Acknowledges every mention at once and keeps it (no broker)."""

    def __init__(self, settings: Settings, collector: str, metrics: CollectorMetrics) -> None:
        super().__init__(settings, collector, metrics)
        self.sent: list[RawMention] = []
        self.records: list[Record] = []

    async def send(self, mentions: Iterable[RawMention], timeout: float | None = None, *,
                   records: Iterable[Record] = ()) -> int:
        batch = list(mentions)
        self.sent.extend(batch)
        self.records.extend(records)
        return len(batch)

    def close(self) -> None:
        pass


def save_settled(path: Path | str, text: str) -> None:
    """Write a watch list as if saved a while ago: a collector following it takes it at its next
    look, without waiting for it to settle (veille.reload.SETTLE_SECONDS)."""
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    past = time.time() - 10
    os.utime(path, (past, past))


#: A watch list of two brands, for the search collectors' tests (Bluesky, Reddit): names, an
#: alias, a hashtag and a keyword (never searched).
SEARCH_WATCHLIST = """
[[brands]]
id = "acme"
name = "Acme"
aliases = ["Acme Mobile"]
keywords = ["Zéphyr X2"]
hashtags = ["#AcmeDown"]

[[brands]]
id = "boreal"
name = "Boréal"
"""


def search_settings(settings: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    """`settings` for a collector of SEARCH_WATCHLIST's brands on the test's broker: its own state
    folder and metrics port, the topics created."""
    from streams.topics import ensure_topics
    from veille.broker import free_port

    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(SEARCH_WATCHLIST, encoding="utf-8")
    s = settings.with_(collector_state_dir=str(tmp_path / "collectors"),
                       collector_metrics_port=free_port(), watchlist=str(watchlist), **overrides)
    ensure_topics(s)
    return s


@asynccontextmanager
async def running(collector: Collector, stop_timeout: float = 30.0) -> AsyncIterator[Collector]:
    """The collector started and running its loop until the block ends, then stopped (within
    `stop_timeout` seconds) and closed."""
    import asyncio

    await collector.start()
    task = asyncio.create_task(collector.run())
    try:
        yield collector
    finally:
        await collector.stop()
        await asyncio.wait_for(task, stop_timeout)
        await collector.close()


async def one_round(collector: PollingCollector) -> Any:
    """Start `collector`, run one round, close it: the round's result."""
    await collector.start()
    try:
        return await collector.poll_round()
    finally:
        await collector.close()
