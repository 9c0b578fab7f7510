"""/metrics: veille's one way to serve a registry, the page byte for byte prometheus_client's.

prometheus_client builds, at every scrape, a Sample namedtuple and a label dict for every series,
then sorts and escapes each label and formats each value: 0.57-0.68 s (text) and 0.64 s
(OpenMetrics, what Prometheus 3 asks for first) of a worker's CPU for the 51,843 series of 300
brands, in the metrics thread, holding the GIL the enrichment stage needs, every 15 s (0.04-0.06 s
rendered here; bench/many_brands.py, 2026-12-07). `render` writes the same
bytes from the same objects, keeping each series' label string (a child's labels never change)
and formatting its values only. Only the client's own Counter, Gauge, Histogram and Summary are
rendered so; any other collector (the process collector, Info, veille's MemoryLimit, a collector
of another library), a metric or label name the legacy charset does not hold, a counter or
histogram carrying an exemplar in OpenMetrics, `_created` samples (disabled by veille.metrics),
a registry's target_info, a negotiated escaping other than underscores, allow-utf-8 and values,
or a `name[]` query are rendered by the library's own functions. tests/unit/test_metrics_exposition.py
compares the two byte for byte.

Reads the client's internals (a parent's `_metrics`, a child's `_value`, `_buckets`, `_sum`,
`_count`, `_upper_bounds`, the registry's `_collector_to_names`): prometheus-client 0.26, pinned in
pyproject.toml, as veille.metrics' _HistogramTally.
"""

from __future__ import annotations

import gzip
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from math import copysign
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    exposition,
)
from prometheus_client import metrics as client_metrics
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from prometheus_client.validation import _is_valid_legacy_labelname, _is_valid_legacy_metric_name
from prometheus_client.values import MutexValue

#: gzip's level for a scrape that accepts it: 1, not the library's 9 (gzip.compress's default).
#: The 5,042 KiB page of 300 brands: 13 ms and 233 KiB instead of 87-107 ms and 194 KiB (2026-12-07).
GZIP_LEVEL = 1

#: Escapings under which a legacy name is written as it is (openmetrics.escape_metric_name).
_PLAIN_ESCAPINGS = (openmetrics.UNDERSCORES, openmetrics.ALLOWUTF8, openmetrics.VALUES)
_FAST_TYPES = (Counter, Gauge, Histogram, Summary)
#: The text format's type of a wrapper's (exposition.generate_latest's munging; Info is the library's).
_TEXT_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}

Encoder = Callable[[Any], bytes]


class _Fallback(Exception):
    """This family is the library's to render (an exemplar met in OpenMetrics)."""


class _One:
    """One collector as a registry, for the library's renderer."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Any]:
        return self.collector.collect()


def _escape_value(value: str) -> str:
    # openmetrics._escape(value, ALLOWUTF8, ...): what both formats do to a label value.
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    items = sorted(pairs)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape_value(v)}"' for k, v in items) + "}"


def _fmt(value: float) -> str:
    """floatToGoString(value), its most common answers (0.0, 1.0) without its work."""
    if type(value) is float and (value == 0.0 or value == 1.0) and copysign(1.0, value) > 0.0:
        return "0.0" if value == 0.0 else "1.0"
    return floatToGoString(value)


def _get(value: Any) -> Any:
    """A value cell's number: MutexValue's float read as it is (a read under the GIL is whole;
    the lock guards its read-modify-write increments), any other's (multiprocess) by get()."""
    return value._value if type(value) is MutexValue else value.get()


def _exemplar(value: Any) -> Any:
    return value._exemplar if type(value) is MutexValue else value.get_exemplar()


