"""Moderation cases on an explicit clock: open, escalate, close, refusals, KPIs, backlog, volume."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from veille.moderation.cases import (
    CLOSED_SCHEMA_VERSION,
    DECISION_ERRORS,
    Backlog,
    Case,
    Decision,
    DecisionError,
    HourlyVolume,
    Kpis,
    apply_decision,
    moderators_needed,
    open_case,
)
from veille.moderation.triage import Triage
from veille.rules import Charter

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()  # a Monday, 09:00 UTC
REVIEW = Triage(("insult", "aggressive"), "medium", "review", ("insult:targeted", "aggressive:insult"))
RESPOND = Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",))
ANGRY_COMPLAINT = Triage(("aggressive", "needs_answer"), "medium", "review",
                         ("aggressive:hostile", "needs_answer:complaint"))
HOUR_CHARTER = Charter(response_deadline_minutes=60)


def case(mention_id: str = "m1", triage: Triage = REVIEW, *, brand: str = "acme", negative: bool = True,
         created_at: float = T0 - 600, now: float = T0, charter: Charter = HOUR_CHARTER) -> Case:
    opened = open_case(mention_id, brand, triage, language="fr", negative=negative,
                       created_at=created_at, now=now, charter=charter)
    assert opened is not None
    return opened


def decide(decision: str, at: float, case_id: str = "m1", moderator: str = "alice", **extra: object) -> dict:
    return {"case_id": case_id, "decision": decision, "moderator": moderator, "decided_at": at, **extra}


def test_open_case_records_triage_and_deadline_from_posting_time() -> None:
    c = case()
    assert (c.id, c.brand, c.status, c.severity, c.action) == ("m1", "acme", "pending", "medium", "review")
    assert c.categories == ("insult", "aggressive")
    assert c.received_at == T0
    assert c.response_deadline == T0 - 600 + 3600  # posted 10 min before it reached the queue


def test_open_case_for_a_mention_stamped_in_the_future_counts_from_now() -> None:
    assert case(created_at=T0 + 120).response_deadline == T0 + 3600


def test_nothing_to_do_opens_no_case() -> None:
    nothing = Triage((), "none", "none", ())
    assert open_case("m1", "acme", nothing, language="en", negative=False, created_at=T0, now=T0) is None


def test_escalate_keeps_the_case_open_raises_severity_and_records_the_assignee() -> None:
    escalation = decide("escalate", T0 + 300, assignee="lead-bob", reason="legal")
    out = apply_decision(case(), escalation, now=T0 + 301)
    assert not out.closed
    assert out.record is None
    assert out.time_to_decision == 300
    assert out.case.pending
    assert (out.case.severity, out.case.assigned_to, out.case.escalations) == ("high", "lead-bob", 1)
    assert [d.decision for d in out.case.decisions] == ["escalate"]
    again = apply_decision(out.case, decide("escalate", T0 + 400, moderator="lead-bob"), now=T0 + 400)
    assert (again.case.severity, again.case.assigned_to, again.case.escalations) == ("high", None, 2)


def test_assign_and_unassign_keep_the_case_open_as_it_is_and_record_who_works_on_it() -> None:
    """Two moderators working one queue took the same complaint and both answered its author:
    `assign` says who works on a case (taking it: assigning it to oneself); it changes nothing
    else, counts for no KPI, and the case closes as any other."""
    taken = apply_decision(case(), decide("assign", T0 + 60, assignee="alice"), now=T0 + 60)
    assert not taken.closed and taken.record is None and taken.answer is None
    c = taken.case
    assert (c.status, c.severity, c.assigned_to, c.escalations) == ("pending", "medium", "alice", 0)
    handed = apply_decision(c, decide("assign", T0 + 90, assignee="bob"), now=T0 + 90).case
    assert handed.assigned_to == "bob"
    released = apply_decision(handed, decide("unassign", T0 + 120, moderator="bob"), now=T0 + 120).case
    assert (released.assigned_to, released.severity, released.pending) == (None, "medium", True)
    escalated = apply_decision(handed, decide("escalate", T0 + 130, moderator="bob"), now=T0 + 130).case
    assert (escalated.assigned_to, escalated.severity) == (None, "high")  # the escalation queue
    closed = apply_decision(released, decide("reject", T0 + 600, moderator="carol"), now=T0 + 600)
    assert closed.closed and closed.time_to_decision == 600  # from the queue, not from the assign
    assert [d.decision for d in closed.case.decisions] == ["assign", "assign", "unassign", "reject"]
    k = Kpis.of([closed.case, taken.case])
    assert (k.received, k.processed, k.rejected, k.escalated) == (2, 1, 1, 0)
    assert Case.from_state(json.loads(json.dumps(taken.case.to_state()))) == taken.case
    with pytest.raises(DecisionError) as err:
        apply_decision(closed.case, decide("assign", T0 + 700, assignee="dave"), now=T0 + 700)
    assert err.value.reason == "already_closed"


def test_a_conditional_assignment_applies_only_to_whom_it_expects() -> None:
    """Alice and Bob both take a case no one had, at the same moment: each tool writes its take
    conditional on the case being no one's (if_assigned_to: null). The first applies; the
    second is a `conflict`, and the case stays the first's. A lead giving alice's case to dave
    names alice; an unconditional assign (no if_assigned_to: tools that predate it) applies."""
    alice = apply_decision(case(), decide("assign", T0 + 60, assignee="alice", if_assigned_to=None),
                           now=T0 + 60).case
    with pytest.raises(DecisionError, match="worked on by 'alice', not None") as err:
        apply_decision(alice, decide("assign", T0 + 60, moderator="bob", assignee="bob",
                                     if_assigned_to=None), now=T0 + 60)
    assert err.value.reason == "conflict" and "conflict" in DECISION_ERRORS
    dave = apply_decision(alice, decide("assign", T0 + 90, moderator="lead", assignee="dave",
                                        if_assigned_to="alice"), now=T0 + 90).case
    assert dave.assigned_to == "dave"
    with pytest.raises(DecisionError) as err:  # alice gives back a case that is dave's by now
        apply_decision(dave, decide("unassign", T0 + 95, if_assigned_to="alice"), now=T0 + 95)
    assert err.value.reason == "conflict"
    released = apply_decision(dave, decide("unassign", T0 + 99, moderator="dave",
                                           if_assigned_to="dave"), now=T0 + 99).case
    assert released.assigned_to is None
    bob = apply_decision(dave, decide("assign", T0 + 100, moderator="bob", assignee="bob"),
                         now=T0 + 100).case
    assert bob.assigned_to == "bob"
    # Kept in the case's history as written: a conditional decision read back from the state.
    assert Case.from_state(json.loads(json.dumps(released.to_state()))) == released
    assert released.decisions[-1].to_dict()["if_assigned_to"] == "dave"
    assert "if_assigned_to" in released.decisions[0].to_dict()  # null kept: "if no one has it"
    assert "if_assigned_to" not in bob.decisions[-1].to_dict()
    for verdict in ("approve", "escalate"):
        with pytest.raises(DecisionError, match="only an assignment or an unassignment") as err:
            apply_decision(case(), decide(verdict, T0 + 1, if_assigned_to=None), now=T0 + 1)
        assert err.value.reason == "invalid"


def test_a_case_takes_a_bounded_number_of_escalations_and_assignments() -> None:
    """Each decision that keeps a case open is kept in its history (the agent's table, the
    closed record): a tool looping on assign must not grow it without bound. Past the bound
    only a closing decision is taken."""
    from veille.moderation.cases import MAX_OPEN_DECISIONS

    c = case()
    for n in range(MAX_OPEN_DECISIONS):
        c = apply_decision(c, decide("assign" if n % 2 else "unassign", T0 + n,
                                     assignee="alice" if n % 2 else None), now=T0 + n).case
    with pytest.raises(DecisionError, match="only a closing decision is taken now") as err:
        apply_decision(c, decide("assign", T0 + 500, assignee="bob"), now=T0 + 500)
    assert err.value.reason == "invalid"
    closed = apply_decision(c, decide("replied", T0 + 600), now=T0 + 600)
    assert closed.closed and len(closed.case.decisions) == MAX_OPEN_DECISIONS + 1


@pytest.mark.parametrize(("payload", "words"), [
    ({"decision": "assign"}, "an assignment needs an assignee"),
    ({"decision": "unassign", "assignee": "bob"}, "only an escalation or an assignment"),
    ({"decision": "approve", "assignee": "bob"}, "only an escalation or an assignment"),
])
def test_who_an_assignment_names_is_checked(payload: dict, words: str) -> None:
    with pytest.raises(DecisionError, match=words) as err:
        apply_decision(case(), {**decide("approve", T0 + 1), **payload}, now=T0 + 1)
    assert err.value.reason == "invalid"


@pytest.mark.parametrize("decision", ["approve", "reject", "replied"])
def test_closing_decisions_close_with_a_record(decision: str) -> None:
    out = apply_decision(case(), decide(decision, T0 + 90, reason="charte §3"), now=T0 + 95)
    assert out.closed
    assert out.time_to_decision == 90
    c = out.case
    assert (c.status, c.closed_at, c.decided_by, c.reason) == ("closed", T0 + 90, "alice", "charte §3")
    record = out.record
    assert record is not None
    assert record["schema_version"] == CLOSED_SCHEMA_VERSION == 1
    assert (record["case_id"], record["brand"], record["decision"], record["moderator"]) == (
        "m1", "acme", decision, "alice")
    assert record["time_to_decision_seconds"] == 90
    assert record["decided_at"] == "2026-01-05T09:01:30.000Z"
    assert record["case"]["status"] == "closed"
    json.dumps(record)  # it goes on a topic as JSON


def test_time_to_decision_includes_escalation_and_is_never_negative() -> None:
    escalated = apply_decision(case(), decide("escalate", T0 + 60), now=T0 + 60).case
    closed = apply_decision(escalated, decide("approve", T0 + 1800, moderator="lead"), now=T0 + 1800)
    assert closed.time_to_decision == 1800
    early = apply_decision(case(), decide("approve", T0 - 30), now=T0)  # moderator clock 30 s behind
    assert early.time_to_decision == 0


def test_a_refused_take_read_again_stays_refused() -> None:
    """Frank's take, refused while carol had the case, read again once she has given it back
    (a restart or a hand-over before the offsets were committed) is a duplicate: judged anew,
    it was applied, and the agent's case was frank's while every tool's in-order reading said
    it was nobody's (found in review, 2026-12-06)."""
    frank = decide("assign", T0 + 61, moderator="frank", assignee="frank", if_assigned_to=None)
    carol = apply_decision(case(), decide("assign", T0 + 60, moderator="carol", assignee="carol",
                                          if_assigned_to=None), now=T0 + 60).case
    with pytest.raises(DecisionError) as err:
        apply_decision(carol, frank, now=T0 + 61)
    assert err.value.reason == "conflict" and err.value.case is not None
    remembered = err.value.case
    assert remembered.assigned_to == "carol" and remembered.decisions == carol.decisions
    released = apply_decision(remembered, decide("unassign", T0 + 70, moderator="carol",
                                                 if_assigned_to="carol"), now=T0 + 70).case
    again = Case.from_state(json.loads(json.dumps(released.to_state())))  # saved and read back
    assert again == released
    with pytest.raises(DecisionError) as err:
        apply_decision(again, frank, now=T0 + 80)
    assert err.value.reason == "duplicate" and again.assigned_to is None
    # A new take by frank (another time) is judged: the case is nobody's now, so it applies.
    taken = apply_decision(again, {**frank, "decided_at": T0 + 90}, now=T0 + 90).case
    assert taken.assigned_to == "frank"
    # The closed record carries the case without this bookkeeping; other refusals keep none.
    closed = apply_decision(taken, decide("approve", T0 + 99), now=T0 + 99)
    assert closed.record is not None and "refused" not in closed.record["case"]
    assert "refused" not in case().to_state()
    with pytest.raises(DecisionError) as err:
        apply_decision(closed.case, decide("reject", T0 + 100), now=T0 + 100)
    assert err.value.reason == "already_closed" and err.value.case is None


