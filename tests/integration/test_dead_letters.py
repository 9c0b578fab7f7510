"""`veille dead-letters`: an operator reads what the enrichment stage dead-lettered, and replays it
once what refused it is fixed (the runbook's DeadLettersRising), on the real broker and worker."""

from __future__ import annotations

import json
import subprocess

import pytest

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.cli_helpers import as_operator
from tests.integration.test_bad_input import produce
from tests.moderation_helpers import mention, wait_for
from veille.moderate.store import TopicReader
from veille.settings import Settings

pytestmark = pytest.mark.integration


def veille(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return as_operator(settings, "dead-letters", *args)


def enriched_ids(settings: Settings) -> set[str]:
    ids: set[str] = set()
    reader = TopicReader(settings, {MENTIONS_ENRICHED: lambda record: ids.add(record["id"])})
    try:
        reader.refresh()
    finally:
        reader.close()
    return ids


def test_an_operator_reads_the_dead_letters_then_replays_them_once_fixed(settings, start_worker) -> None:
    strict = settings.with_(max_text_chars=40)  # a limit set too low: long mentions refused
    ensure_topics(strict)
    worker = start_worker(strict)
    long_key, long_value = mention("long-1", "Acme support kept me waiting " + "for hours " * 8)
    produce(settings, [(b"bad-1", b'{"id": "bad-1", "text": '), (long_key, long_value),
                       (b"\xff", b"\xff\xfe not utf-8")])

    def listed() -> list[dict[str, object]]:
        done = veille(settings, "--json")
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    letters = wait_for(lambda: (found := listed()) and len(found) == 3 and found, 60,
                       "three dead letters")
    by_reason = {str(d["reason"]): d for d in letters}
    assert set(by_reason) == {"invalid_json", "text_too_large", "undecodable_bytes"}
    too_long = by_reason["text_too_large"]
    assert too_long["field"] == "text" and too_long["key"] == "long-1"
    assert too_long["value"] == long_value.decode()  # the original bytes, untouched
    assert too_long["topic"] == settings.topic(MENTIONS_RAW) and isinstance(too_long["offset"], int)
    assert by_reason["undecodable_bytes"]["value"] == "\\xff\\xfe not utf-8"  # escaped, not lost
    assert by_reason["invalid_json"]["field"] is None

    # A line each for a terminal, the count by reason on stderr; the filters.
    plain = veille(settings)
    assert plain.returncode == 0 and len(plain.stdout.splitlines()) == 3, plain
    assert "text_too_large  text  " in plain.stdout and "\x1b" not in plain.stdout
    assert plain.stderr.strip() == ("3 dead letters (invalid_json: 1, text_too_large: 1, "
                                    "undecodable_bytes: 1)"), plain.stderr
    one = veille(settings, "--reason", "text_too_large", "--json")
    assert [json.loads(line)["key"] for line in one.stdout.splitlines()] == ["long-1"]
    newest = veille(settings, "--limit", "1")
    assert len(newest.stdout.splitlines()) == 1 and "the newest 1 shown" in newest.stderr
    assert len(veille(settings, "--limit", "5").stdout.splitlines()) == 3  # more than there are
    wrong = veille(settings, "--reason", "too_long")
    assert wrong.returncode == 2 and "is not a dead-letter reason: undecodable_bytes" in wrong.stderr

    # Fixed: the limit back to its default, the worker restarted; the long mention replayed.
    worker.stop()
    start_worker(settings)
    assert "long-1" not in enriched_ids(settings)
    replay = veille(settings, "--reason", "text_too_large", "--replay")
    assert replay.returncode == 0, replay.stderr
    assert f"sent 1 dead letter(s) to {settings.topic(MENTIONS_RAW)} again" in replay.stderr
    wait_for(lambda: "long-1" in enriched_ids(settings), 60, "the replayed mention, enriched")
    assert len(listed()) == 3  # the dead letters stay where they are (a Kafka topic)
