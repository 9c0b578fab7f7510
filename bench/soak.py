#!/usr/bin/env python3
"""Memory soak: one worker at a steady input rate for a long time; is its resident memory flat?

usage: python bench/soak.py [--minutes 60] [--rate 300] [--sample 30] [--csv soak.csv]
                            [--dup-share 0.01] [--no-moderation] [--flat-mb-per-hour 5]
                            [--linger-ms 500] [--env KEY=VALUE ...]

Issue 7: "resident memory flat over a one-hour soak at a steady rate (bounded state:
de-duplication and windows expire)". One EmbeddedBroker and one real `veille worker` (enrichment,
spike and moderation agents); this process produces mentions to mentions.raw at --rate per second
for --minutes: texts and fields from the demo generator, a fresh unique id per mention and
created_at = now (valid, and in the spike agent's live buckets), plus --dup-share re-sends of a
recent mention (same key and bytes) to exercise de-duplication.

Every --sample seconds one sample: elapsed minutes, messages sent, the worker's counters from its
/metrics (veille_raw_messages_total = read; enriched = veille_pipeline_latency_seconds_count
{since="received"}, observed once per enriched mention, as veille_mentions_enriched_total counts
a mention once per brand; duplicates dropped; dead letters; pending moderation cases;
spike mentions counted and late), worker RSS, broker RSS, and lag = acknowledged - read (messages
the broker holds that the worker has not read yet; "sent - enriched" would never reach 0, as
dropped duplicates are not enriched). Until 2026-12-05 the lag was sent - read, which counted the
load generator's own producer buffer (up to --linger-ms of sends: about 150 at 300/s with 500 ms)
as the worker's. The broker's RSS is reported apart: Tansu's memory storage never deletes a record, so
it grows by design; so is its CPU since the previous sample (cores), which shows the embedded
broker wearing down before the worker does, if it does.

At the end: a table (first sample, one row per ~5 minutes, last sample), then worker RSS at
10 minutes and at the end, the least-squares slope of worker RSS over the second half of the run
in MB/hour, max lag, and a verdict: "flat" when that slope is below --flat-mb-per-hour, else
"growing".

Why 5 MB/hour: at 300 mentions/s an hour is 1.08 million unique ids. State kept per mention
costs at least ~100 bytes in CPython (a bytes key of ~30 characters is ~65 B, a float 24 B, a dict
slot more), so any unbounded per-mention state shows as >= ~100 MB/hour: 20 times the threshold.
5 MB/hour is under 5 bytes per mention, and above the jitter of a worker whose state is bounded
(allocator arenas, Kafka fetch buffers, GC timing: a few MB either way). The summary also gives
the slope in bytes per mention sent, which does not depend on the rate. The second half is used
because the first minutes hold warm-up (imports done lazily, buffers, tables reaching their
bound); a verdict needs a run of 20-30 minutes at least (--minutes 2 is a smoke test).

Moderation cases are state too: about one mention in seven of the generator's opens a case,
kept pending until a moderator decides and 30 days after (agents/moderation.py), so they grow
over any soak by design; "mod. pending" shows them. --no-moderation sends only texts that open no
case, which isolates the state issue 7 names (de-duplication and windows).

--env KEY=VALUE (repeatable) adds a variable to the worker's environment (and, for VEILLE_*
settings, to the settings this script creates the topics with), e.g. a de-duplication bound.
Tansu's memory storage costs about 6 KB per mention (all topics and changelogs): a one-hour run
at 300/s takes ~6.5 GB; the run warns up front when that is over half the host's MemAvailable,
and stops early (samples kept, verdict noted) when MemAvailable falls under --min-available-mb.
Ctrl-C (or SIGTERM) stops the run: the samples so far are printed, worker and broker stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import (  # noqa: E402
    cpu_seconds,
    machine,
    mentions,
    print_table,
    rss_mb,
    start_worker,
)
from kafka import KafkaProducer  # noqa: E402

from streams.topics import MENTIONS_RAW, ensure_topics  # noqa: E402
from veille.broker import EmbeddedBroker, free_port  # noqa: E402
from veille.demo_run import scrape  # noqa: E402
from veille.settings import ENV_PREFIX, Settings  # noqa: E402

#: Variables start_worker sets itself (its own values would win over --env).
RESERVED = {ENV_PREFIX + n for n in ("BROKER_URL", "APP_ID", "TOPIC_PREFIX", "METRICS_PORT",
                                     "DATA_DIR", "LOG_LEVEL")}
#: Recent mentions a duplicate is drawn from.
RECENT = 2000
#: Broker memory per mention sent, bytes: Tansu's memory storage keeps every record of every topic
#: (raw, enriched, by_brand, moderation queue, table changelogs). Measured: 3 min at 200/s.
BROKER_BYTES_PER_MENTION = 6000
#: Longest the end-of-run drain waits for the worker to read what was sent, seconds.
DRAIN_SECONDS = 60.0


@dataclass
class Sample:
    elapsed_min: float
    sent: int
    dups_sent: int
    read: float
    enriched: float
    duplicates_dropped: float
    dead_letters: float
    lag: float
    worker_rss_mb: float
    broker_rss_mb: float
    broker_cores: float
    moderation_pending: float
    spike_mentions: float
    spike_late: float
    dedup_ids: float


def worker_counters(url: str) -> dict[str, float]:
    """The worker's counters this soak reads, from one scrape of its /metrics."""
    samples = scrape(url)

    def total(name: str) -> float:
        return sum(v for (n, _), v in samples.items() if n == name)

    return {
        "read": total("veille_raw_messages_total"),
        "enriched": samples.get(("veille_pipeline_latency_seconds_count", (("since", "received"),)),
                                0.0),
        "duplicates_dropped": total("veille_duplicates_dropped_total"),
        "dead_letters": total("veille_dead_letters_total"),
        "moderation_pending": total("veille_moderation_backlog_items"),
        "spike_mentions": total("veille_reputation_mentions_total"),
        "spike_late": total("veille_reputation_late_mentions_total"),
        "dedup_ids": total("veille_dedup_window_ids"),
    }


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def proc_rss(pid: int | None) -> float:
    try:
        return rss_mb(pid) if pid is not None else float("nan")
    except OSError:  # the process is gone
        return float("nan")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minutes, MB) points, in MB/hour; nan under 3 points."""
    pts = [(x, y) for x, y in points if y == y]  # drop nan
    if len(pts) < 3:
        return float("nan")
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return float("nan")
    return 60 * sum((x - mx) * (y - my) for x, y in pts) / sxx


def table_rows(samples: list[Sample], every_min: float) -> list[Sample]:
    """First sample, the first one at or after each multiple of every_min, last sample."""
    if not samples:
        return []
    rows, mark = [samples[0]], every_min
    for s in samples[1:-1]:
        if s.elapsed_min >= mark - 0.02 * every_min:  # elapsed times are rounded
            rows.append(s)
            while mark <= s.elapsed_min + 0.02 * every_min:
                mark += every_min
    if len(samples) > 1:
        rows.append(samples[-1])
    return rows


def mmss(minutes: float) -> str:
    seconds = round(minutes * 60)
    return f"{seconds // 60}:{seconds % 60:02d}"


def print_samples(rows: list[Sample]) -> None:
    head = ("elapsed", "sent", "read", "enriched", "dups dropped", "lag", "worker RSS MB",
            "broker RSS MB", "broker cores", "mod. pending", "spike late", "dedup ids")
    cells = [(mmss(s.elapsed_min), f"{s.sent:,}", f"{s.read:,.0f}", f"{s.enriched:,.0f}",
              f"{s.duplicates_dropped:,.0f}", f"{s.lag:,.0f}", f"{s.worker_rss_mb:.1f}",
              f"{s.broker_rss_mb:.1f}", f"{s.broker_cores:.2f}", f"{s.moderation_pending:,.0f}",
              f"{s.spike_late:,.0f}",
              f"{s.dedup_ids:,.0f}")
             for s in rows]
    w = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    print("| " + " | ".join(f"{h:>{w[i]}}" for i, h in enumerate(head)) + " |")
    print("|" + "|".join("-" * (x + 1) + ":" for x in w) + "|")
    for c in cells:
        print("| " + " | ".join(f"{v:>{w[i]}}" for i, v in enumerate(c)) + " |")


def parse_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    known = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env {pair!r}: expected KEY=VALUE")
        if key in RESERVED:
            raise SystemExit(f"--env {key}: set by the soak itself ({', '.join(sorted(RESERVED))})")
        if key.startswith(ENV_PREFIX) and key not in known:
            print(f"note: {key} is not a setting of this checkout (veille/settings.py); "
                  "the worker will ignore it", file=sys.stderr)
        env[key] = value
    return env


class Feed:
    """Mentions at a steady rate: generator texts, fresh unique ids, created_at = now,
    and a share of re-sends of recent mentions (same key, same bytes)."""

    def __init__(self, producer: KafkaProducer, topic: str, dup_share: float,
                 templates: list[dict[str, Any]], seed: int = 7) -> None:
        self.producer, self.topic, self.dup_share = producer, topic, dup_share
        self.templates = templates
        self.rng = random.Random(seed)
        self.tag = uuid.uuid4().hex[:8]
        self.recent: deque[tuple[bytes, bytes]] = deque(maxlen=RECENT)
        self.sent = self.dups = self.unique = self.errors = self.acked = 0

    def _error(self, _exc: BaseException) -> None:
        self.errors += 1

    def _ack(self, _metadata: object) -> None:
        self.acked += 1

    def send_one(self) -> None:
        if self.recent and self.rng.random() < self.dup_share:
            key, value = self.recent[self.rng.randrange(len(self.recent))]
            self.dups += 1
        else:
            template = self.templates[self.unique % len(self.templates)]
            mention_id = f"soak-{self.tag}-{self.unique:09d}"
            created = datetime.now(UTC) - timedelta(seconds=self.rng.uniform(0.0, 2.0))
            m = dict(template, id=mention_id, created_at=created.isoformat(timespec="milliseconds"))
            key, value = mention_id.encode(), json.dumps(m).encode()
            self.recent.append((key, value))
            self.unique += 1
        self.producer.send(self.topic, key=key, value=value).add_callback(self._ack).add_errback(
            self._error)
        self.sent += 1


def stray_workers() -> list[int]:
    """Our own child processes running `veille.cli worker` (a worker whose start was interrupted
    before start_worker returned its Popen)."""
    pids = []
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"veille.cli" in cmd and b"worker" in cmd:
                pids.append(int(pid))
    return pids


def templates(no_moderation: bool) -> list[dict[str, Any]]:
    """Generator mentions without id and created_at; with no_moderation, only those the
    enrichment's triage sends to no moderator (checked in-process with the packaged watch list)."""
    data = mentions(5000)
    if no_moderation:
        from agents.enrich import Enricher
        from veille.rules import Watchlist
        from veille.sentiment import Analyzer
        from veille.settings import packaged_watchlist

        enricher = Enricher(Analyzer(), Watchlist.from_toml(packaged_watchlist()))
        now = datetime.now(UTC).isoformat()
        data = [m for m in data if enricher.handle(
            m["id"].encode(), json.dumps(dict(m, created_at=now)).encode(), None).item is None]
    return [{k: v for k, v in m.items() if k not in ("id", "created_at")} for m in data]


