"""A one-shot command piped into a reader that stops early (`veille moderate list | head`) ends
quietly with status 0, on the real broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from streams.topics import MODERATION_QUEUE, ensure_topics
from tests.conftest import settings_env
from tests.integration.test_moderation_api import item
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration


def test_moderate_list_into_a_reader_that_stops_early_ends_quietly(settings) -> None:
    """The list's lines outgrow the pipe's buffer (64 KiB); the reader takes one and closes it.
    Before: "veille: error: [Errno 32] Broken pipe" on stderr and status 2, as a failure."""
    ensure_topics(settings)
    cases = [item(f"pipe-{i:05d}", "acme", ("insult",), "review", 600 - i / 10) for i in range(3000)]
    produce(settings, MODERATION_QUEUE,
            [(c["case_id"].encode(), json.dumps(c).encode()) for c in cases])
    for args in (("moderate", "list"), ("moderate", "list", "--json")):
        listing = subprocess.Popen([sys.executable, "-m", "veille.cli", *args],
                                   env=settings_env(settings), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert listing.stdout is not None and listing.stderr is not None
        first = listing.stdout.readline()
        listing.stdout.close()  # `head -1` done
        error = listing.stderr.read()
        assert listing.wait(60) == 0, error
        assert first.strip() and "Broken pipe" not in error and "error" not in error, error
