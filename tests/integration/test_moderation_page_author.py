"""The moderation page's author filter (GET /cases's and GET /closed's author=): the filter
form's field on both pages, kept across a decision, the language link, the way back, the
sign-in and the paging; each case's author a link to that author's cases (URL-encoded, escaped;
none for an erased case); the count naming the author. Against the real broker, as
test_moderation_page."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

import httpx
import pytest

from streams.topics import MODERATION_QUEUE
from tests.integration.test_moderation_api import item
from tests.integration.test_moderation_page import (
    EVIL_AUTHOR,
    accessibility_problems,
    browser,
    case_ids,
    close_from_the_page,
    closed_articles,
    form_of,
    paging,
    serve,
    sign_in,
)
from tests.kafka_helpers import produce
from tests.moderation_helpers import ServedApi
from veille.moderate.page import author_link, render_closed_case
from veille.moderation.queue import erasure_of

pytestmark = pytest.mark.integration
AMP = "@a&b<c>"  # a handle as a URL and HTML would misread it


def articles(page: str) -> dict[str, str]:
    """The pending page's cases by id."""
    return {re.search(r'name="case_id" value="([^"]+)"', a).group(1): a  # type: ignore[union-attr]
            for a in page.split("<article>")[1:]}


def author_links(part: str) -> list[str]:
    """The links of `part` to a page filtered by author (their href, unescaped)."""
    return [html.unescape(h) for h in re.findall(r'<a href="([^"]*author=[^"]*)"', part)]


def extra() -> list[dict]:
    """Julie's two cases (@Julie_35 at acme, julie_35 at boreal) and @a&b<c>'s."""
    return [item("c-j1", "acme", ("aggressive",), "review", 500, author="@Julie_35"),
            item("c-j2", "boreal", ("needs_answer",), "respond", 400, author="julie_35"),
            item("c-amp", "acme", ("spam",), "hide", 200, author=AMP)]


def close(settings, client: httpx.Client, case_id: str, decision: str, reason: str) -> None:
    """test_moderation_page's close_from_the_page, for this module's cases too."""
    import tests.integration.test_moderation_page as pages

    original = pages.items
    pages.items = lambda: [*original(), *extra()]
    try:
        close_from_the_page(settings, client, case_id, decision, reason)
    finally:
        pages.items = original


@pytest.fixture
def served(settings) -> Iterator[ServedApi]:
    """test_moderation_page's cases, extra()'s, and c-gone, Julie's too but erased (`veille
    erase`: author null)."""
    api = serve(settings)
    julie = extra()
    gone = item("c-gone", "acme", ("insult",), "review", 450, author="@Julie_35")
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in [*julie, gone]]
            + [(b"c-gone", json.dumps(erasure_of(gone, time.time(), case_closed=False)).encode())])
    deadline = time.monotonic() + 30
    while api.client.get("/cases").json()["count"] < 9 and time.monotonic() < deadline:
        time.sleep(0.2)
    yield api
    api.close()


def test_the_author_filter_on_both_pages_kept_across_a_decision_and_paging(
        settings, served: ServedApi) -> None:
    """A labelled field on /ui and /ui/closed sending author= (a leading @ and the case
    ignored), kept as the other filters are; the count says whose cases it counts."""
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui").text
        assert ('<label for="f-author">author</label> <input type="text" id="f-author" '
                'name="author" value="">') in page, page
        julie = client.get("/ui?author=%40JULIE_35").text
        assert case_ids(julie) == ["c-j1", "c-j2"], case_ids(julie)  # c-gone erased: no author
        assert 'id="f-author" name="author" value="@JULIE_35">' in julie
        assert "2 pending cases of @JULIE_35, 2 shown" in julie
        assert accessibility_problems(julie, "en") == []
        # The language link, the decision form and its way back keep it.
        assert 'href="/ui?lang=fr&amp;author=%40JULIE_35"' in julie
        assert 'action="/ui/decision?lang=en&amp;author=%40JULIE_35"' in julie
        posted = client.post("/ui/decision?lang=en&brand=acme&author=%40JULIE_35",
                             data={**form_of(julie, "c-j1"), "decision": "assign"})
        assert posted.headers["Location"] == "/ui?lang=en&brand=acme&author=%40JULIE_35"
        assert case_ids(client.get(posted.headers["Location"]).text) == ["c-j1"]
        stale = client.post("/ui/decision?lang=en&author=julie_35",
                            data={**form_of(julie, "c-j2"), "csrf": "stale", "decision": "approve"})
        assert stale.status_code == 403
        assert 'href="/ui?lang=en&amp;author=julie_35"' in stale.text, stale.text
        # Paging keeps it.
        first = client.get("/ui?author=julie_35&limit=1").text
        assert case_ids(first) == ["c-j1"] and "Case 1 of 2" in first
        assert paging(first) == {"next": "/ui?lang=en&author=julie_35&limit=1&offset=1"}
        second = client.get(paging(first)["next"]).text
        assert case_ids(second) == ["c-j2"]
        assert paging(second) == {"prev": "/ui?lang=en&author=julie_35&limit=1"}
        # French words; one case in the singular.
        fr = client.get("/ui?lang=fr&author=%40a%26b%3Cc%3E").text
        assert '<label for="f-author">auteur</label>' in fr
        assert "1 dossier en attente de @a&amp;b&lt;c&gt;, 1 affiché" in fr, fr
        assert accessibility_problems(fr, "fr") == []
        assert sorted(case_ids(client.get("/ui?author=%20").text)) == [  # blank: no filter
            "c-amp", "c-evil", "c-gone", "c-j1", "c-j2", "c-late", "c-new", "c-old", "c-spam"]
        # The closed cases: c-j2 rejected from the page.
        close(settings, client, "c-j2", "reject", "troll")
        closed = client.get("/ui/closed?author=JULIE_35").text
        assert list(closed_articles(closed)) == ["c-j2"], list(closed_articles(closed))
        assert ('<label for="f-author">author</label> <input type="text" id="f-author" '
                'name="author" value="JULIE_35">') in closed
        assert "1 closed case of JULIE_35, 1 shown" in closed
        assert 'href="/ui/closed?lang=fr&amp;author=JULIE_35"' in closed
        assert accessibility_problems(closed, "en") == []
        assert list(closed_articles(client.get("/ui/closed?author=someone").text)) == ["c-done"]
        fr = client.get("/ui/closed?lang=fr&author=julie_35").text
        assert "1 dossier clos de julie_35, 1 affiché" in fr and accessibility_problems(fr, "fr") == []
    with browser(served) as stranger:  # the sign-in comes back with it
        asked = stranger.get("/ui/closed?author=julie_35").text
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', asked)
                               .group(1))  # type: ignore[union-attr]
        assert action == "/ui/signin?lang=en&author=julie_35&to=closed", action


