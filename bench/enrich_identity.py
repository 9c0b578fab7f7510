#!/usr/bin/env python3
"""Output identity of the enrichment stage's planning step, for changes meant to be faster only.

usage: python bench/enrich_identity.py --inputs FILE > DIGESTS

Runs agents.enrich.Planner, with fixed clocks, over 6,000 real and 6,000 generated mentions (as
bench/enrich_parts.py builds them), the bad, odd and large messages of
tests/integration/test_bad_input.py's plan, duplicates (same id, another offset), redeliveries
(same offset again), records with and without Kafka timestamps, and records on a partition
their key does not hash to (raw_partitions set). It prints one digest per planned slice of
what the Cycle holds (every enriched, by-brand, moderation, dead-letter and re-keyed record:
topic, key, value, headers, partition; the offsets to commit; the newest event times) and
of the metric samples (the registry's collect(), the process's own process_* left out: they differ
between any two runs) after each input set.

The inputs are made once and kept in FILE (the generators read the clock): run it before and
after a change with the same FILE and compare the outputs (`diff`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def make_inputs() -> dict[str, Any]:
    from enrich_throughput import mentions, real_mentions

    from tests.integration.test_bad_input import make_plan

    now = datetime.now(UTC)
    sets: dict[str, list[tuple[bytes | None, bytes | None, int]]] = {}
    for name, data in (("real", real_mentions(6000)), ("generated", mentions(6000))):
        recs: list[tuple[bytes | None, bytes | None, int]] = [
            (m["id"].encode(), json.dumps(m).encode(), 0 if i % 3 else int(now.timestamp() * 1000) - i)
            for i, m in enumerate(data)]
        recs += recs[:150]  # duplicates: the same ids at later offsets
        sets[name] = recs
    sets["bad_input"] = [(k, v, 0) for k, v in make_plan(now, 20_000).records]
    return {"now": now, "sets": sets}


def samples(registry: Any) -> list[tuple[Any, ...]]:
    """The registry's samples but the process's own (process_*: CPU, memory, start time differ
    between any two runs, and made the metrics digest differ every time)."""
    return sorted((s.name, tuple(sorted(s.labels.items())), repr(s.value))
                  for metric in registry.collect() if not metric.name.startswith("process_")
                  for s in metric.samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", required=True, help="pickle of the inputs, made if absent")
    args = ap.parse_args()
    path = Path(args.inputs)
    if not path.exists():
        path.write_bytes(pickle.dumps(make_inputs()))
    inputs = pickle.loads(path.read_bytes())

    from enrich_throughput import TP, Rec
    from prometheus_client import CollectorRegistry

    from agents.enrich import PLAN_SLICE, Enricher, Names, Planner
    from streams.records import Limits
    from veille.dedup import DedupWindow
    from veille.metrics import Metrics
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer
    from veille.settings import packaged_watchlist

    now: datetime = inputs["now"]
    watchlist, analyzer = Watchlist.from_toml(packaged_watchlist()), Analyzer()
    registry = CollectorRegistry()
    metrics = Metrics(registry, watchlist.brand_ids, analyzer.languages, clock=lambda: now.timestamp() + 1)
    ticks = iter(range(10**9))

    def clock() -> datetime:  # advances: processed_at and failed-at differ from record to record
        return now + timedelta(microseconds=next(ticks) * 1_001)

    for name, recs in inputs["sets"].items():
        for raw_partitions in (None, 3):
            planner = Planner(Enricher(analyzer, watchlist, Limits(), clock), metrics,
                              Names("raw", "enriched", "dlq", "queue", "by_brand"),
                              {0: DedupWindow(86_400, 1_000_000)}, lambda: now.timestamp(),
                              brand_partitions=4, raw_partitions=raw_partitions)
            records = [Rec("raw", 0, i, k, v, t) for i, (k, v, t) in enumerate(recs)]  # type: ignore[arg-type]
            records += records[-250:-50]  # redelivered: the same offsets again
            digest = hashlib.sha256()
            for i in range(0, len(records), PLAN_SLICE):
                cycle = planner.plan({TP("raw", 0): records[i:i + PLAN_SLICE]})
                h = hashlib.sha256()
                for group in (cycle.enriched, cycle.by_brand):
                    for p in sorted(group):
                        for o in group[p]:
                            h.update(repr((p, o.topic, o.key, o.value, o.headers, o.partition)).encode())
                for o in cycle.side:
                    h.update(repr((o.topic, o.key, o.value, o.headers, o.partition)).encode())
                h.update(repr((sorted((tp.partition, n) for tp, n in cycle.commit.items()),
                               sorted(cycle.newest.items()))).encode())
                print(f"{name} raw_partitions={raw_partitions} slice {i // PLAN_SLICE}: "
                      f"{len(cycle)} records {h.hexdigest()[:16]}")
                digest.update(h.digest())
            m = hashlib.sha256(repr(samples(registry)).encode()).hexdigest()[:16]
            print(f"== {name} raw_partitions={raw_partitions}: outputs {digest.hexdigest()[:16]}, "
                  f"metrics {m}")


if __name__ == "__main__":
    main()
