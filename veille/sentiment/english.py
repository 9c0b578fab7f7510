"""English sentiment: vaderSentiment, one analyzer built once and reused.

`VaderAnalyzer.polarity_scores` gives exactly vaderSentiment 3.3.2's scores (the same lexicon,
constants, rules and arithmetic in the same order: tests/unit/test_english_sentiment.py compares
the two on thousands of texts built to hit every rule) in less than half its time. The library
re-derives the lower-case word list up to four times per sentiment word (each negation check and
the idiom check rebuild it) and copies the text a character at a time to replace emoji; here the
list is built once per text and the emoji pass only runs when the text holds one. What is not on
that path (the 'but' rule, the final scoring, a text that is not a str) is the library's own code.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Final

import vaderSentiment.vaderSentiment as vader
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from veille.rules import marked_hashtags
from veille.sentiment.base import Sentiment
from veille.sentiment.emoji import EMOJI_VALENCE, SKIN_AND_VS_RE
from veille.sentiment.irony import ENGLISH as ENGLISH_IRONY

_BOOSTERS: dict[str, float] = vader.BOOSTER_DICT
_SPECIAL_CASES: dict[str, float] = vader.SPECIAL_CASES
#: vaderSentiment.negated([word]) for one lower-case word is `word in NEGATE or "n't" in word`.
_NEGATE = frozenset(vader.NEGATE)
_N_SCALAR: float = vader.N_SCALAR
_C_INCR: float = vader.C_INCR
_PUNCTUATION = string.punctuation


def _negated(lower: str) -> bool:
    return lower in _NEGATE or "n't" in lower


class VaderAnalyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
    """vaderSentiment's SentimentIntensityAnalyzer with a faster, equivalent polarity_scores.

    With `emoji_valence` (emoji -> valence on VADER's scale), an emoji of it that VADER reads as
    nothing or backwards (its description alone scores 0, or has the other sign) is read as a word
    of that valence instead, under VADER's rules like any word; skin tones and the emoji variation
    selector are dropped first (VADER read "❤️" and "👍🏻" as no emoji). Without it: vaderSentiment's
    scores exactly."""

    emojis: dict[str, str]
    lexicon: dict[str, float]
    #: Words read at their lexicon valence whatever stands before them (no booster, negation,
    #: capitals or idiom rule): the synthetic words of phrases that hold their own negation
    #: ("nope, still not fixed" was read as "not" before "not fixed": positive). Empty: VADER.
    read_as_is: frozenset[str] = frozenset()

    def __init__(self, emoji_valence: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self._variants = emoji_valence is not None
        if emoji_valence is None:
            return
        emojis, lexicon = dict(self.emojis), dict(self.lexicon)
        for emoji, valence in emoji_valence.items():
            emoji = SKIN_AND_VS_RE.sub("", emoji)
            read = self.polarity_scores(emoji)["compound"]
            if len(emoji) == 1 and (read == 0 or read * valence < 0):
                word = f"emoji{ord(emoji):x}"  # lower case, no punctuation: a word to the rules
                emojis[emoji], lexicon[word] = word, valence
        self.emojis, self.lexicon = emojis, lexicon

    def polarity_scores(self, text: Any) -> dict[str, float]:
        if not isinstance(text, str):
            return super().polarity_scores(text)  # type: ignore[no-any-return]
        if self._variants and not text.isascii():
            text = SKIN_AND_VS_RE.sub("", text)
        emojis = self.emojis
        if not (text.isascii() or emojis.keys().isdisjoint(text)):
            # The library's emoji pass, as it is: each emoji character becomes its description,
            # after a space unless one precedes it.
            parts: list[str] = []
            prev_space = True
            for char in text:
                if char in emojis:
                    if not prev_space:
                        parts.append(" ")
                    parts.append(emojis[char])
                    prev_space = False
                else:
                    parts.append(char)
                    prev_space = char == " "
            text = "".join(parts)
        text = text.strip()

        # SentiText: words with surrounding punctuation stripped (unless that leaves 2 characters
        # or fewer: an emoticon), and whether some but not all of them are in capitals.
        words: list[str] = []
        for token in text.split():
            stripped = token.strip(_PUNCTUATION)
            words.append(token if len(stripped) <= 2 else stripped)
        n = len(words)
        capitals = sum(1 for w in words if w.isupper())
        is_cap_diff = 0 < n - capitals < n
        lower = [w.lower() for w in words]
        lexicon = self.lexicon

        sentiments: list[float] = []
        for i, item in enumerate(words):
            item_lower = lower[i]
            if item_lower in _BOOSTERS or (i < n - 1 and item_lower == "kind" and lower[i + 1] == "of"):
                sentiments.append(0)
                continue
            if item_lower not in lexicon:
                sentiments.append(0)
                continue
            if item_lower in self.read_as_is:
                sentiments.append(lexicon[item_lower])
                continue
            # sentiment_valence
            valence = lexicon[item_lower]
            if item_lower == "no" and i != n - 1 and lower[i + 1] in lexicon:
                valence = 0.0
            if (i > 0 and lower[i - 1] == "no") or (i > 1 and lower[i - 2] == "no") or (
                i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor")
            ):
                valence = lexicon[item_lower] * _N_SCALAR
            if item.isupper() and is_cap_diff:
                if valence > 0:
                    valence += _C_INCR
                else:
                    valence -= _C_INCR
            for start_i in range(3):
                if i > start_i and lower[i - (start_i + 1)] not in lexicon:
                    s = vader.scalar_inc_dec(words[i - (start_i + 1)], valence, is_cap_diff)
                    if start_i == 1 and s != 0:
                        s = s * 0.95
                    if start_i == 2 and s != 0:
                        s = s * 0.9
                    valence = valence + s
                    valence = _negation_check(valence, lower, start_i, i)
                    if start_i == 2:
                        valence = _special_idioms_check(valence, lower, i)
            sentiments.append(_least_check(valence, lower, i, lexicon))

        if "but" in lower:
            sentiments = self._but_check(words, sentiments)
        return self.score_valence(sentiments, text)  # type: ignore[no-any-return]


def _negation_check(valence: float, lower: list[str], start_i: int, i: int) -> float:
    if start_i == 0 and _negated(lower[i - 1]):
        valence = valence * _N_SCALAR
    if start_i == 1:
        if lower[i - 2] == "never" and (lower[i - 1] == "so" or lower[i - 1] == "this"):
            valence = valence * 1.25
        elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
            pass
        elif _negated(lower[i - 2]):
            valence = valence * _N_SCALAR
    if start_i == 2:
        # The library's precedence, kept: (never and (so or this)) or (so or this).
        if (lower[i - 3] == "never" and (lower[i - 2] == "so" or lower[i - 2] == "this")) or (
            lower[i - 1] == "so" or lower[i - 1] == "this"
        ):
            valence = valence * 1.25
        elif lower[i - 3] == "without" and (lower[i - 2] == "doubt" or lower[i - 1] == "doubt"):
            pass
        elif _negated(lower[i - 3]):
            valence = valence * _N_SCALAR
    return valence


def _special_idioms_check(valence: float, lower: list[str], i: int) -> float:
    onezero = f"{lower[i - 1]} {lower[i]}"
    twoonezero = f"{lower[i - 2]} {lower[i - 1]} {lower[i]}"
    twoone = f"{lower[i - 2]} {lower[i - 1]}"
    threetwoone = f"{lower[i - 3]} {lower[i - 2]} {lower[i - 1]}"
    threetwo = f"{lower[i - 3]} {lower[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[seq]
            break
    if len(lower) - 1 > i:
        zeroone = f"{lower[i]} {lower[i + 1]}"
        if zeroone in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroone]
    if len(lower) - 1 > i + 1:
        zeroonetwo = f"{lower[i]} {lower[i + 1]} {lower[i + 2]}"
        if zeroonetwo in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _BOOSTERS:
            valence = valence + _BOOSTERS[n_gram]
    return valence


def _least_check(valence: float, lower: list[str], i: int, lexicon: dict[str, float]) -> float:
    if i > 1 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        if lower[i - 2] != "at" and lower[i - 2] != "very":
            valence = valence * _N_SCALAR
    elif i > 0 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        valence = valence * _N_SCALAR
    return valence


#: A service failing, as customers say it, which VADER's general lexicon does not rate: "@acme
#: outage for 3 days", "app keeps crashing" scored neutral, and an outage's wave of complaints
#: counted in no negative figure (VADER scale; a form VADER rates is rated alike: "crash" -1.7,
#: "scam" -2.7, "cancelled" -1.0, "ignored" -1.3).
SERVICE_WORDS: Final[dict[str, float]] = {
    "outage": -2.0, "outages": -2.0, "crashes": -1.7, "crashed": -1.7, "crashing": -1.7,
    "unusable": -2.0, "glitch": -1.3, "glitches": -1.3, "glitchy": -1.5, "buggy": -1.5,
    "laggy": -1.4, "overcharged": -2.0, "scammed": -2.7, "ripoff": -2.5, "canceled": -1.0,
    "unanswered": -1.3,
    # A dirty place, a food scandal's words (found in a review of a café's hygiene scandal,
    # 2026-12-07: "rats in the kitchen", "unsanitary" scored neutral; VADER rates "dirty" -1.9,
    # "rotten" -2.3). Not "mice" nor "expired", as often a computer's or a subscription's.
    "rats": -1.5, "cockroach": -1.8, "cockroaches": -1.8, "roaches": -1.8, "maggots": -2.0,
    "mold": -1.5, "moldy": -1.8, "mould": -1.5, "mouldy": -1.8, "filthy": -2.2,
    "unsanitary": -2.2, "unhygienic": -2.2, "contaminated": -1.8, "salmonella": -2.0,
    "vomiting": -2.0,
}
#: Phrases of a failing service, and of a customer leaving, each read as one word of that
#: valence under VADER's rules (its words alone read as nothing, or, "thanks for nothing", as
#: praise). Not "not working" after I'm / we're (a day off), nor "down" but in "down again",
#: "still down", "down for everyone / hours" ("prices are down" is good news).
_SERVICE_PHRASES: Final[dict[str, tuple[str, float]]] = {
    "notworking": (r"(?<!\bwe\s)(?<!\bi\s)(?:does\s*n[o']?t|do\s*n[o']?t|wo\s*n't|will\s+not|is\s*n[o']?t|"
                   r"are\s*n[o']?t|still\s+not|stopped|never)\s+work(?:s|ing|ed)?"
                   r"|(?<!\bi'm\s)(?<!\bim\s)(?<!\bwe're\s)(?<!\bam\s)(?<!\bare\s)(?<!\bis\s)"
                   r"(?<!\bwas\s)(?<!\bwere\s)not\s+working", -1.8),
    "stilldown": (r"down\s+again|still\s+down|down\s+for\s+(?:everyone|anyone|everybody|anybody|"
                  r"hours|days|\d+\s+(?:hours|hrs|days))", -1.8),
    "thanksfornothing": (r"thanks?\s+for\s+nothing", -2.0),
    # An outage's other words (found in a review of an outage's texts, 2026-12-07): "6 hours
    # without signal", "still not fixed" were neutral; "what a joke", "I want my money back"
    # positive ("joke" +1.2, "want" +0.3). "no signal" is VADER's own ("no" -1.2).
    "without": (r"without\s+(?:any\s+)?(?:signal|service|network|internet|wifi|power|reception|coverage"
                r"|data|phone|electricity)", -1.5),
    "notfixed": (r"(?:still|yet)\s+(?:not|isn't|hasn't\s+been|has\s+not\s+been|is\s+not|not\s+been)\s+"
                 r"(?:fixed|resolved|restored|sorted)|not\s+(?:fixed|resolved|restored|sorted)\s+yet", -1.5),
    "joke": (r"(?:what|such)\s+an?\s+(?:absolute\s+|total\s+|complete\s+|bloody\s+|fucking\s+)?joke"
             r"|(?:is|are|was|were|s)\s+(?:an?\s+)?(?:absolute\s+|total\s+|complete\s+|bloody\s+"
             r"|fucking\s+|utter\s+)?joke(?!\s+(?:of|about))", -1.8),
    "moneyback": (r"(?:want|need|demand|give\s+me|get)\s+(?:me\s+)?(?:my|a|our|a\s+full)\s+"
                  r"(?:money\s+back|refund)", -1.5),
    # A customer's vow or call to leave, which names no feeling ("Leaving Acme... Never again",
    # "Don't buy from Acme", "I'm switching to another provider" were neutral, and a boycott's
    # wave counted in no negative figure; 2026-12-08). "Never again" as a vow: opening its
    # clause ("Never again Acme", "Acme, never again") or closing it ("never again!!", "never
    # again will I"); not inside one ("I will never again doubt you").
    "neveragain": (r"(?<!\w\s)(?<![\w'])never\s+again\b(?!\s+(?:have|has|had|was|were|been|did|do)\b)"
                   r"|never\s+again(?=\s*(?:$|[^\w\s]|(?:will|shall|would|am|do|did)\s+i\b))", -2.0),
    # A call not to buy, opening its clause; not a loyal customer's "don't buy from anyone else".
    "dontbuy": (r"(?<!\w\s)(?<![\w'])(?:please\s+)?(?:don'?t|do\s+not|never|stop)\s+(?:buy|buying|shop|"
                r"shopping|order|ordering)\s+(?:from|at|with|anything|their|this|these)\b"
                r"(?![^.!?\n]{0,40}\b(?:else|elsewhere|another|other)\b)", -1.5),
    "stayaway": (r"(?:stay|steer)\s+(?:away|clear)\s+(?:from|of)\b", -1.5),
    # A reviewer's "we won't be back" (not "won't be back until Monday": away), "won't be renewing".
    "wontback": (r"(?:won'?t|will\s+not|will\s+never|never\s+going\s+to)\s+be\s+(?:coming\s+)?back\b"
                 r"(?!\s+(?:until|till|before|for|in|on|at\s+(?:work|home|my\s+desk)|by|tomorrow|tonight|today|next|"
                 r"after|soon|later|online|to\s+work|home)\b)"
                 r"|(?:won'?t|will\s+not|will\s+never)\s+(?:be\s+)?renew(?:ing)?\b|not\s+renewing\s+(?:my|our)\b",
                 -1.5),
    "switching": (r"(?:i'?m|i\s+am|we'?re|we\s+are|i'?ll\s+be|i\s+will\s+be)\s+(?:switching|moving|going|"
                  r"changing)\s+to\s+(?:another|a\s+different|a\s+new|a\s+better)\s+(?:provider|carrier|"
                  r"network|bank|company|operator|supplier|airline|isp)\b", -1.5),
}
#: Tried at word starts only (the \b and the first letters of the phrases, which must grow with
#: a phrase starting otherwise: 14 µs on a tweet instead of 46 to 80), and only on a text holding
#: one of _SERVICE_KEYS (about 1 µs for the others, most texts).
_SERVICE_RE: Final = re.compile(
    r"\b(?=[adghinpstwy])(?:"
    + "|".join(f"(?P<{word}>{pattern})" for word, (pattern, _) in _SERVICE_PHRASES.items()) + ")",
    re.IGNORECASE)
_SERVICE_KEYS: Final = re.compile("work|down|nothing|without|fixed|resolved|restored|sorted|joke|money"
                                  "|refund|again|buy|shop|order|away|clear|to another|to a different|to a new"
                                  "|to a better|back|renew")
#: Synthetic lexicon words: lower case, letters only, so that VADER's tokens keep them whole.
_SERVICE_TOKEN: Final = {word: f"vxsvc{word}" for word in _SERVICE_PHRASES}
_IRONY: Final = ENGLISH_IRONY.compile()
def hashtag_words(text: str) -> str:
    """`text` with each hashtag of several words marked by capitals or underscores written as
    those words ("#BoycottAcme", "#WorstServiceEver", "#boycott_acme"; veille.rules.marked_hashtags,
    as the watch rules read them), as the French scorer reads one. VADER took such a hashtag for
    one unknown word, and a crisis' hashtags carried no sentiment (a one-word hashtag, "#fail",
    VADER reads without its "#")."""
    out: list[str] = []
    at = 0
    for pieces in marked_hashtags(text):
        out.append(text[at:pieces[0][0] - 1])  # up to its "#"
        out.append(" ".join(text[a:b] for a, b in pieces))
        at = pieces[-1][1]
    if not out:
        return text
    out.append(text[at:])
    return "".join(out)


def _service_token(match: re.Match[str]) -> str:
    # A space before: "it's a joke" matches from its "s", and must leave "it'" a word apart.
    return " " + _SERVICE_TOKEN[match.lastgroup or ""]


class EnglishScorer:
    language = "en"

    def __init__(self) -> None:
        # Building the analyzer reads two lexicon files: 80x slower than scoring if done per text.
        # The emojis VADER reads as nothing or backwards (😡, 👎, 💩, 👍, 💔...) are read with the
        # hand-rated values the French scorer has.
        self._analyzer = VaderAnalyzer(EMOJI_VALENCE)
        # A failing service's words and phrases (SERVICE_WORDS, _SERVICE_PHRASES); a text without
        # them scores as vaderSentiment scores it.
        self._analyzer.lexicon.update(SERVICE_WORDS)
        self._analyzer.lexicon.update({token: _SERVICE_PHRASES[word][1]
                                       for word, token in _SERVICE_TOKEN.items()})
        self._analyzer.read_as_is = frozenset(_SERVICE_TOKEN.values())

    def score(self, text: str) -> Sentiment:
        if isinstance(text, str):
            lower = text.lower()
            # "Great, my internet is down again": the praise is irony (veille.sentiment.irony).
            text = _IRONY.without_praise(text, lower)
            if _SERVICE_KEYS.search(lower):
                text = _SERVICE_RE.sub(_service_token, text)
            if "#" in text:
                text = hashtag_words(text)
        return Sentiment.from_scores(self._analyzer.polarity_scores(text))

    def knows(self, word: str) -> bool:
        """Whether a lower-case word is one VADER reads: a lexicon word ("sucks", "scam", "wtf"),
        a booster ("so") or a negation; the language detector's vote on short texts."""
        return word in self._analyzer.lexicon or word in _BOOSTERS or word in _NEGATE
