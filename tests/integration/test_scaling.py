"""Two workers sharing the partitions: a join and a clean leave during a stream lose nothing, and
per-brand gauges come only from the worker owning the brand's partition."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from streams.topics import (
    MENTIONS_BY_BRAND,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    brand_partition,
    ensure_topics,
)
from tests.kafka_helpers import read_to_end, wait_committed_to_end
from tests.moderation_helpers import wait_for
from veille.broker import free_port

pytestmark = pytest.mark.integration
#: Brands whose mentions.by_brand partitions (of 4) cover every partition: 0, 1, 2, 3.
BRANDS = ("alpha", "bravo", "delta", "echo")
TEXTS = [f"{b.title()} support is terrible today" for b in BRANDS] + [
    f"Love my new {b.title()} phone" for b in BRANDS] + ["Nothing to do with any brand"]


def watchlist(tmp_path) -> str:
    path = tmp_path / "watchlist.toml"
    path.write_text("".join(f'[[brands]]\nid = "{b}"\nname = "{b.title()}"\n\n' for b in BRANDS))
    return str(path)


@dataclass
class Progress:
    sent: int = 0  # mentions handed to the producer so far


def stream(settings, n: int, rate: float, stop: threading.Event, prefix: str = "s-",
           progress: Progress | None = None) -> None:
    """n mentions at `rate` per second (fewer if stopped), spread over the last two hours of
    event time."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                             linger_ms=5)
    start = datetime.now(UTC) - timedelta(hours=2)
    t0 = time.perf_counter()
    for i in range(n):
        if stop.is_set():
            break
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        m = {"id": f"{prefix}{i}", "source": "test", "platform": "twitter", "author": f"u{i % 97}",
             "text": TEXTS[i % len(TEXTS)],
             "created_at": (start + timedelta(seconds=7200 * i / n)).isoformat()}
        producer.send(settings.topic(MENTIONS_RAW), key=m["id"].encode(),
                      value=json.dumps(m).encode())
        if progress is not None:
            progress.sent = i + 1
    producer.flush(30)
    producer.close()


def owned(worker) -> set[int]:
    """The mentions.by_brand partitions the worker says it owns since its last rebalance."""
    lines = [line for line in worker.log_path.read_text(errors="replace").splitlines()
             if "spikes: owning" in line]
    if not lines:
        return set()
    inside = lines[-1].rsplit("[", 1)[1].rstrip("] \n")
    return {int(p) for p in inside.split(",") if p.strip()}


def gauge_brands(worker, name: str) -> set[str]:
    body = urllib.request.urlopen(worker.metrics_url, timeout=5).read().decode()
    return {line.split('brand="')[1].split('"')[0] for line in body.splitlines()
            if line.startswith(name + "{")}


def test_join_and_clean_leave_lose_nothing_and_gauges_follow_the_owner(
        settings, start_worker, tmp_path):
    # 10-second buckets: the gauges' owner is checked on live buckets within seconds.
    settings = settings.with_(watchlist=watchlist(tmp_path), spike_idle_seconds=5.0,
                              spike_bucket_seconds=10, spike_lateness_seconds=10)
    ensure_topics(settings)
    # The stream runs until stopped, 2,000 mentions after the second worker left (at most
    # `cap`, a minute of it: far more than a join and a leave take).
    cap = 24_000
    stop = threading.Event()
    progress = Progress()
    feeder = threading.Thread(target=stream, args=(settings, cap, 400.0, stop),
                              kwargs={"progress": progress}, daemon=True)
    first = start_worker(settings)
    feeder.start()
    try:
        # The second worker joins once the first is enriching the stream ...
        wait_for(lambda: first.metric("veille_raw_messages_total") > 0, 60,
                 "the first worker enriching the stream")
        second = start_worker(settings.with_(metrics_port=free_port(),
                                             data_dir=str(tmp_path / "state2")))
        # ... takes its share in both groups: raw partitions (the enrichment stage's) and
        # mentions.by_brand ones (the spike agent's) ...
        wait_for(lambda: second.metric("veille_raw_messages_total") > 0, 60,
                 "the second worker enriching raw messages")
        wait_for(lambda: second.metric("veille_reputation_mentions_total") > 0, 60,
                 "the second worker's spike agent counting by-brand records")
        # ... and leaves cleanly while the stream flows, which goes on after it left.
        assert feeder.is_alive(), f"the stream ended before the second worker left ({cap} sent)"
        assert second.stop() == 0
        left_at = progress.sent
        wait_for(lambda: progress.sent >= left_at + 2000 or not feeder.is_alive(), 60,
                 "2,000 more mentions after the leave")
        assert feeder.is_alive(), f"the stream ended before 2,000 more mentions ({cap} sent)"
    finally:
        stop.set()
    feeder.join(60)
    assert not feeder.is_alive(), "the stream's producer did not finish"
    n = progress.sent
    # The remaining worker's committed offsets reach the end of every input topic, handed-back
    # partitions included: mentions.raw (the enrichment stage's group) and mentions.by_brand,
    # which the Faust spike agent reads (with Faust's own bookkeeping they were seen to stall on
    # Tansu). With mentions.raw committed to its end, every enriched record is on the broker (a
    # batch is committed once its outputs are acknowledged): read to its end, it shows any
    # duplicate.
    for topic, group, timeout in ((MENTIONS_RAW, f"{settings.app_id}-enrich", 120),
                                  (MENTIONS_BY_BRAND, settings.app_id, 30)):
        wait_committed_to_end(settings, topic, group, timeout)
    records = read_to_end(settings, MENTIONS_ENRICHED)
    ids = [r.key.decode() for r in records]
    missing = {f"s-{i}" for i in range(n)} - set(ids)
    assert not missing, f"{len(missing)} mentions lost, e.g. {sorted(missing)[:5]}"
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"

    # Two workers again: once the rebalance settled and new mentions closed buckets, each
    # brand's gauges come from one worker only, the one owning its mentions.by_brand partition.
    third = start_worker(settings.with_(metrics_port=free_port(),
                                        data_dir=str(tmp_path / "state3")))
    workers = {"first": first, "third": third}
    expected: dict[str, set[str]] = {}
    owners: dict[str, set[str]] = {}
    deadline = time.monotonic() + 90
    round_ = 0
    while time.monotonic() < deadline:
        round_ += 1
        stream(settings, 300, 1000.0, threading.Event(), prefix=f"r{round_}-")
        time.sleep(2)
        expected = {name: {b for b in BRANDS
                           if brand_partition(b, settings.topic_partitions) in owned(w)}
                    for name, w in workers.items()}
        owners = {name: gauge_brands(w, "veille_reputation_anomaly_score")
                  for name, w in workers.items()}
        if expected["first"] and expected["third"] and owners == expected:
            break
    assert expected["first"] and expected["third"], f"not both owning a brand: {expected}"
    # The join and the leave show in the first worker's rebalance count (start, join, leave,
    # join of the third).
    assert first.metric("veille_rebalances_total") >= 4
    assert owners == expected, f"gauges by worker {owners}, owners {expected}; " + "".join(
        f"\n{name}: " + " ".join(
            line for line in urllib.request.urlopen(w.metrics_url, timeout=5).read().decode()
            .splitlines() if line.startswith("veille_reputation_") and "_total" in line
            and not line.endswith(" 0.0"))
        for name, w in workers.items())
