"""The Reddit collector against a real local HTTP server (a stand-in for Reddit's OAuth server
and API: POST /api/v1/access_token, GET /search) and the real broker."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.topics import MODERATION_DECISIONS
from tests.collector_helpers import one_round, save_settled, search_settings
from tests.conftest import ROOT, settings_env
from tests.http_helpers import serve
from tests.integration.test_rss import wait_for
from tests.kafka_helpers import raw_on_topic, read_all
from veille.broker import free_port
from veille.collectors.base import MentionSink
from veille.collectors.reddit import Query, RedditCollector, RedditRoundFailed, run_reddit
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration
NOW = time.time()
CLIENT_ID, CLIENT_SECRET = "veille-test-app", "s3cr3t-0f-the-app"


def link(id36: str, author: str, title: str, minutes_ago: float, *, selftext: str = "",
         score: Any = 12, comments: Any = 3, subreddit: str = "france") -> dict[str, Any]:
    """A t3 child of a search Listing, as Reddit gives it (raw_json=1)."""
    return {"kind": "t3", "data": {
        "id": id36, "name": f"t3_{id36}", "title": title, "selftext": selftext, "author": author,
        "permalink": f"/r/{subreddit}/comments/{id36}/some_title/",
        "url": f"https://www.reddit.com/r/{subreddit}/comments/{id36}/some_title/",
        "created_utc": NOW - minutes_ago * 60, "subreddit": subreddit, "score": score,
        "num_comments": comments, "over_18": False, "is_self": bool(selftext),
    }}


def reddit_id(child: dict[str, Any]) -> str:
    return "reddit-" + child["data"]["name"]


# ---------------------------------------------------------------------------------------------
# A real HTTP server answering like Reddit's OAuth server and API
# ---------------------------------------------------------------------------------------------


@dataclass
class Req:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    status: int = 200
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class Reddit:
    """access_token (HTTP Basic, grant_type=client_credentials) and search (q, sort=new, limit,
    after; newest first), with X-Ratelimit-* headers. `plan` scripts the next search answers:
    {"status", "headers", "remaining", "reset_in", "body" (raw text)}."""

    posts: list[Any] = field(default_factory=list)
    requests: list[Req] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    tokens: dict[str, float] = field(default_factory=dict)  # token -> when it expires
    expires_in: float = 86400.0
    #: The token endpoint's next answers, before the real ones: raw JSON text (status 200) or
    #: a web.Response.
    token_plan: list[Any] = field(default_factory=list)
    issued: int = 0
    base: str = ""
    #: /user/<name>/comments: each account's comments (t1 children), by its name in lower case;
    #: another name answers 404 (no such account).
    comments: dict[str, list[Any]] = field(default_factory=dict)

    def searches(self) -> list[Req]:
        return [r for r in self.requests if r.path == "/search"]

    def token_requests(self) -> list[Req]:
        return [r for r in self.requests if r.path == "/api/v1/access_token"]

    @staticmethod
    def matches(q: str, child: Any) -> bool:
        data = child.get("data") if isinstance(child, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            return "malformed" in q  # the test's odd children answer a search of their own
        text = f"{data['title']} {data.get('selftext') or ''}"
        return q.strip('"').casefold() in text.casefold()

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        req = Req(request.path, {}, dict(request.headers), time.time(),
                  form={k: str(v) for k, v in form.items()})
        self.requests.append(req)
        auth = request.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = password = ""
        if self.token_plan:
            step = self.token_plan.pop(0)
            return (web.Response(text=step, content_type="application/json")
                    if isinstance(step, str) else step)
        if not auth.startswith("Basic ") or self.clients.get(user) != password:
            req.status = 401
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"})
        self.issued += 1
        token = f"token-{self.issued}"
        self.tokens[token] = time.time() + self.expires_in
        return web.json_response({"access_token": token, "token_type": "bearer",
                                  "expires_in": self.expires_in, "scope": "*"})

    async def search(self, request: web.Request) -> web.Response:
        req = Req(request.path, dict(request.query), dict(request.headers), time.time())
        self.requests.append(req)
        step = self.plan.pop(0) if self.plan else {}
        headers = {"X-Ratelimit-Used": "1",
                   "X-Ratelimit-Remaining": str(step.get("remaining", 99.0)),
                   "X-Ratelimit-Reset": str(step.get("reset_in", 300)), **step.get("headers", {})}
        token = request.headers.get("Authorization", "").removeprefix("bearer ")
        if self.tokens.get(token, 0.0) < time.time():
            req.status = 401
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401,
                                     headers=headers)
        req.status = step.get("status", 200)
        if "body" in step:
            return web.Response(text=step["body"], status=req.status, headers=headers,
                                content_type="application/json")
        if req.status != 200:
            return web.json_response({"message": "Too Many Requests", "error": req.status},
                                     status=req.status, headers=headers)
        q = request.query
        assert (q["sort"], q["type"], q["raw_json"]) == ("new", "link", "1")
        def created(c: Any) -> float:
            when = c.get("data", {}).get("created_utc") if isinstance(c, dict) else None
            return when if isinstance(when, float) else 0.0

        found = sorted((c for c in self.posts if self.matches(q["q"], c)), key=created,
                       reverse=True)
        names = [c["data"].get("name") if isinstance(c, dict) and isinstance(c.get("data"), dict)
                 else None for c in found]
        after_q = q.get("after")
        start = names.index(after_q) + 1 if after_q is not None and after_q in names else 0
        limit = min(int(q.get("limit", 25)), 100)
        page = found[start:start + limit]
        after = names[start + limit - 1] if start + limit < len(found) else None
        return web.json_response({"kind": "Listing", "data": {
            "after": after, "before": None, "dist": len(page), "children": page}}, headers=headers)

    async def user_comments(self, request: web.Request) -> web.Response:
        req = Req(request.path, dict(request.query), dict(request.headers), time.time())
        self.requests.append(req)
        token = request.headers.get("Authorization", "").removeprefix("bearer ")
        if self.tokens.get(token, 0.0) < time.time():
            req.status = 401
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        q = request.query
        assert (q["sort"], q["raw_json"]) == ("new", "1") and "q" not in q
        found = self.comments.get(request.match_info["name"].lower())
        if found is None:
            req.status = 404
            return web.json_response({"message": "Not Found", "error": 404}, status=404)
        page = sorted(found, key=lambda c: c["data"]["created_utc"], reverse=True)
        page = page[:min(int(q.get("limit", 25)), 100)]
        return web.json_response({"kind": "Listing", "data": {
            "after": None, "before": None, "dist": len(page), "children": page}},
            headers={"X-Ratelimit-Remaining": "98.0", "X-Ratelimit-Reset": "300"})

    def revoke(self) -> None:
        self.tokens.clear()


@asynccontextmanager
async def reddit() -> AsyncIterator[Reddit]:
    server = Reddit()
    async with serve([("POST", "/api/v1/access_token", server.token),
                      ("GET", "/search", server.search),
                      ("GET", "/user/{name}/comments", server.user_comments)]) as base:
        server.base = base
        yield server


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def r_settings(settings: Settings, tmp_path: Path) -> Settings:
    return search_settings(settings, tmp_path, reddit_client_id=CLIENT_ID,
                           reddit_client_secret=CLIENT_SECRET)


def on(srv: Reddit, settings: Settings) -> Settings:
    """`settings` pointed at the stand-in (loopback: http allowed)."""
    return settings.with_(reddit_auth_url=srv.base, reddit_api_url=srv.base + "/")


def new_collector(settings: Settings, **kwargs: Any) -> RedditCollector:
    kwargs.setdefault("page_limit", 2)
    return RedditCollector(settings, CollectorMetrics(CollectorRegistry()), **kwargs)


def sample(c: RedditCollector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels) or 0.0


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """`python -m veille.collectors.reddit ARGS` (the real CLI) in a subprocess, without
    blocking the loop that serves the stand-in."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "veille.collectors.reddit", *args, env=settings_env(settings),
        cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


