"""How a brand id is written: one rule for the watch list's ids (veille.rules) and for the ids a
raw mention's `brands` names (streams.records). Its own module, with nothing but `re`: the record
contract imports it without the watch rules' compiled machinery (RE2, time zones), which doubled
`import streams.records` (0.18 -> 0.40 s), a cost every collector and command pays at start."""

from __future__ import annotations

import re
from typing import TypeGuard

BRAND_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # fullmatch: "acme\n" is not an id
#: How a brand id is written, said in error messages (the watch list's, a raw mention's `brands`).
BRAND_ID_FORM = "1 to 64 lowercase letters, digits, - or _, starting with a letter or digit"


def is_brand_id(value: object) -> TypeGuard[str]:
    """True for a string written as a brand id may be (BRAND_ID)."""
    return isinstance(value, str) and BRAND_ID.fullmatch(value) is not None
