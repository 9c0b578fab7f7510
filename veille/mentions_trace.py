"""Where the mention ids that are not on mentions.enriched are, for `veille mentions ID`: a
support question ("the customer says they complained; why is it not in veille?") answered from
the topics rather than by reading three of them by hand.

A mention id is the key of its raw message and of its dead letter (the enrichment stage keeps
the raw key), so only the partitions holding those keys are read: mentions.dlq's first (a
refusal says why), then mentions.raw's for the ids not refused, against the enrichment stage's
committed offsets of those partitions (read, or still waiting behind others), taken before
mentions.enriched was read. A raw message written under another key (no key at all) is found
by neither until the enrichment stage has read it and sent it again keyed by its id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from streams.records import loads
from streams.topics import MENTIONS_DLQ, MENTIONS_ENRICHED, MENTIONS_RAW
from veille.deadletters import DeadLetter
from veille.mentions_view import RawCopy, Topics, Trace
from veille.moderate.store import BrokerError, TopicReader
from veille.settings import Settings


def topics(settings: Settings) -> Topics:
    return Topics(raw=settings.topic(MENTIONS_RAW), enriched=settings.topic(MENTIONS_ENRICHED),
                  dlq=settings.topic(MENTIONS_DLQ), app_id=settings.app_id,
                  mentions_days=settings.mentions_retention_days)


def trace(settings: Settings, ids: Sequence[str], committed: Mapping[int, int | None]) -> list[Trace]:
    """A Trace for each of `ids` (in their order), from the topics as they are now and the
    enrichment stage's committed offsets as `committed_of` read them before mentions.enriched
    was: whatever it committed then had its enriched record on that topic already (a batch is
    committed once its outputs are acknowledged), so a copy before that offset and not found
    there was truly read and gone, not enriched in the meantime."""
    letters = _dead_letters(settings, ids)
    waiting = [i for i in ids if i not in letters]
    copies = _raw_copies(settings, waiting) if waiting else {}
    traces = []
    for i in ids:
        newest, n = letters.get(i, (None, 0))
        raw = copies.get(i)
        traces.append(Trace(i, newest, n, raw, committed.get(raw.partition) if raw else None))
    return traces


def _read(settings: Settings, topic: str, keys: list[bytes], handle: Any) -> None:
    reader = TopicReader(settings, {topic: lambda _value: handle(reader.record)},
                         keys=keys, decode=None)
    try:
        reader.refresh()
    finally:
        reader.close()


def _dead_letters(settings: Settings, ids: Sequence[str]) -> dict[str, tuple[DeadLetter, int]]:
    """Each id's newest dead letter and how many it has (read in offset order: the last wins)."""
    wanted = {i.encode("utf-8"): i for i in ids}
    found: dict[str, tuple[DeadLetter, int]] = {}

    def add(record: Any) -> None:
        mention_id = wanted.get(record.key)
        if mention_id is not None:
            n = found[mention_id][1] + 1 if mention_id in found else 1
            found[mention_id] = (DeadLetter.from_record(record.key, record.value, record.timestamp,
                                                        record.headers), n)

    _read(settings, MENTIONS_DLQ, list(wanted), add)
    return found


def _raw_copies(settings: Settings, ids: Sequence[str]) -> dict[str, RawCopy]:
    """Each id's first record on mentions.raw (a key's records share a partition: the first read
    is the first the enrichment stage reads), its source, and how many records have that key."""
    wanted = {i.encode("utf-8"): i for i in ids}
    found: dict[str, RawCopy] = {}

    def add(record: Any) -> None:
        mention_id = wanted.get(record.key)
        if mention_id is None:
            return
        first = found.get(mention_id)
        if first is not None:
            found[mention_id] = replace(first, copies=first.copies + 1)
            return
        try:
            value = loads(record.value)
        except ValueError:  # not JSON: the enrichment stage refuses it (a dead letter to come)
            value = None
        fields = value if isinstance(value, dict) else {}
        source, inside = fields.get("source"), fields.get("id")
        found[mention_id] = RawCopy(record.partition, record.offset, record.timestamp / 1000.0,
                                    source if isinstance(source, str) else None,
                                    value_id=inside if isinstance(inside, str) and inside != mention_id
                                    else None)

    _read(settings, MENTIONS_RAW, list(wanted), add)
    return found


def committed_of(settings: Settings, ids: Sequence[str]) -> dict[int, int | None]:
    """The enrichment stage's committed offset of each mentions.raw partition these ids are
    keyed to (None: never committed), asked of the group's coordinator without joining the
    group; {} when mentions.raw does not exist. Read before mentions.enriched is (see trace)."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.topics import key_partition

    try:
        consumer = KafkaConsumer(**settings.kafka_client_options(), group_id=settings.enrich_group,
                                 client_id=f"{settings.app_id}-trace", enable_auto_commit=False,
                                 request_timeout_ms=15_000, bootstrap_timeout_ms=15_000)
    except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends
        raise BrokerError(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
    topic = settings.topic(MENTIONS_RAW)
    try:
        count = len(consumer.partitions_for_topic(topic) or ())
        if not count:
            return {}
        partitions = {key_partition(i.encode("utf-8"), count) for i in ids}
        return {p: consumer.committed(TopicPartition(topic, p), timeout_ms=15_000)
                for p in sorted(partitions)}
    except Exception as exc:  # noqa: BLE001 (a timeout, a refusal: said as the reader's are)
        raise BrokerError(f"cannot read the committed offsets of {settings.enrich_group}: "
                          f"{exc}") from None
    finally:
        consumer.close()
