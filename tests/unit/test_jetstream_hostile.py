"""The Jetstream collector against a hostile or broken instance: a raw local WebSocket server
(the handshake by hand, then whatever frames a test writes) and no broker (ListSink). Whatever
the network sends, the collector neither follows it elsewhere nor stops reading for good."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.abc
import pytest
from prometheus_client import CollectorRegistry

from streams.records import DLQ_REASONS
from tests.collector_helpers import SEARCH_WATCHLIST, ListSink, running, save_settled
from veille.collectors.jetstream import JetstreamCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings

T0 = int(time.time() * 1_000_000) - 60_000_000
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def event(n: int, text: str = "Acme again", **changes: Any) -> str:
    e: dict[str, Any] = {
        "did": "did:plc:abc123", "time_us": T0 + n * 1000, "kind": "commit",
        "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"3l3qo{n:04d}",
                   "record": {"text": text, "createdAt": "2026-12-07T00:00:00Z"}}}
    e.update(changes)
    return json.dumps(e)


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A server's (unmasked) WebSocket frame."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


class RawServer:
    """Answers each connection's handshake (101, or `status` with `headers`), records its request
    line, then hands the socket to `handler`."""

    def __init__(self, handler: Handler | None = None, *, status: int = 101,
                 headers: str = "") -> None:
        self.handler = handler
        self.status = status
        self.headers = headers
        self.requests: list[str] = []
        self.handshakes: list[list[str]] = []  # each request's lines
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            self.requests.append(lines[0])
            self.handshakes.append(lines)
            key = next(v.strip() for k, _, v in (line.partition(":") for line in lines)
                       if k.lower() == "sec-websocket-key")
            if self.status != 101:
                writer.write(f"HTTP/1.1 {self.status} Go\r\n{self.headers}"
                             "Content-Length: 0\r\n\r\n".encode())
                await writer.drain()
                return
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                          f"{self.headers}\r\n").encode())
            await writer.drain()
            if self.handler is not None:
                await self.handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[RawServer]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()


async def answer_pings(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read the client's frames until it closes, answering its pings: a live peer."""
    while True:
        head = await reader.readexactly(2)
        n = head[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(n)))
        if head[0] & 0x0F == 0x9:
            writer.write(frame(0xA, data))
            await writer.drain()
        elif head[0] & 0x0F == 0x8:
            return


@pytest.fixture
def j_settings(tmp_path: Path) -> Settings:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(SEARCH_WATCHLIST, encoding="utf-8")
    return Settings.from_env({}, collector_state_dir=str(tmp_path / "collectors"),
                             watchlist=str(watchlist), data_dir=str(tmp_path / "data"))


def new_collector(settings: Settings, url: str, **kwargs: Any) -> tuple[JetstreamCollector, ListSink]:
    settings = settings.with_(jetstream_url=url)
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "jetstream", metrics)
    for name, value in (("backoff_base", 0.05), ("backoff_max", 0.2), ("flush_seconds", 0.05),
                        ("tick_seconds", 0.05), ("save_seconds", 0.0)):
        kwargs.setdefault(name, value)
    return JetstreamCollector(settings, metrics, sink, **kwargs), sink


def sample(c: JetstreamCollector, name: str, **labels: str) -> float:
    return c.metrics.registry.get_sample_value(name, labels) or 0.0


