"""`veille moderate list|closed|decide|serve` and `veille moderation report`: thin shells over the store."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from veille.moderate.store import BrokerError, ModerationStore, would_ignore
from veille.moderation.cases import DecisionError, parse_epoch
from veille.moderation.queue import (
    REPORT_TEXT,
    build_report,
    case_of,
    decision_record,
    duration,
    format_report,
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


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def list_cases(settings: Settings, *, brand: str | None = None, category: str | None = None,
               limit: int | None = None, as_json: bool = False, out: TextIO = sys.stdout,
               now: float | None = None, sort: str = "queued", assignee: str | None = None,
               unassigned: bool = False, posted_since: float | None = None) -> int:
    """Print the pending cases, oldest first (or earliest answer deadline first); returns how
    many are pending (before the limit)."""
    from veille.moderate.api import summary

    store = ModerationStore(settings)
    try:
        view = store.refresh()
    finally:
        store.close()
    now = time.time() if now is None else now
    pending = view.pending(brand=brand, category=category, sort=sort, assignee=assignee,
                           unassigned=unassigned, now=now, posted_since=posted_since)
    if brand is not None and not pending:
        _note_unknown_brand(settings, brand)
    shown = pending[:limit] if limit is not None else pending
    if as_json:
        for item in shown:
            out.write(printable(json.dumps(summary(item, view, now), ensure_ascii=False)) + "\n")
        return len(pending)
    out.write(f"{'waiting':>7}   {'due':>6} {'case':<24} {'brand':<10} {'action':<8} "
              f"{'severity':<8} {'escalated':<14} {'assigned':<12} {'categories':<28} text\n")
    for item in shown:
        waited = now - parse_epoch(item["queued_at"], "queued_at")
        left = _time_left(item, now)
        due = "-" if left is None else ("+" if left >= 0 else "-") + _age(abs(left))
        # `!`: what the unanswered KPI counts (veille_moderation_unanswered_negative, the
        # report's "unanswered"): a negative case past its deadline; a neutral question past
        # its own shows its overdue `due` without the mark the alert's runbook sends people to.
        late = "!" if left is not None and left < 0 and case_of(item).asks_for_answer else " "
        text = (" ".join(str(item.get("text", "")).split()) if item.get("erased_at") is None
                else f"(erased {item['erased_at']})")
        text = text if len(text) <= 70 else text[:69] + "…"
        escalation = view.escalation(item["case_id"], now)
        severity = escalation["severity"] if escalation else item["severity"]
        # Already decided (the agent has not applied it yet): nothing to do for anyone else.
        late += "*" if view.closing_decision(item["case_id"], now) is not None else " "
        assignment = view.assignment(item["case_id"], now)
        owner = _cut(assignment["assignee"], 12) if assignment else "-"
        out.write(printable(f"{_age(waited):>7}{late} {due:>6} {item['case_id'][:24]:<24} "
                             f"{item['brand'][:10]:<10} {item['action']:<8} {severity:<8} "
                             f"{_escalated(escalation):<14} {owner:<12} "
                             f"{_cut(','.join(item['categories']), 28):<28} {text}") + "\n")
    more = f" ({len(pending) - len(shown)} more not shown)" if len(shown) < len(pending) else ""
    out.write(f"{len(pending)} pending{more}; waiting = since it entered the queue; due = time "
              "left (+) or overdue (-) to answer, for a case asking for an answer (its brand's "
              "response deadline runs from when the mention was posted); ! = a negative one past "
              "it (counted unanswered); * = a "
              "closing decision is already written (the agent applies it shortly); escalated = "
              "to whom (- not escalated), severity one level up each time; assigned = who works "
              "on it (- no one)\n")
    return len(pending)


def list_closed(settings: Settings, *, brand: str | None = None, category: str | None = None,
                decision: str | None = None, moderator: str | None = None,
                since: float | None = None, until: float | None = None, limit: int | None = None,
                as_json: bool = False, out: TextIO = sys.stdout, tz: tzinfo = UTC) -> int:
    """Print the closed cases decided in [since, until), newest first, their times in `tz`
    (--json: as the API's, in UTC); returns how many match (before the limit)."""
    store = ModerationStore(settings)
    try:
        view = store.refresh()
    finally:
        store.close()
    count, shown = view.closed_page(brand=brand, category=category, decision=decision,
                                    moderator=moderator, since=since, until=until, limit=limit)
    if brand is not None and not count:
        _note_unknown_brand(settings, brand)
    if as_json:
        for row in shown:
            out.write(printable(json.dumps(row, ensure_ascii=False)) + "\n")
        return count
    decided = f"decided ({tz})"
    width = max(16, len(decided))
    out.write(f"{decided:<{width}}  {'case':<24} {'brand':<10} {'decision':<8} "
              f"{'moderator':<12} {'waited':>7}  reason | text\n")
    for row in shown:
        # The reason first, `-` when none: a text alone in this column read as the reason.
        reason = " ".join(str(row.get("reason") or "").split()) or "-"
        text = " ".join(str(row.get("text") or "").split())
        said = _cut(f"{reason} | {text}" if text else reason, 80)
        when = datetime.fromtimestamp(parse_epoch(row["decided_at"], "decided_at"), tz)
        out.write(printable(f"{when:%Y-%m-%d %H:%M}".ljust(width) + "  "
                            f"{str(row['case_id'])[:24]:<24} {str(row['brand'])[:10]:<10} "
                            f"{str(row['decision']):<8} {_cut(str(row['moderator']), 12):<12} "
                            f"{duration(row['time_to_decision_seconds']):>7}  {said}") + "\n")
    more = f" ({count - len(shown)} more not shown)" if len(shown) < count else ""
    out.write(f"{count} closed{more}; waited = from entering the queue to this decision\n")
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
              out: TextIO = sys.stdout, now: float | None = None) -> str:
    """Print one case whole (its text, author and link, which the list cuts or leaves out, its
    deadline, who works on it, how it was escalated or closed), read from the one partition
    of each moderation topic its id lands in; returns its status. --json: as the API's
    GET /cases/{id}."""
    from veille.moderate.api import summary

    check_case_id(case_id)
    store = ModerationStore(settings, case_id=case_id)
    try:
        view = store.refresh()
    finally:
        store.close()
    now = time.time() if now is None else now
    status = view.status(case_id)
    if status is None:
        raise ModerateError(f"no case {case_id!r} on the moderation queue")
    item = view.items.get(case_id)
    shown = summary(item, view, now) if item is not None else None
    closed = view.closed.get(case_id)
    if as_json:
        out.write(printable(json.dumps({"case_id": case_id, "status": status, "item": shown,
                                        "closed": closed}, ensure_ascii=False)) + "\n")
        return status
    rows: list[tuple[str, Any]] = [("case", case_id), ("status", status)]
    if shown is not None:
        left = _time_left(shown, now)
        due = ("no answer asked" if left is None else shown["respond_by"] if status != "pending"
               else f"{shown['respond_by']} ({'in ' + _age(left) if left >= 0 else _age(-left) + ' late'})")
        escalation = shown["escalation"]
        rows += [
            ("brand", ", ".join(shown["brands"] or [shown["brand"]])),
            ("action", shown["action"]),
            ("severity", escalation["severity"] if escalation else shown["severity"]),
            ("categories", ", ".join(shown["categories"]) or "none (the charter's banned term)"),
            ("reasons", ", ".join(shown["reasons"] or ())),
            ("posted", f"{shown['created_at']} on {shown['platform']} by {shown['author'] or '?'}"),
            ("link", shown["url"] or "-"),
            ("language", f"{shown['language']}, sentiment {shown['sentiment'] or 'not scored'}"),
            ("queued", f"{shown['queued_at']} "
                       f"({_age(now - parse_epoch(shown['queued_at'], 'queued_at'))} ago)"),
            ("answer due", due),
        ]
        if escalation:
            rows.append(("escalated", f"{escalation['count']}x, last by {escalation['moderator']} at "
                                      f"{escalation['decided_at']} to "
                                      f"{escalation['assignee'] or 'the escalation queue'}"
                                      + (f": {escalation['reason']}" if escalation["reason"] else "")))
        assigned = shown["assigned"]
        rows.append(("assigned", f"{assigned['assignee']} ({assigned['decision']} by "
                                 f"{assigned['moderator']} at {assigned['decided_at']})"
                     if assigned else "no one"))
        pending = shown["decision_pending"]
        if pending:
            rows.append(("decided", f"{pending['decision']} by {pending['moderator']} at "
                                    f"{pending['decided_at']} (the agent applies it shortly)"))
    if closed is not None:
        rows.append(("closed", f"{closed.get('decision')} by {closed.get('moderator')} at "
                               f"{closed.get('decided_at')}, after "
                               f"{duration(closed.get('time_to_decision_seconds'))} in the queue"))
        if closed.get("reason"):
            rows.append(("reason", closed["reason"]))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(printable(f"{name:<{width}}  {value}") + "\n")
    if shown is not None and shown.get("erased_at") is not None:
        out.write(f"\n(author, text and link erased at {shown['erased_at']}: veille erase)\n")
    elif shown is not None:
        # The mention's own line breaks kept; every other control character escaped.
        out.write("\n" + "\n".join(map(printable, str(shown["text"]).split("\n"))) + "\n")
    return status


