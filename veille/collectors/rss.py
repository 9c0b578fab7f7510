"""RSS/Atom collector: polls the watch list's `[[feeds]]` (Google Alerts, Feedly, news sites...).

Each feed is polled on its own interval with a conditional GET (ETag / Last-Modified). New
entries become RawMentions with a stable id (the article's address, else the feed and entry);
they are recorded as seen, in a per-feed state file, only once the broker has acknowledged
them, so a crash or a restart never loses an entry and a polite restart never emits one twice.
The watch list is followed while the collector runs (veille.reload): a feed added is polled from
then on, one taken off no longer, one kept keeps its state (RssCollector.use_feeds).

Also holds the helpers the Mastodon collector shares: HTML to text, atomic JSON state files,
backoff with jitter, Retry-After parsing and the collectors' /metrics server.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import sys
import tempfile
import time
import xml.sax
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
from yarl import URL

from streams.records import (
    MAX_SHORT_FIELD_CHARS,
    InvalidMention,
    Limits,
    RawMention,
    is_web_address,
    iso,
    parse_time,
)
from streams.records import mention_from_dict as _mention_from_dict
from veille.broker import url_host
from veille.collectors.addresses import AddressPolicy, ForbiddenAddress, GuardedResolver
from veille.collectors.base import BrokerUnavailable, Collector, MentionSink
from veille.logs import say
from veille.metrics import CollectorMetrics, FeedMetrics
from veille.reload import Reloader, follow_watchlist
from veille.rules import WatchlistError, read_toml, unknown_tables
from veille.settings import Settings, SettingsError
from veille.terminal import shown
from veille.timezones import (
    TimezoneError,
    local_time,
    rfc822_time,
    zone,
    zone_abbreviation_minutes,
)

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
MIN_INTERVAL = 30.0
MAX_INTERVAL = 86_400.0  # one day
MAX_FEED_URL_CHARS = MAX_SHORT_FIELD_CHARS
DEFAULT_PLATFORM = "news"
MAX_SEEN_PER_FEED = 5000
#: The seen-id set keeps at least as many ids as the feed holds (else old entries come back at
#: every poll), but never more than this: a 10 MB feed of tiny entries stays bounded.
MAX_SEEN_HARD_CAP = 100_000
#: A feed's redirects followed at most (aiohttp's default: the 10th is an error, as before).
MAX_REDIRECTS = 10
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
STATE_VERSION = 1
FEED_KEYS = {"url", "name", "interval_seconds", "platform", "timezone", "brand"}
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


# --------------------------------------------------------------------------------------------
# Shared helpers (also used by veille.collectors.mastodon)
# --------------------------------------------------------------------------------------------

_BREAK = "\x00"  # a <br>
_PARAGRAPH = "\x01"  # the edge of a block element
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "header", "footer", "aside", "nav", "main", "blockquote",
    "pre", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "td",
    "th", "caption", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "figure", "figcaption",
    "address", "details", "summary", "form", "fieldset",
})
_SKIPPED_TAGS = frozenset({"script", "style", "template", "head", "title", "iframe", "object"})


class _TextExtractor(HTMLParser):
    def __init__(self, links: Mapping[str, str] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._links = links or {}
        self._in_link = False  # inside a link written as self._links says

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a" and self._links and not self._in_link:
            href = dict(attrs).get("href")
            if href and href in self._links:
                self.parts.append(self._links[href])
                self._in_link = True
        if tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag == "br":
            self.parts.append(_BREAK)
        elif tag in _BLOCK_TAGS or tag == "img":
            self.parts.append(_PARAGRAPH if tag != "img" else " ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED_TAGS:  # <script/> opens nothing
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = False
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(_PARAGRAPH)

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._in_link:
            self.parts.append(_CONTROL.sub("", data))


def html_to_text(html: str, *, keep_paragraphs: bool = False,
                 links: Mapping[str, str] | None = None) -> str:
    """Plain text of an HTML fragment: tags dropped, entities unescaped, whitespace collapsed.

    With `keep_paragraphs`, block elements become blank lines and <br> a line break (Mastodon);
    otherwise everything is one line (feed titles and summaries). `links` maps link targets
    (href) to the text written for the whole link (a Mastodon mention: its full account).
    """
    if not html:
        return ""
    parser = _TextExtractor(links)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; never let a strange fragment stop a poll
        log.debug("could not parse an HTML fragment; using the text as is", exc_info=True)
        return " ".join(_CONTROL.sub("", html).split())
    text = "".join(parser.parts)
    if not keep_paragraphs:
        return " ".join(text.replace(_BREAK, " ").replace(_PARAGRAPH, " ").split())
    paragraphs = []
    for block in text.split(_PARAGRAPH):
        lines = [" ".join(line.split()) for line in block.split(_BREAK)]
        lines = [line for line in lines if line]
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def plain_text(value: str) -> str:
    """A plain-text field (no markup): control characters dropped, whitespace collapsed."""
    return " ".join(_CONTROL.sub("", value).split())


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word boundary when one is near, with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


def short_hash(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: base * 2^(failures-1), capped, times a factor in [0.5, 1]."""
    exponent = min(max(failures - 1, 0), 30)
    delay = min(cap, base * (2**exponent))
    return delay * (rng or random).uniform(0.5, 1.0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def answered_at(headers: Mapping[str, str]) -> float:
    """When a server answered, on its own clock: its answer's Date header. The times it gives
    (a Retry-After date, a rate limit's reset) are on that clock, and read with ours, a
    collector minutes behind the server waited minutes more than asked, one ahead not at all.
    Our clock when the header is missing, unreadable or more than a day off ours (a server's
    broken clock)."""
    now = time.time()
    try:
        value = headers.get("Date")
        when = parsedate_to_datetime(value) if value else None
        stamp = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() if when else None
    except (TypeError, ValueError, IndexError, OverflowError):
        stamp = None
    return stamp if stamp is not None and abs(stamp - now) <= 86400 else now


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from an answer's Retry-After (a date read on the server's clock,
    answered_at), or None."""
    return parse_retry_after(headers.get("Retry-After"), answered_at(headers))


async def sleep_or_stop(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, or less if `stopping` is set meanwhile; True when stopping."""
    if stopping.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


class StateDirError(ValueError):
    """VEILLE_COLLECTOR_STATE_DIR cannot hold the collectors' state."""


