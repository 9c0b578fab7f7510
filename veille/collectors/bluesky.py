"""Bluesky collector: the watch list's brand terms searched on Bluesky (app.bsky.feed.searchPosts).

Every `settings.bluesky_interval_seconds`, a round runs one search per term of the watch list's
`[[brands]]` (its name, aliases and hashtags; Bluesky's search ANDs the words of a query and
reads no `OR`, so a brand is one search per term, at most MAX_QUERIES in all):
`GET {service}/xrpc/app.bsky.feed.searchPosts?q=<term>&sort=latest&limit=100&since=<cursor -
LOOKBACK_SECONDS>`, newest first, paging while pages are full or have a cursor (at most `max_pages` pages of
new posts, LOOKBACK_PAGES below the cursor; a larger burst leaves a gap, read in the next rounds:
fetch_query). The first search of a term reads its newest page only.

The cursor of a search is the newest `sortAt` read (Bluesky's sort time of a post: the earlier of
its `createdAt` and `indexedAt`; `since` compares against it), never more than
CURSOR_AHEAD_SECONDS ahead of the clock. Each round asks again from LOOKBACK_SECONDS below it
(`since` is inclusive), for the posts indexed late, and the post URIs read in that window are
remembered (and saved), so that none is sent twice. A search's cursor and URIs are saved in
`VEILLE_COLLECTOR_STATE_DIR/bluesky/` only after the broker acknowledged the round's batch.

Service: without an account, the public AppView (VEILLE_BLUESKY_URL, default
https://public.api.bsky.app). With VEILLE_BLUESKY_HANDLE and VEILLE_BLUESKY_APP_PASSWORD, the
collector signs in on the account's PDS (VEILLE_BLUESKY_PDS_URL, default https://bsky.social;
`com.atproto.server.createSession`), searches there with the session's accessJwt as Bearer (the
PDS forwards app.bsky.* to its AppView), and on an expired token (`ExpiredToken`, 400 or 401)
refreshes it (`com.atproto.server.refreshSession` with the refreshJwt; signing in again when
that fails) and asks once more.

The session is kept across restarts: after each sign-in or refresh its tokens (with the DID and
handle the answer gives, the PDS and the VEILLE_BLUESKY_HANDLE it is for, a salted hash of the
app password it was obtained with: password_check) are saved in
`VEILLE_COLLECTOR_STATE_DIR/bluesky/session.json` (SESSION_FILE: written as the state files are,
mode 0600 from its creation: it is a credential; never logged, never in the metrics), and a start
takes it rather than signing in: Bluesky allows createSession 30 times in five minutes and 300 a
day per account, and a collector restarted often (a crash loop under a restart policy, a deploy
an hour) that signed in at every start locked its account out of sign-in (until 2026-12-06 it
did). An expired saved token goes through the refresh above; a saved session for another handle,
app password or PDS, or a file that does not read as one, is ignored (a warning) and the
collector signs in. Deleting the file forces a sign-in. Without an account, no session is read
or saved, and one saved before is deleted.

Each post becomes a RawMention: id `bluesky-` + a hash of its at:// URI (the same post, the same
id, across rounds, searches and restarts), the record's text and `createdAt`, the author's
handle, url `https://bsky.app/profile/{handle}/post/{rkey}`, the record's first `langs` entry
as language hint, likes/reposts/replies as audience. A post that breaks the mapping or the
record contract (no at:// post URI, no text, a `createdAt` that is no time or too far ahead,
...) is refused with its reason (logged, counted) and the others of its page go on. A post
dated more than VEILLE_MAX_FUTURE_SECONDS ahead (createdAt comes from the poster's device) is held
back in the search's state and sent once its time comes (MAX_HELD a search; more than a day
ahead: refused), as the RSS and Mastodon collectors do; it does not move the cursor (its sortAt
is its indexedAt, the server's time).

The brands' own accounts (the watch list's `bluesky_accounts`, DIDs): a post found by a brand's
search whose author (`author.did`) is one of that brand's accounts is read (counted as fetched)
but not sent (keep: its own posts are no mentions of it, and would count in its volume and
queue); found by another brand's search it is that brand's mention, as any post. The brand's
replies are no answers here: a search finds only the posts naming a term, and a reply rarely
does (the Jetstream collector, which reads every post, sends them).

Robustness (veille.collectors.polling): answers read up to MAX_BODY_BYTES; the `ratelimit-remaining`
/ `ratelimit-reset` headers (a Unix time) honoured, and 429s retried after Retry-After or the
reset, within MAX_RETRY_WAIT seconds of sleep a round; a failed search fails that term alone
for the round; the credentials go over https only (loopback exempt).

Health per brand (veille.metrics.BlueskyBrandMetrics, label: the brand's id, never a search
string): the time of the last round in which every search of its terms was read and acknowledged,
and failed searches by kind (fetch, rate_limited, unauthorized, broker).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from yarl import URL

from streams.records import (
    MAX_SHORT_FIELD_CHARS,
    InvalidMention,
    RawMention,
    is_web_address,
    iso,
    mention_from_dict,
    parse_time,
)
from veille.collectors import polling
from veille.collectors.base import MentionSink
from veille.collectors.polling import (
    Answer,
    RoundResult,
    SourceFetchError,
    SourceSummary,
    run_polling,
    sends_secret_in_clear,
)
from veille.collectors.rss import FetchError, beyond_horizon, retry_after, short_hash, truncate
from veille.collectors.searches import Query, SearchCollector
from veille.metrics import BlueskyBrandMetrics, CollectorMetrics
from veille.rules import Watchlist
from veille.settings import Settings

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # the lexicon's maximum for searchPosts
MAX_QUERIES = 50  # searches a round at the most (one per brand term)
MAX_QUERY_CHARS = 300  # a term longer than this is no brand name
STATE_VERSION = 1
#: Each round searches again from this far below the cursor (posts indexed late).
LOOKBACK_SECONDS = 600.0
#: Pages a round reads at most below the cursor (the look-back window), apart from `max_pages`.
LOOKBACK_PAGES = 2
#: Post URIs read in the look-back window kept per search (and saved), not to send them again.
MAX_RECENT = 4000
#: Posts dated ahead held back per search (beyond: refused, created_at_in_future).
MAX_HELD = 100
#: Bursts not read whole (gaps: since, until) kept per search, read in the next rounds.
MAX_GAPS = 10
#: The cursor never moves to a sortAt more than this ahead of the clock.
CURSOR_AHEAD_SECONDS = 60.0
SEARCH = "app.bsky.feed.searchPosts"
CREATE_SESSION = "com.atproto.server.createSession"
REFRESH_SESSION = "com.atproto.server.refreshSession"
#: The signed-in session's file in the state folder (a fixed name, unlike the searches' hashed
#: ones: the README tells to delete it to force a sign-in).
SESSION_FILE = "session.json"
SESSION_VERSION = 1
#: PBKDF2-SHA256 rounds of the app password's check saved with the session (password_check).
PASSWORD_CHECK_ROUNDS = 100_000
#: A token as sent in `Authorization: Bearer`: printable ASCII, no space (a JWT is base64url and
#: dots); a saved one with a line break would fail every search of every round.
_TOKEN = re.compile(r"[!-~]{1,16384}")
AUDIENCE = {"likes": "likeCount", "shares": "repostCount", "replies": "replyCount"}
#: at://<did>/app.bsky.feed.post/<rkey> (a record key: 1-512 characters of this set).
_POST_URI = re.compile(r"at://(did:[a-z]+:[A-Za-z0-9._:%-]{1,2000})/app\.bsky\.feed\.post/"
                       r"([A-Za-z0-9._~:-]{1,512})")
#: A handle: a domain name of at least two labels (atproto's handle syntax).
_HANDLE = re.compile(r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
                     r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BlueskyConfigError(ValueError):
    """The Bluesky collector cannot start: a bad URL, interval or account, or no term to search."""


class BlueskyRoundFailed(BlueskyConfigError):
    """`--once`: every search failed (a BlueskyConfigError so that the CLI prints
    `veille: error: ...` and exits 2, not a traceback)."""


# -- pure parsing --------------------------------------------------------------------------------


def search_string(kind: str, term: str) -> str | None:
    """A watch-list term as a search string: a hashtag as `#tag`, a name or alias as a phrase in
    double quotes (Lucene syntax: the words together, in order); None when it is empty or too
    long."""
    text = " ".join(term.replace('"', " ").split())
    if kind == "hashtag":
        text = "#" + text.lstrip("#").strip()
        return text if len(text) > 1 and " " not in text and len(text) <= MAX_QUERY_CHARS else None
    return f'"{text}"' if text and len(text) <= MAX_QUERY_CHARS else None


def queries_of(watchlist: Watchlist) -> list[Query]:
    """One search per name, alias and hashtag of each brand (searches.queries_of)."""
    return BlueskyCollector.queries_of(watchlist)


def check_queries(queries: list[Query], path: Path, interval: float | None = None) -> None:
    """BlueskyConfigError when the watch list at `path` gives no search, or more than MAX_QUERIES, or
    more when a round of `interval` seconds leaves time for them (searches.check_queries)."""
    BlueskyCollector.check_queries(queries, path, interval)


def post_uri(value: Any) -> tuple[str, str] | None:
    """(did, rkey) of an at:// URI of a post (app.bsky.feed.post), None for anything else."""
    if not isinstance(value, str) or len(value) > MAX_SHORT_FIELD_CHARS:
        return None
    m = _POST_URI.fullmatch(value)
    # "." and ".." are no record keys (atproto's syntax): in the post's bsky.app URL they
    # would make it point elsewhere (…/post/.. is the profile's page).
    return (m.group(1), m.group(2)) if m and m.group(2) not in (".", "..") else None


