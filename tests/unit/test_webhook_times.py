"""Times pushed to the webhook without an offset, through real HTTP: IFTTT's ingredients
("December 6, 2026 at 07:00AM", written in the IFTTT account's zone) and RFC 2822 times with no
zone are read in VEILLE_WEBHOOK_TIMEZONE, and refused with a 400 naming it while it is unset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.webhook_helpers import Recorder, post
from veille.collectors.webhook import NoOffset, common_time
from veille.settings import Settings

PARIS = ZoneInfo("Europe/Paris")


def post_all(settings: Settings, bodies: list[Any]) -> tuple[list[tuple[int, Any]], Recorder]:
    """Each JSON body POSTed in turn: (status, JSON answer) each, and the sink."""
    return post(settings, [("json", body) for body in bodies])


def last(month: int, day: int) -> datetime:
    """The latest `month`/`day` at least two days past (so within VEILLE_MAX_AGE_DAYS)."""
    today = datetime.now(UTC).date() - timedelta(days=2)
    year = today.year if (month, day) <= (today.month, today.day) else today.year - 1
    return datetime(year, month, day)


def ifttt(when: datetime) -> str:
    """`when` (a wall-clock time) as IFTTT writes it: "December 6, 2026 at 07:00AM"."""
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
    hour = when.hour % 12 or 12
    return (f"{months[when.month - 1]} {when.day:02d}, {when.year} at {hour:02d}:"
            f"{when.minute:02d}{'PM' if when.hour >= 12 else 'AM'}")


def test_ifttt_times_are_read_in_the_webhook_zone_in_winter_and_in_summer() -> None:
    """Found in review (2026-12-06): IFTTT writes its dates "December 6, 2026 at 07:00AM", in
    its account's zone and without an offset; every such push was refused (400 "created_at is
    not an ISO 8601 time"), and IFTTT does not send a refused request again. With
    VEILLE_WEBHOOK_TIMEZONE=Europe/Paris, 07:00AM is 06:00 UTC in winter and 05:00 UTC in
    summer; 11:15PM with a day written "06" is 22:15 UTC in winter."""
    winter = last(1, 15).replace(hour=7)
    summer = last(7, 15).replace(hour=7)
    night = last(1, 6).replace(hour=23, minute=15)
    rfc = last(7, 16).replace(hour=9, minute=30)
    forms = {"winter": ifttt(winter), "summer": ifttt(summer), "night": ifttt(night),
             # an RFC 2822 date with no zone at all, as a no-code tool's RSS trigger passes it
             "rfc": rfc.strftime("%a, %d %b %Y %H:%M:%S")}
    assert forms["night"].endswith(", " + str(night.year) + " at 11:15PM")
    settings = Settings.from_env({"VEILLE_WEBHOOK_TIMEZONE": "Europe/Paris"})
    bodies = [{"id": name, "platform": "ifttt", "text": "Acme is down", "created_at": text}
              for name, text in forms.items()]
    answers, sink = post_all(settings, bodies)
    assert [status for status, _ in answers] == [202] * len(forms), answers
    got = {key: m.created_at for key, m in sink.written.items()}
    assert got == {"winter": winter.replace(hour=6, tzinfo=UTC),
                   "summer": summer.replace(hour=5, tzinfo=UTC),
                   "night": night.replace(hour=22, tzinfo=UTC),
                   "rfc": rfc.replace(hour=7, tzinfo=UTC)}


def test_a_time_without_an_offset_is_refused_naming_the_setting_while_it_is_unset() -> None:
    """Unset, no guess: the 400 says what to set (it said "not an ISO 8601 time", which IFTTT's
    users could do nothing about). Garbage, "-0000" and an ambiguous zone name stay refused
    with the zone set; an ISO 8601 time without an offset stays UTC (the record contract)."""
    text = ifttt(last(1, 15).replace(hour=7))
    answers, sink = post_all(Settings.from_env({}), [
        {"platform": "ifttt", "text": "Acme", "created_at": text}])
    (status, body), = answers
    assert status == 400 and body["field"] == "created_at", body
    assert "VEILLE_WEBHOOK_TIMEZONE" in body["detail"] and text in body["detail"], body
    assert not sink.written

    day = last(1, 15)
    # ("UTC+01:00", "GMT+0:00": read as their offsets since 2026-12-06, test_offsets_written_...)
    garbage = ["December 32, 2026 at 07:00AM", "Decembre 6, 2026 at 07:00AM",
               "December 6, 2026 at 13:00PM", "December 6, 2026 at 07:00",
               "tomorrow at 07:00AM", day.strftime("%a, %d %b %Y 07:00:00 -0000"),
               day.strftime("%a, %d %b %Y 07:00:00 -00:00"),
               day.strftime("%a, %d %b %Y 07:00:00 IST")]
    paris = Settings.from_env({"VEILLE_WEBHOOK_TIMEZONE": "Europe/Paris"})
    iso = day.replace(hour=7).isoformat()
    answers, sink = post_all(paris, [{"platform": "ifttt", "text": "Acme", "created_at": g}
                                     for g in garbage] + [
        {"id": "iso", "platform": "x", "text": "Acme", "created_at": iso}])
    assert [s for s, _ in answers[:-1]] == [400] * len(garbage), answers
    assert all(b["field"] == "created_at" and "VEILLE_WEBHOOK_TIMEZONE" not in b["detail"]
               for _, b in answers[:-1]), answers
    assert answers[-1][0] == 202 and sink.written["iso"].created_at == day.replace(
        hour=7, tzinfo=UTC)


def test_offsets_written_after_gmt_or_utc_are_read_as_written() -> None:
    """Found in review (2026-12-06): the RSS collector reads "UTC+01:00", "GMT+1" and "GMT-0500"
    since 0c732ec, but the webhook refused them (400 "created_at is not an ISO 8601 time"), so a
    no-code tool passing such a feed's date on lost the mention. Read as written, east of UTC is
    "+" (not POSIX's inverted sign), with or without VEILLE_WEBHOOK_TIMEZONE: in summer Paris is
    UTC+2, and "UTC+01:00" is not read there. One reader, veille.timezones.rfc822_time."""
    day = last(7, 15)
    written = {"utc+01:00": ("UTC+01:00", day.replace(hour=6)),
               "gmt+1": ("GMT+1", day.replace(hour=6)),
               "gmt-0500": ("GMT-0500", day.replace(hour=12)),
               "gmt+0:00": ("GMT+0:00", day.replace(hour=7)),
               "utc-03:30": ("utc-03:30", day.replace(hour=10, minute=30)),
               "gmt-0000": ("GMT-0000", day.replace(hour=7)),  # names GMT: not "-0000"
               "no-comma-space": ("+0100", day.replace(hour=6))}
    bodies = [{"id": key, "platform": "rss", "text": "Acme",
               "created_at": day.strftime("%a,%d %b %Y 07:00:00 " if key == "no-comma-space"
                                          else "%a, %d %b %Y 07:00:00 ") + zone}
              for key, (zone, _) in written.items()]
    for env in ({}, {"VEILLE_WEBHOOK_TIMEZONE": "Europe/Paris"}):
        answers, sink = post_all(Settings.from_env(env), bodies)
        assert [status for status, _ in answers] == [202] * len(written), (env, answers)
        assert {k: m.created_at for k, m in sink.written.items()} == {
            k: utc.replace(tzinfo=UTC) for k, (_, utc) in written.items()}, env
    assert common_time("Sun, 06 Dec 2026 07:00:00 GMT+1") == "2026-12-06T06:00:00+00:00"
    for refused in ("-0000", "-00:00", "IST", "GMT+1 IST"):
        assert common_time(f"Sun, 06 Dec 2026 07:00:00 {refused}", PARIS) is None, refused


@pytest.mark.parametrize(("text", "utc"), [
    # the hour repeated when summer time ends: its first passage, summer time (UTC+2)
    ("October 25, 2026 at 02:30AM", "2026-10-25T00:30:00+00:00"),
    # the hour skipped when it starts, which no clock in Paris showed: the offset of before (+1)
    ("March 29, 2026 at 02:30AM", "2026-03-29T01:30:00+00:00"),
    ("March 29, 2026 at 03:30AM", "2026-03-29T01:30:00+00:00"),
    ("March 29, 2026 at 01:59AM", "2026-03-29T00:59:00+00:00"),
    ("October 25, 2026 at 03:00AM", "2026-10-25T02:00:00+00:00"),
    ("December 6, 2026 at 12:05AM", "2026-12-05T23:05:00+00:00"),
    ("December 6, 2026 at 12:05PM", "2026-12-06T11:05:00+00:00"),
    ("Dec 6, 2026 at 7:00am", "2026-12-06T06:00:00+00:00"),
])
def test_daylight_saving_changes_are_read_one_way(text: str, utc: str) -> None:
    assert common_time(text, PARIS) == utc
    with pytest.raises(NoOffset):
        common_time(text)


def test_every_zone_abbreviation_read_is_the_offset_the_time_zone_database_gives_it() -> None:
    """The minutes east of UTC of each abbreviation a date may carry (veille.timezones) were
    written by hand and checked for a few only: each is now checked against the IANA database,
    the abbreviations every zone writes over a year and their offsets. Those veille reads as
    unambiguous must have a single offset there; RFC 822's own (CST, PST) are North America's.
    German names and SGT, which the database does not write, against their zone."""
    from zoneinfo import available_timezones

    from veille.timezones import _RFC822_ZONES, ABBREVIATIONS

    written: dict[str, set[int]] = {}
    for name in available_timezones():
        zone = ZoneInfo(name)
        for week in range(53):
            at = (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(weeks=week)).astimezone(zone)
            offset = at.utcoffset()
            assert offset is not None
            written.setdefault(str(at.tzname()).lower(), set()).add(int(offset.total_seconds()) // 60)
    elsewhere = {"mez": ("Europe/Berlin", 1), "mesz": ("Europe/Berlin", 7),
                 "sgt": ("Asia/Singapore", 1), "ut": ("UTC", 1), "z": ("UTC", 1)}
    for table, unambiguous in ((ABBREVIATIONS, True), (_RFC822_ZONES, False)):
        for abbreviation, east in table.items():
            if abbreviation in elsewhere:
                name, month = elsewhere[abbreviation]
                offset = datetime(2026, month, 15, 12, tzinfo=ZoneInfo(name)).utcoffset()
                assert offset is not None and east == offset.total_seconds() // 60, abbreviation
                continue
            offsets = written.get(abbreviation, set())
            assert east in offsets, (abbreviation, east, offsets)
            assert not unambiguous or offsets == {east}, (abbreviation, offsets)
