"""The replay collector's refused lines: a created_at pushed out of the datetime range by
`--timestamps shift` refuses its line (with a reason), the other lines still go out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from veille.collectors.replay import replay
from veille.settings import Settings


class Future:
    """Acknowledged at once, as kafka-python's future calls a callback added once it is done."""

    def add_callback(self, fn: Any) -> Future:
        fn(None)
        return self

    def add_errback(self, fn: Any) -> Future:
        return self


class Producer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.values: list[bytes] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        self.sent.append(key)
        self.values.append(value)
        return Future()

    def flush(self, timeout: float | None = None) -> None:
        pass


def line(mid: str, created_at: str) -> str:
    return json.dumps({"id": mid, "source": "s", "platform": "p", "text": f"acme {mid}",
                       "created_at": created_at})


@pytest.mark.parametrize("odd, why", [
    ("9999-12-31T00:00:00Z", "invalid_field: created_at is out of range once shifted"),
    ("2030-06-01T00:00:00Z", "created_at_in_future"),  # a typo in a file of 2025
    ("0001-01-02T00:00:00Z", "created_at_too_old"),
])
def test_one_odd_date_refuses_its_line_only_and_does_not_set_the_shift(
        tmp_path: Path, odd: str, why: str) -> None:
    """The shift moves the newest *valid* line to now: one line that would be refused as it
    stands (dated 9999 or 2030 in a file of 2025) set it before, and every other line was
    refused (shifted before year 1, or years into the past)."""
    lines = [line("a", "2025-01-01T12:00:00Z"), line("b", odd), line("c", "2024-12-31T12:00:00Z")]
    path = tmp_path / "mentions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    producer = Producer()
    before = datetime.now(UTC)
    report = replay(path, Settings.from_env({}), timestamps="shift", progress=False,
                    producer=producer)
    assert report.read == 3 and producer.sent == [b"a", b"c"] and report.sent == 2
    assert [n for n, _ in report.refused] == [2] and why in report.refused[0][1], report.refused
    a, c = (datetime.fromisoformat(json.loads(v)["created_at"]) for v in producer.values)
    assert before - timedelta(seconds=1) <= a <= datetime.now(UTC) and a - c == timedelta(days=1)
    assert "refused 1" in report.summary()


def test_a_file_dated_wholly_ahead_is_shifted_by_its_newest_line(tmp_path: Path) -> None:
    """No line is valid as it stands (all dated 2031, a clock that ran fast): the newest line
    valid at any date sets the shift, as before the typo fix."""
    lines = [line("a", "2031-03-01T12:00:00Z"), line("b", "2031-03-01T11:00:00Z")]
    path = tmp_path / "mentions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    producer = Producer()
    report = replay(path, Settings.from_env({}), timestamps="shift", progress=False,
                    producer=producer)
    assert producer.sent == [b"a", b"b"] and report.refused == []
    a, b = (datetime.fromisoformat(json.loads(v)["created_at"]) for v in producer.values)
    assert abs((a - datetime.now(UTC)).total_seconds()) < 5 and a - b == timedelta(hours=1)


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path) -> None:
    """Into a log file or a pipe, a bar redrawn with carriage returns made one huge line."""
    import io

    from veille.collectors.replay import _progress

    feed = tmp_path / "m.jsonl"
    feed.write_text('{"a": 1}\n\n{"a": 2}\n')

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert _progress(feed, True, io.StringIO()) is None
    assert _progress(feed, False, Terminal()) is None
    bar = _progress(feed, True, Terminal())
    assert bar is not None and bar.total == 2
    bar.close()
