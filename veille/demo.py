"""Deterministic generator of realistic synthetic mentions, for demos, replays and load tests."""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "AUDIENCE_FIELDS",
    "BRANDS",
    "DEFAULT_EPISODE",
    "FIELDS",
    "MAX_HOURS",
    "MAX_RATE",
    "PLATFORMS",
    "SAMPLE_HOURS",
    "SAMPLE_PATH",
    "SAMPLE_START",
    "WATCHLIST_PATH",
    "Episode",
    "GenerateError",
    "check_options",
    "generate",
    "generate_tagged",
    "main",
    "parse_start",
    "run",
    "write_jsonl",
]

Mention = dict[str, Any]

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_PATH = DATA_DIR / "demo_mentions.jsonl"
WATCHLIST_PATH = DATA_DIR / "watchlist.toml"
#: The shipped sample covers this window; the CLI defaults reproduce it byte for byte. Nine
#: hours, five and a half of them before the episode: the crisis monitor's share test needs about
#: four hours of a brand's buckets (200 mentions, 50 buckets) before it can open a story, so the
#: demo's crisis is alerted as it would be on a brand watched for a while.
SAMPLE_START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)
SAMPLE_HOURS = 9.0
DEFAULT_SEED = 7
DEFAULT_RATE = 600.0
#: The command lines' bounds (`veille generate`, `python -m veille.demo`): at most a leap year of
#: mentions, at a mean rate of at most 100,000 an hour (28 a second), so a typo cannot fill a disk.
MAX_HOURS = 366 * 24.0
MAX_RATE = 100_000.0

SOURCE = "demo"
#: The raw mention contract, in the order the fields are written.
FIELDS = ("id", "source", "platform", "author", "text", "url", "created_at", "language", "audience")
AUDIENCE_FIELDS = ("followers", "likes", "shares")
#: Watch-list ids of the fictional brands (see data/watchlist.toml).
BRANDS = ("acme", "boreal")

# ---------------------------------------------------------------------------
# Volume model
# ---------------------------------------------------------------------------

#: Relative volume at each UTC hour (France is UTC+1 in winter): a trough around 04:00,
#: a lunch peak at 12:00-13:00 and the evening peak at 20:00-21:00. Linearly interpolated.
_DAY_NODES = (
    0.55, 0.38, 0.26, 0.20, 0.17, 0.22, 0.40, 0.72, 0.98, 1.08, 1.12, 1.28,
    1.55, 1.52, 1.22, 1.12, 1.12, 1.22, 1.40, 1.62, 1.82, 1.78, 1.38, 0.88,
)  # fmt: skip
# Normalised so that base_rate_per_hour is the mean hourly volume of a weekday.
_DAY_CURVE = tuple(v * len(_DAY_NODES) / sum(_DAY_NODES) for v in _DAY_NODES)
#: Monday..Sunday: people post a little less at weekends.
_WEEK_FACTORS = (1.0, 1.02, 1.0, 1.01, 0.97, 0.86, 0.82)
#: Each clock hour gets its own multiplicative wobble so consecutive days never look identical.
_HOUR_NOISE_SIGMA = 0.12
#: Arrivals are drawn per minute: fine enough for a smooth curve, coarse enough to be fast.
_SLOT_SECONDS = 60.0

#: Who the baseline traffic is about; None is general chatter that matches no brand.
_TOPIC_SHARES: dict[str | None, float] = {"acme": 0.46, "boreal": 0.44, None: 0.10}
#: Share of mentions in languages the pipeline does not score.
_FOREIGN_SHARE = 0.03
_FRENCH_SHARE = 0.60
#: (positive, neutral, negative) outside any episode.
_BASE_SENTIMENT: dict[str | None, tuple[float, float, float]] = {
    "acme": (0.33, 0.52, 0.15),
    "boreal": (0.45, 0.42, 0.13),
    None: (0.30, 0.52, 0.18),
}

PLATFORMS = (
    "twitter", "facebook", "instagram", "forum", "reddit", "mastodon", "youtube", "news", "blog",
)  # fmt: skip
_PLATFORM_WEIGHTS = (34, 13, 11, 9, 8, 7, 7, 6, 5)
# People rush to the fast platforms when something breaks.
_INCIDENT_PLATFORM_WEIGHTS = (58, 10, 4, 7, 6, 8, 1, 4, 2)


def _utc_seconds(moment: datetime) -> str:
    """`2026-01-05T03:18:54Z`, the year on four digits (strftime's %Y gives "999" for the year
    999 on glibc, which no ISO 8601 reader takes: a file of `--start 0999-...` was refused by
    replay line by line until 2026-12-05)."""
    moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def _day_factor(moment: datetime) -> float:
    position = moment.hour + moment.minute / 60 + moment.second / 3600
    low = int(position) % 24
    frac = position - int(position)
    return _DAY_CURVE[low] * (1 - frac) + _DAY_CURVE[(low + 1) % 24] * frac


def _week_factor(moment: datetime) -> float:
    return _WEEK_FACTORS[moment.weekday()]


def _poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw: Knuth's product method, normal approximation when it gets slow."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _smoothstep(x: float) -> float:
    return x * x * (3 - 2 * x)


# ---------------------------------------------------------------------------
# Episode
# ---------------------------------------------------------------------------

# An outage explodes within minutes, holds, then fades as service comes back and anger lingers.
_RISE = 0.12
_PLATEAU_END = 0.60


@dataclass(frozen=True, slots=True)
class Episode:
    """An injected crisis: one brand's volume and negative share surge for a while."""

    brand: str
    #: Hours after the generation start at which the crisis begins.
    start_offset_hours: float
    duration_hours: float
    #: Volume multiplier of the brand's mentions at the peak (1 = no change).
    intensity: float
    #: Share of the brand's mentions that are negative at the peak.
    negative_share: float

    def __post_init__(self) -> None:
        if self.brand not in BRANDS:
            raise ValueError(f"unknown brand {self.brand!r}; expected one of {BRANDS}")
        if self.duration_hours <= 0:
            raise ValueError("duration_hours must be positive")
        if self.intensity < 0:
            raise ValueError("intensity must be >= 0")
        if not 0.0 <= self.negative_share <= 1.0:
            raise ValueError("negative_share must be within [0, 1]")

    def window(self, start: datetime) -> tuple[datetime, datetime]:
        """The episode's [begin, end) in absolute time for a generation starting at start."""
        begin = _as_utc(start) + timedelta(hours=self.start_offset_hours)
        return begin, begin + timedelta(hours=self.duration_hours)

    def progress(self, offset_hours: float) -> float | None:
        """Position within the episode in [0, 1), None outside it."""
        u = (offset_hours - self.start_offset_hours) / self.duration_hours
        return u if 0.0 <= u < 1.0 else None

    def profile(self, offset_hours: float) -> float:
        """Crisis strength at this offset: 0 outside, 1 on the plateau."""
        u = self.progress(offset_hours)
        if u is None:
            return 0.0
        if u < _RISE:
            return _smoothstep(u / _RISE)
        if u < _PLATEAU_END:
            return 1.0
        return _smoothstep((1.0 - u) / (1.0 - _PLATEAU_END))

    def is_recovering(self, offset_hours: float) -> bool:
        u = self.progress(offset_hours)
        return u is not None and u >= _PLATEAU_END

    def rate_multiplier(self, offset_hours: float) -> float:
        return 1.0 + (self.intensity - 1.0) * self.profile(offset_hours)


#: A nationwide network outage at Acme, 5.5 h into the generation, lasting 1.5 h: in the
#: shipped sample (03:00-12:00 UTC) that is 08:30-10:00, with the late-morning rise around it.
DEFAULT_EPISODE = Episode(
    brand="acme", start_offset_hours=5.5, duration_hours=1.5, intensity=4.0, negative_share=0.72
)

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

Weighted = Sequence[str | tuple[str, float]]

