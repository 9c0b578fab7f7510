"""Crisis detection across daylight-saving changes: a brand whose daily rhythm follows Paris time.

Generated traffic, no broker: the pure `BrandMonitor` (count detector, share test, alert story)
is fed closed 5-minute buckets, as the spike agent closes them. The brand's volume follows a
daily rhythm written in Europe/Paris local time (veille/demo.py's curve: a trough at 04:00, a
lunch peak, an evening peak) with a steady 15 % negative share, so every story opened is a false
one. Two kinds of traffic:

* `demo`: as veille/demo.py generates it: less at weekends (down to 0.82 on Sundays) and each
  hour its own +-12 % wobble;
* `steady`: every day alike, Poisson noise only (the unit tests' kind of traffic).

Each run warms up for five weeks before a daylight-saving change (01:00 UTC on the last Sunday of
March or of October) and goes on two weeks after it. Compared: the detector's time-of-day slots
and days in UTC (`timezone = "UTC"`, the default, and the only choice until 2026-12-03) and in
the brand's own time zone (`timezone = "Europe/Paris"`).

Columns, summed or averaged over the seeds:

* stories opened and count-detector alerts in the 14 days before the change (the control) and in
  the 14 days after it;
* evidence: each run's largest evidence (in typical daily maxima; 3 is the alert bar) over those
  14 days, averaged over the runs;
* error of `expected` (the negative count a bucket was expected to hold, as alerts and the
  `_expected` gauge show it) against the generator's mean for that local time (over the week, as
  a baseline without a weekday factor can know it): for each local hour from 06:00 to 24:00 the
  systematic error sum(expected) / sum(mean) - 1, and the worst hour's, in the week before the
  change and on days 1, 2-3, 4-7 and 8-14 after it.

    .venv/bin/python bench/dst_eval.py [--seeds 5] [--years 2026] [--volumes 4,40,400,2000]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable as `python bench/dst_eval.py` from a checkout

from veille.crisis import BrandMonitor, Bucket  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
BUCKET = 300
NEGATIVE_SHARE = 0.15
WARMUP_DAYS = 35
AFTER_DAYS = 14
#: Relative volume at each local hour (veille/demo.py's curve): a trough around 04:00, a lunch
#: peak and the evening peak at 20:00-21:00. Linearly interpolated.
DAY_NODES = (
    0.55, 0.38, 0.26, 0.20, 0.17, 0.22, 0.40, 0.72, 0.98, 1.08, 1.12, 1.28,
    1.55, 1.52, 1.22, 1.12, 1.12, 1.22, 1.40, 1.62, 1.82, 1.78, 1.38, 0.88,
)  # fmt: skip
DAY_CURVE = tuple(v * len(DAY_NODES) / sum(DAY_NODES) for v in DAY_NODES)
#: Monday..Sunday (veille/demo.py's).
WEEK_FACTORS = (1.0, 1.02, 1.0, 1.01, 0.97, 0.86, 0.82)
WEEK_MEAN = sum(WEEK_FACTORS) / 7
HOUR_NOISE_SIGMA = 0.12
#: Local hours whose `expected` error is measured: from the morning ramp-up to midnight.
ERROR_HOURS = range(6, 24)
PERIODS = (("week before", -7, 0), ("day 1", 0, 1), ("days 2-3", 1, 3), ("days 4-7", 3, 7),
           ("days 8-14", 7, 14))
SLOTS = {"UTC": "UTC", "local": "Europe/Paris"}


def last_sunday(year: int, month: int) -> date:
    d = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - 6) % 7)


def change_instant(year: int, month: int) -> float:
    """The EU's daylight-saving change: 01:00 UTC on the last Sunday of March or October."""
    d = last_sunday(year, month)
    return datetime(d.year, d.month, d.day, 1, tzinfo=UTC).timestamp()


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def day_curve(local: datetime) -> float:
    pos = local.hour + local.minute / 60
    low, frac = int(pos) % 24, pos - int(pos)
    return DAY_CURVE[low] * (1 - frac) + DAY_CURVE[(low + 1) % 24] * frac


@dataclass
class Side:
    stories: int = 0
    alerts: int = 0
    peaks: list[float] = field(default_factory=list)


@dataclass
class Outcome:
    before: Side = field(default_factory=Side)
    after: Side = field(default_factory=Side)
    #: (period, local hour) -> [sum of expected, sum of the generator's mean]
    sums: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def worst(self, period: str) -> float:
        """The worst local hour's systematic error of `expected` in `period`, in %."""
        errs = [abs(e / t - 1) for (p, _), (e, t) in self.sums.items() if p == period and t > 0]
        return 100 * max(errs) if errs else float("nan")


