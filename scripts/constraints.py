"""Write deploy/constraints.txt: every package veille needs at run time, at the version installed
here, where the whole test suite ran. deploy/Dockerfile installs with it, so the image runs the
versions CI tested (veille patches Faust's internals: veille/faust_fixes.py), not whatever is
newest on the day of the build. tests/unit/test_packaging.py fails when it is out of date.

    .venv/bin/python scripts/constraints.py          # after a dependency change, then commit
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "deploy" / "constraints.txt"
HEADER = ("# Every package veille needs at run time, at the version the test suite ran with\n"
          "# (for the image: Linux, CPython 3.11), but the CA bundle and the time zone database,\n"
          "# which must stay the newest. Written by scripts/constraints.py; deploy/Dockerfile\n"
          "# and scripts/bootstrap install with it.\n")
#: The image's platform (deploy/Dockerfile): requirement markers are evaluated for it, not for
#: the machine running this, so that the file is the same wherever it is written or checked.
IMAGE = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
         "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
         "platform_python_implementation": "CPython"}
#: Data that must stay current (certificates, time zone rules): never pinned.
UNPINNED = frozenset({"certifi", "tzdata"})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str = "veille") -> dict[str, str]:
    """name -> installed version of `root`'s run-time requirements, transitively (markers
    evaluated here; extras followed)."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (canonical(name), extras) in seen:
            continue
        seen.add((canonical(name), extras))
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"constraints: {name} is required but not installed") from None
        if canonical(name) != canonical(root) and canonical(name) not in UNPINNED:
            found[canonical(name)] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            wanted = any(req.marker is None or req.marker.evaluate({**IMAGE, "extra": e})
                         for e in (extras or {""}))
            if wanted:
                todo.append((req.name, frozenset(req.extras)))
    return dict(sorted(found.items()))


def render(pins: dict[str, str]) -> str:
    return HEADER + "".join(f"{name}=={version}\n" for name, version in pins.items())


def main() -> int:
    OUT.write_text(render(closure()))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
