"""The brand team's reputation report (`veille report`): how people talked about each brand in a
period, from the enriched mentions (mentions.enriched) and the alert stories (reputation.alerts).
Pure: no Kafka, no Faust (the CLI reads the topics and feeds the records here one at a time).

Aggregated as the records stream by: counters per brand, per day and hour of the report's time
zone, per platform and language, word counters for the terms, and a bounded heap of the
most-followed negative mentions. The one thing that grows with the topic is the set of mention
ids of the period and the one before (the topic is at least once: each id counted once, the
first copy kept).

`BrandReport.result()` is the report as a JSON-ready dict (the keys of `--json`, documented in
the README); `render()` prints it in English or French; `start_note()` is what to say on stderr
when the period starts before the topic's oldest mention.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from veille.alerts_view import ALERT_TEXT
from veille.alerts_view import _number as decimal
from veille.crisis import merge_spellings, terms_spelt
from veille.mentions_view import count, cut, singular
from veille.moderate.words import NBSP
from veille.terminal import printable

LABELS = ("positive", "neutral", "negative", "unscored")
#: Platforms and languages shown by name; the others add up as "other".
TOP_KINDS = 5
#: Terms shown per brand, and how many negative mentions a term must be in to be one.
TOP_TERMS = 8
MIN_TERM_COUNT = 3
#: Distinct words counted per brand before the rarest are dropped (a bound on memory, as the
#: crisis monitor's term baseline has one): past it, the terms are approximate.
MAX_TERMS = 20_000
KEEP_TERMS = 15_000


def _epoch(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 time (a Z suffix or an offset; UTC without); None if not one."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def utc(epoch: float, seconds: bool = True) -> str:
    """2026-12-07T10:00:00Z (the JSON's times)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else
                                                        "%Y-%m-%dT%H:%MZ")


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


@dataclass
class Figures:
    """Mentions and their sentiment labels (unscored: sentiment null)."""

    mentions: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    unscored: int = 0

    def add(self, label: str) -> None:
        self.mentions += 1
        setattr(self, label, getattr(self, label) + 1)

    def share(self, label: str) -> float | None:
        return round(getattr(self, label) / self.mentions, 4) if self.mentions else None

    def as_dict(self) -> dict[str, Any]:
        return {"mentions": self.mentions, **{label: getattr(self, label) for label in LABELS},
                "shares": {label: self.share(label) for label in LABELS}}


def period_before(since: float, until: float, tz: tzinfo = UTC) -> float:
    """The start of the period just before [since, until), of the same length on `tz`'s clock:
    the week before a week of Europe/Paris starts at a midnight, even with a clock change in one
    of the two (7 x 24 h before started at 01:00 or 23:00; found in review, 2026-12-07)."""
    try:
        start = datetime.fromtimestamp(since, tz).replace(tzinfo=None)
        end = datetime.fromtimestamp(until, tz).replace(tzinfo=None)
        return (start - (end - start)).replace(tzinfo=tz).timestamp()
    except (OverflowError, ValueError, OSError):  # near year 1: the same length in seconds
        return since - (until - since)


def _label(record: Mapping[str, Any]) -> str:
    s = record.get("sentiment")
    label = s.get("label") if isinstance(s, dict) else None
    return label if label in ("positive", "neutral", "negative") else "unscored"


def _followers(record: Mapping[str, Any]) -> int | None:
    audience = record.get("audience")
    n = audience.get("followers") if isinstance(audience, dict) else None
    return n if isinstance(n, int) and not isinstance(n, bool) else None


@dataclass
class _Story:
    """An alert story (events of one alert_id) as the report shows it."""

    alert_id: str
    brand: str
    opened: float
    severity: str = "warning"
    #: (window_end, status) of its latest event: resolved when that one resolved it.
    last: tuple[float, str] = (float("-inf"), "open")
    peak_observed: Any = None
    peak_expected: Any = None
    in_period: bool = False

    def as_dict(self) -> dict[str, Any]:
        end, status = self.last
        return {"alert_id": self.alert_id, "opened": utc(self.opened), "severity": self.severity,
                "resolved": utc(end) if status == "resolved" else None,
                "peak_observed_negative": self.peak_observed,
                "peak_expected_negative": self.peak_expected}


