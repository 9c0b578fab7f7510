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


def test_timestamps_now_checks_each_line_as_dated_now(tmp_path: Path) -> None:
    """Found in review: `--timestamps now` checked a line's own date before stamping it, so an
    old file (the point of re-stamping it) was refused as too old; a line without a date is
    stamped too, and its old collected_at is dropped (it is collected now)."""
    old = json.dumps({"id": "old", "source": "s", "platform": "p", "text": "acme old",
                      "created_at": "2019-01-01T08:00:00Z",
                      "collected_at": "2019-01-01T08:05:00Z"})
    undated = json.dumps({"id": "undated", "source": "s", "platform": "p", "text": "acme"})
    path = tmp_path / "m.jsonl"
    path.write_text(old + "\n" + undated + "\n")
    producer = Producer()
    before = datetime.now(UTC) - timedelta(seconds=1)
    report = replay(path, Settings.from_env({}), timestamps="now", progress=False,
                    producer=producer)
    assert report.refused == [] and producer.sent == [b"old", b"undated"]
    for value in producer.values:
        record = json.loads(value)
        assert datetime.fromisoformat(record["created_at"]) >= before
        assert record.get("collected_at") is None
    # Kept as they are, the same lines: the undated one is refused, the old one goes.
    producer = Producer()
    report = replay(path, Settings.from_env({}), timestamps="keep", progress=False,
                    producer=producer)
    assert producer.sent == [b"old"] and [n for n, _ in report.refused] == [2]


def test_shift_moves_collected_at_with_created_at(tmp_path: Path) -> None:
    """A shifted line kept its file's collected_at: "collected in 2024, created now"."""
    lines = [json.dumps({"id": "a", "source": "s", "platform": "p", "text": "acme",
                         "created_at": "2024-05-01T10:00:00Z",
                         "collected_at": "2024-05-01T10:02:00Z"})]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(lines) + "\n")
    producer = Producer()
    replay(path, Settings.from_env({}), timestamps="shift", progress=False, producer=producer)
    record = json.loads(producer.values[0])
    created = datetime.fromisoformat(record["created_at"])
    assert datetime.fromisoformat(record["collected_at"]) - created == timedelta(minutes=2)


def test_a_line_too_long_is_refused_without_being_read_whole_and_the_next_goes(
        tmp_path: Path) -> None:
    """A JSON array export (one huge line) was read whole into memory, then refused; bytes
    that are not UTF-8 are named as such, not as bad JSON."""
    from veille.collectors import replay as replay_module

    path = tmp_path / "m.jsonl"
    huge = "[" + ",".join([line("x", "2025-01-01T00:00:00Z")] * 40_000) + "]"
    assert len(huge) > replay_module.line_cap(replay_module.Limits())
    path.write_bytes(huge.encode() + b"\n" + b'{"id": "\xff"}\n'
                     + line("ok", "2025-01-01T00:00:00Z").encode() + b"\n")
    lines_seen: list[int] = []
    real = replay_module._lines

    def spy(fh: Any, cap: int, first: int = 1, report: Any = None) -> Any:
        for number, text in real(fh, cap, first, report):
            lines_seen.append(len(text) if text is not None else -1)
            yield number, text

    replay_module._lines = spy  # type: ignore[assignment]
    try:
        producer = Producer()
        report = replay(path, Settings.from_env({}), progress=False, producer=producer)
    finally:
        replay_module._lines = real  # type: ignore[assignment]
    assert producer.sent == [b"ok"] and report.read == 3
    assert report.refused[0][0] == 1 and report.refused[0][1].startswith("line_too_long")
    assert "JSON Lines" in report.refused[0][1]
    assert report.refused[1] == (2, "undecodable_bytes: not UTF-8 at byte 8")
    assert -1 in lines_seen and max(lines_seen) < replay_module.MIN_LINE_CAP