def test_a_case_remembers_a_bounded_number_of_refusals() -> None:
    from veille.moderation.cases import MAX_REFUSED

    current = apply_decision(case(), decide("assign", T0 + 1, moderator="carol", assignee="carol"),
                             now=T0 + 1).case
    for i in range(MAX_REFUSED + 5):
        with pytest.raises(DecisionError) as err:
            apply_decision(current, decide("assign", T0 + 2 + i / 1000, moderator="frank",
                                           assignee="frank", if_assigned_to=None), now=T0 + 3)
        assert err.value.case is not None
        current = err.value.case
    assert len(current.refused) == MAX_REFUSED and current.refused[-1][2] == T0 + 2 + 104 / 1000


def test_a_redelivered_decision_is_a_duplicate() -> None:
    first = apply_decision(case(), decide("escalate", T0 + 10), now=T0 + 10)
    with pytest.raises(DecisionError) as err:
        apply_decision(first.case, decide("escalate", T0 + 10), now=T0 + 20)
    assert err.value.reason == "duplicate"
    closed = apply_decision(first.case, decide("reject", T0 + 30), now=T0 + 30)
    with pytest.raises(DecisionError) as err:
        apply_decision(closed.case, decide("reject", T0 + 30), now=T0 + 40)
    assert err.value.reason == "duplicate"


