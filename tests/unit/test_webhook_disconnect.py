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


def test_a_client_that_hangs_up_is_a_disconnect_not_an_internal_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        settings = Settings.from_env({}).with_(webhook_port=0,
                                               collector_state_dir=str(tmp_path / "state"))
        metrics = CollectorMetrics(CollectorRegistry())
        sink = ListSink(settings, "webhook", metrics)
        c = WebhookCollector(settings, metrics, sink)
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
