"""The moderation page: the pending cases in a browser, and a form per case for its decision.

    GET  /ui?lang=fr|en&cases=mine|unassigned&escalated=true&brand=&author=&contains=&category=
            &sort=&limit= sign-in form, or the pending cases (`cases`: the signed-in user's,
                          GET /cases's assignee=; no one's, its unassigned=true; `escalated`,
                          its own: with cases=unassigned, the escalation queue)
    GET  /ui/closed?lang=&brand=&author=&contains=&category=&decision=&moderator=&since=&until=
            &limit=       sign-in form, or the closed cases (GET /closed's): read only
                          (`author`, as GET /cases's and GET /closed's: one author's cases;
                          each case's author links to them; `contains`, theirs too: the cases
                          whose text or link holds these words)
    POST /ui/signin       token (VEILLE_MODERATION_API_TOKEN) and moderator name: a session cookie
    POST /ui/decision     a case's decision (CSRF token), then back to the list with its outcome
    POST /ui/decisions    one closing decision on the cases checked, or on all those shown
                          (CSRF token), then back to the list: how many decided, which refused
    POST /ui/signout      the session forgotten (CSRF token)

Served by the moderation API's server (veille.moderate.api), whose listing and decision path
it calls: the same filters, checks and writes as GET /cases, GET /closed and
POST /cases/{id}/decision. Server-rendered HTML without JavaScript or external assets; every
value from the cases is escaped, and only http(s) links are links. Written for RGAA / WCAG 2.1
AA: the page's language, a title and one h1 per page, landmarks and a skip link, every control
labelled, a fieldset per case's decision, <time> elements, a visible focus, contrast >= 4.5:1.

Sessions: a random id in an HttpOnly, SameSite=Strict cookie, mapped in this process's memory
to the moderator's name, its CSRF token and its expiry (SESSION_SECONDS; at most MAX_SESSIONS,
the oldest forgotten first; signing in again forgets the previous one). A POST that the browser
says came from another site (Sec-Fetch-Site) is refused, the sign-in's too: no login CSRF, no
sessions opened from elsewhere to push the real ones out. A restart signs everyone out. The
cookie is Secure only on a request that came over TLS to this server, which serves plain HTTP:
behind a TLS proxy it is not marked Secure (the server trusts no X-Forwarded-Proto), so put the
page behind TLS only.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from veille.moderate.commands import DECIDE_TEXT, LIST_TEXT
from veille.moderate.store import BrokerError
from veille.moderate.words import NBSP, SHOW_TEXT, category, clock, decision_word, word
from veille.moderation import CLOSING_DECISIONS, DECISIONS, MAX_BULK_IDS, METRIC_CATEGORIES, SORTS
from veille.moderation.cases import MAX_ID_CHARS, MAX_MODERATOR_CHARS, DecisionError, parse_epoch
from veille.moderation.queue import answered_on_of, duration
from veille.settings import REPORT_LANGUAGES
from veille.timezones import is_utc_name, zone

if TYPE_CHECKING:
    from veille.moderate.api import ModerationApi

#: How long a session lasts from its sign-in, and how many the server keeps.
SESSION_SECONDS = 12 * 3600.0
MAX_SESSIONS = 1000
COOKIE = "veille_session"
#: The query parameters each page keeps from one request to the next: its API's filters
#: (GET /cases's, GET /closed's) and lang.
#: `offset` too: a decision's way back, the sign-in's and the language link return to the page
#: of cases the moderator was on (the filter form, without it, starts at the first page).
KEPT = ("lang", "cases", "escalated", "brand", "author", "contains", "category", "sort", "limit",
        "offset")
#: The pending cases' `cases` filter: whose (the signed-in user's, no one's; "": anyone's).
WHOSE = ("mine", "unassigned")
CLOSED_KEPT = ("lang", "brand", "author", "contains", "category", "decision", "moderator", "since",
               "until", "limit", "offset")
#: What a case's author link keeps of its page's query, the author set: how the cases are shown
#: (the sort, the limit; the closed cases' time window), not the other filters (all of that
#: author's cases, whoever works on them, whatever their brand) nor `offset` (the first page).
AUTHOR_LINK_KEPT = ("lang", "author", "sort", "limit")
CLOSED_AUTHOR_LINK_KEPT = ("lang", "author", "since", "until", "limit")
#: The languages' own names: the link to the page in the other language.
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
#: Sec-Fetch-Site values of a POST the page takes: its own forms, or typed by hand (a tool, curl).
#: A browser too old to send the header is let through (the CSRF token still guards a decision).
SAME_ORIGIN = ("same-origin", "none")
#: The bounds of the form deciding several cases (POST /ui/decisions): a box per case of a page
#: (at most the API's MAX_LIMIT, 1,000), the ids of those shown (at most MAX_BULK_IDS: beyond,
#: the form has no "all shown"), each id as long as a record allows, percent-encoded whole.
BULK_FORM_FIELDS = 1000 + MAX_BULK_IDS + 16
#: The forms deciding several cases a session remembers the outcome of (Session.bulk).
MAX_BULK_KEYS = 8
BULK_FORM_BYTES = BULK_FORM_FIELDS * (MAX_ID_CHARS * 9 + 16)
#: A lone surrogate ("\\ud800" in a record's JSON: valid JSON, not Unicode) cannot be encoded.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The buttons' French verbs: those `veille moderate decide` takes (veille.cli.FRENCH_DECISIONS).
_FRENCH_VERBS = ("approuver", "rejeter", "escalader", "répondu", "assigner", "désassigner")

#: The page's own words; the others are the CLI's (SHOW_TEXT, LIST_TEXT, DECIDE_TEXT) and the
#: records' (veille.moderate.words).
PAGE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Moderation", "sign_in": "Sign in", "token": "Team token",
        "moderator": "Your name", "sign_out": "Sign out", "signed_in": "Signed in as {who}",
        "bad_sign_in": "Wrong token, or no name given: not signed in.",
        "no_proxy_user": "The proxy in front named no user ({header}): not signed in.",
        "csrf": "This form is stale or did not come from this page: nothing written. "
                "Reload the page and try again.",
        "pending": "{n} pending case{s}, {shown} shown", "filter": "Filter", "any": "any",
        "sort": "sort", "limit": "at most", "assignee": "assignee (assign, escalate)",
        "overdue": "overdue", "done": "Done: {text}", "refused": "Refused ({why}): {detail}",
        "unavailable": "The broker did not answer: nothing shown or written is certain; "
                       "look at the case before deciding again. ({detail})",
        "invalid_query": "Invalid filter: {detail}",
        "already_closed": "case already closed", "decision_pending": "a decision is waiting",
        "unknown_case": "no such case", "assigned_first": "assigned meanwhile",
        "not_applicable": "the agent would ignore it", "decided_first": "decided first by another",
        "closed_first": "closed first", "invalid_field": "invalid decision",
        "moderator_mismatch": "not the signed-in user", "error": "refused",
        "cross_site": "This form was sent from another site: refused, nothing written.",
        "expired": "Your session has expired, or you signed out: nothing written. Sign in "
                   "again, then decide again.",
        "sign_in_again": "Sign in again",
        "limit_range": "", "bad_time": "", "until_after": "",  # French only (query_refusal)
        "no_word": "",  # French only (query_refusal)
        "pending_title": "Pending cases", "closed_title": "Closed cases",
        "refused_title": "Refused", "skip": "Skip to content", "pages": "Moderation pages",
        "closed_count": "{n} closed case{s}, {shown} shown", "decision": "decision",
        "decided_by": "decided by", "moderator_filter": "moderator",
        "waited": "time to decision", "platform": "platform", "author": "author",
        "since": "decided from", "until": "decided before",
        "times": "Times in ISO 8601, UTC unless an offset is given (2026-12-01T08:00, "
                 "2026-12-01T09:00+01:00), or Unix seconds; by default the last day.",
        "decision_on": "Decision on case {case}", "back": "Back to the pending cases",
        "sort_queued": "oldest in the queue first",
        "sort_respond_by": "earliest answer deadline first",
        "idempotency_key_reused": "form already sent with another decision",
        "key_reused": "nothing written. Reload the page and decide again.",
        "cases": "cases", "cases_mine": "mine (assigned to me)",
        "cases_unassigned": "unassigned (no one works on them)",
        "escalated": "escalated",
        "paging": "Pages of cases", "range": "Cases {first}–{last} of {n}",
        "range_one": "Case {first} of {n}", "previous": "Previous cases ({first}–{last})",
        "previous_one": "Previous case ({first})", "next": "Next cases ({first}–{last})",
        "next_one": "Next case ({first})",
        "offset_range": "",  # French only (query_refusal)
        "answer": "answer", "on_time": "answered on time (due {at})",
        "late": "answered late (by {age}, due {at})",
        "no_answer": "closed without an answer (due {at})",
        "pending_of": "{n} pending case{s} of {author}, {shown} shown",
        "closed_count_of": "{n} closed case{s} of {author}, {shown} shown",
        "author_cases": "Cases of {author}", "every_author": "Every author's cases",
        "contains": "words (text or link)",
        # The form deciding several cases at once (POST /ui/decisions).
        "bulk_legend": "One decision on several cases",
        "bulk_help": "Check the cases below (each has a box under its title), or decide every "
                     "case shown on this page; each is checked as its own form would check it.",
        "bulk_pick": "Select case {case} for the decision on several cases",
        "bulk_checked": "Decide the checked cases", "bulk_all": "Decide all {n} shown",
        "bulk_summary": "{written} of {total} case{total_s} decided: {decision}.",
        "bulk_refused": " {n} refused, look at them before deciding again: {cases}.",
        "bulk_unknown": " {n} not acknowledged by the broker, maybe written: look at them "
                        "before deciding again: {cases}.",
        "bulk_none": "No case checked: nothing written.",
        "bulk_too_many": "{n} cases: at most {top} at once, nothing written.",
        "bulk_decision": "Only approve, reject or replied decide several cases at once: "
                         "nothing written.",
        "bulk_choose": "(choose)",
        "bulk_unavailable": "The broker did not answer: nothing written; decide again once it "
                            "answers. ({detail})",
        "list_sep": "; ",
    },
    "fr": {
        "title": "Modération", "sign_in": "Se connecter", "token": "Jeton de l'équipe",
        "moderator": "Votre nom", "sign_out": "Se déconnecter", "signed_in": "Connecté·e en "
        "tant que {who}",
        "bad_sign_in": f"Jeton erroné, ou nom manquant{NBSP}: pas de connexion.",
        "no_proxy_user": f"Le proxy en amont n'a nommé personne ({{header}}){NBSP}: pas de "
                         "connexion.",
        "csrf": "Ce formulaire est périmé ou ne vient pas de cette page" + NBSP + ": rien "
                "d'enregistré. Rechargez la page et recommencez.",
        "pending": "{n} dossier{s} en attente, {shown} affiché{shown_s}", "filter": "Filtrer",
        "any": "tous", "sort": "tri", "limit": "au plus",
        "assignee": "assigné à (assigner, escalader)", "overdue": "en retard",
        "done": f"Fait{NBSP}: {{text}}", "refused": f"Refusé ({{why}}){NBSP}: {{detail}}",
        "unavailable": f"Le broker n'a pas répondu{NBSP}: rien n'est sûr de ce qui est "
                       f"affiché ou enregistré{NBSP}; regardez le dossier avant de décider à nouveau. "
                       "({detail})",
        "invalid_query": f"Filtre invalide{NBSP}: {{detail}}",
        "already_closed": "dossier déjà clos", "decision_pending": "une décision attend",
        "unknown_case": "dossier inconnu", "assigned_first": "assigné entre-temps",
        "not_applicable": "l'agent l'ignorerait", "decided_first": "tranché avant par un autre",
        "closed_first": "clos avant", "invalid_field": "décision invalide",
        "moderator_mismatch": "pas l'utilisateur connecté", "error": "refusé",
        "cross_site": f"Ce formulaire vient d'un autre site{NBSP}: refusé, rien d'enregistré.",
        "expired": f"Votre session a expiré, ou vous vous êtes déconnecté·e{NBSP}: rien "
                   "d'enregistré. Reconnectez-vous, puis décidez à nouveau.",
        "sign_in_again": "Se reconnecter",
        # The API's refusals of the filters the form sends, in French (its detail is English).
        "limit_range": "«\u00a0{name}\u00a0» doit être un nombre entier de 1 à {top}",
        "bad_time": f"«\u00a0{{name}}\u00a0»{NBSP}: heure illisible (ISO 8601 ou secondes Unix)",
        "until_after": "«\u00a0{name}\u00a0» doit être après «\u00a0{since}\u00a0»",
        "no_word": "«\u00a0{name}\u00a0» doit contenir au moins un mot",
        "pending_title": "Dossiers en attente", "closed_title": "Dossiers clos",
        "refused_title": "Refusé", "skip": "Aller au contenu", "pages": "Pages de modération",
        "closed_count": "{n} dossier{s} clos, {shown} affiché{shown_s}", "decision": "décision",
        "decided_by": "décidé par", "moderator_filter": "modérateur",
        "waited": "délai de décision", "platform": "plateforme", "author": "auteur",
        "since": "décidé depuis", "until": "décidé avant",
        "times": "Heures en ISO 8601, en UTC sauf décalage donné (2026-12-01T08:00, "
                 f"2026-12-01T09:00+01:00), ou en secondes Unix{NBSP}; par défaut le dernier jour.",
        "decision_on": "Décision sur le dossier {case}", "back": "Retour aux dossiers en attente",
        "sort_queued": "le plus ancien dans la file d'abord",
        "sort_respond_by": "l'échéance la plus proche d'abord",
        "idempotency_key_reused": "formulaire déjà envoyé avec une autre décision",
        "key_reused": "rien d'enregistré. Rechargez la page et décidez à nouveau.",
        "cases": "dossiers", "cases_mine": "mes dossiers (assignés à moi)",
        "cases_unassigned": "non assignés (personne ne les traite)",
        "escalated": "escaladés",
        "paging": "Pages de dossiers", "range": "Dossiers {first} à {last} sur {n}",
        "range_one": "Dossier {first} sur {n}", "previous": "Dossiers précédents ({first} à {last})",
        "previous_one": "Dossier précédent ({first})",
        "next": "Dossiers suivants ({first} à {last})", "next_one": "Dossier suivant ({first})",
        "offset_range": "«\u00a0décalage\u00a0» (offset) doit être un nombre entier positif ou nul",
        "answer": "réponse", "on_time": "répondu à temps (échéance {at})",
        "late": "répondu en retard (de {age}, échéance {at})",
        "no_answer": "clos sans réponse (échéance {at})",
        "pending_of": "{n} dossier{s} en attente de {author}, {shown} affiché{shown_s}",
        "closed_count_of": "{n} dossier{s} clos de {author}, {shown} affiché{shown_s}",
        "author_cases": "Dossiers de {author}", "every_author": "Les dossiers de tous les auteurs",
        "contains": "mots (texte ou lien)",
        "bulk_legend": "Une décision sur plusieurs dossiers",
        "bulk_help": "Cochez les dossiers ci-dessous (chacun a une case sous son titre), ou "
                     "décidez tous les dossiers affichés sur cette page" + NBSP + "; chacun est "
                     "vérifié comme son propre formulaire le vérifierait.",
        "bulk_pick": "Sélectionner le dossier {case} pour la décision sur plusieurs dossiers",
        "bulk_checked": "Décider les dossiers cochés", "bulk_all": "Décider les {n} affichés",
        "bulk_summary": f"{{written}} dossier{{s}} décidé{{s}} sur {{total}}{NBSP}: {{decision}}.",
        "bulk_refused": f" {{n}} refusé{{n_s}}, à regarder avant de décider à nouveau{NBSP}: "
                        "{cases}.",
        "bulk_unknown": f" {{n}} non confirmé{{n_s}} par le broker, peut-être enregistré{{n_s}}"
                        f"{NBSP}: à regarder avant de décider à nouveau{NBSP}: {{cases}}.",
        "bulk_none": f"Aucun dossier coché{NBSP}: rien d'enregistré.",
        "bulk_too_many": f"{{n}} dossiers{NBSP}: au plus {{top}} à la fois, rien d'enregistré.",
        "bulk_decision": "Seuls approuver, rejeter ou répondu décident plusieurs dossiers à la "
                         f"fois{NBSP}: rien d'enregistré.",
        "bulk_choose": "(choisir)",
        "bulk_unavailable": f"Le broker n'a pas répondu{NBSP}: rien d'enregistré{NBSP}; décidez à "
                            "nouveau quand il répondra. ({detail})",
        "list_sep": f"{NBSP}; ",
    },
}

_STYLE = ("body{font:15px/1.4 sans-serif;margin:1em auto;max-width:60em;padding:0 1em}"
          "article{border:1px solid #bbb;border-radius:4px;margin:1em 0;padding:.5em 1em}"
          "th{text-align:left;padding-right:1em;font-weight:normal;color:#555}"
          "td{overflow-wrap:anywhere}"
          "blockquote{white-space:pre-wrap;background:#f4f4f4;margin:.5em 0;padding:.5em}"
          ".late{color:#b00;font-weight:bold}.done{background:#e6f4e6}.refused{background:#fbe6e6}"
          ".note{padding:.5em;border-radius:4px}form.inline{display:inline}"
          "input[type=text]{width:14em}fieldset{border:0;margin:.5em 0;padding:0}"
          "legend{font-weight:bold;padding:0}"
          "nav ul{list-style:none;margin:0;padding:0}nav li{display:inline;margin-right:1.5em}"
          "[aria-current=page]{font-weight:bold}"
          # Focus seen on every control and link (WCAG 2.4.7): 6.3:1 on white.
          ":focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}"
          # The skip link: out of sight until the keyboard reaches it, first on the page.
          "a.skip{position:absolute;left:-999em}"
          "a.skip:focus{left:1em;top:.5em;background:#fff;padding:.3em}")
#: A mention's language as an HTML lang attribute (its text read in its own language).
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")


class Html(str):
    """Text that is HTML already: fill() puts it in as it is."""


def esc(value: Any) -> str:
    """Any value as HTML text or an attribute's value."""
    return html.escape(str(value), quote=True)


