"""VEILLE_LOG_FORMAT=json: one JSON object per log line (veille/logs.py's JsonFormatter), and the
setting checked at start."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.conftest import ROOT
from veille import logs
from veille.logs import JsonFormatter, JsonLines, say
from veille.settings import Settings, SettingsError

#: RFC 3339, UTC, milliseconds.
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def formatted(logger: str, level: int, msg: str, *args: Any, exc_info: Any = None) -> str:
    record = logging.LogRecord(logger, level, __file__, 1, msg, args or None, exc_info)
    return JsonFormatter().format(record)


def parsed(line: str) -> dict[str, Any]:
    assert line.splitlines() == [line], repr(line)  # one line, whatever reads it
    value = json.loads(line)
    assert isinstance(value, dict)
    return value


def env_without_veille(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["PYTHONPATH"] = str(ROOT)
    return env | extra


def test_a_line_carries_time_level_logger_and_the_formatted_message() -> None:
    line = parsed(formatted("veille.collectors.rss", logging.WARNING, "feed %s: %d errors",
                            "acme", 3))
    assert line["level"] == "WARNING"
    assert line["logger"] == "veille.collectors.rss"
    assert line["message"] == "feed acme: 3 errors"
    assert TIME.fullmatch(line["time"]), line["time"]
    assert line["pid"] == os.getpid()
    assert "exc_info" not in line


def test_the_time_is_the_records_in_utc_with_milliseconds() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    record.created, record.msecs = 1_796_615_445.0, 42.0  # 2026-12-07T03:50:45 UTC
    assert parsed(JsonFormatter().format(record))["time"] == "2026-12-07T03:50:45.042Z"


def test_an_exception_is_one_string_field_on_the_same_line() -> None:
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        exc_info = sys.exc_info()
    line = parsed(formatted("veille", logging.ERROR, "failed", exc_info=exc_info))
    assert line["message"] == "failed"
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: division by zero" in line["exc_info"]
    assert "\n" in line["exc_info"]  # kept whole in the field, escaped on the line


@pytest.mark.parametrize("message", [
    "first\nINFO forged line",
    "a\r\nb",
    "bell\x07 escape\x1b[31mred\x1b[0m nul\x00",
    "next line\x85 del\x7f line sep\u2028 para sep\u2029",
    "a lone surrogate \udc9f from a badly decoded name",
])
def test_a_message_never_makes_a_second_line_and_is_read_back_whole(message: str) -> None:
    """Log injection: whatever a message holds (a mention's text, a feed's title, a header),
    it stays one line, every control character and line separator escaped."""
    raw = formatted("veille", logging.WARNING, "%s", message)
    line = parsed(raw)
    assert line["message"] == message
    assert not any(c in raw for c in "\n\r\x00\x07\x1b\x7f\x85\u2028\u2029\udc9f")
    raw.encode("utf-8")  # writable on any UTF-8 stream


def test_non_ascii_letters_stay_readable() -> None:
    raw = formatted("veille", logging.WARNING, "Boréal café: « panne » 東京")
    assert "Boréal café: « panne » 東京" in raw
    assert parsed(raw)["message"] == "Boréal café: « panne » 東京"


def test_the_process_context_is_on_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "CONTEXT", {"command": "worker", "role": "enrich"})
    line = parsed(formatted("veille", logging.INFO, "m"))
    assert (line["command"], line["role"]) == ("worker", "enrich")


def test_the_setting_takes_text_or_json_in_any_case_and_nothing_else() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"VEILLE_LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(SettingsError, match="VEILLE_LOG_FORMAT='xml' is not one of text, json"):
        Settings.from_env({"VEILLE_LOG_FORMAT": "xml"})


def test_an_unknown_format_is_a_one_line_error_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "veille.cli", "worker"], capture_output=True,
                          text=True, timeout=60, env=env_without_veille(VEILLE_LOG_FORMAT="logfmt"),
                          cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr == "veille: error: VEILLE_LOG_FORMAT='logfmt' is not one of text, json\n"


def test_say_prints_as_before_in_text_mode_and_a_record_in_json_mode(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setitem(logs._state, "format", "text")
    say("veille worker: metrics at http://127.0.0.1:9464/metrics", file=out)
    assert out.getvalue() == "veille worker: metrics at http://127.0.0.1:9464/metrics\n"
    monkeypatch.setitem(logs._state, "format", "json")
    out = io.StringIO()
    say("veille worker: Ready", file=out, level=logging.INFO)
    line = parsed(out.getvalue().removesuffix("\n"))
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "veille",
                                                                "veille worker: Ready")
    # The demo's status lines: each line written, one record.
    out = io.StringIO()
    lines = JsonLines(out, "veille.demo")
    print("metrics: http://x\nlogs: /tmp/d", file=lines)
    print("alert: acme", end="", file=lines)
    print(" spike", file=lines)
    assert [parsed(x)["message"] for x in out.getvalue().splitlines()] == [
        "metrics: http://x", "logs: /tmp/d", "alert: acme spike"]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env=env_without_veille(**env), cwd=ROOT)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [parsed(line) for line in text.splitlines()]


def test_the_filters_keep_working_in_json_mode() -> None:
    """Repeats thinned out with their count, secrets' DEBUG records dropped, kafka-python's slow
    steps hidden: the same filters, whatever the format."""
    done = run_python("""
        import logging
        from veille import logs
        logs.configure("DEBUG", "json", command="test")
        logs.thin_client_logs()
        logging.getLogger("kafka.net.selector").setLevel(logging.INFO)
        for node in range(50):
            logging.getLogger("aiokafka.conn").error("Unable connect to node with id %s", node)
        logging.getLogger("kafka.admin.client").debug("configuration: {'sasl_plain_password': 's3cr3t'}")
        logging.getLogger("kafka.net.selector").warning(
            "Task x ran for 0.122s (>0.100s threshold). It is blocking the event loop")
        logging.getLogger("veille.x").warning("ours")
    """)
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr)
    assert [(x["logger"], x["message"]) for x in lines] == [
        ("aiokafka.conn", "Unable connect to node with id 0"), ("veille.x", "ours")]
    assert all(x["command"] == "test" for x in lines)
    assert "s3cr3t" not in done.stderr


def test_an_uncaught_exception_is_one_record_in_json_mode() -> None:
    done = run_python("""
        import threading
        from veille import logs
        logs.configure("WARNING", "json", command="test")
        thread = threading.Thread(target=lambda: {}["missing"], name="poller")
        thread.start(); thread.join()
        raise RuntimeError("boom\\nsecond line")
    """)
    assert done.returncode == 1
    thread, main = json_lines(done.stderr)
    assert thread["level"] == "ERROR" and "thread poller: KeyError" in thread["message"]
    assert "KeyError: 'missing'" in thread["exc_info"]
    assert main["level"] == "CRITICAL"
    assert main["message"] == "uncaught exception, exiting: RuntimeError: boom\nsecond line"
    assert "RuntimeError: boom" in main["exc_info"]


def test_a_long_running_commands_start_warnings_and_errors_are_records_in_json_mode(tmp_path) -> None:
    """`veille worker` with a watch list that is not there: the unknown variable's warning and
    the error that ends it are JSON lines; exit 2 as in text mode."""
    env = env_without_veille(VEILLE_LOG_FORMAT="json", VEILLE_WATCHLIST=str(tmp_path / "none.toml"),
                             VEILLE_TOPICS_PREFIX="typo.")
    done = subprocess.run([sys.executable, "-m", "veille.cli", "worker"], capture_output=True,
                          text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    warning, error = json_lines(done.stderr)
    assert warning["level"] == "WARNING" and warning["command"] == "worker"
    assert warning["message"] == ("VEILLE_TOPICS_PREFIX is not a veille variable, ignored; did you "
                                  "mean VEILLE_TOPIC_PREFIX?")
    assert error["level"] == "ERROR" and "none.toml" in error["message"]
    assert "exc_info" not in error


def test_a_one_shot_commands_messages_stay_text_in_json_mode(tmp_path) -> None:
    """`veille collect replay` and other commands that end by themselves: what they say is
    their output, for a person; it stays as it is."""
    env = env_without_veille(VEILLE_LOG_FORMAT="json")
    done = subprocess.run([sys.executable, "-m", "veille.cli", "collect", "replay",
                           str(tmp_path / "none.jsonl")], capture_output=True, text=True,
                          timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("veille: error: "), done.stderr


@pytest.mark.parametrize(("argv", "name", "long_running"), [
    (["worker"], "worker", True),
    (["collect", "rss"], "collect rss", True),
    (["collect", "reddit", "--once"], "collect reddit", False),
    (["collect", "webhook"], "collect webhook", True),
    (["collect", "replay", "x.jsonl"], "collect replay", False),
    (["moderate", "serve"], "moderate serve", True),
    (["moderate", "list"], "moderate list", False),
    (["alerts", "--follow"], "alerts", False),
    (["demo"], "demo", True),
    (["broker"], "broker", True),
])
def test_which_commands_write_json_lines_only(argv: list[str], name: str, long_running: bool) -> None:
    from veille import cli

    args = cli.build_parser().parse_args(argv)
    assert cli._command_name(args) == name
    assert cli._long_running(args) is long_running
