"""Per-brand crisis monitoring on generated traffic: one story per crisis, quiet otherwise."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

from veille.crisis import BrandMonitor, CrisisConfig, terms_of

START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
BUCKET = 300


def day_rate(t: float) -> float:
    """Mentions per bucket: a daily rhythm, low at 04:00, high mid-day and evening."""
    hour = (t % 86400) / 3600
    return 6.0 + 5.0 * math.sin((hour - 10) / 24 * 2 * math.pi) ** 2 + 3.0 * (12 <= hour < 22)


def traffic(days: float, surge: tuple[float, float] | None = None, seed: int = 3):
    """(id, created_at, negative, audience, text) in time order; in the surge window the
    negative share jumps from 15 % to 80 % while total volume stays the same."""
    rng = random.Random(seed)
    n = 0
    for b in range(int(days * 86400 / BUCKET)):
        t0 = START + b * BUCKET
        in_surge = surge is not None and surge[0] <= t0 < surge[1]
        count = _poisson(rng, day_rate(t0))
        for _ in range(count):
            n += 1
            negative = rng.random() < (0.8 if in_surge else 0.15)
            text = ("panne reseau encore remboursez" if in_surge and negative
                    else "service nul" if negative else "merci pour le service")
            audience = int(rng.paretovariate(1.2) * 50)
            yield f"m{n}", t0 + rng.random() * BUCKET, negative, audience, text


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def run(monitor: BrandMonitor, items) -> list[dict]:
    events = []
    for item in items:
        events.extend(monitor.observe(*item))
    return events


def test_terms_skip_stop_words_and_brand_names() -> None:
    assert terms_of("Le réseau ACME est en PANNE, encore!", frozenset({"acme"})) == ["reseau", "panne"]


def test_steady_days_raise_no_alert() -> None:
    events = run(BrandMonitor("acme"), traffic(days=4))
    assert [e for e in events if e["event"] == "opened"] == []


def test_negative_surge_at_flat_volume_is_one_story_opened_within_two_buckets() -> None:
    surge = (START + 3 * 86400 + 11 * 3600, START + 3 * 86400 + 13 * 3600)
    monitor = BrandMonitor("acme", brand_terms=frozenset({"acme"}))
    events = run(monitor, traffic(days=4, surge=surge))
    opened = [e for e in events if e["event"] == "opened"]
    assert len(opened) == 1, events
    opened_end = datetime.fromisoformat(opened[0]["window_end"]).timestamp()
    assert opened_end <= surge[0] + 2 * BUCKET + BUCKET  # alerted within two buckets of the start
    kinds = [e["event"] for e in events]
    assert kinds.count("resolved") == 1 and kinds.index("resolved") > kinds.index("opened")
    assert "escalated" in kinds  # two hours of surge is critical
    first = opened[0]
    assert first["observed_negative"] > first["expected_negative"]
    assert "panne" in events[kinds.index("resolved")]["rising_terms"]
    assert len(first["top_negative_mentions"]) >= 1
    json.dumps(events)  # alert events are JSON-ready


def test_state_round_trip_mid_crisis_gives_the_same_story() -> None:
    surge = (START + 3 * 86400 + 11 * 3600, START + 3 * 86400 + 13 * 3600)
    items = list(traffic(days=4, surge=surge))
    straight = run(BrandMonitor("acme"), items)
    cut = next(i for i, it in enumerate(items) if it[1] > surge[0] + 1800)
    first = BrandMonitor("acme")
    before = run(first, items[:cut])
    restored = BrandMonitor("acme")
    restored.load_state(json.loads(json.dumps(first.to_state())))
    after = run(restored, items[cut:])
    assert before + after == straight
    assert sum(e["event"] == "opened" for e in before + after) == 1


def test_late_mentions_beyond_the_bound_are_counted_not_used() -> None:
    monitor = BrandMonitor("acme", CrisisConfig(lateness_seconds=600))
    monitor.observe("a", START, False, 1, "x")
    monitor.observe("b", START + 3600, False, 1, "x")
    monitor.observe("late", START + 60, True, 1, "x")  # its bucket closed long ago
    assert monitor.late == 1


def test_quiet_brand_buckets_close_with_time() -> None:
    monitor = BrandMonitor("acme")
    monitor.observe("a", START, True, 10, "nul")
    monitor.advance(START + 3600)
    assert len(monitor.reports) >= 9 and monitor.reports[0].negative == 1
    assert all(r.total == 0 for r in monitor.reports[1:])


def test_binomial_tail_matches_direct_sum() -> None:
    from math import comb

    from veille.crisis import binomial_tail

    for k, n, p in [(6, 8, 0.15), (0, 5, 0.3), (3, 10, 0.5), (12, 16, 0.15), (9, 9, 0.2)]:
        direct = sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert abs(binomial_tail(k, n, p) - direct) < 1e-12
    assert binomial_tail(700, 1000, 0.15) < 1e-200  # large n: no overflow