#: Slot fillers. Lookup order for slot {x}: "x:topic:lang", "x:topic", "x:lang", "x".
# fmt: off
_VOCAB: dict[str, Weighted] = {
    # How people name the brand: mostly the plain name, in every case, plus handles and hashtags.
    "b:acme": [
        ("Acme", 40), ("ACME", 6), ("acme", 12), ("Acme Mobile", 10), ("acme mobile", 4),
        ("ACME MOBILE", 1), ("@acme_fr", 14), ("@AcmeSupport", 3), ("#acme", 5), ("#Acme", 4),
    ],
    "b:boreal": [
        ("Boréal", 36), ("Boreal", 14), ("boreal", 6), ("BORÉAL", 3), ("Boreal Café", 10),
        ("Boréal Café", 6), ("boreal café", 3), ("@borealcafe", 14), ("#boreal", 6),
    ],
    "b:acme:es": ["Acme", "ACME", "Acme Mobile", "@acme_fr"],
    "b:acme:de": ["Acme", "ACME", "Acme Mobile", "@acme_fr"],
    "b:boreal:es": ["Boréal", "Boreal Café", "@borealcafe"],
    "b:boreal:de": ["Boréal", "Boreal Café", "@borealcafe"],
    # Formal names, for headlines.
    "B:acme": [("Acme", 5), ("Acme Mobile", 1)],
    "B:boreal": [("Boréal", 4), ("Boreal Café", 1)],
    "h:acme": [("@AcmeSupport", 7), ("@acme_fr", 3)],
    "h:boreal": ["@borealcafe"],
    # Products and nicknames that never spell the brand out.
    "p:acme": [
        ("AcmePhone", 3), ("AcmePhone 12", 2), ("AcmePhone Lite", 1), ("Zéphyr X2", 3),
        ("Zephyr X2", 2), ("ZephyrX2", 2), ("zephyr x2", 1),
    ],
    "box:boreal": [("Flocon Box", 4), ("flocon box", 1)],
    "sig:boreal": [("Latte Aurora", 4), ("latte aurora", 1)],
    "item:acme:fr": [
        "ma box", "la fibre", "mon forfait", "l'appli", "ma ligne", "la 4G", "ma carte SIM",
        "le wifi de la box", "la 5G", "ma ligne fixe",
    ],
    "item:acme:en": ["router", "fiber", "mobile data", "app", "landline", "SIM card", "wifi", "4G"],
    "drink:fr": [
        "latte", "cappuccino", "cookie", "flat white", "chocolat chaud", "café filtre",
        "banana bread", "chai latte", "croissant", "moka", "cinnamon roll", "cold brew",
    ],
    "drink:en": [
        "latte", "cappuccino", "cookie", "flat white", "hot chocolate", "filter coffee",
        "banana bread", "chai latte", "croissant", "mocha", "cinnamon roll", "cold brew",
    ],
    "drink:es": ["café con leche", "capuchino", "latte", "cold brew"],
    "drink:de": ["Cappuccino", "Latte macchiato", "Filterkaffee", "Espresso"],
    "city": [
        ("Paris", 6), ("Lyon", 3), ("Marseille", 3), ("Lille", 2), ("Bordeaux", 2), ("Nantes", 2),
        ("Toulouse", 2), ("Rennes", 1), ("Strasbourg", 1), ("Grenoble", 1), ("Montpellier", 1),
        ("Nice", 1), ("Dijon", 1), ("Angers", 1),
    ],
    "intf": [
        "vraiment", "trop", "super", "hyper", "tellement", "franchement", "carrément",
        "vraiment vraiment",
    ],
    "inte": [
        "really", "so", "super", "absolutely", "totally", "seriously", "incredibly", "genuinely",
    ],
    "posf": [
        "top", "génial", "parfait", "excellent", "incroyable", "impeccable", "efficace", "au top",
    ],
    "pose": [
        "great", "amazing", "awesome", "perfect", "excellent", "fantastic", "brilliant", "good",
    ],
    "negf": [
        "nul", "lamentable", "pas terrible", "inadmissible", "catastrophique", "décevant",
        "honteux", "n'importe quoi",
    ],
    "nege": [
        "terrible", "awful", "useless", "ridiculous", "unacceptable", "disappointing", "a joke",
        "the worst",
    ],
    "mins": ["10", "15", "20", "25", "30", "40", "45", "50", "60", "90"],
    "bill:fr": ["3 €", "5 €", "7,99 €", "8 €", "10 €", "12 €"],
    "bill:en": ["€3", "€5", "€7.99", "€8", "€10", "€12"],
    "cost:fr": ["5,90 €", "6,50 €", "7 €", "7,20 €", "8,40 €"],
    "cost:en": ["€5.90", "€6.50", "€7", "€7.20", "€8.40"],
    "price": ["299", "349", "399", "449", "499", "599", "799"],
    "subs:fr": ["2,1", "2,4", "3", "3,2", "3,8"],
    "subs:en": ["2.1", "2.4", "3", "3.2", "3.8"],
}


def _numeric_slot(name: str, rng: random.Random) -> str | None:
    if name == "days":
        return str(rng.randint(2, 14))
    if name == "n":
        return str(rng.randint(1_000_000, 99_999_999))
    if name == "n3":
        return str(rng.randint(12, 180))
    if name == "pct":
        return str(rng.randint(4, 27))
    return None


# ---------------------------------------------------------------------------
# Templates: TEMPLATES[topic][lang][kind]. Simple sentences without sarcasm, so that the
# intended polarity is the one a lexicon scorer should find.
# ---------------------------------------------------------------------------

_TOPIC_KEY = {None: "none", "acme": "acme", "boreal": "boreal"}

