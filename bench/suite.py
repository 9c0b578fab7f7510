#!/usr/bin/env python3
"""The whole benchmark suite in one run: every rate with its ratio to raw English VADER.

usage: python bench/suite.py [--n 20000] [--rate 1000] [--seconds 15] [--quick]
                             [--texts real|generated] [--scale-n 60000] [--scale-role enrich|all]

Texts (--texts): `real` (the default) are real tweets, English (Hutto & Gilbert 2014) and French
(DEFT 2017) alternately, from ../shared/data beside the checkout, each given a watched brand's
handle, tag or name (a monitoring feed only delivers texts naming a brand): 41-280 characters,
like the mentions MEASURED.md's reference rates were taken on. `generated` are the demo
generator's mentions (short: median 59 characters, which makes VADER itself twice as fast). The
EN and FR reference rows score the benchmark mentions' own texts, split by corpus (real) or by
detected language (generated).

Rows: raw VADER (EN, the reference: vaderSentiment's own polarity_scores), veille's English scorer
(veille.sentiment.english.VaderAnalyzer: the same scores) and the French scorer; raw aiokafka
transport and a Faust passthrough on the embedded broker (the floor any agent works against); the
enrichment stage's planning step in-process (its work without transport); the same worker doing
only the reference agent's job (VADER on every text, bench/vader_stage.py: how far the stage's own
overhead is from the scoring limit); the enrichment worker (role enrich: the stage alone, as the
issue's target is about the enrichment agent) and a worker of role all (the stage with the spike
and moderation agents in one process), the spike agents alone and the moderation agent alone on
pre-loaded topics (cases per second for the moderation agent: one case per mention routed to
moderation, counted once whatever its categories; rates from the worker's own metrics, polled for
that metric only: a whole
/metrics page costs the worker ~9 ms of CPU); end-to-end latency at a fixed input rate (role all);
one worker vs two workers (--scale-role); worker RSS. One EmbeddedBroker serves every row, each
row on fresh topics (own prefix and app id).
A row that fails is printed as "not measured" with the reason; the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import (  # noqa: E402
    TP,
    Rec,
    cpu_seconds,
    machine,
    mentions,
    print_table,
    rate_of,
    rate_unseen,
    real_mentions,
    rss_mb,
    start_worker,
)
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402
from spike_throughput import wait_count  # noqa: E402

from streams.topics import (  # noqa: E402
    MENTIONS_BY_BRAND,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    MODERATION_QUEUE,
    ensure_topics,
)
from veille.broker import EmbeddedBroker, free_port  # noqa: E402
from veille.demo_run import scrape  # noqa: E402
from veille.settings import Settings  # noqa: E402

#: The Faust passthrough worker, run as `python -c` with the settings in the environment:
#: the app comes from veille.app.create_app so the broker settings are those of the real worker
#: (and uvloop, as the real worker uses it).
PASSTHROUGH = """
import faust, mode.loop
from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW
from veille.app import create_app
from veille.settings import Settings
s = Settings.from_env()
app = create_app(s)
kw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
src, dst = app.topic(s.topic(MENTIONS_RAW), **kw), app.topic(s.topic(MENTIONS_ENRICHED), **kw)

@app.agent(src)
async def forward(stream):
    async for key, value in stream.items():
        await dst.send(key=key, value=value)

