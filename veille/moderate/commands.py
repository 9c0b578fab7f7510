"""`veille moderate list|closed|decide|serve` and `veille moderation report`: thin shells over the store."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from veille.moderate.store import BrokerError, ModerationStore, would_ignore
from veille.moderate.words import CLOCK, NBSP, SHOW_TEXT, decision_word, wall, word
from veille.moderation import CLOSING_DECISIONS, MAX_BULK_IDS
from veille.moderation.cases import DecisionError, parse_epoch
from veille.moderation.queue import (
    REPORT_TEXT,
    CaseView,
    answered_on_of,
    build_report,
    decision_record,
    duration,
    format_report,
    is_negative,
)
from veille.settings import Settings
from veille.terminal import printable


class ModerateError(Exception):
    """A problem the moderator can fix (unknown case, closed case, bad period)."""


def _time_left(item: dict[str, Any], now: float) -> float | None:
    """Seconds left to answer a case asking for one (`needs_answer`; negative: overdue), from
    its queue item's respond_by; None for a case that asks for no answer."""
    if "needs_answer" not in item["categories"]:
        return None
    return parse_epoch(item["respond_by"], "respond_by") - now


def _age(seconds: float, lang: str = "en") -> str:
    """A time for people as the list prints it: 45m, 7h02, 3d04h (3j04h in French)."""
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 86400}{'j' if lang == 'fr' else 'd'}{seconds % 86400 // 3600:02d}h"


#: The words of `veille moderate list`, per language (veille.settings.REPORT_LANGUAGES), as
#: REPORT_TEXT is the report's. The values a filter takes or a metric labels (action,
#: severity, categories) stay as they are; --json stays English.
LIST_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "head": "waiting|due|case|brand|action|severity|escalated|assigned|categories|text",
        "erased": "(erased {at})",
        "queue": "queue",
        "more": " ({n} more not shown)",
        "legend": "{n} pending{more}; waiting = since it entered the queue; due = time left (+) or "
                  "overdue (-) to answer, for a case asking for an answer (its brand's response "
                  "deadline runs from when the mention was posted); ! = a negative one past it "
                  "(counted unanswered); * = a closing decision is already written (the agent "
                  "applies it shortly); escalated = to whom (- not escalated), severity one level "
                  "up each time; assigned = who works on it (- no one)",
        "unknown_brand": "veille: note: no brand {brand!r} in the watch list ({known})",
    },
    "fr": {
        "head": "attente|échéance|dossier|marque|action|gravité|escaladé|assigné à|catégories|"
                "texte",
        "erased": "(effacé le {at})",
        "queue": "file",
        "more": " (dont {n} non affiché{s})",
        "legend": f"{{n}} en attente{{more}}{NBSP}; attente = depuis l'entrée dans la file{NBSP}; "
                  "échéance = temps restant (+) ou retard (-) pour répondre, pour un dossier qui "
                  "demande une réponse (le délai de réponse de sa marque court depuis la "
                  f"publication de la mention){NBSP}; ! = un dossier négatif en retard (compté "
                  f"parmi les échus){NBSP}; * = une décision de clôture est déjà enregistrée "
                  f"(l'agent l'applique sous peu){NBSP}; escaladé = vers qui (- pas escaladé), "
                  f"gravité relevée d'un niveau à chaque escalade{NBSP}; assigné à = qui le traite "
                  "(- personne)",
        "unknown_brand": f"veille: remarque{NBSP}: aucune marque {{brand!r}} dans la liste de "
                         "veille ({known})",
    },
}

#: The words of `veille moderate closed`, per language.
CLOSED_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "decided": "decided ({tz})",
        "head": "case|brand|decision|moderator|waited|reason | text",
        "more": " ({n} more not shown)",
        "legend": "{n} closed{more}; waited = from entering the queue to this decision",
        "unknown_brand": LIST_TEXT["en"]["unknown_brand"],
        "erased": LIST_TEXT["en"]["erased"],
    },
    "fr": {
        "decided": "décidé ({tz})",
        "head": "dossier|marque|décision|modérateur|attente|motif | texte",
        "more": " (dont {n} non affiché{s})",
        "legend": f"{{n}} clos{{more}}{NBSP}; attente = de l'entrée dans la file à cette décision",
        "unknown_brand": LIST_TEXT["fr"]["unknown_brand"],
        "erased": LIST_TEXT["fr"]["erased"],
    },
}

