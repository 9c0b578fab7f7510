"""Bluesky Jetstream events, and the cursor of a collector following them. Pure: no Kafka, no
HTTP (veille.collectors.jetstream reads the socket and sends).

A Jetstream event is one JSON text message: `{"did", "time_us", "kind", "commit": {"operation",
"collection", "rkey", "record", "cid", "rev"}}`. read_event tells a post created (Post), an
event to ignore (an `identity` or `account` event, a commit that updates or deletes, another
collection), or refuses it (Refused, with a reason of streams.records.DLQ_REASONS and, when it
has one, its time_us: the cursor moves past a malformed event too).

CursorBook is the cursor bookkeeping: the newest time_us read, the newest one that may be saved
(every post read up to it that named a brand acknowledged by the broker), the mentions waiting
for the broker, and the ids sent within the rewind window below the saved cursor (a restart or
a reconnection asks from the cursor less the rewind, and those posts are not sent twice).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from streams.records import DLQ_REASONS

POST_COLLECTION = "app.bsky.feed.post"
#: An event larger than this is refused (payload_too_large); the server is asked not to send
#: any (Jetstream's `maxMessageSizeBytes`). A post's record is a few kilobytes at the most.
MAX_EVENT_BYTES = 256 * 1024
#: time_us outside these (2001-09-09 .. 2286-11-20) is no Jetstream time.
MIN_TIME_US = 10**15
MAX_TIME_US = 10**16
#: Ids of the mentions sent kept for the rewind window (the oldest forgotten first beyond it).
MAX_RECENT = 20_000
STATE_VERSION = 1
#: A DID (did:plc:..., did:web:...), as the Bluesky collector reads one in an at:// URI.
_DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}")
#: A record key (1-512 characters of this set; "." and ".." are none).
_RKEY = re.compile(r"[A-Za-z0-9._~:-]{1,512}")
#: The at:// URI of a post whose authority is a DID (a reply's parent, Post.parent).
_POST_URI = re.compile(r"at://(" + _DID.pattern + r")/app\.bsky\.feed\.post/(" + _RKEY.pattern + ")")


class Refused(ValueError):
    """An event that cannot be read: `reason` (one of DLQ_REASONS, or payload_too_large,
    unsupported), a `detail` for the log, and its `time_us` when it gave a valid one."""

    def __init__(self, reason: str, detail: str, time_us: int | None = None) -> None:
        assert reason in DLQ_REASONS or reason in ("payload_too_large", "unsupported"), reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.time_us = time_us


@dataclass(frozen=True)
class Post:
    """A post created, as a Jetstream commit gives it."""

    time_us: int
    did: str
    rkey: str
    record: dict[str, Any]

    @property
    def uri(self) -> str:
        return f"at://{self.did}/{POST_COLLECTION}/{self.rkey}"

    @property
    def text(self) -> str:
        """The record's text ("" when it has none, or one that is no string: an image alone)."""
        text = self.record.get("text")
        return text if isinstance(text, str) else ""

    @property
    def parent(self) -> str | None:
        """The at:// URI of the post this one replies to (its record's `reply.parent.uri`), when
        it is a post's URI whose authority is a DID; None for a post that is no reply, or whose
        parent cannot be told (a handle as authority, another collection, a malformed one)."""
        reply = self.record.get("reply")
        parent = reply.get("parent") if isinstance(reply, dict) else None
        uri = parent.get("uri") if isinstance(parent, dict) else None
        if not isinstance(uri, str) or len(uri) > 2600:
            return None
        m = _POST_URI.fullmatch(uri)
        return uri if m and m.group(2) not in (".", "..") else None

    @property
    def parent_author(self) -> str | None:
        """The DID of the author of the post this one replies to (the authority of `parent`)."""
        parent = self.parent
        return parent[len("at://"):].split("/", 1)[0] if parent is not None else None

    def view(self) -> dict[str, Any]:
        """The post as a PostView of app.bsky.feed.searchPosts, for the Bluesky collector's
        mapping (veille.collectors.bluesky.post_to_dict): its URI, its record, its author's DID
        (Jetstream gives no handle) and no audience figures (none exist when a post is made)."""
        return {"uri": self.uri, "record": self.record, "author": {"did": self.did}}


