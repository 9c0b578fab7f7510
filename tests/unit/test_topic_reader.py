"""TopicReader's read loop against a stand-in consumer (no broker)."""

from __future__ import annotations

import gc
from collections import namedtuple
from typing import Any

import pytest

from veille.moderate.store import TopicReader
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
