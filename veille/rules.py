"""Watch rules: which brands a mention concerns, matched case- and accent-insensitively on word boundaries."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import tomllib
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from veille.brand_ids import BRAND_ID as _BRAND_ID
from veille.brand_ids import BRAND_ID_FORM, is_brand_id
from veille.moderation import CATEGORIES
from veille.prefilter import Prefilter, UnsupportedPattern
from veille.terminal import shown
from veille.timezones import TimezoneError, check

log = logging.getLogger(__name__)
#: A YouTube channel id (`youtube_channels`): UC and 22 characters of the URL-safe base64.
YOUTUBE_CHANNEL = re.compile(r"UC[A-Za-z0-9_-]{22}")
#: A Bluesky account's DID (`bluesky_accounts`): did:plc: and 24 characters of base32 (lower
#: case), or did:web: and a host name (lower case, two labels at least, at most 120 characters:
#: the DID is the moderator of the brand's answers, 128 at most; no port, no path).
BLUESKY_ACCOUNT = re.compile(
    r"did:plc:[a-z2-7]{24}"
    r"|did:web:(?=[a-z0-9.-]{1,120}(?![\s\S]))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+"
    r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
#: A brand's own Bluesky accounts at the most (`bluesky_accounts`).
MAX_BLUESKY_ACCOUNTS = 100
#: A Reddit username (`reddit_accounts`): Reddit's rule, 3 to 20 letters, digits, _ and -.
REDDIT_ACCOUNT = re.compile(r"[A-Za-z0-9_-]{3,20}")
#: `reddit_accounts` a brand lists at the most (each is a request a round of the collector).
MAX_REDDIT_ACCOUNTS = 20
#: A Mastodon account in full (`mastodon_accounts`): `user@instance.example`, the user letters,
#: digits and _ (Mastodon's rule for its own, at most 30 on Mastodon; a little room left), and
#: `.` or `-` inside (as Mastodon takes remote accounts' names), the instance a host name (two
#: labels at least, at most 253 characters).
MASTODON_ACCOUNT = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?"
    r"@(?=[A-Za-z0-9.-]{1,253}(?![\s\S]))(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: `mastodon_accounts` a brand lists at the most (each is a request a round of the collector,
#: and one more per reply it posted).
MAX_MASTODON_ACCOUNTS = 20

#: A brand's team (`team`): the label Alertmanager routes the brand's alerts by, and a receiver
#: name's part in the documented example; the same form as an id.
_TEAM = _BRAND_ID


def brand_key(given: str) -> str:
    """A brand as a person names it in a filter (`--brand Acme`, `?brand=ACME `) as the id it
    can only be: ids are lower case (_BRAND_ID). Until 2026-12-06 "Acme" matched nothing."""
    return given.strip().lower()

#: Ids no brand may take: "none" labels the mentions that match no brand in the metrics
#: (veille.metrics.NO_BRAND) and is left out of the per-brand alert rules.
RESERVED_BRAND_IDS = frozenset({"none"})
KINDS = ("alias", "keyword", "hashtag")
#: Longest response deadline a charter may set (30 days): beyond that nobody is waiting any more.
MAX_DEADLINE_MINUTES = 30 * 24 * 60
_CHARTER_KEYS = ("remove", "review", "response_deadline_minutes", "banned_terms")
#: The watch list's top-level tables: the brands, and the RSS collector's feeds (veille.collectors.rss).
WATCHLIST_TABLES = ("brands", "feeds")


class WatchlistError(ValueError):
    """The watch-list file is missing, unreadable or malformed."""


#: Every combining mark (what unicodedata.combining() flags), deleted by str.translate: one C pass
#: instead of a Python test per character. Built on first use (it scans the code space once).
_COMBINING: dict[int, str | None] = {}
#: Recent texts and their folds: the watch rules, triage and the banned terms of a mention fold
#: the same text, a slice of mentions apart (the enrichment stage runs each step over a slice of
#: 100: agents/enrich.py), and folding a text with accents costs about 20 µs. Emptied when full.
_folds: dict[str, str] = {}
FOLD_CACHE_SIZE = 1024


#: The most brands a watch list may hold: each is a regex and labels metric series (172 per brand
#: up front on a worker of role all); 10,000 made the worker unusable (2 GB at start, 28 s
#: scrapes of /metrics).
MAX_BRANDS = 1000
#: Terms (aliases, keywords, hashtags, exclusions) per brand: each brand's terms are one compiled
#: pattern (2,500 aliases took 17 s to load, 100,000 hours; found in review, 2026-12-05; terms
#: share their word-boundary checks since 2026-12-06: 200 terms build in about 0.04 s).
MAX_TERMS_PER_BRAND = 200
#: A watch list larger than this is refused (it is read whole into memory).
MAX_WATCHLIST_BYTES = 10 * 2**20
_HASHTAG = re.compile(r"#?[^\W]+")

#: Folded letters with no decomposition (after casefold, so lower case only).
_LETTERS = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ħ": "h",
            "ı": "i", "ŧ": "t", "ŀ": "l"}


def _combining_marks() -> dict[int, str | None]:
    if not _COMBINING:
        _COMBINING.update(
            (code, None) for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code))
        )
        # Typographic apostrophes are the straight one: "L’Oréal" and "McDonald’s" match the
        # names a watch list writes with "'".
        _COMBINING.update({0x2019: "'", 0x2018: "'", 0x02BC: "'"})
        # Invisible characters that join, never separate, the letters around them: the soft
        # hyphen (news sites' &shy;, in RSS), zero-width (non-)joiners, word joiner, zero-width
        # no-break space. They split "Bo&shy;réal" into two words until 2026-12-06. (The
        # zero-width space, U+200B, is a word break: kept.)
        _COMBINING.update(dict.fromkeys((0x00AD, 0x200C, 0x200D, 0x2060, 0xFEFF)))
        # Letters that carry their mark in their shape, which NFKD leaves alone: written without
        # it on a plain keyboard ("Orsted", "Lodz", "boeuf"), matched as such.
        _COMBINING.update({ord(k): v for k, v in _LETTERS.items()})
    return _COMBINING


#: Runs of characters outside ASCII: only they can be combining marks or letters to spell out.
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
#: Runs of the combining marks of U+0300-U+036F but U+034F (the grapheme joiner, combining class
#: 0: not in _combining_marks()): the accents NFKD takes off Latin letters, which
#: _combining_marks() deletes. Deleted first, in one pass: most folded French texts are ASCII
#: after it, and _unmark was called once per accent (6.2 µs a non-ASCII tweet, 4.8 with this
#: pass first; 2026-12-07, a busy host).
_ACCENTS = re.compile("[\u0300-\u034e\u0350-\u036f]+")


def _unmark(run: re.Match[str]) -> str:
    """A run of non-ASCII characters as str.translate(_combining_marks()) writes it. Translating
    the whole text looked every character up in the table (5.6 µs for a folded French tweet);
    the text's ASCII, most of it, is now left alone by the regex (2.9 µs)."""
    marks = _combining_marks()
    return "".join([marks.get(ord(c), c) or "" for c in run.group()])