@dataclass
class _Brand:
    current: Figures = field(default_factory=Figures)
    previous: Figures = field(default_factory=Figures)
    platforms: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    #: Local day (ISO) -> [mentions, negative].
    days: dict[str, list[int]] = field(default_factory=dict)
    #: Epoch of a local hour's start -> mentions.
    hours: Counter[float] = field(default_factory=Counter)
    #: (followers, -posted, -seq) -> the mention's shown fields: the `top` most followed.
    top: list[tuple[tuple[int, float, int], dict[str, Any]]] = field(default_factory=list)
    terms: Counter[str] = field(default_factory=Counter)
    negative_terms: Counter[str] = field(default_factory=Counter)
    #: Term -> its spelling shown, for the terms of `terms` written otherwise (accents: "decu"
    #: -> "déçu"), as the alerts choose it (veille.crisis.spelling_rank): whatever the order.
    shown: dict[str, str] = field(default_factory=dict)


class BrandReport:
    """The report of the mentions posted (created_at) in [since, until), per brand of `brands`
    (the watch list's, each with its figures, zeros when quiet), and of the period of the same
    length just before (shown only when the topic holds it: its oldest mention posted at or
    before that period's start). Feed every record of mentions.enriched to add_mention() and
    every event of reputation.alerts to add_alert(), in any order; then result().

    `brand_terms`: each brand's own names (veille.crisis.brand_terms), never one of its terms.
    `top`: the most-followed negative mentions kept per brand. `topic` and `retention_days`:
    the topic's name and retention, as the report names them."""

    def __init__(self, since: float, until: float, brands: Iterable[str], *, tz: tzinfo = UTC,
                 top: int = 5, brand_terms: Mapping[str, frozenset[str]] | None = None,
                 topic: str = "mentions.enriched", retention_days: float = 7.0,
                 min_term_count: int = MIN_TERM_COUNT) -> None:
        if until <= since:
            raise ValueError("the period must end after it starts")
        self.since, self.until, self.tz = since, until, tz
        self.previous_since = period_before(since, until, tz)
        self.top = max(0, top)
        self.topic, self.retention_days = topic, retention_days
        self.min_term_count = min_term_count
        self.brand_terms = dict(brand_terms or {})
        self.brands = {b: _Brand() for b in brands}
        self.no_brand = 0
        self.oldest_posted: float | None = None
        self._seen: set[str] = set()
        #: Minute (epoch // 60) -> (local day, local hour's start): _local's cache.
        self._minutes: dict[float, tuple[str, float]] = {}
        self._seq = 0
        self._stories: dict[str, _Story] = {}

    # -- feeding -----------------------------------------------------------------------------

    def add_mention(self, record: Any) -> None:
        """One record of mentions.enriched; one that is not a mention (no id, no posting time)
        is skipped."""
        if not isinstance(record, dict):
            return
        posted = _epoch(record.get("created_at"))
        mid = record.get("id")
        if posted is None or not isinstance(mid, str) or not mid:
            return
        if self.oldest_posted is None or posted < self.oldest_posted:
            self.oldest_posted = posted
        if not self.previous_since <= posted < self.until:
            return
        if mid in self._seen:  # at least once: the first copy counts
            return
        self._seen.add(mid)
        brands = [b for b in record.get("brands") or () if isinstance(b, str)]
        current = posted >= self.since
        if not brands:
            self.no_brand += current
            return
        label = _label(record)
        for name in dict.fromkeys(brands):
            b = self.brands.get(name)
            if b is None:
                continue
            if not current:
                b.previous.add(label)
                continue
            self._count(b, name, record, posted, label)

    def _count(self, b: _Brand, name: str, record: dict[str, Any], posted: float, label: str) -> None:
        b.current.add(label)
        negative = label == "negative"
        b.platforms[str(record.get("platform") or "?")] += 1
        b.languages[str(record.get("language") or "?")] += 1
        day_name, hour = self._local(posted)
        day = b.days.setdefault(day_name, [0, 0])
        day[0] += 1
        day[1] += negative
        b.hours[hour] += 1
        found, spellings = terms_spelt(str(record.get("text") or ""), self.brand_terms.get(name, frozenset()))
        words = set(found)
        b.terms.update(words)
        if spellings:
            merge_spellings(b.shown, spellings, words)
        if negative:
            b.negative_terms.update(words)
            self._keep_top(b, record, posted)
        if len(b.terms) > MAX_TERMS:
            kept = dict(b.terms.most_common(KEEP_TERMS))
            b.terms = Counter(kept)
            b.negative_terms = Counter({t: n for t, n in b.negative_terms.items() if t in kept})
            b.shown = {t: v for t, v in b.shown.items() if t in kept}

    def _local(self, posted: float) -> tuple[str, float]:
        """The local day (ISO) of a time on the report's clock and the epoch of its local hour's
        start; cached by the minute (a week of mentions is 10,080 minutes: the datetime work
        was a tenth of the report's per-mention time), when the clock neither changes nor turns
        an hour or a day inside that minute (its first and last microsecond: the same)."""
        minute = posted // 60
        if posted - minute * 60 < 59.999:  # not rounded into the next minute by fromtimestamp
            found = self._minutes.get(minute)
            if found is not None:
                return found
        local = datetime.fromtimestamp(posted, self.tz)
        found = (local.date().isoformat(), local.replace(minute=0, second=0, microsecond=0).timestamp())
        if posted - minute * 60 < 59.999:
            first = datetime.fromtimestamp(minute * 60, self.tz)
            last = datetime.fromtimestamp(minute * 60 + 59.999999, self.tz)
            if (first.date(), first.hour, first.fold, first.utcoffset()) == \
                    (last.date(), last.hour, last.fold, last.utcoffset()):
                self._minutes[minute] = found
        return found

    def _keep_top(self, b: _Brand, record: dict[str, Any], posted: float) -> None:
        if not self.top:
            return
        self._seq += 1
        followers = _followers(record)
        # Most followed first; among equals the earlier posted, then the first read.
        key = (-1 if followers is None else followers, -posted, -self._seq)
        if len(b.top) >= self.top and key <= b.top[0][0]:
            return
        shown = {"id": record.get("id"), "posted": utc(posted),
                 "platform": record.get("platform"), "followers": followers,
                 "text": cut(record.get("text") or "")}
        if len(b.top) < self.top:
            heapq.heappush(b.top, (key, shown))
        else:
            heapq.heapreplace(b.top, (key, shown))

    def add_alert(self, event: Any) -> None:
        """One event of reputation.alerts; its story is the report's when a window of its events
        ([window_start, window_end)) overlaps the period."""
        if not isinstance(event, dict):
            return
        alert_id, name = event.get("alert_id"), event.get("brand")
        start, end = _epoch(event.get("window_start")), _epoch(event.get("window_end"))
        if not isinstance(alert_id, str) or not isinstance(name, str) or start is None or end is None:
            return
        story = self._stories.get(alert_id)
        if story is None:
            story = self._stories[alert_id] = _Story(alert_id, name, start)
        story.opened = min(story.opened, start)
        if event.get("severity") == "critical":
            story.severity = "critical"
        status = "resolved" if event.get("status") == "resolved" or event.get("event") == "resolved" \
            else "open"
        # Events of one bucket: the resolution is the later (a story resolves after its buckets).
        if (end, status == "resolved") > (story.last[0], story.last[1] == "resolved"):
            story.last = (end, status)
        observed = event.get("observed_negative")
        if isinstance(observed, int | float) and not isinstance(observed, bool) and math.isfinite(observed) \
                and (story.peak_observed is None or observed > story.peak_observed):
            story.peak_observed, story.peak_expected = observed, event.get("expected_negative")
        if start < self.until and end > self.since:
            story.in_period = True

    # -- the report --------------------------------------------------------------------------

    def previous_available(self) -> bool:
        return self.oldest_posted is not None and self.oldest_posted <= self.previous_since

    def _days(self) -> list[str]:
        """The days of the period on the report's clock, from the day of the topic's oldest
        mention when the period starts before it (the days before are not on the topic: no
        row of zeros for them)."""
        start = max(self.since, self.oldest_posted or self.since)
        if start >= self.until:
            return []
        first = datetime.fromtimestamp(start, self.tz).date()
        last = datetime.fromtimestamp(self.until, self.tz) - timedelta(microseconds=1)
        out, d = [], first
        while d <= last.date():
            out.append(d.isoformat())
            d += timedelta(days=1)
        return out

    def result(self) -> dict[str, Any]:
        """The report as a dict of JSON values (the keys of `veille report --json`)."""
        available = self.previous_available()
        days = self._days()
        stories: dict[str, list[dict[str, Any]]] = {}
        for s in sorted(self._stories.values(), key=lambda s: (s.opened, s.alert_id)):
            if s.in_period:
                stories.setdefault(s.brand, []).append(s.as_dict())
        brands = []
        for name, b in self.brands.items():
            # From the counts: the shares are rounded to 4 decimals, rounded again they were off.
            share = b.current.negative / b.current.mentions if b.current.mentions else None
            before = (b.previous.negative / b.previous.mentions
                      if available and b.previous.mentions else None)
            busiest = max(b.hours.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
            brands.append({
                "brand": name,
                **b.current.as_dict(),
                "previous": b.previous.as_dict() if available else None,
                "negative_share_change_points": (round((share - before) * 100, 1)
                                                 if share is not None and before is not None else None),
                "platforms": _kinds(b.platforms),
                "languages": _kinds(b.languages),
                "days": [{"day": d, "mentions": b.days.get(d, [0, 0])[0],
                          "negative": b.days.get(d, [0, 0])[1],
                          "negative_share": (round(b.days[d][1] / b.days[d][0], 4)
                                             if d in b.days else None)} for d in days],
                "busiest_hour": ({"start": datetime.fromtimestamp(busiest[0], self.tz).isoformat(),
                                  "mentions": busiest[1]} if busiest else None),
                "alerts": stories.get(name, []),
                "top_negative": [shown for _k, shown in sorted(b.top, key=lambda e: e[0], reverse=True)],
                "terms": self._terms(b),
            })
        return {
            "since": utc(self.since), "until": utc(self.until), "tz": zone_name(self.tz),
            "topic": self.topic, "retention_days": self.retention_days,
            "oldest_posted": utc(self.oldest_posted) if self.oldest_posted is not None else None,
            "previous": {"since": utc(self.previous_since), "until": utc(self.since),
                         "available": available},
            "brands": brands,
            "no_brand": self.no_brand,
        }

    def _terms(self, b: _Brand) -> list[dict[str, Any]]:
        """The words most over-represented in the brand's negative mentions against all its
        mentions of the period, in at least `min_term_count` negative mentions: ranked by their
        excess, how many more negative mentions hold the word than the brand's negative share
        predicts of the mentions holding it (a complaint's word in 200 of 250 mentions comes
        before one in 10 of 10: ranked by lift alone, every word of one copied message came
        first); `lift`, its share among the negative mentions over its share among all, above 1.
        Counted accent-free ("déçu" and "decu" are one), each shown in its spelling with the most
        accents seen (veille.crisis.spelling_rank), negated words as one ("pas content")."""
        negatives, total = b.current.negative, b.current.mentions
        if not negatives:
            return []
        ranked = []
        for term, n in b.negative_terms.items():
            if n < self.min_term_count:
                continue
            holding = b.terms[term]
            excess = n - holding * negatives / total
            if excess > 1e-9:
                ranked.append((-excess, term, n, holding))
        ranked.sort()
        return [{"term": b.shown.get(t, t), "negative": n, "mentions": holding,
                 "excess": round(-excess, 1), "lift": round(n * total / (holding * negatives), 2)}
                for excess, t, n, holding in ranked[:TOP_TERMS]]


def _kinds(counter: Counter[str]) -> list[dict[str, Any]]:
    """The TOP_KINDS commonest by name (most first, then by name), the rest as one "other"."""
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    out = [{"name": k, "mentions": n} for k, n in ranked[:TOP_KINDS]]
    rest = sum(n for _k, n in ranked[TOP_KINDS:])
    if rest:
        out.append({"name": "other", "mentions": rest})
    return out


#: The report's words, per language (veille.settings.REPORT_LANGUAGES). French: the brands'
#: community managers are often French-speaking.
REPORT_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "reputation report {period}",
        "previous": "previous period: {period}",
        "no_previous": "no earlier period on {topic} (kept {days} days): no comparison",
        "brand": "{brand}: {n}",
        "positive": "positive", "neutral": "neutral", "negative": "negative", "unscored": "unscored",
        "compared": "previous period: {n}, negative {share}{change}",
        "change": "; negative share {points} {unit}",
        "points": "points", "point": "points",
        "platforms": "by platform: {items}",
        "languages": "by language: {items}",
        "other": "other",
        "per_day": "per day ({zone}):",
        "day_head": "day|mentions|negative",
        "busiest": "busiest hour: {at} ({n})",
        "alerts": "alert stories:",
        "story": "{id}: opened {opened}, {severity}, {state}; peak {observed} negative, {expected} "
                 "expected",
        "resolved": "resolved {at}",
        "open": "still open",
        "top": "most-followed negative mentions (`veille mentions ID` prints one whole):",
        "followers": "{n} followers",
        "follower": "{n} follower",
        "terms": "terms over-represented in negative mentions:",
        "term": "{term} ({n} negative of {total})",
        "none": "none",
        "no_terms": "none",
        "no_brand": "mentions of no brand: {n} (posted in the period; many may mean an alias "
                    "missing from the watch list)",
        "oldest": "veille report: the oldest mention on {topic} was posted {at}, after the "
                  "period's start: the report covers from then (the topic keeps {days} days)",
        "before": "veille report: the oldest mention on {topic} was posted {at}, after the "
                  "period's end: the topic holds nothing of the period (it keeps {days} days), "
                  "its zeros say nothing of it",
        "empty": "veille report: {topic} holds no mention (it keeps {days} days)",
    },
    "fr": {
        "title": "rapport de réputation {period}",
        "previous": f"période précédente{NBSP}: {{period}}",
        "no_previous": f"pas de période précédente dans {{topic}} (conservé {{days}} jours){NBSP}: "
                       "pas de comparaison",
        "brand": f"{{brand}}{NBSP}: {{n}}",
        "positive": "positives", "neutral": "neutres", "negative": "négatives",
        "unscored": "non évaluées",
        "compared": f"période précédente{NBSP}: {{n}}, négatives {{share}}{{change}}",
        "change": f"{NBSP}; part des négatives {{points}}{NBSP}{{unit}}",
        "points": "points", "point": "point",
        "platforms": f"par plateforme{NBSP}: {{items}}",
        "languages": f"par langue{NBSP}: {{items}}",
        "other": "autres",
        "per_day": f"par jour ({{zone}}){NBSP}:",
        "day_head": "jour|mentions|négatives",
        "busiest": f"heure la plus chargée{NBSP}: {{at}} ({{n}})",
        "alerts": f"alertes{NBSP}:",
        "story": f"{{id}}{NBSP}: ouverte le {{opened}}, {{severity}}, {{state}}{NBSP}; pic{NBSP}: "
                 "{observed} négatives, {expected} attendues",
        "resolved": "résolue le {at}",
        "open": "toujours ouverte",
        "top": "mentions négatives des comptes les plus suivis (`veille mentions ID` en affiche une en "
               f"entier){NBSP}:",
        "followers": "{n} abonnés",
        "follower": "{n} abonné",
        "terms": f"termes surreprésentés dans les mentions négatives{NBSP}:",
        "term": "{term} ({n} négatives sur {total})",
        "none": "aucune",
        #: Of the terms: un terme, aucun.
        "no_terms": "aucun",
        "no_brand": f"mentions sans marque{NBSP}: {{n}} (publiées dans la période{NBSP}; "
                    f"beaucoup{NBSP}: un alias manque-t-il à la liste de veille{NBSP}?)",
        "oldest": f"veille report{NBSP}: la plus ancienne mention de {{topic}} a été publiée le "
                  f"{{at}}, après le début de la période{NBSP}: le rapport part de là (le topic "
                  "garde {days} jours)",
        "before": f"veille report{NBSP}: la plus ancienne mention de {{topic}} a été publiée le "
                  f"{{at}}, après la fin de la période{NBSP}: le topic n'en contient rien (il garde "
                  f"{{days}} jours), ses zéros n'en disent rien",
        "empty": f"veille report{NBSP}: {{topic}} ne contient aucune mention (il garde {{days}} "
                 "jours)",
    },
}