def test_a_new_decision_on_a_closed_case_is_refused() -> None:
    closed = apply_decision(case(), decide("approve", T0 + 30), now=T0 + 30).case
    with pytest.raises(DecisionError) as err:
        apply_decision(closed, decide("reject", T0 + 60, moderator="bob"), now=T0 + 60)
    assert err.value.reason == "already_closed"
    assert closed.decided_by == "alice"  # the case itself is unchanged (frozen)


def test_unknown_case() -> None:
    with pytest.raises(DecisionError) as err:
        apply_decision(None, decide("approve", T0, case_id="nope"), now=T0)
    assert err.value.reason == "unknown_case"
    # An answer seen on a platform to a comment that never became a case: its normal fate.
    with pytest.raises(DecisionError) as err:
        apply_decision(None, decide("replied", T0, case_id="nope", answered_on="youtube"), now=T0)
    assert err.value.reason == "not_a_case" and "not_a_case" in DECISION_ERRORS


def test_an_answer_seen_on_a_platform_before_the_case_was_queued_closes_it() -> None:
    """The brand answered on the platform before veille queued the mention (the collector reads
    every few minutes, the enrichment queues later): taken however early, its time to decision
    0, its answer outcome that of its time on the platform."""
    complaint = case(triage=ANGRY_COMPLAINT, created_at=T0 - 7200)  # due at T0 - 3600
    seen = decide("replied", T0 - 4000, moderator="@AcmeOfficial", answered_on="youtube",
                  reason="https://www.youtube.com/watch?v=x&lc=Ugx")
    out = apply_decision(complaint, seen, now=T0)
    assert out.closed and out.time_to_decision == 0
    assert out.answer == "on_time"  # answered 400 s before its deadline, an hour before queued
    assert out.record is not None and out.record["time_to_decision_seconds"] == 0
    assert out.case.closed_at == T0 - 4000 and out.case.decisions[-1].answered_on == "youtube"
    late = apply_decision(complaint, {**seen, "decided_at": T0 - 1200}, now=T0)
    assert (late.answer, late.time_to_decision) == ("late", 0)
    # Redelivered: a duplicate; on a case a moderator closed first: already_closed.
    with pytest.raises(DecisionError) as err:
        apply_decision(out.case, seen, now=T0 + 60)
    assert err.value.reason == "duplicate"
    approved = apply_decision(complaint, decide("approve", T0 + 30), now=T0 + 30).case
    with pytest.raises(DecisionError) as err:
        apply_decision(approved, {**seen, "decided_at": T0 + 40}, now=T0 + 60)
    assert err.value.reason == "already_closed"
    # Still not from the future.
    with pytest.raises(DecisionError, match="in the future"):
        apply_decision(complaint, {**seen, "decided_at": T0 + 3600}, now=T0)


