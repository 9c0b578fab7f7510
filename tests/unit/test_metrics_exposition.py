"""/metrics rendered by veille.exposition: the bytes prometheus_client writes, in both formats, on
every kind of metric and label veille has, as children come and go; served over HTTP as the
library's own server negotiates it (text, OpenMetrics, gzip, name[])."""

from __future__ import annotations

import gzip
import http.client
import math
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    Summary,
    disable_created_metrics,
    enable_created_metrics,
    exposition,
)
from prometheus_client import generate_latest as library_text
from prometheus_client.openmetrics import exposition as openmetrics

from veille.exposition import Renderer, generate_latest, renderer, scrape, start_http_server
from veille.metrics import process_metrics

#: The encoders prometheus_client's handler picks (exposition.choose_encoder): the text format
#: (what a scrape without Accept gets), its 1.0.0 with an escaping, OpenMetrics 1.0.0 (what
#: Prometheus 3 asks for first, with escaping=allow-utf-8 or underscores), and dots (the
#: library's renderer: names written otherwise).
ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "text": library_text,
    "text allow-utf-8": partial(library_text, escaping=openmetrics.ALLOWUTF8),
    "text values": partial(library_text, escaping=openmetrics.VALUES),
    "openmetrics": partial(openmetrics.generate_latest, escaping=openmetrics.UNDERSCORES,
                           version="1.0.0"),
    "openmetrics allow-utf-8": partial(openmetrics.generate_latest,
                                       escaping=openmetrics.ALLOWUTF8, version="1.0.0"),
    "openmetrics dots": partial(openmetrics.generate_latest, escaping=openmetrics.DOTS,
                                version="1.0.0"),
}

#: Label values a brand id never has but a feed's name or a build's revision might.
ODD = ['say "hi"', "back\\slash", "two\nlines", "Café Brûlé — ☕", "", "\\n\"", "{a=\"b\"}", "𝔘"]
#: Values whose formatting differs: Go's exponents, the sign of zero, the specials.
VALUES = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 123456.0, 1234567.0, 1e22, 1.7976931348623157e308,
          5e-324, 1e-7, -2.5e-300, math.inf, -math.inf, math.nan, 1_796_600_000.123, 42]


def freeze_process(registry: CollectorRegistry) -> None:
    """The process collector's samples read once (CPU time and memory move between two pages)."""
    for collector in list(registry._collector_to_names):
        if isinstance(collector, ProcessCollector):
            fixed = list(collector.collect())
            collector.collect = lambda fixed=fixed: fixed  # type: ignore[method-assign]


def assert_same(registry: Any, render: Renderer | None = None) -> None:
    render = render or Renderer(registry)
    for name, encoder in ENCODERS.items():
        want = encoder(registry)
        got = render.render(encoder)
        assert got == want, (name, first_difference(got, want))


def first_difference(got: bytes, want: bytes) -> tuple[str, str]:
    for a, b in zip(got.decode().splitlines(), want.decode().splitlines(), strict=False):
        if a != b:
            return a, b
    return f"{len(got)} bytes", f"{len(want)} bytes"


