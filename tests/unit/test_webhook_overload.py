"""The webhook collector under a sustained overload while the broker is merely slow: it sheds
load at the door and at its deadline, and keeps writing at the broker's pace (no congestion
collapse), and a 202 is only ever given for a mention the broker acknowledged."""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
from prometheus_client import CollectorRegistry

from veille.collectors.base import BrokerUnavailable, MentionSink
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings

#: Seconds the stand-in broker takes for any write, whatever its size.
LATENCY = 0.8


class SlowBroker(MentionSink):
    """Acknowledges a write after LATENCY seconds when its timeout allows it, else fails it
    at its timeout having written nothing."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.written: set[str] = set()
        self.writes: list[tuple[int, bool]] = []  # (mentions, acknowledged)

    async def send(self, mentions, timeout=None, *, records=()):  # type: ignore[no-untyped-def]
        batch = list(mentions)
        limit = self.ack_timeout if timeout is None else min(timeout, self.ack_timeout)
        async with self._lock:
            if limit >= LATENCY:
                await asyncio.sleep(LATENCY)
                self.written.update(m.id for m in batch)
                self.writes.append((len(batch), True))
                return len(batch)
            await asyncio.sleep(limit)
            self.writes.append((len(batch), False))
            raise BrokerUnavailable("timeout")

    def close(self) -> None:
        pass


def test_a_slow_broker_under_sustained_overload_keeps_being_written_to() -> None:
    """Found in review (2026-12-05): a group's write was cut short by the deadline of its oldest
    request; under a sustained overload with a broker taking over half a second a write, every
    group had a nearly expired request at its head and failed whole: 23 of 33 writes failed and
    nothing was accepted for the rest of the overload. Now requests that cannot be written in
    time are answered 503 at the door or at their deadline, and no write fails."""

    async def scenario() -> tuple[collections.Counter[str], SlowBroker, list[str]]:
        settings = Settings.from_env({}).with_(webhook_port=0)
        metrics = CollectorMetrics(CollectorRegistry())
        # 6 s to answer (3 until 2026-12-06): on a CI machine loaded by three other test
        # processes, parsing the 40 first requests of 1,000 mentions took long enough that the
        # first writes, before the collector knew the broker's pace, had less than LATENCY left
        # (5 of 31 writes failed in one full run). The overload is sustained all the same: the
        # queue still fills to its requests' deadlines.
        sink = SlowBroker(settings, "webhook", metrics, ack_timeout=6.0)
        c = WebhookCollector(settings, metrics, sink, ack_timeout=6.0)
        await c.start()
        answers: collections.Counter[str] = collections.Counter()
        acknowledged: list[str] = []
        stop = time.monotonic() + 10
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                async def sender(j: int) -> None:
                    n = 0
                    while time.monotonic() < stop:
                        n += 1
                        items = [{"id": f"s{j}-{n}-{i}", "platform": "x", "text": f"acme {i}",
                                  "created_at": "2026-01-01T00:00:00Z"} for i in range(1000)]
                        async with http.post(c.url + "/mentions", json=items) as resp:
                            body = await resp.json()
                        answers[f"{resp.status} {body.get('error', '')}".strip()] += 1
                        if resp.status == 202:
                            acknowledged.extend(body["ids"])

                await asyncio.gather(*(sender(j) for j in range(40)))
        finally:
            await c.stop()
            await c.close()
        return answers, sink, acknowledged

    answers, sink, acknowledged = asyncio.run(scenario())
    failed = [n for n, ok in sink.writes if not ok]
    assert not failed, (failed, sink.writes, answers)  # no write cut short by a request's deadline
    assert set(acknowledged) <= sink.written  # a 202 only for what the broker acknowledged
    # Written at about the broker's pace (5,000 mentions a write, a write every 0.8 s, 10 s),
    # the overload shed with 503s rather than collapsing to nothing.
    assert len(acknowledged) >= 20_000, (len(acknowledged), answers)
    assert answers["503 overloaded"] + answers["503 broker_unavailable"] > 0, answers


class HeldBroker(MentionSink):
    """Holds every write until `release` is set, then acknowledges it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def send(self, mentions, timeout=None, *, records=()):  # type: ignore[no-untyped-def]
        self.entered.set()
        await self.release.wait()
        return len(list(mentions))

    def close(self) -> None:
        pass


def test_a_request_that_cannot_wait_is_refused_before_its_items_are_checked(monkeypatch) -> None:
    """Checking 5,000 mentions takes the event loop about 0.2 s; a request then refused as
    overloaded had them all checked first (until 2026-12-06: in the suite's memory test, 112
    of 150 requests). Now the budget is judged on the items' count before they are checked: a
    request that could not wait even all valid gets its 503 at once (one with an invalid item
    too: sent again later, it gets its 400 then)."""
    import veille.collectors.webhook as webhook

    checked: list[int] = []

    class Counting(WebhookCollector):
        def _validate(self, items, too_long=False):  # type: ignore[no-untyped-def]
            checked.append(len(items))
            return super()._validate(items, too_long)

    monkeypatch.setattr(webhook, "MAX_WAITING_BYTES", 1)

    async def scenario() -> list[tuple[int, str]]:
        settings = Settings.from_env({}).with_(webhook_port=0, webhook_max_body_bytes=512 * 1024)
        metrics = CollectorMetrics(CollectorRegistry())
        sink = HeldBroker(settings, "webhook", metrics, ack_timeout=30.0)
        c = Counting(settings, metrics, sink, ack_timeout=30.0)
        await c.start()
        got: list[tuple[int, str]] = []
        try:
            async with aiohttp.ClientSession() as http:
                one = [{"id": "held", "platform": "x", "text": "acme", "created_at": "2026-01-01T00:00:00Z"}]
                first = asyncio.ensure_future(http.post(c.url + "/mentions", json=one))
                await asyncio.wait_for(sink.entered.wait(), 10)  # it waits for the broker
                many = [{"id": f"m{i}", "platform": "x", "text": f"acme {i}",
                         "created_at": "2026-01-01T00:00:00Z"} for i in range(1000)]
                for items in (many, [*many[:-1], {"platform": "x"}]):  # all valid; one invalid
                    async with http.post(c.url + "/mentions", json=items) as resp:
                        got.append((resp.status, (await resp.json()).get("error", "")))
                sink.release.set()
                async with await first as resp:
                    got.append((resp.status, ""))
        finally:
            await c.stop()
            await c.close()
        return got

    got = asyncio.run(scenario())
    assert got == [(503, "overloaded"), (503, "overloaded"), (202, "")], got
    assert checked == [1], checked  # only the request that was written had its items checked
