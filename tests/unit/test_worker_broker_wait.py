"""A worker started while its broker is away waits for it (agents.worker.ensure_topics_waiting)
rather than exiting; a broker that refuses veille's settings, or topics it cannot work with,
are still an error at once."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError

from agents.worker import BROKER_RETRY_MAX_SECONDS, ensure_topics_waiting
from streams.topics import BrokerNotReady, TopicError
from veille.settings import Settings, SettingsError


def test_the_broker_is_waited_for_with_a_growing_pause() -> None:
    settings = Settings.from_env({})
    answers = iter([(False, "")] * 7 + [(True, "")] * 3)
    failures: list[Exception] = [BrokerNotReady("cannot reach the broker at kafka://x: gone"),
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


def test_every_retriable_client_error_is_waited_out() -> None:
    """A broker that answers the sign-in, then times out a request or is not ready yet (starting,
    or a cluster whose nodes come up one by one): kafka-python raises a RetriableError other than
    KafkaConnectionError or KafkaTimeoutError, which ended the worker with a traceback (found in
    review, 2026-12-06)."""
    from kafka.errors import NodeNotReadyError, RequestTimedOutError

    settings = Settings.from_env({})
    failures: list[Exception] = [NodeNotReadyError(1), RequestTimedOutError("list_topics")]
    slept: list[float] = []

    def ensure(_settings: Settings) -> list[str]:
        if failures:
            raise failures.pop(0)
        return []

    assert ensure_topics_waiting(settings, ensure, lambda _s: (True, ""), slept.append) == []
    assert slept == [1, 2]


def test_the_wait_names_a_host_that_does_not_resolve(caplog: pytest.LogCaptureFixture) -> None:
    """A typo in VEILLE_BROKER_URL waits for ever, as an outage does: the warning says the
    name does not resolve and points at the setting (it said only "no bootstrap server
    answers")."""
    settings = Settings.from_env({"VEILLE_BROKER_URL": "kafka://no-such-broker.invalid:9092"})
    answers = iter([(False, ""), (True, "")])
    with caplog.at_level("WARNING"):
        ensure_topics_waiting(settings, lambda _s: [], lambda _s: next(answers), lambda _s: None)
    [line] = [r.getMessage() for r in caplog.records if "waiting for the broker" in r.getMessage()]
    assert "no-such-broker.invalid does not resolve" in line and "VEILLE_BROKER_URL" in line, line



def test_a_topic_the_broker_cannot_create_yet_is_to_be_retried(monkeypatch) -> None:
    """A KRaft cluster electing its controller answers CreateTopics with NotControllerError, a
    retriable error: ensure_topics raised it as a refusal, and a worker exited 2 (found in
    review, 2026-12-06). It is now BrokerNotReady, which the worker waits out (the first test);
    a refusal proper (an ACL) is still a TopicError to stop on."""
    import kafka.admin
    from kafka.errors import NotControllerError, TopicAuthorizationFailedError

    from streams.topics import ensure_topics

    answer: list[type] = []

    class Admin:
        def __init__(self, **_kwargs: object) -> None:
            pass

        def list_topics(self) -> list[str]:
            return []

        def create_topics(self, new: list, raise_errors: bool = True) -> dict:
            return {"topics": [{"name": new[0].name, "error_code": answer[0].errno,
                                "error_message": None}]}

        def close(self) -> None:
            pass

    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", Admin)
    settings = Settings.from_env({})
    answer[:] = [NotControllerError]
    with pytest.raises(BrokerNotReady, match="NotControllerError"):
        ensure_topics(settings)
    answer[:] = [TopicAuthorizationFailedError]
    with pytest.raises(TopicError, match="TopicAuthorizationFailedError") as refused:
        ensure_topics(settings)
    assert not isinstance(refused.value, BrokerNotReady)
