"""The RSS/Atom collector against a real local HTTP server and the real embedded broker."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.topics import ensure_topics
from tests.collector_helpers import save_settled
from tests.conftest import ROOT, settings_env
from tests.http_helpers import serve
from tests.kafka_helpers import raw_on_topic
from veille.broker import free_port
from veille.collectors.base import MentionSink
from veille.collectors.rss import (
    FeedConfig,
    FeedConfigError,
    RssCollector,
    backoff_delay,
    feeds_from_dict,
    load_feeds,
    run_rss,
)
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration
FEEDS = ROOT / "tests/data/feeds"
CONTENT_TYPES = {".rss": "application/rss+xml; charset=utf-8",
                 ".atom": "application/atom+xml; charset=utf-8",
                 ".html": "text/html; charset=utf-8"}


def article(link: str) -> str:
    """The id of an entry linking to this article (its address in normal form), whatever its
    feed: the same article in two feeds is one mention."""
    return "rss-a-" + hashlib.sha256(link.encode()).hexdigest()[:32]


# ---------------------------------------------------------------------------------------------
# A real HTTP server serving the fixture feeds
# ---------------------------------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float
    status: int = 0


@dataclass
class Doc:
    body: bytes
    content_type: str
    etag: str
    last_modified: str


@dataclass
class FeedServer:
    """Serves files with ETag / Last-Modified, answers 304 to matching validators, and can be
    told to fail the next requests of a path with given statuses and headers."""

    docs: dict[str, Doc] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    base: str = ""

    def serve(self, path: str, filename: str) -> str:
        body = (FEEDS / filename).read_bytes()
        self.docs[path] = Doc(
            body, CONTENT_TYPES[Path(filename).suffix],
            '"' + hashlib.sha1(body).hexdigest()[:16] + '"',
            email.utils.formatdate(time.time(), usegmt=True),
        )
        return self.base + path

    def fail(self, path: str, *answers: tuple[int, dict[str, str]]) -> None:
        self.failures.setdefault(path, []).extend(answers)

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        seen = Seen(request.path, dict(request.headers), time.monotonic())
        self.requests.append(seen)
        response = self._answer(request)
        seen.status = response.status
        return response

    def _answer(self, request: web.Request) -> web.Response:
        queued = self.failures.get(request.path)
        if queued:
            status, headers = queued.pop(0)
            return web.Response(status=status, text=f"error {status}", headers=headers)
        if request.path in self.redirects:
            return web.Response(status=301, headers={"Location": self.redirects[request.path]})
        doc = self.docs.get(request.path)
        if doc is None:
            return web.Response(status=404)
        validators = {"ETag": doc.etag, "Last-Modified": doc.last_modified}
        inm = request.headers.get("If-None-Match")
        if inm == doc.etag or (inm is None and
                               request.headers.get("If-Modified-Since") == doc.last_modified):
            return web.Response(status=304, headers=validators)
        return web.Response(body=doc.body, headers={"Content-Type": doc.content_type, **validators})


@asynccontextmanager
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    async with serve([("GET", "/{tail:.*}", server.handle)]) as base:
        server.base = base
        yield server


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def rss_settings(settings: Settings, tmp_path: Path) -> Settings:
    # The fixtures are dated March 2025: widen the age bound so that they stay valid.
    s = settings.with_(collector_state_dir=str(tmp_path / "collectors"),
                       collector_metrics_port=free_port(), max_age_days=36500.0,
                       watchlist=str(tmp_path / "watchlist.toml"))
    ensure_topics(s)
    return s


def write_watchlist(path: str, feeds: str) -> None:
    Path(path).write_text(
        '[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["#AcmeDown"]\n\n' + feeds,
        encoding="utf-8",
    )


def new_collector(settings: Settings, **kwargs: Any) -> RssCollector:
    return RssCollector(settings, CollectorMetrics(CollectorRegistry()), **kwargs)


def sample(c: RssCollector, name: str, **labels: str) -> float:
    value = c.metrics.registry.get_sample_value(name, {"collector": "rss", **labels})
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


def test_feed_tables_are_parsed_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    write_watchlist(str(path), """
[[feeds]]
url = "https://www.google.com/alerts/feeds/0684/1345"
name = "Google Alerts: acme"

