#!/usr/bin/env python3
"""The Jetstream collector end to end: a burst of events over a real socket, to a real broker.

usage: python bench/jetstream_stream.py [--events 100000] [--brands 300] [--naming 0.01]

One EmbeddedBroker (Tansu), a local aiohttp WebSocket server sending `--events` generated post
events (bench/jetstream_events.py's: a share `--naming` of them naming a brand of
bench/many_brands.py's generated watch list) as fast as it can, and `veille collect jetstream`
in its own process, live from its start. Measured: how long after the collector's start its
saved cursor reaches the last event (its start-up and its cursor saves, every 5 s, included),
the mentions it sent (its /metrics), and its resident memory then (VmRSS, VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def status_mb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return -1


def sent(port: int) -> float:
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in page.splitlines():
        if line.startswith('veille_collector_items_sent_total{collector="jetstream"}'):
            return float(line.split()[-1])
    return -1.0


async def run(n: int, brands: int, naming: float) -> None:
    from aiohttp import web
    from jetstream_events import events
    from many_brands import generate, texts, to_toml

    from streams.topics import ensure_topics
    from veille.broker import EmbeddedBroker, free_port
    from veille.settings import Settings

    data = generate(brands)
    stream = events(texts(data, 6000), n, naming)
    last = json.loads(stream[-1])["time_us"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "watchlist.toml").write_text(to_toml(data), encoding="utf-8")
        broker = EmbeddedBroker(free_port(), log_path=work / "broker.log").start()
        done = asyncio.Event()

        async def subscribe(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            t0 = time.perf_counter()
            for raw in stream:
                await ws.send_str(raw)
            print(f"server: {n:,} events sent in {time.perf_counter() - t0:.1f} s", flush=True)
            await done.wait()
            return ws

        app = web.Application()
        app.router.add_get("/subscribe", subscribe)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        metrics_port = free_port()
        settings = Settings.from_env({}, broker_url=broker.url)
        ensure_topics(settings)
        env = {**os.environ, "VEILLE_BROKER_URL": broker.url,
               "VEILLE_WATCHLIST": str(work / "watchlist.toml"),
               "VEILLE_JETSTREAM_URL": f"ws://127.0.0.1:{runner.addresses[0][1]}/subscribe",
               "VEILLE_COLLECTOR_STATE_DIR": str(work / "collectors"),
               "VEILLE_COLLECTOR_METRICS_PORT": str(metrics_port), "VEILLE_LOG_LEVEL": "WARNING",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", ""))
                                             if p)}
        proc = subprocess.Popen([sys.executable, "-m", "veille.collectors.jetstream"], env=env)
        t0 = time.monotonic()
        cursor_file = work / "collectors" / "jetstream" / "cursor.json"
        try:
            while time.monotonic() - t0 < 600:
                await asyncio.sleep(0.5)
                try:
                    cursor = json.loads(cursor_file.read_text())["cursor"]
                except (OSError, ValueError, KeyError):
                    continue
                if cursor == last:
                    print(f"collector: cursor at the last event {time.monotonic() - t0:.1f} s "
                          f"after its start; {sent(metrics_port):,.0f} mentions sent; resident "
                          f"memory {status_mb(proc.pid, 'VmRSS')} MB (peak "
                          f"{status_mb(proc.pid, 'VmHWM')} MB)", flush=True)
                    break
            else:
                print("collector: not caught up in 10 minutes", flush=True)
        finally:
            done.set()
            proc.terminate()
            proc.wait(60)
            await runner.cleanup()
            broker.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--brands", type=int, default=300)
    p.add_argument("--naming", type=float, default=0.01, help="share of posts naming a brand")
    args = p.parse_args()
    asyncio.run(run(args.events, args.brands, args.naming))


if __name__ == "__main__":
    main()
