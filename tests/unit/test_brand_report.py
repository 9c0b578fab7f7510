"""veille.brand_report: the brand team's reputation report (`veille report`), aggregated from
enriched mentions and alert events fed one at a time, rendered in English and French and as
JSON. Pure: no broker here (tests/integration/test_report_cli.py reads the real one)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from veille.brand_report import BrandReport, render, start_note

NBSP = "\u00a0"
PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def mention(mid: str, posted: str, *, brands: tuple[str, ...] = ("acme",), label: str | None = "neutral",
            platform: str = "mastodon", language: str = "en", followers: int | None = 10,
            text: str = "a word about it") -> dict[str, Any]:
    return {
        "schema_version": 1, "id": mid, "source": "test", "platform": platform, "author": "@x",
        "text": text, "url": None, "created_at": iso(at(posted)), "language_hint": None,
        "audience": None if followers is None else {"followers": followers},
        "language": language, "language_confidence": 0.9,
        "sentiment": None if label is None else {"compound": 0.0, "pos": 0, "neu": 1, "neg": 0,
                                                 "label": label},
        "brands": list(brands), "rules": [], "received_at": iso(at(posted)),
        "processed_at": iso(at(posted)),
    }


def event(alert_id: str, name: str, start: str, end: str, *, severity: str = "warning",
          observed: int = 10, expected: float = 2.0, brand: str = "acme") -> dict[str, Any]:
    return {
        "schema_version": 1, "alert_id": alert_id, "brand": brand, "event": name,
        "status": "resolved" if name == "resolved" else "open", "severity": severity,
        "window_start": start, "window_end": end, "bucket_seconds": 300,
        "observed_negative": observed, "expected_negative": expected, "total": 40,
        "negative_share": 0.25, "audience_weighted_negative": 12.0, "anomaly_score": 0.9,
        "negative_share_p": 1e-8, "top_negative_mentions": [], "rising_terms": [],
    }


WEEK = ("2026-11-30T00:00:00+00:00", "2026-12-07T00:00:00+00:00")


def week_report(**kwargs: Any) -> BrandReport:
    args: dict[str, Any] = {"brands": ["acme", "boreal"]} | kwargs
    return BrandReport(at(WEEK[0]), at(WEEK[1]), **args)


def brand(result: dict[str, Any], name: str = "acme") -> dict[str, Any]:
    return next(b for b in result["brands"] if b["brand"] == name)


def test_counts_shares_unscored_and_each_mention_once() -> None:
    r = week_report()
    for i, label in enumerate(["positive", "negative", "negative", "neutral", None]):
        r.add_mention(mention(f"m{i}", f"2026-12-0{i + 1}T10:00:00+00:00", label=label))
    # At least once: a copy of m1 (the first kept, even if the copy says otherwise).
    r.add_mention(mention("m1", "2026-12-02T10:00:00+00:00", label="positive"))
    a = brand(r.result())
    assert (a["mentions"], a["positive"], a["neutral"], a["negative"], a["unscored"]) == (5, 1, 1, 2, 1)
    assert a["shares"] == {"positive": 0.2, "neutral": 0.2, "negative": 0.4, "unscored": 0.2}
    # Every watched brand, zeros when quiet.
    b = brand(r.result(), "boreal")
    assert b["mentions"] == 0 and b["shares"]["negative"] is None and b["days"][0]["mentions"] == 0


def test_the_period_is_posted_time_since_included_until_excluded() -> None:
    r = week_report()
    r.add_mention(mention("before", "2026-11-29T23:59:59+00:00"))
    r.add_mention(mention("first", "2026-11-30T00:00:00+00:00"))
    r.add_mention(mention("last", "2026-12-06T23:59:59+00:00"))
    r.add_mention(mention("until", "2026-12-07T00:00:00+00:00"))
    r.add_mention(mention("nobody", "2026-12-01T00:00:00+00:00", brands=()))
    r.add_mention(mention("nobody-before", "2026-11-01T00:00:00+00:00", brands=()))
    result = r.result()
    assert brand(result)["mentions"] == 2
    assert result["no_brand"] == 1


def test_days_are_those_of_tz_with_the_dst_day_and_the_busiest_hour() -> None:
    # The week of the fall-back in Paris (2026-10-25 has 25 hours).
    r = BrandReport(at("2026-10-20T00:00:00+02:00"), at("2026-10-27T00:00:00+01:00"), ["acme"], tz=PARIS)
    r.add_mention(mention("before", "2026-10-19T12:00:00+00:00"))  # the topic holds the whole week
    # 23:30 UTC on the 24th is 01:30 in Paris on the 25th (CEST).
    r.add_mention(mention("late", "2026-10-24T23:30:00+00:00", label="negative"))
    # 02:30 CET on the 25th (01:30 UTC), after the clocks went back.
    r.add_mention(mention("again", "2026-10-25T01:30:00+00:00"))
    for i in range(3):  # the busiest hour: 14:00 in Paris on the 26th
        r.add_mention(mention(f"b{i}", f"2026-10-26T13:1{i}:00+00:00"))
    a = brand(r.result())
    days = {d["day"]: d for d in a["days"]}
    assert list(days) == [f"2026-10-{d}" for d in range(20, 27)]
    assert days["2026-10-25"]["mentions"] == 2 and days["2026-10-25"]["negative"] == 1
    assert days["2026-10-25"]["negative_share"] == 0.5
    assert days["2026-10-24"]["mentions"] == 0
    assert a["busiest_hour"] == {"start": "2026-10-26T14:00:00+01:00", "mentions": 3}
    # A topic holding the period from its 25th only: the days before are not on it, no row of
    # zeros for them (the stderr note says the report covers from then).
    r = BrandReport(at("2026-10-20T00:00:00+02:00"), at("2026-10-27T00:00:00+01:00"), ["acme"], tz=PARIS)
    r.add_mention(mention("late", "2026-10-24T23:30:00+00:00", label="negative"))
    assert [d["day"] for d in brand(r.result())["days"]] == ["2026-10-25", "2026-10-26"]
    r = BrandReport(at("2026-10-20T00:00:00+02:00"), at("2026-10-27T00:00:00+01:00"), ["acme"], tz=PARIS)
    r.add_mention(mention("after", "2026-10-28T10:00:00+00:00"))  # nothing of the period held
    assert brand(r.result())["days"] == []


def test_the_previous_period_when_the_topic_holds_it_and_the_change_in_points() -> None:
    r = week_report()
    # The previous week: 1 negative of 4 (25 %); this week 1 of 2 (50 %).
    for i, label in enumerate(["negative", "neutral", "neutral", "positive"]):
        r.add_mention(mention(f"p{i}", f"2026-11-2{3 + i}T08:00:00+00:00", label=label))
    r.add_mention(mention("oldest", "2026-11-23T00:00:00+00:00", brands=()))  # the topic's oldest
    r.add_mention(mention("c0", "2026-12-01T08:00:00+00:00", label="negative"))
    r.add_mention(mention("c1", "2026-12-02T08:00:00+00:00"))
    result = r.result()
    assert result["previous"]["available"] is True
    assert result["previous"]["since"] == "2026-11-23T00:00:00Z"
    a = brand(result)
    assert a["previous"]["mentions"] == 4 and a["previous"]["negative"] == 1
    assert a["negative_share_change_points"] == 25.0
    assert start_note(result, "en") is None


def test_no_previous_period_when_the_topic_starts_after_it() -> None:
    r = week_report()
    r.add_mention(mention("p0", "2026-11-24T08:00:00+00:00", label="negative"))  # oldest: after 11-23
    r.add_mention(mention("c0", "2026-12-01T08:00:00+00:00", label="negative"))
    result = r.result()
    assert result["previous"]["available"] is False
    a = brand(result)
    assert a["previous"] is None and a["negative_share_change_points"] is None
    text = render(result, "en")
    assert "no earlier period on mentions.enriched (kept 7 days)" in text
    assert start_note(result, "en") is None  # this period itself is held


def test_a_period_starting_before_the_topic_s_oldest_mention_is_said() -> None:
    r = week_report()
    r.add_mention(mention("c0", "2026-12-03T08:00:00+00:00"))
    note = start_note(r.result(), "en")
    assert note is not None and "2026-12-03 08:00 UTC" in note and "mentions.enriched" in note
    french = start_note(_with(PARIS), "fr")
    assert french is not None and "2026-12-03 09:00 CET" in french
    assert start_note(week_report().result(), "en") is not None  # an empty topic too


def _with(tz: Any) -> dict[str, Any]:
    r = week_report(tz=tz)
    r.add_mention(mention("c0", "2026-12-03T08:00:00+00:00"))
    return r.result()


def test_platforms_and_languages_top_few_and_the_rest_as_other() -> None:
    r = week_report()
    n = 0
    for platform, count in [("mastodon", 5), ("bluesky", 4), ("reddit", 3), ("youtube", 2), ("rss", 1),
                            ("webhook", 1), ("jetstream", 1)]:
        for _ in range(count):
            r.add_mention(mention(f"m{n}", "2026-12-01T08:00:00+00:00", platform=platform,
                                  language="fr" if n % 2 else "en"))
            n += 1
    a = brand(r.result())
    assert a["platforms"] == [{"name": "mastodon", "mentions": 5}, {"name": "bluesky", "mentions": 4},
                              {"name": "reddit", "mentions": 3}, {"name": "youtube", "mentions": 2},
                              {"name": "jetstream", "mentions": 1}, {"name": "other", "mentions": 2}]
    assert {x["name"]: x["mentions"] for x in a["languages"]} == {"en": 9, "fr": 8}


def test_top_negative_mentions_most_followed_first_bounded_and_cut() -> None:
    r = week_report(top=2)
    r.add_mention(mention("small", "2026-12-01T08:00:00+00:00", label="negative", followers=5))
    r.add_mention(mention("big", "2026-12-01T09:00:00+00:00", label="negative", followers=9000,
                          text="x" * 150 + "\x1b[2J"))
    r.add_mention(mention("none", "2026-12-01T10:00:00+00:00", label="negative", followers=None))
    r.add_mention(mention("mid", "2026-12-01T11:00:00+00:00", label="negative", followers=500))
    r.add_mention(mention("positive", "2026-12-01T12:00:00+00:00", label="positive", followers=10**6))
    a = brand(r.result())
    assert [m["id"] for m in a["top_negative"]] == ["big", "mid"]
    assert a["top_negative"][0]["followers"] == 9000
    assert len(a["top_negative"][0]["text"]) == 100 and a["top_negative"][0]["text"].endswith("…")
    r2 = week_report()
    r2.add_mention(mention("ctl", "2026-12-01T08:00:00+00:00", label="negative", text="bad\x1b[2J day"))
    line = next(x for x in render(r2.result(), "en").splitlines() if "ctl" in x)
    assert "\\u001b[2J" in line and "\x1b" not in line


def test_terms_over_represented_in_negative_mentions_never_the_brand_s_own_names() -> None:
    r = week_report(brand_terms={"acme": frozenset({"acme"})}, min_term_count=3)
    n = 0
    for _ in range(4):  # "panne" only in negative ones, "acme" everywhere
        r.add_mention(mention(f"m{n}", "2026-12-01T08:00:00+00:00", label="negative",
                              text="Acme réseau en panne, coupure"))
        n += 1
    for _ in range(6):
        r.add_mention(mention(f"m{n}", "2026-12-01T08:00:00+00:00", label="positive",
                              text="Acme réseau rapide merci"))
        n += 1
    r.add_mention(mention(f"m{n}", "2026-12-01T08:00:00+00:00", label="negative", text="Acme lent"))
    terms = brand(r.result())["terms"]
    names = [t["term"] for t in terms]
    # Most over-represented first, ties by name.
    assert names[:2] == ["coupure", "panne"] and terms[1]["negative"] == 4 and terms[1]["mentions"] == 4
    assert "acme" not in names  # the brand's own name
    assert "reseau" not in names  # as frequent in negative mentions as in all of them
    assert "lent" not in names  # under the minimum count
    # Ranked by excess (negative mentions holding it beyond the brand's negative share): a word
    # of many complaints before a word of a few copies, each only ever negative.
    r = week_report(min_term_count=3)
    texts = ([("negative", "remboursement exige")] * 3 + [("negative", "panne")] * 40
             + [("positive", "panne reparee")] * 10 + [("positive", "merci")] * 50)
    for n, (label, text) in enumerate(texts):
        r.add_mention(mention(f"x{n}", "2026-12-01T08:00:00+00:00", label=label, text=text))
    terms = brand(r.result())["terms"]
    assert [t["term"] for t in terms][:2] == ["panne", "exige"], terms
    panne = terms[0]  # 40 of 50 mentions negative, the brand's share 43 of 103
    assert (panne["negative"], panne["mentions"], panne["excess"]) == (40, 50, round(40 - 50 * 43 / 103, 1))
    assert panne["lift"] == round((40 / 43) / (50 / 103), 2)


def test_alert_stories_grouped_by_id_in_the_period() -> None:
    r = week_report()
    start = "2026-12-02T08:00:00Z"
    for e in [event("acme-1", "opened", start, "2026-12-02T08:05:00Z", observed=12, expected=3.0),
              event("acme-1", "opened", start, "2026-12-02T08:05:00Z", observed=12, expected=3.0),
              event("acme-1", "escalated", start, "2026-12-02T08:10:00Z", severity="critical",
                    observed=30, expected=3.5),
              event("acme-1", "resolved", start, "2026-12-02T09:00:00Z", severity="critical",
                    observed=1, expected=2.0),
              event("acme-2", "opened", "2026-12-06T23:55:00Z", "2026-12-07T00:00:00Z"),
              event("acme-old", "opened", "2026-11-20T08:00:00Z", "2026-11-20T08:05:00Z"),
              event("boreal-1", "opened", start, "2026-12-02T08:05:00Z", brand="boreal")]:
        r.add_alert(e)
    a = brand(r.result())
    assert [s["alert_id"] for s in a["alerts"]] == ["acme-1", "acme-2"]
    one, two = a["alerts"]
    assert one == {"alert_id": "acme-1", "opened": "2026-12-02T08:00:00Z", "severity": "critical",
                   "resolved": "2026-12-02T09:00:00Z", "peak_observed_negative": 30,
                   "peak_expected_negative": 3.5}
    assert two["resolved"] is None and two["severity"] == "warning"
    assert [s["alert_id"] for s in brand(r.result(), "boreal")["alerts"]] == ["boreal-1"]


def test_a_story_reopened_after_it_resolved_is_open() -> None:
    r = week_report()
    start = "2026-12-02T08:00:00Z"
    r.add_alert(event("acme-1", "opened", start, "2026-12-02T08:05:00Z"))
    r.add_alert(event("acme-1", "resolved", start, "2026-12-02T08:30:00Z"))
    r.add_alert(event("acme-1", "reopened", start, "2026-12-02T08:45:00Z"))
    assert brand(r.result())["alerts"][0]["resolved"] is None


def full_report(lang: str, tz: Any = UTC) -> str:
    r = week_report(brand_terms={"acme": frozenset({"acme"})}, min_term_count=2, tz=tz)
    r.add_mention(mention("p0", "2026-11-23T00:00:00+00:00", label="neutral"))
    for i in range(3):
        r.add_mention(mention(f"n{i}", f"2026-12-01T1{i}:00:00+00:00", label="negative",
                              followers=12000 + i, text="Acme panne totale"))
    r.add_mention(mention("u0", "2026-12-01T10:30:00+00:00", label=None, language="es"))
    r.add_mention(mention("x0", "2026-12-01T10:30:00+00:00", brands=()))
    r.add_alert(event("acme-1", "opened", "2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z",
                      observed=27, expected=2.3))
    return render(r.result(), lang)


def test_the_english_report() -> None:
    text = full_report("en")
    assert text.startswith("reputation report 2026-11-30T00:00Z .. 2026-12-07T00:00Z")
    assert "acme: 4 mentions" in text
    assert "previous period: 2026-11-23T00:00Z .. 2026-11-30T00:00Z" in text
    assert "  negative      3    75.0%" in text
    assert "  unscored      1    25.0%" in text
    assert "previous period: 1 mention, negative 0.0%; negative share +75.0 points" in text
    assert "boreal: 0 mentions" in text
    assert "previous period: 0 mentions, negative -\n" in text  # no change from nothing
    assert "2026-12-01         4     75.0%" in text
    assert "busiest hour: 2026-12-01 10:00 UTC (2 mentions)" in text
    assert ("acme-1: opened 2026-12-01 10:00 UTC, warning, still open; peak 27 negative, "
            "2.3 expected") in text
    assert "n2  2026-12-01 12:00 UTC  mastodon  12,002 followers  Acme panne totale" in text
    assert "veille mentions ID" in text
    assert "panne (3 negative of 3 mentions)" in text and "acme (" not in text
    assert "mentions of no brand: 1" in text


def test_the_french_report() -> None:
    text = full_report("fr", PARIS)
    assert text.startswith("rapport de réputation 2026-11-30T01:00+01:00 .. 2026-12-07T01:00+01:00 "
                           "(Europe/Paris)")
    assert f"acme{NBSP}: 4 mentions" in text
    assert f"  négatives     3   75,0{NBSP}%" in text
    assert f"  non évaluées  1   25,0{NBSP}%" in text
    assert f"période précédente{NBSP}: 1 mention, négatives 0,0{NBSP}%{NBSP}; part des négatives " \
           f"+75,0{NBSP}points" in text
    assert f"boreal{NBSP}: 0 mention\n" in text
    assert f"    2026-12-01         4    75,0{NBSP}%" in text
    assert "12\u202f002 abonnés" in text
    assert f"heure la plus chargée{NBSP}: 2026-12-01 11:00 CET (2 mentions)" in text
    assert "toujours ouverte" in text and "attendues" in text
    assert f"mentions sans marque{NBSP}: 1" in text
    assert "veille mentions ID" in text
    assert "positive " not in text.replace("positives", "")  # the headings translated


def test_the_json_is_the_report_s_figures() -> None:
    r = week_report()
    r.add_mention(mention("c0", "2026-12-01T08:00:00+00:00", label="negative"))
    result = r.result()
    again = json.loads(json.dumps(result))
    assert again == result
    assert set(result) == {"since", "until", "tz", "topic", "retention_days", "oldest_posted",
                           "previous", "brands", "no_brand"}
    assert result["since"] == "2026-11-30T00:00:00Z" and result["oldest_posted"] == "2026-12-01T08:00:00Z"


@pytest.mark.parametrize("top", [0, 3])
def test_top_zero_keeps_no_mention(top: int) -> None:
    r = week_report(top=top)
    for i in range(5):
        r.add_mention(mention(f"m{i}", "2026-12-01T08:00:00+00:00", label="negative", followers=i))
    assert [m["followers"] for m in brand(r.result())["top_negative"]] == [4, 3, 2][:top]


def test_unreadable_records_are_skipped() -> None:
    r = week_report()
    r.add_mention({"id": "x", "created_at": "not a time", "brands": ["acme"]})
    r.add_mention({"created_at": iso(at("2026-12-01T08:00:00+00:00")), "brands": ["acme"]})  # no id
    r.add_alert({"alert_id": "acme-9", "brand": "acme", "window_start": "nope"})
    result = r.result()
    assert brand(result)["mentions"] == 0 and brand(result)["alerts"] == []


def test_percentages_are_rounded_once_from_the_counts() -> None:
    # 1 of 26 is 3.846 %: shown 3.8 %, not 3.9 % (the JSON's 4-decimal share, 0.0385, rounded
    # again); 15 of 26, 57.7 %. The change in points from the counts too.
    r = week_report()
    r.add_mention(mention("p0", "2026-11-23T00:00:00+00:00", label="neutral"))
    for i in range(22):
        r.add_mention(mention(f"q{i}", "2026-11-24T08:00:00+00:00",
                              label="negative" if i < 7 else "neutral"))
    for i in range(26):
        r.add_mention(mention(f"c{i}", "2026-12-01T08:00:00+00:00",
                              label=None if i == 0 else "negative" if i < 11 else "positive"))
    result = r.result()
    a = brand(result)
    assert a["shares"]["unscored"] == 0.0385  # the JSON keeps its 4 decimals
    english, french = render(result, "en"), render(result, "fr")
    assert "  unscored       1     3.8%" in english
    assert f"  non évaluées   1    3,8{NBSP}%" in french
    assert "  positive      15    57.7%" in english
    # 7 of 23 before (p0 counts): 30.4 %; 10/26 - 7/23 = 8.03 points.
    assert "negative share +8.0 points" in english


def test_a_period_ending_before_the_topic_s_oldest_mention_is_said_to_be_none_of_it() -> None:
    # The week 2026-11-30 .. 12-07, the topic's oldest mention posted on 12-09: the report covers
    # nothing, it must not say it covers "from then" (its zeros read as a quiet week).
    r = week_report(tz=PARIS)
    r.add_mention(mention("c0", "2026-12-09T08:00:00+00:00"))
    result = r.result()
    assert result["brands"][0]["days"] == []
    english, french = start_note(result, "en"), start_note(result, "fr")
    assert english is not None and french is not None
    assert "after the period's end" in english and "covers from then" not in english
    assert "2026-12-09 09:00 CET" in english
    assert f"après la fin de la période{NBSP}:" in french and "part de là" not in french
    # A period that ends just at the oldest mention is not held either; one that ends after it is.
    r = week_report()
    r.add_mention(mention("c0", WEEK[1]))
    assert "after the period's end" in (start_note(r.result(), "en") or "")
    r = week_report()
    r.add_mention(mention("c0", "2026-12-06T23:00:00+00:00"))
    assert "covers from then" in (start_note(r.result(), "en") or "")


def test_french_agreement_of_followers_points_and_terms() -> None:
    # 1 abonné, 0 abonné (French: singular below 2), 1 follower; a change of 1.5 points is
    # "+1,5 point" in French; no term: "aucun" (un terme), where no alert story is "aucune".
    r = week_report(brands=["acme"])
    r.add_mention(mention("p0", "2026-11-23T00:00:00+00:00", label="neutral"))
    for i in range(199):
        r.add_mention(mention(f"q{i}", "2026-11-24T08:00:00+00:00", label="neutral"))
    r.add_mention(mention("c0", "2026-12-01T08:00:00+00:00", label="negative", followers=1))
    r.add_mention(mention("c1", "2026-12-01T09:00:00+00:00", label="negative", followers=0))
    for i in range(131):
        r.add_mention(mention(f"c{i + 2}", "2026-12-01T10:00:00+00:00", label="neutral"))
    result = r.result()
    assert brand(result)["negative_share_change_points"] == 1.5
    french, english = render(result, "fr"), render(result, "en")
    assert "  1 abonné  " in french and "  0 abonné  " in french and "abonnés" not in french
    assert "  1 follower  " in english and "  0 followers  " in english
    assert f"part des négatives +1,5{NBSP}point\n" in french
    assert "negative share +1.5 points\n" in english
    assert f"termes surreprésentés dans les mentions négatives{NBSP}: aucun\n" in french
    assert f"alertes{NBSP}: aucune\n" in french


def test_local_day_and_hour_cached_by_minute_as_computed() -> None:
    """BrandReport._local (cached by the minute) gives what datetime gives, across clock changes
    (Paris, Lord Howe's half-hour one), offsets of half and three quarters of an hour."""
    for name in ("Europe/Paris", "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns"):
        tz = ZoneInfo(name)
        report = BrandReport(0, 1, ["acme"], tz=tz)
        for start in (1774742400.0, 1792886400.0, 1775318400.0):  # 2026-03-29, 10-25, 04-05
            for k in range(0, 3 * 86400, 97):
                posted = start - 86400 + k + (k % 7) * 0.25 + (59.9999 if k % 11 == 0 else 0)
                local = datetime.fromtimestamp(posted, tz)
                assert report._local(posted) == (
                    local.date().isoformat(),
                    local.replace(minute=0, second=0, microsecond=0).timestamp()), (name, posted)


def test_the_previous_week_across_a_clock_change_is_counted_in_days_of_the_zone() -> None:
    """The week before one of Europe/Paris that follows the autumn change starts at its midnight
    (7 x 24 h + 1 h before), not at 01:00: a mention posted at 00:30 that Monday is in it."""
    r = BrandReport(at("2026-10-26T00:00:00+01:00"), at("2026-11-02T00:00:00+01:00"), ["acme"], tz=PARIS)
    assert r.result()["previous"]["since"] == "2026-10-18T22:00:00Z"  # 10-19 00:00 in Paris (+02:00)
    r.add_mention(mention("oldest", "2026-10-18T12:00:00+00:00", brands=()))  # the topic holds it
    r.add_mention(mention("monday", "2026-10-19T00:30:00+02:00", label="negative"))
    r.add_mention(mention("week", "2026-10-28T10:00:00+01:00"))
    a = brand(r.result())
    assert a["previous"] == {**a["previous"], "mentions": 1, "negative": 1}
    # In spring the week before is an hour shorter: its start is that Monday's midnight too.
    r = BrandReport(at("2026-03-30T00:00:00+02:00"), at("2026-04-06T00:00:00+02:00"), ["acme"], tz=PARIS)
    assert r.result()["previous"]["since"] == "2026-03-22T23:00:00Z"  # 03-23 00:00 in Paris (+01:00)
    # Not whole days, or in UTC: the same length before.
    r = BrandReport(at("2026-10-26T06:00:00+01:00"), at("2026-10-26T18:00:00+01:00"), ["acme"], tz=PARIS)
    assert r.result()["previous"]["since"] == "2026-10-25T17:00:00Z"


def test_terms_shown_with_their_accents_counted_accent_free_and_negated() -> None:
    """The report's terms read "reseau", "decu", "content" (of "pas content") to a French
    reader: counted folded, shown in the most accented spelling seen, whatever the order, a
    negated word as one term with its negator (2026-12-07)."""
    texts = [("negative", "Acme très DÉÇU, pas content"), ("negative", "acme decu, pas content"),
             ("negative", "Acme déçu pas content, problème"), ("negative", "probleme acme"),
             ("negative", "ACME PROBLEME"), ("positive", "Acme content, merci")]
    results = []
    for order in (texts, texts[::-1]):
        r = week_report(brand_terms={"acme": frozenset({"acme"})}, min_term_count=3)
        for n, (label, text) in enumerate(order):
            r.add_mention(mention(f"m{n}", "2026-12-01T08:00:00+00:00", label=label, text=text))
        results.append(r.result())
    assert brand(results[0])["terms"] == brand(results[1])["terms"]
    terms = {t["term"]: t["negative"] for t in brand(results[0])["terms"]}
    assert terms == {"déçu": 3, "pas content": 3, "problème": 3}
    assert "déçu (3 negative of 3" in render(results[0], "en")
