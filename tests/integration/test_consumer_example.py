"""examples/consume_enriched.py, the README's consumer of mentions.enriched, against the real
broker: records of the worker's own making, a mention enriched again under the same id, a
record with a field added later and one of a future version."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from streams.topics import MENTIONS_ENRICHED, ensure_topics
from tests.conftest import ROOT
from tests.kafka_helpers import produce
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.settings import Settings

pytestmark = pytest.mark.integration
#: An hour ago, in whole seconds: within any age limit, whatever the day the test runs.
POSTED = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()


def enriched(mention_id: str, text: str) -> dict:
    """The record the worker writes for this mention (the enrichment stage's own code)."""
    from agents.enrich import Enricher

    value = json.dumps({"id": mention_id, "source": "test", "platform": "twitter", "text": text,
                        "created_at": POSTED, "audience": {"followers": 1200}})
    watchlist = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")
    outcome = Enricher(Analyzer(), watchlist).handle(mention_id.encode(), value.encode(), None)
    assert outcome.enriched is not None, outcome
    return json.loads(outcome.enriched.to_json())  # type: ignore[no-any-return]


def test_the_example_consumer_prints_each_negative_brand_mention_once(settings: Settings) -> None:
    ensure_topics(settings)
    angry = enriched("m1", "Acme Mobile is the worst, my line has been down for days")
    happy = enriched("m2", "I love Acme Mobile, great support today")
    other = enriched("m3", "the weather is terrible today")  # negative, but no brand
    assert angry["sentiment"]["label"] == "negative" and angry["brands"]
    later = {**angry, "processed_at": "2026-12-04T10:00:00.000Z", "added_later": {"x": 1}}
    future = {**enriched("m4", "Acme Mobile is awful"), "schema_version": 2}
    # Found in review (2026-12-05): the example printed a mention's control characters as they
    # came (an escape sequence retitles or clears the terminal; an RLO reverses what follows).
    wild = enriched("m5\u202egnp.exe", "Acme Mobile is the worst \x1b]0;pwned\x07\x1b[2J FAKE ALERT")
    assert wild["sentiment"]["label"] == "negative" and wild["brands"]
    produce(settings, MENTIONS_ENRICHED, [(r["id"].encode(), json.dumps(r).encode())
                                          for r in (angry, happy, other, later, future, wild)])
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples/consume_enriched.py"),
         "--bootstrap", ",".join(settings.bootstrap_servers),
         "--topic", settings.topic(MENTIONS_ENRICHED), "--idle-exit", "3"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2, run.stdout  # m1 once (m1 again ignored), not m2, m3 or m4; m5
    # m1 and m5 sit on partitions of their own: printed in either order.
    m1 = [line for line in lines if "followers=1200 m1:" in line]
    m5 = [line for line in lines if "followers=1200 m5" in line]
    assert len(m1) == len(m5) == 1, run.stdout
    assert m1[0].startswith(POSTED.replace("+00:00", ".000Z") + " acme -")
    assert "followers=1200 m5\\u202egnp.exe: Acme Mobile is the worst \\u001b]0;pwned\\u0007" \
           "\\u001b[2J FAKE ALERT" in m5[0], m5[0]
    assert not any(c in run.stdout for c in "\x1b\x07\u202e")
    assert "skipped a record of schema_version 2" in run.stderr
