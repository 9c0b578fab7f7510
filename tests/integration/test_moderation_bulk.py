"""One closing decision on several cases at once (a wave of copies of one complaint, a spam
campaign): `veille moderate decide ID ID... DECISION`, from the topics and through the API
(`--api`), on the embedded broker: each case checked as one is, the ones accepted written, a
line per case, a summary naming those to look at again, exit status 1 when any was refused."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from streams.topics import MODERATION_CLOSED, MODERATION_DECISIONS, MODERATION_QUEUE, ensure_topics
from tests.cli_helpers import assert_clear_error, run
from tests.kafka_helpers import produce, read_all
from tests.moderation_helpers import ServedApi, decision, insult_item, samples, serve_as_the_cli
from veille.moderation.cases import apply_decision
from veille.moderation.queue import case_of

pytestmark = pytest.mark.integration
TOKEN = "bulk-test-token-8e2f4a71"
#: The wave: five copies of one complaint; w-done closed already, w-wait with a decision waiting.
WAVE = ("w-1", "w-2", "w-3", "w-4", "w-5")


@pytest.fixture
def wave(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedApi]:
    """The wave's cases, a closed one and one with a closing decision not applied yet, on the
    topics; the API serving them; this process' environment giving the CLI the same topics."""
    now = time.time()
    items = [insult_item(c, now - 600 + n) for n, c in enumerate((*WAVE, "w-done", "w-wait"))]
    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE, [(i["case_id"].encode(), json.dumps(i).encode()) for i in items])
    done = apply_decision(case_of(items[5]), {"case_id": "w-done", "decision": "reject",
                                              "moderator": "alice", "decided_at": now - 90}, now=now)
    produce(settings, MODERATION_CLOSED, [(b"w-done", json.dumps(done.record).encode())])
    produce(settings, MODERATION_DECISIONS, [decision("w-wait", "approve", "carol")])
    api = serve_as_the_cli(monkeypatch, settings, TOKEN)
    yield api
    api.close()


def _written(settings, count: int) -> dict[str, list[dict]]:
    """The decisions on moderation.decisions, per case (the fixture's w-wait one included)."""
    found: dict[str, list[dict]] = {}
    for m in read_all(settings, MODERATION_DECISIONS, count, settle=0.5):
        record = json.loads(m.value)
        found.setdefault(record["case_id"], []).append(record)
    return found


def test_several_cases_written_at_once_the_refused_named(wave: ServedApi, settings,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "moderate", "decide", "w-1", "w-done", "w-2", "w-nope", "w-wait",
                           "w-3", "w-1", "reject", "--moderator", "bob", "--reason", "spam wave")
    lines = err.splitlines()
    assert (status, out, len(lines)) == (1, "", 7), err  # a line per distinct id, the summary
    assert re.fullmatch(r"decision written: reject on w-1 by bob at \S+", lines[0]), lines
    assert lines[1] == "veille: refused: case 'w-done' is already closed: reject by alice", lines
    assert lines[2].startswith("decision written: reject on w-2 by bob"), lines
    assert lines[3].startswith("veille: refused: no case 'w-nope' on the moderation queue"), lines
    assert lines[4].startswith("veille: refused: case 'w-wait' already has a decision waiting "
                               "to be applied: approve by carol"), lines
    assert lines[5].startswith("decision written: reject on w-3 by bob"), lines
    assert lines[6] == ("3 of 6 decisions written; refused (look at them, then decide each "
                        "again): w-done w-nope w-wait"), lines
    written = _written(settings, 4)
    assert sorted(written) == ["w-1", "w-2", "w-3", "w-wait"]
    for case_id in ("w-1", "w-2", "w-3"):  # once each, w-1 given twice
        [record] = written[case_id]
        assert (record["decision"], record["moderator"], record["reason"]) == ("reject", "bob",
                                                                            "spam wave")
    # Every one written: exit status 0; in French, words and summary.
    status, _, err = run(capsys, "moderate", "decide", "w-4", "w-5", "approuver", "--moderator",
                         "bob", "--lang", "fr")
    assert status == 0, err
    assert err.splitlines()[-1] == "2 décisions enregistrées sur 2", err
    # Decided already, now: both refused, in French.
    status, _, err = run(capsys, "moderate", "decide", "w-4", "w-5", "rejeter", "--moderator",
                         "bob", "--lang", "fr")
    assert status == 1 and err.count("veille: refusé\u00a0: le dossier 'w-") == 2, err
    assert err.splitlines()[-1].startswith("0 décision enregistrée sur 2\u00a0; refusés"), err


