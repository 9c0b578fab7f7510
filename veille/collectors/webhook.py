"""Webhook collector: Zapier/IFTTT-style pushes of mentions over HTTP -> mentions.raw.

`POST /mentions` takes one RawMention object, a JSON array of them, or `{"mentions": [...]}`
(an object with no `text`: a mention that carries a `mentions` field of its own, as a Mastodon
status does, is one mention); or one mention as an `application/x-www-form-urlencoded` form
(Zapier's default payload type), its audience figures as `audience__likes=12` (form_mention).
`brands` (the brands whose own space the mention was posted in) may be sent as text, as such
tools send every field: `acme` or `acme, boreal`, blank for none (veille.collectors.flat).
`source` defaults to "webhook"; a missing `id` is derived from the content so that a retried
push gets the same id (and is de-duplicated downstream):

    id = "webhook-" + sha256(json.dumps([source, platform, author or "", url or "", text,
                                         created_at]))[:32]

with the *validated* values (platform lower-cased, created_at as UTC ISO 8601 with milliseconds),
JSON-encoded so that a `|` inside a text cannot make two different mentions collide.

A batch is all-or-nothing: every item is validated first and nothing is written if one is
invalid (400 naming the first bad item's index and field). The answer is 202 only once the
broker has acknowledged every record of the request (acks=all); if it does not in time the
answer is 503 with Retry-After, and the client must resend (same ids: no duplicate downstream).

Authentication: `Authorization: Bearer $VEILLE_WEBHOOK_TOKEN` and/or
`X-Veille-Signature: sha256=<hex HMAC-SHA256 of the raw body keyed with $VEILLE_WEBHOOK_HMAC_SECRET>`
(the body once its Content-Encoding is undone); with neither configured the collector only starts
on a loopback address. A signed request may carry `X-Veille-Timestamp: <unix seconds>`: its
signature is then of `<timestamp>.` + the raw body, and it is refused (401) when the timestamp is
more than VEILLE_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS (300) from the server's clock. The same
timestamp and signature accepted already (a retry after a lost answer, or a replay:
SeenSignatures, in this process's memory) are answered 200 `duplicate` and not written again;
while the first is still being written, 503 `in_flight`. Without the header the body-only
signature is taken, unless VEILLE_WEBHOOK_REQUIRE_TIMESTAMP is set: it can be replayed for ever.

`POST /answers` takes the brand's answers seen on a platform, as a no-code tool reports them
(Zapier's "New reply by page"): one object, a JSON array of them, or `{"answers": [...]}`, or one
as a form, with `mention_id` (the id of the mention answered, as sent to /mentions: its case
id), `answered_at` (the times /mentions reads in `created_at`), `platform`, optionally `by` (the
account that answered; "<platform> page" by default) and `url` (the answer's link). Each is
written as a `replied` decision on moderation.decisions, keyed by case id, `answered_on` its
platform (moderation_decision.v1.json): its case is closed as answered by the moderation agent,
and an answer to a mention that never became a case is dropped there as `not_a_case`. An
unknown field, or a time more than 5 minutes ahead (the agent ignores a decision dated further
ahead; VEILLE_MAX_FUTURE_SECONDS if lower), is a 400. The same body
parsing, limits, authentication and 202/503 guarantees as /mentions; the answers go through
the same grouped writes.

Content-Encoding: identity, gzip, x-gzip or deflate, one at most (veille.httpbody); any other
is refused with 415 from the headers, before the body is read (instead of the 100 Continue).

Other endpoints: `GET /healthz` (process alive), `GET /readyz` (broker reachable and the last
write succeeded), `GET /metrics` (Prometheus text of the collector's registry).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import heapq
import hmac
import ipaddress
import json
import logging
import re
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CollectorRegistry

from streams.records import (
    InvalidMention,
    Limits,
    RawMention,
    content_id,
    is_web_address,
    iso,
    mention_from_dict,
    parse_time,
)
from veille.broker import (
    any_answers,
    metadata_answers,
    secure_endpoint_answers,
    sign_in,
    url_host,
)
from veille.collectors.answers import answer, answer_record, answers_noun
from veille.collectors.base import BrokerUnavailable, Collector, MentionSink, Record
from veille.collectors.flat import brand_list, gather_audience
from veille.collectors.flat import count as _count
from veille.exposition import scrape
from veille.httpbody import (
    IDLE_SECONDS,
    BodyTooLarge,
    UndecodableBody,
    accept_encoding,
    aiohttp_errors_by_type,
    content_coding,
    decode,
    expect_continue,
    find_too_long,
    json_error,
    listen,
    loads,
)
from veille.logs import say
from veille.metrics import CollectorMetrics
from veille.moderation.cases import MAX_CLOCK_SKEW_SECONDS, NAME_FORBIDDEN, PLATFORM, DecisionError
from veille.settings import Settings, SettingsError
from veille.terminal import shown
from veille.timezones import MONTHS, local_time, rfc822_time, zone, zone_abbreviation_minutes

log = logging.getLogger(__name__)

NAME = "webhook"
#: Longest a push waits for the broker's acknowledgement before its 503 (from its arrival).
ACK_TIMEOUT_SECONDS = 10.0
#: Seconds a client is told to wait after a 503 (the Retry-After header).
RETRY_AFTER_SECONDS = 5
#: How long /readyz waits for a secure broker endpoint to sign it in (every bootstrap server
#: asked at once).
PROBE_TIMEOUT = 2.0
#: A /readyz probe's verdict answers the requests that come while it runs, and for this many
#: seconds after: /readyz needs no credentials, and each probe is a thread and a connection to
#: every bootstrap server (a flood of /readyz made as many; found in review, 2026-12-06).
PROBE_REUSE_SECONDS = 1.0
#: How long /readyz waits for a bootstrap server's answer to a Metadata request (plaintext) or
#: a TLS handshake, every server asked at once.
ANSWER_TIMEOUT = 1.0
#: At most this many mentions go to the broker in one acknowledged write (requests that arrive
#: while a write is in flight are grouped into the next one).
MAX_GROUP_MENTIONS = 5000
#: At most this many mentions in one request (413 beyond): every item is validated before the
#: answer, on the event loop, so the count bounds that pause (1 MiB of `{}` is 350,000 items and
#: took 1 s; 5,000 real mentions take under 0.1 s).
MAX_REQUEST_MENTIONS = MAX_GROUP_MENTIONS
#: Bodies (decoded bytes) of requests waiting for the broker's acknowledgement, at most; beyond,
#: a request is answered 503 `overloaded` at once. While the broker is slow or away each request
#: waits up to ACK_TIMEOUT_SECONDS, and senders retrying meanwhile must not grow the collector
#: without bound (50 requests of 1 MiB held 1.4 GB before the parsed bodies were let go; each
#: now holds its mentions and its raw bytes).
MAX_WAITING_BYTES = 64 * 2**20
#: What a validated mention holds besides the bytes of its fields (measured: 420 to 540 bytes
#: with tracemalloc): counted with the body's bytes against MAX_WAITING_BYTES. The bodies alone
#: were counted until 2026-12-05, and requests of 5,000 small mentions held ten times the bound.
MENTION_HELD_BYTES = 600
#: Bodies being received at once, at most (a request reserves its announced length, else the body
#: limit, before reading it): beyond, a request is answered 503 `overloaded` without reading it.
MAX_READING_BYTES = 64 * 2**20
#: A body must have arrived this many seconds after its request's headers, else 408: a client
#: announcing 1 MiB and sending one byte less held its connection and the bytes read so far for
#: ever (200 of them: 250 MB, until 2026-12-05).
BODY_READ_SECONDS = 30.0
SIGNATURE_HEADER = "X-Veille-Signature"
#: Unix seconds at which the sender signed; the signature is then of `<timestamp>.` + the body.
TIMESTAMP_HEADER = "X-Veille-Timestamp"
#: The timestamped signatures remembered at once, at most (each about 220 bytes: 22 MB at
#: most). Only signatures that were checked are remembered, so only the secret's holders can
#: fill it; full, the oldest is forgotten and no older timestamp is taken (SeenSignatures).
MAX_SEEN_SIGNATURES = 100_000
#: A timestamp is Unix seconds: digits, 12 at most (milliseconds have 13).
_TIMESTAMP_TEXT = re.compile(r"[0-9]{1,12}")
#: The shortest token or HMAC secret accepted (a 1-character token guarded a public listener).
MIN_SECRET_CHARS = 16
_PENDING_ID = "webhook-pending"
#: The fields of an answer pushed to /answers (any other is refused, as the decisions' contract
#: refuses unknown fields).
ANSWER_FIELDS = ("mention_id", "answered_at", "platform", "by", "url")
#: The answer's field a decision's field comes from (to name it in a refusal).
_DECISION_FIELDS = {"case_id": "mention_id", "moderator": "by", "decided_at": "answered_at",
                    "reason": "url", "answered_on": "platform"}


class WebhookConfigError(SettingsError):
    """The webhook settings are unsafe or inconsistent; printed without a traceback."""


#: Fields a blank string leaves unset in a push (an unmapped field of a no-code tool): the id
#: is then derived, `source` and `collected_at` defaulted, the others absent.
_BLANK_IS_ABSENT = frozenset({"id", "source", "author", "url", "language", "audience",
                              "collected_at"})


#: Unix seconds written as text, years 2001 to 2286 (ten digits; milliseconds have thirteen).
_SECONDS_TEXT = re.compile(r"[1-9][0-9]{9}(?:\.[0-9]{1,6})?")


#: IFTTT's ingredients' dates: "December 6, 2026 at 07:00AM", "December 06, 2026 at 11:15PM".
_IFTTT_TIME = re.compile(r"(?P<month>[A-Za-z]+)\.? +(?P<day>[0-9]{1,2}), *(?P<year>[0-9]{4}) +at +"
                         r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2}) *(?P<half>[AaPp][Mm])")
#: An RFC 2822 or Twitter time that ends on its clock (or its year after the clock, Twitter's
#: and asctime's order): written with no zone at all. "-0000", "IST" or "UTC+01:00" (whose
#: "1:00" is no clock: the clock stands alone; read as its offset before this is asked) are not this.
_NO_ZONE = re.compile(r"(?:.*\s)?[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:\s+[0-9]{4})?",
                      re.DOTALL)


def is_json_type(ctype: str) -> bool:
    """`application/json` or a `+json` type (lower case, without parameters)."""
    return ctype == "application/json" or (ctype.startswith("application/") and ctype.endswith("+json"))


#: The form content type (Zapier's default payload type "Form"): one mention, flat fields.
FORM_TYPE = "application/x-www-form-urlencoded"


def is_utf8(charset: str | None) -> bool:
    """True for no charset parameter or one naming UTF-8 (`utf-8`, `UTF8`, `utf_8`)."""
    return charset is None or charset.strip().strip('"').lower().replace("-", "").replace("_", "") == "utf8"


def form_mention(body: bytes) -> dict[str, Any]:
    """An `application/x-www-form-urlencoded` body as the JSON object of one mention (every value a
    string, as a no-code tool's JSON sends them): the URL standard's parsing (pairs split on "&",
    empty ones skipped, name and value on the first "=", "+" is a space, %XX a byte, a malformed
    % left as it is), the bytes then read as UTF-8, and `audience__<figure>` fields gathered into
    `audience` (gather_audience). Raises InvalidMention for a field sent twice (which one would
    be meant?), bytes that are not UTF-8 once percent-decoded, or `audience` sent both whole
    and by figure."""
    fields: dict[str, Any] = {}
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        strings: list[str] = []
        for i, part in enumerate((raw_name, raw_value)):
            decoded = unquote_to_bytes(part.replace(b"+", b" "))
            try:
                strings.append(decoded.decode("utf-8"))
            except UnicodeDecodeError as exc:
                what = f"the field {strings[0][:60]!r}" if i else "a field name"
                raise InvalidMention("undecodable_bytes",
                                     f"{what} is not UTF-8 once percent-decoded (byte {exc.start}): "
                                     "a form body must be UTF-8", strings[0][:60] if strings else None
                                     ) from None
        name, value = strings
        if name in fields:
            raise InvalidMention("invalid_field",
                                 f"the form field {name[:60]!r} is sent more than once: send it once",
                                 name[:60])
        fields[name] = value
    return gather_audience(fields)


class NoOffset(ValueError):
    """A time that names no offset and no zone, read while no zone is set for such times."""


def _ifttt_time(text: str) -> datetime | None:
    """IFTTT's "December 6, 2026 at 07:00AM" as a naive datetime, None when it is not one."""
    found = _IFTTT_TIME.fullmatch(text)
    if found is None:
        return None
    month = MONTHS.get(found["month"].lower())
    hour = int(found["hour"])
    if month is None or not 1 <= hour <= 12:
        return None
    hour = hour % 12 + (12 if found["half"].lower() == "pm" else 0)
    try:
        return datetime(int(found["year"]), month, int(found["day"]), hour, int(found["minute"]))
    except ValueError:  # February 30, minute 75
        return None


def common_time(value: str, local: tzinfo | None = None) -> str | None:
    """`value` in ISO 8601 when it is a time as platforms and no-code tools write them but ISO
    8601 is not: RFC 2822 (RSS, e-mail: "Fri, 04 Dec 2026 22:12:17 +0000", also "GMT+1",
    "UTC+01:00", "GMT-0500", read by veille.timezones.rfc822_time as the RSS collector reads them)
    or Twitter's ("Wed Oct 10 20:19:24 +0000 2018"), with an offset, or Unix seconds as text; else None
    (ISO 8601 is read by the validation itself, as everything it refuses, with its reason).

    A time with no zone at all, IFTTT's ("December 6, 2026 at 07:00AM") or RFC 2822's without
    one, is read in `local` (VEILLE_WEBHOOK_TIMEZONE, see local_time), and is NoOffset without it.
    "-0000" and the zone names none of its readers knows (IST, ambiguous) stay None: RFC 822's
    (EST, PST...) and Python's (AST) are read, and those of veille.timezones.ABBREVIATIONS."""
    text = value.strip()
    ifttt = _ifttt_time(text)
    if ifttt is not None:
        if local is None:
            raise NoOffset(text)
        try:
            return local_time(ifttt, local).astimezone(UTC).isoformat()
        except (OverflowError, ValueError):
            return None
    if _SECONDS_TEXT.fullmatch(text):  # Unix seconds sent as text (a no-code tool's field)
        try:
            return datetime.fromtimestamp(float(text), UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    if not text or text[0].isdigit() and "-" in text[:10]:
        return None  # ISO 8601: the validation's
    # RFC 2822 as the RSS collector reads it (one reader): offsets after GMT/UTC too ("GMT+1",
    # "UTC+01:00", "GMT-0500", refused until 2026-12-06), "-0000" left to the refusal below. What
    # it does not read (AST, a 2-digit year, "+1500"...) is Python's, as before.
    found = rfc822_time(text, minus_zero=False)
    if found is None:
        try:
            found = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):  # a year or offset of 20 digits
            found = None
    if found is None:
        try:
            found = datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
        except ValueError:
            return None
    if found.tzinfo is None:  # RFC 2822's "-0000", or a zone name Python does not know
        east = zone_abbreviation_minutes(text.rsplit(None, 1)[-1])  # "CEST": French feeds'
        if east is not None:
            found = found.replace(tzinfo=timezone(timedelta(minutes=east)))
        elif _NO_ZONE.fullmatch(text) is None:
            return None  # "-0000", "IST": no guess
        elif local is None:
            raise NoOffset(text)
        else:
            found = local_time(found, local)
    try:
        return found.astimezone(UTC).isoformat()
    except (OverflowError, ValueError):
        return None


def derive_id(m: RawMention) -> str:
    """A stable id from the validated content: the same push retried gets the same id, and two
    authors posting the same words at the same second (a copied message during a crisis) get
    two (de-duplication downstream would otherwise keep one of them)."""
    return content_id("webhook", m.source, m.platform, m.author or "", m.url or "", m.text,
                      iso(m.created_at))


def sign(secret: str, body: bytes, timestamp: int | str | None = None) -> str:
    """The X-Veille-Signature value for `body`: `sha256=` + hex HMAC-SHA256 keyed with `secret`;
    with a `timestamp` (sent as X-Veille-Timestamp), of `<timestamp>.` + `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), _signed(body, timestamp),
                                hashlib.sha256).hexdigest()


def _signed(body: bytes, timestamp: int | str | None) -> bytes:
    """What a signature is of: the body, or `<timestamp>.` + the body."""
    return body if timestamp is None else str(timestamp).encode("ascii") + b"." + body


#: The states of a timestamped signature in SeenSignatures.
IN_FLIGHT, ACCEPTED, RELEASED = "in_flight", "accepted", "released"


class SeenSignatures:
    """The timestamped signatures accepted lately, so that none is accepted twice (a replay).

    A signature is remembered until its timestamp is out of the tolerance (then the timestamp
    alone refuses it), `capacity` of them at most. Full, the one with the oldest timestamp is
    forgotten and `floor` rises to that timestamp: a request timestamped at or before it is
    refused from then on (401: the sender signs again with the current time), as is one, while
    full, timestamped no later than all those remembered; never a replay let through. Only
    signatures already checked are remembered, so that only the holders of the secret can fill
    it (more than `capacity` signed requests within the tolerance), and a request released and
    sent again is one entry still.

    A signature is claimed when checked, before the request is written, and then either
    accepted (its request answered 202: the same request again is "accepted", written once)
    or released (a 400, or a 503 that tells the sender to send it again: it may come back).
    The same request arriving while the first is still being written is "in_flight": its
    outcome is not known yet (until 2026-12-06 it was refused as a replay, and a sender's
    retry lost when the first then failed). One process's memory: replicas behind a load
    balancer do not share it."""

    def __init__(self, capacity: int = MAX_SEEN_SIGNATURES) -> None:
        self.capacity = capacity
        #: Timestamps at or before this one are refused (raised when full), None until then.
        self.floor: int | None = None
        self._by_time: list[tuple[int, bytes]] = []  # a heap, the oldest timestamp first
        #: Signature -> IN_FLIGHT, ACCEPTED, or RELEASED while its timestamp is fresh.
        self._claimed: dict[bytes, str] = {}

    def __len__(self) -> int:
        return len(self._claimed)

    def claim(self, timestamp: int, signature: bytes, now: float, tolerance: float) -> str | None:
        """None when `signature` (timestamped `timestamp`, fresh) is claimed; else why not:
        "accepted" (its request was accepted already), "in_flight" (it is being written) or
        "forgotten" (at or before `floor`)."""
        while self._by_time and self._by_time[0][0] < now - tolerance:
            del self._claimed[heapq.heappop(self._by_time)[1]]
        claimed = self._claimed.get(signature)
        if claimed in (ACCEPTED, IN_FLIGHT):
            return claimed
        if claimed is None:
            if self.floor is not None and timestamp <= self.floor:
                return "forgotten"
            if len(self._by_time) >= self.capacity:
                if timestamp <= self._by_time[0][0]:
                    return "forgotten"  # it would be the one forgotten
                oldest, forgotten = heapq.heappop(self._by_time)
                del self._claimed[forgotten]
                self.floor = oldest if self.floor is None else max(self.floor, oldest)
            heapq.heappush(self._by_time, (timestamp, signature))
        self._claimed[signature] = IN_FLIGHT
        return None

    def accept(self, signature: bytes) -> None:
        """`signature`'s request was accepted: the same request again is written no more."""
        if signature in self._claimed:
            self._claimed[signature] = ACCEPTED

    def release(self, signature: bytes) -> None:
        """`signature`'s request was not accepted: it may come again (still within its time)."""
        if signature in self._claimed:
            self._claimed[signature] = RELEASED


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address ("" = all interfaces)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # UnicodeError: not a host name (a label over 63 characters)
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


def check_config(settings: Settings) -> None:
    """Refuse an unauthenticated webhook on anything but loopback, and a useless body limit."""
    if settings.webhook_max_body_bytes <= 0:
        raise WebhookConfigError("VEILLE_WEBHOOK_MAX_BODY_BYTES must be a positive number of bytes")
    for name, secret in (("VEILLE_WEBHOOK_TOKEN", settings.webhook_token),
                         ("VEILLE_WEBHOOK_HMAC_SECRET", settings.webhook_hmac_secret)):
        if not secret:
            continue
        try:
            secret.encode("utf-8")
        except UnicodeEncodeError:  # bytes of another encoding in the environment
            raise WebhookConfigError(f"{name} is not valid UTF-8 text") from None
        if not secret.strip():
            raise WebhookConfigError(f"{name} is only blanks: leave it empty, or set a secret")
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise WebhookConfigError(f"{name} has {len(secret.strip())} characters, at least "
                                     f"{MIN_SECRET_CHARS} are needed (e.g. openssl rand -hex 32)")
    if settings.webhook_require_timestamp and not settings.webhook_hmac_secret:
        raise WebhookConfigError("VEILLE_WEBHOOK_REQUIRE_TIMESTAMP is set but there is no signature "
                                 "to time: set VEILLE_WEBHOOK_HMAC_SECRET, or leave it unset")
    if settings.webhook_token.strip() or settings.webhook_hmac_secret:
        return
    if not is_loopback(settings.webhook_host):
        where = settings.webhook_host or "every interface"
        raise WebhookConfigError(
            f"refusing to serve an unauthenticated webhook on {where!r}: "
            "set VEILLE_WEBHOOK_TOKEN (bearer token) and/or VEILLE_WEBHOOK_HMAC_SECRET "
            "(X-Veille-Signature), or listen on a loopback address (VEILLE_WEBHOOK_HOST=127.0.0.1)"
        )


def _b(value: str) -> bytes:
    return value.encode("utf-8", "backslashreplace")


_error = json_error
_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                415: "unsupported_media_type"}


