"""Every topic of veille, declared once: names, keys, values, who writes and who reads them."""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from veille.settings import Settings

if TYPE_CHECKING:
    import faust

log = logging.getLogger(__name__)

MENTIONS_RAW = "mentions.raw"
MENTIONS_ENRICHED = "mentions.enriched"
MENTIONS_DLQ = "mentions.dlq"
MENTIONS_BY_BRAND = "mentions.by_brand"
REPUTATION_ALERTS = "reputation.alerts"
MODERATION_QUEUE = "moderation.queue"
MODERATION_DECISIONS = "moderation.decisions"
MODERATION_CLOSED = "moderation.closed"
SPIKE_OPEN_TABLE = "spikes-open"
SPIKE_CORE_TABLE = "spikes-core"
MODERATION_CASES_TABLE = "moderation-cases"
MODERATION_HELD_TABLE = "moderation-held"


def brand_partition(brand: str, partitions: int) -> int:
    """The mentions.by_brand partition of a brand: the Java client's murmur2 of the key, as
    aiokafka and Faust compute it, so the spike tables' partitions line up with it."""
    return key_partition(brand.encode(), partitions)


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, kafka-python, aiokafka, Faust)
    gives a keyed record: murmur2 of the key, sign bit cleared, modulo the partition count."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), the same values as
    kafka-python's, in about half its time (1.7 against 2.9 µs for a 22-byte id): it runs once
    per raw message."""
    n = len(data)
    h = (0x9747B28C ^ n) & _MASK
    end = n & ~3
    if end:
        for (k,) in struct.iter_unpack("<I", data[:end]):
            k = (k * _M) & _MASK
            k ^= k >> 24
            h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = n & 3
    if rest:
        if rest == 3:
            h ^= data[end + 2] << 16
        if rest >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


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
        "collectors (`veille collect ...`), the enrichment agent when it re-keys a message, "
        "`veille dead-letters --replay`",
        "enrichment agent",
    ),
    TopicDoc(
        MENTIONS_ENRICHED,
        "mention id (UTF-8)",
        "EnrichedMention JSON, `schema_version` 1 (schemas/enriched_mention.v1.json); on the "
        "partition number of its raw message, header `veille-source-offset` = its raw offset",
        "enrichment agent",
        "`veille mentions`, `veille report`, other services; the enrichment agent re-reads a "
        "partition's tail (its de-duplication "
        "window) when it is assigned one",
    ),
    TopicDoc(
        MENTIONS_DLQ,
        "the original key",
        "the original bytes, untouched; reason, detail, field, stage, source topic/partition/offset "
        "and time in `veille-dlq-*` headers",
        "enrichment agent",
        "operators (`veille dead-letters`, any Kafka consumer that prints headers), replay "
        "tools (`veille dead-letters --replay`)",
    ),
    TopicDoc(
        MENTIONS_BY_BRAND,
        "brand id",
        "one compact JSON per (mention, matched brand): `{\"id\", \"t\": created_at in Unix "
        "seconds, \"neg\": bool, \"aud\": followers, \"text\": its first 1,000 characters, "
        "\"p\": raw partition, \"o\": raw offset}`; on the brand's partition (murmur2 of the "
        "key). Also, "
        "every 5 s, one keyless tick per raw partition on every partition: `{\"tick\": sent at, "
        "\"p\": raw partition, \"t\": newest event time or null, \"live\": bool, "
        "\"quiet\": bool}`",
        "enrichment agent, in the same delivery as the enriched record; ticks after it",
        "spike agent",
    ),
    TopicDoc(
        REPUTATION_ALERTS,
        "brand id",
        "alert story events JSON (opened, escalated, reopened, resolved) "
        "(schemas/reputation_alert.v1.json)",
        "spike agent",
        "`veille alerts`, `veille report`, Alertmanager bridges, chat bots, other services",
    ),
    TopicDoc(
        MODERATION_QUEUE,
        "case id = mention id (UTF-8)",
        "one item needing a human (triage action review, respond or hide): the mention, its "
        "triage and response deadline (schemas/moderation_item.v1.json); an erasure marker "
        "(`erased_at` set: the item with `author`, `text` and `url` emptied) replaces an item's "
        "personal data. `cleanup.policy=compact,delete`",
        "enrichment agent; `veille erase`",
        "moderation agent, `veille moderate`, the moderation API",
    ),
    TopicDoc(
        MODERATION_DECISIONS,
        "case id (UTF-8)",
        "a moderator's decision: case_id, decision (approve, reject, escalate, replied, assign, "
        "unassign), moderator, decided_at, reason, assignee (escalate: optional; assign: required) "
        "(schemas/moderation_decision.v1.json)",
        "`veille moderate decide`, the moderation API, your moderation tools, the YouTube, "
        "Jetstream, Reddit and Mastodon collectors (the brand's answers seen on YouTube, "
        "Bluesky, Reddit and Mastodon), the webhook collector (`POST /answers`: the brand's answers on other "
        "platforms, reported by Zapier, IFTTT or your tools)",
        "moderation agent; `veille moderate` and the moderation API (escalations, assignments, "
        "decisions not applied yet)",
    ),
    TopicDoc(
        MODERATION_CLOSED,
        "case id (UTF-8)",
        "a closed case: the closing decision, time to decision and the case with its history "
        "(schemas/moderation_closed.v1.json)",
        "moderation agent",
        "`veille moderate`, the moderation API, `veille moderation report`, other services",
    ),
    TopicDoc(
        f"<app_id>-{SPIKE_OPEN_TABLE}-changelog, <app_id>-{SPIKE_CORE_TABLE}-changelog",
        "brand id",
        "the brand's open buckets (every mention) and detector/alert state (every closed bucket)",
        "spike agent (Faust table changelogs)",
        "spike agent on recovery",
    ),
    TopicDoc(
        f"<app_id>-{MODERATION_CASES_TABLE}-changelog, <app_id>-{MODERATION_HELD_TABLE}-changelog",
        "case id",
        "each case's state and decision history; decisions held until their case arrives",
        "moderation agent (Faust table changelogs)",
        "moderation agent on recovery",
    ),
)


@dataclass(frozen=True)
class Topics:
    raw: faust.TopicT
    enriched: faust.TopicT
    dlq: faust.TopicT
    by_brand: faust.TopicT
    alerts: faust.TopicT
    queue: faust.TopicT
    decisions: faust.TopicT
    closed: faust.TopicT
    #: moderation.queue and moderation.decisions as one channel: the moderation agent reads
    #: both in one stream, so a case and its decisions are never handled concurrently.
    moderation_in: faust.TopicT


def declare(app: faust.App, settings: Settings) -> Topics:
    """The Faust topic objects. Values stay bytes: decoding is the agent's job, so that a
    malformed message becomes a dead letter instead of a crash inside Faust's deserializer."""
    raw_kwargs: dict[str, Any] = dict(key_type=bytes, value_type=bytes, key_serializer="raw",
                                      value_serializer="raw")
    return Topics(
        raw=app.topic(settings.topic(MENTIONS_RAW), **raw_kwargs),
        enriched=app.topic(settings.topic(MENTIONS_ENRICHED), **raw_kwargs),
        dlq=app.topic(settings.topic(MENTIONS_DLQ), **raw_kwargs),
        by_brand=app.topic(settings.topic(MENTIONS_BY_BRAND), **raw_kwargs),
        alerts=app.topic(settings.topic(REPUTATION_ALERTS), **raw_kwargs),
        queue=app.topic(settings.topic(MODERATION_QUEUE), **raw_kwargs),
        decisions=app.topic(settings.topic(MODERATION_DECISIONS), **raw_kwargs),
        closed=app.topic(settings.topic(MODERATION_CLOSED), **raw_kwargs),
        moderation_in=app.topic(
            settings.topic(MODERATION_QUEUE), settings.topic(MODERATION_DECISIONS), **raw_kwargs),
    )


