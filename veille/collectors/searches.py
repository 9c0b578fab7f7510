"""What the collectors searching a platform for the watch list's brand terms (Bluesky, Reddit)
share: a search per name, alias and hashtag of each `[[brands]]` (queries_of), at most
`max_queries`, or more when the interval leaves time for them (check_queries), and
SearchCollector, a PollingCollector whose sources are those searches, with per-brand health (the
brand's id as the label, never a search string) and a watch list followed while it runs.

What differs between the platforms is a parameter: the search string of a term
(`search_string`), the ConfigError class, the platform's name in messages, the brand metrics'
class and the per-search memories a watch-list change carries over (`_memories`).

CursorCollector adds what the collectors reading their sources newest first, page after page,
share (Reddit's searches, YouTube's channels): a cursor per source with a look-back window, the
keys read in it remembered, the state saved only after the broker's acknowledgement (of the round's
mentions and of the brand's answers it saw, `answer`, written together).
"""

from __future__ import annotations

import math
import re
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.records import InvalidMention, RawMention, iso, mention_from_dict
from veille.collectors.answers import answer_record
from veille.collectors.base import Record
from veille.collectors.polling import PollingCollector, RoundResult, SourceSummary
from veille.moderation.cases import DecisionError
from veille.rules import Watchlist, WatchlistError

#: A watch-list term (its kind: name, alias, hashtag; the term) as a search string, or None.
SearchString = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class Query:
    """One search: the brand it is for (its id: the metrics' label) and the search string."""

    brand: str
    q: str


def queries_of(watchlist: Watchlist, search_string: SearchString) -> list[Query]:
    """One search per name, alias and hashtag of each brand (`search_string` of each), once
    each (case ignored, as the platforms' searches do), in the watch list's order. A brand's
    `keywords` are left out (they match only alongside the brand, veille.rules)."""
    out: list[Query] = []
    seen: set[str] = set()
    for brand in watchlist.brands:
        for kind, term in brand.terms():
            if kind not in ("alias", "hashtag"):
                continue
            q = search_string(kind, term)
            if q is not None and q.casefold() not in seen:
                seen.add(q.casefold())
                out.append(Query(brand.id, q))
    return out


#: Searches a minute a collector may plan: a quarter of Reddit's 100 requests a minute for an
#: app (room for a search's further pages and a token), far under Bluesky's limits.
SEARCHES_PER_MINUTE = 25


def searches_allowed(max_queries: int, interval: float | None) -> int:
    """Searches a round may hold: `max_queries`, or more when the round's `interval` (seconds)
    leaves time for them at SEARCHES_PER_MINUTE: an agency's 300 brands search every 24 minutes
    rather than not at all."""
    if interval is None:
        return max_queries
    return max(max_queries, int(interval * SEARCHES_PER_MINUTE / 60))