def test_a_moderators_decision_dated_as_early_is_still_invalid() -> None:
    complaint = case(triage=ANGRY_COMPLAINT, created_at=T0 - 7200)
    with pytest.raises(DecisionError, match="before the case entered the queue") as err:
        apply_decision(complaint, decide("replied", T0 - 4000, moderator="bob"), now=T0)
    assert err.value.reason == "invalid"
    with pytest.raises(DecisionError) as err:
        apply_decision(None, decide("replied", T0, case_id="nope", moderator="bob"), now=T0)
    assert err.value.reason == "unknown_case"


@pytest.mark.parametrize(
    "payload",
    [
        "approve",
        {"case_id": "m1", "decision": "approve", "moderator": "alice"},  # no decided_at
        decide("delete", T0),
        decide("approve", T0, moderator=""),
        decide("approve", True),
        decide("approve", float("nan")),
        decide("approve", "yesterday"),
        decide("approve", T0, verdict="x"),
        decide("approve", T0, assignee="bob"),  # only an escalation is reassigned
        decide("approve", T0, reason="x" * 5000),
        decide("approve", T0, case_id="m2"),  # not this case
        decide("approve", T0 + 3600),  # in the future
        decide("approve", T0 - 3600),  # before the case entered the queue
    ],
)
def test_invalid_decisions(payload: object) -> None:
    with pytest.raises(DecisionError) as err:
        apply_decision(case(), payload, now=T0)  # type: ignore[arg-type]
    assert err.value.reason == "invalid"
    assert err.value.reason in DECISION_ERRORS


