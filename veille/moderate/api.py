"""The moderation HTTP API: pending cases and decisions over Kafka, bearer-token authenticated.

    GET  /cases?brand=B&category=C&limit=N   pending cases, oldest first (also assignee=,
                                             unassigned=, escalated=true|false, sort=,
                                             posted_since=, author=, contains=; offset=K
                                             skips the first K)
    GET  /cases/{id}                         one case: pending or closed, with its queue item
    GET  /closed?since=T&decision=D&...      closed cases, newest decision first (also until=,
                                             brand=, category=, moderator=, author=, contains=)
    POST /cases/{id}/decision                {"decision", "moderator", "reason"?, "assignee"?,
                                              "if_assigned_to"?}
    POST /decisions                          {"case_ids", "decision", "moderator", "reason"?}: one
                                             closing decision on up to MAX_BULK_IDS cases, an
                                             answer per case
    GET  /healthz
    GET  /metrics                            Prometheus text (veille.metrics.ModerationApiMetrics)
    GET  /ui                                 the moderation page (veille.moderate.page): signed
                                             in with the token and a session cookie, not Bearer

Every answer is read from moderation.queue and moderation.closed (the server keeps its read
position and what it read, rebuilt from the topics at start; a closed case is forgotten once
decided more than CLOSED_RETENTION_SECONDS ago, as the agent forgets it); a decision is written to
moderation.decisions and answered 202 once the broker holds it. The moderation agent applies it:
a decided case leaves the pending list once the agent has published it on moderation.closed.

Authentication: `Authorization: Bearer $VEILLE_MODERATION_API_TOKEN`, compared in constant time;
without a token the API refuses to listen on anything but loopback, and answers only requests
whose Host is a loopback name (421 otherwise: DNS rebinding). /healthz and /metrics ask for
neither (Prometheus has no token; the metrics hold no personal data: bounded labels only).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CollectorRegistry

from veille.broker import sign_in, url_host
from veille.collectors.polling import names_loopback
from veille.collectors.webhook import MIN_SECRET_CHARS, is_loopback
from veille.exposition import scrape
from veille.httpbody import (
    IDLE_SECONDS,
    BodyTooLarge,
    UndecodableBody,
    accept_encoding,
    aiohttp_errors_by_type,
    content_coding,
    decode,
    expect_continue,
    find_too_long,
    json_error,
    listen,
    loads,
)
from veille.logs import say
from veille.mentions_view import folded
from veille.metrics import ModerationApiMetrics
from veille.moderate.page import ModerationPage
from veille.moderate.store import (
    BrokerError,
    ModerationStore,
    already_closed,
    decision_pending,
    not_assigned_to,
    unknown_case,
    would_ignore,
)
from veille.moderation import CLOSING_DECISIONS, MAX_BULK_IDS, METRIC_CATEGORIES, SORTS
from veille.moderation.cases import (
    CLOSED_RETENTION_SECONDS,
    MAX_ID_CHARS,
    Decision,
    DecisionError,
    iso,
    parse_epoch,
)
from veille.moderation.queue import (
    DECISION_INPUT_FIELDS,
    CaseView,
    Prepared,
    decision_input,
    decision_record,
)
from veille.settings import Settings, SettingsError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Largest request body: a decision is a few hundred bytes (a reason is at most 1,000 chars).
MAX_BODY_BYTES = 16 * 1024
#: Largest body of POST /decisions: a decision and MAX_BULK_IDS ids as long as a record allows,
#: each character escaped as JSON may escape it (12 bytes: a surrogate pair), quoted, separated.
MAX_BULK_BODY_BYTES = MAX_BODY_BYTES + MAX_BULK_IDS * (MAX_ID_CHARS * 12 + 4)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: The largest `offset` (nine digits): past the end of any listing, answered with no cases.
MAX_OFFSET = 999_999_999
RETRY_AFTER_SECONDS = 5
#: How long a 503 waits to learn whether the broker now refuses the API's settings.
SIGN_IN_TIMEOUT = 2.0
#: A query's time in Unix seconds (anything else is read as ISO 8601).
_SECONDS = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,9})?")
#: With no request reading the topics for this long, the API reads them itself: its view stays
#: warm, and veille_moderation_api_last_read_age_seconds says whether it can read them.
VIEW_REFRESH_SECONDS = 30.0
#: Paths that ask for no credentials nor a loopback Host: the probes' and Prometheus'.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})


class ApiConfigError(SettingsError):
    """Unsafe or inconsistent API settings; printed without a traceback."""


#: Idempotency-Key: a decision written under a key is answered again, not written again, for
#: this long (a retry, a double click), in this process.
IDEMPOTENCY_SECONDS = 86400.0
MAX_IDEMPOTENCY_KEYS = 10_000
MAX_IDEMPOTENCY_KEY_CHARS = 255
#: Headers that carry credentials or request data: never a moderator's name.
_NOT_A_USER_HEADER = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "content-type",
    "content-length", "content-encoding", "host", "expect", "transfer-encoding",
})
#: An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_config(settings: Settings) -> None:
    """Refuse an unauthenticated API on anything but loopback, and a user header that no
    request could carry."""
    header = settings.moderation_api_user_header.strip()
    if header and not _HEADER_NAME.fullmatch(header):
        raise ApiConfigError(f"VEILLE_MODERATION_API_USER_HEADER={header!r} is not an HTTP "
                             "header name")
    if header.lower() in _NOT_A_USER_HEADER:  # its value would be written as the moderator
        raise ApiConfigError(f"VEILLE_MODERATION_API_USER_HEADER={header!r} carries "
                             "credentials or request data, not a user name")
    token = settings.moderation_api_token.strip()
    if token:
        if len(token) < MIN_SECRET_CHARS:  # guessed in a few tries: worse than none, it reassures
            raise ApiConfigError(f"VEILLE_MODERATION_API_TOKEN has {len(token)} characters, at "
                                 f"least {MIN_SECRET_CHARS} are needed (e.g. openssl rand -hex 32)")
        return
    if not is_loopback(settings.moderation_api_host):
        where = settings.moderation_api_host or "every interface"
        raise ApiConfigError(
            f"refusing to serve the moderation API without a token on {where!r}: set "
            "VEILLE_MODERATION_API_TOKEN, or listen on loopback (VEILLE_MODERATION_API_HOST=127.0.0.1)"
        )


_error = json_error


def _names_this_machine(host: str) -> bool:
    """The request's Host (with or without its port) is a loopback address written as such,
    `localhost` or a name under `.localhost`: never a name that DNS says is 127.0.0.1 now.
    Nothing may follow the name but a port (urlsplit reads `[::1]x` as ::1)."""
    if _HOST.fullmatch(host) is None:
        return False
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    return name is not None and names_loopback(name)


#: A Host header: a bracketed address or a name without brackets nor colons, then a port or not.
_HOST = re.compile(r"(\[[^\]]*\]|[^:\[\]]+)(:[0-9]{1,5})?")


def _misdirected() -> web.Response:
    return _error(421, "misdirected_request", "without VEILLE_MODERATION_API_TOKEN this server "
                  "answers only requests addressed to this machine by a loopback name (Host: "
                  "127.0.0.1, [::1], localhost): another name could be a web page's whose name now "
                  "resolves to 127.0.0.1 (DNS rebinding); set the token, or have the proxy in front "
                  "send Host: 127.0.0.1")


#: The detail of a 503: nothing acknowledged is not nothing written.
UNACKNOWLEDGED = ("the broker did not answer or acknowledge in time; a decision sent may still be "
                  "written: look at the case (GET /cases/{id}) before sending it again")

_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _no_store(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, errors and 401s included: cases name authors and quote their texts, which no
    browser or shared proxy may keep (answers said nothing of caching until 2026-12-06)."""
    response.headers["Cache-Control"] = "no-store"


