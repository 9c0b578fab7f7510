"""The Bluesky collector against a real local HTTP server (a stand-in AppView and PDS speaking
app.bsky.feed.searchPosts and com.atproto.server.*) and the real broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from streams.records import iso
from tests.collector_helpers import one_round, save_settled, search_settings
from tests.conftest import ROOT, settings_env
from tests.http_helpers import serve
from tests.integration.test_rss import wait_for
from tests.kafka_helpers import raw_on_topic
from veille.broker import free_port
from veille.collectors.base import MentionSink
from veille.collectors.bluesky import (
    BlueskyCollector,
    BlueskyRoundFailed,
    Query,
    run_bluesky,
)
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


def post(rkey: str, handle: str, text: str, minutes_ago: float, *,
         indexed_late: float = 0.0, langs: list[str] | None = None) -> dict[str, Any]:
    """A PostView as searchPosts gives it."""
    did = "did:plc:" + hashlib.sha256(handle.encode()).hexdigest()[:24]
    created = NOW - timedelta(minutes=minutes_ago)
    return {
        "uri": f"at://{did}/app.bsky.feed.post/{rkey}",
        "cid": "bafyrei" + rkey,
        "author": {"did": did, "handle": handle, "displayName": handle.split(".")[0].title()},
        "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": iso(created),
                   "langs": langs if langs is not None else ["fr"]},
        "indexedAt": iso(created + timedelta(minutes=indexed_late)),
        "likeCount": 4, "repostCount": 2, "replyCount": 1, "quoteCount": 0,
    }


ACME_DID = "did:plc:acmeacmeacmeacmeacmeacme"
ZORGLUB_DID = "did:web:zorglub.example"


def own(p: dict[str, Any], did: str) -> dict[str, Any]:
    """Post `p` as one of the brand account `did`'s (post() makes hex DIDs: no watch list's)."""
    p["uri"] = f"at://{did}/app.bsky.feed.post/" + p["uri"].rsplit("/", 1)[1]
    p["author"]["did"] = did
    return p


def bluesky_id(p: dict[str, Any]) -> str:
    return "bluesky-" + hashlib.sha256(p["uri"].encode()).hexdigest()[:32]


def sort_at(p: dict[str, Any]) -> str:
    return min(p["record"]["createdAt"], p["indexedAt"])  # same format: compares as strings


# ---------------------------------------------------------------------------------------------
# A real HTTP server answering like Bluesky's AppView (and a PDS, for the signed-in mode)
# ---------------------------------------------------------------------------------------------


@dataclass
class Req:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int = 200
    body: Any = None


@dataclass
class AppView:
    """searchPosts with q / sort=latest / since (inclusive, on sortAt) / limit / cursor (an
    offset), and ratelimit-* headers; createSession / refreshSession. `plan` scripts the next
    search answers: {"status", "headers", "remaining", "reset_in", "error"}."""

    posts: list[Any] = field(default_factory=list)
    requests: list[Req] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    resets: list[float] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)  # handle -> app password
    require_auth: bool = False
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    expired: set[str] = field(default_factory=set)
    issued: int = 0
    base: str = ""
    #: Posts the search finds but the answer leaves out (the AppView drops taken-down authors
    #: and blocks after the search: a page shorter than `limit`, with a cursor).
    hidden: set[str] = field(default_factory=set)
    #: The search refuses every session (401), and refreshSession every refresh token, while
    #: createSession still works (an AppView that does not take the PDS's tokens).
    refuse_sessions: bool = False

    def searches(self) -> list[Req]:
        return [r for r in self.requests if r.path.endswith("searchPosts")]

    @staticmethod
    def matches(q: str, p: Any) -> bool:
        text = p.get("record", {}).get("text") if isinstance(p, dict) else None
        if not isinstance(text, str):
            return "malformed" in q  # the test's odd posts answer a search of their own
        return q.strip('"').casefold() in text.casefold()

    async def search(self, request: web.Request) -> web.Response:
        req = Req(request.path, dict(request.query), dict(request.headers), time.time())
        self.requests.append(req)
        step = self.plan.pop(0) if self.plan else {}
        reset = time.time() + step.get("reset_in", 300.0)
        self.resets.append(reset)
        headers = {"ratelimit-limit": "3000", "ratelimit-policy": "3000;w=300",
                   "ratelimit-remaining": str(step.get("remaining", 2999)),
                   "ratelimit-reset": f"{reset:.3f}", **step.get("headers", {})}
        if self.require_auth:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in self.expired:
                step = {"status": 400, "error": "ExpiredToken"}
            elif token not in self.access or self.refuse_sessions:
                step = {"status": 401, "error": "AuthenticationRequired"}
        req.status = step.get("status", 200)
        if req.status != 200:
            return web.json_response({"error": step.get("error", "RateLimitExceeded"),
                                      "message": "no"}, status=req.status, headers=headers)
        q = request.query
        found = sorted((p for p in self.posts if self.matches(q["q"], p)),
                       key=lambda p: sort_at(p) if isinstance(p, dict) else "", reverse=True)
        if "since" in q:
            found = [p for p in found if not isinstance(p, dict) or sort_at(p) >= q["since"]]
        if "until" in q:
            found = [p for p in found if not isinstance(p, dict) or sort_at(p) < q["until"]]
        if "cursor" in q and "Authorization" not in request.headers:
            # Bluesky's public AppView: no `cursor` on unauthenticated searches (and its 403 is
            # no JSON).
            req.status = 403
            return web.Response(status=403, text="Request forbidden by administrative rules.")
        limit = min(int(q.get("limit", 25)), 100)
        offset = int(q.get("cursor", "0"))
        page = [p for p in found[offset:offset + limit]
                if not (isinstance(p, dict) and isinstance(p.get("uri"), str)
                        and p["uri"] in self.hidden)]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(found)}
        if offset + limit < len(found):
            body["cursor"] = str(offset + limit)
        return web.json_response(body, headers=headers)

    def _tokens(self) -> dict[str, str]:
        self.issued += 1
        access, refresh = f"access-{self.issued}", f"refresh-{self.issued}"
        self.access.add(access)
        self.refresh.add(refresh)
        return {"accessJwt": access, "refreshJwt": refresh, "handle": "acme.example",
                "did": "did:plc:acmeacmeacmeacmeacmeacme"}

    async def create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Req(request.path, {}, dict(request.headers), time.time(), body=body))
        if self.accounts.get(body.get("identifier")) != body.get("password"):
            return web.json_response({"error": "AuthenticationRequired",
                                      "message": "Invalid identifier or password"}, status=401)
        return web.json_response(self._tokens())

    async def refresh_session(self, request: web.Request) -> web.Response:
        self.requests.append(Req(request.path, {}, dict(request.headers), time.time()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.refresh or self.refuse_sessions:
            return web.json_response({"error": "ExpiredToken"}, status=400)
        self.refresh.discard(token)
        return web.json_response(self._tokens())

    def expire_access(self) -> None:
        self.expired |= self.access
        self.access.clear()


@asynccontextmanager
async def appview() -> AsyncIterator[AppView]:
    server = AppView()
    async with serve([("GET", "/xrpc/app.bsky.feed.searchPosts", server.search),
                      ("POST", "/xrpc/com.atproto.server.createSession", server.create_session),
                      ("POST", "/xrpc/com.atproto.server.refreshSession",
                       server.refresh_session)]) as base:
        server.base = base
        yield server


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def b_settings(settings: Settings, tmp_path: Path) -> Settings:
    return search_settings(settings, tmp_path)


def new_collector(settings: Settings, **kwargs: Any) -> BlueskyCollector:
    kwargs.setdefault("page_limit", 2)
    return BlueskyCollector(settings, CollectorMetrics(CollectorRegistry()), **kwargs)


def sample(c: BlueskyCollector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels) or 0.0


def signed_in(srv: AppView, settings: Settings) -> Settings:
    """`settings` with the account acme.example on `srv` as its PDS, `srv` asking for it."""
    srv.require_auth = True
    srv.accounts["acme.example"] = "abcd-efgh-ijkl-mnop"
    return settings.with_(bluesky_url="https://public.api.bsky.app",
                          bluesky_pds_url=srv.base,  # loopback: http allowed
                          bluesky_handle="acme.example", bluesky_app_password="abcd-efgh-ijkl-mnop")


def calls(srv: AppView) -> list[str]:
    """The XRPC methods asked, in order: searchPosts, createSession, refreshSession."""
    return [r.path.rsplit(".", 1)[-1] for r in srv.requests]


def session_file(settings: Settings) -> Path:
    return Path(settings.collector_state_dir, "bluesky", "session.json")


def tokens_in(srv: AppView, text: str) -> list[str]:
    """The tokens `srv` issued that `text` shows."""
    issued = [f"{kind}-{n}" for kind in ("access", "refresh") for n in range(1, srv.issued + 1)]
    return [token for token in issued if re.search(rf"\b{token}\b", text)]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_posts_become_raw_mentions_paged_sent_once_and_resumed_after_restart(
        b_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base + "/")
            a1 = post("3lacme0001", "camille.bsky.social", "Encore une panne chez Acme ce matin "
                      "#AcmeDown\nÇa fait trois fois.", 9)
            a2 = post("3lacme0002", "jordan.example.com", "Acme Mobile: no signal since 8am",
                      8, langs=["en"])
            a0 = post("3lacme0000", "sam.bsky.social", "Acme, old news", 30)
            b1 = post("3lboreal001", "lea.bsky.social", "Café au Boréal, wifi au top", 7)
            srv.posts = [a0, a1, a2, b1]

            # Round 1, no state: the newest page of each search only.
            collector = new_collector(settings)
            r1 = await one_round(collector)
            assert collector.queries == [Query("acme", '"Acme"'), Query("acme", '"Acme Mobile"'),
                                         Query("acme", "#AcmeDown"), Query("boreal", '"Boréal"')]
            assert [r.query for r in srv.searches()] == [
                {"q": q, "sort": "latest", "limit": "2"}
                for q in ('"Acme"', '"Acme Mobile"', "#AcmeDown", '"Boréal"')]
            # a1 and a2 under several searches: once each; a0 is beyond the first page.
            assert (r1.status, r1.fetched, r1.sent) == ("ok", 5, 3)
            assert {r.headers["User-Agent"] for r in srv.requests} == {
                settings.collector_user_agent}
            assert "Authorization" not in srv.requests[0].headers

            # A burst of 3 posts on Acme: the next round asks from its cursor less the look-back,
            # pages while pages are full (without an account: with `until`, just after the
            # oldest post of the page read), and sends only the new posts.
            srv.requests.clear()
            burst = [post(f"3lacme01{i}", "bob.bsky.social", f"Acme down again ({i})", 5 - i)
                     for i in range(3)]
            srv.posts += burst
            collector = new_collector(settings, page_limit=3)
            r2 = await one_round(collector)
            assert (r2.status, r2.sent) == ("ok", 3), r2
            acme = [r.query for r in srv.searches() if r.query["q"] == '"Acme"']
            since = iso(datetime.fromisoformat(sort_at(a2).replace("Z", "+00:00"))
                        - timedelta(minutes=10))
            until = [iso(datetime.fromisoformat(sort_at(p).replace("Z", "+00:00"))
                         + timedelta(milliseconds=1)) for p in (burst[0], a1)]
            assert acme == [
                {"q": '"Acme"', "sort": "latest", "limit": "3", "since": since},
                {"q": '"Acme"', "sort": "latest", "limit": "3", "since": since, "until": until[0]},
                {"q": '"Acme"', "sort": "latest", "limit": "3", "since": since, "until": until[1]},
            ]

            # Restart, the real entry point: nothing new, nothing sent again.
            srv.requests.clear()
            assert await run_bluesky(settings, once=True,
                                     collector=new_collector(settings)) == []
            assert capsys.readouterr().out.splitlines() == [
                f"bluesky: {q}: ok, 0 posts, 0 sent, 0 refused"
                for q in ('"Acme" (acme)', '"Acme Mobile" (acme)', "#AcmeDown (acme)",
                          '"Boréal" (boreal)')]
            assert all("since" in r.query for r in srv.searches())

            got = await raw_on_topic(settings, 6)
            by_id = {m["id"]: m for m in got}
            assert len(got) == 6 and set(by_id) == {bluesky_id(p) for p in [a1, a2, b1, *burst]}
            m = by_id[bluesky_id(a1)]
            assert (m["platform"], m["source"], m["author"], m["language"]) == (
                "bluesky", "bluesky", "camille.bsky.social", "fr")
            assert m["text"] == "Encore une panne chez Acme ce matin #AcmeDown\nÇa fait trois fois."
            assert m["url"] == "https://bsky.app/profile/camille.bsky.social/post/3lacme0001"
            assert m["created_at"] == a1["record"]["createdAt"]
            assert m["audience"] == {"likes": 4, "shares": 2, "replies": 1}
            assert by_id[bluesky_id(a2)]["language"] == "en"

            states = [json.loads(p.read_text())
                      for p in Path(settings.collector_state_dir, "bluesky").glob("*.json")]
            assert {s["query"] for s in states} == {'"Acme"', '"Acme Mobile"', "#AcmeDown",
                                                   '"Boréal"'}
            assert {s["service"] for s in states} == {srv.base}

    asyncio.run(scenario())


def test_a_post_indexed_late_is_read_in_the_look_back_window_once(b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            srv.posts = [post("3lfirst", "a.bsky.social", "Acme one", 2)]
            queries = [Query("acme", '"Acme"')]
            assert (await one_round(new_collector(settings, queries=queries))).sent == 1
            # Created (and sorted) before the cursor, indexed only now: below the cursor, in the
            # look-back window.
            srv.posts.append(post("3llate", "b.bsky.social", "Acme late", 4, indexed_late=4))
            assert (await one_round(new_collector(settings, queries=queries))).sent == 1
            assert (await one_round(new_collector(settings, queries=queries))).sent == 0
            assert len(await raw_on_topic(settings, 2)) == 2

    asyncio.run(scenario())


def test_a_burst_beyond_a_rounds_pages_is_read_over_the_next_rounds(b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            queries = [Query("acme", '"Acme"')]

            def collector() -> BlueskyCollector:  # a restart at every round: state from files
                return new_collector(settings, queries=queries, max_pages=2)

            srv.posts = [post("3lp0", "a.bsky.social", "Acme p0", 20)]
            assert (await one_round(collector())).sent == 1
            burst = [post(f"3lb{i}", "b.bsky.social", f"Acme b{i}", 10 - i) for i in range(7)]
            srv.posts += burst
            sent = [(await one_round(collector())).sent for _ in range(4)]
            # 2 pages a round (2 posts each, the last post of a page read again as the first of
            # the next, without an account); the newest first, then the rest of the burst.
            assert sent == [3, 2, 2, 0], sent
            states = [json.loads(p.read_text())
                      for p in Path(settings.collector_state_dir, "bluesky").glob("*.json")]
            assert [s["gaps"] for s in states] == [[]]
            got = await raw_on_topic(settings, 8)
            assert sorted(m["id"] for m in got) == sorted(
                bluesky_id(p) for p in [srv.posts[0], *burst])

    asyncio.run(scenario())


def test_rate_limit_headers_and_429_are_honoured(b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            srv.posts = [post("3la", "a.bsky.social", "Acme a", 3),
                         post("3lb", "b.bsky.social", "Boréal b", 2)]
            srv.plan = [
                {"remaining": 0, "reset_in": 1.5},  # the window is used up for 1.5 s
                {"status": 429, "remaining": 0, "reset_in": 0.2, "headers": {"Retry-After": "1"}},
                {},
            ]
            collector = new_collector(settings, queries=[Query("acme", '"Acme"'),
                                                         Query("boreal", '"Boréal"')])
            result = await one_round(collector)
            assert (result.status, result.sent) == ("ok", 2)
            first, blocked, retried = srv.searches()
            # ratelimit-remaining 0: the next request waits for ratelimit-reset (a Unix time).
            assert blocked.at >= srv.resets[0] - 0.05 and blocked.at - first.at >= 1.3
            # 429 with Retry-After: 1: the same request again, a second later.
            assert (blocked.status, retried.status) == (429, 200)
            assert retried.at - blocked.at >= 0.95 and retried.query == blocked.query

            # A reset beyond the round's budget fails that search alone, kind rate_limited.
            srv.requests.clear()
            srv.plan = [{"remaining": 0, "reset_in": 120}]
            collector = new_collector(settings, queries=[Query("acme", '"Acme"'),
                                                         Query("boreal", '"Boréal"')],
                                      max_rate_limit_wait=1.0)
            result = await one_round(collector)
            assert result.status == "partial" and len(srv.searches()) == 1
            assert sample(collector, "veille_bluesky_brand_failures_total", brand="boreal",
                          kind="rate_limited") == 1
            assert sample(collector, "veille_bluesky_brand_last_success_timestamp_seconds",
                          brand="acme") > 0
            assert sample(collector, "veille_bluesky_brand_last_success_timestamp_seconds",
                          brand="boreal") == 0

    asyncio.run(scenario())


def test_a_malformed_post_is_refused_and_the_others_of_its_page_go(b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            good1 = post("3lgood1", "a.bsky.social", "malformed search, good post 1", 3)
            good2 = post("3lgood2", "handle.invalid", "malformed search, good post 2", 2)
            no_uri = {**post("3lx", "c.bsky.social", "malformed 1", 1), "uri": "https://x.example/1"}
            no_text = post("3lnotext", "d.bsky.social", "", 1)
            del no_text["record"]["text"]
            bad_date = post("3lbaddate", "e.bsky.social", "malformed 3", 1)
            bad_date["record"]["createdAt"] = "yesterday-ish"
            future = post("3lfuture", "f.bsky.social", "malformed 4", -24 * 60 * 3)
            future["indexedAt"] = iso(NOW)
            srv.posts = [good1, no_uri, "not a post", no_text, bad_date, future, good2]
            collector = new_collector(settings, queries=[Query("acme", "malformed")],
                                      page_limit=10)
            result = await one_round(collector)
            assert (result.status, result.fetched, result.sent, result.refused) == ("ok", 7, 2, 5)
            refused = {reason: sample(collector, "veille_collector_items_refused_total",
                                      collector="bluesky", reason=reason)
                       for reason in ("invalid_field", "not_an_object", "missing_field",
                                      "created_at_in_future")}
            assert refused == {"invalid_field": 2, "not_an_object": 1, "missing_field": 1,
                               "created_at_in_future": 1}
            got = {m["id"]: m for m in await raw_on_topic(settings, 2)}
            assert set(got) == {bluesky_id(good1), bluesky_id(good2)}
            # An author whose handle does not resolve: its DID, in the author and the address.
            did = good2["author"]["did"]
            assert got[bluesky_id(good2)]["author"] == did
            assert got[bluesky_id(good2)]["url"] == f"https://bsky.app/profile/{did}/post/3lgood2"

    asyncio.run(scenario())


def test_a_post_dated_ahead_is_held_back_and_sent_when_its_time_comes(
        b_settings: Settings) -> None:
    """createdAt comes from the poster's device: a clock running fast dates a post ahead. Beyond
    VEILLE_MAX_FUTURE_SECONDS it is held in the search's state (not refused), and sent once its
    time comes; its sortAt (its indexing time) keeps the cursor at the present."""
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base, max_future_seconds=60.0)
            queries = [Query("acme", '"Acme"')]
            ahead = post("3lahead", "fast.bsky.social", "Acme from a fast clock", -10)
            ahead["indexedAt"] = iso(NOW - timedelta(minutes=1))
            srv.posts = [post("3lone", "a.bsky.social", "Acme one", 2), ahead]
            collector = new_collector(settings, queries=queries)
            first = await one_round(collector)
            assert (first.fetched, first.sent, first.refused) == (2, 1, 0)
            assert sample(collector, "veille_collector_items_refused_total",
                          collector="bluesky", reason="created_at_in_future") == 0
            state = json.loads(next(Path(settings.collector_state_dir).rglob("*.json")).read_text())
            assert list(state["held"]) == [ahead["uri"]]
            # Only what makes its mention: not the author's display name, nor the cid.
            kept = state["held"][ahead["uri"]]
            assert kept["author"] == {"did": ahead["author"]["did"], "handle": "fast.bsky.social"}
            assert "cid" not in kept and "quoteCount" not in kept and kept["likeCount"] == 4
            assert state["cursor"] == ahead["indexedAt"]
            # Its time has come (here: a wider margin after a restart): sent once, from the state.
            later = settings.with_(max_future_seconds=3600.0)
            second = await one_round(new_collector(later, queries=queries))
            third = await one_round(new_collector(later, queries=queries))
            assert (second.fetched, second.sent, third.sent) == (0, 1, 0)
            sent = await raw_on_topic(settings, 2)
            assert sorted(m["text"] for m in sent) == ["Acme from a fast clock", "Acme one"]
            held = next(m for m in sent if m["text"] == "Acme from a fast clock")
            assert (held["author"], held["language"], held["audience"]) == (
                "fast.bsky.social", "fr", {"likes": 4, "shares": 2, "replies": 1})
            state = json.loads(next(Path(settings.collector_state_dir).rglob("*.json")).read_text())
            assert state["held"] == {}

    asyncio.run(scenario())


def test_signed_in_it_searches_with_the_session_and_refreshes_an_expired_one(
        b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            srv.require_auth = True
            srv.accounts = {"acme.example": "abcd-efgh-ijkl-mnop"}
            srv.posts = [post("3la", "a.bsky.social", "Acme a", 3)]
            queries = [Query("acme", '"Acme"')]
            # Without an account, the service refuses: the search fails as unauthorized.
            anonymous = new_collector(b_settings.with_(bluesky_url=srv.base), queries=queries)
            result = await one_round(anonymous)
            assert result.status == "failed" and "VEILLE_BLUESKY_HANDLE" in result.errors['"Acme"']
            assert sample(anonymous, "veille_bluesky_brand_failures_total", brand="acme",
                          kind="unauthorized") == 1

            settings = b_settings.with_(bluesky_url="https://public.api.bsky.app",
                                        bluesky_pds_url=srv.base,  # loopback: http allowed
                                        bluesky_handle="acme.example",
                                        bluesky_app_password="abcd-efgh-ijkl-mnop")
            srv.requests.clear()
            collector = new_collector(settings, queries=queries)
            await collector.start()
            try:
                assert (await collector.poll_round()).sent == 1
                create, search = srv.requests
                assert create.path.endswith("createSession")
                assert create.body == {"identifier": "acme.example",
                                       "password": "abcd-efgh-ijkl-mnop"}
                assert search.headers["Authorization"] == "Bearer access-1"

                # The access token expires: refreshed with the refresh token, the search asked
                # again with the new one, in the same round.
                srv.expire_access()
                srv.requests.clear()
                srv.posts.append(post("3lb", "b.bsky.social", "Acme b", 1))
                result = await collector.poll_round()
                assert (result.status, result.sent) == ("ok", 1)
                expired, refresh, again = srv.requests
                assert (expired.status, expired.headers["Authorization"]) == (400,
                                                                              "Bearer access-1")
                assert refresh.path.endswith("refreshSession")
                assert refresh.headers["Authorization"] == "Bearer refresh-1"
                assert (again.status, again.headers["Authorization"]) == (200, "Bearer access-2")

                # Signed in, the next pages are asked with the answer's `cursor`.
                srv.requests.clear()
                srv.posts += [post(f"3lc{i}", "c.bsky.social", f"Acme c{i}", 0.9 - i / 10)
                              for i in range(3)]
                result = await collector.poll_round()
                assert (result.status, result.sent) == ("ok", 3)
                assert [r.query.get("cursor") for r in srv.searches()] == [None, "2", "4"]
                assert {r.headers["Authorization"] for r in srv.searches()} == {"Bearer access-2"}
            finally:
                await collector.close()
            assert len(await raw_on_topic(settings, 5)) == 5

            # A wrong app password: every search fails, --once says so (no traceback), and the
            # collector asked for a session once in the round, not once per search.
            wrong = settings.with_(bluesky_app_password="wrong")
            srv.requests.clear()
            with pytest.raises(BlueskyRoundFailed, match="every search failed .2.; .* sign-in "
                                                         "refused"):
                await run_bluesky(wrong, once=True, collector=new_collector(
                    wrong, queries=[*queries, Query("acme", "#AcmeDown")]))
            assert [r.path.rsplit(".", 1)[-1] for r in srv.requests] == ["createSession"]

    asyncio.run(scenario())


def test_a_refused_session_is_renewed_once_a_round_not_at_every_search(b_settings: Settings) -> None:
    """The AppView refuses the session (401) though createSession works, and refreshSession
    refuses its token: each search refreshed, was refused, signed in again and failed, so a round
    of N searches made N sign-ins, and Bluesky locks an account out past 30 in five minutes. Now
    the session is renewed at most once a round; the searches fail as unauthorized."""
    async def scenario() -> None:
        async with appview() as srv:
            srv.require_auth = srv.refuse_sessions = True
            srv.accounts = {"acme.example": "abcd-efgh-ijkl-mnop"}
            settings = b_settings.with_(bluesky_url="https://public.api.bsky.app",
                                        bluesky_pds_url=srv.base, bluesky_handle="acme.example",
                                        bluesky_app_password="abcd-efgh-ijkl-mnop")
            queries = [Query("acme", '"Acme"'), Query("acme", '"Acme Mobile"'),
                       Query("boreal", '"Boréal"')]
            collector = new_collector(settings, queries=queries)
            await collector.start()
            try:
                for _ in range(2):
                    srv.requests.clear()
                    result = await collector.poll_round()
                    assert result.status == "failed" and len(result.errors) == 3
                    sessions = [r.path.rsplit(".", 1)[-1] for r in srv.requests
                                if not r.path.endswith("searchPosts")]
                    assert len(sessions) <= 2 and sessions.count("createSession") <= 1, sessions
                    assert len(srv.searches()) <= len(queries) + 1  # one asked again, renewed
            finally:
                await collector.close()
            assert sample(collector, "veille_bluesky_brand_failures_total", brand="acme",
                          kind="unauthorized") == 4

    asyncio.run(scenario())


def test_signed_in_the_session_is_kept_across_restarts(b_settings: Settings,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Bluesky allows createSession 30 times in five minutes and 300 a day per account: a
    collector restarted often (a crash loop, a deploy an hour) signed in at every start and
    locked its account out of sign-in. The session is saved (0600) and a restart takes it: its
    access token, refreshed when expired, signing in only when the refresh is refused."""
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with appview() as srv:
            settings = signed_in(srv, b_settings)
            queries = [Query("acme", '"Acme"')]
            path = session_file(settings)
            collectors: list[BlueskyCollector] = []

            async def restart() -> Any:  # a new collector, the same state folder
                collectors.append(new_collector(settings, queries=queries))
                return await one_round(collectors[-1])

            srv.posts = [post("3la", "a.bsky.social", "Acme a", 3)]
            assert (await restart()).sent == 1
            assert calls(srv) == ["createSession", "searchPosts"]

            # Restarted: no sign-in, the saved access token.
            srv.requests.clear()
            srv.posts.append(post("3lb", "b.bsky.social", "Acme b", 2))
            assert (await restart()).sent == 1
            assert calls(srv) == ["searchPosts"]
            assert srv.requests[0].headers["Authorization"] == "Bearer access-1"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            saved = json.loads(path.read_text())
            assert {k: saved.get(k) for k in ("identifier", "pds", "did", "handle", "accessJwt",
                                              "refreshJwt")} == {
                "identifier": "acme.example", "pds": srv.base, "did": "did:plc:acmeacmeacmeacmeacmeacme",
                "handle": "acme.example", "accessJwt": "access-1", "refreshJwt": "refresh-1"}
            assert "abcd-efgh-ijkl-mnop" not in path.read_text()  # the password is not kept

            # The access token expired while it was stopped: refreshed, no sign-in, and the new
            # session saved.
            srv.expire_access()
            srv.requests.clear()
            assert (await restart()).status == "ok"
            assert calls(srv) == ["searchPosts", "refreshSession", "searchPosts"]
            assert srv.requests[1].headers["Authorization"] == "Bearer refresh-1"
            assert srv.requests[2].headers["Authorization"] == "Bearer access-2"
            saved = json.loads(path.read_text())
            assert (saved["accessJwt"], saved["refreshJwt"]) == ("access-2", "refresh-2")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

            # The refresh refused too (the session revoked): one sign-in, saved; the next start
            # takes it.
            srv.expire_access()
            srv.refresh.clear()
            srv.requests.clear()
            assert (await restart()).status == "ok"
            assert calls(srv) == ["searchPosts", "refreshSession", "createSession", "searchPosts"]
            srv.requests.clear()
            assert (await restart()).status == "ok"
            assert calls(srv) == ["searchPosts"]
            assert srv.requests[0].headers["Authorization"] == "Bearer access-3"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

            # No token in the logs nor on /metrics.
            assert srv.issued == 3
            assert tokens_in(srv, caplog.text) == []
            for c in collectors:
                assert tokens_in(srv, generate_latest(c.metrics.registry).decode()) == []

            # Without an account, the saved session is not used, and is deleted (the account
            # taken out of the configuration: its refresh token, valid for weeks, no longer
            # left on disk).
            srv.require_auth = False
            srv.requests.clear()
            anonymous = b_settings.with_(bluesky_url=srv.base)
            assert (await one_round(new_collector(anonymous, queries=queries))).status == "ok"
            assert calls(srv) and set(calls(srv)) == {"searchPosts"}
            assert not [r for r in srv.requests if "Authorization" in r.headers]
            assert not path.exists()

    asyncio.run(scenario())


