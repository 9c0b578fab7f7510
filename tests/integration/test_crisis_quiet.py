"""A brand gone quiet mid-crisis through the real broker (its own file: the crisis scenarios
are the suite's longest, and pytest-xdist spreads files, not tests)."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime

import pytest

from streams.topics import MENTIONS_RAW, ensure_topics
from tests.integration.test_crisis import NEG, POS, WATCHLIST, alerts, story
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration
BUCKET = 5


def test_a_brand_gone_quiet_mid_crisis_has_its_story_resolved_across_a_restart(
        settings, start_worker):
    """Silence is data: after a surge the brand is not mentioned again, yet its buckets close
    (the enrichment stage's ticks say its partitions are quiet) and the story resolves; a worker
    restarted meanwhile exports the open story's state again without waiting for a mention."""
    # 5-second buckets, 15 s of lateness: the story can only resolve on buckets closed more
    # than the lateness bound plus two buckets (25 s) after the last mention (three quiet
    # buckets, 30 s at least): longer than a pause, so it takes knowing the stream is quiet.
    # (In buckets, the scenario is that of 5-minute buckets; the seconds are the test's.)
    settings = settings.with_(watchlist=WATCHLIST, spike_bucket_seconds=BUCKET,
                              spike_lateness_seconds=3 * BUCKET, spike_idle_seconds=3.0)
    ensure_topics(settings)
    first = start_worker(settings)
    # Stamped once the worker runs, so that the stream is at the present when it is read.
    rng = random.Random(21)
    end = time.time() - 1
    data = []
    for b in range(240):  # 240 buckets (20 minutes), the last five a negative surge
        t0 = end - (240 - b) * BUCKET
        surge = b >= 235
        for i in range(30 if surge else 6):
            neg = rng.random() < (0.9 if surge else 0.15)
            m = {"id": f"q-{b}-{i}", "source": "test", "platform": "twitter",
                 "author": f"u{rng.randrange(1000)}",
                 "text": rng.choice(NEG if neg else POS),
                 "created_at": datetime.fromtimestamp(t0 + rng.random() * BUCKET, UTC).isoformat(),
                 "audience": {"followers": 50}}
            data.append((m["id"].encode(), json.dumps(m).encode()))
    produce(settings, MENTIONS_RAW, data)
    opened = alerts(settings, expect=1, settle=0.5, timeout=60)
    assert opened and opened[0]["event"] == "opened", opened
    assert first.metric("veille_reputation_alert_state") >= 1
    first.stop()
    assert [e["event"] for e in alerts(settings, expect=0, settle=0.5)][-1] != "resolved"
    second = start_worker(settings)
    # No mention since the surge: the new worker's gauges come from the saved state, and the
    # story resolves on the quiet buckets that follow.
    events = story(settings, settle=1.0, timeout=120)
    assert events[-1]["event"] == "resolved", events
    assert sum(e["event"] == "opened" for e in events) == 1, events
    assert second.metric("veille_reputation_alert_state", default=None) == 0
    assert second.metric("veille_reputation_buckets_closed_total") > 0