class StateStore:
    """One small JSON document per key in a folder, written atomically (temp file + os.replace)."""

    #: The file a collector holds locked (flock) while it uses the folder; it names its pid.
    LOCK_FILE = ".lock"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock: BinaryIO | None = None

    def check(self) -> None:
        """StateDirError unless the folder exists or can be made, takes a file, and is used by
        no other collector: a state that cannot be saved has a cron job send the same entries
        again at every run. The folder is then held until release() (or the process's end)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=self.directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StateDirError(
                f"VEILLE_COLLECTOR_STATE_DIR: cannot keep the collector's state in "
                f"{self.directory} ({exc.strerror or exc}): set it to a writable folder") from None
        self.hold()

    def hold(self) -> None:
        """Lock the folder for this collector (an exclusive flock on LOCK_FILE, let go by the
        kernel when the process ends, however it ends), or StateDirError naming the process that
        holds it. Two collectors on one folder (a cron `--once` run still going when the next
        starts, a second container on the same volume) each load the same cursors and save
        their own over the other's: entries sent twice, a cursor moved back, the Bluesky
        session's refresh token spent by one and the other signed out (found 2026-12-06).
        Where flock does not exist (Windows), nothing is locked."""
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover (not on Linux)
            return
        # A file object: closed (and the lock let go) with the store if nothing released it.
        lock = open(self.directory / self.LOCK_FILE, "a+b")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read(20).decode("ascii", "replace").strip() or "unknown"
            lock.close()
            raise StateDirError(
                f"VEILLE_COLLECTOR_STATE_DIR: {self.directory} is in use by another collector "
                f"(pid {holder}): two would overwrite each other's state and send entries again. "
                "Wait for it to end (a cron run still going) or give this one its own "
                "VEILLE_COLLECTOR_STATE_DIR") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n".encode())
        lock.flush()
        self._lock = lock

    def release(self) -> None:
        """Let go of the folder (hold)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def path(self, key: str) -> Path:
        return self.directory / f"{short_hash(key)}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            # Keep the damaged file for inspection and start afresh: at worst entries are sent
            # again, and the enrichment stage drops them as duplicates. (RecursionError: JSON
            # nested deeper than the parser goes, which crashed every start until 2026-12-06.)
            aside = path.with_suffix(".corrupt")
            try:
                os.replace(path, aside)
                where = f"moved to {aside.name}"
            except OSError:
                where = "left in place"
            log.error("state file %s is unreadable (%s); %s, starting afresh", path,
                      exc if not isinstance(exc, RecursionError) else "nested too deep", where)
            return None
        return data if isinstance(data, dict) else None

    def save(self, key: str, data: dict[str, Any]) -> None:
        self.write(self.path(key).name, data)

    def write(self, name: str, data: dict[str, Any]) -> None:
        """`data` as the folder's file `name`, atomically: written to a temp file (mkstemp:
        mode 0600 from its creation, a umask can only take from it) then renamed over the old
        one, so the file is never readable by another user, not even while it is written (the
        Bluesky collector keeps its session's tokens so)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / name
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, separators=(",", ":"))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):  # make the rename itself durable where possible
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def serve_metrics(settings: Settings, metrics: CollectorMetrics, collector: str) -> Any:
    """/metrics on settings.metrics_host:settings.collector_metrics_port; returns the server."""
    from veille.exposition import start_http_server

    try:
        server, _thread = start_http_server(
            settings.collector_metrics_port, addr=settings.metrics_host, registry=metrics.registry
        )
    except OSError as exc:
        raise SettingsError(
            f"cannot serve /metrics on {settings.metrics_host}:{settings.collector_metrics_port}"
            f" ({exc.strerror or exc}): each collector process needs its own "
            "VEILLE_COLLECTOR_METRICS_PORT (0 = any free port)"
        ) from None
    say(f"veille {collector}: metrics on http://{url_host(settings.metrics_host)}:{server.server_port}"
        "/metrics", file=sys.stderr)
    return server


def stop_metrics(server: Any) -> None:
    with contextlib.suppress(Exception):
        server.shutdown()
        server.server_close()


class FetchError(RuntimeError):
    """A request to a source failed; `retry_after` (seconds) when the server asked for a pause."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ForbiddenRedirect(FetchError):
    """A feed's server redirected to a host that is not a configured feed's and is, or resolves
    to, an internal address (loopback, private, link-local...): refused (server-side request
    forgery), `host` that host."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"redirect to {host} refused: {reason} (only the configured feeds' "
                         "hosts may be internal)")
        self.host = host


async def read_body(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The body of `resp`, read in 64 KiB chunks; past `limit` bytes (declared or read) a
    FetchError "`what` larger than `limit` bytes": a server that never stops sending costs at
    most that much memory."""
    if resp.content_length is not None and resp.content_length > limit:
        raise FetchError(f"{what} larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{what} larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# Feed configuration
# --------------------------------------------------------------------------------------------


class FeedConfigError(ValueError):
    """A `[[feeds]]` table of the watch list is malformed."""


class RssRoundFailed(FeedConfigError):
    """`--once`: no feed could be read (a FeedConfigError so that the CLI prints
    `veille: error: ...` and exits 2: a cron job whose every feed is gone, moved or refused
    fails visibly instead of exiting 0 for ever)."""


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    name: str | None = None
    interval_seconds: float = DEFAULT_INTERVAL
    platform: str = DEFAULT_PLATFORM
    #: IANA zone in which the feed's dates written with no zone at all are read (None: unknown).
    timezone: str | None = None
    #: The brand every entry of the feed concerns (its blog's comments, a Google Alert on its
    #: name): the `brands` of each entry's raw mention. One of the watch list's ids.
    brand: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.url


def feed_metric_name(feed: FeedConfig, index: int) -> str:
    """The feed's `feed` label: its name in the watch list, or `feed-N` (its place there, from
    1) when it has none; never its URL, which may carry a token (a Google Alerts feed's does)."""
    return feed.name or f"feed-{index + 1}"


#: PollResult status -> the `kind` of veille_rss_feed_failures_total.
_FAILURE_KIND = {"fetch_error": "fetch", "not_a_feed": "not_a_feed", "broker_error": "broker",
                 "forbidden_address": "forbidden_address"}


def load_feeds(path: str | Path, *, min_interval: float = MIN_INTERVAL) -> list[FeedConfig]:
    """The `[[feeds]]` tables of a watch-list TOML file (its `[[brands]]` are left to the worker)."""
    return feeds_from_dict(_read_toml(path), source=str(path), min_interval=min_interval)


class FeedList(NamedTuple):
    """The watch list as the RSS collector follows it: its feeds, and how many `[[brands]]` it
    has (veille_watchlist_brands, as the workers export it)."""

    feeds: list[FeedConfig]
    brands: int


def load_feed_list(path: str | Path) -> FeedList:
    """The feeds of the watch list at `path`, or FeedConfigError: a file that does not load, a
    `[[feeds]]` table refused, or no feed at all (nothing to poll), at start as when the file
    changes while the collector runs: such a change is refused and the feeds in use stay (a
    collector left polling nothing would not start again with that file)."""
    data = _read_toml(path)
    feeds = feeds_from_dict(data, source=str(path))
    if not feeds:
        raise FeedConfigError(f"{path}: no [[feeds]] table, nothing to poll")
    brands = data.get("brands")
    return FeedList(feeds, len(brands) if isinstance(brands, list) else 0)


def _read_toml(path: str | Path) -> dict[str, Any]:
    """A watch-list TOML file's tables, read as the workers read it (veille.rules.read_toml),
    or FeedConfigError saying why it cannot be read."""
    try:
        return read_toml(path)
    except WatchlistError as exc:
        raise FeedConfigError(str(exc)) from None


def _number_text(value: float) -> str:
    """A number for an error message (str() of an int over 4300 digits raises ValueError)."""
    if isinstance(value, int) and abs(value) >= 10**18:
        return "over 10^18"
    return f"{value:g}" if isinstance(value, float) else str(value)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def feed_url_key(url: str, where: str = "feed") -> str:
    """The normal form of a feed address, to find one feed listed twice under two spellings:
    scheme and host in lower case, the default port left out, no fragment, "/" for no path.

    FeedConfigError, starting with `where`, when `url` is not an http(s) address a request can
    be sent to (whitespace, no host, a port outside 1..65535, a malformed IPv6 address...).
    """
    if len(url) > MAX_FEED_URL_CHARS:
        raise FeedConfigError(f"{where}: url is longer than {MAX_FEED_URL_CHARS} characters")
    given = repr(url)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise FeedConfigError(f"{where}: url {given} contains whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "http://[::1": Invalid IPv6 URL
        raise FeedConfigError(f"{where}: url {given} is not a valid address ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise FeedConfigError(f"{where}: url {given} must be an http:// or https:// address")
    host = parts.hostname
    if not host:
        raise FeedConfigError(f"{where}: url {given} has no host name")
    try:
        port = parts.port
    except ValueError:  # "abc", 99999
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise FeedConfigError(f"{where}: url {given} has an invalid port: a port is a number "
                              "from 1 to 65535")
    host = host.lower()
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def feeds_from_dict(data: dict[str, Any], *, source: str = "watch list",
                    min_interval: float = MIN_INTERVAL) -> list[FeedConfig]:
    wrong = unknown_tables(data)  # a misspelt [[feed]] would be ignored without a word
    if wrong:
        raise FeedConfigError(f"{source}: {wrong}")
    entries = data.get("feeds", [])
    if not isinstance(entries, list):
        raise FeedConfigError(f"{source}: `feeds` must be an array of [[feeds]] tables")
    # The brand ids a feed's `brand` may name: those of the [[brands]] tables, as far as they
    # can be read (the collector leaves the brands' rules to the workers).
    listed = data.get("brands")
    brand_ids = [b["id"] for b in listed if isinstance(b, dict) and isinstance(b.get("id"), str)] \
        if isinstance(listed, list) else []
    feeds: list[FeedConfig] = []
    seen: dict[str, tuple[int, str]] = {}  # normal form of the url -> (feed number, url)
    for n, entry in enumerate(entries, 1):
        where = f"{source}: feed #{n}"
        if not isinstance(entry, dict):
            raise FeedConfigError(f"{where} must be a [[feeds]] table")
        unknown = set(entry) - FEED_KEYS
        if unknown:
            raise FeedConfigError(
                f"{where} has unknown keys {sorted(unknown)} (allowed: {sorted(FEED_KEYS)})"
            )
        name = entry.get("name")
        if isinstance(name, str) and name.strip() and len(name) <= 200:
            where += f" ({name.strip()!r})"
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise FeedConfigError(f"{where} needs a `url` string")
        url = url.strip()
        key = feed_url_key(url, where)
        where = f"{where} {url}"
        if key in seen:
            first, first_url = seen[key]
            same = "" if first_url == url else f" ({first_url})"
            raise FeedConfigError(f"{where} is listed twice: it is the same feed as feed "
                                  f"#{first}{same}")
        seen[key] = (n, url)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise FeedConfigError(f"{where}: `name` must be a non-empty string")
        interval = entry.get("interval_seconds", DEFAULT_INTERVAL)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise FeedConfigError(f"{where}: `interval_seconds` must be a number of seconds")
        if not interval >= min_interval:  # also refuses NaN
            raise FeedConfigError(
                f"{where}: `interval_seconds` is {_number_text(interval)}, "
                f"the minimum is {min_interval:g}"
            )
        if not interval <= MAX_INTERVAL:  # also refuses inf
            raise FeedConfigError(
                f"{where}: `interval_seconds` is {_number_text(interval)}, the maximum is "
                f"{MAX_INTERVAL:g} (one day)"
            )
        platform = entry.get("platform", DEFAULT_PLATFORM)
        if not isinstance(platform, str) or not platform.strip():
            raise FeedConfigError(f"{where}: `platform` must be a non-empty string")
        # The limits the record contract (streams/records.py) applies to a mention's platform,
        # checked on the value sent: a platform it refuses would make every entry refused.
        platform = platform.strip().lower()
        if len(platform) > MAX_SHORT_FIELD_CHARS:
            raise FeedConfigError(
                f"{where}: `platform` is longer than {MAX_SHORT_FIELD_CHARS} characters"
            )
        try:
            platform.encode("utf-8")
        except UnicodeEncodeError:
            raise FeedConfigError(
                f"{where}: `platform` holds a lone surrogate (not valid Unicode)"
            ) from None
        tz = entry.get("timezone")
        if tz is not None:
            try:
                zone(tz)
            except TimezoneError as exc:
                raise FeedConfigError(f"{where}: `timezone`: {exc}") from None
        brand = entry.get("brand")
        if brand is not None and brand not in brand_ids:
            known = ", ".join(brand_ids[:20]) + (" ..." if len(brand_ids) > 20 else "")
            got = shown(brand, 80)
            raise FeedConfigError(f"{where}: `brand` {got} is not the id of a brand of the "
                                  f"watch list ({known or 'no [[brands]] table'})")
        feeds.append(FeedConfig(url=url, name=name.strip() if name else None,
                                interval_seconds=float(interval), platform=platform,
                                timezone=tz, brand=brand))
    return feeds


# --------------------------------------------------------------------------------------------
# Entries -> mentions
# --------------------------------------------------------------------------------------------

_GOOGLE_HOST = re.compile(r"^(?:www\.)?google\.(?:com|[a-z]{2,3}|com?\.[a-z]{2})$")


def unwrap_google_url(link: str) -> str:
    """The real address behind a Google Alerts redirect (https://www.google.com/url?...&url=X)."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return link
    host = (parts.hostname or "").lower()
    if parts.path != "/url" or not _GOOGLE_HOST.match(host):
        return link
    query = parse_qs(parts.query)
    for key in ("url", "q"):
        for candidate in query.get(key, []):
            try:
                scheme = urlsplit(candidate).scheme
            except ValueError:  # e.g. "http://[oops": not an address to follow
                continue
            if scheme in ("http", "https"):
                return candidate
    return link


def _detail_text(value: str | None, detail: Any) -> str:
    if not value:
        return ""
    kind = (detail or {}).get("type") or "text/html"
    if "html" in kind:
        return html_to_text(value)
    return plain_text(value)


def entry_key(entry: Any) -> str | None:
    """What identifies an entry within its feed: id (guid), else its link with its title, else
    title, else its text and date (RSS 2.0 allows an item with a description alone: without a
    key it was refused at every poll, and never sent).

    The link alone was the key of an entry with no guid until 2026-12-05: the items of a status
    page's feed, all linking to its home page, had one key, and only the first was ever sent
    (the others dropped as repeats, then as seen, never counted)."""
    for candidate in (entry.get("id"), entry.get("guid")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    title = entry.get("title")
    title = title.strip() if isinstance(title, str) else ""
    summary = entry.get("summary")
    text = ""
    if isinstance(summary, str) and summary.strip():
        date = next((entry.get(k) for k in ("published", "updated", "created")
                     if isinstance(entry.get(k), str)), "")
        text = "text:" + short_hash(summary.strip() + "|" + date.strip())
    link = entry.get("link")
    if isinstance(link, str) and link.strip():
        what = title or text
        return unwrap_google_url(link.strip()) + (f"\n{what}" if what else "")
    return title or text or None


def mention_id(feed_url: str, key: str) -> str:
    """The id of an entry known by its key within its feed alone (no link of its own)."""
    return "rss-" + short_hash(feed_url + "|" + key)


#: Query parameters that track a click, not name a page: left out of an article's address.
_TRACKING = re.compile(r"^(?:utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid|xtor)$", re.I)


def entry_link(entry: Any) -> str | None:
    """The entry's own link. feedparser also makes one of an entry's id or guid when it has no
    link (an RSS guid is a permalink by default): kept only when that id is an http(s) address.
    Until 2026-12-06 an Atom entry without a link (`<id>urn:uuid:...</id>`, `tag:...`) was
    written with that id as its mention's `url`, an address no one can open."""
    link = entry.get("link")
    if not isinstance(link, str) or not link.strip():
        return None
    if entry.get("guidislink") and link == entry.get("id"):  # (a <link> after the <id> wins)
        try:
            scheme = urlsplit(link.strip()).scheme.lower()
        except ValueError:
            scheme = ""
        if scheme not in ("http", "https"):
            return None
    return link.strip()


def article_key(entry: Any) -> str | None:
    """The normal form of the address of the article an entry links to (Google Alerts'
    redirect undone; scheme and host in lower case, no default port, no fragment, no click
    trackers such as utm_source, the other query parameters sorted), or None when it has no
    http(s) link. The same article in two feeds (the alert of each brand it names, a news feed
    and an aggregator) has the same key."""
    link = entry_link(entry)
    if link is None:
        return None
    try:  # the feeds' own normal form, then the query without trackers, sorted
        base, _, query = feed_url_key(unwrap_google_url(link), "link").partition("?")
    except FeedConfigError:
        return None
    kept = sorted(p for p in query.split("&") if p and not _TRACKING.match(p.split("=", 1)[0]))
    return base + (f"?{'&'.join(kept)}" if kept else "")


def article_id(key: str) -> str:
    """The id of the mention of an article, whatever feed it came from: the enrichment's
    de-duplication then keeps one mention of it, not one per feed."""
    return "rss-a-" + short_hash(key)


def entry_id(entry: Any, feed: FeedConfig, shared: frozenset[str] = frozenset()) -> str | None:
    """The mention id of an entry: its article's (article_id) when it links to one that no
    other entry of its feed links to (a feed whose items all link to its home page would
    otherwise make one mention of them all), else its key within its feed (mention_id)."""
    article = article_key(entry)
    if article is not None and article not in shared:
        return article_id(article)
    key = entry_key(entry)
    return mention_id(feed.url, key) if key else None


def safe_entry_id(entry: Any, feed: FeedConfig, shared: frozenset[str] = frozenset()
                  ) -> str | None:
    """The entry's mention id (entry_id), or None when it has none or it cannot be worked out."""
    try:
        return entry_id(entry, feed, shared)
    except Exception:
        return None


def legacy_entry_id(entry: Any, feed: FeedConfig) -> str | None:
    """The id an entry had before 2026-12-04 (its key within its feed, for every entry): the
    feeds' saved state holds those, and an entry seen under it is not sent again."""
    try:
        key = entry_key(entry)
        return mention_id(feed.url, key) if key else None
    except Exception:
        return None


_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def _named_zone_minutes(raw: Any, hour: int, minute: int) -> int:
    """Minutes east of UTC of the zone name ending an RFC 822 date that feedparser read as UTC
    (`hour`:`minute` are what it made of the time: the same as written when it applied no
    offset), else 0. feedparser knows North America's names and MET/MEST only: a French feed's
    "10:00:00 CEST" was 10:00 UTC, two hours ahead (refused as from the future when the feed
    published at once)."""
    if not isinstance(raw, str):
        return 0
    words = raw.split()
    if len(words) < 2:
        return 0
    offset = zone_abbreviation_minutes(words[-1].removeprefix("Etc/").removeprefix("etc/"))
    clock = _CLOCK.search(words[-2])
    if not offset or clock is None or (int(clock[1]), int(clock[2])) != (hour, minute):
        return 0
    return offset


def _entry_time(entry: Any, local: tzinfo | None = None) -> datetime | None:
    """The entry's date in UTC; a naive one when its dates name no zone at all and `local` (the
    feed's `timezone`) is None (a date with a zone, even a later-named one, comes first); None
    when it has no date the collector can read."""
    zoneless: datetime | None = None
    for name in ("published", "updated", "created"):
        mine = rfc822_time(entry.get(name))
        if mine is not None:
            if mine.tzinfo is None:
                if local is None:
                    zoneless = zoneless or mine
                    continue
                mine = local_time(mine, local)
            try:
                return mine.astimezone(UTC)
            except (OverflowError, ValueError):
                continue
        value = entry.get(f"{name}_parsed")
        if value:
            try:
                year, month, day, hour, minute, second = value[:6]
                when = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            except (TypeError, ValueError):
                continue
            east = _named_zone_minutes(entry.get(name), hour, minute)
            return when - timedelta(minutes=east) if east else when
    return zoneless


#: How far a wall-clock time may be behind UTC (UTC-12, Baker Island): a date with no zone,
#: read in any zone of the world, is no later than that much after its own figures.
_WESTMOST = timedelta(hours=12)
class _Undated(InvalidMention):
    """An entry without a date, refused on a feed's first poll (see entry_to_dict); told apart
    from one whose date names no zone, which the poll's warning counts."""

    def __init__(self) -> None:
        super().__init__("invalid_field", "it has no date the collector can read; not dated by "
                         "the feed's first poll, whose entries may all be old", "created_at")

#: What to do about a feed whose dates name no zone (an entry's refusal, the poll's warning).
_SET_TIMEZONE = "set `timezone` in the feed's [[feeds]] table (e.g. \"Europe/Paris\")"


def _zoneless_time(written: datetime, feed: FeedConfig, fetched_at: datetime,
                   first_poll: bool) -> datetime:
    """The created_at of an entry whose date (`written`, naive) names no zone, in a feed whose
    `timezone` is not set: its poll's time, as for an entry with no date, when it can only have
    appeared since the previous poll; else InvalidMention (refused, not dated "now")."""
    hint = f"its date {written.isoformat(sep=' ')} names no time zone: {_SET_TIMEZONE}"
    if first_poll:
        # Every entry of a first poll may be old: dated now, a feed's backlog looked like a burst
        # of mentions to the spike detector.
        raise InvalidMention("invalid_field", f"{hint}; not dated by the feed's first poll",
                             "created_at")
    since = fetched_at - timedelta(seconds=feed.interval_seconds + 60)
    if written.replace(tzinfo=UTC) + _WESTMOST < since:
        raise InvalidMention("invalid_field", f"{hint}; older than the previous poll in every "
                             "zone", "created_at")
    return fetched_at


def entry_to_dict(entry: Any, *, feed: FeedConfig, feed_meta: Any, fetched_at: datetime,
                  max_text_chars: int, shared: frozenset[str] = frozenset(),
                  first_poll: bool = False) -> dict[str, Any]:
    """A feedparser entry as a RawMention dict (validated afterwards by mention_from_dict);
    `shared`: the article addresses more than one entry of the feed links to (entry_id);
    `first_poll`: the feed has never been read (an entry without a date, or whose date names no
    zone, is then refused, see _zoneless_time)."""
    when = _entry_time(entry, zone(feed.timezone) if feed.timezone else None)
    if when is not None and when.tzinfo is None:
        when = _zoneless_time(when, feed, fetched_at, first_poll)
    elif when is None and first_poll:
        # Dated by the poll like a new one, a feed's backlog looked like a burst of mentions.
        raise _Undated()
    title = _detail_text(entry.get("title"), entry.get("title_detail"))
    summary = _detail_text(entry.get("summary"), entry.get("summary_detail"))
    if entry.get("content"):
        # RSS 2.0's content:encoded (Atom's content) holds the full text where the description
        # is a teaser: a brand named only in the article's body was never matched.
        first = entry["content"][0]
        content = _detail_text(first.get("value"), first)
        if len(content) > len(summary):
            summary = content
    if title and summary and summary != title:
        text = truncate(title, max_text_chars // 4) + " — " + summary
    else:
        text = title or summary
    text = truncate(text, max_text_chars)
    link = entry_link(entry)
    url = unwrap_google_url(link) if link is not None else None
    if url is not None and (len(url) > MAX_SHORT_FIELD_CHARS or not is_web_address(url)):
        # A URL cut short is wrong; no URL is better than refusing the mention. Nor is a
        # `javascript:` or `data:` link one (is_web_address): the entry's id is made as before.
        url = None
    author = plain_text(entry.get("author") or "")
    if not author and link is not None and url is not None and url != link:
        # A Google Alerts entry names no author, and its feed's title ("Google Alert - acme")
        # is no publisher: the site of the article it points to is.
        author = _site(url)
    author = author or plain_text(feed_meta.get("title") or "") or (feed.name or "")
    language = feed_meta.get("language")
    language = language.strip()[:16] if isinstance(language, str) and language.strip() else None
    mention: dict[str, Any] = {
        "id": entry_id(entry, feed, shared),
        "source": "rss",
        "platform": feed.platform,
        "author": truncate(author, 200) or None,
        "text": text,
        "url": url,
        "created_at": iso(when or fetched_at),
        "language": language,
        "collected_at": iso(fetched_at),
    }
    if feed.brand is not None:  # a feed of one brand's space: its blog's comments
        mention["brands"] = [feed.brand]
    return mention


def _site(url: str) -> str:
    """The host of an article's address, without "www." ("lemonde.fr")."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host.removeprefix("www.")


def parse_feed(body: bytes, content_type: str | None, url: str) -> Any:
    """The feed in `body`, fetched from `url` (after redirects: relative links resolve
    against it). Handed over as a stream: feedparser takes bytes or a string for a file name
    first, so a body naming a local file ("/etc/passwd", "/dev/zero") made it read that file on
    the collector's machine, past the body limit."""
    import io

    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    body = _utf8_mended(_declaration_first(body), content_type)
    return feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=True)


_BOM = b"\xef\xbb\xbf"


def _declaration_first(body: bytes) -> bytes:
    """`body` without the blank lines before its XML declaration (a WordPress theme or plugin
    printing a newline first, a common fault): feedparser read such a feed leniently, but as
    not well-formed, so its validators were never kept (taken for a document cut short) and the
    feed was downloaded in full at every poll (found in review, 2026-12-06)."""
    bom = body.startswith(_BOM)
    rest = body[len(_BOM):] if bom else body
    stripped = rest.lstrip(b" \t\r\n")
    if stripped is rest or not stripped.startswith(b"<?xml"):
        return body
    return (_BOM if bom else b"") + stripped


#: The end of a whole feed document: the closing tag of its root element (RSS 2.0's, Atom's,
#: RSS 1.0's), then blanks, comments and processing instructions (XML's "Misc" after the root: a
#: caching plugin's "<!-- Served from cache in 0.012 seconds -->").
_ROOT_CLOSED = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF)\s*>"
                          rb"(?:\s*(?:<!--(?:[^-]|-(?!->))*-->|<\?(?:[^?]|\?(?!>))*\?>))*\s*\Z")


def _root_closed(body: bytes) -> bool:
    """True when `body` ends with the closing tag of a feed's root element: a document that is
    not well-formed XML but whole (an HTML entity such as `&nbsp;`, a bare `&` in a link, both
    common in real feeds, read leniently by feedparser), not one cut short. Until 2026-12-06
    such a feed kept no validators either, and was downloaded in full at every poll. The last
    4 KiB: a comment after the root (until 2026-12-06 the document was taken for one cut short,
    and the feed, never read whole, refused its undated entries at every poll)."""
    return _ROOT_CLOSED.search(body[-4096:]) is not None


#: A comment's text cannot hold "-->": with `.*?` it could run on over the next comments' ends,
#: and n comments were tried 2^n ways (500 of them, a stuck poll; until 2026-12-06).
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--(?:[^-]|-(?!->))*-->\s*)*"
                         rb"<(?:!doctype\s+html|html)[\s>]",
                         re.I)
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")


