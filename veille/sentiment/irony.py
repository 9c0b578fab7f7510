"""Praise said of a failure is irony: it carries no praise.

An outage's wave of complaints is full of it: "Great, my internet is down again", "Thanks Acme
for another outage", "Awesome, still not working", "Génial, encore un bug", "Merci pour cette
panne". Each scorer read the praise word at face value and the complaint came out positive or
neutral, counted in no negative figure. Such a text's praise words are replaced by a word no
scorer values (brand_terms' placeholder), so that the failure alone is scored.

A text is ironic praise when it holds, in one language's words:

* a failing service ("outage", "crashes", "not working", "panne", "bug", "marche pas"...), and
* a praise word ("great", "thanks", "love", "bravo", "merci", "génial"...), and
* a sign that the praise is about the failure: a repetition ("again", "another", "still not",
  "every morning", "encore", "toujours pas", "une fois de plus"), or the praise addressed to the
  failure itself ("thanks for the outage", "bravo pour la panne"), or "love how", "j'adore quand";
* and no word of a repair ("fixed", "back up", "working again", "réparé", "rétabli",
  "fonctionne à nouveau"): "Thanks for fixing the outage so fast" is praise.

The rule is judgement, written from how customers complain: neither labelled corpus here holds
such a text (Hutto's 30 tweets with a praise word and a repetition are all sincere, "Another good
phone interview", which is why a failure word is required). The tests hold it both ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from veille.sentiment.brand_terms import placeholder_for


@dataclass(frozen=True, slots=True)
class IronyRule:
    """One language's words of ironic praise: each a regular expression alternation, in lower
    case, matched at word boundaries on the text in lower case."""

    #: Substrings one of which every failure holds: the cheap first test, where most texts stop.
    keys: tuple[str, ...]
    failure: str
    praise: str
    repeat: str
    repair: str
    #: What may stand between a praise word and the failure it is addressed to ("for the",
    #: "pour cette").
    link: str
    #: A negation before a repair word within two words: "not fixed", "toujours pas réparé".
    negation: str
    #: Words after the failure that make it a subject, not the thing praised: "thanks for the
    #: outage update".
    news: str

    def compile(self) -> Irony:
        def words(pattern: str) -> str:
            return rf"\b(?:{pattern})\b"
        failure, praise, repair = words(self.failure), words(self.praise), words(self.repair)
        # "thanks for the outage", "merci pour cette magnifique journée sans réseau": the praise,
        # maybe a name, a link word and at most two words that are no news, then the failure.
        about = (rf"{words(self.repeat)}|{praise}(?:\W+@?\w+)?\W+(?:{self.link})"
                 rf"(?:\W+(?!(?:{self.news})\b)\w+){{0,2}}?\W+{failure}(?!\W+(?:{self.news})\b)")
        undone = rf"{words(self.negation)}\W+(?:\w+\W+){{0,2}}?{repair}"
        keys = "|".join(map(re.escape, self.keys))
        return Irony(keys=re.compile(keys), failure=re.compile(failure), praise=re.compile(praise),
                     about=re.compile(about), repair=re.compile(repair), undone=re.compile(undone),
                     praise_any_case=re.compile(praise, re.IGNORECASE))


@dataclass(frozen=True, slots=True)
class Irony:
    """IronyRule compiled: the searches run on the lower-case text."""

    keys: re.Pattern[str]
    failure: re.Pattern[str]
    praise: re.Pattern[str]
    about: re.Pattern[str]
    repair: re.Pattern[str]
    undone: re.Pattern[str]
    praise_any_case: re.Pattern[str]

    def without_praise(self, text: str, lower: str) -> str:
        """`text` with its praise words replaced when it is ironic praise of a failure; else
        `text` itself (`lower` is its lower-case form)."""
        if self.keys.search(lower) is None:  # 1.3 µs a tweet; most texts stop here
            return text
        if (self.failure.search(lower) is None or self.praise.search(lower) is None
                or self.about.search(lower) is None):
            return text
        repairs = len(self.repair.findall(lower))
        if repairs and repairs > len(self.undone.findall(lower)):
            return text
        return _IRONIC_EMOJI.sub("", self.praise_any_case.sub(_neutral, text))


#: Emoji of ironic praise, taken out with the praise words ("merci pour cette journée sans
#: téléphone 👏👏"): applause and the upside-down face, with a skin tone or not.
_IRONIC_EMOJI: Final = re.compile("[\U0001F44F\U0001F643][\U0001F3FB-\U0001F3FF\uFE0F]?")


def _neutral(match: re.Match[str]) -> str:
    return " ".join(placeholder_for(word) for word in match.group().split())


ENGLISH: Final = IronyRule(
    keys=("outage", "crash", "down", "work", "broke", "fail", "bug", "glitch", "error", "lag",
          "unusable", "offline", "froze", "freez", "cancel", "delay", "no ", "without"),
    failure=r"outages?|crash(?:es|ed|ing)?|(?:does|do|is|are|wo|was)\s*n[o']?t\s+work(?:s|ing)?"
            r"|not\s+working|stopped\s+working|(?:down|offline)\s+again|still\s+(?:down|offline)"
            r"|broken|broke\s+down|fail(?:s|ed|ing|ure)|bugs?|buggy|glitch(?:es|y)?|errors?"
            r"|lag(?:s|gy|ging)?|unusable|froze|freez(?:es|ing)|cancell?ed|delayed|delays?"
            r"|(?:no|without)\s+(?:signal|service|network|internet|wifi|bars|reception|coverage|data"
            r"|power|phone)",
    praise=r"great|awesome|wow|thanks|thank\s+you|thx|love|loving|nice|perfect|brilliant|wonderful"
           r"|fantastic|excellent|amazing|lovely|well\s+done|good\s+job|great\s+job|bravo|kudos"
           r"|congrats|congratulations|lol|lmao|lmfao|rofl",
    repeat=r"again|another|yet\s+again|once\s+more|as\s+(?:usual|always)"
           r"|still\s+(?:not|down|broken|offline|crash\w*|fail\w*|lag\w*|buggy|unusable|waiting)"
           r"|every\s+(?:time|day|morning|night|evening|week|hour)|for\s+the\s+\w+\s+time"
           r"|love\s+how|love\s+it\s+when|loving\s+how",
    repair=r"fixed|fixes|fixing|resolved|restored|solved|sorted|repaired|patched|back\s+(?:up|online)"
           r"|(?:working|works|up|online)\s+again|is\s+over",
    link=r"(?:for|on|with|about)(?:\W+(?:the|this|that|your|these|those|another|yet\s+another|\w+'s))?",
    negation=r"not|never|no|n't|yet\s+to|still\s+not|isn't|hasn't|haven't|wasn't|aren't",
    news=r"updates?|info|news|notice|notifications?|messages?|alerts?|reports?|status|page",
)

FRENCH: Final = IronyRule(
    keys=("panne", "bug", "plant", "crash", "marche", "fonctionne", "répon", "repon", "coupure",
          "rade", "retard", "annul", "injoignable", "hors service", "seau", "internet", "connexion",
          "wifi", "signal", "courant", "ligne", "phone", "capte"),
    failure=r"pannes?|bug(?:s|ue|gue|ué|gué|gé|ge)?|plantages?|plant[ée]e?|crash(?:e|é)?"
            r"|(?:marche|marchent|fonctionne|fonctionnent)\s+(?:toujours\s+)?(?:pas|plus)"
            r"|(?:pas\s+de|aucune|sans)\s+r[ée]ponse|coupures?|en\s+rade|hors\s+service"
            r"|retards?|annul(?:é|e|ée|és|ées|ation)|injoignables?"
            r"|(?:(?:pas|plus)\s+(?:de\s+|d['’])|sans\s+|z[ée]ro\s+|aucune?\s+)(?:r[ée]seau|internet"
            r"|connexion|wifi|signal|courant|ligne|t[ée]l[ée]phone)|capte(?:nt)?\s+(?:pas|plus|rien)",
    praise=r"merci|bravo|super|g[ée]nial(?:e|es|s)?|parfait(?:e|es|s)?|top|excellent(?:e|es|s)?"
           r"|chapeau|f[ée]licitations?|magnifique|formidable|j['’]adore|adore|trop\s+bien"
           r"|bien\s+jou[ée]|champions?",
    repeat=r"encore|toujours\s+(?:pas|en\s+panne|aucune?|rien|le\s+m[êe]me)|une\s+fois\s+de\s+plus"
           r"|[àa]\s+nouveau|de\s+nouveau|comme\s+d['’]hab(?:itude)?"
           r"|chaque\s+(?:jour|fois|matin|soir|semaine)|tous\s+les\s+(?:jours|matins|soirs)"
           r"|j['’]adore\s+(?:quand|comment)",
    repair=r"r[ée]par[ée]e?s?|r[ée]tabli(?:e|s|es)?|r[ée]solue?s?|r[ée]gl[ée]e?s?|corrig[ée]e?s?"
           r"|remarche|refonctionne|(?:marche|fonctionne)\s+(?:[àa]\s+nouveau|de\s+nouveau)"
           r"|de\s+retour|termin[ée]e?",
    negation=r"pas|jamais|plus|point|toujours\s+pas",
    news=r"infos?|informations?|messages?|mise|alertes?|statut|page",
    link=r"(?:pour|de|avec|sur)(?:\W+(?:la|le|les|l|ce|cet|cette|ces|ta|ton|tes|votre|vos|une|un"
         r"|encore\s+une|encore\s+un))?",
)