mode.loop.use("uvloop")
faust.Worker(app, loglevel="info", quiet=True, override_logging=True).execute_from_commandline()
"""


class Suite:
    def __init__(self, args: argparse.Namespace, broker: EmbeddedBroker, workdir: Path) -> None:
        self.args, self.broker, self.workdir = args, broker, workdir
        self.data = real_mentions(args.n) if args.texts == "real" else mentions(args.n)
        self.scale_data = (real_mentions(args.scale_n) if args.texts == "real"
                           else mentions(args.scale_n))
        self.producer = KafkaProducer(bootstrap_servers=broker.url.replace("kafka://", ""),
                                      linger_ms=5, batch_size=256 * 1024, acks=1)

    def fresh(self, name: str) -> Settings:
        """Settings on fresh topics: own prefix, app id and metrics port."""
        tag = uuid.uuid4().hex[:6]
        s = Settings.from_env({}, broker_url=self.broker.url, app_id=f"suite-{name}-{tag}",
                              topic_prefix=f"{name}{tag}.", metrics_port=free_port())
        ensure_topics(s)
        return s

    def load(self, topic: str, records: list[tuple[bytes, bytes]]) -> None:
        for k, v in records:
            self.producer.send(topic, key=k, value=v)
        self.producer.flush()

    def raw_records(self) -> list[tuple[bytes, bytes]]:
        return [(m["id"].encode(), json.dumps(m).encode()) for m in self.data]

    def stop(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def worker_rate(self, s: Settings, name: str, target: float, workdir: Path | None = None,
                    command: list[str] | None = None) -> tuple[float, float]:
        """Start the worker on pre-loaded topics; (rate of metric `name` to target, RSS MB)."""
        proc = start_worker(s, workdir or self.workdir, command)
        try:
            url = f"http://127.0.0.1:{s.metrics_port}/metrics"
            first, last, first_count = wait_count(url, name, target)
            return (target - first_count) / (last - first), rss_mb(proc.pid)
        finally:
            self.stop(proc)

    # --- rows ----------------------------------------------------------------------------

    def transport(self) -> float:
        """Raw aiokafka: N small records produced and consumed; first send to last receive."""
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

        s = self.fresh("t")
        topic, n = s.topic(MENTIONS_RAW), self.args.n
        payload = json.dumps(self.data[0]).encode()

        async def run() -> float:
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=s.bootstrap_servers,
                                        group_id=None, auto_offset_reset="earliest",
                                        fetch_max_wait_ms=10, max_partition_fetch_bytes=4 << 20)
            producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, linger_ms=5,
                                        max_batch_size=256 * 1024, acks=1,
                                        enable_idempotence=False)
            await consumer.start()
            await producer.start()
            try:
                await consumer.getmany(timeout_ms=200)  # assigned, at the (empty) start
                t0 = time.perf_counter()

                async def produce() -> None:
                    for i in range(n):
                        await producer.send(topic, key=str(i).encode(), value=payload)
                    await producer.flush()

                task = asyncio.create_task(produce())
                got = 0
                deadline = time.monotonic() + 120
                while got < n and time.monotonic() < deadline:
                    for msgs in (await consumer.getmany(timeout_ms=100, max_records=10000)).values():
                        got += len(msgs)
                t1 = time.perf_counter()
                await task
                if got < n:
                    raise RuntimeError(f"only {got}/{n} consumed")
                return n / (t1 - t0)
            finally:
                await producer.stop()
                await consumer.stop()

        return asyncio.run(run())

    def passthrough(self) -> float:
        """Faust agent forwarding raw -> enriched; first to last output seen by a consumer."""
        s = self.fresh("p")
        n = self.args.n
        self.load(s.topic(MENTIONS_RAW), self.raw_records())
        env = dict(os.environ, VEILLE_BROKER_URL=s.broker_url, VEILLE_APP_ID=s.app_id,
                   VEILLE_TOPIC_PREFIX=s.topic_prefix, VEILLE_DATA_DIR=str(self.workdir / "state"),
                   PYTHONPATH=str(ROOT))
        log_path = self.workdir / f"passthrough-{s.app_id}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", PASSTHROUGH], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            c = KafkaConsumer(s.topic(MENTIONS_ENRICHED), bootstrap_servers=s.bootstrap_servers,
                              group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=10,
                              max_partition_fetch_bytes=4 << 20)
            got, first, last = 0, None, None
            deadline = time.monotonic() + 300
            while got < n and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"passthrough died:\n{log_path.read_text()[-2000:]}")
                batch = c.poll(timeout_ms=50, max_records=10000)
                now = time.perf_counter()
                for msgs in batch.values():
                    if first is None:
                        first, first_count = now, len(msgs)
                    got += len(msgs)
                    last = now
            c.close()
            if got < n or first is None or last is None or last <= first:
                raise RuntimeError(f"only {got}/{n} forwarded")
            return (n - first_count) / (last - first)
        finally:
            self.stop(proc)

    def enrichment(self, role: str) -> tuple[float, float]:
        s = self.fresh(f"e{role}").with_(worker_role=role)
        self.load(s.topic(MENTIONS_RAW), self.raw_records())
        return self.worker_rate(s, "veille_raw_messages_total", len(self.data))

    def english_records(self) -> list[tuple[bytes, bytes]]:
        """The mentions whose texts the raw VADER reference scores: the English half (real texts
        alternate English and French; generated ones are all kept)."""
        return self.raw_records()[0::2] if self.args.texts == "real" else self.raw_records()

    def vader_stage(self) -> float:
        """The enrichment worker doing the reference agent's job only (bench/vader_stage.py: no
        language id, no watch rules, no triage) on the reference's English texts."""
        s = self.fresh("v").with_(worker_role="enrich")
        records = self.english_records()
        self.load(s.topic(MENTIONS_RAW), records)
        command = [sys.executable, str(ROOT / "bench" / "vader_stage.py")]
        return self.worker_rate(s, "veille_raw_messages_total", len(records), command=command)[0]

    def enriched_outputs(self) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """In-process enrichment of the data: (moderation items, mentions.by_brand signals as
        the enrichment stage writes them: raw partition of the id, offsets counted per
        partition)."""
        from agents.enrich import Enricher
        from streams.records import Limits, brand_signal
        from streams.topics import brand_partition
        from veille.rules import Watchlist
        from veille.sentiment import Analyzer
        from veille.settings import packaged_watchlist

        enricher = Enricher(Analyzer(), Watchlist.from_toml(packaged_watchlist()), Limits())
        items, signals = [], []
        offsets = [0] * 4
        for k, v in self.raw_records():
            out = enricher.handle(k, v, None)
            if out.enriched is not None and out.enriched.brands:
                source = brand_partition(k.decode(), 4)  # murmur2 of the key, like raw
                value = brand_signal(out.enriched, source, offsets[source])
                offsets[source] += 1
                signals += [(b.encode(), value) for b in out.enriched.brands]
            if out.item is not None:
                items.append((k, json.dumps(out.item).encode()))
        return items, signals

    def stage_in_process(self) -> float:
        """The enrichment stage's planning step without a broker: validation, analysis, watch
        rules, triage, de-duplication, encoding and metrics, in slices of PLAN_SLICE as the stage
        plans them (the ceiling any transport leaves to the worker)."""
        from prometheus_client import CollectorRegistry

        from agents.enrich import PLAN_SLICE, Enricher, Names, Planner
        from streams.records import Limits
        from veille.dedup import DedupWindow
        from veille.metrics import Metrics
        from veille.rules import Watchlist
        from veille.sentiment import Analyzer
        from veille.settings import packaged_watchlist

        watchlist, analyzer = Watchlist.from_toml(packaged_watchlist()), Analyzer()
        metrics = Metrics(CollectorRegistry(), watchlist.brand_ids, analyzer.languages)
        planner = Planner(Enricher(analyzer, watchlist, Limits()), metrics,
                          Names("raw", "enriched", "dlq", "queue", "by_brand"),
                          {0: DedupWindow(86_400, 1_000_000)}, brand_partitions=4)
        from veille.moderation.triage import prepare

        recs = [Rec("raw", 0, i, k, v) for i, (k, v) in enumerate(self.raw_records())]
        # Warmed as a worker is before its first batch (triage's prefilters, built by the stage
        # as it starts) and by a first slice, left out of the rate as the worker rows leave out
        # their first batch: timed from the first one, the rate took 0.6 s of one-time setup
        # (15-18 % too low; found in review, 2026-12-05).
        prepare()
        planner.plan({TP("raw", 0): recs[:PLAN_SLICE]})
        timed = recs[PLAN_SLICE:]
        t0 = time.perf_counter()
        for i in range(0, len(timed), PLAN_SLICE):  # as the stage plans: a slice at a time
            planner.plan({TP("raw", 0): timed[i:i + PLAN_SLICE]})
        return len(timed) / (time.perf_counter() - t0)

    def spikes(self, signals: list[tuple[bytes, bytes]]) -> float:
        """The spike agent alone: signals pre-loaded on mentions.by_brand (keyed by brand)."""
        s = self.fresh("s")
        self.load(s.topic(MENTIONS_BY_BRAND), signals)
        return self.worker_rate(s, "veille_reputation_mentions_total", len(signals))[0]

    def moderation(self, items: list[tuple[bytes, bytes]]) -> tuple[float, int]:
        """Moderation cases pre-loaded on moderation.queue (copies with new case ids up to N):
        (cases received per second, distinct cases of the data).

        One queue record is one case (one mention routed to moderation), whatever its triage
        categories: the rate is of veille_moderation_cases_received_total, counted once per case.
        veille_moderation_items_received_total counts a case once per category (3 for a case of
        3 categories): it reached N before the N-th case and overstated the rate."""
        if not items:
            raise RuntimeError("no mention of the data needed a moderator")
        records: list[tuple[bytes, bytes]] = []
        i = 0
        while len(records) < self.args.n:
            k, v = items[i % len(items)]
            if i >= len(items):  # a copy: a new case id, so the agent does not see a repeat
                case_id = f"{k.decode()}-{i // len(items)}"
                item = dict(json.loads(v), case_id=case_id)
                k, v = case_id.encode(), json.dumps(item).encode()
            records.append((k, v))
            i += 1
        s = self.fresh("m")
        self.load(s.topic(MODERATION_QUEUE), records)
        return self.worker_rate(s, "veille_moderation_cases_received_total", len(records))[0], \
            len(items)

    def latency(self) -> tuple[float, float, int, int]:
        """Send time -> enriched record read, at --rate for --seconds (as enrich_throughput.py)."""
        s = self.fresh("l")
        proc = start_worker(s, self.workdir)
        sent_at: dict[str, float] = {}
        arrived: dict[str, float] = {}
        stop = threading.Event()

        def consume() -> None:
            c = KafkaConsumer(s.topic(MENTIONS_ENRICHED), bootstrap_servers=s.bootstrap_servers,
                              group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=10)
            while not stop.is_set():
                for msgs in c.poll(timeout_ms=50).values():
                    t = time.time()
                    for r in msgs:
                        arrived[r.key.decode()] = t
            c.close()

        thread = threading.Thread(target=consume, daemon=True)
        try:
            thread.start()
            time.sleep(3)  # consumer assigned
            n = int(self.args.rate * self.args.seconds)
            t0 = time.perf_counter()
            for i in range(n):
                delay = t0 + i / self.args.rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                m = dict(self.data[i % len(self.data)], id=f"lat-{i}",
                         created_at=datetime.now(UTC).isoformat())
                sent_at[m["id"]] = time.time()
                self.producer.send(s.topic(MENTIONS_RAW), key=m["id"].encode(),
                                   value=json.dumps(m).encode())
            self.producer.flush()
            deadline = time.monotonic() + 30
            while len(arrived) < n and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(5)
            self.stop(proc)
        lat = sorted(arrived[k] - sent_at[k] for k in list(arrived) if k in sent_at)
        if not lat:
            raise RuntimeError("no enriched record arrived")
        return statistics.median(lat), lat[int(0.99 * (len(lat) - 1))], len(lat), n

    def scaling(self, workers: int, role: str) -> Scaling:
        """Pre-loaded raw mentions (--scale-n), `workers` workers started together (each its own
        metrics port, data dir and log); counts from the sum of their veille_raw_messages_total,
        polled 10 times a second with the workers' and the broker's CPU.

        Two measures over the same run. Whole run: from the first mention read to the last,
        group joins and rebalances included. Steady state: from the poll after the last
        rebalance (veille_rebalances_total stops moving) at which every worker has read, until
        90 % of the mentions are read (before a worker runs out of its partitions' share); this
        is the rate a group sustains, which the one-off join pauses (seconds on the embedded
        broker) would otherwise dilute on a run of seconds. Each comes with the mentions per
        worker CPU-second and the broker's CPU in cores: on a 2-core machine the broker's share
        is what two workers cannot have."""
        s = self.fresh(f"w{workers}").with_(worker_role=role)
        records = [(m["id"].encode(), json.dumps(m).encode()) for m in self.scale_data]
        self.load(s.topic(MENTIONS_RAW), records)
        settings = [s.with_(metrics_port=free_port()) for _ in range(workers)]
        dirs = [self.workdir / f"{s.app_id}-{i}" for i in range(workers)]
        for d in dirs:
            d.mkdir()
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(start_worker, si, d) for si, d in zip(settings, dirs, strict=True)]
            procs = [f.result() for f in futures]
        broker_pid = self.broker.process.pid if self.broker.process else None
        try:
            urls = [f"http://127.0.0.1:{si.metrics_port}/metrics" for si in settings]
            target = len(records)
            polls: list[Poll] = []
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                scraped = [scrape(u, names=("veille_raw_messages_total", "veille_rebalances_total"))
                           for u in urls]
                polls.append(Poll(
                    time.perf_counter(),
                    [d.get(("veille_raw_messages_total", ()), 0.0) for d in scraped],
                    sum(d.get(("veille_rebalances_total", ()), 0.0) for d in scraped),
                    sum(cpu_seconds(p.pid) for p in procs), cpu_seconds(broker_pid)))
                if polls[-1].total >= target:
                    return Scaling.of(polls, target)
                # Every scrape costs the worker CPU: ~0.4 ms for the two counters asked for
                # (a full /metrics page ~9 ms), so 10 per second stays under 0.5 % of a core.
                time.sleep(0.1)
            raise RuntimeError(f"{workers} worker(s) did not enrich {target} in time")
        finally:
            for p in procs:
                self.stop(p)


