"""The Bluesky collector's pure parts: searches from the watch list, PostViews as raw mentions,
sort times, rate-limit resets, and the settings it refuses (no network, no broker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.records import InvalidMention, mention_from_dict
from tests.conftest import ROOT
from veille.collectors.bluesky import (
    BlueskyCollector,
    BlueskyConfigError,
    Query,
    post_to_dict,
    post_uri,
    queries_of,
    search_string,
    sort_at,
    valid_handle,
)
from veille.collectors.polling import parse_reset
from veille.metrics import CollectorMetrics
from veille.rules import Watchlist
from veille.settings import Settings

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
URI = f"at://{DID}/app.bsky.feed.post/3lbvz5kaj4k2x"


def view(**changes: Any) -> dict[str, Any]:
    post: dict[str, Any] = {
        "uri": URI, "cid": "bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5tnqa3mawf6vqy4",
        "author": {"did": DID, "handle": "Acme.bsky.social", "displayName": "Acme"},
        "record": {"$type": "app.bsky.feed.post", "text": "Acme\u0000 is down\nagain",
                   "createdAt": "2026-12-06T09:58:00.000Z", "langs": ["fr", "en"]},
        "indexedAt": "2026-12-06T09:58:01.120Z",
        "likeCount": 12, "repostCount": 3, "replyCount": 0, "quoteCount": 1,
    }
    post.update(changes)
    return post


def test_the_watch_lists_names_aliases_and_hashtags_are_one_search_each() -> None:
    watchlist = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")
    queries = queries_of(watchlist)
    assert queries[:4] == [Query("acme", '"Acme"'), Query("acme", '"Acme Mobile"'),
                           Query("acme", '"@acme_fr"'), Query("acme", "#AcmeDown")]
    assert Query("boreal", '"Boréal"') in queries
    assert all("Zéphyr" not in q.q for q in queries)  # keywords are no brand name
    assert len({q.q.casefold() for q in queries}) == len(queries)
    assert search_string("alias", 'Say "hi"  there') == '"Say hi there"'
    assert search_string("hashtag", "##Acme") == "#Acme"
    assert search_string("hashtag", "#") is None and search_string("alias", "  ") is None
    assert search_string("alias", "x" * 400) is None


def test_a_post_view_becomes_a_raw_mention() -> None:
    obj = post_to_dict(view(), collected_at=NOW, max_text_chars=5000)
    mention = mention_from_dict(obj, now=NOW)
    assert mention.id == post_to_dict(view(cid="other"), collected_at=NOW,
                                      max_text_chars=5000)["id"]  # from the URI alone
    assert mention.id.startswith("bluesky-") and len(mention.id) == len("bluesky-") + 32
    assert (mention.platform, mention.source, mention.author) == (
        "bluesky", "bluesky", "acme.bsky.social")
    assert mention.text == "Acme is down\nagain"
    assert mention.url == "https://bsky.app/profile/acme.bsky.social/post/3lbvz5kaj4k2x"
    assert obj["language"] == "fr"
    assert obj["audience"] == {"likes": 12, "shares": 3, "replies": 0}
    assert obj["created_at"] == "2026-12-06T09:58:00.000Z"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"uri": "https://bsky.app/profile/x/post/1"}, "invalid_field"),
    ({"uri": f"at://{DID}/app.bsky.feed.like/3lbvz5kaj4k2x"}, "invalid_field"),
    ({"uri": None}, "missing_field"),
    ({"record": "text"}, "missing_field"),
    ({"record": {"$type": "app.bsky.feed.repost", "text": "x",
                 "createdAt": "2026-12-06T09:58:00Z"}}, "invalid_field"),
])
def test_what_is_no_post_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidMention) as refused:
        post_to_dict(view(**changes), collected_at=NOW, max_text_chars=5000)
    assert refused.value.reason == reason


def test_odd_optional_fields_are_dropped_not_fatal() -> None:
    obj = post_to_dict(view(author={"did": DID, "handle": "handle.invalid"}, likeCount=-1,
                            repostCount=True, replyCount="3",
                            record={"text": "Acme", "createdAt": "2026-12-06T09:58:00Z",
                                    "langs": [7]}),
                       collected_at=NOW, max_text_chars=5000)
    assert obj["author"] == DID
    assert obj["url"] == f"https://bsky.app/profile/{DID}/post/3lbvz5kaj4k2x"
    assert obj["audience"] is None and obj["language"] is None
    mention_from_dict(obj, now=NOW)


def test_uris_handles_and_sort_times() -> None:
    assert post_uri(URI) == (DID, "3lbvz5kaj4k2x")
    assert post_uri(URI + "/x") is None and post_uri(42) is None
    assert post_uri(f"at://{DID}/app.bsky.feed.post/a b") is None
    # "." and "..": no record keys; the post's URL, …/post/.., would be its author's profile.
    assert post_uri(f"at://{DID}/app.bsky.feed.post/..") is None
    assert post_uri(f"at://{DID}/app.bsky.feed.post/.") is None
    assert valid_handle("Jay.BSKY.team") == "jay.bsky.team"
    assert valid_handle("javascript:alert(1)") is None and valid_handle("nodot") is None
    # sortAt: the earlier of createdAt and indexedAt (a post dated ahead sorts at its indexing).
    assert sort_at(view()) == datetime(2026, 12, 6, 9, 58, tzinfo=UTC)
    ahead = view(record={"text": "x", "createdAt": "2030-01-01T00:00:00Z"})
    assert sort_at(ahead) == datetime(2026, 12, 6, 9, 58, 1, 120000, tzinfo=UTC)
    assert sort_at(view(record={"createdAt": "soon"}, indexedAt=None)) is None
    # A time no post has (year 1, year 9999) is none: a cursor of it overflowed.
    year_one = view(record={"text": "x", "createdAt": "0001-01-01T00:00:00Z"})
    assert sort_at(year_one) == datetime(2026, 12, 6, 9, 58, 1, 120000, tzinfo=UTC)
    assert sort_at(view(record={"createdAt": "0001-01-01T00:00:00Z"},
                        indexedAt="9999-12-31T23:59:59.999Z")) is None


def test_rate_limit_resets_as_unix_times_seconds_or_dates() -> None:
    now = 1_800_000_000.0
    assert parse_reset("1800000060", now=now) == 1_800_000_060.0  # Bluesky: a Unix time
    assert parse_reset("30", now=now) == now + 30  # the IETF draft: seconds from now
    assert parse_reset("2027-01-15T08:00:00.000Z") == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    for bad in ("", "soon", "inf", "nan", "-5", "1e999"):
        assert parse_reset(bad, now=now) is None
    assert abs((parse_reset("0") or 0) - time.time()) < 5


def collector(tmp_path: Path, **settings: Any) -> BlueskyCollector:
    s = Settings.from_env({}, collector_state_dir=str(tmp_path), collector_metrics_port=0,
                          **settings)
    return BlueskyCollector(s, CollectorMetrics(CollectorRegistry()))


@pytest.mark.parametrize(("settings", "message"), [
    ({"bluesky_url": ""}, "VEILLE_BLUESKY_URL is empty"),
    ({"bluesky_url": "https://public.api.bsky.app/xrpc/"}, "holds an API path"),
    ({"bluesky_url": "ftp://public.api.bsky.app"}, "must be an http:// or https://"),
    ({"bluesky_url": "https://me:pw@public.api.bsky.app"}, "must not hold user:password@"),
    ({"bluesky_handle": "acme.example"}, "go together"),
    ({"bluesky_app_password": "abcd-efgh"}, "go together"),
    ({"bluesky_handle": "acme.example", "bluesky_app_password": "abcd-efgh",
      "bluesky_pds_url": "http://pds.example"}, "would be sent in clear"),
    ({"bluesky_interval_seconds": 5.0}, "VEILLE_BLUESKY_INTERVAL_SECONDS=5.0 must be in 30..86400"),
])
def test_bad_settings_are_refused_before_anything_runs(tmp_path: Path, settings: dict[str, Any],
                                                       message: str) -> None:
    with pytest.raises(BlueskyConfigError, match=message):
        collector(tmp_path, **settings).check_config()


def test_good_settings_pass(tmp_path: Path) -> None:
    collector(tmp_path).check_config()  # the public AppView, no account
    c = collector(tmp_path, bluesky_handle="acme.example", bluesky_app_password="abcd-efgh",
                  bluesky_pds_url="http://127.0.0.1:2583/")
    c.check_config()  # a PDS on loopback may be http://
    assert c.search_base == "http://127.0.0.1:2583"


ACME_DID = "did:plc:acmeacmeacmeacmeacmeacme"


def test_the_collector_keeps_no_post_of_the_brands_own_accounts_found_by_its_search(
        tmp_path: Path) -> None:
    """A post found by a brand's search whose author is one of that brand's `bluesky_accounts`
    is its own (no mention of it); found by another brand's search, it is that one's mention.
    The accounts follow the watch list."""
    c = collector(tmp_path)
    c.use_watchlist(Watchlist.from_dict({"brands": [
        {"id": "acme", "name": "Acme", "hashtags": ["AcmeDown"], "bluesky_accounts": [ACME_DID]},
        {"id": "boreal", "name": "Boréal"}]}))
    own = view(author={"did": ACME_DID, "handle": "acme.example"},
               uri=f"at://{ACME_DID}/app.bsky.feed.post/3lbvz5kaj4k2x")
    assert not c.keep('"Acme"', own) and not c.keep("#AcmeDown", own)
    assert c.keep('"Boréal"', own)  # another brand's search: its mention
    assert c.keep('"Acme"', view())  # a customer's
    for odd in (view(author=None), view(author={"did": 42}), "not a post"):
        assert c.keep('"Acme"', odd)  # refused or sent as before, not dropped here
    c.use_watchlist(Watchlist.from_dict({"brands": [{"id": "acme", "name": "Acme"}]}))
    assert c.keep('"Acme"', own)  # the account taken off the watch list
