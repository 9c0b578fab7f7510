"""English sentiment: vaderSentiment, one analyzer built once and reused."""

from __future__ import annotations

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from veille.sentiment.base import Sentiment


class EnglishScorer:
    language = "en"

    def __init__(self) -> None:
        # Building the analyzer reads two lexicon files: 80x slower than scoring if done per text.
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, text: str) -> Sentiment:
        return Sentiment.from_scores(self._analyzer.polarity_scores(text))
