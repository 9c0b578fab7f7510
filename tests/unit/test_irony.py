"""Praise said of a failure is irony (veille.sentiment.irony): an outage's sarcastic complaints
("Great, my internet is down again", "Merci pour cette panne") scored positive or neutral, and
counted in no negative figure (found in review, 2026-12-07)."""

from __future__ import annotations

import pytest

from veille.sentiment.english import _IRONY as EN
from veille.sentiment.english import EnglishScorer
from veille.sentiment.french import _IRONY as FR
from veille.sentiment.french import FrenchScorer
from veille.sentiment.irony import Irony


@pytest.fixture(scope="module")
def en() -> EnglishScorer:
    return EnglishScorer()


@pytest.fixture(scope="module")
def fr() -> FrenchScorer:
    return FrenchScorer()


@pytest.mark.parametrize("text", [
    "Great, my internet is down again", "Thanks @acme for another outage",
    "Awesome, still not working", "Love how the app crashes every morning",
    "Great job on the outage guys", "Thanks for yet another outage",
    "Great, app crashing for the third time today", "wow thank you acme, login broken AGAIN",
    "Perfect. Flight delayed as usual.", "Acme down again lmao",
])
def test_english_praise_of_a_failure_is_not_praise(en: EnglishScorer, text: str) -> None:
    assert EN.without_praise(text, text.lower()) != text
    assert en.score(text).label == "negative"


@pytest.mark.parametrize("text", [
    "Génial, encore un bug", "Merci Acme pour cette panne", "Bravo pour la panne",
    "Super, toujours pas réparé, encore en panne", "Merci @sncf pour ce retard",
    "Merci, toujours en panne", "j’adore quand l'appli plante", "Top, le site est encore en rade",
    "Bravo, vol annulé une fois de plus",
    "Merci @acme_fr pour cette magnifique journée sans téléphone 👏👏",  # the applause too
])
def test_french_praise_of_a_failure_is_not_praise(fr: FrenchScorer, text: str) -> None:
    assert FR.without_praise(text, text.lower()) != text
    assert fr.score(text).label == "negative"


@pytest.mark.parametrize("text", [
    "Thanks for fixing the outage so fast, great team",  # a repair
    "Great, the outage is over and everything works again",
    "Thanks for the outage update",  # the failure is the subject, not what is praised
    "Thanks for the quick reply about the outage",  # no repetition, not addressed to the failure
    "Thanks for the info on the outage",  # the failure is the subject of the news praised
    "lol love my new phone",
    "Still love you Acme even with the outage",
    "Another good phone interview",  # a repetition and praise, but no failure
    "Great app, love it, works every time",
    "Thanks again, the bug is fixed!",
])
def test_english_sincere_praise_stays(en: EnglishScorer, text: str) -> None:
    assert EN.without_praise(text, text.lower()) == text
    assert en.score(text).label != "negative" or "outage" in text


@pytest.mark.parametrize("text", [
    "Merci pour la réparation de la panne, ça marche à nouveau",
    "Bravo, la panne est réglée, encore merci", "Merci pour les infos sur la panne",
    "Je t'aime toujours Acme malgré la panne", "Encore merci pour votre accueil, génial",
    "Super, le service est rétabli après la coupure",
])
def test_french_sincere_praise_stays(fr: FrenchScorer, text: str) -> None:
    assert FR.without_praise(text, text.lower()) == text


@pytest.mark.parametrize(("irony", "text"), [
    (EN, "Great, app crashing again, still not fixed"),  # a repair denied is no repair
    (EN, "Thanks, the outage hasn't been resolved yet, down again"),
    (FR, "Merci, toujours pas réparé, encore en panne"),
])
def test_a_denied_repair_is_no_repair(irony: Irony, text: str) -> None:
    assert irony.without_praise(text, text.lower()) != text


def test_only_the_praise_words_change_in_their_case() -> None:
    assert EN.without_praise("GREAT, down again. Thank you @acme", "") == \
        "GREAT, down again. Thank you @acme"  # the lower-case form decides: none given, none found
    text = "GREAT, down again. Thank you @acme"
    assert EN.without_praise(text, text.lower()) == "BRANDTERM, down again. Brandterm brandterm @acme"
