"""Moderation cases: the review queue's state machine, KPIs, backlog and hourly volume, clock passed in."""

# Everything here is pure: times are epoch seconds passed in (`now`, `decided_at`), never read
# from the system clock, so the agent, the report command and the tests agree on every number.
#
# KPI semantics (one case per mention that needs a human, i.e. whose triage action is not "none"):
#   received          cases opened
#   processed         cases closed by approve, reject or replied (escalate keeps a case open)
#   rejected          cases closed by reject (the item was removed)
#   rejection rate    rejected / processed (the team keeps it at most REJECTION_RATE_CEILING)
#   processed share   processed / received (the team keeps it above PROCESSED_SHARE_TARGET)
#   unanswered negative
#                     a negative case asking for an answer (needs_answer), still pending after
#                     its brand's response deadline, whatever its action; negative: scored
#                     negative, or a complaint found by triage (veille.moderation.queue.is_negative)
#   answers           the closing decision of such a case: a reply (`replied`) is on_time when
#                     decided by its deadline, late after it (the case was "unanswered negative"
#                     in between); approve or reject closes it with no_answer (its author got
#                     none, whenever it was decided). A reply a collector saw on the platform
#                     (answered_on) is a `replied` at its time there, however early
#   answered on time  on_time / every closing of such a case (no_answer included)
#   time to decision  from the case entering the queue (received_at = the item's queued_at) to
#                     the decision that closed it, escalations included
#   backlog           pending cases, and the age of the oldest one (now - received_at)

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Final

from veille.moderation import ACTIONS, CATEGORIES, CLOSING_DECISIONS, DECISIONS, SEVERITIES, Triage
from veille.rules import Charter

STATE_VERSION: Final = 1
CLOSED_SCHEMA_VERSION: Final = 1
STATUSES: Final = ("pending", "closed")
# veille.moderation.CLOSING_DECISIONS close a case; "escalate" keeps it open, one severity level
# up, reassigned; "assign" and "unassign" keep it open as it is, with someone (or no one) on it.
#: Decisions that name an assignee: escalate (optional: None is the escalation queue) and
#: assign (required).
ASSIGNING_DECISIONS: Final = ("escalate", "assign")
#: Bounded reasons of a refused decision (a Prometheus label value). `not_a_case`: an answer
#: seen on a platform (Decision.answered_on) for a mention that never became a case, the normal
#: fate of a brand's reply to a comment that needed no moderation; a moderator's decision on
#: no case stays `unknown_case`, a fault worth looking at.
DECISION_ERRORS: Final = ("unknown_case", "duplicate", "already_closed", "conflict", "invalid",
                          "not_a_case")
#: Decisions that may be conditional on who works on the case when they are applied
#: (`if_assigned_to`): two moderators taking the same case at once, the second is refused.
CONDITIONAL_DECISIONS: Final = ("assign", "unassign")
#: A case's decisions that keep it open (escalate, assign, unassign), at most: each is kept in
#: its history (the agent's table, the closed record), and a tool looping on assign must not grow
#: it without bound. A closing decision is always accepted.
MAX_OPEN_DECISIONS: Final = 100
#: Refused conditional decisions a case remembers (Case.refused): more than the uncommitted tail
#: a restart reads again could hold.
MAX_REFUSED: Final = 100
#: How the closing decision of a case asking for an answer came (a Prometheus label value): a
#: reply by the brand's response deadline or after it, or a closing without a reply.
ANSWER_OUTCOMES: Final = ("on_time", "late", "no_answer")
#: The closing decision that answers a case's author.
ANSWERING_DECISION: Final = "replied"
#: The team's target for processed / received (ModerationProcessedShareLow fires below it,
#: deploy/prometheus/rules/moderation.yml).
PROCESSED_SHARE_TARGET: Final = 0.9
#: The ceiling of rejected / processed: ModerationRejectionRateHigh fires above it (same rules).
REJECTION_RATE_CEILING: Final = 0.3
#: A closed case is kept this long after its closing decision (`closed_at`, the decision's
#: `decided_at`), then forgotten: by the moderation agent (its table; a later decision on it is
#: then `unknown_case`) and by the long-running moderation API's view (CaseView.forget_closed).
CLOSED_RETENTION_SECONDS: Final = 30 * 86400.0


