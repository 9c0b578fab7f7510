"""Which of several Python regexes can match a text, found in one pass with RE2.

Python's backtracking `re` walks a text once per pattern: moderation triage's 14 rule patterns
per language took 60-70 µs a mention, the largest part of enrichment, and the watch list's one
pattern per brand costs about 1.2 µs a brand (64 µs a mention with 50 brands). Most texts match
few of them. `Prefilter` answers "which of these patterns might match?" in one linear pass with
an RE2 set (google-re2, BSD-3-Clause), so that only the Python patterns that might are run; the
results are still those of the Python patterns.

The RE2 patterns are *relaxations* of the Python ones, built from `re`'s own parse of each
pattern: every zero-width assertion is dropped (lookarounds, ^, $, \\b), and every character
class becomes a superset of itself (its exact ASCII members, plus every non-ASCII character;
exactly itself when made of characters, ranges and \\s alone).
Literals and alternations are kept as they are; a repetition keeps its lower bound and loses its
upper one, and its laziness (which changes which match is found, not whether one is): RE2 writes
`x{1,3}` out as `xx?x?`, and triage's lexicon, bounded so that Python's backtracking cannot blow
up on crafted text, made sets of 44 MB where `x+` gives 14 MB, as selective on the demo texts
(RE2 does not backtrack: an open repeat costs it nothing). Whatever the Python pattern matches, its relaxation
matches: a pattern the prefilter rules out cannot match. A pattern using anything else (back
references, conditionals, case-insensitive matching) is refused when the prefilter is built.

A pattern may also be given as a tuple of alternatives (patterns, or the sources of patterns
without flags): it may match where any of them may, and each is an entry of the set of its own.
RE2 sorts a set's entries and shares their common literal starts, a trie its DFA walks with few
instructions a state; one alternation per pattern is one entry, whose start the set cannot share
with the others'. A watch list's brands are given so, one alternative a term: given as one
expression a brand, each starting with a class of its terms' first letters, every state held all
300 brands' classes, and each new state and transition (built as new text comes, and a worker's
text is mostly new) cost so much that a text never seen cost the set 29 µs over 16,000 of them
(108 over the first 1,000, 10-12 still over the last), against 3.1 so (2026-12-07); RE2's memory
budget was not the cause (the same at 8 and 512 MB).

RE2::Set reports no error through the Python binding: a search that could not finish (its DFA
out of memory) would look like "nothing matches". An always-matching sentinel pattern is in the
set, so such a search, like a text RE2 cannot take (a lone surrogate), makes `candidates` answer
None: the caller then runs every pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache, lru_cache

# re's own parser (named sre_parse before Python 3.11): the relaxation reads what `re` compiles.
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

#: The escape of each category of `re`, to test a character's membership with `re` itself.
_CATEGORIES = {
    C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W", C.CATEGORY_SPACE: r"\s",
    C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D",
}
#: Every character outside ASCII, in an RE2 class.
_NON_ASCII = r"\x{80}-\x{10ffff}"
#: Flags a relaxation cannot honour. (MULTILINE only changes ^ and $, which are dropped anyway;
#: ASCII only narrows \w, \s and \d to ASCII members, which the relaxation keeps exactly.)
_UNSUPPORTED_FLAGS = re.IGNORECASE | re.LOCALE
#: RE2's memory budget for one set: the compiled program and the DFA cache, which is reset, not
#: grown, when full. Triage's prefilters (both languages and the ways-out set) add about 14 MB to
#: a worker's RSS as they are built, and their DFAs, warm after a few thousand texts, answer in
#: about 1 µs a text (14 µs while cold).
MAX_MEM = 32 << 20


class UnsupportedPattern(ValueError):
    """A Python pattern uses a construct the relaxation does not handle."""


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _members(items: Sequence[tuple[Any, Any]], char: str) -> bool:
    """Whether `char` is in the class `items` of re's parse (exactly as `re` decides)."""
    negate = hit = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            hit = hit or ord(char) == av
        elif op is C.RANGE:
            hit = hit or av[0] <= ord(char) <= av[1]
        elif op is C.CATEGORY and av in _CATEGORIES:
            hit = hit or re.match(_CATEGORIES[av], char) is not None
        else:
            raise UnsupportedPattern(f"class item {op}")
    return hit != negate


@cache
def _non_ascii_spaces() -> str:
    """The non-ASCII members of \\s, as RE2 class members: built on first use. `re`'s \\s of a str
    pattern is str.isspace (checked over every code point), a tenth of the time of asking `re`
    for each of them (34 ms at the start of every process building a watch list's prefilter)."""
    # (None beyond the Basic Multilingual Plane: U+3000 is the last.)
    return "".join(_char(c) for c in range(128, 0x10000) if chr(c).isspace())


def _class(items: list[tuple[Any, Any]]) -> str:
    """_class_of(items), kept: triage's patterns hold 10,000 classes, most of them \\w, \\s or a
    few letters (the ASCII members of a class tested one by one: 0.04 s a process, 2026-12-07)."""
    return _class_of(tuple(items))


