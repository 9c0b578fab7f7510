"""The brands' own Bluesky accounts (the watch list's `bluesky_accounts`) in the Jetstream
collector: their posts are no mentions of their brand, their replies to another's post are
`replied` decisions (answered_on bluesky) of that post's case. No socket, no broker (ListSink):
the events handed to the collector one by one."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from prometheus_client import CollectorRegistry

from streams.topics import MODERATION_DECISIONS
from tests.collector_helpers import ListSink
from tests.conftest import ROOT
from veille.collectors.bluesky import mention_id
from veille.collectors.jetstream import JetstreamCollector
from veille.collectors.jetstream_events import read_event
from veille.metrics import CollectorMetrics
from veille.moderation.cases import Decision
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings

POST = "app.bsky.feed.post"
T0 = int(time.time() * 1_000_000) - 60_000_000
ACME = "did:plc:acmeacmeacmeacmeacme2345"  # did:plc: and 24 base32 characters
ACME_WEB = "did:web:social.acme.example"
BOREAL = "did:plc:z72i7hdynmk6r22z27h6tvur"
CUSTOMER = "did:plc:abc123"
WATCHLIST = {"brands": [
    {"id": "acme", "name": "Acme", "bluesky_accounts": [ACME, ACME_WEB]},
    {"id": "boreal", "name": "Boréal", "bluesky_accounts": [BOREAL]},
]}


# -- the watch list ---------------------------------------------------------------------------


def test_a_brand_lists_its_bluesky_accounts_checked_at_load() -> None:
    wl = Watchlist.from_dict({"brands": [*WATCHLIST["brands"], {"id": "cyan"}]})
    assert [b.bluesky_accounts for b in wl.brands] == [(ACME, ACME_WEB), (BOREAL,), ()]
    assert (wl.account_owner(ACME), wl.account_owner(ACME_WEB), wl.account_owner(BOREAL)) == (
        "acme", "acme", "boreal")
    assert wl.account_owner(CUSTOMER) is None


@pytest.mark.parametrize("value", [
    "@acme.bsky.social", "acme.bsky.social", "did:plc:abc123", "did:plc:" + "a" * 25,
    "did:plc:" + "A" * 24, "did:plc:" + "a" * 23 + "1", "did:plc:" + "a" * 24 + "\n",
    "did:web:", "did:web:Acme.example", "did:web:acme..example", "did:web:-acme.example",
    "did:web:acme.example/path", "did:key:z6Mk" + "a" * 20, "at://did:plc:" + "a" * 24, 42, None])
def test_a_bluesky_account_that_is_no_did_is_refused_naming_the_brand_and_value(value: Any) -> None:
    with pytest.raises(WatchlistError) as exc:
        Watchlist.from_dict({"brands": [{"id": "acme", "bluesky_accounts": [value]}]})
    assert "acme.bluesky_accounts" in str(exc.value) and repr(value)[:40] in str(exc.value)
    with pytest.raises(WatchlistError, match="acme.bluesky_accounts must be a list"):
        Watchlist.from_dict({"brands": [{"id": "acme", "bluesky_accounts": ACME}]})


def test_an_account_given_to_two_brands_or_twice_or_too_many_is_refused() -> None:
    with pytest.raises(WatchlistError, match=f"boreal.bluesky_accounts: {ACME} is also acme's"):
        Watchlist.from_dict({"brands": [{"id": "acme", "bluesky_accounts": [ACME]},
                                        {"id": "boreal", "bluesky_accounts": [ACME]}]})
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brands": [{"id": "acme", "bluesky_accounts": [ACME, ACME]}]})
    many = [f"did:web:a{n}.example" for n in range(101)]
    with pytest.raises(WatchlistError, match="101 accounts, at most 100"):
        Watchlist.from_dict({"brands": [{"id": "acme", "bluesky_accounts": many}]})


# -- the collector ------------------------------------------------------------------------------


def event(n: int, text: str, *, did: str = CUSTOMER, parent: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"$type": POST, "text": text, "createdAt": "2026-12-07T08:30:00.123Z"}
    if parent is not None:
        record["reply"] = {"root": {"uri": parent, "cid": "bafyroot"},
                           "parent": {"uri": parent, "cid": "bafyparent"}}
    return {"did": did, "time_us": T0 + n * 1000, "kind": "commit",
            "commit": {"operation": "create", "collection": POST, "rkey": f"3l3qo{n:04d}",
                       "cid": f"bafy{n}", "record": record}}


def uri(e: dict[str, Any]) -> str:
    return f"at://{e['did']}/{POST}/{e['commit']['rkey']}"


def collector(tmp_path: Path) -> tuple[JetstreamCollector, ListSink]:
    settings = Settings.from_env({}, collector_state_dir=str(tmp_path / "collectors"),
                                 data_dir=str(tmp_path / "data"))
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "jetstream", metrics)
    return JetstreamCollector(settings, metrics, sink,
                              watchlist=Watchlist.from_dict(WATCHLIST)), sink


def feed(c: JetstreamCollector, *events: dict[str, Any]) -> None:
    for e in events:
        c._event(json.dumps(e))
    asyncio.run(c._flush())


def decisions(c: JetstreamCollector, sink: ListSink) -> dict[bytes, dict[str, Any]]:
    topic = c.settings.topic(MODERATION_DECISIONS)
    assert all(r.topic == topic for r in sink.records)
    return {r.key: json.loads(r.value) for r in sink.records}


def answers_sent(c: JetstreamCollector) -> float:
    return c.metrics.registry.get_sample_value("veille_collector_answers_sent_total",
                                               {"collector": "jetstream"}) or 0.0


def test_a_reply_of_the_brand_to_a_customer_is_a_replied_decision_of_that_posts_case(
        tmp_path: Path) -> None:
    c, sink = collector(tmp_path)
    complaint = event(1, "Acme, my order never came")
    reply = event(2, "Sorry! Sending you a DM", did=ACME, parent=uri(complaint))
    feed(c, complaint, reply)
    assert [m.id for m in sink.sent] == [mention_id(uri(complaint))]
    case = mention_id(uri(complaint)).encode()
    assert decisions(c, sink) == {case: {
        "case_id": case.decode(), "decision": "replied", "moderator": ACME,
        "decided_at": "2026-12-07T08:30:00.123Z",
        "reason": f"https://bsky.app/profile/{ACME}/post/{reply['commit']['rkey']}",
        "answered_on": "bluesky"}}
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    for answer in decisions(c, sink).values():
        jsonschema.validate(answer, schema)
        assert Decision.from_dict(answer).answered_on == "bluesky"
    assert answers_sent(c) == 1
    assert c.book.acked == T0 + 2000 and not c.book.pending

    # Read again (a reconnection from the cursor less the rewind): sent once.
    feed(c, complaint, reply)
    assert len(sink.sent) == 1 and len(sink.records) == 1 and answers_sent(c) == 1


def test_a_reply_to_the_brands_own_post_or_no_reply_is_no_decision_nor_mention(
        tmp_path: Path) -> None:
    c, sink = collector(tmp_path)
    own = event(1, "Acme: our new offer is out", did=ACME)  # its own post, naming it
    thread = event(2, "Acme: and it ships today", did=ACME_WEB, parent=uri(own))  # another of its
    unknown = event(3, "thanks", did=ACME, parent="at://camille.bsky.social/app.bsky.feed.post/3x")
    feed(c, own, thread, unknown)
    assert sink.sent == [] and sink.records == [] and answers_sent(c) == 0
    assert c.book.acked == T0 + 3000  # nothing waits: the cursor moves


def test_a_post_of_the_brand_naming_another_brand_is_that_mention(tmp_path: Path) -> None:
    c, sink = collector(tmp_path)
    other = event(1, "Acme is faster than Boréal", did=ACME)
    customer = event(2, "Boréal is down", did=CUSTOMER)
    reply = event(3, "Boréal: try Acme!", did=ACME, parent=uri(customer))  # names boreal too
    feed(c, other, customer, reply)
    assert [m.id for m in sink.sent] == [mention_id(uri(e)) for e in (other, customer, reply)]
    # Acme answering Boréal's customer: a decision of that case (the agent drops it as
    # not_a_case when no case is open for it; Boréal's queue would show it, answered).
    assert list(decisions(c, sink)) == [mention_id(uri(customer)).encode()]


def test_the_parent_of_a_reply_is_read_from_its_record() -> None:
    reply = event(2, "ok", did=ACME, parent=f"at://{CUSTOMER}/{POST}/3abc")
    _, post = read_event(json.dumps(reply))
    assert post is not None and post.parent == f"at://{CUSTOMER}/{POST}/3abc"
    assert post.parent_author == CUSTOMER
    for odd in (None, "at://did:plc:abc123/app.bsky.feed.like/3abc", 42, "https://bsky.app/x"):
        e = event(2, "ok", did=ACME)
        e["commit"]["record"]["reply"] = {"parent": {"uri": odd}}
        _, post = read_event(json.dumps(e))
        assert post is not None and post.parent is None and post.parent_author is None
    e = event(2, "ok", did=ACME)
    e["commit"]["record"]["reply"] = "no object"
    _, post = read_event(json.dumps(e))
    assert post is not None and post.parent is None


def test_a_batch_the_broker_does_not_take_keeps_the_cursor_for_the_answers_too(
        tmp_path: Path) -> None:
    from veille.collectors.base import BrokerUnavailable

    c, sink = collector(tmp_path)
    feed(c, event(1, "nothing to see"))
    assert c.book.acked == T0 + 1000

    async def down(*args: Any, **kwargs: Any) -> int:
        raise BrokerUnavailable("away (test)")

    sink.send = down  # type: ignore[method-assign]
    reply = event(2, "on it", did=ACME, parent=f"at://{CUSTOMER}/{POST}/3abc")
    c._event(json.dumps(reply))
    c._event(json.dumps(event(3, "nothing either")))
    # The answer waits for the broker: the cursor stays at its event (asked again from there).
    assert c.book.acked == T0 + 2000 and c.book.read == T0 + 3000
    with pytest.raises(BrokerUnavailable):
        asyncio.run(c._flush())
    assert c.book.acked == c.book.read == T0 + 2000 and answers_sent(c) == 0 and not c.book.seen(
        "answer-" + mention_id(uri(reply)))