def closed_forgotten(closed_at: float, now: float,
                     retention: float = CLOSED_RETENTION_SECONDS) -> bool:
    """Whether a case closed at `closed_at` (its closing decision's decided_at) is forgotten
    at `now`: decided more than `retention` before it. The moderation agent drops such a case
    from its table (at its wall clock, hourly); a queue item for its id read afterwards opens a
    new case. The tools apply the same test: the long-running API at its clock, the fold of
    the topics at the broker time of a queue item for a closed case id (then a new episode of
    that id) or of a decision on it (then a decision for the next episode)."""
    return closed_at < now - retention


#: Moderators' clocks drift: a decision may be stamped this far after `now`, or before the case
#: entered the queue, and still be accepted (its time to decision is then counted as 0). An
#: answer seen on a platform (Decision.answered_on) may be stamped any time before the case
#: (early_refused).
MAX_CLOCK_SKEW_SECONDS: Final = 300.0
MAX_ID_CHARS: Final = 256
MAX_MODERATOR_CHARS: Final = 128
MAX_REASON_CHARS: Final = 1000
_DECISION_KEYS: Final = frozenset({"case_id", "decision", "moderator", "decided_at", "reason", "assignee",
                                   "if_assigned_to", "answered_on"})
#: A platform named by `answered_on` (a mention's `platform`, as its collector writes it).
PLATFORM: Final = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class DecisionError(ValueError):
    """A decision that cannot be applied; `reason` is one of DECISION_ERRORS."""

    def __init__(self, reason: str, detail: str, case: Case | None = None) -> None:
        assert reason in DECISION_ERRORS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        #: The case to keep nonetheless (a `conflict` remembers the decision it refused), or None.
        self.case = case


#: Characters a moderator, an assignee or a reason may not hold: control characters (a reason may
#: have tabs and line breaks) and the bidirectional overrides and isolates, which a terminal or a
#: dashboard would act on ("\x1b[2J" cleared the screen of whoever listed the decision; U+202E
#: shows a name backwards).
NAME_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text(d: Mapping[str, Any], key: str, limit: int, required: bool = True,
          forbidden: re.Pattern[str] | None = NAME_FORBIDDEN) -> str | None:
    """d[key], a non-empty string of at most `limit` characters, none of them `forbidden`."""
    value = d.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DecisionError("invalid", f"{key} must be a non-empty string")
    if len(value) > limit:
        raise DecisionError("invalid", f"{key} is longer than {limit} characters")
    bad = forbidden.search(value) if forbidden is not None else None
    if bad is not None:
        raise DecisionError("invalid", f"{key} holds the control character "
                                       f"U+{ord(bad.group()):04X}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): it could never be written
        raise DecisionError("invalid", f"{key} is not valid Unicode text") from None
    return value


#: The times `iso` can write: years 1 to 9999, UTC.
_MIN_EPOCH: Final = datetime(1, 1, 1, tzinfo=UTC).timestamp()
_MAX_EPOCH: Final = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC).timestamp()


#: The first second of the year 10000: a time of the last millisecond of 9999 (the schema's
#: ".999999") is before it, but its epoch seconds, a float, may round up to it.
_END_EPOCH: Final = 253402300800.0


def _in_range(epoch: float, key: str) -> float:
    if _MAX_EPOCH < epoch <= _END_EPOCH:  # refused until 2026-12-05, though the schema takes it
        return _MAX_EPOCH
    if not _MIN_EPOCH <= epoch <= _MAX_EPOCH:
        raise DecisionError("invalid", f"{key} is out of range (years 1 to 9999)")
    return epoch