#: The words of `veille moderate decide` on stderr, per language: its notes, and its refusals
#: (after `veille: error:`; a detail from the record's validation, shared with the API, stays
#: English).
DECIDE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "written": "decision written: {decision}{to} on {case} by {moderator} at {at}",
        "to": " to {assignee}",
        "already_theirs": "veille: nothing written: case {case!r} is already {has}'s ({by})",
        "no_one_has_it": "veille: nothing written: case {case!r} is worked on by no one",
        "was_assigned": "veille: note: case {case!r} was assigned to {has} ({by})",
        "unchecked": "veille: note: decision written; not checked against concurrent ones "
                     "({error})",
        "escalated_meanwhile": "veille: note: case {case!r} was escalated while you decided "
                               "({by}, to {to}, severity {severity})",
        "escalation_queue": SHOW_TEXT["en"]["escalation_queue"],
        "by": SHOW_TEXT["en"]["by"],
        "no_case": "no case {case!r} on the moderation queue (--no-check writes the decision "
                   "anyway)",
        "closed": "case {case!r} is already closed: {decision} by {moderator}",
        "pending": "case {case!r} already has a decision waiting to be applied: {by} "
                   "(--no-check writes this one anyway)",
        # Several case ids: a line per case refused or not acknowledged, then the summary.
        "bulk_refused": "veille: refused: {why}",
        "bulk_unacknowledged": "veille: not acknowledged: case {case!r}: {why}",
        # The summary's words agree with its counts: [one, several] (English: the total's).
        "bulk_summary": "{written} of {total} decision{total_s} written",
        "bulk_refused_ids": "; refused (look at {them}, then {decide} again): {ids}",
        "bulk_unacknowledged_ids": "; not acknowledged (may still be written: look at {them} "
                                   "before deciding again): {ids}",
        "them": "it|them", "decide": "decide it|decide each",
    },
    "fr": {
        "written": f"décision enregistrée{NBSP}: {{decision}}{{to}}, dossier {{case}}, par "
                   "{moderator} le {at}",
        "to": " à {assignee}",
        "already_theirs": f"veille: rien d'enregistré{NBSP}: le dossier {{case!r}} est déjà à "
                          "{has} ({by})",
        "no_one_has_it": f"veille: rien d'enregistré{NBSP}: personne ne traite le dossier "
                         "{case!r}",
        "was_assigned": f"veille: remarque{NBSP}: le dossier {{case!r}} était assigné à {{has}} "
                        "({by})",
        "unchecked": f"veille: remarque{NBSP}: décision enregistrée, mais pas vérifiée face aux "
                     "décisions concurrentes ({error})",
        "escalated_meanwhile": f"veille: remarque{NBSP}: le dossier {{case!r}} a été escaladé "
                               "pendant votre décision ({by}, vers {to}, gravité {severity})",
        "escalation_queue": SHOW_TEXT["fr"]["escalation_queue"],
        "by": SHOW_TEXT["fr"]["by"],
        "no_case": "pas de dossier {case!r} dans la file de modération (--no-check enregistre "
                   "la décision quand même)",
        "closed": f"le dossier {{case!r}} est déjà clos{NBSP}: {{decision}} par {{moderator}}",
        "pending": f"le dossier {{case!r}} a déjà une décision en attente d'être appliquée{NBSP}: "
                   "{by} (--no-check enregistre celle-ci quand même)",
        "bulk_refused": f"veille: refusé{NBSP}: {{why}}",
        "bulk_unacknowledged": f"veille: non confirmé par le broker{NBSP}: dossier {{case!r}}{NBSP}: "
                               "{why}",
        # French: 0 and 1 in the singular (« 0 décision enregistrée »), as the page's.
        "bulk_summary": "{written} décision{written_s} enregistrée{written_s} sur {total}",
        "bulk_refused_ids": f"{NBSP}; refusé{{s}} (regardez-{{them}}, puis {{decide}} à nouveau)"
                            f"{NBSP}: {{ids}}",
        "bulk_unacknowledged_ids": f"{NBSP}; non confirmé{{s}} (peut-être enregistré{{s}}"
                                   f"{NBSP}: regardez-{{them}} avant de décider à nouveau)"
                                   f"{NBSP}: {{ids}}",
        "them": "le|les", "decide": "décidez-le|décidez chacun",
    },
}

def language(settings: Settings, lang: str | None) -> str:
    """The tools' language: --lang, else VEILLE_REPORT_LANGUAGE."""
    return lang or settings.report_language


def list_cases(settings: Settings, *, brand: str | None = None, category: str | None = None,
               limit: int | None = None, as_json: bool = False, out: TextIO | None = None,
               now: float | None = None, sort: str = "queued", assignee: str | None = None,
               unassigned: bool = False, escalated: bool = False,
               posted_since: float | None = None, lang: str | None = None,
               author: str | None = None, contains: str | None = None) -> int:
    """Print the pending cases, oldest first (or earliest answer deadline first), filtered as
    CaseView.pending filters them (`escalated` with `unassigned`: the escalation queue), in `lang`
    (default VEILLE_REPORT_LANGUAGE; --json: English, as the API's); returns how many are
    pending (before the limit)."""
    from veille.moderate.api import summary

    store = ModerationStore(settings)
    try:
        view = store.refresh()
    finally:
        store.close()
    now = time.time() if now is None else now
    pending = view.pending(brand=brand, category=category, sort=sort, assignee=assignee,
                           unassigned=unassigned, escalated=escalated, now=now,
                           posted_since=posted_since,
                           author=author, contains=contains)
    shown = pending[:limit] if limit is not None else pending
    return render_list(settings, len(pending), [summary(item, view, now) for item in shown],
                       brand=brand, as_json=as_json, out=out, now=now, lang=lang)


