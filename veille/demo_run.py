"""`veille demo`: embedded broker + a worker + a replay of the demo data, with a live summary."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import IO, Any

from veille.broker import (
    STOP_SIGNALS,
    EmbeddedBroker,
    dies_with,
    free_port,
    port_is_free,
    signals_held,
    url_host,
)
from veille.logs import formatter, say
from veille.settings import Settings


def packaged_demo_data() -> Path:
    return Path(str(resources.files("veille") / "data" / "demo_mentions.jsonl"))


def scrape(url: str, timeout: float = 2.0, names: Iterable[str] = ()
           ) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Samples of a /metrics page, keyed by (name, sorted labels).

    `names` (sample names, e.g. "veille_raw_messages_total") asks the exporter for those only
    (prometheus-client's `name[]` filter). Rendering the whole page costs the worker ~9 ms of
    CPU with every series present, so a caller polling several times a second must filter:
    at 50 polls a second a full scrape takes nearly half of the worker's core.
    """
    from prometheus_client.parser import text_string_to_metric_families

    query = urllib.parse.urlencode([("name[]", n) for n in names])
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Summary:
    """Turns successive scrapes into one terminal line: rate, per-brand volume and sentiment."""

    def __init__(self) -> None:
        self.last_total = 0.0
        self.last_time = time.monotonic()

    def line(self, samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> str:
        per_brand: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (name, labels), value in samples.items():
            if name == "veille_mentions_enriched_total" and value:
                d = dict(labels)
                per_brand[d["brand"]][d["sentiment"]] += value
        total = raw = samples.get(("veille_raw_messages_total", ()), 0.0)
        dead = sum(v for (n, _), v in samples.items() if n == "veille_dead_letters_total")
        dups = samples.get(("veille_duplicates_dropped_total", ()), 0.0)
        now = time.monotonic()
        rate = (total - self.last_total) / max(now - self.last_time, 1e-6)
        self.last_total, self.last_time = total, now
        parts = [f"{rate:7.0f} msg/s", f"read {int(raw)}"]
        for brand in sorted(per_brand):
            s = per_brand[brand]
            n = sum(s.values())
            scored = n - s.get("unscored", 0.0) or 1.0
            parts.append(
                f"{brand} {int(n)} (+{100 * s.get('positive', 0) / scored:.0f}% "
                f"={100 * s.get('neutral', 0) / scored:.0f}% "
                f"-{100 * s.get('negative', 0) / scored:.0f}%)"
            )
        cases = sum(v for (n, _), v in samples.items()
                    if n == "veille_moderation_cases_received_total")
        pending = sum(v for (n, _), v in samples.items() if n == "veille_moderation_backlog_items")
        parts.append(f"moderation cases {int(cases)} ({int(pending)} pending)")
        parts.append(f"dead letters {int(dead)}, duplicates {int(dups)}")
        return " | ".join(parts)


def unreplayable(data: Path) -> str | None:
    """Why `data` cannot be the demo's replay, before anything starts; None when it can (an
    empty or unreadable file made a demo of nothing that ran until Ctrl-C and exited 0)."""
    if not data.is_file():
        return "not a regular file" if data.exists() else "no such file"
    try:
        with data.open("rb") as fh:
            first = fh.read(1)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not first:
        return "empty: no mention to replay"
    from veille.collectors.replay import ReplayFileError, check_file

    try:  # a CSV without a text column, a *.gz that is not gzip (the replay would stop at once)
        check_file(data)
    except ReplayFileError as exc:
        return str(exc).removeprefix(f"{data}: ")
    return None


#: Loggers of the Kafka clients the demo process itself runs (its replay's producer, the alerts'
#: reader): written to client.log in the demo's folder, not to the terminal, where the demo says
#: what happened in its own words (a broker that died printed kafka-python's tracebacks there).
DEMO_CLIENT_LOGGERS = ("kafka", "aiokafka")


def run_demo(
    settings: Settings,
    *,
    rate: float = 200.0,
    file: str | None = None,
    duration: float = 0.0,
    out: IO[str] | io.TextIOBase = sys.stdout,
) -> int:
    """Run until Ctrl-C (or `duration` seconds when > 0). Stops everything it started."""
    data = Path(file) if file is not None else packaged_demo_data()
    problem = unreplayable(data)
    if problem is not None:
        say(f"veille demo: {data}: {problem}", file=sys.stderr, level=logging.ERROR)
        return 2
    broker: EmbeddedBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    page: subprocess.Popen[bytes] | None = None
    alerts: Any = None
    replaying: threading.Thread | None = None
    replay_producer: Any = None
    stop, hurry = threading.Event(), threading.Event()
    phase = ["start"]  # start -> live -> cleanup

    def on_signal(*_: object) -> None:
        """Ctrl-C, SIGTERM, SIGHUP. Starting: stop at once (a broker that does not answer made
        it wait ~30 s); live: end the loop; stopping already: stop the worker without waiting."""
        if phase[0] == "cleanup" or stop.is_set():
            hurry.set()
        stop.set()
        if phase[0] == "start":
            raise KeyboardInterrupt

    # SIGHUP too: closing the terminal must stop the broker and worker it started, not orphan them.
    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    workdir = Path(tempfile.mkdtemp(prefix="veille-demo-"))
    out_closed = False
    client_log = logging.FileHandler(workdir / "client.log", delay=True)
    client_log.setFormatter(formatter())  # VEILLE_LOG_FORMAT's
    propagated = {}
    for name in DEMO_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        propagated[name] = logger.propagate
        logger.propagate = False
        logger.addHandler(client_log)
    try:
        if not settings.broker_url_set:
            port = settings.embedded_broker_port
            if not port_is_free("127.0.0.1", port):
                print(f"port {port} is taken (VEILLE_EMBEDDED_BROKER_PORT): using a free one",
                      file=out, flush=True)
                port = free_port()
            # Assigned before it starts: a Ctrl-C while it starts still stops it.
            broker = EmbeddedBroker(port, log_path=workdir / "broker.log")
            broker.start()
            settings = settings.with_(broker_url=broker.url)
            print(f"embedded broker (Tansu): {broker.url}", file=out, flush=True)
        else:
            print(f"broker: {settings.broker_url}", file=out, flush=True)
        from streams.topics import ensure_topics

        ensure_topics(settings)
        metrics_port = settings.metrics_port
        if not metrics_port or not port_is_free(settings.metrics_host, metrics_port):
            metrics_port = free_port(settings.metrics_host)
        env = dict(
            os.environ,
            VEILLE_BROKER_URL=settings.broker_url,
            VEILLE_METRICS_PORT=str(metrics_port),
            VEILLE_METRICS_HOST=settings.metrics_host,
            VEILLE_DATA_DIR=str(workdir / "state"),
        )
        log = open(workdir / "worker.log", "wb")
        with signals_held():  # a Ctrl-C now is delivered once `worker` can be stopped
            worker = subprocess.Popen(
                [sys.executable, "-m", "veille.cli", "worker"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                # Killed with the demo (SIGKILL, OOM): stopped cleanly rather than left running.
                preexec_fn=dies_with(os.getpid(), signal.SIGTERM),
            )
        page, page_url = _start_page(settings, env, workdir)
        metrics_url = f"http://{url_host(settings.metrics_host)}:{metrics_port}/metrics"
        print(f"metrics: {metrics_url}", file=out)
        sign_in = ("the team token (VEILLE_MODERATION_API_TOKEN) and your name"
                   if settings.moderation_api_token.strip() else "your name")
        print(f"moderation page: {page_url} (in a browser; sign in with {sign_in})", file=out)
        print(f"logs: {workdir}", file=out)
        print(f"replaying {data} at {rate:g} mentions/s (Ctrl-C stops everything)", file=out)
        veille = _veille_command()
        print(f"meanwhile, in another terminal: {veille} alerts --follow --broker-url "
              f"{settings.broker_url}, or {veille} moderate list --broker-url "
              f"{settings.broker_url}", file=out, flush=True)

        from veille.collectors.producer import make_producer
        from veille.collectors.replay import replay

        result: dict[str, str] = {}
        # The demo's own: closed by the demo when it stops, whatever the broker's state (left to
        # the replay thread, a producer still waiting for a dead broker at exit printed
        # kafka-python's atexit traceback; found in review, 2026-12-05).
        replay_producer = make_producer(settings)

        def run_replay() -> None:
            try:
                report = replay(data, settings, rate=rate, timestamps="shift", progress=False,
                                should_stop=stop.is_set, producer=replay_producer)
                result["report"] = report.summary()
                if report.all_refused and not stop.is_set():
                    result["nothing"] = (f"no mention of {data} could be sent: every "
                                         f"{report.unit} was refused; {report.hint}")
            except Exception as exc:  # shown to the user; the demo ends with an error
                result["report"] = f"replay failed: {exc}"
                result["failed"] = f"the replay of {data} failed: {exc}"

        thread = replaying = threading.Thread(target=run_replay, name="replay", daemon=True)
        thread.start()
        # The crisis alerts as they come: each story event on reputation.alerts, one line.
        from streams.topics import REPUTATION_ALERTS
        from veille.alerts_view import describe
        from veille.moderate.store import TopicReader

        # In the moderators' language (VEILLE_REPORT_LANGUAGE), as `veille alerts` writes them.
        alerts = TopicReader(settings, {REPUTATION_ALERTS: lambda event: print(
            f"alert: {describe(event, lang=settings.report_language)}", file=out, flush=True)},
            ordered=True)
        summary = Summary()
        started = time.monotonic()
        reported = False
        last_line, last_print = "", 0.0
        phase[0] = "live"
        if stop.is_set():  # a signal between the last step and here
            return 0

        def wait() -> bool:
            """Two seconds, less when `duration` ends sooner; True when asked to stop."""
            left = duration - (time.monotonic() - started) if duration else 2.0
            return stop.wait(max(0.0, min(2.0, left)))

        while not wait():
            # The broker first: a worker that lost it may exit too (one still starting does),
            # and the broker's death is then what to say.
            if broker is not None and not broker.running():
                print(f"the embedded broker stopped; see {workdir}/broker.log", file=out,
                      flush=True)
                return 1
            if worker.poll() is not None:
                print(f"worker exited with code {worker.returncode}; see {workdir}/worker.log",
                      file=out, flush=True)
                return 1
            if page is not None and page.poll() is not None:  # the demo goes on without it
                print(f"the moderation page stopped (code {page.returncode}); see "
                      f"{workdir}/moderation.log", file=out, flush=True)
                page = None
            try:
                alerts.refresh()
            except Exception as exc:  # the broker busy or restarting: read on at the next turn
                print(f"cannot read {REPUTATION_ALERTS} yet: {exc}", file=out, flush=True)
            try:
                line = summary.line(scrape(metrics_url))
            except OSError:
                line = "waiting for the worker to serve its metrics..."
            # A quiet pipeline prints a line every 30 s, not every 2 s.
            if line.split("|", 1)[-1] != last_line or time.monotonic() - last_print > 30:
                print(line, file=out, flush=True)
                last_line, last_print = line.split("|", 1)[-1], time.monotonic()
            if not thread.is_alive() and not reported and "report" in result:
                print(f"replay: {result['report']}", file=out, flush=True)
                reported = True
                if "nothing" in result:  # a demo of nothing: an error, not a quiet success
                    say(f"veille: error: demo: {result['nothing']}", file=sys.stderr,
                        level=logging.ERROR)
                    return 1
                if "failed" in result:  # the file could not be read on: nothing more comes
                    say(f"veille: error: demo: {result['failed']}", file=sys.stderr,
                        level=logging.ERROR)
                    return 1
            if duration and time.monotonic() - started >= duration:
                break
        return 0
    except KeyboardInterrupt:  # a signal while starting
        return 0
    except BrokenPipeError:  # the output was closed (`| head`): stop quietly
        out_closed = True
        return 0
    finally:
        phase[0] = "cleanup"
        stop.set()
        if replay_producer is not None:
            from veille.collectors.producer import close_now

            # What it sent is flushed while the broker runs (a few seconds at most); a broker
            # that is gone gets no wait: its batches are dropped, as the demo is over.
            alive = broker is None or broker.running()
            if replaying is not None:
                replaying.join(3.0 if alive else 0.0)
            if alive and (replaying is None or not replaying.is_alive()):
                try:
                    replay_producer.close(timeout=5)
                except Exception:  # noqa: BLE001 (the broker went meanwhile)
                    close_now(replay_producer, 1.0)
            else:
                close_now(replay_producer, 1.0)
            if replaying is not None:
                replaying.join(2.0)
        if alerts is not None:
            try:
                alerts.close()
            except Exception:  # noqa: BLE001 (the broker gone: nothing to close cleanly)
                pass
        stopped = []
        if page is not None:
            _stop(page, 5.0)
            stopped.append("moderation page")
        if worker is not None:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                # Up to 20 s for a clean stop (its batch delivered and committed); a second
                # Ctrl-C, or a broker that is gone, does not wait for it.
                deadline = time.monotonic() + 20
                while (worker.poll() is None and time.monotonic() < deadline
                       and not hurry.is_set() and (broker is None or broker.running())):
                    time.sleep(0.1)
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            stopped.append("worker")
        if broker is not None:
            broker.stop()
            stopped.append("broker")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for name, propagate in propagated.items():
            logging.getLogger(name).removeHandler(client_log)
            logging.getLogger(name).propagate = propagate
        client_log.close()
        if out_closed:
            if sys.stdout in (out, getattr(out, "stream", None)):  # (JsonLines' stream)
                # nothing more can reach it, not even the exit's flush
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        else:
            try:
                said = (", ".join(stopped[:-1]) + " and " * (len(stopped) > 1) + stopped[-1]
                        + " shut down") if stopped else "nothing was running"
                logs = f"; logs kept in {workdir} (remove it when done)"
                print(f"demo stopped: {said}{logs}", file=out, flush=True)
            except (BrokenPipeError, ValueError):
                pass


def _start_page(settings: Settings, env: dict[str, str], workdir: Path
                ) -> tuple[subprocess.Popen[bytes], str]:
    """`veille moderate serve` on 127.0.0.1 (its port, or a free one when taken), logging to
    moderation.log: the moderation page of the demo's cases (no token set: loopback only, signed
    in by a name). Returns the process and the page's address."""
    port = settings.moderation_api_port
    if not port_is_free("127.0.0.1", port):
        port = free_port()
    log = open(workdir / "moderation.log", "wb")
    with signals_held():
        page = subprocess.Popen(
            [sys.executable, "-m", "veille.cli", "moderate", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=dies_with(os.getpid(), signal.SIGTERM),
        )
    return page, f"http://127.0.0.1:{port}/ui"


def _stop(process: subprocess.Popen[bytes], wait: float) -> None:
    """SIGTERM, then SIGKILL after `wait` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _veille_command() -> str:
    """How to run veille from another terminal: `veille` when it is on the PATH as this one,
    else the script beside this interpreter (`.venv/bin/veille` after scripts/demo, whose
    virtualenv another shell has not activated)."""
    import shutil

    here = Path(sys.executable).parent / "veille"
    found = shutil.which("veille")
    if found is not None and Path(found).resolve() == here.resolve():
        return "veille"
    if here.exists():
        try:
            return str(here.relative_to(Path.cwd()))
        except ValueError:
            return str(here)
    return "veille"
