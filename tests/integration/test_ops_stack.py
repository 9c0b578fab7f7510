"""The ops stack with the real servers: a generated crisis through collector, broker and worker
makes Debian's Prometheus fire ReputationCrisis, Alertmanager notify and resolve it, and every
dashboard query answer from that Prometheus."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.topics import (
    MODERATION_DECISIONS,
    MODERATION_QUEUE,
    REPUTATION_ALERTS,
    ensure_topics,
)
from tests.conftest import ROOT, Worker, settings_env
from tests.kafka_helpers import produce, read_all
from tests.ops_helpers import (
    PrometheusAPI,
    Server,
    WebhookSink,
    alertmanager_config,
    copy_rules,
    dashboard_annotations,
    dashboard_targets,
    dashboard_variables,
    exported_names,
    get_json,
    prometheus_config,
    require_binary,
    series_names,
    substitute,
    write_yaml,
)
from veille.broker import free_port
from veille.metrics import MemoryLimit
from veille.settings import Settings

pytestmark = pytest.mark.integration

WATCHLIST = str(ROOT / "tests/data/watchlist.toml")
BRAND = "acme"
#: Event-time buckets of 5 s (300 s in production), so that a crisis opens and resolves in
#: seconds. In the test's copies of the rules and of the Alertmanager configuration every `for:`
#: and every timer is divided by TIME_SCALE: ReputationCrisis' `for: 1m` becomes 5 s (one
#: bucket), the critical brand route's group_wait 10 s and group_interval 1 m become 1 s and 5 s.
BUCKET = 5
TIME_SCALE = 12
HISTORY_HOURS = 3
HISTORY_EVERY = 6.0  # seconds between two historic acme mentions (1,800 in 3 h)
LIVE_RATE = 4.0  # acme mentions a second once live (20 a bucket)
NORMAL_SHARE = 0.15
CRISIS_SHARE = 0.8
PRE_CRISIS = 5.0  # at least this long of normal live traffic before the crisis
CRISIS = 3 * BUCKET  # seconds of crisis, from a bucket boundary
PLATFORMS = ("twitter", "mastodon", "news", "reddit")
NEG = ["Acme support is terrible, worst experience ever", "Acme network down again, awful",
       "Le réseau Acme est encore en panne, vraiment nul",
       "Really disappointed with Acme, refund me now"]
POS = ["Thanks Acme, great service today", "Love my new Acme phone",
       "Merci Acme, le service client est vraiment génial aujourd'hui"]
JOBS = ("veille-worker", "veille-collector-webhook", "veille-moderation-api", "prometheus",
        "alertmanager")
#: The moderation API's own metrics (`veille moderate serve`), not the worker's.
API_METRICS = ("veille_moderation_api_", "veille_moderation_page_")
NEUTRAL = ["Acme opens a new store downtown", "Acme ouvre une boutique à Lyon"]


def acme_mention(i: int, created_at: float, share: float, prefix: str) -> dict[str, Any]:
    """The i-th acme mention: exactly `share` of them negative (spread evenly), the rest
    positive or neutral, on four platforms."""
    negative = int((i + 1) * share) > int(i * share)
    text = NEG[i % len(NEG)] if negative else (POS + NEUTRAL)[i % 5]
    return {"id": f"{prefix}-{i}", "platform": PLATFORMS[i % len(PLATFORMS)],
            "author": f"user{i % 997}", "text": text,
            "created_at": datetime.fromtimestamp(created_at, UTC).isoformat(),
            "audience": {"followers": (i * 37) % 5000}}


def history(end: float) -> list[dict[str, Any]]:
    """Three hours of ordinary acme mentions, with Boréal and unrelated ones among them."""
    out = []
    n = int(HISTORY_HOURS * 3600 / HISTORY_EVERY)
    for i in range(n):
        t = end - (n - i) * HISTORY_EVERY
        out.append(acme_mention(i, t, NORMAL_SHARE, "hist"))
        if i % 10 == 0:
            out.append({"id": f"hist-b{i}", "platform": "instagram", "author": f"b{i}",
                        "text": "Boréal café, un accueil chaleureux et un très bon café",
                        "created_at": datetime.fromtimestamp(t + 1, UTC).isoformat()})
        if i % 25 == 0:
            out.append({"id": f"hist-n{i}", "platform": "forum", "author": f"n{i}",
                        "text": "The train to Lyon leaves at ten from platform four",
                        "created_at": datetime.fromtimestamp(t + 2, UTC).isoformat()})
    return out


class Traffic(threading.Thread):
    """Live acme mentions stamped with the current time, POSTed to the webhook collector at
    LIVE_RATE a second: NORMAL_SHARE of them negative, CRISIS_SHARE between `crisis` (start,
    end; Unix times, bucket boundaries)."""

    def __init__(self, url: str, crisis: tuple[float, float]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.crisis = crisis
        self.sent = 0
        self.error: str | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(timeout=30) as client:
            while not self._halt.wait(0.25):
                due = int((time.monotonic() - start) * LIVE_RATE) - self.sent
                now = time.time()
                share = CRISIS_SHARE if self.crisis[0] <= now < self.crisis[1] else NORMAL_SHARE
                batch = [acme_mention(self.sent + k, now, share, "live") for k in range(due)]
                if not batch:
                    continue
                try:
                    r = client.post(self.url, json=batch)
                except httpx.HTTPError as exc:
                    self.error = f"{type(exc).__name__}: {exc}"
                    return
                if r.status_code != 202:
                    self.error = f"{r.status_code} {r.text}"
                    return
                self.sent += due

    def stop(self) -> None:
        self._halt.set()
        self.join(30)


@dataclass
class Stack:
    settings: Settings
    worker: Worker
    collector: Server
    prometheus: Server
    alertmanager: Server
    sink: WebhookSink
    prom: PrometheusAPI
    am_url: str
    collector_url: str
    rules_for: dict[str, str]
    api: Server
    api_url: str

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log(2000)}" for s in
                         (self.collector, self.api, self.prometheus, self.alertmanager)) + \
            f"\n--- worker\n{self.worker.log()}"


@pytest.fixture
def stack(settings: Settings, start_worker: Any, tmp_path: Path) -> Iterator[Stack]:
    """Worker, webhook collector, moderation API, Prometheus and Alertmanager, started
    together, all ready."""
    prometheus_bin = require_binary("prometheus")
    alertmanager_bin = require_binary("prometheus-alertmanager")
    # acme's team (the watch list's `team`): its alerts carry it; the configuration has no route
    # for it, so they go to veille-brand, as every brand alert of the default configuration.
    watchlist = tmp_path / "watchlist.toml"
    watchlist.write_text(Path(WATCHLIST).read_text(encoding="utf-8").replace(
        'id = "acme"\n', 'id = "acme"\nteam = "telecom"\n', 1), encoding="utf-8")
    settings = settings.with_(watchlist=str(watchlist), spike_bucket_seconds=BUCKET,
                              spike_lateness_seconds=BUCKET, spike_idle_seconds=3.0,
                              webhook_port=free_port(), moderation_api_port=free_port())
    ensure_topics(settings)
    sink = WebhookSink()
    prom_port, am_port = free_port(), free_port()
    worker_at = f"{settings.metrics_host}:{settings.metrics_port}"
    collector_at = f"127.0.0.1:{settings.webhook_port}"
    api_at = f"127.0.0.1:{settings.moderation_api_port}"  # loopback: no token needed

    am_dir = tmp_path / "alertmanager"
    am_yml = write_yaml(am_dir / "alertmanager.yml", alertmanager_config(sink.url, TIME_SCALE))
    prom_dir = tmp_path / "prometheus"
    # The repository's rules with every `for:` divided by TIME_SCALE (expressions, labels and
    # annotations unchanged, checked by copy_rules).
    rules_for = copy_rules(prom_dir / "rules", TIME_SCALE)
    prom_yml = write_yaml(prom_dir / "prometheus.yml", prometheus_config({
        "worker:9464": worker_at, "webhook-collector:8080": collector_at,
        "rss-collector:9465": None,  # not run here: no target, as in compose without --profile rss
        "mastodon-collector:9465": None,  # likewise, without --profile mastodon
        "bluesky-collector:9465": None,  # likewise, without --profile bluesky
        "reddit-collector:9465": None,  # likewise, without --profile reddit
        "youtube-collector:9465": None,  # likewise, without --profile youtube
        "jetstream-collector:9465": None,  # likewise, without --profile jetstream
        "agents:9464": None,  # likewise, as in compose without --profile split
        "moderation-api:8081": api_at,
        "localhost:9090": f"127.0.0.1:{prom_port}", "alertmanager:9093": f"127.0.0.1:{am_port}",
    }, alertmanager=f"127.0.0.1:{am_port}"))

    servers: list[Server] = []
    try:
        servers.append(Server("alertmanager", [
            alertmanager_bin, f"--config.file={am_yml}", f"--storage.path={am_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
            "--log.level=info"], tmp_path / "alertmanager.log",
            f"http://127.0.0.1:{am_port}/-/ready"))
        servers.append(Server("prometheus", [
            prometheus_bin, f"--config.file={prom_yml}", f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=info"],
            tmp_path / "prometheus.log", f"http://127.0.0.1:{prom_port}/-/ready"))
        servers.append(Server("webhook collector",
                              [sys.executable, "-m", "veille.cli", "collect", "webhook"],
                              tmp_path / "collector.log", f"http://{collector_at}/healthz",
                              env=settings_env(settings)))
        servers.append(Server("moderation API",
                              [sys.executable, "-m", "veille.cli", "moderate", "serve"],
                              tmp_path / "moderation-api.log", f"http://{api_at}/healthz",
                              env=settings_env(settings)))
        worker = start_worker(settings, ready=False)
        deadline = time.monotonic() + 90
        for s in servers:
            s.wait_ready(deadline)
        worker.wait_ready(max(1.0, deadline - time.monotonic()))
        yield Stack(settings, worker, servers[2], servers[1], servers[0], sink,
                    PrometheusAPI(f"http://127.0.0.1:{prom_port}"), f"http://127.0.0.1:{am_port}",
                    f"http://{collector_at}", rules_for, servers[3], f"http://{api_at}")
    finally:
        for s in reversed(servers):
            s.stop()
        sink.close()


def worker_metric(worker: Worker, name: str, labels: str) -> float:
    with urllib.request.urlopen(worker.metrics_url, timeout=5) as r:
        body = r.read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith(f"{name}{{{labels}"))


def progress(s: Stack) -> str:
    """The worker's counters that tell how far the mentions went."""
    with urllib.request.urlopen(s.worker.metrics_url, timeout=5) as r:
        lines = r.read().decode().splitlines()
    keep = ("veille_raw_messages_total", "veille_reputation_buckets_closed_total",
            "veille_reputation_late_mentions_total", "veille_dead_letters_total",
            "veille_duplicates_dropped_total", "veille_reputation_alert_state")
    return "\n".join(line for line in lines if line.startswith(keep) and not line.endswith(" 0.0"))


