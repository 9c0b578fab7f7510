"""Worker roles: an `enrich` worker (the enrichment stage alone, no Faust) and an `agents` worker
(the spike and moderation agents alone) run the pipeline end to end between them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from agents.worker import check_role
from streams.topics import (
    MENTIONS_BY_BRAND,
    MENTIONS_ENRICHED,
    MENTIONS_RAW,
    MODERATION_QUEUE,
    ensure_topics,
)
from tests.conftest import ROOT, settings_env
from tests.integration.test_pipeline import wait_drained
from tests.kafka_helpers import committed_offsets, produce, read_to_end
from tests.moderation_helpers import wait_for
from veille.broker import free_port
from veille.settings import Settings, SettingsError

pytestmark = pytest.mark.integration
WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
TEXTS = [
    "Acme Mobile est encore en panne, service client injoignable, c'est inadmissible",
    "I love my new Acme phone, best purchase this year",
    "Boréal café: le meilleur croissant de Paris, merci !",
    "Acme, espèce de connard, rendez-moi mon argent",
    "Acme and Boréal both let me down today, awful",
    "The train to Lyon leaves at ten from platform four",
]


def mentions(n: int) -> list[tuple[bytes, bytes]]:
    at = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    out = []
    for i in range(n):
        m = {"id": f"r-{i}", "source": "test", "platform": "twitter", "author": f"u{i % 7}",
             "text": f"{TEXTS[i % len(TEXTS)]} ({i})", "created_at": at}
        out.append((m["id"].encode(), json.dumps(m, ensure_ascii=False).encode()))
    return out


def test_enrich_and_agents_workers_run_the_pipeline_between_them(settings, start_worker) -> None:
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    enrich = start_worker(settings.with_(worker_role="enrich"))
    agents = start_worker(settings.with_(worker_role="agents", metrics_port=free_port()),
                          ready=False)
    # Until it has joined the group and recovered its tables, the agents worker says its
    # agents are paused (nothing else tells it from an idle one: it beats meanwhile).
    paused = wait_for(lambda: [agents.metric("veille_agents_paused_seconds", default=None)],
                      30, "the agents worker serving its metrics")[0]
    assert paused is not None and paused > 0, paused
    agents.wait_ready()
    assert "Worker]: Ready" not in enrich.log(), "an enrich worker must not start Faust"
    n = 300
    produce(settings, MENTIONS_RAW, mentions(n))

    # The enrich worker committed mentions.raw to its end: all its outputs are on the broker.
    wait_drained(settings, enrich, n)
    enriched = read_to_end(settings, MENTIONS_ENRICHED)
    ids = [r.key for r in enriched]
    assert len(ids) == n and len(set(ids)) == n
    signals = sum(len(json.loads(r.value)["brands"]) for r in enriched)
    queued = len(read_to_end(settings, MODERATION_QUEUE))
    assert signals > n // 2 and queued > 0

    # The agents worker counts every by-brand signal and receives every moderation item...
    wait_for(lambda: agents.metric("veille_reputation_mentions_total") >= signals, 60,
             "the spike agent counting every signal")
    wait_for(lambda: agents.metric("veille_moderation_cases_received_total") >= queued, 60,
             "the moderation agent receiving every item")
    assert agents.metric("veille_reputation_mentions_total") == signals
    assert agents.metric("veille_agents_paused_seconds") == 0
    # ... and enriches nothing; the enrich worker runs no agent: it does not even export the
    # agents' metrics (the agents worker does, as seen above).
    assert agents.metric("veille_raw_messages_total") == 0
    assert enrich.metric("veille_raw_messages_total") == n
    assert enrich.metric("veille_reputation_mentions_total", default=None) is None
    assert enrich.metric("veille_moderation_items_received_total", default=None) is None
    assert enrich.metric("veille_moderation_cases_received_total", default=None) is None
    assert enrich.metric("veille_agents_paused_seconds", default=None) is None
    # The enrich worker sends the source ticks that move the spike agent's watermark on (it
    # sent none until 2026-12-05: a quiet partition held every brand's buckets open).
    ticks = wait_for(lambda: [r for r in read_to_end(settings, MENTIONS_BY_BRAND)
                              if b'"tick"' in r.value], 30, "source ticks on mentions.by_brand")
    assert {json.loads(r.value)["p"] for r in ticks} == set(range(settings.topic_partitions))
    # Both beat (PipelineStalled reads the heartbeat's age on every worker).
    assert enrich.metric("veille_heartbeat_timestamp_seconds") > 0
    assert agents.metric("veille_heartbeat_timestamp_seconds") > 0
    # The agents' tables have their changelogs; Faust's leader topic, which nothing of veille
    # uses, is not created (it was until 2026-12-06: one more topic to create and authorize).
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert f"{settings.app_id}-spikes-open-changelog" in topics, sorted(topics)
    assert not [t for t in topics if "assignor" in t], sorted(topics)

    enrich.send()  # both asked at once, then each waited for
    agents.send()
    assert enrich.stop() == 0, enrich.log()
    assert agents.stop() == 0, agents.log()


def test_an_unknown_role_is_a_clear_error(settings) -> None:
    with pytest.raises(SettingsError, match="VEILLE_WORKER_ROLE='both' is not one of all, enrich"):
        check_role(settings.with_(worker_role="both"))
    env = settings_env(settings) | {"VEILLE_WORKER_ROLE": "both"}
    run = subprocess.run([sys.executable, "-m", "veille.cli", "worker"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "VEILLE_WORKER_ROLE='both' is not one of all, enrich, agents" in run.stderr
    assert "Traceback" not in run.stderr
    assert check_role(Settings.from_env({"VEILLE_WORKER_ROLE": "enrich"})) == "enrich"


def test_a_batch_redelivered_after_the_dedup_ttl_is_not_enriched_again(settings, start_worker) -> None:
    """The enrich worker died before committing what it had written, and came back later than
    VEILLE_DEDUP_TTL_SECONDS: the window re-read from mentions.enriched has forgotten those ids,
    but the stage knows the raw offsets written past the group's committed one and takes them
    as redeliveries (until 2026-12-05 each was enriched a second time)."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata

    settings = settings.with_(watchlist=WATCHLIST, dedup_ttl_seconds=1.0)
    ensure_topics(settings)
    n = 120
    produce(settings, MENTIONS_RAW, mentions(n))
    first = start_worker(settings.with_(worker_role="enrich"))
    wait_drained(settings, first, n)
    first.send()
    assert first.stop() == 0, first.log()
    # As if the worker had died before its commits: the group's offsets back to the start.
    raw = settings.topic(MENTIONS_RAW)
    # (The embedded broker takes commits from group members only: one joins to make them.)
    rewind = KafkaConsumer(raw, bootstrap_servers=settings.bootstrap_servers,
                           group_id=f"{settings.app_id}-enrich", enable_auto_commit=False,
                           session_timeout_ms=6000, heartbeat_interval_ms=1000)
    try:
        wait_for(lambda: rewind.poll(timeout_ms=200) is not None and
                 len(rewind.assignment()) == settings.topic_partitions, 60, "joining the group")
        rewind.commit({tp: OffsetAndMetadata(0, "", -1) for tp in rewind.assignment()})
    finally:
        rewind.close(autocommit=False)
    assert set(committed_offsets(settings, MENTIONS_RAW, f"{settings.app_id}-enrich").values()) == {0}
    time.sleep(2.0)  # past the ttl: the ids written are forgotten once re-read

    second = start_worker(settings.with_(worker_role="enrich"))
    wait_drained(settings, second, n)
    enriched = read_to_end(settings, MENTIONS_ENRICHED)
    assert len(enriched) == n and len({r.key for r in enriched}) == n
    assert second.metric("veille_redeliveries_total") == n
    assert second.metric("veille_duplicates_dropped_total") == 0
    second.send()
    assert second.stop() == 0, second.log()
