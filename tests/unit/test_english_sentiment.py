"""The English scorer: exactly vaderSentiment's scores, on texts built to reach every VADER rule."""

from __future__ import annotations

import random
import string

import pytest
import vaderSentiment.vaderSentiment as vader
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from veille.sentiment.emoji import SKIN_AND_VS_RE
from veille.sentiment.english import (
    _IRONY,
    _SERVICE_RE,
    SERVICE_WORDS,
    EnglishScorer,
    VaderAnalyzer,
    hashtag_words,
)

#: Words that steer VADER's rules: negation, "no", "least", "kind of", "but", "never so/this",
#: "without doubt", "or/nor", and the first words of multi-word boosters.
RULE_WORDS = ("no", "not", "never", "least", "at", "very", "kind", "of", "but", "BUT", "so",
              "this", "without", "doubt", "or", "nor", "isn't", "don't", "aint", "nope", "sort",
              "kinda", "the", "a", "it", "was", "is", "I", "you")
PUNCTUATED = ("good!", "(bad)", "great,", "'love'", "sad...", "!!!", "?", "??", "?!", "...", ":)",
              ":-(", ":D", ";)", "<3", ":/", "-", "'", "a.", "ok?", "--", "#win", "@acme")
OTHER = ("café", "naïve", "İstanbul", "ÇA", "ÉNORME", "straße", "ẞ", "日本", "Ⅻ", "x" * 40, "",
         "ﬁne", "Good", "GOOD", "gOoD")


def vocabulary(rng: random.Random) -> list[str]:
    analyzer = SentimentIntensityAnalyzer()
    lexicon = sorted(analyzer.lexicon)
    emojis = sorted(analyzer.emojis)
    words = rng.sample(lexicon, 400)
    words += [w.upper() for w in rng.sample(lexicon, 60)] + [w.title() for w in rng.sample(lexicon, 60)]
    words += list(vader.BOOSTER_DICT) + [w.upper() for w in vader.BOOSTER_DICT]
    words += list(vader.NEGATE)
    for idiom in vader.SPECIAL_CASES:
        words += idiom.split()
        words.append(idiom)
    words += rng.sample(emojis, 150)  # single characters and multi-character sequences
    words += list(RULE_WORDS) * 6 + list(PUNCTUATED) + list(OTHER)
    return words


def texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    out = ["", " ", "\t\n", "!!!", "😀", " 😀😡 ", "no", "but", "kind of", "not bad at all",
           "The plot was good, but the characters are uncompelling and the dialog is not great.",
           "Without a doubt, an excellent idea.", "Roger is at least compelling", "very least good",
           "never so good", "she isn't the least bit bad", "no good or bad", "no or nor good",
           "it's the shit", "kind of", "good kind of", "LOVE IT 😍😍 but hate the price!!!???"]
    seps = (" ", " ", " ", "  ", "\t", "\n", "")  # "" glues two words, as emoji often are
    while len(out) < n:
        k = rng.randint(1, 25)
        parts = []
        for _ in range(k):
            parts.append(rng.choice(words))
            parts.append(rng.choice(seps))
        text = "".join(parts)
        if rng.random() < 0.2:
            text = text.upper()
        if rng.random() < 0.2:
            text = "  " + text + " "
        out.append(text)
    return out


def test_same_scores_as_vader_sentiment_on_every_rule() -> None:
    reference, fast = SentimentIntensityAnalyzer(), VaderAnalyzer()
    corpus = texts(20_000)
    mismatches = [t for t in corpus if fast.polarity_scores(t) != reference.polarity_scores(t)]
    assert mismatches == []
    # The corpus reaches the rules it is meant to (else the comparison above proves little).
    lowered = " ".join(corpus).lower()
    for cue in (" but ", "kind of", " least ", " never ", " without ", "n't", "!!", "??"):
        assert lowered.count(cue) > 20, cue
    assert sum(1 for t in corpus if not t.isascii()) > 2_000
    assert len({fast.polarity_scores(t)["compound"] for t in corpus}) > 2_000


