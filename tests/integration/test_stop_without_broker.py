"""A worker asked to stop while the broker is gone exits on its own, within the grace period
docker-compose gives it before a SIGKILL (a Faust worker used to take 62 s: veille/faust_fixes.py),
and says the broker is gone without a line per reconnection attempt (veille/logs.py)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from streams.topics import ensure_topics
from tests.conftest import ROOT, Worker
from veille.broker import EmbeddedBroker, free_port
from veille.settings import Settings

pytestmark = pytest.mark.integration


def grace_seconds(service: str) -> float:
    """The stop_grace_period docker-compose.yml gives `service`, in seconds (10 s when unset, the
    Compose default)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    value = str(services[service].get("stop_grace_period", "10s"))
    found = re.fullmatch(r"(\d+)(s|m)", value)
    assert found, f"unexpected stop_grace_period {value!r} for {service}"
    return int(found[1]) * (60 if found[2] == "m" else 1)


@pytest.mark.parametrize(("role", "service"), [("all", "worker"), ("agents", "agents"),
                                                ("enrich", "worker")])
def test_a_worker_stops_in_time_when_the_broker_is_gone(tmp_path: Path, role: str,
                                                        service: str) -> None:
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    worker = None
    try:
        settings = Settings.from_env(
            {}, broker_url=broker.url, data_dir=str(tmp_path / "state"),
            metrics_port=free_port(), worker_role=role)
        ensure_topics(settings)
        worker = Worker(settings, tmp_path / "worker.log")
        worker.wait_ready()
        started_log = worker.log_path.read_bytes()
        # Every role says it is ready on its own line, whatever the log level; no terminal
        # spinner's escapes in a service's log (Faust's wrote some).
        assert re.search(rb"^veille worker(?: \(enrich\))?: Ready$", started_log, re.M), started_log
        assert b"\x1b[" not in started_log, started_log
        before = len(started_log)
        broker.stop()  # gone: every connection refused from now on
        time.sleep(4)  # the worker notices (fetches and heartbeats fail)
        outage = worker.log_path.read_bytes()[before:].decode("utf-8", "replace").splitlines()
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        grace = grace_seconds(service)
        try:
            code = worker.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pytest.fail(f"role {role}: still running {grace:.0f} s after SIGTERM (docker-compose "
                        f"would SIGKILL it now):\n{worker.log()}")
        took = time.monotonic() - started
        assert code == 0, f"role {role} exited {code} after {took:.1f} s:\n{worker.log()}"
        # The outage is in the log, once per kind of error, not at every reconnection attempt
        # (aiokafka logged 133 lines a second, 8,000 in a minute).
        errors = [line for line in outage if "ERROR" in line]
        assert errors, f"role {role}: nothing logged in 4 s without a broker:\n{worker.log()}"
        assert len(outage) <= 25, (f"role {role}: {len(outage)} lines in 4 s without a broker:\n"
                                   + "\n".join(outage[:40]))
    finally:
        if worker is not None:
            worker.stop(signal.SIGKILL)
        broker.stop()