[[feeds]]
url = "https://feedly.com/f/abc.xml"
interval_seconds = 600
platform = "Blog"
""")
    feeds = load_feeds(path)
    assert feeds == [
        FeedConfig("https://www.google.com/alerts/feeds/0684/1345", "Google Alerts: acme", 300.0,
                   "news"),
        FeedConfig("https://feedly.com/f/abc.xml", None, 600.0, "blog"),
    ]
    assert feeds_from_dict({"brands": []}) == []
    bad = [
        ({"feeds": [{"name": "no url"}]}, "needs a `url`"),
        ({"feeds": [{"url": "ftp://x.example/feed"}]}, "http:// or https://"),
        ({"feeds": [{"url": "https://x.example/f", "interval_seconds": 10}]}, "minimum is 30"),
        ({"feeds": [{"url": "https://x.example/f", "interval_seconds": "5m"}]}, "number"),
        ({"feeds": [{"url": "https://x.example/f", "interval": 60}]}, "unknown keys"),
        ({"feeds": [{"url": "https://x.example/f"}, {"url": "https://x.example/f"}]}, "twice"),
        ({"feeds": [{"url": "https://x.example/f", "platform": ""}]}, "platform"),
        ({"feeds": {"url": "https://x.example/f"}}, "array of [[feeds]]"),
    ]
    for data, message in bad:
        with pytest.raises(FeedConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
            feeds_from_dict(data)
    with pytest.raises(FeedConfigError, match="not valid TOML"):
        (tmp_path / "broken.toml").write_text("[[feeds]\nurl=")
        load_feeds(tmp_path / "broken.toml")


def test_entries_are_mapped_to_raw_mentions(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            news = srv.serve("/news.rss", "news.rss")
            blog = srv.serve("/blog.atom", "blog.atom")
            alerts = srv.serve("/alerts/feeds/0684/1345", "google_alerts.atom")
            write_watchlist(rss_settings.watchlist, f"""
[[feeds]]
url = "{news}"
name = "Journal des Télécoms"

[[feeds]]
url = "{blog}"
platform = "blog"
interval_seconds = 60

