"""A brand's own terms carry no sentiment in its mentions.

The scorers value words, and some brands are named with one: "Boréal" (VADER's and
vadersentiment-fr's lexicons rate "boreal" -0.3), "Free", "Best Buy", "Honest", "Glad",
"Amazon", "Total"; "Nothing" is a negation, "Very" a booster. Every mention of such a brand
was scored with its name's valence ("Boréal to open 13 new cafés in 2026" negative), when what
e-reputation measures is the sentiment *about* the brand.

`neutralize` writes a text with each occurrence of some terms replaced by `PLACEHOLDER`, a
word no scorer values, and nothing else changed; `Neutralizer` says, for the brands a mention
matched, which of their terms must be replaced: the *sensitive* ones, those a scorer values
(decided once per watch list and brand, at its first mention, by scoring them). The
enrichment stage scores the text it gives (agents/enrich.py). `Neutralizer.unnamed` gives the
text without the brands' names, aliases and hashtags (`without`): what the language detector
reads of a short mention.

A term is matched as the scorers see words: whitespace-separated tokens, their surrounding
punctuation aside (kept), compared folded as the watch rules compare (veille.rules.fold: case,
accents); a term of several words over consecutive tokens, or inside one joined by `_` or `-`
("boreal_cafe"); a hashtag term (`#boreal`) or a handle (`@borealcafe`) only after its `#` or
`@`, a plain term also after either ("#Boréal", "@boreal"); a French elision before it
("l'Boréal", "d'Acme") and an English possessive after it ("Boreal's") are kept. A term inside
a longer word ("boréale", "#BorealCafe" for "Boréal") is not replaced.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from veille.rules import Brand, fold_word, marked_hashtags
from veille.sentiment.base import Scorer, Sentiment

#: What replaces each word (each camel-case piece of two letters or more) of a term: in neither
#: lexicon, no booster, negation, contrast or idiom word, and no inflection of a lexicon word for
#: the French scorer (tests/unit/test_brand_terms.py checks each). Written in capitals where the
#: word was (VADER and the French scorer give capitals emphasis, and count them), capitalised
#: where it was.
PLACEHOLDER: Final = "brandterm"
#: Combining marks: a word typed decomposed ("Bore\u0301al") is one word.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
#: A run of letters. Its camel-case pieces of one letter are left as they are (a single letter is
#: in no lexicon, and the French scorer's word count stays as it was).
_RUN: Final = re.compile(rf"(?:[^\W\d_][{_MARKS}]*)+")
_TOKEN: Final = re.compile(r"\S+")
#: What separates a term's words (the watch rules' _GAP), and the parts of a token's core.
_GAP: Final = re.compile(r"[\s_-]+")
_APOSTROPHES: Final = "'\u2019"
#: The longest elided word before an apostrophe ("jusqu'", "lorsqu'", "puisqu'").
_ELISION_MAX: Final = 7
#: The probe of a term's sensitivity (`sensitive`): between sentiment words, where a lexicon
#: word adds its valence, a booster or a negation changes the next one's ("Nothing good", "Very
#: good") and a contrast the weights ("but", "mais"); one English and one French word each side.
_PROBE: Final = "good génial {} good génial"


def _inner(ch: str) -> bool:
    """Whether a character belongs to a token's core (the rest is its punctuation)."""
    return ch.isalnum() or unicodedata.combining(ch) != 0


def _parts(core: str) -> list[str]:
    return [p for p in _GAP.split(fold_word(core)) if p]


class BrandTerms:
    """Terms, indexed for `neutralize`: by their first folded word, the longest first."""

    __slots__ = ("terms", "_by_first")

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = tuple(dict.fromkeys(terms))
        #: first word -> (words, required prefix "#", "@" or ""), the most words first.
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for term in self.terms:
            folded = fold_word(term).strip()
            prefix = folded[0] if folded[:1] in ("#", "@") else ""
            words = [w for w in (_strip(p) for p in _GAP.split(folded[len(prefix):])) if w]
            if words:
                self._by_first.setdefault(words[0], []).append((tuple(words), prefix))
        for entries in self._by_first.values():
            entries.sort(key=lambda entry: -len(entry[0]))

    def __bool__(self) -> bool:
        return bool(self._by_first)

    def _match(self, text: str, tokens: Sequence[re.Match[str]], k: int, first: _Token
               ) -> tuple[int, list[tuple[int, int]]] | None:
        """(tokens taken, spans to replace) of the longest term starting at token k (`first`),
        or None."""
        start, a, b, end, parts, apostrophe = first
        for cs, ce, whole in _candidates(text, a, b) if apostrophe else ((a, b, True),):
            if (cs, ce) != (a, b):
                parts = tuple(_parts(text[cs:ce]))
            entries = self._by_first.get(parts[0]) if parts else None
            if not entries:
                continue
            n = len(parts)
            for words, prefix in entries:
                if prefix and not (cs == a and text[start:a].endswith(prefix)):
                    continue
                if words[:n] != parts:
                    continue
                if n == len(words):
                    return 1, [(cs, ce)]
                if not whole or b != end:  # a possessive, or punctuation, ends the term here
                    continue
                got = _rest(text, tokens, k + 1, words, n)
                if got is not None:
                    return got[0] - k, [(cs, ce), *got[1]]
        return None