@pytest.mark.parametrize("saved", ["cut_short", "no_json", "no_object", "wrong_type", "line_break",
                                   "non_ascii_check", "other_handle", "other_password", "other_pds"])
def test_a_saved_session_that_cannot_be_used_is_ignored_and_it_signs_in(
        b_settings: Settings, caplog: pytest.LogCaptureFixture, saved: str) -> None:
    """A damaged session file, or one saved for another handle or PDS (the configuration
    changed), is ignored with one warning that shows no token, and the collector signs in as it
    did before sessions were kept (never a crash); the new session replaces the file."""
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with appview() as srv:
            settings = signed_in(srv, b_settings)
            queries = [Query("acme", '"Acme"')]
            path = session_file(settings)
            assert (await one_round(new_collector(settings, queries=queries))).status == "ok"
            good = json.loads(path.read_text())
            assert good["accessJwt"] == "access-1"
            if saved == "other_handle":  # the account changed: a session of the old one
                srv.accounts["other.example"] = "qrst-uvwx-yzab-cdef"
                settings = settings.with_(bluesky_handle="other.example",
                                          bluesky_app_password="qrst-uvwx-yzab-cdef")
            elif saved == "other_password":  # a new app password: tried now, not when the old
                srv.accounts["acme.example"] = "qrst-uvwx-yzab-cdef"  # session is revoked
                settings = settings.with_(bluesky_app_password="qrst-uvwx-yzab-cdef")
            else:
                path.write_text({
                    "cut_short": path.read_text()[:60],
                    "no_json": "\x00\x00\x00",
                    "no_object": json.dumps([good]),
                    "wrong_type": json.dumps({**good, "refreshJwt": ["refresh-1"]}),
                    "line_break": json.dumps({**good, "accessJwt": "access-1\r\nX-Forged: 1"}),
                    # hmac.compare_digest raises TypeError on a non-ASCII str: every start
                    # crashed on such a file (found in review, 2026-12-06).
                    "non_ascii_check": json.dumps({**good, "password_check": "\u00e9" * 64}),
                    # The same tokens would work there: ignored all the same.
                    "other_pds": json.dumps({**good, "pds": "https://bsky.social"}),
                }[saved])
            srv.requests.clear()
            caplog.clear()
            result = await one_round(new_collector(settings, queries=queries))
            assert (result.status, calls(srv)) == ("ok", ["createSession", "searchPosts"])
            assert srv.requests[0].body["identifier"] == settings.bluesky_handle
            assert srv.requests[1].headers["Authorization"] == "Bearer access-2"
            warnings = [r.getMessage() for r in caplog.records
                        if r.levelno == logging.WARNING and "saved session" in r.getMessage()]
            assert len(warnings) == 1, warnings
            assert tokens_in(srv, caplog.text) == []
            now = json.loads(path.read_text())
            assert (now["identifier"], now["accessJwt"]) == (settings.bluesky_handle, "access-2")
            assert stat.S_IMODE(path.stat().st_mode) == 0o600

    asyncio.run(scenario())