QUERIES = [Query("acme", '"Acme"'), Query("acme", '"Acme Mobile"'), Query("acme", '"AcmeDown"'),
           Query("boreal", '"Boréal"')]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_posts_become_raw_mentions_sent_once_and_resumed_after_restart(
        r_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            a1 = link("1abc01", "camille_fr", "Encore une panne chez Acme",
                      9, selftext="Ça fait trois fois cette semaine. #AcmeDown")
            a2 = link("1abc02", "[deleted]", "Acme Mobile: no signal since 8am", 8,
                      selftext="[removed]", score=-3, comments=0)
            both = link("1abc03", "lea", "Acme ou Boréal pour la fibre ?", 7)
            old = link("1abc00", "sam", "Acme, old news", 30)
            srv.posts = [old, a1, a2, both]

            # Round 1, no state: the newest page of each search only; a post found by several
            # searches (of one brand, or of two brands) is sent once.
            collector = new_collector(settings)
            r1 = await one_round(collector)
            assert collector.queries == QUERIES
            assert [r.query["q"] for r in srv.searches()] == [q.q for q in QUERIES]
            assert all((r.query["sort"], r.query["limit"], r.query["type"], r.query["raw_json"])
                       == ("new", "2", "link", "1") and "after" not in r.query
                       for r in srv.searches())
            # "Acme": both and a2 (its newest page of 2); "Acme Mobile": a2; "AcmeDown": a1;
            # "Boréal": both.
            assert (r1.status, r1.fetched, r1.sent) == ("ok", 5, 3), r1
            (tok,) = srv.token_requests()
            assert tok.form == {"grant_type": "client_credentials"}
            assert tok.headers["Authorization"] == "Basic " + base64.b64encode(
                f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            assert {r.headers["Authorization"] for r in srv.searches()} == {"bearer token-1"}
            assert {r.headers["User-Agent"] for r in srv.requests} == {
                settings.reddit_user_agent}
            assert settings.reddit_user_agent.startswith("python:veille:")

            # Restart: a burst of 3 new posts on Acme is paged (after=) while its pages bring
            # new posts above the look-back window; nothing already sent goes again.
            srv.requests.clear()
            burst = [link(f"1abd0{i}", "bob", f"Acme down again ({i})", 5 - i) for i in range(3)]
            srv.posts += burst
            r2 = await one_round(new_collector(settings))
            assert (r2.status, r2.sent) == ("ok", 3), r2
            acme = [r.query.get("after") for r in srv.searches() if r.query["q"] == '"Acme"']
            assert acme == [None, "t3_1abd01", "t3_1abc03"], acme

            # Restart, the real entry point: nothing new, nothing sent again.
            srv.requests.clear()
            assert await run_reddit(settings, once=True, collector=new_collector(settings)) == []
            assert capsys.readouterr().out.splitlines() == [
                f"reddit: {q}: ok, 0 posts, 0 sent, 0 refused"
                for q in ('"Acme" (acme)', '"Acme Mobile" (acme)', '"AcmeDown" (acme)',
                          '"Boréal" (boreal)')]

            got = await raw_on_topic(settings, 6)
            by_id = {m["id"]: m for m in got}
            assert len(got) == 6 and set(by_id) == {reddit_id(c) for c in [a1, a2, both, *burst]}
            m = by_id[reddit_id(a1)]
            assert (m["platform"], m["source"], m["author"], m["language"]) == (
                "reddit", "reddit", "camille_fr", None)
            assert m["text"] == ("Encore une panne chez Acme\n\nÇa fait trois fois cette semaine. "
                                 "#AcmeDown")
            assert m["url"] == "https://www.reddit.com/r/france/comments/1abc01/some_title/"
            assert m["audience"] == {"likes": 12, "replies": 3}
            created = a1["data"]["created_utc"]
            assert abs(m["created_at"] - created) < 1e-6 if isinstance(m["created_at"], float) \
                else m["created_at"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(created)))
            # [deleted]: no author; [removed]: no selftext; a negative score is no audience.
            m = by_id[reddit_id(a2)]
            assert (m["author"], m["text"], m["audience"]) == (
                None, "Acme Mobile: no signal since 8am", {"replies": 0})

            states = [json.loads(p.read_text())
                      for p in Path(settings.collector_state_dir, "reddit").glob("*.json")]
            assert {s["query"] for s in states} == {q.q for q in QUERIES}
            assert {s["service"] for s in states} == {srv.base}
            saved = b"".join(p.read_bytes() for p in Path(settings.collector_state_dir).rglob("*")
                             if p.is_file())
            assert CLIENT_SECRET.encode() not in saved and b"token-1" not in saved

    asyncio.run(scenario())


def test_a_token_expiring_mid_run_is_renewed(r_settings: Settings) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link("2aaa01", "a", "Acme one", 3)]
            srv.expires_in = 2.0
            collector = new_collector(settings, queries=[Query("acme", '"Acme"')])
            await collector.start()
            try:
                assert (await collector.poll_round()).sent == 1
                assert (await collector.poll_round()).ok  # still valid: no new token
                assert len(srv.token_requests()) == 1
                await asyncio.sleep(2.2)  # expired: asked again before the search
                srv.posts.append(link("2aaa02", "b", "Acme two", 1))
                result = await collector.poll_round()
                assert (result.status, result.sent) == ("ok", 1)
                assert len(srv.token_requests()) == 2
                assert [r.status for r in srv.searches()] == [200, 200, 200]
                assert srv.searches()[-1].headers["Authorization"] == "bearer token-2"

                # A token revoked before its time (401 on the search): renewed once, the search
                # asked again.
                srv.expires_in = 3600.0
                await asyncio.sleep(2.2)
                assert (await collector.poll_round()).ok
                srv.revoke()
                n = len(srv.searches())
                srv.posts.append(link("2aaa03", "c", "Acme three", 0.5))
                result = await collector.poll_round()
                assert (result.status, result.sent) == ("ok", 1), result
                assert [r.status for r in srv.searches()[n:]][:2] == [401, 200]
                assert len(srv.token_requests()) == 4
            finally:
                await collector.close()
            assert len(await raw_on_topic(settings, 3)) == 3

    asyncio.run(scenario())


