"""The moderation page (GET /ui) against the real broker: sign-in, the pending cases, a decision
from the form written as the API writes it, CSRF, escaping, French words, security headers and
sign-out. Queue items are written straight to the topics, as in test_moderation_api."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest

from streams.topics import MODERATION_CLOSED, MODERATION_DECISIONS, MODERATION_QUEUE, ensure_topics
from tests.integration.test_moderation_api import NOW, TOKEN, item
from tests.kafka_helpers import produce, read_all
from tests.moderation_helpers import ServedApi
from veille.moderate.page import COOKIE, SECURITY_HEADERS
from veille.moderation.cases import apply_decision
from veille.moderation.queue import case_of

pytestmark = pytest.mark.integration
EVIL_TEXT = '<script>alert(1)</script> "onmouseover=alert(2) x=\''
EVIL_AUTHOR = '"><img src=x onerror=alert(3)>'


def items() -> list[dict]:
    evil = {**item("c-evil", "acme", ("insult",), "review", 120), "text": EVIL_TEXT,
            "author": EVIL_AUTHOR, "url": "javascript:alert(4)"}
    linked = {**item("c-new", "acme", ("needs_answer",), "respond", 60),
              "url": "https://example.org/p?a=1&b=2"}
    late = item("c-late", "acme", ("needs_answer",), "respond", 3 * 86400)  # its deadline past
    return [late, item("c-old", "acme", ("insult", "aggressive"), "review", 600),
            item("c-spam", "boreal", ("spam",), "hide", 300), evil, linked,
            item("c-done", "acme", ("detractor",), "review", 900)]


def serve(settings, token: str | None = TOKEN) -> ServedApi:
    ensure_topics(settings)
    queued = items()
    produce(settings, MODERATION_QUEUE,
            [(i["case_id"].encode(), json.dumps(i).encode()) for i in queued])
    done = apply_decision(case_of(queued[-1]), {"case_id": "c-done", "decision": "approve",
                                                "moderator": "alice", "decided_at": NOW - 30},
                          now=NOW)
    produce(settings, MODERATION_CLOSED, [(b"c-done", json.dumps(done.record).encode())])
    return ServedApi(settings, token=token)


@pytest.fixture
def served(settings) -> Iterator[ServedApi]:
    api = serve(settings)
    yield api
    api.close()


def browser(api: ServedApi) -> httpx.Client:
    """A client without the bearer token, keeping cookies, as a browser."""
    return httpx.Client(base_url=api.api.url, timeout=30)


def sign_in(client: httpx.Client, name: str = "camille", token: str = TOKEN,
            lang: str = "en") -> httpx.Response:
    return client.post(f"/ui/signin?lang={lang}", data={"token": token, "moderator": name})


def form_of(page: str, case_id: str) -> dict[str, str]:
    """The hidden fields of `case_id`'s decision form on the page."""
    article = next(a for a in page.split("<article>")[1:]
                   if f'name="case_id" value="{case_id}"' in a)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', article))
    return {k: html.unescape(v) for k, v in fields.items()}


def test_sign_in_refuses_a_wrong_token_and_lists_the_pending_cases(served: ServedApi) -> None:
    with browser(served) as client:
        first = client.get("/ui")
        assert first.status_code == 200 and 'name="token"' in first.text
        assert "c-old" not in first.text  # nothing shown before sign-in
        for token, name in (("wrong-token-wrong-token", "camille"), ("", "camille"), (TOKEN, " ")):
            refused = sign_in(client, name, token)
            assert refused.status_code == 401 and COOKIE not in refused.headers.get("Set-Cookie", "")
            assert "c-old" not in client.get("/ui").text
        # The bearer token is not a session: the page still asks to sign in.
        assert "c-old" not in client.get("/ui", headers={"Authorization": f"Bearer {TOKEN}"}).text
        signed = sign_in(client)
        assert signed.status_code == 303 and signed.headers["Location"].startswith("/ui?")
        cookie = signed.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
        page = client.get("/ui")
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
        for case_id in ("c-late", "c-old", "c-spam", "c-evil", "c-new"):
            assert f'name="case_id" value="{case_id}"' in page.text, case_id
        articles = {re.search(r'name="case_id" value="([^"]+)"', a).group(1): a  # type: ignore[union-attr]
                    for a in page.text.split("<article>")[1:]}
        assert "<span class=\"late\">" in articles["c-late"], articles["c-late"]
        # Due in about two hours from NOW (this module's import, maybe minutes ago in a suite).
        assert "class=\"late\"" not in articles["c-new"]
        assert re.search(r"\(in 1h\d\d", articles["c-new"]), articles["c-new"]
        assert "no answer asked" in articles["c-old"]
        assert "c-done" not in page.text  # closed: not pending
        assert "camille" in page.text
        session = {"Cookie": f"{COOKIE}={client.cookies[COOKIE]}"}
        assert httpx.get(served.api.url + "/cases", headers=session).status_code == 401  # not the API's
        # GET /cases's filters: brand, category, sort, limit.
        acme = client.get("/ui?brand=acme&category=needs_answer&sort=respond_by&limit=5").text
        assert 'value="c-new"' in acme and 'value="c-old"' not in acme and 'value="c-spam"' not in acme
        one = client.get("/ui?limit=1").text
        assert one.count('type="hidden" name="case_id"') == 1 and "5 pending cases, 1 shown" in one
        bad = client.get("/ui?limit=0")
        assert bad.status_code == 200 and "Invalid filter" in bad.text and "limit" in bad.text
    # The JSON API and its bearer token are as they were.
    assert served.client.get("/cases").json()["count"] == 5
    assert httpx.get(served.api.url + "/cases").status_code == 401


