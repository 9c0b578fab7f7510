# mypy: disable-error-code="method-assign"
# (this harness wraps Faust and aiokafka methods in place to trace them)
"""Faust partition hand-back: does a worker lose messages when a second worker leaves cleanly?

What it shows
-------------
Two plain Faust workers (the app is built by veille.app.create_app, so the broker settings are
the real worker's) share one consumer group on an 8-partition topic while a producer writes
sequential ids at a steady rate. Worker A starts alone; worker B joins after --join seconds and
is stopped with SIGTERM after --leave seconds. The agent forwards every value to an output
topic. At the end the script prints:

  * the ids missing from the output (lost) and the duplicates;
  * per input partition: the log end (fetch high watermark), the group's committed offset
    (while A still runs), and the lost offsets;
  * with --trace (default on), what each worker's Faust consumer did, from a monkeypatch that
    logs every rebalance, Faust's per-partition state (_read_offset, _committed_offset, _acked,
    _gap), every seek to committed, every commit, every message Faust's drain loop drops as
    "already read" (offset < _read_offset), and every commit Faust refuses because of a hole
    at the head of _acked (Consumer._new_offset returning None).

With --fix the workers install veille.faust_fixes (not wired into veille itself) first.

What it showed here (Tansu 0.6.0, 2 shared cores, 2026-11-23): the loss reported in
MEASURED.md did not reproduce: 0 ids lost in 17 runs without the fix (plain agent with veille's
create_app, --work-ms 1, --fetch-wait-ms 1500, --faust-assignor, --faust-defaults, --join 4
--leave 10, --table), committed offsets at the log end after every run. With --table (1 of 2
runs) the trace caught Faust's recovery race that produces both reported symptoms: records of
the stream partitions delivered between resume_partitions and perform_seek in
Recovery.on_recovery_completed, 172 re-fetched records per partition then dropped as "already
read" (_read_offset 804, committed 632) and a commit refused for good on one partition
(committed 662, first acked 672) until the next rebalance re-read it. With --table --fix: 3
runs, no drop, no refused commit, 0 lost (weak evidence: the race showed in 1 of 2 runs).

The duplicates it reports (2026-12-06, --table --fix, --n 8000 --join 4 --leave 12): 692 in
8,000, with every "revoke" event of the trace showing acked offsets past the committed one (80 a
partition at the join, 13 at the leave) and no commit before the next "perform_seek", which put
each partition back to the last timer commit, kept partitions included: Faust's
Consumer.on_partitions_revoked drops the acks before the app's revocation commit runs (see
veille/faust_fixes.py, 4). With that fix, a "commit" at each revoke (accepted by Tansu), the seek
landing on the read position, 0 duplicates.

Run (about 70 s a run; 2 cores are enough):

    PYTHONPATH=. .venv/bin/python bench/faust_handback.py              # 1 run, embedded Tansu
    PYTHONPATH=. .venv/bin/python bench/faust_handback.py --runs 3 --table        # the race
    PYTHONPATH=. .venv/bin/python bench/faust_handback.py --runs 3 --table --fix
    PYTHONPATH=. .venv/bin/python bench/faust_handback.py --broker 127.0.0.1:9092  # a Kafka

The workers are this file run with `worker` as first argument (not meant to be run by hand).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTITIONS = 8


# --------------------------------------------------------------------------------------------
# Worker side: a plain Faust agent, plus a trace of Faust's consumer bookkeeping.
# --------------------------------------------------------------------------------------------

class Trace:
    def __init__(self, path: str, topic: str) -> None:
        self.f = open(path, "a", buffering=1)
        self.topic = topic
        self.t0 = time.time()

    def __call__(self, event: str, **kw: Any) -> None:
        kw = {k: v for k, v in kw.items()}
        self.f.write(json.dumps({"t": round(time.time(), 3), "ev": event, **kw}, default=str) + "\n")

    def state(self, consumer: Any) -> dict[str, Any]:
        """Faust's per-partition bookkeeping for the input topic."""
        out = {}
        tps = set(consumer._read_offset) | set(consumer._committed_offset) | set(consumer._acked) \
            | set(consumer._gap)
        for tp in sorted(t for t in tps if t.topic == self.topic):
            acked = consumer._acked.get(tp) or []
            gap = consumer._gap.get(tp)
            out[tp.partition] = {
                "read": consumer._read_offset.get(tp),
                "committed": consumer._committed_offset.get(tp),
                "acked": [min(acked), max(acked), len(acked)] if acked else None,
                "gap": sorted((i.begin, i.end) for i in gap) if gap else None,
            }
        return out


