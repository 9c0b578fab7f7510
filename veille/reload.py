"""A configuration file followed while the process runs: the watch list, re-read when it changes.

`WatchedFile.poll()` looks at the file's status (inode, size, modification time) and reads it
again only when that changed. A change is taken when it has settled (the file untouched for
SETTLE_SECONDS and unchanged while it was read: an editor writing in place must not hand over
half a file, which may well parse), its bytes differ from the ones in use (a `touch` is no
change), and it loads; a file that no longer loads leaves the one in use in force, and the
error is kept (`error`) until a good file replaces it. Nothing here knows what the file means:
the caller's `load` parses and validates it (raising on a bad file) and applies the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A change is taken once the file has not been modified for this long (an editor's save, a
#: `cp`, a configuration tool writing in place) and stayed the same while it was read.
SETTLE_SECONDS = 2.0
#: Files larger than this are not hashed here (the loader refuses them with its own message).
MAX_BYTES = 16 * 1024 * 1024

Stamp = tuple[int, int, int, int]  # device, inode, size, modification time (ns)
#: The stamp of a file that cannot be looked at (gone, no permission).
GONE: Stamp = (-1, -1, -1, -1)


def stamp_of(path: Path) -> Stamp:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return GONE
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def digest_of(path: Path) -> str | None:
    """The digest of a regular file's bytes (None for anything else: a named pipe's open
    would wait for a writer, blocking the event loop; the loader says what is wrong)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError):
        return None
    try:
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return hashlib.sha256(fh.read(MAX_BYTES + 1)).hexdigest()
    except (OSError, ValueError):
        return None