def pipeline_topics(settings: Settings) -> list[str]:
    return [settings.topic(t) for t in (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_DLQ,
                                        MENTIONS_BY_BRAND, REPUTATION_ALERTS, MODERATION_QUEUE,
                                        MODERATION_DECISIONS, MODERATION_CLOSED)]


class TopicError(RuntimeError):
    """A topic exists with a layout veille cannot work with, or the broker is unreachable."""


class BrokerNotReady(TopicError):
    """The broker did not answer, or answered that it cannot do it yet (a controller moving, a
    node starting: a Kafka retriable error): worth trying again, as a worker waiting for its
    broker does (agents.worker.ensure_topics_waiting)."""


#: Topics that must have exactly settings.topic_partitions partitions (see ensure_topics).
PARTITIONED_ALIKE = (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_BY_BRAND, MODERATION_QUEUE,
                     MODERATION_DECISIONS)


_DAY_MS = 86_400_000


def min_insync_replicas(settings: Settings) -> dict[str, str]:
    """`min.insync.replicas` for a replicated topic: 2 of 3 or more replicas (1 of 2), so that
    `acks=all` means a write survives the loss of a broker rather than one leader alone
    acknowledging it once the in-sync set shrank. Nothing for one replica (the broker's 1)."""
    replicas = settings.topic_replication
    if replicas <= 1:
        return {}
    return {"min.insync.replicas": str(max(1, min(2, replicas - 1)))}


