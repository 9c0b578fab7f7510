"""French VADER-style sentiment scorer on the vendored vadersentiment-fr lexicon, stdlib only."""

# The algorithm follows VADER (Hutto & Gilbert, ICWSM 2014, MIT licence): per-token valences
# from a lexicon, adjusted by boosters, negation, ALL-CAPS, "but" contrast and punctuation,
# summed and squashed with x / sqrt(x^2 + 15). The lexicon and emoji descriptions come from
# vadersentiment-fr 1.3.4 (MIT, see data/LICENSE-vadersentiment-fr.txt); the rules below are
# our own French rules. None of that package's code, nor its GPL dependencies (fuzzywuzzy,
# Unidecode), is used.

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from importlib.resources import files
from itertools import compress
from typing import Final

from veille.sentiment.base import Sentiment
from veille.sentiment.emoji import EMOJI_VALENCE, SKIN_AND_VS_RE
from veille.sentiment.irony import FRENCH as FRENCH_IRONY

# --- VADER constants (empirically derived by Hutto & Gilbert; kept so scores stay comparable) ---
B_INCR: Final = 0.293
B_DECR: Final = -0.293
C_INCR: Final = 0.733
N_SCALAR: Final = -0.74
ALPHA: Final = 15.0
#: Window (in tokens) in which a booster or a negation reaches a sentiment word, as in VADER.
WINDOW: Final = 3
#: Emojis not rated by hand are scored from their description, capped so one glyph cannot dominate.
EMOJI_CAP: Final = 2.0

# --- token roles ---------------------------------------------------------------------------
R_NONE: Final = 0
R_NEG: Final = 1  # negates on its own: pas, jamais, rien, sans, aucun...
R_NEG_NE: Final = 2  # negates only as the second half of "ne ... X": plus, point, personne
R_NE: Final = 3  # "ne" / "n'": opens a negation that a completion must confirm
R_BOOST: Final = 4  # intensifier / dampener only
R_DUAL: Final = 5  # booster before a sentiment word, else a sentiment word (super, bien, fort)
R_CONTRAST: Final = 6  # mais & co: VADER's "but" rule
R_PEU: Final = 7  # "peu" negates ("peu fiable" = unreliable) unless in "un peu" (a dampener)
R_NON: Final = 8  # "non" negates the very next word only ("non conforme")

NEGATORS: Final = frozenset(
    {"pas", "jamais", "rien", "aucun", "aucune", "aucuns", "aucunes", "nullement", "aucunement",
     "sans", "ni", "guere", "zero"}  # "zéro problème" is praise, "zéro respect" a complaint
)
NE_ONLY_NEGATORS: Final = frozenset({"plus", "point", "personne"})
#: Role words that are English as written ("zero": French writes "zéro"): no French word for the
#: language detector's vote (`knows`), which would take "zero stars" for French.
_ENGLISH_AS_WRITTEN: Final = frozenset({"zero"})
#: Negative subjects that complete a "ne" after them: "personne n'est content", "aucun client
#: n'est satisfait", "nul n'est satisfait" (until 2026-12-05 only a completion after "ne"
#: counted, and these scored as "content"). Not after a determiner: "la personne n'est ...".
NE_SUBJECTS: Final = frozenset({"personne", "rien", "aucun", "aucune", "nul", "nulle"})
_DETERMINERS: Final = frozenset({"la", "une", "cette", "chaque", "toute", "sa", "ma", "ta",
                                 "notre", "votre", "leur"})
#: Words that confirm a preceding "ne" as a negation ("ne ... que" is restrictive, not negative).
NE_COMPLETIONS: Final = (NEGATORS - {"sans"}) | NE_ONLY_NEGATORS
#: Formal French drops "pas" after these verbs: "il ne peut accepter", "je ne sais dire".
_NE_ALONE_TEXT: Final = """
    peut peux peuvent pouvait pouvaient pourra pourront pourrait pourraient pouvons pouvez
    sait sais savent savait savaient saura sauront saurait sauraient ose osent osait osera
    cesse cessent cessait cessera
"""
NE_ALONE_VERBS: Final = frozenset(_NE_ALONE_TEXT.split())
#: "jamais aussi bon" means "never this good": VADER's "never so/this" rule, in French.
NEVER_SO: Final = frozenset({"aussi", "si", "autant", "tant", "plus"})
#: "rien de mieux" / "rien de tel" mean "nothing better": the comparative is not negated.
COMPARATIVES: Final = frozenset(
    {"plus", "mieux", "meilleur", "meilleure", "meilleurs", "meilleures", "tel", "telle", "pire"}
)
#: Particles after which "pas" binds to the following noun ("pas de souci"), not the preceding verb.
FORWARD_BINDING: Final = frozenset({"de", "du", "assez", "si", "aussi"})
#: Spoken "plus" after a sentiment verb negates it ("j'aime plus cette marque") before these.
SPOKEN_PLUS_BEFORE: Final = frozenset(
    {"le", "la", "les", "ce", "cet", "cette", "ces", "ca", "cela", "mon", "ma", "mes", "ton", "ta",
     "tes", "son", "sa", "ses", "notre", "nos", "votre", "vos", "leur", "leurs", "rien", "jamais"}
)
#: After "pas", a determiner binds "pas" to the noun only when a sentiment word follows it
#: ("pas la moindre erreur"); otherwise "pas" negates the verb before it ("j'aime pas la pluie").
PAS_DETERMINERS: Final = frozenset({"le", "la", "les", "un", "une", "des"})

BOOSTERS: Final[dict[str, float]] = {
    # intensifiers (folded spelling: accents are stripped before the lookup)
    "absolument": B_INCR, "archi": B_INCR, "beaucoup": B_INCR, "bigrement": B_INCR,
    "carrement": B_INCR, "completement": B_INCR, "drolement": B_INCR, "enormement": B_INCR,
    "entierement": B_INCR, "excessivement": B_INCR, "extremement": B_INCR, "fortement": B_INCR,
    "franchement": B_INCR, "grandement": B_INCR, "hautement": B_INCR, "hyper": B_INCR,
    "incroyablement": B_INCR, "infiniment": B_INCR, "mega": B_INCR, "particulierement": B_INCR,
    "profondement": B_INCR, "rudement": B_INCR, "sacrement": B_INCR, "serieusement": B_INCR,
    "si": B_INCR, "tant": B_INCR, "tellement": B_INCR, "terriblement": B_INCR,
    "totalement": B_INCR, "tres": B_INCR, "trop": B_INCR, "ultra": B_INCR, "vachement": B_INCR,
    "vivement": B_INCR, "vraiment": B_INCR,
    # dampeners
    "assez": B_DECR, "moins": B_DECR, "moyennement": B_DECR, "legerement": B_DECR,
    "plutot": B_DECR, "presque": B_DECR, "quasi": B_DECR, "quasiment": B_DECR,
    "relativement": B_DECR,
}
#: Boosters that are also sentiment words on their own ("c'est super" vs "super content").
DUAL_BOOSTERS: Final[dict[str, float]] = {
    "super": B_INCR, "bien": B_INCR, "fort": B_INCR, "grave": B_INCR,
}
#: "si" is mostly "if": only treat it as "so" right before the sentiment word ("si beau").
SHORT_REACH: Final = frozenset({"si"})
CONTRASTS: Final = frozenset({"mais", "cependant", "pourtant", "toutefois", "neanmoins"})
#: "mais aussi" / "mais encore" add rather than oppose.
NOT_CONTRAST_AFTER: Final = frozenset({"aussi", "encore", "egalement", "surtout"})

