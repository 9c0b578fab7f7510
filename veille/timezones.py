"""Time zones of the brands' daily rhythms: IANA names, checked once at load (pure, no I/O per call)."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The default zone: time-of-day slots and days on UTC, as before per-brand time zones existed.
UTC_NAME = "UTC"
EXAMPLES = '"Europe/Paris", "America/New_York" or "UTC"'


class TimezoneError(ValueError):
    """Not a time zone name of the IANA database (or one this machine cannot load)."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (case as in the database: "Europe/Paris"), or TimezoneError saying why.

    "localtime" is refused: it names whatever zone the machine is set to, not a brand's. The zone
    data comes from the system's tz database or, without one, from the `tzdata` package."""
    if not isinstance(name, str):
        raise TimezoneError(f"{name!r} is not a time zone name (a string such as {EXAMPLES})")
    return _load(name)


@lru_cache(maxsize=256)
def _load(name: str) -> ZoneInfo:
    if name == "localtime":
        raise TimezoneError(f"{name!r} is the machine's own zone, not a brand's: name it, e.g. "
                            f"{EXAMPLES}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise TimezoneError(f"{name!r} is not a time zone name of the IANA database (e.g. "
                            f"{EXAMPLES}; the case matters)") from None


def check(name: str) -> str:
    """`name` if it is a zone `zone()` can load, else TimezoneError. "UTC" needs no zone data
    (the detector counts it on the epoch's own days)."""
    if name != UTC_NAME:
        zone(name)
    return name