#: The topics holding every mention's author and text, kept VEILLE_MENTIONS_RETENTION_DAYS.
_MENTION_TOPICS = (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_BY_BRAND)
#: moderation.queue is compacted as well as deleted at its retention: the erasure marker `veille
#: erase` writes after a case's item (same key) makes the broker drop the item, its author and
#: text, once its segment is cleaned, instead of keeping it the topic's 400 days. Segments roll
#: daily (Kafka's default is a week), and a segment is cleaned once its first record is a day old
#: (max.compaction.lag.ms): by the dirty ratio alone, the cleaner would wait for a share of the
#: whole log (400 days of it) to be new, weeks or months.
QUEUE_COMPACTION = {"cleanup.policy": "compact,delete", "segment.ms": str(_DAY_MS),
                    "max.compaction.lag.ms": str(_DAY_MS)}
#: The setting behind each topic's retention.ms (the moderation topics': the default).
_RETENTION_SETTINGS = {MENTIONS_DLQ: "VEILLE_DLQ_RETENTION_DAYS",
                       **dict.fromkeys(_MENTION_TOPICS, "VEILLE_MENTIONS_RETENTION_DAYS")}


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The configs veille creates `topic` (a name of pipeline_topics, prefix excluded) with;
    the rest is the broker's (reputation.alerts' retention: KAFKA_LOG_RETENTION_HOURS in
    docker-compose)."""
    configs = min_insync_replicas(settings)
    days = (settings.moderation_retention_days
            if topic in (MODERATION_QUEUE, MODERATION_DECISIONS, MODERATION_CLOSED)
            else settings.dlq_retention_days if topic == MENTIONS_DLQ
            else settings.mentions_retention_days if topic in _MENTION_TOPICS else 0.0)
    if days > 0:
        configs["retention.ms"] = str(round(days * _DAY_MS))
    if topic == MODERATION_QUEUE:
        configs.update(QUEUE_COMPACTION)
    return configs


#: The agents' Faust tables, whose changelogs must have the pipeline's partition count.
AGENT_TABLES = (SPIKE_OPEN_TABLE, SPIKE_CORE_TABLE, MODERATION_CASES_TABLE, MODERATION_HELD_TABLE)


def changelog_topic(settings: Settings, table: str) -> str:
    """The changelog topic Faust gives the table `table` of this app: <app id>-<table>-changelog."""
    return f"{settings.app_id}-{table}-changelog"


def changelog_configs(settings: Settings) -> dict[str, str]:
    """Extra configs of the Faust tables' changelog topics (compacted by Faust). The spike agent
    writes a brand's open state with every batch that touches it: on Apache Kafka's defaults
    (1 GiB segments, rolled every 7 days) the active segment is never compacted, and a worker
    taking a partition over re-read days of states. Segments roll every hour and are compacted
    once a tenth of them is stale."""
    return {"segment.ms": str(3_600_000), "min.cleanable.dirty.ratio": "0.1",
            **min_insync_replicas(settings)}


def ensure_topics(settings: Settings, timeout: float = 15.0) -> list[str]:
    """Create the pipeline topics explicitly (auto-creation picks the broker's partition count).

    Returns the names created. An existing mentions.raw, mentions.enriched, mentions.by_brand,
    moderation.queue or moderation.decisions with another partition count than
    settings.topic_partitions is an error: de-duplication relies on raw and enriched partitions
    lining up, the enrichment stage sends each brand's signals to the partition murmur2 gives for
    that count, and moderation needs a case's queue item, decisions and table entries on one
    partition. Topics that existed are never altered but checked (check_existing).
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, NoError, RetriableError, TopicAlreadyExistsError, for_code

    try:
        admin = KafkaAdminClient(
            **settings.kafka_client_options(),
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout * 1000),
            # Bounded too (kafka-python waits 30 s to bootstrap by default: a refused SASL
            # password is retried until then).
            bootstrap_timeout_ms=int(timeout * 1000),
        )
    except KafkaError as exc:
        raise BrokerNotReady(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
    created = []
    try:
        existing = set(admin.list_topics())
        for name in pipeline_topics(settings):
            if name in existing:
                continue
            # Per-topic errors read here rather than raised by kafka-python, whose exception
            # held the whole request and response and named neither the topic nor the fix
            # (found in review, 2026-12-06).
            answer = admin.create_topics([NewTopic(
                name, settings.topic_partitions, settings.topic_replication,
                topic_configs=topic_configs(settings, name.removeprefix(settings.topic_prefix)),
            )], raise_errors=False)
            for result in answer.get("topics") or []:
                error = for_code(result.get("error_code") or 0)
                if error is NoError:
                    created.append(name)
                elif error is not TopicAlreadyExistsError:  # created meanwhile: fine
                    # A retriable one (NotControllerError while a KRaft controller is elected,
                    # a request timed out) is the broker not ready yet, not a refusal.
                    refused = BrokerNotReady if issubclass(error, RetriableError) else TopicError
                    raise refused(_refused(settings, name, error, result.get("error_message")))
        keyed = [settings.topic(t) for t in PARTITIONED_ALIKE]
        # The agents' table changelogs (Faust creates them): each table partition is read from
        # the changelog partition of the same number. Left with an older count (the pipeline
        # topics re-partitioned, or re-created under another prefix with the same app id), a
        # worker waited for ever for a changelog partition that does not exist (found in
        # review, 2026-12-05).
        changelogs = [c for c in (changelog_topic(settings, t) for t in AGENT_TABLES)
                      if c in existing]
        # Topics that existed (pre-created by a platform team, or by an older veille): the
        # configs veille would have given them are not theirs (check_existing below).
        kept = [n for n in pipeline_topics(settings) if n in existing and n not in created]
        kept += changelogs
        # One description of every topic the checks read (never empty: describe_topics([])
        # describes every topic of the cluster).
        described_all = admin.describe_topics(sorted({*keyed, *kept}))
        by_name = {d.get("name") or d.get("topic"): d for d in described_all}  # kafka-python 3: name
        for name in keyed:
            count = len((by_name.get(name) or {}).get("partitions") or [])
            if count and count != settings.topic_partitions:
                raise TopicError(
                    f"{name} has {count} partitions but VEILLE_TOPIC_PARTITIONS is "
                    f"{settings.topic_partitions}: set it to {count}"
                )
        for name in changelogs:
            count = len((by_name.get(name) or {}).get("partitions") or [])
            if count and count != settings.topic_partitions:
                raise TopicError(
                    f"the agents' table changelog {name} has {count} partitions but "
                    f"VEILLE_TOPIC_PARTITIONS is {settings.topic_partitions}: the agents' state "
                    f"(crisis detectors, pending moderation cases) was kept for {count} "
                    f"partitions; use VEILLE_TOPIC_PARTITIONS={count}, or another "
                    "VEILLE_APP_ID to start that state afresh"
                )
        # Said rather than silently run on (found in review, 2026-12-06): a changelog left on
        # cleanup.policy=delete lost the agents' state at its retention, a moderation topic on
        # the broker's 7 days lost pending cases, a topic with one replica every write of a
        # lost broker.
        if kept:
            check_existing(settings, kept, described_all,
                           _describe_configs(admin, kept))
    finally:
        admin.close()
    return created


def _refused(settings: Settings, name: str, error: Any, message: str | None) -> str:
    """Why the broker refused to create `name`, and what to do about it."""
    from kafka.errors import (
        InvalidReplicationFactorError,
        PolicyViolationError,
        TopicAuthorizationFailedError,
    )

    hint = {
        TopicAuthorizationFailedError: "give veille's principal the Create ACL on it, or have "
        "it created beforehand (deploy/README.md, On your own Kafka cluster)",
        InvalidReplicationFactorError: "set VEILLE_TOPIC_REPLICATION to what the cluster allows",
        PolicyViolationError: "the cluster's topic policy refuses this layout or its configs "
        "(README, Topics); have it created beforehand, or set VEILLE_TOPIC_PARTITIONS, "
        "VEILLE_TOPIC_REPLICATION or the retention settings to what it allows",
    }.get(error, "")
    return (f"cannot create {name} ({settings.topic_partitions} partitions, "
            f"{settings.topic_replication} replicas): {error.__name__}"
            + (f": {message}" if message else "") + (f"; {hint}" if hint else ""))


def _describe_configs(admin: Any, names: list[str]) -> dict[str, dict[str, str | None]]:
    """Each topic's configs as {name: value}; {} for a topic whose configs cannot be read (no
    DescribeConfigs ACL, or a broker that keeps none, as the embedded one)."""
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError

    try:
        found = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names],
                                       config_filter="all")
    except KafkaError as exc:
        log.warning("cannot read the configs of the existing topics (%s): not checked",
                    type(exc).__name__)
        return {}
    out: dict[str, dict[str, str | None]] = {}
    for name, configs in (found.get("topic") or {}).items():
        out[name] = {key: (c.get("value") if isinstance(c, dict) else c)
                     for key, c in (configs or {}).items()}
    return out


