"""`veille moderate list|show|closed|decide --api URL`: through a running moderation API (the
real one, on the embedded broker), the same output, exit status and French as from the topics
on the same cases; and each way asking the API can fail, told in one line naming its URL."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.topics import MODERATION_CLOSED, MODERATION_DECISIONS, MODERATION_QUEUE, ensure_topics
from tests.cli_helpers import assert_clear_error, run
from tests.kafka_helpers import produce, read_all
from tests.moderation_helpers import ServedApi, decision, serve_as_the_cli
from veille.moderate import client
from veille.moderation.cases import apply_decision, iso
from veille.moderation.queue import case_of, make_item
from veille.moderation.triage import Triage
from veille.rules import Charter

pytestmark = pytest.mark.integration
TOKEN = "cli-api-test-token-5c1d"


def _item(case_id: str, brand: str, categories: tuple[str, ...], action: str, minutes: int,
          now: float, author: str = "@someone", posted_before: float = 60) -> dict:
    """Queued `minutes` and a half ago: the two reads of a test, seconds apart, print the same
    ages (a minute's boundary half a minute away)."""
    made = make_item(mention_id=case_id, brands=[brand], triage=Triage(categories, "medium", action, ()),
                     charter=Charter(), language="fr", sentiment="negative", compound=-0.6,
                     platform="twitter", author=author, text=f"text of {case_id}\nsecond line",
                     url=f"https://example.org/{case_id}", created_at=now - minutes * 60 - 30
                     - posted_before, queued_at=now - minutes * 60 - 30)
    assert made is not None
    return made


@pytest.fixture
def served(settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedApi]:
    """Five cases (escalated, assigned, decided but not applied, overdue, closed) on the topics,
    the API serving them, and this process' environment giving the CLI the same topics."""
    now = time.time()
    items = [_item("c-old", "acme", ("insult", "aggressive"), "review", 10, now),
             _item("c-spam", "boreal", ("spam",), "hide", 5, now, author="@Promo_Bot"),
             _item("c-new", "acme", ("needs_answer",), "respond", 1, now),
             _item("c-late", "acme", ("needs_answer",), "respond", 3, now, posted_before=86400 * 3),
             _item("c-done", "acme", ("detractor",), "review", 15, now)]
    ensure_topics(settings)
    produce(settings, MODERATION_QUEUE, [(i["case_id"].encode(), json.dumps(i).encode()) for i in items])
    done = apply_decision(case_of(items[4]), {"case_id": "c-done", "decision": "reject",
                                              "moderator": "alice", "reason": "hors charte",
                                              "decided_at": now - 90}, now=now)
    produce(settings, MODERATION_CLOSED, [(b"c-done", json.dumps(done.record).encode())])
    produce(settings, MODERATION_DECISIONS, [
        decision("c-old", "escalate", "alice", reason="menace", assignee="lead"),
        decision("c-spam", "assign", "bob", assignee="bob"),
        # decided_at as veille's tools write it (iso: ...Z), which the API gives back as is.
        decision("c-new", "approve", "carol", decided_at=iso(now - 5))])
    api = serve_as_the_cli(monkeypatch, settings, TOKEN)
    yield api
    api.close()


SAME = [
    ("list",), ("list", "--json"), ("list", "--lang", "fr"), ("list", "--brand", "acme", "--limit", "1"),
    ("list", "--sort", "respond_by", "--category", "needs_answer"), ("list", "--unassigned", "--escalated"),
    ("list", "--assignee", "bob", "--json"), ("list", "--author", "PROMO_BOT"), ("list", "--brand", "nobody"),
    ("list", "--contains", "OF C-SPAM second"), ("list", "--contains", "example.org/c-", "--json"),
    ("show", "c-old"), ("show", "c-old", "--json"), ("show", "c-new", "--lang", "fr"), ("show", "c-done"),
    ("show", "c-done", "--json"), ("show", "c-nope"),
    ("closed",), ("closed", "--json"), ("closed", "--lang", "fr", "--tz", "Europe/Paris"),
    ("closed", "--decision", "rejeté", "--moderator", "alice"), ("closed", "--brand", "boreal"),
    ("closed", "--contains", "Text of c-DONE"), ("closed", "--contains", "c-old"),
]


def test_the_tools_print_the_same_through_the_api_as_from_the_topics(
        served: ServedApi, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "PAGE", 2)  # five cases: the listings read page by page
    for args in SAME:
        topics = run(capsys, "moderate", *args)
        through = run(capsys, "moderate", *args, "--api", served.api.url)
        assert through == topics, args
    # --contains found the same cases, not the same nothing: words across a line break, links.
    status, out, _ = run(capsys, "moderate", "list", "--contains", "OF C-SPAM second")
    assert status == 0 and "c-spam" in out and "c-old" not in out, out
    status, out, _ = run(capsys, "moderate", "list", "--contains", "example.org/c-", "--json")
    assert status == 0 and len(out.splitlines()) == 4, out
    status, out, _ = run(capsys, "moderate", "closed", "--contains", "Text of c-DONE")
    assert status == 0 and "c-done" in out, out
    # The setting, as the flag; and --api "" back to the topics.
    monkeypatch.setenv("VEILLE_MODERATION_API_URL", served.api.url + "/")
    assert run(capsys, "moderate", "list", "--json") == run(capsys, "moderate", "list", "--json",
                                                            "--api", "")
    status, out, err = run(capsys, "moderate", "list")
    assert (status, err, out.count("\n")) == (0, "", 6)  # header, 4 pending, legend


def test_decide_refuses_and_writes_as_through_the_topics(
        served: ServedApi, settings, capsys: pytest.CaptureFixture[str]) -> None:
    api = ("--api", served.api.url)
    for args in (("c-done", "approve", "--moderator", "carol", "--lang", "fr"),  # closed
                 ("c-new", "reject", "--moderator", "dave"),  # a closing decision is pending
                 ("c-nope", "approve", "--moderator", "dave"),  # unknown
                 ("c-spam", "prendre", "--moderator", "bob", "--lang", "fr")):  # already bob's
        topics = run(capsys, "moderate", "decide", *args)
        assert run(capsys, "moderate", "decide", *args, *api) == topics, args
    status, out, err = run(capsys, "moderate", "decide", "c-spam", "reject", "--moderator", "carol",
                           "--reason", "pub", *api)
    assert (status, out) == (0, "")
    assert err.startswith("veille: note: case 'c-spam' was assigned to bob (assign by bob at ")
    assert re.search(r"\ndecision written: reject on c-spam by carol at \S+\n$", err), err
    # The API's guarantee kept: the assign written is conditional on who had the case.
    status, _, err = run(capsys, "moderate", "decide", "c-late", "assign", "--moderator", "erin", *api)
    assert status == 0 and "decision written: assign to erin on c-late" in err
    written = {(r["case_id"], r["decision"]): r for r in
               (json.loads(m.value) for m in read_all(settings, MODERATION_DECISIONS, 5, settle=0))}
    assert written["c-spam", "reject"]["reason"] == "pub"
    late = written["c-late", "assign"]
    assert late["assignee"] == "erin" and "if_assigned_to" in late and late["if_assigned_to"] is None
    status, _, err = run(capsys, "moderate", "decide", "c-late", "approve", "--moderator", "erin",
                         "--no-check", *api)
    assert_clear_error(status, err, "--no-check cannot go through the moderation API")


class _Stub(BaseHTTPRequestHandler):
    """An API that answers every request with the (status, headers, body) of its path."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        status, headers, body = self.answers.get(self.path.split("?")[0], (404, {}, b"{}"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except ConnectionError:
            # The client hangs up on an answer too large to read (as it must): no traceback on the
            # test's stderr, where a later refusal's message is checked.
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Stub.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_each_failure_is_one_line_naming_the_api_never_the_token(
        served: ServedApi, stub: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(message: str, *args: str) -> str:
        status, out, err = run(capsys, "moderate", *args)
        assert_clear_error(status, err, message)
        assert out == "" and err.count("\n") == 1 and TOKEN not in err, err
        return err

    # A port held, not listening: every connection refused while the test holds it (a port found
    # free then let go was in the kernel's outgoing range, open to any other process meanwhile).
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
        fails(f"cannot reach the moderation API at {nowhere}: ", "list", "--api", nowhere)
        fails('--api "" to read the topics instead', "show", "c-old", "--api", nowhere)
    monkeypatch.setenv("VEILLE_MODERATION_API_TOKEN", "not-the-token-0000")
    fails(f"the moderation API at {served.api.url} refused the credentials (401)",
          "list", "--api", served.api.url)
    monkeypatch.delenv("VEILLE_MODERATION_API_TOKEN")
    fails("refused the credentials (401): set VEILLE_MODERATION_API_TOKEN", "closed",
          "--api", served.api.url)
    monkeypatch.setenv("VEILLE_MODERATION_API_TOKEN", TOKEN)
    # A period the API does not keep: its own 400, not a partial answer.
    fails(f"the moderation API at {served.api.url} refused the request (400 invalid_query): this API "
          "keeps closed cases", "closed", "--since", "2020-01-01", "--api", served.api.url)
    _Stub.answers.update({
        "/cases": (503, {"Content-Type": "application/json"}, json.dumps(
            {"error": "broker_unavailable", "detail": "the broker did not answer"}).encode()),
        "/closed": (302, {"Location": "http://example.org/closed"}, b""),
        "/cases/c-old": (200, {"Content-Type": "text/html"}, b"<html>a login page</html>")})
    fails(f"the moderation API at {stub} cannot answer (503 broker_unavailable): the broker did not "
          "answer", "list", "--api", stub)
    fails("answered a redirect (302), not followed", "closed", "--api", stub)
    fails("answered 200 without a JSON object", "show", "c-old", "--api", stub)
    assert all("example.org" not in p for p in _Stub.seen)
    # An answer larger than any page of the API's is not read whole (2 MiB allowed here).
    monkeypatch.setattr(client, "MAX_ANSWER_BYTES", 2 << 20)
    _Stub.answers["/cases/c-big"] = (200, {"Content-Type": "application/json"},
                                     b'{"pad": "' + b"x" * (3 << 20) + b'"}')
    fails("answered more than 2 MiB on GET /cases/c-big", "show", "c-big", "--api", stub)
    # Not HTTP (another service's port), and a server that accepts but never answers: bounded.
    with socket.socket() as mute, socket.socket() as garbage:
        for sock in (mute, garbage):
            sock.bind(("127.0.0.1", 0))
            sock.listen()
        threading.Thread(target=lambda: garbage.accept()[0].sendall(b"SSH-2.0-x\r\n\r\n"),
                         daemon=True).start()
        fails("cannot reach the moderation API at http://127.0.0.1:", "list",
              "--api", f"http://127.0.0.1:{garbage.getsockname()[1]}")
        monkeypatch.setattr(client, "TIMEOUT_SECONDS", 0.5)
        fails("timed out", "list", "--api", f"http://127.0.0.1:{mute.getsockname()[1]}")
    fails("--broker-url reads the topics, --api asks the moderation API",
          "list", "--api", stub, "--broker-url", "127.0.0.1:9")
    fails("VEILLE_MODERATION_API_TOKEN would travel in clear", "list", "--api", "http://192.0.2.1:8081")
    fails("--api='ftp://x' must be an http:// or https:// address", "list", "--api", "ftp://x")