def fill(template: str, **values: Any) -> Html:
    """`template` (words of the page's tables) formatted with `values`, as HTML: the template and
    the values escaped, those already Html as they are (a <time>)."""
    return Html(esc(template).format(**{k: v if isinstance(v, Html) else esc(v)
                                        for k, v in values.items()}))


def page_language(request: web.Request, default: str) -> str:
    lang = request.query.get("lang", "")
    return lang if lang in REPORT_LANGUAGES else default


def kept_query(query: Any, lang: str, keys: tuple[str, ...] = KEPT) -> str:
    """A page's query string: its filters (`keys`) and language, nothing else (a redirect's
    target, a link)."""
    pairs = [(k, query.get(k, "")) for k in keys if k != "lang" and query.get(k, "").strip()]
    return urlencode([("lang", lang), *pairs])


def safe_link(url: Any) -> str:
    """A link to `url` if it is an http(s) address; the address as text otherwise."""
    if not isinstance(url, str) or not url:
        return "-"
    plain = url.isprintable() and url == url.strip() and " " not in url
    if plain and url.lower().startswith(("http://", "https://")):
        return f'<a href="{esc(url)}" rel="noopener noreferrer nofollow">{esc(url)}</a>'
    return esc(url)


def author_link(case: dict[str, Any], query: Any, lang: str, here: str = "/ui") -> Html:
    """A case's author, escaped, as a link to `here` (/ui, /ui/closed) filtered by that author
    (author=, URL-encoded; AUTHOR_LINK_KEPT of the query kept); "-" for none (an erased case:
    `veille erase` empties it), the text alone for a handle the filter cannot take (blank but
    for an @, or a lone surrogate, which a URL cannot encode)."""
    author = case.get("author")
    if case.get("erased_at") is not None or author is None or author == "":
        return Html("-")
    text = str(author)
    if (not isinstance(author, str) or not author.strip().removeprefix("@").strip()
            or _SURROGATE.search(author)):
        return Html(esc(text))
    keys = CLOSED_AUTHOR_LINK_KEPT if here == "/ui/closed" else AUTHOR_LINK_KEPT
    kept = {k: (query or {}).get(k, "") for k in keys}
    target = f"{here}?{kept_query({**kept, 'author': author}, lang, keys)}"
    name = PAGE_TEXT[lang]["author_cases"].format(author=author)
    return Html(f'<a href="{esc(target)}" aria-label="{esc(name)}">{esc(text)}</a>')


