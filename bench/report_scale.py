#!/usr/bin/env python3
"""What a weekly `veille report` costs on a full mentions.enriched: wall time, CPU time and peak
RSS of the command, beside a plain read of the same topic in the same run.

usage: python bench/report_scale.py fill --n 500000 [--base 20000] [--texts real|generated] [--more]
       python bench/report_scale.py run [--repeat 2] [--tz Europe/Paris] [--until ISO]
       python bench/report_scale.py read        (the reference alone: what `run` times)

Against the broker of VEILLE_BROKER_URL (an embedded one: `veille broker --port P`, then
`veille topics`). `fill` enriches `--base` mentions in-process with the enrichment stage's own
code (agents.enrich.Enricher: language, sentiment, watch rules, triage; real tweets in English
and French, or the demo generator's texts), then writes N enriched records keyed by id: the base
records again and again, each copy with its own id and a posting time spread over the 7 days
before now (mentions.enriched keeps 7 days). `run` times, each in its own process under
/usr/bin/time -v: the reference (kafka-python reading the topic to its end, no decoding), the
same read with each value decoded (TopicReader, a no-op handler), and `veille report` (text and
--json) for the week ending at --until (default: the fill's end, kept in a file beside the
script's output so two runs of different code report the same period). Ratios are to the
reference of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

STATE = Path(os.environ.get("REPORT_SCALE_STATE", "/tmp/report_scale.json"))


def settings():  # type: ignore[no-untyped-def]
    from veille.settings import Settings

    return Settings.from_env()


def fill(args: argparse.Namespace) -> None:
    from enrich_throughput import mentions, real_mentions

    from agents.enrich import Enricher
    from streams.records import Limits, dumps
    from streams.topics import MENTIONS_ENRICHED
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer
    from veille.settings import packaged_watchlist

    t0 = time.perf_counter()
    raw = (real_mentions if args.texts == "real" else mentions)(args.base)
    enricher = Enricher(Analyzer(), Watchlist.from_toml(packaged_watchlist()), Limits())
    base = []
    for m in raw:
        out = enricher.handle(m["id"].encode(), json.dumps(m).encode(), None)
        if out.enriched is not None:
            base.append(out.enriched.to_dict())
    print(f"enriched {len(base):,} of {len(raw):,} mentions in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    old: dict[str, Any] = json.loads(STATE.read_text()) if args.more else {"n": 0, "bytes": 0}
    end = (datetime.fromisoformat(old["end"]) if args.more
           else datetime.now(UTC).replace(microsecond=0))
    rng = random.Random(7 + old["n"])
    s = settings()
    from kafka import KafkaProducer

    producer = KafkaProducer(**s.kafka_client_options(), linger_ms=50, batch_size=1 << 20,
                             max_request_size=8 << 20, acks=1)
    topic = s.topic(MENTIONS_ENRICHED)
    t0 = time.perf_counter()
    size = 0
    for i in range(old["n"], old["n"] + args.n):
        r = dict(base[i % len(base)])
        r["id"] = f"{r['id']}-{i // len(base)}"
        posted = end - timedelta(seconds=rng.uniform(0, 7 * 86400))
        r["created_at"] = posted.isoformat().replace("+00:00", "Z")
        value = dumps(r)
        size += len(value)
        producer.send(topic, key=r["id"].encode(), value=value)
    producer.flush()
    producer.close()
    print(f"wrote {args.n:,} more records ({size / args.n:,.0f} B each) in "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    STATE.write_text(json.dumps({"n": old["n"] + args.n, "end": end.isoformat(),
                                "bytes": old["bytes"] + size}))


def read_plain() -> None:
    """The reference: the topic read to its end by kafka-python, values not decoded."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.topics import MENTIONS_ENRICHED
    from veille import kafka_crc

    kafka_crc.install()  # as TopicReader does
    s = settings()
    topic = s.topic(MENTIONS_ENRICHED)
    c = KafkaConsumer(**s.kafka_client_options(), group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=20,
                      max_partition_fetch_bytes=4 * 1024 * 1024)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    n = size = 0
    while any(c.position(tp) < ends[tp] for tp in tps):
        for records in c.poll(timeout_ms=50, max_records=10_000).values():
            n += len(records)
            size += sum(len(r.value) for r in records)
    c.close()
    print(f"{n} records, {size} bytes")


