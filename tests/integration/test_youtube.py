"""The YouTube collector against a real local HTTP server (a stand-in for the YouTube Data API
v3's commentThreads.list, answering the documented JSON and checking what it is asked), the real
broker, and, end to end, a real worker."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.topics import MENTIONS_ENRICHED, MODERATION_DECISIONS, ensure_topics
from tests.collector_helpers import one_round
from tests.conftest import ROOT, settings_env
from tests.http_helpers import serve
from tests.kafka_helpers import raw_on_topic, read_all, read_to_end
from veille.broker import free_port
from veille.collectors.base import MentionSink
from veille.collectors.youtube import YoutubeCollector, YoutubeRoundFailed, run_youtube
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration
KEY = "AIzaSy-test-KEY-0f-the-project_123"
ACME_1, ACME_2, BOREAL = "UC" + "a" * 22, "UC" + "A1_-" * 5 + "b2", "UC" + "b" * 22
WATCHLIST = f"""
[[brands]]
id = "acme"
name = "Acme"
youtube_channels = ["{ACME_1}", "{ACME_2}"]

[[brands]]
id = "boreal"
name = "Boréal"
youtube_channels = ["{BOREAL}"]
"""
PATH = "/youtube/v3/commentThreads"


def at(minutes_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - minutes_ago * 60, UTC).isoformat().replace("+00:00", "Z")


def comment(ident: str, text: str, minutes_ago: float, channel: str, video: str = "vid0000000A",
            author: str = "UC" + "v" * 22) -> dict[str, Any]:
    return {"kind": "youtube#comment", "etag": "e", "id": ident, "snippet": {
        "channelId": channel, "videoId": video, "textDisplay": text, "textOriginal": text,
        "authorDisplayName": f"@viewer-{ident[-2:]}", "authorChannelId": {"value": author},
        "canRate": True, "viewerRating": "none", "likeCount": 2,
        "publishedAt": at(minutes_ago), "updatedAt": at(minutes_ago)}}


def thread(ident: str, text: str, minutes_ago: float, channel: str,
           replies: list[tuple[str, str, float]] = (),  # type: ignore[assignment]
           by: dict[str, str] | None = None) -> dict[str, Any]:
    """`by`: reply id -> the channel it was posted from (else a viewer's)."""
    out: dict[str, Any] = {"kind": "youtube#commentThread", "etag": "t", "id": ident, "snippet": {
        "channelId": channel, "videoId": "vid0000000A",
        "topLevelComment": comment(ident, text, minutes_ago, channel),
        "canReply": True, "totalReplyCount": len(replies), "isPublic": True}}
    if replies:
        out["replies"] = {"comments": [
            comment(f"{ident}.{r}", t, m, channel, **({"author": by[r]} if r in (by or {}) else {}))
            for r, t, m in replies]}
    return out


def error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [
        {"message": message, "domain": "youtube.commentThread", "reason": reason}]}}


@dataclass
class YouTube:
    """commentThreads.list: threads per channel, newest first, `page` a page; `fail` answers a
    channel (or "*": every one) with an error; every request's parameters kept."""

    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    asked: list[dict[str, str]] = field(default_factory=list)
    page: int = 2
    base: str = ""

    async def comment_threads(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.asked.append(q)
        if q.get("key") != KEY:
            return web.json_response(error(400, "keyInvalid", "API key not valid. Please pass a "
                                           "valid API key."), status=400)
        channel = q.get("allThreadsRelatedToChannelId", "")
        for who in (channel, "*"):
            if who in self.fail:
                status, body = self.fail[who]
                return web.json_response(body, status=status)
        assert (q["part"], q["order"], q["textFormat"], q["maxResults"]) == (
            "snippet,replies", "time", "plainText", "100"), q
        items = self.threads.get(channel, [])
        start = int(q.get("pageToken", "0"))
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "etag": "x",
                                "pageInfo": {"totalResults": len(items), "resultsPerPage": 100},
                                "items": items[start:start + self.page]}
        if start + self.page < len(items):
            body["nextPageToken"] = str(start + self.page)
        return web.json_response(body)

    def channels_asked(self) -> list[str]:
        return [q.get("allThreadsRelatedToChannelId", "") for q in self.asked]


