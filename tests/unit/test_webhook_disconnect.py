"""The webhook collector when a client goes away in the middle of its request: a client
disconnect, logged as such (not as an internal error), and the collector keeps serving."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


async def hang_up_mid_body(port: int) -> None:
    """Send headers announcing a body, part of it, then reset the connection."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, b"POST /mentions HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: 100000\r\n"
                                  b"\r\n[{\"text\": \"acme")
    await asyncio.sleep(0.2)  # the handler is reading the body
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    sock.close()


def collector(tmp_path: Path) -> tuple[WebhookCollector, ListSink]:
    """A collector on a free port writing to a list, not started."""
    settings = Settings.from_env({}).with_(webhook_port=0, collector_state_dir=str(tmp_path / "state"))
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "webhook", metrics)
    return WebhookCollector(settings, metrics, sink), sink


def test_a_client_that_hangs_up_is_a_disconnect_not_an_internal_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        c, sink = collector(tmp_path)
        await c.start()
        try:
            await hang_up_mid_body(c.port)
            deadline = time.monotonic() + 10
            while not any("disconnect" in r.getMessage() or "internal error" in r.getMessage()
                          for r in caplog.records) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            # Still serving.
            now = datetime.now(UTC).isoformat()
            async with aiohttp.ClientSession() as http, http.post(
                    c.url + "/mentions", json={"text": "acme ok", "platform": "x",
                                               "created_at": now}) as resp:
                assert resp.status == 202
        finally:
            await c.stop()
            await c.close()
        assert len(sink.sent) == 1

    with caplog.at_level(logging.DEBUG, logger="veille.collectors.webhook"):
        asyncio.run(scenario())
    messages = [(r.levelno, r.getMessage()) for r in caplog.records
                if r.name == "veille.collectors.webhook"]
    assert not [m for level, m in messages if level >= logging.WARNING], messages
    assert any("client disconnected during POST /mentions" in m for _, m in messages), messages


async def stall_mid_body(port: int, length: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send headers announcing `length` bytes of body, then one byte of it, and wait."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /mentions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n[" % length)
    await writer.drain()
    return reader, writer


async def answer_of(reader: asyncio.StreamReader, within: float) -> tuple[int, bytes, bool]:
    """The status, body and whether the connection is to close, of the answer read."""
    async def read() -> tuple[int, bytes, bool]:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        return int(head.split()[1]), await reader.readexactly(length), "connection: close" in head

    return await asyncio.wait_for(read(), within)


def test_a_body_that_never_arrives_in_full_is_answered_and_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review (2026-12-05): a client announcing a body and sending one byte less held its
    connection, and the bytes read so far, for ever (200 of them: 250 MB), and nothing bounded
    the bodies being received at once. A body late past BODY_READ_SECONDS is now a 408 (the
    connection closed); beyond MAX_READING_BYTES of bodies being received, a request is a 503
    `overloaded` at once, without reading it; a good request goes through meanwhile."""
    import veille.collectors.webhook as webhook

    monkeypatch.setattr(webhook, "BODY_READ_SECONDS", 1.5)
    monkeypatch.setattr(webhook, "MAX_READING_BYTES", 3 * 2**20 + 2**16)  # 3 bodies of 1 MiB, and room

    async def scenario() -> None:
        c, sink = collector(tmp_path)
        await c.start()
        try:
            stalled = [await stall_mid_body(c.port, 2**20) for _ in range(3)]  # 3 MiB reserved
            await asyncio.sleep(0.3)
            reader, writer = await stall_mid_body(c.port, 2**20)
            status, body, closing = await answer_of(reader, 1.0)  # at once: no room to receive it
            assert (status, b'"overloaded"' in body, closing) == (503, True, True)
            writer.close()
            now = datetime.now(UTC).isoformat()
            async with aiohttp.ClientSession() as http, http.post(  # small: fits beside them
                    c.url + "/mentions", json={"text": "acme ok", "platform": "x",
                                               "created_at": now}) as resp:
                assert resp.status == 202
            for reader, writer in stalled:
                status, body, closing = await answer_of(reader, 5.0)
                assert (status, b'"request_timeout"' in body, closing) == (408, True, True)
                writer.close()
            assert c._reading_bytes == 0
        finally:
            await c.stop()
            await c.close()
        assert [m.text for m in sink.sent] == ["acme ok"]

    asyncio.run(scenario())


async def closed_within(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server closes the connection within `within` seconds (whatever it sends
    before: aiohttp answers nothing to a request it never got whole)."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


def test_connections_that_never_send_a_whole_request_are_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review (2026-12-06): a connection that sent nothing, or a request's headers
    without their final blank line (slowloris: a header line every few seconds), was kept for
    an hour (aiohttp's own keep-alive timeout, 3,630 s, from the connection): a few thousand of
    them from one machine held as many sockets of the public webhook. Such a connection is now
    closed IDLE_SECONDS after it opened (or after its last answer), and the collector serves
    meanwhile."""
    import veille.collectors.webhook as webhook

    monkeypatch.setattr(webhook, "IDLE_SECONDS", 1.0, raising=False)

    async def scenario() -> None:
        c, sink = collector(tmp_path)
        await c.start()
        try:
            silent = await asyncio.open_connection("127.0.0.1", c.port)
            slow = await asyncio.open_connection("127.0.0.1", c.port)
            slow[1].write(b"POST /mentions HTTP/1.1\r\nHost: x\r\n")

            async def dribble() -> None:  # a header line every 0.3 s, never the blank line
                for n in range(30):
                    slow[1].write(b"X-Slow-%d: 1\r\n" % n)
                    await asyncio.sleep(0.3)

            dribbling = asyncio.create_task(dribble())
            now = datetime.now(UTC).isoformat()
            async with aiohttp.ClientSession() as http, http.post(
                    c.url + "/mentions", json={"text": "acme ok", "platform": "x",
                                               "created_at": now}) as resp:
                assert resp.status == 202
            assert await closed_within(silent[0], 4.0)
            assert await closed_within(slow[0], 4.0)
            dribbling.cancel()
            for _, writer in (silent, slow):
                writer.close()
        finally:
            await c.stop()
            await c.close()
        assert [m.text for m in sink.sent] == ["acme ok"]

    asyncio.run(scenario())