def _route(request: web.Request) -> str:
    """The request's route as a template (/cases/{case_id}): a bounded label value; "other"
    when no route took it (ModerationApiMetrics folds any template it does not know too)."""
    route = getattr(request.match_info, "route", None)
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else "other"


def _error_code(response: web.StreamResponse) -> str | None:
    """The error code of a JSON refusal (`{"error": code, ...}`), None for any other answer."""
    body = getattr(response, "body", None)
    if response.content_type != "application/json" or not isinstance(body, bytes):
        return None
    try:
        found = json.loads(body)
    except ValueError:
        return None
    code = found.get("error") if isinstance(found, dict) else None
    return code if isinstance(code, str) else None


def _unauthorized() -> web.Response:
    """The same answer whatever was missing or wrong."""
    return _error(401, "unauthorized", "missing or invalid credentials; required: "
                  "Authorization: Bearer <token>",
                  headers={"WWW-Authenticate": 'Bearer realm="veille-moderation"'})


def _decision_headers(request: web.Request, limit: int = MAX_BODY_BYTES) -> web.Response | None:
    """What a decision's headers alone refuse: a body over `limit` (Content-Length), a
    content type other than JSON, an unsupported content coding. Checked before the body is
    read, and by the Expect handler before the client sends it."""
    length = request.content_length
    if length is not None and length > limit:
        return _error(413, "payload_too_large",
                      f"the body has {length} bytes, the limit is {limit}", limit=limit)
    ctype = request.content_type.lower()
    if ctype != "application/json":
        return _error(415, "unsupported_media_type", "Content-Type must be application/json")
    _, problem = content_coding(request.headers.getall("Content-Encoding", ()))
    if problem is not None:
        return _error(415, "unsupported_content_encoding", problem,
                      headers={"Accept-Encoding": accept_encoding()})
    return None


def _decisions_headers(request: web.Request) -> web.Response | None:
    """What POST /decisions' headers alone refuse: a decision's (its body up to
    MAX_BULK_BODY_BYTES), and an Idempotency-Key. Refused, not ignored: a client sending one
    expects its retries answered again, which a batch would not be (the one-case route keeps an
    answer per key and case); nor does it need one, its decisions being closing ones that a retry
    cannot write twice (a case decided is refused, 409 decision_pending or already_closed)."""
    if "Idempotency-Key" in request.headers:
        return _error(400, "invalid_header", "Idempotency-Key is not taken by POST /decisions: "
                      "a retry writes no closing decision twice (each case decided meanwhile "
                      "is refused, 409 decision_pending or already_closed); send it without, "
                      "or decide the cases one by one (POST /cases/{id}/decision)")
    return _decision_headers(request, MAX_BULK_BODY_BYTES)


def _refusals_language(request: web.Request) -> str:
    """The language of a decision's refusal (`detail`): French when the request's
    Accept-Language names French first (`veille moderate decide --lang fr --api`), else English."""
    first = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0].strip().lower()
    return "fr" if first == "fr" or first.startswith("fr-") else "en"


def _unknown_case(case_id: str, view: CaseView, lang: str = "en") -> web.Response:
    """404 for a case id the view does not hold: never queued, or closed and forgotten since
    (as the agent forgets it: a decision on it would be dropped as `unknown_case`)."""
    return _error(404, "unknown_case", unknown_case(case_id, view.closed_retention_seconds, lang))