#: Elided and SMS forms mapped to the full word so that rules see "ne", "pas"...
ALIASES: Final[dict[str, str]] = {
    "l": "le", "d": "de", "j": "je", "n": "ne", "c": "ce", "s": "se", "m": "me", "t": "te",
    "qu": "que", "jusqu": "jusque", "lorsqu": "lorsque", "puisqu": "puisque", "quoiqu": "quoique",
    "pa": "pas", "jamai": "jamais", "bcp": "beaucoup", "tjr": "toujours", "tjrs": "toujours",
    "vrmt": "vraiment", "vraiement": "vraiment", "tro": "trop", "tt": "tout",
    "jsuis": "je", "chuis": "je", "ya": "y", "pk": "pourquoi", "pq": "pourquoi",
}

#: Frequent words that never carry sentiment: skip the lexicon and the inflection guesses entirely.
#: It also guards against false friends of the translated lexicon (e.g. "prix" scored as "prize").
_NEUTRAL_TEXT: Final = """
    le la les un une des de du au aux et ou est sont etait etaient ete etre avoir a ai as ont
    avait avaient il ils elle elles on nous vous je tu me te se moi toi lui leur leurs ce cet
    cette ces ca cela ceci qui que quoi dont y en sa son ses mon ma mes ton ta tes notre nos
    votre vos pour par avec dans sur sous chez vers entre depuis pendant apres avant contre
    selon via fait faire font dit dire va vont aller peut peuvent doit faut veut sait voir vu
    tout tous toute toutes aussi encore deja ici alors donc car quand comme comment pourquoi
    rt http https www gens temps fois part prix certains certaines certain certaine juste ah oh
    svp stp energie energies energetique energetiques nouveau nouvelle nouveaux nouvelles unis
    impression forme mode source sources habitants nouvel relance relances
"""
NEUTRAL_WORDS: Final = frozenset(_NEUTRAL_TEXT.split())

#: Hand-written supplement (VADER scale, -4..4) for social-media French missing from, or
#: mis-scored by, the translated lexicon. Keys keep accents; lookups also match without them.
SUPPLEMENT: Final[dict[str, float]] = {
    # praise and colloquial positives
    "bravo": 2.6, "génial": 3.0, "géniale": 3.0, "géniaux": 3.0, "géniales": 3.0,
    "top": 1.8, "super": 2.2, "cool": 1.6, "sympa": 1.8, "sympathique": 1.6,
    "parfait": 2.6, "parfaite": 2.6, "parfaits": 2.6, "parfaites": 2.6,
    "incroyable": 1.8, "incroyables": 1.8, "excellent": 2.8, "excellente": 2.8,
    "adore": 2.8, "adorer": 2.8, "adores": 2.8, "adorent": 2.8, "adoré": 2.8, "adorée": 2.8,
    "kiffe": 2.2, "kiffer": 2.2, "kiffes": 2.2, "kiffent": 2.2, "kiffé": 2.2, "kif": 1.8,
    "chanmé": 2.0, "ouf": 1.0, "youpi": 2.2, "waouh": 2.0, "wahou": 2.0, "ouah": 1.5,
    "félicitations": 2.5, "félicitation": 2.5, "merci": 1.8, "remerciements": 1.8,
    "heureusement": 1.5, "hâte": 1.5, "fort": 1.0, "bien": 1.0, "force": 0.5, "propre": 0.8,
    "content": 2.5, "contente": 2.5, "contents": 2.5, "contentes": 2.5,
    "satisfait": 2.0, "satisfaite": 2.0, "satisfaits": 2.0, "satisfaites": 2.0,
    "magnifique": 2.8, "merveilleux": 2.8, "merveilleuse": 2.8,
    # "stunning", scored -0.8 in the translated lexicon (from "stunned"?)
    "époustouflant": 2.5, "époustouflante": 2.5, "époustouflants": 2.5, "époustouflantes": 2.5,
    # customer-service praise missing from the translated lexicon ("le SAV a été nickel")
    "impeccable": 2.5, "impeccables": 2.5, "nickel": 2.0,
    # laughter: ambiguous (often mockery), so nearly neutral rather than VADER's +2..3
    "mdr": 0.4, "lol": 0.4, "ptdr": 0.4, "xd": 0.4, "haha": 0.6, "hahaha": 0.6, "ahah": 0.6,
    "ahahah": 0.6, "hihi": 0.6, "jpp": 0.0,
    # complaints, insults, boycott
    "nul": -2.3, "nulle": -2.3, "nuls": -2.3, "nulles": -2.3, "nullité": -2.2, "naze": -1.8,
    "nase": -1.8, "arnaque": -2.7, "arnaques": -2.7, "arnaquer": -2.5, "arnaqué": -2.5,
    "arnaqueur": -2.7, "arnaqueurs": -2.7, "honteux": -2.4, "honteuse": -2.4, "honteuses": -2.4,
    "scandale": -2.2, "scandales": -2.2, "scandaleux": -2.5, "scandaleuse": -2.5,
    "déçu": -2.0, "déçue": -2.0, "déçus": -2.0, "déçues": -2.0, "décevant": -2.2,
    "décevante": -2.2, "décevants": -2.2, "décevantes": -2.2, "déception": -2.0,
    "déceptions": -2.0, "remboursez": -1.5, "boycott": -1.8, "boycotter": -1.8,
    "boycottez": -1.8, "boycottons": -1.8, "pourri": -2.2, "pourrie": -2.2, "pourris": -2.2,
    "merdique": -2.5, "dégueulasse": -2.6, "dégueu": -2.2, "dégoûté": -2.0, "dégoûtée": -2.0,
    "dégoûtant": -2.2, "galère": -1.6, "galères": -1.6, "galérer": -1.5, "énervé": -2.0,
    "énervée": -2.0, "énervés": -2.0, "énerve": -2.0, "énervant": -2.2, "relou": -1.6,
    "chiant": -2.0, "chiante": -2.0, "chiants": -2.0, "saoulant": -1.8, "gonflant": -1.5,
    "bof": -0.8, "pff": -1.2, "grr": -1.2, "argh": -1.2, "beurk": -1.8, "berk": -1.8,
    "inadmissible": -2.5, "inacceptable": -2.5, "lamentable": -2.5, "minable": -2.2,
    "pitoyable": -2.3, "ridicule": -1.8, "ridicules": -1.8, "escroc": -2.5, "escrocs": -2.5,
    "idiot": -1.8, "idiots": -1.8, "idiote": -1.8, "imbécile": -2.0, "imbéciles": -2.0,
    "crétin": -2.0, "crétins": -2.0, "abruti": -2.0, "abrutis": -2.0, "débile": -2.0,
    "bouffon": -1.5, "bouffons": -1.5, "incompétence": -2.0, "horrible": -2.5,
    "horribles": -2.5, "affreux": -2.3, "affreuse": -2.3, "mensonge": -1.8, "mortel": -1.5,
    "mortelle": -1.5, "mortels": -1.5, "mortelles": -1.5, "marre": -2.0, "honte": -2.3,
    "déteste": -2.5, "détester": -2.5, "détestent": -2.5, "hais": -2.5,
    # a service failing, as customers say it ("en panne depuis 3 jours" was neutral; the 6 DEFT
    # tweets with "panne" are all rated negative by their annotators)
    "panne": -1.8, "pannes": -1.8, "bug": -1.2, "bugs": -1.2, "bugue": -1.2, "buggue": -1.2,
    "bugué": -1.2, "buggé": -1.2, "plantage": -1.5, "plantages": -1.5, "injoignable": -1.5,
    "injoignables": -1.5, "résilier": -1.0, "résilie": -1.0, "résilié": -1.0,
    "résiliation": -1.0, "fuyez": -2.0, "coupure": -1.0, "coupures": -1.0,
    # a dirty place, a food scandal (review of a café's hygiene scandal, 2026-12-07: "des
    # cafards dans la cuisine", "insalubre" were neutral); not "sale", also slang praise
    "cafard": -1.5, "cafards": -1.5, "rats": -1.5, "insalubre": -2.2, "insalubres": -2.2,
    "moisi": -1.8, "moisie": -1.8, "moisis": -1.8, "moisies": -1.8, "périmé": -1.5,
    "périmée": -1.5, "périmés": -1.5, "périmées": -1.5, "crasseux": -2.0, "crasseuse": -2.0,
    "asticots": -2.0, "intoxiqué": -2.0, "intoxiquée": -2.0, "intoxiqués": -2.0, "vomi": -2.0,
    # "cher" is mostly "expensive" in reviews; "dear" in greetings is rare and harmless at -0.6
    "cher": -0.6, "chère": -0.6, "chers": -0.6, "chères": -0.6,
}

