"""Enrichment agent: mentions.raw -> validate, de-duplicate, analyse, match -> mentions.enriched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.records import (
    EnrichedMention,
    InvalidMention,
    Limits,
    RawMention,
    dumps,
    iso,
    parse_raw,
)
from streams.topics import DEDUP_TABLE, Topics
from veille.metrics import Metrics
from veille.moderation.queue import make_item
from veille.moderation.triage import strictest, triage
from veille.rules import Charter, Watchlist
from veille.sentiment import Analyzer
from veille.settings import Settings

log = logging.getLogger(__name__)
STAGE = "enrich"
#: Outputs in flight before intake pauses: bounds memory and the work redone after a crash.
MAX_INFLIGHT = 10_000


@dataclass
class Outcome:
    """What one raw message became. Exactly one of the fields is set."""

    enriched: EnrichedMention | None = None
    dead: InvalidMention | None = None
    rekey: RawMention | None = None
    #: With `enriched`: its moderation.queue record when triage asks for a human.
    item: dict[str, Any] | None = None


@dataclass
class Enricher:
    """The agent's logic without Faust: bytes in, an Outcome out. De-duplication is the caller's."""

    analyzer: Analyzer
    watchlist: Watchlist
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: brands of a mention -> their strictest charter (merging compiles a regex: once per set).
    _charters: dict[tuple[str, ...], Charter] = field(default_factory=dict, init=False, repr=False)

    def charter(self, brands: tuple[str, ...]) -> Charter:
        charter = self._charters.get(brands)
        if charter is None:
            charter = self._charters[brands] = (
                self.watchlist.charter_for(brands[0]) if len(brands) == 1
                else strictest([self.watchlist.charter_for(b) for b in brands]))
        return charter

    def handle(self, key: bytes | None, value: bytes | None, timestamp: float | None) -> Outcome:
        now = self.clock()
        try:
            raw = parse_raw(value, now=now, limits=self.limits)
        except InvalidMention as exc:
            return Outcome(dead=exc)
        if key != raw.id.encode("utf-8"):
            # De-duplication state is partitioned by id: a message keyed otherwise may sit on
            # another partition than its id's. It goes back to mentions.raw keyed by id.
            return Outcome(rekey=raw)
        try:
            analysis = self.analyzer.analyse(raw.text, raw.language)
            match = self.watchlist.match(raw.text)
            sentiment = analysis.sentiment
            label = sentiment.label if sentiment else None
            compound = sentiment.compound if sentiment else None
            verdict = None
            if match.brands:  # moderation concerns the watched brands only
                charter = self.charter(match.brands)
                verdict = triage(raw.text, analysis.language, label or "neutral", compound or 0.0,
                                 match.brands, charter)
        except Exception as exc:  # a scorer bug must not stop the stream
            log.exception("processing error on mention %s", raw.id)
            return Outcome(dead=InvalidMention("processing_error", type(exc).__name__))
        received = raw.collected_at or (
            datetime.fromtimestamp(timestamp, UTC) if timestamp else now
        )
        mention = EnrichedMention(
            raw=raw,
            language=analysis.language,
            language_confidence=analysis.language_confidence,
            sentiment=sentiment,
            brands=match.brands,
            rules=match.rules,
            received_at=received,
            processed_at=self.clock(),
            triage=verdict,
        )
        item = None
        if verdict is not None and verdict.action != "none":
            item = make_item(
                mention_id=raw.id, brands=match.brands, triage=verdict,
                charter=self.charter(match.brands), language=analysis.language, sentiment=label,
                compound=compound, platform=raw.platform, author=raw.author, text=raw.text,
                url=raw.url, created_at=raw.created_at.timestamp(),
                queued_at=mention.processed_at.timestamp(),
            )
        return Outcome(enriched=mention, item=item)


def dlq_headers(exc: InvalidMention, message: Any, now: datetime) -> list[tuple[str, bytes]]:
    """Kafka Connect-style context headers: the value itself stays the original bytes."""
    return [
        ("veille-dlq-reason", exc.reason.encode()),
        ("veille-dlq-detail", exc.detail[:500].encode("utf-8", "replace")),
        ("veille-dlq-field", (exc.field or "").encode()),
        ("veille-dlq-stage", STAGE.encode()),
        ("veille-dlq-topic", str(message.topic).encode()),
        ("veille-dlq-partition", str(message.partition).encode()),
        ("veille-dlq-offset", str(message.offset).encode()),
        ("veille-dlq-failed-at", iso(now).encode()),
    ]


@dataclass
class Output:
    """One record the agent publishes for one input, kept until the broker acknowledges it."""

    topic: Any
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    #: Records sent with this one and acknowledged together (a moderation.queue item).
    also: tuple[Output, ...] = ()

    async def send(self) -> Any:
        future = await self.topic.send(key=self.key, value=self.value, headers=self.headers)
        if not self.also:
            return future
        # A retry re-sends all of them: a duplicate downstream, never a loss.
        return asyncio.gather(future, *[await o.send() for o in self.also])


@dataclass
class _Pending:
    event: Any
    output: Output | None
    future: Any
    seen: tuple[bytes, float] | None


class Confirmer:
    """Acknowledges input offsets only after their outputs are on the broker, without stalling.

    The agent keeps processing while earlier outputs are in flight; this task waits for them in
    order, then records the mention id as seen and acks the input event, so a committed offset
    always means a delivered output. A failed send is retried with backoff, never skipped: an
    unreachable broker stops progress (and, through `room`, intake) but loses nothing.
    """

    def __init__(self, stream: Any, seen: Any, metrics: Metrics, max_inflight: int = MAX_INFLIGHT) -> None:
        self.stream = stream
        self.seen = seen
        self.metrics = metrics
        self.max_inflight = max_inflight
        self.pending: deque[_Pending] = deque()
        self.inflight_ids: set[bytes] = set()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def is_seen(self, key: bytes) -> bool:
        return key in self.inflight_ids or self.seen.get(key) is not None

    def add(self, event: Any, output: Output | None, future: Any,
            seen: tuple[bytes, float] | None = None) -> None:
        if seen is not None:
            self.inflight_ids.add(seen[0])
        self.pending.append(_Pending(event, output, future, seen))
        self._wakeup.set()
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def room(self) -> None:
        while len(self.pending) >= self.max_inflight:
            self._drained.clear()
            await self._drained.wait()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self.pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            item = self.pending[0]
            if item.future is not None:
                try:
                    await item.future
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.metrics.send_errors.inc()
                    log.warning("send to %s failed (%s); retrying in %.1f s",
                                item.output.topic.get_topic_name() if item.output else "?",
                                type(exc).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    assert item.output is not None
                    item.future = await item.output.send()
                    continue
            backoff = 0.1
            self.pending.popleft()
            if item.seen is not None:
                key, ts = item.seen
                self.seen[key] = ts
                self.inflight_ids.discard(key)
            await self.stream.ack(item.event)
            if len(self.pending) < self.max_inflight:
                self._drained.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def install(app: Any, topics: Topics, enricher: Enricher, metrics: Metrics, settings: Settings) -> Any:
    """Register the enrichment agent, its de-duplication table and the heartbeat on `app`."""
    # use_partitioner: the changelog partition comes from the id's hash, which is the raw
    # partition too (raw is keyed by id), so the Confirmer can write entries once the outputs
    # are acknowledged, outside the event's context.
    seen = app.Table(
        DEDUP_TABLE, default=None, use_partitioner=True, partitions=settings.topic_partitions,
        key_type=bytes, value_type=float,
    )
    # Keys are the raw id bytes, so that the changelog's partition (murmur2 of the key bytes)
    # is the id's partition on mentions.raw; Faust would JSON-encode them otherwise.
    seen.key_serializer = "raw"

    @seen.on_recover
    async def complete_recovery() -> None:
        from agents.recovery import catch_up

        raw_name = topics.raw.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == raw_name}
        loaded = await catch_up(seen, settings.bootstrap_servers, owned)
        log.info("de-duplication table: %d changelog entries loaded for partitions %s",
                 loaded, sorted(owned))

    @app.timer(1.0)
    async def heartbeat() -> None:
        metrics.beat()

    @app.agent(topics.raw, name="enrich")
    async def enrich(stream: Any) -> Any:
        # Offsets are acknowledged by the Confirmer, only once the broker holds the outputs.
        stream.enable_acks = False
        confirmer = Confirmer(stream, seen, metrics)
        try:
            async for event in stream.events():
                await confirmer.room()
                await process(event, confirmer)
        finally:
            await confirmer.close()

    async def process(event: Any, confirmer: Confirmer) -> None:
        msg = event.message
        metrics.raw_messages.inc()
        outcome = enricher.handle(msg.key, msg.value, msg.timestamp)
        if outcome.dead is not None:
            metrics.dead_letters.labels(outcome.dead.reason, STAGE).inc()
            out = Output(topics.dlq, msg.key, msg.value, dlq_headers(outcome.dead, msg, enricher.clock()))
        elif outcome.rekey is not None:
            metrics.rekeyed.inc()
            out = Output(topics.raw, outcome.rekey.id.encode(), msg.value)
        else:
            mention = outcome.enriched
            assert mention is not None
            key = mention.raw.id.encode()
            if confirmer.is_seen(key):
                metrics.duplicates.inc()
                confirmer.add(event, None, None)
                return
            try:
                also = (Output(topics.queue, key, dumps(outcome.item)),) if outcome.item else ()
                out = Output(topics.enriched, key, mention.to_json(), also=also)
            except Exception as exc:  # an encoding bug must not crash the agent nor lose the input
                log.exception("cannot encode the enriched record of mention %r", mention.raw.id)
                dead = InvalidMention("processing_error", type(exc).__name__)
                metrics.dead_letters.labels(dead.reason, STAGE).inc()
                out = Output(topics.dlq, msg.key, msg.value, dlq_headers(dead, msg, enricher.clock()))
                confirmer.add(event, out, await out.send())
                return
            sentiment = mention.sentiment
            metrics.observe_enriched(
                mention.brands,
                mention.raw.platform,
                mention.language,
                sentiment.label if sentiment else "unscored",
                sentiment.compound if sentiment else None,
                mention.raw.created_at.timestamp(),
                mention.received_at.timestamp(),
            )
            confirmer.add(event, out, await out.send(), (key, mention.processed_at.timestamp()))
            return
        confirmer.add(event, out, await out.send())

    return enrich
