"""The Kafka clients' repeated log messages are thinned out, never silenced (veille/logs.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from types import SimpleNamespace

from veille.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def logger_with(filter_: RepeatFilter, name: str, handlers: int = 1
                ) -> tuple[logging.Logger, list[io.StringIO]]:
    """A logger `name` (not propagating) whose `handlers` stream handlers carry `filter_`."""
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    streams = []
    for _ in range(handlers):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(filter_)
        logger.addHandler(handler)
        streams.append(stream)
    return logger, streams


def test_a_repeated_client_message_goes_through_once_per_interval_with_a_count() -> None:
    clock = Clock()
    repeat = RepeatFilter(interval=30.0, clock=clock)
    log, (out,) = logger_with(repeat, "aiokafka.conn")
    for node in range(100):  # one kind: the template, whatever its arguments
        clock.now += 0.1
        log.error("Unable connect to node with id %s: %s", node, "refused")
    lines = out.getvalue().splitlines()
    assert lines == ["Unable connect to node with id 0: refused"]
    clock.now += 30.0
    log.error("Unable connect to node with id %s: %s", 7, "refused")
    assert out.getvalue().splitlines()[1] == (
        "Unable connect to node with id 7: refused [99 more like this in the last 40 s, not shown]")
    clock.now += 31.0  # nothing held back since: no count
    log.error("Unable connect to node with id %s: %s", 8, "refused")
    assert out.getvalue().splitlines()[2] == "Unable connect to node with id 8: refused"


def test_kinds_are_told_apart_and_other_loggers_pass() -> None:
    clock = Clock()
    repeat = RepeatFilter(interval=30.0, clock=clock)
    kafka, (kafka_out,) = logger_with(repeat, "kafka.net.manager")
    ours, (ours_out,) = logger_with(repeat, "veille.collectors.base")
    for _ in range(5):
        kafka.error("Connection failed: %s", "ECONNREFUSED")
        kafka.warning("Connection failed: %s", "ECONNREFUSED")  # another level: another kind
        kafka.error("Bootstrap failed: %s", "timeout")  # another template: another kind
        ours.warning("broker did not acknowledge %d mentions", 1)  # not a client library
    assert len(kafka_out.getvalue().splitlines()) == 3
    assert len(ours_out.getvalue().splitlines()) == 5
    # "kafkaesque" is not kafka's
    other, (other_out,) = logger_with(repeat, "kafkaesque")
    for _ in range(3):
        other.error("same")
    assert len(other_out.getvalue().splitlines()) == 3


def test_one_filter_on_several_handlers_decides_once_per_record() -> None:
    """Faust's root logger has two handlers (the console and its spinner's): a record let through
    must reach both, and count once."""
    clock = Clock()
    repeat = RepeatFilter(interval=30.0, clock=clock)
    log, (first, second) = logger_with(repeat, "aiokafka.consumer", handlers=2)
    log.error("Failed fetch messages from %s", 1)
    log.error("Failed fetch messages from %s", 1)
    clock.now += 31
    log.error("Failed fetch messages from %s", 1)
    expected = ["Failed fetch messages from 1",
                "Failed fetch messages from 1 [1 more like this in the last 31 s, not shown]"]
    assert first.getvalue().splitlines() == expected
    assert second.getvalue().splitlines() == expected


def test_the_config_dumping_loggers_drop_debug_and_follow_the_level_otherwise() -> None:
    """Their DEBUG records carry a client's secrets: never passed. Above that they follow the
    root level: set to INFO to keep DEBUG out, they printed connection chatter ("Connected",
    "Connection closed") before every one-shot command's output under the default WARNING."""
    from veille.logs import CONFIG_DUMPING_LOGGERS, keep_secrets_out_of_logs

    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    before = root.level
    root.addHandler(handler)
    try:
        keep_secrets_out_of_logs()
        keep_secrets_out_of_logs()  # as each command and test does: no second filter
        for name in CONFIG_DUMPING_LOGGERS:
            logger = logging.getLogger(name)
            assert len(logger.filters) == 1
            root.setLevel(logging.WARNING)
            logger.info("connected %s", name)
            logger.warning("warned %s", name)
            root.setLevel(logging.DEBUG)
            logger.debug("password %s", name)
            logger.info("info %s", name)
            lines = stream.getvalue().splitlines()
            assert lines[-2:] == [f"warned {name}", f"info {name}"], lines
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def test_kafka_pythons_slow_step_warning_is_shown_only_at_debug() -> None:
    """kafka-python 3's I/O loop warns when one of its own steps took over 0.1 s, formatted in
    advance (so never thinned as one kind): on a busy host it landed on `veille dead-letters`'s
    stderr between the command's own lines (CI, 2026-12-07). Nothing an operator can act on:
    shown at DEBUG only; the logger's other warnings pass."""
    from veille.logs import SLOW_STEP_LOGGER, hide_slow_steps

    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    before = root.level
    root.addHandler(handler)
    slow = ("Task <kafka.net.selector.Task object at 0x7f96> ran for 0.122s (>0.100s threshold). "
            "It is blocking the event loop -- likely a tight sync loop inside a coroutine. "
            "Other pollers will time out.")
    try:
        hide_slow_steps()
        hide_slow_steps()
        logger = logging.getLogger(SLOW_STEP_LOGGER)
        assert len(logger.filters) == 1
        root.setLevel(logging.WARNING)
        logger.warning(slow)
        logger.warning("Task %s left RUNNING after step; demoting to UNSCHEDULED", "t")
        assert stream.getvalue().splitlines() == [
            "Task t left RUNNING after step; demoting to UNSCHEDULED"]
        root.setLevel(logging.DEBUG)
        logger.warning(slow)
        assert stream.getvalue().splitlines()[-1] == slow
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def test_a_one_shot_commands_client_records_are_held_and_shown_only_when_it_fails() -> None:
    from veille.logs import hold_client_records

    root = logging.getLogger("held-test")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.WARNING)
    out = io.StringIO()
    root.addHandler(logging.StreamHandler(out))

    def record(name: str, level: int) -> Callable[..., None]:  # as if logged by logger `name`
        def log(msg: str, *args: object) -> None:
            root.handle(logging.makeLogRecord({"name": name, "levelno": level, "msg": msg,
                                               "args": args, "levelname": logging.getLevelName(level)}))
        return log

    client = SimpleNamespace(error=record("kafka.conn", logging.ERROR))
    own = SimpleNamespace(warning=record("veille", logging.WARNING))

    held = hold_client_records(root)
    assert held is not None
    client.error("Error receiving network data: closing")
    own.warning("the command's own word")
    assert out.getvalue() == "the command's own word\n"  # the client's record held back
    held.stop()  # a run that succeeds: nothing shown, nothing held on
    client.error("after the run")
    assert out.getvalue() == "the command's own word\nafter the run\n"

    out.truncate(0), out.seek(0)
    held = hold_client_records(root)
    assert held is not None
    for n in range(30):
        client.error("retry %d", n)
    assert out.getvalue() == ""
    held.release()  # a run that ends in an error: the last 20, oldest first
    assert out.getvalue().splitlines() == [f"retry {n}" for n in range(10, 30)]

    root.setLevel(logging.INFO)  # VEILLE_LOG_LEVEL=INFO asks to see them: nothing held
    assert hold_client_records(root) is None


def test_the_cli_shows_the_client_records_of_a_command_that_failed_only(monkeypatch, caplog) -> None:
    from veille import cli

    def command(fail: bool):
        def run(args) -> int:
            # (a template of its own each run: main's RepeatFilter holds a repeat back)
            logging.getLogger("kafka.conn").error(f"Error receiving network data ({fail})")
            if fail:
                raise cli.CliError("the broker went away")
            return 0
        return run

    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("VEILLE_LOG_LEVEL", "WARNING")
    monkeypatch.setattr(cli, "cmd_mentions", command(fail=False))
    assert cli.main(["mentions"]) == 0
    assert [r.name for r in caplog.records] == []
    monkeypatch.setattr(cli, "cmd_mentions", command(fail=True))
    assert cli.main(["mentions"]) == 2
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("kafka.conn", "Error receiving network data (True)")]
    logging.getLogger("kafka.conn").error("after the failed run")  # nothing left holding the handlers
    assert caplog.records[-1].getMessage() == "after the failed run"