def on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the soak")
    ap.add_argument("--rate", type=float, default=300.0, help="mentions sent per second")
    ap.add_argument("--sample", type=float, default=30.0, help="seconds between two samples")
    ap.add_argument("--dup-share", type=float, default=0.01,
                    help="share of sends that repeat a recent mention (de-duplication)")
    ap.add_argument("--no-moderation", action="store_true",
                    help="only texts that open no moderation case (cases are kept 30 days by "
                         "design, so they grow over any soak; this isolates de-duplication and "
                         "windows)")
    ap.add_argument("--flat-mb-per-hour", type=float, default=5.0,
                    help="second-half slope of worker RSS under which memory is called flat")
    ap.add_argument("--min-available-mb", type=float, default=1024.0,
                    help="stop the run early when the host's MemAvailable falls under this "
                         "(the embedded broker grows ~6 KB per mention)")
    ap.add_argument("--row-minutes", type=float, default=None,
                    help="minutes between table rows (default 5; shorter for runs under 30 min)")
    ap.add_argument("--csv", type=Path, default=None, help="write every sample to this CSV file")
    ap.add_argument("--linger-ms", type=int, default=500,
                    help="linger of this script's producer (the collectors' side), which sets "
                         "how many record batches mentions.raw gets per second: at 5 ms a "
                         "steady feed writes batches of one or two records, and the embedded "
                         "broker's fetches slow down with the batches a partition holds "
                         "(bench/tansu_batches.py)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment variable for the worker (repeatable)")
    args = ap.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.sample <= 0:
        raise SystemExit("--minutes, --rate and --sample must be > 0")
    extra_env = parse_env(args.env)
    row_minutes = args.row_minutes or (5.0 if args.minutes >= 30 else max(args.sample / 60,
                                                                          args.minutes / 6))
    signal.signal(signal.SIGTERM, on_sigterm)

    growth_mb = args.minutes * 60 * args.rate * BROKER_BYTES_PER_MENTION / 1e6
    available = mem_available_mb()
    if growth_mb > available / 2:
        print(f"warning: the embedded broker will grow by about {growth_mb / 1000:.1f} GB "
              f"(~{BROKER_BYTES_PER_MENTION // 1000} KB per mention, never freed); "
              f"MemAvailable is {available / 1000:.1f} GB. The run stops early under "
              f"{args.min_available_mb:g} MB available.", file=sys.stderr)

    workdir = Path(tempfile.mkdtemp(prefix="veille-soak-"))
    samples: list[Sample] = []
    csv_file: IO[str] | None = None
    writer: csv.DictWriter[str] | None = None
    broker = worker = producer = None
    interrupted, drain = False, ""
    stopped = ""  # why the run ended before --minutes (worker exited, host memory low)
    print(f"veille soak: {args.minutes:g} min at {args.rate:g}/s, a sample every {args.sample:g} s; "
          f"logs in {workdir}", flush=True)
    try:
        broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
        tag = uuid.uuid4().hex[:6]
        settings = Settings.from_env({k: v for k, v in extra_env.items()
                                      if k.startswith(ENV_PREFIX)},
                                     broker_url=broker.url, app_id=f"soak-{tag}",
                                     topic_prefix=f"soak{tag}.", metrics_port=free_port())
        ensure_topics(settings)
        # start_worker builds the worker's environment from ours: the extras, and this checkout
        # first on the path (the worker imports veille from here, not from an installed copy).
        os.environ.update(extra_env)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        worker = start_worker(settings, workdir)
        url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers,
                                 linger_ms=args.linger_ms, acks=1)
        feed = Feed(producer, settings.topic(MENTIONS_RAW), args.dup_share,
                    templates(args.no_moderation))
        if args.csv:
            csv_file = open(args.csv, "w", newline="")
            writer = csv.DictWriter(csv_file, fieldnames=[f.name for f in fields(Sample)])
            writer.writeheader()

        broker_pid = broker.process.pid if broker.process else None
        last_cpu = [time.monotonic(), cpu_seconds(broker_pid)]

        def take_sample(elapsed_min: float) -> Sample:
            c = worker_counters(url)
            now, cpu = time.monotonic(), cpu_seconds(broker_pid)
            cores = (cpu - last_cpu[1]) / max(1e-9, now - last_cpu[0])
            last_cpu[:] = [now, cpu]
            s = Sample(elapsed_min=round(elapsed_min, 3), sent=feed.sent, dups_sent=feed.dups,
                       lag=feed.acked - c["read"], worker_rss_mb=round(proc_rss(worker.pid), 1),
                       broker_rss_mb=round(proc_rss(broker_pid), 1),
                       broker_cores=round(cores, 2),
                       **c)
            samples.append(s)
            if writer is not None and csv_file is not None:
                writer.writerow(asdict(s))
                csv_file.flush()
            print(f"  {s.elapsed_min:6.1f} min  sent {s.sent:>9,}  read {s.read:>9,.0f}  "
                  f"lag {s.lag:>7,.0f}  worker {s.worker_rss_mb:6.1f} MB  "
                  f"broker {s.broker_rss_mb:7.1f} MB {s.broker_cores:4.2f} cores  "
                  f"dedup ids {s.dedup_ids:>8,.0f}", flush=True)
            return s

        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        next_sample = t0
        while True:
            now = time.monotonic()
            if worker.poll() is not None:
                stopped = f"worker exited with code {worker.returncode}"
                break
            due = int((min(now, end) - t0) * args.rate)
            while feed.sent < due:
                feed.send_one()
            if now >= next_sample or now >= end:
                take_sample((min(now, end) - t0) / 60)
                next_sample += args.sample
                if next_sample > end and now < end:
                    next_sample = end
                if (free := mem_available_mb()) < args.min_available_mb:
                    stopped = f"stopped early: host MemAvailable {free:.0f} MB"
                    break
            if now >= end:
                break
            time.sleep(max(0.0, min(0.02, next_sample - time.monotonic())))

        if not stopped:
            # Drain: not part of the samples; checks that everything sent was read.
            producer.flush(30)
            deadline = time.monotonic() + DRAIN_SECONDS
            c = worker_counters(url)
            while c["read"] < feed.sent and time.monotonic() < deadline:
                time.sleep(1)
                c = worker_counters(url)
            drain = (f"read {c['read']:,.0f} of {feed.sent:,} sent; enriched {c['enriched']:,.0f} "
                     f"of {feed.unique:,} unique; duplicates dropped {c['duplicates_dropped']:,.0f} "
                     f"of {feed.dups:,} re-sent; dead letters {c['dead_letters']:,.0f}; "
                     f"producer errors {feed.errors}")
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping worker and broker", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        if producer is not None:
            producer.close(5)
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except Exception:  # noqa: BLE001 - TimeoutExpired: kill it
                worker.kill()
                worker.wait()
        else:
            for pid in stray_workers():
                os.kill(pid, signal.SIGTERM)
        if broker is not None:
            broker.stop()
        if csv_file is not None:
            csv_file.close()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    report(args, samples, row_minutes, interrupted, stopped, drain)


