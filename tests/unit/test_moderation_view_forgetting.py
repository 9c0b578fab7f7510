"""The API's view forgets, as it reads, the closed cases it will forget once the topics are read
(CaseView.forget_before: tombstones until the end of the pass), and answers exactly as the view
that held every record of the pass until its end and forgot them then.

The three topics are read in no particular order and in batches (TopicReader): the records of
a case come in any interleaving of its topics' partitions, each partition in its own order. The
histories below are generated at random, with a fixed seed, over a few case ids so that their
episodes meet: closed records read before their item, items queued again once their case was
forgotten (new episodes), decisions for forgotten cases and for ids never queued (held),
erasure markers of live and forgotten cases, the queue compacted to a marker alone, closed
records sent twice."""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from veille.moderation.cases import CLOSED_RETENTION_SECONDS, apply_decision
from veille.moderation.queue import (
    _GONE_ITEM,
    CaseView,
    case_of,
    decision_record,
    erasure_of,
    make_item,
)
from veille.moderation.triage import Triage
from veille.rules import Charter

DAY = 86400.0
RET = CLOSED_RETENTION_SECONDS
NOW = 1_790_000_000.0  # the API's clock at the end of its first read
TRIAGES = (Triage(("insult",), "medium", "review", ()),
           Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
           Triage(("spam",), "high", "hide", ()))
MODERATORS = ("alice", "bob", "carol")
PARTITIONS = 2

Record = tuple[str, int, float, dict[str, Any]]  # (topic, partition, broker time, value)


def _item(rng: random.Random, case_id: str, queued: float) -> dict[str, Any]:
    made = make_item(mention_id=case_id, brands=rng.choice((("acme",), ("boreal", "acme"))),
                     triage=rng.choice(TRIAGES), charter=Charter(), language="fr",
                     sentiment=rng.choice(("negative", "neutral")), compound=-0.2,
                     platform="twitter", author=f"@u{rng.randrange(3)}",
                     text=f"text of {case_id} at {queued}", url=None,
                     created_at=queued - rng.uniform(5, 600), queued_at=queued)
    assert made is not None
    return json.loads(json.dumps(made))


def history(rng: random.Random, ids: int = 10) -> list[Record]:
    """The records of `ids` case ids over the last 100 days, at random: each id in one to three
    episodes, the next one queued within the retention of the last closing (a redelivery) or
    past it (a new case), pending or closed, with decisions, resends, markers and orphans."""
    out: list[Record] = []

    def put(topic: str, at: float, value: dict[str, Any]) -> None:
        out.append((topic, zlib.crc32(value["case_id"].encode()) % PARTITIONS, at, value))

    for n in range(ids):
        case_id = f"c{n}"
        t = NOW - rng.uniform(40, 100) * DAY
        queue: list[tuple[float, dict[str, Any]]] = []
        for _ in range(rng.randint(1, 3)):
            if t >= NOW:
                break
            item = _item(rng, case_id, t)
            queue.append((t, item))
            if rng.random() < 0.2:  # redelivered
                queue.append((t + rng.uniform(1, 3 * DAY), dict(item)))
            case = case_of(item)
            closing = None
            for step in range(rng.randint(0, 3)):
                kind = rng.choice(("assign", "escalate", "approve", "reject", "replied")) \
                    if step else rng.choice(("assign", "approve", "reject"))
                t = min(t + rng.uniform(60, 5 * DAY), NOW - 1)
                body: dict[str, Any] = {"decision": kind, "moderator": rng.choice(MODERATORS)}
                if kind == "assign":
                    body.update(assignee=body["moderator"], if_assigned_to=None)
                record = json.loads(json.dumps(decision_record(case_id, body, t)))
                put("decisions", t + rng.choice((0.0, 0.2)), record)
                try:
                    outcome = apply_decision(case, record, t)
                except Exception:  # noqa: BLE001 (refused by the agent: still on the topic)
                    continue
                case = outcome.case
                if outcome.closed:
                    closing = json.loads(json.dumps(outcome.record))
                    put("closed", t + 0.5, closing)
                    if rng.random() < 0.15:  # sent again (at least once)
                        put("closed", t + rng.uniform(1, 40 * DAY), dict(closing))
                    break
            if closing is None:
                break  # pending: no later episode
            decided = t
            if rng.random() < 0.3:  # a decision on the case once forgotten (held, dropped)
                at = decided + RET + rng.uniform(-2 * DAY, 5 * DAY)
                if at < NOW:
                    put("decisions", at, json.loads(json.dumps(decision_record(
                        case_id, {"decision": "approve", "moderator": "dave"}, at))))
            t = decided + rng.choice((rng.uniform(1, 10) * DAY, RET + rng.uniform(-DAY, 20 * DAY)))
        if queue and rng.random() < 0.35:  # `veille erase` on the last item
            at, last = queue[-1]
            erased = min(max(at, t) + rng.uniform(1, 40 * DAY), NOW - 1)
            queue.append((erased, json.loads(json.dumps(erasure_of(last, erased,
                                                                    rng.random() < 0.6)))))
            if rng.random() < 0.5:  # compacted: the marker alone is left
                queue = queue[-1:]
        for at, value in queue:
            put("queue", at, value)
    for n in range(rng.randint(0, 3)):  # decisions on ids never queued (held, then dropped)
        at = NOW - rng.uniform(0, 60) * DAY
        put("decisions", at, json.loads(json.dumps(decision_record(
            f"orphan{n}", {"decision": "reject", "moderator": "erin"}, at))))
    return out