def test_cursors_are_saved_only_after_the_broker_acknowledges(b_settings: Settings) -> None:
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            srv.posts = [post("3la", "a.bsky.social", "Boréal a", 3),
                         post("3lb", "b.bsky.social", "Boréal b", 2)]
            queries = [Query("boreal", '"Boréal"')]
            dead = settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            metrics = CollectorMetrics(CollectorRegistry())
            collector = BlueskyCollector(settings, metrics, queries=queries,
                                         sink=MentionSink(dead, "bluesky", metrics, ack_timeout=1.0))
            result = await one_round(collector)
            assert result.status == "broker_error"
            assert sample(collector, "veille_bluesky_brand_failures_total", brand="boreal",
                          kind="broker") == 1
            assert not list(Path(settings.collector_state_dir).rglob("*.json"))

            result = await one_round(new_collector(settings, queries=queries))
            assert (result.status, result.sent) == ("ok", 2)
            assert [r.query.get("since") for r in srv.searches()] == [None, None]
            assert len(list(Path(settings.collector_state_dir).rglob("*.json"))) == 1
            assert len(await raw_on_topic(settings, 2)) == 2

    asyncio.run(scenario())


def test_a_bad_configuration_is_an_error_message_not_a_traceback(b_settings: Settings) -> None:
    env = settings_env(b_settings)
    env["VEILLE_BLUESKY_HANDLE"] = "acme.example"
    done = subprocess.run([sys.executable, "-m", "veille.collectors.bluesky", "--once"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 2, done.stderr
    assert ("veille: error: VEILLE_BLUESKY_HANDLE and VEILLE_BLUESKY_APP_PASSWORD go together"
            in done.stderr)
    assert "Traceback" not in done.stderr


def test_a_post_whose_uri_is_no_string_is_refused_alone(b_settings: Settings) -> None:
    """A uri of the wrong type (a list, an object: unhashable) is refused as any malformed post
    is; it failed the whole search with a TypeError at every round, for as long as the post was
    on its newest page (every post of that brand term lost meanwhile)."""
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            good = post("3lgood", "a.bsky.social", "Acme good", 3)
            odd = post("3lodd", "b.bsky.social", "Acme odd", 2)
            odd["uri"] = [odd["uri"]]
            odd2 = post("3lodd2", "c.bsky.social", "Acme odd 2", 1)
            odd2["uri"] = {"at": odd2["uri"]}
            srv.posts = [good, odd, odd2]
            queries = [Query("acme", '"Acme"')]
            collector = new_collector(settings, queries=queries, page_limit=10)
            result = await one_round(collector)
            assert (result.status, result.fetched, result.sent, result.refused) == (
                "ok", 3, 1, 2), result
            srv.posts.append(post("3lnew", "d.bsky.social", "Acme new", 0.5))
            again = await one_round(new_collector(settings, queries=queries, page_limit=10))
            assert (again.status, again.sent) == ("ok", 1), again
            got = await raw_on_topic(settings, 2)
            assert sorted(m["id"] for m in got) == sorted(
                bluesky_id(p) for p in (good, srv.posts[-1]))

    asyncio.run(scenario())



def test_a_post_dated_at_year_one_does_not_break_its_search(b_settings: Settings) -> None:
    """createdAt is the poster's to write: a post dated 0001-01-01 (its sortAt then, on
    Bluesky) as the only post of a search made the cursor year 1, and `cursor - look-back`
    overflowed: the round failed after its batch was sent (the searches after it not saved: sent
    again), and that search failed at every round after."""
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            old = post("3lyear1", "a.bsky.social", "Acme Mobile from year one", 1)
            old["record"]["createdAt"] = "0001-01-01T00:00:00.000Z"
            other = post("3lother", "b.bsky.social", "Boréal today", 2)
            srv.posts = [old, other]
            queries = [Query("acme", '"Acme Mobile"'), Query("boreal", '"Boréal"')]
            first = await one_round(new_collector(settings, queries=queries))
            assert first.status == "ok", first
            srv.posts.append(post("3lnew", "c.bsky.social", "Acme Mobile down", 0.5))
            second = await one_round(new_collector(settings, queries=queries))
            assert (second.status, second.sent) == ("ok", 1), second
            third = await one_round(new_collector(settings, queries=queries))
            assert (third.status, third.sent) == ("ok", 0), third
            got = await raw_on_topic(settings, first.sent + 1)
            assert len(got) == len({m["id"] for m in got}) == first.sent + 1
            assert bluesky_id(other) in {m["id"] for m in got}

    asyncio.run(scenario())


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_short_page_with_a_cursor_is_no_end_of_the_burst(b_settings: Settings,
                                                            signed_in: bool) -> None:
    """Bluesky's AppView drops posts of taken-down or blocking accounts from a page after the
    search: a page shorter than `limit` with a cursor has more after it. Paging ended at a short
    page, the cursor moved to the newest post, and the rest of the burst below it, beyond the
    look-back, was never read."""
    async def scenario() -> None:
        async with appview() as srv:
            settings = b_settings.with_(bluesky_url=srv.base)
            if signed_in:
                srv.require_auth = True
                srv.accounts = {"acme.example": "abcd-efgh-ijkl-mnop"}
                settings = settings.with_(bluesky_pds_url=srv.base, bluesky_handle="acme.example",
                                          bluesky_app_password="abcd-efgh-ijkl-mnop")
            queries = [Query("acme", '"Acme"')]

            def collector() -> BlueskyCollector:
                return new_collector(settings, queries=queries, lookback_seconds=60.0)

            srv.posts = [post("3lp0", "a.bsky.social", "Acme p0", 20)]
            assert (await one_round(collector())).sent == 1
            burst = [post(f"3lb{i}", "b.bsky.social", f"Acme b{i}", 9 - i) for i in range(5)]
            srv.posts += burst
            srv.hidden = {burst[3]["uri"]}  # a taken-down account's: the first page is short
            sent = [(await one_round(collector())).sent for _ in range(2)]
            assert sent == [4, 0], sent
            got = await raw_on_topic(settings, 5)
            assert sorted(m["id"] for m in got) == sorted(
                bluesky_id(p) for p in [srv.posts[0], *burst] if p is not burst[3])

    asyncio.run(scenario())


def test_a_changed_watch_list_is_followed_between_two_rounds(b_settings: Settings) -> None:
    """The searches follow the watch list while the collector runs: a new brand's searched
    from the next round (its series at 0 at once), a brand taken off is searched no more (its
    series gone), a kept search goes on from its cursor (nothing sent twice); a changed file
    that does not load, or that would make too many searches, is refused and the searches in
    use stay. A brand's own posts (its `bluesky_accounts`, at start as after a change) are read,
    not sent."""
    async def scenario() -> None:
        async with appview() as srv:
            path = Path(b_settings.watchlist)
            acme = (f'[[brands]]\nid = "acme"\nname = "Acme"\nbluesky_accounts = ["{ACME_DID}"]\n')
            save_settled(path, acme + '\n[[brands]]\nid = "boreal"\nname = "Boréal"\n')
            settings = b_settings.with_(bluesky_url=srv.base, watchlist_reload_seconds=0.1)
            a1 = post("3lacme0001", "camille.bsky.social", "Encore une panne chez Acme", 9)
            b1 = post("3lboreal001", "lea.bsky.social", "Café au Boréal, wifi au top", 7)
            z1 = post("3lzorglub01", "sam.bsky.social", "Zorglub Telecom ne répond plus", 5)
            a0 = own(post("3lacme0000", "acme.example", "Acme: maintenance ce soir", 8), ACME_DID)
            z0 = own(post("3lzorglub00", "zorglub.example", "Zorglub: on s'en occupe", 4),
                     ZORGLUB_DID)
            srv.posts = [a1, b1, z1, a0, z0]
            collector = new_collector(settings, interval=0.3)
            registry = collector.metrics.registry
            last_good = "veille_bluesky_brand_last_success_timestamp_seconds"

            def sent() -> float:
                return sample(collector, "veille_collector_items_sent_total", collector="bluesky")

            def taken(outcome: str) -> float:
                return sample(collector, "veille_watchlist_reloads_total", outcome=outcome)

            def searched_after(index: int) -> set[str]:
                return {r.query["q"] for r in srv.searches()[index:]}

            task = asyncio.create_task(run_bluesky(settings, collector=collector))
            try:
                await wait_for(lambda: sent() == 2,
                               what="the first round")
                assert registry.get_sample_value("veille_watchlist_brands") == 2
                assert sample(collector, last_good, brand="boreal") > 0
                assert sample(collector, "veille_collector_items_fetched_total",
                              collector="bluesky") == 3  # a0 read, not sent

                # Brand zorglub added, boreal taken off.
                save_settled(path, acme + '\n[[brands]]\nid = "zorglub"\nname = "Zorglub"\n'
                             f'bluesky_accounts = ["{ZORGLUB_DID}"]\n')
                await wait_for(lambda: '"Zorglub"' in searched_after(0), what="the new brand")
                first = next(i for i, r in enumerate(srv.searches())
                             if r.query["q"] == '"Zorglub"')
                a2 = post("3lacme0002", "jordan.example.com", "Acme, encore", 1)
                srv.posts.append(a2)
                await wait_for(lambda: sent() == 4,
                               what="the new brand's post and the kept search's new one")
                mark = len(srv.searches())
                await wait_for(lambda: {'"Acme"', '"Zorglub"'} <= searched_after(mark),
                               what="one more round")
                # From the round that took the change, Boréal is searched no more; "Acme" went
                # on from its cursor (`since`), never its newest page again.
                assert '"Boréal"' not in searched_after(first - 1)
                assert all("since" in r.query for r in srv.searches()[1:]
                           if r.query["q"] == '"Acme"')
                assert taken("applied") == 1 and taken("refused") == 0
                assert sample(collector, "veille_collector_items_fetched_total",
                              collector="bluesky") == 6  # z1, z0 (read, not sent), a2
                assert sample(collector, last_good, brand="zorglub") > 0
                assert registry.get_sample_value(last_good, {"brand": "boreal"}) is None
                assert registry.get_sample_value(
                    "veille_bluesky_brand_failures_total", {"brand": "boreal", "kind": "fetch"}
                ) is None

                # A file that does not load, then one of more searches than a round may run:
                # both refused, the searches in use stay, and the collector goes on.
                save_settled(path, "[[brands]\nid = ")
                await wait_for(lambda: taken("refused") == 1, what="the broken file refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                aliases = ", ".join(f'"Acme {n}"' for n in range(60))
                save_settled(path, acme + f"aliases = [{aliases}]\n")
                await wait_for(lambda: taken("refused") == 2, what="too many searches refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                mark = len(srv.searches())
                await wait_for(lambda: {'"Acme"', '"Zorglub"'} <= searched_after(mark),
                               what="a round with the searches in use")
                assert searched_after(mark) == {'"Acme"', '"Zorglub"'}
                assert taken("applied") == 1 and not task.done()
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
            got = await raw_on_topic(settings, 4)
            assert sorted(m["id"] for m in got) == sorted(bluesky_id(p) for p in (a1, b1, z1, a2))

    asyncio.run(scenario())
