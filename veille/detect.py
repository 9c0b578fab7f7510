"""Offline crisis detection: score a `timestamp,value` CSV with the streaming detector, row by row.

The detector sees exactly the buckets the streaming spike agent would close
(`veille.crisis.BrandMonitor.advance`): consecutive buckets on the `bucket_seconds` grid, in
event-time order, a missing bucket being an empty one (a count of 0).

* Each row's timestamp is aligned to the start of its bucket (a multiple of `bucket_seconds`
  since the Unix epoch, UTC): `00:07:53` is in the 5-minute bucket of `00:05:00`.
* A bucket with no row is fed to the detector as 0 (an export that omits zero rows means the
  same as one that writes them), at most `MAX_GAP_BUCKETS` of them in a row as in the agent
  (`CrisisConfig.max_gap_buckets`, a week of 5-minute buckets): a longer silence is a jump, only
  its last `MAX_GAP_BUCKETS` empty buckets are fed. While the detector warms up, a silence (a
  bucket of 0) is held back as the agent holds it (`veille.spikes.feed`).
  Those buckets are not written out: the output has the input's rows only.
* Rows in one bucket add up, as the agent counts a bucket's mentions: the bucket is scored once,
  on their sum, when a row of a later bucket (or the end of the file) closes it, and each of its
  rows is written with that bucket's `anomaly_score`; `alert` is 1 on the first of them only (the
  `alert` column sums to the number of alerts). Their order within the bucket does not matter.
* A row whose bucket is before the previous row's bucket is an error naming its line: the file
  must be in time order.
* A value is a count >= 0 written as a decimal number in ASCII digits, with an optional sign,
  decimal point and exponent (`12`, `3.5`, `1e3`); anything else is an error naming its line.
* The detector's hours of the day and days are those of `DetectorConfig.timezone` (`--timezone`,
  default `VEILLE_TIMEZONE` or UTC), as the agent's for a brand of that zone; buckets stay on the
  epoch grid whatever the zone.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from veille.crisis import CrisisConfig
from veille.spikes import Detector, DetectorConfig, Score, feed
from veille.timezones import UTC_NAME, TimezoneError, check

OUTPUT_COLUMNS = ("timestamp", "value", "anomaly_score", "alert")
MAX_BUCKET_SECONDS = 86_400  # one day
#: Most empty buckets fed in a row for a gap between two rows: the spike agent's cap.
MAX_GAP_BUCKETS = CrisisConfig.max_gap_buckets
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A value as a CSV holds a count: ASCII digits, optionally a sign, a decimal point and an
#: exponent (12, 3.5, .5, 1e3). Python's float() takes more, read silently until 2026-12-06:
#: digit separators (`1_000`), other scripts' digits (`١٢`), `nan`, `inf`, `infinity`.
_VALUE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


#: How rows become buckets, for --help (veille detect and python -m veille.detect).
HELP_EPILOG = f"""\
Rows are scored by bucket, as the streaming spike agent does:
  * a timestamp is aligned to the start of its bucket (--bucket-seconds, from the Unix epoch,
    UTC): 00:07:53 counts in the 5-minute bucket of 00:05:00;
  * a bucket with no row counts as 0, as in the agent: a series that omits its zero rows scores
    as one that writes them. At most {MAX_GAP_BUCKETS} empty buckets are fed in a row (a week of
    5-minute buckets; a longer silence is a jump). While the detector warms up, a silence
    (a bucket of 0) is held back as the agent holds it: fed once traffic comes back if it was
    shorter than the time watched before it, else the detector starts afresh at the traffic.
    Only the input rows are written out;
  * rows in one bucket add up: each is written with the score of their sum, alert=1 on the first
    of them only; their order within the bucket does not matter;
  * a row whose bucket is before the previous row's is an error naming its line, and so is a
    value that is no count >= 0 in ASCII digits (12, 3.5, 1e3; not 1_000, nan or inf);
  * the detector learns each hour of the day, and counts days, on the clock of --timezone
    (default VEILLE_TIMEZONE, else UTC), as the agent does for a brand of that zone."""


def default_timezone(environ: Mapping[str, str] | None = None) -> str:
    """The zone `veille detect` scores in without --timezone: the spike agent's default,
    VEILLE_TIMEZONE, else UTC (not checked here)."""
    env = os.environ if environ is None else environ
    return env.get("VEILLE_TIMEZONE") or UTC_NAME


def timezone_option(value: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--timezone, or the default; DetectError naming the option or the variable if it is not a
    time zone."""
    name, where = (value, "--timezone") if value is not None else (default_timezone(environ),
                                                                   "VEILLE_TIMEZONE")
    try:
        return check(name)
    except TimezoneError as exc:
        raise DetectError(f"{where}: {exc}") from None


