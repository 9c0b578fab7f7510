"""Moderation triage: every category in French and English, hard negatives, action policy, charters."""

from __future__ import annotations

import json
import re

import pytest

from veille.moderation import triage as triage_module
from veille.moderation.triage import (
    ACTIONS,
    CATEGORIES,
    REASONS,
    SEVERITIES,
    Triage,
    strictest,
    triage,
)
from veille.rules import Charter

BRAND = ("acme",)
NEG, NEU, POS = ("negative", -0.6), ("neutral", 0.0), ("positive", 0.6)


def cats(text: str, language: str, tone: tuple[str, float] = NEU, brands: tuple[str, ...] = BRAND,
         charter: Charter | None = None) -> tuple[str, ...]:
    return triage(text, language, tone[0], tone[1], brands, charter).categories


@pytest.mark.parametrize(
    ("text", "language", "tone", "category"),
    [
        ("t'es vraiment qu'un abruti", "fr", NEG, "insult"),
        ("Sale connard, tu m'as doublé dans la file", "fr", NEG, "insult"),
        ("you're such a moron", "en", NEG, "insult"),
        ("go fuck yourself", "en", NEG, "insult"),
        ("je vais te buter si je te croise", "fr", NEG, "threat"),
        ("I'm going to kill you", "en", NEG, "threat"),
        ("kys loser", "en", NEG, "threat"),
        # "tous" floats between the verbs, and the plain future (found in review, 2026-12-06)
        ("@acme_fr vous allez tous crever", "fr", NEG, "threat"),
        ("vous allez toutes y passer", "fr", NEG, "threat"),
        ("j'espère que vous allez tous crever", "fr", NEG, "threat"),
        ("j'espère que vous crèverez tous", "fr", NEG, "threat"),
        ("retourne dans ton pays", "fr", NEG, "hate"),
        ("les migrants sont des parasites", "fr", NEG, "hate"),
        ("go back to your country", "en", NEG, "hate"),
        ("Gagnez 300€ par jour depuis chez vous, écrivez-moi sur WhatsApp", "fr", POS, "spam"),
        ("Votre compte sera suspendu, vérifiez vos informations sur acme-login.xyz", "fr", NEU, "spam"),
        ("Earn $500 a day from home, link in bio", "en", POS, "spam"),
        ("Free iPhone giveaway, claim here bit.ly/xyz123", "en", POS, "spam"),
        ("VOUS VOUS FOUTEZ DE NOUS", "fr", NEG, "aggressive"),
        ("Why is my phone STILL broken???", "en", NEG, "aggressive"),
        ("you people are unbelievable", "en", NEU, "aggressive"),
        ("#BoycottBoreal, partagez massivement", "fr", NEG, "detractor"),
        ("Je n'achèterai plus jamais chez Acme", "fr", NEU, "detractor"),
        ("Sign the petition against Acme's new fees", "en", NEU, "detractor"),
        ("Never buying from Acme again", "en", NEU, "detractor"),
        ("@acme_fr toujours aucune réponse à ma réclamation", "fr", NEU, "needs_answer"),
        ("Colis jamais reçu, vous pouvez vérifier ?", "fr", NEU, "needs_answer"),
        ("@AcmeSupport still waiting for my refund", "en", NEU, "needs_answer"),
        ("My phone won't charge since the update, any fix?", "en", NEG, "needs_answer"),
    ],
)
def test_each_category_in_both_languages(text: str, language: str, tone: tuple[str, float],
                                         category: str) -> None:
    assert category in cats(text, language, tone)


def test_insult_is_also_aggressive_and_categories_follow_the_constant_order() -> None:
    result = triage("t'es qu'un gros nul, toujours pas de réponse", "fr", "negative", -0.7, BRAND)
    assert result.categories == ("insult", "aggressive", "needs_answer")


@pytest.mark.parametrize(
    ("text", "language", "tone"),
    [
        ("this price is a killer deal", "en", POS),
        ("I could kill for this latte", "en", POS),
        ("dead funny, that ad", "en", POS),
        ("that new camera is sick!", "en", POS),
        ("you killed it with this update", "en", POS),
        ("Shut up and take my money!", "en", POS),
        ("I'm such an idiot, forgot to switch it on", "en", NEG),
        ("my brother called me an idiot for queuing all night", "en", NEG),
        ('the ad where he shouts "you moron" is hilarious', "en", POS),
        ("you're not stupid at all, thanks for the help", "en", POS),
        ("Spread the word: free coffee for nurses this week!", "en", POS),
        ("Thanks, refund received within two days", "en", POS),
        ("c'est mortel ce latte", "fr", POS),
        ("ça tue ce nouveau forfait", "fr", POS),
        ("mdr je suis mort", "fr", POS),
        ("bête de produit, je recommande", "fr", POS),
        ("t'es une bête, défi fini en deux jours", "fr", POS),
        ("c'est pas nul du tout", "fr", POS),
        ("t'es pas nul du tout en fait", "fr", POS),
        ("putain c'est génial", "fr", POS),
        ("Il m'a traité de connard, l'ambiance...", "fr", NEG),
        ("Je suis con, j'avais oublié le code PIN", "fr", NEG),
        ("partagez ce bon plan à vos potes", "fr", POS),
        ("Plus jamais de souci de réseau depuis que je suis chez eux, top", "fr", POS),
        ("LE NOUVEAU ZEPHYR EST ENFIN LÀ, TROP HÂTE", "fr", POS),
        ("Trop fort ce forfait !!!", "fr", POS),
        ("Horaires du Boréal ce dimanche ?", "fr", ("negative", -0.08)),
    ],
)
def test_hard_negatives_raise_nothing(text: str, language: str, tone: tuple[str, float]) -> None:
    result = triage(text, language, tone[0], tone[1], BRAND)
    assert result.categories == (), result
    assert result.action == "none"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("nuuuul, t'es nuuuul", "fr"),  # repeated letters
        ("c0nnard", "fr"),  # leetspeak
        ("T’es un abruti", "fr"),  # typographic apostrophe
        ("tes qu'un bouffon", "fr"),  # SMS spelling of "t'es"
        ("what an a$$hole", "en"),
        ("u r sooo stupiiid", "en"),
        ("ASSHOLE.", "en"),
    ],
)
def test_light_obfuscations_still_match(text: str, language: str) -> None:
    assert "insult" in cats(text, language, NEG)


def test_swearing_without_a_target_is_not_an_insult() -> None:
    assert cats("fucking love this phone", "en", POS) == ()
    assert "insult" not in cats("putain de réseau, encore en panne", "fr", NEG)


def test_an_insult_about_a_thing_is_not_an_insult() -> None:
    assert "insult" not in cats("your app is stupid", "en", NEG)
    assert "insult" in cats("your agent is stupid", "en", NEG)