[[feeds]]
url = "{alerts}"
""")
            collector = new_collector(rss_settings)
            before = time.time()
            await run_rss(rss_settings, once=True, collector=collector)
            after = time.time()
            assert sample(collector, "veille_collector_items_fetched_total") == 6
            assert sample(collector, "veille_collector_items_sent_total") == 6
            assert sample(collector, "veille_collector_last_success_timestamp_seconds") >= before
            assert {r.headers["User-Agent"] for r in srv.requests} == {
                rss_settings.collector_user_agent}

            got = {m["id"]: m for m in await raw_on_topic(rss_settings, 6)}
            assert len(got) == 6

            m = got[article("https://journal-telecoms.example/2025/03/11/panne-acme")]
            assert m["text"] == (
                "Panne géante chez Acme Mobile : des milliers de clients privés de réseau — "
                "Depuis ce matin, les abonnés d'Acme ne peuvent plus appeler. "
                "L’opérateur promet un retour « dans la journée »."
            )
            assert m["created_at"] == "2025-03-11T08:30:00.000Z"  # +0200 -> UTC
            assert m["author"] == "Claire Dubois"
            assert m["url"] == "https://journal-telecoms.example/2025/03/11/panne-acme"
            assert (m["source"], m["platform"], m["language"]) == ("rss", "news", "fr")
            assert before - 1 <= parse_ts(m["collected_at"]) <= after + 1

            # No guid (the id comes from the link anyway); no author: the feed's title.
            m = got[article("https://journal-telecoms.example/2025/03/10/boreal-lyon")]
            assert m["text"] == ("Boréal Café ouvre une troisième adresse à Lyon — "
                                 "Le torréfacteur lyonnais & sa nouvelle boutique.")
            assert m["author"] == "Le Journal des Télécoms"
            assert m["created_at"] == "2025-03-10T18:05:00.000Z"

            m = got[article("https://blog.example/2025/acme-zephyr-x2-review")]
            assert m["text"] == ("Acme Zephyr X2 review: great battery, poor support — "
                                 "The battery lasts two days. Support was useless & slow.")
            assert m["created_at"] == "2025-03-11T14:00:00.000Z"  # published, -05:00 -> UTC
            assert (m["author"], m["platform"], m["language"]) == ("Sam Reviewer", "blog", None)
            m = got[article("https://blog.example/2025/five-cafes")]
            assert m["text"] == ("Five cafés worth the trip — "
                                 "Our favourite is Boréal Café, for its croissants.")
            assert m["created_at"] == "2025-03-09T08:00:00.000Z"  # only <updated>
            assert m["author"] == "Tech & Consumers Blog"

            # Google Alerts: <b> tags gone, the real article's address instead of google.com/url.
            m = got[article("https://www.lemonde-tech.example/article/2025/03/11/acme-panne?ref=rss")]
            assert m["text"] == (
                "Acme Mobile : la panne de réseau touche toute la France — Les clients d'Acme "
                "Mobile n'ont plus de réseau depuis 8 h & le service client ne répond pas ..."
            )
            assert m["url"] == "https://www.lemonde-tech.example/article/2025/03/11/acme-panne?ref=rss"
            assert m["author"] == "lemonde-tech.example"  # the article's site, not the alert
            assert (m["platform"], m["created_at"]) == ("news", "2025-03-11T09:15:02.000Z")
            m = got[article("https://blog-conso.example/acme-resiliation")]
            assert m["text"] == ("Pourquoi les abonnés quittent Acme — "
                                 "Résilier son forfait Acme : notre guide pas à pas.")
            assert m["url"] == "https://blog-conso.example/acme-resiliation"
            for m in got.values():
                assert "<" not in m["text"] and "&" not in m["text"].replace(" & ", "")

    asyncio.run(scenario())


def parse_ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def test_conditional_get_sends_validators_and_a_304_emits_nothing(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            url = srv.serve("/news.rss", "news.rss")
            collector = new_collector(rss_settings, feeds=[FeedConfig(url, interval_seconds=30)])
            await collector.start()
            try:
                first = await collector.poll_all()
                second = await collector.poll_all()
            finally:
                await collector.close()
            assert [r.status for r in first] == ["new"] and first[0].sent == 2
            assert [r.status for r in second] == ["not_modified"] and second[0].sent == 0
            req1, req2 = srv.seen("/news.rss")
            assert "If-None-Match" not in req1.headers and "If-Modified-Since" not in req1.headers
            doc = srv.docs["/news.rss"]
            assert req2.headers["If-None-Match"] == doc.etag
            assert req2.headers["If-Modified-Since"] == doc.last_modified
            assert (req1.status, req2.status) == (200, 304)
            assert sample(collector, "veille_collector_items_sent_total") == 2
            assert len(await raw_on_topic(rss_settings, 2)) == 2

    asyncio.run(scenario())


def test_a_304_with_new_validators_keeps_them(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            url = srv.serve("/news.rss", "news.rss")
            collector = new_collector(rss_settings, feeds=[FeedConfig(url, interval_seconds=30)])
            await collector.start()
            try:
                await collector.poll_all()
                # The server's validators changed (a new ETag scheme, the old one still
                # matched once), the content did not.
                srv.docs["/news.rss"].etag = '"v2"'
                srv.fail("/news.rss", (304, {"ETag": '"v2"'}))
                second = await collector.poll_all()
                third = await collector.poll_all()
            finally:
                await collector.close()
            assert [r.status for r in second + third] == ["not_modified", "not_modified"]
            req3 = srv.seen("/news.rss")[2]
            assert req3.headers["If-None-Match"] == '"v2"'
            # The Last-Modified the 304 did not repeat is kept, and both are saved.
            assert req3.headers["If-Modified-Since"] == srv.docs["/news.rss"].last_modified
            state = collector.store.load(url)
            assert state is not None and state["etag"] == '"v2"'

    asyncio.run(scenario())


def test_restart_emits_only_new_entries_and_never_twice(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            url = srv.serve("/news.rss", "news.rss")
            write_watchlist(rss_settings.watchlist, f'[[feeds]]\nurl = "{url}"\n')
            # Run 1: the real command line, `python -m veille.collectors.rss --once`.
            env = settings_env(rss_settings)
            env.update(VEILLE_COLLECTOR_STATE_DIR=rss_settings.collector_state_dir,
                       VEILLE_COLLECTOR_METRICS_PORT=str(rss_settings.collector_metrics_port),
                       VEILLE_MAX_AGE_DAYS=str(rss_settings.max_age_days))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "veille.collectors.rss", "--once", env=env, cwd=str(ROOT),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, output.decode()
            first = await raw_on_topic(rss_settings, 2)
            assert len(first) == 2
            assert f"rss: {url}: new, 2 entries, 2 sent, 0 refused" in output.decode(), \
                output.decode()

            state_files = list(Path(rss_settings.collector_state_dir, "rss").glob("*.json"))
            assert [p.name for p in state_files] == [
                hashlib.sha256(url.encode()).hexdigest()[:32] + ".json"]
            state = json.loads(state_files[0].read_text())
            assert state["etag"] == srv.docs["/news.rss"].etag
            # Each entry by its mention id (its article's) and by its id within the feed.
            assert {m["id"] for m in first} <= set(state["seen"]) and len(state["seen"]) == 4
            assert state["local_ids"] is True and state["peak"] == 2

            # Three entries are published; a new collector process (here: a new instance) starts.
            srv.serve("/news.rss", "news_more.rss")
            before = time.time()
            await run_rss(rss_settings, once=True)
            after = time.time()
            # A third run: the feed did not change (304), nothing is sent.
            await run_rss(rss_settings, once=True)
            assert [r.status for r in srv.seen("/news.rss")] == [200, 200, 304]

            everything = await raw_on_topic(rss_settings, 5)
            ids = [m["id"] for m in everything]
            assert len(ids) == 5 and len(set(ids)) == 5, ids
            new_ids = set(ids) - {m["id"] for m in first}
            undated = article("https://journal-telecoms.example/breves/acme-recrute")
            retabli = article("https://journal-telecoms.example/2025/03/11/acme-retabli")
            maj = article("https://journal-telecoms.example/2025/03/11/zephyr-x2-maj")
            assert new_ids == {retabli, maj, undated}
            by_id = {m["id"]: m for m in everything}
            assert by_id[maj]["text"] == (
                "Acme Zephyr X2 : la mise à jour 2.1 corrige la batterie — "
                "Une mise à jour attendue par les utilisateurs.")
            assert by_id[retabli]["created_at"] == (
                "2025-03-11T18:45:00.000Z")
            # No date in the entry: the time it was fetched.
            assert before - 1 <= parse_ts(by_id[undated]["created_at"]) <= after + 1

    asyncio.run(scenario())


SEED = 7  # the collector's jitter generator in the backoff test


def test_server_errors_back_off_then_recover(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            url = srv.serve("/flaky.atom", "blog.atom")
            srv.fail("/flaky.atom", (500, {}), (502, {}), (429, {"Retry-After": "1"}))
            # The 30 s interval is past wait_for's 20 s: the entries arrive only if failures are
            # retried on the backoff, not on the interval. The backoff's exact schedule is
            # tests/unit/test_backoff.py; here a twin of the collector's seeded generator gives
            # the delays it draws after the 1st, 2nd and 3rd consecutive failure.
            collector = new_collector(
                rss_settings, feeds=[FeedConfig(url, interval_seconds=30)],
                backoff_base=0.2, backoff_max=5.0, rng=random.Random(SEED),
            )
            twin = random.Random(SEED)
            delays = [backoff_delay(n, 0.2, 5.0, twin) for n in (1, 2, 3)]
            delays[2] = max(delays[2], 1.0)  # Retry-After: 1 is longer than the 3rd backoff
            await collector.start()
            task = asyncio.create_task(collector.run())
            try:
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total") == 2,
                               what="the feed's two entries")
                # Not a synchronisation: a window for a wrong extra poll (the next is due in
                # 30 s) to show in the requests below, and for a crash of the loop to show here.
                await asyncio.sleep(0.3)
                assert not task.done()
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
                await collector.close()
            seen = srv.seen("/flaky.atom")
            assert [r.status for r in seen] == [500, 502, 429, 200]  # then the 30 s interval
            # Each retry waits at least its delay, Retry-After included (no upper bound: a
            # loaded machine may add any latency); 10 ms of slack for timer rounding.
            gaps = [b.at - a.at for a, b in zip(seen, seen[1:], strict=False)]
            assert all(g >= d - 0.01 for g, d in zip(gaps, delays, strict=True)), (gaps, delays)
            status = collector.status[url]
            assert (status.errors, status.consecutive_failures) == (3, 0)
            ids = [m["id"] for m in await raw_on_topic(rss_settings, 2)]
            assert sorted(ids) == sorted({
                article("https://blog.example/2025/acme-zephyr-x2-review"),
                article("https://blog.example/2025/five-cafes")})

    asyncio.run(scenario())


def test_a_document_that_is_not_a_feed_is_counted_and_polling_goes_on(
        rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            bad = srv.serve("/moved", "not_a_feed.html")
            good = srv.serve("/blog.atom", "blog.atom")
            feeds = [FeedConfig(bad, interval_seconds=0.3), FeedConfig(good, interval_seconds=0.3)]
            collector = new_collector(rss_settings, feeds=feeds, backoff_base=0.2,
                                      backoff_max=0.4)
            # The real entry point, serving /metrics while it runs.
            task = asyncio.create_task(run_rss(rss_settings, collector=collector))
            try:
                await wait_for(lambda: collector.status.get(bad) is not None
                               and collector.status[bad].errors >= 2
                               and sample(collector, "veille_collector_items_sent_total") == 2,
                               what="two failed polls of the bad feed and the good feed sent")
                assert not task.done()
                last = collector.status[bad].last
                assert last is not None and last.status == "not_a_feed"
                assert "not an RSS or Atom feed (text/html" in (last.error or "")
                async with aiohttp.ClientSession() as http:
                    metrics_url = (f"http://{rss_settings.metrics_host}:"
                                   f"{rss_settings.collector_metrics_port}/metrics")
                    async with http.get(metrics_url) as resp:
                        text = await resp.text()
                refused = [line for line in text.splitlines() if line.startswith(
                    'veille_collector_items_refused_total{collector="rss",reason="unsupported"}')]
                assert refused and float(refused[0].split()[-1]) >= 2
                assert 'veille_collector_items_sent_total{collector="rss"} 2.0' in text
                # The good feed keeps being polled, with conditional GETs.
                await wait_for(lambda: 304 in [r.status for r in srv.seen("/blog.atom")],
                               what="a 304 for the good feed")

                # The publisher fixes its address: the feed is picked up at the next poll.
                srv.serve("/moved", "news.rss")
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total") == 4,
                               what="the fixed feed's entries")
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
            assert collector.status[bad].consecutive_failures == 0
            ids = [m["id"] for m in await raw_on_topic(rss_settings, 4)]
            assert len(ids) == 4 and len(set(ids)) == 4

    asyncio.run(scenario())


def test_entries_are_kept_until_the_broker_acknowledges_them(rss_settings: Settings) -> None:
    async def scenario() -> None:
        async with feed_server() as srv:
            url = srv.serve("/news.rss", "news.rss")
            feeds = [FeedConfig(url, interval_seconds=30)]
            dead = rss_settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}")
            metrics = CollectorMetrics(CollectorRegistry())
            collector = RssCollector(rss_settings, metrics, feeds=feeds,
                                     sink=MentionSink(dead, "rss", metrics, ack_timeout=1.0))
            await collector.start()
            try:
                (result,) = await collector.poll_all()
            finally:
                await collector.close()
            assert result.status == "broker_error"
            assert sample(collector, "veille_collector_send_errors_total") == 1
            assert not list(Path(rss_settings.collector_state_dir).rglob("*.json"))

            # Back with a reachable broker: the same entries go out (the feed did not change).
            collector = new_collector(rss_settings, feeds=feeds)
            await collector.start()
            try:
                (result,) = await collector.poll_all()
            finally:
                await collector.close()
            assert (result.status, result.sent) == ("new", 2)
            assert [r.status for r in srv.seen("/news.rss")] == [200, 200]  # no validators kept
            assert len(await raw_on_topic(rss_settings, 2)) == 2

    asyncio.run(scenario())


def test_module_entry_point_refuses_a_watch_list_without_feeds(rss_settings: Settings) -> None:
    import subprocess

    env = settings_env(rss_settings)
    env["VEILLE_WATCHLIST"] = str(ROOT / "tests/data/watchlist.toml")
    env["VEILLE_COLLECTOR_METRICS_PORT"] = str(free_port())
    done = subprocess.run([sys.executable, "-m", "veille.collectors.rss", "--once"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 2
    assert "no [[feeds]] table" in done.stderr
    assert os.path.basename(env["VEILLE_WATCHLIST"]) in done.stderr


def test_once_exits_2_when_no_feed_could_be_read_and_1_when_some_could_not(
        rss_settings: Settings) -> None:
    """A cron job whose every feed is gone (404, 500, a page that is no feed) must fail visibly:
    it exited 0 for ever. One feed read of two is a partial success: its entries are sent, and
    the exit status is 1 with a warning naming the other; 0 once every feed is read."""
    async def once() -> tuple[int, str, str]:
        env = settings_env(rss_settings)
        env.update(VEILLE_COLLECTOR_STATE_DIR=rss_settings.collector_state_dir,
                   VEILLE_COLLECTOR_METRICS_PORT=str(free_port()),
                   VEILLE_MAX_AGE_DAYS=str(rss_settings.max_age_days))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "veille.cli", "collect", "rss", "--once", env=env, cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def scenario() -> None:
        async with feed_server() as srv:
            gone, broken = srv.base + "/gone.rss", srv.serve("/page.html", "not_a_feed.html")
            srv.fail("/broken.atom", (500, {}))
            write_watchlist(rss_settings.watchlist,
                            f'[[feeds]]\nurl = "{gone}"\n\n[[feeds]]\nurl = "{broken}"\n\n'
                            f'[[feeds]]\nurl = "{srv.base}/broken.atom"\n')
            code, out, err = await once()
            assert code == 2, (out, err)
            assert f"rss: {gone}: fetch_error, 0 entries" in out, out
            assert f"rss: {broken}: not_a_feed, 0 entries" in out, out
            assert f"veille: error: rss: every feed failed (3); {gone}: HTTP 404" in err, err
            assert "Traceback" not in err

            news = srv.serve("/news.rss", "news.rss")
            write_watchlist(rss_settings.watchlist,
                            f'[[feeds]]\nurl = "{gone}"\n\n[[feeds]]\nurl = "{news}"\n')
            code, out, err = await once()
            # One feed read of two: its entries sent, and exit 1 naming the other (0 hid a
            # deleted Google Alert for ever under cron).
            assert code == 1, (out, err)
            assert f"rss: {news}: new, 2 entries, 2 sent, 0 refused" in out, out
            assert f"rss: {gone}: fetch_error" in out, out
            assert f"veille: warning: rss: 1 feed(s) could not be read; {gone}: HTTP 404" in err, err
            write_watchlist(rss_settings.watchlist, f'[[feeds]]\nurl = "{news}"\n')
            code, out, err = await once()
            assert code == 0, (out, err)

    asyncio.run(scenario())


RELATIVE_LINK_FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Moved</title><link>https://example.org/</link>
<item><title>Acme en panne</title><link>article.html</link><guid>moved-1</guid>
<pubDate>Tue, 11 Mar 2025 08:30:00 +0000</pubDate></item>
</channel></rss>"""


