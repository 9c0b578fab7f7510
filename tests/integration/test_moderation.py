"""Moderation through the real broker and a real worker: raw mentions -> triage -> moderation.queue
-> decisions (CLI, HTTP API, raw records) -> moderation.closed, KPI metrics against a hand count,
the report, and a worker restart with open cases."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from kafka import KafkaProducer

from streams.topics import (
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    MODERATION_CLOSED,
    MODERATION_DECISIONS,
    MODERATION_QUEUE,
    ensure_topics,
    key_partition,
)
from tests.conftest import ROOT, settings_env
from tests.integration.test_pipeline import wait_drained
from tests.kafka_helpers import produce, read_all, read_to_end
from tests.moderation_helpers import (
    WATCHLIST,
    ServedApi,
    by_label,
    decision,
    insult_item,
    mention,
    samples,
    wait_for,
    wait_metrics,
)
from tests.schemas import strict
from veille.moderate.commands import ModerateError, decide, list_cases, report

pytestmark = pytest.mark.integration
SCHEMAS = ROOT / "streams/schemas"
TOKEN = "moderation-test-token-7d1f"

#: id -> text, and what triage makes of it with the test watch list (checked below, by hand).
TEXTS = {
    "m1": "@AcmeSupport espèce de connard, rendez-moi mon argent",
    "m2": "Acme je vais te buter",
    "m3": "@acme_fr toujours pas de réponse, remboursez moi",
    "m4": "Boycott Acme! Signez la pétition",
    "m5": "Acme support is useless and I am still waiting for my refund",
    "m6": "I love Acme Mobile, great network",
    "m7": "Earn $500 a day with Acme crypto, DM me on telegram",
    "m8": "Boréal t'es vraiment nul",
    "m9": "Boréal café, toujours aucun retour sur ma réclamation",
    "m10": "THIS BOREAL CAFE IS RIDICULOUS",
    "m11": "The train to Lyon leaves at ten",
    "m12": "@acme_fr ma commande n'est jamais arrivée, remboursez-moi",
    "m13": "Acme et Boréal: vous êtes des guignols, remboursez-moi",
    "m14": "Acme = Arnacme, tout le monde le sait",
}
#: The hand count: case id -> (brand, categories, action). m6 (praise) and m11 (no brand) open no
#: case; m13 names both brands (one case, the watch list's first brand, the strictest charter:
#: Boréal hides insults); m14 has no category, only a banned term of Acme's charter.
CASES = {
    "m1": ("acme", ["insult", "aggressive", "needs_answer"], "hide"),
    "m2": ("acme", ["threat"], "hide"),
    "m3": ("acme", ["needs_answer"], "respond"),
    "m4": ("acme", ["detractor"], "review"),
    "m5": ("acme", ["needs_answer"], "respond"),
    "m7": ("acme", ["spam"], "hide"),
    "m8": ("boreal", ["insult", "aggressive"], "hide"),
    "m9": ("boreal", ["needs_answer"], "respond"),
    "m10": ("boreal", ["aggressive"], "review"),
    "m12": ("acme", ["needs_answer"], "respond"),
    "m13": ("acme", ["insult", "aggressive", "needs_answer"], "hide"),
    "m14": ("acme", [], "review"),
}


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def values(settings, topic: str, expect: int, settle: float = 1.0) -> list[tuple[bytes, dict]]:
    return [(r.key, json.loads(r.value)) for r in read_all(settings, topic, expect=expect,
                                                             settle=settle, timeout=45)]


def to_end(settings, topic: str) -> list[tuple[bytes, dict]]:
    return [(r.key, json.loads(r.value)) for r in read_to_end(settings, topic)]


def test_queue_decisions_closed_cases_and_kpis(settings, start_worker, tmp_path: Path) -> None:
    settings = settings.with_(watchlist=WATCHLIST, moderation_hold_seconds=8.0)
    ensure_topics(settings)
    worker = start_worker(settings)
    # A decision that arrives before its case (m12 is produced after it) is held, then applied;
    # one whose case never comes is dropped as unknown_case once held 8 s.
    produce(settings, MODERATION_DECISIONS, [decision("m12", "replied", "dave"),
                                             decision("ghost", "reject", "dave")])
    # m3 and m12 are past Acme's 60-minute deadline: m3 stays unanswered, m12 is answered late
    # (by the decision held for it).
    old = {i: mention(i, TEXTS[i], age=timedelta(hours=3)) for i in ("m3", "m12")}
    raw = [old.get(i) or mention(i, t) for i, t in TEXTS.items()]
    produce(settings, MENTIONS_RAW, raw + [raw[0]])  # m1 twice: one enriched record, one case
    # mentions.raw committed to its end: every enriched record and queue item is on the broker.
    wait_drained(settings, worker, len(raw) + 1)

    queue = to_end(settings, MODERATION_QUEUE)
    assert sorted(k.decode() for k, _ in queue) == sorted(CASES)  # each once, keyed by case id
    for key, item in queue:
        jsonschema.validate(item, schema("moderation_item.v1.json"))
        brand, categories, action = CASES[key.decode()]
        assert (item["brand"], item["categories"], item["action"]) == (brand, categories, action)
    items = {k.decode(): v for k, v in queue}
    assert items["m13"]["brands"] == ["acme", "boreal"]
    assert items["m14"]["reasons"] == ["charter:banned_term"]
    enriched = {k.decode(): v for k, v in to_end(settings, MENTIONS_ENRICHED)}
    assert len(enriched) == len(TEXTS)
    for record in enriched.values():
        jsonschema.validate(record, strict("enriched_mention.v1.json"))
    assert enriched["m11"]["triage"] is None  # no brand: no triage
    assert enriched["m6"]["triage"] == {"categories": [], "severity": "none", "action": "none"}
    assert enriched["m1"]["triage"]["action"] == "hide"

    # Decisions through the CLI's function and through the HTTP API, both waiting for the ack.
    # Taking a case (assign) keeps it pending and counts for nothing: m10 stays in the backlog,
    # m4 taken by bob is closed by alice all the same.
    decide(settings, "m10", "assign", moderator="carol", assignee="carol")
    decide(settings, "m4", "assign", moderator="bob", assignee="bob")
    for case_id, verdict in [("m1", "reject"), ("m4", "approve"), ("m7", "reject"),
                             ("m9", "replied"), ("m14", "approve")]:
        decide(settings, case_id, verdict, moderator="alice", reason="charter")
    api = ServedApi(settings, token=TOKEN)
    try:
        for case_id, verdict in [("m2", "reject"), ("m5", "escalate"), ("m8", "approve"),
                                 ("m13", "replied")]:
            answer = api.client.post(f"/cases/{case_id}/decision",
                                     json={"decision": verdict, "moderator": "bob"})
            assert answer.status_code == 202, answer.text
    finally:
        api.close()
    first_m1 = next(v for k, v in values(settings, MODERATION_DECISIONS, expect=13, settle=0.2)
                    if k == b"m1")
    # Ignored: a redelivery, a decision on a closed case, four invalid ones (bad JSON, a bad
    # verdict, a time out of any range, not an object: none may stop the agent), the ghost,
    # and frank taking m10 as if no one had (a tool that checked before carol took it): a
    # conflict, m10 stays carol's.
    produce(settings, MODERATION_DECISIONS, [
        (b"m1", json.dumps(first_m1).encode()),
        decision("m4", "reject", "eve"),
        decision("m10", "assign", "frank", assignee="frank", if_assigned_to=None),
        (b"m3", b"{not json"),
        decision("m3", "maybe"),
        (b"m3", b'{"case_id": "m3", "decision": "reject", "moderator": "x", "decided_at": 1e400}'),
        (b"m3", b'["m3", "reject"]'),
    ])

    closed = values(settings, MODERATION_CLOSED, expect=9, settle=2.0)
    assert sorted(k.decode() for k, _ in closed) == sorted(
        ["m1", "m2", "m4", "m7", "m8", "m9", "m12", "m13", "m14"])  # each exactly once
    for _, record in closed:
        jsonschema.validate(record, strict("moderation_closed.v1.json"))
    by_id = {k.decode(): v for k, v in closed}
    assert (by_id["m12"]["decision"], by_id["m12"]["moderator"]) == ("replied", "dave")
    assert by_id["m1"]["reason"] == "charter"

    def ignored_all_counted() -> dict:
        got = by_label(samples(worker.metrics_url), "veille_moderation_decisions_ignored_total",
                       "reason")
        return got if sum(got.values()) >= 8 else {}

    ignored = wait_for(ignored_all_counted, timeout=30, what="8 ignored decisions")
    assert ignored == {("duplicate",): 1, ("already_closed",): 1, ("invalid",): 4,
                       ("unknown_case",): 1, ("conflict",): 1}

    # The hand count against the worker's metrics.
    received: dict[tuple[str, str], int] = {}
    processed: dict[tuple[str, str], int] = {}
    rejected: dict[tuple[str, str], int] = {}
    verdicts = {"m1": "reject", "m2": "reject", "m4": "approve", "m7": "reject", "m8": "approve",
                "m9": "replied", "m12": "replied", "m13": "replied", "m14": "approve"}
    for case_id, (brand, categories, _) in CASES.items():
        for c in categories or ["none"]:
            received[(brand, c)] = received.get((brand, c), 0) + 1
            if case_id in verdicts:
                processed[(brand, c)] = processed.get((brand, c), 0) + 1
            if verdicts.get(case_id) == "reject":
                rejected[(brand, c)] = rejected.get((brand, c), 0) + 1
    assert received == {("acme", "insult"): 2, ("acme", "aggressive"): 2,
                        ("acme", "needs_answer"): 5, ("acme", "threat"): 1,
                        ("acme", "detractor"): 1, ("acme", "spam"): 1, ("acme", "none"): 1,
                        ("boreal", "insult"): 1, ("boreal", "aggressive"): 2,
                        ("boreal", "needs_answer"): 1}
    scraped = wait_metrics(worker.metrics_url, lambda s: by_label(
        s, "veille_moderation_backlog_items", "brand") == {("acme",): 2, ("boreal",): 1},
        what="backlog acme 2 (m3, m5 escalated), boreal 1 (m10)")
    # m10, taken by carol (frank's later take refused), is pending but assigned; m3 and m5
    # (escalated to the queue) are not.
    assert by_label(scraped, "veille_moderation_unassigned_items", "brand") == {("acme",): 2}
    assert by_label(scraped, "veille_moderation_items_received_total", "brand", "category") == received
    assert by_label(scraped, "veille_moderation_items_processed_total", "brand", "category") == processed
    assert by_label(scraped, "veille_moderation_items_rejected_total", "brand", "category") == rejected
    # The case counters count each case once (the KPI ratios read them): acme's m1 and m13,
    # three categories each, count once.
    assert by_label(scraped, "veille_moderation_cases_received_total", "brand") == {
        ("acme",): 9, ("boreal",): 3}
    assert by_label(scraped, "veille_moderation_cases_processed_total", "brand") == {
        ("acme",): 7, ("boreal",): 2}
    assert by_label(scraped, "veille_moderation_cases_rejected_total", "brand") == {("acme",): 3}
    assert by_label(scraped, "veille_moderation_unanswered_negative", "brand") == {("acme",): 1}
    assert by_label(scraped, "veille_moderation_decision_seconds_count", "brand") == {
        ("acme",): 7, ("boreal",): 2}
    oldest = by_label(scraped, "veille_moderation_oldest_pending_age_seconds", "brand")
    assert set(oldest) == {("acme",), ("boreal",)} and all(0 < v < 120 for v in oldest.values())
    # Answers: the closing decisions of the negative cases asking for an answer, once each: a
    # reply on time or late against their brand's deadline (m12's, posted 3 hours ago, late),
    # approve or reject with no answer (m1, rejected). Negative: scored so, or a complaint
    # (m9, neutral since its brand's name "Boréal", a lexicon word, no longer counts; its text
    # without "pas de réponse", negative since 2026-12-07).
    assert (items["m9"]["sentiment"], "needs_answer:complaint" in items["m9"]["reasons"]) == (
        "neutral", True), items["m9"]
    answered: dict[tuple[str, str], int] = {}
    for case_id, verdict in verdicts.items():
        negative = (items[case_id]["sentiment"] == "negative"
                    or "needs_answer:complaint" in items[case_id]["reasons"])
        if negative and "needs_answer" in CASES[case_id][1]:
            outcome = ("no_answer" if verdict != "replied"
                       else "late" if case_id == "m12" else "on_time")
            key = (CASES[case_id][0], outcome)
            answered[key] = answered.get(key, 0) + 1
    assert {("acme", "late"), ("acme", "on_time"), ("acme", "no_answer"),
            ("boreal", "on_time")} <= set(answered), answered
    assert by_label(scraped, "veille_moderation_answers_total", "brand", "outcome") == answered

    # What a moderator sees: pending cases oldest first, filters; then the report of the period.
    out = io.StringIO()
    assert list_cases(settings, as_json=True, out=out) == 3
    listed = {c["case_id"]: c for c in map(json.loads, out.getvalue().splitlines())}
    assert set(listed) == {"m3", "m5", "m10"}
    # m5 was escalated by bob (through the API): the tools read it on moderation.decisions.
    assert listed["m5"]["escalation"] is not None
    assert (listed["m5"]["escalation"]["count"], listed["m5"]["escalation"]["moderator"]) == (1, "bob")
    assert listed["m3"]["escalation"] is None
    out = io.StringIO()
    list_cases(settings, brand="acme", out=out)
    m5 = next(line for line in out.getvalue().splitlines() if " m5 " in line)
    assert m5.split()[5:7] == [listed["m5"]["escalation"]["severity"], "queue"], m5
    out = io.StringIO()
    list_cases(settings, brand="boreal", out=out)
    assert " m10 " in out.getvalue() and "1 pending" in out.getvalue()
    out = io.StringIO()
    assert list_cases(settings, category="needs_answer", as_json=True, out=out) == 2
    chart = tmp_path / "hours.png"
    now = time.time()
    out = io.StringIO()
    result = report(settings, now - 3600, now + 60, png=chart, out=out)
    assert (result.total.received, result.total.processed, result.total.rejected) == (12, 9, 3)
    assert (result.brands["acme"].received, result.brands["boreal"].received) == (9, 3)
    assert result.pending_at_end == 3
    assert "rejection" in out.getvalue() and "busiest hours" in out.getvalue()
    # Time to decision and answers, from the same topics: as the worker counted them.
    assert len(result.total.decision_seconds) == 9
    assert 0 <= result.total.median_decision_seconds <= result.total.p90_decision_seconds < 120
    reported = {(b, outcome): n for b, f in result.brands.items()
                for outcome, n in (("on_time", f.answered_on_time), ("late", f.answered_late),
                                   ("no_answer", f.closed_without_answer)) if n}
    assert reported == answered
    assert result.total.unanswered_at_end == 1  # m3, as the gauge counts it
    assert "median, p90 = time to decision" in out.getvalue()
    png = chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24])[1] > 100
    # The same report in French, as a French-speaking team sets it (VEILLE_REPORT_LANGUAGE).
    env = {**settings_env(settings), "VEILLE_REPORT_LANGUAGE": "fr"}
    done = subprocess.run([sys.executable, "-m", "veille.cli", "moderation", "report"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rapport de modération "), done.stdout
    assert re.search(r"^toutes +12 +9 +75,0\u00a0% +3 +33,3\u00a0%$", done.stdout, re.M), done.stdout
    assert "délai de décision" in done.stdout and "heures les plus chargées" in done.stdout


def test_worker_restart_keeps_open_cases(settings, start_worker) -> None:
    """Cases survive a restart (table changelogs, caught up past Tansu's wrong end offsets):
    still pending after it, closed by a decision after it, and no closed case twice."""
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    first = start_worker(settings)
    texts = [TEXTS[k] for k in ("m3", "m4", "m9", "m10", "m12")]
    ids = [f"r{i}" for i in range(20)]
    produce(settings, MENTIONS_RAW, [mention(i, texts[n % len(texts)]) for n, i in enumerate(ids)])
    assert len(read_all(settings, MODERATION_QUEUE, expect=20, settle=0.5)) == 20
    decide(settings, "r0", "reject", moderator="alice")
    assert len(read_all(settings, MODERATION_CLOSED, expect=1, settle=0.5)) == 1
    # Two takes at once on r3: carol's first on the topic, frank's refused (a conflict); then
    # carol gives the case back.
    takes = [decision("r3", "assign", "carol", assignee="carol", if_assigned_to=None),
             decision("r3", "assign", "frank", assignee="frank", if_assigned_to=None),
             decision("r3", "unassign", "carol", if_assigned_to="carol")]
    produce(settings, MODERATION_DECISIONS, takes)
    wait_metrics(first.metrics_url, lambda s: by_label(
        s, "veille_moderation_decisions_ignored_total", "reason") == {("conflict",): 1},
        what="frank's take refused")
    first.stop()

    second = start_worker(settings)
    wait_for(lambda: by_label(samples(second.metrics_url), "veille_moderation_backlog_items",
                              "brand") == {("acme",): 11, ("boreal",): 8},
             timeout=20, what="19 cases pending after the restart")
    assert "cases pending" in second.log_path.read_text()
    out = io.StringIO()
    assert list_cases(settings, as_json=True, out=out) == 19
    # The decision applied before the restart is known: sent again, it is a duplicate.
    r0 = next(v for k, v in values(settings, MODERATION_DECISIONS, expect=1, settle=0.2)
              if k == b"r0")
    produce(settings, MODERATION_DECISIONS, [(b"r0", json.dumps(r0).encode())])
    # Read again, as after a restart before the offsets were committed: frank's take is a
    # duplicate too. Judged anew against the case as it is now (nobody on it), it was applied
    # until 2026-12-06: the agent's case was frank's while every tool said it was nobody's.
    produce(settings, MODERATION_DECISIONS, takes)
    decide(settings, "r1", "approve", moderator="alice")
    # A decision keyed right but on another partition (a producer with librdkafka's default
    # partitioner): sent back to r2's partition, then applied there.
    home = key_partition(b"r2", settings.topic_partitions)
    wrong = (home + 1) % settings.topic_partitions
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    producer.send(settings.topic(MODERATION_DECISIONS), key=b"r2", partition=wrong,
                  value=decision("r2", "approve", "alice")[1])
    producer.flush(30)
    producer.close()
    closed = values(settings, MODERATION_CLOSED, expect=3, settle=2.0)
    assert sorted(k for k, _ in closed) == [b"r0", b"r1", b"r2"]
    # decide reads the case's partition of each topic only: the agent's closed record is there.
    with pytest.raises(ModerateError, match="case 'r2' is already closed: approve by alice"):
        decide(settings, "r2", "reject", moderator="bob")
    r2 = [r.partition for r in read_to_end(settings, MODERATION_DECISIONS) if r.key == b"r2"]
    assert sorted(r2) == sorted([wrong, home])
    scraped = wait_metrics(second.metrics_url, lambda s: bool(by_label(
        s, "veille_moderation_decisions_ignored_total", "reason")), what="the duplicate counted")
    scraped = wait_metrics(second.metrics_url, lambda s: by_label(
        s, "veille_moderation_decisions_ignored_total", "reason").get(("duplicate",)) == 4,
        what="the four duplicates counted")
    assert by_label(scraped, "veille_moderation_decisions_ignored_total", "reason") == {
        ("duplicate",): 4}  # r0's decision, and r3's three
    out = io.StringIO()
    list_cases(settings, as_json=True, unassigned=True, out=out)
    unassigned = [json.loads(line)["case_id"] for line in out.getvalue().splitlines()]
    assert "r3" in unassigned and len(unassigned) == 17  # r0, r1, r2 closed
    # The agent agrees with the tools: nobody works on r3.
    assert sum(by_label(scraped, "veille_moderation_unassigned_items", "brand").values()) == 17
    assert by_label(scraped, "veille_moderation_backlog_items", "brand") == {
        ("acme",): 10, ("boreal",): 7}
    assert by_label(scraped, "veille_moderation_items_processed_total", "brand", "category") == {
        ("acme", "detractor"): 1, ("boreal", "needs_answer"): 1}  # r1, r2
    assert by_label(scraped, "veille_moderation_items_received_total", "brand", "category") == {}
    assert by_label(scraped, "veille_moderation_cases_processed_total", "brand") == {
        ("acme",): 1, ("boreal",): 1}
    assert by_label(scraped, "veille_moderation_cases_received_total", "brand") == {}


def test_the_tools_skip_a_decision_the_agent_sends_again(settings, start_worker) -> None:
    """frank's take, written by a tool that keys otherwise, between carol's take and her giving
    the case back: the agent skips it where it lies and applies its re-sent copy, after the
    give-back, so frank has the case. The tools applied the original (refused: carol had it)
    and then counted the copy a duplicate: nobody's for them, so gina's take was written as if
    the case were free, and refused by the agent (found in review, 2026-12-06)."""
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    worker = start_worker(settings)
    ids = [f"r{i}" for i in range(6)]
    texts = [TEXTS[k] for k in ("m3", "m4", "m9", "m10", "m12")]
    produce(settings, MENTIONS_RAW, [mention(i, texts[n % len(texts)]) for n, i in enumerate(ids)])
    assert len(read_all(settings, MODERATION_QUEUE, expect=6, settle=0.5)) == 6
    home = key_partition(b"r3", settings.topic_partitions)
    topic = settings.topic(MODERATION_DECISIONS)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for key, (_, value) in ((b"r3", decision("r3", "assign", "carol", assignee="carol",
                                              if_assigned_to=None)),
                            (b"frank-tool", decision("r3", "assign", "frank", assignee="frank",
                                                     if_assigned_to=None)),
                            (b"r3", decision("r3", "unassign", "carol", if_assigned_to="carol"))):
        producer.send(topic, key=key, partition=home, value=value)
    producer.flush(30)
    producer.close()
    wait_metrics(worker.metrics_url, lambda s: sum(by_label(
        s, "veille_moderation_unassigned_items", "brand").values()) == 5,
        what="r3 taken by frank, for the agent")
    out = io.StringIO()
    list_cases(settings, as_json=True, out=out)
    rows = {json.loads(line)["case_id"]: json.loads(line) for line in out.getvalue().splitlines()}
    assert (rows["r3"]["assigned"] or {}).get("assignee") == "frank"  # as the agent has it
    # gina takes it over from frank, as the tools see it: the agent agrees and applies it.
    written = decide(settings, "r3", "assign", moderator="gina", assignee="gina")
    assert written is not None and written["if_assigned_to"] == "frank"
    decide(settings, "r3", "approve", moderator="gina")
    closed = values(settings, MODERATION_CLOSED, expect=1, settle=0.5)
    case = closed[0][1]["case"]
    assert case["assigned_to"] == "gina"
    assert [(d["decision"], d["moderator"]) for d in case["decisions"]] == [
        ("assign", "carol"), ("unassign", "carol"), ("assign", "frank"), ("assign", "gina"),
        ("approve", "gina")]
    assert by_label(samples(worker.metrics_url), "veille_moderation_decisions_ignored_total",
                    "reason") == {}


def test_the_tools_see_a_case_queued_again_after_the_retention(settings) -> None:
    """A mention queued, rejected and closed 40 days ago, queued again today (a replay past the
    de-duplication window): the agent, which forgot the closed case after 30 days, opens a new
    one. The tools, which read the topics from the start with one case per id, showed the old
    one closed: nothing listed, `decide` refused. Records written with chosen broker times
    (the records' CreateTime), read back through the real broker."""
    from veille.moderate.commands import list_closed, show_case
    from veille.moderation.cases import apply_decision
    from veille.moderation.queue import case_of, decision_record

    ensure_topics(settings)
    now, day = time.time(), 86400.0
    then = now - 40 * day

    def queued(at: float) -> dict:
        return insult_item("old1", at)

    first, again = queued(then), queued(now - 60)
    rejected = decision_record("old1", {"decision": "reject", "moderator": "alice"}, then + 600)
    closing = apply_decision(case_of(first), rejected, now=then + 600).record
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    for topic, at, record in ((MODERATION_QUEUE, then, first),
                              (MODERATION_DECISIONS, then + 600, rejected),
                              (MODERATION_CLOSED, then + 601, closing),
                              (MODERATION_QUEUE, now - 60, again)):
        producer.send(settings.topic(topic), key=b"old1", value=json.dumps(record).encode(),
                      timestamp_ms=int(at * 1000))
    producer.flush(30)
    producer.close()

    out = io.StringIO()
    assert list_cases(settings, as_json=True, out=out) == 1
    assert json.loads(out.getvalue())["queued_at"] == again["queued_at"]
    out = io.StringIO()
    assert list_closed(settings, as_json=True, out=out, since=then) == 1
    assert json.loads(out.getvalue())["decision"] == "reject"
    result = report(settings, then - day, now + day, out=io.StringIO())
    assert (result.total.received, result.total.processed, result.pending_at_end) == (2, 1, 1)
    written = decide(settings, "old1", "approve", moderator="bob", notes=io.StringIO())
    assert written is not None
    out = io.StringIO()
    assert show_case(settings, "old1", as_json=True, out=out) == "pending"
    assert json.loads(out.getvalue())["item"]["decision_pending"]["moderator"] == "bob"


def test_an_answer_seen_on_a_platform_closes_its_case_or_is_not_a_case(settings,
                                                                       start_worker) -> None:
    """A collector saw the brand's YouTube reply 20 minutes before veille queued the comment:
    the real agent holds it, applies it when the case comes (time to decision 0, on time by the
    platform's time) and counts the case answered on the platform. An answer to a comment that
    never became a case is dropped after the hold as not_a_case, not unknown_case."""
    from veille.moderation.cases import iso
    from veille.moderation.queue import make_item
    from veille.moderation.triage import Triage
    from veille.rules import Charter

    settings = settings.with_(watchlist=WATCHLIST, moderation_hold_seconds=3.0,
                              moderation_answer_hold_seconds=3.0)
    ensure_topics(settings)
    worker = start_worker(settings)
    now = time.time()

    def seen(case_id: str, at: float) -> tuple[bytes, bytes]:
        record = {"case_id": case_id, "decision": "replied", "moderator": "@AcmeOfficial",
                  "decided_at": iso(at), "answered_on": "youtube",
                  "reason": f"https://www.youtube.com/watch?v=v1&lc={case_id}"}
        jsonschema.validate(record, schema("moderation_decision.v1.json"))
        return case_id.encode(), json.dumps(record).encode()

    produce(settings, MODERATION_DECISIONS, [seen("yt-1", now - 1200), seen("yt-never", now)])
    item = make_item(mention_id="yt-1", brands=("acme",), charter=Charter(),
                     triage=Triage(("needs_answer",), "low", "respond", ("needs_answer:complaint",)),
                     language="fr", sentiment="negative", compound=-0.6, platform="youtube",
                     author="@c", text="toujours pas de réponse", url=None,
                     created_at=now - 1500, queued_at=now)
    produce(settings, MODERATION_QUEUE, [(b"yt-1", json.dumps(item).encode())])
    [(key, record)] = values(settings, MODERATION_CLOSED, expect=1, settle=0.5)
    jsonschema.validate(record, strict("moderation_closed.v1.json"))
    assert (key, record["decision"], record["time_to_decision_seconds"]) == (b"yt-1", "replied", 0)
    assert record["case"]["decisions"][-1]["answered_on"] == "youtube"
    scraped = wait_metrics(worker.metrics_url, lambda s: by_label(
        s, "veille_moderation_decisions_ignored_total", "reason") == {("not_a_case",): 1},
        what="the answer to no case dropped as not_a_case")
    assert by_label(scraped, "veille_moderation_platform_answers_total", "brand") == {("acme",): 1}
    assert by_label(scraped, "veille_moderation_answers_total", "brand", "outcome") == {
        ("acme", "on_time"): 1}
