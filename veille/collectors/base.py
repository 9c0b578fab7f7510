"""The shape every collector shares: start, run, stop; a durable sink to mentions.raw (and the
records a round writes beside its mentions, acknowledged together); one metrics set."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Iterable
from typing import Any, NamedTuple

from streams.records import RawMention
from streams.topics import MENTIONS_RAW
from veille.collectors.producer import close_now, make_producer
from veille.metrics import CollectorMetrics
from veille.settings import Settings

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge a write in time; nothing may be reported as accepted."""


class Record(NamedTuple):
    """A record written beside a batch of mentions, in the same acknowledged write (the brand's
    answers a collector saw, on moderation.decisions): its topic (the full name), key, value. A
    tuple: the sink makes one of each mention it writes (0.2 µs, a frozen dataclass 0.7)."""

    topic: str
    key: bytes
    value: bytes


class MentionSink:
    """Writes RawMentions to mentions.raw (key = id) with a durable kafka-python producer.

    `send` returns only once the broker has acknowledged every record (acks=all), or raises
    BrokerUnavailable: callers acknowledge their own source (HTTP 202, feed state saved) only
    after it returns. kafka-python blocks while it has no metadata, so calls run in a thread.
    """

    def __init__(self, settings: Settings, collector: str, metrics: CollectorMetrics,
                 ack_timeout: float = 10.0, producer: Any = None) -> None:
        self.settings = settings
        self.collector = collector
        self.metrics = metrics
        self.ack_timeout = ack_timeout
        self.topic = settings.topic(MENTIONS_RAW)
        self._producer = producer
        self._lock = asyncio.Lock()

    def _get_producer(self, bootstrap_ms: int | None = None) -> Any:
        if self._producer is None:
            self._producer = make_producer(
                self.settings,
                client_id=f"{self.settings.app_id}-{self.collector}",
                max_block_ms=int(self.ack_timeout * 1000),
                delivery_timeout_ms=max(int(self.ack_timeout * 1000), 15_000),
                request_timeout_ms=min(int(self.ack_timeout * 1000), 14_000),
                # kafka-python 3 bootstraps in its constructor with its own 30 s timeout.
                bootstrap_timeout_ms=min(int(self.ack_timeout * 1000),
                                         bootstrap_ms or int(self.ack_timeout * 1000)),
            )
        return self._producer

    def _send_blocking(self, records: list[Record], timeout: float) -> None:
        deadline = time.monotonic() + timeout

        def left_ms() -> int:
            return max(1, int((deadline - time.monotonic()) * 1000))

        try:
            producer = self._get_producer(left_ms())
            # Waiting for metadata in send() comes out of this write's deadline too (kafka-python
            # reads max_block_ms from its config at each send).
            producer.config["max_block_ms"] = left_ms()
            futures = [producer.send(r.topic, key=r.key, value=r.value) for r in records]
            # One deadline for the whole write: waiting for metadata in send() comes out of it.
            producer.flush(timeout=max(0.001, deadline - time.monotonic()))
            for f in futures:
                # Raises the send's error, or KafkaTimeoutError if still not acknowledged.
                f.get(timeout=0.001 if f.is_done else max(0.001, deadline - time.monotonic()))
        except BaseException:
            # kafka-python's idempotent producer can stay in a fatal state after a broker
            # restart (InitProducerId refused): a new producer recovers. The records dropped
            # with the old one were never reported as accepted, so their senders resend them.
            self._discard()
            raise

    async def send(self, mentions: Iterable[RawMention], timeout: float | None = None, *,
                   records: Iterable[Record] = ()) -> int:
        """Write `mentions`, and `records` in the same write (flushed and checked within the same
        deadline: a caller saving its state after both needs one answer); acknowledged within
        `timeout` seconds (default: the ack timeout, never more) or BrokerUnavailable, and then
        none of them may be taken as written. Returns the mentions written."""
        batch = list(mentions)
        others = list(records)
        if not batch and not others:
            return 0
        loop = asyncio.get_running_loop()
        limit = self.ack_timeout if timeout is None else min(timeout, self.ack_timeout)
        whole = [Record(self.topic, m.id.encode("utf-8"), m.to_json()) for m in batch] + others
        try:
            # One writer at a time: flush() waits for everything buffered, so concurrent
            # batches would each wait for all the others.
            async with self._lock:
                await loop.run_in_executor(None, self._send_blocking, whole, limit)
        except Exception as exc:
            self.metrics.send_errors.labels(self.collector).inc()
            log.warning("%s: broker did not acknowledge %d mentions%s: %s",
                        self.collector, len(batch),
                        f" and {len(others)} other records" if others else "",
                        type(exc).__name__)
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from None
        self.metrics.sent.labels(self.collector).inc(len(batch))
        self.metrics.last_success.labels(self.collector).set(time.time())
        return len(batch)

    def close(self) -> None:
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=self.ack_timeout)
            self._producer.close(timeout=self.ack_timeout)
            self._producer = None
        except Exception as exc:
            # Nothing still buffered was reported as accepted: dropping it loses nothing.
            log.warning("%s: the broker did not acknowledge the last records at shutdown (%s)",
                        self.collector, type(exc).__name__)
            self._discard()

    def _discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        # kafka-python 3.0's close() flushes first and raises on a timeout without stopping its
        # I/O thread: stop the thread ourselves (aborting unacknowledged batches), then close.
        close_now(producer, self.ack_timeout)


class Collector(ABC):
    """start() prepares, run() works until stop() is called, stop() flushes and releases.

    `serve()` runs the whole life cycle and turns SIGTERM/SIGINT into stop(), so a collector
    killed politely flushes what it has sent before exiting.
    """

    name: str = "collector"

    def __init__(self, settings: Settings, metrics: CollectorMetrics,
                 sink: MentionSink | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        metrics.register(self.name)  # this process's series only (CollectorMetrics)
        self.sink = sink or MentionSink(settings, self.name, metrics)
        self.stopping = asyncio.Event()

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare resources (servers, state files); default: nothing."""

    @abstractmethod
    async def run(self) -> None:
        """Collect until `self.stopping` is set."""

    async def stop(self) -> None:
        self.stopping.set()

    async def run_until_stopped(self, work: Coroutine[Any, Any, None], reloader: Any,
                                stop_grace: float) -> None:
        """run() of a collector whose `work` loops until `self.stopping` is set, beside the
        watch list's follower (`reloader`, a veille.reload.Reloader, or None): once stopped, the
        work has `stop_grace` seconds to finish what it has in flight (a send and the state it
        saves after the broker's acknowledgement) before both are cancelled."""
        task = asyncio.create_task(work, name=self.name)
        tasks = [task]
        if reloader is not None:
            tasks.append(asyncio.create_task(reloader.follow(lambda: not self.stopping.is_set()),
                                             name=f"{self.name}:watchlist"))
        try:
            await self.stopping.wait()
            await asyncio.wait([task], timeout=stop_grace)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.sink.close)

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))
        try:
            await self.start()
            await self.run()
        finally:
            await self.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