TEMPLATES: dict[str, dict[str, dict[str, list[str]]]] = {
    "acme": {
        "fr": {
            "praise": [
                "Franchement {b} c'est {intf} {posf}, la fibre n'a pas coupé une seule fois"
                " depuis mon abonnement",
                "Passé chez {b} il y a {days} mois, le débit est {intf} {posf}",
                "Mon {p} tient deux jours de batterie, {intf} {posf}",
                "Le service client {b} a réglé mon problème en {mins} minutes, chapeau",
                "{b} vient de doubler la data de mon forfait sans augmenter le prix, j'adore",
                "La 5G {b} à {city} c'est {intf} {posf}",
                "Je recommande {b} à tout le monde, rien à redire",
                "Reçu mon {p} ce matin, l'écran est {intf} beau",
                "Merci {b}, box installée en {days} jours et tout marche du premier coup",
                "L'appareil photo du {p} est bluffant de nuit",
                "Meilleur opérateur que j'ai eu, {b} au top",
                "Je ne regrette pas du tout d'être passé chez {b}",
                "Avec {b} je paie moins cher et ça capte partout, que demander de plus",
                "Le {p} est {intf} fluide, aucun regret",
            ],
            "complaint": [
                "{b} ça fait {days} jours que {item} ne marche plus,"
                " je ne suis pas content du tout",
                "Encore une coupure de fibre chez {b}, c'est {intf} {negf}",
                "Depuis {days} jours {item} coupe toutes les {mins} minutes, {b} c'est {negf}",
                "Facture {b} plus chère de {bill} sans prévenir, je suis déçu",
                "Mon {p} redémarre tout seul, {intf} déçu de cet achat",
                "Service client {b} injoignable, {mins} minutes d'attente pour rien",
                "Pas de réseau chez {b} à {city} depuis ce matin, c'est pas terrible",
                "Je quitte {b}, plus jamais",
                "Le débit {b} est {intf} nul ce soir",
                "{b} m'a facturé deux fois ce mois-ci, c'est inadmissible",
                "Mon {p} chauffe comme pas possible, c'est {negf}",
                "Ça fait {days} jours que j'attends un technicien {b}, toujours personne,"
                " je suis déçu",
                "{b} vous êtes nuls, remboursez-moi",
                "Chez {b} {item} ne fonctionne pas depuis hier, c'est {negf}",
            ],
            "question": [
                "Quelqu'un sait si {b} propose la 5G à {city} ?",
                "Le {p} vaut le coup ou pas ?",
                "Vous êtes chez {b} vous ? Ça capte bien à {city} ?",
                "Comment on active l'eSIM chez {b} ?",
                "{b} fait des promos sur le {p} en ce moment ?",
                "C'est quoi le meilleur forfait {b} pour un ado ?",
                "Quelqu'un a testé la nouvelle box {b} ?",
                "Le {p} est compatible avec la recharge sans fil ?",
            ],
            "info": [
                "Je passe en boutique {b} demain pour changer de forfait",
                "Nouvelle boutique {b} ouverte à {city}, rue de la République",
                "Portabilité vers {b} lancée, on verra bien",
                "Rendez-vous technicien {b} prévu jeudi pour la fibre",
                "{b} change ses tarifs au 1er février, infos sur leur site",
                "Déballage du {p} en live ce soir sur la chaîne",
                "Mon opérateur c'est {b} depuis {days} ans",
                "Le {p} est en vitrine à la Fnac de {city}",
            ],
            "news": [
                "{B} revendique {subs} millions d'abonnés fibre en France",
                "Télécoms : {B} lance le {p} à {price} euros",
                "{B} étend sa couverture 5G à {n3} nouvelles communes, dont {city}",
                "Test du {p} : un smartphone solide à prix contenu",
                "Classement des débits : {B} dans le peloton de tête ce trimestre",
                "{B} et la métropole de {city} signent un accord sur la fibre",
            ],
            "service_pos": [
                "Merci {h} pour la réponse rapide, c'est réglé",
                "{h} super réactif ce matin, problème de SIM résolu en {mins} min",
                "Bravo au conseiller {h}, {intf} patient avec moi",
            ],
            "service_neu": [
                "{h} bonjour, je vous ai envoyé un DM pour ma facture",
                "{h} bonsoir, comment changer l'adresse de facturation ?",
                "{h} bonjour, le {p} est-il dispo en boutique à {city} ?",
            ],
            "service_neg": [
                "{h} dossier n°{n} toujours pas traité après {days} jours",
                "{h} ça fait {days} jours que j'attends une réponse, c'est inadmissible",
                "{h} on m'a raccroché au nez deux fois, je ne suis pas content",
                "{h} répondez en DM svp, toujours pas de connexion et personne ne rappelle",
            ],
            "incident": [
                "PANNE {b} partout ?? Plus de réseau depuis {mins} minutes #AcmeDown",
                "Réseau {b} HS à {city}, plus rien ne marche",
                "{b} c'est quoi cette panne ??? Ni internet ni téléphone",
                "Toujours pas de réseau chez {b} depuis ce matin #AcmeDown",
                "Panne géante {b} et le service client ne répond pas, c'est une honte",
                "Je télétravaille et {b} est en panne, journée perdue",
                "{b} remboursez-nous cette journée de panne",
                "Box {b} HS, mobile HS, impossible d'appeler qui que ce soit, inadmissible",
                "La fibre {b} est down à {city} aussi ? #AcmeDown",
                "{h} vous comptez communiquer sur la panne ou pas ?",
                "Plus de 4G plus de fibre, {b} en panne totale, je ne suis pas content du tout",
                "Panne {b} : je paie {price} € par an pour ça ? Remboursez",
                "{b} réseau HS depuis {mins} minutes, aucune info, c'est lamentable",
                "Quelqu'un d'autre sans réseau {b} à {city} ? #AcmeDown",
                "Ça fait {mins} minutes que {b} est en panne et toujours aucun message, je résilie",
                "Mon {p} affiche aucun service, panne {b} confirmée #AcmeDown",
            ],
            "incident_news": [
                "Panne géante sur le réseau {B} : des milliers d'abonnés privés de connexion",
                "{B} confirme une panne nationale de son réseau mobile et fixe",
                "Panne {B} : l'opérateur évoque un incident technique,"
                " sans délai de rétablissement",
                "Réseau {B} HS : les autorités rappellent les numéros d'urgence alternatifs",
            ],
            "recovery": [
                "Le réseau {b} revient petit à petit à {city}",
                "Ça remarche chez {b}, enfin",
                "Fibre {b} de retour, on verra s'ils dédommagent",
                "La 4G {b} est revenue sur mon {p}",
            ],
            "recovery_news": [
                "{B} annonce le rétablissement progressif de son réseau",
                "Après l'incident, {B} promet un geste commercial à ses abonnés",
            ],
        },
        "en": {
            "praise": [
                "Switched to {b} last month and the signal is {inte} {pose}",
                "My {p} battery lasts two days, {inte} {pose}",
                "{b} fiber has been rock solid for {days} months",
                "Shoutout to {b} support, sorted my issue in {mins} minutes",
                "The camera on the {p} is {inte} {pose} at night",
                "{b} 5G in {city} is {inte} fast, love it",
                "Not a single dropped call since I moved to {b}",
                "Got my {p} today and I'm {inte} impressed",
                "Honestly {b} is the best carrier I've had",
                "Roaming with {b} worked perfectly on my trip",
            ],
            "complaint": [
                "{b} my {item} isn't working again, {days} days now",
                "{b} internet is {inte} {nege} tonight",
                "Been on hold with {b} for {mins} minutes, not happy",
                "{b} charged me twice this month, unacceptable",
                "My {p} keeps rebooting, {inte} disappointed",
                "No signal with {b} in {city} since this morning",
                "Done with {b}, never again",
                "{b} raised my bill by {bill} without any notice, not happy at all",
                "Still waiting for a {b} technician after {days} days, worst service ever",
                "Why is {b} so slow every evening? It's {nege}",
            ],
            "question": [
                "Anyone know if {b} has 5G in {city}?",
                "Is the {p} worth it or should I wait?",
                "How do I activate eSIM with {b}?",
                "Does {b} do student discounts?",
                "Anyone tried the new {b} router?",
                "Is the {p} compatible with wireless charging?",
            ],
            "info": [
                "Heading to the {b} store tomorrow to change my plan",
                "{b} is changing its prices on February 1st, details on their site",
                "Unboxing the {p} live tonight",
                "Been with {b} for {days} years now",
                "{b} technician coming Thursday for the fiber install",
            ],
            "news": [
                "{B} launches the {p} at €{price}",
                "{B} expands 5G coverage to {n3} more towns",
                "Review: the {p} is a solid mid-range phone",
                "{B} reports {subs} million fiber subscribers",
            ],
            "service_pos": [
                "Thanks {h} for the quick reply, all sorted",
                "{h} support was {inte} helpful today",
            ],
            "service_neu": [
                "{h} hi, sent you a DM about my bill",
                "{h} how do I update my billing address?",
            ],
            "service_neg": [
                "{h} ticket #{n} still open after {days} days",
                "{h} please answer my DM, still no connection",
                "{h} I've been waiting {days} days for a reply, not happy",
            ],
            "incident": [
                "{b} outage again?? No signal in {city} #AcmeDown",
                "Is {b} down for everyone? Nothing is working",
                "{b} network has been down for {mins} minutes, this is unacceptable",
                "Working from home and {b} is down. Refund me for today",
                "Massive {b} outage and support isn't answering, not happy",
                "{h} any ETA on the outage? Still no internet",
                "{b} outage: no calls, no data, nothing. Never again",
                "Still no signal with {b} #AcmeDown",
                "{b} you need to refund everyone for this outage",
                "Phone and fiber both dead, {b} is the worst",
            ],
            "incident_news": [
                "{B} hit by nationwide network outage",
                "{B} outage leaves thousands without mobile or internet",
                "{B} confirms technical incident, no timeline for restoration",
            ],
            "recovery": [
                "{b} seems to be back up in {city}",
                "Signal is back with {b}, finally",
            ],
            "recovery_news": [
                "{B} says service is being gradually restored",
            ],
        },
        "es": {
            "praise": [
                "La cobertura de {b} en {city} es buenísima",
                "Mi {p} funciona de maravilla",
            ],
            "complaint": [
                "Sin señal de {b} en {city}, qué desastre",
                "{b} me cobró dos veces este mes, fatal",
            ],
            "info": [
                "¿Alguien sabe si {b} tiene roaming en España?",
                "Mañana compro el {p}",
            ],
            "incident": [
                "{b} caído en toda Francia, no funciona nada #AcmeDown",
                "¿{b} está caído? Sin internet desde hace {mins} minutos",
            ],
        },
        "de": {
            "praise": [
                "Mit {b} hatte ich in {city} super Empfang",
                "Das {p} ist richtig gut",
            ],
            "complaint": [
                "{b} Netz in {city} ist eine Katastrophe",
                "Mein {p} startet ständig neu, enttäuschend",
            ],
            "info": [
                "Hat jemand Erfahrung mit dem {p}?",
                "Morgen hole ich mir eine SIM von {b}",
            ],
            "incident": [
                "{b} Netz ausgefallen, nichts geht mehr #AcmeDown",
                "{b} Störung in ganz Frankreich? Seit {mins} Minuten kein Netz",
            ],
        },
    },
    "boreal": {
        "fr": {
            "praise": [
                "Le {drink} de chez {b} à {city} c'est {intf} {posf}",
                "Pause {drink} au {b} de {city}, {intf} {posf}",
                "Le {sig} de saison est une tuerie",
                "Les baristas de {b} {city} sont {intf} sympas",
                "Commande e-shop {b} reçue en {days} jours, café {intf} {posf}",
                "Meilleur {drink} de {city}, chez {b} évidemment",
                "Ma {box} est arrivée, trois cafés {intf} bons",
                "Je ne m'attendais pas à un {drink} aussi bon chez {b}",
                "Télétravail au {b} ce matin, wifi rapide et {drink} parfait",
                "Le nouveau {drink} de {b}, j'adore",
                "J'ai offert une {box} à ma sœur, elle a adoré",
            ],
            "complaint": [
                "{drink} tiède et {mins} minutes d'attente au {b} de {city}, pas terrible",
                "Commande {b} jamais reçue après {days} jours, je suis déçu",
                "{cost} le {drink} chez {b}, c'est {intf} abusé",
                "Le {drink} de {b} a un goût de brûlé, c'est {negf}",
                "Service {intf} lent au {b} de {city} ce midi, je ne suis pas content",
                "Ma {box} est arrivée écrasée, je ne suis pas content",
                "Plus jamais je commande sur l'e-shop {b}",
                "{b} a encore augmenté ses prix, c'est {negf}",
                "Le wifi du {b} de {city} ne marche jamais",
                "Carte fidélité {b} qui bugue, points perdus, trop déçue",
            ],
            "question": [
                "Le {b} de {city} ouvre à quelle heure le dimanche ?",
                "Quelqu'un a testé le {sig} ?",
                "{b} fait des laits végétaux ?",
                "La {box} vaut le coup pour offrir ?",
                "Il y a des prises au {b} de {city} pour bosser ?",
                "{b} livre en Belgique ?",
            ],
            "info": [
                "Nouveau {b} ouvert à {city}, près de la gare",
                "Rendez-vous au {b} à 15h pour la réunion",
                "{b} lance une carte fidélité dématérialisée",
                "Petit {drink} au {b} avant le train",
                "{b} passe aux gobelets consignés en janvier",
                "Le {sig} est de retour pour l'hiver",
            ],
            "news": [
                "{B} ouvre {n3} nouveaux cafés en 2026",
                "Café de spécialité : {B} mise sur l'e-shop et l'abonnement {box}",
                "{B} annonce un chiffre d'affaires en hausse de {pct} %",
                "Franchise : {B} arrive à {city}",
            ],
            "service_pos": [
                "Merci {h} pour le geste commercial",
                "{h} commande remplacée en {days} jours, top",
            ],
            "service_neu": [
                "{h} vous avez encore le {sig} en boutique ?",
                "{h} bonjour, je peux modifier ma commande n°{n} ?",
            ],
            "service_neg": [
                "{h} commande n°{n} toujours pas livrée, je suis déçu",
                "{h} toujours pas de réponse à mon mail après {days} jours",
            ],
            "incident": [
                "Site {b} en rade, impossible de payer ma commande",
                "Débité deux fois sur l'e-shop {b}, remboursez",
                "{b} commandes bloquées depuis ce matin, c'est {negf}",
                "L'e-shop {b} est HS, aucune info, je suis déçu",
            ],
            "incident_news": ["{B} : panne de l'e-shop, des clients débités deux fois"],
            "recovery": ["L'e-shop {b} remarche, enfin"],
            "recovery_news": ["{B} annonce un geste pour les clients concernés"],
        },
        "en": {
            "praise": [
                "The {drink} at {b} in {city} is {inte} {pose}",
                "Coffee break at {b}, {inte} {pose} as always",
                "My {box} just arrived and it smells {inte} good",
                "The seasonal {sig} is {inte} good",
                "Best {drink} in {city}, {b} is always on point",
                "{b} baristas are {inte} friendly",
                "Working from {b} today, fast wifi and a perfect {drink}",
            ],
            "complaint": [
                "Waited {mins} minutes for a lukewarm {drink} at {b}, not happy",
                "My {b} order still hasn't arrived after {days} days, disappointed",
                "{cost} for a {drink} at {b}? {inte} overpriced",
                "{b} wifi isn't working again",
                "My {box} arrived crushed, {inte} disappointed",
                "Never again ordering from the {b} e-shop",
                "The {drink} at {b} tasted burnt, {nege}",
            ],
            "question": [
                "What time does {b} in {city} open on Sundays?",
                "Does {b} have oat milk?",
                "Is the {box} a good gift?",
                "Anyone tried the {sig} yet?",
            ],
            "info": [
                "Meeting at {b} at 3pm",
                "New {b} opening near the station in {city}",
                "Quick {drink} at {b} before the train",
            ],
            "news": [
                "{B} to open {n3} new cafés in 2026",
                "{B} bets on subscriptions with its {box}",
            ],
            "service_pos": ["Thanks {h} for replacing my order"],
            "service_neu": ["{h} do you ship to Belgium?"],
            "service_neg": ["{h} order #{n} still not delivered, not happy"],
            "incident": [
                "{b} e-shop down, can't check out",
                "Charged twice by {b}, refund me",
                "{b} orders stuck since this morning, not happy",
            ],
            "incident_news": ["{B} e-shop outage: customers charged twice"],
            "recovery": ["{b} e-shop is back up"],
            "recovery_news": ["{B} says double charges will be refunded"],
        },
        "es": {
            "praise": ["El {drink} de {b} en {city} está buenísimo"],
            "complaint": ["Pedido de {b} sin llegar desde hace {days} días, fatal"],
            "info": ["¿{b} envía a España?", "Hoy café en {b} con amigos"],
            "incident": ["La tienda online de {b} no funciona"],
        },
        "de": {
            "praise": ["Der {drink} bei {b} in {city} ist richtig gut"],
            "complaint": ["Meine {b} Bestellung ist nach {days} Tagen immer noch nicht da"],
            "info": ["Treffen um drei bei {b}", "Liefert {b} auch nach Deutschland?"],
            "incident": ["Der {b} Onlineshop ist kaputt"],
        },
    },
    # Chatter that names no brand, some of it deliberately close to the brands' themes
    # (operators, coffee, outages) so that the watch rules are exercised on near misses.
    "none": {
        "fr": {
            "praise": [
                "Le nouveau café en bas de chez moi est {intf} {posf}",
                "Match de folie hier soir, quel but à la 89e",
                "Le marché de Noël de {city} est {intf} {posf}",
                "Recette du banana bread de mamie, un régal",
                "Vivement le week-end",
            ],
            "complaint": [
                "Il pleut depuis {days} jours à {city}, j'en peux plus",
                "Mon téléphone est tombé dans l'eau, il ne s'allume plus",
                "Embouteillages monstres sur le périph ce matin, c'est {negf}",
                "Coupure d'électricité dans tout le quartier à {city}",
                "Encore un train supprimé, je ne suis pas content",
            ],
            "question": [
                "Quelqu'un sait si la ligne 13 est encore en grève demain ?",
                "Quel opérateur vous conseillez pour la fibre à {city} ?",
                "Qui regarde la finale ce soir ?",
                "Un bon resto à {city} pour ce soir ?",
            ],
            "info": [
                "Réunion décalée à 14h",
                "Soldes d'hiver à partir du 7 janvier",
                "Concert complet à {city} ce week-end",
                "Les travaux du tram à {city} reprennent lundi",
            ],
            "news": [
                "Météo : {city} sous la pluie toute la semaine",
                "Transports : le trafic reprend progressivement à {city}",
                "Économie : la consommation des ménages repart en hausse",
            ],
        },
        "en": {
            "praise": [
                "Best coffee I've had all week, tiny place near the station",
                "What a match last night",
                "Just finished a 10k run, {inte} proud",
                "Can't wait for the weekend",
            ],
            "complaint": [
                "Rain for {days} days straight in {city}, send help",
                "My phone fell in the sink and won't turn on",
                "Train delayed again, not happy",
                "Power cut in the whole street this morning",
            ],
            "question": [
                "Anyone else's train delayed again this morning?",
                "Which carrier do you recommend for fiber in {city}?",
                "Any good bakery in {city}?",
            ],
            "info": [
                "Meeting moved to 2pm",
                "Winter sales start on January 7th",
                "Gig tonight in {city}",
            ],
            "news": [
                "Weather: heavy rain expected across {city} this week",
                "Markets open higher as inflation eases",
            ],
        },
        "es": {
            "praise": ["Qué buen partido anoche"],
            "complaint": ["Otra vez huelga de trenes, qué desastre"],
            "info": ["¿Alguien va al concierto esta noche?", "Qué frío hace hoy en {city}"],
        },
        "de": {
            "praise": ["Bald ist Wochenende"],
            "complaint": ["Der Zug hat schon wieder Verspätung"],
            "info": ["Wer kommt heute Abend mit ins Kino?", "Schnee in {city} heute früh"],
        },
    },
}