@dataclass(frozen=True)
class Poll:
    at: float
    counts: list[float]
    rebalances: float
    cpu: float
    broker_cpu: float

    @property
    def total(self) -> float:
        return sum(self.counts)


@dataclass(frozen=True)
class Span:
    """Mentions/s, mentions per worker CPU-second and broker cores between two polls."""

    rate: float
    per_cpu: float
    broker_cores: float
    seconds: float

    @classmethod
    def between(cls, a: Poll, b: Poll) -> Span:
        seconds = b.at - a.at
        done = b.total - a.total
        return cls(done / seconds, done / max(b.cpu - a.cpu, 1e-9),
                   (b.broker_cpu - a.broker_cpu) / seconds, seconds)


@dataclass(frozen=True)
class Scaling:
    whole: Span
    steady: Span | None

    @classmethod
    def of(cls, polls: list[Poll], target: int) -> Scaling:
        first = next(p for p in polls if p.total > 0)
        whole = Span.between(first, polls[-1])
        settled = max(i for i, p in enumerate(polls) if p.rebalances != polls[-1].rebalances) + 1 \
            if any(p.rebalances != polls[-1].rebalances for p in polls) else 0
        start = next((p for p in polls[settled:] if min(p.counts) > 0), None)
        end = next((p for p in polls if p.total >= 0.9 * target), None)
        steady = (Span.between(start, end) if start is not None and end is not None
                  and end.at - start.at >= 1.0 else None)
        return cls(whole, steady)


