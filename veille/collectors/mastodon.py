"""Mastodon collector: the public timelines of the watch list's hashtags, on one instance.

Every `settings.mastodon_interval_seconds`, a round polls
`GET {instance}/api/v1/timelines/tag/{hashtag}?limit=40&min_id=<newest seen>` for each
hashtag of the watch list's `[[brands]]`, paging forward while a page is full (see fetch_tag),
then reads the LOOKBACK_SECONDS below the cursor again, newest first (at most LOOKBACK_PAGES
pages), for the statuses that reached the instance late, with ids below it. The round's statuses are sent
once each (a status under two hashtags too), and each hashtag's newest id and the ids read in
its look-back window are saved only after the broker acknowledged the batch. Rate-limit
headers are honoured: below a few requests left, the collector waits for `X-RateLimit-Reset`;
a 429 waits for Retry-After or the reset.

The brand's own accounts (the watch list's `mastodon_accounts`, `user@instance`, compared case
aside): a status found by a hashtag whose author (`account.acct`, a local one qualified with its
server) is an account of a brand following that hashtag is read but not sent (its own statuses are
no mentions of it). Each account of every brand, with hashtags or without (its cases found by
another collector: RSS, Bluesky, the webhook), is also a source, `@user@instance`: its id looked
up once (`GET /api/v1/accounts/lookup?acct=`, kept in its state), then
`GET /api/v1/accounts/{id}/statuses?exclude_reblogs=true` read with a hashtag's cursor, look-back
and memory, at most ACCOUNT_PAGES pages a round, its state saved only after acknowledgement. A
status of it replying to another account's (`in_reply_to_account_id` not its own) costs one more
request, for the parent (`GET /api/v1/statuses/{in_reply_to_id}`, rate limit honoured; 403, 404
or 410: none), and when the parent is none of the brand's accounts it is sent as the brand's
answer (answer_of): a `replied` decision on moderation.decisions keyed by the parent's mention id,
`answered_on` mastodon, in the round's write. An answer to a status that never became a case is
dropped by the moderation agent as `not_a_case` (workers of 2026-12-07 or later). An account that
cannot be looked up or read fails alone, counted in its brand's account health below. (Until
2026-12-07 only a brand with `hashtags` had its accounts read, and a watch list of accounts alone
was refused: a brand team that only wanted its answers on Mastodon counted never had them, and
nobody was told.) The collector needs something to read: a hashtag or a brand's account.

Each hashtag's health is exported (veille.metrics.HashtagMetrics): the time of its last good
poll (read, and its new statuses acknowledged by the broker; a quiet hashtag polls well) and its
failures by kind (fetch, rate_limited, unauthorized, broker). The collector's last write alone
does not tell a quiet hashtag from a revoked token. The brands' accounts have their own, per
brand (veille.metrics.MastodonAccountMetrics, label: the brand's id, never a username): its last
round in which every account of it was read and its answers acknowledged, and their failures by
the same kinds. (Until 2026-12-07 an account's failures counted under its brand's first hashtag,
and the alert named a hashtag that worked.)

Bounds on what the instance sends (a server can be buggy or hostile):

* an answer body is read up to MAX_BODY_BYTES (10 MB, as for RSS feeds); a larger one fails that
  hashtag for the round (logged, retried at the next round);
* a status id must be of a form the collector knows (valid_status_id): a decimal number of at
  most MAX_ID_DIGITS digits (Mastodon's snowflakes, of about 18 digits; instances numbering
  their statuses in sequence), a ULID (GoToSocial: 26 characters of Crockford's base32) or a
  FlakeId (Pleroma, Akkoma: base62, at most MAX_FLAKE_CHARS characters); a ULID or FlakeId of a
  time more than a day ahead ("zzz...", sorting after every real id) is none. Another id is
  refused (`invalid_field`) and never becomes since_id, and a state file holding such a
  since_id is ignored. Ids compare in their server's order within a form (numbers as numbers,
  ULIDs and FlakeIds as strings of the same length) and by the time they carry across forms
  (status_key); the cursor never moves to one more than CURSOR_AHEAD_SECONDS ahead of the
  clock (the time of a snowflake, ULID or FlakeId is known; a number in sequence has none, and
  only its bounds guard it). When an answer holds ids of another form only than the cursor's
  (another server software at the same address), the hashtag starts afresh from its newest page;
  below a cursor read without a look-back window, and with nothing after it, one status is read
  for the form of its id (GoToSocial answers nothing after a FlakeId or a number, for ever).
  The look-back window below is read for snowflakes and ULIDs (ids made from a status's date),
  not for FlakeIds or numbers in sequence;
* rate-limit headers that are not finite numbers or dates are ignored;
* in one round, the collector sleeps at most MAX_RETRY_WAIT (60 s) in total for Retry-After and
  rate-limit resets; a longer wait fails the hashtags left for the round (their retry waits in
  the loop, between rounds, at most `backoff_max`), so `--once` ends after about
  hashtags x pages x the request timeout, plus that minute at most;
* VEILLE_MASTODON_URL must be an instance base URL (https when VEILLE_MASTODON_TOKEN is set,
  unless on loopback: the token is sent at every request) and VEILLE_MASTODON_INTERVAL_SECONDS in
  MIN_INTERVAL..MAX_INTERVAL (30 s, as for RSS feeds, .. one day): else MastodonConfigError.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from streams.records import (
    MAX_SHORT_FIELD_CHARS,
    InvalidMention,
    RawMention,
    is_web_address,
    iso,
    mention_from_dict,
)
from veille.collectors import polling
from veille.collectors.answers import answer, answer_record
from veille.collectors.base import MentionSink, Record
from veille.collectors.polling import (  # noqa: F401 - MAX_INTERVAL, MIN_INTERVAL: the module's API
    MAX_BODY_BYTES,
    MAX_INTERVAL,
    MAX_RETRY_WAIT,
    MIN_INTERVAL,
    PollingCollector,
    RoundResult,
    SourceFetchError,
    check_interval,
    failure_kind,
    run_polling,
    sends_secret_in_clear,
)
from veille.collectors.rss import (
    HOLD_HORIZON,
    FetchError,
    beyond_horizon,
    html_to_text,
    plain_text,
    retry_after,
    short_hash,
    truncate,
)
from veille.metrics import CollectorMetrics, HashtagMetrics, MastodonAccountMetrics
from veille.moderation.cases import DecisionError
from veille.rules import Watchlist, WatchlistError
from veille.settings import Settings

log = logging.getLogger(__name__)

PAGE_LIMIT = 40  # the API's maximum for timelines
MAX_ID_DIGITS = 30  # Mastodon ids are snowflakes of ~18 digits (at most 20 for a 64-bit integer)
_STATUS_ID = re.compile(rf"0|[1-9][0-9]{{0,{MAX_ID_DIGITS - 1}}}")
#: GoToSocial's ids: ULIDs, 26 characters of Crockford's base32 (no I, L, O, U), upper-case;
#: the first is at most 7 (128 bits).
ULID_CHARS = 26
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
#: Pleroma's and Akkoma's ids: FlakeIds, 128-bit numbers in base62 (18 characters today; 22
#: at the most for 128 bits).
MAX_FLAKE_CHARS = 22
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_FLAKE_ID = re.compile(rf"[1-9A-Za-z][0-9A-Za-z]{{1,{MAX_FLAKE_CHARS - 1}}}")
STATE_VERSION = 1
#: How far back from its cursor each round reads a hashtag again: a status from another server
#: that reaches the instance late gets an id from its publication time (Mastodon's snowflakes:
#: milliseconds << 16), below the cursor once a newer one was read, and forward reading from
#: the cursor never saw it. At most LOOKBACK_PAGES pages of it a round.
LOOKBACK_SECONDS = 600.0
LOOKBACK_PAGES = 2
#: Status ids read in the look-back window kept per hashtag (and saved), so as not to send them
#: again.
MAX_RECENT_IDS = 4000
#: Statuses dated ahead of the clock (beyond VEILLE_MAX_FUTURE_SECONDS) held back per hashtag
#: in its state until their time comes. When the hold is full, one more is left unread (not
#: remembered, the cursor stays below it) and read again in a later round, when there is room.
MAX_HELD = 100
#: The cursor (since_id) never moves to an id more than this ahead of the clock (the later of
#: the collector's clock and the instance's, read from its answers' Date header).
CURSOR_AHEAD_SECONDS = 60.0
#: Snowflake ids carry a time from 2016 on; an id whose time is not plausible is not one.
_SNOWFLAKE_MIN_MS = 1_451_606_400_000
#: Pages of a brand account's statuses read a round at the most (each reply among them costs one
#: more request, for the status it answers): a burst beyond waits for the next rounds.
ACCOUNT_PAGES = 2
#: What the source of a brand's account is named: `@user@instance` (a hashtag has no `@`).
ACCOUNT_PREFIX = "@"
#: An account id as instances give them (Mastodon's snowflakes, GoToSocial's ULIDs, Pleroma's
#: FlakeIds): letters and digits.
_ACCOUNT_ID = re.compile(r"[0-9A-Za-z]{1,32}")
AUDIENCE = {"followers": None, "likes": "favourites_count", "shares": "reblogs_count",
            "replies": "replies_count"}


#: Why a watch list is refused when it gives the collector nothing to read.
NOTHING_TO_READ = "no brand has `hashtags` nor `mastodon_accounts`, nothing to read on Mastodon"


class MastodonConfigError(ValueError):
    """The Mastodon collector cannot start: no instance URL, or nothing to read (no hashtag and
    no brand account)."""


#: A FetchError of a known kind (polling.SourceFetchError), for a hashtag.
HashtagFetchError = SourceFetchError


class MastodonRoundFailed(MastodonConfigError):
    """`--once`: every hashtag and brand account failed (a MastodonConfigError so that the CLI prints
    `veille: error: ...` and exits 2, not a traceback)."""


def id_form(status_id: str) -> str:
    """The form of a valid status id (valid_status_id): "number", "ulid" or "flake"."""
    if _STATUS_ID.fullmatch(status_id):  # (a ULID begins with 0 until 2248)
        return "number"
    return "ulid" if len(status_id) == ULID_CHARS else "flake"


def _decode(text: str, alphabet: str) -> int:
    base, value = len(alphabet), 0
    for char in text:
        value = value * base + alphabet.index(char)
    return value


def id_time_ms(status_id: str) -> int | None:
    """The time a valid status id carries, in Unix milliseconds, or None when it carries none
    (a number below the snowflakes: an instance numbering its statuses in sequence).

    A snowflake is milliseconds << 16; a ULID's first 10 characters are its milliseconds; a
    FlakeId is a 128-bit number whose first 64 bits are its milliseconds."""
    form = id_form(status_id)
    if form == "number":
        ms = int(status_id) >> 16
        return ms if ms >= _SNOWFLAKE_MIN_MS else None
    if form == "ulid":
        return _decode(status_id[:10], _CROCKFORD)
    return _decode(status_id, _BASE62) >> 64


def valid_status_id(value: Any, now: float | None = None) -> str | None:
    """A status id in one of the forms the collector knows, or None when it is none of them.

    * a decimal number of at most MAX_ID_DIGITS digits, without leading zeros (Mastodon's
      snowflakes; instances numbering their statuses in sequence);
    * a ULID (GoToSocial): 26 characters of Crockford's base32, upper-case;
    * a FlakeId (Pleroma, Akkoma): base62 (0-9A-Za-z), at most MAX_FLAKE_CHARS characters,
      without leading zeros, not all digits, of a time from 2016 on.

    A ULID or FlakeId of a time more than HOLD_HORIZON (a day) ahead of `now` (the clock) is
    none: its status would be refused as dated too far ahead anyway, and such an id ("zzz..."),
    sorting after every real one, is what a broken server would poison the cursor with.
    Ids are compared by status_key: a non-numeric, huge or zero-padded one saved as since_id
    would be "newer" than every real id, and the hashtag would yield nothing for ever.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value) if value < 10**MAX_ID_DIGITS else ""
    if not isinstance(value, str):
        return None
    if _STATUS_ID.fullmatch(value):
        return value
    if _ULID.fullmatch(value) or (_FLAKE_ID.fullmatch(value) and not value.isdigit()):
        ms = id_time_ms(value)
        ceiling = ((time.time() if now is None else now)
                   + HOLD_HORIZON.total_seconds()) * 1000
        floor = 0 if len(value) == ULID_CHARS else _SNOWFLAKE_MIN_MS
        if ms is not None and floor <= ms <= ceiling:
            return value
    return None


