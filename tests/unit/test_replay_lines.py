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
    def add_errback(self, fn: Any) -> Future:
        return self


class Producer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        self.sent.append(key)
        return Future()

    def flush(self) -> None:
        pass


def line(mid: str, created_at: str) -> str:
    return json.dumps({"id": mid, "source": "s", "platform": "p", "text": f"acme {mid}",
                       "created_at": created_at})


@pytest.mark.parametrize("odd", ["0001-01-02T00:00:00Z", "9999-12-31T00:00:00Z"])
def test_a_date_shifted_out_of_range_refuses_its_line_only(tmp_path: Path, odd: str) -> None:
    soon = datetime.now(UTC) + timedelta(days=400)
    # The newest line sets the shift; 9999-12-31 makes it huge and the others fall off year 1.
    lines = [line("a", soon.isoformat()), line("b", odd),
             line("c", (soon - timedelta(days=1)).isoformat())]
    path = tmp_path / "mentions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    producer = Producer()
    report = replay(path, Settings.from_env({}), timestamps="shift", progress=False,
                    producer=producer)
    assert report.read == 3
    if odd.startswith("0001"):
        assert producer.sent == [b"a", b"c"] and report.sent == 2
        assert [n for n, _ in report.refused] == [2]
    else:
        assert producer.sent == [b"b"] and report.sent == 1
        assert [n for n, _ in report.refused] == [1, 3]
    assert all("created_at is out of range once shifted" in why for _, why in report.refused)
    assert "refused " + str(len(report.refused)) in report.summary()


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
