"""A brand's own terms neutral in its mentions (veille.sentiment.brand_terms), on the demo data.

The demo's generator (veille.demo) picks a sentiment per mention before writing it: this
regenerates the shipped sample (checked byte for byte against veille/data/demo_mentions.jsonl)
with that intended sentiment, and prints per brand the labels and their agreement with it, the
text scored as it is (before 2026-12-07) and the enrichment's way (the brand's valued terms
neutral), then the cost of the step a mention.

    python bench/brand_terms.py
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable as `python bench/brand_terms.py` from a checkout

from agents.enrich import Enricher  # noqa: E402
from veille import demo  # noqa: E402
from veille.rules import Watchlist  # noqa: E402
from veille.sentiment import Analyzer  # noqa: E402
from veille.sentiment.brand_terms import Neutralizer  # noqa: E402

LABELS = ("positive", "neutral", "negative")


def intended_sample() -> list[tuple[dict[str, Any], str]]:
    """The shipped sample's mentions, each with the sentiment the generator meant."""
    picked: list[str] = []
    original = demo._sentiment

    def recording(*args: Any, **kwargs: Any) -> str:
        picked.append(original(*args, **kwargs))
        return picked[-1]

    demo._sentiment = recording  # type: ignore[assignment]
    try:
        mentions = list(demo.generate(demo.SAMPLE_START, demo.SAMPLE_HOURS))
    finally:
        demo._sentiment = original  # type: ignore[assignment]
    shipped = demo.SAMPLE_PATH.read_text(encoding="utf-8").splitlines()
    written = [json.dumps(m, ensure_ascii=False, separators=(",", ":")) for m in mentions]
    if written != shipped:
        raise SystemExit("the generator no longer writes the shipped sample")
    return list(zip(mentions, picked, strict=True))


def table(rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(r[c])) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) if c == 0 else str(v).rjust(w)
                        for c, (v, w) in enumerate(zip(r, widths, strict=True))))


def main() -> int:
    sample = intended_sample()
    analyzer = Analyzer()
    watchlist = Watchlist.from_toml(demo.WATCHLIST_PATH)
    enricher = Enricher(analyzer, watchlist)
    outs = []
    for at in range(0, len(sample), 300):
        part = sample[at:at + 300]
        outs += enricher.handle_many([(m["id"].encode(), json.dumps(m).encode(), None)
                                      for m, _ in part])
    counts: dict[tuple[str, str], Counter[str]] = {}
    agree: dict[tuple[str, str], Counter[bool]] = {}
    costs: dict[bool, list[float]] = {True: [], False: []}
    neutral = Neutralizer(watchlist.brands, analyzer.scorers.values())
    for (mention, meant), out in zip(sample, outs, strict=True):
        m = out.enriched
        if m is None or m.sentiment is None:  # Spanish and German: unscored
            continue
        before = analyzer.score(mention["text"], m.language)
        assert before is not None
        for brand in m.brands or ("(none)",):
            for when, label in (("before", before.label), ("after", m.sentiment.label)):
                counts.setdefault((brand, when), Counter())[label] += 1
                agree.setdefault((brand, when), Counter())[label == meant] += 1
        if m.brands:
            text, brands = mention["text"], m.brands
            sensitive = any(neutral.sensitive_terms(b) for b in brands)
            neutral.text(text, brands)  # its brands' terms once
            runs = 200
            start = time.perf_counter()
            for _ in range(runs):
                neutral.text(text, brands)
            costs[sensitive].append((time.perf_counter() - start) / runs)
    rows: list[list[object]] = [["brand", "when", *LABELS, "agree with the intended"]]
    for (brand, when), c in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] == "after")):
        a = agree[(brand, when)]
        rows.append([brand, when, *(c[label] for label in LABELS),
                     f"{a[True] / (a[True] + a[False]):.1%} of {a[True] + a[False]}"])
    table(rows)
    print()
    for sensitive, times in costs.items():
        times.sort()
        if times:
            print(f"Neutralizer.text, a mention of {'a' if sensitive else 'no'} brand with valued "
                  f"terms: median {times[len(times) // 2] * 1e6:.2f} µs, "
                  f"p90 {times[len(times) * 9 // 10] * 1e6:.2f} µs ({len(times)} mentions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
