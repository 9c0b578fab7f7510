"""Enrichment agent: mentions.raw -> validate, de-duplicate, analyse, match -> mentions.enriched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streams.records import (
    EnrichedMention,
    InvalidMention,
    Limits,
    RawMention,
    iso,
    parse_raw,
)
from streams.topics import DEDUP_TABLE, Topics
from veille.metrics import Metrics
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.settings import Settings

log = logging.getLogger(__name__)
STAGE = "enrich"
BATCH_MAX = 500
BATCH_WITHIN = 0.05


@dataclass
class Outcome:
    """What one raw message became. Exactly one of the fields is set."""

    enriched: EnrichedMention | None = None
    dead: InvalidMention | None = None
    rekey: RawMention | None = None


@dataclass
class Enricher:
    """The agent's logic without Faust: bytes in, an Outcome out. De-duplication is the caller's."""

    analyzer: Analyzer
    watchlist: Watchlist
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

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
        except Exception as exc:  # a scorer bug must not stop the stream
            log.exception("processing error on mention %s", raw.id)
            return Outcome(dead=InvalidMention("processing_error", type(exc).__name__))
        received = raw.collected_at or (
            datetime.fromtimestamp(timestamp, UTC) if timestamp else now
        )
        return Outcome(
            enriched=EnrichedMention(
                raw=raw,
                language=analysis.language,
                language_confidence=analysis.language_confidence,
                sentiment=analysis.sentiment,
                brands=match.brands,
                rules=match.rules,
                received_at=received,
                processed_at=self.clock(),
            )
        )


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


def install(app: Any, topics: Topics, enricher: Enricher, metrics: Metrics, settings: Settings) -> Any:
    """Register the enrichment agent, its de-duplication table and the heartbeat on `app`."""
    # use_partitioner: the changelog partition comes from the id's hash, which is the raw
    # partition too (raw is keyed by id), so entries can be written after the batch's sends
    # are acknowledged, outside a single event's context.
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
        async for events in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
            await process_batch(events)
            yield len(events)

    async def process_batch(events: list[Any]) -> None:
        pending: list[Any] = []
        fresh: dict[str, float] = {}
        now = enricher.clock()
        for event in events:
            msg = event.message
            metrics.raw_messages.inc()
            outcome = enricher.handle(msg.key, msg.value, msg.timestamp)
            if outcome.dead is not None:
                metrics.dead_letters.labels(outcome.dead.reason, STAGE).inc()
                pending.append(
                    await topics.dlq.send(
                        key=msg.key, value=msg.value, headers=dlq_headers(outcome.dead, msg, now)
                    )
                )
            elif outcome.rekey is not None:
                metrics.rekeyed.inc()
                pending.append(
                    await topics.raw.send(key=outcome.rekey.id.encode(), value=msg.value)
                )
            elif outcome.enriched is not None:
                mention = outcome.enriched
                mid = mention.raw.id
                if mid in fresh or seen.get(mid.encode()) is not None:
                    metrics.duplicates.inc()
                    continue
                fresh[mid] = mention.processed_at.timestamp()
                pending.append(
                    await topics.enriched.send(key=mid.encode(), value=mention.to_json())
                )
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
        # Nothing is marked seen, and no offset committed, before the broker has the output:
        # a crash in between re-enriches (a duplicate downstream), it never drops a mention.
        if pending:
            await asyncio.gather(*pending)
        for mid, ts in fresh.items():
            seen[mid.encode()] = ts

    return enrich
