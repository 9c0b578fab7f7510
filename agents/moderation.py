"""Moderation agent: moderation.queue + moderation.decisions -> cases in tables -> moderation.closed."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agents.recovery import Recoveries
from streams.records import loads
from streams.topics import (
    MODERATION_CASES_TABLE,
    MODERATION_DECISIONS,
    MODERATION_HELD_TABLE,
    MODERATION_QUEUE,
    Topics,
    changelog_configs,
    key_partition,
)
from veille.metrics import ModerationMetrics
from veille.moderation import CLOSING_DECISIONS
from veille.moderation.cases import (
    MAX_CLOCK_SKEW_SECONDS,
    MAX_OPEN_DECISIONS,
    Backlog,
    Case,
    Decision,
    DecisionError,
    Outcome,
    apply_decision,
    closed_forgotten,
    held_for,
    unknown_reason,
)
from veille.moderation.queue import case_of, is_erasure, misplaced
from veille.settings import Settings

log = logging.getLogger(__name__)


def written_at(event: Any) -> float:
    """When the record was written: its broker timestamp (seconds), else the clock. A decision
    is judged by it (its date at most MAX_CLOCK_SKEW_SECONDS ahead), as the tools judge it: not
    by when the agent reads it, which may be later (a decision held for its case, a lag)."""
    ts = getattr(event.message, "timestamp", None)
    if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts) and ts > 0:
        return float(ts)
    return time.time()
#: Closing decisions held for a case that has not arrived: the first that applies closes it, the
#: others are `already_closed`; a few in case the first is refused when the case comes.
MAX_HELD_CLOSING = 10
# Closed cases stay CLOSED_RETENTION_SECONDS in the table (closed_forgotten; a later decision on them is
# `already_closed` or `duplicate`), then are dropped (a decision after that is `unknown_case`,
# and a queue item read after that opens the case again). The moderation API's view forgets
# them after the same time (veille.moderation.cases, shared).


def closed_at_of(state: Any) -> float | None:
    """When a saved case closed; None for a pending case, or a state this version cannot read
    (a newer version's, after a rollback: the agent must not crash on it at every start)."""
    try:
        return float(state["closed_at"] or 0) if state["status"] == "closed" else None
    except (KeyError, TypeError, ValueError):
        return None


def save_state(state: Mapping[str, Any]) -> bytes:
    """A case's state as the `moderation-cases` table keeps it: the bytes of its changelog
    record, written as Faust's json codec writes them (orjson, these options), so that the
    changelog is the same byte for byte as when the table held dicts (an older version reads it).
    A copy of exact size, as streams.records.to_json makes: orjson's own result pins a buffer of
    about 8 KB, which the table would keep for 30 days."""
    return bytes(memoryview(orjson.dumps(state, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)))


def load_state(saved: Any) -> Any:
    """The state a `moderation-cases` entry holds (None: no entry). The table keeps each case as
    its JSON bytes, decoded when used: a closed case stays 30 days, and held as a dict it cost
    about 3.1 KB of memory against 0.6 KB so (18,541 generated closed cases, tracemalloc,
    2026-12-06): a worker queuing 2,000 cases a day keeps some 60,000. Bytes that are not JSON
    come back as they are, to be judged unreadable where used (closed_at_of, Case.from_state),
    as a foreign state is."""
    if not isinstance(saved, bytes):
        return saved
    try:
        return loads(saved)
    except ValueError:
        return saved


class Pacer:
    """When a periodic job may run again so that it takes at most `share` of the time."""

    def __init__(self, share: float) -> None:
        self.share = share
        self.next_at = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def ran(self, started: float, ended: float) -> None:
        self.next_at = started + (ended - started) / self.share


def install(app: Any, topics: Topics, metrics: ModerationMetrics, settings: Settings) -> Any:
    """Register the moderation agent, its two tables and its timers on `app`.

    One agent reads moderation.queue and moderation.decisions as one stream: a case and its
    decisions are never handled concurrently. Both topics are keyed by case id with the same
    partition count, so Faust gives partition N of both (and of both changelogs) to one worker,
    which holds every case of that partition.
    """
    partitions = settings.topic_partitions
    queue_name = settings.topic(MODERATION_QUEUE)
    decisions_name = settings.topic(MODERATION_DECISIONS)
    # Keys are the case id bytes, as on both input topics: with use_partitioner the changelog
    # partition is the case's partition, so timers may write outside a stream event.
    cases = app.Table(MODERATION_CASES_TABLE, default=None, use_partitioner=True,
                      partitions=partitions, key_type=bytes,
                      extra_topic_configs=changelog_configs(settings))
    held = app.Table(MODERATION_HELD_TABLE, default=None, use_partitioner=True,
                     partitions=partitions, key_type=bytes,
                     extra_topic_configs=changelog_configs(settings))
    cases.key_serializer = held.key_serializer = "raw"
    cases.value_serializer = "raw"  # save_state, load_state
    pending: dict[bytes, Case] = {}  # pending cases of the owned partitions (for the gauges)
    owned: set[int] = set()
    #: Queue partition -> the next offset after the last item the agent handled (not merely
    #: fetched: Faust buffers what it fetched), for expire_held's "read to the end".
    handled: dict[int, int] = {}
    #: Queue partition -> since when read from its commit, on the monotonic clock: a step of the
    #: wall clock (a VM resumed after hours) must not make a partition owned for a whole hold.
    assigned_at: dict[int, float] = {}

    recoveries = Recoveries()  # a superseded recovery stops and changes nothing

    @cases.on_recover
    async def complete_recovery() -> None:
        """After every rebalance: read both changelogs to their real end (see recovery.py),
        keep only the owned partitions' entries, rebuild the pending index and the gauges."""
        from agents.recovery import Superseded, catch_up_retrying

        current = recoveries.start()

        owned.clear()
        owned.update(tp.partition for tp in app.consumer.assignment() if tp.topic == queue_name)
        handled.clear()  # Faust reads again from the committed offsets
        assigned_at.clear()
        assigned_at.update(dict.fromkeys(owned, time.monotonic()))
        loaded = 0
        try:
            for table, decode in ((cases, bytes), (held, json.loads)):
                loaded += await catch_up_retrying(table, settings.kafka_client_options(), owned,
                                                  decode=decode, current=current)
        except Superseded:  # a newer recovery rebuilds the state: this one changes nothing more
            log.info("moderation: recovery superseded by a newer rebalance")
            return
        # From here on, nothing awaits: the state below is this generation's, whole.
        for table in (cases, held):
            for key in [k for k in table.data if key_partition(k, partitions) not in owned]:
                del table.data[key]  # the local copy only: no changelog write
        pending.clear()
        for key, state in cases.data.items():
            try:
                case = Case.from_state(load_state(state))
            except Exception as exc:  # noqa: BLE001 (one unreadable state must not stop recovery)
                log.error("moderation: saved case %r unreadable, left out of the backlog: %r",
                          key, exc)
                continue
            if case.pending:
                pending[key] = case
        log.info("moderation: %d changelog entries loaded for partitions %s, %d cases pending",
                 loaded, sorted(owned), len(pending))
        refresh_gauges()

    def refresh_gauges() -> None:
        if not owned:
            metrics.forget()
            return
        # The watched brands (metrics.brands: the watch list's, changed while running), each
        # exported at 0 when nothing of it is pending.
        metrics.set_backlog(Backlog.by_brand(pending.values(), time.time(),
                                             metrics.brands).values())

    async def settle(key: bytes, case: Case, outcomes: Sequence[Outcome], *,
                     arrived: Case | None = None) -> None:
        """Publish the closed-case records, wait for the broker to hold them, then save the case:
        a crash in between re-applies the decision after the restart and re-sends the same record
        (consumers de-duplicate on case_id and decided_at); it never loses one. A case just
        `arrived` is counted received once saved (counted before, a failed send counted it again
        when redelivered)."""
        sent = [await topics.closed.send(key=key, value=json.dumps(o.record).encode())
                for o in outcomes if o.record is not None]
        for fut in sent:
            await fut
        cases[key] = save_state(case.to_state())
        if case.pending:
            pending[key] = case
        else:
            pending.pop(key, None)
        if arrived is not None:
            metrics.observe_received(arrived.brand, arrived.categories)
        for o in outcomes:
            if o.closed:  # once per case: a closed case takes no other closing decision
                metrics.observe_closed(case.brand, case.categories, o.decision.decision,
                                       o.time_to_decision, answer=o.answer,
                                       answered_on=o.decision.answered_on)

    def ignore(reason: str, detail: str) -> None:
        metrics.ignored.labels(reason).inc()
        # not_a_case: a brand's answer to a comment that needed no moderation, seen on its
        # platform; the normal fate of most of them, a line each would drown the others.
        log.log(logging.DEBUG if reason == "not_a_case" else logging.INFO,
                "moderation: decision ignored (%s): %s", reason, detail)

    def home(key: bytes) -> int:
        """The partition of a case's records: its id's (veille.moderation.queue.misplaced)."""
        return key_partition(key, partitions)

    def current(key: bytes, written: float) -> dict[str, Any] | None:
        """`key`'s case in the table, or None; a closed case forgotten (closed_forgotten) by
        the time a record on it was written is dropped first, as drop_old_closed would have
        dropped it: the record is for the id's next case. That sweep runs hourly, on the
        clock: without this, a record written in the hour after the 30 days (or read by a
        lagging agent) met the old closed case, while the moderator tools, which fold the
        topics by the records' broker times, started a new one."""
        state = load_state(cases.get(key))
        closed_at = closed_at_of(state)
        if closed_at is not None and closed_forgotten(closed_at, written):
            del cases[key]
            return None
        return state

    async def on_item(event: Any) -> None:
        try:
            await handle_item(event)
        finally:  # handled once done: expire_held must not judge a case still being saved
            handled[event.message.partition] = event.message.offset + 1

    async def handle_item(event: Any) -> None:
        try:
            item = json.loads(event.value)
            case = case_of(item)
            key = case.id.encode()
        except Exception as exc:  # noqa: BLE001 (ItemError, bad JSON, odd types or values)
            # moderation.queue is our own contract: a record that breaks it is a bug upstream.
            log.error("moderation: unreadable queue item at offset %s: %s",
                      event.message.offset, exc)
            return
        if misplaced(case.id, event.key, event.message.partition, home):
            # Keyed or placed otherwise than by its case id: the worker holding the case would
            # never see it. It goes back, keyed and placed by id.
            await (await topics.queue.send(key=key, value=event.value, partition=home(key)))
            return
        if is_erasure(item) and (item.get("case_closed") is not False or cases.get(key) is not None
                                 or closed_forgotten(case.received_at, written_at(event))):
            # `veille erase` emptied the item's personal data for the tools; the case holds
            # none. No new case, even long after the case closed and was forgotten, but for a
            # case pending when erased that this agent never saw: its item compacted away
            # before the agent read it (a lag of a day), the marker stands for it.
            return
        if current(key, written_at(event)) is not None:
            # A redelivery: the case is open or closed already. A crash between saving the
            # case and deleting its held decisions (two changelogs) left them held: they were
            # applied, so they go now (else they were sent back, and counted as duplicates).
            held.pop(key, None)
            return
        outcomes, arrived = [], case
        saved = held.get(key)
        if saved is not None:
            # Decisions that arrived before their case (the two topics are read independently),
            # in the order they were read, as every other decision is applied.
            for d in saved["decisions"]:
                try:
                    out = apply_decision(case, d, now=time.time())
                except DecisionError as exc:
                    ignore(exc.reason, exc.detail)
                    case = exc.case or case  # a conflict is remembered with the case
                    continue
                outcomes.append(out)
                case = out.case
        await settle(key, case, outcomes, arrived=arrived)
        if saved is not None:
            held.pop(key, None)

    async def on_decision(event: Any) -> None:
        try:
            decision = Decision.from_dict(json.loads(event.value))
            key = decision.case_id.encode()
        except Exception as exc:  # noqa: BLE001 (DecisionError, invalid JSON or bytes, odd values)
            ignore("invalid", f"{type(exc).__name__}: {exc}"[:200])
            return
        written = written_at(event)
        if decision.decided_at > written + MAX_CLOCK_SKEW_SECONDS:
            # Judged once, by when it was written (found in review: held for its case, or read
            # after a lag, it passed later, while the tools leave it out).
            ignore("invalid", f"decided_at is in the future ({decision.case_id!r})")
            return
        if misplaced(decision.case_id, event.key, event.message.partition, home):
            # The case's partition is its id's: a decision keyed or placed otherwise goes back.
            await (await topics.decisions.send(key=key, value=event.value, partition=home(key)))
            return
        state = current(key, written)
        if state is None:
            saved = held.get(key) or {"since": time.time(), "decisions": []}
            if decision.to_dict() in saved["decisions"]:
                ignore("duplicate", f"decision on {decision.case_id!r} already held")
                return
            # Bounded as a case is (found in review: 20,000 assignments held for an id with no
            # case made one 2.3 MB changelog record, past Kafka's 1 MB, and took 15 s to hold).
            closing = decision.decision in CLOSING_DECISIONS
            alike = sum((d.get("decision") in CLOSING_DECISIONS) == closing
                        for d in saved["decisions"])
            if alike >= (MAX_HELD_CLOSING if closing else MAX_OPEN_DECISIONS):
                ignore("invalid", f"{alike} decisions of this kind already held for "
                       f"{decision.case_id!r}, whose case has not arrived")
                return
            saved["decisions"].append(decision.to_dict())
            held[key] = saved
            log.info("moderation: decision on %r held until its case arrives", decision.case_id)
            return
        try:
            case = Case.from_state(state)
        except Exception as exc:  # noqa: BLE001 (a newer version's state, after a rollback)
            log.error("moderation: saved case %r unreadable by this version (%r): decision "
                      "not applied", decision.case_id, exc)
            ignore("invalid", f"the saved case {decision.case_id!r} cannot be read by this "
                   "version")
            return
        try:
            out = apply_decision(case, decision, now=written)
        except DecisionError as exc:
            ignore(exc.reason, exc.detail)
            if exc.case is not None:  # a conflict: remembered, so that a re-read is a duplicate
                await settle(key, exc.case, [])
            return
        await settle(key, out.case, [out])

    @app.agent(topics.moderation_in, name="moderation")
    async def moderation(stream: Any) -> None:
        async for event in stream.events():
            if event.message.topic == queue_name:
                await on_item(event)
            elif event.message.topic == decisions_name:
                await on_decision(event)

    pacer = Pacer(share=0.02)

    @app.timer(1.0)
    async def export_backlog() -> None:
        # Every second while the backlog is small; a backlog of hundreds of thousands of cases
        # takes a tenth of a second to sum, and is then summed less often (at most 2 % of the
        # event loop, which the enrichment stage and the agents share).
        if pacer.due(time.monotonic()):
            started = time.monotonic()
            refresh_gauges()
            pacer.ran(started, time.monotonic())

    @app.timer(max(1.0, min(30.0, settings.moderation_hold_seconds / 4)))
    async def expire_held() -> None:
        """Drop decisions held past their hold (held_for), once the agent has handled its
        case's partition of the queue to its end: their case is not coming (unknown_case; an
        answer seen on a platform, to a comment that never became a case: not_a_case).
        A timer must never stop the worker: a failure is logged and tried again next time."""
        try:
            await expire(time.time())
        except Exception:  # noqa: BLE001
            log.exception("moderation: held decisions not checked this time")

    async def expire(now: float) -> None:
        from faust.types import TP

        assigned = app.consumer.assignment()
        for key, saved in list(held.items()):
            if now - saved["since"] < held_for(saved["decisions"], settings.moderation_hold_seconds,
                                               settings.moderation_answer_hold_seconds):
                continue
            p = key_partition(key, partitions)
            tp = TP(queue_name, p)
            if p not in owned or tp not in assigned:
                continue  # handed over (the next owner recovers the held entry), or not ours
            high = app.consumer.highwater(tp)
            done = handled.get(p)
            if done is None:
                # Nothing handled since the assignment. The fetch position runs ahead of what
                # the agent handled (Faust buffers what it fetched): trusted only once the
                # partition has been ours for a whole hold, by when its buffer is long handled.
                owned_for = time.monotonic() - assigned_at.get(p, time.monotonic())
                if owned_for < settings.moderation_hold_seconds:
                    continue
                done = await app.consumer.position(tp) or 0
            if high is None or done < high or held.get(key) is not saved:
                continue  # (the agent may have taken the entry meanwhile: it is its own)
            if cases.get(key) is not None:
                # The case is here after all: its decisions go back on the stream, to be
                # applied in order by the agent (a timer must not race it on one case).
                sent = [await topics.decisions.send(key=key, value=json.dumps(d).encode(),
                                                    partition=p) for d in saved["decisions"]]
                for fut in sent:
                    await fut
                log.warning("moderation: %d held decisions on %r sent back to the stream: "
                            "their case is here", len(sent), key.decode(errors="replace"))
            else:
                for d in saved["decisions"]:
                    ignore(unknown_reason(d), f"no case {key.decode(errors='replace')!r} after "
                           f"{now - saved['since']:.0f} s")
            held.pop(key, None)

    @app.timer(3600.0)
    async def drop_old_closed() -> None:
        now = time.time()
        for key, state in list(cases.items()):
            closed_at = closed_at_of(load_state(state))
            if closed_at is not None and closed_forgotten(closed_at, now):
                del cases[key]

    return moderation
