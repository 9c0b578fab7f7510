"""Wiring: Settings -> the Faust app with its agents, metrics and topics, ready to run."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from agents import moderation, spikes
from agents.enrich import Enricher, enrichment, install
from streams.topics import Topics, declare
from veille.logs import formatter, say, thin_client_logs, use_format
from veille.metrics import Metrics, ModerationMetrics, SpikeMetrics, agents_paused
from veille.reload import Reloader, WatchedFile
from veille.rules import Watchlist
from veille.sentiment import Analyzer
from veille.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    app: Any
    topics: Topics
    metrics: Metrics
    enricher: Enricher
    registry: CollectorRegistry
    #: The watch list, followed while the worker runs (polled by a timer of the app).
    reloader: Reloader[Watchlist]


#: VEILLE_WORKER_ROLE values: what a worker runs.
ROLES = ("all", "enrich", "agents")
#: Asked to stop (SIGTERM, SIGINT), a worker that has not stopped this long after leaves at
#: once (exit 128 + the signal), as a second signal makes it: what it had not committed is read
#: again by the next owner. Under docker-compose's 30 s stop_grace_period, so never a SIGKILL.
#: Found in review (2026-12-05): with the broker gone and batches in hand, Faust's stop waited
#: for a commit for ever, and only SIGKILL ended the worker.
STOP_GRACE_SECONDS = 20.0
#: A worker started while its broker does not answer tries again after 1 s, doubling up to this.
BROKER_RETRY_MAX_SECONDS = 30.0


class StopWatchdog:
    """Arms on the first stop signal; a second signal, or STOP_GRACE_SECONDS, ends the process."""

    def __init__(self, name: str, grace: float = STOP_GRACE_SECONDS) -> None:
        self.name, self.grace = name, grace
        self.signum: int | None = None

    def signalled(self, signum: int) -> None:
        import threading

        if self.signum is not None:
            self.exit(signum, "a second stop signal")
        self.signum = signum
        timer = threading.Timer(self.grace, self.exit,
                                (signum, f"not stopped {self.grace:.0f} s after the signal"))
        timer.daemon = True
        timer.start()

    def exit(self, signum: int, why: str) -> None:
        import os

        print(f"{self.name}: {why} (is the broker unreachable?); leaving without a clean stop: "
              "what was not committed is read again", file=sys.__stderr__, flush=True)
        os._exit(128 + signum)


def check_role(settings: Settings) -> str:
    if settings.worker_role not in ROLES:
        raise SettingsError(f"VEILLE_WORKER_ROLE={settings.worker_role!r} is not one of "
                            f"{', '.join(ROLES)}")
    return settings.worker_role


def build(settings: Settings, registry: CollectorRegistry | None = None,
          analyzer: Analyzer | None = None, watched: WatchedFile[Watchlist] | None = None) -> Pipeline:
    """The Faust app of a worker of role `all` (the enrichment stage as one of its services) or
    `agents` (without it). `watched`: the watch list already loaded (see enrichment)."""
    from veille.app import create_app  # Faust: not imported by what runs no app (veille match)

    role = check_role(settings)
    registry = registry if registry is not None else CollectorRegistry()
    reloader, metrics, enricher = enrichment(settings, registry, analyzer, watched)
    watchlist = reloader.value
    app = create_app(settings)
    topics = declare(app, settings)
    if role == "all":
        install(app, settings, enricher, metrics)
    else:  # the enrichment stage beats in role all; without it, a client of its own does
        install_heartbeat(app, settings, metrics)

    async def count_rebalance(sender: Any, *args: Any, **kwargs: Any) -> None:
        metrics.rebalances.inc()

    app.on_partitions_assigned.connect(count_rebalance)  # type: ignore[arg-type]
    agents_paused(registry, app.paused_seconds)

    spike_metrics = SpikeMetrics(registry, watchlist.brand_ids, settings.spike_bucket_seconds)
    reloader.on_change(spikes.install(app, topics, watchlist, spike_metrics, settings,
                                      send_errors=metrics.send_errors))
    moderation_metrics = ModerationMetrics(registry, watchlist.brand_ids)
    reloader.on_change(lambda changed: moderation_metrics.watch(changed.brand_ids))
    moderation.install(app, topics, moderation_metrics, settings)
    if settings.watchlist_reload_seconds > 0:
        @app.timer(settings.watchlist_reload_seconds)
        async def follow_watchlist() -> None:
            """The watch list's changes, taken on the agents' loop between two of their events
            (and between two slices of the enrichment stage, which plans one without yielding),
            the file loaded in a thread meanwhile."""
            await reloader.check_beside()
    return Pipeline(app, topics, metrics, enricher, registry, reloader)


def serve_metrics(settings: Settings, registry: CollectorRegistry, name: str) -> Any:
    """/metrics on settings.metrics_host:metrics_port, announced on stdout; the server."""
    from veille.broker import url_host
    from veille.exposition import start_http_server

    try:
        server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host,
                                            registry=registry)
    except OSError as exc:  # "[Errno 98] Address already in use" alone until 2026-12-05
        raise SettingsError(
            f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port} "
            f"({exc.strerror or exc}): set VEILLE_METRICS_PORT (--metrics-port; 0 = any free "
            "port) or VEILLE_METRICS_HOST (--metrics-host)") from None
    where = f"{url_host(settings.metrics_host)}:{server.server_address[1]}"
    say(f"{name}: metrics at http://{where}/metrics")
    return server


def ensure_topics_waiting(settings: Settings, ensure: Callable[[Settings], list[str]] | None = None,
                          sign_in: Callable[[Settings], tuple[bool, str]] | None = None,
                          sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """ensure_topics, once the broker answers: a worker started while its broker is away (a
    host rebooted, a broker outage, the containers started in another order) waits for it, as
    the collectors do, saying so at WARNING before each try.

    Found in review (2026-12-06): ensure_topics' 15 s bootstrap timeout ended the worker (exit 2,
    "cannot reach the broker"), every role, so a restart policy started it over and over
    (Kubernetes: CrashLoopBackOff, its back-off of up to 5 min delaying the recovery after the
    broker came back), against the README's "a broker that does not answer is waited for". A
    broker that answers but refuses veille's settings, or topics it cannot work with, are still
    an error at once."""
    from kafka.errors import RetriableError

    from streams.topics import BrokerNotReady, ensure_topics

    ensure = ensure or ensure_topics
    sign_in = sign_in or _sign_in
    delay = 1.0
    while True:
        signed_in, problem = sign_in(settings)
        if problem:
            raise SettingsError(f"cannot sign in to the broker at {settings.broker_url}: {problem}")
        if signed_in:
            try:
                return ensure(settings)
            except BrokerNotReady as exc:  # unreachable, or a topic's creation to retry
                why = str(exc)
            except RetriableError as exc:  # a timeout, a node not ready yet (found in review,
                why = f"{type(exc).__name__}: {exc}"  # 2026-12-06: NodeNotReadyError ended it)
        else:
            why = _nobody_answers(settings)
        log.warning("waiting for the broker at %s (%s); trying again in %.0f s",
                    settings.broker_url, why, delay)
        sleep(delay)
        delay = min(delay * 2, BROKER_RETRY_MAX_SECONDS)


def _nobody_answers(settings: Settings) -> str:
    """Why the worker waits when no bootstrap server answers, naming what may be a mistake in
    VEILLE_BROKER_URL: a host name that does not resolve (a typo waits for ever otherwise,
    said only as "no answer"; found in review, 2026-12-06)."""
    import socket

    unresolved = []
    for host, port in settings.broker_addresses:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            unresolved.append(host)
    if unresolved:
        return (f"no bootstrap server answers; {', '.join(unresolved)} does not resolve: a broker "
                "not started yet, or a wrong host name in VEILLE_BROKER_URL")
    return ("no bootstrap server answers: a broker down or starting, or a wrong port in "
            "VEILLE_BROKER_URL")


def _sign_in(settings: Settings) -> tuple[bool, str]:
    import asyncio

    from veille.broker import sign_in

    return asyncio.run(sign_in(settings))


def install_heartbeat(app: Any, settings: Settings, metrics: Metrics) -> None:
    """The worker's heartbeat as a service of the Faust app, for a worker without the
    enrichment stage (whose producer otherwise carries it): the PipelineStalled alert reads its
    age, so an `agents` worker must beat too."""
    import mode
    from aiokafka import AIOKafkaClient

    from agents.enrich import beat_while

    class Heartbeat(mode.Service):
        async def on_start(self) -> None:
            self.client = AIOKafkaClient(**settings.kafka_client_options(),
                                         client_id=f"{settings.app_id}-heartbeat")
            await self.client.bootstrap()
            self.add_future(beat_while(self.client, metrics, lambda: not self.should_stop))

        async def on_stop(self) -> None:
            await self.client.close()

    app.service(Heartbeat)


def run(settings: Settings, watched: WatchedFile[Watchlist] | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM: topics ensured, /metrics served, its role started.
    `watched`: the watch list the command loaded (see enrichment); loaded here without it."""
    if check_role(settings) == "enrich":  # no Faust app: Faust not even imported
        run_enrich(settings, watched)
        return
    import faust
    import mode.loop

    pipeline = build(settings, watched=watched)  # no broker I/O: Faust connects when the worker starts
    # Served while the broker is waited for: a liveness probe on /metrics does not restart a
    # worker that is only waiting for its broker (README, Deploy: Probes).
    server = serve_metrics(settings, pipeline.registry, "veille worker")
    try:
        ensure_topics_waiting(settings)
    except BaseException:
        server.shutdown()
        raise
    # uvloop: the worker is bound by per-message event-loop overhead, which uvloop trims.
    mode.loop.use("uvloop")
    watchdog = StopWatchdog("veille worker")
    try:
        class Worker(faust.Worker):
            def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
                # No terminal spinner: in a service it wrote cursor escapes into the logs, and
                # its handler set the root logger to DEBUG, so that every debug call of Faust,
                # mode and aiokafka built a log record to be thrown away by the console's level.
                self.spinner = None
                super().on_setup_root_logger(logger, level)
                use_format(logger)  # VEILLE_LOG_FORMAT=json: Faust's handlers write JSON lines
                thin_client_logs(logger)  # aiokafka's reconnection errors: 133 lines/s

            def _schedule_shutdown(self, signal: Any) -> None:  # mode's, on SIGINT/SIGTERM
                watchdog.signalled(int(signal))
                super()._schedule_shutdown(signal)

            async def on_startup_finished(self) -> None:
                await super().on_startup_finished()
                if not getattr(self, "_shutdown_immediately", False):
                    # As the enrich role says it (Faust says it at INFO only), on the real
                    # stdout: Faust redirects sys.stdout to its log at WARNING.
                    say("veille worker: Ready", file=sys.__stdout__)

        worker = Worker(
            pipeline.app, loglevel=settings.log_level.lower(), quiet=True,
            override_logging=True,
        )
        worker.execute_from_commandline()
    finally:
        server.shutdown()


