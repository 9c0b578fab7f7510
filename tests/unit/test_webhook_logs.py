"""What the webhook collector logs of a refused request: never the client's text as it came."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings

FORGED = "\n2026-12-06 09:00:00,000 ERROR veille.collectors.webhook: forged"


def test_a_refused_field_is_logged_on_one_bounded_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Found in review (2026-12-06): the log line of a refused request named its first bad field
    as sent, and a field's path holds the client's own keys (`extra.<key>` for a number too
    long, `audience.<key>`): a key with a line break wrote a line of the client's choosing in
    the collector's log (a forged ERROR), and a key of 100 KB a log line of 100 KB. The field
    is now logged quoted (repr: a line break is `\\n`) and cut at 80 characters; the answer
    still names it whole."""
    settings = Settings.from_env({}).with_(webhook_port=0,
                                           collector_state_dir=str(tmp_path / "state"))
    metrics = CollectorMetrics(CollectorRegistry())
    now = datetime.now(UTC).isoformat()
    too_long = "9" * 5000  # an integer Python does not convert: the item is refused naming it
    head = f'{{"text": "x", "platform": "x", "created_at": "{now}", "extra": '
    bodies = [head + json.dumps({"k" + FORGED: 0}).replace("0}", too_long + "}") + "}",
              head + json.dumps({"k" * 100_000: 0}).replace("0}", too_long + "}") + "}"]

    async def scenario() -> list[dict[str, object]]:
        c = WebhookCollector(settings, metrics, ListSink(settings, "webhook", metrics))
        await c.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as http:
                for body in bodies:
                    async with http.post(c.url + "/mentions", data=body,
                                         headers={"Content-Type": "application/json"}) as resp:
                        assert resp.status == 400
                        answers.append(await resp.json())
        finally:
            await c.stop()
            await c.close()
        return answers

    with caplog.at_level(logging.INFO, logger="veille.collectors.webhook"):
        answers = asyncio.run(scenario())
    assert [a["field"] for a in answers] == ["extra.k" + FORGED, "extra." + "k" * 100_000]
    refused = [r.getMessage() for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refused) == 2, refused
    for line in refused:
        assert "\n" not in line and len(line) < 300, line[:400]
    assert "forged" in refused[0]  # named all the same, escaped


def test_no_access_log_line_names_the_client(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Found in review (2026-12-06, GDPR): under VEILLE_LOG_LEVEL=INFO, aiohttp's access log
    wrote a line per request with the client's IP address, Referer and User-Agent. The
    moderation API had it off; the webhook now too: no record names the client."""
    settings = Settings.from_env({}).with_(webhook_port=0,
                                           collector_state_dir=str(tmp_path / "state"))
    metrics = CollectorMetrics(CollectorRegistry())
    now = datetime.now(UTC).isoformat()
    body = json.dumps({"text": "x", "platform": "x", "created_at": now})

    async def scenario() -> list[int]:
        c = WebhookCollector(settings, metrics, ListSink(settings, "webhook", metrics))
        await c.start()
        statuses = []
        try:
            async with aiohttp.ClientSession(headers={"User-Agent": "alice-phone",
                                                      "Referer": "https://alice.example/"}) as http:
                async with http.get(c.url + "/healthz") as resp:
                    statuses.append(resp.status)
                async with http.post(c.url + "/mentions", data=body,
                                     headers={"Content-Type": "application/json"}) as resp:
                    statuses.append(resp.status)
        finally:
            await c.stop()
            await c.close()
        return statuses

    with caplog.at_level(logging.INFO):
        statuses = asyncio.run(scenario())
    assert statuses[0] == 200 and statuses[1] < 300, statuses
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "alice" in line or "127.0.0.1 [" in line], lines
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]