def test_a_body_naming_a_local_file_is_data_and_links_resolve_after_redirects(
        rss_settings: Settings, tmp_path: Path) -> None:
    """A feed host answering with a path made feedparser open that file on the collector's
    machine (past the body limit; /dev/zero exhausted its memory at every poll): the body is
    parsed as the document it is. And a feed moved by a redirect resolves its relative links
    against where it is now, not where it was configured."""
    local = tmp_path / "local-feed.rss"
    local.write_bytes(RELATIVE_LINK_FEED.replace(b"moved-1", b"local-1"))

    async def scenario() -> None:
        async with feed_server() as srv:
            stamp = email.utils.formatdate(time.time(), usegmt=True)
            srv.docs["/as-path"] = Doc(str(local).encode(), CONTENT_TYPES[".rss"], '"p"', stamp)
            srv.docs["/sub/dir/feed.rss"] = Doc(RELATIVE_LINK_FEED, CONTENT_TYPES[".rss"],
                                                '"r"', stamp)
            srv.redirects["/old.rss"] = "/sub/dir/feed.rss"
            path_feed, moved = srv.base + "/as-path", srv.base + "/old.rss"
            collector = new_collector(rss_settings, feeds=[FeedConfig(path_feed),
                                                           FeedConfig(moved)])
            await run_rss(rss_settings, once=True, collector=collector)
            last = collector.status[path_feed].last
            assert last is not None and last.status == "not_a_feed", last
            got = await raw_on_topic(rss_settings, 1)
            assert [m["text"] for m in got] == ["Acme en panne"]  # not the local file's entry
            assert got[0]["url"] == srv.base + "/sub/dir/article.html"

    asyncio.run(scenario())