def interleaving(rng: random.Random, records: list[Record]) -> list[list[Record]]:
    """The records as a reader hands them over: each topic partition in its own (time) order,
    the partitions merged at random, cut in batches of random sizes."""
    streams: dict[tuple[str, int], list[Record]] = {}
    for r in sorted(records, key=lambda r: r[2]):
        streams.setdefault((r[0], r[1]), []).append(r)
    heads = {k: 0 for k in streams}
    batches: list[list[Record]] = []
    while heads:
        key = rng.choice(sorted(heads))
        size = rng.choice((1, 2, 5, 50))
        stream, at = streams[key], heads[key]
        batches.append(stream[at:at + size])
        if at + size >= len(stream):
            del heads[key]
        else:
            heads[key] = at + size
    return batches


def feed(view: CaseView, batch: list[Record]) -> None:
    for topic, _, written, value in batch:
        if topic == "queue":
            view.add_item(value, written_at=written)
        elif topic == "decisions":
            view.add_decision(value, written_at=written)
        else:
            view.add_closed(value)


def read(batches: list[list[Record]], *, started: float | None, end: float = NOW,
         view: CaseView | None = None,
         after_batch: Callable[[CaseView], None] = lambda view: None) -> CaseView:
    """One pass as ModerationStore.refresh reads it: `started` the clock at its start (None:
    as before, every record held until the end), forgotten and expired at `end`."""
    view = view if view is not None else CaseView(closed_retention_seconds=RET)
    view.forget_before = started - RET if started is not None else None
    for batch in batches:
        feed(view, batch)
        after_batch(view)
    view.forget_before = None
    view.end_pass()
    view.forget_closed(max(end, started or end))
    view.expire_orphans(end)
    return view


def answers(view: CaseView, at: float) -> dict[str, Any]:
    """What the API answers from a view (GET /cases, /cases/{id}, /closed), and its state."""
    ids = sorted({*view.items, *view.closed, *view.decisions, *(f"c{n}" for n in range(12))})
    return {
        "pending": view.pending(), "by_deadline": view.pending(sort="respond_by"),
        "unassigned": view.pending(unassigned=True, now=at),
        "closed": view.closed_page(since=at - RET), "all_closed": view.closed_cases(),
        "cases": {i: (view.status(i), view.items.get(i), view.closed.get(i),
                      view.escalation(i, at), view.assignment(i, at),
                      view.closing_decision(i, at)) for i in ids},
        "state": (view.decisions, view._decided, view._pending, view._ended, view._later_closed,
                  view._orphans, view._closing_kept, view._written, sorted(view._closing)),
        "counts": (view.closed_forgotten, view.reopened, view.orphan_decisions,
                   view.orphans_expired, view.orphans_evicted),
    }


def tombstones(view: CaseView) -> int:
    return sum(item is _GONE_ITEM for item in view.items.values())


def held_in_full(view: CaseView) -> int:
    """Queue items and closed records held with their content."""
    return (sum(item is not _GONE_ITEM for item in view.items.values())
            + sum("case_id" in record for record in view.closed.values()))


SEEDS = range(300)


@pytest.mark.parametrize("chunk", [SEEDS[i:i + 100] for i in range(0, len(SEEDS), 100)],
                         ids=lambda c: f"seeds-{c[0]}-{c[-1]}")