def run_enrich(settings: Settings, watched: WatchedFile[Watchlist] | None = None) -> None:
    """A worker of role `enrich`: the enrichment stage alone, on asyncio without Faust.

    Its consumer group is the stage's own (`<app id>-enrich`), so these workers never join the
    Faust agents' group, whose members must all run the same agents. Stops on SIGINT/SIGTERM
    once the batch in hand is delivered and committed; exits non-zero if the stage fails.
    """
    import asyncio
    import signal

    import uvloop

    from agents.enrich import EnrichStage

    handler = logging.StreamHandler()  # (none added under the CLI, which configured logging)
    handler.setFormatter(formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])
    thin_client_logs()
    registry = CollectorRegistry()
    reloader, metrics, enricher = enrichment(settings, registry, watched=watched)
    stage = EnrichStage(settings, enricher, metrics)
    server = serve_metrics(settings, registry, "veille worker (enrich)")
    try:
        ensure_topics_waiting(settings)  # /metrics answers meanwhile (see run)
    except BaseException:
        server.shutdown()
        raise

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        watchdog = StopWatchdog("veille worker (enrich)")

        def on_signal(signum: int) -> None:
            watchdog.signalled(signum)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        await stage.start()
        tasks = [asyncio.create_task(loop) for loop in stage.loops()]
        # The watch list's changes, taken between two slices (the stage plans a slice without
        # yielding to the loop): never a slice half matched with the old one. Not with 0 (read
        # at start only): a task that ends is taken for the stage ending, and stops the worker.
        if settings.watchlist_reload_seconds > 0:
            tasks.append(asyncio.create_task(reloader.follow(lambda: not stop.is_set())))
        say("veille worker (enrich): Ready")
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopping}:
                task.result()  # a stage failure ends the worker with its error
        finally:
            await stage.stop()
            for task in (stopping, *tasks):
                task.cancel()
            await asyncio.gather(stopping, *tasks, return_exceptions=True)

    try:
        uvloop.run(main())
    finally:
        server.shutdown()