@pytest.mark.parametrize(
    "payload",
    [
        decide("approve", T0, moderator="al\ud800ice"),  # lone surrogates: never encodable
        decide("approve", T0, reason="\udfff"),
        decide("escalate", T0, assignee="b\udc80b"),
        decide("approve", T0, case_id="m\ud800"),
    ],
)
def test_text_that_is_not_valid_unicode_is_refused(payload: dict) -> None:
    with pytest.raises(DecisionError, match="not valid Unicode text") as err:
        Decision.from_dict(payload)
    assert err.value.reason == "invalid"


@pytest.mark.parametrize("decided_at", [
    10**400,  # an int beyond any float
    1e300,  # finite, but no date
    -1e300,
    float("inf"),
    json.loads("1e400"),  # a JSON number that parses to inf
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
], ids=["int-10**400", "1e300", "-1e300", "inf", "json-1e400", "year-0", "year-10000"])
def test_decided_at_out_of_range_is_invalid(decided_at: object) -> None:
    with pytest.raises(DecisionError) as err:
        Decision.from_dict(decide("approve", decided_at))  # type: ignore[arg-type]
    assert err.value.reason == "invalid"
    assert "decided_at" in err.value.detail


def test_decided_at_may_be_iso_8601() -> None:
    d = Decision.from_dict(decide("approve", "2026-01-05T09:02:00Z"))
    assert d.decided_at == T0 + 120
    assert Decision.from_dict(d.to_dict()) == d


def test_case_state_round_trips_through_json() -> None:
    c = apply_decision(case(triage=RESPOND), decide("escalate", T0 + 5, assignee="bob", reason="why"),
                       now=T0 + 5).case
    c = apply_decision(c, decide("replied", T0 + 50, moderator="bob"), now=T0 + 50).case
    restored = Case.from_state(json.loads(json.dumps(c.to_state())))
    assert restored == c
    with pytest.raises(ValueError, match="version"):
        Case.from_state({**c.to_state(), "v": 99})


