"""`veille moderate list|show|closed|decide` through a running moderation API (`--api URL`,
VEILLE_MODERATION_API_URL) instead of reading the moderation topics from their start: the API
keeps its view in memory and answers in milliseconds where the topics take minutes at a year's
cases. The answers are printed by the same code as the topics' (commands.render_*).

Every problem is a ModerateError naming the API's URL (never the token), said in one line; none
falls back to reading the topics (minutes where the moderator expected an instant answer)."""

from __future__ import annotations

import http.client
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from veille.moderate.commands import (
    Decided,
    ModerateError,
    check_case_id,
    decide_words,
    decide_words_of,
    render_case,
    render_closed,
    render_list,
    validate_bulk,
    validate_decision,
)
from veille.moderate.words import word
from veille.settings import Settings
from veille.terminal import printable
from veille.urls import check_base_url, sends_secret_in_clear

#: Seconds a request to the API may take (connection and answer): its answers are read from
#: memory; a listing of tens of thousands of cases is a second at most.
TIMEOUT_SECONDS = 30.0
#: The API's largest page (api.MAX_LIMIT): a longer listing is read page by page.
PAGE = 1000
#: The largest answer read (a page of 1,000 cases is a few MB): a server that sends more (not
#: the API, or a broken one) is an error, not all of the memory.
MAX_ANSWER_BYTES = 64 << 20
#: How the moderator goes back to the topics, in the errors.
TOPICS_HINT = 'or --api "" to read the topics instead (slower: minutes at a year\'s cases)'


