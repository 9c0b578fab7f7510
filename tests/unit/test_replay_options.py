"""`collect replay`'s options for the CSV files community managers have, read as they are saved:
a tool's own column names (--column FIELD=HEADER), French Excel's Windows-1252 (--encoding),
Excel's local dates (--date-format, --tz). Each was a hand edit of the file before."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from streams.records import Limits
from tests.unit.test_replay_lines import Producer
from veille.collectors import replay as replay_module
from veille.collectors.replay import (
    CsvOptions,
    ReplayFileError,
    ReplayOptionError,
    ReplayReport,
    check_file,
    csv_options,
    replay,
)
from veille.settings import Settings


def run(path: Path, options: CsvOptions | None = None, **kwargs: Any) -> tuple[ReplayReport, Producer]:
    producer = Producer()
    report = replay(path, Settings.from_env({}), progress=False, producer=producer,
                    options=options, **kwargs)
    return report, producer


def records(producer: Producer) -> list[dict[str, Any]]:
    return [json.loads(v) for v in producer.values]


def write(tmp_path: Path, lines: list[str], name: str = "export.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return path


# --column ---------------------------------------------------------------------------------------

TOOL = ["Content;Auteur;Réseau;Date de publication;Abonnés;Sentiment",
        "Acme en panne;alice;twitter;2026-12-06T09:30:00Z;1 234;neg",
        "Acme, merci;bob;facebook;2026-12-06T10:00:00Z;;pos"]


def test_columns_name_the_header_cells_that_hold_the_fields(tmp_path: Path) -> None:
    path = write(tmp_path, TOOL)
    with pytest.raises(ReplayFileError, match="no text and no platform and no created_at column"):
        check_file(path)  # as before: without mapping, the file cannot give mentions
    options = csv_options(columns=["text=Content", "Author= auteur ", "platform=RÉSEAU",
                                   "created_at=Date de publication", "audience.followers=Abonnés"])
    notes = check_file(path, options=options)
    # Mapped header cells are no longer "ignored"; the tool's own column still is.
    assert len(notes) == 1 and "ignored (not raw mention fields): Sentiment;" in notes[0], notes
    assert "Content" not in notes[0] and "Auteur" not in notes[0]
    report, producer = run(path, options)
    assert report.refused == [] and report.sent == 2
    first, second = records(producer)
    assert first["text"] == "Acme en panne" and first["author"] == "alice"
    assert first["platform"] == "twitter" and first["audience"] == {"followers": 1234}
    assert first["created_at"] == "2026-12-06T09:30:00.000Z"
    assert second["text"] == "Acme, merci" and second["audience"] is None


def test_a_mapping_wins_over_the_column_named_as_its_field(tmp_path: Path) -> None:
    """A header with both `text` (a tool's truncated preview) and `Full text`, and --column
    text="Full text": the field comes from the column mapped, the one named `text` is ignored
    (said in a note), never both nor an error."""
    path = write(tmp_path, ["text,Full text,platform,created_at",
                            "Acme en pa...,Acme en panne depuis ce matin,blog,2026-12-06T09:30:00Z"])
    options = csv_options(columns=["text=full text"])
    notes = check_file(path, options=options)
    assert notes == ["columns ignored (their field is given by --column): text (--column "
                     "text=full text)"], notes
    report, producer = run(path, options)
    assert records(producer)[0]["text"] == "Acme en panne depuis ce matin"
    # A known field's column mapped to another field gives that field only.
    path = write(tmp_path, ["author,text,platform,created_at", "alice,Acme,blog,2026-12-06T09:30:00Z"])
    report, producer = run(path, csv_options(columns=["source=author"]))
    assert records(producer)[0]["source"] == "alice" and records(producer)[0]["author"] is None


@pytest.mark.parametrize("specs, message", [
    (["txt=Content"], "--column txt=Content: txt is not a raw mention field (the known ones: id, "
                      "source, platform, author, text"),
    (["audience=Abonnés"], "audience is not a raw mention field"),
    (["Content"], "--column Content: expected FIELD=HEADER"),
    (["text="], "--column text=: no header cell named"),
    (["text=Content", "TEXT=Auteur"], "--column TEXT=Auteur: text is mapped twice"),
    (["audience.likes=A", "audience__likes=B"], "audience.likes is mapped twice"),
])
def test_a_bad_mapping_is_an_error_before_the_file_is_read(specs: list[str], message: str) -> None:
    with pytest.raises(ReplayOptionError) as raised:
        csv_options(columns=specs)
    assert message in str(raised.value)


@pytest.mark.parametrize("specs, message", [
    (["text=Contenu"], "--column text=Contenu: the header has no column Contenu (it names Content, "
                       "Auteur, Réseau, Date de publication, Abonnés, Sentiment)"),
    (["text=Content", "author=content"], "--column text=Content and --column author=content: one "
                                         "column gives one field"),
])
def test_a_mapping_the_header_cannot_give_is_an_error_at_start(
        tmp_path: Path, specs: list[str], message: str) -> None:
    path = write(tmp_path, TOOL)
    producer = Producer()
    with pytest.raises(ReplayFileError) as raised:
        replay(path, Settings.from_env({}), progress=False, producer=producer,
               options=csv_options(columns=specs))
    assert message in str(raised.value) and producer.sent == []


def test_a_header_cell_named_twice_cannot_be_mapped(tmp_path: Path) -> None:
    path = write(tmp_path, ["Date,Content,date,platform", "x,Acme,y,blog"])
    with pytest.raises(ReplayFileError, match="--column created_at=DATE: the header names Date twice"):
        check_file(path, options=csv_options(columns=["created_at=DATE", "text=Content"]))


@pytest.mark.parametrize("given, option", [
    (dict(columns=["text=Content"]), "--column"),
    (dict(encoding="cp1252"), "--encoding"),
    (dict(date_format="%d/%m/%Y"), "--date-format"),
    (dict(tz="Europe/Paris"), "--tz"),
])
def test_csv_options_on_a_json_lines_file_are_an_error(
        tmp_path: Path, given: dict[str, Any], option: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"text": "acme"}\n')
    with pytest.raises(ReplayFileError, match=f"{option} reads CSV only, and the file is read as JSON Lines"):
        check_file(path, options=csv_options(**given))


# --encoding ------------------------------------------------------------------------------------

EXCEL = ["Texte;Plateforme;Date;Auteur", "Acme: déçu, très déçu;twitter;2026-12-06T09:30:00Z;Hélène",
         "Acme €, ça marche;blog;2026-12-06T10:00:00Z;Zoé"]
EXCEL_COLUMNS = ["text=Texte", "platform=Plateforme", "created_at=Date", "author=Auteur"]


@pytest.mark.parametrize("name", ["export.csv", "export.csv.gz"])
def test_a_windows_1252_export_is_read_with_its_encoding(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, EXCEL, name, encoding="cp1252")
    report, producer = run(path, csv_options(columns=EXCEL_COLUMNS, encoding="cp1252"))
    assert report.refused == [] and report.lines == 2
    first, second = records(producer)
    assert first["text"] == "Acme: déçu, très déçu" and first["author"] == "Hélène"
    assert second["text"] == "Acme €, ça marche" and second["author"] == "Zoé"
    report, producer = run(path, csv_options(columns=EXCEL_COLUMNS, encoding="latin-1"))
    assert records(producer)[0]["text"] == "Acme: déçu, très déçu"
    report, producer = run(path, csv_options(columns=EXCEL_COLUMNS, encoding="cp1252"), first_line=2)
    assert producer.sent == [records(run(path, csv_options(columns=EXCEL_COLUMNS,
                                                          encoding="cp1252"))[1])[1]["id"].encode()]


def test_read_as_utf8_a_windows_1252_export_is_refused_with_the_encoding_to_give(
        tmp_path: Path, capsys: Any) -> None:
    from veille.cli import replay_outcome

    path = write(tmp_path, EXCEL, encoding="cp1252")
    report, producer = run(path, csv_options(columns=EXCEL_COLUMNS))
    assert producer.sent == [] and report.refused[0] == (1, "undecodable_bytes: not UTF-8 at byte 7")
    summary = report.summary()
    assert "2 records not UTF-8: an export of French Excel's \"CSV (séparateur: point-virgule)\" " \
           "is Windows-1252; replay it with --encoding cp1252" in summary, summary
    assert replay_outcome(report, stopped_by=None, path=path, timestamps="keep") == 1
    assert "--encoding cp1252" in capsys.readouterr().err
    # An accent in the header: an error at the start, saying the same.
    accented = write(tmp_path, ["Texte;Plateforme;Créé le", "Acme;blog;2026-12-06T09:30:00Z"],
                     "accented.csv", encoding="cp1252")
    with pytest.raises(ReplayFileError, match=r"not UTF-8 \(byte 19\).*--encoding cp1252"):
        check_file(accented)


def test_the_byte_order_mark_and_the_line_cap_hold_whatever_the_encoding(tmp_path: Path) -> None:
    # A UTF-8 byte order mark is UTF-8: read as cp1252, every accent would be garbled.
    path = write(tmp_path, EXCEL, encoding="utf-8-sig")
    with pytest.raises(ReplayFileError, match="starts with a UTF-8 byte order mark: it is UTF-8, not "
                                              "cp1252; leave --encoding out"):
        check_file(path, options=csv_options(columns=EXCEL_COLUMNS, encoding="cp1252"))
    for encoding in ("utf-8", "utf-8-sig", "UTF8"):  # the mark skipped, as without the option
        report, producer = run(path, csv_options(columns=EXCEL_COLUMNS, encoding=encoding))
        assert report.refused == [] and records(producer)[0]["author"] == "Hélène"
    # UTF-16 (Excel's "Unicode text") read as cp1252: NUL bytes, said at the start.
    path = tmp_path / "unicode.csv"
    path.write_text("Texte\tPlateforme\tDate\nAcme\tblog\t2026-12-06\n", encoding="utf-16")
    with pytest.raises(ReplayFileError, match="NUL bytes: UTF-16"):
        check_file(path, options=csv_options(encoding="cp1252"))
    cap = replay_module.line_cap(Limits())
    path = tmp_path / "long.csv"
    path.write_bytes("text;platform;created_at\n".encode("cp1252")
                     + ("é" * (cap + 10) + ";blog;2026-12-06T09:30:00Z\n").encode("cp1252")
                     + "fin é;blog;2026-12-06T09:30:00Z\n".encode("cp1252"))
    report, producer = run(path, csv_options(encoding="cp1252"))
    assert [n for n, _ in report.refused] == [1] and report.refused[0][1].startswith("record_too_long")
    assert records(producer)[0]["text"] == "fin é" and report.sent_through == 2


@pytest.mark.parametrize("encoding, message", [
    ("klingon", "--encoding klingon: unknown encoding (e.g. utf-8, cp1252, latin-1)"),
    ("utf-16", "--encoding utf-16: not read line by line"),
    ("base64", "--encoding base64: not a text encoding"),
    # Codecs that fail on ASCII itself, or read it as other characters: a traceback before
    # (UnicodeError), or each cell's `\\u00e9` and `xn--` silently rewritten.
    ("undefined", "--encoding undefined: not read line by line"),
    ("punycode", "--encoding punycode: not read line by line"),
    ("unicode_escape", "--encoding unicode_escape: not read line by line"),
    ("raw_unicode_escape", "--encoding raw_unicode_escape: not read line by line"),
    ("idna", "--encoding idna: not read line by line"),
])
def test_an_encoding_python_cannot_read_line_by_line_is_an_error(encoding: str, message: str) -> None:
    with pytest.raises(ReplayOptionError) as raised:
        csv_options(encoding=encoding)
    assert message in str(raised.value)


# --date-format, --tz ---------------------------------------------------------------------------

DATES = ["text;platform;created_at;collected_at",
         "hiver;blog;06/12/2026 09:30;06/12/2026 09:31",
         "été;blog;06/07/2026 09:30;",
         "iso;blog;2026-12-06T09:30:00Z;",
         "gap;blog;29/03/2026 02:30;",
         "overlap;blog;25/10/2026 02:30;",
         "offset;blog;06/12/2026 09:30;bad"]


def test_excel_dates_are_read_with_their_format_in_their_zone(tmp_path: Path) -> None:
    path = write(tmp_path, DATES)
    report, producer = run(path, csv_options(date_format="%d/%m/%Y %H:%M", tz="Europe/Paris"))
    sent = {r["text"]: r for r in records(producer)}
    assert sent["hiver"]["created_at"] == "2026-12-06T08:30:00.000Z"
    assert sent["hiver"]["collected_at"] == "2026-12-06T08:31:00.000Z"
    assert sent["été"]["created_at"] == "2026-07-06T07:30:00.000Z"
    # Daylight saving as zoneinfo's fold=0: the skipped hour at the offset of before the
    # change, the repeated hour's first passage (summer time).
    assert sent["gap"]["created_at"] == "2026-03-29T01:30:00.000Z"
    assert sent["overlap"]["created_at"] == "2026-10-25T00:30:00.000Z"
    assert report.refused == [
        (3, "invalid_field: created_at '2026-12-06T09:30:00Z' does not match --date-format "
            "'%d/%m/%Y %H:%M'"),
        (6, "invalid_field: collected_at 'bad' does not match --date-format '%d/%m/%Y %H:%M'"),
    ]
    assert "record 3: invalid_field: created_at '2026-12-06T09:30:00Z' does not match " \
           "--date-format" in report.summary()
    # Without --tz: UTC. A format with %z: its own offset.
    report, producer = run(path, csv_options(date_format="%d/%m/%Y %H:%M"))
    assert {r["text"]: r for r in records(producer)}["hiver"]["created_at"] == "2026-12-06T09:30:00.000Z"
    path = write(tmp_path, ["text;platform;created_at", "z;blog;06/12/2026 09:30 -0500"], "z.csv")
    report, producer = run(path, csv_options(date_format="%d/%m/%Y %H:%M %z", tz="Europe/Paris"))
    assert records(producer)[0]["created_at"] == "2026-12-06T14:30:00.000Z"


def test_the_zone_applies_to_iso_times_without_an_offset(tmp_path: Path) -> None:
    path = write(tmp_path, ["text,platform,created_at", "a,blog,2026-12-06 09:30:00",
                            "b,blog,2026-12-06T09:30:00+00:00", "c,blog,1796551800", "d,blog,hier"])
    report, producer = run(path, csv_options(tz="Europe/Paris"))
    assert [r["created_at"] for r in records(producer)] == [
        "2026-12-06T08:30:00.000Z", "2026-12-06T09:30:00.000Z", "2026-12-06T10:10:00.000Z"]
    assert report.refused == [(4, "invalid_field: created_at is not an ISO 8601 time")]


@pytest.mark.parametrize("name", ["Etc/UTC", "Zulu", "Etc/GMT", "GMT0", "posix/UTC",
                                  "posix/Etc/UTC"])
def test_another_name_of_utc_sends_what_utc_sends(tmp_path: Path, name: str) -> None:
    """Rows without an id get an id made from their content: with `--tz Etc/UTC` the times
    were rewritten (`2026-12-06 09:30:00` sent as `2026-12-06T09:30:00.000Z`), so the same
    rows replayed with `--tz UTC` (or none) were new mentions (until 2026-12-06)."""
    path = write(tmp_path, ["text,platform,created_at", "a,blog,2026-12-06 09:30:00",
                            "b,blog,2026-12-06T09:30:00+01:00"])
    _, utc = run(path, csv_options(tz="UTC"))
    _, other = run(path, csv_options(tz=name))
    assert records(other) == records(utc)


def test_excel_dates_refused_say_to_give_their_format(tmp_path: Path) -> None:
    path = write(tmp_path, DATES[:3])
    report, _ = run(path)
    assert report.refused[0] == (1, "invalid_field: created_at is not an ISO 8601 time")
    assert "2 records with a date that is not ISO 8601: give its format, e.g. --date-format " \
           "\"%d/%m/%Y %H:%M\" --tz Europe/Paris" in report.summary(), report.summary()


def test_timestamps_shift_and_now_with_a_date_format(tmp_path: Path) -> None:
    path = write(tmp_path, DATES[:3])
    options = csv_options(date_format="%d/%m/%Y %H:%M", tz="Europe/Paris")
    report, producer = run(path, options, timestamps="shift")
    hiver, ete = records(producer)
    from datetime import datetime
    assert (datetime.fromisoformat(hiver["created_at"]) - datetime.fromisoformat(ete["created_at"])
            ).days == 153
    report, producer = run(write(tmp_path, ["text;platform;created_at", "x;blog;whenever"], "n.csv"),
                           options, timestamps="now")
    assert report.refused == [] and report.sent == 1  # its date does not matter


@pytest.mark.parametrize("given, message", [
    (dict(date_format="%d/%m/%Q"), "--date-format '%d/%m/%Q': 'Q' is a bad directive"),
    (dict(date_format="le jour"), "--date-format 'le jour': no % directive"),
    (dict(tz="Europe/Pariss"), "--tz: unknown time zone: 'Europe/Pariss'"),
])
def test_a_bad_date_format_or_zone_is_an_error(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ReplayOptionError) as raised:
        csv_options(**given)
    assert message in str(raised.value)


def test_where_to_go_on_from_repeats_the_options(tmp_path: Path, capsys: Any) -> None:
    from veille.cli import replay_outcome

    report = ReplayReport(read=3, sent=1, sent_through=1, unit="record")
    assert replay_outcome(report, stopped_by=2, path=tmp_path / "e.csv", timestamps="keep",
                          options=["--encoding", "cp1252", "--column", "created_at=Date de publication"]
                          ) == 130
    assert (f"veille collect replay {tmp_path / 'e.csv'} --from-line 2 --timestamps keep "
            "--encoding cp1252 --column 'created_at=Date de publication'") in capsys.readouterr().err


def test_where_to_go_on_from_quotes_the_file_for_a_shell(tmp_path: Path, capsys: Any) -> None:
    """An export saved as "Export réseaux (déc).csv": the command printed to go on from is pasted
    into a shell as it is, so the file is quoted as the options are (it was not: the shell split
    it, or choked on its parenthesis)."""
    import shlex

    from veille.cli import replay_outcome

    path = tmp_path / "Export réseaux (déc).csv"
    report = ReplayReport(read=3, sent=1, sent_through=1, unit="record")
    replay_outcome(report, stopped_by=15, path=path, timestamps="keep",
                   options=["--encoding", "cp1252"])
    line = capsys.readouterr().err.splitlines()[-1]
    command = line.partition("to go on from there: ")[2]
    assert shlex.split(command) == ["veille", "collect", "replay", str(path), "--from-line", "2",
                                    "--timestamps", "keep", "--encoding", "cp1252"]


def test_csv_options_with_format_jsonl_say_the_format_given(tmp_path: Path) -> None:
    """--format jsonl on export.csv with --encoding: the file is JSON Lines because --format says
    so, not because of its name (the error said it was named neither *.csv nor *.tsv)."""
    path = tmp_path / "export.csv"
    path.write_text('{"text": "acme"}\n')
    with pytest.raises(ReplayFileError) as raised:
        check_file(path, "jsonl", options=csv_options(encoding="cp1252"))
    assert "--encoding reads CSV only, and the file is read as JSON Lines (--format jsonl" \
        in str(raised.value)
    assert "named neither" not in str(raised.value)
