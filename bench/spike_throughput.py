#!/usr/bin/env python3
"""Does the spike agent keep up with the enrichment agent? Rates measured in one run.

usage: python bench/spike_throughput.py [--n 20000]

Prints one table, each rate with its ratio to raw VADER scoring of the same texts:
  * raw VADER polarity_scores (the reference) and the per-brand monitor in-process
    (BrandMonitor.observe: buckets, terms, detector on each close);
  * the spike agent alone through the embedded broker: the mentions.by_brand signals the
    enrichment stage would write (one per brand match), counted by the spike agent
    (veille_reputation_mentions_total);
  * the whole worker from mentions.raw: the enrichment rate, and how long after the last
    mention was enriched the spike agent had counted it too (its lag at the end).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import (  # noqa: E402
    machine,
    mentions,
    metric,
    print_table,
    rate_of,
    rss_mb,
    start_worker,
)
from kafka import KafkaProducer  # noqa: E402

from streams.records import Limits  # noqa: E402
from streams.topics import MENTIONS_BY_BRAND, MENTIONS_RAW, ensure_topics  # noqa: E402
from veille.broker import EmbeddedBroker, free_port  # noqa: E402
from veille.settings import Settings, packaged_watchlist  # noqa: E402


def wait_count(url: str, name: str, target: float, timeout: float = 600) -> tuple[float, float, float]:
    """(first time the metric moved, time it reached target, count at first) in perf_counter s."""
    first = first_count = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = metric(url, name)
        now = time.perf_counter()
        if count > 0 and first is None:
            first, first_count = now, count
        if count >= target:
            assert first is not None and first_count is not None
            return first, now, first_count
        time.sleep(0.02)
    raise SystemExit(f"{name} did not reach {target} in {timeout} s (at {metric(url, name)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="mentions per run")
    args = ap.parse_args()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from agents.enrich import Enricher
    from streams.records import brand_signal
    from streams.topics import brand_partition
    from veille.crisis import BrandMonitor
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer

    data = mentions(args.n)
    watchlist = Watchlist.from_toml(packaged_watchlist())
    enricher = Enricher(Analyzer(), watchlist, Limits())
    signals: list[tuple[str, dict]] = []
    offsets = [0] * 4
    for m in data:
        out = enricher.handle(m["id"].encode(), json.dumps(m).encode(), None)
        if out.enriched is not None and out.enriched.brands:
            source = brand_partition(m["id"], 4)  # the raw partition of the id (murmur2)
            value = json.loads(brand_signal(out.enriched, source, offsets[source]))
            offsets[source] += 1
            signals += [(b, value) for b in out.enriched.brands]
    matched = len(signals)

    vader = SentimentIntensityAnalyzer()
    raw_vader = rate_of(vader.polarity_scores, [m["text"] for m in data[:3000]])
    ordered = sorted(signals, key=lambda x: x[1]["t"])
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:  # fresh monitors each pass: nothing is "late"
        monitors: dict[str, BrandMonitor] = {}
        for brand, sig in ordered:
            monitor = monitors.get(brand) or monitors.setdefault(brand, BrandMonitor(brand))
            monitor.observe(sig["id"], sig["t"], sig["neg"], sig["aud"], sig["text"])
        done += len(ordered)
    in_process = done / (time.perf_counter() - t0)

    workdir = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
    try:
        producer = KafkaProducer(bootstrap_servers=broker.url.replace("kafka://", ""),
                                 linger_ms=5, batch_size=256 * 1024, acks=1)

        # 1. The spike agent alone: mentions.by_brand signals in, counted per brand.
        tag = uuid.uuid4().hex[:6]
        s = Settings.from_env({}, broker_url=broker.url, app_id=f"bench-s{tag}",
                              topic_prefix=f"s{tag}.", metrics_port=free_port())
        ensure_topics(s)
        for brand, sig in signals:
            producer.send(s.topic(MENTIONS_BY_BRAND), key=brand.encode(),
                          value=json.dumps(sig).encode())
        producer.flush()
        url = f"http://127.0.0.1:{s.metrics_port}/metrics"
        worker = start_worker(s, workdir)
        first, last, first_count = wait_count(url, "veille_reputation_mentions_total", matched)
        spike_rate = (matched - first_count) / (last - first)
        spike_rss = rss_mb(worker.pid)
        worker.terminate()
        worker.wait(30)

        # 2. The whole worker from mentions.raw: does counting trail enrichment?
        tag = uuid.uuid4().hex[:6]
        s2 = s.with_(app_id=f"bench-w{tag}", topic_prefix=f"w{tag}.", metrics_port=free_port())
        ensure_topics(s2)
        for m in data:
            producer.send(s2.topic(MENTIONS_RAW), key=m["id"].encode(),
                          value=json.dumps(m).encode())
        producer.flush()
        url2 = f"http://127.0.0.1:{s2.metrics_port}/metrics"
        worker = start_worker(s2, workdir)
        e_first, e_last, e_first_count = wait_count(url2, "veille_raw_messages_total", len(data))
        _, s_last, _ = wait_count(url2, "veille_reputation_mentions_total", matched)
        enrich_rate = (len(data) - e_first_count) / (e_last - e_first)
        lag = max(0.0, s_last - e_last)
        whole_rss = rss_mb(worker.pid)
        worker.terminate()
        worker.wait(30)
        producer.close()
    finally:
        broker.stop()

    rows = [
        ("raw VADER polarity_scores (reference)", f"{raw_vader:,.0f}/s", "1.00"),
        ("brand monitor in-process (per brand match)", f"{in_process:,.0f}/s",
         f"{in_process / raw_vader:.2f}"),
        (f"spike agent alone, {matched:,} brand signals", f"{spike_rate:,.0f}/s",
         f"{spike_rate / raw_vader:.2f}"),
        (f"whole worker: enrichment, {len(data):,} mentions", f"{enrich_rate:,.0f}/s",
         f"{enrich_rate / raw_vader:.2f}"),
        ("whole worker: spike count done after enrichment", f"+{lag:.2f} s", ""),
        ("worker RSS: spike run / whole run", f"{spike_rss:.0f} / {whole_rss:.0f} MB", ""),
    ]
    print_table(f"veille spike agent benchmark, {datetime.now(UTC):%Y-%m-%d}, {machine()}", rows)


if __name__ == "__main__":
    main()