def _when(value: Any, tz: tzinfo = UTC) -> str:
    """A time in words, at the moderators' clock (VEILLE_TIMEZONE) with its zone."""
    try:
        return clock(parse_epoch(value, "time"), tz)
    except DecisionError:
        return str(value)


def _time(value: Any, tz: tzinfo = UTC) -> Html:
    """A time as a <time> element: in words at the moderators' clock (VEILLE_TIMEZONE, its zone
    named), and in UTC ISO 8601 for the machines."""
    try:
        epoch = parse_epoch(value, "time")
    except DecisionError:
        return Html(esc(value))
    at = datetime.fromtimestamp(epoch, UTC)
    return Html(f'<time datetime="{at:%Y-%m-%dT%H:%M:%SZ}">{esc(clock(epoch, tz))}</time>')


def _duration(seconds: float | None, lang: str) -> str:
    """A duration as the page's sentences say it (French: 4 h 41 min)."""
    return duration(seconds, lang, spaced=True)


def _due(case: dict[str, Any], now: float, lang: str, tz: tzinfo = UTC) -> str:
    """The answer deadline of a case asking for one, overdue marked; SHOW_TEXT's words."""
    s, p = SHOW_TEXT[lang], PAGE_TEXT[lang]
    if "needs_answer" not in (case.get("categories") or ()):
        return esc(s["no_answer"])
    try:
        left = parse_epoch(case.get("respond_by"), "respond_by") - now
    except DecisionError:
        return "-"
    at = _time(case["respond_by"], tz)
    if left >= 0:
        return fill(s["due_in"], at=at, age=_duration(left, lang))
    late = fill(s["due_late"], at=at, age=_duration(-left, lang))
    # Said in words too, not by its colour alone (WCAG 1.4.1).
    return f'<span class="late">{late} — {esc(p["overdue"])}</span>'


def _escalation(case: dict[str, Any], lang: str, tz: tzinfo = UTC) -> str:
    s = SHOW_TEXT[lang]
    up = case.get("escalation")
    if not up:
        return "-"
    said = fill(s["escalated_by"], count=up.get("count"), moderator=up.get("moderator"),
                at=_time(up.get("decided_at"), tz), to=up.get("assignee") or s["escalation_queue"])
    # Why: what the one taking it up needs first (`veille moderate show` says it too).
    return fill(s["with_reason"], text=said, reason=up["reason"]) if up.get("reason") else said


def _assigned(case: dict[str, Any], lang: str, tz: tzinfo = UTC) -> str:
    s = SHOW_TEXT[lang]
    has = case.get("assigned")
    pending = case.get("decision_pending")
    text = esc(has["assignee"] if has else s["no_one"])
    if pending:
        by = fill(s["by"], decision=decision_word(pending.get("decision"),
                                                  answered_on_of(pending), lang),
                  moderator=pending.get("moderator"), at=_time(pending.get("decided_at"), tz))
        text += "; " + fill(s["applies_shortly"], by=by)
    return text


