"""Alert story events (reputation.alerts) as one line of text each, for people: `veille alerts`
and the demo's live output. Pure: no Kafka, no Faust."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from typing import Any

from veille.terminal import printable

#: How each event reads (the event's name in the record on the left).
_VERBS = {"opened": "OPENED", "escalated": "ESCALATED", "reopened": "REOPENED",
          "resolved": "resolved"}


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


def _number(x: Any) -> str:
    """A count as shown; '?' for what is not a finite number (NaN, inf, 10**400)."""
    f = _float(x)
    if f is None:
        return "?"
    return f"{x:,}" if isinstance(x, int) else f"{f:,.0f}" if f.is_integer() else f"{f:,.1f}"


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


def describe(event: dict[str, Any], tz: tzinfo = UTC) -> str:
    """One line: brand, what happened and the severity, the window, observed against expected
    negative mentions, the terms rising most and the ids of the (at most 3) most-followed
    negative mentions. Robust to missing or odd fields (a record of a
    newer schema, a hand-written one): a '?' where a field is unusable, never an exception, e.g. (one line):

    acme OPENED (warning) 2026-01-05 08:35-08:40 UTC: 27 negative of 67 mentions (40 %),
    2.3 expected; rising: #panne, outage; most-followed negative: demo-7-001955 [acme-1767602100]

    An event sent before its bucket closed (`"early": true`) reads "so far 27 negative of ...".
    The window is shown on the clock of `tz`, named ("08:35-08:40 UTC", "09:35-09:40 Europe/Paris").
    """
    event_name = _text(event.get("event"))
    verb = _VERBS.get(event_name, event_name)
    severity = event.get("severity")
    head = f"{_text(event.get('brand'))} {verb}" + (f" ({severity})" if severity else "")
    share = _float(event.get("negative_share"))
    share_text = (f" ({share * 100:.0f} %)" if share is not None and math.isfinite(share * 100)
                  else "")
    body = (f"{_number(event.get('observed_negative'))} negative of "
            f"{_number(event.get('total'))} mentions{share_text}, "
            f"{_number(event.get('expected_negative'))} expected")
    if event.get("early") is True:
        # Sent while its bucket still filled (early firing): the counts may still grow.
        body = f"so far {body}"
    if event_name == "resolved":
        # The window of a resolution is the whole story; the counts are its last bucket's.
        body = f"story over; last bucket {body}"
    terms = event.get("rising_terms")
    rising = (f"; rising: {', '.join(str(t) for t in terms[:5])}"
              if isinstance(terms, list) and terms and event_name != "resolved" else "")
    # The ids `veille mentions ID...` opens (text, author, link, triage): what to read first.
    top = event.get("top_negative_mentions")
    followed = (f"; most-followed negative: {', '.join(str(m) for m in top[:3])}"
                if isinstance(top, list) and top and event_name != "resolved" else "")
    alert_id = event.get("alert_id")
    tail = f" [{alert_id}]" if alert_id else ""
    # Text from the record as it came: control characters spelt as escapes (see printable).
    return printable(f"{head} {_window(event, tz)}: {body}{rising}{followed}{tail}")