def summary(item: dict[str, Any], view: CaseView | None = None,
            now: float | None = None) -> dict[str, Any]:
    """A pending case as the API and `veille moderate list --json` show it: its queue item
    (`severity` is triage's), `escalation`, null or how moderators escalated it, read from
    moderation.decisions (CaseView.escalation: count, severity now, assignee, moderator,
    decided_at, reason), `assigned`, null or who works on it (CaseView.assignment: assignee,
    and the moderator, decision and decided_at that gave it to them), and
    `decision_pending`, null or the closing decision a moderator
    already wrote that the agent has not applied yet (decision, moderator, decided_at): the
    case is as good as closed, and another decision on it would be refused (409)."""
    keys = ("case_id", "brand", "brands", "categories", "severity", "action", "reasons",
            "language", "sentiment", "platform", "author", "text", "url", "created_at",
            "queued_at", "respond_by")
    out = {k: item.get(k) for k in keys}
    if item.get("erased_at") is not None:  # `veille erase`: author, text and url emptied
        out["erased_at"] = item["erased_at"]
    case_id = item.get("case_id")
    out["escalation"] = out["assigned"] = out["decision_pending"] = None
    if view is not None and isinstance(case_id, str):
        at = time.time() if now is None else now
        out["escalation"] = view.escalation(case_id, at)
        out["assigned"] = view.assignment(case_id, at)
        out["decision_pending"] = _pending_decision(view.closing_decision(case_id, at))
    return out


