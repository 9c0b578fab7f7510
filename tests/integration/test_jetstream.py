"""The Jetstream collector against a real local WebSocket server speaking Jetstream's format
(GET /subscribe?wantedCollections=...&cursor=...: its stored events after the cursor, then the
new ones as they come) and the real broker."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from prometheus_client import CollectorRegistry

from streams.records import RawMention
from streams.topics import MODERATION_DECISIONS
from tests.collector_helpers import SEARCH_WATCHLIST, running, save_settled, search_settings
from tests.conftest import ROOT, settings_env
from tests.integration.test_rss import wait_for
from tests.kafka_helpers import raw_on_topic, read_all
from veille.broker import free_port
from veille.collectors.base import BrokerUnavailable, MentionSink, Record
from veille.collectors.bluesky import post_to_dict
from veille.collectors.jetstream import CURSOR_FILE, JetstreamCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration
POST = "app.bsky.feed.post"
T0 = int(time.time() * 1_000_000) - 60_000_000  # a minute ago, in microseconds


def post_event(n: int, text: str, *, did: str = "did:plc:abc123", operation: str = "create",
               collection: str = POST, created: str | None = None) -> dict[str, Any]:
    """A commit event as Jetstream gives it, its time_us T0 + n ms."""
    record = {"$type": collection, "text": text, "langs": ["fr"],
              "createdAt": created or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
    commit: dict[str, Any] = {"rev": f"rev{n}", "operation": operation, "collection": collection,
                              "rkey": f"3l3qo2vut{n:04d}", "cid": f"bafy{n}"}
    if operation != "delete":
        commit["record"] = record
    return {"did": did, "time_us": T0 + n * 1000, "kind": "commit", "commit": commit}


def mention_id(event: dict[str, Any]) -> str:
    """The id the Bluesky search collector gives the same post."""
    c = event["commit"]
    return post_to_dict({"uri": f"at://{event['did']}/{POST}/{c['rkey']}", "record": c["record"]},
                        collected_at=datetime.now(UTC), max_text_chars=5000)["id"]


# ---------------------------------------------------------------------------------------------
# A real WebSocket server answering like Jetstream
# ---------------------------------------------------------------------------------------------


@dataclass
class Jetstream:
    """Stored events in time order (time_us, the message: a JSON text, or raw text / bytes);
    /subscribe sends those at or after `cursor` (all stored with no cursor: False: live only,
    as the real one) of the wanted collections (identity and account events always), no larger
    than maxMessageSizeBytes, then each new one as it is added."""

    events: list[tuple[int, str | bytes]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    url: str = ""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, *events: dict[str, Any] | str | bytes, time_us: int | None = None) -> None:
        for event in events:
            if isinstance(event, dict):
                when = event.get("time_us")
                stamp = when if isinstance(when, int) else (time_us or self._last())
                self.events.append((stamp, json.dumps(event)))
            else:
                self.events.append((time_us or self._last(), event))
        self._changed.set()

    def _last(self) -> int:
        return self.events[-1][0] if self.events else T0

    def _wanted(self, message: str | bytes, wanted: list[str], limit: int) -> bool:
        if len(message) > limit > 0:
            return False
        try:
            event = json.loads(message)
            collection = event["commit"]["collection"]
        except (ValueError, TypeError, KeyError):
            return True
        return not wanted or collection in wanted

    async def subscribe(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        query = {"cursor": request.query.get("cursor"),
                 "wantedCollections": request.query.getall("wantedCollections", []),
                 "maxMessageSizeBytes": request.query.get("maxMessageSizeBytes")}
        self.queries.append(query)
        self.sockets.add(ws)
        wanted = query["wantedCollections"]
        limit = int(query["maxMessageSizeBytes"] or 0)
        cursor = query["cursor"]
        pos = (len(self.events) if cursor is None
               else next((i for i, (t, _) in enumerate(self.events) if t >= int(cursor)),
                         len(self.events)))
        try:
            while not ws.closed:
                while pos < len(self.events) and not ws.closed:
                    _, message = self.events[pos]
                    pos += 1
                    if self._wanted(message, wanted, limit):
                        if isinstance(message, bytes):
                            await ws.send_bytes(message)
                        else:
                            await ws.send_str(message)
                self._changed.clear()
                try:
                    await asyncio.wait_for(self._changed.wait(), 0.1)
                except TimeoutError:
                    pass
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            self.sockets.discard(ws)
        return ws

    async def drop(self) -> None:
        """Close every connection (the server going away mid-stream)."""
        for ws in list(self.sockets):
            await ws.close()

    def connected(self) -> bool:
        return bool(self.sockets)


@asynccontextmanager
async def jetstream(port: int | None = None, srv: Jetstream | None = None) -> AsyncIterator[Jetstream]:
    srv = srv or Jetstream()
    app = web.Application()
    app.router.add_get("/subscribe", srv.subscribe)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port or 0).start()
    srv.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/subscribe"
    try:
        yield srv
    finally:
        await srv.drop()
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def j_settings(settings: Settings, tmp_path: Path) -> Settings:
    return search_settings(settings, tmp_path)


def new_collector(settings: Settings, sink: Any = None, **kwargs: Any) -> JetstreamCollector:
    metrics = sink.metrics if sink is not None else CollectorMetrics(CollectorRegistry())
    kwargs.setdefault("backoff_base", 0.05)
    kwargs.setdefault("backoff_max", 0.5)
    kwargs.setdefault("flush_seconds", 0.05)
    kwargs.setdefault("tick_seconds", 0.1)
    kwargs.setdefault("save_seconds", 0.0)
    return JetstreamCollector(settings, metrics, sink, **kwargs)


def sample(c: JetstreamCollector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels) or 0.0


def saved_cursor(settings: Settings) -> int | None:
    path = Path(settings.collector_state_dir, "jetstream", CURSOR_FILE)
    return json.loads(path.read_text())["cursor"] if path.exists() else None


class FlakySink(MentionSink):
    """The real sink, but the broker unreachable (BrokerUnavailable) while `down`."""

    down = False
    failed = 0

    async def send(self, mentions: Iterable[RawMention], timeout: float | None = None, *,
                   records: Iterable[Record] = ()) -> int:
        if self.down:
            self.failed += 1
            self.metrics.send_errors.labels(self.collector).inc()
            raise BrokerUnavailable("the broker is away (test)")
        return await super().send(mentions, timeout, records=records)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_posts_naming_a_brand_arrive_once_and_a_restart_resumes_from_the_cursor(
        j_settings: Settings) -> None:
    async def scenario() -> None:
        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url)
            a1 = post_event(1, "Encore une panne chez Acme, trois fois cette semaine #AcmeDown")
            quiet = post_event(2, "Il fait beau sur Lyon")
            b1 = post_event(3, "Boréal a changé sa fibre", did="did:plc:xyz789")
            ignored = [
                post_event(4, "Acme edited", operation="update"),
                post_event(5, "", operation="delete"),
                {"did": "did:plc:abc123", "time_us": T0 + 6000, "kind": "identity",
                 "identity": {"did": "did:plc:abc123", "handle": "camille.bsky.social"}},
                {"did": "did:plc:abc123", "time_us": T0 + 7000, "kind": "account",
                 "account": {"active": True}},
                post_event(8, "Acme like", collection="app.bsky.feed.like"),  # filtered out
            ]
            collector = new_collector(settings)
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                assert srv.queries[0] == {"cursor": None, "wantedCollections": [POST],
                                          "maxMessageSizeBytes": str(256 * 1024)}
                srv.add(a1, quiet, b1, *ignored)
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 2, what="two sent")
                await wait_for(lambda: saved_cursor(settings) == T0 + 7000, what="the cursor")
            assert sample(collector, "veille_jetstream_events_total", kind="post") == 3
            assert sample(collector, "veille_jetstream_events_total", kind="ignored") == 4
            assert sample(collector, "veille_jetstream_posts_matched_total") == 2
            assert sample(collector, "veille_jetstream_lag_seconds") > 0

            # Stopped; posts made meanwhile (one naming a brand, one not), then a restart: the
            # stream is read again from the cursor less the rewind (a1 and b1 come again: not
            # sent twice), and the new post naming a brand is sent.
            a2 = post_event(9, "Acme Mobile: no signal since 8am")
            srv.add(post_event(10, "nothing to see"), a2)
            restarted = new_collector(settings)
            async with running(restarted):
                await wait_for(lambda: sample(restarted, "veille_collector_items_sent_total",
                                              collector="jetstream") == 1, what="a2 sent")
                await wait_for(lambda: saved_cursor(settings) == T0 + 10_000, what="cursor")
            assert int(srv.queries[-1]["cursor"]) == T0 + 7000 - 5_000_000
            assert sample(restarted, "veille_jetstream_events_total", kind="post") == 5

            got = await raw_on_topic(settings, 3)
            by_id = {m["id"]: m for m in got}
            assert len(got) == 3 and set(by_id) == {mention_id(e) for e in (a1, b1, a2)}
            m = by_id[mention_id(a1)]
            rkey = a1["commit"]["rkey"]
            assert (m["platform"], m["source"], m["author"], m["language"], m["audience"]) == (
                "bluesky", "jetstream", "did:plc:abc123", "fr", None)
            assert m["url"] == f"https://bsky.app/profile/did:plc:abc123/post/{rkey}"
            assert m["text"] == a1["commit"]["record"]["text"]
            state = json.loads(Path(settings.collector_state_dir, "jetstream",
                                    CURSOR_FILE).read_text())
            assert set(state["recent"]) == {mention_id(e) for e in (a1, b1, a2)}

    asyncio.run(scenario())


def test_a_reply_of_the_brands_account_is_its_answer_on_moderation_decisions(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A customer's post naming Acme, and the reply of Acme's own account (listed in its
    `bluesky_accounts`): the post on mentions.raw, the reply not (it names Acme: its own); the
    reply as a `replied` decision of the post's case on moderation.decisions, keyed by the case
    id, acknowledged with the batch (the cursor past both only then)."""
    caplog.set_level(logging.INFO, logger="veille")
    acme = "did:plc:acmeacmeacmeacmeacme2345"
    Path(j_settings.watchlist_path).write_text(SEARCH_WATCHLIST.replace(
        'aliases = ["Acme Mobile"]', f'aliases = ["Acme Mobile"]\nbluesky_accounts = ["{acme}"]'),
        encoding="utf-8")

    async def scenario() -> None:
        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url)
            complaint = post_event(1, "Acme: my order never came, third email")
            reply = post_event(2, "Acme here: sorry! Sending you a DM", did=acme)
            parent = f"at://did:plc:abc123/{POST}/{complaint['commit']['rkey']}"
            reply["commit"]["record"]["reply"] = {"root": {"uri": parent, "cid": "bafy1"},
                                                  "parent": {"uri": parent, "cid": "bafy1"}}
            collector = new_collector(settings)
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                srv.add(complaint, reply, post_event(3, "nothing to see"))
                await wait_for(lambda: sample(collector, "veille_collector_answers_sent_total",
                                              collector="jetstream") == 1, what="the answer")
                await wait_for(lambda: saved_cursor(settings) == T0 + 3000, what="the cursor")
            assert sample(collector, "veille_collector_items_sent_total",
                          collector="jetstream") == 1
            [mention] = await raw_on_topic(settings, 1)
            assert mention["id"] == mention_id(complaint)
            [record] = await asyncio.to_thread(read_all, settings, MODERATION_DECISIONS, 1, 30.0,
                                               1.0)
            assert record.key == mention_id(complaint).encode()
            rkey = reply["commit"]["rkey"]
            assert json.loads(record.value) == {
                "case_id": mention_id(complaint), "decision": "replied", "moderator": acme,
                "decided_at": reply["commit"]["record"]["createdAt"],
                "reason": f"https://bsky.app/profile/{acme}/post/{rkey}", "answered_on": "bluesky"}
            # One answer, in the singular ("1 answers" until 2026-12-07).
            assert (f"jetstream: 1 answer of the brands' accounts sent to "
                    f"{settings.topic(MODERATION_DECISIONS)}") in [r.getMessage()
                                                                   for r in caplog.records]

    asyncio.run(scenario())


