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

import logging
import time
from collections.abc import Callable

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


def leave_reconnections_to_the_command() -> None:
    """For a command that waits out a broker outage and says so in its own words (`veille alerts
    --follow`): the Kafka clients' records are not printed, unless VEILLE_LOG_LEVEL asks for
    INFO or DEBUG. Their ERROR lines, a ConnectionResetError traceback among them, read as a
    crash on a terminal (found in review, 2026-12-06)."""
    root = logging.getLogger()
    if root.level <= logging.INFO:
        return
    for handler in root.handlers:
        handler.addFilter(_not_a_client_record)
