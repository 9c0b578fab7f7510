"""Every topic of veille, declared once: names, keys, values, who writes and who reads them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from veille.settings import Settings

if TYPE_CHECKING:
    import faust

log = logging.getLogger(__name__)

MENTIONS_RAW = "mentions.raw"
MENTIONS_ENRICHED = "mentions.enriched"
MENTIONS_DLQ = "mentions.dlq"
MENTIONS_BY_BRAND = "mentions.by_brand"
REPUTATION_ALERTS = "reputation.alerts"
DEDUP_TABLE = "dedup"
SPIKE_OPEN_TABLE = "spikes-open"
SPIKE_CORE_TABLE = "spikes-core"


@dataclass(frozen=True)
class TopicDoc:
    name: str
    key: str
    value: str
    writers: str
    readers: str


#: The topic map, rendered in the README (a test keeps the two in step).
TOPIC_MAP = (
    TopicDoc(
        MENTIONS_RAW,
        "mention id (UTF-8)",
        "RawMention JSON (schemas/raw_mention.v1.json)",
        "collectors (`veille collect ...`), the enrichment agent when it re-keys a message",
        "enrichment agent",
    ),
    TopicDoc(
        MENTIONS_ENRICHED,
        "mention id (UTF-8)",
        "EnrichedMention JSON, `schema_version` 1 (schemas/enriched_mention.v1.json)",
        "enrichment agent",
        "spike and moderation agents, other services",
    ),
    TopicDoc(
        MENTIONS_DLQ,
        "the original key",
        "the original bytes, untouched; reason, detail, stage, source topic/partition/offset "
        "and time in `veille-dlq-*` headers",
        "enrichment agent",
        "operators (`veille dlq`), replay tools",
    ),
    TopicDoc(
        MENTIONS_BY_BRAND,
        "brand id",
        "one compact JSON per (mention, matched brand): id, created_at, negative, audience, text",
        "spike fan-out agent",
        "spike agent",
    ),
    TopicDoc(
        REPUTATION_ALERTS,
        "brand id",
        "alert story events JSON (opened, escalated, reopened, resolved)",
        "spike agent",
        "Alertmanager bridges, chat bots, other services",
    ),
    TopicDoc(
        f"<app_id>-{DEDUP_TABLE}-changelog",
        "mention id",
        "first-enriched Unix time (JSON number)",
        "enrichment agent (Faust table changelog)",
        "enrichment agent on recovery",
    ),
    TopicDoc(
        f"<app_id>-{SPIKE_OPEN_TABLE}-changelog, <app_id>-{SPIKE_CORE_TABLE}-changelog",
        "brand id",
        "the brand's open buckets (every mention) and detector/alert state (every closed bucket)",
        "spike agent (Faust table changelogs)",
        "spike agent on recovery",
    ),
)


@dataclass(frozen=True)
class Topics:
    raw: faust.TopicT
    enriched: faust.TopicT
    dlq: faust.TopicT
    by_brand: faust.TopicT
    alerts: faust.TopicT


def declare(app: faust.App, settings: Settings) -> Topics:
    """The Faust topic objects. Values stay bytes: decoding is the agent's job, so that a
    malformed message becomes a dead letter instead of a crash inside Faust's deserializer."""
    raw_kwargs = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    return Topics(
        raw=app.topic(settings.topic(MENTIONS_RAW), **raw_kwargs),  # type: ignore[arg-type]
        enriched=app.topic(settings.topic(MENTIONS_ENRICHED), **raw_kwargs),  # type: ignore[arg-type]
        dlq=app.topic(settings.topic(MENTIONS_DLQ), **raw_kwargs),  # type: ignore[arg-type]
        by_brand=app.topic(settings.topic(MENTIONS_BY_BRAND), **raw_kwargs),  # type: ignore[arg-type]
        alerts=app.topic(settings.topic(REPUTATION_ALERTS), **raw_kwargs),  # type: ignore[arg-type]
    )


def pipeline_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_DLQ,
                                        MENTIONS_BY_BRAND, REPUTATION_ALERTS)]


class TopicError(RuntimeError):
    """A topic exists with a layout veille cannot work with, or the broker is unreachable."""


def ensure_topics(settings: Settings, timeout: float = 15.0) -> list[str]:
    """Create the pipeline topics explicitly (auto-creation picks the broker's partition count).

    Returns the names created. An existing mentions.raw with another partition count than
    settings.topic_partitions is an error: de-duplication relies on raw and changelog
    partitions lining up.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout * 1000),
        )
    except KafkaError as exc:
        raise TopicError(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
    created = []
    try:
        existing = set(admin.list_topics())
        for name in pipeline_topics(settings):
            if name in existing:
                continue
            try:
                admin.create_topics(
                    [NewTopic(name, settings.topic_partitions, settings.topic_replication)]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        raw = settings.topic(MENTIONS_RAW)
        described = admin.describe_topics([raw])
        count = len(described[0].get("partitions", [])) if described else 0
        if count and count != settings.topic_partitions:
            raise TopicError(
                f"{raw} has {count} partitions but VEILLE_TOPIC_PARTITIONS is "
                f"{settings.topic_partitions}: set it to {count}"
            )
    finally:
        admin.close()
    return created
