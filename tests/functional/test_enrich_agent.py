"""The enrichment agent through Faust's test_context(): its logic, with outbound topics replaced."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

from agents.worker import build
from tests.conftest import ROOT
from veille.settings import Settings


class Sink:
    """Stands in for an outbound topic: records what the agent sends, acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes, Any]] = []

    async def send(self, key: bytes | None = None, value: bytes = b"", headers: Any = None,
                   **_: Any) -> asyncio.Future[None]:
        self.sent.append((key, value, headers))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def good(i: str, text: str) -> bytes:
    return json.dumps({"id": i, "source": "t", "platform": "twitter", "text": text,
                       "created_at": datetime.now(UTC).isoformat()}).encode()


async def run_agent(tmp: Path, messages: list[tuple[bytes, bytes]]) -> tuple[Any, dict[str, Sink]]:
    settings = Settings.from_env({}, watchlist=str(ROOT / "tests/data/watchlist.toml"),
                                 data_dir=str(tmp))
    pipeline = build(settings)
    sinks = {"enriched": Sink(), "dlq": Sink(), "raw": Sink(), "queue": Sink()}
    # Outbound topics replaced (the agent reads them at send time); the inbound channel is
    # replaced by test_context itself.
    for name, sink in sinks.items():
        object.__setattr__(pipeline.topics, name, sink)
    table = pipeline.app.tables["dedup"]
    written = mock.Mock(return_value=mock.Mock(message=mock.Mock(partition=0)))
    with mock.patch.object(type(table), "send_changelog", written):
        async with pipeline.app.agents["enrich"].test_context() as agent:
            for key, value in messages:
                await agent.put(key=key, value=value)
            await asyncio.sleep(0.2)
    pipeline.changelog_writes = written.call_count  # type: ignore[attr-defined]
    return pipeline, sinks


def test_agent_enriches_dead_letters_and_deduplicates(tmp_path: Path) -> None:
    messages = [
        (b"a", good("a", "I love Acme Mobile!")),
        (b"x", b"\xff"),
        (b"b", good("b", "Boréal café est vraiment nul, très déçu")),
        (b"a", good("a", "I love Acme Mobile!")),
        (b"wrong", good("c", "rekeyed Acme mention")),
        (b"d", good("d", "@acme_fr espèce de connard")),
    ]
    pipeline, sinks = asyncio.run(run_agent(tmp_path, messages))
    enriched = [json.loads(v) for _, v, _ in sinks["enriched"].sent]
    assert [e["id"] for e in enriched] == ["a", "b", "d"]
    assert enriched[0]["triage"] == {"categories": [], "severity": "none", "action": "none"}
    # Only what needs a moderator goes to moderation.queue, keyed by the mention (case) id.
    [(key, value, _)] = sinks["queue"].sent
    item = json.loads(value)
    assert key == b"d" and (item["case_id"], item["brand"], item["action"]) == ("d", "acme", "hide")
    assert enriched[2]["triage"]["categories"] == item["categories"] == ["insult", "aggressive"]
    assert enriched[0]["sentiment"]["label"] == "positive" and enriched[0]["brands"] == ["acme"]
    assert enriched[1]["language"] == "fr" and enriched[1]["sentiment"]["label"] == "negative"
    [(key, value, headers)] = sinks["dlq"].sent
    assert key == b"x" and value == b"\xff" and dict(headers)["veille-dlq-reason"] == b"undecodable_bytes"
    [(key, value, _)] = sinks["raw"].sent
    assert key == b"c" and value == messages[4][1]
    assert pipeline.metrics.duplicates._value.get() == 1
    assert pipeline.changelog_writes == 3  # one de-duplication entry per enriched mention
