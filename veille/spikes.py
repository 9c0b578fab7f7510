"""Streaming crisis detector for per-bucket mention counts: pure Python, deterministic, restartable."""

from __future__ import annotations

import math
import sys
from collections import deque
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from veille.timezones import UTC_NAME, zone

#: Bumped when the layout of `Detector.to_state()` changes; unknown versions are refused, not
#: misread (version 1, without `last_hot_ts`, is still read).
STATE_VERSION = 2
#: Multiplies a median absolute deviation into a Gaussian-equivalent standard deviation.
_MAD_TO_SIGMA = 1.4826
#: Buckets of plain running averages before the exponential memories take over (cold start).
_SEED_BUCKETS = 50
#: A time-of-day slot starts its first day at the series' overall level, weighing as this share
#: of the slot's buckets in a day (18 minutes' worth for hourly slots); from its second day on,
#: plain averages of what it saw take over. Before, a slot was its first bucket, then the plain
#: average of its first ones, each pulled in by up to `clip` noise scales: a crisis during a
#: brand's first day ratcheted its hours up to about the crisis level (a 10x surge on a rhythmic
#: series: those hours expected 3.1-3.2 times the true level the next day, now 1.4-1.6; the
#: demo's outage: 27.6 negative mentions expected in its last bucket, now 9.6). 0.24-0.4 give the
#: same NAB figures; 0.5 and more slow the learning of a strong daily rhythm enough that a slow
#: build-up on day 8 goes unseen (tests/unit/test_spikes.py).
_SLOT_PRIOR = 0.3


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's settings: the same for every series (nothing here is tuned per brand), but
    for the clock its daily rhythm follows (`timezone`).

    Times are in hours or days rather than buckets so that the meaning holds for any bucket size.
    """

    #: Width of one bucket of counts (NAB's Twitter series: 5 minutes).
    bucket_seconds: int = 300
    #: Time-of-day slots of the seasonal baseline (24: one expected level per hour of `timezone`).
    slots_per_day: int = 24
    #: Memory of each slot's expected level, in days (a weekly change is learnt in about a week).
    baseline_days: float = 7.0
    #: Memory of the noise scale (median absolute deviation), in days.
    spread_days: float = 1.0
    #: Smallest noise scale, in Anscombe units: 1 is pure Poisson noise, the least a count can have.
    min_spread: float = 1.0
    #: Observations further than this many noise scales from the baseline are pulled back to it before
    #: they are learnt, so a crisis does not become the new normal within the hour.
    clip: float = 3.0
    #: Time scales of the evidence, in minutes: one bucket (a sudden spike), half an hour, three
    #: hours and twelve hours (a sustained rise that no single bucket shows, down to a slow build-up
    #: over an afternoon).
    scales_minutes: tuple[int, ...] = (5, 30, 180, 720)
    #: Longer scales sum z-scores capped at this value: they measure persistence, not one spike.
    zcap: float = 5.0
    #: Days of daily maxima that define a series' ordinary surprise (the median of them).
    history_days: int = 28
    #: Least ordinary daily maximum, in z units: about the largest of 288 Gaussian draws.
    min_typical: float = 3.0
    #: Alert when a bucket's evidence is this many times a typical day's largest one. Keep it under
    #: zcap * sqrt(6) / min_typical (4.08 with the defaults), or the 30-minute scale can never fire
    #: and a sustained doubling on a calm series goes unseen (bench/nab_eval.py --sensitivity).
    ratio: float = 3.0
    #: Scales of at least `slow_minutes` (the twelve-hour one) alert at `slow_ratio` typical daily
    #: maxima instead of `ratio`: a day holds only two independent half-days, so their daily maxima
    #: are a noisier yardstick and the bar is set higher (reported `ratio` values are rescaled so
    #: that `ratio` stays the one threshold of every scale).
    slow_minutes: int = 360
    slow_ratio: float = 3.5
    #: An episode ends when the evidence falls back under one typical daily maximum.
    end_ratio: float = 1.0
    #: No alert before this much history (plus one completed day of maxima, in `timezone`).
    warmup_hours: float = 24.0
    #: Least time between two alerts of a series.
    refractory_hours: float = 6.0
    #: Within this long after an alert, and after any later bucket whose evidence was above the
    #: threshold, a new alert needs stronger evidence than the strongest seen since that alert: one
    #: crisis and its aftershocks give one alert however long it smoulders, a worse turn another.
    escalation_hours: float = 24.0
    #: "up": only rises alert (crisis detection); "both": drops alert too (e.g. a collector outage).
    direction: Literal["up", "both"] = "up"
    #: IANA time zone whose wall clock the series' daily rhythm follows: the time-of-day slots and
    #: the days (of daily maxima, of the warm-up) are counted in its local time, so a rhythm set by
    #: people's days keeps its slots across daylight-saving changes. "UTC": UTC hours and days.
    timezone: str = UTC_NAME

    def buckets(self, seconds: float) -> int:
        """A duration in whole buckets, at least one."""
        return max(1, round(seconds / self.bucket_seconds))


@dataclass(frozen=True)
class Score:
    """What the detector says about one bucket."""

    timestamp: datetime
    #: The count as given.
    observed: float
    #: The count the baseline expected for this time of day.
    expected: float
    #: Standardised deviation of this bucket (Anscombe units over the noise scale; > 0 is a rise).
    z: float
    #: The noise scale used for `z`, in Anscombe units.
    spread: float
    #: Strongest evidence over the time scales, in multiples of a typical day's largest one.
    ratio: float
    #: `ratio / (ratio + config.ratio)`: 0..1, 0.5 exactly at the alert threshold.
    anomaly_score: float
    #: True on the first bucket of an episode that warrants telling someone; False otherwise.
    alert: bool
    #: True while the evidence stays above `end_ratio` after crossing the threshold.
    in_episode: bool
    #: True while the detector is still learning (cold start): never an alert then.
    warming_up: bool


def anscombe(count: float) -> float:
    """Variance-stabilising transform of a Poisson count: unit variance whatever the level."""
    return 2.0 * math.sqrt(max(count, 0.0) + 0.375)


def inverse_anscombe(y: float) -> float:
    """The count whose transform is `y` (0 under the transform of 0).

    Capped at the largest float: a baseline learnt from counts near it can transform back to just
    past it, which must not overflow (a finite count never makes the detector raise).
    """
    try:
        return max((y / 2.0) ** 2 - 0.375, 0.0)
    except OverflowError:
        return sys.float_info.max


class Detector:
    """One series' streaming detector: `update()` each bucket in time order, never looking ahead.

    Model: counts are Anscombe-transformed; the expected value of a bucket is a winsorised
    exponential average of its hour of the day (in `config.timezone`) over about a week; the
    noise scale is an exponentially weighted median absolute deviation. Each bucket's z-score
    feeds evidence at a few time scales, and each scale is judged against the series' own
    history: its evidence divided by the median of its daily maxima over the last weeks. That
    self-calibration is what lets one configuration serve a bursty brand and a quiet one.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = c = config or DetectorConfig()
        if c.direction not in ("up", "both"):
            raise ValueError(f"direction must be 'up' or 'both', not {c.direction!r}")
        # None: UTC, the epoch seconds as they are (no conversion at all, the results of before).
        self._zone: ZoneInfo | None = None if c.timezone == UTC_NAME else zone(c.timezone)
        per_day = 86400 / c.bucket_seconds
        self._a_season = 1.0 / (c.baseline_days * per_day / c.slots_per_day)
        self._a_spread = 1.0 / (c.spread_days * per_day)
        self._slot_day = per_day / c.slots_per_day
        self._slot_prior = _SLOT_PRIOR * self._slot_day
        # Ascending and distinct: _evidence reads every scale off one backward pass.
        self._scales = tuple(sorted({c.buckets(m * 60) for m in c.scales_minutes}))
        slow = c.buckets(c.slow_minutes * 60)
        self._bars = tuple(c.slow_ratio / c.ratio if m >= slow else 1.0 for m in self._scales)
        self._warmup = c.buckets(c.warmup_hours * 3600)
        self._signs = (1.0,) if c.direction == "up" else (1.0, -1.0)
        # The learnt state: everything below goes to to_state().
        self.n = 0
        self.last_ts: float | None = None
        self.season: list[float | None] = [None] * c.slots_per_day
        self.season_n = [0] * c.slots_per_day
        self.level = 0.0
        self.spread = c.min_spread
        self.recent: deque[float] = deque(maxlen=max(self._scales))
        # Derived, not state: recent z-scores capped at zcap, and each scale's typical daily maximum.
        self._capped: deque[float] = deque(maxlen=max(self._scales))
        self._typicals: list[list[float]] | None = None
        self.day: int | None = None
        # Per direction and scale: the running maximum of today and those of past days.
        self.today = [[0.0] * len(self._scales) for _ in self._signs]
        self.daily_max: list[list[list[float]]] = [[[] for _ in self._scales] for _ in self._signs]
        self.in_episode = False
        self.last_alert_ts: float | None = None
        #: The last bucket whose evidence reached the threshold (alerted or not).
        self.last_hot_ts: float | None = None
        self.peak_since_alert = 0.0
        self._fast_ratio = 0.0  # set by _evidence for _decide, not state

    def local(self, ts: float) -> float:
        """Epoch seconds `ts` on the wall clock of `config.timezone` (seconds since 1970-01-01
        00:00 local time): its day is `local // 86400`, its time of day `local % 86400`. A
        daylight-saving change makes one local day 23 hours long and another 25, and moves the
        time of day of an instant by an hour. Once per bucket, never per mention."""
        z = self._zone
        if z is None:
            return ts
        try:
            offset = datetime.fromtimestamp(ts, z).utcoffset()
        except (OverflowError, ValueError):  # local time before year 1 or after 9999: the
            offset = z.utcoffset(datetime.fromtimestamp(ts, UTC).replace(tzinfo=None))  # UTC one
        return ts + offset.total_seconds() if offset is not None else ts

    def warming_up_at(self, ts: float) -> bool:
        """Whether the next bucket, starting at epoch `ts`, is scored as warm-up: too few
        buckets yet, or no completed (local) day of maxima (the day it starts in completes one)."""
        return self._warming(self.local(ts))

    def _warming(self, local: float) -> bool:
        new_day = self.day is not None and int(local // 86400) > self.day
        return self.n + 1 <= self._warmup or (not self.daily_max[0][0] and not new_day)

    def update(self, timestamp: datetime, value: float) -> Score:
        """Score the bucket starting at `timestamp` (naive means UTC) holding `value` mentions."""
        c = self.config
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        ts = timestamp.timestamp()
        if self.last_ts is not None and ts <= self.last_ts:
            raise ValueError(f"bucket {timestamp.isoformat()} is not after the previous one")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a bucket count must be a finite number >= 0, not {value!r}")
        local = self.local(ts)
        warming = self._warming(local)
        self.n += 1
        self._roll_day(int(local // 86400))

        y = anscombe(value)
        slot = int(local % 86400) * c.slots_per_day // 86400
        seasonal = self.season[slot]
        if self.n == 1:
            self.level = y
        expected = seasonal if seasonal is not None else self.level
        spread = max(self.spread, c.min_spread)
        residual = y - expected
        z = residual / spread

        ratio = self._evidence(z)
        alert = self._decide(ts, ratio, warming)
        self._learn(slot, y, expected, residual, spread)
        self.last_ts = ts
        return Score(
            timestamp=timestamp,
            observed=float(value),
            expected=inverse_anscombe(expected),
            z=z,
            spread=spread,
            ratio=ratio,
            anomaly_score=ratio / (ratio + c.ratio),
            alert=alert,
            in_episode=self.in_episode,
            warming_up=warming,
        )

    def _roll_day(self, day: int) -> None:
        """On a new (local) day, file each scale's maximum of the day that ended.

        Only forwards: a local date that goes back (a clock set back across midnight, as
        Newfoundland's was at 00:01 until 2010; a zone moved back west, see move_to) goes on
        with the day in progress rather than filing a day twice or a day of minutes."""
        if self.day is not None and day < self.day:
            return
        if self.day is not None and day != self.day:
            keep = self.config.history_days
            for today, history in zip(self.today, self.daily_max, strict=True):
                for k, peak in enumerate(today):
                    history[k].append(peak)
                    del history[k][:-keep]
                    today[k] = 0.0
            self._typicals = None  # the history moved: recomputed on the next bucket
        self.day = day

    def _evidence(self, z: float) -> float:
        """Strongest evidence over scales and directions, in typical daily maxima."""
        c = self.config
        self.recent.append(z)
        self._capped.append(max(-c.zcap, min(c.zcap, z)))
        if self._typicals is None:
            self._typicals = [
                [max(_median(h), c.min_typical) if h else c.min_typical for h in per_dir]
                for per_dir in self.daily_max
            ]
        # Each longer scale: the sum of its newest capped z-scores (exactly rounded, so the same on
        # any platform), over the square root of its length. The cap is symmetric: a drop's sum is
        # the rise's sum negated.
        n = len(self._capped)
        sums = [
            math.fsum(islice(reversed(self._capped), m)) / math.sqrt(m) if m <= n else None
            for m in self._scales
        ]
        best = fast = 0.0
        for d, sign in enumerate(self._signs):
            for k, m in enumerate(self._scales):
                s = sums[k]
                if m == 1:
                    e = sign * z  # one bucket: uncapped, so a huge spike counts in full
                elif s is not None:
                    e = sign * s
                else:
                    e = 0.0  # not enough buckets yet for this scale
                typical = self._typicals[d][k]
                best = max(best, e / (typical * self._bars[k]))
                if self._bars[k] == 1.0:
                    fast = max(fast, e / typical)
                self.today[d][k] = max(self.today[d][k], e)
        self._fast_ratio = fast
        return best

    def _decide(self, ts: float, ratio: float, warming: bool) -> bool:
        """Episode logic: one alert when evidence crosses the threshold, then quiet."""
        c = self.config
        since = None if self.last_alert_ts is None else ts - self.last_alert_ts
        # Escalation mode lasts escalation_hours past the last bucket above the threshold, not past
        # the alert: a crisis that flares up again the next day is still the same crisis.
        escalating = self.last_hot_ts is not None and ts - self.last_hot_ts < c.escalation_hours * 3600
        alert = False
        if warming:
            pass
        else:
            if self.in_episode and self._fast_ratio < c.end_ratio:
                # Judged on the scales shorter than slow_minutes: a slow scale remembers the last
                # twelve hours, and would hold an episode open long after the crisis is over.
                self.in_episode = False
            if ratio >= c.ratio:
                if (
                    not self.in_episode
                    and (since is None or since >= c.refractory_hours * 3600)
                    and (not escalating or ratio > self.peak_since_alert)
                ):
                    alert = True
                    self.last_alert_ts = ts
                self.in_episode = alert or self.in_episode or self._fast_ratio >= c.end_ratio
                self.last_hot_ts = ts
        if alert or escalating:
            self.peak_since_alert = ratio if alert else max(self.peak_since_alert, ratio)
        return alert

    def _learn(self, slot: int, y: float, expected: float, residual: float, spread: float) -> None:
        c = self.config
        # Winsorised: a crisis moves the baseline by at most `clip` noise scales per update.
        learnt = expected + max(-c.clip * spread, min(c.clip * spread, residual))
        seen = self.season_n[slot] + 1
        self.season_n[slot] = seen
        current = self.season[slot]
        if current is None:
            current = expected  # the overall level (update: a slot not seen yet expects it)
        prior = self._slot_prior if seen <= self._slot_day else 0.0
        step = max(1.0 / (seen + prior), self._a_season)
        self.season[slot] = current + step * (learnt - current)
        self.level += max(1.0 / self.n, self._a_spread) * (learnt - self.level)
        # Exponentially weighted median of |residual| by multiplicative steps: a burst can raise
        # the noise scale by at most a factor (1 + a) per bucket, unlike a mean of squares.
        target = abs(residual) * _MAD_TO_SIGMA
        if self.n <= _SEED_BUCKETS:
            self.spread += (target - self.spread) / self.n
        else:
            self.spread *= 1.0 + self._a_spread if target > self.spread else 1.0 - self._a_spread

    def move_to(self, timezone: str) -> None:
        """Go on in another time zone, keeping what was learnt rather than starting afresh.

        Each time-of-day slot's expected level moves with the clock: the level learnt for an
        hour of the old zone becomes that of the same instant's hour in the new one (by the two
        zones' offsets at the last bucket seen, rounded to whole slots), so the expected values
        of the next buckets are those of before, and from then on the slots follow the new
        zone's daylight-saving changes. The days of maxima already filed are kept; the day in
        progress is filed if it is over on the new zone's clock, and otherwise goes on to the
        new zone's next midnight (a day is never filed twice: a move and its way back give the
        days of before, one of them longer or shorter). TimezoneError for a name that is not a
        zone."""
        if timezone == self.config.timezone:
            return
        new = Detector(replace(self.config, timezone=timezone))  # checks the name
        if self.last_ts is not None:
            old_local, new_local = self.local(self.last_ts), new.local(self.last_ts)
            slots = self.config.slots_per_day
            k = round((new_local - old_local) * slots / 86400) % slots
            self.season = self.season[-k:] + self.season[:-k] if k else self.season
            self.season_n = self.season_n[-k:] + self.season_n[:-k] if k else self.season_n
            # Over on the new zone's clock: filed. Not over yet: it goes on to the new zone's
            # next midnight; a date before it (moved west, or back west after a move east filed
            # the day) does not take the day back (_roll_day only goes forwards).
            self._roll_day(int(new_local // 86400))
        self.config, self._zone = new.config, new._zone

    def to_state(self) -> dict[str, Any]:
        """Everything learnt, as plain JSON-able values (a Faust table value).

        The time zone is written only when it is not UTC: a UTC detector's state is the one
        written before time zones existed, which that version can still read."""
        config = asdict(self.config)
        if config["timezone"] == UTC_NAME:
            del config["timezone"]
        return {
            "version": STATE_VERSION,
            "config": config,
            "n": self.n,
            "last_ts": self.last_ts,
            "season": list(self.season),
            "season_n": list(self.season_n),
            "level": self.level,
            "spread": self.spread,
            "recent": list(self.recent),
            "day": self.day,
            "today": [list(t) for t in self.today],
            "daily_max": [[list(h) for h in per_dir] for per_dir in self.daily_max],
            "in_episode": self.in_episode,
            "last_alert_ts": self.last_alert_ts,
            "last_hot_ts": self.last_hot_ts,
            "peak_since_alert": self.peak_since_alert,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Detector:
        """The detector `to_state()` described: it scores the next buckets exactly as it would have.

        A state without a time zone (saved by a UTC detector, or before time zones existed) is a
        UTC one."""
        # Version 1 had no last_hot_ts: escalation then counted from the alert, as it still does
        # for such a state until its next bucket above the threshold.
        if state.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"detector state version {state.get('version')!r}, expected {STATE_VERSION}")
        conf = dict(state["config"])
        conf["scales_minutes"] = tuple(conf["scales_minutes"])
        d = cls(DetectorConfig(**conf))
        d.n = int(state["n"])
        d.last_ts = state["last_ts"]
        d.season = [None if v is None else float(v) for v in state["season"]]
        d.season_n = [int(v) for v in state["season_n"]]
        d.level = float(state["level"])
        d.spread = float(state["spread"])
        d.recent.extend(float(v) for v in state["recent"])
        d._capped.extend(max(-d.config.zcap, min(d.config.zcap, z)) for z in d.recent)
        d.day = state["day"]
        d.today = [[float(v) for v in t] for t in state["today"]]
        d.daily_max = [[[float(v) for v in h] for h in per_dir] for per_dir in state["daily_max"]]
        d.in_episode = bool(state["in_episode"])
        d.last_alert_ts = state["last_alert_ts"]
        d.last_hot_ts = state.get("last_hot_ts", state["last_alert_ts"])
        d.peak_since_alert = float(state["peak_since_alert"])
        return d


class Fed(NamedTuple):
    """What `feed` did with one closed bucket."""

    detector: Detector  # the detector that scored it (a fresh one after a restart)
    score: Score
    held_since: int | None  # start of the silence held back, if any
    first_start: int | None  # start of the series' first bucket above 0, once there was one


def feed(d: Detector, start: int, count: float, *, held_since: int | None,
         first_start: int | None, max_gap_buckets: int) -> Fed:
    """Score the bucket starting at epoch `start`, holding back a cold detector's silences.

    A silence is a bucket of 0, whatever else the caller saw in it: the detector's series is all
    it is told (the spike agent's buckets of negative mentions, `veille detect`'s rows), so that
    the same series is scored the same way by both. A warm detector is fed every bucket as it
    comes (silence is data). A cold one (still warming up) is not fed a silence as it comes: it
    is held (from `held_since`) until the next bucket above 0, then fed if it was shorter than
    the time the series had been watched before it (since `first_start`, its first bucket above
    0: its quiet hours), or else taken as the series not having started yet - a stray old
    mention, a backfill, a brand silent for days - and the detector starts afresh at the new
    traffic instead of scoring it against a baseline of zeros. Held buckets are scored as
    warm-up (no anomaly). At most `max_gap_buckets` held buckets are fed, as a jump of the clock
    feeds at most that many. Zeros before the series' first bucket above 0 are never fed.
    The spike agent (veille.crisis.BrandMonitor) and `veille detect` both score through this."""
    size = d.config.bucket_seconds
    ts = datetime.fromtimestamp(start, UTC)
    if count == 0 and (held_since is not None or first_start is None or d.warming_up_at(start)):
        if held_since is None:
            # From the bucket after the last one the detector saw: a silence that a jump of the
            # clock shortened (max_gap_buckets) counts in full.
            held_since = start if d.last_ts is None else int(d.last_ts) + size
        return Fed(d, Score(ts, 0.0, 0.0, 0.0, d.config.min_spread, 0.0, 0.0, False, False, True),
                   held_since, first_start)
    if first_start is None:
        first_start, held_since = start, None  # the series starts here: the zeros before it
        # are not fed (and the detector that saw none of them is a fresh one)
    if held_since is not None:
        if start - held_since >= held_since - first_start:
            d = Detector(d.config)
        else:
            for t in range(max(held_since, start - max_gap_buckets * size), start, size):
                d.update(datetime.fromtimestamp(t, UTC), 0)
    return Fed(d, d.update(ts, count), None, first_start)


def _median(values: list[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2.0