def status_key(status_id: str) -> tuple[int, int, str]:
    """Sort key of valid status ids: by the time they carry, then as numbers.

    Within a form this is the server's own order: decimal ids compare as numbers (their
    time is their top bits), ULIDs and FlakeIds as strings of the same length (their
    characters are in ASCII order; a shorter FlakeId is a smaller number). Ids of two forms (a
    server replaced by another at the same address, or one mixing them) compare by their
    times; an id carrying none (a number in sequence) is older than every one that does."""
    ms = id_time_ms(status_id)
    return (-1 if ms is None else ms, len(status_id), status_id)


def newer(a: str, b: str) -> bool:
    return status_key(a) > status_key(b)


def id_after(status_id: str, when: float) -> bool:
    """True when `status_id` carries a time (a snowflake, ULID or FlakeId) after `when` (Unix
    seconds). An id carrying none (a number in sequence) is never "after"."""
    ms = id_time_ms(status_id)
    return ms is not None and ms >= _SNOWFLAKE_MIN_MS and ms > when * 1000


def lookback_id(status_id: str, seconds: float, now: float | None = None) -> str | None:
    """The id `seconds` before `status_id`'s time, for a snowflake (milliseconds << 16) or a
    ULID (its time, then zeros); None for an id carrying no time (an instance numbering its
    statuses in sequence: no time to go back in) or a FlakeId (no look-back window)."""
    form = id_form(status_id)
    ms = id_time_ms(status_id)
    ceiling = ((time.time() if now is None else now) + 86400) * 1000
    if form == "flake" or ms is None or not _SNOWFLAKE_MIN_MS <= ms <= ceiling or seconds <= 0:
        return None
    start = ms - int(seconds * 1000)
    if form == "ulid":
        digits = ""
        for _ in range(10):
            start, rest = divmod(start, 32)
            digits = _CROCKFORD[rest] + digits
        return digits + "0" * (ULID_CHARS - 10)
    return str(start << 16)


