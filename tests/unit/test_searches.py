"""How many brand terms the Bluesky and Reddit collectors search a round: 50, or more when their
interval leaves time for them at SEARCHES_PER_MINUTE (veille/collectors/searches.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.collectors.bluesky import BlueskyCollector, BlueskyConfigError
from veille.collectors.reddit import RedditCollector, RedditConfigError
from veille.collectors.searches import SEARCHES_PER_MINUTE, Query, searches_allowed


def queries(n: int) -> list[Query]:
    return [Query(f"brand{i:03d}", f'"Brand{i:03d}"') for i in range(n)]


def test_the_cap_grows_with_the_interval_and_never_falls_under_50() -> None:
    assert SEARCHES_PER_MINUTE == 25
    assert searches_allowed(50, None) == 50
    assert searches_allowed(50, 30) == searches_allowed(50, 120) == 50  # the defaults' rounds
    assert searches_allowed(50, 600) == 250
    assert searches_allowed(50, 1440) == 600  # 300 brands with an alias each: every 24 min


@pytest.mark.parametrize(("collector", "error", "setting"), [
    (RedditCollector, RedditConfigError, "VEILLE_REDDIT_INTERVAL_SECONDS"),
    (BlueskyCollector, BlueskyConfigError, "VEILLE_BLUESKY_INTERVAL_SECONDS"),
])
def test_an_agencys_300_brands_are_searched_at_a_longer_interval(
        collector: type[RedditCollector] | type[BlueskyCollector], error: type[Exception],
        setting: str) -> None:
    """600 searches were refused whatever the interval ("more than 50 ... keep the ones that
    matter"): an agency watching 300 brands could not use these collectors (found in review,
    2026-12-07). Refused at a round of 120 s, with the interval they need named; taken at it."""
    path = Path("watchlist.toml")
    with pytest.raises(error) as refused:
        collector.check_queries(queries(600), path, 120.0)
    said = str(refused.value)
    assert "600 brand names, aliases and hashtags" in said and "more than 50" in said, said
    assert f"set {setting} to 1440 or more (a round every 24 minutes)" in said, said
    collector.check_queries(queries(600), path, 1440.0)  # no error
    with pytest.raises(error, match="more than 249"):
        collector.check_queries(queries(600), path, 599.0)
    with pytest.raises(error, match="no brand to search"):
        collector.check_queries([], path, 1440.0)