def test_the_server_dropping_the_connection_and_coming_back_loses_nothing(
        j_settings: Settings) -> None:
    async def scenario() -> None:
        port = free_port()
        srv = Jetstream()
        async with jetstream(port, srv):
            settings = j_settings.with_(jetstream_url=srv.url)
            collector = new_collector(settings)
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                srv.add(post_event(1, "Acme one"), post_event(2, "quiet"))
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 1, what="one sent")
                # Dropped mid-stream; posts made while the collector connects again.
                await srv.drop()
                srv.add(post_event(3, "Acme two"), post_event(4, "Boréal three"))
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 3, what="three sent")
                assert sample(collector, "veille_jetstream_reconnects_total", cause="closed") >= 1
        # The server gone altogether (unreachable), its posts going on meanwhile, then back on
        # the same port.
        srv.add(post_event(5, "Acme four"))
        collector = new_collector(settings)
        async with running(collector):
            await wait_for(lambda: sample(collector, "veille_jetstream_reconnects_total",
                                          cause="unreachable") >= 2, what="failed connections")
            assert sample(collector, "veille_jetstream_connected") == 0
            async with jetstream(port, srv):
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 1, what="four sent")
                assert sample(collector, "veille_jetstream_connected") == 1
        got = await raw_on_topic(settings, 4)
        assert sorted(m["text"] for m in got) == ["Acme four", "Acme one", "Acme two",
                                                   "Boréal three"]

    asyncio.run(scenario())