#: What to use when a language lacks a kind (the Spanish and German sets are small).
_FALLBACK_KIND = {
    "service_pos": "praise",
    "service_neu": "question",
    "service_neg": "complaint",
    "question": "info",
    "news": "info",
    "incident_news": "incident",
    "recovery_news": "recovery",
    "recovery": "info",
    "incident": "complaint",
}

#: Second sentences that carry the polarity without naming anything (longer platforms).
_TAILS: dict[str, dict[str, list[str]]] = {
    "fr": {
        "positive": [
            "Je recommande.", "Rien à redire.", "Très bonne surprise.", "Je ne regrette pas.",
        ],
        "neutral": ["Des avis ?", "Je vous tiens au courant.", "Merci d'avance.", "On verra bien."],
        "negative": [
            "Je suis déçu.", "Plus jamais.", "Franchement pas terrible.",
            "Je ne suis pas content du tout.",
        ],
    },
    "en": {
        "positive": [
            "Highly recommend.", "No complaints.", "Pleasantly surprised.", "Would buy again.",
        ],
        "neutral": ["Any thoughts?", "Will report back.", "Thanks in advance.", "We'll see."],
        "negative": ["Not happy.", "Never again.", "Really disappointed.", "Avoid."],
    },
}

_EMOJI = {
    "positive": ["😍", "👍", "❤️", "🔥", "😂", "🙌", "✨"],
    "neutral": ["🤔", "👀", "📱", "🙂"],
    "negative": ["😡", "🤬", "🙄", "😤", "👎", "😠"],
}
_TOPIC_EMOJI = {"acme": "📱", "boreal": "☕", None: "😂"}
_HASHTAGS: dict[str | None, list[str]] = {
    "acme": ["#fibre", "#5G", "#4G", "#SAV", "#telecom", "#smartphone", "#forfait"],
    "boreal": [
        "#café", "#coffee", "#coffeetime", "#latte", "#pausecafé", "#barista", "#specialtycoffee",
    ],
    None: ["#lundi", "#Paris", "#mood", "#life", "#instadaily"],
}
_BRAND_HASHTAGS: dict[str | None, list[str]] = {
    "acme": ["#acme", "#Acme", "#ACME"],
    "boreal": ["#boreal", "#Boreal", "#BorealCafe"],
    None: [],
}
_INCIDENT_HASHTAGS = {
    "acme": ["#AcmeDown", "#AcmeDown", "#panne", "#outage"],
    "boreal": ["#panne", "#eshop"],
}
# fmt: on

