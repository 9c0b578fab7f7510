"""The YouTube collector's pure parts: a comment thread as raw mentions, refusals, the watch
list's youtube_channels, the quota arithmetic, the error answers' meaning."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streams.records import InvalidMention, mention_from_dict
from veille.collectors.youtube import (
    answer_of,
    classify,
    comment_to_dict,
    comments_of,
    quota_use,
    quota_warning,
    until_quota_reset,
)
from veille.rules import Watchlist, WatchlistError

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
CHANNEL = "UC" + "a1B2c3D4e5F6g7H8i9J0k_"  # 24 characters


def comment(ident: str, text: str, at: str, *, author: str = "@jules", likes: Any = 3,
            video: str = "dQw4w9WgXcQ", **extra: Any) -> dict[str, Any]:
    """A `comment` resource as commentThreads.list gives it (textFormat=plainText)."""
    return {"kind": "youtube#comment", "etag": "e", "id": ident, "snippet": {
        "channelId": CHANNEL, "videoId": video, "textDisplay": text, "textOriginal": text,
        "authorDisplayName": author, "authorChannelId": {"value": "UC" + "z" * 22},
        "authorProfileImageUrl": "https://yt3.ggpht.com/x", "canRate": True,
        "viewerRating": "none", "likeCount": likes, "publishedAt": at, "updatedAt": at, **extra}}


def thread(top: dict[str, Any], replies: list[dict[str, Any]] = (), total: int | None = None
           ) -> dict[str, Any]:  # type: ignore[assignment]
    out: dict[str, Any] = {"kind": "youtube#commentThread", "etag": "t", "id": top["id"],
                           "snippet": {"channelId": CHANNEL, "videoId": "dQw4w9WgXcQ",
                                       "topLevelComment": top, "canReply": True, "isPublic": True,
                                       "totalReplyCount": len(replies) if total is None else total}}
    if replies:
        out["replies"] = {"comments": list(replies)}
    return out


def mentions(th: dict[str, Any], brand: str = "acme") -> list[Any]:
    return [mention_from_dict(comment_to_dict(c, brand, collected_at=NOW, max_text_chars=5000),
                              now=NOW) for c in comments_of(th)]


def test_a_thread_is_its_top_level_comment_and_its_inline_replies_each_of_the_brand() -> None:
    th = thread(comment("Ugx1", "the sound cuts out after the update, fix it",
                        "2026-12-07T08:00:00Z", likes=7),
                [comment("Ugx1.r1", "same here", "2026-12-07T08:10:00Z", author="@marie", likes=0),
                 comment("Ugx1.r2", "+1", "2026-12-07T08:20:00Z")], total=5)
    top, r1, r2 = mentions(th)
    assert (top.id, top.source, top.platform, top.brands) == ("youtube-Ugx1", "youtube", "youtube",
                                                               ("acme",))
    assert top.text == "the sound cuts out after the update, fix it" and top.author == "@jules"
    assert top.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=Ugx1"
    assert top.created_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert top.audience == {"likes": 7, "replies": 5}  # the thread's count, not the inline two
    assert (r1.id, r1.author, r1.audience, r1.brands) == ("youtube-Ugx1.r1", "@marie", {"likes": 0},
                                                          ("acme",))
    assert r1.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=Ugx1.r1"
    assert r2.created_at == datetime(2026, 12, 7, 8, 20, tzinfo=UTC)
    assert top.to_dict()["brands"] == ["acme"]


def test_the_author_is_the_display_name_else_the_channel_id_never_an_address() -> None:
    named = mentions(thread(comment("A1", "hi", "2026-12-07T08:00:00Z", author="  Jules\x07 D ")))
    assert named[0].author == "Jules D"
    for bad in ("https://evil.example/x", "www.evil.example", ""):
        [m] = mentions(thread(comment("A2", "hi", "2026-12-07T08:00:00Z", author=bad)))
        assert m.author == "UC" + "z" * 22, bad


@pytest.mark.parametrize(("broken", "reason"), [
    ({"id": None}, "missing_field"),
    ({"id": "bad id with spaces"}, "invalid_field"),
    ({"snippet": None}, "missing_field"),
    ({"snippet": {"textDisplay": "no time", "videoId": "dQw4w9WgXcQ"}}, "missing_field"),
    ({"snippet": {"textDisplay": "x", "publishedAt": "yesterday"}}, "invalid_field"),
    ({"snippet": {"textDisplay": "", "textOriginal": " ", "publishedAt": "2026-12-07T08:00:00Z"}},
     "missing_field"),
])
def test_a_comment_breaking_the_mapping_or_the_contract_is_refused_with_its_reason(
        broken: dict[str, Any], reason: str) -> None:
    bad = {**comment("B1", "fine", "2026-12-07T08:00:00Z"), **broken}
    th = thread(comment("B0", "the good one", "2026-12-07T08:00:00Z"), [bad])
    good, refused = comments_of(th)
    assert mention_from_dict(comment_to_dict(good, "acme", collected_at=NOW, max_text_chars=99),
                             now=NOW).id == "youtube-B0"
    with pytest.raises(InvalidMention) as exc:
        mention_from_dict(comment_to_dict(refused, "acme", collected_at=NOW, max_text_chars=99),
                          now=NOW)
    assert exc.value.reason == reason


def test_something_that_is_no_thread_is_one_refusal() -> None:
    for odd in ("a string", {"snippet": "no object"}, {"snippet": {"topLevelComment": 3}}):
        [item] = comments_of(odd)
        with pytest.raises(InvalidMention):
            comment_to_dict(item, "acme", collected_at=NOW, max_text_chars=99)


def test_a_brand_lists_its_youtube_channels_checked_at_load() -> None:
    other = "UC" + "-" * 21 + "_"
    wl = Watchlist.from_dict({"brands": [{"id": "acme", "youtube_channels": [CHANNEL, other]},
                                         {"id": "boreal"}]})
    assert [b.youtube_channels for b in wl.brands] == [(CHANNEL, other), ()]


@pytest.mark.parametrize("value", ["@acme", "UC123", "UC" + "a" * 23, "https://www.youtube.com/channel/"
                                   + CHANNEL, "uc" + "a" * 22, "UC" + "a" * 21 + "\n", 42])
def test_a_youtube_channel_that_is_no_channel_id_is_refused_naming_the_brand_and_value(value: Any) -> None:
    with pytest.raises(WatchlistError) as exc:
        Watchlist.from_dict({"brands": [{"id": "acme", "youtube_channels": [value]}]})
    assert "acme.youtube_channels" in str(exc.value) and repr(value)[:40] in str(exc.value)
    with pytest.raises(WatchlistError, match="acme.youtube_channels must be a list"):
        Watchlist.from_dict({"brands": [{"id": "acme", "youtube_channels": CHANNEL}]})


def test_a_channel_given_to_two_brands_or_twice_is_refused() -> None:
    with pytest.raises(WatchlistError, match=f"boreal.youtube_channels: {CHANNEL} is also acme's"):
        Watchlist.from_dict({"brands": [{"id": "acme", "youtube_channels": [CHANNEL]},
                                        {"id": "boreal", "youtube_channels": [CHANNEL]}]})
    with pytest.raises(WatchlistError, match="listed twice"):
        Watchlist.from_dict({"brands": [{"id": "acme", "youtube_channels": [CHANNEL, CHANNEL]}]})


def test_the_quota_arithmetic_warns_when_a_day_may_spend_more_than_the_key_has() -> None:
    # Every 300 s: 288 rounds a day; 5 pages a channel at most.
    assert quota_use(1, 300, 5) == (288, 1440)
    assert quota_warning(6, 300, 5) is None  # 8,640 units at worst
    busy = quota_warning(7, 300, 5)  # 10,080 at worst, 2,016 at least
    assert busy is not None and "up to 10,080 units a day" in busy and "10,000" in busy
    assert "VEILLE_YOUTUBE_INTERVAL_SECONDS to 303" in busy
    always = quota_warning(40, 300, 5)  # 11,520 even at a page a channel
    assert always is not None and "at least 11,520 units a day" in always


def test_the_daily_quota_resets_at_midnight_pacific_time() -> None:
    # 09:00 UTC on 7 December is 01:00 PST: the reset is 23 h away (and a minute's margin).
    assert until_quota_reset(NOW) == 23 * 3600 + 60
    # In July (PDT, UTC-7), 06:30 UTC is 23:30 the day before: half an hour.
    assert until_quota_reset(datetime(2026, 7, 1, 6, 30, tzinfo=UTC)) == 1800 + 60


def error(code: int, reason: str, message: str = "m") -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}]}}


@pytest.mark.parametrize(("status", "body", "kind"), [
    (403, error(403, "quotaExceeded"), "quota"),
    (403, error(403, "dailyLimitExceeded"), "quota"),
    (403, error(403, "rateLimitExceeded"), "rate_limited"),
    (429, None, "rate_limited"),
    (400, error(400, "keyInvalid"), "unauthorized"),
    (403, error(403, "forbidden"), "unauthorized"),
    (400, error(400, "badRequest", "API key not valid. Please pass a valid API key."), "unauthorized"),
    (403, error(403, "commentsDisabled"), "channel"),
    (404, error(404, "channelNotFound"), "channel"),
    (404, None, "channel"),
    (500, error(500, "backendError"), "fetch"),
    (503, "<html>", "fetch"),
])
def test_error_answers_are_classified_by_their_reason(status: int, body: Any, kind: str) -> None:
    assert classify(status, body) == kind


# -- the brand's replies: answers on moderation.decisions ------------------------------------------

BRAND = "UC" + "b" * 22  # the brand's channel (the thread's CHANNEL is another of its own)
OWN = frozenset({BRAND, CHANNEL})


def by(ident: str, text: str, at: str, author: str, channel: str) -> dict[str, Any]:
    """A comment posted from `channel` by `author` (a display name)."""
    out = comment(ident, text, at, author=author)
    out["snippet"]["authorChannelId"] = {"value": channel}
    return out


def answers(th: dict[str, Any], own: frozenset[str] = OWN) -> list[dict[str, Any]]:
    return [a for a in (answer_of(c, own) for c in comments_of(th)) if a is not None]


def test_a_brand_reply_answers_the_top_level_comment_by_default() -> None:
    th = thread(comment("Ugx1", "the sound cuts out, fix it", "2026-12-07T08:00:00Z"),
                [comment("Ugx1.r1", "same here", "2026-12-07T08:05:00Z", author="@marie"),
                 by("Ugx1.a1", "Sorry! A fix ships on Friday", "2026-12-07T08:30:00Z",
                    "@AcmeSupport", BRAND)])
    assert answers(th) == [{
        "case_id": "youtube-Ugx1", "decision": "replied", "moderator": "@AcmeSupport",
        "decided_at": "2026-12-07T08:30:00.000Z",
        "reason": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=Ugx1.a1",
        "answered_on": "youtube"}]


def test_a_brand_reply_to_a_handle_answers_that_authors_latest_earlier_comment() -> None:
    th = thread(comment("Ugx1", "the sound cuts out", "2026-12-07T08:00:00Z"),
                [comment("Ugx1.r1", "same here", "2026-12-07T08:05:00Z", author="@Marie"),
                 comment("Ugx1.r2", "still broken today", "2026-12-07T08:10:00Z", author="@marie"),
                 by("Ugx1.a1", "@marie which phone do you have?", "2026-12-07T08:20:00Z",
                    "@AcmeSupport", BRAND),
                 comment("Ugx1.r3", "and again", "2026-12-07T08:40:00Z", author="@marie")])
    [answer] = answers(th)
    assert answer["case_id"] == "youtube-Ugx1.r2"  # not r3: published after the answer
    # A handle the thread does not show (a reply not given inline) answers none: not the top.
    th["replies"]["comments"][2]["snippet"]["textDisplay"] = "@nobody thanks"
    th["replies"]["comments"][2]["snippet"]["textOriginal"] = "@nobody thanks"
    assert answers(th) == []


def test_a_brand_answering_its_own_comment_or_a_viewers_reply_is_no_answer() -> None:
    own_top = thread(by("Ugx2", "New video! Tell us what you think", "2026-12-07T08:00:00Z",
                        "@Acme", CHANNEL),
                     [comment("Ugx2.r1", "love it", "2026-12-07T08:05:00Z", author="@marie"),
                      by("Ugx2.a1", "Thanks everyone!", "2026-12-07T08:10:00Z", "@Acme", BRAND),
                      by("Ugx2.a2", "@Acme see above", "2026-12-07T08:12:00Z", "@Acme", BRAND)])
    assert answers(own_top) == []
    # Its top-level comment is no answer either; a viewer's reply is none.
    viewer = thread(comment("Ugx3", "broken", "2026-12-07T08:00:00Z"),
                    [comment("Ugx3.r1", "@jules same", "2026-12-07T08:05:00Z", author="@marie")])
    assert answers(viewer) == []
    # Another brand's channel answering on this one's is a viewer here.
    other = thread(comment("Ugx4", "broken", "2026-12-07T08:00:00Z"),
                   [by("Ugx4.b1", "try ours", "2026-12-07T08:05:00Z", "@Boreal", "UC" + "c" * 22)])
    assert answers(other) == []


def test_two_brand_replies_are_two_answers_each_a_valid_decision() -> None:
    import json

    import jsonschema

    from tests.conftest import ROOT
    from veille.moderation.cases import Decision

    th = thread(comment("Ugx5", "where is my parcel??", "2026-12-07T08:00:00Z"),
                [comment("Ugx5.r1", "mine too", "2026-12-07T08:05:00Z", author="@marie"),
                 by("Ugx5.a1", "DM us your order number", "2026-12-07T08:30:00Z", "@AcmeSupport",
                    BRAND),
                 by("Ugx5.a2", "@marie yours too please", "2026-12-07T09:31:00+01:00",
                    "", CHANNEL)])
    th["snippet"]["videoId"] = th["replies"]["comments"][2]["snippet"]["videoId"] = None
    a1, a2 = answers(th)
    assert (a1["case_id"], a2["case_id"]) == ("youtube-Ugx5", "youtube-Ugx5.r1")
    # No display name: the channel id, as a mention's author; time in UTC; no URL: a short text.
    assert (a2["moderator"], a2["decided_at"]) == (CHANNEL, "2026-12-07T08:31:00.000Z")
    assert a2["reason"] == "answered on YouTube (comment Ugx5.a2)"
    schema = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
    for answer in (a1, a2):
        jsonschema.validate(answer, schema)
        assert Decision.from_dict(answer).answered_on == "youtube"
