"""veille.alerts_view: an alert story event as one line of text, whatever the record holds."""

from __future__ import annotations

from typing import Any

import pytest

from veille.alerts_view import describe

OPENED = {
    "schema_version": 1, "alert_id": "acme-1767602100", "brand": "acme", "event": "opened",
    "status": "open", "severity": "warning", "window_start": "2026-01-05T08:35:00Z",
    "window_end": "2026-01-05T08:40:00Z", "bucket_seconds": 300, "observed_negative": 27,
    "expected_negative": 2.295, "total": 67, "negative_share": 0.403,
    "audience_weighted_negative": 82.3, "anomaly_score": 0.396, "negative_share_p": 7.2e-09,
    "top_negative_mentions": ["demo-7-001955"],
    "rising_terms": ["#panne", "outage", "reseau", "signal", "inadmissible", "coupure"],
}


def test_an_opened_story() -> None:
    assert describe(OPENED) == (
        "acme OPENED (warning) 2026-01-05 08:35-08:40 UTC: 27 negative of 67 mentions (40 %), "
        "2.3 expected; rising: #panne, outage, reseau, signal, inadmissible [acme-1767602100]")


def test_a_resolution_spans_the_story_and_names_no_terms() -> None:
    event = dict(OPENED, event="resolved", status="resolved", severity="critical",
                 window_end="2026-01-05T10:00:00Z", observed_negative=5, total=20,
                 negative_share=0.25, expected_negative=19.6)
    assert describe(event) == (
        "acme resolved (critical) 2026-01-05 08:35-10:00 UTC: story over; last bucket 5 negative "
        "of 20 mentions (25 %), 19.6 expected [acme-1767602100]")


def test_a_window_over_midnight_gives_both_dates() -> None:
    event = dict(OPENED, window_start="2026-01-05T23:55:00Z", window_end="2026-01-06T00:20:00Z")
    assert "2026-01-05 23:55 - 2026-01-06 00:20 UTC" in describe(event)


def test_an_offset_other_than_z_is_shown_in_utc() -> None:
    event = dict(OPENED, window_start="2026-01-05T09:35:00+01:00", window_end="2026-01-05T09:40:00+01:00")
    assert "2026-01-05 08:35-08:40 UTC" in describe(event)


@pytest.mark.parametrize("event", [
    {},
    {"event": "opened"},
    dict(OPENED, window_start="yesterday", window_end=None),
    dict(OPENED, observed_negative="27", total=None, negative_share=True, rising_terms="panne"),
    dict(OPENED, expected_negative=float("nan"), negative_share=float("inf")),
    dict(OPENED, event="split", severity=None, alert_id=None),
    {"window_start": 1767602100, "rising_terms": [None, 3, {"a": 1}]},
])
def test_odd_records_give_a_line_with_question_marks_never_an_exception(event: dict[str, Any]) -> None:
    line = describe(event)
    assert isinstance(line, str) and "\n" not in line and line


def test_unusable_fields_show_as_question_marks() -> None:
    line = describe(dict(OPENED, window_start="yesterday", observed_negative="27", total=None))
    assert line.startswith("acme OPENED (warning) ?: ? negative of ? mentions (40 %)")