_COMBINING = re.compile("[\u0300-\u036f]")
_SLOT = re.compile(r"\{(\w+)\}")


def _strip_accents(text: str) -> str:
    # Only the combining accents go: emoji variation selectors (also Mn) must survive.
    return unicodedata.normalize("NFC", _COMBINING.sub("", unicodedata.normalize("NFD", text)))


class _Picker:
    """Weighted choice over a fixed vocabulary, cumulative weights computed once."""

    __slots__ = ("values", "cum")

    def __init__(self, entries: Weighted) -> None:
        self.values: list[str] = []
        self.cum: list[float] = []
        total = 0.0
        for entry in entries:
            value, weight = (entry, 1.0) if isinstance(entry, str) else entry
            total += weight
            self.values.append(value)
            self.cum.append(total)

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cum)[0]


_PICKERS = {key: _Picker(entries) for key, entries in _VOCAB.items()}


def _fill(template: str, rng: random.Random, topic: str | None, lang: str) -> str:
    topic_key = _TOPIC_KEY[topic]

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        number = _numeric_slot(name, rng)
        if number is not None:
            return number
        for key in (f"{name}:{topic_key}:{lang}", f"{name}:{topic_key}", f"{name}:{lang}", name):
            picker = _PICKERS.get(key)
            if picker is not None:
                return picker(rng)
        raise KeyError(f"no vocabulary for slot {{{name}}} (topic={topic_key}, lang={lang})")

    return _SLOT.sub(replace, template)


def _templates(topic: str | None, lang: str, kind: str) -> list[str]:
    by_kind = TEMPLATES[_TOPIC_KEY[topic]][lang]
    while kind not in by_kind:
        kind = _FALLBACK_KIND.get(kind, "info")
    return by_kind[kind]


# ---------------------------------------------------------------------------
# Authors and audience
# ---------------------------------------------------------------------------

# fmt: off
_FIRST = (
    "julie", "thomas", "camille", "lucas", "emma", "hugo", "lea", "nathan", "chloe", "louis",
    "manon", "enzo", "sarah", "maxime", "ines", "antoine", "clara", "mathis", "alice", "paul",
    "jade", "theo", "lina", "adam", "zoe", "noah", "mila", "jules", "eva", "arthur", "sophie",
    "nicolas", "laura", "kevin", "marie", "pierre", "amandine", "julien", "james", "emily",
    "oliver", "jack", "olivia", "harry", "amelia", "liam", "mia", "ethan", "grace", "ryan",
    "chris", "sam", "alex", "jordan", "taylor", "morgan", "yasmine", "karim", "fatou", "mehdi",
)
_LAST = (
    "martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
    "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux",
    "vincent", "fournier", "morel", "girard", "andre", "mercier", "dupont", "lambert", "bonnet",
    "francois", "martinez", "smith", "jones", "brown", "taylor", "wilson", "evans", "walker",
    "wright", "green", "hall",
)
_WORDS = (
    "pixel", "chat", "cafe", "nuit", "lune", "soleil", "geek", "velo", "rando", "jazz", "ramen",
    "panda", "loup", "ours", "tigre", "nomade", "zen", "retro", "urban", "cosmo", "byte", "dev",
    "photo", "vinyl", "pizza", "kiwi", "mango", "storm", "echo", "nova", "indie", "gamer",
    "runner", "reader", "blue", "red", "grey", "sud", "ocean",
)
_ADJ = (
    "Fluffy", "Brave", "Quiet", "Lucky", "Sleepy", "Clever", "Happy", "Salty", "Grumpy", "Swift",
    "Wild", "Gentle",
)
_NOUN = (
    "Potato", "Falcon", "Otter", "Badger", "Teapot", "Panda", "Walrus", "Pickle", "Comet", "Raven",
    "Turnip", "Lemur",
)
_DEPTS = ("75", "69", "13", "33", "59", "44", "31", "35", "67", "38", "34", "06", "92", "93")

