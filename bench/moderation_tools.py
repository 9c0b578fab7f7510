#!/usr/bin/env python3
"""What the moderator tools cost as the moderation topics grow (they read them from the start).

usage: python bench/moderation_tools.py [--n 100000] [--per-day 2000] [--pending 0.03]
                                        [--keep DIR] [--skip-tools]

Fills moderation.queue, moderation.decisions and moderation.closed on the embedded broker with N
generated cases in the records' real format (veille.moderation.queue.make_item, decision_record,
and the agent's own apply_decision for the closed records), queued at --per-day a day up to now,
each record stamped with its own time: most closed (approve, reject, replied; some assigned
first, a few escalated), --pending of them still pending (the newest day's, and old stragglers;
some assigned or escalated). Then times, each as a user runs it, in subprocesses:

* `veille moderate list --limit 20`, `veille moderation report` (its default week),
* `veille moderate decide CASE approve` on one pending case (it reads the partitions of the
  case's key alone),
* `veille moderate serve` from its start until its first `GET /cases` answers 200, and the
  API process's resident memory then and its peak until then (during its first read),

against, in the same run, a raw aiokafka consumer reading the three topics to their end
(records/s: the reference). Prints one table. With --keep DIR the outputs of `list --json`,
`closed --json` and `report` are written to DIR (to check that a change keeps them identical).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import machine, print_table, rss_mb  # noqa: E402

from streams.topics import (  # noqa: E402
    MODERATION_CLOSED,
    MODERATION_DECISIONS,
    MODERATION_QUEUE,
    ensure_topics,
    key_partition,
)
from veille.broker import EmbeddedBroker, free_port  # noqa: E402
from veille.moderation.cases import apply_decision  # noqa: E402
from veille.moderation.queue import case_of, decision_record, make_item  # noqa: E402
from veille.moderation.triage import Triage  # noqa: E402
from veille.rules import Charter  # noqa: E402
from veille.settings import Settings  # noqa: E402

WATCHLIST = ROOT / "tests/data/moderation_watchlist.toml"
#: (triage, share of the cases): what the triage sends to the queue, roughly as in the demo.
TRIAGES = [
    (Triage(("insult",), "medium", "review", ()), 30),
    (Triage(("needs_answer",), "low", "respond", ("question",)), 25),
    (Triage(("detractor", "needs_answer"), "medium", "respond", ("complaint",)), 20),
    (Triage(("spam",), "high", "hide", ()), 12),
    (Triage(("aggressive",), "medium", "review", ()), 8),
    (Triage(("threat",), "high", "hide", ()), 3),
    (Triage(("hate",), "high", "hide", ()), 2),
]
WORDS = ("service", "client", "commande", "livraison", "remboursement", "appli", "panne", "réseau",
         "facture", "forfait", "nul", "honte", "merci", "attente", "heures", "depuis", "jamais",
         "encore", "toujours", "support", "problème", "réponse", "boutique", "café", "produit")
MODERATORS = ("alice", "bob", "carol", "dave", "erin")


def generate(n: int, per_day: float, pending_share: float, now: float, seed: int = 7
             ) -> tuple[list[tuple[str, float, dict]], list[str]]:
    """(topic, broker time, record) of n cases, oldest first, and the ids of the pending ones."""
    rng = random.Random(seed)
    weights = [w for _, w in TRIAGES]
    span = n / per_day * 86400
    out: list[tuple[str, float, dict]] = []
    pending: list[str] = []
    for i in range(n):
        queued = now - span + span * (i + 0.5) / n
        case_id = f"m-{i:08d}-{rng.getrandbits(32):08x}"
        triage = rng.choices(TRIAGES, weights)[0][0]
        brands = ("acme",) if rng.random() < 0.7 else ("boreal",)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
        item = make_item(mention_id=case_id, brands=brands, triage=triage, charter=Charter(),
                         language="fr", sentiment=rng.choice(("negative", "neutral", "positive")),
                         compound=round(rng.uniform(-1, 1), 4), platform="twitter",
                         author=f"@user{rng.randrange(50_000)}", text=text,
                         url=f"https://example.org/{case_id}", created_at=queued - rng.uniform(5, 600),
                         queued_at=queued)
        assert item is not None
        out.append((MODERATION_QUEUE, queued, item))
        # The newest day is pending for the most part; older cases are closed but a few.
        age = now - queued
        is_pending = rng.random() < (0.6 if age < 86400 else pending_share / 2)
        t = queued
        case = case_of(item)
        moderator = rng.choice(MODERATORS)
        steps: list[dict] = []
        if rng.random() < 0.15:
            steps.append({"decision": "assign", "moderator": moderator, "assignee": moderator,
                          "if_assigned_to": None})
        if rng.random() < 0.03:
            steps.append({"decision": "escalate", "moderator": moderator, "assignee": "lead",
                          "reason": "charte §3"})
        if not is_pending:
            closing = ("reject" if triage.action == "hide" else
                       "replied" if triage.action == "respond" else rng.choice(("approve", "reject")))
            steps.append({"decision": closing, "moderator": moderator,
                          "reason": "charte §2" if closing == "reject" else None})
        for body in steps:
            t += rng.uniform(60, 4 * 3600) if is_pending is False else rng.uniform(10, 600)
            t = min(t, now - 1)
            record = decision_record(case_id, body, t)
            out.append((MODERATION_DECISIONS, t, record))
            outcome = apply_decision(case, record, t)
            if outcome.closed:
                assert outcome.record is not None
                # The agent applies it within a second.
                out.append((MODERATION_CLOSED, min(t + 0.5, now), outcome.record))
            else:
                case = outcome.case
        if is_pending:
            pending.append(case_id)
    out.sort(key=lambda r: r[1])
    return out, pending


def fresh_topics(broker: EmbeddedBroker) -> Settings:
    """Settings of a new app id and topic prefix on `broker`, their topics created."""
    tag = uuid.uuid4().hex[:6]
    s = Settings.from_env({}, broker_url=broker.url, app_id=f"bench-{tag}",
                          topic_prefix=f"m{tag}.", metrics_port=free_port())
    ensure_topics(s)
    return s


async def fill(settings: Settings, records: list[tuple[str, float, dict]]) -> dict[str, int]:
    """Write the records keyed by case id, each with its own broker time; the count per topic."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20,
                                max_batch_size=512 * 1024, acks=1,
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    counts: dict[str, int] = {}
    try:
        pending = []
        for topic, at, record in records:
            pending.append(await producer.send(
                settings.topic(topic), key=record["case_id"].encode(),
                value=json.dumps(record, ensure_ascii=False).encode(),
                timestamp_ms=int(at * 1000)))
            counts[topic] = counts.get(topic, 0) + 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts


