"""Bad `[[feeds]]` tables and unusable input paths: a clear error at start (FeedConfigError or
DetectError, `veille: error: ...`, exit 2), never a traceback, a hang, unbounded memory or a
feed that is silently polled wrong."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from streams.records import MAX_SHORT_FIELD_CHARS, mention_from_dict
from tests.cli_helpers import assert_clear_error, run
from veille import detect
from veille.collectors import rss
from veille.collectors.rss import FeedConfig, FeedConfigError, feeds_from_dict, load_feeds

FEED = "http://localhost:19300/f"


def feeds(*tables: dict[str, Any]) -> list[FeedConfig]:
    return feeds_from_dict({"feeds": list(tables)})


def refused(message: str, *tables: dict[str, Any]) -> str:
    """The FeedConfigError's text for these tables; it must contain `message`."""
    with pytest.raises(FeedConfigError) as info:
        feeds(*tables)
    assert message in str(info.value), str(info.value)
    return str(info.value)


def test_a_misspelt_table_is_refused_not_ignored() -> None:
    """[[feed]] beside [[feeds]]: its feeds were never polled, without a word."""
    with pytest.raises(FeedConfigError, match=r"unknown top-level keys \['feed'\]"):
        feeds_from_dict({"feeds": [{"url": FEED}], "feed": [{"url": FEED + "2"}]})
    assert [f.url for f in feeds_from_dict({"brands": [{"id": "a"}], "feeds": [{"url": FEED}]})] == [
        FEED]


def call_on_fifo(fifo: Path, fn: Callable[[Path], object]) -> BaseException | object:
    """fn(fifo) in a thread; if it is still waiting for a writer after 5 s, the FIFO is opened
    for writing and closed (an end of file) to release it, and the test fails."""
    outcome: list[BaseException | object] = []

    def target() -> None:
        try:
            outcome.append(fn(fifo))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail(f"{fn.__name__} waited on the FIFO {fifo} for a writer")
    return outcome[0]


# --- 1. feed addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "message"), [
    ("http://[::1", "is not a valid address (Invalid IPv6 URL)"),
    ("http://[zz]/f", "is not a valid address"),
    ("http://localhost:99999/f", "invalid port"),
    ("http://localhost:abc/f", "invalid port"),
    ("http://localhost:0/f", "invalid port"),
    ("http://local host/f", "whitespace"),
    ("http://localhost/a\tb", "whitespace"),
    ("http://:8080/f", "has no host name"),
    ("http:///f", "http:// or https://"),
    ("ftp://x.example/f", "http:// or https://"),
])
def test_a_feed_url_that_cannot_be_fetched_is_refused_at_load(url: str, message: str) -> None:
    text = refused(message, {"url": FEED}, {"url": url, "name": "Acme news"})
    assert "feed #2 ('Acme news')" in text  # names the feed by number and name
    assert repr(url) in text


