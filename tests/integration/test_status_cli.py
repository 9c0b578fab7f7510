"""`veille status` against the real broker: the topics (missing, then created), the records they
hold counted from fetch responses (Tansu's ListOffsets says one record for a batch of ten), and
how far the enrichment stage and the agents have read, before and after a real worker ran."""

from __future__ import annotations

import json
import subprocess

import pytest

from streams.topics import MENTIONS_RAW, ensure_topics
from tests.cli_helpers import as_operator
from tests.integration.test_bad_input import produce
from tests.kafka_helpers import wait_committed_to_end
from tests.moderation_helpers import mention
from veille.settings import Settings
from veille.status import TOPICS

pytestmark = pytest.mark.integration


def veille(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return as_operator(settings, "status", *args)


def rows(out: str) -> dict[str, list[str]]:
    """The table's topic lines, by topic name (without the prefix): their cells."""
    found = {}
    for line in out.splitlines()[2:]:
        cells = line.split(None, 3)
        for name in TOPICS:
            if cells and cells[0].endswith(name):
                found[name] = cells[1:]
    return found


def test_status_from_missing_topics_to_a_pipeline_read_to_its_end(settings, start_worker) -> None:
    done = veille(settings)
    assert done.returncode == 1, done.stderr
    assert all(cells == ["missing"] for cells in rows(done.stdout).values())
    assert len(rows(done.stdout)) == len(TOPICS)
    assert done.stdout.splitlines()[-1].startswith(f"missing topics: {settings.topic(MENTIONS_RAW)}, ")

    ensure_topics(settings)
    ids = [f"s-{i}" for i in range(40)]
    produce(settings, [mention(i, f"Acme is down again, number {i}") for i in ids])  # batched
    done = veille(settings)
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert table[MENTIONS_RAW][:2] == [str(settings.topic_partitions), "40"], done.stdout
    assert table[MENTIONS_RAW][2] == ("enrichment stage (no worker): never read (no worker of this app id "
                                      "has committed a partition)"), done.stdout
    assert table["mentions.enriched"] == [str(settings.topic_partitions), "0"]
    state = json.loads(veille(settings, "--json").stdout)
    raw = next(t for t in state["topics"] if t["name"] == MENTIONS_RAW)
    assert raw["records"] == 40 and raw["reader"]["behind"] == 40 and raw["reader"]["never_read"]
    assert all(p["committed"] is None and p["behind"] == p["end"] for p in raw["partitions"])

    start_worker(settings)
    wait_committed_to_end(settings, MENTIONS_RAW, settings.enrich_group, timeout=120)
    done = veille(settings)
    assert done.returncode == 0, done.stderr
    table = rows(done.stdout)
    assert table[MENTIONS_RAW][1:] == ["40", "enrichment stage (1 worker): 0"], done.stdout
    assert table["mentions.enriched"][1] == "40"
    assert table["moderation.queue"][2].startswith("moderation agent (1 worker): ")
    state = json.loads(veille(settings, "--json").stdout)
    assert state["app_id"] == settings.app_id and state["topic_prefix"] == settings.topic_prefix
    raw = next(t for t in state["topics"] if t["name"] == MENTIONS_RAW)
    assert raw["reader"] == {"name": "enrichment stage", "group": settings.enrich_group, "members": 1,
                             "behind": 0, "never_read": False}
    assert sum(p["committed"] for p in raw["partitions"]) == 40
    assert "Traceback" not in done.stderr
