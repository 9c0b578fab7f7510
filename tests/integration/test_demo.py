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
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(VEILLE_EMBEDDED_BROKER_PORT=str(port), VEILLE_METRICS_PORT=str(free_port()))
    out = subprocess.run(
        [sys.executable, "-m", "veille.cli", "demo", "--rate", "2000", "--duration", "25"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    lines = sum(1 for line in DEMO_DATA.read_text(encoding="utf-8").splitlines() if line.strip())
    assert lines > 1000
    assert f"embedded broker (Tansu): kafka://127.0.0.1:{port}" in text
    assert re.search(r"metrics: http://127\.0\.0\.1:\d+/metrics", text)
    assert f"replay: read {lines} lines, sent {lines} mentions" in text
    # The last summary line has every demo mention read, both brands and the unmatched ones.
    last = [line for line in text.splitlines() if "msg/s" in line][-1]
    assert f"read {lines} " in last and "acme " in last and "boreal " in last and "none " in last
    assert "dead letters 0, duplicates 0" in last
    assert "demo stopped: worker and broker shut down" in text
    assert not metadata_answers("127.0.0.1", port)  # the broker it started is gone
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--listener-url tcp://127.0.0.1:{port}" not in ps
