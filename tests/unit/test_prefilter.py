"""The RE2 prefilter of moderation triage: it never rules out a pattern that matches, and triage
gives the same verdicts with it as without it."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from veille.moderation import triage as triage_module
from veille.moderation.triage import triage
from veille.prefilter import Prefilter, UnsupportedPattern, relax

ROOT = Path(__file__).resolve().parents[2]
RULE_SETS = {"en": triage_module._EN, "fr": triage_module._FR}
#: Phrases that set off each rule (from tests/unit/test_triage.py's cases), and cues around them.
TRIGGERS = (
    "t'es vraiment qu'un abruti", "Sale connard", "you're such a moron", "go fuck yourself",
    "je vais te buter si je te croise", "I'm going to kill you", "kys loser",
    "retourne dans ton pays", "les migrants sont des parasites", "go back to your country",
    "Gagnez 300€ par jour depuis chez vous, écrivez-moi sur WhatsApp",
    "Votre compte sera suspendu, vérifiez vos informations sur acme-login.xyz",
    "Earn $500 a day from home, link in bio", "Free iPhone giveaway, claim here bit.ly/xyz123",
    "VOUS VOUS FOUTEZ DE NOUS", "you people are unbelievable", "#BoycottBoreal, partagez massivement",
    "Je n'achèterai plus jamais chez Acme", "Sign the petition against Acme's new fees",
    "Never buying from Acme again", "toujours aucune réponse à ma réclamation",
    "Colis jamais reçu, vous pouvez vérifier ?", "still waiting for my refund",
    "ta gueule", "shut up", "you're not an idiot", "il m'a traité de connard",
    "he called me an idiot", "t'es une bête", "c0nnard", "a$$hole", "nuuuul", "1diot",
    "idiot !", ", idiot.", "« connard »", '"moron"', "casse-toi", "ras-le-bol", "remboursement",
    "arnaque", "scam", "never again", "plus jamais", "what a joke", "you clowns", "bande de nazes",
)
CUES = ("not", "pas", "never", "so", "really", "!!!", "???", "...", ",", "@acme", "#acme", "😡",
        "🤬", "—", "’", "'", "-", "\n", "\t", "", "ÇA", "déçu", "https://t.co/x", "www.acme.fr")


def demo_texts() -> list[str]:
    path = ROOT / "veille" / "data" / "demo_mentions.jsonl"
    return [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]


def corpus(n: int, seed: int = 3) -> list[str]:
    """The shipped demo texts, and texts mixing them with every rule's trigger phrases, cues,
    capitals, leetspeak and stretched letters."""
    rng = random.Random(seed)
    base = demo_texts()
    leet = str.maketrans({"a": "4", "e": "3", "o": "0", "i": "1", "s": "$"})
    out = list(base) + list(TRIGGERS)
    while len(out) < n:
        parts = [rng.choice(base)[: rng.randint(0, 80)]]
        for _ in range(rng.randint(1, 3)):
            phrase = rng.choice(TRIGGERS)
            r = rng.random()
            if r < 0.15:
                phrase = phrase.upper()
            elif r < 0.3:
                phrase = phrase.translate(leet)
            elif r < 0.4:
                k = rng.randrange(len(phrase))
                phrase = phrase[:k] + phrase[k] * rng.randint(2, 5) + phrase[k:]
            parts += [rng.choice(CUES), phrase, rng.choice(CUES)]
        out.append(rng.choice((" ", "", "  ")).join(parts))
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus(12_000)


def test_a_pattern_that_matches_is_never_ruled_out(texts: list[str]) -> None:
    checked = 0
    for language, rules in RULE_SETS.items():
        patterns = [getattr(rules, name) for name in triage_module._SCREENED]
        prefilter = Prefilter(patterns)
        for text in texts:
            norm = triage_module.normalise(triage_module.fold(text))[1]
            found = prefilter.candidates(norm)
            assert found is not None
            for i, pattern in enumerate(patterns):
                if pattern.search(norm):
                    checked += 1
                    assert i in found, (language, triage_module._SCREENED[i], norm)
    assert checked > 5_000  # the corpus does set the rules off
    # The spam checks' ways out (a link, a shortener, a contact), screened on the base text.
    ways_out = Prefilter(triage_module._WAYS_OUT)
    hits = 0
    for text in texts:
        base = triage_module.normalise(triage_module.fold(text))[0]
        found = ways_out.candidates(base)
        assert found is not None
        for i, pattern in enumerate(triage_module._WAYS_OUT):
            if pattern.search(base):
                hits += 1
                assert i in found, base
    assert hits > 1_000


def test_triage_gives_the_same_verdicts_with_and_without_the_prefilter(
        texts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    cases = [(t, rng.choice(("en", "fr", "und")), *rng.choice((("negative", -0.6), ("neutral", 0.0),
                                                              ("positive", 0.6))))
             for t in texts]
    screened = [triage(t, lang, label, compound, ("acme",)) for t, lang, label, compound in cases]
    # Every prefilter answering "cannot tell": triage then runs every pattern.
    monkeypatch.setattr(Prefilter, "candidates", lambda self, text: None)
    every = [triage(t, lang, label, compound, ("acme",)) for t, lang, label, compound in cases]
    assert screened == every
    assert sum(1 for v in every if v.categories) > 3_000


def test_most_plain_texts_need_no_rule_pattern() -> None:
    # Else the prefilter saves nothing: a relaxation that matched everything would pass the
    # tests above.
    prefilter = Prefilter([getattr(triage_module._FR, n) for n in triage_module._SCREENED])
    plain = [triage_module.normalise(triage_module.fold(t))[1] for t in demo_texts()]
    nothing = sum(1 for norm in plain if prefilter.candidates(norm) == {prefilter.size})
    assert nothing > 0.6 * len(plain)


@pytest.mark.parametrize("pattern", [
    r"(?<![\w@#])(?:idiot|moron)s?(?!\w)",
    r"^\s*(?:hello|hi)\b.*?$",
    r"[^\W\d_]{3,}\d+",
    r"(?:a|b)+?c{2,4}[^x]",
    r"(?s)start.end",
    r"(?=foo)fo+(?<=o)",
    r"[\s\S]caf[ée]",
    r"(?x) spaced \s+ out  # comment",
])
def test_relaxation_is_a_superset_on_random_text(pattern: str) -> None:
    compiled = re.compile(pattern)
    prefilter = Prefilter([compiled])
    rng = random.Random(pattern)
    alphabet = list("abcfhilmnorstdeixyz_09 \n\t.#@!?") + ["é", "É", "ß", "😡", "\u00a0", "٣"]
    words = ["idiot", "moron", "hello", "hi", "start", "end", "foo", "café", "spaced", "out",
             "aac", "bccc", "abcccc", "start\nend", "startxend", "spaced out", "spaced\tout"]
    matched = 0
    for _ in range(3_000):
        text = "".join(rng.choice(words) if rng.random() < 0.3 else rng.choice(alphabet)
                       for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.3:
            text = rng.choice(("", " ", "\n")) + rng.choice(words) + text
        found = prefilter.candidates(text)
        assert found is not None
        if compiled.search(text):
            matched += 1
            assert 0 in found, text
    assert matched > 25


def test_unsupported_patterns_are_refused() -> None:
    with pytest.raises(UnsupportedPattern):
        relax(re.compile("abc", re.IGNORECASE))
    with pytest.raises(UnsupportedPattern):
        relax(re.compile(r"(a)\1"))
    with pytest.raises(UnsupportedPattern):
        relax(re.compile(r"(?i:abc)"))


def test_a_set_too_large_for_its_memory_budget_is_refused() -> None:
    patterns = [getattr(triage_module._FR, n) for n in triage_module._SCREENED]
    with pytest.raises(UnsupportedPattern, match="RE2 cannot compile"):
        Prefilter(patterns, max_mem=1 << 20)


def test_a_text_re2_cannot_read_falls_back_to_every_pattern() -> None:
    prefilter = Prefilter([re.compile("connard")])
    assert prefilter.candidates("sale connard \ud83d") is None  # a lone surrogate
    assert triage("sale connard \ud83d", "fr", "negative", -0.6, ("acme",)).categories == (
        "insult", "aggressive")


def test_a_search_re2_could_not_finish_falls_back_to_every_pattern() -> None:
    # RE2::Set reports a failed search (its DFA out of memory) as no match at all, and the
    # Python binding gives no error: the always-matching sentinel tells the two apart. A failure
    # cannot be provoked on purpose (the DFA cache is reset and the search goes on), so the
    # set's answer is replaced by what such a failure returns.
    prefilter = Prefilter([re.compile("connard")])
    assert prefilter.candidates("sale connard") == {0, prefilter.size}
    assert prefilter.candidates("bonjour") == {prefilter.size}

    class Failed:
        def Match(self, text: str) -> None:  # noqa: N802 (RE2's name)
            return None

    prefilter._set = Failed()
    assert prefilter.candidates("sale connard") is None


def test_a_bounded_repeat_is_relaxed_to_its_lower_bound() -> None:
    # RE2 writes x{1,3} out as xx?x?: triage's bounded lexicon made sets three times larger.
    assert relax(re.compile("ab{1,3}c")) == relax(re.compile("ab+c")) == r"\x{61}(?:\x{62}){1,}\x{63}"
    assert relax(re.compile(r"(?:\w+\s+){0,2}?x")) == relax(re.compile(r"(?:\w+\s+)*x"))


#: A child process builds triage's prefilters and prints how much its resident memory grew.
BUILD_PREFILTERS = """
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from veille.moderation import triage
before = rss()
triage.prepare()
print(rss() - before)
"""


def test_triages_prefilters_cost_a_worker_little_memory() -> None:
    """44 MB with the lexicon's bounded repeats written out, 14 MB relaxed."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", BUILD_PREFILTERS], capture_output=True, text=True,
                         check=True)
    grew_mb = float(out.stdout)
    assert grew_mb < 25, f"building the prefilters grew RSS by {grew_mb:.1f} MB"
