"""Every Prometheus metric of veille, created against a registry passed in."""

from __future__ import annotations

import math
import time
import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily

from streams.records import DLQ_REASONS
from veille.moderation import NO_CATEGORY

#: Bounded label values. Anything else is folded into "other".
PLATFORMS = (
    "twitter", "mastodon", "bluesky", "facebook", "instagram", "linkedin", "reddit",
    "youtube", "tiktok", "news", "blog", "forum", "review", "other",
)
SENTIMENT_LABELS = ("positive", "neutral", "negative", "unscored")
SCORED_LABELS = SENTIMENT_LABELS[:3]
#: The language labels of the mentions no scorer reads (always sentiment="unscored").
UNSCORED_LANGUAGES = ("other", "und")
NO_BRAND = "none"
STAGES = ("enrich",)

COMPOUND_BUCKETS = (-0.75, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 0.75, 1.0)
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 21600.0, 86400.0,
)


# `_created` samples double the series count and no dashboard of ours reads them.
disable_created_metrics()


#: veille_build_info of each registry: one a registry, whoever asks first (a worker's metrics,
#: a collector's, or both in one process).
_BUILD_INFO: weakref.WeakKeyDictionary[CollectorRegistry, Info] = weakref.WeakKeyDictionary()


def build_info(registry: CollectorRegistry) -> Info:
    """veille_build_info{version, revision} (veille.build) on `registry`, registered once, with
    the process's own metrics (process_metrics)."""
    from veille import build

    info = _BUILD_INFO.get(registry)
    if info is None:
        info = _BUILD_INFO[registry] = Info(
            "veille_build", "veille's release version and the source revision it was built "
            "from (VEILLE_REVISION, else the checkout's git commit).", registry=registry)
        info.info(build.labels())
        process_metrics(registry)
    return info


#: The standard families of every Prometheus client, exported as they are named everywhere
#: (no veille_ prefix: process dashboards read them by these names). Family names: the counter's
#: samples are process_cpu_seconds_total.
PROCESS_FAMILIES = ("process_virtual_memory_bytes", "process_resident_memory_bytes",
                    "process_start_time_seconds", "process_cpu_seconds", "process_open_fds",
                    "process_max_fds", "python_info")