def test_unknown_language_runs_both_rule_sets() -> None:
    assert "insult" in cats("espèce de connard", "de", NEG)
    assert "threat" in cats("I will kill you", "und", NEG)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Nouveau forfait Acme : pas de #5G pour le moment", "fr"),
        ('Je ne veux pas de "forfait illimité" chez Acme', "fr"),
        ("Pas de @acme_fr dans mon village", "fr"),
        ("Super week-end. A la mer avec ma box Acme", "fr"),
        ("How do I get rid of the @acme toolbar?", "en"),
    ],
)
def test_a_hate_phrase_needs_its_group_named(text: str, language: str) -> None:
    """The groups were written over several lines and put into one line of the phrases each: every
    line break became an empty alternative, so "pas de", "a la mer" or "get rid of the" before
    anything but a letter was hate, high, hidden (found on real tweets, 2026-12-07)."""
    result = triage(text, language, "neutral", 0.0, BRAND)
    assert "hate" not in result.categories and result.action != "hide", result
    # the phrases still hold with a group named
    assert "hate" in cats("pas de migrants ici", "fr") and "hate" in cats("get rid of the migrants", "en")


def test_a_phrase_line_ending_with_a_bar_is_refused() -> None:
    with pytest.raises(ValueError, match="empty alternative"):
        triage_module._phrases("a|\n    b")
    assert triage_module._phrases("a\\|\n b") == "(?:a\\||b)"


@pytest.mark.parametrize(
    ("text", "language", "addressed"),
    [
        ("Les nouveaux forfaits Acme, une vraie déception http via @lemonde", "fr", False),
        ("RT @bob: les nouveaux forfaits Acme, une vraie déception", "fr", False),
        ("Acme raises prices again, a sad day for customers via @nytimes", "en", False),
        ("RT @bob: Acme raises prices again, a sad day for customers", "en", False),
        ("@acme_fr les nouveaux forfaits, une vraie déception", "fr", True),
        ("RT @bob: @acme raises prices again, a sad day for customers", "en", True),
        ("Les forfaits Acme, une vraie déception. Cc @acme_fr", "fr", True),
    ],
)
def test_a_handle_that_credits_a_source_addresses_no_one(text: str, language: str, addressed: bool) -> None:
    """"via @lemonde" (a share button's signature) and "RT @bob:" name whom the text comes from: a
    negative headline shared with them was a case to answer, with a deadline (real tweets,
    2026-12-07)."""
    result = triage(text, language, "negative", -0.7, BRAND)
    assert ("needs_answer:negative_addressed" in result.reasons) is addressed, result


@pytest.mark.parametrize(
    ("text", "tone", "detractor"),
    [
        ("Here's my new look #bangin, love these Acme shoes!", POS, False),
        ("Acme store opening in #Bangalore today", NEU, False),
        ("Morning #workout done, Acme shake after", NEU, False),
        ("Big #shoutout to the Acme team, thanks!", POS, False),
        ("Acme leaked our data again, this is awful #DeleteAcme", NEG, True),
        ("Acme lied to us, what a disgrace #AcmeOut", NEG, True),
        ("#BoycottAcme", NEU, True),
        ("#AcmeSucks", NEU, True),
    ],
)
def test_a_hashtag_that_only_looks_like_a_call_is_no_campaign(text: str, tone: tuple[str, float],
                                                               detractor: bool) -> None:
    """#ban..., #delete..., #cancel..., #stop... and ...out are calls in an angry text and everyday
    words elsewhere: #bangin, #Bangalore, #workout were detractor campaigns (real tweets, 2026-12-07)."""
    assert ("detractor" in cats(text, "en", tone)) is detractor


@pytest.mark.parametrize(
    ("text", "threat"),
    [
        ("Gonna shoot you a DM about the Acme order", False),
        ("I'll shoot you an email about the Acme refund", False),
        ("we're gonna beat you guys in the Acme cup final", False),
        ("I'll beat you at Acme Kart tonight", False),
        ("Gas them up! Acme fuel station opening today", False),
        ("hang them up in the Acme closet", False),
        ("I'll shoot you in the face", True),
        ("I will beat you", True),
        ("gas them all", True),
        ("lynch them", True),
    ],
)
def test_a_threats_verb_in_an_everyday_idiom_is_no_threat(text: str, threat: bool) -> None:
    """"shoot you a DM" (send), "beat you at" a game, "gas them up" (hype) and "hang them up"
    were threats, hidden by every charter (2026-12-07)."""
    assert ("threat" in cats(text, "en", NEG)) is threat


@pytest.mark.parametrize(
    ("text", "tone", "detractor"),
    [
        ("I'll never buy another brand again, Acme forever", NEU, False),
        ("I will never buy from anyone else again, thanks Acme", NEU, False),
        ("don't buy from anyone else, Acme is the best", POS, False),
        ("shame on me for not trying Acme sooner", NEG, False),
        ("I'll never buy another Acme phone again", NEG, True),
        ("don't buy from Acme, they lie", NEG, True),
        ("shame on you Acme", NEG, True),
    ],
)
def test_loyalty_and_self_reproach_are_no_campaign(text: str, tone: tuple[str, float],
                                                   detractor: bool) -> None:
    """"never buy another brand again", "don't buy from anyone else" (loyalty) and "shame on me"
    were detractor cases to review (2026-12-07)."""
    assert ("detractor" in cats(text, "en", tone)) is detractor


def test_needs_answer_only_for_a_watched_brand() -> None:
    text = "@acme_fr toujours pas de réponse"
    assert "needs_answer" in cats(text, "fr", NEG)
    assert cats(text, "fr", NEG, brands=()) == ()


# --- action policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language", "tone", "severity", "action"),
    [
        ("je vais te buter", "fr", NEG, "high", "hide"),  # threat
        ("death to all of them, go back to your country", "en", NEG, "high", "hide"),  # hate
        ("Earn $500 a day, DM me", "en", POS, "medium", "hide"),  # spam
        ("espèce de connard", "fr", NEG, "high", "hide"),  # high-severity insult
        ("t'es vraiment nul", "fr", NEG, "medium", "review"),  # milder insult
        ("THIS IS RIDICULOUS ACME", "en", NEG, "low", "review"),  # shouting only
        ("#BoycottAcme", "en", NEU, "medium", "review"),  # detractor
        ("@acme_fr toujours pas de réponse", "fr", NEU, "low", "respond"),  # needs_answer
        ("Lovely coffee this morning", "en", POS, "none", "none"),
    ],
)
def test_action_policy(text: str, language: str, tone: tuple[str, float], severity: str,
                       action: str) -> None:
    result = triage(text, language, tone[0], tone[1], BRAND)
    assert (result.severity, result.action) == (severity, action)


