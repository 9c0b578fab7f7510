"""Enriched mentions (mentions.enriched) as a person reads them: one line each, or one mention
whole. Pure: no Kafka, no Faust (`veille mentions` reads the topic).

An alert names its most-followed negative mentions by id, and `UnscoredMentionsSurge` sends
people to the mentions of a brand in a language veille does not score: a mention that triage
did not queue has no moderation case, so `veille moderate show` does not know it; this does.
A mention that has one says its case's state ("was this complaint answered, moderated?") in
`veille moderate show`'s words, from the case the command read (the reading is not here).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from veille.deadletters import DeadLetter
from veille.moderate.words import NBSP, SHOW_TEXT, clock, decision_word
from veille.moderation.cases import DecisionError, parse_epoch
from veille.rules import fold
from veille.terminal import json_safe, printable

#: The languages veille scores; `--unscored` is every other one.
SCORED_LANGUAGES = ("en", "fr")
#: Characters of a mention's text on its line (the whole text with the ids asked for).
LINE_TEXT_CHARS = 100
#: The actions of triage that put a mention on moderation.queue (a case of the same id).
QUEUED_ACTIONS = ("review", "respond", "hide")


#: The words of `veille mentions`, per language (veille.settings.REPORT_LANGUAGES): the row
#: names and sentences of a mention shown whole, and the notes on stderr. The records' values
#: (text, sentiment label, triage action, severity, categories) stay as they are, as in
#: `veille moderate list`: they are what the filters take; --json is the record.
MENTIONS_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "mention": "mention", "posted": "posted", "link": "link", "language": "language",
        "brands": "brands", "triage": "triage", "source": "source", "text": "text",
        "posted_on": "{at} on {platform} by {author}",
        "followers": " ({n} followers)",
        "follower": " ({n} follower)",
        "sentiment": "{language} ({confidence}), sentiment {sentiment}",
        "not_scored": "not scored",
        "rules": " (rules: {rules})",
        "none": "none",
        "moderation": "{action}, severity {severity}, categories {categories}",
        "its_case": "; its case: veille moderate show {id}",
        "case_state": "; its case (veille moderate show {id}): {state}",
        "since": "{status} since {at}",
        "assigned_to": " (assigned to {who})",
        "escalated": ", {row} {line}",
        "no_case": "not found on the moderation topics (past their retention, or the worker has "
                   "not queued it yet)",
        "not_queued": "; not queued (no case)",
        "no_brand": "none (no brand matched)",
        "source_row": "{source}, received {received}, enriched {enriched}",
        "missing": "veille mentions: not on {topic}: {ids} (an id is case-sensitive); where "
                   "they are:",
        "matched": "veille mentions: {total} on {topic} matched{more}",
        "newest": ", the newest {n} shown",
        "refused": "  {id}: refused at validation, on {dlq}{times}: {reason}{field}{detail}, at "
                   "{at} (`veille dead-letters --reason {reason}` lists them)",
        "times": " ({n} times)",
        "on_raw": "  {id}: on {raw} (partition {partition}, offset {offset}, written {at}{by}{copies})",
        "by": " by {source}",
        "copies": ", {n} copies",
        "message": "{n} message", "messages": "{n} messages",
        "waiting": ", not enriched yet: the next the enrichment stage reads there is offset {done}, "
                   "{behind} before this one",
        "next": ", not enriched yet: it is the next the enrichment stage reads there",
        "never_read": ", not enriched yet: no enrichment stage of VEILLE_APP_ID={app} has read "
                      "that partition (is a worker running?)",
        "read_lost": ", read by the enrichment stage (committed up to offset {done}) but neither "
                     "on {enriched} nor refused: its enriched record has left {enriched} with "
                     "its retention ({days} days), or it was dropped as a duplicate of an "
                     "earlier copy whose record has left it",
        "rekeyed": ", whose value's id is {other}: the enrichment stage enriches it under "
                   "that id (`veille mentions {other}`)",
        "nowhere": "  {id}: no message keyed with this id on {raw} or {dlq}: not sent, sent "
                   "under another key or none and not read yet (the enrichment stage sends it "
                   "again keyed by its id), or past their retention ({days} days)",
        "detail": ": {detail}",
    },
    "fr": {
        "mention": "mention", "posted": "publiée", "link": "lien", "language": "langue",
        "brands": "marques", "triage": "tri", "source": "source", "text": "texte",
        "posted_on": "{at} sur {platform} par {author}",
        "followers": " ({n} abonnés)",
        "follower": " ({n} abonné)",
        "sentiment": "{language} ({confidence}), sentiment {sentiment}",
        "not_scored": "non évalué",
        "rules": f" (règles{NBSP}: {{rules}})",
        "none": "aucune",
        "moderation": "{action}, gravité {severity}, catégories {categories}",
        "its_case": f"{NBSP}; son dossier{NBSP}: veille moderate show {{id}}",
        "case_state": f"{NBSP}; son dossier (veille moderate show {{id}}){NBSP}: {{state}}",
        "since": "{status} depuis le {at}",
        "assigned_to": " (assigné à {who})",
        "escalated": ", {row} {line}",
        "no_case": "introuvable dans les topics de modération (passé leur rétention, ou le worker "
                   "ne l'a pas encore mis en file)",
        "not_queued": f"{NBSP}; pas mise en file (pas de dossier)",
        "no_brand": "aucun (aucune marque reconnue)",
        "source_row": "{source}, reçue {received}, enrichie {enriched}",
        "missing": f"veille mentions{NBSP}: absentes de {{topic}}{NBSP}: {{ids}} (un identifiant "
                   f"distingue majuscules et minuscules){NBSP}; où elles sont{NBSP}:",
        "matched": f"veille mentions{NBSP}: {{total}} retenues dans {{topic}}{{more}}",
        "newest": ", les {n} plus récentes affichées",
        "refused": f"  {{id}}{NBSP}: refusée à la validation, dans {{dlq}}{{times}}{NBSP}: "
                   f"{{reason}}{{field}}{{detail}}, le {{at}} (`veille dead-letters --reason "
                   f"{{reason}}` les liste)",
        "times": " ({n} fois)",
        "on_raw": f"  {{id}}{NBSP}: dans {{raw}} (partition {{partition}}, offset {{offset}}, "
                  "écrite le {at}{by}{copies})",
        "by": " par {source}",
        "copies": ", {n} copies",
        "message": "{n} message", "messages": "{n} messages",
        "waiting": f", pas encore enrichie{NBSP}: la prochaine que l'étape d'enrichissement y lit "
                   "est à l'offset {done}, {behind} avant celle-ci",
        "next": f", pas encore enrichie{NBSP}: c'est la prochaine que l'étape d'enrichissement y "
                "lit",
        "never_read": f", pas encore enrichie{NBSP}: aucune étape d'enrichissement de "
                      "VEILLE_APP_ID={app} n'a lu cette partition (un worker tourne-t-il ?)",
        "read_lost": ", lue par l'étape d'enrichissement (validée jusqu'à l'offset {done}) mais ni "
                     f"dans {{enriched}} ni refusée{NBSP}: son enregistrement enrichi a quitté "
                     "{enriched} avec sa rétention ({days} jours), ou elle a été écartée comme "
                     "doublon d'une copie dont l'enregistrement l'a quitté",
        "rekeyed": f", dont l'identifiant dans la valeur est {{other}}{NBSP}: l'étape "
                   "d'enrichissement l'enrichit sous cet identifiant (`veille mentions {other}`)",
        "nowhere": f"  {{id}}{NBSP}: aucun message de cette clé dans {{raw}} ni dans "
                   f"{{dlq}}{NBSP}: pas envoyée, envoyée sous une autre clé ou sans clé et pas "
                   "encore lue (l'étape d'enrichissement la renvoie sous son identifiant), ou "
                   "passée leur rétention ({days} jours)",
        "detail": f"{NBSP}: {{detail}}",
    },
}


def count(n: int, lang: str = "en") -> str:
    """A count: 12,000; in French 12\u202f000."""
    return f"{n:,}".replace(",", "\u202f") if lang == "fr" else f"{n:,}"


def _posted(record: dict[str, Any]) -> float | None:
    try:
        when = datetime.fromisoformat(str(record.get("created_at")))
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _clock(epoch: float | None, tz: tzinfo, seconds: bool = False) -> str:
    if epoch is None:
        return "?"
    try:
        return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")
                                                           + " %Z")
    except (OverflowError, ValueError, OSError):
        return "?"


def _sentiment(record: dict[str, Any], lang: str = "en") -> str:
    s = record.get("sentiment")
    if not isinstance(s, dict):
        return _words(lang)["not_scored"]
    return f"{s.get('label', '?')} {s.get('compound', '?')}"


def singular(n: float, lang: str) -> bool:
    """Whether a count takes the singular: 1 in English; in French below 2 (0 mention, 1,5
    point)."""
    return abs(n) < 2 if lang == "fr" else n == 1


def _one_line(x: Any) -> str:
    return " ".join(str(x).split())


def cut(text: Any) -> str:
    """A record's text on one line, cut to LINE_TEXT_CHARS (an ellipsis ending a cut one)."""
    text = _one_line(text)
    return text if len(text) <= LINE_TEXT_CHARS else text[:LINE_TEXT_CHARS - 1] + "…"


