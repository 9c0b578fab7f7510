"""Versioned records on veille's topics: RawMention in, EnrichedMention out, and their validation.

Pure Python (no Faust, no Kafka): the same code validates in the agent, the collectors and the CLI.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.entities import html5
from typing import TYPE_CHECKING, Any

import orjson

from veille.brand_ids import BRAND_ID_FORM, is_brand_id
from veille.sentiment.base import Sentiment
from veille.settings import Settings
from veille.terminal import shown

if TYPE_CHECKING:
    from veille.moderation import Triage

SCHEMA_VERSION = 1
AUDIENCE_FIELDS = ("followers", "likes", "shares", "replies", "views")
MAX_ID_CHARS = 256
MAX_SHORT_FIELD_CHARS = 2048
#: The most brand ids a raw mention's `brands` may name (the spaces it was posted in: one, seldom
#: a few; each one named is a rule of the enriched record).
MAX_SOURCE_BRANDS = 20

#: Bounded set of dead-letter reasons (a Prometheus label and the `veille-dlq-reason` header).
DLQ_REASONS = (
    "undecodable_bytes",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "invalid_field",
    "empty_text",
    "text_too_large",
    "created_at_in_future",
    "created_at_too_old",
    "processing_error",
)


class InvalidMention(ValueError):
    """A raw message that cannot become a RawMention; `reason` is one of DLQ_REASONS."""

    def __init__(self, reason: str, detail: str, field_name: str | None = None) -> None:
        assert reason in DLQ_REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Limits:
    """Validation bounds, taken from Settings."""

    max_text_chars: int = 20_000
    max_future: timedelta = timedelta(hours=1)
    max_age: timedelta = timedelta(days=365)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_text_chars=settings.max_text_chars,
            max_future=timedelta(seconds=settings.max_future_seconds),
            max_age=timedelta(days=settings.max_age_days),
        )


@dataclass(frozen=True, slots=True)
class RawMention:
    """A mention as a collector saw it, on `mentions.raw` (JSON, key = id)."""

    id: str
    source: str
    platform: str
    text: str
    created_at: datetime
    author: str | None = None
    url: str | None = None
    language: str | None = None
    audience: dict[str, int] = field(default_factory=dict)
    collected_at: datetime | None = None
    #: The watch-list brand ids the source says the mention is about, as it was posted in their
    #: own space (a comment on the brand's Facebook page, its blog's feed); () when it says none.
    brands: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "platform": self.platform,
            "author": self.author,
            "text": self.text,
            "url": self.url,
            "created_at": iso(self.created_at),
            "language": self.language,
            "audience": dict(self.audience) or None,
            "collected_at": iso(self.collected_at) if self.collected_at else None,
        }
        if self.brands:  # optional: absent when none (the bytes of a mention without as before)
            out["brands"] = list(self.brands)
        return out

    def to_json(self) -> bytes:
        return dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class EnrichedMention:
    """A validated, de-duplicated, scored mention on `mentions.enriched` (JSON, key = id)."""

    raw: RawMention
    language: str
    language_confidence: float
    sentiment: Sentiment | None
    brands: tuple[str, ...]
    rules: tuple[str, ...]
    received_at: datetime
    processed_at: datetime
    #: Moderation triage of a mention that matched a brand; None when it matched none.
    triage: Triage | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        # The raw mention's fields (RawMention.to_dict's, in its order, without collected_at and
        # with language as language_hint, after audience), then the enrichment's: built in one
        # go rather than from RawMention.to_dict() popped and updated.
        raw = self.raw
        triage = self.triage
        return {
            "id": raw.id,
            "source": raw.source,
            "platform": raw.platform,
            "author": raw.author,
            "text": raw.text,
            "url": raw.url,
            "created_at": iso(raw.created_at),
            "audience": dict(raw.audience) or None,
            "language_hint": raw.language,
            "schema_version": self.schema_version,
            "language": self.language,
            "language_confidence": round(self.language_confidence, 4),
            "sentiment": self.sentiment.to_dict() if self.sentiment else None,
            "brands": list(self.brands),
            "rules": list(self.rules),
            "received_at": iso(self.received_at),
            "processed_at": iso(self.processed_at),
            # Added to schema_version 1 as an optional field (consumers ignore what they do
            # not know); null when no brand matched.
            "triage": {"categories": list(triage.categories), "severity": triage.severity,
                       "action": triage.action} if triage is not None else None,
        }

    def to_json(self) -> bytes:
        return dumps(self.to_dict())


def brand_signal(mention: EnrichedMention, source: int, offset: int) -> bytes:
    """The mentions.by_brand record of an enriched mention, one per brand it names: what the
    spike agent counts. `p` is the raw partition it came from (also its enriched partition: the
    spike agent's watermark source) and `o` its raw offset there (a signal sent again after a
    crash is recognised by it)."""
    sentiment = mention.sentiment
    return dumps({
        "id": mention.raw.id,
        "t": mention.raw.created_at.timestamp(),
        "neg": sentiment is not None and sentiment.label == "negative",
        "aud": int(mention.raw.audience.get("followers") or 0),
        "text": mention.raw.text[:1000],
        "p": source,
        "o": offset,
    })


#: How often the enrichment stage sends a source tick for each raw partition read to its end.
TICK_SECONDS = 5.0


def source_tick(source: int, at: float, newest: float | None, live: bool, quiet: bool) -> bytes:
    """A mentions.by_brand tick (no key, sent to every partition) for raw partition `source`,
    sent at `at` (epoch seconds): the newest event time forwarded from it (null if none),
    whether that was at the present when read, and whether the partition is read to its end
    and quiet (veille.crisis.SourceClock). With it, the spike agents' watermark moves on
    when a partition, or the whole stream, has nothing to say."""
    return dumps({"tick": at, "p": source, "t": newest, "live": live, "quiet": quiet})


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps(obj, ensure_ascii=False, separators=(",", ":"))` writes
    it, five times faster: orjson (encoding an enriched record's dict: 7.7 µs down to 1.2).
    What orjson refuses (an integer beyond 64 bits, a dict key that is not a string) is written by
    the standard library instead, so nothing json.dumps wrote is refused. Two differences, both
    still JSON: a NaN or infinity is written null (json.dumps writes NaN, which no strict parser
    reads) and an exponent has no padding zero (1.5e-7, not 1.5e-07).

    The result is a copy of orjson's: orjson writes into a buffer of a few KiB and shrinks it, and
    glibc leaves the freed tail beside the record as a hole that the next buffer does not fit, so
    every record held (in the producer's batches, in a Faust buffer) pinned about 4 KiB instead of
    its 300-odd bytes: 20,000 held records took 83 MB of RSS instead of 13, and the worker's
    plateau rose by 20-30 MB. A copy of exact size (0.15 µs) lets the buffer be freed at once and
    reused by the next record."""
    try:
        return bytes(memoryview(orjson.dumps(obj)))
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def iso(dt: datetime) -> str:
    """UTC ISO 8601 with a Z suffix and millisecond precision."""
    if dt.tzinfo is UTC:
        # Every time a record holds (parse_time's, the clocks') is in UTC already: written
        # directly, what isoformat writes (four-digit year, milliseconds cut, not rounded) in
        # 0.7 µs instead of 1.3 (an enriched record writes three). %-formatting: an f-string
        # with the same format specs takes 1.35 µs.
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031
            dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond // 1000)
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, name: str) -> datetime:
    """ISO 8601 string or epoch seconds -> aware UTC datetime; a naive string is taken as UTC."""
    if isinstance(value, bool):
        raise InvalidMention("invalid_field", f"{name} must be an ISO 8601 time", name)
    if isinstance(value, (int, float)):
        # Only a float can be infinite; math.isfinite() of an int beyond a float's range (400
        # digits) would raise OverflowError, which no caller expects (the enrichment stage
        # dead-letters InvalidMention only).
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidMention("invalid_field", f"{name} must be finite", name)
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidMention("invalid_field", f"{name} is out of range", name) from None
    if not isinstance(value, str):
        raise InvalidMention("invalid_field", f"{name} must be an ISO 8601 time", name)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidMention("invalid_field", f"{name} is not an ISO 8601 time", name) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 falls before year 1 in UTC
        raise InvalidMention("invalid_field", f"{name} is out of range", name) from None