def _time_us(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and MIN_TIME_US <= value < MAX_TIME_US:
        return value
    return None


def read_event(raw: str | bytes) -> tuple[int, Post | None]:
    """A text message of Jetstream as (its time_us, the post it creates or None for an event
    to ignore), or Refused."""
    if isinstance(raw, bytes):
        raise Refused("unsupported", "a binary message (compressed events are not asked for)")
    if len(raw) > MAX_EVENT_BYTES // 4 and len(raw.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
        raise Refused("payload_too_large", f"an event of more than {MAX_EVENT_BYTES} bytes")
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Refused("invalid_json", f"{type(exc).__name__}: {str(exc)[:120]}") from None
    if not isinstance(event, dict):
        raise Refused("not_an_object", f"an event must be an object, not {type(event).__name__}")
    time_us = _time_us(event.get("time_us"))
    if time_us is None:
        raise Refused("invalid_field" if "time_us" in event else "missing_field",
                      f"time_us {str(event.get('time_us'))[:40]!r} is no time in microseconds")
    kind = event.get("kind")
    if kind != "commit":
        if isinstance(kind, str):
            return time_us, None  # identity, account, and kinds to come
        raise Refused("invalid_field" if "kind" in event else "missing_field",
                      f"kind {str(kind)[:40]!r} is no event kind", time_us)
    commit = event.get("commit")
    if not isinstance(commit, dict):
        raise Refused("missing_field" if commit is None else "invalid_field",
                      "a commit event without a commit object", time_us)
    if commit.get("operation") != "create" or commit.get("collection") != POST_COLLECTION:
        return time_us, None  # updates, deletes, likes, follows...
    did = event.get("did")
    if not isinstance(did, str) or not _DID.fullmatch(did):
        raise Refused("invalid_field" if did is not None else "missing_field",
                      f"did {str(did)[:80]!r} is no DID", time_us)
    rkey = commit.get("rkey")
    if not isinstance(rkey, str) or not _RKEY.fullmatch(rkey) or rkey in (".", ".."):
        raise Refused("invalid_field" if rkey is not None else "missing_field",
                      f"rkey {str(rkey)[:80]!r} is no record key", time_us)
    record = commit.get("record")
    if not isinstance(record, dict):
        raise Refused("missing_field" if record is None else "invalid_field",
                      "the commit creates no record object", time_us)
    return time_us, Post(time_us, did, rkey, record)


class CursorBook:
    """Where the stream is: `read`, the newest time_us read; `acked`, the cursor that may be
    saved (every post up to it that named a brand acknowledged by the broker); the mentions
    waiting for the broker (`pending`: id -> time_us); `recent`, the ids sent whose time_us is
    within `rewind_us` below `acked` (not sent again when the stream is read again from
    `acked - rewind_us`)."""

    def __init__(self, acked: int | None = None, recent: dict[str, int] | None = None,
                 rewind_us: int = 5_000_000) -> None:
        self.acked = acked
        self.read = acked
        self.rewind_us = rewind_us
        self.recent: dict[str, int] = dict(recent or {})
        self.pending: dict[str, int] = {}
        #: Moves whenever what state() gives changes (the collector saves it then).
        self.version = 0
        self._trim()

    def resume_from(self) -> int | None:
        """The cursor to connect with: `acked` less the rewind, None (live) without one."""
        return None if self.acked is None else max(self.acked - self.rewind_us, 0)

    def seen(self, mention_id: str) -> bool:
        """True for a mention already sent (the rewind) or waiting for the broker."""
        return mention_id in self.recent or mention_id in self.pending

    def event(self, time_us: int, ceiling: int | None = None) -> None:
        """An event read (matched or not): with no mention waiting, the cursor moves to it (to
        `ceiling` at the most: the clock, a little ahead)."""
        if ceiling is not None:
            time_us = min(time_us, ceiling)
        if self.read is None or time_us > self.read:
            self.read = time_us
        if not self.pending and self.acked != self.read:
            self.acked = self.read
            self.version += 1

    def add(self, mention_id: str, time_us: int) -> None:
        """A post naming a brand, to be sent: the cursor waits for the broker."""
        self.pending[mention_id] = time_us

    def sent(self) -> None:
        """The broker acknowledged every pending mention: the cursor moves to the newest event
        read, and their ids are remembered for the rewind."""
        self.recent.update(self.pending)
        self.pending.clear()
        self.acked = self.read
        self.version += 1
        self._trim()

    def dropped(self) -> None:
        """The broker did not take the pending mentions: they are forgotten, and the stream
        must be read again from `acked` (resume_from)."""
        self.pending.clear()
        self.read = self.acked

    def _trim(self) -> None:
        if self.acked is not None:
            start = self.acked - self.rewind_us
            self.recent = {k: t for k, t in self.recent.items() if t >= start}
        if len(self.recent) > MAX_RECENT:
            self.recent = dict(sorted(self.recent.items(), key=lambda kv: kv[1])[-MAX_RECENT:])

    def state(self) -> dict[str, Any]:
        """What is saved: the acknowledged cursor and the ids of its rewind window."""
        return {"version": STATE_VERSION, "cursor": self.acked, "recent": dict(self.recent)}

    @classmethod
    def from_state(cls, data: Any, rewind_us: int, ceiling: int | None = None) -> CursorBook:
        """A book from a saved state (a fresh one, live, from anything else); a cursor above
        `ceiling` (the clock, a little ahead) is taken as `ceiling`: one far ahead (a state
        written with the clock wrong, or by hand) was kept for ever, no event ever moving it,
        and every restart asked Jetstream from the future."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return cls(rewind_us=rewind_us)
        recent = data.get("recent")
        ids = {k: t for k, v in (recent.items() if isinstance(recent, dict) else [])
               if isinstance(k, str) and len(k) <= 200 and (t := _time_us(v)) is not None}
        cursor = _time_us(data.get("cursor"))
        if cursor is not None and ceiling is not None:
            cursor = min(cursor, ceiling)
        return cls(cursor, ids, rewind_us)
