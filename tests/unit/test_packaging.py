"""The wheel a user installs (`pip install .`, not the editable install the scripts use) holds
every module and every data file the code reads: a package left out of the configuration would
only break outside the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ("veille", "streams", "agents")


def shipped_files() -> set[str]:
    """What the distribution must hold: the code packages' files, byte-code and caches aside."""
    out = set()
    for top in CODE:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                out.add(path.relative_to(ROOT).as_posix())
    return out


def test_the_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy2(ROOT / name, src / name)
    for top in CODE:
        shutil.copytree(ROOT / top, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("veille-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = zf.read(entry_points).decode()
    expected = shipped_files()
    assert {"veille/moderate/api.py", "veille/data/demo_mentions.jsonl",
            "veille/sentiment/data/fr_lexicon.txt", "streams/schemas/enriched_mention.v1.json",
            "streams/schemas/reputation_alert.v1.json"} <= expected
    missing = sorted(expected - names)
    assert not missing, f"left out of the wheel: {missing}"
    # The package discovery must not warn (a data folder taken for a package it would ignore).
    assert "would be ignored" not in done.stderr, done.stderr
    assert "veille = veille.cli:main" in scripts
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith(".dist-info/licenses/NOTICE") for n in names)


def test_the_image_and_the_suite_install_the_same_pinned_versions() -> None:
    """deploy/constraints.txt pins every run-time package, transitively, at the version installed
    here; scripts/bootstrap and deploy/Dockerfile both install with it, so the image runs what
    the suite tested (veille patches Faust's internals). A dependency added or bumped without
    `scripts/constraints.py` fails here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("constraints", ROOT / "scripts/constraints.py")
    assert spec and spec.loader
    constraints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constraints)
    pins = constraints.closure()
    assert {"faust-streaming", "aiokafka", "mode-streaming", "vadersentiment"} <= set(pins)
    assert (ROOT / "deploy/constraints.txt").read_text() == constraints.render(pins)

    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert "COPY deploy/constraints.txt ./" in dockerfile
    assert "pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt ." in dockerfile
    assert "pip install --no-cache-dir --no-index /wheels/*.whl" in dockerfile
    assert "!deploy/constraints.txt" in (ROOT / "deploy/Dockerfile.dockerignore").read_text()
    assert "-c deploy/constraints.txt" in (ROOT / "scripts/bootstrap").read_text()