def render_list(settings: Settings, count: int, shown: list[dict[str, Any]], *,
                brand: str | None = None, as_json: bool = False, out: TextIO | None = None,
                now: float | None = None, lang: str | None = None) -> int:
    """Print `shown`, pending cases as the API's GET /cases gives them (api.summary), of `count`
    found: `veille moderate list`'s table (or its --json lines), whether the cases were read
    from the topics or through the moderation API; returns `count`."""
    out = sys.stdout if out is None else out
    now = time.time() if now is None else now
    lang = language(settings, lang)
    t = LIST_TEXT[lang]
    if brand is not None and not count:
        _note_unknown_brand(settings, brand, t["unknown_brand"])
    if as_json:
        for item in shown:
            out.write(printable(json.dumps(item, ensure_ascii=False)) + "\n")
        return count
    head = t["head"].split("|")
    # Each column as wide as its header, at least (French headers are longer).
    w = [max(len(h), n) for h, n in zip(head, (7, 6, 24, 10, 8, 8, 14, 12, 28), strict=False)]
    # The case id and the brand whole: they are what `show`, `decide` and `--brand` are given
    # (a Bluesky or RSS case's id of 40 characters was cut to 24, `segolene-royal` to 10).
    w[2] = _widest(w[2], (item["case_id"] for item in shown))
    w[3] = _widest(w[3], (item["brand"] for item in shown))
    out.write(f"{head[0]:>{w[0]}}   {head[1]:>{w[1]}} {head[2]:<{w[2]}} {head[3]:<{w[3]}} "
              f"{head[4]:<{w[4]}} {head[5]:<{w[5]}} {head[6]:<{w[6]}} {head[7]:<{w[7]}} "
              f"{head[8]:<{w[8]}} {head[9]}\n")
    for item in shown:
        waited = now - parse_epoch(item["queued_at"], "queued_at")
        left = _time_left(item, now)
        due = "-" if left is None else ("+" if left >= 0 else "-") + _age(abs(left), lang)
        # `!`: what the unanswered KPI counts (veille_moderation_unanswered_negative, the
        # report's "unanswered"): a negative case past its deadline (Case.asks_for_answer); a
        # neutral question past its own shows its overdue `due` without the mark the alert's
        # runbook sends people to.
        late = "!" if left is not None and left < 0 and is_negative(
            item.get("sentiment"), item.get("reasons") or ()) else " "
        text = (" ".join(str(item.get("text") or "").split()) if item.get("erased_at") is None
                else t["erased"].format(at=item["erased_at"]))
        text = text if len(text) <= 70 else text[:69] + "…"
        escalation = item["escalation"]
        severity = escalation["severity"] if escalation else item["severity"]
        # Already decided (the agent has not applied it yet): nothing to do for anyone else.
        late += "*" if item["decision_pending"] is not None else " "
        assignment = item["assigned"]
        owner = _cut(assignment["assignee"], 12) if assignment else "-"
        out.write(printable(f"{_age(waited, lang):>{w[0]}}{late} {due:>{w[1]}} "
                             f"{item['case_id']:<{w[2]}} {item['brand']:<{w[3]}} "
                             f"{word(item['action'], lang):<{w[4]}} {word(severity, lang):<{w[5]}} "
                             f"{_escalated(escalation, t['queue']):<{w[6]}} {owner:<{w[7]}} "
                             f"{_cut(','.join(item['categories']), 28):<{w[8]}} {text}") + "\n")
    hidden = count - len(shown)
    more = t["more"].format(n=hidden, s="s" if hidden > 1 else "") if hidden else ""
    out.write(t["legend"].format(n=count, more=more) + "\n")
    return count


def _widest(least: int, values: Iterable[str]) -> int:
    """A column's width: `least`, or its longest value's."""
    return max(least, max((len(v) for v in values), default=0))


def list_closed(settings: Settings, *, brand: str | None = None, category: str | None = None,
                decision: str | None = None, moderator: str | None = None,
                since: float | None = None, until: float | None = None, limit: int | None = None,
                as_json: bool = False, out: TextIO | None = None, tz: tzinfo = UTC,
                lang: str | None = None, author: str | None = None,
                contains: str | None = None) -> int:
    """Print the closed cases decided in [since, until), newest first, their times in `tz`, in
    `lang` (default VEILLE_REPORT_LANGUAGE; --json: as the API's, in UTC and English); returns
    how many match (before the limit)."""
    store = ModerationStore(settings)
    try:
        view = store.refresh()
    finally:
        store.close()
    count, shown = view.closed_page(brand=brand, category=category, decision=decision,
                                    moderator=moderator, since=since, until=until, limit=limit,
                                    author=author, contains=contains)
    return render_closed(settings, count, shown, brand=brand, as_json=as_json, out=out, tz=tz,
                         lang=lang)


