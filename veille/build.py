"""Which build of veille runs: its release version and the source revision it was built from.

Every change of the project has kept the release version (`veille.__version__`), so the version
alone cannot tell two builds apart during a rolling upgrade or after a rollback. The revision
can: `VEILLE_REVISION` when set (the image is given it at build: deploy/Dockerfile), else the
git commit of the checkout veille runs from (an editable install: read from `.git`, no `git`
command), else `unknown`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from veille import __version__

#: The checkout an editable install runs from: the folder holding the `veille` package.
SOURCE_ROOT = Path(__file__).resolve().parent.parent
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
#: The length of the commit id shown (git's --short=12).
SHORT = 12


def _git_dir(root: Path) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
        line = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if line.startswith("gitdir:"):
            path = Path(line[7:].strip())
            return path if path.is_absolute() else (root / path).resolve()
    return None


def git_commit(root: Path = SOURCE_ROOT) -> str | None:
    """The commit `root`'s checkout has out (HEAD, followed through its branch), or None."""
    try:
        git = _git_dir(root)
        if git is None:
            return None
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if _SHA.fullmatch(head):  # detached
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[4:].strip()
        common = git
        if (git / "commondir").is_file():  # a worktree keeps its branches in the main .git
            common = (git / (git / "commondir").read_text(encoding="utf-8").strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                sha = (base / ref).read_text(encoding="utf-8").strip()
                return sha if _SHA.fullmatch(sha) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _SHA.fullmatch(sha):
                    return sha
    except (OSError, UnicodeDecodeError):
        return None
    return None


@functools.cache
def revision() -> str:
    """VEILLE_REVISION, else the checkout's commit (12 characters), else "unknown"."""
    given = os.environ.get("VEILLE_REVISION", "").strip()
    if given:
        return given[:64]
    commit = git_commit()
    return commit[:SHORT] if commit else "unknown"


def describe() -> str:
    """`0.1.0 (revision 0123456789ab)`: what `veille --version` prints after the name."""
    return f"{__version__} (revision {revision()})"


def labels() -> dict[str, str]:
    """The labels of veille_build_info."""
    return {"version": __version__, "revision": revision()}