def folded(text: Any) -> str:
    """`text` as `--contains` compares it: case and accents ignored (the watch rules' fold), runs
    of spaces as one; "" for what is not text."""
    return " ".join(fold(text).split()) if isinstance(text, str) else ""


def holds(record: Any, needle: str) -> bool:
    """Whether the text or the link of `record` (an enriched mention, a moderation case's item)
    holds `needle`, already folded(): `--contains`'s test, one for `veille mentions` and the
    moderation tools (an erased case's text and link are empty: it holds nothing)."""
    return any(needle in folded(record.get(name)) for name in ("text", "url"))


def handle(author: Any) -> str | None:
    """An author as `--author` compares it: case folded, without a leading @ (`@Julie_35` and
    `julie_35` are one account on the platforms veille reads)."""
    return author.strip().removeprefix("@").casefold() if isinstance(author, str) else None


def queued(record: dict[str, Any]) -> bool:
    """Whether triage put the mention on moderation.queue (a case of its id)."""
    triage = record.get("triage")
    return isinstance(triage, dict) and triage.get("action") in QUEUED_ACTIONS


@dataclass(frozen=True)
class Filter:
    """Which mentions a listing shows (None: any)."""

    brand: str | None = None
    language: str | None = None
    unscored: bool = False
    negative: bool = False
    #: Posted at or after (epoch seconds).
    since: float | None = None
    #: Written by (a handle, whatever its case and leading @: an access request's person).
    author: str | None = None
    #: Whose text or link holds these words (case, accents and spacing ignored: "reseau  en
    #: PANNE" finds "Réseau en panne").
    contains: str | None = None
    #: `author` and `contains` as compared (handle(), folded()), once: a whole topic is read
    #: through the filter.
    _handle: str | None = field(default=None, init=False, repr=False, compare=False)
    _needle: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_handle", handle(self.author))
        object.__setattr__(self, "_needle", folded(self.contains or ""))

    def __call__(self, record: dict[str, Any]) -> bool:
        if self.author is not None and handle(record.get("author")) != self._handle:
            return False
        if self._needle and not holds(record, self._needle):
            return False
        if self.brand is not None and self.brand not in (record.get("brands") or ()):
            return False
        language = record.get("language")
        if self.language is not None and language != self.language:
            return False
        if self.unscored and language in SCORED_LANGUAGES:
            return False
        sentiment = record.get("sentiment")
        if self.negative and not (isinstance(sentiment, dict) and sentiment.get("label") == "negative"):
            return False
        if self.since is not None:
            posted = _posted(record)
            if posted is None or posted < self.since:
                return False
        return True


