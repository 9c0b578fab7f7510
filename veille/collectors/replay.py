"""Replay collector: a file of raw mentions -> mentions.raw, at a rate or as fast as possible.

The file is JSON Lines (one raw mention per line) or CSV (a header row naming the raw mention's
fields, then one mention per row: a spreadsheet's or a social-listening tool's export), either
of them gzip-compressed. The reading (this module but `replay`) imports no Kafka client."""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import gzip
import itertools
import json
import re
import sys
import time
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import IO, Any

from streams.records import (
    AUDIENCE_FIELDS,
    InvalidMention,
    Limits,
    RawMention,
    content_id,
    iso,
    mention_from_dict,
    parse_time,
)
from streams.topics import MENTIONS_RAW
from veille.collectors.flat import AUDIENCE_PREFIX, brand_list, count, gather_audience
from veille.settings import Settings
from veille.timezones import TimezoneError, is_utc_name, local_time, zone

TIMESTAMP_MODES = ("keep", "shift", "now")
#: The longest line read (bytes), at the default text limit: a valid raw mention is far
#: smaller (5,000 characters of text and bounded fields). A longer line (a JSON array or a
#: pretty-printed export read as one line) is refused without being held in memory whole.
MIN_LINE_CAP = 1 << 20
NOT_JSONL_HINT = ("is it JSON Lines (one raw mention, a JSON object, per line; not CSV, a JSON "
                  "array or pretty-printed JSON)?")
NOT_CSV_HINT = ("is it CSV (a header row naming the raw mention's fields, then one mention per "
                "row; --format jsonl for JSON Lines)?")
#: `--format`: "auto" reads a file named *.csv or *.tsv (gzipped or not) as CSV, else JSON Lines.
FORMATS = ("auto", "jsonl", "csv")
GZIP_MAGIC = b"\x1f\x8b"
#: After the last send, how long the broker has to acknowledge what is in flight.
ACK_TIMEOUT_SECONDS = 30.0