#: An http(s) address's start (case-insensitive, after spaces): a scheme of letters and a colon.
#: ASCII: as the schemas' pattern (IGNORECASE alone takes a long s, U+017F, for an "s").
_WEB_SCHEME = re.compile(r"\s*https?:", re.IGNORECASE | re.ASCII)


def is_web_address(url: str) -> bool:
    """True for an http(s) address: what a mention's `url` may be. A case's url reaches the
    moderators' web screen as a link; a `javascript:` or `data:` one runs a script in their
    session at a click (any scheme was passed on until 2026-12-06)."""
    return _WEB_SCHEME.match(url) is not None


def _opt_str(obj: dict[str, Any], name: str, limit: int = MAX_SHORT_FIELD_CHARS) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidMention("invalid_field", f"{name} must be a string or null", name)
    if len(value) > limit:
        raise InvalidMention("invalid_field", f"{name} is longer than {limit} characters", name)
    _check_unicode(name, value)
    return value


def _web_url(url: str | None) -> str | None:
    """The url when it is an http(s) address, else None: a mention is not refused for its link
    (a relayed third party's), but no other scheme is passed on (is_web_address)."""
    return url if url is None or is_web_address(url) else None


def _check_unicode(name: str, value: str) -> None:
    """JSON may escape a lone surrogate ("\\ud83d"): valid JSON, not valid Unicode. Such a
    string cannot be re-encoded as UTF-8 downstream, so it is refused here."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidMention(
            "invalid_field", f"{name} holds a lone surrogate (not valid Unicode)", name
        ) from None


def _req_str(obj: dict[str, Any], name: str, limit: int = MAX_SHORT_FIELD_CHARS) -> str:
    if name not in obj or obj[name] is None:
        raise InvalidMention("missing_field", f"{name} is required", name)
    value = _opt_str(obj, name, limit)
    assert value is not None
    if not value.strip():
        raise InvalidMention("invalid_field", f"{name} must not be empty", name)
    return value


#: The longest platform language tag a mention may carry (the raw schema's maxLength).
MAX_LANGUAGE_CHARS = 16

#: The largest audience figure: consumers in JavaScript read every JSON number as a double,
#: exact up to 2^53 - 1, and Java's or Go's int64 overflow further on.
MAX_AUDIENCE = 2**53 - 1


def _audience(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidMention("invalid_field", "audience must be an object", "audience")
    out: dict[str, int] = {}
    for key in AUDIENCE_FIELDS:
        figure = value.get(key)
        if figure is None:
            continue
        if isinstance(figure, float) and figure.is_integer() and 0 <= figure <= MAX_AUDIENCE:
            # 1.0 or 1e3: an integer to JSON Schema (the published one accepts it), so to the
            # stage too; dead-lettered as "not an integer" until 2026-12-05.
            figure = int(figure)
        if isinstance(figure, bool) or not isinstance(figure, int) or figure < 0:
            got = shown(figure, 40)
            raise InvalidMention(
                "invalid_field", f"audience.{key} must be a non-negative integer, not {got}",
                f"audience.{key}")
        if figure > MAX_AUDIENCE:
            raise InvalidMention(
                "invalid_field", f"audience.{key} is above {MAX_AUDIENCE} (2^53 - 1)", f"audience.{key}"
            )
        out[key] = figure
    return out


def _source_brands(value: Any) -> tuple[str, ...]:
    """A raw mention's `brands`: absent or null is none; a list of at most MAX_SOURCE_BRANDS brand
    ids (veille.brand_ids.is_brand_id, the watch list's own rule), duplicates dropped, order kept.
    Whether the watch list has them is the enrichment's question, not the contract's."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidMention("invalid_field", f"brands must be a list of brand ids or null, not "
                             f"{type(value).__name__}", "brands")
    if len(value) > MAX_SOURCE_BRANDS:
        raise InvalidMention("invalid_field", f"brands names {len(value)} brands, at most "
                             f"{MAX_SOURCE_BRANDS}", "brands")
    for n, item in enumerate(value):
        if not is_brand_id(item):
            got = shown(item, 40)
            raise InvalidMention("invalid_field", f"brands[{n}] is {got}, not a brand id "
                                 f"({BRAND_ID_FORM})", "brands")
    return tuple(dict.fromkeys(value))


