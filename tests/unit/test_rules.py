"""Watch rules: case, accents, word boundaries, hashtags and handles, exclusions, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from veille.rules import Watchlist, WatchlistError, fold
from veille.settings import packaged_watchlist

W = Watchlist.from_toml(ROOT / "tests/data/watchlist.toml")


@pytest.mark.parametrize(
    ("text", "brands"),
    [
        ("ACME is great", ("acme",)),
        ("acme-mobile coverage", ("acme",)),
        ("j'adore le zephyr x2", ("acme",)),  # keyword, accent-insensitive
        ("LE ZÉPHYR X2 !!", ("acme",)),
        ("#acmedown encore", ("acme",)),
        ("thanks @ACME_FR", ("acme",)),
        ("#Acme rocks", ("acme",)),  # a plain term also matches as a hashtag
        ("acmeism is a word", ()),  # not inside a longer word
        ("#acmeforever", ()),
        ("write to me@acme.org", ()),  # not an e-mail domain
        ("Un café chez BOREAL", ("boreal",)),
        ("une aurore boréale au-dessus de Boréal", ()),  # excluded phrase
        ("Acme and Boréal", ("acme", "boreal")),
        ("nothing here", ()),
    ],
)
def test_matching(text: str, brands: tuple[str, ...]) -> None:
    assert W.match(text).brands == brands


def test_rules_name_brand_kind_and_term() -> None:
    m = W.match("Le Zéphyr X2 de Acme #AcmeDown")
    assert m.rules == ("acme:alias:Acme", "acme:keyword:Zéphyr X2", "acme:hashtag:#AcmeDown")


def test_fold() -> None:
    assert fold("Éléphant ÇA Straße") == "elephant ca strasse"


def test_packaged_watchlist_loads() -> None:
    assert Watchlist.from_toml(packaged_watchlist()).brand_ids


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "at least one"),
        ("[[brands]]\nname = 'x'", "needs an id"),
        ("[[brands]]\nid = 'Bad Id'", "needs an id"),
        ("[[brands]]\nid = 'a'\naliases = 'x'", "list of strings"),
        ("[[brands]]\nid = 'a'\n[[brands]]\nid = 'a'", "duplicate"),
        ("[[brands]]\nid = 'a'\nalias = ['typo']", "unknown keys"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_watchlists(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "w.toml"
    path.write_text(content)
    with pytest.raises(WatchlistError, match=message):
        Watchlist.from_toml(path)


def test_missing_watchlist() -> None:
    with pytest.raises(WatchlistError, match="does not exist"):
        Watchlist.from_toml("/nonexistent/w.toml")
