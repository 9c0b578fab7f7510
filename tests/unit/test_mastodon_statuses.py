"""The Mastodon collector against a real local HTTP server and a sink that keeps what it is given
(no broker): a status that breaks the mapping is refused alone, and an unexpected error in a round
never ends the polling loop."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from tests.http_helpers import serve
from veille.collectors.mastodon import MastodonCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings

NOW = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def status(sid: str, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "uri": f"https://m.example/s/{sid}", "url": f"https://m.example/s/{sid}",
            "created_at": NOW, "content": f"<p>acme status {sid}</p>", "visibility": "public",
            "account": {"acct": f"user{sid}@m.example"}, **extra}




class Timeline:
    def __init__(self, statuses: list[dict[str, Any]]) -> None:
        self.statuses = statuses
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        since = request.query.get("min_id")  # the collector reads forward from its last
        page = [s for s in self.statuses if since is None or int(s["id"]) > int(since)]
        return web.json_response(page)


def new_collector(tmp_path: Path, base: str, **kwargs: Any) -> tuple[MastodonCollector, ListSink]:
    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"),
                                           mastodon_url=base)
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "mastodon", metrics)
    return MastodonCollector(settings, metrics, sink, hashtags=["acme"], **kwargs), sink


def refused(c: MastodonCollector, reason: str) -> float:
    value = c.metrics.registry.get_sample_value(
        "veille_collector_items_refused_total", {"collector": "mastodon", "reason": reason})
    return value or 0.0


def test_a_status_that_cannot_be_read_is_refused_alone(tmp_path: Path) -> None:
    timeline = Timeline([status("3"), status("2", spoiler_text={"x": 1}),
                         status("1", content=12345)])

    async def scenario() -> None:
        async with serve([("GET", "/api/v1/timelines/tag/{tag}", timeline.handle)]) as base:
            c, sink = new_collector(tmp_path, base)
            await c.start()
            try:
                first = await c.poll_round()
                second = await c.poll_round()
            finally:
                await c.close()
            assert (first.status, first.fetched, first.sent, first.refused) == ("ok", 3, 1, 2)
            assert [m.text for m in sink.sent] == ["acme status 3"]
            assert refused(c, "processing_error") == 2
            # The round went through: since_id moved past the bad statuses, not fetched again.
            assert (second.fetched, second.sent) == (0, 0)
            assert c.since["acme"] == "3"

    asyncio.run(scenario())


def test_an_unexpected_error_in_a_round_does_not_end_the_loop(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    timeline = Timeline([status("1")])

    async def scenario() -> None:
        async with serve([("GET", "/api/v1/timelines/tag/{tag}", timeline.handle)]) as base:
            c, sink = new_collector(tmp_path, base, interval=30.0, backoff_base=0.05,
                                    backoff_max=0.1)
            real = c.poll_round
            rounds = 0

            async def failing_first() -> Any:
                nonlocal rounds
                rounds += 1
                if rounds <= 2:
                    raise RuntimeError("a bug in the round")
                return await real()

            c.poll_round = failing_first  # type: ignore[method-assign]
            await c.start()
            task = asyncio.create_task(c.run())
            try:
                deadline = time.monotonic() + 10
                while not sink.sent and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert not task.done()
            finally:
                await c.stop()
                await asyncio.wait_for(task, 10)
                await c.close()
            assert rounds == 3 and len(sink.sent) == 1

    with caplog.at_level(logging.ERROR, logger="veille.collectors.mastodon"):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if "round failed unexpectedly" in r.getMessage()]
    assert len(failures) == 2 and failures[0].exc_info is not None


def test_a_mention_is_written_with_its_account_in_full() -> None:
    """Found in review: Mastodon writes a mention as `@user` alone, so `@acme@evil.example`
    read as the brand's own `@acme`, and a watch rule naming the account in full never matched.
    A mention's link becomes its full account (a local one qualified with its server); other
    links, and a mention the status does not list, keep their text."""
    from datetime import UTC, datetime

    from veille.collectors.mastodon import status_to_dict
    from veille.rules import Watchlist

    content = ('<p><span class="h-card"><a href="https://evil.example/@acme" class="u-url '
               'mention">@<span>acme</span></a></span> and <span class="h-card"><a href='
               '"https://m.example/@acme" class="u-url mention">@<span>acme</span></a></span> '
               'and <a href="https://x.example/@ghost">@<span>ghost</span></a>, see '
               '<a href="https://news.example/a">the <b>news</b></a></p>')
    mentions = [{"url": "https://evil.example/@acme", "acct": "acme@evil.example"},
                {"url": "https://m.example/@acme", "acct": "acme"},
                {"url": "https://bad.example/@x", "acct": "two words"}, "junk"]
    obj = status_to_dict(status("1", content=content, mentions=mentions),
                         instance_host="m.example", collected_at=datetime.now(UTC),
                         max_text_chars=5000)
    assert obj["text"] == "@acme@evil.example and @acme@m.example and @ghost, see the news"
    # A watch rule may name the account in full; the same name on another server is not it.
    watchlist = Watchlist.from_dict({"brands": [{"id": "acme", "name": "Acme Corp",
                                                 "aliases": ["@acme@m.example"]}]})
    assert watchlist.match(obj["text"]).brands == ("acme",)
    assert watchlist.match("@acme@evil.example is not them").brands == ()


@pytest.mark.parametrize("odd", [
    {"mentions": [{"url": "http://[bad", "acct": "bob"}]},
    {"account": {"acct": "alice", "url": "http://[bad"}},
    {"account": {"acct": "alice", "url": 5}},
], ids=["mention-link", "account-url", "account-url-number"])
def test_an_odd_optional_address_does_not_refuse_the_status(odd: dict[str, Any]) -> None:
    """Found in review (2026-12-05): an instance's address that urlsplit cannot read (or not a
    string) in a mention or the author's account refused the whole status as processing_error,
    though its text, uri and date were good. The instance's own host stands in for it."""
    from datetime import UTC, datetime

    from veille.collectors.mastodon import status_to_dict

    content = '<p><a href="http://[bad" class="u-url mention">@<span>bob</span></a> acme</p>'
    obj = status_to_dict(status("1", content=content, **odd), instance_host="m.example",
                         collected_at=datetime.now(UTC), max_text_chars=5000)
    assert obj["id"] and "acme" in obj["text"]
    if "mentions" in odd:
        assert obj["text"] == "@bob@m.example acme"
    else:
        assert obj["author"] == "alice@m.example"


