"""Unit tests of the synthetic mention generator (veille.demo) and of the data it ships."""

from __future__ import annotations

import json
import random
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from veille import demo
from veille.demo import DEFAULT_EPISODE, Episode, generate, generate_tagged

Mention = dict[str, Any]

START = demo.SAMPLE_START  # 2026-01-05T03:00Z, a Monday
MIDNIGHT = datetime(2026, 1, 5, tzinfo=UTC)

# Deliberately crude polarity cues: the point is to check the generator's intent, not to
# reimplement sentiment analysis. Matched on lower-cased, accent-stripped text.
NEGATIVE_CUES = re.compile(
    r"\b(panne|hs|down|outage|rembours\w*|refund|nuls?|decue?s?|pas content|not happy"
    r"|isn't working|never again|worst|honte|honteux|inadmissible|lamentable|catastrophique"
    r"|unacceptable|terrible|awful|useless|ridiculous|disappointed|disappointing|injoignable"
    r"|plus jamais|ne marche|ne fonctionne|desastre|fatal|katastrophe|ausgefallen|caido)\b"
    r"|acmedown|😡|🤬|🙄|👎"
)
# fmt: off
FRENCH_WORDS = frozenset((
    "le", "la", "les", "de", "des", "du", "est", "je", "pas", "et", "une", "un", "pour", "sur",
    "chez", "ca", "c'est", "mon", "ma", "au", "avec", "que", "depuis", "plus", "vous", "quelqu'un",
))
ENGLISH_WORDS = frozenset((
    "the", "is", "my", "and", "for", "to", "with", "at", "it", "of", "i", "in", "anyone", "not",
    "this", "has", "been", "does", "how", "what", "since",
))
# fmt: on


