"""Reddit collector: the watch list's brand terms searched on Reddit (`GET /search`, sort=new).

Built on Reddit's public API documentation (https://www.reddit.com/dev/api, "search", and the
OAuth2 wiki, https://github.com/reddit-archive/reddit/wiki/OAuth2, "Application Only OAuth"):

* **Token.** `POST {VEILLE_REDDIT_AUTH_URL}/api/v1/access_token` with HTTP Basic (the app's
  client id and secret) and the form `grant_type=client_credentials` answers
  `{"access_token", "token_type": "bearer", "expires_in", "scope"}`: an application-only
  token, no Reddit account. It is kept in memory only (never saved, never logged) and asked
  again EXPIRY_MARGIN before `expires_in` runs out, or once a round when a search answers 401
  (a token revoked). A 400, 401 or 403 of the token endpoint (or a 200 naming an `error`) is the
  app's credentials refused: every search of the round fails at once as `unauthorized`, the
  token asked once a round only, and `--once` exits 2 naming VEILLE_REDDIT_CLIENT_ID and
  VEILLE_REDDIT_CLIENT_SECRET.
* **Search.** `GET {VEILLE_REDDIT_API_URL}/search?q=<term>&sort=new&limit=100&type=link&raw_json=1`
  with `Authorization: bearer <token>` and VEILLE_REDDIT_USER_AGENT (Reddit's API rules ask
  for a descriptive User-Agent, `<platform>:<app id>:<version> (by /u/<username>)`, and
  throttle generic ones). The answer is a Listing, `{"kind": "Listing", "data": {"children":
  [{"kind": "t3", "data": {...}}], "after", "before"}}`, newest first; the next page is asked
  with `after=<the fullname it gives>`.
* **Rate limit.** `X-Ratelimit-Remaining` (requests left, a float), `X-Ratelimit-Reset`
  (seconds until the window resets) and `X-Ratelimit-Used`: below `rate_limit_floor` requests
  left, no request until the reset; a 429 retried after Retry-After or the reset, within
  MAX_RETRY_WAIT seconds of sleep a round (veille.collectors.polling).

One search per name, alias and hashtag of each `[[brands]]` (a hashtag as its word: Reddit has
none), each as a phrase in double quotes, at most MAX_QUERIES. The cursor of a search is the
newest `created_utc` read; each round reads the newest page, then the next ones while they hold
posts not read yet above the cursor less LOOKBACK_SECONDS (Reddit's search index lags behind its
posts: a post indexed late is read in that window; never below the oldest post of the search's
first page, older posts being there before the collector), at most `max_pages` pages (a burst of more
than `max_pages` x 100 posts on one term between two rounds is read in part: logged). The
first search of a term reads its newest page only. The fullnames (`t3_...`) read in the
look-back window are remembered, so that none is sent twice. A search's cursor and fullnames are
saved in `VEILLE_COLLECTOR_STATE_DIR/reddit/` only after the broker acknowledged the round's
batch.

Each post (a `t3`) becomes a RawMention: id `reddit-` + its fullname (the same post, the same
id, whatever the searches), text its title then its selftext (`[removed]` and `[deleted]`
left out), author its `author` (none when `[deleted]` or no username: letters, digits, `_`,
`-`), url `https://www.reddit.com` + its
permalink, created_at its `created_utc`, audience `likes` its score (when not negative) and
`replies` its num_comments. A child that breaks the mapping or the record contract is refused
with its reason (logged, counted) and the others of its page go on; an answer that is no
Listing fails the search for the round (kind `fetch`).

The brand's own accounts (the watch list's `reddit_accounts`, usernames compared case aside):
a post found by a brand's search whose author is one of that brand's accounts is read but not
sent (keep: its own posts are no mentions of it, and would count in its volume and queue); found
by another brand's search it is that brand's mention, as any post. Each account is also a source
of the collector, named `u/<name>` (a search's is a phrase in double quotes), with its cursor,
look-back, saved state and failures as a search's, counted under its brand's health and in the
round's budget (check_queries: the searches plus the accounts): `GET
{VEILLE_REDDIT_API_URL}/user/<name>/comments?sort=new&limit=100&raw_json=1`, a Listing of `t1`
comments. No comment is a mention; one answering another's post (`parent_id` a `t3_`, its
`link_author` none of the brand's accounts) is sent as the brand's answer (answer_of): a
`replied` decision on moderation.decisions for the post's case (`reddit-t3_...`), `answered_on`
reddit, decided_at its created_utc, moderator `u/<author>`, reason its URL, in the round's write
with its mentions. A reply to a comment (`t1_` parent) answers no case: veille collects no Reddit
comment. An answer to a post that never became a case is dropped by the moderation agent as
`not_a_case` (counted; workers of 2026-12-07 or later). A 403 or 404 on an account (deleted,
suspended, misspelt) fails that source alone (kind `fetch`).

Health per brand (veille.metrics.RedditBrandMetrics, label: the brand's id, never a search
string): the time of the last round in which every search of its terms was read and
acknowledged, and failed searches by kind (fetch, rate_limited, unauthorized, broker).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Container
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from streams.records import (
    MAX_SHORT_FIELD_CHARS,
    InvalidMention,
    is_web_address,
    iso,
)
from veille.collectors import polling
from veille.collectors.answers import answer
from veille.collectors.base import MentionSink
from veille.collectors.polling import (
    Answer,
    SourceFetchError,
    run_polling,
    sends_secret_in_clear,
)
from veille.collectors.rss import FetchError, retry_after, truncate
from veille.collectors.searches import (
    SEARCHES_PER_MINUTE,
    AccountsOf,
    CursorCollector,
    CursorRead,
    Query,
    number,
    searches_allowed,
)
from veille.metrics import CollectorMetrics, RedditBrandMetrics
from veille.rules import Watchlist
from veille.settings import Settings
from veille.terminal import printable

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # Reddit's maximum `limit` for a listing
MAX_QUERIES = 50  # searches a round at the most (one per brand term)
MAX_QUERY_CHARS = 512  # Reddit's limit on `q`
STATE_VERSION = 1
#: Each round reads again down to this far below the cursor (posts indexed late).
LOOKBACK_SECONDS = 1800.0
#: Fullnames read in the look-back window kept per search (and saved), not to send them again.
MAX_RECENT = 4000
#: The cursor never moves to a created_utc more than this ahead of the clock.
CURSOR_AHEAD_SECONDS = 60.0
#: VEILLE_REDDIT_USER_AGENT at the most (Reddit's form is a few dozen characters).
MAX_USER_AGENT_CHARS = 512
TOKEN_PATH = "/api/v1/access_token"
SEARCH_PATH = "/search"
#: An account's comments, newest first (`{name}`: its username).
COMMENTS_PATH = "/user/{name}/comments"
#: What an account's source is named (the searches' are phrases in double quotes: never this).
ACCOUNT_PREFIX = "u/"
#: A token is asked again this long before its expires_in runs out (at most a tenth of it).
EXPIRY_MARGIN = 60.0
#: A token as sent in `Authorization: bearer`: printable ASCII, no space.
_TOKEN = re.compile(r"[!-~]{1,4096}")
#: A link's fullname: t3_ and its base-36 id.
_FULLNAME = re.compile(r"t3_[0-9a-z]{1,16}")
#: The first second of the year 10000: an answer's created_utc is before it (Unix seconds).
LAST_TIME = 253402300800.0
#: A comment's fullname: t1_ and its base-36 id.
_COMMENT = re.compile(r"t1_[0-9a-z]{1,16}")
#: What a source's state may remember: posts' (searches) and comments' (accounts) fullnames.
_ITEM_KEY = re.compile(r"t[13]_[0-9a-z]{1,16}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A Reddit username (3 to 20 of these characters on Reddit; a little room left).
_USERNAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: What Reddit puts in place of a text or an author taken down.
_GONE = ("[deleted]", "[removed]")


class RedditConfigError(ValueError):
    """The Reddit collector cannot start: a bad URL, interval, user agent or app credentials,
    or no term to search."""


class RedditRoundFailed(RedditConfigError):
    """`--once`: every search failed (a RedditConfigError so that the CLI prints
    `veille: error: ...` and exits 2, not a traceback)."""


# -- pure parsing --------------------------------------------------------------------------------


def search_string(kind: str, term: str) -> str | None:
    """A watch-list term as a Reddit search string: a phrase in double quotes (a hashtag as its
    word: Reddit has no hashtags); None when it is empty or too long."""
    text = " ".join(term.replace('"', " ").split())
    if kind == "hashtag":
        text = text.lstrip("#").strip()
        if " " in text:
            return None
    return f'"{text}"' if text and len(text) + 2 <= MAX_QUERY_CHARS else None


def queries_of(watchlist: Watchlist) -> list[Query]:
    """One search per name, alias and hashtag of each brand (searches.queries_of), then one source
    per account of each brand's `reddit_accounts` (accounts_of)."""
    return RedditCollector.queries_of(watchlist)