#: Signs NFKD spells as letters glued to the word before them ("Acme™" -> "AcmeTM"): a space.
_GLUED_SIGNS = {0x2122: " ", 0x2120: " "}  # ™ ℠


def fold(text: str) -> str:
    """Case- and accent-insensitive form: compatibility letters spelt plainly (𝐀𝐜𝐦𝐞 -> Acme,
    ﬁ -> fi), then casefold, then drop combining marks (é -> e, ß -> ss) and invisible joiners
    (soft hyphen, zero-width joiners); letters whose mark
    has no decomposition are spelt plainly (ø -> o, ł -> l, œ -> oe); typographic apostrophes
    become "'"; ™ and ℠ a space. Decomposed before it is case-folded: the other way round, the
    "fancy font" letters of social media (𝐀𝐜𝐦𝐞, 𝘼𝙘𝙢𝙚) decomposed to capitals that stayed
    capitals, and matched no brand, insult or banned term (found in review, 2026-12-05)."""
    folded = _folds.get(text)
    if folded is not None:
        return folded
    folded = fold_word(text)
    if len(_folds) >= FOLD_CACHE_SIZE:
        _folds.clear()
    _folds[text] = folded
    return folded


def fold_word(text: str) -> str:
    """fold(text) without its cache of recent texts: for the many short strings (a mention's
    words: veille.sentiment.brand_terms) that would push the texts out of it."""
    if text.isascii():
        return text.lower()
    # (A name of its own: the cache is keyed by the text as given, which a text with ™
    # missed every time until 2026-12-05.)
    signless = text.translate(_GLUED_SIGNS) if "\u2122" in text or "\u2120" in text else text
    decomposed = unicodedata.normalize("NFKD", signless).casefold()
    # What case folding gave may decompose further (rarely: checked, not redone).
    if not decomposed.isascii() and not unicodedata.is_normalized("NFKD", decomposed):
        decomposed = unicodedata.normalize("NFKD", decomposed)
    if not decomposed.isascii():
        decomposed = _ACCENTS.sub("", decomposed)
    return decomposed if decomposed.isascii() else _NON_ASCII.sub(_unmark, decomposed)


@dataclass(frozen=True, slots=True)
class Charter:
    """A brand's moderation charter: triage categories always hidden or sent to review, the time a
    negative mention may wait for an answer, and brand-specific terms that always mean review.

    The defaults are the house policy, used for a brand whose watch-list entry has no charter.
    Categories in neither list keep the triage's own action (needs_answer: respond), or none.
    """

    remove: tuple[str, ...] = ("threat", "hate", "spam")
    review: tuple[str, ...] = ("insult", "aggressive", "detractor")
    response_deadline_minutes: int = 120
    banned_terms: tuple[str, ...] = ()
    # One regex for all banned terms, compiled once (triage runs per mention).
    _banned: _Terms | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for key in ("remove", "review"):
            unknown = [c for c in getattr(self, key) if c not in CATEGORIES]
            if unknown:
                raise WatchlistError(
                    f"charter.{key} has unknown categories {unknown} (known: {', '.join(CATEGORIES)})"
                )
        both = sorted(set(self.remove) & set(self.review))
        if both:
            raise WatchlistError(f"charter lists {both} both in remove and in review")
        minutes = self.response_deadline_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not (
            0 < minutes <= MAX_DEADLINE_MINUTES
        ):
            raise WatchlistError(
                f"charter.response_deadline_minutes must be a whole number of minutes in "
                f"1..{MAX_DEADLINE_MINUTES}, not {minutes!r}"
            )
        if not all(isinstance(t, str) and t.strip() for t in self.banned_terms):
            raise WatchlistError("charter.banned_terms must be non-empty strings")
        for t in self.banned_terms:
            _check_term(t, "charter.banned_terms")
        if self.banned_terms:
            object.__setattr__(self, "_banned", _Terms(list(self.banned_terms)))

    @property
    def response_deadline_seconds(self) -> float:
        return self.response_deadline_minutes * 60.0

    def has_banned_term(self, folded: str) -> bool:
        """True when the text, already passed through fold(), contains a banned term."""
        return self._banned is not None and self._banned.search(folded) is not None

    @classmethod
    def from_dict(cls, data: Any) -> Charter:
        """A charter from its TOML table; absent keys take the defaults."""
        if not isinstance(data, dict):
            raise WatchlistError("charter must be a table")
        unknown = sorted(set(data) - set(_CHARTER_KEYS))
        if unknown:
            raise WatchlistError(f"charter has unknown keys {unknown} (known: {', '.join(_CHARTER_KEYS)})")
        kwargs: dict[str, Any] = {}
        for key in ("remove", "review", "banned_terms"):
            if key in data:
                value = data[key]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise WatchlistError(f"charter.{key} must be a list of strings")
                kwargs[key] = tuple(dict.fromkeys(value))
        if "response_deadline_minutes" in data:
            kwargs["response_deadline_minutes"] = data["response_deadline_minutes"]
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    charter: Charter = Charter()
    #: IANA time zone of the brand's daily rhythm (crisis detection); None: VEILLE_TIMEZONE's.
    timezone: str | None = None
    #: The team its alerts go to (veille_brand_info, the `team` label of its alerts); None: the
    #: brand alerts' receiver of every brand without one (veille-brand).
    team: str | None = None
    #: Its own YouTube channels (ids, `UC` + 22 characters): the YouTube collector reads their
    #: comments as the brand's (RawMention.brands), whether they name it or not.
    youtube_channels: tuple[str, ...] = ()
    #: Its own Bluesky accounts (DIDs): the Jetstream collector does not send their posts as its
    #: mentions, and sends their replies to another's post as its answers (`replied` decisions).
    bluesky_accounts: tuple[str, ...] = ()
    #: Its own Reddit accounts (usernames, without `u/`): the Reddit collector leaves their posts
    #: out of its mentions and sends their replies to posts as its answers (`replied`).
    reddit_accounts: tuple[str, ...] = ()
    #: Its own Mastodon accounts (`user@instance.example`, without a leading `@`): the Mastodon
    #: collector leaves their statuses found by its hashtags out of its mentions and sends their
    #: replies to another's status as its answers (`replied`).
    mastodon_accounts: tuple[str, ...] = ()

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


