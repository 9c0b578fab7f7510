"""The polling collectors when the machine's wall clock jumps (an NTP step, a VM resumed): a
pause the platform asked for is a duration, and lasts as long whatever the wall clock does."""

from __future__ import annotations

import asyncio
import email.utils
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.mastodon import MastodonCollector
from veille.collectors.polling import SourceFetchError
from veille.collectors.rss import retry_after
from veille.metrics import CollectorMetrics
from veille.settings import Settings


class Clocks:
    """A wall clock and a monotonic one, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.mono = 1000.0

    def elapse(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def collector(tmp_path: Path, clocks: Clocks, monkeypatch: pytest.MonkeyPatch,
              **kwargs: Any) -> MastodonCollector:
    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"),
                                           mastodon_url="https://m.example",
                                           collector_metrics_port=0)
    metrics = CollectorMetrics(CollectorRegistry())
    monkeypatch.setattr(time, "time", lambda: clocks.wall)
    return MastodonCollector(settings, metrics, ListSink(settings, "mastodon", metrics),
                             hashtags=["acme"], monotonic=lambda: clocks.mono, **kwargs)


def test_a_backward_step_of_the_wall_clock_does_not_stretch_a_rate_limit_pause(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review, 2026-12-07: the end of a rate-limit pause was a wall-clock time. Set
    back an hour by NTP during a 2 s pause, the collector refused every request for the hour
    ("rate limited for 3602 s more"), round after round; a forward step cut the pause short."""
    clocks = Clocks()
    c = collector(tmp_path, clocks, monkeypatch, max_rate_limit_wait=30.0)

    async def scenario() -> None:
        c._block_for(2.0)  # the platform's answer: 2 s more before the next request
        clocks.wall -= 3600  # NTP steps the clock back an hour
        clocks.elapse(3.0)  # and the 2 s have passed
        await asyncio.wait_for(c._respect_rate_limit(), 1.0)  # no refusal, no waiting

        c._block_for(60.0)
        clocks.wall += 3600  # a forward step does not end the pause either
        with pytest.raises(SourceFetchError, match=r"rate limited for 60 s more"):
            c._wait_budget = 30.0
            await c._respect_rate_limit()

    asyncio.run(scenario())


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


def test_a_rate_limit_reset_is_read_on_the_servers_clock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review, 2026-12-07: a rate limit's reset (a time) was turned into a wait with
    the collector's clock. A collector 10 minutes behind the platform paused 10 minutes more
    than asked each time the limit neared its end (capped at backoff_max, 15 minutes); one
    ahead did not wait at all. The answer's Date says when the server answered, on the clock
    its reset is on."""
    clocks = Clocks()
    c = collector(tmp_path, clocks, monkeypatch, max_rate_limit_wait=30.0)
    server = clocks.wall + 600  # the platform's clock: ours runs 10 minutes behind
    c._note_rate_limit(CIMultiDict({
        "X-RateLimit-Remaining": "0", "Date": http_date(server),
        "X-RateLimit-Reset": datetime.fromtimestamp(server + 2, UTC).isoformat()}))
    assert c._blocked_until - clocks.mono == pytest.approx(2.0)

    c._blocked_until = 0.0
    server = clocks.wall - 600  # ours runs 10 minutes ahead: the 30 s are waited all the same
    c._note_rate_limit(CIMultiDict({
        "X-RateLimit-Remaining": "0", "Date": http_date(server),
        "X-RateLimit-Reset": datetime.fromtimestamp(server + 30, UTC).isoformat()}))
    assert c._blocked_until - clocks.mono == pytest.approx(30.0)


def test_a_retry_after_date_is_read_on_the_servers_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After as an HTTP date (RFC 9110: relative to the answer's Date), same finding."""
    clocks = Clocks()
    monkeypatch.setattr(time, "time", lambda: clocks.wall)
    server = clocks.wall + 600
    headers = CIMultiDict({"Date": http_date(server), "Retry-After": http_date(server + 5)})
    assert retry_after(headers) == pytest.approx(5.0)
    # No Date, or one more than a day off ours (a server's broken clock): ours.
    assert retry_after(CIMultiDict({"Retry-After": http_date(clocks.wall + 5)})) == pytest.approx(5.0)
    assert retry_after(CIMultiDict({"Date": http_date(clocks.wall - 3 * 86400),
                                    "Retry-After": http_date(clocks.wall + 5)})) == pytest.approx(5.0)
    assert retry_after(CIMultiDict({"Date": "garbage", "Retry-After": "7"})) == 7.0


def test_a_backward_step_of_the_wall_clock_does_not_keep_a_reddit_token_past_its_life(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review, 2026-12-07: a Reddit token's end was a wall-clock time. Set back a day,
    the collector took a token Reddit had expired as valid until a search was answered 401
    (then it asked for a new one). Its life is timed on the monotonic clock: asked again once
    expires_in has passed."""
    from tests.http_helpers import serve
    from veille.collectors.reddit import Query, RedditCollector

    clocks = Clocks()
    monkeypatch.setattr(time, "time", lambda: clocks.wall)
    issued: list[str] = []

    async def token(request: Any) -> Any:
        from aiohttp import web

        issued.append(f"token-{len(issued) + 1}")
        return web.json_response({"access_token": issued[-1], "token_type": "bearer",
                                  "expires_in": 3600})

    async def scenario() -> None:
        async with serve([("POST", "/api/v1/access_token", token)]) as base:
            settings = Settings.from_env({}).with_(
                collector_state_dir=str(tmp_path / "state"), reddit_client_id="app",
                reddit_client_secret="secret", reddit_auth_url=base, reddit_api_url=base,
                collector_metrics_port=0)
            c = RedditCollector(settings, CollectorMetrics(CollectorRegistry()),
                                queries=[Query("acme", '"Acme"')], monotonic=lambda: clocks.mono)
            await c.start()
            try:
                assert await c._get_token() == "token-1"
                clocks.wall -= 86400  # NTP steps the clock back a day
                clocks.elapse(1800.0)
                assert await c._get_token() == "token-1"  # half its life: kept
                clocks.elapse(1800.0)
                assert await c._get_token() == "token-2"  # its hour has passed: a new one
            finally:
                await c.close()

    asyncio.run(scenario())