def test_from_line_starts_at_that_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(line(f"m{i}", "2025-01-01T00:00:00Z") for i in range(1, 6)) + "\n")
    producer = Producer()
    report = replay(path, Settings.from_env({}), progress=False, producer=producer, first_line=4)
    assert producer.sent == [b"m4", b"m5"] and report.sent_through == 5


def test_the_replay_exit_status_and_what_it_says(tmp_path: Path, capsys: Any) -> None:
    """Every line refused (a CSV, a JSON array) exited 0 with "sent 0"; a stop said nothing
    of where to go on from."""
    from veille.cli import replay_outcome
    from veille.collectors.replay import ReplayReport

    path = tmp_path / "m.csv"
    nothing = ReplayReport(read=3, sent=0, refused=[(1, "invalid_json: x")] * 3)
    assert replay_outcome(nothing, stopped_by=None, path=path, timestamps="keep") == 1
    assert "error: no mention sent: every line was refused; is it JSON Lines" in \
        capsys.readouterr().err
    some = ReplayReport(read=3, sent=2, refused=[(2, "invalid_json: x")])
    assert replay_outcome(some, stopped_by=None, path=path, timestamps="keep") == 0
    assert "error" not in capsys.readouterr().err
    assert replay_outcome(ReplayReport(), stopped_by=None, path=path, timestamps="keep") == 0
    stopped = ReplayReport(read=7, sent=7, line=7, sent_through=7)
    assert replay_outcome(stopped, stopped_by=2, path=path, timestamps="shift") == 130
    assert (f"to go on from there: veille collect replay {path} --from-line 8 --timestamps shift"
            in capsys.readouterr().err)
    failed = ReplayReport(read=7, sent=5, failed=2)
    assert replay_outcome(failed, stopped_by=None, path=path, timestamps="keep") == 1


def test_limit_0_and_a_start_past_the_end_are_said_as_they_are(tmp_path: Path, capsys: Any) -> None:
    """Found in review: --limit 0 said "every line was refused; is it JSON Lines?" (exit 1),
    and --from-line 100 on a 5-line file "read 0 lines" (exit 0)."""
    from veille.cli import replay_outcome

    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(line(f"m{i}", "2025-01-01T00:00:00Z") for i in range(1, 6)) + "\n")
    report = replay(path, Settings.from_env({}), progress=False, producer=Producer(), limit=0)
    assert report.sent == 0
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="keep") == 0
    assert "error" not in capsys.readouterr().err
    report = replay(path, Settings.from_env({}), progress=False, producer=Producer(),
                    first_line=100)
    assert report.lines == 5
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="keep",
                          from_line=100) == 1
    assert "error: --from-line 100: the file has only 5 lines" in capsys.readouterr().err


def test_lines_without_id_or_source_get_them_as_webhook_pushes_do(tmp_path: Path) -> None:
    """Found in review: every line needed `id` and `source` (missing_field), while the webhook
    fills them in. The id comes from the line as written: the same at every run, whatever
    --timestamps does, so a file replayed twice is de-duplicated downstream."""
    bare = {"platform": "p", "text": "acme is down", "created_at": "2025-01-01T00:00:00Z"}
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(bare) + "\n" + json.dumps({**bare, "id": " ", "source": ""}) + "\n"
                    + json.dumps({**bare, "author": "someone else", "source": None}) + "\n")
    ids = []
    for mode in ("keep", "shift", "now"):
        producer = Producer()
        report = replay(path, Settings.from_env({}), timestamps=mode, progress=False,
                        producer=producer)
        assert report.refused == [] and report.sent == 3
        records = [json.loads(v) for v in producer.values]
        assert {r["source"] for r in records} == {"replay"}
        ids.append([r["id"] for r in records])
    assert ids[0] == ids[1] == ids[2]
    first, blank, other = ids[0]
    assert first == blank and first != other and first.startswith("replay-") and len(first) == 39


