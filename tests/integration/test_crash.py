"""kill -9 of the worker in the middle of 50,000 mentions, then a restart: nothing acknowledged is
lost, nothing is enriched twice, and downstream state ends as in a run without the crash."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, MODERATION_QUEUE, ensure_topics
from tests.conftest import ROOT
from tests.integration.test_crisis import BUCKET, crisis_settings, now_bucket, story, traffic
from tests.kafka_helpers import produce, read_to_end, wait_committed_to_end
from tests.moderation_helpers import by_label, wait_metrics
from veille.broker import free_port

pytestmark = pytest.mark.integration
WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
N = 50_000
INSULT = "@acme_fr espèce de connard"
FILLER = ["Nothing to see here, just a sunny day", "Traffic is slow on the ring road",
          "Il pleut encore sur la ville", "New season of that show is out"]


def workload() -> list[tuple[bytes, bytes]]:
    """12 hours of Acme traffic with a negative surge (an alert story), one negative Acme
    mention in ten an insult (a moderation case), and brand-free filler up to N, in event-time
    order."""
    end = now_bucket()
    crisis = []
    for n, (key, value) in enumerate(traffic(end, hours=12, surge=(end - 3 * 3600, end - 2 * 3600),
                                             seed=21)):
        m = json.loads(value)
        if "terrible" in m["text"] and n % 10 == 0:
            m["text"] = INSULT
        crisis.append((key, m))
    start = end - 12 * 3600
    span = 12 * 3600 - BUCKET
    filler = []
    for i in range(N - len(crisis)):
        m = {"id": f"f-{i}", "source": "test", "platform": "twitter", "author": f"u{i % 501}",
             "text": FILLER[i % len(FILLER)],
             "created_at": datetime.fromtimestamp(start + span * i / (N - len(crisis)), UTC).isoformat()}
        filler.append((m["id"].encode(), m))
    merged = sorted(crisis + filler, key=lambda kv: kv[1]["created_at"])
    return [(k, json.dumps(m).encode()) for k, m in merged]


def outcome(settings, worker) -> dict:
    """What downstream consumers and dashboards see once the stream is processed."""
    # The enrichment stage's group committed mentions.raw to its end: every enriched record and
    # moderation item of the stream is on the broker, a duplicate included (a batch is committed
    # only once all its outputs are acknowledged), so reading to the end reads it all.
    wait_committed_to_end(settings, MENTIONS_RAW, f"{settings.app_id}-enrich", timeout=240)
    counts = Counter(r.key.decode() for r in read_to_end(settings, MENTIONS_ENRICHED))
    cases = {r.key for r in read_to_end(settings, MODERATION_QUEUE)}
    events = story(settings)
    # No decision is taken here: once the moderation agent has every case, they are all pending.
    scraped = wait_metrics(worker.metrics_url, lambda got: sum(by_label(
        got, "veille_moderation_backlog_items", "brand").values()) == len(cases), timeout=60,
        what=f"the moderation backlog counting the {len(cases)} cases")
    return {
        "ids": set(counts),
        "enriched_twice": sum(c - 1 for c in counts.values()),
        "alerts": events,
        "cases": cases,
        "backlog": by_label(scraped, "veille_moderation_backlog_items", "brand"),
    }


def unique(events: list[dict]) -> list[dict]:
    seen, out = set(), []
    for e in events:
        key = (e["alert_id"], e["event"], e["window_end"])  # a re-opened story repeats events
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def test_kill_9_mid_stream_loses_nothing_duplicates_nothing_and_state_matches(
        settings, start_worker):
    data = workload()
    assert len(data) == N
    # Two independent pipelines side by side (topics, consumer groups, workers, metrics ports of
    # their own): the reference runs without a crash, the other is killed a third of the way.
    pipelines = {name: crisis_settings(settings).with_(
        app_id=f"{settings.app_id}-{name}", topic_prefix=f"{settings.topic_prefix}{name}.",
        metrics_port=free_port()) for name in ("reference", "crash")}
    workers = {}
    for name, s in pipelines.items():
        ensure_topics(s)
        workers[name] = start_worker(s, ready=False)
    # While the workers boot: the reference gets the whole stream; the crashed pipeline its first
    # two thirds, the rest once its worker is dead, so the kill always falls mid-stream (on a
    # loaded machine the worker once read all 50,000 before the spike agent closed a bucket).
    head = 2 * N // 3
    produce(pipelines["reference"], MENTIONS_RAW, data)
    produce(pipelines["crash"], MENTIONS_RAW, data[:head])
    for w in workers.values():
        w.wait_ready()
    s, worker = pipelines["crash"], workers["crash"]
    # Killed a third of the way or later, once the spike agent has closed buckets: its saved
    # state (detector, share, story, watermarks) is then part of what the restart resumes.
    deadline = time.monotonic() + 120
    while (read := worker.metric("veille_raw_messages_total")) < N // 3 or worker.metric(
            "veille_reputation_buckets_closed_total") < 1:
        assert time.monotonic() < deadline, "the worker did not get a third of the way"
        time.sleep(0.1)
    closed = worker.metric("veille_reputation_buckets_closed_total")
    worker.stop(signal.SIGKILL)
    assert worker.proc.returncode == -signal.SIGKILL
    produce(s, MENTIONS_RAW, data[head:])
    workers["crash"] = start_worker(s)
    with ThreadPoolExecutor(2) as pool:  # each waits for its own pipeline
        futures = {name: pool.submit(outcome, s, workers[name]) for name, s in pipelines.items()}
        runs = {name: (pipelines[name], workers[name], f.result()) for name, f in futures.items()}
    reference, crash = runs["reference"][2], runs["crash"][2]
    expected = {key.decode() for key, _ in data}
    for run in (reference, crash):
        missing = expected - run["ids"]
        assert not missing, f"{len(missing)} mentions lost, e.g. {sorted(missing)[:5]}"
        assert run["enriched_twice"] == 0
    # No mention came after its bucket had closed, in either run: after the restart, no source
    # tick claims an event time that mentions still to be re-sent are older than.
    late = {name: runs[name][1].metric("veille_reputation_late_mentions_total") for name in runs}
    assert late == {"reference": 0, "crash": 0}, late
    # The same alert story, the same moderation cases and KPIs as without the crash.
    assert [e["event"] for e in reference["alerts"]][:1] == ["opened"]
    # Alert events are at least once (README): consumers de-duplicate on (alert_id, event,
    # window_end).
    assert unique(crash["alerts"]) == unique(reference["alerts"]), (crash["alerts"], reference["alerts"])
    assert crash["cases"] == reference["cases"] and len(reference["cases"]) > 20
    assert crash["backlog"] == reference["backlog"] and crash["backlog"][("acme",)] > 20
    # (veille_moderation_unanswered_negative depends on the clock at the scrape: cases cross
    # their response deadline between the two runs' scrapes, so it is not compared.)
    redelivered = runs["crash"][1].metric("veille_redeliveries_total")
    print(f"\nkill -9 after {read:,.0f} of {N:,} read and {closed:.0f} buckets closed: 0 lost, "
          f"0 enriched twice, {redelivered:.0f} redelivered messages recognised; "
          f"{len(reference['alerts'])} alert events and {len(reference['cases'])} cases as "
          "without the crash")

    # The de-duplication windows the restarted worker rebuilt from mentions.enriched hold
    # every id: re-sending 2,000 of them enriches none again.
    s, second, _ = runs["crash"]
    dropped = second.metric("veille_duplicates_dropped_total")
    produce(s, MENTIONS_RAW, data[:1000] + data[-1000:])
    deadline = time.monotonic() + 60
    while second.metric("veille_duplicates_dropped_total") < dropped + 2000:
        assert time.monotonic() < deadline, "re-sent mentions not dropped as duplicates"
        time.sleep(0.2)
    wait_committed_to_end(s, MENTIONS_RAW, f"{s.app_id}-enrich", timeout=60)
    again = read_to_end(s, MENTIONS_ENRICHED)
    assert len(again) == N, f"{len(again) - N} re-sent mentions enriched"