#: Fictional outlets: handle, domain (reserved .example TLD so no real site is impersonated).
_OUTLETS = (
    "lefilnumerique", "actu_telecom", "journal_du_matin", "techhebdo", "eco_express", "ouest_info",
    "metropole_news", "euro_tech_review", "le_courrier_numerique", "gazette_du_net", "conso_mag",
    "retail_watch_eu", "saveurs_business", "la_depeche_tech",
)
_MASTODON_INSTANCES = (
    "mastodon.social", "piaille.fr", "mamot.fr", "framapiaf.org", "mastodon.online",
)
_FORUMS: dict[str | None, tuple[str, ...]] = {
    "acme": ("forum.telephonie.example", "forum.conso.example", "communaute.geek.example"),
    "boreal": ("forum.barista.example", "forum.conso.example"),
    None: ("forum.conso.example", "communaute.geek.example"),
}
_SUBREDDITS: dict[str | None, tuple[str, ...]] = {
    "acme": ("france", "AskFrance", "telecom", "Android"),
    "boreal": ("france", "Coffee", "paris", "AskFrance"),
    None: ("france", "AskFrance", "europe"),
}

#: Follower counts are log-normal per platform: (mu, sigma) of ln(followers).
_FOLLOWERS_LOGNORMAL = {
    "twitter": (5.2, 1.8), "mastodon": (4.6, 1.4), "facebook": (5.6, 1.1), "instagram": (6.0, 1.8),
    "reddit": (3.0, 1.6), "youtube": (2.5, 2.2), "forum": (1.8, 1.3), "blog": (6.5, 1.4),
    "news": (11.0, 1.1),
}
#: Share of each platform's accounts that are influencers (100k-2M followers).
_BIG_ACCOUNT_SHARE = {
    "twitter": 0.012, "instagram": 0.015, "youtube": 0.008, "facebook": 0.005, "mastodon": 0.002,
}
_MAX_FOLLOWERS = 2_000_000
#: (likes per follower, likes a nobody still gets, shares per like).
_ENGAGEMENT = {
    "twitter": (0.006, 1.5, 0.25), "mastodon": (0.012, 1.5, 0.30), "facebook": (0.008, 2.0, 0.15),
    "instagram": (0.020, 3.0, 0.03), "reddit": (0.050, 12.0, 0.02), "youtube": (0.010, 2.0, 0.0),
    "forum": (0.020, 0.8, 0.0), "blog": (0.003, 2.0, 0.20), "news": (0.0015, 5.0, 0.30),
}
# fmt: on
_POOL_SIZE = 4000


@dataclass(frozen=True, slots=True)
class _Author:
    handle: str
    followers: int
    home: str  # mastodon instance, outlet domain or blog host: where the URL points