def moderate_some_cases(s: Stack) -> list[tuple[str, str]]:
    """A moderator's decisions on three queued acme cases, two rejected and one approved (a
    negative one asking for an answer among them), as a moderation tool writes them
    (streams/schemas/moderation_decision.v1.json), so that the moderation KPIs have data. A
    worker of role `all` runs the moderation agent: it must export the moderation metrics."""
    with urllib.request.urlopen(s.worker.metrics_url, timeout=5) as r:
        exported = exported_names(r.read().decode())
    wanted = {"veille_moderation_items_received_total", "veille_moderation_cases_received_total"} | {
        m for _, _, target in dashboard_targets() for m in series_names(target["expr"])
        if m.startswith("veille_moderation_") and not m.startswith(API_METRICS)}
    missing = sorted(wanted - exported)
    assert not missing, f"the worker does not export these moderation metrics: {missing}"
    # The moderation API's panels: its own /metrics, once it has listed the cases.
    with httpx.Client(base_url=s.api_url, timeout=30) as client:
        assert client.get("/cases").status_code == 200
        api_exported = exported_names(client.get("/metrics").text)
    wanted = {m for _, _, target in dashboard_targets() for m in series_names(target["expr"])
              if m.startswith(API_METRICS)}
    assert wanted and not wanted - api_exported, sorted(wanted - api_exported)
    items = [json.loads(r.value) for r in read_all(s.settings, MODERATION_QUEUE, expect=3,
                                                     settle=0.3)]
    acme = [i for i in items if i.get("brand") == BRAND]
    # A negative case asking for an answer first: the "answered on time" panels need one closed.
    def asks_for_answer(i: dict[str, Any]) -> bool:
        return i.get("sentiment") == "negative" and "needs_answer" in i.get("categories", ())

    acme.sort(key=lambda i: not asks_for_answer(i))
    assert acme and asks_for_answer(acme[0]), acme[:3]
    cases = [i["case_id"] for i in acme][:3]
    chosen = list(zip(cases, ("reject", "reject", "approve"), strict=False))
    assert len(chosen) == 3, items
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    produce(s.settings, MODERATION_DECISIONS, [(c.encode(), json.dumps(
        {"case_id": c, "decision": d, "moderator": "ops-test", "decided_at": now}).encode())
        for c, d in chosen])
    return chosen


