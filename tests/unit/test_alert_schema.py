"""The events on `reputation.alerts` match their published schema,
streams/schemas/reputation_alert.v1.json."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema
import pytest

from tests.schemas import strict
from tests.unit.test_crisis import START, run, traffic
from veille.crisis import BrandMonitor

SCHEMA = strict("reputation_alert.v1.json")
DAY = START + 3 * 86400
#: Two hours of negative surge at flat volume, then, 40 minutes after it ends (within the hour of
#: cool-down after the story resolves), half an hour more: the story is opened, escalated, resolved,
#: re-opened and resolved again.
SURGE = (DAY + 11 * 3600, DAY + 13 * 3600)
FLARE_UP = (DAY + 13 * 3600 + 2400, DAY + 13 * 3600 + 4200)


@functools.cache
def story_events() -> list[dict[str, Any]]:
    """The events of a real BrandMonitor driven through the surge and the flare-up, as sent:
    through JSON."""
    # The same seed gives the same mentions (ids, times, audiences) whatever the surge: only
    # their sentiment and text differ, so the two generated days splice into one.
    first, second = traffic(days=4, surge=SURGE), traffic(days=4, surge=FLARE_UP)
    items = [b if FLARE_UP[0] <= b[1] < FLARE_UP[1] else a for a, b in zip(first, second, strict=True)]
    events = run(BrandMonitor("acme", brand_terms=frozenset({"acme"})), items)
    decoded: list[dict[str, Any]] = json.loads(json.dumps(events))
    return decoded  # shared by the tests below: copy before changing


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_every_event_of_a_real_story_matches_the_schema() -> None:
    events = story_events()
    kinds = [e["event"] for e in events]
    assert {"opened", "escalated", "resolved", "reopened"} <= set(kinds), kinds
    for event in events:
        jsonschema.validate(event, SCHEMA)
    # Exactly the event: every field the schema names is in it (but `early`), and nothing else.
    assert all(set(e) == set(SCHEMA["properties"]) - {"early"} for e in events)
    assert len({e["alert_id"] for e in events}) == 1  # re-opened: the same story
    opened = events[kinds.index("opened")]
    assert opened["top_negative_mentions"] and opened["observed_negative"] > 0


def test_the_events_of_a_story_sent_early_match_the_schema() -> None:
    """The same surge and flare-up on a live stream: opened, escalated and re-opened early."""
    first, second = traffic(days=4, surge=SURGE), traffic(days=4, surge=FLARE_UP)
    m = BrandMonitor("acme", brand_terms=frozenset({"acme"}))
    events = []
    for a, b in zip(first, second, strict=True):
        events += m.observe(*(b if FLARE_UP[0] <= b[1] < FLARE_UP[1] else a))
        events += m.early(now=m.newest)
    events = json.loads(json.dumps(events))
    early = [e["event"] for e in events if e.get("early")]
    assert {"opened", "escalated", "reopened"} <= set(early), early
    for event in events:
        jsonschema.validate(event, SCHEMA)
    assert all(set(e) == set(SCHEMA["properties"]) for e in events if e.get("early"))
    bad = dict(next(e for e in events if e.get("early")), early=False)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def _broken(event: dict[str, Any], change: str) -> dict[str, Any]:
    e = dict(event)
    if change == "missing field":
        del e["anomaly_score"]
    elif change == "unknown field":
        e["score"] = 0.7
    elif change == "schema_version 2":
        e["schema_version"] = 2
    elif change == "unknown event":
        e["event"] = "closed"
    elif change == "unknown severity":
        e["severity"] = "high"
    elif change == "resolved but open":
        e["event"], e["status"] = "resolved", "open"
    elif change == "escalated to warning":
        e["event"], e["severity"] = "escalated", "warning"
    elif change == "window with milliseconds":
        e["window_start"] = e["window_start"].replace("Z", ".000Z")
    elif change == "window in Unix seconds":
        e["window_end"] = 1767870600
    elif change == "share above 1":
        e["negative_share"] = 1.5
    elif change == "count as text":
        e["observed_negative"] = "6"
    elif change == "brand not an id":
        e["brand"] = "Acme Corp"
    return e


@pytest.mark.parametrize("change", [
    "missing field", "unknown field", "schema_version 2", "unknown event", "unknown severity",
    "resolved but open", "escalated to warning", "window with milliseconds", "window in Unix seconds",
    "share above 1", "count as text", "brand not an id",
])
def test_a_broken_event_is_rejected(change: str) -> None:
    event = next(e for e in story_events() if e["event"] == "opened")
    jsonschema.validate(event, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_broken(event, change), SCHEMA)
