"""Quality and speed of the French scorer vs English VADER on human-labelled tweets, and what the
enrichment's analysis (language found, then that language's scorer) makes of the same tweets."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable as `python bench/sentiment_quality.py` from a checkout

from veille.sentiment import Analyzer  # noqa: E402
from veille.sentiment.base import label_for  # noqa: E402
from veille.sentiment.french import FrenchScorer  # noqa: E402
from veille.sentiment.langid import LanguageDetector  # noqa: E402

DEFT_DIR = "french-tweets-deft2017"
HUTTO_FILE = "vader-hutto2014/tweets_GroundTruth.dev.txt"
#: DEFT 2017 label ids.
DEFT_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
CLASSES = ("negative", "neutral", "positive")


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 (a class never predicted nor present scores 0)."""
    scores = []
    for cls in CLASSES:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p == cls)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != cls and p == cls)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == cls and p != cls)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold)


def banded(compounds: Sequence[float], band: float) -> list[str]:
    """Label with a symmetric neutral band (base.label_for uses 0.05)."""
    return ["positive" if c >= band else "negative" if c <= -band else "neutral" for c in compounds]


def load_deft(data: Path) -> tuple[list[str], list[str], int]:
    """DEFT 2017 train + val; returns texts, gold labels and the size of the train part."""
    texts: list[str] = []
    gold: list[str] = []
    n_train = 0
    for split in ("train", "val"):
        lines = (data / DEFT_DIR / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
        labels = (data / DEFT_DIR / f"{split}_labels.txt").read_text(encoding="utf-8").splitlines()
        if len(lines) != len(labels):
            sys.exit(f"{DEFT_DIR}/{split}: {len(lines)} texts but {len(labels)} labels")
        texts.extend(lines)
        gold.extend(DEFT_LABELS[label.strip()] for label in labels)
        if split == "train":
            n_train = len(texts)
    return texts, gold, n_train


def load_hutto(data: Path) -> tuple[list[str], list[float]]:
    """Hutto & Gilbert 2014 tweets: id <TAB> mean human rating <TAB> text."""
    texts: list[str] = []
    means: list[float] = []
    for line in (data / HUTTO_FILE).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3:
            means.append(float(parts[1]))
            texts.append(parts[2])
    return texts, means


def hutto_label(mean: float) -> str:
    return "positive" if mean > 0.5 else "negative" if mean < -0.5 else "neutral"


def rate(score: Callable[[str], object], texts: Sequence[str], repeats: int) -> float:
    """Texts per second, best of `repeats` passes after one warm-up pass."""
    for text in texts:
        score(text)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            score(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def print_pipeline(corpora: Sequence[tuple[str, str, Sequence[str], Sequence[str]]]) -> None:
    """The enrichment's analysis on each corpus (no language hint, as from a feed or a webhook):
    the share found in the corpus' language, the share left unscored (a language veille does not
    score, `und` included), and the labels with an unscored tweet counted as neutral (it counts as
    neither negative nor positive in any figure), for the detector as the Analyzer builds it
    (with its scorers' words, `LanguageDetector._by_words`) and for the two models alone."""
    scorers = Analyzer().scorers
    analyzers = [("with the scorers' words", Analyzer(list(scorers.values()))),
                 ("the two models alone", Analyzer(list(scorers.values()), LanguageDetector()))]
    print("\nThe enrichment's analysis, language then scorer (no language hint; unscored counted "
          "as neutral)\n")
    print(f"{'corpus':<30} {'language found by':<24} {'right':>7} {'unscored':>9} {'macro-F1':>9} "
          f"{'accuracy':>9}")
    for corpus, language, texts, gold in corpora:
        for name, analyzer in analyzers:
            found = analyzer.detect_many([(text, None) for text in texts])
            pred = []
            for text, (lang, _) in zip(texts, found, strict=True):
                sentiment = analyzer.score(text, lang)
                pred.append(sentiment.label if sentiment is not None else "neutral")
            right = sum(1 for lang, _ in found if lang == language) / len(texts)
            unscored = sum(1 for lang, _ in found if lang not in scorers) / len(texts)
            print(f"{corpus:<30} {name:<24} {right:>7.1%} {unscored:>9.1%} "
                  f"{macro_f1(gold, pred):>9.3f} {accuracy(gold, pred):>9.3f}")


#: Brands of both languages named in the corpora's tweets by print_brand_names (none of them is
#: a sentiment word of either scorer).
BRAND_NAMES = ("Acme", "Boréal", "Decathlon", "Orange", "SNCF", "Carrefour", "Nike", "Tesla",
               "Ryanair", "Zalando", "Uber", "Fnac")


def print_brand_names(corpora: Sequence[tuple[str, str, Sequence[str]]]) -> None:
    """Every tweet made a mention of a brand, its name (BRAND_NAMES in turn) put before or after
    it, and its language found by the enrichment stage itself (agents.enrich.Enricher, whose
    detector reads a short mention without its brands' names) and by the detector reading the
    whole text, by length of the tweet."""
    import json

    from agents.enrich import Enricher
    from veille.rules import Watchlist

    watchlist = Watchlist.from_dict({"brands": [{"id": f"b{n}", "name": name}
                                                for n, name in enumerate(BRAND_NAMES)]})
    analyzer = Analyzer()
    enricher = Enricher(analyzer, watchlist)
    print("\nA brand named in each tweet (one of 12 names, before or after it): language found "
          "right\n")
    print(f"{'corpus':<30} {'words':>6} {'n':>5} {'tweet alone':>12} {'whole text':>11} "
          f"{'the stage':>10}")
    for corpus, language, texts in corpora:
        for low, high in ((1, 5), (6, 10), (11, 10_000)):
            chosen = [t for t in texts if low <= len(t.split()) <= high]
            alone = sum(1 for lang, _ in analyzer.detect_many([(t, None) for t in chosen])
                        if lang == language)
            whole = stage = 0
            for first in (True, False):
                named = [f"{BRAND_NAMES[n % len(BRAND_NAMES)]} {t}" if first
                         else f"{t} {BRAND_NAMES[n % len(BRAND_NAMES)]}" for n, t in enumerate(chosen)]
                whole += sum(1 for lang, _ in analyzer.detect_many([(t, None) for t in named])
                             if lang == language)
                messages = [(f"m{n}".encode(), json.dumps({
                    "id": f"m{n}", "source": "bench", "platform": "twitter", "text": t,
                    "created_at": "2026-01-01T00:00:00Z"}).encode(), None) for n, t in enumerate(named)]
                outcomes = enricher.handle_many(messages)
                stage += sum(1 for o in outcomes if o.enriched and o.enriched.brands
                             and o.enriched.language == language)
            span = f"{low}-{high}" if high < 10_000 else f"{low}+"
            print(f"{corpus:<30} {span:>6} {len(chosen):>5} {alone / len(chosen):>12.1%} "
                  f"{whole / 2 / len(chosen):>11.1%} {stage / 2 / len(chosen):>10.1%}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="folder with french-tweets-deft2017/ and vader-hutto2014/ (default: ../shared/data)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timing passes (best is kept)")
    args = parser.parse_args(argv)
    data: Path = args.data
    needed = [data / DEFT_DIR / f"{split}_{kind}.txt" for split in ("train", "val")
              for kind in ("text", "labels")] + [data / HUTTO_FILE]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        sys.exit(
            "missing evaluation data: " + ", ".join(str(p) for p in missing)
            + "\n(pass --data DIR pointing at the folder with french-tweets-deft2017/ and "
            "vader-hutto2014/)"
        )
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        sys.exit("vaderSentiment is not installed (pip install vaderSentiment~=3.3.2)")

    french = FrenchScorer()
    vader = SentimentIntensityAnalyzer()

    texts, gold, n_train = load_deft(data)
    fr_compound = [french.score(t).compound for t in texts]
    en_compound = [vader.polarity_scores(t)["compound"] for t in texts]
    fr_pred = [label_for(c) for c in fr_compound]
    en_pred = [label_for(c) for c in en_compound]

    h_texts, h_means = load_hutto(data)
    h_gold = [hutto_label(m) for m in h_means]
    h_compound = [vader.polarity_scores(t)["compound"] for t in h_texts]
    h_pred = [label_for(c) for c in h_compound]
    pearson = float(np.corrcoef(np.array(h_compound), np.array(h_means))[0, 1])

    print("Sentiment quality (labels from compound, thresholds ±0.05 of base.label_for)\n")
    header = f"{'corpus':<30} {'scorer':<14} {'n':>5} {'macro-F1':>9} {'accuracy':>9}"
    print(f"{header} {'pearson r':>10}")
    rows = [
        ("DEFT 2017 fr (train+val)", "FrenchScorer", len(texts),
         macro_f1(gold, fr_pred), accuracy(gold, fr_pred), None),
        ("DEFT 2017 fr (train+val)", "English VADER", len(texts),
         macro_f1(gold, en_pred), accuracy(gold, en_pred), None),
        ("Hutto 2014 en tweets (dev)", "English VADER", len(h_texts),
         macro_f1(h_gold, h_pred), accuracy(h_gold, h_pred), pearson),
    ]
    for corpus, scorer, n, f1, acc, r in rows:
        r_text = f"{r:>10.3f}" if r is not None else f"{'-':>10}"
        print(f"{corpus:<30} {scorer:<14} {n:>5} {f1:>9.3f} {acc:>9.3f} {r_text}")

    print_pipeline([("DEFT 2017 fr (train+val)", "fr", texts, gold),
                    ("Hutto 2014 en tweets (dev)", "en", h_texts, h_gold)])
    print_brand_names([("DEFT 2017 fr (train+val)", "fr", texts),
                       ("Hutto 2014 en tweets (dev)", "en", h_texts)])

    # Neutral band chosen on DEFT train only, then checked on val: does a wider band generalise?
    bands = [round(0.05 * k, 2) for k in range(1, 13)]
    train_f1 = {b: macro_f1(gold[:n_train], banded(fr_compound[:n_train], b)) for b in bands}
    best = max(bands, key=lambda b: train_f1[b])
    val_gold, val_compound = gold[n_train:], fr_compound[n_train:]
    default_val = macro_f1(val_gold, banded(val_compound, 0.05))
    line = f"\nFrenchScorer neutral band picked on train: ±{best:.2f} (F1 {train_f1[best]:.3f})"
    if best == 0.05:
        print(f"{line}, the default; val F1 {default_val:.3f}")
    else:
        best_val = macro_f1(val_gold, banded(val_compound, best))
        print(f"{line}; val F1 {best_val:.3f} vs {default_val:.3f} with the default ±0.05")

    # Cold: a fresh scorer's first pass, every word and chunk unseen (its memo caches are empty).
    fresh = FrenchScorer()
    start = time.perf_counter()
    for text in texts:
        fresh.score(text)
    cold_rate = len(texts) / (time.perf_counter() - start)
    # Warm, as a worker that has run a while: a fresh scorer warmed on the train tweets, timed on
    # the validation tweets, which it has not seen. (Re-scoring the same texts timed its memo
    # caches: twice the rate new mentions get; found in review, 2026-12-05.)
    warm_texts, timed = texts[:n_train], texts[n_train:]
    best = float("inf")
    for _ in range(args.repeats):
        warmed = FrenchScorer()
        for text in warm_texts:
            warmed.score(text)
        start = time.perf_counter()
        for text in timed:
            warmed.score(text)
        best = min(best, time.perf_counter() - start)
    fr_rate = len(timed) / best
    en_rate = rate(vader.polarity_scores, timed, args.repeats)  # no cache: any pass is alike
    print(f"\nScoring rate, one thread (best of {args.repeats})")
    print(f"{'FrenchScorer, warmed':<26} {fr_rate:>10,.0f} texts/s  on the {len(timed)} val "
          f"tweets, warmed on the {len(warm_texts)} train tweets")
    print(f"{'FrenchScorer, cold cache':<26} {cold_rate:>10,.0f} texts/s  a fresh scorer's first "
          f"pass on all {len(texts)}")
    print(f"{'English VADER':<26} {en_rate:>10,.0f} texts/s  on the {len(timed)} val tweets")
    print(f"{'ratio FR / EN':<26} {fr_rate / en_rate:>10.2f}x  (warmed FrenchScorer / VADER)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