def test_an_invalid_ipv6_feed_url_is_a_clear_error_of_veille_collect_rss(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('[[feeds]]\nurl = "http://[::1"\n', encoding="utf-8")
    status, _out, err = run(capsys, "collect", "rss", "--once", "--watchlist", str(watchlist))
    assert_clear_error(status, err, "feed #1: url 'http://[::1' is not a valid address")


def test_valid_feed_urls_are_kept_as_written() -> None:
    urls = ["http://[::1]:8080/f", "HTTPS://Example.COM:8443/feed?q=a", "https://u@x.example",
            "http://localhost:65535/f", "http://localhost:1/f"]
    assert [f.url for f in feeds(*({"url": u} for u in urls))] == urls


# --- 2. polling interval ------------------------------------------------------------------------


@pytest.mark.parametrize("interval", [float("inf"), 1e308, 86_401, 10**30])
def test_an_interval_over_one_day_or_infinite_is_refused(interval: float) -> None:
    refused("the maximum is 86400 (one day)", {"url": FEED, "interval_seconds": interval})


def test_an_interval_of_one_day_is_accepted_and_nan_still_refused() -> None:
    assert feeds({"url": FEED, "interval_seconds": 86_400})[0].interval_seconds == 86_400.0
    refused("the minimum is 30", {"url": FEED, "interval_seconds": float("nan")})


def test_an_interval_of_inf_in_the_watch_list_file_is_refused(tmp_path: Path) -> None:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(f'[[feeds]]\nurl = "{FEED}"\ninterval_seconds = inf\n', encoding="utf-8")
    with pytest.raises(FeedConfigError, match=r"`interval_seconds` is inf, the maximum is 86400"):
        load_feeds(watchlist)


def test_an_integer_too_long_to_read_is_a_feed_config_error(tmp_path: Path) -> None:
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(f'[[feeds]]\nurl = "{FEED}"\ninterval_seconds = {"9" * 5000}\n',
                         encoding="utf-8")
    with pytest.raises(FeedConfigError, match="is not valid TOML"):
        load_feeds(watchlist)


def test_the_collector_reads_a_watch_list_file_as_the_workers_do(tmp_path: Path) -> None:
    """Its own copy of the reader missed the workers' fix of 2026-12-05: a byte-order mark was
    "not valid TOML", deep nesting a RecursionError traceback."""
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + f'[[feeds]]\nurl = "{FEED}"\n'.encode())
    assert [f.url for f in load_feeds(bom)] == [FEED]
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(FeedConfigError, match="nested too deeply"):
        load_feeds(deep)


# --- 3. one feed under two spellings ------------------------------------------------------------


@pytest.mark.parametrize("spelling", [
    "http://LOCALHOST:19300/f",
    "http://localhost:19300/f#x",
    "HTTP://localhost:19300/f",
])
def test_a_feed_listed_twice_under_another_spelling_is_refused(spelling: str) -> None:
    text = refused("is listed twice", {"url": FEED}, {"url": spelling})
    assert f"feed #2 {spelling} is listed twice: it is the same feed as feed #1 ({FEED})" in text


@pytest.mark.parametrize(("first", "second"), [
    ("http://example.com/f", "http://example.com:80/f"),
    ("https://example.com/f", "https://EXAMPLE.com:443/f#top"),
    ("https://example.com", "https://example.com/"),
    ("http://[::1]:8080/f", "http://[::1]:8080/f#a"),
])
def test_default_ports_and_an_empty_path_are_the_same_feed(first: str, second: str) -> None:
    refused("is listed twice", {"url": first}, {"url": second})


def test_different_feeds_are_not_taken_for_duplicates() -> None:
    urls = [FEED, "https://localhost:19300/f", "http://localhost:19301/f",
            "http://localhost:19300/F", "http://localhost:19300/f?page=2"]
    assert len(feeds(*({"url": u} for u in urls))) == len(urls)


def test_entry_ids_of_a_feed_are_unchanged() -> None:
    """Ids hash the feed's URL as written (existing state files and ids stay valid)."""
    for url in (FEED, "https://www.google.com/alerts/feeds/0684/1345"):
        [feed] = feeds({"url": f"  {url} "})
        assert feed.url == url
        expected = "rss-" + hashlib.sha256(f"{url}|guid-1".encode()).hexdigest()[:32]
        assert rss.safe_entry_id({"id": "guid-1"}, feed) == expected


# --- 4. platform --------------------------------------------------------------------------------


def test_a_platform_longer_than_the_record_limit_is_refused() -> None:
    refused(f"`platform` is longer than {MAX_SHORT_FIELD_CHARS} characters",
            {"url": FEED, "platform": "x" * 10_000})
    refused("`platform` is longer than", {"url": FEED, "platform": "x" * (MAX_SHORT_FIELD_CHARS + 1)})


def test_a_platform_with_a_lone_surrogate_is_refused() -> None:
    refused("`platform` holds a lone surrogate", {"url": FEED, "platform": "blog\ud83d"})