def process_metrics(registry: CollectorRegistry) -> None:
    """The process's resident memory, CPU time, start time and file descriptors (process_*),
    its Python (python_info), and its memory limit (veille_memory_limit_bytes): what says a
    worker is at its core's capacity, near its container's memory limit, or restarting. None
    was exported before 2026-12-07: the registries are veille's own, not the client's default
    one, which carries them."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(MemoryLimit())


#: Above this, a cgroup's limit is "none" (cgroup v1 writes 2**63 - 4096 rounded to a page).
_NO_LIMIT = 2**62


class MemoryLimit:
    """veille_memory_limit_bytes: the memory limit of the process's control group (a container's
    `mem_limit`, a pod's `resources.limits.memory`), read at each scrape; no sample without one.
    cgroup v2 (memory.max) or v1 (memory.limit_in_bytes), in the process's own group as
    /proc/self/cgroup names it, else at the root of the hierarchy (what a container sees of its
    own group)."""

    NAME = "veille_memory_limit_bytes"
    DOC = ("The memory limit of the process's container (its cgroup's memory.max or "
           "memory.limit_in_bytes); no sample when it has none.")

    def __init__(self, root: Path = Path("/sys/fs/cgroup"),
                 cgroups: Path = Path("/proc/self/cgroup")) -> None:
        self.root = root
        self.cgroups = cgroups

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.DOC)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.DOC)
        limit = self.limit()
        if limit is not None:
            family.add_metric([], limit)
        yield family

    def _files(self) -> Iterator[Path]:
        try:
            lines = self.cgroups.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
            relative = path.strip().lstrip("/")
            if controllers == "" and line.startswith("0::"):
                yield self.root / relative / "memory.max"
            elif "memory" in controllers.split(","):
                yield self.root / "memory" / relative / "memory.limit_in_bytes"
        yield self.root / "memory.max"
        yield self.root / "memory" / "memory.limit_in_bytes"

    def limit(self) -> float | None:
        """The limit in bytes, None when there is none (or nothing to read it from)."""
        for file in self._files():
            try:
                text = file.read_text().strip()
            except OSError:
                continue
            if not text.isdigit():  # "max": none
                return None
            value = int(text)
            return float(value) if value < _NO_LIMIT else None
        return None


def platform_label(platform: str) -> str:
    return platform if platform in PLATFORMS else "other"


class _BrandSeries:
    """Metrics with series per watched brand, created at 0 by `_init_brands`."""

    brands: tuple[str, ...]
    #: Whether `brands` ends with "none" (the label of mentions of no watched brand).
    _with_none = False

    def _init_brands(self, brands: Iterable[str]) -> None:
        raise NotImplementedError

    def watch(self, brands: Iterable[str]) -> None:
        """The brands of a changed watch list: a new brand's series exported from now on at 0
        (the new ones alone: every brand's again took 0.9 s of the loop with 1,000 brands); a
        brand taken off counts under "none" from now on, its series kept until a restart."""
        watched = tuple(brands) + ((NO_BRAND,) if self._with_none else ())
        added = [b for b in watched if b not in self.brands]
        self.brands = watched
        self._init_brands(added)


class Metrics(_BrandSeries):
    """The worker's metrics. Label values come from bounded sets only (never author, URL, text)."""

    _with_none = True

    def __init__(
        self,
        registry: CollectorRegistry,
        brands: Iterable[str],
        languages: Iterable[str],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.brands = tuple(brands) + (NO_BRAND,)
        self.languages = tuple(languages) + UNSCORED_LANGUAGES
        self._clock = clock
        self._monotonic = monotonic
        self._beat_at: float | None = None  # self._monotonic() at the last beat
        self.last_received = 0.0
        self.info = build_info(registry)
        self.raw_messages = Counter(
            "veille_raw_messages_total",
            "Messages read from mentions.raw, whatever became of them.",
            registry=registry,
        )
        self.enriched = Counter(
            "veille_mentions_enriched_total",
            "Mentions enriched, per matched brand (a mention of two brands counts for each).",
            ["brand", "platform", "language", "sentiment"],
            registry=registry,
        )
        self.compound = Histogram(
            "veille_sentiment_compound",
            "Compound sentiment score (-1..1) of scored mentions, per brand.",
            ["brand"],
            buckets=COMPOUND_BUCKETS,
            registry=registry,
        )
        self.latency = Histogram(
            "veille_pipeline_latency_seconds",
            "Time from a mention's creation (since=created) or its arrival (since=received: "
            "the collector's collected_at, else the Kafka record's timestamp) to its enrichment.",
            ["since"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "veille_dead_letters_total",
            "Messages sent to the dead-letter topic, by reason and stage.",
            ["reason", "stage"],
            registry=registry,
        )
        self.duplicates = Counter(
            "veille_duplicates_dropped_total",
            "Mentions dropped because their id was already enriched.",
            registry=registry,
        )
        self.redeliveries = Counter(
            "veille_redeliveries_total",
            "Raw messages read again after a crash or rebalance whose enriched record was "
            "already on the broker: recognised by their offset, not enriched twice.",
            registry=registry,
        )
        self.dedup_ids = Gauge(
            "veille_dedup_window_ids",
            "Mention ids in this worker's de-duplication windows (bounded by "
            "VEILLE_DEDUP_MAX_PER_PARTITION per owned raw partition and by VEILLE_DEDUP_TTL_SECONDS).",
            registry=registry,
        )
        self.rekeyed = Counter(
            "veille_raw_rekeyed_total",
            "Raw messages whose Kafka key was not their id, re-sent keyed by id.",
            registry=registry,
        )
        self.unknown_brand = Counter(
            "veille_mentions_unknown_brand_total",
            "Mentions whose source named a brand (the raw mention's brands) the watch list does "
            "not have: the id ignored, the mention enriched without it (a typo in a Zap, a brand "
            "taken off the list).",
            registry=registry,
        )
        self.send_errors = Counter(
            "veille_agent_send_errors_total",
            "Failed sends of the worker's outputs: the enrichment stage's records and the spike "
            "agent's alert events (each is sent again until delivered).",
            registry=registry,
        )
        self.rebalances = Counter(
            "veille_rebalances_total",
            "Consumer group rebalances this worker went through: partition assignments in "
            "either of its groups (the enrichment stage's and the Faust agents').",
            registry=registry,
        )
        self.raw_backlog = Gauge(
            "veille_raw_backlog_messages",
            "Messages of this worker's mentions.raw partitions not read yet (the partitions' "
            "end less the enrichment stage's position, summed; every 5 s): unlike "
            "veille_lag_seconds, a partition behind shows even while another is up to date. "
            "NaN once no tick could measure it for 30 s (a position or end query failed); "
            "a shorter failure keeps the last measure.",
            registry=registry,
        )
        self.heartbeat = Gauge(
            "veille_heartbeat_timestamp_seconds",
            "Unix time of the worker's last successful round trip to the broker (tried every "
            "second): its age is how long the broker has been out of reach.",
            registry=registry,
        )
        # Its age by the worker itself: Prometheus's time() less the timestamp above is off by
        # any skew between the two hosts' clocks, and by a step of the worker's clock.
        self.heartbeat_age = Gauge(
            "veille_heartbeat_age_seconds",
            "Seconds since the worker's last successful round trip to the broker, on its "
            "monotonic clock at the scrape (a step of its wall clock or a skew with "
            "Prometheus's does not change it); NaN before the first.",
            registry=registry,
        )
        self.heartbeat_age.set_function(self._heartbeat_age)
        self.last_processed = Gauge(
            "veille_last_processed_timestamp_seconds",
            "Unix time at which the worker last enriched a mention.",
            registry=registry,
        )
        self.lag = Gauge(
            "veille_lag_seconds",
            "Time-based lag: age of the newest mention processed (now - its received time); "
            "0 before the first one.",
            registry=registry,
        )
        self.lag.set_function(self._lag)
        self._compound: dict[str, Any] = {}  # brand -> its compound histogram's child
        self._init_series()
        self._children: dict[tuple[str, str, str, str], Any] = {}
        self._since_created = self.latency.labels("created")
        self._since_received = self.latency.labels("received")

    def _lag(self) -> float:
        return max(0.0, self._clock() - self.last_received) if self.last_received else 0.0

    def _init_brands(self, brands: Iterable[str]) -> None:
        for brand in brands:
            if brand not in self._compound:
                self._compound[brand] = self.compound.labels(brand)
            # The label sets a mention can have: a scored language's mentions are positive,
            # neutral or negative, other and und's unscored (every combination made 224 series a
            # brand, half never used: 85,548 on the page with 300 brands; 2026-12-07).
            for platform in PLATFORMS:
                for language in self.languages:
                    for label in (("unscored",) if language in UNSCORED_LANGUAGES else SCORED_LABELS):
                        self.enriched.labels(brand, platform, language, label)

    def _init_series(self) -> None:
        self._init_brands(self.brands)
        for since in ("created", "received"):
            self.latency.labels(since)
        for reason in DLQ_REASONS:
            for stage in STAGES:
                self.dead_letters.labels(reason, stage)

    def beat(self) -> None:
        self.heartbeat.set(self._clock())
        self._beat_at = self._monotonic()

    def _heartbeat_age(self) -> float:
        return math.nan if self._beat_at is None else max(0.0, self._monotonic() - self._beat_at)

    def observe_enriched(
        self,
        brands: tuple[str, ...],
        platform: str,
        language: str,
        sentiment: str,
        compound: float | None,
        created_at: float,
        received_at: float,
    ) -> None:
        """One enriched mention, counted at once (the enrichment stage counts a batch's with
        `tally`, which must give the same page: a unit test compares them)."""
        now = self._clock()
        lang = language if language in self.languages else "other"
        plat = platform_label(platform)
        children = self._children
        for brand in brands or (NO_BRAND,):
            brand = brand if brand in self.brands else NO_BRAND
            key = (brand, plat, lang, sentiment)
            child = children.get(key)
            if child is None:  # labels() takes a lock and builds a tuple: once per label set
                child = children[key] = self.enriched.labels(*key)
            child.inc()
            if compound is not None:
                self._compound[brand].observe(compound)
        self._since_created.observe(max(0.0, now - created_at))
        self._since_received.observe(max(0.0, now - received_at))
        self.last_processed.set(now)
        self.last_received = max(self.last_received, received_at)

    def tally(self) -> EnrichedTally:
        """A batch's counts, kept apart until `apply()` (see EnrichedTally)."""
        return EnrichedTally(self)


class _HistogramTally:
    """Observations of one histogram child, applied at once: a bucket found by bisection and
    one increment per bucket instead of one locked increment and a linear bucket scan per value.

    Writes the child's own value cells (`_sum`, `_buckets`, `_upper_bounds`: prometheus-client
    0.26's, pinned in pyproject.toml); a unit test checks the exposition equals that of
    observing each value."""

    __slots__ = ("child", "bounds", "counts", "total", "n")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds = child._upper_bounds
        self.counts = [0] * len(self.bounds)
        self.total = 0.0
        self.n = 0

    def observe(self, amount: float) -> None:
        self.total += amount
        self.n += 1
        if amount == amount:  # a NaN falls in no bucket, as Histogram.observe places it
            self.counts[bisect_left(self.bounds, amount)] += 1

    def apply(self) -> None:
        if not self.n:
            return
        child = self.child
        child._sum.inc(self.total)
        for i, n in enumerate(self.counts):
            if n:
                child._buckets[i].inc(n)
                self.counts[i] = 0
        self.total, self.n = 0.0, 0


class EnrichedTally:
    """The enrichment metrics of a batch of mentions, counted in plain Python and applied to the
    Prometheus metrics once per batch (`apply`): a locked increment per counter and label set
    rather than six to eight per mention. A scrape between two batches sees the previous batch's
    counts; nothing is lost as long as `apply` runs (the stage calls it in a finally)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.raw = 0
        self._enriched: dict[tuple[str, str, str, str], int] = {}
        self._compound: dict[str, _HistogramTally] = {}
        self._since_created = _HistogramTally(metrics._since_created)
        self._since_received = _HistogramTally(metrics._since_received)
        self._last_processed: float | None = None
        self._last_received = 0.0

    def observe_enriched(
        self,
        brands: tuple[str, ...],
        platform: str,
        language: str,
        sentiment: str,
        compound: float | None,
        created_at: float,
        received_at: float,
    ) -> None:
        m = self.metrics
        now = m._clock()
        lang = language if language in m.languages else "other"
        plat = platform_label(platform)
        enriched = self._enriched
        for brand in brands or (NO_BRAND,):
            brand = brand if brand in m.brands else NO_BRAND
            key = (brand, plat, lang, sentiment)
            enriched[key] = enriched.get(key, 0) + 1
            if compound is not None:
                tally = self._compound.get(brand)
                if tally is None:
                    tally = self._compound[brand] = _HistogramTally(m._compound[brand])
                tally.observe(compound)
        self._since_created.observe(max(0.0, now - created_at))
        self._since_received.observe(max(0.0, now - received_at))
        self._last_processed = now
        if received_at > self._last_received:
            self._last_received = received_at

    def apply(self) -> None:
        """Add what was counted since the last call to the metrics."""
        m = self.metrics
        if self.raw:
            m.raw_messages.inc(self.raw)
            self.raw = 0
        children = m._children
        for key, n in self._enriched.items():
            child = children.get(key)
            if child is None:  # labels() takes a lock and builds a tuple: once per label set
                child = children[key] = m.enriched.labels(*key)
            child.inc(n)
        self._enriched.clear()
        for tally in self._compound.values():
            tally.apply()
        self._since_created.apply()
        self._since_received.apply()
        if self._last_processed is not None:
            m.last_processed.set(self._last_processed)
            m.last_received = max(m.last_received, self._last_received)
            self._last_processed = None


#: Collector names: a bounded label set.
COLLECTORS = ("replay", "rss", "webhook", "mastodon", "bluesky", "reddit", "jetstream", "youtube")
#: Reasons a collector refuses an item (bounded): the record validation reasons plus transport ones.
COLLECTOR_REFUSALS = DLQ_REASONS + ("unauthorized", "payload_too_large", "too_many_items",
                                    "overloaded", "duplicate", "unsupported")


class CollectorMetrics:
    """The same metrics for every collector, labelled by collector name.

    A collector's series are created, at 0, by `register` (veille.collectors.base.Collector
    calls it with its name): a collector process exports its own collector's series only. Until
    2026-12-06 every process exported all four, the others' last success at 0 for ever, and
    CollectorSilent fired for collector="webhook" in the RSS collector's job."""

    def __init__(self, registry: CollectorRegistry, collectors: Iterable[str] = ()) -> None:
        self.registry = registry
        # Collectors say which build they run too (until 2026-12-06 the workers alone did).
        self.info = build_info(registry)
        self.fetched = Counter(
            "veille_collector_items_fetched_total",
            "Items a collector received or fetched from its source.",
            ["collector"], registry=registry,
        )
        self.sent = Counter(
            "veille_collector_items_sent_total",
            "Mentions written to mentions.raw and acknowledged by the broker.",
            ["collector"], registry=registry,
        )
        self.refused = Counter(
            "veille_collector_items_refused_total",
            "Items refused by a collector, by reason.",
            ["collector", "reason"], registry=registry,
        )
        self.send_errors = Counter(
            "veille_collector_send_errors_total",
            "Writes to mentions.raw the broker did not acknowledge in time.",
            ["collector"], registry=registry,
        )
        self.answers_sent = Counter(
            "veille_collector_answers_sent_total",
            "The brand's own replies a collector saw on the platform, written to "
            "moderation.decisions as replied decisions and acknowledged by the broker.",
            ["collector"], registry=registry,
        )
        self.last_success = Gauge(
            "veille_collector_last_success_timestamp_seconds",
            "Unix time of the collector's last acknowledged write.",
            ["collector"], registry=registry,
        )
        for c in collectors:
            self.register(c)

    def register(self, collector: str) -> None:
        """Create the collector's series (one of COLLECTORS), at 0; again is harmless."""
        self.fetched.labels(collector)
        self.sent.labels(collector)
        self.send_errors.labels(collector)
        self.answers_sent.labels(collector)
        self.last_success.labels(collector)
        for reason in COLLECTOR_REFUSALS:
            self.refused.labels(collector, reason)


#: Why a poll of a feed failed (a label value): the fetch (HTTP error, timeout, too large,
#: redirects), forbidden_address (a redirect to a host that is not a configured feed's and is or
#: resolves to an internal address: refused), a document that is no feed, the broker not
#: acknowledging its entries.
FEED_FAILURES = ("fetch", "forbidden_address", "not_a_feed", "broker")


class _SourceHealth:
    """A collector's health per configured source (an RSS feed, a Mastodon hashtag): the time
    of its last good poll and its failed polls by kind, every series at 0 from the start."""

    def __init__(self, registry: CollectorRegistry, names: Iterable[str], *, prefix: str,
                 label: str, kinds: Iterable[str], last_help: str, failures_help: str) -> None:
        self.last_success = Gauge(f"{prefix}_last_success_timestamp_seconds", last_help,
                                  [label], registry=registry)
        self.failures = Counter(f"{prefix}_failures_total", failures_help, [label, "kind"],
                                registry=registry)
        self.kinds = tuple(kinds)
        self.watch(names)

    def watch(self, names: Iterable[str]) -> None:
        """Sources of a changed watch list: their series exported from now on, at 0 (a source
        already exported keeps its own)."""
        for name in names:
            self.last_success.labels(name)
            for kind in self.kinds:
                self.failures.labels(name, kind)

    def forget(self, name: str) -> None:
        """A source taken off the watch list: its series go (a last success frozen for ever
        would read as a source that stopped working)."""
        self.last_success.remove(name)
        for kind in self.kinds:
            self.failures.remove(name, kind)


class FeedMetrics(_SourceHealth):
    """The RSS collector's health per feed, labelled by the feed's `name` in the watch list (or
    `feed-N`, its place there): a bounded, configured set, never its URL."""

    def __init__(self, registry: CollectorRegistry, feeds: Iterable[str]) -> None:
        super().__init__(
            registry, feeds, prefix="veille_rss_feed", label="feed", kinds=FEED_FAILURES,
            last_help="Unix time of the feed's last good poll (entries read, or not modified); "
                      "0 until one.",
            failures_help="Polls of the feed that failed: fetch (HTTP error, timeout, too large, "
                          "redirects), forbidden_address (a redirect to an internal address, "
                          "refused), not_a_feed, broker.")


#: Why a poll of a Mastodon hashtag failed (a label value): the fetch (HTTP error other than
#: the two below, timeout, connection, an answer too large or not a list of statuses),
#: rate_limited (still 429 after the retries, or a rate-limit reset beyond what the round may
#: wait), unauthorized (401 or 403: the token missing, refused or revoked), the broker not
#: acknowledging its statuses.
HASHTAG_FAILURES = ("fetch", "rate_limited", "unauthorized", "broker")


class HashtagMetrics(_SourceHealth):
    """The Mastodon collector's health per hashtag, labelled by the hashtag without its '#' as
    the watch list spells it (its first spelling when listed twice): a bounded, configured set."""

    def __init__(self, registry: CollectorRegistry, hashtags: Iterable[str]) -> None:
        super().__init__(
            registry, hashtags, prefix="veille_mastodon_hashtag", label="hashtag",
            kinds=HASHTAG_FAILURES,
            last_help="Unix time of the hashtag's last good poll (its timeline read and its new "
                      "statuses, if any, acknowledged by the broker); 0 until one.",
            failures_help="Polls of the hashtag that failed: fetch (HTTP error, timeout, answer "
                          "too large or not a list of statuses), rate_limited, unauthorized (401, "
                          "403), broker.")


#: Why a read of a brand's Mastodon account failed (a label value): as a hashtag's (fetch: also
#: the account unknown to the instance, 404 or 410 on its lookup; unauthorized: the lookup or its
#: statuses refused, 401 or 403).
MASTODON_ACCOUNT_FAILURES = HASHTAG_FAILURES


class MastodonAccountMetrics(_SourceHealth):
    """The Mastodon collector's health of the brands' own accounts (the watch list's
    `mastodon_accounts`), per brand (its id): a username is no label value (free text, and an
    account's name is personal data); the brand's id is a bounded, configured set. Until
    2026-12-07 an account's failures counted under its brand's first hashtag, and
    MastodonHashtagFailing named a hashtag that worked."""

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str]) -> None:
        super().__init__(
            registry, brands, prefix="veille_mastodon_account", label="brand",
            kinds=MASTODON_ACCOUNT_FAILURES,
            last_help="Unix time of the last round in which every Mastodon account of the brand "
                      "(mastodon_accounts) was read and its answers, if any, acknowledged by the "
                      "broker; 0 until one.",
            failures_help="Reads of the brand's Mastodon accounts that failed: fetch (HTTP error, "
                          "timeout, the account unknown to the instance, an answer that is no "
                          "account or list of statuses), rate_limited, unauthorized (401, 403), "
                          "broker.")


