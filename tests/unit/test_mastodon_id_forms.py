"""The Mastodon collector on servers of the same API whose status ids are not Mastodon's numbers,
each a real local HTTP server ordering its ids as that software does: GoToSocial (ULIDs, compared
as strings) and Pleroma / Akkoma (FlakeIds, base62 128-bit numbers). Their statuses are collected,
paged forward, resumed after a restart without sending anything twice; a hostile id is refused
and never the cursor; a server whose ids change form (another software at the same address)
does not leave the hashtag blind."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from tests.http_helpers import serve
from veille.collectors.mastodon import (
    MastodonCollector,
    id_after,
    lookback_id,
    newer,
    status_key,
    valid_status_id,
)
from veille.metrics import CollectorMetrics
from veille.settings import Settings

ROUTE = "/api/v1/timelines/tag/{tag}"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_serial = itertools.count(1)


def encode(value: int, alphabet: str, width: int = 0) -> str:
    out = ""
    while value:
        value, rest = divmod(value, len(alphabet))
        out = alphabet[rest] + out
    return out.rjust(width, alphabet[0]) or alphabet[0]


def ulid(t: float) -> str:
    """A GoToSocial id of time `t` (Unix seconds): 48 bits of milliseconds, 80 of randomness."""
    return encode(int(t * 1000), CROCKFORD, 10) + encode(next(_serial) * 7919, CROCKFORD, 16)


def flake(t: float) -> str:
    """A Pleroma / Akkoma FlakeId of time `t`: 64 bits of milliseconds, 48 of worker, 16 of
    sequence, in base62."""
    return encode((int(t * 1000) << 64) | (0xA1B2C3D4E5F6 << 16) | next(_serial) % 65536, BASE62)


def snowflake(t: float) -> str:
    return str(int(t * 1000) << 16)


#: How each server software orders its ids in its database: GoToSocial's ULIDs are text,
#: Pleroma's FlakeIds 128-bit numbers (a base62 string of a number not one of its ids, e.g. a
#: Mastodon id, read as the number itself, as Pleroma reads its old integer ids).
ORDER: dict[str, Callable[[str], Any]] = {
    "gotosocial": lambda sid: sid,
    "pleroma": lambda sid: (len(sid), sid),
    "mastodon": int,
}
MAKE = {"gotosocial": ulid, "pleroma": flake, "mastodon": snowflake}


def status(sid: str, name: str, t: float) -> dict[str, Any]:
    return {"id": sid, "uri": f"https://f.example/objects/{name}",
            "url": f"https://f.example/@a/{name}", "visibility": "public",
            "created_at": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"),
            "content": f"<p>Acme {name}</p>", "account": {"acct": "a@f.example"}}


@dataclass
class Server:
    """GET /api/v1/timelines/tag/{tag} with min_id / max_id / limit, paging as Mastodon does,
    ordering ids as `software` does."""

    software: str
    timelines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    queries: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)  # in every answer, first

    def add(self, tag: str, *statuses: dict[str, Any]) -> None:
        self.timelines.setdefault(tag, []).extend(statuses)

    def post(self, tag: str, name: str, t: float) -> dict[str, Any]:
        posted = status(MAKE[self.software](t), name, t)
        self.add(tag, posted)
        return posted

    async def handle(self, request: web.Request) -> web.Response:
        tag, q = request.match_info["tag"], request.query
        self.queries.append((tag, dict(q)))
        key = ORDER[self.software]
        statuses = sorted(self.timelines.get(tag, []), key=lambda s: key(s["id"]), reverse=True)
        limit = min(int(q.get("limit", 20)), 40)
        if "max_id" in q:
            statuses = [s for s in statuses if key(s["id"]) < key(q["max_id"])]
        if "min_id" in q:  # the statuses right after min_id, newest first
            statuses = [s for s in statuses if key(s["id"]) > key(q["min_id"])][-limit:]
        return web.json_response([*self.broken, *statuses[:limit]])


def new_collector(tmp_path: Path, base: str, hashtags: list[str],
                  **kwargs: Any) -> tuple[MastodonCollector, ListSink]:
    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"),
                                           mastodon_url=base, collector_metrics_port=0)
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "mastodon", metrics)
    return MastodonCollector(settings, metrics, sink, hashtags=hashtags, **kwargs), sink


def refused(c: MastodonCollector, reason: str) -> float:
    value = c.metrics.registry.get_sample_value(
        "veille_collector_items_refused_total", {"collector": "mastodon", "reason": reason})
    return value or 0.0


async def rounds(c: MastodonCollector, n: int) -> list[int]:
    return [(await c.poll_round()).sent for _ in range(n)]


SOFTWARE = ["gotosocial", "pleroma"]


@pytest.mark.parametrize("software", SOFTWARE)
def test_statuses_are_collected_paged_forward_and_resumed_once(
        tmp_path: Path, software: str) -> None:
    """Until 2026-12-06 every status of these servers was refused (`invalid_field`): their ids
    are not decimal numbers, and nothing was ever collected from them."""
    srv = Server(software)
    t0 = time.time() - 600  # statuses of the last minutes, a second apart

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            srv.post("acme", "s0", t0)
            shared = srv.post("acme", "s1", t0 + 1)
            srv.add("acmedown", shared)  # under two hashtags: sent once
            c, sink = new_collector(tmp_path, base, ["acme", "acmedown"], page_limit=3,
                                    lookback_seconds=0.0)
            await c.start()
            try:
                assert (await c.poll_round()).sent == 2
                assert c.since == {"acme": shared["id"], "acmedown": shared["id"]}
                burst = [srv.post("acme", f"s{i}", t0 + i) for i in range(2, 7)]
                srv.queries.clear()
                second = await c.poll_round()
                assert (second.status, second.sent, second.refused) == ("ok", 5, 0)
                # Forward from the cursor, a full page then the rest (and, for a FlakeId cursor,
                # one status below the cursor of the quiet hashtag: it has no look-back window).
                assert [q for q in srv.queries if "max_id" not in q[1]] == [
                    ("acme", {"limit": "3", "min_id": shared["id"]}),
                    ("acme", {"limit": "3", "min_id": burst[2]["id"]}),
                    ("acmedown", {"limit": "3", "min_id": shared["id"]}),
                ]
                assert c.since["acme"] == burst[-1]["id"]
            finally:
                await c.close()

            # A restart: the saved cursors are taken up again.
            again, sink2 = new_collector(tmp_path, base, ["acme", "acmedown"], page_limit=3,
                                         lookback_seconds=0.0)
            await again.start()
            try:
                assert again.since == {"acme": burst[-1]["id"], "acmedown": shared["id"]}
                srv.queries.clear()
                srv.add("acmedown", srv.post("acme", "s7", t0 + 7))
                assert await rounds(again, 2) == [1, 0]
                assert srv.queries[:2] == [("acme", {"limit": "3", "min_id": burst[-1]["id"]}),
                                           ("acmedown", {"limit": "3", "min_id": shared["id"]})]
            finally:
                await again.close()
            texts = [m.text for m in sink.sent + sink2.sent]
            assert sorted(texts) == sorted(f"Acme s{i}" for i in range(8)), texts
            assert len({m.id for m in sink.sent + sink2.sent}) == 8

    asyncio.run(scenario())


def hostile_ids(software: str, now: float) -> list[Any]:
    """Ids a broken or hostile server could send (most sort after every real one)."""
    return [
        "z" * 18,  # a FlakeId's form, of the year 2280
        "7" + "Z" * 25,  # a ULID's form, of the year 10889
        "Z" * 26,  # beyond 128 bits
        "z" * 23,  # too long for a FlakeId
        "A" * 4000,
        "~" * 18,
        "01HMD5V0PZ2M5XQKJ3R4T8W6Y!",
        "0zzzzzzzzzzzzzzzzz",  # zero-padded
        "zzzzzzzzzzzzzzzzz\n",
        MAKE[software](now + 3 * 86400),  # a real-looking id three days ahead
    ]


@pytest.mark.parametrize("software", SOFTWARE)
def test_hostile_ids_are_refused_and_never_the_cursor(tmp_path: Path, software: str) -> None:
    srv = Server(software)
    now = time.time()

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            first = srv.post("acme", "first", now - 60)
            # Sent by a lying server as a status of now, with an id ten minutes ahead: it is
            # read (and sent), but the cursor does not move past the present.
            ahead = srv.post("acme", "ahead", now + 600)
            ahead["created_at"] = status("", "", now)["created_at"]
            bad = hostile_ids(software, now)
            srv.broken = [status(sid, f"bad{i}", now) for i, sid in enumerate(bad)]
            c, sink = new_collector(tmp_path, base, ["acme"], lookback_seconds=0.0)
            await c.start()
            try:
                one = await c.poll_round()
                assert (one.sent, one.refused) == (2, len(bad))
                assert refused(c, "invalid_field") == len(bad)
                assert c.since["acme"] == first["id"]
                later = srv.post("acme", "later", now - 30)
                two = await c.poll_round()
                assert (two.sent, two.refused) == (1, len(bad))
                assert c.since["acme"] == later["id"]
            finally:
                await c.close()
            assert sorted(m.text for m in sink.sent) == ["Acme ahead", "Acme first", "Acme later"]

    asyncio.run(scenario())


@pytest.mark.parametrize("software", SOFTWARE)
@pytest.mark.parametrize("saved", ["z" * 18, "7" + "Z" * 25, "0zzzzzzzzzzzzzzzzz", "A" * 40])
def test_a_saved_since_id_of_a_hostile_form_is_ignored(
        tmp_path: Path, software: str, saved: str) -> None:
    srv = Server(software)

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            posted = srv.post("acme", "s", time.time() - 60)
            c, sink = new_collector(tmp_path, base, ["acme"])
            c.store.save(c._state_key("acme"), {"version": 1, "instance": base,
                                                 "hashtag": "acme", "since_id": saved})
            await c.start()
            try:
                assert c.since["acme"] is None
                assert (await c.poll_round()).sent == 1
            finally:
                await c.close()
            assert srv.queries == [("acme", {"limit": "40"})]
            assert c.since["acme"] == posted["id"]

    asyncio.run(scenario())


def test_a_late_status_below_a_ulid_cursor_is_read_back_once(tmp_path: Path) -> None:
    """GoToSocial makes a remote status's ULID from its publication time, as Mastodon its
    snowflake: a status that arrives late lands below the cursor. The look-back window is read
    from a ULID of the window's start."""
    srv = Server("gotosocial")
    now = time.time()

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            srv.post("acme", "first", now - 5)
            c, sink = new_collector(tmp_path, base, ["acme"], page_limit=3)
            await c.start()
            try:
                assert (await c.poll_round()).sent == 1
                srv.post("acme", "late", now - 20)
                srv.post("acme", "new", now)
                srv.post("acme", "too-late", now - 3600)  # beyond the window: not read
                assert await rounds(c, 2) == [2, 0]
            finally:
                await c.close()
            again, sink2 = new_collector(tmp_path, base, ["acme"], page_limit=3)
            await again.start()
            try:
                assert await rounds(again, 1) == [0]  # the window read already: in the state
            finally:
                await again.close()
            assert sorted(m.text for m in sink.sent) == ["Acme first", "Acme late", "Acme new"]
            backs = [q for _, q in srv.queries if "max_id" in q]
            assert backs and all(valid_status_id(q["max_id"]) for q in backs)

    asyncio.run(scenario())


