"""Brands' time zones: the detector's hours of the day and days on the brand's wall clock, so a
daily rhythm set by people's days keeps its slots across daylight-saving changes."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.cli_helpers import assert_clear_error, run
from veille import detect
from veille.crisis import BrandMonitor, Bucket
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings, SettingsError
from veille.spikes import Detector, DetectorConfig

PARIS = ZoneInfo("Europe/Paris")
STEP = timedelta(minutes=5)
#: The EU's changes in 2026: 01:00 UTC on the last Sunday of March and of October.
SPRING = datetime(2026, 3, 29, 1, tzinfo=UTC)
AUTUMN = datetime(2026, 10, 25, 1, tzinfo=UTC)
#: Relative volume at each Paris hour (veille/demo.py's curve): night trough, lunch and evening peaks.
NODES = (0.55, 0.38, 0.26, 0.20, 0.17, 0.22, 0.40, 0.72, 0.98, 1.08, 1.12, 1.28,
         1.55, 1.52, 1.22, 1.12, 1.12, 1.22, 1.40, 1.62, 1.82, 1.78, 1.38, 0.88)


def paris_mean(t: float, volume: float) -> float:
    """Mean mentions in the bucket starting at `t`: `volume` times the curve at that Paris time."""
    local = datetime.fromtimestamp(t, PARIS)
    pos = local.hour + local.minute / 60
    low, frac = int(pos), pos - int(pos)
    return volume * (NODES[low] * (1 - frac) + NODES[(low + 1) % 24] * frac)


def paris_counts(start: float, days: float, volume: float, seed: int) -> Iterator[tuple[int, int, int]]:
    """(bucket start, total, negative) of a brand whose daily rhythm follows Paris time, every
    day alike, with a steady 15 % negative share: no crisis anywhere."""
    rng = random.Random(seed)
    for i in range(int(days * 288)):
        t = int(start) + i * 300
        lam = paris_mean(t, volume)
        n = max(0, round(rng.gauss(lam, math.sqrt(lam))))
        k = max(0, round(rng.gauss(0.15 * n, math.sqrt(0.15 * 0.85 * n))))
        yield t, n, k


def feed(m: BrandMonitor, counts: Iterator[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Close one bucket per count, as the agent would."""
    events: list[dict[str, Any]] = []
    for t, n, k in counts:
        b = Bucket(t)
        b.total, b.negative, b.weighted_total, b.weighted_negative = n, k, float(n), float(k)
        m.open[t] = b
        events += m.advance(t + 300 + m.config.lateness_seconds)
    return events


def slot_and_day(timezone: str, at: datetime) -> tuple[int, int]:
    """The time-of-day slot a new detector learns a bucket at `at` in, and the day it counts it in."""
    d = Detector(DetectorConfig(timezone=timezone))
    d.update(at, 3.0)
    assert d.day is not None
    return d.season_n.index(1), d.day


def day_number(d: date) -> int:
    return d.toordinal() - date(1970, 1, 1).toordinal()


# --- slots and days -----------------------------------------------------------------------------


@pytest.mark.parametrize("utc, slot, local_day", [
    # Spring: 02:00-03:00 does not exist; 07:00 is 06:00 UTC before, 05:00 UTC after.
    ("2026-03-28T06:00", 7, "2026-03-28"),
    ("2026-03-29T00:55", 1, "2026-03-29"),
    ("2026-03-29T01:00", 3, "2026-03-29"),
    ("2026-03-30T05:00", 7, "2026-03-30"),
    ("2026-03-28T23:00", 0, "2026-03-29"),  # local midnight is 23:00 UTC in winter...
    ("2026-03-29T21:55", 23, "2026-03-29"),
    ("2026-03-29T22:00", 0, "2026-03-30"),  # ... and 22:00 UTC in summer
    # Autumn: 02:00-03:00 happens twice; 07:00 is 05:00 UTC before, 06:00 UTC after.
    ("2026-10-24T05:00", 7, "2026-10-24"),
    ("2026-10-25T00:30", 2, "2026-10-25"),
    ("2026-10-25T01:30", 2, "2026-10-25"),
    ("2026-10-26T06:00", 7, "2026-10-26"),
    ("2026-10-25T22:55", 23, "2026-10-25"),
    ("2026-10-25T23:00", 0, "2026-10-26"),
])
def test_paris_slots_and_days_follow_the_local_clock_across_both_changes(
        utc: str, slot: int, local_day: str) -> None:
    at = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert slot_and_day("Europe/Paris", at) == (slot, day_number(date.fromisoformat(local_day)))