#: Why a Bluesky search failed (a label value): as a Mastodon hashtag's.
BLUESKY_FAILURES = HASHTAG_FAILURES


class BlueskyBrandMetrics(_SourceHealth):
    """The Bluesky collector's health per brand of the watch list (its id): a brand is searched
    under each of its terms (name, aliases, hashtags), and a search string is no label value
    (free text, and as many as the watch list's terms); its id is a bounded, configured set."""

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str]) -> None:
        super().__init__(
            registry, brands, prefix="veille_bluesky_brand", label="brand",
            kinds=BLUESKY_FAILURES,
            last_help="Unix time of the last round in which every search of the brand's terms "
                      "was read and its new posts, if any, acknowledged by the broker; 0 until one.",
            failures_help="Searches of the brand's terms that failed: fetch (HTTP error, timeout, "
                          "answer too large or no list of posts), rate_limited, unauthorized "
                          "(sign-in refused, 401, 403), broker.")


#: Why a Reddit search failed (a label value): as a Bluesky search's (unauthorized: the app's
#: credentials refused by the token endpoint, or a 401/403 on the search).
REDDIT_FAILURES = HASHTAG_FAILURES


class RedditBrandMetrics(_SourceHealth):
    """The Reddit collector's health per brand of the watch list (its id), as the Bluesky
    collector's: a search string is no label value; the brand's id is a bounded, configured set."""

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str]) -> None:
        super().__init__(
            registry, brands, prefix="veille_reddit_brand", label="brand",
            kinds=REDDIT_FAILURES,
            last_help="Unix time of the last round in which every Reddit search of the brand's "
                      "terms was read and its new posts, if any, acknowledged by the broker; 0 "
                      "until one.",
            failures_help="Reddit searches of the brand's terms that failed: fetch (HTTP error, "
                          "timeout, answer too large or no Listing), rate_limited, unauthorized "
                          "(the app's credentials refused, 401, 403), broker.")


