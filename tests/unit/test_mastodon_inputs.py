"""The Mastodon collector against a hostile or broken instance and bad settings, on a real local
HTTP server: an endless body, odd status ids, absurd rate-limit headers, a bad URL or interval.
Each ends in a clear error at start, a refused-and-counted status or a failed hashtag for the
round; never a traceback, a hang or unbounded memory."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from tests.http_helpers import serve
from veille import cli
from veille.collectors.mastodon import (
    MAX_BODY_BYTES,
    MastodonCollector,
    MastodonConfigError,
    MastodonRoundFailed,
    run_mastodon,
)
from veille.metrics import CollectorMetrics
from veille.settings import Settings, SettingsError

NOW = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
ROUTE = "/api/v1/timelines/tag/{tag}"
LOGGER = "veille.collectors.mastodon"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds each wait of the polling collector asked for (its every sleep, in a round or
    between rounds, goes through sleep_or_stop), the waits still made: what a test says of the
    waits is told by what was asked, not by a wall clock that a loaded machine stretches."""
    from veille.collectors import polling

    asked: list[float] = []
    real = polling.sleep_or_stop

    async def recorded(stopping: asyncio.Event, seconds: float) -> bool:
        asked.append(seconds)
        return await real(stopping, seconds)

    monkeypatch.setattr(polling, "sleep_or_stop", recorded)
    return asked


def status(sid: Any, **extra: Any) -> dict[str, Any]:
    return {"id": sid, "uri": f"https://m.example/s/{sid}", "url": f"https://m.example/s/{sid}",
            "created_at": NOW, "content": f"<p>acme status {sid}</p>", "visibility": "public",
            "account": {"acct": "user@m.example"}, **extra}


def new_collector(tmp_path: Path, base: str, hashtags: list[str] | None = None,
                  **kwargs: Any) -> tuple[MastodonCollector, ListSink]:
    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"),
                                           mastodon_url=base, collector_metrics_port=0)
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "mastodon", metrics)
    return MastodonCollector(settings, metrics, sink, hashtags=hashtags or ["acme"],
                             **kwargs), sink


def refused(c: MastodonCollector, reason: str) -> float:
    value = c.metrics.registry.get_sample_value(
        "veille_collector_items_refused_total", {"collector": "mastodon", "reason": reason})
    return value or 0.0


def failures(c: MastodonCollector, hashtag: str) -> dict[str, float]:
    """The hashtag's failed polls by kind (the kinds counted at least once)."""
    return {s.labels["kind"]: s.value for m in c.metrics.registry.collect() for s in m.samples
            if s.name == "veille_mastodon_hashtag_failures_total"
            and s.labels["hashtag"] == hashtag and s.value}


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info is not None]


# -- 1. the body is read up to 10 MB ---------------------------------------------------------


def test_an_endless_body_fails_the_hashtag_at_the_cap(tmp_path: Path) -> None:
    sent_bytes = 0

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal sent_bytes
        if request.match_info["tag"] == "small":
            return web.json_response([status("7")])
        # `[` then blank space: 40 MB before the closing bracket (a bound, for the test only).
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(b"[")
            blank = b" " * (1024 * 1024)
            for _ in range(40):
                await resp.write(blank)
                sent_bytes += len(blank)
            await resp.write(b"]")
        except (ConnectionResetError, RuntimeError):
            pass  # the collector hung up: what we want
        return resp

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, sink = new_collector(tmp_path, base, ["big", "small"])
            await c.start()
            try:
                result = await asyncio.wait_for(c.poll_round(), 20)
            finally:
                await c.close()
        assert result.status == "partial"
        assert result.errors["big"] == f"answer larger than {MAX_BODY_BYTES} bytes"
        assert [m.text for m in sink.sent] == ["acme status 7"]
        assert c.since == {"big": None, "small": "7"}
        assert failures(c, "big") == {"fetch": 1} and failures(c, "small") == {}
        last_good = {tag: c.metrics.registry.get_sample_value(
            "veille_mastodon_hashtag_last_success_timestamp_seconds", {"hashtag": tag})
            for tag in ("big", "small")}
        assert last_good["big"] == 0 and (last_good["small"] or 0) > 0
        assert sent_bytes < 30 * 1024 * 1024  # it stopped reading near the cap

    asyncio.run(scenario())