def accounts_of(watchlist: Watchlist) -> list[Query]:
    """One source per account of each brand's `reddit_accounts` (`u/<name>`; the watch list
    refuses an account given to two brands), in the watch list's order."""
    return [Query(brand.id, ACCOUNT_PREFIX + name) for brand in watchlist.brands
            for name in brand.reddit_accounts]


def account_of(source: str) -> str | None:
    """The username an account's source reads, None for a search."""
    return source[len(ACCOUNT_PREFIX):] if source.startswith(ACCOUNT_PREFIX) else None


def check_queries(queries: list[Query], path: Path, interval: float | None = None) -> None:
    """RedditConfigError when the watch list at `path` gives no search, or more searches and
    accounts than MAX_QUERIES, or more when a round of `interval` seconds leaves time for them
    (searches.check_queries)."""
    RedditCollector.check_queries(queries, path, interval)


_number = number


def fullname(child: Any) -> str | None:
    """A listing child's fullname (`t3_...`), None when it has none valid."""
    data = child.get("data") if isinstance(child, dict) else None
    if not isinstance(data, dict):
        return None
    name = data.get("name")
    if isinstance(name, str) and _FULLNAME.fullmatch(name):
        return name
    ident = data.get("id")
    if isinstance(ident, str) and _FULLNAME.fullmatch("t3_" + ident):
        return "t3_" + ident
    return None