def test_through_the_api_the_same_lines(wave: ServedApi, settings,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "moderate", "decide", "w-1", "w-done", "w-2", "w-nope",
                           "approve", "--moderator", "bob", "--api", wave.api.url)
    lines = err.splitlines()
    assert (status, out, len(lines)) == (1, "", 5), err
    assert lines[0].startswith("decision written: approve on w-1 by bob"), lines
    assert lines[1] == "veille: refused: case 'w-done' is already closed: reject by alice", lines
    assert lines[2].startswith("decision written: approve on w-2 by bob"), lines
    assert lines[3].startswith("veille: refused: no case 'w-nope' on the moderation queue"), lines
    assert lines[4] == ("2 of 4 decisions written; refused (look at them, then decide each "
                        "again): w-done w-nope"), lines
    written = _written(settings, 3)
    assert [r["decision"] for r in written["w-1"] + written["w-2"]] == ["approve", "approve"]


def test_what_several_ids_refuse_before_anything_is_written(
        wave: ServedApi, settings, capsys: pytest.CaptureFixture[str]) -> None:
    too_many = [f"w-{n}" for n in range(501)]
    status, _, err = run(capsys, "moderate", "decide", *too_many, "reject", "--moderator", "bob")
    assert_clear_error(status, err, "501 case ids: at most 500 at once (split the list)")
    for decision_word in ("escalate", "assign", "prendre", "unassign"):
        status, _, err = run(capsys, "moderate", "decide", "w-1", "w-2", decision_word,
                             "--moderator", "bob")
        assert_clear_error(status, err, "several case ids take only approve, reject, replied")
    status, _, err = run(capsys, "moderate", "decide", "w-1", "w-2", "reject", "--moderator",
                         "bob", "--assignee", "carol")
    assert_clear_error(status, err, "--assignee is for escalate and assign")
    assert list(_written(settings, 1)) == ["w-wait"]  # the fixture's alone
    # --no-check: written unchecked, an unknown id too (as for one id).
    status, _, err = run(capsys, "moderate", "decide", "w-4", "w-unknown", "approve", "--moderator",
                         "bob", "--no-check")
    assert status == 0 and err.splitlines()[-1] == "2 of 2 decisions written", err
    assert sorted(_written(settings, 3)) == ["w-4", "w-unknown", "w-wait"]
    # The one-id form as it was.
    status, _, err = run(capsys, "moderate", "decide", "w-1", "escalate", "--moderator", "bob")
    assert status == 0 and err.startswith("decision written: escalate on w-1 by bob"), err


def _metric(api: ServedApi, name: str, **labels: str) -> float:
    """One sample of the API's /metrics, 0 when absent."""
    return samples(api.api.url + "/metrics").get((name, frozenset(labels.items())), 0.0)


def test_post_decisions_answers_each_case_as_its_own_route_would(wave: ServedApi, settings) -> None:
    posted = wave.client.post("/decisions", json={
        "case_ids": ["w-1", "w-done", "w-2", "w-nope", "w-wait", "w-1"], "decision": "reject",
        "moderator": "bob", "reason": "spam wave"})
    assert posted.status_code == 200, posted.text
    results = posted.json()["results"]
    assert [(r["case_id"], r["status"]) for r in results] == [  # in order, w-1 once
        ("w-1", 202), ("w-done", 409), ("w-2", 202), ("w-nope", 404), ("w-wait", 409)], results
    for r in (results[0], results[2]):
        body = r["body"]
        assert (body["accepted"], body["decision"]["case_id"], body["decision"]["decision"],
                body["decision"]["moderator"], body["decision"]["reason"]) == (
            True, r["case_id"], "reject", "bob", "spam wave"), body
        assert (body["previously_assigned"], body["escalated_meanwhile"]) == (None, None), body
    assert [results[n]["body"]["error"] for n in (1, 3, 4)] == ["already_closed", "unknown_case",
                                                                 "decision_pending"]
    # The refusing decision as fields, for a client's own words.
    closed, pending = results[1]["body"]["closed"], results[4]["body"]["decision_pending"]
    assert (closed["decision"], closed["moderator"]) == ("reject", "alice"), closed
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", closed["decided_at"]), closed
    assert (pending["decision"], pending["moderator"]) == ("approve", "carol"), pending
    written = _written(settings, 3)
    assert sorted(written) == ["w-1", "w-2", "w-wait"] and len(written["w-1"]) == 1, written
    # Counted as the one-case route counts: its decisions and refusals via=api, one request.
    assert _metric(wave, "veille_moderation_api_requests_total", route="/decisions", code="200") == 1
    assert _metric(wave, "veille_moderation_api_decisions_total", decision="reject", via="api") == 2
    for reason in ("already_closed", "unknown_case", "decision_pending"):
        assert _metric(wave, "veille_moderation_api_refusals_total", reason=reason, via="api") == 1
    # Each refusal is what POST /cases/{id}/decision answers.
    for r in (results[1], results[3], results[4]):
        one = wave.client.post(f"/cases/{r['case_id']}/decision",
                               json={"decision": "reject", "moderator": "bob"})
        assert (one.status_code, one.json()) == (r["status"], r["body"])
    # In French when asked, as the one-case route.
    posted = wave.client.post("/decisions", json={"case_ids": ["w-done"], "decision": "approve",
                                                  "moderator": "bob"},
                              headers={"Accept-Language": "fr-FR"})
    assert posted.json()["results"][0]["body"]["detail"].startswith("le dossier 'w-done'"), posted.text