def test_an_accepted_platform_passes_the_record_contract() -> None:
    [feed] = feeds({"url": FEED, "platform": " " + "B" * MAX_SHORT_FIELD_CHARS + " "})
    assert feed.platform == "b" * MAX_SHORT_FIELD_CHARS
    now = datetime.now(UTC)
    mention = mention_from_dict({"id": "rss-1", "source": "rss", "platform": feed.platform,
                                 "text": "hello", "created_at": now.isoformat()}, now=now)
    assert mention.platform == feed.platform


# --- 5. watch-list paths ------------------------------------------------------------------------


def test_a_watch_list_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FeedConfigError, match="watch list /dev/null is not a regular file"):
        load_feeds("/dev/null")  # a character device, like /dev/zero (which never ends)
    fifo = tmp_path / "watchlist.fifo"
    os.mkfifo(fifo)
    outcome = call_on_fifo(fifo, load_feeds)
    assert isinstance(outcome, FeedConfigError), outcome
    assert "is not a regular file" in str(outcome)


def test_a_watch_list_over_10_mib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "watchlist.toml"
    with big.open("wb") as fh:
        fh.truncate(10 * 2**20 + 1)  # sparse: instant, nothing written
    with pytest.raises(FeedConfigError, match="is larger than 10 MiB"):
        load_feeds(big)


def test_a_fifo_watch_list_is_a_clear_error_of_veille_collect_rss(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "watchlist.fifo"
    os.mkfifo(fifo)
    outcome = call_on_fifo(fifo, lambda p: run(capsys, "collect", "rss", "--once",
                                               "--watchlist", str(p)))
    assert isinstance(outcome, tuple), outcome
    status, _out, err = outcome
    assert_clear_error(status, err, f"watch list {fifo} is not a regular file")


# --- 6. veille detect / python -m veille.detect --------------------------------------------------


def write_series(path: Path) -> Path:
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n",
                    encoding="utf-8")
    return path


def test_detect_refuses_an_input_that_is_not_a_regular_file(tmp_path: Path) -> None:
    with pytest.raises(detect.DetectError, match="/dev/null: cannot read: not a regular file"):
        detect.run_detect(Path("/dev/null"), tmp_path / "out.csv")
    fifo = tmp_path / "series.fifo"
    os.mkfifo(fifo)
    outcome = call_on_fifo(fifo, lambda p: detect.run_detect(p, tmp_path / "out.csv"))
    assert isinstance(outcome, detect.DetectError), outcome
    assert f"{fifo}: cannot read: not a regular file" in str(outcome)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.fifo"]  # no output left


def test_veille_detect_on_a_device_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _out, err = run(capsys, "detect", "/dev/null", "--out", str(tmp_path / "o.csv"))
    assert_clear_error(status, err, "/dev/null: cannot read: not a regular file")