#: The charter of a brand the watch list does not hold (frozen: one for all).
_DEFAULT_CHARTER = Charter()


@dataclass(frozen=True, slots=True)
class Match:
    brands: tuple[str, ...]
    rules: tuple[str, ...]


#: Scripts written without spaces between words (Thai, Lao, Tibetan, Myanmar, Khmer, Japanese
#: kana, Chinese characters) and Korean, whose particles stick to the noun before them ("삼성이"),
#: as they are after fold() (NFKD spells Hangul syllables in conjoining jamo and Japanese voiced
#: kana without their mark). Their letters are no word boundary: "ソニー" matches in
#: "ソニーの新製品", "Acme" in "Acmeの" and "삼성" in "삼성이", as nothing else could find them.
_UNSPACED = ("\u0e00-\u0fff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3040-\u30ff\u3130-\u318f"
             "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
             "\uff66-\uff9f\U00020000-\U0003134f")
#: A letter, digit or _ of a script that separates its words: what a term may not touch.
_WORD = rf"[^\W{_UNSPACED}]"
#: _WORD on a text without a letter of _UNSPACED's scripts (see _Terms).
_PLAIN_WORD = r"\w"
_UNSPACED_LETTER = re.compile(f"[{_UNSPACED}]")


def _unspaced(folded: str) -> bool:
    """Whether a text has a letter of a script written without spaces: only then do a term's
    exact word boundaries (_WORD) differ from \\w's."""
    return not folded.isascii() and _UNSPACED_LETTER.search(folded) is not None


def _term_pattern(term: str, word: str = _WORD) -> str:
    # Words inside a term may be separated by any run of spaces, dashes or underscores,
    # so "Acme Mobile" also matches "acme-mobile" and "ACME  mobile".
    parts = [re.escape(p) for p in re.split(r"[\s_-]+", fold(term).strip()) if p]
    body = r"[\s_-]+".join(parts)
    # Word boundaries: never inside a longer word ("acme" not in "acmeism" nor "#acmedown"),
    # a plain term also matches its hashtag or handle ("#Acme", "@acme"), but not an e-mail
    # domain ("me@acme.com"); a term starting with # or @ needs that exact prefix.
    return rf"(?<!{word})(?<!{word}[@#]){body}(?!{word})"


#: Term regexes compiled lately, by their source: compiling them is most of a watch list's load,
#: in the thread that follows the file but holding the interpreter from the agents as long, and an
#: edit changes few of them, so a reload compiles only those. Kept: the newest watch list's
#: (_keep_compiled), and what was compiled since.
_COMPILED: dict[str, re.Pattern[str]] = {}


def _compile_terms(terms: list[str], named: bool = False, word: str = _WORD) -> re.Pattern[str]:
    """re.compile(_terms_regex(terms, named, word)), compiled once while in use."""
    source = _terms_regex(terms, named, word)
    pattern = _COMPILED.get(source)
    if pattern is None:
        pattern = _COMPILED[source] = re.compile(source)
    return pattern


def _keep_compiled(patterns: list[re.Pattern[str]]) -> None:
    """Forget the compiled regexes but `patterns` (a new watch list's): bounded by what is used."""
    global _COMPILED
    _COMPILED = {p.pattern: p for p in patterns}


class _Terms:
    """A terms regex (_terms_regex) in its two spellings, with the same groups: `plain`, whose
    word boundaries are \\w's, for a text without a letter of _UNSPACED's scripts (nearly every
    mention of a brand watched in French or English), and the exact one (_WORD) for a text with
    one, compiled the first time such a text comes. On the first kind of text the two match
    alike, letter for letter: \\w and _WORD differ only on those letters. Compiling _WORD's
    class takes about 1.2 ms (the stdlib's compiler sets a bit for each of its 40,000 letters),
    three times a regex: 7-8 ms a brand of 20 terms, against about 1 ms with \\w (a watch list
    of 300 such brands loaded in 2.2-3 s, of 1,000 in 10 s, until 2026-12-07)."""

    __slots__ = ("_terms", "_named", "plain", "_exact")

    def __init__(self, terms: list[str], named: bool = False) -> None:
        self._terms = terms
        self._named = named
        self.plain = _compile_terms(terms, named, _PLAIN_WORD)
        self._exact: re.Pattern[str] | None = None

    def on(self, unspaced: bool) -> re.Pattern[str]:
        """The regex for a text, `unspaced` saying whether it has such a letter (_unspaced)."""
        if not unspaced:
            return self.plain
        if self._exact is None:
            self._exact = _compile_terms(self._terms, self._named, _WORD)
        return self._exact

    def search(self, folded: str) -> re.Match[str] | None:
        return self.on(_unspaced(folded)).search(folded)


