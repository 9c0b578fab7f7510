"""Per-brand crisis monitoring: event-time buckets, the spike detector, and the alert story."""

from __future__ import annotations

import copy
import heapq
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from veille.rules import fold, fold_word
from veille.spikes import Detector, DetectorConfig, Score, feed
from veille.timezones import TimezoneError

if TYPE_CHECKING:
    from veille.rules import Watchlist

log = logging.getLogger(__name__)
STATE_VERSION = 1
_WORD = re.compile(r"[#@]?\w[\w'-]{2,}")
#: Words too common to say anything about a crisis (French and English): closed-class words
#: (pronouns, determiners, prepositions, auxiliaries), as `fold` leaves them (accent-free).
STOPWORDS = frozenset((
    "the", "and", "for", "that", "this", "with", "you", "your", "are", "was", "not", "but",
    "have", "has", "had", "they", "them", "our", "out", "all", "just", "from", "what", "when",
    "why", "who", "how", "can", "its", "it's", "too", "very", "really", "again", "still",
    "been", "more", "than", "any", "some", "here", "there", "then", "were", "will", "would",
    "could", "should", "did", "does", "doing", "don", "about", "into", "over", "after",
    "before", "because", "also", "only", "even", "much", "many", "such", "their", "these",
    "those", "which", "while", "where", "being", "him", "her", "his", "she", "one", "get",
    "got", "now", "off", "yet", "ever", "every", "other", "own", "same", "let", "may", "might",
    "must", "shall", "via", "yes", "yours", "ours", "theirs", "myself", "anyone", "anything",
    "les", "des", "une", "est", "pas", "que", "qui", "pour", "dans", "sur", "avec", "mais",
    "plus", "par", "vous", "nous", "ils", "elle", "elles", "sont", "ont", "cette", "ces", "son",
    "ses", "leur", "leurs", "aux", "du", "de", "la", "le", "un", "et", "ou", "en", "au", "je",
    "tu", "il", "on", "ne", "ce", "ca", "cela", "ceci", "tout", "tous", "toute", "toutes",
    "fait", "faire", "etre", "avoir", "bien", "encore", "depuis", "comme", "suis", "sommes",
    "etes", "etait", "etaient", "ete", "sera", "seront", "serait", "avons", "avez", "avait",
    "avaient", "aura", "vais", "vont", "peut", "peux", "peuvent", "moins", "tres", "trop",
    "aussi", "alors", "donc", "car", "quand", "sans", "sous", "chez", "entre", "vers", "mon",
    "ton", "mes", "tes", "nos", "vos", "notre", "votre", "lui", "eux", "moi", "toi", "rien",
    "quoi", "dont", "celui", "celle", "ceux", "ici", "deja", "toujours", "jamais", "meme",
    "autre", "autres", "fois", "oui", "non", "quel", "quelle", "quels", "quelles", "juste",
    "aucun", "aucune", "aucuns", "aucunes", "chaque", "plusieurs", "certains", "certaines",
    "both", "each", "cet", "https", "http", "www", "never", "nor", "cannot",
    # French counterparts of the English ones above (after, before, during, around, really,
    # now, then, only, many...), missing until 2026-12-07: "autour" topped a brand's terms
    "apres", "avant", "pendant", "autour", "selon", "lors", "parmi", "pres", "hors", "sauf",
    "malgre", "puis", "ensuite", "ainsi", "vraiment", "maintenant", "seulement", "beaucoup",
    "around", "during", "through", "without", "within", "upon", "under",
))


_URL = re.compile(r"(?:https?://|www\.)\S+")
#: French elisions (d'acme, l'appli, qu'ils) and English clitics (acme's, don't, we're).
_ELISION = re.compile(r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)'")
_CLITIC = re.compile(r"(?:'s|n't|'re|'ve|'ll|'d|'m)$")
#: Longer "words" are not words (a base64 blob, a run of letters): not worth a moderator's look.
MAX_TERM_CHARS = 30
#: Words (folded, alone between spaces) that negate the word after them: "pas content" is a
#: term of its own, not "content". English "not", "never", "no", "nor", "cannot" and any
#: "...n't"; French "pas", "jamais", "ni", "aucun(e)". Not French "plus": as often "more"
#: ("plus cher", "plus lent": the complaint itself) as "no more", which "ne" or "jamais" says
#: anyway ("plus jamais").
NEGATORS = frozenset(("not", "never", "no", "nor", "cannot", "pas", "jamais", "ni", "aucun", "aucune"))
_NOT = re.compile(r"[a-z]+n't")
#: Words (folded, alone between spaces) a negation reaches across, at most two of them: "pas
#: très content", "pas du tout content", "not very happy", "not really good" are "pas content"
#: and "not happy" (the praise word alone was a complaint's term again). Not "de": "pas de
#: réseau" is the complaint about the network ("reseau" says it).
THROUGH = frozenset(("tres", "vraiment", "si", "trop", "tellement", "super", "hyper", "du", "tout",
                     "very", "really", "so", "too", "quite", "that", "all", "at"))
#: Apostrophes shown as the straight one (as `fold` counts them: a spelling differs from its
#: term only by its letters), and the invisible joiners `fold` drops (a soft hyphen) dropped.
_WRITTEN = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00ad": None,
                          "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None})

#: A chunk of text as str.split() cuts it (case kept) -> (the term it negates the next chunk's
#: first word with, or None; its terms as (term, term without its sign, spelling or None); and
#: whether its first word is a term, the one a negator before it negates). A spelling is the
#: word lower-cased as written, when it differs from the term (accents: "déçu" for "decu").
#: A mention's chunks are mostly chunks seen before, and `veille report` extracts the terms of
#: every mention of the week (half its time before a cache). Cleared when full.
_TERMS: dict[str, tuple[str | None, tuple[tuple[str, str, str | None], ...], bool]] = {}
TERM_CACHE_SIZE = 50_000
_NO_TERMS: tuple[str | None, tuple[tuple[str, str, str | None], ...], bool] = (None, (), False)


def _term(word: str) -> tuple[str, str] | None:
    """A word's term and the term without its sign (None: not a term); terms_of's rules."""
    sign = word[0] if word[0] in "#@" else ""
    w = _CLITIC.sub("", _ELISION.sub("", word[len(sign):].strip("'-"))).strip("'-")
    if 3 <= len(w) <= MAX_TERM_CHARS and w not in STOPWORDS and not w.isdigit():
        return sign + w, w
    return None


