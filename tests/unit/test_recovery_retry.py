"""A table recovery that fails is retried, never dropped (Faust would resume the streams on
tables missing their changelog's tail)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import agents.recovery as recovery

#: Client options (Settings.kafka_client_options()) of brokers the tests never reach.
BROKERS = {"bootstrap_servers": ["x:1"]}
NOWHERE = {"bootstrap_servers": ["127.0.0.1:9"]}

def test_catch_up_is_retried_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[set[int]] = []

    async def flaky(table: Any, bootstrap: Any, partitions: set[int], timeout: float = 60.0,
                    decode: Any = None, current: Any = None) -> int:
        calls.append(partitions)
        if len(calls) < 3:
            raise TimeoutError("reading the changelog took over 60 s")
        return 42

    monkeypatch.setattr(recovery, "catch_up", flaky)
    loaded = asyncio.run(recovery.catch_up_retrying(object(), BROKERS, {0, 2}, backoff=0.01))
    assert loaded == 42 and calls == [{0, 2}] * 3


def test_a_superseded_recovery_stops_retrying_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer rebalance's recovery started while this one failed and waited to retry: it
    stops (Faust does not cancel it), rather than retrying and then rebuilding stale state."""
    calls: list[int] = []
    latest = [1]

    async def failing(table: Any, bootstrap: Any, partitions: set[int], timeout: float = 60.0,
                      decode: Any = None, current: Any = None) -> int:
        calls.append(1)
        latest[0] = 2  # meanwhile, a newer recovery started
        raise TimeoutError("no progress")

    monkeypatch.setattr(recovery, "catch_up", failing)
    with pytest.raises(recovery.Superseded):
        asyncio.run(recovery.catch_up_retrying(object(), BROKERS, {0}, backoff=0.01,
                                               current=lambda: latest[0] == 1))
    assert calls == [1]


def test_a_cancelled_recovery_stops() -> None:
    async def scenario() -> None:
        task = asyncio.ensure_future(recovery.catch_up_retrying(object(), NOWHERE, {0},
                                                                backoff=0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


class FakeClock:
    """time.monotonic for agents.recovery: each reading is `step` seconds after the last."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def monotonic(self) -> float:
        self.now += self.step
        return self.now


class SlowChangelog:
    """An AIOKafkaConsumer over one partition of `size` records that hands them out `per_fetch`
    at a time (a long changelog on a slow link), or none at all when `stalled`."""

    def __init__(self, size: int, per_fetch: int, stalled: bool = False) -> None:
        self.size, self.per_fetch, self.stalled, self.position_ = size, per_fetch, stalled, 0

    def __call__(self, **kwargs: Any) -> SlowChangelog:
        return self

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def assign(self, tps: Any) -> None: ...

    async def seek_to_beginning(self, *tps: Any) -> None:
        self.position_ = 0

    async def getmany(self, *tps: Any, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        if self.stalled:
            return {}
        n = min(self.per_fetch, self.size - self.position_)
        records = [object()] * n
        self.position_ += n
        return {tps[0]: records} if records else {}

    def highwater(self, tp: Any) -> int:
        return self.size

    async def position(self, tp: Any) -> int:
        return self.position_


def test_a_long_read_that_progresses_is_not_cut_and_a_stall_is(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The read's timeout bounds a stall, not the whole read: with a deadline over the whole read
    (60 s, restarted from the beginning by catch_up_retrying), a changelog that took longer
    to read than that was never read to its end, and the agents stayed paused for good. Here
    each fetch takes 1 s of the clock, 10 records a fetch, 1,000 records, a 5 s timeout."""
    import aiokafka

    monkeypatch.setattr(recovery.time, "monotonic", FakeClock(step=0.5).monotonic)
    read: list[Any] = []
    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", SlowChangelog(size=1000, per_fetch=10))
    assert asyncio.run(recovery.read_to_end(BROKERS, ["tp"], read.append, timeout=5.0)) == 1000
    assert len(read) == 1000

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", SlowChangelog(1000, 10, stalled=True))
    with pytest.raises(TimeoutError, match=r"no progress for 5.0 s \(0 records read\)"):
        asyncio.run(recovery.read_to_end(BROKERS, ["tp"], read.append, timeout=5.0))
