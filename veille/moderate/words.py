"""The words the moderator tools print in French: record values (decisions, actions,
severities, sentiments) and the typography of French sentences. No I/O: the commands, the
store's refusals and the erasure tool share them."""

from __future__ import annotations

from typing import Any

NBSP = "\u00a0"  # French typography: a non-breaking space before : ; % ! ?

#: Record values shown in French cells and sentences: decisions, actions, severities,
#: sentiments (the records, --json and the API keep the English ones; `decide` and `closed
#: --decision` take the French infinitives). The categories stay those of the metrics and of
#: `--category`, as in the report. Each at most 8 characters: the list's and closed's columns.
FRENCH_WORDS = {"approve": "approuvé", "reject": "rejeté", "escalate": "escaladé",
                "replied": "répondu", "assign": "assigné", "unassign": "désassigné",
                "review": "examiner", "respond": "répondre", "hide": "masquer", "none": "aucune",
                "low": "faible", "medium": "moyenne", "high": "haute",
                "positive": "positif", "negative": "négatif", "neutral": "neutre"}


#: The triage categories in French words, for the moderation page's cells and filter labels
#: (its filters still send the ids; the CLI's columns keep the ids, as `--category` takes them).
#: "none": queued for a charter's banned term alone (SHOW_TEXT's "no_category" says it in full).
FRENCH_CATEGORIES = {"insult": "insulte", "threat": "menace", "hate": "haine", "spam": "spam",
                     "aggressive": "agressif", "detractor": "détracteur",
                     "needs_answer": "réponse attendue", "none": "aucune"}


def category(value: Any, lang: str) -> str:
    """A triage category in `lang`: French words; the id as it is in English."""
    text = str(value)
    return FRENCH_CATEGORIES.get(text, text) if lang == "fr" else text


#: How a decision is said when a collector saw it on a platform (answered_on): the brand's
#: answer there, not a moderator's click in veille.
SEEN_ON = {"en": "{decision} (seen on {platform})", "fr": "{decision} (vu sur {platform})"}


def decision_word(decision: Any, answered_on: Any, lang: str) -> str:
    """A decision in `lang` (word), and for an answer seen on a platform, where it was seen:
    "replied (seen on youtube)", « répondu (vu sur youtube) »."""
    said = word(decision, lang)
    if answered_on is None:
        return said
    return SEEN_ON.get(lang, SEEN_ON["en"]).format(decision=said, platform=answered_on)


def word(value: Any, lang: str) -> str:
    """A record value (a decision, a sentiment) in `lang`: French past participles and
    adjectives; anything else as it is."""
    text = str(value)
    return FRENCH_WORDS.get(text, text) if lang == "fr" else text