def bucket_seconds_option(value: int | None, environ: Mapping[str, str] | None = None) -> int:
    """--bucket-seconds, or the spike agent's own: VEILLE_SPIKE_BUCKET_SECONDS (read as the
    agent's settings read it), else 300; DetectError naming the option or the variable if it
    is not a whole number of seconds from 1 to a day."""
    env = os.environ if environ is None else environ
    where, raw = "--bucket-seconds", value
    if value is None:
        where, text = "VEILLE_SPIKE_BUCKET_SECONDS", env.get("VEILLE_SPIKE_BUCKET_SECONDS") or ""
        if not text:
            return DetectorConfig.bucket_seconds
        try:
            raw = int(text)
        except ValueError:
            raise DetectError(f"{where}={text!r} is not a whole number of seconds") from None
    assert raw is not None
    if not 0 < raw <= MAX_BUCKET_SECONDS:
        shown = raw if abs(raw) < 10**18 else "over 10^18"
        raise DetectError(f"{where} must be from 1 to {MAX_BUCKET_SECONDS} (one day), not {shown}")
    return raw


class DetectError(ValueError):
    """A series file the detector cannot read; the message names the file and the line."""


class TimestampRangeError(ValueError):
    """A timestamp whose UTC instant falls outside the years 1..9999 a datetime can hold."""


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 or NAB's `YYYY-MM-DD HH:MM:SS`; a time without an offset is UTC.

    ValueError for text that is not such a time, or one whose UTC instant falls outside years
    1..9999 (`0001-01-01T00:00:00+01:00`).
    """
    t = datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        return t.replace(tzinfo=UTC)
    try:
        return t.astimezone(UTC)
    except OverflowError:
        raise TimestampRangeError("outside years 1..9999 in UTC") from None


def _same_file(a: Path, b: Path) -> bool:
    """True when writing `b` would overwrite `a` (same path, symbolic or hard link)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:  # unreadable: the open below says why
        return False