async def raw_read(settings: Settings, total: int) -> float:
    """Seconds for a raw aiokafka consumer to read the three topics from their start until it
    holds `total` records (values not decoded)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=20, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        t0 = time.perf_counter()
        tps = [TopicPartition(settings.topic(name), p)
               for name in (MODERATION_QUEUE, MODERATION_DECISIONS, MODERATION_CLOSED)
               for p in sorted(consumer.partitions_for_topic(settings.topic(name)) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        read = 0
        while read < total:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            read += sum(len(b) for b in batches.values())
        return time.perf_counter() - t0
    finally:
        await consumer.stop()


def env_of(settings: Settings, workdir: Path) -> dict[str, str]:
    return dict(os.environ, VEILLE_BROKER_URL=settings.broker_url, VEILLE_APP_ID=settings.app_id,
                VEILLE_TOPIC_PREFIX=settings.topic_prefix, VEILLE_DATA_DIR=str(workdir / "state"),
                VEILLE_WATCHLIST_FILE=str(WATCHLIST), VEILLE_REPORT_LANGUAGE="en",
                PYTHONPATH=str(ROOT))


def run(args: list[str], env: dict[str, str], out: Path | None = None) -> float:
    """Seconds for `veille ARGS` to run to its end (stdout to `out`, if given)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "veille.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, timeout=900)
    dt = time.perf_counter() - t0
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and args[:2] != ["moderate", "list"]):
        raise SystemExit(f"veille {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr.decode()[-3000:]}")
    if out is not None:
        out.write_bytes(proc.stdout)
    return dt