def test_strongest_action_wins_and_all_categories_are_kept() -> None:
    result = triage("@AcmeSupport you clowns, still waiting for my refund", "en", "negative", -0.6, BRAND)
    assert result.categories == ("insult", "aggressive", "needs_answer")
    assert result.action == "review"  # review beats respond


def test_charter_can_hide_what_the_default_only_reviews() -> None:
    text = "t'es vraiment nul"
    assert triage(text, "fr", "negative", -0.6, BRAND).action == "review"
    strict = Charter(remove=("threat", "hate", "spam", "insult"), review=("aggressive",))
    result = triage(text, "fr", "negative", -0.6, BRAND, strict)
    assert result.action == "hide"
    assert "charter:remove" in result.reasons


def test_charter_without_review_leaves_a_category_unactioned_but_reported() -> None:
    lenient = Charter(remove=("threat", "hate", "spam"), review=())
    result = triage("#BoycottAcme", "en", "neutral", 0.0, BRAND, lenient)
    assert result.categories == ("detractor",)
    assert result.action == "none"


def test_banned_term_always_means_review() -> None:
    charter = Charter(banned_terms=("Arnacme",))
    result = triage("Acme = ARNACMÉ, tout le monde le sait", "fr", "neutral", 0.0, BRAND, charter)
    assert result.categories == ()
    assert result.action == "review"
    assert result.reasons == ("charter:banned_term",)
    assert triage("Acme, tout le monde le sait", "fr", "neutral", 0.0, BRAND, charter).action == "none"


def test_strictest_merges_charters_of_several_brands() -> None:
    a = Charter(remove=("spam",), review=("insult",), response_deadline_minutes=60, banned_terms=("x",))
    b = Charter(remove=("insult", "hate"), review=("detractor",), response_deadline_minutes=240,
                banned_terms=("y",))
    merged = strictest([a, b])
    assert merged.remove == ("insult", "hate", "spam")
    assert merged.review == ("detractor",)
    assert merged.response_deadline_minutes == 60
    assert merged.banned_terms == ("x", "y")
    assert strictest([]) == Charter()


# --- bounded values -------------------------------------------------------------------------

SAMPLES = [
    ("espèce de connard, je vais te retrouver", "fr", NEG),
    ("WHERE IS MY REFUND??? you clowns", "en", NEG),
    ("#BoycottAcme signez la pétition, partagez massivement", "fr", NEG),
    ("Gagnez 500€ par jour 👉 bit.ly/abc", "fr", POS),
    ("mort aux juifs", "fr", NEG),
    ("nice latte", "en", POS),
    ("", "en", NEU),
]


@pytest.mark.parametrize(("text", "language", "tone"), SAMPLES)
def test_values_are_bounded_and_json_round_trips(text: str, language: str,
                                                 tone: tuple[str, float]) -> None:
    result = triage(text, language, tone[0], tone[1], BRAND, Charter(banned_terms=("acme",)))
    assert set(result.categories) <= set(CATEGORIES)
    assert list(result.categories) == [c for c in CATEGORIES if c in result.categories]
    assert set(result.reasons) <= set(REASONS)
    assert len(set(result.reasons)) == len(result.reasons)
    assert result.severity in SEVERITIES
    assert result.action in ACTIONS
    assert Triage.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_no_regex_is_compiled_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    charter = Charter(banned_terms=("arnacme",))  # compiled here, once per charter
    triage_module.prepare()  # the prefilters are built once, as the enrichment stage does at start

    def no_compile(*args: object, **kwargs: object) -> None:
        raise AssertionError("regex compiled during triage")

    monkeypatch.setattr(re, "compile", no_compile)
    monkeypatch.setattr(re, "_compile", no_compile)  # behind re.search(pattern_string, ...)
    assert triage_module.re is re
    for text, language, tone in SAMPLES:
        triage(text, language, tone[0], tone[1], BRAND, charter)