class Newest:
    """The newest `keep` mentions by posting time among those offered (all counted): listing
    the last few must not hold the topic in memory."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.total = 0
        self._held: list[tuple[float, int, dict[str, Any]]] = []

    def add(self, record: dict[str, Any]) -> None:
        self.total += 1
        posted = _posted(record)
        entry = (float("-inf") if posted is None else posted, self.total, record)
        if len(self._held) < self.keep:
            heapq.heappush(self._held, entry)
        elif self.keep and entry[:2] > self._held[0][:2]:
            heapq.heapreplace(self._held, entry)

    def oldest_first(self) -> list[dict[str, Any]]:
        return [r for _t, _n, r in sorted(self._held, key=lambda e: e[:2])]


def _words(lang: str) -> dict[str, str]:
    return MENTIONS_TEXT.get(lang, MENTIONS_TEXT["en"])


def line(record: dict[str, Any], tz: tzinfo = UTC, lang: str = "en") -> str:
    """posted, id, platform, author, language, sentiment, brands, triage action, text (cut)."""
    triage = record.get("triage")
    action = triage.get("action", "?") if isinstance(triage, dict) else "-"
    text = cut(record.get("text", ""))
    return printable(
        f"{_clock(_posted(record), tz)}  {record.get('id', '?')}  {record.get('platform', '?')}  "
        f"{record.get('author') or '?'}  {record.get('language', '?')}  {_sentiment(record, lang)}  "
        f"{','.join(map(str, record.get('brands') or ())) or '-'}  {action}  {text}")


def _at(value: Any, tz: tzinfo) -> str:
    """A moderation record's time (ISO 8601) as the moderator tools show it in `tz` (clock); as
    the record has it when it is not a time."""
    try:
        return clock(parse_epoch(value, "at"), tz)
    except DecisionError:
        return str(value)


def case_state(found: Mapping[str, Any] | None, tz: tzinfo = UTC, lang: str = "en") -> str:
    """A moderation case's state in a sentence, in `veille moderate show`'s words (SHOW_TEXT):
    pending since it was queued, to whom it is assigned, how it was escalated, a closing
    decision written and not applied yet; or closed, by whom, when, after how long in the
    queue (an answer a collector saw on a platform says where). `found` is the case as show
    and the API's GET /cases/{id} give it (case_id, status, item, closed); None, not on the
    moderation topics."""
    # Here, not above: the case view (pure too) takes its --contains fold from this module.
    from veille.moderation.queue import answered_on_of, duration

    t, show = _words(lang), SHOW_TEXT.get(lang, SHOW_TEXT["en"])
    if found is None:
        return t["no_case"]

    def by(decision: Mapping[str, Any]) -> str:  # "reject by bob at 2026-12-07 10:06 UTC"
        return show["by"].format(decision=decision_word(decision.get("decision"),
                                                        answered_on_of(decision), lang),
                                 moderator=decision.get("moderator"),
                                 at=_at(decision.get("decided_at"), tz))

    closed = found.get("closed")
    if found.get("status") == "closed" and isinstance(closed, Mapping):
        return show["closed_status"] + ", " + show["closed_after"].format(
            by=by(closed), waited=duration(closed.get("time_to_decision_seconds"), lang))
    shown = found.get("item")
    item: Mapping[str, Any] = shown if isinstance(shown, Mapping) else {}
    state = t["since"].format(status=show["pending_status"], at=_at(item.get("queued_at"), tz))
    assigned = item.get("assigned")
    if isinstance(assigned, Mapping) and assigned.get("assignee"):
        state += t["assigned_to"].format(who=assigned["assignee"])
    escalation = item.get("escalation")
    if isinstance(escalation, Mapping):
        state += t["escalated"].format(row=show["escalated"], line=show["escalated_by"].format(
            count=escalation.get("count"), moderator=escalation.get("moderator"),
            at=_at(escalation.get("decided_at"), tz),
            to=escalation.get("assignee") or show["escalation_queue"]))
    pending = item.get("decision_pending")
    if isinstance(pending, Mapping):
        state += ", " + show["applies_shortly"].format(by=by(pending))
    return state


def whole(record: dict[str, Any], tz: tzinfo = UTC, lang: str = "en",
          cases: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """One mention whole, a row per field, and where its moderation case is if it has one; the
    row names and sentences in `lang` (the values as the record has them). `cases`: the cases
    read from the moderation topics by id (as case_state takes them): a queued mention's row
    says its case's state, or that it is not there; None (not read), where to look alone."""
    t = _words(lang)
    audience = record.get("audience")
    followers = audience.get("followers") if isinstance(audience, dict) else None
    by = f"{record.get('author') or '?'}" + (
        t["follower" if singular(followers, lang) else "followers"].format(n=count(followers, lang))
        if isinstance(followers, int) else "")
    triage = record.get("triage")
    if isinstance(triage, dict):
        moderation = t["moderation"].format(
            action=triage.get("action", "?"), severity=triage.get("severity", "?"),
            categories=", ".join(triage.get("categories") or ()) or t["none"])
        if not queued(record):
            moderation += t["not_queued"]
        elif cases is None:
            moderation += t["its_case"].format(id=record.get("id"))
        else:
            moderation += t["case_state"].format(id=record.get("id"), state=case_state(
                cases.get(str(record.get("id"))), tz, lang))
    else:
        moderation = t["no_brand"]
    brands = ", ".join(map(str, record.get("brands") or ())) or t["none"]
    rules = ", ".join(map(str, record.get("rules") or ()))
    rows = [
        (t["mention"], record.get("id", "?")),
        (t["posted"], t["posted_on"].format(at=_clock(_posted(record), tz, seconds=True),
                                            platform=record.get("platform", "?"), author=by)),
        (t["link"], record.get("url") or "-"),
        (t["language"], t["sentiment"].format(language=record.get("language", "?"),
                                              confidence=record.get("language_confidence", "?"),
                                              sentiment=_sentiment(record, lang))),
        (t["brands"], brands + (t["rules"].format(rules=rules) if rules else "")),
        (t["triage"], moderation),
        (t["source"], t["source_row"].format(source=record.get("source", "?"),
                                             received=record.get("received_at", "?"),
                                             enriched=record.get("processed_at", "?"))),
        (t["text"], _one_line(record.get("text", ""))),
    ]
    return "\n".join(printable(f"{name:<9} {value}") for name, value in rows)