#: Why a YouTube channel's read failed (a label value): as a Reddit search's (rate_limited: the
#: API key's daily quota spent, or its rate limit; unauthorized: the key refused), and channel:
#: the channel itself refused (its comments disabled, not found).
YOUTUBE_FAILURES = (*HASHTAG_FAILURES, "channel")


class YoutubeBrandMetrics(_SourceHealth):
    """The YouTube collector's health per brand of the watch list (its id): a channel id is no
    label value; the brand's id is a bounded, configured set."""

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str]) -> None:
        super().__init__(
            registry, brands, prefix="veille_youtube_brand", label="brand",
            kinds=YOUTUBE_FAILURES,
            last_help="Unix time of the last round in which the comments of every YouTube "
                      "channel of the brand were read and the new ones, if any, acknowledged by "
                      "the broker; 0 until one.",
            failures_help="Reads of the brand's YouTube channels that failed: fetch (HTTP error, "
                          "timeout, no list of comment threads), rate_limited (the API key's "
                          "quota spent), unauthorized (the API key refused), channel (its "
                          "comments disabled, not found), broker.")


#: What a Jetstream event was (a label value): a post created (matched against the watch list or
#: not), an event ignored (identity, account, an update or delete, another collection), an event
#: refused (malformed: veille_collector_items_refused_total says why).
JETSTREAM_EVENTS = ("post", "ignored", "refused")
#: Why the Jetstream collector connected again (a label value): the server closed the socket or
#: it dropped (closed), the server could not be reached or refused the connection (unreachable),
#: the broker did not acknowledge the posts read (broker), anything else (error).
JETSTREAM_RECONNECTS = ("closed", "unreachable", "broker", "error")