def install_trace(trace: Trace) -> None:
    from faust.transport import consumer as fc

    C = fc.Consumer
    topic = trace.topic

    orig_revoked = C.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: Any) -> None:
        trace("revoke", tps=sorted(tp.partition for tp in revoked if tp.topic == topic),
              state_before_pop=trace.state(self))
        await orig_revoked(self, revoked)
        trace("revoke_done", state_after=trace.state(self))

    on_partitions_revoked.__wrapped__ = orig_revoked  # type: ignore[attr-defined]  # for Service.transitions_to
    C.on_partitions_revoked = on_partitions_revoked

    orig_assigned = C.on_partitions_assigned

    async def on_partitions_assigned(self: Any, assigned: Any, generation_id: int = 0) -> None:
        trace("assign", gen=generation_id,
              tps=sorted(tp.partition for tp in assigned if tp.topic == topic),
              state_before=trace.state(self))
        await orig_assigned(self, assigned, generation_id)

    C.on_partitions_assigned = on_partitions_assigned

    orig_perform_seek = C.perform_seek

    async def perform_seek(self: Any) -> None:
        before = trace.state(self)
        await orig_perform_seek(self)
        trace("perform_seek", state_before=before, state_after=trace.state(self))

    C.perform_seek = perform_seek

    orig_commit_offsets = C._commit_offsets

    async def _commit_offsets(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        ok = await orig_commit_offsets(self, offsets, start_new_transaction)
        trace("commit", ok=ok, offsets={tp.partition: o for tp, o in offsets.items()
                                        if tp.topic == topic},
              assignment=sorted(tp.partition for tp in self.assignment() if tp.topic == topic))
        return ok

    C._commit_offsets = _commit_offsets

    orig_new_offset = C._new_offset
    stuck_seen: set[tuple[int, Any, Any]] = set()

    def _new_offset(self: Any, tp: Any) -> Any:
        acked = self._acked.get(tp)
        snapshot = (min(acked), max(acked), len(acked)) if acked else None
        committed = self._committed_offset.get(tp)
        result = orig_new_offset(self, tp)
        if result is None and snapshot and tp.topic == topic:
            key = (tp.partition, committed, snapshot[0])
            if key not in stuck_seen:
                stuck_seen.add(key)
                trace("commit_refused", p=tp.partition, committed=committed, acked=snapshot,
                      gap=sorted((i.begin, i.end) for i in self._gap.get(tp, ())) or None)
        return result

    C._new_offset = _new_offset

    orig_ack = C.ack

    last_ack: dict[int, int] = {}

    def ack(self: Any, message: Any) -> bool:
        tp = message.tp
        if tp.topic == topic and not message.acked:
            app = self.app
            p, off = tp.partition, message.offset
            # Stream.__aiter__ acks, without processing, a message it takes from the agent's
            # queue while flow control is suspended or that was fetched in an older generation.
            skipped = (not app.flow_control.is_active()
                       or message.generation_id != app.consumer_generation_id)
            if skipped:
                trace("skip_ack", p=p, offset=off, gen=message.generation_id,
                      app_gen=app.consumer_generation_id,
                      flow=app.flow_control.is_active(),
                      committed=self._committed_offset.get(tp), in_acked=tp in self._acked)
            elif tp not in self.assignment():
                trace("late_ack", p=p, offset=off, committed=self._committed_offset.get(tp))
            prev = last_ack.get(p)
            if prev is not None and off != prev + 1:
                trace("ack_jump", p=p, prev=prev, offset=off)
            last_ack[p] = off
        return orig_ack(self, message)

    C.ack = ack

    # The drain loop (Consumer._drain_messages) drops a message when offset < _read_offset[tp]:
    # record, at the moment getmany yields it, which messages will be dropped, and every jump in
    # the offsets yielded per partition.
    orig_getmany = C.getmany
    last_yield: dict[int, int] = {}

    async def getmany(self: Any, timeout: float) -> Any:
        async for tp, message in orig_getmany(self, timeout):
            if tp.topic == topic:
                r = self._read_offset.get(tp)
                p, off = tp.partition, message.offset
                if r is not None and off < r:
                    trace("drop", p=p, offset=off, read_offset=r,
                          committed=self._committed_offset.get(tp))
                prev = last_yield.get(p)
                if prev is None or off != prev + 1:
                    trace("yield_jump", p=p, prev=prev, offset=off, read_offset=r,
                          committed=self._committed_offset.get(tp))
                last_yield[p] = off
            yield tp, message

    C.getmany = getmany


def worker_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--trace")
    ap.add_argument("--fix", action="store_true")
    ap.add_argument("--work-ms", type=float, default=0.0)
    ap.add_argument("--fetch-wait-ms", type=int, default=100)
    ap.add_argument("--faust-assignor", action="store_true")
    ap.add_argument("--faust-defaults", action="store_true")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args(argv)

    import asyncio

    import faust
    import mode.loop

    from veille.app import create_app
    from veille.settings import Settings

    if args.fix:
        from veille import faust_fixes
        faust_fixes.install()
    trace = None
    if args.trace:
        trace = Trace(args.trace, args.src)
        install_trace(trace)

    s = Settings.from_env({}, broker_url=f"kafka://{args.broker}", app_id=args.app_id,
                          data_dir=args.data_dir, topic_partitions=PARTITIONS,
                          broker_rebalance_timeout=3.0, broker_session_timeout=6.0,
                          broker_heartbeat_interval=1.0,
                          consumer_fetch_max_wait_ms=args.fetch_wait_ms)
    if args.faust_defaults:
        # faust.App with its own defaults (fetch_max_wait 1500 ms, 1 standby replica so Faust's
        # PartitionAssignor, ...), only the short group timeouts and a data dir of its own.
        Path(args.data_dir).mkdir(parents=True, exist_ok=True)
        app = faust.App(args.app_id, broker=f"kafka://{args.broker}", datadir=args.data_dir,
                        topic_partitions=PARTITIONS, web_enabled=False,
                        broker_rebalance_timeout=3.0, broker_session_timeout=6.0,
                        broker_heartbeat_interval=1.0)
    else:
        app = create_app(s)
    if args.faust_assignor:
        # Faust's own default (1 standby): the worker consumer then uses Faust's
        # PartitionAssignor, as any app with a table does, instead of aiokafka's round robin.
        app.conf.table_standby_replicas = 1
    kw: dict[str, Any] = dict(key_type=bytes, value_type=bytes, key_serializer="raw",
                              value_serializer="raw")
    src, dst = app.topic(args.src, **kw), app.topic(args.dst, **kw)

    work = args.work_ms / 1000.0
    counts = app.Table("counts", default=int, partitions=PARTITIONS) if args.table else None

    @app.agent(src)
    async def forward(stream: Any) -> None:
        async for key, value in stream.items():
            if work:
                await asyncio.sleep(work)  # an agent that waits on something per message
            if counts is not None:
                counts[key] += 1  # a changelog write per message, as a de-duplication table does
            fut = await dst.send(key=key, value=value)
            if trace is not None:
                fut.add_done_callback(  # type: ignore[attr-defined]
                    lambda f, v=value: f.exception() is not None and trace(
                        "send_failed", id=v.decode(), error=repr(f.exception())))

    mode.loop.use("uvloop")
    faust.Worker(app, loglevel="info", quiet=True, override_logging=True).execute_from_commandline()


# --------------------------------------------------------------------------------------------
# Orchestrator.
# --------------------------------------------------------------------------------------------

def start_worker(name: str, args: argparse.Namespace, run: dict[str, Any]) -> subprocess.Popen:
    work: Path = run["dir"]
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", "--name", name,
           "--broker", run["bootstrap"], "--app-id", run["app_id"], "--src", run["src"],
           "--dst", run["dst"], "--data-dir", str(work / f"data-{name}")]
    if args.trace:
        cmd += ["--trace", str(work / f"trace-{name}.jsonl")]
    if args.fix:
        cmd += ["--fix"]
    if args.work_ms:
        cmd += ["--work-ms", str(args.work_ms)]
    cmd += ["--fetch-wait-ms", str(args.fetch_wait_ms)]
    if args.faust_assignor:
        cmd += ["--faust-assignor"]
    if args.faust_defaults:
        cmd += ["--faust-defaults"]
    if args.table:
        cmd += ["--table"]
    log = open(work / f"worker-{name}.log", "wb")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work, env=env,
                            start_new_session=True)