def render_closed(settings: Settings, count: int, shown: list[dict[str, Any]], *,
                  brand: str | None = None, as_json: bool = False, out: TextIO | None = None,
                  tz: tzinfo = UTC, lang: str | None = None) -> int:
    """Print `shown`, closed cases as the API's GET /closed gives them, of `count` found:
    `veille moderate closed`'s table (or its --json lines), read from the topics or through the
    moderation API; returns `count`."""
    out = sys.stdout if out is None else out
    lang = language(settings, lang)
    t = CLOSED_TEXT[lang]
    if brand is not None and not count:
        _note_unknown_brand(settings, brand, t["unknown_brand"])
    if as_json:
        for row in shown:
            out.write(printable(json.dumps(row, ensure_ascii=False)) + "\n")
        return count
    decided = t["decided"].format(tz=tz)
    width = max(16, len(decided))
    head = t["head"].split("|", 5)
    w = [max(len(h), n) for h, n in zip(head, (24, 10, 8, 12, 7), strict=False)]
    w[0], w[1] = (_widest(w[0], (str(row["case_id"]) for row in shown)),
                  _widest(w[1], (str(row["brand"]) for row in shown)))  # whole, as in `list`
    out.write(f"{decided:<{width}}  {head[0]:<{w[0]}} {head[1]:<{w[1]}} {head[2]:<{w[2]}} "
              f"{head[3]:<{w[3]}} {head[4]:>{w[4]}}  {head[5]}\n")
    for row in shown:
        # The reason first, `-` when none: a text alone in this column read as the reason.
        reason = " ".join(str(row.get("reason") or "").split()) or "-"
        text = (" ".join(str(row.get("text") or "").split()) if row.get("erased_at") is None
                else t["erased"].format(at=row["erased_at"]))
        said = _cut(f"{reason} | {text}" if text else reason, 80)
        when = wall(parse_epoch(row["decided_at"], "decided_at"), tz)
        out.write(printable(f"{when:{CLOCK}}".ljust(width) + "  "
                            f"{str(row['case_id']):<{w[0]}} {str(row['brand']):<{w[1]}} "
                            f"{word(row['decision'], lang):<{w[2]}} "
                            f"{_cut(str(row['moderator']), 12):<{w[3]}} "
                            f"{duration(row['time_to_decision_seconds'], lang):>{w[4]}}  {said}")
                  + "\n")
    hidden = count - len(shown)
    more = t["more"].format(n=hidden, s="s" if hidden > 1 else "") if hidden else ""
    out.write(t["legend"].format(n=count, more=more) + "\n")
    return count


def check_case_id(case_id: str) -> None:
    """ModerateError for an id no case can have: bytes the shell passed that are not UTF-8
    (`show` ended in a traceback on them)."""
    if not case_id.strip():  # asked the broker, then "no case ''" until 2026-12-05
        raise ModerateError("the case id is empty (no case has it)")
    try:
        case_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ModerateError(f"case id {case_id!r} is not valid Unicode text (no case has it)") from None


def show_case(settings: Settings, case_id: str, *, as_json: bool = False,
              out: TextIO | None = None, now: float | None = None, lang: str | None = None) -> str:
    """Print one case whole (its text, author and link, which the list cuts or leaves out, its
    deadline, who works on it, how it was escalated or closed), read from the one partition
    of each moderation topic its id lands in; returns its status. --json: as the API's
    GET /cases/{id}. In `lang` (default VEILLE_REPORT_LANGUAGE; --json: English)."""
    check_case_id(case_id)
    now = time.time() if now is None else now
    found = read_cases(settings, [case_id], now).get(case_id)
    if found is None:
        raise ModerateError(f"no case {case_id!r} on the moderation queue")
    return render_case(settings, found, as_json=as_json, out=out, now=now, lang=lang)


def read_cases(settings: Settings, case_ids: Iterable[str],
               now: float | None = None) -> dict[str, dict[str, Any]]:
    """The cases of `case_ids` on the moderation topics, by id, as the API's GET /cases/{id}
    gives each (`case_id`, `status`, `item`, `closed`: render_case's), read from the partitions
    their ids land in alone (the topics keep 400 days); an id with no case there is left out.
    `veille moderate show`, and `veille mentions ID...` for the mentions triage queued."""
    from veille.moderate.api import summary

    ids = list(dict.fromkeys(case_ids))
    store = ModerationStore(settings, case_ids=ids)
    try:
        view = store.refresh()
    finally:
        store.close()
    now = time.time() if now is None else now
    found: dict[str, dict[str, Any]] = {}
    for case_id in ids:
        status = view.status(case_id)
        if status is None:
            continue
        item = view.items.get(case_id)
        found[case_id] = {"case_id": case_id, "status": status,
                          "item": summary(item, view, now) if item is not None else None,
                          "closed": view.closed.get(case_id)}
    return found


