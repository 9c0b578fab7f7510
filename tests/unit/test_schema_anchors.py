"""The published schemas' whole-value patterns end at the value's end, in every validator.

JSON Schema patterns are ECMA-262 regular expressions, where `$` is the end of the text; Python's
`re` (which the `jsonschema` package uses) also matches `$` before a final line break, so a
pattern ending in `$` let "acme\\n" pass as a brand id there while veille's own checks refuse it.
`(?![\\s\\S])` ("no character follows") means the same in both."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from tests.schemas import published


def part(name: str, *path: str) -> Any:
    node: Any = published(name)
    for key in path:
        node = node[key]
    return node


CASES = [
    (("enriched_mention.v1.json", "properties", "brands", "items"), "acme"),
    (("enriched_mention.v1.json", "properties", "language"), "fr"),
    (("enriched_mention.v1.json", "$defs", "utc_time"), "2026-12-07T09:00:00.000Z"),
    (("moderation_item.v1.json", "$defs", "brand"), "acme"),
    (("moderation_item.v1.json", "$defs", "utc_time"), "2026-12-07T09:00:00.000Z"),
    (("reputation_alert.v1.json", "$defs", "brand"), "acme"),
    (("reputation_alert.v1.json", "$defs", "utc_second"), "2026-12-07T09:00:00Z"),
    (("reputation_alert.v1.json", "properties", "alert_id"), "acme-1796637600"),
    (("moderation_closed.v1.json", "properties", "decided_at"), "2026-12-07T09:00:00.000Z"),
    (("moderation_decision.v1.json", "properties", "answered_on"), "youtube"),
]


@pytest.mark.parametrize(("where", "good"), CASES, ids=lambda c: "/".join(c) if isinstance(c, tuple) else c)
def test_a_trailing_line_break_is_refused(where: tuple[str, ...], good: str) -> None:
    schema = part(*where)
    jsonschema.validate(good, schema)
    for bad in (good + "\n", good + "\r\n", good + " "):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
