#!/usr/bin/env python3
"""What the Jetstream collector costs per event: all of Bluesky's posts go through it.

usage: python bench/jetstream_events.py [--brands 5,300] [--events 20000] [--naming 0.01]

Jetstream events are generated as the real ones read (a post created: its DID, time_us, commit,
record with text, createdAt and langs), a share `--naming` of them naming a brand of a generated
watch list (bench/many_brands.py's: names, aliases, hashtags, keywords, exclusions; the texts
its renamed demo mentions), the others a sentence naming none, as nearly all of the network's
posts. Each is handed to the collector as the socket gives it (JetstreamCollector._event: the
event read, the watch list matched, a post naming a brand mapped and validated, the cursor
moved); nothing is sent (the batch is emptied between passes). The best of three passes, in µs
an event and events a second of one core.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OTHER = ("je pense que le temps est vraiment beau aujourd'hui", "what a game last night, wow",
         "new blog post about gardening in the spring", "café avec les collègues ce matin",
         "anyone else watching the eclipse later?")


def events(texts: list[str], n: int, naming: float, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    now = int(time.time() * 1e6)
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    out = []
    for i in range(n):
        text = rng.choice(texts) if rng.random() < naming else f"{rng.choice(OTHER)} {i}"
        out.append(json.dumps({
            "did": f"did:plc:{rng.getrandbits(120):030x}", "time_us": now + i, "kind": "commit",
            "commit": {"rev": "3l3qo2vutsw2b", "operation": "create",
                       "collection": "app.bsky.feed.post", "rkey": f"3l3qo2v{i:06d}",
                       "record": {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": created, "langs": ["fr"]},
                       "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi"}}))
    return out


def measure(brands: int, n: int, naming: float) -> tuple[float, int]:
    from many_brands import generate, texts
    from prometheus_client import CollectorRegistry

    from veille.collectors.jetstream import JetstreamCollector
    from veille.metrics import CollectorMetrics
    from veille.rules import Watchlist
    from veille.settings import Settings

    data = generate(brands)
    stream = events(texts(data, 6000), n, naming)
    with tempfile.TemporaryDirectory() as tmp:
        collector = JetstreamCollector(Settings.from_env({}, collector_state_dir=tmp),
                                       CollectorMetrics(CollectorRegistry()),
                                       watchlist=Watchlist.from_dict(data))
        best, matched = float("inf"), 0
        for _ in range(3):
            collector._batch.clear()
            collector.book.pending.clear()
            collector.book.recent.clear()
            t0 = time.perf_counter()
            for raw in stream:
                collector._event(raw)
            best = min(best, time.perf_counter() - t0)
            matched = len(collector._batch)
    return best / n * 1e6, matched


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brands", default="5,300")
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--naming", type=float, default=0.01, help="share of posts naming a brand")
    args = p.parse_args()
    print("| brands | µs an event | events/s of one core | posts naming a brand |")
    print("|--:|--:|--:|--:|")
    for brands in (int(x) for x in args.brands.split(",")):
        us, matched = measure(brands, args.events, args.naming)
        print(f"| {brands} | {us:.1f} | {1e6 / us:,.0f} | {matched} of {args.events:,} |")


if __name__ == "__main__":
    main()