def test_a_decision_from_the_form_is_written_as_the_api_writes_it(settings, served: ServedApi) -> None:
    with browser(served) as client:
        sign_in(client)
        fields = form_of(client.get("/ui?brand=acme").text, "c-new")
        posted = client.post("/ui/decision?lang=en&brand=acme",
                             data={**fields, "decision": "reject", "reason": "charte §2"})
        assert posted.status_code == 303 and posted.headers["Location"] == "/ui?lang=en&brand=acme"
        written = read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)
        record = json.loads(written[0].value)
        assert (written[0].key, record["decision"], record["moderator"], record["reason"]) == (
            b"c-new", "reject", "camille", "charte §2")
        # The outcome, once; the API sees the decision waiting for the agent.
        after = client.get(posted.headers["Location"]).text
        assert 'class="note done"' in after and "decision written: reject" in after
        assert 'class="note done"' not in client.get("/ui").text
        pending = served.client.get("/cases/c-new").json()["item"]["decision_pending"]
        assert pending["decision"] == "reject" and pending["moderator"] == "camille"
        # The same form sent again (a double click, a reload): answered again, not written again.
        client.post("/ui/decision", data={**fields, "decision": "reject", "reason": "charte §2"})
        # Another closing decision: refused as the API refuses it (409 decision_pending).
        again = form_of(client.get("/ui").text, "c-new")
        client.post("/ui/decision", data={**again, "decision": "approve"})
        shown = client.get("/ui").text
        assert 'class="note refused"' in shown and "a decision is waiting" in shown
        # An assignment to someone else keeps the case pending, assigned.
        take = form_of(shown, "c-old")
        client.post("/ui/decision", data={**take, "decision": "assign", "assignee": "dominique"})
        assert "dominique" in client.get("/ui").text
        assert served.client.get("/cases/c-old").json()["item"]["assigned"]["assignee"] == "dominique"
        assert len(read_all(settings, MODERATION_DECISIONS, expect=2, settle=1.0)) == 2


def test_a_post_without_the_sessions_csrf_token_is_refused_and_writes_nothing(
        settings, served: ServedApi) -> None:
    with browser(served) as client, browser(served) as other:
        sign_in(client)
        sign_in(other, "mallory")
        fields = form_of(client.get("/ui").text, "c-old")
        theirs = form_of(other.get("/ui").text, "c-old")["csrf"]
        assert theirs != fields["csrf"]
        for csrf in (None, "", "forged", theirs, fields["csrf"] + "x"):
            data = {**fields, "decision": "approve"}
            if csrf is None:
                del data["csrf"]
            else:
                data["csrf"] = csrf
            refused = client.post("/ui/decision", data=data)
            assert refused.status_code == 403, csrf
            assert refused.headers["Content-Security-Policy"] == SECURITY_HEADERS[
                "Content-Security-Policy"]
        # Without a session (a cross-site POST carries no SameSite=Strict cookie): refused too.
        with browser(served) as stranger:
            assert stranger.post("/ui/decision", data={**fields, "decision": "approve"}).status_code == 403
        assert client.post("/ui/signout", data={}).status_code == 403  # sign-out needs it too
        assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []
        assert 'value="c-old"' in client.get("/ui").text  # still signed in


def test_text_from_the_wild_is_escaped_and_only_http_links_are_links(served: ServedApi) -> None:
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui").text
    assert "<script>" not in page and "<img" not in page and "onerror=alert" not in page.replace(
        "onerror=alert(3)&gt;", "")
    assert html.escape(EVIL_TEXT, quote=True) in page
    assert "&quot;onmouseover=alert(2)" in page and '"onmouseover' not in page
    assert html.escape(EVIL_AUTHOR, quote=True) in page
    assert "javascript:alert(4)" in page and 'href="javascript' not in page.lower()
    assert ('<a href="https://example.org/p?a=1&amp;b=2" rel="noopener noreferrer nofollow">'
            in page)
    # The link above; the others are the page's own (its pages, the language switch, the skip).
    assert [h for h in re.findall(r'<a [^>]*href="([^"]*)"', page) if not h.startswith(("/ui", "#"))
            ] == ["https://example.org/p?a=1&amp;b=2"]


def test_the_security_headers_and_sign_out(served: ServedApi) -> None:
    with browser(served) as client:
        for response in (client.get("/ui"), sign_in(client, token="nope-nope-nope-nope"),
                         sign_in(client), client.get("/ui")):
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get(name) == value, (response.url, name)
        page = client.get("/ui").text
        fields = form_of(page, "c-old")
        cookie = client.cookies[COOKIE]
        out = client.post("/ui/signout?lang=en", data={"csrf": fields["csrf"]})
        assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["Set-Cookie"]
        assert 'name="token"' in client.get("/ui").text
    with browser(served) as replay:  # the old cookie, kept by whoever had it: worth nothing now
        replay.cookies.set(COOKIE, cookie)
        assert 'value="c-old"' not in replay.get("/ui").text
        assert replay.post("/ui/decision", data={**fields, "decision": "approve"}).status_code == 403


