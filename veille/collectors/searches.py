"""What the collectors searching a platform for the watch list's brand terms (Bluesky, Reddit)
share: a search per name, alias and hashtag of each `[[brands]]` (queries_of), at most
`max_queries` (check_queries), and SearchCollector, a PollingCollector whose sources are those
searches, with per-brand health (the brand's id as the label, never a search string) and a watch
list followed while it runs.

What differs between the platforms is a parameter: the search string of a term
(`search_string`), the ConfigError class, the platform's name in messages, the brand metrics'
class and the per-search memories a watch-list change carries over (`_memories`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from veille.rules import Watchlist

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


def check_queries(queries: list[Query], path: Path, *, error: type[Exception], platform: str,
                  max_queries: int) -> None:
    """`error` when the watch list at `path` gives no search, or more than `max_queries`
    (`platform`: its name in the message, "Bluesky")."""
    if not queries:
        raise error(f"{path}: no brand to search")
    if len(queries) > max_queries:
        raise error(
            f"{path}: {len(queries)} brand names, aliases and hashtags to search on {platform}, "
            f"more than {max_queries} (one search each a round: the rate limit would not hold); "
            "keep the ones that matter")