class _Family:
    """What never changes in a wrapper's lines: its header in each format and, per child (its
    label values), the text before each value ("name{labels} ")."""

    def __init__(self, collector: Any) -> None:
        metric = collector._get_metric()
        self.name: str = collector._name
        self.labelnames: tuple[str, ...] = tuple(collector._labelnames)
        self.kind: type = type(collector)
        names = [metric.name, self.name]
        self.plain = (all(_is_valid_legacy_metric_name(n) for n in names)
                      and all(_is_valid_legacy_labelname(n) for n in self.labelnames))
        doc = metric.documentation
        text_name = metric.name + "_total" if metric.type == "counter" else metric.name
        self.text_head = "# HELP {} {}\n# TYPE {} {}\n".format(
            text_name, doc.replace("\\", r"\\").replace("\n", r"\n"), text_name,
            _TEXT_TYPES.get(metric.type, metric.type))
        om_head = "# HELP {} {}\n# TYPE {} {}\n".format(
            metric.name, doc.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\""),
            metric.name, metric.type)
        if metric.unit:
            om_head += f"# UNIT {metric.name} {metric.unit}\n"
        self.om_head = om_head
        self.children: dict[tuple[str, ...], list[str]] = {}
        self.bounds: list[float] = list(getattr(collector, "_upper_bounds", ()))

    def prefixes(self, labelvalues: tuple[str, ...]) -> list[str]:
        """The text before each value of the child's samples, in the order its _child_samples
        gives them (a histogram: its buckets, _count, then _sum when its first bound is >= 0)."""
        series = list(zip(self.labelnames, labelvalues, strict=False))  # as _multi_samples
        name = self.name
        if self.kind is Counter:
            return [f"{name}_total{_labels(series)} "]
        if self.kind is Gauge:
            return [f"{name}{_labels(series)} "]
        plain = _labels(series)
        if self.kind is Summary:
            return [f"{name}_count{plain} ", f"{name}_sum{plain} "]
        out = [f"{name}_bucket{_labels(series + [('le', floatToGoString(b))])} " for b in self.bounds]
        out.append(f"{name}_count{plain} ")
        if self.bounds[0] >= 0:
            out.append(f"{name}_sum{plain} ")
        return out

    def lines(self, collector: Any, out: list[str], om: bool) -> None:
        """Append the family's sample lines to `out` (raises _Fallback before appending any)."""
        if collector._labelnames:
            with collector._lock:
                children = collector._metrics.copy()
        else:
            children = {(): collector}
        known = self.children
        fresh: dict[tuple[str, ...], list[str]] = {}
        kind = self.kind
        lines: list[str] = []
        add = lines.append
        for labelvalues, child in children.items():
            prefixes = known.get(labelvalues)
            if prefixes is None:
                prefixes = self.prefixes(labelvalues)
            fresh[labelvalues] = prefixes
            if kind is Counter:
                value = child._value
                if om and _exemplar(value) is not None:
                    raise _Fallback
                add(prefixes[0] + _fmt(_get(value)) + "\n")
            elif kind is Gauge:
                if "_child_samples" in child.__dict__:  # set_function: the function's value
                    for sample in child._child_samples():
                        add(prefixes[0] + _fmt(sample.value) + "\n")
                else:
                    add(prefixes[0] + _fmt(_get(child._value)) + "\n")
            elif kind is Summary:
                add(prefixes[0] + _fmt(_get(child._count)) + "\n")
                add(prefixes[1] + _fmt(_get(child._sum)) + "\n")
            else:
                acc = 0.0
                i = 0
                for i, bucket in enumerate(child._buckets):
                    if om and _exemplar(bucket) is not None:
                        raise _Fallback
                    acc += _get(bucket)
                    add(prefixes[i] + _fmt(acc) + "\n")
                add(prefixes[i + 1] + _fmt(acc) + "\n")
                if len(prefixes) > i + 2:
                    add(prefixes[i + 2] + _fmt(_get(child._sum)) + "\n")
        self.children = fresh  # children removed since the last render are forgotten
        out.extend(lines)


