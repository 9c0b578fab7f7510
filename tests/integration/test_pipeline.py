"""The worker against the real embedded broker: enriched, dead-lettered, de-duplicated, measured."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from streams.topics import MENTIONS_DLQ, MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import ROOT, scrape_page
from tests.kafka_helpers import (
    committed_offsets,
    fetch_high_watermarks,
    produce,
    read_all,
    read_to_end,
)
from tests.moderation_helpers import wait_for
from tests.schemas import strict

pytestmark = pytest.mark.integration
SCHEMA = strict("enriched_mention.v1.json")
WATCHLIST = str(ROOT / "tests/data/watchlist.toml")


def mention(i: int, text: str, **extra: object) -> dict[str, object]:
    now = datetime.now(UTC)
    m: dict[str, object] = {
        "id": f"m-{i}", "source": "test", "platform": "twitter", "author": f"user{i}",
        "text": text, "url": f"https://example.org/{i}",
        "created_at": (now - timedelta(seconds=30)).isoformat(),
        "audience": {"followers": 10 * i, "likes": i, "shares": 0},
    }
    m.update(extra)
    return m


def enc(m: dict[str, object]) -> tuple[bytes, bytes]:
    return str(m["id"]).encode(), json.dumps(m, ensure_ascii=False).encode()


GOOD = [
    mention(1, "I love Acme Mobile, the best network I have ever had!"),
    mention(2, "Le service client d'Acme est nul, je suis très déçu 😡"),
    mention(3, "Boréal café: le meilleur croissant de Paris, merci !"),
    mention(4, "The train to Lyon leaves at ten from platform four"),  # matches no brand
    mention(5, "El nuevo Zéphyr X2 de Acme no funciona bien"),  # Spanish: unscored
    mention(6, "#AcmeDown again, third outage this week. Terrible."),
]


def wait_drained(settings, worker, reads: int) -> None:
    """Wait until the worker read at least `reads` raw messages and committed mentions.raw to
    its end: every output of those is then on the broker (a batch's offsets are committed only
    once the broker acknowledged all its outputs), so reading the output topics now shows
    duplicates or extra records, whatever the read's settle delay."""
    wait_for(lambda: worker.metric("veille_raw_messages_total") >= reads, 60,
             f"the worker reading {reads} raw messages")
    ends = fetch_high_watermarks(settings, MENTIONS_RAW)  # re-keyed copies included
    group = f"{settings.app_id}-enrich"

    def committed_to_end() -> dict[int, int] | None:
        committed = committed_offsets(settings, MENTIONS_RAW, group)
        if all(committed.get(p, 0) >= end for p, end in ends.items()):
            return committed
        raise AssertionError(f"committed {committed}, log ends {ends}")

    wait_for(committed_to_end, 60, "the worker committing mentions.raw to its end")