def test_a_changed_watch_list_is_followed_while_the_collector_runs(rss_settings: Settings) -> None:
    """The feeds follow the watch list while the collector runs: a feed added is polled at once
    (its series exported), one taken off is polled no more (its loop ends, its series go), one
    kept keeps its state (validators: its next poll a 304, nothing sent twice) and its new
    name; a changed file that does not load, or that has no feed left, is refused and the
    feeds in use stay."""
    async def scenario() -> None:
        async with feed_server() as srv:
            news = srv.serve("/news.rss", "news.rss")
            blog = srv.serve("/blog.atom", "blog.atom")
            alerts = srv.serve("/alerts/feeds/0684/1345", "google_alerts.atom")
            path = rss_settings.watchlist
            settings = rss_settings.with_(watchlist_reload_seconds=0.1)
            write_watchlist(path, f'[[feeds]]\nurl = "{news}"\nname = "news"\n\n'
                                  f'[[feeds]]\nurl = "{blog}"\nname = "blog"\n')
            save_settled(path, Path(path).read_text(encoding="utf-8"))
            collector = new_collector(settings)
            registry = collector.metrics.registry
            last_good = "veille_rss_feed_last_success_timestamp_seconds"

            def taken(outcome: str) -> float:
                return registry.get_sample_value("veille_watchlist_reloads_total",
                                                 {"outcome": outcome}) or 0.0

            await collector.start()
            task = asyncio.create_task(collector.run())
            try:
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total") == 4,
                               what="the first polls")
                assert registry.get_sample_value("veille_watchlist_brands") == 1
                assert (registry.get_sample_value(last_good, {"feed": "blog"}) or 0) > 0
                news_state = collector.states[news]

                # The alerts feed added, the blog taken off, the news feed renamed, its interval
                # longer.
                write_watchlist(path, f'[[feeds]]\nurl = "{news}"\nname = "journal"\n'
                                      f'interval_seconds = 600\n\n[[feeds]]\nurl = "{alerts}"\n')
                save_settled(path, Path(path).read_text(encoding="utf-8"))
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total") == 6,
                               what="the added feed's entries")
                assert taken("applied") == 1 and taken("refused") == 0
                assert [r.status for r in srv.seen("/alerts/feeds/0684/1345")] == [200]
                assert len(srv.seen("/news.rss")) == 1  # not polled again by the change
                await wait_for(lambda: collector._loops[blog].done(), what="the blog's loop ended")
                assert not collector._loops[news].done() and not collector._loops[alerts].done()
                assert registry.get_sample_value(last_good, {"feed": "blog"}) is None
                assert registry.get_sample_value(last_good, {"feed": "news"}) is None
                assert registry.get_sample_value(last_good, {"feed": "journal"}) == 0
                assert (registry.get_sample_value(last_good, {"feed": "feed-2"}) or 0) > 0
                assert collector.states[news] is news_state and news_state.etag

                # A file that does not load, then one with no feed left: both refused, the
                # feeds in use stay, and the collector goes on.
                save_settled(path, "[[feeds]\nurl = ")
                await wait_for(lambda: taken("refused") == 1, what="the broken file refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                write_watchlist(path, "")
                save_settled(path, Path(path).read_text(encoding="utf-8"))
                await wait_for(lambda: taken("refused") == 2, what="a file without feeds refused")
                assert registry.get_sample_value("veille_watchlist_refused") == 1
                assert [f.url for f in collector.feeds or []] == [news, alerts]
                assert not task.done() and not collector._loops[news].done()
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
            try:
                # One more poll of every feed in use: the kept one answers 304 (its validators
                # kept), the added one too; the blog is not asked.
                blog_polls = len(srv.seen("/blog.atom"))
                results = {r.feed: r.status for r in await collector.poll_all()}
            finally:
                await collector.close()
            assert results == {news: "not_modified", alerts: "not_modified"}
            assert len(srv.seen("/blog.atom")) == blog_polls == 1
            assert collector.feeds is not None
            assert [f.label for f in collector.feeds] == ["journal", alerts]
            ids = [m["id"] for m in await raw_on_topic(settings, 6)]
            assert len(ids) == 6 and len(set(ids)) == 6

    asyncio.run(scenario())


def test_a_feed_whose_label_moves_to_another_feed_does_not_pass_its_series_on(
        rss_settings: Settings) -> None:
    """Unnamed feeds are labelled by their place (`feed-N`): the first taken off, the second
    becomes `feed-1`. Its series start afresh at 0; they do not carry on the failures and the
    last success of the feed taken off (a healthy feed read as failing, or the reverse)."""
    async def scenario() -> None:
        async with feed_server() as srv:
            news = srv.serve("/news.rss", "news.rss")
            blog = srv.serve("/blog.atom", "blog.atom")
            srv.fail("/news.rss", *[(500, {})] * 50)
            path = rss_settings.watchlist
            settings = rss_settings.with_(watchlist_reload_seconds=0.1)
            write_watchlist(path, f'[[feeds]]\nurl = "{news}"\n\n[[feeds]]\nurl = "{blog}"\n')
            save_settled(path, Path(path).read_text(encoding="utf-8"))
            collector = new_collector(settings)
            registry = collector.metrics.registry
            last_good = "veille_rss_feed_last_success_timestamp_seconds"
            failures = "veille_rss_feed_failures_total"
            await collector.start()
            task = asyncio.create_task(collector.run())
            try:
                await wait_for(lambda: (registry.get_sample_value(
                    failures, {"feed": "feed-1", "kind": "fetch"}) or 0) >= 1
                    and (registry.get_sample_value(last_good, {"feed": "feed-2"}) or 0) > 0,
                    what="the first polls")
                write_watchlist(path, f'[[feeds]]\nurl = "{blog}"\ninterval_seconds = 600\n')
                save_settled(path, Path(path).read_text(encoding="utf-8"))
                await wait_for(lambda: (registry.get_sample_value(
                    "veille_watchlist_reloads_total", {"outcome": "applied"}) or 0) == 1,
                    what="the change taken")
                await wait_for(lambda: collector._loops[news].done(), what="the news loop ended")
                assert registry.get_sample_value(last_good, {"feed": "feed-2"}) is None
                # The blog, now feed-1, has never failed.
                assert registry.get_sample_value(failures, {"feed": "feed-1", "kind": "fetch"}) == 0
                assert registry.get_sample_value(last_good, {"feed": "feed-1"}) == 0
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
                await collector.close()

    asyncio.run(scenario())


def test_a_feed_of_one_brands_space_gives_its_entries_that_brand(rss_settings: Settings) -> None:
    """A feed whose every entry concerns one brand (its blog's comments, a Google Alert on its
    name): `brand` in its [[feeds]] table is the `brands` of each of its entries' raw mentions;
    the other feeds' entries carry none."""
    async def scenario() -> None:
        async with feed_server() as srv:
            comments = srv.serve("/comments.atom", "blog.atom")
            news = srv.serve("/news.rss", "news.rss")
            write_watchlist(rss_settings.watchlist, f"""
[[feeds]]
url = "{comments}"
name = "Acme blog comments"
platform = "blog"
brand = "acme"

[[feeds]]
url = "{news}"
""")
            assert [f.brand for f in load_feeds(rss_settings.watchlist)] == ["acme", None]
            await run_rss(rss_settings, once=True, collector=new_collector(rss_settings))
            got = await raw_on_topic(rss_settings, 4)
            by_platform = {(m["platform"], tuple(m.get("brands") or ())) for m in got}
            assert by_platform == {("blog", ("acme",)), ("news", ())}
            assert sum(1 for m in got if m.get("brands") == ["acme"]) == 2

    asyncio.run(scenario())


def test_a_feed_naming_a_brand_the_watch_list_lacks_is_refused_at_start(
        rss_settings: Settings, tmp_path: Path) -> None:
    """An unknown `brand` (a typo, a brand taken off) is a config error at start naming the feed
    and the id, as other feed errors are, and `veille match` warns of it."""
    import subprocess

    write_watchlist(rss_settings.watchlist, """
[[feeds]]
url = "https://blog.example/comments.atom"
name = "Acme blog comments"
brand = "acmee"
""")
    with pytest.raises(FeedConfigError, match="feed #1 \\('Acme blog comments'\\) "
                       "https://blog.example/comments.atom: `brand` 'acmee' is not the id of a "
                       "brand of the watch list \\(acme\\)"):
        load_feeds(rss_settings.watchlist)
    env = settings_env(rss_settings)
    env["VEILLE_COLLECTOR_METRICS_PORT"] = str(free_port())
    done = subprocess.run([sys.executable, "-m", "veille.collectors.rss", "--once"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 2, done.stderr
    assert "`brand` 'acmee' is not the id of a brand" in done.stderr and "comments.atom" in done.stderr
    for data, message in [
        ({"brands": [{"id": "acme"}], "feeds": [{"url": "https://x.example/f", "brand": ["acme"]}]},
         "`brand` ['acme'] is not the id"),
        ({"feeds": [{"url": "https://x.example/f", "brand": "acme"}]}, "no [[brands]] table"),
    ]:
        with pytest.raises(FeedConfigError) as caught:
            feeds_from_dict(data)
        assert message in str(caught.value)
    match = subprocess.run([sys.executable, "-m", "veille.cli", "match"], env=env, input="Acme\n",
                           capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert "warning: the RSS collector would refuse this watch list" in match.stderr
    assert "'acmee'" in match.stderr