class JetstreamMetrics:
    """The Jetstream collector's stream: events read by kind, posts naming a brand, connections
    made again by cause, whether it is connected, and its lag (the clock less the time of the
    last event read, computed when scraped: it grows while the stream is cut off)."""

    def __init__(self, registry: CollectorRegistry, last_event: Callable[[], float]) -> None:
        self.events = Counter("veille_jetstream_events_total",
                              "Jetstream events read, by kind: post (a post created), ignored "
                              "(identity, account, update, delete, other collections), refused "
                              "(malformed).", ["kind"], registry=registry)
        self.matched = Counter("veille_jetstream_posts_matched_total",
                               "Posts read on Jetstream whose text names a brand of the watch list, "
                               "once each: sent to mentions.raw, or refused by the record contract "
                               "(veille_collector_items_refused_total).", registry=registry)
        self.reconnects = Counter("veille_jetstream_reconnects_total",
                                  "Connections to Jetstream made again, by cause: closed, "
                                  "unreachable, broker, error.", ["cause"], registry=registry)
        self.connected = Gauge("veille_jetstream_connected",
                               "1 while the collector is connected to Jetstream, else 0.",
                               registry=registry)
        self.lag = Gauge("veille_jetstream_lag_seconds",
                         "Seconds between now and the time (time_us) of the last Jetstream event "
                         "read (before the first one: of the cursor resumed, or of the start).",
                         registry=registry)
        self.lag.set_function(lambda: max(time.time() - last_event(), 0.0))
        for kind in JETSTREAM_EVENTS:
            self.events.labels(kind)
        for cause in JETSTREAM_RECONNECTS:
            self.reconnects.labels(cause)


SEVERITIES = ("warning", "critical")
ALERT_STATE = {"none": 0, "warning": 1, "critical": 2}


class SpikeMetrics(_BrandSeries):
    """Per-brand crisis detection metrics (brands from the watch list only)."""

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str], bucket_seconds: float) -> None:
        self.brands = tuple(brands)
        # The alert descriptions give the expected negative count per 5 minutes, as the live
        # counters': the expected gauge is per bucket, whatever size it is set to.
        self.bucket_seconds = Gauge(
            "veille_reputation_bucket_seconds",
            "Size of the spike agent's event-time buckets (VEILLE_SPIKE_BUCKET_SECONDS): the "
            "period of the per-bucket gauges (observed, expected).",
            registry=registry,
        )
        self.bucket_seconds.set(bucket_seconds)
        self.score = Gauge(
            "veille_reputation_anomaly_score",
            "Anomaly score (0..1, 0.5 at the alert threshold) of the brand's last closed bucket.",
            ["brand"], registry=registry,
        )
        self.observed = Gauge(
            "veille_reputation_negative_observed",
            "Negative mentions in the brand's last closed bucket.",
            ["brand"], registry=registry,
        )
        self.expected = Gauge(
            "veille_reputation_negative_expected",
            "Negative mentions expected in that bucket: the detector's baseline (on a brand's "
            "first day, the bucket's mentions times its usual negative share).",
            ["brand"], registry=registry,
        )
        self.share = Gauge(
            "veille_reputation_negative_share",
            "Share of negative mentions in the brand's last closed bucket.",
            ["brand"], registry=registry,
        )
        self.alert_state = Gauge(
            "veille_reputation_alert_state",
            "The brand's alert story: 0 none or resolved, 1 warning, 2 critical.",
            ["brand"], registry=registry,
        )
        self.alerts_opened = Counter(
            "veille_reputation_alerts_opened_total",
            "Alert stories opened (or re-opened), by severity at opening.",
            ["brand", "severity"], registry=registry,
        )
        self.escalations = Counter(
            "veille_reputation_alerts_escalated_total",
            "Alert stories escalated from warning to critical.",
            ["brand"], registry=registry,
        )
        self.buckets = Counter(
            "veille_reputation_buckets_closed_total",
            "Event-time buckets closed and scored.",
            ["brand"], registry=registry,
        )
        self.mentions = Counter(
            "veille_reputation_mentions_total",
            "Mentions counted into the brand's event-time buckets by the spike agent.",
            ["brand"], registry=registry,
        )
        self.late = Counter(
            "veille_reputation_late_mentions_total",
            "Mentions that arrived after their bucket had closed (beyond the lateness bound).",
            ["brand"], registry=registry,
        )
        self._init_brands(self.brands)

    def _init_brands(self, brands: Iterable[str]) -> None:
        # The per-brand gauges appear once the worker owning the brand's partition scores a
        # bucket, and go when a rebalance moves the brand away (no stale series elsewhere).
        for b in brands:
            for sev in SEVERITIES:
                self.alerts_opened.labels(b, sev)
            self.escalations.labels(b)
            self.buckets.labels(b)
            self.mentions.labels(b)
            self.late.labels(b)

    @property
    def gauges(self) -> tuple[Gauge, ...]:
        return (self.score, self.observed, self.expected, self.share, self.alert_state)

    def forget(self, brand: str) -> None:
        """Stop exporting the brand's gauges (its partition now belongs to another worker)."""
        for g in self.gauges:
            try:
                g.remove(brand)
            except KeyError:
                pass