def render_case(settings: Settings, found: dict[str, Any], *, as_json: bool = False,
                out: TextIO | None = None, now: float | None = None, lang: str | None = None) -> str:
    """Print one case as the API's GET /cases/{id} gives it (`case_id`, `status`, `item`,
    `closed`): `veille moderate show`, read from the topics or through the moderation API;
    returns its status."""
    out = sys.stdout if out is None else out
    now = time.time() if now is None else now
    case_id, status, shown, closed = found["case_id"], found["status"], found["item"], found["closed"]
    if as_json:
        out.write(printable(json.dumps({"case_id": case_id, "status": status, "item": shown,
                                        "closed": closed}, ensure_ascii=False)) + "\n")
        return str(status)
    lang = language(settings, lang)
    t = SHOW_TEXT[lang]

    def by(record: dict[str, Any]) -> str:  # "reject by bob at 2026-..."
        # "replied (seen on youtube) by @AcmeOfficial": the brand's answer a collector saw.
        return t["by"].format(decision=decision_word(record.get("decision"),
                                                     answered_on_of(record), lang),
                              moderator=record.get("moderator"), at=record.get("decided_at"))

    rows: list[tuple[str, Any]] = [("case", case_id), ("status", t[f"{status}_status"])]
    if shown is not None:
        left = _time_left(shown, now)
        due = (t["no_answer"] if left is None else shown["respond_by"] if status != "pending"
               else t["due_in"].format(at=shown["respond_by"], age=_age(left, lang)) if left >= 0
               else t["due_late"].format(at=shown["respond_by"], age=_age(-left, lang)))
        escalation = shown["escalation"]
        rows += [
            ("brand", ", ".join(shown["brands"] or [shown["brand"]])),
            ("action", word(shown["action"], lang)),
            ("severity", word(escalation["severity"] if escalation else shown["severity"], lang)),
            ("categories", ", ".join(shown["categories"]) or t["no_category"]),
            ("reasons", ", ".join(shown["reasons"] or ())),
            ("posted", t["posted_on"].format(at=shown["created_at"], platform=shown["platform"],
                                             author=shown["author"] or "?")),
            ("link", shown["url"] or "-"),
            ("language", t["sentiment"].format(
                language=shown["language"],
                sentiment=word(shown["sentiment"], lang) if shown["sentiment"] else t["not_scored"])),
            ("queued", t["queued_ago"].format(
                at=shown["queued_at"], age=_age(now - parse_epoch(shown["queued_at"], "queued_at"), lang))),
            ("answer due", due),
        ]
        if escalation:
            line = t["escalated_by"].format(count=escalation["count"],
                                            moderator=escalation["moderator"],
                                            at=escalation["decided_at"],
                                            to=escalation["assignee"] or t["escalation_queue"])
            rows.append(("escalated", t["with_reason"].format(text=line, reason=escalation["reason"])
                         if escalation["reason"] else line))
        assigned = shown["assigned"]
        rows.append(("assigned", f"{assigned['assignee']} ({by(assigned)})" if assigned
                     else t["no_one"]))
        pending = shown["decision_pending"]
        if pending:
            rows.append(("decided", t["applies_shortly"].format(by=by(pending))))
    if closed is not None:
        rows.append(("closed", t["closed_after"].format(
            by=by(closed), waited=duration(closed.get("time_to_decision_seconds"), lang))))
        if closed.get("reason"):
            rows.append(("reason", closed["reason"]))
    width = max(len(t[name]) for name, _ in rows)
    for name, value in rows:
        out.write(printable(f"{t[name]:<{width}}  {value}") + "\n")
    if shown is not None and shown.get("erased_at") is not None:
        out.write("\n" + t["erased"].format(at=shown["erased_at"]) + "\n")
    elif shown is not None:
        # The mention's own line breaks kept; every other control character escaped.
        out.write("\n" + "\n".join(map(printable, str(shown["text"]).split("\n"))) + "\n")
    return str(status)


def _escalated(escalation: dict[str, Any] | None, queue: str = "queue") -> str:
    """The list's `escalated` column: "-", the assignee (or `queue`: the escalation queue),
    prefixed by the count when escalated more than once ("2x lead")."""
    if escalation is None:
        return "-"
    who = escalation["assignee"] or queue
    return _cut(f"{escalation['count']}x {who}" if escalation["count"] > 1 else who, 14)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _note_unknown_brand(settings: Settings, brand: str,
                        note: str = LIST_TEXT["en"]["unknown_brand"]) -> None:
    """On stderr, when `brand` has no pending case and is not in the watch list: most likely a
    typo, which an empty list would not tell (a brand dropped from the watch list may still have
    cases, so this is a note, not an error)."""
    from veille.rules import Watchlist, WatchlistError, brand_key

    try:
        known = Watchlist.from_toml(settings.watchlist_path).brand_ids
    except WatchlistError:
        return
    if brand_key(brand) not in known:
        sys.stderr.write(note.format(brand=brand, known=", ".join(known)) + "\n")


def validate_decision(case_id: str, decision: str, *, moderator: str, reason: str | None = None,
                      assignee: str | None = None, decided_at: float | None = None) -> dict[str, Any]:
    """The body of a decision, refused with a ModerateError saying why before the broker is
    asked anything."""
    body: dict[str, Any] = {"decision": decision, "moderator": moderator, "reason": reason,
                            "assignee": assignee}
    try:
        decision_record(case_id, body, time.time() if decided_at is None else decided_at)
    except DecisionError as exc:
        raise ModerateError(exc.detail) from None
    return body