def _too_long(obj: Any) -> None:
    """Refuse an item holding an integer too long to convert, naming where it is."""
    found = find_too_long(obj)
    if found is None:
        return
    path, number = found
    if path is None:
        raise InvalidMention("not_an_object", f"expected a JSON object, got {number.describe()}")
    raise InvalidMention("invalid_field", f"{path} is {number.describe()}", path)


class WebhookCollector(Collector):
    """An aiohttp server on settings.webhook_host:webhook_port; `port` is the bound port."""

    name = NAME

    def __init__(self, settings: Settings, metrics: CollectorMetrics,
                 sink: MentionSink | None = None, *, ack_timeout: float = ACK_TIMEOUT_SECONDS,
                 on_ready: Callable[[WebhookCollector], None] | None = None) -> None:
        sink = sink or MentionSink(settings, NAME, metrics, ack_timeout=ack_timeout)
        super().__init__(settings, metrics, sink)
        self.ack_timeout = sink.ack_timeout
        self.limits = Limits.from_settings(settings)
        self.on_ready = on_ready
        self.host = settings.webhook_host
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._draining = False
        self._inflight = 0
        # In-flight requests may wait up to two ack timeouts (metadata, then acknowledgement).
        self._drain_timeout = 2 * self.ack_timeout + 5
        self._shutdown: asyncio.Task[None] | None = None
        #: (mentions, or answers' records, answered when written, deadline on the loop's clock)
        #: per waiting request.
        self._queue: list[tuple[Sequence[RawMention | Record], asyncio.Future[None], float]] = []
        self._waiting_bytes = 0  # what the requests waiting for a write hold (bodies, mentions)
        self._reading_bytes = 0  # reserved by the requests whose body is being received
        self._writer: asyncio.Task[None] | None = None
        #: Seconds a group write took lately (moving average of the acknowledged ones; 0 until
        #: one): what a request needs left to be written, and how long the queue takes to clear.
        self._write_seconds = 0.0
        self._last_write_ok: bool | None = None
        #: A TLS or SASL broker signed this collector in once (its settings proven: /readyz then
        #: asks only for the TLS handshake, as the producer is already connected).
        self._signed_in = False
        self._last_failure = 0.0
        #: The last /readyz probe of the broker (shared while it runs) and when it ended.
        self._probe: asyncio.Future[str | None] | None = None
        self._probe_ended = 0.0
        # Header values never start or end with whitespace: a token read from a file may.
        token = settings.webhook_token.strip()
        self._token = _b(token) if token else None
        self._secret = settings.webhook_hmac_secret.encode("utf-8") or None
        self._tolerance = settings.webhook_signature_tolerance_seconds
        self._seen = SeenSignatures()
        #: The zone of the times pushed without an offset (VEILLE_WEBHOOK_TIMEZONE), or None.
        self._local = zone(settings.webhook_timezone) if settings.webhook_timezone else None

    # -- life cycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    @property
    def auth(self) -> str:
        parts = [p for p, on in (("bearer token", self._token), ("HMAC signature", self._secret)) if on]
        return " + ".join(parts) or "none (loopback only)"

    async def start(self) -> None:
        check_config(self.settings)
        aiohttp_errors_by_type()
        app = web.Application(client_max_size=self.settings.webhook_max_body_bytes,
                              middlewares=[self._errors])
        app.router.add_post("/mentions", self._post_mentions, expect_handler=self._expect)
        app.router.add_post("/answers", self._post_answers, expect_handler=self._expect)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        # The content coding is undone by veille.httpbody, not by aiohttp (whose answer for br
        # or zstd depends on the modules installed, and comes from its parser as plain text).
        # An idle connection, or one whose request's headers never end, is closed after
        # IDLE_SECONDS (aiohttp kept it an hour). No access log, as the moderation API: under
        # VEILLE_LOG_LEVEL=INFO aiohttp wrote a line per request with the client's IP address,
        # Referer and User-Agent (personal data of whoever posts, kept as long as the logs are;
        # found in review, 2026-12-06); the metrics count the requests.
        runner = await listen(app, self.host, self.settings.webhook_port, WebhookConfigError,
                              shutdown_timeout=self._drain_timeout, auto_decompress=False,
                              keepalive_timeout=IDLE_SECONDS, access_log=None)
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("webhook: listening on %s (auth: %s)", self.url, self.auth)
        if self.on_ready is not None:
            self.on_ready(self)

    async def run(self) -> None:
        await self.stopping.wait()

    async def stop(self) -> None:
        """Stop accepting connections, let in-flight requests finish, then let run() return
        (serve() then flushes and closes the producer)."""
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._stop_server())
        await asyncio.shield(self._shutdown)
        await super().stop()

    async def _stop_server(self) -> None:
        runner = self._runner
        self._draining = True
        if runner is not None:
            # Close the listener first and let the requests in flight finish, including those
            # whose body is still arriving: aiohttp's own shutdown (runner.cleanup) stops
            # reading from every connection at once, which would strand them until its timeout.
            for site in list(runner.sites):
                await site.stop()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._drain_timeout
            while self._inflight and loop.time() < deadline:
                await asyncio.sleep(0.02)
            if self._inflight:
                log.warning("webhook: %d requests still in flight after %.0f s; closing them",
                            self._inflight, self._drain_timeout)
            self._runner = None
            await runner.cleanup()  # closes idle keep-alive connections
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def close(self) -> None:
        if self._runner is not None:
            await self.stop()
        await super().close()

    # -- middleware and transport checks ----------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """No stack trace, secret or body ever leaves: unexpected errors become a bare 500.

        Also counts the requests in flight, and closes connections after their answer once
        the collector is stopping."""
        self._inflight += 1
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status == 413:
                self._refuse("payload_too_large")
            headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            error = _HTTP_ERRORS.get(exc.status, "http_error")
            response = _error(exc.status, error, exc.reason, headers=headers)
        except asyncio.CancelledError:
            raise
        except ConnectionResetError:  # the client went away mid-request: not our error
            log.info("webhook: client disconnected during %s %s", request.method, request.path)
            response = web.json_response({"error": "internal"}, status=500)  # never delivered
        except Exception as exc:
            log.error("webhook: internal error on %s %s (%s)", request.method, request.path,
                      type(exc).__name__)
            response = web.json_response({"error": "internal"}, status=500)
        finally:
            self._inflight -= 1
        if self._draining:
            response.force_close()
        return response

    def _refuse(self, reason: str, n: int = 1) -> None:
        self.metrics.refused.labels(NAME, reason).inc(n)

    def _unauthorized(self) -> web.Response:
        self._refuse("unauthorized")
        needed = []
        if self._token:
            needed.append("Authorization: Bearer <token>")
        if self._secret and self.settings.webhook_require_timestamp:
            needed.append(f"{TIMESTAMP_HEADER}: <unix seconds> and {SIGNATURE_HEADER}: "
                          "sha256=<hex HMAC-SHA256 of '<timestamp>.' + the body>")
        elif self._secret:
            needed.append(f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body, or with "
                          f"{TIMESTAMP_HEADER}: <unix seconds> of '<timestamp>.' + the body>")
        headers = {"WWW-Authenticate": 'Bearer realm="veille"'} if self._token else None
        # The same answer whatever was missing or wrong (but see _signature_problem).
        return _error(401, "unauthorized", "missing or invalid credentials; required: "
                      + " and ".join(needed), headers=headers)

    def _stamp_refused(self, detail: str) -> web.Response:
        """401 for a timestamp that is malformed, or out of time or replayed though its
        signature is right: said, as it is the sender's to fix (its clock, or a new signature),
        and it tells a replayer nothing it did not know."""
        self._refuse("unauthorized")
        return _error(401, "unauthorized", detail)

    def _bearer_ok(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(_b(credentials.strip()), self._token)

    def _signature_problem(self, request: web.Request, body: bytes,
                           claimed: list[bytes]) -> web.Response | None:
        """None when the signature is right (or none is required), else the 401. A timestamped
        one is also claimed in SeenSignatures (appended to `claimed`: _post_mentions releases it
        unless the request is accepted)."""
        if self._secret is None:
            return None
        stamp = request.headers.get(TIMESTAMP_HEADER)
        if stamp is None and self.settings.webhook_require_timestamp:
            return self._unauthorized()
        if stamp is not None:
            stamp = stamp.strip()
            if not _TIMESTAMP_TEXT.fullmatch(stamp):
                return self._stamp_refused(
                    f"{TIMESTAMP_HEADER} must be the Unix seconds at which the request was signed "
                    f"(digits, e.g. {int(time.time())}; not milliseconds), not {stamp[:40]!r}")
        given = request.headers.get(SIGNATURE_HEADER, "").strip()
        if given[:7].lower() != "sha256=":
            return self._unauthorized()
        mac = hmac.new(self._secret, _signed(body, stamp), hashlib.sha256)
        if not hmac.compare_digest(_b(given[7:].strip().lower()), mac.hexdigest().encode("ascii")):
            return self._unauthorized()
        if stamp is None:
            return None  # the body-only signature (VEILLE_WEBHOOK_REQUIRE_TIMESTAMP unset)
        now = time.time()
        timestamp = int(stamp)
        if abs(now - timestamp) > self._tolerance:
            way = "behind" if timestamp < now else "ahead of"
            return self._stamp_refused(
                f"{TIMESTAMP_HEADER} {timestamp} is {abs(now - timestamp):.0f} s {way} the "
                f"server's clock, more than {self._tolerance:g} s either way: sign the request "
                "with the current time (and check the sender's clock)")
        key = mac.digest()  # covers the timestamp: the pair (timestamp, signature)
        why = self._seen.claim(timestamp, key, now, self._tolerance)
        if why == ACCEPTED:
            # The same request again: a sender's retry after a lost answer, or a replay. Either
            # way it is written once; a 2xx stops a retrying sender (a 401 told it to fail).
            self._refuse("duplicate")
            ids = "case_ids" if request.path == "/answers" else "ids"
            return web.json_response(
                {"accepted": 0, ids: [], "duplicate": True,
                 "detail": f"this request ({TIMESTAMP_HEADER} and {SIGNATURE_HEADER}) was accepted "
                           "already: it is not written again; sign each new request with its own "
                           "timestamp"}, status=200)
        if why == IN_FLIGHT:
            self._refuse("duplicate")
            return _error(
                503, "in_flight",
                "the same request is being written: send it again in a moment (it is then "
                "answered 200 if that one was accepted, else taken)",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, retry_after=RETRY_AFTER_SECONDS)
        if why is not None:
            return self._stamp_refused(
                f"{TIMESTAMP_HEADER} {timestamp} is older than the signatures this collector still "
                f"remembers (more than {self._seen.capacity} within {self._tolerance:g} s): sign "
                "the request again with the current time")
        claimed.append(key)
        return None

    def _precheck(self, request: web.Request) -> web.Response | None:
        """What can be refused from the headers alone: credentials, size, content type and
        content coding."""
        if not self._bearer_ok(request):
            return self._unauthorized()
        limit = self.settings.webhook_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            self._refuse("payload_too_large")
            return _error(413, "payload_too_large",
                          f"the body has {request.content_length} bytes, the limit is {limit}",
                          limit=limit)
        ctype = request.content_type.lower()
        if not (is_json_type(ctype) or ctype == FORM_TYPE):
            # multipart/form-data too: no-code tools send a form urlencoded (Zapier's "Form").
            self._refuse("unsupported")
            return _error(415, "unsupported_media_type",
                          f"Content-Type must be application/json or {FORM_TYPE}")
        charset = request.charset
        if ctype == FORM_TYPE and not is_utf8(charset):
            # Its %XX bytes would be read as UTF-8 all the same: refused rather than misread.
            self._refuse("unsupported")
            return _error(415, "unsupported_media_type",
                          f"a form body must be UTF-8, not charset={(charset or '')[:40]!r}")
        _, problem = content_coding(request.headers.getall("Content-Encoding", ()))
        if problem is not None:
            self._refuse("unsupported")
            return _error(415, "unsupported_content_encoding", problem,
                          headers={"Accept-Encoding": accept_encoding()})
        return None

    async def _expect(self, request: web.Request) -> web.StreamResponse | None:
        """`Expect: 100-continue` (curl on large bodies): refuse before the body is sent."""
        return await expect_continue(request, self._precheck, log, NAME)

    # -- endpoints --------------------------------------------------------------------------

    async def _post_mentions(self, request: web.Request) -> web.Response:
        return await self._signed_request(request, self._receive_mentions)

    async def _post_answers(self, request: web.Request) -> web.Response:
        return await self._signed_request(request, self._receive_answers)

    async def _signed_request(
            self, request: web.Request,
            receive: Callable[[web.Request, list[bytes]], Awaitable[web.Response]]) -> web.Response:
        """receive(), then a timestamped signature it claimed is accepted with its request
        (202), else released: the sender may send it again after a 503 or a 400."""
        response: web.Response | None = None
        claimed: list[bytes] = []
        try:
            response = await receive(request, claimed)
            return response
        finally:
            if claimed and response is not None and response.status == 202:
                self._seen.accept(claimed[0])
            elif claimed:
                self._seen.release(claimed[0])

    async def _read_items(self, request: web.Request, claimed: list[bytes], noun: str,
                          own_field: str) -> web.Response | tuple[list[Any], bool, int]:
        """What every POST does before its items are checked: the checks of the headers
        (_precheck), the body read within its bounds and decoded, its signature checked (and
        claimed), then parsed as a form (one item) or as JSON: one item, an array of them, or
        `{noun: [...]}` (an object without `own_field`, the field every item has). The refusal,
        or (the items, whether they may hold TooLongNumbers, the bytes the request holds)."""
        refused = self._precheck(request)
        if refused is not None:
            return refused
        limit = self.settings.webhook_max_body_bytes
        reserve = request.content_length if request.content_length is not None else limit
        if self._reading_bytes and self._reading_bytes + reserve > max(MAX_READING_BYTES, limit):
            self._refuse("overloaded")
            response = _error(
                503, "overloaded",
                "too many bodies are being received at once: nothing was accepted, send it again",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, retry_after=RETRY_AFTER_SECONDS)
            response.force_close()  # its body is not read: the connection cannot be reused
            return response
        self._reading_bytes += reserve
        try:
            async with asyncio.timeout(BODY_READ_SECONDS):
                raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self._refuse("payload_too_large")
            return _error(413, "payload_too_large", f"the body is larger than {limit} bytes",
                          limit=limit)
        except RequestPayloadError:  # the body ended before its announced length
            # aiohttp would read the rest of the body after the answer, meet the same error
            # again and reset the connection under the answer: the body is over, and so is the
            # connection once answered.
            request.content.feed_eof()
            self._refuse("undecodable_bytes")
            response = _error(400, "undecodable_bytes", "the body could not be read in full")
            response.force_close()
            return response
        except TimeoutError:  # a body still arriving (or never sent) after BODY_READ_SECONDS
            request.content.feed_eof()
            self._refuse("undecodable_bytes")
            response = _error(408, "request_timeout",
                              f"the body did not arrive in full within {BODY_READ_SECONDS:g} s")
            response.force_close()
            return response
        finally:
            self._reading_bytes -= reserve
        coding, _ = content_coding(request.headers.getall("Content-Encoding", ()))
        try:
            body = decode(raw, coding, limit)
        except BodyTooLarge as exc:
            self._refuse("payload_too_large")
            return _error(413, "payload_too_large", str(exc), limit=limit)
        except UndecodableBody as exc:
            self._refuse("undecodable_bytes")
            return _error(400, "undecodable_bytes",
                          f"the body does not decode as its Content-Encoding ({coding}) says: {exc}")
        refused = self._signature_problem(request, body, claimed)
        if refused is not None:
            return refused
        # What the request holds while it waits: its body (aiohttp keeps the bytes read, and a
        # decoded body is another copy), then its items.
        size = len(body) + (len(raw) if body is not raw else 0)
        if self._overloaded(size):
            return self._overload()

        if request.content_type.lower() == FORM_TYPE:  # one item, flat fields (Zapier's "Form")
            try:
                payload: Any = form_mention(body)
            except InvalidMention as exc:
                self._refuse(exc.reason)
                return _error(400, exc.reason, exc.detail, field=exc.field)
            form, too_long = True, False
        else:
            form = False
            refusal, payload, too_long = self._json_body(body)
            if refusal is not None:
                return refusal

        # The batch wrapper has no field of an item: a mention carrying a `mentions` field (a
        # Mastodon status lists the accounts it names) was taken for one, and 202 answered with
        # nothing written. (A form is one item whatever its fields.)
        if (not form and isinstance(payload, dict) and noun in payload
                and own_field not in payload):
            items = payload[noun]
            if not isinstance(items, list):
                self._refuse("invalid_field")
                return _error(400, "invalid_field", f"{noun} must be an array", field=noun)
        elif isinstance(payload, list):
            items = payload
        else:
            items = [payload]
        if len(items) > MAX_REQUEST_MENTIONS:
            self._refuse("too_many_items")
            return _error(413, "too_many_items",
                          f"the request has {len(items)} {noun}, the limit is "
                          f"{MAX_REQUEST_MENTIONS}: send them in several requests",
                          limit=MAX_REQUEST_MENTIONS)
        return items, too_long, size

    def _refused_items(self, errors: list[dict[str, Any]], total: int) -> web.Response:
        """The 400 of a request with invalid items: the first named, the others listed."""
        for e in errors:
            self._refuse(e["error"])
        first = errors[0]
        # The field quoted and cut: its path holds the client's own keys (`extra.<key>`), and
        # a key with a line break wrote a line of its choosing in the log (until 2026-12-06).
        log.info("webhook: refused a request of %d items, %d invalid (first: #%d %s %.80r)",
                 total, len(errors), first["index"], first["error"], first["field"])
        return web.json_response(
            {**first, "invalid_items": len(errors), "errors": errors[:50], "accepted": 0},
            status=400)

    async def _write_held(self, items: Sequence[RawMention | Record],
                          size: int) -> web.Response | None:
        """_write(items), `size` bytes counted as waiting meanwhile (_overloaded); None once the
        broker acknowledged them, else the 503 to answer."""
        self._waiting_bytes += size
        try:
            await self._write(items)
        except BrokerUnavailable:
            return self._unavailable()
        finally:
            self._waiting_bytes -= size
        return None

    def _unavailable(self) -> web.Response:
        return _error(
            503, "broker_unavailable",
            "the broker did not acknowledge the write: nothing was accepted, send it again",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, retry_after=RETRY_AFTER_SECONDS)

    async def _receive_mentions(self, request: web.Request, claimed: list[bytes]) -> web.Response:
        read = await self._read_items(request, claimed, "mentions", "text")
        if isinstance(read, web.Response):
            return read
        items, too_long, size = read
        self.metrics.fetched.labels(NAME).inc(len(items))
        # Refused before its items are checked when they could not wait for the broker even all
        # valid (the one test of it: nothing awaits between here and the write). Checking 5,000
        # mentions takes the event loop about 0.2 s, which until 2026-12-06 was spent on every
        # request then refused as overloaded.
        size += MENTION_HELD_BYTES * len(items)
        if self._overloaded(size) or self._too_late(len(items)):
            return self._overload()

        mentions, errors = self._validate(items, too_long)
        if errors:
            return self._refused_items(errors, len(items))
        if not mentions:
            return web.json_response({"accepted": 0, "ids": []}, status=202)
        # Only the mentions wait for the broker: the parsed body (unknown fields included, about
        # 25 times the bytes for a body of small JSON values) is let go first.
        del items, read
        refused = await self._write_held(mentions, size)
        if refused is not None:
            return refused
        return web.json_response({"accepted": len(mentions), "ids": [m.id for m in mentions]},
                                 status=202)

    async def _receive_answers(self, request: web.Request, claimed: list[bytes]) -> web.Response:
        """POST /answers: the brand's answers on a platform as `replied` decisions (answer)."""
        read = await self._read_items(request, claimed, "answers", "mention_id")
        if isinstance(read, web.Response):
            return read
        items, too_long, size = read
        size += MENTION_HELD_BYTES * len(items)
        if self._overloaded(size) or self._too_late(len(items)):
            return self._overload()
        now = datetime.now(UTC)
        records: list[Record] = []
        errors: list[dict[str, Any]] = []
        for index, obj in enumerate(items):
            try:
                if too_long:
                    _too_long(obj)
                records.append(self._answer(obj, now))
            except InvalidMention as exc:
                errors.append({"error": exc.reason, "detail": exc.detail, "field": exc.field,
                               "index": index})
        if errors:
            return self._refused_items(errors, len(items))
        if not records:
            return web.json_response({"accepted": 0, "case_ids": []}, status=202)
        del items, read
        refused = await self._write_held(records, size)
        if refused is not None:
            return refused
        self.metrics.answers_sent.labels(NAME).inc(len(records))
        log.info("webhook: %d %s sent to %s", len(records), answers_noun(len(records)),
                 records[0].topic)
        return web.json_response(
            {"accepted": len(records), "case_ids": [r.key.decode("utf-8") for r in records]},
            status=202)

    def _answer(self, obj: Any, now: datetime) -> Record:
        """An answer pushed to /answers as its `replied` decision's record (see ANSWER_FIELDS),
        checked as the moderation agent checks one; InvalidMention naming the answer's field if
        not."""
        if not isinstance(obj, dict):
            raise InvalidMention("not_an_object",
                                 f"expected a JSON object, got {type(obj).__name__}")
        unknown = [k for k in obj if k not in ANSWER_FIELDS]
        if unknown:
            names = ", ".join(repr(k[:60]) for k in unknown[:5])
            raise InvalidMention(
                "invalid_field", f"unknown fields {names}: an answer has "
                f"{', '.join(ANSWER_FIELDS)}", unknown[0][:60])
        # No-code tools (Zapier, IFTTT, Make) send an unmapped field as "": as absent.
        item = {k: v for k, v in obj.items()
                if v is not None and not (isinstance(v, str) and not v.strip())}
        for name in ("mention_id", "answered_at", "platform"):
            if name not in item:
                raise InvalidMention("missing_field", f"{name} is required", name)
        for name in ("mention_id", "platform", "by", "url"):
            if name in item and not isinstance(item[name], str):
                raise InvalidMention("invalid_field", f"{name} must be a string", name)
        platform = item["platform"].strip().lower()
        if not PLATFORM.fullmatch(platform):
            raise InvalidMention(
                "invalid_field", f"platform {shown(item['platform'], 40)} is no platform name "
                "(a letter, then letters, digits, _ and -, at most 32 characters: the mention's "
                "platform, e.g. facebook)", "platform")
        answered_at = parse_time(self._time_field(item, "answered_at"), "answered_at")
        # The agent ignores as `invalid` a decision dated more than MAX_CLOCK_SKEW_SECONDS after
        # its record was written: refused here, not a 202 for a decision that is then dropped.
        ahead = min(self.limits.max_future.total_seconds(), MAX_CLOCK_SKEW_SECONDS)
        if (answered_at - now).total_seconds() > ahead:
            raise InvalidMention(
                "invalid_field", f"answered_at {iso(answered_at)} is more than {ahead:g} s ahead "
                "of now (the moderation agent's limit, or VEILLE_MAX_FUTURE_SECONDS if lower): "
                "the agent would ignore it (a clock or VEILLE_WEBHOOK_TIMEZONE off?)", "answered_at")
        bad = NAME_FORBIDDEN.search(item.get("by", ""))
        if bad is not None:  # the sender's to mend (a collector clears a platform's names)
            raise InvalidMention("invalid_field", f"by holds the control character "
                                                  f"U+{ord(bad.group()):04X}", "by")
        url = item.get("url")
        if url is not None and not is_web_address(url):
            raise InvalidMention("invalid_field", "url must be an http(s) address", "url")
        decision = answer(item["mention_id"], by=item.get("by", f"{platform} page").strip(),
                          at=answered_at, platform=platform,
                          reason=None if url is None else url.strip())
        try:
            return answer_record(self.settings, decision)
        except DecisionError as exc:
            field = _DECISION_FIELDS.get(exc.detail.split(" ", 1)[0])
            raise InvalidMention("invalid_field", f"as a decision: {exc.detail}", field) from None

    def _time_field(self, item: dict[str, Any], name: str) -> Any:
        """item[name], a time as platforms and no-code tools write them (common_time) in ISO
        8601; InvalidMention when it names no offset and VEILLE_WEBHOOK_TIMEZONE is unset."""
        value = item.get(name)
        if not isinstance(value, str):
            return value
        try:
            return common_time(value, self._local) or value
        except NoOffset:
            raise InvalidMention(
                "invalid_field",
                f"{name} {value.strip()[:60]!r} names no offset or time zone: set "
                "VEILLE_WEBHOOK_TIMEZONE to the zone it is written in (IFTTT: its "
                "account's, e.g. Europe/Paris), or send it with its offset",
                name) from None

    def _json_body(self, body: bytes) -> tuple[web.Response | None, Any, bool]:
        """(refusal or None, the body's JSON value, whether it holds TooLongNumbers)."""
        try:
            # A byte order mark is allowed (RFC 8259 lets a parser ignore it; some tools on
            # Windows write one): it was a 400 invalid_json "Unexpected UTF-8 BOM".
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self._refuse("undecodable_bytes")
            return _error(400, "undecodable_bytes", f"the body is not UTF-8 (byte {exc.start})"
                          ), None, False
        try:
            # A raw newline or tab inside a string is read as itself: IFTTT's "Make a web
            # request" pastes its ingredients into the body unescaped, and a multi-line text
            # (an RSS description, a caption) was a 400 "Invalid control character", lost.
            payload, too_long = loads(text, strict=False)
        except RecursionError:
            self._refuse("invalid_json")
            return _error(400, "invalid_json", "JSON nested too deeply"), None, False
        except ValueError as exc:
            self._refuse("invalid_json")
            detail = str(exc)[:200] if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
            return _error(400, "invalid_json", detail), None, False
        return None, payload, too_long

    def _overloaded(self, size: int) -> bool:
        """True when a request holding `size` bytes may not wait for the broker now (one may,
        whatever its size: the body limit bounds it)."""
        return bool(self._waiting_bytes) and self._waiting_bytes + size > max(
            MAX_WAITING_BYTES, self.settings.webhook_max_body_bytes)

    def _too_late(self, n: int) -> bool:
        """True when the writes already queued would take the broker, at its recent pace, past
        this request's ack timeout: refused at once (503 overloaded) rather than after waiting
        out its deadline in the queue."""
        if not self._write_seconds or not self._queue:
            return False
        queued = n + sum(len(ms) for ms, _, _ in self._queue)
        writes = -(-queued // MAX_GROUP_MENTIONS) + (self._writer is not None
                                                     and not self._writer.done())
        return writes * self._write_seconds > self.ack_timeout

    def _overload(self) -> web.Response:
        self._refuse("overloaded")
        return _error(
            503, "overloaded",
            "too many requests are waiting for the broker: nothing was accepted, send it again",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, retry_after=RETRY_AFTER_SECONDS)

    def _validate(self, items: list[Any], too_long: bool = False
                  ) -> tuple[list[RawMention], list[dict[str, Any]]]:
        """`too_long`: the items may hold TooLongNumber markers (see veille.httpbody.loads)."""
        now = datetime.now(UTC)
        mentions: list[RawMention] = []
        errors: list[dict[str, Any]] = []
        for index, obj in enumerate(items):
            try:
                if too_long:
                    _too_long(obj)
                mentions.append(self._mention(obj, now))
            except InvalidMention as exc:
                field = exc.field or ("created_at" if exc.reason.startswith("created_at") else None)
                errors.append({"error": exc.reason, "detail": exc.detail, "field": field,
                               "index": index})
        return mentions, errors

    def _mention(self, obj: Any, now: datetime) -> RawMention:
        if not isinstance(obj, dict):
            raise InvalidMention("not_an_object",
                                 f"expected a JSON object, got {type(obj).__name__}")
        # No-code tools (Zapier, IFTTT, Make) send an unmapped field as "": as absent.
        item = gather_audience({k: v for k, v in obj.items()
                                if not (k in _BLANK_IS_ABSENT and isinstance(v, str) and not v.strip())})
        if item.get("source") is None:
            item["source"] = NAME
        if "brands" in item:  # "acme, boreal" from a no-code tool's field: the list it says
            item["brands"] = brand_list(item["brands"])
        derive = item.get("id") is None
        if derive:
            item["id"] = _PENDING_ID
        if item.get("collected_at") is None:
            item["collected_at"] = iso(now)
        try:
            # (In the try: found in review, a 20-digit year in an RFC 2822 date, or a count of
            # 5,000 digits, raised past it, and the whole request got a 500 naming no item.)
            for name in ("created_at", "collected_at"):
                if name in item:
                    item[name] = self._time_field(item, name)
            audience = item.get("audience")
            if isinstance(audience, dict):  # "1,234" followers: a number written as text
                item["audience"] = {k: _count(v) for k, v in audience.items()}
            m = mention_from_dict(item, now=now, limits=self.limits)
        except InvalidMention:
            raise
        except (OverflowError, ValueError, TypeError):
            # e.g. a created_at in year 1 or 9999 with an offset overflows in astimezone().
            raise InvalidMention("invalid_field", "a time of the item is out of range") from None
        return replace(m, id=derive_id(m)) if derive else m

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        """Ready when the broker answers a metadata request and the last write succeeded.

        After a failed write the collector stays unready for RETRY_AFTER_SECONDS, then the
        metadata probe alone decides again: a load balancer that stopped sending traffic
        must be able to bring it back, and the next write tells the truth anyway.
        """
        if self._runner is None or self._draining:
            return web.json_response({"status": "stopping"}, status=503)
        if self._last_write_ok is False and time.monotonic() - self._last_failure < RETRY_AFTER_SECONDS:
            return web.json_response(
                {"status": "unavailable", "detail": "the last write to the broker failed"},
                status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        problem = await self._shared_broker_problem()
        if problem is not None:
            return web.json_response(
                {"status": "unavailable", "detail": problem},
                status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return web.json_response({"status": "ready"})

    async def _shared_broker_problem(self) -> str | None:
        """_broker_problem(), one probe at a time: the requests that come while it runs, and
        for PROBE_REUSE_SECONDS after it ended, get its verdict (a flood of /readyz made a
        thread and a broker connection per request)."""
        loop = asyncio.get_running_loop()
        probe = self._probe
        if probe is None or (probe.done()
                             and loop.time() - self._probe_ended >= PROBE_REUSE_SECONDS):
            async def timed() -> str | None:
                try:
                    return await self._broker_problem()
                finally:
                    self._probe_ended = loop.time()

            probe = self._probe = asyncio.ensure_future(timed())
            # Its outcome read even when every waiting client went away: an exception left
            # unread is logged by asyncio as "never retrieved" (found in review, 2026-12-06).
            probe.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: a client that goes away cancels its own wait, not the others' probe.
        return await asyncio.shield(probe)

    async def _broker_problem(self) -> str | None:
        """None when one of the bootstrap servers answers (the producer starts from any of them;
        only the first was asked until 2026-12-05: that broker down, every collector was unready
        while their writes went through); else why not. All are asked at once, within
        ANSWER_TIMEOUT all told: asked in turn until 2026-12-06, each silent or dead server
        before a live one delayed every answer by ANSWER_TIMEOUT.

        Plaintext: a bare Metadata request. TLS or SASL: a connection made as the producer makes
        it, TLS handshake and SASL sign-in included, then a Metadata request (until 2026-12-06
        only the handshake: a wrong SASL password read as ready). Only until it first signs in:
        then the handshake alone, as before. A sign-in on every request made a new TLS connection
        and a SASL authentication per load balancer or kubelet hit, up to three connections of
        PROBE_TIMEOUT each per server (found in review), and the settings do not change while
        the collector runs."""
        plaintext = self.settings.broker_security_protocol == "PLAINTEXT"
        if not plaintext and not self._signed_in:
            signed_in, problem = await sign_in(self.settings, timeout=PROBE_TIMEOUT)
            self._signed_in = signed_in
            return None if signed_in else problem or "the broker does not answer"
        context = self.settings.ssl_context()

        def answers(host: str, port: int, timeout: float) -> bool:
            if plaintext:
                return metadata_answers(host, port, timeout)
            # TLS or SASL: a bare Metadata request gets no answer
            return secure_endpoint_answers(host, port, context, timeout)

        if await any_answers(self.settings.broker_addresses, answers, ANSWER_TIMEOUT):
            return None
        return "the broker does not answer"

    async def _metrics(self, request: web.Request) -> web.Response:
        headers, body = scrape(self.metrics.registry, request.headers.get("Accept"),
                               request.headers.get("Accept-Encoding"), request.query_string)
        return web.Response(body=body, headers=headers)

    # -- writes: group commit ---------------------------------------------------------------

    async def _write(self, mentions: Sequence[RawMention | Record]) -> None:
        """Return once the broker acknowledged `mentions` (and records: /answers' decisions),
        or raise BrokerUnavailable.

        Requests that arrive while a write is in flight are written together by the next one
        (one flush, one round trip): concurrency then raises throughput instead of queueing
        behind the sink's lock. A failed group fails every request in it: none gets a 202.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((mentions, future, loop.time() + self.ack_timeout))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        # One ack timeout per request, from its arrival. Queued behind a slow or failing write
        # it would otherwise wait for that write and then for its own (twice the timeout, seen
        # in the broker outage test): still queued at its deadline, it is withdrawn and never
        # written. In a write already under way it waits for that write's outcome, which the
        # writer bounds by the earliest deadline of its group, so a 503 always means "not
        # written" and a 202 "written".
        try:
            await asyncio.wait_for(asyncio.shield(future), self.ack_timeout)
        except TimeoutError:
            for i, queued in enumerate(self._queue):
                if queued[1] is future:
                    del self._queue[i]
                    future.cancel()
                    raise BrokerUnavailable("ack_timeout") from None
            await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            group: list[tuple[Sequence[RawMention | Record], asyncio.Future[None], float]] = []
            count = 0
            need = max(0.5, self._write_seconds)
            while self._queue and (not group or count + len(self._queue[0][0]) <= MAX_GROUP_MENTIONS):
                item = self._queue.pop(0)
                if item[2] - loop.time() < need and not item[1].done():
                    # Too little of its ack timeout left for a write at the broker's recent
                    # pace: answered now (503), unwritten, rather than cutting a whole group's
                    # write short. Until 2026-12-05 such a request at the head of every group,
                    # under a sustained overload with a broker taking over half a second a
                    # write, failed every group whole: nothing was accepted while the broker was
                    # merely slow (congestion collapse; found in review).
                    item[1].set_exception(BrokerUnavailable("ack_timeout"))
                    continue
                if item[1].done():  # answered already (its own deadline)
                    continue
                group.append(item)
                count += len(item[0])
            if not group:
                continue
            batch = [m for ms, _, _ in group for m in ms if isinstance(m, RawMention)]
            records = [r for ms, _, _ in group for r in ms if isinstance(r, Record)]
            # The write ends by the earliest deadline of its requests (half a second at least:
            # a write needs one round trip), so none of them waits past its ack timeout; a
            # request with less time left than a write takes lately was answered above.
            timeout = max(0.5, min(d for _, _, d in group) - loop.time())
            started = loop.time()
            try:
                await self.sink.send(batch, timeout=timeout, records=records)
            except BaseException as exc:
                self._last_write_ok = False
                self._last_failure = time.monotonic()
                for _, future, _ in group:
                    if not future.done():
                        future.set_exception(BrokerUnavailable(type(exc).__name__))
                if not isinstance(exc, Exception):
                    for _, future, _ in self._queue:
                        if not future.done():
                            future.set_exception(BrokerUnavailable("stopped"))
                    self._queue.clear()
                    raise
                continue
            self._last_write_ok = True
            took = loop.time() - started
            self._write_seconds = took if not self._write_seconds else (
                0.7 * self._write_seconds + 0.3 * took)
            for _, future, _ in group:
                if not future.done():
                    future.set_result(None)


async def run_webhook(settings: Settings, *, ack_timeout: float = ACK_TIMEOUT_SECONDS) -> None:
    """`veille collect webhook`: serve until SIGTERM/SIGINT, then flush and close."""
    metrics = CollectorMetrics(CollectorRegistry())

    def announce(c: WebhookCollector) -> None:
        say(f"veille webhook: POST {c.url}/mentions and /answers (auth: {c.auth}); "
            f"health {c.url}/healthz, metrics {c.url}/metrics; Ctrl-C stops it")

    collector = WebhookCollector(settings, metrics, ack_timeout=ack_timeout, on_ready=announce)
    await collector.serve()


def main(argv: list[str] | None = None) -> int:
    """`python -m veille.collectors.webhook` is `veille collect webhook`: one parser, one error policy."""
    from veille.cli import main as cli

    return cli(["collect", "webhook", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
