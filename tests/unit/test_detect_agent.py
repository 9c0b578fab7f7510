"""`veille detect` runs the detector the spike agent runs: the same mentions, once through the
agent's own code (agents/spikes.py on the stand-in Faust app of tests/spike_helpers: signals and
ticks on mentions.by_brand, its watermark, BrandMonitor, its metrics and alert events) and once
as the CSV of each bucket's negative count through the `veille detect` command, give the same
anomaly score, bucket by bucket, and the same alert."""

from __future__ import annotations

import csv
import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import agents.recovery
from streams.topics import brand_partition
from tests.conftest import ROOT
from tests.spike_helpers import SETTINGS, Process, signal, tick
from tests.unit.test_spikes import poisson
from veille.settings import Settings

T0 = 1_700_006_400  # 2023-11-15 00:00 UTC, in the past (event times are capped at the clock)
SIZE = 300
PER_DAY = 86_400 // SIZE
Q = brand_partition("acme", SETTINGS.topic_partitions)  # acme's mentions.by_brand partition
SOURCES = range(SETTINGS.topic_partitions)  # the raw partitions the enrichment stage reads
SHARE = 0.3  # negative share, the same in every bucket: only the count detector speaks


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    async def caught_up(*args: object, **kwargs: object) -> int:
        return 0

    monkeypatch.setattr(agents.recovery, "catch_up_retrying", caught_up)


def mentions(days: int, mean: float, surge: tuple[int, int, float], seed: int) -> list[tuple[int, int]]:
    """(total, negative) mentions of each bucket from T0: a daily rhythm (x0.4 at night .. x1.6),
    one surge (start bucket, length, factor) of all mentions, a flat negative share."""
    rng = random.Random(seed)
    out = []
    for i in range(days * PER_DAY):
        lam = mean * (1.0 + 0.6 * math.sin(2 * math.pi * (i % PER_DAY) / PER_DAY - math.pi / 2))
        if surge[0] <= i < surge[0] + surge[1]:
            lam *= surge[2]
        total = poisson(rng, lam)
        out.append((total, sum(rng.random() < SHARE for _ in range(total))))
    return out


def through_agent(buckets: list[tuple[int, int]], seed: int, env: dict[str, str]
                  ) -> tuple[dict[int, float], list[dict]]:
    """Each bucket's anomaly score as the agent configured by the VEILLE_* variables `env`
    exports it (veille_reputation_anomaly_score, read after every batch that closed one bucket),
    and the alert events it sent. `buckets` are 5-minute slots, one batch each."""
    rng = random.Random(seed)
    settings = Settings.from_env(env)
    width = settings.spike_bucket_seconds
    proc = Process(settings=settings)
    offset, sent = 0, [0] * len(SOURCES)
    batches = []
    for i, (total, negative) in enumerate(buckets):
        start = T0 + i * SIZE
        flags = [True] * negative + [False] * (total - negative)
        rng.shuffle(flags)
        batch = []
        for neg, t in zip(flags, sorted(rng.uniform(start, start + SIZE - 1) for _ in flags),
                          strict=True):
            p = rng.randrange(len(SOURCES))
            batch.append(signal(Q, offset, "acme", p=p, o=sent[p], t=t, neg=neg,
                                text="slow again" if neg else "fine"))
            sent[p] += 1
            offset += 1
        # The enrichment stage's ticks: every raw partition read up to the bucket's end.
        for p in SOURCES:
            batch.append(tick(Q, offset, p=p, t=start + SIZE))
            offset += 1
        batches.append(batch)
    end = T0 + len(buckets) * SIZE + 3600
    batches.append([tick(Q, offset + p, p=p, t=end) for p in SOURCES])

    def sample(name: str) -> float:
        return proc.registry.get_sample_value(name, {"brand": "acme"}) or 0.0

    scores: dict[int, float] = {}
    first = (T0 + next(i for i, (total, _) in enumerate(buckets) if total) * SIZE) // width * width
    closed = 0

    for batch in batches:  # one batch at a time: the gauge is read after each
        proc.run([batch])
        now = int(sample("veille_reputation_buckets_closed_total"))
        if now == closed + 1:
            scores[first + closed * width] = sample("veille_reputation_anomaly_score")
        closed = now
    return scores, proc.alerts.sent


def through_veille_detect(tmp_path: Path, buckets: list[tuple[int, int]], environ: dict[str, str]
                          ) -> dict[int, tuple[float, int]]:
    """Each row's (anomaly_score, alert) from `veille detect`, run with the VEILLE_* variables
    `environ`, on the negative counts: one row per 5-minute slot that had mentions (an export
    leaves the silent ones out, or writes 0: the same)."""
    series, out = tmp_path / "negative.csv", tmp_path / "scored.csv"
    with series.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for i, (total, negative) in enumerate(buckets):
            if total:
                w.writerow([_iso(T0 + i * SIZE), negative])
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "veille.cli", "detect", str(series), "--out",
                           str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as fh:
        return {int(datetime.fromisoformat(r["timestamp"]).timestamp()):
                (float(r["anomaly_score"]), int(r["alert"])) for r in csv.DictReader(fh)}