def test_each_cases_author_links_to_their_cases_encoded_and_escaped(
        settings, served: ServedApi) -> None:
    """Each case's author links to the same page filtered by that author (the other filters
    dropped but the sort and the limit, the first page): the handle URL-encoded in the link,
    escaped in its text; an erased case's author, none, is no link."""
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui?brand=acme&category=spam&cases=unassigned&sort=respond_by&limit=50"
                          "&offset=0").text
        amp = articles(page)["c-amp"]
        assert author_links(amp) == ["/ui?lang=en&author=%40a%26b%3Cc%3E&sort=respond_by&limit=50"]
        assert ">@a&amp;b&lt;c&gt;</a>" in amp and "<c>" not in amp
        everyone = articles(client.get("/ui").text)
        assert case_ids(client.get(author_links(everyone["c-amp"])[0]).text) == ["c-amp"]
        evil = everyone["c-evil"]
        assert author_links(evil) == [f"/ui?lang=en&author={quote_plus(EVIL_AUTHOR)}"], evil
        assert "<img" not in evil and html.escape(EVIL_AUTHOR, quote=True) in evil
        assert case_ids(client.get(author_links(evil)[0]).text) == ["c-evil"]
        assert author_links(everyone["c-j1"]) == ["/ui?lang=en&author=%40Julie_35"]
        assert case_ids(client.get("/ui?author=%40Julie_35").text) == ["c-j1", "c-j2"]
        # Erased: no author, no link.
        assert author_links(everyone["c-gone"]) == [] and "Julie" not in everyone["c-gone"]
        # French: the link keeps the language, its name says whose cases it shows.
        fr = articles(client.get("/ui?lang=fr").text)["c-j1"]
        assert author_links(fr) == ["/ui?lang=fr&author=%40Julie_35"]
        assert 'aria-label="Dossiers de @Julie_35"' in fr, fr
        # The closed page links to the closed cases of that author.
        close(settings, client, "c-amp", "reject", "spam")
        since = f"{datetime.now(UTC) - timedelta(hours=2):%Y-%m-%dT%H:%M}"
        closed = closed_articles(client.get(f"/ui/closed?since={since}&decision=reject").text)["c-amp"]
        assert author_links(closed) == [
            f"/ui/closed?lang=en&author=%40a%26b%3Cc%3E&since={since.replace(':', '%3A')}"], closed
        assert 'aria-label="Cases of @a&amp;b&lt;c&gt;"' in closed
        shown = client.get(author_links(closed)[0]).text
        assert list(closed_articles(shown)) == ["c-amp"]
    # A closed case erased since: no link either.
    erased = render_closed_case({"case_id": "c-x", "author": None, "erased_at": "2026-12-07T08:00Z",
                                 "text": "", "decision": "reject"}, "en")
    assert author_links(erased) == [] and "<a " not in erased
    # A handle a URL cannot encode (a lone surrogate), or blank but for its @: its text, no link.
    assert author_link({"author": "@x\ud800"}, {}, "en") == "@x\ud800"
    assert author_link({"author": "@ "}, {}, "en") == "@ "


def test_the_author_value_is_never_reflected_unescaped_nor_a_redirect_elsewhere(
        served: ServedApi) -> None:
    """Security: the query's author, echoed in the field, the count and the links, escaped;
    the way back after a decision stays on the page whatever it holds."""
    evil = '"><script>alert(1)</script>'
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui", params={"author": evil}).text
        closed = client.get("/ui/closed", params={"author": evil}).text
        for text in (page, closed):
            assert "<script>" not in text and evil not in text
            assert f'value="{html.escape(evil, quote=True)}"' in text
            assert f"of {html.escape(evil, quote=True)}, " in text
        fields = form_of(client.get("/ui").text, "c-old")
        for target in ("//evil.example/x", "https://evil.example/", "\r\nLocation: //evil"):
            posted = client.post("/ui/decision", params={"lang": "en", "author": target},
                                 data={**fields, "decision": "assign"})
            assert posted.status_code == 303
            assert posted.headers["Location"] == f"/ui?lang=en&author={quote_plus(target)}"
            fields = form_of(client.get("/ui").text, "c-old")