def attempt(errors: dict[str, str], key: str, fn, *a):  # noqa: ANN001, ANN202
    """fn(*a), or None with the reason kept in errors[key]."""
    try:
        return fn(*a)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failed row must not stop the suite
        if os.environ.get("BENCH_DEBUG"):
            traceback.print_exc()
        first_line = (str(exc).strip().splitlines() or [""])[0][:80]
        errors[key] = f"{type(exc).__name__}: {first_line}"
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="messages per throughput row")
    ap.add_argument("--scale-n", type=int, default=60000,
                    help="pre-loaded mentions of the one vs two workers rows")
    ap.add_argument("--scale-role", choices=("enrich", "all"), default="enrich",
                    help="VEILLE_WORKER_ROLE of the one vs two workers rows (default enrich: the "
                    "enrichment stage alone, which the 1.8x target is about)")
    ap.add_argument("--rate", type=float, default=1000.0, help="input rate of the latency row")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of the latency row")
    ap.add_argument("--quick", action="store_true", help="smoke run: small N, short latency run")
    ap.add_argument("--texts", choices=("real", "generated"), default="real",
                    help="real tweets from ../shared/data (default) or the demo generator's texts")
    args = ap.parse_args()
    if args.quick:
        args.n, args.seconds = min(args.n, 1000), min(args.seconds, 3.0)
        args.scale_n = min(args.scale_n, 5000)
    started = time.perf_counter()

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from veille.sentiment.english import VaderAnalyzer
    from veille.sentiment.french import FrenchScorer
    from veille.sentiment.langid import LanguageDetector

    workdir = Path(tempfile.mkdtemp(prefix="veille-suite-"))
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
    errors: dict[str, str] = {}
    try:
        suite = Suite(args, broker, workdir)
        if args.texts == "real":  # alternately English and French (real_mentions)
            en = [m["text"] for m in suite.data[0:6000:2]]
            fr = [m["text"] for m in suite.data[1:6000:2]]
        else:
            detector = LanguageDetector()
            langs = [detector.detect(m["text"])[0] for m in suite.data[:6000]]
            en = [m["text"] for m, lang in zip(suite.data, langs, strict=False) if lang == "en"][:3000]
            fr = [m["text"] for m, lang in zip(suite.data, langs, strict=False) if lang == "fr"][:3000]
        vader = rate_of(SentimentIntensityAnalyzer().polarity_scores, en)
        ours = rate_of(VaderAnalyzer().polarity_scores, en)
        french, fr_timed, fr_warm = (rate_unseen(lambda: FrenchScorer().polarity_scores, fr)
                                     if fr else (None, 0, 0))
        if not fr:
            errors["fr"] = "no French text among the benchmark mentions"

        transport = attempt(errors, "transport", suite.transport)
        passthrough = attempt(errors, "passthrough", suite.passthrough)
        stage = attempt(errors, "stage", suite.stage_in_process)
        vader_stage = attempt(errors, "vader_stage", suite.vader_stage)
        enrich = attempt(errors, "enrich", suite.enrichment, "enrich")
        enrich_all = attempt(errors, "enrich_all", suite.enrichment, "all")
        items, signals = suite.enriched_outputs()
        matched = len(signals)
        spikes = attempt(errors, "spikes", suite.spikes, signals)
        moderation = attempt(errors, "moderation", suite.moderation, items)
        latency = attempt(errors, "latency", suite.latency)
        one = attempt(errors, "scaling", suite.scaling, 1, args.scale_role)
        two = attempt(errors, "scaling", suite.scaling, 2, args.scale_role) if one else None
        suite.producer.close()
    finally:
        broker.stop()

    def rate_row(name: str, rate: float | None, key: str) -> tuple[str, str, str]:
        if rate is None:
            return name, "not measured", errors.get(key, "")
        return name, f"{rate:,.0f}/s", f"{rate / vader:.2f}"

    n = len(suite.data)
    rows = [
        (f"raw VADER EN polarity_scores, {len(en):,} EN texts (reference)", f"{vader:,.0f}/s",
         "1.00"),
        rate_row(f"veille's VaderAnalyzer (the same scores, faster), same {len(en):,} EN texts",
                 ours, "en"),
        rate_row(f"raw FrenchScorer polarity_scores, {fr_timed:,} FR texts it had not seen "
                 f"(warmed on {fr_warm:,} others)", french, "fr"),
        rate_row(f"raw aiokafka produce+consume, {n:,} records", transport, "transport"),
        rate_row(f"Faust passthrough (create_app, uvloop), {n:,}", passthrough, "passthrough"),
        rate_row(f"enrichment stage in-process (no broker), {n:,} mentions", stage, "stage"),
        rate_row(f"the same worker doing VADER only (no language id, rules, triage), "
                 f"{len(suite.english_records()):,} EN mentions", vader_stage, "vader_stage"),
        rate_row(f"enrichment worker (role enrich: the stage alone), {n:,} mentions",
                 enrich[0] if enrich else None, "enrich"),
        rate_row(f"worker of role all (the stage, spike and moderation agents), {n:,} mentions",
                 enrich_all[0] if enrich_all else None, "enrich_all"),
        rate_row(f"spike agent alone, {matched:,} brand signals on mentions.by_brand", spikes,
                 "spikes"),
        rate_row(f"moderation agent alone, {n:,} cases on moderation.queue"
                 + (f" ({moderation[1]:,} distinct)" if moderation else "")
                 + ", cases/s (once per case, not per category)",
                 moderation[0] if moderation else None, "moderation"),
    ]
    label = f"end-to-end latency at {args.rate:,.0f}/s for {args.seconds:.0f} s"
    if latency:
        p50, p99, arrived, sent = latency
        rows += [(f"{label}, p50", f"{p50 * 1000:,.0f} ms", ""),
                 (f"{label}, p99", f"{p99 * 1000:,.0f} ms", f"{arrived:,}/{sent:,} arrived")]
    else:
        rows.append((f"{label}, p50/p99", "not measured", errors.get("latency", "")))
    m = args.scale_n
    for label, pick in (("whole run, joins included", lambda sc: sc.whole),
                        ("steady state, after the last rebalance", lambda sc: sc.steady)):
        a, b = (pick(one) if one else None), (pick(two) if two else None)
        rows += [rate_row(f"one worker (role {args.scale_role}), {m:,} pre-loaded mentions, "
                          f"{label}",
                          a.rate if a else None, "scaling"),
                 rate_row(f"two workers, same, {label}", b.rate if b else None, "scaling")]
        if a and b:
            rows += [(f"two workers / one worker, {label}", f"{b.rate / a.rate:.2f}",
                      f"over {a.seconds:.1f} / {b.seconds:.1f} s"),
                     ("  mentions per worker CPU-second, one / two workers",
                      f"{a.per_cpu:,.0f} / {b.per_cpu:,.0f}", f"{b.per_cpu / a.per_cpu:.2f}"),
                     ("  broker CPU, one / two workers",
                      f"{a.broker_cores:.2f} / {b.broker_cores:.2f} cores", "of 2 shared")]
    rows.append(("worker RSS after the throughput run, role enrich / all",
                 " / ".join(f"{e[1]:.0f} MB" if e else "not measured" for e in (enrich, enrich_all)),
                 ""))

    print_table(f"veille benchmark suite, {args.texts} texts, "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}, "
                f"run time {time.perf_counter() - started:.0f} s", rows,
                value_header="rate or value", ratio_header="ratio to raw VADER (EN)")


if __name__ == "__main__":
    main()
