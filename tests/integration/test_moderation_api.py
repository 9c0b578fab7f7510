"""The moderation HTTP API against the real broker: authentication, listing, clear 4xx answers, and a
decision written to moderation.decisions once acknowledged. Queue items and a closed case are
written straight to the topics (the API reads only them): no worker needed here."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest

from streams.topics import MODERATION_CLOSED, MODERATION_DECISIONS, MODERATION_QUEUE, ensure_topics
from tests.kafka_helpers import produce, read_all
from tests.moderation_helpers import ServedApi
from veille.moderate.api import MAX_BODY_BYTES, ApiConfigError, ModerationApi
from veille.moderate.store import TopicReader
from veille.moderation.cases import apply_decision
from veille.moderation.queue import case_of, make_item
from veille.moderation.triage import Triage
from veille.rules import Charter

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "api-test-token-3b9e"
NOW = time.time()


def item(case_id: str, brand: str, categories: tuple[str, ...], action: str, age: float,
         author: str = "@someone") -> dict:
    triage = Triage(categories, "medium", action, ())
    made = make_item(mention_id=case_id, brands=[brand], triage=triage, charter=Charter(),
                     language="fr", sentiment="negative", compound=-0.6, platform="twitter",
                     author=author, text=f"text of {case_id}", url=None,
                     created_at=NOW - age - 60, queued_at=NOW - age)
    assert made is not None
    return made


ITEMS = [item("c-old", "acme", ("insult", "aggressive"), "review", 600),
         item("c-spam", "boreal", ("spam",), "hide", 300, author="@Promo_Bot"),
         item("c-new", "acme", ("needs_answer",), "respond", 60),
         item("c-done", "acme", ("detractor",), "review", 900)]


@pytest.fixture
def api(settings) -> Iterator[ServedApi]:
    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in ITEMS])
    done = apply_decision(case_of(ITEMS[3]), {"case_id": "c-done", "decision": "approve",
                                              "moderator": "alice", "decided_at": NOW - 30},
                          now=NOW)
    produce(settings, MODERATION_CLOSED, [(b"c-done", json.dumps(done.record).encode())])
    served = ServedApi(settings, token=TOKEN)
    yield served
    served.close()


def test_authentication(api: ServedApi) -> None:
    assert api.client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}):
        answer = api.client.get("/cases", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in answer.text
        post = api.client.post("/cases/c-new/decision", headers=headers,
                               json={"decision": "approve", "moderator": "mallory"})
        assert post.status_code == 401


def test_listing_and_cases(api: ServedApi) -> None:
    answer = api.client.get("/cases").json()
    assert [c["case_id"] for c in answer["cases"]] == ["c-old", "c-spam", "c-new"]  # oldest first
    assert answer["count"] == 3
    assert answer["cases"][0]["categories"] == ["insult", "aggressive"]
    assert [c["case_id"] for c in api.client.get("/cases?brand=acme").json()["cases"]] == [
        "c-old", "c-new"]
    assert [c["case_id"] for c in api.client.get("/cases?category=spam").json()["cases"]] == ["c-spam"]
    limited = api.client.get("/cases?limit=1").json()
    assert (limited["count"], len(limited["cases"])) == (3, 1)
    # Posted since (a crisis' own cases behind a backlog): Unix seconds or ISO 8601.
    since = datetime.fromtimestamp(NOW - 400, UTC).isoformat()
    for value in (f"{NOW - 400:.3f}", since.replace("+00:00", "Z")):
        recent = api.client.get("/cases", params={"posted_since": value}).json()
        assert [c["case_id"] for c in recent["cases"]] == ["c-spam", "c-new"], value
    # Earliest answer deadline first (here, posted a minute before queued: the same order).
    by_deadline = api.client.get("/cases?sort=respond_by").json()["cases"]
    assert [c["case_id"] for c in by_deadline] == ["c-old", "c-spam", "c-new"]
    assert [c["respond_by"] for c in by_deadline] == sorted(c["respond_by"] for c in by_deadline)
    for query, field in (("category=rude", "category"), ("limit=0", "limit"), ("limit=x", "limit"),
                         ("limit=5000", "limit"), ("sort=age", "sort"),
                         # digits to str.isdigit(), not to int(): superscript two, circled one,
                         # Arabic-Indic 12
                         ("posted_since=yesterday", "posted_since"),
                         ("limit=%C2%B2", "limit"), ("limit=%E2%91%A0", "limit"),
                         ("limit=%D9%A1%D9%A2", "limit"),
                         # more digits than int() reads (4,300): was a 500
                         ("limit=" + "0" * 4400 + "1", "limit")):
        bad = api.client.get(f"/cases?{query}")
        assert bad.status_code == 400 and bad.json()["field"] == field, query
    # An empty or blank parameter is as absent (an HTML form's empty field, its "any"): an
    # empty limit and a blank choice were a 400.
    everything = api.client.get("/cases").json()
    for query in ("limit=", "limit=%20", "category=", "category=%20", "sort=%20%20",
                  "unassigned=%20", "brand=%20&limit=&sort="):
        blank = api.client.get(f"/cases?{query}")
        assert blank.status_code == 200 and blank.json() == everything, (query, blank.text)
    assert api.client.get("/cases/c-new").json()["status"] == "pending"
    done = api.client.get("/cases/c-done").json()
    assert done["status"] == "closed" and done["closed"]["moderator"] == "alice"
    # `closed` is the moderation.closed record as the agent wrote it (README): its `case` has
    # the agent's times, in Unix seconds, not the ISO 8601 of the rest of the answer.
    jsonschema.validate(done["closed"], json.loads(
        (ROOT / "streams/schemas/moderation_closed.v1.json").read_text()))
    assert isinstance(done["closed"]["case"]["received_at"], float)
    assert done["item"]["queued_at"].endswith("Z") and done["closed"]["decided_at"].endswith("Z")
    assert api.client.get("/cases/c-new").json()["closed"] is None
    assert api.client.get("/cases/nope").status_code == 404
    lost = api.client.get("/cases/closed")  # the closed cases are GET /closed
    assert lost.status_code == 404 and "listed by GET /closed" in lost.text


def test_decision_errors_and_success(settings, api: ServedApi) -> None:
    def post(case_id: str, **kwargs: object) -> tuple[int, dict]:
        answer = api.client.post(f"/cases/{case_id}/decision", **kwargs)  # type: ignore[arg-type]
        return answer.status_code, answer.json()

    good = {"decision": "reject", "moderator": "bob", "reason": "charte §2"}
    assert post("c-new", content=b"decision=reject", headers={"Content-Type": "text/plain"})[0] == 415
    status, body = post("c-new", content=b"{nope", headers={"Content-Type": "application/json"})
    assert (status, body["error"]) == (400, "invalid_json")
    for payload, words in (([1, 2], "JSON object"),
                           ({"decision": "maybe", "moderator": "bob"}, "decision must be one of"),
                           ({"decision": "approve"}, "moderator"),
                           ({"decision": "approve", "moderator": "bob", "decided_at": 0}, "unknown fields"),
                           # An answer seen on a platform is a collector's to write, not a moderator's.
                           ({"decision": "replied", "moderator": "bob", "answered_on": "youtube"},
                            "unknown fields"),
                           ({"decision": "approve", "moderator": "bob", "assignee": "x"}, "assignee"),
                           ({"decision": "approve", "moderator": "b" * 500}, "longer than")):
        status, body = post("c-new", json=payload)
        assert status == 400 and words in body["detail"], (payload, body)
    # Lone surrogates parse as JSON but could never be written: refused, not a 503 to retry.
    for raw in (b'{"decision":"approve","moderator":"al\\ud800ice"}',
                b'{"decision":"approve","moderator":"alice","reason":"\\udfff"}'):
        status, body = post("c-new", content=raw, headers={"Content-Type": "application/json"})
        assert (status, body["error"]) == (400, "invalid_field"), body
        assert "not valid Unicode text" in body["detail"]
    for encoding in ("deflate", "gzip"):  # bytes that do not inflate: was a 500
        status, body = post("c-new", content=b"not compressed at all",
                            headers={"Content-Type": "application/json",
                                     "Content-Encoding": encoding})
        assert (status, body["error"]) == (400, "undecodable_body"), body
    big = {**good, "reason": "x" * (MAX_BODY_BYTES + 10)}
    assert post("c-new", json=big)[0] == 413
    assert post("ghost", json=good)[0] == 404
    status, body = post("c-done", json=good)
    assert (status, body["error"]) == (409, "already_closed")
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []

    status, body = post("c-new", json=good)
    assert status == 202 and body["decision"]["case_id"] == "c-new"
    written = read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)
    assert [(r.key, json.loads(r.value)) for r in written] == [(b"c-new", body["decision"])]
    assert {"case_id", "decision", "moderator", "decided_at", "reason"} == set(body["decision"])


def test_decision_bodies_content_codings_and_long_numbers(settings, api: ServedApi) -> None:
    """Codings undone here (x-gzip too), others a JSON 415 naming the supported ones (was a
    plain-text 400 from aiohttp's parser for br/zstd, `foo` taken as identity); a decoded size
    over the limit is 413; an integer too long for Python names its field (was invalid_json)."""
    def post(content: bytes, **headers: str) -> tuple[int, dict, httpx.Headers]:
        answer = api.client.post("/cases/c-new/decision", content=content,
                                 headers={"Content-Type": "application/json", **headers})
        return answer.status_code, answer.json(), answer.headers

    good = json.dumps({"decision": "reject", "moderator": "bob"}).encode()
    for coding in ("br", "zstd", "foo", "gzip, gzip"):
        status, body, headers = post(gzip.compress(good), **{"Content-Encoding": coding})
        assert (status, body["error"]) == (415, "unsupported_content_encoding"), body
        assert coding in body["detail"] and "identity, gzip, x-gzip, deflate" in body["detail"]
        assert headers["Accept-Encoding"] == "identity, gzip, x-gzip, deflate"
    big = json.dumps({"decision": "reject", "moderator": "bob", "reason": " " * MAX_BODY_BYTES})
    status, body, _ = post(gzip.compress(big.encode()), **{"Content-Encoding": "gzip"})
    assert (status, body["error"]) == (413, "payload_too_large"), body
    status, body, _ = post(b'{"decision": "reject", "moderator": ' + b"7" * 5000 + b"}")
    assert (status, body["error"], body["field"]) == (400, "invalid_field", "moderator"), body
    assert body["detail"] == "moderator is a number too long (5000 digits, at most 4300)"
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []

    status, body, _ = post(gzip.compress(good), **{"Content-Encoding": "x-gzip"})
    assert status == 202, body
    written = read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)
    assert [json.loads(r.value)["moderator"] for r in written] == ["bob"]


def test_a_second_closing_decision_waits_for_none(settings, api: ServedApi) -> None:
    """No worker runs here: a decision written stays unapplied, as while the agent lags or is
    down. A second moderator deciding otherwise was acknowledged (202) and then dropped by the
    agent, which applies the first; now it is told."""
    from veille.moderate.commands import ModerateError, decide

    def post(case_id: str, body: dict) -> tuple[int, dict]:
        answer = api.client.post(f"/cases/{case_id}/decision", json=body)
        return answer.status_code, answer.json()

    assert post("c-new", {"decision": "approve", "moderator": "alice"})[0] == 202
    status, body = post("c-new", {"decision": "reject", "moderator": "bob"})
    assert (status, body["error"]) == (409, "decision_pending"), body
    assert "approve by 'alice'" in body["detail"]
    # The list says so, for nobody else to work on it.
    listed = {c["case_id"]: c for c in api.client.get("/cases").json()["cases"]}
    assert listed["c-new"]["decision_pending"]["decision"] == "approve"
    assert listed["c-new"]["decision_pending"]["moderator"] == "alice"
    assert listed["c-old"]["decision_pending"] is None
    with pytest.raises(ModerateError, match="already has a decision waiting to be applied: "
                                            "approve by alice"):
        decide(settings, "c-new", "replied", moderator="carol")
    # An escalation closes nothing: a decision may follow it, and only then is the case taken.
    assert post("c-old", {"decision": "escalate", "moderator": "alice", "assignee": "lead"})[0] == 202
    assert post("c-old", {"decision": "reject", "moderator": "lead"})[0] == 202
    assert post("c-old", {"decision": "approve", "moderator": "bob"})[1]["error"] == "decision_pending"
    # A decision the agent would refuse (before the case was queued) blocks nothing.
    decide(settings, "c-spam", "approve", moderator="eve", decided_at=NOW - 10 * 86400, check=False)
    assert post("c-spam", {"decision": "reject", "moderator": "bob"})[0] == 202
    written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS, expect=5,
                                                       settle=0.5)]
    by_case: dict[str, list[str]] = {}
    for d in written:  # in order within a case (keyed by case id: one partition)
        by_case.setdefault(d["case_id"], []).append(d["decision"])
    assert by_case == {"c-new": ["approve"], "c-old": ["escalate", "reject"],
                       "c-spam": ["approve", "reject"]}


def test_a_decision_written_just_after_another_tools_is_told_it_lost(settings, api: ServedApi,
                                                                     monkeypatch) -> None:
    """Two tools deciding at once (the API and the CLI, two API replicas): each passes its
    check before the other writes. Whichever is first on the topic closes the case; the other
    was acknowledged and then silently ignored by the agent. Here the other tool writes between
    this one's check and its write (a stand-in for the timing): the API answers 409
    `decided_first`, the CLI fails naming the winner, and the winner hears nothing of it."""
    from veille.moderate.commands import ModerateError, decide
    from veille.moderate.store import ModerationStore

    original = ModerationStore.decide_many  # the one write of the API and the CLI
    rivals = iter([("c-new", "reject", "bob"), ("c-old", "approve", "dave")])

    def rival_first(self, decisions, decided_at=None):
        rival = next(rivals, None)
        if rival is not None:  # the other tool's decision lands first
            other = ModerationStore(settings)
            try:
                original(other, [(rival[0], {"decision": rival[1], "moderator": rival[2]})])
            finally:
                other.close()
        return original(self, decisions, decided_at)

    monkeypatch.setattr(ModerationStore, "decide_many", rival_first)
    answer = api.client.post("/cases/c-new/decision",
                             json={"decision": "approve", "moderator": "alice"})
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["error"] == "decided_first"
    assert body["detail"].startswith("decision written, but case 'c-new' was decided first by "
                                     "'bob' (reject)")
    with pytest.raises(ModerateError, match="decision written, but case 'c-old' was decided "
                                            r"first by 'dave' \(approve\)"):
        decide(settings, "c-old", "replied", moderator="carol")
    # With no rival, the decision is the case's: accepted as before.
    assert api.client.post("/cases/c-spam/decision",
                           json={"decision": "reject", "moderator": "erin"}).status_code == 202
    written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS, expect=5,
                                                       settle=0.5)]
    assert [(d["case_id"], d["moderator"]) for d in written if d["case_id"] == "c-new"] == [
        ("c-new", "bob"), ("c-new", "alice")]


def test_refuses_to_serve_without_a_token_beyond_loopback(settings) -> None:
    import asyncio

    api = ModerationApi(settings.with_(moderation_api_host="0.0.0.0", moderation_api_token=""))
    with pytest.raises(ApiConfigError, match="VEILLE_MODERATION_API_TOKEN"):
        asyncio.run(api.start())
    # Loopback without a token: allowed, and no credentials asked.
    ensure_topics(settings)
    served = ServedApi(settings)
    try:
        assert served.client.get("/cases").json() == {"count": 0, "cases": []}
    finally:
        served.close()


def test_records_that_are_not_objects_do_not_hide_the_next_ones(settings, api: ServedApi) -> None:
    assert api.client.get("/cases").json()["count"] == 3  # the API has read the topics once
    done = apply_decision(case_of(ITEMS[2]), {"case_id": "c-new", "decision": "approve",
                                              "moderator": "bob", "decided_at": NOW - 5},
                          now=NOW)
    produce(settings, MODERATION_CLOSED, [(b"x", b"null"), (b"x", b"[1,2]"), (b"x", b"7"),
                                          (b"c-new", json.dumps(done.record).encode())])
    produce(settings, MODERATION_QUEUE, [(b"x", b"null"), (b"x", b"[1,2]"),
                                         (b"c-late", json.dumps(item("c-late", "acme", ("spam",),
                                                                     "hide", 30)).encode())])
    answer = api.client.get("/cases")
    assert answer.status_code == 200
    assert [c["case_id"] for c in answer.json()["cases"]] == ["c-old", "c-spam", "c-late"]
    assert api.client.get("/cases/c-new").json()["status"] == "closed"
    status = api.client.post("/cases/c-new/decision",
                             json={"decision": "reject", "moderator": "carol"}).status_code
    assert status == 409


def test_reader_skips_a_record_its_handler_cannot_take(settings) -> None:
    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE, [(b"a", b'{"n": 1}'), (b"b", b'{"n": "boom"}'),
                                         (b"c", b'{"n": 3}')])
    taken: list[int] = []

    def handle(record: dict) -> None:
        taken.append(record["n"] + 0)  # TypeError for "boom"

    reader = TopicReader(settings, {MODERATION_QUEUE: handle})
    try:
        assert reader.refresh() == 3
    finally:
        reader.close()
    assert taken == [1, 3]


def test_the_cli_listing_survives_a_lone_surrogate_on_the_queue(settings) -> None:
    """A queue record written by another producer may hold one: printing it raised
    UnicodeEncodeError and hid every case after it."""
    import io

    from veille.moderate.commands import list_cases

    ensure_topics(settings)
    odd = {**item("c-odd", "acme", ("insult",), "review", 700),
           "text": "bad \ud800 acme \x1b[2J\u202e"}
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in (odd, *ITEMS[:3])])
    for as_json in (False, True):
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")  # as a UTF-8 terminal
        assert list_cases(settings, as_json=as_json, out=out) == 4
        out.flush()
        printed = raw.getvalue().decode("utf-8")
        assert all(case in printed for case in ("c-odd", "c-old", "c-spam", "c-new")), printed
        assert "\\ud800" in printed
        # A mention's text comes from anyone: a terminal must not act on it.
        assert "\x1b" not in printed and "\u202e" not in printed, printed
        assert "\\u001b[2J" in printed


def test_the_cli_listing_notes_a_brand_that_is_not_watched(settings, capsys) -> None:
    """`--brand acmee` listed nothing without a word: a typo looked like an empty queue."""
    import io

    from veille.moderate.commands import list_cases

    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in ITEMS[:2]])
    assert list_cases(settings, brand="acmee", out=io.StringIO()) == 0
    assert "no brand 'acmee' in the watch list (acme, boreal)" in capsys.readouterr().err
    # A watched brand: no note, with cases or without.
    assert list_cases(settings, brand="boreal", out=io.StringIO()) == 1
    assert list_cases(settings, brand="acme", category="spam", out=io.StringIO()) == 0
    assert capsys.readouterr().err == ""


def test_listing_shows_how_pending_cases_were_escalated(api: ServedApi) -> None:
    """An escalation keeps a case pending: the list and the case show it (count, severity now,
    assignee), read from moderation.decisions; before, an escalated case looked like any other."""
    assert api.client.get("/cases/c-old").json()["item"]["escalation"] is None
    escalate = {"decision": "escalate", "moderator": "alice", "assignee": "lead", "reason": "legal"}
    assert api.client.post("/cases/c-old/decision", json=escalate).status_code == 202
    cases = {c["case_id"]: c for c in api.client.get("/cases").json()["cases"]}
    assert cases["c-spam"]["escalation"] is None and cases["c-new"]["escalation"] is None
    shown = cases["c-old"]["escalation"]
    assert {k: shown[k] for k in ("count", "severity", "assignee", "moderator", "reason")} == {
        "count": 1, "severity": "high", "assignee": "lead", "moderator": "alice", "reason": "legal"}
    assert cases["c-old"]["severity"] == "medium"  # triage's, as on the queue
    assert api.client.get("/cases/c-old").json()["item"]["escalation"] == shown


def test_of_two_moderators_taking_a_case_at_once_the_second_is_told(settings, api: ServedApi,
                                                                      monkeypatch) -> None:
    """Alice and Bob both see a complaint no one has taken and take it at the same moment
    (two API replicas, or the API and the CLI): both checks pass. Each take is written
    conditional on the case being no one's (if_assigned_to: null), so the agent applies the
    first on the topic and ignores the second as a conflict; the second moderator is told
    (409 `assigned_first`, a CLI error) instead of answering the author too. A client may give
    if_assigned_to itself (what its screen showed): refused before anything is written when the
    case is someone else's by then."""
    from veille.moderate.commands import ModerateError, decide
    from veille.moderate.store import ModerationStore

    original = ModerationStore.decide_many  # the one write of the API and the CLI
    rivals = iter([("c-new", "bob"), ("c-old", "dave")])

    def rival_first(self, decisions, decided_at=None):
        rival = next(rivals, None)
        if rival is not None:  # the other tool's take lands first
            other = ModerationStore(settings)
            try:
                original(other, [(rival[0], {"decision": "assign", "moderator": rival[1],
                                             "assignee": rival[1], "if_assigned_to": None})])
            finally:
                other.close()
        return original(self, decisions, decided_at)

    monkeypatch.setattr(ModerationStore, "decide_many", rival_first)
    answer = api.client.post("/cases/c-new/decision", json={"decision": "assign", "moderator": "alice"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"] == "assigned_first"
    assert answer.json()["detail"].startswith("decision written, but case 'c-new' is bob's since "
                                              "assign by 'bob' at ")
    assert answer.json()["assigned"]["assignee"] == "bob"
    with pytest.raises(ModerateError, match="case 'c-old' is dave's since assign by 'dave'"):
        decide(settings, "c-old", "assign", moderator="carol", assignee="carol")
    cases = {c["case_id"]: c for c in api.client.get("/cases").json()["cases"]}
    assert cases["c-new"]["assigned"]["assignee"] == "bob"  # the view folds as the agent does
    assert cases["c-old"]["assigned"]["assignee"] == "dave"
    # What the client saw (no one) is no longer so: refused, nothing written.
    stale = api.client.post("/cases/c-new/decision", json={
        "decision": "assign", "moderator": "erin", "if_assigned_to": None})
    assert stale.status_code == 409 and stale.json()["error"] == "assigned_first", stale.text
    assert stale.json()["assigned"]["assignee"] == "bob"
    # Shown as is to the moderator: null is "no one", not Python's None (was "not None's").
    assert stale.json()["detail"] == "case 'c-new' is bob's, not no one's (if_assigned_to)"
    # ... even when the take would change nothing: what the client saw is what it is told.
    seen = api.client.post("/cases/c-new/decision", json={
        "decision": "assign", "moderator": "bob", "if_assigned_to": "dave"})
    assert seen.status_code == 409 and seen.json()["error"] == "assigned_first", seen.text
    assert seen.json()["detail"] == "case 'c-new' is bob's, not dave's (if_assigned_to)"
    # A lead giving bob's case to erin, knowing it is bob's: applied.
    given = api.client.post("/cases/c-new/decision", json={
        "decision": "assign", "moderator": "lead", "assignee": "erin", "if_assigned_to": "bob"})
    assert given.status_code == 202, given.text
    assert given.json()["previously_assigned"]["assignee"] == "bob"
    bad = api.client.post("/cases/c-new/decision", json={
        "decision": "approve", "moderator": "lead", "if_assigned_to": "erin"})
    assert bad.status_code == 400 and "only an assignment or an unassignment" in bad.text
    written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS, expect=5,
                                                       settle=0.5)]
    in_order = {case: [d["moderator"] for d in written if d["case_id"] == case]
                for case in ("c-new", "c-old")}  # a case's partition keeps its order
    assert in_order == {"c-new": ["bob", "alice", "lead"], "c-old": ["dave", "carol"]}
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    for record in written:
        jsonschema.validate(record, schema)


def test_a_moderator_takes_a_case_and_lists_their_own_or_the_untaken(settings, api: ServedApi) -> None:
    """Two moderators working one queue both took the same complaint and both answered its
    author. `assign` takes a case (or gives it); the list says who works on each, and filters
    a moderator's own cases or those no one took. The record written is the schema's."""
    take = {"decision": "assign", "moderator": "alice"}  # no assignee: the moderator takes it
    answer = api.client.post("/cases/c-new/decision", json=take)
    assert answer.status_code == 202, answer.text
    # Written conditional on the case being no one's, as checked: a rival's take landing first
    # would make the agent ignore it (see the next test).
    assert answer.json()["decision"]["assignee"] == "alice"
    assert answer.json()["decision"]["if_assigned_to"] is None
    assert answer.json()["previously_assigned"] is None
    assert answer.json()["escalated_meanwhile"] is None
    # Taking it again writes nothing (a double click without an Idempotency-Key).
    again = api.client.post("/cases/c-new/decision", json=take)
    assert again.status_code == 200, again.text
    assert (again.json()["unchanged"], again.json()["decision"],
            again.json()["assigned"]["assignee"]) == (True, None, "alice")
    nobody = api.client.post("/cases/c-old/decision", json={"decision": "unassign", "moderator": "bob"})
    assert nobody.status_code == 200 and nobody.json()["assigned"] is None, nobody.text
    cases = {c["case_id"]: c for c in api.client.get("/cases").json()["cases"]}
    assert cases["c-new"]["assigned"]["assignee"] == "alice"
    assert cases["c-new"]["decision_pending"] is None  # taken, not decided
    assert cases["c-old"]["assigned"] is None
    mine = api.client.get("/cases?assignee=alice").json()
    assert (mine["count"], [c["case_id"] for c in mine["cases"]]) == (1, ["c-new"])
    free = api.client.get("/cases?unassigned=true").json()
    assert [c["case_id"] for c in free["cases"]] == ["c-old", "c-spam"]
    for query in ("unassigned=yes", "assignee=alice&unassigned=true",
                  "unassigned=true&unassigned=false"):
        bad = api.client.get(f"/cases?{query}")
        assert bad.status_code == 400 and bad.json()["field"] == "unassigned", query
    twice = api.client.get("/cases?assignee=alice&assignee=bob")  # not read as alice alone
    assert twice.status_code == 400 and "assignee is given 2 times" in twice.text
    assert api.client.get("/cases?assignee=%20%20").json()["count"] == 3  # blank: no filter
    assert api.client.get("/cases?assignee=ALICE").json()["count"] == 1  # as people type it
    # Given back: untaken again; the answer says whose it was.
    back = api.client.post("/cases/c-new/decision", json={"decision": "unassign", "moderator": "alice"})
    assert back.status_code == 202, back.text
    assert back.json()["previously_assigned"]["assignee"] == "alice"
    assert back.json()["decision"]["if_assigned_to"] == "alice"
    assert [c["case_id"] for c in api.client.get("/cases?unassigned=true").json()["cases"]] == [
        "c-old", "c-spam", "c-new"]
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS, expect=2, settle=0.2)]
    assert [d["decision"] for d in written] == ["assign", "unassign"]
    for record in written:
        jsonschema.validate(record, schema)


