"""`veille report`: the brand team's reputation report, read from mentions.enriched and
reputation.alerts on the real broker (records written as the enrichment stage and the spike
agent write them), printed in English, in French and as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kafka import KafkaProducer

from streams.topics import MENTIONS_ENRICHED, REPUTATION_ALERTS, ensure_topics
from tests.cli_helpers import as_operator
from tests.unit.test_brand_report import event, mention
from veille.rules import Watchlist
from veille.settings import Settings

pytestmark = pytest.mark.integration

NBSP = "\u00a0"
PERIOD = ("--since", "2026-11-30", "--until", "2026-12-07", "--tz", "Europe/Paris")


def send(settings: Settings, topic: str, records: list[dict[str, Any]], key: str) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        for r in records:
            producer.send(settings.topic(topic), key=str(r.get(key)).encode(),
                          value=json.dumps(r).encode())
        producer.flush(15)
    finally:
        producer.close(5)


def test_the_report_of_a_week_read_from_the_topics(settings: Settings) -> None:
    ensure_topics(settings)
    watched = Watchlist.from_toml(settings.watchlist_path).brand_ids
    assert "acme" in watched and len(watched) > 1
    records = [
        # The week before (Paris time): 1 negative of 2.
        mention("p0", "2026-11-23T00:00:00+01:00", label="negative"),
        mention("p1", "2026-11-25T12:00:00+01:00", label="positive"),
        # The week: 3 negative of 5, one unscored; a copy of n0 (at least once) counted once.
        mention("n0", "2026-12-01T10:05:00+01:00", label="negative", followers=15000,
                text="Acme réseau en panne depuis ce matin"),
        mention("n1", "2026-12-01T10:20:00+01:00", label="negative", followers=40, platform="bluesky",
                text="Panne Acme encore, rien ne marche"),
        mention("n2", "2026-12-02T09:00:00+01:00", label="negative", followers=900,
                text="toujours la panne chez Acme"),
        mention("n0", "2026-12-01T10:05:00+01:00", label="negative", followers=15000,
                text="Acme réseau en panne depuis ce matin"),
        mention("ok", "2026-12-03T18:00:00+01:00", label="positive", text="Acme merci pour le réseau"),
        mention("es", "2026-12-04T18:00:00+01:00", label=None, language="es",
                text="El router de Acme funciona"),
        mention("x0", "2026-12-02T09:00:00+01:00", brands=(), text="sunny day in the park"),
        # After the period (until excluded).
        mention("late", "2026-12-07T00:00:00+01:00", label="negative"),
    ]
    send(settings, MENTIONS_ENRICHED, records, "id")
    send(settings, REPUTATION_ALERTS, [
        event("acme-1764580800", "opened", "2026-12-01T09:00:00Z", "2026-12-01T09:05:00Z",
              observed=12, expected=2.5),
        event("acme-1764580800", "escalated", "2026-12-01T09:00:00Z", "2026-12-01T09:10:00Z",
              severity="critical", observed=31, expected=2.8),
        event("acme-1764580800", "resolved", "2026-12-01T09:00:00Z", "2026-12-01T10:30:00Z",
              severity="critical", observed=1, expected=2.0),
    ], "brand")

    done = as_operator(settings, "report", *PERIOD)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert text.startswith("reputation report 2026-11-30T00:00+01:00 .. 2026-12-07T00:00+01:00 "
                           "(Europe/Paris)\nprevious period: 2026-11-23T00:00+01:00 .. ")
    acme = text[text.index("\nacme: "):]
    acme = acme[:acme.index("\n\n", 1)]
    assert "acme: 5 mentions" in acme
    assert "  negative      3    60.0%" in acme and "  unscored      1    20.0%" in acme
    assert "previous period: 2 mentions, negative 50.0%; negative share +10.0 points" in acme
    assert "by platform: mastodon 4, bluesky 1" in acme
    assert "    2026-12-01         2    100.0%" in acme
    assert "busiest hour: 2026-12-01 10:00 CET (2 mentions)" in acme
    assert ("acme-1764580800: opened 2026-12-01 10:00 CET, critical, resolved 2026-12-01 11:30 CET; "
            "peak 31 negative, 2.8 expected") in acme
    top = [line.split()[0] for line in acme.splitlines() if line.startswith("    n")]
    assert top == ["n0", "n2", "n1"]
    assert "15,000 followers  Acme réseau en panne depuis ce matin" in acme
    assert "panne (3 negative of 3 mentions)" in acme and "acme (" not in acme
    for other in watched:
        if other != "acme":
            assert f"\n{other}: 0 mentions\n" in text
    assert "mentions of no brand: 1 " in text
    assert done.stderr == ""

    french = as_operator(settings, "report", *PERIOD, "--lang", "fr", "--brand", "acme")
    assert french.returncode == 0, french.stderr
    assert french.stdout.startswith("rapport de réputation ")
    assert f"acme{NBSP}: 5 mentions" in french.stdout
    assert f"  négatives     3   60,0{NBSP}%" in french.stdout
    assert "15\u202f000 abonnés" in french.stdout
    assert "critique, résolue le 2026-12-01 11:30 CET" in french.stdout
    assert "boreal" not in french.stdout

    as_json = as_operator(settings, "report", *PERIOD, "--json", "--top", "1")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    a = next(b for b in result["brands"] if b["brand"] == "acme")
    assert (a["mentions"], a["negative"], a["unscored"], a["previous"]["mentions"]) == (5, 3, 1, 2)
    assert a["negative_share_change_points"] == 10.0
    assert [m["id"] for m in a["top_negative"]] == ["n0"]
    assert a["alerts"][0]["resolved"] == "2026-12-01T10:30:00Z"
    assert result["no_brand"] == 1 and result["previous"]["available"] is True

    # A period before the topic's oldest mention: said on stderr; no earlier period to compare.
    early = as_operator(settings, "report", "--since", "2026-11-01", "--until", "2026-11-29",
                        "--brand", "Acme")
    assert early.returncode == 0, early.stderr
    assert "no earlier period on " in early.stdout and "mentions.enriched (kept 7 days)" in early.stdout
    assert "veille report: the oldest mention on " in early.stderr
    assert "posted 2026-11-22 23:00 UTC" in early.stderr

    # A brand not watched: noted, as the other commands do, with its zeros.
    typo = as_operator(settings, "report", *PERIOD, "--brand", "acmee")
    assert typo.returncode == 0, typo.stderr
    assert "veille: note: no brand 'acmee' in the watch list" in typo.stderr
    assert "acmee: 0 mentions" in typo.stdout