def test_utc_is_the_default_and_a_half_hour_zone_has_its_own_slots() -> None:
    at = datetime(2026, 3, 30, 5, 0, tzinfo=UTC)
    assert DetectorConfig().timezone == "UTC"
    assert slot_and_day("UTC", at) == (5, day_number(date(2026, 3, 30)))
    assert Detector().local(at.timestamp()) == at.timestamp()
    # Kolkata is UTC+05:30: 20:00 UTC is 01:30 the next day.
    assert slot_and_day("Asia/Kolkata", datetime(2026, 1, 5, 20, tzinfo=UTC)) == (
        1, day_number(date(2026, 1, 6)))


def test_the_change_days_are_23_and_25_hours_long_in_paris() -> None:
    d = Detector(DetectorConfig(timezone="Europe/Paris"))
    for change, hours in ((SPRING, 23), (AUTUMN, 25)):
        start = datetime(change.year, change.month, change.day - 1, tzinfo=UTC).timestamp()
        days = [int(d.local(start + i * 300) // 86400) for i in range(3 * 288)]
        assert days.count(day_number(change.date())) == hours * 12


# --- the alert story across a change --------------------------------------------------------------


@pytest.mark.parametrize("change", [SPRING, AUTUMN], ids=["spring", "autumn"])
def test_a_paris_rhythm_across_a_change_raises_false_stories_on_utc_slots_and_none_on_paris_slots(
        change: datetime) -> None:
    """Measured by bench/dst_eval.py: on UTC slots the rhythm is an hour off after the change
    (the morning ramp-up comes an hour early in spring, the evening decline an hour late in
    autumn) and a steady brand got false stories; on the brand's own clock, none."""
    start = (change.timestamp() // 86400 - 10) * 86400
    opened = {}
    for timezone in ("UTC", "Europe/Paris"):
        events = feed(BrandMonitor("acme", timezone=timezone), paris_counts(start, 12, 1000, 1))
        opened[timezone] = [e["window_start"] for e in events if e["event"] == "opened"]
    assert opened["UTC"], "the measured problem: false stories on UTC slots"
    assert all(w >= change.strftime("%Y-%m-%dT%H:%M:%SZ") for w in opened["UTC"])  # after it only
    assert opened["Europe/Paris"] == []


def test_the_expected_values_stay_right_on_the_brands_clock() -> None:
    """What alerts show as `expected_negative`: the morning after the spring change, an hour off
    on UTC slots, as before the change on Paris slots."""
    start = (SPRING.timestamp() // 86400 - 10) * 86400
    errors = {}
    for timezone in ("UTC", "Europe/Paris"):
        m = BrandMonitor("acme", timezone=timezone)
        feed(m, paris_counts(start, 12, 1000, 2))
        # 06:00-09:00 Paris (04:00-07:00 UTC) on the Monday after the change.
        ramp = [r for r in m.reports if 4 <= (r.start - start) / 3600 - 11 * 24 < 7]
        assert len(ramp) == 36
        # Each hour's expected count against its true mean (a slot is one level for the hour).
        errors[timezone] = max(
            abs(sum(r.score.expected for r in hour)
                / sum(0.15 * paris_mean(r.start, 1000) for r in hour) - 1)
            for hour in (ramp[:12], ramp[12:24], ramp[24:]))
    assert errors["UTC"] > 0.3 and errors["Europe/Paris"] < 0.05, errors


# --- saved state, and a brand whose time zone changes ---------------------------------------------


def test_a_utc_state_is_the_layout_of_before_and_a_zone_is_saved_and_restored() -> None:
    d = Detector()
    d.update(SPRING, 4.0)
    assert "timezone" not in d.to_state()["config"]  # readable by the previous version
    assert Detector.from_state(json.loads(json.dumps(d.to_state()))).config.timezone == "UTC"
    p = Detector(DetectorConfig(timezone="Europe/Paris"))
    p.update(SPRING, 4.0)
    state = json.loads(json.dumps(p.to_state()))
    assert state["config"]["timezone"] == "Europe/Paris"
    assert Detector.from_state(state).to_state() == p.to_state()


@pytest.mark.parametrize("at, shift", [(datetime(2026, 1, 10, 12, tzinfo=UTC), 1),
                                       (datetime(2026, 7, 10, 12, tzinfo=UTC), 2)])
def test_moving_a_detector_to_another_zone_moves_its_learnt_hours_with_the_clock(
        at: datetime, shift: int) -> None:
    d = Detector()
    d.update(at, 1.0)
    d.season = [float(h) for h in range(24)]  # the level learnt for each UTC hour: its number
    d.season_n = list(range(24))
    d.move_to("Europe/Paris")
    assert d.config.timezone == "Europe/Paris"
    assert d.season == [float((h - shift) % 24) for h in range(24)]  # Paris h is UTC h - shift
    assert d.season_n == [(h - shift) % 24 for h in range(24)]
    assert d.day == day_number(at.date())


def test_a_brand_moved_from_utc_to_paris_keeps_its_rhythm_and_crosses_the_change_quietly() -> None:
    """A state saved on UTC slots (or before time zones existed) loaded for a brand now in Paris:
    no crash, the expected values go on as they were, and the change raises no story."""
    start = (SPRING.timestamp() // 86400 - 10) * 86400
    counts = list(paris_counts(start, 12, 1000, 1))
    before = BrandMonitor("acme")
    feed(before, iter(counts[:9 * 288]))
    saved = json.loads(json.dumps(before.to_state()))
    moved = BrandMonitor("acme", timezone="Europe/Paris")
    moved.load_state(saved)
    assert moved.detector.config.timezone == "Europe/Paris"
    stayed = BrandMonitor("acme")
    stayed.load_state(saved)
    feed(moved, iter(counts[9 * 288:9 * 288 + 12]))
    feed(stayed, iter(counts[9 * 288:9 * 288 + 12]))
    assert [r.score.expected for r in moved.reports[-12:]] == [
        r.score.expected for r in stayed.reports[-12:]]
    events = feed(moved, iter(counts[9 * 288 + 12:]))
    assert [e for e in events if e["event"] == "opened"] == []
    events = feed(stayed, iter(counts[9 * 288 + 12:]))
    assert [e for e in events if e["event"] == "opened"]  # on UTC slots: false stories, as measured


# --- configuration --------------------------------------------------------------------------------


def watchlist(timezone: Any) -> dict[str, Any]:
    return {"brands": [{"id": "acme", "name": "Acme", "timezone": timezone}, {"id": "boreal"}]}


def _days_filed(d: Detector) -> int:
    return len(d.daily_max[0][0])


@pytest.mark.parametrize("away", ["Asia/Tokyo", "America/New_York", "Asia/Kathmandu"])
def test_a_zone_set_by_mistake_and_reverted_files_no_day_twice(away: str) -> None:
    """Moved to a zone and back (an operator's mistake, reverted with restarts between): the
    days of maxima are the days of before, none filed twice (Tokyo then back filed 2026-01-03
    twice, a 23-hour and a 1-hour day, pulling the typical daily maximum down)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    moved, stayed = Detector(), Detector()
    for i in range(6 * 288):
        t = start + i * STEP
        if i == 3 * 288 - 12:  # 23:00 UTC
            moved.move_to(away)
            moved.move_to("UTC")
        for d in (moved, stayed):
            d.update(t, 10 + i % 7)
    assert _days_filed(moved) == _days_filed(stayed) == 5


def test_a_local_date_going_back_files_no_extra_day() -> None:
    """Newfoundland set its clocks back at 00:01 until 2010 (00:00 to 23:00 of the day before):
    the date went back, which filed a 5-minute and a 55-minute day at each change."""
    d = Detector(DetectorConfig(timezone="America/St_Johns"))
    start = datetime(2010, 11, 1, tzinfo=UTC)  # the change of 2010-11-07 within
    for i in range(10 * 288):
        d.update(start + i * STEP, 5.0)
    assert _days_filed(d) == 10


def test_a_state_saved_in_a_zone_this_machine_cannot_load_starts_afresh() -> None:
    """A link since dropped from the tz database: the brand starts afresh (StateMismatch, which
    the spike agent logs and handles), rather than the load failing on every restart."""
    from veille.crisis import StateMismatch

    state = BrandMonitor("acme", timezone="Europe/Paris").core_state()
    state["detector"]["config"]["timezone"] = "US/Pacific-New"  # dropped in tzdata 2020b
    with pytest.raises(StateMismatch, match="US/Pacific-New"):
        BrandMonitor("acme", timezone="America/Los_Angeles").load_core(state)


def test_a_brand_may_name_its_timezone_in_the_watch_list() -> None:
    wl = Watchlist.from_dict(watchlist("Europe/Paris"))
    assert [b.timezone for b in wl.brands] == ["Europe/Paris", None]  # None: VEILLE_TIMEZONE's


@pytest.mark.parametrize("value", ["Europe/Pariss", "europe/paris", "Europe", "localtime",
                                   "", "../etc/passwd", 1, ["Europe/Paris"]])
def test_a_timezone_that_is_not_an_iana_zone_is_refused_naming_the_brand_and_value(
        value: Any) -> None:
    with pytest.raises(WatchlistError, match=r"acme\.timezone") as exc:
        Watchlist.from_dict(watchlist(value), source="wl.toml")
    assert str(exc.value).startswith("wl.toml: acme.timezone: ") and repr(value) in str(exc.value)


def test_the_watch_list_file_takes_a_timezone(tmp_path: Path) -> None:
    path = tmp_path / "wl.toml"
    path.write_text('[[brands]]\nid = "acme"\ntimezone = "Europe/Paris"\n', encoding="utf-8")
    assert Watchlist.from_toml(path).brands[0].timezone == "Europe/Paris"
    path.write_text('[[brands]]\nid = "acme"\ntimezone = "Paris"\n', encoding="utf-8")
    with pytest.raises(WatchlistError, match=r"acme\.timezone: 'Paris' is not a time zone"):
        Watchlist.from_toml(path)


def test_veille_timezone_is_checked_and_defaults_to_utc() -> None:
    assert Settings.from_env({}).timezone == "UTC"
    assert Settings.from_env({"VEILLE_TIMEZONE": "Europe/Paris"}).timezone == "Europe/Paris"
    with pytest.raises(SettingsError, match="VEILLE_TIMEZONE: 'Europe/Pariss' is not a time zone"):
        Settings.from_env({"VEILLE_TIMEZONE": "Europe/Pariss"})


# --- veille detect --timezone ---------------------------------------------------------------------


@pytest.fixture
def paris_series(tmp_path: Path) -> Path:
    """Negative counts of a Paris-rhythm brand, 10 days before the spring change to 2 days after."""
    start = (SPRING.timestamp() // 86400 - 10) * 86400
    rows = [f"{datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S},{k}"
            for t, _, k in paris_counts(start, 12, 1000, 1)]
    path = tmp_path / "series.csv"
    path.write_text("timestamp,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def alerts_in(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    return [line.split(",")[0] for line in lines if line.endswith(",1")]


def test_veille_detect_scores_on_the_clock_of_timezone(
        paris_series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEILLE_TIMEZONE", raising=False)
    utc, paris, env = tmp_path / "utc.csv", tmp_path / "paris.csv", tmp_path / "env.csv"
    assert run(capsys, "detect", str(paris_series), "--out", str(utc))[0] == 0
    assert run(capsys, "detect", str(paris_series), "--out", str(paris),
               "--timezone", "Europe/Paris")[0] == 0
    # The morning ramp-up an hour early on UTC slots: 06:50-06:55 Paris time.
    assert [a[:13] for a in alerts_in(utc)] == ["2026-03-29 04"]
    assert alerts_in(paris) == []
    monkeypatch.setenv("VEILLE_TIMEZONE", "Europe/Paris")  # the agent's default, detect's too
    assert run(capsys, "detect", str(paris_series), "--out", str(env))[0] == 0
    assert env.read_bytes() == paris.read_bytes()
    # python -m veille.detect takes it as well
    assert detect.main([str(paris_series), "--out", str(env), "--timezone", "UTC"]) == 0
    assert env.read_bytes() == utc.read_bytes()


def test_veille_detect_refuses_an_unknown_timezone(
        paris_series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.csv"
    status, _, err = run(capsys, "detect", str(paris_series), "--out", str(out),
                         "--timezone", "Europe/Pariss")
    assert_clear_error(status, err, "--timezone: 'Europe/Pariss' is not a time zone name")
    monkeypatch.setenv("VEILLE_TIMEZONE", "Mars/Olympus")
    status, _, err = run(capsys, "detect", str(paris_series), "--out", str(out))
    assert_clear_error(status, err, "VEILLE_TIMEZONE: 'Mars/Olympus' is not a time zone name")
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        detect.main([str(paris_series), "--out", str(out), "--timezone", "Nowhere"])
    assert exc.value.code == 2


# --- the spike agent ------------------------------------------------------------------------------


class _Table(dict[bytes, Any]):
    key_serializer = ""

    def on_recover(self, fn: Any) -> Any:
        return fn


class _App:
    """What agents.spikes.install uses of a Faust app, in memory."""

    def __init__(self) -> None:
        self.tables: dict[str, _Table] = {}
        self.agents: list[Any] = []
        self.producer = SimpleNamespace(flush=self._done)

    async def _done(self) -> None:
        return None

    def Table(self, name: str, **_: Any) -> _Table:  # noqa: N802 - Faust's name
        self.tables[name] = table = _Table()
        return table

    def agent(self, *_: Any, **__: Any) -> Any:
        def register(fn: Any) -> Any:
            self.agents.append(fn)
            return fn
        return register


def test_the_spike_agent_gives_each_brand_its_zone() -> None:
    """The watch list's zone for a brand that names one, VEILLE_TIMEZONE for the others: what
    the agent saves of each brand's detector once a bucket closes."""
    from prometheus_client import CollectorRegistry

    from agents.spikes import install
    from streams.topics import SPIKE_CORE_TABLE
    from veille.metrics import SpikeMetrics

    wl = Watchlist.from_dict(watchlist("Europe/Paris"))
    settings = Settings(topic_partitions=1, timezone="America/New_York")
    app = _App()

    async def send(**_: Any) -> Any:
        return asyncio.sleep(0)

    topics: Any = SimpleNamespace(by_brand=object(), alerts=SimpleNamespace(send=send))
    install(app, topics, wl, SpikeMetrics(CollectorRegistry(), wl.brand_ids, settings.spike_bucket_seconds),
            settings)
    t0 = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    events = [
        SimpleNamespace(key=brand.encode(), message=SimpleNamespace(partition=0, offset=i),
                        value=json.dumps({"id": f"m{i}", "t": t, "neg": False, "aud": 1,
                                          "text": "ok", "p": 0, "o": i}).encode())
        for i, (brand, t) in enumerate([("acme", t0), ("boreal", t0), ("acme", t0 + 3600),
                                        ("boreal", t0 + 3600)])
    ]

    class Stream:
        async def take_events(self, *_: Any, **__: Any) -> Any:
            yield events

    (agent,) = app.agents
    asyncio.run(agent(Stream()))
    core = app.tables[SPIKE_CORE_TABLE]
    assert core[b"acme"]["detector"]["config"]["timezone"] == "Europe/Paris"
    assert core[b"boreal"]["detector"]["config"]["timezone"] == "America/New_York"