# --- KPIs, backlog --------------------------------------------------------------------------


def test_kpis_count_received_processed_rejected() -> None:
    cases = [case(f"m{i}") for i in range(5)]
    cases[0] = apply_decision(cases[0], decide("approve", T0 + 1, "m0"), now=T0 + 1).case
    cases[1] = apply_decision(cases[1], decide("reject", T0 + 1, "m1"), now=T0 + 1).case
    cases[2] = apply_decision(cases[2], decide("replied", T0 + 1, "m2"), now=T0 + 1).case
    cases[3] = apply_decision(cases[3], decide("escalate", T0 + 1, "m3"), now=T0 + 1).case  # still open
    k = Kpis.of(cases)
    assert (k.received, k.processed, k.rejected, k.escalated) == (5, 3, 1, 1)
    assert k.rejection_rate == pytest.approx(1 / 3)
    assert k.processed_share == pytest.approx(3 / 5)
    assert not k.on_target  # below 90 %
    assert Kpis.of([]).rejection_rate is None
    assert Kpis.of([]).on_target


def test_backlog_per_brand_ages_and_unanswered_negatives() -> None:
    cases = [
        case("a1", RESPOND, now=T0),  # negative, respond: deadline T0 - 600 + 3600
        apply_decision(case("a2", REVIEW, now=T0 + 600), decide("assign", T0 + 700, "a2", assignee="alice"),
                       now=T0 + 700).case,  # taken by alice
        case("a3", RESPOND, negative=False, now=T0),  # not negative: never "unanswered"
        # An angry complaint: its action is review, it still waits for an answer.
        case("a4", ANGRY_COMPLAINT, now=T0 + 2000),
        case("b1", RESPOND, brand="boreal", now=T0 + 1200, created_at=T0 + 1200),
        apply_decision(case("b2", brand="boreal"), decide("approve", T0 + 5, "b2"), now=T0 + 5).case,
    ]
    before = Backlog.by_brand(cases, now=T0 + 2000, brands=["acme", "boreal", "calm"])
    assert before["acme"] == Backlog("acme", pending=4, oldest_age_seconds=2000, unanswered_negative=0,
                                     unassigned=3)
    assert before["boreal"] == Backlog("boreal", pending=1, oldest_age_seconds=800, unanswered_negative=0,
                                       unassigned=1)
    assert before["calm"] == Backlog("calm")  # listed brands appear with zeros
    after = Backlog.by_brand(cases, now=T0 + 3001)
    # a1 and a4: a2 asks for no answer, a3 is not negative
    assert after["acme"].unanswered_negative == 2
    assert after["boreal"].unanswered_negative == 0  # its deadline is T0 + 4800
    assert Backlog.by_brand(cases, now=T0 + 4801)["boreal"].unanswered_negative == 1
    replied = apply_decision(cases[0], decide("replied", T0 + 3100, "a1"), now=T0 + 3100).case
    assert not replied.is_unanswered(T0 + 9999)


# --- volume and sizing ----------------------------------------------------------------------


def test_hourly_volume_per_hour_and_busiest_hours() -> None:
    day1 = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    day2 = day1 + 86400
    times = [day1 + 9 * 3600 + 5] * 3 + [day1 + 14 * 3600 + 60] * 3 + [day1 + 20 * 3600]
    times += [day2 + 11 * 3600 + 1] * 4 + [day2 + 12 * 3600]
    volume = HourlyVolume.of(times)
    hours = volume.per_hour(day1 + 8 * 3600, day1 + 11 * 3600)
    assert hours == [(day1 + 8 * 3600, 0), (day1 + 9 * 3600, 3), (day1 + 10 * 3600, 0)]
    peaks = volume.busiest(day1, day2 + 86400 * 2)
    assert [(p.day, p.total, p.peak, p.hours) for p in peaks] == [
        (date(2026, 1, 5), 7, 3, (9, 14)),  # a tie keeps both hours
        (date(2026, 1, 6), 5, 4, (11,)),
        (date(2026, 1, 7), 0, 0, ()),
    ]
    paris = volume.busiest(day2, day2 + 86400, tz=ZoneInfo("Europe/Paris"))
    assert [(p.day, p.hours) for p in paris if p.total] == [(date(2026, 1, 6), (12,))]  # UTC+1 in winter
    assert HourlyVolume.from_state(json.loads(json.dumps(volume.to_state()))) == volume