def _escalated(escalation: dict[str, Any] | None) -> str:
    """The list's `escalated` column: "-", the assignee (or "queue": the escalation queue),
    prefixed by the count when escalated more than once ("2x lead")."""
    if escalation is None:
        return "-"
    who = escalation["assignee"] or "queue"
    return _cut(f"{escalation['count']}x {who}" if escalation["count"] > 1 else who, 14)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _note_unknown_brand(settings: Settings, brand: str) -> None:
    """On stderr, when `brand` has no pending case and is not in the watch list: most likely a
    typo, which an empty list would not tell (a brand dropped from the watch list may still have
    cases, so this is a note, not an error)."""
    from veille.rules import Watchlist, WatchlistError, brand_key

    try:
        known = Watchlist.from_toml(settings.watchlist_path).brand_ids
    except WatchlistError:
        return
    if brand_key(brand) not in known:
        sys.stderr.write(f"veille: note: no brand {brand!r} in the watch list "
                         f"({', '.join(known)})\n")


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


def decide(settings: Settings, case_id: str, decision: str, *, moderator: str,
           reason: str | None = None, assignee: str | None = None, check: bool = True,
           decided_at: float | None = None, notes: TextIO = sys.stderr) -> dict[str, Any] | None:
    """Write one decision to moderation.decisions; return the record once the broker holds it,
    or None when there is nothing to write (assigning a case to who already has it, giving back
    a case no one has: said on `notes`).

    With `check`, the case must be on the queue and still pending (read from the topics first),
    an assign or unassign is written conditional on who works on the case then (if_assigned_to:
    of two moderators taking it at once, the agent applies the first), and once written the
    decision is read back: a ModerateError says why the agent will ignore it, if it will."""
    body = validate_decision(case_id, decision, moderator=moderator, reason=reason,
                             assignee=assignee, decided_at=decided_at)
    # Every record of a case is keyed by its id: its partition of each topic tells all about it.
    store = ModerationStore(settings, case_id=case_id)
    seen_escalations = 0
    try:
        if check:
            view = store.refresh()
            status = view.status(case_id)
            if status is None:
                raise ModerateError(f"no case {case_id!r} on the moderation queue "
                                    "(--no-check writes the decision anyway)")
            if status == "closed":
                closed = view.closed[case_id]
                raise ModerateError(printable(f"case {case_id!r} is already closed: "
                                               f"{closed.get('decision')} by {closed.get('moderator')}"))
            prior = view.closing_decision(case_id, time.time())
            if prior is not None:  # the agent would apply that one and drop this one
                raise ModerateError(printable(
                    f"case {case_id!r} already has a decision waiting to be applied: "
                    f"{prior.get('decision')} by {prior.get('moderator')} at "
                    f"{prior.get('decided_at')} (--no-check writes this one anyway)"))
            prepared = view.prepare(case_id, body, time.time())
            owner = prepared.owner
            has = owner["assignee"] if owner is not None else None
            seen_escalations = prepared.escalations
            if prepared.unchanged:  # assign to who has it, unassign a case no one has
                notes.write(printable(
                    f"veille: nothing written: case {case_id!r} is "
                    + (f"already {has}'s ({owner['decision']} by {owner['moderator']} at "
                       f"{owner['decided_at']})" if owner is not None and has is not None
                       else "worked on by no one")) + "\n")
                return None
            if prepared.refusal is not None:
                raise ModerateError(printable(would_ignore(case_id, prepared.refusal)))
            body = prepared.body
            if has is not None and has not in (moderator, assignee):
                # Not refused (a lead may close or take over anyone's case), but said: the
                # assignee may be writing the brand's answer right now.
                assert owner is not None
                notes.write(printable(
                    f"veille: note: case {case_id!r} was assigned to {has} "
                    f"({owner['decision']} by {owner['moderator']} at {owner['decided_at']})")
                    + "\n")
        try:
            record = store.decide(case_id, body, decided_at)
        except DecisionError as exc:
            raise ModerateError(exc.detail) from None
        if check:  # another tool may have written a decision since the check
            try:
                back = store.read_back(case_id, record, seen_escalations)
            except BrokerError as exc:  # written and acknowledged all the same
                notes.write(f"veille: note: decision written; not checked against "
                            f"concurrent ones ({exc})\n")
                back = None
            if back is not None and back.refusal is not None:
                raise ModerateError(printable(back.refusal[1]))
            if back is not None and back.escalated is not None:
                up = back.escalated
                notes.write(printable(
                    f"veille: note: case {case_id!r} was escalated while you decided "
                    f"(escalate by {up['moderator']} at {up['decided_at']}, to "
                    f"{up['assignee'] or 'the escalation queue'}, severity {up['severity']})")
                    + "\n")
        return record
    finally:
        store.close()


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
           tz: tzinfo = UTC, out: TextIO = sys.stdout, lang: str | None = None,
           watched: Iterable[str] | None = None, minutes_per_case: float | None = None) -> Any:
    """Print the moderation report of [since, until) read from the topics, in `lang` (default
    VEILLE_REPORT_LANGUAGE); write the chart. Every brand of `watched` has a row, zeros when
    nothing happened to it in the period (default: the brands of the watch list,
    settings.watchlist_path; a bad one is a WatchlistError, before the topics are read).
    `minutes_per_case`: a moderator's time per case, for the moderators each month's busiest
    hour needs."""
    lang = lang or settings.report_language
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