def _strip(word: str) -> str:
    """A folded term word without the punctuation around it (as a token's core)."""
    i, j = 0, len(word)
    while i < j and not _inner(word[i]):
        i += 1
    while j > i and not _inner(word[j - 1]):
        j -= 1
    return word[i:j]


def _candidates(text: str, a: int, b: int) -> list[tuple[int, int, bool]]:
    """Where a term may be in the core text[a:b]: (start, end, whether up to the core's end):
    the core, without an elided word before an apostrophe, without a possessive "'s"."""
    out = [(a, b, True)]
    core = text[a:b]
    cut = min((core.find(q) for q in _APOSTROPHES if q in core), default=-1)
    if 1 <= cut <= _ELISION_MAX and core[:cut].isalpha() and cut + 1 < len(core):
        out.append((a + cut + 1, b, True))
    if len(core) > 2 and core[-2] in _APOSTROPHES and core[-1] in "sS":
        out += [(s, b - 2, False) for s, _, _ in list(out) if b - 2 > s]
    return out


def _rest(text: str, tokens: Sequence[re.Match[str]], j: int, words: tuple[str, ...], n: int
          ) -> tuple[int, list[tuple[int, int]]] | None:
    """The tokens from j on that hold words[n:] (a term's next words, each token without
    punctuation before it, and none after but at the last): (the token after them, spans)."""
    spans: list[tuple[int, int]] = []
    while j < len(tokens):
        start, a, b, end, parts, apostrophe = _token_at(tokens[j])
        j += 1
        if a == b:  # punctuation alone ("Acme - Mobile"): as the watch rules' gap
            continue
        if a != start:
            return None
        if words[n:n + len(parts)] == parts:
            if n + len(parts) == len(words):
                return j, [*spans, (a, b)]
            if b != end:
                return None
            spans.append((a, b))
            n += len(parts)
            continue
        core = text[a:b]  # a possessive at the term's end: "Best Buy's"
        if apostrophe and len(core) > 2 and core[-2] in _APOSTROPHES and core[-1] in "sS" and (
                words[n:] == tuple(_parts(core[:-2]))):
            return j, [*spans, (a, b - 2)]
        return None
    return None


def placeholder_for(piece: str) -> str:
    """PLACEHOLDER in the case of `piece` (a word of two letters or more; a shorter one is kept)."""
    if len(piece) < 2:
        return piece
    if not any(ch.islower() for ch in piece):
        return PLACEHOLDER.upper()
    return PLACEHOLDER.capitalize() if piece[0].isupper() else PLACEHOLDER


def _neutral_run(run: re.Match[str]) -> str:
    """A run of letters with each of its camel-case pieces of two letters or more replaced
    ("AcmeDown" -> "BrandtermBrandterm"): the French scorer splits a hashtag into its pieces,
    and counts them."""
    word = run.group()
    pieces: list[str] = []
    start = 0
    for i in range(1, len(word)):
        ch = word[i]
        if ch.isupper() and (word[i - 1].islower()
                             or (i + 1 < len(word) and word[i + 1].islower()
                                 and any(c.isupper() for c in word[start:i]))):
            pieces.append(word[start:i])
            start = i
    pieces.append(word[start:])
    return "".join(placeholder_for(p) for p in pieces)


#: A token: (start, its core's start and end, end, the core's folded parts, whether the core
#: holds an apostrophe).
_Token = tuple[int, int, int, int, tuple[str, ...], bool]
#: Token -> (characters before its core, the core's length, its folded parts, apostrophe):
#: mentions repeat most of their words, and folding one costs a few µs. Emptied when full.
_TOKENS: dict[str, tuple[int, int, tuple[str, ...], bool]] = {}
TOKEN_CACHE_SIZE: Final = 50_000
#: Longer tokens (links) are worked out each time, not kept.
TOKEN_CACHE_MAX_CHARS: Final = 64