def test_python_m_veille_detect_errors_name_the_program(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert detect.main(["/dev/null", "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m veille.detect: error: /dev/null"), err


@pytest.mark.parametrize("bucket", ["100000000000000000000000", "86401", "0", "-5"])
def test_python_m_veille_detect_bounds_bucket_seconds(
        bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series = write_series(tmp_path / "s.csv")
    with pytest.raises(SystemExit) as info:
        detect.main([str(series), "--out", str(tmp_path / "o.csv"), "--bucket-seconds", bucket])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "python -m veille.detect: error: --bucket-seconds must be from 1 to 86400 (one day)" \
        in err, err
    assert not (tmp_path / "o.csv").exists()


def test_python_m_veille_detect_accepts_a_bucket_of_one_day(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    series = write_series(tmp_path / "s.csv")
    out = tmp_path / "o.csv"
    assert detect.main([str(series), "--out", str(out), "--bucket-seconds", "86400"]) == 0
    assert out.read_text(encoding="utf-8").startswith("timestamp,value,anomaly_score,alert\n")


def test_a_state_folder_that_cannot_hold_state_is_an_error_at_start(tmp_path: Path) -> None:
    """Found in review: VEILLE_COLLECTOR_STATE_DIR naming a file logged "moved to .corrupt"
    (nothing was), then "could not save state", and exited 0: each cron run sent the same
    entries again. Both collectors now refuse it at start, naming the variable."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from veille.collectors.mastodon import MastodonCollector
    from veille.collectors.rss import RssCollector, StateDirError, StateStore
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings

    a_file = tmp_path / "afile"
    a_file.write_text("x")
    with pytest.raises(StateDirError, match="VEILLE_COLLECTOR_STATE_DIR: cannot keep"):
        StateStore(a_file / "rss").check()
    StateStore(tmp_path / "new" / "rss").check()  # made when missing
    assert (tmp_path / "new" / "rss").is_dir()
    assert [p.name for p in (tmp_path / "new" / "rss").iterdir()] == [StateStore.LOCK_FILE]
    watchlist = tmp_path / "w.toml"
    watchlist.write_text('[[brands]]\nid = "acme"\nname = "Acme"\nhashtags = ["acme"]\n'
                         '[[feeds]]\nurl = "https://example.org/f.xml"\n')
    settings = Settings.from_env({"VEILLE_COLLECTOR_STATE_DIR": str(a_file),
                                  "VEILLE_WATCHLIST": str(watchlist),
                                  "VEILLE_MASTODON_URL": "https://m.example"})
    for make in (RssCollector, MastodonCollector):
        collector = make(settings, CollectorMetrics(CollectorRegistry()))
        with pytest.raises(StateDirError):
            asyncio.run(collector.start())


def test_a_state_file_nested_too_deep_is_set_aside_not_a_crash(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A state file whose JSON nests deeper than the parser goes (hand-edited, damaged) raised
    RecursionError out of StateStore.load: every start of the collector crashed (until
    2026-12-06). It is set aside as any unreadable state file, and the feed starts afresh."""
    from veille.collectors.rss import StateStore

    store = StateStore(tmp_path / "rss")
    store.check()
    path = store.path("https://example.org/f.xml")
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert store.load("https://example.org/f.xml") is None
    assert not path.exists() and path.with_suffix(".corrupt").exists()
    assert "nested too deep" in caplog.text


def test_a_state_folder_in_use_by_another_collector_is_an_error_at_start(tmp_path: Path) -> None:
    """Two collectors on one state folder (a cron `--once` run still going when the next one
    starts, a second container on the same volume) each loaded the same cursors and saved their
    own over the other's: entries sent again, a cursor moved back, the Bluesky session's refresh
    token spent by one and the other signed out. The second now stops at start, naming the
    first's process; once the first lets go (or ends, however it ends), the folder is free."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    from veille.collectors.rss import StateDirError, StateStore

    folder = tmp_path / "rss"
    first = StateStore(folder)
    first.check()
    with pytest.raises(StateDirError, match=rf"in use by another collector \(pid {os.getpid()}\)"):
        StateStore(folder).check()
    first.release()
    second = StateStore(folder)
    second.check()  # free again
    second.release()
    # Another process holding it, killed: the kernel lets go of the lock with the process.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from veille.collectors.rss import StateStore; s = StateStore(Path(sys.argv[1])); s.hold(); "
         "print('held', flush=True); time.sleep(60)", str(folder)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StateDirError, match=rf"\(pid {holder.pid}\)"):
            StateStore(folder).check()
    finally:
        holder.kill()
        holder.wait()
    StateStore(folder).check()


def test_veille_collect_rss_once_while_another_run_holds_the_state_folder_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A cron `collect rss --once` started while the previous run still goes: a message and
    exit status 2, nothing fetched, nothing sent, the other run's state untouched."""
    from veille.collectors.rss import StateStore

    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text('[[feeds]]\nurl = "http://127.0.0.1:9/feed.xml"\n', encoding="utf-8")
    monkeypatch.setenv("VEILLE_COLLECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VEILLE_COLLECTOR_METRICS_PORT", "0")
    previous = StateStore(tmp_path / "state" / "rss")
    previous.check()
    status, out, err = run(capsys, "collect", "rss", "--once", "--watchlist", str(watchlist))
    assert_clear_error(status, err, f"is in use by another collector (pid {os.getpid()})")
    assert out == ""
    previous.release()
