"""Mastodon collector: the public timelines of the watch list's hashtags, on one instance.

Every `settings.mastodon_interval_seconds`, a round polls
`GET {instance}/api/v1/timelines/tag/{hashtag}?limit=40&since_id=<newest seen>` for each
hashtag of the watch list's `[[brands]]`, paging back with `max_id` (the `Link: rel="next"`
address) while a page is full and still newer than `since_id`. The round's statuses are sent
once each (a status under two hashtags too), and each hashtag's newest id is saved only after the
broker acknowledged the batch. Rate-limit headers are honoured: below a few requests left, the
collector waits for `X-RateLimit-Reset`; a 429 waits for Retry-After or the reset.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from streams.records import (
    MAX_SHORT_FIELD_CHARS,
    InvalidMention,
    Limits,
    RawMention,
    iso,
    mention_from_dict,
)
from veille.collectors.base import BrokerUnavailable, Collector, MentionSink
from veille.collectors.rss import (
    FetchError,
    StateStore,
    backoff_delay,
    html_to_text,
    parse_retry_after,
    plain_text,
    serve_metrics,
    short_hash,
    sleep_or_stop,
    stop_metrics,
    truncate,
)
from veille.metrics import CollectorMetrics
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings

log = logging.getLogger(__name__)

PAGE_LIMIT = 40  # the API's maximum for timelines
STATE_VERSION = 1
AUDIENCE = {"followers": None, "likes": "favourites_count", "shares": "reblogs_count",
            "replies": "replies_count"}


class MastodonConfigError(ValueError):
    """The Mastodon collector cannot start: no instance URL, or no hashtag to follow."""


def status_key(status_id: str) -> tuple[int, str]:
    """Sort key of Mastodon ids: numeric strings (snowflakes), compared as numbers."""
    return (len(status_id), status_id) if status_id.isdigit() else (1 << 30, status_id)


def newer(a: str, b: str) -> bool:
    return status_key(a) > status_key(b)


def parse_reset(value: str | None) -> float | None:
    """X-RateLimit-Reset (ISO 8601) as a Unix time, or None."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def hashtags_of(watchlist: Watchlist) -> list[str]:
    """Every hashtag of the watch list without its '#', once (Mastodon tags ignore case)."""
    tags: list[str] = []
    seen: set[str] = set()
    for brand in watchlist.brands:
        for tag in brand.hashtags:
            name = tag.strip().lstrip("#").strip()
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                tags.append(name)
    return tags


def status_to_dict(status: dict[str, Any], *, instance_host: str, collected_at: datetime,
                   max_text_chars: int) -> dict[str, Any]:
    """A Mastodon Status entity as a RawMention dict (validated afterwards).

    A boost is mapped to the boosted status, so its id (from the original's global `uri`) is the
    original's own.
    """
    original = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    assert isinstance(original, dict)
    uri = original.get("uri") or original.get("url")
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidMention("missing_field", "the status has no uri", "uri")
    account = original.get("account") if isinstance(original.get("account"), dict) else {}
    assert isinstance(account, dict)
    spoiler = plain_text(original.get("spoiler_text") or "")
    content = html_to_text(original.get("content") or "", keep_paragraphs=True)
    text = f"{spoiler}\n\n{content}" if spoiler and content else spoiler or content
    acct = account.get("acct")
    author = None
    if isinstance(acct, str) and acct.strip():
        author = acct.strip()
        if "@" not in author:  # a local account: qualify it so that it is global
            home = urlsplit(account.get("url") or "").hostname or instance_host
            author = f"{author}@{home}"
    audience: dict[str, int] = {}
    for name, key in AUDIENCE.items():
        value = account.get("followers_count") if key is None else original.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            audience[name] = value
    url = original.get("url") or uri
    if not isinstance(url, str) or len(url) > MAX_SHORT_FIELD_CHARS:
        url = None
    language = original.get("language")
    return {
        "id": "mastodon-" + short_hash(uri.strip()),
        "source": "mastodon",
        "platform": "mastodon",
        "author": author,
        "text": truncate(text, max_text_chars),
        "url": url,
        "created_at": original.get("created_at"),
        "language": language if isinstance(language, str) and len(language) <= 16 else None,
        "audience": audience or None,
        "collected_at": iso(collected_at),
    }


@dataclass
class TagResult:
    """Statuses newer than since_id for one hashtag, and the newest id among them."""

    tag: str
    statuses: list[dict[str, Any]]
    newest: str | None
    pages: int = 1


