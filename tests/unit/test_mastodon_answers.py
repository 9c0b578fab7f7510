"""The brand's Mastodon accounts: the watch list's `mastodon_accounts`, and their replies to
another's status as `replied` decisions (no network, no broker)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.conftest import ROOT
from veille.collectors.mastodon import (
    accounts_of,
    answer_of,
    mention_id,
    own_accounts,
    reply_parent,
)
from veille.moderation.cases import Decision
from veille.rules import Watchlist, WatchlistError

BRAND_ID = "109300000000000001"  # acme_fr's id on the instance
OWN = frozenset({"acme_fr@mastodon.example", "acme@piaille.example"})
COMPLAINT_URI = "https://piaille.example/users/lea/statuses/113957381000000042"


def status(**fields: Any) -> dict[str, Any]:
    base = {"id": "113957400000000001", "created_at": "2025-03-11T09:30:00.000Z",
            "in_reply_to_id": "113957381000000042", "in_reply_to_account_id": "109301234567890099",
            "uri": "https://mastodon.example/users/acme_fr/statuses/113957400000000001",
            "url": "https://mastodon.example/@acme_fr/113957400000000001", "visibility": "public",
            "content": "<p>Bonjour Léa, on regarde : écrivez-nous en message privé.</p>",
            "reblog": None, "account": {"id": BRAND_ID, "acct": "acme_fr",
                                        "url": "https://mastodon.example/@acme_fr"}}
    return {**base, **fields}


def complaint(acct: str = "lea@piaille.example") -> dict[str, Any]:
    return {"id": "113957381000000042", "uri": COMPLAINT_URI,
            "url": "https://piaille.example/@lea/113957381000000042", "visibility": "public",
            "created_at": "2025-03-11T09:10:00.000Z", "content": "<p>Panne #AcmeDown</p>",
            "account": {"id": "109301234567890099", "acct": acct,
                        "url": "https://piaille.example/@lea"}}


def decision_of(reply: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any] | None:
    return answer_of(reply, parent, own=OWN, account="acme_fr@mastodon.example",
                     instance_host="mastodon.example")


# -- the watch list ---------------------------------------------------------------------------


def test_a_brand_lists_its_mastodon_accounts_with_or_without_a_leading_at() -> None:
    wl = Watchlist.from_dict({"brands": [
        {"id": "acme", "hashtags": ["AcmeDown"],
         "mastodon_accounts": ["@acme_fr@mastodon.example", "Acme@Piaille.example"]},
        {"id": "boreal", "hashtags": ["BorealCafe"]},
        {"id": "cirrus", "mastodon_accounts": ["cirrus@m.example"]}]})
    assert [b.mastodon_accounts for b in wl.brands] == [
        ("acme_fr@mastodon.example", "Acme@Piaille.example"), (), ("cirrus@m.example",)]
    # Read by the collector as sources `@user@instance`, every brand's, hashtags or not: a
    # brand without has its cases found elsewhere (RSS, Bluesky, the webhook), and its answers
    # on Mastodon close them (until 2026-12-07 its accounts were never read, silently).
    assert accounts_of(wl) == [("@acme_fr@mastodon.example", "acme"),
                               ("@Acme@Piaille.example", "acme"), ("@cirrus@m.example", "cirrus")]
    assert own_accounts(wl) == {"acmedown": frozenset({"acme_fr@mastodon.example",
                                                       "acme@piaille.example"})}


def test_a_remote_accounts_name_may_hold_a_dot_or_a_hyphen_inside() -> None:
    """As the README and the refusal say: Mastodon takes such names of other servers' accounts."""
    wl = Watchlist.from_dict({"brands": [{"id": "acme", "hashtags": ["AcmeDown"],
                                          "mastodon_accounts": ["acme.fr@m.example",
                                                                "acme-support@m.example"]}]})
    assert wl.brands[0].mastodon_accounts == ("acme.fr@m.example", "acme-support@m.example")
    for value in (".acme@m.example", "acme-@m.example"):
        with pytest.raises(WatchlistError, match=r"\(\. or - inside\)"):
            Watchlist.from_dict({"brands": [{"id": "acme", "mastodon_accounts": [value]}]})


