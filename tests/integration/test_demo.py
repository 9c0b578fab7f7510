"""`veille demo`: embedded broker, worker, replay and live summary, all stopped at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from veille.broker import free_port, metadata_answers

DEMO_DATA = ROOT / "veille" / "data" / "demo_mentions.jsonl"

pytestmark = pytest.mark.integration


def test_demo_runs_end_to_end_and_cleans_up(tmp_path) -> None:
    """Ctrl-C (SIGINT) once the live summary has every demo mention read and the demo's crisis
    story was printed to its resolution; --duration only bounds the run should that never
    happen."""
    import signal
    import threading
    import time

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(VEILLE_EMBEDDED_BROKER_PORT=str(port), VEILLE_METRICS_PORT=str(free_port()))
    lines = sum(1 for line in DEMO_DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    assert lines > 1000
    err = tmp_path / "demo.err"
    with open(err, "wb") as err_file:
        demo = subprocess.Popen(
            [sys.executable, "-m", "veille.cli", "demo", "--rate", "2000", "--duration", "90"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=err_file, text=True,
        )
    printed: list[str] = []

    def read() -> None:
        assert demo.stdout is not None
        printed.extend(demo.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    try:
        while not (any(line.startswith("replay: ") for line in printed) and any(
                "msg/s" in line and f"read {lines} " in line for line in printed) and any(
                line.startswith("alert: acme resolved") for line in printed)):
            if demo.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(10)
    text = "".join(printed)
    assert demo.returncode == 0, text + err.read_text(errors="replace")
    assert f"embedded broker (Tansu): kafka://127.0.0.1:{port}" in text
    assert re.search(r"metrics: http://127\.0\.0\.1:\d+/metrics", text)
    assert (f"meanwhile, in another terminal: veille alerts --follow --broker-url "
            f"kafka://127.0.0.1:{port}, or veille moderate list") in text
    assert f"replay: read {lines} lines, sent {lines} mentions" in text
    # The last summary line has every demo mention read, both brands and the unmatched ones.
    last = [line for line in text.splitlines() if "msg/s" in line][-1]
    assert f"read {lines} " in last and "acme " in last and "boreal " in last and "none " in last
    assert "dead letters 0, duplicates 0" in last
    cases = re.search(r"moderation cases (\d+) \(\d+ pending\)", last)
    assert cases and int(cases.group(1)) > 0, last
    # The injected acme outage, alerted as it is replayed: one story, told in order; boreal's
    # steady traffic raises none.
    alerts = [line for line in text.splitlines() if line.startswith("alert: ")]
    assert [line.split()[1:3] for line in alerts] == [
        ["acme", "OPENED"], ["acme", "ESCALATED"], ["acme", "resolved"]], alerts
    assert len({line.rsplit("[", 1)[-1] for line in alerts}) == 1  # the same alert id
    assert "demo stopped: worker and broker shut down" in text
    assert not metadata_answers("127.0.0.1", port)  # the broker it started is gone
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--listener-url tcp://127.0.0.1:{port}" not in ps


def test_a_demo_killed_with_sigkill_leaves_neither_worker_nor_broker(tmp_path) -> None:
    """SIGKILL cannot be caught: the kernel stops the demo's Tansu and its worker with it."""
    import signal
    import time

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(VEILLE_EMBEDDED_BROKER_PORT=str(port), VEILLE_METRICS_PORT=str(free_port()))
    demo = subprocess.Popen([sys.executable, "-m", "veille.cli", "demo", "--rate", "50"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    workers: list[int] = []
    try:
        assert demo.stdout is not None
        for line in demo.stdout:  # the worker is started before the replay begins
            if line.startswith("replaying"):
                break
        else:
            raise AssertionError(f"the demo exited {demo.wait()} before replaying")
        ps = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True)
        workers += [int(fields[0]) for fields in (line.split(None, 2) for line in
                                                 ps.stdout.splitlines())
                   if int(fields[1]) == demo.pid and "veille.cli worker" in fields[2]]
        assert len(workers) == 1, ps.stdout
        assert metadata_answers("127.0.0.1", port)
        demo.send_signal(signal.SIGKILL)
        demo.wait(10)

        def alive(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            return state != "Z"  # a zombie has exited (its parent is gone: init reaps it)

        deadline = time.monotonic() + 30
        while (alive(workers[0]) or metadata_answers("127.0.0.1", port)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not metadata_answers("127.0.0.1", port), "the demo's Tansu outlived it"
        assert not alive(workers[0]), "the demo's worker outlived it"
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in workers:  # what a failure left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
