"""`veille erase --author`: an erasure request against the real broker and a real worker. The
author's moderation cases lose their author, text and link in every tool at once, the agent
counts nothing twice and still takes decisions on them, and the command says what is left on the
mentions topics until their retention."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime

import pytest

from streams.topics import ensure_topics
from tests.cli_helpers import as_operator
from tests.integration.test_bad_input import produce
from tests.moderation_helpers import by_label, wait_for, wait_metrics
from veille.settings import Settings

pytestmark = pytest.mark.integration

#: id -> (author as the collector wrote it, text): three insults addressed to Acme (cases).
RAW = {
    "e-1": ("@Julie_35", "@acme_fr espèce de connard"),
    "e-2": ("julie_35", "@acme_fr bande de connards, rendez-moi mon argent"),
    "e-3": ("@bob", "@acme_fr espèce de connard, vraiment"),
}


def veille(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return as_operator(settings, *args)


def pending(settings: Settings) -> dict[str, dict[str, object]]:
    done = veille(settings, "moderate", "list", "--json")
    assert done.returncode == 0, done.stderr
    return {c["case_id"]: c for c in map(json.loads, done.stdout.splitlines())}


def test_an_author_s_cases_are_erased_in_every_tool_and_the_rest_is_said(settings, start_worker) -> None:
    ensure_topics(settings)
    worker = start_worker(settings)
    now = datetime.now(UTC).isoformat()
    produce(settings, [(i.encode(), json.dumps({
        "id": i, "source": "test", "platform": "twitter", "author": author, "text": text,
        "url": f"https://example.org/{i}", "created_at": now}, ensure_ascii=False).encode())
        for i, (author, text) in RAW.items()])
    wait_for(lambda: set(pending(settings)) == set(RAW), 60, "three cases pending")
    decided = veille(settings, "moderate", "decide", "e-2", "reject", "--moderator", "carol")
    assert decided.returncode == 0, decided.stderr
    wait_for(lambda: set(pending(settings)) == {"e-1", "e-3"}, 30, "e-2 closed")

    # The access request first: the author's cases, pending and closed, whatever the case and @.
    mine = veille(settings, "moderate", "list", "--author", "JULIE_35", "--json")
    assert [json.loads(line)["case_id"] for line in mine.stdout.splitlines()] == ["e-1"], mine.stderr
    mine = veille(settings, "moderate", "closed", "--author", "@julie_35", "--json")
    assert [json.loads(line)["case_id"] for line in mine.stdout.splitlines()] == ["e-2"], mine.stderr

    # A dry run names the two cases (whatever the handle's case and @) and writes nothing.
    dry = veille(settings, "erase", "--author", "JULIE_35", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would erase the author, text and link of 2 moderation case(s)" in dry.stdout
    assert "e-1" in dry.stdout and "e-2" in dry.stdout and "e-3" not in dry.stdout
    assert pending(settings)["e-1"]["author"] == "@Julie_35"

    done = veille(settings, "erase", "--author", "@julie_35")
    assert done.returncode == 0, done.stderr
    assert "erased the author, text and link of 2 moderation case(s)" in done.stdout
    lines = {line.split(":")[0]: line for line in done.stdout.splitlines()}
    for topic in ("mentions.raw", "mentions.enriched"):
        said = lines[settings.topic(topic)]
        assert "2 record(s) of '@julie_35'" in said and "retention (7 days" in said, said
    assert "Traceback" not in done.stderr

    # Every tool shows them erased at once; the other author's case is untouched.
    cases = pending(settings)
    assert (cases["e-1"]["author"], cases["e-1"]["text"], cases["e-1"]["url"]) == (None, "", None)
    assert cases["e-1"]["erased_at"]
    assert cases["e-3"]["author"] == "@bob" and cases["e-3"]["text"] == RAW["e-3"][1]
    listed = veille(settings, "moderate", "list")
    rows = {line.split()[2]: line for line in listed.stdout.splitlines()[1:-1]}
    assert "(erased " in rows["e-1"] and "espèce" not in rows["e-1"]
    assert rows["e-3"].endswith(RAW["e-3"][1])
    shown = veille(settings, "moderate", "show", "e-2")
    assert "status      closed" in shown.stdout and "by ?" in shown.stdout
    assert "(author, text and link erased at " in shown.stdout and "rendez-moi" not in shown.stdout

    # Twice: nothing left to erase in the cases.
    again = veille(settings, "erase", "--author", "julie_35")
    assert again.returncode == 0 and "no moderation case of 'julie_35'" in again.stdout

    # The agent counted the markers as no case; the erased pending case still takes its decision.
    decided = veille(settings, "moderate", "decide", "e-1", "approve", "--moderator", "carol")
    assert decided.returncode == 0, decided.stderr
    scraped = wait_metrics(worker.metrics_url, lambda s: by_label(
        s, "veille_moderation_cases_processed_total", "brand") == {("acme",): 2}, 30,
        "e-1 and e-2 processed")
    assert by_label(scraped, "veille_moderation_cases_received_total", "brand") == {("acme",): 3}
    assert set(pending(settings)) == {"e-3"}
    report = veille(settings, "moderation", "report")
    assert report.returncode == 0, report.stderr
    row = next(line.split() for line in report.stdout.splitlines() if line.startswith("acme "))
    assert (row[1], row[2], row[4]) == ("3", "2", "1"), report.stdout  # received, processed, rejected