def _token(token: str) -> tuple[int, int, tuple[str, ...], bool]:
    a, b = 0, len(token)
    while a < b and not _inner(token[a]):
        a += 1
    while b > a and not _inner(token[b - 1]):
        b -= 1
    core = token[a:b]
    return a, b - a, tuple(_parts(core)) if core else (), "'" in core or "\u2019" in core


def _info(token: str) -> tuple[int, int, tuple[str, ...], bool]:
    info = _TOKENS.get(token)
    if info is None:
        info = _token(token)
        if len(token) <= TOKEN_CACHE_MAX_CHARS:
            if len(_TOKENS) >= TOKEN_CACHE_SIZE:
                _TOKENS.clear()
            _TOKENS[token] = info
    return info


def _token_at(m: re.Match[str]) -> _Token:
    lead, size, parts, apostrophe = _info(m.group())
    start, end = m.span()
    return start, start + lead, start + lead + size, end, parts, apostrophe


def neutralize(text: str, terms: BrandTerms) -> str:
    """`text` with each word (camel-case piece of two letters or more) of each occurrence of
    `terms` replaced by PLACEHOLDER in its case; the same text when none is there. Tokens, their
    punctuation and everything else are left as they are."""
    return _rewrite(text, terms, lambda found: _RUN.sub(_neutral_run, found))


def without(text: str, terms: BrandTerms) -> str:
    """`text` with each occurrence of `terms` taken out (its punctuation kept): what is left to
    tell the text's language by."""
    return _rewrite(text, terms, lambda found: "")


def _rewrite(text: str, terms: BrandTerms, replace: Callable[[str], str]) -> str:
    """`text` with each occurrence of `terms` replaced by `replace` of it; `text` itself when
    none is there."""
    spans = _spans(text, terms)
    if not spans:
        return text
    out: list[str] = []
    at = 0
    for cs, ce in spans:
        out.append(text[at:cs])
        out.append(replace(text[cs:ce]))
        at = ce
    out.append(text[at:])
    return "".join(out)


def _spans(text: str, terms: BrandTerms) -> list[tuple[int, int]]:
    """Where the occurrences of `terms` in `text` are, in order."""
    tokens = list(_TOKEN.finditer(text))
    by_first = terms._by_first
    spans: list[tuple[int, int]] = []
    k = 0
    while k < len(tokens):
        token = tokens[k]
        _, _, parts, apostrophe = _info(token.group())
        found = None
        if parts and (parts[0] in by_first or apostrophe):  # not most tokens
            found = terms._match(text, tokens, k, _token_at(token))
        if found is None:
            if "#" in token.group():  # "#BoycottJoy": the brand inside a hashtag's words
                spans += _in_hashtags(text, token.start(), token.end(), by_first)
            k += 1
            continue
        k += found[0]
        spans += found[1]
    return spans


def _in_hashtags(text: str, start: int, end: int,
                 by_first: dict[str, list[tuple[tuple[str, ...], str]]]) -> list[tuple[int, int]]:
    """Where plain terms are among the words of the hashtags of text[start:end] that mark
    several (veille.rules.marked_hashtags: "#BoycottJoy" is a mention of Joy for the watch
    rules), in order."""
    spans: list[tuple[int, int]] = []
    for pieces in marked_hashtags(text[start:end]):
        words = [fold_word(text[start + a:start + b]) for a, b in pieces]
        i = 0
        while i < len(words):
            n = next((len(term) for term, prefix in by_first.get(words[i], ())
                      if not prefix and tuple(words[i:i + len(term)]) == term), 0)
            if n:
                spans.append((start + pieces[i][0], start + pieces[i + n - 1][1]))
            i += n or 1
    return spans


def _camel(term: str) -> bool:
    """Whether a term has a capital after a small letter ("#BorealCafe"), which the French
    scorer splits a hashtag at."""
    return any(a.islower() and b.isupper() for a, b in zip(term, term[1:], strict=False))