def mention_id(uri: str) -> str:
    """The mention id of the post at `uri` (its at:// URI): `bluesky-` and a hash of it, the
    same from every collector reading Bluesky (a post sent once), and the case id of its
    moderation case (the Jetstream collector's answers name it)."""
    return "bluesky-" + short_hash(uri)


def valid_handle(value: Any) -> str | None:
    """A handle, lower-cased, or None ("handle.invalid", what the AppView gives an account whose
    handle does not resolve, is none)."""
    if not isinstance(value, str) or len(value) > 253 or not _HANDLE.fullmatch(value):
        return None
    handle = value.lower()
    return None if handle == "handle.invalid" else handle


#: A time outside these is none (sort_at, the state): createdAt is the poster's to write, and a
#: cursor of year 1 less the look-back, or a page's oldest time of year 9999 plus 1 ms, overflow.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    try:
        when = parse_time(value, "time") if isinstance(value, str) else None
    except InvalidMention:
        return None
    return when if when is not None and _EARLIEST <= when < _LATEST else None


def sort_at(post: dict[str, Any]) -> datetime | None:
    """A post's sortAt: the earlier of its record's createdAt and its indexedAt (what `since`
    and `sort=latest` use), its indexedAt when createdAt is no time (or one before 1970 or
    after 9000: _time); None when neither is."""
    record = post.get("record")
    created = _time(record.get("createdAt")) if isinstance(record, dict) else None
    indexed = _time(post.get("indexedAt"))
    times = [t for t in (created, indexed) if t is not None]
    return min(times) if times else None