def test_credentials_refused_by_the_token_endpoint_are_a_clear_config_error(
        r_settings: Settings) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            srv.posts = [link("3aaa01", "a", "Acme one", 3)]
            wrong = on(srv, r_settings).with_(reddit_client_secret="not-the-secret")
            queries = [Query("acme", '"Acme"'), Query("boreal", '"Boréal"')]
            collector = new_collector(wrong, queries=queries)
            with pytest.raises(RedditRoundFailed, match=r"every search failed \(2\); .*Reddit "
                               r"refused the app's credentials .*HTTP 401.*VEILLE_REDDIT_CLIENT_ID "
                               r"and VEILLE_REDDIT_CLIENT_SECRET"):
                await run_reddit(wrong, once=True, collector=collector)
            # Asked once in the round, not once per search; no search without a token.
            assert [r.path for r in srv.requests] == ["/api/v1/access_token"]
            for brand in ("acme", "boreal"):
                assert sample(collector, "veille_reddit_brand_failures_total", brand=brand,
                              kind="unauthorized") == 1

            # The real CLI: exit 2, the message, no traceback.
            code, out, err = await run_cli(wrong, "--once")
            assert code == 2, err
            assert ("veille: error: reddit: every search failed (4); \"Acme\" (acme): Reddit "
                    "refused the app's credentials") in err
            assert "Traceback" not in err and "not-the-secret" not in err + out

            # With a brand's account among the sources, they are not all searches.
            collector = new_collector(wrong, queries=[*queries, Query("acme", "u/Acme_Support")])
            with pytest.raises(RedditRoundFailed, match=r"every search and brand account failed \(3\); "):
                await run_reddit(wrong, once=True, collector=collector)

    asyncio.run(scenario())


