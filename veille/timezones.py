"""Time zones of the brands' daily rhythms: IANA names, checked once at load (pure, no I/O per call)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The default zone: time-of-day slots and days on UTC, as before per-brand time zones existed.
UTC_NAME = "UTC"
#: The IANA database's other names of UTC (links to Etc/UTC, and GMT, which is UTC to veille's
#: second): given for a zone, they are UTC, so that a time read with them is the same text.
UTC_ALIASES = frozenset((
    "UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
    "GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0",
    "Greenwich", "Etc/Greenwich",
))
EXAMPLES = '"Europe/Paris", "America/New_York" or "UTC"'


def is_utc_name(name: str) -> bool:
    """Whether `name` is another name of UTC: one of UTC_ALIASES, or one under the database's
    `posix/` tree (`posix/Etc/UTC`: the same zone under the name systems use for it)."""
    return name in UTC_ALIASES or (name.startswith("posix/") and name[6:] in UTC_ALIASES)


#: Time-zone abbreviations that dates carry ("Mon, 07 Sep 2026 10:00:00 CEST", RSS and e-mail
#: style) and that Python's and feedparser's RFC 822 readers leave without an offset, as minutes
#: east of UTC: Europe's (French feeds write CET and CEST), and a few of Asia's, Oceania's and
#: America's. Ambiguous ones are not in it (IST: India, Ireland or Israel; CST: also China's).
ABBREVIATIONS: dict[str, int] = {
    "utc": 0, "wet": 0, "west": 60, "bst": 60, "cet": 60, "cest": 120, "mez": 60, "mesz": 120,
    "eet": 120, "eest": 180, "msk": 180, "hkt": 480, "sgt": 480, "awst": 480, "jst": 540,
    "kst": 540, "acst": 570, "acdt": 630, "aest": 600, "aedt": 660, "nzst": 720, "nzdt": 780,
    "hst": -600, "akst": -540, "akdt": -480,
}


#: English month names and their three-letter forms, as dates write them (RFC 822, IFTTT), read
#: without the machine's locale, which strptime's %b and %B would follow.
MONTHS: dict[str, int] = {name: n for n, full in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1) for name in (full, full[:3])}


def local_time(naive: datetime, local: tzinfo) -> datetime:
    """`naive`, a wall-clock time of the zone `local`, as an aware time. Daylight saving, as
    zoneinfo's fold=0, one way always: in the hour repeated when summer time ends, its first
    passage (summer time: 02:30 on 2026-10-25 in Europe/Paris is 00:30 UTC); in the hour skipped
    when it starts, the offset of before the change (02:30 on 2026-03-29 in Europe/Paris, which
    no clock there showed, is 01:30 UTC)."""
    return naive.replace(tzinfo=local, fold=0)


def zone_abbreviation_minutes(name: str) -> int | None:
    """Minutes east of UTC of the abbreviation `name` (any case), None when it is not one of
    ABBREVIATIONS."""
    return ABBREVIATIONS.get(name.lower())


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


#: An RFC 822 date as feeds and no-code tools write it, read by veille itself (the RSS collector,
#: the webhook): the weekday optional, with or without a space after its comma ("Sun,06 Dec
#: 2026"), seconds optional, then the zone as written (possibly nothing).
_RFC822 = re.compile(r"\s*(?:[A-Za-z]{2,9}\.?\s*,\s*|[A-Za-z]{2,9}\s+)?(?P<day>[0-9]{1,2})\s+"
                     r"(?P<month>[A-Za-z]{3,9})\.?\s+(?P<year>[0-9]{4})\s+(?P<hour>[0-9]{1,2}):"
                     r"(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?\s*(?P<zone>.*?)\s*")
#: A zone written as an offset: "+0100", "-05:00", "+01", or after GMT/UTC/UT ("GMT+1",
#: "UTC+01:00", "GMT-0500"). East of UTC is "+", as RFC 822 and every feed writer mean it (not
#: the inverted sign of POSIX TZ strings and IANA's Etc/GMT+1, which is west).
_OFFSET = re.compile(r"(?:(?P<prefix>GMT|UTC|UT)\s*)?(?P<sign>[+-])(?P<hours>[0-9]{1,2})"
                     r"(?::?(?P<minutes>[0-9]{2}))?", re.IGNORECASE)
#: RFC 822's own zone names, as minutes east of UTC (feedparser reads them the same way); the
#: others rfc822_time knows are ABBREVIATIONS (UTC among them). CST is North America's here, as
#: RFC 822 defines it.
_RFC822_ZONES = {"ut": 0, "gmt": 0, "z": 0, "est": -300, "edt": -240, "cst": -360,
                 "cdt": -300, "mst": -420, "mdt": -360, "pst": -480, "pdt": -420}


def rfc822_time(raw: Any, *, minus_zero: bool = True) -> datetime | None:
    """An RFC 822 date read with the zone as written: aware when it names an offset or a zone
    veille knows, naive when it names none at all ("Sun, 06 Dec 2026 07:00:00"), None when it is
    not such a date or names a zone it does not know ("IST": ambiguous; the RSS collector leaves
    it to feedparser, the webhook refuses it).

    `minus_zero`: "-0000" (and "-00:00", "-00") is UTC, as feeds and feedparser take it; False,
    None: RFC 2822's "no information about the local zone" (the webhook's choice, no guess).
    "GMT-0000" names GMT: UTC either way."""
    if not isinstance(raw, str) or len(raw) > 100:
        return None
    found = _RFC822.fullmatch(raw)
    if found is None:
        return None
    month = MONTHS.get(found["month"].lower())
    written = found["zone"]
    east: int | None = None
    offset = _OFFSET.fullmatch(written)
    if offset is not None:
        hours, minutes = int(offset["hours"]), int(offset["minutes"] or 0)
        if hours > 14 or minutes > 59:
            return None
        east = (hours * 60 + minutes) * (-1 if offset["sign"] == "-" else 1)
        if not minus_zero and east == 0 and offset["sign"] == "-" and not offset["prefix"]:
            return None
    elif written:
        east = _RFC822_ZONES.get(written.lower())
        if east is None:
            east = zone_abbreviation_minutes(written)
        if east is None:
            return None
    if month is None:
        return None
    try:
        when = datetime(int(found["year"]), month, int(found["day"]), int(found["hour"]),
                        int(found["minute"]), min(int(found["second"] or 0), 59))
    except ValueError:
        return None
    return when if east is None else when.replace(tzinfo=timezone(timedelta(minutes=east)))
