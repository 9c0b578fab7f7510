"""The moderation API's connections, on a real socket, with no broker (a stand-in store)."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.test_webhook_disconnect import closed_within
from veille.moderate.api import ModerationApi
from veille.settings import Settings

TOKEN = "t" * 32


class _Store:
    """ModerationStore's stand-in: nothing to read, no broker."""

    view: object = None

    def refresh(self) -> object:
        return self.view

    def close(self) -> None:
        pass


def test_connections_that_never_send_a_whole_request_are_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review (2026-12-06): a connection that sent nothing, or headers without their
    final blank line, a line at a time, was kept an hour (aiohttp's keep-alive timeout), before
    any token was asked. Now closed IDLE_SECONDS after it opened; /healthz is served meanwhile."""
    import veille.moderate.api as api_module

    monkeypatch.setattr(api_module, "IDLE_SECONDS", 1.0, raising=False)
    settings = Settings.from_env({}).with_(moderation_api_port=0, moderation_api_token=TOKEN)

    async def scenario() -> None:
        api = ModerationApi(settings, store=_Store())  # type: ignore[arg-type]
        await api.start()
        try:
            silent = await asyncio.open_connection("127.0.0.1", api.port)
            slow = await asyncio.open_connection("127.0.0.1", api.port)
            slow[1].write(b"GET /cases HTTP/1.1\r\nHost: x\r\n")

            async def dribble() -> None:
                for n in range(30):
                    slow[1].write(b"X-Slow-%d: 1\r\n" % n)
                    await asyncio.sleep(0.3)

            dribbling = asyncio.create_task(dribble())
            reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            writer.close()
            assert await closed_within(silent[0], 4.0)
            assert await closed_within(slow[0], 4.0)
            dribbling.cancel()
            for _, w in (silent, slow):
                w.close()
        finally:
            await api.stop()

    asyncio.run(scenario())


def test_a_malformed_request_logs_no_traceback_nor_the_token(
        caplog: pytest.LogCaptureFixture) -> None:
    """Found in review (2026-12-06): a request aiohttp's parser refuses (a control character in a
    header, a malformed Content-Length) was logged by aiohttp.server at ERROR with a traceback
    quoting the offending header line: an Authorization header with a stray byte wrote the
    moderation API's token in the log, and anyone, without a token, could write ten-line
    tracebacks of their choosing at will. As the webhook does since 2026-12-05, aiohttp's own
    error lines now keep the exception's type alone; the client still gets aiohttp's 400."""
    import logging

    settings = Settings.from_env({}).with_(moderation_api_port=0, moderation_api_token=TOKEN)
    sent = [b"GET /cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\x01\r\n\r\n",
            b"GET /cases HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n"]

    async def scenario() -> list[bytes]:
        api = ModerationApi(settings, store=_Store())  # type: ignore[arg-type]
        await api.start()
        answers = []
        try:
            for raw in sent:
                reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
                writer.write(raw)
                answers.append(await asyncio.wait_for(reader.read(), 5))
                writer.close()
        finally:
            await api.stop()
        return answers

    with caplog.at_level(logging.DEBUG):
        answers = asyncio.run(scenario())
    assert all(a.startswith(b"HTTP/1.") and b" 400 " in a.split(b"\r\n")[0] for a in answers)
    ours = [r for r in caplog.records if r.name.startswith(("aiohttp", "veille"))]
    assert any("Error handling request" in r.getMessage() for r in ours)
    for r in ours:
        assert r.exc_info is None and r.exc_text is None, r.getMessage()
        assert TOKEN not in r.getMessage() and "Traceback" not in r.getMessage()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.1:8081", True), ("[::1]", True), ("[::1]:8081", True),
    ("localhost", True), ("moderation.localhost:8081", True), ("LOCALHOST.:8081", True),
    # urlsplit reads the name out of these and ignores what follows it: refused.
    ("[::1]x", False), ("[::1]evil.example", False), ("[::1]:8081x", False),
    ("127.0.0.1:80:80", False), ("evil.example", False), ("127.0.0.1.evil.example", False),
    ("", False), ("[::1", False),
])
def test_only_a_loopback_name_with_nothing_after_it_but_a_port_names_this_machine(
        host: str, loopback: bool) -> None:
    """Without a token the API answers only requests whose Host names this machine (DNS
    rebinding). Found in review (2026-12-06): `[::1]x` passed, read as ::1 by urlsplit."""
    from veille.moderate.api import _names_this_machine

    assert _names_this_machine(host) is loopback
