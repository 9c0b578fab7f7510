"""A worker asked to stop while the broker is gone exits on its own, within the grace period
docker-compose gives it before a SIGKILL (a Faust worker used to take 62 s: veille/faust_fixes.py),
and says the broker is gone without a line per reconnection attempt (veille/logs.py)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from streams.topics import ensure_topics
from tests.conftest import ROOT, Worker
from tests.kafka_helpers import start_broker
from veille.broker import free_port
from veille.settings import Settings

pytestmark = pytest.mark.integration
#: Role -> the docker-compose service that runs it.
ROLES = {"all": "worker", "agents": "agents", "enrich": "worker"}


def grace_seconds(service: str) -> float:
    """The stop_grace_period docker-compose.yml gives `service`, in seconds (10 s when unset, the
    Compose default)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    value = str(services[service].get("stop_grace_period", "10s"))
    found = re.fullmatch(r"(\d+)(s|m)", value)
    assert found, f"unexpected stop_grace_period {value!r} for {service}"
    return int(found[1]) * (60 if found[2] == "m" else 1)


@dataclass
class Stopped:
    """What one role's worker did: its log once ready, its log lines in the 4 s without a
    broker, and how it ended after SIGTERM (code None: still running after the grace period)."""

    started_log: bytes
    outage: list[str]
    grace: float
    code: int | None
    took: float
    log: str


def stop_without_broker(role: str, tmp_path: Path, outage: float = 4.0,
                        mentions: int = 0) -> Stopped:
    """A worker of `role` on a broker of its own: ready, `mentions` written to mentions.raw
    (3 s to take them in), then the broker stopped for `outage` seconds, then SIGTERM."""
    broker = start_broker(log_path=tmp_path / "tansu.log")
    worker = None
    try:
        settings = Settings.from_env(
            {}, broker_url=broker.url, data_dir=str(tmp_path / "state"),
            metrics_port=free_port(), worker_role=role)
        ensure_topics(settings)
        worker = Worker(settings, tmp_path / "worker.log")
        worker.wait_ready()
        if mentions:
            from streams.topics import MENTIONS_RAW
            from tests.integration.test_roles import mentions as generated
            from tests.kafka_helpers import produce

            produce(settings, MENTIONS_RAW, generated(mentions))
            time.sleep(3)
        started_log = worker.log_path.read_bytes()
        before = len(started_log)
        broker.stop()  # gone: every connection refused from now on
        time.sleep(outage)  # the worker notices (fetches and heartbeats fail)
        outage = worker.log_path.read_bytes()[before:].decode("utf-8", "replace").splitlines()
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        grace = grace_seconds(ROLES[role])
        try:
            code: int | None = worker.proc.wait(grace)
        except subprocess.TimeoutExpired:
            code = None
        return Stopped(started_log, outage, grace, code, time.monotonic() - started, worker.log())
    finally:
        if worker is not None:
            worker.stop(signal.SIGKILL)
        broker.stop()


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Stopped]]]:
    """The three roles side by side, each with its own broker and worker (the scenario is the
    same for each; run one after the other they took three times as long), and beside them
    role `all` busy (mentions in hand) as "busy". A scenario's failure is its own test's."""
    with ThreadPoolExecutor(len(ROLES) + 1) as pool:
        futures = {role: pool.submit(stop_without_broker, role,
                                     tmp_path_factory.mktemp(f"stop-{role}")) for role in ROLES}
        futures["busy"] = pool.submit(stop_without_broker, "all", tmp_path_factory.mktemp("stop-busy"),
                                      mentions=300)
        wait(futures.values())
        yield futures


@pytest.mark.parametrize(("role", "service"), list(ROLES.items()))
def test_a_worker_stops_in_time_when_the_broker_is_gone(
        stopped: dict[str, Future[Stopped]], role: str, service: str) -> None:
    got = stopped[role].result()
    # Every role says it is ready on its own line, whatever the log level; no terminal
    # spinner's escapes in a service's log (Faust's wrote some).
    assert re.search(rb"^veille worker(?: \(enrich\))?: Ready$", got.started_log, re.M), \
        got.started_log
    assert b"\x1b[" not in got.started_log, got.started_log
    assert got.grace == grace_seconds(service)
    if got.code is None:
        pytest.fail(f"role {role}: still running {got.grace:.0f} s after SIGTERM (docker-compose "
                    f"would SIGKILL it now):\n{got.log}")
    assert got.code == 0, f"role {role} exited {got.code} after {got.took:.1f} s:\n{got.log}"
    # The outage is in the log, once per kind of error, not at every reconnection attempt
    # (aiokafka logged 133 lines a second, 8,000 in a minute).
    errors = [line for line in got.outage if "ERROR" in line]
    assert errors, f"role {role}: nothing logged in 4 s without a broker:\n{got.log}"
    assert len(got.outage) <= 25, (f"role {role}: {len(got.outage)} lines in 4 s without a "
                                   "broker:\n" + "\n".join(got.outage[:40]))


