"""The enrichment agent's logic without Faust: outcomes for good, mis-keyed, bad and failing input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from agents.enrich import Enricher
from tests.conftest import ROOT
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.sentiment.base import Sentiment

NOW = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
W = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")


class Fixed:
    """A detector that always answers one language (the analyzer's collaborator in tests)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        return self.lang, 0.99


class Broken:
    language = "en"

    def score(self, text: str) -> Sentiment:
        raise ZeroDivisionError


def payload(i: str = "m1", text: str = "Acme is great") -> bytes:
    return json.dumps({"id": i, "source": "t", "platform": "news", "text": text,
                       "created_at": "2026-01-06T08:00:00Z"}).encode()


def enricher(analyzer: Analyzer) -> Enricher:
    return Enricher(analyzer, W, clock=lambda: NOW)


def test_enriches_with_kafka_timestamp_as_received_time() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("en"))).handle(b"m1", payload(), 1767686400.0)
    e = out.enriched
    assert e is not None and out.dead is None and out.rekey is None
    assert e.brands == ("acme",) and e.sentiment is not None and e.sentiment.label == "positive"
    assert e.received_at == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    assert e.processed_at == NOW


def test_language_without_scorer_is_unscored() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("pt"))).handle(b"m1", payload(), None)
    assert out.enriched is not None and out.enriched.sentiment is None
    assert out.enriched.language == "pt"


def test_miskeyed_message_is_rekeyed_not_enriched() -> None:
    from veille.sentiment.english import EnglishScorer

    out = enricher(Analyzer([EnglishScorer()], Fixed("en"))).handle(b"other", payload(), None)
    assert out.rekey is not None and out.rekey.id == "m1" and out.enriched is None


def test_scorer_failure_is_a_dead_letter_not_a_crash() -> None:
    out = enricher(Analyzer([Broken()], Fixed("en"))).handle(b"m1", payload(), None)
    assert out.dead is not None and out.dead.reason == "processing_error"


def test_invalid_payload_is_a_dead_letter() -> None:
    out = enricher(Analyzer([Broken()], Fixed("en"))).handle(b"m1", b"{", None)
    assert out.dead is not None and out.dead.reason == "invalid_json"
