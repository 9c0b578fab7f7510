"""Crisis scenarios through the real broker: generated traffic in, reputation.alerts out."""

from __future__ import annotations

import json
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.topics import MENTIONS_RAW, REPUTATION_ALERTS, ensure_topics
from tests.conftest import ROOT
from tests.kafka_helpers import produce, read_all
from veille.broker import free_port

pytestmark = pytest.mark.integration
WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
BUCKET = 300
NEG = ["Acme support is terrible, worst experience ever", "Acme network down again, awful",
       "Really disappointed with Acme, refund me now"]
POS = ["Thanks Acme, great service today", "Love my new Acme phone", "Acme support was helpful"]
NEUTRAL = ["Acme opens a new store downtown", "Acme announces its results on Monday"]


def traffic(end: float, hours: float, surge: tuple[float, float] | None = None, seed: int = 5,
            rate: float = 30.0) -> list[tuple[bytes, bytes]]:
    """Acme mentions with a daily rhythm; inside `surge` the negative share goes from about 15 %
    to 80 % while the total volume stays the same."""
    rng = random.Random(seed)
    start = math.floor((end - hours * 3600) / BUCKET) * BUCKET
    out = []
    n = 0
    t = start
    while t < end - BUCKET:
        hour = (t % 86400) / 3600
        lam = rate * (0.5 + 0.5 * math.sin((hour - 9) / 24 * 2 * math.pi) ** 2)
        count = sum(1 for _ in range(int(lam * 3)) if rng.random() < 1 / 3)
        in_surge = surge is not None and surge[0] <= t < surge[1]
        for _ in range(count):
            n += 1
            r = rng.random()
            if r < (0.8 if in_surge else 0.15):
                text = rng.choice(NEG)
            else:
                text = rng.choice(POS if r < 0.7 else NEUTRAL)
            m = {"id": f"c{seed}-{n}", "source": "test", "platform": "twitter",
                 "author": f"u{rng.randrange(10_000)}", "text": text,
                 "created_at": datetime.fromtimestamp(t + rng.random() * BUCKET, UTC).isoformat(),
                 "audience": {"followers": int(rng.paretovariate(1.2) * 20)}}
            out.append((m["id"].encode(), json.dumps(m).encode()))
        t += BUCKET
    return out


def crisis_settings(settings):
    """The test watch list; live buckets close after 20 s of silence instead of 60."""
    return settings.with_(watchlist=WATCHLIST, spike_idle_seconds=20.0)


def alerts(settings, expect: int, settle: float = 4.0, timeout: float = 90.0) -> list[dict]:
    return [json.loads(r.value) for r in read_all(settings, REPUTATION_ALERTS, expect=expect,
                                                    settle=settle, timeout=timeout)]


