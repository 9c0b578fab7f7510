"""CONTRIBUTING.md names files, tests and README sections that exist: a test renamed or a script
moved leaves no checklist step pointing at nothing."""

from __future__ import annotations

import re

from tests.conftest import ROOT

GUIDE = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
#: A path in the repository, as the guide writes it (in a code block or between backticks).
PATH = re.compile(r"(?<![\w./-])((?:\.ci|agents|bench|deploy|examples|scripts|streams|tests|veille)"
                  r"/[\w./*-]*\w)")
TEST = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def test_every_path_the_guide_names_exists() -> None:
    paths = set(PATH.findall(GUIDE))
    assert {"scripts/bootstrap", "scripts/ops-tools", "scripts/test", "veille/settings.py",
            "tests/unit/test_settings.py"} <= paths
    missing = sorted(p for p in paths if not list(ROOT.glob(p)))
    assert not missing, f"CONTRIBUTING.md names what does not exist: {missing}"


def test_every_test_the_guide_names_exists() -> None:
    named = set(TEST.findall(GUIDE))
    assert len(named) >= 20
    missing = sorted(f"{path}::{name}" for path, name in named
                     if not re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M))
    assert not missing, f"CONTRIBUTING.md names tests that do not exist: {missing}"


def test_every_readme_section_the_guide_links_exists_and_the_readme_links_the_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
               for line in readme.splitlines() if line.startswith("#")}
    linked = set(re.findall(r"\]\(README\.md#([\w-]+)\)", GUIDE))
    assert linked and linked <= anchors, sorted(linked - anchors)
    assert "](CONTRIBUTING.md)" in readme
