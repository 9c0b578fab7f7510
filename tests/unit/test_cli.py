"""The `veille` command: sentiment scoring from stdin, clear errors, settings in --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run
from veille import cli
from veille.sentiment import Analyzer


def veille(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veille.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


def test_sentiment_lines_and_jsonl_use_the_agents_code() -> None:
    texts = ["I absolutely love this phone, great battery!",
             "Le réseau est encore en panne, vraiment nul",
             "Das Wetter ist heute schön und sonnig"]
    stdin = texts[0] + "\n" + json.dumps({"text": texts[1]}) + "\n\n" + texts[2] + "\n{bad json\n"
    out = veille("sentiment", stdin=stdin)
    assert out.returncode == 1, out.stderr  # one bad line
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    # The bad line's place holds an error line: one output line per non-empty input line.
    assert rows.pop() == {"line": 5, "error": "expected a JSON object with a string `text`"}
    analyzer = Analyzer()
    expected = []
    for t in texts:
        a = analyzer.analyse(t)
        expected.append({"language": a.language,
                         "compound": a.sentiment.compound if a.sentiment else None,
                         "label": a.sentiment.label if a.sentiment else "unscored"})
    assert rows == expected
    assert [r["label"] for r in rows] == ["positive", "negative", "unscored"]
    assert "line 5: expected a JSON object with a string `text`" in out.stderr


def test_sentiment_reads_an_escaped_text_as_the_enrichment_does() -> None:
    """A text as Twitter's API sends it ("&lt;3"): the enrichment decodes its character
    references before scoring, and so does `veille sentiment`, or the two disagree."""
    sent = "Just got my new phone &lt;3"
    out = veille("sentiment", stdin=sent + "\n" + json.dumps({"text": sent}) + "\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    a = Analyzer().analyse("Just got my new phone <3")
    assert a.sentiment is not None and a.sentiment.label == "positive"
    assert rows == [{"language": a.language, "compound": a.sentiment.compound, "label": "positive"}] * 2


def test_replay_of_a_missing_file_is_a_clear_error() -> None:
    out = veille("collect", "replay", "/nonexistent.jsonl")
    assert out.returncode == 2
    assert out.stderr.strip() == "veille: error: /nonexistent.jsonl: no such file"


def test_replay_of_an_unreadable_file_or_a_metrics_port_taken_is_a_clear_error() -> None:
    out = veille("collect", "replay", "/proc/self/mem")  # a file whose first read fails (EIO)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip() == "veille: error: /proc/self/mem: cannot be read (Input/output error)"
    import socket

    from prometheus_client import CollectorRegistry

    from veille.collectors.rss import serve_metrics
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings, SettingsError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings.from_env({}).with_(metrics_host="127.0.0.1",
                                               collector_metrics_port=taken.getsockname()[1])
        try:
            serve_metrics(settings, CollectorMetrics(CollectorRegistry()), "rss")
        except SettingsError as exc:  # printed by the CLI as an error, not a traceback
            assert "each collector process needs its own VEILLE_COLLECTOR_METRICS_PORT" in str(exc)
        else:
            raise AssertionError("a port in use was served")
        # The worker's too (found in review, 2026-12-05: "[Errno 98] Address already in use"
        # alone, no port, no setting named).
        from agents.worker import serve_metrics as serve_worker_metrics

        settings = settings.with_(metrics_port=taken.getsockname()[1])
        with pytest.raises(SettingsError, match=(
                f"cannot serve /metrics on 127.0.0.1:{taken.getsockname()[1]} .Address already "
                "in use.: set VEILLE_METRICS_PORT")):
            serve_worker_metrics(settings, CollectorRegistry(), "veille worker")


def test_bad_setting_is_a_clear_error() -> None:
    import os

    out = veille("topics", env=dict(os.environ, VEILLE_TOPIC_PARTITIONS="four"))
    assert out.returncode == 2 and "VEILLE_TOPIC_PARTITIONS='four' is not a valid int" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_log_level_or_replay_rate_is_a_clear_error() -> None:
    import os

    for command, env, message in (
            (("topics",), {"VEILLE_LOG_LEVEL": "loud"}, "VEILLE_LOG_LEVEL='LOUD' is not one of"),
            (("demo",), {"VEILLE_REPLAY_RATE": "fast"}, "VEILLE_REPLAY_RATE='fast' is not a rate > 0"),
            (("demo",), {"VEILLE_REPLAY_RATE": "-5"}, "VEILLE_REPLAY_RATE='-5' is not a rate > 0")):
        out = veille(*command, env=dict(os.environ, **env))
        assert out.returncode == 2 and message in out.stderr, (env, out.stderr)
        assert "Traceback" not in out.stderr
    # The demo's own variable concerns the demo only: every other command ignores it.
    out = veille("topics", "--help", env=dict(os.environ, VEILLE_LOG_LEVEL="info", VEILLE_REPLAY_RATE="0"))
    assert out.returncode == 0, out.stderr
    # Help is there to fix a bad environment with: it was refused with the error above.
    out = veille("topics", "--help", env=dict(os.environ, VEILLE_LOG_LEVEL="loud"))
    assert out.returncode == 0 and "usage: veille topics" in out.stdout, out.stderr


def test_help_lists_every_setting() -> None:
    from veille.settings import settings_table

    out = veille("--help")
    assert all(env in out.stdout for env, _, _ in settings_table())


def test_version_names_the_package_version_and_the_revision_built() -> None:
    """What an operator asks a container before and after an upgrade (`docker compose run --rm
    worker --version`); until 2026-12-06 only a worker's /metrics said it (veille_build_info),
    and the version alone, which no change ever moved. The revision: the image's
    VEILLE_REVISION, else the commit of the checkout veille runs from (this one)."""
    import os

    from veille import __version__

    env = {k: v for k, v in os.environ.items() if k != "VEILLE_REVISION"}
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parent).stdout.strip()
    out = veille("--version", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"veille {__version__} (revision {head[:12]})"
    out = veille("--version", env={**env, "VEILLE_REVISION": "v2026.12.06-1"})
    assert out.stdout.strip() == f"veille {__version__} (revision v2026.12.06-1)"


def test_the_revision_is_read_from_a_checkout_without_git(tmp_path: Path) -> None:
    """A branch ref, a packed ref, a detached HEAD, a worktree's .git file; else None."""
    from veille.build import git_commit

    sha, other = "a" * 40, "b" * 40
    git = tmp_path / "repo" / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text(sha + "\n")
    assert git_commit(tmp_path / "repo") == sha
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text(f"# pack-refs with: peeled\n{other} refs/heads/main\n")
    assert git_commit(tmp_path / "repo") == other
    (git / "HEAD").write_text(sha)
    assert git_commit(tmp_path / "repo") == sha
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ".git").write_text(f"gitdir: {git}\n")
    assert git_commit(tree) == sha
    assert git_commit(tmp_path) is None