def _rows(src: TextIO, series_csv: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row; CSV syntax and encoding errors name the line."""
    reader = csv.reader(src)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's limit (128 KiB)
            raise DetectError(f"{series_csv}:{reader.line_num}: unreadable CSV: {exc}") from None
        line = reader.line_num
        try:
            "".join(row).encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes, kept as lone surrogates by the reader
            raise DetectError(f"{series_csv}:{line}: not UTF-8 text") from None
        yield line, row


def run_detect(series_csv: Path, out_csv: Path, config: DetectorConfig | None = None) -> int:
    """Score every row of `series_csv` in file order into `out_csv`; returns the number of alerts.

    Rows are scored by bucket as the spike agent would (see the module docstring: aligned to the
    bucket grid, missing buckets fed as 0, rows of one bucket added up). The output has one line
    per input row, in order: its `timestamp` text and `value`, then its bucket's `anomaly_score`
    (0..1, four decimals, 0.5 at the alert threshold) and `alert` (1 on the first row of the first
    bucket of an episode).
    Written to a temporary file first: a bad row leaves no half-written output behind. Every
    problem with the files (unreadable, not UTF-8 CSV, a bad row, an output path that cannot be
    written or that is the input) is a DetectError naming the file, and the line if there is one.
    """
    if str(out_csv) == "-":
        raise DetectError("--out -: the scores are written to a file (renamed into place once "
                          "whole), not to standard output: name a file")
    if out_csv.is_symlink():  # written through: the link stays, its target gets the scores
        out_csv = Path(os.path.realpath(out_csv))
    if not out_csv.name or out_csv.is_dir():
        raise DetectError(f"{out_csv}: output must be a file name, not a directory")
    try:
        out_mode = out_csv.stat().st_mode
    except (OSError, ValueError):  # absent (the usual case), or a path open() will refuse
        out_mode = None
    if out_mode is not None and not stat.S_ISREG(out_mode):
        # Renamed over, a pipe or a device node (/dev/full, as root) became a plain file.
        raise DetectError(f"{out_csv}: output must be a regular file, not a pipe or a device")
    tmp = out_csv.with_name(out_csv.name + ".part")
    if _same_file(series_csv, out_csv):
        raise DetectError(f"{series_csv}: the output {out_csv} would overwrite the input")
    if _same_file(series_csv, tmp):
        raise DetectError(f"{series_csv}: the output {out_csv} is written through {tmp.name}, "
                          "which would overwrite the input")
    try:
        mode = series_csv.stat().st_mode
    except OSError as exc:
        raise DetectError(f"{series_csv}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL character in the path
        raise DetectError(f"{series_csv!r}: cannot read: {exc}") from None
    # /dev/zero never ends a line, a FIFO waits for a writer (a folder: the open below says so)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DetectError(f"{series_csv}: cannot read: not a regular file")
    detector = Detector(config)
    alerts = 0
    try:
        # surrogateescape: an undecodable byte is reported with its line number by _rows.
        src = series_csv.open(newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise DetectError(f"{series_csv}: cannot read: {exc.strerror or exc}") from None
    try:
        with src:
            try:
                dst = tmp.open("w", newline="", encoding="utf-8")
            except OSError as exc:
                raise DetectError(f"{out_csv}: cannot write: {exc.strerror or exc}") from None
            with dst:
                alerts = _score_rows(src, dst, series_csv, detector)
        try:
            os.replace(tmp, out_csv)
        except OSError as exc:
            raise DetectError(f"{out_csv}: cannot write: {exc.strerror or exc}") from None
    except OSError as exc:  # a read or write failing half-way (I/O error, disk full)
        raise DetectError(f"{series_csv} -> {out_csv}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return alerts


def bucket_start(t: datetime, bucket_seconds: int) -> int:
    """Start of the bucket holding the aware time `t`, in whole seconds since the Unix epoch."""
    micros = (t - _EPOCH) // timedelta(microseconds=1)  # exact, unlike a float timestamp
    return micros // (bucket_seconds * 1_000_000) * bucket_seconds


def _bucket_time(start: int) -> datetime:
    return _EPOCH + timedelta(seconds=start)


def _score_rows(src: TextIO, dst: TextIO, series_csv: Path, detector: Detector) -> int:
    """Score the rows by bucket (see the module docstring); the number of alerts."""
    rows = _rows(src, series_csv)
    first, header = next(rows, (0, None))
    if header is None:
        raise DetectError(f"{series_csv}: empty file, expected a header 'timestamp,value'")
    names = [h.strip().lower() for h in header]
    if "timestamp" not in names or "value" not in names:
        raise DetectError(f"{series_csv}:{first}: header must name 'timestamp' and 'value', got {header}")
    ti, vi = names.index("timestamp"), names.index("value")
    size = detector.config.bucket_seconds
    writer = csv.writer(dst, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS)
    alerts = 0
    # The open bucket: its start, the line of its latest row, its rows (text as read) and their sum.
    current: int | None = None
    current_line = 0
    first_start: int | None = None
    held_since: int | None = None  # a cold detector's silence held back (veille.spikes.feed)
    pending = _Spool()
    total = 0.0

    def score_bucket(start: int, count: float) -> Score:
        """As the agent scores a closed bucket: a silence held back while the detector warms up."""
        nonlocal detector, first_start, held_since
        detector, score, held_since, first_start = feed(
            detector, start, count, held_since=held_since, first_start=first_start,
            max_gap_buckets=MAX_GAP_BUCKETS)
        return score

    def close_bucket() -> None:
        nonlocal alerts
        assert current is not None
        try:
            score = score_bucket(current, total)
        except (ValueError, ArithmeticError) as exc:
            raise DetectError(f"{series_csv}:{current_line}: {exc}") from None
        alerts += score.alert
        score_text = f"{score.anomaly_score:.4f}"
        for k, (ts_text, value_text) in enumerate(pending):
            writer.writerow((ts_text, value_text, score_text, int(score.alert and k == 0)))

    for line, row in rows:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) <= max(ti, vi):
            raise DetectError(f"{series_csv}:{line}: expected {len(header)} columns, got {row}")
        if len(row) > len(header):  # `2026-01-01T00:00:00Z,1,5`: 1.5 with a decimal comma?
            raise DetectError(f"{series_csv}:{line}: expected {len(header)} columns, got "
                              f"{len(row)}: {row} (a decimal comma? write 1.5, or quote the "
                              "value)")
        try:
            ts = parse_timestamp(row[ti])
        except TimestampRangeError as exc:
            raise DetectError(f"{series_csv}:{line}: bad timestamp {row[ti]!r}: {exc}") from None
        except ValueError:
            raise DetectError(f"{series_csv}:{line}: bad timestamp {row[ti]!r}") from None
        if not _VALUE.fullmatch(row[vi].strip()):
            raise DetectError(f"{series_csv}:{line}: bad value {row[vi]!r}: a value is a decimal "
                              "number in ASCII digits, such as 12, 3.5 or 1e3 (no digit separator)")
        value = float(row[vi])
        if not math.isfinite(value) or value < 0:
            raise DetectError(f"{series_csv}:{line}: value must be a count >= 0, got {row[vi]!r}")
        start = bucket_start(ts, size)
        try:
            _bucket_time(start)
        except OverflowError:
            raise DetectError(f"{series_csv}:{line}: bad timestamp {row[ti]!r}: its {size}-second "
                              "bucket starts before year 1") from None
        if current is not None and start < current:
            raise DetectError(
                f"{series_csv}:{line}: timestamp {row[ti].strip()!r} goes back in time: its bucket "
                f"{_bucket_time(start).isoformat()} is before the bucket "
                f"{_bucket_time(current).isoformat()} of line {current_line} (rows must be in time "
                "order; rows of one bucket add up)")
        if start != current:
            if current is not None:
                close_bucket()
                # The empty buckets in between, as the agent closes them (at most a week's worth).
                for empty in range(max(current + size, start - MAX_GAP_BUCKETS * size), start, size):
                    score_bucket(empty, 0.0)
            pending.close()
            current, pending, total = start, _Spool(), 0.0
        total += value
        if not math.isfinite(total):
            raise DetectError(f"{series_csv}:{line}: the rows of bucket "
                              f"{_bucket_time(start).isoformat()} add up to more than a count can hold")
        current_line = line
        pending.append((row[ti].strip(), row[vi].strip()))
    if current is not None:
        close_bucket()
    pending.close()
    return alerts


class _Spool:
    """The rows of the open bucket (their text as read), in memory up to IN_MEMORY_ROWS, then in a
    temporary file: a million rows of one bucket (an export per mention with coarse times) held
    170 MB until 2026-12-05; memory no longer grows with them."""

    IN_MEMORY_ROWS = 10_000

    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []
        self.file: TextIO | None = None
        self.writer: Any = None

    def append(self, row: tuple[str, str]) -> None:
        if self.file is None and len(self.rows) < self.IN_MEMORY_ROWS:
            self.rows.append(row)
            return
        if self.file is None:
            self.file = tempfile.TemporaryFile("w+", newline="", encoding="utf-8",
                                               errors="surrogateescape")
            self.writer = csv.writer(self.file, lineterminator="\n")
        self.writer.writerow(row)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from self.rows
        if self.file is not None:
            self.file.seek(0)
            for row in csv.reader(self.file):
                yield row[0], row[1]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m veille.detect",
        description="Score a timestamp,value CSV of per-bucket counts with veille's streaming detector.",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("series", type=Path, help="CSV with a header and columns timestamp,value")
    ap.add_argument("--out", type=Path, required=True, help="output CSV: timestamp,value,anomaly_score,alert")
    ap.add_argument("--bucket-seconds", type=int,
                    help="width of one bucket (default: VEILLE_SPIKE_BUCKET_SECONDS, the spike "
                         "agent's, else 300)")
    ap.add_argument("--direction", choices=("up", "both"), default=DetectorConfig.direction,
                    help="alert on rises only, or on drops too (default %(default)s)")
    ap.add_argument("--timezone", metavar="ZONE",
                    help="IANA time zone of the series' daily rhythm, e.g. Europe/Paris "
                         "(default: VEILLE_TIMEZONE, else UTC)")
    args = ap.parse_args(argv)
    try:
        bucket_seconds = bucket_seconds_option(args.bucket_seconds)
        timezone = timezone_option(args.timezone)
    except DetectError as exc:
        ap.error(str(exc))
    config = DetectorConfig(bucket_seconds=bucket_seconds, direction=args.direction,
                            timezone=timezone)
    try:
        alerts = run_detect(args.series, args.out, config)
    except (DetectError, OSError) as exc:
        print(f"{ap.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"{alerts} alert(s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
