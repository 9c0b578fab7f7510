"""A brand's own terms neutral in its mentions: the substitution (veille.sentiment.brand_terms)
and which terms the scorers value. The bug (found in review, 2026-12-07): the demo brand Boréal is
a lexicon word of both scorers ("boreal" -0.3), and two thirds of its negative demo mentions were
negative for its name alone ("Boréal to open 13 new cafés in 2026")."""

from __future__ import annotations

import pytest
import vaderSentiment.vaderSentiment as vader

from veille.rules import Brand
from veille.sentiment.brand_terms import PLACEHOLDER, BrandTerms, Neutralizer, neutralize, sensitive, without
from veille.sentiment.english import EnglishScorer
from veille.sentiment.french import (
    ALIASES,
    BOOSTERS,
    CONTRASTS,
    DUAL_BOOSTERS,
    NE_ONLY_NEGATORS,
    NEGATORS,
    PHRASES,
    FrenchScorer,
    fold,
    inflection_candidates,
)

BOREAL = BrandTerms(["Boréal", "Boreal Café", "#boreal", "#BorealCafe", "@borealcafe"])
P, CAP, UP = PLACEHOLDER, PLACEHOLDER.capitalize(), PLACEHOLDER.upper()


@pytest.fixture(scope="module")
def scorers() -> tuple[EnglishScorer, FrenchScorer]:
    return EnglishScorer(), FrenchScorer()


@pytest.mark.parametrize(("text", "expected"), [
    ("Boréal to open 13 new cafés", f"{CAP} to open 13 new cafés"),
    ("boreal, BORÉAL et Boreal!", f"{P}, {UP} et {CAP}!"),  # case and accents folded, kept
    ("«Boréal» (boreal) ¿Boreal?", f"«{CAP}» ({P}) ¿{CAP}?"),  # the punctuation around kept
    ("Boreal Café ouvre", f"{CAP} {CAP} ouvre"),  # several words: one each, the count kept
    ("Boreal-Café boreal_cafe", f"{CAP}-{CAP} {P}_{P}"),  # joined by - or _, as the rules
    ("#boreal #Boréal @boreal", f"#{P} #{CAP} @{P}"),  # a plain term as a hashtag or handle
    ("#BorealCafe! @borealcafe,", f"#{CAP}{CAP}! @{P},"),  # hashtag: each camel-case piece
    ("l'Boréal d’Boreal Boreal's", f"l'{CAP} d’{CAP} {CAP}'s"),  # elision, possessive
    ("Bore\u0301al", CAP),  # typed decomposed
])
def test_each_occurrence_is_replaced_in_its_case_with_its_punctuation(text: str, expected: str) -> None:
    out = neutralize(text, BOREAL)
    assert out == expected
    assert len(out.split()) == len(text.split())


@pytest.mark.parametrize("text", [
    "aurore boréale, borealis, Boréalité",  # inside a longer word
    "#borealcafeteria @boreal_fan me@boreal.example",
    "Lumière du Nord",
])
def test_a_term_inside_another_word_or_absent_leaves_the_text_as_it_is(text: str) -> None:
    assert neutralize(text, BOREAL) is text


def test_a_term_of_several_words_needs_them_together() -> None:
    text = "Latte, Aurora. Latte seul"
    assert neutralize(text, BrandTerms(["Latte Aurora"])) is text
    assert neutralize("Latte - Aurora", BrandTerms(["Latte Aurora"])) == f"{CAP} - {CAP}"


def test_a_hashtag_or_handle_term_needs_its_sign() -> None:
    terms = BrandTerms(["#free", "@glad"])
    assert neutralize("#free free @glad glad", terms) == f"#{P} free @{P} glad"


def test_a_multi_word_term_the_longest_first_and_everything_else_byte_identical() -> None:
    terms = BrandTerms(["Best", "Best Buy"])
    text = "I  love\tBest Buy's deals,\nbest! 😀 BEST BUY"
    assert neutralize(text, terms) == f"I  love\t{CAP} {CAP}'s deals,\n{P}! 😀 {UP} {UP}"


def test_capitals_are_kept_as_the_scorers_count_them(scorers: tuple[EnglishScorer, FrenchScorer]) -> None:
    """VADER's capitals rule counts the words in capitals: the placeholder of one is too."""
    text = "BORÉAL IS AWFUL but the staff is nice"
    out = neutralize(text, BOREAL)
    assert out == f"{UP} IS AWFUL but the staff is nice"
    assert [w.isupper() for w in out.split()] == [w.isupper() for w in text.split()]
    english, _ = scorers
    assert english.score(out).compound == english.score(text.replace("BORÉAL", "ZORGLUB")).compound