@pytest.mark.parametrize("software", SOFTWARE)
def test_a_server_whose_ids_change_form_is_followed_afresh(tmp_path: Path, software: str) -> None:
    """A Mastodon instance replaced by another software at the same address: its saved cursor,
    a snowflake, means nothing to the new server (GoToSocial, comparing strings, answers nothing
    after it; Pleroma, reading it as a small number, its oldest statuses), and it is dated after
    the new server's statuses (compared by time, none is newer). The hashtag is followed afresh
    from the newest page, with a cursor of the new form."""
    srv = Server(software)
    now = time.time()

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            for i in range(5):  # the oldest two beyond the look-back window of the newest
                srv.post("acme", f"s{i}", now - 300 + i - (3600 if i < 2 else 0))
            c, sink = new_collector(tmp_path, base, ["acme"], page_limit=3)
            c.store.save(c._state_key("acme"), {"version": 1, "instance": base,
                                                 "hashtag": "acme",
                                                 "since_id": snowflake(now - 60)})
            await c.start()
            try:
                assert c.since["acme"] == snowflake(now - 60)
                assert (await c.poll_round()).sent == 3  # the newest page
                newest = c.since["acme"]
                assert newest == srv.timelines["acme"][-1]["id"]
                srv.queries.clear()
                srv.post("acme", "s5", now - 200)
                assert await rounds(c, 2) == [1, 0]
                assert srv.queries[0] == ("acme", {"limit": "3", "min_id": newest})
            finally:
                await c.close()
            assert sorted(m.text for m in sink.sent) == ["Acme s2", "Acme s3", "Acme s4",
                                                         "Acme s5"]

    asyncio.run(scenario())