def run(change: float, volume: float, seed: int, traffic: str, timezone: str,
        out: Outcome) -> None:
    """One brand: five weeks of warm-up, then two weeks after the change."""
    rng = random.Random(seed)
    m = BrandMonitor("acme", timezone=timezone)
    demo = traffic == "demo"
    first = int(change - WARMUP_DAYS * 86400) // 86400 * 86400
    end = change + AFTER_DAYS * 86400
    hour_seen: tuple[object, ...] | None = None
    wobble = 1.0
    peak = {"before": 0.0, "after": 0.0}
    t = first
    while t < end:
        local = datetime.fromtimestamp(t, PARIS)
        if demo and (hour := (local.date(), local.hour, local.utcoffset())) != hour_seen:
            hour_seen = hour
            wobble = math.exp(rng.gauss(0, HOUR_NOISE_SIGMA) - HOUR_NOISE_SIGMA ** 2 / 2)
        mean = volume * day_curve(local)
        rate = mean * (WEEK_FACTORS[local.weekday()] * wobble if demo else 1.0)
        neg = poisson(rng, rate * NEGATIVE_SHARE)
        pos = poisson(rng, rate * (1 - NEGATIVE_SHARE))
        b = Bucket(t)
        b.total, b.negative = neg + pos, neg
        b.weighted_total, b.weighted_negative = float(neg + pos), float(neg)
        m.open[t] = b
        events = m.advance(t + BUCKET + m.config.lateness_seconds)
        days = (t - change) / 86400
        side = "after" if days >= 0 else "before" if days >= -AFTER_DAYS else None
        for report in m.reports:
            score = report.score
            if side is not None:
                tally = getattr(out, side)
                tally.alerts += score.alert
                peak[side] = max(peak[side], score.ratio)
            if local.hour in ERROR_HOURS:
                truth = mean * (WEEK_MEAN if demo else 1.0) * NEGATIVE_SHARE
                for name, lo, hi in PERIODS:
                    if lo <= days < hi:
                        s = out.sums.setdefault((name, local.hour), [0.0, 0.0])
                        s[0] += score.expected
                        s[1] += truth
        m.reports.clear()
        if side is not None:
            getattr(out, side).stories += sum(e["event"] == "opened" for e in events)
        t += BUCKET
    out.before.peaks.append(peak["before"])
    out.after.peaks.append(peak["after"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="runs per cell and year (default %(default)s)")
    ap.add_argument("--years", default="2026", help="comma-separated years (default %(default)s)")
    ap.add_argument("--volumes", default="4,40,400,2000",
                    help="mean mentions per 5-minute bucket, comma-separated (default %(default)s)")
    ap.add_argument("--traffic", default="demo,steady", help="demo, steady or both (default %(default)s)")
    ap.add_argument("--slots", default="UTC,local", help="UTC, local or both (default %(default)s)")
    args = ap.parse_args(argv)
    years = [int(y) for y in args.years.split(",")]
    volumes = [float(v) for v in args.volumes.split(",")]
    traffics = [x for x in args.traffic.split(",") if x]
    slots = [x for x in args.slots.split(",") if x]
    started = time.perf_counter()
    runs = args.seeds * len(years)
    print(f"{runs} runs a row ({args.seeds} seeds x years {', '.join(map(str, years))}): {WARMUP_DAYS} "
          f"days of warm-up, then {AFTER_DAYS} days after the change; negative share "
          f"{NEGATIVE_SHARE:.0%}, so every story is a false one. before / after: the {AFTER_DAYS} "
          "days before the change / after it.\n")
    print("| change | traffic | mentions/bucket | slots | stories before / after |"
          " alerts before / after | evidence before / after |"
          + "".join(f" worst-hour error, {name} |" for name, _, _ in PERIODS))
    print("|---|---|--:|---|--:|--:|--:|" + "--:|" * len(PERIODS))
    for month, label in ((3, "March"), (10, "October")):
        for traffic in traffics:
            for volume in volumes:
                for slot in slots:
                    out = Outcome()
                    for year in years:
                        change = change_instant(year, month)
                        for seed in range(args.seeds):
                            run(change, volume, 1000 * year + 10 * seed + month, traffic,
                                SLOTS[slot], out)
                    errs = "".join(f" {out.worst(name):.0f} % |" for name, _, _ in PERIODS)
                    b, a = out.before, out.after
                    print(f"| {label} | {traffic} | {volume:g} | {slot} | {b.stories} / {a.stories} |"
                          f" {b.alerts} / {a.alerts} | {statistics.fmean(b.peaks):.2f} /"
                          f" {statistics.fmean(a.peaks):.2f} |{errs}", flush=True)
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
