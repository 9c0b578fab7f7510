"""The sentiment result and the scorer protocol shared by every language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

#: VADER's conventional thresholds on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05

LABELS = ("positive", "neutral", "negative")


def label_for(compound: float) -> str:
    """Map a compound score in [-1, 1] to positive / neutral / negative."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


@dataclass(frozen=True, slots=True)
class Sentiment:
    """VADER-shaped scores: compound in [-1, 1]; pos, neu, neg proportions summing to ~1."""

    compound: float
    pos: float
    neu: float
    neg: float
    label: str

    @classmethod
    def from_scores(cls, scores: dict[str, float]) -> Sentiment:
        compound = float(scores["compound"])
        return cls(
            compound=compound,
            pos=float(scores["pos"]),
            neu=float(scores["neu"]),
            neg=float(scores["neg"]),
            label=label_for(compound),
        )

    def to_dict(self) -> dict[str, float | str]:
        # Explicit: dataclasses.asdict deep-copies and costs 5x more on the hot path.
        return {"compound": self.compound, "pos": self.pos, "neu": self.neu, "neg": self.neg,
                "label": self.label}


class Scorer(Protocol):
    """Scores one text of one language. Implementations are built once and reused.

    A scorer may also have `knows(word) -> bool` (a lower-case word is one of its language's
    words it reads): the Analyzer's language detector then places short texts by those words.
    """

    language: str

    def score(self, text: str) -> Sentiment: ...