def _looks_like_html(body: bytes) -> bool:
    """True when `body` starts as an HTML page does (a doctype or an <html> tag)."""
    return _HTML_START.match(body[:4096]) is not None


class _FeedLinks(HTMLParser):
    """The addresses of `<link rel="alternate" type="application/rss+xml" href=...>` (and Atom's):
    the feeds a page advertises (feed autodiscovery)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k: (v or "") for k, v in attrs}
        if ("alternate" in a.get("rel", "").lower().split()
                and a.get("type", "").strip().lower() in _FEED_TYPES and a.get("href", "").strip()):
            self.hrefs.append(a["href"].strip())


#: A <link> tag, its quoted values whole. advertised_feeds gives the HTML parser these alone: on
#: a whole page, an unclosed tag sent it scanning to the end again at each "<" (a page of 60 KB
#: of "<a " took 45 s, 512 KB hours, until 2026-12-06); this scan stops at the next "<".
_LINK_TAG = re.compile(rb"""<link\b(?:[^<>"']|"[^"]*"|'[^']*')*>""", re.I)
#: An HTML comment (to the end when unclosed): the <link> tags in one name no feed.
_HTML_COMMENT = re.compile(rb"<!--(?:[^-]|-(?!->))*(?:-->|\Z)")


def advertised_feeds(body: bytes, url: str, limit: int = 3) -> list[str]:
    """The http(s) addresses of the feeds an HTML page names (resolved against `url`, the
    page's), at most `limit`: a page pasted as a feed's `url` (a blog's home page) was refused
    with a parser's message alone ("mismatched tag"), as if the feed were broken."""
    page = _HTML_COMMENT.sub(b"", body[:512 * 1024])
    parser = _FeedLinks()
    try:  # the <link> tags alone (see _LINK_TAG)
        parser.feed(b"\n".join(_LINK_TAG.findall(page)).decode("utf-8", "replace"))
        parser.close()
    except Exception:  # an HTML page is only a hint here; never a failure of its own
        pass
    found: list[str] = []
    for href in parser.hrefs:
        try:
            address = urljoin(url, href)
            scheme = urlsplit(address).scheme
        except ValueError:  # "http://[oops"
            continue
        if scheme in ("http", "https") and len(address) <= 500 and address not in found:
            found.append(address)
    return found[:limit]


_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.I)


def _utf8_mended(body: bytes, content_type: str | None) -> bytes:
    """`body` with its stray bytes replaced by U+FFFD when it is declared UTF-8 (its Content-Type
    charset, else its XML declaration) and mostly is: feedparser then parses a whole feed as
    windows-1252 for one bad byte ("Ã‰tÃ©" for "Été", and a brand written with accents
    never matched; found in review, 2026-12-05). A document with no valid UTF-8 sequence of more
    than one byte is left alone: a windows-1252 feed declared UTF-8 by mistake, which
    feedparser's fallback reads right."""
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    charset = _CHARSET.search(content_type or "")
    declared = charset[1] if charset else None
    if declared is None:
        xml = _XML_ENCODING.match(body[:512].lstrip(b"\xef\xbb\xbf"))
        declared = xml[1].decode("ascii") if xml else None
    if declared is None or declared.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return body
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - body.decode("utf-8", errors="ignore").count("\ufffd")
    good = sum(1 for c in text if c > "\x7f" and c != "\ufffd")
    return text.encode("utf-8") if good >= bad else body


def _validator(value: Any) -> str | None:
    """An ETag or Last-Modified value worth sending back: printable ASCII (found in review: an
    ETag of non-UTF-8 bytes could not be saved, and the feed's entries were sent again at
    every restart)."""
    if isinstance(value, str) and 0 < len(value) <= 1024 and _PRINTABLE_ASCII.fullmatch(value):
        return value
    return None


_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def _has_guid(entry: Any) -> bool:
    """True when the entry names itself (id, guid): its key within its feed is that name."""
    return any(isinstance(entry.get(k), str) and entry.get(k).strip() for k in ("id", "guid"))


#: An entry (a Mastodon status) dated further ahead than this is refused, not held back until
#: its date: no clock runs a day fast, and a feed whose entry says 2098 was downloaded in full at
#: every poll (no validators kept) for ever.
HOLD_HORIZON = timedelta(days=1)


def beyond_horizon(obj: dict[str, Any] | None, now: datetime) -> bool:
    """True when the item's created_at is more than HOLD_HORIZON ahead of `now`."""
    try:
        return obj is not None and parse_time(obj.get("created_at"), "created_at") - now > HOLD_HORIZON
    except InvalidMention:
        return False


def _shared_articles(entries: Any) -> frozenset[str]:
    """The article addresses that more than one entry of a feed links to."""
    counts: dict[str, int] = {}
    for entry in entries:
        try:
            key = article_key(entry)
        except Exception:  # noqa: BLE001 (an odd entry is refused later, with its reason)
            continue
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n > 1)