def sensitive(term: str, scorers: Iterable[Scorer],
              neutral: dict[str, list[Sentiment]] | None = None) -> bool:
    """Whether a scorer values `term`: the probe holding it scores otherwise once the term is
    neutralized. The term folded (lower case, no accents: the scorers look a word up in lower
    case, the French one also without accents, and tries inflections of a word in lower case
    only; capitals emphasise a valued word, never make one) and, in camel case, as written.
    `neutral`: the neutralized probes' scores, kept by the caller (they are few)."""
    scorers = list(scorers)
    neutral = {} if neutral is None else neutral
    one = BrandTerms([term])
    folded = fold_word(term)
    for written in (folded, term) if _camel(term) else (folded,):
        text = _PROBE.format(written)
        plain = neutralize(text, one)
        if plain == text:
            continue
        scores = neutral.get(plain)
        if scores is None:
            scores = neutral[plain] = [s.score(plain) for s in scorers]
        if any(s.score(text) != score for s, score in zip(scorers, scores, strict=True)):
            return True
    return False


#: Terms whose sensitivity a Neutralizer's cache (`known`) holds at the most.
SENSITIVE_CACHE_SIZE: Final = 100_000
#: Sets of brands named together whose terms a Neutralizer keeps.
MAX_SETS: Final = 1024


class Neutralizer:
    """The text to score for a mention that matched some brands of a watch list: their
    sensitive terms neutralized. A brand's terms are scored once per watch list, at its first
    mention, not at the load: about 0.25 ms a term the first time (`known` keeps the answers
    from one watch list to the next), 50 s for the 1,000 brands of 200 terms a watch list may
    hold, which would hold the event loop at a load."""

    def __init__(self, brands: Iterable[Brand], scorers: Iterable[Scorer],
                 known: dict[str, bool] | None = None) -> None:
        """`known`: term -> its sensitivity to these scorers, filled here; kept by the caller
        from one watch list to the next, a reload scores only its new terms."""
        self._brands = {b.id: b for b in brands}
        self._scorers = list(scorers)
        self._known = {} if known is None else known
        self._neutral: dict[str, list[Sentiment]] = {}
        #: brand id -> its sensitive terms, found at its first mention.
        self._own: dict[str, tuple[str, ...]] = {}
        #: The brands of a mention -> their sensitive terms, None when none has any.
        self._sets: dict[tuple[str, ...], BrandTerms | None] = {}
        #: The brands of a mention -> their names, aliases and hashtags (`unnamed`).
        self._named: dict[tuple[str, ...], BrandTerms | None] = {}

    def sensitive_terms(self, brand: str) -> tuple[str, ...]:
        """The terms of a brand (its name, aliases, keywords, hashtags: Brand.terms) that a
        scorer values; () for a brand the watch list does not have."""
        found = self._own.get(brand)
        if found is None:
            own = self._brands.get(brand)
            found = self._own[brand] = () if own is None else tuple(
                term for _, term in own.terms() if self._sensitive(term))
        return found

    def _sensitive(self, term: str) -> bool:
        known = self._known
        valued = known.get(term)
        if valued is None:
            if len(known) >= SENSITIVE_CACHE_SIZE:
                known.clear()
            valued = known[term] = sensitive(term, self._scorers, self._neutral)
        return valued

    def text(self, text: str, brands: tuple[str, ...]) -> str:
        """The text to score for a mention of `brands` (Match.brands): `text` itself unless
        one of them has sensitive terms."""
        terms = _terms_of(self._sets, brands, self.sensitive_terms)
        return text if terms is None else neutralize(text, terms)

    def unnamed(self, text: str, brands: tuple[str, ...]) -> str:
        """`text` without the names of `brands` (Match.brands: each one's name, aliases and
        hashtags, not its keywords, which are words of the text's language): what the language
        detector reads of a short mention. A brand's name is no word of the text's language, and
        in a few words it tips the models: one put before or after Hutto's English tweets of five
        words or fewer had 8 to 12 of 230 no longer found English, and "acme de merde" was
        undetermined."""
        terms = _terms_of(self._named, brands, self._names)
        return text if terms is None else without(text, terms)

    def _names(self, brand: str) -> list[str]:
        own = self._brands.get(brand)
        return [] if own is None else [term for kind, term in own.terms() if kind != "keyword"]


def _terms_of(cache: dict[tuple[str, ...], BrandTerms | None], brands: tuple[str, ...],
              terms: Callable[[str], Iterable[str]]) -> BrandTerms | None:
    """The terms (`terms` of each brand) of a set of brands, indexed once per set; None when
    they have none."""
    if not brands:
        return None
    if brands in cache:
        return cache[brands]
    if len(cache) >= MAX_SETS:  # the sets met come from the input: bounded
        cache.clear()
    found = [t for b in brands for t in terms(b)]
    indexed = cache[brands] = BrandTerms(found) if found else None
    return indexed