def test_forgetting_as_read_answers_as_forgetting_at_the_end(chunk: range) -> None:
    """Over random histories and interleavings: the same pending list, cases, closed list and
    state as the view that held every record until the end of the read, in a first pass and in
    a live one after it; and tombstones were made (the histories do forget cases)."""
    made = 0
    for seed in chunk:
        rng = random.Random(seed)
        records = history(rng)
        batches = interleaving(rng, records)
        started = NOW - rng.choice((0.0, 1.0, 300.0))
        cut = rng.randrange(len(batches) + 1)  # the first pass reads these, the live one the rest
        seen: list[int] = []

        def count(view: CaseView, seen: list[int] = seen) -> None:
            seen.append(tombstones(view))

        ref = read(batches[:cut], started=None, end=NOW - 100)
        new = read(batches[:cut], started=started - 100, end=NOW - 100, after_batch=count)
        assert answers(new, NOW) == answers(ref, NOW), f"seed {seed}, first pass"
        ref = read(batches[cut:], started=None, view=ref)
        new = read(batches[cut:], started=started, view=new, after_batch=count)
        assert answers(new, NOW) == answers(ref, NOW), f"seed {seed}, live pass"
        assert tombstones(new) == 0
        made += max(seen, default=0) > 0
    assert made > len(chunk) // 4  # the cases these seeds test are there


@pytest.mark.parametrize("order", [("closed", "decisions", "queue"), ("queue", "closed", "decisions")])
def test_a_closed_record_read_before_or_after_its_item_and_a_new_episode(order) -> None:
    """The cases the property above is about, written out: an old case closed (its closed record
    read first, or its item first), then queued again after the retention (a new pending case),
    a decision written once it was forgotten (for the new episode), and a resend of the old
    closing read last (it must not close the new one)."""
    old = _item(random.Random(1), "m1", NOW - 80 * DAY)
    closing = apply_decision(case_of(old), decision_record("m1", {"decision": "reject",
                                                                 "moderator": "alice"},
                                                           NOW - 80 * DAY + 60), NOW)
    record = json.loads(json.dumps(closing.record))
    again = _item(random.Random(2), "m1", NOW - 2 * DAY)
    approve = decision_record("m1", {"decision": "approve", "moderator": "bob"}, NOW - DAY)
    topics = {"queue": [("queue", 0, NOW - 80 * DAY, old), ("queue", 0, NOW - 2 * DAY, again)],
              "closed": [("closed", 0, NOW - 80 * DAY + 61, record)],
              "decisions": [("decisions", 0, NOW - DAY, approve)]}
    batches = [[r] for topic in order for r in topics[topic]] + [[("closed", 0, NOW, dict(record))]]
    ref, new = read(batches, started=None), read(batches, started=NOW)
    assert answers(new, NOW) == answers(ref, NOW)
    assert [i["queued_at"] for i in new.pending()] == [again["queued_at"]]
    assert new.closing_decision("m1", NOW)["moderator"] == "bob"
    assert (new.reopened, new.closed_forgotten) == (1, 1)


def test_what_the_first_read_holds_is_bounded_by_what_the_view_keeps() -> None:
    """Read closed records first (as the API's reader does), the view never holds more
    queue items and closed records in full than it keeps once the read is done: the old closed
    cases are tombstones from the moment they are read, and go at the end. Before, it held every
    record of the read (here 2,000 cases, 80 % of them closed more than 30 days ago)."""
    rng = random.Random(5)
    records: list[Record] = []
    for n in range(2000):
        queued = NOW - (n / 2000) * 150 * DAY  # 150 days: a fifth within the retention
        item = _item(rng, f"k{n}", queued)
        records.append(("queue", n % PARTITIONS, queued, item))
        if n % 50:  # 2 % pending
            d = decision_record(item["case_id"], {"decision": "approve", "moderator": "alice"},
                                queued + 3600)
            records.append(("decisions", n % PARTITIONS, queued + 3600, d))
            outcome = apply_decision(case_of(item), d, queued + 3600)
            records.append(("closed", n % PARTITIONS, queued + 3601,
                            json.loads(json.dumps(outcome.record))))
    streams = {t: sorted((r for r in records if r[0] == t), key=lambda r: r[2])
               for t in ("closed", "decisions", "queue")}
    batches = [streams[t][i:i + 100] for t in streams for i in range(0, len(streams[t]), 100)]
    peak = {"full": 0, "tombstones": 0}

    def measure(view: CaseView) -> None:
        peak["full"] = max(peak["full"], held_in_full(view))
        peak["tombstones"] = max(peak["tombstones"], tombstones(view))

    view = read(batches, started=NOW, after_batch=measure)
    kept = len(view.items) + len(view.closed)
    assert answers(view, NOW) == answers(read(batches, started=None), NOW)
    assert peak["full"] <= kept < 2000 * 0.6, (peak, kept)
    assert peak["tombstones"] > 1500  # the old closed cases, a few fields each
    held = read(batches, started=None, after_batch=measure)  # as before: everything until the end
    assert peak["full"] > 3900 and len(held.items) + len(held.closed) == kept
