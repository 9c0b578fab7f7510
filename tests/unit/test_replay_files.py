"""The replay collector reads the files users have: JSON Lines or CSV (a spreadsheet's or a
social-listening tool's export: `;` or tab separated, a UTF-8 byte order mark, quoted texts over
several lines), either gzip-compressed; with the same bounds, refusals and report as JSONL."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.records import Limits, content_id
from tests.unit.test_replay_lines import Producer, line
from veille.collectors import replay as replay_module
from veille.collectors.replay import ReplayFileError, ReplayReport, check_file, replay
from veille.settings import Settings

HEADER = "Id;Source; Platform ;Author;Text;URL;Created_At;Language;audience.followers;audience__likes"


def run(path: Path, **kwargs: Any) -> tuple[ReplayReport, Producer]:
    producer = Producer()
    report = replay(path, Settings.from_env({}), progress=False, producer=producer, **kwargs)
    return report, producer


def records(producer: Producer) -> list[dict[str, Any]]:
    return [json.loads(v) for v in producer.values]


# gzip ------------------------------------------------------------------------------------------


def test_a_gzip_jsonl_is_read_as_the_plain_file(tmp_path: Path) -> None:
    lines = [line("m1", "2025-01-01T00:00:00Z"), "{broken", line("m3", "2025-01-01T00:00:00Z")]
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    report, producer = run(path)
    assert producer.sent == [b"m1", b"m3"] and report.read == 3 and report.lines == 3
    assert [n for n, _ in report.refused] == [2] and report.refused[0][1].startswith("invalid_json")
    report, producer = run(path, first_line=3)
    assert producer.sent == [b"m3"]


def test_gzip_is_known_by_its_magic_bytes_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"  # compressed all the same (a download renamed)
    path.write_bytes(gzip.compress((line("m1", "2025-01-01T00:00:00Z") + "\n").encode()))
    report, producer = run(path)
    assert producer.sent == [b"m1"] and report.refused == []


def test_a_gzip_line_too_long_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    huge = "[" + ",".join([line("x", "2025-01-01T00:00:00Z")] * 40_000) + "]"
    assert len(huge) > replay_module.line_cap(Limits())
    path = tmp_path / "m.jsonl.gz"
    path.write_bytes(gzip.compress(huge.encode() + b"\n"
                                   + line("ok", "2025-01-01T00:00:00Z").encode() + b"\n"))
    seen: list[int] = []
    real = replay_module._lines

    def spy(fh: Any, cap: int, first: int = 1, report: Any = None) -> Any:
        for number, text in real(fh, cap, first, report):
            seen.append(len(text) if text is not None else -1)
            yield number, text

    replay_module._lines = spy  # type: ignore[assignment]
    try:
        report, producer = run(path)
    finally:
        replay_module._lines = real  # type: ignore[assignment]
    assert producer.sent == [b"ok"] and report.refused[0][0] == 1
    assert report.refused[0][1].startswith("line_too_long")
    assert -1 in seen and max(seen) < replay_module.MIN_LINE_CAP


def test_a_damaged_gzip_sends_what_it_could_read_and_says_so(tmp_path: Path, capsys: Any) -> None:
    from veille.cli import replay_outcome

    whole = gzip.compress(("\n".join(line(f"m{i}", "2025-01-01T00:00:00Z")
                                     for i in range(2000)) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])  # a download cut short
    report, producer = run(path)
    assert report.read_error is not None and "gzip" in report.read_error
    assert 0 < report.sent < 2000 and report.refused == []
    assert report.read_error in report.summary()
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="keep") == 1
    err = capsys.readouterr().err
    assert "cut.jsonl.gz" in err and "error: the file was not read to its end" in err
    assert err.count(report.read_error) == 1  # the summary says why; it was printed twice


# CSV -------------------------------------------------------------------------------------------


def french_excel(tmp_path: Path, rows: list[str], name: str = "export.csv",
                 header: str = HEADER) -> Path:
    path = tmp_path / name
    data = ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8-sig")  # Excel: BOM, CRLF
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


ROWS = [
    'c1;news;Twitter;alice;"Acme, encore en panne;\r\ndeuxième ligne ""citée""";'
    "https://x.example/1;2025-01-01T10:00:00Z;fr;1 234;12",
    ";;twitter;;Acme est super;;2025-01-01 11:00:00;;;",  # no id, no source, no audience
    "c3;news;twitter;bob;;;2025-01-01T12:00:00Z;;;",  # no text
    "c4;news;twitter;carol;Acme;javascript:alert(1);2025-01-01T13:00:00Z;;lots;",
    ";;;;;;;;;",  # a blank row (Excel's empty line)
    "c6;news;twitter;dan;Acme again;;1735732800;;0;",  # Unix seconds
]