def _epoch(value: Any, key: str) -> float:
    """Epoch seconds from a number or an ISO 8601 string (a naive string is taken as UTC)."""
    if isinstance(value, bool):
        raise DecisionError("invalid", f"{key} must be epoch seconds or an ISO 8601 time")
    if isinstance(value, int | float):
        try:
            finite = math.isfinite(value)  # OverflowError for an int beyond any float
        except OverflowError:
            raise DecisionError("invalid", f"{key} is out of range (years 1 to 9999)") from None
        if not finite:
            raise DecisionError("invalid", f"{key} must be finite")
        return _in_range(float(value), key)
    if isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
            epoch = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
        except ValueError:
            raise DecisionError("invalid", f"{key} is not an ISO 8601 time") from None
        except OverflowError:
            raise DecisionError("invalid", f"{key} is out of range (years 1 to 9999)") from None
        return _in_range(epoch, key)
    raise DecisionError("invalid", f"{key} must be epoch seconds or an ISO 8601 time")


def parse_epoch(value: Any, key: str) -> float:
    """Epoch seconds from a number or an ISO 8601 string; raises DecisionError naming `key`.

    The times veille writes (iso: "2026-12-06T23:19:15.371Z", three to five in each moderation
    record; the moderator tools read every record of the topics) are parsed directly, as _epoch
    parses them once it has made their Z an offset (the same datetime, the same seconds): in
    half the time or less (2.35 -> 0.97 µs, 1.02 -> 0.60 µs). Anything else, or anything that
    parser refuses, goes the general way."""
    if type(value) is str and len(value) == 24 and value[23] == "Z" and value[10] == "T" \
            and value[19] == "." and value[4] == "-" and value[13] == ":":
        try:
            return _in_range(_fromisoformat(value).timestamp(), key)
        except (ValueError, OverflowError):
            pass  # the general way raises its own error
    return _epoch(value, key)


_fromisoformat = datetime.fromisoformat


def iso(epoch: float) -> str:
    """UTC ISO 8601 with a Z suffix and millisecond precision."""
    dt = datetime.fromtimestamp(epoch, UTC)
    # What isoformat(timespec="milliseconds") writes, with Z for +00:00 (fromtimestamp gives a
    # UTC time): %-formatted directly, half its cost. A queue item writes three.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
        dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond // 1000)


