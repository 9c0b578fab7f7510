"""The Jetstream collector's pure parts: events read (posts, events ignored, events refused with
their reason), the cursor's bookkeeping, the URL it refuses, and the same id as the Bluesky
search collector's for the same post; and an event the collector itself fails on, refused alone
(no network, no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.bluesky import post_to_dict
from veille.collectors.jetstream import (
    JetstreamCollector,
    JetstreamConfigError,
    check_url,
    check_urls,
)
from veille.collectors.jetstream_events import (
    MAX_EVENT_BYTES,
    MAX_RECENT,
    CursorBook,
    Refused,
    read_event,
)
from veille.metrics import CollectorMetrics
from veille.rules import Match
from veille.settings import Settings

DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
T = 1725911162329308


def event(**changes: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "did": DID, "time_us": T, "kind": "commit",
        "commit": {"rev": "3l3qo2vutsw2b", "operation": "create",
                   "collection": "app.bsky.feed.post", "rkey": "3l3qo2vutsw2b",
                   "record": {"$type": "app.bsky.feed.post", "text": "Acme again",
                              "createdAt": "2024-09-09T19:46:02.102Z", "langs": ["en"]},
                   "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"}}
    e.update(changes)
    return e


def commit(**changes: Any) -> dict[str, Any]:
    e = event()
    e["commit"].update(changes)
    return e


def test_a_post_created_is_read_with_its_time() -> None:
    time_us, post = read_event(json.dumps(event()))
    assert time_us == T and post is not None
    assert (post.did, post.rkey, post.text) == (DID, "3l3qo2vutsw2b", "Acme again")
    assert post.uri == f"at://{DID}/app.bsky.feed.post/3l3qo2vutsw2b"


def test_the_same_post_has_the_search_collectors_id_url_and_language() -> None:
    _, post = read_event(json.dumps(event()))
    assert post is not None
    now = datetime(2024, 9, 9, 20, 0, tzinfo=UTC)
    mine = post_to_dict(post.view(), collected_at=now, max_text_chars=5000)
    searched = post_to_dict({"uri": post.uri, "record": post.record, "likeCount": 3,
                             "author": {"did": DID, "handle": "acme.bsky.social"}},
                            collected_at=now, max_text_chars=5000)
    assert mine["id"] == searched["id"]
    assert (mine["author"], mine["audience"], mine["language"]) == (DID, None, "en")
    assert mine["url"] == f"https://bsky.app/profile/{DID}/post/3l3qo2vutsw2b"


@pytest.mark.parametrize("e", [
    commit(operation="update"), commit(operation="delete", record=None),
    commit(collection="app.bsky.feed.like"),
    {"did": DID, "time_us": T, "kind": "identity", "identity": {"handle": "x.bsky.social"}},
    {"did": DID, "time_us": T, "kind": "account", "account": {"active": False}},
    {"did": DID, "time_us": T, "kind": "something-new"},
])
def test_other_events_are_ignored_but_move_the_cursor(e: dict[str, Any]) -> None:
    assert read_event(json.dumps(e)) == (T, None)


@pytest.mark.parametrize(("raw", "reason", "has_time"), [
    ("{nope", "invalid_json", False),
    ("[" * 100_000, "invalid_json", False),
    ("42", "not_an_object", False),
    (json.dumps(event(time_us="soon")), "invalid_field", False),
    (json.dumps(event(time_us=True)), "invalid_field", False),
    (json.dumps(event(time_us=2**70)), "invalid_field", False),  # beyond 64 bits
    (json.dumps(event(time_us=-T)), "invalid_field", False),
    (json.dumps(event(time_us=float(T))), "invalid_field", False),
    (json.dumps(event(time_us=str(T))), "invalid_field", False),
    ('{"time_us": NaN, "kind": "commit"}', "invalid_field", False),
    ('{"time_us": 1e400, "kind": "commit"}', "invalid_field", False),
    ('{"time_us": ' + "9" * 5000 + "}", "invalid_json", False),  # past int's digit limit
    (json.dumps(commit(rkey="3l3q\ud800")), "invalid_field", True),
    (json.dumps({k: v for k, v in event().items() if k != "time_us"}), "missing_field", False),
    (json.dumps(event(kind=None)), "invalid_field", True),
    (json.dumps(event(commit="x")), "invalid_field", True),
    (json.dumps(event(did="did:plc:bad did")), "invalid_field", True),
    (json.dumps(commit(rkey="../../x")), "invalid_field", True),
    (json.dumps(commit(rkey="..")), "invalid_field", True),  # its URL would be the profile's
    (json.dumps(commit(rkey=".")), "invalid_field", True),
    (json.dumps(commit(rkey="3l3q/../x")), "invalid_field", True),
    (json.dumps(commit(rkey="x?y#z")), "invalid_field", True),
    (json.dumps(event(did="did:plc:a/../b")), "invalid_field", True),
    (json.dumps(event(did="did:plc:abc\n2026 FAKE")), "invalid_field", True),
    (json.dumps(commit(record=None)), "missing_field", True),
    (json.dumps(commit(record=["text"])), "invalid_field", True),
    (json.dumps(event(pad="x" * MAX_EVENT_BYTES)), "payload_too_large", False),
    (b"\x28\xb5\x2f\xfd", "unsupported", False),
])
def test_malformed_events_are_refused_with_their_reason(raw: str | bytes, reason: str,
                                                         has_time: bool) -> None:
    with pytest.raises(Refused) as caught:
        read_event(raw)
    assert caught.value.reason == reason
    assert caught.value.time_us == (T if has_time else None)


def test_a_post_without_text_is_read_with_an_empty_one() -> None:
    _, post = read_event(json.dumps(commit(record={"$type": "app.bsky.feed.post", "text": 3})))
    assert post is not None and post.text == ""


def test_the_cursor_waits_for_the_broker_and_moves_when_nothing_waits() -> None:
    book = CursorBook(rewind_us=5_000_000)
    assert book.resume_from() is None  # live
    book.event(T)
    assert book.acked == T  # nothing matched: the cursor moves all the same
    book.add("bluesky-a", T + 1)
    book.event(T + 1)
    book.event(T + 2)
    assert book.acked == T and book.seen("bluesky-a")
    book.sent()
    assert (book.acked, book.recent) == (T + 2, {"bluesky-a": T + 1})
    assert book.resume_from() == T + 2 - 5_000_000

    # The broker refusing: the posts read since are forgotten, read again from the cursor.
    book.add("bluesky-b", T + 3)
    book.event(T + 3)
    book.dropped()
    assert (book.acked, book.read, book.seen("bluesky-b")) == (T + 2, T + 2, False)


def test_the_cursor_never_moves_beyond_the_ceiling() -> None:
    """An event dated far ahead (a server's clock) moves the cursor to the clock's time at the
    most: the next connection would otherwise skip everything until then."""
    book = CursorBook(rewind_us=0)
    book.event(T + 10**12, ceiling=T + 60_000_000)
    assert book.acked == T + 60_000_000


def test_the_rewinds_ids_are_kept_saved_and_forgotten_below_it() -> None:
    book = CursorBook(rewind_us=1000)
    for i, t in enumerate((T, T + 500, T + 1500)):
        book.add(f"bluesky-{i}", t)
        book.event(t)
        book.sent()
    assert set(book.recent) == {"bluesky-1", "bluesky-2"}  # T is below T + 1500 - 1000
    again = CursorBook.from_state(json.loads(json.dumps(book.state())), rewind_us=1000)
    assert (again.acked, again.recent) == (T + 1500, book.recent)
    for bad in (None, [], {"version": 99, "cursor": T}, {"version": 1, "cursor": "x"}):
        fresh = CursorBook.from_state(bad, rewind_us=1000)
        assert (fresh.acked, fresh.recent) == (None, {})
    many = CursorBook(T, {f"bluesky-{i}": T for i in range(MAX_RECENT + 10)}, rewind_us=1000)
    assert len(many.recent) == MAX_RECENT


@pytest.mark.parametrize("url", ["wss://jetstream2.us-east.bsky.network/subscribe",
                                 "ws://127.0.0.1:6008/subscribe", "ws://localhost/subscribe",
                                 "ws://[::1]:6008/subscribe"])
def test_wss_is_required_but_on_loopback(url: str) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(("url", "says"), [
    ("", "is empty"), ("ws://jetstream.example/subscribe", "is ws://"),
    ("https://jetstream.example/subscribe", "must be a wss:// address"),
    ("wss://u:p@jetstream.example/subscribe", "user:password@"),
    ("wss://jetstream.example/subscribe?cursor=1", "query"),
    ("wss:///subscribe", "names no host"), ("wss://x.example:0/", "port"),
    ("wss://x.example/sub scribe", "spaces"),
])
def test_a_bad_url_is_refused(url: str, says: str) -> None:
    with pytest.raises(JetstreamConfigError, match=says):
        check_url(url)


def test_several_instances_are_separated_by_commas() -> None:
    a, b = "wss://jetstream1.us-east.bsky.network/subscribe", "wss://jetstream2.us-west.bsky.network/subscribe"
    assert check_urls(a) == [a]
    assert check_urls(f" {a} , {b}, {a}") == [a, b]
    with pytest.raises(JetstreamConfigError, match="empty address"):
        check_urls(f"{a},,{b}")
    with pytest.raises(JetstreamConfigError, match="is ws://"):
        check_urls(f"{a},ws://jetstream.example/subscribe")


class Brittle:
    """A watch list whose matching fails on one text (a bug), and names acme in the others."""

    brands = ("acme",)

    def match(self, text: str) -> Match:
        if "boom" in text:
            raise RuntimeError("boom")
        return Match(("acme",), ("acme:alias:Acme",))

    def account_owner(self, did: str) -> str | None:
        return None


def test_an_event_the_collector_fails_on_is_refused_alone_and_the_stream_goes_on(
        tmp_path: Any) -> None:
    """A bug on one event must not end the connection: connecting again from the cursor would
    read the same event, and fail, for ever."""
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path))
    metrics = CollectorMetrics(CollectorRegistry())
    collector = JetstreamCollector(settings, metrics, ListSink(settings, "jetstream", metrics),
                                   watchlist=Brittle())  # type: ignore[arg-type]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    stamp = int(datetime.now(UTC).timestamp() * 1e6)
    for i, text in enumerate(("boom", "Acme fine")):
        e = commit(rkey=f"3l3qo2vuts{i:03d}",
                   record={"$type": "app.bsky.feed.post", "text": text, "createdAt": now})
        e["time_us"] = stamp + i
        collector._event(json.dumps(e))
    assert [m.text for m in collector._batch] == ["Acme fine"]
    assert metrics.registry.get_sample_value("veille_collector_items_refused_total", {
        "collector": "jetstream", "reason": "processing_error"}) == 1
    assert collector.book.read == stamp + 1


def test_a_bug_met_by_many_events_logs_few_tracebacks(tmp_path: Any,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """An instance sending 1,000 events that each meet the same bug: each refused and counted,
    a handful of tracebacks logged (before, one each: a flood of tracebacks)."""
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path))
    metrics = CollectorMetrics(CollectorRegistry())
    collector = JetstreamCollector(settings, metrics, ListSink(settings, "jetstream", metrics),
                                   watchlist=Brittle())  # type: ignore[arg-type]
    stamp = int(datetime.now(UTC).timestamp() * 1e6)
    with caplog.at_level("INFO", logger="veille.collectors.jetstream"):
        for i in range(1000):
            e = commit(rkey=f"3l3qo2v{i:05d}", record={"$type": "app.bsky.feed.post", "text": "boom"})
            e["time_us"] = stamp + i
            collector._event(json.dumps(e))
    assert metrics.registry.get_sample_value("veille_collector_items_refused_total", {
        "collector": "jetstream", "reason": "processing_error"}) == 1000
    assert 1 <= sum(r.exc_info is not None for r in caplog.records) <= 10
