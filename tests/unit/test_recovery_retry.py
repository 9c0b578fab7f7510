"""A table recovery that fails is retried, never dropped (Faust would resume the streams on
tables missing their changelog's tail)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import agents.recovery as recovery


def test_catch_up_is_retried_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[set[int]] = []

    async def flaky(table: Any, bootstrap: Any, partitions: set[int], timeout: float = 60.0,
                    decode: Any = None) -> int:
        calls.append(partitions)
        if len(calls) < 3:
            raise TimeoutError("reading the changelog took over 60 s")
        return 42

    monkeypatch.setattr(recovery, "catch_up", flaky)
    loaded = asyncio.run(recovery.catch_up_retrying(object(), ["x:1"], {0, 2}, backoff=0.01))
    assert loaded == 42 and calls == [{0, 2}] * 3


def test_a_cancelled_recovery_stops() -> None:
    async def scenario() -> None:
        task = asyncio.ensure_future(recovery.catch_up_retrying(object(), ["127.0.0.1:9"], {0},
                                                                backoff=0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