@dataclass(frozen=True, slots=True)
class Decision:
    """A moderator's decision on one case, as sent by the moderation tool."""

    case_id: str
    decision: str
    moderator: str
    decided_at: float
    reason: str | None = None
    #: escalate: who takes the case over (None: the escalation queue); assign: who works on it
    #: (required); None for every other decision.
    assignee: str | None = None
    #: assign and unassign only: applied only if the case is then worked on by `if_assigned_to`
    #: (None: by no one), else refused as a `conflict`; unconditional when False (the field absent).
    conditional: bool = False
    if_assigned_to: str | None = None
    #: replied only: the platform on which a collector saw the brand's answer (decided_at is the
    #: answer's time there); None for a moderator's decision.
    answered_on: str | None = None

    @classmethod
    def from_dict(cls, d: Any) -> Decision:
        """Validate `{"case_id", "decision", "moderator", "decided_at", "reason"?, "assignee"?}`."""
        if not isinstance(d, Mapping):
            raise DecisionError("invalid", "a decision must be a JSON object")
        unknown = sorted(set(d) - _DECISION_KEYS)
        if unknown:
            raise DecisionError("invalid", f"unknown fields {unknown}")
        decision = d.get("decision")
        if decision not in DECISIONS:
            raise DecisionError("invalid", f"decision must be one of {', '.join(DECISIONS)}")
        if "decided_at" not in d:
            raise DecisionError("invalid", "decided_at is missing")
        assignee = _text(d, "assignee", MAX_MODERATOR_CHARS, required=False)
        if assignee is not None and decision not in ASSIGNING_DECISIONS:
            raise DecisionError("invalid", "only an escalation or an assignment has an assignee")
        if assignee is None and decision == "assign":
            raise DecisionError("invalid", "an assignment needs an assignee")
        conditional = "if_assigned_to" in d
        if conditional and decision not in CONDITIONAL_DECISIONS:
            raise DecisionError("invalid", "only an assignment or an unassignment has if_assigned_to")
        answered_on = d.get("answered_on")
        if answered_on is not None:
            if decision != ANSWERING_DECISION:
                raise DecisionError("invalid", f"only a {ANSWERING_DECISION} decision has answered_on")
            if not isinstance(answered_on, str) or not PLATFORM.fullmatch(answered_on):
                raise DecisionError("invalid", "answered_on must be a platform name (a-z, digits, "
                                               "_ and -, at most 32 characters)")
        return cls(
            # A mention id as its collector wrote it (the record contract allows any text).
            case_id=str(_text(d, "case_id", MAX_ID_CHARS, forbidden=None)),
            decision=decision,
            moderator=str(_text(d, "moderator", MAX_MODERATOR_CHARS)),
            decided_at=_epoch(d["decided_at"], "decided_at"),
            reason=_text(d, "reason", MAX_REASON_CHARS, required=False, forbidden=_CONTROL_BUT_LINES),
            assignee=assignee,
            conditional=conditional,
            if_assigned_to=_text(d, "if_assigned_to", MAX_MODERATOR_CHARS, required=False),
            answered_on=answered_on,
        )

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Decision:
        """A decision of a saved case's history (to_dict's output), as applied then: not
        validated again. The rules for new decisions have grown stricter (control characters,
        lone surrogates: 2026-12-02); a history that broke them made every new decision on its
        case `invalid` and the case impossible to close (found in review, 2026-12-05)."""
        return cls(
            case_id=str(d["case_id"]), decision=str(d["decision"]), moderator=str(d["moderator"]),
            decided_at=_epoch(d["decided_at"], "decided_at"), reason=d.get("reason"),
            assignee=d.get("assignee"),
            conditional="if_assigned_to" in d, if_assigned_to=d.get("if_assigned_to"),
            answered_on=d.get("answered_on"),
        )

    @property
    def seen_on_platform(self) -> bool:
        """An answer a collector saw on a platform, not a moderator's decision in veille."""
        return self.answered_on is not None

    @property
    def key(self) -> tuple[str, str, float]:
        """What identifies a redelivery of the same decision."""
        return (self.decision, self.moderator, self.decided_at)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"case_id": self.case_id, "decision": self.decision,
                             "moderator": self.moderator, "decided_at": self.decided_at}
        if self.reason is not None:
            d["reason"] = self.reason
        if self.assignee is not None:
            d["assignee"] = self.assignee
        if self.conditional:
            d["if_assigned_to"] = self.if_assigned_to
        if self.answered_on is not None:
            d["answered_on"] = self.answered_on
        return d


