"""Enriched mentions (mentions.enriched) as a person reads them: one line each, or one mention
whole. Pure: no Kafka, no Faust (`veille mentions` reads the topic).

An alert names its most-followed negative mentions by id, and `UnscoredMentionsSurge` sends
people to the mentions of a brand in a language veille does not score: a mention that triage
did not queue has no moderation case, so `veille moderate show` does not know it; this does.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from veille.terminal import json_safe, printable

#: The languages veille scores; `--unscored` is every other one.
SCORED_LANGUAGES = ("en", "fr")
#: Characters of a mention's text on its line (the whole text with the ids asked for).
LINE_TEXT_CHARS = 100
#: The actions of triage that put a mention on moderation.queue (a case of the same id).
QUEUED_ACTIONS = ("review", "respond", "hide")


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


def _sentiment(record: dict[str, Any]) -> str:
    s = record.get("sentiment")
    if not isinstance(s, dict):
        return "not scored"
    return f"{s.get('label', '?')} {s.get('compound', '?')}"


def _one_line(x: Any) -> str:
    return " ".join(str(x).split())


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
    #: `author` as compared (handle()), once: a whole topic is read through the filter.
    _handle: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_handle", handle(self.author))

    def __call__(self, record: dict[str, Any]) -> bool:
        if self.author is not None and handle(record.get("author")) != self._handle:
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


def line(record: dict[str, Any], tz: tzinfo = UTC) -> str:
    """posted, id, platform, author, language, sentiment, brands, triage action, text (cut)."""
    triage = record.get("triage")
    action = triage.get("action", "?") if isinstance(triage, dict) else "-"
    text = _one_line(record.get("text", ""))
    if len(text) > LINE_TEXT_CHARS:
        text = text[:LINE_TEXT_CHARS - 1] + "…"
    return printable(
        f"{_clock(_posted(record), tz)}  {record.get('id', '?')}  {record.get('platform', '?')}  "
        f"{record.get('author') or '?'}  {record.get('language', '?')}  {_sentiment(record)}  "
        f"{','.join(map(str, record.get('brands') or ())) or '-'}  {action}  {text}")


def whole(record: dict[str, Any], tz: tzinfo = UTC) -> str:
    """One mention whole, a row per field, and where its moderation case is if it has one."""
    audience = record.get("audience")
    followers = audience.get("followers") if isinstance(audience, dict) else None
    by = f"{record.get('author') or '?'}" + (f" ({followers:,} followers)" if isinstance(followers, int)
                                              else "")
    triage = record.get("triage")
    if isinstance(triage, dict):
        moderation = (f"{triage.get('action', '?')}, severity {triage.get('severity', '?')}, "
                      f"categories {', '.join(triage.get('categories') or ()) or 'none'}")
        moderation += (f"; its case: veille moderate show {record.get('id')}" if queued(record)
                       else "; not queued (no case)")
    else:
        moderation = "none (no brand matched)"
    brands = ", ".join(map(str, record.get("brands") or ())) or "none"
    rules = ", ".join(map(str, record.get("rules") or ()))
    rows = [
        ("mention", record.get("id", "?")),
        ("posted", f"{_clock(_posted(record), tz, seconds=True)} on {record.get('platform', '?')} by {by}"),
        ("link", record.get("url") or "-"),
        ("language", f"{record.get('language', '?')} ({record.get('language_confidence', '?')}), "
                     f"sentiment {_sentiment(record)}"),
        ("brands", brands + (f" (rules: {rules})" if rules else "")),
        ("triage", moderation),
        ("source", f"{record.get('source', '?')}, received {record.get('received_at', '?')}, "
                   f"enriched {record.get('processed_at', '?')}"),
        ("text", _one_line(record.get("text", ""))),
    ]
    return "\n".join(printable(f"{name:<9} {value}") for name, value in rows)


def as_json(record: dict[str, Any]) -> str:
    return printable(json.dumps(json_safe(record), ensure_ascii=False))


def missing_note(ids: Iterable[str], topic: str) -> str:
    """What to say of ids not found."""
    listed = ", ".join(ids)
    return (f"veille mentions: not on {topic}: {listed} (an id is case-sensitive; a mention refused "
            "at validation is in `veille dead-letters`; the topic keeps its retention's worth)")