def _term_length(term: str) -> int:
    """The length of what a term matches at the least: its folded words and one character between
    two ("Zephyr   X2" is as long as "Zephyr X2", which matches the same texts)."""
    return len(" ".join(p for p in re.split(r"[\s_-]+", fold(term).strip()) if p))


#: What may separate the words of a term.
_GAP = r"[\s_-]+"


def _before(word: str) -> str:
    """The word-boundary lookbehinds, checked after a term's first character (see _terms_regex),
    with `word` the class a term may not touch."""
    return rf"(?<!{word}.)(?<!{word}[@#].)"


#: What may follow a term inside an e-mail address's local part, up to its @ and domain: at most
#: 64 characters (a local part's longest, RFC 5321), or each term matched in a long run of
#: "acme.acme.acme..." read the whole run (7 s for a text of 100,000 characters).
_LOCAL_PART_REST = re.compile(r"[\w.+-]{0,64}@\w")
#: A domain's labels before a term that is one of its subdomains' ("mail." of "me@mail.acme.org").
_SUBDOMAINS = re.compile(r"(?:[\w-]+\.)+")


def _in_address(text: str, start: int, end: int) -> bool:
    """Whether text[start:end], a term found on its word boundaries, is part of an e-mail address:
    its local part ("acme@gmail.com", "acme.support@gmail.com") or a subdomain
    ("me@mail.acme.org"; the domain itself, "me@acme.org", the term's lookbehinds refuse). A
    fediverse handle ("@acme@mastodon.social") is no address: the brand's account. Until
    2026-12-06 an address of a customer's or of a brand's own domain was a mention of it."""
    if _LOCAL_PART_REST.match(text, end) and not (
            text[start] == "@" or (start and text[start - 1] == "@")):
        return True
    at = text.rfind("@", max(0, start - 255), start)
    return (at > 0 and text[at - 1].isalnum()
            and _SUBDOMAINS.fullmatch(text, at + 1, start) is not None)


#: A hashtag in a text: its words are read by _hashtag_words when its writer marked them.
_TAG_IN_TEXT: Final = re.compile(r"(?<!\w)#(\w+)")


def _tag_pieces(tag: str) -> list[tuple[int, int]]:
    """Where a hashtag's words are (`tag` without its #), as its writer marked them: a capital
    after a small letter or a digit ("BoycottAcme", "Acme2Fail"), a capital starting a word
    after a run of them ("ACMEDown"), an underscore ("boycott_acme"). One piece for a tag in one
    case ("acmedown", "ACMEDOWN")."""
    pieces: list[tuple[int, int]] = []
    start = 0
    last = len(tag) - 1
    for i, c in enumerate(tag):
        if c == "_":
            pieces.append((start, i))
            start = i + 1
        elif i > start and c.isupper() and (tag[i - 1].islower() or tag[i - 1].isdigit() or (
                tag[i - 1].isupper() and i < last and tag[i + 1].islower())):
            pieces.append((start, i))
            start = i
    pieces.append((start, len(tag)))
    return [(a, b) for a, b in pieces if b > a]


def marked_hashtags(text: str) -> Iterator[list[tuple[int, int]]]:
    """Each hashtag of `text` whose writer marked several words in it (_tag_pieces), as where
    those words are in `text`."""
    for m in _TAG_IN_TEXT.finditer(text):
        tag = m.group(1)
        if tag.islower() and "_" not in tag:  # most hashtags: a quick no
            continue
        pieces = _tag_pieces(tag)
        if len(pieces) > 1:
            at = m.start(1)
            yield [(at + a, at + b) for a, b in pieces]


def _hashtag_words(text: str) -> str:
    """The words of the text's hashtags of several marked words, folded, a hashtag's words
    separated by spaces and hashtags by " / " (no term spans it): "#BoycottAcme #AcmeFail" ->
    "boycott acme / acme fail"; "" when it has none. A brand named inside one is mentioned
    ("#BoycottAcme", "#DeleteAcme"), where the hashtag as one word matches no term."""
    if "#" not in text:
        return ""
    spelled = [" ".join(text[a:b] for a, b in pieces) for pieces in marked_hashtags(text)]
    return fold(" / ".join(spelled)) if spelled else ""


def _terms_regex(terms: list[str], named: bool = False, word: str = _WORD) -> str:
    r"""One regex for the terms, matching where one of their _term_pattern()s does, written so that
    the regex engine can skip ahead and builds fast.

    A pattern that starts with a lookbehind is tried at every position of the text; one that
    starts with a plain character (every branch of an alternation of such terms) lets the engine
    jump to the next occurrence of a possible first character. The word-boundary lookbehinds are
    therefore checked after that character, one character wider: (?<!_WORD) before position p is
    (?<!_WORD.) after p's character, which is a letter of the term, never a newline.

    All the terms share one copy of these checks: the first character is one of a class, the
    lookbehinds follow, then each first character's rests behind a (?<=c); the lookahead comes
    last (backtracking tries the next branch when it fails, as it did inside each branch). Each
    _WORD class takes about 1.4 ms to compile: three a term made a brand of 200 terms take about
    1 s, ten such brands 11 s and the 1,000 allowed half an hour to load, until 2026-12-06.
    Where several terms match at one place the first listed wins. `named` puts term k's rest in
    a group t<k> (Watchlist reads which term matched from it; its number is in the compiled
    pattern's groupindex, not k + 1).
    """
    by_first: dict[str, list[str]] = {}
    plain: list[str] = []
    for k, term in enumerate(terms):
        parts = [p for p in re.split(_GAP, fold(term).strip()) if p]
        if not parts:  # nothing to start with: the plain pattern
            pattern = _term_pattern(term, word)
            plain.append(f"(?P<t{k}>{pattern})" if named else pattern)
            continue
        first, parts[0] = parts[0][0], parts[0][1:]
        rest = _GAP.join(re.escape(p) for p in parts)
        by_first.setdefault(first, []).append(f"(?P<t{k}>{rest})" if named else rest)
    branches = plain
    if len(by_first) == 1:
        [(first, rests)] = by_first.items()
        branches = [f"{re.escape(first)}{_before(word)}(?:{'|'.join(rests)})", *plain]
    elif by_first:
        firsts = "".join(re.escape(first) for first in by_first)
        after = "|".join(f"(?<={re.escape(first)})(?:{'|'.join(rests)})" for first, rests in by_first.items())
        branches = [f"[{firsts}]{_before(word)}(?:{after})", *plain]
    return f"(?:{'|'.join(branches)})(?!{word})"