def decide_words(settings: Settings, lang: str | None
                 ) -> tuple[str, dict[str, str], Callable[[dict[str, Any]], str]]:
    """`decide`'s language (default VEILLE_REPORT_LANGUAGE), its texts (DECIDE_TEXT), and how
    it names a decision in them ("approve by bob at ..."), through the topics or the API."""
    return decide_words_of(language(settings, lang))


def decide_words_of(lang: str) -> tuple[str, dict[str, str], Callable[[dict[str, Any]], str]]:
    """decide_words for a language already chosen."""
    t = DECIDE_TEXT[lang]

    def by(record: dict[str, Any]) -> str:
        return t["by"].format(decision=decision_word(record.get("decision"),
                                                     answered_on_of(record), lang),
                              moderator=record.get("moderator"), at=record.get("decided_at"))

    return lang, t, by


def decide(settings: Settings, case_id: str, decision: str, *, moderator: str,
           reason: str | None = None, assignee: str | None = None, check: bool = True,
           decided_at: float | None = None, notes: TextIO | None = None,
           lang: str | None = None) -> dict[str, Any] | None:
    """Write one decision to moderation.decisions; return the record once the broker holds it,
    or None when there is nothing to write (assigning a case to who already has it, giving back
    a case no one has: said on `notes`).

    With `check`, the case must be on the queue and still pending (read from the topics first),
    an assign or unassign is written conditional on who works on the case then (if_assigned_to:
    of two moderators taking it at once, the agent applies the first), and once written the
    decision is read back: a ModerateError says why the agent will ignore it, if it will.
    The notes and the refusals are in `lang` (default VEILLE_REPORT_LANGUAGE; until 2026-12-06
    the refusals were English beside French notes)."""
    notes = sys.stderr if notes is None else notes
    lang = language(settings, lang)
    body = validate_decision(case_id, decision, moderator=moderator, reason=reason,
                             assignee=assignee, decided_at=decided_at)
    # Every record of a case is keyed by its id: its partition of each topic tells all about it.
    store = ModerationStore(settings, case_id=case_id)
    seen_escalations = 0
    try:
        if check:
            checked = _checked(store.refresh(), case_id, body, moderator=moderator,
                               assignee=assignee, lang=lang, notes=notes)
            if checked is None:
                return None
            body, seen_escalations = checked
        try:
            record = store.decide(case_id, body, decided_at)
        except DecisionError as exc:
            raise ModerateError(exc.detail) from None
        if check:  # another tool may have written a decision since the check
            _read_back(store, record, seen_escalations, lang, notes)
        return record
    finally:
        store.close()


def _checked(view: CaseView, case_id: str, body: dict[str, Any], *, moderator: str,
             assignee: str | None, lang: str, notes: TextIO) -> tuple[dict[str, Any], int] | None:
    """A decision checked on its case as the topics hold it: what to write and how many times
    the case was escalated then (ModerationStore.read_back's), or None when there is nothing to
    write (said on `notes`); a ModerateError saying why it is refused (unknown, closed, a
    closing decision waiting, one the agent would ignore). `decide`'s check, for one case or
    each of several."""
    _, t, by = decide_words_of(lang)
    status = view.status(case_id)
    if status is None:
        raise ModerateError(printable(t["no_case"].format(case=case_id)))
    if status == "closed":
        closed = view.closed[case_id]
        raise ModerateError(printable(t["closed"].format(
            case=case_id, decision=word(closed.get("decision"), lang),
            moderator=closed.get("moderator"))))
    prior = view.closing_decision(case_id, time.time())
    if prior is not None:  # the agent would apply that one and drop this one
        raise ModerateError(printable(t["pending"].format(case=case_id, by=by(prior))))
    prepared = view.prepare(case_id, body, time.time())
    owner = prepared.owner
    has = owner["assignee"] if owner is not None else None
    if prepared.unchanged:  # assign to who has it, unassign a case no one has
        notes.write(printable(
            t["already_theirs"].format(case=case_id, has=has, by=by(owner))
            if owner is not None and has is not None
            else t["no_one_has_it"].format(case=case_id)) + "\n")
        return None
    if prepared.refusal is not None:
        raise ModerateError(printable(would_ignore(case_id, prepared.refusal, lang)))
    if has is not None and has not in (moderator, assignee):
        # Not refused (a lead may close or take over anyone's case), but said: the
        # assignee may be writing the brand's answer right now.
        assert owner is not None
        notes.write(printable(t["was_assigned"].format(case=case_id, has=has,
                                                       by=by(owner))) + "\n")
    return prepared.body, prepared.escalations


def _read_back(store: ModerationStore, record: dict[str, Any], seen_escalations: int, lang: str,
               notes: TextIO, fresh: bool = True) -> None:
    """A decision written, read back: a ModerateError saying why the agent will ignore it, if it
    will; an escalation written meanwhile noted. `fresh=False`: on the view as the last refresh
    left it (a batch read back after one refresh)."""
    _, t, by = decide_words_of(lang)
    case_id = record["case_id"]
    try:
        back = store.read_back(case_id, record, seen_escalations, lang, fresh=fresh)
    except BrokerError as exc:  # written and acknowledged all the same
        notes.write(t["unchecked"].format(error=exc) + "\n")
        return
    if back is not None and back.refusal is not None:
        raise ModerateError(printable(back.refusal[1]))
    if back is not None and back.escalated is not None:
        up = back.escalated
        notes.write(printable(t["escalated_meanwhile"].format(
            case=case_id, by=by({"decision": "escalate", **up}),
            to=up["assignee"] or t["escalation_queue"],
            severity=word(up["severity"], lang))) + "\n")