def _rows(rows: list[tuple[str, str]]) -> str:
    """A case's table: each row's name (escaped here) and its value (HTML)."""
    return "".join(f'<tr><th scope="row">{esc(k)}</th><td>{v}</td></tr>' for k, v in rows)


def _categories(case: dict[str, Any], lang: str) -> str:
    """A case's categories, in the page's words (escaped)."""
    return esc(", ".join(category(c, lang) for c in case.get("categories") or ()) or "-")


def _case_rows(case: dict[str, Any], now: float, lang: str, tz: tzinfo = UTC,
               query: Any = None) -> str:
    s = SHOW_TEXT[lang]
    severity = (case.get("escalation") or {}).get("severity") or case.get("severity")
    try:
        waited = _duration(now - parse_epoch(case.get("queued_at"), "queued_at"), lang)
    except DecisionError:
        waited = "-"
    posted = fill(s["posted_on"], at=_time(case.get("created_at"), tz), platform=case.get("platform"),
                  author=author_link(case, query, lang))
    return _rows([(s["brand"], esc(case.get("brand"))),
                  (s["categories"], _categories(case, lang)),
                  (s["severity"], esc(word(severity, lang))),
                  (s["action"], esc(word(case.get("action"), lang))),
                  (s["escalated"], _escalation(case, lang, tz)),
                  (s["assigned"], _assigned(case, lang, tz)),
                  (s["queued"], fill(s["queued_ago"], at=_time(case.get("queued_at"), tz), age=waited)),
                  (s["answer due"], _due(case, now, lang, tz)),
                  (s["posted"], posted),
                  (s["link"], safe_link(case.get("url")))])


def _decision_form(case_id: str, n: int, csrf: str, query: str, lang: str) -> str:
    """Case `n`'s decision form: its fields labelled, its buttons grouped under its id."""
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    verbs = dict(zip(DECISIONS, _FRENCH_VERBS, strict=True)) if lang == "fr" else {}
    buttons = "".join(f'<button type="submit" name="decision" value="{esc(d)}">'
                      f"{esc(verbs.get(d, d))}</button> " for d in DECISIONS)
    return (f'<form method="post" action="/ui/decision?{esc(query)}">'
            f'<fieldset><legend>{esc(p["decision_on"].format(case=case_id))}</legend>'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<input type="hidden" name="case_id" value="{esc(case_id)}">'
            f'<input type="hidden" name="key" value="{esc(secrets.token_urlsafe(16))}">'
            f'<label for="reason-{n}">{esc(s["reason"])}</label> <input type="text" '
            f'id="reason-{n}" name="reason" maxlength="1000"> '
            f'<label for="assignee-{n}">{esc(p["assignee"])}</label> <input type="text" '
            f'id="assignee-{n}" name="assignee" maxlength="{MAX_MODERATOR_CHARS}">'
            f"<br>{buttons}</fieldset></form>")


def _bulk_form(cases: list[dict[str, Any]], csrf: str, query: str, lang: str) -> str:
    """The form deciding several cases at once (POST /ui/decisions): a closing decision and a
    reason for the cases checked (their boxes, in each case's article), or for every case
    shown (their ids sent as hidden fields: a filtered list, `contains=` a wave's words, decided
    whole without checking each box, and without JavaScript)."""
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    verbs = dict(zip(DECISIONS, _FRENCH_VERBS, strict=True)) if lang == "fr" else {}
    # No decision chosen until one is: approving a wave by leaving the first choice as it
    # was would be one click (`required` refuses the form without one, in the browser).
    options = f'<option value="">{esc(p["bulk_choose"])}</option>' + "".join(
        f'<option value="{esc(d)}">{esc(verbs.get(d, d))}</option>' for d in CLOSING_DECISIONS)
    every = len(cases) <= MAX_BULK_IDS  # beyond, the moderator checks the boxes or lowers `limit`
    shown = "".join(f'<input type="hidden" name="shown" value="{esc(c.get("case_id"))}">'
                    for c in cases) if every else ""
    return (f'<form method="post" action="/ui/decisions?{esc(query)}" id="bulk">'
            f'<fieldset aria-describedby="bulk-help"><legend>{esc(p["bulk_legend"])}</legend>'
            f'<p id="bulk-help">{esc(p["bulk_help"])}</p>'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">{shown}'
            f'<input type="hidden" name="key" value="{esc(secrets.token_urlsafe(16))}">'
            f'<label for="bulk-decision">{esc(p["decision"])}</label> '
            f'<select id="bulk-decision" name="decision" required>{options}</select> '
            f'<label for="bulk-reason">{esc(s["reason"])}</label> <input type="text" '
            f'id="bulk-reason" name="reason" maxlength="1000"><br>'
            f'<button type="submit" name="which" value="checked">{esc(p["bulk_checked"])}</button> '
            + (f'<button type="submit" name="which" value="shown">'
               f'{esc(p["bulk_all"].format(n=_number(len(cases), lang)))}</button>' if every else "")
            + "</fieldset></form>")


def _mention_text(case: dict[str, Any], lang: str, language: Any = None) -> str:
    """The mention's text as a quote, in its own language when the case says which."""
    text = (LIST_TEXT[lang]["erased"].format(at=case["erased_at"])
            if case.get("erased_at") is not None else case.get("text") or "")
    tag = (f' lang="{esc(language)}"' if case.get("erased_at") is None and isinstance(language, str)
           and _LANGUAGE_TAG.fullmatch(language) else "")
    return f"<blockquote{tag}>{esc(text)}</blockquote>"


def render_case(case: dict[str, Any], csrf: str, query: str, now: float, lang: str,
                n: int = 0, tz: tzinfo = UTC, filters: Any = None, pick: bool = False) -> str:
    """One pending case (GET /cases's summary) and its decision form; `n`: its place on the
    page (its fields' ids); `query`, the page's kept query string (the form's way back),
    `filters` the page's query (its author link's sort and limit); `pick`, its box of the
    form deciding several cases (_bulk_form), which it belongs to by its `form` attribute
    (forms do not nest: each case has its own)."""
    box = ""
    if pick:
        label = PAGE_TEXT[lang]["bulk_pick"].format(case=case.get("case_id"))
        box = (f'<p><input type="checkbox" form="bulk" name="case_id" id="pick-{n}" '
               f'value="{esc(case.get("case_id"))}"> <label for="pick-{n}">{esc(label)}</label></p>')
    return (f'<article><h2>{esc(SHOW_TEXT[lang]["case"])} {esc(case.get("case_id"))}</h2>{box}'
            f"<table>{_case_rows(case, now, lang, tz, filters)}</table>"
            f"{_mention_text(case, lang, case.get('language'))}"
            f"{_decision_form(str(case.get('case_id')), n, csrf, query, lang)}</article>")


def _answered(case: dict[str, Any], lang: str, tz: tzinfo = UTC) -> str | None:
    """Whether a closed case asking for an answer got it by its deadline (GET /closed's
    `answer`: the agent's comparison); "no answer asked" for one asking for none; None when
    its deadline is unknown (a record whose case could not be read): nothing said then."""
    p = PAGE_TEXT[lang]
    how, due = case.get("answer"), case.get("respond_by")
    if due is None:
        return None
    if how is None:
        return esc(SHOW_TEXT[lang]["no_answer"])
    at = _time(due, tz)
    if how == "late":
        try:
            late = parse_epoch(case.get("decided_at"), "decided_at") - parse_epoch(due, "respond_by")
        except DecisionError:
            return esc(how)
        # Said in words too, not by its colour alone (WCAG 1.4.1).
        return f'<span class="late">{fill(p["late"], at=at, age=_duration(late, lang))}</span>'
    return fill(p[how], at=at) if how in ("on_time", "no_answer") else esc(how)


