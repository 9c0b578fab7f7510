"""The webhook collector on the real broker, through real HTTP: 202 only once written, 401, 413,
415, 400 naming the field, 503 while the broker is down and delivery again once it is back."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import ROOT, settings_env
from tests.integration.test_pipeline import wait_drained
from tests.kafka_helpers import read_all, read_to_end, start_broker
from veille.broker import EmbeddedBroker, free_port
from veille.collectors.base import BrokerUnavailable
from veille.collectors.webhook import (
    MAX_REQUEST_MENTIONS,
    RETRY_AFTER_SECONDS,
    WebhookCollector,
    WebhookConfigError,
    check_config,
    sign,
)
from veille.metrics import CollectorMetrics
from veille.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "tok-Zq8f3kP1-never-echoed"
SECRET = "hmac-7Hn2xV9w-never-echoed"


def item(i: int, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {
        "platform": "Twitter", "author": f"user{i}", "text": f"Acme mention number {i} | ok",
        "url": f"https://example.org/{i}",
        "created_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "audience": {"followers": 10 * i, "likes": i},
    }
    m.update(extra)
    return m


class Served:
    """A WebhookCollector on its own asyncio loop in a background thread, on a free port."""

    def __init__(self, settings: Settings, ack_timeout: float = 5.0,
                 cls: type[WebhookCollector] = WebhookCollector) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.metrics = CollectorMetrics(CollectorRegistry())
        self.collector = cls(settings.with_(webhook_port=0), self.metrics, ack_timeout=ack_timeout)
        self._call(self.collector.start())
        self.running = asyncio.run_coroutine_threadsafe(self.collector.run(), self.loop)
        self.url = self.collector.url
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def post(self, payload: Any = None, *, content: Any = None, token: str | None = None,
             signature: str | None = None, content_type: str = "application/json",
             headers: dict[str, str] | None = None, path: str = "/mentions") -> httpx.Response:
        body = content if content is not None else json.dumps(payload).encode()
        h = {"Content-Type": content_type, **(headers or {})}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if signature is not None:
            h["X-Veille-Signature"] = signature
        return self.client.post(path, content=body, headers=h)

    def metric(self, name: str, **labels: str) -> float:
        text = self.client.get("/metrics").text
        want = {"collector": "webhook", **labels}
        return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
                   if s.name == name and s.labels == want)

    @staticmethod
    async def _cancel_leftovers() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if not self.loop.is_running():
            return
        self.client.close()
        self._call(self.collector.stop())
        self.running.result(30)
        self._call(self.collector.close())
        self._call(self._cancel_leftovers())  # e.g. aiohttp's lingering reads, as asyncio.run()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    served: list[Served] = []

    def start(settings: Settings, **kwargs: Any) -> Served:
        s = Served(settings, **kwargs)
        served.append(s)
        return s

    yield start
    for s in served:
        s.stop()


def records_by_key(settings: Settings, expect: int) -> dict[str, dict[str, Any]]:
    return {r.key.decode(): json.loads(r.value) for r in read_all(settings, MENTIONS_RAW, expect)}


def test_single_and_batches_get_202_once_on_the_topic_keyed_by_id(settings, serve) -> None:
    settings = settings.with_(webhook_token=TOKEN)
    ensure_topics(settings)
    w = serve(settings)
    assert w.client.get("/healthz").json() == {"status": "ok"}
    assert w.client.get("/readyz").status_code == 200  # no write yet, the broker answers

    single = item(1)  # no id, no source: derived id, source "webhook"
    r = w.post(single, token=TOKEN)
    assert r.status_code == 202, r.text
    derived = r.json()["ids"][0]
    assert r.json()["accepted"] == 1 and re.fullmatch(r"webhook-[0-9a-f]{32}", derived)
    again = w.post(single, token=TOKEN)  # a retried push
    assert again.status_code == 202 and again.json()["ids"] == [derived]
    other = w.post(item(1, text="Acme mention number 1 | ko"), token=TOKEN)
    assert other.json()["ids"] != [derived]
    # The same words at the same second from another account (a copied message): its own id.
    copied = w.post(dict(single, author="someone else"), token=TOKEN)
    assert copied.status_code == 202 and copied.json()["ids"] not in ([derived], other.json()["ids"])

    batch = [item(i, id=f"zap-{i}", source="zapier") for i in range(2, 5)]
    r = w.post(batch, token=TOKEN)
    assert r.status_code == 202 and r.json() == {"accepted": 3, "ids": ["zap-2", "zap-3", "zap-4"]}
    r = w.post({"mentions": [item(5, id="env-5"), item(6)]}, token=TOKEN)
    assert r.status_code == 202 and r.json()["accepted"] == 2
    env_ids = r.json()["ids"]
    assert w.post([], token=TOKEN).json() == {"accepted": 0, "ids": []}
    # A body starting with a UTF-8 byte order mark (some tools on Windows write one).
    bom = b"\xef\xbb\xbf" + json.dumps(item(7, id="bom-7")).encode()
    r = w.post(content=bom, token=TOKEN)
    assert r.status_code == 202 and r.json()["ids"] == ["bom-7"], r.text
    # A mention with a `mentions` field of its own (a Mastodon status lists the accounts it
    # names) is one mention, not a batch: it was answered 202 with nothing written.
    for named in ([], ["@acme"]):
        toot = dict(item(8, id=f"toot-{len(named)}"), mentions=named)
        r = w.post(toot, token=TOKEN)
        assert r.status_code == 202 and r.json() == {"accepted": 1, "ids": [toot["id"]]}, r.text

    # A no-code tool's unmapped fields come as "": as absent (the id derived, no author).
    zap = dict(item(9), id="", source=" ", author="", url="", language="", audience="",
               collected_at="")
    r = w.post(zap, token=TOKEN)
    assert r.status_code == 202, r.text
    blank = r.json()["ids"][0]
    assert re.fullmatch(r"webhook-[0-9a-f]{32}", blank)

    got = records_by_key(settings, expect=12)
    assert set(got) == {derived, other.json()["ids"][0], copied.json()["ids"][0], "zap-2", "zap-3",
                        "zap-4", *env_ids, "bom-7", "toot-0", "toot-1", blank}
    assert (got[blank]["source"], got[blank]["author"], got[blank]["url"],
            got[blank]["audience"]) == ("webhook", None, None, None)
    assert got[derived]["source"] == "webhook" and got[derived]["platform"] == "twitter"
    assert got[derived]["collected_at"] and got[derived]["audience"] == {"followers": 10, "likes": 1}
    assert got["zap-3"]["source"] == "zapier"
    assert w.metric("veille_collector_items_sent_total") == 13  # the retried push twice
    assert w.metric("veille_collector_items_fetched_total") == 13
    assert w.client.get("/readyz").json() == {"status": "ready"}
    assert w.client.get("/mentions").status_code == 405


def test_ready_while_any_bootstrap_server_answers(settings, serve) -> None:
    """Found in review (2026-12-05): /readyz asked the first bootstrap server alone. With it down
    and the others up, writes went through (the producer starts from any) while every
    collector said unready, and a load balancer took them all out."""

    ensure_topics(settings)
    down = f"127.0.0.1:{free_port()}"
    w = serve(settings.with_(broker_url=f"{down},{settings.broker_url.removeprefix('kafka://')}"))
    assert w.client.get("/readyz").json() == {"status": "ready"}
    assert w.post(item(1, text="two servers, the first down")).status_code == 202
    assert w.client.get("/readyz").status_code == 200
    alone = serve(settings.with_(broker_url=down))  # the only one: unready, as before
    assert alone.client.get("/readyz").status_code == 503


def test_concurrent_requests_are_all_written(settings, serve) -> None:
    ensure_topics(settings)
    w = serve(settings)  # loopback without credentials: allowed
    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(lambda i: w.post(item(i, id=f"c-{i}")), range(64)))
    assert [r.status_code for r in responses] == [202] * 64
    assert set(records_by_key(settings, expect=64)) == {f"c-{i}" for i in range(64)}
    assert w.metric("veille_collector_items_sent_total") == 64


def test_bearer_token(settings, serve) -> None:
    ensure_topics(settings)
    w = serve(settings.with_(webhook_token=TOKEN))
    refused = [
        w.post(item(1)),  # missing
        w.post(item(1), token="wrong"),
        w.post(item(1), token=TOKEN[:-1]),
        w.post(item(1), headers={"Authorization": f"Basic {TOKEN}"}),
    ]
    for r in refused:
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in r.text and "Traceback" not in r.text
    assert len({r.text for r in refused}) == 1  # never says what was wrong
    assert w.post(item(1), token=TOKEN).status_code == 202
    assert w.metric("veille_collector_items_refused_total", reason="unauthorized") == 4


def test_hmac_signature(settings, serve) -> None:
    """X-Veille-Signature is `sha256=` + the hex HMAC-SHA256 of the exact body bytes:

        SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //')
        curl -H "X-Veille-Signature: sha256=$SIG" -H 'Content-Type: application/json' \\
             --data-binary "$BODY" http://127.0.0.1:8080/mentions
    """
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET, webhook_token=TOKEN))
    body = json.dumps(item(1, id="signed-1")).encode()
    good = sign(SECRET, body)
    # The README's shell command gives the same signature. It is the independent reference:
    # sign() and the server's check share Python's hmac, so a wrong digest in both would pass
    # every request below. A missing openssl fails the test (the README tells senders to use it).
    assert shutil.which("openssl"), "openssl is missing: install the Debian package openssl"
    readme = "printf '%s' \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" | sed 's/^.* //'"
    out = subprocess.run(["sh", "-c", readme], capture_output=True, check=True, text=True,
                         env={**os.environ, "BODY": body.decode(), "SECRET": SECRET})
    assert "sha256=" + out.stdout.strip() == good, (out.stdout, out.stderr)
    refused = [
        w.post(content=body, token=TOKEN),  # missing
        w.post(content=body, token=TOKEN, signature="sha256=" + "0" * 64),
        w.post(content=body, token=TOKEN, signature=good.removeprefix("sha256=")),  # no prefix
        w.post(content=body, token=TOKEN, signature=sign("another secret", body)),
        w.post(content=body + b" ", token=TOKEN, signature=good),  # body changed after signing
        w.post(content=body, token="wrong", signature=good),  # bearer still required
    ]
    for r in refused:
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        assert SECRET not in r.text and TOKEN not in r.text
    assert len({r.text for r in refused}) == 1
    r = w.post(content=body, token=TOKEN, signature=good)
    assert r.status_code == 202 and r.json()["ids"] == ["signed-1"]
    assert w.post(content=body, token=TOKEN, signature=good.upper().replace("SHA256=", "sha256=")
                  ).status_code == 202
    assert set(records_by_key(settings, expect=1)) == {"signed-1"}


def _stamped(w: Any, body: bytes, timestamp: Any, signature: str) -> httpx.Response:
    return w.post(content=body, token=TOKEN, signature=signature,
                  headers={"X-Veille-Timestamp": str(timestamp)})


class FailsOnce(WebhookCollector):
    """Its first write fails as an unreachable broker's does (503, nothing written)."""

    failed = False

    async def _write(self, mentions: Any) -> None:
        if not self.failed:
            self.failed = True
            raise BrokerUnavailable("test")
        await super()._write(mentions)