def wait_ready(proc: subprocess.Popen, log: Path, after: int = 0, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
        if b"Worker]: Ready" in log.read_bytes()[after:]:
            return
        time.sleep(0.2)
    raise SystemExit(f"worker not ready:\n{log.read_text(errors='replace')[-3000:]}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    from kafka import TopicPartition
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="handback-admin")
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        got = admin.list_group_offsets({group: tps})[group]
    finally:
        admin.close()
    return {tp.partition: om.offset for tp, om in got.items() if tp.topic == topic}


def read_all(bootstrap: str, topic: str, quiet_s: float = 3.0) -> tuple[list[Any], dict[int, int]]:
    """Every record of topic, and the fetch high watermark of each partition (not ListOffsets)."""
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=50,
                      max_partition_fetch_bytes=4 << 20)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    out: list[Any] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet_s:
        batch = c.poll(timeout_ms=200, max_records=20000)
        for recs in batch.values():
            out.extend(recs)
            last = time.monotonic()
    hw = {tp.partition: c.highwater(tp) for tp in tps}
    c.close()
    return out, hw


def produce(bootstrap: str, topic: str, n: int, rate: float, placed: dict[int, tuple[int, int]],
            done: threading.Event) -> None:
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=-1)
    futures = []
    t0 = time.monotonic()
    step = 20
    for start in range(0, n, step):
        for i in range(start, min(n, start + step)):
            futures.append((i, p.send(topic, key=str(i).encode(), value=str(i).encode(),
                                      partition=i % PARTITIONS)))
        delay = t0 + (start + step) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    p.flush()
    for i, f in futures:
        md = f.get(30)
        placed[i] = (md.partition, md.offset)
    p.close()
    done.set()


