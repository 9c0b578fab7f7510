"""The moderation page: the pending cases in a browser, and a form per case for its decision.

    GET  /ui?lang=fr|en&brand=&category=&sort=&limit=   sign-in form, or the pending cases
    POST /ui/signin       token (VEILLE_MODERATION_API_TOKEN) and moderator name: a session cookie
    POST /ui/decision     a case's decision (CSRF token), then back to the list with its outcome
    POST /ui/signout      the session forgotten (CSRF token)

Served by the moderation API's server (veille.moderate.api), whose listing and decision path
it calls: the same filters, checks and writes as GET /cases and POST /cases/{id}/decision.
Server-rendered HTML without JavaScript or external assets; every value from the cases is
escaped, and only http(s) links are links.

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

import hmac
import html
import json
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict

from veille.moderate.commands import DECIDE_TEXT, LIST_TEXT, SHOW_TEXT
from veille.moderate.store import BrokerError
from veille.moderate.words import NBSP, word
from veille.moderation import DECISIONS, METRIC_CATEGORIES, SORTS
from veille.moderation.cases import MAX_MODERATOR_CHARS, DecisionError, parse_epoch
from veille.moderation.queue import duration
from veille.settings import REPORT_LANGUAGES

if TYPE_CHECKING:
    from veille.moderate.api import ModerationApi

#: How long a session lasts from its sign-in, and how many the server keeps.
SESSION_SECONDS = 12 * 3600.0
MAX_SESSIONS = 1000
COOKIE = "veille_session"
#: The query parameters the page keeps from one request to the next (GET /cases's and lang).
KEPT = ("lang", "brand", "category", "sort", "limit")
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
        "pending": "{n} pending case(s), {shown} shown", "filter": "Filter", "any": "any",
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
        "pending": "{n} dossier(s) en attente, {shown} affiché(s)", "filter": "Filtrer",
        "any": "tous", "sort": "tri", "limit": "au plus",
        "assignee": "assigné à (assigner, escalader)", "overdue": "en retard",
        "done": f"Fait{NBSP}: {{text}}", "refused": f"Refusé ({{why}}){NBSP}: {{detail}}",
        "unavailable": f"Le broker n'a pas répondu{NBSP}: rien n'est sûr de ce qui est "
                       "affiché ou enregistré ; regardez le dossier avant de décider à nouveau. "
                       "({detail})",
        "invalid_query": f"Filtre invalide{NBSP}: {{detail}}",
        "already_closed": "dossier déjà clos", "decision_pending": "une décision attend",
        "unknown_case": "dossier inconnu", "assigned_first": "assigné entre-temps",
        "not_applicable": "l'agent l'ignorerait", "decided_first": "tranché avant par un autre",
        "closed_first": "clos avant", "invalid_field": "décision invalide",
        "moderator_mismatch": "pas l'utilisateur connecté", "error": "refusé",
        "cross_site": f"Ce formulaire vient d'un autre site{NBSP}: refusé, rien d'enregistré.",
    },
}

_STYLE = ("body{font:15px/1.4 sans-serif;margin:1em auto;max-width:60em;padding:0 1em}"
          "article{border:1px solid #bbb;border-radius:4px;margin:1em 0;padding:.5em 1em}"
          "th{text-align:left;padding-right:1em;font-weight:normal;color:#555}"
          "blockquote{white-space:pre-wrap;background:#f4f4f4;margin:.5em 0;padding:.5em}"
          ".late{color:#b00;font-weight:bold}.done{background:#e6f4e6}.refused{background:#fbe6e6}"
          ".note{padding:.5em;border-radius:4px}form.inline{display:inline}"
          "input[type=text]{width:14em}")


def esc(value: Any) -> str:
    """Any value as HTML text or an attribute's value."""
    return html.escape(str(value), quote=True)


def page_language(request: web.Request, default: str) -> str:
    lang = request.query.get("lang", "")
    return lang if lang in REPORT_LANGUAGES else default


def kept_query(query: Any, lang: str) -> str:
    """The page's query string: its filters and language, nothing else (a redirect's target)."""
    pairs = [(k, query.get(k, "")) for k in KEPT if k != "lang" and query.get(k, "").strip()]
    return urlencode([("lang", lang), *pairs])


def safe_link(url: Any) -> str:
    """A link to `url` if it is an http(s) address; the address as text otherwise."""
    if not isinstance(url, str) or not url:
        return "-"
    plain = url.isprintable() and url == url.strip() and " " not in url
    if plain and url.lower().startswith(("http://", "https://")):
        return f'<a href="{esc(url)}" rel="noopener noreferrer nofollow">{esc(url)}</a>'
    return esc(url)


