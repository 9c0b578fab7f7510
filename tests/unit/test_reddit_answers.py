"""The brand's Reddit accounts: the watch list's `reddit_accounts`, a brand's own posts left out
of its mentions, and its replies (its accounts' comments) as `replied` decisions (no network,
no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.conftest import ROOT
from veille.collectors.reddit import (
    AccountsOf,
    Query,
    RedditCollector,
    RedditConfigError,
    answer_of,
    check_queries,
    queries_of,
)
from veille.metrics import CollectorMetrics
from veille.moderation.cases import Decision
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OWN = AccountsOf("acme", {"acme_support": "acme", "acmefr": "acme", "boreal_help": "boreal"})


def reply(**data: Any) -> dict[str, Any]:
    """A t1 child of /user/<name>/comments, as Reddit gives it (raw_json=1)."""
    base = {"name": "t1_kq1abc", "id": "kq1abc", "parent_id": "t3_1abcde", "link_id": "t3_1abcde",
            "link_author": "camille_fr", "author": "Acme_Support",
            "created_utc": NOW.timestamp() - 60, "subreddit": "france",
            "permalink": "/r/france/comments/1abcde/panne_chez_acme/kq1abc/",
            "body": "Bonjour Camille, on regarde : écrivez-nous en message privé."}
    return {"kind": "t1", "data": {**base, **data}}


# -- the watch list ---------------------------------------------------------------------------


def test_a_brand_lists_its_reddit_accounts_with_or_without_u_slash() -> None:
    wl = Watchlist.from_dict({"brands": [
        {"id": "acme", "reddit_accounts": ["u/Acme_Support", "AcmeFR", "/u/acme-news"]},
        {"id": "boreal"}]})
    assert [b.reddit_accounts for b in wl.brands] == [("Acme_Support", "AcmeFR", "acme-news"), ()]


@pytest.mark.parametrize("value", ["ab", "a" * 21, "acme support", "u/", "r/acme", "acmé",
                                   "https://www.reddit.com/user/acme", "acme\n", 42, None])
def test_a_reddit_account_that_is_no_username_is_refused_naming_the_brand_and_value(
        value: Any) -> None:
    with pytest.raises(WatchlistError) as exc:
        Watchlist.from_dict({"brands": [{"id": "acme", "reddit_accounts": [value]}]})
    assert "acme.reddit_accounts" in str(exc.value) and repr(value)[:40] in str(exc.value)
    with pytest.raises(WatchlistError, match="acme.reddit_accounts must be a list"):
        Watchlist.from_dict({"brands": [{"id": "acme", "reddit_accounts": "acme_support"}]})


def test_an_account_given_to_two_brands_or_twice_is_refused_case_aside() -> None:
    with pytest.raises(WatchlistError,
                       match="boreal.reddit_accounts: u/ACME_SUPPORT is also acme's"):
        Watchlist.from_dict({"brands": [{"id": "acme", "reddit_accounts": ["acme_support"]},
                                        {"id": "boreal", "reddit_accounts": ["u/ACME_SUPPORT"]}]})
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brands": [{"id": "acme",
                                         "reddit_accounts": ["acme_support", "u/Acme_Support"]}]})
    with pytest.raises(WatchlistError, match="at most 20"):
        Watchlist.from_dict({"brands": [{"id": "acme",
                                         "reddit_accounts": [f"acme_{i}" for i in range(21)]}]})


def test_each_account_is_a_source_counted_in_the_request_budget(tmp_path: Path) -> None:
    wl = Watchlist.from_dict({"brands": [
        {"id": "acme", "name": "Acme", "reddit_accounts": ["u/Acme_Support"]},
        {"id": "boreal", "name": "Boréal"}]})
    assert queries_of(wl) == [Query("acme", '"Acme"'), Query("boreal", '"Boréal"'),
                              Query("acme", "u/Acme_Support")]
    path = tmp_path / "watchlist.toml"
    many = [Query("acme", f'"Acme {i}"') for i in range(45)]
    check_queries([*many, *[Query("acme", f"u/acme_{i}") for i in range(5)]], path)
    with pytest.raises(RedditConfigError) as exc:
        check_queries([*many, *[Query("acme", f"u/acme_{i}") for i in range(6)]], path)
    said = str(exc.value)
    assert "45 searches and 6 accounts' comments" in said and "more than 50" in said, said
    # A longer interval leaves time for more (25 requests a minute).
    check_queries([*many, *[Query("acme", f"u/acme_{i}") for i in range(6)]], path, 180.0)


# -- the brand's replies ----------------------------------------------------------------------


def test_a_reply_to_a_customers_post_is_a_replied_decision_valid_against_the_schema() -> None:
    import jsonschema

    decision = answer_of(reply(), OWN, "acme_support")
    assert decision == {
        "case_id": "reddit-t3_1abcde", "decision": "replied", "moderator": "u/Acme_Support",
        "decided_at": "2026-12-07T08:59:00.000Z",
        "reason": "https://www.reddit.com/r/france/comments/1abcde/panne_chez_acme/kq1abc/",
        "answered_on": "reddit"}
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    jsonschema.validate(decision, schema)
    assert Decision.from_dict(decision).answered_on == "reddit"
    # No permalink: a short text; no valid author: the account read.
    other = answer_of(reply(permalink=None, author="[deleted]"), OWN, "acme_support")
    assert other is not None
    assert (other["reason"], other["moderator"]) == (
        "answered on Reddit (comment t1_kq1abc)", "u/acme_support")
    jsonschema.validate(other, schema)


@pytest.mark.parametrize("change", [
    {"link_author": "AcmeFR"},  # the brand's own post (another of its accounts, case aside)
    {"link_author": "acme_support"},
    {"parent_id": "t1_kp9zzz"},  # a reply to a comment: veille collects no Reddit comment
    {"parent_id": None}, {"parent_id": "t3_"}, {"created_utc": None}, {"name": "kq1abc"},
    {"created_utc": 1e20}, {"created_utc": -1.0}, {"created_utc": True},
])
def test_a_reply_to_the_brands_own_post_or_to_a_comment_answers_none(change: dict[str, Any]) -> None:
    assert answer_of(reply(**change), OWN, "acme_support") is None


def test_a_reply_to_another_brands_account_post_answers_it() -> None:
    assert answer_of(reply(link_author="boreal_help"), OWN, "acme_support") is not None
    assert answer_of({"kind": "t3", "data": reply()["data"]}, OWN, "acme_support") is None
    assert answer_of("no child", OWN, "acme_support") is None


def test_the_collector_keeps_no_comment_and_not_the_brands_own_posts(tmp_path: Path) -> None:
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path))
    collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()), queries=[
        Query("acme", '"Acme"'), Query("boreal", '"Boréal"'), Query("acme", "u/Acme_Support")])
    collector._brand_of = {q.q: q.brand for q in collector.queries or []}
    post = {"kind": "t3", "data": {"name": "t3_1abcde", "author": "ACME_support"}}
    assert not collector.keep('"Acme"', post)  # the brand's own post, found by its search
    assert collector.keep('"Boréal"', post)  # another brand's search: its mention
    assert collector.keep('"Acme"', {"kind": "t3", "data": {"name": "t3_2", "author": "lea"}})
    assert not collector.keep("u/Acme_Support", reply())
    assert collector.item_key(reply()) == "t1_kq1abc"
    record = collector.answer("u/Acme_Support", reply())
    assert record is not None and record.key == b"reddit-t3_1abcde"
    assert record.topic == settings.topic("moderation.decisions")
    assert json.loads(record.value)["answered_on"] == "reddit"
    assert collector.answer('"Acme"', {"kind": "t3", "data": reply()["data"]}) is None


def test_a_changed_watch_list_counts_the_brand_accounts_apart_from_the_searches(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Found in review, 2026-12-07: "watch list changed: 3 searches" counted the brand accounts
    as searches (the Mastodon collector's says "hashtags and brand accounts")."""
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path))
    collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()),
                                queries=[Query("acme", '"Acme"')])
    with caplog.at_level("INFO", logger="veille"):
        collector.use_watchlist(Watchlist.from_dict({"brands": [
            {"id": "acme", "name": "Acme", "reddit_accounts": ["Acme_Support"]},
            {"id": "boreal", "name": "Boréal", "reddit_accounts": ["boreal_help"]}]}))
    [line] = [r.getMessage() for r in caplog.records if "watch list changed" in r.getMessage()]
    assert line.startswith("reddit: watch list changed: 2 searches and 2 brand accounts of 2 "
                           "brands from this round on (added: "), line