def as_json(record: dict[str, Any]) -> str:
    return printable(json.dumps(json_safe(record), ensure_ascii=False))


def missing_note(ids: Iterable[str], topic: str, lang: str = "en") -> str:
    """What to say of ids not found."""
    return printable(_words(lang)["missing"].format(topic=topic, ids=", ".join(ids)))


@dataclass(frozen=True)
class RawCopy:
    """Where a mention id is on mentions.raw: its first record there (the one the enrichment
    stage reads first), and how many records carry that key."""
    partition: int
    offset: int
    #: The broker's timestamp of the record, epoch seconds.
    timestamp: float
    #: The raw mention's `source` (which collector sent it), when its value says.
    source: str | None = None
    copies: int = 1
    #: The `id` its value carries when that is not the key: the enrichment stage re-keys such a
    #: message and enriches the mention under that id.
    value_id: str | None = None


@dataclass(frozen=True)
class Trace:
    """What became of a mention id that is not on mentions.enriched: its newest dead letter
    (and how many), its copy on mentions.raw, and the enrichment stage's committed offset of
    that copy's partition (None: never committed)."""
    id: str
    dead_letter: DeadLetter | None = None
    dead_letters: int = 0
    raw: RawCopy | None = None
    committed: int | None = None


@dataclass(frozen=True)
class Topics:
    """The topics' names (with the prefix) and what the trace's sentences name."""
    raw: str
    enriched: str
    dlq: str
    app_id: str
    #: mentions.raw's and mentions.enriched's retention, in days.
    mentions_days: float


