"""veille.reload: a file followed while the process runs, on a fake clock and real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from veille.metrics import WatchlistMetrics
from veille.reload import Reloader, WatchedFile


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))


def load(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if text.startswith("bad"):
        raise ValueError(f"watch list {path}: refused ({text})")
    return text


@pytest.fixture
def watched(tmp_path: Path) -> tuple[WatchedFile[str], Path, Clock]:
    clock = Clock()
    path = tmp_path / "w.toml"
    write(path, "one", clock.now - 60)
    return WatchedFile(path, load, clock=clock, monotonic=clock), path, clock


def test_a_change_is_taken_once_settled(watched) -> None:
    w, path, clock = watched
    assert w.value == "one" and w.poll() is None
    write(path, "two", clock.now)  # just saved: maybe still being written
    assert w.poll() is None and w.value == "one"
    clock.now += 1.9
    assert w.poll() is None
    clock.now += 0.2
    assert w.poll() == "two" and w.value == "two" and w.loaded_at == clock.now
    assert w.poll() is None  # taken once


def test_same_bytes_are_no_change(watched) -> None:
    w, path, clock = watched
    write(path, "one", clock.now - 10)  # touched, or written back the same
    loads = []
    w._load = lambda p: loads.append(p) or load(p)
    assert w.poll() is None and loads == [] and w.error is None


def test_a_file_that_does_not_load_leaves_the_old_one_and_is_said_once(watched, caplog) -> None:
    w, path, clock = watched
    write(path, "bad one", clock.now - 10)
    assert w.poll() is None and w.value == "one"
    assert w.error is not None and "refused (bad one)" in w.error
    assert "stays in use" in w.error and w.refusals == 1
    assert w.poll() is None and w.refusals == 1  # the same file: not refused (nor logged) again
    assert caplog.text.count("refused (bad one)") == 1
    write(path, "bad two", clock.now - 5)
    assert w.poll() is None and w.refusals == 2
    write(path, "three", clock.now - 3)
    assert w.poll() == "three" and w.error is None


def test_mended_back_to_the_bytes_in_use_ends_the_refusal(watched) -> None:
    w, path, clock = watched
    write(path, "bad", clock.now - 10)
    w.poll()
    assert w.error
    write(path, "one", clock.now - 5)
    assert w.poll() is None and w.error is None and w.value == "one"


def test_a_file_gone_keeps_the_one_in_use(watched) -> None:
    w, path, clock = watched
    path.unlink()
    assert w.poll() is None and w.value == "one"
    assert w.error is not None and "cannot be read any more" in w.error and w.refusals == 1
    assert w.poll() is None and w.refusals == 1
    write(path, "back", clock.now - 5)
    assert w.poll() == "back" and w.error is None


def test_a_file_changed_while_it_was_read_is_read_again(watched) -> None:
    w, path, clock = watched
    write(path, "two", clock.now - 5)

    def racing(p: Path) -> str:
        text = load(p)
        write(p, "three", clock.now - 4)  # the writer was not done
        return text

    w._load = racing
    assert w.poll() is None and w.value == "one" and w.error is None
    w._load = load
    assert w.poll() == "three"


def test_a_bad_file_at_start_is_the_callers_error(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text("bad", encoding="utf-8")
    with pytest.raises(ValueError, match="refused"):
        WatchedFile(path, load)


def test_the_reloader_hands_changes_over_and_exports_them(watched) -> None:
    w, path, clock = watched
    registry = CollectorRegistry()
    got: list[str] = []

    def broken(_: str) -> None:
        raise RuntimeError("a listener's bug")

    r = Reloader(w, 10, WatchlistMetrics(registry, w.loaded_at), size=len)
    r.on_change(broken)
    r.on_change(got.append)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("veille_watchlist_brands") == 3  # len("one")
    write(path, "bad", clock.now - 10)
    assert r.check() is None
    assert sample("veille_watchlist_refused") == 1
    assert sample("veille_watchlist_reloads_total", outcome="refused") == 1
    assert r.check() is None
    assert sample("veille_watchlist_reloads_total", outcome="refused") == 1
    write(path, "three", clock.now - 5)
    clock.now += 1
    assert r.check() == "three" and got == ["three"]  # the broken listener stopped no other
    assert sample("veille_watchlist_refused") == 0
    assert sample("veille_watchlist_reloads_total", outcome="applied") == 1
    assert sample("veille_watchlist_loaded_timestamp_seconds") == clock.now
    assert sample("veille_watchlist_brands") == 5


def test_a_file_moved_away_and_back_ends_the_refusal(watched) -> None:
    """`mv w.toml w.bak; mv w.bak w.toml` (or a permission taken and given back): the file in
    use is back, same inode, size and time, and nothing is refused any more. Until found in
    review (2026-12-06) the refusal stayed, veille_watchlist_refused 1 and WatchlistRefused
    firing, until the next change of the file or a restart."""
    w, path, clock = watched
    away = path.with_suffix(".bak")
    path.rename(away)
    assert w.poll() is None and w.error is not None
    away.rename(path)
    assert w.poll() is None and w.error is None and w.value == "one"


def test_a_change_with_a_modification_time_ahead_of_the_clock_is_taken(watched) -> None:
    """A file whose modification time is ahead of this clock (written on another machine, an
    NFS server or a container host whose clock is ahead, `touch -d`): taken once it stayed the
    same for the settling time of this clock. Until found in review (2026-12-06) it waited
    for the clock to reach that time, without a word: an hour ahead, an hour unused."""
    w, path, clock = watched
    write(path, "two", clock.now + 3600)
    assert w.poll() is None  # not settled yet: first seen now
    clock.now += 1
    assert w.poll() is None
    clock.now += 1.5
    assert w.poll() == "two"


def test_a_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    """A named pipe at the watch list's path (at start, or put there later) is the loader's
    "not a regular file", never a read blocking the process (the event loop of every agent)
    for a writer that never comes. Until found in review (2026-12-06) the file's digest was
    read first, and hung there."""
    import threading

    from veille.rules import Watchlist, WatchlistError

    fifo = tmp_path / "w.toml"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def start() -> None:
        try:
            WatchedFile(fifo, Watchlist.from_toml)
        except WatchlistError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # let the blocked open end
        with open(fifo, "wb"):
            pass
        thread.join(5)
        pytest.fail("WatchedFile blocked opening a named pipe")
    assert "is not a regular file" in str(outcome[0])

    clock = Clock()
    path = tmp_path / "x.toml"
    write(path, '[[brands]]\nid = "acme"\nname = "Acme"\n', clock.now - 60)
    w = WatchedFile(path, Watchlist.from_toml, clock=clock, monotonic=clock)
    path.unlink()
    os.mkfifo(path)
    os.utime(path, (clock.now - 10, clock.now - 10))
    polled: list[object] = []

    def poll() -> None:  # a pipe's size is 0: looked at once it stayed so (like an empty file)
        polled.append(w.poll())
        clock.now += 2.1
        polled.append(w.poll())

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        with open(path, "wb"):
            pass
        thread.join(5)
        pytest.fail("poll() blocked opening a named pipe")
    assert polled == [None, None] and w.value.brand_ids == ("acme",)
    assert w.error is not None and "is not a regular file" in w.error


def test_a_slow_load_does_not_stop_the_event_loop(tmp_path: Path) -> None:
    """The largest watch list allowed (1,000 brands, 10,000 terms) takes seconds to compile.
    Followed on the agents' event loop, its load runs beside it: the loop goes on (the broker
    heartbeats, the agents, /metrics), and the listeners get the change on the loop. Until
    found in review (2026-12-06) it was loaded on the loop, which stopped as long: longer than
    the broker's session timeout (6 s by default), every worker left its group at each change."""
    import asyncio
    import threading
    import time

    path = tmp_path / "w.toml"
    write(path, "one", time.time() - 60)
    loads: list[str] = []

    def slow(p: Path) -> str:
        if loads:
            time.sleep(1.0)
        loads.append(threading.current_thread().name)
        return load(p)

    reloader = Reloader(WatchedFile(path, slow, settle=0.0), 0.05)
    got: list[tuple[str, str]] = []
    reloader.on_change(lambda v: got.append((v, threading.current_thread().name)))

    async def main() -> float:
        running = True
        follower = asyncio.create_task(reloader.follow(lambda: running))
        await asyncio.sleep(0.2)
        write(path, "two", time.time() - 60)
        longest, last = 0.0, time.monotonic()
        deadline = last + 5
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            longest, last = max(longest, now - last), now
        running = False
        await follower
        return longest

    longest = asyncio.run(main())
    assert got == [("two", threading.main_thread().name)]
    assert longest < 0.5, f"the event loop stopped {longest:.2f} s"