#: Time from a case entering the queue to the decision that closed it: minutes to days.
DECISION_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
                    259200.0)


class ModerationMetrics(_BrandSeries):
    """Moderation KPIs (brands from the watch list, categories from veille.moderation).

    Two kinds of counters. The case counters (veille_moderation_cases_*_total{brand}) count a
    case once: the processed share (processed / received) and the rejection rate (rejected /
    processed) are ratios of these. The item counters (veille_moderation_items_*_total{brand,
    category}) count a case once per triage category, or once under category="none" when it was
    queued for a banned term alone: they answer "how many per category" and are not for ratios
    (summed over categories, a case of three categories counts three times, and rejected cases
    tend to have several). The per-brand gauges describe the cases this
    worker's partitions hold: they exist only while it owns moderation partitions, and with
    several workers Prometheus sums the backlog and the unanswered count and takes the max of
    the oldest age. The answer counter (veille_moderation_answers_total{brand, outcome}) counts
    the closing decision of each negative case asking for an answer, once: a reply on_time or
    late against the brand's response deadline (the late ones are those the unanswered gauge
    counted), approve or reject as no_answer. veille_moderation_platform_answers_total{brand}
    counts, once per case too, the cases closed by an answer a collector saw on the platform.
    """

    def __init__(self, registry: CollectorRegistry, brands: Iterable[str]) -> None:
        from veille.moderation.cases import ANSWER_OUTCOMES, DECISION_ERRORS

        self.brands = tuple(brands)
        self._backlog_labels: set[str] = set()  # brand labels the backlog gauges export
        # Once per case: the counters of the KPI ratios.
        self.cases_received = Counter(
            "veille_moderation_cases_received_total",
            "Cases queued for a moderator (cases opened), once per case whatever its categories.",
            ["brand"], registry=registry,
        )
        self.cases_processed = Counter(
            "veille_moderation_cases_processed_total",
            "Cases closed by a moderator (approve, reject or replied), once per case.",
            ["brand"], registry=registry,
        )
        self.cases_rejected = Counter(
            "veille_moderation_cases_rejected_total",
            "Cases closed by a reject decision (the item was removed), once per case.",
            ["brand"], registry=registry,
        )
        # Once per triage category: the "per category" views, not for ratios.
        self.received = Counter(
            "veille_moderation_items_received_total",
            "Cases queued for a moderator, once per triage category (a case of 3 categories "
            "counts 3 times): per-category volumes, not for ratios (see the cases_ counters).",
            ["brand", "category"], registry=registry,
        )
        self.processed = Counter(
            "veille_moderation_items_processed_total",
            "Cases closed by a moderator (approve, reject or replied), once per triage category: "
            "per-category volumes, not for ratios (see the cases_ counters).",
            ["brand", "category"], registry=registry,
        )
        self.rejected = Counter(
            "veille_moderation_items_rejected_total",
            "Cases closed by a reject decision (the item was removed), once per triage category: "
            "per-category volumes, not for ratios (see the cases_ counters).",
            ["brand", "category"], registry=registry,
        )
        self.backlog = Gauge(
            "veille_moderation_backlog_items",
            "Pending cases (escalated ones included) held by this worker's partitions.",
            ["brand"], registry=registry,
        )
        self.unassigned = Gauge(
            "veille_moderation_unassigned_items",
            "Pending cases no moderator is assigned (no assign decision, given back, or escalated "
            "to the escalation queue), held by this worker's partitions.",
            ["brand"], registry=registry,
        )
        self.oldest = Gauge(
            "veille_moderation_oldest_pending_age_seconds",
            "Age of the oldest pending case held by this worker's partitions (0 when none).",
            ["brand"], registry=registry,
        )
        self.decision_seconds = Histogram(
            "veille_moderation_decision_seconds",
            "Time from a case entering the queue to the decision that closed it.",
            ["brand"], buckets=DECISION_BUCKETS, registry=registry,
        )
        self.unanswered = Gauge(
            "veille_moderation_unanswered_negative",
            "Negative cases asking for an answer (needs_answer), still pending after the brand "
            "charter's response deadline, whatever their action (this worker's partitions).",
            ["brand"], registry=registry,
        )
        self.answers = Counter(
            "veille_moderation_answers_total",
            "Negative cases asking for an answer (needs_answer) closed by a moderator, once per "
            "case: a reply (replied) is outcome=on_time by the brand charter's response "
            "deadline, late after it; approve or reject close it with outcome=no_answer.",
            ["brand", "outcome"], registry=registry,
        )
        self._answer_outcomes = ANSWER_OUTCOMES
        self.platform_answers = Counter(
            "veille_moderation_platform_answers_total",
            "Cases closed by the brand's answer seen on its platform by a collector (a replied "
            "decision with answered_on), not recorded by a moderator in veille, once per case.",
            ["brand"], registry=registry,
        )
        self.ignored = Counter(
            "veille_moderation_decisions_ignored_total",
            "Decisions not applied: unknown_case, duplicate, already_closed, conflict, invalid, "
            "or not_a_case (an answer seen on a platform to a comment that never became a case).",
            ["reason"], registry=registry,
        )
        self._init_brands((*self.brands, NO_BRAND))
        for reason in DECISION_ERRORS:
            self.ignored.labels(reason)

    def _init_brands(self, brands: Iterable[str]) -> None:
        from veille.moderation import METRIC_CATEGORIES
        from veille.moderation.cases import ANSWER_OUTCOMES

        # "none" too (a case of a brand no longer watched): a series first seen at 1 loses
        # that count to increase() (found in review, 2026-12-05).
        for b in brands:
            self.decision_seconds.labels(b)
            for counter in (self.cases_received, self.cases_processed, self.cases_rejected,
                            self.platform_answers):
                counter.labels(b)
            for c in METRIC_CATEGORIES:
                for counter in (self.received, self.processed, self.rejected):
                    counter.labels(b, c)
            for outcome in ANSWER_OUTCOMES:
                self.answers.labels(b, outcome)

    def brand(self, brand: str) -> str:
        """The label value: a brand no longer in the watch list counts under "none"."""
        return brand if brand in self.brands else NO_BRAND

    def observe_received(self, brand: str, categories: tuple[str, ...]) -> None:
        b = self.brand(brand)
        self.cases_received.labels(b).inc()
        for c in categories or (NO_CATEGORY,):
            self.received.labels(b, c).inc()

    def observe_closed(self, brand: str, categories: tuple[str, ...], decision: str,
                       seconds: float, answer: str | None = None,
                       answered_on: str | None = None) -> None:
        """A case closed by `decision` after `seconds` in the queue; `answer` is "on_time" or
        "late" for a case asking for an answer (veille.moderation.cases.Outcome.answer);
        `answered_on`, the platform of an answer a collector saw there (not a label: any
        platform a collector names would make a series)."""
        b = self.brand(brand)
        self.cases_processed.labels(b).inc()
        if answered_on is not None:
            self.platform_answers.labels(b).inc()
        if decision == "reject":
            self.cases_rejected.labels(b).inc()
        for c in categories or (NO_CATEGORY,):
            self.processed.labels(b, c).inc()
            if decision == "reject":
                self.rejected.labels(b, c).inc()
        self.decision_seconds.labels(b).observe(seconds)
        if answer is not None:  # one of ANSWER_OUTCOMES (Case.answer_outcome)
            for outcome in self._answer_outcomes:  # every series, for the on-time ratio
                self.answers.labels(b, outcome)
            self.answers.labels(b, answer).inc()

    @property
    def gauges(self) -> tuple[Gauge, ...]:
        return (self.backlog, self.oldest, self.unanswered, self.unassigned)

    def set_backlog(self, backlogs: Iterable[Any]) -> None:
        """Export veille.moderation.cases.Backlog values (one per brand)."""
        totals: dict[str, list[float]] = {}
        for b in backlogs:
            t = totals.setdefault(self.brand(b.brand), [0, 0.0, 0, 0])
            t[0] += b.pending
            t[1] = max(t[1], b.oldest_age_seconds)
            t[2] += b.unanswered_negative
            t[3] += b.unassigned
        # A label exported before and absent now (the last "none" case closed) goes back to 0.
        for label in self._backlog_labels - totals.keys():
            totals[label] = [0, 0.0, 0, 0]
        self._backlog_labels = set(totals)
        for label, (pending, oldest, unanswered, unassigned) in totals.items():
            self.backlog.labels(label).set(pending)
            self.oldest.labels(label).set(oldest)
            self.unanswered.labels(label).set(unanswered)
            self.unassigned.labels(label).set(unassigned)

    def forget(self) -> None:
        """Stop exporting the per-brand gauges (this worker owns no moderation partition)."""
        for g in self.gauges:
            g.clear()
        self._backlog_labels = set()


