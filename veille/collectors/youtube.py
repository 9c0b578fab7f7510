"""YouTube collector: the comments posted on each brand's own YouTube channels (the watch list's
`youtube_channels`), sent as that brand's (RawMention.brands), whether they name it or not.

Built on the YouTube Data API v3 documentation (no account: an API key), not on a live API:

* **Read.** `GET {VEILLE_YOUTUBE_API_URL}/commentThreads?part=snippet,replies&` +
  `allThreadsRelatedToChannelId=<channel>&order=time&maxResults=100&textFormat=plainText&key=<key>`
  answers `{"kind": "youtube#commentThreadListResponse", "nextPageToken", "items": [thread]}`,
  newest first; the next page is asked with `pageToken=<nextPageToken>`. A thread is
  `{"id", "snippet": {"channelId", "videoId", "topLevelComment": comment, "totalReplyCount"},
  "replies": {"comments": [comment]}}`, a comment `{"id", "snippet": {"textDisplay",
  "textOriginal", "authorDisplayName", "authorChannelId": {"value"}, "videoId", "likeCount",
  "publishedAt", "updatedAt"}}`. A page costs one unit of the key's daily quota (10,000 by
  default).
* **Replies.** Only those the thread gives inline (`replies.comments`: some, not necessarily
  all); asking each thread's others (`comments.list?parentId=`) would cost a unit a thread, a
  hundred times a page's: not done.
* **Errors.** `{"error": {"code", "message", "errors": [{"reason"}]}}`: quotaExceeded (and
  dailyLimitExceeded) stop every request until the quota's reset, midnight Pacific time (plus a
  minute); rateLimitExceeded (and userRateLimitExceeded) for Retry-After, else RATE_LIMIT_PAUSE;
  both `rate_limited`. keyInvalid, keyExpired, forbidden, accessNotConfigured,
  ipRefererBlocked (or a 400/401 saying the key is not valid) are the key refused: every channel
  of the round fails at once as `unauthorized`, `--once` exits 2 naming VEILLE_YOUTUBE_API_KEY.
  commentsDisabled, channelNotFound (or a 404) fail that channel alone (`channel`).
* **The key.** It is a query parameter: every message that could show a URL is cleared of it, and
  the collector's log shows no request URL.

Each comment (a thread's top-level one and its inline replies) becomes a RawMention: id
`youtube-<comment id>`, source and platform `youtube`, text its textDisplay (plain text; else
textOriginal), author its authorDisplayName (else its channel id; none when it looks like an
address), url `https://www.youtube.com/watch?v=<videoId>&lc=<comment id>`, created_at its
publishedAt, audience `likes` its likeCount and, for a top-level comment, `replies` the
thread's totalReplyCount, brands the channel's brand. One that breaks this mapping or the record
contract is refused alone (logged, counted). The brand's own comments (posted from one of its
`youtube_channels`: its answers to its public) are read but not sent as mentions: they are no
mentions of it, and would count in its volume and its moderation queue.

A new reply of the brand is sent instead as its answer (answer_of): a `replied` decision on
moderation.decisions for the case of the comment it answers (case id that comment's mention id,
`answered_on` youtube, decided_at the reply's publishedAt, moderator its author as shown above,
reason its URL), so that the moderation agent closes the case of a complaint the community
managers answered on YouTube rather than in veille. The comment answered (answered): when the
reply starts with `@handle` (YouTube's prefix to a reply to a reply), the latest earlier comment
of the thread by that handle, not the brand's; else the top-level comment, unless the brand's
own. The whole thread as the page gives it is searched (Comment.siblings): the comment answered
may have been read, and sent, in an earlier round. Only the inline replies are seen (above).
The answers go in the round's write with its mentions (MentionSink.send's `records`).

The cursor of a channel is the newest publishedAt read; each round reads its newest page, then the
next ones while they hold comments not read yet above the cursor less LOOKBACK_SECONDS (a comment
held for review by the channel's moderation shows up late, under its first time), at most
`max_pages`; the first round of a channel reads its newest page only. The comment ids read in the
look-back window are remembered so that none is sent twice; the state is saved in
`VEILLE_COLLECTOR_STATE_DIR/youtube/` only after the broker acknowledged the round's batch, its
answers included (searches.CursorCollector, as the Reddit collector's).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Container
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as daytime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
from veille.collectors.polling import SourceFetchError, run_polling
from veille.collectors.rss import FetchError, retry_after, truncate
from veille.collectors.searches import AccountsOf, CursorCollector, Page, Query, number
from veille.metrics import CollectorMetrics, YoutubeBrandMetrics
from veille.rules import YOUTUBE_CHANNEL, Watchlist
from veille.settings import Settings
from veille.terminal import printable

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # commentThreads.list's maximum maxResults
THREADS_PATH = "/commentThreads"
#: The default daily quota of an API key's project, in units (a page of commentThreads: 1).
DAILY_QUOTA = 10_000
#: Each round reads again down to this far below the cursor (comments held for review, then
#: published under their first time).
LOOKBACK_SECONDS = 6 * 3600.0
#: Seconds without a request after a rateLimitExceeded without Retry-After.
RATE_LIMIT_PAUSE = 60.0
#: The daily quota resets at midnight in this zone (the API's documentation).
QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
MAX_CHANNELS = 500  # channels a round at the most (a label per brand, a unit a page each)
#: Pages of a channel a round reads at the most (the quota warning counts them).
MAX_PAGES = 5
#: A comment's id (a reply's is `<thread id>.<its own>`).
_COMMENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_PAGE_TOKEN = re.compile(r"[A-Za-z0-9_=-]{1,1024}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_AUTHOR_CHARS = 200
#: Reasons of a YouTube error answer, by what they mean here.
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "forbidden", "accessNotConfigured",
                         "ipRefererBlocked", "API_KEY_INVALID", "API_KEY_EXPIRED"})
CHANNEL_REASONS = frozenset({"commentsDisabled", "channelNotFound"})
#: The `@handle` YouTube puts first in a reply to a reply: whom it answers.
_HANDLE = re.compile(r"@[\w.·-]{1,100}")


class YoutubeConfigError(ValueError):
    """The YouTube collector cannot start: a bad URL, interval or API key, or no channel."""


class YoutubeRoundFailed(YoutubeConfigError):
    """`--once`: every channel failed (a YoutubeConfigError: `veille: error: ...`, exit 2)."""


# -- pure parsing --------------------------------------------------------------------------------


def channels_of(watchlist: Watchlist) -> list[Query]:
    """One source per channel of each brand's `youtube_channels` (the watch list refuses a
    channel given to two brands), in the watch list's order."""
    return [Query(brand.id, channel) for brand in watchlist.brands
            for channel in brand.youtube_channels]