def read_decoded() -> None:
    """The topic read by the report's reader (TopicReader: each value decoded), handler a no-op."""
    from streams.topics import MENTIONS_ENRICHED, REPUTATION_ALERTS
    from veille.moderate.store import TopicReader

    n = 0

    def count(_record: object) -> None:
        nonlocal n
        n += 1

    reader = TopicReader(settings(), {MENTIONS_ENRICHED: count, REPUTATION_ALERTS: count})
    try:
        reader.refresh()
    finally:
        reader.close()
    print(f"{n} records")


def timed(command: list[str], out: Path | None = None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of a command under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed:\n{proc.stderr[-2000:]}")
    if out is not None:
        out.write_text(proc.stdout)
    field = {k.strip(): v.strip() for k, _, v in
             (line.partition(": ") for line in proc.stderr.splitlines()) if v}
    h, m, sec = ([0, 0] + field["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"))[-3:]
    wall = int(h) * 3600 + int(m) * 60 + float(sec)
    cpu = float(field["User time (seconds)"]) + float(field["System time (seconds)"])
    return wall, cpu, int(field["Maximum resident set size (kbytes)"]) / 1024


def run(args: argparse.Namespace) -> None:
    state = json.loads(STATE.read_text())
    until = args.until or state["end"]
    py = sys.executable
    veille = [py, "-m", "veille.cli"] if args.module else [str(Path(py).with_name("veille"))]
    report = [*veille, "report", "--until", until, "--tz", args.tz]
    rows = [("plain kafka-python read (reference)", [py, __file__, "read"], None),
            ("TopicReader read + decode, no-op", [py, __file__, "decoded"], None),
            ("veille report", report, Path(args.out + ".txt") if args.out else None),
            ("veille report --json", [*report, "--json"],
             Path(args.out + ".json") if args.out else None)]
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(args.repeat):
        for name, command, out in rows:
            w, c, r = timed(command, out)
            old = best.get(name)
            best[name] = (min(w, old[0]), min(c, old[1]), max(r, old[2])) if old else (w, c, r)
    ref = best[rows[0][0]]
    n = state["n"]
    print(f"{n:,} records ({state['bytes'] / n:,.0f} B each) in mentions.enriched; week ending "
          f"{until}, --tz {args.tz}; best of {args.repeat} (wall, CPU), highest RSS; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'':38} {'wall s':>8} {'CPU s':>8} {'RSS MB':>8} {'wall/ref':>9} {'µs CPU/rec':>11}")
    for name, _c, _o in rows:
        w, c, r = best[name]
        print(f"{name:38} {w:8.1f} {c:8.1f} {r:8.0f} {w / ref[0]:8.1f}x {c / n * 1e6:11.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--n", type=int, default=100_000)
    f.add_argument("--base", type=int, default=20_000)
    f.add_argument("--texts", choices=("real", "generated"), default="real")
    f.add_argument("--more", action="store_true", help="add N records to the topic's (same "
                   "end, ids continued)")
    r = sub.add_parser("run")
    r.add_argument("--repeat", type=int, default=2)
    r.add_argument("--tz", default="Europe/Paris")
    r.add_argument("--until", help="end of the week reported (default: the fill's end)")
    r.add_argument("--out", help="keep the reports' output in OUT.txt and OUT.json")
    r.add_argument("--module", action="store_true", help="run `python -m veille.cli` (this "
                   "checkout's code) rather than the veille script beside the interpreter")
    sub.add_parser("read")
    sub.add_parser("decoded")
    args = ap.parse_args()
    {"fill": fill, "run": run, "read": lambda _a: read_plain(),
     "decoded": lambda _a: read_decoded()}[args.cmd](args)


if __name__ == "__main__":
    main()
