"""The Mastodon collector against a real local HTTP server (the documented API) and the real broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from streams.topics import ensure_topics
from tests.collector_helpers import ListSink, save_settled
from tests.conftest import ROOT, settings_env
from tests.http_helpers import serve
from tests.kafka_helpers import raw_on_topic
from veille.broker import free_port
from veille.collectors import mastodon
from veille.collectors.base import MentionSink
from veille.collectors.mastodon import MastodonCollector, MastodonConfigError, run_mastodon
from veille.metrics import CollectorMetrics
from veille.rules import Watchlist
from veille.settings import Settings

pytestmark = pytest.mark.integration
DATA = ROOT / "tests/data/mastodon"
P = "1139573864293"  # the common prefix of the fixtures' status ids


def load(name: str) -> list[dict[str, Any]]:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def mastodon_id(uri: str) -> str:
    return "mastodon-" + hashlib.sha256(uri.encode()).hexdigest()[:32]


def local_uri(user: str, sid: str) -> str:
    return f"https://mastodon.example/users/{user}/statuses/{P}{sid}"


LEA_URI = "https://piaille.example/users/lea/statuses/113957381000000042"


# ---------------------------------------------------------------------------------------------
# A real HTTP server answering like a Mastodon instance
# ---------------------------------------------------------------------------------------------


@dataclass
class Req:
    tag: str
    query: dict[str, str]
    at: float  # wall clock, to compare with X-RateLimit-Reset
    headers: dict[str, str]
    status: int = 200


@dataclass
class Instance:
    """GET /api/v1/timelines/tag/{tag} with since_id / max_id / min_id / limit, Link headers and rate-limit
    headers. `plan` scripts the next answers: {"status", "headers", "remaining", "reset_in"}."""

    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Req] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)
    resets: list[float] = field(default_factory=list)  # X-RateLimit-Reset sent, Unix time
    ignore_min_id: bool = False  # as some instances do: the newest page instead
    clock_ahead: float = 0.0  # seconds the instance's clock (its Date header) runs ahead
    base: str = ""

    def add(self, tag: str, statuses: list[dict[str, Any]]) -> None:
        self.timelines.setdefault(tag.lower(), []).extend(statuses)

    def queries(self, tag: str | None = None) -> list[dict[str, str]]:
        return [r.query for r in self.requests if tag is None or r.tag == tag.lower()]

    async def handle(self, request: web.Request) -> web.Response:
        tag = request.match_info["tag"].lower()
        req = Req(tag, dict(request.query), time.time(), dict(request.headers))
        self.requests.append(req)
        step = self.plan.pop(0) if self.plan else {}
        reset = datetime.now(UTC) + timedelta(seconds=step.get("reset_in", 300.0))
        self.resets.append(reset.timestamp())
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(step.get("remaining", 299)),
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **step.get("headers", {}),
        }
        if self.clock_ahead:
            headers["Date"] = formatdate(time.time() + self.clock_ahead, usegmt=True)
        req.status = step.get("status", 200)
        if req.status != 200:
            return web.json_response({"error": "Too many requests"}, status=req.status,
                                     headers=headers)
        q = request.query
        statuses = sorted(self.timelines.get(tag, []), key=lambda s: int(s["id"]), reverse=True)
        if "max_id" in q:
            statuses = [s for s in statuses if int(s["id"]) < int(q["max_id"])]
        if "since_id" in q:
            statuses = [s for s in statuses if int(s["id"]) > int(q["since_id"])]
        limit = min(int(q.get("limit", 20)), 40)
        if "min_id" in q and not self.ignore_min_id:  # like Mastodon: right after min_id
            statuses = [s for s in statuses if int(s["id"]) > int(q["min_id"])][-limit:]
        page = statuses[:limit]
        if page:
            path = f"{self.base}/api/v1/timelines/tag/{tag}"
            # Like Mastodon: the next link carries max_id only (no since_id).
            headers["Link"] = (f'<{path}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{path}?min_id={page[0]["id"]}>; rel="prev"')
        return web.json_response(page, headers=headers)


@asynccontextmanager
async def instance() -> AsyncIterator[Instance]:
    server = Instance()
    async with serve([("GET", "/api/v1/timelines/tag/{tag}", server.handle)]) as base:
        server.base = base
        yield server


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def m_settings(settings: Settings, tmp_path: Path) -> Settings:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text("""
[[brands]]
id = "acme"
name = "Acme"
hashtags = ["#AcmeDown", "acmedown", "AcmeMobile"]

[[brands]]
id = "boreal"
name = "Boréal"
hashtags = ["#BorealCafe"]

