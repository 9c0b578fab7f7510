"""The `veille` command: demo | worker | broker | topics | collect | moderate | moderation | sentiment ..."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veille.logs import say
from veille.settings import ENV_PREFIX, REPORT_LANGUAGES, Settings, SettingsError, settings_table

if TYPE_CHECKING:
    from veille.moderate.client import ApiClient


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


class Stopped(KeyboardInterrupt):
    """SIGTERM before the command set handlers of its own: the command ends there, as at a
    Ctrl-C, and exits 143 (128 + the signal's number)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_early(signum: int, frame: Any) -> None:
    raise Stopped(signum)


def stop_on_sigterm() -> Any:
    """SIGTERM ends the command where it is (Stopped) until it sets handlers of its own (the
    worker's, the collectors', the API's, a replay's); returns the handler it replaced.

    Found in review (2026-12-06): the image runs `veille` as PID 1 (exec form, no init), and
    Linux delivers no signal to a namespace's PID 1 for which it set no handler, not even from
    `docker stop` or the kubelet. Starting up (a worker waiting for its broker, a collector
    signing in), a container so ignored SIGTERM for the whole grace period and was killed
    (SIGKILL, exit 137)."""
    return signal.signal(signal.SIGTERM, _stop_early)


def _settings(args: argparse.Namespace, **flags: tuple[str, Any]) -> Settings:
    """The settings, the command's flags winning over their variables (a malformed variable
    a flag overrides is not read). `flags`: more settings given by flags of another name
    (webhook_port=("--port", args.port))."""
    overrides: dict[str, Any] = {}
    named: dict[str, str] = {}  # setting -> the flag that gave it
    for name in ("broker_url", "metrics_port", "metrics_host", "watchlist", "topic_prefix",
                 "worker_role"):
        value = getattr(args, name, None)
        if name == "watchlist" and value is not None and not value.strip():
            # Empty is the packaged demo list in the environment: a flag asks for a file.
            raise CliError("--watchlist: an empty path; name a watch-list TOML file")
        if value is not None:
            overrides[name], named[name] = value, f"--{name.replace('_', '-')}"
    for name, (flag, value) in flags.items():
        if value is not None:
            overrides[name], named[name] = value, flag
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        # A value given as a flag is named as the flag, not as the variable it stands for.
        for name, flag in named.items():
            env = ENV_PREFIX + name.upper()
            if str(exc).startswith(env + "="):
                raise CliError(flag + str(exc)[len(env):]) from None
        raise


def _reachable(settings: Settings) -> Settings:
    """`settings`, once one of its bootstrap servers accepts a connection, signs veille in and
    answers a Kafka request; a clear error otherwise, within a few seconds (for the one-shot
    commands: a worker or collector waits for its broker instead)."""
    import asyncio

    from veille.broker import SIGN_IN_TIMEOUT, reachable, sign_in

    if reachable(settings.broker_addresses) is None:
        raise CliError(f"cannot reach the broker at {settings.broker_url}: no server accepts a "
                       "connection (is it running? set VEILLE_BROKER_URL or --broker-url)")
    signed_in, problem = asyncio.run(sign_in(settings))
    if problem:
        raise _refused(settings, problem)
    if not signed_in:
        # Found in review (2026-12-06): the command's Kafka client waited 15-30 s, logging its
        # retries, then said "Unable to bootstrap".
        raise CliError(f"the broker at {settings.broker_url} accepts connections but answered no "
                       f"Kafka request within {SIGN_IN_TIMEOUT:g} s (a hung or overloaded broker, "
                       "or not a Kafka port?)")
    return settings


def _signs_in(settings: Settings) -> Settings:
    """`settings`, unless the broker answers but refuses them (a wrong password, an untrusted
    certificate, TLS on one side only...): then the reason, at once. A Kafka client says only
    "Unable to bootstrap", after retrying for 10-30 s. A broker that does not answer passes:
    whoever calls this waits for it or says so."""
    from veille.broker import sign_in_problem

    problem = sign_in_problem(settings)
    if problem is not None:
        raise _refused(settings, problem)
    return settings


def _refused(settings: Settings, problem: str) -> CliError:
    """The error of a broker that refuses veille's settings (`problem`: sign_in's diagnosis)."""
    return CliError(f"cannot sign in to the broker at {settings.broker_url}: {problem}")


def _add_broker(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker-url", help=f"Kafka bootstrap servers (env {ENV_PREFIX}BROKER_URL)")


def _add_api(p: argparse.ArgumentParser) -> None:
    """`--api URL`: the moderator tools through a running moderation API, not the topics."""
    p.add_argument("--api", metavar="URL",
                   help="ask the moderation API at URL (veille moderate serve; bearer token "
                        f"{ENV_PREFIX}MODERATION_API_TOKEN) instead of reading the topics from "
                        f"their start (env {ENV_PREFIX}MODERATION_API_URL; \"\" reads the topics)")


def cmd_broker(args: argparse.Namespace) -> int:
    import threading

    from veille.broker import STOP_SIGNALS, EmbeddedBroker

    if args.port is not None and not 1 <= args.port <= 65535:  # 0: a port nobody could be told
        raise CliError(f"--port must be a port number from 1 to 65535, not {args.port}")
    settings = _settings(args, embedded_broker_port=("--port", args.port))
    port = settings.embedded_broker_port
    # Handlers first: a Ctrl-C during start-up must still stop the process we started.
    done = threading.Event()
    starting = [True]

    def on_signal(*_: object) -> None:
        done.set()
        if starting[0]:  # the start's wait (up to 15 s) is cut short: stopped at once
            raise KeyboardInterrupt

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    broker = EmbeddedBroker(port)
    try:
        broker.start()
        starting[0] = False
        say(f"veille broker: Tansu listening on {broker.url} (memory storage); Ctrl-C stops it")
        while not done.wait(0.5):
            if not broker.running():
                raise CliError("the broker process exited on its own")
    except KeyboardInterrupt:  # a signal while starting (found in review: waited out the 15 s)
        pass
    finally:
        starting[0] = False
        broker.stop()
    say("veille broker: stopped")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from agents.worker import run
    from veille.reload import WatchedFile
    from veille.rules import Watchlist

    settings = _settings(args)
    from veille.logs import CONTEXT

    CONTEXT["role"] = settings.worker_role  # on each JSON line (VEILLE_LOG_FORMAT=json)
    # Before the broker is waited for: a bad watch list was told only after 30 s of broker
    # retries, or not at all when the broker was away. Loaded once: the worker follows this one
    # (it parsed the file a second time until 2026-12-07).
    watched = WatchedFile(settings.watchlist_path, Watchlist.from_toml)
    run(_signs_in(settings), watched)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.topics import TOPIC_MAP, ensure_topics

    settings = _reachable(_settings(args))
    created = ensure_topics(settings)
    for doc in TOPIC_MAP:  # the names these settings give (prefix; app id of the changelogs)
        names = ", ".join(n.replace("<app_id>", settings.app_id) if "<app_id>" in n
                          else settings.topic(n) for n in doc.name.split(", "))
        print(f"{names}\tkey: {doc.key}\twriters: {doc.writers}\treaders: {doc.readers}")
    print(f"created: {', '.join(created) or 'none (all existed)'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The pipeline's topics and how far veille's consumer groups have read them; exit 1 when a
    topic is missing."""
    from veille import status

    settings = _reachable(_settings(args))
    states = status.gather(settings)
    print(status.as_json(states, settings) if args.json else status.table(states, settings))
    return 1 if any(s.missing for s in states) else 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.records import Limits
    from veille.collectors.replay import (
        ReplayFileError,
        ReplayOptionError,
        check_file,
        csv_options,
        replay,
    )

    settings = _settings(args)
    if not args.file.strip():
        raise CliError("the file name is empty; expected a JSON Lines or CSV file of raw mentions")
    path = Path(args.file)
    if path.is_dir():
        raise CliError(f"{path}: a directory, not a file")
    if not path.exists():
        raise CliError(f"{path}: no such file")
    if not path.is_file():  # a pipe (<(zcat x.gz)), a device: it was said "no such file"
        raise CliError(f"{path}: not a regular file (replay reads its file more than once: "
                       "save the stream to a file first)")
    try:  # before the broker is asked anything
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not math.isfinite(args.rate) or args.rate < 0 or 0 < args.rate < MIN_REPLAY_RATE:
        raise CliError(f"--rate {args.rate:g}: 0 (as fast as possible) or at least "
                       f"{MIN_REPLAY_RATE:g} mentions/s")
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be 0 or more, not {args.limit}")
    if args.from_line < 1:
        raise CliError(f"--from-line must be 1 or more (the first line is 1), not {args.from_line}")
    try:  # before the file is read: an unknown field or encoding, a bad date format or zone
        options = csv_options(args.column, args.encoding, args.date_format, args.tz)
    except ReplayOptionError as exc:
        raise CliError(str(exc)) from None
    try:  # a CSV header without a text column, gzip data that is not: before the broker too
        notes = check_file(path, args.format, stamp_now=args.timestamps == "now",
                           limits=Limits(max_text_chars=settings.max_text_chars), options=options)
    except ReplayFileError as exc:
        raise CliError(str(exc)) from None
    for note in notes:
        print(f"veille: note: {path}: {note}", file=sys.stderr)
    import threading

    stop = threading.Event()
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():  # asked twice: at once, without flushing
            raise KeyboardInterrupt
        stopped_by.append(signum)
        stop.set()  # the mentions sent so far are flushed, then the summary printed

    before = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = replay(path, _reachable(settings), rate=args.rate, timestamps=args.timestamps,
                        limit=args.limit, progress=not args.no_progress, should_stop=stop.is_set,
                        first_line=args.from_line, file_format=args.format, options=options)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    # Where to go on from is the same file read the same way: its options said again.
    again = ["--format", args.format] if args.format != "auto" else []
    again += options.argv
    return replay_outcome(report, stopped_by=stopped_by[0] if stopped_by else None, path=path,
                          timestamps=args.timestamps, from_line=args.from_line, options=again)


def replay_outcome(report: Any, *, stopped_by: int | None, path: Path, timestamps: str,
                   from_line: int = 1, options: Sequence[str] = ()) -> int:
    """Print the replay's summary and what to do next; the exit status: 1 when a mention was
    not acknowledged, or when lines were read and none could be sent (a file that is not JSON
    Lines, or not CSV) or when --from-line is past the file's end, or when the file could not be
    read to its end (a gzip file cut short); 128 + the signal's number when stopped by one (130
    for Ctrl-C), after saying where to go on from; else 0 (lines refused among sent ones are
    listed in the summary)."""
    unit = getattr(report, "unit", "line")
    text = report.summary()
    # From the first mention the broker did not acknowledge, else the line after the last one
    # sent (a mention sent twice is one: its id is the same, de-duplicated downstream).
    resume = report.resume_line or report.sent_through + 1
    # To paste into a shell: the file and the options (--format, --column...) quoted for one.
    go_on = shlex.join(["veille", "collect", "replay", str(path), "--from-line", str(resume),
                        "--timestamps", timestamps, *options])
    if stopped_by is not None:
        text += f"\nstopped by a signal before the end of the file; to go on from there: {go_on}"
    elif report.failed and report.resume_line:
        text += f"\nto send again from the first mention not acknowledged: {go_on}"
    elif report.all_refused:
        text += f"\nerror: no mention sent: every {unit} was refused; {report.hint}"
    past_end = from_line > 1 and report.lines is not None and report.lines < from_line
    if past_end and stopped_by is None:
        text += (f"\nerror: --from-line {from_line}: the file has only {report.lines} "
                 f"{unit}{'s' if report.lines != 1 else ''}")
    unread = getattr(report, "read_error", None)
    if unread and stopped_by is None:  # why: in the summary, above
        text += "\nerror: the file was not read to its end"
    print(text, file=sys.stderr)
    if stopped_by is not None and not report.failed:
        return 128 + stopped_by
    return 1 if report.failed or report.all_refused or past_end or unread else 0


def cmd_webhook(args: argparse.Namespace) -> int:
    import asyncio

    from veille.collectors.webhook import run_webhook

    settings = _settings(args, webhook_port=("--port", args.port),
                         webhook_host=("--host", args.host))
    asyncio.run(run_webhook(_signs_in(settings)))
    return 0


def cmd_rss(args: argparse.Namespace) -> int:
    import asyncio

    from veille.collectors.rss import run_rss

    unread = asyncio.run(run_rss(_signs_in(_settings(args)), once=args.once))
    if unread:  # --once: some feeds read, not these (a deleted alert was 0 for ever under cron)
        print(f"veille: warning: rss: {len(unread)} feed(s) could not be read; {unread[0].feed}: "
              f"{unread[0].error or unread[0].status}", file=sys.stderr)
        return 1
    return 0


def _poll(args: argparse.Namespace, run: Any, name: str, sources: str) -> int:
    """A polling collector (`run`: run_mastodon...) until stopped, or one round with --once:
    1 with a warning when some of its `sources` ("hashtag(s)") could not be read (a cron job
    must not see 0), naming the first as the collector does (run_polling: "#AcmeDown: ...",
    "@acme_gone@mastodon.example: ...")."""
    import asyncio

    failed = asyncio.run(run(_signs_in(_settings(args)), once=args.once))
    if failed:
        print(f"veille: warning: {name}: {len(failed)} {sources} could not be read; "
              f"{failed[0]}", file=sys.stderr)
        return 1
    return 0


def cmd_mastodon(args: argparse.Namespace) -> int:
    from veille.collectors.mastodon import run_mastodon

    return _poll(args, run_mastodon, "mastodon", "hashtag(s) or brand account(s)")


def cmd_bluesky(args: argparse.Namespace) -> int:
    from veille.collectors.bluesky import run_bluesky

    return _poll(args, run_bluesky, "bluesky", "search(es)")


def cmd_reddit(args: argparse.Namespace) -> int:
    from veille.collectors.reddit import run_reddit

    return _poll(args, run_reddit, "reddit", "search(es) or brand account(s)")


def cmd_youtube(args: argparse.Namespace) -> int:
    from veille.collectors.youtube import run_youtube

    return _poll(args, run_youtube, "youtube", "channel(s)")


def cmd_jetstream(args: argparse.Namespace) -> int:
    """A stream has no end: no --once. SIGTERM/SIGINT stop it (the batch in flight sent, the
    cursor saved), exit 0; a bad setting or watch list, or a state folder in use: exit 2."""
    import asyncio

    from veille.collectors.jetstream import run_jetstream

    asyncio.run(run_jetstream(_signs_in(_settings(args))))
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    from veille.detect import bucket_seconds_option, run_detect, timezone_option
    from veille.spikes import DetectorConfig

    for option, value in (("series", args.series), ("--out", args.out)):
        if not value.strip():
            raise CliError(f"{option}: empty path, expected a CSV file name")
    # DetectError names the file and line (or the option): printed by main() like a CliError.
    # The agent's bucket width (VEILLE_SPIKE_BUCKET_SECONDS) and zone (VEILLE_TIMEZONE) by
    # default: the detector the spike agent of this deployment runs.
    config = DetectorConfig(bucket_seconds=bucket_seconds_option(None),
                            timezone=timezone_option(args.timezone))
    alerts = run_detect(Path(args.series), Path(args.out), config)
    print(f"{args.out}: written, {alerts} alert(s)", file=sys.stderr)
    return 0


def _sentiment_input(line: str, as_json: bool) -> tuple[str, str | None] | str:
    """(text, language hint) of one input line, or why the line cannot be scored; the text's HTML
    character references decoded, as the enrichment decodes them ("I &lt;3 it" is a heart)."""
    from streams.records import decode_references

    if not as_json:
        return decode_references(line), None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return "expected a JSON object with a string `text`"
    hint = obj.get("language")
    if hint is not None and not isinstance(hint, str):
        return f"`language` must be a string, not {type(hint).__name__}"
    return decode_references(obj["text"]), hint


def _per_line(args: argparse.Namespace, answer: Callable[[str, bool], dict[str, Any] | str]) -> int:
    """`answer` for each non-empty line of stdin, one JSON line each on stdout; a line it cannot
    answer (a str: why) gets an error line in its place (a caller pairing input and output
    lines stays aligned), said on stderr too, and the next ones are still answered: exit 1."""
    import io

    out = sys.stdout
    if isinstance(sys.stdin, io.TextIOWrapper):
        # An undecodable byte must not end the stream: it reaches the analyser as a lone surrogate.
        sys.stdin.reconfigure(errors="surrogateescape")
    bad = 0
    try:
        for number, line in enumerate(sys.stdin, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            as_json = args.jsonl or (args.format == "auto" and line.lstrip().startswith("{"))
            record = answer(line, as_json)
            if isinstance(record, str):
                bad += 1
                print(f"line {number}: {record}", file=sys.stderr)
                record = {"line": number, "error": record}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
    except BrokenPipeError:
        # The reader (e.g. `| head`) had enough: not an error, as in `veille generate`. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if bad else 0


def cmd_sentiment(args: argparse.Namespace) -> int:
    from veille.sentiment import Analyzer

    analyzer = Analyzer()

    def score(line: str, as_json: bool) -> dict[str, Any] | str:
        parsed = _sentiment_input(line, as_json)
        if isinstance(parsed, str):
            return parsed
        a = analyzer.analyse(*parsed)
        return {"language": a.language, "compound": a.sentiment.compound if a.sentiment else None,
                "label": a.sentiment.label if a.sentiment else "unscored"}

    return _per_line(args, score)


def cmd_match(args: argparse.Namespace) -> int:
    """What the enrichment stage makes of each text (or raw mention) of stdin with this watch
    list: brands and rules matched, language, sentiment, triage; the very code the agent runs."""
    import time
    from datetime import UTC, datetime

    from prometheus_client import CollectorRegistry

    from agents.enrich import enrichment  # not agents.worker: no Faust app here, no Faust

    settings = _settings(args)
    reloader, _metrics, enricher = enrichment(settings, CollectorRegistry())
    watchlist = reloader.value
    terms = sum(1 for b in watchlist.brands for _ in b.terms())
    ids = watchlist.brand_ids
    # The first 10 ids: an agency's 300 made a line of 4,000 characters (2026-12-07).
    named = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    print(f"veille match: watch list {settings.watchlist_path}: {len(ids)} brand(s) "
          f"({named}), {terms} term(s)", file=sys.stderr, flush=True)
    for collector, problem in _collector_refusals(settings, watchlist):
        print(f"veille match: warning: the {collector} collector would refuse this watch list: "
              f"{problem}", file=sys.stderr, flush=True)
    quota = _youtube_quota_warning(settings, watchlist)
    if quota:
        print(f"veille match: warning: {quota}", file=sys.stderr, flush=True)
    made = 0

    def match(line: str, as_json: bool) -> dict[str, Any] | str:
        nonlocal made
        made += 1
        if as_json:
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
                obj = None
            if not isinstance(obj, dict):
                return "expected a JSON object (a raw mention, or at least its `text`)"
        else:
            obj = {"text": line}
        # What a collector would have filled in: a raw mention the stage accepts.
        mention = {"id": f"match-{made}", "source": "match", "platform": "other",
                   "created_at": datetime.now(UTC).isoformat(), **obj}
        # surrogatepass: an id holding a lone surrogate (escaped, or an undecodable byte of
        # stdin) is the stage's to refuse, on its line, not a UnicodeEncodeError ending the run.
        key = mention["id"].encode("utf-8", "surrogatepass") if isinstance(mention["id"], str) else None
        outcome = enricher.handle(key, json.dumps(mention).encode(), time.time())
        if outcome.unknown:  # as the workers' warning (veille_mentions_unknown_brand_total)
            print(f"veille match: warning: line {made}: brands the watch list does not have, "
                  f"ignored: {', '.join(outcome.unknown)}", file=sys.stderr, flush=True)
        if outcome.enriched is None:
            dead = outcome.dead
            return f"{dead.reason}: {dead.detail}" if dead is not None else "not enriched"
        record = outcome.enriched.to_dict()
        sentiment = record["sentiment"]
        return {"brands": record["brands"], "rules": record["rules"], "language": record["language"],
                "compound": sentiment["compound"] if sentiment else None,
                "label": sentiment["label"] if sentiment else "unscored", "triage": record["triage"]}

    return _per_line(args, match)


def _collector_refusals(settings: Settings, watchlist: Any) -> list[tuple[str, str]]:
    """What the collectors that read the watch list would refuse in it, (collector, why): the
    RSS collector its `[[feeds]]` tables, the Bluesky and Reddit ones more brand terms than a
    round at their interval searches, the YouTube one more channels than it reads. Nothing for a
    collector with nothing of its own there (no `[[feeds]]`: no RSS; no `youtube_channels`: no
    YouTube)."""
    from veille.collectors import bluesky, reddit, rss, youtube
    from veille.rules import read_toml

    path = settings.watchlist_path
    refusals: list[tuple[str, str]] = []
    data = read_toml(path)  # read again (once): the workers' Watchlist keeps no feeds
    if "feeds" in data:
        try:
            rss.feeds_from_dict(data, source=str(path))
        except (rss.FeedConfigError, ValueError) as exc:
            refusals.append(("RSS", str(exc)))
    for name, module, interval in (("Bluesky", bluesky, settings.bluesky_interval_seconds),
                                   ("Reddit", reddit, settings.reddit_interval_seconds)):
        try:
            module.check_queries(module.queries_of(watchlist), path, interval)
        except ValueError as exc:  # BlueskyConfigError, RedditConfigError
            refusals.append((name, str(exc)))
    channels = youtube.channels_of(watchlist)
    if channels:
        try:
            youtube.YoutubeCollector.check_queries(channels, path)
        except youtube.YoutubeConfigError as exc:
            refusals.append(("YouTube", str(exc)))
    return refusals


def _youtube_quota_warning(settings: Settings, watchlist: Any) -> str | None:
    """The YouTube collector's warning at start when the watch list's channels, read every
    VEILLE_YOUTUBE_INTERVAL_SECONDS, may spend more than an API key's daily quota; None else
    (no channel, or they cannot)."""
    from veille.collectors import youtube

    channels = len(youtube.channels_of(watchlist))
    if not channels:
        return None
    return youtube.quota_warning(channels, settings.youtube_interval_seconds, youtube.MAX_PAGES)


def cmd_generate(args: argparse.Namespace) -> int:
    from veille import demo

    # Not demo.main(): its errors would name `python -m veille.demo`, and its parser options
    # that this command does not have.
    start = demo.SAMPLE_START
    if args.start is not None:
        try:
            start = demo.parse_start(args.start)
        except demo.GenerateError as exc:
            raise CliError(f"--start: {exc}") from None
    try:
        return demo.run(args.out, start, args.hours, seed=args.seed)
    except demo.GenerateError as exc:  # a bad option or an output path that cannot be written
        raise CliError(str(exc)) from None


#: What `veille alerts` says on stderr, per language (veille.settings.REPORT_LANGUAGES); its
#: lines are veille.alerts_view's. The broker's error it reads on after stays as the client says it.
ALERTS_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "reading_on": "veille alerts: {error}; reading on",
        "waiting": "veille alerts: no alert event yet; waiting for new ones (Ctrl-C stops)",
        "none": "veille alerts: no alert event{of} on {topic}",
        "of_brand": " of brand {brand}",
    },
    "fr": {
        "reading_on": "veille alerts\u00a0: {error}\u00a0; lecture poursuivie",
        "waiting": "veille alerts\u00a0: aucune alerte pour l'instant\u00a0; en attente des "
                   "suivantes (Ctrl-C pour arrêter)",
        "none": "veille alerts\u00a0: aucune alerte{of} dans {topic}",
        "of_brand": " pour la marque {brand}",
    },
}


def cmd_alerts(args: argparse.Namespace) -> int:
    """Alert story events from reputation.alerts, oldest first, one line each (or JSON)."""
    import time

    from streams.topics import REPUTATION_ALERTS
    from veille.alerts_view import describe
    from veille.moderate.store import BrokerError, TopicReader
    from veille.rules import brand_key
    from veille.terminal import json_safe, printable

    if not (math.isfinite(args.interval) and 0 < args.interval <= MAX_INTERVAL_SECONDS):
        raise CliError(f"--interval must be a number of seconds above 0 and at most "
                       f"{MAX_INTERVAL_SECONDS:.0f} (a day), not {args.interval}")
    if args.brand is not None and not args.brand.strip():
        raise CliError("--brand must name a brand (its id in the watch list), not be empty")
    tz = _tz(args)
    settings = _reachable(_settings(args))
    lang = args.lang or settings.report_language
    said = ALERTS_TEXT[lang]
    if args.brand is not None:  # a typo printed nothing, which reads as "no alert"
        from veille.moderate.commands import LIST_TEXT, _note_unknown_brand

        _note_unknown_brand(settings, args.brand, LIST_TEXT[lang]["unknown_brand"])
    shown = 0

    def show(event: object) -> None:
        nonlocal shown
        if not isinstance(event, dict) or (args.brand and event.get("brand") != brand_key(args.brand)):
            return
        line = (printable(json.dumps(json_safe(event), ensure_ascii=False)) if args.json
                else describe(event, tz, lang))
        print(line, flush=True)
        shown += 1

    # Oldest first across brands too: each read's events sorted by record time (the topic is
    # keyed by brand, so its partitions each hold some brands' events in order).
    reader = TopicReader(settings, {REPUTATION_ALERTS: show}, ordered=True)
    waiting_said = interrupted = False
    stopped_by = 0  # a supervisor's SIGTERM: 128 + 15 at the end, where Ctrl-C is a clean end
    try:
        while True:
            try:
                reader.refresh()
            except BrokerError as exc:
                if not args.follow:
                    raise
                # Following: a broker restart is waited out, and so is a topic not created yet
                # (started before the worker or the demo that creates it).
                print(said["reading_on"].format(error=exc), file=sys.stderr, flush=True)
            if not args.follow:
                break
            if not shown and not waiting_said:  # a silent terminal looked stuck
                print(said["waiting"], file=sys.stderr, flush=True)
                waiting_said = True
            time.sleep(args.interval)
    except KeyboardInterrupt as exc:
        interrupted = True
        stopped_by = exc.signum if isinstance(exc, Stopped) else 0
    except BrokenPipeError:  # the reader (| head) had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        reader.close()
    # Nothing printed read as a command that did nothing; not said of a read cut by Ctrl-C.
    if not args.follow and not shown and not interrupted:
        of = said["of_brand"].format(brand=brand_key(args.brand)) if args.brand else ""
        print(said["none"].format(of=of, topic=settings.topic(REPUTATION_ALERTS)),
              file=sys.stderr, flush=True)
    return 128 + stopped_by if stopped_by else 0


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it (`| head` done): poll says POLLERR on
    its end. Not a broken pipe of another kind (a socket's EPIPE), which stays an error."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no fileno (a test's StringIO), no poll
        return False


def _print_all(texts: list[str], separator: str) -> None:
    """`texts` on stdout; a reader that had enough (`| head`) is not an error."""
    try:
        if texts:
            print(separator.join(texts), flush=True)
    except BrokenPipeError:  # stdout at devnull: the interpreter's final flush must not raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cmd_mentions(args: argparse.Namespace) -> int:
    """Enriched mentions from mentions.enriched: the ids asked for, whole (reading only their
    partitions), or the newest that pass the filters, a line each, oldest first."""
    from streams.topics import MENTIONS_ENRICHED
    from veille import mentions_trace
    from veille import mentions_view as view
    from veille.moderate.commands import parse_time, read_cases
    from veille.moderate.store import BrokerError, TopicReader
    from veille.rules import brand_key

    ids = list(dict.fromkeys(args.ids))  # asked twice, shown once
    for mention_id in ids:
        if not mention_id.strip():
            raise CliError("a mention id is empty (no mention has it)")
        try:
            mention_id.encode("utf-8")
        except UnicodeEncodeError:
            raise CliError(f"mention id {mention_id!r} is not valid Unicode text") from None
    filters = [f"--{name.replace('_', '-')}" for name in ("brand", "language", "unscored", "negative",
                                                            "author", "contains", "since", "limit")
               if getattr(args, name) not in (None, False)]
    if ids and filters:  # an id a filter left out would be said "not on the topic"
        raise CliError(f"give mention ids or filters ({', '.join(filters)}), not both")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be at least 1, not {args.limit}")
    if args.language is not None and not args.language.strip():
        raise CliError("--language must name a language (en, fr, de...), not be empty")
    _not_empty(args, "brand", "author")
    _holds_a_word(args)
    tz = _tz(args)
    chosen = view.Filter(author=args.author, contains=args.contains,
                         brand=brand_key(args.brand) if args.brand is not None else None,
                         language=args.language.strip().lower() if args.language else None,
                         unscored=args.unscored, negative=args.negative,
                         since=parse_time(args.since, "since", tz) if args.since else None)
    settings = _reachable(_settings(args))
    lang = args.lang or settings.report_language
    if args.brand is not None:  # a typo printed nothing, which reads as "no mention"
        from veille.moderate.commands import LIST_TEXT, _note_unknown_brand

        _note_unknown_brand(settings, args.brand, LIST_TEXT[lang]["unknown_brand"])
    found: dict[str, dict[str, Any]] = {}
    newest = view.Newest(args.limit or MENTIONS_SHOWN)

    def add(record: object) -> None:
        if not isinstance(record, dict):
            return
        if ids:
            if record.get("id") in ids:
                found[record["id"]] = record  # the newest copy (one enriched twice is the same)
        elif chosen(record):
            newest.add(record)

    # How far the enrichment stage had read, before the enriched records are: what it had
    # read then is on mentions.enriched (the trace of an id not found tells read from waiting).
    try:
        committed = mentions_trace.committed_of(settings, ids) if ids else {}
    except BrokerError:  # (the group's offsets refused: an ACL) only an id not found needs them
        committed = None
    reader = TopicReader(settings, {MENTIONS_ENRICHED: add},
                         keys=[i.encode("utf-8") for i in ids])
    try:
        reader.refresh()
    finally:
        reader.close()
    topic = settings.topic(MENTIONS_ENRICHED)
    if ids:
        shown = [found[i] for i in ids if i in found]
        # "Was it answered, moderated?" on the mention's row: the cases of the ones triage
        # queued, read from their ids' partitions of the moderation topics alone, and only when
        # one is shown that way (--json is the records, with no case in them).
        queued = [str(r["id"]) for r in shown if view.queued(r)]
        cases = read_cases(settings, queued) if queued and not args.json else None
        texts = [view.as_json(r) if args.json else view.whole(r, tz, lang, cases) for r in shown]
        _print_all(texts, "\n" if args.json else "\n\n")
        missing = [i for i in ids if i not in found]
        if missing:
            print(view.missing_note(missing, topic, lang), file=sys.stderr)
            names = mentions_trace.topics(settings)
            if committed is None:  # asked again: refused now, it is said as any broker error
                committed = mentions_trace.committed_of(settings, missing)
            for trace in mentions_trace.trace(settings, missing, committed):
                print(view.trace_line(trace, names, tz, lang), file=sys.stderr)
        return 1 if missing else 0
    shown = newest.oldest_first()
    _print_all([view.as_json(r) if args.json else view.line(r, tz, lang) for r in shown], "\n")
    print(view.matched_note(newest.total, len(shown), topic, lang), file=sys.stderr)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    """An erasure request: the author's moderation cases erased (markers on moderation.queue),
    and what is left on the mentions topics until their retention."""
    from veille.erase import erase_author, report

    _not_empty(args, "author")
    if not args.author.strip().removeprefix("@").strip():
        raise CliError("--author must name a handle, not only '@'")
    settings = _reachable(_settings(args))
    result = erase_author(settings, args.author, dry_run=args.dry_run)
    report(result, settings, lang=args.lang)
    return 0


def _not_empty(args: argparse.Namespace, *names: str) -> None:
    """An empty filter (`--brand ""`, a variable not set in a script) matched nothing, which
    read as an empty queue."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None and not value.strip():
            raise CliError(f"--{name} must not be empty")


def _holds_a_word(args: argparse.Namespace) -> None:
    """--contains of only spaces (or of marks the folding drops) would find everything, which
    reads as a match on every one."""
    from veille.mentions_view import folded

    if getattr(args, "contains", None) is not None and not folded(args.contains):
        raise CliError("--contains must hold a word (nothing is left of it once spaces, case and "
                       "accents are set aside)")


def _api_client(args: argparse.Namespace, settings: Settings) -> ApiClient | None:
    """The moderation API to ask (--api, else VEILLE_MODERATION_API_URL), None to read the
    topics (both empty). --broker-url with an API is refused: it would be silently unused."""
    from veille.moderate.client import ApiClient, check_api_url

    given = getattr(args, "api", None)
    raw = given if given is not None else settings.moderation_api_url
    if not raw.strip():
        return None
    name = "--api" if given is not None else f"{ENV_PREFIX}MODERATION_API_URL"
    if getattr(args, "broker_url", None) is not None:
        raise CliError(f"--broker-url reads the topics, {name} asks the moderation API: give one "
                       '(--api "" reads the topics)')
    token = settings.moderation_api_token.strip()
    return ApiClient(check_api_url(raw, token, name=name), token)


def cmd_moderate_list(args: argparse.Namespace) -> int:
    from veille.moderate import client
    from veille.moderate.commands import list_cases, parse_time

    if args.limit is not None and args.limit < 1:  # a negative slice hid the newest cases
        raise CliError(f"--limit must be at least 1, not {args.limit}")
    _not_empty(args, "brand", "assignee", "author")
    _holds_a_word(args)
    posted_since = parse_time(args.posted_since, "posted-since") if args.posted_since else None
    settings = _settings(args)
    filters: dict[str, Any] = dict(
        brand=args.brand, category=args.category, sort=args.sort, assignee=args.assignee,
        unassigned=args.unassigned, escalated=args.escalated, posted_since=posted_since,
        author=args.author, contains=args.contains)
    api = _api_client(args, settings)
    if api is not None:  # the same filters, as GET /cases's parameters (client.list_query)
        client.list_cases(settings, api, limit=args.limit, as_json=args.json, lang=args.lang,
                          **filters)
        return 0
    list_cases(_reachable(settings), limit=args.limit, as_json=args.json, lang=args.lang, **filters)
    return 0


def cmd_moderate_show(args: argparse.Namespace) -> int:
    from veille.moderate import client
    from veille.moderate.commands import check_case_id, show_case

    check_case_id(args.case_id)  # before the broker is asked
    settings = _settings(args)
    api = _api_client(args, settings)
    if api is not None:
        client.show_case(settings, api, args.case_id, as_json=args.json, lang=args.lang)
        return 0
    show_case(_reachable(settings), args.case_id, as_json=args.json, lang=args.lang)
    return 0


def cmd_moderate_closed(args: argparse.Namespace) -> int:
    import time

    from veille.moderate import client
    from veille.moderate.commands import list_closed, parse_time

    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be at least 1, not {args.limit}")
    _not_empty(args, "brand", "moderator", "author")
    _holds_a_word(args)
    tz = _tz(args)
    until = parse_time(args.until, "until", tz) if args.until else None
    since = parse_time(args.since, "since", tz) if args.since else \
        (until if until is not None else time.time()) - 86400  # --until 1970-01-01: 0
    if until is not None and until <= since:
        raise CliError("--until must be after --since")
    settings = _settings(args)
    filters: dict[str, Any] = dict(brand=args.brand, category=args.category,
                                   decision=args.decision, moderator=args.moderator, since=since,
                                   until=until, author=args.author, contains=args.contains)
    api = _api_client(args, settings)
    if api is not None:  # --tz is the CLI's own: the times are asked and answered in UTC
        client.list_closed(settings, api, limit=args.limit, as_json=args.json, tz=tz,
                           lang=args.lang, **filters)
        return 0
    list_closed(_reachable(settings), limit=args.limit, as_json=args.json, tz=tz, lang=args.lang,
                **filters)
    return 0


def _tz(args: argparse.Namespace) -> tzinfo:
    """The zone of --tz (CliError naming it when the IANA database does not hold it)."""
    from veille.timezones import TimezoneError, zone

    try:  # the brands' zones are checked the same way ("Europe" is a folder: refused, not a crash)
        return zone(args.tz)
    except TimezoneError as exc:
        raise CliError(f"--tz: unknown time zone: {exc}") from None


#: `veille moderate decide` in French: the moderators are often French-speaking. The decision
#: written is the English one (the record's vocabulary, a Prometheus label).
FRENCH_DECISIONS = {"approuver": "approve", "rejeter": "reject", "escalader": "escalate",
                    "répondu": "replied", "repondu": "replied", "répondre": "replied",
                    "repondre": "replied", "prendre": "assign", "assigner": "assign",
                    "rendre": "unassign", "désassigner": "unassign", "desassigner": "unassign"}
#: `--author` and `--contains` of `moderate list` and `closed`.
AUTHOR_FILTER_HELP = "only this author's cases (case and a leading @ ignored): an access request's"
CONTAINS_FILTER_HELP = ("only the cases whose mention's text or link holds these words, in this "
                        "order (case, accents and spacing ignored: \"le rappel\" finds \"Le RAPPEL\")")

#: The decisions as the French tables print them (veille.moderate.words.FRENCH_WORDS), read
#: back (`closed --decision rejeté` copied from `closed`), not listed in the usage errors.
FRENCH_DECISIONS_SHOWN = {"approuvé": "approve", "approuve": "approve", "rejeté": "reject",
                          "rejete": "reject", "escaladé": "escalate", "escalade": "escalate",
                          "assigné": "assign", "assigne": "assign", "désassigné": "unassign",
                          "desassigne": "unassign"}


def decision_word(allowed: tuple[str, ...]) -> Callable[[str], str]:
    """An argparse type: a decision in English or French, in any case and Unicode form, as the
    English word written to the record. A decomposed "répondu" (some keyboards and pastes) or
    "Répondu" was refused as "invalid choice: 'répondu'" beside the very word it showed, and
    `closed --decision` took no French at all (found in review, 2026-12-06)."""
    french = [fr for fr, en in FRENCH_DECISIONS.items() if en in allowed and not _has_accented_twin(fr)]

    def convert(text: str) -> str:
        word = unicodedata.normalize("NFC", text).strip().casefold()
        word = FRENCH_DECISIONS.get(word) or FRENCH_DECISIONS_SHOWN.get(word, word)
        if word not in allowed:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not one of {', '.join(allowed)} (in French: "
                f"{', '.join(french)})")
        return word
    convert.__name__ = "decision"  # argparse names the type in its messages
    return convert


def _has_accented_twin(word: str) -> bool:
    """ "repondu" when "répondu" is a French decision too: only the accented one is listed."""
    return any(other != word and unicodedata.normalize("NFD", other).encode("ascii", "ignore")
               .decode() == word for other in FRENCH_DECISIONS)


def cmd_moderate_decide(args: argparse.Namespace) -> int:
    from veille.moderate import client
    from veille.moderate.commands import decide, language, validate_decision, written

    if len(args.case_ids) > 1:
        return _moderate_decide_many(args)
    case_id = args.case_ids[0]
    assignee = args.assignee
    if args.decision == "assign" and assignee is None:
        assignee = args.moderator  # "assign" alone: the moderator takes the case
    # Bad input is refused before the broker is asked anything (a broker out of reach is not
    # what an empty --moderator should be told).
    validate_decision(case_id, args.decision, moderator=args.moderator, reason=args.reason,
                      assignee=assignee)
    settings = _settings(args)
    api = _api_client(args, settings)
    lang = language(settings, args.lang)
    if api is not None:
        if args.no_check:  # the API always checks: unchecked would be silently checked
            raise CliError("--no-check cannot go through the moderation API (it always checks "
                           'the case first): add --api "" to write it to the topics unchecked')
        record = client.decide(settings, api, case_id, args.decision, moderator=args.moderator,
                               reason=args.reason, assignee=assignee, lang=lang)
    else:
        record = decide(_reachable(settings), case_id, args.decision, moderator=args.moderator,
                        reason=args.reason, assignee=assignee, check=not args.no_check, lang=lang)
    if record is None:  # nothing to write: said on stderr
        return 0
    print(written(record, lang), file=sys.stderr)
    return 0


def _moderate_decide_many(args: argparse.Namespace) -> int:
    """`moderate decide ID ID... DECISION`: a line per case and a summary on stderr; 1 when
    any case was refused or not acknowledged (named: the others need not be sent again)."""
    from veille.moderate import client
    from veille.moderate.commands import decide_many, language, tell_decided, validate_bulk

    ids = list(dict.fromkeys(args.case_ids))  # an id pasted twice is decided once
    if args.assignee is not None:
        raise CliError("--assignee is for escalate and assign, which take one case id")
    validate_bulk(ids, args.decision, moderator=args.moderator, reason=args.reason)
    settings = _settings(args)
    api = _api_client(args, settings)
    lang = language(settings, args.lang)
    if api is not None:
        if args.no_check:
            raise CliError("--no-check cannot go through the moderation API (it always checks "
                           'the case first): add --api "" to write it to the topics unchecked')
        found = client.decide_many(settings, api, ids, args.decision, moderator=args.moderator,
                                   reason=args.reason, lang=lang)
    else:
        found = decide_many(_reachable(settings), ids, args.decision, moderator=args.moderator,
                            reason=args.reason, check=not args.no_check, lang=lang)
    return tell_decided(found, lang, sys.stderr)


def cmd_moderate_serve(args: argparse.Namespace) -> int:
    import asyncio

    from veille.moderate.api import run_api

    settings = _settings(args)
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["moderation_api_host"] = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:  # named as the flag, not as the variable it overrides
            raise CliError(f"--port {args.port}: a port is 0 (any free one) to 65535")
        overrides["moderation_api_port"] = args.port
    asyncio.run(run_api(_signs_in(settings.with_(**overrides))))
    return 0


#: Dead letters `veille dead-letters` lists without --limit: the newest.
DEAD_LETTERS_SHOWN = 20
#: Mentions `veille mentions` lists without --limit: the newest.
MENTIONS_SHOWN = 20


def cmd_dead_letters(args: argparse.Namespace) -> int:
    """List the dead letters of mentions.dlq (oldest first; the summary on stderr), or with
    --replay send them again, as they came, to mentions.raw."""
    from streams.records import DLQ_REASONS
    from streams.topics import MENTIONS_DLQ, MENTIONS_RAW
    from veille.deadletters import DeadLetter, Selection
    from veille.moderate.commands import parse_time
    from veille.moderate.store import TopicReader

    if args.reason is not None and args.reason not in DLQ_REASONS:
        raise CliError(f"--reason {args.reason!r} is not a dead-letter reason: "
                       f"{', '.join(DLQ_REASONS)}")
    if args.limit is not None and args.limit < 0:
        raise CliError(f"--limit must be 0 or more, not {args.limit}")
    since = parse_time(args.since, "since") if args.since else None
    settings = _reachable(_settings(args))
    # Listed: the newest few; replayed: all of them. Only those are held (the topic keeps 30 days).
    keep = args.limit if args.limit is not None else None if args.replay else DEAD_LETTERS_SHOWN
    chosen = Selection(reason=args.reason, since=since, keep=keep)

    def add(_value: bytes) -> None:
        r = reader.record
        chosen.add(DeadLetter.from_record(r.key, r.value, r.timestamp, r.headers))

    reader = TopicReader(settings, {MENTIONS_DLQ: add}, decode=None)
    try:
        reader.refresh()
    finally:
        reader.close()
    shown = chosen.newest()
    if not args.replay:
        for letter in shown:
            print(letter.to_json() if args.json else letter.line(), flush=True)
        print(chosen.summary(len(shown)), file=sys.stderr)
        return 0
    return _replay_dead_letters(settings, shown, settings.topic(MENTIONS_RAW))


def _replay_dead_letters(settings: Settings, letters: list[Any], topic: str) -> int:
    """Send each dead letter's key and bytes to `topic`, acknowledged; 1 when one is not. Those
    cut to fit mentions.dlq are not sent (their bytes are lost)."""
    from veille.collectors.producer import close_now, make_producer

    whole = [d for d in letters if not d.truncated]
    producer = make_producer(settings)
    failed = 0
    try:
        futures = [producer.send(topic, key=d.key, value=d.value) for d in whole]
        try:
            producer.flush(timeout=60)
        except Exception:  # noqa: BLE001 (a broker gone: what was not acknowledged is counted)
            pass
        for future in futures:
            try:
                future.get(timeout=0)
            except Exception:  # noqa: BLE001 (counted and said below)
                failed += 1
    finally:
        if failed:  # a broker that did not acknowledge: closed without waiting for it
            close_now(producer, 5.0)
        else:
            producer.close(timeout=10)
    cut = len(letters) - len(whole)
    print(f"sent {len(whole) - failed:,} dead letter(s) to {topic} again"
          + (f"; {failed:,} not acknowledged by the broker (run it again)" if failed else "")
          + (f"; {cut:,} not sent: cut to fit mentions.dlq, their original bytes are lost"
             if cut else ""), file=sys.stderr)
    return 1 if failed else 0


def _report_period(args: argparse.Namespace, tz: tzinfo) -> tuple[float, float, float]:
    """--since and --until of a report (epoch seconds) and its length in days of `tz`, checked
    before the broker is asked: `veille moderation report`'s and `veille report`'s."""
    import time

    from veille.moderate.commands import parse_time, report_days, week_before

    # A time without an offset is one of --tz, as the report's days and hours are.
    until = parse_time(args.until, "until", tz) if args.until else time.time()
    # 7 days of --tz (its midnight a week before a midnight --until), not 7 x 24 h: in a week
    # with a daylight-saving change that was 01:00 or 23:00, and weekly reports lost an hour
    # or counted one twice (found in review, 2026-12-06).
    since = parse_time(args.since, "since", tz) if args.since else week_before(until, tz)
    # The report holds a row per hour and the chart a column: bounded, not the memory of the
    # machine (year 1 to 9999 was 87 million hours).
    if until <= since:  # said before the broker is asked (it was said after reading the topics)
        raise CliError("--until must be after --since")
    days = report_days(since, until, tz)
    if days > REPORT_MAX_DAYS:
        raise CliError(f"the period is {days:,.0f} days; a report covers at most "
                       f"{REPORT_MAX_DAYS} (--since, --until)")
    # Its days and hours are counted on --tz's clock, with a day to spare either side: in
    # year 1 or 9999 there that is out of range (an OverflowError traceback, found in review).
    from datetime import datetime

    for name, t in (("since", since - 86400), ("until", until + 86400)):
        try:
            datetime.fromtimestamp(t, tz)
        except (OverflowError, ValueError, OSError):
            raise CliError(f"--{name}: too near year 1 or 9999 for a report (its days are "
                           f"counted in {args.tz or 'UTC'}, with a day to spare)") from None
    return since, until, days


def cmd_moderation_report(args: argparse.Namespace) -> int:
    from veille.moderate.commands import report

    tz = _tz(args)
    since, until, days = _report_period(args, tz)
    minutes = args.minutes_per_case
    if minutes is not None and not 0 < minutes <= 24 * 60:  # NaN fails too
        raise CliError(f"--minutes-per-case must be above 0 and at most a day (1440), not {minutes}")
    if args.png is not None and not args.png.strip():
        raise CliError("--png: empty path, expected a PNG file name")
    png = Path(args.png) if args.png else None
    if png is not None:
        if days > CHART_MAX_DAYS:
            raise CliError(f"--png draws at most {CHART_MAX_DAYS} days, the period is "
                           f"{days:,.0f}: shorten --since/--until")
        if png.is_dir() or not png.parent.is_dir():
            raise CliError(f"--png {png}: not a file in an existing folder")
    settings = _settings(args)
    from veille.rules import Watchlist

    # Every watched brand gets a row (zeros when quiet): a bad watch list is said before the
    # broker is asked, as for the worker and the demo.
    watched = Watchlist.from_toml(settings.watchlist_path).brand_ids
    try:
        report(_reachable(settings), since, until, png=png, tz=tz, lang=args.lang,
               watched=watched, minutes_per_case=minutes)
    except OSError as exc:  # e.g. the chart's folder is read-only
        raise CliError(f"--png {png}: {exc.strerror or exc}") from None
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The brand team's reputation report: each watched brand's mentions posted in the period
    (sentiment, platforms, languages, days, alert stories, most-followed negative mentions,
    terms), read from mentions.enriched and reputation.alerts (veille.brand_report)."""
    from streams.topics import MENTIONS_ENRICHED, REPUTATION_ALERTS
    from veille.brand_report import BrandReport, render, start_note
    from veille.crisis import brand_terms
    from veille.moderate.store import TopicReader
    from veille.rules import Watchlist, brand_key
    from veille.terminal import json_safe, printable

    if args.brand is not None and not args.brand.strip():
        raise CliError("--brand must name a brand (its id in the watch list), not be empty")
    if not 0 <= args.top <= REPORT_MAX_TOP:
        raise CliError(f"--top must be from 0 to {REPORT_MAX_TOP}, not {args.top}")
    tz = _tz(args)
    since, until, _days = _report_period(args, tz)
    from datetime import datetime

    try:  # the period before, compared with: its days too on --tz's clock
        datetime.fromtimestamp(since - (until - since) - 86400, tz)
    except (OverflowError, ValueError, OSError):
        raise CliError("--since: too near year 1 for a report (it compares with the period of "
                       "the same length before)") from None
    settings = _settings(args)
    # Every watched brand gets its figures (zeros when quiet): a bad watch list is said before
    # the broker is asked, as for the moderation report.
    watchlist = Watchlist.from_toml(settings.watchlist_path)
    settings = _reachable(settings)
    lang = args.lang or settings.report_language
    if args.brand is not None:  # a typo printed zeros, which reads as "nobody talked about it"
        from veille.moderate.commands import LIST_TEXT, _note_unknown_brand

        _note_unknown_brand(settings, args.brand, LIST_TEXT[lang]["unknown_brand"])
    brands = [brand_key(args.brand)] if args.brand is not None else watchlist.brand_ids
    report = BrandReport(since, until, brands, tz=tz, top=args.top,
                         brand_terms=brand_terms(watchlist),
                         topic=settings.topic(MENTIONS_ENRICHED),
                         retention_days=settings.mentions_retention_days)
    reader = TopicReader(settings, {MENTIONS_ENRICHED: report.add_mention,
                                    REPUTATION_ALERTS: report.add_alert})
    try:
        reader.refresh()
    finally:
        reader.close()
    result = report.result()
    note = start_note(result, lang)
    if note is not None:
        print(printable(note), file=sys.stderr)
    text = printable(json.dumps(json_safe(result), ensure_ascii=False)) if args.json else render(result, lang)
    _print_all([text], "\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from veille.demo_run import run_demo

    rate = args.rate if args.rate is not None else _env_rate()  # read here: a demo-only variable
    if rate == math.inf:  # "is not a rate > 0" said of inf until 2026-12-05
        raise CliError("--rate inf: give a finite rate (mentions/s)")
    if not math.isfinite(rate) or rate <= 0:  # as VEILLE_REPLAY_RATE: a rate of 0 or less
        raise CliError(f"--rate {rate:g} is not a rate > 0 (mentions/s)")  # replayed flat out
    if rate < MIN_REPLAY_RATE:  # as `collect replay`: below, the replay's sleep overflows
        raise CliError(f"--rate {rate:g} is below {MIN_REPLAY_RATE:g} mentions/s")
    if not math.isfinite(args.duration) or args.duration < 0:
        raise CliError(f"--duration {args.duration:g} must be 0 (until Ctrl-C) or a finite "
                       "number of seconds")
    if args.file is not None:
        if not args.file.strip():  # the packaged data was replayed
            raise CliError("--file: the file name is empty; expected a JSON Lines or CSV file "
                           "of raw mentions")
        from veille.demo_run import unreplayable

        problem = unreplayable(Path(args.file))
        if problem is not None:  # before the broker is asked anything
            raise CliError(f"--file {args.file}: {problem}")
    settings = _settings(args)
    from veille.rules import Watchlist

    # Before anything starts: a bad watch list was told by the worker's exit code alone (its
    # reason in worker.log), after the broker had started (found in review, 2026-12-05).
    Watchlist.from_toml(settings.watchlist_path)
    if settings.broker_url_set:  # an existing broker, not the embedded one the demo starts
        _reachable(settings)
    elif settings.broker_security_protocol != "PLAINTEXT":
        raise CliError(f"VEILLE_BROKER_SECURITY_PROTOCOL={settings.broker_security_protocol}: the "
                       "demo's embedded broker speaks PLAINTEXT only (set VEILLE_BROKER_URL to "
                       "run the demo on your own broker)")
    from veille.logs import JsonLines, log_format

    # VEILLE_LOG_FORMAT=json: each status line (the live summary, an alert...) a JSON record.
    out = JsonLines(sys.stdout, "veille.demo") if log_format() == "json" else sys.stdout
    return run_demo(settings, rate=rate, file=args.file, duration=args.duration, out=out)


#: Configuration and broker errors of the collectors and tools, by module: a message, not a traceback.
_USER_ERRORS = (
    ("veille.collectors.base", "BrokerUnavailable"),
    ("veille.collectors.mastodon", "MastodonConfigError"),
    ("veille.collectors.bluesky", "BlueskyConfigError"),
    ("veille.collectors.reddit", "RedditConfigError"),
    ("veille.collectors.youtube", "YoutubeConfigError"),
    ("veille.collectors.jetstream", "JetstreamConfigError"),
    ("veille.collectors.rss", "FeedConfigError"),
    ("veille.collectors.rss", "StateDirError"),
    ("veille.moderate.commands", "ModerateError"),
    ("veille.moderate.store", "BrokerError"),
    ("veille.detect", "DetectError"),
)


def _collector_errors() -> tuple[type[Exception], ...]:
    """Those of _USER_ERRORS whose module is loaded: an exception of a module not imported
    cannot have been raised. Importing them all to tell an error (aiohttp, the collectors) cost
    every failed command about 0.2 s (2026-12-06)."""
    return tuple(getattr(module, name) for module_name, name in _USER_ERRORS
                 if (module := sys.modules.get(module_name)) is not None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="veille",
        description="Streaming e-reputation pipeline. Every option also reads VEILLE_* settings.",
        epilog="Settings (environment):\n" + "\n".join(
            f"  {env} (default {default}): {help}" for env, default, help in settings_table()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from veille import build

    parser.add_argument("--version", action="version", version=f"veille {build.describe()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="embedded broker + worker + replay of the demo data, live summary")
    _add_broker(p)
    p.add_argument("--rate", type=float, default=None,
                   help="replay rate, mentions/s (env VEILLE_REPLAY_RATE, default 200)")
    p.add_argument("--file", help="a file to replay instead of the packaged demo data (JSON Lines, "
                                  "or CSV if named *.csv or *.tsv; gzipped or not: as collect replay)")
    p.add_argument("--duration", type=float, default=0.0,
                   help="stop after this many seconds (default 0: run until Ctrl-C)")
    p.add_argument("--metrics-port", type=int, help=f"env {ENV_PREFIX}METRICS_PORT")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("worker", help="run the enrichment stage and the agents, serve /metrics")
    _add_broker(p)
    p.add_argument("--role", dest="worker_role", choices=("all", "enrich", "agents"),
                   help=f"what this worker runs (env {ENV_PREFIX}WORKER_ROLE, default all): the "
                   "enrichment stage and the agents, the enrichment stage alone, or the spike "
                   "and moderation agents alone")
    p.add_argument("--metrics-port", type=int, help=f"env {ENV_PREFIX}METRICS_PORT")
    p.add_argument("--metrics-host", help=f"env {ENV_PREFIX}METRICS_HOST")
    p.add_argument("--watchlist", help=f"watch-list TOML (env {ENV_PREFIX}WATCHLIST)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu) on loopback")
    p.add_argument("--port", type=int, help=f"env {ENV_PREFIX}EMBEDDED_BROKER_PORT (default 9092)")
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("topics", help="create the topics explicitly and print the topic map")
    _add_broker(p)
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("status", help="the pipeline's topics: partitions, records held, and what "
                                      "the enrichment stage and the agents have still to read",
                       description="The pipeline's topics: partitions, records held, and what the "
                                   "enrichment stage and the agents have still to read, with how "
                                   "many workers read each; exit 1 when a topic is missing.")
    _add_broker(p)
    p.add_argument("--json", action="store_true", help="one JSON object: every partition's offsets")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("collect", help="run a collector")
    csub = p.add_subparsers(dest="collector", required=True)
    r = csub.add_parser(
        "replay", help="send a file of raw mentions (JSON Lines or CSV, maybe gzipped) to mentions.raw",
        description="Send a file of raw mentions to mentions.raw: JSON Lines (one mention per "
                    "line) or CSV (a header row naming the raw mention's fields, case-insensitive: "
                    "id, source, platform, author, text, url, created_at, language, collected_at, "
                    "audience.followers (or audience__followers), audience.likes...; separated by "
                    "',', ';' or tabs; text, platform and created_at columns required, or "
                    "named by --column; other columns ignored, named at the start; an empty cell "
                    "is absent). A file named *.gz or starting with gzip's magic bytes is "
                    "decompressed as it is read.")
    _add_broker(r)
    r.add_argument("file", help="the file (*.csv, *.tsv: CSV, gzipped or not; else JSON Lines, "
                                "unless --format)")
    r.add_argument("--format", choices=("auto", "jsonl", "csv"), default="auto",
                   help="auto (default): CSV for a file named *.csv or *.tsv (.gz or not), else "
                        "JSON Lines")
    r.add_argument("--rate", type=float, default=0.0,
                   help="mentions per second; 0 = as fast as possible (default)")
    r.add_argument("--timestamps", choices=("keep", "shift", "now"), default="keep",
                   help="keep created_at; shift all so the newest is now; or set each to now")
    r.add_argument("--limit", type=int, help="send at most this many mentions")
    r.add_argument("--from-line", type=int, default=1, metavar="N",
                   help="start at line N of the file (1 = the first; of a CSV, its N-th record: "
                        "1 = the first row after the header, a quoted cell over several lines "
                        "being one record; refused lines are numbered the same; a stopped replay "
                        "prints where to go on from)")
    r.add_argument("--column", action="append", default=[], metavar="FIELD=HEADER",
                   help="CSV: the raw mention field FIELD (text, author, created_at, "
                        "audience.followers...) is the column whose header cell is HEADER (any "
                        "case, spaces around ignored), e.g. --column text=Content --column "
                        "created_at=\"Date de publication\"; repeatable; a column named as FIELD "
                        "itself is then ignored")
    r.add_argument("--encoding", help="CSV: the file's encoding (default utf-8), e.g. cp1252 for "
                                      "French Excel's \"CSV (séparateur: point-virgule)\", latin-1")
    r.add_argument("--date-format", metavar="FORMAT",
                   help="CSV: created_at and collected_at are written in this strptime format, "
                        "e.g. \"%%d/%%m/%%Y %%H:%%M\" (Excel's French dates); a cell that does not "
                        "match it is refused (default: ISO 8601 or Unix seconds)")
    r.add_argument("--tz", "--timezone", dest="tz", metavar="ZONE",
                   help="CSV: IANA time zone of the times without an offset, e.g. Europe/Paris "
                        "(default UTC); daylight saving: an hour repeated is its first passage, "
                        "an hour skipped has the offset of before the change")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_replay)

    w = csub.add_parser("webhook", help="HTTP receiver for pushes (Zapier, IFTTT, your tools)")
    _add_broker(w)
    w.add_argument("--host", help=f"env {ENV_PREFIX}WEBHOOK_HOST (default 127.0.0.1)")
    w.add_argument("--port", type=int, help=f"env {ENV_PREFIX}WEBHOOK_PORT (default 8080)")
    w.set_defaults(func=cmd_webhook)
    f = csub.add_parser("rss", help="poll the watch list's [[feeds]] (RSS/Atom, Google Alerts)")
    _add_broker(f)
    f.add_argument("--watchlist", help=f"watch-list TOML (env {ENV_PREFIX}WATCHLIST)")
    f.add_argument("--once", action="store_true", help="poll every feed once, then exit")
    f.set_defaults(func=cmd_rss)
    # The collectors that poll the watch list's sources: the same options each.
    for name, func, what, once in (
            ("mastodon", cmd_mastodon, "follow the watch list's hashtags and read the brands' "
             "own accounts (mastodon_accounts) on a Mastodon instance",
             "poll every hashtag and brand account once, then exit"),
            ("bluesky", cmd_bluesky, "search Bluesky for the watch list's brand names, aliases "
             "and hashtags", "run every search once, then exit"),
            ("reddit", cmd_reddit, "search Reddit for the watch list's brand names, aliases and "
             "hashtags and read the brands' own accounts (reddit_accounts; an app's client id "
             "and secret)", "run every search and brand account once, then exit"),
            ("youtube", cmd_youtube, "read the comments on the brands' own YouTube channels (the "
             "watch list's youtube_channels; an API key)", "read every channel once, then exit")):
        polled = csub.add_parser(name, help=what)
        _add_broker(polled)
        polled.add_argument("--watchlist", help=f"watch-list TOML (env {ENV_PREFIX}WATCHLIST)")
        polled.add_argument("--once", action="store_true", help=once)
        polled.set_defaults(func=func)
    js = csub.add_parser("jetstream", help="follow every Bluesky post on Jetstream and send those "
                         "naming a brand of the watch list (a stream: runs until stopped)")
    _add_broker(js)
    js.add_argument("--watchlist", help=f"watch-list TOML (env {ENV_PREFIX}WATCHLIST)")
    js.set_defaults(func=cmd_jetstream)

    from veille.moderation import CLOSING_DECISIONS, DECISIONS, MAX_BULK_IDS, METRIC_CATEGORIES, SORTS

    p = sub.add_parser("alerts", help="crisis alert story events (reputation.alerts), oldest first")
    _add_broker(p)
    p.add_argument("--brand", help="only this brand's events")
    p.add_argument("--follow", action="store_true", help="keep printing new events until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0,
                   help="with --follow, seconds between reads (default 1)")
    p.add_argument("--json", action="store_true", help="each event's record as JSON, one per line")
    p.add_argument("--tz", default="UTC", help="time zone the windows are shown in, e.g. Europe/Paris "
                   "(default UTC; --json keeps the records' UTC times)")
    p.add_argument("--lang", choices=REPORT_LANGUAGES,
                   help="language of the lines and notes (default VEILLE_REPORT_LANGUAGE, else en); "
                        "--json keeps the records as they are")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("mentions", help="enriched mentions (mentions.enriched): those of the ids "
                                        "given, whole, or the newest that pass the filters")
    _add_broker(p)
    p.add_argument("ids", nargs="*", metavar="ID",
                   help="mention ids (e.g. from an alert line), shown whole, a queued one with its "
                        "moderation case's state; one not found is said with where it is instead "
                        "(refused, waiting on mentions.raw, never sent), exit 1")
    p.add_argument("--brand", help="only mentions naming this brand (its id in the watch list)")
    lang = p.add_mutually_exclusive_group()
    lang.add_argument("--language", help="only mentions detected in this language (en, fr, es, und...)")
    lang.add_argument("--unscored", action="store_true",
                      help="only mentions in a language veille does not score (neither en nor fr)")
    p.add_argument("--negative", action="store_true", help="only negative ones")
    p.add_argument("--author", help="only those of this author (a handle as the collector wrote it; "
                                    "case and a leading @ ignored): an access request's")
    p.add_argument("--contains", metavar="WORDS",
                   help="only those whose text or link holds these words, in this order (case, accents "
                        "and spacing ignored: \"reseau en panne\" finds \"Réseau en PANNE\")")
    p.add_argument("--since", help="only those posted from this time on (ISO 8601; of --tz "
                                   "without an offset)")
    p.add_argument("--limit", type=int, help=f"the newest N by posting time (default {MENTIONS_SHOWN})")
    p.add_argument("--json", action="store_true", help="the enriched records as they are, one a line")
    p.add_argument("--tz", default="UTC", help="time zone times are shown in (default UTC)")
    p.add_argument("--lang", choices=REPORT_LANGUAGES,
                   help="language of the row names, sentences and notes (default "
                        "VEILLE_REPORT_LANGUAGE, else en); the records' values as they are")
    p.set_defaults(func=cmd_mentions)

    p = sub.add_parser("erase", help="an erasure request (GDPR art. 17): empties the author, text "
                                     "and link of an author's moderation cases, and says what is left "
                                     "where (the mentions topics, until their retention)")
    _add_broker(p)
    p.add_argument("--author", required=True,
                   help="the handle as the collector wrote it (case and a leading @ ignored)")
    p.add_argument("--dry-run", action="store_true", help="say what would be erased; write nothing")
    p.add_argument("--lang", choices=REPORT_LANGUAGES,
                   help="language of what it says (default VEILLE_REPORT_LANGUAGE, else en)")
    p.set_defaults(func=cmd_erase)

    p = sub.add_parser("dead-letters", help="what went to mentions.dlq and why, oldest first; "
                                            "--replay sends them to mentions.raw again")
    _add_broker(p)
    p.add_argument("--reason", help="only this reason's (invalid_json, created_at_in_future...)")
    p.add_argument("--since", help="only those written from this time on (ISO 8601, UTC without "
                                   "an offset)")
    p.add_argument("--limit", type=int, help=f"the newest N (default {DEAD_LETTERS_SHOWN} "
                                             "listed; with --replay, all)")
    p.add_argument("--json", action="store_true", help="one JSON object per dead letter")
    p.add_argument("--replay", action="store_true",
                   help="send the chosen dead letters' original key and bytes to mentions.raw "
                        "again (after fixing what refused them)")
    p.set_defaults(func=cmd_dead_letters)

    def add_report(r: argparse.ArgumentParser) -> None:
        _add_broker(r)
        r.add_argument("--since", help="ISO 8601 start (default: 7 days of --tz before --until)")
        r.add_argument("--until", help="ISO 8601 end, excluded (default: now)")
        r.add_argument("--tz", default="UTC", help="time zone of the report: of --since and --until "
                       "without an offset, of its days and busiest hours (default UTC)")
        r.add_argument("--png", help="also write a chart of hourly received vs processed items")
        r.add_argument("--lang", choices=REPORT_LANGUAGES,
                       help="language of the report (default VEILLE_REPORT_LANGUAGE, else en)")
        r.add_argument("--minutes-per-case", type=float, metavar="M",
                       help="a moderator's time per case, minutes: the report then gives the "
                            "moderators each month's busiest hour needs (to size the team for "
                            "the year's peaks)")
        r.set_defaults(func=cmd_moderation_report)

    def add_lang(m: argparse.ArgumentParser, what: str) -> None:
        m.add_argument("--lang", choices=REPORT_LANGUAGES,
                       help=f"language of {what} (default VEILLE_REPORT_LANGUAGE, else en); "
                            "--json stays in English")

    p = sub.add_parser("moderate", help="moderator tools: list pending and closed cases, decide, "
                                        "serve the API, the report")
    msub = p.add_subparsers(dest="action", required=True)
    m = msub.add_parser("list", help="pending cases, oldest first (read from the topics)")
    _add_broker(m)
    m.add_argument("--brand", help="only this brand's cases")
    m.add_argument("--category", choices=METRIC_CATEGORIES,
                   help="only cases with this category (none: queued for a banned term alone)")
    m.add_argument("--limit", type=int, help="show at most this many")
    m.add_argument("--author", help=AUTHOR_FILTER_HELP)
    m.add_argument("--contains", metavar="WORDS", help=CONTAINS_FILTER_HELP)
    m.add_argument("--posted-since", help="only mentions posted from this time on (ISO 8601, UTC "
                                          "without an offset): a crisis' own cases, behind a backlog")
    m.add_argument("--sort", choices=SORTS, default="queued",
                   help="queued: oldest in the queue first (default); respond_by: earliest "
                        "answer deadline first")
    m.add_argument("--json", action="store_true", help="one JSON object per line")
    who = m.add_mutually_exclusive_group()
    who.add_argument("--assignee", help="only the cases assigned to this moderator (assign, escalate)")
    who.add_argument("--unassigned", action="store_true", help="only the cases no one is assigned")
    m.add_argument("--escalated", action="store_true",
                   help="only the escalated cases (escalate, at least once); with --unassigned: "
                        "the escalation queue (escalated to no one, or given back since); with "
                        "--assignee: those escalated to this moderator, or taken since")
    add_lang(m, "the table and its legend")
    _add_api(m)
    m.set_defaults(func=cmd_moderate_list)
    m = msub.add_parser("closed", help="closed cases, newest decision first: who decided what, and why")
    _add_broker(m)
    m.add_argument("--brand", help="only this brand's cases")
    m.add_argument("--author", help=AUTHOR_FILTER_HELP)
    m.add_argument("--contains", metavar="WORDS", help=CONTAINS_FILTER_HELP)
    m.add_argument("--category", choices=METRIC_CATEGORIES, help="only cases with this category")
    m.add_argument("--decision", type=decision_word(CLOSING_DECISIONS), metavar="DECISION",
                   help=f"only cases closed by this decision: {', '.join(CLOSING_DECISIONS)} (or in "
                        "French: " + ", ".join(fr for fr, en in FRENCH_DECISIONS.items()
                                               if en in CLOSING_DECISIONS
                                               and not _has_accented_twin(fr)) + ")")
    m.add_argument("--moderator", help="only the cases this moderator closed")
    m.add_argument("--since", help="ISO 8601, of --tz without an offset (default: a day before --until)")
    m.add_argument("--until", help="ISO 8601, excluded (default: now)")
    m.add_argument("--tz", default="UTC", help="time zone of the times shown and of --since and --until "
                   "without an offset, e.g. Europe/Paris (default UTC; --json stays in UTC)")
    m.add_argument("--limit", type=int, help="show at most this many")
    m.add_argument("--json", action="store_true", help="one JSON object per line")
    add_lang(m, "the table and its legend")
    _add_api(m)
    m.set_defaults(func=cmd_moderate_closed)
    m = msub.add_parser("show", help="one case whole: its text, author, link, deadline, who works "
                                     "on it, how it was escalated or closed")
    _add_broker(m)
    m.add_argument("case_id")
    m.add_argument("--json", action="store_true", help="as the API's GET /cases/{id}")
    add_lang(m, "the rows' names and sentences")
    _add_api(m)
    m.set_defaults(func=cmd_moderate_show)
    m = msub.add_parser("decide", help="write a decision to moderation.decisions (waits for the ack)",
                        description="Write a decision on a case, or a closing decision on several "
                                    "(a wave of copies of one complaint, a spam campaign).")
    _add_broker(m)
    m.add_argument("case_ids", nargs="+", metavar="CASE_ID",
                   help=f"the case, or up to {MAX_BULK_IDS} cases (each checked as one, the ones "
                        "accepted written in one batch; a line per case, exit status 1 if any is "
                        "refused or not acknowledged); several take only "
                        f"{', '.join(CLOSING_DECISIONS)}: "
                        "an escalation asks a lead to look at each case, and an assignment "
                        "depends on who works on each")
    m.add_argument("decision", type=decision_word(DECISIONS), metavar="DECISION",
                   help=f"{', '.join(DECISIONS)}; in French too: "
                        + ", ".join(f"{fr} ({en})" for fr, en in FRENCH_DECISIONS.items()
                                    if not _has_accented_twin(fr)) + " (any case)")
    m.add_argument("--moderator", required=True, help="who decides (recorded with the decision)")
    m.add_argument("--reason", help="why (free text, kept in the closed case)")
    m.add_argument("--assignee", help="escalate: who takes the case over (default: the escalation "
                                      "queue); assign: who works on it (default: --moderator)")
    m.add_argument("--no-check", action="store_true",
                   help="do not check first that the case is on the queue and pending")
    m.add_argument("--lang", choices=REPORT_LANGUAGES,
                   help="language of what it says on stderr (default VEILLE_REPORT_LANGUAGE, else "
                        "en); errors stay in English")
    _add_api(m)
    m.set_defaults(func=cmd_moderate_decide)
    m = msub.add_parser("serve", help="the moderation HTTP API")
    _add_broker(m)
    m.add_argument("--host", help=f"env {ENV_PREFIX}MODERATION_API_HOST (default 127.0.0.1)")
    m.add_argument("--port", type=int, help=f"env {ENV_PREFIX}MODERATION_API_PORT (default 8081)")
    m.set_defaults(func=cmd_moderate_serve)
    # `veille moderate report`: the same as `veille moderation report` (one letter apart: the
    # one a moderator types after `moderate list` was an argparse error).
    add_report(msub.add_parser("report", help="the moderation report (as `veille moderation report`)"))

    p = sub.add_parser("report", help="the brands' reputation report: mentions and their sentiment "
                                      "against the period before, platforms, languages, days, alert "
                                      "stories, most-followed negative mentions, terms")
    _add_broker(p)
    p.add_argument("--brand", help="only this brand (its id in the watch list; default: every "
                                   "brand of the watch list)")
    p.add_argument("--since", help="ISO 8601 start, of mentions posted (default: 7 days of --tz "
                                   "before --until)")
    p.add_argument("--until", help="ISO 8601 end, excluded (default: now)")
    p.add_argument("--tz", default="UTC", help="time zone of the report: of --since and --until "
                   "without an offset, of its days, busiest hour and times (default UTC)")
    p.add_argument("--lang", choices=REPORT_LANGUAGES,
                   help="language of the report (default VEILLE_REPORT_LANGUAGE, else en); --json "
                        "keeps English keys")
    p.add_argument("--json", action="store_true", help="the report as one JSON object")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help=f"the N most-followed negative mentions per brand (default 5, at most "
                        f"{REPORT_MAX_TOP})")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("moderation", help="moderation KPIs read from the topics")
    rsub = p.add_subparsers(dest="action", required=True)
    add_report(rsub.add_parser("report", help="received, processed share, rejection rate, busiest hours"))

    p = sub.add_parser(
        "detect", help="score a timestamp,value CSV with the spike detector",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # The rules of veille/detect.py (not imported here: it would slow every command down).
        epilog="Rows are scored by bucket (VEILLE_SPIKE_BUCKET_SECONDS, the agent's, else 5\n"
               "minutes), as the streaming spike agent does:\n"
               "  * a timestamp is aligned to the start of its bucket (00:07:53 counts in 00:05:00);\n"
               "  * a bucket with no row counts as 0 (at most a week of them in a row): a series\n"
               "    that omits its zero rows scores as one that writes them;\n"
               "  * rows in one bucket add up: each is written with the score of their sum,\n"
               "    alert=1 on the first of them only;\n"
               "  * a row whose bucket is before the previous row's is an error naming its line,\n"
               "    and so is a value that is no count >= 0 in ASCII digits (12, 3.5, 1e3; not\n"
               "    1_000, nan or inf);\n"
               "  * hours of the day and days are those of --timezone (default VEILLE_TIMEZONE,\n"
               "    else UTC), as the agent's for a brand of that zone.\n"
               "Only the input rows are written out. Other bucket sizes: python -m veille.detect.",
    )
    p.add_argument("series", help="CSV with a header and columns timestamp,value")
    p.add_argument("--out", required=True, help="CSV to write: every row + anomaly_score, alert")
    p.add_argument("--timezone", metavar="ZONE",
                   help="IANA time zone of the series' daily rhythm, e.g. Europe/Paris "
                        "(default: VEILLE_TIMEZONE, else UTC)")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("sentiment", help="score texts from stdin: one JSON line per text")
    p.add_argument("--jsonl", action="store_true", help="input lines are JSON with a `text` field")
    p.add_argument("--format", choices=("auto", "text"), default="auto",
                   help="auto: lines starting with { are JSON (default); text: always plain")
    p.set_defaults(func=cmd_sentiment)

    p = sub.add_parser("match", help="what the enrichment makes of texts from stdin with a watch list "
                                     "(brands, rules, language, sentiment, triage): try a watch list "
                                     "before deploying it")
    p.add_argument("--watchlist", help=f"the watch-list TOML file (env {ENV_PREFIX}WATCHLIST; default "
                                       "the packaged demo list)")
    p.add_argument("--jsonl", action="store_true", help="input lines are JSON raw mentions (at least "
                                                        "a `text`)")
    p.add_argument("--format", choices=("auto", "text"), default="auto",
                   help="auto: lines starting with { are JSON (default); text: always plain")
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("generate", help="generate synthetic demo mentions (JSONL)")
    p.add_argument("--hours", type=float, default=9.0,
                   help="hours of mentions, > 0 and at most 8784 (366 days; default 9)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--start", help="ISO 8601 start, UTC if no offset (default "
                   "2026-01-05T03:00:00Z: with the other defaults, the shipped sample)")
    p.add_argument("--out", required=True, help="JSONL file to write, - for stdout")
    p.set_defaults(func=cmd_generate)
    return parser


#: `veille moderation report`: the longest period, and the longest one drawn with --png.
REPORT_MAX_DAYS = 366
CHART_MAX_DAYS = 92
#: `veille report --top`: the most-followed negative mentions kept per brand (a bounded heap).
REPORT_MAX_TOP = 100
#: The slowest `collect replay --rate` (one mention every 1,000 s; below, a sleep overflows).
MIN_REPLAY_RATE = 0.001
#: The longest `alerts --follow --interval` (a day; far above, the sleep overflows).
MAX_INTERVAL_SECONDS = 86400.0


def _env_rate() -> float:
    """The demo's replay rate from VEILLE_REPLAY_RATE (default 200 mentions/s)."""
    text = os.environ.get("VEILLE_REPLAY_RATE", "").strip()
    if not text:
        return 200.0
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or rate <= 0:
        raise CliError(f"VEILLE_REPLAY_RATE={text!r} is not a rate > 0 (mentions/s)")
    return rate


def main(argv: Sequence[str] | None = None) -> int:
    import threading

    if threading.current_thread() is not threading.main_thread():  # no signals there
        return _main(argv)
    before = stop_on_sigterm()
    try:
        return _main(argv)
    except Stopped as exc:  # before the command ran (its arguments, the logging set-up)
        return 128 + exc.signum
    finally:
        if before is not None:  # (None: a handler set outside Python, which cannot be put back)
            signal.signal(signal.SIGTERM, before)  # main() called in another program's process


#: The commands that run until stopped (and the collectors but `collect replay`, unless --once):
#: in json mode (VEILLE_LOG_FORMAT) every line they write is a JSON record.
_LONG_RUNNING = ("demo", "worker", "broker", "moderate serve")


def _command_name(args: argparse.Namespace) -> str:
    """`worker`, `collect rss`, `moderate serve`...: the command as typed, without its options."""
    words = [getattr(args, name, None) for name in ("command", "collector", "action")]
    return " ".join(w for w in words if w)


def _long_running(args: argparse.Namespace) -> bool:
    name = _command_name(args)
    if name == "collect replay" or getattr(args, "once", False):
        return False
    return name in _LONG_RUNNING or name.startswith("collect ")


def _main(argv: Sequence[str] | None) -> int:
    import logging

    args = build_parser().parse_args(argv)  # first: --help works whatever the environment
    # Read before the settings are: a bad value is an error message, not a traceback.
    level = os.environ.get("VEILLE_LOG_LEVEL", "WARNING").strip().upper() or "WARNING"
    if level not in logging.getLevelNamesMapping():
        print(f"veille: error: VEILLE_LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, "
              "ERROR, CRITICAL", file=sys.stderr)
        return 2
    from veille.logs import configure
    from veille.settings import LOG_FORMATS, unknown_variables

    raw_format = os.environ.get("VEILLE_LOG_FORMAT", "")
    log_format = raw_format.strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        print(f"veille: error: VEILLE_LOG_FORMAT={raw_format!r} is not one of "
              f"{', '.join(LOG_FORMATS)}", file=sys.stderr)
        return 2
    command = _command_name(args)
    configure(level, log_format, command=command)
    # In json mode, a long-running process writes JSON lines only (its start warnings and the
    # error that ends it included); a one-shot command's messages are its output, for a person.
    serving = log_format == "json" and _long_running(args)

    def tell(text: str, level: int) -> None:
        if serving:
            say(text, file=sys.stderr, level=level)
        else:
            print(f"veille: {logging.getLevelName(level).lower()}: {text}", file=sys.stderr)

    for name, close in unknown_variables(os.environ):  # a typo silently kept a default
        tell(f"{name} is not a veille variable, ignored"
             + (f"; did you mean {close}?" if close else ""), logging.WARNING)
    from veille.logs import hold_client_records, thin_client_logs

    thin_client_logs()  # kafka-python's reconnection errors while the broker is away
    # A one-shot command's Kafka client records shown only if it ends in an error (`veille
    # alerts --follow` says an outage in its own "did not answer ...; reading on").
    held = None if _long_running(args) else hold_client_records()
    from veille.broker import BrokerError
    from veille.rules import WatchlistError

    try:
        return int(args.func(args))
    except KeyboardInterrupt as exc:
        return 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    except Exception as exc:
        from streams.topics import TopicError

        if held is not None:
            held.release()

        user_errors: tuple[type[Exception], ...] = (
            CliError, BrokerError, SettingsError, WatchlistError, TopicError,
            *_collector_errors(),
        )
        if isinstance(exc, user_errors) or type(exc).__module__.startswith("kafka"):
            tell(str(exc), logging.ERROR)
            return 2
        if isinstance(exc, BrokenPipeError) and _reader_gone():
            # `veille moderate list | head`: the reader had enough, which is no error (it
            # printed "veille: error: [Errno 32] Broken pipe" and exited 2; found in review,
            # 2026-12-07). The interpreter's last flush must not raise either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if isinstance(exc, OSError) and exc.errno is not None:
            # A file that cannot be read, a port taken...: said plainly. (Not an OSError
            # without an errno, such as a TimeoutError: a traceback, as for any other bug.)
            tell(str(exc), logging.ERROR)
            if level == "DEBUG":
                raise
            return 2
        raise
    finally:
        if held is not None:
            held.stop()


if __name__ == "__main__":
    sys.exit(main())