def test_ids_of_each_form_compare_in_their_servers_order_and_by_time_across_forms() -> None:
    now = time.time()
    for make in (ulid, flake, snowflake):
        ids = [make(now - 100 + i) for i in range(3)]
        assert all(valid_status_id(i) == i for i in ids)
        assert sorted(reversed(ids), key=status_key) == ids
        assert id_after(make(now + 120), now + 60) and not id_after(ids[-1], now + 60)
    # A FlakeId one character longer is a larger number (base62 without padding).
    assert newer(flake(now), "9" + "z" * 16) and len(flake(now)) == 18
    # Across forms: by the time they carry; a number in sequence carries none (older).
    mixed = ["12", snowflake(now - 3), ulid(now - 2), flake(now - 1), snowflake(now)]
    assert sorted(reversed(mixed), key=status_key) == mixed
    # The look-back window's start: a ULID of that time (a FlakeId or a number in sequence
    # has none).
    start = lookback_id(ulid(now), 600.0)
    assert start is not None and start.endswith("0" * 16)
    assert newer(ulid(now - 599), start) and newer(start, ulid(now - 601))
    assert lookback_id(flake(now), 600.0) is None and lookback_id("12", 600.0) is None


@pytest.mark.parametrize("saved", ["flake", "sequence"])
def test_a_cursor_without_look_back_is_followed_afresh_on_a_server_answering_nothing_after_it(
        tmp_path: Path, saved: str) -> None:
    """A Pleroma instance (FlakeId cursor) or one numbering its statuses (a number in sequence)
    replaced by GoToSocial: comparing strings, GoToSocial answers nothing after such a cursor
    ("A..." or "1..." sort after every ULID, "01..."), and without a look-back window no answer
    held an id of the new form: the hashtag yielded nothing for ever. A forward answer without
    any status is checked by one status below the cursor."""
    srv = Server("gotosocial")
    now = time.time()
    cursor = flake(now - 60) if saved == "flake" else "12345"

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            for i in range(3):
                srv.post("acme", f"s{i}", now - 30 + i)
            c, sink = new_collector(tmp_path, base, ["acme"], page_limit=3)
            c.store.save(c._state_key("acme"), {"version": 1, "instance": base,
                                                 "hashtag": "acme", "since_id": cursor})
            await c.start()
            try:
                assert (await c.poll_round()).sent == 3
                newest = c.since["acme"]
                assert newest == srv.timelines["acme"][-1]["id"]
                srv.post("acme", "s3", now)
                assert await rounds(c, 2) == [1, 0]
            finally:
                await c.close()
            assert sorted(m.text for m in sink.sent) == [f"Acme s{i}" for i in range(4)]

    asyncio.run(scenario())


def test_a_quiet_pleroma_hashtag_with_old_numbered_statuses_below_its_cursor_stays_put(
        tmp_path: Path) -> None:
    """Pleroma's statuses from before its FlakeIds keep their numbers, which sort below every
    FlakeId: the status below a quiet hashtag's cursor may be one, and is no other server."""
    srv = Server("pleroma")
    now = time.time()

    async def scenario() -> None:
        async with serve([("GET", ROUTE, srv.handle)]) as base:
            srv.add("acme", status("12", "old", now - 86400 * 2000))
            posted = srv.post("acme", "s", now - 60)
            c, sink = new_collector(tmp_path, base, ["acme"])
            c.store.save(c._state_key("acme"), {"version": 1, "instance": base,
                                                 "hashtag": "acme", "since_id": posted["id"]})
            await c.start()
            try:
                assert await rounds(c, 3) == [0, 0, 0]
                assert c.since["acme"] == posted["id"]
            finally:
                await c.close()
            assert "max_id" in srv.queries[1][1]  # the status below the cursor was read
            assert all(q == ("acme", {"limit": "40", "min_id": posted["id"]})
                       for q in srv.queries[::2])

    asyncio.run(scenario())