def test_the_placeholder_is_no_word_of_either_scorer(scorers: tuple[EnglishScorer, FrenchScorer]) -> None:
    english, french = scorers
    lexicon = english._analyzer.lexicon
    for word in (P, CAP, UP):
        low = word.lower()
        assert low not in lexicon and low not in vader.BOOSTER_DICT and low not in vader.NEGATE
        assert not any(low in case.split() for case in vader.SPECIAL_CASES)
        assert "n't" not in low and low not in ("kind", "no", "but", "least", "never", "without")
        assert french._lookup(low) == 0.0 and french._lookup(low, guess=False) == 0.0
        assert not [c for c in inflection_candidates(low)
                    if c in french._exact or fold(c) in french._folded]
        roles = {*BOOSTERS, *DUAL_BOOSTERS, *NEGATORS, *NE_ONLY_NEGATORS, *CONTRASTS, *ALIASES,
                 "ne", "peu", "non", "plus"}
        assert low not in roles and not any(low in phrase.split() for phrase in PHRASES)
        for scorer in scorers:  # neutral alone, and beside sentiment words
            assert scorer.score(word).compound == 0.0
            assert scorer.score(f"{word} good génial") == scorer.score("xq good génial")


@pytest.mark.parametrize(("term", "valued"), [
    ("Boréal", True), ("#BorealCafe", True), ("Boreal Café", True),  # lexicon words
    ("Free", True), ("Best Buy", True), ("Honest", True), ("Glad", True),
    ("Nothing", True), ("Very", True),  # a negation, a booster: they act on the next word
    ("Acme", False), ("@borealcafe", False), ("#AcmeDown", False), ("Latte Aurora", False),
    ("Zephyr X2", False),
])
def test_a_term_is_sensitive_when_a_scorer_values_it(
        scorers: tuple[EnglishScorer, FrenchScorer], term: str, valued: bool) -> None:
    assert sensitive(term, scorers) is valued


def test_only_the_sensitive_terms_of_the_brands_matched_are_neutralized(
        scorers: tuple[EnglishScorer, FrenchScorer]) -> None:
    brands = [Brand(id="acme", name="Acme", aliases=("Acme Mobile",), hashtags=("#AcmeDown",)),
              Brand(id="boreal", name="Boréal", aliases=("@borealcafe",), keywords=("Latte Aurora",))]
    known: dict[str, bool] = {}
    neutral = Neutralizer(brands, scorers, known)
    assert neutral.sensitive_terms("acme") == () and neutral.sensitive_terms("boreal") == ("Boréal",)
    assert neutral.sensitive_terms("unknown") == ()
    text = "Acme et Boréal #AcmeDown @borealcafe"
    assert neutral.text(text, ("acme",)) is text  # no sensitive term: the text itself
    assert neutral.text(text, ()) is text
    assert neutral.text(text, ("acme", "boreal")) == f"Acme et {CAP} #AcmeDown @borealcafe"
    assert known == {"Acme": False, "Acme Mobile": False, "#AcmeDown": False, "Boréal": True,
                     "@borealcafe": False, "Latte Aurora": False}


def test_a_short_mention_is_read_for_its_language_without_its_brands_names(
        scorers: tuple[EnglishScorer, FrenchScorer]) -> None:
    """Neutralizer.unnamed: each name, alias and hashtag of the brands matched taken out, their
    keywords kept (words of the text's language: a product, "forfait mobile"), and everything
    else as it was."""
    brands = [Brand(id="acme", name="Acme", aliases=("Acme Mobile", "@acme_fr"), hashtags=("#AcmeDown",),
                    keywords=("forfait mobile",)),
              Brand(id="boreal", name="Boréal")]
    neutral = Neutralizer(brands, scorers)
    assert neutral.unnamed("acme de merde", ("acme",)) == " de merde"
    assert neutral.unnamed("l'Acme Mobile, quelle honte #AcmeDown", ("acme",)) == "l' , quelle honte #"
    assert neutral.unnamed("@acme_fr mon forfait mobile, Boréal aussi", ("acme",)) == \
        "@ mon forfait mobile, Boréal aussi"  # only the brands matched
    assert neutral.unnamed("ACME, Boréal: nul", ("acme", "boreal")) == ", : nul"
    text = "Acmeville is nice"  # a name inside a longer word is no name
    assert neutral.unnamed(text, ("acme",)) is text
    assert neutral.unnamed(text, ()) is text and neutral.unnamed(text, ("unknown",)) is text


def test_a_plain_term_among_a_hashtag_s_marked_words_is_replaced() -> None:
    """The watch rules read "#BoycottJoy" as a mention of Joy (veille.rules.marked_hashtags):
    its scorers read "Boycott Joy", and "joy" (+2.8) made a boycott's hashtag praise."""
    terms = BrandTerms(["Joy", "Best Buy", "#free"])
    assert neutralize("#BoycottJoy now", terms) == f"#Boycott{CAP} now"
    assert neutralize("(#BoycottBestBuy!) #boycott_joy", terms) == f"(#Boycott{CAP}{CAP}!) #boycott_{P}"
    assert neutralize("#FreeJOY", terms) == f"#Free{UP}"  # a hashtag term needs its own #
    for text in ("#joyride #Joyful #BestBuyer", "x#BoycottJoy", "#JOYBUY"):
        assert neutralize(text, terms) is text
    assert without("#BoycottJoy, #BestBuyFail", terms) == "#Boycott, #Fail"