#: The decisions `decide` writes on several cases at once: the closing ones. A wave of copies
#: of one complaint, a spam campaign, is approved, rejected or answered as a whole; an
#: escalation asks a lead to look at each case, and an assignment depends on who works on each.
BULK_DECISIONS = CLOSING_DECISIONS


def validate_bulk(case_ids: list[str], decision: str, *, moderator: str,
                  reason: str | None = None, decided_at: float | None = None
                  ) -> dict[str, dict[str, Any]]:
    """The body of one decision on each of several cases (through the topics or the API),
    refused with a ModerateError before anything is asked: a decision other than a closing
    one, more than MAX_BULK_IDS cases, an invalid field."""
    if decision not in BULK_DECISIONS:
        raise ModerateError(f"{decision} is decided one case at a time; several case ids take "
                            f"only {', '.join(BULK_DECISIONS)}")
    if len(case_ids) > MAX_BULK_IDS:
        raise ModerateError(f"{len(case_ids)} case ids: at most {MAX_BULK_IDS} at once (split "
                            "the list)")
    return {case_id: validate_decision(case_id, decision, moderator=moderator, reason=reason,
                                       decided_at=decided_at)
            for case_id in case_ids}


def tell_decided(found: list[Decided], lang: str, out: TextIO) -> int:
    """`decide` on several cases: a line per case (written, refused and why, not acknowledged),
    then what became of them all, naming the cases to look at again; 1 when any is not
    written as asked, else 0."""
    t = DECIDE_TEXT[lang]
    for d in found:
        if d.unacknowledged:
            out.write(printable(t["bulk_unacknowledged"].format(case=d.case_id, why=d.problem))
                      + "\n")
        elif d.problem is not None:
            out.write(printable(t["bulk_refused"].format(why=d.problem)) + "\n")
        else:
            assert d.record is not None
            out.write(written(d.record, lang) + "\n")
    refused = [d.case_id for d in found if d.problem is not None and not d.unacknowledged]
    unacknowledged = [d.case_id for d in found if d.unacknowledged]
    written_n = len(found) - len(refused) - len(unacknowledged)

    def agreeing(n: int) -> dict[str, str]:  # the words of n cases: "s", "them", "decide"
        several = n >= 2 if lang == "fr" else n != 1
        return {"s": "s" if several else "",
                **{k: t[k].split("|")[several] for k in ("them", "decide")}}

    said = t["bulk_summary"].format(written=written_n, total=len(found),
                                    written_s=agreeing(written_n)["s"],
                                    total_s=agreeing(len(found))["s"])
    if refused:
        said += t["bulk_refused_ids"].format(ids=" ".join(refused), **agreeing(len(refused)))
    if unacknowledged:
        said += t["bulk_unacknowledged_ids"].format(ids=" ".join(unacknowledged),
                                                    **agreeing(len(unacknowledged)))
    out.write(printable(said) + "\n")
    return 1 if refused or unacknowledged else 0


@dataclass(frozen=True)
class Decided:
    """What became of one case of `decide_many`: its record once the broker holds it, else
    why it was refused or is not known to be written (`problem`)."""

    case_id: str
    record: dict[str, Any] | None
    problem: str | None = None
    #: Not acknowledged: it may still be written (look at the case before deciding again).
    unacknowledged: bool = False


def decide_many(settings: Settings, case_ids: list[str], decision: str, *, moderator: str,
                reason: str | None = None, check: bool = True, decided_at: float | None = None,
                notes: TextIO | None = None, lang: str | None = None) -> list[Decided]:
    """One closing decision (BULK_DECISIONS) on several cases: each checked as `decide` checks
    one (read from the topics once for them all), the ones accepted written in one batch the
    broker acknowledges, then read back (once for them all); what became of each, in order.
    A refused case does not stop the others; a broker that cannot be reached at all is a
    BrokerError before anything is written."""
    notes = sys.stderr if notes is None else notes
    lang = language(settings, lang)
    bodies = validate_bulk(case_ids, decision, moderator=moderator, reason=reason,
                           decided_at=decided_at)
    store = ModerationStore(settings, case_ids=case_ids)
    refused: dict[str, str] = {}
    seen: dict[str, int] = {}
    try:
        if check:
            view = store.refresh()
            for case_id in case_ids:
                try:
                    checked = _checked(view, case_id, bodies[case_id], moderator=moderator,
                                       assignee=None, lang=lang, notes=notes)
                except ModerateError as exc:
                    refused[case_id] = str(exc)
                    continue
                assert checked is not None  # a closing decision always has something to write
                bodies[case_id], seen[case_id] = checked
        accepted = [case_id for case_id in case_ids if case_id not in refused]
        written = dict(zip(accepted, store.decide_many([(c, bodies[c]) for c in accepted],
                                                       decided_at), strict=True))
        fresh = True
        if check and any(not isinstance(r, BrokerError) for r in written.values()):
            try:  # once for the batch: each then judged on the same view
                store.refresh()
                fresh = False
            except BrokerError:
                pass  # each read back tries again, and says it could not read
        out: list[Decided] = []
        for case_id in case_ids:
            found = written.get(case_id)
            if case_id in refused:
                out.append(Decided(case_id, None, refused[case_id]))
            elif isinstance(found, BrokerError):
                out.append(Decided(case_id, None, str(found), unacknowledged=True))
            else:
                assert found is not None
                if check:
                    try:
                        _read_back(store, found, seen[case_id], lang, notes, fresh=fresh)
                    except ModerateError as exc:  # written, but the agent will ignore it
                        out.append(Decided(case_id, found, str(exc)))
                        continue
                out.append(Decided(case_id, found))
        return out
    finally:
        store.close()


