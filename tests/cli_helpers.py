"""`veille` run in this process, and the shape of its clear errors: shared by the CLI tests."""

from __future__ import annotations

import pytest

from veille import cli


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`veille ARGS` in this process: (exit status, stdout, stderr); an exception fails the test."""
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_clear_error(status: int, err: str, message: str) -> None:
    assert status == 2, err
    assert err.startswith("veille: error: ") and message in err, err
    assert "Traceback" not in err
