"""Log hygiene: the Kafka clients' repeated messages, let through once in a while with a count.

With the broker away, aiokafka and kafka-python log an ERROR at every reconnection attempt of
every connection: a worker of role `all` wrote 8,000 lines in 60 s (133 a second; half a million
in an hour-long outage), which fills disks and log pipelines and buries the errors that matter.
The outage itself stays visible: the first message of each kind goes through at once, then one
every `interval` seconds saying how many like it were held back; the metrics
(veille_heartbeat_timestamp_seconds, veille_agent_send_errors_total,
veille_collector_send_errors_total) tell the outage without the logs.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import IO

from veille.settings import LOG_FORMATS

#: Loggers whose repeated messages are thinned out (and their children).
#: asyncio too: aiokafka's futures that fail while the broker is gone are logged by asyncio
#: ("Future exception was never retrieved"), hundreds a second (found in review, 2026-12-05).
CLIENT_LOGGERS = ("kafka", "aiokafka", "asyncio")
INTERVAL_SECONDS = 30.0
#: Kinds of messages remembered at once (a kind is a logger, a level and a message template).
MAX_KINDS = 1000


class RepeatFilter(logging.Filter):
    """Passes the first record of each kind (logger, level, message template: "Unable connect to
    node with id %s: %s" is one kind whatever the node), then one per `interval` seconds, which
    says how many of its kind were held back since the last one. Records of other loggers pass.
    """

    def __init__(self, loggers: tuple[str, ...] = CLIENT_LOGGERS,
                 interval: float = INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.loggers = loggers
        self.prefixes = tuple(name + "." for name in loggers)
        self.interval = interval
        self.clock = clock
        #: kind -> (when one was last let through, how many were held back since)
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}
        #: The last record decided, and the decision: one filter on several handlers (Faust adds
        #: its spinner's) sees each record once per handler and must answer the same each time.
        self._last: tuple[logging.LogRecord | None, bool] = (None, True)

    def filter(self, record: logging.LogRecord) -> bool:
        if record is self._last[0]:
            return self._last[1]
        keep = self._decide(record)
        self._last = (record, keep)
        return keep

    def _decide(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name not in self.loggers and not name.startswith(self.prefixes):
            return True
        kind = (name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval:
            self._kinds[kind] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            # Appended to the template (no %: the record's own arguments still format it).
            record.msg = (f"{record.msg} [{seen[1]} more like this in the last "
                          f"{now - seen[0]:.0f} s, not shown]")
        if seen is None and len(self._kinds) >= MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        return True


#: Loggers that write a client's whole configuration, SASL password included, at DEBUG
#: (kafka-python's admin client: "Starting KafkaAdminClient with configuration: {...
#: 'sasl_plain_password': ...}"), or each request, SASL token included: their DEBUG records are
#: dropped whatever VEILLE_LOG_LEVEL says (found in review, 2026-12-06).
CONFIG_DUMPING_LOGGERS = ("kafka.admin.client", "kafka.net.connection", "kafka.conn",
                          "kafka.protocol.parser")


def _not_debug(record: logging.LogRecord) -> bool:
    return record.levelno > logging.DEBUG


#: kafka-python 3's I/O loop warns when one of its own steps took over 0.1 s ("Task ... ran for
#: 0.122s (>0.100s threshold). It is blocking the event loop ..."): a garbage collection or a
#: busy host's scheduler is enough. The message is formatted in advance, so a RepeatFilter sees a
#: new kind each time; it is about the library's internals, nothing an operator can act on, and
#: it landed on a one-shot command's stderr between the command's own lines (`veille
#: dead-letters`, CI 2026-12-07). Shown when VEILLE_LOG_LEVEL is DEBUG only.
SLOW_STEP_LOGGER = "kafka.net.selector"
_SLOW_STEP = "threshold). It is blocking the event loop"


def _not_a_slow_step(record: logging.LogRecord) -> bool:
    return (_SLOW_STEP not in str(record.msg)
            or logging.getLogger(SLOW_STEP_LOGGER).isEnabledFor(logging.DEBUG))


def keep_secrets_out_of_logs() -> None:
    """The loggers that print a client's configuration with its secrets never pass a DEBUG record.
    A filter, not a level: their level stays the one VEILLE_LOG_LEVEL gives. Set to INFO, they
    printed every connection's "Connected" and "Connection closed" under the default WARNING:
    three INFO lines on stderr before each one-shot command's output (found in review,
    2026-12-06)."""
    for name in CONFIG_DUMPING_LOGGERS:
        logging.getLogger(name).addFilter(_not_debug)  # once: addFilter keeps no duplicate


def hide_slow_steps() -> None:
    """kafka-python's slow-step warning, shown at DEBUG only (SLOW_STEP_LOGGER)."""
    logging.getLogger(SLOW_STEP_LOGGER).addFilter(_not_a_slow_step)


def thin_client_logs(logger: logging.Logger | None = None) -> RepeatFilter:
    """Install a RepeatFilter on the handlers of `logger` (the root logger by default), where
    every client library's record ends up; returns it. Also keeps the loggers that print a
    client's secrets out of DEBUG, and kafka-python's slow-step warning out unless at DEBUG."""
    keep_secrets_out_of_logs()
    hide_slow_steps()
    repeat = RepeatFilter()
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(repeat)
    return repeat


def _not_a_client_record(record: logging.LogRecord) -> bool:
    return record.name.split(".", 1)[0] not in ("kafka", "aiokafka")


