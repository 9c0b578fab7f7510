"""Per-brand crisis monitoring on generated traffic: one story per crisis, quiet otherwise."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import pytest

from veille.crisis import (
    BrandMonitor,
    Bucket,
    CrisisConfig,
    StateMismatch,
    Watermark,
    binomial_tail,
    terms_of,
)
from veille.spikes import Score

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


def test_terms_are_words_not_brand_variants_links_or_blobs() -> None:
    """Found in review: rising terms listed acme's, d'acme, URL pieces and 900-letter tokens."""
    acme = frozenset({"acme"})
    assert terms_of("L'appli d'Acme plante, c'est nul https://t.co/xYz123abc www.acme.com/p",
                    acme) == ["appli", "plante", "nul"]
    assert terms_of("Acme's support won't answer, we're furious #AcmeFail @AcmeHelp 2026",
                    acme) == ["support", "answer", "furious", "#acmefail", "@acmehelp"]
    assert terms_of("Acme\u2019s outage " + "x" * 900, acme) == ["outage"]


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


def test_watermark_waits_for_the_slowest_partition_while_a_backlog_is_read():
    from veille.crisis import Watermark

    wm = Watermark(range(2))
    wall = 1_000_000.0
    wm.observe(0, 10_000.0, wall)
    assert wm.value() is None  # partition 1 not heard from: nothing may close yet
    # Partition 1 read to its end and empty so far: while no source is live (a backlog is
    # being read), that is no reason to move on without it.
    wm.tick(1, wall, None, False, True, wall)
    assert wm.value() is None
    wm.observe(1, 4_000.0, wall)
    assert wm.value() == 4_000.0
    # Hours behind the clock (a backlog): a long pause of partition 1 does not skip it.
    wm.observe(0, 20_000.0, wall + 100)
    wm.tick(1, wall + 100, 4_000.0, False, True, wall + 100)  # quiet, but a replay
    assert wm.value() == 4_000.0
    wm.observe(1, 3_000.0, wall + 101)  # out of order within the partition: no step back
    assert wm.value() == 4_000.0


def test_watermark_moves_on_with_quiet_partitions_once_live_and_stops_with_their_ticks():
    from veille.crisis import Watermark

    wm = Watermark(range(2))
    now = 1_000_000.0
    wm.observe(0, now - 30, now)
    wm.tick(1, now, None, False, True, now)  # partition 1 never had a mention
    assert wm.value() is None  # nothing says the stream is at the present yet
    wm.tick(0, now + 5, now - 30, True, False, now + 5)  # live, not quiet yet
    assert wm.value() == now - 30  # partition 1, quiet at the present, no longer holds it
    wm.tick(0, now + 65, now - 30, True, True, now + 65)
    wm.tick(1, now + 65, None, False, True, now + 65)
    assert wm.value() == now + 65  # every partition quiet: the watermark is the present
    wm.observe(1, now + 70, now + 70)  # partition 1 speaks: its own time counts again
    assert wm.value() == now + 65
    # No more ticks (the enrichment stage is down): the watermark stays where they left it,
    # whatever the clock says; the backlog, once it comes, still lands in its buckets.
    assert wm.value() == now + 65


def test_source_clock_ticks():
    from veille.crisis import SourceClock

    c = SourceClock()
    assert c.tick(100.0, True, 1200, 60) == (100.0, None, False, True)  # never had a mention
    assert c.tick(100.0, False, 1200, 60) == (100.0, None, False, False)  # a backlog is read
    c.saw(5_000.0, 5_010.0)  # at the present
    assert c.tick(5_020.0, True, 1200, 60) == (5_020.0, 5_000.0, True, False)  # not quiet yet
    assert c.tick(5_080.0, True, 1200, 60) == (5_080.0, 5_000.0, True, True)
    assert c.tick(5_080.0, False, 1200, 60)[3] is False  # more to read: never quiet
    c.saw(1_000.0, 5_100.0)  # a straggler from long ago: the newest stays
    assert c.tick(5_200.0, True, 1200, 60) == (5_200.0, 5_000.0, True, True)
    replay = SourceClock()
    replay.saw(1_000.0, 9_000.0)  # read hours after it happened: a replay
    assert replay.tick(9_100.0, True, 1200, 60) == (9_100.0, 1_000.0, False, True)


def test_monitor_fed_by_a_watermark_gives_the_same_buckets_in_any_partition_order():
    """Two partitions read in different interleavings close the same buckets, none late."""
    from veille.crisis import BrandMonitor, CrisisConfig, Watermark

    rng = random.Random(3)
    parts: list[list[tuple[float, bool]]] = [[], []]
    for i in range(4000):
        t = 1_700_000_000 + i * 9 + rng.random() * 60
        parts[i % 2].append((t, rng.random() < 0.2))

    def run(order: list[int]) -> list[tuple[int, int, int]]:
        m = BrandMonitor("acme", CrisisConfig())
        wm = Watermark(range(2))
        cursors = [0, 0]
        wall = 1_800_000_000.0  # a replay: the clock is past every event time
        for n, p in enumerate(order):
            t, neg = parts[p][cursors[p]]
            cursors[p] += 1
            wm.observe(p, t, wall)
            m.observe(f"{p}-{n}", t, neg, 10, "bad service", advance=False)
            mark = wm.value()
            if mark is not None:
                m.advance(mark)
        assert m.late == 0
        return [(r.start, r.total, r.negative) for r in m.reports]

    alternating = [i % 2 for i in range(4000)]
    batched = [0] * 1500 + [1] * 2000 + [0] * 500  # partition 0 runs far ahead, then 1
    closed = run(alternating)
    assert len(closed) > 100 and sum(total for _, total, _ in closed) > 3500
    assert run(batched) == closed


# --- found in review: each of these failed before its fix ----------------------------------------


def _score(ts: float, observed: float, expected: float, *, alert: bool, in_episode: bool,
           anomaly: float) -> Score:
    return Score(datetime.fromtimestamp(ts, UTC), observed, expected, 0.0, 1.0, 0.0, anomaly,
                 alert, in_episode, False)


def _bucket(start: float, negatives: int, prefix: str, terms: list[str]) -> Bucket:
    b = Bucket(int(start))
    for i in range(negatives):
        b.add(f"{prefix}{i}", True, 1000 + i, terms, 5)
    return b


def test_binomial_tail_of_a_count_below_the_mean_is_near_one() -> None:
    """A bucket with far fewer negatives than usual is not a negative spike (the tail was
    summed from k for 2,000 terms only: about 0 when the mean is further away)."""
    assert binomial_tail(5, 15_000, 0.2) == 1.0
    assert binomial_tail(100, 2_500, 0.9) == 1.0
    assert 0.49 < binomial_tail(3_000, 15_000, 0.2) < 0.51
    assert binomial_tail(3_400, 15_000, 0.2) < 1e-12  # far above the mean: tiny


def test_a_story_stays_open_while_the_detectors_episode_lasts() -> None:
    """Hysteresis: it opens at the alert level and resolves only once the detector's episode is
    over, not after three buckets that are merely under the alert level (12 negatives where 2
    are usual)."""
    m = BrandMonitor("acme")
    opened = m._story(_bucket(START, 30, "a", ["panne"]),
                      _score(START, 30, 2, alert=True, in_episode=True, anomaly=0.6))
    assert opened[0]["event"] == "opened"
    events = []
    for i in range(1, 7):  # well above normal, under the alert level, the episode still on
        t = START + i * BUCKET
        events += m._story(_bucket(t, 12, f"b{i}-", ["panne"]),
                           _score(t, 12, 2, alert=False, in_episode=True, anomaly=0.4))
    assert "resolved" not in [e["event"] for e in events]
    assert m.story is not None and m.story["status"] == "open"
    for i in range(7, 10):  # the episode is over: three quiet buckets resolve the story
        t = START + i * BUCKET
        events += m._story(_bucket(t, 2, f"c{i}-", []),
                           _score(t, 2, 2, alert=False, in_episode=False, anomaly=0.1))
    assert events[-1]["event"] == "resolved"


def test_a_flare_up_after_a_resolution_reopens_the_story_with_its_bucket() -> None:
    """Within the cool-down, a bucket at the alert level re-opens the story even though the
    detector does not alert again so soon; the story takes in that bucket and escalates on it."""
    m = BrandMonitor("acme")
    m._story(_bucket(START, 2, "m", ["panne"]), _score(START, 2, 1.5, alert=True, in_episode=True,
                                                      anomaly=0.6))
    events = []
    for i in range(1, 4):
        t = START + i * BUCKET
        events += m._story(Bucket(int(t)), _score(t, 0, 1, alert=False, in_episode=False, anomaly=0.1))
    assert [e["event"] for e in events] == ["resolved"]
    t = START + 5 * BUCKET
    events = m._story(_bucket(t, 40, "new", ["fuite", "donnees"]),
                      _score(t, 40, 1.0, alert=False, in_episode=True, anomaly=0.9))
    assert [(e["event"], e["severity"]) for e in events] == [("reopened", "warning"),
                                                             ("escalated", "critical")]
    assert events[0]["observed_negative"] == 40
    assert set(events[0]["top_negative_mentions"]) == {f"new{i}" for i in range(35, 40)}
    assert set(events[0]["rising_terms"]) >= {"fuite", "donnees"}


def test_a_mention_within_the_lateness_bound_of_the_first_one_is_not_late() -> None:
    m = BrandMonitor("acme")
    m.observe("a", START + 1000, False, 0, "x")
    m.observe("b", START + 1000 - 200, False, 0, "x")  # lateness is 600 s
    assert m.late == 0 and m.closes == 0
    m.observe("c", START + 1000 + 2 * 600, False, 0, "x")  # buckets close now, both counted
    assert sum(r.total for r in m.reports) == 2


def test_a_mention_dated_ahead_of_the_clock_does_not_close_the_present() -> None:
    wm = Watermark(range(1))
    now = START
    wm.observe(0, now + 3000, wall=now)  # a source's clock 50 minutes ahead
    assert wm.value() == now + 60
    m = BrandMonitor("acme")
    for i in range(100):  # the next 33 minutes of on-time traffic
        t = now + 61 + i * 20
        wm.observe(0, t, wall=t)
        m.observe(f"b{i}", t, True, 10, "x", advance=False)
        mark = wm.value()
        if mark is not None:
            m.advance(mark)
    assert m.late == 0


def test_a_state_saved_with_another_bucket_size_is_refused_not_misread() -> None:
    old = BrandMonitor("acme", CrisisConfig(bucket_seconds=60))
    run(old, traffic(0.5))
    state = json.loads(json.dumps(old.to_state()))
    new = BrandMonitor("acme", CrisisConfig(bucket_seconds=300))
    with pytest.raises(StateMismatch, match="60-second buckets, the setting is now 300"):
        new.load_core(state)
    with pytest.raises(StateMismatch, match="60-second buckets"):
        new.load_open(state)
    del state["bucket_seconds"]  # a state saved before the size was: its clock gives it away
    state["closed_until"] = state["closed_until"] // 300 * 300 + 60
    with pytest.raises(StateMismatch, match="bucket boundary"):
        new.load_open(state)


def test_a_saved_bucket_state_does_not_change_with_later_mentions() -> None:
    b = Bucket(0)
    b.add("a", True, 10, ["panne"], 5)
    saved = b.to_state()
    b.add("b", True, 99, ["panne", "remboursement"], 5)
    assert saved["terms"] == {"panne": 1} and saved["top"] == [[10, "a"]]