def crisis_alerts(posts: list[tuple[float, dict[str, Any]]], status: str) -> list[tuple[float, Any]]:
    """Alertmanager's webhook posts with this status that carry acme's ReputationCrisis."""
    return [(t, p) for t, p in posts if p["status"] == status and any(
        a["labels"].get("alertname") == "ReputationCrisis" and a["labels"].get("brand") == BRAND
        for a in p["alerts"])]


@pytest.mark.timeout(300)
def test_crisis_fires_notifies_resolves_and_every_dashboard_query_answers(stack: Stack) -> None:
    s, prom = stack, stack.prom
    assert s.rules_for["ReputationCrisis critical"] == "5000ms", s.rules_for

    # 1. Three hours of ordinary history, old timestamps, through the webhook collector: the
    #    brand's usual negative share (15 %) is learnt.
    t_history = time.time()
    with httpx.Client(base_url=s.collector_url, timeout=60) as client:
        old = history(end=time.time() - 2 * BUCKET)
        for k in range(0, len(old), 500):
            r = client.post("/mentions", json=old[k:k + 500])
            assert r.status_code == 202, r.text
        # One bad push (a mention without text) is refused with 400 and counted.
        bad = client.post("/mentions", json={"id": "bad-1", "platform": "twitter",
                                            "created_at": datetime.now(UTC).isoformat()})
        assert bad.status_code == 400, bad.text
    buckets = HISTORY_HOURS * 3600 // BUCKET
    deadline = time.monotonic() + 90
    while worker_metric(s.worker, "veille_reputation_buckets_closed_total",
                        f'brand="{BRAND}"') < buckets - 10:
        assert time.monotonic() < deadline, f"history not scored in time\n{progress(s)}\n{s.logs()}"
        time.sleep(0.3)
    history_seconds = time.time() - t_history
    decided = moderate_some_cases(s)
    # Every job of deploy/prometheus/prometheus.yml but the optional ones has its target, up.
    while True:
        health = {x["labels"]["job"]: x["health"] for x in prom.targets()}
        if health == dict.fromkeys(JOBS, "up"):
            break
        assert time.monotonic() < deadline, f"targets {health}\n{s.logs()}"
        time.sleep(0.3)

    # 2. Live traffic: normal, then 80 % negative for CRISIS seconds, then normal again until
    #    Alertmanager has posted the resolution.
    t_live = time.time()
    crisis_at = float(math.ceil((t_live + PRE_CRISIS) / BUCKET) * BUCKET)
    t: dict[str, float] = {"crisis": crisis_at, "crisis_end": crisis_at + CRISIS}
    traffic = Traffic(f"{s.collector_url}/mentions", (t["crisis"], t["crisis_end"]))
    traffic.start()
    active_at: dict[str, str] = {}
    am_api: list[dict[str, Any]] = []
    others: set[tuple[str, str, str, str]] = set()  # every alert seen in Prometheus
    deadline = time.monotonic() + 150
    try:
        while not crisis_alerts(s.sink.received(), "resolved"):
            now = time.time()
            for a in prom.alerts():
                others.add((a["labels"]["alertname"], a["labels"].get("brand", "-"),
                            a["labels"]["severity"], a["state"]))
                if a["labels"].get("alertname") == "ReputationCrisis" and \
                        a["labels"].get("brand") == BRAND:
                    key = f"prometheus {a['state']} ({a['labels']['severity']})"
                    t.setdefault(key, now)
                    active_at.setdefault(key, a["activeAt"])
            if crisis_alerts(s.sink.received(), "firing") and not am_api:
                am_api = [a for a in get_json(f"{s.am_url}/api/v2/alerts",
                                              {"filter": 'alertname="ReputationCrisis"'})
                          if a["labels"].get("brand") == BRAND]
                # A second bad push, live: Prometheus has scraped the collector for a while by
                # now, so the refusal shows as an increase (the first may predate the first
                # scrape, leaving the refusals panel nothing to show).
                bad = httpx.post(f"{s.collector_url}/mentions", timeout=30, json={
                    "id": "bad-2", "platform": "twitter",
                    "created_at": datetime.now(UTC).isoformat()})
                assert bad.status_code == 400, bad.text
            assert traffic.error is None, f"live traffic refused: {traffic.error}\n{s.logs()}"
            assert s.worker.proc.poll() is None, f"worker exited\n{s.logs()}"
            assert time.monotonic() < deadline, (
                f"no resolution posted by Alertmanager; seen so far {t}, posts "
                f"{[(p['status'], p['receiver']) for _, p in s.sink.received()]}\n{s.logs()}")
            time.sleep(0.2)
    finally:
        traffic.stop()
    t_end = time.time()

    # 3. The timeline: no alert before the crisis; pending, then firing in Prometheus; the
    #    critical route's receiver gets it firing, then resolved.
    firing_posts = crisis_alerts(s.sink.received(), "firing")
    resolved_posts = crisis_alerts(s.sink.received(), "resolved")
    assert firing_posts, f"Alertmanager never posted the crisis firing: {s.sink.received()}"
    t["alertmanager post firing"] = firing_posts[0][0]
    t["alertmanager post resolved"] = resolved_posts[0][0]
    first = firing_posts[0][1]
    assert first["receiver"] == "veille-brand", first
    assert first["groupLabels"] == {"alertname": "ReputationCrisis", "brand": BRAND}, first
    labels = next(a["labels"] for a in first["alerts"] if a["labels"].get("brand") == BRAND)
    assert labels["severity"] == "critical" and labels["stack"] == "veille", labels
    assert labels["team"] == "telecom", labels  # veille_brand_info, scraped, read by the rule
    assert resolved_posts[0][1]["receiver"] == "veille-brand"
    assert all(a["status"] == "resolved" for a in resolved_posts[0][1]["alerts"]), resolved_posts
    # The critical level is active; the warning (>= 1, so it never leaves a gap on escalation)
    # is inhibited by it.
    states = {a["labels"]["severity"]: a["status"]["state"] for a in am_api}
    assert states.get("critical") == "active" and states.get("warning", "suppressed") == \
        "suppressed", am_api
    critical = next(a for a in am_api if a["labels"]["severity"] == "critical")
    assert {r["name"] for r in critical["receivers"]} == {"veille-brand"}, am_api

    # The always-firing Watchdog went to the dead man's switch alone, again and again (its
    # repeat_interval of 1 m is 5 s here), never resolved and never to another receiver.
    watchdog = [(at, p) for at, p in s.sink.received()
                if any(a["labels"].get("alertname") == "Watchdog" for a in p["alerts"])]
    assert len(watchdog) >= 3, [(p["receiver"], p["groupLabels"]) for _, p in s.sink.received()]
    assert all(p["receiver"] == "veille-deadman" and p["status"] == "firing"
               and [a["labels"]["alertname"] for a in p["alerts"]] == ["Watchdog"]
               for _, p in watchdog), watchdog
    assert sum(p["receiver"] == "veille-deadman" for _, p in s.sink.received()) == len(watchdog)

    pending = [k for k in t if k.startswith("prometheus pending")]
    fired = [k for k in t if k.startswith("prometheus firing")]
    assert fired, f"Prometheus never fired ReputationCrisis for {BRAND}: {t}"
    assert min(t[k] for k in pending + fired) >= t["crisis"], f"alert before the crisis: {t}"
    # Polled every 0.2 s against a 5 s `for:`; ALERTS keeps the pending phase in any case.
    pending_samples = prom.query_range(
        f'ALERTS{{alertname="ReputationCrisis", brand="{BRAND}", alertstate="pending"}}',
        t_live, t_end)
    firing_samples = prom.query_range(
        f'ALERTS{{alertname="ReputationCrisis", brand="{BRAND}", alertstate="firing"}}',
        t_live, t_end)
    assert pending_samples and firing_samples, (pending_samples, firing_samples)
    first_pending = min(float(v[0][0]) for v in (r["values"] for r in pending_samples))
    first_firing = min(float(v[0][0]) for v in (r["values"] for r in firing_samples))
    last_firing = max(float(v[-1][0]) for v in (r["values"] for r in firing_samples))
    assert first_pending < first_firing <= t["alertmanager post firing"] + 1, t
    # Step-aligned samples: the alert's last firing evaluation is within a second before this.
    assert t["crisis_end"] < last_firing < t["alertmanager post resolved"] + 1, (last_firing, t)
    assert t["alertmanager post firing"] < t["alertmanager post resolved"]

    events = [json.loads(r.value) for r in read_all(s.settings, REPUTATION_ALERTS, expect=3,
                                                      settle=0.5, timeout=20)]
    story = [(e["event"], e["severity"], e["window_end"]) for e in events if e["brand"] == BRAND]
    assert [e[0] for e in story][-1:] == ["resolved"], story
    opened = [datetime.fromisoformat(e[2]).timestamp() for e in story if e[0] == "opened"]
    assert len(opened) == 1 and crisis_at < opened[0] <= crisis_at + 2 * BUCKET, (story, crisis_at)

    # 4. Every query of every panel of every dashboard, from this Prometheus.
    report = dashboards_report(s, t_live - history_seconds - 5, t_end, fired_at=first_firing + 1)

    # 5. Every rule evaluates without error on real data.
    broken = [(r["name"], r.get("lastError")) for r in prom.rules() if r["health"] != "ok"]
    assert not broken, broken

    lines = [f"{k:40s} {v - crisis_at:+7.1f} s" for k, v in sorted(t.items(), key=lambda kv: kv[1])]
    lines.append(f"{'Prometheus ALERTS first pending':40s} {first_pending - crisis_at:+7.1f} s")
    lines.append(f"{'Prometheus ALERTS first firing':40s} {first_firing - crisis_at:+7.1f} s")
    lines.append(f"{'Prometheus ALERTS last firing':40s} {last_firing - crisis_at:+7.1f} s")
    print(f"\nhistory {history_seconds:.1f} s, live {t_end - t_live:.1f} s, {traffic.sent} live "
          f"mentions; moderation decisions {decided}; story {story}; activeAt {active_at}\n"
          + "\n".join(lines) + f"\nalerts seen in Prometheus {sorted(others)}\nAlertmanager posts "
          f"{[(p['receiver'], p['status'], p['groupLabels']) for _, p in s.sink.received()]}\n"
          + report)


