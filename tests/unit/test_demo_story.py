"""The shipped demo sample tells its crisis: enriched by the real analysis and counted by the
crisis monitor as the spike agent counts it, it raises one alert story for acme during the
injected outage and none for boreal; and the story reads well as text (veille.alerts_view)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from agents.enrich import Enricher
from agents.spikes import brand_terms
from veille import demo
from veille.alerts_view import describe
from veille.crisis import STOPWORDS, BrandMonitor
from veille.demo import DEFAULT_EPISODE
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.settings import packaged_watchlist


@pytest.fixture(scope="module")
def events() -> dict[str, list[dict[str, Any]]]:
    watchlist = Watchlist.from_toml(packaged_watchlist())
    enricher = Enricher(Analyzer(), watchlist)
    names = brand_terms(watchlist)
    rows = []
    for line in demo.SAMPLE_PATH.read_bytes().splitlines():
        mention_id = json.loads(line)["id"]
        enriched = enricher.handle(mention_id.encode(), line, None).enriched
        assert enriched is not None, mention_id  # the sample is all valid and unique
        negative = enriched.sentiment is not None and enriched.sentiment.label == "negative"
        for brand in enriched.brands:
            rows.append((enriched.raw.created_at.timestamp(), brand, mention_id, negative,
                         int(enriched.raw.audience.get("followers") or 0), enriched.raw.text))
    rows.sort()
    monitors = {b.id: BrandMonitor(b.id, brand_terms=names[b.id]) for b in watchlist.brands}
    out: dict[str, list[dict[str, Any]]] = {b: [] for b in monitors}
    for t, brand, mention_id, negative, audience, text in rows:
        out[brand] += monitors[brand].observe(mention_id, t, negative, audience, text)
    return out


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_the_acme_outage_is_one_story_alerted_within_two_buckets(events) -> None:
    acme = events["acme"]
    assert [e["event"] for e in acme] == ["opened", "escalated", "resolved"]
    assert len({e["alert_id"] for e in acme}) == 1
    begin, end = DEFAULT_EPISODE.window(demo.SAMPLE_START)
    opened = acme[0]
    assert begin <= at(opened["window_start"]) < begin + timedelta(minutes=10)
    # Still the brand's first day: expected is its usual share (about 13 %) of the bucket's
    # mentions; the outage's bucket has nearly three times that share negative.
    assert opened["observed_negative"] > 2.5 * opened["expected_negative"]
    resolved = acme[-1]
    assert at(resolved["window_end"]) >= end - timedelta(minutes=30)
    assert resolved["window_end"] < "2026-01-05T12:00:00Z"  # within the sample: seen in the demo


def test_the_steady_brand_raises_nothing(events) -> None:
    assert events["boreal"] == []


def test_rising_terms_are_words_about_the_crisis_not_the_brand_nor_grammar(events) -> None:
    terms = events["acme"][0]["rising_terms"]
    assert terms
    assert not [t for t in terms if t.lstrip("#@") in STOPWORDS or "acme" in t]
    assert {"panne", "#panne", "outage", "reseau", "signal"} & set(terms)


def test_the_story_as_text(events) -> None:
    lines = [describe(e) for e in events["acme"]]
    assert lines[0].startswith("acme OPENED (warning) 2026-01-05 08:3")
    assert " negative of " in lines[0] and " expected; rising: " in lines[0]
    assert lines[0].endswith(f"[{events['acme'][0]['alert_id']}]")
    assert lines[1].startswith("acme ESCALATED (critical) ")
    assert lines[2].startswith("acme resolved (critical) 2026-01-05 08:3")
    assert "story over" in lines[2] and "rising" not in lines[2]
    assert all("\n" not in line for line in lines)