def trace_line(trace: Trace, topics: Topics, tz: tzinfo = UTC, lang: str = "en") -> str:
    """One line saying where a missing mention id is and why it is not enriched: refused (its
    dead letter's reason), waiting on mentions.raw (how far the enrichment stage has read its
    partition), read and gone, or on neither topic."""
    t = _words(lang)
    days = f"{topics.mentions_days:g}" if lang == "en" else f"{topics.mentions_days:g}".replace(".", ",")
    letter = trace.dead_letter
    if letter is not None:
        h = letter.headers
        return printable(t["refused"].format(
            id=trace.id, dlq=topics.dlq, reason=letter.reason,
            times=t["times"].format(n=count(trace.dead_letters, lang)) if trace.dead_letters > 1 else "",
            field=f" ({h['field']})" if h.get("field") else "",
            detail=t["detail"].format(detail=_one_line(h["detail"])) if h.get("detail") else "",
            at=_clock(letter.timestamp, tz, seconds=True)))
    raw = trace.raw
    if raw is None:
        return printable(t["nowhere"].format(id=trace.id, raw=topics.raw, dlq=topics.dlq, days=days))
    where = t["on_raw"].format(
        id=trace.id, raw=topics.raw, partition=raw.partition, offset=raw.offset,
        at=_clock(raw.timestamp, tz, seconds=True),
        by=t["by"].format(source=raw.source) if raw.source else "",
        copies=t["copies"].format(n=count(raw.copies, lang)) if raw.copies > 1 else "")
    done = trace.committed
    if raw.value_id is not None:
        status = t["rekeyed"].format(other=raw.value_id)
    elif done is None:
        status = t["never_read"].format(app=topics.app_id)
    elif raw.offset == done:
        status = t["next"]
    elif raw.offset > done:
        behind = raw.offset - done
        status = t["waiting"].format(done=done, behind=t["message" if behind == 1 else "messages"]
                                     .format(n=count(behind, lang)))
    else:
        status = t["read_lost"].format(done=done, enriched=topics.enriched, days=days)
    return printable(where + status)


def matched_note(total: int, shown: int, topic: str, lang: str = "en") -> str:
    """What to say of a listing: how many matched, and how many of them are shown."""
    t = _words(lang)
    more = t["newest"].format(n=count(shown, lang)) if shown < total else ""
    return t["matched"].format(total=count(total, lang), topic=topic, more=more)
