#!/usr/bin/env python3
"""Where a mention's enrichment time goes: each part timed alone, in microseconds per mention.

usage: python bench/enrich_parts.py [--n 6000] [--texts real|generated]

No profiler (cProfile inflates code made of many small calls, such as VADER, several times):
each part of the enrichment stage's per-mention work runs alone over the same mentions, with
time.perf_counter around the whole loop, and the planning step of agents/enrich.py runs whole at
the end (validation to encoding, de-duplication, by-brand records and metrics). Raw VADER on
the same texts is the reference, as in bench/suite.py. The mentions are those of the suite:
real tweets (English and French alternately, each naming a watched brand) or the demo
generator's.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from enrich_throughput import (  # noqa: E402
    TP,
    Rec,
    machine,
    mentions,
    print_table,
    rate_unseen,
    real_mentions,
)

#: Share of the mentions repeating a recent text in the last row.
REPEAT_SHARE = 0.3


def per_item_us(fn: Callable[[Any], Any], items: Sequence[Any], repeat: int = 3) -> float:
    """Best of `repeat` passes over items, microseconds per item."""
    fn(items[0])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best / len(items) * 1e6


def _planner_pass(Planner: Any, Enricher: Any, Names: Any, DedupWindow: Any, Analyzer: Any,
                  Limits: Any, watchlist: Any, metrics: Any, warm: Sequence[Any],
                  timed: Sequence[Any], begin: Callable[[], None]) -> float:
    """One pass of the whole step as main() times it (fresh analyzer, warmed on `warm`): seconds
    spent planning `timed`; `begin()` is called between the two."""
    from agents.enrich import PLAN_SLICE

    planner = Planner(Enricher(Analyzer(), watchlist, Limits()), metrics,
                      Names("raw", "enriched", "dlq", "queue", "by_brand"),
                      {0: DedupWindow(86_400, 1_000_000)}, brand_partitions=4)
    for i in range(0, len(warm), PLAN_SLICE):
        planner.plan({TP("raw", 0): warm[i:i + PLAN_SLICE]})
    begin()
    t0 = time.perf_counter()
    for i in range(0, len(timed), PLAN_SLICE):
        planner.plan({TP("raw", 0): timed[i:i + PLAN_SLICE]})
    return time.perf_counter() - t0


def parts_inside(planner_pass: Callable[[Callable[[], None]], float], n: int) -> list[tuple[str, float]]:
    """The parts timed inside the whole step, µs per mention: each of the stage's calls wrapped
    in a perf_counter timer for one pass (best of 2), the rest being the whole less their sum.

    Timed alone, the parts summed to about 45 µs less than the whole (2026-12-06, real texts,
    slices of 100): language identification and the scorers alone keep their tables in the CPU
    caches, where the stage runs them a slice at a time between the other steps (detect_many:
    39 µs alone, 50-53 interleaved with scoring or triage; the slice is 300 since, for that
    reason), and the stage's own work (the outcome
    and enriched record, by-brand signals, de-duplication, metrics tally, the loops of
    handle_many and take) is in no part. A wrapper costs about 0.1 µs a call, subtracted."""
    import agents.enrich as stage
    from streams.records import EnrichedMention
    from veille.metrics import EnrichedTally
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer

    wrapped = [
        ("validation and JSON decoding (parse_raw)", stage, "parse_raw"),
        ("language identification (detect_many)", Analyzer, "detect_many"),
        ("sentiment scorers", Analyzer, "score"),
        ("watch rules", Watchlist, "match"),
        ("moderation triage (with the brands' charter)", stage.Enricher, "_triage"),
        ("the outcome: arrival time, EnrichedMention, queue item", stage.Enricher, "_outcome"),
        ("encoding the enriched record (to_json)", EnrichedMention, "to_json"),
        ("by-brand signal (brand_signal)", stage, "brand_signal"),
        ("metrics tally", EnrichedTally, "observe_enriched"),
        ("metrics tally", EnrichedTally, "apply"),
    ]
    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    originals = [(owner, attr, owner.__dict__[attr]) for _, owner, attr in wrapped]

    def timer(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + clock() - t0
                calls[name] = calls.get(name, 0) + 1
        return timed

    noop = timer("noop", lambda: None)
    for _ in range(100_000):
        noop()
    cost = spent.pop("noop") / calls.pop("noop")
    best: tuple[float, dict[str, float], dict[str, int]] | None = None

    def begin() -> None:
        spent.clear()
        calls.clear()

    try:
        for (name, owner, attr), (_, _, fn) in zip(wrapped, originals, strict=True):
            setattr(owner, attr, timer(name, fn))
        for _ in range(2):
            whole = planner_pass(begin)
            if best is None or whole < best[0]:
                best = (whole, dict(spent), dict(calls))
    finally:
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)
    assert best is not None
    whole, spent, calls = best
    # A wrapper's own cost falls in part in its caller: taken off the whole too.
    overhead = cost * sum(calls.values())
    rows = [(name, (spent[name] - cost * calls[name]) / n * 1e6) for name in dict.fromkeys(
        name for name, _, _ in wrapped) if name in spent]
    rest = (whole - overhead) / n * 1e6 - sum(us for _, us in rows)
    return rows + [("the rest (loops of handle_many, take and plan; de-duplication, records)", rest),
                   ("whole, wrappers' cost taken off", (whole - overhead) / n * 1e6)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000, help="mentions")
    ap.add_argument("--texts", choices=("real", "generated"), default="real")
    args = ap.parse_args()

    from prometheus_client import CollectorRegistry
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    import veille.moderation.triage as triage_module
    from agents.enrich import PLAN_SLICE, Enricher, Names, Planner
    from streams.records import Limits, parse_raw
    from veille.dedup import DedupWindow
    from veille.metrics import Metrics
    from veille.moderation.triage import triage
    from veille.rules import Watchlist
    from veille.sentiment import Analyzer
    from veille.settings import packaged_watchlist

    data = real_mentions(args.n) if args.texts == "real" else mentions(args.n)
    values = [json.dumps(m).encode() for m in data]
    now = datetime.now(UTC)
    watchlist, analyzer = Watchlist.from_toml(packaged_watchlist()), Analyzer()
    raws = [parse_raw(v, now=now, limits=Limits()) for v in values]
    analyses = [analyzer.analyse(r.text, r.language) for r in raws]
    matches = [watchlist.match(r.text) for r in raws]
    vader = SentimentIntensityAnalyzer()
    detector: Any = analyzer.detector

    def triage_of(x: tuple[Any, Any, Any]) -> Any:
        raw, analysis, match = x
        s = analysis.sentiment
        return triage(raw.text, analysis.language, s.label if s else "neutral",
                      s.compound if s else 0.0, match.brands)

    rules_of = triage_module._RULES
    norms = [(triage_module.normalise(triage_module.fold(r.text))[1], a.language)
             for r, a in zip(raws, analyses, strict=True)]

    def patterns(x: tuple[str, str]) -> None:
        for rules in rules_of.get(x[1], triage_module._ANY_LANGUAGE):
            for name in ("threat", "self_harm", "slur", "hate", "person_noun", "targeted_strong",
                         "targeted", "insult_phrase", "detractor", "hostile",
                         "hostile_if_negative", "complaint", "complaint_weak", "addressed"):
                getattr(rules, name).search(x[0])

    def screened(x: tuple[str, str]) -> None:
        for rules in rules_of.get(x[1], triage_module._ANY_LANGUAGE):
            may = triage_module._screen(rules, x[0])
            for name in triage_module._SCREENED:
                if name in may:
                    getattr(rules, name).search(x[0])
            rules.addressed.search(x[0])

    triage_module.prepare()
    for x in norms:  # the prefilters' DFAs are built as texts come: warm them, as a worker's are
        screened(x)

    en = [r.text for r, a in zip(raws, analyses, strict=True) if a.language == "en"]
    fr = [r.text for r, a in zip(raws, analyses, strict=True) if a.language == "fr"]
    reference = per_item_us(vader.polarity_scores, [r.text for r in raws])
    unseen_en = rate_unseen(lambda: type(analyzer.scorers["en"])().score, en)
    unseen_fr = rate_unseen(lambda: type(analyzer.scorers["fr"])().score, fr)
    pairs = [(r.text, r.language) for r in raws]
    slices = [pairs[i:i + PLAN_SLICE] for i in range(0, len(pairs), PLAN_SLICE)]
    parts: list[tuple[str, float]] = [
        ("validation and JSON decoding (parse_raw)",
         per_item_us(lambda v: parse_raw(v, now=now, limits=Limits()), values)),
        ("language identification, a text at a time (fastText, second opinion when unsure)",
         per_item_us(lambda r: detector.detect(r.text), raws)),
        (f"language identification, as the stage runs it: slices of {PLAN_SLICE} (detect_many)",
         per_item_us(detector.detect_many, slices) * len(slices) / len(raws)),
        ("  of which fastText alone", per_item_us(
            lambda r: detector._predict(detector.clean(r.text) + "\n", 3, 0.0, "strict"), raws)),
        # Fresh scorers on texts they have not seen, warmed on others (rate_unseen): the
        # analyzer's own had scored these very texts above, and the French one answered from
        # its memo caches (half the time new mentions take; found in review, 2026-12-05).
        (f"English scorer, {unseen_en[1]:,} texts detected English, unseen",
         1e6 / unseen_en[0]),
        (f"French scorer, {unseen_fr[1]:,} texts detected French, unseen",
         1e6 / unseen_fr[0]),
        ("watch rules (Watchlist.match)", per_item_us(lambda r: watchlist.match(r.text), raws)),
        ("moderation triage, whole", per_item_us(triage_of, list(zip(raws, analyses, matches,
                                                                      strict=True)))),
        ("  of which folding and normalisation", per_item_us(
            lambda r: triage_module.normalise(triage_module.fold(r.text)), raws)),
        ("  of which the 14 rule patterns: RE2 prefilter, then those that may match",
         per_item_us(screened, norms)),
        ("  (the same 14 patterns run one by one, without the prefilter)",
         per_item_us(patterns, norms)),
        ("  of which spam checks", per_item_us(lambda x: triage_module._spam(x[0]), norms)),
        ("encoding the enriched record (to_json)", per_item_us(
            lambda x: x.to_json(), [o.enriched for o in (
                Enricher(analyzer, watchlist).handle(m["id"].encode(), v, None)
                for m, v in zip(data[:2000], values[:2000], strict=True)) if o.enriched])),
    ]
    metrics = Metrics(CollectorRegistry(), watchlist.brand_ids, analyzer.languages)
    records = [Rec("raw", 0, i, m["id"].encode(), v) for i, (m, v) in enumerate(
        zip(data, values, strict=True))]
    # Each pass a fresh analyzer (its scorers' memo caches empty), warmed by planning the first
    # third of the mentions, then timed on the others, which it has not seen. Until 2026-12-05
    # both passes used the analyzer that had analysed these very texts above: the French
    # scorer answered from its caches.
    warm, timed = records[:len(records) // 3], records[len(records) // 3:]

    def planned(warm: Sequence[Any], timed: Sequence[Any]) -> float:
        """µs a mention, best of two passes of the whole step (fresh planner each)."""
        return min(_planner_pass(Planner, Enricher, Names, DedupWindow, Analyzer, Limits,
                                 watchlist, metrics, warm, timed, lambda: None)
                   for _ in range(2)) / len(timed) * 1e6

    whole = planned(warm, timed)
    # The same mentions, but REPEAT_SHARE of them repeating the text of one of the 2,000 before
    # (a new id: retweets, a copied complaint, a bot), as a crisis brings: the stage remembers
    # the analysis of recent texts (agents.enrich.MEMO_SIZE).
    rng = random.Random(7)
    repeated = []
    for i, (m, v) in enumerate(zip(data, values, strict=True)):
        if i and rng.random() < REPEAT_SHARE:
            m = {**m, "id": f"{m['id']}-rt", "text": data[rng.randrange(max(0, i - 2000), i)]["text"]}
            v = json.dumps(m).encode()
        repeated.append(Rec("raw", 0, i, m["id"].encode(), v))
    with_repeats = planned(repeated[:len(repeated) // 3], repeated[len(repeated) // 3:])
    inside = parts_inside(planner_pass=lambda begin: _planner_pass(
        Planner, Enricher, Names, DedupWindow, Analyzer, Limits, watchlist, metrics, warm, timed,
        begin),
        n=len(timed))

    rows = [(f"raw VADER polarity_scores, {len(raws):,} texts (reference)", f"{reference:.1f} µs",
             "1.00")]
    rows += [(name, f"{us:.1f} µs", f"{us / reference:.2f}") for name, us in parts]
    rows.append((f"the enrichment stage's planning step, whole (agents.enrich.Planner), "
                 f"{len(timed):,} unseen",
                 f"{whole:.1f} µs", f"{whole / reference:.2f}"))
    rows += [(f"  inside the whole step: {name}", f"{us:.1f} µs", f"{us / reference:.2f}")
             for name, us in inside]
    rows.append((f"the planning step, whole, {REPEAT_SHARE:.0%} of the mentions repeating a recent "
                 "text (retweets)", f"{with_repeats:.1f} µs", f"{with_repeats / reference:.2f}"))
    print_table(f"enrichment, time per mention by part, {args.texts} texts, "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}", rows,
                value_header="per mention", ratio_header="time / raw VADER time")


if __name__ == "__main__":
    main()