def _words(lang: str) -> dict[str, str]:
    return REPORT_TEXT.get(lang, REPORT_TEXT["en"])


def _zone(result: Mapping[str, Any]) -> tzinfo:
    from veille.timezones import TimezoneError, zone

    try:
        return zone(str(result.get("tz", "UTC")))
    except TimezoneError:
        return UTC


def _pct(n: int, total: int, lang: str) -> str:
    """n of total as a percentage with one decimal, rounded once from the counts (the JSON's
    shares have 4 decimals: 1 of 26, 0.0385, rounded again read 3.9 % for 3.846 %)."""
    if not total:
        return "-"
    x = n / total
    return f"{x:.1%}" if lang != "fr" else f"{x * 100:.1f}".replace(".", ",") + f"{NBSP}%"


def _mentions(n: int, lang: str) -> str:
    """1 mention, 2 mentions (in French 0 mention too)."""
    return f"{count(n, lang)} mention{'' if singular(n, lang) else 's'}"


def _points(x: float, lang: str) -> str:
    text = f"{x:+.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _days_text(days: float, lang: str) -> str:
    text = f"{days:g}"
    return text.replace(".", ",") if lang == "fr" else text


def _clock(iso: str | None, tz: tzinfo) -> str:
    t = _epoch(iso)
    return "?" if t is None else datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M %Z")


