"""Replay collector: a JSONL file of raw mentions -> mentions.raw, at a rate or as fast as possible."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from streams.records import (
    InvalidMention,
    Limits,
    RawMention,
    content_id,
    iso,
    mention_from_dict,
    parse_time,
)
from streams.topics import MENTIONS_RAW
from veille.settings import Settings

TIMESTAMP_MODES = ("keep", "shift", "now")
#: The longest line read (bytes), at the default text limit: a valid raw mention is far
#: smaller (5,000 characters of text and bounded fields). A longer line (a JSON array or a
#: pretty-printed export read as one line) is refused without being held in memory whole.
MIN_LINE_CAP = 1 << 20
NOT_JSONL_HINT = ("is it JSON Lines (one raw mention, a JSON object, per line; not CSV, a JSON "
                  "array or pretty-printed JSON)?")
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

    @property
    def all_refused(self) -> bool:
        """Lines were read and every one was refused (a file that is not JSON Lines)."""
        return bool(self.read) and len(self.refused) == self.read

    def summary(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        text = (
            f"read {self.read} lines, sent {self.sent} mentions ({rate:,.0f}/s), "
            f"refused {len(self.refused)}, send failures {self.failed}"
        )
        if self.error:
            text += f"\n  {self.error}"
        for line, reason in self.refused[:20]:
            text += f"\n  line {line}: {reason}"
        if len(self.refused) > 20:
            text += f"\n  ... and {len(self.refused) - 20} more"
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


def read_mentions(
    path: Path, limits: Limits, now: datetime, shift: timedelta, report: ReplayReport,
    *, stamp_now: bool = False, first_line: int = 1,
) -> Generator[RawMention, None, None]:
    """Valid mentions of the file, in order; invalid lines are recorded in the report.

    `shift` moves `created_at` and `collected_at`; `stamp_now` (--timestamps now) checks each
    line as if dated `now` (its own date, even missing, does not matter: the sender stamps it
    with its send time)."""
    cap = line_cap(limits)
    with open(path, "rb") as fh:
        for number, line in _lines(fh, cap, first_line, report):
            report.line = number
            if line is None:
                report.read += 1
                report.refused.append((number, f"line_too_long: more than {cap:,} bytes; "
                                       + NOT_JSONL_HINT))
                continue
            if not line.strip():
                continue
            report.read += 1
            try:
                obj = json_line(line)
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
            except UnicodeDecodeError as exc:
                report.refused.append((number, f"undecodable_bytes: not UTF-8 at byte {exc.start}"))
            except (ValueError, RecursionError) as exc:
                report.refused.append((number, f"invalid_json: {str(exc)[:120]}"))


def file_shift(path: Path, mode: str, now: datetime, limits: Limits | None = None) -> timedelta:
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
    with open(path, "rb") as fh:
        for _, line in _lines(fh, line_cap(limits)):
            if line is None:
                continue
            try:
                obj = json_line(line)
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
) -> ReplayReport:
    """Send the file's valid mentions keyed by id; `rate` in mentions/s, 0 = as fast as possible.

    Returns once every mention sent is acknowledged, or `ack_timeout` seconds after the last
    send: those still unacknowledged then (a broker gone) count as send failures, and the
    producer is closed without waiting for them. It waited for ever (kafka-python's idempotent
    producer without a broker never expires its batches), and the summary never came."""
    if timestamps not in TIMESTAMP_MODES:
        raise ValueError(f"timestamps must be one of {TIMESTAMP_MODES}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    from veille.collectors.producer import close_now, make_producer

    own_producer = producer is None
    producer = producer or make_producer(settings)
    topic = settings.topic(MENTIONS_RAW)
    report = ReplayReport()
    start_clock = datetime.now(UTC)
    # Replayed history may be older than the live limits; "keep" widens the age bound.
    limits = Limits(
        max_text_chars=settings.max_text_chars,
        max_future=timedelta(seconds=settings.max_future_seconds),
        max_age=timedelta(days=settings.max_age_days)
        if timestamps != "keep"
        else timedelta(days=36500),
    )
    shift = file_shift(path, timestamps, start_clock, limits)
    bar = _progress(path, progress, stream)
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
                             stamp_now=timestamps == "now", first_line=first_line)
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


def _progress(path: Path, enabled: bool, stream: IO[str]) -> Any:
    # Not into a log file or a pipe: a bar redrawn with carriage returns makes one huge line.
    isatty = getattr(stream, "isatty", None)
    if not enabled or not (isatty is not None and isatty()):
        return None
    from tqdm import tqdm

    with open(path, "rb") as fh:
        total = sum(1 for line in fh if line.strip())
    return tqdm(total=total, unit="mention", file=stream, desc="replay")