def held_form(post: dict[str, Any]) -> dict[str, Any]:
    """`post` with only what post_to_dict and the round read of it, for the state file while it
    is held: the author's display name and avatar, the record's embeds, facets and replies are
    personal data the collector has no use for."""
    out = {k: post[k] for k in ("uri", "indexedAt", *AUDIENCE.values()) if k in post}
    record, author = post.get("record"), post.get("author")
    if isinstance(record, dict):
        out["record"] = {k: record[k] for k in ("$type", "text", "createdAt", "langs") if k in record}
    if isinstance(author, dict):
        out["author"] = {k: author[k] for k in ("handle", "did") if k in author}
    return out


def password_check(password: str, salt: bytes) -> str:
    """A salted, slow hash of the app password, saved with the session (never the password):
    a session obtained with another VEILLE_BLUESKY_APP_PASSWORD is not used, so that a changed
    one (a new app password, or a wrong one) is tried at the next start as before, not months
    later when the saved session expires."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PASSWORD_CHECK_ROUNDS).hex()


def saved_session(data: Any, *, identifier: str, password: str, pds: str) -> tuple[str, str]:
    """(accessJwt, refreshJwt) of a session saved for `identifier` (VEILLE_BLUESKY_HANDLE) and
    `password` on `pds`, or ValueError saying why it cannot be used (never with a token in it:
    it is logged)."""
    if not isinstance(data, dict) or data.get("version") != SESSION_VERSION:
        raise ValueError("it is no session saved by this version")
    access, refresh = data.get("accessJwt"), data.get("refreshJwt")
    salt, check = data.get("password_salt"), data.get("password_check")
    if not (isinstance(access, str) and _TOKEN.fullmatch(access)
            and isinstance(refresh, str) and _TOKEN.fullmatch(refresh)
            and isinstance(data.get("identifier"), str) and isinstance(data.get("pds"), str)
            and all(isinstance(data.get(k), str | None) for k in ("did", "handle"))
            and isinstance(salt, str) and re.fullmatch(r"[0-9a-f]{32}", salt)
            # (hex: hmac.compare_digest raises TypeError on a non-ASCII str, which crashed
            # every start on such a file; found in review, 2026-12-06)
            and isinstance(check, str) and re.fullmatch(r"[0-9a-f]{64}", check)):
        raise ValueError("a field is missing or of the wrong type")
    if data["identifier"] != identifier:
        raise ValueError("it is for another VEILLE_BLUESKY_HANDLE")
    if data["pds"] != pds:
        raise ValueError(f"it is from another PDS than {pds}")
    if not hmac.compare_digest(check, password_check(password, bytes.fromhex(salt))):
        raise ValueError("it was obtained with another VEILLE_BLUESKY_APP_PASSWORD")
    return access, refresh


def author_did(post: Any) -> str | None:
    """A PostView's `author.did`, None when it has none (or one of another type)."""
    author = post.get("author") if isinstance(post, dict) else None
    did = author.get("did") if isinstance(author, dict) else None
    return did if isinstance(did, str) else None


def post_to_dict(post: dict[str, Any], *, collected_at: datetime,
                 max_text_chars: int) -> dict[str, Any]:
    """A PostView of app.bsky.feed.searchPosts as a RawMention dict (validated afterwards by
    mention_from_dict), or InvalidMention when it is no post."""
    uri = post.get("uri")
    parts = post_uri(uri)
    if parts is None:
        raise InvalidMention("invalid_field" if uri is not None else "missing_field",
                             f"uri {str(uri)[:80]!r} is not an at:// URI of a post", "uri")
    did, rkey = parts
    record = post.get("record")
    if not isinstance(record, dict):
        raise InvalidMention("missing_field", "the post has no record", "record")
    kind = record.get("$type")
    if kind is not None and kind != "app.bsky.feed.post":
        raise InvalidMention("invalid_field", f"the record is a {str(kind)[:60]!r}, no post",
                             "record")
    text = record.get("text")
    if isinstance(text, str):
        text = truncate(_CONTROL.sub("", text).strip(), max_text_chars)
    author = post.get("author") if isinstance(post.get("author"), dict) else {}
    assert isinstance(author, dict)
    handle = valid_handle(author.get("handle"))
    author_did = author.get("did") if isinstance(author.get("did"), str) else None
    url = f"https://bsky.app/profile/{handle or did}/post/{rkey}"
    langs = record.get("langs")
    language = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    audience = {name: value for name, key in AUDIENCE.items()
                if isinstance(value := post.get(key), int) and not isinstance(value, bool)
                and value >= 0}
    return {
        "id": mention_id(str(uri)),
        "source": "bluesky",
        "platform": "bluesky",
        "author": handle or (author_did if author_did and len(author_did) <= 256 else did),
        "text": text,
        "url": url if len(url) <= MAX_SHORT_FIELD_CHARS and is_web_address(url) else None,
        "created_at": record.get("createdAt"),
        "language": language if language and len(language) <= 16 else None,
        "audience": audience or None,
        "collected_at": iso(collected_at),
    }


