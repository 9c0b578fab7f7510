"""Reads the moderation topics to their end, writes decisions: no state of its own."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.records import loads
from streams.topics import (
    MODERATION_CLOSED,
    MODERATION_DECISIONS,
    MODERATION_QUEUE,
    key_partition,
)
from veille import kafka_crc
from veille.collectors.producer import make_producer
from veille.moderate.words import NBSP, decision_word
from veille.moderation import CLOSING_DECISIONS
from veille.moderation.cases import DecisionError
from veille.moderation.queue import CaseView, answered_on_of, decision_record, misplaced
from veille.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadBack:
    """A decision read back once written (ModerationStore.read_back)."""

    #: (error code, what to tell the moderator) when the agent will ignore it, else None.
    refusal: tuple[str, str] | None
    #: More for the API's answer to a refusal (assigned_first: `assigned`).
    extra: dict[str, Any] = field(default_factory=dict)
    #: The case's last escalation when it was escalated between the check and the write.
    escalated: dict[str, Any] | None = None


class BrokerError(RuntimeError):
    """The broker did not answer or did not acknowledge a write in time."""


#: What a moderator is told whose decision the agent will ignore, per language (the API's
#: `detail` is the English one; `veille moderate decide --lang fr` says it in French). A
#: decision's name is given as `word` makes it (French past participles).
REFUSAL_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "decided_first": "decision written, but case {case!r} was decided first by {moderator!r} "
                         "({decision}): the agent applies that one and will ignore yours",
        "closed_first": "decision written, but the agent did not apply it: case {case!r} is closed "
                        "({decision} by {moderator!r} at {at})",
        "assigned_first": "decision written, but case {case!r} {now}{since}: the agent ignores "
                          "yours; look at the case before deciding again",
        "is_theirs": "is {who}'s",
        "is_no_ones": "is no one's",
        "since": " since {decision} by {moderator!r} at {at}, written first",
        "not_applied": "decision written, but the agent will ignore it: {detail}",
        "would_ignore": "case {case!r}: the agent would ignore this decision: {detail}",
        "unknown_case": "no case {case!r} on the moderation queue{kept}",
        "kept_days": " (closed cases are kept {days:g} days after their decision)",
        "kept_seconds": " (closed cases are kept {seconds:g} s after their decision)",
        "already_closed": "case {case!r} was closed by {moderator!r} ({decision})",
        "decision_pending": "case {case!r} already has a decision waiting to be applied: "
                            "{decision} by {moderator!r} at {at}",
        "not_assigned_to": "case {case!r} is {has}, not {expected} (if_assigned_to)",
        "whose": "{who}'s",
        "no_ones": "no one's",
    },
    "fr": {
        "decided_first": f"décision enregistrée, mais le dossier {{case!r}} a été tranché avant par "
                         f"{{moderator!r}} ({{decision}}){NBSP}: l'agent applique cette décision-là "
                         "et ignorera la vôtre",
        "closed_first": f"décision enregistrée, mais l'agent ne l'a pas appliquée{NBSP}: le dossier "
                        "{case!r} est clos ({decision} par {moderator!r} le {at})",
        "assigned_first": f"décision enregistrée, mais le dossier {{case!r}} {{now}}{{since}}{NBSP}: "
                          f"l'agent ignore la vôtre{NBSP}; regardez le dossier avant de décider à "
                          "nouveau",
        "is_theirs": "est à {who}",
        "is_no_ones": "n'est à personne",
        "since": " depuis la décision {decision} de {moderator!r} le {at}, enregistrée avant",
        "not_applied": f"décision enregistrée, mais l'agent l'ignorera{NBSP}: {{detail}}",
        "would_ignore": f"dossier {{case!r}}{NBSP}: l'agent ignorerait cette décision{NBSP}: "
                        "{detail}",
        "unknown_case": "pas de dossier {case!r} dans la file de modération{kept}",
        "kept_days": " (les dossiers clos sont gardés {days:g} jours après leur décision)",
        "kept_seconds": " (les dossiers clos sont gardés {seconds:g} s après leur décision)",
        "already_closed": "le dossier {case!r} a été clos par {moderator!r} ({decision})",
        "decision_pending": f"le dossier {{case!r}} a déjà une décision en attente d'être "
                            f"appliquée{NBSP}: {{decision}} de {{moderator!r}} le {{at}}",
        "not_assigned_to": "le dossier {case!r} est {has}, pas {expected} (if_assigned_to)",
        "whose": "à {who}",
        "no_ones": "à personne",
    },
}


def _decision(record: dict[str, Any], lang: str) -> Any:
    """The decision of a decision or closed record in `lang`; an answer seen on a platform says
    so ("replied (seen on youtube)"): no moderator of the team wrote it."""
    if record.get("decision") is None:
        return None
    return decision_word(record["decision"], answered_on_of(record), lang)


def decided_first(case_id: str, first: dict[str, Any], lang: str = "en") -> str:
    """What a moderator is told whose decision was written after another tool's closed the
    case (ModerationStore.read_back)."""
    return REFUSAL_TEXT[lang]["decided_first"].format(
        case=case_id, moderator=first.get("moderator"), decision=_decision(first, lang))


def would_ignore(case_id: str, problem: DecisionError, lang: str = "en") -> str:
    """What a moderator is told whose decision the agent would ignore if it were written
    (CaseView.prepare's refusal: the case's bound on decisions reached...; its detail stays
    English, as the API's)."""
    return REFUSAL_TEXT[lang]["would_ignore"].format(case=case_id, detail=problem.detail)


def closed_first(case_id: str, closed: dict[str, Any], lang: str = "en") -> str:
    """What a moderator is told whose escalation or assignment the agent did not apply before
    it closed the case (ModerationStore.read_back)."""
    return REFUSAL_TEXT[lang]["closed_first"].format(
        case=case_id, decision=_decision(closed, lang), moderator=closed.get("moderator"),
        at=closed.get("decided_at"))


def unknown_case(case_id: str, retention: float | None, lang: str = "en") -> str:
    """What a moderator is told deciding on a case the view does not hold (never queued, or
    closed and forgotten after `retention` seconds)."""
    t = REFUSAL_TEXT[lang]
    kept = "" if retention is None else (t["kept_days"].format(days=retention / 86400)
                                         if retention >= 86400
                                         else t["kept_seconds"].format(seconds=retention))
    return t["unknown_case"].format(case=case_id, kept=kept)


def already_closed(case_id: str, closed: dict[str, Any], lang: str = "en") -> str:
    """What a moderator is told deciding on a case closed before the decision was checked."""
    return REFUSAL_TEXT[lang]["already_closed"].format(
        case=case_id, moderator=closed.get("moderator"), decision=_decision(closed, lang))


def decision_pending(case_id: str, prior: dict[str, Any], lang: str = "en") -> str:
    """What a moderator is told deciding on a case whose closing decision is written but not
    applied yet by the agent."""
    return REFUSAL_TEXT[lang]["decision_pending"].format(
        case=case_id, decision=_decision(prior, lang), moderator=prior.get("moderator"),
        at=prior.get("decided_at"))


def not_assigned_to(case_id: str, has: str | None, expected: str | None, lang: str = "en") -> str:
    """What a moderator is told whose conditional decision (`if_assigned_to`) found the case
    worked on by someone else than they saw."""
    t = REFUSAL_TEXT[lang]

    def whose(name: str | None) -> str:
        return t["whose"].format(who=name) if name is not None else t["no_ones"]

    return t["not_assigned_to"].format(case=case_id, has=whose(has), expected=whose(expected))


def assigned_first(case_id: str, first: dict[str, Any], lang: str = "en") -> str:
    """What a moderator is told whose conditional assign or unassign was written after
    another one changed who works on the case (ModerationStore.read_back)."""
    t = REFUSAL_TEXT[lang]
    who = first.get("assignee")
    now = t["is_theirs"].format(who=who) if who is not None else t["is_no_ones"]
    since = (t["since"].format(decision=_decision(first, lang), moderator=first.get("moderator"),
                               at=first.get("decided_at")) if first.get("decision") else "")
    return t["assigned_first"].format(case=case_id, now=now, since=since)


#: How long a topic the cluster does not list may take to appear (created meanwhile) before
#: TopicReader says it does not exist.
MISSING_GRACE_SECONDS = 1.0


#: kafka-python's loggers that report a consumer's own close as an error (TopicReader.close).
CLOSE_NOISE = ("kafka.cluster", "kafka.net.transport")


class TopicReader:
    """Reads topics from the beginning up to their high watermark, then from where it stopped.

    The end of a partition is the high watermark of fetch responses; ListOffsets, which Tansu
    answers too low (see agents/recovery.py), serves only as a lower bound and as the round
    trip that proves the broker answers. Not thread-safe: one caller at a time.
    """

    def __init__(self, settings: Settings, topics: dict[str, Callable[[Any], None]],
                 timeout: float = 15.0, ordered: bool = False, keys: Iterable[bytes] = (),
                 decode: Callable[[bytes], Any] | None = loads, first: Iterable[str] = ()) -> None:
        """`timeout`: how long a refresh may go without any progress (no record read, not at
        the end) before it is a BrokerError. `ordered`: each refresh hands its records over
        oldest first by record time across partitions (held until the refresh has read them
        all: for small topics), rather than as fetched (oldest first within a partition).
        `keys`: read only the partitions of each topic that hold these keys (the default
        partitioner's), not the whole topics. `decode`: what a handler gets of a value (None:
        its bytes as they are, e.g. dead letters; the default gives json.loads's value, by orjson
        when it is the same: streams.records.loads). `first`: topics (of `topics`) that the
        first refresh reads to their end before it reads the others (the API's view, which
        forgets the old closed cases as moderation.closed tells it, then holds their other
        records as tombstones: CaseView.forget_before)."""
        from kafka import KafkaConsumer

        kafka_crc.install()  # the batches' CRC checked in C (60 % of a read in pure Python)

        self.settings = settings
        self.handlers = {settings.topic(name): fn for name, fn in topics.items()}
        self.timeout = timeout
        self.ordered = ordered
        self.keys = list(keys)
        self.decode = decode
        self.first = {settings.topic(name) for name in first}
        #: The broker timestamp (epoch seconds) of the record being handed over, and the record.
        self.timestamp: float | None = None
        self.record: Any = None
        try:
            self.consumer = KafkaConsumer(
                **settings.kafka_client_options(), group_id=None,
                client_id=f"{settings.app_id}-moderate", enable_auto_commit=False,
                auto_offset_reset="earliest", fetch_max_wait_ms=20,
                max_partition_fetch_bytes=4 * 1024 * 1024, request_timeout_ms=15_000,
                # No longer than a refresh may go without progress (kafka-python's default is
                # 30 s: a refused password held each moderation API request that long).
                bootstrap_timeout_ms=int(timeout * 1000),
            )
        except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends
            raise BrokerError(f"cannot reach the broker at {settings.broker_url}: {exc}") from None
        self._assigned: list[Any] = []

    def _assign(self) -> None:
        from kafka import TopicPartition

        deadline = time.monotonic() + self.timeout
        tps = []
        for name in self.handlers:
            parts = self.consumer.partitions_for_topic(name)
            absent_since = None
            while not parts and time.monotonic() < deadline:  # None, or no partition (Tansu)
                # The cluster's own list (a fresh metadata request): a topic it does not know
                # for MISSING_GRACE_SECONDS is missing, said at once rather than after the
                # whole timeout; one it knows without partitions yet (being created) is waited for.
                if name in self.consumer.topics():
                    absent_since = None
                elif absent_since is None:
                    absent_since = time.monotonic()
                elif time.monotonic() - absent_since >= MISSING_GRACE_SECONDS:
                    break
                time.sleep(0.1)
                parts = self.consumer.partitions_for_topic(name)
            if not parts:
                raise BrokerError(f"topic {name} does not exist (run `veille topics`)")
            ordered = sorted(parts)
            if self.keys:
                ordered = sorted({ordered[key_partition(key, len(ordered))] for key in self.keys})
            tps += [TopicPartition(name, p) for p in ordered]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self._assigned = tps

    def _caught_up(self, ends: dict[Any, int], partitions: list[Any] | None = None) -> bool:
        for tp in self._assigned if partitions is None else partitions:
            high = self.consumer.highwater(tp)
            position = self.consumer.position(tp)
            if high is None or position < high or position < ends.get(tp, 0):
                return False
        return True

    def refresh(self) -> int:
        """Read what was written since the last call (everything the first time); the count.

        Starts with a round trip to the broker (its end offsets, a lower bound: Tansu's are too
        low), then done once two fetch rounds in a row brought nothing new and every partition
        is at its high watermark and at least at that end: a record acknowledged before the
        call is read. Without that round trip a broker gone quiet looked caught up (the high
        watermarks of the last fetches), and the API answered 200 from a stale copy. A broker
        that does not answer is a BrokerError.

        The garbage collector is paused meanwhile: what the handlers keep (a dict per record,
        hundreds of thousands on moderation topics that keep 400 days) is no garbage, and its
        collections, each going over everything kept so far, were a fifth of a read (`veille
        moderate list` on 312,745 records: 15.6-17.5 s, 12.7-12.9 s without them). Only cycles
        made during the read wait for the next collection."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._refresh()
        finally:
            if paused:
                gc.enable()

    def _refresh(self) -> int:
        if not self._assigned:
            self._assign()
        try:
            ends = self.consumer.end_offsets(self._assigned, timeout_ms=int(self.timeout * 1000))
        except Exception as exc:  # kafka-python's KafkaTimeoutError and friends
            raise BrokerError(f"the broker at {self.settings.broker_url} did not answer "
                              f"({type(exc).__name__})") from None
        read = quiet = 0
        held: list[Any] = []
        # The first refresh reads the `first` topics to their end before the others.
        lead = [tp for tp in self._assigned if tp.topic in self.first] if self.first else []
        rest = [tp for tp in self._assigned if tp not in lead] if lead else []
        self.first = set()
        if lead and rest:
            self.consumer.pause(*rest)
        else:
            lead = []
        try:
            deadline = time.monotonic() + self.timeout
            while quiet < 2:
                if time.monotonic() > deadline:
                    raise BrokerError(f"reading {', '.join(sorted(self.handlers))}: nothing read for "
                                      f"{self.timeout} s")
                batches = self.consumer.poll(timeout_ms=50, max_records=10_000)
                for records in batches.values():
                    read += len(records)
                    if self.ordered:
                        held.extend(records)
                    else:
                        self._handle(records)
                if batches:
                    # Progress: the deadline is for a broker that stops answering, not for a slow
                    # reader of what is handed over (a paused terminal, `| less`).
                    deadline = time.monotonic() + self.timeout
                if lead and not batches and self._caught_up(ends, lead):
                    self.consumer.resume(*rest)
                    lead = []
                    continue
                quiet = quiet + 1 if not batches and self._caught_up(ends) else 0
        finally:
            if lead:  # not read to their end (a BrokerError): the others are read next time
                self.consumer.resume(*rest)
        if held:
            self._handle(sorted(held, key=lambda r: (r.timestamp, r.topic, r.partition, r.offset)))
        return read

    def _handle(self, records: list[Any]) -> None:
        for r in records:
            if r.value is None:
                continue
            self.timestamp = r.timestamp / 1000.0
            self.record = r
            try:
                self.handlers[r.topic](r.value if self.decode is None else self.decode(r.value))
            except BrokenPipeError:
                raise  # the handler's output was closed (`| head`): the caller's to handle
            except Exception as exc:  # one bad record must not hide those after it
                log.warning("skipping an unreadable record at %s:%s offset %s (%s)",
                            r.topic, r.partition, r.offset, type(exc).__name__)

    def close(self) -> None:
        # Closing cancels a metadata refresh in flight, which kafka-python logs as an ERROR
        # ("Metadata refresh: failed Cancelled") on an ordinary, successful run; and its I/O
        # thread may read a socket the close has just taken away, logged as an ERROR with a
        # traceback ("Error receiving network data closing socket ... 'NoneType' object has no
        # attribute 'recv'", kafka-python 3.0.12: `veille alerts --follow | head -1` at
        # VEILLE_LOG_LEVEL=INFO, CI 2026-12-08).
        muted = [logging.getLogger(name) for name in CLOSE_NOISE]
        levels = [log.level for log in muted]
        for log in muted:
            log.setLevel(logging.CRITICAL)
        try:
            self.consumer.close()
        finally:
            for log, level in zip(muted, levels, strict=True):
                log.setLevel(level)


class ModerationStore:
    """The moderator tools' view of the cases (read from the topics) and their decision writer.

    `closed_retention_seconds`: closed cases decided more than this long ago are forgotten
    after each read (the long-running API passes the agent's CLOSED_RETENTION_SECONDS); None,
    the default, keeps every case read (the CLI and the report, which read the topics from the
    start each time). `clock` gives the time these bounds are checked against."""

    def __init__(self, settings: Settings, ack_timeout: float = 10.0, *,
                 closed_retention_seconds: float | None = None,
                 clock: Callable[[], float] = time.time, read_timeout: float = 15.0,
                 case_id: str | None = None, case_ids: Iterable[str] = ()) -> None:
        """`case_id`: the view of that case alone, read from the one partition of each topic
        its key lands in (`veille moderate decide`: a fraction of the topics, which keep 400
        days, instead of all of them); `case_ids`, of those cases (the partitions their keys
        land in: with several ids, often all of them)."""
        self.settings = settings
        ids = [*([case_id] if case_id is not None else []), *case_ids]
        self.case_keys = [i.encode("utf-8") for i in dict.fromkeys(ids)]
        self.ack_timeout = ack_timeout
        self.read_timeout = read_timeout  # TopicReader's: a broker silent this long is an error
        self.clock = clock
        # Decisions on a case with no queue item wait for it as long as the agent holds them.
        self.view = CaseView(orphan_seconds=settings.moderation_hold_seconds,
                             answer_orphan_seconds=settings.moderation_answer_hold_seconds,
                             closed_retention_seconds=closed_retention_seconds)
        self._reader: TopicReader | None = None
        self._producer: Any = None

    def _home(self, key: bytes) -> int:
        """The partition of a case's records: its id's (veille.moderation.queue.misplaced)."""
        return key_partition(key, self.settings.topic_partitions)

    def _on_decision(self, record: Any) -> None:
        """A decision for the view, unless the agent does not apply it where it lies: keyed or
        placed otherwise than by its case id, the agent sends it again, keyed and placed by
        id, and applies that copy alone. The tools applied both: the case could be one
        moderator's for the agent and another's, or nobody's, for every tool (found in review,
        2026-12-06)."""
        read = self._reader.record if self._reader is not None else None
        case_id = record.get("case_id") if isinstance(record, Mapping) else None
        if read is not None and misplaced(case_id, read.key, read.partition, self._home):
            return
        self.view.add_decision(record, written_at=self._reader.timestamp if self._reader else None)

    def _on_item(self, record: Any) -> None:
        """A queue item for the view, with its broker time: one for a case the agent has
        forgotten starts a new episode of its id (CaseView.add_item)."""
        self.view.add_item(record, written_at=self._reader.timestamp if self._reader else None)

    def refresh(self) -> CaseView:
        """The view, brought up to date with the topics."""
        if self._reader is None:
            self._reader = TopicReader(self.settings, {
                MODERATION_QUEUE: self._on_item, MODERATION_CLOSED: self.view.add_closed,
                # Decisions written but not applied yet: a second one on the same case would be
                # acknowledged, then dropped by the agent (CaseView.closing_decision).
                # With their broker time: the agent judges a decision's date when it reads it.
                MODERATION_DECISIONS: self._on_decision},
                timeout=self.read_timeout,
                keys=self.case_keys,
                # A view that forgets closed cases learns which first: it then holds their
                # items and decisions as tombstones as it reads them (CaseView.forget_before).
                first=(MODERATION_CLOSED,) if self.view.closed_retention_seconds is not None
                else ())
        view = self.view
        retention = view.closed_retention_seconds
        started = self.clock()
        # A case closed before this is forgotten at the end of the read (below, at a later
        # clock): kept meanwhile as a tombstone, not with its records (CaseView.forget_before).
        view.forget_before = started - retention if retention is not None else None
        try:
            self._reader.refresh()
        finally:
            view.forget_before = None
        # Only now, every topic read to its end: an item read after its decisions in this pass
        # has found them already, and one read after its closed record is forgotten with it
        # (the topics are read in no particular order).
        now = self.clock()
        self.view.end_pass()
        # (At the start's clock if the clock went back meanwhile: every tombstone goes.)
        forgotten = self.view.forget_closed(max(now, started))
        if forgotten:
            log.debug("moderation view: forgot %d closed cases decided more than %.0f s ago",
                      forgotten, self.view.closed_retention_seconds)
        answers = self.view.orphans_seen_on_platform
        expired, evicted = self.view.expire_orphans(now)
        answers = self.view.orphans_seen_on_platform - answers
        if answers:  # the agent's not_a_case: answers to comments that needed no moderation
            log.debug("moderation view: dropped %d answers seen on a platform on case ids with "
                      "no queue item", answers)
        if expired + evicted > answers:
            view = self.view
            log.warning("moderation view: dropped %d decisions on case ids with no queue item "
                        "(%d read more than %.0f s ago, %d the oldest over the bound of %d); "
                        "%d dropped since the start, %d kept", expired + evicted, expired,
                        view.orphan_seconds, evicted, view.max_orphan_decisions,
                        view.orphans_expired + view.orphans_evicted, view.orphan_decisions)
        return self.view

    def decide(self, case_id: str, body: Any, decided_at: float | None = None) -> dict[str, Any]:
        """Validate a decision, write it keyed by case id and return once the broker holds it.

        Raises DecisionError for invalid input, BrokerError when it is not acknowledged."""
        found = self.decide_many([(case_id, body)], decided_at)[0]
        if isinstance(found, BrokerError):
            raise found
        return found

    def decide_many(self, decisions: list[tuple[str, Any]], decided_at: float | None = None
                    ) -> list[dict[str, Any] | BrokerError]:
        """Validate decisions (case id, body), write them keyed by case id in one batch, and
        return once the broker has answered for each: its record when it holds it, else the
        BrokerError saying it may still be written (`veille moderate decide` with several ids:
        one round trip for the lot, not one per case, and the ones not acknowledged named).

        Raises DecisionError for invalid input, before anything is sent; BrokerError when the
        broker cannot be reached at all."""
        at = time.time() if decided_at is None else decided_at
        records = [decision_record(case_id, body, at) for case_id, body in decisions]
        if self._producer is None:
            try:
                self._producer = make_producer(
                    self.settings, client_id=f"{self.settings.app_id}-moderate",
                    max_block_ms=int(self.ack_timeout * 1000),
                    request_timeout_ms=min(int(self.ack_timeout * 1000), 14_000),
                    delivery_timeout_ms=max(int(self.ack_timeout * 1000), 15_000),
                    bootstrap_timeout_ms=int(self.ack_timeout * 1000), linger_ms=0,
                )
            except Exception as exc:
                raise BrokerError(f"cannot reach the broker at {self.settings.broker_url}: "
                                  f"{exc}") from None
        topic = self.settings.topic(MODERATION_DECISIONS)
        futures: list[Any] = []
        for record in records:
            try:
                futures.append(self._producer.send(
                    topic, key=record["case_id"].encode("utf-8"),
                    value=json.dumps(record, ensure_ascii=False).encode()))
            except Exception as exc:  # its buffer full, the broker's metadata not in time
                futures.append(exc)
        deadline = time.monotonic() + self.ack_timeout
        out: list[dict[str, Any] | BrokerError] = []
        failed = False
        for record, future in zip(records, futures, strict=True):
            try:
                if isinstance(future, Exception):
                    raise future
                # One deadline for the batch: a broker gone quiet is not waited for per record.
                future.get(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:
                failed = True
                out.append(BrokerError(f"the broker did not acknowledge the decision "
                                       f"({type(exc).__name__}); it may still be written: look at "
                                       f"the case before deciding again"))
            else:
                out.append(record)
        if failed:
            self._discard_producer()
        return out

    def read_back(self, case_id: str, record: dict[str, Any],
                  seen_escalations: int | None = None, lang: str = "en", *,
                  fresh: bool = True) -> ReadBack:
        """After `record` was acknowledged, read from the topics: why the agent will ignore it,
        if it will (ReadBack.refusal: an error code and what to tell the moderator), and, given
        how many escalations the case had when the tool checked it, the escalation that came
        in between (a take written meanwhile took an escalated case). Codes: "decided_first",
        another closing decision came first (CaseView.superseded); "already_closed", an
        escalation or assignment the agent did not apply before it closed the case;
        "assigned_first", a conditional assign or unassign came after someone else changed who
        works on the case (CaseView.assigned_first; `assigned` in ReadBack.extra);
        "not_applied", any other refusal (the case's bound on decisions reached meanwhile...).
        What to tell the moderator is in `lang` (REFUSAL_TEXT). Raises BrokerError if the
        topics cannot be read. `fresh=False`: judged on the view as the last refresh left it
        (a batch's decisions, read back after one refresh for them all)."""
        view = self.refresh() if fresh else self.view
        mine = json.loads(json.dumps(record, ensure_ascii=False))  # as read back from the topic
        now = self.clock()
        escalated = (view.escalated_between(case_id, mine, now, seen_escalations)
                     if seen_escalations is not None else None)
        first = view.superseded(case_id, mine, now)
        if first is not None:
            if record.get("decision") in CLOSING_DECISIONS:
                return ReadBack(("decided_first", decided_first(case_id, first, lang)))
            return ReadBack(("already_closed", closed_first(case_id, first, lang)))
        problem = view.refused_at(case_id, mine, now)
        if problem is None or problem.reason == "duplicate":  # applied, or applied already
            return ReadBack(None, escalated=escalated)
        if problem.reason == "conflict":
            taken = view.assigned_first(case_id, mine, now)
            if taken is None:  # the case is where the decision asked it to be
                return ReadBack(None, escalated=escalated)
            assigned = taken if taken.get("assignee") is not None else None
            return ReadBack(("assigned_first", assigned_first(case_id, taken, lang)),
                            extra={"assigned": assigned})
        return ReadBack(("not_applied", REFUSAL_TEXT[lang]["not_applied"].format(
            detail=problem.detail)))

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:
                pass

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._discard_producer()
