"""`veille status`'s gathering against a broker whose topics move while it asks (fakes)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from veille.settings import Settings


def test_a_busy_stage_behind_is_never_shown_as_read_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """The records a group has still to read are an end less its committed offset. Asked in
    that order on a busy topic (ends first, offsets seconds later: a fetch round on a loaded
    host), the stage's later offsets passed the earlier ends and a stage 1,000 records behind
    read "0". Its committed offsets are asked first: what is counted may only be more."""
    import kafka
    import kafka.admin

    from veille import status

    world = {"end": 1000}
    lag = 10  # the stage is always this far behind, at any moment

    class Consumer:
        def __init__(self, **_kw: Any) -> None:
            self.assigned: list[Any] = []

        def topics(self) -> set[str]:
            return set(status.TOPICS)

        def partitions_for_topic(self, _topic: str) -> set[int]:
            return {0}

        def assign(self, tps: list[Any]) -> None:
            self.assigned = tps

        def seek_to_end(self) -> None:
            pass

        def poll(self, **_kw: Any) -> dict[Any, Any]:
            world["end"] += 100  # records keep coming while it reads
            return {}

        def highwater(self, _tp: Any) -> int:
            return world["end"]

        def position(self, _tp: Any) -> int:
            return world["end"]

        def beginning_offsets(self, tps: list[Any]) -> dict[Any, int]:
            return {tp: 0 for tp in tps}

        def close(self) -> None:
            pass

    class Admin:
        def __init__(self, **_kw: Any) -> None:
            pass

        def list_group_offsets(self, group: str) -> dict[str, Any]:
            world["end"] += 100
            committed = SimpleNamespace(offset=world["end"] - lag)
            return {group: {kafka.TopicPartition(name, 0): committed for name in status.TOPICS}}

        def close(self) -> None:
            pass

    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", Admin)
    states = {s.name: s for s in status.gather(Settings(), timeout=5)}
    assert sum(states["mentions.raw"].behind().values()) >= lag
