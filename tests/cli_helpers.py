"""`veille` run in this process or as an operator runs it, and the shape of its clear errors:
shared by the CLI tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from veille import cli
from veille.settings import Settings


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`veille ARGS` in this process: (exit status, stdout, stderr); an exception fails the test."""
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_clear_error(status: int, err: str, message: str) -> None:
    assert status == 2, err
    assert err.startswith("veille: error: ") and message in err, err
    assert "Traceback" not in err


def as_operator(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`veille ARGS` in a process of its own, on `settings`' broker and topics, with the default
    log level (as an operator runs it: the Kafka client's INFO lines are not printed) and the
    variables of `env` on top."""
    from tests.conftest import settings_env

    variables = settings_env(settings) | env
    del variables["VEILLE_LOG_LEVEL"]
    return subprocess.run([sys.executable, "-m", "veille.cli", *args], env=variables,
                          capture_output=True, text=True, timeout=120)