def check_queries(queries: list[Query], path: Path, *, error: type[Exception], platform: str,
                  max_queries: int, interval: float | None = None, interval_name: str = "") -> None:
    """`error` when the watch list at `path` gives no search, or more than a round of `interval`
    seconds allows (searches_allowed; `platform`: its name in the message, "Bluesky";
    `interval_name` the setting that sets it, named with the interval they would need)."""
    if not queries:
        raise error(f"{path}: no brand to search")
    allowed = searches_allowed(max_queries, interval)
    if len(queries) > allowed:
        need = -(-len(queries) * 60 // SEARCHES_PER_MINUTE)  # seconds, rounded up
        longer = (f"set {interval_name} to {need} or more (a round every {need / 60:g} minutes), "
                  "or keep the ones that matter" if interval_name else "keep the ones that matter")
        raise error(
            f"{path}: {len(queries)} brand names, aliases and hashtags to search on {platform}, "
            f"more than {allowed} (one search each a round, at most {SEARCHES_PER_MINUTE} a "
            f"minute: the rate limit would not hold); {longer}")


class SearchCollector(PollingCollector):
    """A PollingCollector whose sources are the searches of the watch list's brand terms."""

    source_noun = "search"
    item_noun = "posts"
    #: The platform's name in messages ("Bluesky").
    platform = ""
    #: The collector's ConfigError (a bad setting, a watch list it cannot use).
    config_error: type[Exception] = ValueError
    #: Searches a round at the most.
    max_queries = 50
    #: The per-brand health metrics' class (veille.metrics.BlueskyBrandMetrics...).
    brand_metrics: Any = None

    def __init__(self, *args: Any, queries: list[Query] | None = None, **options: Any) -> None:
        """`queries`: the searches to run (tests, embedding code), else the watch list's."""
        super().__init__(*args, **options)
        self.queries = queries
        self._brand_of: dict[str, str] = {}  # search string -> its brand's id

    # -- hooks ----------------------------------------------------------------------------------

    @staticmethod
    def search_string(kind: str, term: str) -> str | None:
        """A watch-list term as the platform's search string, None when it cannot be one."""
        raise NotImplementedError

    def _memories(self) -> tuple[dict[str, Any], ...]:
        """The per-search memories (search string -> ...) a watch-list change carries over."""
        return ()

    def _prepare_session(self) -> None:  # noqa: B027 - optional hook
        """What start() does before opening the HTTP session; default: nothing."""

    # -- the searches ---------------------------------------------------------------------------

    @classmethod
    def queries_of(cls, watchlist: Watchlist) -> list[Query]:
        """The watch list's searches on this platform (queries_of)."""
        return queries_of(watchlist, cls.search_string)

    @classmethod
    def check_queries(cls, queries: list[Query], path: Path, interval: float | None = None) -> None:
        """The collector's ConfigError when `queries` are none or more than a round of
        `interval` seconds allows (check_queries; None: `max_queries`)."""
        check_queries(queries, path, error=cls.config_error, platform=cls.platform,
                      max_queries=cls.max_queries, interval=interval,
                      interval_name="VEILLE_" + cls.interval_setting.upper())

    def describe(self, source: str) -> str:
        return f"{source} ({self._brand_of.get(source, '?')})"

    def count_sources(self, queries: list[Query]) -> str:
        """`queries` counted as a log line says them ("12 searches")."""
        return f"{len(queries)} searches"

    def metric_label(self, source: str) -> str:
        return self._brand_of.get(source, "?")

    # -- life cycle -----------------------------------------------------------------------------

    def load_watchlist(self, path: Path) -> Watchlist:
        """The watch list at `path`, or the collector's ConfigError: one that does not load, or
        whose searches (queries_of) are none or more than `max_queries`, at start as when it
        changes while running (such a change is refused: the searches in use stay)."""
        try:
            watchlist = Watchlist.from_toml(path)
        except WatchlistError as exc:
            raise self.config_error(str(exc)) from None
        self.check_queries(self.queries_of(watchlist), path, self.interval)
        return watchlist

    async def start(self) -> None:
        self.check_config()
        self.store.check()
        if self.queries is None:
            self.queries = self.queries_of(self.follow_watchlist(self.load_watchlist))
        self.check_queries(self.queries, self.settings.watchlist_path, self.interval)
        self._brand_of = {query.q: query.brand for query in self.queries}
        if self.source_metrics is None:
            self.source_metrics = self.brand_metrics(
                self.metrics.registry, dict.fromkeys(q.brand for q in self.queries))
        for query in self.queries:
            self._load_state(query.q)
        self._prepare_session()
        self._open_session()

    def use_watchlist(self, watchlist: Watchlist) -> None:
        """The searches of a changed watch list, from this round on: a search added starts from
        its saved state (else its newest page, as at a start), a new brand's series at 0; one
        taken off is no longer run, and a brand with none left loses its series; one kept (its
        case aside: the platforms' searches ignore it) keeps its memories (_memories), so
        nothing is sent twice or skipped, and counts under its brand of now. (Its state file
        stays: added back, it resumes where it stopped.)"""
        queries = self.queries_of(watchlist)
        added, taken_off = self._carry_states(
            [query.q for query in self.queries or []], [query.q for query in queries],
            self._memories())
        brands = dict.fromkeys(query.brand for query in queries)
        metrics = self.source_metrics
        if metrics is not None:
            for brand in set(self._brand_of.values()) - set(brands):
                metrics.forget(brand)
            metrics.watch(brands)
        self.queries = queries
        self._brand_of = {query.q: query.brand for query in queries}
        self.log.info("%s: watch list changed: %s of %d brands from this round on "
                      "(added: %s; taken off: %s)", self.name, self.count_sources(queries),
                      len(brands),
                      ", ".join(added) or "none", ", ".join(taken_off) or "none")


@dataclass(frozen=True)
class AccountsOf:
    """The own accounts of `brand` (`brand_of`: account -> its brand's id, the accounts case
    folded when `fold`: Reddit's usernames; YouTube's channel ids are exact), as a container:
    what `in` asks costs a look-up, whatever their number."""

    brand: str | None
    brand_of: Mapping[str, str]
    fold: bool = True

    def __contains__(self, account: object) -> bool:
        return (self.brand is not None and isinstance(account, str)
                and self.brand_of.get(account.casefold() if self.fold else account) == self.brand)


# -- a cursor per search, with a look-back window ------------------------------------------------


#: A page's items not sent yet, and the page after it (None: the last).
Page = tuple[list[Any], Any]


@dataclass
class CursorRead:
    """What one source's round read: its items not sent yet, its new cursor (the newest time
    read), every item key read -> its time, the pages read, and its start (the oldest time of
    its first page: what is older was there before the collector, and is never read)."""

    items: list[Any]
    newest: float | None
    read: dict[str, float] = field(default_factory=dict)
    pages: int = 1
    start: float | None = None


class CursorCollector(SearchCollector):
    """A SearchCollector whose sources are read newest first, page after page, each with a cursor
    (the newest item time read) and the keys of the items read in a look-back window below it
    (items that show up late), saved only after the broker acknowledged the round's batch (Reddit
    searches, YouTube channels). The platform gives `fetch_page`, `item_key`, `item_time` and
    `item_dict`."""

    #: The version of the state files (another version starts from scratch).
    state_version = 1
    #: Keys read in the look-back window kept per source (and saved), not to send them again.
    max_recent = 4000
    #: The cursor never moves to a time more than this ahead of the clock.
    cursor_ahead = 60.0
    #: A valid item key (what a state file may hold).
    key_pattern: re.Pattern[str] = re.compile(r".+")
    #: One item, as the log names it ("post", "comment").
    item_name = "item"
    #: What a source's state file calls it ("query", "channel").
    state_field = "source"

    def __init__(self, *args: Any, max_pages: int = 5, lookback_seconds: float = 1800.0,
                 **options: Any) -> None:
        super().__init__(*args, **options)
        self.max_pages = max_pages
        self.lookback = lookback_seconds
        #: source -> its cursor (the newest time read), None before its first read.
        self.cursors: dict[str, float | None] = {}
        #: source -> keys read in its look-back window -> their time.
        self.recent: dict[str, dict[str, float]] = {}
        #: source -> the oldest time of its first page (the look-back window stops there).
        self.starts: dict[str, float | None] = {}
        self.api_base = ""

    # -- hooks ----------------------------------------------------------------------------------

    @abstractmethod
    async def fetch_page(self, source: str, after: Any) -> Page:
        """One page of `source`, newest first (`after`: None for the first page, else what the
        page before gave), and what to ask the next one with (None: none)."""

    @staticmethod
    @abstractmethod
    def item_key(item: Any) -> str | None:
        """An item's key (one per item of the platform), None when it has none valid."""

    @staticmethod
    @abstractmethod
    def item_time(item: Any) -> float | None:
        """An item's time (Unix seconds), None when it has none valid."""

    def keep(self, source: str, item: Any) -> bool:
        """Whether an item read is sent (default: every one; what is not kept is still read:
        the cursor passes it)."""
        return True

    def answer_decision(self, source: str, item: Any) -> dict[str, Any] | None:
        """The `replied` decision (veille.collectors.answers.answer) an item read is when it is
        the brand's answer to another's; default: none."""
        return None

    def answer(self, source: str, item: Any) -> Record | None:
        """The record of an item read not sent before when it is the brand's answer
        (answer_decision), sent in the round's write; an invalid one (the agent would ignore it)
        is logged and not sent."""
        decision = self.answer_decision(source, item)
        if decision is None:
            return None
        try:
            return answer_record(self.settings, decision)
        except DecisionError as exc:
            self.log.warning("%s: %s: the answer %.60r is no valid decision, not sent: %s",
                             self.name, self.describe(source), self.item_key(item), exc)
            return None

    @abstractmethod
    def item_dict(self, source: str, item: Any, now: datetime) -> dict[str, Any]:
        """The item as a raw mention's fields, read at `now` (InvalidMention, or any other
        error, refuses that item alone)."""

    # -- state ----------------------------------------------------------------------------------

    def _state_key(self, source: str) -> str:
        # Another API (a test server, a proxy) starts from scratch.
        return f"{self.api_base}|{source.casefold()}"

    def _load_state(self, source: str) -> None:
        """The source's saved state (its cursor, start and the keys of its look-back window), or
        a fresh one."""
        data = self.store.load(self._state_key(source)) or {}
        if data.get("service") != self.api_base or data.get("version") != self.state_version:
            data = {}
        self.cursors[source] = number(data.get("cursor"))
        self.starts[source] = number(data.get("start"))
        recent = data.get("recent")
        keys = {
            key: when for key, when in ((k, number(t)) for k, t in
                                        (recent.items() if isinstance(recent, dict) else []))
            if isinstance(key, str) and self.key_pattern.fullmatch(key) and when is not None}
        # The newest max_recent, as a round saves them: a file holding millions was kept whole
        # until the source's next good round (found in review, 2026-12-07).
        self.recent[source] = dict(sorted(keys.items(), key=lambda item: item[1])[-self.max_recent:])

    def _memories(self) -> tuple[dict[str, Any], ...]:
        """A source kept across a watch-list change keeps its cursor, keys and start."""
        return (self.cursors, self.recent, self.starts)

    def _remember(self, source: str, read: dict[str, float], newest: float | None) -> None:
        """Add the keys read to the source's memory; forget those below the look-back window;
        beyond max_recent the oldest go first."""
        recent = self.recent.setdefault(source, {})
        recent.update(read)
        if newest is not None:
            for key in [k for k, t in recent.items() if t < newest - self.lookback]:
                del recent[key]
        self.recent[source] = dict(sorted(recent.items(), key=lambda item: item[1])[-self.max_recent:])

    def _save_states(self, done: list[tuple[str, CursorRead]], now: datetime,
                     field_name: str = "source") -> None:
        """After the broker acknowledged the round's batch: each source's new cursor, start and
        keys in memory, and saved when they changed (a failure to save is logged)."""
        for source, found in done:
            changed = (found.newest != self.cursors.get(source) or bool(found.read)
                       or found.start != self.starts.get(source))
            self.cursors[source] = found.newest
            self.starts[source] = found.start
            self._remember(source, found.read, found.newest)
            if not changed:
                continue
            try:
                self.store.save(self._state_key(source), {
                    "version": self.state_version, "service": self.api_base, field_name: source,
                    "cursor": found.newest, "start": found.start,
                    "recent": self.recent[source],
                    "saved_at": iso(now),
                })
            except OSError as exc:
                self.log.error("%s: %s: could not save state: %s", self.name,
                               self.describe(source), exc)

    # -- one round ------------------------------------------------------------------------------

    async def poll_round(self) -> RoundResult:
        """Read every source once, send the new items, then save each source's cursor."""
        assert self.queries is not None, "start() first"
        result, done, failed = await self._read_sources([q.q for q in self.queries],
                                                        self.fetch_source)
        now = datetime.now(UTC)
        mentions: dict[str, RawMention] = {}
        first: dict[str, str] = {}  # mention id -> the source it is counted under
        sending: set[str] = set()
        answers: dict[Record, str] = {}  # once each, in the order read -> its source
        for source, found in done:
            summary = result.sources[source]
            for item in found.items:
                result.fetched += 1
                summary.statuses += 1
                self.metrics.fetched.labels(self.name).inc()
                answer = self.answer(source, item)
                if answer is not None:
                    answers.setdefault(answer, source)
                    sending.add(source)
                if not self.keep(source, item):
                    continue
                mention = self._to_mention(source, item, now, result, summary)
                if mention is not None:
                    mentions.setdefault(mention.id, mention)  # once, whatever the sources
                    first.setdefault(mention.id, source)
                    sending.add(source)
        if not await self._send_round(result, mentions, first, answers):
            # The cursors stay where they were: the same items are read and sent again.
            self._count_polls([s for s, _ in done], failed, unsent=sending)
            return result
        self._save_states(done, now, self.state_field)
        self._count_polls([s for s, _ in done], failed, unsent=set())
        return self._end_round(result, bool(done))

    def _to_mention(self, source: str, item: Any, now: datetime, result: RoundResult,
                    summary: SourceSummary) -> RawMention | None:
        """The item as a RawMention, or None when it is refused (logged and counted)."""
        key = self.item_key(item)
        try:
            return mention_from_dict(self.item_dict(source, item, now), now=now, limits=self.limits)
        except InvalidMention as exc:
            reason = exc.reason
            self.log.info("%s: %s: %s %.60r refused: %s", self.name, self.describe(source),
                          self.item_name, key, exc)
        except Exception as exc:  # a strange item: refuse it alone, keep the others
            reason = "processing_error"
            self.log.warning("%s: %s: %s %.60r refused, could not be read: %s: %s", self.name,
                             self.describe(source), self.item_name, key, type(exc).__name__, exc)
        self.metrics.refused.labels(self.name, reason).inc()
        result.refused += 1
        summary.refused += 1
        return None

    # -- one source -----------------------------------------------------------------------------

    async def fetch_source(self, source: str) -> CursorRead:
        """The items of `source` not read yet: its newest page, then the next ones while they
        bring items not read yet above the look-back window's floor (the newest page only the
        first time), at most `max_pages`."""
        cursor, start = self.cursors.get(source), self.starts.get(source)
        floor = cursor - self.lookback if cursor is not None else None
        if floor is not None and start is not None:
            floor = max(floor, start)  # older: before the collector, never read
        recent = self.recent.get(source, {})
        ceiling = time.time() + self.cursor_ahead
        new: list[Any] = []
        read: dict[str, float] = {}
        newest = cursor
        pages, after = 0, None
        while True:
            page, after_next = await self.fetch_page(source, after)
            pages += 1
            fresh = 0
            times: list[float] = []
            for item in page:
                key, when = self.item_key(item), self.item_time(item)
                if when is not None:
                    times.append(when)
                if key is not None:
                    if key in recent or key in read:
                        continue  # read in an earlier round (the look-back window) or page
                    if floor is not None and when is not None and when < floor:
                        continue  # below the window: read in a past round
                    read[key] = when if when is not None else ceiling
                    if when is not None and when <= ceiling and (newest is None or when > newest):
                        newest = when
                fresh += 1
                new.append(item)  # (an item without a key is refused by poll_round)
            if cursor is None and start is None and times:
                start = min(times)  # the first read: its newest page, no older items
            if (floor is None or after_next is None or not fresh
                    or (times and min(times) < floor)):
                break
            if pages >= self.max_pages:
                self.log.warning("%s: %s: %d full pages of new %s since the last round; the "
                                 "older ones of this burst are not read", self.name,
                                 self.describe(source), pages, self.item_noun)
                break
            after = after_next
        return CursorRead(new, newest, read, pages, start)


def number(value: Any) -> float | None:
    """A JSON number (not a bool), finite, or None (an int too large for a float, 1 and 400
    zeros, included: math.isfinite raised OverflowError on it)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None