def render_closed_case(case: dict[str, Any], lang: str, tz: tzinfo = UTC,
                       query: Any = None) -> str:
    """One closed case (GET /closed's): who decided what, when and why, whether an answer
    asked for came in time, and its mention (its author a link to that author's closed cases,
    `query`'s time window and limit kept)."""
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    answered = _answered(case, lang, tz)
    rows = [(s["brand"], esc(case.get("brand"))),
            (s["categories"], _categories(case, lang)),
            (p["decision"], esc(decision_word(case.get("decision"), answered_on_of(case), lang))),
            (p["decided_by"], esc(case.get("moderator"))),
            (s["decided"], _time(case.get("decided_at"), tz)),
            *([(p["answer"], answered)] if answered is not None else []),
            (s["reason"], esc(case.get("reason") or "-")),
            (p["waited"], esc(_duration(case.get("time_to_decision_seconds"), lang))),
            (p["platform"], esc(case.get("platform") or "-")),
            (p["author"], author_link(case, query, lang, "/ui/closed")),
            (s["link"], safe_link(case.get("url")))]
    return (f'<article><h2>{esc(s["case"])} {esc(case.get("case_id"))}</h2>'
            f"<table>{_rows(rows)}</table>{_mention_text(case, lang)}</article>")


def _label(name: str, value: str, lang: str) -> str:
    """An option's words: the value a filter sends, as the page says it."""
    if name == "category":
        return SHOW_TEXT[lang]["no_category"] if value == "none" else category(value, lang)
    if name in ("sort", "cases"):
        return PAGE_TEXT[lang][f"{name}_{value}"]
    return word(value, lang)


def _select(query: Any, name: str, values: tuple[str, ...], lang: str) -> str:
    """A filter's choices, labelled in words (their values as the API takes them); "any" first,
    but for the sort, which has a default (its first value, the API's)."""
    chosen = query.get(name, "")
    options = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>'
                      f"{esc(_label(name, v, lang))}</option>" for v in values)
    anything = ("" if name == "sort" else
                f'<option value="">{esc(PAGE_TEXT[lang]["any"])}</option>')
    return f'<select id="f-{name}" name="{name}">{anything}{options}</select>'


def _text_field(query: Any, name: str, label: str, kind: str = "text", extra: str = "") -> str:
    return (f'<label for="f-{name}">{esc(label)}</label> <input type="{kind}" id="f-{name}" '
            f'name="{name}" value="{esc(query.get(name, ""))}"{extra}> ')


def _filter_form(action: str, fields: str, lang: str) -> str:
    return (f'<form method="get" action="{action}" role="search">'
            f'<input type="hidden" name="lang" value="{esc(lang)}">{fields}'
            f'<button type="submit">{esc(PAGE_TEXT[lang]["filter"])}</button></form>')


def _filters(query: Any, lang: str) -> str:
    """GET /cases's filters; `escalated`, a checkbox sending GET /cases's escalated=true (with
    "unassigned": the escalation queue)."""
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    checked = " checked" if query.get("escalated", "").strip() == "true" else ""
    return _filter_form("/ui", (
        f'<label for="f-cases">{esc(p["cases"])}</label> {_select(query, "cases", WHOSE, lang)} '
        f'<input type="checkbox" id="f-escalated" name="escalated" value="true"{checked}> '
        f'<label for="f-escalated">{esc(p["escalated"])}</label> '
        + _text_field(query, "brand", s["brand"])
        + _text_field(query, "author", p["author"])
        + _text_field(query, "contains", p["contains"])
        + f'<label for="f-category">{esc(s["categories"])}</label> '
          f'{_select(query, "category", METRIC_CATEGORIES, lang)} '
        + f'<label for="f-sort">{esc(p["sort"])}</label> {_select(query, "sort", SORTS, lang)} '
        + _text_field(query, "limit", p["limit"], "number", ' min="1" max="1000"')), lang)


def _closed_filters(query: Any, lang: str) -> str:
    """GET /closed's filters."""
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    times = ' aria-describedby="times"'
    return _filter_form("/ui/closed", (
        _text_field(query, "brand", s["brand"])
        + _text_field(query, "author", p["author"])
        + _text_field(query, "contains", p["contains"])
        + f'<label for="f-category">{esc(s["categories"])}</label> '
          f'{_select(query, "category", METRIC_CATEGORIES, lang)} '
        + f'<label for="f-decision">{esc(p["decision"])}</label> '
          f'{_select(query, "decision", CLOSING_DECISIONS, lang)} '
        + _text_field(query, "moderator", p["moderator_filter"])
        + _text_field(query, "since", p["since"], extra=times)
        + _text_field(query, "until", p["until"], extra=times)
        + _text_field(query, "limit", p["limit"], "number", ' min="1" max="1000"')
        + f'<p id="times">{esc(p["times"])}</p>'), lang)


def document(body: str, lang: str, heading: str, *, here: str = "/ui", query: Any = None,
             header: str = "", title: str | None = None) -> str:
    """A whole page: its language, its title (`title`, else `heading`, the page's one h1), a
    skip link, the navigation (the language switch to this page in the other language;
    `header`: a signed-in user's links first) and `body` as its main content."""
    p = PAGE_TEXT[lang]
    other = "en" if lang == "fr" else "fr"
    keys = CLOSED_KEPT if here == "/ui/closed" else KEPT
    switch = (f'<li><a href="{esc(here)}?{esc(kept_query(query or {}, other, keys))}" '
              f'hreflang="{other}" lang="{other}">{esc(LANGUAGE_NAMES[other])}</a></li>')
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title or heading)} — veille — {esc(p['title'])}</title>"
            f"<style>{_STYLE}</style>"
            f'</head><body><a class="skip" href="#content">{esc(p["skip"])}</a>'
            f'<header><nav aria-label="{esc(p["pages"])}"><ul>{header}{switch}</ul></nav></header>'
            f'<main id="content"><h1>{esc(heading)}</h1>{body}</main></body></html>')


def _pages(here: str, lang: str) -> str:
    """The navigation's links between the pending and the closed cases."""
    p = PAGE_TEXT[lang]
    links = [("/ui", p["pending_title"]), ("/ui/closed", p["closed_title"])]
    current = ' aria-current="page"'
    return "".join(f'<li><a href="{path}?lang={lang}"{current if path == here else ""}>'
                   f"{esc(text)}</a></li>" for path, text in links)


def _note(note: tuple[str, str] | None) -> str:
    return (f'<p class="note {esc(note[0])}" role="status">{esc(note[1])}</p>' if note else "")


def render_sign_in(lang: str, need_token: bool, note: str | None = None,
                   ask_name: bool = True, here: str = "/ui", query: Any = None) -> str:
    """The sign-in form: the team token (when one is set) and the moderator's name (unless the
    proxy in front names the user: VEILLE_MODERATION_API_USER_HEADER); signed in, back to the
    page asked for (`here`, with its filters)."""
    p = PAGE_TEXT[lang]
    token = (f'<p><label for="token">{esc(p["token"])}</label> <input type="password" id="token" '
             f'name="token" required autocomplete="off"></p>') if need_token else ""
    name = (f'<p><label for="moderator">{esc(p["moderator"])}</label> <input type="text" '
            f'id="moderator" name="moderator" required autocomplete="username" '
            f'maxlength="{MAX_MODERATOR_CHARS}"></p>') if ask_name else ""
    shown = f'<p class="note refused" role="alert">{esc(note)}</p>' if note else ""
    closed = here == "/ui/closed"
    action = kept_query(query or {}, lang, CLOSED_KEPT if closed else KEPT) + (
        "&to=closed" if closed else "")
    return document(f'{shown}<form method="post" action="/ui/signin?{esc(action)}">{token}{name}'
                    f'<button type="submit">{esc(p["sign_in"])}</button></form>', lang,
                    f"veille — {p['title']}", here=here, query=query, title=p["sign_in"])


def _signed_in(session: Session, lang: str, who: str, here: str) -> str:
    """The navigation of a signed-in user: the pages, who decides, the sign-out."""
    p = PAGE_TEXT[lang]
    return (f"{_pages(here, lang)}<li>{esc(p['signed_in'].format(who=who))} "
            f'<form class="inline" method="post" action="/ui/signout?lang={lang}">'
            f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'
            f'<button type="submit">{esc(p["sign_out"])}</button></form></li>')