def quota_use(channels: int, interval: float, max_pages: int) -> tuple[int, int]:
    """Units of quota a day: at the least (one page a channel a round), and at the most
    (`max_pages` each)."""
    rounds = -(-86400 // max(int(interval), 1))  # rounds a day, rounded up
    return channels * rounds, channels * rounds * max_pages


def quota_warning(channels: int, interval: float, max_pages: int,
                  quota: int = DAILY_QUOTA) -> str | None:
    """What to warn about at start when `channels` read every `interval` seconds, at most
    `max_pages` pages each, may spend more than the daily `quota`; None when they cannot."""
    least, most = quota_use(channels, interval, max_pages)
    if most <= quota:
        return None
    need = -(-86400 * channels // quota)  # seconds between rounds for one page each
    need_most = -(-86400 * channels * max_pages // quota)
    what = (f"at least {least:,} units a day (one page a channel a round)" if least > quota
            else f"up to {most:,} units a day on a busy day ({max_pages} pages a channel a round)")
    return (f"youtube: {channels} channel(s) read every {interval:g} s spend {what}, more than "
            f"the API key's {quota:,}: once spent, no channel is read until midnight Pacific "
            f"time; set VEILLE_YOUTUBE_INTERVAL_SECONDS to {need_most} or more ({need} at the "
            "least), or ask Google for more quota")


def error_reason(data: Any) -> str | None:
    """The first `reason` of a YouTube error answer (or of its `details`' ErrorInfo), None."""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("errors", "details"):
        items = error.get(key)
        for item in items if isinstance(items, list) else []:
            reason = item.get("reason") if isinstance(item, dict) else None
            if isinstance(reason, str) and reason:
                return reason[:80]
    return None


def classify(status: int, data: Any) -> str:
    """An error answer's meaning: `quota` (the day's quota spent), `rate_limited`,
    `unauthorized` (the key refused), `channel` (that channel refused: comments disabled, not
    found) or `fetch` (anything else)."""
    reason = error_reason(data)
    if reason in QUOTA_REASONS:
        return "quota"
    if reason in RATE_REASONS or status == 429:
        return "rate_limited"
    if reason in KEY_REASONS:
        return "unauthorized"
    if reason in CHANNEL_REASONS:
        return "channel"
    message = data.get("error", {}).get("message") if isinstance(data, dict) else None
    if (status in (400, 401) and isinstance(message, str) and "api key" in message.lower()
            or status == 401):
        return "unauthorized"
    if status == 404:
        return "channel"
    return "fetch"


def until_quota_reset(now: datetime) -> float:
    """Seconds from `now` to the next midnight Pacific time (when the daily quota resets), plus
    a minute (the two clocks may differ a little)."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), daytime(0), tzinfo=QUOTA_ZONE)
    return (midnight - now).total_seconds() + 60.0


@dataclass(frozen=True)
class Comment:
    """One comment of a thread, as a page's item: the comment resource, the thread's snippet
    (its videoId, totalReplyCount), whether it is the top-level one, and the thread's comments
    as the page gives them (what a brand's reply answers may have been read in an earlier
    round: the round's new items no longer hold it)."""

    comment: Any
    thread: Any
    top: bool
    siblings: tuple[Comment, ...] = field(default=(), compare=False, repr=False)


def comments_of(thread: Any) -> list[Comment]:
    """A thread's comments: its top-level one, then the replies it gives inline, each with them
    all as its siblings. Anything that is no thread is one Comment refused by comment_to_dict."""
    snippet = thread.get("snippet") if isinstance(thread, dict) else None
    if not isinstance(snippet, dict):
        return [Comment(None, thread, True)]
    out = [Comment(snippet.get("topLevelComment"), snippet, True)]
    replies = thread.get("replies")
    items = replies.get("comments") if isinstance(replies, dict) else None
    if isinstance(items, list):
        out += [Comment(reply, snippet, False) for reply in items[:PAGE_LIMIT]]
    whole = tuple(out)
    return [replace(item, siblings=whole) for item in out]


def comment_id(item: Any) -> str | None:
    """A Comment's comment id, None when it has none valid."""
    comment = item.comment if isinstance(item, Comment) else None
    ident = comment.get("id") if isinstance(comment, dict) else None
    return ident if isinstance(ident, str) and _COMMENT_ID.fullmatch(ident) else None


def _snippet(item: Any) -> dict[str, Any]:
    """A Comment's comment's snippet, {} when it has none."""
    comment = item.comment if isinstance(item, Comment) else None
    snippet = comment.get("snippet") if isinstance(comment, dict) else None
    return snippet if isinstance(snippet, dict) else {}


def published(item: Any) -> float | None:
    """A Comment's publishedAt (Unix seconds), None when it has none valid."""
    when = _snippet(item).get("publishedAt")
    if not isinstance(when, str) or len(when) > 64:
        return None
    try:
        stamp = datetime.fromisoformat(when.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo is not None else None


def _author(snippet: dict[str, Any]) -> str | None:
    """The author as shown to moderators: the display name (a handle, `@name`), else the
    author's channel id; none when it is missing or looks like an address."""
    name = snippet.get("authorDisplayName")
    if isinstance(name, str):
        name = " ".join(_CONTROL.sub("", name).split())[:MAX_AUTHOR_CHARS]
        if name and "://" not in name and not name.lower().startswith("www.") \
                and not is_web_address(name):
            return name
    channel = snippet.get("authorChannelId")
    value = channel.get("value") if isinstance(channel, dict) else None
    return value if isinstance(value, str) and YOUTUBE_CHANNEL.fullmatch(value) else None


def author_channel(item: Any) -> str | None:
    """The channel id a Comment was posted from (its authorChannelId), None when it has none."""
    channel = _snippet(item).get("authorChannelId")
    value = channel.get("value") if isinstance(channel, dict) else None
    return value if isinstance(value, str) else None


def mention_id(ident: str) -> str:
    """The raw mention id of a comment (and the case id of its moderation case)."""
    return "youtube-" + ident


def _text(snippet: dict[str, Any]) -> str | None:
    """A comment's text as given: its textDisplay (plain text), else its textOriginal; None when
    both are blank."""
    texts = [t for t in (snippet.get("textDisplay"), snippet.get("textOriginal"))
             if isinstance(t, str) and t.strip()]
    return texts[0] if texts else None


def comment_url(item: Comment) -> str | None:
    """`https://www.youtube.com/watch?v=<videoId>&lc=<comment id>` (the video of the comment,
    else of its thread), None without a valid video and id or when too long for the contract."""
    ident, video = comment_id(item), _snippet(item).get("videoId")
    if not isinstance(video, str):
        thread = item.thread if isinstance(item.thread, dict) else {}
        video = thread.get("videoId")
    if ident is None or not isinstance(video, str) or not _VIDEO_ID.fullmatch(video):
        return None
    url = f"https://www.youtube.com/watch?v={video}&lc={ident}"
    return url if len(url) <= MAX_SHORT_FIELD_CHARS else None


def _is_own(item: Comment, own: Container[str]) -> bool:
    """Whether a comment was posted from one of `own`, the brand's channels."""
    return author_channel(item) in own


def answered(reply: Comment, own: Container[str]) -> Comment | None:
    """The comment of its thread that `reply`, a brand's reply, answers: when its text starts
    with `@handle` (YouTube's prefix to a reply to a reply), the latest comment of the thread
    published before it whose author is that handle (case ignored), not the brand's own; else
    the thread's top-level comment, unless it is the brand's own. None when there is none: a
    handle whose comment the thread does not show (only the replies given inline are seen) answers
    none rather than the top-level one, whose case it would close wrongly."""
    if reply.top or not reply.siblings:
        return None
    handle = _HANDLE.match((_text(_snippet(reply)) or "").lstrip())
    if handle is None:
        top = reply.siblings[0]
        return None if _is_own(top, own) else top
    name, when = handle.group().rstrip(".").casefold(), published(reply)
    earlier = [(at, item) for item in reply.siblings
               if (at := published(item)) is not None and when is not None and at < when
               and not _is_own(item, own)
               and (_author(_snippet(item)) or "").casefold() == name]
    return max(earlier, key=lambda pair: pair[0])[1] if earlier else None


def answer_of(item: Comment, own: Container[str]) -> dict[str, Any] | None:
    """The `replied` decision (moderation.decisions) a comment is when the brand posted it from
    one of `own`, its channels, as a reply to another's comment (answered): keyed by that
    comment's case id, by the account that answered as the collector shows authors, at the
    reply's time, with its link, `answered_on` youtube. None for any other comment."""
    if not _is_own(item, own):
        return None
    ident, reply = comment_id(answered(item, own)), comment_id(item)
    when, moderator = published(item), _author(_snippet(item))
    # A reply without an id would be new at every round (CursorCollector): sent again and again.
    if ident is None or reply is None or when is None or moderator is None:
        return None
    return answer(mention_id(ident), by=moderator, at=when, platform="youtube",
                  reason=comment_url(item) or f"answered on YouTube (comment {reply})")


def _count(value: Any) -> int | None:
    """A non-negative whole number (the API gives likeCount as a number; a string of digits
    too), else None."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    got = number(value)
    return int(got) if got is not None and got >= 0 and got.is_integer() else None


def comment_to_dict(item: Comment, brand: str, *, collected_at: datetime,
                    max_text_chars: int) -> dict[str, Any]:
    """A Comment as a RawMention dict of `brand` (validated afterwards by mention_from_dict), or
    InvalidMention when it is no comment."""
    comment = item.comment
    if not isinstance(comment, dict):
        raise InvalidMention("not_an_object", "the thread holds no comment object"
                             if item.top else "a reply is no comment object")
    ident = comment_id(item)
    if ident is None:
        raise InvalidMention("missing_field" if comment.get("id") is None else "invalid_field",
                             "the comment has no id", "id")
    snippet = comment.get("snippet")
    if not isinstance(snippet, dict):
        raise InvalidMention("missing_field", "the comment has no snippet", "snippet")
    given = _text(snippet)
    text = truncate(_CONTROL.sub("", given).strip(), max_text_chars) or None if given else None
    created: Any = snippet.get("publishedAt")
    if not isinstance(created, str):
        created = None if created is None else str(created)  # the contract says why
    audience: dict[str, int] = {}
    likes = _count(snippet.get("likeCount"))
    if likes is not None:
        audience["likes"] = likes
    if item.top and isinstance(item.thread, dict):
        replies = _count(item.thread.get("totalReplyCount"))
        if replies is not None:
            audience["replies"] = replies
    return {
        "id": mention_id(ident),
        "source": "youtube",
        "platform": "youtube",
        "author": _author(snippet),
        "text": text,
        "url": comment_url(item),
        "created_at": created,
        "language": None,
        "audience": audience or None,
        "collected_at": iso(collected_at),
        "brands": [brand],
    }


# -- the collector -------------------------------------------------------------------------------


class YoutubeCollector(CursorCollector):
    """Reads the comments on the watch list's brands' own YouTube channels."""

    name = "youtube"
    platform = "YouTube"
    config_error = YoutubeConfigError
    max_queries = MAX_CHANNELS
    brand_metrics = YoutubeBrandMetrics
    interval_setting = "youtube_interval_seconds"
    source_noun = "channel"
    item_noun = "comments"
    item_name = "comment"
    state_field = "channel"
    key_pattern = _COMMENT_ID
    # YouTube sends no rate-limit headers: its errors say when the quota is spent.
    remaining_header = None

    def __init__(self, settings: Settings, metrics: CollectorMetrics,
                 sink: MentionSink | None = None, *, queries: list[Query] | None = None,
                 page_limit: int = PAGE_LIMIT, max_pages: int = MAX_PAGES,
                 lookback_seconds: float = LOOKBACK_SECONDS, **options: Any) -> None:
        """`queries`: (brand, channel id) pairs (tests), else the watch list's channels;
        `options`: PollingCollector's (interval, request_timeout...)."""
        super().__init__(settings, metrics, sink, queries=queries, max_pages=max_pages,
                         lookback_seconds=lookback_seconds, **options)
        self.page_limit = page_limit
        self.api_base = settings.youtube_api_url.strip().rstrip("/")
        #: The round whose key was refused, and why: the round's other channels fail at once.
        self._refused: tuple[int, str] | None = None
        self.warned_quota: str | None = None

    # -- the channels (the sources) -------------------------------------------------------------

    @classmethod
    def queries_of(cls, watchlist: Watchlist) -> list[Query]:
        return channels_of(watchlist)

    @classmethod
    def check_queries(cls, queries: list[Query], path: Path, interval: float | None = None) -> None:
        """YoutubeConfigError when the watch list gives no channel, or more than MAX_CHANNELS."""
        if not queries:
            raise YoutubeConfigError(f"{path}: no brand has youtube_channels: no channel to read")
        if len(queries) > MAX_CHANNELS:
            raise YoutubeConfigError(f"{path}: {len(queries)} YouTube channels, at most "
                                     f"{MAX_CHANNELS}")

    # -- life cycle -----------------------------------------------------------------------------

    def check_config(self) -> None:
        """The URL, the key and the interval, or YoutubeConfigError (before anything runs)."""
        hint = "give the API key in VEILLE_YOUTUBE_API_KEY"
        self.api_base = polling.check_base_url(
            self.settings.youtube_api_url, name="VEILLE_YOUTUBE_API_URL", error=YoutubeConfigError,
            example="https://www.googleapis.com/youtube/v3",
            empty_hint="set it to the YouTube Data API v3", credentials_hint=hint,
            api_path="/commentThreads/")
        key = self.settings.youtube_api_key.strip()
        if not key:
            raise YoutubeConfigError(
                "VEILLE_YOUTUBE_API_KEY is empty: the YouTube collector reads with an API key (a "
                "Google Cloud project with the YouTube Data API v3 enabled, APIs & Services > "
                "Credentials)")
        if not re.fullmatch(r"[!-~]{1,512}", key) or "&" in key or "#" in key:
            raise YoutubeConfigError("VEILLE_YOUTUBE_API_KEY is not an API key (printable "
                                     "ASCII without spaces)")
        if polling.sends_secret_in_clear(self.api_base):
            raise YoutubeConfigError(
                f"VEILLE_YOUTUBE_API_URL={printable(self.api_base)[:200]} is http:// to another "
                "machine: the API key would go in clear; use https://")
        self._check_interval(YoutubeConfigError, "a page costs a unit of the key's daily "
                                                  f"quota, {DAILY_QUOTA:,} by default")

    async def start(self) -> None:
        await super().start()
        assert self.queries is not None
        self.warned_quota = quota_warning(len(self.queries), self.interval, self.max_pages)
        if self.warned_quota:
            self.log.warning("%s", self.warned_quota)

    # -- HTTP -----------------------------------------------------------------------------------

    def _clear(self, text: str) -> str:
        """`text` without the API key (an error naming a URL)."""
        key = self.settings.youtube_api_key.strip()
        return text.replace(key, "<VEILLE_YOUTUBE_API_KEY>") if key else text

    async def fetch_page(self, source: str, after: Any) -> Page:
        """A page of comment threads of channel `source` (`after`: the nextPageToken of the page
        before), as Comments; and the next page's token."""
        if self._refused is not None and self._refused[0] == self.rounds:
            raise SourceFetchError(self._refused[1], kind="unauthorized")
        params = {"part": "snippet,replies", "allThreadsRelatedToChannelId": source,
                  "order": "time", "maxResults": str(self.page_limit),
                  "textFormat": "plainText", "key": self.settings.youtube_api_key.strip()}
        if after is not None:
            params["pageToken"] = after
        url = URL(self.api_base + THREADS_PATH).with_query(params)
        try:
            answer = await self._request(url)
        except SourceFetchError as exc:
            if self._clear(str(exc)) == str(exc):
                raise
            raise SourceFetchError(self._clear(str(exc)), exc.retry_after, kind=exc.kind) from None
        except FetchError as exc:
            raise FetchError(self._clear(str(exc)), exc.retry_after) from None
        if answer.status >= 400:
            self._fail(answer.status, answer.data, answer.headers)
        data = answer.data
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise FetchError("the answer is no list of comment threads (no items)")
        if len(items) > self.page_limit:
            raise FetchError(f"{len(items)} threads in a page, more than the {self.page_limit} "
                             "asked: not a commentThreads answer")
        assert isinstance(data, dict)
        token = data.get("nextPageToken")
        comments = [c for thread in items for c in comments_of(thread)]
        return comments, token if isinstance(token, str) and _PAGE_TOKEN.fullmatch(token) else None

    def _fail(self, status: int, data: Any, headers: Any) -> None:
        """Raise the failure an error answer means (classify)."""
        kind = classify(status, data)
        reason = error_reason(data)
        why = f"HTTP {status}" + (f" {printable(reason)}" if reason else "")
        if kind == "quota":
            wait = until_quota_reset(datetime.now(UTC))
            self._blocked_until = max(self._blocked_until, self.monotonic() + wait)
            raise SourceFetchError(f"{why}: the API key's daily quota is spent; no request until "
                                   f"midnight Pacific time (in {wait / 3600:.1f} h)",
                                   retry_after=wait, kind="rate_limited")
        if kind == "rate_limited":
            asked = retry_after(headers)
            wait = RATE_LIMIT_PAUSE if asked is None or not asked >= 0 else asked
            self._block_for(wait)
            raise SourceFetchError(f"{why}: rate limited; no request for {wait:.0f} s",
                                   retry_after=wait, kind="rate_limited")
        if kind == "unauthorized":
            message = (f"YouTube refused the API key ({why}): check VEILLE_YOUTUBE_API_KEY (a key "
                       "of a project with the YouTube Data API v3 enabled, not restricted to "
                       "other APIs or addresses)")
            self._refused = (self.rounds, message)
            raise SourceFetchError(message, kind="unauthorized")
        if kind == "channel":
            raise SourceFetchError(f"{why}: YouTube refused this channel's comments (disabled, "
                                   "or no such channel)", kind="channel")
        raise FetchError(why, retry_after(headers))

    @staticmethod
    def item_key(item: Any) -> str | None:
        return comment_id(item)

    @staticmethod
    def item_time(item: Any) -> float | None:
        return published(item)

    def _own(self, source: str) -> AccountsOf:
        """The channels of the brand whose channel `source` is: its comments from any of them
        are its own."""
        return AccountsOf(self._brand_of.get(source), self._brand_of, fold=False)  # ids: exact

    def keep(self, source: str, item: Any) -> bool:
        """Not the brand's own comments (posted from one of its channels: its answers to its
        public, which are no mentions of it and would count in its volume and queue)."""
        return not _is_own(item, self._own(source))

    def answer_decision(self, source: str, item: Any) -> dict[str, Any] | None:
        """A brand's reply as its `replied` decision (answer_of)."""
        return answer_of(item, self._own(source))

    def item_dict(self, source: str, item: Any, now: datetime) -> dict[str, Any]:
        return comment_to_dict(item, self._brand_of.get(source, "?"), collected_at=now,
                               max_text_chars=self.max_text_chars)


async def run_youtube(settings: Settings, *, once: bool = False,
                      collector: YoutubeCollector | None = None) -> list[str]:
    """Serve /metrics and read the channels until SIGTERM/SIGINT, or one round with `once=True`
    (polling.run_polling: BrokerUnavailable, YoutubeRoundFailed when every channel failed, else
    the channels that failed as "channel: error")."""
    from prometheus_client import CollectorRegistry

    if collector is None:
        collector = YoutubeCollector(settings, CollectorMetrics(CollectorRegistry()))
    return await run_polling(collector, once=once, round_failed=YoutubeRoundFailed)


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.youtube` is `veille collect youtube`."""
    from veille.cli import main as cli

    return cli(["collect", "youtube", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
