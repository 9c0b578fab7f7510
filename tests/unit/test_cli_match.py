"""`veille match`: what the enrichment stage makes of texts with a watch list, offline, through the
stage's own code (Enricher): a community manager tries an alias, an exclusion or a banned term
before the workers load the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WATCHLIST = """
[[brands]]
id = "acme"
name = "Acme"
aliases = ["@acme_fr"]
keywords = ["Zephyr X2"]
exclude = ["acme looney tunes"]
[brands.charter]
banned_terms = ["Arnacme"]

[[brands]]
id = "boreal"
name = "Boreal Cafe"
"""


def match(tmp_path: Path, stdin: str, *args: str, watchlist: str = WATCHLIST
          ) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "watchlist.toml"
    path.write_text(watchlist)
    return subprocess.run([sys.executable, "-m", "veille.cli", "match", "--watchlist", str(path), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_each_text_gets_its_brands_rules_sentiment_and_triage(tmp_path: Path) -> None:
    lines = ["My Zephyr X2 died after two days, what a useless phone",  # a keyword: no brand name
             "acme looney tunes is a classic cartoon",  # excluded
             "@acme_fr espèce de connard",
             json.dumps({"text": "Acme, arnacme, merci pour la facture", "platform": "twitter"}),
             "Boreal Cafe and @acme_fr both ignored my emails",
             json.dumps({"text": 3}),
             "Nothing to see here"]
    done = match(tmp_path, "\n".join(lines) + "\n")
    assert done.returncode == 1, done.stderr  # one bad line
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(lines)
    assert rows[0]["brands"] == ["acme"] and rows[0]["rules"] == ["acme:keyword:Zephyr X2"]
    assert rows[0]["label"] == "negative" and rows[0]["language"] == "en"
    assert rows[1]["brands"] == [] and rows[1]["triage"] is None
    assert rows[2]["triage"] == {"categories": ["insult", "aggressive"], "severity": "high",
                                 "action": "hide"}
    assert rows[3]["brands"] == ["acme"] and rows[3]["triage"]["action"] == "review"  # banned term
    assert rows[4]["brands"] == ["acme", "boreal"]  # watch-list order, not the text's
    assert rows[5] == {"line": 6, "error": "invalid_field: text must be a string"}
    assert rows[6]["brands"] == [] and rows[6]["label"] == "neutral"
    assert "2 brand(s) (acme, boreal)" in done.stderr and "line 6: invalid_field" in done.stderr


def test_a_bad_watch_list_is_said_before_any_text_is_read(tmp_path: Path) -> None:
    done = match(tmp_path, "Acme\n", watchlist=WATCHLIST.replace('exclude = ["acme looney tunes"]',
                                                                 'exclude = ["ACME"]'))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("veille: error: ") and "exclude" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bluesky_account_that_is_no_did_is_said_before_any_text_is_read(tmp_path: Path) -> None:
    """`bluesky_accounts` (the Jetstream collector's brand accounts) checked as the collector
    loads it: a handle is no DID; a valid list loads."""
    def accounts(value: str) -> str:
        return WATCHLIST.replace('name = "Acme"', f'name = "Acme"\nbluesky_accounts = [{value}]')

    done = match(tmp_path, "Acme\n", watchlist=accounts('"acme.bsky.social"'))
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert "acme.bluesky_accounts: 'acme.bsky.social' is not a Bluesky account's DID" in done.stderr
    done = match(tmp_path, "Acme\n", watchlist=accounts('"did:plc:acmeacmeacmeacmeacme2345"'))
    assert done.returncode == 0 and json.loads(done.stdout)["brands"] == ["acme"], done.stderr


def test_an_id_that_is_not_valid_unicode_is_that_line_s_error(tmp_path: Path) -> None:
    """A lone surrogate in a raw mention's id (escaped in the JSON, or an undecodable byte of
    stdin) is refused as the stage refuses it, on its line; the lines after it are answered."""
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST)
    stdin = (b'{"text": "Acme", "id": "a\\ud800"}\n'
             b'{"text": "Acme", "id": "a\xffb"}\n'
             b"Acme rocks\n")
    done = subprocess.run([sys.executable, "-m", "veille.cli", "match", "--watchlist", str(path)],
                          input=stdin, capture_output=True, timeout=120)
    stderr = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in stderr, stderr
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [r.get("line") for r in rows] == [1, 2, None]
    assert all("lone surrogate" in r["error"] for r in rows[:2])
    assert rows[2]["brands"] == ["acme"]


def test_the_header_of_a_long_watch_list_stays_one_short_line(tmp_path: Path) -> None:
    """300 brands: the header named every id on one line of about 4,000 characters (found in
    review, 2026-12-07); it names the first 10 and counts the others."""
    watchlist = "".join(f'[[brands]]\nid = "brand{i:03d}"\nname = "Brand{i:03d}"\n' for i in range(300))
    done = match(tmp_path, "Brand007 rocks\n", watchlist=watchlist)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["brands"] == ["brand007"]
    [header] = [line for line in done.stderr.splitlines() if "brand(s)" in line]
    assert "300 brand(s) (brand000, brand001, " in header and "brand009 and 290 more)" in header
    assert "brand010" not in header and len(header) < 300


def test_what_a_collector_would_refuse_is_said_too(tmp_path: Path) -> None:
    """`veille match` tried only what the workers read: a `[[feeds]]` table the RSS collector
    refuses (an ftp:// address), or more brand terms than the Bluesky and Reddit collectors
    search, passed it, and the collector then stopped at start (found in a runbook drill,
    2026-12-07). Said as warnings: the texts are still matched, the status is the texts'."""
    feeds = WATCHLIST + '\n[[feeds]]\nurl = "ftp://example.com/alerts.xml"\n'
    done = match(tmp_path, "Acme rocks\n", watchlist=feeds)
    assert done.returncode == 0 and json.loads(done.stdout)["brands"] == ["acme"], done.stderr
    [rss] = [line for line in done.stderr.splitlines() if "RSS collector" in line]
    assert rss.startswith("veille match: warning: the RSS collector would refuse this watch list: ")
    assert "ftp://example.com/alerts.xml" in rss, rss
    assert "Bluesky" not in done.stderr and "Reddit" not in done.stderr

    many = "".join(f'[[brands]]\nid = "brand{i:03d}"\nname = "Brand{i:03d}"\n' for i in range(60))
    done = match(tmp_path, "Brand007 rocks\n", watchlist=many)
    assert done.returncode == 0, done.stderr
    for platform in ("Bluesky", "Reddit"):
        [line] = [x for x in done.stderr.splitlines() if f"the {platform} collector" in x]
        assert "60 brand names, aliases and hashtags" in line and "more than 50" in line, line
    assert "RSS collector" not in done.stderr  # no [[feeds]]: nothing for it to refuse


def test_the_youtube_collectors_quota_warning_is_said_too(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Channels whose pages may spend more than an API key's daily quota (10,000 units) at
    VEILLE_YOUTUBE_INTERVAL_SECONDS: the YouTube collector warns at start, and `veille match`
    said nothing (2026-12-07): the same warning, naming the interval that fits. 7 channels at
    300 s may spend 10,080 units (5 pages a round); 6, or 7 at 3,600 s, cannot; a watch list
    without `youtube_channels` has nothing for that collector."""
    def channels(n: int) -> str:
        ids = ", ".join(f'"UC{i:022d}"' for i in range(n))
        return WATCHLIST.replace('name = "Acme"', f'name = "Acme"\nyoutube_channels = [{ids}]')

    def warnings(done: subprocess.CompletedProcess[str]) -> list[str]:
        assert done.returncode == 0 and json.loads(done.stdout)["brands"] == ["acme"], done.stderr
        return [x for x in done.stderr.splitlines() if x.startswith("veille match: warning:")]

    monkeypatch.setenv("VEILLE_YOUTUBE_INTERVAL_SECONDS", "300")
    [line] = warnings(match(tmp_path, "Acme rocks\n", watchlist=channels(7)))
    assert line.startswith("veille match: warning: youtube: 7 channel(s) read every 300 s "), line
    assert "10,080 units a day" in line and "VEILLE_YOUTUBE_INTERVAL_SECONDS to 303" in line, line
    for watchlist in (channels(6), WATCHLIST):
        assert warnings(match(tmp_path, "Acme rocks\n", watchlist=watchlist)) == []
    monkeypatch.setenv("VEILLE_YOUTUBE_INTERVAL_SECONDS", "3600")
    assert warnings(match(tmp_path, "Acme rocks\n", watchlist=channels(7))) == []


def test_a_mention_whose_source_names_its_brand_is_that_brands_and_an_unknown_id_is_said(
        tmp_path: Path) -> None:
    """A raw mention with `brands` (a comment posted in the brand's own space) is matched as the
    workers match it; an id the watch list lacks is ignored, and said on stderr."""
    lines = [json.dumps({"text": "third time my delivery is late", "platform": "Facebook",
                         "brands": ["boreal", "acme"]}),
             json.dumps({"text": "late again", "brands": ["acmee"]}),
             json.dumps({"text": "late again", "brands": "acme"})]
    done = match(tmp_path, "\n".join(lines) + "\n")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["brands"] == ["acme", "boreal"]
    assert rows[0]["rules"] == ["acme:source:facebook", "boreal:source:facebook"]
    assert rows[0]["triage"] is not None
    assert rows[1]["brands"] == [] and rows[1]["triage"] is None
    assert "line 2: brands the watch list does not have, ignored: acmee" in done.stderr
    assert rows[2]["error"].startswith("invalid_field: brands must be a list")


def test_the_reddit_collectors_accounts_count_in_what_it_would_refuse(tmp_path: Path) -> None:
    """A brand's `reddit_accounts` are requests of the Reddit collector's round as its searches
    are: 45 brands and 6 accounts pass Bluesky (45 searches) but not Reddit (51 requests)."""
    many = "".join(f'[[brands]]\nid = "brand{i:03d}"\nname = "Brand{i:03d}"\n' for i in range(45))
    accounts = ", ".join(f'"u/brand_{i}"' for i in range(6))
    done = match(tmp_path, "Brand007 rocks\n", watchlist=many + f"reddit_accounts = [{accounts}]\n")
    assert done.returncode == 0, done.stderr
    [line] = [x for x in done.stderr.splitlines() if "the Reddit collector" in x]
    assert "45 searches and 6 accounts' comments" in line and "more than 50" in line, line
    assert "Bluesky" not in done.stderr


def test_match_imports_no_faust(tmp_path: Path) -> None:
    """`veille match` runs no Faust app: it does not import Faust (a third of a second of every
    run until 2026-12-07, through agents.worker), nor does a worker's wiring module until an app
    is built (a worker of role `enrich` runs none)."""
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST)
    code = ("import sys\n"
            "from veille.cli import main\n"
            f"code = main(['match', '--watchlist', {str(path)!r}])\n"
            "import agents.worker\n"
            "print('loaded:', sorted(m for m in ('faust', 'mode') if m in sys.modules), file=sys.stderr)\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code], input="Acme rocks\n", capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["brands"] == ["acme"]
    assert "loaded: []" in done.stderr