def test_moderation_commands_refuse_unsafe_or_bad_input_clearly(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process (a child process each took 4.5 s for the 15)."""
    import os

    for name in os.environ:
        if name.startswith("VEILLE_"):
            monkeypatch.delenv(name)

    def veille(*args: str) -> tuple[int, str]:
        try:
            status, _, err = run(capsys, *args)
        except SystemExit as exc:  # argparse's own refusals
            status, err = int(exc.code or 0), capsys.readouterr().err
        assert "Traceback" not in err, err
        return status, err

    status, err = veille("moderate", "serve", "--host", "0.0.0.0")
    assert status == 2 and "VEILLE_MODERATION_API_TOKEN" in err
    status, err = veille("moderate", "serve", "--port", "99999")  # named as the flag given
    assert status == 2 and "--port 99999: a port is 0" in err, err
    for command in ("moderation", "moderate"):  # `moderate report`: the same report
        status, err = veille(command, "report", "--since", "last tuesday")
        assert status == 2 and "--since: since is not an ISO 8601 time" in err
    for bad in ("Mars/Olympus", "Europe", "localtime", "../etc/passwd"):  # "Europe": a folder
        status, err = veille("moderation", "report", "--tz", bad)
        assert status == 2 and "unknown time zone" in err, (bad, err)
    status, err = veille("moderation", "report", "--lang", "de")
    assert status == 2 and "invalid choice: 'de'" in err, err
    monkeypatch.setenv("VEILLE_REPORT_LANGUAGE", "de")
    status, err = veille("moderation", "report")
    assert status == 2 and "VEILLE_REPORT_LANGUAGE='de' must be one of en, fr" in err
    monkeypatch.delenv("VEILLE_REPORT_LANGUAGE")
    status, err = veille("moderate", "decide", "m1", "maybe", "--moderator", "bob")
    assert status == 2 and "'maybe' is not one of approve, reject" in err
    # An empty filter (a variable not set in a script) matched nothing: an empty queue.
    for args in (("list", "--brand", ""), ("list", "--assignee", " "), ("closed", "--moderator", "")):
        status, err = veille("moderate", *args)
        assert status == 2 and f"{args[1]} must not be empty" in err, err
    # Words of spaces, or of accents alone (the folding drops them), would find every case.
    for args in (("list", "--contains", " "), ("closed", "--contains", "\u0301"),
                 ("list", "--contains", "", "--api", "http://127.0.0.1:1")):
        status, err = veille("moderate", *args)
        assert status == 2 and "--contains must hold a word (nothing is left of it" in err, err


def test_out_of_range_options_are_clear_errors_before_any_broker_is_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each used to do something else than refuse: hide the newest cases (a negative slice),
    build 87 million hourly rows, replay flat out at a negative rate, overflow a sleep...
    The cases run in this process (45 child processes took 14 s), the last two in a child."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["VEILLE_BROKER_URL"] = "kafka://127.0.0.1:1"  # nothing listens: any broker use would wait
    for name in os.environ:
        if name.startswith("VEILLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VEILLE_BROKER_URL", env["VEILLE_BROKER_URL"])
    feed = tmp_path / "m.jsonl"
    feed.write_text("{}\n")
    folder = tmp_path / "charts"
    folder.mkdir()
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("timestamp,text\n2026-01-01,acme is down\n")
    cases = [
        (("moderate", "list", "--limit", "0"), "--limit must be at least 1, not 0"),
        (("worker", "--watchlist", ""), "--watchlist: an empty path"),
        (("moderate", "list", "--limit", "-3"), "--limit must be at least 1, not -3"),
        (("moderation", "report", "--since", "0001-01-01", "--until", "9999-12-31"),
         "a report covers at most 366 (--since, --until)"),
        (("moderation", "report", "--since", "2026-01-01", "--until", "2026-06-01", "--png",
          str(tmp_path / "c.png")), "--png draws at most 92 days, the period is 151"),
        (("moderation", "report", "--since", "2026-05-01", "--until", "2026-06-01", "--png",
          str(folder)), "not a file in an existing folder"),
        (("demo", "--rate", "-5"), "--rate -5 is not a rate > 0"),
        (("demo", "--rate", "0"), "--rate 0 is not a rate > 0"),
        (("demo", "--rate", "inf"), "--rate inf: give a finite rate"),
        (("demo", "--duration", "inf"), "--duration inf must be 0 (until Ctrl-C) or a finite"),
        (("demo", "--rate", "10", "--duration", "-1"), "--duration -1 must be 0"),
        (("collect", "replay", str(feed), "--rate", "1e-300"), "at least 0.001 mentions/s"),
        (("collect", "replay", str(feed), "--rate", "-1"), "0 (as fast as possible) or at least"),
        (("collect", "replay", str(feed), "--rate", "nan"), "--rate nan"),
        (("collect", "replay", str(feed), "--limit", "-2"), "--limit must be 0 or more, not -2"),
        (("collect", "replay", str(feed), "--from-line", "0"), "--from-line must be 1 or more"),
        (("collect", "replay", str(folder)), "a directory, not a file"),
        (("collect", "replay", ""), "the file name is empty"),
        # Found in review (2026-12-05): "no such file" for a pipe or a device.
        (("collect", "replay", "/dev/null"), "/dev/null: not a regular file"),
        # Found in review: named VEILLE_METRICS_PORT, which the user had not set.
        (("worker", "--metrics-port", "99999"), "--metrics-port=99999 must be a port in 0..65535"),
        # Found in review: told only after 30 s of broker retries (here: a closed port).
        (("worker", "--watchlist", "/nonexistent.toml"), "/nonexistent.toml does not exist"),
        # Found in review: an empty --png was ignored, the report printed without its chart.
        (("moderation", "report", "--png", ""), "--png: empty path"),
        (("moderation", "report", "--minutes-per-case", "0"), "--minutes-per-case must be above 0"),
        (("moderation", "report", "--minutes-per-case", "nan"), "--minutes-per-case must be above 0"),
        # Found in review (2026-12-05): an OverflowError traceback, and a bare "year 0 is out
        # of range"; a traceback for an id of bytes that are not UTF-8.
        (("moderation", "report", "--since", "0001-01-01T00:00", "--until", "0001-01-01T23:00",
          "--tz", "America/New_York"), "--since: too near year 1 or 9999 for a report"),
        (("moderation", "report", "--until", "0001-01-03"), "--since: too near year 1 or 9999"),
        (("moderation", "report", "--since", "9999-12-30"), "--until"),
        (("moderate", "show", "bad\udcff"), "case id 'bad\\udcff' is not valid Unicode text"),
        (("moderate", "show", " "), "the case id is empty"),
        # Found in review: named VEILLE_WEBHOOK_PORT, which the user had not set.
        (("collect", "webhook", "--port", "99999"), "--port=99999 must be a port in 0..65535"),
        # Found in review (2026-12-05): the broker was asked first, and its being out of reach
        # was the answer to an empty moderator.
        # Found in review (2026-12-05): the packaged data replayed instead; a demo of nothing
        # that ran until Ctrl-C and exited 0.
        (("demo", "--file", ""), "--file: the file name is empty"),
        (("demo", "--file", str(empty)), "empty: no mention to replay"),
        (("demo", "--file", "/proc/self/mem"), "cannot be read"),
        (("demo", "--file", str(bad_csv)), "no platform and no created_at column (the header "
                                           "names timestamp, text)"),
        (("moderate", "decide", "m1", "approve", "--moderator", ""),
         "moderator must be a non-empty string"),
        (("moderate", "decide", "m1", "escalate", "--moderator", "bob", "--reason", "x" * 2001),
         "reason is longer than 1000 characters"),
    ]
    for args, words in cases:
        status, _, err = run(capsys, *args)
        assert status == 2, (args, err[-2000:])
        assert words in err and "Traceback" not in err, (args, err[-2000:])
    # Found in review (2026-12-05): the demo started the broker and the worker, which exited 2
    # with the reason in its log alone.
    out = veille("demo", "--duration", "5", env={**env, "VEILLE_WATCHLIST": "/nonexistent.toml"})
    assert out.returncode == 2 and "/nonexistent.toml does not exist" in out.stderr, out.stderr
    # Found in review: --until at the epoch's start was taken as missing ("--until must be
    # after --since", none given). Accepted now: the broker is asked.
    out = veille("moderate", "closed", "--until", "1970-01-01T00:00Z", env=env)
    assert "cannot reach the broker" in out.stderr, out.stderr


def test_a_replayed_csv_or_gzip_file_is_checked_before_the_broker_is_asked(tmp_path) -> None:
    """A CSV header that cannot give mentions, or a *.gz that is not gzip, is an error at once,
    naming the columns; columns that are no raw mention field are ignored and named."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["VEILLE_BROKER_URL"] = "kafka://127.0.0.1:1"  # nothing listens: any broker use would wait
    no_text = tmp_path / "export.csv"
    no_text.write_text("Message;Platform;Created_at\nAcme;blog;2025-01-01T00:00:00Z\n")
    out = veille("collect", "replay", str(no_text), env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"veille: error: {no_text}: no text column (the header names Message, Platform, " \
        "Created_at); the known columns: id, source, platform" in out.stderr, out.stderr
    assert "broker" not in out.stderr
    not_gzip = tmp_path / "export.jsonl.gz"
    not_gzip.write_text('{"text": "acme"}\n')
    out = veille("collect", "replay", str(not_gzip), env=env)
    assert out.returncode == 2 and f"{not_gzip}: not gzip data, or damaged" in out.stderr, out.stderr
    extra = tmp_path / "export.txt"
    extra.write_text("text,platform,created_at,sentiment\nAcme,blog,2025-01-01T00:00:00Z,neg\n")
    out = veille("collect", "replay", str(extra), "--format", "csv", env=env)
    assert "veille: note: " in out.stderr and "columns ignored (not raw mention fields): " \
        "sentiment;" in out.stderr, out.stderr
    assert "cannot reach the broker" in out.stderr
    out = veille("collect", "replay", "--help")
    assert out.returncode == 0 and "--format {auto,jsonl,csv}" in out.stdout
    assert "1 = the first row after the header" in " ".join(out.stdout.split())


def test_replay_csv_options_are_checked_before_the_broker_is_asked(tmp_path) -> None:
    """--column, --encoding, --date-format and --tz: a mistake in one is a one-line error, exit
    2, before anything is sent; given right, the broker is asked (here: out of reach)."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["VEILLE_BROKER_URL"] = "kafka://127.0.0.1:1"  # nothing listens: any broker use would wait
    export = tmp_path / "export.csv"
    export.write_bytes("Content;Réseau;Date de publication\r\nAcme déçu;blog;06/12/2026 09:30\r\n"
                       .encode("cp1252"))
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"text": "acme"}\n')
    right = ("--column", "text=Content", "--column", "platform=Réseau", "--column",
             "created_at= date de publication", "--encoding", "cp1252")
    cases = [
        (("--column", "txt=Content"), "--column txt=Content: txt is not a raw mention field (the "
                                      "known ones: id, source, platform, author, text"),
        (("--column", "text=Contenu", "--encoding", "cp1252"),
         "--column text=Contenu: the header has no column Contenu (it names Content, Réseau, Date "
         "de publication)"),
        (("--column", "text=Content", "--column", "text=Réseau"),
         "--column text=Réseau: text is mapped twice (--column text=Content too)"),
        (("--encoding", "klingon"), "--encoding klingon: unknown encoding"),
        (("--date-format", "%d/%m/%Q"), "--date-format '%d/%m/%Q': 'Q' is a bad directive"),
        (("--tz", "Europe/Pariss"), "--tz: unknown time zone: 'Europe/Pariss'"),
        (("--timezone", "Mars/Base"), "--tz: unknown time zone: 'Mars/Base'"),
        # Read as UTF-8: the header's accent says which encoding to give.
        ((), "the header row is not UTF-8 (byte 9): save the file as CSV UTF-8"),
    ]
    for args, words in cases:
        out = veille("collect", "replay", str(export), *args, env=env)
        assert out.returncode == 2, (args, out.stderr[-2000:])
        assert f"veille: error: {words}" in out.stderr or f"veille: error: {export}: {words}" in \
            out.stderr, (args, out.stderr[-2000:])
        assert "Traceback" not in out.stderr and "broker" not in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, (args, out.stderr)
    out = veille("collect", "replay", str(jsonl), "--column", "text=Content", "--tz", "UTC", env=env)
    assert out.returncode == 2 and f"veille: error: {jsonl}: --column, --tz reads CSV only, and " \
        "the file is read as JSON Lines" in out.stderr, out.stderr
    out = veille("collect", "replay", str(export), *right, "--date-format", "%d/%m/%Y %H:%M",
                 "--tz", "Europe/Paris", env=env)
    assert out.returncode == 2 and "cannot reach the broker" in out.stderr, out.stderr
    assert "note" not in out.stderr, out.stderr  # no column ignored: each one mapped
    out = veille("collect", "replay", "--help")
    help_text = " ".join(out.stdout.split())
    assert "--column FIELD=HEADER" in help_text and "--date-format FORMAT" in help_text
    assert '"%d/%m/%Y %H:%M"' in help_text and "--tz ZONE, --timezone ZONE" in help_text


def test_one_shot_commands_say_at_once_that_the_broker_is_unreachable(tmp_path) -> None:
    """They used to wait 30 s in kafka-python's retries, logging each one, before an error (or a
    traceback, for replay)."""
    import os

    from veille.broker import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env["VEILLE_BROKER_URL"] = f"kafka://127.0.0.1:{free_port()}"  # nothing listens there
    feed = tmp_path / "m.jsonl"
    feed.write_text("{}\n")
    for args in (("topics",), ("moderate", "list"), ("moderation", "report"),
                 ("moderate", "decide", "m1", "approve", "--moderator", "bob"),
                 ("collect", "replay", str(feed)), ("demo", "--duration", "5")):
        out = veille(*args, env=env)
        assert out.returncode == 2, (args, out.stderr[-1500:])
        assert f"cannot reach the broker at {env['VEILLE_BROKER_URL']}: no server accepts" \
            in out.stderr, (args, out.stderr[-1500:])
        assert "kafka." not in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)


def test_a_misspelt_veille_variable_is_named_with_the_one_meant() -> None:
    """Found in review: VEILLE_TOPICS_PREFIX=staging. used the production topics, VEILLE_BROKER
    the default broker, VEILLE_WEBHOOK_SECRET no secret at all, without a word."""
    import os

    env = {**os.environ, "VEILLE_TOPICS_PREFIX": "staging.", "VEILLE_WEBHOOK_SECRET": "x",
           "VEILLE_NOTHING_LIKE_IT": "1", "VEILLE_WEBHOOK_TOKEN_FILE": "/nonexistent",
           "VEILLE_TANSU_BIN": "/nonexistent",
           # Kubernetes' service links of Services named `veille` and `veille-broker`: no
           # warning (found in review: each pod's log opened with six of them).
           "VEILLE_SERVICE_HOST": "10.0.0.7", "VEILLE_SERVICE_PORT": "9464",
           "VEILLE_SERVICE_PORT_METRICS": "9464", "VEILLE_PORT": "tcp://10.0.0.7:9464",
           "VEILLE_PORT_9464_TCP": "tcp://10.0.0.7:9464", "VEILLE_PORT_9464_TCP_PROTO": "tcp",
           "VEILLE_PORT_9464_TCP_PORT": "9464", "VEILLE_PORT_9464_TCP_ADDR": "10.0.0.7",
           "VEILLE_BROKER_PORT": "tcp://10.0.0.8:9092", "VEILLE_BROKER_SERVICE_HOST": "10.0.0.8",
           # ... but a bare *_PORT that is no service link is still a typo worth a word.
           "VEILLE_WEBHOK_PORT": "8080"}
    out = veille("sentiment", stdin="hello\n", env=env)
    lines = [line for line in out.stderr.splitlines() if "warning" in line]
    assert lines == [
        "veille: warning: VEILLE_NOTHING_LIKE_IT is not a veille variable, ignored",
        "veille: warning: VEILLE_TOPICS_PREFIX is not a veille variable, ignored; did you mean "
        "VEILLE_TOPIC_PREFIX?",
        "veille: warning: VEILLE_WEBHOK_PORT is not a veille variable, ignored; did you mean "
        "VEILLE_WEBHOOK_PORT?",
        "veille: warning: VEILLE_WEBHOOK_SECRET is not a veille variable, ignored; did you mean "
        "VEILLE_WEBHOOK_HMAC_SECRET?",
    ], out.stderr
    assert out.returncode == 0


@pytest.mark.parametrize(
    ("word", "decision"),
    [("approve", "approve"), ("REJETER", "reject"), ("Répondu", "replied"),
     ("re\u0301pondu", "replied"),  # decomposed, as some keyboards and pastes send it
     ("répondre", "replied"), (" repondu ", "replied"), ("prendre", "assign")],
)
def test_decision_words_in_any_case_form_or_language(word: str, decision: str) -> None:
    from veille.cli import decision_word
    from veille.moderation import DECISIONS

    assert decision_word(DECISIONS)(word) == decision


def test_the_french_decision_words_the_tools_print_are_read_back() -> None:
    """`closed` and `list` print `rejeté`, `approuvé`, `escaladé`...: `closed --decision rejeté`
    (copied from the table) was refused as "not one of ..." while `répondu` was taken (seen on
    the demo, 2026-12-06)."""
    from veille.cli import decision_word
    from veille.moderate.commands import word
    from veille.moderation import CLOSING_DECISIONS, DECISIONS

    for decision in DECISIONS:
        shown = word(decision, "fr")
        assert decision_word(DECISIONS)(shown) == decision, shown
        assert decision_word(DECISIONS)(shown.upper()) == decision, shown
    for decision in CLOSING_DECISIONS:
        assert decision_word(CLOSING_DECISIONS)(word(decision, "fr")) == decision
    assert decision_word(DECISIONS)("rejete") == "reject"  # without its accent


def test_closed_takes_french_decisions_and_refuses_others_clearly() -> None:
    from veille.cli import build_parser
    from veille.moderation import CLOSING_DECISIONS

    parser = build_parser()
    args = parser.parse_args(["moderate", "closed", "--decision", "rejeter"])
    assert args.decision == "reject" and "reject" in CLOSING_DECISIONS
    out = veille("moderate", "closed", "--decision", "escalader")  # escalate does not close
    assert out.returncode == 2
    assert "'escalader' is not one of approve, reject, replied (in French: approuver, rejeter, " \
           "répondu, répondre)" in out.stderr


@pytest.mark.parametrize(("host", "url"), [
    ("", "http://0.0.0.0:8080"),  # every interface, as 0.0.0.0 is: "http://:8080" until 2026-12-06
    ("0.0.0.0", "http://0.0.0.0:8080"),
    ("::", "http://[::]:8080"),
    ("::1", "http://[::1]:8080"),
    ("127.0.0.1", "http://127.0.0.1:8080"),
    ("localhost", "http://localhost:8080"),
])
def test_the_servers_announce_a_usable_url_whatever_host_they_listen_on(host: str, url: str) -> None:
    """`veille collect webhook` and `veille moderate serve` print the URL they serve at."""
    from prometheus_client import CollectorRegistry

    from veille.collectors.webhook import WebhookCollector
    from veille.metrics import CollectorMetrics
    from veille.moderate.api import ModerationApi
    from veille.settings import Settings

    settings = Settings.from_env({}).with_(webhook_host=host, moderation_api_host=host)
    webhook = WebhookCollector(settings, CollectorMetrics(CollectorRegistry()))
    api = ModerationApi(settings)
    webhook.port = api.port = 8080  # as start() sets it, from the socket bound
    assert webhook.url == api.url == url


def test_a_collector_announces_a_usable_metrics_url_on_ipv6(capsys) -> None:
    """The RSS and Mastodon collectors' /metrics on VEILLE_METRICS_HOST=::1 printed
    http://::1:PORT (no brackets) until 2026-12-06."""
    from prometheus_client import CollectorRegistry

    from veille.collectors.rss import serve_metrics
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings

    settings = Settings.from_env({}).with_(metrics_host="::1", collector_metrics_port=0)
    server = serve_metrics(settings, CollectorMetrics(CollectorRegistry()), "rss")
    try:
        err = capsys.readouterr().err
        assert f"metrics on http://[::1]:{server.server_port}/metrics" in err, err
    finally:
        server.shutdown()
        server.server_close()


def test_a_moderation_command_refused_loads_neither_triage_nor_the_collectors() -> None:
    """Found 2026-12-06: every `veille moderate` command compiled triage's patterns (the tools
    read triage results, not triage), and every failed command imported the collectors and
    aiohttp to tell a user error from a bug: 0.6 s before its one-line error, 0.17 s now. The
    error is still told plainly."""
    import os

    code = ("import sys\nfrom veille.cli import main\nrc = main(['moderate', 'list', '--limit', '0'])\n"
            "print(rc, sorted(m for m in ('aiohttp', 'veille.moderation.triage', "
            "'veille.collectors.mastodon', 'faust') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.stdout.strip() == "2 []", (out.stdout, out.stderr)
    assert "--limit must be at least 1, not 0" in out.stderr


def test_collect_mastodon_once_names_a_failed_source_as_the_collector_does(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in review, 2026-12-07: the warning put a '#' before every failed source, a brand
    account's too ('#@acme_gone@mastodon.example'): run_polling names each as the collector
    describes it (#AcmeDown, @acme_gone@mastodon.example), the warning as it comes."""
    from veille import cli
    from veille.collectors import mastodon

    async def run(settings: object, *, once: bool) -> list[str]:
        assert once
        return ["@acme_gone@mastodon.example: HTTP 404", "#AcmeDown: HTTP 503"]

    monkeypatch.setattr(cli, "_signs_in", lambda settings: settings)
    monkeypatch.setattr(mastodon, "run_mastodon", run)
    assert cli.main(["collect", "mastodon", "--once"]) == 1
    err = capsys.readouterr().err
    assert ("veille: warning: mastodon: 2 hashtag(s) or brand account(s) could not be read; "
            "@acme_gone@mastodon.example: HTTP 404\n") in err, err


class _BrokerWaited(Exception):
    """Raised where the worker would wait for its broker: what ran before is the start-up."""


@pytest.mark.parametrize("role", ["all", "enrich"])
def test_the_worker_reads_its_watch_list_once_at_start(
        role: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Found in review, 2026-12-07: `veille worker` parsed the watch list twice at start, once
    to refuse a bad file before the broker is waited for, once more to follow it (about 100 ms
    with 300 brands, and the load's warnings said twice). The one loaded first is followed."""
    import agents.worker
    import veille.broker
    from veille.rules import Watchlist

    loads: list[Path] = []
    load = Watchlist.from_toml.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Watchlist], path: str | Path) -> Watchlist:
        loads.append(Path(path))
        return load(cls, path)

    def broker_waited(settings: object) -> list[str]:
        raise _BrokerWaited

    monkeypatch.setattr(Watchlist, "from_toml", classmethod(counted))
    monkeypatch.setattr(veille.broker, "sign_in_problem", lambda settings: None)
    monkeypatch.setattr(agents.worker, "ensure_topics_waiting", broker_waited)
    monkeypatch.setenv("VEILLE_WORKER_ROLE", role)
    monkeypatch.setenv("VEILLE_METRICS_PORT", "0")
    monkeypatch.setenv("VEILLE_METRICS_HOST", "127.0.0.1")
    with pytest.raises(_BrokerWaited):
        cli.main(["worker"])
    assert len(loads) == 1, loads