# -- 2. status ids ---------------------------------------------------------------------------


def test_odd_status_ids_are_refused_and_never_become_since_id(tmp_path: Path) -> None:
    timeline = [status("12"), status("abc"), status({"a": 1}), status("9" * 4000),
                status("0000000000000000000000000013"), status(None)]

    async def handle(request: web.Request) -> web.Response:
        since = request.query.get("min_id", "0")  # the collector reads forward from its last
        if not since.isdigit():  # like Mastodon, an odd min_id matches nothing
            return web.json_response([])
        return web.json_response([s for s in timeline if isinstance(s["id"], str)
                                  and s["id"].isdigit() and not s["id"].startswith("0")
                                  and len(s["id"]) < 30 and int(s["id"]) > int(since)]
                                 if since != "0" else timeline)

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, sink = new_collector(tmp_path, base)
            await c.start()
            try:
                first = await c.poll_round()
                assert c.since["acme"] == "12"
                timeline.append(status("14"))
                second = await c.poll_round()
            finally:
                await c.close()
        assert (first.status, first.fetched, first.sent, first.refused) == ("ok", 6, 1, 5)
        assert refused(c, "invalid_field") == 5
        assert (second.status, second.sent) == ("ok", 1)
        assert [m.text for m in sink.sent] == ["acme status 12", "acme status 14"]
        assert c.since["acme"] == "14"

    asyncio.run(scenario())


@pytest.mark.parametrize("saved", ["abc", "9" * 4000, 42, "0012"])
def test_a_saved_since_id_that_is_not_a_status_id_is_ignored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, saved: Any) -> None:
    queries: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        return web.json_response([status("5")])

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, sink = new_collector(tmp_path, base)
            c.store.save(c._state_key("acme"), {"version": 1, "instance": base,
                                                 "hashtag": "acme", "since_id": saved})
            await c.start()
            try:
                assert c.since["acme"] is None
                result = await c.poll_round()
            finally:
                await c.close()
        assert queries == [{"limit": "40"}]  # afresh: no min_id sent
        assert (result.status, result.sent, c.since["acme"]) == ("ok", 1, "5")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        asyncio.run(scenario())
    assert any("is not a status id" in r.getMessage() for r in caplog.records)


# -- 3. rate-limit headers -------------------------------------------------------------------


@pytest.mark.parametrize("remaining", ["inf", "-inf", "1e999", "nan", "lots"])
def test_unreadable_rate_limit_headers_are_ignored(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, sleeps: list[float], remaining: str) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response([status("3")], headers={
            "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": "not a date"})

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, sink = new_collector(tmp_path, base)
            await c.start()
            try:
                first = await c.poll_round()
                second = await c.poll_round()
                assert sleeps == []  # no wait for a bogus reset
            finally:
                await c.close()
        assert (first.status, first.sent, second.status) == ("ok", 1, "ok")

    with caplog.at_level(logging.INFO, logger=LOGGER):
        asyncio.run(scenario())
    assert tracebacks(caplog) == []


# -- 5. Retry-After and rate-limit resets are bounded ----------------------------------------


