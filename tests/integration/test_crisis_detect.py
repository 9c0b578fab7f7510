"""`veille detect` runs the spike agent's detector: one generated series of negative counts,
scored offline by the CLI and live by a real worker through the real broker, bucket by bucket.

Its own file: the crisis scenarios are the suite's longest, and pytest-xdist spreads files."""

from __future__ import annotations

import csv
import json
import math
import random
import time
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer

from streams.topics import MENTIONS_RAW, REPUTATION_ALERTS, ensure_topics
from tests.cli_helpers import as_operator
from tests.conftest import scrape_page
from tests.integration.test_crisis import NEG, POS, WATCHLIST
from tests.kafka_helpers import read_all
from tests.unit.test_spikes import poisson

pytestmark = pytest.mark.integration
#: 15-minute buckets, not the default 5: 78 hours are 312 buckets, and `veille detect` must
#: follow the workers' VEILLE_SPIKE_BUCKET_SECONDS as the agent does.
BUCKET = 900
BUCKETS = 78 * 4
#: Buckets sent at a time (3 hours).
CHUNK = 12
#: Negative mentions in a bucket, on average over the day.
MEAN = 6.0
#: The surge: this many buckets (2 hours) at this many times the usual negative count.
SURGE_BUCKETS, SURGE_FACTOR = 8, 6.0


def surge_start(first: int) -> int:
    """The surge's first bucket: 14:00 UTC, at least 44 hours into the series (its first day
    is the detector's warm-up), so at most 68 hours: 10 hours before its end, for the story
    to resolve."""
    day = (first + 44 * 3600) // 86400 * 86400
    return day + 14 * 3600 if day + 14 * 3600 >= first + 44 * 3600 else day + 38 * 3600


def negative_counts(first: int, n: int, seed: int = 3) -> list[tuple[int, int]]:
    """(bucket start, negative mentions) of `n` buckets from `first`: Poisson counts around
    MEAN a bucket with a daily rhythm (quiet nights, busy afternoons, UTC) and the surge."""
    rng = random.Random(seed)
    surge = surge_start(first)
    out = []
    for i in range(n):
        start = first + i * BUCKET
        hour = (start % 86400) / 3600
        lam = MEAN * (1.0 + 0.6 * math.sin(2 * math.pi * hour / 24 - math.pi / 2))
        if surge <= start < surge + SURGE_BUCKETS * BUCKET:
            lam *= SURGE_FACTOR
        out.append((start, poisson(rng, lam)))
    return out


def mentions(series: list[tuple[int, int]], seed: int = 4) -> list[tuple[bytes, bytes]]:
    """Raw Acme mentions: each bucket's negative ones and as many positive ones, so that the
    negative share is one half in every bucket and the share test stays silent: every story is
    the count detector's. In event-time order."""
    rng = random.Random(seed)
    out = []
    for start, k in series:
        times = sorted(start + rng.random() * BUCKET for _ in range(2 * k))
        kinds = [True] * k + [False] * k
        rng.shuffle(kinds)
        for j, (t, negative) in enumerate(zip(times, kinds, strict=True)):
            m = {"id": f"d{start}-{j}", "source": "test", "platform": "twitter",
                 "author": f"u{rng.randrange(10_000)}", "text": rng.choice(NEG if negative else POS),
                 "created_at": datetime.fromtimestamp(t, UTC).isoformat(),
                 "audience": {"followers": rng.randrange(1, 5000)}}
            out.append((m["id"].encode(), json.dumps(m).encode()))
    return out


def acme_gauges(worker) -> tuple[int, float, float] | None:
    """(buckets closed, anomaly score, negative observed) of Acme as the worker exports them:
    those of the last bucket it closed. Two scrapes that agree, so that a bucket closing during
    one (its count up, its gauges not yet set) is not taken; None before the first bucket."""
    acme = frozenset({("brand", "acme")})
    names = ("veille_reputation_buckets_closed_total", "veille_reputation_anomaly_score",
             "veille_reputation_negative_observed")
    while True:
        pages = [scrape_page(worker.metrics_url) for _ in range(2)]
        first, second = ([page.get((name, acme)) for name in names] for page in pages)
        if first == second:
            if None in first or not first[0]:
                return None
            return int(first[0]), first[1], first[2]