async def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_redirect_on_the_handshake_is_refused_not_followed(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A 302 to another host, in clear text: the collector does not go there (aiohttp follows
    redirects by default, wss:// to http:// included); it logs the refusal and tries again."""
    async def scenario() -> None:
        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(frame(0x1, event(1).encode()))
            await answer_pings(reader, writer)

        elsewhere = RawServer(stream)
        async with elsewhere.serving():
            redirect = RawServer(status=302,
                                 headers=f"Location: http://localhost:{elsewhere.port}/subscribe\r\n")
            async with redirect.serving():
                collector, sink = new_collector(j_settings, redirect.url)
                async with running(collector, stop_timeout=10):
                    await wait_for(lambda: len(redirect.requests) >= 2, what="a second try")
                assert elsewhere.requests == [] and sink.sent == []
                assert sample(collector, "veille_jetstream_reconnects_total", cause="unreachable") >= 1
        assert "HTTP 302 a redirect to 'http://localhost:" in caplog.text

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())


def test_a_flood_of_malformed_events_is_counted_whole_and_logged_thinned(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """5,000 malformed events: each counted, a few logged and the rest said in one line (not a
    log line each: an instance's flood filled the disk), and the stream goes on."""
    async def scenario() -> None:
        async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(frame(0x1, b"{not json") * 5000 + frame(0x1, event(1).encode()))
            await answer_pings(reader, writer)

        async with RawServer(flood).serving() as srv:
            collector, sink = new_collector(j_settings, srv.url)
            async with running(collector, stop_timeout=10):
                await wait_for(lambda: len(sink.sent) == 1, what="the good event sent")
        assert sample(collector, "veille_collector_items_refused_total", collector="jetstream",
                      reason="invalid_json") == 5000
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) <= 11, len(refusals)
        assert any("4990 more events refused" in r.getMessage() for r in refusals)

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())


def test_an_instance_that_answers_pings_but_sends_nothing_is_left(j_settings: Settings) -> None:
    """A connection open, its pings answered, and no event (an instance hung, or hostile): the
    collector gives it up after idle_seconds and goes to the next instance; before, it stayed
    on it for ever (the heartbeat alone cannot tell)."""
    async def scenario() -> None:
        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(frame(0x1, event(1).encode()))
            await answer_pings(reader, writer)

        async with RawServer(answer_pings).serving() as silent, RawServer(stream).serving() as good:
            collector, sink = new_collector(j_settings, f"{silent.url},{good.url}",
                                            heartbeat=0.1, idle_seconds=0.5)
            async with running(collector, stop_timeout=10):
                await wait_for(lambda: len(sink.sent) == 1, what="the second instance's post")
            assert len(silent.requests) == 1 and collector.url == good.url
            assert sample(collector, "veille_jetstream_reconnects_total", cause="closed") == 1

    asyncio.run(scenario())


def test_a_saved_cursor_far_ahead_of_the_clock_is_resumed_from_now(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """cursor.json holding a time in 2255 (written with the clock wrong, or by hand): the
    collector asks from now (the clock, a minute ahead at the most), and the cursor it saves
    moves on with the events; before, it asked from 2255 at every restart and no event ever
    moved it."""
    async def scenario() -> None:
        state = Path(j_settings.collector_state_dir, "jetstream")
        state.mkdir(parents=True)
        poisoned = 9_000_000_000_000_000
        (state / "cursor.json").write_text(json.dumps({"version": 1, "cursor": poisoned,
                                                        "recent": {}}))
        now_us = int(time.time() * 1_000_000)

        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(frame(0x1, event(1, time_us=now_us + 120_000_000).encode()))
            await answer_pings(reader, writer)

        async with RawServer(stream).serving() as srv:
            collector, sink = new_collector(j_settings, srv.url)
            async with running(collector, stop_timeout=10):
                await wait_for(lambda: len(sink.sent) == 1, what="the post")
            asked = int(srv.requests[0].split("cursor=")[1].split()[0].split("&")[0])
            assert now_us - 10_000_000 < asked <= int(time.time() * 1_000_000) + 60_000_000
            saved = json.loads((state / "cursor.json").read_text())["cursor"]
            assert saved < poisoned and saved <= int(time.time() * 1_000_000) + 60_000_000
        assert "ahead of the clock; resuming from now" in caplog.text

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())


def stored(events: list[tuple[int, bytes]]) -> Callable[[RawServer], Handler]:
    """A handler sending the frames of `events` (time_us, frame) at or after the request's
    cursor, as Jetstream does, then answering pings."""
    def handler(srv: RawServer) -> Handler:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = srv.requests[-1]
            cursor = int(line.split("cursor=")[1].split()[0].split("&")[0]) if "cursor=" in line else 0
            writer.write(b"".join(f for t, f in events if t >= cursor))
            await answer_pings(reader, writer)
        return serve
    return handler