#: Series of the collectors this stack does not run (RSS, Mastodon, Bluesky, Reddit, YouTube,
#: Jetstream): their panels have no data.
NOT_RUN_HERE = {"veille_rss_feed_failures_total", "veille_rss_feed_last_success_timestamp_seconds",
                "veille_mastodon_hashtag_failures_total",
                "veille_mastodon_hashtag_last_success_timestamp_seconds",
                "veille_mastodon_account_failures_total",
                "veille_mastodon_account_last_success_timestamp_seconds",
                "veille_bluesky_brand_failures_total",
                "veille_bluesky_brand_last_success_timestamp_seconds",
                "veille_reddit_brand_failures_total",
                "veille_reddit_brand_last_success_timestamp_seconds",
                "veille_youtube_brand_failures_total",
                "veille_youtube_brand_last_success_timestamp_seconds",
                "veille_jetstream_lag_seconds", "veille_jetstream_events_total",
                "veille_jetstream_posts_matched_total", "veille_jetstream_reconnects_total",
                "veille_jetstream_connected"}
#: A weekly mean read hour by hour: its samples sit on hour boundaries, none in a shorter run.
HOURLY_SUBQUERY = "[7d:1h]"


def dashboards_report(s: Stack, start: float, end: float, fired_at: float) -> str:
    """Run every dashboard query and variable; fail on any that does not parse or returns no
    data. The only no-data answers allowed: annotations of alerts that did not fire here, the
    panels of the collectors not run here, and an hourly subquery in a run that crosses no hour."""
    prom = s.prom
    with urllib.request.urlopen(s.worker.metrics_url, timeout=5) as r:
        exported = exported_names(r.read().decode())
    with urllib.request.urlopen(f"{s.collector_url}/metrics", timeout=5) as r:
        exported |= exported_names(r.read().decode())
    with urllib.request.urlopen(f"{s.api_url}/metrics", timeout=5) as r:
        exported |= exported_names(r.read().decode())
    # The category of the most moderated items: moderate_some_cases decided three cases.
    processed = prom.query('sort_desc(sum by (category) (increase(veille_moderation_items_processed_'
                           f'total{{brand="{BRAND}"}}[{int(end - start) + 1}s])) > 0)', end)
    assert processed, "no moderation decision counted in Prometheus"
    category = processed[0]["metric"]["category"]
    # The KPI counters count cases, whatever their categories: the three decided, two rejected.
    cases = {m: prom.query(f'sum(veille_moderation_cases_{m}_total{{brand="{BRAND}"}})', end)
             for m in ("processed", "rejected")}
    assert {m: float(r[0]["value"][1]) for m, r in cases.items() if r} == {
        "processed": 3, "rejected": 2}, cases
    variables = {"$brand": BRAND, "$detail": BRAND, "$platform": "twitter", "$category": category,
                 "$top": "10",
                 "$__rate_interval": "1m", "$__interval": "1m",
                 "$__range": f"{int(fired_at - start) + 1}s"}
    # No gap is expected: the worker (role all) runs the moderation agent, whose series are all
    # exported (checked by moderate_some_cases) and have data (its decisions); the collector
    # panels have the webhook collector's series (the RSS collector is not run).
    rows: list[tuple[str, str, bool, str]] = []  # where, outcome, ok, expression
    for board, title, target in dashboard_targets():
        expr = substitute(target["expr"], variables)
        # Grafana runs instant targets (stat, bar gauge, table) at the end of the time range:
        # here the moment the crisis fires, when the "Firing alerts" table has something to show.
        result = prom.query(expr, fired_at) if target.get("instant") else \
            prom.query_range(expr, start, end, step=1.0)
        where = f"{board}: {title} [{target['refId']}]"
        if result:
            rows.append((where, f"data ({len(result)} series)", True, expr))
        elif (names := series_names(expr)) and names <= NOT_RUN_HERE and not names & exported:
            rows.append((where, "no data (its collector is not run here)", True, expr))
        elif names == {"veille_memory_limit_bytes"} and MemoryLimit().limit() is None:
            # Its processes run here, in no container: the family is there, without a sample.
            rows.append((where, "no data (no memory limit on this machine)", True, expr))
        elif HOURLY_SUBQUERY in expr and math.ceil((start + 60) / 3600) * 3600 > end:
            rows.append((where, "no data (an hourly subquery: no hour boundary here)", True, expr))
        else:
            missing = sorted(series_names(expr) - exported)
            rows.append((where, "NO DATA" + (f" (not exported: {', '.join(missing)})"
                                             if missing else ""), False, expr))
    for board, ann in dashboard_annotations():
        expr = substitute(ann["expr"], variables)
        result = prom.query_range(expr, start, end, step=1.0)  # parses, or fails the test
        # Annotations mark alerts: the reputation one must show the crisis, the others have
        # nothing to mark unless an alert of theirs fired.
        needs = "ReputationCrisis" in expr
        rows.append((f"{board}: annotation {ann['name']}",
                     "data" if result else "no data (no such alert fired)", bool(result) or not needs,
                     expr))
    for board, name, query in dashboard_variables():
        metric, label = query.removeprefix("label_values(").removesuffix(")").split(", ")
        values = prom.label_values(label, metric, start, end)
        outcome = f"values {values}" if values else "NO DATA" + (
            "" if metric in exported else f" ({metric} not exported)")
        rows.append((f"{board}: variable ${name}", outcome, bool(values), query))
    text = f"variables {variables}\n" + "\n".join(
        f"{'ok ' if ok else 'BAD'} {where}: {outcome}" for where, outcome, ok, _ in rows)
    bad = [f"{where}: {outcome}\n    {expr}" for where, outcome, ok, expr in rows if not ok]
    assert not bad, "dashboard queries without data:\n" + "\n".join(bad) + "\n\n" + text
    return text

