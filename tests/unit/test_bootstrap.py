"""scripts/bootstrap, run against a stand-in Python: what a first-time user sees while it installs."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import ROOT

#: A stand-in for python3 and the venv's python: creates the venv, answers pip, and installs by
#: printing what setuptools prints on an editable install of this flat layout (or failing).
FAKE_PYTHON = """#!/usr/bin/env bash
case "$*" in
  "-m venv .venv") mkdir -p .venv/bin && cp "$0" .venv/bin/python ;;
  "-m pip --version") echo "pip 24" ;;
  *"install"*"-e"*)
    echo "  BuildBackendWarning: Editable installation." >&2
    echo "  Please be careful with folders in your working directory with the same" >&2
    [ -z "${FAKE_PIP_FAILS:-}" ] || { echo "ERROR: No matching distribution found for faust" >&2; exit 1; } ;;
esac
exit 0
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "deploy").mkdir()
    shutil.copy(ROOT / "scripts/bootstrap", tmp_path / "scripts/bootstrap")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "deploy/constraints.txt", tmp_path / "deploy/constraints.txt")
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def _bootstrap(tmp_path: Path, fake: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tmp_path / "scripts/bootstrap")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHON": str(fake), **env})


def test_the_first_install_says_what_it_does_and_keeps_the_build_noise_out(tmp_path: Path) -> None:
    """scripts/demo on a fresh machine was silent for the whole install (42 s on a local package
    mirror, minutes from PyPI), then printed setuptools' "BuildBackendWarning: Editable
    installation ... Please be careful with folders..." banner: a wait that looked stuck, then
    a warning that was none of the user's business (found in review, 2026-12-06)."""
    fake = _project(tmp_path)
    first = _bootstrap(tmp_path, fake)
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("bootstrap: installing veille"), first.stderr
    assert "BuildBackendWarning" not in first.stderr and "careful" not in first.stderr
    assert first.stderr.endswith("bootstrap: installed\n"), first.stderr  # as the README says
    assert "BuildBackendWarning" in (tmp_path / ".venv/install.log").read_text()
    again = _bootstrap(tmp_path, fake)  # installed: nothing to do, nothing said
    assert again.returncode == 0 and again.stderr == "", again.stderr


def test_a_failed_install_shows_pips_output(tmp_path: Path) -> None:
    fake = _project(tmp_path)
    failed = _bootstrap(tmp_path, fake, FAKE_PIP_FAILS="1")
    assert failed.returncode == 1
    assert "No matching distribution found for faust" in failed.stderr
    assert "installation failed" in failed.stderr
    assert not (tmp_path / ".venv/.veille-installed").exists()  # the next run tries again
