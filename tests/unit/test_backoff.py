"""The RSS collector's retry delay after failed polls (veille.collectors.rss.backoff_delay): the
exact schedule, its cap and its jitter, without a server or a clock."""

from __future__ import annotations

import random

import pytest

from veille.collectors.rss import backoff_delay


class FixedJitter(random.Random):
    """A random.Random whose uniform(a, b) always returns a or b, and records the bounds it was
    asked for."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return b if self.high else a


def schedule(base: float, cap: float, rng: random.Random, failures: range) -> list[float]:
    return [backoff_delay(n, base, cap, rng) for n in failures]


def test_the_delay_doubles_from_base_up_to_the_cap() -> None:
    # The collector's defaults: 5 s, doubled per consecutive failure, capped at 30 min.
    rng = FixedJitter(high=True)
    assert schedule(5.0, 1800.0, rng, range(1, 11)) == [
        5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 1800.0]
    assert schedule(0.2, 5.0, rng, range(1, 7)) == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0])
    # The jitter is drawn once per delay, as a factor in [0.5, 1].
    assert rng.calls == [(0.5, 1.0)] * 16


def test_jitter_takes_off_at_most_half() -> None:
    assert schedule(5.0, 1800.0, FixedJitter(high=False), range(1, 11)) == [
        2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 900.0]


def test_no_failure_counts_as_the_first_and_a_long_outage_stays_at_the_cap() -> None:
    rng = FixedJitter(high=True)
    assert backoff_delay(0, 5.0, 1800.0, rng) == 5.0
    assert backoff_delay(-3, 5.0, 1800.0, rng) == 5.0
    # 2 ** (n - 1) would overflow a float long before a feed gives up: the exponent is bounded.
    assert backoff_delay(5000, 5.0, 1800.0, rng) == 1800.0
    assert backoff_delay(10**9, 5.0, 1800.0, FixedJitter(high=False)) == 900.0


def test_a_seeded_generator_gives_a_reproducible_schedule_within_the_bounds() -> None:
    first = schedule(5.0, 1800.0, random.Random(42), range(1, 13))
    # The module's global generator is not used when one is given.
    random.seed(1)
    again = schedule(5.0, 1800.0, random.Random(42), range(1, 13))
    assert first == again
    nominal = [min(1800.0, 5.0 * 2 ** (n - 1)) for n in range(1, 13)]
    # One draw from the given generator per delay: a twin generator predicts every delay
    # (tests/integration/test_rss.py relies on it).
    twin = random.Random(42)
    assert first == pytest.approx([full * twin.uniform(0.5, 1.0) for full in nominal])
    for delay, full in zip(first, nominal, strict=True):
        assert full / 2 <= delay <= full
    # Jittered: two collectors failing together do not retry in lockstep.
    other = schedule(5.0, 1800.0, random.Random(43), range(1, 13))
    assert other != first
    assert len({d / n for d, n in zip(first, nominal, strict=True)}) == len(first)
