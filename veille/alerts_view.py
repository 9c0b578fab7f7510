"""Alert story events (reputation.alerts) as one line of text each, for people: `veille alerts`
and the demo's live output, in English or French (`--lang`, VEILLE_REPORT_LANGUAGE). Pure: no
Kafka, no Faust."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from typing import Any

from veille.moderate.words import NBSP
from veille.terminal import printable

#: French thousands: a narrow no-break space (1\u202f234), as the moderation page writes them.
NNBSP = "\u202f"

#: The words of an alert line, per language (veille.settings.REPORT_LANGUAGES): how each event
#: and severity reads (the record's value on the left; one not listed is shown as it is), then
#: the pieces of the line. The records and --json keep the English values.
ALERT_TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "events": {"opened": "OPENED", "escalated": "ESCALATED", "reopened": "REOPENED",
                   "resolved": "resolved"},
        "severities": {},
        "colon": ":",
        "percent": " %",
        "counts": "{observed} negative of {total} mentions{share}, {expected} expected",
        "so_far": "so far {body}",
        "over": "story over; last bucket {body}",
        "rising": "; rising: {terms}",
        "followed": "; most-followed negative: {ids}",
    },
    "fr": {
        # Of an alerte (feminine); "escalated": the story went up to critical.
        "events": {"opened": "OUVERTE", "escalated": "AGGRAVÉE", "reopened": "ROUVERTE",
                   "resolved": "résolue"},
        "severities": {"warning": "avertissement", "critical": "critique", "info": "information"},
        "colon": f"{NBSP}:",
        "percent": f"{NBSP}%",
        "counts": "{observed} négatives sur {total} mentions{share}, {expected} attendues",
        "so_far": "pour l'instant {body}",
        "over": f"fin de l'alerte{NBSP}; dernière tranche{NBSP}: {{body}}",
        "rising": f"{NBSP}; en hausse{NBSP}: {{terms}}",
        "followed": f"{NBSP}; négatives des comptes les plus suivis{NBSP}: {{ids}}",
    },
}


def _when(iso: Any) -> datetime | None:
    if not isinstance(iso, str):
        return None
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        return None


def _window(event: dict[str, Any], tz: tzinfo = UTC) -> str:
    start, end = _when(event.get("window_start")), _when(event.get("window_end"))
    if start is None:
        return "?"
    try:
        start, end = start.astimezone(tz), end.astimezone(tz) if end is not None else None
    except (OverflowError, ValueError):  # a window at year 1 or 9999, out of range in tz
        tz = UTC
    name = str(tz)  # "UTC", "Europe/Paris"
    # Minutes, unless a bound falls within a minute (buckets of 30 or 90 seconds): 08:35-08:35
    # would hide a 30-second window.
    clock = "%H:%M:%S" if any(t is not None and t.second for t in (start, end)) else "%H:%M"
    if end is not None and start.utcoffset() != end.utcoffset():
        # Across a change of clock: "02:55 CEST-02:10 CET", not an end before its start.
        clock_start, clock_end = f"{clock} %Z", f"{clock} %Z"
    else:
        clock_start = clock_end = clock
    if end is None:
        return f"{start:%Y-%m-%d} {start:{clock}} {name}"
    if end.date() == start.date():
        return f"{start:%Y-%m-%d} {start:{clock_start}}-{end:{clock_end}} {name}"
    return f"{start:%Y-%m-%d} {start:{clock_start}} - {end:%Y-%m-%d} {end:{clock_end}} {name}"


def _number(x: Any, lang: str = "en") -> str:
    """A count as shown; '?' for what is not a finite number (NaN, inf, 10**400). In French a
    decimal comma and thousands apart by a narrow no-break space (11,6; 1\u202f234)."""
    f = _float(x)
    if f is None:
        return "?"
    text = f"{x:,}" if isinstance(x, int) else f"{f:,.0f}" if f.is_integer() else f"{f:,.1f}"
    if lang == "fr":
        text = text.replace(",", NNBSP).replace(".", ",")
    return text


def _float(x: Any) -> float | None:
    """A finite number as a float, else None."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    try:
        f = float(x)
    except OverflowError:  # an int beyond a float (10**400)
        return None
    return f if math.isfinite(f) else None


def _text(x: Any) -> str:
    """A field shown as text: '?' when absent or null."""
    return "?" if x is None else str(x)


def describe(event: dict[str, Any], tz: tzinfo = UTC, lang: str = "en") -> str:
    """One line: brand, what happened and the severity, the window, observed against expected
    negative mentions, the terms rising most and the ids of the (at most 3) most-followed
    negative mentions. Robust to missing or odd fields (a record of a
    newer schema, a hand-written one): a '?' where a field is unusable, never an exception, e.g. (one line):

    acme OPENED (warning) 2026-01-05 08:35-08:40 UTC: 27 negative of 67 mentions (40 %),
    2.3 expected; rising: #panne, outage; most-followed negative: demo-7-001955 [acme-1767602100]

    In French (`lang="fr"`; an unknown language is English), with French typography (no-break
    spaces before : ; %, a decimal comma):

    acme OUVERTE (avertissement) 2026-01-05 08:35-08:40 UTC : 27 négatives sur 67 mentions
    (40 %), 2,3 attendues ; en hausse : #panne, outage ; négatives des comptes les plus suivis :
    demo-7-001955 [acme-1767602100]

    An event sent before its bucket closed (`"early": true`) reads "so far 27 negative of ...".
    The window is shown on the clock of `tz`, named ("08:35-08:40 UTC", "09:35-09:40 Europe/Paris").
    """
    lang = lang if lang in ALERT_TEXT else "en"
    words = ALERT_TEXT[lang]
    event_name = _text(event.get("event"))
    verb = words["events"].get(event_name, event_name)
    severity = event.get("severity")
    severity_text = words["severities"].get(severity, severity) if isinstance(severity, str) else severity
    head = f"{_text(event.get('brand'))} {verb}" + (f" ({severity_text})" if severity else "")
    share = _float(event.get("negative_share"))
    share_text = (f" ({share * 100:.0f}{words['percent']})"
                  if share is not None and math.isfinite(share * 100) else "")
    body = words["counts"].format(observed=_number(event.get("observed_negative"), lang),
                                  total=_number(event.get("total"), lang), share=share_text,
                                  expected=_number(event.get("expected_negative"), lang))
    if event.get("early") is True:
        # Sent while its bucket still filled (early firing): the counts may still grow.
        body = words["so_far"].format(body=body)
    if event_name == "resolved":
        # The window of a resolution is the whole story; the counts are its last bucket's.
        body = words["over"].format(body=body)
    terms = event.get("rising_terms")
    rising = (words["rising"].format(terms=", ".join(str(t) for t in terms[:5]))
              if isinstance(terms, list) and terms and event_name != "resolved" else "")
    # The ids `veille mentions ID...` opens (text, author, link, triage): what to read first.
    top = event.get("top_negative_mentions")
    followed = (words["followed"].format(ids=", ".join(str(m) for m in top[:3]))
                if isinstance(top, list) and top and event_name != "resolved" else "")
    alert_id = event.get("alert_id")
    tail = f" [{alert_id}]" if alert_id else ""
    # Text from the record as it came: control characters spelt as escapes (see printable).
    return printable(f"{head} {_window(event, tz)}{words['colon']} {body}{rising}{followed}{tail}")
