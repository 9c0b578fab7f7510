#!/usr/bin/env python3
"""Two checkouts of veille's moderation API on the same moderation topics: start, memory, answers.

usage: python bench/moderation_api_compare.py [--n 100000] OLD_CHECKOUT NEW_CHECKOUT

Fills the three moderation topics with N generated cases (bench/moderation_tools.py's generate:
2,000 a day up to now, 2-3 % pending), then starts `veille moderate serve` of each checkout in
turn (its own code: PYTHONPATH and working directory), one after the other, and gives for each:
the seconds from its start to its first `GET /cases` 200, its resident memory then and its peak
until then (VmHWM: its first read). Then asks both the same questions, the moment in them fixed
(the pending cases, sorted and filtered; `GET /closed` day by day over the 30 days the API keeps;
`GET /cases/{id}` of 500 case ids, pending, closed, forgotten and never queued) and counts the
answers that differ (`detail` texts aside): 0 when a change keeps the API's answers. And
compares the outputs of `veille moderate list`, `closed`, `show` and the report of both (with
--keep DIR, written there as old-* and new-*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import moderation_tools as mt  # noqa: E402

from veille.broker import EmbeddedBroker, free_port  # noqa: E402

DAY = 86400


def status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=900) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def without_detail(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: without_detail(v) for k, v in x.items() if k != "detail"}
    if isinstance(x, list):
        return [without_detail(v) for v in x]
    return x


def questions(now: float, ids: list[str]) -> list[str]:
    out = ["/cases?limit=1000", "/cases?limit=1000&sort=respond_by",
           "/cases?limit=1000&brand=acme&category=insult", "/cases?limit=1000&unassigned=true",
           "/cases?limit=1000&assignee=alice"]
    for d in range(30):  # the API refuses a `since` older than its 30 days
        since = int(now - (d + 1) * DAY) if d < 29 else int(now - 30 * DAY + 3600)
        out.append(f"/closed?limit=1000&since={since}&until={int(now - d * DAY + 60)}")
    return out + [f"/cases/{case_id}" for case_id in ids]


def serve(root: Path, env: dict[str, str], workdir: Path, asked: list[str]
          ) -> tuple[float, float, float, list[Any]]:
    port = free_port()
    log = open(workdir / f"api-{root.name}.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "veille.cli", "moderate", "serve", "--port",
                             str(port)], env=dict(env, PYTHONPATH=str(root)), cwd=root,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{root}: the API stopped:\n"
                                 f"{(workdir / f'api-{root.name}.log').read_text()[-3000:]}")
            try:
                if get(port, "/cases?limit=20")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        dt = time.perf_counter() - t0
        rss, peak = status_mb(proc.pid, "VmRSS:"), status_mb(proc.pid, "VmHWM:")
        return dt, rss, peak, [without_detail(get(port, path)) for path in asked]
    finally:
        proc.terminate()
        proc.wait(30)


def tool_outputs(root: Path, env: dict[str, str], now: float, case_id: str) -> list[bytes]:
    """What `veille moderate list`, `closed`, `show` and `veille moderation report` print (as
    bench/moderation_tools.py --keep writes them), run from `root`."""
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    out = []
    for args in (["moderate", "list", "--json"], ["moderate", "list", "--limit", "50"],
                 ["moderate", "closed", "--json", "--since", "2000-01-01", "--until", until],
                 ["moderation", "report", "--until", until], ["moderate", "show", case_id, "--json"]):
        proc = subprocess.run([sys.executable, "-m", "veille.cli", *args], cwd=root,
                              env=dict(env, PYTHONPATH=str(root)), capture_output=True, timeout=900)
        out.append(proc.stdout + b"exit %d" % proc.returncode)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="cases on the topics")
    ap.add_argument("--keep", type=Path, help="write both checkouts' tool outputs to this directory")
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    args = ap.parse_args()
    now = time.time()
    records, pending = mt.generate(args.n, 2000.0, 0.03, now)
    ids = sorted({r["case_id"] for _, _, r in records})
    asked = questions(now, random.Random(3).sample(ids, 395) + pending[:100]
                      + [f"never-{i}" for i in range(5)])
    workdir = Path(tempfile.mkdtemp(prefix="veille-bench-api-"))
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log").start()
    try:
        s = mt.fresh_topics(broker)
        asyncio.run(mt.fill(s, records))
        env = mt.env_of(s, workdir)
        outputs = [tool_outputs(root.resolve(), env, now, pending[0]) for root in (args.old, args.new)]
        answers = []
        for root in (args.old, args.new):
            dt, rss, peak, got = serve(root.resolve(), env, workdir, asked)
            answers.append(got)
            print(f"{root}: first GET /cases 200 after {dt:.2f} s; resident memory then "
                  f"{rss:.0f} MB, peak {peak:.0f} MB", flush=True)
    finally:
        broker.stop()
    differ = [path for path, a, b in zip(asked, *answers, strict=True) if a != b]
    codes = [status for status, _ in answers[0]]
    print(f"{args.n:,} cases ({len(pending):,} pending): {len(asked)} answers compared "
          f"({codes.count(200)} 200, {codes.count(404)} 404), {len(differ)} differ"
          + (f": {differ[:10]}" if differ else ""))
    # (`list`'s table shows the waiting and due times at the moment it runs: a minute apart,
    # they may differ by one.)
    names = ("`moderate list --json`", "`list --limit 50`", "`closed --json`", "the report",
             "`show --json`")
    files = ("list.json", "list.txt", "closed.json", "report.txt", "show.json")
    same = [name for name, a, b in zip(names, *outputs, strict=True) if a == b]
    print(f"{len(same)} of {len(names)} tool outputs byte for byte the same: {', '.join(same)}"
          + ("" if len(same) == len(names) else f"; differ: {', '.join(sorted(set(names) - set(same)))}"))
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        for file, a, b in zip(files, *outputs, strict=True):
            (args.keep / f"old-{file}").write_bytes(a)
            (args.keep / f"new-{file}").write_bytes(b)


if __name__ == "__main__":
    main()