def _spelling(word: str, term: str) -> str | None:
    """How `word` (a word of the lower-cased text, as written) spells `term` (its folded term),
    when it spells it otherwise than the term (accents); None when it does not, or when it is
    not that term's word after all (the two texts did not split alike)."""
    sign = word[0] if word[0] in "#@" else ""
    w = _CLITIC.sub("", _ELISION.sub("", word[len(sign):].strip("'-"))).strip("'-")
    shown = sign + w
    return shown if shown != term and fold_word(shown) == term else None


def _chunk(chunk: str) -> tuple[str | None, tuple[tuple[str, str, str | None], ...], bool]:
    """A chunk's _TERMS entry."""
    folded = fold_word(chunk)
    negator = folded if folded in NEGATORS or _NOT.fullmatch(folded) else None
    words = _WORD.findall(_URL.sub(" ", folded))
    if not words:
        return (negator, (), False) if negator else _NO_TERMS
    terms = [_term(w) for w in words]
    spelt: list[str | None] = [None] * len(words)
    if not chunk.isascii():
        # The same words in the text as written (lower case; compatibility letters, such as
        # the "fancy fonts" of social media, spelt plainly): aligned with the folded ones when
        # there are as many, each one's spelling checked against its term.
        written = unicodedata.normalize("NFKC", chunk).lower().translate(_WRITTEN)
        originals = _WORD.findall(_URL.sub(" ", written))
        if len(originals) == len(words):
            spelt = [_spelling(o, t[0]) if t is not None else None
                     for o, t in zip(originals, terms, strict=True)]
    return negator, tuple((t[0], t[1], sp) for t, sp in zip(terms, spelt, strict=True) if t is not None), \
        terms[0] is not None


def spelling_rank(spelling: str) -> tuple[int, str]:
    """The order spellings of one term are chosen by, the least first: the most letters out of
    ASCII (accents: "déçu" rather than "decu"), then alphabetical. Whatever order they were
    seen in, the same one is chosen (an alert is the same after a replay or a restart)."""
    return -sum(1 for c in spelling if c > "\x7f"), spelling


def _prefer(spellings: dict[str, str], term: str, spelling: str) -> None:
    """Keep `spelling` as `term`'s in `spellings` if it ranks before the one kept."""
    kept = spellings.get(term)
    if kept is None or spelling_rank(spelling) < spelling_rank(kept):
        spellings[term] = spelling


def merge_spellings(into: dict[str, str], spellings: dict[str, str], terms: Any) -> None:
    """Each term of `terms` (a dict or set of terms) spelt in `spellings`: its spelling kept in
    `into` when it ranks before the one there (spelling_rank)."""
    for term, spelling in spellings.items():
        if term in terms:
            _prefer(into, term, spelling)


def terms_spelt(text: str, brand_terms: frozenset[str] = frozenset()) -> tuple[list[str], dict[str, str]]:
    """terms_of(text, brand_terms), and the spelling of those of its terms written otherwise
    than their term (with accents): {"decu": "déçu"}; of a term written several ways, the
    first by spelling_rank."""
    out: list[str] = []
    spellings: dict[str, str] = {}
    cache = _TERMS
    negator = None
    through = 0
    for chunk in text.split():
        if negator is not None and through < 2 and fold_word(chunk) in THROUGH:
            through += 1  # an intensifier between a negator and its word: not a term either
            continue
        entry = cache.get(chunk)
        if entry is None:
            entry = _chunk(chunk)
            # A long chunk is no term's (a blob, a link), and a link is seldom seen twice: not
            # kept (they pushed the words out of the cache).
            if len(chunk) <= MAX_TERM_CHARS + 10 and "/" not in chunk:
                if len(cache) >= TERM_CACHE_SIZE:
                    cache.clear()
                cache[chunk] = entry
        terms = entry[1]
        if negator is not None and entry[2]:
            term, bare, spelling = terms[0]
            terms = terms[1:]
            if bare not in brand_terms:
                term = negator + " " + term
                out.append(term)
                if spelling is not None:
                    _prefer(spellings, term, negator + " " + spelling)
        for term, bare, spelling in terms:
            if bare not in brand_terms:
                out.append(term)
                if spelling is not None:
                    _prefer(spellings, term, spelling)
        negator = entry[0]
        through = 0
    return out, spellings


def terms_of(text: str, brand_terms: frozenset[str] = frozenset()) -> list[str]:
    """Lower-cased, accent-free words of 3 to 30 letters, without links, stop words, numbers,
    elisions and clitics (d'acme and acme's are acme), nor the brand's own names. A hashtag or
    handle keeps its sign: #acmefail says more than acme. Counted accent-free ("déçu" and
    "decu" are one term); terms_spelt gives the spellings to show.

    Negation: a word right after a negator (NEGATORS, a word alone between spaces: "not", "no",
    "never", "nor", "cannot", "...n't", "pas", "jamais", "ni", "aucun", "aucune") is one term
    with it, "pas content", "not happy", "isn't good", "aucune reponse": in a complaint, the
    praise word alone said the opposite of the text. The next word, across at most two
    intensifiers (THROUGH: "pas très content", "pas du tout content", "not very happy" are "pas
    content", "not happy"); "pas de réseau" gives "reseau" (the complaint's word), "pas,
    content" gives "content" (punctuation after the negator). A brand's own name after a negator is left
    out as it is alone."""
    return terms_spelt(text, brand_terms)[0]


def brand_terms(watchlist: Watchlist) -> dict[str, frozenset[str]]:
    """Each brand's own names (its id's brand: the words of its aliases, keywords and hashtags,
    folded, without # or @), left out of its rising terms and of `veille report`'s terms."""
    out = {}
    for b in watchlist.brands:
        words: set[str] = set()
        for _, term in b.terms():
            words.update(fold(term).lstrip("#@").split())
        out[b.id] = frozenset(words)
    return out