#: An HTML character reference: a name, a decimal or a hexadecimal code point, and its ";".
_REFERENCE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")


def _decoded(reference: re.Match[str]) -> str:
    ref = reference.group()
    if ref[1] == "#":
        return html.unescape(ref)
    # A name HTML has, whole: html.unescape alone reads "&notx;" as "¬x;" ("&not" is a name).
    return html5.get(ref[1:], ref)


def decode_references(text: str) -> str:
    """`text` with its HTML character references decoded, once: Twitter's API escapes "&", "<"
    and ">" ("H&amp;M &lt;3"), YouTube's plain-text comments carry "&#39;" and "&quot;"; the brand
    H&M was not found in the first and its heart was no positive word. Only references with their
    ";": "R&D", "AT&T", "&nothing" stay as written."""
    return _REFERENCE.sub(_decoded, text) if "&" in text else text


def mention_from_dict(
    obj: Any, *, now: datetime | None = None, limits: Limits = Limits(), references: bool = False
) -> RawMention:
    """Validate a decoded JSON value into a RawMention, or raise InvalidMention. With `references`
    (the enrichment's reading of `mentions.raw`, parse_raw), the text's HTML character references
    are decoded first (decode_references): once, there, as a collector sends a text the way its
    source gave it."""
    if not isinstance(obj, dict):
        raise InvalidMention("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    mention_id = _req_str(obj, "id", MAX_ID_CHARS)
    if "text" not in obj or obj["text"] is None:
        raise InvalidMention("missing_field", "text is required", "text")
    text = obj["text"]
    if not isinstance(text, str):
        raise InvalidMention("invalid_field", "text must be a string", "text")
    if references:
        text = decode_references(text)
    _check_unicode("text", text)
    if not text.strip():
        raise InvalidMention("empty_text", "text is empty", "text")
    if len(text) > limits.max_text_chars:
        raise InvalidMention(
            "text_too_large",
            f"text has {len(text)} characters, the limit is {limits.max_text_chars}",
            "text",
        )
    if "created_at" not in obj or obj["created_at"] is None:
        raise InvalidMention("missing_field", "created_at is required", "created_at")
    created_at = parse_time(obj["created_at"], "created_at")
    now = now or datetime.now(UTC)
    if created_at - now > limits.max_future:
        raise InvalidMention("created_at_in_future", f"created_at {iso(created_at)} is ahead of now",
                             "created_at")
    if now - created_at > limits.max_age:
        raise InvalidMention("created_at_too_old", f"created_at {iso(created_at)} is too old",
                             "created_at")
    collected = obj.get("collected_at")
    language = _opt_str(obj, "language", MAX_LANGUAGE_CHARS)
    brands = obj.get("brands")  # one lookup for a mention without: the hot path's cost
    return RawMention(
        id=mention_id,
        source=_req_str(obj, "source"),
        # Lower case, cut back to its limit: "İ".lower() is two characters, and a platform of
        # 2,048 "İ" became 4,096, past the contract's bound, refused when sent again (re-keyed).
        platform=_req_str(obj, "platform").strip().lower()[:MAX_SHORT_FIELD_CHARS],
        text=text,
        created_at=created_at,
        author=_opt_str(obj, "author"),
        url=_web_url(_opt_str(obj, "url")),
        language=language.strip().lower()[:MAX_LANGUAGE_CHARS] or None if language else None,
        audience=_audience(obj.get("audience")),
        collected_at=parse_time(collected, "collected_at") if collected is not None else None,
        brands=_source_brands(brands) if brands is not None else (),
    )


def parse_raw(
    payload: bytes | None, *, now: datetime | None = None, limits: Limits = Limits()
) -> RawMention:
    """Bytes from `mentions.raw` -> RawMention, or raise InvalidMention with a bounded reason."""
    if payload is None:
        raise InvalidMention("not_an_object", "the message has no value")
    obj = _loads_plain(payload)
    if obj is not None:
        return mention_from_dict(obj, now=now, limits=limits, references=True)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMention("undecodable_bytes", f"not UTF-8 at byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except RecursionError:
        raise InvalidMention("invalid_json", "JSON nested too deeply") from None
    except ValueError as exc:
        raise InvalidMention("invalid_json", str(exc)[:200]) from None
    return mention_from_dict(obj, now=now, limits=limits, references=True)


#: Brackets and braces a message may hold for `_loads_plain` to decode it: the nesting of one
#: that has fewer stays far below what json.loads refuses as too deep (Python's recursion limit).
_PLAIN_MAX_BRACKETS = 64


def _loads_plain(payload: bytes) -> dict[str, Any] | None:
    """The JSON object of a plain message, decoded by orjson (0.9 µs for a raw mention, against
    3.6 for decoding the bytes and json.loads); None when the message is not plainly one, and
    parse_raw's own path (UTF-8, then json.loads) then decides, with its own errors.

    Only what decodes to the same object either way is taken: UTF-8 that orjson refuses
    (surrogates, overlong forms), NaN, numbers beyond a double, escaped lone surrogates and
    anything but an object fail here, to be refused or accepted by json.loads as before; a
    message with many brackets (deep nesting, which json.loads refuses beyond the recursion
    limit and orjson accepts to 1024) is left to it, and so is an audience holding a float
    (orjson reads an integer beyond 64 bits as a float, which audience would then refuse)."""
    if type(payload) is not bytes or payload.count(b"[") + payload.count(b"{") > _PLAIN_MAX_BRACKETS:
        return None
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    audience = obj.get("audience")
    if type(audience) is dict and any(type(v) is float for v in audience.values()):
        return None
    return obj


#: Every digit made a 0, then a run of 19 of them looked for: an integer orjson could read otherwise
#: than json.loads (as a float below -2**63 or above 2**64-1). A regular expression took 11 µs on
#: a moderation record, longer than json.loads; this takes 1.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


def loads(payload: bytes) -> Any:
    """json.loads(payload), decoded by orjson whenever that gives the same value (about a third
    of the time for a moderation record): the moderator tools and readers of whole topics
    decode every record of them. Left to json.loads: anything orjson refuses (NaN, a number
    beyond a double, an escaped lone surrogate, invalid UTF-8, a byte order mark, UTF-16), a
    run of 19 digits or more (an integer beyond 64 bits, which orjson reads as a float) and a
    message with many brackets (deep nesting, which json.loads refuses beyond the recursion
    limit and orjson accepts to 1024); json.loads raises what it raised."""
    if type(payload) is bytes and payload.count(b"[") + payload.count(b"{") <= _PLAIN_MAX_BRACKETS \
            and _LONG_DIGITS not in payload.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return json.loads(payload)


def content_id(prefix: str, source: Any, platform: Any, author: Any, url: Any, text: Any,
               created_at: Any) -> str:
    """A mention id derived from its content, for a collector given none: `prefix-` + the
    first 32 hex digits of the SHA-256 of the six fields as JSON. The same content gives the
    same id (a push retried, a file replayed again: de-duplicated downstream), two authors
    posting the same words at the same second get two."""
    content = json.dumps([source, platform, author, url, text, created_at], ensure_ascii=False,
                         default=str)
    return f"{prefix}-" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:32]