def one_run(args: argparse.Namespace, bootstrap: str, base: Path, k: int) -> dict[str, Any]:
    from kafka.admin import KafkaAdminClient, NewTopic

    tag = uuid.uuid4().hex[:6]
    run: dict[str, Any] = {"bootstrap": bootstrap, "app_id": f"handback-{tag}", "src": f"hb{tag}.in",
           "dst": f"hb{tag}.out", "dir": base / f"run{k}-{tag}"}
    run["dir"].mkdir(parents=True)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="handback-admin")
    admin.create_topics([NewTopic(run["src"], PARTITIONS, 1), NewTopic(run["dst"], PARTITIONS, 1)])
    admin.close()

    a = start_worker("A", args, run)
    try:
        return _drive(args, bootstrap, run, k, a)
    finally:
        stop(a)


def _drive(args: argparse.Namespace, bootstrap: str, run: dict[str, Any], k: int,
           a: subprocess.Popen) -> dict[str, Any]:
    wait_ready(a, run["dir"] / "worker-A.log")
    placed: dict[int, tuple[int, int]] = {}
    done = threading.Event()
    t0 = time.monotonic()
    threading.Thread(target=produce, args=(bootstrap, run["src"], args.n, args.rate, placed, done),
                     daemon=True).start()
    time.sleep(max(0.0, t0 + args.join - time.monotonic()))
    b = start_worker("B", args, run)
    try:
        time.sleep(max(0.0, t0 + args.leave - time.monotonic()))
    finally:
        rc_b = stop(b)
    t_leave = time.monotonic() - t0
    done.wait(args.n / args.rate + 60)
    # Let A catch up, then look at the group's committed offsets while A still runs.
    time.sleep(args.settle)
    committed = committed_offsets(bootstrap, run["app_id"], run["src"])
    _, hw_in = read_all(bootstrap, run["src"], quiet_s=1.0)
    out, _ = read_all(bootstrap, run["dst"])
    rc_a = stop(a)
    committed_after_a = committed_offsets(bootstrap, run["app_id"], run["src"])

    seen = collections.Counter(int(r.value) for r in out)
    lost = sorted(i for i in range(args.n) if i not in seen)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    lost_by_p: dict[int, list[int]] = collections.defaultdict(list)
    for i in lost:
        p, off = placed[i]
        lost_by_p[p].append(off)

    print(f"\nrun {k}: app {run['app_id']}, B stopped at {t_leave:.1f} s (rc {rc_b}), A rc {rc_a}, "
          f"work dir {run['dir']}")
    print(f"  produced {len(placed)}, output {len(out)}, distinct {len(seen)}, "
          f"LOST {len(lost)}, duplicates {dups}")
    print("  part  log end (fetch HW)  committed (A running)  committed (A stopped)  lost offsets")
    for p in range(PARTITIONS):
        lo = lost_by_p.get(p, [])
        shown = ",".join(map(str, lo[:8])) + ("..." if len(lo) > 8 else "")
        print(f"  {p:>4}  {hw_in.get(p, -1):>18}  {committed.get(p, -1):>21}  "
              f"{committed_after_a.get(p, -1):>21}  {shown}")
    if args.trace:
        summarize_traces(run["dir"], lost_by_p)
    return {"lost": len(lost), "dups": dups,
            "stuck": sum(1 for p in range(PARTITIONS) if committed.get(p, -1) < hw_in.get(p, 0))}


