"""Offline crisis detection: score a `timestamp,value` CSV with the streaming detector, row by row."""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from veille.spikes import Detector, DetectorConfig

OUTPUT_COLUMNS = ("timestamp", "value", "anomaly_score", "alert")


class DetectError(ValueError):
    """A series file the detector cannot read; the message names the file and the line."""


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 or NAB's `YYYY-MM-DD HH:MM:SS`; a time without an offset is UTC."""
    t = datetime.fromisoformat(text.strip())
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def run_detect(series_csv: Path, out_csv: Path, config: DetectorConfig | None = None) -> int:
    """Score every row of `series_csv` in file order into `out_csv`; returns the number of alerts.

    The output has the input's `timestamp` text and `value`, then `anomaly_score` (0..1, four
    decimals, 0.5 at the alert threshold) and `alert` (1 on the first bucket of an episode).
    Written to a temporary file first: a bad row leaves no half-written output behind.
    """
    detector = Detector(config)
    alerts = 0
    tmp = out_csv.with_name(out_csv.name + ".part")
    try:
        with series_csv.open(newline="", encoding="utf-8") as src, tmp.open("w", newline="") as dst:
            reader = csv.reader(src)
            header = next(reader, None)
            if header is None:
                raise DetectError(f"{series_csv}: empty file, expected a header 'timestamp,value'")
            names = [h.strip().lower() for h in header]
            if "timestamp" not in names or "value" not in names:
                raise DetectError(f"{series_csv}:1: header must name 'timestamp' and 'value', got {header}")
            ti, vi = names.index("timestamp"), names.index("value")
            writer = csv.writer(dst, lineterminator="\n")
            writer.writerow(OUTPUT_COLUMNS)
            for row in reader:
                line = reader.line_num
                if not row or all(not cell.strip() for cell in row):
                    continue
                if len(row) <= max(ti, vi):
                    raise DetectError(f"{series_csv}:{line}: expected {len(header)} columns, got {row}")
                try:
                    ts = parse_timestamp(row[ti])
                except ValueError:
                    raise DetectError(f"{series_csv}:{line}: bad timestamp {row[ti]!r}") from None
                try:
                    value = float(row[vi])
                except ValueError:
                    raise DetectError(f"{series_csv}:{line}: bad value {row[vi]!r}") from None
                if not math.isfinite(value) or value < 0:
                    raise DetectError(f"{series_csv}:{line}: value must be a count >= 0, got {row[vi]!r}")
                try:
                    score = detector.update(ts, value)
                except ValueError as exc:
                    raise DetectError(f"{series_csv}:{line}: {exc}") from None
                alerts += score.alert
                score_text = f"{score.anomaly_score:.4f}"
                writer.writerow((row[ti].strip(), row[vi].strip(), score_text, int(score.alert)))
        os.replace(tmp, out_csv)
    finally:
        tmp.unlink(missing_ok=True)
    return alerts


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m veille.detect",
        description="Score a timestamp,value CSV of per-bucket counts with veille's streaming detector.",
    )
    ap.add_argument("series", type=Path, help="CSV with a header and columns timestamp,value")
    ap.add_argument("--out", type=Path, required=True, help="output CSV: timestamp,value,anomaly_score,alert")
    ap.add_argument("--bucket-seconds", type=int, default=DetectorConfig.bucket_seconds,
                    help="width of one bucket (default %(default)s)")
    ap.add_argument("--direction", choices=("up", "both"), default=DetectorConfig.direction,
                    help="alert on rises only, or on drops too (default %(default)s)")
    args = ap.parse_args(argv)
    config = DetectorConfig(bucket_seconds=args.bucket_seconds, direction=args.direction)
    try:
        alerts = run_detect(args.series, args.out, config)
    except (DetectError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{alerts} alert(s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