def test_crafted_texts_do_not_make_the_patterns_backtrack_for_ever() -> None:
    """Runs of "*" (a look-alike of every vowel) between lexicon letters: an 81-character text
    took 69 s, "tete de n" + 4,000 stars 76 s, with open-ended repeats. A subprocess with a
    deadline, so a regression fails instead of hanging the suite."""
    import subprocess
    import sys

    probe = (
        "from veille.moderation.triage import triage\n"
        "texts = [(\"t'es \" + ' '.join(['b' + '*' * 14] * 4) + ' zz. t\\'es nul', 'fr'),\n"
        "         ('you are ' + ' '.join(['r' + '*' * 40 + 'l'] * 4) + ' zz. you idiot', 'en'),\n"
        "         ('tete de n' + '*' * 19_000 + ' x', 'fr'),\n"
        "         ('d' + '*' * 19_000 + ' x. you asshole', 'en')]\n"
        "for text, lang in texts:\n"
        "    triage(text, lang, 'negative', -0.8, ('acme',))\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
    # Still caught: doubled letters and leet spellings within the bounds.
    for text in ("espece de c0nnnard", "quel c*nnard"):
        assert triage(text, "fr", "negative", -0.8, BRAND).categories, text
    assert triage("you a$$hole", "en", "negative", -0.8, BRAND).categories


def test_normalise_cuts_runs_as_the_runs_pattern_does() -> None:
    """normalise() replaces apostrophes with str.replace in an ASCII text and skips _RUNS when
    RE2 finds no run in one: the result is translate's and _RUNS's."""
    import random

    def reference(folded: str) -> tuple[str, str]:
        base = triage_module._RUNS.sub(triage_module._two, folded.translate(triage_module._APOSTROPHES))
        return base, triage_module._WORD_HYPHEN.sub(" ", base) if "-" in base else base

    rnd = random.Random(1)
    texts = [f"x{chr(c) * k}y" for c in range(128) for k in (2, 3, 4)]
    texts += ["".join(rnd.choice("aawwWW__..!!??--'’‘ʼ`´“”„\" 12éà") for _ in range(rnd.randint(0, 12)))
              for _ in range(20_000)]
    texts += ["".join(rnd.choice("aw_.!?-'`\" 1") for _ in range(rnd.randint(0, 12)))  # ASCII
              for _ in range(20_000)]
    for text in texts:
        assert triage_module.normalise(text) == reference(text), repr(text)


def test_a_problem_the_brand_has_not_solved_asks_for_an_answer() -> None:
    """"pas réglé" was not read as a complaint, "pas résolu" was."""
    for text in ("acme n'a pas réglé ma facture", "acme n'a jamais réglé le souci"):
        assert "needs_answer" in cats(text, "fr", NEU), text


@pytest.mark.parametrize(("text", "language", "tone"), [
    ("@acme customer service sorted it in 5 minutes, legend", "en", NEU),
    ("acme outage is fixed now", "en", NEU),
    ("Acme a résolu ma panne en une heure, top", "fr", ("positive", 0.46)),
    ("service client acme : problème réglé en 10 min", "fr", ("positive", 0.36)),
])
def test_a_problem_said_to_be_solved_is_thanks_not_a_request(text: str, language: str,
                                                              tone: tuple[str, float]) -> None:
    """Customer service or an outage named beside a problem solved was queued as a complaint."""
    assert "needs_answer" not in cats(text, language, tone), text


@pytest.mark.parametrize(("text", "language", "tone"), [
    ("@acme customer service still hasn't sorted it", "en", NEU),
    ("acme customer service, have you fixed it?", "en", NEU),
    ("acme outage, they have not fixed it", "en", NEU),
    ("still waiting on my refund @acme, they said the problem was fixed", "en", NEG),
    ("panne toujours pas réparée @acme", "fr", NEU),
    ("le service client n'a rien réglé", "fr", NEU),
])
def test_a_problem_not_solved_or_asked_about_still_asks_for_an_answer(
        text: str, language: str, tone: tuple[str, float]) -> None:
    assert "needs_answer" in cats(text, language, tone), text


@pytest.mark.parametrize("language, text", [
    ("en", "you really let me down this time"),
    ("fr", "vous m'avez vraiment déçu cette fois"),
])
def test_a_text_addressed_to_the_brand_needs_an_answer_from_a_compound_of_minus_a_quarter(
        language: str, text: str) -> None:
    """With no complaint word, a text addressed to the brand goes to the respond queue when its
    compound score is -0.25 or lower, not at a milder -0.24 (mutation audit, 2026-12-07: moving
    the bound went unnoticed, so customers a little unhappy could drop out of the queue, or
    mildly negative chatter fill it)."""
    assert triage(text, language, "negative", -0.25, BRAND).action == "respond"
    assert triage(text, language, "negative", -0.26, BRAND).reasons == ("needs_answer:negative_addressed",)
    assert triage(text, language, "negative", -0.24, BRAND) == Triage((), "none", "none", ())


@pytest.mark.parametrize("language, text", [
    ("en", "you are a bitch"),
    ("en", "Shut up, bastard!"),
    ("en", "you stupid prick"),
    ("fr", "t'es une ordure"),
    ("fr", "va te faire voir, espèce de pourriture"),
])
def test_a_strong_insult_aimed_at_someone_is_hidden(language: str, text: str) -> None:
    """A strong insult that is not a person noun ("bitch", "ordure") aimed at someone is a
    high-severity insult, hidden by the default charter (mutation audit, 2026-12-07: no test
    used one; skipping that rule left such replies on the brand's page, not even reviewed)."""
    result = triage(text, language, "negative", -0.6, BRAND)
    assert "insult:targeted" in result.reasons
    assert (result.severity, result.action) == ("high", "hide")


def test_two_capitalised_words_all_in_capitals_are_shouting() -> None:
    """Shouting needs at least two capitalised words: two are enough ("TOTAL NONSENSE" is sent
    to review as aggressive), one is not (mutation audit, 2026-12-07: asking for three went
    unnoticed)."""
    assert triage("TOTAL NONSENSE", "en", "neutral", 0.0).reasons == ("aggressive:caps",)
    assert triage("NONSENSE", "en", "neutral", 0.0) == Triage((), "none", "none", ())


@pytest.mark.parametrize("text", ["ça suffit!!!", "pourquoi???", "sérieusement?!?!", "quoi!?!?"])
def test_repeated_punctuation_in_a_negative_text_is_aggressive(text: str) -> None:
    """"!!!", "???", "?!?!" and "!?!?" in a negative text are sent to review as aggressive
    (mutation audit, 2026-12-07: no test used "!!!" or "???" alone, and the shortcut that skips
    texts without a doubled sign could have skipped them)."""
    assert triage(text, "fr", "negative", -0.6).reasons == ("aggressive:punctuation",)


@pytest.mark.parametrize("text", [
    "#panne chez acme ce matin",
    "lien : https://www.reddit.com/r/france/comments/1abcde/panne_chez_acme/",
])
def test_a_complaint_word_in_a_hashtag_or_a_link_is_no_complaint(text: str) -> None:
    """The rules match whole words: "panne" in a hashtag or a link's slug is no complaint, and
    the mention is not sent to the respond queue (mutation audit, 2026-12-07: that the prefilter
    letting the complaint rule run meant no complaint by itself was not checked; taking its
    word for it put such posts in the queue)."""
    assert triage(text, "fr", "neutral", 0.0, BRAND) == Triage((), "none", "none", ())


@pytest.mark.parametrize("text", [
    "ce connard de livreur a jeté mon colis",
    "le conseiller, ce gros con, m'a raccroché au nez",
])
def test_a_person_noun_is_an_insult_wherever_it_stands(text: str) -> None:
    """A noun that only ever names a person insultingly ("connard", "gros con") is a
    high-severity insult, hidden, even with no "you" or target before it (mutation audit,
    2026-12-07: every tested person noun also stood after a target, so dropping the rule left
    these replies on the brand's page, not even reviewed)."""
    result = triage(text, "fr", "negative", -0.6)
    assert result.reasons[0] == "insult:noun"
    assert (result.severity, result.action) == ("high", "hide")


@pytest.mark.parametrize("text", [
    'the agent told me "screw you" and hung up',
    "I would never say screw you to anyone",
])
def test_an_insulting_phrase_quoted_or_negated_is_not_an_insult(text: str) -> None:
    """A customer quoting an insult they received, or saying they never would, is not insulting
    anyone: nothing to review (mutation audit, 2026-12-07: no test quoted or negated an
    insulting phrase; taking the prefilter's "may match" for a match sent these to review)."""
    assert triage(text, "en", "negative", -0.6) == Triage((), "none", "none", ())


def test_an_exclamation_on_a_thing_is_a_complaint_and_on_a_person_an_insult() -> None:
    """"quel service nul", "quelle appli minable": an adjective after a thing, a complaint;
    they were targeted insults, queued for review (a review on real tweets, 2026-12-07). "quel
    nul", "quel mec nul", "quel gros nul", and a strong insult after any word, still are."""
    for text in ("quel service nul", "quelle appli minable", "@acme quel SAV incompetent"):
        assert "insult:targeted" not in triage(text, "fr").reasons, text
    for text in ("quel nul", "quel mec nul", "quel gros nul", "quelle bande de nuls",
                 "quel conseiller incompetent", "quelle conne"):
        assert "insult:targeted" in triage(text, "fr").reasons, text
    assert triage("quelle équipe de connards", "fr").action == "hide"


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("this piece of shit laptop from Acme crashed again", False),
        ("Acme, your piece of shit router dropped the connection twice today", False),
        ("you piece of shit, Acme", True),
        ("the Acme manager is a piece of shit", True),
        ("what a piece of shit", True),
        ("Piece of shit.", True),
    ],
)
def test_piece_of_shit_before_a_thing_is_no_insult(text: str, insult: bool) -> None:
    """"piece of shit" needs a target as "bitch" does: before a noun it rates a thing ("this piece
    of shit PC just froze again" was an insult to hide; real tweets, 2026-12-07)."""
    assert ("insult" in cats(text, "en", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("ok I was wrong about Acme, the new phone is fine", False),
        ("I was late to the Acme launch party", False),
        ("@acme my order was wrong again", True),
        ("Acme, the delivery was late and the box was damaged", True),
    ],
)
def test_i_was_wrong_is_no_complaint(text: str, complaint: bool) -> None:
    """"was wrong", "was late" are a product's state after an order or a delivery, the author's own
    after "I": "I admit, I was wrong" was a complaint to answer (real tweets, 2026-12-07)."""
    assert ("needs_answer:complaint" in triage(text, "en", "neutral", 0.0, BRAND).reasons) is complaint