def test_a_busy_worker_stops_in_time_when_the_broker_is_gone(stopped: dict[str, Future[Stopped]]) -> None:
    """With mentions in hand when the broker went, Faust's stop waited for a commit for ever:
    only SIGKILL ended the worker (found in review, 2026-12-05). It now leaves on its own
    STOP_GRACE_SECONDS after the signal, within docker-compose's grace period, and says so;
    what it had not committed is read again by the next owner."""
    from agents.worker import STOP_GRACE_SECONDS

    got = stopped["busy"].result()
    assert got.grace > STOP_GRACE_SECONDS
    if got.code is None:
        pytest.fail(f"still running {got.grace:.0f} s after SIGTERM:\n{got.log[-3000:]}")
    assert got.code in (0, 128 + signal.SIGTERM), got.log[-3000:]
    if got.code:
        assert "leaving without a clean stop" in got.log
    # asyncio's "Future exception was never retrieved" thinned as the clients' errors are.
    assert got.log.count("Future exception was never retrieved") <= 5, got.log[-3000:]


def test_a_worker_started_without_its_broker_waits_for_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    """Found in review (2026-12-06): started while its broker did not answer (a host rebooted,
    an outage), every role exited 2 after ensure_topics' 15 s ("cannot reach the broker"), so a
    restart policy started it over and over (Kubernetes: CrashLoopBackOff), with no /metrics for
    a liveness probe meanwhile. And SIGTERM before the worker set its handlers was Python's
    default: the process killed by the signal, which in a container, where `veille` is PID 1,
    Linux does not even deliver (the container waited out its grace period, then SIGKILL)."""
    import os
    import sys
    import urllib.error
    import urllib.request

    started_at = {}
    procs = {}
    try:
        for role in ("all", "enrich"):  # side by side (one after the other: twice the 18 s)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
            env.update(VEILLE_BROKER_URL=f"kafka://127.0.0.1:{free_port()}",  # nothing listens
                       VEILLE_METRICS_PORT=str(port), VEILLE_WORKER_ROLE=role,
                       VEILLE_DATA_DIR=str(tmp_path / role))
            with (tmp_path / f"{role}.log").open("wb") as out:
                procs[role] = (port, subprocess.Popen(
                    [sys.executable, "-m", "veille.cli", "worker"], cwd=ROOT, env=env, stdout=out,
                    stderr=subprocess.STDOUT))
            started_at[role] = time.monotonic()
        for role, (port, proc) in procs.items():
            time.sleep(max(0.0, started_at[role] + 18 - time.monotonic()))  # past ensure_topics' 15 s
            log = tmp_path / f"{role}.log"
            # Alive for a liveness probe while it waits (on a loaded host, two workers starting
            # at once may take more than the 3 s left to serve it: asked until it answers).
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, f"role {role} exited {proc.returncode}:\n{log.read_text()}"
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                        assert answer.status == 200
                    break
                except urllib.error.URLError:
                    assert time.monotonic() < deadline, f"role {role}: no /metrics:\n{log.read_text()}"
                    time.sleep(0.5)
            # And it says why it waits: /metrics is served before the first try, so on a loaded
            # host the warning after it can come seconds later (read at once, the log held the
            # metrics line only: three suite runs in four under load).
            deadline = time.monotonic() + 30
            while "waiting for the broker at kafka://127.0.0.1:" not in (text := log.read_text()):
                assert proc.poll() is None, f"role {role} exited {proc.returncode}:\n{text}"
                assert time.monotonic() < deadline, f"role {role}: not said it waits:\n{text}"
                time.sleep(0.2)
            assert "Traceback" not in text, text
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
            assert code == 143, f"role {role}: {code}:\n{log.read_text()}"
            assert time.monotonic() - started < 5
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