def test_post_decisions_refuses_a_bad_body_whole(wave: ServedApi, settings) -> None:
    good = {"case_ids": ["w-1", "w-2"], "decision": "approve", "moderator": "bob"}
    for body, field in ((good | {"case_ids": "w-1"}, "case_ids"),
                        (good | {"case_ids": []}, "case_ids"),
                        (good | {"case_ids": ["w-1", 3]}, "case_ids"),
                        (good | {"case_ids": ["w-1", " "]}, "case_ids"),
                        (good | {"case_ids": ["w-1", "x" * 257]}, "case_ids"),
                        ({k: v for k, v in good.items() if k != "case_ids"}, "case_ids"),
                        (good | {"case_ids": [f"w-{n}" for n in range(501)]}, "case_ids"),
                        (good | {"decision": "escalate"}, "decision"),
                        (good | {"decision": "assign", "assignee": "carol"}, "decision"),
                        (good | {"moderator": ""}, None),
                        (good | {"assignee": "carol"}, None),
                        ([good], None)):
        posted = wave.client.post("/decisions", json=body)
        assert posted.status_code == 400, (body, posted.text)
        answer = posted.json()
        assert answer["error"] == "invalid_field" and answer["detail"], answer
        assert answer.get("field") == field, answer
    posted = wave.client.post("/decisions", json=good | {"case_ids": [f"w-{n}" for n in range(501)]})
    assert "501 case ids: at most 500 at once" in posted.json()["detail"], posted.text
    posted = wave.client.post("/decisions", content=b"{", headers={"Content-Type": "application/json"})
    assert (posted.status_code, posted.json()["error"]) == (400, "invalid_json"), posted.text
    # A retry cannot write a closing decision twice: an Idempotency-Key is refused, not ignored.
    posted = wave.client.post("/decisions", json=good, headers={"Idempotency-Key": "k-1"})
    assert (posted.status_code, posted.json()["error"]) == (400, "invalid_header"), posted.text
    assert "Idempotency-Key" in posted.json()["detail"], posted.text
    posted = httpx.post(wave.api.url + "/decisions", json=good, timeout=30)  # no token
    assert (posted.status_code, posted.json()["error"]) == (401, "unauthorized"), posted.text
    assert list(_written(settings, 1)) == ["w-wait"]  # nothing written
    # 500 ids as long as a record allows: more than a decision's 16 KiB, read.
    long_ids = [f"{n:03d}" + "é" * 253 for n in range(500)]
    posted = wave.client.post("/decisions", json=good | {"case_ids": long_ids})
    assert posted.status_code == 200, posted.text[:500]
    assert {r["status"] for r in posted.json()["results"]} == {404}


def test_through_the_api_one_request_the_same_lines_as_the_topics(
        wave: ServedApi, capsys: pytest.CaptureFixture[str]) -> None:
    def same(err: str, first: str, second: str) -> str:
        return re.sub(r" at \S+", " at T", err).replace(first, "w-A").replace(second, "w-B")

    asked = ("approve", "--moderator", "bob", "--reason", "wave")
    status, _, topics = run(capsys, "moderate", "decide", "w-1", "w-done", "w-2", "w-nope",
                            "w-wait", *asked)
    status_api, _, api = run(capsys, "moderate", "decide", "w-3", "w-done", "w-4", "w-nope",
                             "w-wait", *asked, "--api", wave.api.url)
    assert (status, status_api) == (1, 1), api
    assert same(api, "w-3", "w-4") == same(topics, "w-1", "w-2"), (api, topics)
    requests = "veille_moderation_api_requests_total"
    assert _metric(wave, requests, route="/decisions", code="200") == 1
    assert _metric(wave, requests, route="/cases/{case_id}/decision", code="202") == 0
    # The refusals name their decision: no GET /cases/{id} per case refused as closed or pending
    # (a re-run on 500 decided cases was 500 more requests).
    assert _metric(wave, requests, route="/cases/{case_id}", code="200") == 0
