"""Moderation records on Kafka (queue items, decisions, closed cases) and the views folded from them."""

# Pure: no Faust, no Kafka. The enrichment agent builds queue items here, the moderation agent
# turns them into Cases, and `veille moderate`, the moderation API and `veille moderation report`
# fold the records they read from moderation.queue and moderation.closed into the same figures.

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from itertools import chain
from typing import Any, Final

from veille.mentions_view import folded, handle, holds
from veille.moderation import (
    CATEGORIES,
    CLOSING_DECISIONS,
    METRIC_CATEGORIES,
    NO_CATEGORY,
    SEVERITIES,
    SORTS,
    Triage,
)
from veille.moderation.cases import (
    CONDITIONAL_DECISIONS,
    DECISIONS,
    MAX_CLOCK_SKEW_SECONDS,
    PROCESSED_SHARE_TARGET,
    REJECTION_RATE_CEILING,
    Case,
    DayPeak,
    Decision,
    DecisionError,
    HourlyVolume,
    MonthPeak,
    apply_decision,
    closed_forgotten,
    held_for,
    iso,
    moderators_needed,
    open_case,
    parse_epoch,
)
from veille.rules import Charter, brand_key

ITEM_SCHEMA_VERSION: Final = 1
#: Triage actions that put a mention in front of a moderator.
QUEUED_ACTIONS: Final = ("review", "respond", "hide")
#: Decision fields a moderator sends; `decided_at` is stamped by the tool that writes it.
#: `if_assigned_to` (assign and unassign: applied only if the case is still worked on by that
#: assignee, null for no one) is kept even when null.
DECISION_INPUT_FIELDS: Final = ("decision", "moderator", "reason", "assignee", "if_assigned_to")
#: Decisions on a case id the view has no queue item for are kept this long after they were
#: read, waiting for their item (the agent's default hold, VEILLE_MODERATION_HOLD_SECONDS)...
ORPHAN_SECONDS: Final = 600.0
#: ...and an answer seen on a platform that long (VEILLE_MODERATION_ANSWER_HOLD_SECONDS:
#: cases.held_for).
ANSWER_ORPHAN_SECONDS: Final = 21600.0
#: ...and at most this many of them (a few MB), the oldest dropped first (CaseView.expire_orphans).
MAX_ORPHAN_DECISIONS: Final = 10_000
#: The queue item of a case the view will forget at the end of the pass being read
#: (CaseView.forget_before): it stands for the item, whose content is no longer read.
_GONE_ITEM: Final[dict[str, Any]] = {}


def _shared(value: Any) -> Any:
    """A short text kept by many tombstones (a decision, a moderator's name) as one object."""
    return sys.intern(value) if type(value) is str and len(value) <= 64 else value


def erasure_of(item: Mapping[str, Any], erased_at: float, case_closed: bool) -> dict[str, Any]:
    """The erasure marker of a queue item (`veille erase`): the same record with its personal
    data emptied (erase_fields), `erased_at` set, and `case_closed`, whether its case was
    closed then. Written to moderation.queue keyed by the case id after the item, it takes the
    item's place in every view (CaseView.add_item); on Apache Kafka, the topic being compacted,
    the broker removes the item once its segment is cleaned, and the marker then stands for it.
    The moderation agent ignores it, but for a case pending when erased that it never saw (its
    item compacted away before the agent read it)."""
    marker = dict(item)
    erase_fields(marker, iso(erased_at))
    marker["case_closed"] = case_closed
    return marker


def is_erasure(record: Any) -> bool:
    """Whether a moderation.queue record is an erasure marker (erasure_of), not a new item."""
    return isinstance(record, Mapping) and record.get("erased_at") is not None


def erase_fields(item: dict[str, Any], erased_at: Any) -> None:
    """Empty `item`'s personal data in place (author and url null, text ""; the rest, brand,
    categories, times, stays for the KPIs) and set `erased_at`: a marker (erasure_of), or an
    item a marker read after it erases (CaseView)."""
    item.update(author=None, text="", url=None, erased_at=erased_at)


#: The triage reason of a complaint ("still no connection, 4 days now!!!"): a negative mention
#: whatever its sentiment score.
COMPLAINT_REASON: Final = "needs_answer:complaint"


def is_negative(sentiment: Any, reasons: Any) -> bool:
    """A case's mention counts as negative (Case.negative: the unanswered-negative KPI, the
    answers' on-time share) when scored negative, or when triage found a complaint in it. The
    scores alone missed 22 % of the demo's complaints: VADER reads "my SIM card isn't working
    again, 4 days now!!!" as neutral, and "still not delivered, not happy" as positive (its two
    negations cancel); triage already refuses a complaint word in clearly positive text."""
    return sentiment == "negative" or (isinstance(reasons, (list, tuple))
                                       and COMPLAINT_REASON in reasons)


class ItemError(ValueError):
    """A moderation.queue record that breaks the contract (a bug upstream, never user input)."""


def make_item(
    *,
    mention_id: str,
    brands: Sequence[str],
    triage: Triage,
    charter: Charter,
    language: str,
    sentiment: str | None,
    compound: float | None,
    platform: str,
    author: str | None,
    text: str,
    url: str | None,
    created_at: float,
    queued_at: float,
) -> dict[str, Any] | None:
    """The moderation.queue record of a triaged mention, or None when no human is needed.

    One case per mention: it belongs to the first brand the mention matched (watch-list order);
    `charter` is the strictest charter of all its brands (triage used it too), which sets the
    response deadline.
    """
    if triage.action not in QUEUED_ACTIONS or not brands:
        return None
    case = open_case(mention_id, brands[0], triage, language=language,
                     negative=is_negative(sentiment, triage.reasons), created_at=created_at,
                     now=queued_at, charter=charter)
    assert case is not None
    return {
        "schema_version": ITEM_SCHEMA_VERSION,
        "case_id": mention_id,
        "brand": case.brand,
        "brands": list(brands),
        "categories": list(triage.categories),
        "severity": triage.severity,
        "action": triage.action,
        "reasons": list(triage.reasons),
        "language": language,
        "sentiment": sentiment,
        "compound": compound,
        "platform": platform,
        "author": author,
        "text": text,
        "url": url,
        "created_at": iso(created_at),
        "queued_at": iso(queued_at),
        "respond_by": iso(case.response_deadline),
    }


