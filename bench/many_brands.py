#!/usr/bin/env python3
"""What a watch list of many brands costs: an agency watching 300 brands with one deployment.

usage: python bench/many_brands.py [--brands 5,50,300] [--texts 6000] [--unseen 16000] [--toml-out DIR]

The watch lists are generated (`generate`: made-up names of one to three words, some accented,
each brand with aliases, handles, products, hashtags and now and then an exclusion), and so are
the texts (the packaged demo mentions with their brands' names replaced by generated brands'
terms, a third of them naming none). For each size, one table row per measure:

  * loading the watch list (Watchlist.from_toml of the generated file), and loading it again
    after one brand's edit (an alias added), as a worker following the file does;
  * Watchlist.match per mention, with the prefilter (as the stage runs it) and without it (one
    scan per brand, the way before the prefilter), on texts it has seen (the best of 3 passes);
  * Watchlist.match per mention on texts never seen (`--unseen`, 16,000 by default: generated
    mentions, `veille generate`'s, renamed as above, each once) by a watch list just loaded: the
    mean of all, and of the last quarter (the RE2 prefilter's DFA builds its states as new text
    comes: seen texts are cheaper, and a figure measured on them flatters the worker);
  * the charter of a matched brand (Watchlist.charter_for, twice a mention with a brand);
  * the series the worker's /metrics exports at start (role `all`: enrichment, spike and
    moderation metrics), its size in bytes and the time to render it (a scrape);
  * a scrape's cost, prometheus_client's against veille.exposition's (the same bytes): the
    text and OpenMetrics renders (best of 3; veille's first render apart, when it builds its
    label strings), gzip at the library's level 9 and veille's 1, and the process's CPU time
    for a real HTTP GET as Prometheus 3 sends it (OpenMetrics, gzip) and for plain text;
    the ratio rows compare the two renderers in the same run;
  * the spike agent's per-brand state: a day of traffic through BrandMonitor, then the JSON size
    of its saved state and the memory of the monitors (tracemalloc), and the time to close one
    bucket for every brand (what one tick moving the watermark past a bucket's end costs).

Each figure also has its ratio to the same measure at the smallest size of the same run.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "sa", "li", "no", "vex", "ar", "bel", "cor", "da",
             "ex", "fi", "gal", "hel", "ix", "jor", "kel", "lum", "mar", "nor", "or", "pel", "quin",
             "ros", "sil", "tam", "ul", "vor", "wen", "xa", "yl", "zen", "bré", "cé", "dö", "fé")
WORDS = ("Mobile", "Bank", "Café", "Energy", "Air", "Foods", "Telecom", "Auto", "Labs", "Home",
         "Sport", "Beauty", "Games", "Travel", "Assurance", "Market", "Pharma", "Studio")
PRODUCTS = ("X1", "X2", "Pro", "Max", "One", "Box", "Go", "Plus", "Lite", "Neo")
WHERE = ("fr", "uk", "de")


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def generate(n: int, seed: int = 7) -> dict[str, Any]:
    """A watch list of `n` brands, as its TOML file reads: names unique once folded."""
    from veille.rules import fold

    rng = random.Random(seed)
    brands: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(brands) < n:
        name = _name(rng)
        if rng.random() < 0.3:
            name = f"{name} {rng.choice(WORDS)}"
        if fold(name) in seen:
            continue
        seen.add(fold(name))
        handle = fold(name).replace(" ", "").replace("'", "")
        brand: dict[str, Any] = {
            "id": f"b{len(brands):03d}-{handle[:20]}",
            "name": name,
            "aliases": [f"{name} {rng.choice(WORDS)}", f"@{handle}",
                        f"@{handle}_{rng.choice(WHERE)}", f"@{handle}support"][: rng.randint(2, 4)],
            "keywords": [f"{_name(rng)} {rng.choice(PRODUCTS)}" for _ in range(rng.randint(0, 3))],
            "hashtags": [f"#{handle}", f"#{handle}down"][: rng.randint(1, 2)],
        }
        if rng.random() < 0.1:
            brand["exclude"] = [f"{name} {_name(rng)}"]
        brands.append(brand)
    return {"brands": brands}


def to_toml(data: dict[str, Any]) -> str:
    out = []
    for b in data["brands"]:
        out.append("[[brands]]")
        for key, value in b.items():
            out.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        out.append("")
    return "\n".join(out)


def texts(data: dict[str, Any], n: int, seed: int = 11) -> list[str]:
    """The demo's texts, their brand terms replaced by a generated brand's (a third by none)."""
    demo = [json.loads(line)["text"] for line in
            (ROOT / "veille/data/demo_mentions.jsonl").read_text(encoding="utf-8").splitlines()[:n]]
    return _renamed(data, demo, seed)


def _renamed(data: dict[str, Any], demo: list[str], seed: int) -> list[str]:
    import re

    rng = random.Random(seed)
    mark = re.compile(r"@?acme\w*|@?bor[eé]al\w*|#\w*(?:acme|boreal)\w*|zephyr ?x2|acmephone",
                      re.IGNORECASE)
    brands = data["brands"]
    out = []
    for text in demo:
        b = rng.choice(brands)
        terms = [b["name"], *b["aliases"], *b["keywords"], *b["hashtags"]]
        if rng.random() < 1 / 3:
            out.append(mark.sub("the shop", text))
        else:
            def pick(_m: re.Match[str], terms: list[str] = terms) -> str:
                return rng.choice(terms)

            out.append(mark.sub(pick, text))
    return out


def unseen_texts(data: dict[str, Any], n: int, seed: int = 5) -> list[str]:
    """`n` distinct texts: generated mentions (`veille generate --seed 5`, as many hours as it
    takes), renamed to the watch list's brands as texts() does, each text once."""
    out: list[str] = []
    hours = 30.0
    while len(out) < n:
        out = list(dict.fromkeys(_renamed(data, list(_generated(hours, seed)), seed=11)))[:n]
        hours *= 2
    return out