def check_existing(settings: Settings, names: list[str], described: list[dict[str, Any]],
                   configs: Mapping[str, Mapping[str, str | None]]) -> None:
    """Check topics that existed before ensure_topics against what veille would have created:
    TopicError where veille cannot work as documented (a changelog that is not compacted and
    deletes old state; a compacted mentions.by_brand, which refuses the keyless ticks),
    warnings where the topic is less durable or kept shorter than the settings ask."""
    replicas = settings.topic_replication
    for topic in described:
        name = topic.get("name") or topic.get("topic")
        if name not in names:
            continue
        counts = [len(p.get("replica_nodes") or p.get("replicas") or [])
                  for p in topic.get("partitions") or []]
        if counts and min(counts) < replicas:
            log.warning("%s has %d replica(s) but VEILLE_TOPIC_REPLICATION is %d: it is not as "
                        "durable as asked (add replicas with kafka-reassign-partitions.sh)",
                        name, min(counts), replicas)
    changelogs = {changelog_topic(settings, t) for t in AGENT_TABLES}
    for name in names:
        found = configs.get(name) or {}
        policy = found.get("cleanup.policy")
        retention = found.get("retention.ms")
        if name in changelogs:
            if policy is not None and "compact" not in policy and retention not in (None, "-1"):
                raise TopicError(
                    f"the agents' table changelog {name} has cleanup.policy={policy} and "
                    f"retention.ms={retention}: the agents' state (crisis detectors, pending "
                    "moderation cases) older than that would be deleted; set it to compact "
                    f"(kafka-configs.sh --alter --entity-type topics --entity-name {name} "
                    "--add-config cleanup.policy=compact)")
            continue
        base = name.removeprefix(settings.topic_prefix)
        if policy is not None and "compact" in policy:
            if base == MENTIONS_BY_BRAND:
                raise TopicError(
                    f"{name} has cleanup.policy={policy}: Kafka refuses the keyless ticks the "
                    "enrichment stage writes there on a compacted topic; set "
                    f"cleanup.policy=delete (kafka-configs.sh --alter --entity-type topics "
                    f"--entity-name {name} --add-config cleanup.policy=delete)")
            if base != MODERATION_QUEUE:
                log.warning("%s has cleanup.policy=%s: compaction keeps only the newest record "
                            "of each key (a case's earlier decisions, a re-sent mention); veille "
                            "creates it with delete", name, policy)
        elif base == MODERATION_QUEUE and policy is not None:
            log.warning("%s has cleanup.policy=%s: the cases `veille erase` erases keep their "
                        "author and text on the broker for the topic's retention (the tools show "
                        "them erased); veille creates it compacted (kafka-configs.sh --alter "
                        "--entity-type topics --entity-name %s --add-config "
                        "cleanup.policy=[compact,delete],segment.ms=%s,max.compaction.lag.ms=%s)",
                        name, policy, name, QUEUE_COMPACTION["segment.ms"],
                        QUEUE_COMPACTION["max.compaction.lag.ms"])
        wanted = topic_configs(settings, base)
        setting = _RETENTION_SETTINGS.get(base, "VEILLE_MODERATION_RETENTION_DAYS")
        # Every topic veille sets a retention on holds personal data (authors and texts, or
        # moderators' names and reasons): kept longer than asked is said too.
        if "retention.ms" in wanted and retention is not None and (
                retention == "-1" or int(retention) > int(wanted["retention.ms"])):
            log.warning("%s keeps records %s (retention.ms=%s) but %s asks %.4g days: personal "
                        "data (authors, texts, moderators' names) is kept longer than asked "
                        "(kafka-configs.sh "
                        "--alter --entity-type topics --entity-name %s --add-config retention.ms=%s)",
                        name, "for ever" if retention == "-1" else f"{int(retention) / _DAY_MS:.4g} days",
                        retention, setting, int(wanted["retention.ms"]) / _DAY_MS, name,
                        wanted["retention.ms"])
        if "retention.ms" in wanted and retention is not None and retention != "-1" and \
                int(retention) < int(wanted["retention.ms"]):
            log.warning("%s keeps records %.4g days (retention.ms=%s) but %s asks %.4g: older "
                        "records are deleted sooner (kafka-configs.sh --alter --entity-type "
                        "topics --entity-name %s --add-config retention.ms=%s)", name,
                        int(retention) / _DAY_MS, retention, setting,
                        int(wanted["retention.ms"]) / _DAY_MS, name, wanted["retention.ms"])
        insync = found.get("min.insync.replicas")
        want = min_insync_replicas(settings).get("min.insync.replicas")
        if want is not None and insync is not None and int(insync) < int(want):
            log.warning("%s has min.insync.replicas=%s with %d replicas asked: acks=all writes "
                        "are acknowledged by %s broker(s) alone; veille creates it with %s",
                        name, insync, replicas, insync, want)