class _Authors:
    """Per-platform account pools with Zipf-like activity: a few accounts post a lot."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._taken: set[str] = set()
        self.pools: dict[str, list[_Author]] = {}
        self.cum: dict[str, list[float]] = {}
        self.big: dict[str, list[_Author]] = {}
        total_weight = sum(_PLATFORM_WEIGHTS)
        for platform, weight in zip(PLATFORMS, _PLATFORM_WEIGHTS, strict=True):
            if platform == "news":
                pool = [self._outlet(handle) for handle in _OUTLETS]
            else:
                size = 20 + int(_POOL_SIZE * weight / total_weight)
                pool = [self._account(platform) for _ in range(size)]
            self.pools[platform] = pool
            cum, acc = [], 0.0
            for rank in range(len(pool)):
                acc += 1.0 / (rank + 5) ** 0.9
                cum.append(acc)
            self.cum[platform] = cum
            self.big[platform] = [a for a in pool if a.followers >= 100_000]

    def pick(self, platform: str) -> _Author:
        return self._rng.choices(self.pools[platform], cum_weights=self.cum[platform])[0]

    def pick_big(self, platform: str) -> _Author | None:
        big = self.big[platform]
        return self._rng.choice(big) if big else None

    def _followers(self, platform: str) -> int:
        rng = self._rng
        if rng.random() < _BIG_ACCOUNT_SHARE.get(platform, 0.0):
            return int(math.exp(rng.uniform(math.log(100_000), math.log(_MAX_FOLLOWERS))))
        mu, sigma = _FOLLOWERS_LOGNORMAL[platform]
        return min(_MAX_FOLLOWERS, int(rng.lognormvariate(mu, sigma)))

    def _outlet(self, handle: str) -> _Author:
        self._taken.add(handle)
        domain = "www." + handle.replace("_", "-") + ".example"
        return _Author(handle, self._followers("news"), domain)

    def _account(self, platform: str) -> _Author:
        rng = self._rng
        while True:
            handle = self._handle(platform)
            if handle not in self._taken:
                break
        self._taken.add(handle)
        if platform == "mastodon":
            home = rng.choice(_MASTODON_INSTANCES)
        elif platform == "blog":
            home = rng.choice(("wordpress.com", "medium.com", "over-blog.com"))
        else:
            home = ""
        return _Author(handle, self._followers(platform), home)

    def _handle(self, platform: str) -> str:
        rng = self._rng
        first, last, word = rng.choice(_FIRST), rng.choice(_LAST), rng.choice(_WORDS)
        if platform == "reddit":
            styles = [
                f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}-{rng.randint(1000, 9999)}",
                f"{rng.choice(_ADJ)}{rng.choice(_NOUN)}{rng.randint(1, 999)}",
                f"{word}_{first}",
                f"throwaway_{rng.randint(100, 99999)}",
            ]
        elif platform == "forum":
            styles = [
                f"{word.capitalize()}{rng.randint(1, 99)}",
                f"{first}{rng.choice(_DEPTS)}",
                f"xX_{word}_Xx",
            ]
        elif platform == "blog":
            styles = [f"{first}-{last}", f"lecarnetde{first}", f"{word}-et-{rng.choice(_WORDS)}"]
        else:
            styles = [
                f"{first}{last}",
                f"{first}_{last}",
                f"{first}{rng.randint(1, 99)}",
                f"{first}_{rng.choice(_DEPTS)}",
                f"user{rng.randint(1000, 9999)}",
                f"{word}_{rng.choice(_WORDS)}{rng.randint(1, 99)}",
                f"{first.capitalize()}{last.capitalize()}",
                f"le_{word}_{first}",
                f"{first}{last[0]}{rng.randint(1985, 2006)}",
            ]
            if platform in ("facebook", "instagram", "youtube"):
                styles.append(f"{first}.{last}")
        return rng.choice(styles)


def _audience(rng: random.Random, platform: str, followers: int, virality: float) -> dict[str, int]:
    per_follower, floor, share_ratio = _ENGAGEMENT[platform]
    likes = int(
        followers * per_follower * rng.lognormvariate(0.0, 1.0) * virality
        + rng.expovariate(1 / floor)
    )
    shares = int(likes * share_ratio * rng.uniform(0.3, 1.7))
    return {"followers": followers, "likes": likes, "shares": shares}


# ---------------------------------------------------------------------------
# URLs
# ---------------------------------------------------------------------------

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", _strip_accents(text).lower())
    return "-".join(words[:7]) or "post"


def _url(
    rng: random.Random, platform: str, author: _Author, topic: str | None, text: str, ts: datetime
) -> str:
    if platform == "twitter":
        status = rng.randrange(1_900_000_000_000_000_000, 2_100_000_000_000_000_000)  # 2026-era ids
        return f"https://twitter.com/{author.handle}/status/{status}"
    if platform == "mastodon":
        return f"https://{author.home}/@{author.handle}/{rng.randrange(10**17, 10**18)}"
    if platform == "facebook":
        return f"https://www.facebook.com/{author.handle}/posts/{rng.randrange(10**15, 10**16)}"
    if platform == "instagram":
        return f"https://www.instagram.com/p/{_token(rng, _B64URL, 11)}/"
    if platform == "reddit":
        sub = rng.choice(_SUBREDDITS[topic])
        return f"https://www.reddit.com/r/{sub}/comments/{_token(rng, _BASE36, 7)}/{_slug(text)}/"
    if platform == "youtube":
        video, comment = _token(rng, _B64URL, 11), _token(rng, _ALNUM, 23)
        return f"https://www.youtube.com/watch?v={video}&lc=Ugx{comment}"
    if platform == "news":
        section = rng.choice(("economie", "tech", "conso", "actu"))
        return f"https://{author.home}/{section}/{_slug(text)}-{rng.randrange(10**6, 10**7)}.html"
    if platform == "blog":
        if author.home == "medium.com":
            suffix = _token(rng, "0123456789abcdef", 12)
            return f"https://medium.com/@{author.handle}/{_slug(text)}-{suffix}"
        return f"https://{author.handle}.{author.home}/{ts:%Y/%m/%d}/{_slug(text)}/"
    domain = rng.choice(_FORUMS[topic])
    return f"https://{domain}/t/{_slug(text)}/{rng.randrange(10_000, 999_999)}"


# ---------------------------------------------------------------------------
# One mention
# ---------------------------------------------------------------------------

_SOCIAL = {"twitter", "mastodon", "instagram", "facebook", "youtube"}
_LONG_FORM = {"forum", "reddit", "blog", "facebook"}
_HASHTAG_RATE = {
    "twitter": 0.30,
    "mastodon": 0.30,
    "instagram": 0.75,
    "facebook": 0.08,
    "youtube": 0.05,
}


@dataclass(slots=True)
class _Context:
    rng: random.Random
    authors: _Authors
    episode: Episode | None


def _language(rng: random.Random) -> str:
    roll = rng.random()
    if roll < _FOREIGN_SHARE:
        return "es" if roll < _FOREIGN_SHARE / 2 else "de"
    return "fr" if rng.random() < _FRENCH_SHARE else "en"


def _sentiment(
    rng: random.Random, topic: str | None, strength: float, episode: Episode | None
) -> str:
    pos, neu, neg = _BASE_SENTIMENT[topic]
    if episode is not None and strength > 0:
        target = neg + (episode.negative_share - neg) * strength
        scale = (1 - target) / (1 - neg)
        pos, neu, neg = pos * scale, neu * scale, target
    roll = rng.random()
    if roll < pos:
        return "positive"
    return "neutral" if roll < pos + neu else "negative"


def _kind(
    rng: random.Random, platform: str, sentiment: str, incident: bool, recovering: bool
) -> str:
    if platform == "news":
        if incident:
            return "incident_news"
        if recovering and sentiment != "negative" and rng.random() < 0.6:
            return "recovery_news"
        return "news"
    if incident:
        return "incident"
    if recovering and sentiment == "positive" and rng.random() < 0.6:
        return "recovery"
    if recovering and sentiment == "neutral" and rng.random() < 0.3:
        return "recovery"
    roll = rng.random()
    if sentiment == "positive":
        return "praise" if roll < 0.8 else "service_pos"
    if sentiment == "negative":
        return "complaint" if roll < 0.8 else "service_neg"
    return "question" if roll < 0.4 else "info" if roll < 0.8 else "service_neu"


def _decorate(
    ctx: _Context,
    text: str,
    *,
    topic: str | None,
    lang: str,
    platform: str,
    sentiment: str,
    incident: bool,
) -> str:
    """Make a clean template sentence look like something a person typed on that platform."""
    rng = ctx.rng
    if platform == "news":
        return text
    tails = _TAILS.get(lang)
    if tails and rng.random() < (0.45 if platform in _LONG_FORM else 0.12):
        if text[-1].isalnum():
            text += "."
        text += " " + rng.choice(tails[sentiment])
    if lang == "fr" and rng.random() < 0.15:
        text = _strip_accents(text)  # many people type without accents, on phones especially
    angry = sentiment == "negative"
    if angry and rng.random() < (0.30 if incident else 0.10):
        text = text.upper().rstrip(".") + rng.choice(("!!!", " !!!", "!!!!", " !!"))
    elif sentiment != "neutral" and text[-1].isalnum() and rng.random() < 0.25:
        text += (
            rng.choice(("!", "!!", "!!!", " !")) if lang == "fr" else rng.choice(("!", "!!", "!!!"))
        )
    elif rng.random() < 0.04:
        text = text.lower()
    emoji_rate = {"positive": 0.40, "neutral": 0.08, "negative": 0.45}[sentiment]
    if platform not in _SOCIAL:
        emoji_rate /= 3
    if rng.random() < emoji_rate:
        pool = _EMOJI[sentiment] + ([_TOPIC_EMOJI[topic]] if sentiment == "positive" else [])
        count = 1 if rng.random() < 0.7 else rng.randint(2, 3)
        symbol = rng.choice(pool)
        text += " " + (
            symbol * count
            if rng.random() < 0.5
            else "".join(rng.choice(pool) for _ in range(count))
        )
    if rng.random() < _HASHTAG_RATE.get(platform, 0.0):
        tags = _HASHTAGS[topic] + _BRAND_HASHTAGS[topic]
        if incident and topic in _INCIDENT_HASHTAGS:
            tags = _INCIDENT_HASHTAGS[topic] + _BRAND_HASHTAGS[topic]
        count = rng.randint(2, 5) if platform == "instagram" else rng.randint(1, 2)
        chosen: list[str] = []
        for tag in rng.sample(tags, min(count, len(tags))):
            # Skip what is already there, whatever its case: nobody writes #acme #Acme.
            present = text.casefold() + " " + " ".join(chosen).casefold()
            if tag.casefold() not in present:
                chosen.append(tag)
        if chosen:
            text += " " + " ".join(chosen)
    if platform in ("twitter", "mastodon") and rng.random() < 0.12:
        # A reply: the thread starts with the other account's handle.
        other = ctx.authors.pick(platform)
        text = f"@{other.handle} {text}"
    if platform in ("twitter", "facebook", "reddit") and rng.random() < 0.07:
        text += (
            f" https://t.co/{_token(rng, _ALNUM, 10)}"
            if platform == "twitter"
            else f" https://imgur.com/{_token(rng, _ALNUM, 7)}"
        )
    return text


def _mention(
    ctx: _Context, *, index: int, seed: int, topic: str | None, ts: datetime, offset_hours: float
) -> Mention:
    rng, episode = ctx.rng, ctx.episode
    in_episode = episode is not None and topic == episode.brand
    strength = episode.profile(offset_hours) if in_episode and episode is not None else 0.0
    recovering = in_episode and episode is not None and episode.is_recovering(offset_hours)

    lang = _language(rng)
    sentiment = _sentiment(rng, topic, strength, episode if in_episode else None)
    # During the crisis most of the anger is about the crisis itself.
    incident = sentiment == "negative" and strength > 0 and rng.random() < 0.1 + 0.85 * strength
    weights = _INCIDENT_PLATFORM_WEIGHTS if incident else _PLATFORM_WEIGHTS
    platform = rng.choices(PLATFORMS, weights=weights)[0]
    kind = _kind(rng, platform, sentiment, incident, recovering)
    template = rng.choice(_templates(topic, lang, kind))
    text = _fill(template, rng, topic, lang)
    text = _decorate(
        ctx, text, topic=topic, lang=lang, platform=platform, sentiment=sentiment, incident=incident
    )

    author = None
    if incident and platform != "news" and rng.random() < 0.08:
        author = ctx.authors.pick_big(platform)  # influencers pile on, and get amplified
    if author is None:
        author = ctx.authors.pick(platform)
    virality = 3.0 if incident else 1.3 if sentiment == "negative" else 1.0
    return {
        "id": f"demo-{seed}-{index:06d}",
        "source": SOURCE,
        "platform": platform,
        "author": author.handle,
        "text": text,
        "url": _url(rng, platform, author, topic, text, ts),
        "created_at": _utc_seconds(ts),
        "language": None,  # detection is the pipeline's job
        "audience": _audience(rng, platform, author.followers, virality),
    }


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
    return moment.astimezone(UTC)


def generate_tagged(
    start: datetime,
    hours: float,
    *,
    seed: int = DEFAULT_SEED,
    base_rate_per_hour: float = DEFAULT_RATE,
    episode: Episode | None = DEFAULT_EPISODE,
) -> Iterator[tuple[str | None, Mention]]:
    """Like generate(), paired with the brand each mention was written about (None: chatter)."""
    if not hours >= 0:  # NaN too: it would silently generate nothing
        raise ValueError("hours must be >= 0")
    if not base_rate_per_hour >= 0:
        raise ValueError("base_rate_per_hour must be >= 0")
    start = _as_utc(start)
    rng = random.Random(seed)
    ctx = _Context(rng=rng, authors=_Authors(rng), episode=episode)
    topics = list(_TOPIC_SHARES)
    total_seconds = hours * 3600.0
    hour_noise: dict[int, float] = {}
    index = 0
    slot_start = 0.0
    while slot_start < total_seconds:
        slot_end = min(slot_start + _SLOT_SECONDS, total_seconds)
        middle = (slot_start + slot_end) / 2
        moment = start + timedelta(seconds=middle)
        hour = int(slot_start // 3600)
        if hour not in hour_noise:
            hour_noise[hour] = rng.lognormvariate(0.0, _HOUR_NOISE_SIGMA)
        rate = base_rate_per_hour * _day_factor(moment) * _week_factor(moment) * hour_noise[hour]
        weights = [
            rate
            * share
            * (
                episode.rate_multiplier(middle / 3600)
                if episode is not None and topic == episode.brand
                else 1.0
            )
            for topic, share in _TOPIC_SHARES.items()
        ]
        count = _poisson(rng, sum(weights) * (slot_end - slot_start) / 3600.0)
        for offset in sorted(rng.uniform(slot_start, slot_end) for _ in range(count)):
            topic = rng.choices(topics, weights=weights)[0]
            # Whole seconds, floored: monotonic, so the output stays in order.
            ts = start + timedelta(seconds=math.floor(offset))
            index += 1
            yield (
                topic,
                _mention(
                    ctx, index=index, seed=seed, topic=topic, ts=ts, offset_hours=offset / 3600
                ),
            )
        slot_start = slot_end


def generate(
    start: datetime,
    hours: float,
    *,
    seed: int = DEFAULT_SEED,
    base_rate_per_hour: float = DEFAULT_RATE,
    episode: Episode | None = DEFAULT_EPISODE,
) -> Iterator[Mention]:
    """Raw mentions in created_at order over [start, start + hours), reproducible for a seed.

    base_rate_per_hour is the mean hourly volume of a weekday before any episode; the
    episode's start offset is counted from start.
    """
    for _, mention in generate_tagged(
        start, hours, seed=seed, base_rate_per_hour=base_rate_per_hour, episode=episode
    ):
        yield mention


def _dump(mentions: Iterable[Mention], out: TextIO) -> int:
    count = 0
    for mention in mentions:
        # Compact separators and raw UTF-8 keep the shipped sample small and readable.
        out.write(json.dumps(mention, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def write_jsonl(mentions: Iterable[Mention], path: str | Path) -> int:
    """Write one JSON object per line (UTF-8); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        return _dump(mentions, out)