def peak_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(env: dict[str, str], workdir: Path) -> tuple[float, float, float]:
    """(seconds from `veille moderate serve`'s start until GET /cases answers 200, its RSS in MB
    then, its peak RSS until then: during its first read)."""
    port = free_port()
    log = open(workdir / "api.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "veille.cli", "moderate", "serve", "--port",
                             str(port)], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not answer:\n{(workdir / 'api.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/cases?limit=20",
                                            timeout=900) as r:
                    if r.status == 200:
                        r.read()
                        break
            except OSError:
                time.sleep(0.05)
        dt = time.perf_counter() - t0
        return dt, rss_mb(proc.pid), peak_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="cases on the topics")
    ap.add_argument("--per-day", type=float, default=2000.0, help="cases queued a day")
    ap.add_argument("--pending", type=float, default=0.03,
                    help="share of the cases older than a day still pending")
    ap.add_argument("--keep", type=Path, help="write the tools' outputs to this directory")
    ap.add_argument("--skip-tools", action="store_true",
                    help="only list --json, closed --json and report (with --keep)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    now = time.time()
    records, pending = generate(args.n, args.per_day, args.pending, now)
    gen_s = time.perf_counter() - t0
    workdir = Path(tempfile.mkdtemp(prefix="veille-bench-mod-"))
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
    try:
        s = fresh_topics(broker)
        t0 = time.perf_counter()
        counts = asyncio.run(fill(s, records))
        fill_s = time.perf_counter() - t0
        total = sum(counts.values())
        print(f"{args.n:,} cases ({len(pending):,} pending): {counts} = {total:,} records, "
              f"generated in {gen_s:.1f} s, written in {fill_s:.1f} s", file=sys.stderr)
        env = env_of(s, workdir)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            # Fixed periods, so that two runs on the same data print the same thing.
            until = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            run(["moderate", "list", "--json"], env, args.keep / "list.json")
            run(["moderate", "list", "--limit", "50"], env, args.keep / "list.txt")
            run(["moderate", "closed", "--json", "--since", "2000-01-01", "--until", until], env,
                args.keep / "closed.json")
            run(["moderation", "report", "--until", until], env, args.keep / "report.txt")
            run(["moderate", "show", pending[0], "--json"], env, args.keep / "show.json")
        if args.skip_tools:
            return
        raw_s = asyncio.run(raw_read(s, total))
        list_s = run(["moderate", "list", "--limit", "20"], env)
        report_s = run(["moderation", "report"], env)
        case_id = pending[len(pending) // 2]
        decide_s = run(["moderate", "decide", case_id, "approve", "--moderator", "bench"], env)
        p = key_partition(case_id.encode(), s.topic_partitions)
        on_partition = sum(1 for _, _, r in records
                           if key_partition(r["case_id"].encode(), s.topic_partitions) == p)
        api_s, api_rss, api_peak = serve(env, workdir)
        start_s = run(["--help"], env)  # the interpreter and veille's imports, nothing read
    finally:
        broker.stop()

    raw = total / raw_s

    def row(name: str, seconds: float, read: int) -> tuple[str, str, str]:
        rate = read / seconds
        return (name, f"{seconds:.2f} s, {rate:,.0f}/s", f"{rate / raw:.2f}")

    rows = [
        (f"raw aiokafka consumer, the 3 topics to their end ({total:,} records) (reference)",
         f"{raw_s:.2f} s, {raw:,.0f}/s", "1.00"),
        row("`veille moderate list --limit 20`", list_s, total),
        row("`veille moderation report` (last 7 days)", report_s, total),
        row(f"`veille moderate decide` one case (its partition: {on_partition:,} records)",
            decide_s, on_partition),
        row("`veille moderate serve`: start to first `GET /cases` 200", api_s, total),
        ("API resident memory after its first answer", f"{api_rss:.0f} MB", ""),
        ("API peak resident memory until then (its first read)", f"{api_peak:.0f} MB", ""),
        ("`veille --help` (interpreter + imports, in every time above)", f"{start_s:.2f} s", ""),
    ]
    print_table(f"veille moderator tools, {args.n:,} cases ({len(pending):,} pending), "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}", rows,
                value_header="time, records/s", ratio_header="ratio to raw consumer")


if __name__ == "__main__":
    main()
