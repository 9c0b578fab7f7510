"""`veille alerts`: the alert story events of reputation.alerts, read from the real broker."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kafka import KafkaProducer

from streams.topics import REPUTATION_ALERTS, ensure_topics
from tests.conftest import ROOT, settings_env
from veille.alerts_view import describe
from veille.broker import free_port
from veille.settings import Settings

pytestmark = pytest.mark.integration


def event(brand: str, name: str, start: str, severity: str = "warning") -> dict[str, Any]:
    return {
        "schema_version": 1, "alert_id": f"{brand}-1767602100", "brand": brand, "event": name,
        "status": "resolved" if name == "resolved" else "open", "severity": severity,
        "window_start": f"2026-01-05T{start}:00Z", "window_end": "2026-01-05T08:40:00Z",
        "bucket_seconds": 300, "observed_negative": 27, "expected_negative": 2.3, "total": 67,
        "negative_share": 0.403, "audience_weighted_negative": 82.3, "anomaly_score": 0.4,
        "negative_share_p": 1e-8, "top_negative_mentions": ["m1"], "rising_terms": ["panne"],
    }


def send(settings: Settings, values: list[bytes], key: bytes = b"acme",
         at: list[int] | None = None) -> None:
    """Write `values` keyed `key`; `at`: their record times (ms), else the producer's clock."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        for i, value in enumerate(values):
            producer.send(settings.topic(REPUTATION_ALERTS), key=key, value=value,
                          timestamp_ms=at[i] if at else None)
        producer.flush(15)
    finally:
        producer.close(5)


