"""TopicReader's read loop and close against stand-in consumers (no broker)."""

from __future__ import annotations

import gc
import logging
from collections import namedtuple
from typing import Any

import pytest

from veille.moderate.store import CLOSE_NOISE, TopicReader
from veille.settings import Settings

Record = namedtuple("Record", "topic partition offset timestamp key value")
TP = ("t.moderation.queue", 0)


class Consumer:
    """Two records, then nothing: at the high watermark."""

    def __init__(self) -> None:
        self.polls = 0

    def end_offsets(self, tps: list[Any], timeout_ms: int) -> dict[Any, int]:
        return {tp: 2 for tp in tps}

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        self.polls += 1
        if self.polls > 1:
            return {}
        return {TP: [Record(TP[0], 0, i, 1_700_000_000_000, b"k", b'{"n": %d}' % i)
                     for i in range(2)]}

    def highwater(self, tp: Any) -> int:
        return 2

    def position(self, tp: Any) -> int:
        return 2


def reader(handler: Any) -> TopicReader:
    r = TopicReader.__new__(TopicReader)
    r.settings = Settings.from_env({}, topic_prefix="t.")
    r.handlers = {TP[0]: handler}
    r.timeout, r.ordered, r.keys, r.timestamp, r.record = 5.0, False, [], None, None
    r.first = set()
    from streams.records import loads

    r.decode = loads
    r.consumer = Consumer()  # type: ignore[assignment]
    r._assigned = [TP]
    return r


@pytest.mark.parametrize("enabled", [True, False])
def test_refresh_pauses_the_garbage_collector_and_restores_it(enabled: bool) -> None:
    """The handlers run with the collector paused (what they keep is no garbage: its
    collections were a fifth of a moderator tool's read), and it is as before afterwards,
    also when a handler fails."""
    seen: list[tuple[Any, bool]] = []
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        r = reader(lambda value: seen.append((value, gc.isenabled())))
        assert r.refresh() == 2
        assert seen == [({"n": 0}, False), ({"n": 1}, False)]
        assert gc.isenabled() is enabled

        def fail(value: Any) -> None:
            raise BrokenPipeError

        with pytest.raises(BrokenPipeError):
            reader(fail).refresh()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


class Topics:
    """Three records on each of two partitions of moderation.queue and moderation.closed, handed
    over one per partition and poll, the paused partitions' not at all (kafka-python's pause)."""

    def __init__(self, fail_after: int | None = None) -> None:
        from kafka import TopicPartition

        self.tps = [TopicPartition(f"t.moderation.{t}", p) for t in ("queue", "closed") for p in (0, 1)]
        self.at = dict.fromkeys(self.tps, 0)
        self.paused: set[Any] = set()
        self.fail_after = fail_after  # polls before the broker stops answering
        self.polls = 0

    def end_offsets(self, tps: list[Any], timeout_ms: int) -> dict[Any, int]:
        return {tp: 3 for tp in tps}

    def pause(self, *tps: Any) -> None:
        self.paused |= set(tps)

    def resume(self, *tps: Any) -> None:
        self.paused -= set(tps)

    def poll(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        self.polls += 1
        if self.fail_after is not None and self.polls > self.fail_after:
            return {}
        out = {}
        for tp in self.tps:
            if tp not in self.paused and self.at[tp] < 3:
                n = self.at[tp]
                out[tp] = [Record(tp[0], tp[1], n, 1_700_000_000_000, b"k", b'{"n": %d}' % n)]
                self.at[tp] += 1
        return out

    def highwater(self, tp: Any) -> int:
        return 3

    def position(self, tp: Any) -> int:
        return self.at[tp]


def test_the_first_refresh_reads_the_lead_topics_to_their_end_before_the_others() -> None:
    """The API reads moderation.closed first (TopicReader's `first`), so that its view knows
    which cases it forgets before their items come (CaseView.forget_before); the refreshes after
    the first read every topic together, and so does the next one after a failed first."""
    seen: list[str] = []
    r = reader(None)
    r.handlers = {t: (lambda v, t=t: seen.append(t.rsplit(".", 1)[1]))
                  for t in ("t.moderation.queue", "t.moderation.closed")}
    r.first = {"t.moderation.closed"}
    r.consumer = Topics()  # type: ignore[assignment]
    r._assigned = list(r.consumer.tps)
    assert r.refresh() == 12
    assert seen == ["closed"] * 6 + ["queue"] * 6 and r.consumer.paused == set()
    assert r.first == set()
    # A broker gone quiet during the first read: its partitions are not left paused.
    r = reader(None)
    r.handlers = {t: lambda v: None for t in ("t.moderation.queue", "t.moderation.closed")}
    r.first, r.timeout = {"t.moderation.closed"}, 0.2
    r.consumer = Topics(fail_after=1)  # type: ignore[assignment]
    r._assigned = list(r.consumer.tps)
    from veille.moderate.store import BrokerError

    with pytest.raises(BrokerError):
        r.refresh()
    assert r.consumer.paused == set()
    r.consumer.fail_after = None
    r.refresh()
    assert all(n == 3 for n in r.consumer.at.values())


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