def test_the_page_speaks_french_by_default_when_the_reports_do(settings) -> None:
    api = serve(settings.with_(report_language="fr", timezone="Europe/Paris"),
                token=None)  # no token: loopback only
    try:
        with browser(api) as client:
            first = client.get("/ui").text
            assert "Se connecter" in first and 'name="token"' not in first  # as the API: no token
            assert client.post("/ui/signin", data={"moderator": "camille"}).status_code == 303
            page = client.get("/ui").text
            assert '<html lang="fr">' in page
            # The moderators' clock (VEILLE_TIMEZONE), its zone named; the machines' UTC.
            assert re.search(r'<time datetime="[-0-9T:]+Z">[-0-9 :]+ CES?T</time>', page), page
            assert not re.search(r">[-0-9 :]+ UTC<", page)
            for words in ("dossier", "marque", "gravité", "catégories", "échéance", "lien",
                          "approuver", "rejeter", "escalader", "motif", "Se déconnecter",
                          "examiner", "pas de réponse demandée"):
                assert words in page, words
            done = client.get("/ui?lang=en").text
            assert "Sign out" in done and "approuver" not in done
            fields = form_of(page, "c-spam")
            client.post("/ui/decision", data={**fields, "decision": "approve"})
            said = client.get("/ui").text
            assert "décision enregistrée" in said and "approuvé" in said
            client.post("/ui/decision", data={**form_of(said, "c-spam"), "decision": "reject"})
            refused = html.unescape(client.get("/ui").text)
            assert "Refusé (une décision attend)" in refused
            # Its detail in French too (the API's answer stays English).
            assert "a déjà une décision en attente d'être appliquée" in refused, refused
            assert "already has a decision" not in refused
            assert "approuvé de 'camille'" in refused
    finally:
        api.close()


def test_a_lone_surrogate_in_a_case_does_not_break_the_page(settings, served: ServedApi) -> None:
    """Valid JSON, not valid Unicode ("\\ud800"): GET /cases serves it escaped; one such case
    (another producer's, a record from before the checks) must not turn the page into a 500
    for every moderator."""
    bad = {**item("c-sur", "acme", ("insult",), "review", 120), "text": "a\ud800b",
           "author": "\udcff", "url": "https://example.org/\ud83d"}
    produce(settings, MODERATION_QUEUE, [(b"c-sur", json.dumps(bad).encode())])
    assert served.client.get("/cases/c-sur").status_code == 200
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui")
        assert page.status_code == 200 and 'value="c-sur"' in page.text and "a\ufffdb" in page.text
        assert 'value="c-old"' in page.text


def test_a_cross_site_post_is_refused_sign_in_included(settings, served: ServedApi) -> None:
    """Sec-Fetch-Site: a form on another site cannot sign a browser in (login CSRF: its
    decisions then signed with the attacker's name) nor open sessions to push the real ones out
    of the MAX_SESSIONS; without a token (loopback), any web page could otherwise."""
    cross = {"Sec-Fetch-Site": "cross-site"}
    for served_api in (served, serve(settings, token=None)):
        try:
            with browser(served_api) as client:
                for site in ("cross-site", "same-site"):
                    refused = client.post("/ui/signin", data={"token": TOKEN, "moderator": "mallory"},
                                          headers={"Sec-Fetch-Site": site})
                    assert refused.status_code == 403, site
                    assert "Set-Cookie" not in refused.headers and not served_api.api.page.sessions
                for site in ("same-origin", "none"):  # the page's own form; typed by hand (curl)
                    assert client.post("/ui/signin", data={"token": TOKEN, "moderator": "camille"},
                                       headers={"Sec-Fetch-Site": site}).status_code == 303
                assert sign_in(client).status_code == 303  # no Sec-Fetch-Site: an older browser
                fields = form_of(client.get("/ui").text, "c-old")
                assert client.post("/ui/decision", data={**fields, "decision": "approve"},
                                   headers=cross).status_code == 403
                assert client.post("/ui/signout", data={"csrf": fields["csrf"]},
                                   headers=cross).status_code == 403
                assert 'value="c-old"' in client.get("/ui").text  # still signed in
        finally:
            if served_api is not served:
                served_api.close()
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []


def test_signing_in_again_forgets_the_previous_session(served: ServedApi) -> None:
    with browser(served) as client:
        sign_in(client)
        first = client.cookies[COOKIE]
        sign_in(client, "dominique")
        assert client.cookies[COOKIE] != first and list(served.api.page.sessions) == [
            client.cookies[COOKIE]]


def test_without_a_token_only_a_loopback_host_is_answered(settings) -> None:
    """DNS rebinding: a web page whose name then resolves to 127.0.0.1 is the same origin as
    the API to the browser; without a token, its script could sign in, read the cases and
    decide. Its requests carry its own name in Host: refused (421), the page's and the API's."""
    api = serve(settings, token=None)
    try:
        port = api.api.port
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}",
                     f"localhost.evil.example:{port}"):
            with httpx.Client(base_url=api.api.url, headers={"Host": host}) as client:
                signed = client.post("/ui/signin", data={"moderator": "mallory"},
                                     headers={"Sec-Fetch-Site": "same-origin"})
                assert signed.status_code == 421 and "Set-Cookie" not in signed.headers, host
                assert signed.headers["Content-Security-Policy"] == SECURITY_HEADERS[
                    "Content-Security-Policy"]
                for path in ("/ui", "/cases", "/cases/c-old", "/closed"):
                    refused = client.get(path)
                    assert refused.status_code == 421, (host, path)
                    assert refused.json()["error"] == "misdirected_request"
                assert client.get("/healthz").status_code == 200
                # Metrics hold no personal data: scraped by any name, as /healthz is.
                assert client.get("/metrics").status_code == 200
        assert not api.api.page.sessions
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost", f"[::1]:{port}",
                     f"moderation.localhost:{port}", f"LOCALHOST.:{port}"):
            with httpx.Client(base_url=api.api.url, headers={"Host": host}) as client:
                assert client.get("/cases").status_code == 200, host
                assert client.post("/ui/signin", data={"moderator": "camille"}).status_code == 303
    finally:
        api.close()
    api = serve(settings)  # with a token, any name: the token (or the session) is the check
    try:
        with httpx.Client(base_url=api.api.url, headers={"Host": "moderation.example.org"}) as c:
            assert c.get("/healthz").status_code == 200 and c.get("/cases").status_code == 401
            assert sign_in(c).status_code == 303 and 'value="c-old"' in c.get("/ui").text
    finally:
        api.close()