def check_base_url(raw: str) -> str:
    """VEILLE_MASTODON_URL as the instance's base URL without a trailing slash, or
    MastodonConfigError: http(s), a host, a port in 1..65535, no credentials, query, fragment,
    spaces or API path. (With a token, http:// only to loopback: MastodonCollector.check_config.)"""
    return polling.check_base_url(
        raw, name="VEILLE_MASTODON_URL", error=MastodonConfigError,
        example="https://mastodon.social", empty_hint="set it to the instance to read",
        credentials_hint="give an access token in VEILLE_MASTODON_TOKEN", api_path="/api/")


def hashtags_of(watchlist: Watchlist) -> list[str]:
    """Every hashtag of the watch list without its '#', once (Mastodon tags ignore case)."""
    tags: list[str] = []
    seen: set[str] = set()
    for brand in watchlist.brands:
        for tag in brand.hashtags:
            name = tag.strip().lstrip("#").strip()
            if name and name.casefold() not in seen:
                seen.add(name.casefold())
                tags.append(name)
    return tags


def accounts_of(watchlist: Watchlist) -> list[tuple[str, str]]:
    """(source, brand id) of every account of the brands' `mastodon_accounts`, the source
    `@user@instance`, in the watch list's order: every brand's, with `hashtags` or without. A
    brand without has its cases found elsewhere (RSS, Bluesky, the webhook, a status naming it
    that another brand's hashtag found), and its answers on Mastodon close them: until
    2026-12-07 its accounts were never read, and nobody was told."""
    return [(ACCOUNT_PREFIX + acct, brand.id) for brand in watchlist.brands
            for acct in brand.mastodon_accounts]


def account_of(source: str) -> str | None:
    """The account (`user@instance`) a brand account's source reads, None for a hashtag."""
    return source[len(ACCOUNT_PREFIX):] if source.startswith(ACCOUNT_PREFIX) else None


def own_accounts(watchlist: Watchlist) -> dict[str, frozenset[str]]:
    """Hashtag (case folded, without its '#') -> the accounts (case folded) of the brands that
    follow it: a status found by the hashtag and posted by one of them is no mention."""
    out: dict[str, set[str]] = {}
    for brand in watchlist.brands:
        for tag in brand.hashtags:
            name = tag.strip().lstrip("#").strip().casefold()
            out.setdefault(name, set()).update(a.casefold() for a in brand.mastodon_accounts)
    return {tag: frozenset(accounts) for tag, accounts in out.items() if accounts}


def global_acct(account: Any, instance_host: str) -> str | None:
    """An Account entity's `acct` in full (`user@server`): a local account's (no `@`) qualified
    with its profile's host, else the instance's; None when it has none."""
    acct = account.get("acct") if isinstance(account, dict) else None
    if not isinstance(acct, str) or not acct.strip():
        return None
    acct = acct.strip()
    if "@" not in acct:
        acct = f"{acct}@{_host(account.get('url')) or instance_host}"
    return acct


def mention_id(status: Any) -> str | None:
    """The mention id a status is sent under (status_to_dict): `mastodon-` and a hash of its
    global `uri` (else its `url`), a boost the boosted status's; None when it has neither."""
    if not isinstance(status, dict):
        return None
    reblog = status.get("reblog")
    original: dict[str, Any] = reblog if isinstance(reblog, dict) else status
    uri = original.get("uri") or original.get("url")
    return "mastodon-" + short_hash(uri.strip()) if isinstance(uri, str) and uri.strip() else None


def reply_parent(status: Any, account_id: str) -> str | None:
    """The id of the status a status of the brand's account (`account_id`) answers, when it
    answers another account's (`in_reply_to_id`, `in_reply_to_account_id` not its own): None
    for a status that is no reply, a reply in its own thread, or a boost."""
    if not isinstance(status, dict) or status.get("reblog"):
        return None
    parent = valid_status_id(status.get("in_reply_to_id"))
    to = status.get("in_reply_to_account_id")
    if isinstance(to, int) and not isinstance(to, bool):
        to = str(to)
    if parent is None or not isinstance(to, str) or not to or to == account_id:
        return None
    return parent


def answer_of(reply: Any, parent: Any, *, own: Container[str], account: str,
              instance_host: str) -> dict[str, Any] | None:
    """The `replied` decision (moderation.decisions) a status of the brand's `account`
    (`user@instance`) is when it answers `parent` (GET /api/v1/statuses/{in_reply_to_id}),
    another's status: keyed by the parent's mention id (its case id), by `@<account>`, at the
    reply's created_at, with the reply's url, `answered_on` mastodon. None when the parent is
    one of `own` (the brand's accounts, case folded: its own status, no mention of it), has no
    uri, or the reply has no readable created_at."""
    if not isinstance(reply, dict) or not isinstance(parent, dict):
        return None
    case_id = mention_id(parent)
    author = global_acct(parent.get("account"), instance_host)
    if case_id is None or author is None or author.casefold() in own:
        return None
    created = reply.get("created_at")
    try:
        when = datetime.fromisoformat(created) if isinstance(created, str) else None
        if when is not None:
            when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # no date, or beyond the years a time can be
        when = None
    if when is None:
        return None
    url = reply.get("url") or reply.get("uri")
    reason = (url if isinstance(url, str) and len(url) <= MAX_SHORT_FIELD_CHARS
              and is_web_address(url) else "answered on Mastodon")
    return answer(case_id, by=ACCOUNT_PREFIX + account, at=when,
                  platform="mastodon", reason=reason)


def mention_links(status: dict[str, Any], instance_host: str) -> dict[str, str]:
    """The status's mentions of accounts as link target -> `@user@server`: Mastodon writes a
    mention as `@user` alone, so "@acme" of any server read as the brand's own account, and a
    watch rule naming the account in full (`@acme@mastodon.social`) never matched."""
    out: dict[str, str] = {}
    mentions = status.get("mentions")
    for m in mentions if isinstance(mentions, list) else []:
        if not isinstance(m, dict):
            continue
        url, acct = m.get("url"), m.get("acct")
        if not (isinstance(url, str) and isinstance(acct, str) and url and acct.strip()):
            continue
        acct = plain_text(acct).lstrip("@")
        if acct and " " not in acct and len(acct) <= 320:
            if "@" not in acct:  # a local account: qualified as the author is
                acct = f"{acct}@{_host(url) or instance_host}"
            out[url] = "@" + acct
    return out


#: What a held status keeps of a Status entity (what status_to_dict, mention_links and the
#: round read), for the state file: the rest (the account's display name, avatar, bio and
#: fields, the media, the card, the emojis) is personal data the collector has no use for.
HELD_FIELDS = ("id", "uri", "url", "created_at", "content", "spoiler_text", "language",
               "visibility", *(key for key in AUDIENCE.values() if key is not None))
