"""VEILLE_LOG_FORMAT=json in the real processes: every line a long-running command writes, on
stdout and stderr, is one JSON object with its time, level, logger and message."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streams.topics import ensure_topics
from tests.conftest import ROOT, settings_env
from veille.broker import free_port
from veille.settings import Settings

pytestmark = pytest.mark.integration
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Process:
    """`veille ARGS` as a subprocess, its stdout and stderr in files of their own."""

    def __init__(self, args: list[str], env: dict[str, str], where: Path) -> None:
        self.out, self.err = where / "stdout", where / "stderr"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "veille.cli", *args], env=env,
                                         stdout=out, stderr=err, cwd=where, start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} (exit {self.proc.poll()}):\n{self.text()}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the file as a JSON log record; any other line fails the test."""
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name}: not a JSON line: {line!r}") from None
        assert isinstance(record, dict), line
        assert TIME.fullmatch(record["time"]), line
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), line
        assert isinstance(record["logger"], str) and isinstance(record["message"], str), line
        records.append(record)
    return records


def records_of(process: Process, command: str) -> list[dict[str, Any]]:
    """The records of both streams, each saying the process's command."""
    records = json_lines(process.out) + json_lines(process.err)
    assert records
    assert {r["command"] for r in records} == {command}
    return records


@pytest.mark.parametrize("role", ["all", "enrich"])
def test_a_worker_writes_json_lines_only(settings: Settings, tmp_path: Path, role: str) -> None:
    """Faust's own handlers (role `all`; `agents` is the same Faust worker) and the enrichment
    stage's (role `enrich`, no Faust), the announcements and Faust's stdout redirection."""
    env = settings_env(settings) | {"VEILLE_LOG_FORMAT": "json", "VEILLE_WORKER_ROLE": role,
                                    "VEILLE_WATCHLIST": str(ROOT / "tests/data/watchlist.toml")}
    worker = Process(["worker"], env, tmp_path)
    try:
        worker.wait_for(r"veille worker(?: \(enrich\))?: Ready")
    finally:
        assert worker.stop() == 0, worker.text()
    records = records_of(worker, "worker")
    assert {r["role"] for r in records} == {role}
    messages = [r["message"] for r in records]
    assert any(m.startswith("veille worker") and "metrics at http://" in m for m in messages)
    assert any(m.endswith(": Ready") for m in messages)
    loggers = {r["logger"] for r in records}
    assert len(loggers) > 1, loggers  # the announcements' and the libraries' (at INFO)
    if role == "all":
        assert any(name.startswith(("faust", "mode")) for name in loggers), loggers


def collector_env(settings: Settings, tmp_path: Path, collector: str) -> dict[str, str]:
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens: each poll fails, and says so
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text((ROOT / "tests/data/watchlist.toml").read_text()
                         + f'\n[[feeds]]\nurl = "{closed}/feed.xml"\nname = "closed"\n'
                         if collector == "rss" else (ROOT / "tests/data/watchlist.toml").read_text())
    return settings_env(settings) | {
        "VEILLE_LOG_FORMAT": "json", "VEILLE_WATCHLIST": str(watchlist),
        "VEILLE_COLLECTOR_METRICS_PORT": "0", "VEILLE_COLLECTOR_STATE_DIR": str(tmp_path / "state"),
        "VEILLE_WEBHOOK_PORT": "0", "VEILLE_MODERATION_API_PORT": "0",
        "VEILLE_MASTODON_URL": closed, "VEILLE_BLUESKY_URL": closed,
        "VEILLE_JETSTREAM_URL": closed.replace("http://", "ws://") + "/subscribe",
        "VEILLE_REDDIT_AUTH_URL": closed, "VEILLE_REDDIT_API_URL": closed,
        "VEILLE_REDDIT_CLIENT_ID": "id", "VEILLE_REDDIT_CLIENT_SECRET": "secret-of-the-app",
    }


@pytest.mark.parametrize(("args", "announced"), [
    (["collect", "webhook"], r"veille webhook: POST http://"),
    (["collect", "rss"], r"veille rss: metrics on http://"),
    (["collect", "mastodon"], r"veille mastodon: metrics on http://"),
    (["collect", "bluesky"], r"veille bluesky: metrics on http://"),
    (["collect", "reddit"], r"veille reddit: metrics on http://"),
    (["collect", "jetstream"], r"veille jetstream: metrics on http://"),
    (["moderate", "serve"], r"veille moderate: API at http://"),
])
def test_collectors_and_the_moderation_api_write_json_lines_only(
        settings: Settings, tmp_path: Path, args: list[str], announced: str) -> None:
    ensure_topics(settings)
    process = Process(args, collector_env(settings, tmp_path, args[-1]), tmp_path)
    try:
        process.wait_for(announced)
        # A polling collector's first poll fails, and says so; Jetstream's first connection too.
        if args[0] == "collect" and args[1] != "webhook":
            process.wait_for(r'"level": "(WARNING|ERROR)"')
    finally:
        assert process.stop() == 0, process.text()
    records = records_of(process, " ".join(args))
    assert any(re.match(announced, r["message"]) for r in records)


def test_the_embedded_broker_command_writes_json_lines_only(tmp_path: Path) -> None:
    env = settings_env(Settings.from_env({})) | {"VEILLE_LOG_FORMAT": "json"}
    broker = Process(["broker", "--port", str(free_port())], env, tmp_path)
    try:
        broker.wait_for(r"veille broker: Tansu listening on kafka://")
    finally:
        assert broker.stop() == 0, broker.text()
    messages = [r["message"] for r in records_of(broker, "broker")]
    assert messages[-1] == "veille broker: stopped"


def test_the_demo_writes_json_lines_only_and_so_does_its_worker(tmp_path: Path) -> None:
    env = settings_env(Settings.from_env({})) | {
        "VEILLE_LOG_FORMAT": "json", "VEILLE_EMBEDDED_BROKER_PORT": str(free_port()),
        "VEILLE_METRICS_PORT": str(free_port()), "VEILLE_MODERATION_API_PORT": str(free_port()),
        "TMPDIR": str(tmp_path)}
    demo = Process(["demo", "--rate", "500"], env, tmp_path)
    try:
        demo.wait_for(r'"message": "logs: ')
        (workdir,) = tmp_path.glob("veille-demo-*")
        deadline = time.monotonic() + 60
        while b"veille worker: Ready" not in (workdir / "worker.log").read_bytes():
            assert time.monotonic() < deadline and demo.proc.poll() is None, demo.text()
            time.sleep(0.2)
    finally:
        assert demo.stop() == 0, demo.text()
    messages = [r["message"] for r in records_of(demo, "demo")]
    assert any(m.startswith("embedded broker (Tansu): kafka://") for m in messages)
    assert messages[-1].startswith("demo stopped: ")
    worker = json_lines(workdir / "worker.log")
    assert {r["command"] for r in worker} == {"worker"}
    page = json_lines(workdir / "moderation.log")
    assert {r["command"] for r in page} == {"moderate serve"}