@pytest.mark.parametrize("unreadable", [
    frame(0x1, b'{"did": "did:plc:abc123", "text": "\xff\xfe"}'),  # text that is not UTF-8
    struct.pack("!BBQ", 0x81, 127, 2**62),  # a frame of 4 EiB, as its header says
], ids=["invalid-utf8", "too-large"])
def test_a_message_that_cannot_be_read_does_not_stop_the_stream_for_good(
        j_settings: Settings, unreadable: bytes) -> None:
    """A message the WebSocket layer refuses closes the connection, and the next one, from the
    same cursor, meets it again: the second time at the same place, the collector asks from a
    little past the last event read and goes on; before, it connected again and again, for ever,
    never reading past it."""
    async def scenario() -> None:
        srv = RawServer()
        srv.handler = stored([(T0 + 1000, frame(0x1, event(1).encode())),
                              (T0 + 1500, unreadable),
                              (T0 + 2000, frame(0x1, event(2, "Acme after it").encode()))])(srv)
        async with srv.serving():
            state = Path(j_settings.collector_state_dir, "jetstream")
            state.mkdir(parents=True)
            (state / "cursor.json").write_text(json.dumps({"version": 1, "cursor": T0,
                                                            "recent": {}}))
            collector, sink = new_collector(j_settings, srv.url)
            async with running(collector, stop_timeout=10):
                await wait_for(lambda: [m.text for m in sink.sent] == ["Acme again", "Acme after it"],
                               what="the post after the unreadable message")
            assert len(srv.requests) == 3
            assert json.loads((state / "cursor.json").read_text())["cursor"] == T0 + 2000

    asyncio.run(scenario())


@pytest.mark.parametrize("kind", ["fifo", "huge", "not-utf8", "nested"])
def test_a_damaged_state_file_is_moved_aside_and_the_collector_starts_live(
        j_settings: Settings, caplog: pytest.LogCaptureFixture, kind: str) -> None:
    """cursor.json that is a FIFO (its open held the start for ever), larger than a state can be
    (read whole: a symlink to /dev/zero took all the memory; not tried here, a regression
    would take this machine's), not UTF-8, or nested beyond the parser: moved aside, logged,
    started live."""
    state = Path(j_settings.collector_state_dir, "jetstream")
    state.mkdir(parents=True)
    path = state / "cursor.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "huge":
        with path.open("wb") as f:  # sparse: 64 MiB, none of it on disk
            f.truncate(64 * 1024 * 1024)
    elif kind == "not-utf8":
        path.write_bytes(b'{"version": 1, "cursor": \xff}')
    else:
        path.write_text("[" * 100_000)

    async def scenario() -> None:
        async with RawServer(answer_pings).serving() as srv:
            collector, _ = new_collector(j_settings, srv.url)
            await asyncio.wait_for(collector.start(), 5)
            try:
                assert collector.book.acked is None and collector.subscribe_url().query.get(
                    "cursor") is None
            finally:
                await collector.close()

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())
    assert "is unreadable" in caplog.text and "moved aside, starting live" in caplog.text
    assert (state / "cursor.corrupt").exists()
    if kind == "huge":
        assert f"larger than {4 * 1024 * 1024} bytes" in caplog.text
    if kind == "fifo":
        assert "not a regular file" in caplog.text


def label_values(c: JetstreamCollector) -> dict[str, set[str]]:
    """Every label's values on the collector's registry (but the watch list's, made at start)."""
    labels: dict[str, set[str]] = {}
    for family in c.metrics.registry.collect():
        if not family.name.startswith("veille_watchlist"):
            for smp in family.samples:
                for key, value in smp.labels.items():
                    labels.setdefault(key, set()).add(value)
    return labels


def refused_reasons(c: JetstreamCollector) -> set[tuple[str, str]]:
    """(collector, reason) of the refusals counted."""
    return {(smp.labels["collector"], smp.labels["reason"])
            for family in c.metrics.registry.collect() for smp in family.samples
            if smp.name == "veille_collector_items_refused_total" and smp.value}


