"""A watch list changed while the worker runs: taken without a restart (a new brand matched,
counted, queued for moderation and watched for spikes; a brand taken off no longer matched), and
a file that does not load refused without stopping anything (the one in use stays)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import ROOT
from tests.integration.test_pipeline import wait_drained
from tests.kafka_helpers import produce, read_to_end
from tests.moderation_helpers import by_label, mention, samples, wait_for, wait_metrics

pytestmark = pytest.mark.integration
ORIGINAL = (ROOT / "tests/data/watchlist.toml").read_text(encoding="utf-8")
ZORGLUB = """
[[brands]]
id = "zorglub"
name = "Zorglub"
aliases = ["Zorglub Telecom"]
"""
COMPLAINT = "Zorglub Telecom est encore en panne, c'est inadmissible, rendez-moi mon argent"


def save(path: Path, text: str) -> None:
    """As an editor saves: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def brands_of(settings, ids: set[str]) -> dict[str, list[str]]:
    return {r.key.decode(): json.loads(r.value)["brands"]
            for r in read_to_end(settings, MENTIONS_ENRICHED) if r.key.decode() in ids}


def reloads(url: str) -> dict[tuple[str, ...], float]:
    return by_label(samples(url), "veille_watchlist_reloads_total", "outcome")


@pytest.mark.parametrize("role", ["all", "enrich"])
def test_a_changed_watch_list_is_taken_without_a_restart(settings, start_worker, tmp_path,
                                                          role) -> None:
    path = tmp_path / "watchlist.toml"
    save(path, ORIGINAL)
    settings = settings.with_(watchlist=str(path), watchlist_reload_seconds=0.5, worker_role=role)
    ensure_topics(settings)
    worker = start_worker(settings)
    url = worker.metrics_url
    assert samples(url)[("veille_watchlist_brands", frozenset())] == 2

    before = [mention(f"before-{i}", f"{COMPLAINT} ({i})") for i in range(5)]
    produce(settings, MENTIONS_RAW, before)
    wait_drained(settings, worker, 5)
    assert set(map(tuple, brands_of(settings, {f"before-{i}" for i in range(5)}).values())) == {()}

    # A brand added: matched from the change on, its series exported, counted by every agent.
    save(path, ORIGINAL + ZORGLUB)
    wait_metrics(url, lambda s: s[("veille_watchlist_brands", frozenset())] == 3, 30,
                 "the new watch list taken")
    assert reloads(url) == {("applied",): 1.0}
    page = samples(url)
    assert ("veille_mentions_enriched_total",
            frozenset({("brand", "zorglub"), ("platform", "twitter"), ("language", "fr"),
                       ("sentiment", "negative")})) in page
    after = [mention(f"after-{i}", f"{COMPLAINT} ({i})") for i in range(5)]
    produce(settings, MENTIONS_RAW, after)
    wait_drained(settings, worker, 10)
    assert brands_of(settings, {f"after-{i}" for i in range(5)}) == {
        f"after-{i}": ["zorglub"] for i in range(5)}
    enriched = by_label(samples(url), "veille_mentions_enriched_total", "brand")
    assert enriched.get(("zorglub",)) == 5, enriched
    if role == "all":  # the agents of this worker watch it too
        wait_metrics(url, lambda s: by_label(s, "veille_reputation_mentions_total", "brand")
                     .get(("zorglub",)) == 5, 30, "the spike agent counting the new brand")
        wait_metrics(url, lambda s: by_label(s, "veille_moderation_cases_received_total",
                                             "brand").get(("zorglub",)) == 5, 30,
                     "the moderation agent counting the new brand's cases")

    # A file that does not load: refused, said, and the one in use stays.
    path.write_text(ORIGINAL + ZORGLUB + "\n[[brands]\nid = ", encoding="utf-8")
    wait_metrics(url, lambda s: s[("veille_watchlist_refused", frozenset())] == 1, 30,
                 "the broken watch list refused")
    assert reloads(url) == {("applied",): 1.0, ("refused",): 1.0}
    assert "is not valid TOML" in worker.log()
    during = [mention(f"during-{i}", f"{COMPLAINT} ({i})") for i in range(3)]
    produce(settings, MENTIONS_RAW, during)
    wait_drained(settings, worker, 13)
    assert set(map(tuple, brands_of(settings, {f"during-{i}" for i in range(3)}).values())) == {
        ("zorglub",)}
    assert worker.proc.poll() is None

    # Mended, without the brand: it is no longer matched, and the refusal is over.
    save(path, ORIGINAL)
    wait_metrics(url, lambda s: s[("veille_watchlist_refused", frozenset())] == 0
                 and s[("veille_watchlist_brands", frozenset())] == 2, 30,
                 "the mended watch list taken")
    assert reloads(url) == {("applied",): 2.0, ("refused",): 1.0}
    gone = [mention(f"gone-{i}", f"{COMPLAINT} ({i})") for i in range(3)]
    produce(settings, MENTIONS_RAW, gone)
    wait_drained(settings, worker, 16)
    assert set(map(tuple, brands_of(settings, {f"gone-{i}" for i in range(3)}).values())) == {()}
    wait_for(lambda: worker.proc.poll() is None, 1, "the worker still running")


def test_an_enrichment_worker_reading_the_watch_list_at_start_only_keeps_running(
        settings, start_worker) -> None:
    """VEILLE_WATCHLIST_RELOAD_SECONDS=0 (read at start only): the enrichment worker runs on.
    Its follower returned at once, and the worker took that for its stage ending: it stopped
    right after saying Ready (found in review, 2026-12-06)."""
    settings = settings.with_(watchlist_reload_seconds=0, worker_role="enrich")
    ensure_topics(settings)
    worker = start_worker(settings)
    produce(settings, MENTIONS_RAW, [mention(f"m-{i}", f"{COMPLAINT} ({i})") for i in range(3)])
    wait_drained(settings, worker, 3)
    assert worker.proc.poll() is None, worker.log()