def every_kind(registry: CollectorRegistry) -> dict[str, Any]:
    """A metric of every kind veille uses (and Summary, Enum: none today), odd labels and values."""
    made: dict[str, Any] = {
        "plain": Counter("veille_plain_total", "A counter without labels.", registry=registry),
        "counter": Counter("veille_things_total", 'Help with "quotes", a back\\slash\nand a line.',
                           ["brand", "kind"], registry=registry),
        "gauge": Gauge("veille_level", "A gauge.", ["feed"], registry=registry),
        "solo": Gauge("veille_solo_seconds", "A gauge without labels.", registry=registry),
        "function": Gauge("veille_function", "A gauge read from a function.", registry=registry),
        "labelled_function": Gauge("veille_fn_labelled", "Children read from functions.",
                                   ["brand"], registry=registry),
        "negative": Histogram("veille_score", "Buckets from -0.75: no _sum.", ["brand"],
                              buckets=(-0.75, -0.05, 0.05, 0.75, 1.0), registry=registry),
        "latency": Histogram("veille_wait_seconds", "Buckets from 0, le among the labels.",
                             ["since", "zone"], buckets=(0.005, 0.5, 1.0, 900.0, 86400.0, 1e7),
                             registry=registry),
        "solo_histogram": Histogram("veille_solo_bytes", "A histogram without labels.",
                                    registry=registry),
        "summary": Summary("veille_size_bytes", "A summary.", ["brand"], registry=registry),
        "unit": Gauge("veille_unit", "A unit.", unit="seconds", registry=registry),
        "info": Info("veille_thing", "An info.", registry=registry),
        "enum": Enum("veille_state", "An enum.", states=["up", "down"], registry=registry),
    }
    process_metrics(registry)  # process_*, python_info, veille_memory_limit_bytes
    freeze_process(registry)
    made["function"].set_function(lambda: 7.5)
    made["labelled_function"].labels("acme").set_function(lambda: math.nan)
    made["labelled_function"].labels("boreal").set(3)
    made["info"].info({"version": "1.0", "revision": 'a"b\\c\nd'})
    made["enum"].state("down")
    made["plain"].inc(3)
    for i, odd in enumerate(ODD):
        made["counter"].labels(odd, "k").inc(i)
        made["gauge"].labels(odd).set(VALUES[i])
        made["summary"].labels(odd).observe(VALUES[i + 5])
    for value in VALUES:
        made["gauge"].labels(f"v{value!r}").set(value)
        made["negative"].labels("acme").observe(value)
        made["latency"].labels("created", "é").observe(value)
    made["solo"].set(-0.0)
    made["solo_histogram"].observe(512)
    made["unit"].set(1e-9)
    return made


def test_every_kind_of_metric_renders_as_the_library_does() -> None:
    registry = CollectorRegistry()
    every_kind(registry)
    assert_same(registry)
    page = generate_latest(registry).decode()
    # The cases are on the page, not only equal: odd labels escaped, specials, Go's exponents.
    for line in ('veille_things_total{brand="say \\"hi\\"",kind="k"} 0.0',
                 'veille_things_total{brand="back\\\\slash",kind="k"} 1.0',
                 'veille_things_total{brand="two\\nlines",kind="k"} 2.0',
                 'veille_level{feed="Café Brûlé — ☕"} -1.0',
                 'veille_level{feed="vnan"} NaN', 'veille_level{feed="vinf"} +Inf',
                 'veille_level{feed="v-inf"} -Inf', 'veille_level{feed="v1234567.0"} 1.234567e+06',
                 'veille_level{feed="v-0.0"} -0.0', 'veille_solo_seconds -0.0',
                 'veille_wait_seconds_bucket{le="1e+07",since="created",zone="é"} 13.0',
                 'veille_wait_seconds_sum{since="created",zone="é"} NaN',
                 'veille_fn_labelled{brand="acme"} NaN', 'veille_function 7.5'):
        assert line + "\n" in page, line
    assert "veille_score_sum" not in page and "veille_wait_seconds_sum" in page