@pytest.mark.parametrize("retry_after", ["1e308", "inf", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_fails_the_round_at_once(tmp_path: Path, sleeps: list[float],
                                                    retry_after: str) -> None:
    calls: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append(request.match_info["tag"])
        return web.json_response({"error": "Too many requests"}, status=429,
                                 headers={"Retry-After": retry_after})

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, _ = new_collector(tmp_path, base, ["a", "b", "c"])
            with pytest.raises(MastodonRoundFailed, match="every hashtag failed"):
                await asyncio.wait_for(run_mastodon(c.settings, once=True, collector=c), 15)
            assert sleeps == []  # at once: the pause is left to a later round
            # One request: the instance asked for a pause, the other hashtags wait for a later
            # round; the pause asked for is bounded by backoff_max, not 1e308 s.
            assert calls == ["a"]
            assert c.last_round is not None
            assert c.last_round.retry_after is not None
            assert 0 < c.last_round.retry_after <= c.backoff_max

    asyncio.run(scenario())


def test_waits_in_a_round_stay_within_its_budget(tmp_path: Path, sleeps: list[float]) -> None:
    calls: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        calls.append(request.match_info["tag"])
        return web.json_response({}, status=429, headers={"Retry-After": "0.3"})

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, _ = new_collector(tmp_path, base, ["a", "b", "c"], max_rate_limit_wait=1.0)
            await c.start()
            started = time.monotonic()
            try:
                result = await asyncio.wait_for(c.poll_round(), 10)
            finally:
                await c.close()
            elapsed = time.monotonic() - started
        # Three waits of 0.3 s (at most: a wait runs from the answer that asked for it; one
        # whose time passed before the next request is not slept), then no more sleeping: b and
        # c are never asked (the calls say it), and the round's waits stay within its budget
        # (1 s). The waits are asked of sleep_or_stop, not read off a wall clock, which a loaded
        # machine stretches; the round did take them (a lower bound a slow machine cannot break).
        assert len(sleeps) <= 3 and all(0 < s <= 0.3 for s in sleeps), sleeps
        assert sum(sleeps) <= 1.0, sleeps
        assert elapsed >= 0.8, elapsed
        assert calls == ["a"] * 4 and result.status == "failed"
        assert "after retries" in result.errors["a"]
        assert "rate limited for" in result.errors["b"] and "rate limited for" in result.errors["c"]
        # Each hashtag failed for the rate limit, whether asked or held back: so counted.
        for tag in ("a", "b", "c"):
            assert failures(c, tag) == {"rate_limited": 1}

    asyncio.run(scenario())


# -- 6. `--once`: one line per hashtag, an error when every hashtag failed ---------------------


def test_once_reports_each_hashtag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def handle(request: web.Request) -> web.Response:
        if request.match_info["tag"] == "good":
            return web.json_response([status("2"), status("1"), status("x")])
        if request.match_info["tag"] == "odd":
            return web.json_response({"not": "a list"})
        return web.json_response({"error": "boom"}, status=500)

    async def scenario() -> None:
        async with serve([("GET", ROUTE, handle)]) as base:
            c, _ = new_collector(tmp_path, base, ["good", "bad"])
            await run_mastodon(c.settings, once=True, collector=c)  # some succeeded: no error
            c, _ = new_collector(tmp_path, base, ["bad", "odd"])
            with pytest.raises(MastodonRoundFailed, match="every hashtag failed") as failed:
                await run_mastodon(c.settings, once=True, collector=c)
            assert isinstance(failed.value, cli._collector_errors())  # veille: error:, exit 2

    asyncio.run(scenario())
    assert capsys.readouterr().out.splitlines() == [
        "mastodon: #good: ok, 3 statuses, 2 sent, 1 refused",
        "mastodon: #bad: failed, 0 statuses, 0 sent, 0 refused (HTTP 500)",
        "mastodon: #bad: failed, 0 statuses, 0 sent, 0 refused (HTTP 500)",
        "mastodon: #odd: failed, 0 statuses, 0 sent, 0 refused (the answer is not a list of "
        "statuses)",
    ]


@contextmanager
def server_thread(handler: Any) -> Iterator[str]:
    """The local instance in its own thread and loop, for the CLI's own asyncio.run()."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            holder["stop"] = asyncio.Event()
            holder["loop"] = asyncio.get_running_loop()
            async with serve([("GET", ROUTE, handler)]) as base:
                holder["base"] = base
                ready.set()
                await holder["stop"].wait()
        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["base"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> None:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["#acme", "boreal"]\n')
    values = {"VEILLE_WATCHLIST": str(watchlist),
              "VEILLE_COLLECTOR_STATE_DIR": str(tmp_path / "state"),
              "VEILLE_COLLECTOR_METRICS_PORT": "0", **env}
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_once_exits_2_when_every_hashtag_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    with server_thread(handle) as base:
        cli_env(monkeypatch, tmp_path, VEILLE_MASTODON_URL=base)
        code = cli.main(["collect", "mastodon", "--once"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines() == [
        "mastodon: #acme: failed, 0 statuses, 0 sent, 0 refused (HTTP 500)",
        "mastodon: #boreal: failed, 0 statuses, 0 sent, 0 refused (HTTP 500)",
    ]
    assert "veille: error: mastodon: every hashtag failed (2); #acme: HTTP 500" in err
    assert "Traceback" not in err


# -- 4. the instance URL ---------------------------------------------------------------------


@pytest.mark.parametrize("url, message", [
    ("http://[::1", "not a valid URL"),
    ("ftp://mastodon.example", "http:// or https://"),
    ("mastodon.example", "http:// or https://"),
    ("https://", "names no host"),
    ("https://mastodon.example:0", "port must be in 1..65535"),
    ("https://mastodon.example:99999", "not a valid URL"),
    ("https://mastodon.example:https", "not a valid URL"),
    ("https://masto don.example", "spaces"),
    ("https://mastodon.example/?lang=fr", "query or fragment"),
    ("https://mastodon.example#top", "query or fragment"),
    ("https://mastodon.example/api/v1/timelines/tag", "API path"),
    ("https://mastodon.example/api/v1/timelines/tag/", "API path"),
])
def test_a_bad_instance_url_is_refused_at_start(tmp_path: Path, url: str, message: str) -> None:
    c, _ = new_collector(tmp_path, url)
    with pytest.raises(MastodonConfigError, match=message):
        asyncio.run(run_mastodon(c.settings, once=True, collector=c))


def test_credentials_in_the_url_are_refused_and_not_echoed(tmp_path: Path) -> None:
    c, _ = new_collector(tmp_path, "https://bob:hunter2@mastodon.example")
    with pytest.raises(MastodonConfigError, match="user:password@") as refused_url:
        asyncio.run(c.start())
    assert "hunter2" not in str(refused_url.value)


@pytest.mark.parametrize("url", ["https://mastodon.example", "https://mastodon.example/",
                                 "http://[::1]:8080/", "https://example.org/masto/"])
def test_a_base_url_with_or_without_slash_is_accepted(tmp_path: Path, url: str) -> None:
    c, _ = new_collector(tmp_path, url)
    c.check_config()
    assert str(c._tag_url("acme")) == url.rstrip("/") + "/api/v1/timelines/tag/acme"


def test_the_cli_prints_a_bad_url_as_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(monkeypatch, tmp_path, VEILLE_MASTODON_URL="http://[::1")
    assert cli.main(["collect", "mastodon", "--once"]) == 2
    err = capsys.readouterr().err
    assert "veille: error: VEILLE_MASTODON_URL='http://[::1' is not a valid URL" in err
    assert "Traceback" not in err


# -- 7. the interval -------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [0.000001, 29.9, 86401.0])
def test_an_interval_out_of_bounds_is_refused_at_start(tmp_path: Path, interval: float) -> None:
    # Settings take these (any interval > 0 up to a year); the collector's own bounds refuse them.
    settings = Settings.from_env({}).with_(
        collector_state_dir=str(tmp_path / "state"), mastodon_url="https://m.example",
        mastodon_interval_seconds=interval, collector_metrics_port=0)
    c = MastodonCollector(settings, CollectorMetrics(CollectorRegistry()), hashtags=["a"])
    with pytest.raises(MastodonConfigError, match="INTERVAL_SECONDS"):
        asyncio.run(run_mastodon(settings, once=True, collector=c))


@pytest.mark.parametrize("interval", [0.0, 1e308])
def test_an_interval_no_setting_takes_is_refused_by_the_settings(interval: float) -> None:
    # (Found in review, 2026-12-05: these two were in the test above, refused by the settings
    # before the collector was made: they could not tell a broken collector bound.)
    with pytest.raises(SettingsError, match="INTERVAL_SECONDS"):
        Settings.from_env({}).with_(mastodon_url="https://m.example",
                                    mastodon_interval_seconds=interval)


@pytest.mark.parametrize("interval", [30.0, 60.0, 86400.0])
def test_an_interval_in_bounds_is_accepted(tmp_path: Path, interval: float) -> None:
    settings = Settings.from_env({}).with_(mastodon_url="https://m.example",
                                           mastodon_interval_seconds=interval)
    c = MastodonCollector(settings, CollectorMetrics(CollectorRegistry()), hashtags=["a"])
    c.check_config()
    assert c.interval == interval


def test_the_cli_prints_a_too_small_interval_as_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    cli_env(monkeypatch, tmp_path, VEILLE_MASTODON_URL="https://m.example",
            VEILLE_MASTODON_INTERVAL_SECONDS="0.000001")
    assert cli.main(["collect", "mastodon", "--once"]) == 2
    err = capsys.readouterr().err
    assert "veille: error: VEILLE_MASTODON_INTERVAL_SECONDS=" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("url", ["http://192.0.2.10", "http://mastodon.example/",
                                 "HTTP://192.0.2.10:8080"])
def test_a_token_is_not_sent_in_clear_to_another_machine(tmp_path: Path, url: str) -> None:
    """Found in review (2026-12-06): with VEILLE_MASTODON_TOKEN set and an http:// instance
    URL, the collector sent `Authorization: Bearer <token>` in clear at every request, readable
    by anyone on the way (the token of an account that may read, or post, as the brand). Refused
    at start unless the instance is on loopback (a local test instance), naming no secret; https
    and a token-less http instance are as before."""
    secret = "s3cr3t-mastodon-token-0123456789"
    c, _ = new_collector(tmp_path, url)
    c.settings = c.settings.with_(mastodon_token=secret)
    with pytest.raises(MastodonConfigError, match="in clear") as refused_url:
        c.check_config()
    assert secret not in str(refused_url.value)
    for fine, token in ((url.lower().replace("http://", "https://"), secret), (url, ""),
                        ("http://127.0.0.1:8080", secret), ("http://[::1]:8080/", secret),
                        ("http://localhost:3000", secret), ("http://mastodon.localhost", secret)):
        c, _ = new_collector(tmp_path, fine)
        c.settings = c.settings.with_(mastodon_token=token)
        c.check_config()


def test_a_name_resolving_to_loopback_is_not_trusted_with_a_token(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """The http:// exemption was judged by resolving the instance's name once, at start: a name
    answering 127.0.0.1 then (DNS rebinding, a hosts file edited back) could later send the
    token in clear to another machine, as each request resolves it again. Only loopback
    addresses written as such, `localhost` and `*.localhost` are exempt now."""
    import socket

    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    c, _ = new_collector(tmp_path, "http://rebind.example:8080")
    c.settings = c.settings.with_(mastodon_token="s3cr3t-mastodon-token-0123456789")
    with pytest.raises(MastodonConfigError, match="in clear"):
        c.check_config()


# -- 6. Redirects are not followed -------------------------------------------------------------


def test_a_redirect_is_not_followed_and_says_where_it_led(tmp_path: Path, caplog) -> None:
    """An instance answering a redirect (to an internal address, say: the cloud metadata
    service, an admin page on the collector's host) sent the collector there with its token's
    request; the hashtag now fails for the round, naming the target's host, not its path."""
    elsewhere: list[str] = []

    async def target(request: web.Request) -> web.Response:
        elsewhere.append(request.path)
        return web.json_response([status("1")])

    async def scenario() -> None:
        async with serve([("GET", "/latest/meta-data", target)]) as inside:
            async def moved(request: web.Request) -> web.Response:
                raise web.HTTPFound(f"{inside}/latest/meta-data?token=secret")

            async with serve([("GET", ROUTE, moved)]) as base:
                c, sink = new_collector(tmp_path, base, ["acme"])
                await c.start()
                try:
                    result = await asyncio.wait_for(c.poll_round(), 10)
                finally:
                    await c.close()
        assert elsewhere == [] and sink.sent == []
        assert result.status == "failed"
        error = result.errors["acme"]
        assert error.startswith(f"HTTP 302: the server redirects to {inside}, which is not followed")
        assert "meta-data" not in error and "secret" not in error

    with caplog.at_level(logging.INFO, logger=LOGGER):
        asyncio.run(scenario())
    assert tracebacks(caplog) == []