@dataclass(frozen=True, slots=True)
class Case:
    """One item that needs a human: pending until a closing decision, with its full history."""

    id: str  # the mention id
    brand: str
    categories: tuple[str, ...]
    severity: str
    action: str  # review, respond or hide
    language: str
    negative: bool
    received_at: float  # when the case entered the queue
    created_at: float  # when the mention was posted
    response_deadline: float  # created_at + the brand's response deadline
    status: str = "pending"
    decisions: tuple[Decision, ...] = ()
    closed_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None
    assigned_to: str | None = None
    escalations: int = 0
    #: Keys of the conditional decisions refused as a `conflict`, newest last (MAX_REFUSED at
    #: most): read again (a restart or a hand-over before the offsets were committed), such a
    #: decision is a `duplicate`, not judged anew against a case that has changed since (a take
    #: refused while carol had the case was applied once she had given it back: found in review,
    #: 2026-12-06). The other refusals cannot change their verdict on a second reading.
    refused: tuple[tuple[str, str, float], ...] = ()

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def age(self, now: float) -> float:
        """Seconds since the case entered the queue (0 for a clock behind received_at)."""
        return max(0.0, now - self.received_at)

    @property
    def asks_for_answer(self) -> bool:
        """A negative case asking for an answer (`needs_answer`), whatever its action: an angry
        complaint is also `aggressive`, `insult` or `detractor`, whose action is `review`, and
        counting `respond` cases alone missed about 40 % of them on the demo data."""
        return self.negative and "needs_answer" in self.categories

    def is_unanswered(self, now: float) -> bool:
        """A case asking for an answer, still pending after its response deadline."""
        return self.pending and self.asks_for_answer and now > self.response_deadline

    def answer_outcome(self, decision: str, decided_at: float) -> str | None:
        """How the closing `decision` taken at `decided_at` answers this case: a reply is
        "on_time" by its response deadline, "late" after it (while it counted as unanswered);
        approve or reject leave its author with "no_answer" (counted as answered until
        2026-12-04: a team approving complaints without a word read a perfect on-time share).
        None for a case that asks for no answer."""
        if not self.asks_for_answer:
            return None
        if decision != ANSWERING_DECISION:
            return "no_answer"
        return "on_time" if decided_at <= self.response_deadline else "late"

    def to_state(self) -> dict[str, Any]:
        return {
            "v": STATE_VERSION, "id": self.id, "brand": self.brand,
            "categories": list(self.categories), "severity": self.severity, "action": self.action,
            "language": self.language, "negative": self.negative, "received_at": self.received_at,
            "created_at": self.created_at, "response_deadline": self.response_deadline,
            "status": self.status, "decisions": [d.to_dict() for d in self.decisions],
            "closed_at": self.closed_at, "decided_by": self.decided_by, "reason": self.reason,
            "assigned_to": self.assigned_to, "escalations": self.escalations,
            # Only when there is one: the state of every other case is as before.
            **({"refused": [list(k) for k in self.refused]} if self.refused else {}),
        }

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> Case:
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"case state version {d.get('v')!r}, expected {STATE_VERSION}")
        return cls(
            id=d["id"], brand=d["brand"], categories=tuple(d["categories"]), severity=d["severity"],
            action=d["action"], language=d["language"], negative=bool(d["negative"]),
            received_at=float(d["received_at"]), created_at=float(d["created_at"]),
            response_deadline=float(d["response_deadline"]), status=d["status"],
            decisions=tuple(Decision.from_state(x) for x in d["decisions"]),
            closed_at=d["closed_at"], decided_by=d["decided_by"], reason=d["reason"],
            assigned_to=d["assigned_to"], escalations=int(d["escalations"]),
            refused=tuple((str(k[0]), str(k[1]), float(k[2])) for k in d.get("refused", ())),
        )