HELD_ACCOUNT_FIELDS = ("acct", "url", "followers_count")
HELD_MENTION_FIELDS = ("url", "acct")


def held_form(status: dict[str, Any]) -> dict[str, Any]:
    """`status` with only what the collector reads of it (HELD_FIELDS), the boosted status's
    too: the same mention is made of it (status_to_dict), without the rest of the entity."""
    out = {k: status[k] for k in HELD_FIELDS if k in status}
    account = status.get("account")
    if isinstance(account, dict):
        out["account"] = {k: account[k] for k in HELD_ACCOUNT_FIELDS if k in account}
    mentions = status.get("mentions")
    if isinstance(mentions, list):
        out["mentions"] = [{k: m[k] for k in HELD_MENTION_FIELDS if k in m}
                           for m in mentions if isinstance(m, dict)]
    reblog = status.get("reblog")
    if isinstance(reblog, dict):
        out["reblog"] = held_form(reblog)
    return out


def _host(url: Any) -> str | None:
    """The host of an address an instance gave, None when it is no address: one odd optional
    field (`"url": "http://[bad"`, a number) refused the whole status until 2026-12-05."""
    if not isinstance(url, str):
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def status_to_dict(status: dict[str, Any], *, instance_host: str, collected_at: datetime,
                   max_text_chars: int) -> dict[str, Any]:
    """A Mastodon Status entity as a RawMention dict (validated afterwards).

    A boost is mapped to the boosted status, so its id (from the original's global `uri`) is the
    original's own.
    """
    original = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
    assert isinstance(original, dict)
    uri = original.get("uri") or original.get("url")
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidMention("missing_field", "the status has no uri", "uri")
    account = original.get("account") if isinstance(original.get("account"), dict) else {}
    assert isinstance(account, dict)
    spoiler = plain_text(original.get("spoiler_text") or "")
    content = html_to_text(original.get("content") or "", keep_paragraphs=True,
                           links=mention_links(original, instance_host))
    text = f"{spoiler}\n\n{content}" if spoiler and content else spoiler or content
    author = global_acct(account, instance_host)  # a local account qualified: global
    audience: dict[str, int] = {}
    for name, key in AUDIENCE.items():
        value = account.get("followers_count") if key is None else original.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            audience[name] = value
    # An http(s) address only (is_web_address: a `javascript:` url reached the moderators'
    # screen until 2026-12-06): the status's url, else its uri, else none.
    url = next((u for u in (original.get("url"), uri) if isinstance(u, str) and u
                and len(u) <= MAX_SHORT_FIELD_CHARS and is_web_address(u)), None)
    language = original.get("language")
    return {
        "id": "mastodon-" + short_hash(uri.strip()),
        "source": "mastodon",
        "platform": "mastodon",
        "author": author,
        "text": truncate(text, max_text_chars),
        "url": url,
        "created_at": original.get("created_at"),
        "language": language if isinstance(language, str) and len(language) <= 16 else None,
        "audience": audience or None,
        "collected_at": iso(collected_at),
    }


@dataclass
class TagResult:
    """Statuses newer than since_id for one hashtag, and the newest id among them."""

    tag: str
    statuses: list[dict[str, Any]]
    newest: str | None
    pages: int = 1
    bad_ids: list[Any] = field(default_factory=list)  # statuses refused for their id
    #: A brand account's: its replies to another's status, as records on moderation.decisions.
    answers: list[Record] = field(default_factory=list)