@dataclass
class RoundResult:
    status: str  # ok | partial | failed | broker_error
    fetched: int = 0
    sent: int = 0
    refused: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Request:
    """A request the collector made, for logs and tests."""

    url: str
    status: int
    at: float


class MastodonCollector(Collector):
    """Polls the hashtag timelines of one Mastodon instance and sends new public statuses."""

    name = "mastodon"

    def __init__(
        self,
        settings: Settings,
        metrics: CollectorMetrics,
        sink: MentionSink | None = None,
        *,
        hashtags: list[str] | None = None,
        interval: float | None = None,
        request_timeout: float = 30.0,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = 10,
        rate_limit_floor: int = 5,
        max_rate_limit_wait: float = 330.0,
        max_429_retries: int = 3,
        backoff_base: float = 5.0,
        backoff_max: float = 900.0,
        max_text_chars: int = 5000,
        stop_grace: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(settings, metrics, sink)
        self.base_url = settings.mastodon_url.strip().rstrip("/")
        self.hashtags = hashtags
        self.interval = interval if interval is not None else settings.mastodon_interval_seconds
        self.request_timeout = request_timeout
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.rate_limit_floor = rate_limit_floor
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_429_retries = max_429_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_text_chars = min(max_text_chars, settings.max_text_chars)
        self.stop_grace = stop_grace if stop_grace is not None else request_timeout * 3 + 20.0
        self.rng = rng or random.Random()
        self.limits = Limits.from_settings(settings)
        self.store = StateStore(Path(settings.collector_state_dir) / "mastodon")
        self.since: dict[str, str | None] = {}
        self.requests: list[Request] = []  # the last requests made (bounded), newest last
        self.rounds = 0
        self.last_round: RoundResult | None = None
        self._failures = 0
        self._blocked_until = 0.0
        self._session: aiohttp.ClientSession | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def instance_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def _state_key(self, tag: str) -> str:
        # Status ids are local to an instance: another instance starts from scratch.
        return f"{self.base_url}|{tag.casefold()}"

    async def start(self) -> None:
        if not self.base_url:
            raise MastodonConfigError(
                "VEILLE_MASTODON_URL is empty: set it to the instance to read, "
                "e.g. https://mastodon.social"
            )
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MastodonConfigError(
                f"VEILLE_MASTODON_URL={self.base_url!r} must be an http:// or https:// address"
            )
        if self.hashtags is None:
            try:
                watchlist = Watchlist.from_toml(self.settings.watchlist_path)
            except WatchlistError as exc:
                raise MastodonConfigError(str(exc)) from None
            self.hashtags = hashtags_of(watchlist)
        if not self.hashtags:
            raise MastodonConfigError(
                f"{self.settings.watchlist_path}: no brand has `hashtags`, nothing to follow"
            )
        for tag in self.hashtags:
            data = self.store.load(self._state_key(tag)) or {}
            since = data.get("since_id") if data.get("instance") == self.base_url else None
            self.since[tag] = since if isinstance(since, str) and since else None
        if self._session is None:
            headers = {"User-Agent": self.settings.collector_user_agent,
                       "Accept": "application/json"}
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.request_timeout)
            )

    async def run(self) -> None:
        task = asyncio.create_task(self._loop(), name="mastodon")
        try:
            await self.stopping.wait()
            # Let a round in flight finish (its send and state save) before leaving.
            await asyncio.wait([task], timeout=self.stop_grace)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                result = await self.poll_round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end the polling silently: log, back off
                self._failures += 1
                delay = backoff_delay(self._failures, self.backoff_base, self.backoff_max,
                                      self.rng)
                log.exception("mastodon: round failed unexpectedly (%s); next try in %.1f s",
                              type(exc).__name__, delay)
                if await sleep_or_stop(self.stopping, delay):
                    break
                continue
            delay = self.interval
            if not result.ok:
                delay = backoff_delay(self._failures, self.backoff_base, self.backoff_max,
                                      self.rng)
                if result.status == "partial":  # the other hashtags are fine: keep the pace
                    delay = min(delay, self.interval)
                if result.retry_after is not None:
                    delay = max(delay, min(result.retry_after, self.backoff_max))
            if await sleep_or_stop(self.stopping, delay):
                break

    # -- HTTP ---------------------------------------------------------------------------------

    def _note_rate_limit(self, headers: Any) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        try:
            left = int(float(remaining)) if remaining is not None else None
        except ValueError:
            left = None
        if left is None or left >= self.rate_limit_floor:
            return
        reset = parse_reset(headers.get("X-RateLimit-Reset"))
        if reset is None:
            reset = time.time() + self.backoff_base
        self._blocked_until = max(self._blocked_until, reset)

    async def _respect_rate_limit(self) -> None:
        wait = self._blocked_until - time.time()
        if wait > 0:
            wait = min(wait, self.max_rate_limit_wait)
            log.info("mastodon: rate limit nearly used up; waiting %.1f s for its reset", wait)
            if await sleep_or_stop(self.stopping, wait):
                raise FetchError("stopping")
        self._blocked_until = 0.0

    async def _get_page(self, url: URL) -> tuple[list[dict[str, Any]], URL | None]:
        """One page of statuses and the `rel="next"` address, honouring the rate limit."""
        if self._session is None:
            raise RuntimeError("MastodonCollector.start() was not called")
        headers = {}
        if self.settings.mastodon_token:
            headers["Authorization"] = f"Bearer {self.settings.mastodon_token}"
        for _attempt in range(self.max_429_retries + 1):
            await self._respect_rate_limit()
            try:
                async with self._session.get(url, headers=headers) as resp:
                    self.requests.append(Request(str(url), resp.status, time.time()))
                    del self.requests[:-500]
                    self._note_rate_limit(resp.headers)
                    if resp.status == 429:
                        wait = parse_retry_after(resp.headers.get("Retry-After"))
                        if wait is None:
                            reset = parse_reset(resp.headers.get("X-RateLimit-Reset"))
                            wait = reset - time.time() if reset is not None else None
                        if wait is None or wait < 0:
                            wait = self.backoff_base
                        wait = min(wait, self.max_rate_limit_wait)
                        log.warning("mastodon: 429 Too Many Requests; waiting %.1f s", wait)
                        self._blocked_until = max(self._blocked_until, time.time() + wait)
                        continue
                    if resp.status in (401, 403):
                        raise FetchError(
                            f"HTTP {resp.status}: the instance refuses anonymous access to "
                            "hashtag timelines; set VEILLE_MASTODON_TOKEN"
                            if not self.settings.mastodon_token
                            else f"HTTP {resp.status}: the access token was refused"
                        )
                    if resp.status >= 400:
                        raise FetchError(f"HTTP {resp.status}",
                                         parse_retry_after(resp.headers.get("Retry-After")))
                    data = await resp.json(content_type=None)
                    next_rel = resp.links.get("next")
                    next_link = next_rel.get("url") if next_rel is not None else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise FetchError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
            if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
                raise FetchError("the answer is not a list of statuses")
            next_url = URL(str(next_link)) if next_link else None
            return data, next_url
        raise FetchError("still rate limited (429) after retries",
                         retry_after=max(self._blocked_until - time.time(), 0.0))

    def _tag_url(self, tag: str) -> URL:
        return URL(f"{self.base_url}/api/v1/timelines/tag/{quote(tag, safe='')}", encoded=True)

    def _same_origin(self, url: URL) -> bool:
        base = URL(self.base_url)
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    async def fetch_tag(self, tag: str) -> TagResult:
        """Statuses of the hashtag newer than its since_id (only the newest page the first time)."""
        since = self.since.get(tag)
        query = {"limit": str(self.page_limit)}
        if since:
            query["since_id"] = since
        page, next_url = await self._get_page(self._tag_url(tag).with_query(query))
        statuses = list(page)
        pages = 1
        previous: str | None = None
        while since and len(page) >= self.page_limit:
            ids = [str(s.get("id", "")) for s in page if s.get("id")]
            if not ids:
                break
            oldest = min(ids, key=status_key)
            if not newer(oldest, since):
                break  # the page reaches back to what we have
            if previous is not None and not newer(previous, oldest):
                log.warning("mastodon: #%s: pagination does not go back in time; stopping", tag)
                break
            previous = oldest
            if pages >= self.max_pages:
                log.warning("mastodon: #%s: more than %d pages since the last poll; statuses "
                            "older than id %s are skipped", tag, self.max_pages, oldest)
                break
            if next_url is not None and self._same_origin(next_url):
                # Keep since_id and the page size even if the server's link omits them.
                url = next_url.update_query({"since_id": since, "limit": str(self.page_limit)})
                if "max_id" not in url.query:
                    url = url.update_query({"max_id": oldest})
            else:
                url = self._tag_url(tag).with_query({**query, "max_id": oldest})
            page, next_url = await self._get_page(url)
            pages += 1
            statuses.extend(page)
        unique: dict[str, dict[str, Any]] = {}
        for s in statuses:
            sid = str(s.get("id") or "")
            if sid and (since is None or newer(sid, since)):
                unique.setdefault(sid, s)
        newest = max(unique, key=status_key) if unique else since
        return TagResult(tag, list(unique.values()), newest, pages)

    # -- one round ----------------------------------------------------------------------------

    async def poll_round(self) -> RoundResult:
        """Poll every hashtag once, send the new statuses, then save each hashtag's since_id."""
        assert self.hashtags is not None, "start() first"
        self.rounds += 1
        result = RoundResult("ok")
        done: list[TagResult] = []
        for tag in self.hashtags:
            if self.stopping.is_set():
                break
            try:
                done.append(await self.fetch_tag(tag))
            except asyncio.CancelledError:
                raise
            except FetchError as exc:
                result.errors[tag] = str(exc)
                if exc.retry_after is not None:
                    result.retry_after = max(result.retry_after or 0.0, exc.retry_after)
                log.warning("mastodon: #%s: %s", tag, exc)
            except Exception as exc:  # a bug or a strange answer: log, keep the others going
                log.exception("mastodon: #%s: unexpected error", tag)
                result.errors[tag] = f"{type(exc).__name__}: {exc}"

        now = datetime.now(UTC)
        mentions: dict[str, RawMention] = {}
        for tag_result in done:
            for status in tag_result.statuses:
                result.fetched += 1
                self.metrics.fetched.labels(self.name).inc()
                visibility = status.get("visibility")
                if visibility not in (None, "public", "unlisted"):
                    self.metrics.refused.labels(self.name, "unsupported").inc()
                    result.refused += 1
                    continue
                try:
                    obj = status_to_dict(status, instance_host=self.instance_host,
                                         collected_at=now, max_text_chars=self.max_text_chars)
                    mention = mention_from_dict(obj, now=now, limits=self.limits)
                except InvalidMention as exc:
                    self.metrics.refused.labels(self.name, exc.reason).inc()
                    result.refused += 1
                    log.info("mastodon: #%s: status %s refused: %s",
                             tag_result.tag, status.get("id"), exc)
                    continue
                except Exception as exc:  # a strange status: refuse it alone, keep the others
                    self.metrics.refused.labels(self.name, "processing_error").inc()
                    result.refused += 1
                    log.warning("mastodon: #%s: status %s refused, could not be read: %s: %s",
                                tag_result.tag, status.get("id"), type(exc).__name__, exc)
                    continue
                mentions.setdefault(mention.id, mention)  # one per round, whatever the tags

        if mentions:
            batch = sorted(mentions.values(), key=lambda m: m.created_at)
            try:
                await self.sink.send(batch)
            except BrokerUnavailable as exc:
                # since_ids stay where they were: the same statuses are fetched and sent again.
                self._failures += 1
                result.status = "broker_error"
                result.errors["broker"] = str(exc)
                self.last_round = result
                return result
            result.sent = len(batch)

        for tag_result in done:
            if tag_result.newest and tag_result.newest != self.since.get(tag_result.tag):
                self.since[tag_result.tag] = tag_result.newest
                try:
                    self.store.save(self._state_key(tag_result.tag), {
                        "version": STATE_VERSION, "instance": self.base_url,
                        "hashtag": tag_result.tag, "since_id": tag_result.newest,
                        "saved_at": iso(now),
                    })
                except OSError as exc:
                    log.error("mastodon: #%s: could not save state: %s", tag_result.tag, exc)
        if result.errors:
            result.status = "failed" if not done else "partial"
            self._failures += 1
        else:
            self._failures = 0
        self.last_round = result
        return result


async def run_mastodon(settings: Settings, *, once: bool = False,
                       collector: MastodonCollector | None = None) -> None:
    """Serve /metrics and poll the hashtags until SIGTERM/SIGINT, or one round with `once=True`.

    With `once`, raises BrokerUnavailable when the broker did not take the round's statuses.
    """
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = MastodonCollector(settings, CollectorMetrics(CollectorRegistry()))
    if not collector.base_url:  # refuse before serving anything
        raise MastodonConfigError(
            "VEILLE_MASTODON_URL is empty: set it to the instance to read, "
            "e.g. https://mastodon.social"
        )
    server = serve_metrics(settings, collector.metrics, "mastodon")
    try:
        if not once:
            await collector.serve()
            return
        try:
            await collector.start()
            result = await collector.poll_round()
        finally:
            await collector.close()
        log.info("mastodon: %s, %d statuses, %d sent, %d refused%s", result.status,
                 result.fetched, result.sent, result.refused,
                 f" ({result.errors})" if result.errors else "")
        if result.status == "broker_error":
            raise BrokerUnavailable(result.errors.get("broker", "broker unavailable"))
    finally:
        stop_metrics(server)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.mastodon` is `veille collect mastodon`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "mastodon", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