def test_an_instance_that_cannot_be_reached_is_left_for_the_next(j_settings: Settings) -> None:
    """VEILLE_JETSTREAM_URL lists several instances: the collector goes to the next when one
    gives no event (here: nothing listens), and reads its posts from the cursor."""
    async def scenario() -> None:
        async with jetstream() as srv:
            down = f"ws://127.0.0.1:{free_port()}/subscribe"
            settings = j_settings.with_(jetstream_url=f"{down},{srv.url}")
            collector = new_collector(settings)
            async with running(collector):
                await wait_for(srv.connected, what="a connection to the second instance")
                srv.add(post_event(1, "Acme on the second instance"))
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 1, what="one sent")
                assert collector.url == srv.url
                assert sample(collector, "veille_jetstream_reconnects_total",
                              cause="unreachable") == 1

    asyncio.run(scenario())


def test_malformed_events_are_refused_and_counted_while_good_ones_go_through(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url)
            collector = new_collector(settings)
            no_record = post_event(3, "Acme")
            del no_record["commit"]["record"]
            bad_did = post_event(4, "Acme")
            bad_did["did"] = "not a did\x1b[2J"
            bad_date = post_event(5, "Acme, a post with a date that is none",
                                  created="yesterday\nFAKE LOG LINE")
            ahead = post_event(6, "Boréal from the future", created="2099-01-01T00:00:00Z")
            good = post_event(7, "Acme survives all of it")
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                srv.add("{not json", "[1, 2]", {"kind": "commit", "did": "did:plc:x"},
                        no_record, bad_did, bad_date, b"\x00binary", ahead, good)
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 2, what="two sent")
            refused = {r: sample(collector, "veille_collector_items_refused_total",
                                 collector="jetstream", reason=r)
                       for r in ("invalid_json", "not_an_object", "missing_field",
                                 "invalid_field", "unsupported")}
            assert refused == {"invalid_json": 1, "not_an_object": 1, "missing_field": 2,
                               "invalid_field": 2, "unsupported": 1}, refused
            assert sample(collector, "veille_jetstream_events_total", kind="refused") == 6
            got = {m["text"]: m for m in await raw_on_topic(settings, 2)}
            assert set(got) == {"Acme survives all of it", "Boréal from the future"}
            # Dated ahead by the poster's device: dated when Jetstream saw it.
            assert got["Boréal from the future"]["created_at"].startswith(
                time.strftime("%Y-%m-%dT%H:%M", time.gmtime(ahead["time_us"] / 1e6)))
            # What the network sent is escaped in the log: no line of its own, no escape code.
            text = caplog.text
            assert "\nFAKE LOG LINE" not in text and "\x1b" not in text

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())