def test_veille_detect_scores_each_bucket_as_the_spike_agent_does(settings, start_worker, tmp_path):
    """The same per-bucket negative counts, written as the CSV `veille detect` reads and sent as
    mentions through a worker: the score of every alert event's bucket is the CSV's at that
    timestamp, the first bucket the CLI alerts is in the agent's first story, and every story
    holds a bucket the CLI alerts."""
    settings = settings.with_(watchlist=WATCHLIST, spike_bucket_seconds=BUCKET, spike_idle_seconds=3.0)
    ensure_topics(settings)
    worker = start_worker(settings, ready=False)
    end = math.floor(time.time() / BUCKET) * BUCKET  # the series ends at the present
    series = negative_counts(end - BUCKETS * BUCKET, BUCKETS)
    # Offline: the CLI an operator runs, with the workers' environment (VEILLE_...).
    src, out = tmp_path / "series.csv", tmp_path / "scored.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        w.writerows((datetime.fromtimestamp(t, UTC).isoformat(), v) for t, v in series)
    done = as_operator(settings, "detect", str(src), "--out", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["value"]) for r in rows] == [v for _, v in series]
    offline = {t: float(r["anomaly_score"]) for (t, _), r in zip(series, rows, strict=True)}
    offline_alerts = [t for (t, _), r in zip(series, rows, strict=True) if r["alert"] == "1"]
    assert offline_alerts and offline_alerts[0] >= surge_start(series[0][0]), offline_alerts

    # Live: the same buckets as mentions, through the enrichment stage to the spike agent, three
    # hours at a time; after each, the gauges of the last bucket the worker closed (it closes
    # hundreds at once when given them at once, and exports the last one's only).
    worker.wait_ready()
    first = next(i for i, (_, v) in enumerate(series) if v)  # the agent's first bucket
    gauges: dict[int, tuple[float, float]] = {}
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5)
    try:
        for chunk in range(0, len(series), CHUNK):
            for key, value in mentions(series[chunk:chunk + CHUNK]):
                producer.send(settings.topic(MENTIONS_RAW), key=key, value=value)
            producer.flush(30)
            # Closed: at least the buckets before this chunk (unless one of the 4 partitions
            # got none of its fifty-odd mentions or more: about 1e-7).
            least = chunk - first
            deadline = time.monotonic() + 30
            while (got := acme_gauges(worker)) is None or got[0] < least:
                assert time.monotonic() < deadline, f"{got} buckets closed:\n{worker.log()}"
                time.sleep(0.02)
            gauges[got[0]] = got[1:]
    finally:
        producer.close()
    deadline = time.monotonic() + 30
    # Every bucket but the last closed (that one waits out the lateness bound on the clock).
    while (got := acme_gauges(worker)) is None or got[0] < len(series) - first - 1:
        assert time.monotonic() < deadline, f"{got} buckets closed:\n{worker.log()}"
        time.sleep(0.05)
    gauges[got[0]] = got[1:]
    events = [json.loads(r.value) for r in read_all(settings, REPUTATION_ALERTS, expect=1, settle=1.0)]
    assert events and all(e["brand"] == "acme" and not e.get("early") for e in events), events
    # Each event's bucket: the agent counted the series' negative mentions (the classifier
    # read the texts as meant), and its score is the CLI's at that timestamp.
    counts = dict(series)
    for e in events:
        bucket = int(datetime.fromisoformat(e["window_end"]).timestamp()) - BUCKET
        assert e["observed_negative"] == counts[bucket] and e["negative_share"] == 0.5, e
        assert e["anomaly_score"] == offline[bucket], (e, offline[bucket])
    # The stories: the first holds the CLI's first alert; none without an alert of the CLI.
    stories: dict[str, tuple[int, int]] = {}
    for e in events:
        start = int(datetime.fromisoformat(e["window_start"]).timestamp())
        stories[e["alert_id"]] = (start, int(datetime.fromisoformat(e["window_end"]).timestamp()))
    windows = list(stories.values())
    assert windows[0][0] <= offline_alerts[0] < windows[0][1], (windows, offline_alerts)
    for lo, hi in windows:
        assert any(lo <= t < hi for t in offline_alerts), (windows, offline_alerts)
    assert [e["event"] for e in events][-1] == "resolved", events
    # The gauges: each bucket's score and count, the CLI's.
    for closed, (score, observed) in sorted(gauges.items()):
        bucket, count = series[first + closed - 1]
        assert (round(score, 4), observed) == (offline[bucket], count), (closed, score, observed)
    print(f"{len(events)} alert events and {len(gauges)} buckets' gauges compared")
    assert len(gauges) >= 15, sorted(gauges)