def _when(value: Any) -> str:
    try:
        return datetime.fromtimestamp(parse_epoch(value, "time"), UTC).strftime("%Y-%m-%d %H:%M UTC")
    except DecisionError:
        return str(value)


def _due(case: dict[str, Any], now: float, lang: str) -> str:
    """The answer deadline of a case asking for one, overdue marked; SHOW_TEXT's words."""
    s, p = SHOW_TEXT[lang], PAGE_TEXT[lang]
    if "needs_answer" not in (case.get("categories") or ()):
        return esc(s["no_answer"])
    try:
        left = parse_epoch(case.get("respond_by"), "respond_by") - now
    except DecisionError:
        return "-"
    at = _when(case["respond_by"])
    if left >= 0:
        return esc(s["due_in"].format(at=at, age=duration(left, lang)))
    late = s["due_late"].format(at=at, age=duration(-left, lang))
    return f'<span class="late">{esc(late)} — {esc(p["overdue"])}</span>'


def _escalation(case: dict[str, Any], lang: str) -> str:
    s = SHOW_TEXT[lang]
    up = case.get("escalation")
    if not up:
        return "-"
    return s["escalated_by"].format(count=up.get("count"), moderator=up.get("moderator"),
                                    at=_when(up.get("decided_at")),
                                    to=up.get("assignee") or s["escalation_queue"])


def _assigned(case: dict[str, Any], lang: str) -> str:
    s = SHOW_TEXT[lang]
    has = case.get("assigned")
    pending = case.get("decision_pending")
    text = has["assignee"] if has else s["no_one"]
    if pending:
        by = s["by"].format(decision=word(pending.get("decision"), lang),
                            moderator=pending.get("moderator"), at=_when(pending.get("decided_at")))
        text += "; " + s["applies_shortly"].format(by=by)
    return text


def _case_rows(case: dict[str, Any], now: float, lang: str) -> str:
    s = SHOW_TEXT[lang]
    severity = (case.get("escalation") or {}).get("severity") or case.get("severity")
    try:
        waited = duration(now - parse_epoch(case.get("queued_at"), "queued_at"), lang)
    except DecisionError:
        waited = "-"
    posted = s["posted_on"].format(at=_when(case.get("created_at")), platform=case.get("platform"),
                                   author=case.get("author"))
    rows = [(s["brand"], esc(case.get("brand"))),
            (s["categories"], esc(", ".join(map(str, case.get("categories") or ())) or "-")),
            (s["severity"], esc(word(severity, lang))),
            (s["action"], esc(word(case.get("action"), lang))),
            (s["escalated"], esc(_escalation(case, lang))),
            (s["assigned"], esc(_assigned(case, lang))),
            (s["queued"], esc(s["queued_ago"].format(at=_when(case.get("queued_at")), age=waited))),
            (s["answer due"], _due(case, now, lang)),
            (s["posted"], esc(posted)),
            (s["link"], safe_link(case.get("url")))]
    return "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)


def _decision_form(case_id: str, csrf: str, query: str, lang: str) -> str:
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]
    verbs = dict(zip(DECISIONS, _FRENCH_VERBS, strict=True)) if lang == "fr" else {}
    buttons = "".join(f'<button type="submit" name="decision" value="{esc(d)}">'
                      f"{esc(verbs.get(d, d))}</button> " for d in DECISIONS)
    return (f'<form method="post" action="/ui/decision?{esc(query)}">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<input type="hidden" name="case_id" value="{esc(case_id)}">'
            f'<input type="hidden" name="key" value="{esc(secrets.token_urlsafe(16))}">'
            f'<label>{esc(s["reason"])} <input type="text" name="reason" maxlength="1000"></label> '
            f'<label>{esc(p["assignee"])} <input type="text" name="assignee" '
            f'maxlength="{MAX_MODERATOR_CHARS}"></label><br>{buttons}</form>')


def render_case(case: dict[str, Any], csrf: str, query: str, now: float, lang: str) -> str:
    """One pending case (GET /cases's summary) and its decision form."""
    text = (LIST_TEXT[lang]["erased"].format(at=case["erased_at"])
            if case.get("erased_at") is not None else case.get("text") or "")
    return (f'<article><h2>{esc(SHOW_TEXT[lang]["case"])} {esc(case.get("case_id"))}</h2>'
            f"<table>{_case_rows(case, now, lang)}</table>"
            f"<blockquote>{esc(text)}</blockquote>"
            f"{_decision_form(str(case.get('case_id')), csrf, query, lang)}</article>")