def test_a_file_being_saved_in_place_is_not_taken_nor_refused_while_empty(watched) -> None:
    """An editor saving in place truncates the file, then writes it. For an instant, ext4 shows
    the truncated file (size 0) with its old modification time (the size is set before the
    times), which looks settled: read then, it is an empty watch list, refused (a false
    WatchlistRefused, the metric up, an error logged). That instant is made here with utime;
    an empty file is taken or refused only once it stayed so for SETTLE_SECONDS by this
    process's clock."""
    w, path, clock = watched
    old = os.stat(path).st_mtime
    write(path, "", old)  # truncated, its old modification time still shown
    assert w.poll() is None and w.refusals == 0 and w.error is None
    write(path, "two", clock.now - 10)  # the save's write done (and settled)
    assert w.poll() == "two" and w.refusals == 0
    # A file emptied for good is refused (by the loader) once it stayed empty that long.
    w._load = lambda p: load(p) or (_ for _ in ()).throw(ValueError("empty"))
    write(path, "", clock.now - 60)
    assert w.poll() is None and w.refusals == 0
    clock.now += 1.0
    assert w.poll() is None and w.refusals == 0
    clock.now += 1.1
    assert w.poll() is None and w.refusals == 1 and w.error is not None and "empty" in w.error


def test_a_backward_step_of_the_wall_clock_does_not_hold_a_change_back(tmp_path: Path) -> None:
    """Found in review, 2026-12-07: whether a change had settled was timed on the wall clock
    only. A watch list saved just before the clock was set back an hour (an NTP step) was taken
    an hour later: its modification time and the moment it was first seen both lay ahead of the
    clock. Since it was first seen, the time is the monotonic clock's."""
    wall, mono = Clock(), Clock()
    mono.now = 500.0
    path = tmp_path / "w.toml"
    write(path, "one", wall.now - 60)
    w = WatchedFile(path, load, clock=wall, monotonic=mono)
    write(path, "two", wall.now)
    assert w.poll() is None  # just saved
    wall.now -= 3600  # the clock is set back an hour
    mono.now += 2.1
    assert w.poll() == "two"
