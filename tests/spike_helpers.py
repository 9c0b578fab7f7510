"""A stand-in Faust app for agents/spikes.py: tables are dicts that log their changelog writes
in order; a crash keeps a prefix of that log (what landed), and a new process installs the agent
again, recovers its tables from what landed and replays the input from a committed offset."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry

from agents import spikes
from streams.records import source_tick
from tests.conftest import ROOT
from veille.metrics import SpikeMetrics
from veille.rules import Watchlist
from veille.settings import Settings

WATCHLIST = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")
SETTINGS = Settings.from_env({})
BY_BRAND = "by_brand"


class Killed(Exception):
    """kill -9: nothing after this point runs."""


class KilledMidSend(BaseException):
    """kill -9 right after the broker acknowledged an alert event (not an Exception: the
    agent's retry loop must not catch it)."""


class Table(dict):  # type: ignore[type-arg]
    def __init__(self, name: str, log: list[Any]) -> None:
        super().__init__()
        self.name, self.log, self.data = name, log, self
        self.recover: list[Callable[[], Any]] = []

    def on_recover(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        self.recover.append(fn)
        return fn

    def __setitem__(self, key: Any, value: Any) -> None:
        self.log.append((self.name, key, json.loads(json.dumps(value))))  # as serialised
        super().__setitem__(key, value)


class Alerts:
    """reputation.alerts: the first `fail` sends are not acknowledged."""

    def __init__(self, fail: int = 0, killed_after: int | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail
        self.killed_after = killed_after  # the process dies once this many were acknowledged

    async def send(self, *, key: bytes, value: bytes) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            self.fail -= 1
            fut.set_exception(RuntimeError("not acknowledged"))
        else:
            self.sent.append(json.loads(value))
            if self.killed_after is not None and len(self.sent) >= self.killed_after:
                raise KilledMidSend
            fut.set_result(None)
        return fut


class Process:
    """One worker process: its app, its tables (recovered from `landed`), the spike agent."""

    def __init__(self, landed: list[Any] = (), alerts_fail: int = 0,  # type: ignore[assignment]
                 settings: Settings = SETTINGS, killed_after_sends: int | None = None,
                 watchlist: Watchlist = WATCHLIST) -> None:
        self.log: list[Any] = []
        self.tables: dict[str, Table] = {}
        self.saved_at: list[int] = []  # len(log) once each batch was handled
        outer = self

        async def flush() -> None:
            outer.log.append(("flush",))

        #: The mentions.by_brand partitions this worker is assigned (all of them unless a test
        #: changes it before calling a recovery again).
        self.assigned = list(range(SETTINGS.topic_partitions))

        class App:
            consumer = SimpleNamespace(assignment=lambda: [
                SimpleNamespace(topic=BY_BRAND, partition=p) for p in outer.assigned])
            producer = SimpleNamespace(flush=flush)

            def Table(self, name: str, **kwargs: Any) -> Table:  # noqa: N802 (Faust's name)
                table = outer.tables[name] = Table(name, outer.log)
                return table

            def agent(self, channel: Any, name: str) -> Callable[..., Any]:
                def register(fn: Callable[..., Any]) -> Callable[..., Any]:
                    outer.agent = fn
                    return fn
                return register

        self.alerts = Alerts(alerts_fail, killed_after_sends)
        topics = SimpleNamespace(by_brand=SimpleNamespace(get_topic_name=lambda: BY_BRAND),
                                 alerts=self.alerts)
        self.registry = CollectorRegistry()
        self.send_errors = 0
        process = self

        class SendErrors:
            def inc(self) -> None:
                process.send_errors += 1

        #: The agent's listener of a changed watch list (as the worker's reloader calls it).
        self.watch = spikes.install(App(), topics, watchlist,
                                    SpikeMetrics(self.registry, watchlist.brand_ids,
                                                 settings.spike_bucket_seconds),
                                    settings, send_errors=SendErrors())
        for name, key, value in landed:  # what recovery reads back from the changelogs
            dict.__setitem__(self.tables[name], key, value)
        for table in self.tables.values():
            for fn in table.recover:
                asyncio.run(fn())

    def run(self, batches: list[list[Any]], killed_after: int | None = None) -> None:
        """Feed the batches; with `killed_after`, the process dies once that many were handled."""
        process = self

        class Stream:
            async def take_events(self, n: int, within: float) -> Any:
                for i, batch in enumerate(batches):
                    if killed_after is not None and i == killed_after:
                        raise Killed
                    yield batch
                    process.saved_at.append(len(process.log))

        try:
            asyncio.run(self.agent(Stream()))
        except (Killed, KilledMidSend):
            pass

    def landed(self) -> list[Any]:
        """The changelog writes the broker holds: those before the last flush."""
        flushes = [i for i, w in enumerate(self.log) if w == ("flush",)]
        return self.log[:flushes[-1]] if flushes else []

    def state(self, brand: str = "acme") -> tuple[Any, Any]:
        return (self.tables["spikes-core"].get(brand.encode()),
                self.tables["spikes-open"].get(brand.encode()))

    def late(self, brand: str = "acme") -> float | None:
        return self.registry.get_sample_value("veille_reputation_late_mentions_total",
                                              {"brand": brand})


def event(partition: int, offset: int, key: bytes | None, value: bytes) -> Any:
    return SimpleNamespace(key=key, value=value,
                           message=SimpleNamespace(partition=partition, offset=offset))


def signal(partition: int, offset: int, brand: str, *, p: int, o: int, t: float, neg: bool = True,
           text: str = "awful") -> Any:
    return event(partition, offset, brand.encode(), json.dumps(
        {"id": f"m{p}-{o}", "t": t, "neg": neg, "aud": 1, "text": text, "p": p, "o": o}).encode())


def tick(partition: int, offset: int, *, p: int, t: float | None) -> Any:
    return event(partition, offset, None, source_tick(p, t or 0.0, t, False, False))