def test_children_added_removed_and_changed_between_renders() -> None:
    """One Renderer keeps each child's label string: a child removed (a brand taken off the
    watch list: BrandTeams, a feed forgotten), cleared (a worker losing its moderation
    partitions), added back at 0 or new, and values changed, render as the library does."""
    registry = CollectorRegistry()
    made = every_kind(registry)
    render = renderer(registry)
    assert render is renderer(registry)  # one a registry: its cache
    assert_same(registry, render)
    made["counter"].remove(ODD[0], "k")
    made["gauge"].clear()
    made["latency"].remove("created", "é")
    made["summary"].labels("new").observe(2)
    assert_same(registry, render)
    made["counter"].labels(ODD[0], "k")  # back, at 0
    made["gauge"].labels("z").set(1)
    made["gauge"].labels(ODD[3]).set(2)
    made["latency"].labels("received", "z").observe(0.2)
    made["negative"].labels("acme").observe(0.0)
    made["plain"].inc(0.5)
    assert_same(registry, render)
    registry.unregister(made["enum"])
    registry.unregister(made["counter"])
    assert_same(registry, render)
    # What it keeps is what is on the page: no label string of a child or family gone.
    kept = {collector: len(family.children) for collector, family in render._families.items()}
    assert made["counter"] not in kept and kept[made["gauge"]] == 2
    assert kept[made["latency"]] == 1
    registry.register(made["counter"])  # again, last
    assert_same(registry, render)


def test_the_libraries_renderer_where_veille_would_write_otherwise() -> None:
    """_created samples enabled, a target_info, exemplars (OpenMetrics writes them), names out of
    the legacy charset: the library's renderer writes these, so the page is still its own."""
    registry = CollectorRegistry()
    made = every_kind(registry)
    odd = Counter("veille.odd_total", "A UTF-8 name.", ["lab.el"], registry=registry)
    odd.labels("x").inc()
    made["counter"].labels("ex", "k").inc(2, exemplar={"trace_id": "abc"})
    made["latency"].labels("created", "é").observe(0.2, exemplar={"trace_id": 'q"'})
    assert_same(registry)
    assert b'# {trace_id="abc"} 2.0' in generate_latest_om(registry)
    enable_created_metrics()
    try:
        fresh = CollectorRegistry()
        every_kind(fresh)
        assert b"_created" in library_text(fresh)
        assert_same(fresh)
    finally:
        disable_created_metrics()
    registry.set_target_info({"instance": "w1"})
    assert_same(registry)


def generate_latest_om(registry: Any) -> bytes:
    return Renderer(registry).render(ENCODERS["openmetrics"])


def worker_registry(tmp_path: Path, brands: int) -> CollectorRegistry:
    """A worker of role all at start (agents.worker.build) on a generated watch list."""
    import importlib.util

    from agents.worker import build
    from veille.settings import Settings

    spec = importlib.util.spec_from_file_location(
        "many_brands", Path(__file__).resolve().parents[2] / "bench" / "many_brands.py")
    assert spec is not None and spec.loader is not None
    many_brands = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(many_brands)
    path = tmp_path / "watchlist.toml"
    path.write_text(many_brands.to_toml(many_brands.generate(brands)), encoding="utf-8")
    registry = CollectorRegistry()
    build(Settings(data_dir=str(tmp_path), watchlist=str(path)), registry)
    freeze_process(registry)
    paused = next(c for c in registry._collector_to_names
                  if getattr(c, "_name", "") == "veille_agents_paused_seconds")
    paused.set_function(lambda: 1.25)  # the time since the app was made: moves between pages
    return registry


def test_a_workers_registry_at_start_and_after_traffic(tmp_path: Path) -> None:
    registry = worker_registry(tmp_path, 20)
    render = renderer(registry)
    assert_same(registry, render)
    assert library_text(registry).count(b"\n") > 20 * 170  # every brand's series on the page
    text = library_text(registry).decode()
    brand = text.split('veille_sentiment_compound_count{brand="', 1)[1].split('"', 1)[0]
    counter = next(c for c in registry._collector_to_names
                   if getattr(c, "_name", "") == "veille_mentions_enriched")
    counter.labels(brand, "twitter", "en", "negative").inc(4)
    histogram = next(c for c in registry._collector_to_names
                     if getattr(c, "_name", "") == "veille_sentiment_compound")
    histogram.labels(brand).observe(-0.6)
    assert_same(registry, render)


