"""The moderation API's own metrics (GET /metrics) against the real broker: served without a
token, requests counted by route template and status code, decisions by way (API or page),
refusals by reason, the view's last read of the topics, the page's sessions; no case id, no
moderator name in them. Queue items are written straight to the topics, as in
test_moderation_api."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import parse_page
from tests.integration.test_moderation_api import TOKEN
from tests.integration.test_moderation_page import browser, form_of, serve, sign_in
from tests.moderation_helpers import ServedApi, wait_for

pytestmark = pytest.mark.integration
LAST_READ = "veille_moderation_api_last_read_timestamp_seconds"
LAST_READ_AGE = "veille_moderation_api_last_read_age_seconds"


@pytest.fixture
def api(settings) -> Iterator[ServedApi]:
    """The API (with its token) over test_moderation_page's cases: five pending, one closed."""
    served = serve(settings)
    yield served
    served.close()


def metrics(served: ServedApi) -> tuple[httpx.Response, dict]:
    """GET /metrics with no credentials at all (Prometheus has none): the answer, and its
    samples keyed by (name, frozenset of labels)."""
    answer = httpx.get(served.api.url + "/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer, parse_page(answer.text)


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_served_without_a_token_and_count_what_was_asked(api: ServedApi) -> None:
    answer, first = metrics(api)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert any(name == "veille_build_info" for name, _ in first)
    # The view is read at start (and again once no request has read it for a while): its
    # last read's time moves with each read.
    read = wait_for(lambda: value(metrics(api)[1], LAST_READ), 20, "the view's first read")
    assert time.time() - 60 < read <= time.time() + 1
    time.sleep(0.05)
    assert api.client.get("/cases").json()["count"] == 5
    assert api.client.get("/cases/c-new").status_code == 200
    assert api.client.get("/cases?limit=0").status_code == 400
    assert httpx.get(api.api.url + "/cases", timeout=10).status_code == 401  # no token
    assert api.client.get("/nope/c-old").status_code == 404
    written = api.client.post("/cases/c-new/decision",
                              json={"decision": "assign", "moderator": "bob"})
    assert written.status_code == 202, written.text
    with browser(api) as client:
        assert sign_in(client, "camille").status_code == 303
        fields = form_of(client.get("/ui").text, "c-old")
        posted = client.post("/ui/decision", data={**fields, "decision": "reject"})
        assert posted.status_code == 303
        _, after = metrics(api)
        assert value(after, "veille_moderation_page_sessions") == 1
    page = httpx.get(api.api.url + "/metrics", timeout=10).text
    assert value(after, LAST_READ) > read
    assert 0 <= value(after, LAST_READ_AGE) < 10  # on its monotonic clock, since that read

    requests = "veille_moderation_api_requests_total"
    for route, code, n in (("/cases", "200", 1), ("/cases", "400", 1), ("/cases", "401", 1),
                           ("/cases/{case_id}", "200", 1), ("/cases/{case_id}/decision", "202", 1),
                           ("other", "404", 1), ("/ui/signin", "303", 1), ("/ui", "200", 1),
                           ("/ui/decision", "303", 1)):
        assert value(after, requests, route=route, code=code) == n, (route, code)
    assert value(after, requests, route="/metrics", code="200") >= 2
    assert value(after, "veille_moderation_api_request_duration_seconds_count", route="/cases") == 3
    decisions = "veille_moderation_api_decisions_total"
    assert value(after, decisions, decision="assign", via="api") == 1
    assert value(after, decisions, decision="reject", via="page") == 1
    assert sum(v for (name, _), v in after.items() if name == decisions) == 2
    refusals = "veille_moderation_api_refusals_total"
    assert value(after, refusals, reason="unauthorized", via="api") == 1
    assert value(after, refusals, reason="invalid_query", via="api") == 1
    assert value(after, refusals, reason="not_found", via="api") == 1
    assert value(after, "veille_moderation_api_read_failures_total") == 0
    # Bounded labels only: no case id, no moderator's name, no path as asked.
    for word in ("c-new", "c-old", "bob", "camille", "nope", TOKEN):
        assert word not in page, word


def test_a_refused_form_counts_as_the_pages_refusal(api: ServedApi) -> None:
    with browser(api) as client:
        sign_in(client, "camille")
        fields = form_of(client.get("/ui").text, "c-old")
        client.post("/ui/decision", data={**fields, "decision": "approve"})
        client.post("/ui/decision", data={**form_of(client.get("/ui").text, "c-spam"),
                                          "decision": "approve"})
        stale = client.post("/ui/decision", data={**fields, "csrf": "forged", "decision": "reject"})
        assert stale.status_code == 403
        # Another closing decision on c-old, from a fresh form: the API's 409, on the page.
        again = client.post("/ui/decision", data={**form_of(client.get("/ui").text, "c-old"),
                                                  "decision": "reject"})
        assert again.status_code == 303
    _, after = metrics(api)
    refusals = "veille_moderation_api_refusals_total"
    assert value(after, refusals, reason="csrf", via="page") == 1
    assert value(after, refusals, reason="decision_pending", via="page") == 1
    assert value(after, "veille_moderation_api_decisions_total", decision="approve",
                 via="page") == 2