@dataclass
class ReplayReport:
    read: int = 0
    sent: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    failed: int = 0
    seconds: float = 0.0
    #: Why the replay stopped short or its last mentions went unacknowledged, if it did.
    error: str | None = None
    #: Number of the last line read (1-based; 0: none).
    line: int = 0
    #: Lines in the file, once read to its end (None: stopped before).
    lines: int | None = None
    #: Number of the line of the last mention handed to the producer (0: none).
    sent_through: int = 0
    #: Where a replay stopped early or with failed sends goes on from (`--from-line`): the
    #: line of the first mention the broker did not acknowledge, else the line after the last
    #: one sent (0: the replay did not run). Until 2026-12-05 it was always the latter, past
    #: mentions never acknowledged.
    resume_line: int = 0
    #: What the numbers count: "line" (JSON Lines) or "record" (CSV: 1 = the first data row,
    #: whatever lines its quoted cells span).
    unit: str = "line"
    #: Why the file could not be read to its end (a gzip file cut short), if so.
    read_error: str | None = None
    #: The CSV options it was read with (for the summary's hints: --encoding, --date-format).
    options: CsvOptions | None = None

    @property
    def all_refused(self) -> bool:
        """Lines (records: `unit`) were read and every one was refused (a file that is not JSON
        Lines, or not CSV: `hint`)."""
        return bool(self.read) and len(self.refused) == self.read

    @property
    def hint(self) -> str:
        """What to check in a file whose every line (record) was refused."""
        return NOT_CSV_HINT if self.unit == "record" else NOT_JSONL_HINT

    def summary(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        text = (
            f"read {self.read} {self.unit}s, sent {self.sent} mentions ({rate:,.0f}/s), "
            f"refused {len(self.refused)}, send failures {self.failed}"
        )
        if self.read_error:
            text += f"\n  {self.read_error}"
        if self.error:
            text += f"\n  {self.error}"
        for line, reason in self.refused[:20]:
            text += f"\n  {self.unit} {line}: {reason}"
        if len(self.refused) > 20:
            text += f"\n  ... and {len(self.refused) - 20} more"
        return text + self._csv_hints()

    def _csv_hints(self) -> str:
        """What to give for CSV records refused as not UTF-8 or for a date not ISO 8601, when
        the option that reads them was not given."""
        if self.unit != "record":
            return ""
        options = self.options or CsvOptions()
        text = ""
        not_utf8 = sum(reason.startswith("undecodable_bytes: not UTF-8") for _, reason in self.refused)
        if not_utf8 and options.utf8:
            text += (f"\n  {not_utf8} {self.unit}{'s' if not_utf8 != 1 else ''} not UTF-8: an export "
                     "of French Excel's \"CSV (séparateur: point-virgule)\" is Windows-1252; "
                     "replay it with --encoding cp1252")
        not_iso = sum(reason.endswith(" is not an ISO 8601 time") for _, reason in self.refused)
        if not_iso and options.date_format is None:
            text += (f"\n  {not_iso} {self.unit}{'s' if not_iso != 1 else ''} with a date that is "
                     "not ISO 8601: give its format, e.g. --date-format \"%d/%m/%Y %H:%M\" --tz "
                     "Europe/Paris (Excel's day first, and the zone of the times)")
        return text


def _fill_source_and_id(obj: dict[str, Any]) -> None:
    """As the webhook does: a missing or blank `source` is "replay", and a missing or blank
    `id` is `replay-` + 32 hex digits of the SHA-256 of the line's source, platform, author,
    url, text and created_at as written (before --timestamps moves it): the same line gives
    the same id at every run, so a file replayed twice is de-duplicated downstream."""
    for key in ("source", "id"):
        if isinstance(obj.get(key), str) and not obj[key].strip():
            del obj[key]
    if obj.get("source") is None:  # null as missing, as the webhook has it
        obj["source"] = "replay"
    if obj.get("id") is None:
        obj["id"] = content_id("replay", *(obj.get(k) for k in (
            "source", "platform", "author", "url", "text", "created_at")))


def line_cap(limits: Limits) -> int:
    """The longest line `read_mentions` reads, in bytes (see MIN_LINE_CAP)."""
    return max(MIN_LINE_CAP, 16 * limits.max_text_chars)


def json_line(line: bytes) -> Any:
    """A line's JSON value, the line read as UTF-8 (a byte order mark allowed): json.loads
    given bytes guesses UTF-16 or UTF-32 from the first ones, and a UTF-16 file had lines sent
    and others refused as "not UTF-8" at a UTF-16 decoder's offset (until 2026-12-05)."""
    return json.loads(line.decode("utf-8").removeprefix("\ufeff"))


def _lines(fh: IO[bytes], cap: int, first: int = 1,
           report: ReplayReport | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(number, line) of each line from line `first` on; None for a line longer than `cap`
    bytes, which is skipped in chunks, never held whole. At the end, `report.lines` is the
    number of lines."""
    number = 0
    while True:
        line = fh.readline(cap + 1)
        if not line:
            if report is not None:
                report.lines = number
            return
        number += 1
        too_long = len(line) > cap and not line.endswith(b"\n")
        if too_long:
            while (rest := fh.readline(cap)) and not rest.endswith(b"\n"):
                pass
        if number >= first:
            yield number, None if too_long else line


class ReplayFileError(ValueError):
    """A file that cannot be replayed at all, said before anything is sent: a CSV header that
    names no text column, gzip data that is not, an empty CSV."""


@dataclass(frozen=True)
class Refusal:
    """A line (record) that is no mention, and why: as InvalidMention's `reason: detail`."""

    reason: str


def file_kind(path: Path, file_format: str = "auto") -> str:
    """"jsonl" or "csv": `file_format` itself, or for "auto" by the name (*.csv, *.tsv, either
    with .gz: CSV; anything else JSON Lines, as before CSV was read)."""
    if file_format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {file_format!r}")
    if file_format != "auto":
        return file_format
    name = path.name.lower().removesuffix(".gz")
    return "csv" if name.endswith((".csv", ".tsv")) else "jsonl"


@contextlib.contextmanager
def open_file(path: Path) -> Iterator[tuple[IO[bytes], bool]]:
    """The file's bytes, decompressed (streaming) when it is named *.gz or starts with gzip's
    magic bytes; and whether it was."""
    with open(path, "rb") as raw:
        gz = raw.read(2) == GZIP_MAGIC or path.name.lower().endswith(".gz")
        raw.seek(0)
        if not gz:
            yield raw, False
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped, True  # type: ignore[misc]


#: What reading a file may raise past its start: gzip data damaged or cut short, a disk error.
READ_ERRORS = (OSError, EOFError, zlib.error)


def _jsonl_items(fh: IO[bytes], cap: int, first: int,
                 report: ReplayReport) -> Iterator[tuple[int, Any]]:
    """(number, JSON value) of each line from `first` on; a Refusal for a line that is not
    JSON, None for a blank one."""
    for number, line in _lines(fh, cap, first, report):
        if line is None:
            yield number, Refusal(f"line_too_long: more than {cap:,} bytes; " + NOT_JSONL_HINT)
        elif not line.strip():
            yield number, None
        else:
            try:
                yield number, json_line(line)
            except UnicodeDecodeError as exc:
                yield number, Refusal(f"undecodable_bytes: not UTF-8 at byte {exc.start}")
            except (ValueError, RecursionError) as exc:
                yield number, Refusal(f"invalid_json: {str(exc)[:120]}")


# CSV ---------------------------------------------------------------------------------------------

#: The raw mention's fields a CSV column may name (case-insensitive, surrounding spaces ignored);
#: the audience figures as `audience.followers` or `audience__followers` (the webhook's form).
CSV_FIELDS = ("id", "source", "platform", "author", "text", "url", "created_at", "language",
              "collected_at", "brands")
CSV_AUDIENCE = tuple(AUDIENCE_PREFIX + figure for figure in AUDIENCE_FIELDS)
KNOWN_COLUMNS = (", ".join(CSV_FIELDS) + ", " + ", ".join(f"audience.{f}" for f in AUDIENCE_FIELDS)
                 + " (or audience__followers...)")
#: The columns a row cannot be a mention without (created_at: unless --timestamps now).
CSV_REQUIRED = ("text", "platform", "created_at")
SEPARATORS = (",", ";", "\t")
#: Unix seconds in a time column (nine digits or more: "20250101" is an ISO 8601 date).
_SECONDS = re.compile(r"[0-9]{9,}(?:\.[0-9]+)?")
_BOM = "\ufeff".encode()


class ReplayOptionError(ValueError):
    """A CSV option (--column, --encoding, --date-format, --tz) that cannot be used, whatever
    the file: said before the file is read, naming the option."""


#: Encodings veille suggests; any that Python's codecs read line by line is taken.
ENCODING_EXAMPLES = "e.g. utf-8, cp1252, latin-1"
#: ASCII, and what escape and IDNA codecs read as other characters: an encoding a CSV is read
#: with must give them back as they are.
_ASCII = bytes(range(128)) + rb" \u00e9 \x41 .xn--bcher-kva."


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV file's cells are read (made by csv_options, which checks them).

    `columns`: (field, header cell) pairs, --column FIELD=HEADER: the field is the column of
    that header cell (case-insensitive, surrounding spaces ignored), and a column named as the
    field itself is then ignored. `encoding`: the bytes' (--encoding; read line by line, so
    one whose line breaks are ASCII's). `date_format`: created_at and collected_at as this
    strptime format (--date-format), else ISO 8601 or Unix seconds. `zone`: of the times
    without an offset (--tz; daylight saving as timezones.local_time, fold=0). `argv`: the
    options as given on the command line (the command to go on from repeats them)."""

    columns: tuple[tuple[str, str], ...] = ()
    encoding: str = "utf-8"
    date_format: str | None = None
    zone: tzinfo = UTC
    argv: tuple[str, ...] = ()

    @property
    def given(self) -> tuple[str, ...]:
        """The options given (--column, --encoding...), each once: named in the error for a
        JSON Lines file."""
        return tuple(dict.fromkeys(self.argv[::2]))

    @property
    def codec(self) -> str:
        """The codec's own name ("utf-8", "cp1252", "iso8859-1")."""
        return codecs.lookup(self.encoding).name

    @property
    def decoding(self) -> str:
        """What each line is decoded as: UTF-8 whether spelt utf-8 or utf-8-sig (the byte order
        mark is taken off the file's first bytes, never off each line)."""
        return "utf-8" if self.codec in ("utf-8", "utf-8-sig") else self.encoding

    @property
    def utf8(self) -> bool:
        return self.decoding == "utf-8"


def csv_options(columns: Sequence[str] = (), encoding: str | None = None,
                date_format: str | None = None, tz: str | None = None) -> CsvOptions:
    """The options as the command line gives them (`columns`: "FIELD=HEADER" each), checked;
    ReplayOptionError naming the option otherwise. None: not given (UTF-8, ISO 8601, UTC)."""
    argv = tuple(arg for spec in columns for arg in ("--column", spec))
    for flag, value in (("--encoding", encoding), ("--date-format", date_format), ("--tz", tz)):
        argv += (flag, value) if value is not None else ()
    known = (*CSV_FIELDS, *CSV_AUDIENCE)
    mapped: dict[str, str] = {}
    for spec in columns:
        name, equals, header = spec.partition("=")
        if not equals:
            raise ReplayOptionError(f"--column {spec}: expected FIELD=HEADER (e.g. --column "
                                    "text=Content)")
        if not header.strip():
            raise ReplayOptionError(f"--column {spec}: no header cell named (FIELD=HEADER)")
        field_name = _column(name)
        if field_name not in known:
            raise ReplayOptionError(f"--column {spec}: {name.strip()} is not a raw mention field "
                                    f"(the known ones: {KNOWN_COLUMNS})")
        if field_name in mapped:
            shown = field_name.replace(AUDIENCE_PREFIX, "audience.")
            raise ReplayOptionError(f"--column {spec}: {shown} is mapped twice (--column "
                                    f"{mapped[field_name]} too)")
        mapped[field_name] = spec
    pairs = tuple((f, mapped[f].partition("=")[2]) for f in mapped)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
            ascii_like = _ASCII.decode(encoding) == _ASCII.decode("ascii")
        except LookupError as exc:
            what = "not a text encoding" if "text encoding" in str(exc) else "unknown encoding"
            raise ReplayOptionError(f"--encoding {encoding}: {what} ({ENCODING_EXAMPLES})") from None
        except UnicodeError:  # undefined, punycode: not even ASCII
            ascii_like = False
        if not ascii_like:  # UTF-16, UTF-32, UTF-7: a line break is not the byte 0x0A alone;
            # unicode_escape, idna: a cell's `\u00e9` or `xn--` read as another text
            raise ReplayOptionError(f"--encoding {encoding}: not read line by line (it does not "
                                    "read ASCII's bytes as ASCII: UTF-16 or UTF-32, such as "
                                    "Excel's \"Unicode text\", or an escape codec); save the file "
                                    "as CSV UTF-8")
    if date_format is not None:
        if "%" not in date_format:
            raise ReplayOptionError(f"--date-format {date_format!r}: no % directive (strptime's, "
                                    "e.g. \"%d/%m/%Y %H:%M\")")
        try:
            datetime.strptime("", date_format)
        except ValueError as exc:
            if "does not match format" not in str(exc):  # a bad directive, a stray %
                raise ReplayOptionError(f"--date-format {date_format!r}: {exc}") from None
    where: tzinfo = UTC
    # Another name of UTC (Etc/UTC, Zulu...) is UTC: until 2026-12-06 its times were rewritten
    # (a cell's "2026-12-01 10:00" became "2026-12-01T10:00:00Z"), so rows without an id got
    # other generated ids than with --tz UTC, the same instants sent again as new mentions.
    if tz is not None and not is_utc_name(tz):
        try:
            where = zone(tz)
        except TimezoneError as exc:
            raise ReplayOptionError(f"--tz: unknown time zone: {exc}") from None
    return CsvOptions(columns=pairs, encoding=encoding or "utf-8", date_format=date_format,
                      zone=where, argv=argv)


class _RecordTooLong(Exception):
    pass


class _PhysicalLines:
    """The file's lines, decoded (`encoding`: a codec whose line breaks are ASCII's), for
    csv.reader: each read at most `cap` + 1 bytes, the bytes of the record being read counted
    (_RecordTooLong past `cap`, the line that crossed it skipped to its end, never held whole),
    a byte that is not of the encoding noted (`bad_byte`, its offset in the record) and read as
    U+FFFD. A UTF-8 byte order mark starting the file is skipped when reading UTF-8, else
    noted (`utf8_bom`: the file is UTF-8, not what it is read as)."""

    def __init__(self, fh: IO[bytes], cap: int, encoding: str = "utf-8") -> None:
        self.fh, self.cap, self.encoding = fh, cap, encoding
        self.size = 0
        self.bad_byte: int | None = None
        self.first = True
        self.utf8_bom = False
        self.head = b""  # the file's first bytes (a UTF-16 byte order mark?)

    def __iter__(self) -> _PhysicalLines:
        return self

    def start_record(self) -> None:
        self.size, self.bad_byte = 0, None

    def __next__(self) -> str:
        line = self.fh.readline(self.cap + 1)
        if not line:
            raise StopIteration
        if self.first:
            self.first, self.head = False, line[:4]
            if line.startswith(_BOM):
                self.utf8_bom = self.encoding != "utf-8"
                line = line.removeprefix(_BOM) if not self.utf8_bom else line
        if self.size + len(line) > self.cap:
            if not line.endswith(b"\n"):
                while (rest := self.fh.readline(self.cap)) and not rest.endswith(b"\n"):
                    pass
            raise _RecordTooLong
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError as exc:
            if self.bad_byte is None:
                self.bad_byte = self.size + exc.start
            text = line.decode(self.encoding, "replace")
        self.size += len(line)
        return text


def _column(name: str) -> str:
    key = name.strip().lower()
    return AUDIENCE_PREFIX + key[len("audience."):] if key.startswith("audience.") else key


def _csv_start(fh: IO[bytes], cap: int, *, stamp_now: bool = False, options: CsvOptions | None = None
               ) -> tuple[_PhysicalLines, Any, list[str | None], list[str]]:
    """Read the header row: the lines, the reader (the separator found from the header's
    first line: the most frequent of `,` `;` and tab), each column's field (None: ignored) and
    the notes to show (unknown columns). ReplayFileError for a header that cannot give mentions."""
    options = options or CsvOptions()
    lines = _PhysicalLines(fh, cap, options.decoding)
    try:
        first = next(lines, None)
    except _RecordTooLong:
        raise ReplayFileError(f"the header row is longer than {cap:,} bytes; {NOT_CSV_HINT}") from None
    if lines.utf8_bom:
        raise ReplayFileError(f"the file starts with a UTF-8 byte order mark: it is UTF-8, not "
                              f"{options.encoding}; leave --encoding out")
    if first is None or not first.strip():
        raise ReplayFileError("no header row: a CSV file starts with a row naming its columns "
                              f"(the known columns: {KNOWN_COLUMNS})")
    separator = max(SEPARATORS, key=first.count)
    reader = csv.reader(itertools.chain([first], lines), delimiter=separator)
    try:
        header = next(reader)
    except _RecordTooLong:
        raise ReplayFileError(f"the header row is longer than {cap:,} bytes; {NOT_CSV_HINT}") from None
    utf16 = lines.head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if lines.bad_byte is not None:  # UTF-16 (Excel's "Unicode text"), Windows-1252 (French Excel)
        if not options.utf8:
            raise ReplayFileError(f"the header row is not {options.encoding} (byte {lines.bad_byte})")
        raise ReplayFileError(f"the header row is not UTF-8 (byte {lines.bad_byte}): save the file "
                              "as CSV UTF-8 (Excel: \"CSV UTF-8 (comma delimited)\")" + (
                                  "" if utf16 else "; or, for French Excel's \"CSV (séparateur: "
                                  "point-virgule)\" (Windows-1252), give --encoding cp1252"))
    if "\x00" in first:  # UTF-16 read as an 8-bit encoding: every other byte is NUL
        raise ReplayFileError("the header row holds NUL bytes: UTF-16 (Excel's \"Unicode text\")? "
                              "save the file as CSV UTF-8")
    known = (*CSV_FIELDS, *CSV_AUDIENCE)
    cells = [written.removeprefix("\ufeff").strip() for written in header]
    names = ", ".join(h or "(no name)" for h in cells)
    # --column: the header cell of each field mapped (matched as the fields' names are).
    by_mapping: dict[int, tuple[str, str]] = {}  # column index -> (field, the --column given)
    for field_name, cell in options.columns:
        given = f"--column {field_name.replace(AUDIENCE_PREFIX, 'audience.')}={cell}"
        found = [i for i, h in enumerate(cells) if h.lower() == cell.strip().lower()]
        if not found:
            raise ReplayFileError(f"{given}: the header has no column {cell.strip()} (it names "
                                  f"{names[:300]})")
        if len(found) > 1:
            raise ReplayFileError(f"{given}: the header names {cells[found[0]]} twice (columns "
                                  f"{found[0] + 1} and {found[1] + 1}): which one is meant?")
        if found[0] in by_mapping:
            raise ReplayFileError(f"{by_mapping[found[0]][1]} and {given}: one column gives one "
                                  "field")
        by_mapping[found[0]] = (field_name, given)
    mapped = {f: given for f, given in by_mapping.values()}
    columns: list[str | None] = []
    seen: dict[str, str] = {}
    ignored: list[str] = []
    overridden: list[str] = []  # named as a field that --column takes from another column
    where = f"the known columns: {KNOWN_COLUMNS}"
    for i, written in enumerate(header):
        if i in by_mapping:
            seen[by_mapping[i][0]] = cells[i]
            columns.append(by_mapping[i][0])
            continue
        name = _column(written.removeprefix("\ufeff"))
        if name in mapped:
            overridden.append(f"{cells[i]} ({mapped[name]})")
            columns.append(None)
            continue
        if name == "audience":
            raise ReplayFileError(f"the column {written.strip()!r}: a CSV gives the audience one "
                                  "figure per column (audience.followers, audience.likes...); "
                                  + where)
        if name in seen:
            raise ReplayFileError(f"the column {name} is named twice ({seen[name]!r} and "
                                  f"{written.strip()!r}): which one is meant? {where}")
        if name in known:
            seen[name] = written.strip()
            columns.append(name)
        else:
            ignored.append(written.strip() or f"column {i + 1} (no name)")
            columns.append(None)
    needed = [c for c in CSV_REQUIRED if c not in seen and not (stamp_now and c == "created_at")]
    if needed:
        raise ReplayFileError(f"no {' and no '.join(needed)} column (the header names "
                              f"{names[:300]}); {where}" + (
                                  "" if options.columns else "; a column of another name: "
                                  "--column FIELD=HEADER (e.g. --column text=Content)"))
    notes = [f"columns ignored (not raw mention fields): {', '.join(ignored)}; {where}"] if ignored else []
    if overridden:
        notes.append(f"columns ignored (their field is given by --column): {', '.join(overridden)}")
    return lines, reader, columns, notes


def _csv_time(name: str, cell: str, options: CsvOptions) -> Any:
    """A created_at or collected_at cell as the raw mention gets it: by --date-format (a
    Refusal when it does not match), else Unix seconds as a number or the text as written (ISO
    8601, read by the record's contract); a time without an offset, of --tz (as UTC ISO 8601)."""
    text = cell.strip()
    if options.date_format is not None:
        try:
            when = datetime.strptime(text, options.date_format)
        except ValueError:
            return Refusal(f"invalid_field: {name} {text[:40]!r} does not match --date-format "
                           f"{options.date_format!r}")
    elif _SECONDS.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() else number
    elif options.zone is UTC:  # as before --tz: read by the contract, a naive time as UTC
        return cell
    else:
        try:
            when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            return cell  # refused by the contract, with its reason
    if when.tzinfo is None:
        when = local_time(when, options.zone)
    try:
        return iso(when)
    except OverflowError:  # 0001-01-01 00:30 of Paris is before year 1 in UTC
        return Refusal(f"invalid_field: {name} is out of range")


def _csv_object(row: list[str], columns: list[str | None], options: CsvOptions | None = None) -> Any:
    """A row's raw mention object (empty cells absent, audience figures gathered and read as
    integers, times as _csv_time reads them with `options`), or a Refusal."""
    options = options or CsvOptions()
    extra = row[len(columns):]
    if any(cell.strip() for cell in extra):
        return Refusal(f"invalid_csv: {len(row)} cells, the header names {len(columns)} columns")
    obj: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=False):
        if name is None or not cell.strip():
            continue
        if name in ("created_at", "collected_at"):
            obj[name] = _csv_time(name, cell, options)
            if isinstance(obj[name], Refusal):
                return obj[name]
        elif name == "brands":  # "acme, boreal": the list it says
            obj[name] = brand_list(cell)
        else:
            obj[name] = cell
    obj = gather_audience(obj)  # (never raises: no whole `audience` column, refused at start)
    if isinstance(obj.get("audience"), dict):
        obj["audience"] = {k: count(v) for k, v in obj["audience"].items()}
    return obj


def _csv_items(fh: IO[bytes], cap: int, first: int, report: ReplayReport,
               stamp_now: bool = False, options: CsvOptions | None = None) -> Iterator[tuple[int, Any]]:
    """(record number, raw mention object) of each data row from record `first` on (1 = the
    first row after the header); a Refusal for a row that cannot be one, None for a blank one.
    At the end, `report.lines` is the number of records."""
    options = options or CsvOptions()
    lines, reader, columns, _ = _csv_start(fh, cap, stamp_now=stamp_now, options=options)
    not_of = "UTF-8" if options.utf8 else options.encoding
    # --timestamps now: each row stamped, its time cells as written (Unix seconds as numbers:
    # its id the same as before the options existed), neither format nor zone.
    cells = CsvOptions() if stamp_now else options
    number = 0
    while True:
        lines.start_record()
        try:
            row = next(reader)
        except StopIteration:
            break
        except _RecordTooLong:
            row = None  # the next reader starts at the line after the one that crossed the cap
            reader = csv.reader(lines, delimiter=reader.dialect.delimiter)
        except csv.Error as exc:  # a cell over the csv module's limit (131,072 characters;
            # left as it is, process-wide: a valid text is at most 100,000): a quote not closed
            number += 1
            if number >= first:
                yield number, Refusal(f"invalid_csv: {str(exc)[:120]} (a quote not closed?)")
            continue
        number += 1
        if number < first:
            continue
        if row is None:
            yield number, Refusal(f"record_too_long: more than {cap:,} bytes (a quote not closed?); "
                                  + NOT_CSV_HINT)
        elif lines.bad_byte is not None:
            yield number, Refusal(f"undecodable_bytes: not {not_of} at byte {lines.bad_byte}")
        elif not any(cell.strip() for cell in row):
            yield number, None
        else:
            yield number, _csv_object(row, columns, cells)
    report.lines = number


def _items(path: Path, kind: str, cap: int, first: int, report: ReplayReport,
           stamp_now: bool = False, options: CsvOptions | None = None) -> Iterator[tuple[int, Any]]:
    """The file's lines (records) as (number, JSON value, Refusal or None for a blank one); a
    file that cannot be read to its end ends them, `report.read_error` saying why."""
    report.unit = "record" if kind == "csv" else "line"
    with open_file(path) as (fh, gz):
        items = (_csv_items(fh, cap, first, report, stamp_now, options) if kind == "csv"
                 else _jsonl_items(fh, cap, first, report))
        try:
            yield from items
        except READ_ERRORS as exc:
            what = ("the gzip data is damaged or cut short" if gz else "the file cannot be read")
            report.read_error = (f"stopped reading {path} after {report.unit} {report.line}: "
                                 f"{what} ({type(exc).__name__}: {str(exc)[:120]})")


def check_file(path: Path, file_format: str = "auto", *, stamp_now: bool = False,
               limits: Limits | None = None, options: CsvOptions | None = None) -> list[str]:
    """Before anything is sent: ReplayFileError when the file cannot be replayed at all (a CSV
    header that names no text column, or not the header cells --column names; gzip data that
    is not; CSV options for a JSON Lines file); else the notes to show (CSV columns ignored)."""
    kind = file_kind(path, file_format)
    if kind == "jsonl" and options is not None and options.given:
        why = ("--format jsonl" if file_format == "jsonl" else
               "named neither *.csv nor *.tsv: --format csv reads it as CSV")
        raise ReplayFileError(f"{path}: {', '.join(options.given)} reads CSV only, and the file is read "
                              f"as JSON Lines ({why}; JSON Lines is UTF-8, its times ISO 8601 or "
                              "Unix seconds)")
    gz = False  # open() itself may fail: the file cannot be read, whatever its content
    try:
        with open_file(path) as (fh, gz):
            if kind == "csv":
                return _csv_start(fh, line_cap(limits or Limits()), stamp_now=stamp_now,
                                  options=options)[3]
            fh.read(1)
    except ReplayFileError as exc:
        raise ReplayFileError(f"{path}: {exc}") from None
    except READ_ERRORS as exc:
        what = "not gzip data, or damaged" if gz else "cannot be read"
        raise ReplayFileError(f"{path}: {what} ({type(exc).__name__}: {str(exc)[:120]})") from None
    return []


def read_mentions(
    path: Path, limits: Limits, now: datetime, shift: timedelta, report: ReplayReport,
    *, stamp_now: bool = False, first_line: int = 1, file_format: str = "auto",
    options: CsvOptions | None = None,
) -> Generator[RawMention, None, None]:
    """Valid mentions of the file, in order; invalid lines (records) are recorded in the report.

    `shift` moves `created_at` and `collected_at`; `stamp_now` (--timestamps now) checks each
    line as if dated `now` (its own date, even missing, does not matter: the sender stamps it
    with its send time)."""
    cap = line_cap(limits)
    kind = file_kind(path, file_format)
    for number, obj in _items(path, kind, cap, first_line, report, stamp_now, options):
        report.line = number
        if obj is None:  # a blank line or row
            continue
        report.read += 1
        if isinstance(obj, Refusal):
            report.refused.append((number, obj.reason))
            continue
        try:
            if isinstance(obj, dict):
                _fill_source_and_id(obj)
            if isinstance(obj, dict) and stamp_now:
                obj["created_at"] = iso(now)
                obj.pop("collected_at", None)  # collected when sent (the record's time)
            elif isinstance(obj, dict) and shift:
                for key in ("created_at", "collected_at"):
                    if obj.get(key) is not None:
                        obj[key] = iso(parse_time(obj[key], key) + shift)
            yield mention_from_dict(obj, now=now, limits=limits)
        except InvalidMention as exc:
            report.refused.append((number, str(exc)))
        except OverflowError:  # created_at + shift is before year 1 or after 9999
            report.refused.append((number, "invalid_field: created_at is out of range"
                                   + (" once shifted (--timestamps shift)" if shift else "")))
        except (ValueError, RecursionError) as exc:  # none known: refused, not a crash
            report.refused.append((number, f"invalid_field: {str(exc)[:120]}"))


def file_shift(path: Path, mode: str, now: datetime, limits: Limits | None = None,
               file_format: str = "auto", options: CsvOptions | None = None) -> timedelta:
    """For mode "shift": the offset that moves the file's newest created_at to now.

    The newest of the lines that are valid mentions as they stand (`limits`, with any age):
    one line that would be refused anyway (a typo dated 2030 or 9999 in a file of 2025, a
    broken line) must not set the shift, or every other line lands years in the past. A file
    with no such line (all of it dated ahead: recorded on a clock that ran fast, or made up)
    is shifted by its newest line that is valid at any date."""
    if mode != "shift":
        return timedelta(0)
    limits = replace(limits or Limits(), max_age=timedelta(days=36500))
    any_date = replace(limits, max_future=timedelta(days=36500))
    newest: datetime | None = None
    newest_any: datetime | None = None
    kind = file_kind(path, file_format)
    for _, obj in _items(path, kind, line_cap(limits), 1, ReplayReport(), options=options):
        if obj is None or isinstance(obj, Refusal):
            continue
        try:
            if isinstance(obj, dict):
                _fill_source_and_id(obj)
            m = mention_from_dict(obj, now=now, limits=any_date)
        except Exception:  # noqa: BLE001 (refused when read: see read_mentions)
            continue
        t = m.created_at
        newest_any = t if newest_any is None or t > newest_any else newest_any
        if t - now <= limits.max_future:
            newest = t if newest is None or t > newest else newest
    newest = newest or newest_any
    return (now - newest) if newest else timedelta(0)


def replay(
    path: Path,
    settings: Settings,
    *,
    rate: float = 0.0,
    timestamps: str = "keep",
    limit: int | None = None,
    progress: bool = True,
    producer: Any = None,
    stream: IO[str] = sys.stderr,
    should_stop: Callable[[], bool] = lambda: False,
    ack_timeout: float = ACK_TIMEOUT_SECONDS,
    first_line: int = 1,
    file_format: str = "auto",
    options: CsvOptions | None = None,
) -> ReplayReport:
    """Send the file's valid mentions keyed by id; `rate` in mentions/s, 0 = as fast as possible.

    `file_format`: "jsonl", "csv" or "auto" (by the name: see file_kind); gzip is read whatever
    the format. `first_line`: the first line, or for CSV the first record (1 = the first data
    row), to send. `options`: how a CSV's cells are read (csv_options: --column, --encoding,
    --date-format, --tz). ReplayFileError, before anything is sent, for a file that cannot be
    replayed at all (a CSV without a text column).

    Returns once every mention sent is acknowledged, or `ack_timeout` seconds after the last
    send: those still unacknowledged then (a broker gone) count as send failures, and the
    producer is closed without waiting for them. It waited for ever (kafka-python's idempotent
    producer without a broker never expires its batches), and the summary never came."""
    if timestamps not in TIMESTAMP_MODES:
        raise ValueError(f"timestamps must be one of {TIMESTAMP_MODES}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    check_file(path, file_format, stamp_now=timestamps == "now", options=options)
    from veille.collectors.producer import close_now, make_producer

    own_producer = producer is None
    producer = producer or make_producer(settings)
    topic = settings.topic(MENTIONS_RAW)
    report = ReplayReport(options=options)
    start_clock = datetime.now(UTC)
    # Replayed history may be older than the live limits; "keep" widens the age bound.
    limits = Limits(
        max_text_chars=settings.max_text_chars,
        max_future=timedelta(seconds=settings.max_future_seconds),
        max_age=timedelta(days=settings.max_age_days)
        if timestamps != "keep"
        else timedelta(days=36500),
    )
    shift = file_shift(path, timestamps, start_clock, limits, file_format, options)
    bar = _progress(path, progress, stream, file_format, options)
    failures: list[BaseException] = []
    acked: list[None] = []
    unacked: set[int] = set()  # lines of the mentions sent and not acknowledged (yet)

    def on_error(exc: BaseException) -> None:
        failures.append(exc)

    def on_ack(number: int, _metadata: Any) -> None:
        acked.append(None)
        unacked.discard(number)

    flushed = False
    not_sent = 0
    t0 = time.perf_counter()
    mentions = read_mentions(path, limits, start_clock, shift, report,
                             stamp_now=timestamps == "now", first_line=first_line,
                             file_format=file_format, options=options)
    try:
        n = -1
        # The limit is checked before the next line is read: --limit 1 reads no line past
        # the mention it sends (it read, and reported, the bad lines before the next one).
        while not (limit is not None and n + 1 >= limit):
            mention = next(mentions, None)
            if mention is None or should_stop():
                break
            n += 1
            if rate > 0:
                # In short sleeps: a stop asked meanwhile is heard within 0.2 s, not after
                # up to 1/rate seconds (1,000 s at the slowest rate).
                while (delay := t0 + n / rate - time.perf_counter()) > 0 and not should_stop():
                    time.sleep(min(delay, 0.2))
                if should_stop():
                    break
            if timestamps == "now":
                mention = _with_created(mention, datetime.now(UTC))
            try:  # blocks while the producer's buffer is full, up to its max_block_ms
                future = producer.send(topic, key=mention.id.encode("utf-8"),
                                       value=mention.to_json())
            except Exception as exc:  # noqa: BLE001 (not sent: counted, the replay stops)
                not_sent = 1
                report.error = f"stopped: {type(exc).__name__}: {exc}".rstrip(": ")
                break
            unacked.add(report.line)
            future.add_callback(functools.partial(on_ack, report.line)).add_errback(on_error)
            report.sent += 1
            report.sent_through = report.line
            if bar is not None:
                bar.update(1)
        timed_out: str | None = None
        try:
            producer.flush(timeout=ack_timeout)
            flushed = True
        except Exception as exc:  # noqa: BLE001 (a timeout: what is left counts as failed)
            timed_out = type(exc).__name__
    finally:
        mentions.close()  # the file, at once
        if bar is not None:
            bar.close()
        if own_producer:
            if flushed:
                producer.close(timeout=ack_timeout)
            else:
                close_now(producer, ack_timeout)
    # Sent = acknowledged; a send refused at once, failed or never acknowledged is a failure.
    # Counted once the producer is closed: no acknowledgement arrives after this.
    unacknowledged = report.sent - len(acked)
    if timed_out is not None and unacknowledged and not report.error:
        report.error = (f"{unacknowledged} mentions not acknowledged {ack_timeout:g} s after "
                        f"the last send ({timed_out})")
    if failures and not report.error:
        report.error = f"{len(failures)} sends failed, the first: {type(failures[0]).__name__}"
    report.failed = unacknowledged + not_sent
    report.resume_line = min(unacked, default=report.sent_through + 1)
    report.sent = len(acked)
    report.seconds = time.perf_counter() - t0
    return report


def _with_created(m: RawMention, created: datetime) -> RawMention:
    return replace(m, created_at=created)


def _progress(path: Path, enabled: bool, stream: IO[str], file_format: str = "auto",
              options: CsvOptions | None = None) -> Any:
    # Not into a log file or a pipe: a bar redrawn with carriage returns makes one huge line.
    isatty = getattr(stream, "isatty", None)
    if not enabled or not (isatty is not None and isatty()):
        return None
    from tqdm import tqdm

    kind = file_kind(path, file_format)
    total = 0
    with contextlib.suppress(*READ_ERRORS):  # said when the file is read (read_mentions)
        if kind == "csv":  # the non-blank records, quoted cells over several lines read as one
            # (stamp_now: a header without created_at is not refused here; check_file said)
            total = sum(1 for _, obj in _items(path, kind, line_cap(Limits()), 1, ReplayReport(),
                                               stamp_now=True, options=options) if obj is not None)
        else:  # the non-blank lines, without decoding them (a long line read in chunks)
            with open_file(path) as (fh, _):
                total = sum(1 for _, line in _lines(fh, MIN_LINE_CAP)
                            if line is None or line.strip())
    return tqdm(total=total, unit="mention", file=stream, desc="replay")