class HeldClientRecords(logging.Filter):
    """A one-shot command's Kafka client records, kept off its stderr: the last `keep` are held,
    shown by `release` when the command ends in an error, dropped when it succeeds. Under load
    kafka-python logs a retried read ("Error receiving network data") at ERROR on a run that
    then answers; `veille mentions --lang fr` printed it in English among its French (a test
    failure, 2026-12-07), and `veille alerts --follow` a ConnectionResetError traceback that
    read as a crash (2026-12-06). The command says a broker it cannot reach in its own words."""

    def __init__(self, keep: int = 20) -> None:
        super().__init__()
        self.held: deque[logging.LogRecord] = deque(maxlen=keep)
        self.handlers: list[logging.Handler] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if _not_a_client_record(record):
            return True
        if not self.held or self.held[-1] is not record:  # once, whatever the handlers
            self.held.append(record)
        return False

    def stop(self) -> None:
        """Stops holding (the filter leaves the handlers); what is held stays to release."""
        for handler in self.handlers:
            handler.removeFilter(self)

    def release(self) -> None:
        """Stops holding; the held records go to the handlers, oldest first."""
        self.stop()
        while self.held:
            record = self.held.popleft()
            for handler in self.handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)


def hold_client_records(logger: logging.Logger | None = None) -> HeldClientRecords | None:
    """Installs a HeldClientRecords on the handlers of `logger` (the root logger by default);
    None, nothing held, when its level is INFO or DEBUG (VEILLE_LOG_LEVEL asked to see them)."""
    root = logger or logging.getLogger()
    if root.level <= logging.INFO:
        return None
    held = HeldClientRecords()
    held.handlers = list(root.handlers)
    for handler in held.handlers:
        handler.addFilter(held)
    return held


#: The text format of veille's own processes (a Faust worker's is Faust's own).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: What every JSON line carries besides the record's own fields: the process's command
#: (`worker`, `collect rss`...) and, for a worker, its role. Bounded: names, never a value read
#: from a mention or a request.
CONTEXT: dict[str, str] = {}
_state = {"format": "text"}
#: Characters JSON leaves as they are but that a log reader may take for a line break or a
#: terminal control: DEL and the C1 controls (NEL, U+0085, among them), the line and paragraph
#: separators, and lone surrogates (which no UTF-8 stream can write).
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line: `time` (RFC 3339, UTC, milliseconds), `level`,
    `logger`, `message` (formatted with its arguments), `exc_info` (the traceback, as one string)
    and `stack_info` when the record has them, `pid`, and CONTEXT. Non-ASCII letters are kept as
    they are (readable); every control character, line breaks included, is escaped: a message
    can never make a second line."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "time": f"{when}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        line["pid"] = record.process
        line.update(CONTEXT)
        return _UNSAFE.sub(_escape, json.dumps(line, ensure_ascii=False, default=str))


def log_format() -> str:
    """The format configure() set: `text` or `json`."""
    return _state["format"]


def formatter(text_format: str = TEXT_FORMAT) -> logging.Formatter:
    """The formatter of the format in force: JSON, or text in `text_format`."""
    return JsonFormatter() if _state["format"] == "json" else logging.Formatter(text_format)


def configure(level: str, fmt: str = "text", **context: str) -> None:
    """The root logger of a command: its level, and a handler on stderr in the format `fmt`
    (once: a root logger that has handlers already, pytest's, is left as it is). `context` goes
    on every JSON line."""
    if fmt not in LOG_FORMATS:
        raise ValueError(fmt)
    _state["format"] = fmt
    CONTEXT.clear()
    CONTEXT.update(context)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    logging.basicConfig(level=level, handlers=[handler])
    if fmt == "json":
        sys.excepthook = _log_uncaught
        threading.excepthook = _log_uncaught_in_thread


def use_format(logger: logging.Logger | None = None) -> None:
    """In json mode, every handler of `logger` (the root logger by default) writes JSON: for the
    handlers another library set up (Faust's). Nothing in text mode."""
    if _state["format"] != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    logging.getLogger("veille").critical("uncaught exception, exiting: %s: %s", kind.__name__,
                                         exc, exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("veille").error("uncaught exception in thread %s: %s: %s", name,
                                      args.exc_type.__name__, args.exc_value,
                                      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def say(text: str, *, file: IO[str] | None = None, level: int = logging.INFO,
        logger: str = "veille") -> None:
    """A line a long-running process writes for its operator whatever the log level (where its
    metrics are served, that it is ready, that it stopped): printed as it is in text mode; in
    json mode, a JSON record of `level` on the same stream, so that every line such a process
    writes is JSON."""
    stream = file if file is not None else sys.stdout
    if _state["format"] != "json":
        print(text, file=stream, flush=True)
        return
    record = logging.LogRecord(logger, level, "", 0, text, None, None)
    stream.write(JsonFormatter().format(record) + "\n")
    stream.flush()


class JsonLines(io.TextIOBase):
    """A text stream whose every line is written to `stream` as a JSON record (say()): the
    output of a long-running command that prints its status lines (`veille demo`) in json mode."""

    def __init__(self, stream: IO[str], logger: str, level: int = logging.INFO) -> None:
        super().__init__()
        self.stream, self.logger, self.level = stream, logger, level
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            say(line, file=self.stream, level=self.level, logger=self.logger)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()