def open_case(
    mention_id: str,
    brand: str,
    triage: Triage,
    *,
    language: str,
    negative: bool,
    created_at: float,
    now: float,
    charter: Charter | None = None,
) -> Case | None:
    """The case for a triaged mention, received now; None when triage asks for no action.

    The response deadline runs from when the mention was posted (what its author waits from),
    or from now for a mention stamped in the future.
    """
    if triage.action == "none":
        return None
    if triage.action not in ACTIONS or triage.severity not in SEVERITIES:
        raise ValueError(f"unknown action {triage.action!r} or severity {triage.severity!r}")
    if not set(triage.categories) <= set(CATEGORIES):
        raise ValueError(f"unknown categories in {triage.categories}")
    deadline = (charter or Charter()).response_deadline_seconds
    return Case(
        id=mention_id,
        brand=brand,
        categories=triage.categories,
        severity=triage.severity,
        action=triage.action,
        language=language,
        negative=negative,
        received_at=now,
        created_at=created_at,
        response_deadline=min(created_at, now) + deadline,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision applied: the updated case, and the closed-case record when it closed."""

    case: Case
    decision: Decision
    closed: bool
    time_to_decision: float  # seconds from received_at to decided_at, never negative
    record: dict[str, Any] | None  # for the moderation.closed topic; None when still open
    #: A closing decision on a case asking for an answer: one of ANSWER_OUTCOMES; None otherwise.
    answer: str | None = None


def _escalated(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def unknown_reason(decision: Decision | Mapping[str, Any]) -> str:
    """Why a decision whose case does not exist and will not come is dropped: `not_a_case` for
    an answer seen on a platform (a brand replies to many comments triage never queued: their
    normal fate, nobody's fault), `unknown_case` for a moderator's (a wrong id, a tool's bug)."""
    answered_on = (decision.answered_on if isinstance(decision, Decision)
                   else decision.get("answered_on"))
    return "unknown_case" if answered_on is None else "not_a_case"


def held_for(decisions: Iterable[Mapping[str, Any]], hold: float, answer_hold: float) -> float:
    """How long `decisions` (as to_dict writes them) that came before their case wait for it
    before they are dropped: `hold`, or the longer `answer_hold` when one of them is an answer
    seen on a platform (its collector wrote it with the mention it answers, which may wait for
    the enrichment behind a backlog for longer than a moderator's decision ever waits for its
    case: answers lost as `not_a_case` while their complaint was on its way, found in review,
    2026-12-07)."""
    if any(d.get("answered_on") is not None for d in decisions):
        return max(hold, answer_hold)
    return hold


def early_refused(case: Case, decision: Decision) -> bool:
    """Whether `decision` is dated too long before `case` entered the queue to be taken: a
    moderator's, more than MAX_CLOCK_SKEW_SECONDS before (no one decides on a case not yet
    shown); an answer seen on a platform never (the brand answered on the platform before veille
    queued the mention: the collector reads every few minutes, the enrichment queues later)."""
    return (not decision.seen_on_platform
            and decision.decided_at < case.received_at - MAX_CLOCK_SKEW_SECONDS)


def apply_decision(case: Case | None, decision: Decision | Mapping[str, Any], now: float) -> Outcome:
    """Apply a moderator's decision to a case (None: no such case). Raises DecisionError.

    A decision seen before (same decision, moderator and time: a redelivery) is a `duplicate`;
    any other decision on a closed case is `already_closed`. Escalate keeps the case pending,
    raises its severity one level (up to high) and records who it is reassigned to; assign and
    unassign keep it pending as it is and record who works on it (no one for unassign). A
    conditional assign or unassign (`if_assigned_to`) on a case someone else works on by then is
    a `conflict`: of two moderators taking a case at once, the first on the topic has it. Past
    MAX_OPEN_DECISIONS escalations and assignments, only a closing decision is taken (`invalid`).
    A decision dated before the case entered the queue is `invalid` past the clock skew, but for
    an answer seen on a platform (early_refused); on no case it is `unknown_case`, or
    `not_a_case` for such an answer (unknown_reason). Its time to decision is never negative.
    """
    if not isinstance(decision, Decision):
        decision = Decision.from_dict(decision)
    if case is None:
        raise DecisionError(unknown_reason(decision), f"no open or closed case {decision.case_id!r}")
    if decision.case_id != case.id:
        raise DecisionError("invalid", f"decision for {decision.case_id!r} applied to case {case.id!r}")
    if decision.decided_at > now + MAX_CLOCK_SKEW_SECONDS:
        raise DecisionError("invalid", "decided_at is in the future")
    if early_refused(case, decision):
        raise DecisionError("invalid", "decided_at is before the case entered the queue")
    if any(d.key == decision.key for d in case.decisions):
        raise DecisionError("duplicate", f"decision already applied to case {case.id!r}")
    if decision.conditional and decision.key in case.refused:
        raise DecisionError("duplicate", f"decision already refused on case {case.id!r} (conflict)")
    if not case.pending:
        raise DecisionError("already_closed", f"case {case.id!r} was closed by {case.decided_by!r}")
    if decision.conditional and case.assigned_to != decision.if_assigned_to:
        raise DecisionError("conflict", f"case {case.id!r} was worked on by {case.assigned_to!r}, "
                            f"not {decision.if_assigned_to!r}, when this {decision.decision} came",
                            case=replace(case, refused=(*case.refused, decision.key)[-MAX_REFUSED:]))
    if decision.decision not in CLOSING_DECISIONS and \
            sum(d.decision not in CLOSING_DECISIONS for d in case.decisions) >= MAX_OPEN_DECISIONS:
        raise DecisionError("invalid", f"case {case.id!r} already has {MAX_OPEN_DECISIONS} "
                            "escalations and assignments: only a closing decision is taken now")

    waited = max(0.0, decision.decided_at - case.received_at)
    history = (*case.decisions, decision)
    if decision.decision == "escalate":
        updated = replace(case, decisions=history, severity=_escalated(case.severity),
                          assigned_to=decision.assignee, escalations=case.escalations + 1)
        return Outcome(updated, decision, closed=False, time_to_decision=waited, record=None)
    if decision.decision in ("assign", "unassign"):
        updated = replace(case, decisions=history, assigned_to=decision.assignee)
        return Outcome(updated, decision, closed=False, time_to_decision=waited, record=None)
    updated = replace(case, decisions=history, status="closed", closed_at=decision.decided_at,
                      decided_by=decision.moderator, reason=decision.reason)
    record = {
        "schema_version": CLOSED_SCHEMA_VERSION,
        "case_id": case.id,
        "brand": case.brand,
        "decision": decision.decision,
        "moderator": decision.moderator,
        "reason": decision.reason,
        "decided_at": iso(decision.decided_at),
        "time_to_decision_seconds": round(waited, 3),
        "case": _public_state(updated),
    }
    return Outcome(updated, decision, closed=True, time_to_decision=waited, record=record,
                   answer=case.answer_outcome(decision.decision, decision.decided_at))


def _public_state(case: Case) -> dict[str, Any]:
    """The case as moderation.closed carries it: without the agent's own bookkeeping."""
    state = case.to_state()
    state.pop("refused", None)
    return state


# --- KPIs and backlog ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kpis:
    """The team's figures over a set of cases (see the counting semantics at the top)."""

    received: int = 0
    processed: int = 0
    rejected: int = 0
    escalated: int = 0  # cases escalated at least once, open or closed

    @classmethod
    def of(cls, cases: Iterable[Case]) -> Kpis:
        received = processed = rejected = escalated = 0
        for case in cases:
            received += 1
            escalated += case.escalations > 0
            if case.status == "closed" and case.decisions:
                processed += 1
                rejected += case.decisions[-1].decision == "reject"
        return cls(received, processed, rejected, escalated)

    @property
    def rejection_rate(self) -> float | None:
        """rejected / processed; None before anything is processed."""
        return self.rejected / self.processed if self.processed else None

    @property
    def processed_share(self) -> float | None:
        """processed / received; None before anything is received."""
        return self.processed / self.received if self.received else None

    @property
    def on_target(self) -> bool:
        share = self.processed_share
        return share is None or share >= PROCESSED_SHARE_TARGET


@dataclass(frozen=True, slots=True)
class Backlog:
    """Pending work of one brand at a given time."""

    brand: str
    pending: int = 0
    oldest_age_seconds: float = 0.0
    unanswered_negative: int = 0
    #: Pending cases no one works on (no assign, or given back; escalated to the queue).
    unassigned: int = 0

    @classmethod
    def by_brand(cls, cases: Iterable[Case], now: float, brands: Iterable[str] = ()) -> dict[str, Backlog]:
        """Backlog per brand from any cases (closed ones are skipped); every brand in `brands`
        appears, with zeros when it has nothing pending."""
        pending: dict[str, int] = dict.fromkeys(brands, 0)
        oldest: dict[str, float] = dict.fromkeys(brands, 0.0)
        unanswered: dict[str, int] = dict.fromkeys(brands, 0)
        unassigned: dict[str, int] = dict.fromkeys(brands, 0)
        for case in cases:
            if not case.pending:
                continue
            pending[case.brand] = pending.get(case.brand, 0) + 1
            oldest[case.brand] = max(oldest.get(case.brand, 0.0), case.age(now))
            unanswered[case.brand] = unanswered.get(case.brand, 0) + case.is_unanswered(now)
            unassigned[case.brand] = unassigned.get(case.brand, 0) + (case.assigned_to is None)
        return {b: cls(b, pending[b], oldest[b], unanswered[b], unassigned[b]) for b in pending}


# --- volume and sizing --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayPeak:
    """One day of a period: items received, and its busiest local hour(s) of the day."""

    day: date
    total: int
    peak: int  # items in the busiest hour
    hours: tuple[int, ...]  # local hours of the day (0-23) with `peak` items; () on an empty day


@dataclass(frozen=True, slots=True)
class MonthPeak:
    """One month of a period: items received, and its busiest hour (what a team is sized for)."""

    month: date  # its first day (local)
    total: int
    peak: int  # items in the busiest hour
    peak_at: float | None  # the start of the first hour with `peak` items (epoch); None if empty


#: HourlyVolume's unit of count, in seconds: every time zone's offset is a multiple of it.
QUARTER = 900


@dataclass
class HourlyVolume:
    """Items received per hour, for staffing: which hours of each day need most moderators.

    Counted per quarter of an hour, so that the hours reported are those of the time zone of
    your choice, whatever its offset (every zone's is a multiple of 15 minutes: India's +05:30,
    Nepal's +05:45). Counted per UTC hour before, a half-hour zone's 00:00-00:30 was the day
    before's last hour.
    """

    counts: dict[int, int] = field(default_factory=dict)  # quarter-hour start (epoch s) -> items

    def add(self, received_at: float, n: int = 1) -> None:
        start = int(received_at // QUARTER) * QUARTER
        self.counts[start] = self.counts.get(start, 0) + n

    @classmethod
    def of(cls, times: Iterable[float]) -> HourlyVolume:
        volume = cls()
        for t in times:
            volume.add(t)
        return volume

    def per_hour(self, start: float, end: float, tz: tzinfo = UTC) -> list[tuple[int, int]]:
        """(hour start, items) for every hour of `tz` overlapping [start, end), in time order,
        zeros included. A daylight-saving change's repeated hour is two hours here."""
        hours: dict[int, int] = {}
        quarter = int(start // QUARTER) * QUARTER
        while quarter < end:
            local = datetime.fromtimestamp(quarter, tz)
            hour = quarter - local.minute * 60 - local.second
            hours[hour] = hours.get(hour, 0) + self.counts.get(quarter, 0)
            quarter += QUARTER
        return list(hours.items())

    def busiest(self, start: float, end: float, tz: tzinfo = UTC) -> list[DayPeak]:
        """Per local day of [start, end): total items and the busiest hour(s), ties all kept.

        Real hours are compared: a daylight-saving fall-back day's repeated 02:00 is two hours,
        each with its own items (added up, an even load made 02:00 the day's peak at twice the
        real rate, and a team sized on it twice too large); either one is named hour 2."""
        days: dict[date, list[tuple[int, int]]] = {}
        for hour_start, n in self.per_hour(start, end, tz):
            local = datetime.fromtimestamp(hour_start, tz)
            days.setdefault(local.date(), []).append((local.hour, n))
        out = []
        for day, hours in sorted(days.items()):
            total = sum(n for _, n in hours)
            peak = max((n for _, n in hours), default=0)
            busiest = tuple(sorted({h for h, n in hours if n == peak})) if total else ()
            out.append(DayPeak(day, total, peak, busiest))
        return out

    def busiest_by_month(self, start: float, end: float, tz: tzinfo = UTC) -> list[MonthPeak]:
        """Per local month of [start, end): total items and the busiest real hour (the first
        when tied): the yearly peaks a moderation team is sized for."""
        months: dict[date, list[tuple[int, int]]] = {}
        for hour_start, n in self.per_hour(start, end, tz):
            first = datetime.fromtimestamp(hour_start, tz).date().replace(day=1)
            months.setdefault(first, []).append((hour_start, n))
        out = []
        for month, hours in sorted(months.items()):
            peak = max(n for _, n in hours)
            at = next(h for h, n in hours if n == peak) if peak else None
            out.append(MonthPeak(month, sum(n for _, n in hours), peak, at))
        return out

    def to_state(self) -> dict[str, Any]:
        return {"v": STATE_VERSION, "counts": {str(h): n for h, n in self.counts.items()}}

    @classmethod
    def from_state(cls, d: Mapping[str, Any]) -> HourlyVolume:
        if d.get("v") != STATE_VERSION:
            raise ValueError(f"volume state version {d.get('v')!r}, expected {STATE_VERSION}")
        return cls({int(h): int(n) for h, n in d["counts"].items()})


def moderators_needed(items_per_hour: float, seconds_per_item: float, occupancy: float = 0.8) -> int:
    """Moderators to keep up with an hour's items when each takes `seconds_per_item` and a
    moderator is busy `occupancy` of the time (breaks, context switches)."""
    if items_per_hour < 0 or seconds_per_item <= 0 or not 0 < occupancy <= 1:
        raise ValueError("items_per_hour >= 0, seconds_per_item > 0 and 0 < occupancy <= 1")
    return math.ceil(items_per_hour * seconds_per_item / (3600 * occupancy))