def agents_paused(registry: CollectorRegistry, seconds: Callable[[], float]) -> Gauge:
    """veille_agents_paused_seconds of a worker running the Faust agents, read from `seconds`
    (veille.app.App.paused_seconds) at each scrape."""
    gauge = Gauge(
        "veille_agents_paused_seconds",
        "How long this worker's spike and moderation agents have been paused (joining the "
        "group, a rebalance, their tables recovered from the changelogs and read to their "
        "end); 0 while they run. Meanwhile no crisis is detected and no moderation case is opened or closed.",
        registry=registry,
    )
    gauge.set_function(seconds)
    return gauge


class WatchlistMetrics:
    """The watch list a process uses, re-read while it runs (veille.reload): workers and
    the collectors that read it (RSS, Mastodon, Bluesky)."""

    def __init__(self, registry: CollectorRegistry, loaded_at: float) -> None:
        self.loaded = Gauge(
            "veille_watchlist_loaded_timestamp_seconds",
            "Unix time at which the watch list in use was loaded (at start, or the last change "
            "taken while running).",
            registry=registry,
        )
        self.loaded.set(loaded_at)
        self.brands = Gauge(
            "veille_watchlist_brands",
            "Brands of the watch list in use.",
            registry=registry,
        )
        self.refused = Gauge(
            "veille_watchlist_refused",
            "1 while the watch list on disk has changed but cannot be used (it does not load: "
            "the error is in the log) and the one loaded before stays in use; 0 otherwise.",
            registry=registry,
        )
        self.reloads = Counter(
            "veille_watchlist_reloads_total",
            "Changes of the watch list taken while running (outcome=applied) or refused "
            "(outcome=refused: the file did not load, the one in use stayed).",
            ["outcome"], registry=registry,
        )
        for outcome in ("applied", "refused"):
            self.reloads.labels(outcome)


class BrandTeams:
    """veille_brand_info{brand, team}: 1 for each brand of the watch list in use, its `team` the
    watch list's (empty, so absent in Prometheus, for a brand without one). The brand alert
    rules read it to give each alert the `team` label Alertmanager routes by. Unlike the
    counters, it follows the watch list at once: a brand taken off or moved to another team loses
    its series (the rules must not go on routing by a team the watch list no longer gives)."""

    def __init__(self, registry: CollectorRegistry, teams: Mapping[str, str]) -> None:
        self.gauge = Gauge(
            "veille_brand_info",
            "1 for each brand of the watch list in use; label team: the team the watch list "
            "gives it (none: no team), which the brand alerts carry for Alertmanager's routes.",
            ["brand", "team"], registry=registry,
        )
        self.teams: dict[str, str] = {}
        self.watch(teams)

    def watch(self, teams: Mapping[str, str]) -> None:
        """The teams of a changed watch list (brand id -> team, "" for none)."""
        for brand, team in self.teams.items():
            if teams.get(brand) != team:
                self.gauge.remove(brand, team)
        for brand, team in teams.items():
            if self.teams.get(brand) != team:
                self.gauge.labels(brand, team).set(1)
        self.teams = dict(teams)