class GenerateError(ValueError):
    """An option or output path the command line cannot use; the message says which and why."""


def parse_start(value: str) -> datetime:
    """An ISO 8601 date-time as UTC (no offset: already UTC); GenerateError if it is not one."""
    try:
        return _as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise GenerateError(f"not an ISO 8601 date-time: {value!r}") from None
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is in year 0 in UTC
        raise GenerateError(f"{value!r} is outside years 1..9999 in UTC") from None


def check_options(start: datetime, hours: float, rate: float = DEFAULT_RATE) -> None:
    """GenerateError unless the command line can generate `hours` from `start` at `rate`."""
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise GenerateError(
            f"--hours must be a number > 0 and at most {MAX_HOURS:g} (366 days), not {hours:g}"
        )
    if not (math.isfinite(rate) and 0 <= rate <= MAX_RATE):
        raise GenerateError(
            f"--rate must be a number of mentions per hour from 0 to {MAX_RATE:g}, not {rate:g}"
        )
    try:
        _as_utc(start) + timedelta(hours=hours)
    except OverflowError:
        raise GenerateError(
            f"--start {start:%Y-%m-%dT%H:%M:%S} + {hours:g} h ends after year 9999"
        ) from None


def run(
    out: str,
    start: datetime,
    hours: float,
    *,
    seed: int = DEFAULT_SEED,
    rate: float = DEFAULT_RATE,
    episode: Episode | None = DEFAULT_EPISODE,
) -> int:
    """The command lines' work: check the options, write the mentions to `out` (- is stdout) and
    a one-line summary to stderr; returns the exit status.

    GenerateError for a bad option or an output path that cannot be written (a directory, a path
    under a file, no permission); a reader that stops early (`| head`) is not an error.
    """
    check_options(start, hours, rate)
    start = _as_utc(start)
    if not out:
        raise GenerateError("--out: empty path, expected a file name or - for stdout")
    per_brand: Counter[str] = Counter()

    def counted() -> Iterator[Mention]:
        for brand, mention in generate_tagged(
            start, hours, seed=seed, base_rate_per_hour=rate, episode=episode
        ):
            per_brand[brand or "none"] += 1
            yield mention

    try:
        count = _dump(counted(), sys.stdout) if out == "-" else write_jsonl(counted(), out)
    except BrokenPipeError:
        # The reader (e.g. `| head`) had enough: not an error. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FileExistsError, NotADirectoryError):  # from creating the missing folders
        raise GenerateError(f"{out}: cannot write: a parent of it is a file, not a folder") from None
    except OSError as exc:
        raise GenerateError(f"{out}: cannot write: {exc.strerror or exc}") from None
    brands = ", ".join(f"{name}={per_brand[name]}" for name in (*BRANDS, "none"))
    print(
        f"veille.demo: {count} mentions from {_utc_seconds(start)} over {hours:g} h "
        f"(seed {seed}) -> {out} [{brands}]",
        file=sys.stderr,
    )
    return 0


def _parse_start(value: str) -> datetime:
    try:
        return parse_start(value)
    except GenerateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m veille.demo --hours 6 --start 2026-01-05T06:00:00Z --seed 7 --out F.jsonl

    `veille generate` is the same command; both print errors as `PROG: error: ...`, exit 2.
    """
    parser = argparse.ArgumentParser(
        prog="python -m veille.demo",
        description="Generate synthetic raw mentions as JSON lines."
        " The defaults reproduce the shipped sample.",
    )
    parser.add_argument(
        "--start", type=_parse_start, default=SAMPLE_START, help="ISO 8601, UTC if no offset"
    )
    parser.add_argument(
        "--hours", type=float, default=SAMPLE_HOURS, help=f"> 0, at most {MAX_HOURS:g} (366 days)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"mean mentions per hour on a weekday, 0 to {MAX_RATE:g}",
    )
    parser.add_argument(
        "--no-episode", action="store_true", help="leave out the injected Acme outage"
    )
    parser.add_argument("--out", default="-", help="output file, - for stdout")
    args = parser.parse_args(argv)
    try:
        return run(
            args.out,
            args.start,
            args.hours,
            seed=args.seed,
            rate=args.rate,
            episode=None if args.no_episode else DEFAULT_EPISODE,
        )
    except GenerateError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