def signed(x: float, fmt: str, unit: str) -> str:
    return "n/a" if x != x else f"{x:+{fmt}}{unit}"


def report(args: argparse.Namespace, samples: list[Sample], row_minutes: float,
           interrupted: bool, stopped: str, drain: str) -> None:
    if not samples:
        print("no sample taken")
        return
    last = samples[-1]
    print(f"\nveille memory soak, {datetime.now(UTC):%Y-%m-%d}, {machine()}: "
          f"{last.elapsed_min:.1f} of {args.minutes:g} min at {args.rate:g}/s, "
          f"{args.dup_share:.0%} duplicates" + (f", worker env {' '.join(args.env)}" if args.env
                                                 else ""))
    print_samples(table_rows(samples, row_minutes))

    half = last.elapsed_min / 2
    second = [(s.elapsed_min, s.worker_rss_mb) for s in samples if s.elapsed_min >= half]
    slope = slope_per_hour(second)
    broker_slope = slope_per_hour([(s.elapsed_min, s.broker_rss_mb) for s in samples
                                   if s.elapsed_min >= half])
    at10 = next((s for s in samples if s.elapsed_min >= 10), None)
    per_mention = slope * 1e6 / (args.rate * 3600) if slope == slope else float("nan")
    max_lag = max(samples, key=lambda s: s.lag)
    flat = slope == slope and slope < args.flat_mb_per_hour
    rows = [
        ("worker RSS at start", f"{samples[0].worker_rss_mb:.1f} MB", ""),
        ("worker RSS at 10 min", f"{at10.worker_rss_mb:.1f} MB" if at10 else "n/a",
         f"at {at10.elapsed_min:.1f} min" if at10 else "run under 10 min"),
        ("worker RSS at the end", f"{last.worker_rss_mb:.1f} MB", f"at {last.elapsed_min:.1f} min"),
        ("worker RSS slope, second half (least squares)", signed(slope, ".1f", " MB/h"),
         f"{signed(per_mention, '.0f', ' B')} per mention sent; {len(second)} samples"),
        ("broker RSS at the end / slope (grows by design)",
         f"{last.broker_rss_mb:.0f} MB", signed(broker_slope, ".0f", " MB/h")),
        ("max lag (acknowledged - read)", f"{max_lag.lag:,.0f}",
         f"at {max_lag.elapsed_min:.1f} min"),
        ("lag at the end", f"{last.lag:,.0f}", ""),
        ("moderation cases pending at the end", f"{last.moderation_pending:,.0f}",
         "kept until decided (no moderator here)"),
        ("spike mentions counted / late", f"{last.spike_mentions:,.0f}",
         f"{last.spike_late:,.0f} late"),
    ]
    print_table("summary", rows, value_header="value", ratio_header="note")
    if drain:
        print(f"\ndrain: {drain}")
    if slope != slope:
        verdict, why = "inconclusive", "under 3 samples in the second half"
    else:
        verdict = "flat" if flat else "growing"
        why = (f"second-half slope {slope:+.1f} MB/h "
               f"{'<' if flat else '>='} {args.flat_mb_per_hour:g} MB/h")
    notes = []
    if last.elapsed_min < 20:
        notes.append("short run: the slope still holds warm-up; a verdict needs 20-30 min or more")
    if interrupted:
        notes.append("interrupted")
    if stopped:
        notes.append(stopped)
    print(f"\nverdict: {verdict} ({why})" + (f" [{'; '.join(notes)}]" if notes else ""))
    if args.csv:
        print(f"samples: {args.csv}")


if __name__ == "__main__":
    main()
