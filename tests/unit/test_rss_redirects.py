"""A feed's server cannot send the RSS collector to an internal address by a redirect (SSRF):
real local HTTP servers, a sink that keeps what it is given (no broker).

The configured feeds' hosts are trusted as configured (127.0.0.1 here, as an intranet feed
would be); any other host reached by a redirect must resolve only to public addresses. Until
2026-12-06 aiohttp followed every redirect: a feed's server could have the collector read the
cloud metadata service (169.254.169.254) or an admin page on its own machine, the answer's body
becoming mentions."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from prometheus_client import CollectorRegistry

from tests.collector_helpers import ListSink
from veille.collectors.addresses import (
    AddressPolicy,
    ForbiddenAddress,
    GuardedResolver,
    is_public_address,
)
from veille.collectors.rss import FeedConfig, PollResult, RssCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


def rss_doc(guid: str, title: str) -> str:
    date = email.utils.formatdate(time.time() - 60, usegmt=True)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
            f"<guid>{guid}</guid><title>{title}</title><pubDate>{date}</pubDate></item>"
            "</channel></rss>")


class Site:
    """Serves `docs` (path -> RSS text) and `moves` (path -> Location of a 302); keeps the
    paths asked."""

    def __init__(self, docs: dict[str, str] | None = None,
                 moves: dict[str, str] | None = None) -> None:
        self.docs = docs or {}
        self.moves = moves or {}
        self.asked: list[str] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.asked.append(request.path_qs)
        if request.path in self.moves:
            return web.Response(status=302, headers={"Location": self.moves[request.path]})
        if request.path in self.docs:
            return web.Response(text=self.docs[request.path], content_type="application/rss+xml")
        return web.Response(status=404)


@asynccontextmanager
async def site_on(host: str, site: Site) -> AsyncIterator[int]:
    """`site` served on `host` (an address of this machine); yields its port."""
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", site.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def new_collector(tmp_path: Path, feeds: list[FeedConfig]) -> tuple[RssCollector, ListSink]:
    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"))
    metrics = CollectorMetrics(CollectorRegistry())
    sink = ListSink(settings, "rss", metrics)
    return RssCollector(settings, metrics, sink, feeds=feeds), sink


async def poll_each(c: RssCollector) -> list[PollResult]:
    await c.start()
    try:
        return [await c.poll(feed) for feed in c.feeds or []]
    finally:
        await c.close()


def failures(c: RssCollector, feed: str, kind: str) -> float:
    value = c.metrics.registry.get_sample_value("veille_rss_feed_failures_total",
                                                {"feed": feed, "kind": kind})
    return value or 0.0


# ---------------------------------------------------------------------------------------------
# Which addresses are public
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT (RFC 6598)
    "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.2.1", "198.18.0.1",  # documentation, benchmarking
    "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:100.64.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "localhost", "", "2130706433", "not an address",
])
def test_internal_addresses_and_non_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", [
    "93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4007:80e::200e",
    "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1",
])
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


def test_only_unconfigured_ip_literals_that_are_not_public_are_refused() -> None:
    policy = AddressPolicy(["127.0.0.1", "intranet.example", "::1"])
    for host in ("127.0.0.1", "::1", "[0:0::1]", "INTRANET.example.", "93.184.216.34",
                 "feeds.example.com", "localhost"):  # names are the resolver's to check
        assert policy.refused_literal(host) is None, host
    for host in ("127.0.0.2", "169.254.169.254", "::ffff:127.0.0.1", "fe80::1", "2130706433",
                 "10.0.0.1"):
        refused = policy.refused_literal(host)
        assert isinstance(refused, ForbiddenAddress) and refused.host == host, host


class FixedAnswers(AbstractResolver):
    """DNS as a table: host -> its addresses."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0,
                              flags=0) for a in self.answers[host]]

    async def close(self) -> None:
        pass