def test_behind_a_proxy_naming_the_user_the_page_signs_in_and_shows_that_user(settings) -> None:
    """VEILLE_MODERATION_API_USER_HEADER: the API writes the proxy's user, so the page takes
    the name from the proxy too (no name field), and shows the name decisions are written under."""
    api = serve(settings.with_(moderation_api_user_header="X-Forwarded-User"))
    try:
        with browser(api) as client:
            form = client.get("/ui").text
            assert 'name="token"' in form and 'name="moderator"' not in form
            nobody = client.post("/ui/signin", data={"token": TOKEN, "moderator": "mallory"})
            assert nobody.status_code == 401 and "X-Forwarded-User" in nobody.text
            proxied = {"X-Forwarded-User": "alice"}
            signed = client.post("/ui/signin", data={"token": TOKEN, "moderator": "mallory"},
                                 headers=proxied)
            assert signed.status_code == 303
            page = client.get("/ui", headers=proxied).text
            assert "Signed in as alice" in page and "mallory" not in page
            fields = form_of(page, "c-new")
            client.post("/ui/decision", data={**fields, "decision": "approve"}, headers=proxied)
            record = json.loads(read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)[0].value)
            assert record["moderator"] == "alice"
    finally:
        api.close()


EVIL_REASON = '<b>charte</b> §2 "x=\''


def close_from_the_page(settings, client: httpx.Client, case_id: str, decision: str,
                        reason: str) -> None:
    """A decision from the page's form, then its moderation.closed record as the agent writes
    it (the agent does not run here)."""
    fields = form_of(client.get("/ui").text, case_id)
    posted = client.post("/ui/decision", data={**fields, "decision": decision, "reason": reason})
    assert posted.status_code == 303
    record = json.loads(read_all(settings, MODERATION_DECISIONS, expect=1, settle=0.5)[0].value)
    queued = next(i for i in items() if i["case_id"] == case_id)
    # The agent applies it when it reads it: now, not at NOW (this module's import, which a
    # suite may have done minutes before: the decision then looked dated in the future).
    closed = apply_decision(case_of(queued), record, now=time.time())
    produce(settings, MODERATION_CLOSED, [(case_id.encode(), json.dumps(closed.record).encode())])


def closed_articles(page: str) -> dict[str, str]:
    """The closed page's cases by id, in the page's order."""
    return {re.search(r"<h2[^>]*>[^<]*? ([^ <]+)</h2>", a).group(1): a  # type: ignore[union-attr]
            for a in page.split("<article>")[1:]}


def test_the_closed_cases_page_shows_who_decided_what_and_why(settings, served: ServedApi) -> None:
    """GET /ui/closed: what GET /closed gives, newest decision first, with its filters; each
    case's decision, moderator, time, reason, time to decision and mention, escaped."""
    with browser(served) as client:
        first = client.get("/ui/closed")
        assert first.status_code == 200 and 'name="token"' in first.text  # sign in first
        assert "c-done" not in first.text and "alice" not in first.text
        # The sign-in form of the closed page comes back to it.
        action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', first.text)
                               .group(1))  # type: ignore[union-attr]
        signed = client.post(action, data={"token": TOKEN, "moderator": "camille"})
        assert signed.status_code == 303 and signed.headers["Location"].startswith("/ui/closed?")
        close_from_the_page(settings, client, "c-evil", "reject", EVIL_REASON)
        pending = client.get("/ui").text
        assert 'href="/ui/closed?lang=en"' in pending  # linked from the pending cases
        page = client.get("/ui/closed")
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
        for name, value in SECURITY_HEADERS.items():
            assert page.headers.get(name) == value, name
        text = page.text
        assert 'href="/ui?lang=en"' in text  # and back
        cases = closed_articles(text)
        assert list(cases) == ["c-evil", "c-done"], list(cases)  # newest decision first
        evil, done = cases["c-evil"], cases["c-done"]
        assert "reject" in evil and "camille" in evil and html.escape(EVIL_REASON) in evil
        assert html.escape(EVIL_TEXT) in evil and html.escape(EVIL_AUTHOR) in evil
        assert "javascript:alert(4)" in evil and 'href="javascript' not in evil.lower()
        assert "approve" in done and "alice" in done and "<time datetime=" in done
        assert "2 closed cases, 2 shown" in text
        assert "<script>" not in text and "<b>charte" not in text and "<img" not in text
        # Read-only: the one form that posts is the sign-out.
        assert re.findall(r'<form[^>]*method="post"[^>]*action="([^"?]+)', text) == ["/ui/signout"]
        # GET /closed's filters.
        assert list(closed_articles(client.get("/ui/closed?decision=approve").text)) == ["c-done"]
        assert list(closed_articles(client.get("/ui/closed?moderator=camille").text)) == ["c-evil"]
        assert list(closed_articles(client.get("/ui/closed?brand=boreal").text)) == []
        one = client.get("/ui/closed?limit=1").text
        assert list(closed_articles(one)) == ["c-evil"] and "2 closed cases, 1 shown" in one
        bad = client.get("/ui/closed?decision=escalate")
        assert bad.status_code == 200 and "Invalid filter" in bad.text and "decision" in bad.text
        assert client.get("/ui/closed?sort=respond_by").text.count("Invalid filter") == 1
        # The same as the API's answer.
        api = served.client.get("/closed").json()
        assert [c["case_id"] for c in api["cases"]] == ["c-evil", "c-done"]
        # French words.
        fr = client.get("/ui/closed?lang=fr").text
        assert '<html lang="fr">' in fr
        for words in ("Dossiers clos", "rejeté", "approuvé", "motif", "marque", "décidé",
                      "lien", "Se déconnecter", "2 dossiers clos, 2 affichés"):
            assert words in fr, words
        assert 'href="/ui?lang=fr"' in fr
    with browser(served) as stranger:  # no session: nothing of the cases
        assert "c-evil" not in stranger.get("/ui/closed").text


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], ancestors: tuple[Element, ...]) -> None:
        self.tag, self.attrs, self.ancestors = tag, attrs, ancestors
        self.parts: list[str] = []

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