def _filters(query: Any, lang: str) -> str:
    p, s = PAGE_TEXT[lang], SHOW_TEXT[lang]

    def select(name: str, values: tuple[str, ...]) -> str:
        chosen = query.get(name, "")
        options = "".join(f'<option value="{esc(v)}"{" selected" if v == chosen else ""}>'
                          f"{esc(v)}</option>" for v in values)
        return f'<select name="{name}"><option value="">{esc(p["any"])}</option>{options}</select>'

    return (f'<form method="get" action="/ui"><input type="hidden" name="lang" value="{esc(lang)}">'
            f'<label>{esc(s["brand"])} <input type="text" name="brand" '
            f'value="{esc(query.get("brand", ""))}"></label> '
            f'<label>{esc(s["categories"])} {select("category", METRIC_CATEGORIES)}</label> '
            f'<label>{esc(p["sort"])} {select("sort", SORTS)}</label> '
            f'<label>{esc(p["limit"])} <input type="number" name="limit" min="1" max="1000" '
            f'value="{esc(query.get("limit", ""))}"></label> '
            f'<button type="submit">{esc(p["filter"])}</button></form>')


def document(body: str, lang: str) -> str:
    other = "en" if lang == "fr" else "fr"
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>veille — {esc(PAGE_TEXT[lang]['title'])}</title><style>{_STYLE}</style>"
            f'</head><body><p><a href="/ui?lang={other}">{other.upper()}</a></p>{body}</body></html>')


def render_sign_in(lang: str, need_token: bool, note: str | None = None,
                   ask_name: bool = True) -> str:
    """The sign-in form: the team token (when one is set) and the moderator's name (unless the
    proxy in front names the user: VEILLE_MODERATION_API_USER_HEADER)."""
    p = PAGE_TEXT[lang]
    token = (f'<p><label>{esc(p["token"])} <input type="password" name="token" required '
             f'autocomplete="off"></label></p>') if need_token else ""
    name = (f'<p><label>{esc(p["moderator"])} <input type="text" name="moderator" required '
            f'maxlength="{MAX_MODERATOR_CHARS}"></label></p>') if ask_name else ""
    shown = f'<p class="note refused">{esc(note)}</p>' if note else ""
    return document(f"<h1>veille — {esc(p['title'])}</h1>{shown}"
                    f'<form method="post" action="/ui/signin?lang={lang}">{token}{name}'
                    f'<button type="submit">{esc(p["sign_in"])}</button></form>', lang)


def render_list(listing: dict[str, Any], session: Session, query: Any, lang: str,
                note: tuple[str, str] | None, who: str) -> str:
    """The pending cases and their forms; `who`: the name the decisions are written under."""
    p = PAGE_TEXT[lang]
    kept = kept_query(query, lang)
    now = time.time()
    shown = (f'<p class="note {esc(note[0])}">{esc(note[1])}</p>' if note else "")
    cases = "".join(render_case(c, session.csrf, kept, now, lang) for c in listing["cases"])
    head = (f"<h1>veille — {esc(p['title'])}</h1>"
            f'<div>{esc(p["signed_in"].format(who=who))} '
            f'<form class="inline" method="post" action="/ui/signout?lang={lang}">'
            f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'
            f'<button type="submit">{esc(p["sign_out"])}</button></form></div>')
    count = p["pending"].format(n=listing["count"], shown=len(listing["cases"]))
    return document(f"{head}{shown}{_filters(query, lang)}<p>{esc(count)}</p>{cases}", lang)


def outcome(case_id: str, status: int, answer: dict[str, Any], lang: str) -> tuple[str, str]:
    """What the page says of the decision path's answer: ("done" | "refused", words)."""
    p, t, s = PAGE_TEXT[lang], DECIDE_TEXT[lang], SHOW_TEXT[lang]
    if status == 202:
        record = answer["decision"]
        to = t["to"].format(assignee=record["assignee"]) if record.get("assignee") else ""
        return "done", p["done"].format(text=t["written"].format(
            decision=word(record["decision"], lang), to=to, case=record["case_id"],
            moderator=record["moderator"], at=_when(record["decided_at"])))
    if status == 200 and answer.get("unchanged"):
        owner = answer.get("assigned")
        said = (t["already_theirs"].format(case=case_id, has=owner["assignee"], by=s["by"].format(
                    decision=word(owner.get("decision"), lang), moderator=owner.get("moderator"),
                    at=_when(owner.get("decided_at"))))
                if owner else t["no_one_has_it"].format(case=case_id))
        return "done", said.removeprefix("veille: ")
    code = str(answer.get("error", "error"))
    return "refused", p["refused"].format(why=p.get(code, p["error"]),
                                          detail=answer.get("detail", ""))


