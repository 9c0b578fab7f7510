"""Text from records made safe for a terminal. Pure: no Kafka, no Faust."""

from __future__ import annotations

import math
import re
from typing import Any

#: What a terminal would act on: control characters and the bidirectional overrides and
#: isolates; and the line and paragraph separators, which end a line for readers of the JSON
#: lines printed (Python's str.splitlines, JavaScript before ES2019) though JSON allows them raw.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(line: str) -> str:
    """`line` safe to print on a terminal: lone surrogates (a record written by another producer
    may hold them: printing one raised UnicodeEncodeError and hid every record after it) and
    control characters (a mention's text comes from anyone: "\\x1b[2J" cleared the reader's
    screen) spelt as escapes, \\u001b (also valid inside a JSON string)."""
    line = _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", line)
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(value: Any, width: int) -> str:
    """`value`'s repr for an error message, cut to `width` characters (the last one "…"): a
    bad value from outside may be as long as a field allows."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities (which Python's JSON reader accepts from another
    producer, but standard JSON has not) as None, so that it encodes as standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value