@pytest.mark.parametrize(
    ("text", "spam"),
    [
        ("I just entered to win the @acme summer giveaway! https://acme.example/summer", False),
        ("We've entered the Acme giveaway, fingers crossed https://acme.example/g", False),
        ("Acme giveaway: free phones for the first 100, claim here bit.ly/acme-free", True),
        ("I just entered the Acme giveaway and won $500!! DM me on telegram", True),
    ],
)
def test_a_giveaway_the_author_entered_is_no_bait(text: str, spam: bool) -> None:
    """A contest's share button ("I just entered to win the @brand giveaway" and its link) is a
    fan's entry in the brand's own contest, not bait to hide (real tweets, 2026-12-07); a giveaway
    with money, a claim or a contact still is."""
    assert ("spam" in cats(text, "en", POS)) is spam


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("@acme_support CLOWNS", True),
        ("@acme @bob idiot.", True),
        ("@acme_support rookie mistake, happens", False),
        ("@acme clown costumes back in stock?", False),
    ],
)
def test_an_insult_alone_after_the_handles_of_a_reply_is_addressed(text: str, insult: bool) -> None:
    """A reply's leading handles are its address, not its prose: "@bob JERK" is "jerk" said alone,
    as "..., jerk!" is; it was no insult (real tweets, 2026-12-07)."""
    assert ("insult" in cats(text, "en", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("Ce type de contrat est ridicule", False),
        ("le type d'offre est nul", False),
        ("ce type est nul", True),
        ("le type de la hotline est incompétent", True),
        ("le type de chez Acme est incompétent", True),
    ],
)
def test_type_de_is_a_kind_not_a_person(text: str, insult: bool) -> None:
    """"type" before "de" is a kind, not a guy: "ce type de contrat est ridicule" was an insult
    aimed at a person (a review on real French tweets, 2026-12-07); "ce type est nul", "le type de la
    hotline est incompétent" still are."""
    assert ("insult" in cats(text, "fr", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Acme a changé ses tarifs, c'est pourquoi le forfait coûte plus cher", False),
        ("Acme ouvre trois boutiques, voilà pourquoi on en parle", False),
        ("Acme pourquoi le forfait coûte plus cher ce mois-ci", True),
    ],
)
def test_c_est_pourquoi_is_no_question(text: str, complaint: bool) -> None:
    """"c'est pourquoi", "voilà pourquoi" ("that's why") ask nothing: "c'est pourquoi le parti est
    inutile" was a complaint to answer (a review on real French tweets, 2026-12-07); "pourquoi le
    forfait ..." still is."""
    assert ("needs_answer:complaint" in triage(text, "fr", "neutral", 0.0, BRAND).reasons) is complaint


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Le préfet autorise un tir de prélèvement sur les loups, Acme se tait", False),
        ("Acme : ce qui change avec le prélèvement à la source", False),
        ("Acme, rdv au labo pour un prélèvement sanguin", False),
        ("@acme double prélèvement sur mon compte ce mois-ci", True),
        ("@acme encore un prélèvement de 30 euros", True),
    ],
)
def test_a_prelevement_that_is_no_debit_is_no_complaint(text: str, complaint: bool) -> None:
    """"prélèvement" is a debit in a complaint, not a cull ("tir de prélèvement"), a withholding tax
    ("prélèvement à la source") or a sample ("prélèvement sanguin"): a wolf cull was a complaint to
    answer (a review on real French tweets, 2026-12-07)."""
    assert ("needs_answer:complaint" in triage(text, "fr", "neutral", 0.0, BRAND).reasons) is complaint


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("ces ordures ménagères ne sont plus ramassées depuis la grève chez Acme", False),
        ("Acme forme des chiens d'aveugle, c'est un chien de chasse formidable", False),
        ("la nouvelle Acme au départ, c'est un boulet de canon", False),
        ("ces ordures de chez Acme m'ont raccroché au nez", True),
        ("t'es une ordure", True),
        ("ces chiens de la direction d'Acme", True),
    ],
)
def test_an_insulting_noun_in_a_compound_naming_a_thing_is_no_insult(text: str, insult: bool) -> None:
    """"ces ordures ménagères" (household waste) was an insult of high severity, hidden; "un chien
    de chasse", "un boulet de canon" were insults too (found writing test texts in a review of real
    French tweets on ecology, 2026-12-07: animals and waste are their topic). The same nouns aimed at
    someone still are."""
    assert ("insult" in cats(text, "fr", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("Acme, vous êtes nulle part dans le classement des opérateurs", False),
        ("t'es nulle part sur la carte de couverture Acme", False),
        ("t'es nul", True),
        ("vous êtes nuls, Acme", True),
    ],
)
def test_nulle_part_is_nowhere_not_an_insult(text: str, insult: bool) -> None:
    """"nulle part" is "nowhere": "vous êtes nulle part dans le classement" was an insult (found
    writing test texts in a review of real French tweets, 2026-12-07); "t'es nul" still is."""
    assert ("insult" in cats(text, "fr", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("c'est un amateur de jazz, il adore les enceintes Acme", False),
        ("ces amateurs de vélo ne jurent que par Acme", False),
        ("mon fils, c'est un rat de bibliothèque", False),
        ("vous êtes des amateurs", True),
        ("quelle bande d'amateurs de merde chez Acme", True),
        ("vous êtes des amateurs du dimanche", True),
    ],
)
def test_an_amateur_de_is_a_fan_not_an_insult(text: str, insult: bool) -> None:
    """"un amateur de jazz" is a fan, "un rat de bibliothèque" a bookworm: both were insults (found
    writing test texts in a review of real French tweets, 2026-12-07); "vous êtes des amateurs",
    "bande d'amateurs de merde" still are."""
    assert ("insult" in cats(text, "fr", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "hate"),
    [
        ("il n'y a pas de femmes au comité de direction d'Acme", False),
        ("y a pas de femmes dans la pub Acme, dommage", False),
        ("Acme : il n'y avait pas de handicapés dans le jury", False),
        ("pas de migrants ici", True),
        ("je ne veux pas de migrants dans les magasins Acme", True),
    ],
)
def test_there_is_no_group_is_a_fact_not_hate(text: str, hate: bool) -> None:
    """"il n'y a pas de femmes au comité" says a group is missing (often a complaint about it): it
    was hate, hidden by every charter (found writing test texts in a review of real French tweets,
    2026-12-07). "pas de migrants ici", "je ne veux pas de migrants" still are."""
    assert ("hate" in cats(text, "fr", NEG)) is hate


