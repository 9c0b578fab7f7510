#!/usr/bin/env python3
"""The enrichment worker doing only the job of MEASURED.md's "plain agent": VADER on every text.

usage: run by bench/suite.py with a worker's environment (VEILLE_*), like `veille worker --role
enrich`.

The same process as a worker of role enrich (agents.worker.run_enrich: the enrichment stage's
consumer, batching, de-duplication, encoding, delivery, commits and metrics), with two parts of
its work taken out: every text is taken as English (no language identification: the English
scorer, veille.sentiment.english.VaderAnalyzer, which gives vaderSentiment's own scores, scores
it), and the watch list names no brand (no watch rule matches, so no triage, no moderation item
and no by-brand signal). What is left is what the issue's 19 % reference agent does per message
(read, decode, score with VADER, encode, send), which tells how far the stage's own overhead is
from the scoring limit; the real worker's rate is in the suite's enrichment rows.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import agents.worker as worker  # noqa: E402
from veille.rules import Watchlist  # noqa: E402
from veille.sentiment import Analyzer  # noqa: E402
from veille.sentiment.english import EnglishScorer  # noqa: E402
from veille.settings import Settings  # noqa: E402


class AllEnglish:
    """A language detector that answers English for every text."""

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        return "en", 1.0


_enrichment = worker.enrichment


def vader_only(settings: Settings, registry: Any, analyzer: Analyzer | None = None,
               watched: Any = None) -> Any:
    reloader, metrics, enricher = _enrichment(settings, registry,
                                              Analyzer([EnglishScorer()], AllEnglish()), watched)
    enricher.watchlist = Watchlist([])
    return reloader, metrics, enricher


if __name__ == "__main__":
    worker.enrichment = vader_only
    worker.run_enrich(Settings.from_env())
