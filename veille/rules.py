"""Watch rules: which brands a mention concerns, matched case- and accent-insensitively on word boundaries."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KINDS = ("alias", "keyword", "hashtag")


class WatchlistError(ValueError):
    """The watch-list file is missing, unreadable or malformed."""


def fold(text: str) -> str:
    """Case- and accent-insensitive form: casefold, then drop combining marks (é -> e, ß -> ss)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def terms(self) -> list[tuple[str, str]]:
        """(kind, term) pairs; the brand's name counts as an alias."""
        out = [("alias", self.name)] + [("alias", a) for a in self.aliases]
        out += [("keyword", k) for k in self.keywords]
        out += [("hashtag", h if h.startswith("#") else "#" + h) for h in self.hashtags]
        seen: set[str] = set()
        unique = []
        for kind, term in out:
            if fold(term) not in seen:
                seen.add(fold(term))
                unique.append((kind, term))
        return unique


@dataclass(frozen=True, slots=True)
class Match:
    brands: tuple[str, ...]
    rules: tuple[str, ...]


def _term_pattern(term: str) -> str:
    # Words inside a term may be separated by any run of spaces, dashes or underscores,
    # so "Acme Mobile" also matches "acme-mobile" and "ACME  mobile".
    parts = [re.escape(p) for p in re.split(r"[\s_-]+", fold(term).strip()) if p]
    body = r"[\s_-]+".join(parts)
    # Word boundaries: never inside a longer word ("acme" not in "acmeism" nor "#acmedown"),
    # a plain term also matches its hashtag or handle ("#Acme", "@acme"), but not an e-mail
    # domain ("me@acme.com"); a term starting with # or @ needs that exact prefix.
    return rf"(?<!\w)(?<!\w[@#]){body}(?!\w)"


class Watchlist:
    """Compiled watch rules. One regex per brand, so matching costs one scan per brand."""

    def __init__(self, brands: list[Brand]) -> None:
        ids = [b.id for b in brands]
        if len(set(ids)) != len(ids):
            raise WatchlistError("duplicate brand id in the watch list")
        self.brands = tuple(brands)
        self._compiled: list[tuple[Brand, re.Pattern[str], list[str], re.Pattern[str] | None]] = []
        for brand in brands:
            terms = brand.terms()
            rule_ids = [f"{brand.id}:{kind}:{term}" for kind, term in terms]
            groups = "|".join(f"(?P<t{i}>{_term_pattern(t)})" for i, (_, t) in enumerate(terms))
            exclude = (
                re.compile("|".join(_term_pattern(e) for e in brand.exclude))
                if brand.exclude
                else None
            )
            self._compiled.append((brand, re.compile(groups), rule_ids, exclude))

    @property
    def brand_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.brands)

    def match(self, text: str) -> Match:
        folded = fold(text)
        brands: list[str] = []
        rules: list[str] = []
        for brand, pattern, rule_ids, exclude in self._compiled:
            hits = {int(m.lastgroup[1:]) for m in pattern.finditer(folded) if m.lastgroup}
            if not hits:
                continue
            if exclude is not None and exclude.search(folded):
                continue
            brands.append(brand.id)
            rules.extend(rule_ids[i] for i in sorted(hits))
        return Match(tuple(brands), tuple(rules))

    @classmethod
    def from_toml(cls, path: str | Path) -> Watchlist:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise WatchlistError(f"watch list {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise WatchlistError(f"watch list {path} is not valid TOML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "watch list") -> Watchlist:
        entries = data.get("brands")
        if not isinstance(entries, list) or not entries:
            raise WatchlistError(f"{source}: needs at least one [[brands]] table")
        brands = []
        for n, entry in enumerate(entries, 1):
            if not isinstance(entry, dict):
                raise WatchlistError(f"{source}: brand #{n} must be a table")
            brand_id = entry.get("id")
            if not isinstance(brand_id, str) or not _BRAND_ID.match(brand_id):
                raise WatchlistError(
                    f"{source}: brand #{n} needs an id of lowercase letters, digits, - or _"
                )
            lists = {}
            for key in ("aliases", "keywords", "hashtags", "exclude"):
                value = entry.get(key, [])
                if not isinstance(value, list) or not all(
                    isinstance(v, str) and v.strip() for v in value
                ):
                    raise WatchlistError(f"{source}: {brand_id}.{key} must be a list of strings")
                lists[key] = tuple(value)
            unknown = set(entry) - {"id", "name", "aliases", "keywords", "hashtags", "exclude"}
            if unknown - {"charter", "response_deadline", "moderation"}:
                raise WatchlistError(f"{source}: {brand_id} has unknown keys {sorted(unknown)}")
            name = entry.get("name", brand_id)
            if not isinstance(name, str) or not name.strip():
                raise WatchlistError(f"{source}: {brand_id}.name must be a string")
            brands.append(Brand(id=brand_id, name=name, **lists))
        return cls(brands)