def test_a_bad_configuration_is_an_error_message_not_a_traceback(r_settings: Settings) -> None:
    async def scenario() -> None:
        no_secret = r_settings.with_(reddit_client_secret="")
        code, _, err = await run_cli(no_secret, "--once")
        assert code == 2, err
        assert ("veille: error: VEILLE_REDDIT_CLIENT_ID and VEILLE_REDDIT_CLIENT_SECRET are "
                "required") in err
        assert "Traceback" not in err
        clear = r_settings.with_(reddit_auth_url="http://reddit.example")
        code, _, err = await run_cli(clear, "--once")
        assert code == 2 and "VEILLE_REDDIT_AUTH_URL='http://reddit.example' is http://" in err
        slow = r_settings.with_(reddit_interval_seconds=5.0)
        code, _, err = await run_cli(slow, "--once")
        assert code == 2 and "VEILLE_REDDIT_INTERVAL_SECONDS=5.0 must be in 30..86400" in err

    asyncio.run(scenario())


def test_once_exit_codes(r_settings: Settings) -> None:
    """`--once`: 0 when every search was read, 1 and a warning when some were not (the others'
    posts sent), 2 when none was (above) or the broker did not take the posts."""
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link("4aaa01", "a", "Acme one", 3), link("4aaa02", "b", "Boréal two", 2)]
            code, out, err = await run_cli(settings, "--once")
            assert code == 0, err
            assert 'reddit: "Acme" (acme): ok, 1 posts, 1 sent, 0 refused' in out.splitlines()

            srv.plan = [{}, {}, {}, {"status": 500}]  # "Boréal", the fourth search, fails
            srv.posts.append(link("4aaa03", "c", "Acme three", 1))
            code, out, err = await run_cli(settings, "--once")
            assert code == 1, err
            assert ("veille: warning: reddit: 1 search(es) or brand account(s) could not be "
                    "read; \"Boréal\" (boreal): HTTP 500") in err
            assert 'reddit: "Boréal" (boreal): failed, 0 posts, 0 sent, 0 refused (HTTP 500)' in out
            assert len(await raw_on_topic(settings, 3)) == 3

            srv.posts.append(link("4aaa04", "d", "Acme four", 0.5))
            dead = settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            code, out, err = await run_cli(dead, "--once")
            assert code == 2, err
            assert "Traceback" not in err

    asyncio.run(scenario())


