"""The spike agent's reading of mentions.by_brand: a record it cannot use is refused with a
reason (and skipped by the agent), never an exception that costs the batch its alerts."""

from __future__ import annotations

import json

import pytest

from agents.spikes import Signal, Tick, parse_signal
from streams.records import EnrichedMention, brand_signal, parse_raw, source_tick
from veille.sentiment.base import Sentiment


def test_the_enrichment_stages_own_records_are_read_back() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    raw = parse_raw(json.dumps({"id": "m1", "source": "t", "platform": "twitter", "text": "Acme!",
                                "created_at": "2026-01-06T08:59:00Z",
                                "audience": {"followers": 12}}).encode(), now=now)
    mention = EnrichedMention(raw=raw, language="en", language_confidence=0.9,
                              sentiment=Sentiment(-0.6, 0.0, 0.4, 0.6, "negative"),
                              brands=("acme",), rules=(), received_at=now, processed_at=now)
    assert parse_signal(brand_signal(mention, 2, 41)) == Signal(
        "m1", raw.created_at.timestamp(), True, 12, "Acme!", 2, 41)


@pytest.mark.parametrize("value, reason", [
    (b"\xff", "Expecting value|codec"),
    (b"[1]", "not a JSON object"),
    (b'{"t": 1, "neg": true}', "id must be"),
    (b'{"id": "x", "t": NaN, "neg": true}', "finite"),
    (b'{"id": "x", "t": "2026-01-01", "neg": true}', "finite"),
    (b'{"id": "x", "t": 1e400, "neg": true}', "finite"),
    (b'{"id": "x", "t": 1, "neg": "yes"}', "neg must be"),
    (b'{"id": "x", "t": 1, "neg": true, "aud": 1.5}', "aud must be"),
    (b'{"id": "x", "t": 1, "neg": true, "o": null}', "o must be"),
    (b'{"tick": "now", "p": 0, "t": null, "live": true, "quiet": true}', "finite"),
    (b'{"tick": 5, "p": 0, "t": NaN, "live": true, "quiet": true}', "finite"),
    (b'{"tick": 5, "p": -1, "t": null, "live": true, "quiet": true}', "partition"),
    (b'{"tick": 5, "p": true, "t": null, "live": true, "quiet": true}', "partition"),
    (b'{"tick": 5, "p": 0, "t": null, "live": 1, "quiet": true}', "true or false"),
    (b'{"tick": 5, "p": 0, "t": null, "live": true}', "true or false"),
])
def test_odd_records_are_refused_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_signal(value)


def test_missing_optional_fields_take_safe_values() -> None:
    s = parse_signal(b'{"id": "x", "t": 10, "neg": false, "aud": -5, "text": null}')
    assert s == Signal("x", 10.0, False, 0, "", 0, -1)


def test_the_enrichment_stages_ticks_are_read_back() -> None:
    assert parse_signal(source_tick(3, 1000.5, None, False, True)) == Tick(1000.5, 3, None, False, True)
    assert parse_signal(source_tick(0, 1000.0, 990.0, True, False)) == Tick(1000.0, 0, 990.0, True, False)
