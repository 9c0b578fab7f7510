"""Jetstream collector: every Bluesky post as it is made, the ones naming a brand sent.

Bluesky's Jetstream (VEILLE_JETSTREAM_URL, default one public instance; several separated by
commas: the next is tried when a connection gives no event, from the same cursor, valid on every
instance) streams every commit of the network as JSON over a WebSocket. The collector connects to
`{url}?wantedCollections=app.bsky.feed.post&maxMessageSizeBytes=...&cursor=<time_us>`, reads each
event (veille.collectors.jetstream_events.read_event), matches the text of each post created
against the watch list (veille.rules.Watchlist, the workers' rules and RE2 prefilter; the file
followed while it runs, VEILLE_WATCHLIST_RELOAD_SECONDS), and sends only the posts naming a
brand to mentions.raw, with the Bluesky search collector's mapping
(veille.collectors.bluesky.post_to_dict): the same id for the same post (`bluesky-` + a hash of
its at:// URI), so that running both collectors sends a post once; source `jetstream`; author:
the poster's DID
(Jetstream gives no handle); no audience figures (none exist when a post is made); a post whose
createdAt (the poster's device's clock) is more than VEILLE_MAX_FUTURE_SECONDS ahead of the time
Jetstream saw it is dated by that time.

The brands' own accounts (each brand's `bluesky_accounts`, DIDs): a post of one of them naming
its brand only is no mention of it (it would count in its volume and its moderation queue) and
is not sent; one naming another brand of the list is sent (as any post: its brands are matched
again by the workers). A post of one of them replying to the post of an account that is not
its brand's (its record's `reply.parent.uri`, whose authority is a DID) is sent as the brand's
answer: a `replied` decision on moderation.decisions (answered_on `bluesky`) of the case of the
post answered (case id its mention id, as above), keyed by it, moderator the account's DID,
decided_at the reply's time and reason its bsky.app link as a mention of it would have them.
The answers go with the mentions in the batch's one write, and wait in the cursor as they do:
the cursor passes an answer only once the broker acknowledged it (CursorBook, an `answer-` id).
The moderation agent drops an answer to a post that never became a case (`not_a_case`).

Cursor (CursorBook): the time_us of the newest event read such that every post up to it that
named a brand was acknowledged by the broker; it moves with every event when nothing waits for
the broker (a quiet brand does not replay hours of posts at a restart). Saved in
`VEILLE_COLLECTOR_STATE_DIR/jetstream/cursor.json` at most every SAVE_SECONDS and when the
collector stops, with the ids sent within VEILLE_JETSTREAM_REWIND_SECONDS below it: a restart or
a reconnection asks from the cursor less the rewind, and those posts are not sent twice. Without
a saved cursor, the collector starts live.

The posts naming a brand are sent in batches (at most MAX_BATCH, or FLUSH_SECONDS after the
first): while a batch waits for the broker the socket is not read (the server holds or drops
the connection: nothing is buffered without bound). A batch the broker does not acknowledge is
dropped, and the stream is read again from the cursor after a backoff: nothing is lost within
the instance's retention (about a day). The socket dropping, or the server unreachable: the
collector connects again after a jittered exponential backoff (1 s to BACKOFF_MAX), from its
cursor. A malformed event, or a post naming a brand that breaks the record contract, is refused
with its reason (logged escaped, counted) and the stream goes on. An event larger than
MAX_EVENT_BYTES is refused (the server is asked not to send any; one beyond twice that closes
the connection). A message that cannot be read met twice at the same place is skipped (the next
connection asks from a little past the last event read). The instance is not trusted further:
a redirect on the handshake is refused, not followed; ws:// must reach a loopback address; a
connection giving no message for IDLE_SECONDS is made again; refusals are logged at most
REFUSALS_LOGGED a minute; the state file is read only as a small regular file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import stat
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from streams.records import InvalidMention, Limits, RawMention, iso, mention_from_dict, parse_time
from veille.collectors.answers import answer, answer_record, answers_noun
from veille.collectors.base import BrokerUnavailable, Collector, MentionSink, Record
from veille.collectors.bluesky import mention_id, post_to_dict
from veille.collectors.jetstream_events import (
    MAX_EVENT_BYTES,
    POST_COLLECTION,
    CursorBook,
    Post,
    Refused,
    read_event,
)
from veille.collectors.polling import names_loopback
from veille.collectors.rss import (
    StateStore,
    backoff_delay,
    serve_metrics,
    sleep_or_stop,
    stop_metrics,
)
from veille.metrics import CollectorMetrics, JetstreamMetrics
from veille.moderation.cases import DecisionError
from veille.reload import Reloader, follow_watchlist
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings
from veille.terminal import printable

log = logging.getLogger(__name__)

#: The cursor's file in the state folder (a fixed name: the README tells to delete it to start
#: live).
CURSOR_FILE = "cursor.json"
#: A saved state larger than this is damaged (20,000 ids of the rewind take about 1 MB).
MAX_STATE_BYTES = 4 * 1024 * 1024
#: The cursor is saved at most this often (and when the collector stops).
SAVE_SECONDS = 5.0
#: A batch of posts naming a brand is sent at this size, or this long after its first post.
MAX_BATCH = 500
FLUSH_SECONDS = 0.5
#: The socket is read at most this long at a time (a batch due, a stop asked are seen then).
TICK_SECONDS = 1.0
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
#: The cursor never moves to an event's time more than this ahead of the clock.
CURSOR_AHEAD_SECONDS = 60.0
#: A connection, or the handshake's answer, is given up after this long (then tried again).
CONNECT_SECONDS = 30.0
#: WebSocket pings (aiohttp's heartbeat): a connection answering none is closed and made again.
HEARTBEAT_SECONDS = 30.0
#: A connection giving no message this long is closed and made again (the next instance when
#: there are several): Jetstream sends tens of posts a second, and a server that answers the
#: pings but sends nothing (hung, or hostile) held the collector for ever.
IDLE_SECONDS = 60.0
REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Refused events logged at most this many a window (the others counted, then said in one line):
#: a flood of malformed events from an instance must not write a log line each.
REFUSALS_LOGGED = 10
REFUSAL_LOG_SECONDS = 60.0


class JetstreamConfigError(ValueError):
    """The Jetstream collector cannot start: a bad URL, or a watch list without a brand."""


class UnreadableMessage(aiohttp.ClientConnectionError):
    """The connection ended on a message the WebSocket layer cannot read (larger than it takes,
    text that is not UTF-8, a frame breaking the protocol): the same message comes again from
    the same cursor."""


#: The WebSocket close codes of a message that cannot be read (protocol error, invalid text,
#: too big).
UNREADABLE_CODES = frozenset({1002, 1007, 1009})
#: The first skip past a message that cannot be read, doubled at each try from the same place.
SKIP_US = 1000


async def refuse_redirects(request: aiohttp.ClientRequest,
                           handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """The session's middleware: an answer redirecting the handshake is a refusal, not followed
    (aiohttp follows redirects by default, to any host and from wss:// to plain http://: the
    instance checked by check_url would be left for one nobody chose, in clear text)."""
    response = await handler(request)
    if response.status in REDIRECTS:
        location = response.headers.get("Location", "")
        response.close()
        raise aiohttp.WSServerHandshakeError(
            response.request_info, response.history, status=response.status,
            message=f"a redirect to {location[:200]!r}, not followed", headers=response.headers)
    return response


def check_url(raw: str) -> str:
    """VEILLE_JETSTREAM_URL as the subscribe endpoint's URL, or JetstreamConfigError: wss:// (ws://
    to this machine only: a loopback address or localhost), a host, no credentials, query or
    fragment (the collector adds its own query)."""
    name = "VEILLE_JETSTREAM_URL"
    url = raw.strip()
    example = "e.g. wss://jetstream2.us-east.bsky.network/subscribe"
    if not url:
        raise JetstreamConfigError(f"{name} is empty: set it to a Jetstream instance, {example}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise JetstreamConfigError(f"{name}={url!r} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise JetstreamConfigError(f"{name} is not a valid URL ({exc})") from None
    if parts.username is not None or parts.password is not None:
        raise JetstreamConfigError(f"{name} must not hold user:password@ (it would be logged)")
    if parts.scheme not in ("ws", "wss") or not url.lower().startswith(parts.scheme + "://"):
        raise JetstreamConfigError(f"{name}={url!r} must be a wss:// address, {example}")
    if not parts.hostname:
        raise JetstreamConfigError(f"{name}={url!r} names no host, {example}")
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise JetstreamConfigError(f"{name}={url!r}: the port must be in 1..65535")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise JetstreamConfigError(f"{name}={url!r} must not have a query or fragment (the "
                                   f"collector asks for its own), {example}")
    if parts.scheme == "ws" and not names_loopback(parts.hostname):
        raise JetstreamConfigError(f"{name}={url!r} is ws://: use the instance's wss:// address "
                                   "(ws:// is for a Jetstream on this machine only)")
    try:
        URL(url)
    except (ValueError, TypeError) as exc:
        raise JetstreamConfigError(f"{name}={url!r} is not a valid URL ({exc})") from None
    return url


def check_urls(raw: str) -> list[str]:
    """VEILLE_JETSTREAM_URL as its list of instances (separated by commas: the collector goes to
    the next when one cannot be reached), each as check_url; JetstreamConfigError for an empty
    list or a bad address."""
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) > 1 and not all(parts):
        raise JetstreamConfigError(f"VEILLE_JETSTREAM_URL={raw.strip()!r} holds an empty address "
                                   "between its commas")
    urls = [check_url(part) for part in parts]
    return list(dict.fromkeys(urls))


class JetstreamCollector(Collector):
    """Follows Jetstream and sends the posts naming a brand (see the module's docstring)."""

    name = "jetstream"

    def __init__(self, settings: Settings, metrics: CollectorMetrics,
                 sink: MentionSink | None = None, *, watchlist: Watchlist | None = None,
                 backoff_base: float = BACKOFF_BASE, backoff_max: float = BACKOFF_MAX,
                 flush_seconds: float = FLUSH_SECONDS, max_batch: int = MAX_BATCH,
                 save_seconds: float = SAVE_SECONDS, tick_seconds: float = TICK_SECONDS,
                 heartbeat: float = HEARTBEAT_SECONDS, stop_grace: float = 30.0,
                 connect_timeout: float = CONNECT_SECONDS, idle_seconds: float = IDLE_SECONDS,
                 rng: random.Random | None = None) -> None:
        """`watchlist`: the rules to match (tests, embedding code), else the watch list's file,
        followed while the collector runs."""
        super().__init__(settings, metrics, sink)
        self.urls = [u.strip() for u in settings.jetstream_url.split(",") if u.strip()]
        self.url = self.urls[0] if self.urls else ""  # the instance in use
        self.watchlist = watchlist
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.flush_seconds = flush_seconds
        self.max_batch = max_batch
        self.save_seconds = save_seconds
        self.tick_seconds = tick_seconds
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        self.idle_seconds = idle_seconds
        self.stop_grace = stop_grace
        self.rng = rng or random.Random()
        self.max_text_chars = settings.max_text_chars
        self.limits = Limits.from_settings(settings)
        self.max_future = timedelta(seconds=settings.max_future_seconds)
        self.store = StateStore(Path(settings.collector_state_dir) / self.name)
        self.book = CursorBook(rewind_us=int(settings.jetstream_rewind_seconds * 1_000_000))
        self.reloader: Reloader[Watchlist] | None = None
        #: Unix time of the last event read (the cursor's at start, else the start's): the lag.
        self.last_event = time.time()
        self.stream = JetstreamMetrics(metrics.registry, lambda: self.last_event)
        self.failures = 0  # connections in a row that ended before an event was read
        self.broker_failures = 0  # batches in a row the broker did not acknowledge
        self.connections = 0  # connections made (tests)
        self._batch: list[RawMention] = []
        self._answers: list[Record] = []  # the brands' answers, sent with the batch
        self._batch_since = 0.0
        self._saved = 0  # the book's version saved
        self._saved_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._opened = False  # the current connection was opened (a failure is then "closed")
        self._read_any = False  # the current connection gave an event
        #: Where the stream last ended on an unreadable message (the newest time_us read before
        #: it), how many times in a row, and the time the next connection asks from at least.
        self._stuck_at: int | None = None
        self._stuck_times = 0
        self._skip_from: int | None = None
        self._refusals_since = time.monotonic()  # the refusals' log window's start
        self._refusals_logged = 0  # refusals logged in the window
        self._refusals_unlogged = 0  # refusals counted, not logged, in the window

    # -- life cycle -----------------------------------------------------------------------------

    def check_config(self) -> None:
        self.urls = check_urls(self.settings.jetstream_url)
        self.url = self.urls[0]

    def load_watchlist(self, path: Path) -> Watchlist:
        """The watch list at `path`, or JetstreamConfigError (one that does not load, or holds
        no brand: nothing to match), at start as when it changes (the one in use then stays)."""
        try:
            watchlist = Watchlist.from_toml(path)
        except WatchlistError as exc:
            raise JetstreamConfigError(str(exc)) from None
        if not watchlist.brands:
            raise JetstreamConfigError(f"{path}: no brand to match the posts against")
        return watchlist

    def _take_watchlist(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist  # the next post read is matched against it
        log.info("jetstream: watch list changed: %d brands from the next post on",
                 len(watchlist.brands))

    async def start(self) -> None:
        self.check_config()
        self.store.check()
        if self.watchlist is None:
            self.reloader = follow_watchlist(
                self.settings.watchlist_path, self.load_watchlist,
                self.settings.watchlist_reload_seconds, self.metrics.registry,
                size=lambda w: len(w.brands))
            self.reloader.on_change(self._take_watchlist)
            self.watchlist = self.reloader.value
        saved = self._load_cursor()
        ceiling = self._ceiling()
        self.book = CursorBook.from_state(saved, self.book.rewind_us, ceiling=ceiling)
        if self.book.acked == ceiling:
            log.warning("jetstream: the saved cursor %s is ahead of the clock; resuming from now",
                        printable(str(saved.get("cursor") if isinstance(saved, dict) else None))[:40])
        self._saved = self.book.version
        if self.book.acked is not None:
            self.last_event = self.book.acked / 1e6
            log.info("jetstream: resuming from %s (less %g s)",
                     iso(datetime.fromtimestamp(self.book.acked / 1e6, UTC)),
                     self.book.rewind_us / 1e6)
        if self._session is None:
            # A connection (TCP, TLS) and the WebSocket handshake's answer are each given up
            # after connect_timeout (aiohttp's default would wait 5 minutes, or for ever for a
            # server that accepts and never answers); once connected, aiohttp lifts the read
            # timeout (the heartbeat watches the socket).
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.settings.collector_user_agent},
                middlewares=(refuse_redirects,),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout,
                                              sock_read=self.connect_timeout))

    def _load_cursor(self) -> Any:
        """The saved state (CURSOR_FILE), None when there is none; a damaged one is moved aside
        (logged) and the collector starts live."""
        path = self.store.directory / CURSOR_FILE
        try:
            # Read at most MAX_STATE_BYTES of a regular file: a file of gigabytes, or one that is
            # /dev/zero (a symlink), took all the memory at start; a FIFO held the start for ever.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    raise ValueError("not a regular file")
                raw = f.read(MAX_STATE_BYTES + 1)
            if len(raw) > MAX_STATE_BYTES:
                raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
            return json.loads(raw.decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            with contextlib.suppress(OSError):
                os.replace(path, path.with_suffix(".corrupt"))
            log.error("jetstream: the saved cursor %s is unreadable (%s: %s); moved aside, "
                      "starting live", path, type(exc).__name__, printable(str(exc))[:120])
            return None

    async def run(self) -> None:
        await self.run_until_stopped(self._loop(), self.reloader, self.stop_grace)

    async def close(self) -> None:
        try:
            self._refusal_log_window(end=True)
            self._save(force=True)
            await super().close()
        finally:
            self.store.release()
            if self._session is not None:
                await self._session.close()
                self._session = None

    # -- the stream -----------------------------------------------------------------------------

    def subscribe_url(self) -> URL:
        query = {"wantedCollections": POST_COLLECTION, "maxMessageSizeBytes": str(MAX_EVENT_BYTES)}
        resume = self.book.resume_from()
        if resume is not None and self._skip_from is not None:
            resume = max(resume, self._skip_from)
        if resume is not None:
            query["cursor"] = str(resume)
        return URL(self.url).update_query(query)

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            cause = "closed"
            self._opened = self._read_any = False
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except BrokerUnavailable as exc:
                cause = "broker"
                log.warning("jetstream: the broker did not acknowledge the posts read (%s); "
                            "reading again from the cursor", printable(str(exc))[:200])
            except UnreadableMessage as exc:
                log.warning("jetstream: %s: %s", self.url, printable(str(exc))[:300])
                self._skip_unreadable()
            except aiohttp.WSServerHandshakeError as exc:
                cause = "unreachable"
                log.warning("jetstream: %s refused the connection: HTTP %s %s", self.url, exc.status,
                            printable(exc.message)[:300])
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                cause = "closed" if self._opened else "unreachable"
                log.warning("jetstream: %s: %s", self.url,
                            printable(f"{type(exc).__name__}: {exc}")[:300])
            except Exception as exc:  # a bug must not end the stream silently: log, back off
                cause = "error"
                log.exception("jetstream: unexpected error (%s)", type(exc).__name__)
            finally:
                self.stream.connected.set(0)
            if self.stopping.is_set():
                break
            if cause == "broker":  # the stream works: the broker's failures in a row
                self.broker_failures += 1
                failures = self.broker_failures
            else:
                self.failures += 1
                failures = self.failures
                if not self._read_any and len(self.urls) > 1:
                    # This connection gave no event: the next instance (the cursor is the same
                    # on every one), the first again after the last.
                    before = self.url
                    self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
                    log.warning("jetstream: %s read nothing; trying %s", before, self.url)
            delay = backoff_delay(failures, self.backoff_base, self.backoff_max, self.rng)
            self.stream.reconnects.labels(cause).inc()
            log.warning("jetstream: connection ended (%s); connecting again in %.1f s", cause, delay)
            if await sleep_or_stop(self.stopping, delay):
                break

    def _skip_unreadable(self) -> None:
        """The stream ended on a message that cannot be read. The first time at a place, the
        next connection asks from the cursor as usual (a connection broken mid-message); again
        at the same place, it asks from a little past the last event read (SKIP_US, doubled at
        each try), skipping that message and what Jetstream saw in the same instant: otherwise
        every connection would end on that message, and the stream would stop there for good."""
        at = self.book.read
        if at is None:  # live: the next connection starts elsewhere
            return
        self._stuck_times = self._stuck_times + 1 if at == self._stuck_at else 0
        self._stuck_at = at
        if self._stuck_times:
            skip = SKIP_US << min(self._stuck_times - 1, 20)
            self._skip_from = at + skip
            log.warning("jetstream: the stream ends again on a message that cannot be read after "
                        "%s; skipping %.3f s of it", iso(datetime.fromtimestamp(at / 1e6, UTC)),
                        skip / 1e6)

    async def _follow(self) -> None:
        """One connection: read until it ends or the collector stops, then send what is left."""
        assert self._session is not None, "start() first"
        url = self.subscribe_url()
        try:
            async with self._session.ws_connect(
                    url, heartbeat=self.heartbeat, max_msg_size=2 * MAX_EVENT_BYTES,
                    autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    # No permessage-deflate: a stranger's frames are not inflated.
                    compress=0, proxy=None) as ws:
                self._check_peer(ws)
                self.connections += 1
                self._opened = True
                self.stream.connected.set(1)
                log.info("jetstream: connected to %s (cursor %s)", self.url,
                         url.query.get("cursor", "live"))
                await self._read(ws)
        finally:
            self.stream.connected.set(0)
            await self._flush()  # read before the end: sent (or dropped, read again)
            self._save()

    def _check_peer(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """ws:// (no TLS) is for this machine only: the address connected to must be a loopback
        one, or the connection is refused (check_url allows `localhost` and names under
        `.localhost`, which the system may ask DNS for: an answer naming another host had the
        collector read a stranger's stream in clear text)."""
        if URL(self.url).scheme != "ws":
            return
        peer = ws.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not host or not names_loopback(host):
            raise aiohttp.ClientConnectionError(
                f"ws:// reached {printable(host)[:60] or 'an unknown address'}, not this machine: "
                "refused (ws:// is for a Jetstream on this machine only)")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        last = time.monotonic()  # the last message's arrival
        while not self.stopping.is_set():
            try:
                msg = await ws.receive(timeout=self._wait())
            except TimeoutError:
                if time.monotonic() - last >= self.idle_seconds:
                    raise aiohttp.ServerTimeoutError(
                        f"no message in {self.idle_seconds:g} s; connecting again") from None
                await self._tick()
                continue
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                last = time.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                self._event(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self._refuse(Refused("unsupported", "a binary message"))
            elif msg.type == aiohttp.WSMsgType.ERROR:
                if isinstance(msg.data, aiohttp.WebSocketError) and msg.data.code == 1009:
                    self._refuse(Refused("payload_too_large",
                                         f"a message of more than {2 * MAX_EVENT_BYTES} bytes; "
                                         "the connection is closed"))
                if isinstance(msg.data, aiohttp.WebSocketError) and msg.data.code in UNREADABLE_CODES:
                    raise UnreadableMessage(f"a message that cannot be read ({msg.data.code}: "
                                            f"{str(msg.data)[:200]}); the connection is closed")
                raise aiohttp.ClientConnectionError(
                    printable(f"the connection failed: {msg.data}")[:300])
            else:  # CLOSE, CLOSING, CLOSED
                log.info("jetstream: the server closed the connection (code %s)", ws.close_code)
                return
            await self._tick()

    def _waiting(self) -> int:
        """The mentions and answers of the batch, waiting to be sent."""
        return len(self._batch) + len(self._answers)

    def _wait(self) -> float:
        """How long the socket may be read: until the batch is due, at most tick_seconds."""
        if self._waiting():
            return max(0.001, min(self.tick_seconds,
                                  self._batch_since + self.flush_seconds - time.monotonic()))
        return self.tick_seconds

    async def _tick(self) -> None:
        self._refusal_log_window()
        waiting = self._waiting()
        if waiting and (waiting >= self.max_batch
                        or time.monotonic() - self._batch_since >= self.flush_seconds):
            await self._flush()
        self._save()

    async def _flush(self) -> None:
        """Send the batch, its mentions and its answers in one write; BrokerUnavailable when the
        broker does not take it (then dropped: the cursor stays, the stream is read again from
        it, answers as mentions)."""
        if not self._waiting():
            return
        batch, self._batch = self._batch, []
        answers, self._answers = self._answers, []
        try:
            await self.sink.send(batch, records=answers)
        except BrokerUnavailable:
            self.book.dropped()
            raise
        self.book.sent()
        self.broker_failures = 0
        if answers:
            self.metrics.answers_sent.labels(self.name).inc(len(answers))
            log.info("jetstream: %d %s of the brands' accounts sent to %s", len(answers),
                     answers_noun(len(answers)), answers[0].topic)

    def _save(self, *, force: bool = False) -> None:
        """The cursor and the rewind's ids, when they changed: at most every save_seconds
        (force: now)."""
        if self.book.acked is None or self.book.version == self._saved:
            return
        if not force and time.monotonic() - self._saved_at < self.save_seconds:
            return
        data = {**self.book.state(), "url": self.url, "saved_at": iso(datetime.now(UTC))}
        try:
            self.store.write(CURSOR_FILE, data)
        except OSError as exc:
            log.error("jetstream: could not save the cursor in %s (%s)", self.store.directory,
                      exc.strerror or type(exc).__name__)
            return
        self._saved, self._saved_at = self.book.version, time.monotonic()

    # -- one event ------------------------------------------------------------------------------

    def _event(self, raw: str) -> None:
        """One text message: a post naming a brand joins the batch; anything else moves the
        cursor. An error of the collector's own on one event (a bug) refuses that event alone
        (processing_error, logged with its traceback): ending the connection would read the same
        event again from the cursor, for ever."""
        try:
            self._take_event(raw)
        except Exception as exc:
            self._refusal_log_window()
            if self._refusals_logged < REFUSALS_LOGGED:  # a traceback each: thinned as well
                log.exception("jetstream: an event could not be processed (%s)", type(exc).__name__)
            self._refuse(Refused("processing_error", f"{type(exc).__name__} (a bug)"))

    def _take_event(self, raw: str) -> None:
        try:
            time_us, post = read_event(raw)
        except Refused as exc:
            self._refuse(exc)
            return
        self.book.event(time_us, ceiling=self._ceiling())
        self.last_event = min(time_us / 1e6, time.time())
        self.failures = 0  # the stream works
        self._read_any = True
        if post is None:
            self.stream.events.labels("ignored").inc()
            return
        self.stream.events.labels("post").inc()
        self.metrics.fetched.labels(self.name).inc()
        assert self.watchlist is not None
        owner = self.watchlist.account_owner(post.did)  # the brand posting, if one of the list's
        if owner is not None:
            self._take_answer(post, owner, time_us)
        brands = self.watchlist.match(post.text).brands
        if not brands or all(brand == owner for brand in brands):
            return  # naming no brand, or only the poster's own: no mention of it
        ident = mention_id(post.uri)
        if self.book.seen(ident):
            return  # sent before the rewind, or waiting in the batch
        self.stream.matched.inc()
        mention = self._mention(post)
        if mention is None:
            return
        if not self._waiting():
            self._batch_since = time.monotonic()
        self._batch.append(mention)
        self.book.add(mention.id, time_us)

    def _take_answer(self, post: Post, owner: str, time_us: int) -> None:
        """A post of one of `owner`'s accounts replying to a post of an account that is not
        `owner`'s joins the batch as the brand's answer: a `replied` decision (answered_on
        bluesky) of the case of the post answered (its mention id), by the account (its DID:
        Jetstream gives no handle), at the reply's time and with its link as a mention of it
        would have them. Remembered by the cursor as a mention is (`answer-` + the reply's
        mention id): sent once, and only acknowledged answers let the cursor pass them."""
        assert self.watchlist is not None
        parent, parent_author = post.parent, post.parent_author
        if parent is None or parent_author is None:
            return  # no reply, or to a post that cannot be told
        if self.watchlist.account_owner(parent_author) == owner:
            return  # the brand answering itself (a thread of its own)
        key = "answer-" + mention_id(post.uri)
        if self.book.seen(key):
            return
        reply = self._mention(post)  # dated and linked as the collector dates and links posts
        if reply is None:
            return  # refused (logged, counted): no time to date the answer by
        decision = answer(mention_id(parent), by=reply.author or post.did,
                          at=reply.created_at, platform="bluesky",
                          reason=reply.url or f"answered on Bluesky ({post.uri})"[:1000])
        try:
            record = answer_record(self.settings, decision)
        except DecisionError as exc:  # never expected: the watch list's DIDs fit
            log.warning("jetstream: the answer %s is no valid decision, not sent: %s",
                        printable(post.uri)[:200], exc)
            return
        if not self._waiting():
            self._batch_since = time.monotonic()
        self._answers.append(record)
        self.book.add(key, time_us)

    @staticmethod
    def _ceiling() -> int:
        """The cursor never moves to a time more than CURSOR_AHEAD_SECONDS ahead of the clock
        (a server's clock far ahead would have the next connection skip what comes between)."""
        return int((time.time() + CURSOR_AHEAD_SECONDS) * 1_000_000)

    def _mention(self, post: Post) -> RawMention | None:
        now = datetime.now(UTC)
        try:
            obj = post_to_dict(post.view(), collected_at=now, max_text_chars=self.max_text_chars)
            obj["source"] = self.name  # the collector (the record contract); the id is the same
            seen = datetime.fromtimestamp(post.time_us / 1e6, UTC)
            created = obj.get("created_at")
            when = parse_time(created, "created_at") if isinstance(created, str) else None
            if when is not None and when > seen + self.max_future:
                # The poster's clock runs fast: dated when Jetstream saw it.
                obj["created_at"] = iso(seen)
            return mention_from_dict(obj, now=now, limits=self.limits)
        except InvalidMention as exc:
            self._refuse(Refused(exc.reason, exc.detail, post.time_us), uri=post.uri)
        except Exception as exc:  # a strange post: refuse it alone, keep the stream
            self._refuse(Refused("processing_error", f"could not be read: {type(exc).__name__}"),
                         uri=post.uri)
        return None

    def _refuse(self, exc: Refused, uri: str | None = None) -> None:
        if exc.time_us is not None:
            self.book.event(exc.time_us, ceiling=self._ceiling())
        if uri is None:
            self.stream.events.labels("refused").inc()
        self.metrics.refused.labels(self.name, exc.reason).inc()
        self._refusal_log_window()
        if self._refusals_logged >= REFUSALS_LOGGED:
            self._refusals_unlogged += 1
            return
        self._refusals_logged += 1
        # Escaped: the detail quotes what the network sent.
        log.info("jetstream: %s refused (%s): %s", printable(uri)[:200] if uri else "event",
                 exc.reason, printable(exc.detail)[:300])

    def _refusal_log_window(self, *, end: bool = False) -> None:
        """A new window for the refusals' log every REFUSAL_LOG_SECONDS (or `end`: now), the
        ones not logged in the last said in one line."""
        now = time.monotonic()
        if not end and now - self._refusals_since < REFUSAL_LOG_SECONDS:
            return
        if self._refusals_unlogged:
            log.warning("jetstream: %d more events refused in the last %.0f s, not logged "
                        "(veille_collector_items_refused_total{collector=\"jetstream\"} by reason)",
                        self._refusals_unlogged, now - self._refusals_since)
        self._refusals_since, self._refusals_logged, self._refusals_unlogged = now, 0, 0


async def run_jetstream(settings: Settings, *, collector: JetstreamCollector | None = None) -> None:
    """Serve /metrics and follow Jetstream until SIGTERM/SIGINT."""
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = JetstreamCollector(settings, CollectorMetrics(CollectorRegistry()))
    collector.check_config()  # refuse a bad URL before serving anything
    collector.store.check()  # and a state folder another collector holds
    server = serve_metrics(collector.settings, collector.metrics, collector.name)
    try:
        await collector.serve()
    finally:
        stop_metrics(server)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.jetstream` is `veille collect jetstream`."""
    from veille.cli import main as cli

    return cli(["collect", "jetstream", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