class Outline(HTMLParser):
    """Every element of a page, with its attributes, its text and its ancestors."""

    VOID = frozenset({"meta", "input", "br", "link", "img", "hr", "wbr", "source", "col",
                      "area", "base", "embed", "track"})

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, tuple(self.open))
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self.open) - 1, -1, -1):
            if self.open[n].tag == tag:
                del self.open[n:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.parts.append(data)

    def all(self, *tags: str) -> list[Element]:
        return [e for e in self.elements if e.tag in tags]


def accessibility_problems(page: str, lang: str) -> list[str]:
    """What RGAA / WCAG 2.1 AA checks of server-rendered HTML find wrong on `page`."""
    found = Outline(page)
    problems = []
    roots = found.all("html")
    if len(roots) != 1 or roots[0].attrs.get("lang") != lang:
        problems.append(f"html lang is not {lang!r}")
    titles = found.all("title")
    if len(titles) != 1 or not titles[0].text:
        problems.append("no title")
    if len(found.all("h1")) != 1 or not found.all("h1")[0].text:
        problems.append(f"{len(found.all('h1'))} h1")
    mains = found.all("main")
    if len(mains) != 1:
        problems.append(f"{len(mains)} main")
    labelled = {e.attrs.get("for") for e in found.all("label") if e.text}
    for control in found.all("input", "select", "textarea"):
        if control.attrs.get("type") in ("hidden", "submit"):
            continue
        ident = control.attrs.get("id")
        if not (ident and ident in labelled) and not control.attrs.get("aria-label"):
            problems.append(f"no label for {control.tag} {control.attrs.get('name')}")
    ids = [e.attrs["id"] for e in found.elements if "id" in e.attrs]
    if len(ids) != len(set(ids)):
        problems.append("ids given twice")
    for button in found.all("button"):
        if not (button.text or button.attrs.get("aria-label")):
            problems.append(f"a button without a name: {button.attrs}")
    for form in found.all("form"):
        inside = [e for e in found.elements if form in e.ancestors]
        if any(e.attrs.get("name") == "case_id" for e in inside):
            legends = [e for e in inside if e.tag == "legend"
                       and any(a.tag == "fieldset" for a in e.ancestors)]
            if not legends or not legends[0].text:
                problems.append("a case's decision form without fieldset and legend")
    for th in found.all("th"):
        if th.attrs.get("scope") not in ("row", "col"):
            problems.append(f"th without scope: {th.text}")
    links = found.all("a")
    for link in links:  # a name (WCAG 2.4.4), holding the words shown (2.5.3, label in name)
        name = link.attrs.get("aria-label", link.text)
        if not name.strip() or link.text.casefold() not in name.casefold():
            problems.append(f"link without a name holding its text: {link.text!r} ({name!r})")
    if found.all("nav"):
        skip = links[0].attrs.get("href", "") if links else ""
        target = skip.removeprefix("#")
        if not skip.startswith("#") or target not in {m.attrs.get("id") for m in mains}:
            problems.append("navigation without a skip link to the main content first")
    for time_element in found.all("time"):
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?Z",
                            time_element.attrs.get("datetime", "")):
            problems.append(f"time without a machine-readable datetime: {time_element.text}")
    style = "".join(e.text for e in found.all("style"))
    if re.search(r"outline\s*:\s*(none|0)", style) or ":focus-visible" not in style:
        problems.append("focus not visibly outlined")
    backgrounds = ["#fff", *re.findall(r"background(?:-color)?\s*:\s*(#[0-9a-fA-F]{3,6})", style)]
    for colour in re.findall(r"(?<![-\w])color\s*:\s*(#[0-9a-fA-F]{3,6})", style):
        worst = min(contrast(colour, b) for b in backgrounds)
        if worst < 4.5:
            problems.append(f"{colour} has a contrast of {worst:.2f}:1")
    return problems