class ApiError(ModerateError):
    """The moderation API could not be asked, or refused the request: `status` (None: no answer),
    `code` (its JSON error code, if any)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.body = status, code, body or {}


def check_api_url(raw: str, token: str, *, name: str = "--api") -> str:
    """The API's base URL without a trailing slash, or ModerateError: http(s), a host, no
    credentials, query or path to a route; with a token, http:// only to this machine (as the
    collectors' VEILLE_MASTODON_URL: the token would travel in clear to another one)."""
    url = check_base_url(raw, name=name, error=ModerateError, example="http://127.0.0.1:8081",
                         empty_hint="give the moderation API's address",
                         credentials_hint="the token is VEILLE_MODERATION_API_TOKEN",
                         api_path="/cases/")
    if token and sends_secret_in_clear(url):
        raise ModerateError(f"{name}={url!r} is http:// to another machine: "
                            "VEILLE_MODERATION_API_TOKEN would travel in clear; use the API's "
                            "https:// address (TLS in front of it), or http://127.0.0.1 on its host")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: the token would go with it to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class ApiClient:
    """The moderation API at `url` (checked by check_api_url), with the bearer `token` if any."""

    def __init__(self, url: str, token: str = "", timeout: float | None = None) -> None:
        self.url = url
        self.timeout = TIMEOUT_SECONDS if timeout is None else timeout
        self._headers = {"Accept": "application/json", "User-Agent": "veille-cli"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        # A proxy of the environment for https:// alone (no_proxy honoured): through an http://
        # proxy the token would travel in clear, whatever the API's address.
        proxies = {k: v for k, v in urllib.request.getproxies().items() if k == "https"}
        self._opener = urllib.request.build_opener(_NoRedirect(), urllib.request.ProxyHandler(proxies))

    def request(self, method: str, path: str, query: dict[str, str] | None = None,
                body: dict[str, Any] | None = None, ok: tuple[int, ...] = (200,),
                lang: str | None = None) -> dict[str, Any]:
        """The JSON object the API answers `method path?query`, or ApiError saying why not;
        `lang`: the language of its refusals (Accept-Language)."""
        target = self.url + path + (f"?{urlencode(query)}" if query else "")
        headers = dict(self._headers)
        if lang is not None:
            headers["Accept-Language"] = lang
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        asked = urllib.request.Request(target, data=data, headers=headers, method=method)
        where = f"the moderation API at {self.url}"
        try:
            try:
                with self._opener.open(asked, timeout=self.timeout) as answer:
                    status, raw = answer.status, answer.read(MAX_ANSWER_BYTES + 1)
            except urllib.error.HTTPError as exc:
                with exc:
                    status, raw = exc.code, exc.read(MAX_ANSWER_BYTES + 1)
        except UnicodeEncodeError:  # http.client writes headers in Latin-1
            raise ApiError("VEILLE_MODERATION_API_TOKEN holds a character an HTTP header cannot "
                           "carry (beyond Latin-1)") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # Refused, timed out (TIMEOUT_SECONDS), reset, or not HTTP at all.
            reason = (f"not an HTTP answer ({type(exc).__name__})"
                      if isinstance(exc, http.client.HTTPException)
                      else printable(str(getattr(exc, "reason", None) or exc or type(exc).__name__)))
            raise ApiError(f"cannot reach {where}: {reason} (is `veille moderate serve` running "
                           f"there? set VEILLE_MODERATION_API_URL or --api to its address, "
                           f"{TOPICS_HINT})") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise ApiError(f"{where} answered more than {MAX_ANSWER_BYTES >> 20} MiB on {method} "
                           f"{path} (is that address the moderation API?)", status)
        try:
            found = json.loads(raw)
        except ValueError:
            found = None
        if status in ok and isinstance(found, dict):
            return found
        raise self.refusal(method, path, status, found)

    def refusal(self, method: str, path: str, status: int, found: Any) -> ApiError:
        """The ApiError saying what the API's answer `status`, `found` (its JSON) to `method
        path` refused: the request's, or one case's of POST /decisions (said as its own route's
        answer would be)."""
        where = f"the moderation API at {self.url}"
        if 300 <= status < 400:
            return ApiError(f"{where} answered a redirect ({status}), not followed: the token would "
                            "go with it; give the API's own address", status)
        if not isinstance(found, dict):
            return ApiError(f"{where} answered {status} without a JSON object on {method} {path} "
                            "(is that address the moderation API?)", status)
        code = found.get("error") if isinstance(found.get("error"), str) else None
        detail = printable(str(found.get("detail") or code or ""))
        if status == 401 and code != "unauthenticated_user":  # (that one: the proxy's user header)
            return ApiError(f"{where} refused the credentials (401): set VEILLE_MODERATION_API_TOKEN "
                            "(or VEILLE_MODERATION_API_TOKEN_FILE) to the API's token", status, code)
        if status == 503 or status >= 500:
            return ApiError(f"{where} cannot answer ({status} {code or 'error'}): {detail} "
                            f"({TOPICS_HINT})", status, code, found)
        return ApiError(f"{where} refused the request ({status} {code or 'error'}): {detail}",
                        status, code, found)

    def pages(self, path: str, query: dict[str, str], limit: int | None) -> tuple[int, list[Any]]:
        """`count` and the first `limit` cases (all of them when None) of a listing (GET /cases,
        GET /closed), read page by page (the API gives at most PAGE at a time)."""
        cases: list[Any] = []
        count = 0
        while True:
            want = PAGE if limit is None else min(PAGE, limit - len(cases))
            found = self.request("GET", path, {**query, "limit": str(want), "offset": str(len(cases))})
            count = int(found.get("count", 0))
            page = found.get("cases") or []
            cases += page
            if not page or len(cases) >= count or (limit is not None and len(cases) >= limit):
                return count, cases

    def case(self, case_id: str) -> dict[str, Any]:
        """GET /cases/{id}: the case's `case_id`, `status`, `item` and `closed`."""
        return self.request("GET", "/cases/" + quote(case_id, safe=""))


def _seconds(epoch: float) -> str:
    """A time as a query's Unix seconds (the API reads them as such: nothing lost to ISO)."""
    return repr(float(epoch))


def list_query(*, brand: str | None = None, category: str | None = None, sort: str = "queued",
               assignee: str | None = None, unassigned: bool = False, escalated: bool = False,
               posted_since: float | None = None, author: str | None = None,
               contains: str | None = None) -> dict[str, str]:
    """`veille moderate list`'s filters as GET /cases's query parameters."""
    query = {"sort": sort}
    for name, value in (("brand", brand), ("category", category), ("assignee", assignee),
                        ("author", author), ("contains", contains)):
        if value is not None:
            query[name] = value
    if unassigned:
        query["unassigned"] = "true"
    if escalated:
        query["escalated"] = "true"
    if posted_since is not None:
        query["posted_since"] = _seconds(posted_since)
    return query


def closed_query(*, brand: str | None = None, category: str | None = None,
                 decision: str | None = None, moderator: str | None = None,
                 since: float | None = None, until: float | None = None,
                 author: str | None = None, contains: str | None = None) -> dict[str, str]:
    """`veille moderate closed`'s filters as GET /closed's query parameters (--tz is the CLI's
    own: the API answers in UTC)."""
    query: dict[str, str] = {}
    for name, value in (("brand", brand), ("category", category), ("decision", decision),
                        ("moderator", moderator), ("author", author), ("contains", contains)):
        if value is not None:
            query[name] = value
    for name, at in (("since", since), ("until", until)):
        if at is not None:
            query[name] = _seconds(at)
    return query


def list_cases(settings: Settings, client: ApiClient, *, limit: int | None = None,
               as_json: bool = False, out: TextIO | None = None, lang: str | None = None,
               **filters: Any) -> int:
    """commands.list_cases through the API: the same output."""
    count, shown = client.pages("/cases", list_query(**filters), limit)
    return render_list(settings, count, shown, brand=filters.get("brand"), as_json=as_json,
                       out=out, lang=lang)


def list_closed(settings: Settings, client: ApiClient, *, limit: int | None = None,
                as_json: bool = False, out: TextIO | None = None, tz: tzinfo = UTC,
                lang: str | None = None, **filters: Any) -> int:
    """commands.list_closed through the API: the same output."""
    count, shown = client.pages("/closed", closed_query(**filters), limit)
    return render_closed(settings, count, shown, brand=filters.get("brand"), as_json=as_json,
                         out=out, tz=tz, lang=lang)


def show_case(settings: Settings, client: ApiClient, case_id: str, *, as_json: bool = False,
              out: TextIO | None = None, lang: str | None = None) -> str:
    """commands.show_case through the API: the same output."""
    check_case_id(case_id)
    try:
        found = client.case(case_id)
    except ApiError as exc:
        if exc.code == "unknown_case":  # as the topics say it (the API's adds how long it keeps them)
            raise ModerateError(f"no case {case_id!r} on the moderation queue") from None
        raise
    return render_case(settings, found, as_json=as_json, out=out, lang=lang)


def decide(settings: Settings, client: ApiClient, case_id: str, decision: str, *, moderator: str,
           reason: str | None = None, assignee: str | None = None, notes: TextIO | None = None,
           lang: str | None = None) -> dict[str, Any] | None:
    """commands.decide (with its check) through the API's POST /cases/{id}/decision: the API
    checks the case, writes an assign or unassign conditional on who works on it
    (if_assigned_to), waits for the broker's acknowledgement and reads the decision back. The
    same record returned, the same notes and refusals (in `lang`, which the API is asked for
    too: the detail of a refusal the agent would make, not_applicable, a concurrent decision
    found on reading back, is the API's) as through the topics."""
    notes = sys.stderr if notes is None else notes
    lang, _, _ = decide_words(settings, lang)
    body = validate_decision(case_id, decision, moderator=moderator, reason=reason,
                             assignee=assignee)
    path = "/cases/" + quote(case_id, safe="") + "/decision"
    try:
        answer = client.request("POST", path, body={k: v for k, v in body.items() if v is not None},
                                ok=(200, 202), lang=lang)
    except ApiError as exc:
        raise _refused(client, case_id, exc, lang) from None
    return _decided(case_id, answer, moderator=moderator, assignee=assignee, notes=notes, lang=lang)


def _refused(client: ApiClient, case_id: str, exc: ApiError, lang: str) -> ModerateError:
    """The error a decision's refusal by the API (POST /cases/{id}/decision's, or a case's of
    POST /decisions) is told as: as the topics tell it, `exc` itself when they have no words
    for it."""
    _, t, by = decide_words_of(lang)
    if exc.code == "unknown_case":
        return ModerateError(printable(t["no_case"].format(case=case_id)))
    if exc.code in ("already_closed", "decision_pending"):
        # Told as the topics tell it: the decision the refusal names (an API older than
        # 2026-12-07 names none: the case as it holds it now, asked for).
        named = exc.body.get("closed" if exc.code == "already_closed" else "decision_pending")
        found: dict[str, Any] = (
            {"closed": named, "item": {"decision_pending": named}} if isinstance(named, dict)
            else client.case(case_id))
        closed, item = found.get("closed"), found.get("item") or {}
        if exc.code == "already_closed" and closed:
            return ModerateError(printable(t["closed"].format(
                case=case_id, decision=word(closed.get("decision"), lang),
                moderator=closed.get("moderator"))))
        if exc.code == "decision_pending" and item.get("decision_pending"):
            return ModerateError(printable(t["pending"].format(
                case=case_id, by=by(item["decision_pending"]))))
    if exc.status == 409 and "detail" in exc.body:
        return ModerateError(printable(str(exc.body["detail"])))
    return exc


def _decided(case_id: str, answer: dict[str, Any], *, moderator: str, assignee: str | None,
             notes: TextIO, lang: str) -> dict[str, Any] | None:
    """The record of a decision the API accepted (`answer`, its 200 or 202 body), its notes
    said as the topics say them; None when nothing was written."""
    _, t, by = decide_words_of(lang)
    owner = answer.get("previously_assigned") if "previously_assigned" in answer \
        else answer.get("assigned")
    has = owner.get("assignee") if isinstance(owner, dict) else None
    if answer.get("unchanged"):  # assign to who has it, unassign a case no one has
        notes.write(printable(
            t["already_theirs"].format(case=case_id, has=has, by=by(owner))
            if isinstance(owner, dict) and has is not None
            else t["no_one_has_it"].format(case=case_id)) + "\n")
        return None
    if has is not None and has not in (moderator, assignee) and isinstance(owner, dict):
        notes.write(printable(t["was_assigned"].format(case=case_id, has=has, by=by(owner))) + "\n")
    record: dict[str, Any] = answer["decision"]
    up = answer.get("escalated_meanwhile")
    if isinstance(up, dict):
        notes.write(printable(t["escalated_meanwhile"].format(
            case=case_id, by=by({"decision": "escalate", **up}),
            to=up.get("assignee") or t["escalation_queue"],
            severity=word(up.get("severity"), lang))) + "\n")
    return record


def _unacknowledged(exc: ApiError) -> bool:
    """The API's answer does not say whether the decision was written: none (out of reach,
    timed out), or 503 (the broker did not acknowledge it; it may still write it)."""
    return exc.status is None or exc.status == 503


def decide_many(settings: Settings, client: ApiClient, case_ids: list[str], decision: str, *,
                moderator: str, reason: str | None = None, notes: TextIO | None = None,
                lang: str | None = None) -> list[Decided]:
    """commands.decide_many through the API: one POST /decisions for them all (each checked,
    written and read back by the API as one, the accepted in one batch), what became of each,
    in order, said as through POST /cases/{id}/decision (a case refused as closed or with a
    decision waiting is asked for, to say so as the topics do). A case refused does not stop
    the others; a 503, for a case or the request, is "not acknowledged" (it may still be
    written); any other refusal of the request is an ApiError. An API older than POST
    /decisions (404) is asked one POST /cases/{id}/decision per case."""
    notes = sys.stderr if notes is None else notes
    lang, _, _ = decide_words(settings, lang)
    validate_bulk(case_ids, decision, moderator=moderator, reason=reason)
    body: dict[str, Any] = {"case_ids": case_ids, "decision": decision, "moderator": moderator}
    if reason is not None:
        body["reason"] = reason
    try:
        answer = client.request("POST", "/decisions", body=body, lang=lang)
    except ApiError as exc:
        if exc.status == 404 and exc.code == "not_found":  # no such route: an older API
            return _decide_one_by_one(settings, client, case_ids, decision, moderator=moderator,
                                      reason=reason, notes=notes, lang=lang)
        if _unacknowledged(exc):
            return [Decided(case_id, None, str(exc), unacknowledged=True) for case_id in case_ids]
        raise
    results = answer.get("results")
    if not isinstance(results, list) or [
            (r.get("case_id"), isinstance(r.get("status"), int) and isinstance(r.get("body"), dict))
            if isinstance(r, dict) else None for r in results] != [(c, True) for c in case_ids]:
        raise ApiError(f"the moderation API at {client.url} answered POST /decisions without a "
                       "result per case asked (is that address the moderation API?)", 200)

    def written(case_id: str, result: dict[str, Any]) -> dict[str, Any] | None:
        if result["status"] in (200, 202):
            return _decided(case_id, result["body"], moderator=moderator, assignee=None,
                            notes=notes, lang=lang)
        raise _refused(client, case_id, client.refusal("POST", "/decisions", result["status"],
                                                       result["body"]), lang)

    return [_outcome(case_id, lambda: written(case_id, result))  # noqa: B023 (called at once)
            for case_id, result in zip(case_ids, results, strict=True)]


def _decide_one_by_one(settings: Settings, client: ApiClient, case_ids: list[str], decision: str, *,
                       moderator: str, reason: str | None, notes: TextIO, lang: str) -> list[Decided]:
    """decide_many through an API without POST /decisions: one POST /cases/{id}/decision per
    case (each a round trip through the API's decision lock), the same lines."""
    return [_outcome(case_id, lambda: decide(settings, client, case_id,  # noqa: B023 (at once)
                                             decision, moderator=moderator, reason=reason,
                                             notes=notes, lang=lang))
            for case_id in case_ids]


def _outcome(case_id: str, decided: Callable[[], dict[str, Any] | None]) -> Decided:
    """What became of one case of several: its record, written (`decided()`), or why not (a
    503, or no answer: not acknowledged, it may still be written)."""
    try:
        record = decided()
    except ApiError as exc:
        return Decided(case_id, None, str(exc), unacknowledged=_unacknowledged(exc))
    except ModerateError as exc:
        return Decided(case_id, None, str(exc))
    return Decided(case_id, record)
