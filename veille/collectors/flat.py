"""Flat items as raw mention objects: the fields of a form body (the webhook) or a CSV row
(the replay collector), every value a string, audience figures as `audience__<figure>` fields.

Pure Python (no Kafka, no HTTP): shared by the collectors that read such items."""

from __future__ import annotations

import re
from typing import Any

from streams.records import InvalidMention

#: The prefix of an audience figure sent flat (`audience__likes=12`): Zapier's JSON payload type
#: turns such keys into `{"audience": {"likes": "12"}}` ("Unflatten", on by default), its Form
#: type and its JSON one with "Unflatten" off send them flat (gather_audience).
AUDIENCE_PREFIX = "audience__"


#: A count written as text: digits, optionally grouped by thousands ("1,234", "1 234", "1_234").
_COUNT_TEXT = re.compile(r"[0-9]{1,3}(?:([,_ \u00a0\u202f])[0-9]{3})?(?:\1[0-9]{3})*|[0-9]+")


def count(value: Any) -> Any:
    """An audience figure written as text ("1,234", "1234") as the integer it says, a blank one
    (a no-code tool's unmapped field, Zapier's `audience__likes`) as absent; anything else as it
    came (the validation refuses it, naming what it got)."""
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, str) and _COUNT_TEXT.fullmatch(value.strip()):
        try:
            return int(re.sub(r"[^0-9]", "", value))
        except ValueError:  # beyond Python's 4,300 digits: refused by the validation, as text
            return value
    return value


def gather_audience(item: dict[str, Any]) -> dict[str, Any]:
    """`item` with its `audience__<figure>` fields gathered into `audience`: Zapier sends them
    flat with its Form payload type, and with its JSON one when "Unflatten" is off (until
    2026-12-06 a JSON item's were ignored as unknown fields: its audience figures lost without
    a word). InvalidMention when `audience` is also sent whole (and not blank)."""
    flat = [k for k in item if isinstance(k, str) and k.startswith(AUDIENCE_PREFIX)]
    if not flat:
        return item
    whole = item.get("audience")
    if whole is not None and not (isinstance(whole, str) and not whole.strip()):
        raise InvalidMention("invalid_field", "audience is sent both whole and as audience__ "
                             "fields: send the figures as audience__followers, audience__likes...",
                             "audience")
    gathered = {k: v for k, v in item.items() if k not in flat}
    gathered["audience"] = {k[len(AUDIENCE_PREFIX):]: item[k] for k in flat}
    return gathered


def brand_list(value: Any) -> Any:
    """A raw mention's `brands` sent as text, as a no-code tool or a CSV cell sends it: `"acme"`
    or `"acme, boreal"` (comma-separated, spaces around ignored) as the list it says, a blank one
    (an unmapped field) as absent; anything else as it came (a JSON list: the validation takes
    it, or refuses it naming what it got)."""
    if not isinstance(value, str):
        return value
    return [part.strip() for part in value.split(",") if part.strip()] or None