def comment_name(child: Any) -> str | None:
    """A comment child's fullname (`t1_...`), None when it is no comment or has none valid."""
    data = child.get("data") if isinstance(child, dict) and child.get("kind") == "t1" else None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and _COMMENT.fullmatch(name) else None


def item_key(child: Any) -> str | None:
    """A listing child's fullname: a comment's (`t1_`), else a post's (`t3_`), None."""
    if isinstance(child, dict) and child.get("kind") == "t1":
        return comment_name(child)
    return fullname(child)


def created_utc(child: Any) -> float | None:
    """A listing child's created_utc (Unix seconds), None when it has none."""
    data = child.get("data") if isinstance(child, dict) else None
    return _number(data.get("created_utc")) if isinstance(data, dict) else None


def post_to_dict(child: Any, *, collected_at: datetime, max_text_chars: int) -> dict[str, Any]:
    """A child of a search Listing as a RawMention dict (validated afterwards by
    mention_from_dict), or InvalidMention when it is no post."""
    if not isinstance(child, dict):
        raise InvalidMention("not_an_object", f"a listing child must be an object, not "
                             f"{type(child).__name__}")
    kind = child.get("kind")
    if kind != "t3":
        raise InvalidMention("invalid_field", f"the child is a {str(kind)[:20]!r}, no link (t3)",
                             "kind")
    data = child.get("data")
    if not isinstance(data, dict):
        raise InvalidMention("missing_field", "the child has no data", "data")
    name = fullname(child)
    if name is None:
        raise InvalidMention("missing_field" if data.get("name") is None else "invalid_field",
                             "the post has no fullname (t3_...)", "name")
    parts = [t.strip() for t in (data.get("title"), data.get("selftext")) if isinstance(t, str)]
    text = truncate(_CONTROL.sub("", "\n\n".join(p for p in parts if p and p not in _GONE)).strip(),
                    max_text_chars) or None
    author = data.get("author")
    if not isinstance(author, str) or not _USERNAME.fullmatch(author):
        author = None  # also `[deleted]`; any other text came as it was until 2026-12-07
    url = post_url(data.get("permalink"))
    created: Any = data.get("created_utc")
    if isinstance(created, bool):
        created = str(created)  # refused by the record contract, not read as 0 or 1
    audience: dict[str, int] = {}
    score, comments = _number(data.get("score")), _number(data.get("num_comments"))
    if score is not None and score >= 0 and score.is_integer():
        audience["likes"] = int(score)
    if comments is not None and comments >= 0 and comments.is_integer():
        audience["replies"] = int(comments)
    return {
        "id": "reddit-" + name,
        "source": "reddit",
        "platform": "reddit",
        "author": author,
        "text": text,
        "url": url,
        "created_at": created,
        "language": None,
        "audience": audience or None,
        "collected_at": iso(collected_at),
    }