@pytest.mark.parametrize("name", ["export.csv", "export.CSV.gz"])
def test_a_french_excel_csv_becomes_mentions(tmp_path: Path, name: str) -> None:
    path = french_excel(tmp_path, ROWS, name)
    report, producer = run(path)
    assert report.lines == 6 and report.read == 5 and report.unit == "record"
    assert [n for n, _ in report.refused] == [3, 4], report.refused
    assert report.refused[0][1] == "missing_field: text is required"
    assert "audience.followers must be a non-negative integer, not 'lots'" in report.refused[1][1]
    first, second, sixth = records(producer)
    assert first["id"] == "c1" and first["platform"] == "twitter" and first["language"] == "fr"
    assert first["text"] == 'Acme, encore en panne;\r\ndeuxième ligne "citée"'
    assert first["audience"] == {"followers": 1234, "likes": 12}
    assert first["created_at"] == "2025-01-01T10:00:00.000Z"
    # Empty cells are absent: the source is the replay's, the id made from the content as
    # for a JSONL line without one (the same row as a JSON line gets the same id).
    bare = {"platform": "twitter", "text": "Acme est super", "created_at": "2025-01-01 11:00:00"}
    assert second["source"] == "replay" and second["author"] is None and second["audience"] is None
    assert second["id"] == content_id("replay", "replay", "twitter", None, None, "Acme est super",
                                      "2025-01-01 11:00:00")
    jsonl = tmp_path / "same.jsonl"
    jsonl.write_text(json.dumps(bare) + "\n")
    assert records(run(jsonl)[1])[0]["id"] == second["id"]
    assert sixth["created_at"] == "2025-01-01T12:00:00.000Z" and sixth["audience"] == {"followers": 0}
    assert "record 3: missing_field: text is required" in report.summary()
    assert "read 5 records" in report.summary()


def test_csv_record_numbers_are_data_rows_and_from_line_counts_them(tmp_path: Path) -> None:
    """A text over two lines: record 2 starts on the file's fourth line."""
    path = french_excel(tmp_path, ROWS, "export.csv")
    report, producer = run(path, first_line=6)
    assert producer.sent == [b"c6"] and report.sent_through == 6 and report.lines == 6
    report, producer = run(path, first_line=2, limit=1)
    assert report.resume_line == 3 and len(producer.sent) == 1