def get(port: int, headers: dict[str, str], path: str = "/metrics", method: str = "GET"
        ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """veille's server and prometheus_client's on one registry: (veille's port, the library's)."""
    registry = CollectorRegistry()
    every_kind(registry)
    ours, ours_thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    theirs, theirs_thread = exposition.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield ours.server_address[1], theirs.server_address[1]
    finally:
        for server, thread in ((ours, ours_thread), (theirs, theirs_thread)):
            server.shutdown()
            server.server_close()
            thread.join(5)


#: Prometheus 3.1's Accept header (scrape_protocols' default), 2.x's, a browser's, none.
PROMETHEUS_3 = ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
                "application/openmetrics-text;version=0.0.1;q=0.4,"
                "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
                "text/plain;version=0.0.4;q=0.2,*/*;q=0.1")
PROMETHEUS_2 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.mark.parametrize("accept", [PROMETHEUS_3, PROMETHEUS_2, "text/plain;version=1.0.0",
                                    "application/openmetrics-text;version=1.0.0;escaping=dots",
                                    "text/html,*/*", None])
@pytest.mark.parametrize("encoding", ["gzip", "identity", None])
def test_the_server_answers_as_the_librarys_over_a_socket(two_servers: tuple[int, int],
                                                          accept: str | None,
                                                          encoding: str | None) -> None:
    ours, theirs = two_servers
    headers = {k: v for k, v in (("Accept", accept), ("Accept-Encoding", encoding)) if v}
    status, got_headers, body = get(ours, headers)
    want_status, want_headers, want_body = get(theirs, headers)
    assert status == want_status == 200
    assert got_headers["content-type"] == want_headers["content-type"]
    assert got_headers.get("content-encoding") == want_headers.get("content-encoding")
    if encoding == "gzip":
        assert got_headers["content-encoding"] == "gzip"
        body, want_body = gzip.decompress(body), gzip.decompress(want_body)
    else:
        assert "content-encoding" not in got_headers
    assert body == want_body
    if accept == PROMETHEUS_3:
        assert got_headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
        assert body.endswith(b"# EOF\n")


def test_the_server_filters_names_and_refuses_other_methods(two_servers: tuple[int, int]) -> None:
    ours, theirs = two_servers
    for path, method in (("/metrics?name[]=veille_plain_total&name[]=veille_level", "GET"),
                         ("/metrics", "POST"), ("/metrics", "OPTIONS"), ("/favicon.ico", "GET"),
                         ("/anything", "GET")):
        status, headers, body = get(ours, {}, path, method)
        want_status, want_headers, want_body = get(theirs, {}, path, method)
        assert (status, body) == (want_status, want_body), (path, method)
        assert headers.get("allow") == want_headers.get("allow")
    _, _, filtered = get(ours, {}, "/metrics?name[]=veille_plain_total")
    assert filtered.decode().splitlines() == ["# HELP veille_plain_total A counter without labels.",
                                              "# TYPE veille_plain_total counter",
                                              "veille_plain_total 3.0"]


def test_scrape_gzips_at_level_1_the_same_page() -> None:
    """gzip level 1 (a fifth of the default's CPU on a 5 MiB page): another compressed body,
    the same page once decompressed."""
    registry = CollectorRegistry()
    every_kind(registry)
    headers, body = scrape(registry, None, "br, gzip;q=0.5")
    assert dict(headers) == {"Content-Type": exposition.CONTENT_TYPE_PLAIN_0_0_4,
                             "Content-Encoding": "gzip"}
    assert body[:2] == b"\x1f\x8b" and body[8] == 4  # XFL 4: the fastest level
    assert gzip.decompress(body) == library_text(registry)