@dataclass(frozen=True)
class CrisisConfig:
    """Settings shared by every brand (no per-brand tuning; a brand's time zone is its
    `BrandMonitor`'s)."""

    bucket_seconds: int = 300
    #: A mention older than the newest one by more than this goes to a bucket already closed:
    #: it is counted as late and left out. Buckets close once the newest event time passes
    #: their end by this much.
    lateness_seconds: int = 600
    #: Severity: critical when negative volume reaches this multiple of its expected level,
    #: or when the story lasts `escalate_buckets` anomalous buckets.
    critical_ratio: float = 4.0
    escalate_buckets: int = 3
    #: The alert level of the count detector's anomaly score (0.5: its alert threshold). A bucket
    #: at that level keeps a story open, re-opens it within the cool-down, and, within the
    #: detector's episode (its short spans up), opens a new one even while the detector holds
    #: its alert flag back (it alerts once per episode, then not again for hours).
    resolve_score: float = 0.5
    #: Hysteresis: the story resolves after this many quiet buckets in a row, doubled with each
    #: re-opening of the story, up to the cool-down: a crisis that keeps flaring up needs a
    #: longer calm before it is called over.
    resolve_buckets: int = 3
    #: A new spike within this long after a resolution re-opens the same story.
    cooldown_seconds: int = 3600
    top_mentions: int = 5
    top_terms: int = 8
    #: A longer silence (or a jump in replayed time) feeds the detector only its last this many
    #: empty buckets (a week). A brand still warming up is not fed a silence longer than the
    #: time it had been watched before it: its detector starts afresh (`BrandMonitor._score`).
    max_gap_buckets: int = 7 * 288
    #: Negative share test: a bucket (alone, or with the one before) holding at least
    #: `share_min_negative` negative mentions, whose chance under the brand's usual negative
    #: share is below `share_p` (exact binomial tail), is a spike even when volume is flat;
    #: below `share_p_continue` it keeps an open story going. The usual share is learnt with a
    #: half-life of `share_half_life_buckets`, after `share_warmup_mentions` mentions.
    share_p: float = 1e-6
    share_p_continue: float = 1e-2
    share_min_negative: int = 5
    share_half_life_buckets: int = 288
    share_warmup_mentions: int = 200


@dataclass
class Bucket:
    start: int
    total: int = 0
    negative: int = 0
    weighted_total: float = 0.0
    weighted_negative: float = 0.0
    top: list[list[Any]] = field(default_factory=list)  # min-heap of [audience, id]
    terms: dict[str, int] = field(default_factory=dict)
    #: Term -> its spelling shown (terms_spelt: "decu" -> "déçu"), for the terms of `terms`
    #: written otherwise than their term only; of several, the first by spelling_rank.
    shown: dict[str, str] = field(default_factory=dict)

    def add(self, mention_id: str, negative: bool, audience: int, terms: list[str],
            keep: int, max_terms: int = 300, spellings: dict[str, str] | None = None) -> None:
        # Audience weight: log-scaled so a 1M-follower post weighs ~6x a 10-follower one,
        # not 100,000x (reach matters, but one celebrity must not be a crisis on its own).
        weight = 1.0 + _log10(audience + 1)
        self.total += 1
        self.weighted_total += weight
        if not negative:
            return
        self.negative += 1
        self.weighted_negative += weight
        item = [audience, mention_id]
        if len(self.top) < keep:
            heapq.heappush(self.top, item)
        elif item > self.top[0]:
            heapq.heapreplace(self.top, item)
        # At most `max_terms` distinct terms a bucket (its state is saved with every batch):
        # past that, a new term is left out, so which are kept depends on the order the
        # mentions came in (the only order-dependent part of an alert; README, Guarantees).
        for t in terms:
            if t in self.terms or len(self.terms) < max_terms:
                self.terms[t] = self.terms.get(t, 0) + 1
        if spellings:
            merge_spellings(self.shown, spellings, self.terms)

    def to_state(self) -> dict[str, Any]:
        return {"start": self.start, "total": self.total, "negative": self.negative,
                "wt": self.weighted_total, "wn": self.weighted_negative,
                # Copies: the saved state must not change with the bucket's next mentions.
                "top": [list(x) for x in self.top], "terms": dict(self.terms),
                "shown": dict(self.shown)}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Bucket:
        # "shown" since 2026-12-07: a bucket saved before has its terms as they are spelt.
        return cls(d["start"], d["total"], d["negative"], d["wt"], d["wn"],
                   [list(x) for x in d["top"]], dict(d["terms"]), dict(d.get("shown") or {}))