def test_a_timestamped_signature_is_accepted_once_and_only_while_fresh(settings, serve) -> None:
    """X-Veille-Timestamp: the signature is of `<timestamp>.` + the body; the request is refused
    when the timestamp is more than VEILLE_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS (300) from the
    server's clock; the same timestamp and signature accepted already are not written again (a
    captured request replayed: found in review, 2026-12-06, a signed push could be replayed for
    ever), answered 200 (a sender's retry after a lost answer must stop: a 401 failed it)."""
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET, webhook_token=TOKEN))
    body = json.dumps(item(1, id="stamped-1")).encode()
    now = int(time.time())
    good = sign(SECRET, body, now)
    assert good == sign(SECRET, f"{now}.".encode() + body)  # the scheme, spelled out
    r = _stamped(w, body, now, good)
    assert r.status_code == 202 and r.json()["ids"] == ["stamped-1"], r.text

    # The same request again: 200, nothing more written, the headers named.
    again = _stamped(w, body, now, good)
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["accepted"] == 0, again.text
    assert "X-Veille-Timestamp" in again.json()["detail"] and "already" in again.json()["detail"]
    # As another sender would write it (upper-case hex): the same signature.
    assert _stamped(w, body, now, good.upper().replace("SHA256=", "sha256=")).status_code == 200

    # Stale or ahead of the clock by more than the tolerance, though signed right.
    for off in (-400, 400):
        old = json.dumps(item(2, id=f"off-{off}")).encode()
        r = _stamped(w, old, now + off, sign(SECRET, old, now + off))
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        assert "X-Veille-Timestamp" in r.json()["detail"] and "300" in r.json()["detail"], r.text
    # Within it, either way: accepted.
    for off in (-250, 250):
        near = json.dumps(item(3, id=f"near-{off}")).encode()
        assert _stamped(w, near, now + off, sign(SECRET, near, now + off)).status_code == 202

    fresh = json.dumps(item(4, id="stamped-4")).encode()
    generic = _stamped(w, fresh, now, "sha256=" + "0" * 64)
    refused = [
        _stamped(w, fresh, now, sign(SECRET, fresh)),  # the body-only scheme, with a timestamp
        _stamped(w, fresh, now + 1, sign(SECRET, fresh, now)),  # the timestamp changed
        _stamped(w, fresh + b" ", now, sign(SECRET, fresh, now)),  # the body changed
        _stamped(w, fresh, now, sign("another secret-long", fresh, now)),
    ]
    for r in refused:
        assert r.status_code == 401 and r.text == generic.text, r.text  # says nothing more
    for stamp in ("yesterday", "1.5e9", "-1", str(now) + "000000000"):
        r = _stamped(w, fresh, stamp, sign(SECRET, fresh, stamp))
        assert r.status_code == 401 and "X-Veille-Timestamp" in r.json()["detail"], r.text
        assert "Unix seconds" in r.json()["detail"], r.text
    for r in [again, generic, *refused]:
        assert SECRET not in r.text and TOKEN not in r.text
    assert w.metric("veille_collector_items_refused_total", reason="unauthorized") == 11
    assert w.metric("veille_collector_items_refused_total", reason="duplicate") == 2

    # The legacy body-only signature, without X-Veille-Timestamp, still works (and a retry of
    # it too, as before: its ids are de-duplicated downstream).
    legacy = json.dumps(item(5, id="legacy-5")).encode()
    assert w.post(content=legacy, token=TOKEN, signature=sign(SECRET, legacy)).status_code == 202
    assert w.post(content=legacy, token=TOKEN, signature=sign(SECRET, legacy)).status_code == 202
    assert set(records_by_key(settings, expect=5)) == {"stamped-1", "near--250", "near-250",
                                                        "legacy-5"}
    assert w.metric("veille_collector_items_sent_total") == 5  # stamped-1 once