def test_a_status_url_that_is_no_web_address_is_not_the_mentions_url() -> None:
    """Found in review (2026-12-06): a status's `url`, which the instance (or, for a federated
    status, the server it came from) writes, was the mention's url whatever its scheme: a
    `javascript:` url reached the moderators' web screen through the moderation API. Only an
    http(s) address is a url: else the status's uri when it is one, else none."""
    from datetime import UTC, datetime

    from veille.collectors.mastodon import status_to_dict

    def url_of(**fields: Any) -> Any:
        return status_to_dict(status("1", **fields), instance_host="m.example",
                              collected_at=datetime.now(UTC), max_text_chars=5000)["url"]

    assert url_of(url="javascript:alert(1)") == "https://m.example/s/1"  # the uri
    assert url_of(url=" data:text/html,<script>alert(1)</script>",
                  uri="tag:evil.example,2026:1") is None
    assert url_of(url=None, uri="javascript:alert(1)") is None
    assert url_of(url="https://evil.example/@bob/1") == "https://evil.example/@bob/1"


def test_a_held_status_keeps_only_what_makes_its_mention() -> None:
    """A status dated ahead is saved in the state file until its time comes: the mention made of
    what is kept is the mention of the whole entity, without the account's profile and the rest."""
    from datetime import UTC, datetime

    from veille.collectors.mastodon import held_form, status_to_dict

    boosted = status("9", language="fr", favourites_count=3, reblogs_count=2, replies_count=1,
                     spoiler_text="cw", mentions=[{"url": "https://m.example/@acme", "acct": "acme",
                                                   "id": "5", "username": "acme"}],
                     account={"acct": "bob", "url": "https://m.example/@bob", "followers_count": 40,
                              "display_name": "Bob Durand", "note": "<p>Lyon</p>", "avatar": "x.png"},
                     media_attachments=[{"url": "https://m.example/p.jpg"}], card={"title": "t"})
    boost = status("10", reblog=boosted, account={"acct": "carol", "display_name": "Carol"})
    at = datetime.now(UTC)
    for whole in (boosted, boost):
        kept = held_form(whole)
        assert status_to_dict(kept, instance_host="m.example", collected_at=at, max_text_chars=1000) == \
            status_to_dict(whole, instance_host="m.example", collected_at=at, max_text_chars=1000)
    kept = held_form(boost)
    assert "display_name" not in kept["account"] and "display_name" not in kept["reblog"]["account"]
    assert "media_attachments" not in kept["reblog"] and "card" not in kept["reblog"]
    assert kept["reblog"]["mentions"] == [{"url": "https://m.example/@acme", "acct": "acme"}]