@pytest.mark.parametrize(
    ("text", "detractor"),
    [
        ("le robinet Acme commence à fuir", False),
        ("mon lave-linge Acme s'est mis à fuir hier soir", False),
        ("Acme : un produit à fuir", True),
        ("Acme, service client à fuir !", True),
    ],
)
def test_a_leak_is_no_campaign(text: str, detractor: bool) -> None:
    """"fuir" is also to leak: "le robinet Acme commence à fuir" was a campaign ("à fuir", to be
    avoided) to review (found writing test texts in a review of real French tweets, 2026-12-07);
    "un produit à fuir" still is."""
    assert ("detractor" in cats(text, "fr", NEG)) is detractor


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("mon fils a niqué sa batterie Acme en une semaine", False),
        ("la mise à jour Acme a niqué ton forfait ?", False),
        ("nique ta mère Acme", True),
        ("nique ta race", True),
        ("Acme nique vos mères", True),
        ("nique ta daronne", True),
    ],
)
def test_niquer_a_thing_is_no_insult(text: str, insult: bool) -> None:
    """"niquer" is also to break: "il a niqué sa batterie" was an insult, the family after "nique
    ta/sa/ton" being optional (found writing test texts in a review of real French tweets,
    2026-12-07). "nique ta mère", "nique ta race" still are, "nique ta daronne" now too."""
    assert ("insult" in cats(text, "fr", NEG)) is insult


@pytest.mark.parametrize(
    ("text", "threat"),
    [
        ("je vais te chercher à la gare après ton shift chez Acme", False),
        ("on va vous retrouver au stand Acme demain", False),
        ("je vais te retrouver.", True),
        ("je vais te retrouver et te faire payer, Acme", True),
        ("je vais te chercher, sale con", True),
    ],
)
def test_picking_someone_up_is_no_threat(text: str, threat: bool) -> None:
    """"je vais te chercher à la gare" (pick up), "on va vous retrouver au stand" (meet) were
    threats, hidden by every charter (found writing test texts in a review of real French tweets,
    2026-12-07); the verb ending its clause still is, as "I'll find you." is in English."""
    assert ("threat" in cats(text, "fr", NEU)) is threat


@pytest.mark.parametrize(
    ("text", "threat"),
    [
        ("Le nouvel Acme va tuer la concurrence", False),
        ("mon fils va jeter du pain aux canards, merci Acme", False),
        ("elle va pendre le linge avec les pinces Acme", False),
        ("va te pendre", True),
        ("allez vous suicider", True),
        ("va te jeter sous un train", True),
        ("va crever", True),
    ],
)
def test_go_kill_the_competition_is_no_death_wish(text: str, threat: bool) -> None:
    """"va tuer la concurrence", "va jeter du pain", "va pendre le linge" were death wishes,
    hidden by every charter: the pronoun of "va te pendre" was optional (found writing test texts
    in a review of real French tweets, 2026-12-07). "va crever" needs none."""
    assert ("threat" in cats(text, "fr", NEU)) is threat


@pytest.mark.parametrize(
    ("text", "language", "threat"),
    [
        ("@acme Spammer. Die.", "en", True),
        ("@acme die!!", "en", True),
        ("Worst company ever. Die!", "en", True),
        ("die die die @acme", "en", True),
        ("@acme Spammer. Die.", "de", True),  # as fastText reads it: both rule sets run
        ("my Acme battery will die", "en", False),
        ("Do or die! Acme finals tonight", "en", False),
        ("Die Hard is on Acme TV tonight", "en", False),
        ("I would die for this Acme phone", "en", False),
        ("lol die @acme", "en", False),
        ("Acme: the die is cast", "en", False),
    ],
)
def test_die_said_alone_is_a_death_wish(text: str, language: str, threat: bool) -> None:
    """"Spammer. Die." was missed (a real 2014 tweet, kept as a known miss since 2026-12-06):
    "die" said alone, a whole sentence but for handles, is a death wish; in a sentence it is not."""
    assert ("threat" in cats(text, language, NEG)) is threat


@pytest.mark.parametrize(
    ("text", "hostile"),
    [
        ("Acme dégage 2 milliards de bénéfices malgré la crise", False),
        ("ce parfum Acme dégage une odeur horrible", False),
        ("le ciel se dégage enfin, pas de panne Acme", False),
        ("dégage !", True),
        ("Acme dégage", True),
        ("dégagez, Acme", True),
        ("dégage de là", True),
    ],
)
def test_degager_a_profit_is_not_get_out(text: str, hostile: bool) -> None:
    """"dégager" also yields or clears: "Acme dégage 2 milliards de bénéfices", "dégage une odeur",
    "le ciel se dégage" were hostile (found writing test texts in a review of real French tweets,
    2026-12-07); "dégage !", "Acme dégage", "dégage de là" still are."""
    assert ("aggressive:hostile" in triage(text, "fr", "negative", -0.6, BRAND).reasons) is hostile


@pytest.mark.parametrize(
    ("text", "hate"),
    [
        ("les femmes sont des êtres humains comme les autres, Acme", False),
        ("les Chinois sont le premier pays producteur de panneaux solaires Acme", False),
        ("les femmes sont tout pour Acme", False),
        ("les migrants méritent d'être traités comme des humains", False),
        ("les migrants ne sont pas des humains", True),
        ("les arabes sont des voleurs", True),
        ("les migrants doivent rentrer chez eux", True),
        ("les immigrés volent tout", True),
    ],
)
def test_a_group_said_to_be_human_is_no_hate(text: str, hate: bool) -> None:
    """"les femmes sont des êtres humains", "les Chinois sont le premier pays producteur" were hate,
    hidden by every charter: "humains", "tout", "pays" ended a hate phrase after any verb (found
    writing test texts in a review of real French tweets, 2026-12-07). After "sont" they no longer
    do; "ne sont pas des humains", "volent tout", "doivent rentrer chez eux" still are hate."""
    assert ("hate" in cats(text, "fr", NEU)) is hate