def test_a_text_that_is_not_a_str_behaves_as_in_vader_sentiment() -> None:
    with pytest.raises(TypeError):
        SentimentIntensityAnalyzer().polarity_scores(42)
    with pytest.raises(TypeError):
        VaderAnalyzer().polarity_scores(42)


def test_scorer_labels() -> None:
    scorer = EnglishScorer()
    assert scorer.score("I love this, it is great!").label == "positive"
    assert scorer.score("This is terrible, I hate it.").label == "negative"
    assert scorer.score("The shop opens at nine.").label == "neutral"


def test_the_scorer_reads_the_emojis_vader_reads_as_nothing_or_backwards() -> None:
    """VADER reads an emoji through its description's words: "pouting face" (😡), "thumbs down",
    "pile of poo", "thumbs up" hold none of its lexicon (0), "broken heart" is positive (heart),
    and "❤️" (with the emoji variation selector) or "👍🏻" (a skin tone) are no emoji to it. The
    English scorer takes the hand-rated values the French scorer has for those
    (veille.sentiment.emoji); a text without them scores as vaderSentiment does."""
    scorer, vader_only = EnglishScorer(), VaderAnalyzer()
    assert vader_only.polarity_scores("@acme still down 😡")["compound"] == 0.0
    assert scorer.score("@acme still down 😡").label == "negative"
    assert scorer.score("@acme 👎👎 worst update ever").compound < vader_only.polarity_scores(
        "@acme worst update ever")["compound"]
    assert scorer.score("fixed in 5 minutes 👍").label == "positive"
    assert scorer.score("my screen cracked 💔").label == "negative"
    assert scorer.score("not 😡 at all").compound > 0  # a word of the text: VADER's rules apply
    assert scorer.score("love it ❤️") == scorer.score("love it ❤")
    assert scorer.score("👍🏻") == scorer.score("👍") and scorer.score("👍").label == "positive"
    corrected = {c for c in scorer._analyzer.emojis if scorer._analyzer.emojis[c].startswith("emoji")}
    assert {"😡", "🤬", "👎", "💩", "👍", "💔", "😔"} <= corrected and "😍" not in corrected
    plain = [t for t in texts(5_000, seed=11)
             if corrected.isdisjoint(t) and not SKIN_AND_VS_RE.search(t) and not _service(t)]
    assert len(plain) > 2_000
    assert [scorer.score(t).compound for t in plain] == [
        vader_only.polarity_scores(t)["compound"] for t in plain]


def _service(text: str) -> bool:
    """Whether the scorer reads a text otherwise than VADER on purpose: a failing service's word
    or phrase (SERVICE_WORDS, _SERVICE_RE), a hashtag in camel case, ironic praise."""
    words = {w.strip(string.punctuation).lower() for w in text.split()}
    return (bool(_SERVICE_RE.search(text)) or hashtag_words(text) != text
            or not words.isdisjoint(SERVICE_WORDS) or _IRONY.without_praise(text, text.lower()) != text)


@pytest.mark.parametrize("text", [
    "@acme network down again", "@acme outage for 3 days", "@acme still not working",
    "@acme app keeps crashing", "@acme thanks for nothing", "@acme my card doesn't work",
    "@acme login not working", "is @acme down for everyone?", "NOT WORKING AGAIN @acme",
    "Boréal wifi isn't working again. Avoid.", "@acme overcharged again", "@acme the app is unusable",
    # found in a review of an outage's texts, 2026-12-07: neutral or positive before
    "6 HOURS WITHOUT SIGNAL. SIX. HOURS.", "@AcmeSupport nope, still not fixed in Bristol",
    "what a joke!!!", "you people are an absolute joke", "it's a joke", "I WANT MY MONEY BACK!!!",
    "I want a refund. not a voucher",
])
def test_a_failing_service_is_negative(text: str) -> None:
    """An outage's complaints were neutral to VADER ("outage", "down", "not working" are no words
    of its lexicon; "thanks for nothing" is thanks; "Avoid." made one positive): the crisis they
    make counted in no negative figure (found in review, 2026-12-07)."""
    assert VaderAnalyzer().polarity_scores(text)["compound"] > -0.05  # what VADER alone says
    assert EnglishScorer().score(text).label == "negative"