def test_the_broker_away_for_a_while_loses_nothing_and_sends_nothing_twice(
        j_settings: Settings) -> None:
    async def scenario() -> None:
        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url)
            metrics = CollectorMetrics(CollectorRegistry())
            sink = FlakySink(settings, "jetstream", metrics)
            collector = new_collector(settings, sink)
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                srv.add(post_event(1, "Acme one"))
                await wait_for(lambda: saved_cursor(settings) == T0 + 1000, what="a cursor")
                sink.down = True
                srv.add(post_event(2, "Acme two"), post_event(3, "quiet"),
                        post_event(4, "Boréal three"))
                await wait_for(lambda: sink.failed >= 2, what="failed sends")
                assert sample(collector, "veille_jetstream_reconnects_total", cause="broker") >= 1
                assert saved_cursor(settings) == T0 + 1000  # not past what was not acknowledged
                sink.down = False
                await wait_for(lambda: saved_cursor(settings) == T0 + 4000, what="the cursor")
            got = await raw_on_topic(settings, 3)
            assert sorted(m["text"] for m in got) == ["Acme one", "Acme two", "Boréal three"]

    asyncio.run(scenario())


def test_a_changed_watch_list_is_followed(j_settings: Settings) -> None:
    async def scenario() -> None:
        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url, watchlist_reload_seconds=0.1)
            collector = new_collector(settings)
            async with running(collector):
                await wait_for(srv.connected, what="a connection")
                srv.add(post_event(1, "Zorglub is down"))
                await wait_for(lambda: sample(collector, "veille_jetstream_events_total",
                                              kind="post") == 1, what="a post read")
                save_settled(settings.watchlist, SEARCH_WATCHLIST
                             + '\n[[brands]]\nid = "zorglub"\nname = "Zorglub"\n')
                await wait_for(lambda: len(collector.watchlist.brands) == 3 if collector.watchlist
                               else False, what="the new watch list")
                srv.add(post_event(2, "Zorglub is down again"))
                await wait_for(lambda: sample(collector, "veille_collector_items_sent_total",
                                              collector="jetstream") == 1, what="one sent")
            (got,) = await raw_on_topic(settings, 1)
            assert got["text"] == "Zorglub is down again"

    asyncio.run(scenario())