[[feeds]]
url = "https://example.org/feed.xml"
""", encoding="utf-8")
    # The fixtures are dated March 2025: widen the age bound so that they stay valid.
    s = settings.with_(collector_state_dir=str(tmp_path / "collectors"),
                       collector_metrics_port=free_port(), max_age_days=36500.0,
                       watchlist=str(watchlist), mastodon_token="s3cret")
    ensure_topics(s)
    return s


def new_collector(settings: Settings, **kwargs: Any) -> MastodonCollector:
    """A collector on the test instance; without the look-back window unless asked (the tests
    that follow its requests one by one predate it: test_a_late_status_... covers it)."""
    kwargs.setdefault("page_limit", 3)
    kwargs.setdefault("lookback_seconds", 0.0)
    return MastodonCollector(settings, CollectorMetrics(CollectorRegistry()), **kwargs)


def sample(c: MastodonCollector, name: str, **labels: str) -> float:
    value = c.metrics.registry.get_sample_value(name, {"collector": "mastodon", **labels})
    return value or 0.0


async def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_hashtag_timelines_paginated_mapped_and_resumed_after_restart(m_settings: Settings) -> None:
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base + "/")
            page1 = load("acmedown_page1")
            srv.add("acmedown", page1)
            srv.add("acmemobile", [s for s in page1 if s["id"] == P + "00102"])
            srv.add("borealcafe", load("borealcafe_page1"))

            # Round 1, no state: the newest page of each hashtag only.
            collector = new_collector(settings)
            await collector.start()
            try:
                assert collector.hashtags == ["AcmeDown", "AcmeMobile", "BorealCafe"]
                r1 = await collector.poll_round()
                assert (r1.status, r1.fetched, r1.sent) == ("ok", 5, 4)  # 102 under two tags
                assert [(r.tag, r.query) for r in srv.requests] == [
                    ("acmedown", {"limit": "3"}),
                    ("acmemobile", {"limit": "3"}),
                    ("borealcafe", {"limit": "3"}),
                ]
                assert {r.headers["Authorization"] for r in srv.requests} == {"Bearer s3cret"}
                assert {r.headers["User-Agent"] for r in srv.requests} == {
                    settings.collector_user_agent}

                # A burst: 5 new statuses under #AcmeDown (one a boost), one under #BorealCafe.
                srv.requests.clear()
                srv.add("acmedown", load("acmedown_page2"))
                srv.add("borealcafe", load("borealcafe_page2"))
                r2 = await collector.poll_round()
                assert (r2.status, r2.fetched, r2.sent) == ("ok", 6, 5)  # the boosted one once
                assert [(r.tag, r.query) for r in srv.requests] == [
                    ("acmedown", {"limit": "3", "min_id": P + "00104"}),
                    # the page (the 3 statuses right after 104) was full: the next ones
                    ("acmedown", {"limit": "3", "min_id": P + "00108"}),
                    ("acmemobile", {"limit": "3", "min_id": P + "00102"}),
                    ("borealcafe", {"limit": "3", "min_id": P + "00100"}),
                ]
                assert sample(collector, "veille_collector_items_fetched_total") == 11
                assert sample(collector, "veille_collector_items_sent_total") == 9
            finally:
                await collector.close()

            state_dir = Path(settings.collector_state_dir, "mastodon")
            states = {json.loads(p.read_text())["hashtag"]: json.loads(p.read_text())
                      for p in state_dir.glob("*.json")}
            assert {t: s["since_id"] for t, s in states.items()} == {
                "AcmeDown": P + "00110", "AcmeMobile": P + "00102", "BorealCafe": P + "00107"}
            assert {s["instance"] for s in states.values()} == {srv.base}

            # Restart: a new collector (the real entry point, one round) resumes after since_id.
            srv.requests.clear()
            srv.add("acmedown", load("acmedown_page3"))
            await run_mastodon(settings, once=True,
                               collector=new_collector(settings))
            assert [(r.tag, r.query) for r in srv.requests] == [
                ("acmedown", {"limit": "3", "min_id": P + "00110"}),
                ("acmemobile", {"limit": "3", "min_id": P + "00102"}),
                ("borealcafe", {"limit": "3", "min_id": P + "00107"}),
            ]

            got = await raw_on_topic(settings, 10)
            ids = [m["id"] for m in got]
            assert len(ids) == 10 and len(set(ids)) == 10, ids
            by_id = {m["id"]: m for m in got}
            expected = {
                local_uri("camille", "00104"), local_uri("jordan", "00103"),
                local_uri("sam", "00102"), local_uri("bob_lyon", "00100"),  # round 1
                local_uri("jordan", "00110"), LEA_URI, local_uri("sam", "00108"),
                local_uri("bob_lyon", "00106"), local_uri("camille", "00105"),  # round 2
                local_uri("bob_lyon", "00111"),  # after the restart
            }
            assert set(by_id) == {mastodon_id(u) for u in expected}
            assert mastodon_id(local_uri("camille", "00101")) not in by_id  # older than page 1

            m = by_id[mastodon_id(local_uri("camille", "00104"))]
            # A mention is written with its account in full (a local one qualified).
            assert m["text"] == ("Encore une panne chez @acme_fr@mastodon.example ce matin, "
                                 "impossible d'appeler 😡 #AcmeDown\n\nÇa fait trois fois ce "
                                 "mois-ci.")
            assert (m["author"], m["platform"], m["source"], m["language"]) == (
                "camille@mastodon.example", "mastodon", "mastodon", "fr")
            assert m["url"] == f"https://mastodon.example/@camille/{P}00104"
            assert m["created_at"] == "2025-03-11T08:42:10.000Z"
            assert m["audience"] == {"followers": 1520, "likes": 12, "shares": 5, "replies": 3}

            m = by_id[mastodon_id(local_uri("jordan", "00103"))]
            assert m["text"] == ("Same here, no signal since 8am #AcmeDown\n"
                                 "Status page: https://status.acme.example/incidents/2025-03-11")
            m = by_id[mastodon_id(local_uri("sam", "00102"))]
            assert m["text"] == "Quelqu'un d'autre a des soucis de réseau ? #AcmeDown & #AcmeMobile"

            m = by_id[mastodon_id(local_uri("jordan", "00110"))]  # content warning first
            assert m["text"] == ("rant about Acme\n\n"
                                 "Day 1 of the outage. Calling it: worst telecom of the year #AcmeDown")
            assert m["language"] == "en"
            assert m["audience"] == {"followers": 87, "likes": 7, "shares": 1, "replies": 0}

            # The boost is the boosted status: its uri, author, address and figures.
            m = by_id[mastodon_id(LEA_URI)]
            assert m["author"] == "lea@piaille.example"
            assert m["url"] == "https://piaille.example/@lea/113957381000000042"
            assert m["created_at"] == "2025-03-11T09:10:00.000Z"
            assert m["audience"] == {"followers": 4310, "likes": 48, "shares": 9, "replies": 4}
            assert m["text"] == ("Pendant la panne #AcmeDown, je télétravaille depuis le "
                                 "#BorealCafe : wifi rapide et croissants au top ☕")
            for m in got:
                assert "<" not in m["text"] and "&#" not in m["text"] and "&amp;" not in m["text"]

    asyncio.run(scenario())


def test_rate_limit_headers_and_429_are_honoured(m_settings: Settings) -> None:
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)
            srv.add("acmedown", load("acmedown_page1"))
            srv.add("borealcafe", load("borealcafe_page1"))
            srv.plan = [
                {"remaining": 0, "reset_in": 1.5},  # the window is used up for 1.5 s
                {"status": 429, "remaining": 0, "reset_in": 0.2, "headers": {"Retry-After": "1"}},
                {},
            ]
            collector = new_collector(settings, hashtags=["AcmeDown", "BorealCafe"],
                                      interval=0.3)
            # The real entry point, in its polling loop, serving /metrics.
            task = asyncio.create_task(run_mastodon(settings, collector=collector))
            try:
                await wait_for(
                    lambda: sample(collector, "veille_collector_items_sent_total") == 4,
                    what="the first round")
                await wait_for(lambda: len(srv.requests) >= 5, what="a second round")
                assert not task.done()
                async with aiohttp.ClientSession() as http:
                    url = (f"http://{settings.metrics_host}:{settings.collector_metrics_port}"
                           "/metrics")
                    async with http.get(url) as resp:
                        text = await resp.text()
                assert 'veille_collector_items_sent_total{collector="mastodon"} 4.0' in text
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)

            first, blocked, retried = srv.requests[:3]
            assert (first.tag, blocked.tag, retried.tag) == ("acmedown", "borealcafe",
                                                              "borealcafe")
            # Remaining 0: the next request waits for X-RateLimit-Reset.
            assert blocked.at >= srv.resets[0] - 0.05, (blocked.at, srv.resets[0])
            assert blocked.at - first.at >= 1.3
            # 429 with Retry-After: 1: the same request again, a second later.
            assert blocked.status == 429 and retried.status == 200
            assert retried.at - blocked.at >= 0.95
            assert retried.query == blocked.query == {"limit": "3"}
            # The next rounds ask for what is newer than what was sent.
            assert srv.requests[3].query == {"limit": "3", "min_id": P + "00104"}
            assert srv.requests[4].query == {"limit": "3", "min_id": P + "00100"}
            assert len(await raw_on_topic(settings, 4)) == 4

    asyncio.run(scenario())


def test_since_id_is_kept_until_the_broker_acknowledges(m_settings: Settings) -> None:
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)
            srv.add("borealcafe", load("borealcafe_page1") + load("borealcafe_page2"))
            dead = settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            metrics = CollectorMetrics(CollectorRegistry())
            collector = MastodonCollector(settings, metrics, hashtags=["BorealCafe"], page_limit=3,
                                          sink=MentionSink(dead, "mastodon", metrics,
                                                         ack_timeout=1.0))
            await collector.start()
            try:
                result = await collector.poll_round()
            finally:
                await collector.close()
            assert result.status == "broker_error"
            assert sample(collector, "veille_collector_send_errors_total") == 1
            # The hashtag was read, its statuses not taken: a failed poll, of kind broker.
            assert tag_sample(collector, FAILURES, "BorealCafe", kind="broker") == 1
            assert tag_sample(collector, FAILURES, "BorealCafe", kind="fetch") == 0
            assert tag_sample(collector, LAST_GOOD, "BorealCafe") == 0
            assert not list(Path(settings.collector_state_dir).rglob("*.json"))

            collector = new_collector(settings, hashtags=["BorealCafe"])
            await collector.start()
            try:
                result = await collector.poll_round()
            finally:
                await collector.close()
            assert (result.status, result.sent) == ("ok", 2)
            assert srv.queries() == [{"limit": "3"}, {"limit": "3"}]  # no since_id was saved
            assert len(await raw_on_topic(settings, 2)) == 2

    asyncio.run(scenario())


def test_refuses_to_start_without_an_instance_or_anything_to_read(m_settings: Settings,
                                                                  tmp_path: Path) -> None:
    """A watch list with neither a hashtag nor a brand account is refused, at start as on a
    reload, and the error says both were looked for (a brand's accounts alone are enough since
    2026-12-07: test_a_watch_list_of_brand_accounts_only_...)."""
    with pytest.raises(MastodonConfigError, match="VEILLE_MASTODON_URL is empty"):
        asyncio.run(run_mastodon(m_settings.with_(mastodon_url="")))

    nothing = tmp_path / "nothing.toml"
    nothing.write_text('[[brands]]\nid = "acme"\nname = "Acme"\n')
    collector = new_collector(m_settings.with_(mastodon_url="https://mastodon.example",
                                               watchlist=str(nothing)))
    refusal = "no brand has `hashtags` nor `mastodon_accounts`, nothing to read on Mastodon"
    with pytest.raises(MastodonConfigError, match=refusal):
        asyncio.run(collector.start())
    with pytest.raises(MastodonConfigError, match=refusal):  # a reload: the sources in use stay
        collector.load_watchlist(nothing)
    accounts_only = tmp_path / "accounts_only.toml"
    accounts_only.write_text('[[brands]]\nid = "acme"\nname = "Acme"\n'
                             'mastodon_accounts = ["acme@mastodon.example"]\n')
    assert collector.load_watchlist(accounts_only).brand_ids == ("acme",)

    env = settings_env(m_settings)
    env.pop("VEILLE_MASTODON_URL", None)
    done = subprocess.run([sys.executable, "-m", "veille.collectors.mastodon", "--once"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 2
    assert "VEILLE_MASTODON_URL is empty" in done.stderr


def public_status(status_id: str, name: str, text: str) -> dict[str, Any]:
    """A public status of the test instance, posted now."""
    return {"id": status_id, "uri": f"https://m.example/s/{name}",
            "url": f"https://m.example/@a/{name}", "visibility": "public",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "content": f"<p>{text}</p>",
            "account": {"acct": "a", "url": "https://m.example/@a", "followers_count": 1}}


def test_a_burst_larger_than_a_rounds_pages_is_read_over_the_next_rounds(m_settings: Settings) -> None:
    """40 new statuses in one interval, 3 a page, at most 4 pages a round: 12 a round, oldest
    first, and none skipped (paged back from the newest, since_id moved past the 28 older ones
    and they were never read: a crisis lost most of its statuses)."""
    def status(i: int) -> dict[str, Any]:
        return public_status(str(10**17 + i), str(i), f"Acme burst {i}")

    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)
            metrics = CollectorMetrics(CollectorRegistry())
            sink = ListSink(settings, "mastodon", metrics)
            collector = MastodonCollector(settings, metrics, sink, hashtags=["acme"],
                                          page_limit=3, max_pages=4)
            await collector.start()
            try:
                srv.add("acme", [status(0)])
                assert (await collector.poll_round()).sent == 1
                srv.add("acme", [status(i) for i in range(1, 41)])
                sent = [(await collector.poll_round()).sent for _ in range(5)]
            finally:
                await collector.close()
            assert sent == [12, 12, 12, 4, 0]
            assert [m.id for m in sink.sent] == [m.id for m in sorted(
                sink.sent, key=lambda m: int(m.url.rsplit("/", 1)[1]))]  # oldest first
            assert len({m.id for m in sink.sent}) == 41

    asyncio.run(scenario())


def test_a_late_status_below_the_cursor_is_read_back_once(m_settings: Settings) -> None:
    """A status from another server reaching the instance late gets an id from its publication
    time (a snowflake: milliseconds << 16), below the cursor once a newer one was read:
    reading forward from the cursor it was lost without a trace. Each round reads the 10
    minutes before the cursor again and sends what it had not read, once, across restarts
    too."""
    now_ms = int(time.time() * 1000)

    def status(name: str, ago_s: float) -> dict[str, Any]:
        return public_status(str((now_ms - int(ago_s * 1000)) << 16), name, f"Acme {name}")

    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)

            def collector(tag: str = "acme") -> tuple[MastodonCollector, ListSink]:
                metrics = CollectorMetrics(CollectorRegistry())
                sink = ListSink(settings, "mastodon", metrics)
                return MastodonCollector(settings, metrics, sink, hashtags=[tag],
                                         page_limit=3), sink

            first, sink = collector()
            await first.start()
            try:
                srv.add("acme", [status("first", 5)])
                assert (await first.poll_round()).sent == 1
                srv.add("acme", [status("late", 20), status("new", 0)])
                assert (await first.poll_round()).sent == 2
                assert (await first.poll_round()).sent == 0
            finally:
                await first.close()
            assert sorted(m.text for m in sink.sent) == ["Acme first", "Acme late", "Acme new"]
            again, sink = collector()  # a restart: what was read is in the saved state
            await again.start()
            try:
                srv.add("acme", [status("late-after-restart", 30)])
                assert (await again.poll_round()).sent == 1
                # An instance that ignores min_id answers its newest page: what it holds from
                # before the window is neither late nor sent again, round after round.
                srv.ignore_min_id = True
                srv.timelines["acme"] = [status("an-hour-ago", 3600)]
                assert [(await again.poll_round()).sent for _ in range(2)] == [0, 0]
            finally:
                await again.close()
            assert [m.text for m in sink.sent] == ["Acme late-after-restart"]

            # A busy hashtag (13 statuses in 9 minutes, more than the 2 pages of 3 the window
            # is read in): the late status seconds below the cursor is read, newest first
            # (from the window's start, only its oldest 6 were ever read); and a look-back
            # request that fails costs the round nothing: its new statuses go.
            srv.ignore_min_id = False
            busy, sink = collector("busy")
            await busy.start()
            try:
                srv.add("busy", [status(f"busy-{n}", 540 - 40 * n) for n in range(13)])
                await busy.poll_round()
                srv.add("busy", [status("seconds-late", 70), status("newer", -10)])
                sent = [m.text for m in sink.sent]
                assert (await busy.poll_round()).sent >= 2
                assert {"Acme seconds-late", "Acme newer"} <= {m.text for m in sink.sent} - set(sent)
                srv.add("busy", [status("during-the-outage", -20)])
                srv.plan = [{}, {"status": 500}]  # the forward page, then the look-back's
                result = await busy.poll_round()
                assert (result.status, result.sent) == ("ok", 1), result
            finally:
                await busy.close()

    asyncio.run(scenario())


def test_once_exits_1_naming_a_hashtag_that_failed_while_the_others_are_sent(
        m_settings: Settings) -> None:
    """Found in review: `--once` exited 0 when some hashtags failed (only all of them failing
    was an error): a cron job never saw a hashtag answering 503 for days."""
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)
            srv.add("acmemobile", [public_status("1001", "a1", "Acme mobile is fine")])
            srv.add("borealcafe", [public_status("1002", "b1", "Boreal cafe is open")])
            srv.plan = [{"status": 503}]  # the first hashtag asked (#AcmeDown) fails
            env = settings_env(settings)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "veille.cli", "collect", "mastodon", "--once", env=env,
                cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            text = out.decode() + err.decode()
            assert proc.returncode == 1, text
            assert ("warning: mastodon: 1 hashtag(s) or brand account(s) could not be read; "
                    "#AcmeDown: ") in text, text
            assert len(await raw_on_topic(settings, 2)) == 2  # the others' statuses were sent

    asyncio.run(scenario())


def snowflake(t: float) -> str:
    """A Mastodon id of time `t` (Unix seconds): milliseconds << 16."""
    return str(int(t * 1000) << 16)


def test_a_status_dated_ahead_is_held_back_and_sent_when_its_time_comes(
        m_settings: Settings) -> None:
    """Found in review: a status dated beyond VEILLE_MAX_FUTURE_SECONDS (a remote server's clock
    running fast) was refused and lost, and its id (Mastodon derives it from the date) became
    the cursor: every status posted until that time was below it, never read."""
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base, max_future_seconds=60.0)
            now = time.time()
            ahead = public_status(snowflake(now + 600), "ahead", "Acme from a fast clock")
            ahead["created_at"] = datetime.fromtimestamp(now + 600, UTC).isoformat()
            # What the collector has no use for (personal data besides): not kept while held.
            ahead["account"].update(display_name="Alice Martin", note="<p>Lyon, 34 ans</p>",
                                    avatar="https://m.example/a.png", fields=[{"name": "tel"}])
            ahead["media_attachments"] = [{"url": "https://m.example/photo.jpg"}]
            ahead["favourites_count"] = 7
            srv.add("acmedown", [public_status(snowflake(now - 5), "a", "Acme one"), ahead])
            collector = new_collector(settings, hashtags=["AcmeDown"])
            await collector.start()
            try:
                first = await collector.poll_round()
                assert (first.fetched, first.sent, first.refused) == (2, 1, 0)
                # Posted after the status from the future: read, the cursor is not past it.
                srv.add("acmedown", [public_status(snowflake(now - 1), "b", "Acme two")])
                second = await collector.poll_round()
                assert (second.fetched, second.sent, second.refused) == (1, 1, 0)
            finally:
                await collector.close()
            assert sample(collector, "veille_collector_items_refused_total",
                          reason="created_at_in_future") == 0
            state = json.loads(next(Path(settings.collector_state_dir).rglob("*.json")).read_text())
            assert list(state["held"]) == [ahead["id"]]
            kept = state["held"][ahead["id"]]
            assert kept["account"] == {"acct": "a", "url": "https://m.example/@a", "followers_count": 1}
            assert "media_attachments" not in kept and kept["favourites_count"] == 7
            assert state["since_id"] == snowflake(now - 1)
            # Its time has come (here: a wider margin after a restart): sent once, from the state.
            later = new_collector(settings.with_(max_future_seconds=3600.0), hashtags=["AcmeDown"])
            await later.start()
            try:
                third = await later.poll_round()
                fourth = await later.poll_round()
            finally:
                await later.close()
            assert third.sent == 1 and fourth.sent == 0
            got = await raw_on_topic(settings, 3)
            texts = sorted(m["text"] for m in got)
            assert texts == ["Acme from a fast clock", "Acme one", "Acme two"], texts
            held = next(m for m in got if m["text"] == "Acme from a fast clock")
            assert (held["author"], held["url"], held["audience"]) == (
                "a@m.example", "https://m.example/@a/ahead", {"followers": 1, "likes": 7})
            state = json.loads(next(Path(settings.collector_state_dir).rglob("*.json")).read_text())
            assert state["held"] == {}

    asyncio.run(scenario())


def tag_sample(c: MastodonCollector, name: str, hashtag: str, **labels: str) -> float:
    value = c.metrics.registry.get_sample_value(name, {"hashtag": hashtag, **labels})
    assert value is not None, f"{name} has no series for #{hashtag} {labels}"
    return value


LAST_GOOD = "veille_mastodon_hashtag_last_success_timestamp_seconds"
FAILURES = "veille_mastodon_hashtag_failures_total"


def test_each_hashtag_says_when_it_last_worked_and_how_it_fails(m_settings: Settings) -> None:
    """Found in review: a 503, a timeout, a 401 or 429s until the retries ran out changed no
    metric (only items_fetched moves, and the collector's last write waits for a status):
    a revoked token looked like a quiet hashtag. Each hashtag of the watch list now has its last
    good poll and its failures by kind, at 0 from the start."""
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base)
            srv.add("acmemobile", [public_status("1001", "m1", "Acme mobile is fine")])
            # #BorealCafe has no status at all: a quiet hashtag, which polls well.
            collector = new_collector(settings, max_429_retries=1)
            await collector.start()
            try:
                tags = ["AcmeDown", "AcmeMobile", "BorealCafe"]
                assert collector.hashtags == tags
                for tag in tags:  # every series exists before the first round, at 0
                    assert tag_sample(collector, LAST_GOOD, tag) == 0
                    for kind in ("fetch", "rate_limited", "unauthorized", "broker"):
                        assert tag_sample(collector, FAILURES, tag, kind=kind) == 0

                before = time.time()
                srv.plan = [{"status": 503}]  # #AcmeDown, asked first
                r1 = await collector.poll_round()
                assert (r1.status, r1.sent) == ("partial", 1)
                assert tag_sample(collector, FAILURES, "AcmeDown", kind="fetch") == 1
                assert tag_sample(collector, LAST_GOOD, "AcmeDown") == 0
                assert tag_sample(collector, LAST_GOOD, "AcmeMobile") >= before
                assert tag_sample(collector, LAST_GOOD, "BorealCafe") >= before  # quiet, fine

                srv.plan = [{"status": 401}]  # the token revoked
                r2 = await collector.poll_round()
                assert "the access token was refused" in r2.errors["AcmeDown"]
                assert tag_sample(collector, FAILURES, "AcmeDown", kind="unauthorized") == 1

                # 429 with Retry-After: 0, once and once more: the retries are used up.
                srv.plan = [{"status": 429, "headers": {"Retry-After": "0"}}] * 2
                r3 = await collector.poll_round()
                assert "still rate limited" in r3.errors["AcmeDown"]
                assert tag_sample(collector, FAILURES, "AcmeDown", kind="rate_limited") == 1
                assert tag_sample(collector, LAST_GOOD, "AcmeDown") == 0

                # A good poll at last: its time, and no new failure.
                good = time.time()
                r4 = await collector.poll_round()
                assert r4.status == "ok"
                assert tag_sample(collector, LAST_GOOD, "AcmeDown") >= good
                assert tag_sample(collector, LAST_GOOD, "BorealCafe") >= good
                assert {kind: tag_sample(collector, FAILURES, "AcmeDown", kind=kind)
                        for kind in ("fetch", "rate_limited", "unauthorized", "broker")} == {
                    "fetch": 1, "rate_limited": 1, "unauthorized": 1, "broker": 0}
                for tag in ("AcmeMobile", "BorealCafe"):
                    assert sum(tag_sample(collector, FAILURES, tag, kind=kind)
                               for kind in ("fetch", "rate_limited", "unauthorized",
                                            "broker")) == 0
            finally:
                await collector.close()
            # As Prometheus reads it: a label per hashtag, never the instance's address.
            text = generate_latest(collector.metrics.registry).decode()
            assert ('veille_mastodon_hashtag_failures_total{hashtag="AcmeDown",kind="fetch"} 1.0'
                    in text)
            assert srv.base.split("//")[1] not in text

    asyncio.run(scenario())


def ahead_status(t: float, name: str, text: str) -> dict[str, Any]:
    """A public status dated `t` (Unix seconds), its id from that time as Mastodon makes it."""
    status = public_status(snowflake(t), name, text)
    status["created_at"] = datetime.fromtimestamp(t, UTC).isoformat()
    return status


def test_a_collector_whose_clock_runs_behind_the_instance_still_moves_its_cursor(
        m_settings: Settings) -> None:
    """Found in review: the cursor never moves to an id more than a minute ahead of the clock;
    with the collector's clock two minutes behind the instance's, every new status was "ahead":
    the cursor stayed unset, each round read the newest page only, and a burst larger than a
    page was lost. The instance's Date header now tells the cursor what "now" is."""
    async def scenario() -> None:
        async with instance() as srv:
            srv.clock_ahead = 120.0
            settings = m_settings.with_(mastodon_url=srv.base, max_future_seconds=300.0)
            now = time.time() + srv.clock_ahead  # the instance's clock
            srv.add("acme", [ahead_status(now - 5, "seed", "Acme seed")])
            collector = new_collector(settings, hashtags=["acme"], page_limit=3, max_pages=2)
            await collector.start()
            try:
                assert (await collector.poll_round()).sent == 1
                assert collector.since["acme"] == snowflake(now - 5)
                srv.add("acme", [ahead_status(now - 4 + i / 10, f"b{i}", f"Acme burst {i}")
                                 for i in range(10)])
                sent = [(await collector.poll_round()).sent for _ in range(3)]
            finally:
                await collector.close()
            assert sent == [6, 4, 0]
            got = await raw_on_topic(settings, 11)
            assert len(got) == 11 and len({m["id"] for m in got}) == 11

    asyncio.run(scenario())


def test_the_hold_is_bounded_what_overflows_is_read_later_and_the_far_future_refused(
        m_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: MAX_HELD did not bound the hold (the held statuses were tried after the
    new ones, and always kept), and a status turned away from a full hold was remembered as read:
    never tried again, lost. Now the held keep their place, one more waits unread (not counted
    twice) and is read once there is room, and a status dated beyond a day ahead is refused."""
    monkeypatch.setattr(mastodon, "MAX_HELD", 2)

    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base, max_future_seconds=60.0)
            now = time.time()
            srv.add("acme", [ahead_status(now - 5, "a", "Acme now"),
                             ahead_status(now + 600.001, "f1", "Acme f1"),
                             ahead_status(now + 600.002, "f2", "Acme f2"),
                             ahead_status(now + 600.003, "f3", "Acme f3"),
                             ahead_status(now + 2 * 86400, "far", "Acme far")])
            collector = new_collector(settings, hashtags=["acme"], page_limit=10)
            await collector.start()
            try:
                first = await collector.poll_round()
                second = await collector.poll_round()
            finally:
                await collector.close()
            assert (first.fetched, first.sent, first.refused) == (5, 1, 1)
            assert (second.fetched, second.sent, second.refused) == (0, 0, 0)
            assert sample(collector, "veille_collector_items_refused_total",
                          reason="created_at_in_future") == 1
            state = json.loads(next(Path(settings.collector_state_dir).rglob("*.json")).read_text())
            assert sorted(state["held"]) == [snowflake(now + 600.001), snowflake(now + 600.002)]
            assert snowflake(now + 600.003) not in state["recent_ids"]
            assert snowflake(now + 2 * 86400) in state["recent_ids"]
            # Their time has come (a wider margin after a restart): the held ones and the one
            # left unread go, once; the far one never.
            later = new_collector(settings.with_(max_future_seconds=3600.0), hashtags=["acme"],
                                  page_limit=10)
            await later.start()
            try:
                third = await later.poll_round()
                fourth = await later.poll_round()
            finally:
                await later.close()
            assert (third.sent, fourth.sent) == (3, 0)
            texts = sorted(m["text"] for m in await raw_on_topic(settings, 4))
            assert texts == ["Acme f1", "Acme f2", "Acme f3", "Acme now"], texts

    asyncio.run(scenario())


def test_statuses_read_ahead_before_any_cursor_or_released_unfetched_are_sent_once(
        m_settings: Settings) -> None:
    """Found in review: with no cursor yet (only statuses dated ahead read), what was read was
    forgotten and not saved, and each round's newest page sent it again; a held status released
    in a round that did not fetch it was not remembered, and sent again when fetched later."""
    async def scenario() -> None:
        async with instance() as srv:
            settings = m_settings.with_(mastodon_url=srv.base, max_future_seconds=300.0)
            now = time.time()
            srv.add("acme", [ahead_status(now + 120, "soon", "Acme soon")])
            first = new_collector(settings, hashtags=["acme"])
            await first.start()
            try:
                assert [(await first.poll_round()).sent for _ in range(2)] == [1, 0]
            finally:
                await first.close()
            again = new_collector(settings, hashtags=["acme"])  # a restart
            await again.start()
            try:
                assert (await again.poll_round()).sent == 0
            finally:
                await again.close()

            tight = settings.with_(max_future_seconds=60.0)
            srv.add("held", [ahead_status(now - 5, "h0", "Held now"),
                             ahead_status(now + 600, "h1", "Held ahead")])
            one = new_collector(tight, hashtags=["held"])
            await one.start()
            try:
                assert (await one.poll_round()).sent == 1
            finally:
                await one.close()
            hidden = srv.timelines["held"].pop()  # the instance does not list it this round
            two = new_collector(tight.with_(max_future_seconds=3600.0), hashtags=["held"])
            await two.start()
            try:
                assert (await two.poll_round()).sent == 1  # released from the saved hold
                srv.timelines["held"].append(hidden)
                assert (await two.poll_round()).sent == 0
            finally:
                await two.close()
            texts = sorted(m["text"] for m in await raw_on_topic(settings, 3))
            assert texts == ["Acme soon", "Held ahead", "Held now"], texts

    asyncio.run(scenario())


def test_the_look_back_memory_drops_its_oldest_ids_first(
        m_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: beyond MAX_RECENT_IDS the memory dropped the ids inserted first, which
    could be those read ahead of the clock, above the cursor: sent again. The oldest go first."""
    monkeypatch.setattr(mastodon, "MAX_RECENT_IDS", 3)
    collector = new_collector(m_settings, hashtags=["acme"], lookback_seconds=600.0)
    now = time.time()
    ahead = snowflake(now + 120)
    collector._remember("acme", [ahead], snowflake(now - 100))
    present = [snowflake(now - 3), snowflake(now - 2), snowflake(now - 1)]
    kept = collector._remember("acme", present, snowflake(now - 1))
    assert kept == [snowflake(now - 2), snowflake(now - 1), ahead]


MASTODON_WATCHLIST = """
[[brands]]
id = "acme"
name = "Acme"
hashtags = ["#AcmeDown"{more}]

[[brands]]
id = "boreal"
name = "Boréal"
{boreal}
"""


def test_a_changed_watch_list_is_followed_between_two_rounds(m_settings: Settings) -> None:
    """The hashtags follow the watch list while the collector runs: one added is read from the
    next round (its series at 0 at once), one taken off is read no more (its series gone), one
    kept goes on from its cursor (nothing sent twice); a changed file that does not load, or
    that leaves no hashtag to follow, is refused and the hashtags in use stay."""
    async def scenario() -> None:
        async with instance() as srv:
            path = Path(m_settings.watchlist)
            save_settled(path, MASTODON_WATCHLIST.format(more="", boreal='hashtags = ["#BorealCafe"]'))
            settings = m_settings.with_(mastodon_url=srv.base, watchlist_reload_seconds=0.1)
            srv.add("acmedown", load("acmedown_page1"))
            srv.add("borealcafe", load("borealcafe_page1"))
            srv.add("acmemobile", [public_status(P + "00200", "mobile-1", "Acme Mobile en panne")])
            collector = new_collector(settings, interval=0.3)
            registry = collector.metrics.registry

            def taken(outcome: str) -> float:
                return registry.get_sample_value("veille_watchlist_reloads_total",
                                                 {"outcome": outcome}) or 0.0

            def polled_after(index: int) -> set[str]:
                return {r.tag for r in srv.requests[index:]}

            task = asyncio.create_task(run_mastodon(settings, collector=collector))
            try:
                await wait_for(lambda: {"acmedown", "borealcafe"} <= polled_after(0)
                               and sample(collector, "veille_collector_items_sent_total") == 4,
                               what="the first round")
                assert registry.get_sample_value("veille_watchlist_brands") == 2
                assert registry.get_sample_value("veille_watchlist_refused") == 0
                assert tag_sample(collector, LAST_GOOD, "BorealCafe") > 0

                # #AcmeMobile added, #BorealCafe taken off.
                save_settled(path, MASTODON_WATCHLIST.format(more=', "AcmeMobile"', boreal=""))
                await wait_for(lambda: "acmemobile" in polled_after(0), what="the new hashtag")
                first = next(i for i, r in enumerate(srv.requests) if r.tag == "acmemobile")
                srv.add("acmedown", [public_status(P + "00300", "down-1", "Acme down again")])
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total") == 6,
                               what="the new hashtag's status and the kept one's new status")
                mark = len(srv.requests)
                await wait_for(lambda: {"acmedown", "acmemobile"} <= polled_after(mark),
                               what="one more round")
                # From the round that took the change (its #AcmeDown request came right before
                # #AcmeMobile's), #BorealCafe is read no more.
                assert "borealcafe" not in polled_after(first - 1)
                # #AcmeDown went on from its cursor: never its newest page again.
                assert all("min_id" in r.query for r in srv.requests[1:] if r.tag == "acmedown")
                assert taken("applied") == 1 and taken("refused") == 0
                assert tag_sample(collector, LAST_GOOD, "AcmeMobile") > 0
                assert registry.get_sample_value(LAST_GOOD, {"hashtag": "BorealCafe"}) is None
                assert registry.get_sample_value(
                    FAILURES, {"hashtag": "BorealCafe", "kind": "fetch"}) is None

                # A file that does not load, then one that leaves no hashtag: both refused, the
                # hashtags in use stay, and the collector goes on.
                save_settled(path, "[[brands]\nid = ")
                await wait_for(lambda: taken("refused") == 1, what="the broken file refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                save_settled(path, '[[brands]]\nid = "acme"\nname = "Acme"\n')
                await wait_for(lambda: taken("refused") == 2, what="a file without hashtags refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                mark = len(srv.requests)
                await wait_for(lambda: {"acmedown", "acmemobile"} <= polled_after(mark),
                               what="a round with the hashtags in use")
                assert "borealcafe" not in polled_after(mark)
                assert collector.hashtags == ["AcmeDown", "AcmeMobile"]
                assert taken("applied") == 1 and not task.done()
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
            got = [m["id"] for m in await raw_on_topic(settings, 6)]
            assert len(got) == 6 and len(set(got)) == 6, got

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------------------
# The brand's own accounts: their statuses are no mentions, their replies are answers
# ---------------------------------------------------------------------------------------------


@dataclass
class Accounts:
    """The stand-in's accounts API: lookup (by acct), an account's statuses (min_id / max_id /
    limit, exclude_reblogs), a status by id."""

    ids: dict[str, str] = field(default_factory=dict)  # acct (lower case) -> account id
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> statuses
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def lookup(self, request: web.Request) -> web.Response:
        self.paths.append((request.path, dict(request.query)))
        found = self.ids.get(request.query.get("acct", "").lower())
        if found is None:
            return web.json_response({"error": "Record not found"}, status=404)
        return web.json_response({"id": found, "acct": request.query["acct"]})

    async def account_statuses(self, request: web.Request) -> web.Response:
        self.paths.append((request.path, dict(request.query)))
        q = request.query
        assert q.get("exclude_reblogs") == "true"
        got = sorted(self.statuses.get(request.match_info["id"], []), key=lambda s: int(s["id"]),
                     reverse=True)
        if "max_id" in q:
            got = [s for s in got if int(s["id"]) < int(q["max_id"])]
        limit = min(int(q.get("limit", 20)), 40)
        if "min_id" in q:
            got = [s for s in got if int(s["id"]) > int(q["min_id"])][-limit:]
        return web.json_response(got[:limit])

    async def status(self, request: web.Request) -> web.Response:
        self.paths.append((request.path, dict(request.query)))
        found = self.by_id.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "Record not found"}, status=404)
        return web.json_response(found)


def accounts_api(srv: Instance, acc: Accounts) -> list[tuple[str, str, Any]]:
    """The stand-in's routes: the hashtag timelines and the accounts API."""
    return [("GET", "/api/v1/timelines/tag/{tag}", srv.handle),
            ("GET", "/api/v1/accounts/lookup", acc.lookup),
            ("GET", "/api/v1/accounts/{id}/statuses", acc.account_statuses),
            ("GET", "/api/v1/statuses/{id}", acc.status)]


def toot(sid: str, acct: str, text: str, **fields: Any) -> dict[str, Any]:
    """A public status of mastodon.example (ids of the fixtures' March 2025)."""
    user = acct.split("@")[0]
    return {"id": P + sid, "uri": local_uri(user, sid),
            "url": f"https://mastodon.example/@{user}/{P}{sid}",
            "visibility": "public", "created_at": f"2025-03-11T09:{sid[-2:]}:00.000Z",
            "content": f"<p>{text}</p>", "in_reply_to_id": None, "in_reply_to_account_id": None,
            "account": {"id": "9" + sid, "acct": acct, "url": f"https://mastodon.example/@{user}",
                        "followers_count": 3}, **fields}


def test_the_brands_reply_to_a_complaint_is_an_answer_and_its_own_status_no_mention(
        m_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Acme's `mastodon_accounts`: a customer's complaint found by #AcmeDown is a mention on
    mentions.raw; acme_fr's reply to it (its statuses) a `replied` decision on
    moderation.decisions keyed by the complaint's mention id; acme_fr's own status under
    #AcmeDown, its reply in its own thread and its plain status are neither; an account the
    instance does not know fails alone, under its brand's account health. A restart sends nothing
    again and looks the account up no more (its id saved)."""
    from streams.topics import MODERATION_DECISIONS
    from tests.kafka_helpers import read_all

    async def scenario() -> None:
        srv = Instance()
        acc = Accounts(ids={"acme_fr@mastodon.example": "777"})
        async with serve(accounts_api(srv, acc)) as base:
            srv.base = base
            Path(m_settings.watchlist).write_text(
                '[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["AcmeDown"]\n'
                'mastodon_accounts = ["@acme_fr@mastodon.example", "acme_gone@mastodon.example"]\n'
                '[[brands]]\nid = "boreal"\nname = "Boréal"\nhashtags = ["BorealCafe"]\n',
                encoding="utf-8")
            settings = m_settings.with_(mastodon_url=base)
            complaint = toot("00201", "camille", "Toujours pas de réseau #AcmeDown")
            own = toot("00202", "acme_fr", "Maintenance ce soir #AcmeDown")
            srv.add("acmedown", [complaint, own])
            acc.by_id = {s["id"]: s for s in (complaint, own)}
            reply = toot("00210", "acme_fr", "Désolés Camille, écrivez-nous",
                         in_reply_to_id=complaint["id"],
                         in_reply_to_account_id=complaint["account"]["id"])
            thread = toot("00211", "acme_fr", "Suite : rétabli à 22 h",
                          in_reply_to_id=own["id"], in_reply_to_account_id="777")
            plain = toot("00212", "acme_fr", "Nouveau forfait !")
            for s in (reply, thread, plain):
                s["account"]["id"] = "777"
            acc.statuses["777"] = [reply, thread, plain]

            collector = new_collector(settings)
            failed = await run_mastodon(settings, once=True, collector=collector)
            assert collector.sources == ["AcmeDown", "BorealCafe", "@acme_fr@mastodon.example",
                                         "@acme_gone@mastodon.example"]
            assert [f.split(":")[0] for f in failed] == ["@acme_gone@mastodon.example"]
            assert "404" in failed[0]
            lines = capsys.readouterr().out.splitlines()  # the --once report: its answers
            assert "mastodon: @acme_fr@mastodon.example: ok, 3 statuses, 1 answer sent" in lines, \
                lines
            # One parent read (the reply's), none for its own thread or the plain status.
            assert [p for p, _ in acc.paths if p.startswith("/api/v1/statuses/")] == [
                f"/api/v1/statuses/{complaint['id']}"]
            [got] = await raw_on_topic(settings, 1)
            assert got["id"] == mastodon_id(complaint["uri"])
            [record] = await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1,
                                               30.0, 1.0)
            assert record.key == mastodon_id(complaint["uri"]).encode()
            assert json.loads(record.value) == {
                "case_id": mastodon_id(complaint["uri"]), "decision": "replied",
                "moderator": "@acme_fr@mastodon.example", "decided_at": "2025-03-11T09:10:00.000Z",
                "reason": reply["url"], "answered_on": "mastodon"}
            assert sample(collector, "veille_collector_answers_sent_total") == 1
            # Under its brand's account health, not under a hashtag (until 2026-12-07: #AcmeDown).
            registry = collector.metrics.registry
            assert registry.get_sample_value("veille_mastodon_account_failures_total",
                                             {"brand": "acme", "kind": "fetch"}) == 1
            assert tag_sample(collector, "veille_mastodon_hashtag_failures_total", "AcmeDown",
                              kind="fetch") == 0
            states = [json.loads(p.read_text()) for p in
                      Path(settings.collector_state_dir, "mastodon").glob("*.json")]
            [state] = [s for s in states if s.get("account") == "acme_fr@mastodon.example"]
            assert (state["account_id"], state["since_id"]) == ("777", plain["id"])

            # Restart: the account's id and cursor were saved; nothing is sent again.
            acc.paths.clear()
            again = new_collector(settings)
            await run_mastodon(settings, once=True, collector=again)
            assert ("/api/v1/accounts/777/statuses",
                    {"exclude_reblogs": "true", "limit": "3", "min_id": plain["id"]}) in acc.paths
            assert [q["acct"] for p, q in acc.paths if p.endswith("/lookup")] == [
                "acme_gone@mastodon.example"]
            assert again.last_round is not None and again.last_round.sent == 0
            assert sample(again, "veille_collector_answers_sent_total") == 0
            assert len(await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1,
                                               5.0, 1.0)) == 1

    asyncio.run(scenario())


ACCOUNT_LAST_GOOD = "veille_mastodon_account_last_success_timestamp_seconds"
ACCOUNT_FAILURES = "veille_mastodon_account_failures_total"
KINDS = ("fetch", "rate_limited", "unauthorized", "broker")


def test_each_brands_accounts_say_when_they_last_worked_and_how_they_fail(
        m_settings: Settings) -> None:
    """Found in review, 2026-12-07: a brand account that failed was counted under its brand's
    first hashtag (no username as a label), and MastodonHashtagFailing sent the on-call reader
    to a hashtag that worked. The brands' accounts now have their own health, per brand: every
    brand whose accounts are read has its series at 0 from the start, an account failing counts
    under its brand alone (not under a hashtag, even one spelt as the brand's id), and the series
    follow the watch list. A brand listing accounts but no hashtag has them read as any other's
    (until 2026-12-07: none read, and no series)."""
    async def scenario() -> None:
        srv = Instance()
        acc = Accounts(ids={"acme_fr@mastodon.example": "777", "boreal@mastodon.example": "778",
                            "cirrus@mastodon.example": "779", "dune@mastodon.example": "780"})
        async with serve(accounts_api(srv, acc)) as base:
            srv.base = base
            Path(m_settings.watchlist).write_text(
                '[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["AcmeDown", "acme"]\n'
                'mastodon_accounts = ["acme_fr@mastodon.example", "acme_gone@mastodon.example"]\n'
                '[[brands]]\nid = "boreal"\nname = "Boréal"\nhashtags = ["BorealCafe"]\n'
                'mastodon_accounts = ["boreal@mastodon.example"]\n'
                '[[brands]]\nid = "cirrus"\nname = "Cirrus"\n'
                'mastodon_accounts = ["cirrus@mastodon.example"]\n', encoding="utf-8")
            settings = m_settings.with_(mastodon_url=base)
            metrics = CollectorMetrics(CollectorRegistry())
            registry = metrics.registry
            collector = MastodonCollector(settings, metrics, ListSink(settings, "mastodon", metrics),
                                          page_limit=3, lookback_seconds=0.0)

            def value(name: str, **labels: str) -> float | None:
                return registry.get_sample_value(name, labels)

            def account_failures(brand: str) -> dict[str, float | None]:
                return {kind: value(ACCOUNT_FAILURES, brand=brand, kind=kind) for kind in KINDS}

            await collector.start()
            try:
                assert collector.sources == ["AcmeDown", "acme", "BorealCafe",
                                             "@acme_fr@mastodon.example",
                                             "@acme_gone@mastodon.example",
                                             "@boreal@mastodon.example",
                                             "@cirrus@mastodon.example"]
                for brand in ("acme", "boreal", "cirrus"):  # at 0 before the first round
                    assert value(ACCOUNT_LAST_GOOD, brand=brand) == 0
                    assert account_failures(brand) == dict.fromkeys(KINDS, 0.0)

                before = time.time()
                result = await collector.poll_round()
                assert result.status == "partial"
                assert list(result.errors) == ["@acme_gone@mastodon.example"]
                # Under its brand: acme's accounts did not all work, boreal's and cirrus's did.
                assert account_failures("acme") == {**dict.fromkeys(KINDS, 0.0), "fetch": 1.0}
                assert value(ACCOUNT_LAST_GOOD, brand="acme") == 0
                assert (value(ACCOUNT_LAST_GOOD, brand="boreal") or 0) >= before
                assert (value(ACCOUNT_LAST_GOOD, brand="cirrus") or 0) >= before
                # The hashtags all worked: none counts the account's failure, #acme included.
                for tag in ("AcmeDown", "acme", "BorealCafe"):
                    assert (value(LAST_GOOD, hashtag=tag) or 0) >= before, tag
                    assert sum(value(FAILURES, hashtag=tag, kind=kind) or 0
                               for kind in KINDS) == 0, tag
                assert value(LAST_GOOD, hashtag="acme_gone@mastodon.example") is None

                # The watch list changes: boreal's account taken off, dune followed with one (no
                # hashtag either), cirrus's kept.
                path = Path(settings.watchlist)
                path.write_text(
                    '[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["AcmeDown", "acme"]\n'
                    'mastodon_accounts = ["acme_fr@mastodon.example"]\n'
                    '[[brands]]\nid = "boreal"\nname = "Boréal"\nhashtags = ["BorealCafe"]\n'
                    '[[brands]]\nid = "cirrus"\nname = "Cirrus"\n'
                    'mastodon_accounts = ["cirrus@mastodon.example"]\n'
                    '[[brands]]\nid = "dune"\nname = "Dune"\n'
                    'mastodon_accounts = ["dune@mastodon.example"]\n', encoding="utf-8")
                collector.use_watchlist(Watchlist.from_toml(path))
                assert value(ACCOUNT_LAST_GOOD, brand="boreal") is None
                assert value(ACCOUNT_FAILURES, brand="boreal", kind="fetch") is None
                assert value(ACCOUNT_LAST_GOOD, brand="dune") == 0
                assert account_failures("dune") == dict.fromkeys(KINDS, 0.0)
                assert (value(ACCOUNT_LAST_GOOD, brand="cirrus") or 0) >= before  # kept
                good = time.time()
                result = await collector.poll_round()
                assert result.status == "ok", result.errors
                for brand in ("acme", "cirrus", "dune"):
                    assert (value(ACCOUNT_LAST_GOOD, brand=brand) or 0) >= good, brand
                assert account_failures("acme") == {**dict.fromkeys(KINDS, 0.0), "fetch": 1.0}
            finally:
                await collector.close()
            # As Prometheus reads it: a brand's id, never a username nor the instance's address.
            text = generate_latest(registry).decode()
            assert 'veille_mastodon_account_failures_total{brand="acme",kind="fetch"} 1.0' in text
            assert "acme_gone" not in text and base.split("//")[1] not in text

    asyncio.run(scenario())


def test_a_brand_with_accounts_and_no_hashtag_has_its_answers_read(
        m_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in review, 2026-12-07: only a brand with `hashtags` had its `mastodon_accounts`
    read, and nobody was told: a brand team that only wants its answers on Mastodon counted
    (its complaints found elsewhere: RSS, Bluesky, the webhook) never had them. Cirrus lists an
    account and no hashtag: its account is read beside acme's hashtag, its reply to a customer's
    status is sent as its answer, and its accounts have their health under its id."""
    async def scenario() -> None:
        srv = Instance()
        acc = Accounts(ids={"cirrus@mastodon.example": "779"})
        async with serve(accounts_api(srv, acc)) as base:
            srv.base = base
            Path(m_settings.watchlist).write_text(
                '[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["AcmeDown"]\n'
                '[[brands]]\nid = "cirrus"\nname = "Cirrus"\n'
                'mastodon_accounts = ["cirrus@mastodon.example"]\n', encoding="utf-8")
            settings = m_settings.with_(mastodon_url=base)
            complaint = toot("00301", "camille", "Cirrus ne répond plus depuis ce matin")
            acc.by_id = {complaint["id"]: complaint}
            reply = toot("00310", "cirrus", "Désolés Camille, on regarde",
                         in_reply_to_id=complaint["id"],
                         in_reply_to_account_id=complaint["account"]["id"])
            reply["account"]["id"] = "779"
            acc.statuses["779"] = [reply]
            metrics = CollectorMetrics(CollectorRegistry())
            sink = ListSink(settings, "mastodon", metrics)
            collector = MastodonCollector(settings, metrics, sink, page_limit=3,
                                          lookback_seconds=0.0)
            assert await run_mastodon(settings, once=True, collector=collector) == []
            assert collector.sources == ["AcmeDown", "@cirrus@mastodon.example"]
            lines = capsys.readouterr().out.splitlines()
            assert "mastodon: @cirrus@mastodon.example: ok, 1 statuses, 1 answer sent" in lines, lines
            [record] = sink.records
            assert record.key == mastodon_id(complaint["uri"]).encode()
            assert json.loads(record.value)["moderator"] == "@cirrus@mastodon.example"
            registry = metrics.registry
            assert (registry.get_sample_value(ACCOUNT_LAST_GOOD, {"brand": "cirrus"}) or 0) > 0

    asyncio.run(scenario())


def test_a_watch_list_of_brand_accounts_only_starts_and_reads_them(
        m_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No brand has `hashtags`, one has `mastodon_accounts`: the collector starts (until
    2026-12-07: refused, "nothing to follow") and reads the account, with no hashtag series; its
    `--once` names the account, and every account failing is a failed round that says so (not
    "every hashtag failed")."""
    async def scenario() -> None:
        srv = Instance()
        acc = Accounts(ids={"cirrus@mastodon.example": "779"})
        async with serve(accounts_api(srv, acc)) as base:
            srv.base = base
            Path(m_settings.watchlist).write_text(
                '[[brands]]\nid = "cirrus"\nname = "Cirrus"\n'
                'mastodon_accounts = ["cirrus@mastodon.example"]\n', encoding="utf-8")
            settings = m_settings.with_(mastodon_url=base)
            complaint = toot("00401", "camille", "Panne Cirrus ?")
            acc.by_id = {complaint["id"]: complaint}
            reply = toot("00410", "cirrus", "Réparé, merci !", in_reply_to_id=complaint["id"],
                         in_reply_to_account_id=complaint["account"]["id"])
            reply["account"]["id"] = "779"
            acc.statuses["779"] = [reply]
            metrics = CollectorMetrics(CollectorRegistry())
            sink = ListSink(settings, "mastodon", metrics)
            collector = MastodonCollector(settings, metrics, sink, page_limit=3,
                                          lookback_seconds=0.0)
            assert await run_mastodon(settings, once=True, collector=collector) == []
            assert collector.sources == ["@cirrus@mastodon.example"]
            assert srv.requests == []  # no hashtag asked for
            lines = capsys.readouterr().out.splitlines()
            assert lines == ["mastodon: @cirrus@mastodon.example: ok, 1 statuses, 1 answer sent"]
            assert [json.loads(r.value)["case_id"] for r in sink.records] == [
                mastodon_id(complaint["uri"])]
            text = generate_latest(metrics.registry).decode()
            assert 'veille_mastodon_account_last_success_timestamp_seconds{brand="cirrus"}' in text
            assert "veille_mastodon_hashtag_last_success_timestamp_seconds{" not in text

            # The account unknown to the instance: the round failed, and the error says what.
            acc.ids.clear()
            fresh = settings.with_(collector_state_dir=str(tmp_path / "fresh"))
            gone = MastodonCollector(fresh, CollectorMetrics(CollectorRegistry()),
                                     ListSink(fresh, "mastodon", metrics), page_limit=3,
                                     lookback_seconds=0.0)
            with pytest.raises(mastodon.MastodonRoundFailed,
                               match=r"every brand account failed \(1\); "
                                     r"@cirrus@mastodon.example: HTTP 404"):
                await run_mastodon(fresh, once=True, collector=gone)

    asyncio.run(scenario())