class Acked:
    """A producer whose broker acknowledges the sends numbered in `acked` (1-based) only."""

    def __init__(self, acked: set[int], stop_after: int) -> None:
        self.acked, self.stop_after, self.sends = acked, stop_after, 0

    def send(self, topic: str, key: bytes, value: bytes) -> Any:
        self.sends += 1
        ok = self.sends in self.acked

        class Pending:
            def add_callback(self, f: Any) -> Any:
                if ok:
                    f(None)
                return self

            def add_errback(self, f: Any) -> Any:
                return self

        return Pending()

    def flush(self, timeout: float | None = None) -> None:
        raise TimeoutError("flush timed out")


def test_a_stopped_replay_goes_on_from_the_first_mention_not_acknowledged(
        tmp_path: Path, capsys: Any) -> None:
    """Lines 1-2 acknowledged, 3-5 sent and never acknowledged, then a stop: the replay goes on
    from line 3 (it said line 6 until 2026-12-05: following it lost three mentions)."""
    from veille.cli import replay_outcome

    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(line(f"m{i}", "2025-01-01T00:00:00Z") for i in range(1, 11)) + "\n")
    producer = Acked({1, 2}, 5)
    report = replay(path, Settings.from_env({}), progress=False, producer=producer,
                    ack_timeout=0.1, should_stop=lambda: producer.sends >= 5)
    assert (report.sent, report.failed, report.sent_through, report.resume_line) == (2, 3, 5, 3)
    assert replay_outcome(report, stopped_by=2, path=path, timestamps="keep") == 1
    assert "--from-line 3 --timestamps keep" in capsys.readouterr().err
    # Not stopped, the broker gone: the same advice.
    producer = Acked({1, 2, 4}, 99)
    report = replay(path, Settings.from_env({}), progress=False, producer=producer, ack_timeout=0.1)
    assert (report.sent, report.failed, report.resume_line) == (3, 7, 3)
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="shift") == 1
    assert ("to send again from the first mention not acknowledged: veille collect replay "
            f"{path} --from-line 3 --timestamps shift") in capsys.readouterr().err


def test_the_limit_reads_no_line_past_the_last_mention_sent(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(line("m1", "2025-01-01T00:00:00Z") + "\nnot json\n"
                    + line("m3", "2025-01-01T00:00:00Z") + "\n")
    producer = Producer()
    report = replay(path, Settings.from_env({}), progress=False, producer=producer, limit=1)
    assert producer.sent == [b"m1"]
    assert (report.read, report.line, report.refused, report.resume_line) == (1, 1, [], 2)


def test_lines_are_utf8_whatever_their_first_bytes(tmp_path: Path) -> None:
    """Found in review (2026-12-05): json.loads given bytes guesses UTF-16 and UTF-32 from the first
    ones: of a UTF-16 file, one line was sent and the others refused as "not UTF-8" at a UTF-16
    decoder's offset. Every line is UTF-8 now (a byte order mark allowed), and says where it is
    not."""
    lines = [line(f"m{i}", "2025-01-01T00:00:00Z") for i in range(3)]
    utf16 = tmp_path / "utf16.jsonl"
    utf16.write_text("\n".join(lines) + "\n", encoding="utf-16")
    producer = Producer()
    report = replay(utf16, Settings.from_env({}), progress=False, producer=producer)
    assert producer.sent == [] and report.all_refused
    assert report.refused[0] == (1, "undecodable_bytes: not UTF-8 at byte 0"), report.refused
    bom = tmp_path / "bom.jsonl"  # UTF-8 with a byte order mark, and a bad byte at 12 of line 2
    bom.write_bytes(b"\xef\xbb\xbf" + lines[0].encode() + b"\n" + b'{"text": "ac\xffme"}\n'
                    + lines[2].encode() + b"\n")
    report = replay(bom, Settings.from_env({}), progress=False, producer=producer)
    assert producer.sent == [b"m0", b"m2"]
    assert report.refused == [(2, "undecodable_bytes: not UTF-8 at byte 12")]