#: What an outage leaves customers without, in PHRASES ("pas de réseau", "plus d'internet").
_NETWORK: Final = ("réseau", "internet", "connexion", "wifi", "signal", "courant", "ligne",
                   "tonalité", "téléphone")

#: Buying there, in a call or a vow not to (in PHRASES: "n'achetez plus", "je n'achèterai jamais").
_NOT_BUYING: Final = ("achetez", "achèterai", "achèterons", "commandez", "commanderai",
                      "commanderons", "achetons", "commandons")


def _ne(verb: str) -> str:
    """The verb after "ne", elided before a vowel: "n'achetez", "ne commandez"."""
    return f"n'{verb}" if verb[0] in "aeéiouy" else f"ne {verb}"


#: Multi-word expressions (matched on folded tokens, elisions expanded) with their own valence;
#: 0.0 marks idioms whose words must not be scored ("sans doute", "nulle part"...).
PHRASES: Final[dict[str, float]] = {
    "pas terrible": -1.6, "pas top": -1.5, "pas fou": -1.2, "pas mal": 1.2, "pas mal de": 0.0,
    "pas cher": 1.5, "pas chère": 1.5, "pas chers": 1.5, "pas chères": 1.5,
    "moins cher": 1.2, "moins chère": 1.2, "moins chers": 1.2,
    "sans doute": 0.0, "sans aucun doute": 0.0, "nul doute": 0.0, "nulle part": 0.0, "nul ne": 0.0,
    "match nul": 0.0, "sans cesse": 0.0, "sans arrêt": 0.0, "non plus": 0.0, "non seulement": 0.0,
    "c'est mortel": 2.0, "c'était mortel": 2.0, "trop mortel": 2.0, "trop bien": 2.4,
    "trop cool": 2.4, "trop fort": 2.2, "au top": 2.4, "j'ai hâte": 1.8,
    # Praise slang whose words are violent in the translated lexicon ("tuerie" is a massacre,
    # "bombe" a bomb): a new ad that "est une tuerie" is loved, not a complaint to answer.
    # Only the set forms: "ils ont posé une bombe" keeps its words.
    "c'est une tuerie": 2.4, "est une tuerie": 2.4, "c'était une tuerie": 2.4,
    "c'est une bombe": 2.0, "est une bombe": 2.0, "une vraie bombe": 2.0,
    "ça déchire": 2.2, "il déchire": 2.0, "elle déchire": 2.0, "ça arrache": 1.8,
    "à tomber": 2.0, "à mourir de rire": 2.0, "mort de rire": 2.0, "morte de rire": 2.0,
    "bien sûr": 0.3, "bien que": 0.0, "eh bien": 0.0, "ou bien": 0.0, "bien entendu": 0.0,
    "bien des": 0.0, "bien de": 0.0, "si bien que": 0.0, "ah bon": 0.0,
    "au moins": 0.0, "du moins": 0.0, "à moins": 0.0, "à peine": 0.0, "à peu près": 0.0,
    "plus ou moins": 0.0, "de plus": 0.0, "en plus": 0.0, "de rien": 0.0, "rien à voir": 0.0,
    "ras le bol": -2.2, "en ai assez": -1.8, "en a assez": -1.8, "en avons assez": -1.8,
    "foutage de gueule": -2.6, "n'importe quoi": -1.2, "nul à chier": -3.0,
    "te faire foutre": -3.0, "tant pis": -0.8, "tant mieux": 1.5, "quelle honte": -2.8,
    "coup de coeur": 2.5, "coup de gueule": -1.8, "laisse à désirer": -1.8,
    "vaut le coup": 1.5, "vaut pas le coup": -1.5, "peut mieux faire": -1.2,
    "peux mieux faire": -1.2, "pourrait mieux faire": -1.2, "aurait pu mieux faire": -1.2,
    # "hats off": praise ("bas" alone is a low, a negative word); chapeau alone stays a hat
    "chapeau bas": 2.5, "au poil": 1.8, "aux petits oignons": 2.0,
    # A problem solved is good news, not a complaint ("problème" alone is negative); a
    # negation before it still turns it ("n'a pas réglé mon problème").
    "problème réglé": 1.5, "problème résolu": 1.5, "problèmes réglés": 1.5,
    "problèmes résolus": 1.5, "réglé mon problème": 1.5, "résolu mon problème": 1.5,
    "réglé le problème": 1.5, "résolu le problème": 1.5, "réglé mes problèmes": 1.5,
    "résolu mes problèmes": 1.5,
    # A service that does not work, an answer that does not come: "ça marche pas", "toujours pas
    # de réponse" were neutral ("marche", "réponse" are no sentiment words to negate).
    "marche pas": -1.5, "marche plus": -1.5, "marchent pas": -1.5, "marchent plus": -1.5,
    "marche toujours pas": -1.8, "marchent toujours pas": -1.8,
    "fonctionne pas": -1.5, "fonctionne plus": -1.5, "fonctionnent pas": -1.5,
    "fonctionnent plus": -1.5, "fonctionne toujours pas": -1.8, "fonctionnent toujours pas": -1.8,
    "pas de réponse": -1.2, "aucune réponse": -1.2, "sans réponse": -1.2, "merci pour rien": -2.0,
    "rien ne marche": -1.8, "rien ne fonctionne": -1.8,
    # "en rade" (broken down) read as its "rade" (a harbour, +0.6); "hors service" as nothing
    "en rade": -1.5, "hors service": -1.5, "coupure de presse": 0.0, "coupures de presse": 0.0,
    # ... but "pas mal" is praise and "pas à pas" a way of walking: the longer phrase wins.
    "marche pas mal": 1.2, "marchent pas mal": 1.2, "fonctionne pas mal": 1.2,
    "fonctionnent pas mal": 1.2, "marche pas à pas": 0.0,
    # No network, as customers say it in an outage ("j'ai pas de réseau depuis ce matin", "zéro
    # réseau", "plus d'internet", "ça capte pas" were neutral: found in a review of an outage's
    # texts, 2026-12-07); "plus de réseau que moi" compares, and stays neutral.
    **{f"{lack} {thing}": -1.5 for thing in _NETWORK
       for lack in ("pas de", "plus de", "sans", "zéro", "aucun", "aucune")},
    **{f"plus de {thing} que": 0.0 for thing in _NETWORK},
    "pas d'internet": -1.5, "plus d'internet": -1.5, "plus d'internet que": 0.0,
    "capte pas": -1.5, "capte plus": -1.5, "capte rien": -1.5, "captent pas": -1.5,
    "captent plus": -1.5, "toujours rien": -1.2,
    # A call or a vow not to buy there again ("N'achetez plus chez Acme", "je n'achèterai plus
    # jamais chez eux", "je ne remettrai plus les pieds chez Acme" were neutral: 2026-12-08).
    **{f"{_ne(verb)} {never}": -1.8
       for verb in _NOT_BUYING for never in ("plus", "rien", "pas", "jamais", "plus jamais",
                                             "plus rien", "jamais plus", "jamais rien")},
    # "je ne reviendrai pas", "n'y retournerai plus", "je ne recommanderai pas" (a review's last
    # word), "je ne renouvellerai pas mon abonnement"
    **{f"{ne} {verb} {never}": -1.5
       for ne in ("ne", "n'y") for verb in ("reviendrai", "reviendrons", "retournerai", "retournerons",
                                            "recommanderai", "recommanderons", "renouvellerai",
                                            "renouvellerons", "reprendrai")
       for never in ("pas", "plus", "jamais", "plus jamais", "jamais plus")},
    "ne reviendrai pas sur": 0.0, "ne reviendrai plus sur": 0.0,  # a subject, not a place
    **{f"{ne} {verb} {never} les pieds": -2.0
       for ne in ("ne", "n'y") for verb in ("remettrai", "mettrai", "remettrons", "mettrons",
                                            "remettez", "mettez")
       for never in ("plus", "jamais", "plus jamais", "jamais plus")},
}