def test_rate_limit_headers_and_429_are_honoured(r_settings: Settings) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link("5aaa01", "a", "Acme a", 3), link("5aaa02", "b", "Boréal b", 2)]
            srv.plan = [
                {"remaining": 0.0, "reset_in": 1.5},  # the window used up for 1.5 s
                {"status": 429, "remaining": 0.0, "reset_in": 0.2, "headers": {"Retry-After": "1"}},
                {},
            ]
            queries = [Query("acme", '"Acme"'), Query("boreal", '"Boréal"')]
            result = await one_round(new_collector(settings, queries=queries))
            assert (result.status, result.sent) == ("ok", 2)
            first, blocked, retried = srv.searches()
            # X-Ratelimit-Remaining 0: the next request waits X-Ratelimit-Reset (seconds).
            assert blocked.at - first.at >= 1.4
            # 429 with Retry-After: 1: the same request again, a second later.
            assert (blocked.status, retried.status) == (429, 200)
            assert retried.at - blocked.at >= 0.95 and retried.query == blocked.query

            # A reset beyond the round's budget fails that search alone, kind rate_limited.
            srv.requests.clear()
            srv.plan = [{"remaining": 0.0, "reset_in": 120}]
            collector = new_collector(settings, queries=queries, max_rate_limit_wait=1.0)
            result = await one_round(collector)
            assert result.status == "partial" and len(srv.searches()) == 1
            assert sample(collector, "veille_reddit_brand_failures_total", brand="boreal",
                          kind="rate_limited") == 1
            assert sample(collector, "veille_reddit_brand_last_success_timestamp_seconds",
                          brand="acme") > 0
            assert sample(collector, "veille_reddit_brand_last_success_timestamp_seconds",
                          brand="boreal") == 0

    asyncio.run(scenario())


def test_malformed_answers_are_failures_and_malformed_posts_refused_alone(
        r_settings: Settings) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link("6aaa01", "a", "Acme a", 3), link("6aaa02", "b", "Boréal b", 2)]
            queries = [Query("acme", '"Acme"'), Query("boreal", '"Boréal"')]
            for body in ("<html>Our CDN is having a bad day</html>", '{"kind": "Listing"}',
                         '{"kind": "Listing", "data": {"children": {"no": "list"}}}', "[1, 2]"):
                srv.plan = [{"body": body}, {}]
                collector = new_collector(settings, queries=queries)
                result = await one_round(collector)
                assert result.status == "partial", (body, result)
                assert sample(collector, "veille_reddit_brand_failures_total", brand="acme",
                              kind="fetch") == 1
                assert sample(collector, "veille_reddit_brand_last_success_timestamp_seconds",
                              brand="boreal") > 0
            # The search that failed kept its cursor (none): its post is sent once it answers.
            result = await one_round(new_collector(settings, queries=queries))
            assert (result.status, result.sent) == ("ok", 1)

            # Odd children: each refused alone, the others of the page go on.
            good = link("6bbb01", "c", "malformed search, good post", 3)
            no_name = link("6bbb02", "d", "malformed, no name", 2)
            del no_name["data"]["name"], no_name["data"]["id"]
            no_text = link("6bbb03", "e", "", 2, selftext="[removed]")
            no_text["data"]["title"] = None
            comment = {**link("6bbb04", "f", "malformed, a comment", 2), "kind": "t1"}
            bad_date = link("6bbb05", "g", "malformed, bad date", 2)
            bad_date["data"]["created_utc"] = "yesterday-ish"
            srv.posts += [good, no_name, "not a child", no_text, comment, bad_date]
            collector = new_collector(settings, queries=[Query("acme", "malformed")],
                                      page_limit=10)
            result = await one_round(collector)
            assert (result.status, result.fetched, result.sent, result.refused) == (
                "ok", 6, 1, 5), result
            refused = {reason: sample(collector, "veille_collector_items_refused_total",
                                      collector="reddit", reason=reason)
                       for reason in ("invalid_field", "not_an_object", "missing_field")}
            assert refused == {"invalid_field": 2, "not_an_object": 1, "missing_field": 2}
            got = await raw_on_topic(settings, 3)
            assert reddit_id(good) in {m["id"] for m in got}

    asyncio.run(scenario())