@pytest.mark.parametrize(("text", "language"), [
    ("@acme 🖕", "en"), ("@acme_fr 🖕🏻🖕🏻 encore en panne", "fr"), ("🖕🖕 @acme", "und"),
    ("Acme support 🖕🏿", "en"),
])
def test_the_middle_finger_is_an_insult_in_any_language(text: str, language: str) -> None:
    """🖕 at a brand says what "fuck you" says: it was a negative text addressed to the brand, a
    case to answer with a deadline, not one to review (or hide, where the charter hides
    insults)."""
    result = triage(text, language, *NEG, BRAND)
    assert "insult:phrase" in result.reasons, result
    assert "needs_answer:negative_addressed" not in result.reasons, result  # a complaint still is one
    assert result.action == "review"
    assert "insult" not in triage("@acme 👍 fixed, thanks", "en", *POS, BRAND).categories


@pytest.mark.parametrize(
    ("text", "detractor"),
    [
        ("Acme, plus jamais", True),
        ("Plus jamais Acme !", True),
        ("Acme ? Plus jamais.", True),
        ("acme plus jamais", True),
        ("je ne serai plus jamais en retard grâce à Acme", False),
        ("Avec Acme, je ne perds plus jamais mes clés", False),
        ("Acme never again", True),  # the English it matches
    ],
)
def test_plus_jamais_alone_is_never_again(text: str, detractor: bool) -> None:
    """"Acme, plus jamais" is the French "Acme, never again", a detractor to review as the
    English one was; only "plus jamais" followed by a listed word ("plus jamais chez", "plus
    jamais ça") was (found in review, 2026-12-07). Inside "ne ... plus jamais" it is not."""
    assert ("detractor" in cats(text, "fr" if "jamais" in text else "en", NEU)) is detractor


# A review of threats written as customers write them (2026-12-08) found four in five raising
# nothing: a place, a vehicle or a person named by a noun phrase, veiled threats, a customer
# saying they may take their life. Each case below failed before, each hard negative passes both.
@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I'm going to burn down your store @borealcafe", "en"),
        ("someone should key the Acme CEO's car", "en"),
        ("bomb the Acme data center, they deserve it", "en"),
        ("somebody should slash the tires on every Acme van", "en"),
        ("hope somebody throws a brick through the Acme store window tonight", "en"),
        ("Acme deserves to have its shops burned to the ground", "en"),
        ("gonna stab the next Acme rep who calls me", "en"),
        ("i'll beat the crap out of that rude cashier at Boreal", "en"),
        ("I know where the Acme manager lives. just saying", "en"),
        ("the Acme tech who came today is a dead man", "en"),
        ("fix my line or I swear I'll put someone in hospital", "en"),
        ("next time I'm coming to the shop with a bat", "en"),
        ("je vais égorger le prochain vendeur Acme qui sonne chez moi", "fr"),
        ("si je croise un technicien Acme je lui défonce la tête", "fr"),
        ("le caissier du Boréal, je l'attends à la sortie ce soir", "fr"),
        ("je sais où habite le directeur de l'agence Acme", "fr"),
        ("on va venir vous chercher @acme_fr", "fr"),
        ("faudrait mettre le feu à tous les Boréal", "fr"),
        ("quelqu'un devrait crever les pneus de la voiture du PDG", "fr"),
        ("les employés d'Acme mériteraient une bonne raclée", "fr"),
        ("le vendeur Acme il va se faire fumer", "fr"),
    ],
)
def test_a_threat_to_a_place_a_vehicle_or_a_person_named_is_hidden(text: str, language: str) -> None:
    verdict = triage(text, language, "negative", -0.6, BRAND)
    assert "threat:violence" in verdict.reasons and verdict.action == "hide"


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("the barista at Boréal Lyon better watch out", "en", "threat:veiled"),
        ("keep ignoring me Acme and see what happens", "en", "threat:veiled"),
        ("you have until friday. after that things will get ugly for your staff", "en", "threat:veiled"),
        ("Acme is lucky I don't own a gun", "en", "threat:veiled"),
        ("the girl at @borealcafe who laughed at me, I'll make her pay", "en", "threat:veiled"),
        ("ça va mal finir pour vous @AcmeSupport", "fr", "threat:veiled"),
        ("Boréal vous allez le payer, croyez moi", "fr", "threat:veiled"),
        ("la serveuse du Boréal a intérêt à faire attention à elle", "fr", "threat:veiled"),
        ("Acme a de la chance que j'aie pas de fusil", "fr", "threat:veiled"),
        ("I can't take it anymore, Acme took my job and I'm going to kill myself", "en", "threat:suicidal"),
        ("after the Acme bill I just want to end it all", "en", "threat:suicidal"),
        ("honestly thinking of ending my life", "en", "threat:suicidal"),
        ("i don't want to be alive anymore. even my Acme phone won't work", "en", "threat:suicidal"),
        ("je vais me foutre en l'air, Acme m'a tout pris", "fr", "threat:suicidal"),
        ("envie d'en finir, même ma box Acme me lâche", "fr", "threat:suicidal"),
        ("je pense au suicide depuis que Boréal m'a viré", "fr", "threat:suicidal"),
        ("j'ai plus envie de vivre", "fr", "threat:suicidal"),
    ],
)
def test_a_veiled_threat_or_a_person_in_distress_is_reviewed_never_hidden(
        text: str, language: str, reason: str) -> None:
    """Less certain than a threat of violence, or a person who needs an answer: reviewed at once
    whatever the charter says of threats (the default removes them)."""
    verdict = triage(text, language, "negative", -0.6, BRAND)
    assert reason in verdict.reasons and "threat" in verdict.categories
    assert verdict.action == "review" and "charter:remove" not in verdict.reasons
    assert verdict.severity == ("high" if reason == "threat:suicidal" else "medium")
    # With a threat of violence as well, the threat is hidden as any other.
    violence = {"en": "I'm going to burn down your store", "fr": "je vais brûler votre magasin"}[language]
    both = triage(f"{text}. {violence}", language, "negative", -0.6, BRAND)
    assert both.action == "hide"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ('"I\'m going to burn down your store" - customer yelled at Acme staff. Disgusting', "en"),
        ("Boréal should be burned into everyone's memory, best café ever", "en"),
        ("you better watch out, Acme's new phone is coming this Christmas", "en"),
        ("Acme better watch out, the competition just launched 5G", "en"),
        ("things will get ugly in the markets tomorrow, Acme stock down 4%", "en"),
        ("keep trying and see what happens, Acme support finally answered", "en"),
        ("I'll make you pay for dinner next time @borealcafe", "en"),
        ("we're coming for you, champions! go Acme FC", "en"),
        ("I'm dying 😂 the Acme hold music", "en"),
        ("this show is so good I want to die lmao", "en"),
        ("I could kill myself laughing at the Acme ad", "en"),
        ("I want to die happy with a Boréal latte", "en"),
        ("I'm smashing it at my new job, thanks Acme", "en"),
        ("the Acme data center was bombed with requests during the launch", "en"),
        ("je vais me tuer à la salle puis Boréal", "fr"),
        ("je veux mourir de rire devant la pub Acme", "fr"),
        ("ça va faire mal aux concurrents, la nouvelle offre Acme", "fr"),
        ("Boréal a intérêt à faire attention à ses prix", "fr"),
        ("mettre le feu au dancefloor avec la playlist Acme", "fr"),
    ],
)
def test_what_a_threat_is_not(text: str, language: str) -> None:
    assert "threat" not in cats(text, language, NEG)