#: The moderation API's routes (veille.moderate.api, .page), as templates: a bounded label set.
#: "other" is a request no route took (404, 405), whatever its path.
MODERATION_API_ROUTES = (
    "/cases", "/cases/{case_id}", "/closed", "/cases/{case_id}/decision", "/decisions", "/ui",
    "/ui/closed", "/ui/signin", "/ui/decision", "/ui/decisions", "/ui/signout", "/healthz",
    "/metrics", "other",
)
#: Why the moderation API or its page refused a request (4xx): the API's error codes, and the
#: page's own refusals of a form (cross_site, csrf, expired); anything else counts as "other".
MODERATION_API_REFUSALS = (
    "unauthorized", "misdirected_request", "unauthenticated_user", "ambiguous_user",
    "moderator_mismatch", "invalid_query", "invalid_field", "invalid_json", "invalid_header",
    "undecodable_body", "payload_too_large", "unsupported_media_type",
    "unsupported_content_encoding", "expectation_failed", "not_found", "method_not_allowed",
    "unknown_case", "already_closed", "decision_pending", "assigned_first", "decided_first",
    "not_applicable", "not_applied", "outcome_unknown", "idempotency_key_reused", "cross_site",
    "csrf", "expired", "other",
)
#: Where a decision or a refusal came through: the JSON API or the moderation page.
MODERATION_API_WAYS = ("api", "page")
#: A request's time: a listing of tens of thousands of cases, a first read of the topics.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ModerationApiMetrics:
    """`veille moderate serve`'s metrics (GET /metrics on the API's own port): its requests by
    route template and status code, the decisions it wrote, its refusals, its view's reads of
    the topics and the page's sessions. Never a case id, a moderator's name or a path as asked:
    routes, decisions, ways and reasons are the bounded sets above."""

    def __init__(self, registry: CollectorRegistry,
                 sessions: Callable[[], float] | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        from veille.moderation import DECISIONS

        self.registry = registry
        self._clock = clock
        self._monotonic = monotonic
        # self._monotonic() at the last successful read of the topics; at the start until one.
        self._read_at = monotonic()
        self.info = build_info(registry)
        self.requests = Counter(
            "veille_moderation_api_requests_total",
            "Requests the moderation API answered (its page's included), by route template "
            "(other: no route, 404 or 405) and status code.",
            ["route", "code"], registry=registry,
        )
        self.duration = Histogram(
            "veille_moderation_api_request_duration_seconds",
            "Time the moderation API took to answer a request (reading the topics, writing a "
            "decision and reading it back included), by route template.",
            ["route"], buckets=REQUEST_BUCKETS, registry=registry,
        )
        self.decisions = Counter(
            "veille_moderation_api_decisions_total",
            "Decisions the moderation API wrote to moderation.decisions and the broker "
            "acknowledged, by decision and by way (via=api: POST /cases/{id}/decision and POST "
            "/decisions; via=page: the moderation page's forms).",
            ["decision", "via"], registry=registry,
        )
        self.refusals = Counter(
            "veille_moderation_api_refusals_total",
            "Requests the moderation API or its page refused (4xx), by reason (the API's error "
            "code; the page's cross_site, csrf, expired) and way.",
            ["reason", "via"], registry=registry,
        )
        self.last_read = Gauge(
            "veille_moderation_api_last_read_timestamp_seconds",
            "Unix time of the moderation API's last successful read of the moderation topics "
            "(each request reads them; with no request for 30 s, the API reads them itself); 0 "
            "until one.",
            registry=registry,
        )
        # Its age by the API itself: Prometheus's time() less the timestamp above is off by any
        # skew between the two hosts' clocks, and by a step of the API's clock.
        self.last_read_age = Gauge(
            "veille_moderation_api_last_read_age_seconds",
            "Seconds since the moderation API's last successful read of the moderation topics, "
            "on its monotonic clock at the scrape (a step of its wall clock or a skew with "
            "Prometheus's does not change it); before the first, the seconds since it started.",
            registry=registry,
        )
        self.last_read_age.set_function(lambda: max(0.0, self._monotonic() - self._read_at))
        self.read_failures = Counter(
            "veille_moderation_api_read_failures_total",
            "Reads of the moderation topics that failed (the broker out of reach, or refusing "
            "the API's settings): the requests that needed them were answered 503.",
            registry=registry,
        )
        self.sessions = Gauge(
            "veille_moderation_page_sessions",
            "Sessions of the moderation page open now (signed in, not expired nor signed out).",
            registry=registry,
        )
        if sessions is not None:
            self.sessions.set_function(sessions)
        for route in MODERATION_API_ROUTES:
            self.duration.labels(route)
        for via in MODERATION_API_WAYS:
            for decision in DECISIONS:
                self.decisions.labels(decision, via)
            for reason in MODERATION_API_REFUSALS:
                self.refusals.labels(reason, via)

    def observe(self, route: str, code: int, seconds: float) -> None:
        """A request answered: `route` one of MODERATION_API_ROUTES (any other is "other")."""
        route = route if route in MODERATION_API_ROUTES else "other"
        self.requests.labels(route, str(code)).inc()
        self.duration.labels(route).observe(seconds)

    def refused(self, reason: str, via: str) -> None:
        self.refusals.labels(reason if reason in MODERATION_API_REFUSALS else "other",
                             via if via in MODERATION_API_WAYS else "api").inc()

    def decided(self, decision: str, via: str) -> None:
        self.decisions.labels(decision, via if via in MODERATION_API_WAYS else "api").inc()

    def read(self) -> None:
        """A successful read of the moderation topics: its time, and its age from now on."""
        self.last_read.set(self._clock())
        self._read_at = self._monotonic()