_EMOJI_CORE = (
    r"[\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u297f\u2b00-\u2bff"
    r"\u3030\u303d\u3297\u3299\U0001f000-\U0001faff]"
)
# A flag (two regional indicators), or an emoji with skin tones / variation selector / ZWJ parts.
_EMOJI = (
    rf"(?:[\U0001f1e6-\U0001f1ff]{{2}}"
    rf"|{_EMOJI_CORE}(?:[\ufe0f\U0001f3fb-\U0001f3ff]|\u200d{_EMOJI_CORE})*)"
)
# One pass over a whitespace-free chunk; apostrophes match nothing, so they split elisions (l'eau).
_TOKEN_RE: Final = re.compile(
    r"(?P<tag>#\w+)"
    r"|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)*)"
    r"|(?P<num>\d+(?:[.,]\d+)*)"
    rf"|(?P<emoji>{_EMOJI})"
    r"|(?P<bang>!)"
    r"|(?P<ask>\?)"
    r"|(?P<stop>[.,;:…()\[\]{}«»\"“”/|–—-]+)"
)
# Token kinds of the memoised chunk tokenizer.
K_WORD: Final = 0
K_TAG_WORD: Final = 1
K_FIXED: Final = 2
K_NUM: Final = 3
K_BANG: Final = 4
K_ASK: Final = 5
K_STOP: Final = 6  # sentence end: the next capitalised word is not taken for a name
K_CLAUSE: Final = 7
#: (kind, folded, ALL-CAPS, role, valence, lower-case form to look up again): a word's valence is
#: its lexicon value with inflection guesses (0.0 when its role keeps it from being a sentiment
#: word), or without them for a Capitalised word inside a sentence (a likely name), whose
#: lower-case form is kept for a look-up with guesses when it opens a sentence; an emoji's or
#: emoticon's preset valence; 0.0 for other tokens. Worked out once per chunk, with the chunk's
#: tokens: a chunk met again costs no look-up.
_Item = tuple[int, str, bool, int, float, str | None]
CHUNK_CACHE_SIZE: Final = 200_000
#: Longer chunks (URLs, text without spaces) are not memoised: one 20,000-character chunk holds
#: thousands of tokens, and 600 such texts took 473 MB of cache.
CHUNK_CACHE_MAX_CHARS: Final = 64

_CAMEL_RE: Final = re.compile(r"[A-ZÀ-ÖØ-Þ]?[a-zß-öø-ÿ]+|[A-ZÀ-ÖØ-Þ]+(?![a-zß-öø-ÿ])|\d+")
_ELONGATED_RE: Final = re.compile(r"([^\W\d_])\1{2,}")
_IRONY: Final = FRENCH_IRONY.compile()
#: A customer's vow to leave, which names no feeling: "plus jamais" (or "jamais plus") opening
#: its clause ("Plus jamais Acme !", "Acme, plus jamais ça") or ending the text ("Acme plus
#: jamais", "je n'y retournerai plus jamais"), as triage's detractor rule reads it; not inside a
#: clause ("je ne serai plus jamais en retard") nor before "de" ("plus jamais de souci depuis":
#: a worry gone). Read as one word of _VOW_VALUE (2026-12-08: such texts were neutral, and a
#: boycott's wave counted in no negative figure).
_VOW: Final = re.compile(
    r"(?:^|(?<=[.,;:!?…]))\s*(?:plus\s+jamais|jamais\s+plus)(?!\w)(?!\s*(?:de|d['’])(?!\w))"
    r"|(?:plus\s+jamais|jamais\s+plus)(?=[^\w]*$)", re.IGNORECASE)
_VOW_TOKEN: Final = "vxvoeudepart"
_VOW_VALUE: Final = -2.0


def _is_face(char: str) -> bool:
    """Smiley and person-gesture emojis, whose French descriptions describe an emotion."""
    code = ord(char)
    return (
        0x1F600 <= code <= 0x1F64F  # Emoticons block
        or 0x1F910 <= code <= 0x1F92F  # supplemental faces (🤐 .. 🤯)
        or 0x1F970 <= code <= 0x1F97A  # 🥰 .. 🥺
    )