def test_the_webhook_and_the_moderation_api_negotiate_as_the_metrics_server(tmp_path: Path) -> None:
    """The aiohttp services serve /metrics the same way (veille.exposition.scrape): OpenMetrics
    when Prometheus asks for it first, gzip when accepted. Before 2026-12-07 they answered the
    text format whatever was asked, never compressed."""
    import asyncio

    import aiohttp
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    from tests.collector_helpers import ListSink
    from tests.unit.test_moderation_api_connections import TOKEN, _Store
    from veille.collectors.webhook import WebhookCollector
    from veille.metrics import CollectorMetrics
    from veille.moderate.api import ModerationApi
    from veille.settings import Settings

    settings = Settings.from_env({}).with_(webhook_port=0, moderation_api_port=0,
                                           moderation_api_token=TOKEN,
                                           collector_state_dir=str(tmp_path / "state"))

    async def pages(url: str) -> list[tuple[str, str | None, bytes]]:
        out = []
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            for headers in ({"Accept": PROMETHEUS_3, "Accept-Encoding": "gzip"},
                            {"Accept": "*/*", "Accept-Encoding": "identity"}):
                async with http.get(url + "/metrics", headers=headers) as resp:
                    assert resp.status == 200
                    out.append((resp.headers["Content-Type"], resp.headers.get("Content-Encoding"),
                                await resp.read()))
        return out

    async def scenario() -> dict[str, list[tuple[str, str | None, bytes]]]:
        metrics = CollectorMetrics(CollectorRegistry())
        webhook = WebhookCollector(settings, metrics, ListSink(settings, "webhook", metrics))
        api = ModerationApi(settings, store=_Store())  # type: ignore[arg-type]
        await webhook.start()
        await api.start()
        try:
            return {"webhook": await pages(webhook.url), "api": await pages(api.url)}
        finally:
            await api.stop()
            await webhook.stop()
            await webhook.close()

    for service, ((om_type, om_coding, om_body), (text_type, text_coding, text_body)) in \
            asyncio.run(scenario()).items():
        assert om_type == "application/openmetrics-text; version=1.0.0; charset=utf-8; " \
                          "escaping=allow-utf-8", service
        assert om_coding == "gzip" and text_coding is None, service
        page = gzip.decompress(om_body).decode()
        assert page.endswith("# EOF\n"), service
        assert "veille_build" in {f.name for f in parse_om(page)}, service
        assert text_type == exposition.CONTENT_TYPE_PLAIN_0_0_4, service
        assert "veille_build_info" in {f.name for f in parse_text(text_body.decode())}, service


def test_the_worker_and_the_collectors_serve_veilles_page(capsys: pytest.CaptureFixture[str]) -> None:
    """agents.worker.serve_metrics and the collectors' (veille.collectors.rss.serve_metrics, the
    polling collectors' too) are veille.exposition's server: OpenMetrics for Prometheus 3, gzip
    at level 1 (the gzip header's XFL byte: 4 at the fastest level, 2 at the client's 9)."""
    from agents.worker import serve_metrics as serve_worker
    from veille.collectors.rss import serve_metrics as serve_collector
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings

    settings = Settings.from_env({}).with_(metrics_host="127.0.0.1", metrics_port=0,
                                           collector_metrics_port=0)
    collector = CollectorMetrics(CollectorRegistry(), ["rss"])
    worker_registry = CollectorRegistry()
    every_kind(worker_registry)
    servers = [(serve_worker(settings, worker_registry, "veille worker"), worker_registry),
               (serve_collector(settings, collector, "rss"), collector.registry)]
    try:
        for server, registry in servers:
            status, headers, body = get(server.server_address[1],
                                        {"Accept": PROMETHEUS_3, "Accept-Encoding": "gzip"})
            assert status == 200 and headers["content-encoding"] == "gzip"
            assert body[8] == 4
            assert headers["content-type"] == (
                "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8")
            page = gzip.decompress(body)
            assert page.endswith(b"# EOF\n")
            if registry is worker_registry:  # the collector's process metrics move meanwhile
                assert page == ENCODERS["openmetrics allow-utf-8"](registry)
            else:
                assert b'veille_collector_items_sent_total{collector="rss"} 0.0\n' in page
    finally:
        for server, _ in servers:
            server.shutdown()
            server.server_close()