def test_hostile_events_leave_the_labels_bounded_and_the_watch_list_in_use(
        j_settings: Settings) -> None:
    """Held: what the network sends never becomes a metric label (reasons, kinds and causes are
    fixed sets), compression is not asked for (no inflating a stranger's frames), and a watch
    list changed into one that does not load leaves the one in use."""
    async def scenario() -> None:
        hostile = [b"{", b"[1]", b'{"time_us": 1e400, "kind": "x"}', b'{"time_us": NaN}',
                   b'{"time_us": -5, "kind": "commit"}',
                   b'{"time_us": ' + b"9" * 5000 + b"}",
                   event(2, did="did:plc:x\u2028y").encode(), event(3, kind="\u202e" * 50).encode(),
                   event(4, commit={"operation": "create", "collection": "app.bsky.feed.post",
                                    "rkey": "a#b?c", "record": {}}).encode(),
                   event(5, "Acme \ud800 lone").encode()]
        sent_first = asyncio.Event()

        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"".join(frame(0x1, m) for m in hostile) + frame(0x2, b"\x00"))
            writer.write(frame(0x1, event(6, "Acme before the change").encode()))
            await writer.drain()
            await sent_first.wait()
            writer.write(frame(0x1, event(7, "Acme after the change").encode()))
            await answer_pings(reader, writer)

        settings = j_settings.with_(watchlist_reload_seconds=0.05)
        async with RawServer(stream).serving() as srv:
            collector, sink = new_collector(settings, srv.url)
            before = label_values(collector)
            async with running(collector, stop_timeout=10):
                await wait_for(lambda: len(sink.sent) == 1, what="the first post")
                save_settled(settings.watchlist, "[[brands]\nid = ")  # not TOML
                await wait_for(lambda: (collector.metrics.registry.get_sample_value(
                    "veille_watchlist_refused") or 0) == 1, what="the change refused")
                sent_first.set()
                await wait_for(lambda: len(sink.sent) == 2, what="the second post")
            assert [m.text for m in sink.sent] == ["Acme before the change", "Acme after the change"]
            assert not any("Sec-WebSocket-Extensions" in line for line in srv.handshakes[0])
            after = label_values(collector)
        assert after == before  # the reasons met were all declared beforehand
        assert {r for (name, r) in refused_reasons(collector)} <= set(DLQ_REASONS) | {
            "payload_too_large", "unsupported"}
        assert sample(collector, "veille_jetstream_events_total", kind="refused") >= 9

    asyncio.run(scenario())


def local_address() -> str | None:
    """An address of this machine that is not a loopback one (None without a network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


def test_ws_to_a_localhost_name_that_resolves_elsewhere_is_refused(
        j_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """ws://jetstream.localhost (allowed without TLS: this machine) resolved by DNS to another
    address: the connection is refused once made (the peer is no loopback address), nothing is
    read; before, the collector read that host's stream in clear text."""
    elsewhere = local_address()
    if elsewhere is None:
        pytest.skip("no non-loopback address on this machine")

    class Resolver(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0,
                          family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
            return [{"hostname": host, "host": elsewhere, "port": port, "family": socket.AF_INET,
                     "proto": 0, "flags": socket.AI_NUMERICHOST}]

        async def close(self) -> None:
            pass

    async def scenario() -> None:
        async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(frame(0x1, event(1).encode()))
            await answer_pings(reader, writer)

        srv = RawServer(stream)
        server = await asyncio.start_server(srv._serve, elsewhere, 0)
        port = server.sockets[0].getsockname()[1]
        try:
            collector, sink = new_collector(j_settings, f"ws://jetstream.localhost:{port}/subscribe")
            await collector.start()
            assert collector._session is not None
            await collector._session.close()
            collector._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=Resolver()))
            task = asyncio.create_task(collector.run())
            try:
                await wait_for(lambda: len(srv.requests) >= 2, what="two tries")
            finally:
                await collector.stop()
                await asyncio.wait_for(task, 10)
                await collector.close()
            assert sink.sent == [] and collector.connections == 0
            assert sample(collector, "veille_jetstream_events_total", kind="post") == 0
        finally:
            server.close()
        assert f"ws:// reached {elsewhere}, not this machine" in caplog.text

    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        asyncio.run(scenario())
