"""The moderation page's words (veille.moderate.page), without a server: what a French-speaking
moderator reads in a case, in the filters and in a decision's outcome (found using the demo's
page on 2026-12-06)."""

from __future__ import annotations

import html
import re
from typing import Any

from veille.moderate.page import _filters, outcome, render_case

NOW = 1_796_600_000.0


def case(**extra: Any) -> dict[str, Any]:
    return {"case_id": "demo-7-000216", "brand": "boreal", "categories": ["aggressive", "needs_answer"],
            "severity": "low", "action": "review", "queued_at": NOW - 60, "created_at": NOW - 7200,
            "respond_by": NOW - 3600, "platform": "mastodon", "author": "maxime", "text": "colis écrasé",
            "url": "https://example.org/1", "escalation": None, "assigned": None,
            "decision_pending": None, **extra}


def shown(page: str) -> str:
    """The page as read: its text, its tags gone."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_categories_and_the_sorts_are_in_french_their_values_unchanged() -> None:
    text = shown(render_case(case(), "csrf", "lang=fr", NOW, "fr"))
    assert "agressif, réponse attendue" in text, text
    assert "needs_answer" not in text and "aggressive" not in text
    filters = _filters({}, "fr")
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', filters))
    assert options["needs_answer"] == "réponse attendue" and options["threat"] == "menace"
    assert options["none"] == "aucune (terme interdit de la charte)"
    # The sort: what each order means, no "tous" (any) where the default is the queue order.
    sort = filters.split('name="sort"')[1].split("</select>")[0]
    assert re.findall(r'<option value="([^"]*)"', sort) == ["queued", "respond_by"]
    assert "échéance la plus proche d'abord" in html.unescape(sort)
    assert "tous" not in sort
    chosen = _filters({"sort": "respond_by"}, "fr").split('name="sort"')[1]
    assert '<option value="respond_by" selected>' in chosen
    # English keeps the ids the API and the metrics use.
    assert "aggressive, needs_answer" in shown(render_case(case(), "csrf", "lang=en", NOW, "en"))


def test_an_escalated_case_says_why_it_was_escalated() -> None:
    up = {"count": 1, "severity": "medium", "assignee": None, "moderator": "camille",
          "decided_at": NOW - 30, "reason": "client très en colère"}
    text = shown(render_case(case(escalation=up), "csrf", "lang=fr", NOW, "fr"))
    assert "vers la file d'escalade\u00a0: client très en colère" in text, text


def decided(decision: str, moderator: str, **extra: Any) -> dict[str, Any]:
    record = {"case_id": "demo-7-000063", "decision": decision, "moderator": moderator,
              "decided_at": NOW}
    return {"accepted": True, "decision": record, "previously_assigned": None,
            "escalated_meanwhile": None, **extra}


def test_a_decision_on_a_case_someone_else_works_on_says_so() -> None:
    bob = {"assignee": "bob", "decision": "assign", "moderator": "bob", "decided_at": NOW - 60}
    kind, said = outcome("demo-7-000063", 202, decided("reject", "camille",
                                                       previously_assigned=bob), "fr")
    assert kind == "done" and "rejeté" in said
    note = ". Remarque\u00a0: le dossier 'demo-7-000063' était assigné à bob (assigné par bob le "
    assert note in said, said
    assert "veille:" not in said
    # Not said when it was the moderator's own, nor to whom it is given.
    mine = {**bob, "assignee": "camille"}
    assert "était assigné" not in outcome("demo-7-000063", 202, decided(
        "replied", "camille", previously_assigned=mine), "fr")[1]
    # Escalated by someone else while deciding: said too, as the CLI says it.
    up = {"moderator": "bob", "decided_at": NOW - 5, "assignee": None, "severity": "high"}
    said = outcome("demo-7-000063", 202, decided("approve", "camille", escalated_meanwhile=up),
                   "en")[1]
    assert "was escalated while you decided" in said and "the escalation queue" in said, said
    assert "severity high" in said


def test_a_form_sent_again_with_another_decision_is_refused_in_words() -> None:
    answer = {"error": "idempotency_key_reused",
              "detail": "this Idempotency-Key was used for another decision on this case"}
    kind, said = outcome("demo-7-000113", 422, answer, "fr")
    assert kind == "refused"
    assert "Idempotency-Key" not in said and "(refusé)" not in said, said
    assert "rien d'enregistré" in said


def test_times_are_at_the_moderators_clock_and_french_durations_are_spelt_out() -> None:
    """Seat review, 2026-12-06: times in VEILLE_TIMEZONE with its zone (the <time> element's
    datetime still UTC), durations as a French sentence writes them."""
    from veille.timezones import zone

    paris = zone("Europe/Paris")
    page = render_case(case(queued_at=NOW - 16_860, respond_by=NOW - 63), "csrf", "lang=fr", NOW,
                       "fr", tz=paris)
    text = shown(page)
    assert "2026-12-06 19:52 CET  (il y a 4\u00a0h\u00a041\u00a0min)" in text, text
    assert "2026-12-07 00:32 CET  (1\u00a0min\u00a003\u00a0s de retard)" in text, text
    assert '<time datetime="2026-12-06T18:52:20Z">2026-12-06 19:52 CET</time>' in page, page
    assert "UTC" not in text and "4h41" not in text
    # Summer time: its own abbreviation. English keeps its durations; UTC by default.
    summer = shown(render_case(case(created_at=NOW - 160 * 86400), "csrf", "", NOW, "fr", tz=paris))
    assert "2026-06-30 01:33 CEST  sur mastodon" in summer, summer
    english = shown(render_case(case(queued_at=NOW - 16_860), "csrf", "", NOW, "en"))
    assert "2026-12-06 18:52 UTC  (4h41m ago)" in english, english
    kind, said = outcome("demo-7-000063", 202, decided("reject", "camille"), "fr", paris)
    assert "le 2026-12-07 00:33 CET" in said, said


def test_counts_in_the_singular_or_plural_and_filter_refusals_in_french() -> None:
    from veille.moderate.page import PAGE_TEXT, _counted, query_refusal

    fr, en = PAGE_TEXT["fr"], PAGE_TEXT["en"]
    assert _counted(fr["pending"], 1, 1, "fr") == "1 dossier en attente, 1 affiché"
    assert _counted(fr["pending"], 0, 0, "fr") == "0 dossier en attente, 0 affiché"
    assert _counted(fr["closed_count"], 5, 2, "fr") == "5 dossiers clos, 2 affichés"
    assert _counted(en["pending"], 1, 0, "en") == "1 pending case, 0 shown"
    assert _counted(en["closed_count"], 0, 0, "en") == "0 closed cases, 0 shown"
    limit = {"detail": "limit must be a whole number in 1..1000", "field": "limit"}
    assert query_refusal(limit, "fr") == "«\u00a0au plus\u00a0» doit être un nombre entier de 1 à 1000"
    assert query_refusal(limit, "en") == limit["detail"]
    since = {"detail": "since is not a time (ISO 8601 or Unix seconds)", "field": "since"}
    assert query_refusal(since, "fr").startswith("«\u00a0décidé depuis\u00a0»\u00a0: heure illisible")
    until = {"detail": "until must be after since", "field": "until"}
    assert query_refusal(until, "fr") == (
        "«\u00a0décidé avant\u00a0» doit être après «\u00a0décidé depuis\u00a0»")
    words = {"detail": "contains must hold a word", "field": "contains"}
    assert query_refusal(words, "fr") == "«\u00a0mots (texte ou lien)\u00a0» doit contenir au moins un mot"
    assert query_refusal(words, "en") == words["detail"]


def test_a_time_the_zones_clock_cannot_write_is_shown_in_utc() -> None:
    """Security review, 2026-12-06: years 1 to 9999 in UTC (the records' range) can be year 0 or
    10000 at a zone's clock, which datetime refuses (OverflowError: a 500 for the whole page)."""
    from veille.moderate.page import _time, _when
    from veille.timezones import zone

    for tz, value, said in ((zone("Europe/Paris"), "9999-12-31T23:59:59.000Z", "9999-12-31 23:59 UTC"),
                            (zone("America/New_York"), "0001-01-01T00:00:00.000Z",
                             "1-01-01 00:00 UTC")):  # %Y: glibc does not pad year 1
        assert _when(value, tz) == said
        assert f">{said}</time>" in _time(value, tz)
    assert _when(NOW, zone("Europe/Paris")).endswith(" CET")  # else at the zone's clock


def said(page: str) -> str:
    """A case's cells as read: its tags gone, nothing put in their place."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def closed_case(**extra: Any) -> dict[str, Any]:
    from veille.moderation.cases import iso

    return {"case_id": "demo-7-000063", "brand": "boreal", "categories": ["needs_answer"],
            "decision": "replied", "moderator": "camille", "reason": None,
            "decided_at": iso(NOW), "time_to_decision_seconds": 600.0, "platform": "mastodon",
            "author": "maxime", "text": "colis écrasé", "url": None, **extra}


def test_a_closed_case_says_whether_its_answer_came_on_time() -> None:
    """Seat review, 2026-12-06: the closed page did not say whether an answer came in time.
    GET /closed's `answer` and `respond_by`, in words; no row when the deadline is unknown."""
    from veille.moderate.page import render_closed_case
    from veille.moderation.cases import iso

    on_time = closed_case(answer="on_time", respond_by=iso(NOW + 600))
    assert "answered on time (due 2026-12-06 23:43 UTC)" in said(render_closed_case(on_time, "en"))
    assert "répondu à temps (échéance 2026-12-06 23:43 UTC)" in said(render_closed_case(on_time, "fr"))
    late = closed_case(answer="late", respond_by=iso(NOW - 7800))
    page = render_closed_case(late, "fr")
    assert "répondu en retard (de 2\u00a0h\u00a010\u00a0min, échéance " in said(page), said(page)
    assert '<span class="late">' in page
    assert "answered late (by 2h10m, due " in said(render_closed_case(late, "en"))
    mute = closed_case(decision="approve", answer="no_answer", respond_by=iso(NOW - 60))
    assert "closed without an answer (due " in said(render_closed_case(mute, "en"))
    assert "clos sans réponse (échéance " in said(render_closed_case(mute, "fr"))
    asked_none = closed_case(categories=["spam"], answer=None, respond_by=iso(NOW + 600))
    assert "no answer asked" in said(render_closed_case(asked_none, "en"))
    # A case whose state could not be read: its deadline unknown, nothing said of it.
    unknown = render_closed_case(closed_case(answer=None, respond_by=None), "en")
    assert '<th scope="row">answer</th>' in render_closed_case(on_time, "en")
    assert '<th scope="row">answer</th>' not in unknown and "no answer asked" not in unknown


def test_a_closed_case_answered_on_a_platform_says_where_it_was_seen() -> None:
    """The brand's answer a collector saw on the platform: no moderator clicked `replied`."""
    from veille.moderate.page import render_closed_case

    seen = closed_case(moderator="@BorealOfficial", answered_on="youtube")
    assert "replied (seen on youtube)" in said(render_closed_case(seen, "en"))
    assert "répondu (vu sur youtube)" in said(render_closed_case(seen, "fr"))
    assert "seen on" not in said(render_closed_case(closed_case(answered_on=None), "en"))


def test_the_closed_pages_paging_links_keep_the_filters() -> None:
    """Seat review, 2026-12-06: with 1,266 cases the page showed the first `limit` and no way
    to the others. Previous / next links in a labelled <nav>, the range in words."""
    from veille.moderate.page import Session, render_closed

    session = Session("camille", "csrf", 0.0)
    listing = {"count": 1266, "cases": [closed_case(case_id=f"c-{n}") for n in range(100)]}
    query = {"brand": "acme", "offset": "100", "lang": "en"}
    page = render_closed(listing, session, query, "en", None, "camille")
    nav = re.search(r'<nav aria-label="Pages of cases">(.*?)</nav>', page)
    assert nav, page
    assert "Cases 101–200 of 1,266" in shown(nav[1])
    links = dict((rel, html.unescape(href)) for href, rel in
                 re.findall(r'<a href="([^"]+)" rel="(prev|next)"', nav[1]))
    assert links == {"prev": "/ui/closed?lang=en&brand=acme", "next":
                     "/ui/closed?lang=en&brand=acme&offset=200"}, links
    assert "Previous cases (1–100)" in shown(nav[1]) and "Next cases (201–300)" in shown(nav[1])
    fr = render_closed(listing, session, {**query, "lang": "fr"}, "fr", None, "camille")
    nav = re.search(r'<nav aria-label="Pages de dossiers">(.*?)</nav>', fr)
    assert nav, fr
    said = shown(nav[1])
    assert "Dossiers 101 à 200 sur 1\u202f266" in said, said
    assert "Dossiers précédents (1 à 100)" in said and "Dossiers suivants (201 à 300)" in said
    # The last page: no next link; its one case in the singular.
    last = render_closed({"count": 1266, "cases": [closed_case()]}, session,
                         {"offset": "1265", "limit": "10"}, "en", None, "camille")
    nav = re.search(r'<nav aria-label="Pages of cases">(.*?)</nav>', last)
    assert nav and 'rel="next"' not in nav[1] and "Case 1,266 of 1,266" in shown(nav[1])
    assert "Previous cases (1,256–1,265)" in shown(nav[1])
    # One page only: no paging at all.
    one = render_closed({"count": 2, "cases": [closed_case(), closed_case()]}, session, {}, "en",
                        None, "camille")
    assert "Pages of cases" not in one


def test_both_filter_forms_have_a_labelled_words_field_kept_with_the_other_filters() -> None:
    """GET /cases's and GET /closed's contains= ("every case about the recall"): a field of
    each form, labelled in the page's language, its value kept (escaped) by the form, the
    language link, the paging and a decision's way back, as the other filters."""
    from veille.moderate.page import CLOSED_KEPT, KEPT, _closed_filters, kept_query

    for form in (_filters, _closed_filters):
        en, fr = form({"contains": 'le "rappel" <b>'}, "en"), form({}, "fr")
        assert ('<label for="f-contains">words (text or link)</label> <input type="text" '
                'id="f-contains" name="contains" value="le &quot;rappel&quot; &lt;b&gt;">') in en, en
        assert ('<label for="f-contains">mots (texte ou lien)</label> <input type="text" '
                'id="f-contains" name="contains" value="">') in fr, fr
    for keys in (KEPT, CLOSED_KEPT):
        assert kept_query({"contains": "le rappel", "offset": "100"}, "fr", keys) == (
            "lang=fr&contains=le+rappel&offset=100")
