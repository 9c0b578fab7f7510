"""The words the moderator tools print in French: record values (decisions, actions,
severities, sentiments) and the typography of French sentences, `veille moderate show`'s words
and the tools' clock. No I/O: the commands, the store's refusals, the erasure tool and
`veille mentions` (a mention's case, in show's words) share them."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
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


#: A time as the tools show it in their zone (`--tz`; the moderation page's VEILLE_TIMEZONE).
CLOCK = "%Y-%m-%d %H:%M"


def wall(epoch: float, tz: tzinfo = UTC) -> datetime:
    """`epoch` at the wall clock of `tz`; in UTC when that clock is outside datetime's years
    1 to 9999, as the records' range allows (9999-12-31T23:59Z is year 10000 in Paris, year 1
    at its start is year 0 in New York: OverflowError, a 500 for the moderation page)."""
    try:
        return datetime.fromtimestamp(epoch, tz)
    except (OverflowError, ValueError, OSError):
        return datetime.fromtimestamp(epoch, UTC)


def clock(epoch: float, tz: tzinfo = UTC) -> str:
    """`epoch` at the wall clock of `tz`, as `veille moderate closed --tz` shows it, then the
    zone's abbreviation, or its offset when the zone has none: 2026-12-06 19:45 CET (UTC, so
    named, for a time that clock cannot write: wall)."""
    at = wall(epoch, tz)
    return f"{at:{CLOCK}} {at:%Z}"


#: The words of `veille moderate show`, per language: its row names, then its sentences.
SHOW_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "case": "case", "status": "status", "brand": "brand", "action": "action",
        "severity": "severity", "categories": "categories", "reasons": "reasons",
        "posted": "posted", "link": "link", "language": "language", "queued": "queued",
        "answer due": "answer due", "escalated": "escalated", "assigned": "assigned",
        "decided": "decided", "closed": "closed", "reason": "reason",
        "pending_status": "pending", "closed_status": "closed",
        "no_answer": "no answer asked",
        "due_in": "{at} (in {age})",
        "due_late": "{at} ({age} late)",
        "no_category": "none (the charter's banned term)",
        "posted_on": "{at} on {platform} by {author}",
        "sentiment": "{language}, sentiment {sentiment}",
        "not_scored": "not scored",
        "queued_ago": "{at} ({age} ago)",
        "escalated_by": "{count}x, last by {moderator} at {at} to {to}",
        "escalation_queue": "the escalation queue",
        "by": "{decision} by {moderator} at {at}",
        "no_one": "no one",
        "applies_shortly": "{by} (the agent applies it shortly)",
        "closed_after": "{by}, after {waited} in the queue",
        "with_reason": "{text}: {reason}",
        "erased": "(author, text and link erased at {at}: veille erase)",
    },
    "fr": {
        "case": "dossier", "status": "statut", "brand": "marque", "action": "action",
        "severity": "gravité", "categories": "catégories", "reasons": "raisons",
        "posted": "publié", "link": "lien", "language": "langue", "queued": "en file",
        "answer due": "échéance", "escalated": "escaladé", "assigned": "assigné à",
        "decided": "décidé", "closed": "clos", "reason": "motif",
        "pending_status": "en attente", "closed_status": "clos",
        "no_answer": "pas de réponse demandée",
        "due_in": "{at} (dans {age})",
        "due_late": "{at} ({age} de retard)",
        "no_category": "aucune (terme interdit de la charte)",
        "posted_on": "{at} sur {platform} par {author}",
        "sentiment": "{language}, sentiment {sentiment}",
        "not_scored": "non évalué",
        "queued_ago": "{at} (il y a {age})",
        "escalated_by": "{count}x, en dernier par {moderator} le {at}, vers {to}",
        "escalation_queue": "la file d'escalade",
        "by": "{decision} par {moderator} le {at}",
        "no_one": "personne",
        "applies_shortly": "{by} (l'agent l'applique sous peu)",
        "closed_after": "{by}, après {waited} dans la file",
        "with_reason": f"{{text}}{NBSP}: {{reason}}",
        "erased": f"(auteur, texte et lien effacés le {{at}}{NBSP}: veille erase)",
    },
}