# -- the collector -------------------------------------------------------------------------------


@dataclass
class QueryResult:
    """The posts of one search not sent yet, and its new cursor."""

    posts: list[Any]
    newest: datetime | None
    read: dict[str, datetime] = field(default_factory=dict)  # every valid post URI read -> sortAt
    pages: int = 1
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)  # (since, until) left


class BlueskyCollector(SearchCollector):
    """Searches Bluesky for the watch list's brand terms and sends the new posts."""

    name = "bluesky"
    platform = "Bluesky"
    config_error = BlueskyConfigError
    max_queries = MAX_QUERIES
    brand_metrics = BlueskyBrandMetrics
    search_string = staticmethod(search_string)
    interval_setting = "bluesky_interval_seconds"
    remaining_header = "ratelimit-remaining"
    reset_header = "ratelimit-reset"

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
        super().__init__(settings, metrics, sink, queries=queries, **options)
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.lookback = timedelta(seconds=lookback_seconds)
        self.service = settings.bluesky_url.strip().rstrip("/")
        self.pds = settings.bluesky_pds_url.strip().rstrip("/")
        #: search string -> its cursor (the newest sortAt read), None before its first search.
        self.cursors: dict[str, datetime | None] = {}
        #: search string -> post URIs read in its look-back window -> their sortAt.
        self.recent: dict[str, dict[str, datetime]] = {}
        #: search string -> posts dated ahead, by URI: held back, sent once their time comes.
        self.held: dict[str, dict[str, dict[str, Any]]] = {}
        #: search string -> the bursts not read whole yet, newest first: (since, until).
        self.gaps: dict[str, list[tuple[datetime, datetime]]] = {}
        self._access: str | None = None  # the session's accessJwt (signed in)
        self._refresh: str | None = None
        #: The round (self.rounds) whose sign-in was refused, and why: the round's other searches
        #: fail at once rather than sign in again (Bluesky locks an account out after a few
        #: dozen sign-ins in five minutes).
        self._refused: tuple[int, str] | None = None
        #: The round in which the session was last signed in or refreshed: at most once a round.
        self._renewed_in: int | None = None
        #: (salt, password_check) saved with the session: made once (a saved session's, or new).
        self._password_check: tuple[str, str] | None = None
        #: The watch list in use, whose brands' own accounts (`bluesky_accounts`) are no
        #: mentions of theirs (None when the searches are given: `queries`).
        self._watchlist: Watchlist | None = None

    @property
    def signed_in(self) -> bool:
        return bool(self.settings.bluesky_handle)

    @property
    def search_base(self) -> str:
        """Where searches go: the PDS when signed in (it forwards to its AppView), else the
        AppView."""
        return self.pds if self.signed_in else self.service

    @property
    def session_path(self) -> Path:
        """The signed-in session's file (SESSION_FILE)."""
        return self.store.directory / SESSION_FILE

    def _state_key(self, q: str) -> str:
        # Another service (another index) starts from scratch.
        return f"{self.search_base}|{q.casefold()}"

    # -- life cycle -----------------------------------------------------------------------------

    def check_config(self) -> None:
        """The URLs, the account and the interval, or BlueskyConfigError (before anything runs)."""
        self.service = polling.check_base_url(
            self.settings.bluesky_url, name="VEILLE_BLUESKY_URL", error=BlueskyConfigError,
            example="https://public.api.bsky.app", empty_hint="set it to the AppView to search",
            credentials_hint="give an account in VEILLE_BLUESKY_HANDLE and "
                             "VEILLE_BLUESKY_APP_PASSWORD", api_path="/xrpc/")
        handle, password = self.settings.bluesky_handle, self.settings.bluesky_app_password
        if bool(handle) != bool(password):
            raise BlueskyConfigError(
                "VEILLE_BLUESKY_HANDLE and VEILLE_BLUESKY_APP_PASSWORD go together: set both to "
                "search signed in, or neither to search the public AppView")
        if handle:
            self.pds = polling.check_base_url(
                self.settings.bluesky_pds_url, name="VEILLE_BLUESKY_PDS_URL",
                error=BlueskyConfigError, example="https://bsky.social",
                empty_hint="set it to the account's PDS",
                credentials_hint="give an account in VEILLE_BLUESKY_HANDLE and "
                                 "VEILLE_BLUESKY_APP_PASSWORD", api_path="/xrpc/")
            if sends_secret_in_clear(self.pds):
                raise BlueskyConfigError(
                    f"VEILLE_BLUESKY_PDS_URL={self.pds!r} is http://: the app password would be "
                    "sent in clear to another machine; use the PDS's https:// address (or a PDS "
                    "on loopback)")
        self._check_interval(BlueskyConfigError,
                             "the service's rate limit is shared with its other clients")

    def _prepare_session(self) -> None:
        """At start: the session saved for the account, or, without one, a saved one deleted."""
        if self.signed_in:
            self._load_session()
        else:
            self._forget_session()

    def _forget_session(self) -> None:
        """Without an account, a session an earlier run saved (the account since taken out of
        the configuration) is deleted: its refresh token stays valid for weeks, a credential
        nothing uses any more (until 2026-12-06 it was left on disk)."""
        try:
            self.session_path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.log.warning("bluesky: no account configured, but the saved session %s could not "
                             "be deleted (%s)", self.session_path, exc.strerror or exc)
            return
        self.log.info("bluesky: no account configured: the session saved in %s deleted",
                      self.session_path)

    def _load_state(self, q: str) -> None:
        """The search's saved state (its cursor, the URIs of its look-back window, its gaps,
        the posts it holds back), or a fresh one."""
        data = self.store.load(self._state_key(q)) or {}
        if data.get("service") != self.search_base:
            data = {}
        cursor = _time(data.get("cursor"))
        self.cursors[q] = cursor
        recent = data.get("recent")
        self.recent[q] = {
            uri: when for uri, when in ((u, _time(t)) for u, t in
                                        (recent.items() if isinstance(recent, dict) else []))
            if post_uri(uri) is not None and when is not None}
        gaps = data.get("gaps")
        self.gaps[q] = [
            (a, b) for a, b in ((_time(g[0]), _time(g[1])) for g in
                                (gaps if isinstance(gaps, list) else [])
                                if isinstance(g, list) and len(g) == 2)
            if a is not None and b is not None and a < b][:MAX_GAPS]
        held = data.get("held")
        self.held[q] = dict(list(
            (uri, p) for uri, p in (held.items() if isinstance(held, dict) else [])
            if post_uri(uri) is not None and isinstance(p, dict) and p.get("uri") == uri
        )[:MAX_HELD])

    def _load_session(self) -> None:
        """The session an earlier run saved for this account (VEILLE_BLUESKY_HANDLE and its app
        password: password_check) on this PDS, so that a restart does not sign in again
        (Bluesky: createSession 30 times in five minutes, 300 a day, per account); its expired
        access token is refreshed by the first search. A file that cannot be used (another
        handle, password or PDS: the configuration changed; damaged, no JSON, a wrong type) is
        ignored with a warning, never its content, and the first search signs in; the next
        session saved replaces it. Until 2026-12-06 every start signed in."""
        path = self.session_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:  # (a UnicodeDecodeError: its message quotes a byte)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            self.log.warning("bluesky: the saved session %s cannot be read (%s); signing in",
                             path, why)
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # (nested too deep for the parser: no session)
            self.log.warning("bluesky: the saved session %s is no JSON; signing in", path)
            return
        try:
            self._access, self._refresh = saved_session(
                data, identifier=self.settings.bluesky_handle,
                password=self.settings.bluesky_app_password, pds=self.pds)
        except ValueError as exc:
            self.log.warning("bluesky: the saved session %s is not used (%s); signing in",
                             path, exc)
            return
        self._password_check = (data["password_salt"], data["password_check"])
        self.log.info("bluesky: the session saved in %s is used (no sign-in)", path)

    async def start(self) -> None:
        await super().start()
        if self.reloader is not None:  # the searches are the watch list's
            self._watchlist = self.reloader.value

    def use_watchlist(self, watchlist: Watchlist) -> None:
        """The searches and the brands' own accounts of a changed watch list, from this round
        on (SearchCollector.use_watchlist)."""
        super().use_watchlist(watchlist)
        self._watchlist = watchlist

    def keep(self, q: str, post: Any) -> bool:
        """False for a post by one of the accounts of the brand whose search `q` found it (the
        watch list's `bluesky_accounts`): its own posts are no mentions of it, and would count
        in its volume and queue. Found by another brand's search, it is that one's mention."""
        did = author_did(post)
        owner = (self._watchlist.account_owner(did)
                 if did is not None and self._watchlist is not None else None)
        return owner is None or owner != self._brand_of.get(q)

    def _memories(self) -> tuple[dict[str, Any], ...]:
        """A search kept across a watch-list change keeps its cursor, look-back URIs, gaps and held posts."""
        return (self.cursors, self.recent, self.gaps, self.held)

    # -- HTTP -----------------------------------------------------------------------------------

    def _xrpc(self, base: str, method: str) -> URL:
        return URL(f"{base}/xrpc/{method}")

    async def _sign_in(self) -> None:
        """createSession with the handle and app password: the session's tokens (once a round
        at most when refused)."""
        if self._refused is not None and self._refused[0] == self.rounds:
            raise SourceFetchError(self._refused[1], kind="unauthorized")
        answer = await self._request(
            self._xrpc(self.pds, CREATE_SESSION), method="POST",
            body={"identifier": self.settings.bluesky_handle,
                  "password": self.settings.bluesky_app_password})
        self._take_session(answer, "sign-in")

    async def _refresh_session(self) -> None:
        """refreshSession with the refreshJwt; signing in again when it is refused."""
        if self._refresh is not None:
            answer = await self._request(
                self._xrpc(self.pds, REFRESH_SESSION), method="POST",
                headers={"Authorization": f"Bearer {self._refresh}"})
            if answer.status < 400:
                self._take_session(answer, "session refresh")
                return
            self.log.info("bluesky: session refresh refused (%s); signing in again",
                          _http(answer))
        await self._sign_in()

    def _take_session(self, answer: Answer, what: str) -> None:
        self._access = self._refresh = None
        if answer.status in (400, 401, 403):
            message = (f"{what} refused on {self.pds} ({_http(answer)}): check "
                       "VEILLE_BLUESKY_HANDLE and VEILLE_BLUESKY_APP_PASSWORD")
            self._refused = (self.rounds, message)
            raise SourceFetchError(message, kind="unauthorized")
        if answer.status >= 400:
            raise FetchError(f"{what}: HTTP {answer.status}",
                             retry_after(answer.headers))
        data = answer.data
        access = data.get("accessJwt") if isinstance(data, dict) else None
        refresh = data.get("refreshJwt") if isinstance(data, dict) else None
        if not (isinstance(access, str) and access and isinstance(refresh, str) and refresh):
            raise FetchError(f"{what}: the answer holds no accessJwt and refreshJwt")
        self._access, self._refresh = access, refresh
        self._renewed_in = self.rounds
        self._save_session(data)

    def _save_session(self, data: dict[str, Any]) -> None:
        """Keep the session just taken (`data`: createSession's or refreshSession's answer) for
        the next start (_load_session), as the state files are written (StateStore.write: mode
        0600 from the file's creation). A failed save is logged (the next start may sign in again)."""
        did, handle = data.get("did"), data.get("handle")
        if self._password_check is None:
            salt = os.urandom(16)
            self._password_check = (salt.hex(), password_check(self.settings.bluesky_app_password,
                                                               salt))
        try:
            self.store.write(SESSION_FILE, {
                "version": SESSION_VERSION, "identifier": self.settings.bluesky_handle,
                "pds": self.pds, "did": did if isinstance(did, str) else None,
                "handle": handle if isinstance(handle, str) else None,
                "accessJwt": self._access, "refreshJwt": self._refresh,
                "password_salt": self._password_check[0],
                "password_check": self._password_check[1],
                "saved_at": iso(datetime.now(UTC)),
            })
        except OSError as exc:
            self.log.error("bluesky: could not save the session in %s (%s); the next start may "
                           "sign in again", self.session_path, exc.strerror or type(exc).__name__)

    async def _search(self, params: dict[str, str]) -> tuple[list[Any], str | None]:
        """One page of a search: its posts (anything: each is checked alone) and its cursor."""
        url = self._xrpc(self.search_base, SEARCH).with_query(params)
        answer: Answer | None = None
        for attempt in range(2):
            headers = {}
            if self.signed_in:
                if self._access is None:
                    await self._sign_in()
                headers["Authorization"] = f"Bearer {self._access}"
            answer = await self._request(url, headers=headers)
            expired = (answer.status in (400, 401)
                       and (_error_name(answer) == "ExpiredToken" or answer.status == 401))
            if self.signed_in and expired and attempt == 0 and self._renewed_in != self.rounds:
                await self._refresh_session()  # then once more
                continue
            # Refused again with a session renewed in this round: the service refuses the
            # session itself, and renewing it at every search (a sign-in each when the refresh
            # is refused too) would spend the account's createSession limit (30 in 5 minutes):
            # the search fails; the next round tries once more.
            break
        assert answer is not None
        if answer.status in (401, 403):
            raise SourceFetchError(
                f"{_http(answer)}: the session was refused"
                if self.signed_in else
                f"{_http(answer)}: {self.service} refuses searching "
                "without an account; set VEILLE_BLUESKY_HANDLE and VEILLE_BLUESKY_APP_PASSWORD",
                kind="unauthorized")
        if answer.status >= 400:
            raise FetchError(_http(answer),
                             retry_after(answer.headers))
        data = answer.data
        posts = data.get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list):
            raise FetchError("the answer holds no list of posts")
        cursor = data.get("cursor") if isinstance(data, dict) else None
        return posts, cursor if isinstance(cursor, str) and cursor else None

    # -- one search -----------------------------------------------------------------------------

    async def _read_pages(self, params: dict[str, str], since: datetime | None,
                          max_pages: int, cursor: datetime | None = None,
                          ) -> tuple[list[Any], int, datetime | None]:
        """Pages of one search, newest first, while they are full (or have a cursor) and above
        `since` (one page when `since` is None): the posts at or above `since`, the pages read above `cursor`
        (new posts, at most `max_pages`), and, when `max_pages` ended the reading with more to
        read, the `until` to go on from (else None). The pages reaching below `cursor` (the
        look-back window, read again for posts indexed late) are LOOKBACK_PAGES at most, apart.

        Signed in, the next page is asked with the answer's `cursor`. Without an account it is
        asked with `until` (the lexicon's: sortAt before it) just after the oldest sortAt of the
        page read: Bluesky's public AppView refuses `cursor` on unauthenticated searches (403,
        bluesky-social/bsky-docs#296, atproto#2838); posts of that same millisecond read twice
        are kept once (by URI); a page bringing nothing new but a cursor is followed by one
        asked strictly below its oldest sortAt."""
        posts: list[Any] = []
        pages, back, paging = 0, 0, params
        uris: set[Any] = set()
        while True:
            page, page_cursor = await self._search(paging)
            # Below `since`: a server ignoring it (read in a past round).
            posts.extend(p for p in page if since is None or not isinstance(p, dict)
                         or (when := sort_at(p)) is None or when >= since)
            times = [t for t in (sort_at(p) for p in page if isinstance(p, dict)) if t is not None]
            if cursor is not None and times and min(times) < cursor:
                back += 1
            else:
                pages += 1
            seen = len(uris)
            # (Strings only: a uri of another type is refused with its post, by poll_round.)
            uris.update(u for p in page if isinstance(p, dict) and isinstance(u := p.get("uri"), str))
            stuck = len(uris) == seen
            step = timedelta(milliseconds=1)
            if (stuck and not self.signed_in and page_cursor is not None and times
                    and paging.get("until") != iso(min(times))):
                # Nothing new, more after it: the page's oldest millisecond, read again, filled
                # what the AppView left of the page; on strictly below it.
                stuck, step = False, timedelta(0)
            # A short page is the last one only without a cursor: the AppView drops posts of
            # taken-down or blocking accounts from a page after the search (a short page, with
            # a cursor, has more after it).
            if (since is None or (len(page) < self.page_limit and page_cursor is None)
                    or (times and min(times) < since)
                    or (page_cursor is None if self.signed_in else not times)
                    or stuck):  # nothing new on the page: no way further
                return posts, pages, None
            if self.signed_in:
                paging = {**params, "cursor": str(page_cursor)}
            else:
                paging = {**params, "until": iso(min(times) + step)}
            if back >= LOOKBACK_PAGES:
                return posts, pages, None  # best effort: what is older was read in past rounds
            if pages >= max_pages:
                return posts, pages, (min(times) + timedelta(milliseconds=1) if times else None)

    async def fetch_query(self, q: str) -> QueryResult:
        """The posts of search `q` not read yet: from LOOKBACK below its cursor, newest first,
        paging while pages are full and above the window (the newest page only the first time),
        at most `max_pages` a round; then, with the pages left, the gaps earlier rounds left.

        A burst larger than `max_pages` pages leaves a gap (`since`, `until`: the posts between
        the cursor and the oldest post read): the cursor moves to the newest post all the
        same (the next rounds read the newest posts first, as a monitor should), and the gap is
        read in the next rounds with the pages they leave, newest gap first, at most MAX_GAPS
        kept (the oldest dropped, logged)."""
        cursor = self.cursors.get(q)
        since = cursor - self.lookback if cursor is not None else None
        params = {"q": q, "sort": "latest", "limit": str(self.page_limit)}
        if since is not None:
            params["since"] = iso(since)
        posts, pages, until = await self._read_pages(params, since, self.max_pages, cursor)
        gaps = list(self.gaps.get(q, []))
        if until is not None and cursor is not None:
            self.log.warning("bluesky: %s: %d full pages since the last round; the older posts "
                             "of this burst are read in the next rounds", self.describe(q), pages)
            gaps.insert(0, (cursor, until))  # (from the cursor: below it, the look-back's)
        left: list[tuple[datetime, datetime]] = []
        for gap_since, gap_until in gaps:
            if pages >= self.max_pages:
                left.append((gap_since, gap_until))  # no page left this round
                continue
            more, used, rest = await self._read_pages(
                {**params, "since": iso(gap_since), "until": iso(gap_until)}, gap_since,
                self.max_pages - pages)
            posts.extend(more)
            pages += used
            if rest is not None:
                left.append((gap_since, rest))
        if len(left) > MAX_GAPS:
            self.log.warning("bluesky: %s: %d bursts not read whole; the oldest are given up",
                             self.describe(q), len(left) - MAX_GAPS)
        recent = self.recent.get(q, {})
        ceiling = datetime.now(UTC) + timedelta(seconds=CURSOR_AHEAD_SECONDS)
        new: list[Any] = []
        read: dict[str, datetime] = {}
        newest = cursor
        for post in posts:
            uri = post.get("uri") if isinstance(post, dict) else None
            when = sort_at(post) if isinstance(post, dict) else None
            if post_uri(uri) is not None:
                assert isinstance(uri, str)
                if uri in recent or uri in read:
                    continue  # read in an earlier round (the look-back window) or page
                read[uri] = when if when is not None else ceiling
            if when is not None and when <= ceiling and (newest is None or when > newest):
                newest = when
            new.append(post)  # (a post without a valid URI is refused by poll_round)
        return QueryResult(new, newest, read, pages, left[:MAX_GAPS])

    def _remember(self, q: str, read: dict[str, datetime], newest: datetime | None,
                  gaps: list[tuple[datetime, datetime]]) -> None:
        """Add the URIs read to the search's memory; forget those below the look-back window of
        `newest` and below every gap (a gap's reading ends on posts read before it opened);
        beyond MAX_RECENT the oldest go first."""
        recent = self.recent.setdefault(q, {})
        recent.update(read)
        if newest is not None:
            start = min([newest - self.lookback, *(since for since, _ in gaps)])
            for uri in [u for u, t in recent.items() if t < start]:
                del recent[uri]
        kept = sorted(recent.items(), key=lambda item: item[1])[-MAX_RECENT:]
        self.recent[q] = dict(kept)

    # -- one round ------------------------------------------------------------------------------

    async def poll_round(self) -> RoundResult:
        """Run every search once, send the new posts, then save each search's cursor."""
        assert self.queries is not None, "start() first"
        result, done, failed = await self._read_sources([q.q for q in self.queries],
                                                        self.fetch_query)
        now = datetime.now(UTC)
        mentions: dict[str, RawMention] = {}
        first: dict[str, str] = {}  # mention id -> the search it is counted under
        sending: set[str] = set()
        holding: dict[str, dict[str, dict[str, Any]]] = {}  # search -> posts held after the round
        for q, found in done:
            summary = result.sources[q]
            held = self.held.get(q, {})
            hold = holding[q] = {}
            # The posts held back (dated ahead) are tried again first, keeping their place.
            for post in [*held.values(), *found.posts]:
                if not (isinstance(post, dict) and isinstance(uri := post.get("uri"), str)
                        and uri in held):  # counted once
                    result.fetched += 1
                    summary.statuses += 1
                    self.metrics.fetched.labels(self.name).inc()
                if not self.keep(q, post):
                    continue  # the brand's own post: read, neither sent nor held back
                mention = self._to_mention(q, post, now, result, summary, hold)
                if mention is not None:
                    mentions.setdefault(mention.id, mention)  # once, whatever the searches
                    first.setdefault(mention.id, q)
                    sending.add(q)

        if not await self._send_round(result, mentions, first):
            # The cursors stay where they were: the same posts are read and sent again.
            self._count_polls([q for q, _ in done], failed, unsent=sending)
            return result

        for q, found in done:
            changed = (found.newest != self.cursors.get(q) or found.read
                       or found.gaps != self.gaps.get(q, [])
                       or holding[q].keys() != self.held.get(q, {}).keys())
            self.cursors[q] = found.newest
            self.gaps[q] = found.gaps
            self.held[q] = holding[q]
            self._remember(q, found.read, found.newest, found.gaps)
            if not changed:
                continue
            try:
                self.store.save(self._state_key(q), {
                    "version": STATE_VERSION, "service": self.search_base, "query": q,
                    "cursor": iso(found.newest) if found.newest is not None else None,
                    "recent": {uri: iso(t) for uri, t in self.recent[q].items()},
                    "gaps": [[iso(a), iso(b)] for a, b in found.gaps],
                    "held": holding[q],
                    "saved_at": iso(now),
                })
            except OSError as exc:
                self.log.error("bluesky: %s: could not save state: %s", self.describe(q), exc)
        self._count_polls([q for q, _ in done], failed, unsent=set())
        return self._end_round(result, bool(done))

    def _to_mention(self, q: str, post: Any, now: datetime, result: RoundResult,
                    summary: SourceSummary, hold: dict[str, dict[str, Any]]) -> RawMention | None:
        """The post as a RawMention, or None when it is refused (logged and counted) or held
        back in `hold`: dated more than VEILLE_MAX_FUTURE_SECONDS ahead but less than a day (a
        device's clock running fast: Bluesky takes createdAt from the client), as the RSS and
        Mastodon collectors do, it is sent once its time comes; at most MAX_HELD a search."""
        uri = post.get("uri") if isinstance(post, dict) else None
        obj: dict[str, Any] | None = None
        try:
            if not isinstance(post, dict):
                raise InvalidMention("not_an_object", f"a post must be an object, not "
                                     f"{type(post).__name__}")
            obj = post_to_dict(post, collected_at=now, max_text_chars=self.max_text_chars)
            return mention_from_dict(obj, now=now, limits=self.limits)
        except InvalidMention as exc:
            was_held = isinstance(uri, str) and uri in self.held.get(q, {})
            if (exc.reason == "created_at_in_future" and isinstance(uri, str)
                    and isinstance(post, dict) and not beyond_horizon(obj, now)
                    and (was_held or len(hold) < MAX_HELD)):
                if not was_held:
                    self.log.info("bluesky: %s: post %.120r held back until its time comes: %s",
                                  self.describe(q), uri, exc)
                hold[uri] = held_form(post)
                return None
            reason, detail = exc.reason, str(exc)
            self.log.info("bluesky: %s: post %.120r refused: %s", self.describe(q), uri, detail)
        except Exception as exc:  # a strange post: refuse it alone, keep the others
            reason = "processing_error"
            self.log.warning("bluesky: %s: post %.120r refused, could not be read: %s: %s",
                             self.describe(q), uri, type(exc).__name__, exc)
        self.metrics.refused.labels(self.name, reason).inc()
        result.refused += 1
        summary.refused += 1
        return None


def _error_name(answer: Answer) -> str:
    """An XRPC error answer's `error` name (ExpiredToken, AuthRequired...), "" when none."""
    name = answer.data.get("error") if isinstance(answer.data, dict) else None
    return name[:80] if isinstance(name, str) else ""


def _http(answer: Answer) -> str:
    """"HTTP 400 ExpiredToken": an error answer's status and error name, for messages."""
    name = _error_name(answer)
    return f"HTTP {answer.status} {name}" if name else f"HTTP {answer.status}"


async def run_bluesky(settings: Settings, *, once: bool = False,
                      collector: BlueskyCollector | None = None) -> list[str]:
    """Serve /metrics and search until SIGTERM/SIGINT, or one round with `once=True`
    (polling.run_polling: BrokerUnavailable, BlueskyRoundFailed when every search failed, else
    the searches that failed as "search: error")."""
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = BlueskyCollector(settings, CollectorMetrics(CollectorRegistry()))
    return await run_polling(collector, once=once, round_failed=BlueskyRoundFailed)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.bluesky` is `veille collect bluesky`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "bluesky", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