def test_the_command_stops_on_sigterm_with_its_cursor_saved_and_refuses_a_bad_url(
        j_settings: Settings) -> None:
    async def scenario() -> None:
        bad = j_settings.with_(jetstream_url="ws://jetstream.example/subscribe")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "veille.collectors.jetstream", env=settings_env(bad),
            cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, err
        assert b"veille: error: VEILLE_JETSTREAM_URL='ws://jetstream.example/subscribe' is ws://" \
            in err and b"Traceback" not in err

        async with jetstream() as srv:
            settings = j_settings.with_(jetstream_url=srv.url)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "veille.collectors.jetstream", env=settings_env(settings),
                cwd=str(ROOT), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                await wait_for(srv.connected, timeout=60, what="the command's connection")
                srv.add(post_event(1, "Acme via the command"), post_event(2, "quiet"))
                (got,) = await raw_on_topic(settings, 1)
                assert got["text"] == "Acme via the command"
                proc.send_signal(signal.SIGTERM)
                _, err = await asyncio.wait_for(proc.communicate(), 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
            assert proc.returncode == 0, err
            assert saved_cursor(settings) == T0 + 2000

    asyncio.run(scenario())


def test_a_server_that_accepts_and_never_answers_is_given_up_and_tried_again(
        j_settings: Settings) -> None:
    """A connection whose handshake gets no answer (a server hung, a proxy holding it) is given
    up after the connect timeout and made again, rather than waited on for ever."""
    async def scenario() -> None:
        held: list[asyncio.StreamWriter] = []

        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # reads nothing, answers nothing

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            collector = new_collector(
                j_settings.with_(jetstream_url=f"ws://127.0.0.1:{port}/subscribe"),
                connect_timeout=0.3)
            async with running(collector):
                await wait_for(lambda: len(held) >= 2, what="a second try")
                assert sample(collector, "veille_jetstream_reconnects_total",
                              cause="unreachable") >= 1
        finally:
            for w in held:
                w.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_the_server_sees_a_websocket_closed_properly(j_settings: Settings) -> None:
    """A stop closes the socket with a close frame (the server is not left with a dead peer)."""
    async def scenario() -> None:
        closes: list[Any] = []

        async def subscribe(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                closes.append(msg.type)
            closes.append(WSMsgType.CLOSE)
            return ws

        app = web.Application()
        app.router.add_get("/subscribe", subscribe)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            url = f"ws://127.0.0.1:{runner.addresses[0][1]}/subscribe"
            collector = new_collector(j_settings.with_(jetstream_url=url))
            async with running(collector):
                await wait_for(lambda: collector.connections == 1, what="a connection")
            await wait_for(lambda: WSMsgType.CLOSE in closes, what="the close")
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