def test_hours_are_those_of_a_half_hour_zone() -> None:
    """Counted per UTC hour, India's 00:00-00:30 was the day before's last hour: a report of
    2026-12-02 had a row for 2026-12-01 holding items of 00:10 on the 2nd, as 23:00-24:00."""
    kolkata = ZoneInfo("Asia/Kolkata")
    at = datetime(2026, 12, 2, 0, 10, tzinfo=kolkata).timestamp()
    noon = datetime(2026, 12, 2, 12, 0, tzinfo=kolkata).timestamp()
    volume = HourlyVolume.of([at] * 5 + [noon])
    day = datetime(2026, 12, 2, tzinfo=kolkata).timestamp()
    peaks = volume.busiest(day, day + 86400, kolkata)
    assert [(p.day, p.total, p.peak, p.hours) for p in peaks] == [(date(2026, 12, 2), 6, 5, (0,))]
    hours = volume.per_hour(day, day + 86400, kolkata)
    assert len(hours) == 24 and hours[0] == (int(day), 5) and hours[12] == (int(noon), 1)
    nepal = ZoneInfo("Asia/Kathmandu")  # +05:45
    late = datetime(2026, 12, 2, 23, 50, tzinfo=nepal).timestamp()
    start = datetime(2026, 12, 2, tzinfo=nepal).timestamp()
    assert [(p.day, p.hours) for p in HourlyVolume.of([late]).busiest(start, start + 86400, nepal)
            ] == [(date(2026, 12, 2), (23,))]


def test_a_fall_back_days_repeated_hour_is_two_hours_not_one_peak() -> None:
    """Europe/Paris on 2026-10-25 has 25 hours, 02:00-03:00 twice. Ten items in every real hour:
    no hour stands out (adding the two 02:00 made it the peak, at 20 items an hour)."""
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 10, 25, tzinfo=paris).timestamp()
    end = datetime(2026, 10, 26, tzinfo=paris).timestamp()
    assert end - start == 25 * 3600
    volume = HourlyVolume.of([t + 60 for t in range(int(start), int(end), 3600) for _ in range(10)])
    [day] = volume.busiest(start, end, paris)
    assert (day.total, day.peak, day.hours) == (250, 10, tuple(range(24)))
    # More items in the second 02:00 than in any other hour: it is the peak, named hour 2.
    volume.add(start + 3 * 3600 + 60, 5)  # 01:00 UTC: the second 02:00 (UTC+1)
    [day] = volume.busiest(start, end, paris)
    assert (day.total, day.peak, day.hours) == (255, 15, (2,))


def test_the_busiest_hour_of_each_month_on_the_report_s_clock() -> None:
    """A team is sized for the year's peaks: each local month's received items and its busiest
    real hour (the first when tied); an hour is a month's by the clock of the zone (23:30 UTC on
    31 January is 1 February in Paris), and an empty month has no busiest hour."""
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 1, 1, tzinfo=paris).timestamp()
    end = datetime(2026, 4, 1, tzinfo=paris).timestamp()
    jan = datetime(2026, 1, 10, 14, 5, tzinfo=paris).timestamp()
    feb_by_paris = datetime(2026, 1, 31, 23, 30, tzinfo=UTC).timestamp()  # 00:30 on 1 February
    volume = HourlyVolume.of([jan] * 3 + [jan + 3600] * 3 + [jan + 7200] + [feb_by_paris] * 2)
    months = volume.busiest_by_month(start, end, paris)
    assert [(m.month, m.total, m.peak) for m in months] == [
        (date(2026, 1, 1), 7, 3), (date(2026, 2, 1), 2, 2), (date(2026, 3, 1), 0, 0)]
    assert datetime.fromtimestamp(months[0].peak_at, paris) == datetime(2026, 1, 10, 14, tzinfo=paris)
    assert datetime.fromtimestamp(months[1].peak_at, paris) == datetime(2026, 2, 1, 0, tzinfo=paris)
    assert months[2].peak_at is None