@pytest.mark.parametrize(
    ("text", "language", "hate"),
    [
        ("Boréal hiring all these immigrants, they're vermin, send them back", "en", True),
        ("of course the Acme call center is in India, those people are animals", "en", True),
        ("women are too stupid to run anything", "en", True),
        ("@borealcafe hires muslims, all terrorists, never going back", "en", True),
        ("all the arabs working at Acme should be deported", "en", True),
        ("il faudrait exterminer tous les migrants qui bossent chez Acme", "fr", True),
        ("les musulmans du Boréal de Roubaix, tous des terroristes", "fr", True),
        ("les femmes sont des idiotes", "fr", True),
        ("Boréal embauche que des arabes, ces rats, qu'ils retournent chez eux", "fr", True),
        ("women are not stupid, Acme, stop the sexist ads", "en", False),
        ("the immigrants working at Boréal deserve better pay", "en", False),
        ("les migrants qui bossent chez Acme devraient être mieux payés", "fr", False),
        ("Boréal embauche des migrants, tant mieux, qu'ils restent", "fr", False),
    ],
)
def test_a_group_named_then_called_names_is_hate(text: str, language: str, hate: bool) -> None:
    assert ("hate" in cats(text, language, NEG)) is hate


@pytest.mark.parametrize(
    ("text", "detractor"),
    [
        ("Je ne boycotte pas Acme, leur service est top", False),
        ("je ne boycotterai jamais Boréal", False),
        ("on ne boycotte plus, ils ont changé", False),
        ("Boycottez Acme !", True),
        ("je boycotte Acme depuis hier", True),
    ],
)
def test_a_boycott_negated_the_french_way_is_none(text: str, detractor: bool) -> None:
    """"je ne boycotte pas" was a detractor (the negation was looked for before the verb only):
    found in a review of a boycott's texts, 2026-12-08."""
    assert ("detractor" in cats(text, "fr", NEU)) is detractor


@pytest.mark.parametrize(
    ("text", "language", "insult"),
    [
        ("Boréal management are greedy rats", "en", True),
        ("Acme execs are clowns", "en", True),
        ("La direction de Boréal sont des escrocs", "fr", True),
        ("the management is great at Acme", "en", False),
        ("lab rats at Acme", "en", False),
    ],
)
def test_a_company_s_management_is_a_target_as_its_staff(text: str, language: str, insult: bool) -> None:
    """"management", "execs", "la direction" were no targets (found in a review of a boycott's
    texts, 2026-12-08): the insult aimed at them raised nothing."""
    assert ("insult" in cats(text, language, NEG)) is insult


# From a held-out set of 160 texts written for it (2026-12-08): what the rules above still missed,
# in the general forms such texts take. Each failed before; the hard negatives pass both.
@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("I hope somebody stabs the Boréal manager on his way home", "en", "threat:violence"),
        ("Somebody needs to put a bullet in the Acme CEO", "en", "threat:violence"),
        ("if I see that rep again I'll break his legs", "en", "threat:violence"),
        ("I'll drive my truck straight into your head office", "en", "threat:violence"),
        ("j'espère que le patron de Boréal se fera tabasser", "fr", "threat:violence"),
        ("je vais lui péter les genoux à ce vendeur", "fr", "threat:violence"),
        ("je vais revenir au magasin Acme avec mon fusil", "fr", "threat:violence"),
        ("Quelqu'un devrait foutre le feu aux camionnettes Acme", "fr", "threat:violence"),
        ("Nice store you have there. Would be a shame if something happened to it", "en", "threat:veiled"),
        ("si vous me coupez encore, je ne réponds plus de rien", "fr", "threat:veiled"),
        ("I've started planning how to end my life", "en", "threat:suicidal"),
        ("I've been cutting myself again since I left Boréal", "en", "threat:suicidal"),
        ("My family would be better off without me", "en", "threat:suicidal"),
        ("je pense sérieusement à me foutre en l'air", "fr", "threat:suicidal"),
        ("je ne vois plus aucune raison de vivre", "fr", "threat:suicidal"),
        ("je recommence à me scarifier", "fr", "threat:suicidal"),
        ("si Acme me prélève encore je me jette sous un train", "fr", "threat:suicidal"),
    ],
)
def test_threats_and_distress_in_their_general_forms(text: str, language: str, reason: str) -> None:
    verdict = triage(text, language, "negative", -0.6, BRAND)
    assert reason in verdict.reasons
    assert verdict.action == ("hide" if reason == "threat:violence" else "review")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("cutting myself a slice of Boréal cake", "en"),
        ("this Acme bill will end my life lol", "en"),
        ("Boréal est ma raison de vivre", "fr"),
        ("j'ai écrit une lettre d'adieu à Acme, je passe chez la concurrence", "fr"),
        ("I'd break my neck for a Boréal croissant", "en"),
    ],
)
def test_what_distress_or_violence_is_not(text: str, language: str) -> None:
    assert "threat" not in cats(text, language, NEG)


@pytest.mark.parametrize(
    ("text", "language", "threat"),
    [
        ("A customer told the Acme rep 'I'll kill you' and the rep stayed calm. Respect", "en", False),
        ("My colleague got a message saying 'we'll burn your shop' after working at Acme", "en", False),
        ("Un client a dit au conseiller Acme 'je vais te buter', il est resté pro", "fr", False),
        ("I told you, I'm going to kill you", "en", True),  # the writer's own
        ("I'm going to burn down your store", "en", True),
    ],
)
def test_a_threat_reported_as_someone_else_s_words_is_none(text: str, language: str, threat: bool) -> None:
    """Single quotes are apostrophes to the rules: a threat reported by its witness was read as
    the writer's, and hidden (a held-out set, 2026-12-08)."""
    assert ("threat" in cats(text, language, NEG)) is threat