def _number(n: int, lang: str) -> str:
    """A count as the page's language writes it: 1,266; in French 1 266 (a narrow no-break
    space)."""
    return f"{n:,}".replace(",", "\u202f" if lang == "fr" else ",")


def _window(query: Any) -> tuple[int, int]:
    """The query's `limit` and `offset` as the API read them (defaults when absent or blank;
    a listing refused for them has no cases, and no paging)."""
    from veille.moderate.api import DEFAULT_LIMIT

    def whole(name: str, default: int) -> int:
        raw = str(query.get(name, "")).strip()
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else default

    return max(1, whole("limit", DEFAULT_LIMIT)), whole("offset", 0)


def _paging(listing: dict[str, Any], query: Any, lang: str, here: str) -> str:
    """The previous / next links of a listing longer than a page, in a labelled <nav>, with
    the range shown ("Cases 101–200 of 1,266"), the filters kept; none on one page. Past the end
    (the list shrank since the link was followed), "previous" leads to its last page."""
    p = PAGE_TEXT[lang]
    count, shown = int(listing.get("count") or 0), len(listing.get("cases") or ())
    limit, offset = _window(query)
    if count == 0 or (offset == 0 and shown >= count):
        return ""
    keys = CLOSED_KEPT if here == "/ui/closed" else KEPT

    def link(start: int, stop: int, rel: str) -> str:
        # The first page without `offset`, as the pages' own links and the filter form ask it.
        moved = {k: query.get(k, "") for k in keys if k != "offset"}
        target = kept_query({**moved, **({"offset": str(start)} if start else {})}, lang, keys)
        words = p[rel] if stop > start + 1 else p[f"{rel}_one"]
        text = words.format(first=_number(start + 1, lang), last=_number(stop, lang))
        return f'<li><a href="{esc(here)}?{esc(target)}" rel="{rel[:4]}">{esc(text)}</a></li>'

    links = []
    if offset > 0:
        start = max(0, min(offset, count) - limit)
        links.append(link(start, min(start + limit, count), "previous"))
    if offset + shown < count:
        links.append(link(offset + shown, min(offset + shown + limit, count), "next"))
    said = ""
    if shown:
        words = p["range"] if shown > 1 else p["range_one"]
        said = "<p>" + esc(words.format(first=_number(offset + 1, lang), n=_number(count, lang),
                                        last=_number(offset + shown, lang))) + "</p>"
    return f'<nav aria-label="{esc(p["paging"])}">{said}<ul>{"".join(links)}</ul></nav>'


def render_list(listing: dict[str, Any], session: Session, query: Any, lang: str,
                note: tuple[str, str] | None, who: str, tz: tzinfo = UTC) -> str:
    """The pending cases and their forms; `who`: the name the decisions are written under."""
    p = PAGE_TEXT[lang]
    kept = kept_query(query, lang)
    now = time.time()
    cases = "".join(render_case(c, session.csrf, kept, now, lang, n, tz, query, pick=True)
                    for n, c in enumerate(listing["cases"]))
    bulk = _bulk_form(listing["cases"], session.csrf, kept, lang) if listing["cases"] else ""
    return document(f"{_note(note)}{_filters(query, lang)}{_count(listing, query, lang, '/ui')}"
                    f"{bulk}{cases}"
                    f"{_paging(listing, query, lang, '/ui')}", lang,
                    p["pending_title"], query=query,
                    header=_signed_in(session, lang, who, "/ui"))


def render_closed(listing: dict[str, Any], session: Session, query: Any, lang: str,
                  note: tuple[str, str] | None, who: str, tz: tzinfo = UTC) -> str:
    """The closed cases (GET /closed's answer), newest decision first: read only."""
    p = PAGE_TEXT[lang]
    cases = "".join(render_closed_case(c, lang, tz, query) for c in listing["cases"])
    return document(f"{_note(note)}{_closed_filters(query, lang)}"
                    f"{_count(listing, query, lang, '/ui/closed')}{cases}"
                    f"{_paging(listing, query, lang, '/ui/closed')}",
                    lang, p["closed_title"], here="/ui/closed", query=query,
                    header=_signed_in(session, lang, who, "/ui/closed"))


def _plural(n: int, lang: str) -> str:
    """A plural's "s": French from 2 on (0 dossier, 1 dossier, 2 dossiers), English but 1."""
    return "s" if (n >= 2 if lang == "fr" else n != 1) else ""


def _counted(template: str, n: int, shown: int, lang: str, author: str = "") -> str:
    return template.format(n=_number(n, lang), shown=_number(shown, lang), s=_plural(n, lang),
                           shown_s=_plural(shown, lang), author=author)


def _count(listing: dict[str, Any], query: Any, lang: str, here: str) -> str:
    """How many cases the filters found and how many are shown; with an author filter, whose
    ("3 pending cases of @julie_35"), and a link to every author's (the other filters kept,
    from the first page)."""
    p = PAGE_TEXT[lang]
    closed = here == "/ui/closed"
    author = str(query.get("author", "")).strip()
    template = (p["closed_count_of" if closed else "pending_of"] if author
                else p["closed_count" if closed else "pending"])
    said = f'<p>{esc(_counted(template, listing["count"], len(listing["cases"]), lang, author))}</p>'
    if not author:
        return said
    keys = tuple(k for k in (CLOSED_KEPT if closed else KEPT) if k not in ("author", "offset"))
    return (f'{said}<p><a href="{esc(here)}?{esc(kept_query(query, lang, keys))}">'
            f'{esc(p["every_author"])}</a></p>')


def query_refusal(answer: dict[str, Any], lang: str) -> str:
    """The API's refusal of a filter, in the page's language: the French page says those its
    form can send in French (the limit, a time, until before since, words that hold none); the
    others as the API."""
    detail, field = str(answer.get("detail", "")), answer.get("field")
    if lang != "fr":
        return detail
    p = PAGE_TEXT[lang]
    top = re.search(r"whole number in 1\.\.([0-9]+)", detail)
    if field == "limit" and top:
        return p["limit_range"].format(name=p["limit"], top=top[1])
    if field in ("since", "until") and detail.endswith("(ISO 8601 or Unix seconds)"):
        return p["bad_time"].format(name=p[field])
    if field == "offset" and detail.startswith("offset must be a whole number"):
        return p["offset_range"]
    if field == "until" and detail == "until must be after since":
        return p["until_after"].format(name=p["until"], since=p["since"])
    if field == "contains" and detail == "contains must hold a word":
        return p["no_word"].format(name=p["contains"])
    return detail


def outcome(case_id: str, status: int, answer: dict[str, Any], lang: str, tz: tzinfo = UTC
            ) -> tuple[str, str]:
    """What the page says of the decision path's answer: ("done" | "refused", words)."""
    p, t, s = PAGE_TEXT[lang], DECIDE_TEXT[lang], SHOW_TEXT[lang]
    def by(record: dict[str, Any], decision: Any = None) -> str:
        return s["by"].format(decision=word(decision or record.get("decision"), lang),
                              moderator=record.get("moderator"), at=_when(record.get("decided_at"), tz))

    if status == 202:
        record = answer["decision"]
        to = t["to"].format(assignee=record["assignee"]) if record.get("assignee") else ""
        said = [p["done"].format(text=t["written"].format(
            decision=word(record["decision"], lang), to=to, case=record["case_id"],
            moderator=record["moderator"], at=_when(record["decided_at"], tz)))]
        # What `veille moderate decide` notes too: not refused (a lead may close or take over
        # anyone's case), but said, as its assignee may be writing the brand's answer right now.
        owner = answer.get("previously_assigned") or {}
        if owner.get("assignee") not in (None, record["moderator"], record.get("assignee")):
            said.append(t["was_assigned"].format(case=case_id, has=owner["assignee"],
                                                 by=by(owner)))
        up = answer.get("escalated_meanwhile")
        if up:
            said.append(t["escalated_meanwhile"].format(
                case=case_id, by=by(up, "escalate"), to=up.get("assignee") or t["escalation_queue"],
                severity=word(up.get("severity"), lang)))
        notes = (line.removeprefix("veille: ") for line in said[1:])
        return "done", ". ".join([said[0], *(n[:1].upper() + n[1:] for n in notes)])
    if status == 200 and answer.get("unchanged"):
        owner = answer.get("assigned")
        unchanged = (t["already_theirs"].format(case=case_id, has=owner["assignee"], by=by(owner))
                     if owner else t["no_one_has_it"].format(case=case_id))
        return "done", unchanged.removeprefix("veille: ")
    code = str(answer.get("error", "error"))
    # A form sent again with another button (a double click, the back button): the API's
    # detail names its Idempotency-Key, which the moderator never saw.
    detail = p["key_reused"] if code == "idempotency_key_reused" else answer.get("detail", "")
    return "refused", p["refused"].format(why=p.get(code, p["error"]), detail=detail)


