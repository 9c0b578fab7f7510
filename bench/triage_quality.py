"""Quality and speed of moderation triage on the hand-labelled French/English set, vs raw VADER speed."""

# The set (bench/data/triage_eval.jsonl) was written by hand for this benchmark: realistic
# social-media phrasing for every category and many hard negatives (slang praise, quoted or
# negated insults, "killer" features, complaints without insults). Each line has a `split`
# fixed by a hash of its text; rules were tuned on "dev" only, so "test" is the honest figure.
# Every text is triaged as a mention of a watched brand, with the default charter, and with
# the sentiment the pipeline would give it (VADER for English, FrenchScorer for French).

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable as `python bench/triage_quality.py` from a checkout

from veille.moderation.triage import CATEGORIES, triage  # noqa: E402
from veille.sentiment import Scorer  # noqa: E402
from veille.sentiment.english import EnglishScorer  # noqa: E402
from veille.sentiment.french import FrenchScorer  # noqa: E402

DATA = ROOT / "bench" / "data" / "triage_eval.jsonl"
BRANDS = ("acme",)


def load(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        unknown = set(row["labels"]) - set(CATEGORIES)
        if unknown:
            sys.exit(f"{path}: {row['id']} has unknown labels {sorted(unknown)}")
    return rows


def prf(gold: Sequence[set[str]], pred: Sequence[set[str]], category: str) -> tuple[float, float, float, int]:
    """Precision, recall, F1 and support of one category (0 when undefined)."""
    tp = sum(1 for g, p in zip(gold, pred, strict=True) if category in g and category in p)
    fp = sum(1 for g, p in zip(gold, pred, strict=True) if category not in g and category in p)
    fn = sum(1 for g, p in zip(gold, pred, strict=True) if category in g and category not in p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp + fn


def micro(gold: Sequence[set[str]], pred: Sequence[set[str]]) -> tuple[float, float, float, int]:
    tp = sum(len(g & p) for g, p in zip(gold, pred, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, pred, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, pred, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp + fn


def table(title: str, rows: list[dict[str, Any]], pred: dict[str, set[str]]) -> None:
    gold = [set(r["labels"]) for r in rows]
    guess = [pred[r["id"]] for r in rows]
    clean = [r for r in rows if not r["labels"]]
    flagged = sum(1 for r in clean if pred[r["id"]])
    print(f"\n{title}: {len(rows)} texts, {len(clean)} with no category "
          f"({flagged} of those flagged: {flagged / max(len(clean), 1):.1%})")
    print(f"{'category':<14} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}")
    f1s = []
    for category in CATEGORIES:
        p, r, f, n = prf(gold, guess, category)
        f1s.append(f)
        print(f"{category:<14} {p:>9.3f} {r:>7.3f} {f:>6.3f} {n:>8}")
    p, r, f, n = micro(gold, guess)
    print(f"{'micro':<14} {p:>9.3f} {r:>7.3f} {f:>6.3f} {n:>8}")
    print(f"{'macro F1':<14} {'':>9} {'':>7} {sum(f1s) / len(f1s):>6.3f}")
    exact = sum(1 for g, p in zip(gold, guess, strict=True) if g == p) / len(rows)
    print(f"{'exact match':<14} {'':>9} {'':>7} {exact:>6.3f}")


def rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Items per second, best of `repeats` passes after one warm-up pass."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA, help="labelled JSONL (default: %(default)s)")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test",
                        help="split of the main table (default: test, the held-out half)")
    parser.add_argument("--errors", action="store_true", help="print the texts triage got wrong")
    parser.add_argument("--repeats", type=int, default=5, help="timing passes (best is kept)")
    args = parser.parse_args(argv)
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        sys.exit("vaderSentiment is not installed (pip install vaderSentiment~=3.3.2)")

    rows = load(args.data)
    scorers: dict[str, Scorer] = {"en": EnglishScorer(), "fr": FrenchScorer()}
    inputs = []
    for row in rows:
        s = scorers[row["language"]].score(row["text"])
        inputs.append((row["text"], row["language"], s.label, s.compound, BRANDS))
    pred = {row["id"]: set(triage(*args_).categories) for row, args_ in zip(rows, inputs, strict=True)}

    chosen = rows if args.split == "all" else [r for r in rows if r["split"] == args.split]
    print(f"Moderation triage on {args.data.name} ({len(rows)} texts, hand-labelled)")
    table(f"{args.split} split, both languages", chosen, pred)
    for language in ("fr", "en"):
        table(f"{args.split} split, {language}", [r for r in chosen if r["language"] == language], pred)
    if args.split == "test":
        dev = [r for r in rows if r["split"] == "dev"]
        table("dev split (the rules were tuned on it: optimistic)", dev, pred)

    if args.errors:
        print(f"\nErrors on the {args.split} split (gold -> predicted)")
        for r in chosen:
            gold, got = set(r["labels"]), pred[r["id"]]
            if gold != got:
                missing = ",".join(c for c in CATEGORIES if c in gold - got)
                extra = ",".join(c for c in CATEGORIES if c in got - gold)
                print(f"  {r['id']:<7} -[{missing}] +[{extra}]  {r['text']}")

    vader = SentimentIntensityAnalyzer()
    texts = [r["text"] for r in rows]

    def run_triage() -> None:
        for text, language, label, compound, brands in inputs:
            triage(text, language, label, compound, brands)

    def run_vader() -> None:
        for text in texts:
            vader.polarity_scores(text)

    triage_rate = rate(run_triage, len(inputs), args.repeats)
    vader_rate = rate(run_vader, len(texts), args.repeats)
    print(f"\nRate on the {len(texts)} texts, one thread (best of {args.repeats} passes)")
    print(f"{'triage':<26} {triage_rate:>10,.0f} texts/s")
    print(f"{'raw VADER polarity_scores':<26} {vader_rate:>10,.0f} texts/s")
    print(f"{'ratio triage / VADER':<26} {triage_rate / vader_rate:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
