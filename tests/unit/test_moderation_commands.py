"""`veille moderate decide` refuses bad input with a clear message, before asking the broker."""

from __future__ import annotations

import time

import pytest

from veille.broker import free_port
from veille.moderate.commands import ModerateError, decide, parse_time
from veille.settings import Settings


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"moderator": "al\udcffice"}, "moderator is not valid Unicode text"),  # argv's surrogateescape
    ({"moderator": "alice", "reason": "\ud800"}, "reason is not valid Unicode text"),
    ({"moderator": ""}, "moderator must be a non-empty string"),
])
def test_decide_refuses_bad_text_without_the_broker(kwargs: dict, words: str) -> None:
    nobody = Settings.from_env({}, broker_url=f"kafka://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ModerateError, match=words):
        decide(nobody, "m1", "approve", **kwargs)
    assert time.monotonic() - started < 5  # no broker round trip


def test_report_times_without_an_offset_are_read_in_the_report_time_zone() -> None:
    """--tz Europe/Paris --since 2026-12-02 starts at midnight in Paris: it was UTC midnight, so
    the report's Paris days were shifted by an hour."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    assert parse_time("2026-12-02", "since", paris) == datetime(2026, 12, 1, 23, tzinfo=UTC).timestamp()
    assert parse_time("2026-07-01T09:00", "since", paris) == datetime(2026, 7, 1, 7, tzinfo=UTC).timestamp()
    # An explicit offset wins; UTC by default.
    assert parse_time("2026-12-02T09:00Z", "since", paris) == datetime(2026, 12, 2, 9, tzinfo=UTC).timestamp()
    assert parse_time("2026-12-02", "since") == datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    with pytest.raises(ModerateError, match="--until: until is not an ISO 8601 time"):
        parse_time("yesterday", "until", paris)