def alerts(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veille.cli", "alerts", *args],
                          env=settings_env(settings), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@contextlib.contextmanager
def following(settings: Settings, stream: str, log_level: str = "INFO", other: list[str] | None = None
              ) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`veille alerts --follow` running, and the lines of its `stream` ("stdout" or "stderr")
    gathered by a thread as they come (and those of the other stream into `other`, if given);
    killed on the way out if still running."""
    follow = subprocess.Popen(
        [sys.executable, "-m", "veille.cli", "alerts", "--follow", "--interval", "0.2"],
        env={**settings_env(settings), "VEILLE_LOG_LEVEL": log_level}, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    streams = {stream: lines}
    if other is not None:
        streams["stderr" if stream == "stdout" else "stdout"] = other

    def read(name: str, into: list[str]) -> None:
        source = getattr(follow, name)
        assert source is not None
        into.extend(source)

    readers = [threading.Thread(target=read, args=item, daemon=True) for item in streams.items()]
    for reader in readers:
        reader.start()
    try:
        yield follow, lines
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
        for reader in readers:
            reader.join(5)


def test_alerts_prints_each_event_oldest_first_and_skips_unreadable_records(settings) -> None:
    ensure_topics(settings)
    story = [event("acme", "opened", "08:35"), event("acme", "escalated", "08:35", "critical")]
    send(settings, [json.dumps(e).encode() for e in story] + [b"{not json"])
    send(settings, [json.dumps(event("boreal", "opened", "09:00")).encode()], key=b"boreal")

    out = alerts(settings)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    # Keyed by brand, so each brand's events keep their order; brands may interleave.
    assert [line for line in lines if line.startswith("acme ")] == [describe(e) for e in story]
    assert [line for line in lines if line.startswith("boreal ")] == [
        describe(event("boreal", "opened", "09:00"))]
    assert len(lines) == 3  # the unreadable record is skipped (a warning), not printed
    assert "ERROR" not in out.stderr  # kafka-python's "Metadata refresh: failed Cancelled"

    only = alerts(settings, "--brand", "boreal", "--json")
    assert only.returncode == 0, only.stderr
    assert [json.loads(line) for line in only.stdout.splitlines()] == [event("boreal", "opened", "09:00")]
    # As a person writes it (ids are lower case): printed nothing until 2026-12-06.
    named = alerts(settings, "--brand", "Boreal", "--json")
    assert (named.returncode, named.stdout) == (0, only.stdout) and "note:" not in named.stderr
    # On a team's clock (UTC only until 2026-12-06); a zone the database lacks is an error.
    paris = alerts(settings, "--brand", "boreal", "--tz", "Europe/Paris")
    assert paris.returncode == 0 and describe(event("boreal", "opened", "09:00"), ZoneInfo(
        "Europe/Paris")) in paris.stdout and "Europe/Paris:" in paris.stdout, paris.stdout
    wrong = alerts(settings, "--tz", "Paris")
    assert wrong.returncode == 2 and "--tz: unknown time zone" in wrong.stderr, wrong.stderr
    # A typo printed nothing, as a brand with no alert would: a note names the watched ones.
    typo = alerts(settings, "--brand", "acmee")
    assert typo.returncode == 0 and typo.stdout == "", typo.stderr
    assert "note: no brand 'acmee' in the watch list (acme, boreal)" in typo.stderr


def test_alerts_in_french_with_lang_or_the_report_language(settings) -> None:
    """`veille alerts --lang fr` (English only until 2026-12-07): each line in French, the
    default VEILLE_REPORT_LANGUAGE as the moderation tools'; --json keeps the records; --follow
    and the notes on stderr in French too."""
    ensure_topics(settings)
    story = [event("acme", "opened", "08:35"), event("acme", "escalated", "08:35", "critical"),
             event("acme", "resolved", "08:35", "critical")]
    send(settings, [json.dumps(e).encode() for e in story])
    paris = ZoneInfo("Europe/Paris")

    out = alerts(settings, "--lang", "fr", "--tz", "Europe/Paris")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [describe(e, paris, "fr") for e in story]
    assert out.stdout.splitlines()[1].startswith(
        "acme AGGRAVÉE (critique) 2026-01-05 09:35-09:40 Europe/Paris\u00a0: 27 négatives sur 67 "
        "mentions (40\u00a0%), 2,3 attendues\u00a0;")
    french = settings.with_(report_language="fr")
    by_default = alerts(french)
    assert by_default.stdout.splitlines() == [describe(e, lang="fr") for e in story]
    assert alerts(french, "--lang", "en").stdout.splitlines() == [describe(e) for e in story]
    as_json = alerts(french, "--json")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == story
    none = alerts(french, "--brand", "boreal")
    assert none.stdout == "" and ("veille alerts\u00a0: aucune alerte pour la marque boreal dans "
                                  f"{settings.topic(REPUTATION_ALERTS)}\n") in none.stderr, none.stderr

    with following(french, "stdout") as (follow, printed):
        deadline = time.monotonic() + 30
        while len(printed) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert printed == [describe(e, lang="fr") + "\n" for e in story]
        later = event("acme", "reopened", "09:00")
        send(settings, [json.dumps(later).encode()])
        while len(printed) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert printed[3:] == [describe(later, lang="fr") + "\n"]
        assert printed[3].startswith("acme ROUVERTE (avertissement) ")
        follow.send_signal(signal.SIGINT)
        assert follow.wait(20) == 0


WAITING = "veille alerts: no alert event yet; waiting for new ones (Ctrl-C stops)\n"


def wait_for_waiting(said: list[str]) -> None:
    """Until `alerts --follow` says it waits (up to 30 s), its stderr lines in `said`."""
    deadline = time.monotonic() + 30
    while WAITING not in said and time.monotonic() < deadline:
        time.sleep(0.1)


def test_follow_says_it_is_waiting_when_there_is_nothing_yet(settings) -> None:
    """`alerts --follow` on a topic with no event printed nothing, which looked stuck."""
    ensure_topics(settings)
    # stderr: the log lines (INFO here) and what the command says.
    with following(settings, "stderr") as (follow, said):
        wait_for_waiting(said)
        assert said.count(WAITING) == 1, said
        follow.send_signal(signal.SIGINT)
        assert follow.wait(20) == 0  # Ctrl-C: how one ends a follow (its own message says so)


def test_follow_stopped_by_sigterm_exits_143(settings) -> None:
    """A supervisor's stop (SIGTERM) is not the user's Ctrl-C: 128 + 15, as every other command
    says it was stopped; `alerts --follow` said 0, a clean end (found in review, 2026-12-07)."""
    ensure_topics(settings)
    with following(settings, "stderr") as (follow, said):
        wait_for_waiting(said)
        assert WAITING in said, said
        follow.send_signal(signal.SIGTERM)
        assert follow.wait(20) == 143


def test_events_of_all_brands_come_oldest_first(settings) -> None:
    """The topic is keyed by brand (a partition each here): read partition after partition,
    one brand's story came whole before the other's, whatever their times."""
    ensure_topics(settings)
    t0 = int(time.time() * 1000) - 3_600_000
    acme = [event("acme", "opened", "08:00"), event("acme", "escalated", "10:00", "critical"),
            event("acme", "resolved", "12:00", "critical")]
    boreal = [event("boreal", "opened", "09:00"), event("boreal", "escalated", "11:00", "critical"),
              event("boreal", "resolved", "13:00", "critical")]
    send(settings, [json.dumps(e).encode() for e in acme], at=[t0, t0 + 2000, t0 + 4000])
    send(settings, [json.dumps(e).encode() for e in boreal], key=b"boreal",
         at=[t0 + 1000, t0 + 3000, t0 + 5000])
    out = alerts(settings)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [describe(e) for pair in zip(acme, boreal, strict=True)
                                       for e in pair]


def test_a_closed_output_ends_the_command_quietly(settings) -> None:
    """`veille alerts --follow | head -1`: once the reader is gone, the command ends at its next
    write (it ran on for ever, logging each record it could not print as unreadable)."""
    ensure_topics(settings)
    send(settings, [json.dumps(event("acme", "opened", f"08:{m:02d}")).encode() for m in range(50)])
    follow = subprocess.Popen(
        [sys.executable, "-m", "veille.cli", "alerts", "--follow", "--interval", "0.2"],
        env=settings_env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follow.stdout is not None and follow.stderr is not None
        first = follow.stdout.readline()
        assert first.startswith(b"acme OPENED")
        follow.stdout.close()  # as `head -1` does
        # Like any writer, it learns the reader is gone when it next writes: the next event.
        send(settings, [json.dumps(event("acme", "resolved", "09:00", "critical")).encode()])
        assert follow.wait(30) == 0
        errors = follow.stderr.read().decode()
        assert "unreadable" not in errors and "Traceback" not in errors, errors
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()


def test_a_slow_reader_of_the_output_is_not_a_broker_error(settings) -> None:
    """The time limit of a read is for a broker that stops answering: a reader taking its time
    over what is handed over (a paused terminal, `| less`) is no error."""
    from veille.moderate.store import TopicReader

    ensure_topics(settings)
    send(settings, [json.dumps(event("acme", "opened", "08:35")).encode()] * 6)
    seen: list[object] = []

    def slow(e: object) -> None:
        time.sleep(0.4)
        seen.append(e)

    reader = TopicReader(settings, {REPUTATION_ALERTS: slow}, timeout=1.0)
    try:
        assert reader.refresh() == 6  # 2.4 s of handling under a 1 s limit
    finally:
        reader.close()
    assert len(seen) == 6


def test_follow_prints_new_events_until_ctrl_c(settings) -> None:
    ensure_topics(settings)
    send(settings, [json.dumps(event("acme", "opened", "08:35")).encode()])
    with following(settings, "stdout") as (follow, printed):
        deadline = time.monotonic() + 30
        while len(printed) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert printed == [describe(event("acme", "opened", "08:35")) + "\n"]
        later = event("acme", "resolved", "08:35", "critical")
        send(settings, [json.dumps(later).encode()])
        while len(printed) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert printed[1:] == [describe(later) + "\n"]
        follow.send_signal(signal.SIGINT)
        assert follow.wait(20) == 0


def test_follow_waits_for_a_topic_not_created_yet(settings) -> None:
    # Started before the worker (or the demo) that creates the topics: it waits, then prints.
    follow = subprocess.Popen(
        [sys.executable, "-m", "veille.cli", "alerts", "--follow", "--interval", "0.2"],
        env=settings_env(settings), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    printed: list[str] = []
    said: list[str] = []

    def read() -> None:
        assert follow.stdout is not None
        printed.extend(follow.stdout)

    def read_errors() -> None:
        assert follow.stderr is not None
        said.extend(follow.stderr)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    threading.Thread(target=read_errors, daemon=True).start()
    try:
        deadline = time.monotonic() + 30

        def told() -> list[str]:
            return [line for line in list(said) if "reading on" in line]

        while not told() and time.monotonic() < deadline and follow.poll() is None:
            time.sleep(0.1)
        # It said the topic is missing, and reads on.
        assert told() and "does not exist" in told()[0], said
        time.sleep(0.5)
        assert follow.poll() is None, said
        ensure_topics(settings)
        first = event("acme", "opened", "08:35")
        send(settings, [json.dumps(first).encode()])
        deadline = time.monotonic() + 40
        while not printed and time.monotonic() < deadline:
            time.sleep(0.1)
        assert printed == [describe(first) + "\n"]
        follow.send_signal(signal.SIGINT)
        assert follow.wait(20) == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    reader.join(5)


def test_errors_are_one_line(settings) -> None:
    missing = alerts(settings)  # no topics created for this test's prefix
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    for interval in ("nan", "0", "1e10"):  # 1e10 overflowed the sleep: a traceback
        bad = alerts(settings, "--follow", "--interval", interval)
        assert bad.returncode == 2 and "--interval" in bad.stderr and "Traceback" not in bad.stderr
    empty = alerts(settings, "--brand", " ")  # printed every brand's events
    assert empty.returncode == 2 and "--brand" in empty.stderr
    nobody = alerts(settings.with_(broker_url=f"kafka://127.0.0.1:{free_port()}"))
    assert nobody.returncode == 2 and "cannot reach the broker" in nobody.stderr


def test_follow_waits_out_a_broker_outage_in_its_own_words(tmp_path) -> None:
    """`alerts --follow` through a broker restart said "did not answer ...; reading on", and
    kafka-python's ERROR lines came with it, a ConnectionResetError traceback included (seen in
    review, 2026-12-06, following the demo's broker as it stopped): a terminal user read a crash.
    The command's own line says it all; the client's records stay out (VEILLE_LOG_LEVEL=INFO or
    DEBUG brings them back)."""
    from tests.proxy_helpers import BrokerProxy
    from veille.broker import EmbeddedBroker

    port = free_port()
    proxy = BrokerProxy("127.0.0.1", port).start()
    broker = EmbeddedBroker(port, log_path=tmp_path / "tansu.log", advertised=proxy.address)
    try:
        broker.start()
        settings = Settings.from_env({}, broker_url=f"kafka://{proxy.address}", topic_prefix="outage.")
        ensure_topics(settings)
        send(settings, [json.dumps(event("acme", "opened", "08:35")).encode()])
        printed: list[str] = []
        with following(settings, "stderr", log_level="WARNING", other=printed) as (follow, said):
            # Its first read done, connections open: cut before it (after a fixed 3 s on a busy
            # host) and its reader was never made, an error at start rather than an outage.
            deadline = time.monotonic() + 60
            while not printed and time.monotonic() < deadline and follow.poll() is None:
                time.sleep(0.1)
            assert printed, said
            proxy.cut()
            deadline = time.monotonic() + 60
            while not any("reading on" in line for line in said) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert any("reading on" in line for line in said), said
            proxy.restore()
            time.sleep(3)
            follow.send_signal(signal.SIGINT)
            assert follow.wait(20) == 0
        assert said and all(line.startswith("veille alerts: ") for line in said), said
    finally:
        proxy.stop()
        broker.stop()


def test_no_event_is_said_not_left_blank(settings) -> None:
    """`veille alerts` with no event (before the demo's outage, or a brand that never had a
    story) printed nothing at all: no way to tell "no alert" from a command that did nothing,
    while `--follow` says "no alert event yet" and the other listings give a count (found in
    review, 2026-12-06). stdout stays empty for scripts; stderr says it."""
    ensure_topics(settings)
    none = alerts(settings)
    assert none.returncode == 0 and none.stdout == "", none.stderr
    topic = settings.topic(REPUTATION_ALERTS)
    assert f"veille alerts: no alert event on {topic}\n" in none.stderr, none.stderr
    send(settings, [json.dumps(event("acme", "opened", "08:35")).encode()])
    other = alerts(settings, "--brand", "boreal")
    assert other.returncode == 0 and other.stdout == ""
    assert f"veille alerts: no alert event of brand boreal on {topic}\n" in other.stderr
    some = alerts(settings)
    assert some.stdout and "no alert event" not in some.stderr, some.stderr
