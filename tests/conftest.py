"""Shared fixtures: one real embedded broker per session, unique topics per test, real workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from tests.kafka_helpers import start_broker
from veille.broker import EmbeddedBroker, free_port
from veille.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
#: A worker's log line once it runs: Faust's for roles all and agents, its own for role enrich.
READY = re.compile(rb"Worker\]: Ready|veille worker(?: \(enrich\))?: Ready")


def pytest_configure(config: pytest.Config) -> None:
    """With `--dist loadfile`, pytest-xdist hands out files with the most tests first by default,
    so the integration files of one or two long tests (a minute each, the suite's longest) came
    last and one process finished them alone. Handed out in collection order instead, they
    come before the hundreds of short unit tests, which then even out the processes."""
    if getattr(config.option, "loadscopereorder", None) is not None:
        config.option.loadscopereorder = False
    # Started with SIGINT ignored (`scripts/test &` or nohup in a script: a non-interactive shell
    # ignores SIGINT in its background jobs), every child inherited it, and Python sets no
    # KeyboardInterrupt handler where SIGINT is ignored: the tests' Ctrl-C to `alerts --follow`,
    # the demo and the broker did nothing, five of them failed after 20 s each. A handler of its
    # own is reset to the default at exec, so the children get Ctrl-C as from a terminal.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: Seconds each file of 10 s or more took in a run of the suite on 2 cores (2026-12-06, all
#: files' tests, setup and teardown included; 2,131 of the run's 2,203 s): they are handed out
#: first, longest first, so that no process is left with a long file at the end while the
#: others are done (the scheduling that best evens out the processes when the lengths are
#: known). A file not listed comes after them, in collection order. Only the order changes.
LONGEST_FILES = {
    "tests/integration/test_crash.py": 132, "tests/integration/test_moderation_api.py": 117,
    "tests/integration/test_crisis.py": 115, "tests/integration/test_ops_stack.py": 101,
    "tests/integration/test_broker_outage.py": 94, "tests/integration/test_alerts_cli.py": 93,
    "tests/integration/test_moderation.py": 90, "tests/integration/test_webhook.py": 88,
    "tests/integration/test_pipeline.py": 75, "tests/unit/test_webhook_memory.py": 73,
    "tests/unit/test_cli.py": 35, "tests/integration/test_demo.py": 62,
    "tests/integration/test_bad_input.py": 61, "tests/integration/test_stop_without_broker.py": 60,
    "tests/unit/test_deploy_prometheus.py": 60, "tests/integration/test_scaling.py": 60,
    "tests/integration/test_dead_letters.py": 52, "tests/unit/test_rules.py": 51,
    "tests/integration/test_roles.py": 51, "tests/integration/test_erase.py": 49,
    "tests/integration/test_crisis_quiet.py": 48, "tests/integration/test_watchlist_reload.py": 47,
    "tests/integration/test_crisis_detect.py": 27,
    "tests/integration/test_log_format.py": 45,
    "tests/integration/test_rss.py": 43, "tests/integration/test_bluesky.py": 41,
    "tests/integration/test_reddit.py": 38, "tests/integration/test_youtube.py": 39,
    "tests/integration/test_jetstream.py": 20,
    "tests/functional/test_enrich_stage.py": 36, "tests/unit/test_deploy_grafana.py": 35,
    "tests/unit/test_crisis_early.py": 34, "tests/integration/test_sign_in.py": 28,
    "tests/integration/test_mastodon.py": 25, "tests/unit/test_spikes.py": 25,
    "tests/unit/test_prefilter.py": 21, "tests/integration/test_consumer_example.py": 20,
    "tests/integration/test_broker.py": 20, "tests/integration/test_secure_broker.py": 19,
    "tests/integration/test_mentions_cli.py": 19, "tests/unit/test_moderation_queue.py": 17,
    "tests/unit/test_cli_match.py": 16, "tests/unit/test_webhook_overload.py": 15,
    "tests/unit/test_rss_entries.py": 14, "tests/unit/test_cli_inputs.py": 14,
    "tests/integration/test_secure_proxy.py": 14, "tests/unit/test_crisis.py": 13,
    "tests/unit/test_timezone.py": 13, "tests/unit/test_spike_agent_recovery.py": 10,
    "tests/unit/test_deploy_notifications.py": 18,
    "tests/integration/test_moderation_cli_api.py": 15,
    "tests/integration/test_answers_end_to_end.py": 21,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first (LONGEST_FILES); a stable sort keeps every file's tests in order."""
    def weight(item: pytest.Item) -> float:
        return -LONGEST_FILES.get(Path(item.path).relative_to(ROOT).as_posix(), 0)

    items.sort(key=weight)


@pytest.fixture(autouse=True)
def _log_handler_filters_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """A command run in the test's process (cli.main) puts its filters on the root logger's
    handlers, which during a test are pytest's own, kept for the whole session: its RepeatFilter
    then held back a later test's kafka-python record seen less than 30 s before, and that test,
    reading caplog, failed when it came after such a file in its process. Each test ends with
    those handlers' filters as it found them."""
    plugin = request.config.pluginmanager.get_plugin("logging-plugin")
    handlers = [h for h in (getattr(plugin, name, None) for name in (
        "caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")) if h is not None]
    before = [list(h.filters) for h in handlers]
    yield
    for handler, filters in zip(handlers, before, strict=True):
        handler.filters[:] = filters


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The real Tansu broker. A missing binary is an error here, never a skip."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    b = start_broker(log_path=log)
    yield b
    b.stop()


#: The consumer groups' session timeout of the tests' workers: Tansu completes a group's first
#: join after about half of it, rounded up to a second (3 s at the default 6 s, 2 s at 4 s), and
#: a worker joins two groups on its way to consuming (the Faust agents', the enrichment
#: stage's). 4 s is still four heartbeats; the broker outage tests keep the default.
TEST_SESSION_TIMEOUT = 4.0


@pytest.fixture
def settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings with topics and consumer group of this test only."""
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {},
        broker_url=broker.url,
        app_id=f"veille-test-{tag}",
        topic_prefix=f"t{tag}.",
        data_dir=str(tmp_path / "state"),
        metrics_port=free_port(),
        broker_session_timeout=TEST_SESSION_TIMEOUT,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a subprocess these settings (every non-default field)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.metadata.get("env", True) and value != f.default and value not in ("", None):
            env["VEILLE_" + f.name.upper()] = str(value)
    # Always: unset, the app id follows the topic prefix, which these settings may not do.
    env["VEILLE_APP_ID"] = settings.app_id
    env["VEILLE_LOG_LEVEL"] = "INFO"
    return env


#: Worker.metric(default=...) and by_label(default=...): no default, absence is an error.
MISSING: Any = object()

#: The sample names of a metric family, by type (prometheus_client's parser names a counter's
#: family without its `_total`).
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


class Scrape(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    """Samples of a /metrics page keyed by (name, labels), and `exported`: every sample name
    the page's metric families may have, those of families without any sample included."""

    exported: frozenset[str]


def parse_page(text: str) -> Scrape:
    from prometheus_client.parser import text_string_to_metric_families

    out = Scrape()
    exported: set[str] = set()
    for fam in text_string_to_metric_families(text):
        exported.update(fam.name + s for s in _SAMPLE_SUFFIXES.get(fam.type, ("",)))
        for s in fam.samples:
            exported.add(s.name)
            out[(s.name, frozenset(s.labels.items()))] = s.value
    out.exported = frozenset(exported)
    return out


def scrape_page(url: str) -> Scrape:
    """The whole /metrics page at `url`."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        return parse_page(r.read().decode())


class Worker:
    """`veille worker` as a real subprocess."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings = settings
        self.log_path = log
        self._log = open(log, "wb")
        self._signalled: set[int] = set()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "veille.cli", "worker"],
            env=settings_env(settings), stdout=self._log, stderr=subprocess.STDOUT,
            cwd=str(log.parent), start_new_session=True,
        )

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.metrics_host}:{self.settings.metrics_port}/metrics"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            if READY.search(self.log_path.read_bytes()):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def metric(self, name: str, *, default: Any = MISSING) -> Any:
        """The sum of the worker's samples of `name`, over every label set.

        A metric the worker does not export at all is an AssertionError naming it (a renamed
        metric must not read as 0), unless `default` is given: then it is returned instead, for
        the callers that expect the metric may not exist. A metric whose family is exported
        without any sample yet (a labelled one with no child) is 0.
        """
        from veille.demo_run import scrape

        # Asked for alone (cheap for the worker, which tests poll); a metric the exporter cannot
        # filter on (a collector without describe(), a labelled one with no child yet) comes
        # from the whole page.
        got = [v for (n, _), v in scrape(self.metrics_url, timeout=5, names=(name,)).items()
               if n == name]
        if got:
            return sum(got)
        page = scrape_page(self.metrics_url)
        if name not in page.exported:
            if default is not MISSING:
                return default
            raise AssertionError(f"{name} is not exported by the worker at {self.metrics_url}")
        return sum((v for (n, _), v in page.items() if n == name), 0.0)

    def send(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` (once) without waiting: see stop()."""
        if self.proc.poll() is None and sig not in self._signalled:
            self._signalled.add(sig)
            self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.send(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    workers: list[Worker] = []

    def start(settings: Settings, ready: bool = True) -> Worker:
        w = Worker(settings, tmp_path / f"worker{len(workers)}.log")
        workers.append(w)
        if ready:
            w.wait_ready()
        return w

    yield start
    for w in workers:  # all asked to stop at once, then waited for: they stop side by side
        w.send()
    for w in workers:
        w.stop()