@pytest.mark.parametrize("value", ["acme", "@acme", "acme@", "@acme@localhost",
                                   "https://mastodon.example/@acme", "acme fr@m.example",
                                   "acme@m.example\n", "acmé@m.example", 42, None])
def test_a_mastodon_account_that_is_no_account_in_full_is_refused(value: Any) -> None:
    with pytest.raises(WatchlistError) as exc:
        Watchlist.from_dict({"brands": [{"id": "acme", "mastodon_accounts": [value]}]})
    assert "acme.mastodon_accounts" in str(exc.value) and repr(value)[:30] in str(exc.value)


def test_an_account_is_listed_once_and_is_one_brands_case_aside() -> None:
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brands": [{"id": "acme", "mastodon_accounts": [
            "acme@m.example", "@ACME@m.example"]}]})
    with pytest.raises(WatchlistError, match="also acme's"):
        Watchlist.from_dict({"brands": [
            {"id": "acme", "mastodon_accounts": ["acme@m.example"]},
            {"id": "boreal", "mastodon_accounts": ["Acme@M.example"]}]})
    with pytest.raises(WatchlistError, match="at most 20"):
        Watchlist.from_dict({"brands": [{"id": "acme", "mastodon_accounts": [
            f"acme{i}@m.example" for i in range(21)]}]})
    with pytest.raises(WatchlistError, match="must be a list"):
        Watchlist.from_dict({"brands": [{"id": "acme", "mastodon_accounts": "acme@m.example"}]})


# -- a reply as an answer ---------------------------------------------------------------------


def test_a_reply_to_a_customers_status_is_a_replied_decision_valid_against_the_schema() -> None:
    reply = status()
    assert reply_parent(reply, BRAND_ID) == "113957381000000042"
    decision = decision_of(reply, complaint())
    assert decision == {
        "case_id": mention_id(complaint()), "decision": "replied",
        "moderator": "@acme_fr@mastodon.example", "decided_at": "2025-03-11T09:30:00.000Z",
        "answered_on": "mastodon", "reason": "https://mastodon.example/@acme_fr/113957400000000001"}
    # The complaint's mention id, as the collector sends it: a hash of its global uri.
    assert decision["case_id"] == mention_id(complaint()) != mention_id(reply)
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    jsonschema.validate(decision, schema)
    assert Decision.from_dict(decision).answered_on == "mastodon"
    # A time with an offset is written in UTC; a reply without a url is said so.
    other = decision_of(status(created_at="2025-03-11T10:30:00+01:00", url=None, uri=None),
                        complaint())
    assert other is not None and other["decided_at"] == "2025-03-11T09:30:00.000Z"
    assert other["reason"] == "answered on Mastodon"
    jsonschema.validate(other, schema)


def test_a_reply_to_the_brands_own_status_answers_none() -> None:
    # Its own account in full, or local (qualified with its profile's host), case aside.
    assert decision_of(status(), complaint("acme@piaille.example")) is None
    own_local = complaint("ACME_FR")
    own_local["account"]["url"] = "https://mastodon.example/@ACME_FR"
    assert decision_of(status(), own_local) is None
    # A reply in its own thread: its parent not even read.
    assert reply_parent(status(in_reply_to_account_id=BRAND_ID), BRAND_ID) is None


def test_a_status_that_is_no_reply_answers_none() -> None:
    assert reply_parent(status(in_reply_to_id=None, in_reply_to_account_id=None), BRAND_ID) is None
    assert reply_parent(status(in_reply_to_id="../../admin"), BRAND_ID) is None
    assert reply_parent(status(reblog=complaint()), BRAND_ID) is None
    assert reply_parent(status(in_reply_to_account_id=None), BRAND_ID) is None
    # A reply without a readable time, or to a status without a uri, answers none either.
    assert decision_of(status(created_at="yesterday"), complaint()) is None
    assert decision_of(status(created_at=None), complaint()) is None
    parent = complaint()
    del parent["uri"], parent["url"]
    assert decision_of(status(), parent) is None