def contrast(one: str, other: str) -> float:
    """WCAG 2.1's contrast ratio of two #rgb or #rrggbb colours."""
    def luminance(colour: str) -> float:
        hexa = colour.lstrip("#")
        hexa = "".join(c * 2 for c in hexa) if len(hexa) == 3 else hexa
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                  for c in (int(hexa[i:i + 2], 16) / 255 for i in (0, 2, 4))]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_pages_meet_rgaa_and_wcag_checks(settings, served: ServedApi) -> None:
    """RGAA / WCAG 2.1 AA, what applies to server-rendered HTML: the language, a title per page,
    one h1, landmarks and a skip link, labelled controls, named buttons, a fieldset per case's
    decision, times machine-readable, visible focus, contrast of coloured text."""
    assert contrast("#fff", "#000") == pytest.approx(21.0) and contrast("#777", "#fff") < 4.5
    with browser(served) as client:
        pages = {"sign-in": client.get("/ui").text,
                 "closed sign-in fr": client.get("/ui/closed?lang=fr").text}
        sign_in(client)
        close_from_the_page(settings, client, "c-spam", "reject", "spam")
        pages |= {"pending": client.get("/ui").text, "closed": client.get("/ui/closed").text,
                  "pending fr": client.get("/ui?lang=fr").text,
                  "closed fr": client.get("/ui/closed?lang=fr").text,
                  "invalid": client.get("/ui/closed?limit=0").text,
                  # One author's cases (the filter's field, the count, each author a link).
                  "author": client.get("/ui?author=%40someone&sort=respond_by").text,
                  "closed author fr": client.get("/ui/closed?lang=fr&author=someone").text,
                  "refused": client.post("/ui/decision", data={"decision": "approve"}).text}
        titles = {}
        for name, page in pages.items():
            assert accessibility_problems(page, "fr" if "fr" in name else "en") == [], name
            titles[name] = Outline(page).all("title")[0].text
        assert len({titles["sign-in"], titles["pending"], titles["closed"],
                    titles["refused"]}) == 4, titles  # a title per page
        for name in ("pending", "closed"):
            outline = Outline(pages[name])
            assert outline.all("nav") and outline.all("time"), name
        pending = Outline(pages["pending"])
        forms = [e for e in pending.all("input") if e.attrs.get("name") == "case_id"
                 and e.attrs.get("type") == "hidden"]
        # One per pending case, and the form deciding several (a box per case belongs to it).
        assert len(pending.all("fieldset")) - 1 == len(forms) == 4
        boxes = [e for e in pending.all("input") if e.attrs.get("form") == "bulk"]
        assert len(boxes) == 4
        late = next(e for e in pending.all("span") if e.attrs.get("class") == "late")
        assert "overdue" in late.text  # said in words, not by colour alone
        switch = next(e for e in pending.all("a") if e.attrs.get("hreflang") == "fr")
        assert switch.attrs.get("lang") == "fr"  # the other language's link, in its language


def case_ids(page: str) -> list[str]:
    return re.findall(r'name="case_id" value="([^"]+)"', page)


def test_my_cases_and_the_unassigned_ones_filters_kept_across_the_page(served: ServedApi) -> None:
    """Seat review, 2026-12-06: "my cases" and "no one's" as filters (GET /cases's assignee and
    unassigned=true), kept by the decision's redirect, the language link and the way back."""
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui").text
        assert '<label for="f-cases">' in page and '<option value="mine">' in page
        # Camille takes c-old (assign without an assignee), with "no one's" chosen.
        posted = client.post("/ui/decision?lang=en&cases=unassigned&brand=acme",
                             data={**form_of(page, "c-old"), "decision": "assign"})
        assert posted.headers["Location"] == "/ui?lang=en&cases=unassigned&brand=acme"
        assert "c-old" not in case_ids(client.get(posted.headers["Location"]).text)
        mine = client.get("/ui?lang=en&cases=mine").text
        assert case_ids(mine) == ["c-old"], case_ids(mine)
        assert '<option value="mine" selected>' in mine
        assert "1 pending case, 1 shown" in mine
        # The language link and the decision form keep it.
        assert 'href="/ui?lang=fr&amp;cases=mine"' in mine
        assert 'action="/ui/decision?lang=en&amp;cases=mine"' in mine
        assert sorted(case_ids(client.get("/ui?cases=unassigned").text)) == [
            "c-evil", "c-late", "c-new", "c-spam"]
        # Someone else's "mine" is theirs.
        with browser(served) as other:
            sign_in(other, "bob")
            assert case_ids(other.get("/ui?cases=mine").text) == []
        # A form refused (stale: another session's token) links back with its filters.
        stale = client.post("/ui/decision?lang=en&cases=mine&sort=respond_by",
                            data={**form_of(mine, "c-old"), "csrf": "stale", "decision": "approve"})
        assert stale.status_code == 403
        assert 'href="/ui?lang=en&amp;cases=mine&amp;sort=respond_by"' in stale.text, stale.text


def test_a_form_sent_after_sign_out_says_the_session_expired(settings, served: ServedApi) -> None:
    """Seat review, 2026-12-06: a decision sent from a page left open after signing out (or
    once the session expired) said the form was stale; it says to sign in again."""
    with browser(served) as client:
        sign_in(client, lang="fr")
        fields = form_of(client.get("/ui?lang=fr").text, "c-old")
        assert client.post("/ui/signout?lang=fr", data={"csrf": fields["csrf"]}).status_code == 303
        for lang, said, link in (
                ("fr", "Votre session a expiré, ou vous vous êtes déconnecté·e", "Se reconnecter"),
                ("en", "Your session has expired, or you signed out", "Sign in again")):
            refused = client.post(f"/ui/decision?lang={lang}&cases=mine",
                                  data={**fields, "decision": "approve"})
            assert refused.status_code == 403
            text = html.unescape(refused.text)
            assert said in text and "périmé" not in text and "stale" not in text, text
            assert f'<a href="/ui?lang={lang}&cases=mine">{link}</a>' in text, text
        # A signed-in user's wrong token is still "stale".
        sign_in(client)
        stale = client.post("/ui/decision", data={**fields, "decision": "approve"})
        assert stale.status_code == 403 and "stale" in stale.text
    assert read_all(settings, MODERATION_DECISIONS, expect=0, settle=0.5, timeout=5) == []