def test_state_is_saved_only_after_the_broker_acknowledges(r_settings: Settings) -> None:
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link("7aaa01", "a", "Boréal a", 3), link("7aaa02", "b", "Boréal b", 2)]
            queries = [Query("boreal", '"Boréal"')]
            dead = settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            metrics = CollectorMetrics(CollectorRegistry())
            collector = RedditCollector(settings, metrics, queries=queries,
                                        sink=MentionSink(dead, "reddit", metrics, ack_timeout=1.0))
            result = await one_round(collector)
            assert result.status == "broker_error"
            assert sample(collector, "veille_reddit_brand_failures_total", brand="boreal",
                          kind="broker") == 1
            assert not list(Path(settings.collector_state_dir).rglob("*.json"))

            result = await one_round(new_collector(settings, queries=queries))
            assert (result.status, result.sent) == ("ok", 2)
            assert len(list(Path(settings.collector_state_dir).rglob("*.json"))) == 1
            assert len(await raw_on_topic(settings, 2)) == 2

    asyncio.run(scenario())


def test_a_changed_watch_list_is_followed_between_two_rounds(r_settings: Settings) -> None:
    """The running collector (run_reddit, its loop) follows the watch list: a new brand is
    searched from the next round (its series at once), a brand taken off no more (its series
    gone), a kept search goes on from its cursor (nothing sent twice); a file that does not load
    is refused and the searches in use stay."""
    async def scenario() -> None:
        async with reddit() as srv:
            path = Path(r_settings.watchlist)
            acme = '[[brands]]\nid = "acme"\nname = "Acme"\n'
            save_settled(path, acme + '\n[[brands]]\nid = "boreal"\nname = "Boréal"\n')
            settings = on(srv, r_settings).with_(watchlist_reload_seconds=0.1)
            a1 = link("8aaa01", "a", "Encore une panne chez Acme", 9)
            b1 = link("8aaa02", "b", "Café au Boréal", 7)
            z1 = link("8aaa03", "c", "Zorglub Telecom ne répond plus", 5)
            srv.posts = [a1, b1, z1]
            collector = new_collector(settings, interval=0.3)
            registry = collector.metrics.registry
            last_good = "veille_reddit_brand_last_success_timestamp_seconds"

            def sent() -> float:
                return sample(collector, "veille_collector_items_sent_total", collector="reddit")

            def taken(outcome: str) -> float:
                return sample(collector, "veille_watchlist_reloads_total", outcome=outcome)

            def searched_after(index: int) -> set[str]:
                return {r.query["q"] for r in srv.searches()[index:]}

            task = asyncio.create_task(run_reddit(settings, collector=collector))
            try:
                await wait_for(lambda: sent() == 2, what="the first round")
                save_settled(path, acme + '\n[[brands]]\nid = "zorglub"\nname = "Zorglub"\n')
                await wait_for(lambda: '"Zorglub"' in searched_after(0), what="the new brand")
                first = next(i for i, r in enumerate(srv.searches()) if r.query["q"] == '"Zorglub"')
                srv.posts.append(link("8aaa04", "d", "Acme, encore", 1))
                await wait_for(lambda: sent() == 4, what="the new brand's post and Acme's new one")
                assert '"Boréal"' not in searched_after(first - 1)
                assert sample(collector, last_good, brand="zorglub") > 0
                assert registry.get_sample_value(last_good, {"brand": "boreal"}) is None

                save_settled(path, "[[brands]\nid = ")
                await wait_for(lambda: taken("refused") == 1, what="the broken file refused")
                mark = len(srv.searches())
                await wait_for(lambda: {'"Acme"', '"Zorglub"'} <= searched_after(mark),
                               what="a round with the searches in use")
                assert searched_after(mark) == {'"Acme"', '"Zorglub"'}
                assert taken("applied") == 1 and not task.done()
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
            assert sent() == 4 and srv.token_requests()[0].status == 200
            assert len(srv.token_requests()) == 1  # one token for the whole run
            got = await raw_on_topic(settings, 4)
            assert len(got) == 4 and len({m["id"] for m in got}) == 4

    asyncio.run(scenario())



