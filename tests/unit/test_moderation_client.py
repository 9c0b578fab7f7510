"""`veille moderate ... --api URL`: each option as the route's query parameter, the API's URL
checked before anything is sent (the token never in clear to another machine), and the options
the API cannot honour refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli_helpers import assert_clear_error, run
from veille.moderate import client
from veille.moderate.commands import ModerateError


def test_each_list_option_is_a_query_parameter_of_get_cases() -> None:
    assert client.list_query() == {"sort": "queued"}
    assert client.list_query(brand="acme", category="spam", sort="respond_by", assignee="bob",
                             escalated=True, posted_since=1_767_600_000.5, author="@Julie",
                             contains="le rappel") == {
        "brand": "acme", "category": "spam", "sort": "respond_by", "assignee": "bob",
        "escalated": "true", "posted_since": "1767600000.5", "author": "@Julie",
        "contains": "le rappel"}
    assert client.list_query(unassigned=True, escalated=True) == {
        "sort": "queued", "unassigned": "true", "escalated": "true"}


def test_each_closed_option_is_a_query_parameter_of_get_closed() -> None:
    assert client.closed_query(since=0.0) == {"since": "0.0"}  # 1970: not dropped as false
    assert client.closed_query(brand="acme", category="insult", decision="reject", moderator="alice",
                               since=1_767_600_000.0, until=1_767_686_400.0, author="x",
                               contains="Rappel") == {
        "brand": "acme", "category": "insult", "decision": "reject", "moderator": "alice",
        "since": "1767600000.0", "until": "1767686400.0", "author": "x", "contains": "Rappel"}


class _Pages(client.ApiClient):
    """An API of `total` cases answering pages as GET /cases does."""

    def __init__(self, total: int) -> None:
        super().__init__("http://127.0.0.1:1")
        self.total, self.asked = total, []  # type: list[dict[str, str]]

    def request(self, method: str, path: str, query: dict[str, str] | None = None,
                body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
        assert query is not None
        self.asked.append(query)
        start, limit = int(query["offset"]), int(query["limit"])
        assert 1 <= limit <= 1000  # the API's bounds (api.MAX_LIMIT)
        return {"count": self.total, "cases": list(range(start, min(start + limit, self.total)))}


def test_a_listing_longer_than_a_page_is_read_page_by_page() -> None:
    api = _Pages(2500)
    assert api.pages("/cases", {"brand": "acme"}, None) == (2500, list(range(2500)))
    assert [q["offset"] for q in api.asked] == ["0", "1000", "2000"]
    assert all(q["brand"] == "acme" for q in api.asked)
    api = _Pages(2500)
    assert api.pages("/cases", {}, 1200) == (2500, list(range(1200)))  # --limit
    assert [(q["offset"], q["limit"]) for q in api.asked] == [("0", "1000"), ("1000", "200")]
    assert _Pages(0).pages("/closed", {}, None) == (0, [])


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081", "http://localhost:8081/",
                                 "http://[::1]:8081", "https://moderation.example.org"])
def test_the_token_goes_in_clear_only_to_this_machine(url: str) -> None:
    assert client.check_api_url(url, "t" * 32) == url.rstrip("/")


@pytest.mark.parametrize(("url", "message"), [
    ("http://moderation.example.org:8081", "VEILLE_MODERATION_API_TOKEN would travel in clear"),
    ("http://10.0.0.5:8081", "would travel in clear"),
    ("ftp://127.0.0.1", "must be an http:// or https:// address"),
    ("http://user:pw@127.0.0.1:8081", "must not hold user:password@"),
    ("http://127.0.0.1:8081/cases/x", "holds an API path"),
    ("http://127.0.0.1:8081?x=1", "must not have a query"),
])
def test_an_unsafe_or_wrong_api_url_is_refused(url: str, message: str) -> None:
    with pytest.raises(ModerateError, match=message.replace("?", r"\?")) as refused:
        client.check_api_url(url, "t" * 32)
    assert "pw" not in str(refused.value)


def test_without_a_token_http_to_another_machine_is_allowed() -> None:
    """Nothing secret travels (the API refuses to serve anything but loopback without one)."""
    assert client.check_api_url("http://10.0.0.5:8081", "") == "http://10.0.0.5:8081"


def test_options_the_api_cannot_honour_are_refused_by_name(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_MODERATION_API_TOKEN", "t" * 32)
    status, out, err = run(capsys, "moderate", "decide", "c1", "approve", "--moderator", "a",
                           "--no-check", "--api", "http://127.0.0.1:1")
    assert_clear_error(status, err, "--no-check cannot go through the moderation API")
    status, out, err = run(capsys, "moderate", "list", "--api", "http://127.0.0.1:1",
                           "--broker-url", "127.0.0.1:9092")
    assert_clear_error(status, err, "--broker-url reads the topics, --api asks the moderation API")
    monkeypatch.setenv("VEILLE_MODERATION_API_URL", "http://example.org:8081")
    status, out, err = run(capsys, "moderate", "show", "c1")
    assert_clear_error(status, err, "VEILLE_MODERATION_API_URL='http://example.org:8081' is http:// "
                       "to another machine")
    assert "t" * 32 not in err


class _Api(client.ApiClient):
    """An API answering POST /decisions with `bulk` (an ApiError raised, or its JSON), and each
    POST /cases/{id}/decision with a 202; the requests asked, in order."""

    def __init__(self, bulk: Any) -> None:
        super().__init__("http://127.0.0.1:9")
        self.bulk, self.asked = bulk, []

    def request(self, method: str, path: str, query: Any = None, body: Any = None,
                ok: tuple[int, ...] = (200,), lang: str | None = None) -> dict[str, Any]:
        self.asked.append(path)
        if path == "/decisions":
            if isinstance(self.bulk, Exception):
                raise self.bulk
            return self.bulk  # type: ignore[no-any-return]
        case_id = path.split("/")[2]
        return {"accepted": True, "previously_assigned": None, "escalated_meanwhile": None,
                "decision": {"case_id": case_id, "decision": "reject", "moderator": "bob",
                             "decided_at": "2026-12-07T12:00:00.000Z"}}


def test_decide_many_asks_one_request_and_copes_with_an_older_or_failing_api() -> None:
    ids = ["w-1", "w-2"]  # (no settings: the language given, they are not read)
    older = _Api(client.ApiError("no route", 404, "not_found"))  # an API before POST /decisions
    found = client.decide_many(None, older, ids, "reject", moderator="bob", lang="en")
    assert older.asked == ["/decisions", "/cases/w-1/decision", "/cases/w-2/decision"]
    assert [(d.case_id, d.record is not None, d.problem) for d in found] == [
        ("w-1", True, None), ("w-2", True, None)]
    for status in (503, None):  # not acknowledged, or no answer: each case may be written
        failing = _Api(client.ApiError("cannot answer", status, "broker_unavailable"))
        found = client.decide_many(None, failing, ids, "reject", moderator="bob", lang="en")
        assert failing.asked == ["/decisions"]
        assert [(d.case_id, d.unacknowledged, d.problem) for d in found] == [
            ("w-1", True, "cannot answer"), ("w-2", True, "cannot answer")]
    with pytest.raises(client.ApiError, match="refused"):  # the request refused whole: said once
        client.decide_many(None, _Api(client.ApiError("refused", 401, "unauthorized")), ids,
                           "reject", moderator="bob", lang="en")
    # A result per case or nothing: an answer that is not the API's is an error, not a guess.
    with pytest.raises(client.ApiError, match="without a result per case"):
        client.decide_many(None, _Api({"results": [{"case_id": "w-1", "status": 202, "body": {}}]}),
                           ids, "reject", moderator="bob", lang="en")


def test_a_refusal_is_told_from_the_decision_it_names_an_older_api_asked_for_the_case() -> None:
    closed = {"decision": "reject", "moderator": "alice", "decided_at": "2026-12-07T11:00:00.000Z"}
    pending = {"decision": "approve", "moderator": "carol", "decided_at": "2026-12-07T11:30:00.000Z"}

    class Older(_Api):  # an API before 2026-12-07: the refusals name no decision
        def request(self, method: str, path: str, query: Any = None, body: Any = None,
                    ok: tuple[int, ...] = (200,), lang: str | None = None) -> dict[str, Any]:
            if method == "GET":
                self.asked.append(path)
                return ({"closed": closed, "item": {}} if path == "/cases/w-1"
                        else {"closed": None, "item": {"decision_pending": pending}})
            return super().request(method, path, query, body, ok, lang)

    def results(named: bool) -> dict[str, Any]:
        return {"results": [
            {"case_id": "w-1", "status": 409, "body": {"error": "already_closed", "detail": "x",
                                                       **({"closed": closed} if named else {})}},
            {"case_id": "w-2", "status": 409, "body": {"error": "decision_pending", "detail": "y",
                                                       **({"decision_pending": pending}
                                                          if named else {})}}]}

    for api, asked in ((_Api(results(True)), ["/decisions"]),
                       (Older(results(False)), ["/decisions", "/cases/w-1", "/cases/w-2"])):
        found = client.decide_many(None, api, ["w-1", "w-2"], "reject", moderator="bob", lang="en")
        assert api.asked == asked
        assert [d.problem for d in found] == [
            "case 'w-1' is already closed: reject by alice",
            "case 'w-2' already has a decision waiting to be applied: approve by carol at "
            "2026-12-07T11:30:00.000Z (--no-check writes this one anyway)"], found