def test_the_escalated_filter_shows_the_escalation_queue_kept_across_the_page(
        served: ServedApi) -> None:
    """A lead's escalation queue on the page: « escaladés » (GET /cases's escalated=true), with
    "no one's", the escalated cases no one took; kept by the decision's redirect, the language
    link and the refused form's way back, as the other filters are; labelled, and refused in
    words when hand-typed wrong."""
    with browser(served) as client:
        sign_in(client, lang="fr")
        page = client.get("/ui?lang=fr").text
        assert ('<input type="checkbox" id="f-escalated" name="escalated" value="true"> '
                '<label for="f-escalated">escaladés</label>') in page, page
        assert not accessibility_problems(page, "fr")
        # Camille escalates c-old to the escalation queue, with the filter chosen.
        posted = client.post("/ui/decision?lang=fr&cases=unassigned&escalated=true",
                             data={**form_of(page, "c-old"), "decision": "escalate"})
        assert posted.headers["Location"] == "/ui?lang=fr&cases=unassigned&escalated=true"
        queue = client.get(posted.headers["Location"]).text
        assert case_ids(queue) == ["c-old"], case_ids(queue)
        assert 'id="f-escalated" name="escalated" value="true" checked>' in queue
        assert "1 dossier en attente, 1 affiché" in queue
        assert 'href="/ui?lang=en&amp;cases=unassigned&amp;escalated=true"' in queue
        assert 'action="/ui/decision?lang=fr&amp;cases=unassigned&amp;escalated=true"' in queue
        assert case_ids(client.get("/ui?escalated=true&cases=mine").text) == []
        assert sorted(case_ids(client.get("/ui?escalated=false").text)) == [
            "c-evil", "c-late", "c-new", "c-old", "c-spam"]
        english = client.get("/ui?lang=en&escalated=true").text
        assert '<label for="f-escalated">escalated</label>' in english
        assert case_ids(english) == ["c-old"]
        # A form refused (stale) links back with it.
        stale = client.post("/ui/decision?lang=en&escalated=true&sort=respond_by",
                            data={**form_of(queue, "c-old"), "csrf": "stale", "decision": "approve"})
        assert stale.status_code == 403
        assert 'href="/ui?lang=en&amp;escalated=true&amp;sort=respond_by"' in stale.text, stale.text
        wrong = html.unescape(client.get("/ui?lang=fr&escalated=oui").text)
        assert "Filtre invalide" in wrong and "escalated must be one of true, false" in wrong
        assert case_ids(wrong) == []


def test_a_time_at_the_end_of_the_schemas_range_does_not_break_the_page(settings) -> None:
    """Security review, 2026-12-06: the times at VEILLE_TIMEZONE's clock (datetime.fromtimestamp
    in the zone) raised OverflowError for a time the records' schema takes (years 1 to 9999 in
    UTC) but the zone's wall clock puts beyond 9999 (east of UTC) or before year 1 (west): one
    such case, another producer's, made the pending cases a 500 for every moderator. Shown in
    UTC instead."""
    api = serve(settings.with_(timezone="Europe/Paris"))
    try:
        edge = {**item("c-edge", "acme", ("needs_answer",), "respond", 120),
                "created_at": "9999-12-31T23:59:59.000Z", "respond_by": "9999-12-31T23:59:59.000Z"}
        produce(settings, MODERATION_QUEUE, [(b"c-edge", json.dumps(edge).encode())])
        assert api.client.get("/cases").json()["count"] == 6  # the API serves it
        with browser(api) as client:
            sign_in(client)
            page = client.get("/ui")
            assert page.status_code == 200, page.text
            assert 'value="c-edge"' in page.text and 'value="c-old"' in page.text
            assert ">9999-12-31 23:59 UTC</time>" in page.text
            assert re.search(r">[-0-9 :]+ CES?T</time>", page.text)  # the others at the zone's clock
    finally:
        api.close()


def paging(page: str, label: str = "Pages of cases") -> dict[str, str]:
    """The page's previous / next links (rel: href), from its paging <nav>; {} without one."""
    nav = re.search(rf'<nav aria-label="{label}">(.*?)</nav>', page)
    return {rel: html.unescape(href) for href, rel in
            re.findall(r'<a href="([^"]+)" rel="(prev|next)"', nav[1])} if nav else {}


