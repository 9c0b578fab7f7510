"""Worker roles: an `enrich` worker (the enrichment stage alone, no Faust) and an `agents` worker
(the spike and moderation agents alone) run the pipeline end to end between them."""

from __future__ import annotations

import json
import subprocess
import sys
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
from tests.kafka_helpers import produce, read_to_end
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