def summarize_traces(work: Path, lost_by_p: dict[int, list[int]]) -> None:
    for name in ("A", "B"):
        path = work / f"trace-{name}.jsonl"
        if not path.exists():
            continue
        evs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        drops = [e for e in evs if e["ev"] == "drop"]
        refused = [e for e in evs if e["ev"] == "commit_refused"]
        late = [e for e in evs if e["ev"] == "late_ack"]
        skips = [e for e in evs if e["ev"] == "skip_ack"]
        failed = [e for e in evs if e["ev"] == "send_failed"]
        rebal = [e for e in evs if e["ev"] in ("revoke", "assign")]
        print(f"  worker {name}: {len(rebal)} revoke/assign callbacks, {len(drops)} messages "
              f"dropped by the drain loop, {len(refused)} refused commits, {len(late)} late acks, "
              f"{len(skips)} messages acked unprocessed (stream skip), "
              f"{len(failed)} output sends failed")
        for e in failed[:5]:
            print(f"    send failed: id {e['id']}: {e['error']}")
        by_p: dict[int, list[int]] = collections.defaultdict(list)
        for e in drops:
            by_p[e["p"]].append(e["offset"])
        for p, offs in sorted(by_p.items()):
            first = next(e for e in drops if e["p"] == p)
            lost_here = sorted(set(offs) & set(lost_by_p.get(p, [])))
            print(f"    p{p}: dropped {len(offs)} ({min(offs)}..{max(offs)}), read_offset was "
                  f"{first['read_offset']}, committed {first['committed']}; "
                  f"of them lost: {len(lost_here)}")
        for e in refused[:10]:
            print(f"    commit refused p{e['p']}: committed {e['committed']}, acked "
                  f"min/max/n {e['acked']}, gap {e['gap']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--n", type=int, default=16000)
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--join", type=float, default=10.0, help="B starts this many s after A")
    ap.add_argument("--leave", type=float, default=30.0, help="B gets SIGTERM at this time")
    ap.add_argument("--settle", type=float, default=15.0, help="wait after the producer ends")
    ap.add_argument("--broker", help="bootstrap host:port of a running broker (default: Tansu)")
    ap.add_argument("--fix", action="store_true", help="workers install veille.faust_fixes")
    ap.add_argument("--work-ms", type=float, default=0.0,
                    help="the agent awaits this long per message (builds a backlog)")
    ap.add_argument("--fetch-wait-ms", type=int, default=100,
                    help="the workers' fetch_max_wait_ms (Faust's own is 1500; veille sets 100)")
    ap.add_argument("--faust-assignor", action="store_true",
                    help="table_standby_replicas=1 (Faust's default): Faust's PartitionAssignor, "
                    "as with any table, instead of round robin")
    ap.add_argument("--faust-defaults", action="store_true",
                    help="workers use faust.App's defaults instead of veille's create_app")
    ap.add_argument("--table", action="store_true",
                    help="the agent also counts per key in a Faust table (changelog, recovery)")
    ap.add_argument("--no-trace", dest="trace", action="store_false")
    ap.add_argument("--workdir", help="keep logs and traces here (default: a temp dir)")
    args = ap.parse_args()

    base = Path(args.workdir or tempfile.mkdtemp(prefix="handback-"))
    base.mkdir(parents=True, exist_ok=True)
    broker = None
    if args.broker:
        bootstrap = args.broker
    else:
        from veille.broker import EmbeddedBroker, free_port

        broker = EmbeddedBroker(free_port(), log_path=base / "tansu.log").start()
        bootstrap = broker.bootstrap
    results = []
    try:
        for k in range(args.runs):
            results.append(one_run(args, bootstrap, base, k))
    finally:
        if broker is not None:
            broker.stop()
    print(f"\n{'fix' if args.fix else 'no fix'}, {args.runs} run(s): lost per run "
          f"{[r['lost'] for r in results]}, duplicates {[r['dups'] for r in results]}, "
          f"partitions with committed < log end {[r['stuck'] for r in results]}")


if __name__ == "__main__":
    main()
