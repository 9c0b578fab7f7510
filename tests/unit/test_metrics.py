"""Metrics: bounded labels, series initialised before traffic, counts from observations."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from veille.metrics import PROCESS_FAMILIES, Metrics


def make(now: float = 1000.0) -> tuple[Metrics, CollectorRegistry]:
    reg = CollectorRegistry()
    return Metrics(reg, ["acme", "boreal"], ["en", "fr"], clock=lambda: now), reg


def test_series_exist_before_traffic() -> None:
    _, reg = make()
    labels = {"brand": "boreal", "platform": "news", "language": "fr", "sentiment": "negative"}
    assert reg.get_sample_value("veille_mentions_enriched_total", labels) == 0.0
    assert reg.get_sample_value("veille_dead_letters_total",
                                {"reason": "invalid_json", "stage": "enrich"}) == 0.0
    assert reg.get_sample_value("veille_lag_seconds") == 0.0


def test_series_at_start_are_the_label_sets_a_mention_can_have() -> None:
    """A mention in a scored language is positive, neutral or negative, one in another language
    (other, und) unscored: only those series are created at start. Every combination was (224
    series a brand, half of them never used: 85,548 on a worker's page with 300 brands, 8.7 MB
    and 0.9 s a scrape; found in review, 2026-12-07)."""
    from veille.metrics import PLATFORMS

    _, reg = make()
    samples = [s for metric in reg.collect() if metric.name == "veille_mentions_enriched"
               for s in metric.samples if s.name.endswith("_total") and s.labels["brand"] == "acme"]
    combos = {(s.labels["language"], s.labels["sentiment"]) for s in samples}
    assert combos == {(lang, label) for lang in ("en", "fr") for label in ("positive", "neutral", "negative")
                      } | {("other", "unscored"), ("und", "unscored")}
    assert len(samples) == len(PLATFORMS) * 8


def test_observe_enriched_counts_each_brand_and_folds_unknown_labels() -> None:
    m, reg = make()
    m.observe_enriched(("acme", "boreal"), "myspace", "es", "unscored", None, 900.0, 990.0)
    m.observe_enriched((), "twitter", "en", "negative", -0.6, 995.0, 999.0)
    get = reg.get_sample_value
    assert get("veille_mentions_enriched_total", {"brand": "acme", "platform": "other",
                                                   "language": "other", "sentiment": "unscored"}) == 1
    assert get("veille_mentions_enriched_total", {"brand": "boreal", "platform": "other",
                                                   "language": "other", "sentiment": "unscored"}) == 1
    assert get("veille_mentions_enriched_total", {"brand": "none", "platform": "twitter",
                                                   "language": "en", "sentiment": "negative"}) == 1
    assert get("veille_sentiment_compound_count", {"brand": "none"}) == 1
    assert get("veille_sentiment_compound_count", {"brand": "acme"}) == 0
    assert get("veille_pipeline_latency_seconds_sum", {"since": "created"}) == 100.0 + 5.0
    assert get("veille_pipeline_latency_seconds_sum", {"since": "received"}) == 10.0 + 1.0
    assert get("veille_lag_seconds") == 1.0  # newest received at 999, clock at 1000
    assert get("veille_last_processed_timestamp_seconds") == 1000.0


def test_heartbeat() -> None:
    m, reg = make(now=1234.0)
    m.beat()
    assert reg.get_sample_value("veille_heartbeat_timestamp_seconds") == 1234.0


def test_the_heartbeat_age_is_timed_on_the_workers_monotonic_clock() -> None:
    """Found in review, 2026-12-07: the heartbeat's age was only Prometheus's `time()` less the
    worker's wall-clock timestamp. A worker on a host whose clock ran 2 minutes behind
    Prometheus's paged PipelineStalled (heartbeat, critical) while it beat every second; one
    ahead hid a stuck worker as long; a step of its clock did the same. The worker exports the
    age itself, on its monotonic clock at the scrape (served by a thread: it grows while the
    event loop is stuck)."""
    wall, mono = [1_800_000_000.0], [50.0]
    reg = CollectorRegistry()
    m = Metrics(reg, ["acme"], ["en"], clock=lambda: wall[0], monotonic=lambda: mono[0])
    assert math.isnan(reg.get_sample_value("veille_heartbeat_age_seconds") or 0.0)  # no beat yet
    m.beat()
    wall[0] -= 3600  # the clock is set back an hour (or runs an hour behind Prometheus's)
    mono[0] += 7
    assert reg.get_sample_value("veille_heartbeat_age_seconds") == 7.0
    m.beat()
    assert reg.get_sample_value("veille_heartbeat_age_seconds") == 0.0
    assert reg.get_sample_value("veille_heartbeat_timestamp_seconds") == wall[0]


def test_the_moderation_apis_last_read_age_is_timed_on_its_monotonic_clock() -> None:
    """Found in review, 2026-12-07, as the heartbeat's: ModerationApiStale read Prometheus's
    `time()` less the API's wall-clock timestamp of its last read, so an API on a host whose
    clock ran 10 minutes behind Prometheus's raised it while it read fine, and one ahead hid an
    API that could not read. The API exports the age itself, on its monotonic clock at the
    scrape; before its first read, the seconds since it started (an API that never read grows
    old too)."""
    from veille.metrics import ModerationApiMetrics

    wall, mono = [1_800_000_000.0], [50.0]
    reg = CollectorRegistry()
    m = ModerationApiMetrics(reg, clock=lambda: wall[0], monotonic=lambda: mono[0])
    age = "veille_moderation_api_last_read_age_seconds"
    assert reg.get_sample_value(age) == 0.0
    mono[0] += 400  # no read since it started
    assert reg.get_sample_value(age) == 400.0
    assert reg.get_sample_value("veille_moderation_api_last_read_timestamp_seconds") == 0.0
    m.read()
    assert reg.get_sample_value(age) == 0.0
    assert reg.get_sample_value("veille_moderation_api_last_read_timestamp_seconds") == wall[0]
    wall[0] -= 600  # the clock is set back 10 minutes (or runs 10 minutes behind Prometheus's)
    mono[0] += 7
    assert reg.get_sample_value(age) == 7.0


def test_moderation_metrics_count_cases_once_items_per_category_gauges_only_when_owned() -> None:
    from veille.metrics import ModerationMetrics
    from veille.moderation.cases import Backlog

    reg = CollectorRegistry()
    m = ModerationMetrics(reg, ["acme", "boreal"])
    get = reg.get_sample_value
    # Known series exist before any traffic, the category "none" included; no gauge yet.
    assert get("veille_moderation_items_received_total", {"brand": "boreal", "category": "hate"}) == 0
    assert get("veille_moderation_items_rejected_total", {"brand": "acme", "category": "none"}) == 0
    for name in ("received", "processed", "rejected"):
        assert get(f"veille_moderation_cases_{name}_total", {"brand": "boreal"}) == 0
        # "none" (a brand no longer watched) too: first seen at 1, increase() lost that count.
        assert get(f"veille_moderation_cases_{name}_total", {"brand": "none"}) == 0
    assert get("veille_moderation_answers_total", {"brand": "none", "outcome": "late"}) == 0
    assert get("veille_moderation_decisions_ignored_total", {"reason": "unknown_case"}) == 0
    assert get("veille_moderation_backlog_items", {"brand": "acme"}) is None

    m.observe_received("acme", ("insult", "aggressive"))
    m.observe_received("acme", ())  # a banned term alone
    m.observe_received("gone", ("spam",))  # a brand since removed from the watch list
    m.observe_closed("acme", ("insult", "aggressive"), "reject", 90.0)
    m.observe_closed("acme", (), "approve", 30.0)
    assert get("veille_moderation_items_received_total", {"brand": "acme", "category": "insult"}) == 1
    assert get("veille_moderation_items_received_total", {"brand": "acme", "category": "aggressive"}) == 1
    assert get("veille_moderation_items_received_total", {"brand": "acme", "category": "none"}) == 1
    assert get("veille_moderation_items_received_total", {"brand": "none", "category": "spam"}) == 1
    assert get("veille_moderation_items_processed_total", {"brand": "acme", "category": "none"}) == 1
    assert get("veille_moderation_items_rejected_total", {"brand": "acme", "category": "insult"}) == 1
    assert get("veille_moderation_items_rejected_total", {"brand": "acme", "category": "none"}) == 0
    # The case counters count each case once, whatever its categories: the KPI ratios read them.
    assert get("veille_moderation_cases_received_total", {"brand": "acme"}) == 2
    assert get("veille_moderation_cases_received_total", {"brand": "none"}) == 1
    assert get("veille_moderation_cases_processed_total", {"brand": "acme"}) == 2
    assert get("veille_moderation_cases_rejected_total", {"brand": "acme"}) == 1
    assert get("veille_moderation_cases_received_total", {"brand": "boreal"}) == 0
    # boreal: three cases of three categories (two rejected, one approved) and one spam case
    # approved. Rejection rate per case 2 / 4 = 50 %; summed over categories the item counters
    # say 6 / 10 = 60 %: they weigh a case by its category count, so they are not for ratios.
    for decision in ("reject", "reject", "approve"):
        m.observe_received("boreal", ("insult", "aggressive", "needs_answer"))
        m.observe_closed("boreal", ("insult", "aggressive", "needs_answer"), decision, 60.0)
    m.observe_received("boreal", ("spam",))
    m.observe_closed("boreal", ("spam",), "approve", 60.0)

    def total(name: str, brand: str) -> float:
        return sum(s.value for f in reg.collect() for s in f.samples
                   if s.name == name and s.labels.get("brand") == brand)

    cases = [total(f"veille_moderation_cases_{n}_total", "boreal")
             for n in ("received", "processed", "rejected")]
    items = [total(f"veille_moderation_items_{n}_total", "boreal")
             for n in ("received", "processed", "rejected")]
    assert cases == [4, 4, 2] and cases[2] / cases[1] == 0.5
    assert items == [10, 10, 6] and items[2] / items[1] == 0.6
    assert get("veille_moderation_decision_seconds_count", {"brand": "acme"}) == 2
    assert get("veille_moderation_decision_seconds_sum", {"brand": "acme"}) == 120.0
    # Answers to cases asking for one, on time or late (the closings above asked for none).
    for outcome in ("on_time", "late", "no_answer"):
        assert get("veille_moderation_answers_total", {"brand": "boreal", "outcome": outcome}) == 0
    m.observe_closed("acme", ("needs_answer",), "replied", 30.0, answer="late")
    m.observe_closed("acme", ("aggressive", "needs_answer"), "approve", 30.0, answer="no_answer")
    m.observe_closed("acme", ("needs_answer",), "replied", 30.0, answer="on_time")
    m.observe_closed("gone", ("needs_answer",), "replied", 30.0, answer="late")
    assert get("veille_moderation_answers_total", {"brand": "acme", "outcome": "late"}) == 1
    assert get("veille_moderation_answers_total", {"brand": "acme", "outcome": "on_time"}) == 1
    assert get("veille_moderation_answers_total", {"brand": "acme", "outcome": "no_answer"}) == 1
    # An unwatched brand gets every series at its first answer: the on-time ratio has data.
    assert get("veille_moderation_answers_total", {"brand": "none", "outcome": "on_time"}) == 0
    assert get("veille_moderation_answers_total", {"brand": "none", "outcome": "no_answer"}) == 0
    assert get("veille_moderation_answers_total", {"brand": "none", "outcome": "late"}) == 1

    m.set_backlog([Backlog("acme", 3, 600.0, 1, 2), Backlog("boreal"), Backlog("gone", 2, 50.0, 0, 2)])
    assert get("veille_moderation_backlog_items", {"brand": "acme"}) == 3
    assert get("veille_moderation_unassigned_items", {"brand": "acme"}) == 2
    assert get("veille_moderation_unassigned_items", {"brand": "none"}) == 2
    assert get("veille_moderation_oldest_pending_age_seconds", {"brand": "acme"}) == 600.0
    assert get("veille_moderation_unanswered_negative", {"brand": "acme"}) == 1
    assert get("veille_moderation_backlog_items", {"brand": "boreal"}) == 0
    assert get("veille_moderation_backlog_items", {"brand": "none"}) == 2
    # The unwatched brand's last case closed: its series goes back to 0, not stuck at 2.
    m.set_backlog([Backlog("acme", 1, 60.0, 0), Backlog("boreal")])
    assert get("veille_moderation_backlog_items", {"brand": "none"}) == 0
    assert get("veille_moderation_oldest_pending_age_seconds", {"brand": "none"}) == 0
    assert get("veille_moderation_unassigned_items", {"brand": "none"}) == 0
    assert get("veille_moderation_backlog_items", {"brand": "acme"}) == 1
    m.forget()  # no moderation partition left on this worker
    assert get("veille_moderation_backlog_items", {"brand": "acme"}) is None
    assert get("veille_moderation_unassigned_items", {"brand": "acme"}) is None


def test_scrape_asks_the_exporter_for_named_samples_only() -> None:
    """Benchmarks and tests poll a worker many times a second: they ask for the metric they
    wait on (rendering the whole page costs the worker milliseconds of CPU per poll)."""
    from prometheus_client import start_http_server

    from veille.demo_run import scrape

    registry = CollectorRegistry()
    metrics = Metrics(registry, ("acme",), ("en", "fr"))
    metrics.raw_messages.inc(3)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        whole = scrape(url)
        only = scrape(url, names=("veille_raw_messages_total",))
        assert only == {("veille_raw_messages_total", ()): 3.0}
        assert len(whole) > 20 and whole[("veille_raw_messages_total", ())] == 3.0
        assert scrape(url + "?x=1", names=("veille_raw_messages_total",)) == only
    finally:
        server.shutdown()
        thread.join(5)


def test_every_metric_family_passes_promtool_and_the_project_conventions() -> None:
    """The whole exposition of a worker's and a collector's metrics, linted by Prometheus's own
    `promtool check metrics` (naming, units, counter suffixes), plus the project's rules: the
    veille_ prefix, and label names from bounded sets only (never an author, a URL or a text)."""
    import shutil
    import subprocess

    import pytest
    from prometheus_client import generate_latest

    from veille.metrics import (
        COLLECTORS,
        BlueskyBrandMetrics,
        BrandTeams,
        CollectorMetrics,
        FeedMetrics,
        HashtagMetrics,
        JetstreamMetrics,
        MastodonAccountMetrics,
        ModerationApiMetrics,
        ModerationMetrics,
        RedditBrandMetrics,
        SpikeMetrics,
        WatchlistMetrics,
        YoutubeBrandMetrics,
        agents_paused,
    )

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus (scripts/ops-tools)")
    m, reg = make()
    CollectorMetrics(reg, COLLECTORS)
    FeedMetrics(reg, ["GA acme", "feed-2"])
    HashtagMetrics(reg, ["AcmeDown", "BorealCafe"])
    MastodonAccountMetrics(reg, ["acme", "boreal"])
    # Every class of veille.metrics, as the contract test builds them: the watch list's, the
    # Bluesky collector's and the agents' pause were left out of these checks until 2026-12-07.
    BlueskyBrandMetrics(reg, ["acme", "boreal"])
    RedditBrandMetrics(reg, ["acme", "boreal"])
    YoutubeBrandMetrics(reg, ["acme", "boreal"])
    JetstreamMetrics(reg, lambda: 1.7e9)
    WatchlistMetrics(reg, 1000.0)
    agents_paused(reg, lambda: 0.0)
    SpikeMetrics(reg, ["acme", "boreal"], 300)
    ModerationMetrics(reg, ["acme", "boreal"])
    BrandTeams(reg, {"acme": "telecom", "boreal": ""})
    api = ModerationApiMetrics(reg, sessions=lambda: 2)
    api.observe("/cases/{case_id}", 404, 0.01)
    api.observe("/cases/c-42", 200, 0.01)  # not a template of ours: "other"
    api.decided("reject", "page")
    api.refused("an error code of tomorrow", "api")
    m.observe_enriched(("acme",), "twitter", "en", "negative", -0.6, 995.0, 999.0)
    page = generate_latest(reg)
    proc = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()

    # Each from a closed set: watched brands (+ none), platforms, languages, labels, reasons,
    # categories, collectors, severities, answer outcomes, the watch list's feeds and hashtags,
    # failure kinds (the fold of unknown values is tested above); `le` is a histogram's buckets,
    # `version` and `revision` veille_build's one value each; `team` the watch list's teams,
    # at most one a brand.
    # The moderation API's: route templates, status codes, decisions, ways (api, page). The
    # Jetstream collector's reconnections: their causes.
    bounded = {"brand", "category", "collector", "feed", "hashtag", "kind", "language", "le",
               "cause",
               "outcome", "platform", "reason", "sentiment", "severity", "since", "stage",
               "version", "revision", "route", "code", "decision", "via", "team"}
    # The client's standard process families keep their standard names; python_info's labels
    # are the interpreter's version, one value each.
    families = [f for f in reg.collect() if f.name not in PROCESS_FAMILIES]
    assert len(families) >= 35
    for family in families:
        assert family.name.startswith("veille_"), family.name
        for sample in family.samples:
            assert set(sample.labels) <= bounded, (family.name, sample.labels)


def page_names(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def test_every_process_exports_its_memory_cpu_and_start_time() -> None:
    """A worker's, a collector's and the moderation API's registries carry process_* (resident
    memory, CPU seconds, start time, file descriptors), python_info and veille_memory_limit_bytes,
    once however many of veille's metric sets share the registry: none did before 2026-12-07,
    so nothing told a worker at its core's capacity, near its container's memory limit, or
    restarting in a loop."""
    from veille.metrics import COLLECTORS, CollectorMetrics, ModerationApiMetrics

    for make_metrics in (lambda r: Metrics(r, ["acme"], ["en"]),
                         lambda r: CollectorMetrics(r, COLLECTORS),
                         lambda r: ModerationApiMetrics(r, sessions=lambda: 0)):
        registry = CollectorRegistry()
        make_metrics(registry)
        names = page_names(registry)
        assert set(PROCESS_FAMILIES) <= names and "veille_memory_limit_bytes" in names, names
        samples = {s.name: s.value for f in registry.collect() for s in f.samples}
        assert samples["process_resident_memory_bytes"] > 1e6
        assert samples["process_cpu_seconds_total"] > 0
    both = CollectorRegistry()
    Metrics(both, ["acme"], ["en"])
    CollectorMetrics(both, COLLECTORS)  # one process, two sets: registered once (no error)
    assert set(PROCESS_FAMILIES) <= page_names(both)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("files", "cgroups", "expected"), [
    # cgroup v2: the process's own group, else the root (a container's own group, namespaced)
    ({"kubepods/pod1/memory.max": "1073741824\n", "memory.max": "max\n"},
     "0::/kubepods/pod1\n", 1073741824.0),
    ({"memory.max": "536870912\n"}, "0::/\n", 536870912.0),
    ({"memory.max": "536870912\n"}, "0::/not/mounted/here\n", 536870912.0),
    ({"memory.max": "max\n"}, "0::/\n", None),
    # cgroup v1: the memory controller's line
    ({"memory/docker/abc/memory.limit_in_bytes": "268435456\n"},
     "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n", 268435456.0),
    ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, "4:memory:/\n", None),
    ({}, "", None),  # nothing to read: no sample, no error
    ({"memory.max": "garbage\n"}, "0::/\n", None),
])
def test_the_memory_limit_is_read_from_the_process_cgroup(tmp_path: Path, files: dict[str, str],
                                                          cgroups: str, expected: float | None) -> None:
    from veille.metrics import MemoryLimit

    root = tmp_path / "cgroup"
    for name, text in files.items():
        write(root / name, text)
    write(tmp_path / "self-cgroup", cgroups)
    limit = MemoryLimit(root, tmp_path / "self-cgroup")
    assert limit.limit() == expected
    (family,) = limit.collect()
    assert [s.value for s in family.samples] == ([] if expected is None else [expected])


def test_every_reason_a_collector_refuses_with_is_a_bounded_label_value() -> None:
    """The reasons written in the collectors' code are in COLLECTOR_REFUSALS (whose series exist
    from the start); the others come from InvalidMention, whose reasons are DLQ_REASONS."""
    import re
    from pathlib import Path

    from veille.metrics import COLLECTOR_REFUSALS

    root = Path(__file__).resolve().parents[2] / "veille" / "collectors"
    literal = re.compile(r"""(?:_refuse\(|refused\.labels\([^,]+,\s*)["']([a-z_]+)["']""")
    found = {m for path in root.glob("*.py") for m in literal.findall(path.read_text())}
    assert {"unauthorized", "too_many_items", "unsupported", "invalid_json"} <= found
    assert found <= set(COLLECTOR_REFUSALS), found - set(COLLECTOR_REFUSALS)


def test_the_moderation_apis_labels_come_from_its_bounded_sets() -> None:
    """Every error code the moderation API and its page write is in MODERATION_API_REFUSALS
    (series at 0 from the start); every route they register in MODERATION_API_ROUTES; a route
    or a reason of no set is counted under "other", never as given."""
    import re
    from pathlib import Path

    from veille.metrics import (
        MODERATION_API_REFUSALS,
        MODERATION_API_ROUTES,
        ModerationApiMetrics,
    )

    root = Path(__file__).resolve().parents[2] / "veille"
    code = "".join((root / "moderate" / f).read_text() for f in ("api.py", "page.py", "store.py"))
    code += (root / "httpbody.py").read_text()
    errors = set(re.findall(r'(?:_error|json_error)\(\s*\d+,\s*"([a-z_]+)"', code))
    # The read-back's refusals: ("decided_first", decided_first(...)) and the like.
    errors |= set(re.findall(r'ReadBack\(\(\s*"([a-z_]+)"', code))
    api = (root / "moderate" / "api.py").read_text()
    errors |= set(re.findall(r'"error": "([a-z_]+)"', api)) - {"internal"}  # 500: no refusal
    errors |= set(re.findall(r'_forbidden\(request, lang, "([a-z_]+)"\)', code)) | {"csrf"}
    http_errors = re.findall(r"^_HTTP_ERRORS = (\{.*\})$", code, re.M)[0]
    errors |= set(http_errors.split('"')[1::2]) - {"http_error"}
    assert {"unauthorized", "misdirected_request", "decided_first", "cross_site",
            "outcome_unknown", "method_not_allowed"} <= errors, errors
    errors.discard("broker_unavailable")  # 503: a failure, not a refusal
    assert errors <= set(MODERATION_API_REFUSALS), errors - set(MODERATION_API_REFUSALS)
    routes = set(re.findall(r'add_(?:get|post)\("([^"]+)"', code))
    assert routes | {"other"} == set(MODERATION_API_ROUTES)

    reg = CollectorRegistry()
    m = ModerationApiMetrics(reg)
    m.observe("/cases/c-42/decision", 202, 0.1)
    m.refused("a new code", "page")
    assert reg.get_sample_value("veille_moderation_api_requests_total",
                                {"route": "other", "code": "202"}) == 1
    assert reg.get_sample_value("veille_moderation_api_refusals_total",
                                {"reason": "other", "via": "page"}) == 1
    assert reg.get_sample_value("veille_moderation_page_sessions") == 0


def test_a_tally_exposes_exactly_what_observing_each_mention_does() -> None:
    """The enrichment stage counts a batch with a tally (one increment per label set and
    histogram bucket); the page must be the one observing each mention gives, bucket bounds,
    +Inf, NaN and label folding included. Also guards the histogram cells the tally writes."""
    import random

    from prometheus_client import generate_latest

    rng = random.Random(5)
    clock = {"now": 2000.0}
    compound_edges = [-0.75, -0.5, -0.05, 0.05, 0.5, 1.0, -1.0, 0.0]
    mentions = []
    for i in range(3000):
        brands = rng.choice([(), ("acme",), ("boreal",), ("acme", "boreal"), ("nobody",)])
        compound = (rng.choice(compound_edges) if i % 7 == 0 else
                    None if i % 5 == 0 else rng.uniform(-1, 1))
        created = 2000.0 - rng.choice([0.0, 0.005, 0.1, 1.0, 2.5, 60.0, 1e9, float("nan"),
                                       rng.uniform(0, 100)])
        mentions.append((brands, rng.choice(["twitter", "myspace", "news"]),
                         rng.choice(["en", "fr", "xx"]),
                         rng.choice(["positive", "neutral", "negative", "unscored"]),
                         compound, created, created + rng.uniform(0, 2)))

    one = CollectorRegistry()
    each = Metrics(one, ["acme", "boreal"], ["en", "fr"], clock=lambda: clock["now"])
    for m in mentions:
        each.observe_enriched(*m)
        each.raw_messages.inc()
    batched_registry = CollectorRegistry()
    batched = Metrics(batched_registry, ["acme", "boreal"], ["en", "fr"], clock=lambda: clock["now"])
    for start in range(0, len(mentions), 700):  # several batches, one tally reused and new ones
        tally = batched.tally()
        for m in mentions[start:start + 700]:
            tally.observe_enriched(*m)
            tally.raw += 1
        if start == 0:
            page = generate_latest(batched_registry)  # nothing shows before apply()
            assert b"veille_raw_messages_total 0.0" in page
        tally.apply()
        tally.apply()  # a second apply adds nothing
    # The process's own lines (its memory, CPU time) are the same process's at two moments.
    got, want = ([line for line in generate_latest(r).decode().splitlines()
                  if not line.removeprefix("# HELP ").removeprefix("# TYPE ").startswith(
                      ("process_", "python_"))]
                 for r in (batched_registry, one))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        if "_sum{" in w:  # a sum of floats depends on their order of addition: within rounding
            (g_name, g_value), (w_name, w_value) = g.rsplit(" ", 1), w.rsplit(" ", 1)
            assert g_name == w_name and float(g_value) == pytest.approx(float(w_value), rel=1e-12)
        else:
            assert g == w
    assert batched.last_received == each.last_received


@pytest.mark.parametrize("name", ["rss", "webhook", "mastodon"])
def test_a_collector_process_exports_its_own_collector_series_only(tmp_path: Any, name: str) -> None:
    """Each collector runs in its own process (job veille-collector-<name>) and builds its
    metrics as run_rss, run_webhook and run_mastodon do. Until 2026-12-06 each exported the
    series of all four collectors, the others' at 0 for ever: CollectorSilent{severity="info"}
    (the newest write of a (collector, job) over a week still 0 after 6 hours) fired for
    collector="webhook" in job veille-collector-rss, and so on, nine false alerts."""
    from prometheus_client import generate_latest

    from veille.collectors.mastodon import MastodonCollector
    from veille.collectors.rss import FeedConfig, RssCollector
    from veille.collectors.webhook import WebhookCollector
    from veille.metrics import CollectorMetrics
    from veille.settings import Settings

    settings = Settings.from_env({}).with_(collector_state_dir=str(tmp_path / "state"),
                                           mastodon_url="https://m.example")
    metrics = CollectorMetrics(CollectorRegistry())
    if name == "rss":
        RssCollector(settings, metrics, feeds=[FeedConfig("https://example.org/feed")])
    elif name == "webhook":
        WebhookCollector(settings, metrics)
    else:
        MastodonCollector(settings, metrics, hashtags=["a"])
    page = generate_latest(metrics.registry).decode()
    collectors = set(re.findall(r'collector="([^"]*)"', page))
    assert collectors == {name}, page
    get = metrics.registry.get_sample_value
    # Its own series still exist from the start, at 0 (increase() loses no first count).
    assert get("veille_collector_last_success_timestamp_seconds", {"collector": name}) == 0.0
    assert get("veille_collector_items_refused_total",
               {"collector": name, "reason": "unsupported"}) == 0.0


def test_the_latency_help_says_what_received_is() -> None:
    """since=received starts at the mention's arrival as the enrichment stage takes it (the
    collector's collected_at, else the Kafka record's timestamp: agents/enrich.py), which the
    README says; the HELP said "its arrival in Kafka" alone, which a mention collected hours
    before it was written (an RSS state replayed, a webhook client's collected_at) is not."""
    _, reg = make()
    help_text = next(f.documentation for f in reg.collect()
                     if f.name == "veille_pipeline_latency_seconds")
    assert "collected_at" in help_text and "Kafka" in help_text, help_text


def test_a_worker_exports_its_spike_bucket_size(tmp_path: Any) -> None:
    """The alert descriptions give the expected negative count per 5 minutes; the expected gauge
    is per bucket, so the rules divide by the size each worker exports (it said "per 5
    minutes" of a bucket of any size)."""
    from agents.worker import build
    from veille.settings import Settings

    registry = CollectorRegistry()
    build(Settings(data_dir=str(tmp_path), spike_bucket_seconds=600), registry)
    assert registry.get_sample_value("veille_reputation_bucket_seconds") == 600


def test_workers_and_collectors_say_which_build_they_run(monkeypatch) -> None:
    """veille_build_info{version, revision} on a worker's registry and on a collector's (until
    2026-12-06 a collector said nothing, and the version alone never changed); once a registry
    when a process holds both."""
    from veille import __version__, build
    from veille.metrics import CollectorMetrics, ModerationApiMetrics

    monkeypatch.setenv("VEILLE_REVISION", "abc123")
    build.revision.cache_clear()
    try:
        for make in (lambda r: Metrics(r, ["acme"], ["fr"]), CollectorMetrics,
                     ModerationApiMetrics):
            reg = CollectorRegistry()
            make(reg)
            assert reg.get_sample_value("veille_build_info", {
                "version": __version__, "revision": "abc123"}) == 1
        both = CollectorRegistry()
        Metrics(both, ["acme"], ["fr"])
        CollectorMetrics(both)
        assert [f.name for f in both.collect()].count("veille_build") == 1
    finally:
        build.revision.cache_clear()


def test_a_worker_exports_each_brands_team_and_follows_the_watch_list(tmp_path: Any) -> None:
    """veille_brand_info{brand, team} = 1 for each brand of the watch list in use, on every
    worker role (all, agents, enrich: agents.enrich.enrichment), "" for a brand without a team
    (no label in Prometheus). A change of the watch list moves it at once: a brand moved to
    another team or taken off loses its old series (the alert rules route by it)."""
    import os
    import time

    from agents.worker import enrichment
    from veille.settings import Settings

    path = tmp_path / "wl.toml"

    def save(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        os.utime(path, (time.time() - 60, time.time() - 60))  # settled (veille.reload)

    def teams(reg: CollectorRegistry) -> dict[str, str]:
        return {s.labels["brand"]: s.labels["team"] for f in reg.collect()
                if f.name == "veille_brand_info" for s in f.samples if s.value == 1}

    save('[[brands]]\nid = "acme"\nteam = "telecom"\n[[brands]]\nid = "boreal"\n'
         '[[brands]]\nid = "cafe"\nteam = "food"\n')
    reg = CollectorRegistry()
    reloader, _, _ = enrichment(Settings(data_dir=str(tmp_path), watchlist=str(path)), reg)
    assert teams(reg) == {"acme": "telecom", "boreal": "", "cafe": "food"}
    save('[[brands]]\nid = "acme"\nteam = "bank"\n[[brands]]\nid = "boreal"\nteam = "food"\n'
         '[[brands]]\nid = "dune"\n')
    assert reloader.check() is not None
    assert teams(reg) == {"acme": "bank", "boreal": "food", "dune": ""}
    samples = [s for f in reg.collect() if f.name == "veille_brand_info" for s in f.samples]
    assert len(samples) == 3, samples  # the old label sets are gone, not left at 1 nor at 0