# --------------------------------------------------------------------------------------------
# Per-feed state
# --------------------------------------------------------------------------------------------


@dataclass
class FeedState:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    seen: dict[str, None] = field(default_factory=dict)  # an ordered set, oldest first
    #: The state remembers each entry by its id within its feed too (legacy_entry_id), not only
    #: by its article's: so a new entry (a guid never seen) linking to an article sent before
    #: is told from the one sent. False for a state saved before 2026-12-05 (article ids only).
    local_ids: bool = True
    #: The most entries a download of the feed held: the ids kept follow it, so a feed that
    #: shrinks and grows again does not send its old entries again.
    peak: int = 0
    #: A poll of the feed was read whole (its state saved): the entries of the next are new.
    polled: bool = False

    def remember(self, ids: list[str], limit: int) -> None:
        for mid in ids:
            self.seen.pop(mid, None)
            self.seen[mid] = None
        while len(self.seen) > limit:
            del self.seen[next(iter(self.seen))]

    def touch(self, mid: str) -> None:
        """Keep ids still present in the feed among the newest, so they are never evicted."""
        self.seen.pop(mid, None)
        self.seen[mid] = None

    def to_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "url": self.url, "etag": self.etag,
                "last_modified": self.last_modified, "seen": list(self.seen),
                "local_ids": self.local_ids, "peak": self.peak,
                "saved_at": iso(datetime.now(UTC))}

    @classmethod
    def from_dict(cls, url: str, data: dict[str, Any] | None) -> FeedState:
        if not isinstance(data, dict) or data.get("url") != url:
            return cls(url)
        etag = data.get("etag")
        modified = data.get("last_modified")
        saved = data.get("seen")  # (found in review: a non-list here stopped every feed)
        seen = [s for s in saved if isinstance(s, str)] if isinstance(saved, list) else []
        peak = data.get("peak")
        return cls(url, _validator(etag), _validator(modified), dict.fromkeys(seen),
                   local_ids=data.get("local_ids") is True or not seen, polled=True,
                   peak=peak if isinstance(peak, int) and not isinstance(peak, bool)
                   and 0 <= peak <= MAX_SEEN_HARD_CAP else 0)