def post_url(permalink: Any) -> str | None:
    """`https://www.reddit.com` + a permalink (a path), None when it is none."""
    if isinstance(permalink, str) and permalink.startswith("/") and not permalink.startswith("//"):
        candidate = "https://www.reddit.com" + permalink
        if len(candidate) <= MAX_SHORT_FIELD_CHARS and is_web_address(candidate):
            return candidate
    return None


def answer_of(child: Any, own: Container[str], account: str) -> dict[str, Any] | None:
    """The `replied` decision (moderation.decisions) a comment of the brand's `account` (one of
    `own`, its accounts) is when it answers another's post (`parent_id` a `t3_` whose
    `link_author` is none of `own`): keyed by that post's case id (`reddit-t3_...`), by
    `u/<author>`, at the comment's created_utc, with its link, `answered_on` reddit. None for any
    other comment: one answering a comment (`t1_` parent: veille collects no Reddit comment, so
    no case is one) or the brand's own post."""
    name = comment_name(child)
    data = child.get("data") if name is not None and isinstance(child, dict) else None
    if not isinstance(data, dict):
        return None
    parent, when = data.get("parent_id"), _number(data.get("created_utc"))
    if not isinstance(parent, str) or not _FULLNAME.fullmatch(parent) or when is None:
        return None
    if not 0 <= when < LAST_TIME:
        return None  # beyond what a decision's time can be (iso would raise)
    if data.get("link_author") in own:
        return None  # the brand's own post: no mention of it, no case
    author = data.get("author")
    if not isinstance(author, str) or not _USERNAME.fullmatch(author):
        author = account
    return answer("reddit-" + parent, by=f"u/{author}", at=when,
                  platform="reddit",
                  reason=post_url(data.get("permalink")) or f"answered on Reddit (comment {name})")


# -- the collector -------------------------------------------------------------------------------


#: What one search's round read (kept under its former name).
QueryResult = CursorRead