def _build_fold_table() -> dict[int, str]:
    """Map accented Latin letters to their base letter (Unidecode's job for French, in stdlib)."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base != chr(code) and base.isascii():
            table[code] = base.lower()
    table.update({ord("œ"): "oe", ord("Œ"): "oe", ord("æ"): "ae", ord("Æ"): "ae"})
    return table


_FOLD: Final = _build_fold_table()
#: The same table as a list indexed by code point (identity where _FOLD has no entry): str.translate
#: looks a list up about twice as fast as a dict, whose misses raise KeyError inside translate
#: (500 ns for an 11-letter word, 190 with the list). Code points past its end are kept, as with
#: the dict. _FOLD has no ASCII key: ASCII words are their own folding and skip translate.
_FOLD_LIST: Final = [_FOLD.get(code, chr(code)) for code in range(max(_FOLD) + 1)]


def _fold_low(low: str) -> str:
    """Strip the accents of a lower-case word (low.translate(_FOLD), faster)."""
    return low if low.isascii() else low.translate(_FOLD_LIST)


def fold(word: str) -> str:
    """Lower-case and strip accents: "Déçu" -> "decu"."""
    return _fold_low(word.lower())


# Inflection fallbacks, tried in order on the lower-case word (accents kept when typed), looked up
# accent-insensitively. No fuzzy matching: a typo must not become another sentiment word. Only
# productive adjective/participle/verb inflections are undone (never France -> franc).
_FEMININE: Final = (
    ("euse", "eux"), ("euse", "eur"), ("ive", "if"), ("elle", "el"), ("enne", "en"),
    ("onne", "on"), ("ette", "et"), ("ète", "et"), ("ère", "er"), ("trice", "teur"),
    ("ale", "al"), ("aise", "ais"), ("ise", "is"),
)
#: A final "-e" after these letters is plain feminine inflection (petite, grande, déçue, pourrie,
#: aimée); after other letters the "e" usually belongs to a different word (base / bas).
_E_AFTER: Final = frozenset("tduiée")
_MASCULINE: Final = (("eux", "euse"), ("if", "ive"))
_FEMININE_ENDS: Final = tuple(suffix for suffix, _ in _FEMININE)
_MASCULINE_ENDS: Final = tuple(suffix for suffix, _ in _MASCULINE)
#: Verb endings -> infinitive / participle templates, checked longest first (aimaient -> aimer).
_VERB_ENDINGS: Final[dict[str, tuple[str, ...]]] = {
    **dict.fromkeys(
        ("aient", "erait", "eront", "erai", "eras", "era", "ions", "iez", "ais", "ait", "ant",
         "ons", "ez", "ent", "ées", "ée", "és", "é", "es", "e"),
        ("er", "e", "é"),
    ),
    **dict.fromkeys(
        ("issaient", "issait", "issent", "issons", "issez", "it", "is", "ies", "ie", "i"),
        ("ir",),
    ),
}
_VERB_LENGTHS: Final = sorted({len(ending) for ending in _VERB_ENDINGS}, reverse=True)
_MIN_STEM: Final = 4


def inflection_candidates(word: str) -> Iterator[str]:
    """Forms to try for a word missing from the lexicon: contentes -> content, aimait -> aimer."""
    bases = [word]
    if word.endswith("aux"):
        yield word[:-3] + "al"
    if word[-1] in "sx":
        bases.append(word[:-1])
        yield word[:-1]
    for base in bases:
        if len(base) < _MIN_STEM:
            continue
        if base.endswith(_FEMININE_ENDS):
            for suffix, repl in _FEMININE:
                if base.endswith(suffix):
                    yield base[: -len(suffix)] + repl
        if base[-1] == "e":
            if base[-2] in _E_AFTER:
                yield base[:-1]
        elif base[-1] in _E_AFTER:
            yield base + "e"
        if base.endswith(_MASCULINE_ENDS):
            for suffix, repl in _MASCULINE:
                if base.endswith(suffix):
                    yield base[: -len(suffix)] + repl
        if base is word:
            yield word + "s"
    for length in _VERB_LENGTHS:
        templates = _VERB_ENDINGS.get(word[-length:])
        if templates is not None and len(word) - length >= 3:
            stem = word[:-length]
            for template in templates:
                yield stem + template
            break


def normalize(score: float, alpha: float = ALPHA) -> float:
    """VADER's squashing of a valence sum into [-1, 1]."""
    norm = score / math.sqrt(score * score + alpha)
    return max(-1.0, min(1.0, norm))


def _read_data(name: str) -> str:
    return (files("veille.sentiment") / "data" / name).read_text(encoding="utf-8")


class _Tokens:
    """Parallel token arrays of one text (plain lists: faster than per-token objects)."""

    __slots__ = ("folds", "caps", "roles", "vals", "clauses", "bangs", "asks")

    def __init__(self) -> None:
        self.folds: list[str] = []  # accent-folded ("" for emojis, numbers): rules, phrases
        self.caps: list[bool] = []  # ALL-CAPS word (emphasis)
        self.roles: list[int] = []  # the folded word's role (R_NONE ...)
        #: Lexicon valence of a word (inflection guesses but for mid-sentence Names; 0.0 for a
        #: word with a role other than R_DUAL), preset valence of an emoji / emoticon, else 0.0.
        self.vals: list[float] = []
        self.clauses: list[int] = []  # clause id: negation and boosters never cross punctuation
        self.bangs = 0
        self.asks = 0