def _checked_query(query: Any, free: set[str], choices: dict[str, tuple[str, ...]]
                   ) -> tuple[int, int] | web.Response:
    """The 400 answer to a query with a parameter other than `limit`, `offset`, `free` ones (any
    text) and `choices` (each one of its values), or one given twice, or else its `limit`
    (default DEFAULT_LIMIT, at most MAX_LIMIT) and `offset` (default 0: how many of the cases
    found, filtered and sorted, come before the first one given). Any of them empty or blank
    is as absent, as an HTML form's "any" (_param)."""
    unknown = sorted(set(query) - free - set(choices) - {"limit", "offset"})
    if unknown:
        return _error(400, "invalid_query", f"unknown parameters {unknown}", field=unknown[0])
    for name in sorted(set(query)):
        given = len(query.getall(name))
        if given > 1:  # "?brand=acme&brand=boreal" read as acme alone would look complete
            return _error(400, "invalid_query", f"{name} is given {given} times (one value each)",
                          field=name)
    for name, values in choices.items():
        value = _param(query, name)
        if value is not None and value not in values:
            return _error(400, "invalid_query", f"{name} must be one of {', '.join(values)}",
                          field=name)
    raw = _param(query, "limit") or str(DEFAULT_LIMIT)  # `limit=` from an empty form field
    if not _whole(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        return _error(400, "invalid_query", f"limit must be a whole number in 1..{MAX_LIMIT}",
                      field="limit")
    skip = _param(query, "offset") or "0"
    if not _whole(skip):
        return _error(400, "invalid_query", f"offset must be a whole number in 0..{MAX_OFFSET}",
                      field="offset")
    return int(raw), int(skip)


def _whole(raw: str) -> bool:
    """ASCII digits, at most 9 of them (4,301 digits: int() raises; "²".isdigit() is True)."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 9


def _time_param(query: Any, name: str) -> float | None | web.Response:
    """A time parameter (Unix seconds or ISO 8601, as decided_at) in epoch seconds, None when
    absent, or the 400 answer saying what is wrong with it."""
    value = _param(query, name)
    try:
        return None if value is None else parse_epoch(
            float(value) if _SECONDS.fullmatch(value) else value, name)
    except DecisionError as exc:
        return _error(400, "invalid_query", f"{exc.detail} (ISO 8601 or Unix seconds)", field=name)


def _param(query: Any, name: str) -> str | None:
    """A parameter as given, None when absent, empty or blank (only spaces): as absent."""
    value = query.get(name)
    return value if value is not None and value.strip() else None


def _text_param(query: Any, name: str) -> str | None:
    """A free-text filter: blank (empty, or spaces) is as absent, as an HTML form's "any";
    surrounding spaces are not part of it."""
    return (query.get(name) or "").strip() or None


def _words_param(query: Any) -> str | None | web.Response:
    """`contains`, the words a case's text or link holds (CaseView.pending): blank is as absent,
    as the other free-text filters; words that fold to nothing (marks alone, which the folding
    drops) are refused, as `--contains` refuses them: they would find every case."""
    words = _text_param(query, "contains")
    if words is not None and not folded(words):
        return _error(400, "invalid_query", "contains must hold a word", field="contains")
    return words


def _pending_decision(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    decision = Decision.from_dict(record)  # valid: the agent's fold applied it
    return {"decision": decision.decision, "moderator": decision.moderator,
            "decided_at": iso(decision.decided_at),
            # An answer a collector saw on a platform says where (absent: a moderator's).
            **({"answered_on": decision.answered_on} if decision.answered_on is not None else {})}


class ModerationApi:
    """An aiohttp server on settings.moderation_api_host:moderation_api_port; `port` once started."""

    def __init__(self, settings: Settings, store: ModerationStore | None = None,
                 on_ready: Callable[[ModerationApi], None] | None = None) -> None:
        self.settings = settings
        # A long-running process: closed cases are forgotten as the agent forgets them.
        self.store = store or ModerationStore(settings,
                                              closed_retention_seconds=CLOSED_RETENTION_SECONDS)
        self.on_ready = on_ready
        self.host = settings.moderation_api_host
        self.port: int | None = None
        self._user_header = settings.moderation_api_user_header.strip()
        token = settings.moderation_api_token.strip()
        self._token = token.encode("utf-8") if token else None
        self._runner: web.AppRunner | None = None
        self.page = ModerationPage(self)
        self.metrics = ModerationApiMetrics(CollectorRegistry(), sessions=self.page.open_sessions)
        self._refresher: asyncio.Task[None] | None = None
        self._last_read_attempt = 0.0  # time.monotonic() of the last read of the topics begun
        # The store's Kafka clients are blocking and not thread-safe: one thread uses them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moderate-kafka")
        self._lock = asyncio.Lock()
        self._deciding = asyncio.Lock()  # check-then-write of a decision, one at a time
        #: (Idempotency-Key, case id) -> (when, the request's decision, the answer given), for
        #: the decisions written: oldest first, bounded.
        self._answered: OrderedDict[tuple[str, str], tuple[float, dict[str, Any],
                                                           tuple[int, dict[str, Any]]]] = OrderedDict()

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def auth(self) -> str:
        return "bearer token" if self._token else "none (loopback only)"

    async def start(self) -> None:
        check_config(self.settings)
        aiohttp_errors_by_type()  # a refused request's header line (the token) never logged
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._errors])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/cases", self._list)
        app.router.add_get("/cases/{case_id}", self._get)
        app.router.add_get("/closed", self._closed)
        # `Expect: 100-continue`: refused from the headers, before the client sends the body.
        app.router.add_post("/cases/{case_id}/decision", self._decide,
                            expect_handler=self._expecting(_decision_headers))
        app.router.add_post("/decisions", self._decide_cases,
                            expect_handler=self._expecting(_decisions_headers))
        app.on_response_prepare.append(_no_store)
        self.page.register(app)  # GET /ui: the moderation page (veille.moderate.page)
        # Content codings are undone by veille.httpbody (the same answers whatever is installed).
        # An idle connection, or one whose request's headers never end, is closed after
        # IDLE_SECONDS (aiohttp kept it an hour), before any credentials are asked.
        runner = await listen(app, self.host, self.settings.moderation_api_port, ApiConfigError,
                              access_log=None, auto_decompress=False, keepalive_timeout=IDLE_SECONDS)
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._refresher = asyncio.create_task(self._keep_fresh())
        if self.on_ready is not None:
            self.on_ready(self)

    async def stop(self) -> None:
        if self._refresher is not None:
            refresher, self._refresher = self._refresher, None
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.store.close)
        self._executor.shutdown(wait=False)

    # -- plumbing ---------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every answer counted (ModerationApiMetrics), then `_answer`'s."""
        started = time.perf_counter()
        response = await self._answer(request, handler)
        self._count(request, response, started)
        return response

    def _count(self, request: web.Request, response: web.StreamResponse, started: float) -> None:
        """A request's answer in the metrics: its route's template, status code and time; a
        JSON refusal (4xx) by its error code (the page counts its own HTML refusals)."""
        self.metrics.observe(_route(request), response.status, time.perf_counter() - started)
        if 400 <= response.status < 500:
            code = _error_code(response)
            if code is not None:
                self.metrics.refused(code, "page" if self.page.serves(request.path) else "api")

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Authentication first; no stack trace, token or body ever leaves."""
        if self._token is None and request.path not in OPEN_PATHS and not _names_this_machine(
                request.host):
            # Loopback only, without a token: a browser on this machine is the only client
            # that could come through another name, a hostile page's rebound to 127.0.0.1.
            return _misdirected()
        # The moderation page signs its users in itself (a session cookie and a CSRF token).
        if request.path not in OPEN_PATHS and not self.page.serves(request.path) \
                and not self._authorized(request):
            return _unauthorized()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException as exc:
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            return _error(exc.status, _HTTP_ERRORS.get(exc.status, "http_error"), exc.reason,
                          headers=headers)
        except BrokerError as exc:
            log.warning("moderation API: %s", exc)
            # A broker that answers but now refuses the API's settings (a password changed or
            # a certificate renewed while it runs) is told as such, not as a broker away.
            signed_in, problem = await sign_in(self.settings, timeout=SIGN_IN_TIMEOUT)
            refused = "" if signed_in or not problem else f"the broker refuses the API: {problem}; "
            if refused:
                log.error("moderation API: cannot sign in to the broker: %s", problem)
            # Not acknowledged is not "not written": a broker that froze with the decision in
            # hand writes it on waking, and an escalate sent again would escalate twice.
            return _error(503, "broker_unavailable", refused + UNACKNOWLEDGED,
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("moderation API: internal error on %s %s (%s)", request.method,
                      request.path, type(exc).__name__)
            return web.json_response({"error": "internal"}, status=500)

    def _expecting(self, headers: Callable[[web.Request], web.Response | None]
                   ) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
        """A decision route's Expect handler (it runs before the middlewares): credentials, then
        the route's header checks (`headers`), answered instead of the `100 Continue`."""
        def precheck(request: web.Request) -> web.Response | None:
            return _unauthorized() if not self._authorized(request) else headers(request)

        async def expect(request: web.Request) -> web.StreamResponse | None:
            started = time.perf_counter()
            refused = await expect_continue(request, precheck, log, "moderation API")
            if refused is not None:  # answered here: the middleware never sees it
                self._count(request, refused, started)
            return refused

        return expect

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
        return self._token is None or (scheme.lower() == "bearer" and self.token_matches(credentials))

    def token_matches(self, given: str) -> bool:
        """`given` is the team's token (compared in constant time), or none is set (loopback
        only: check_config): the bearer token's check, and the moderation page's sign-in."""
        if self._token is None:
            return True
        return hmac.compare_digest(given.strip().encode("utf-8", "backslashreplace"), self._token)

    @property
    def needs_token(self) -> bool:
        return self._token is not None

    @property
    def user_header(self) -> str:
        """VEILLE_MODERATION_API_USER_HEADER, or empty: set, the proxy's user decides."""
        return self._user_header

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def _read(self, fn: Callable[[CaseView], T]) -> T:
        """fn(view) on the view brought up to date with the topics, under the lock: no other
        request's refresh changes the view's dicts while fn reads them (a refresh runs in the
        executor thread, and listing while it added records could fail). fn runs in that thread
        too: a listing of tens of thousands of cases must not hold up the event loop (the
        other requests, /healthz)."""
        async with self._lock:
            self._last_read_attempt = time.monotonic()
            return await self._blocking(lambda: fn(self._refreshed()))  # type: ignore[no-any-return]

    def _refreshed(self) -> CaseView:
        """The store's view read up to date with the topics (in the executor thread), the read
        counted: its time once done, a failure otherwise."""
        try:
            view = self.store.refresh()
        except Exception:
            self.metrics.read_failures.inc()
            raise
        self.metrics.read()
        return view

    async def _keep_fresh(self) -> None:
        """Read the topics at start, then whenever no request has for VIEW_REFRESH_SECONDS:
        the first moderator does not wait for the whole read, and the last read's time (a
        metric) tells whether the API can still read them while nobody uses it."""
        failing = False
        while True:
            try:
                await self._read(lambda view: None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # counted by _refreshed; said once per outage
                if not failing:
                    log.warning("moderation API: cannot read the moderation topics: %s", exc)
                failing = True
            else:
                if failing:
                    log.warning("moderation API: reading the moderation topics again")
                failing = False
            while (wait := self._last_read_attempt + VIEW_REFRESH_SECONDS
                   - time.monotonic()) > 0:
                await asyncio.sleep(wait)

    # -- endpoints --------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _metrics(self, request: web.Request) -> web.Response:
        headers, body = scrape(self.metrics.registry, request.headers.get("Accept"),
                               request.headers.get("Accept-Encoding"), request.query_string)
        return web.Response(body=body, headers=headers)

    async def _list(self, request: web.Request) -> web.Response:
        found = await self.pending(request.query)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def pending(self, query: Any) -> dict[str, Any] | web.Response:
        """GET /cases's answer to `query` (a MultiDict): `{"count", "cases"}`, `count` every
        case found and `cases` the `limit` from `offset` on, or the 400 refusing it (the
        moderation page lists the same way)."""
        checked = _checked_query(query, {"brand", "assignee", "posted_since", "author", "contains"}, {
            "category": METRIC_CATEGORIES, "sort": SORTS, "unassigned": ("true", "false"),
            "escalated": ("true", "false")})
        if isinstance(checked, web.Response):
            return checked
        limit, offset = checked
        posted_since = _time_param(query, "posted_since")
        if isinstance(posted_since, web.Response):
            return posted_since
        contains = _words_param(query)
        if isinstance(contains, web.Response):
            return contains
        category = _param(query, "category")
        sort = _param(query, "sort") or "queued"
        unassigned = _param(query, "unassigned") or "false"
        escalated = _param(query, "escalated") == "true"  # with unassigned: the escalation queue
        assignee = _text_param(query, "assignee")
        if assignee is not None and unassigned == "true":
            return _error(400, "invalid_query", "assignee and unassigned=true exclude each other",
                          field="unassigned")

        def listing(view: CaseView) -> dict[str, Any]:
            now = time.time()
            pending = view.pending(brand=_text_param(query, "brand"), category=category,
                                   sort=sort, assignee=assignee, unassigned=unassigned == "true",
                                   escalated=escalated, now=now, posted_since=posted_since,
                                   author=_text_param(query, "author"), contains=contains)
            return {"count": len(pending),
                    "cases": [summary(i, view, now) for i in pending[offset:offset + limit]]}

        return await self._read(listing)

    async def _closed(self, request: web.Request) -> web.Response:
        found = await self.closed(request.query)
        return found if isinstance(found, web.Response) else web.json_response(found)

    async def closed(self, query: Any) -> dict[str, Any] | web.Response:
        """GET /closed's answer to `query` (a MultiDict): `{"count", "cases"}`, newest decision
        first, or the 400 refusing it (the moderation page's closed cases are the same)."""
        checked = _checked_query(query, {"brand", "moderator", "since", "until", "author",
                                         "contains"}, {
            "category": METRIC_CATEGORIES, "decision": CLOSING_DECISIONS})
        if isinstance(checked, web.Response):
            return checked
        limit, offset = checked
        category = _param(query, "category")
        decision = _param(query, "decision")
        contains = _words_param(query)
        if isinstance(contains, web.Response):
            return contains
        times: dict[str, float | None] = {}
        for name in ("since", "until"):
            value = _time_param(query, name)
            if isinstance(value, web.Response):
                return value
            times[name] = value
        now = time.time()
        until = times["until"]
        since = times["since"] if times["since"] is not None else (
            (until if until is not None else now) - 86400)
        if until is not None and until <= since:
            return _error(400, "invalid_query", "until must be after since", field="until")
        retention = self.store.view.closed_retention_seconds
        if retention is not None and since < now - retention:
            # Forgotten as the agent forgets them: a partial answer would read as complete.
            named = "since" if times["since"] is not None else "since (by default a day before until)"
            return _error(400, "invalid_query", "this API keeps closed cases "
                          f"{retention / 86400:g} days after their decision: {named} must be at or "
                          f"after {iso(now - retention)} (`veille moderate closed` reads them "
                          "from the topics, as far back as they keep them)", field="since")

        def listing(view: CaseView) -> dict[str, Any]:
            count, found = view.closed_page(
                brand=_text_param(query, "brand"), category=category, decision=decision,
                moderator=_text_param(query, "moderator"), since=since, until=until, limit=limit,
                offset=offset, author=_text_param(query, "author"), contains=contains)
            return {"count": count, "cases": found}

        return await self._read(listing)

    async def _get(self, request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]

        def one(view: CaseView) -> dict[str, Any] | None:
            status = view.status(case_id)
            if status is None:
                return None
            return {"case_id": case_id, "status": status,
                    "item": summary(view.items[case_id], view) if case_id in view.items else None,
                    "closed": view.closed.get(case_id)}

        found = await self._read(one)
        if found is None:  # never queued, or closed and forgotten since
            if case_id == "closed":  # the closed cases are GET /closed
                return _error(404, "unknown_case", "no case 'closed' on the moderation queue; "
                              "the closed cases are listed by GET /closed")
            return _unknown_case(case_id, self.store.view)
        return web.json_response(found)

    async def _decide(self, request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]
        refused = _decision_headers(request)
        if refused is not None:
            return refused
        payload = await self._json_body(request, MAX_BODY_BYTES)
        if isinstance(payload, web.Response):
            return payload
        if not isinstance(payload, dict):
            return _error(400, "invalid_field", "the body must be a JSON object with "
                          f"{', '.join(DECISION_INPUT_FIELDS)}")
        return await self.decide(case_id, payload, request, request.headers.get("Idempotency-Key"),
                                 _refusals_language(request))

    async def _decide_cases(self, request: web.Request) -> web.Response:
        """POST /decisions: one closing decision on several cases (a wave of copies, a spam
        campaign; `veille moderate decide ID ID... --api`), in one request and one batch
        (decide_many) instead of a request per case through the decision lock one after the
        other. A bad body is refused whole (nothing written); else 200 and a result per case,
        in the order given (an id given twice: once), what POST /cases/{id}/decision would have
        answered, `status` and `body`, or 503 broker_unavailable for one not acknowledged."""
        refused = _decisions_headers(request)
        if refused is not None:
            return refused
        payload = await self._json_body(request.clone(client_max_size=MAX_BULK_BODY_BYTES),
                                        MAX_BULK_BODY_BYTES)
        if isinstance(payload, web.Response):
            return payload
        if not isinstance(payload, dict):
            return _error(400, "invalid_field", "the body must be a JSON object with case_ids, "
                          "decision, moderator and optionally reason")
        decision = {k: v for k, v in payload.items() if k != "case_ids"}
        ids = payload.get("case_ids")
        if not isinstance(ids, list) or not ids:
            return _error(400, "invalid_field", "case_ids must be a non-empty list of case ids",
                          field="case_ids")
        for n, case_id in enumerate(ids):
            # As a record's case_id (a lone surrogate aside: refused below, as on one case).
            if not isinstance(case_id, str) or not case_id.strip() or len(case_id) > MAX_ID_CHARS:
                return _error(400, "invalid_field", f"case_ids[{n}] must be a non-empty string "
                              f"of at most {MAX_ID_CHARS} characters", field="case_ids")
        ids = list(dict.fromkeys(ids))  # an id given twice is decided once
        if len(ids) > MAX_BULK_IDS:
            return _error(400, "invalid_field", f"{len(ids)} case ids: at most {MAX_BULK_IDS} at "
                          "once (split the list)", field="case_ids")
        if decision.get("decision") not in CLOSING_DECISIONS:
            # As `veille moderate decide ID ID...`: an escalation asks a lead to look at each
            # case, an assignment depends on who works on each.
            return _error(400, "invalid_field", "decision must be one of "
                          f"{', '.join(CLOSING_DECISIONS)} (the others are decided one case at a "
                          "time: POST /cases/{id}/decision)", field="decision")
        for case_id in ids:  # the same for every case but its id: refused whole, as one case's
            checked = self._decision_payload(case_id, decision, request)
            if isinstance(checked, web.Response):
                return checked
        lang = _refusals_language(request)
        results: list[dict[str, Any]] = []
        unacknowledged: list[BrokerError] = []
        for case_id, answer in await self.decide_many(ids, decision, request, lang):
            if isinstance(answer, BrokerError):
                unacknowledged.append(answer)
                status, body = 503, {"error": "broker_unavailable", "detail": UNACKNOWLEDGED}
            else:
                status, body = answer.status, json.loads(answer.text or "{}")
                if 400 <= status < 500:  # counted as the one-case route counts its refusals
                    self.metrics.refused(str(body.get("error", "other")), "api")
            results.append({"case_id": case_id, "status": status, "body": body})
        if unacknowledged:  # once, not a line per case of a batch the broker let down
            log.warning("moderation API: %d of %d decisions not acknowledged: %s",
                        len(unacknowledged), len(results), unacknowledged[0])
        return web.json_response({"results": results})

    async def _json_body(self, request: web.Request, limit: int) -> Any:
        """A decision route's body as JSON, at most `limit` bytes decoded (the request's
        client_max_size read), or the answer refusing it."""
        coding, _ = content_coding(request.headers.getall("Content-Encoding", ()))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "payload_too_large", f"the body is larger than {limit} bytes",
                          limit=limit)
        except RequestPayloadError:  # the body ended before its announced length
            # aiohttp would read the rest of the body after the answer, meet the same error
            # again and reset the connection under the answer: the body is over, and so is the
            # connection once answered.
            request.content.feed_eof()
            response = _error(400, "undecodable_body", "the body could not be read in full")
            response.force_close()
            return response
        try:
            body = decode(raw, coding, limit)
        except BodyTooLarge as exc:
            return _error(413, "payload_too_large", str(exc), limit=limit)
        except UndecodableBody as exc:
            return _error(400, "undecodable_body",
                          f"the body does not decode as its Content-Encoding ({coding}) says: {exc}")
        try:
            payload, too_long = loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return _error(400, "invalid_json", "the body is not valid UTF-8 JSON")
        found = find_too_long(payload) if too_long else None
        if found is not None:
            path, number = found
            return _error(400, "invalid_field", f"{path or 'the body'} is {number.describe()}",
                          field=path)
        return payload

    async def decide(self, case_id: str, payload: dict[str, Any], request: web.Request,
                     key: str | None, lang: str = "en") -> web.Response:
        """POST /cases/{id}/decision once its body is read: the decision checked and written,
        or the answer refusing it. `key`: its Idempotency-Key; `lang`: the words of its
        refusals' details (REFUSAL_TEXT: French for the moderation page, and for the API when
        Accept-Language names French first; a detail from the record's validation stays English)."""
        checked = self._decision_payload(case_id, payload, request)
        if isinstance(checked, web.Response):
            return checked
        payload = checked
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS
                                    and key.isascii() and key.isprintable()):
            return _error(400, "invalid_header", "Idempotency-Key must be 1 to "
                          f"{MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters")
        async with self._deciding:
            if key is not None:  # a retry or a double click: the first answer, nothing written
                done = self._answered.get((key, case_id))
                if done is not None and time.monotonic() - done[0] < IDEMPOTENCY_SECONDS:
                    if done[1] != payload:
                        return _error(422, "idempotency_key_reused", "this Idempotency-Key "
                                      "was used for another decision on this case")
                    status, answer = done[2]
                    return web.json_response(answer, status=status,
                                             headers={"Idempotent-Replayed": "true"})
            # Checked under the view's lock, like the listings: another request's refresh (in
            # the executor thread) must not change the view while it is read.
            [(refused, prepared)] = await self._read(
                lambda view: [self._conflict(view, case_id, payload, lang)])
            if refused is not None:
                return refused
            assert prepared is not None
            [found] = await self._write([(case_id, prepared)], request, lang)
            if isinstance(found, BrokerError):
                if key is not None:  # maybe written: the key's retry must not write it again
                    self._remember_answer(key, case_id, payload, (409, {
                        "error": "outcome_unknown",
                        "detail": "a request with this Idempotency-Key got 503: the decision "
                                  "may have been written; look at the case (GET /cases/{id}) "
                                  "and send it again under a new key if it is not there"}))
                raise found
            if key is not None:  # written: the same answer to the same key, not a second write
                # (as the client sent it: what its retries under the key repeat)
                self._remember_answer(key, case_id, payload, found)
        return web.json_response(found[1], status=found[0])

    async def decide_many(self, case_ids: list[str], payload: dict[str, Any], request: web.Request,
                          lang: str = "en") -> list[tuple[str, web.Response | BrokerError]]:
        """One decision on several cases (the moderation page's bulk form): each checked as
        `decide` checks one, the ones accepted written in one batch the broker acknowledges
        (ModerationStore.decide_many) and read back after one read of the topics; what became
        of each, in order: the answer POST /cases/{id}/decision would have given, or the
        BrokerError of one not acknowledged (it may still be written). A broker that cannot
        be read at all is a BrokerError, before anything is written."""
        found: dict[str, web.Response | BrokerError] = {}
        payloads: dict[str, dict[str, Any]] = {}
        for case_id in case_ids:
            checked = self._decision_payload(case_id, payload, request)
            if isinstance(checked, web.Response):
                found[case_id] = checked
            else:
                payloads[case_id] = checked
        async with self._deciding:
            conflicts = await self._read(lambda view: [
                (case_id, self._conflict(view, case_id, body, lang))
                for case_id, body in payloads.items()])
            accepted: list[tuple[str, Prepared]] = []
            for case_id, (refused, prepared) in conflicts:
                if refused is not None:
                    found[case_id] = refused
                else:
                    assert prepared is not None
                    accepted.append((case_id, prepared))
            for (case_id, _), result in zip(accepted, await self._write(accepted, request, lang),
                                            strict=True):
                found[case_id] = (result if isinstance(result, BrokerError)
                                  else web.json_response(result[1], status=result[0]))
        return [(case_id, found[case_id]) for case_id in case_ids]

    def _decision_payload(self, case_id: str, payload: dict[str, Any], request: web.Request
                          ) -> dict[str, Any] | web.Response:
        """A decision's body as it will be checked on its case: its moderator the proxy's
        user when one names them, an assign without assignee the moderator's own; or the
        answer refusing it (validated before any Kafka read)."""
        payload = decision_input(payload)  # a form's empty reason or assignee: as absent
        if self._user_header:
            # The proxy's authenticated user, not what the caller claims: the decisions' record
            # of who decided what, and the KPIs per moderator, cannot be forged by a client.
            given = request.headers.getall(self._user_header, [])
            if len(given) > 1:  # a proxy appending to a client's own header: which is whose?
                return _error(400, "ambiguous_user",
                              f"{self._user_header} is given {len(given)} times")
            user = given[0] if given else ""
            if not user.strip():
                return _error(401, "unauthenticated_user",
                              f"no authenticated user in {self._user_header}")
            claimed = payload.get("moderator")
            if claimed is not None and claimed != user:
                return _error(403, "moderator_mismatch",
                              f"moderator must be the authenticated user ({self._user_header})",
                              field="moderator")
            payload = {**payload, "moderator": user}
        if payload.get("decision") == "assign" and payload.get("assignee") is None \
                and isinstance(payload.get("moderator"), str):
            payload = {**payload, "assignee": payload["moderator"]}  # the moderator takes it
        try:
            decision_record(case_id, payload, time.time())  # validated before any Kafka read
        except DecisionError as exc:
            return _error(400, "invalid_field", exc.detail)
        return payload

    @staticmethod
    def _conflict(view: CaseView, case_id: str, payload: dict[str, Any], lang: str
                  ) -> tuple[web.Response | None, Prepared | None]:
        """The answer that refuses a decision on its case (None: write it), and the decision
        checked on the case (CaseView.prepare: what to write, who works on the case). Called
        under `_deciding`, from check to acknowledgement: two moderators posting on the same
        case at once must not both pass the check."""
        status = view.status(case_id)
        if status is None:
            return _unknown_case(case_id, view, lang), None
        # A refusal names the decision that refuses, as fields too: a client tells it in its
        # own words without asking GET /cases/{id} (a re-run of 500 decided cases was 500 GETs).
        if status == "closed":
            closed = view.closed[case_id]
            return _error(409, "already_closed", already_closed(case_id, closed, lang),
                          closed={k: closed.get(k) for k in ("decision", "moderator", "decided_at")}
                          ), None
        now = time.time()
        prior = view.closing_decision(case_id, now)
        if prior is not None:
            return _error(409, "decision_pending", decision_pending(case_id, prior, lang),
                          decision_pending=_pending_decision(prior)), None
        prepared = view.prepare(case_id, payload, now)
        owner = prepared.owner
        has = owner["assignee"] if owner is not None else None
        if "if_assigned_to" in payload and payload["if_assigned_to"] != has:
            # What the client saw is no longer so (checked before "nothing to do"); told
            # in words a screen can show (null is "no one", not Python's None).
            return _error(409, "assigned_first",
                          not_assigned_to(case_id, has, payload["if_assigned_to"], lang),
                          assigned=owner), prepared
        if prepared.unchanged:
            # Assigned to who already has it, or given back by no one: nothing to write.
            return web.json_response({"accepted": True, "unchanged": True, "decision": None,
                                      "assigned": owner}), prepared
        if prepared.refusal is not None:
            # The agent would ignore it (the case's bound on decisions reached...).
            return _error(409, "not_applicable",
                          would_ignore(case_id, prepared.refusal, lang)), prepared
        return None, prepared

    async def _write(self, accepted: list[tuple[str, Prepared]], request: web.Request, lang: str
                     ) -> list[tuple[int, dict[str, Any]] | BrokerError]:
        """Decisions checked (`_conflict`) written in one batch, then read back after one read
        of the topics: each one's answer (status, body), or the BrokerError of one the broker
        did not acknowledge. Called under `_deciding`."""
        if not accepted:
            return []
        # An assign or unassign is applied only if the case is still worked on by who it
        # was checked to be: of two moderators taking it at the same moment (two replicas,
        # the CLI), the first on the topic has it and the second is told (assigned_first).
        written = await self._blocking(self.store.decide_many,
                                       [(case_id, prepared.body) for case_id, prepared in accepted])
        for record in written:
            if not isinstance(record, BrokerError):
                self.metrics.decided(record["decision"],
                                     "page" if self.page.serves(request.path) else "api")
        # Another tool (the CLI, another replica of this API) may have written a closing
        # decision between the check and this write: whichever is first on the topic wins.
        def read_back() -> list[Any]:
            """Each one written read back, on one read of the topics (in the executor)."""
            self.store.refresh()
            return [None if isinstance(record, BrokerError) else self.store.read_back(
                case_id, record, prepared.escalations, lang, fresh=False)
                for (case_id, prepared), record in zip(accepted, written, strict=True)]

        backs: list[Any] = [None] * len(accepted)
        if any(not isinstance(record, BrokerError) for record in written):
            try:
                async with self._lock:  # the view's: the store refreshes it
                    self._last_read_attempt = time.monotonic()
                    backs = await self._blocking(read_back)
                self.metrics.read()
            except BrokerError as exc:  # written and acknowledged all the same
                self.metrics.read_failures.inc()
                log.warning("decisions on %s written; not checked against concurrent ones: %s",
                            ", ".join(repr(case_id) for case_id, _ in accepted), exc)
        results: list[tuple[int, dict[str, Any]] | BrokerError] = []
        for (_, prepared), record, back in zip(accepted, written, backs, strict=True):
            if isinstance(record, BrokerError):
                results.append(record)
            elif back is not None and back.refusal is not None:
                results.append((409, {"error": back.refusal[0], "detail": back.refusal[1],
                                      **back.extra}))
            else:
                results.append((202, {"accepted": True, "decision": record,
                                      "previously_assigned": prepared.owner,
                                      "escalated_meanwhile": back.escalated if back is not None
                                      else None}))
        return results

    def _remember_answer(self, key: str, case_id: str, payload: dict[str, Any],
                         result: tuple[int, dict[str, Any]]) -> None:
        """The answer given to a decision under an Idempotency-Key, for its retries; the
        oldest forgotten beyond MAX_IDEMPOTENCY_KEYS."""
        self._answered[(key, case_id)] = (time.monotonic(), payload, result)
        while len(self._answered) > MAX_IDEMPOTENCY_KEYS:
            self._answered.popitem(last=False)


async def run_api(settings: Settings) -> None:
    """`veille moderate serve`: serve until SIGTERM/SIGINT."""
    check_config(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    def announce(api: ModerationApi) -> None:
        say(f"veille moderate: API at {api.url}/cases (auth: {api.auth}), moderation page at "
            f"{api.url}/ui, metrics at {api.url}/metrics; Ctrl-C stops it")

    api = ModerationApi(settings, on_ready=announce)
    await api.start()
    try:
        await stopping.wait()
    finally:
        await api.stop()