@dataclass
class Session:
    moderator: str
    csrf: str
    expires: float  # time.monotonic()
    note: tuple[str, str] | None = None  # the last decision's outcome, shown once
    #: The outcomes of the last forms deciding several cases, by their key (the form's own,
    #: made with the page): sent twice (a double click, a reload), the form gets its first
    #: outcome again instead of every case refused as decided already.
    bulk: OrderedDict[str, asyncio.Future[tuple[str, str]]] = field(default_factory=OrderedDict)


class ModerationPage:
    """The page's handlers and sessions, on the API's application (ModerationApi.start)."""

    def __init__(self, api: ModerationApi) -> None:
        self.api = api
        self.sessions: OrderedDict[str, Session] = OrderedDict()
        #: The moderators' clock: times in words at VEILLE_TIMEZONE (checked at load).
        name = api.settings.timezone
        self.tz: tzinfo = UTC if is_utc_name(name) else zone(name)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/ui", self._list)
        app.router.add_get("/ui/closed", self._closed)
        app.router.add_post("/ui/signin", self._sign_in)
        app.router.add_post("/ui/decision", self._decide)
        app.router.add_post("/ui/decisions", self._decide_many)
        app.router.add_post("/ui/signout", self._sign_out)
        app.on_response_prepare.append(self._headers)

    @staticmethod
    def serves(path: str) -> bool:
        """A path of the page's: it signs its users in itself, not with the bearer token."""
        return path == "/ui" or path.startswith("/ui/")

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.serves(request.path):
            response.headers.update(SECURITY_HEADERS)

    # -- sessions ----------------------------------------------------------------------------

    def open_sessions(self) -> float:
        """Sessions signed in and not expired (veille_moderation_page_sessions, at a scrape)."""
        now = time.monotonic()
        return float(sum(1 for s in list(self.sessions.values()) if s.expires > now))

    def session(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        found = self.sessions.get(sid) if sid else None
        if found is not None and found.expires <= time.monotonic():
            del self.sessions[sid]
            return None
        return found

    def _open(self, moderator: str) -> tuple[str, Session]:
        now = time.monotonic()
        for sid in [s for s, v in self.sessions.items() if v.expires <= now]:
            del self.sessions[sid]
        while len(self.sessions) >= MAX_SESSIONS:
            self.sessions.popitem(last=False)
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(moderator, secrets.token_urlsafe(32), now + SESSION_SECONDS)
        return sid, self.sessions[sid]

    @staticmethod
    def _csrf_ok(session: Session, form: Any) -> bool:
        given = form.get("csrf")
        return (isinstance(given, str)
                and hmac.compare_digest(given.encode("utf-8", "backslashreplace"),
                                        session.csrf.encode()))

    # -- handlers ----------------------------------------------------------------------------

    def _lang(self, request: web.Request) -> str:
        return page_language(request, self.api.settings.report_language)

    def _html(self, text: str, status: int = 200) -> web.Response:
        # A case holding a lone surrogate must not make the page a 500 for every moderator.
        return web.Response(text=_SURROGATE.sub("\ufffd", text), status=status,
                            content_type="text/html", charset="utf-8")

    def _back(self, request: web.Request, lang: str, closed: bool = False) -> web.Response:
        """303 to the pending cases (`closed`: the closed ones), with the request's filters and
        language only (no open redirect)."""
        path, keys = ("/ui/closed", CLOSED_KEPT) if closed else ("/ui", KEPT)
        return web.Response(status=303,
                            headers={"Location": f"{path}?{kept_query(request.query, lang, keys)}"})

    async def _listing(self, read: Callable[[Any], Awaitable[dict[str, Any] | web.Response]],
                       request: web.Request, lang: str, who: str | None = None
                       ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """A listing of the API's (ModerationApi.pending, .closed) for the page's query, and
        what to say of it: the broker away, or the query refused (an empty listing then).
        `who`: the signed-in user, whose cases `cases=mine` asks for (GET /cases's assignee)."""
        query = MultiDict((k, v) for k, v in request.query.items() if k != "lang")
        whose = query.get("cases", "").strip() if who is not None else ""
        if whose in WHOSE or (who is not None and not whose):
            query.popall("cases", None)  # else refused by the API's check, as any unknown filter
        if whose == "mine" and who is not None:
            query.popall("unassigned", None)
            query["assignee"] = who
        elif whose == "unassigned":
            query.popall("assignee", None)
            query["unassigned"] = "true"
        try:
            listing = await read(query)
        except BrokerError as exc:
            return {"count": 0, "cases": []}, (
                "refused", PAGE_TEXT[lang]["unavailable"].format(detail=exc))
        if isinstance(listing, web.Response):
            self.api.metrics.refused("invalid_query", "page")
            detail = query_refusal(_json(listing), lang)
            return {"count": 0, "cases": []}, (
                "refused", PAGE_TEXT[lang]["invalid_query"].format(detail=detail))
        return listing, None

    def _who(self, request: web.Request, session: Session) -> str:
        """The name the decisions are written under: the proxy's user, or the session's."""
        return self._proxy_user(request) or "?" if self.api.user_header else session.moderator

    async def _list(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        session = self.session(request)
        if session is None:
            return self._html(self._sign_in_page(request, lang))
        who = self._who(request, session)
        listing, note = await self._listing(self.api.pending, request, lang, who)
        if note is not None:
            session.note = note
        note, session.note = session.note, None
        return self._html(render_list(listing, session, request.query, lang, note, who,
                                      self.tz))

    async def _closed(self, request: web.Request) -> web.Response:
        """The closed cases, as GET /closed gives them: read only (a decision's outcome waits
        for the pending cases' page)."""
        lang = self._lang(request)
        session = self.session(request)
        if session is None:
            return self._html(self._sign_in_page(request, lang))
        listing, note = await self._listing(self.api.closed, request, lang)
        return self._html(render_closed(listing, session, request.query, lang, note,
                                        self._who(request, session), self.tz))

    def _proxy_user(self, request: web.Request) -> str | None:
        """The user the proxy in front names (VEILLE_MODERATION_API_USER_HEADER, given once),
        under whom the API writes the decisions; None if it names none."""
        given = request.headers.getall(self.api.user_header, [])
        return given[0].strip() or None if len(given) == 1 else None

    def _sign_in_page(self, request: web.Request, lang: str, note: str | None = None) -> str:
        """The sign-in form, back to the page asked for (GET /ui/closed, or its sign-in's
        `to=closed`) with its filters."""
        closed = request.path == "/ui/closed" or request.query.get("to") == "closed"
        return render_sign_in(lang, self.api.needs_token, note, ask_name=not self.api.user_header,
                              here="/ui/closed" if closed else "/ui", query=request.query)

    async def _sign_in(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        if self._cross_site(request):  # login CSRF; sessions opened to push the real ones out
            return self._forbidden(request, lang, "cross_site")
        form = await request.post()
        token, name = form.get("token", ""), form.get("moderator", "")
        if self.api.user_header:  # the proxy names the user, as the API writes the decisions
            name = self._proxy_user(request) or ""
        name = name.strip() if isinstance(name, str) else ""
        good = isinstance(token, str) and self.api.token_matches(token)
        if not good or not name or len(name) > MAX_MODERATOR_CHARS or not name.isprintable():
            no_user = good and bool(self.api.user_header)
            self.api.metrics.refused("unauthenticated_user" if no_user else "unauthorized", "page")
            said = PAGE_TEXT[lang]["no_proxy_user" if no_user else "bad_sign_in"]
            return self._html(self._sign_in_page(request, lang,
                                                 said.format(header=self.api.user_header)),
                              status=401)
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)  # its cookie is replaced
        sid, _ = self._open(name)
        response = self._back(request, lang, closed=request.query.get("to") == "closed")
        response.set_cookie(COOKIE, sid, max_age=int(SESSION_SECONDS), path="/ui", httponly=True,
                            samesite="Strict", secure=request.secure)
        return response

    async def _signed_post(self, request: web.Request, lang: str, bulk: bool = False
                           ) -> tuple[Session, Any] | web.Response:
        """A signed-in user's POST and its form, or the 403 refusing it: sent from another
        site, or without the session's CSRF token. `bulk`: the form deciding several cases,
        read up to its own bounds (BULK_FORM_FIELDS, BULK_FORM_BYTES: a decision's 16 KiB,
        the API's body, and aiohttp's 1,000 fields are less than a page's ids), and only from
        a session: no stranger has the server read that much."""
        if self._cross_site(request):
            return self._forbidden(request, lang, "cross_site")
        if bulk:
            if self.session(request) is None:
                return self._forbidden(request, lang, "expired")
            request = request.clone(client_max_size=BULK_FORM_BYTES,
                                    client_max_fields=BULK_FORM_FIELDS)
        form = await request.post()
        session = self.session(request)
        if session is None:  # signed out, expired, or a restart: say so, not "stale"
            return self._forbidden(request, lang, "expired")
        if not self._csrf_ok(session, form):
            return self._forbidden(request, lang)
        return session, form

    async def _sign_out(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        checked = await self._signed_post(request, lang)
        if isinstance(checked, web.Response):
            return checked
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)
        response = self._back(request, lang)
        response.del_cookie(COOKIE, path="/ui")
        return response

    @staticmethod
    def _cross_site(request: web.Request) -> bool:
        """A POST a browser says came from another site (or a sibling one): Sec-Fetch-Site."""
        site = request.headers.get("Sec-Fetch-Site")
        return site is not None and site.strip().lower() not in SAME_ORIGIN

    def _forbidden(self, request: web.Request, lang: str, why: str = "csrf") -> web.Response:
        """403, nothing written: what was refused, and a link back to the pending cases with
        the filters the form came from."""
        self.api.metrics.refused(why, "page")
        p = PAGE_TEXT[lang]
        back = f"/ui?{kept_query(request.query, lang)}"
        link = p["sign_in_again"] if why == "expired" else p["back"]  # /ui asks to sign in
        return self._html(document(f'<p class="note refused" role="alert">{esc(p[why])}</p>'
                                   f'<p><a href="{esc(back)}">{esc(link)}</a></p>', lang,
                                   p["refused_title"], query=request.query), status=403)

    async def _decide(self, request: web.Request) -> web.Response:
        """The decision through POST /cases/{id}/decision's checks and write
        (ModerationApi.decide), then back to the list, which shows its outcome."""
        lang = self._lang(request)
        checked = await self._signed_post(request, lang)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        fields = {k: form.get(k) for k in ("decision", "reason", "assignee")}
        payload = {k: v for k, v in fields.items() if isinstance(v, str)}
        if not self.api.user_header:  # else the proxy's user, as the API's
            payload["moderator"] = session.moderator
        case_id, key = form.get("case_id"), form.get("key")
        case_id = case_id if isinstance(case_id, str) else ""
        try:
            answer = await self.api.decide(case_id, payload, request,
                                           key if isinstance(key, str) and key else None, lang)
            said = _json(answer)
            if 400 <= answer.status < 500:  # the API's refusal, told on the page
                self.api.metrics.refused(str(said.get("error", "other")), "page")
            session.note = outcome(case_id, answer.status, said, lang, self.tz)
        except BrokerError as exc:
            session.note = ("refused", PAGE_TEXT[lang]["unavailable"].format(detail=exc))
        return self._back(request, lang)


    async def _decide_many(self, request: web.Request) -> web.Response:
        """One closing decision on the cases checked, or on every case shown (`which`), through
        the decision path's checks and write (ModerationApi.decide_many: each case checked as
        one, the accepted written in one batch), then back to the list, which says how many
        were decided and which were refused, and why."""
        lang = self._lang(request)
        checked = await self._signed_post(request, lang, bulk=True)
        if isinstance(checked, web.Response):
            return checked
        session, form = checked
        key = form.get("key")
        first = session.bulk.get(key) if isinstance(key, str) and key else None
        if first is not None:  # sent again (a double click): the first sending's outcome
            session.note = await asyncio.shield(first)
            return self._back(request, lang)
        outcome: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        if isinstance(key, str) and key:
            session.bulk[key] = outcome
            while len(session.bulk) > MAX_BULK_KEYS:
                session.bulk.popitem(last=False)
        try:
            session.note = await self._bulk_outcome(request, session, form, lang)
        finally:
            outcome.set_result(session.note or ("refused", PAGE_TEXT[lang]["error"]))
        return self._back(request, lang)

    async def _bulk_outcome(self, request: web.Request, session: Session, form: Any, lang: str
                            ) -> tuple[str, str]:
        """What a form deciding several cases did (the note shown back on the list): each case
        checked and the accepted written (ModerationApi.decide_many), or why none was."""
        p = PAGE_TEXT[lang]
        which = "shown" if form.get("which") == "shown" else "case_id"
        ids = list(dict.fromkeys(v for v in form.getall(which, []) if isinstance(v, str) and v))
        decision, reason = form.get("decision"), form.get("reason")
        refusal = (p["bulk_none"] if not ids
                   else p["bulk_too_many"].format(n=len(ids), top=MAX_BULK_IDS)
                   if len(ids) > MAX_BULK_IDS
                   else p["bulk_decision"] if decision not in CLOSING_DECISIONS else None)
        if refusal is not None:
            self.api.metrics.refused("invalid_field", "page")
            return ("refused", refusal)
        payload: dict[str, Any] = {"decision": decision}
        if isinstance(reason, str):
            payload["reason"] = reason
        if not self.api.user_header:  # else the proxy's user, as the API's
            payload["moderator"] = session.moderator
        try:
            found = await self.api.decide_many(ids, payload, request, lang)
        except BrokerError as exc:  # the topics could not be read: nothing written
            return ("refused", p["bulk_unavailable"].format(detail=exc))
        refused: list[str] = []
        unknown: list[str] = []
        for case_id, answer in found:
            if isinstance(answer, BrokerError):
                unknown.append(case_id)
            elif answer.status != 202:
                code = str(_json(answer).get("error", "other"))
                self.api.metrics.refused(code, "page")
                refused.append(f"{case_id} ({p.get(code, p['error'])})")
        written = len(found) - len(refused) - len(unknown)
        said = p["bulk_summary"].format(written=_number(written, lang), total=_number(len(found), lang),
                                        s=_plural(written, lang), total_s=_plural(len(found), lang),
                                        decision=word(decision, lang))
        if refused:
            said += p["bulk_refused"].format(n=_number(len(refused), lang),
                                             cases=p["list_sep"].join(refused),
                                             n_s=_plural(len(refused), lang))
        if unknown:
            said += p["bulk_unknown"].format(n=_number(len(unknown), lang), cases=", ".join(unknown),
                                             n_s=_plural(len(unknown), lang))
        return ("done" if not refused and not unknown else "refused", said)


def _json(response: web.Response) -> dict[str, Any]:
    found = json.loads(response.text or "{}")
    return found if isinstance(found, dict) else {}
