#!/usr/bin/env python3
"""Enrichment throughput and latency on one worker, against raw VADER on the same texts (same run).

usage: python bench/enrich_throughput.py [--n 20000] [--rate 500] [--seconds 20]

Prints one table: raw VADER (English analyzer on every text), the full analysis in-process
(language id + EN/FR scorers + watch rules), the enrichment worker through the embedded broker
(mentions/s from its own metrics), and end-to-end latency p50/p99 at a fixed input rate
(from the collector's send to the enriched record reaching a consumer), with the worker's RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, KafkaProducer  # noqa: E402

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics  # noqa: E402
from veille.broker import EmbeddedBroker, free_port  # noqa: E402
from veille.demo import generate  # noqa: E402
from veille.demo_run import scrape  # noqa: E402
from veille.settings import Settings  # noqa: E402


@dataclass(frozen=True)
class TP:
    """The fields of an aiokafka TopicPartition the enrichment stage's Planner reads."""

    topic: str
    partition: int


@dataclass(frozen=True)
class Rec:
    """The fields of an aiokafka ConsumerRecord the Planner reads (in-process benchmarks)."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int = 0


def mentions(n: int) -> list[dict]:
    """n generated mentions, all valid: their created_at are shifted so the newest is now (the
    generator spans days; unshifted, most would be in the future and dead-lettered cheaply)."""
    out = []
    for m in generate(datetime.now(UTC), hours=24 * 7, seed=11,
                      base_rate_per_hour=max(n / 100, 200)):
        out.append(m)
        if len(out) >= n:
            break
    newest = max(datetime.fromisoformat(m["created_at"]) for m in out)
    shift = datetime.now(UTC) - timedelta(seconds=5) - newest
    for m in out:
        m["created_at"] = (datetime.fromisoformat(m["created_at"]) + shift).isoformat()
    return out


SHARED_DATA = ROOT.parent / "shared" / "data"
#: How a real tweet is made a brand mention: the corpora's tweets name no watched brand, and a
#: monitoring feed (search, alerts) only delivers texts that do. Handles, tags and names of both
#: demo brands, before or after the text.
BRAND_FORMS = ("@acme {}", "{} #acme", "@borealcafe {}", "{} @AcmeSupport", "Boréal : {}",
               "Acme Mobile, {}")


def real_texts(data: Path = SHARED_DATA) -> tuple[list[str], list[str]]:
    """Real human-written tweets: English (Hutto & Gilbert 2014, 2,100) and French (DEFT 2017,
    train + val, 2,161), as (english, french); empty lists when ../shared/data is absent."""
    en_file = data / "vader-hutto2014" / "tweets_GroundTruth.dev.txt"
    fr_dir = data / "french-tweets-deft2017"
    if not en_file.exists() or not fr_dir.is_dir():
        return [], []
    en = [line.split("\t", 2)[2].strip() for line in en_file.read_text("utf-8").splitlines()
          if line.count("\t") >= 2]
    fr = [line.strip() for f in ("train_text.txt", "val_text.txt")
          for line in (fr_dir / f).read_text("utf-8").splitlines() if line.strip()]
    return [t for t in en if t], fr


def real_mentions(n: int) -> list[dict]:
    """n valid mentions whose texts are real tweets, English and French alternately, each naming
    a watched brand (BRAND_FORMS); the other fields come from generated mentions."""
    en, fr = real_texts()
    if not en or not fr:
        raise SystemExit(f"real tweets not found under {SHARED_DATA} (vader-hutto2014, "
                         "french-tweets-deft2017); run with --texts generated")
    out = mentions(n)
    for i, m in enumerate(out):
        corpus = en if i % 2 == 0 else fr
        text = corpus[(i // 2) % len(corpus)]
        m["text"] = BRAND_FORMS[(i // 2) % len(BRAND_FORMS)].format(text)
        m["language"] = None
    return out


def rate_unseen(make, texts, repeats: int = 3) -> tuple[float, int, int]:
    """(texts/s, timed, warmed) of a scorer that memoises (FrenchScorer's word and chunk caches)
    on texts it has not seen: each pass a fresh `make()`, warmed on the first third of the
    distinct texts (the vocabulary a running worker has met), then timed once on the others;
    best of `repeats`. rate_of re-scores the same texts, which such a scorer answers from its
    caches: the French rows read twice the rate new mentions get (found in review, 2026-12-05)."""
    distinct = list(dict.fromkeys(texts))
    k = len(distinct) // 3
    warm, timed = distinct[:k], distinct[k:]
    best = float("inf")
    for _ in range(repeats):
        score = make()
        for t in warm:
            score(t)
        t0 = time.perf_counter()
        for t in timed:
            score(t)
        best = min(best, time.perf_counter() - t0)
    return len(timed) / best, len(timed), len(warm)


def rate_of(fn, items, min_seconds: float = 2.0) -> float:
    done, t0 = 0, time.perf_counter()
    while True:
        for x in items:
            fn(x)
        done += len(items)
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return done / dt


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat); nan without a pid."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


#: A worker's log line once it runs: Faust's for roles all and agents, its own for role enrich.
READY = re.compile(rb"Worker\]: Ready|veille worker(?: \(enrich\))?: Ready")


def start_worker(settings: Settings, workdir: Path,
                 command: list[str] | None = None) -> subprocess.Popen:
    """Start `veille worker` (or `command`) with the settings in its environment; returns once
    it is Ready."""
    env = dict(os.environ, VEILLE_BROKER_URL=settings.broker_url, VEILLE_APP_ID=settings.app_id,
               VEILLE_TOPIC_PREFIX=settings.topic_prefix, VEILLE_METRICS_PORT=str(settings.metrics_port),
               VEILLE_DATA_DIR=str(workdir / "state"), VEILLE_LOG_LEVEL="INFO",
               VEILLE_WORKER_ROLE=settings.worker_role)
    log = open(workdir / f"worker-{settings.app_id}.log", "wb")
    proc = subprocess.Popen(command or [sys.executable, "-m", "veille.cli", "worker"], env=env,
                            stdout=log,
                            stderr=subprocess.STDOUT, cwd=workdir)
    path = workdir / f"worker-{settings.app_id}.log"
    deadline = time.monotonic() + 60
    while not READY.search(path.read_bytes()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"worker did not start:\n{path.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def metric(url: str, name: str) -> float:
    """One metric's value summed over its labels; the exporter renders that metric only (a full
    /metrics page costs the worker ~9 ms of CPU, which polling would take from the run)."""
    try:
        return sum(v for (n, _), v in scrape(url, names=(name,)).items() if n == name)
    except OSError:
        return 0.0


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(title: str, rows: list[tuple[str, str, str]],
                value_header: str = "value", ratio_header: str = "ratio to raw VADER") -> None:
    """Print a title line and a markdown table of (measure, value, ratio) rows."""
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in
         enumerate(("measure", value_header, ratio_header))]
    print(f"\n{title}")
    print(f"| {'measure':<{w[0]}} | {value_header:>{w[1]}} | {ratio_header:>{w[2]}} |")
    print(f"|{'-' * (w[0] + 2)}|{'-' * (w[1] + 2)}|{'-' * (w[2] + 2)}|")
    for name, value, ratio in rows:
        print(f"| {name:<{w[0]}} | {value:>{w[1]}} | {ratio:>{w[2]}} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="mentions for the throughput run")
    ap.add_argument("--rate", type=float, default=500.0, help="input rate of the latency run")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    args = ap.parse_args()

    data = mentions(args.n)
    texts = [m["text"] for m in data]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from veille.rules import Watchlist
    from veille.sentiment import Analyzer
    from veille.settings import packaged_watchlist

    vader = SentimentIntensityAnalyzer()
    analyzer = Analyzer()
    watchlist = Watchlist.from_toml(packaged_watchlist())
    sample = texts[:3000]
    raw_vader = rate_of(vader.polarity_scores, sample)
    full = rate_of(lambda t: (analyzer.analyse(t), watchlist.match(t)), sample)

    workdir = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
    rows = []
    try:
        tag = uuid.uuid4().hex[:6]
        s = Settings.from_env({}, broker_url=broker.url, app_id=f"bench-{tag}",
                              topic_prefix=f"b{tag}.", metrics_port=free_port())
        ensure_topics(s)
        producer = KafkaProducer(bootstrap_servers=s.bootstrap_servers, linger_ms=5,
                                 batch_size=256 * 1024, acks=1)
        for m in data:
            producer.send(s.topic(MENTIONS_RAW), key=m["id"].encode(), value=json.dumps(m).encode())
        producer.flush()
        url = f"http://127.0.0.1:{s.metrics_port}/metrics"
        worker = start_worker(s, workdir)
        first = last = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            count = metric(url, "veille_raw_messages_total")
            now = time.perf_counter()
            if count > 0 and first is None:
                first, first_count = now, count
            if count >= len(data):
                last = now
                break
            time.sleep(0.05)
        if first is None or last is None or last <= first:
            raise SystemExit("worker did not process the load in time")
        worker_rate = (len(data) - first_count) / (last - first)
        worker_rss = rss_mb(worker.pid)
        worker.terminate()
        worker.wait(30)

        # Latency at a fixed input rate: send time -> enriched record read by a consumer.
        tag = uuid.uuid4().hex[:6]
        s2 = s.with_(app_id=f"bench-lat-{tag}", topic_prefix=f"l{tag}.", metrics_port=free_port())
        ensure_topics(s2)
        worker = start_worker(s2, workdir)
        sent_at: dict[str, float] = {}
        arrived: dict[str, float] = {}
        stop = threading.Event()

        def consume() -> None:
            c = KafkaConsumer(s2.topic(MENTIONS_ENRICHED), bootstrap_servers=s2.bootstrap_servers,
                              group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=10)
            while not stop.is_set():
                for msgs in c.poll(timeout_ms=50).values():
                    t = time.time()
                    for r in msgs:
                        arrived[r.key.decode()] = t
            c.close()

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        time.sleep(3)  # consumer assigned
        n = int(args.rate * args.seconds)
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            m = dict(data[i % len(data)], id=f"lat-{i}",
                     created_at=datetime.now(UTC).isoformat())
            sent_at[m["id"]] = time.time()
            producer.send(s2.topic(MENTIONS_RAW), key=m["id"].encode(), value=json.dumps(m).encode())
        producer.flush()
        deadline = time.monotonic() + 30
        while len(arrived) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        lat_rss = rss_mb(worker.pid)
        worker.terminate()
        worker.wait(30)
        series = [arrived[f"lat-{i}"] - sent_at[f"lat-{i}"] for i in range(n) if f"lat-{i}" in arrived]
        if os.environ.get("BENCH_DEBUG"):
            print("latency by tenth of the run (ms):",
                  [round(1000 * series[j]) for j in range(0, len(series), max(1, len(series) // 10))])
        lat = sorted(series)
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[int(0.99 * (len(lat) - 1))] if lat else float("nan")
        producer.close()
    finally:
        broker.stop()

    rows = [
        ("raw VADER polarity_scores (reference)", f"{raw_vader:,.0f}/s", "1.00"),
        ("analysis in-process (langid + EN/FR + rules)", f"{full:,.0f}/s", f"{full / raw_vader:.2f}"),
        (f"enrichment worker, {len(data):,} mentions", f"{worker_rate:,.0f}/s",
         f"{worker_rate / raw_vader:.2f}"),
        (f"end-to-end latency at {args.rate:.0f}/s, p50", f"{p50 * 1000:.0f} ms", ""),
        (f"end-to-end latency at {args.rate:.0f}/s, p99", f"{p99 * 1000:.0f} ms",
         f"{len(lat)}/{n} arrived"),
        ("worker RSS after throughput run / latency run", f"{worker_rss:.0f} / {lat_rss:.0f} MB", ""),
    ]
    print_table(f"veille enrichment benchmark, {datetime.now(UTC):%Y-%m-%d}, {machine()}", rows)


if __name__ == "__main__":
    main()
