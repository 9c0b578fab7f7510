"""Language identification and per-language sentiment scorers behind one Analyzer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veille.sentiment.base import LABELS, Scorer, Sentiment, label_for

__all__ = ["LABELS", "Analysis", "Analyzer", "Scorer", "Sentiment", "label_for"]


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str
    language_confidence: float
    sentiment: Sentiment | None  # None: no scorer for this language ("unscored")


class Analyzer:
    """Detects the language, then scores with that language's scorer; other languages stay unscored."""

    def __init__(self, scorers: list[Scorer] | None = None, detector: object | None = None) -> None:
        from veille.sentiment.langid import LanguageDetector

        if scorers is None:
            from veille.sentiment.english import EnglishScorer
            from veille.sentiment.french import FrenchScorer

            scorers = [EnglishScorer(), FrenchScorer()]
        self.scorers: dict[str, Scorer] = {s.language: s for s in scorers}
        if detector is None:
            # The scorers' words decide the short texts both language models miss ("arnaque",
            # "scam", "nul" as Romanian): LanguageDetector._by_words.
            detector = LanguageDetector(vocabularies={
                s.language: knows for s in scorers if callable(knows := getattr(s, "knows", None))})
        self.detector = detector

    def prepare(self) -> None:
        """Load now what the detector would load on its first texts (py3langid's model, 0.45 s):
        a worker calls this as its enrichment starts, so its first mentions are not late."""
        prepare = getattr(self.detector, "prepare", None)
        if prepare is not None:
            prepare()

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.scorers)

    def analyse(self, text: str, language_hint: str | None = None) -> Analysis:
        language, confidence = self.detect(text, language_hint)
        return Analysis(language, confidence, self.score(text, language))

    def detect(self, text: str, language_hint: str | None = None) -> tuple[str, float]:
        """(language, confidence): the first half of analyse()."""
        return self.detector.detect(text, language_hint)  # type: ignore[attr-defined, no-any-return]

    def detect_many(self, items: Sequence[tuple[str, str | None]]) -> list[tuple[str, float]]:
        """detect(text, hint) of each (text, hint), in order; at once when the detector can
        (LanguageDetector.detect_many: each model over all the texts, its tables kept warm)."""
        many = getattr(self.detector, "detect_many", None)
        if many is None:
            return [self.detect(text, hint) for text, hint in items]
        return many(items)  # type: ignore[no-any-return]

    def score(self, text: str, language: str) -> Sentiment | None:
        """The sentiment of a text in `language`; None when no scorer knows it."""
        scorer = self.scorers.get(language)
        return scorer.score(text) if scorer else None