def test_good_duplicate_and_bad_messages(settings, start_worker) -> None:
    settings = settings.with_(watchlist=WATCHLIST, max_text_chars=5000)
    ensure_topics(settings)
    worker = start_worker(settings)
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    bad: list[tuple[bytes | None, bytes, str]] = [
        (b"bad-1", b"\xff\xfe\x00garbage", "undecodable_bytes"),
        (b"bad-2", b'{"id": "x", "text": ', "invalid_json"),
        (b"bad-3", b"[1, 2, 3]", "not_an_object"),
        (b"bad-4", json.dumps({k: v for k, v in mention(90, "x").items() if k != "text"}).encode(),
         "missing_field"),
        (b"bad-5", json.dumps(mention(91, "hello", platform=42)).encode(), "invalid_field"),
        (b"bad-6", json.dumps(mention(92, "   ")).encode(), "empty_text"),
        (b"bad-7", json.dumps(mention(93, "a" * 6000)).encode(), "text_too_large"),
        (b"bad-8", json.dumps(mention(94, "from the future", created_at=future)).encode(),
         "created_at_in_future"),
        (None, b"[" * 100_000, "invalid_json"),
    ]
    records: list[tuple[bytes | None, bytes]] = []
    # Bad messages sit between the good ones: nothing good behind them may be affected.
    for good, (key, value, _) in zip(GOOD, bad, strict=False):
        records.append(enc(good))
        records.append((key, value))
    records += [(k, v) for k, v, _ in bad[len(GOOD):]]
    records.append(enc(GOOD[0]))  # a redelivery: enriched once
    records.append((b"wrong-key", enc(GOOD[1])[1]))  # mis-keyed duplicate: re-keyed, then dropped
    produce(settings, MENTIONS_RAW, records)
    reads = len(records) + 1  # + the re-keyed copy
    wait_drained(settings, worker, reads)

    enriched = read_to_end(settings, MENTIONS_ENRICHED)
    values = [json.loads(r.value) for r in enriched]
    ids = sorted(v["id"] for v in values)
    assert ids == sorted(str(g["id"]) for g in GOOD), ids  # each exactly once
    for r, v in zip(enriched, values, strict=True):
        jsonschema.validate(v, SCHEMA)
        assert r.key == v["id"].encode()
    by_id = {v["id"]: v for v in values}
    assert by_id["m-1"]["brands"] == ["acme"] and by_id["m-1"]["sentiment"]["label"] == "positive"
    assert by_id["m-1"]["language"] == "en"
    assert by_id["m-2"]["language"] == "fr" and by_id["m-2"]["sentiment"]["label"] == "negative"
    assert by_id["m-3"]["brands"] == ["boreal"]
    assert by_id["m-4"]["brands"] == [] and by_id["m-4"]["rules"] == []
    assert by_id["m-5"]["language"] == "es" and by_id["m-5"]["sentiment"] is None
    assert by_id["m-5"]["brands"] == ["acme"]
    assert "acme:hashtag:#AcmeDown" in by_id["m-6"]["rules"]
    assert by_id["m-1"]["audience"] == {"followers": 10, "likes": 1, "shares": 0}

    dead = read_to_end(settings, MENTIONS_DLQ)
    assert len(dead) == len(bad)
    got = {bytes(r.value): dict(r.headers) for r in dead}
    # Where each bad message sits on mentions.raw: the dead letter must say so (an offset >= 0
    # was asserted until 2026-12-05, which a constant 0 passed).
    raw_at = {bytes(r.value): (r.partition, r.offset) for r in read_to_end(settings, MENTIONS_RAW)}
    for _key, value, reason in bad:
        headers = got[value]  # the original payload, byte for byte
        assert headers["veille-dlq-reason"].decode() == reason
        assert headers["veille-dlq-stage"] == b"enrich"
        assert headers["veille-dlq-topic"].decode() == settings.topic(MENTIONS_RAW)
        assert (int(headers["veille-dlq-partition"]), int(headers["veille-dlq-offset"])) \
            == raw_at[value], reason

    samples = scrape_page(worker.metrics_url)

    def value(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        assert key in samples, f"{name}{labels} is not in the scrape"
        return samples[key]

    assert value("veille_raw_messages_total") == reads
    assert value("veille_duplicates_dropped_total") == 2
    assert value("veille_raw_rekeyed_total") == 1
    assert value("veille_dead_letters_total", reason="invalid_json", stage="enrich") == 2
    assert value("veille_dead_letters_total", reason="text_too_large", stage="enrich") == 1
    total = sum(v for (n, _), v in samples.items() if n == "veille_mentions_enriched_total")
    assert total == len(GOOD)
    assert value("veille_mentions_enriched_total", brand="acme", platform="twitter",
                 language="other", sentiment="unscored") == 1  # es: not a scored language
    assert value("veille_mentions_enriched_total", brand="none", platform="twitter",
                 language="en", sentiment="neutral") == 1
    assert value("veille_pipeline_latency_seconds_count", since="received") == len(GOOD)
    assert value("veille_heartbeat_timestamp_seconds") > 0
    # Known label values exist before any traffic of their own.
    assert ("veille_mentions_enriched_total",
            frozenset(dict(brand="boreal", platform="news", language="fr",
                           sentiment="negative").items())) in samples
    assert worker.proc.poll() is None  # bad input never crashed the agent


def test_restart_keeps_deduplication(settings, start_worker) -> None:
    """Mentions collected again after a worker restart are not enriched twice.

    200 mentions land in a few multi-record batches per changelog partition: exactly the case
    where Faust's own recovery on Tansu stops early (wrong end offsets) and the catch-up in
    agents/recovery.py must complete it.
    """
    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    first = start_worker(settings)
    batch = [mention(i, f"Acme mention {i}") for i in range(1, 201)]
    produce(settings, MENTIONS_RAW, [enc(m) for m in batch])
    wait_drained(settings, first, 200)
    assert len(read_to_end(settings, MENTIONS_ENRICHED)) == 200
    first.stop()
    second = start_worker(settings)
    produce(settings, MENTIONS_RAW, [enc(m) for m in batch] + [enc(mention(999, "Acme new"))])
    wait_drained(settings, second, 201)
    enriched = read_to_end(settings, MENTIONS_ENRICHED)
    ids = [json.loads(r.value)["id"] for r in enriched]
    assert len(ids) == 201 and set(ids) == {f"m-{i}" for i in [*range(1, 201), 999]}
    assert "200 recent ids re-read from" in second.log_path.read_text()
    # The 200 collected again were dropped as duplicates; anything else the second worker read
    # was a redelivery of the first's input, recognised by its offset.
    assert second.metric("veille_duplicates_dropped_total") == 200
    assert second.metric("veille_raw_messages_total") == 201 + second.metric(
        "veille_redeliveries_total")


def test_replay_command(settings, start_worker, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import settings_env

    ensure_topics(settings)
    data = tmp_path / "in.jsonl"
    lines = [json.dumps(mention(i, f"Acme mention number {i}")) for i in range(1, 51)]
    lines.insert(10, "{broken")
    lines.insert(20, json.dumps({"id": "no-text", "source": "x", "platform": "x",
                                 "created_at": "2026-01-01T00:00:00Z"}))
    data.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [sys.executable, "-m", "veille.cli", "collect", "replay", str(data), "--no-progress",
         "--timestamps", "now"],
        env=settings_env(settings), capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "sent 50 mentions" in out.stderr and "refused 2" in out.stderr
    assert "line 11: invalid_json" in out.stderr and "line 21: missing_field" in out.stderr
    raw = read_to_end(settings, MENTIONS_RAW)  # the command exited: its writes are acknowledged
    assert sorted(r.key for r in raw) == sorted(f"m-{i}".encode() for i in range(1, 51))


def test_replay_of_a_gzipped_french_excel_csv(settings, tmp_path: Path) -> None:
    """A spreadsheet's export (BOM, `;`, CRLF, a quoted text over two lines, audience columns),
    gzipped: its rows reach mentions.raw as raw mentions; a row without text is refused with
    its record number, a column of the tool's own ignored and named."""
    import gzip
    import subprocess
    import sys

    from tests.conftest import settings_env

    ensure_topics(settings)
    created = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S")
    rows = ["ID;Platform;Author;Text;Created_At;Audience.Followers;audience__likes;Sentiment",
            f'x-1;Twitter;alice;"Acme en panne;\r\ndepuis ce matin";{created};1 234;7;neg',
            f";facebook;bob;;{created};;;neu",
            f";blog;;Acme, merci !;{created};;;pos"]
    data = tmp_path / "export.csv.gz"
    data.write_bytes(gzip.compress(("\r\n".join(rows) + "\r\n").encode("utf-8-sig")))
    out = subprocess.run(
        [sys.executable, "-m", "veille.cli", "collect", "replay", str(data), "--no-progress"],
        env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "columns ignored (not raw mention fields): Sentiment;" in out.stderr
    assert "read 3 records, sent 2 mentions" in out.stderr and "refused 1" in out.stderr
    assert "record 2: missing_field: text is required" in out.stderr
    raw = {r.key: json.loads(r.value) for r in read_to_end(settings, MENTIONS_RAW)}
    first = raw[b"x-1"]
    assert first["text"] == "Acme en panne;\r\ndepuis ce matin" and first["platform"] == "twitter"
    assert first["audience"] == {"followers": 1234, "likes": 7} and first["source"] == "replay"
    (other,) = [m for k, m in raw.items() if k != b"x-1"]
    assert other["text"] == "Acme, merci !" and other["id"].startswith("replay-")
    assert other["author"] is None and other["audience"] is None


def test_replay_of_a_french_excel_export_as_it_was_saved(settings, tmp_path: Path) -> None:
    """A social-listening tool's export saved by French Excel as "CSV (séparateur: point-virgule)":
    Windows-1252, the tool's own column names, local dates day first. Replayed as it is with
    --encoding, --column, --date-format and --tz; read as UTF-8, it is an error at the start
    naming the option to give."""
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    from tests.conftest import settings_env

    ensure_topics(settings)
    paris = datetime.now(ZoneInfo("Europe/Paris")) - timedelta(minutes=5)
    local = paris.strftime("%d/%m/%Y %H:%M")
    rows = ["Content;Auteur;Réseau;Date de publication;Abonnés;Tonalité",
            f"Acme en panne, très déçu;Hélène;Twitter;{local};1 234;négatif",
            f"Acme, ça marche !;Zoé;facebook;{local};;positif",
            "Acme hier;Léa;blog;2026-12-06T09:30:00Z;;neutre"]
    data = tmp_path / "export.csv"
    data.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    columns = ["--column", "text=Content", "--column", "author=Auteur", "--column", "platform=Réseau",
               "--column", "created_at=Date de publication", "--column", "audience.followers=abonnés"]
    command = [sys.executable, "-m", "veille.cli", "collect", "replay", str(data), "--no-progress",
               *columns]
    out = subprocess.run(command, env=settings_env(settings), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, out.stderr  # the header's accents: before anything is sent
    assert "the header row is not UTF-8 (byte 16)" in out.stderr
    assert "(Windows-1252), give --encoding cp1252" in out.stderr
    out = subprocess.run([*command, "--encoding", "cp1252", "--date-format", "%d/%m/%Y %H:%M",
                          "--tz", "Europe/Paris"],
                         env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "columns ignored (not raw mention fields): Tonalité;" in out.stderr
    assert "read 3 records, sent 2 mentions" in out.stderr
    assert "record 3: invalid_field: created_at '2026-12-06T09:30:00Z' does not match " \
           "--date-format '%d/%m/%Y %H:%M'" in out.stderr
    raw = sorted((json.loads(r.value) for r in read_to_end(settings, MENTIONS_RAW)),
                 key=lambda m: m["author"])
    assert [m["author"] for m in raw] == ["Hélène", "Zoé"]
    assert raw[0]["text"] == "Acme en panne, très déçu" and raw[0]["platform"] == "twitter"
    assert raw[0]["audience"] == {"followers": 1234} and raw[1]["text"] == "Acme, ça marche !"
    utc = paris.replace(second=0, microsecond=0).astimezone(UTC)
    assert datetime.fromisoformat(raw[0]["created_at"]) == utc


def test_replay_stopped_by_sigterm_flushes_what_it_sent_and_says_so(settings, tmp_path: Path) -> None:
    """SIGTERM in the middle of a paced replay: what was sent is flushed and counted, the
    summary printed (it ended silently with exit 143, buffered records dropped)."""
    import re
    import signal
    import subprocess
    import sys

    from tests.conftest import settings_env

    ensure_topics(settings)
    data = tmp_path / "in.jsonl"
    data.write_text("\n".join(json.dumps(mention(i, f"Acme mention number {i}"))
                              for i in range(200)) + "\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "veille.cli", "collect", "replay", str(data), "--no-progress",
         "--rate", "10", "--timestamps", "now"],
        env=settings_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # SIGTERM once it sends (its handler is in place before the first send): a fixed 4 s found
    # a process still starting on a loaded machine (killed by the default action, nothing sent).
    assert read_all(settings, MENTIONS_RAW, expect=1, settle=0.0, timeout=60), "nothing sent"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by a signal before the end of the file" in err, err
    sent = int(re.search(r"sent (\d+) mentions", err).group(1))  # type: ignore[union-attr]
    assert 1 <= sent < 200, err
    raw = read_to_end(settings, MENTIONS_RAW)
    assert sorted(r.key for r in raw) == sorted(f"m-{i}".encode() for i in range(sent))
    # Going on from where it says: the rest of the file, nothing twice.
    go_on = re.search(r"to go on from there: veille collect replay \S+ --from-line (\d+) "
                      r"--timestamps now", err)
    assert go_on is not None and int(go_on.group(1)) == sent + 1, err
    out = subprocess.run(
        [sys.executable, "-m", "veille.cli", "collect", "replay", str(data), "--no-progress",
         "--from-line", go_on.group(1), "--timestamps", "now"],
        env=settings_env(settings), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    raw = read_to_end(settings, MENTIONS_RAW)
    assert sorted(r.key for r in raw) == sorted(f"m-{i}".encode() for i in range(200))


def test_replay_whose_broker_dies_ends_and_counts_what_was_not_acknowledged(
        settings, tmp_path: Path) -> None:
    """The broker killed 1.5 s into a paced replay: it hung for good (kafka-python's idempotent
    producer without a broker never expires its batches; flush and close waited for ever, the
    summary never came). It now ends `ack_timeout` after its last send, and what the broker did
    not acknowledge counts as failed, not sent."""
    import threading

    from kafka import KafkaConsumer, TopicPartition

    from tests.kafka_helpers import start_broker
    from veille.collectors.replay import replay

    broker = start_broker()
    try:
        s2 = settings.with_(broker_url=broker.url)
        ensure_topics(s2)
        data = tmp_path / "in.jsonl"
        data.write_text("\n".join(json.dumps(mention(i, f"Acme mention number {i}"))
                                  for i in range(600)) + "\n")
        result: list[Any] = []
        run = threading.Thread(target=lambda: result.append(replay(
            data, s2, rate=200, timestamps="now", progress=False, ack_timeout=3.0)), daemon=True)
        # Killed once 150 mentions are on the broker (a fixed 1.5 s, on a loaded machine, could
        # fall before the producer had even connected), far from the end of the file (3 s).
        watcher = KafkaConsumer(bootstrap_servers=s2.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
        raw = s2.topic(MENTIONS_RAW)
        watcher.assign([TopicPartition(raw, p) for p in sorted(watcher.partitions_for_topic(raw))])
        watcher.seek_to_beginning()
        started = time.monotonic()
        run.start()
        landed = 0
        while landed < 150 and time.monotonic() - started < 30:
            landed += sum(map(len, watcher.poll(timeout_ms=50).values()))
        watcher.close()
        assert landed >= 150, f"only {landed} mentions on the broker in 30 s"
        broker.process.kill()  # type: ignore[union-attr]
        broker.stop()
        run.join(60)
        assert not run.is_alive(), "the replay hangs"
        (report,) = result
        # 3 s of sending at 200/s, then at most ack_timeout (3 s) and the close.
        assert time.monotonic() - started < 20
        assert report.failed > 0 and report.sent + report.failed == 600, report.summary()
        assert report.sent >= 100, report.summary()  # what went before the kill was acknowledged
        assert "not acknowledged 3 s after the last send" in report.summary()
    finally:
        broker.stop()


def test_outputs_delivered_before_a_crash_are_recognised_not_enriched_again(
        settings, start_worker) -> None:
    """The state a worker leaves when it dies between delivering a batch and committing it:
    enriched records on the broker, raw offsets not committed. Written here by hand (30 of 60
    mentions, each on its raw partition with its raw offset in `veille-source-offset`), then a
    worker starts: it re-reads those, recognises the 30 redelivered raw messages by their
    offsets and enriches only the other 30."""
    from kafka import KafkaProducer

    settings = settings.with_(watchlist=WATCHLIST)
    ensure_topics(settings)
    batch = [mention(i, f"Acme mention number {i}") for i in range(100, 160)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        placed = [producer.send(settings.topic(MENTIONS_RAW), key=k, value=v).get(10)
                  for k, v in map(enc, batch)]
        for m, meta in list(zip(batch, placed, strict=True))[::2]:
            producer.send(settings.topic(MENTIONS_ENRICHED), key=str(m["id"]).encode(),
                          value=b'{"before": "crash"}', partition=meta.partition,
                          headers=[("veille-source-offset", str(meta.offset).encode())]).get(10)
    finally:
        producer.close()
    worker = start_worker(settings)
    wait_drained(settings, worker, len(batch))
    records = read_to_end(settings, MENTIONS_ENRICHED)
    ids = [r.key.decode() for r in records]
    assert sorted(ids) == sorted(str(m["id"]) for m in batch)  # each once: 30 old + 30 new
    assert sum(r.value == b'{"before": "crash"}' for r in records) == 30
    assert worker.metric("veille_redeliveries_total") == 30
    assert worker.metric("veille_duplicates_dropped_total") == 0