class FrenchScorer:
    """VADER for French: vadersentiment-fr lexicon, French negation, boosters and idioms."""

    language: str = "fr"

    def __init__(self) -> None:
        self._roles: dict[str, int] = self._build_roles()
        exact, emoticons = self._load_lexicon(_read_data("fr_lexicon.txt"))
        for word in list(exact):
            # Negations, boosters and connectors act through rules, never as sentiment words (the
            # lexicon rates "vraiment" 1.9: a misspelt "vraiments" must not score like "super").
            role = self._roles.get(fold(word))
            if role is not None and role != R_DUAL:
                del exact[word]
        exact.update(SUPPLEMENT)
        exact[_VOW_TOKEN] = _VOW_VALUE
        self._exact: dict[str, float] = exact
        self._folded: dict[str, float] = self._fold_lexicon(exact)
        self._emoticons: dict[str, float] = emoticons
        self._boost: dict[str, float] = {**BOOSTERS, **DUAL_BOOSTERS, "plus": B_INCR, "peu": B_DECR}
        # Bounded memo of word -> valence: the inflection guesses run once per distinct word.
        cached = lru_cache(maxsize=200_000)(self._lookup)
        lookup = self._lookup

        def valence_of(low: str, guess: bool = True) -> float:
            # A long "word" (letters without spaces) is looked up uncached: cached, 200,000 of
            # them could hold gigabytes.
            return cached(low, guess) if len(low) <= CHUNK_CACHE_MAX_CHARS else lookup(low, guess)

        self._valence_of = valence_of
        self._chunk_cache: dict[str, tuple[_Item, ...]] = {}
        self._word_cache: dict[tuple[str, bool], tuple[_Item, ...]] = {}
        # Phrases are indexed by first token, longest first: the greedy match prefers "pas mal de".
        self._phrases: dict[str, list[tuple[list[str], float]]] = {}
        for text, value in PHRASES.items():
            self._add_phrase(text, value)
        for text, value in exact.items():
            if " " in text or "'" in text:  # "en colère", "chef-d'oeuvre": matched as phrases
                self._add_phrase(text, value)
        for entries in self._phrases.values():
            entries.sort(key=lambda entry: -len(entry[0]))
        self._emojis: dict[str, float] = self._build_emojis(_read_data("emojis_fr.txt"))
        # Filled while building phrases / emojis, before all was ready (_is_known reads the
        # phrases).
        self._chunk_cache.clear()
        self._word_cache.clear()

    # --- construction ----------------------------------------------------------------------------
    @staticmethod
    def _load_lexicon(text: str) -> tuple[dict[str, float], dict[str, float]]:
        """Parse the lexicon into words and emoticons.

        vadersentiment-fr writes "word->mean" lines; VADER's tab-separated "word<TAB>mean<TAB>..."
        is accepted too, so either lexicon file can be dropped in.
        """
        words: dict[str, float] = {}
        emoticons: dict[str, float] = {}
        for line in text.splitlines():
            if "\t" in line:
                token, _, rest = line.strip("\n\r ").partition("\t")
                value = rest.split("\t", 1)[0]
            else:
                token, sep, value = line.strip().rpartition("->")
                if not sep:
                    continue
            if not token:
                continue
            try:
                valence = float(value)
            except ValueError:
                continue
            is_text = all(ch.isalpha() or ch in " '-" for ch in token)
            if is_text and any(ch.isalpha() for ch in token):
                # Single letters are elision debris ("s'", "l'"), never sentiment words.
                if len(token) > 1:
                    words[token.lower()] = valence
            elif not token.isalnum():
                # Emoticons are matched as whole whitespace-separated chunks, case-sensitively.
                emoticons[token] = valence
        return words, emoticons

    @staticmethod
    def _fold_lexicon(exact: dict[str, float]) -> dict[str, float]:
        """Accent-insensitive view; words colliding once folded (peche/pêche/péché) are averaged."""
        sums: dict[str, list[float]] = {}
        for word, value in exact.items():
            sums.setdefault(fold(word), []).append(value)
        for word, value in SUPPLEMENT.items():  # hand-rated values win over averaged collisions
            sums[fold(word)] = [value]
        return {word: sum(values) / len(values) for word, values in sums.items()}

    @staticmethod
    def _build_roles() -> dict[str, int]:
        roles: dict[str, int] = dict.fromkeys(BOOSTERS, R_BOOST)
        roles.update(dict.fromkeys(DUAL_BOOSTERS, R_DUAL))
        roles.update(dict.fromkeys(NEGATORS, R_NEG))
        roles.update(dict.fromkeys(NE_ONLY_NEGATORS, R_NEG_NE))
        roles.update(dict.fromkeys(CONTRASTS, R_CONTRAST))
        roles.update({"ne": R_NE, "peu": R_PEU, "non": R_NON})
        return roles

    def _add_phrase(self, text: str, value: float) -> None:
        tokens = self._tokenize(text).folds
        if len(tokens) > 1:
            self._phrases.setdefault(tokens[0], []).append((tokens, value))

    def _build_emojis(self, text: str) -> dict[str, float]:
        """Hand ratings first, else the French description scored with our own rules (capped)."""
        emojis: dict[str, float] = {}
        for line in text.splitlines():
            emoji, sep, description = line.partition("\t")
            if not sep:
                continue
            key = SKIN_AND_VS_RE.sub("", emoji.strip())
            if key and key not in emojis:
                if _is_face(key[0]):
                    raw = self._valence_sum(self._tokenize(description))[0]
                    emojis[key] = max(-EMOJI_CAP, min(EMOJI_CAP, raw))
                else:
                    # Object / animal / symbol descriptions mislead a lexicon ("pêche" the fruit
                    # read as "péché", "pion échecs" as a failure): neutral unless rated by hand.
                    emojis[key] = 0.0
        hand = {SKIN_AND_VS_RE.sub("", emoji): value for emoji, value in EMOJI_VALENCE.items()}
        emojis.update(hand)
        for key in emojis:
            base = key.split("\u200d", 1)[0]
            if base != key and base in hand:
                emojis[key] = hand[base]  # 🤦‍♂️ / 🤦‍♀️ rate like 🤦, whatever their description
        return emojis

    # --- lexicon lookup --------------------------------------------------------------------------
    def _lookup(self, low: str, guess: bool = True) -> float:
        """Valence of a lower-case word: exact, then accent-insensitive, then inflection guesses."""
        folded = low if low.isascii() else low.translate(_FOLD_LIST)
        if folded in NEUTRAL_WORDS:
            return 0.0
        value = self._exact.get(low)
        if value is not None:
            return value
        value = self._folded.get(folded)
        if value is not None:
            return value
        if guess and len(low) >= _MIN_STEM:
            for candidate in inflection_candidates(low):
                value = self._exact.get(candidate)
                if value is None:
                    value = self._folded.get(candidate if candidate.isascii()
                                             else candidate.translate(_FOLD_LIST))
                if value is not None:
                    return value
        return 0.0

    def knows(self, word: str) -> bool:
        """Whether a lower-case word is French to this scorer, as written: a lexicon word or one
        of its inflections ("nul", "arnaque", "déçues"), a negation, booster or connector. Not
        through accent folding, by which English words read as French ones ("hate" as "hâte",
        "use" as "usé"): the language detector's vote on short texts (LanguageDetector)."""
        if word in self._exact or (fold(word) in self._roles and word not in _ENGLISH_AS_WRITTEN):
            return True
        return len(word) >= _MIN_STEM and any(form in self._exact for form in inflection_candidates(word))

    def _is_known(self, low: str) -> bool:
        folded = low if low.isascii() else low.translate(_FOLD_LIST)
        return folded in self._roles or folded in self._phrases or self._valence_of(low) != 0.0

    # --- tokenization ----------------------------------------------------------------------------
    def _word_items(self, surface: str, in_tag: bool) -> tuple[_Item, ...]:
        """Normalised word token(s) of one surface word (hyphen split, elongation, aliases);
        memoised: a third of the words of the chunks met for the first time were met before in
        other chunks ("nul" in "nul," and "nul!"), and working one out takes 2-3 µs."""
        cache = self._word_cache
        key = (surface, in_tag)
        items = cache.get(key)
        if items is None:
            items = tuple(self._new_word_items(surface, in_tag))
            if len(surface) <= CHUNK_CACHE_MAX_CHARS:
                if len(cache) >= CHUNK_CACHE_SIZE:
                    cache.clear()  # crude bound, as the chunk cache's
                cache[key] = items
        return items

    def _new_word_items(self, surface: str, in_tag: bool) -> list[_Item]:
        """_word_items, worked out."""
        low = surface.lower()
        if _ELONGATED_RE.search(low):
            # "nuuuul", "trèèès", "cooool": keep the squeezed form the lexicon knows, if any.
            twice = _ELONGATED_RE.sub(r"\1\1", low)
            once = _ELONGATED_RE.sub(r"\1", low)
            low = once if not self._is_known(twice) and self._is_known(once) else twice
        folded = low if low.isascii() else low.translate(_FOLD_LIST)
        if "-" in folded and folded not in self._folded:
            # Unknown hyphenated compounds are scored word by word (est-ce, peut-être).
            items: list[_Item] = []
            for part in surface.split("-"):
                if part:
                    items.extend(self._word_items(part, in_tag))
            return items
        alias = ALIASES.get(folded)
        if alias is not None:
            low = folded = alias
        role = self._roles.get(folded, R_NONE)
        scored = role == R_NONE or role == R_DUAL  # others act through rules only
        if in_tag:
            return [(K_TAG_WORD, folded, False, role,
                     (self._valence_of(low, True) or 0.0) if scored else 0.0, None)]
        caps = len(surface) > 1 and surface.isupper()
        # A capitalised word inside a sentence is likely a name (France, Royal): it only gets
        # exact lexicon hits, no inflection guesses (they are allowed when it opens a sentence).
        titled = surface[0].isupper() and not caps
        if not scored:
            return [(K_WORD, folded, caps, role, 0.0, None)]
        return [(K_WORD, folded, caps, role, self._valence_of(low, not titled) or 0.0,
                 low if titled else None)]

    def _chunk_items(self, chunk: str) -> tuple[_Item, ...]:
        """Tokens of one whitespace-separated chunk; memoised since tweets reuse most chunks."""
        emoticon = self._emoticons.get(chunk)
        if emoticon is not None:
            return ((K_FIXED, "", False, R_NONE, emoticon, None),)
        if chunk.startswith(("http", "www.", "@")):
            return ()  # links and mentions carry no sentiment (some corpora keep a bare "http")
        if chunk.isalpha():
            # Letters only: one "word" token, the whole chunk (_TOKEN_RE's word group takes every
            # letter, and comes before the emoji group), without the regex's scan.
            return self._word_items(chunk, in_tag=False)
        items: list[_Item] = []
        for match in _TOKEN_RE.finditer(chunk):
            kind = match.lastgroup
            token = match.group()
            if kind == "word":
                items.extend(self._word_items(token, in_tag=False))
            elif kind == "tag":
                # "#nul" -> nul, "#JeSuisDéçu" -> je suis déçu: own clause, no caps emphasis.
                items.append((K_CLAUSE, "", False, R_NONE, 0.0, None))
                for part in _CAMEL_RE.findall(token[1:]):
                    items.extend(self._word_items(part, in_tag=True))
                items.append((K_CLAUSE, "", False, R_NONE, 0.0, None))
            elif kind == "emoji":
                items.append((K_FIXED, "", False, R_NONE, self._emoji_value(token), None))
            elif kind == "num":
                items.append((K_NUM, "", False, R_NONE, 0.0, None))
            elif kind == "bang":
                items.append((K_BANG, "", False, R_NONE, 0.0, None))
            elif kind == "ask":
                items.append((K_ASK, "", False, R_NONE, 0.0, None))
            else:
                ends_sentence = any(ch in ".!?…:" for ch in token)
                items.append((K_STOP if ends_sentence else K_CLAUSE, "", False, R_NONE, 0.0, None))
        return tuple(items)

    def _tokenize(self, text: str) -> _Tokens:
        out = _Tokens()
        folds, caps, roles, vals, clauses = out.folds, out.caps, out.roles, out.vals, out.clauses
        valence_of = self._valence_of
        cache = self._chunk_cache
        clause = 0
        sentence_start = True
        for chunk in text.split():
            items = cache.get(chunk)
            if items is None:
                items = self._chunk_items(chunk)
                if len(chunk) <= CHUNK_CACHE_MAX_CHARS:
                    if len(cache) >= CHUNK_CACHE_SIZE:
                        cache.clear()  # crude bound; refills with the current vocabulary
                    cache[chunk] = items
            for kind, folded, upper, role, value, name in items:
                if kind <= K_NUM:  # kinds are ordered: words, then other tokens, then marks
                    folds.append(folded)
                    caps.append(upper)
                    roles.append(role)
                    clauses.append(clause)
                    if kind == K_WORD:
                        if name is not None and sentence_start:
                            # A Capitalised word opening a sentence: inflection guesses allowed.
                            value = valence_of(name, True) or 0.0
                        sentence_start = False
                    vals.append(value)
                else:
                    if kind == K_BANG:
                        out.bangs += 1
                    elif kind == K_ASK:
                        out.asks += 1
                    if kind != K_CLAUSE:
                        sentence_start = True
                    clause += 1
        return out

    def _emoji_value(self, emoji: str) -> float:
        key = SKIN_AND_VS_RE.sub("", emoji)
        value = self._emojis.get(key)
        if value is None and "\u200d" in key:
            value = self._emojis.get(key.split("\u200d", 1)[0])  # unknown ZWJ sequence: its base
        return value or 0.0

    # --- scoring ---------------------------------------------------------------------------------
    def _valence_sum(self, tok: _Tokens) -> tuple[float, list[float]]:
        """Apply the French VADER rules; returns the raw valence sum and per-token valences."""
        folds = tok.folds
        clauses = tok.clauses
        n = len(folds)
        # The token lists are this call's own: roles and values are changed in place.
        role = tok.roles
        # 1. lexicon values and idioms (an idiom's words lose any role: "pas" in "pas terrible").
        # Values come with the tokens (a word's is 0.0 when its role makes it no sentiment word;
        # emojis and emoticons keep theirs but are never negated nor boosted).
        val = tok.vals
        # lexicon word or phrase head: negatable / boostable
        is_word_sent = [v != 0.0 and f != "" for v, f in zip(val, folds, strict=True)]
        phrases = self._phrases
        end = 0  # tokens before `end` are taken by an idiom already
        for i in [i for i, f in enumerate(folds) if f in phrases]:
            if i < end:
                continue
            for words, value in phrases[folds[i]]:
                stop = i + len(words)
                if stop <= n and folds[i:stop] == words and clauses[stop - 1] == clauses[i]:
                    val[i] = value
                    is_word_sent[i] = value != 0.0
                    role[i] = R_NONE
                    for k in range(i + 1, stop):
                        role[k] = R_NONE
                        val[k] = 0.0
                        is_word_sent[k] = False
                    end = stop
                    break

        # 2. negation and booster roles that depend on context
        neg = [False] * n
        neg_reach = [WINDOW] * n
        boost = [0.0] * n
        scope_end = [-1] * n  # tokens between "ne" and its completion: negated by the completion
        used = [False] * n  # a completion/post-verb "pas" spent on the verb does not negate again
        contrast_at = -1
        # Only tokens with a role (or a "ne" that lost its own) do anything here: most have none.
        for i in [i for i, r in enumerate(role) if r or folds[i] == "ne"]:
            r = role[i]
            if r == R_NONE and i > 0 and folds[i - 1] in ("nul", "nulle"):
                r = R_NE  # the idiom "nul ne" (nobody) took its roles: a negation all the same
            if r == R_NEG:
                neg[i] = not (
                    folds[i] == "rien"
                    and i + 2 < n
                    and folds[i + 1] == "de"
                    and folds[i + 2] in COMPARATIVES
                )
            elif r == R_NE:
                alone_verb = -1
                completed = False
                for j in range(i + 1, min(n, i + 6)):
                    if clauses[j] != clauses[i]:
                        break
                    if folds[j] == "que":
                        alone_verb = -1  # "ne peut que": restrictive, not negative
                        completed = True
                        break
                    if role[j] in (R_NEG, R_NEG_NE) and folds[j] in NE_COMPLETIONS:
                        neg[j] = True
                        for k in range(i + 1, j):
                            scope_end[k] = j
                        alone_verb = -1
                        completed = True
                        break
                    if alone_verb < 0 and folds[j] in NE_ALONE_VERBS:
                        alone_verb = j
                if alone_verb >= 0:
                    neg[alone_verb] = True  # "ne pourra respecter": negates what follows
                elif not completed:
                    # A negative subject before "ne" completes it: it negates what follows.
                    for j in (i - 1, i - 2):
                        if j < 0 or clauses[j] != clauses[i]:
                            break
                        if folds[j] in NE_SUBJECTS and not (j > 0 and folds[j - 1] in _DETERMINERS):
                            neg[i] = True
                            break
            elif r == R_NEG_NE:
                if not neg[i] and folds[i] == "plus":
                    boost[i] = B_INCR  # "le plus beau": a superlative, not a negation
            elif r == R_BOOST:
                boost[i] = self._boost[folds[i]]
                if folds[i] in SHORT_REACH:
                    neg_reach[i] = 1
            elif r == R_PEU:
                if i > 0 and folds[i - 1] == "un":
                    boost[i] = B_DECR  # "un peu cher": slightly
                else:
                    neg[i] = True  # "peu fiable": not reliable
            elif r == R_NON:
                neg[i] = True
                neg_reach[i] = 1
            elif r == R_DUAL:
                # booster if a sentiment word follows (skipping boosters), else its own valence
                for j in range(i + 1, min(n, i + 3)):
                    if clauses[j] != clauses[i]:
                        break
                    if is_word_sent[j] and role[j] != R_DUAL:
                        boost[i] = self._boost[folds[i]]
                        val[i] = 0.0
                        is_word_sent[i] = False
                        break
                    if role[j] not in (R_BOOST, R_DUAL):
                        break
            elif (
                r == R_CONTRAST
                and contrast_at < 0
                and not (i + 1 < n and folds[i + 1] in NOT_CONTRAST_AFTER)
            ):
                contrast_at = i

        # 3. per sentiment word: ALL-CAPS, boosters and (French, concordant) negation
        caps = tok.caps
        word_count = n - folds.count("")
        cap_count = sum(caps)
        cap_diff = 0 < cap_count < word_count
        for i in compress(range(n), is_word_sent):  # is_word_sent does not change below
            v = val[i]
            if cap_diff and caps[i]:
                v += C_INCR if v > 0 else -C_INCR
            clause = clauses[i]
            negated = False
            never_so = False
            for d in range(1, WINDOW + 1):
                j = i - d
                if j < 0 or clauses[j] != clause:
                    break
                if is_word_sent[j]:
                    continue  # as in VADER, a sentiment word is neither booster nor negation
                b = boost[j]
                if b and d <= neg_reach[j]:
                    s = b if v > 0 else -b
                    if cap_diff and caps[j]:
                        s += C_INCR if v > 0 else -C_INCR
                    v += s * (1.0, 0.95, 0.9)[d - 1]
                if neg[j] and not used[j] and d <= neg_reach[j]:
                    if folds[j] == "jamais" and any(folds[k] in NEVER_SO for k in range(j + 1, i)):
                        never_so = True
                    else:
                        negated = True
            end = scope_end[i]
            if end >= 0:
                # "je n'aime pas": the verb sits between ne and pas
                negated = True
                used[end] = True
            elif not negated:
                negated = self._post_negation(i, folds, clauses, role, is_word_sent, used)
            # French negative concord: "jamais rien de bon" is one negation, not a double one.
            if negated:
                v *= N_SCALAR
            elif never_so:
                v *= 1.25
            val[i] = v

        # 4. contrast: VADER's "but" rule, with "mais"
        if contrast_at >= 0:
            for i in range(n):
                if i < contrast_at:
                    val[i] *= 0.5
                elif i > contrast_at:
                    val[i] *= 1.5
        return sum(val), val

    @staticmethod
    def _post_negation(
        i: int,
        folds: list[str],
        clauses: list[int],
        role: list[int],
        is_word_sent: list[bool],
        used: list[bool],
    ) -> bool:
        """Spoken French drops "ne": "j'aime pas ça" negates the verb before "pas"."""
        j = i + 1
        n = len(folds)
        if j >= n or clauses[j] != clauses[i]:
            return False
        if folds[j] == "plus" and role[j] == R_NEG_NE:
            # "j'aime plus cette marque": spoken "ne ... plus" (no longer), not a comparative
            # ("j'aime plus que tout", "bien plus cher"): only before a clause end, "du tout" or
            # a determiner.
            k = j + 1
            if k < n and clauses[k] == clauses[i] and not (
                folds[k] in SPOKEN_PLUS_BEFORE
                or (folds[k] == "du" and k + 1 < n and folds[k + 1] == "tout")
            ):
                return False
            used[j] = True
            return True
        if role[j] != R_NEG or folds[j] not in ("pas", "jamais"):
            return False
        k = j + 1
        if k < n and clauses[k] == clauses[i]:
            nxt = folds[k]
            if nxt == "du" and k + 1 < n and folds[k + 1] == "tout":
                pass  # "j'aime pas du tout"
            elif nxt in FORWARD_BINDING:
                return False  # "pas de souci": pas belongs to the noun
            elif nxt in PAS_DETERMINERS:
                k += 1
                while k < n and clauses[k] == clauses[i] and role[k] in (R_BOOST, R_DUAL):
                    k += 1
                if k < n and clauses[k] == clauses[i] and is_word_sent[k]:
                    return False  # "pas la moindre erreur": pas belongs to the noun phrase
            else:
                while k < n and clauses[k] == clauses[i] and role[k] in (R_BOOST, R_DUAL):
                    k += 1
                if k < n and clauses[k] == clauses[i] and is_word_sent[k]:
                    return False  # "génial pas cher": pas belongs to the next sentiment word
        used[j] = True
        return True

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER-shaped scores: compound in [-1, 1] and pos / neu / neg proportions."""
        text = text if isinstance(text, str) else str(text)
        if not text.isascii() and not unicodedata.is_normalized("NFC", text):
            # Decomposed accents (macOS, some keyboards) composed: "déçu" in NFD was read as
            # "de", "c", "u", and scored neutral (found in review, 2026-12-05).
            text = unicodedata.normalize("NFC", text)
        # "Génial, encore un bug": the praise is irony (veille.sentiment.irony).
        lower = text.lower()
        text = _IRONY.without_praise(text, lower)
        if "jamais" in lower:  # "Acme, plus jamais": a vow to leave (_VOW)
            text = _VOW.sub(f" {_VOW_TOKEN} ", text)
        tok = self._tokenize(text)
        if not tok.folds:
            return {"neg": 0.0, "neu": 1.0, "pos": 0.0, "compound": 0.0}
        total, sentiments = self._valence_sum(tok)
        # punctuation emphasis, as in VADER: up to 4 "!" and 2+ "?"
        emphasis = min(tok.bangs, 4) * 0.292
        if tok.asks > 1:
            emphasis += tok.asks * 0.18 if tok.asks <= 3 else 0.96
        if total > 0:
            total += emphasis
        elif total < 0:
            total -= emphasis
        compound = normalize(total)
        pos_sum = neg_sum = 0.0
        neu_count = 0
        for value in sentiments:
            if value > 0:
                pos_sum += value + 1.0  # +1 compensates for neutral words counted as 1
            elif value < 0:
                neg_sum += value - 1.0
            else:
                neu_count += 1
        if pos_sum > -neg_sum:
            pos_sum += emphasis
        elif pos_sum < -neg_sum:
            neg_sum -= emphasis
        denom = pos_sum - neg_sum + neu_count
        return {
            "neg": round(abs(neg_sum / denom), 3),
            "neu": round(neu_count / denom, 3),
            "pos": round(pos_sum / denom, 3),
            "compound": round(compound, 4),
        }

    def score(self, text: str) -> Sentiment:
        """Score one French text (the shared Scorer protocol)."""
        return Sentiment.from_scores(self.polarity_scores(text))