def test_the_resolver_refuses_a_name_with_any_internal_address_unless_configured() -> None:
    answers = {"intranet.example": ["10.0.0.5"], "public.example": ["93.184.216.34"],
               "rebound.example": ["93.184.216.34", "169.254.169.254"],
               "mapped.example": ["::ffff:127.0.0.1"]}
    resolver = GuardedResolver(AddressPolicy(["intranet.example"]), FixedAnswers(answers))

    async def scenario() -> None:
        assert [r["host"] for r in await resolver.resolve("intranet.example", 80)] == ["10.0.0.5"]
        assert [r["host"] for r in await resolver.resolve("public.example", 80)] == [
            "93.184.216.34"]
        for host, address in (("rebound.example", "169.254.169.254"),
                              ("mapped.example", "::ffff:127.0.0.1")):
            with pytest.raises(ForbiddenAddress) as refused:
                await resolver.resolve(host, 80)
            assert (refused.value.host, refused.value.address) == (host, address)

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------------------
# The collector against real servers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("internal_host, target_host", [
    ("127.0.0.1", "localhost"),  # a name that resolves to loopback
    ("127.0.0.2", "127.0.0.2"),  # an IP literal: aiohttp never resolves it
    ("::1", "[::1]"),
])
def test_a_redirect_to_an_internal_host_not_configured_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, internal_host: str,
        target_host: str) -> None:
    """The feed configured on 127.0.0.1 redirects to another local server, reached by a name or
    an address no feed is configured with: that feed fails the round (kind forbidden_address),
    logged with its name and the host refused; the internal server is never asked, nothing of
    it is sent; the other feed of the same server goes on."""
    internal = Site({"/secret.rss": rss_doc("secret-1", "Internal secret")})

    async def scenario() -> tuple[list[PollResult], RssCollector, ListSink]:
        async with site_on(internal_host, internal) as internal_port:
            outside = Site({"/good.rss": rss_doc("good-1", "Acme en panne")},
                           {"/moved.rss": f"http://{target_host}:{internal_port}/secret.rss"})
            async with site_on("127.0.0.1", outside) as port:
                base = f"http://127.0.0.1:{port}"
                c, sink = new_collector(tmp_path, [FeedConfig(base + "/moved.rss", name="moved"),
                                                   FeedConfig(base + "/good.rss", name="good")])
                with caplog.at_level(logging.WARNING, logger="veille.collectors.rss"):
                    return await poll_each(c), c, sink

    (moved, good), c, sink = asyncio.run(scenario())
    assert moved.status == "forbidden_address", moved
    assert moved.error is not None and f"redirect to {target_host.strip('[]')} refused" in moved.error
    assert internal.asked == []
    assert [m.text for m in sink.sent] == ["Acme en panne"]
    assert good.status == "new"
    assert failures(c, "moved", "forbidden_address") == 1
    assert failures(c, "moved", "fetch") == 0
    assert failures(c, "good", "forbidden_address") == 0
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(line.startswith("rss: moved: redirect to ") and target_host.strip("[]") in line
               for line in logged), logged


def test_a_redirect_through_a_public_looking_chain_is_checked_at_every_hop(tmp_path: Path) -> None:
    """A relative redirect first (allowed), then one to the metadata address: refused at that hop,
    before any connection to it."""

    async def scenario() -> PollResult:
        site = Site(moves={"/a.rss": "/b.rss", "/b.rss": "http://169.254.169.254/latest/meta-data/"})
        async with site_on("127.0.0.1", site) as port:
            c, sink = new_collector(tmp_path, [FeedConfig(f"http://127.0.0.1:{port}/a.rss",
                                                          name="chain")])
            (result,) = await poll_each(c)
            assert site.asked == ["/a.rss", "/b.rss"] and sink.sent == []
            return result

    result = asyncio.run(scenario())
    assert result.status == "forbidden_address", result
    assert result.error is not None and "169.254.169.254" in result.error


def test_redirects_to_a_configured_host_are_followed(tmp_path: Path) -> None:
    """Relative and absolute redirects on the configured host, and one to another configured
    feed's host (trusted as configured, here `localhost`), still work; a redirect loop fails as
    a fetch error after 10 redirects, as aiohttp's own following did."""
    other = Site({"/other.rss": rss_doc("other-1", "Acme ailleurs")})

    async def scenario() -> tuple[list[PollResult], ListSink, Site]:
        async with site_on("127.0.0.1", other) as other_port:
            elsewhere = f"http://localhost:{other_port}/other.rss"
            site = Site({"/feed.rss": rss_doc("here-1", "Acme ici")},
                        {"/rel.rss": "feed.rss", "/abs.rss": "/x.rss", "/loop.rss": "/loop.rss",
                         "/to-other.rss": elsewhere})
            site.moves["/x.rss"] = "http://127.0.0.1:{port}/feed.rss"
            async with site_on("127.0.0.1", site) as port:
                site.moves["/x.rss"] = site.moves["/x.rss"].format(port=port)
                base = f"http://127.0.0.1:{port}"
                c, sink = new_collector(tmp_path, [
                    FeedConfig(base + "/rel.rss", name="rel"),
                    FeedConfig(base + "/abs.rss", name="abs"),
                    FeedConfig(base + "/to-other.rss", name="to-other"),
                    FeedConfig(elsewhere, name="other"),
                    FeedConfig(base + "/loop.rss", name="loop")])
                return await poll_each(c), sink, site

    (rel, absolute, to_other, direct, loop), sink, site = asyncio.run(scenario())
    for result in (rel, absolute, to_other, direct):  # each feed its own entry (no link)
        assert (result.status, result.sent) == ("new", 1), result
    assert sorted(m.text for m in sink.sent) == ["Acme ailleurs"] * 2 + ["Acme ici"] * 2
    assert loop.status == "fetch_error" and loop.error is not None
    assert "redirect" in loop.error.lower(), loop
    assert site.asked.count("/loop.rss") == 10
