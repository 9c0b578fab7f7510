"""kill -9 of the worker in the middle of 50,000 mentions: nothing acknowledged is lost, and the
de-duplication state the restarted worker recovers still drops re-sent mentions."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import ROOT
from tests.kafka_helpers import produce, read_all

pytestmark = pytest.mark.integration
WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
N = 50_000
TEXTS = ["Acme support is terrible, worst experience ever", "Love my new Acme phone",
         "Le latte Aurora de Boréal est délicieux", "Service Boréal vraiment nul aujourd'hui",
         "Nothing to see here, just a sunny day"]


def mentions(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    start = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        m = {"id": f"{prefix}{i}", "source": "test", "platform": "twitter",
             "author": f"u{i % 501}", "text": TEXTS[i % len(TEXTS)],
             "created_at": (start + timedelta(seconds=3600 * i / n)).isoformat()}
        out.append((m["id"].encode(), json.dumps(m).encode()))
    return out


def test_kill_9_mid_stream_loses_nothing_and_dedup_survives(settings, start_worker):
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    data = mentions("k-", N)
    produce(settings, MENTIONS_RAW, data)
    first = start_worker(settings)
    deadline = time.monotonic() + 120
    while first.metric("veille_raw_messages_total") < N // 3:
        assert time.monotonic() < deadline, "the worker did not get a third of the way"
        time.sleep(0.2)
    first.stop(signal.SIGKILL)
    assert first.proc.returncode == -signal.SIGKILL
    second = start_worker(settings)

    records = read_all(settings, MENTIONS_ENRICHED, expect=N, timeout=180, settle=3)
    counts = Counter(r.key.decode() for r in records)
    missing = {f"k-{i}" for i in range(N)} - set(counts)
    assert not missing, f"{len(missing)} mentions lost, e.g. {sorted(missing)[:5]}"
    duplicates = sum(c - 1 for c in counts.values())
    # At least once: what was enriched but not yet recorded when the worker died may be
    # enriched again, never more than what can be in flight (10,000 outputs).
    assert duplicates < 10_000, duplicates
    print(f"\nkill -9 after {N // 3:,} of {N:,}: 0 lost, {duplicates} enriched twice")

    # The de-duplication table the second worker recovered (changelog read to the real end)
    # holds every id enriched: re-sending 2,000 of them enriches none again.
    dropped = second.metric("veille_duplicates_dropped_total")
    produce(settings, MENTIONS_RAW, data[:1000] + data[-1000:])
    deadline = time.monotonic() + 60
    while second.metric("veille_duplicates_dropped_total") < dropped + 2000:
        assert time.monotonic() < deadline, "re-sent mentions not dropped as duplicates"
        time.sleep(0.2)
    again = read_all(settings, MENTIONS_ENRICHED, expect=len(records), timeout=60, settle=4)
    assert len(again) == len(records), f"{len(again) - len(records)} re-sent mentions enriched"