@pytest.mark.parametrize(("text", "label"), [
    ("I'm not working today, finally a rest", "neutral"),  # a day off, not a service
    ("we are not working on Sunday", "neutral"),
    ("prices are down, great news", "positive"),
    ("the price went down last week", "neutral"),
    ("it works great, love it", "positive"),
    ("I don't work for Acme", "neutral"),
    ("refund received, thanks!", "positive"),
    ("that joke was hilarious", "positive"),
    ("no problem at all, thanks", "positive"),
])
def test_the_words_of_a_failing_service_need_their_context(text: str, label: str) -> None:
    assert EnglishScorer().score(text).label == label
    assert not _SERVICE_RE.search(text)


@pytest.mark.parametrize("text", [
    "@borealcafe rats?? in the kitchen??", "unsanitary place, moldy bread", "cockroaches everywhere",
    "the salad was contaminated", "filthy tables again",
])
def test_a_dirty_place_is_negative(text: str) -> None:
    """A food scandal's words were neutral to VADER ("rats", "unsanitary", "moldy"): found in a
    review of a café's hygiene scandal, 2026-12-07."""
    assert VaderAnalyzer().polarity_scores(text)["compound"] > -0.05
    assert EnglishScorer().score(text).label == "negative"


@pytest.mark.parametrize(("text", "label"), [
    ("#BoycottAcme", "negative"), ("Still no signal #AcmeFail", "negative"),
    ("#WorstServiceEver @acme", "negative"), ("#LoveIt", "positive"),
    ("#iPhone15 is out", "neutral"), ("#fail", "negative"),
])
def test_a_camel_case_hashtag_is_read_as_its_words(text: str, label: str) -> None:
    """VADER took "#BoycottAcme" for one unknown word: a crisis' hashtags carried no sentiment
    (found in review, 2026-12-07). The French scorer already read such a hashtag as its words."""
    assert EnglishScorer().score(text).label == label


@pytest.mark.parametrize("text", [
    "Leaving Acme... Never again", "Never again Acme", "Acme never again!!", "Done with acme, never again",
    "Never again will I buy from them", "Never again. Acme lost a customer",
    "Don't buy from Acme", "Do not buy anything from them", "Please don't shop at Acme",
    "Stay away from Acme", "steer clear of this company",
    "that's it, I'm switching to another provider. Done.", "We won't be back.",
    "Never going to be back at Acme", "I won't be renewing my Acme contract",
])
def test_a_vow_or_a_call_to_leave_is_negative(text: str) -> None:
    """A customer's vow to leave names no feeling: these were neutral (one positive), and a
    boycott's wave counted in no negative figure (2026-12-08)."""
    assert EnglishScorer().score(text).label == "negative"
    assert _SERVICE_RE.search(text)  # a phrase, whose first letter _SERVICE_RE's class lets through


@pytest.mark.parametrize(("text", "label"), [
    ("I will never again doubt you, great job", "positive"),  # inside its clause: no vow
    ("I never buy from anyone else", "neutral"),  # a loyal customer
    ("don't buy from anyone else, they are the best", "positive"),
    ("Never again have I had such a good coffee", "positive"),
    ("it will never happen again", "neutral"),
    ("we are moving to a new office", "neutral"),
    ("I won't be back at work until Monday", "neutral"),  # away, not leaving
    ("won't be back until 3pm, the shop is closed", "neutral"),
])
def test_what_a_vow_to_leave_is_not(text: str, label: str) -> None:
    assert EnglishScorer().score(text).label == label