def test_the_brands_reply_to_a_complaint_is_an_answer_and_its_own_post_no_mention(
        r_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Acme's `reddit_accounts` (u/Acme_Support): a customer's complaint found by the "Acme"
    search is a mention on mentions.raw; the account's reply to it (its comments listing) a
    `replied` decision on moderation.decisions keyed by the complaint's case id; the account's
    own post found by the search, and its reply to it, are neither. An account Reddit does not
    know (404) fails alone, under its brand's health (never a username as a label)."""
    caplog.set_level(logging.INFO, logger="veille")

    async def scenario() -> None:
        async with reddit() as srv:
            path = Path(r_settings.watchlist)
            path.write_text('[[brands]]\nid = "acme"\nname = "Acme"\n'
                            'reddit_accounts = ["u/Acme_Support", "acme_gone"]\n', encoding="utf-8")
            settings = on(srv, r_settings)
            complaint = link("9ccc01", "camille_fr", "Acme: no signal since 8am", 9)
            own = link("9ccc02", "acme_support", "Acme: maintenance tonight", 8)
            srv.posts = [complaint, own]

            def comment(id36: str, parent: dict[str, Any], minutes_ago: float) -> dict[str, Any]:
                post = parent["data"]
                return {"kind": "t1", "data": {
                    "name": f"t1_{id36}", "id": id36, "parent_id": post["name"],
                    "link_id": post["name"], "link_author": post["author"],
                    "author": "Acme_Support", "created_utc": NOW - minutes_ago * 60,
                    "permalink": f"{post['permalink']}{id36}/", "body": "Sorry! DM us",
                    "subreddit": "france"}}

            srv.comments["acme_support"] = [comment("kq0001", complaint, 5),
                                            comment("kq0002", own, 4)]
            collector = new_collector(settings)
            r1 = await one_round(collector)
            assert collector.queries == [Query("acme", '"Acme"'),
                                         Query("acme", "u/Acme_Support"),
                                         Query("acme", "u/acme_gone")]
            assert (r1.status, r1.sent) == ("partial", 1), r1
            assert "u/acme_gone" in r1.errors["u/acme_gone"] and "404" in r1.errors["u/acme_gone"]
            [got] = await raw_on_topic(settings, 1)
            assert got["id"] == reddit_id(complaint)
            [record] = await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1, 30.0,
                                               1.0)
            assert record.key == b"reddit-t3_9ccc01"
            assert json.loads(record.value) == {
                "case_id": "reddit-t3_9ccc01", "decision": "replied",
                "moderator": "u/Acme_Support",
                "decided_at": json.loads(record.value)["decided_at"],
                "reason": "https://www.reddit.com/r/france/comments/9ccc01/some_title/kq0001/",
                "answered_on": "reddit"}
            assert sample(collector, "veille_collector_answers_sent_total",
                          collector="reddit") == 1
            assert sample(collector, "veille_reddit_brand_failures_total", brand="acme",
                          kind="fetch") == 1
            assert {r.path for r in srv.requests} >= {"/user/Acme_Support/comments",
                                                      "/user/acme_gone/comments"}

            # Restart: the account's cursor and comments were saved; nothing is sent again.
            r2 = await one_round(new_collector(settings))
            assert r2.sent == 0
            assert len(await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1, 5.0,
                                               1.0)) == 1
        assert ("reddit: 1 answer of the brand's Reddit accounts sent to "
                f"{settings.topic(MODERATION_DECISIONS)}") in [r.getMessage() for r in caplog.records]

    asyncio.run(scenario())


