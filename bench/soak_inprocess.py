#!/usr/bin/env python3
"""The soak's mentions through the enrichment stage's planning step and the per-brand monitors,
in-process (no broker, no Faust, no aiokafka): which memory is the domain state's?

usage: python bench/soak_inprocess.py [--n 1080000] [--every 60000] [--trace FROM TO]

Mentions like bench/soak.py's (demo generator texts, fresh ids, created_at advancing at 300 per
second of simulated time, 4 raw partitions, batches of 600) go through agents.enrich.Planner
(validation, analysis, triage, de-duplication windows of 50,000 ids per partition, encoding,
metrics) and every by-brand record into a veille.crisis.BrandMonitor, as fast as they go. Every
--every mentions: RSS, de-duplication ids, open buckets. With --trace FROM TO, tracemalloc runs
from mention FROM to mention TO and the allocations made in between that are still alive are
listed by line (what grew).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import TP, Rec, mentions, rss_mb  # noqa: E402

BATCH = 600
RATE = 300.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_080_000)
    ap.add_argument("--every", type=int, default=60_000)
    ap.add_argument("--trace", type=int, nargs=2, metavar=("FROM", "TO"), default=None)
    args = ap.parse_args()

    from prometheus_client import CollectorRegistry

    from agents.enrich import Enricher, Names, Planner
    from streams.records import Limits
    from veille.crisis import BrandMonitor
    from veille.dedup import DedupWindow
    from veille.metrics import Metrics
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer
    from veille.settings import packaged_watchlist

    templates = [{k: v for k, v in m.items() if k not in ("id", "created_at")}
                 for m in mentions(5000)]
    watchlist, analyzer = Watchlist.from_toml(packaged_watchlist()), Analyzer()
    metrics = Metrics(CollectorRegistry(), watchlist.brand_ids, analyzer.languages)
    windows = {p: DedupWindow(86_400, 50_000) for p in range(4)}
    start = datetime.now(UTC)
    clock = [start]
    planner = Planner(Enricher(analyzer, watchlist, Limits(), clock=lambda: clock[0]), metrics,
                      Names("raw", "enriched", "dlq", "queue", "by_brand"), windows,
                      clock=lambda: clock[0].timestamp(), brand_partitions=4)
    monitors: dict[str, BrandMonitor] = {}
    offsets = [0] * 4
    t0 = time.monotonic()
    print("| mentions | simulated minutes | RSS MB | de-duplication ids | open buckets | seconds |")
    print("|--:|--:|--:|--:|--:|--:|")
    def row(done: int) -> None:
        print(f"| {done:,} | {done / RATE / 60:.1f} | {rss_mb(os.getpid()):.1f} | "
              f"{sum(len(w) for w in windows.values()):,} | "
              f"{sum(len(m.open) for m in monitors.values())} | {time.monotonic() - t0:.0f} |",
              flush=True)

    # (Until 2026-12-05 rows came when i % every < 600, not every --every, the run was rounded
    # up to whole batches and the end had no row.)
    for i in range(0, args.n, BATCH):
        if args.trace and i == args.trace[0] // BATCH * BATCH:
            import tracemalloc

            tracemalloc.start(1)
        if args.trace and i == args.trace[1] // BATCH * BATCH:
            import tracemalloc

            print("\nallocations made since mention", args.trace[0], "still alive:")
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:10]:
                print("  ", stat)
            tracemalloc.stop()
        if i == 0 or i // args.every != (i - BATCH) // args.every:  # each --every crossed
            row(i)
        batch: dict[int, list[Rec]] = {p: [] for p in range(4)}
        for j in range(i, min(i + BATCH, args.n)):  # the last batch cut at --n
            m = dict(templates[j % len(templates)], id=f"mem-{j:09d}",
                     created_at=(start + timedelta(seconds=j / RATE)).isoformat())
            p = j % 4
            batch[p].append(Rec("raw", p, offsets[p], m["id"].encode(), json.dumps(m).encode()))
            offsets[p] += 1
        clock[0] = start + timedelta(seconds=(i + BATCH) / RATE)
        cycle = planner.plan({TP("raw", p): recs for p, recs in batch.items()})
        for outs in cycle.by_brand.values():
            for o in outs:
                s = json.loads(o.value or b"{}")
                brand = (o.key or b"").decode()
                monitor = monitors.get(brand) or monitors.setdefault(brand, BrandMonitor(brand))
                monitor.observe(s["id"], s["t"], s["neg"], s["aud"], s["text"])
    row(args.n)


if __name__ == "__main__":
    main()