@lru_cache(maxsize=4096)
def _class_of(items: tuple[tuple[Any, Any], ...]) -> str:
    r"""A superset of a character class: its ASCII members and every non-ASCII character; exactly
    the class when it is made of characters, ranges and \s alone (no negation): the watch rules'
    first letters and word gaps ([a#@], [\s_-]), which as supersets let any non-ASCII character
    start or join a term (larger sets, more brands to check; found in review, 2026-12-06)."""
    if all(op is C.LITERAL or op is C.RANGE or (op is C.CATEGORY and av is C.CATEGORY_SPACE)
           for op, av in items):
        out = []
        for op, av in items:
            if op is C.LITERAL:
                out.append(_char(av))
            elif op is C.RANGE:
                out.append(f"{_char(av[0])}-{_char(av[1])}")
            else:
                out.append(r"\x{9}-\x{d}\x{1c}-\x{20}" + _non_ascii_spaces())
        return "[" + "".join(out) + "]"
    codes = [c for c in range(128) if _members(items, chr(c))]
    runs: list[str] = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        runs.append(_char(codes[i]) if i == j else f"{_char(codes[i])}-{_char(codes[j])}")
        i = j + 1
    return "[" + "".join(runs) + _NON_ASCII + "]"


def _relax(parsed: Any, dotall: bool) -> str:
    out: list[str] = []
    for op, av in parsed.data:  # (its list: iterating the SubPattern goes through __getitem__)
        if op is C.LITERAL:
            out.append(_char(av))
        elif op is C.NOT_LITERAL:
            out.append(f"[^{_char(av)}]")
        elif op is C.ANY:
            out.append(r"[\x{0}-\x{10ffff}]" if dotall else r"[^\n]")
        elif op is C.IN:
            out.append(_class(av))
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(_relax(branch, dotall) for branch in av[1]) + ")")
        elif op is C.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if add_flags & _UNSUPPORTED_FLAGS:
                raise UnsupportedPattern("inline flags")
            out.append("(?:" + _relax(sub, dotall or bool(add_flags & re.DOTALL)) + ")")
        elif op is C.MAX_REPEAT or op is C.MIN_REPEAT:
            low, high, sub = av
            times = f"{{{low},}}"  # the upper bound dropped: see the module's docstring
            out.append("(?:" + _relax(sub, dotall) + ")" + times)
        elif op is C.AT or op is C.ASSERT or op is C.ASSERT_NOT:
            pass  # zero width: dropping a condition only allows more matches
        else:
            raise UnsupportedPattern(f"{op}")
    return "".join(out)


def _source(pattern: re.Pattern[str] | str) -> tuple[str, int]:
    """A pattern's source and flags (a str: a source without flags), refused if not relaxable."""
    if isinstance(pattern, str):
        return pattern, 0
    if not isinstance(pattern.pattern, str) or pattern.flags & _UNSUPPORTED_FLAGS:
        raise UnsupportedPattern(f"flags {pattern.flags!r} or a bytes pattern")
    return pattern.pattern, pattern.flags


def relax(pattern: re.Pattern[str] | str) -> str:
    """An RE2 pattern that matches wherever `pattern` does (and possibly elsewhere)."""
    return _relaxed(*_source(pattern))


@lru_cache(maxsize=2048)
def _relaxed(source: str, flags: int) -> str:
    """relax() of a pattern's source and flags, kept: a watch list's reload relaxes the brands'
    patterns again, unchanged but for the edited brand's (0.6 s for 300 brands), and the 1,000
    brands a watch list may have fit."""
    return _relax(sre_parse.parse(source, flags), bool(flags & re.DOTALL))


@lru_cache(maxsize=2048)
def _relaxed_all(sources: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """relax() of each alternative of a pattern given as a tuple, kept as _relaxed's are: one
    entry a watch-list brand, not one a term (1,000 brands may have 200 terms each)."""
    return tuple(_relax(sre_parse.parse(source, flags), bool(flags & re.DOTALL))
                 for source, flags in sources)


#: A pattern, or a tuple of alternatives (patterns, or sources of patterns without flags).
Alternatives = re.Pattern[str] | tuple[re.Pattern[str] | str, ...]


class Prefilter:
    """The patterns, by position, that may match a text: one RE2 pass for all of them."""

    def __init__(self, patterns: Sequence[Alternatives], max_mem: int = MAX_MEM) -> None:
        import re2  # google-re2

        options = re2.Options()
        options.max_mem = max_mem
        self._set = re2.Set.SearchSet(options)
        #: The position of an entry's pattern (owners.__getitem__), when a pattern has several
        #: entries; None when each has one, at its own position.
        self._owner: Callable[[int], int] | None = None
        try:
            if all(isinstance(p, re.Pattern) for p in patterns):
                for pattern in patterns:
                    self._set.Add(relax(pattern))  # type: ignore[arg-type]
            else:
                owners = []
                for k, pattern in enumerate(patterns):
                    alternatives = (_relaxed_all(tuple(_source(a) for a in pattern))
                                    if isinstance(pattern, tuple) else (relax(pattern),))
                    for relaxed in alternatives:
                        self._set.Add(relaxed)
                        owners.append(k)
                owners.append(len(patterns))  # the sentinel's
                self._owner = owners.__getitem__
            self._sentinel = self._set.Add("")  # matches every text: its absence means "no answer"
            self._set.Compile()
        except re2.error as exc:  # e.g. a program larger than max_mem
            raise UnsupportedPattern(f"RE2 cannot compile the set: {exc}") from exc
        self.size = len(patterns)
        self._alone = frozenset([self.size])  # the sentinel's position alone

    def candidates(self, text: str) -> frozenset[int] | None:
        """Positions of the patterns that may match `text`, and `size` (the sentinel's); None
        when RE2 could not tell."""
        try:
            found = self._set.Match(text)
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, RE2 cannot read it
            return None
        if not found or self._sentinel not in found:
            return None
        if len(found) == 1:  # the sentinel alone (most texts): no set to build
            return self._alone
        if self._owner is None:
            return frozenset(found)
        return frozenset(map(self._owner, found))  # half the time of a comprehension