def _period(since: str, until: str, tz: tzinfo) -> str:
    a, b = _epoch(since), _epoch(until)
    assert a is not None and b is not None
    if zone_name(tz) in ("UTC", "Etc/UTC"):
        return f"{utc(a, seconds=False)} .. {utc(b, seconds=False)}"
    return (f"{datetime.fromtimestamp(a, tz).isoformat(timespec='minutes')} .. "
            f"{datetime.fromtimestamp(b, tz).isoformat(timespec='minutes')} ({zone_name(tz)})")


def render(result: Mapping[str, Any], lang: str = "en") -> str:
    """The report (result() of a BrandReport) as text, in English or French."""
    t = _words(lang)
    tz = _zone(result)
    days = _days_text(result["retention_days"], lang)
    previous = result["previous"]
    lines = [t["title"].format(period=_period(result["since"], result["until"], tz)),
             t["previous"].format(period=_period(previous["since"], previous["until"], tz))
             if previous["available"] else t["no_previous"].format(topic=result["topic"], days=days)]
    for b in result["brands"]:
        lines += ["", t["brand"].format(brand=b["brand"], n=_mentions(b["mentions"], lang))]
        width = max(len(count(b[label], lang)) for label in LABELS)
        for label in LABELS:
            lines.append(f"  {t[label]:<14}{count(b[label], lang):>{width}}"
                         f"{_pct(b[label], b['mentions'], lang):>9}")
        before = b["previous"]
        if before is not None:
            change = b["negative_share_change_points"]
            lines.append("  " + t["compared"].format(
                n=_mentions(before["mentions"], lang),
                share=_pct(before["negative"], before["mentions"], lang),
                change=t["change"].format(points=_points(change, lang),
                                          unit=t["point" if singular(change, lang) else "points"])
                if change is not None else ""))
        if not b["mentions"]:
            continue
        other = t["other"]
        for key in ("platforms", "languages"):
            items = ", ".join(f"{other if x['name'] == 'other' else x['name']} "
                              f"{count(x['mentions'], lang)}" for x in b[key])
            lines.append("  " + t[key].format(items=items))
        head = t["day_head"].split("|")
        lines += ["  " + t["per_day"].format(zone=zone_name(tz)),
                  f"    {head[0]:<10} {head[1]:>9} {head[2]:>9}"]
        for d in b["days"]:
            lines.append(f"    {d['day']:<10} {count(d['mentions'], lang):>9} "
                         f"{_pct(d['negative'], d['mentions'], lang):>9}")
        hour = b["busiest_hour"]
        if hour is not None:
            at = datetime.fromisoformat(hour["start"]).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
            lines.append("  " + t["busiest"].format(at=at, n=_mentions(hour["mentions"], lang)))
        severities = ALERT_TEXT.get(lang, ALERT_TEXT["en"])["severities"]
        lines.append("  " + t["alerts"] + ("" if b["alerts"] else " " + t["none"]))
        for s in b["alerts"]:
            state = (t["resolved"].format(at=_clock(s["resolved"], tz)) if s["resolved"] else t["open"])
            lines.append("    " + t["story"].format(
                id=s["alert_id"], opened=_clock(s["opened"], tz),
                severity=severities.get(s["severity"], s["severity"]), state=state,
                observed=decimal(s["peak_observed_negative"], lang),
                expected=decimal(s["peak_expected_negative"], lang)))
        if b["top_negative"]:
            lines.append("  " + t["top"])
            for m in b["top_negative"]:
                n = m["followers"]
                followers = ("?" if n is None else
                             t["follower" if singular(n, lang) else "followers"].format(n=count(n, lang)))
                lines.append(f"    {m['id']}  {_clock(m['posted'], tz)}  {m['platform']}  "
                             f"{followers}  {m['text']}")
        lines.append("  " + t["terms"] + ("" if b["terms"] else " " + t["no_terms"]))
        if b["terms"]:
            lines.append("    " + ", ".join(t["term"].format(term=x["term"], n=count(x["negative"], lang),
                                                             total=_mentions(x["mentions"], lang))
                                            for x in b["terms"]))
    lines += ["", t["no_brand"].format(n=count(result["no_brand"], lang))]
    # Text from the records (ids, platforms, texts): control characters spelt as escapes.
    return "\n".join(printable(line) for line in lines)


def start_note(result: Mapping[str, Any], lang: str = "en") -> str | None:
    """What to say on stderr when the period starts before the oldest mention posted on the
    topic (the report covers from then), ends before it (the report covers nothing: its zeros
    are no quiet period), or the topic holds none; None otherwise."""
    t = _words(lang)
    days = _days_text(result["retention_days"], lang)
    oldest = result["oldest_posted"]
    if oldest is None:
        return t["empty"].format(topic=result["topic"], days=days)
    posted = _epoch(oldest) or 0
    if posted > (_epoch(result["since"]) or 0):
        key = "before" if posted >= (_epoch(result["until"]) or 0) else "oldest"
        return t[key].format(topic=result["topic"], at=_clock(oldest, _zone(result)), days=days)
    return None