@dataclass
class Session:
    moderator: str
    csrf: str
    expires: float  # time.monotonic()
    note: tuple[str, str] | None = None  # the last decision's outcome, shown once


class ModerationPage:
    """The page's handlers and sessions, on the API's application (ModerationApi.start)."""

    def __init__(self, api: ModerationApi) -> None:
        self.api = api
        self.sessions: OrderedDict[str, Session] = OrderedDict()

    def register(self, app: web.Application) -> None:
        app.router.add_get("/ui", self._list)
        app.router.add_post("/ui/signin", self._sign_in)
        app.router.add_post("/ui/decision", self._decide)
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

    def _back(self, request: web.Request, lang: str) -> web.Response:
        """303 to the list, with the request's filters and language only (no open redirect)."""
        return web.Response(status=303, headers={"Location": f"/ui?{kept_query(request.query, lang)}"})

    async def _list(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        session = self.session(request)
        if session is None:
            return self._html(self._sign_in_page(lang))
        query = MultiDict((k, v) for k, v in request.query.items() if k != "lang")
        try:
            listing = await self.api.pending(query)
        except BrokerError as exc:
            listing, session.note = {"count": 0, "cases": []}, (
                "refused", PAGE_TEXT[lang]["unavailable"].format(detail=exc))
        if isinstance(listing, web.Response):
            detail = _json(listing).get("detail", "")
            listing, session.note = {"count": 0, "cases": []}, (
                "refused", PAGE_TEXT[lang]["invalid_query"].format(detail=detail))
        note, session.note = session.note, None
        who = self._proxy_user(request) or "?" if self.api.user_header else session.moderator
        return self._html(render_list(listing, session, request.query, lang, note, who))

    def _proxy_user(self, request: web.Request) -> str | None:
        """The user the proxy in front names (VEILLE_MODERATION_API_USER_HEADER, given once),
        under whom the API writes the decisions; None if it names none."""
        given = request.headers.getall(self.api.user_header, [])
        return given[0].strip() or None if len(given) == 1 else None

    def _sign_in_page(self, lang: str, note: str | None = None) -> str:
        return render_sign_in(lang, self.api.needs_token, note, ask_name=not self.api.user_header)

    async def _sign_in(self, request: web.Request) -> web.Response:
        lang = self._lang(request)
        if self._cross_site(request):  # login CSRF; sessions opened to push the real ones out
            return self._forbidden(lang, "cross_site")
        form = await request.post()
        token, name = form.get("token", ""), form.get("moderator", "")
        if self.api.user_header:  # the proxy names the user, as the API writes the decisions
            name = self._proxy_user(request) or ""
        name = name.strip() if isinstance(name, str) else ""
        good = isinstance(token, str) and self.api.token_matches(token)
        if not good or not name or len(name) > MAX_MODERATOR_CHARS or not name.isprintable():
            said = PAGE_TEXT[lang]["no_proxy_user" if good and self.api.user_header else "bad_sign_in"]
            return self._html(self._sign_in_page(lang, said.format(header=self.api.user_header)),
                              status=401)
        self.sessions.pop(request.cookies.get(COOKIE, ""), None)  # its cookie is replaced
        sid, _ = self._open(name)
        response = self._back(request, lang)
        response.set_cookie(COOKIE, sid, max_age=int(SESSION_SECONDS), path="/ui", httponly=True,
                            samesite="Strict", secure=request.secure)
        return response

    async def _signed_post(self, request: web.Request, lang: str
                           ) -> tuple[Session, Any] | web.Response:
        """A signed-in user's POST and its form, or the 403 refusing it: sent from another
        site, or without the session's CSRF token."""
        if self._cross_site(request):
            return self._forbidden(lang, "cross_site")
        form = await request.post()
        session = self.session(request)
        if session is None or not self._csrf_ok(session, form):
            return self._forbidden(lang)
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

    def _forbidden(self, lang: str, why: str = "csrf") -> web.Response:
        return self._html(document(f'<p class="note refused">{esc(PAGE_TEXT[lang][why])}</p>'
                                   f'<p><a href="/ui?lang={lang}">/ui</a></p>', lang), status=403)

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
            session.note = outcome(case_id, answer.status, _json(answer), lang)
        except BrokerError as exc:
            session.note = ("refused", PAGE_TEXT[lang]["unavailable"].format(detail=exc))
        return self._back(request, lang)


def _json(response: web.Response) -> dict[str, Any]:
    found = json.loads(response.text or "{}")
    return found if isinstance(found, dict) else {}