class Renderer:
    """The page of one registry, as the library's `encoder` writes it (exposition.generate_latest
    or openmetrics.generate_latest, as choose_encoder gives them)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._families: dict[Any, _Family] = {}
        self._lock = threading.Lock()

    def render(self, encoder: Encoder = exposition.generate_latest) -> bytes:
        func = getattr(encoder, "func", encoder)
        keywords = getattr(encoder, "keywords", {})
        registry = self.registry
        if (func not in (exposition.generate_latest, openmetrics.generate_latest)
                or keywords.get("escaping", openmetrics.UNDERSCORES) not in _PLAIN_ESCAPINGS
                or type(registry) is not CollectorRegistry):
            return encoder(registry)
        om = func is openmetrics.generate_latest
        with registry._lock:
            collectors = list(registry._collector_to_names)
            target_info = registry._target_info
        if target_info or client_metrics._use_created:
            return encoder(registry)
        out: list[str] = []
        with self._lock:
            families = self._families
            fresh: dict[Any, _Family] = {}
            for collector in collectors:
                family = families.get(collector) if type(collector) in _FAST_TYPES else None
                if family is None and type(collector) in _FAST_TYPES:
                    family = _Family(collector)
                if family is not None:
                    fresh[collector] = family
                if family is None or not family.plain:
                    out.append(self._library(encoder, collector, om))
                    continue
                out.append(family.om_head if om else family.text_head)
                try:
                    family.lines(collector, out, om)
                except _Fallback:
                    out.pop()
                    out.append(self._library(encoder, collector, om))
            self._families = fresh
        if om:
            out.append("# EOF\n")
        return "".join(out).encode("utf-8")

    @staticmethod
    def _library(encoder: Encoder, collector: Collector, om: bool) -> str:
        text = encoder(_One(collector)).decode("utf-8")
        return text[: -len("# EOF\n")] if om else text


_RENDERERS: weakref.WeakKeyDictionary[Any, Renderer] = weakref.WeakKeyDictionary()
_RENDERERS_LOCK = threading.Lock()


def renderer(registry: Any) -> Renderer:
    """The registry's Renderer (one a registry: its cache of label strings)."""
    with _RENDERERS_LOCK:
        found = _RENDERERS.get(registry)
        if found is None:
            found = _RENDERERS[registry] = Renderer(registry)
        return found


def generate_latest(registry: Any) -> bytes:
    """prometheus_client.generate_latest(registry), the same bytes, cheaper."""
    return renderer(registry).render()


def scrape(registry: Any, accept: str | None, accept_encoding: str | None,
           query: str = "") -> tuple[list[tuple[str, str]], bytes]:
    """The answer to GET /metrics: headers and body, negotiated as prometheus_client's handler
    does (exposition._bake_output: the format of `Accept`, a `name[]` query, gzip when accepted)
    but rendered by `Renderer` and gzipped at GZIP_LEVEL."""
    encoder, content_type = exposition.choose_encoder(accept or "")
    params = parse_qs(query)
    if "name[]" in params:
        body = encoder(registry.restricted_registry(params["name[]"]))
    else:
        body = renderer(registry).render(encoder)
    headers = [("Content-Type", content_type)]
    if exposition.gzip_accepted(accept_encoding or ""):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        headers.append(("Content-Encoding", "gzip"))
    return headers, body


def make_wsgi_app(registry: Any) -> Callable[[dict[str, Any], Any], list[bytes]]:
    """prometheus_client.make_wsgi_app(registry), the page rendered by `scrape`."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "OPTIONS":
            start_response("200 OK", [("Allow", "OPTIONS,GET")])
            return [b""]
        if method != "GET":
            start_response("405 Method Not Allowed", [("Allow", "OPTIONS,GET")])
            return [f"# HTTP 405 Method Not Allowed: {method}; use OPTIONS or GET\n".encode()]
        if environ["PATH_INFO"] == "/favicon.ico":
            start_response("200 OK", [])
            return [b""]
        headers, body = scrape(registry, environ.get("HTTP_ACCEPT"),
                               environ.get("HTTP_ACCEPT_ENCODING"), environ.get("QUERY_STRING", ""))
        start_response("200 OK", headers)
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


def start_http_server(port: int, addr: str = "0.0.0.0",
                      *, registry: Any) -> tuple[Any, threading.Thread]:
    """prometheus_client.start_http_server(port, addr, registry) serving `make_wsgi_app`: a
    thread per request, an IPv6 address served as such; the server and its thread."""

    class Server(exposition.ThreadingWSGIServer):
        pass

    infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = next(iter(infos))
    Server.address_family = family
    httpd = make_server(str(sockaddr[0]), port, make_wsgi_app(registry), Server,
                        handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True, name="veille-metrics")
    thread.start()
    return httpd, thread
