"""`veille status`: the pipeline's topics at a glance, and how far veille's own consumers have
read them: what an operator checks first when "nothing shows up" and no Grafana is at hand
(a first run, a support ticket, a host being set up), on the embedded broker as on Apache Kafka.

Each topic: its partitions (or that it is missing), the records it holds (its end less its
start, per partition), and for the topics veille's consumer groups read, how many records each
group has still to read (the end less its committed offset): the enrichment stage's group
(`<app id>-enrich`) on mentions.raw, the Faust agents' (`<app id>`) on mentions.by_brand,
moderation.queue and moderation.decisions.

A partition's end is the high watermark of a fetch response: Tansu answers ListOffsets with the
base offset of the last record batch plus one (../MEASURED.md), so that answer is only where the
fetch starts (reading at most that batch).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.topics import (
    MENTIONS_BY_BRAND,
    MENTIONS_DLQ,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    MODERATION_CLOSED,
    MODERATION_DECISIONS,
    MODERATION_QUEUE,
    REPUTATION_ALERTS,
)
from veille.settings import Settings

#: The pipeline's topics, in the order of the stream.
TOPICS = (MENTIONS_RAW, MENTIONS_ENRICHED, MENTIONS_DLQ, MENTIONS_BY_BRAND, REPUTATION_ALERTS,
          MODERATION_QUEUE, MODERATION_DECISIONS, MODERATION_CLOSED)
#: Who of veille reads a topic in a consumer group (its committed offsets say how far): the
#: reader's name, and whether its group is the enrichment stage's (else the Faust agents').
READERS = {MENTIONS_RAW: ("enrichment stage", True), MENTIONS_BY_BRAND: ("spike agent", False),
           MODERATION_QUEUE: ("moderation agent", False),
           MODERATION_DECISIONS: ("moderation agent", False)}


@dataclass(frozen=True)
class Reader:
    name: str
    group: str
    #: The group's committed offset of each partition (None: never committed).
    committed: dict[int, int | None]
    #: The group's members now (the workers reading), None when the broker did not say.
    members: int | None = None


@dataclass(frozen=True)
class TopicState:
    """One topic as the broker has it now; `partitions` empty when the topic is missing."""
    name: str
    topic: str
    #: Each partition's (start, end): its first offset held and its high watermark.
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)
    reader: Reader | None = None

    @property
    def missing(self) -> bool:
        return not self.partitions

    @property
    def records(self) -> int:
        return sum(end - start for start, end in self.partitions.values())

    def behind(self) -> dict[int, int]:
        """The records of each partition the reader has still to read (from the start of what
        the partition holds when its group never committed it)."""
        if self.reader is None:
            return {}
        out = {}
        for p, (start, end) in self.partitions.items():
            done = self.reader.committed.get(p)
            out[p] = max(0, end - max(start, done if done is not None else start))
        return out

    def never_read(self) -> bool:
        """Records are waiting and the reader's group has committed none of its partitions: no
        worker of this VEILLE_APP_ID has read the topic."""
        return (self.reader is not None and self.records > 0
                and all(self.reader.committed.get(p) is None for p in self.partitions))


def gather(settings: Settings, timeout: float = 15.0) -> list[TopicState]:
    """Every pipeline topic's state, from the broker's metadata, offsets, fetch responses and
    the two consumer groups' committed offsets; BrokerError when the broker does not answer."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.admin import KafkaAdminClient

    from veille.moderate.store import BrokerError

    try:
        consumer = KafkaConsumer(**settings.kafka_client_options(), group_id=None,
                                 client_id=f"{settings.app_id}-status", enable_auto_commit=False,
                                 request_timeout_ms=int(timeout * 1000),
                                 bootstrap_timeout_ms=int(timeout * 1000), fetch_max_wait_ms=20)
        admin = KafkaAdminClient(**settings.kafka_client_options(),
                                 client_id=f"{settings.app_id}-status",
                                 request_timeout_ms=int(timeout * 1000),
                                 bootstrap_timeout_ms=int(timeout * 1000))
    except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends
        raise BrokerError(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
    try:
        existing = set(consumer.topics())
        parts = {name: sorted(consumer.partitions_for_topic(settings.topic(name)) or ())
                 if settings.topic(name) in existing else [] for name in TOPICS}
        tps = [TopicPartition(settings.topic(name), p) for name in TOPICS for p in parts[name]]
        # The groups' offsets before the ends: on a busy topic the ends asked first would be
        # passed by the offsets committed while the fetches ran, a stage far behind read as 0.
        groups = {settings.enrich_group: _committed(admin, settings.enrich_group),
                  settings.app_id: _committed(admin, settings.app_id)}
        members = _members(admin, list(groups))
        ends = _high_watermarks(consumer, tps, timeout) if tps else {}
        starts = consumer.beginning_offsets(tps) if tps else {}
    except BrokerError:
        raise
    except Exception as exc:  # noqa: BLE001 (a timeout, a refusal: said, not a traceback)
        raise BrokerError(f"the broker at {settings.broker_url} did not answer: {exc}") from None
    finally:
        consumer.close()
        admin.close()
    states = []
    for name in TOPICS:
        topic = settings.topic(name)
        partitions = {p: (starts[TopicPartition(topic, p)], ends[TopicPartition(topic, p)])
                      for p in parts[name]}
        reader = None
        if name in READERS:
            who, enrich = READERS[name]
            group = settings.enrich_group if enrich else settings.app_id
            reader = Reader(who, group, {p: groups[group].get((topic, p)) for p in parts[name]},
                            members.get(group))
        states.append(TopicState(name, topic, partitions, reader))
    return states


def _committed(admin: Any, group: str) -> dict[tuple[str, int], int | None]:
    """The group's committed offsets, by (topic, partition); {} for a group never seen."""
    answer = admin.list_group_offsets(group).get(group) or {}
    return {(tp.topic, tp.partition): (meta.offset if meta.offset >= 0 else None)
            for tp, meta in answer.items()}


def _members(admin: Any, groups: list[str]) -> dict[str, int]:
    """How many members each group has now (the workers reading), {} when the broker does not
    say. Asked with DescribeGroups without the authorized operations: kafka-python's
    describe_groups asks for them whatever it is told, and fails on Tansu's answer (ValueError:
    15 is not a valid ACLOperation), hence the request sent here through its admin client."""
    from kafka.protocol.admin import DescribeGroupsRequest

    async def describe() -> dict[str, int]:
        found: dict[str, int] = {}
        for group, node in (await admin._find_coordinator_ids(groups)).items():
            answer = await admin._manager.send(
                DescribeGroupsRequest(groups=[group], include_authorized_operations=False), node_id=node)
            found.update({g.group_id: len(g.members) for g in answer.groups if not g.error_code})
        return found

    try:
        return admin._manager.run(describe)  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 (another client version, a broker refusing: not said)
        return {}


def _high_watermarks(consumer: Any, tps: list[Any], timeout: float) -> dict[Any, int]:
    """Each partition's high watermark, from the first fetch response that gives it: fetched
    from ListOffsets' end (at most a batch before the true end on Tansu, the end itself on
    Apache Kafka). The first, not the end reached: on a topic being written, reading on to a
    moving end took seconds (5.5 s during a replay)."""
    from veille.moderate.store import BrokerError

    consumer.assign(tps)
    consumer.seek_to_end()
    ends: dict[Any, int] = {}
    deadline = time.monotonic() + timeout
    while len(ends) < len(tps):
        consumer.poll(timeout_ms=200, max_records=10_000, update_offsets=True)
        for tp in tps:
            high = consumer.highwater(tp)
            if high is not None and tp not in ends:
                ends[tp] = high
        if time.monotonic() > deadline and len(ends) < len(tps):
            slow = sorted(f"{tp.topic}/{tp.partition}" for tp in tps if tp not in ends)
            raise BrokerError(f"no fetch answer for {', '.join(slow[:5])} in {timeout:g} s")
    return ends


def _partitions_behind(behind: dict[int, int]) -> str:
    late = [f"{p}: {n:,}" for p, n in sorted(behind.items()) if n]
    return f" (partition{'s' if len(late) > 1 else ''} {', '.join(late)})" if late else ""


def table(states: Sequence[TopicState], settings: Settings) -> str:
    """The states as an operator reads them: a line per topic, then what needs doing."""
    width = max(len(s.topic) for s in states)
    lines = [f"veille status: broker {settings.broker_url}, app id {settings.app_id}"
             + (f", topic prefix {settings.topic_prefix}" if settings.topic_prefix else ""),
             f"{'topic':<{width}}  partitions  {'records':>11}  read by (to read)"]
    for s in states:
        if s.missing:
            lines.append(f"{s.topic:<{width}}  missing")
            continue
        read = ""
        if s.reader is not None:
            behind = s.behind()
            n = s.reader.members
            who = s.reader.name + ("" if n is None else " (no worker)" if n == 0
                                   else f" ({n} worker{'s' if n > 1 else ''})")
            read = (f"{who}: never read (no worker of this app id has committed a partition)"
                    if s.never_read() else f"{who}: {sum(behind.values()):,}{_partitions_behind(behind)}")
        lines.append(f"{s.topic:<{width}}  {len(s.partitions):>10}  {s.records:>11,}  {read}".rstrip())
    missing = [s.topic for s in states if s.missing]
    if missing:
        lines.append(f"missing topics: {', '.join(missing)}: `veille topics` creates them (a worker "
                     "does at its start)")
    return "\n".join(lines)


def as_json(states: Sequence[TopicState], settings: Settings) -> str:
    """One JSON object: the broker, the app id, and each topic with its partitions' start, end
    and, where a group reads it, its committed offset and records still to read."""
    topics = []
    for s in states:
        behind = s.behind()
        entry: dict[str, Any] = {
            "name": s.name, "topic": s.topic, "missing": s.missing,
            "partitions": [{"partition": p, "start": start, "end": end} for p, (start, end)
                           in sorted(s.partitions.items())],
            "records": s.records}
        if s.reader is not None:
            for row in entry["partitions"]:
                row["committed"] = s.reader.committed.get(row["partition"])
                row["behind"] = behind.get(row["partition"], 0)
            entry["reader"] = {"name": s.reader.name, "group": s.reader.group,
                               "members": s.reader.members, "behind": sum(behind.values()),
                               "never_read": s.never_read()}
        topics.append(entry)
    return json.dumps({"broker": settings.broker_url, "app_id": settings.app_id,
                       "topic_prefix": settings.topic_prefix, "topics": topics})