@asynccontextmanager
async def youtube() -> AsyncIterator[YouTube]:
    server = YouTube()
    async with serve([("GET", PATH, server.comment_threads)]) as base:
        server.base = base
        yield server


@pytest.fixture
def y_settings(settings: Settings, tmp_path: Path) -> Settings:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    s = settings.with_(collector_state_dir=str(tmp_path / "collectors"),
                       collector_metrics_port=free_port(), watchlist=str(watchlist),
                       youtube_api_key=KEY)
    ensure_topics(s)
    return s


def on(srv: YouTube, settings: Settings) -> Settings:
    return settings.with_(youtube_api_url=srv.base + "/youtube/v3")


def new_collector(settings: Settings) -> YoutubeCollector:
    return YoutubeCollector(settings, CollectorMetrics(CollectorRegistry()))


def sample(c: YoutubeCollector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels) or 0.0


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "veille.collectors.youtube", *args, env=settings_env(settings),
        cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def seed(srv: YouTube) -> None:
    srv.threads = {
        ACME_1: [thread("Ugw1", "the sound cuts out after the update, fix it", 5, ACME_1,
                        [("r1", "same here since Tuesday", 3)]),
                 thread("Ugw0", "older, before the collector", 50, ACME_1)],
        ACME_2: [thread("Ugx1", "love the new colour", 4, ACME_2)],
        BOREAL: [thread("Ugz1", "where is my parcel??", 6, BOREAL)],
    }
    srv.page = 1  # the first round reads each channel's newest page only