def read_answer(conn: socket.socket, buffered: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer from `conn` (status, lower-cased headers, body by its Content-Length);
    `buffered` keeps what was read past it. A `100 Continue` is an answer of its own here."""
    while b"\r\n\r\n" not in buffered:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before an answer: {bytes(buffered)!r}"
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    size = int(headers.get("content-length", "0"))
    while len(rest) < size:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed in an answer's body: {rest!r}"
        rest += chunk
    buffered[:] = rest[size:]
    return int(status_line.split()[1]), headers, rest[:size]


def test_expect_100_continue_refuses_before_the_body_is_sent(settings, api: ServedApi) -> None:
    """Clients such as curl send `Expect: 100-continue` before a large body: the refusals a decision's
    headers already say (credentials, size, content type or coding, another expectation) come
    instead of the `100 Continue`, as JSON, with `Connection: close` (the body is not awaited).
    Before: aiohttp's own handler sent `100 Continue` whatever the request, the client sent its
    body and only then got the refusal (and a plain-text 417 for another expectation)."""
    host, port = api.api.url.removeprefix("http://").split(":")
    body = json.dumps({"decision": "reject", "moderator": "bob", "reason": "é" * 900}).encode()

    def head(length: int = len(body), case_id: str = "c-new", **headers: str) -> bytes:
        fields = {"Host": "x", "Authorization": f"Bearer {TOKEN}",
                  "Content-Type": "application/json", "Content-Length": str(length),
                  "Expect": "100-continue", **headers}
        return (f"POST /cases/{case_id}/decision HTTP/1.1\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v) + "\r\n").encode()

    supported = "identity, gzip, x-gzip, deflate"
    for request, status, error in (
            (head(Authorization=""), 401, "unauthorized"),
            (head(Authorization="Bearer wrong"), 401, "unauthorized"),
            (head(MAX_BODY_BYTES + 1), 413, "payload_too_large"),
            (head(**{"Content-Type": "text/plain"}), 415, "unsupported_media_type"),
            (head(**{"Content-Encoding": "br"}), 415, "unsupported_content_encoding"),
            (head(**{"Content-Encoding": "gzip, gzip"}), 415, "unsupported_content_encoding"),
            (head(Expect="200-ok"), 417, "expectation_failed")):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(request)  # and no body: a client waits for the 100 Continue
            buffered = bytearray()
            got, headers, answer = read_answer(conn, buffered)
            assert got == status, (request, got, answer)  # was 100 first
            assert json.loads(answer)["error"] == error, answer
            assert headers["connection"] == "close" and not buffered
        if status == 401:
            assert headers["www-authenticate"].startswith("Bearer") and TOKEN not in answer.decode()
        if error == "payload_too_large":
            assert json.loads(answer)["limit"] == MAX_BODY_BYTES
        if error == "unsupported_content_encoding":
            assert headers["accept-encoding"] == supported and supported in answer.decode()
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []

    # A good request: 100 Continue, then the body, then 202 on the same connection.
    packed = gzip.compress(body)
    for request, content in ((head(), body),
                             (head(len(packed), "c-old", **{"Content-Encoding": "gzip"}), packed)):
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(request)
            buffered = bytearray()
            assert read_answer(conn, buffered)[0] == 100
            conn.sendall(content)
            got, _, answer = read_answer(conn, buffered)
            assert got == 202, answer
        assert json.loads(answer)["decision"]["moderator"] == "bob"
    written = read_all(settings, MODERATION_DECISIONS, expect=2, settle=0.5)
    assert sorted(r.key for r in written) == [b"c-new", b"c-old"]


def test_decisions_on_cases_not_on_the_queue_are_bounded(settings, caplog) -> None:
    """The API reads moderation.decisions for as long as it runs: decisions another tool wrote
    on case ids never queued were all kept, forever. Now those with no queue item are kept up
    to a bound (max_orphan_decisions, the oldest dropped; VEILLE_MODERATION_HOLD_SECONDS after
    they were read), checked once the topics are read to their end, and logged; a decision read
    before its item still applies when the item comes within the bound."""
    import logging

    from tests.moderation_helpers import decision

    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE, [(b"c-old", json.dumps(ITEMS[0]).encode())])
    served = ServedApi(settings.with_(moderation_hold_seconds=1234.0), token=TOKEN)
    view = served.api.store.view
    assert view.orphan_seconds == 1234.0  # the agent's hold
    view.max_orphan_decisions = 2
    try:
        with caplog.at_level(logging.WARNING, logger="veille.moderate.store"):
            produce(settings, MODERATION_DECISIONS,
                    [decision(f"ghost-{n}", "approve") for n in range(5)])
            assert served.client.get("/cases").json()["count"] == 1
            assert len(view.decisions) == 2 and all(k.startswith("ghost-") for k in view.decisions)
            assert "dropped 3 decisions on case ids with no queue item" in caplog.text
            # Read before its item (written later): kept, the newest, and applied once it comes.
            produce(settings, MODERATION_DECISIONS, [decision("c-late", "approve", "alice")])
            assert served.client.get("/cases").json()["count"] == 1
            assert "c-late" in view.decisions and len(view.decisions) == 2
            produce(settings, MODERATION_QUEUE,
                    [(b"c-late", json.dumps(item("c-late", "acme", ("spam",), "hide", 30)).encode())])
            answer = served.client.post("/cases/c-late/decision",
                                        json={"decision": "reject", "moderator": "bob"})
            assert (answer.status_code, answer.json()["error"]) == (409, "decision_pending")
            assert "approve by 'alice'" in answer.json()["detail"]
            # Past their age, the orphans left go too (here at once); the case's own stays.
            view.orphan_seconds = 0.0
            assert served.client.get("/cases").json()["count"] == 2
            assert list(view.decisions) == ["c-late"]
            assert (view.orphans_evicted, view.orphans_expired, view.orphan_decisions) == (4, 1, 0)
    finally:
        served.close()


def test_closed_cases_are_forgotten_as_the_agent_forgets_them(settings, api: ServedApi) -> None:
    """The API kept every queue item (with its mention's text) and closed record it ever read,
    for as long as it ran. A closed case now goes once decided more than the agent's 30 days
    ago (the API's clock is injected here): it is then unknown, as to the agent, and a decision
    on it is refused as one on an unknown case; pending cases stay, however old. The report,
    which reads the topics from the start, still counts it."""
    import io

    from veille.moderate.commands import report
    from veille.moderation.cases import iso, parse_epoch

    clock = [NOW]
    api.api.store.clock = lambda: clock[0]
    assert api.client.get("/cases/c-done").json()["status"] == "closed"
    decided = parse_epoch(iso(NOW - 30), "decided_at")  # as written on moderation.closed
    clock[0] = decided + 30 * 86400  # exactly 30 days: still the agent's
    assert api.client.get("/cases/c-done").status_code == 200
    clock[0] += 1
    answer = api.client.get("/cases/c-done")
    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_case"), answer.text
    assert answer.json()["detail"] == ("no case 'c-done' on the moderation queue (closed cases are "
                                       "kept 30 days after their decision)")
    post = api.client.post("/cases/c-done/decision", json={"decision": "reject", "moderator": "bob"})
    assert (post.status_code, post.json()) == (404, answer.json())  # was 409 already_closed
    # In French when asked (`veille moderate decide --lang fr --api`): the refusal's words.
    post = api.client.post("/cases/c-done/decision", json={"decision": "reject", "moderator": "bob"},
                           headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert post.json()["detail"].startswith("pas de dossier 'c-done' dans la file de modération")
    assert api.client.get("/cases").json()["count"] == 3  # pending: never forgotten
    view = api.api.store.view
    assert "c-done" not in view.items and "c-done" not in view.closed
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []
    # Queued again later (a replay): the agent, which forgot it too, opens it again; so does
    # the API.
    produce(settings, MODERATION_QUEUE, [(b"c-done", json.dumps(ITEMS[3]).encode())])
    assert api.client.get("/cases/c-done").json()["status"] == "pending"
    counted = report(settings, NOW - 3600, NOW + 3600, out=io.StringIO())
    assert (counted.total.received, counted.total.processed) == (4, 1)


def test_a_broker_gone_quiet_is_a_503_not_a_stale_answer(settings) -> None:
    """With its broker gone, the API answered 200 from its last copy in 0.1 s: the high
    watermarks of its last fetches said it was caught up. Each read now starts with a round
    trip to the broker; once it is back (an empty one here: memory storage) reads resume."""
    from tests.kafka_helpers import start_broker
    from veille.broker import EmbeddedBroker
    from veille.moderate.store import ModerationStore

    broker = start_broker()
    served = None
    try:
        s2 = settings.with_(broker_url=broker.url)
        ensure_topics(s2)
        produce(s2, MODERATION_QUEUE, [(i["case_id"].encode(), json.dumps(i).encode())
                                       for i in ITEMS[:2]])
        store = ModerationStore(s2, ack_timeout=2.0, read_timeout=3.0)
        served = ServedApi(s2, token=TOKEN, store=store)
        assert served.client.get("/cases").json()["count"] == 2
        broker.process.kill()  # type: ignore[union-attr]
        broker.stop()
        for path in ("/cases", f"/cases/{ITEMS[0]['case_id']}"):
            started = time.monotonic()
            answer = served.client.get(path)
            assert (answer.status_code, answer.json()["error"]) == (503, "broker_unavailable"), \
                answer.text
            assert answer.headers["Retry-After"] and time.monotonic() - started < 20
        assert served.client.get("/healthz").status_code == 200  # alive: a restart fixes nothing
        broker = EmbeddedBroker(broker.port).start()
        ensure_topics(s2)
        produce(s2, MODERATION_QUEUE, [(ITEMS[2]["case_id"].encode(), json.dumps(ITEMS[2]).encode())])
        deadline = time.monotonic() + 30
        while True:  # its consumer reconnects by itself
            answer = served.client.get("/cases")
            if answer.status_code == 200 and answer.json()["count"] == 3:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.5)
    finally:
        if served is not None:
            served.close()
        broker.stop()


def test_behind_a_single_sign_on_proxy_the_moderator_is_the_logged_in_user(settings) -> None:
    """VEILLE_MODERATION_API_USER_HEADER: the proxy names the user; a decision is that user's,
    whatever the body claims (the token authenticated the tool, and a client could write any
    name into the record of who decided what). A header name no request could carry is refused
    at start."""
    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in ITEMS[:3]])
    with pytest.raises(ApiConfigError, match="is not an HTTP header name"):
        asyncio.run(ModerationApi(settings.with_(moderation_api_user_header="X User")).start())
    with pytest.raises(ApiConfigError, match="carries credentials or request data"):
        asyncio.run(ModerationApi(settings.with_(moderation_api_user_header="Authorization")).start())
    served = ServedApi(settings.with_(moderation_api_user_header="X-Forwarded-User"), token=TOKEN)
    try:
        def post(case_id: str, body: dict, user: str | None) -> httpx.Response:
            headers = {"X-Forwarded-User": user} if user is not None else {}
            return served.client.post(f"/cases/{case_id}/decision", json=body, headers=headers)

        for user in (None, ""):
            answer = post("c-new", {"decision": "approve", "moderator": "mallory"}, user)
            assert (answer.status_code, answer.json()["error"]) == (401, "unauthenticated_user")
        answer = post("c-new", {"decision": "approve", "moderator": "mallory"}, "alice@acme.fr")
        assert (answer.status_code, answer.json()["error"]) == (403, "moderator_mismatch")
        # A proxy that appends to a header the client sent: refused, not the first one taken.
        twice = served.client.post("/cases/c-new/decision", json={"decision": "approve"},
                                   headers=[("X-Forwarded-User", "mallory"),
                                            ("X-Forwarded-User", "alice@acme.fr")])
        assert (twice.status_code, twice.json()["error"]) == (400, "ambiguous_user")
        answer = post("c-new", {"decision": "replied"}, "alice@acme.fr")  # no name: the user's
        assert answer.status_code == 202, answer.text
        assert answer.json()["decision"]["moderator"] == "alice@acme.fr"
        answer = post("c-old", {"decision": "reject", "moderator": "bob@acme.fr"}, "bob@acme.fr")
        assert answer.status_code == 202, answer.text
        # A screen's form with its fields left empty: as absent (until 2026-12-06 the empty
        # moderator was a 403 moderator_mismatch, the empty reason or assignee a 400).
        answer = post("c-spam", {"decision": "assign", "moderator": "", "assignee": "", "reason": " "},
                      "carol@acme.fr")
        assert answer.status_code == 202, answer.text
        assert {k: v for k, v in answer.json()["decision"].items() if k != "decided_at"} == {
            "case_id": "c-spam", "decision": "assign", "moderator": "carol@acme.fr",
            "assignee": "carol@acme.fr", "if_assigned_to": None}  # (who the API saw on it)
        written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS,
                                                           expect=3, settle=0.5)]
        assert sorted(d["moderator"] for d in written) == ["alice@acme.fr", "bob@acme.fr", "carol@acme.fr"]
    finally:
        served.close()


def test_decide_reads_the_one_partition_of_its_case(settings) -> None:
    """`veille moderate decide` read the three moderation topics whole (kept 400 days) to check
    one case; every record of a case is keyed by its id, so its partition of each topic is
    enough, and what it finds there is the same as from the whole topics."""
    from streams.topics import key_partition
    from veille.moderate.commands import ModerateError, decide
    from veille.moderate.store import ModerationStore

    ensure_topics(settings)
    items = [item(f"p-{n}", "acme", ("insult",), "review", 600 - n) for n in range(24)]
    produce(settings, MODERATION_QUEUE, [(i["case_id"].encode(), json.dumps(i).encode())
                                         for i in items])
    n = settings.topic_partitions
    home = key_partition(b"p-7", n)
    store = ModerationStore(settings, case_id="p-7")
    try:
        view = store.refresh()
        assert set(view.items) == {i["case_id"] for i in items
                                   if key_partition(i["case_id"].encode(), n) == home}
        assert "p-7" in view.items and len(view.items) < len(items)
    finally:
        store.close()
    decide(settings, "p-7", "approve", moderator="alice")
    with pytest.raises(ModerateError, match="already has a decision waiting to be applied"):
        decide(settings, "p-7", "reject", moderator="bob")
    with pytest.raises(ModerateError, match="no case 'p-99' on the moderation queue"):
        decide(settings, "p-99", "reject", moderator="bob")


def test_an_idempotency_key_makes_a_retry_or_a_double_click_write_once(settings,
                                                                        api: ServedApi) -> None:
    """A double-clicked escalate escalated twice (each decision stamped with its own time is
    no duplicate). Under the same Idempotency-Key the API answers again what it answered, and
    writes nothing more; the key with another decision is 422, a malformed key 400."""
    def post(body: dict, key: str | None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return api.client.post("/cases/c-old/decision", json=body, headers=headers)

    escalate = {"decision": "escalate", "moderator": "alice", "assignee": "lead"}
    first = post(escalate, "click-7f3a")
    again = post(escalate, "click-7f3a")
    assert (first.status_code, again.status_code) == (202, 202), again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    reused = post({"decision": "reject", "moderator": "alice"}, "click-7f3a")
    assert (reused.status_code, reused.json()["error"]) == (422, "idempotency_key_reused")
    for bad in ("", "x" * 256, "caf\u00e9"):
        answer = api.client.post("/cases/c-old/decision", json=escalate,
                                 headers={"Idempotency-Key": bad.encode("utf-8")})
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_header"), bad
    # A take retried under its key: replayed too (the API adds if_assigned_to to what it
    # writes; the key is compared with what the client sent).
    take = {"decision": "assign", "moderator": "bob"}
    took = api.client.post("/cases/c-new/decision", json=take, headers={"Idempotency-Key": "t-1"})
    retried = api.client.post("/cases/c-new/decision", json=take, headers={"Idempotency-Key": "t-1"})
    assert (took.status_code, retried.status_code) == (202, 202), retried.text
    assert retried.headers["Idempotent-Replayed"] == "true" and retried.json() == took.json()
    written = [json.loads(r.value) for r in read_all(settings, MODERATION_DECISIONS, expect=2,
                                                       settle=0.5)]
    assert sorted((d["case_id"], d["decision"]) for d in written) == [
        ("c-new", "assign"), ("c-old", "escalate")]
    # Without a key, the same request is a second escalation, as before.
    assert post(escalate, None).status_code == 202
    assert len(read_all(settings, MODERATION_DECISIONS, expect=3, settle=0.5)) == 3


def test_a_key_whose_request_got_503_is_not_written_again(settings) -> None:
    """A 503 is "not acknowledged", not "not written" (a broker that froze with the decision in
    hand writes it on waking): the key's retry must not write a second escalation. Here the
    broker holds the write but its acknowledgement is lost."""
    from veille.moderate.store import BrokerError, ModerationStore

    class LostAcknowledgement(ModerationStore):
        def decide_many(self, decisions: list, decided_at: float | None = None) -> list:
            super().decide_many(decisions, decided_at)
            return [BrokerError("the broker did not acknowledge the decision") for _ in decisions]

    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE, [(ITEMS[0]["case_id"].encode(), json.dumps(ITEMS[0]).encode())])
    served = ServedApi(settings, token=TOKEN, store=LostAcknowledgement(settings))
    try:
        escalate = {"decision": "escalate", "moderator": "alice"}
        headers = {"Idempotency-Key": "form-41"}
        first = served.client.post("/cases/c-old/decision", json=escalate, headers=headers)
        assert (first.status_code, first.json()["error"]) == (503, "broker_unavailable")
        retry = served.client.post("/cases/c-old/decision", json=escalate, headers=headers)
        assert (retry.status_code, retry.json()["error"]) == (409, "outcome_unknown"), retry.text
        written = read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)
        assert len(written) == 1  # the first request's, once
    finally:
        served.close()


def test_the_cli_takes_a_case_and_lists_who_works_on_what(settings, api: ServedApi) -> None:
    """`veille moderate decide CASE assign --moderator dave` takes the case for dave; the list
    shows it in the `assigned` column and filters on it; a colleague deciding a case dave took
    is told (not refused: a lead may close anyone's case)."""
    import subprocess
    import sys

    from tests.conftest import ROOT as REPO
    from tests.conftest import settings_env

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "veille.cli", "moderate", *args],
                              env=settings_env(settings), cwd=REPO, capture_output=True, text=True,
                              timeout=60)

    took = cli("decide", "c-spam", "prendre", "--moderator", "dave")  # French: assign
    assert took.returncode == 0, took.stderr
    assert "decision written: assign to dave on c-spam by dave" in took.stderr
    again = cli("decide", "c-spam", "assign", "--moderator", "dave")  # nothing to write
    assert again.returncode == 0, again.stderr
    assert "veille: nothing written: case 'c-spam' is already dave's (assign by dave at " in again.stderr
    nobody = cli("decide", "c-old", "unassign", "--moderator", "dave")
    assert nobody.returncode == 0 and "case 'c-old' is worked on by no one" in nobody.stderr
    listed = cli("list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[2]: line.split() for line in listed.stdout.splitlines()[1:4]}
    assert rows["c-spam"][7] == "dave" and rows["c-old"][7] == "-", listed.stdout
    mine = cli("list", "--assignee", "dave", "--json")
    assert [json.loads(line)["case_id"] for line in mine.stdout.splitlines()] == ["c-spam"]
    free = cli("list", "--unassigned", "--json")
    assert [json.loads(line)["case_id"] for line in free.stdout.splitlines()] == ["c-old", "c-new"]
    both = cli("list", "--unassigned", "--assignee", "dave")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    since = datetime.fromtimestamp(NOW - 400, UTC).strftime("%Y-%m-%dT%H:%M:%S")  # UTC, no offset
    recent = cli("list", "--posted-since", since, "--json")
    assert [json.loads(line)["case_id"] for line in recent.stdout.splitlines()] == ["c-spam", "c-new"]
    bad = cli("list", "--posted-since", "yesterday")
    assert bad.returncode == 2 and "--posted-since" in bad.stderr and "Traceback" not in bad.stderr
    closed = cli("decide", "c-spam", "rejeter", "--moderator", "erin")  # French: reject
    assert closed.returncode == 0, closed.stderr
    assert "note: case 'c-spam' was assigned to dave (assign by dave at " in closed.stderr


def test_closed_cases_newest_first_from_the_api_and_the_cli(settings, api: ServedApi) -> None:
    """Who decided what, and why: the closed cases of a period (the last day by default), newest
    decision first, filtered by decision, moderator, brand or category; from the API and from
    `veille moderate closed`. The fixture's c-done was approved by alice 30 s ago."""
    import subprocess
    import sys

    from tests.conftest import ROOT as REPO
    from tests.conftest import settings_env

    assert api.client.post("/cases/c-spam/decision", json={
        "decision": "reject", "moderator": "bob", "reason": "spam"}).status_code == 202
    from veille.moderation.cases import iso

    old = apply_decision(case_of(ITEMS[0]), {"case_id": "c-old", "decision": "reject",
                                             "moderator": "bob", "decided_at": NOW - 20}, now=NOW)
    three_days_ago = {**(old.record or {}), "decided_at": iso(NOW - 3 * 86400)}
    produce(settings, MODERATION_CLOSED, [(b"c-old", json.dumps(three_days_ago).encode())])
    # The agent is not running here: the closed record of c-spam is written as it would.
    spam = apply_decision(case_of(ITEMS[1]), {"case_id": "c-spam", "decision": "reject",
                                              "moderator": "bob", "reason": "spam",
                                              "decided_at": NOW - 10}, now=NOW)
    produce(settings, MODERATION_CLOSED, [(b"c-spam", json.dumps(spam.record).encode())])
    day = api.client.get("/closed").json()
    assert (day["count"], [c["case_id"] for c in day["cases"]]) == (2, ["c-spam", "c-done"])
    assert day["cases"][0]["reason"] == "spam" and day["cases"][0]["text"] == "text of c-spam"
    week = api.client.get(f"/closed?since={NOW - 7 * 86400:.0f}&decision=reject").json()
    assert [c["case_id"] for c in week["cases"]] == ["c-spam", "c-old"]
    assert [c["case_id"] for c in api.client.get(
        f"/closed?since={NOW - 7 * 86400:.0f}&moderator=alice").json()["cases"]] == ["c-done"]
    assert [c["case_id"] for c in api.client.get("/closed?brand=boreal").json()["cases"]] == ["c-spam"]
    assert api.client.get("/closed?limit=1").json()["count"] == 2
    for query in ("limit=", "since=%20", "until=%20", "decision=%20", "category=%20&moderator="):
        blank = api.client.get(f"/closed?{query}")  # as absent, as on /cases
        assert blank.status_code == 200 and blank.json() == day, (query, blank.text)
    for query, field in (("decision=escalate", "decision"), ("since=yesterday", "since"),
                         ("until=2026-02-31", "until"), ("category=rude", "category"),
                         ("limit=0", "limit"), ("status=closed", "status"),
                         (f"since={NOW:.0f}&until={NOW - 60:.0f}", "until"),
                         (f"since={NOW:.0f}&until={NOW:.0f}", "until"),
                         # Older than the API keeps closed cases: a partial answer would read
                         # as complete.
                         (f"since={NOW - 31 * 86400:.0f}", "since")):
        bad = api.client.get(f"/closed?{query}")
        assert bad.status_code == 400 and bad.json()["field"] == field, query
    assert "keeps closed cases 30 days" in api.client.get(f"/closed?since={NOW - 31 * 86400:.0f}").text

    cli = subprocess.run([sys.executable, "-m", "veille.cli", "moderate", "closed", "--decision", "reject"],
                         env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert lines[0].split()[:4] == ["decided", "(UTC)", "case", "brand"]
    assert [line.split()[2] for line in lines[1:-1]] == ["c-spam"]
    assert "spam | text of c-spam" in lines[1] and lines[-1].startswith("1 closed")
    assert lines[1].startswith(datetime.fromtimestamp(NOW - 10, UTC).strftime("%Y-%m-%d %H:%M  "))
    # A French team reads its own clock (--tz; until 2026-12-06 the times were UTC only), and
    # --since without an offset is of that zone too: NOW - 20 in Paris (after c-done, 30 s ago).
    paris = ZoneInfo("Europe/Paris")
    cli = subprocess.run([sys.executable, "-m", "veille.cli", "moderate", "closed", "--tz", "Europe/Paris",
                          "--since", datetime.fromtimestamp(NOW - 20, paris).strftime("%Y-%m-%dT%H:%M:%S")],
                         env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert lines[0].split()[:4] == ["decided", "(Europe/Paris)", "case", "brand"]
    assert [line.split()[2] for line in lines[1:-1]] == ["c-spam"]
    assert lines[1].startswith(datetime.fromtimestamp(NOW - 10, paris).strftime("%Y-%m-%d %H:%M  "))
    cli = subprocess.run([sys.executable, "-m", "veille.cli", "moderate", "closed", "--tz", "Paris"],
                         env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "--tz: unknown time zone" in cli.stderr, cli.stderr
    cli = subprocess.run([sys.executable, "-m", "veille.cli", "moderate", "closed", "--json",
                          "--since", "2000-01-01"],
                         env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert [json.loads(x)["case_id"] for x in cli.stdout.splitlines()] == ["c-spam", "c-done", "c-old"]
    cli = subprocess.run([sys.executable, "-m", "veille.cli", "moderate", "closed",
                          "--since", "2026-12-02", "--until", "2026-12-01"],
                         env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert cli.returncode != 0 and "--until must be after --since" in cli.stderr


def test_paging_through_the_cases_with_offset_gives_each_case_once(settings, api: ServedApi) -> None:
    """Seat review, 2026-12-06: with 1,266 pending cases only the first `limit` could be read.
    `offset` (after the filters and the sort) pages through GET /cases and GET /closed, `count`
    staying the total; a bad offset is a 400 as a bad limit is."""
    everything = [c["case_id"] for c in api.client.get("/cases").json()["cases"]]
    assert everything == ["c-old", "c-spam", "c-new"]
    for limit in (1, 2):
        seen = []
        for offset in range(0, 4, limit):
            page = api.client.get(f"/cases?limit={limit}&offset={offset}").json()
            assert page["count"] == 3, (limit, offset)
            seen += [c["case_id"] for c in page["cases"]]
        assert seen == everything, limit
    assert api.client.get("/cases?offset=3").json() == {"count": 3, "cases": []}
    assert api.client.get("/cases?offset=1000000").json() == {"count": 3, "cases": []}
    # After the filters and the sort.
    acme = api.client.get("/cases?brand=acme&limit=1&offset=1").json()
    assert (acme["count"], [c["case_id"] for c in acme["cases"]]) == (2, ["c-new"])
    assert api.client.get("/cases?offset=0").json() == api.client.get("/cases").json()
    for blank in ("offset=", "offset=%20"):  # as absent, as an empty limit
        assert api.client.get(f"/cases?{blank}").json() == api.client.get("/cases").json()
    for path in ("/cases", "/closed"):
        for value in ("-1", "x", "1.5", "%C2%B2", "%D9%A1", "1e3", "0" * 4400 + "1", "1&offset=2"):
            bad = api.client.get(f"{path}?offset={value}")
            assert bad.status_code == 400 and bad.json()["field"] == "offset", (path, value)
        assert "offset must be a whole number" in api.client.get(f"{path}?offset=-1").text
    # GET /closed: c-done (approved 30 s ago), then c-spam closed 10 s ago.
    spam = apply_decision(case_of(ITEMS[1]), {"case_id": "c-spam", "decision": "reject",
                                              "moderator": "bob", "decided_at": NOW - 10}, now=NOW)
    produce(settings, MODERATION_CLOSED, [(b"c-spam", json.dumps(spam.record).encode())])
    closed = [api.client.get(f"/closed?limit=1&offset={n}").json() for n in range(3)]
    assert [c["count"] for c in closed] == [2, 2, 2]
    assert [[c["case_id"] for c in page["cases"]] for page in closed] == [["c-spam"], ["c-done"], []]
    assert [c["case_id"] for c in api.client.get("/closed?decision=approve&offset=0").json()[
        "cases"]] == ["c-done"]


def test_a_closed_case_asking_for_an_answer_says_whether_it_came_on_time(settings,
                                                                         api: ServedApi) -> None:
    """GET /closed: `respond_by`, the case's answer deadline (as GET /cases gives it), and
    `answer`, how its closing answered a case asking for one (on_time, late, no_answer: the
    report's and veille_moderation_answers_total's outcomes), null when it asks for none."""
    late_item = item("c-late", "acme", ("needs_answer",), "respond", 3 * 86400)
    unanswered = item("c-mute", "acme", ("needs_answer",), "respond", 120)
    produce(settings, MODERATION_QUEUE, [(i["case_id"].encode(), json.dumps(i).encode())
                                         for i in (late_item, unanswered)])
    records = [apply_decision(case_of(queued), {"case_id": queued["case_id"], "decision": decision,
                                                 "moderator": "bob", "decided_at": NOW - 5}, now=NOW)
               for queued, decision in ((ITEMS[2], "replied"), (late_item, "replied"),
                                        (unanswered, "approve"))]
    produce(settings, MODERATION_CLOSED, [(r.record["case_id"].encode(), json.dumps(r.record).encode())
                                          for r in records])
    found = {c["case_id"]: c for c in api.client.get("/closed").json()["cases"]}
    assert {k: found[k]["answer"] for k in found} == {
        "c-new": "on_time", "c-late": "late", "c-mute": "no_answer", "c-done": None}
    assert found["c-new"]["respond_by"] == ITEMS[2]["respond_by"]
    assert found["c-late"]["respond_by"] == late_item["respond_by"]
    done = next(i for i in ITEMS if i["case_id"] == "c-done")
    assert found["c-done"]["respond_by"] == done["respond_by"]  # though it asks for no answer


def test_a_decision_the_agent_would_ignore_is_refused_before_it_is_written(settings,
                                                                            api: ServedApi) -> None:
    """A case that has had its 100 escalations and assignments takes only a closing decision:
    another escalate was acknowledged (202, `decision written`), then ignored by the agent.
    The API and the CLI dry-run the decision on the case first and say why."""
    from veille.moderate.commands import ModerateError, decide
    from veille.moderation.cases import MAX_OPEN_DECISIONS, iso

    produce(settings, MODERATION_DECISIONS, [
        (b"c-old", json.dumps({"case_id": "c-old", "decision": "assign", "moderator": "bot",
                               "assignee": f"m{n % 2}", "decided_at": iso(NOW - 500 + n)}).encode())
        for n in range(MAX_OPEN_DECISIONS)])
    answer = api.client.post("/cases/c-old/decision", json={"decision": "escalate", "moderator": "lead"})
    assert answer.status_code == 409 and answer.json()["error"] == "not_applicable", answer.text
    assert "only a closing decision is taken now" in answer.json()["detail"]
    with pytest.raises(ModerateError, match="the agent would ignore this decision"):
        decide(settings, "c-old", "assign", moderator="carol", assignee="carol")
    closing = api.client.post("/cases/c-old/decision", json={"decision": "reject", "moderator": "lead"})
    assert closing.status_code == 202, closing.text
    assert len(read_all(settings, MODERATION_DECISIONS, expect=MAX_OPEN_DECISIONS + 1,
                        settle=0.5)) == MAX_OPEN_DECISIONS + 1


def test_a_take_written_just_after_an_escalation_says_so(settings, api: ServedApi,
                                                         monkeypatch) -> None:
    """A lead escalates a case to the escalation queue between a moderator's check and her
    take: the take applies (the queue is no one), and she is told she took an escalated case
    (a note from the CLI, `escalated_meanwhile` from the API)."""
    import io

    from veille.moderate.commands import decide
    from veille.moderate.store import ModerationStore

    original = ModerationStore.decide_many  # the one write of the API and the CLI
    rivals = iter(["c-spam", "c-new"])

    def escalated_first(self, decisions, decided_at=None):
        rival = next(rivals, None)
        if rival is not None:
            other = ModerationStore(settings)
            try:
                original(other, [(rival, {"decision": "escalate", "moderator": "lead"})])
            finally:
                other.close()
        return original(self, decisions, decided_at)

    monkeypatch.setattr(ModerationStore, "decide_many", escalated_first)
    notes = io.StringIO()
    record = decide(settings, "c-spam", "assign", moderator="erin", assignee="erin", notes=notes)
    assert record is not None and record["if_assigned_to"] is None
    assert "case 'c-spam' was escalated while you decided (escalate by lead at " in notes.getvalue()
    assert "to the escalation queue, severity high)" in notes.getvalue()
    answer = api.client.post("/cases/c-new/decision", json={"decision": "assign", "moderator": "erin"})
    assert answer.status_code == 202, answer.text
    up = answer.json()["escalated_meanwhile"]
    assert (up["moderator"], up["count"], up["assignee"]) == ("lead", 1, None)


def test_a_decision_dated_ahead_of_its_writing_holds_no_case_up(settings, api: ServedApi) -> None:
    """An approve dated 10 minutes ahead of when it was written: the agent refuses it when it
    reads it. The API judged it against its clock at each request, so a few minutes later it
    passed, and the case showed "decision pending" with every other decision refused (409)."""
    from veille.moderation.cases import iso

    ahead = {"case_id": "c-new", "decision": "approve", "moderator": "bot",
             "decided_at": iso(time.time() + 600)}
    produce(settings, MODERATION_DECISIONS, [(b"c-new", json.dumps(ahead).encode())])
    clock = [time.time() + 400]  # the approve would pass against this clock
    api.api.store.clock = lambda: clock[0]
    listed = {c["case_id"]: c for c in api.client.get("/cases").json()["cases"]}
    assert listed["c-new"]["decision_pending"] is None
    answer = api.client.post("/cases/c-new/decision", json={"decision": "reject", "moderator": "bob"})
    assert answer.status_code == 202, answer.text


def test_what_a_browser_screen_meets(api: ServedApi) -> None:
    """A moderators' web page calling the API: every answer is JSON in UTF-8, errors
    `{"error", "detail"}`; no CORS (a page on another origin is refused by its browser: the
    screen is served from the origin of the proxy that holds the token): a preflight, which
    carries no token, is a 401, an OPTIONS with it a 405 naming the methods; HEAD answers as GET
    without a body. As the README says."""
    origin = {"Origin": "http://screen.example"}
    for method, path in (("GET", "/cases"), ("GET", "/cases/c-new"), ("GET", "/closed"),
                         ("GET", "/healthz"), ("GET", "/cases/nope"), ("GET", "/nope"),
                         ("GET", "/cases?limit=0"), ("PUT", "/cases")):
        answer = api.client.request(method, path, headers=origin)
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8", path
        assert not any(k.lower().startswith("access-control-") for k in answer.headers), path
        # Authors' names and texts: kept by no browser or proxy cache (none said so until
        # 2026-12-06; a shared proxy could keep a /cases page for the next user).
        assert answer.headers["Cache-Control"] == "no-store", path
        if answer.status_code >= 400:
            assert {"error", "detail"} <= set(answer.json()), (path, answer.text)
    asked = {**origin, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}
    preflight = api.client.options("/cases/c-new/decision", headers={**asked, "Authorization": ""})
    assert preflight.status_code == 401 and preflight.json()["error"] == "unauthorized"
    assert preflight.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in preflight.headers
    options = api.client.options("/cases/c-new/decision", headers=asked)  # with the token
    assert options.status_code == 405 and options.headers["Allow"] == "POST", options.text
    assert options.json()["error"] == "method_not_allowed"
    head = api.client.head("/cases")
    assert (head.status_code, head.content) == (200, b"")
    assert int(head.headers["Content-Length"]) == len(api.client.get("/cases").content)


def test_a_lead_lists_the_escalated_cases_and_the_escalation_queue(api: ServedApi) -> None:
    """`escalated=true` keeps the escalated cases (as soon as the escalation is written: the
    API folds moderation.decisions); with `unassigned=true`, the escalation queue, no one's;
    with `assignee`, the ones escalated to them. `false` is no filter, as unassigned=false."""
    for case_id, to in (("c-old", None), ("c-new", "lead")):
        up = api.client.post(f"/cases/{case_id}/decision", json={
            "decision": "escalate", "moderator": "alice", "assignee": to})
        assert up.status_code == 202, up.text

    def listed(query: str) -> list[str]:
        answer = api.client.get(f"/cases?{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert answer.json()["count"] == len(answer.json()["cases"])
        return [c["case_id"] for c in answer.json()["cases"]]

    assert listed("escalated=true") == ["c-old", "c-new"]
    assert listed("escalated=true&unassigned=true") == ["c-old"]  # the escalation queue
    assert listed("escalated=true&assignee=Lead") == ["c-new"]
    assert listed("escalated=true&category=spam") == []
    assert listed("escalated=false") == listed("escalated=%20") == ["c-old", "c-spam", "c-new"]
    # A moderator takes c-old from the queue: still escalated, no longer the queue's.
    took = api.client.post("/cases/c-old/decision", json={"decision": "assign", "moderator": "bob"})
    assert took.status_code == 202, took.text
    assert listed("escalated=true&unassigned=true") == []
    assert listed("escalated=true&assignee=bob") == ["c-old"]
    for query in ("escalated=yes", "escalated=1", "escalated=true&escalated=false"):
        bad = api.client.get(f"/cases?{query}")
        assert bad.status_code == 400 and bad.json()["field"] == "escalated", query


def test_a_moderator_lists_one_authors_cases_pending_and_closed(api: ServedApi) -> None:
    """`author=` on GET /cases and GET /closed, as `moderate list --author` and `moderate
    closed --author`: one author's cases (a leading @ and the case ignored), to see a troll's
    or a customer's whole thread at once; blank is no filter. The API had no such filter."""
    def listed(path: str) -> list[str]:
        answer = api.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["count"] == len(answer.json()["cases"])
        return [c["case_id"] for c in answer.json()["cases"]]

    assert listed("/cases?author=promo_bot") == listed("/cases?author=%40PROMO_BOT") == ["c-spam"]
    assert listed("/cases?author=someone") == ["c-old", "c-new"]
    assert listed("/cases?author=someone&brand=boreal") == []
    assert listed("/cases?author=%20") == ["c-old", "c-spam", "c-new"]
    assert listed("/cases?author=nobody") == []
    assert listed("/closed?author=someone") == ["c-done"]
    assert listed("/closed?author=promo_bot") == []


def test_a_moderator_lists_the_cases_that_hold_some_words_pending_and_closed(api: ServedApi) -> None:
    """`contains=` on GET /cases and GET /closed, as `moderate list --contains` and `moderate
    closed --contains`: the cases whose text or link holds the words, in their order (case,
    accents and spacing ignored, as `veille mentions --contains`); blank is no filter, as the
    other free-text filters; accents alone, which fold to nothing, are refused (they would
    find every case)."""
    def listed(path: str) -> list[str]:
        answer = api.client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["count"] == len(answer.json()["cases"])
        return [c["case_id"] for c in answer.json()["cases"]]

    assert listed("/cases?contains=TEXT%20%20OF%20c-sp%C3%80m") == ["c-spam"]  # "OF c-spÀm"
    assert listed("/cases?contains=text%20of") == ["c-old", "c-spam", "c-new"]
    assert listed("/cases?contains=of%20text") == []  # in their order
    assert listed("/cases?contains=c-new&brand=boreal") == []
    assert listed("/cases?contains=%20") == ["c-old", "c-spam", "c-new"]
    assert listed("/closed?contains=of%20C-DONE") == ["c-done"]
    assert listed("/closed?contains=c-new") == []
    for path in ("/cases", "/closed"):
        bad = api.client.get(f"{path}?contains=%CC%81")  # a combining acute accent alone
        assert bad.status_code == 400, bad.text
        assert bad.json()["field"] == "contains" and "must hold a word" in bad.json()["detail"]
