"""Shared fixtures: one real embedded broker per session, unique topics per test, real workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from veille.broker import EmbeddedBroker, free_port
from veille.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
#: A worker's log line once it runs: Faust's for roles all and agents, its own for role enrich.
READY = re.compile(rb"Worker\]: Ready|veille worker \(enrich\): Ready")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The real Tansu broker. A missing binary is an error here, never a skip."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    b = EmbeddedBroker(free_port(), log_path=log).start()
    yield b
    b.stop()


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings with topics and consumer group of this test only."""
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {},
        broker_url=broker.url,
        app_id=f"veille-test-{tag}",
        topic_prefix=f"t{tag}.",
        data_dir=str(tmp_path / "state"),
        metrics_port=free_port(),
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess these settings (every non-default field)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.metadata.get("env", True) and value != f.default and value not in ("", None):
            env["VEILLE_" + f.name.upper()] = str(value)
    env["VEILLE_LOG_LEVEL"] = "INFO"
    return env


class Worker:
    """`veille worker` as a real subprocess."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "veille.cli", "worker"],
            env=settings_env(settings), stdout=self._log, stderr=subprocess.STDOUT,
            cwd=str(log.parent), start_new_session=True,
        )

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.metrics_host}:{self.settings.metrics_port}/metrics"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            if READY.search(self.log_path.read_bytes()):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def metric(self, name: str) -> float:
        """The sum of the worker's samples of `name`, over every label set."""
        from veille.demo_run import scrape

        # Asked for alone (cheap for the worker, which tests poll); a metric the exporter cannot
        # filter on (a collector without describe(), a labelled one with no child yet) comes
        # from the whole page.
        for names in ((name,), ()):
            got = [v for (n, _), v in scrape(self.metrics_url, timeout=5, names=names).items()
                   if n == name]
            if got:
                return sum(got)
        return 0.0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    workers: list[Worker] = []

    def start(settings: Settings, ready: bool = True) -> Worker:
        w = Worker(settings, tmp_path / f"worker{len(workers)}.log")
        workers.append(w)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:
        w.stop()