def test_comments_of_each_brands_channels_reach_mentions_raw_as_its_own_once(
        y_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Two channels of Acme, one of Boréal; comments naming no brand: each on mentions.raw with
    its channel's brand; a second round sends nothing twice, a third sends a new comment and a
    reply, reading further pages while they are new; the state survives a restart; the key is
    in no log line."""
    caplog.set_level(logging.DEBUG, logger="veille")

    async def scenario() -> None:
        async with youtube() as srv:
            settings = on(srv, y_settings)
            seed(srv)
            assert await run_youtube(settings, once=True) == []
            sent = {m["id"]: m for m in await raw_on_topic(settings, 4)}
            assert sorted(sent) == ["youtube-Ugw1", "youtube-Ugw1.r1", "youtube-Ugx1", "youtube-Ugz1"]
            assert [sent[i]["brands"] for i in sorted(sent)] == [["acme"], ["acme"], ["acme"], ["boreal"]]
            top = sent["youtube-Ugw1"]
            assert (top["source"], top["platform"], top["author"], top["audience"]) == (
                "youtube", "youtube", "@viewer-w1", {"likes": 2, "replies": 1})
            assert top["url"] == "https://www.youtube.com/watch?v=vid0000000A&lc=Ugw1"
            assert top["text"] == "the sound cuts out after the update, fix it"
            assert sorted(srv.channels_asked()) == sorted([ACME_1, ACME_2, BOREAL])

            srv.asked.clear()
            assert await run_youtube(settings, once=True) == []  # a new process' state: the files
            assert len(await raw_on_topic(settings, 4)) == 4

            srv.page = 1
            # Acme's answers, from either of its channels, are read but not sent (no mentions of
            # it); Boréal's answer on Acme's channel is one.
            srv.threads[ACME_1] = [thread("Ugw2", "still broken", 1, ACME_1)] + [
                thread("Ugw1", "the sound cuts out after the update, fix it", 5, ACME_1,
                       [("r1", "same here since Tuesday", 3), ("r2", "and on mine", 0.5),
                        ("a1", "Sorry! A fix ships on Friday", 0.4),
                        ("a2", "DM us your order number", 0.3), ("b1", "try our café", 0.2)],
                       by={"a1": ACME_1, "a2": ACME_2, "b1": BOREAL})
            ] + srv.threads[ACME_1][1:]
            srv.asked.clear()
            collector = new_collector(settings)
            assert await run_youtube(settings, once=True, collector=collector) == []
            again = [m["id"] for m in await raw_on_topic(settings, 7)]
            assert len(again) == 7 and sorted(set(again) - set(sent)) == [
                "youtube-Ugw1.b1", "youtube-Ugw1.r2", "youtube-Ugw2"]
            # ACME_1: its new page, then the next while new, stopped at the one below the cursor.
            assert [q.get("pageToken") for q in srv.asked
                    if q["allThreadsRelatedToChannelId"] == ACME_1] == [None, "1", "2"]
            assert sample(collector, "veille_youtube_brand_last_success_timestamp_seconds",
                          brand="acme") > 0
        lines = [r.getMessage() for r in caplog.records]
        assert lines and not [line for line in lines if KEY in line]

    asyncio.run(scenario())


def test_quota_channel_and_key_failures(y_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """quotaExceeded: no further request (the other channels fail rate_limited unasked);
    commentsDisabled: that channel fails, the others are sent (`--once` exit 1); keyInvalid: every
    channel fails at once (`--once` exit 2 naming VEILLE_YOUTUBE_API_KEY). The key is in no
    log line nor in the output."""
    caplog.set_level(logging.DEBUG, logger="veille")

    async def scenario() -> None:
        async with youtube() as srv:
            settings = on(srv, y_settings)
            seed(srv)
            srv.fail["*"] = (403, error(403, "quotaExceeded", "The request cannot be completed "
                                        "because you have exceeded your quota."))
            collector = new_collector(settings)
            with pytest.raises(YoutubeRoundFailed, match="daily quota is spent"):
                await run_youtube(settings, once=True, collector=collector)
            assert len(srv.asked) == 1  # the first channel only: then no request until midnight PT
            assert sample(collector, "veille_youtube_brand_failures_total", brand="acme",
                          kind="rate_limited") == 2  # its two channels
            assert sample(collector, "veille_youtube_brand_failures_total", brand="boreal",
                          kind="rate_limited") == 1

            srv.fail = {ACME_2: (403, error(403, "commentsDisabled", "The video identified by the "
                                            "videoId parameter has disabled comments."))}
            srv.asked.clear()
            code, out, err = await run_cli(settings, "--once")
            assert code == 1, err
            assert "veille: warning: youtube: 1 channel(s) could not be read" in err
            assert f"youtube: {ACME_2} (acme): failed, 0 comments" in out and "commentsDisabled" in out
            assert f"youtube: {BOREAL} (boreal): ok, 1 comments, 1 sent, 0 refused" in out
            assert len(await raw_on_topic(settings, 3)) == 3
            assert KEY not in out + err

            srv.fail = {}
            srv.asked.clear()
            code, out, err = await run_cli(settings.with_(youtube_api_key="wrong-key-123"), "--once")
            assert code == 2, err
            assert "VEILLE_YOUTUBE_API_KEY" in err and "Traceback" not in err
            assert len(srv.asked) == 1  # the key refused: the other channels are not asked
            assert "wrong-key-123" not in out + err

            code, _, err = await run_cli(settings.with_(youtube_api_key=""), "--once")
            assert code == 2 and "VEILLE_YOUTUBE_API_KEY is empty" in err
        assert not [r for r in caplog.records if KEY in r.getMessage()]

    asyncio.run(scenario())


def test_a_brand_reply_is_an_answer_on_moderation_decisions_acknowledged_with_the_round(
        y_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A customer's complaint and Acme's reply (from its other channel): the complaint on
    mentions.raw, the reply not; the reply as a `replied` decision of the complaint's case on
    moderation.decisions, keyed by the case id. A broker that does not acknowledge: no state
    saved, no answer counted; the next round sends both. A round with an answer and no new
    comment sends the answer alone."""
    caplog.set_level(logging.INFO, logger="veille")

    async def scenario() -> None:
        async with youtube() as srv:
            settings = on(srv, y_settings)
            complaint = ("Ugc1", "my order never came, third email", 10.0)
            srv.threads = {ACME_1: [thread(*complaint, ACME_1, [("a1", "Sorry! DM us", 2)],
                                           by={"a1": ACME_2})]}
            dead = settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            metrics = CollectorMetrics(CollectorRegistry())
            collector = YoutubeCollector(settings, metrics,
                                         sink=MentionSink(dead, "youtube", metrics, ack_timeout=1.0))
            assert (await one_round(collector)).status == "broker_error"
            assert not list(Path(settings.collector_state_dir).rglob("*.json"))
            assert sample(collector, "veille_collector_answers_sent_total",
                          collector="youtube") == 0

            collector = new_collector(settings)
            assert (await one_round(collector)).sent == 1
            [mention] = await raw_on_topic(settings, 1)
            assert mention["id"] == "youtube-Ugc1"
            [record] = await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1, 30.0, 1.0)
            assert record.key == b"youtube-Ugc1"
            answer = json.loads(record.value)
            assert (answer["decision"], answer["moderator"], answer["answered_on"]) == (
                "replied", "@viewer-a1", "youtube")
            assert answer["reason"] == "https://www.youtube.com/watch?v=vid0000000A&lc=Ugc1.a1"
            assert sample(collector, "veille_collector_answers_sent_total", collector="youtube") == 1
            assert len(list(Path(settings.collector_state_dir).rglob("*.json"))) == 1

            # A later answer, the complaint read already: sent alone, the complaint not again.
            srv.threads[ACME_1] = [thread(*complaint, ACME_1, [
                ("a1", "Sorry! DM us", 2), ("a2", "@viewer-c1 it ships today", 1)],
                by={"a1": ACME_2, "a2": ACME_1})]
            collector = new_collector(settings)
            assert (await one_round(collector)).sent == 0
            records = await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 2, 30.0, 1.0)
            assert [r.key for r in records] == [b"youtube-Ugc1"] * 2
            assert len(await raw_on_topic(settings, 1)) == 1
        lines = [r.getMessage() for r in caplog.records]
        assert lines.count("youtube: 1 answer of the brand's channels sent to "
                           f"{settings.topic(MODERATION_DECISIONS)}") == 2

    asyncio.run(scenario())


def test_a_comment_on_a_brands_channel_is_enriched_as_the_brands(
        y_settings: Settings, start_worker: Any) -> None:
    """End to end: a comment naming no brand, read on Acme's channel, goes through the real
    worker as Acme's (rule acme:source:youtube), triaged with Acme's charter."""
    from tests.integration.test_pipeline import wait_drained

    async def scenario(settings: Settings) -> None:
        async with youtube() as srv:
            srv.threads = {ACME_1: [thread("Ugq1", "the sound cuts out after the update, fix it",
                                           2, ACME_1)]}
            assert await run_youtube(on(srv, settings), once=True) == []

    worker = start_worker(y_settings.with_(watchlist=str(ROOT / "tests/data/moderation_watchlist.toml")))
    asyncio.run(scenario(y_settings))
    wait_drained(y_settings, worker, 1)
    enriched = {v["id"]: v for v in (json.loads(r.value) for r in read_to_end(y_settings, MENTIONS_ENRICHED))}
    mention = enriched["youtube-Ugq1"]
    assert (mention["brands"], mention["rules"]) == (["acme"], ["acme:source:youtube"])
    assert mention["triage"] is not None
