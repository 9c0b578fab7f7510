"""Dead letters (mentions.dlq) as an operator reads them: what failed, why, where it came from,
and the original bytes. Pure: no Kafka, no Faust (`veille dead-letters` reads and replays them).

A dead letter is the raw message as it came (key and value untouched) with the enrichment
stage's `veille-dlq-*` headers (agents/enrich.py): reason, detail, field, stage, source topic,
partition and offset, time of failure, and `veille-dlq-truncated` (the original size) when the
value was cut to fit the topic, in which case it cannot be sent again as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
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


def select(letters: Sequence[DeadLetter], *, reason: str | None = None,
           since: float | None = None) -> list[DeadLetter]:
    """The dead letters of `reason` written at or after `since` (epoch seconds), oldest first."""
    chosen = [d for d in letters
              if (reason is None or d.reason == reason) and (since is None or d.timestamp >= since)]
    chosen.sort(key=lambda d: d.timestamp)
    return chosen


def summary(letters: Sequence[DeadLetter], shown: int) -> str:
    """"N dead letters (reason: count, ...)", and how many of the newest are shown."""
    counts: dict[str, int] = {}
    for d in letters:
        counts[d.reason] = counts.get(d.reason, 0) + 1
    by_reason = ", ".join(f"{r}: {n:,}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    total = len(letters)
    text = f"{total:,} dead letter{'s' if total != 1 else ''}"
    if by_reason:
        text += f" ({by_reason})"
    if shown < total:
        text += f"; the newest {shown:,} shown (--limit)"
    return text
