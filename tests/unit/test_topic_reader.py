"""TopicReader's close: what kafka-python reports of a consumer's own close is no error."""

from __future__ import annotations

import logging

import pytest

from veille.moderate.store import CLOSE_NOISE, TopicReader


class ClosingConsumer:
    """A consumer whose close logs what kafka-python 3.0.12 may log while closing: a cancelled
    metadata refresh, and its I/O thread reading a socket the close took away."""

    def close(self) -> None:
        logging.getLogger("kafka.cluster").error("Metadata refresh: failed Cancelled")
        try:
            None.recv(4096)  # type: ignore[attr-defined]
        except AttributeError:
            logging.getLogger("kafka.net.transport").exception(
                "Error receiving network data closing socket")
        logging.getLogger("kafka.net.selector").info("IO loop exited cleanly")


def test_a_readers_close_logs_no_error_of_the_clients_own_close(caplog: pytest.LogCaptureFixture) -> None:
    """`veille alerts --follow | head -1` at VEILLE_LOG_LEVEL=INFO printed kafka-python's
    traceback of the close (CI, 2026-12-08): the command looked as if it had crashed."""
    reader = TopicReader.__new__(TopicReader)  # no broker: only close() is under test
    reader.consumer = ClosingConsumer()
    levels = {name: logging.getLogger(name).level for name in CLOSE_NOISE}
    with caplog.at_level(logging.INFO):
        reader.close()
    assert [r.levelname for r in caplog.records if r.name.startswith("kafka")] == ["INFO"]
    assert "Traceback" not in caplog.text
    assert {name: logging.getLogger(name).level for name in CLOSE_NOISE} == levels  # restored
