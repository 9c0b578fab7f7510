"""Dead letters as `veille dead-letters` shows them (veille/deadletters.py, pure)."""

from __future__ import annotations

import json

from veille.deadletters import DeadLetter, Selection


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


def chosen(letters: list[DeadLetter], **how: object) -> Selection:
    selection = Selection(**how)  # type: ignore[arg-type]
    for d in letters:
        selection.add(d)
    return selection


def test_a_selection_filters_by_reason_and_time_oldest_first_and_counts() -> None:
    letters = [letter("invalid_json", 3_000), letter("empty_text", 1_000), letter("invalid_json", 2_000)]
    assert [d.timestamp for d in chosen(letters).newest()] == [1.0, 2.0, 3.0]
    assert [d.timestamp for d in chosen(letters, reason="invalid_json", since=2.5).newest()] == [3.0]
    assert [d.timestamp for d in chosen(letters, keep=2).newest()] == [2.0, 3.0]
    assert chosen(letters, keep=0).newest() == []
    assert chosen(letters).summary(3) == "3 dead letters (invalid_json: 2, empty_text: 1)"
    assert chosen(letters[:1], keep=0).summary(0) == ("1 dead letter (invalid_json: 1); the newest 0 "
                                                      "shown (--limit)")
    assert chosen([]).summary(0) == "0 dead letters"
    # Equal counts in name order, not in the order read (each tie above was read in name order).
    assert chosen(letters[2:0:-1]).summary(2) == "2 dead letters (empty_text: 1, invalid_json: 1)"

def test_listing_a_month_of_dead_letters_holds_only_those_it_shows(monkeypatch, capsys) -> None:
    """mentions.dlq keeps 30 days: `veille dead-letters` held every one of them to sort them
    (memory growing with the topic) to show the newest 20. Now it holds those it will show."""
    import argparse
    import weakref
    from types import SimpleNamespace

    import veille.deadletters
    import veille.moderate.store
    from veille import cli

    made_refs: list[weakref.ref[DeadLetter]] = []
    made = DeadLetter.from_record.__func__  # type: ignore[attr-defined]

    def tracked(cls, *args):  # noqa: ANN001, ANN202
        d = made(cls, *args)
        made_refs.append(weakref.ref(d))
        return d

    monkeypatch.setattr(veille.deadletters.DeadLetter, "from_record", classmethod(tracked))
    held: list[int] = []

    class Reader:
        def __init__(self, _settings, handlers, **_kw) -> None:  # noqa: ANN001
            self.handlers = handlers

        def refresh(self) -> None:
            (handle,) = self.handlers.values()
            for i in range(5_000):  # partitions read one after the other: not in time order
                ms = (i % 1_000) * 1_000 + i // 1_000
                reason = b"invalid_json" if i % 2 else b"empty_text"
                self.record = SimpleNamespace(key=b"k", value=b"{", timestamp=ms,
                                              headers=[("veille-dlq-reason", reason),
                                                       ("veille-dlq-failed-at", b"%d" % ms)])
                handle(self.record.value)
            held.append(sum(r() is not None for r in made_refs))
            made_refs.clear()

        def close(self) -> None:
            pass

    monkeypatch.setattr(veille.moderate.store, "TopicReader", Reader)
    monkeypatch.setattr(cli, "_reachable", lambda s: s)
    args = argparse.Namespace(reason=None, since=None, limit=None, json=True, replay=False,
                              broker_url=None)
    assert cli.cmd_dead_letters(args) == 0
    assert held == [cli.DEAD_LETTERS_SHOWN]
    out, err = capsys.readouterr()
    shown = [json.loads(line) for line in out.splitlines()]
    assert [int(d["failed_at"]) for d in shown] == [n * 1_000 + k for n in range(996, 1_000)
                                                    for k in range(5)]  # the newest, oldest first
    assert err.strip() == ("5,000 dead letters (empty_text: 2,500, invalid_json: 2,500); "
                           "the newest 20 shown (--limit)")
    args.reason, args.limit = "invalid_json", 3
    assert cli.cmd_dead_letters(args) == 0
    assert held[-1] == 3
    out, err = capsys.readouterr()
    assert [int(json.loads(line)["failed_at"]) for line in out.splitlines()] == [999_002, 999_003, 999_004]
    assert err.strip() == "2,500 dead letters (invalid_json: 2,500); the newest 3 shown (--limit)"
