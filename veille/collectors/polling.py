"""What the collectors polling a platform's HTTP API (Mastodon, Bluesky) share.

A PollingCollector polls a fixed list of sources (Mastodon hashtags, Bluesky searches) in
rounds: every source once a round, the round's mentions sent in one batch, each source's state
saved only after the broker acknowledged it. This module holds the parts that do not depend on
the platform:

* the polling loop (`interval` between good rounds, jittered exponential backoff after a failed
  one, at most `backoff_max`; a Retry-After honoured), stopped by `stop()` with a grace period
  for the round in flight;
* one aiohttp session, and `_request`: rate-limit headers honoured (below `rate_limit_floor`
  requests left, no request until the reset), a 429 retried after Retry-After or the reset, at
  most `max_rate_limit_wait` seconds of sleep in all per round (a longer wait fails the source
  for the round with kind `rate_limited`), an answer body read up to `max_body_bytes`, network
  errors as FetchError;
* the round's skeleton: read every source (a source failing, or raising a bug, does not stop
  the others), send the batch (BrokerUnavailable: a `broker_error` round, nothing saved), count
  each source's poll in its health metrics (veille.metrics._SourceHealth);
* the watch list its sources come from, followed while it runs (veille.reload): a change is
  taken at the start of the next round, never in the middle of one (`follow_watchlist`);
* `run_polling`: `veille collect <name> [--once]` (the /metrics server, the `--once` report);
* the checks of a base URL setting, of an http:// address a secret would be sent to, of an
  interval.

Log records are written under the collector's own module's logger (`self.log`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from yarl import URL

from streams.records import Limits, RawMention
from veille.collectors.answers import answers_noun
from veille.collectors.base import BrokerUnavailable, Collector, MentionSink, Record
from veille.collectors.rss import (
    FetchError,
    StateStore,
    answered_at,
    backoff_delay,
    read_body,
    retry_after,
    serve_metrics,
    sleep_or_stop,
    stop_metrics,
)
from veille.metrics import CollectorMetrics
from veille.reload import Reloader, follow_watchlist
from veille.rules import Watchlist
from veille.settings import Settings
from veille.terminal import printable
from veille.urls import check_base_url as check_base_url
from veille.urls import names_loopback as names_loopback
from veille.urls import sends_secret_in_clear as sends_secret_in_clear

log = logging.getLogger(__name__)

MAX_RETRY_WAIT = 60.0  # seconds a round may sleep in all for Retry-After / rate-limit resets
MIN_INTERVAL = 30.0  # seconds between two rounds at the least, as for RSS feeds
MAX_INTERVAL = 86400.0  # at most one day between two rounds
MAX_BODY_BYTES = 10 * 1024 * 1024  # an answer's body, as RssCollector.max_body_bytes
MAX_ERROR_BODY_BYTES = 64 * 1024  # an error answer's body (read for its error name only)
#: A reset header holding a number above this is a Unix time, else seconds from now.
_EPOCH_FLOOR = 1_000_000_000

T = TypeVar("T")


def redirect_target(url: URL, location: str | None) -> str:
    """Where a redirect leads, as a log may show it: scheme, host and port, no path or query
    (which may carry a token); `?` when there is no Location or it is no address."""
    if not location:
        return "?"
    try:
        target = url.join(URL(location))
    except (ValueError, TypeError):
        return "?"
    if not target.host:
        return "?"
    return printable(f"{target.scheme}://{target.host}" + (f":{target.port}" if target.explicit_port
                                                          else ""))[:200]


class SourceFetchError(FetchError):
    """A FetchError of a known kind (veille.metrics.HASHTAG_FAILURES, BLUESKY_QUERY_FAILURES:
    rate_limited, unauthorized), or of none when the collector is stopping (no failure of the
    source's). A plain FetchError is of kind `fetch`."""

    def __init__(self, message: str, retry_after: float | None = None, *,
                 kind: str | None) -> None:
        super().__init__(message, retry_after)
        self.kind = kind


def failure_kind(exc: BaseException) -> str | None:
    """The `kind` label of a source's failed poll (None: not a failure, the collector stopping)."""
    return exc.kind if isinstance(exc, SourceFetchError) else "fetch"


def parse_reset(value: str | None, now: float | None = None) -> float | None:
    """A rate limit's reset as a Unix time, or None: an ISO 8601 time (Mastodon's
    X-RateLimit-Reset), a Unix time in seconds (Bluesky's ratelimit-reset), or a number of
    seconds from now (draft-ietf-httpapi-ratelimit-headers). Not finite: None."""
    if not value:
        return None
    text = value.strip()
    number = header_number(text)
    if number is not None:
        if number < 0:
            return None
        return number if number > _EPOCH_FLOOR else (time.time() if now is None else now) + number
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        stamp = when.timestamp()
    except (ValueError, OverflowError):
        return None
    return stamp if math.isfinite(stamp) else None


def header_number(value: str | None) -> float | None:
    """A numeric header (X-RateLimit-Remaining...) as a finite float, or None: "inf", "nan",
    "1e999" or garbage are ignored rather than breaking the round."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


# -- settings checks ---------------------------------------------------------------------------


def check_interval(value: float, *, name: str, error: type[Exception], why: str) -> None:
    """An interval setting in MIN_INTERVAL..MAX_INTERVAL (also refuses NaN), or `error`."""
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise error(f"{name}={value!r} must be in {MIN_INTERVAL:g}..{MAX_INTERVAL:g} seconds "
                    f"({why}; at least one round a day)")


# -- results -----------------------------------------------------------------------------------


@dataclass
class SourceSummary:
    """What one source gave in a round (the `--once` report)."""

    status: str = "ok"  # ok | failed
    statuses: int = 0
    sent: int = 0
    refused: int = 0
    error: str | None = None
    answers: int = 0  # the brand's answers it read, in the round's acknowledged write


@dataclass
class RoundResult:
    status: str  # ok | partial | failed | broker_error
    fetched: int = 0
    sent: int = 0
    refused: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    sources: dict[str, SourceSummary] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Request:
    """A request the collector made, for logs and tests."""

    url: str
    status: int
    at: float


@dataclass
class Answer:
    """A (non-429) answer: its status, headers, body as JSON (None for an error answer whose
    body is no JSON) and its `rel="next"` link."""

    status: int
    headers: Mapping[str, str]
    data: Any
    next_link: str | None = None


# -- the collector -----------------------------------------------------------------------------


class PollingCollector(Collector):
    """A collector polling an HTTP API in rounds (see the module's docstring)."""

    #: The rate-limit headers of the platform (looked up case-insensitively); None: it sends
    #: none (its errors say when to wait).
    remaining_header: str | None = "X-RateLimit-Remaining"
    reset_header = "X-RateLimit-Reset"
    #: What a source and an item are called in the `--once` report ("hashtag", "statuses").
    source_noun = "source"
    item_noun = "items"
    #: Where the brand's answers are read, in the log ("Reddit accounts"); "": its sources.
    answers_from = ""
    #: The Settings field of the interval between two rounds (mastodon_interval_seconds...).
    interval_setting = ""

    def __init__(self, settings: Settings, metrics: CollectorMetrics,
                 sink: MentionSink | None = None, *, interval: float | None = None,
                 request_timeout: float = 30.0, rate_limit_floor: int = 5,
                 max_rate_limit_wait: float = MAX_RETRY_WAIT, max_429_retries: int = 3,
                 backoff_base: float = 5.0, backoff_max: float = 900.0,
                 max_text_chars: int = 5000, max_body_bytes: int = MAX_BODY_BYTES,
                 stop_grace: float | None = None, rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(settings, metrics, sink)
        self.log = logging.getLogger(type(self).__module__)
        # An explicit `interval` (tests, embedding code) is taken as given; the setting is
        # checked against MIN_INTERVAL..MAX_INTERVAL by check_config() (_check_interval).
        self._interval_from_settings = interval is None
        self.interval = interval if interval is not None else getattr(settings,
                                                                      self.interval_setting)
        self.max_text_chars = min(max_text_chars, settings.max_text_chars)
        self.limits = Limits.from_settings(settings)
        #: One JSON document per source, in VEILLE_COLLECTOR_STATE_DIR/<name>/.
        self.store = StateStore(Path(settings.collector_state_dir) / self.name)
        self.request_timeout = request_timeout
        self.rate_limit_floor = rate_limit_floor
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_429_retries = max_429_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_body_bytes = max_body_bytes
        self.stop_grace = stop_grace if stop_grace is not None else request_timeout * 3 + 20.0
        self.rng = rng or random.Random()
        #: Per source's label, its last good poll and its failures by kind (made at start).
        self.source_metrics: Any = None
        self.requests: list[Request] = []  # the last requests made (bounded), newest last
        self.rounds = 0
        self.last_round: RoundResult | None = None
        self._failures = 0
        #: The clock of durations (a rate limit's pause): monotonic, so that a step of the wall
        #: clock (NTP, a VM resumed) neither stretches a pause nor cuts it short.
        self.monotonic = monotonic
        self._blocked_until = 0.0  # on self.monotonic's clock
        self._wait_budget = max_rate_limit_wait  # what the current round may still sleep
        self._session: aiohttp.ClientSession | None = None
        #: The watch list the sources come from, followed while the collector runs (None when
        #: the sources were given: tests, embedding code).
        self.reloader: Reloader[Watchlist] | None = None
        self._changed: Watchlist | None = None  # a changed watch list, for the next round

    # -- hooks ----------------------------------------------------------------------------------

    @abstractmethod
    def check_config(self) -> None:
        """Refuse a bad setting (a ...ConfigError) before anything runs."""

    @abstractmethod
    async def poll_round(self) -> RoundResult:
        """Poll every source once, send the new mentions, then save each source's state."""

    def _check_interval(self, error: type[Exception], why: str) -> None:
        """The interval setting in MIN_INTERVAL..MAX_INTERVAL, unless given explicitly."""
        if self._interval_from_settings:
            check_interval(getattr(self.settings, self.interval_setting),
                           name="VEILLE_" + self.interval_setting.upper(), error=error, why=why)

    def describe(self, source: str) -> str:
        """A source as logs and the `--once` report name it."""
        return source

    def is_brand_account(self, source: str) -> bool:
        """Whether `source` reads one of a brand's own accounts (no mentions: its replies are
        its answers, which the `--once` report counts); default: none is."""
        return False

    def item_noun_of(self, source: str) -> str:
        """What `source`'s items are in the `--once` report (default: item_noun)."""
        return self.item_noun

    def metric_label(self, source: str) -> str:
        """The label value of a source in `source_metrics` (a bounded, configured set)."""
        return source

    def health_of(self, source: str) -> tuple[Any, str]:
        """The per-source metrics a source's polls count in, and its label there (default:
        source_metrics, metric_label; the Mastodon collector's brand accounts have their own)."""
        return self.source_metrics, self.metric_label(source)

    def _note_response(self, resp: aiohttp.ClientResponse) -> None:  # noqa: B027 - optional hook
        """Read what else an answer tells (a clock...); default: nothing."""

    def use_watchlist(self, watchlist: Watchlist) -> None:  # noqa: B027 - optional hook
        """Take a changed watch list's sources (called between two rounds); default: nothing."""

    def _load_state(self, source: str) -> None:  # noqa: B027 - optional hook
        """A source's saved state, or a fresh one, into the per-source memories; default: none."""

    def _carry_states(self, before: Iterable[str], sources: Iterable[str],
                      memories: tuple[dict[str, Any], ...]) -> tuple[list[str], list[str]]:
        """The per-source `memories` across a watch-list change, case aside: a source added
        starts from its saved state, one kept keeps its own (under its new spelling), one taken
        off loses it. Returns the sources added and those taken off (spelt as before)."""
        left = {source.casefold(): source for source in before}
        added: list[str] = []
        for source in sources:
            old = left.pop(source.casefold(), None)
            if old is None:
                self._load_state(source)
                added.append(source)
            elif old != source:  # spelt otherwise: the same source, its state under the new one
                for memory in memories:
                    if old in memory:
                        memory[source] = memory.pop(old)
        for old in left.values():  # taken off
            for memory in memories:
                memory.pop(old, None)
        return added, list(left.values())

    # -- the watch list -------------------------------------------------------------------------

    def follow_watchlist(self, load: Callable[[Path], Watchlist]) -> Watchlist:
        """The watch list, loaded with `load` (which raises the collector's ConfigError for a
        file it cannot use: one that does not load, or leaves nothing to poll), and followed
        while the collector runs: every VEILLE_WATCHLIST_RELOAD_SECONDS (0: never) run() polls
        it, and a change is taken at the start of the next round by use_watchlist (never in the
        middle of one: a round's sources, sent batch and saved states go together). A changed
        file that `load` refuses leaves the sources in use (veille.reload.WatchedFile), and says
        so on the collector's /metrics (veille.metrics.WatchlistMetrics: alert
        WatchlistRefused). Until 2026-12-06 the watch list was read at start only."""
        if self.reloader is None:
            self.reloader = follow_watchlist(self.settings.watchlist_path, load,
                                             self.settings.watchlist_reload_seconds,
                                             self.metrics.registry, size=lambda w: len(w.brands))
            self.reloader.on_change(self._note_watchlist)
        return self.reloader.value

    def _note_watchlist(self, watchlist: Watchlist) -> None:
        """A change taken by the reloader (maybe while a round is in flight): kept for the next
        round."""
        self._changed = watchlist

    def take_watchlist_change(self) -> bool:
        """Hand a changed watch list to use_watchlist, if any (between two rounds); True when
        there was one."""
        changed, self._changed = self._changed, None
        if changed is None:
            return False
        try:
            self.use_watchlist(changed)
        except Exception:  # a bug here must not end the polling: the sources in use stay
            self.log.exception("%s: the changed watch list could not be taken", self.name)
        return True

    # -- life cycle -----------------------------------------------------------------------------

    def _open_session(self) -> None:
        if self._session is None:
            headers = {"User-Agent": self.settings.collector_user_agent,
                       "Accept": "application/json"}
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.request_timeout))

    async def run(self) -> None:
        await self.run_until_stopped(self._loop(), self.reloader, self.stop_grace)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.store.release()
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            self.take_watchlist_change()
            try:
                result = await self.poll_round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the polling silently: log, back off
                self._failures += 1
                delay = backoff_delay(self._failures, self.backoff_base, self.backoff_max,
                                      self.rng)
                self.log.exception("%s: round failed unexpectedly (%s); next try in %.1f s",
                                   self.name, type(exc).__name__, delay)
                if await sleep_or_stop(self.stopping, delay):
                    break
                continue
            delay = self.interval
            if not result.ok:
                delay = backoff_delay(self._failures, self.backoff_base, self.backoff_max,
                                      self.rng)
                if result.status == "partial":  # the other sources are fine: keep the pace
                    delay = min(delay, self.interval)
                if result.retry_after is not None:
                    delay = max(delay, min(result.retry_after, self.backoff_max))
            delay = min(delay, MAX_INTERVAL)  # an explicit huge interval must not overflow
            if await sleep_or_stop(self.stopping, delay):
                break

    # -- HTTP -----------------------------------------------------------------------------------

    def _block_for(self, seconds: float) -> None:
        """No request for `seconds` (at most backoff_max: a year-9999 reset is not honoured)."""
        if not seconds >= 0:  # negative or NaN
            seconds = self.backoff_base
        seconds = min(seconds, self.backoff_max)  # also bounds inf
        self._blocked_until = max(self._blocked_until, self.monotonic() + seconds)

    def _note_rate_limit(self, headers: Any) -> None:
        if self.remaining_header is None:
            return
        left = header_number(headers.get(self.remaining_header))  # None: absent or unreadable
        if left is None or left >= self.rate_limit_floor:
            return
        now = answered_at(headers)  # the reset is on the server's clock
        reset = parse_reset(headers.get(self.reset_header), now)
        self._block_for(reset - now if reset is not None else self.backoff_base)

    async def _respect_rate_limit(self) -> None:
        wait = self._blocked_until - self.monotonic()
        if wait > 0:
            if wait > self._wait_budget:
                # Not in this round: the loop waits between rounds (bounded, stoppable).
                raise SourceFetchError(
                    f"rate limited for {wait:.0f} s more; retried at a later round",
                    retry_after=wait, kind="rate_limited")
            self.log.info("%s: rate limit nearly used up; waiting %.1f s for its reset",
                          self.name, wait)
            self._wait_budget -= wait
            if await sleep_or_stop(self.stopping, wait):
                raise SourceFetchError("stopping", kind=None)
        self._blocked_until = 0.0

    async def _read_json(self, resp: aiohttp.ClientResponse) -> Any:
        """The body parsed as JSON, read up to max_body_bytes (a larger one is a FetchError)."""
        body = await read_body(resp, self.max_body_bytes, "answer")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise FetchError(f"the answer is not JSON ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None

    async def _error_json(self, resp: aiohttp.ClientResponse) -> Any:
        """An error answer's body as JSON (its error name), None when it is none."""
        try:
            return json.loads(await read_body(resp, MAX_ERROR_BODY_BYTES, "error answer"))
        except (FetchError, ValueError, RecursionError):
            return None

    async def _request(self, url: URL, *, method: str = "GET",
                       headers: Mapping[str, str] | None = None,
                       body: Any = None, form: Mapping[str, str] | None = None) -> Answer:
        """One request (`body` sent as JSON, `form` as application/x-www-form-urlencoded: an
        OAuth token request), honouring the rate limit: a 429 is retried (at most max_429_retries
        times, waiting for Retry-After or the reset within the round's budget); any other
        answer is returned, its body parsed (an answer of status < 400 that is no JSON, or too
        large, is a FetchError). Network errors and timeouts are FetchErrors."""
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not called")
        for _attempt in range(self.max_429_retries + 1):
            await self._respect_rate_limit()
            try:
                # Redirects are not followed: an API at a configured address does not move
                # between two calls, and a server sending the collector (and its token's
                # request) elsewhere, to an internal address say, is told instead.
                async with self._session.request(method, url, headers=dict(headers or {}),
                                                 json=body, data=dict(form) if form else None,
                                                 allow_redirects=False) as resp:
                    self.requests.append(Request(str(url), resp.status, time.time()))
                    del self.requests[:-500]
                    self._note_rate_limit(resp.headers)
                    self._note_response(resp)
                    if 300 <= resp.status < 400:
                        raise FetchError(f"HTTP {resp.status}: the server redirects to "
                                         f"{redirect_target(url, resp.headers.get('Location'))}, "
                                         "which is not followed (set the address it moved to)")
                    if resp.status == 429:
                        wait = retry_after(resp.headers)
                        if wait is None:
                            now = answered_at(resp.headers)
                            reset = parse_reset(resp.headers.get(self.reset_header), now)
                            wait = reset - now if reset is not None else None
                        if wait is None or not wait >= 0:
                            wait = self.backoff_base
                        self.log.warning("%s: 429 Too Many Requests; asked to wait %.1f s",
                                         self.name, min(wait, self.backoff_max))
                        self._block_for(wait)  # honoured in this round up to the round's budget
                        continue
                    if resp.status >= 400:
                        data = await self._error_json(resp)
                    else:
                        data = await self._read_json(resp)
                    next_rel = resp.links.get("next")
                    next_link = next_rel.get("url") if next_rel is not None else None
                    return Answer(resp.status, resp.headers.copy(), data,
                                  str(next_link) if next_link else None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        raise SourceFetchError("still rate limited (429) after retries",
                               retry_after=min(max(self._blocked_until - self.monotonic(), 0.0),
                                               self.backoff_max),
                               kind="rate_limited")

    # -- one round ------------------------------------------------------------------------------

    async def _read_sources(self, sources: Iterable[str], fetch: Callable[[str], Awaitable[T]],
                            ) -> tuple[RoundResult, list[tuple[str, T]], dict[str, str | None]]:
        """Start a round and read every source with `fetch`: the round's result (a summary
        per source), what each source read gave, and the sources that failed with the kind of
        their failure (None: left because the collector is stopping)."""
        self.rounds += 1
        self._wait_budget = self.max_rate_limit_wait
        result = RoundResult("ok")
        done: list[tuple[str, T]] = []
        failed: dict[str, str | None] = {}
        for source in sources:
            if self.stopping.is_set():
                break
            summary = result.sources[source] = SourceSummary()
            try:
                done.append((source, await fetch(source)))
            except asyncio.CancelledError:
                raise
            except FetchError as exc:
                result.errors[source] = str(exc)
                failed[source] = failure_kind(exc)
                if exc.retry_after is not None:
                    result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
                self.log.warning("%s: %s: %s", self.name, self.describe(source), exc)
            except Exception as exc:  # a bug or a strange answer: log, keep the others going
                self.log.exception("%s: %s: unexpected error", self.name, self.describe(source))
                result.errors[source] = f"{type(exc).__name__}: {exc}"
                failed[source] = "fetch"
            if source in result.errors:
                summary.status, summary.error = "failed", result.errors[source]
        return result, done, failed

    async def _send_round(self, result: RoundResult, mentions: dict[str, RawMention],
                          first_source: dict[str, str],
                          answers: Mapping[Record, str] | None = None) -> bool:
        """Send the round's mentions (oldest first) and, in the same write, its `answers` (the
        brand's replies seen on the platform, as decisions on moderation.decisions, each ->
        the source that read it; sent even without a mention); False when the broker did not
        take them all (the round is then a `broker_error` one: no state may be saved)."""
        answers = answers or {}
        if not mentions and not answers:
            return True
        batch = sorted(mentions.values(), key=lambda m: m.created_at)
        try:
            await self.sink.send(batch, records=list(answers))
        except BrokerUnavailable as exc:
            # The cursors stay where they were: the same items are fetched and sent again.
            self._failures += 1
            result.status = "broker_error"
            result.errors["broker"] = str(exc)
            self.last_round = result
            return False
        result.sent = len(batch)
        for mention_id in mentions:
            result.sources[first_source[mention_id]].sent += 1
        for source in answers.values():
            result.sources[source].answers += 1
        if answers:
            self.metrics.answers_sent.labels(self.name).inc(len(answers))
            self.log.info("%s: %d %s of the brand's %s sent to %s", self.name,
                          len(answers), answers_noun(len(answers)),
                          self.answers_from or self.source_noun + "s", next(iter(answers)).topic)
        return True

    def _end_round(self, result: RoundResult, read_any: bool) -> RoundResult:
        if result.errors:
            result.status = "failed" if not read_any else "partial"
            self._failures += 1
        else:
            self._failures = 0
        self.last_round = result
        return result

    def _count_polls(self, done: Iterable[str], failed: dict[str, str | None],
                     unsent: set[str]) -> None:
        """The round in the per-source metrics: a failure of its kind for each source that
        failed (`unsent`: read, but its items not acknowledged: kind broker; none for a source
        left because the collector is stopping); a good poll for each label (health_of) whose
        sources were all read and acknowledged (a quiet source polls well: its silence is no
        failure). A label is one of its metrics' own: a brand id spelt as a hashtag is another."""
        if self.source_metrics is None:
            return
        now = time.time()
        bad: set[tuple[int, str]] = set()
        for source, kind in failed.items():
            if kind is not None:
                metrics, label = self.health_of(source)
                bad.add((id(metrics), label))
                metrics.failures.labels(label, kind).inc()
        for source in unsent:
            metrics, label = self.health_of(source)
            bad.add((id(metrics), label))
            metrics.failures.labels(label, "broker").inc()
        for source in done:
            metrics, label = self.health_of(source)
            if source not in unsent and (id(metrics), label) not in bad:
                metrics.last_success.labels(label).set(now)


def sources_noun(collector: PollingCollector, sources: list[str]) -> str:
    """What `sources` are called in `--once`'s "every ... failed": the collector's own kind
    (source_noun), the brands' accounts, or both ("every hashtag and brand account failed"; it
    said "every search failed (4)" of two searches and two Reddit accounts until 2026-12-07)."""
    accounts = [collector.is_brand_account(source) for source in sources]
    return " and ".join(noun for noun, some in ((collector.source_noun, not all(accounts)),
                                                ("brand account", any(accounts))) if some)


async def run_polling(collector: PollingCollector, *, once: bool,
                      round_failed: type[Exception]) -> list[str]:
    """Serve /metrics and poll until SIGTERM/SIGINT, or one round with `once=True`.

    With `once`, prints one line per source, raises BrokerUnavailable when the broker did not
    take the round's mentions, and `round_failed` when every source failed; else returns the
    sources that failed (the others' mentions are sent), each as "source: error" (the source
    as `describe` names it: "#AcmeDown", "u/acme_gone (acme)").
    """
    name = collector.name
    collector.check_config()  # refuse a bad URL or interval before serving anything
    collector.store.check()  # and a state folder it cannot use (another collector's, say)
    server = serve_metrics(collector.settings, collector.metrics, name)
    try:
        if not once:
            await collector.serve()
            return []
        try:
            await collector.start()
            result = await collector.poll_round()
        finally:
            await collector.close()
        collector.log.info("%s: %s, %d %s, %d sent, %d refused%s", name, result.status,
                           result.fetched, collector.item_noun, result.sent, result.refused,
                           f" ({result.errors})" if result.errors else "")
        for source, s in result.sources.items():  # a cron job's output: what each source gave
            state = ("broker_error" if result.status == "broker_error" and s.status == "ok"
                     else s.status)
            if collector.is_brand_account(source):  # no mentions: the answers it read
                gave = f"{s.answers} answer{'' if s.answers == 1 else 's'} sent"
            else:
                gave = f"{s.sent} sent, {s.refused} refused"
            print(f"{name}: {collector.describe(source)}: {state}, {s.statuses} "
                  f"{collector.item_noun_of(source)}, {gave}"
                  + (f" ({s.error})" if s.error else ""), flush=True)
        if result.status == "broker_error":
            raise BrokerUnavailable(result.errors.get("broker", "broker unavailable"))
        failed = [source for source, s in result.sources.items() if s.status == "failed"]
        if failed and len(failed) == len(result.sources):
            raise round_failed(
                f"{name}: every {sources_noun(collector, failed)} failed ({len(failed)}); "
                f"{collector.describe(failed[0])}: {result.sources[failed[0]].error}")
        return [f"{collector.describe(source)}: {result.sources[source].error}"
                for source in failed]
    finally:
        stop_metrics(server)