def story(settings, settle: float = 3.0, timeout: float = 120.0) -> list[dict]:
    """Alert events, read until the last one is a resolution and nothing more came for
    `settle` seconds (or the timeout)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    name = settings.topic(REPUTATION_ALERTS)
    deadline = time.monotonic() + timeout
    while not consumer.partitions_for_topic(name) and time.monotonic() < deadline:
        time.sleep(0.2)
    consumer.assign([TopicPartition(name, p) for p in consumer.partitions_for_topic(name)])
    consumer.seek_to_beginning()
    events: list[dict] = []
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=300)
            for records in batch.values():
                events.extend(json.loads(r.value) for r in records)
                quiet_since = time.monotonic()
            done = events and events[-1]["event"] == "resolved"
            if done and time.monotonic() - quiet_since >= settle:
                break
    finally:
        consumer.close()
    return events


def late_mentions(worker) -> float:
    return worker.metric("veille_reputation_late_mentions_total")


def now_bucket() -> float:
    return math.floor(time.time() / BUCKET) * BUCKET


def test_negative_surge_at_flat_volume_opens_one_alert_within_two_buckets(settings, start_worker):
    settings = crisis_settings(settings)
    ensure_topics(settings)
    end = now_bucket()
    surge = (end - 3 * 3600, end - 2 * 3600)
    worker = start_worker(settings)
    produce(settings, MENTIONS_RAW, traffic(end, hours=12, surge=surge))
    events = story(settings)
    opened = [e for e in events if e["event"] == "opened"]
    assert len(opened) == 1, events
    first = opened[0]
    assert first["brand"] == "acme"
    window_end = datetime.fromisoformat(first["window_end"]).timestamp()
    assert surge[0] < window_end <= surge[0] + 2 * BUCKET, (first, surge)
    assert first["observed_negative"] > first["expected_negative"]
    assert first["top_negative_mentions"] and first["rising_terms"]
    assert [e["event"] for e in events] == ["opened", "escalated", "resolved"], events
    # Read in partition batches, the backlog still lands in the right buckets: none is late.
    assert late_mentions(worker) == 0


def test_steady_traffic_raises_no_alert_and_replay_is_deterministic(settings, start_worker):
    """Two independent pipelines fed the same data give the same alert events."""
    end = now_bucket()
    data = traffic(end, hours=12, surge=(end - 3 * 3600, end - 2 * 3600), seed=9)

    def pipeline(name: str, **changes):
        return crisis_settings(settings).with_(app_id=f"{settings.app_id}-{name}",
                                               topic_prefix=f"{settings.topic_prefix}{name}.",
                                               metrics_port=free_port(), **changes)

    # The three pipelines are independent (topics, consumer groups, workers): they run side by
    # side. The steady one's partitions are quiet after 3 s of silence (not 20): the last
    # buckets of its two days close on the clock without waiting.
    runs = [pipeline("r0"), pipeline("r1")]
    steady = pipeline("steady", spike_idle_seconds=3.0)
    workers = {}
    for s in [*runs, steady]:
        ensure_topics(s)
        workers[s.app_id] = start_worker(s, ready=False)
    for w in workers.values():
        w.wait_ready()
    for s in runs:
        produce(s, MENTIONS_RAW, data)
    produce(steady, MENTIONS_RAW, traffic(end, hours=48, seed=9, rate=10.0))
    with ThreadPoolExecutor(len(runs)) as pool:  # each read waits for its story's end
        stories = list(pool.map(story, runs))
    assert stories[0] == stories[1] and stories[0]
    worker = workers[steady.app_id]
    deadline = time.monotonic() + 90
    # Every bucket of the two days scored (all but the last few, still open) ...
    while worker.metric("veille_reputation_buckets_closed_total") < 48 * 12 - 4:
        assert time.monotonic() < deadline, "the steady days were not all scored"
        time.sleep(0.5)
    # ... and not one alert event.
    assert alerts(steady, expect=0, settle=2.0) == []


def test_restart_mid_crisis_keeps_the_open_alert(settings, start_worker):
    settings = crisis_settings(settings)
    ensure_topics(settings)
    end = now_bucket()
    surge = (end - 3 * 3600, end - 2 * 3600)
    data = traffic(end, hours=12, surge=surge, seed=13)
    cut = next(i for i, (_, v) in enumerate(data)
               if datetime.fromisoformat(json.loads(v)["created_at"]).timestamp() > surge[0] + 1800)
    first = start_worker(settings)
    produce(settings, MENTIONS_RAW, data[:cut])
    before = alerts(settings, expect=1, settle=0.5)  # the opening is all this needs
    assert [e["event"] for e in before][:1] == ["opened"]
    first.stop()
    start_worker(settings)
    produce(settings, MENTIONS_RAW, data[cut:])
    events = story(settings)
    assert sum(e["event"] == "opened" for e in events) == 1, events
    assert {e["alert_id"] for e in events} == {before[0]["alert_id"]}
    assert events[-1]["event"] == "resolved"



def test_a_surge_at_the_live_edge_is_alerted_while_its_bucket_still_fills(settings, start_worker):
    """Early firing: twelve hours of steady history up to the present, then a wave of negative
    mentions dated now. The alert comes while the wave's bucket is still open (it closes 10
    minutes after its end), marked early, and the brand's alert state is up for Prometheus."""
    settings = crisis_settings(settings).with_(spike_early_seconds=1.0)
    ensure_topics(settings)
    end = now_bucket()
    worker = start_worker(settings)
    produce(settings, MENTIONS_RAW, traffic(end, hours=12, seed=21))
    deadline = time.monotonic() + 60
    while worker.metric("veille_reputation_mentions_total", default=0) < 100:
        assert time.monotonic() < deadline, "the history was not counted"
        time.sleep(0.3)
    now = time.time()
    first_t = max(now - 5, math.floor(now / BUCKET) * BUCKET)  # the wave in one bucket
    wave = []
    for i in range(40):
        m = {"id": f"wave-{i}", "source": "test", "platform": "twitter", "author": f"w{i}",
             "text": NEG[i % len(NEG)],
             "created_at": datetime.fromtimestamp(first_t + i * 0.01, UTC).isoformat(),
             "audience": {"followers": 100 + i}}
        wave.append((m["id"].encode(), json.dumps(m).encode()))
    produced = time.time()
    produce(settings, MENTIONS_RAW, wave)
    events = alerts(settings, expect=1, settle=0.5, timeout=60)
    received = time.time()
    print(f"early alert read {received - produced - 0.5:.1f} s after the wave was produced")
    assert [e["event"] for e in events][:1] == ["opened"], events
    first = events[0]
    assert first["early"] is True
    window_end = datetime.fromisoformat(first["window_end"]).timestamp()
    assert window_end == math.floor(first_t / BUCKET) * BUCKET + BUCKET  # the wave's bucket
    # Sent before the bucket's closing: at its end plus the lateness bound.
    assert received < window_end + settings.spike_lateness_seconds
    assert set(first["top_negative_mentions"]) <= {f"wave-{i}" for i in range(40)}
    assert worker.metric("veille_reputation_alert_state") >= 1
    assert worker.metric("veille_reputation_alerts_opened_total") == 1