def test_once_counts_a_brand_accounts_comments_and_answers(
        r_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in review, 2026-12-07: the `--once` line of a brand account counted its comments as
    "posts" and said nothing of its answers, and a failed account was returned without its
    brand (as `veille collect reddit --once` warns of it)."""
    async def scenario() -> None:
        async with reddit() as srv:
            Path(r_settings.watchlist).write_text(
                '[[brands]]\nid = "acme"\nname = "Acme"\n'
                'reddit_accounts = ["u/Acme_Support", "acme_gone"]\n', encoding="utf-8")
            settings = on(srv, r_settings)
            complaint = link("9ddd01", "camille_fr", "Acme: no signal since 8am", 9)
            srv.posts = [complaint]
            srv.comments["acme_support"] = [
                {"kind": "t1", "data": {
                    "name": f"t1_{id36}", "id": id36, "parent_id": parent, "link_id": parent,
                    "link_author": "camille_fr", "author": "Acme_Support",
                    "created_utc": NOW - minutes_ago * 60,
                    "permalink": f"/r/france/comments/9ddd01/some_title/{id36}/",
                    "body": "Sorry! DM us", "subreddit": "france"}}
                for id36, parent, minutes_ago in (("kr0001", "t3_9ddd01", 5),
                                                  ("kr0002", "t1_kr0001", 4))]
            failed = await run_reddit(settings, once=True, collector=new_collector(settings))
            assert len(failed) == 1 and failed[0].startswith("u/acme_gone (acme): "), failed
            lines = capsys.readouterr().out.splitlines()
            assert 'reddit: "Acme" (acme): ok, 1 posts, 1 sent, 0 refused' in lines, lines
            assert "reddit: u/Acme_Support (acme): ok, 2 comments, 1 answer sent" in lines, lines
            [gone] = [line for line in lines if line.startswith("reddit: u/acme_gone (acme): ")]
            assert gone.startswith("reddit: u/acme_gone (acme): failed, 0 comments, 0 answers "
                                   "sent ("), gone

    asyncio.run(scenario())


def test_a_token_endpoint_cannot_write_lines_in_the_log(
        r_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Found in review, 2026-12-07: a token endpoint answering 200 with an `error` holding a
    line break and escape sequences wrote them as they came into the log (a forged log line)
    and the `--once` report."""
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.token_plan = ['{"error": "x\\nFAKE 2026 CRITICAL root: pwned \\u001b[2J\\u202e"}']
            collector = new_collector(settings, queries=[Query("acme", '"Acme"')])
            with caplog.at_level(logging.INFO, logger="veille"):
                result = await one_round(collector)
            assert result.status == "failed"
            (error,) = result.errors.values()
            assert "refused the app's credentials" in error and "pwned" in error
            for text in [error, *(r.getMessage() for r in caplog.records)]:
                assert not any(c in text for c in "\n\r\x1b\u202e"), text

    asyncio.run(scenario())


def test_a_page_of_more_posts_than_asked_fails_the_search_unread(
        r_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Found in review, 2026-12-07: a search answering a page of millions of children (Reddit
    gives at most the `limit` asked) was read child by child, each refused with its own log
    line: 2.4 million children in a 10 MB answer took 36 s and as many lines, for each page of
    each search."""
    async def scenario() -> None:
        async with reddit() as srv:
            settings = on(srv, r_settings)
            srv.posts = [link(f"8aaa{i:02d}", "a", f"Acme {i}", 3) for i in range(3)]
            srv.plan = [{"body": json.dumps({"kind": "Listing", "data": {
                "children": [{}] * 5000 + srv.posts, "after": None}})}]
            collector = new_collector(settings, queries=[Query("acme", '"Acme"')])
            with caplog.at_level(logging.INFO, logger="veille"):
                result = await one_round(collector)
            assert (result.status, result.fetched, result.refused) == ("failed", 0, 0), result
            (error,) = result.errors.values()
            assert "5003 posts in a page, more than the 2 asked" in error
            assert len(caplog.records) < 10
            result = await one_round(new_collector(settings, queries=[Query("acme", '"Acme"')]))
            assert (result.status, result.sent) == ("ok", 2), result

    asyncio.run(scenario())


def test_the_secret_and_the_token_are_never_logged_saved_or_sent_elsewhere(
        r_settings: Settings) -> None:
    """Reviewed 2026-12-07 (it held): `--once` at VEILLE_LOG_LEVEL=DEBUG (aiohttp's and
    kafka's loggers included) writes neither the app's secret, its HTTP Basic form, nor the
    token; the state folder holds neither; a redirect of the token or the search endpoint to
    another host is not followed (the Authorization header goes nowhere else)."""
    async def scenario() -> None:
        elsewhere: list[dict[str, str]] = []

        async def steal(request: Any) -> Any:
            elsewhere.append(dict(request.headers))
            return web.json_response({})

        async with reddit() as srv, serve([("GET", "/steal", steal),
                                           ("POST", "/steal", steal)]) as other:
            settings = on(srv, r_settings)
            srv.posts = [link("9aaa01", "a", "Acme one", 3)]
            env = {**settings_env(settings), "VEILLE_LOG_LEVEL": "DEBUG"}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "veille.collectors.reddit", "--once", env=env,
                cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 90)
            text = out.decode() + err.decode()
            assert proc.returncode == 0, text
            assert " DEBUG " in text  # the level was taken
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            for secret in (CLIENT_SECRET, basic, *srv.tokens):
                assert secret not in text
                for path in Path(settings.collector_state_dir).rglob("*"):
                    if path.is_file():
                        assert secret.encode() not in path.read_bytes(), path

            # Redirects elsewhere: told, not followed.
            for route in ("token", "search"):
                srv.tokens.clear()  # a token is asked, then the search made
                moved = {"Location": other + "/steal"}
                if route == "token":
                    srv.token_plan = [web.Response(status=307, headers=moved)]
                else:
                    srv.plan = [{"status": 307, "headers": moved}]
                collector = new_collector(settings, queries=[Query("acme", '"Acme"')])
                result = await one_round(collector)
                assert result.status == "failed"
                (error,) = result.errors.values()
                assert "the server redirects to http://127.0.0.1:" in error, error
                assert "not followed" in error
            assert elsewhere == []

    asyncio.run(scenario())
