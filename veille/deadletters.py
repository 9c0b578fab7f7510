"""Dead letters (mentions.dlq) as an operator reads them: what failed, why, where it came from,
and the original bytes. Pure: no Kafka, no Faust (`veille dead-letters` reads and replays them).

A dead letter is the raw message as it came (key and value untouched) with the enrichment
stage's `veille-dlq-*` headers (agents/enrich.py): reason, detail, field, stage, source topic,
partition and offset, time of failure, and `veille-dlq-truncated` (the original size) when the
value was cut to fit the topic, in which case it cannot be sent again as it was.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass

from veille.terminal import printable

#: Characters of the original value shown on a dead letter's line.
PREVIEW_CHARS = 160
HEADER_PREFIX = "veille-dlq-"


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    #: The broker's timestamp of the dead letter, epoch seconds.
    timestamp: float
    headers: dict[str, str]

    @classmethod
    def from_record(cls, key: bytes | None, value: bytes | None, timestamp_ms: int,
                    headers: Iterable[tuple[str, bytes | None]] | None) -> DeadLetter:
        found: dict[str, str] = {}
        for name, raw in headers or ():
            if name.startswith(HEADER_PREFIX):
                found[name[len(HEADER_PREFIX):]] = (raw or b"").decode("utf-8", "replace")
        return cls(key, value or b"", timestamp_ms / 1000.0, found)

    @property
    def reason(self) -> str:
        return self.headers.get("reason", "") or "unknown"

    @property
    def truncated(self) -> bool:
        """Cut to fit mentions.dlq: the original bytes are lost, it cannot be sent again."""
        return "truncated" in self.headers

    @property
    def source(self) -> str:
        """topic/partition@offset of the raw message it was."""
        h = self.headers
        return f"{h.get('topic', '?')}/{h.get('partition', '?')}@{h.get('offset', '?')}"

    def text(self) -> str:
        """The original value as text (bytes that are not UTF-8 as \\x escapes)."""
        return self.value.decode("utf-8", "backslashreplace")

    def line(self) -> str:
        """One line for a terminal: failed at, reason, field, source, detail, the value's start."""
        h = self.headers
        value = self.text()
        preview = value[:PREVIEW_CHARS] + (f"... ({len(self.value):,} bytes)"
                                           if len(value) > PREVIEW_CHARS else "")
        cut = f" [cut from {h['truncated']} bytes]" if self.truncated else ""
        return printable(f"{h.get('failed-at', '?')}  {self.reason}  {h.get('field') or '-'}  "
                         f"{self.source}  {h.get('detail', '')}{cut}  | {preview}")

    def to_json(self) -> str:
        """One JSON object: the headers' fields, the key and the value as text."""
        h = self.headers
        return printable(json.dumps({
            "failed_at": h.get("failed-at"), "reason": self.reason, "field": h.get("field") or None,
            "detail": h.get("detail"), "stage": h.get("stage"), "topic": h.get("topic"),
            "partition": _int(h.get("partition")), "offset": _int(h.get("offset")),
            "truncated_from_bytes": _int(h.get("truncated")),
            "key": None if self.key is None else self.key.decode("utf-8", "backslashreplace"),
            "value": self.text(),
        }, ensure_ascii=False))


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class Selection:
    """The dead letters of `reason` written at or after `since` (epoch seconds), as they are
    read: all counted by reason, only the newest `keep` held (None: every one, for a replay).
    mentions.dlq keeps 30 days (VEILLE_DLQ_RETENTION_DAYS): listing the newest few must not hold
    the whole topic in memory."""

    def __init__(self, *, reason: str | None = None, since: float | None = None,
                 keep: int | None = None) -> None:
        self.reason, self.since, self.keep = reason, since, keep
        #: The chosen dead letters by reason, every one of them (not only those held).
        self.counts: dict[str, int] = {}
        # (timestamp, order read, letter): a min-heap when `keep` is set, its oldest pushed out.
        self._held: list[tuple[float, int, DeadLetter]] = []
        self._read = 0

    def add(self, letter: DeadLetter) -> None:
        if self.reason is not None and letter.reason != self.reason:
            return
        if self.since is not None and letter.timestamp < self.since:
            return
        self.counts[letter.reason] = self.counts.get(letter.reason, 0) + 1
        self._read += 1
        entry = (letter.timestamp, self._read, letter)
        if self.keep is None:
            self._held.append(entry)
        elif len(self._held) < self.keep:
            heapq.heappush(self._held, entry)
        elif self.keep and entry[:2] > self._held[0][:2]:
            heapq.heapreplace(self._held, entry)

    @property
    def total(self) -> int:
        return self._read

    def newest(self) -> list[DeadLetter]:
        """Those held, oldest first (read order between equal timestamps)."""
        return [d for _t, _n, d in sorted(self._held, key=lambda e: e[:2])]

    def summary(self, shown: int) -> str:
        """"N dead letters (reason: count, ...)", and how many of the newest are shown."""
        by_reason = ", ".join(f"{r}: {n:,}"
                              for r, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
        total = self.total
        text = f"{total:,} dead letter{'s' if total != 1 else ''}"
        if by_reason:
            text += f" ({by_reason})"
        if shown < total:
            text += f"; the newest {shown:,} shown (--limit)"
        return text
