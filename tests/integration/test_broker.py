"""The embedded broker: starts on loopback, answers metadata, clear errors, stops only itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from veille.broker import BrokerError, EmbeddedBroker, free_port, metadata_answers

pytestmark = pytest.mark.integration


def test_start_answer_stop() -> None:
    b = EmbeddedBroker(free_port()).start()
    try:
        assert metadata_answers(b.host, b.port)
        pid = b.process.pid  # type: ignore[union-attr]
    finally:
        b.stop()
    assert not b.running()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not metadata_answers(b.host, b.port)


def test_port_taken_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(BrokerError, match="already in use"):
            EmbeddedBroker(port).start()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_TANSU_BIN", "/nonexistent/tansu")
    with pytest.raises(BrokerError, match="not an executable"):
        EmbeddedBroker(free_port()).start()


def test_broker_command_runs_and_stops_only_its_process(tmp_path) -> None:
    port = free_port()
    other = EmbeddedBroker(free_port()).start()  # another broker that must survive
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "veille.cli", "broker", "--port", str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 15
        while not metadata_answers("127.0.0.1", port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert metadata_answers("127.0.0.1", port)
        proc.send_signal(2)  # Ctrl-C
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "listening on kafka://127.0.0.1:" in out and "stopped" in out
        assert not metadata_answers("127.0.0.1", port)
        assert other.running() and metadata_answers(other.host, other.port)
    finally:
        other.stop()


def test_broker_command_port_taken_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = subprocess.run(
            [sys.executable, "-m", "veille.cli", "broker", "--port", str(s.getsockname()[1])],
            capture_output=True, text=True, timeout=30,
        )
    assert out.returncode == 2
    assert "veille: error: port" in out.stderr and "Traceback" not in out.stderr