def test_moderators_needed() -> None:
    assert moderators_needed(0, 30) == 0
    assert moderators_needed(240, 30) == 3  # 2 h of work per hour at 80 % occupancy -> 2.5 -> 3
    assert moderators_needed(240, 30, occupancy=1.0) == 2
    with pytest.raises(ValueError):
        moderators_needed(10, 0)


def test_the_closing_decision_of_a_case_asking_for_an_answer_is_on_time_late_or_no_answer() -> None:
    """Posted at T0 - 600, deadline T0 + 3000: replied to by then it was answered on time, after
    it late (it was unanswered in between); closed by approve or reject its author got no answer,
    before the deadline or after it; an escalation answers nothing, and a case that is not a
    negative one asking for an answer has no answer outcome."""
    complaint = case(triage=ANGRY_COMPLAINT)
    assert complaint.asks_for_answer and complaint.response_deadline == T0 + 3000
    assert apply_decision(complaint, decide("replied", T0 + 3000), now=T0 + 3000).answer == "on_time"
    late = apply_decision(complaint, decide("replied", T0 + 3001), now=T0 + 3001)
    assert (late.closed, late.answer) == (True, "late")
    assert complaint.is_unanswered(T0 + 3001) and not late.case.is_unanswered(T0 + 3001)
    for kind, at in (("approve", T0 + 10), ("reject", T0 + 10), ("approve", T0 + 3001)):
        silent = apply_decision(complaint, decide(kind, at), now=at)
        assert (silent.closed, silent.answer) == (True, "no_answer"), (kind, at)
    escalated = apply_decision(complaint, decide("escalate", T0 + 3500), now=T0 + 3500)
    assert escalated.answer is None
    assert apply_decision(escalated.case, decide("replied", T0 + 3600, moderator="lead"),
                          now=T0 + 3600).answer == "late"
    for other in (case(triage=REVIEW), case(triage=RESPOND, negative=False)):
        assert not other.asks_for_answer
        assert apply_decision(other, decide("replied", T0 + 9000), now=T0 + 9000).answer is None


def test_a_closed_record_matches_its_published_schema() -> None:
    """moderation.closed is read by other services: every field of the record and of the
    case's final state typed, and nothing written that the schema does not name."""
    import jsonschema

    from tests.schemas import strict

    schema = strict("moderation_closed.v1.json")
    c = case(triage=ANGRY_COMPLAINT)
    for decision in (decide("assign", T0 + 10, assignee="alice", if_assigned_to=None),
                     decide("escalate", T0 + 20, assignee="lead", reason="legal"),
                     decide("unassign", T0 + 25, moderator="lead")):
        c = apply_decision(c, decision, now=T0 + 30).case
    out = apply_decision(c, decide("replied", T0 + 40, moderator="lead", reason="DM"), now=T0 + 40)
    record = json.loads(json.dumps(out.record))
    jsonschema.validate(record, schema)
    seen = apply_decision(case(triage=ANGRY_COMPLAINT), decide(
        "replied", T0 + 40, moderator="@AcmeOfficial", answered_on="youtube"), now=T0 + 40)
    answered = json.loads(json.dumps(seen.record))
    jsonschema.validate(answered, schema)
    assert answered["case"]["decisions"][-1]["answered_on"] == "youtube"
    again = Case.from_state(json.loads(json.dumps(seen.case.to_state())))
    assert again.decisions[-1].answered_on == "youtube" and again == seen.case
    assert record["case"]["severity"] == "high" and record["case"]["assigned_to"] is None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**record, "case": {**record["case"], "severity": "urgent"}}, schema)