def written(record: dict[str, Any], lang: str = "en") -> str:
    """What `decide` says on stderr once the broker holds the decision."""
    t = DECIDE_TEXT[lang]
    to = t["to"].format(assignee=record["assignee"]) if record.get("assignee") else ""
    return printable(t["written"].format(decision=word(record["decision"], lang), to=to,
                                         case=record["case_id"], moderator=record["moderator"],
                                         at=record["decided_at"]))


def parse_time(value: str, name: str, tz: tzinfo = UTC) -> float:
    """Epoch seconds of an ISO 8601 time (not epoch seconds); a time without an offset is one of
    `tz` (the report's --tz: "--since 2026-12-02" is midnight in Paris with --tz Europe/Paris)."""
    try:
        local = datetime.fromisoformat(value.strip())
    except (ValueError, OverflowError):
        local = None
    if local is not None and local.tzinfo is None:
        try:
            value = local.replace(tzinfo=tz).isoformat()
        except (ValueError, OverflowError):  # a time zone shift out of years 1..9999
            pass
    try:
        return parse_epoch(value, name)
    except DecisionError as exc:
        raise ModerateError(f"--{name}: {exc.detail} (e.g. 2026-01-05 or 2026-01-05T09:00Z)") from None


def week_before(until: float, tz: tzinfo = UTC) -> float:
    """The report's default --since: 7 days of `tz` before `until` (the same wall-clock time a
    week earlier; 7 x 24 h in UTC, 7 x 24 h +/- 1 h across a daylight-saving change)."""
    try:
        return (datetime.fromtimestamp(until, tz) - timedelta(days=7)).timestamp()
    except (OverflowError, ValueError, OSError):  # near year 1: the period check says so
        return until - 7 * 86400


def report_days(since: float, until: float, tz: tzinfo = UTC) -> float:
    """The length of a report's period in days of its time zone (the wall-clock difference):
    a quarter of Europe/Paris with the fall-back hour in it is 92 days, not 92 days and an hour
    (refused by --png's 92 until 2026-12-06: "at most 92 days, the period is 92")."""
    try:
        start, end = datetime.fromtimestamp(since, tz), datetime.fromtimestamp(until, tz)
        return (end.replace(tzinfo=None) - start.replace(tzinfo=None)).total_seconds() / 86400
    except (OverflowError, ValueError, OSError):  # near year 1 or 9999: checked next
        return (until - since) / 86400


def report(settings: Settings, since: float, until: float, *, png: Path | None = None,
           tz: tzinfo = UTC, out: TextIO | None = None, lang: str | None = None,
           watched: Iterable[str] | None = None, minutes_per_case: float | None = None) -> Any:
    """Print the moderation report of [since, until) read from the topics, in `lang` (default
    VEILLE_REPORT_LANGUAGE); write the chart. Every brand of `watched` has a row, zeros when
    nothing happened to it in the period (default: the brands of the watch list,
    settings.watchlist_path; a bad one is a WatchlistError, before the topics are read).
    `minutes_per_case`: a moderator's time per case, for the moderators each month's busiest
    hour needs."""
    out = sys.stdout if out is None else out
    lang = language(settings, lang)
    from veille.moderation.chart import hourly_chart

    if watched is None:
        from veille.rules import Watchlist

        watched = Watchlist.from_toml(settings.watchlist_path).brand_ids

    store = ModerationStore(settings)
    try:
        view = store.refresh()
    finally:
        store.close()
    try:
        result = build_report(view.items.values(), view.closed.values(), since, until, tz,
                              earlier=view.earlier, watched=watched)
    except ValueError as exc:
        raise ModerateError(str(exc)) from None
    out.write(format_report(result, tz, lang, minutes_per_case) + "\n")
    if png is not None:
        text = REPORT_TEXT[lang]
        legend = text["legend"]
        png.write_bytes(hourly_chart(result.hours(), tz, legend=(legend[0], legend[1])))
        start = f"{datetime.fromtimestamp(since, tz):%Y-%m-%d %H:%M}"
        out.write("\n" + text["chart"].format(png=png, start=start, tz=tz) + "\n")
    return result