@pytest.mark.parametrize("env", [
    {},
    # A deployment's settings: `veille detect` reads them as the agent does (until 2026-12-07 it
    # scored 5-minute buckets whatever VEILLE_SPIKE_BUCKET_SECONDS said).
    {"VEILLE_SPIKE_BUCKET_SECONDS": "600", "VEILLE_TIMEZONE": "Europe/Paris"},
], ids=["defaults", "10-minute-buckets-paris"])
def test_veille_detect_scores_each_bucket_as_the_spike_agent(tmp_path: Path, env: dict[str, str]
                                                             ) -> None:
    """Four days of a brand's mentions (a daily rhythm, 30 % of them negative in every bucket, a
    surge of all mentions on the fourth afternoon); a quiet night's bucket often has mentions
    but no negative one, on the first day too, while the detector warms up."""
    width = int(env.get("VEILLE_SPIKE_BUCKET_SECONDS", SIZE))
    buckets = mentions(4, mean=10.0, surge=(3 * PER_DAY + 170, 24, 6.0), seed=3)
    agent, events = through_agent(buckets, seed=4, env=env)
    rows = through_veille_detect(tmp_path, buckets, env)
    offline: dict[int, tuple[float, int]] = {}
    for ts, (score, alert) in rows.items():  # rows of one bucket: its score, alert on the first
        start = ts // width * width
        offline[start] = (score, max(alert, offline.get(start, (0.0, 0))[1]))
    assert len(agent) >= len(buckets) * SIZE // width - 3  # but the last, closed together
    compared = [start for start in sorted(agent) if start in offline]
    assert len(compared) > 0.95 * len(agent)
    assert [(s, round(agent[s], 4)) for s in compared] == [(s, offline[s][0]) for s in compared]
    # The alert: the agent's story opened on the bucket `veille detect` flags, with its score.
    opened = [e for e in events if e["event"] == "opened"]
    flagged = [s for s, (_, alert) in offline.items() if alert]
    assert len(opened) == len(flagged) == 1
    assert opened[0]["anomaly_score"] == offline[flagged[0]][0]
    assert datetime.fromisoformat(opened[0]["window_end"]).timestamp() == flagged[0] + width


def test_a_cold_detector_holds_a_bucket_without_negative_mentions_back_as_veille_detect_does(
        tmp_path: Path) -> None:
    """The detector's series is the negative count: a bucket with mentions but no negative one
    is a bucket of 0 to it, and while it warms up the agent holds it back as `veille detect`
    holds a row of 0 (or no row). Before, the agent held back only a bucket without any mention:
    one negative mention, an hour of positive ones, then ordinary traffic, and the agent fed the
    hour of zeros where `veille detect` started the detector afresh at the traffic, so that
    every score after it differed (found in review, 2026-12-07)."""
    from veille.crisis import BrandMonitor
    from veille.detect import run_detect

    rng = random.Random(5)
    buckets = [(1, 1)] + [(3, 0)] * 12 + [(t, sum(rng.random() < SHARE for _ in range(t)))
                                          for t in (poisson(rng, 10.0) + 1 for _ in range(2 * PER_DAY))]
    m = BrandMonitor("acme")
    for i, (total, negative) in enumerate(buckets):
        start = T0 + i * SIZE
        for k in range(total):
            m.observe(f"{i}-{k}", start + k, k < negative, 1, "slow again" if k < negative else "fine",
                      advance=False)
        m.advance(start)
    m.advance(T0 + len(buckets) * SIZE + 3600)
    agent = {r.start: r.score for r in m.reports}
    series, out = tmp_path / "s.csv", tmp_path / "o.csv"
    series.write_text("timestamp,value\n" + "".join(
        f"{_iso(T0 + i * SIZE)},{negative}\n" for i, (_, negative) in enumerate(buckets)))
    run_detect(series, out)
    with out.open(newline="") as fh:
        offline = [(r["anomaly_score"], int(r["alert"])) for r in csv.DictReader(fh)]
    want = [(f"{agent[T0 + i * SIZE].anomaly_score:.4f}", int(agent[T0 + i * SIZE].alert))
            for i in range(len(buckets))]
    assert [i for i, (a, b) in enumerate(zip(offline, want, strict=True)) if a != b] == []
    assert agent[T0 + 13 * SIZE].warming_up and agent[T0 + 12 * SIZE].anomaly_score == 0.0


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_veille_detect_names_a_bad_bucket_width_setting(tmp_path: Path) -> None:
    from veille.detect import DetectError, bucket_seconds_option

    assert bucket_seconds_option(None, {}) == 300
    assert bucket_seconds_option(None, {"VEILLE_SPIKE_BUCKET_SECONDS": "600"}) == 600
    assert bucket_seconds_option(900, {"VEILLE_SPIKE_BUCKET_SECONDS": "600"}) == 900  # the option
    for bad, match in (("5m", "is not a whole number"), ("0", "from 1 to 86400"),
                       ("86401", "from 1 to 86400")):
        with pytest.raises(DetectError, match=f"VEILLE_SPIKE_BUCKET_SECONDS.*{match}"):
            bucket_seconds_option(None, {"VEILLE_SPIKE_BUCKET_SECONDS": bad})
    series = tmp_path / "s.csv"
    series.write_text("timestamp,value\n2026-01-01T00:00:00Z,1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(PYTHONPATH=str(ROOT), VEILLE_SPIKE_BUCKET_SECONDS="5m")
    done = subprocess.run([sys.executable, "-m", "veille.cli", "detect", str(series), "--out",
                           str(tmp_path / "o.csv")], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "VEILLE_SPIKE_BUCKET_SECONDS='5m'" in done.stderr, done.stderr