@dataclass
class PollResult:
    """What one poll of one feed did."""

    feed: str
    #: new | unchanged | not_modified | fetch_error | forbidden_address | not_a_feed | broker_error
    status: str
    entries: int = 0
    sent: int = 0
    refused: int = 0
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("new", "unchanged", "not_modified")


@dataclass
class FeedStatus:
    """Counters per feed, for logs and tests."""

    polls: int = 0
    not_modified: int = 0
    errors: int = 0
    consecutive_failures: int = 0
    last: PollResult | None = None
    history: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The collector
# --------------------------------------------------------------------------------------------


class RssCollector(Collector):
    """Polls every configured feed on its own interval and sends its new entries."""

    name = "rss"

    def __init__(
        self,
        settings: Settings,
        metrics: CollectorMetrics,
        sink: MentionSink | None = None,
        *,
        feeds: list[FeedConfig] | None = None,
        request_timeout: float = 30.0,
        backoff_base: float = 5.0,
        backoff_max: float = 1800.0,
        max_seen: int = MAX_SEEN_PER_FEED,
        max_text_chars: int = 5000,
        max_body_bytes: int = 10 * 1024 * 1024,
        max_per_host: int = 2,
        stop_grace: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, metrics, sink)
        self.feeds = feeds
        self.request_timeout = request_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_seen = max_seen
        self.max_text_chars = min(max_text_chars, settings.max_text_chars)
        self.max_body_bytes = max_body_bytes
        self.max_per_host = max_per_host
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self.stop_grace = stop_grace if stop_grace is not None else request_timeout + 20.0
        self.rng = rng or random.Random()
        self.limits = Limits.from_settings(settings)
        self.store = StateStore(Path(settings.collector_state_dir) / "rss")
        self.states: dict[str, FeedState] = {}
        self.status: dict[str, FeedStatus] = {}
        #: feed url -> its `feed` label (feed_metric_name); the per-feed metrics, made at start.
        self.feed_names: dict[str, str] = {}
        self.feed_metrics: FeedMetrics | None = None
        #: The watch list the feeds come from, followed while the collector runs (None when the
        #: feeds were given: tests, embedding code).
        self.reloader: Reloader[FeedList] | None = None
        #: feed url -> its configuration now (a changed watch list applies from its next poll).
        self._config: dict[str, FeedConfig] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}  # feed url -> its polling loop
        #: feed url -> set when the watch list changed the feed or took it off: its wait ends.
        self._wake: dict[str, asyncio.Event] = {}
        self._running = False
        self._future_refused: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._policy = AddressPolicy(())
        self._resolver: GuardedResolver | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def check_feeds(self) -> list[FeedConfig]:
        """Load the feeds from the watch list if none were given; no feed at all is an error.
        The watch list is then followed while the collector runs (every
        VEILLE_WATCHLIST_RELOAD_SECONDS; 0: never): a change goes to use_feeds, a changed file
        that load_feed_list refuses leaves the feeds in use, and the collector's /metrics says
        so (veille.metrics.WatchlistMetrics: alert WatchlistRefused). Until 2026-12-06 the
        feeds were read at start only."""
        if self.feeds is None:
            if self.reloader is None:
                self.reloader = follow_watchlist(
                    self.settings.watchlist_path, load_feed_list,
                    self.settings.watchlist_reload_seconds, self.metrics.registry,
                    size=lambda v: v.brands)
                self.reloader.on_change(lambda changed: self.use_feeds(changed.feeds))
            self.feeds = self.reloader.value.feeds
        if not self.feeds:
            raise FeedConfigError(
                f"{self.settings.watchlist_path}: no [[feeds]] table, nothing to poll"
            )
        return self.feeds

    @staticmethod
    def metric_names(feeds: list[FeedConfig]) -> dict[str, str]:
        """feed url -> its `feed` label."""
        names: dict[str, str] = {}
        for n, feed in enumerate(feeds):
            # Two feeds of one name (an alert per language...) are two series: the second is
            # name-N (its place), or a further suffix while that is taken too (feeds named
            # "acme", "acme-3", "acme" shared one series until 2026-12-05: a working feed kept
            # a failing one's last success fresh, and RssFeedFailing never fired).
            name, taken = feed_metric_name(feed, n), set(names.values())
            if name in taken:
                name, k = f"{name}-{n + 1}", n + 1
                while name in taken:
                    k += 1
                    name = f"{feed_metric_name(feed, n)}-{k}"
            names[feed.url] = name
        return names

    async def start(self) -> None:
        feeds = self.check_feeds()
        self.store.check()
        self.feed_names = self.metric_names(feeds)
        if self.feed_metrics is None:
            self.feed_metrics = FeedMetrics(self.metrics.registry, self.feed_names.values())
        for feed in feeds:
            self.states[feed.url] = FeedState.from_dict(feed.url, self.store.load(feed.url))
            self.status[feed.url] = FeedStatus()
        self._config = {feed.url: feed for feed in feeds}
        if self._session is None:
            # The configured feeds' hosts are trusted whatever they resolve to; a host reached
            # by a redirect must resolve to public addresses only, checked as the connector
            # resolves it (no second lookup that DNS rebinding could answer otherwise).
            self._policy = AddressPolicy(URL(f.url).raw_host or "" for f in feeds)
            self._resolver = GuardedResolver(self._policy)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=self._resolver),
                headers={"User-Agent": self.settings.collector_user_agent, "Accept": ACCEPT},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            )

    async def run(self) -> None:
        assert self.feeds is not None, "start() first"
        self._running = True
        for feed in self.feeds:
            self._start_loop(feed.url)
        follow = (asyncio.create_task(self.reloader.follow(lambda: not self.stopping.is_set()),
                                      name="rss:watchlist")
                  if self.reloader is not None else None)
        try:
            await self.stopping.wait()
            # Let polls in flight finish (their send and state save) before leaving.
            tasks = list(self._loops.values())
            if tasks:
                _done, pending = await asyncio.wait(tasks, timeout=self.stop_grace)
                for task in pending:
                    task.cancel()
        finally:
            self._running = False
            tasks = [*self._loops.values(), *([follow] if follow is not None else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start_loop(self, url: str) -> None:
        """The feed's polling loop, unless it runs already (a feed taken off and added back
        while its last poll was in flight: that loop goes on)."""
        task = self._loops.get(url)
        if self._running and not self.stopping.is_set() and (task is None or task.done()):
            self._loops[url] = asyncio.create_task(self._feed_loop(url), name=f"rss:{url}")

    def use_feeds(self, feeds: list[FeedConfig]) -> None:
        """The feeds of a changed watch list (load_feed_list: never none), each from its next
        poll; a poll in flight ends with the configuration it began with.

        A feed added (a URL not polled before) is polled at once, its state read from its file
        as at a start and its series exported at 0. A feed taken off is polled no more (its
        loop ends after a poll in flight) and its series go; its state file stays, so that
        added back it goes on where it stopped. A feed kept (the same URL) keeps its state
        (validators, the ids of the entries sent, its failures' backoff): nothing is sent
        twice or skipped; a new `interval_seconds` counts from its last poll (a feed backing
        off keeps its backoff), a new name, platform or time zone applies from its next poll.
        The hosts of the feeds now configured are the ones trusted (AddressPolicy)."""
        before = self._config
        self._config = {feed.url: feed for feed in feeds}
        self.feeds = feeds
        names = self.metric_names(feeds)
        if self.feed_metrics is not None:
            # A label that goes, or now names another feed (unnamed feeds are `feed-N`, by
            # place): its series go, never passed on to another feed (until 2026-12-06 a kept
            # feed moving to the place of one taken off carried on its failures and last success).
            for url, old in self.feed_names.items():
                if names.get(url) != old:
                    self.feed_metrics.forget(old)
            self.feed_metrics.watch(names.values())
        self.feed_names = names
        self._policy.trust(URL(f.url).raw_host or "" for f in feeds)
        added = [f for f in feeds if f.url not in before]
        removed = [f for url, f in before.items() if url not in self._config]
        changed = [f for f in feeds if f.url in before and before[f.url] != f]
        for feed in added:
            if feed.url not in self.states:  # (taken off and back: its state in memory)
                self.states[feed.url] = FeedState.from_dict(feed.url, self.store.load(feed.url))
            self.status.setdefault(feed.url, FeedStatus())
            self._start_loop(feed.url)
        for feed in (*removed, *changed):
            wake = self._wake.get(feed.url)
            if wake is not None:
                wake.set()
        log.info("rss: watch list changed: %d feeds polled (added: %s; taken off: %s; changed: "
                 "%s)", len(feeds), ", ".join(f.label for f in added) or "none",
                 ", ".join(f.label for f in removed) or "none",
                 ", ".join(f.label for f in changed) or "none")

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            try:
                if self._session is not None:
                    await self._session.close()
                    self._session = None
            finally:
                self.store.release()
                if self._resolver is not None:  # the connector leaves a given resolver open
                    await self._resolver.close()
                    self._resolver = None

    async def poll_all(self) -> list[PollResult]:
        """Poll every feed once, concurrently (what `--once` does)."""
        assert self.feeds is not None, "start() first"
        return list(await asyncio.gather(*(self.poll(f) for f in self.feeds)))

    async def _feed_loop(self, url: str) -> None:
        """Poll the feed at `url` until stopping, or until the watch list takes it off; each
        poll with the feed's configuration of the moment (use_feeds)."""
        status = self.status[url]
        wake = self._wake.setdefault(url, asyncio.Event())
        while not self.stopping.is_set() and (feed := self._config.get(url)) is not None:
            result = await self.poll(feed)
            backoff: float | None = None
            if not result.ok:
                backoff = backoff_delay(status.consecutive_failures, self.backoff_base,
                                        self.backoff_max, self.rng)
                if result.retry_after is not None:
                    backoff = max(backoff, min(result.retry_after, self.backoff_max))
                log.info("rss: %s: %s; next try in %.1f s", feed.label, result.error, backoff)
            polled = time.monotonic()
            # The wait until the next poll; a change of the feed in the watch list ends it, and
            # the wait is measured again from this poll with the new interval.
            while not self.stopping.is_set() and (feed := self._config.get(url)) is not None:
                wake.clear()
                delay = feed.interval_seconds if backoff is None else backoff
                left = polled + delay - time.monotonic()
                if left <= 0 or not await self._rest(wake, left):
                    break

    async def _rest(self, wake: asyncio.Event, seconds: float) -> bool:
        """Sleep `seconds`, less when stopping or `wake` is set; False when the time ran out."""
        waits = [asyncio.ensure_future(self.stopping.wait()), asyncio.ensure_future(wake.wait())]
        try:
            done, _ = await asyncio.wait(waits, timeout=seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return bool(done)

    # -- one poll -----------------------------------------------------------------------------

    async def poll(self, feed: FeedConfig) -> PollResult:
        """Fetch the feed once and send its new entries; never raises (but on cancellation)."""
        status = self.status.setdefault(feed.url, FeedStatus())
        status.polls += 1
        try:
            result = await self._poll(feed)
        except asyncio.CancelledError:
            raise
        except ForbiddenRedirect as exc:
            result = PollResult(feed.url, "forbidden_address", error=str(exc))
        except FetchError as exc:
            result = PollResult(feed.url, "fetch_error", retry_after=exc.retry_after,
                                error=str(exc))
        except BrokerUnavailable as exc:
            result = PollResult(feed.url, "broker_error", error=f"broker unavailable: {exc}")
        except Exception as exc:  # a bug or a feed that breaks feedparser: log, keep polling
            log.exception("rss: %s: unexpected error", feed.label)
            result = PollResult(feed.url, "fetch_error", error=f"{type(exc).__name__}: {exc}")
        status.last = result
        status.history.append(result.status)
        del status.history[:-50]
        name = self.feed_names.get(feed.url)
        if self.feed_metrics is not None and name is not None:
            if result.ok:
                self.feed_metrics.last_success.labels(name).set(time.time())
            else:
                self.feed_metrics.failures.labels(name, _FAILURE_KIND.get(result.status, "fetch")).inc()
        if result.ok:
            status.consecutive_failures = 0
            status.not_modified += result.status == "not_modified"
        else:
            status.errors += 1
            status.consecutive_failures += 1
            log.warning("rss: %s: %s", feed.label, result.error)
        return result

    async def _fetch(self, feed: FeedConfig, state: FeedState) -> tuple[int, bytes, Any, str]:
        """(status, body, headers, the URL answered after redirects)."""
        if self._session is None:
            raise RuntimeError("RssCollector.start() was not called")
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        # Many feeds on one host (Google Alerts, Feedly): a few requests at a time, each with
        # its own timeout once it has its turn.
        host = urlsplit(feed.url).netloc.lower()
        slot = self._host_slots.setdefault(host, asyncio.Semaphore(self.max_per_host))
        async with slot:
            try:
                # One timeout for the request and its redirects, as aiohttp's own following had.
                async with asyncio.timeout(self.request_timeout):
                    return await self._follow(feed.url, headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
                        exc.os_error, ForbiddenAddress):  # GuardedResolver refused the name
                    raise ForbiddenRedirect(exc.os_error.host, str(exc.os_error)) from None
                raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None

    async def _follow(self, url: str | URL, headers: dict[str, str]) -> tuple[int, bytes, Any, str]:
        """GET `url`, following its redirects here rather than in aiohttp: a redirect to an IP
        literal never reaches the resolver (GuardedResolver), so each one is checked first."""
        assert self._session is not None
        for _hop in range(MAX_REDIRECTS):
            async with self._session.get(url, headers=headers, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECT_STATUSES and location is not None:
                    url = self._redirect_target(resp.url, location)
                    continue
                if resp.status == 304:
                    return 304, b"", resp.headers, str(resp.url)
                if resp.status == 429 or resp.status >= 500:
                    raise FetchError(f"HTTP {resp.status}",
                                     retry_after(resp.headers))
                if resp.status >= 400:
                    raise FetchError(f"HTTP {resp.status}")
                body = await read_body(resp, self.max_body_bytes, "feed")
                return resp.status, body, resp.headers, str(resp.url)
        raise FetchError(f"too many redirects ({MAX_REDIRECTS})")

    def _redirect_target(self, current: URL, location: str) -> URL:
        """Where a redirect from `current` to `location` leads; FetchError when nowhere a feed
        can be, ForbiddenRedirect when it is an IP literal neither configured nor public."""
        try:
            target = URL(location)
            if target.scheme and target.scheme not in ("http", "https"):
                raise FetchError(f"redirect to a {target.scheme}: address")
            if target.scheme == current.scheme and not target.raw_host:
                target = URL.build(path=target.raw_path, query_string=target.raw_query_string,
                                   fragment=target.raw_fragment, encoded=True)  # "http:path"
            target = current.join(target)
        except ValueError:
            raise FetchError("redirect to a location that is no URL") from None
        if not target.raw_host:
            raise FetchError("redirect to a location with no host")
        refused = self._policy.refused_literal(target.raw_host)
        if refused is not None:
            raise ForbiddenRedirect(target.raw_host, str(refused))
        return target

    async def _poll(self, feed: FeedConfig) -> PollResult:
        state = self.states.setdefault(feed.url, FeedState(feed.url))
        fetched_at = datetime.now(UTC)
        code, body, headers, answered_url = await self._fetch(feed, state)
        if code == 304:
            # A 304 may carry fresh validators (RFC 9110 15.4.5: the ETag a 200 would have
            # sent): kept, or the server keeps matching against ones it no longer knows.
            etag, modified = _validator(headers.get("ETag")), _validator(headers.get("Last-Modified"))
            fresh = (etag or state.etag, modified or state.last_modified)
            if fresh != (state.etag, state.last_modified):
                state.etag, state.last_modified = fresh
                try:
                    self.store.save(feed.url, state.to_dict())
                except OSError as exc:
                    log.error("rss: %s: could not save state to %s: %s",
                              feed.label, self.store.path(feed.url), exc)
            return PollResult(feed.url, "not_modified")
        loop = asyncio.get_running_loop()
        parsed = await loop.run_in_executor(
            None, parse_feed, body, headers.get("Content-Type"), answered_url
        )
        if not parsed.get("version") and not parsed.entries:
            self.metrics.refused.labels(self.name, "unsupported").inc()
            reason = str(parsed.get("bozo_exception") or "no RSS or Atom root element")[:200]
            if _looks_like_html(body):  # a page's address pasted as the feed's: say which to use
                found = await loop.run_in_executor(None, advertised_feeds, body, answered_url)
                reason = ("an HTML page, which names the feed(s) " + ", ".join(found)
                          + ": put one as the url" if found
                          else "an HTML page that names no feed (a site's home page, a sign-in or "
                               "consent page?)")
            return PollResult(feed.url, "not_a_feed",
                              error=f"not an RSS or Atom feed ({headers.get('Content-Type')}): "
                                    f"{reason}")
        truncated = (isinstance(parsed.get("bozo_exception"), xml.sax.SAXException)
                     and not _root_closed(body))
        if parsed.get("bozo"):
            log.info("rss: %s: ill-formed feed, parsed leniently: %s",
                     feed.label, str(parsed.get("bozo_exception"))[:200])

        new: list[RawMention] = []
        refused_ids: list[str] = []
        own_key: dict[str | None, str] = {}  # mention id -> the entry's id within the feed
        batch_ids: set[str] = set()
        held_future = False
        shared = _shared_articles(parsed.entries)
        # The feed never read: its entries may all be old (see _zoneless_time). Until 2026-12-06
        # "nothing remembered of it", so a feed empty at first made its next poll a first poll.
        first_poll = not state.polled
        zoneless = 0
        for entry in parsed.entries:
            self.metrics.fetched.labels(self.name).inc()
            obj: dict[str, Any] | None = None
            unreadable: Exception | None = None
            try:
                obj = entry_to_dict(entry, feed=feed, feed_meta=parsed.feed, shared=shared,
                                    fetched_at=fetched_at, max_text_chars=self.max_text_chars,
                                    first_poll=first_poll)
                mid = obj["id"]
            except Exception as exc:  # one strange entry must not stop the feed's others
                unreadable, mid = exc, safe_entry_id(entry, feed, shared)
            legacy = legacy_entry_id(entry, feed)
            if legacy is not None and legacy != mid:
                own_key[mid] = legacy  # remembered with it once sent or refused (local_ids)
            if mid is not None:
                if mid in batch_ids:
                    continue
                batch_ids.add(mid)
                if legacy is not None and legacy in state.seen:  # this entry, by its own key
                    state.touch(legacy)
                    if mid != legacy and mid in state.seen:
                        state.touch(mid)
                    continue
                if mid in state.seen:
                    if not (state.local_ids and legacy is not None and _has_guid(entry)):
                        # Sent under its article's id (a state of before 2026-12-05 kept no
                        # other): remembered by its own key from now on.
                        state.touch(mid)
                        if legacy is not None:
                            state.touch(legacy)
                        continue
                    # Another entry (a guid never seen) linking to an article sent before (a
                    # status page's incidents all link to its home page): its own mention,
                    # under its id within the feed. Dropped as "seen" until 2026-12-05.
                    mid = legacy
                    if obj is not None:
                        obj["id"] = legacy
                    batch_ids.add(mid)
                    own_key.pop(mid, None)
            try:
                if isinstance(unreadable, InvalidMention):  # no date, or one with no zone
                    if not isinstance(unreadable, _Undated):
                        zoneless += 1
                    raise unreadable
                if obj is None:
                    raise InvalidMention(
                        "processing_error",
                        f"entry could not be read: {type(unreadable).__name__}: {unreadable}",
                    )
                new.append(_mention_from_dict(obj, now=fetched_at, limits=self.limits))
            except InvalidMention as exc:
                if exc.reason == "created_at_in_future" and not beyond_horizon(obj, fetched_at):
                    # Not marked seen: valid once its time has come. Counted once.
                    held_future = True
                    if mid not in self._future_refused:
                        self._future_refused.add(mid)
                        self.metrics.refused.labels(self.name, exc.reason).inc()
                    continue
                self.metrics.refused.labels(self.name, exc.reason).inc()
                log.info("rss: %s: entry refused: %s", feed.label, exc)
                if mid is not None:
                    refused_ids.append(mid)
                continue
            except Exception as exc:  # a validation bug must not stop the feed's others either
                self.metrics.refused.labels(self.name, "processing_error").inc()
                log.warning("rss: %s: entry %s refused: %s: %s", feed.label, mid,
                            type(exc).__name__, exc)
                if mid is not None:
                    refused_ids.append(mid)

        if zoneless:
            log.warning("rss: %s: %d entries refused: their dates name no time zone; %s",
                        feed.label, zoneless, _SET_TIMEZONE)
        new.sort(key=lambda m: m.created_at)
        if new:
            # Returns once the broker acknowledged every mention, else raises BrokerUnavailable
            # and the state is left as it was: the entries are sent again at the next poll.
            await self.sink.send(new)
        changed = bool(new or refused_ids)
        etag, modified = _validator(headers.get("ETag")), _validator(headers.get("Last-Modified"))
        if held_future or truncated:
            # An entry held back until its date comes must be fetched again: validators saved
            # now would get a 304 and it would never be seen. Likewise a document that is not
            # well-formed XML and not whole (cut short: a body delimited by the connection's
            # close carries no length to check it by): its validators would have the server
            # answer 304 to every poll, and the entries past the cut would never be read.
            etag = modified = None
        if (etag, modified) != (state.etag, state.last_modified):
            state.etag, state.last_modified = etag, modified
            changed = True
        # Keep at least the ids of as many entries as the feed ever held, or its oldest come
        # back every poll (and after it shrank and grew again): two ids an entry.
        if len(batch_ids) > state.peak:
            state.peak, changed = min(len(batch_ids), MAX_SEEN_HARD_CAP), True
        if not state.local_ids:  # this poll's entries are now remembered by their own key too
            state.local_ids, changed = True, True
        if not state.polled and not truncated:  # entries past a cut may be old too
            state.polled, changed = True, True
        limit = 2 * max(self.max_seen, state.peak)
        done = [m.id for m in new] + refused_ids
        state.remember(done + [own_key[i] for i in done if i in own_key], limit)
        for m in new:  # a held entry whose time came: no longer held (the set stays bounded)
            self._future_refused.discard(m.id)
        if len(self._future_refused) > MAX_SEEN_HARD_CAP:  # entries dropped from their feeds
            self._future_refused.clear()  # at worst, one counted again
        if changed:
            try:
                self.store.save(feed.url, state.to_dict())
            except OSError as exc:
                log.error("rss: %s: could not save state to %s: %s",
                          feed.label, self.store.path(feed.url), exc)
        return PollResult(feed.url, "new" if new else "unchanged", entries=len(parsed.entries),
                          sent=len(new), refused=len(refused_ids))


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


async def run_rss(settings: Settings, *, once: bool = False,
                  collector: RssCollector | None = None) -> list[PollResult]:
    """Serve /metrics and poll the feeds until SIGTERM/SIGINT, or once with `once=True`.

    With `once`, raises BrokerUnavailable when the broker did not take some entries (a cron job
    then fails visibly; the entries are retried at the next run), and RssRoundFailed when no
    feed could be read at all (fetch errors, documents that are not feeds); else returns the
    polls of the feeds that could not be read (the others' entries are sent).
    """
    from prometheus_client import CollectorRegistry

    if collector is None:
        metrics = CollectorMetrics(CollectorRegistry())
        collector = RssCollector(settings, metrics)
    collector.check_feeds()  # a bad or empty feed list fails before anything is served
    collector.store.check()  # and a state folder it cannot use (another collector's, say)
    server = serve_metrics(settings, collector.metrics, "rss")
    try:
        if not once:
            await collector.serve()
            return []
        try:
            await collector.start()
            results = await collector.poll_all()
        finally:
            await collector.close()
        for r in results:  # a cron job's output: what each feed gave
            print(f"rss: {r.feed}: {r.status}, {r.entries} entries, {r.sent} sent, "
                  f"{r.refused} refused"
                  + (f" ({r.error})" if r.error else ""), flush=True)
        failed = [r for r in results if r.status == "broker_error"]
        if failed:
            raise BrokerUnavailable(f"{len(failed)} feed(s) not delivered: {failed[0].error}")
        unread = [r for r in results if not r.ok]
        if unread and len(unread) == len(results):
            raise RssRoundFailed(f"rss: every feed failed ({len(unread)}); {unread[0].feed}: "
                                 f"{unread[0].error or unread[0].status}")
        return unread
    finally:
        stop_metrics(server)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.rss` is `veille collect rss`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "rss", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