def _field(item: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = item.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ItemError(f"queue item: {key} is missing or of the wrong type")
    return value


def known_categories(item: Mapping[str, Any]) -> tuple[str, ...]:
    """A valid queue item's categories that this version knows, as its case has them (case_of:
    a newer version's are left out): what the metrics, the report and the filters count."""
    return tuple(c for c in CATEGORIES if c in item["categories"])


def case_of(item: Any) -> Case:
    """The pending Case of a moderation.queue record; raises ItemError."""
    if not isinstance(item, Mapping):
        raise ItemError("queue item: not a JSON object")
    if item.get("schema_version") != ITEM_SCHEMA_VERSION:
        raise ItemError(f"queue item: schema_version {item.get('schema_version')!r}")
    categories = _field(item, "categories", list)
    if not all(isinstance(c, str) for c in categories):
        raise ItemError(f"queue item: categories must be strings: {categories}"[:300])
    # A category this version does not know (a newer version's triage, during a rolling
    # upgrade or after a rollback) is left out of the case, which is kept: counted under
    # category "none" if it had no other. Until 2026-12-06 the whole item was refused, and its
    # case never opened: lost to the moderators and the KPIs.
    brands = item.get("brands")
    if brands is not None and (not isinstance(brands, list)
                               or not all(isinstance(b, str) for b in brands)):
        # The listings' brand filter reads it: one odd record must not break them all.
        raise ItemError("queue item: brands must be a list of brand ids")
    severity = _field(item, "severity", str)
    action = _field(item, "action", str)
    if severity not in SEVERITIES or action not in QUEUED_ACTIONS:
        raise ItemError(f"queue item: severity {severity!r} or action {action!r}")
    case_id = _field(item, "case_id", str)
    brand = _field(item, "brand", str)
    if not case_id or not brand:
        raise ItemError("queue item: empty case_id or brand")
    try:
        times = {k: parse_epoch(item.get(k), k) for k in ("created_at", "queued_at", "respond_by")}
    except DecisionError as exc:
        raise ItemError(f"queue item: {exc.detail}") from None
    return Case(
        id=case_id,
        brand=brand,
        categories=known_categories(item),
        severity=severity,
        action=action,
        language=str(item.get("language") or "und"),
        negative=is_negative(item.get("sentiment"), item.get("reasons") or ()),
        received_at=times["queued_at"],
        created_at=times["created_at"],
        response_deadline=times["respond_by"],
    )


#: Text fields of a decision's input where an empty or blank value is as absent: a screen's form
#: sends its empty `reason` or `assignee` field as "" (a 400 "reason must be a non-empty string"
#: until 2026-12-06), and behind a proxy naming the user an empty `moderator` is the user's.
BLANK_AS_ABSENT = ("reason", "assignee", "moderator")


def decision_input(body: Any) -> Any:
    """A decision's input (a JSON object from the API, the CLI's fields) without its empty or
    blank BLANK_AS_ABSENT fields; anything else as it is (decision_record says what is wrong)."""
    if not isinstance(body, Mapping):
        return body
    return {k: v for k, v in body.items()
            if not (k in BLANK_AS_ABSENT and isinstance(v, str) and not v.strip())}


def decision_record(case_id: str, body: Any, decided_at: float) -> dict[str, Any]:
    """The moderation.decisions record for a moderator's input, validated; raises DecisionError.

    `body` holds `decision`, `moderator` and optionally `reason`, `assignee` (escalate and
    assign) and `if_assigned_to` (assign and unassign);
    the writing tool stamps `decided_at` with its own clock.
    """
    if not isinstance(body, Mapping):
        raise DecisionError("invalid", "the body must be a JSON object")
    body = decision_input(body)
    unknown = sorted(set(body) - set(DECISION_INPUT_FIELDS))
    if unknown:
        raise DecisionError("invalid", f"unknown fields {unknown} (allowed: "
                            f"{', '.join(DECISION_INPUT_FIELDS)})")
    if body.get("decision") not in DECISIONS:
        raise DecisionError("invalid", f"decision must be one of {', '.join(DECISIONS)}")
    record: dict[str, Any] = {"case_id": case_id, **{k: v for k, v in body.items()
                                                     if v is not None or k == "if_assigned_to"},
                              "decided_at": iso(decided_at)}
    Decision.from_dict(record)  # the agent's own validation, so that what we write is accepted
    return record


def misplaced(case_id: Any, key: bytes | None, partition: int, home: Callable[[bytes], int]) -> bool:
    """A moderation.queue or moderation.decisions record of case `case_id`, read with `key` on
    `partition`, that the moderation agent sends again, keyed and placed by the id, instead of
    applying it: keyed otherwise than by its case id, or on another partition than the id's
    (`home`: the partition Kafka's default partitioner gives a key; a producer with another
    partitioner, librdkafka's default is not murmur2, puts it elsewhere). The worker holding the
    case would never see it; the agent applies the copy alone, and the tools skip the original.
    An id that is no text, or cannot be a key, is no case's: both refuse the record as invalid."""
    if not isinstance(case_id, str):
        return False
    try:
        wanted = case_id.encode()
    except UnicodeEncodeError:
        return False
    return key != wanted or partition != home(wanted)


# --- the pending view -----------------------------------------------------------------------


def _same_decision(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """The same decision, moderator and time (ISO 8601 or Unix seconds alike)."""
    try:
        same_time = parse_epoch(a.get("decided_at"), "decided_at") == \
            parse_epoch(b.get("decided_at"), "decided_at")
    except DecisionError:
        return False
    return same_time and all(a.get(k) == b.get(k) for k in ("decision", "moderator"))


def _assignment_of(case: Case) -> dict[str, Any] | None:
    """Who works on `case` (`assignee`, None: no one) and the `moderator`, `decision` and
    `decided_at` of the decision that made it so; None when no decision ever did."""
    last = next((d for d in reversed(case.decisions) if d.decision in _ASSIGNING), None)
    if last is None:
        return None
    return {"assignee": case.assigned_to, "moderator": last.moderator,
            "decision": last.decision, "decided_at": iso(last.decided_at)}


def _closing_key(record: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """What tells a moderation.closed record from another episode's: the closing decision's
    time, kind and author (an at-least-once resend repeats them)."""
    return record.get("decided_at"), record.get("decision"), record.get("moderator")


def _name_key(name: Any) -> Any:
    """How a moderator's or assignee's name is matched by the filters: "Alice " finds "alice"
    (the names are free text, typed by people)."""
    return " ".join(name.split()).casefold() if isinstance(name, str) else name


#: The decisions that set who works on a case.
_ASSIGNING: Final = ("assign", "unassign", "escalate")


@dataclass(frozen=True)
class Prepared:
    """A decision checked on its pending case before a tool writes it (CaseView.prepare)."""

    #: What to write: an assign or unassign made conditional on who works on the case now.
    body: dict[str, Any]
    #: Who works on the case (CaseView.assignment), and how many escalations it has had.
    owner: dict[str, Any] | None
    escalations: int
    #: An assign to whoever has the case, an unassign of a case no one has: nothing to write.
    unchanged: bool
    #: Why the agent would ignore the decision if it came now (a duplicate aside), else None.
    refusal: DecisionError | None


@dataclass
class CaseView:
    """What moderation.queue and moderation.closed say about the cases, folded in order.

    Holds the records read so far; whoever reads the topics feeds it (the CLI reads them from
    the start every time, the API keeps reading where it stopped).

    Decisions on a case id with no queue item ("orphans": a decision read before its item, the
    topics being read in no particular order, or one another tool wrote on an unknown or
    long-gone case) wait for their item, within bounds that `expire_orphans` applies once the
    topics are read to their end: `orphan_seconds` after they were read, and
    `max_orphan_decisions` in all, the oldest dropped first. Without them a long-running API
    kept every decision on a case it never saw, forever.

    Closed cases are kept for ever by default (the report counts every case on the topics);
    with `closed_retention_seconds` (the long-running API: the agent's own,
    veille.moderation.cases.CLOSED_RETENTION_SECONDS), `forget_closed` drops a closed case's
    item and closed record once it was decided more than that long ago, as the moderation
    agent drops the case from its table. Without it the API kept every case it ever read, with
    its mention's text. While a pass is read, `forget_before` (the API's, from its clock at the
    start of the read) keeps a case closed before it as a tombstone (see the field): it will be
    forgotten at the end of the pass whatever comes, and the records still to come are judged
    on the tombstone as they would be on the case.

    Episodes: a case id whose case the agent has forgotten (closed_forgotten: decided more
    than CLOSED_RETENTION_SECONDS before) and that is queued again (an old file replayed past
    the de-duplication window) is a new case to the agent. The view folds it the same way, by
    the records' broker times (`written_at`, when the reader gives them): a queue item for a
    closed case id written once that case was forgotten starts a new episode of the id,
    pending; the one before goes to `earlier` (kept for the report and the closed listing;
    with `closed_retention_seconds`, forgotten as forget_closed would), and a decision written
    once the case was forgotten is for the new episode (held for its item, as the agent holds
    it). The three topics are read in no particular order: an item or a closed record read
    before the records it depends on waits for them until the end of the pass (end_pass).

    Feed `items` and `closed` through add_item and add_closed only: the pending cases are
    indexed apart (pending() sorts them alone, and only after a change)."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id -> queue item
    closed: dict[str, dict[str, Any]] = field(default_factory=dict)  # case id -> closed record
    #: case id -> moderation.decisions records of a case not closed yet, in topic order.
    decisions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orphan_seconds: float = ORPHAN_SECONDS
    #: An orphan answer seen on a platform waits the longer of this and orphan_seconds, as the
    #: agent holds it (cases.held_for).
    answer_orphan_seconds: float = ANSWER_ORPHAN_SECONDS
    max_orphan_decisions: int = MAX_ORPHAN_DECISIONS
    #: Closed cases decided more than this long ago are forgotten by forget_closed; None (the
    #: default: the CLI, the report) keeps them all. Set it when the view is made.
    closed_retention_seconds: float | None = None
    #: Closed cases forgotten so far (forget_closed, or a new episode of their id).
    closed_forgotten: int = field(default=0, init=False)
    #: While a pass is read (ModerationStore.refresh: its clock at the start of the read, less
    #: closed_retention_seconds; None otherwise, and always without a retention): a closed case
    #: decided before it will be forgotten by the forget_closed that ends the pass, at a later
    #: clock (closed_forgotten), unless a new episode of its id ends it first. Until then it is
    #: kept as a tombstone: its closed record reduced to what tells it from another episode's
    #: (_closing_key) and its queue item to _GONE_ITEM (its decided_at is in _decided). What the
    #: fold asks of such a case before the end of the pass (is it closed, when, is the item read,
    #: which closing) is all there; its text and final state, never asked before it is forgotten,
    #: are not. The API held every record of its first read until its end (513 MB after the
    #: start at 100,000 cases, 1.3 GB at 300,000).
    forget_before: float | None = field(default=None, init=False)
    #: (queue item or None, closed record) of the episodes before the current one of case ids
    #: queued again once forgotten, in the order they ended (not with closed_retention_seconds).
    earlier: list[tuple[dict[str, Any] | None, dict[str, Any]]] = field(default_factory=list,
                                                                         init=False)
    #: New episodes started so far.
    reopened: int = field(default=0, init=False)
    #: Orphan decisions dropped so far: read more than orphan_seconds ago, or over the bound.
    orphans_expired: int = field(default=0, init=False)
    orphans_evicted: int = field(default=0, init=False)
    #: ...of which answers seen on a platform (`answered_on`): to comments that never became
    #: cases, their normal fate (the agent's not_a_case), no sign of a fault.
    orphans_seen_on_platform: int = field(default=0, init=False)
    #: case id with no queue item -> when expire_orphans first saw its decisions (None: not yet),
    #: oldest first.
    _orphans: dict[str, float | None] = field(default_factory=dict, init=False, repr=False)
    _orphan_count: int = field(default=0, init=False, repr=False)  # their decisions, in all
    #: pending case id (an item, no closed record) -> its place in pending(): (queued_at, id).
    _pending: dict[str, tuple[float, str]] = field(default_factory=dict, init=False, repr=False)
    #: the pending case ids in that order; None once they changed (sorted again when asked).
    _order: list[str] | None = field(default=None, init=False, repr=False)
    #: heap of (decided_at, case id) of the closed records (with closed_retention_seconds only).
    _closing: list[tuple[float, str]] = field(default_factory=list, init=False, repr=False)
    #: case id -> decided_at of its closed record, in Unix seconds.
    _decided: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    #: case id -> how many of its decisions kept are closing ones (bounded apart: see
    #: add_decision).
    _closing_kept: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    #: case id -> the broker time of each of its kept decisions (None: not known), as `decisions`.
    #: (Tuples: of floats and None only, the garbage collector stops tracking them; a list per
    #: case made folding 200,000 decisions read first 35 % slower, in full collections.)
    _written: dict[str, tuple[float | None, ...]] = field(default_factory=dict, init=False,
                                                          repr=False)
    #: case id -> (broker time, item) of queue items read in this pass for a case whose closed
    #: record was not read yet: redeliveries, unless that record says the case was forgotten.
    _later_items: dict[str, list[tuple[float, dict[str, Any]]]] = field(
        default_factory=dict, init=False, repr=False)
    #: case ids whose item is an erasure marker read alone, its case closed when erased (end_pass).
    _lone_closed: set[str] = field(default_factory=set, init=False, repr=False)
    #: topic passes ended (end_pass): after the first, the view reads live.
    _passes: int = field(default=0, init=False, repr=False)
    #: case id -> closed records of a later episode read before the item that starts it.
    _later_closed: dict[str, list[dict[str, Any]]] = field(default_factory=dict, init=False,
                                                           repr=False)
    #: case id -> what identifies the closed record of its episode before the current one (an
    #: at-least-once resend of it read later must not close the new one), and its decided_at:
    #: a decision written before that case was forgotten, read later, was the agent's for it.
    _ended: dict[str, tuple[tuple[Any, Any, Any], float]] = field(default_factory=dict,
                                                                   init=False, repr=False)
    #: the last _fold of a whole case: ((case id, now, decisions read on it), its result). A
    #: listed row asks for its escalation, assignment and closing decision at one `now`: one fold.
    #: The item and decisions list are held, and compared by identity: a case forgotten and
    #: queued again is another item (an id() alone could be reused by the new one).
    _last_fold: tuple[tuple[str, float, int], Any, Any, Any] | None = field(
        default=None, init=False, repr=False)

    @property
    def orphan_decisions(self) -> int:
        """Decisions kept on case ids with no queue item."""
        return self._orphan_count

    def _adopt(self, case_id: str) -> None:
        """`case_id` has an item or a closed record now: its decisions are no orphans."""
        if case_id in self._orphans:
            del self._orphans[case_id]
            self._orphan_count -= len(self.decisions.get(case_id, ()))

    def _drop_orphan(self, case_id: str) -> int:
        self._orphans.pop(case_id)
        self._closing_kept.pop(case_id, None)
        self._written.pop(case_id, None)
        kept = self.decisions.pop(case_id, ())
        self._orphan_count -= len(kept)
        self.orphans_seen_on_platform += sum(d.get("answered_on") is not None for d in kept)
        return len(kept)

    def expire_orphans(self, now: float) -> tuple[int, int]:
        """Drop the decisions on case ids that still have no queue item: those read more than
        `orphan_seconds` ago (answers seen on a platform: held_for; their age counts from the
        first call that saw them), then the
        oldest beyond `max_orphan_decisions`. The counts dropped (expired, evicted).

        Call it once the topics are read to their end, never in the middle of a read: the
        queue and the decisions are read in no particular order, and an item read later in
        the same pass must still find its decisions (the moderation agent, likewise, drops a
        held decision only once its queue partition is read to the end)."""
        expired = evicted = 0
        for case_id, since in list(self._orphans.items()):  # oldest first
            if since is None:
                self._orphans[case_id] = now
            elif now - since >= held_for(self.decisions.get(case_id, ()), self.orphan_seconds,
                                         self.answer_orphan_seconds):
                expired += self._drop_orphan(case_id)
        while self._orphan_count > max(0, self.max_orphan_decisions):
            evicted += self._drop_orphan(next(iter(self._orphans)))
        self.orphans_expired += expired
        self.orphans_evicted += evicted
        return expired, evicted

    def forget_closed(self, now: float) -> int:
        """Forget the closed cases decided more than `closed_retention_seconds` before `now`
        (closed_forgotten, the agent's own test): their queue item and closed
        record go, as the moderation agent drops the case from its table. The case is then
        unknown, as it is to the agent (a decision on it is `unknown_case`), and a queue item
        for it read afterwards opens it again, as the agent opens a case it no longer holds.
        The count forgotten; none when closed_retention_seconds is None (kept for ever).

        Call it once the topics are read to their end, as expire_orphans: a queue item read
        after its closed record in the same pass is forgotten with it, not taken for a case
        opened again."""
        retention = self.closed_retention_seconds
        if retention is None:
            return 0
        forgotten = 0
        while self._closing and closed_forgotten(self._closing[0][0], now, retention):
            decided, case_id = heapq.heappop(self._closing)
            if self._decided.get(case_id) != decided:
                continue  # an episode ended by a new one (_reopen), counted then
            del self.closed[case_id]
            del self._decided[case_id]
            self.items.pop(case_id, None)  # a closed case is never in _pending
            kept = self.decisions.get(case_id)
            if kept and case_id not in self._orphans:  # written once it was forgotten: they
                self._orphans[case_id] = None  # wait for its next item, as orphans do
                self._orphan_count += len(kept)
            forgotten += 1
            held = self._later_closed.pop(case_id, None)
            if held:  # the next episode's, its item not read yet: it is then closed when read
                for record in held:
                    self.add_closed(record)
        self.closed_forgotten += forgotten
        return forgotten

    def add_item(self, item: Any, written_at: float | None = None) -> None:
        """A queue record; a redelivered one keeps the first (what the agent does too).

        `written_at`: the record's broker time. An item for a closed case id written once that
        case was forgotten (closed_forgotten) starts a new episode of the id, as the agent
        opens a new case (see the class). Anything that is not a valid queue item (null, a
        list...) is ignored."""
        try:
            case = case_of(item)
        except ItemError:
            return
        if is_erasure(item):
            self._erase(case, item, written_at)
            return
        if written_at is not None and case.id in self.closed \
                and closed_forgotten(self._decided[case.id], written_at):
            self._reopen(case.id, item)
            return
        if case.id in self.items:
            if written_at is not None and case.id not in self.closed:
                # A redelivery, unless the case's closed record, not read yet, says otherwise.
                self._later_items.setdefault(case.id, []).append((written_at, dict(item)))
            return
        if case.id not in self.closed:
            self.items[case.id] = dict(item)
            self._pending[case.id] = (case.received_at, case.id)  # received_at: queued_at
            self._order = None
        else:
            self.items[case.id] = _GONE_ITEM if self._doomed(case.id) else dict(item)
        self._adopt(case.id)

    def _doomed(self, case_id: str) -> bool:
        """The closed case `case_id` is forgotten at the end of this pass (forget_before)."""
        before = self.forget_before
        return before is not None and self.closed_retention_seconds is not None \
            and self._decided[case_id] < before

    def _erase(self, case: Case, marker: Mapping[str, Any], written_at: float | None) -> None:
        """An erasure marker (erasure_of): the items of its case id read so far, of every
        episode, lose their personal data. Read with no item of the id before it (the item
        compacted away on the broker), it is the item: its case is counted and listed as the
        item's would be, and never starts a new episode (written long after its case closed,
        it would otherwise be a new case). Except in a view that forgets closed cases (the
        API's), when written once a case queued then could have been forgotten: that case is
        most likely gone from the view, and its marker must not bring it back as pending."""
        case_id, erased_at = case.id, marker.get("erased_at")
        items = [self.items.get(case_id),
                 *(item for item, _ in self.earlier if item and item.get("case_id") == case_id),
                 *(item for _, item in self._later_items.get(case_id, ()))]
        for item in items:
            if item is not None and item is not _GONE_ITEM:
                erase_fields(item, erased_at)
        if case_id not in self.items:
            if self.closed_retention_seconds is not None and self._passes:
                # Read live by the API, with no item of its id: the API has forgotten that case
                # (closed long ago); it must not come back pending.
                return
            if marker.get("case_closed") is not False:
                # Closed when erased: it stands for its case only as long as the case's closed
                # record is on moderation.closed (both keep their records the same number of
                # days, but the marker was written later): checked at the end of the pass.
                self._lone_closed.add(case_id)
            # Folded as its item, written when it was queued: a closed record read before it
            # that was forgotten by then is an earlier episode's (a marker written long after
            # its case closed still starts none).
            self.add_item(dict(marker, erased_at=None), written_at=case.received_at)
            if self.items[case_id] is not _GONE_ITEM:
                erase_fields(self.items[case_id], erased_at)

    def add_closed(self, record: Any) -> None:
        """A moderation.closed record; a repeated one (an at-least-once resend) keeps the first.
        One that closes another episode of the id (another decision) waits for the item that
        starts it (see the class).

        Anything that is not a JSON object with a case id and a valid decided_at is ignored."""
        if not isinstance(record, Mapping):
            return
        case_id = record.get("case_id")
        try:
            decided = parse_epoch(record.get("decided_at"), "decided_at")
        except DecisionError:
            return
        if not isinstance(case_id, str):
            return
        if case_id in self.closed:
            key = _closing_key(record)
            if key != _closing_key(self.closed[case_id]):
                held = self._later_closed.setdefault(case_id, [])
                if all(_closing_key(other) != key for other in held):  # a resend waits once
                    held.append(dict(record))
            return
        ended = self._ended.get(case_id)
        if ended is not None and ended[0] == _closing_key(record):
            return  # a resend of the episode before the current one
        queued = self._pending.get(case_id)  # the item read, pending: (queued_at, id)
        if queued is not None and closed_forgotten(decided, queued[0]):
            # The item read was queued once this record's case was forgotten: it starts a later
            # episode, and the item of the one this record closed is gone (moderation.queue is
            # compacted: the broker keeps the newest record of each case id).
            self._ended[case_id] = (_closing_key(record), decided)
            if self.closed_retention_seconds is None:
                self.earlier.append((None, dict(record)))
            return
        self._decided[case_id] = decided
        if self._doomed(case_id):  # a tombstone until the end of the pass (forget_before)
            self.closed[case_id] = {"decided_at": record.get("decided_at"),
                                    "decision": _shared(record.get("decision")),
                                    "moderator": _shared(record.get("moderator"))}
            if case_id in self.items:
                self.items[case_id] = _GONE_ITEM
        else:
            self.closed[case_id] = dict(record)
        self._adopt(case_id)
        # Decisions written once this case was forgotten are for its next episode.
        times = self._written.pop(case_id, ())
        kept = [(d, w) for d, w in zip(self.decisions.pop(case_id, ()), times, strict=False)
                if w is not None and closed_forgotten(decided, w)]
        self._closing_kept.pop(case_id, None)
        if kept:
            self.decisions[case_id] = [d for d, _ in kept]
            self._written[case_id] = tuple(w for _, w in kept)
            self._closing_kept[case_id] = sum(d.get("decision") in CLOSING_DECISIONS
                                              for d, _ in kept)
        if self._pending.pop(case_id, None) is not None:
            self._order = None
        if self.closed_retention_seconds is not None:
            heapq.heappush(self._closing, (decided, case_id))
        # Queue items read before it in this pass, written once it was forgotten: the first
        # starts a new episode (those written before are redeliveries of this one).
        later = self._later_items.pop(case_id, [])
        while later:
            written, item = later.pop(0)
            if closed_forgotten(decided, written):
                if later:
                    self._later_items[case_id] = later
                self._reopen(case_id, item)
                return

    def _reopen(self, case_id: str, item: dict[str, Any]) -> None:
        """The closed case `case_id` was forgotten when `item` was written: a new episode."""
        old = self.closed.pop(case_id)
        self._ended[case_id] = (_closing_key(old), self._decided.pop(case_id))
        if self.closed_retention_seconds is None:
            self.earlier.append((self.items.get(case_id), old))
        else:  # the API forgets it anyway (forget_closed)
            self.closed_forgotten += 1
        self.reopened += 1
        self.items[case_id] = dict(item)
        self._pending[case_id] = (case_of(item).received_at, case_id)
        self._order = None
        self._adopt(case_id)
        held = self._later_closed.get(case_id)
        if held:  # its closed record, read before it
            record = held.pop(0)
            if not held:
                del self._later_closed[case_id]
            self.add_closed(record)

    def end_pass(self) -> None:
        """The topics are read to their end: queue items still waiting for their case's closed
        record (add_item) were redeliveries, and a lone erasure marker of a case closed when
        erased whose closed record is gone (past its retention) stands for no case: dropped,
        not listed pending. Call it as expire_orphans."""
        self._later_items.clear()
        for case_id in self._lone_closed:
            if case_id not in self.closed and case_id in self.items:
                del self.items[case_id]
                if self._pending.pop(case_id, None) is not None:
                    self._order = None
        self._lone_closed.clear()
        self._passes += 1

    def add_decision(self, record: Any, written_at: float | None = None) -> None:
        """A moderation.decisions record, kept until its case is closed (which the agent does
        when it applies it: within a second while a worker runs, later when it lags or is
        down), or, on a case id with no queue item yet, within the bounds of expire_orphans.
        Anything that is not a JSON object with a case id is ignored.

        `written_at`: the record's broker timestamp. A decision dated further ahead of it than
        the clock skew allowed is dropped: the agent refuses it for good when it reads it
        (about then), while folded later against the clock it would pass, and hold its case
        up as "decision pending" in the tools (found in review, 2026-12-05).

        At most MAX_VIEW_DECISIONS escalations and assignments are kept per case, and apart
        from them as many closing decisions: refused assignments past the first bound no longer
        hide the decision that closes the case (a second moderator's was then accepted)."""
        if not isinstance(record, Mapping):
            return
        case_id = record.get("case_id")
        if isinstance(case_id, str) and (case_id not in self.closed or (
                written_at is not None and closed_forgotten(self._decided[case_id], written_at))):
            # (on a closed case forgotten when it was written: for the id's next episode)
            ended = self._ended.get(case_id)
            if written_at is not None and ended is not None \
                    and not closed_forgotten(ended[1], written_at):
                return  # written for the episode before the current one (read after its end)
            if written_at is not None:
                try:
                    decided = parse_epoch(record.get("decided_at"), "decided_at")
                except DecisionError:
                    decided = None  # invalid whenever read: skipped by the fold
                if decided is not None and decided > written_at + MAX_CLOCK_SKEW_SECONDS:
                    return
            kept = self.decisions.setdefault(case_id, [])
            closing = self._closing_kept.get(case_id, 0)
            if record.get("decision") in CLOSING_DECISIONS:
                if closing >= MAX_VIEW_DECISIONS:
                    return
                self._closing_kept[case_id] = closing + 1
            elif len(kept) - closing >= MAX_VIEW_DECISIONS:  # a case takes at most 100
                return  # (found in review: 50,000 kept, 1.5 s to fold each view)
            kept.append(dict(record))
            self._written[case_id] = self._written.get(case_id, ()) + (written_at,)
            if case_id not in self.items:
                self._orphans.setdefault(case_id, None)
                self._orphan_count += 1

    def _fold(self, case_id: str, now: float, until: Mapping[str, Any] | None = None
              ) -> tuple[Case, dict[str, Any] | None] | None:
        """The pending case with the decisions read so far applied as the agent applies them
        (veille.moderation.cases.apply_decision, in topic order: an invalid one is skipped),
        up to the first that closes it, and that closing decision (None if none); stopped
        before `until` if that decision comes first; None for a case that is not pending."""
        item = self.items.get(case_id)
        if item is None or case_id in self.closed:
            return None
        decisions = self.decisions.get(case_id, ())
        if until is None:  # the whole case: the last one is kept, for the next question on it
            key = (case_id, now, len(decisions))
            last = self._last_fold
            if last is not None and last[0] == key and last[2] is item and last[3] is decisions:
                return last[1]  # type: ignore[no-any-return]
        case = case_of(item)
        folded: tuple[Case, dict[str, Any] | None] = (case, None)
        for record in decisions:
            if until is not None and record == until:
                break
            try:
                outcome = apply_decision(case, record, now)
            except DecisionError as exc:
                if exc.case is not None:  # a conflict, remembered as the agent does
                    case = exc.case
                    folded = (case, None)
                continue
            if outcome.closed:
                folded = (case, record)
                break
            case = outcome.case
            folded = (case, None)
        if until is None:
            self._last_fold = (key, folded, item, decisions)
        return folded

    def closing_decision(self, case_id: str, now: float) -> dict[str, Any] | None:
        """The decision already on moderation.decisions that will close this pending case, or
        None. The agent applies a case's decisions in topic order and the first that closes it
        wins (the others are ignored as already_closed): while it has not, every moderator
        still sees the case pending, and a second decision would be acknowledged and then
        dropped ("rejected" for one, "approved" for the agent). Folded here as the agent folds
        them (veille.moderation.cases.apply_decision), so that an invalid decision, or an
        escalation, does not count."""
        if not self.decisions.get(case_id):
            return None  # nothing written on it: no need to build the case (every listed row)
        folded = self._fold(case_id, now)
        return folded[1] if folded is not None else None

    def superseded(self, case_id: str, record: Mapping[str, Any],
                   now: float) -> dict[str, Any] | None:
        """The decision that closed the case before `record`, or None: read once `record`
        (a decision this tool wrote) is acknowledged and the topics are read to their end.

        Every decision on a case is in one partition (keyed by case id) and the agent applies
        them in that order, the first closing one winning: so a second moderator deciding at
        the same moment from another tool (the CLI, another API replica), whom the check before
        the write cannot see, is told rather than acknowledged and then silently ignored. None
        too when the view holds no trace of `record` (an unknown case, written unchecked). For
        a decision that keeps the case open (escalate, assign, unassign) on a case the agent has
        closed since: the closed record, unless its history holds `record`; when it does not,
        the agent did not apply it, whether it came after the closing decision or was refused
        before it (a take that lost to another: which, the history does not tell)."""
        closed = self.closed.get(case_id)
        if closed is not None:
            if record.get("decision") not in CLOSING_DECISIONS:
                state = closed.get("case")
                history = state.get("decisions") if isinstance(state, Mapping) else None
                if not isinstance(history, list):
                    return None  # not known which came first
                applied = any(isinstance(d, Mapping) and _same_decision(d, record) for d in history)
                return None if applied else closed
            return None if _same_decision(closed, record) else closed
        folded = self._fold(case_id, now, until=record)
        return folded[1] if folded is not None else None

    def assigned_first(self, case_id: str, record: Mapping[str, Any],
                       now: float) -> dict[str, Any] | None:
        """For a conditional assign or unassign (`if_assigned_to`) this tool wrote, once it is
        acknowledged and the topics are read to their end: who works on the case when the
        agent comes to `record`, if not the one it expects (the agent then ignores it as a
        `conflict`), as assignment() says it (`assignee` None: no one, given back or escalated
        to the queue); None when it applies, or when the case is not pending (see superseded).
        Two moderators taking the same case at the same moment: the second is told who has it."""
        if record.get("decision") not in CONDITIONAL_DECISIONS or "if_assigned_to" not in record:
            return None
        folded = self._fold(case_id, now, until=record)
        if folded is None or folded[1] is not None:
            return None
        case = folded[0]
        if case.assigned_to in (record.get("if_assigned_to"), record.get("assignee")):
            # Applied; or not, but the case is where it asked (alice taking it from two tabs,
            # a lead giving it to her as she takes it): nothing lost.
            return None
        return _assignment_of(case) or {"assignee": None, "moderator": None, "decision": None,
                                        "decided_at": None}

    def refused_at(self, case_id: str, record: Mapping[str, Any],
                   now: float) -> DecisionError | None:
        """Why the agent refuses `record`, a decision this tool wrote, when it comes to it
        after the decisions before it on the pending case (apply_decision's DecisionError), or
        None: it applies, or the case is not pending or was closed before it (superseded)."""
        return self._refused(self._fold(case_id, now, until=record), record, now)

    def prepare(self, case_id: str, body: Mapping[str, Any], now: float) -> Prepared:
        """`body` (a moderator's decision, valid) checked on the pending case as the tools
        check it before writing (the CLI and the API alike; whether the case is pending and
        has no closing decision waiting is theirs to say first): an assign or unassign is made
        conditional on who works on the case now (if_assigned_to, unless the body has one: of
        two moderators taking it at once, the agent applies the first), a no-op is found, and
        the decision is dry-run on the folded case (refusal)."""
        owner = self.assignment(case_id, now)
        has = owner["assignee"] if owner is not None else None
        escalation = self.escalation(case_id, now)
        written = dict(body)
        conditional = body.get("decision") in CONDITIONAL_DECISIONS
        if conditional:
            written.setdefault("if_assigned_to", has)
        unchanged = conditional and has == body.get("assignee")
        refusal = None
        if not unchanged:
            refusal = self.refusal(case_id, decision_record(case_id, written, now), now)
            if refusal is not None and refusal.reason == "duplicate":
                refusal = None
        return Prepared(written, owner, escalation["count"] if escalation is not None else 0,
                        unchanged, refusal)

    def refusal(self, case_id: str, record: Mapping[str, Any], now: float) -> DecisionError | None:
        """Why the agent would refuse `record` if it came now, after every decision read on the
        pending case (apply_decision's DecisionError: a conflict, the case's bound on
        decisions, a time out of range...), or None: checked before a tool writes it. None too
        for a case that is not pending (the callers say so themselves)."""
        return self._refused(self._fold(case_id, now), record, now)

    @staticmethod
    def _refused(folded: tuple[Case, dict[str, Any] | None] | None, record: Mapping[str, Any],
                 now: float) -> DecisionError | None:
        if folded is None or folded[1] is not None:  # not pending, or closed before it
            return None
        try:
            apply_decision(folded[0], record, now)
        except DecisionError as exc:
            return exc
        return None

    def escalated_between(self, case_id: str, record: Mapping[str, Any], now: float,
                          seen: int) -> dict[str, Any] | None:
        """The last escalation of the pending case, when it has had more than `seen` of them
        by the time `record` comes (escalated between a tool's check and its write: a take
        written meanwhile takes an escalated case), else None."""
        folded = self._fold(case_id, now, until=record)
        if folded is None or folded[0].escalations <= seen:
            return None
        case = folded[0]
        last = next(d for d in reversed(case.decisions) if d.decision == "escalate")
        return {"count": case.escalations, "severity": case.severity, "assignee": last.assignee,
                "moderator": last.moderator, "decided_at": iso(last.decided_at)}

    def escalation(self, case_id: str, now: float) -> dict[str, Any] | None:
        """How a case was escalated, from the `escalate` decisions on moderation.decisions
        (folded as the agent folds them, see _fold) or, once closed, from the final state on
        its moderation.closed record, or None when it was not: `count`, the case's `severity`
        now (one level up per escalation, as the agent holds it), and the last escalation's
        `assignee` (None: the escalation queue), `moderator`, `decided_at` and `reason`."""
        closed = self.closed.get(case_id)
        if closed is not None:  # as the closed record's final state says
            case = _closed_case(closed, None)
        elif not self.decisions.get(case_id):
            return None  # no decision read on it: nothing to fold
        else:
            folded = self._fold(case_id, now)
            case = folded[0] if folded is not None else None
        if case is None or case.escalations == 0:
            return None
        last = next((d for d in reversed(case.decisions) if d.decision == "escalate"), None)
        if last is None:
            return None
        return {"count": case.escalations, "severity": case.severity,
                "assignee": last.assignee, "moderator": last.moderator,
                "decided_at": iso(last.decided_at), "reason": last.reason}

    def assignment(self, case_id: str, now: float) -> dict[str, Any] | None:
        """Who works on a pending case, from the `assign`, `unassign` and `escalate` decisions on
        moderation.decisions folded as the agent folds them (see _fold), or None when no one
        does: `assignee`, and the `moderator`, `decision` and `decided_at` of the decision that
        gave it to them ("alice" assigning it to herself takes it; an escalation to "lead"
        gives it to lead). An escalation to the escalation queue, or an unassign, leaves it to
        no one. For a closed case: who worked on it last, from its closed record's final state."""
        closed = self.closed.get(case_id)
        if closed is not None:  # who had it last, as the closed record's final state says
            case = _closed_case(closed, None)
            return _assignment_of(case) if case is not None and case.assigned_to else None
        if not self.decisions.get(case_id):
            return None  # no decision read on it: assigned to no one
        folded = self._fold(case_id, now)
        if folded is None or folded[0].assigned_to is None:
            return None
        return _assignment_of(folded[0])

    def closed_cases(self, *, brand: str | None = None, category: str | None = None,
                     decision: str | None = None, moderator: str | None = None,
                     since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        """The closed cases decided in [since, until), newest decision first, each as
        closed_summary gives it, optionally filtered: `brand` finds a case for every brand its
        mention names (as pending() does), `category` as pending() too, `decision` the closing
        decision, `moderator` who took it. Built from the moderation.closed records (and each
        case's queue item, for its text, when still held): what a manager reads to see why
        items were rejected, or who answered what."""
        return self.closed_page(brand=brand, category=category, decision=decision,
                                moderator=moderator, since=since, until=until)[1]

    def closed_page(self, *, brand: str | None = None, category: str | None = None,
                    decision: str | None = None, moderator: str | None = None,
                    since: float | None = None, until: float | None = None,
                    limit: int | None = None, author: str | None = None, offset: int = 0,
                    contains: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """How many closed cases closed_cases finds, and `limit` of them from `offset` on (the
        `offset` newest left out): only those are summarized (a listing of the newest 100 of
        50,000 closed cases took 0.5 s). `author` and `contains` as pending() reads them, from
        the case's queue item (a case whose item is no longer held matches neither).
        The earlier episodes of case ids queued again are listed too, each with its own item."""
        rows: list[tuple[float, str, int, dict[str, Any], dict[str, Any] | None]] = []
        current = len(self.closed)
        brand = brand_key(brand) if brand is not None else None
        wanted_author = handle(author)
        needle = folded(contains)
        for n, (case_id, decided, record, item) in enumerate(self._closed_episodes()):
            if (since is not None and decided < since) or (until is not None and decided >= until):
                continue
            if decision is not None and record.get("decision") != decision:
                continue
            if moderator is not None and _name_key(record.get("moderator")) != _name_key(moderator):
                continue
            if n < current:  # looked up past the cheap filters
                item = self.items.get(case_id)
            if wanted_author is not None and (item is None
                                              or handle(item.get("author")) != wanted_author):
                continue
            if brand is not None and record.get("brand") != brand:
                brands = item.get("brands") if item is not None else None
                if not isinstance(brands, list) or brand not in brands:
                    continue
            if category is not None:
                case = _closed_case(record, item)
                categories = case.categories if case is not None else ()
                if category not in categories and not (category == NO_CATEGORY and not categories):
                    continue
            if needle and (item is None or not holds(item, needle)):  # last: the text folded
                continue
            rows.append((decided, case_id, n, record, item))
        rows.sort(key=lambda row: (-row[0], row[1], row[2]))
        shown = rows[offset:offset + limit] if limit is not None else rows[offset:]
        return len(rows), [closed_summary(record, item) for _, _, _, record, item in shown]

    def _closed_episodes(self) -> Iterator[tuple[str, float, dict[str, Any], dict[str, Any] | None]]:
        """(case id, decided_at, closed record, queue item or None) of every closed case held,
        the current episodes first (in `closed` order; their item, in `items`, left None for
        the caller to look up), then the earlier ones. Generated, not listed: closed_page walks
        them once (a list of every closed case, built twice, made a listing of 40,000 closed
        cases twice as slow, and one that matches none six times)."""
        decided = self._decided
        for case_id, record in self.closed.items():
            yield case_id, decided[case_id], record, None
        for item, record in self.earlier:
            yield (str(record.get("case_id")), parse_epoch(record.get("decided_at"), "decided_at"),
                   record, item)

    def status(self, case_id: str) -> str | None:
        """"closed", "pending" or None (unknown)."""
        if case_id in self.closed:
            return "closed"
        return "pending" if case_id in self.items else None

    def pending(self, brand: str | None = None, category: str | None = None,
                limit: int | None = None, sort: str = "queued", *, assignee: str | None = None,
                unassigned: bool = False, escalated: bool = False, now: float | None = None,
                posted_since: float | None = None, author: str | None = None,
                contains: str | None = None) -> list[dict[str, Any]]:
        """Pending items, oldest first (queue time, then id; with sort="respond_by", the
        earliest answer deadline first: a mention posted long before it was queued, late or
        replayed, is more urgent than its queue time says), optionally filtered. A case is one
        brand's (the first the mention matched, which counts it in its KPIs), but the `brand`
        filter (whatever its case, brand_key) finds it for every brand it names: "@borealcafe et
        @acme_fr, remboursez-moi" is boreal's business too. `assignee` keeps the cases someone
        works on (see assignment), `unassigned` those no one does; `escalated` those escalated
        at least once (see escalation: an escalation written and not applied by the agent yet
        counts, as it shows), combined with either: with `unassigned`, the escalation queue
        (escalated, and no one took them since); with `assignee`, the escalated cases they have
        (escalated to them, or taken since). These need `now`, as the decisions are folded at
        it. `posted_since` (epoch seconds) keeps the mentions posted
        then or later: a crisis' own cases, behind a backlog. `author`: one author's (an access
        request; compared as handle() compares them: case and a leading @ ignored). `contains`:
        those whose text or link holds these words, in this order (compared as `veille mentions
        --contains` compares them, mentions_view.holds: case, accents and spacing ignored; a case
        erased by `veille erase` holds none); words that fold to nothing are no filter.

        Only the pending cases are read (indexed apart from the closed ones), in an order
        sorted again only after they changed."""
        if self._order is None:
            self._order = sorted(self._pending, key=self._pending.__getitem__)
        brand = brand_key(brand) if brand is not None else None
        wanted_author = handle(author)
        needle = folded(contains)
        out = [
            item for item in map(self.items.__getitem__, self._order)
            if (brand is None or item["brand"] == brand or brand in (item.get("brands") or ()))
            and (category is None or category in known_categories(item)
                 # "none": queued for a charter's banned term alone, as the metrics label it
                 or (category == NO_CATEGORY and not known_categories(item)))
            and (posted_since is None or parse_epoch(item["created_at"], "created_at") >= posted_since)
            and (wanted_author is None or handle(item.get("author")) == wanted_author)
            # Last: the text folded only for the cases the cheaper filters kept.
            and (not needle or holds(item, needle))
        ]
        whose = assignee is not None or unassigned
        if whose or escalated:
            if assignee is not None and unassigned:
                raise ValueError("filter on assignee or unassigned, not both")
            if now is None:
                raise ValueError("the assignee, unassigned and escalated filters fold the "
                                 "decisions at a given now")
            at = now

            wanted = _name_key(assignee)

            def kept(item: Mapping[str, Any]) -> bool:
                # One fold per case for both questions (_last_fold): asked one after the other.
                case_id = item["case_id"]
                if escalated and self.escalation(case_id, at) is None:
                    return False
                if not whose:
                    return True
                found = self.assignment(case_id, at)
                return (_name_key(found["assignee"]) if found is not None else None) == wanted

            out = [item for item in out if kept(item)]  # wanted None: unassigned
        if sort == "respond_by":  # stable: the queue order among equal deadlines
            out.sort(key=lambda item: parse_epoch(item["respond_by"], "respond_by"))
        elif sort != "queued":
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        return out[:limit] if limit is not None else out


# --- the report -----------------------------------------------------------------------------


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of `values` by the nearest-rank method: the smallest value
    with at least q of the values at or below it (always one of them); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Figures:
    """Items received, processed and rejected in a period (flows, as the Prometheus rules),
    the times to decision of the cases closed in it, and the answers to negative cases asking
    for one."""

    received: int = 0
    processed: int = 0
    rejected: int = 0
    #: Seconds from entering the queue to the closing decision, per case closed in the period.
    decision_seconds: list[float] = field(default_factory=list)
    #: Closing decisions in the period of negative cases asking for an answer (needs_answer):
    #: replies by their brand's response deadline or after it, and approve/reject (no answer).
    answered_on_time: int = 0
    answered_late: int = 0
    closed_without_answer: int = 0
    #: Of those replies (on time or late), the ones a collector saw on the platform
    #: (`answered_on`) rather than a moderator recorded in veille.
    answered_on_platform: int = 0
    #: Such cases still pending past their deadline at the end of the period.
    unanswered_at_end: int = 0

    @property
    def processed_share(self) -> float | None:
        return self.processed / self.received if self.received else None

    @property
    def rejection_rate(self) -> float | None:
        return self.rejected / self.processed if self.processed else None

    @property
    def median_decision_seconds(self) -> float | None:
        return nearest_rank(self.decision_seconds, 0.5)

    @property
    def p90_decision_seconds(self) -> float | None:
        return nearest_rank(self.decision_seconds, 0.9)

    @property
    def answered(self) -> int:
        return self.answered_on_time + self.answered_late

    @property
    def asking_closed(self) -> int:
        """Cases asking for an answer closed in the period, answered or not."""
        return self.answered + self.closed_without_answer

    @property
    def on_time_share(self) -> float | None:
        """answered on time / cases asking for an answer closed; None before any."""
        return self.answered_on_time / self.asking_closed if self.asking_closed else None


@dataclass
class Report:
    since: float
    until: float
    brands: dict[str, Figures]
    total: Figures
    categories: dict[str, int]  # items received per category (in each of its own, or "none")
    received: HourlyVolume
    processed: HourlyVolume
    busiest: list[DayPeak]
    pending_at_end: int
    #: The time zone of the report's days and hours.
    tz: tzinfo = UTC

    def months(self) -> list[MonthPeak]:
        """Per month of `tz` in the period: received, and the busiest hour's items."""
        return self.received.busiest_by_month(self.since, self.until, self.tz)

    def hours(self) -> list[tuple[int, int, int]]:
        """(hour start, received, processed) for every hour of the period, hours of `tz`."""
        processed = dict(self.processed.per_hour(self.since, self.until, self.tz))
        return [(h, n, processed.get(h, 0))
                for h, n in self.received.per_hour(self.since, self.until, self.tz)]


def _closed_case(record: Mapping[str, Any], item: Mapping[str, Any] | None) -> Case | None:
    """The case a moderation.closed record closed: its final state as the agent wrote it, or
    else the pending case of its queue item; None when neither can be read."""
    state = record.get("case")
    try:
        if isinstance(state, Mapping):
            return Case.from_state(state)
    except Exception:  # noqa: BLE001 (any odd value: 1e999 escalations is an OverflowError)
        pass
    try:
        return case_of(item) if item is not None else None
    except ItemError:
        return None


def answered_on_of(record: Any) -> str | None:
    """The platform on which a collector saw the brand's answer that this record is (a
    moderation.decisions record, or the API's decision_pending, with `answered_on`) or that
    closed its case (a moderation.closed record: its case's last decision; a closed_summary row:
    its `answered_on`); None for a moderator's decision, or when the record does not say."""
    if not isinstance(record, Mapping):
        return None
    platform = record.get("answered_on")
    state = record.get("case")
    if platform is None and isinstance(state, Mapping):
        history = state.get("decisions")
        last = history[-1] if isinstance(history, list) and history else None
        platform = last.get("answered_on") if isinstance(last, Mapping) else None
    return platform if isinstance(platform, str) else None


def closed_summary(record: Mapping[str, Any], item: Mapping[str, Any] | None) -> dict[str, Any]:
    """A closed case for people and tools: the closing `decision`, `moderator`, `reason`,
    `decided_at` and `time_to_decision_seconds` of its moderation.closed record, `answered_on`
    (the platform on which a collector saw the brand's answer that closed it; null for a
    moderator's decision), the case's
    `brand`, `brands`, `categories`, `severity` (after escalations) and `escalations`, who
    worked on it last (`assigned_to`), its answer deadline (`respond_by`, as GET /cases gives
    it) and `answer`, how the closing answered a case asking for one (on_time, late, no_answer;
    null when it asks for none), its mention's `platform`, `author`, `text` and `url`
    while its queue item is held (null otherwise), and `erased_at` once `veille erase` emptied
    them (absent otherwise, as on GET /cases). A record with an unreadable case state
    shows what its queue item says, or nulls."""
    decided = parse_epoch(record.get("decided_at"), "decided_at")
    case = _closed_case(record, item)
    item = item if isinstance(item, Mapping) else {}
    brands = item.get("brands")
    return {
        "case_id": record.get("case_id"),
        "brand": record.get("brand"),
        "brands": list(brands) if isinstance(brands, list) else [record.get("brand")],
        "categories": list(case.categories) if case is not None else [],
        "severity": case.severity if case is not None else None,
        "escalations": case.escalations if case is not None else None,
        "assigned_to": case.assigned_to if case is not None else None,
        "decision": record.get("decision"),
        "moderator": record.get("moderator"),
        "reason": record.get("reason"),
        "answered_on": answered_on_of(record),
        "decided_at": iso(decided),
        "time_to_decision_seconds": _time_to_decision(record, decided, case),
        "respond_by": iso(case.response_deadline) if case is not None else None,
        "answer": _answer(record, decided, case),
        **{k: item.get(k) for k in ("platform", "author", "text", "url")},
        # `veille erase`: author, text and url emptied, as GET /cases says it
        **({"erased_at": item["erased_at"]} if item.get("erased_at") is not None else {}),
    }


def _answer(record: Mapping[str, Any], decided: float, case: Case | None) -> str | None:
    """How the closing answered a case asking for an answer (Case.answer_outcome: on_time,
    late, no_answer), compared as the agent and the report compare it: the decision's exact
    time (the case's closed_at) against the deadline; None for a case asking for none, or
    unknown."""
    if case is None:
        return None
    exact = case.closed_at
    if not isinstance(exact, int | float) or isinstance(exact, bool) or not math.isfinite(exact):
        exact = decided
    return case.answer_outcome(str(record.get("decision")), exact)


def _time_to_decision(record: Mapping[str, Any], decided: float, case: Case | None) -> float | None:
    """The record's time_to_decision_seconds (the agent's: decided_at - queued_at, never
    negative), or else the same from the case; None when neither is known."""
    value = record.get("time_to_decision_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) \
            and value >= 0:
        return float(value)
    return max(0.0, decided - case.received_at) if case is not None else None


def build_report(items: Iterable[Mapping[str, Any]], closed: Iterable[Mapping[str, Any]],
                 since: float, until: float, tz: tzinfo = UTC, *,
                 earlier: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]] = (),
                 watched: Iterable[str] = ()) -> Report:
    """Figures of [since, until): items received (queued) in it, cases closed (decided) in it.
    `earlier`: the (queue item, closed record) of episodes before the current one of case ids
    queued again once forgotten (CaseView.earlier), each counted as a case of its own.
    `watched`: brands given a row even with nothing in the period (the watch list's), beside
    every brand found in the topics (one no longer watched included).

    Flows, as the Prometheus rules compute them: a case received before the period and closed
    in it counts as processed, so the processed share may exceed 1 after a backlog is cleared.
    The times to decision and the answers are those of the cases closed in the period, as
    veille_moderation_decision_seconds and veille_moderation_answers_total count them.
    """
    if until <= since:
        raise ValueError("the period is empty: --until must be after --since")
    view = CaseView()
    for item in items:
        view.add_item(item)
    for rec in closed:
        view.add_closed(rec)
    # A row of zeros for a watched brand with nothing in the period: left out until 2026-12-06,
    # so a lead reporting on every brand they watch could not tell "none" from "not counted".
    brands: dict[str, Figures] = {brand: Figures() for brand in watched}
    total = Figures()
    categories = dict.fromkeys(METRIC_CATEGORIES, 0)
    received = HourlyVolume()
    processed = HourlyVolume()
    pending_at_end = 0
    # Walked, not listed: lists of every case made the report of 50,000 a third slower.
    earlier = list(earlier)
    episodes: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = chain(
        ((item, view.closed.get(case_id)) for case_id, item in view.items.items()),
        ((item, record) for item, record in earlier if item is not None))
    for item, closing in episodes:
        queued = parse_epoch(item["queued_at"], "queued_at")
        decided = parse_epoch(closing["decided_at"], "decided_at") if closing else math.inf
        if queued < until and decided >= until:
            pending_at_end += 1
            waiting = case_of(item)
            if waiting.asks_for_answer and until > waiting.response_deadline:
                brands.setdefault(item["brand"], Figures()).unanswered_at_end += 1
                total.unanswered_at_end += 1
        if not since <= queued < until:
            continue
        figures = brands.setdefault(item["brand"], Figures())
        figures.received += 1
        total.received += 1
        received.add(queued)
        for c in known_categories(item) or (NO_CATEGORY,):
            categories[c] += 1
    closings: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = chain(
        ((record, view.items.get(case_id)) for case_id, record in view.closed.items()),
        ((record, queued_item) for queued_item, record in earlier))
    for record, its_item in closings:
        decided = parse_epoch(record["decided_at"], "decided_at")
        case = _closed_case(record, its_item)
        received_at = case.received_at if case is not None else None
        if isinstance(received_at, int | float) and not isinstance(received_at, bool) \
                and math.isfinite(received_at) and decided < received_at:
            # A decision stamped before its case was queued (a moderator's clock behind, up to
            # MAX_CLOCK_SKEW_SECONDS; an answer seen on a platform, however early): processed
            # when received, as the agent counts it (found
            # in review: filed in the period before the one it was received in).
            decided = float(received_at)
        if not since <= decided < until:
            continue
        figures = brands.setdefault(str(record.get("brand")), Figures())
        rejected = record.get("decision") == "reject"
        waited = _time_to_decision(record, decided, case)
        answer = _answer(record, decided, case)  # the agent's own comparison
        seen = answered_on_of(record) is not None
        for f in (figures, total):
            f.processed += 1
            f.rejected += rejected
            if waited is not None:
                f.decision_seconds.append(waited)
            f.answered_on_time += answer == "on_time"
            f.answered_late += answer == "late"
            f.closed_without_answer += answer == "no_answer"
            f.answered_on_platform += seen and answer in ("on_time", "late")
        processed.add(decided)
    return Report(since, until, dict(sorted(brands.items())), total, categories, received,
                  processed, received.busiest(since, until, tz), pending_at_end, tz)


#: Decisions the tools' view keeps per pending case: ten times what a case takes (100
#: escalations and assignments and its closing), room for refused ones (conflicts) in between.
MAX_VIEW_DECISIONS = 1000


def _pct(x: float | None, lang: str = "en", floor: bool = False,
         ceiling: float | None = None) -> str:
    """A share to 0.1 %; `floor` rounds down a share that must stay at least a target (the
    processed share: 89.95 % is 89.9 %, not "90.0 %" beside "target: at least 90 %").
    `ceiling`: a share above it (the alert's `> ceiling`, on the exact value) never prints at
    or below it: rounded to nearest, but 30.04 % over a 30 % ceiling is 30.1 %, not "30.0 %"
    while the alert fires; exactly 30 % stays 30.0 % and every other value is rounded to
    nearest (1/3 is 33.3 %, not 33.4 % as rounding every rate up would print)."""
    if x is None:
        return "-"
    if floor:
        x = math.floor(x * 1000 + 1e-9) / 1000
    elif ceiling is not None and x > ceiling:
        limit = round(ceiling * 1000)  # in tenths of a percent
        # As printed below (`:.1%` is x * 100 to one decimal): would it read as within?
        if round(float(f"{x * 100:.1f}") * 10) <= limit:
            x = (limit + 1) / 1000
    return f"{x:.1%}" if lang != "fr" else f"{x * 100:.1f}".replace(".", ",") + "\u00a0%"


def duration(seconds: float | None, lang: str = "en", *, spaced: bool = False) -> str:
    """A time to decision for people: 45s, 12m05s, 2h05m, 3d04h (3j04h in French); - when
    unknown. `spaced`, in French: as a sentence writes it (the moderation page), each unit
    after a non-breaking space, 45 s, 12 min 05 s, 2 h 05 min, 3 j 04 h."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if spaced and lang == "fr":
        sp = "\u00a0"
        parts = ((s, "s") if s < 60 else (s // 60, "min", s % 60, "s") if s < 3600
                 else (s // 3600, "h", s % 3600 // 60, "min") if s < 86400
                 else (s // 86400, "j", s % 86400 // 3600, "h"))
        return sp.join(f"{n:02d}{sp}{unit}" if i else f"{n}{sp}{unit}"
                       for i, (n, unit) in enumerate(zip(parts[::2], parts[1::2], strict=True)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}{'j' if lang == 'fr' else 'd'}{s % 86400 // 3600:02d}h"


#: The report's words, per language (veille.settings.REPORT_LANGUAGES). French: moderators and
#: community managers are often French-speaking, and the report is what they hand on.
REPORT_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "moderation report",
        "volume": "brand|received|processed|share|rejected|rejection",
        "all": "all",
        "volume_note": "share = processed / received (target: at least {target}); rejection = "
                       "rejected / processed",
        "pending": "pending at the end of the period: {n}",
        "answers": "time to decision and answers to negative mentions asking for one (cases "
                   "closed in the period):",
        "answers_head": "brand|median|p90|closed|on time|late|on platform|no answer|on-time|"
                        "unanswered",
        "answers_note": "median, p90 = time to decision: from entering the queue (queued_at) to "
                        "the closing decision\n"
                        "closed = negative cases asking for an answer (needs_answer) closed: "
                        "replied on time by their\n"
                        "  brand's deadline (respond_by) or late, or approved/rejected with no "
                        "answer; on-time = on time / closed;\n"
                        "  on platform = of the replies, those the brand posted on the platform "
                        "itself (read by a collector);\n"
                        "  unanswered = such cases still pending past their deadline at the end of "
                        "the period",
        "categories": "received per category (an item counts in each of its categories; none: "
                      "queued for a banned term alone):",
        "months": "busiest hour per month ({zone}; items received in the hour; moderators: to keep "
                  "up with it at {minutes} a case, busy 80% of the time):",
        "months_no_minutes": "busiest hour per month ({zone}; items received in the hour; "
                             "--minutes-per-case M gives the moderators to keep up with it):",
        "months_head": "month|received|peak|hour|moderators",
        "busiest": "busiest hours per day ({zone}; items received in the hour):",
        "busiest_head": "day|received|peak|hours",
        "legend": "RP",
        "chart": "chart: {png} (hourly received in blue (R), processed in orange (P); {start} "
                 "onwards, {tz})",
    },
    "fr": {
        "title": "rapport de modération",
        "volume": "marque|reçus|traités|part|rejetés|rejet",
        "all": "toutes",
        "volume_note": "part = traités / reçus (objectif\u00a0: au moins {target})\u00a0; rejet = "
                       "rejetés / traités",
        "pending": "en attente à la fin de la période\u00a0: {n}",
        "answers": "délai de décision et réponses aux mentions négatives qui en demandent une "
                   "(dossiers clos dans la période)\u00a0:",
        # Not "sans réponse" twice: closed without one, and still waiting past the deadline
        # (found in review, 2026-12-06).
        "answers_head": "marque|médiane|p90|clos|à temps|en retard|sur place|sans rép.|"
                        "% à temps|échus",
        "answers_note": "médiane, p90 = délai de décision\u00a0: de l'entrée dans la file (queued_at) "
                        "à la décision qui clôt\n"
                        "clos = dossiers négatifs demandant une réponse (needs_answer) clos\u00a0: "
                        "réponse avant l'échéance\n"
                        "  de leur marque (respond_by) ou en retard, ou approuvés/rejetés sans "
                        "réponse (sans rép.)\u00a0; % à temps = à temps / clos\u00a0;\n"
                        "  sur place = des réponses, celles que la marque a publiées sur la "
                        "plateforme même (lues par un collecteur)\u00a0;\n"
                        "  échus = dossiers de ce type encore en attente après leur échéance à la "
                        "fin de la période (laissés sans réponse)",
        "categories": "reçus par catégorie (un élément compte dans chacune de ses catégories\u00a0; "
                      "none\u00a0: mis en file pour un terme interdit seul)\u00a0:",
        "months": "heure la plus chargée par mois ({zone}\u00a0; éléments reçus dans l'heure\u00a0; "
                  "modérateurs\u00a0: pour la suivre à {minutes} par dossier, occupés 80\u00a0% du "
                  "temps)\u00a0:",
        "months_no_minutes": "heure la plus chargée par mois ({zone}\u00a0; éléments reçus dans "
                             "l'heure\u00a0; --minutes-per-case M donne les modérateurs pour la "
                             "suivre)\u00a0:",
        "months_head": "mois|reçus|pic|heure|modérateurs",
        "busiest": "heures les plus chargées par jour ({zone}\u00a0; éléments reçus dans l'heure)\u00a0:",
        "busiest_head": "jour|reçus|pic|heures",
        "legend": "RT",
        "chart": "graphique\u00a0: {png} (reçus par heure en bleu (R), traités en orange (T)\u00a0; à partir "
                 "du {start}, {tz})",
    },
}


def _row(cells: list[str], widths: list[int]) -> str:
    """Cells under a header: the first left-aligned, the others right-aligned."""
    first, *rest = cells
    return " ".join([f"{first:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(rest, widths[1:],
                                                                          strict=True))])


def format_report(report: Report, tz: tzinfo = UTC, lang: str = "en",
                  minutes_per_case: float | None = None) -> str:
    """The terminal table of `veille moderation report`, in English or French (REPORT_TEXT);
    with `minutes_per_case` (a moderator's time per case), the moderators each month's busiest
    hour needs (moderators_needed)."""
    t = REPORT_TEXT[lang]
    period = (f"{iso(report.since)} .. {iso(report.until)}" if str(tz) in ("UTC", "Etc/UTC") else
              f"{datetime.fromtimestamp(report.since, tz).isoformat(timespec='minutes')} .. "
              f"{datetime.fromtimestamp(report.until, tz).isoformat(timespec='minutes')} ({tz})")
    lines = [f"{t['title']} {period}", ""]
    head = t["volume"].split("|")
    widths = [16, *(max(len(h), w) for h, w in zip(head[1:], (9, 10, 7, 9, 10), strict=True))]
    lines.append(_row(head, widths))
    rows = [*report.brands.items(), (t["all"], report.total)]
    for name, f in rows:
        lines.append(_row([name, str(f.received), str(f.processed),
                           _pct(f.processed_share, lang, floor=True), str(f.rejected),
                           _pct(f.rejection_rate, lang, ceiling=REJECTION_RATE_CEILING)],
                          widths))
    target = round(PROCESSED_SHARE_TARGET * 100)
    lines.append(t["volume_note"].format(target=f"{target}%" if lang != "fr"
                                         else f"{target}\u00a0%"))
    lines.append(t["pending"].format(n=report.pending_at_end))
    head = t["answers_head"].split("|")
    # At least two spaces between headers: French "à temps en retard" read as one phrase.
    widths = [16, *(max(len(h) + 1, w) for h, w in zip(head[1:], (8, 8, 7, 8, 6, 11, 10, 8, 11),
                                                   strict=True))]
    lines += ["", t["answers"], _row(head, widths)]
    for name, f in rows:
        lines.append(_row([name, duration(f.median_decision_seconds, lang),
                           duration(f.p90_decision_seconds, lang), str(f.asking_closed),
                           str(f.answered_on_time), str(f.answered_late),
                           str(f.answered_on_platform), str(f.closed_without_answer),
                           _pct(f.on_time_share, lang, floor=True),
                           str(f.unanswered_at_end)], widths))
    lines += t["answers_note"].split("\n")
    lines += ["", t["categories"]]
    lines += [f"  {c:<14} {n:>7}" for c, n in report.categories.items()]
    zone = getattr(tz, "key", None) or str(tz)
    lines += ["", t["months"].format(zone=zone, minutes=duration(minutes_per_case * 60, lang))
              if minutes_per_case is not None else t["months_no_minutes"].format(zone=zone)]
    head = t["months_head"].split("|")
    lines.append(f"{head[0]:<8} {head[1]:>9} {head[2]:>6}  {head[3]:<16}  {head[4]:>11}")
    for month in report.months():
        at = (f"{datetime.fromtimestamp(month.peak_at, tz):%Y-%m-%d %H:00}"
              if month.peak_at is not None else "-")
        needed = (str(moderators_needed(month.peak, minutes_per_case * 60))
                  if minutes_per_case is not None else "-")
        lines.append(f"{month.month:%Y-%m}  {month.total:>9} {month.peak:>6}  {at:<16}  "
                     f"{needed:>11}")
    head = t["busiest_head"].split("|")
    lines += ["", t["busiest"].format(zone=zone), f"{head[0]:<12} {head[1]:>9} {head[2]:>6}  {head[3]}"]
    for day in report.busiest:
        hours = ", ".join(f"{h:02d}:00-{h + 1:02d}:00" for h in day.hours) or "-"
        lines.append(f"{day.day.isoformat():<12} {day.total:>9} {day.peak:>6}  {hours}")
    return "\n".join(lines)
