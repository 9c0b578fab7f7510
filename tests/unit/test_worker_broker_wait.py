"""A worker started while its broker is away waits for it (agents.worker.ensure_topics_waiting)
rather than exiting; a broker that refuses veille's settings, or topics it cannot work with,
are still an error at once."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError

from agents.worker import BROKER_RETRY_MAX_SECONDS, ensure_topics_waiting
from streams.topics import TopicError
from veille.settings import Settings, SettingsError


def test_the_broker_is_waited_for_with_a_growing_pause() -> None:
    settings = Settings.from_env({})
    answers = iter([(False, "")] * 7 + [(True, "")] * 3)
    failures: list[Exception] = [TopicError("cannot reach the broker at kafka://x: gone"),
                                 KafkaTimeoutError("list_topics")]
    slept: list[float] = []

    def ensure(_settings: Settings) -> list[str]:
        if failures:
            raise failures.pop(0)
        return ["mentions.raw"]

    created = ensure_topics_waiting(settings, ensure, lambda _s: next(answers), slept.append)
    assert created == ["mentions.raw"]
    assert slept == [1, 2, 4, 8, 16, 30, 30, 30, 30]
    assert max(slept) == BROKER_RETRY_MAX_SECONDS


def test_a_refusal_is_an_error_at_once() -> None:
    settings = Settings.from_env({})

    def never(_s: float) -> None:
        raise AssertionError("waited")

    with pytest.raises(SettingsError, match="cannot sign in to the broker at .*: bad password"):
        ensure_topics_waiting(settings, lambda _s: [], lambda _s: (False, "bad password"), never)

    def mismatch(_settings: Settings) -> list[str]:
        raise TopicError("mentions.raw has 8 partitions but VEILLE_TOPIC_PARTITIONS is 4: set it to 8")

    with pytest.raises(TopicError, match="has 8 partitions"):
        ensure_topics_waiting(settings, mismatch, lambda _s: (True, ""), never)