class MastodonCollector(PollingCollector):
    """Polls the hashtag timelines of one Mastodon instance and sends new public statuses."""

    name = "mastodon"
    source_noun = "hashtag"
    item_noun = "statuses"
    interval_setting = "mastodon_interval_seconds"
    answers_from = "Mastodon accounts"

    def __init__(
        self,
        settings: Settings,
        metrics: CollectorMetrics,
        sink: MentionSink | None = None,
        *,
        hashtags: list[str] | None = None,
        page_limit: int = PAGE_LIMIT,
        max_pages: int = 10,
        lookback_seconds: float = LOOKBACK_SECONDS,
        **options: Any,
    ) -> None:
        """`options`: PollingCollector's (interval, request_timeout, rate_limit_floor,
        max_rate_limit_wait, max_429_retries, backoff_base, backoff_max, max_text_chars,
        max_body_bytes, stop_grace, rng, monotonic)."""
        super().__init__(settings, metrics, sink, **options)
        self.base_url = settings.mastodon_url.strip().rstrip("/")
        self.hashtags = hashtags
        self.page_limit = page_limit
        self.max_pages = max_pages
        self.since: dict[str, str | None] = {}
        self.lookback_seconds = lookback_seconds
        #: hashtag -> status ids read in its look-back window (sent or refused), oldest first.
        self.recent: dict[str, dict[str, None]] = {}
        #: Per hashtag, statuses dated too far ahead (a remote server's clock running fast),
        #: by id: held back, saved with the state, sent once their time has come.
        self.held: dict[str, dict[str, dict[str, Any]]] = {}
        #: Seconds the instance's clock (its Date header) runs ahead of ours, 0 when it does not.
        self._instance_ahead = 0.0
        #: Per hashtag, ids of statuses left unread because the hold was full (counted once).
        self._deferred: dict[str, set[str]] = {}
        #: The brands' accounts read (mastodon_accounts), as sources `@user@instance` -> brand.
        self.accounts: dict[str, str] = {}
        #: Per account source, its id on the instance (accounts/lookup, once; saved with its
        #: state), and the id its state file holds.
        self.account_ids: dict[str, str] = {}
        self._saved_ids: dict[str, str] = {}
        #: Hashtag (case folded) -> the accounts (case folded) of the brands following it.
        self._own_of_tag: dict[str, frozenset[str]] = {}
        #: Brand -> its accounts (case folded).
        self._own_of_brand: dict[str, frozenset[str]] = {}
        #: Per brand whose accounts are read, their last good round and failures (made at start).
        self.account_metrics: MastodonAccountMetrics | None = None

    @property
    def hashtag_metrics(self) -> HashtagMetrics | None:
        """Per hashtag, its last good poll and its failures by kind: made at start (label
        children for every hashtag of the watch list, at 0)."""
        metrics: HashtagMetrics | None = self.source_metrics
        return metrics

    def describe(self, source: str) -> str:
        return source if account_of(source) is not None else f"#{source}"

    def is_brand_account(self, source: str) -> bool:
        return account_of(source) is not None

    def metric_label(self, source: str) -> str:
        """A hashtag's own label; a brand account's, its brand's id (a username is no label
        value), in account_metrics."""
        return self.accounts.get(source, "?") if account_of(source) is not None else source

    def health_of(self, source: str) -> tuple[Any, str]:
        """A hashtag's health is its own (hashtag_metrics); a brand account's is its brand's, in
        account_metrics: counted under a hashtag, its failures sent the on-call reader to a
        hashtag that worked (until 2026-12-07)."""
        if account_of(source) is not None:
            return self.account_metrics, self.metric_label(source)
        return self.source_metrics, source

    def _account_brands(self) -> list[str]:
        """The brands whose accounts are read (accounts_of: those with any), once each."""
        return list(dict.fromkeys(self.accounts.values()))

    @property
    def sources(self) -> list[str]:
        """What a round reads: the hashtags, then the brands' accounts."""
        return [*(self.hashtags or []), *self.accounts]

    def _use_accounts(self, watchlist: Watchlist) -> None:
        """The brands' accounts of `watchlist` (accounts_of), and who owns what."""
        self.accounts = dict(accounts_of(watchlist))
        self._own_of_tag = own_accounts(watchlist)
        self._own_of_brand = {b.id: frozenset(a.casefold() for a in b.mastodon_accounts)
                              for b in watchlist.brands}

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def instance_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def _state_key(self, tag: str) -> str:
        # Status ids are local to an instance: another instance starts from scratch.
        return f"{self.base_url}|{tag.casefold()}"

    def check_config(self) -> None:
        """The instance URL and the interval, or MastodonConfigError (before anything runs)."""
        self.base_url = check_base_url(self.settings.mastodon_url)
        if self.settings.mastodon_token and sends_secret_in_clear(self.base_url):
            # Sent at every request: readable by anyone on the way (until 2026-12-06).
            raise MastodonConfigError(
                f"VEILLE_MASTODON_URL={self.base_url!r} is http://: VEILLE_MASTODON_TOKEN "
                "would be sent in clear to another machine; use the instance's https:// "
                "address (or no token, or an instance on loopback)")
        self._check_interval(MastodonConfigError,
                             "the instance's rate limit is shared with its other clients")

    def load_watchlist(self, path: Path) -> Watchlist:
        """The watch list at `path`, or MastodonConfigError: one that does not load, or with
        nothing to read (no brand has `hashtags` nor `mastodon_accounts`), at start as when it
        changes while running (a change that would leave nothing to read is refused: the sources
        in use stay). A brand's accounts alone are enough (until 2026-12-07: refused)."""
        try:
            watchlist = Watchlist.from_toml(path)
        except WatchlistError as exc:
            raise MastodonConfigError(str(exc)) from None
        if not hashtags_of(watchlist) and not accounts_of(watchlist):
            raise MastodonConfigError(f"{path}: {NOTHING_TO_READ}")
        return watchlist

    async def start(self) -> None:
        self.check_config()
        self.store.check()
        if self.hashtags is None:
            watchlist = self.follow_watchlist(self.load_watchlist)
            self.hashtags = hashtags_of(watchlist)
            self._use_accounts(watchlist)
        if not self.sources:
            raise MastodonConfigError(f"{self.settings.watchlist_path}: {NOTHING_TO_READ}")
        if self.source_metrics is None:
            self.source_metrics = HashtagMetrics(self.metrics.registry, self.hashtags)
        if self.account_metrics is None:
            self.account_metrics = MastodonAccountMetrics(self.metrics.registry,
                                                          self._account_brands())
        for source in self.sources:
            self._load_state(source)
        if self._session is None:
            self._open_session()

    def _load_state(self, tag: str) -> None:
        """The hashtag's saved state (its cursor, the ids of its look-back window, the statuses
        it holds back), or a fresh one."""
        data = self.store.load(self._state_key(tag)) or {}
        since = data.get("since_id") if data.get("instance") == self.base_url else None
        if since is not None and (not isinstance(since, str) or valid_status_id(since) is None):
            log.warning("mastodon: #%s: the saved since_id %.60r is not a status id; "
                        "ignored, starting afresh from the newest page", tag, since)
            since = None
        self.since[tag] = since or None
        # (Also with no cursor yet: ids read ahead of the clock, not to be sent again.)
        recent = data.get("recent_ids") if data.get("instance") == self.base_url else None
        self.recent[tag] = dict.fromkeys(
            i for i in (recent if isinstance(recent, list) else [])
            if isinstance(i, str) and valid_status_id(i) is not None)
        held = data.get("held") if data.get("instance") == self.base_url else None
        valid = {sid: st for sid, st in (held.items() if isinstance(held, dict) else [])
                 if isinstance(sid, str) and valid_status_id(sid) is not None
                 and isinstance(st, dict)}
        self.held[tag] = {sid: valid[sid]
                          for sid in sorted(valid, key=status_key)[:MAX_HELD]}
        account_id = data.get("account_id") if data.get("instance") == self.base_url else None
        if (account_of(tag) is not None and isinstance(account_id, str)
                and _ACCOUNT_ID.fullmatch(account_id)):
            self.account_ids[tag] = self._saved_ids[tag] = account_id

    def use_watchlist(self, watchlist: Watchlist) -> None:
        """The hashtags of a changed watch list, from this round on: a hashtag added starts from
        its saved state (else its newest page, as at a start) with its series at 0; one taken
        off is no longer read and its series go; one kept (its case aside: Mastodon's tags
        ignore it) keeps its cursor, look-back ids and held statuses, so nothing is sent twice
        or skipped. (Its state file stays: added back, it resumes where it stopped.) The brands'
        accounts likewise, their health per brand: a brand with accounts read from now on has
        its series at 0, one with none read any more loses them."""
        hashtags = hashtags_of(watchlist)
        before = self.sources
        brands_before = self._account_brands()
        self._use_accounts(watchlist)
        added, taken_off = self._carry_states(
            before, [*hashtags, *self.accounts],
            (self.since, self.recent, self.held, self._deferred, self.account_ids,
             self._saved_ids))
        metrics = self.hashtag_metrics
        if metrics is not None:
            for old in set(self.hashtags or []) - set(hashtags):
                metrics.forget(old)
            metrics.watch(hashtags)
        accounts = self.account_metrics
        if accounts is not None:  # a brand with no account read any more loses its series
            brands = self._account_brands()
            for brand in set(brands_before) - set(brands):
                accounts.forget(brand)
            accounts.watch(brands)
        self.hashtags = hashtags
        log.info("mastodon: watch list changed: %d hashtags and %d brand accounts followed "
                 "from this round on (added: %s; taken off: %s)", len(hashtags),
                 len(self.accounts), ", ".join(self.describe(t) for t in added) or "none",
                 ", ".join(self.describe(t) for t in taken_off) or "none")

    # -- HTTP ---------------------------------------------------------------------------------

    def _note_response(self, resp: aiohttp.ClientResponse) -> None:
        self._note_instance_clock(resp.headers.get("Date"))

    def _note_instance_clock(self, value: str | None) -> None:
        """How far the instance's clock runs ahead of ours, from its answer's Date header (0
        when it does not, or says nothing readable; at most a day)."""
        try:
            date = parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError, IndexError, OverflowError):
            date = None
        if date is not None:
            when = (date if date.tzinfo else date.replace(tzinfo=UTC)).timestamp()
            self._instance_ahead = min(max(when - time.time(), 0.0),
                                       HOLD_HORIZON.total_seconds())

    def clock(self) -> float:
        """Now, as the later of our clock and the instance's: the ids it gives its new statuses
        come from its clock, and a collector whose clock runs behind took them all for statuses
        of the future, and its cursor never moved."""
        return time.time() + self._instance_ahead

    def _headers(self) -> dict[str, str]:
        if self.settings.mastodon_token:
            return {"Authorization": f"Bearer {self.settings.mastodon_token}"}
        return {}

    async def _get_page(self, url: URL) -> tuple[list[dict[str, Any]], URL | None]:
        """One page of statuses and the `rel="next"` address, honouring the rate limit."""
        answer = await self._request(url, headers=self._headers())
        if answer.status in (401, 403):
            raise HashtagFetchError(
                f"HTTP {answer.status}: the instance refuses anonymous access to hashtag "
                "timelines; set VEILLE_MASTODON_TOKEN" if not self.settings.mastodon_token
                else f"HTTP {answer.status}: the access token was refused",
                kind="unauthorized",
            )
        if answer.status >= 400:
            raise FetchError(f"HTTP {answer.status}",
                             retry_after(answer.headers))
        data = answer.data
        if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
            raise FetchError("the answer is not a list of statuses")
        return data, URL(answer.next_link) if answer.next_link else None

    def _tag_url(self, tag: str) -> URL:
        return URL(f"{self.base_url}/api/v1/timelines/tag/{quote(tag, safe='')}", encoded=True)

    def _page_url(self, source: str, query: dict[str, str]) -> URL:
        """A page of a hashtag's timeline, or of a brand account's statuses (its boosts left
        out), with `query` (limit, min_id, max_id)."""
        if account_of(source) is None:
            return self._tag_url(source).with_query(query)
        account_id = self.account_ids[source]
        return URL(f"{self.base_url}/api/v1/accounts/{quote(account_id, safe='')}/statuses",
                   encoded=True).with_query({"exclude_reblogs": "true", **query})

    # -- the brands' accounts -------------------------------------------------------------------

    async def _resolve(self, source: str) -> str:
        """The id of the account `source` reads on the instance: the one known (state), else
        `GET /api/v1/accounts/lookup?acct=<user@instance>` (a 404: FetchError, the account
        unknown there or misspelt)."""
        known = self.account_ids.get(source)
        if known is not None:
            return known
        acct = account_of(source)
        url = URL(f"{self.base_url}/api/v1/accounts/lookup").with_query({"acct": acct or ""})
        answer = await self._request(url, headers=self._headers())
        if answer.status in (401, 403):
            raise HashtagFetchError(f"HTTP {answer.status}: the instance refused to look up "
                                    "the account" + ("" if self.settings.mastodon_token else
                                                     "; set VEILLE_MASTODON_TOKEN"),
                                    kind="unauthorized")
        if answer.status in (404, 410):
            raise FetchError(f"HTTP {answer.status}: the instance knows no account {source} "
                             "(misspelt in mastodon_accounts, or a remote account it never saw: "
                             "follow it from the instance once)")
        if answer.status >= 400:
            raise FetchError(f"account lookup: HTTP {answer.status}", retry_after(answer.headers))
        data = answer.data
        found = data.get("id") if isinstance(data, dict) else None
        if isinstance(found, int) and not isinstance(found, bool) and found >= 0:
            found = str(found)
        if not isinstance(found, str) or not _ACCOUNT_ID.fullmatch(found):
            raise FetchError("account lookup: the answer holds no account id")
        self.account_ids[source] = found
        return found

    async def _parent(self, status_id: str) -> dict[str, Any] | None:
        """The status `status_id` (`GET /api/v1/statuses/{id}`, a request of the round as any,
        rate limit honoured), None when it is gone or not to be seen (404, 410, 403)."""
        url = URL(f"{self.base_url}/api/v1/statuses/{quote(status_id, safe='')}", encoded=True)
        answer = await self._request(url, headers=self._headers())
        if answer.status in (403, 404, 410):
            return None
        if answer.status >= 400:
            raise FetchError(f"status {status_id}: HTTP {answer.status}",
                             retry_after(answer.headers))
        if not isinstance(answer.data, dict):
            raise FetchError(f"status {status_id}: the answer is no status")
        return answer.data

    async def fetch_account(self, source: str) -> TagResult:
        """A brand account's statuses newer than its cursor (fetch_tag: the same cursor,
        look-back and memory as a hashtag's, ACCOUNT_PAGES pages a round at most), and its
        replies among them to another's status as its brand's answers: each one's parent read
        (one request) for its mention id. A request that fails fails the account alone for the
        round (nothing saved: read again at the next)."""
        account = account_of(source)
        assert account is not None
        account_id = await self._resolve(source)
        read = await self.fetch_tag(source, max_pages=ACCOUNT_PAGES)
        own = self._own_of_brand.get(self.accounts.get(source, ""), frozenset())
        for status in read.statuses:
            parent_id = reply_parent(status, account_id)
            if parent_id is None or valid_status_id(status.get("id")) is None:
                continue
            parent = await self._parent(parent_id)
            decision = None if parent is None else answer_of(
                status, parent, own=own, account=account, instance_host=self.instance_host)
            if decision is None:
                continue
            try:
                read.answers.append(answer_record(self.settings, decision))
            except DecisionError as exc:
                log.warning("mastodon: %s: the answer %.60r is no valid decision, not sent: %s",
                            source, status.get("id"), exc)
        return read

    async def _fetch_source(self, source: str) -> TagResult:
        if account_of(source) is not None:
            return await self.fetch_account(source)
        return await self.fetch_tag(source)

    async def fetch_tag(self, tag: str, *, afresh: bool = False,
                        max_pages: int | None = None) -> TagResult:
        """Statuses of the hashtag newer than its since_id, oldest pages first (only the newest
        page the first time, or `afresh`).

        Pages go forward from since_id (`min_id`: the statuses right after it), at most
        `max_pages` a round: in a burst larger than that the newest statuses wait for the next
        rounds, and none is skipped. (Paging back from the newest with `max_id` instead, the
        statuses between since_id and the last page read were skipped for good: since_id moved
        to the newest.)"""
        since = None if afresh else self.since.get(tag)
        limit = str(self.page_limit)
        max_pages = self.max_pages if max_pages is None else max_pages
        window_full = False  # as many statuses read as a round may read
        if not since:
            page, _ = await self._get_page(self._page_url(tag, {"limit": limit}))
            statuses, pages = list(page), 1
            window_full = len(page) >= self.page_limit
        else:
            statuses, pages, after = [], 0, since
            while True:
                page, _ = await self._get_page(
                    self._page_url(tag, {"limit": limit, "min_id": after}))
                pages += 1
                statuses.extend(page)
                ids = [i for i in (valid_status_id(s.get("id")) for s in page)
                       if i is not None and newer(i, after)]
                if len(page) < self.page_limit or not ids:
                    break
                if pages >= max_pages:
                    window_full = True
                    log.warning("mastodon: %s: %d pages since the last poll; the newer statuses "
                                "are read in the next rounds", self.describe(tag), max_pages)
                    break
                after = max(ids, key=status_key)
        late = await self._read_back(tag, since) if since else []
        if (since and lookback_id(since, LOOKBACK_SECONDS) is None
                and not any(valid_status_id(s.get("id")) for s in statuses)):
            # Nothing after a cursor of a form read without a look-back window (a FlakeId, a
            # number in sequence): a quiet hashtag, or a server of another software that sorts
            # every id of its own below this cursor (GoToSocial comparing strings: "01..."
            # before "A..." or "1...") and would answer nothing for ever. One status below the
            # cursor tells which.
            late = await self._probe_below(tag, since)
        forms = {id_form(i) for i in (valid_status_id(s.get("id")) for s in [*statuses, *late])
                 if i is not None}
        if since and forms and id_form(since) not in forms:
            # The instance answers with ids of another form than its cursor's (another server
            # software at the same address): what it makes of a cursor it does not know is
            # anybody's guess (its oldest statuses, nothing for ever...). Afresh, as for
            # another instance: its newest page, and a cursor of its own form.
            log.warning("mastodon: #%s: the instance's status ids are now of another form (%s) "
                        "than the saved cursor %.60r (%s); starting afresh from the newest page",
                        tag, "/".join(sorted(forms)), since, id_form(since))
            return await self.fetch_tag(tag, afresh=True, max_pages=max_pages)
        above: dict[str, dict[str, Any]] = {}
        bad_ids: list[Any] = []
        recent = self.recent.get(tag, {})
        for s in statuses:
            sid = valid_status_id(s.get("id"))
            if sid is None:
                bad_ids.append(s.get("id"))  # refused by poll_round; never since_id
            elif since is None or newer(sid, since):
                above.setdefault(sid, s)
        # The cursor never moves to an id of the future: Mastodon derives a status's id from
        # its date, so a status dated an hour ahead (a remote clock running fast; accepted up
        # to VEILLE_MAX_FUTURE_SECONDS) would put every status posted until then below the
        # cursor, beyond the look-back, never read. Such a status is read and remembered
        # (`recent`) but the cursor stays at the present (a minute of clock skew allowed). The
        # cursor is chosen among all the ids read above it, remembered or not: one read ahead
        # whose time has come takes it forward as any other.
        ceiling = self.clock() + CURSOR_AHEAD_SECONDS
        current = [i for i in above if not id_after(i, ceiling)]
        newest = max(current, key=status_key) if current else since
        if window_full and above and newest == since:
            log.warning("mastodon: #%s: the %d statuses read after the cursor are all dated more "
                        "than %g s ahead of the clock; the cursor cannot move past them, and "
                        "newer statuses wait until their time comes", tag, len(above),
                        CURSOR_AHEAD_SECONDS)
        # (Above the cursor and read already: a status of an id ahead of the clock, which the
        # cursor did not take; not sent again.)
        unique = {sid: s for sid, s in above.items() if sid not in recent}
        start = lookback_id(since, self.lookback_seconds) if since else None
        for s in late:  # in the window, below the cursor, never read: arrived late
            sid = valid_status_id(s.get("id"))
            # Within the window only: an instance ignoring min_id answers its newest page,
            # whose statuses older than the window are not remembered, and were sent again at
            # every round.
            if (sid is not None and sid not in recent and since and not newer(sid, since)
                    and start is not None and newer(sid, start)):
                unique.setdefault(sid, s)
        return TagResult(tag, list(unique.values()), newest, pages, bad_ids)

    async def _read_back(self, tag: str, since: str) -> list[dict[str, Any]]:
        """The statuses of the look-back window just below `since`, newest first (`max_id`:
        the late ones are mostly seconds or minutes late, right below the cursor), at most
        LOOKBACK_PAGES pages and no further than the window's start; none when ids are no
        snowflakes. A failed request ends it with what was read (logged): the look-back must
        not fail the hashtag's round, whose new statuses are already in hand."""
        start = lookback_id(since, self.lookback_seconds)
        if start is None:
            return []
        out: list[dict[str, Any]] = []
        before = since
        for _ in range(LOOKBACK_PAGES):
            try:
                page, _ = await self._get_page(self._page_url(
                    tag, {"limit": str(self.page_limit), "max_id": before}))
            except FetchError as exc:
                log.info("mastodon: #%s: look-back for late statuses skipped this round: %s",
                         tag, exc)
                break
            out.extend(page)
            ids = [i for i in (valid_status_id(s.get("id")) for s in page)
                   if i is not None and newer(before, i)]
            if len(page) < self.page_limit or not ids:
                break
            before = min(ids, key=status_key)
            if not newer(before, start):  # read down to the window's start
                break
        return out

    async def _probe_below(self, tag: str, since: str) -> list[dict[str, Any]]:
        """The newest status below `since` (`max_id`, one status), only for the form of its id,
        when that id carries a time: a number in sequence below a FlakeId is no other server
        (Pleroma's statuses from before its FlakeIds keep their numbers, older than every
        FlakeId). None when the request fails (logged: the probe must not fail the round)."""
        try:
            page, _ = await self._get_page(self._page_url(tag, {"limit": "1", "max_id": since}))
        except FetchError as exc:
            log.info("mastodon: #%s: the status below the cursor could not be read: %s", tag, exc)
            return []
        return [s for s in page
                if (sid := valid_status_id(s.get("id"))) is not None and id_time_ms(sid) is not None]

    def _remember(self, tag: str, read: list[str], newest: str | None) -> list[str]:
        """Add the ids read this round to the hashtag's look-back memory and forget those below
        the window of `newest`; beyond MAX_RECENT_IDS the smallest (oldest) go first, so those
        above the cursor (read ahead of the clock, not to be sent again) go last. The ids kept,
        oldest first."""
        recent = self.recent.setdefault(tag, {})
        for i in read:
            recent[i] = None
        if newest is not None:
            start = lookback_id(newest, self.lookback_seconds)
            # Without a look-back (ids that are no snowflakes, or none asked) only the ids above
            # the cursor are of use. (With no cursor yet, every id read was ahead of the clock:
            # all are kept, or each round's newest page sent them again.)
            floor = start if start is not None else newest
            for i in [i for i in recent if not newer(i, floor)]:
                del recent[i]
        kept = sorted(recent, key=status_key)[-MAX_RECENT_IDS:]
        self.recent[tag] = dict.fromkeys(kept)
        return kept

    # -- one round ----------------------------------------------------------------------------

    async def poll_round(self) -> RoundResult:
        """Poll every hashtag and brand account once, send the new statuses and the accounts'
        answers in one write, then save each one's since_id."""
        assert self.hashtags is not None, "start() first"
        result, fetched_tags, failed = await self._read_sources(self.sources, self._fetch_source)
        done = [tag_result for _, tag_result in fetched_tags]
        answers: dict[Record, str] = {}  # once each, in the order read -> its source

        now = datetime.now(UTC)
        mentions: dict[str, RawMention] = {}
        first_tag: dict[str, str] = {}  # mention id -> the hashtag it is counted under
        holding: dict[str, dict[str, dict[str, Any]]] = {}  # hashtag -> statuses held after this round
        sending: set[str] = set()  # the hashtags with a status in the batch
        for tag_result in done:
            summary = result.sources[tag_result.tag]
            if account_of(tag_result.tag) is not None:
                # A brand account's statuses are no mentions: its replies are its answers.
                summary.statuses += len(tag_result.statuses)
                holding[tag_result.tag] = {}
                for record in tag_result.answers:
                    answers.setdefault(record, tag_result.tag)
                    sending.add(tag_result.tag)
                continue
            own = self._own_of_tag.get(tag_result.tag.casefold(), frozenset())
            for bad_id in tag_result.bad_ids:
                result.fetched += 1
                summary.statuses += 1
                summary.refused += 1
                result.refused += 1
                self.metrics.fetched.labels(self.name).inc()
                self.metrics.refused.labels(self.name, "invalid_field").inc()
                log.info("mastodon: #%s: status refused: its id %.60r is not a status id (a "
                         "decimal number of at most %d digits, a ULID or a FlakeId)",
                         tag_result.tag, bad_id, MAX_ID_DIGITS)
            held = self.held.get(tag_result.tag, {})
            still_held = holding[tag_result.tag] = {}
            deferred = self._deferred.get(tag_result.tag, set())
            unread = self._deferred[tag_result.tag] = set()
            fetched = {sid: st for sid, st in ((valid_status_id(st.get("id")), st)
                                               for st in tag_result.statuses) if sid is not None}
            # The statuses held back before (dated ahead) are tried again first, so that they
            # keep their place in the hold, then the new ones, oldest first (a full hold keeps
            # the statuses whose time comes first).
            candidates = [*(fetched.get(sid, st) for sid, st in held.items()),
                          *(fetched[sid] for sid in sorted(fetched, key=status_key)
                            if sid not in held)]
            for status in candidates:
                sid = valid_status_id(status.get("id"))
                # (A status held, or left unread, and fetched again is not counted again.)
                if sid not in held and sid not in deferred:
                    result.fetched += 1
                    summary.statuses += 1
                    self.metrics.fetched.labels(self.name).inc()
                visibility = status.get("visibility")
                if visibility not in (None, "public", "unlisted"):
                    self.metrics.refused.labels(self.name, "unsupported").inc()
                    result.refused += 1
                    summary.refused += 1
                    continue
                obj: dict[str, Any] | None = None
                try:
                    obj = status_to_dict(status, instance_host=self.instance_host,
                                         collected_at=now, max_text_chars=self.max_text_chars)
                    if isinstance(obj["author"], str) and obj["author"].casefold() in own:
                        # The brand's own status (one of the accounts of a brand following
                        # the hashtag): no mention of it, read and not sent.
                        log.debug("mastodon: #%s: status %s is the brand's own, not sent",
                                  tag_result.tag, sid)
                        continue
                    mention = mention_from_dict(obj, now=now, limits=self.limits)
                except InvalidMention as exc:
                    if (exc.reason == "created_at_in_future" and sid is not None
                            and obj is not None and not beyond_horizon(obj, now)):
                        # Dated ahead (a remote clock running fast): held back in the state
                        # and sent once its time comes, instead of lost for good.
                        if sid in held or len(still_held) < MAX_HELD:
                            if sid not in held:
                                log.info("mastodon: #%s: status %s held back until its time "
                                         "comes: %s", tag_result.tag, sid, exc)
                            still_held[sid] = held_form(status)
                        else:
                            # The hold is full: left unread (not remembered, and the cursor,
                            # at the present, stays below it): read again in a later round.
                            if sid not in deferred:
                                log.warning("mastodon: #%s: status %s left unread: %d statuses "
                                            "dated ahead are held already; it is read again "
                                            "once they go", tag_result.tag, sid, MAX_HELD)
                            unread.add(sid)
                        continue
                    self.metrics.refused.labels(self.name, exc.reason).inc()
                    result.refused += 1
                    summary.refused += 1
                    log.info("mastodon: #%s: status %s refused: %s",
                             tag_result.tag, status.get("id"), exc)
                    continue
                except Exception as exc:  # a strange status: refuse it alone, keep the others
                    self.metrics.refused.labels(self.name, "processing_error").inc()
                    result.refused += 1
                    summary.refused += 1
                    log.warning("mastodon: #%s: status %s refused, could not be read: %s: %s",
                                tag_result.tag, status.get("id"), type(exc).__name__, exc)
                    continue
                mentions.setdefault(mention.id, mention)  # one per round, whatever the tags
                first_tag.setdefault(mention.id, tag_result.tag)
                sending.add(tag_result.tag)

        if not await self._send_round(result, mentions, first_tag, answers):
            # since_ids stay where they were: the same statuses are fetched and sent again.
            self._count_polls([t.tag for t in done], failed, unsent=sending)
            return result

        for tag_result in done:
            held_now = holding.get(tag_result.tag, {})
            held_before = self.held.get(tag_result.tag, {})
            self.held[tag_result.tag] = held_now
            # What was read: fetched or released from the hold (sent or refused now, also when
            # this round did not fetch it), less what is held or left unread.
            unread = self._deferred.get(tag_result.tag, set())
            read = [i for i in {*(valid_status_id(s.get("id")) for s in tag_result.statuses),
                                *held_before}
                    if i and i not in held_now and i not in unread]
            recent = self._remember(tag_result.tag, read, tag_result.newest)
            account_id = self.account_ids.get(tag_result.tag)
            if (tag_result.newest != self.since.get(tag_result.tag)
                    or read or held_now.keys() != held_before.keys()
                    or account_id != self._saved_ids.get(tag_result.tag)):
                self.since[tag_result.tag] = tag_result.newest
                named = ({"hashtag": tag_result.tag} if account_id is None else
                         {"account": account_of(tag_result.tag), "account_id": account_id})
                try:
                    self.store.save(self._state_key(tag_result.tag), {
                        "version": STATE_VERSION, "instance": self.base_url,
                        **named, "since_id": tag_result.newest,
                        "recent_ids": recent, "held": held_now, "saved_at": iso(now),
                    })
                    if account_id is not None:
                        self._saved_ids[tag_result.tag] = account_id
                except OSError as exc:
                    log.error("mastodon: %s: could not save state: %s",
                              self.describe(tag_result.tag), exc)
        self._count_polls([t.tag for t in done], failed, unsent=set())
        return self._end_round(result, bool(done))


async def run_mastodon(settings: Settings, *, once: bool = False,
                       collector: MastodonCollector | None = None) -> list[str]:
    """Serve /metrics and poll the hashtags and brand accounts until SIGTERM/SIGINT, or one round
    with `once=True`.

    With `once`, raises BrokerUnavailable when the broker did not take the round's statuses,
    and MastodonRoundFailed when every hashtag and account failed; else returns those that
    failed (the others' statuses are sent), each as "#tag: error" or "@user@instance: error"
    (polling.run_polling).
    """
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = MastodonCollector(settings, CollectorMetrics(CollectorRegistry()))
    return await run_polling(collector, once=once, round_failed=MastodonRoundFailed)



def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.mastodon` is `veille collect mastodon`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "mastodon", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