@pytest.mark.parametrize("sep", [",", "\t", ";"])
def test_the_separator_is_found_from_the_header(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(sep.join(["text", "platform", "created_at", "author"]) + "\n"
                    + sep.join(['"Acme; fine, really\tyes"', "blog", "2025-01-01T00:00:00Z", "x"])
                    + "\n")
    report, producer = run(path)
    assert report.refused == [] and records(producer)[0]["text"] == "Acme; fine, really\tyes"


def test_format_csv_reads_a_file_of_any_name_and_auto_goes_by_the_name(tmp_path: Path) -> None:
    path = french_excel(tmp_path, ROWS[:1], "export.txt")
    report, producer = run(path, file_format="csv")
    assert producer.sent == [b"c1"]
    report, producer = run(path)  # auto: JSON Lines, as before (and every line refused)
    assert producer.sent == [] and report.all_refused and report.unit == "line"
    gz = french_excel(tmp_path, ROWS[:1], "export.dat.gz")
    assert run(gz, file_format="csv")[1].sent == [b"c1"]
    with pytest.raises(ValueError, match="format"):
        run(path, file_format="xlsx")


def test_unknown_columns_are_ignored_and_named(tmp_path: Path) -> None:
    """As the webhook ignores unknown fields (forward compatibility): a tool's export has
    columns of its own (sentiment, reach); they are named at the start, not an error."""
    path = tmp_path / "m.csv"
    path.write_text("Text,platform,created_at,Sentiment,reach,audience.retweets,\n"
                    "Acme,blog,2025-01-01T00:00:00Z,neg,12,3,\n")
    notes = check_file(path)
    assert len(notes) == 1
    note = notes[0]
    assert "Sentiment, reach, audience.retweets, column 7 (no name)" in note
    assert "ignored" in note and "audience.followers" in note and "created_at" in note
    report, producer = run(path)
    assert report.refused == [] and "sentiment" not in records(producer)[0]


@pytest.mark.parametrize("header, message", [
    ("platform;created_at;author", "no text column"),
    ("text;platform;author", "no created_at column"),
    ("text;created_at", "no platform column"),
    ("text;platform;created_at;audience", "audience"),
    ("text;platform;created_at;Text ", "the column text is named twice"),
    ("text;platform;created_at;audience.likes;audience__likes", "audience__likes is named twice"),
])
def test_a_header_that_cannot_give_mentions_is_an_error_at_start(
        tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "m.csv"
    path.write_text(header + "\nAcme;blog;2025-01-01T00:00:00Z;x;y\n")
    with pytest.raises(ReplayFileError, match=message) as raised:
        check_file(path)
    assert "columns" in str(raised.value) and "text" in str(raised.value)
    producer = Producer()
    with pytest.raises(ReplayFileError):  # before any producer is made or mention sent
        replay(path, Settings.from_env({}), progress=False, producer=producer)
    assert producer.sent == []


def test_without_created_at_column_timestamps_now_stamps_each_row(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("text,platform\nAcme,blog\n")
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert check_file(path, stamp_now=True) == []
    report, producer = run(path, timestamps="now")
    assert report.refused == [] and datetime.fromisoformat(records(producer)[0]["created_at"]) >= before


def test_an_empty_csv_is_an_error_at_start(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"")
    with pytest.raises(ReplayFileError, match="no header row"):
        check_file(path)


def test_a_file_that_cannot_be_opened_is_said_not_a_crash(tmp_path: Path) -> None:
    # open() itself failing (a directory here; a file without read permission, or removed
    # since replay() looked): an UnboundLocalError on `gz` escaped check_file.
    for name in ("d.csv", "d.jsonl.gz"):
        (tmp_path / name).mkdir()
        with pytest.raises(ReplayFileError, match="cannot be read"):
            check_file(tmp_path / name)


def test_rows_with_extra_cells_or_bad_bytes_are_refused_with_their_record(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_bytes(b"text,platform,created_at\n"
                     b"Acme,blog,2025-01-01T00:00:00Z,,\n"  # empty extra cells: Excel's
                     b"Acme,blog,2025-01-01T00:00:00Z,oops\n"
                     b"Ac\xffme,blog,2025-01-01T00:00:00Z\n"
                     b"Acme 4,blog,2025-01-01T00:00:00Z\n")
    report, producer = run(path)
    assert len(producer.sent) == 2
    assert report.refused == [
        (2, "invalid_csv: 4 cells, the header names 3 columns"),
        (3, "undecodable_bytes: not UTF-8 at byte 2"),
    ]


def test_a_record_too_long_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    """An unclosed quote swallows the lines after it into one cell: refused at the csv module's
    cell limit, and reading goes on at the next line; a row longer than the line cap (a million
    cells) is refused without being held whole. Neither changes the csv module's limit."""
    import csv

    limit = csv.field_size_limit()
    cap = replay_module.line_cap(Limits())
    body = "".join(f"Acme {i} blah blah blah,blog,2025-01-01T00:00:00Z\n" for i in range(20_000))
    path = tmp_path / "m.csv"
    path.write_text("text,platform,created_at\n" + 'Acme "ok",blog,2025-01-01T00:00:00Z\n'
                    + '"unclosed,blog,2025-01-01T00:00:00Z\n' + body
                    + "x," * (cap // 2 + 1) + "\n" + "last one,blog,2025-01-01T00:00:00Z\n")
    report, producer = run(path)
    assert report.refused[0][0] == 2, report.refused
    assert report.refused[0][1].startswith("invalid_csv: field larger than field limit")
    assert report.refused[-1][1].startswith("record_too_long: more than 1,048,576 bytes")
    assert records(producer)[0]["text"] == 'Acme "ok"'
    assert records(producer)[-1]["text"] == "last one"
    assert 1 < len(producer.sent) < 20_000  # the swallowed lines are lost with their record
    assert report.refused[-1][0] == report.lines - 1 and csv.field_size_limit() == limit


def test_timestamps_shift_reads_the_csv_dates(tmp_path: Path) -> None:
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress(b"text,platform,created_at,collected_at\n"
                                   b"a,blog,2025-01-01T12:00:00Z,2025-01-01T12:01:00Z\n"
                                   b"b,blog,2025-01-01T11:00:00Z,\n"))
    report, producer = run(path, timestamps="shift")
    a, b = records(producer)
    created = datetime.fromisoformat(a["created_at"])
    assert abs((created - datetime.now(UTC)).total_seconds()) < 5
    assert created - datetime.fromisoformat(b["created_at"]) == timedelta(hours=1)
    assert datetime.fromisoformat(a["collected_at"]) - created == timedelta(minutes=1)


def test_the_progress_bar_counts_records(tmp_path: Path) -> None:
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    path = french_excel(tmp_path, ROWS, "export.csv.gz")
    bar = replay_module._progress(path, True, Terminal(), "auto")
    assert bar is not None and bar.total == 5  # 6 records, one blank
    bar.close()
    undated = tmp_path / "undated.csv"  # for --timestamps now: no created_at column
    undated.write_text("text,platform\nAcme,blog\n")
    bar = replay_module._progress(undated, True, Terminal(), "csv")
    assert bar is not None and bar.total == 1
    bar.close()


def test_a_header_that_is_not_utf8_says_how_to_save_the_file(tmp_path: Path) -> None:
    """Excel's "Unicode text" is UTF-16: its header read as UTF-8 named no text column."""
    path = tmp_path / "export.csv"
    path.write_text("text\tplatform\tcreated_at\nAcme\tblog\t2025-01-01\n", encoding="utf-16")
    with pytest.raises(ReplayFileError, match=r"not UTF-8 \(byte 0\): save the file as CSV UTF-8"):
        check_file(path)


def test_a_csv_wholly_refused_says_records_and_csv(tmp_path: Path, capsys: Any) -> None:
    from veille.cli import replay_outcome

    path = tmp_path / "m.csv"
    path.write_text("text,platform,created_at\nAcme,blog,yesterday\nAcme,blog,soon\n")
    report, producer = run(path)
    assert report.all_refused
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="keep") == 1
    err = capsys.readouterr().err
    assert "every record was refused; is it CSV" in err and "is it JSON Lines" not in err
    assert "record 2: invalid_field: created_at is not an ISO 8601 time" in err


def test_the_brands_a_source_names_pass_through_jsonl_and_csv(tmp_path: Path) -> None:
    """A file of comments posted in a brand's own space (an export of its Facebook page): the
    `brands` of a JSON line as they are, a CSV cell "acme" or "acme, boreal" as the list it says,
    an empty cell as none, and a cell that names no brand id refused with its record."""
    when = "2025-01-01T00:00:00Z"
    jsonl = tmp_path / "page.jsonl"
    jsonl.write_text("\n".join(json.dumps({**json.loads(line(i, when)), "brands": b})
                               for i, b in (("j1", ["acme", "boreal"]), ("j2", None))) + "\n")
    report, producer = run(jsonl)
    assert report.refused == []
    assert [r.get("brands") for r in records(producer)] == [["acme", "boreal"], None]
    csv_file = tmp_path / "page.csv"
    csv_file.write_text("text;platform;created_at;Brands\n"
                        f"late again;facebook;{when};acme\n"
                        f"late again!;facebook;{when};\"acme, boreal\"\n"
                        f"late again!!;facebook;{when};\n"
                        f"late again!!!;facebook;{when};Acme\n")
    assert not any("Brands" in note for note in check_file(csv_file))  # a known column
    report, producer = run(csv_file)
    assert [r.get("brands") for r in records(producer)] == [["acme"], ["acme", "boreal"], None]
    [(number, why)] = report.refused
    assert number == 4 and why.startswith("invalid_field") and "brands[0] is 'Acme'" in why
