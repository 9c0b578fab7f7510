"""What the collectors searching a platform for the watch list's brand terms (Bluesky, Reddit)
share: a search per name, alias and hashtag of each `[[brands]]` (queries_of), at most
`max_queries`, or more when the interval leaves time for them (check_queries), and
SearchCollector, a PollingCollector whose sources are those searches, with per-brand health (the
brand's id as the label, never a search string) and a watch list followed while it runs.

What differs between the platforms is a parameter: the search string of a term
(`search_string`), the ConfigError class, the platform's name in messages, the brand metrics'
class and the per-search memories a watch-list change carries over (`_memories`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veille.collectors.polling import PollingCollector
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
        self.log.info("%s: watch list changed: %d searches of %d brands from this round on "
                      "(added: %s; taken off: %s)", self.name, len(queries), len(brands),
                      ", ".join(added) or "none", ", ".join(taken_off) or "none")