def test_a_timestamped_request_not_accepted_may_be_sent_again(settings, serve) -> None:
    """A 503 (the broker did not acknowledge: nothing written) or a 400 tells the sender to send
    the request again, or lets it: the same timestamp and signature are not a replay then."""
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET), cls=FailsOnce)
    body = json.dumps(item(1, id="retried-1")).encode()
    now = int(time.time())
    sig = sign(SECRET, body, now)
    h = {"X-Veille-Timestamp": str(now)}
    first = w.post(content=body, signature=sig, headers=h)
    assert first.status_code == 503, first.text
    assert w.post(content=body, signature=sig, headers=h).status_code == 202
    assert w.post(content=body, signature=sig, headers=h).status_code == 200  # written once
    bad = json.dumps(item(2, created_at="not a time")).encode()
    sig = sign(SECRET, bad, now)
    assert [w.post(content=bad, signature=sig, headers=h).status_code for _ in range(2)] == [400, 400]
    assert set(records_by_key(settings, expect=1)) == {"retried-1"}


class HeldWrite(WebhookCollector):
    """Its first write waits for `release`, then fails as an unreachable broker's does."""

    entered: threading.Event
    release: threading.Event

    async def _write(self, mentions: Any) -> None:
        if not self.entered.is_set():
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 30)
            raise BrokerUnavailable("test")
        await super()._write(mentions)


def test_the_same_request_sent_while_the_first_is_written_is_not_lost(settings, serve) -> None:
    """A sender retrying (its own timeout) while the first request still waits for the broker:
    the retry is told to come again (503, Retry-After), not refused as a replay. Until
    2026-12-06 it got the replay's 401 (a sender stops there) and, the first then failing with
    a 503 to a connection already given up, the mention was lost. Sent again after the first
    failed, it is taken; after it was accepted, it is 200 and written once."""
    ensure_topics(settings)
    HeldWrite.entered, HeldWrite.release = threading.Event(), threading.Event()
    w = serve(settings.with_(webhook_hmac_secret=SECRET), cls=HeldWrite)
    body = json.dumps(item(1, id="held-1")).encode()
    now = int(time.time())
    h, sig = {"X-Veille-Timestamp": str(now)}, sign(SECRET, body, now)
    first: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: first.append(w.post(content=body, signature=sig,
                                                                 headers=h)))
    thread.start()
    try:
        assert HeldWrite.entered.wait(10), "the first request never reached the write"
        retry = w.post(content=body, signature=sig, headers=h)
        assert retry.status_code == 503 and retry.json()["error"] == "in_flight", retry.text
        assert retry.headers["Retry-After"] == "5"
    finally:
        HeldWrite.release.set()
        thread.join(30)
    assert first[0].status_code == 503 and first[0].json()["error"] == "broker_unavailable"
    assert w.post(content=body, signature=sig, headers=h).status_code == 202
    again = w.post(content=body, signature=sig, headers=h)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert set(records_by_key(settings, expect=1)) == {"held-1"}
    assert w.metric("veille_collector_items_sent_total") == 1
    assert w.metric("veille_collector_items_refused_total", reason="duplicate") == 2


def test_the_readme_timestamped_examples_are_accepted_once(settings, serve) -> None:
    """The README's shell lines and its Python example compute the signature the server checks
    (openssl and the standard library: an independent reference for sign() and the server)."""
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET))
    readme = (ROOT / "README.md").read_text()
    lines = ["TS=$(date +%s)",
             "SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac "
             "\"$VEILLE_WEBHOOK_HMAC_SECRET\" | sed 's/^.* //')"]
    for line in lines:
        assert line + "\n" in readme, line
    body = json.dumps(item(1, id="readme-sh")).encode()
    out = subprocess.run(["sh", "-c", "\n".join([*lines, 'echo "$TS $SIG"'])], capture_output=True,
                         check=True, text=True, env={**os.environ, "BODY": body.decode(),
                                                     "VEILLE_WEBHOOK_HMAC_SECRET": SECRET})
    stamp, digest = out.stdout.split()
    for status in (202, 200):
        r = w.post(content=body, signature="sha256=" + digest, headers={"X-Veille-Timestamp": stamp})
        assert r.status_code == status, r.text

    start = readme.index("```python\n", readme.index("The same timestamped signature from Python"))
    example = readme[start + len("```python\n"):readme.index("```\n", start + 10)]
    assert "http://127.0.0.1:8080/mentions" in example
    example = example.replace("http://127.0.0.1:8080", w.url)
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                         env={**os.environ, "VEILLE_WEBHOOK_HMAC_SECRET": SECRET})
    assert out.returncode == 0 and json.loads(out.stdout)["accepted"] == 1, out.stderr
    assert len(records_by_key(settings, expect=2)) == 2


def test_timestamps_may_be_required_and_their_tolerance_set(settings, serve) -> None:
    """VEILLE_WEBHOOK_REQUIRE_TIMESTAMP=true: the body-only signature is refused, the 401 saying
    which headers are needed; VEILLE_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS sets the window."""
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET, webhook_require_timestamp=True,
                             webhook_signature_tolerance_seconds=30))
    body = json.dumps(item(1, id="required-1")).encode()
    r = w.post(content=body, signature=sign(SECRET, body))
    assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
    assert "X-Veille-Timestamp: <unix seconds>" in r.json()["detail"], r.text
    now = int(time.time())
    r = w.post(content=body, signature=sign(SECRET, body, now - 60),
               headers={"X-Veille-Timestamp": str(now - 60)})
    assert r.status_code == 401 and "30" in r.json()["detail"], r.text
    r = w.post(content=body, signature=sign(SECRET, body, now),
               headers={"X-Veille-Timestamp": str(now)})
    assert r.status_code == 202, r.text
    assert w.metric("veille_collector_items_refused_total", reason="unauthorized") == 2
    assert set(records_by_key(settings, expect=1)) == {"required-1"}
    # Without an HMAC secret there is no signature to time: an error at start, not ignored.
    with pytest.raises(WebhookConfigError, match="VEILLE_WEBHOOK_REQUIRE_TIMESTAMP"):
        check_config(settings.with_(webhook_token=TOKEN, webhook_require_timestamp=True))


