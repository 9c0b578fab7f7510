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
        "2.3 expected; rising: #panne, outage, reseau, signal, inadmissible; most-followed "
        "negative: demo-7-001955 [acme-1767602100]")


def test_the_most_followed_negative_mentions_are_named_three_at_most() -> None:
    # Their ids are what `veille mentions ID...` opens (text, author, link): the line is
    # where a brand's team looks first, not the --json record.
    event = dict(OPENED, top_negative_mentions=["m1", "m2", "m3", "m4", "m5"])
    assert describe(event).endswith("; most-followed negative: m1, m2, m3 [acme-1767602100]")
    assert "most-followed" not in describe(dict(OPENED, top_negative_mentions=[]))
    assert "most-followed" not in describe(dict(OPENED, top_negative_mentions="m1"))


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


@pytest.mark.parametrize("event", [
    dict(OPENED, total=10**400, observed_negative=-(10**400), negative_share=10**400),
    dict(OPENED, window_start="0001-01-01T00:00:00+01:00", window_end="9999-12-31T23:59:00-01:00"),
    dict(OPENED, negative_share=1e308),
])
def test_numbers_and_times_beyond_a_float_or_a_year_are_question_marks(event: dict[str, Any]) -> None:
    line = describe(event)  # OverflowError before
    assert line.startswith("acme OPENED (warning) ")
    assert "?" in line or " %)" not in line  # a share of 1e308 is no percentage
    assert "inf" not in line


def test_counts_that_are_not_finite_are_question_marks() -> None:
    line = describe(dict(OPENED, observed_negative=float("nan"), total=float("inf"),
                         expected_negative=float("-inf")))
    assert line.startswith("acme OPENED (warning) 2026-01-05 08:35-08:40 UTC: ? negative of ? "
                           "mentions")
    assert "nan" not in line and "inf" not in line and ", ? expected" in line


def test_control_characters_and_lone_surrogates_are_spelt_as_escapes() -> None:
    """A record from another producer is text from anyone: ESC sequences would drive the
    reader's terminal (colours, its title, clearing the screen), a C1 CSI too, and a lone
    surrogate could not be printed at all."""
    line = describe(dict(OPENED, brand="\x1b[31mRED\x1b[0m", alert_id="\x1b]0;pwned\x07",
                         rising_terms=["\u009b2J", "\ud800x", "\u202eevil"]))
    assert not any(ord(c) < 32 or 0x7f <= ord(c) <= 0x9f or 0xd800 <= ord(c) <= 0xdfff
                   or c in "\u202e" for c in line)
    assert line.startswith("\\u001b[31mRED\\u001b[0m OPENED (warning)")
    assert "rising: \\u009b2J, \\ud800x, \\u202eevil" in line
    assert line.encode("utf-8")  # printable as it is


def test_absent_or_null_names_are_question_marks() -> None:
    assert describe(dict(OPENED, event=None, brand=None)).startswith("? ? (warning) ")


def test_a_window_within_a_minute_shows_its_seconds() -> None:
    """30- or 90-second buckets: minutes alone would show 08:35-08:35."""
    event = dict(OPENED, window_start="2026-01-05T08:35:00Z", window_end="2026-01-05T08:35:30Z")
    assert "2026-01-05 08:35:00-08:35:30 UTC" in describe(event)
    event = dict(OPENED, window_start="2026-01-05T23:59:30Z", window_end="2026-01-06T00:01:00Z")
    assert "2026-01-05 23:59:30 - 2026-01-06 00:01:00 UTC" in describe(event)


def test_an_early_event_says_its_counts_are_so_far() -> None:
    line = describe({**OPENED, "early": True})
    assert ": so far 27 negative of 67 mentions (40 %), 2.3 expected;" in line
    assert "so far" not in describe(OPENED)


def test_the_window_on_a_teams_clock() -> None:
    """`veille alerts --tz Europe/Paris` (until 2026-12-06 UTC only): the window on that clock,
    the zone named; across a change of date there too; out of the zone's range, in UTC."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert "2026-01-05 09:35-09:40 Europe/Paris" in describe(OPENED, paris)
    late = dict(OPENED, window_start="2026-07-05T21:55:00Z", window_end="2026-07-05T22:20:00Z")
    assert "2026-07-05 23:55 - 2026-07-06 00:20 Europe/Paris" in describe(late, paris)
    edge = dict(OPENED, window_start="9999-12-31T23:00:00Z", window_end="9999-12-31T23:55:00Z")
    assert "9999-12-31 23:00-23:55 UTC" in describe(edge, paris)


def test_a_window_across_a_change_of_clock_names_each_bounds_offset() -> None:
    """Found in review (2026-12-06): with --tz, a window across the autumn change of clock read
    "02:55-02:10 Europe/Paris", its end before its start (and across the spring one 15 minutes
    read 75). Each bound's abbreviation is named when they differ."""
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    autumn = dict(OPENED, window_start="2026-10-25T00:55:00Z", window_end="2026-10-25T01:10:00Z")
    assert "2026-10-25 02:55 CEST-02:10 CET Europe/Paris" in describe(autumn, paris)
    spring = dict(OPENED, window_start="2026-03-29T00:55:00Z", window_end="2026-03-29T01:10:00Z")
    assert "2026-03-29 01:55 CET-03:10 CEST Europe/Paris" in describe(spring, paris)
    assert "2026-01-05 09:35-09:40 Europe/Paris" in describe(OPENED, paris)  # one offset: as before


