"""Dead letters as `veille dead-letters` shows them (veille/deadletters.py, pure)."""

from __future__ import annotations

import json

from veille.deadletters import DeadLetter, select, summary


def letter(reason: str, ms: int, value: bytes = b'{"x": 1}', **more: bytes) -> DeadLetter:
    headers = [("veille-dlq-reason", reason.encode()), ("veille-dlq-topic", b"mentions.raw"),
               ("veille-dlq-partition", b"2"), ("veille-dlq-offset", b"41"),
               ("veille-dlq-failed-at", b"2026-12-06T08:00:00.000Z"), ("other", b"kept out")]
    headers += [(f"veille-dlq-{name}", v) for name, v in more.items()]
    return DeadLetter.from_record(b"k", value, ms, headers)


def test_a_dead_letter_line_and_record_say_what_failed_where_and_show_the_bytes_safely() -> None:
    d = letter("invalid_field", 1_000, value=b'{"text": "\x1b[2J boom"}', field=b"text",
               detail=b"text must be a string")
    assert d.source == "mentions.raw/2@41" and not d.truncated and "other" not in d.headers
    line = d.line()
    assert line.startswith("2026-12-06T08:00:00.000Z  invalid_field  text  mentions.raw/2@41  "
                           "text must be a string  | ")
    assert "\x1b" not in line and "\\u001b[2J boom" in line  # a terminal is not driven by it
    record = json.loads(d.to_json())
    assert record["partition"] == 2 and record["offset"] == 41 and record["key"] == "k"
    assert record["truncated_from_bytes"] is None and record["field"] == "text"


def test_a_long_or_cut_value_says_so() -> None:
    long = letter("text_too_large", 1_000, value=b"a" * 5000)
    assert long.line().endswith("... (5,000 bytes)")
    cut = letter("processing_error", 1_000, value=b"a" * 10, truncated=b"9000000")
    assert cut.truncated and "[cut from 9000000 bytes]" in cut.line()
    assert json.loads(cut.to_json())["truncated_from_bytes"] == 9_000_000


def test_select_filters_by_reason_and_time_oldest_first_and_summary_counts() -> None:
    letters = [letter("invalid_json", 3_000), letter("empty_text", 1_000), letter("invalid_json", 2_000)]
    assert [d.timestamp for d in select(letters)] == [1.0, 2.0, 3.0]
    assert [d.timestamp for d in select(letters, reason="invalid_json", since=2.5)] == [3.0]
    assert summary(letters, 3) == "3 dead letters (invalid_json: 2, empty_text: 1)"
    assert summary(letters[:1], 0) == "1 dead letter (invalid_json: 1); the newest 0 shown (--limit)"
    assert summary([], 0) == "0 dead letters"