class WatchedFile(Generic[T]):
    """`load(path)`'s result, loaded again by `poll()` when the file changes.

    The first load happens here: a bad file at start is the caller's error (`load` raises).
    """

    def __init__(self, path: str | Path, load: Callable[[Path], T], *,
                 clock: Callable[[], float] = time.time, settle: float = SETTLE_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self._load = load
        self._clock = clock  # the wall clock: the file's modification time, loaded_at
        self._monotonic = monotonic  # durations: how long a stamp has been seen
        self.settle = settle
        self._stamp = stamp_of(self.path)
        self._digest = digest_of(self.path)
        self.value: T = load(self.path)
        #: Unix time at which `value` was loaded.
        self.loaded_at = clock()
        #: Why the file on disk is not the one in use (None when it is, or it is only unsettled).
        self.error: str | None = None
        self._refused: Stamp | None = None  # the stamp of the file last refused (logged once)
        #: Changes refused so far (a file that did not load, or went away).
        self.refusals = 0
        self._seen: tuple[Stamp, float] | None = None  # a stamp looked at, and since when

    def poll(self) -> T | None:
        """The new value when the file changed, settled and loads; None otherwise."""
        before = stamp_of(self.path)
        if before == self._stamp:  # the one in use: back, too, after a refusal (moved away and
            self.error, self._refused = None, None  # back, its permission given back)
            return None
        if before == self._refused:
            return None
        if before == GONE:  # being replaced, moved, deleted: the one in use stays
            self._refuse(GONE, f"watch list {self.path} cannot be read any more (moved or "
                               "deleted?); the one loaded before stays in use")
            return None
        if not self._settled(before):
            return None  # still being written, maybe: looked at again at the next poll
        digest = digest_of(self.path)
        if digest == self._digest:  # touched, or written back the same
            self._stamp, self.error, self._refused = before, None, None
            return None
        try:
            value = self._load(self.path)
        except Exception as exc:  # noqa: BLE001 (whatever the loader raises: the old one stays)
            if stamp_of(self.path) == before:
                self._refuse(before, f"{exc}; the watch list loaded before stays in use")
            return None
        if stamp_of(self.path) != before or digest_of(self.path) != digest:
            return None  # changed while it was read: read again at the next poll
        self._stamp, self._digest, self.error, self._refused = before, digest, None, None
        self.value, self.loaded_at = value, self._clock()
        return value

    def _settled(self, stamp: Stamp) -> bool:
        """Not modified for `settle` seconds: by its modification time, or, that time being
        ahead of this clock (another machine's, or this clock set back), by the monotonic clock
        since the stamp was first seen (on the wall clock, a change saved just before the clock
        was set back an hour waited the hour; found in review, 2026-12-07).

        An empty file, by this clock only: saving in place truncates the file, then writes it,
        and for an instant ext4 shows the truncated file with its old modification time (its
        size is set before its times), which would look settled (an empty watch list read,
        refused: a false WatchlistRefused; CI, 2026-12-06)."""
        now, ticks = self._clock(), self._monotonic()
        if self._seen is None or self._seen[0] != stamp:
            self._seen = (stamp, ticks)
        by_mtime = stamp[2] != 0 and now - stamp[3] / 1e9 >= self.settle
        return by_mtime or ticks - self._seen[1] >= self.settle

    def _refuse(self, stamp: Stamp, why: str) -> None:
        self._refused, self.error = stamp, why
        self.refusals += 1
        log.error("%s", why)


class Reloader(Generic[T]):
    """A WatchedFile polled every `interval` seconds, its changes handed to the listeners (in
    the order they were added), its state exported on `metrics` (a
    veille.metrics.WatchlistMetrics, or None). `size(value)` is the brands count exported."""

    def __init__(self, watched: WatchedFile[T], interval: float, metrics: Any = None,
                 size: Callable[[T], int] = lambda _: 0) -> None:
        self.watched, self.interval, self.metrics, self._size = watched, interval, metrics, size
        self.listeners: list[Callable[[T], None]] = []
        self._refusals = watched.refusals
        if metrics is not None:
            metrics.brands.set(size(watched.value))

    @property
    def value(self) -> T:
        return self.watched.value

    def on_change(self, listener: Callable[[T], None]) -> Callable[[T], None]:
        self.listeners.append(listener)
        return listener

    def check(self) -> T | None:
        """Poll once: the new value once handed to every listener, else None."""
        return self._hand_over(self.watched.poll())

    async def check_beside(self) -> T | None:
        """check(), the file looked at and loaded in a thread: the largest watch list takes
        seconds to compile, which on the event loop would stop the agents and the broker's
        heartbeats as long (a worker out of its group at every change). The listeners get the
        change here, on the loop, between two of its events."""
        import asyncio

        return self._hand_over(await asyncio.to_thread(self.watched.poll))

    def _hand_over(self, new: T | None) -> T | None:
        refused = self.watched.refusals - self._refusals
        self._refusals = self.watched.refusals
        if new is not None:
            log.info("watch list %s changed: taken (%d brands)", self.watched.path,
                     self._size(new))
            for listener in self.listeners:
                try:
                    listener(new)
                except Exception:  # a listener's bug must not stop the others nor the process
                    log.exception("watch list change: %r failed", listener)
        if self.metrics is not None:
            m = self.metrics
            if refused:
                m.reloads.labels("refused").inc(refused)
            if new is not None:
                m.reloads.labels("applied").inc()
                m.loaded.set(self.watched.loaded_at)
                m.brands.set(self._size(new))
            m.refused.set(1 if self.watched.error else 0)
        return new

    async def follow(self, running: Callable[[], bool] = lambda: True) -> None:
        """check() every `interval` seconds while running() (never with interval 0)."""
        import asyncio

        if self.interval <= 0:
            return
        while running():
            await asyncio.sleep(self.interval)
            await self.check_beside()


def follow_watchlist(path: str | Path, load: Callable[[Path], T], interval: float, registry: Any,
                     size: Callable[[T], int], watched: WatchedFile[T] | None = None) -> Reloader[T]:
    """The watch list at `path` as `load` reads it, followed every `interval` seconds, its state
    exported on `registry` (veille.metrics.WatchlistMetrics): what the workers and the
    collectors that read it share. A file `load` refuses at start is the caller's error.
    `watched`: the file already loaded (by the command, to refuse a bad one before anything
    starts), followed from there rather than parsed a second time."""
    from veille.metrics import WatchlistMetrics

    if watched is None:
        watched = WatchedFile(path, load)
    return Reloader(watched, interval, WatchlistMetrics(registry, watched.loaded_at), size=size)