def fold(text: str) -> str:
    """Lower-case and drop accents, as the watch rules do."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", re.sub("[\u0300-\u036f]", "", decomposed)).casefold()


def is_negative(text: str) -> bool:
    return NEGATIVE_CUES.search(fold(text)) is not None


def is_acme(text: str) -> bool:
    folded = fold(text)
    return "acme" in folded or "zephyr" in folded


def created(mention: Mention) -> datetime:
    return datetime.fromisoformat(mention["created_at"])


def assert_contract(mention: Mention) -> None:
    assert tuple(mention) == demo.FIELDS, mention
    assert isinstance(mention["id"], str) and mention["id"]
    assert mention["source"] == "demo"
    assert mention["platform"] in demo.PLATFORMS
    assert isinstance(mention["author"], str) and mention["author"].strip()
    assert isinstance(mention["text"], str) and mention["text"].strip()
    assert isinstance(mention["url"], str) and mention["url"].startswith("https://")
    assert " " not in mention["url"]
    stamp = mention["created_at"]
    assert isinstance(stamp, str) and (stamp.endswith("Z") or stamp.endswith("+00:00"))
    assert created(mention).utcoffset() == timedelta(0)
    assert mention["language"] is None
    audience = mention["audience"]
    assert isinstance(audience, dict) and tuple(audience) == demo.AUDIENCE_FIELDS
    for value in audience.values():
        assert type(value) is int and value >= 0  # bool is an int subclass: reject it too


class Matcher:
    """The watch-list semantics: case- and accent-insensitive terms on word boundaries."""

    def __init__(self, path: Path) -> None:
        with path.open("rb") as fh:
            brands = tomllib.load(fh)["brands"]
        self.patterns = {
            brand["id"]: re.compile(
                "|".join(
                    rf"(?<!\w){re.escape(fold(term))}(?!\w)"
                    for term in brand["aliases"] + brand["keywords"] + brand["hashtags"]
                )
            )
            for brand in brands
        }

    def brands(self, text: str) -> set[str]:
        folded = fold(text)
        return {brand for brand, pattern in self.patterns.items() if pattern.search(folded)}


def hourly(mentions: Iterable[Mention]) -> Counter[int]:
    return Counter(created(m).hour for m in mentions)


@pytest.fixture(scope="module")
def tagged_sample() -> list[tuple[str | None, Mention]]:
    return list(generate_tagged(START, demo.SAMPLE_HOURS))


@pytest.fixture(scope="module")
def sample() -> list[Mention]:
    with demo.SAMPLE_PATH.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# --- determinism and ordering ---------------------------------------------------------------


def test_same_seed_same_mentions_other_seed_other_mentions() -> None:
    first = list(generate(START, 1.0, seed=3))
    assert first == list(generate(START, 1.0, seed=3))
    assert first != list(generate(START, 1.0, seed=4))


def test_global_random_state_is_left_alone() -> None:
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    list(generate(START, 0.5))
    assert random.random() == expected


def test_naive_start_is_taken_as_utc() -> None:
    naive = datetime(2026, 1, 5, 3, 0)
    assert list(generate(naive, 0.5)) == list(generate(START, 0.5))


def test_a_start_before_the_year_1000_writes_times_that_read_back() -> None:
    """Found in review (2026-12-05): strftime wrote the year 999 as "999", which no ISO 8601
    reader takes: `veille generate --start 0999-06-01` made a file replay refused line by line."""
    from streams.records import parse_time

    early = datetime(999, 6, 1, tzinfo=UTC)
    mentions = list(generate(early, 0.2))
    assert mentions and all(m["created_at"].startswith("0999-06-01T") for m in mentions)
    assert parse_time(mentions[0]["created_at"], "created_at") >= early


def test_chronological_unique_ids_within_range(tagged_sample: list[tuple[str | None, Mention]]) -> None:
    mentions = [m for _, m in tagged_sample]
    stamps = [created(m) for m in mentions]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < START + timedelta(hours=demo.SAMPLE_HOURS)
    ids = [m["id"] for m in mentions]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("demo-7-") for i in ids)


def test_every_mention_has_exactly_the_contract(
    tagged_sample: list[tuple[str | None, Mention]],
) -> None:
    for _, mention in tagged_sample:
        assert_contract(mention)


# --- content ---------------------------------------------------------------------------------


def test_french_and_english_both_present(tagged_sample: list[tuple[str | None, Mention]]) -> None:
    languages: Counter[str] = Counter()
    for _, mention in tagged_sample:
        words = re.findall(r"[\w']+", fold(mention["text"]))
        fr = sum(w in FRENCH_WORDS for w in words)
        en = sum(w in ENGLISH_WORDS for w in words)
        languages["fr" if fr > en else "en" if en > fr else "?"] += 1
    total = sum(languages.values())
    assert 0.45 < languages["fr"] / total < 0.75
    assert 0.25 < languages["en"] / total < 0.50


def test_brand_mix_agrees_with_the_shipped_watch_list(
    tagged_sample: list[tuple[str | None, Mention]],
) -> None:
    matcher = Matcher(demo.WATCHLIST_PATH)
    for brand, mention in tagged_sample:
        expected = {brand} if brand else set()
        assert matcher.brands(mention["text"]) == expected, mention["text"]
    shares = Counter(brand for brand, _ in tagged_sample)
    assert 0.05 < shares[None] / len(tagged_sample) < 0.2
    assert shares["acme"] > 0 and shares["boreal"] > 0


def test_nicknames_mention_the_product_without_the_brand(
    tagged_sample: list[tuple[str | None, Mention]],
) -> None:
    texts = [fold(m["text"]) for brand, m in tagged_sample if brand == "acme"]
    assert any("zephyr" in t and not re.search(r"(?<!\w)[@#]?acme(?!\w)", t) for t in texts)


def test_texts_look_like_social_media(tagged_sample: list[tuple[str | None, Mention]]) -> None:
    texts = [m["text"] for _, m in tagged_sample]
    assert len(set(texts)) / len(texts) > 0.6  # templates + vocabulary + decorations vary a lot
    assert any(ch in t for t in texts for ch in ("😍", "👍", "🔥"))
    assert any(ch in t for t in texts for ch in ("😡", "🤬", "🙄"))
    assert any(re.search(r"(^|\s)#\w", t) for t in texts)
    assert any(re.search(r"(^|\s)@\w", t) for t in texts)
    assert any("https://" in t for t in texts)
    assert any("!!!" in t for t in texts)
    assert any(t.isupper() for t in texts)  # shouting
    assert any("decu" in t for t in texts) and any("déçu" in t for t in texts)
    assert any(re.search(r"\bACME\b", t) for t in texts) and any("acme mobile" in t for t in texts)


def test_platforms_and_heavy_tailed_audience(tagged_sample: list[tuple[str | None, Mention]]) -> None:
    mentions = [m for _, m in tagged_sample]
    platforms = Counter(m["platform"] for m in mentions)
    assert set(platforms) == set(demo.PLATFORMS)
    assert platforms.most_common(1)[0][0] == "twitter"
    followers = sorted(m["audience"]["followers"] for m in mentions)
    assert followers[len(followers) // 2] < 2_000  # most authors are nobodies...
    assert any(f >= 100_000 for f in followers)  # ...a few are not
    assert followers[-1] <= 2_000_000
    assert len({m["author"] for m in mentions}) > len(mentions) / 5


# --- volume model ----------------------------------------------------------------------------


def test_daily_rhythm_night_trough_and_two_peaks() -> None:
    per_hour = hourly(generate(MIDNIGHT, 24.0, episode=None))
    night = (per_hour[3] + per_hour[4]) / 2
    lunch = (per_hour[12] + per_hour[13]) / 2
    evening = (per_hour[20] + per_hour[21]) / 2
    assert night < 0.35 * lunch
    assert night < 0.35 * evening
    assert lunch > (per_hour[9] + per_hour[16]) / 2 * 0.9  # a bump, not just a slope
    assert 0.8 * 600 * 24 < sum(per_hour.values()) < 1.2 * 600 * 24


def test_base_rate_scales_volume() -> None:
    small = sum(1 for _ in generate(START, 2.0, base_rate_per_hour=100.0, episode=None))
    large = sum(1 for _ in generate(START, 2.0, base_rate_per_hour=1000.0, episode=None))
    assert 6 < large / small < 14


# --- episode ---------------------------------------------------------------------------------


def split_by_window(
    mentions: Iterable[Mention], begin: datetime, end: datetime
) -> tuple[list[Mention], list[Mention]]:
    inside: list[Mention] = []
    outside: list[Mention] = []
    for mention in mentions:
        (inside if begin <= created(mention) < end else outside).append(mention)
    return inside, outside


def negative_share(mentions: list[Mention]) -> float:
    return sum(is_negative(m["text"]) for m in mentions) / len(mentions)


def test_episode_raises_volume_and_negativity_of_its_brand_only() -> None:
    start = datetime(2026, 1, 6, 8, tzinfo=UTC)
    episode = Episode(
        brand="acme", start_offset_hours=3.0, duration_hours=2.0, intensity=4.0, negative_share=0.72
    )
    begin, end = episode.window(start)
    assert (begin, end) == (start + timedelta(hours=3), start + timedelta(hours=5))
    tagged = list(generate_tagged(start, 8.0, episode=episode))
    acme_in, acme_out = split_by_window((m for b, m in tagged if b == "acme"), begin, end)
    other_in, other_out = split_by_window((m for b, m in tagged if b != "acme"), begin, end)
    # Rates per hour: the window is 2 h of the 8.
    assert len(acme_in) / 2 > 2.0 * len(acme_out) / 6
    assert len(other_in) / 2 < 1.5 * len(other_out) / 6
    assert negative_share(acme_in) > 0.45
    assert negative_share(acme_out) < 0.25
    assert negative_share(acme_in) > 2.5 * negative_share(acme_out)
    assert negative_share(other_in) < 0.25

    # Control: the same hours without the episode stay calm.
    calm = [m for b, m in generate_tagged(start, 8.0, episode=None) if b == "acme"]
    calm_in, _ = split_by_window(calm, begin, end)
    assert negative_share(calm_in) < 0.25


def test_default_episode_is_an_acme_outage() -> None:
    assert DEFAULT_EPISODE.brand == "acme"
    assert DEFAULT_EPISODE.intensity >= 3
    assert DEFAULT_EPISODE.negative_share >= 0.6
    assert DEFAULT_EPISODE.start_offset_hours + DEFAULT_EPISODE.duration_hours < demo.SAMPLE_HOURS
    assert DEFAULT_EPISODE.profile(DEFAULT_EPISODE.start_offset_hours - 0.1) == 0.0
    middle = DEFAULT_EPISODE.start_offset_hours + DEFAULT_EPISODE.duration_hours / 3
    assert DEFAULT_EPISODE.profile(middle) == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"brand": "nobody"},
        {"duration_hours": 0.0},
        {"intensity": -1.0},
        {"negative_share": 1.5},
    ],
)
def test_episode_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    params: dict[str, Any] = {
        "brand": "acme",
        "start_offset_hours": 1.0,
        "duration_hours": 1.0,
        "intensity": 3.0,
        "negative_share": 0.7,
    }
    with pytest.raises(ValueError):
        Episode(**(params | kwargs))


def test_boreal_episode_is_supported() -> None:
    episode = Episode("boreal", 0.0, 2.0, 4.0, 0.7)
    mentions = [m for b, m in generate_tagged(START, 2.0, episode=episode) if b == "boreal"]
    assert negative_share(mentions) > 0.35


# --- output ----------------------------------------------------------------------------------


def test_write_jsonl_round_trip(tmp_path: Path) -> None:
    mentions = list(generate(START, 0.5, seed=11))
    path = tmp_path / "nested" / "out.jsonl"
    assert demo.write_jsonl(mentions, path) == len(mentions)
    with path.open(encoding="utf-8") as fh:
        assert [json.loads(line) for line in fh] == mentions


def test_cli_writes_file_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.jsonl"
    argv = ["--hours", "0.5", "--start", "2026-01-05T12:00:00Z", "--seed", "3", "--out", str(out)]
    assert demo.main(argv) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == list(
        generate(datetime(2026, 1, 5, 12, tzinfo=UTC), 0.5, seed=3)
    )
    summary = capsys.readouterr().err.strip()
    assert "\n" not in summary
    assert f"{len(lines)} mentions" in summary
    assert "acme=" in summary and "boreal=" in summary and "none=" in summary


# --- shipped data ----------------------------------------------------------------------------


def test_shipped_sample_has_the_contract_shape(sample: list[Mention]) -> None:
    assert 3_000 <= len(sample) <= 6_000
    assert demo.SAMPLE_PATH.stat().st_size < 2_000_000
    for mention in sample:
        assert_contract(mention)
    stamps = [created(m) for m in sample]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < START + timedelta(hours=demo.SAMPLE_HOURS)
    assert len({m["id"] for m in sample}) == len(sample)


def test_shipped_sample_shows_the_acme_spike(sample: list[Mention]) -> None:
    begin, end = DEFAULT_EPISODE.window(START)
    inside, outside = split_by_window((m for m in sample if is_acme(m["text"])), begin, end)
    hours_inside = DEFAULT_EPISODE.duration_hours
    assert len(inside) / hours_inside > 2.0 * len(outside) / (demo.SAMPLE_HOURS - hours_inside)
    assert negative_share(inside) > 0.45 > 0.25 > negative_share(outside)


def test_shipped_sample_is_reproducible_from_the_generator(sample: list[Mention]) -> None:
    # Regenerate with: python -m veille.demo --out veille/data/demo_mentions.jsonl
    assert sample == list(generate(START, demo.SAMPLE_HOURS))


def test_shipped_watch_list() -> None:
    with demo.WATCHLIST_PATH.open("rb") as fh:
        brands = tomllib.load(fh)["brands"]
    assert [b["id"] for b in brands] == list(demo.BRANDS)
    for brand in brands:
        assert isinstance(brand["name"], str) and brand["name"]
        for field in ("aliases", "keywords", "hashtags"):
            assert brand[field] and all(isinstance(t, str) and t for t in brand[field])
        assert all(tag.startswith("#") for tag in brand["hashtags"])