def test_previous_and_next_pages_of_cases_keep_the_filters(settings, served: ServedApi) -> None:
    """Seat review, 2026-12-06: with 1,266 pending cases the page showed the first `limit` and
    no way to the others. GET /cases's and GET /closed's `offset`, in a labelled <nav>: absent
    on the first / last page, the filters kept; kept by a decision, the language link."""
    with browser(served) as client:
        sign_in(client)
        assert paging(client.get("/ui").text) == {}  # one page: no paging
        first = client.get("/ui?brand=acme&limit=2").text
        assert case_ids(first) == ["c-late", "c-old"]
        assert paging(first) == {"next": "/ui?lang=en&brand=acme&limit=2&offset=2"}
        assert "Cases 1–2 of 4" in first and "4 pending cases, 2 shown" in first
        assert 'name="offset"' not in first  # a new filter starts at the first page
        second = client.get(paging(first)["next"]).text
        assert case_ids(second) == ["c-evil", "c-new"] and "Cases 3–4 of 4" in second
        assert paging(second) == {"prev": "/ui?lang=en&brand=acme&limit=2"}
        assert case_ids(client.get(paging(second)["prev"]).text) == ["c-late", "c-old"]
        assert accessibility_problems(second, "en") == []
        # The language link and a decision's way back keep the page.
        assert 'href="/ui?lang=fr&amp;brand=acme&amp;limit=2&amp;offset=2"' in second
        assert 'action="/ui/decision?lang=en&amp;brand=acme&amp;limit=2&amp;offset=2"' in second
        fr = client.get("/ui?lang=fr&brand=acme&limit=2&offset=2").text
        assert "Dossiers 3 à 4 sur 4" in fr and "Dossiers précédents (1 à 2)" in fr
        assert paging(fr, "Pages de dossiers") == {"prev": "/ui?lang=fr&brand=acme&limit=2"}
        assert accessibility_problems(fr, "fr") == []
        # Past the end (the list shrank since): the way back to its last page.
        past = client.get("/ui?brand=acme&limit=2&offset=10").text
        assert case_ids(past) == [] and paging(past) == {
            "prev": "/ui?lang=en&brand=acme&limit=2&offset=2"}
        bad = client.get("/ui?offset=-1").text
        assert "Invalid filter" in bad and "offset" in bad
        bad = client.get("/ui?offset=x&lang=fr").text
        assert "«\u00a0décalage\u00a0» (offset) doit être un nombre entier positif" in bad
        # The closed cases: c-evil rejected now, c-done approved 30 s before.
        close_from_the_page(settings, client, "c-evil", "reject", "insulte")
        closed = client.get("/ui/closed?limit=1").text
        assert list(closed_articles(closed)) == ["c-evil"] and "Case 1 of 2" in closed
        assert paging(closed) == {"next": "/ui/closed?lang=en&limit=1&offset=1"}
        older = client.get(paging(closed)["next"]).text
        assert list(closed_articles(older)) == ["c-done"] and "Case 2 of 2" in older
        assert paging(older) == {"prev": "/ui/closed?lang=en&limit=1"}
        assert accessibility_problems(older, "en") == []
        assert 'href="/ui/closed?lang=fr&amp;limit=1&amp;offset=1"' in older
        # A decision's way back: the page it was taken on (c-evil, closed, leaves it; c-new,
        # taken, stays until the agent applies it: the list shifts by one case at most).
        page = client.get("/ui?brand=acme&limit=2&offset=1").text
        assert case_ids(page) == ["c-old", "c-new"]
        posted = client.post("/ui/decision?lang=en&brand=acme&limit=2&offset=1",
                             data={**form_of(page, "c-new"), "decision": "assign"})
        assert posted.headers["Location"] == "/ui?lang=en&brand=acme&limit=2&offset=1"
        assert "c-new" in client.get(posted.headers["Location"]).text


def test_the_closed_page_says_whether_an_answer_came_on_time(settings, served: ServedApi) -> None:
    """Seat review, 2026-12-06: for a case asking for an answer, whether its closing came by
    its deadline (GET /closed's `answer`); c-late, due two days ago, answered now."""
    with browser(served) as client:
        sign_in(client)
        close_from_the_page(settings, client, "c-late", "replied", "répondu en MP")
        cases = closed_articles(client.get("/ui/closed").text)
        assert re.search(r'<span class="late">answered late \(by 2d2\dh, due <time', cases["c-late"]), \
            cases["c-late"]
        assert "no answer asked" in cases["c-done"]  # a detractor: no answer asked
        fr = closed_articles(client.get("/ui/closed?lang=fr").text)
        assert "répondu en retard (de 2\u00a0j\u00a02" in html.unescape(fr["c-late"]), fr["c-late"]


def test_the_words_filter_on_both_pages_kept_across_a_decision(served: ServedApi) -> None:
    """"Every case about the recall": a labelled field on /ui and /ui/closed sending GET
    /cases's and GET /closed's contains= (case, accents and spacing ignored), kept by the
    language link and a decision's way back; words that hold none refused in the page's
    language."""
    with browser(served) as client:
        sign_in(client)
        page = client.get("/ui").text
        assert ('<label for="f-contains">words (text or link)</label> <input type="text" '
                'id="f-contains" name="contains" value="">') in page, page
        found = client.get("/ui?contains=TEXT%20OF%20%20c-%C3%B3ld").text  # "c-óld"
        assert case_ids(found) == ["c-old"], case_ids(found)
        assert 'id="f-contains" name="contains" value="TEXT OF  c-óld">' in found
        assert accessibility_problems(found, "en") == []
        assert case_ids(client.get("/ui?contains=example.org/p%3Fa%3D1").text) == ["c-new"]  # its link
        assert 'href="/ui?lang=fr&amp;contains=TEXT+OF++c-%C3%B3ld"' in found
        posted = client.post("/ui/decision?lang=en&contains=text+of+c-old",
                             data={**form_of(found, "c-old"), "decision": "assign"})
        assert posted.headers["Location"] == "/ui?lang=en&contains=text+of+c-old"
        fr = client.get("/ui?lang=fr&contains=%CC%81").text  # an accent alone: no word
        assert '<label for="f-contains">mots (texte ou lien)</label>' in fr
        assert "«\u00a0mots (texte ou lien)\u00a0» doit contenir au moins un mot" in html.unescape(fr), fr
        assert case_ids(fr) == [] and accessibility_problems(fr, "fr") == []
        closed = client.get("/ui/closed?contains=of+C-DONE").text
        assert list(closed_articles(closed)) == ["c-done"], list(closed_articles(closed))
        assert 'id="f-contains" name="contains" value="of C-DONE">' in closed
        assert 'href="/ui/closed?lang=fr&amp;contains=of+C-DONE"' in closed
        assert accessibility_problems(closed, "en") == []
        assert list(closed_articles(client.get("/ui/closed?contains=c-old").text)) == []