def _top(counts: dict[str, Any], n: int) -> dict[str, Any]:
    """The `n` largest counts, ties by term: the same whatever the order they were seen in."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else 0.0


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact, in log space (no overflow for large n).

    Terms are summed from the mode outwards only: above the mean, the upper tail from k up;
    at or below it, one minus the lower tail from k - 1 down. Either way each next term is
    smaller than the last, so the sum can stop once they no longer count."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)

    def term(i: int) -> float:
        return math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)

    upper = k > n * p
    total = 0.0
    for i in (range(k, n + 1) if upper else range(k - 1, -1, -1)):
        t = term(i)
        total += t
        if t < total * 1e-12:
            break
    return min(total, 1.0) if upper else min(max(1.0 - total, 0.0), 1.0)


def iso_seconds(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)  # the year on four digits whatever strftime does
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%SZ}"


class Watermark:
    """Event time of one input stream merged from several sources (partitions), each of which
    is in event-time order up to the lateness bound.

    Reading a backlog, a consumer takes partitions in batches: one partition's mentions may
    run hours ahead of another's. The newest event time seen would then close buckets whose
    mentions are still to come from the other partitions. The watermark is instead the
    *oldest* of the sources' newest event times: a bucket closes once every source has moved
    past it, whatever order the partitions were read in, so a replay closes the same buckets
    with the same mentions (determinism).

    A source with nothing to say must not hold the others back for ever. The stage upstream
    sends, for each source, a tick (a punctuation, see `SourceClock`) every few seconds: the
    source's newest event time, whether that was at the present when read (live), and whether
    the source is read to its end and quiet. A quiet source vouches for the tick's own time:
    nothing older is coming from it (beyond the lateness bound). So when every source is quiet
    the watermark is the present, and a brand nobody talks about has its buckets closed and
    its alert story resolved. A quiet claim counts only once the stream is live: while a
    backlog is read, a source still empty must not close buckets its mentions may yet fill.

    The watermark depends on what the sources said, not on this process's clock: a backlog of
    mentions and ticks read again gives the same watermark (determinism). If the upstream
    stage stops, its ticks stop and the last claims stand: the watermark stays where they left
    it, because an outage is not silence, and the backlog, once it comes, lands in its buckets.

    An event time ahead of the clock (the enrichment stage accepts `created_at` up to an hour
    ahead, for clocks that are off) counts as at most `max_ahead_seconds` ahead: one such
    mention must not close the present buckets and make every on-time mention after it late.
    """

    def __init__(self, sources: Iterable[int] = (), max_ahead_seconds: float = 60.0) -> None:
        self.expected = set(sources)
        self.max_ahead_seconds = max_ahead_seconds
        self.newest: dict[int, float] = {}
        self.live: dict[int, bool] = {}  # source -> its stream was at the present (last tick)
        self.quiet: dict[int, float] = {}  # source -> time it was last said to be quiet at

    def to_state(self) -> dict[str, Any]:
        """What it was told, as plain JSON-able values: restored after a restart or a rebalance,
        the input after the saved position is judged as it would have been without them."""
        return {"expected": sorted(self.expected), "max_ahead": self.max_ahead_seconds,
                "newest": {str(s): t for s, t in self.newest.items()},
                "live": {str(s): v for s, v in self.live.items()},
                "quiet": {str(s): t for s, t in self.quiet.items()}}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Watermark:
        wm = cls(d["expected"], float(d["max_ahead"]))
        wm.newest = {int(s): float(t) for s, t in d["newest"].items()}
        wm.live = {int(s): bool(v) for s, v in d["live"].items()}
        wm.quiet = {int(s): float(t) for s, t in d["quiet"].items()}
        return wm

    def _saw(self, source: int, event_time: float, wall: float) -> None:
        event_time = min(event_time, wall + self.max_ahead_seconds)
        if event_time > self.newest.get(source, float("-inf")):
            self.newest[source] = event_time

    def observe(self, source: int, event_time: float, wall: float) -> None:
        """A mention of `source` at `event_time`, received at wall-clock (epoch) time `wall`
        (which only bounds how far ahead of the present an event time may count)."""
        self._saw(source, event_time, wall)
        self.quiet.pop(source, None)

    def tick(self, source: int, at: float, newest: float | None, live: bool, quiet: bool,
             wall: float) -> None:
        """A tick of `source` sent at `at` (see `SourceClock.tick`), received at `wall`."""
        if newest is not None:
            self._saw(source, newest, wall)
        self.live[source] = live
        if quiet:
            self.quiet[source] = min(at, wall + self.max_ahead_seconds)
        else:
            self.quiet.pop(source, None)

    def value(self) -> float | None:
        """The watermark; None while a source that must be waited for has said nothing."""
        sources = self.expected | set(self.newest) | set(self.live)
        if not sources:
            return None
        live = any(self.live.values())
        marks = []
        for s in sources:
            mark = self.newest.get(s)
            if live and s in self.quiet:
                mark = max(mark, self.quiet[s]) if mark is not None else self.quiet[s]
            if mark is None:
                return None
            marks.append(mark)
        return min(marks)


@dataclass
class SourceClock:
    """What the stage upstream of the spike agents knows of one source partition's event time,
    for the ticks it sends (see `Watermark`)."""

    newest: float | None = None  # newest event time forwarded
    heard: float | None = None  # wall-clock time a mention was last forwarded
    #: A clock rebuilt after a restart or rebalance from the last enriched record of the
    #: partition: that record's raw offset. The crashed owner may have written the enriched
    #: records up to it but not all their signals; the new owner re-sends those, and until it
    #: has delivered past this offset, a tick claiming `newest` would overtake them and close
    #: the buckets they belong to (they would all be late). So `newest` is not claimed until
    #: `delivered()` says the stage is past it.
    unconfirmed: int | None = None

    def saw(self, event_time: float, wall: float) -> None:
        if self.newest is None or event_time > self.newest:
            self.newest = event_time
        self.heard = wall

    def delivered(self, position: int) -> None:
        """Every raw record before offset `position` is delivered (by this stage, or committed
        by the partition's previous owner)."""
        if self.unconfirmed is not None and position > self.unconfirmed:
            self.unconfirmed = None

    def tick(self, wall: float, read_to_end: bool, live_seconds: float,
             idle_seconds: float) -> tuple[float, float | None, bool, bool]:
        """(at, newest event time or None, live, quiet) of a tick sent at `wall`. Live: the
        newest event time was recent when it was read (the stream is at the present, not a
        replay of the past). Quiet: read to its end, and nothing forwarded for `idle_seconds`
        (or ever): a pause in a replay or a collector's delay is not silence. A rebuilt clock
        not yet confirmed (`unconfirmed`) claims nothing: no event time, neither live nor quiet."""
        if self.unconfirmed is not None:
            return wall, None, False, False
        if self.newest is None or self.heard is None:
            return wall, None, False, read_to_end
        return (wall, self.newest, self.heard - self.newest <= live_seconds,
                read_to_end and wall - self.heard >= idle_seconds)


class StateMismatch(ValueError):
    """A saved brand state that the current settings cannot continue (another bucket size)."""


@dataclass(frozen=True)
class BucketReport:
    """A closed bucket and what the detector made of it (for metrics)."""

    brand: str
    start: int
    total: int
    negative: int
    weighted_negative: float
    score: Score
    #: The negative mentions expected (BrandMonitor.expected_negative): the gauge's value.
    expected: float


class BrandMonitor:
    """One brand's buckets, detector and alert story; state round-trips through a JSON dict.

    `observe` takes one mention, `advance` moves time on without mentions (a quiet brand's
    buckets must close too: silence is data). Both return the alert events produced.

    `timezone` (an IANA name; None: the detector config's, UTC by default) is the wall clock of
    the brand's daily rhythm: its detector's hours of the day and days are counted in it (see
    `DetectorConfig.timezone`). Buckets, watermarks and alert windows stay in epoch seconds.
    """

    def __init__(self, brand: str, config: CrisisConfig | None = None,
                 detector_config: DetectorConfig | None = None,
                 brand_terms: frozenset[str] = frozenset(), timezone: str | None = None) -> None:
        self.brand = brand
        self.config = config or CrisisConfig()
        detector_config = detector_config or DetectorConfig(bucket_seconds=self.config.bucket_seconds)
        if timezone is not None:
            detector_config = replace(detector_config, timezone=timezone)
        self.detector = Detector(detector_config)
        #: The brand's time zone: a saved detector of another zone is moved to it (load_core).
        self.timezone = detector_config.timezone
        self.brand_terms = brand_terms
        self.open: dict[int, Bucket] = {}
        self.newest = 0.0
        self.closed_until = 0  # every bucket starting before this is closed
        self.late = 0
        self.baseline_terms: dict[str, float] = {}
        self.story: dict[str, Any] | None = None
        self.reports: list[BucketReport] = []
        # Decayed counts behind the usual negative share (a Beta(2, 8) prior: 20 %).
        self.share_neg = 2.0
        self.share_all = 10.0
        self.share_seen = 0
        # Decayed mean of the usual buckets' squared z-scores under the binomial: how much more
        # the share varies from bucket to bucket than independent mentions would make it
        # (retweet waves, threads, one topic of the day). 1 until enough buckets were seen.
        self.share_disp = 0.0
        self.share_disp_w = 0.0
        self._last_share_p = 1.0
        self.share_prev = (0, 0)
        self.closes = 0  # buckets closed so far by this object (tells when core state changed)
        #: Alert events sent early (`early`) so far by this object: the story changed too; and
        #: stories kept open early (a surge as one was about to resolve).
        self.early_events = 0
        self.early_marks = 0
        self._early_seen: tuple[tuple[int, int, int], ...] = ()
        #: Start of the brand's first closed bucket (how long it has been watched), and of the
        #: silence held back from the cold detector, if any (see `_score`).
        self.first_start: int | None = None
        self.held_since: int | None = None
        #: Position of the last input applied (the caller's, e.g. a partition offset): kept
        #: with the open state so that input replayed after a crash is not counted twice.
        self.position = -1
        #: Upstream partition -> offset of the last mention applied from it. The enrichment
        #: stage may send a mention again after a crash (at-least-once); it then comes with an
        #: offset already seen and is not counted twice.
        self.sources: dict[int, int] = {}

    def rewatch(self, brand_terms: frozenset[str], timezone: str) -> None:
        """The brand's entry of a changed watch list, while running: its own names (left out of
        the rising terms from now on) and its time zone (the learnt daily rhythm moves with it,
        as it would at the next start)."""
        self.brand_terms = brand_terms
        self.timezone = timezone
        self._follow_zone()

    def _follow_zone(self) -> None:
        if self.detector.config.timezone != self.timezone:
            # The brand's time zone changed (the watch list or VEILLE_TIMEZONE): its learnt
            # daily rhythm moves with the clock instead of being learnt again (Detector.move_to).
            log.info("%s: time zone %s -> %s; its learnt daily rhythm moves with the clock",
                     self.brand, self.detector.config.timezone, self.timezone)
            self.detector.move_to(self.timezone)

    def first_time(self, source: int, offset: int) -> bool:
        """True, and remembered, unless `offset` of upstream partition `source` was applied.

        Each upstream partition arrives in its own order, so the newest offset per partition
        is all it takes."""
        if offset <= self.sources.get(source, -1):
            return False
        self.sources[source] = offset
        return True

    # -- input --------------------------------------------------------------------------
    def observe(self, mention_id: str, created_at: float, negative: bool, audience: int,
                text: str, advance: bool = True) -> list[dict[str, Any]]:
        """Count one mention; with `advance`, the newest event time seen closes buckets (one
        ordered source). A caller merging several sources passes False and calls `advance`
        with their watermark."""
        size = self.config.bucket_seconds
        start = int(created_at // size) * size
        if self.closed_until and start < self.closed_until:
            self.late += 1
            return []
        bucket = self.open.get(start)
        if bucket is None:
            bucket = self.open[start] = Bucket(start)
        terms, spellings = terms_spelt(text, self.brand_terms) if negative else ([], None)
        bucket.add(mention_id, negative, audience, terms, self.config.top_mentions,
                   spellings=spellings)
        self.newest = max(self.newest, created_at)
        return self.advance(self.newest) if advance else []

    def advance(self, now: float) -> list[dict[str, Any]]:
        """Close every bucket that ends before `now - lateness`, filling gaps with empty ones."""
        size = self.config.bucket_seconds
        horizon = int((now - self.config.lateness_seconds) // size) * size  # first open start
        if not self.closed_until:
            # Nothing closed yet: the clock starts at the oldest bucket once it is due, not
            # before (a mention within the lateness bound of the first one is not late).
            if not self.open or horizon <= min(self.open):
                return []
            self.closed_until = min(self.open)
        events: list[dict[str, Any]] = []
        gap = self.config.max_gap_buckets * size
        while horizon - self.closed_until > gap:
            # A long silence (or a jump in replayed time): weeks of zeros are not fed, but a
            # bucket holding mentions is never skipped (at most `gap` of zeros before it).
            held = [start for start in self.open if start < horizon - gap]
            if not held:
                # At most `gap` of zeros before the next bucket that holds mentions (the one
                # that made the jump, past the horizon by the lateness bound): `veille detect`
                # feeds the same. From the horizon, the lateness bound's buckets came on top
                # (2,018 zeros, not 2,016; found in review, 2026-12-05).
                self.closed_until = max(self.closed_until, min(self.open, default=horizon) - gap)
                break
            first = min(held)
            self.closed_until = max(self.closed_until, first - gap)
            events.extend(self._close_until(first + size))
        events.extend(self._close_until(horizon))
        return events

    def _close_until(self, end: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        size = self.config.bucket_seconds
        while self.closed_until < end:
            self.closes += 1
            start = self.closed_until
            bucket = self.open.pop(start, None) or Bucket(start)
            events.extend(self._close(bucket))
            self.closed_until = start + size
        return events

    @property
    def revision(self) -> int:
        """Changes whenever the core state does (a bucket closed, or the story moved early)."""
        return self.closes + self.early_events + self.early_marks

    # -- early firing -------------------------------------------------------------------------
    def early(self, now: float) -> list[dict[str, Any]]:
        """The alert events the open buckets already justify, before they close, at the live
        edge: when the brand's newest mention is at most `lateness_seconds` older than `now`
        (the wall clock) and no open bucket ended more than `lateness_seconds` + a bucket
        before it. A backlog or a replay of old mentions is judged at closing only (its buckets
        close within seconds anyway, and what its open buckets hold depends on how its
        partitions' reads interleave), so a replay gives the same alerts.

        A bucket closes `lateness_seconds` after its end (late mentions still count in it), so
        an alert decided at closing comes 10 to 15 minutes after a surge starts. Here a copy of
        the monitor closes every open bucket as it stands now, the newest one (still filling)
        included, and whatever that copy opens, re-opens or escalates is done now on the real
        story and returned (each event with `"early": true`). The counts only grow until the
        real closing, and the count detector's score grows with them, so what it raises on an
        incomplete bucket it raises at closing too (the negative share test may not: more
        mentions can dilute a share). Nothing is learnt here: the detector, the usual share and
        the terms learn from the closed buckets only, exactly as without early firing. At the
        real closing the story goes on as usual (no second "opened" or "escalated"): a bucket
        that turns out ordinary counts as a quiet one, and the story resolves after
        `resolve_buckets` of them as any other. A bucket older than the early event's, still
        open then, counts in the story at its closing only if it is anomalous itself (never as
        a quiet one). Only buckets up to `now` are judged (not one of mentions dated ahead).

        Cost: a copy of the detector and the story (`_trial`, 0.1 to 1 ms), only when the open
        buckets' counts changed since the last call; the caller decides how often
        (VEILLE_SPIKE_EARLY_SECONDS)."""
        size, lateness = self.config.bucket_seconds, self.config.lateness_seconds
        if (not self.open or not self.closed_until or now - self.newest > lateness
                or now - (min(self.open) + size) > lateness + size):
            # Nothing closed yet (the detector has not started), or not live: the newest
            # mention is old, or an open bucket is older than the lateness bound would keep it
            # open on a live stream (a backlog being read, its partitions at different times).
            return []
        s = self.story
        is_open = s is not None and s["status"] == "open"
        if is_open and s["severity"] != "warning":  # type: ignore[index]
            return []  # nothing more to say early: it is critical already
        # Buckets up to the present only: a mention dated ahead of the clock (accepted up to
        # VEILLE_MAX_FUTURE_SECONDS) must not have its future bucket judged, as the watermark
        # never moves more than a minute past the clock.
        present = {start: b for start, b in self.open.items() if start <= now}
        if not present:
            return []
        seen = tuple((start, b.negative, b.total) for start, b in sorted(present.items()))
        if seen == self._early_seen:
            return []
        self._early_seen = seen
        trial_events = self._trial(present).advance(max(present) + size + lateness)

        def bucket_of(event: dict[str, Any]) -> int:
            """Start of the bucket an event of the copy was raised on."""
            return int(datetime.fromisoformat(event["window_end"]).timestamp()) - size

        events: list[dict[str, Any]] = []
        marked = False
        for i, e in enumerate(trial_events):
            kind = e["event"]
            if kind == "reopened" and marked:
                continue  # the story goes on (below): no re-opening to tell
            if kind == "resolved":
                after = trial_events[i + 1] if i + 1 < len(trial_events) else None
                if (is_open and after is not None and after["event"] == "reopened"
                        and after["alert_id"] == s["alert_id"]):  # type: ignore[index]
                    # The copy resolved the open story on an older quiet bucket, then re-opened
                    # it on a later one: a surge while the story was about to resolve. It goes
                    # on instead (the quiet buckets before the surge's do not count in it, as
                    # for a story opened early), and its escalation, if any, is sent now.
                    s["early"] = bucket_of(after)  # type: ignore[index]
                    self.early_marks += 1
                    marked = True
                    continue
                break
            if not is_open and kind in ("opened", "reopened"):
                start = bucket_of(e)
                if kind == "opened":
                    self.story = s = self._new_story(e["alert_id"], start)
                else:
                    assert s is not None
                    s.update(status="open", quiet=0, reopened=s.get("reopened", 0) + 1)
                s["early"] = start
                is_open = True
                events.append({**e, "early": True})
            elif is_open and kind == "escalated" and e["alert_id"] == s["alert_id"]:  # type: ignore[index]
                s["severity"] = "critical"  # type: ignore[index]
                events.append({**e, "early": True})
                break
        self.early_events += len(events)
        return events

    @staticmethod
    def _new_story(alert_id: str, start: int) -> dict[str, Any]:
        """A story opened on the bucket starting at `start`, before that bucket is counted."""
        return {"alert_id": alert_id, "status": "open", "severity": "warning",
                "opened_at": start, "window_start": start, "anomalous": 0, "quiet": 0,
                "reopened": 0, "resolved_at": 0, "top": [], "terms": {}, "shown": {}}

    def _trial(self, open_buckets: dict[int, Bucket]) -> BrandMonitor:
        """A copy of the monitor that may close `open_buckets` without touching this one:
        what closing changes is copied (the detector, the story, the open buckets' index), what
        it only reads is shared (the buckets themselves, the terms learnt, which the copy does
        not learn: `_learn_terms` is off in it). About 0.1 ms, whatever the brand's vocabulary
        (a deep copy of the whole monitor took 4.5 ms with 2,000 terms learnt)."""
        trial = copy.copy(self)
        trial.detector = Detector.from_state(self.detector.to_state())
        trial.story = copy.deepcopy(self.story)
        trial.open = dict(open_buckets)
        trial.reports = []
        trial._learn_terms = lambda bucket: None  # type: ignore[method-assign]
        return trial

    # -- detection and the alert story ----------------------------------------------------
    def _close(self, bucket: Bucket) -> list[dict[str, Any]]:
        score = self._score(bucket)
        share_p = self._last_share_p = self._share_p(bucket)
        self.reports.append(BucketReport(self.brand, bucket.start, bucket.total, bucket.negative,
                                         bucket.weighted_negative, score,
                                         self.expected_negative(bucket, score)))
        events = self._story(bucket, score, share_p)
        self._learn_terms(bucket)
        return events

    def _score(self, bucket: Bucket) -> Score:
        """The count detector's score of a closed bucket (its negative mentions), a silence (a
        bucket without a negative mention, whatever other mentions it holds: the detector's
        series is the negative count, as `veille detect` reads it) held back while the detector
        warms up (veille.spikes.feed)."""
        self.detector, score, self.held_since, self.first_start = feed(
            self.detector, bucket.start, bucket.negative,
            held_since=self.held_since, first_start=self.first_start,
            max_gap_buckets=self.config.max_gap_buckets)
        return score

    def _share_p(self, bucket: Bucket) -> float:
        """Chance of this many negative mentions (in this bucket, or with the one before)
        under the usual negative share; then learn the share unless the bucket is unusual."""
        c = self.config
        p0 = self.share_neg / self.share_all
        n, k = bucket.total, bucket.negative
        pn, pk = self.share_prev
        p = 1.0
        # Overdispersion: with the share varying phi times more than the binomial allows, a
        # bucket of n mentions tells as much as n / phi independent ones (a quasi-binomial
        # test). Without it, a brand with thousands of mentions a bucket has every ordinary
        # wobble of its share far out in the binomial tail.
        phi = self.share_dispersion()

        def tail(k: int, n: int) -> float:
            return binomial_tail(round(k / phi), max(round(k / phi), round(n / phi)), p0)

        # Warm: enough mentions for the share, and enough buckets for its dispersion.
        if self.share_seen >= c.share_warmup_mentions and self.share_disp_w >= 50.0:
            if k >= c.share_min_negative:
                p = tail(k, n)
            if k and k + pk >= c.share_min_negative:
                p = min(p, tail(k + pk, n + pn))
        decay = 0.5 ** (1.0 / c.share_half_life_buckets)
        self.share_neg *= decay
        self.share_all *= decay
        self.share_disp *= decay
        self.share_disp_w *= decay
        # An unusual bucket must not become the new normal at once; it is learnt at a tenth of
        # its weight, so a lasting change of the usual share (a new product, a new audience)
        # is learnt within days instead of keeping an alert open for ever.
        weight = 1.0 if p >= c.share_p_continue else 0.1
        self.share_neg += weight * k
        self.share_all += weight * n
        if weight == 1.0:
            self.share_seen += n
            if n and 0.0 < p0 < 1.0:
                z2 = (k - n * p0) ** 2 / (n * p0 * (1.0 - p0))
                self.share_disp += min(z2, 25.0)
                self.share_disp_w += 1.0
        self.share_prev = (n, k)
        return p

    def share_dispersion(self) -> float:
        """How many times the share's bucket-to-bucket variance exceeds the binomial's (>= 1)."""
        if self.share_disp_w <= 0.0:
            return 1.0
        return max(1.0, self.share_disp / self.share_disp_w)

    def _learn_terms(self, bucket: Bucket) -> None:
        decay = 0.98
        for t in list(self.baseline_terms):
            self.baseline_terms[t] *= decay
            if self.baseline_terms[t] < 0.05:
                del self.baseline_terms[t]
        for t, n in bucket.terms.items():
            self.baseline_terms[t] = self.baseline_terms.get(t, 0.0) + (1 - decay) * n
        if len(self.baseline_terms) > 2000:
            self.baseline_terms = _top(self.baseline_terms, 1500)

    def _rising_terms(self, terms: dict[str, int], shown: dict[str, str] | None = None) -> list[str]:
        """The story's terms rising most, each as `shown` spells it (accents), if it does."""
        shown = shown or {}
        ranked = sorted(
            terms.items(), key=lambda kv: (-(kv[1] / (1.0 + self.baseline_terms.get(kv[0], 0.0))),
                                           kv[0])
        )
        # Not a stop word counted by an older version (a story's terms are saved state):
        # an alert open across the upgrade listed `aucune` until it resolved.
        return [shown.get(t, t) for t, n in ranked
                if n >= 2 and t not in STOPWORDS][: self.config.top_terms]

    def _story(self, bucket: Bucket, score: Score, share_p: float = 1.0) -> list[dict[str, Any]]:
        c = self.config
        end = bucket.start + c.bucket_seconds
        s = self.story
        # At the count detector's alert level, whether or not it raises its alert flag: after an
        # alert it holds the flag back for hours (one alert per episode), while the story may
        # have resolved meanwhile and a second crisis started.
        hot = score.alert or (score.anomaly_score >= c.resolve_score and not score.warming_up)
        # A new story needs a fresh rise: the detector's alert, or its alert level with its
        # short-span evidence up (its episode), not only the twelve-hour span's memory of a
        # crisis that is over; or the share test.
        spike = score.alert or (hot and score.in_episode) or share_p < c.share_p
        # Hysteresis: a story stays open while the detector's episode lasts (its evidence above
        # one typical daily maximum), not only while each bucket is at the alert level.
        anomalous = hot or share_p < c.share_p_continue or score.in_episode
        if s is not None and bucket.start < s.get("early", 0):
            # Opened (or re-opened) early on a later bucket, while this one was still open: it
            # counts in the story when it is anomalous itself (a wave that landed in it late:
            # its mentions, an escalation), never as a quiet bucket of it.
            if s["status"] != "open" or not anomalous:
                return []
            self._merge(s, bucket)
            s["anomalous"] += 1
            return self._escalation(s, bucket, score)
        if s is None or s["status"] == "resolved":
            if s is not None and (hot or spike) and bucket.start - s["resolved_at"] <= c.cooldown_seconds:
                # The same crisis flaring up again: this bucket counts in the re-opened story.
                s.update(status="open", quiet=0, reopened=s.get("reopened", 0) + 1)
                self._merge(s, bucket)
                s["anomalous"] += 1
                return [self._event(s, "reopened", bucket, score), *self._escalation(s, bucket, score)]
            if not spike:
                return []
            s = self.story = self._new_story(f"{self.brand}-{bucket.start}", bucket.start)
            self._merge(s, bucket)
            s["anomalous"] = 1
            return [self._event(s, "opened", bucket, score), *self._escalation(s, bucket, score)]
        self._merge(s, bucket)
        if anomalous:
            s["anomalous"] += 1
            s["quiet"] = 0
            return self._escalation(s, bucket, score)
        s["quiet"] += 1
        if s["quiet"] >= self._quiet_needed(s):
            s["status"] = "resolved"
            s["resolved_at"] = end
            return [self._event(s, "resolved", bucket, score)]
        return []

    def _quiet_needed(self, s: dict[str, Any]) -> int:
        """Quiet buckets in a row that resolve story `s`: `resolve_buckets`, doubled with each
        re-opening, at most the cool-down (a crisis that keeps flaring up is one story)."""
        c = self.config
        cap = max(c.resolve_buckets, c.cooldown_seconds // c.bucket_seconds)
        return int(min(c.resolve_buckets * 2 ** min(s.get("reopened", 0), 30), cap))

    def expected_negative(self, bucket: Bucket, score: Score) -> float:
        """The negative mentions a bucket was expected to hold: the count detector's expected
        level, except while it still learns (a brand's first day). Its young baseline is no
        yardstick then (a first morning measured against a night's level: 30 negative mentions
        against 2.5 in the demo); the bucket's mentions times the brand's usual negative share,
        which the share test has learnt by then, is the expected level instead. The alert
        events, the severity and the expected-negative gauge all use it."""
        if score.warming_up:
            usual = self.share_neg / self.share_all if self.share_all > 0 else 1.0
            return bucket.total * usual
        return score.expected

    def _escalation(self, s: dict[str, Any], bucket: Bucket, score: Score) -> list[dict[str, Any]]:
        """The "escalated" event, once per story: when negative volume reaches `critical_ratio`
        times its expected level (expected_negative), or the story has lasted `escalate_buckets`
        anomalous buckets."""
        c = self.config
        observed = bucket.negative if score.warming_up else score.observed
        ratio = observed / max(self.expected_negative(bucket, score), 1.0)
        if s["severity"] != "warning" or (ratio < c.critical_ratio
                                          and s["anomalous"] < c.escalate_buckets):
            return []
        s["severity"] = "critical"
        return [self._event(s, "escalated", bucket, score)]

    def _merge(self, s: dict[str, Any], bucket: Bucket) -> None:
        top = {mid: aud for aud, mid in s["top"]}
        for aud, mid in bucket.top:
            top[mid] = max(aud, top.get(mid, 0))
        s["top"] = sorted(([a, m] for m, a in top.items()), reverse=True)[: self.config.top_mentions]
        for t, n in bucket.terms.items():
            s["terms"][t] = s["terms"].get(t, 0) + n
        # A story saved before 2026-12-07 has no spellings: its terms from then on have theirs.
        shown = s.setdefault("shown", {})
        merge_spellings(shown, bucket.shown, bucket.terms)
        if len(s["terms"]) > 500:
            s["terms"] = _top(s["terms"], 300)
            s["shown"] = {t: v for t, v in shown.items() if t in s["terms"]}

    def _event(self, s: dict[str, Any], kind: str, bucket: Bucket, score: Score) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "alert_id": s["alert_id"],
            "brand": self.brand,
            "event": kind,
            "status": s["status"],
            "severity": s["severity"],
            "window_start": iso_seconds(s["window_start"]),
            "window_end": iso_seconds(bucket.start + self.config.bucket_seconds),
            "bucket_seconds": self.config.bucket_seconds,
            "observed_negative": bucket.negative,
            "expected_negative": round(self.expected_negative(bucket, score), 3),
            "total": bucket.total,
            "negative_share": round(bucket.negative / bucket.total, 4) if bucket.total else 0.0,
            "audience_weighted_negative": round(bucket.weighted_negative, 3),
            "anomaly_score": round(score.anomaly_score, 4),
            "negative_share_p": float(f"{self._last_share_p:.3g}"),
            "top_negative_mentions": [m for _, m in s["top"]],
            "rising_terms": self._rising_terms(s["terms"], s.get("shown")),
        }

    # -- persistence -------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {**self.open_state(), **self.core_state()}

    def open_state(self) -> dict[str, Any]:
        """What changes with every mention (small): open buckets and the event-time clock."""
        return {
            "v": STATE_VERSION, "brand": self.brand, "bucket_seconds": self.config.bucket_seconds,
            "open": [b.to_state() for b in self.open.values()],
            "newest": self.newest, "closed_until": self.closed_until, "late": self.late,
            "position": self.position,
            "sources": {str(p): o for p, o in self.sources.items()},
        }

    def core_state(self) -> dict[str, Any]:
        """What changes only when a bucket closes: detector, story, learnt share and terms."""
        return {
            # Copies: they change in place, and a state handed to a table must not change
            # with it (reloaded after a rebalance, it would not match its detector).
            "baseline_terms": dict(self.baseline_terms), "story": copy.deepcopy(self.story),
            "first_start": self.first_start, "held_since": self.held_since,
            "share": [self.share_neg, self.share_all, self.share_seen, list(self.share_prev),
                      self.share_disp, self.share_disp_w],
            "detector": self.detector.to_state(),
        }

    def carry_over(self, core: dict[str, Any] | None, open_state: dict[str, Any] | None) -> None:
        """On a monitor learning afresh because its saved state could not be loaded (another
        bucket size, a time zone this machine no longer has): the open alert story and the
        event-time clock of that state carry over. The story ends as any other, resolved by
        quiet buckets (a warming-up detector sees only quiet ones), instead of being dropped
        unresolved: consumers of the alerts kept it open for ever, the alert-state gauge said
        none, and with no clock no bucket closed until the brand was mentioned again (found
        in review, 2026-12-06)."""
        if core is not None and core.get("story") is not None:
            self.story = copy.deepcopy(core["story"])
        clock = int((open_state or {}).get("closed_until") or 0)
        if clock:
            size = self.config.bucket_seconds
            self.closed_until = -(-clock // size) * size  # the next boundary of the new size

    def load_state(self, d: dict[str, Any]) -> None:
        self.load_open(d)
        self.load_core(d)

    def _check_bucket_size(self, saved: Any, what: str) -> None:
        size = self.config.bucket_seconds
        if saved is not None and saved != size:
            raise StateMismatch(f"{self.brand}: {what} was saved with {saved}-second buckets, "
                                f"the setting is now {size}")

    def load_open(self, d: dict[str, Any]) -> None:
        """Raises StateMismatch for a state of another bucket size (its buckets and clock would
        not line up with the new ones: every count would be lost without a word)."""
        self._check_bucket_size(d.get("bucket_seconds"), "the open state")
        if d["closed_until"] % self.config.bucket_seconds:  # a state saved without its size
            raise StateMismatch(f"{self.brand}: the open state's clock {d['closed_until']} is not "
                                f"on a {self.config.bucket_seconds}-second bucket boundary")
        self.open = {b["start"]: Bucket.from_state(b) for b in d["open"]}
        self.newest = d["newest"]
        self.closed_until = d["closed_until"]
        self.late = d["late"]
        self.position = d.get("position", -1)
        self.sources = {int(p): o for p, o in d.get("sources", {}).items()}

    def load_core(self, d: dict[str, Any]) -> None:
        """Raises StateMismatch for a detector of another bucket size, or saved in a time zone
        this machine cannot load (a name since dropped from the tz database)."""
        self._check_bucket_size(d["detector"]["config"]["bucket_seconds"], "the detector")
        try:
            detector = Detector.from_state(d["detector"])
        except TimezoneError as exc:  # saved in a zone this machine's tz data no longer has
            raise StateMismatch(f"{self.brand}: the detector was saved in time zone "
                                f"{d['detector']['config'].get('timezone')!r}, which cannot be "
                                f"loaded here ({exc})") from None
        self.baseline_terms = dict(d["baseline_terms"])
        self.story = copy.deepcopy(d["story"])  # changed in place: never the saved one
        self.share_neg, self.share_all, self.share_seen, prev, *disp = d["share"]
        self.share_disp, self.share_disp_w = disp if len(disp) == 2 else (0.0, 0.0)
        self.share_prev = (prev[0], prev[1])
        self.detector = detector
        self._follow_zone()
        # A state saved before these two were has neither: nothing is held back, and the brand
        # has been watched at least since the first bucket its detector saw.
        self.held_since = d.get("held_since")
        self.first_start = d.get("first_start")
        if self.first_start is None and self.detector.last_ts is not None:
            self.first_start = int(self.detector.last_ts) - (self.detector.n - 1) * self.config.bucket_seconds