def read_toml(path: str | Path) -> dict[str, Any]:
    """A watch-list TOML file's tables (the workers' [[brands]], the RSS collector's [[feeds]]),
    or WatchlistError saying why it cannot be read."""
    try:
        mode = os.stat(path).st_mode
    except ValueError as exc:  # a NUL character in the path
        raise WatchlistError(f"watch list {str(path)!r} cannot be read: {exc}") from None
    except FileNotFoundError:
        raise WatchlistError(f"watch list {path} does not exist") from None
    except OSError as exc:  # no permission on a folder of the path, a name too long...
        raise WatchlistError(f"watch list {path} cannot be read: {exc.strerror or exc}") from None
    # /dev/zero never ends, a FIFO waits for a writer (a folder: the open below says so)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise WatchlistError(f"watch list {path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_WATCHLIST_BYTES + 1)
        if len(raw) > MAX_WATCHLIST_BYTES:
            raise WatchlistError(f"watch list {path} is larger than "
                                 f"{MAX_WATCHLIST_BYTES // 2**20} MiB")
        # utf-8-sig: a byte-order mark (Windows Notepad writes one) is no TOML error.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except RecursionError:  # x = [[[[...]]]]: the TOML parser recurses
        raise WatchlistError(f"watch list {path} is nested too deeply to be a watch list") from None
    except FileNotFoundError:
        raise WatchlistError(f"watch list {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError(f"watch list {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise WatchlistError(f"watch list {path} is not UTF-8 text: {exc}") from None
    except WatchlistError:  # a ValueError too
        raise
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise WatchlistError(f"watch list {path} is not valid TOML: {exc}") from None
    except OSError as exc:  # a directory, no permission, a name too long...
        raise WatchlistError(f"watch list {path} cannot be read: {exc.strerror or exc}") from None
    return data


class Watchlist:
    """Compiled watch rules: one regex per brand, and an RE2 prefilter (veille.prefilter) that
    tells in one pass over the text which brands' regexes may match; only those run. Without it
    a mention cost one scan per brand: about 1.2 µs a brand, 64 µs with 50 brands, 241 µs with
    200 (more than the rest of the enrichment); with it, a few µs whatever the count."""

    def __init__(self, brands: list[Brand]) -> None:
        ids = [b.id for b in brands]
        if len(set(ids)) != len(ids):
            raise WatchlistError("duplicate brand id in the watch list")
        self.brands = tuple(brands)
        # By id: a loop over the brands took 3 µs a call at 300 brands, twice a matched mention.
        self._charters = {b.id: b.charter for b in brands}
        self._places = {b.id: n for n, b in enumerate(brands)}  # id -> its place in the list
        #: A brand's own Bluesky accounts -> its id (from_dict refuses one given to two brands).
        self._account_owners = {a: b.id for b in brands for a in b.bluesky_accounts}
        self._compiled: list[tuple[Brand, _Terms, list[tuple[int, str]], _Terms | None]] = []
        for brand in brands:
            terms = brand.terms()
            # The longest term first: where several start at one place ("Acme" and "Acme Mobile"),
            # the alternation takes the first that matches, and "Acme Mobile" is the one meant
            # (until 2026-12-06 the first listed won, the name always). A stable sort: terms of
            # one length keep their listed order.
            order = sorted(range(len(terms)), key=lambda i: -_term_length(terms[i][1]))
            pattern = _Terms([terms[i][1] for i in order], named=True)
            # Group number - 1 (lastindex) -> (the term's place in the list, rule id); the same
            # in both of its regexes, which differ only by their character classes.
            rule_ids: list[tuple[int, str]] = [(0, "")] * len(order)
            for g, i in enumerate(order):
                rule_ids[pattern.plain.groupindex[f"t{g}"] - 1] = (
                    i, f"{brand.id}:{terms[i][0]}:{terms[i][1]}")
            exclude = _Terms(list(brand.exclude), named=True) if brand.exclude else None
            self._compiled.append((brand, pattern, rule_ids, exclude))
        _report_shared_terms(brands)
        _keep_compiled([c[1].plain for c in self._compiled] + [c[3].plain for c in self._compiled if c[3]]
                       + [b.charter._banned.plain for b in brands if b.charter._banned is not None])
        #: (place of its first brand, prefilter): one set, or several when one is too large;
        #: none when RE2 cannot take a brand's pattern.
        self._prefilters: list[tuple[int, Prefilter]] = []
        if self._compiled:
            try:
                self._prefilters = _prefilters([_term_sources(b) for b in brands], 0)
            except UnsupportedPattern as exc:  # still right without it, only slower
                log.warning("watch list without prefilter, every brand's rule runs on every "
                            "mention: %s", exc)

    @property
    def brand_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.brands)

    @property
    def teams(self) -> dict[str, str]:
        """Each brand's team, "" for a brand without one (veille_brand_info's label values)."""
        return {b.id: b.team or "" for b in self.brands}

    def account_owner(self, did: str) -> str | None:
        """The brand whose own Bluesky account `did` is (its `bluesky_accounts`), None else."""
        return self._account_owners.get(did)

    def charter_for(self, brand_id: str) -> Charter:
        """The brand's charter; the default charter for a brand not in the watch list."""
        return self._charters.get(brand_id, _DEFAULT_CHARTER)

    def match(self, text: str) -> Match:
        folded = fold(text)
        # A brand named only inside a hashtag of several words ("#BoycottAcme"): found in the
        # hashtag's words, for a brand none of whose terms matched the text itself.
        spelled = _hashtag_words(text)
        brands: list[str] = []
        rules: list[str] = []
        compiled = self._compiled
        # The brands whose regex may match, in the watch list's order (every brand when the
        # prefilter cannot tell): a loop over every brand skipping the others cost about 10 µs a
        # mention with 300 brands, half of match() (found in review, 2026-12-07).
        order: Sequence[int] = range(len(compiled))
        screened = f"{folded} / {spelled}" if spelled else folded
        if len(self._prefilters) == 1:
            found = self._prefilters[0][1].candidates(screened)
            if found is not None:
                # The set's sentinel, the last position + 1, is the largest: [:-1] drops it (most
                # texts have it alone); a filtering generator took 0.3-0.5 µs of a 7 µs match().
                order = sorted(found)[:-1] if len(found) > 1 else ()
        elif self._prefilters:
            may: set[int] = set()
            for start, prefilter in self._prefilters:
                found = prefilter.candidates(screened)
                if found is None:
                    break
                may.update(start + k for k in found if k < prefilter.size)  # not its sentinel
            else:
                order = sorted(may)
        unspaced = _unspaced(folded)
        for k in order:
            brand, pattern, rule_ids, exclude = compiled[k]
            # lastindex is the group of the term that matched (the longest at a position): every
            # branch has its group, so it is never None.
            hits: set[int] = {m.lastindex for m in pattern.on(unspaced).finditer(folded)  # type: ignore[misc]
                              if "@" not in folded or not _in_address(folded, m.start(), m.end())}
            if not hits and spelled:
                hits = {m.lastindex for m in pattern.on(unspaced).finditer(spelled)}  # type: ignore[misc]
            if not hits:
                continue
            if exclude is not None and exclude.on(unspaced).search(screened):
                continue
            brands.append(brand.id)
            # In the order the terms are listed (the name first), as before.
            rules.extend(rule for _, rule in sorted([rule_ids[g - 1] for g in hits]))
        return Match(tuple(brands), tuple(rules))

    def with_source(self, match: Match, named: tuple[str, ...], platform: str
                    ) -> tuple[Match, tuple[str, ...]]:
        """`match` (the text's) with the brands the source named (a raw mention's `brands`: it
        was posted in their own space, and seldom names them), and the ids named that the watch
        list does not have (ignored).

        A brand named and listed is among the brands whether or not a term matched it, and
        whatever its `exclude` terms say (the source knows where the comment was posted); each
        one named gets the rule `brand:source:platform` after its own term rules. Brands stay in
        the watch list's order, as match() gives them, each followed by its rules."""
        places = self._places
        known = [b for b in named if b in places]
        unknown = tuple(b for b in named if b not in places)
        if not known:
            return match, unknown
        brands = sorted(set(match.brands).union(known), key=places.__getitem__)
        rules: dict[str, list[str]] = {b: [] for b in brands}
        for rule in match.rules:  # brand:kind:term, an id holds no ":"
            rules[rule.partition(":")[0]].append(rule)
        for b in known:
            rules[b].append(f"{b}:source:{platform}")
        return Match(tuple(brands), tuple(r for b in brands for r in rules[b])), unknown

    @classmethod
    def from_toml(cls, path: str | Path) -> Watchlist:
        return cls.from_dict(read_toml(path), source=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "watch list") -> Watchlist:
        # A misspelt table ([[brand]], [[feed]]) would otherwise be ignored without a word,
        # and the brands or feeds in it never watched.
        wrong = unknown_tables(data)
        if wrong:
            raise WatchlistError(f"{source}: {wrong}")
        entries = data.get("brands")
        if not isinstance(entries, list) or not entries:
            raise WatchlistError(f"{source}: needs at least one [[brands]] table")
        if len(entries) > MAX_BRANDS:  # every brand labels metric series, and is a regex
            raise WatchlistError(f"{source}: {len(entries)} brands, at most {MAX_BRANDS}")
        brands = []
        seen_ids: set[str] = set()
        #: Per kind of own accounts: account (case folded where compared so) -> the brand listing it.
        owners: dict[str, dict[str, str]] = {kind.field: {} for kind in OWN_ACCOUNTS}
        for n, entry in enumerate(entries, 1):
            if not isinstance(entry, dict):
                raise WatchlistError(f"{source}: brand #{n} must be a table")
            brand_id = entry.get("id")
            if not is_brand_id(brand_id):
                raise WatchlistError(f"{source}: brand #{n} needs an id of {BRAND_ID_FORM}")
            if brand_id in RESERVED_BRAND_IDS:
                raise WatchlistError(f"{source}: brand #{n}: the id {brand_id!r} is reserved (the "
                                     "metrics' label of mentions that match no brand)")
            if brand_id in seen_ids:
                raise WatchlistError(f"{source}: brand #{n}: the id {brand_id!r} is taken by an "
                                     "earlier brand")
            seen_ids.add(brand_id)
            lists = {}
            for key in ("aliases", "keywords", "hashtags", "exclude"):
                value = entry.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise WatchlistError(f"{source}: {brand_id}.{key} must be a list of strings")
                if not all(v.strip() for v in value):
                    raise WatchlistError(f"{source}: {brand_id}.{key} has an empty or blank "
                                         f"entry: remove it (it would match nothing)")
                for v in value:
                    _check_term(v, f"{source}: {brand_id}.{key}")
                if key == "hashtags":
                    value = [_check_hashtag(v, f"{source}: {brand_id}.hashtags") for v in value]
                lists[key] = tuple(value)
            terms = sum(len(v) for v in lists.values())
            if terms > MAX_TERMS_PER_BRAND:
                raise WatchlistError(f"{source}: {brand_id} has {terms} aliases, keywords, "
                                     f"hashtags and exclusions; at most {MAX_TERMS_PER_BRAND} "
                                     "a brand")
            unknown = set(entry) - {
                "id", "name", "aliases", "keywords", "hashtags", "exclude", "charter", "timezone",
                "team", *(kind.field for kind in OWN_ACCOUNTS),
            }
            if unknown:
                raise WatchlistError(f"{source}: {brand_id} has unknown keys {sorted(unknown)}")
            name = entry.get("name", brand_id)
            if not isinstance(name, str) or not name.strip():
                raise WatchlistError(f"{source}: {brand_id}.name must be a string")
            _check_term(name, f"{source}: {brand_id}.name")
            try:
                charter = Charter.from_dict(entry["charter"]) if "charter" in entry else Charter()
            except WatchlistError as exc:
                raise WatchlistError(f"{source}: {brand_id}.{exc}") from None
            timezone = entry.get("timezone")
            if timezone is not None:
                try:
                    check(timezone)
                except TimezoneError as exc:
                    raise WatchlistError(f"{source}: {brand_id}.timezone: {exc}") from None
            team = entry.get("team")
            if team is not None and (not isinstance(team, str) or not _TEAM.fullmatch(team)):
                raise WatchlistError(
                    f"{source}: {brand_id}.team: {team!r} is not a team name (1 to 64 lowercase "
                    "letters, digits, - or _, starting with a letter or digit, as a brand id: "
                    "it labels the brand's alerts, which Alertmanager routes by it)")
            accounts = {kind.field: kind.parse(entry.get(kind.field, []),
                                               f"{source}: {brand_id}.{kind.field}", brand_id,
                                               owners[kind.field])
                        for kind in OWN_ACCOUNTS}
            brand = Brand(id=brand_id, name=name, charter=charter, timezone=timezone, team=team,
                          **accounts, **lists)
            _check_excludes(brand, f"{source}: {brand_id}.exclude")
            brands.append(brand)
        return cls(brands)


@dataclass(frozen=True)
class OwnAccounts:
    """One kind of a brand's own accounts in the watch list (`youtube_channels`,
    `bluesky_accounts`, `reddit_accounts`, `mastodon_accounts`): how it is written, checked and
    named in a refusal. Each is one brand's alone (its posts are that brand's own, its replies
    that brand's answers)."""

    field: str
    #: What the field is a list of, in a refusal ("must be a list of ...").
    what: str
    #: What a bad value is not ("... is not ...").
    one: str
    pattern: re.Pattern[str]
    #: Why an account is one brand's alone, when two brands list it.
    whose: str
    most: int | None = None  # accounts a brand lists at the most
    most_why: str = ""
    #: Prefixes a value may be written with, kept without (the first that fits is taken off).
    prefixes: tuple[str, ...] = ()
    fold: bool = False  # compared case aside
    shown_as: str = "{}"  # how a refusal names an account

    def parse(self, value: Any, where: str, brand_id: str,
              owners: dict[str, str]) -> tuple[str, ...]:
        """A brand's list (`where` names it in a refusal): each value matching `pattern` once its
        prefix is off, at most `most`, each once, and of no other brand (`owners`: account, case
        folded when `fold`, -> brand, filled here). WatchlistError naming the value if not."""
        if not isinstance(value, list):
            raise WatchlistError(f"{where} must be a list of {self.what}")
        if self.most is not None and len(value) > self.most:
            raise WatchlistError(f"{where}: {len(value)} accounts, at most {self.most}{self.most_why}")
        out = []
        for given in value:
            name = given
            if isinstance(name, str):
                prefix = next((p for p in self.prefixes if name.startswith(p)), "")
                name = name[len(prefix):]
            if not isinstance(name, str) or not self.pattern.fullmatch(name):
                raise WatchlistError(f"{where}: {shown(given, 60)} is not {self.one}")
            key, named = (name.casefold() if self.fold else name), self.shown_as.format(name)
            if owners.get(key) == brand_id:
                raise WatchlistError(f"{where}: {named} is listed twice")
            if key in owners:
                raise WatchlistError(f"{where}: {named} is also {owners[key]}'s: {self.whose}")
            owners[key] = brand_id
            out.append(name)
        return tuple(out)


OWN_ACCOUNTS: Final = (
    OwnAccounts(
        "youtube_channels", "YouTube channel ids (UC and 22 letters, digits, - or _)",
        "a YouTube channel id (UC and 22 letters, digits, - or _, as in the address "
        "youtube.com/channel/UC...; a handle such as @acme is not one)",
        YOUTUBE_CHANNEL, "a channel's comments are one brand's"),
    OwnAccounts(
        "bluesky_accounts", "Bluesky accounts' DIDs (did:plc:... or did:web:...)",
        "a Bluesky account's DID (did:plc: and 24 letters a-z or digits 2-7, or did:web: and a "
        "host name, in lower case; a handle such as acme.bsky.social is not one: its DID is in "
        "the profile's at:// links, or "
        "https://bsky.social/xrpc/com.atproto.identity.resolveHandle?handle=...)",
        BLUESKY_ACCOUNT, "an account's posts are one brand's", most=MAX_BLUESKY_ACCOUNTS),
    OwnAccounts(
        "reddit_accounts", "Reddit usernames (3 to 20 letters, digits, _ or -, with or without u/)",
        "a Reddit username (3 to 20 letters, digits, _ or -, with or without u/, as in the "
        "address reddit.com/user/<name>)",
        REDDIT_ACCOUNT, "an account's replies are one brand's answers", most=MAX_REDDIT_ACCOUNTS,
        most_why=" a brand (each is a request a round of the Reddit collector)",
        prefixes=("/u/", "u/"), fold=True, shown_as="u/{}"),
    OwnAccounts(
        "mastodon_accounts", "Mastodon accounts in full (user@instance.example, with or without "
        "a leading @)",
        "a Mastodon account in full (user@instance.example, with or without a leading @: the "
        "user, letters, digits or _ (. or - inside), then the instance's host name; a local "
        "name alone or a profile's address is not one)",
        MASTODON_ACCOUNT, "an account's replies are one brand's answers",
        most=MAX_MASTODON_ACCOUNTS,
        most_why=" a brand (each is a request a round of the Mastodon collector)",
        prefixes=("@",), fold=True, shown_as="@{}"),
)


def _term_sources(brand: Brand) -> tuple[str, ...]:
    """For the prefilter, a brand's terms as the texts they match, each a regex of its own: its
    folded words with a word gap between two, each term's regex (_term_pattern) without its word
    boundaries, which the prefilter drops. The brand's own regex (_terms_regex) matches only where
    one of these does. Given one a term and not as the brand's regex, whose first letters are one
    class for all its terms: RE2 shares the terms' starts over all the brands (see
    veille.prefilter); a set of 300 brands' regexes cost 29 µs a text never seen, 3.1 so
    (2026-12-07)."""
    words = list(dict.fromkeys(tuple(p for p in re.split(_GAP, fold(term).strip()) if p)
                               for _, term in brand.terms()))
    # A term whose every match holds one of another term's ("@acme", "#acmedown" and "acme
    # mobile" hold "acme"'s) adds nothing: only "acme" is asked (fewer entries found a text).
    kept = [w for w in words if not any(v != w and _holds(w, v) for v in words)]
    return tuple(_GAP.join(re.escape(p) for p in w) for w in kept)


def _holds(words: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    """Whether every text the words' regex matches (the words with a word gap between two) holds
    a match of `inner`'s: its words in a row within them, the first at the end of a word, the last
    at the start of one (one word: anywhere inside a word)."""
    k = len(inner)
    if k == 0:
        return False
    if k == 1:
        return any(inner[0] in w for w in words)
    return any(words[i].endswith(inner[0]) and words[i + 1:i + k - 1] == inner[1:-1]
               and words[i + k - 1].startswith(inner[-1]) for i in range(len(words) - k + 1))


def _prefilters(patterns: list[tuple[str, ...]], start: int) -> list[tuple[int, Prefilter]]:
    """Prefilters for the brands' patterns, from the `start`-th: one set, else the patterns split
    in halves until each set fits RE2's memory budget. One set for all refused about 10,000 terms
    (1,000 brands of 20 terms, within the limits), and every brand's regex then ran on every
    mention: about 1 ms a mention instead of a few µs (until 2026-12-06)."""
    try:
        return [(start, Prefilter(patterns))]
    except UnsupportedPattern:
        if len(patterns) == 1:  # a pattern RE2 cannot take at all
            raise
        half = len(patterns) // 2
        return _prefilters(patterns[:half], start) + _prefilters(patterns[half:], start + half)


def _report_shared_terms(brands: list[Brand]) -> None:
    """Log, once a load, the terms several brands have (folded, whatever separates their words):
    each mention of one counts for all of them, which may be meant (a group and its subsidiary)
    or a slip in a long list, where nothing said it (found in review, 2026-12-07)."""
    owners: dict[str, tuple[str, list[str]]] = {}  # folded term -> (as first written, brand ids)
    for brand in brands:
        for _, term in brand.terms():
            key = " ".join(p for p in re.split(_GAP, fold(term).strip()) if p)
            spelt, ids = owners.setdefault(key, (term, []))
            if brand.id not in ids:
                ids.append(brand.id)
    shared = [f"{spelt!r} ({', '.join(ids)})" for spelt, ids in owners.values() if len(ids) > 1]
    if shared:
        log.warning("watch list: %d term(s) of several brands, each of their mentions counts for "
                    "all of them: %s%s", len(shared), "; ".join(shared[:20]),
                    f"; and {len(shared) - 20} more" if len(shared) > 20 else "")


def unknown_tables(data: dict[str, Any]) -> str | None:
    """What is wrong with the top level of a watch list ("unknown top-level keys [...]"), or None."""
    unknown = sorted(set(data) - set(WATCHLIST_TABLES))
    if not unknown:
        return None
    return (f"unknown top-level keys {unknown} (known: "
            f"{', '.join(f'[[{k}]]' for k in WATCHLIST_TABLES)})")


def _check_hashtag(tag: str, where: str) -> str:
    """A hashtag as platforms write them: letters, digits and _ after an optional #; returned
    without surrounding spaces (" #acme" was followed by the Mastodon collector, which strips it,
    but became the rule "# #acme" here, which nothing matched)."""
    tag = tag.strip()
    if not _HASHTAG.fullmatch(tag):
        raise WatchlistError(f"{where}: {tag!r} is not a hashtag (letters, digits and _ after an "
                             "optional #; a hashtag ends at a space, a dash or a dot)")
    return tag


def _check_excludes(brand: Brand, where: str) -> None:
    """An exclude term that matches one of the brand's own terms would silence it for good
    (name "Acme", exclude "ACME": nothing ever matched)."""
    if not brand.exclude:
        return
    # One pattern for all (a pattern an exclusion took 4 ms to build, 0.8 s for 200 of them), the
    # one Watchlist then runs.
    pattern = _Terms(list(brand.exclude), named=True)
    for kind, term in brand.terms():
        found = pattern.search(fold(term))
        if found:
            exclude = brand.exclude[int(found.lastgroup[1:])]  # type: ignore[index]
            raise WatchlistError(f"{where}: {exclude!r} matches the brand's own {kind} "
                                 f"{term!r}, which could then never match")


def _check_term(term: str, where: str) -> None:
    """A term must hold a letter or digit once folded: "-" or a lone accent would become an
    empty pattern that matches (or excludes) nearly every mention."""
    if not any(ch.isalnum() for ch in fold(term)):
        raise WatchlistError(f"{where}: {term!r} has no letter or digit to match")