@functools.cache
def _generated(hours: float, seed: int) -> tuple[str, ...]:
    """The texts of `veille generate --hours H --seed S` (kept: each size of a run reads them)."""
    from datetime import UTC, datetime

    from veille.demo import generate as mentions

    return tuple(m["text"] for m in mentions(datetime(2026, 1, 5, 3, tzinfo=UTC), hours, seed=seed))


def per_call_us(fn: Callable[[Any], Any], items: Sequence[Any], passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def measure(n: int, n_texts: int, toml_dir: Path, n_unseen: int = 16_000) -> dict[str, float]:
    from prometheus_client import CollectorRegistry, generate_latest

    from veille.crisis import BrandMonitor
    from veille.metrics import Metrics, ModerationMetrics, SpikeMetrics
    from veille.rules import Watchlist, fold

    data = generate(n)
    path = toml_dir / f"watchlist-{n}.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    t0 = time.perf_counter()
    wl = Watchlist.from_toml(path)
    load = time.perf_counter() - t0
    # A reload after one brand's edit (an alias added), as the worker follows the file.
    edited = json.loads(json.dumps(data))
    edited["brands"][0]["aliases"] = [*edited["brands"][0].get("aliases", []), "Zorblax Edit"]
    path.write_text(to_toml(edited), encoding="utf-8")
    t0 = time.perf_counter()
    Watchlist.from_toml(path)
    reload = time.perf_counter() - t0
    path.write_text(to_toml(data), encoding="utf-8")
    items = texts(data, n_texts)
    for t in items:  # the RE2 DFAs are built as texts come: warm, as a worker's are
        wl.match(t)
    out: dict[str, float] = {"load_s": load, "reload_s": reload}
    out["match_us"] = per_call_us(wl.match, items)
    fresh = Watchlist(list(wl.brands))  # its prefilter's DFA cold, as after a worker's start
    unseen = unseen_texts(data, n_unseen)
    t0 = time.perf_counter()
    for t in unseen[: len(unseen) * 3 // 4]:
        fresh.match(t)
    t1 = time.perf_counter()
    for t in unseen[len(unseen) * 3 // 4:]:
        fresh.match(t)
    t2 = time.perf_counter()
    out["match_unseen_us"] = (t2 - t0) / len(unseen) * 1e6
    out["match_unseen_last_us"] = (t2 - t1) / (len(unseen) - len(unseen) * 3 // 4) * 1e6
    scan = Watchlist(list(wl.brands))
    scan._prefilters = []  # every brand's regex on every mention (the way before the prefilter)
    out["match_scan_us"] = per_call_us(scan.match, items[: max(500, n_texts // 10)], passes=1)
    matched = [wl.match(t) for t in items]
    out["matched_share"] = sum(1 for m in matched if m.brands) / len(items)
    brand_ids = [m.brands[0] for m in matched if m.brands]
    out["charter_us"] = per_call_us(wl.charter_for, brand_ids)

    registry = CollectorRegistry()
    Metrics(registry, wl.brand_ids, ("en", "fr"))
    SpikeMetrics(registry, wl.brand_ids, 300)
    ModerationMetrics(registry, wl.brand_ids)
    t0 = time.perf_counter()
    page = generate_latest(registry)
    out["scrape_s"] = time.perf_counter() - t0
    lines = [x for x in page.decode().splitlines() if x and not x.startswith("#")]
    out["series"] = len(lines)
    out["series_per_brand"] = sum(1 for x in lines if f'brand="{wl.brand_ids[-1]}"' in x)
    out["page_kb"] = len(page) / 1024
    out.update(scrape_costs(registry, page))

    # A day of traffic for every brand: 288 buckets, a few mentions each.
    rng = random.Random(3)
    words = [fold(t).split() for t in items[:2000]]
    tracemalloc.start()
    monitors = [BrandMonitor(b) for b in wl.brand_ids]
    start = 1_767_225_600
    for k in range(288):
        for m in monitors:
            for j in range(rng.randint(1, 6)):
                m.observe(f"{m.brand}-{k}-{j}", start + k * 300 + j, rng.random() < 0.3,
                          rng.randint(0, 10_000), " ".join(rng.choice(words)), advance=False)
        if k % 48 == 47 or k == 287:
            for m in monitors:
                m.advance(start + k * 300)
                m.reports.clear()  # as the spike agent does once it exported them
    mem, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["monitor_kb"] = mem / 1024 / n
    out["state_kb"] = sum(len(json.dumps(m.to_state())) for m in monitors) / 1024 / n
    for m in monitors:  # one mention each in the next bucket, then the tick that closes it
        m.observe("x", start + 288 * 300 + 1, False, 1, "a b c", advance=False)
    t0 = time.perf_counter()
    for m in monitors:
        m.advance(start + 290 * 300 + 600)
    out["close_all_ms"] = (time.perf_counter() - t0) * 1e3
    return out


#: What Prometheus 3.1 sends (its default scrape_protocols): OpenMetrics first, then gzip.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                     "application/openmetrics-text;version=0.0.1;q=0.4,"
                     "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
                     "text/plain;version=0.0.4;q=0.2,*/*;q=0.1")


def best_of(fn: Callable[[], Any], passes: int = 3) -> float:
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def http_cpu(serve: Callable[..., Any], registry: Any, headers: dict[str, str]) -> float:
    """The process's CPU time (every thread: the server's, and this client's read) for one GET
    /metrics on a real socket, best of 3."""
    import http.client

    server, thread = serve(0, addr="127.0.0.1", registry=registry)
    try:
        best = float("inf")
        for _ in range(3):
            t0 = time.process_time()
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
            conn.request("GET", "/metrics", headers=headers)
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
            conn.close()
            best = min(best, time.process_time() - t0)
        return best
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def scrape_costs(registry: Any, page: bytes) -> dict[str, float]:
    """A scrape's cost, prometheus_client's (generate_latest, its OpenMetrics renderer, gzip at
    its level 9, its server) against veille.exposition's (the same bytes: checked here)."""
    import gzip
    from functools import partial

    from prometheus_client import exposition as library
    from prometheus_client.openmetrics import exposition as openmetrics

    from veille import exposition

    om = partial(openmetrics.generate_latest, escaping=openmetrics.ALLOWUTF8, version="1.0.0")
    render = exposition.Renderer(registry)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    first = render.render()
    out["veille_first_s"] = time.perf_counter() - t0
    again = library.generate_latest(registry)
    if first != again:
        # The process collector's CPU time and memory move between two renders; nothing else.
        differ = [(a, b) for a, b in zip(first.splitlines(), again.splitlines(), strict=True)
                  if a != b and not a.startswith(b"process_")]
        assert not differ, differ[:3]
    out["lib_text_s"] = best_of(lambda: library.generate_latest(registry))
    out["veille_text_s"] = best_of(lambda: render.render())
    out["lib_om_s"] = best_of(lambda: om(registry))
    out["veille_om_s"] = best_of(lambda: render.render(om))
    out["text_ratio"] = out["veille_text_s"] / out["lib_text_s"]
    out["om_ratio"] = out["veille_om_s"] / out["lib_om_s"]
    out["gzip9_s"] = best_of(lambda: gzip.compress(page))
    out["gzip1_s"] = best_of(lambda: gzip.compress(page, compresslevel=exposition.GZIP_LEVEL))
    out["gzip9_kb"] = len(gzip.compress(page)) / 1024
    out["gzip1_kb"] = len(gzip.compress(page, compresslevel=exposition.GZIP_LEVEL)) / 1024
    prometheus = {"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"}
    plain = {"Accept-Encoding": "identity"}
    out["http_lib_s"] = http_cpu(library.start_http_server, registry, prometheus)
    out["http_veille_s"] = http_cpu(exposition.start_http_server, registry, prometheus)
    out["http_ratio"] = out["http_veille_s"] / out["http_lib_s"]
    out["http_lib_plain_s"] = http_cpu(library.start_http_server, registry, plain)
    out["http_veille_plain_s"] = http_cpu(exposition.start_http_server, registry, plain)
    return {(k[:-2] + "_ms" if k.endswith("_s") else k): (v * 1e3 if k.endswith("_s") else v)
            for k, v in out.items()}


ROWS = (
    ("watch list load (from_toml)", "load_s", "{:.3f} s"),
    ("  reloaded after one brand's edit", "reload_s", "{:.3f} s"),
    ("Watchlist.match per mention (prefilter)", "match_us", "{:.1f} µs"),
    ("Watchlist.match, one scan per brand", "match_scan_us", "{:.1f} µs"),
    ("Watchlist.match per mention never seen (prefilter), all", "match_unseen_us", "{:.1f} µs"),
    ("  the last quarter of them", "match_unseen_last_us", "{:.1f} µs"),
    ("texts matching a brand", "matched_share", "{:.0%}"),
    ("Watchlist.charter_for per call", "charter_us", "{:.2f} µs"),
    ("/metrics series at start (role all)", "series", "{:,.0f}"),
    ("  of which one brand's", "series_per_brand", "{:,.0f}"),
    ("/metrics page size", "page_kb", "{:,.0f} KiB"),
    ("/metrics render (one scrape)", "scrape_s", "{:.3f} s"),
    ("  prometheus_client's text render (generate_latest)", "lib_text_ms", "{:.1f} ms"),
    ("  veille's (veille.exposition, same bytes)", "veille_text_ms", "{:.1f} ms"),
    ("    ratio veille / prometheus_client", "text_ratio", "{:.2f}"),
    ("    veille's first render (label strings built)", "veille_first_ms", "{:.1f} ms"),
    ("  prometheus_client's OpenMetrics render (Prometheus 3 asks it)", "lib_om_ms", "{:.1f} ms"),
    ("  veille's OpenMetrics (same bytes)", "veille_om_ms", "{:.1f} ms"),
    ("    ratio veille / prometheus_client", "om_ratio", "{:.2f}"),
    ("  gzip of the text page, level 9 (prometheus_client)", "gzip9_ms", "{:.1f} ms"),
    ("    its size", "gzip9_kb", "{:,.0f} KiB"),
    ("  gzip level 1 (veille)", "gzip1_ms", "{:.1f} ms"),
    ("    its size", "gzip1_kb", "{:,.0f} KiB"),
    ("  HTTP GET as Prometheus 3 (OpenMetrics, gzip), CPU: prometheus_client", "http_lib_ms", "{:.1f} ms"),
    ("    veille's server", "http_veille_ms", "{:.1f} ms"),
    ("    ratio veille / prometheus_client", "http_ratio", "{:.2f}"),
    ("  HTTP GET, text without gzip, CPU: prometheus_client", "http_lib_plain_ms", "{:.1f} ms"),
    ("    veille's server", "http_veille_plain_ms", "{:.1f} ms"),
    ("spike monitor memory per brand, a day learnt", "monitor_kb", "{:.1f} KiB"),
    ("its saved state (JSON) per brand", "state_kb", "{:.1f} KiB"),
    ("closing one bucket for every brand", "close_all_ms", "{:.1f} ms"),
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brands", default="5,50,300")
    p.add_argument("--texts", type=int, default=6000)
    p.add_argument("--unseen", type=int, default=16_000,
                   help="texts never seen for the cold-prefilter row (default 16000)")
    p.add_argument("--toml-out", type=Path, help="keep the generated watch lists in this directory")
    args = p.parse_args()
    sizes = [int(x) for x in args.brands.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        where = args.toml_out or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        results = {n: measure(n, args.texts, where, args.unseen) for n in sizes}
    ref = results[sizes[0]]
    head = f"| measure | {' | '.join(f'{n} brands' for n in sizes)} | ratio {sizes[-1]} / {sizes[0]} |"
    print(head)
    print("|---|" + "--:|" * (len(sizes) + 1))
    for label, key, fmt in ROWS:
        cells = [fmt.format(results[n][key]) for n in sizes]
        ratio = results[sizes[-1]][key] / ref[key] if ref[key] else float("nan")
        print(f"| {label} | {' | '.join(cells)} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