def test_refusals_name_the_problem_and_write_nothing(settings, serve) -> None:
    ensure_topics(settings)
    w = serve(settings.with_(webhook_max_body_bytes=4096))
    big = json.dumps([item(i) for i in range(40)]).encode()
    assert len(big) > 4096
    r = w.post(content=big)
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    chunked = w.client.post("/mentions", content=iter([big[:3000], big[3000:]]),
                            headers={"Content-Type": "application/json"})  # no Content-Length
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413 and chunked.json()["error"] == "payload_too_large"

    # A form is one mention (Zapier's "Form", test_a_zapier_form_body_is_one_mention...): other
    # types stay refused, multipart forms included.
    for ctype in ("text/plain", "multipart/form-data; boundary=x", "application/xml", "text/json"):
        r = w.post(item(1), content_type=ctype)
        assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type", ctype
        assert "application/x-www-form-urlencoded" in r.json()["detail"]
    r = w.post(content=b'{"text": "unfinished')
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = w.post(content=b'{"text": "\xff\xfe"}')
    assert r.status_code == 400 and r.json()["error"] == "undecodable_bytes"
    r = w.client.post("/mentions", content=b"not gzip at all",  # was a 500
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["error"] == "undecodable_bytes", r.text

    batch = [item(i, id=f"bad-batch-{i}") for i in range(5)]
    batch[3]["audience"] = {"likes": -1}
    r = w.post(batch)
    assert r.status_code == 400
    body = r.json()
    assert {k: body[k] for k in ("error", "detail", "field", "index")} == {
        "error": "invalid_field", "detail": "audience.likes must be a non-negative integer, not -1",
        "field": "audience.likes", "index": 3}
    assert body["accepted"] == 0
    r = w.post({"mentions": [item(1), {k: v for k, v in item(2).items() if k != "text"}, "x"]})
    assert r.status_code == 400 and (r.json()["field"], r.json()["index"]) == ("text", 1)
    assert r.json()["invalid_items"] == 2 and r.json()["errors"][1]["error"] == "not_an_object"
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    r = w.post([item(1), item(2, created_at=future)])
    assert (r.json()["error"], r.json()["field"], r.json()["index"]) == (
        "created_at_in_future", "created_at", 1)
    r = w.post(item(1, created_at="9999-12-31T23:59:59-23:59"))  # overflows in astimezone()
    assert r.status_code == 400 and r.json()["error"] == "invalid_field"

    # curl sends `Expect: 100-continue` before large bodies: refused before the body is sent.
    host, port = w.url.removeprefix("http://").split(":")
    head = ("POST /mentions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Expect: 100-continue\r\nContent-Length: {}\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.format(len(big)).encode())
        assert conn.recv(65536).startswith(b"HTTP/1.1 413")
    small = json.dumps(item(98, id="continued")).encode()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.format(len(small)).encode())
        assert conn.recv(65536).startswith(b"HTTP/1.1 100 Continue")
        conn.sendall(small)
        assert conn.recv(65536).startswith(b"HTTP/1.1 202")

    assert w.post(item(99, id="marker")).status_code == 202
    assert set(records_by_key(settings, expect=2)) == {"continued", "marker"}  # nothing refused

    def refused(reason: str) -> float:
        return w.metric("veille_collector_items_refused_total", reason=reason)

    assert refused("payload_too_large") == 3 and refused("unsupported") == 4  # the 4 types above
    assert refused("invalid_json") == 1 and refused("undecodable_bytes") == 2
    assert refused("invalid_field") == 2 and refused("missing_field") == 1


def raw_exchange(url: str, head: str, body: bytes | None = None) -> bytes:
    """Send `head` (request line and headers), wait for a first answer; with `body`, send it
    after a `100 Continue` and return the final answer instead."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode())
        first = conn.recv(65536)
        if body is None or not first.startswith(b"HTTP/1.1 100 Continue"):
            return first
        conn.sendall(body)
        return conn.recv(65536)


def test_content_codings_are_undone_or_refused_before_the_body(settings, serve) -> None:
    """identity, gzip, x-gzip and deflate are decoded here, the same whatever modules are
    installed; any other coding, or more than one, is a JSON 415 naming the supported ones, from
    the headers (instead of the 100 Continue). Before: `foo` was taken as identity (202), `br`
    and `zstd` were aiohttp's plain-text 400 from its parser (or decoded, with Brotli or zstd
    installed), `x-gzip` and `gzip, gzip` passed the compressed bytes on (400 not UTF-8)."""
    ensure_topics(settings)
    w = serve(settings.with_(webhook_max_body_bytes=4096))
    body = json.dumps(item(1, id="coded-gzip")).encode()
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for coding, content in (("gzip", gzip.compress(body)),
                            ("X-GZIP", gzip.compress(body.replace(b"-gzip", b"-xgzip"))),
                            ("deflate", zlib.compress(body.replace(b"-gzip", b"-deflate"))),
                            ("deflate", raw_deflate.compress(body.replace(b"-gzip", b"-raw"))
                             + raw_deflate.flush()),
                            ("identity", body.replace(b"-gzip", b"-identity"))):
        r = w.post(content=content, headers={"Content-Encoding": coding})
        assert r.status_code == 202, (coding, r.text)

    supported = "identity, gzip, x-gzip, deflate"
    gz = gzip.compress(body)
    for headers in ([("Content-Encoding", "foo")], [("Content-Encoding", "br")],
                    [("Content-Encoding", "zstd")], [("Content-Encoding", "gzip, gzip")],
                    [("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")]):
        r = w.client.post("/mentions", content=gzip.compress(gz),
                          headers=[("Content-Type", "application/json"), *headers])
        assert r.status_code == 415, (headers, r.text)
        answer = r.json()
        assert answer["error"] == "unsupported_content_encoding", answer
        assert supported in answer["detail"] and headers[0][1] in answer["detail"], answer
        assert r.headers["Accept-Encoding"] == supported
    head = ("POST /mentions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Encoding: {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n")
    for coding in ("br", "zstd", "foo"):  # the refusal comes instead of the 100 Continue
        answer = raw_exchange(w.url, head.format(coding, 50), b"x" * 50)
        assert answer.startswith(b"HTTP/1.1 415"), answer
        assert b'"unsupported_content_encoding"' in answer and supported.encode() in answer
    marker = json.dumps(item(2, id="continued-gzip")).encode()
    answer = raw_exchange(w.url, head.format("gzip", len(gzip.compress(marker))),
                          gzip.compress(marker))
    assert answer.startswith(b"HTTP/1.1 202"), answer

    # Decoded beyond the body limit: 413; truncated or trailing bytes: 400, nothing written.
    r = w.post(content=gzip.compress(b" " * 5000 + body), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.text
    assert "decodes to more than 4096 bytes" in r.json()["detail"]
    for content in (gz[:-6], gz + b"trailing"):
        r = w.post(content=content, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 400 and r.json()["error"] == "undecodable_bytes", r.text

    assert set(records_by_key(settings, expect=6)) == {
        "coded-gzip", "coded-xgzip", "coded-deflate", "coded-raw", "coded-identity",
        "continued-gzip"}
    assert w.metric("veille_collector_items_refused_total", reason="unsupported") == 8
    assert w.metric("veille_collector_items_refused_total", reason="payload_too_large") == 1
    assert w.metric("veille_collector_items_refused_total", reason="undecodable_bytes") == 2


def test_a_number_too_long_for_python_is_named_not_invalid_json(settings, serve) -> None:
    """Python converts integers of at most sys.get_int_max_str_digits() digits (4,300): a longer
    one is valid JSON, refused as such with the item and field named. Before: 400 invalid_json
    "not valid JSON"."""
    ensure_topics(settings)
    w = serve(settings)
    long_number = "9" * 5000
    good = json.dumps(item(1)).encode()
    likes = json.dumps(item(2, audience={"likes": 0})).encode().replace(
        b'"likes": 0', b'"likes": ' + long_number.encode())
    r = w.post(content=b"[" + good + b", " + likes + b"]")
    assert r.status_code == 400, r.text
    answer = r.json()
    assert {k: answer[k] for k in ("error", "field", "index", "accepted")} == {
        "error": "invalid_field", "field": "audience.likes", "index": 1, "accepted": 0}
    assert answer["detail"] == "audience.likes is a number too long (5000 digits, at most 4300)"
    assert answer["invalid_items"] == 1

    created = b'{"platform": "x", "text": "Acme", "created_at": -' + long_number.encode() + b"}"
    r = w.post(content=created)
    assert (r.json()["error"], r.json()["field"], r.json()["index"]) == (
        "invalid_field", "created_at", 0), r.text
    assert "number too long (5000 digits" in r.json()["detail"]
    r = w.post(content=long_number.encode())
    assert r.status_code == 400 and r.json()["error"] == "not_an_object", r.text
    assert "number too long" in r.json()["detail"]
    # 4,300 digits still convert: refused by the field's own rule, naming it (was "a time of
    # the item is out of range" without a field: math.isfinite() raised OverflowError).
    r = w.post(content=created.replace(long_number.encode(), b"9" * 4300))
    assert r.status_code == 400, r.text
    assert (r.json()["detail"], r.json()["field"]) == ("created_at is out of range", "created_at")

    assert w.post(item(3, id="after-long-numbers")).status_code == 202
    assert set(records_by_key(settings, expect=1)) == {"after-long-numbers"}
    assert w.metric("veille_collector_items_refused_total", reason="invalid_json") == 0


def test_a_request_with_too_many_mentions_is_refused_before_any_is_checked(settings, serve) -> None:
    """Items are validated on the event loop: their count is bounded (1 MiB of `{}` is 350,000)."""
    ensure_topics(settings)
    w = serve(settings)
    over = MAX_REQUEST_MENTIONS + 1
    at = datetime.now(UTC).isoformat()

    def short(i: int) -> dict[str, Any]:  # 5,000 of item() would pass the 1 MiB body limit
        return {"id": f"L{i}", "platform": "x", "text": f"Acme {i}", "created_at": at}

    for body in (b"[" + b",".join([b"{}"] * over) + b"]",
                 json.dumps({"mentions": [short(i) for i in range(over)]}).encode()):
        r = w.post(content=body)
        assert r.status_code == 413, r.text
        assert r.json() == {
            "error": "too_many_items", "limit": MAX_REQUEST_MENTIONS,
            "detail": f"the request has {over} mentions, the limit is {MAX_REQUEST_MENTIONS}: "
                      "send them in several requests"}
    assert w.metric("veille_collector_items_refused_total", reason="too_many_items") == 2
    assert w.metric("veille_collector_items_refused_total", reason="not_an_object") == 0
    r = w.post([short(i) for i in range(MAX_REQUEST_MENTIONS)])
    assert r.status_code == 202 and r.json()["accepted"] == MAX_REQUEST_MENTIONS
    assert len(records_by_key(settings, expect=MAX_REQUEST_MENTIONS)) == MAX_REQUEST_MENTIONS


def test_credentials_are_required_off_loopback() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        check_config(Settings(webhook_host=host))
    for host in ("0.0.0.0", "", "::", "192.0.2.10"):
        with pytest.raises(WebhookConfigError, match="refusing to serve an unauthenticated"):
            check_config(Settings(webhook_host=host))
        check_config(Settings(webhook_host=host, webhook_token=TOKEN))
        check_config(Settings(webhook_host=host, webhook_hmac_secret=SECRET))
    with pytest.raises(WebhookConfigError):
        check_config(Settings(webhook_host="0.0.0.0", webhook_token="  "))


@pytest.mark.parametrize(("secrets", "words"), [
    ({"webhook_hmac_secret": "   "}, "VEILLE_WEBHOOK_HMAC_SECRET is only blanks"),
    ({"webhook_token": "x"}, "VEILLE_WEBHOOK_TOKEN has 1 characters, at least 16"),
    ({"webhook_hmac_secret": "short-secret"}, "VEILLE_WEBHOOK_HMAC_SECRET has 12 characters"),
    ({"webhook_hmac_secret": "cl\udce9" + "x" * 20}, "is not valid UTF-8 text"),  # env bytes
])
def test_blank_short_or_undecodable_secrets_are_refused(secrets: dict, words: str) -> None:
    """A blank HMAC secret counted as a secret (the webhook then served every interface), a
    1-character token guarded one, and bytes of another encoding gave a UnicodeEncodeError."""
    with pytest.raises(WebhookConfigError, match=words):
        check_config(Settings(webhook_host="0.0.0.0", **secrets))


def test_broker_down_gives_503_and_delivery_resumes(settings, serve, start_worker) -> None:
    """While the broker is down every request gets 503 + Retry-After and none gets 202; once a
    broker is back on the same port, the resent mentions get 202, and after the enrichment
    stage every acknowledged id is on mentions.enriched exactly once (a sender's retry of an
    already-accepted push included)."""

    second = start_broker()
    try:
        s2 = settings.with_(broker_url=second.url)
        ensure_topics(s2)
        w = serve(s2, ack_timeout=1.0)
        r = w.post(item(0, id="before"))
        assert r.status_code == 202
        assert set(records_by_key(s2, expect=1)) == {"before"}

        second.process.kill()  # type: ignore[union-attr]  # a crash (SIGTERM waits for clients)
        second.stop()
        payloads = [item(1), item(2, id="down-2"), [item(i) for i in range(3, 6)]]
        refused = []
        for p in payloads:
            r = w.post(p)
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
            assert r.json()["error"] == "broker_unavailable" and "Traceback" not in r.text
            refused.append(p)
        assert w.client.get("/readyz").status_code == 503
        assert w.metric("veille_collector_items_sent_total") == 1
        assert w.metric("veille_collector_send_errors_total") == 3

        second = EmbeddedBroker(second.port).start()  # memory storage: an empty broker
        ensure_topics(s2)
        acked: list[str] = []
        deadline = time.monotonic() + 30
        while refused and time.monotonic() < deadline:
            r = w.post(refused[0])
            assert r.status_code in (202, 503), r.text
            if r.status_code == 202:
                acked += r.json()["ids"]
                refused.pop(0)
            else:
                time.sleep(0.5)
        assert not refused, "delivery did not resume"
        assert len(acked) == 5 and "down-2" in acked
        assert set(acked) <= set(records_by_key(s2, expect=len(acked)))
        assert w.client.get("/readyz").status_code == 200
        assert w.post(payloads[2]).status_code == 202  # a sender retrying an accepted batch
        worker = start_worker(s2.with_(watchlist=str(ROOT / "tests/data/watchlist.toml")))
        wait_drained(s2, worker, len(acked))  # every output of the raw topic on the broker
        enriched = read_to_end(s2, MENTIONS_ENRICHED)
        ids = [r.key.decode() for r in enriched]
        assert sorted(ids) == sorted(acked), ids  # each acknowledged id, exactly once
        # Both before the broker: Tansu waits for its clients on SIGTERM, and a worker whose
        # broker is gone waits for it until killed.
        worker.stop()
        w.stop()
    finally:
        second.stop()


class Faulty(WebhookCollector):
    """A handler bug whose message holds a secret: the answer and the log show neither."""

    async def _healthz(self, request: Any) -> Any:
        raise RuntimeError(f"oops {SECRET} {TOKEN}")


def test_no_traceback_nor_secret_in_answers_or_logs(settings, serve, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    ensure_topics(settings)
    w = serve(settings.with_(webhook_token=TOKEN, webhook_hmac_secret=SECRET), cls=Faulty)
    r = w.client.get("/healthz")
    assert r.status_code == 500 and r.json() == {"error": "internal"}
    answers = [
        r,
        w.post(content=b"[" * 50_000, token=TOKEN, signature=sign(SECRET, b"[" * 50_000)),
        w.post(content=b"\x00" * 10, token=TOKEN, signature=sign(SECRET, b"\x00" * 10)),
        w.post(item(1), token=TOKEN, signature="sha256=" + sign(TOKEN, b"")),
        w.post(item(1), token=SECRET),
        w.client.get("/nowhere"),
        w.client.request("PATCH", "/mentions"),
    ]
    for a in answers:
        assert "Traceback" not in a.text and SECRET not in a.text and TOKEN not in a.text, a.text
        assert a.headers["Content-Type"].startswith("application/json")
    ours = [rec for rec in caplog.records if rec.name.startswith(("veille", "aiohttp"))]
    assert any("internal error" in rec.getMessage() and "RuntimeError" in rec.getMessage()
               for rec in ours)
    for rec in ours:
        assert rec.exc_info is None
        text = rec.getMessage()
        assert SECRET not in text and TOKEN not in text and "Traceback" not in text


def _reader(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def test_module_entry_point_serves_and_stops_on_sigterm(settings, tmp_path) -> None:
    ensure_topics(settings)
    env = settings_env(settings)
    # The token from a file (a Docker or Kubernetes secret), not from the environment.
    (tmp_path / "token").write_text(TOKEN + "\n")
    env.update(VEILLE_WEBHOOK_PORT="0", VEILLE_WEBHOOK_HOST="127.0.0.1", VEILLE_WEBHOOK_TOKEN="",
               VEILLE_WEBHOOK_TOKEN_FILE=str(tmp_path / "token"), VEILLE_LOG_LEVEL="INFO")
    for changes, message in [
        ({"VEILLE_WEBHOOK_HOST": "0.0.0.0", "VEILLE_WEBHOOK_TOKEN_FILE": ""},
         "refusing to serve an unauthenticated webhook"),
        ({"VEILLE_WEBHOOK_TOKEN_FILE": str(tmp_path / "missing")},
         f"VEILLE_WEBHOOK_TOKEN_FILE='{tmp_path / 'missing'}': cannot read it"),
    ]:
        refused = subprocess.run(
            [sys.executable, "-m", "veille.collectors.webhook"], capture_output=True, text=True,
            timeout=30, env={**env, **changes})
        assert refused.returncode == 2
        assert message in refused.stderr
        assert "Traceback" not in refused.stderr

    err = open(tmp_path / "webhook.err", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "veille.collectors.webhook"], env=env,
                            stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        line = lines.get(timeout=30)
        match = re.search(r"POST (http://127\.0\.0\.1:\d+)/mentions", line)
        assert match, line
        url = match.group(1)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(f"{url}/mentions", json=item(0, id="sub-0"), headers=headers, timeout=30)
        assert r.status_code == 202

        # A request in flight when SIGTERM arrives: headers and part of the body sent...
        body = json.dumps([item(i, id=f"sub-{i}") for i in range(1, 21)]).encode()
        host, port = url.removeprefix("http://").split(":")
        conn = socket.create_connection((host, int(port)), timeout=30)
        conn.sendall(f"POST /mentions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}"
                     f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                     f"\r\nExpect: 100-continue\r\n\r\n".encode())
        # The server's "100 Continue" proves it accepted the connection, read the headers and
        # entered the request's handling: it writes it from the route's Expect handler, which
        # aiohttp follows with the middleware that counts the request in flight, with no await
        # in between (so before it can handle the signal). Only then SIGTERM is sent.
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed before 100 Continue: {answer!r}"
            answer += chunk
        interim, _, answer = answer.partition(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue", interim
        conn.sendall(body[:100])
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ...the server stops accepting connections...
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
            except OSError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM")
        conn.sendall(body[100:])  # ...and still finishes the request in flight
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
        conn.close()
        assert answer.startswith(b"HTTP/1.1 202"), answer
        assert proc.wait(30) == 0
        acked = {f"sub-{i}" for i in range(21)}
        assert set(records_by_key(settings, expect=len(acked))) == acked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
    assert "Traceback" not in (tmp_path / "webhook.err").read_text()


def test_times_as_platforms_and_no_code_tools_write_them(settings, serve) -> None:
    """Zapier passes Twitter's created_at ("Wed Oct 10 20:19:24 +0000 2018") and RSS's RFC 2822
    through as they come, and an unmapped number as text: all were refused as "not an ISO 8601
    time", as was a French feed's "CEST". A time without an offset in those formats, or with an
    ambiguous zone name, stays refused (no guess)."""
    import email.utils

    ensure_topics(settings)
    w = serve(settings)
    posted = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    forms = {"rfc": email.utils.format_datetime(posted),
             "twitter": posted.strftime("%a %b %d %H:%M:%S +0000 %Y"),
             "seconds": str(int(posted.timestamp())),
             # a French feed's pubDate, passed on by Zapier's RSS trigger: Python reads no offset
             "cest": (posted + timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S CEST")}
    for name, text in forms.items():
        r = w.post(dict(item(1, id=f"t-{name}"), created_at=text))
        assert r.status_code == 202, (name, r.text)
    got = records_by_key(settings, expect=len(forms))
    want = posted.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert {k: v["created_at"] for k, v in got.items()} == {f"t-{n}": want for n in forms}
    for unknown in ("-0000", "IST"):  # no offset; India's, Ireland's or Israel's
        r = w.post(dict(item(2), created_at=posted.strftime(f"%a, %d %b %Y %H:%M:%S {unknown}")))
        assert r.status_code == 400 and "created_at" in r.text, unknown


def test_counts_written_as_text_are_read_and_others_named(settings, serve) -> None:
    """No-code tools send numbers as text ("1,234" followers): refused before, with a message
    that did not show what was received."""
    ensure_topics(settings)
    w = serve(settings)
    r = w.post(dict(item(1, id="c-1"), audience={"followers": "1,234", "likes": "7", "views": 3}))
    assert r.status_code == 202, r.text
    assert records_by_key(settings, expect=1)["c-1"]["audience"] == {
        "followers": 1234, "likes": 7, "views": 3}
    r = w.post(dict(item(2), audience={"followers": "about 1k"}))
    assert r.status_code == 400, r.text
    assert "audience.followers must be a non-negative integer, not 'about 1k'" in r.text


def test_a_raw_newline_in_a_string_is_read_as_itself(settings, serve) -> None:
    """Found in review (2026-12-06): IFTTT's "Make a web request" pastes its ingredients into
    the JSON body unescaped, so a multi-line text (an RSS entry's description, a caption) came
    with raw newlines and tabs inside a string: 400 "Invalid control character at: line 1
    column 44", and IFTTT does not send it again. Other invalid JSON is still refused."""
    ensure_topics(settings)
    w = serve(settings)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = ('{"id": "ifttt-1", "platform": "news", "created_at": "' + now + '",\r\n'
            ' "text": "Acme recalls the Zephyr X2\n\nThe battery\tmay overheat.\r\n"}')
    r = w.post(content=body.encode())
    assert r.status_code == 202, r.text
    got = records_by_key(settings, expect=1)["ifttt-1"]
    assert "Zephyr X2" in got["text"] and "overheat" in got["text"]
    r = w.post(content=b'{"platform": "news", "text": "Acme says "hi"", "created_at": "x"}')
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"


def test_a_blank_audience_figure_is_as_absent(settings, serve) -> None:
    """Found in review (2026-12-06): Zapier sends an unmapped field as "", and with its
    `audience__likes` keys a blank figure inside `audience`; the whole push got 400 "audience.likes
    must be a non-negative integer, not ''" while a blank `audience` was as absent."""
    ensure_topics(settings)
    w = serve(settings)
    r = w.post(dict(item(1, id="b-1"), audience={"followers": "1,234", "likes": "", "shares": " "}))
    assert r.status_code == 202, r.text
    assert records_by_key(settings, expect=1)["b-1"]["audience"] == {"followers": 1234}


def test_audience_figures_sent_flat_in_json_are_gathered(settings, serve) -> None:
    """Found in review (2026-12-06): Zapier's JSON payload type with "Unflatten" off sends
    `audience__followers` and friends flat; they were ignored as unknown fields, the mention
    written without its audience (which weighs a negative mention for the spike agent)."""
    ensure_topics(settings)
    w = serve(settings)
    base = {k: v for k, v in item(1, id="f-1").items() if k != "audience"}
    r = w.post(dict(base, audience__followers="1,234", audience__likes=7, audience__shares=""))
    assert r.status_code == 202, r.text
    assert records_by_key(settings, expect=1)["f-1"]["audience"] == {"followers": 1234, "likes": 7}
    both = w.post(dict(base, id="f-2", audience={"likes": 1}, audience__likes=2))
    assert both.status_code == 400 and both.json()["field"] == "audience", both.text


@pytest.mark.parametrize("bad, field", [
    ({"audience": {"likes": "1" * 4301}}, "audience.likes"),  # past Python's int() limit
    ({"audience": {"unknown_key": "1" * 5000}}, None),  # a key otherwise ignored: ignored
    ({"created_at": "Fri, 04 Dec 99999999999999999999 22:12:17 +0000"}, "created_at"),
    ({"collected_at": "Fri, 04 Dec 2026 22:12:17 +99999999999999999999"}, "collected_at"),
])
def test_a_count_or_date_too_large_for_python_is_a_400_naming_the_item(
        settings, serve, bad: dict, field: str | None) -> None:
    """Found in review: these raised past the validation (int()'s 4,300-digit limit, an
    OverflowError in the RFC 2822 reader) and the whole request got a 500 naming no item."""
    ensure_topics(settings)
    w = serve(settings)
    first = dict(item(1), audience={**item(1)["audience"], **bad.get("audience", {})})
    r = w.post([item(2), dict(item(3), **bad) if "audience" not in bad else first])
    if field is None:
        assert r.status_code == 202, r.text
        return
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["index"] == 1 and field in r.text, body


FORM = "application/x-www-form-urlencoded"


def test_a_zapier_form_body_is_one_mention_checked_as_json_is(settings, serve) -> None:
    """Zapier's default payload type is "Form" (flat key=value pairs, percent-encoded UTF-8, its
    audience figures as `audience__likes`): it got 415 until 2026-12-06 and the pushes of users
    who kept the default were lost. One form is one mention, with JSON's fields, defaults,
    validation, signature (of the decoded body) and metrics; a field sent twice, a charset other
    than UTF-8 or bytes that are not UTF-8 are refused, naming the problem, and nothing written."""
    from urllib.parse import urlencode

    settings = settings.with_(webhook_token=TOKEN, webhook_hmac_secret=SECRET)
    ensure_topics(settings)
    w = serve(settings)
    posted = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    fields = {"id": "form-1", "source": "zapier", "platform": "Twitter", "author": "",
              "text": "Acme & Boréal: 1+1=2\nsecond line 100% sure", "url": "https://x.com/a/1?b=c&d",
              "language": "FR", "created_at": posted.strftime("%a, %d %b %Y %H:%M:%S +0000"),
              "audience__followers": "1,234", "audience__likes": "", "audience__shares": "3"}

    def post_form(body: bytes, ctype: str = FORM, **headers: str) -> httpx.Response:
        return w.post(content=body, content_type=ctype, token=TOKEN, signature=sign(SECRET, body),
                      headers=headers)

    body = urlencode(fields).encode()
    r = post_form(body)
    assert r.status_code == 202 and r.json() == {"accepted": 1, "ids": ["form-1"]}, r.text
    # Zapier may name the charset; compressed, the signature is of the decoded body.
    second = urlencode(dict(fields, id="form-2")).encode()
    r = post_form(second, ctype=f"{FORM}; charset=UTF-8")
    assert r.status_code == 202, r.text
    r = w.client.post("/mentions", content=gzip.compress(urlencode(dict(fields, id="form-3")).encode()),
                      headers={"Content-Type": FORM, "Content-Encoding": "gzip",
                               "Authorization": f"Bearer {TOKEN}",
                               "X-Veille-Signature": sign(SECRET, urlencode(dict(fields, id="form-3")
                                                                            ).encode())})
    assert r.status_code == 202, r.text
    # No id: derived as for the same mention sent as JSON (a retried push is one mention).
    no_id = {k: v for k, v in fields.items() if k != "id"}
    as_form = post_form(urlencode(no_id).encode())
    as_json = json.dumps({**{k: v for k, v in no_id.items() if not k.startswith("audience__")},
                          "audience": {"followers": "1,234", "shares": "3"}}).encode()
    r = w.post(content=as_json, token=TOKEN, signature=sign(SECRET, as_json))
    assert as_form.status_code == r.status_code == 202, (as_form.text, r.text)
    assert as_form.json()["ids"] == r.json()["ids"]
    derived = r.json()["ids"][0]

    refusals = [  # (body, content type, status, error, field)
        (body + b"&text=again", FORM, 400, "invalid_field", "text"),  # which one is meant?
        (body + b"&audience__followers=5", FORM, 400, "invalid_field", "audience__followers"),
        (body.replace(b"Bor%C3%A9al", b"Bor%E9al"), FORM, 400, "undecodable_bytes", "text"),
        (body, f"{FORM}; charset=iso-8859-1", 415, "unsupported_media_type", None),
        (urlencode({k: v for k, v in fields.items() if k != "text"}).encode(), FORM, 400,
         "missing_field", "text"),
        (urlencode(dict(fields, audience__likes="-1")).encode(), FORM, 400, "invalid_field",
         "audience.likes"),
        (urlencode(dict(fields, created_at="last Tuesday")).encode(), FORM, 400, "invalid_field",
         "created_at"),
    ]
    for bad, ctype, status, error, field in refusals:
        assert b"Bor%C3%A9al" in body
        r = post_form(bad, ctype=ctype)
        assert (r.status_code, r.json()["error"], r.json().get("field")) == (status, error, field), \
            (bad, r.text)
    r = w.post(content=body, content_type=FORM, token=TOKEN, signature=sign(SECRET, body + b"&"))
    assert r.status_code == 401, r.text
    small = serve(settings.with_(webhook_max_body_bytes=len(body) - 1))
    r = small.post(content=body, content_type=FORM, token=TOKEN, signature=sign(SECRET, body))
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.text

    got = records_by_key(settings, expect=5)
    assert set(got) == {"form-1", "form-2", "form-3", derived}
    one = got["form-1"]
    assert (one["text"], one["url"], one["source"], one["platform"], one["language"],
            one["author"], one["audience"]) == (fields["text"], fields["url"], "zapier", "twitter",
                                               "fr", None, {"followers": 1234, "shares": 3})
    assert one["created_at"] == posted.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert got["form-2"]["text"] == got["form-3"]["text"] == fields["text"]
    assert w.metric("veille_collector_items_fetched_total") == 5 + 3  # three refused by validation
    for reason, n in (("invalid_field", 4), ("undecodable_bytes", 1), ("unsupported", 1),
                      ("missing_field", 1), ("unauthorized", 1)):
        assert w.metric("veille_collector_items_refused_total", reason=reason) == n, reason


def test_a_comment_pushed_from_a_brands_space_reaches_its_moderators(settings, serve, start_worker) -> None:
    """The gap closed on 2026-12-07: a comment on Acme's Facebook page, pushed by a Zap with
    `brands`, names no brand; through the real broker and worker it is Acme's, triaged with
    Acme's charter, and a hostile one is a moderation case. An id the watch list lacks is
    ignored and counted."""
    from urllib.parse import urlencode

    import jsonschema

    from streams.topics import MENTIONS_BY_BRAND, MODERATION_QUEUE
    from tests.integration.test_pipeline import SCHEMA

    settings = settings.with_(watchlist=str(ROOT / "tests/data/moderation_watchlist.toml"))
    ensure_topics(settings)
    worker = start_worker(settings)
    w = serve(settings)
    late = item(1, id="fb-1", platform="Facebook", text="Third time my delivery is late, really?",
                brands=["acme"])
    assert w.post(late).status_code == 202
    hostile = urlencode({"id": "fb-2", "platform": "facebook", "brands": "acme",
                         "text": "Bande de connards, rendez-moi mon argent",
                         "created_at": datetime.now(UTC).isoformat()})
    r = w.post(content=hostile.encode(), content_type="application/x-www-form-urlencoded")
    assert r.status_code == 202, r.text
    assert w.post(item(3, id="fb-3", text="late again", brands=["acmee"])).status_code == 202
    wait_drained(settings, worker, 3)

    enriched = {v["id"]: v for v in (json.loads(r.value) for r in read_to_end(settings, MENTIONS_ENRICHED))}
    for v in enriched.values():
        jsonschema.validate(v, SCHEMA)
    assert (enriched["fb-1"]["brands"], enriched["fb-1"]["rules"]) == (["acme"], ["acme:source:facebook"])
    assert enriched["fb-1"]["triage"] is not None
    assert enriched["fb-2"]["brands"] == ["acme"] and "insult" in enriched["fb-2"]["triage"]["categories"]
    assert (enriched["fb-3"]["brands"], enriched["fb-3"]["triage"]) == ([], None)
    cases = {c["case_id"]: c for c in (json.loads(r.value) for r in read_to_end(settings, MODERATION_QUEUE))}
    case = cases["fb-2"]
    # As a term match of Acme's would be: a severe insult hidden, answered within Acme's 60 min
    # (Boréal's charter gives 240).
    assert (case["brand"], case["brands"], case["action"]) == ("acme", ["acme"], "hide")
    answer_in = datetime.fromisoformat(case["respond_by"]) - datetime.fromisoformat(case["created_at"])
    assert answer_in == timedelta(minutes=60)
    assert case["text"] == "Bande de connards, rendez-moi mon argent" and "fb-3" not in cases
    assert worker.metric("veille_mentions_unknown_brand_total") == 1
    # The crisis detection's input: one signal per mention of the brand, on its partition.
    signals = [json.loads(r.value) for r in read_to_end(settings, MENTIONS_BY_BRAND) if r.key == b"acme"]
    assert sorted(sig["id"] for sig in signals) == ["fb-1", "fb-2"]
