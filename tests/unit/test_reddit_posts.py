"""The Reddit collector's pure parts: searches from the watch list, Listing children as raw
mentions, its rate-limit reset, and the settings it refuses (no network, no broker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.records import InvalidMention, mention_from_dict
from veille.collectors.polling import parse_reset
from veille.collectors.reddit import (
    Query,
    RedditCollector,
    RedditConfigError,
    post_to_dict,
    queries_of,
    search_string,
)
from veille.metrics import CollectorMetrics
from veille.rules import Watchlist
from veille.settings import Settings

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def child(**data: Any) -> dict[str, Any]:
    base = {"id": "1abcde", "name": "t3_1abcde", "title": "Panne chez Acme",
            "selftext": "Depuis ce matin.", "author": "camille_fr",
            "permalink": "/r/france/comments/1abcde/panne_chez_acme/",
            "created_utc": NOW.timestamp() - 600, "score": 42, "num_comments": 7}
    return {"kind": "t3", "data": {**base, **data}}


def mention(c: Any) -> Any:
    return mention_from_dict(post_to_dict(c, collected_at=NOW, max_text_chars=5000), now=NOW)


def test_search_strings_and_queries_of_the_watch_list(tmp_path: Path) -> None:
    assert search_string("alias", 'Acme "Mobile"  ') == '"Acme Mobile"'
    assert search_string("hashtag", "#AcmeDown") == '"AcmeDown"'  # Reddit has no hashtags
    assert search_string("alias", "  ") is None
    assert search_string("alias", "x" * 600) is None
    path = tmp_path / "w.toml"
    path.write_text('[[brands]]\nid = "acme"\nname = "Acme"\naliases = ["ACME"]\n'
                    'keywords = ["fibre"]\nhashtags = ["#Acme", "#AcmeDown"]\n'
                    '[[brands]]\nid = "boreal"\nname = "Boréal"\n', encoding="utf-8")
    # Once each, case ignored (a hashtag spelling the name is the same search); no keywords.
    assert queries_of(Watchlist.from_toml(path)) == [
        Query("acme", '"Acme"'), Query("acme", '"AcmeDown"'), Query("boreal", '"Boréal"')]


def test_a_link_becomes_a_raw_mention() -> None:
    m = mention(child())
    assert (m.id, m.source, m.platform, m.author) == ("reddit-t3_1abcde", "reddit", "reddit",
                                                      "camille_fr")
    assert m.text == "Panne chez Acme\n\nDepuis ce matin."
    assert m.url == "https://www.reddit.com/r/france/comments/1abcde/panne_chez_acme/"
    assert m.created_at == datetime.fromtimestamp(NOW.timestamp() - 600, UTC)
    assert m.audience == {"likes": 42, "replies": 7}


@pytest.mark.parametrize(("data", "author", "text", "audience"), [
    ({"author": "[deleted]"}, None, "Panne chez Acme\n\nDepuis ce matin.", {"likes": 42, "replies": 7}),
    ({"selftext": "[removed]"}, "camille_fr", "Panne chez Acme", {"likes": 42, "replies": 7}),
    ({"selftext": "", "score": -5, "num_comments": True}, "camille_fr", "Panne chez Acme", {}),
    ({"name": None}, "camille_fr", "Panne chez Acme\n\nDepuis ce matin.", {"likes": 42, "replies": 7}),
])
def test_what_reddit_leaves_out_is_left_out(data: dict[str, Any], author: str | None, text: str,
                                            audience: dict[str, int] | None) -> None:
    m = mention(child(**data))
    assert (m.id, m.author, m.text, m.audience) == ("reddit-t3_1abcde", author, text, audience)


@pytest.mark.parametrize(("c", "reason"), [
    ("a string", "not_an_object"),
    ({"kind": "t1", "data": child()["data"]}, "invalid_field"),
    ({"kind": "t3"}, "missing_field"),
    (child(name=None, id=None), "missing_field"),
    (child(name="t3_../etc", id=None), "invalid_field"),
    (child(title="[deleted]", selftext="[removed]"), "missing_field"),
    (child(created_utc=None), "missing_field"),
    (child(created_utc="yesterday"), "invalid_field"),
    (child(created_utc=True), "invalid_field"),
])
def test_a_child_that_is_no_post_is_refused_with_its_reason(c: Any, reason: str) -> None:
    with pytest.raises(InvalidMention) as exc:
        mention(c)
    assert exc.value.reason == reason


def test_a_permalink_that_is_no_path_gives_no_url() -> None:
    assert mention(child(permalink="//evil.example/x")).url is None
    assert mention(child(permalink="https://evil.example/x")).url is None


def test_the_rate_limit_reset_is_seconds_from_now() -> None:
    assert parse_reset("412", now=1000.0) == 1412.0
    assert abs((parse_reset("12.5") or 0) - (time.time() + 12.5)) < 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"reddit_client_id": ""}, "VEILLE_REDDIT_CLIENT_ID and VEILLE_REDDIT_CLIENT_SECRET are required"),
    ({"reddit_client_secret": ""}, "are required"),
    ({"reddit_client_id": "a:b"}, "VEILLE_REDDIT_CLIENT_ID must be"),
    ({"reddit_api_url": "http://oauth.reddit.example"}, "VEILLE_REDDIT_API_URL=.* is http://"),
    ({"reddit_auth_url": "https://www.reddit.com/api/v1/access_token"}, "holds an API path"),
    ({"reddit_api_url": "https://user:pw@oauth.reddit.com"}, "must not hold user:password@"),
    ({"reddit_user_agent": " "}, "VEILLE_REDDIT_USER_AGENT is empty"),
    # 100,000 characters: every token request answered 400, reported as credentials refused
    # (found in review, 2026-12-07).
    ({"reddit_user_agent": "a" * 513}, "VEILLE_REDDIT_USER_AGENT is 513 characters long"),
    ({"reddit_interval_seconds": 10.0}, r"VEILLE_REDDIT_INTERVAL_SECONDS=10.0 must be in 30..86400"),
])
def test_bad_settings_are_refused_before_anything_runs(tmp_path: Path, changes: dict[str, Any],
                                                       message: str) -> None:
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path), **{
        "reddit_client_id": "app", "reddit_client_secret": "secret", **changes})
    collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()))
    with pytest.raises(RedditConfigError, match=message):
        collector.check_config()


def test_the_secret_is_read_from_a_file_and_the_user_agent_must_be_a_header(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    settings = Settings.from_env({"VEILLE_REDDIT_CLIENT_SECRET_FILE": str(secret)})
    assert settings.reddit_client_secret == "from-a-file"
    assert "from-a-file" not in repr(settings)
    from veille.settings import SettingsError

    with pytest.raises(SettingsError, match="VEILLE_REDDIT_USER_AGENT=.* an HTTP header"):
        Settings.from_env({"VEILLE_REDDIT_USER_AGENT": "veille\nX-Evil: 1"})


def test_a_second_reddit_collector_on_the_same_state_folder_stops_at_start(tmp_path: Path) -> None:
    """The state folder's lock (StateStore) holds for the Reddit collector as for the others: a
    cron `--once` started while the service runs would send the same posts and overwrite its
    cursors."""
    import asyncio

    from veille.collectors.rss import StateDirError

    settings = Settings.from_env({}, collector_state_dir=str(tmp_path), reddit_client_id="app",
                                 reddit_client_secret="secret")
    queries = [Query("acme", '"Acme"')]
    first = RedditCollector(settings, CollectorMetrics(CollectorRegistry()), queries=queries)
    second = RedditCollector(settings, CollectorMetrics(CollectorRegistry()), queries=queries)

    async def scenario() -> None:
        await first.start()
        try:
            with pytest.raises(StateDirError, match="in use by another collector"):
                await second.start()
        finally:
            await first.close()
            await second.close()
        await second.start()  # let go by the first: taken
        await second.close()

    asyncio.run(scenario())


def test_an_integer_too_large_for_a_float_is_no_number_not_a_crash(tmp_path: Path) -> None:
    """JSON reads 1 followed by 400 zeros as an int, which math.isfinite cannot take
    (OverflowError): a post holding one as its created_utc failed its whole search at every
    round, and a state file holding one stopped the collector at start (found in review,
    2026-12-07)."""
    import asyncio
    import json

    from veille.collectors.reddit import created_utc

    huge = 10**400
    assert created_utc(child(created_utc=huge)) is None
    assert not mention(child(score=huge, num_comments=-huge)).audience
    with pytest.raises(InvalidMention):
        mention(child(created_utc=huge))

    settings = Settings.from_env({}, collector_state_dir=str(tmp_path), reddit_client_id="app",
                                 reddit_client_secret="secret")
    collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()),
                                queries=[Query("acme", '"Acme"')])
    (tmp_path / "reddit").mkdir()
    key = collector._state_key('"Acme"')
    collector.store.path(key).write_text(json.dumps({
        "version": 1, "service": collector.api_base, "cursor": huge, "start": huge,
        "recent": {"t3_abc": huge, "t3_abd": 12.0}}), encoding="utf-8")

    async def scenario() -> None:
        await collector.start()
        await collector.close()

    asyncio.run(scenario())
    assert (collector.cursors['"Acme"'], collector.starts['"Acme"']) == (None, None)
    assert collector.recent['"Acme"'] == {"t3_abd": 12.0}


@pytest.mark.parametrize("author", [
    "ev\nil", "evil\x1b[2J", "\u202eevil", "two words", "x" * 65, "evil\r\nX-Forged: 1", "",
])
def test_an_author_that_is_no_reddit_username_is_none(author: str) -> None:
    """Found in review, 2026-12-07: `author` went into the record as it came, line breaks,
    escape sequences and bidi overrides included (a reader's terminal, a log line, a dashboard
    showing the authors). A Reddit username is letters, digits, `_` and `-`."""
    assert mention(child(author=author)).author is None
    assert mention(child(author="Camille_fr-2")).author == "Camille_fr-2"


def test_a_state_file_holds_at_most_max_recent_fullnames_once_loaded(tmp_path: Path) -> None:
    """Found in review, 2026-12-07: a search's state file was loaded whole, its `recent`
    fullnames kept until the search's next good round (2 million of them: 4 s and ~450 MB at
    start); the newest MAX_RECENT are kept, as a round saves them."""
    import asyncio
    import json

    from veille.collectors.reddit import MAX_RECENT

    settings = Settings.from_env({}, collector_state_dir=str(tmp_path), reddit_client_id="app",
                                 reddit_client_secret="secret")
    collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()),
                                queries=[Query("acme", '"Acme"')])
    (tmp_path / "reddit").mkdir()
    recent = {f"t3_{i:x}": 1000.0 + i for i in range(MAX_RECENT + 50)}
    collector.store.path(collector._state_key('"Acme"')).write_text(json.dumps({
        "version": 1, "service": collector.api_base, "cursor": 5000.0, "start": [1],
        "recent": recent}), encoding="utf-8")

    async def scenario() -> None:
        await collector.start()
        await collector.close()

    asyncio.run(scenario())
    loaded = collector.recent['"Acme"']
    assert len(loaded) == MAX_RECENT and min(loaded.values()) == 1050.0
    assert (collector.cursors['"Acme"'], collector.starts['"Acme"']) == (5000.0, None)