# --- in French (`veille alerts --lang fr`, the demo with VEILLE_REPORT_LANGUAGE=fr) ----------

def fr(text: str) -> str:
    """`text` with French typography: a no-break space where the test writes '~'."""
    return text.replace("~", "\u00a0")


@pytest.mark.parametrize(("name", "severity", "head"), [
    ("opened", "warning", "acme OUVERTE (avertissement)"),
    ("escalated", "critical", "acme AGGRAVÉE (critique)"),
    ("reopened", "warning", "acme ROUVERTE (avertissement)"),
    ("reopened", "critical", "acme ROUVERTE (critique)"),
])
def test_each_open_event_in_french(name: str, severity: str, head: str) -> None:
    assert describe(dict(OPENED, event=name, severity=severity), lang="fr") == fr(
        f"{head} 2026-01-05 08:35-08:40 UTC~: 27 négatives sur 67 mentions (40~%), 2,3 attendues~; "
        "en hausse~: #panne, outage, reseau, signal, inadmissible~; négatives des comptes les plus suivis~: "
        "demo-7-001955 [acme-1767602100]")


def test_a_resolution_in_french() -> None:
    event = dict(OPENED, event="resolved", status="resolved", severity="critical",
                 window_end="2026-01-05T10:00:00Z", observed_negative=5, total=20,
                 negative_share=0.25, expected_negative=19.6)
    assert describe(event, lang="fr") == fr(
        "acme résolue (critique) 2026-01-05 08:35-10:00 UTC~: fin de l'alerte~; dernière tranche~: "
        "5 négatives sur 20 mentions (25~%), 19,6 attendues [acme-1767602100]")
    assert describe(dict(event, severity="warning"), lang="fr").startswith("acme résolue (avertissement) ")


def test_french_numbers_have_a_decimal_comma_and_narrow_spaces_between_thousands() -> None:
    line = describe(dict(OPENED, observed_negative=1234, total=56789.0, expected_negative=1234.56,
                         negative_share=0.0217), lang="fr")
    assert "~: 1\u202f234 négatives sur 56\u202f789 mentions (2~%), 1\u202f234,6 attendues~;".replace(
        "~", "\u00a0") in line
    assert "." not in line.split("UTC")[1].split("[")[0]  # no decimal point left
    # English as before: a decimal point, commas between thousands.
    assert ": 1,234 negative of 56,789 mentions (2 %), 1,234.6 expected;" in describe(
        dict(OPENED, observed_negative=1234, total=56789.0, expected_negative=1234.56,
             negative_share=0.0217))


def test_an_early_event_and_odd_records_in_french() -> None:
    assert fr("~: pour l'instant 27 négatives sur 67 mentions") in describe({**OPENED, "early": True},
                                                                           lang="fr")
    line = describe(dict(OPENED, window_start="yesterday", observed_negative="27", total=None,
                         expected_negative=float("nan")), lang="fr")
    assert line.startswith(fr("acme OUVERTE (avertissement) ?~: ? négatives sur ? mentions (40~%), "
                              "? attendues"))
    # A severity or an event of a newer schema: as the record says it.
    assert describe(dict(OPENED, event="split", severity="major"), lang="fr").startswith(
        "acme split (major) ")
    for event in ({}, {"event": "opened"}, dict(OPENED, severity=None, alert_id=None)):
        line = describe(event, lang="fr")
        assert isinstance(line, str) and "\n" not in line and line


def test_the_window_on_a_teams_clock_in_french() -> None:
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert fr("2026-01-05 09:35-09:40 Europe/Paris~: 27 négatives") in describe(OPENED, paris, "fr")
    autumn = dict(OPENED, window_start="2026-10-25T00:55:00Z", window_end="2026-10-25T01:10:00Z")
    assert "2026-10-25 02:55 CEST-02:10 CET Europe/Paris" in describe(autumn, paris, "fr")


def test_an_unknown_language_is_english() -> None:
    assert describe(OPENED, lang="de") == describe(OPENED) == describe(OPENED, lang="en")