class RedditCollector(CursorCollector):
    """Searches Reddit for the watch list's brand terms and sends the new posts."""

    name = "reddit"
    item_name = "post"
    state_field = "query"
    platform = "Reddit"
    config_error = RedditConfigError
    max_queries = MAX_QUERIES
    brand_metrics = RedditBrandMetrics
    search_string = staticmethod(search_string)
    interval_setting = "reddit_interval_seconds"
    remaining_header = "X-Ratelimit-Remaining"
    reset_header = "X-Ratelimit-Reset"
    state_version = STATE_VERSION
    max_recent = MAX_RECENT
    cursor_ahead = CURSOR_AHEAD_SECONDS
    key_pattern = _ITEM_KEY
    answers_from = "Reddit accounts"

    def __init__(
        self,
        settings: Settings,
        metrics: CollectorMetrics,
        sink: MentionSink | None = None,
        *,
        queries: list[Query] | None = None,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = 5,
        lookback_seconds: float = LOOKBACK_SECONDS,
        **options: Any,
    ) -> None:
        """`options`: PollingCollector's (interval, request_timeout, rate_limit_floor...)."""
        super().__init__(settings, metrics, sink, queries=queries, max_pages=max_pages,
                         lookback_seconds=lookback_seconds, **options)
        self.page_limit = page_limit
        self.auth_base = settings.reddit_auth_url.strip().rstrip("/")
        self.api_base = settings.reddit_api_url.strip().rstrip("/")
        self._token: str | None = None
        self._token_until = 0.0  # self.monotonic() after which the token is asked again
        #: The round (self.rounds) whose token request was refused, and why: the round's other
        #: searches fail at once rather than ask again.
        self._refused: tuple[int, str] | None = None
        #: The round in which a token was last obtained: renewed on a 401 once a round at most.
        self._renewed_in: int | None = None
        self.tokens_obtained = 0
        #: Username (case folded) -> its brand, of the accounts read, and the sources
        #: (self._brand_of, a new dict at each change) it was made of.
        self._account_brand: dict[str, str] = {}
        self._accounts_from: dict[str, str] | None = None

    # -- the sources: searches, then the brands' accounts ---------------------------------------

    @classmethod
    def queries_of(cls, watchlist: Watchlist) -> list[Query]:
        return super().queries_of(watchlist) + accounts_of(watchlist)

    @classmethod
    def check_queries(cls, queries: list[Query], path: Path, interval: float | None = None) -> None:
        """RedditConfigError when `queries` hold no search, or more searches and accounts than a
        round of `interval` seconds allows (searches.searches_allowed: each account is a request
        a round, as a search)."""
        accounts = sum(1 for query in queries if account_of(query.q) is not None)
        searches = len(queries) - accounts
        if not accounts or not searches:
            super().check_queries(queries, path, interval)
            return
        allowed = searches_allowed(MAX_QUERIES, interval)
        if len(queries) > allowed:
            need = -(-len(queries) * 60 // SEARCHES_PER_MINUTE)
            raise RedditConfigError(
                f"{path}: {searches} searches and {accounts} accounts' comments to read on Reddit "
                f"(brand names, aliases and hashtags; reddit_accounts), more than {allowed} (one "
                f"request each a round, at most {SEARCHES_PER_MINUTE} a minute: the rate limit "
                f"would not hold); set VEILLE_REDDIT_INTERVAL_SECONDS to {need} or more (a round "
                f"every {need / 60:g} minutes), or keep the ones that matter")

    def is_brand_account(self, source: str) -> bool:
        return account_of(source) is not None

    def item_noun_of(self, source: str) -> str:
        """An account's items are its comments (the searches': posts)."""
        return "comments" if account_of(source) is not None else self.item_noun

    def count_sources(self, queries: list[Query]) -> str:
        """"3 searches and 2 brand accounts" (the Mastodon collector's "hashtags and brand
        accounts")."""
        accounts = sum(1 for query in queries if account_of(query.q) is not None)
        return f"{len(queries) - accounts} searches and {accounts} brand accounts"

    def _own(self, source: str) -> AccountsOf:
        """The accounts of the brand whose search or account `source` is."""
        if self._accounts_from is not self._brand_of:  # the sources changed (start, watch list)
            self._account_brand = {name.casefold(): brand for src, brand in self._brand_of.items()
                                   if (name := account_of(src)) is not None}
            self._accounts_from = self._brand_of
        return AccountsOf(self._brand_of.get(source), self._account_brand)

    # -- life cycle -----------------------------------------------------------------------------

    def check_config(self) -> None:
        """The URLs, the app's credentials, the user agent and the interval, or
        RedditConfigError (before anything runs)."""
        hint = "give the app's credentials in VEILLE_REDDIT_CLIENT_ID and VEILLE_REDDIT_CLIENT_SECRET"
        self.auth_base = polling.check_base_url(
            self.settings.reddit_auth_url, name="VEILLE_REDDIT_AUTH_URL", error=RedditConfigError,
            example="https://www.reddit.com", empty_hint="set it to Reddit's OAuth server",
            credentials_hint=hint, api_path="/api/")
        self.api_base = polling.check_base_url(
            self.settings.reddit_api_url, name="VEILLE_REDDIT_API_URL", error=RedditConfigError,
            example="https://oauth.reddit.com", empty_hint="set it to Reddit's OAuth API",
            credentials_hint=hint, api_path="/search/")
        client_id, secret = self.settings.reddit_client_id, self.settings.reddit_client_secret
        if not client_id.strip() or not secret.strip():
            raise RedditConfigError(
                "VEILLE_REDDIT_CLIENT_ID and VEILLE_REDDIT_CLIENT_SECRET are required: create an "
                "app (type script) at https://www.reddit.com/prefs/apps and give its client id "
                "and secret (or VEILLE_REDDIT_CLIENT_SECRET_FILE)")
        if ":" in client_id or any(c.isspace() or not " " <= c <= "~" for c in client_id):
            raise RedditConfigError("VEILLE_REDDIT_CLIENT_ID must be the app's client id: printable "
                                    "ASCII without spaces or ':'")
        if any(not " " <= c <= "~" for c in secret):
            # (not echoed: a secret)
            raise RedditConfigError("VEILLE_REDDIT_CLIENT_SECRET must be printable ASCII")
        for base, name in ((self.auth_base, "VEILLE_REDDIT_AUTH_URL"),
                           (self.api_base, "VEILLE_REDDIT_API_URL")):
            if sends_secret_in_clear(base):
                raise RedditConfigError(
                    f"{name}={base!r} is http://: the app's secret or token would be sent in "
                    "clear to another machine; use https:// (or a server on loopback)")
        if not self.settings.reddit_user_agent.strip():
            raise RedditConfigError(
                "VEILLE_REDDIT_USER_AGENT is empty: Reddit throttles requests without a "
                "descriptive User-Agent, e.g. 'python:veille:0.1 (by /u/yourname)'")
        if len(self.settings.reddit_user_agent.strip()) > MAX_USER_AGENT_CHARS:
            # HTTP servers refuse a header line of 8 KiB or so: the token endpoint's 400 read as
            # the app's credentials refused, at every round.
            raise RedditConfigError(
                f"VEILLE_REDDIT_USER_AGENT is {len(self.settings.reddit_user_agent.strip())} "
                f"characters long, more than {MAX_USER_AGENT_CHARS}: give a short descriptive "
                "one, e.g. 'python:veille:0.1 (by /u/yourname)'")
        self._check_interval(RedditConfigError,
                             "Reddit's rate limit is per app: about 100 requests a minute")

    def _open_session(self) -> None:
        """The HTTP session, with Reddit's User-Agent (VEILLE_REDDIT_USER_AGENT)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": self.settings.reddit_user_agent.strip(),
                         "Accept": "application/json"},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout))

    # -- HTTP -----------------------------------------------------------------------------------

    async def _get_token(self) -> str:
        """The application-only token: the one held while it is valid, else a new one
        (client_credentials). Refused: SourceFetchError `unauthorized`, once a round."""
        if self._token is not None and self.monotonic() < self._token_until:
            return self._token
        if self._refused is not None and self._refused[0] == self.rounds:
            raise SourceFetchError(self._refused[1], kind="unauthorized")
        self._token = None
        auth = aiohttp.BasicAuth(self.settings.reddit_client_id.strip(),
                                 self.settings.reddit_client_secret.strip())
        answer = await self._request(URL(self.auth_base + TOKEN_PATH), method="POST",
                                     headers={"Authorization": auth.encode()},
                                     form={"grant_type": "client_credentials"})
        data = answer.data if isinstance(answer.data, dict) else {}
        error = data.get("error") if answer.status < 300 else None
        if answer.status in (400, 401, 403) or error is not None:
            # The server's words, escaped: a line break or an escape sequence in them forged
            # lines in the log and the `--once` report (found in review, 2026-12-07).
            why = f"HTTP {answer.status}" + (f" {printable(str(error)[:80])}" if error is not None
                                             else "")
            message = (f"Reddit refused the app's credentials at {self.auth_base}{TOKEN_PATH} "
                       f"({why}): check VEILLE_REDDIT_CLIENT_ID and VEILLE_REDDIT_CLIENT_SECRET")
            self._refused = (self.rounds, message)
            raise SourceFetchError(message, kind="unauthorized")
        if answer.status >= 300:
            raise FetchError(f"token request: HTTP {answer.status}",
                             retry_after(answer.headers))
        token, kind = data.get("access_token"), data.get("token_type")
        expires = _number(data.get("expires_in"))
        if not (isinstance(token, str) and _TOKEN.fullmatch(token)
                and isinstance(kind, str) and kind.lower() == "bearer"
                and expires is not None and expires > 0):
            raise FetchError("token request: the answer holds no bearer access_token with its "
                             "expires_in")
        self._token = token
        self._token_until = self.monotonic() + expires - min(EXPIRY_MARGIN, expires / 10)
        self._renewed_in = self.rounds
        self.tokens_obtained += 1
        return token

    async def _search(self, params: dict[str, str],
                      account: str | None = None) -> tuple[list[Any], str | None]:
        """One page of a search (or of `account`'s comments): its children (anything: each is
        checked alone) and the fullname to ask the next page `after`, if any."""
        path = SEARCH_PATH if account is None else COMMENTS_PATH.format(name=account)
        url = URL(self.api_base + path).with_query(params)
        answer: Answer | None = None
        for attempt in range(2):
            token = await self._get_token()
            answer = await self._request(url, headers={"Authorization": f"bearer {token}"})
            if answer.status == 401 and attempt == 0 and self._renewed_in != self.rounds:
                self._token = None  # revoked or expired early: a new one, then once more
                continue
            break
        assert answer is not None
        if account is not None and answer.status in (403, 404):
            raise FetchError(f"HTTP {answer.status}: Reddit refused u/{account}'s comments (the "
                             "account deleted, suspended or misspelt in reddit_accounts?)")
        if answer.status in (401, 403):
            raise SourceFetchError(
                f"HTTP {answer.status}: Reddit refused the search (the app's token, or a "
                "User-Agent it blocks: VEILLE_REDDIT_USER_AGENT)", kind="unauthorized")
        if answer.status >= 400:
            raise FetchError(f"HTTP {answer.status}",
                             retry_after(answer.headers))
        data = answer.data
        listing = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
        children = listing.get("children") if isinstance(listing, dict) else None
        if not isinstance(children, list):
            raise FetchError("the answer is no Listing of "
                             + ("posts" if account is None else "comments"))
        if len(children) > self.page_limit:
            # Reddit gives at most the `limit` asked: millions of children in a 10 MB answer
            # were read and refused one by one, a log line each (found in review, 2026-12-07).
            what = ("posts", "search") if account is None else ("comments", "comments listing")
            raise FetchError(f"{len(children)} {what[0]} in a page, more than the "
                             f"{self.page_limit} asked: not a Reddit {what[1]} answer")
        assert isinstance(listing, dict)
        after = listing.get("after")
        pattern = _FULLNAME if account is None else _COMMENT
        return children, after if isinstance(after, str) and pattern.fullmatch(after) else None

    # -- one search -----------------------------------------------------------------------------

    async def fetch_page(self, source: str, after: Any) -> tuple[list[Any], Any]:
        """A page of search `source` (or of the account's comments, `u/<name>`): the first, or
        the one `after` (the fullname the page before gave, and the count of children read
        before it) names."""
        account = account_of(source)
        params = ({"q": source, "sort": "new", "limit": str(self.page_limit), "type": "link",
                   "raw_json": "1"} if account is None else
                  {"sort": "new", "limit": str(self.page_limit), "raw_json": "1"})
        count = 0
        if after is not None:
            name, count = after
            params |= {"after": name, "count": str(count)}
        children, after_next = await self._search(params, account)
        return children, (after_next, count + len(children)) if after_next is not None else None

    @staticmethod
    def item_key(item: Any) -> str | None:
        return item_key(item)

    @staticmethod
    def item_time(item: Any) -> float | None:
        return created_utc(item)

    def keep(self, source: str, item: Any) -> bool:
        """Neither an account's comments (no Reddit comment is a mention) nor a post by one of
        the accounts of the brand whose search found it (its own posts, no mentions of it: they
        would count in its volume and queue). A post of the brand's account found by another
        brand's search is that one's mention."""
        if account_of(source) is not None:
            return False
        data = item.get("data") if isinstance(item, dict) else None
        return not (isinstance(data, dict) and data.get("author") in self._own(source))

    def answer_decision(self, source: str, item: Any) -> dict[str, Any] | None:
        """An account's reply to another's post as its brand's `replied` decision (answer_of)."""
        account = account_of(source)
        return None if account is None else answer_of(item, self._own(source), account)

    def item_dict(self, source: str, item: Any, now: datetime) -> dict[str, Any]:
        return post_to_dict(item, collected_at=now, max_text_chars=self.max_text_chars)


async def run_reddit(settings: Settings, *, once: bool = False,
                     collector: RedditCollector | None = None) -> list[str]:
    """Serve /metrics and search until SIGTERM/SIGINT, or one round with `once=True`
    (polling.run_polling: BrokerUnavailable, RedditRoundFailed when every search failed, else
    the searches that failed as "search: error")."""
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = RedditCollector(settings, CollectorMetrics(CollectorRegistry()))
    return await run_polling(collector, once=once, round_failed=RedditRoundFailed)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.reddit` is `veille collect reddit`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "reddit", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
