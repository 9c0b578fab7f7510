"""Prometheus rules and configuration, Alertmanager configuration: promtool, amtool and contracts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
TEAMS_EXAMPLE = DEPLOY / "alertmanager" / "teams.example.yml"
RUNBOOK = DEPLOY / "RUNBOOK.md"
CONTRACT = DEPLOY / "metrics-contract.txt"
DEBIAN_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}
SEVERITIES = {"critical", "warning", "info"}
ALERTS = {
    "ReputationCrisis", "NegativeShareFarAboveNormal", "ModerationProcessedShareLow",
    "ModerationRejectionRateHigh", "ModerationBacklogTooOld", "ModerationNegativeUnanswered",
    "PipelineStalled", "DeadLettersRising", "CollectorSilent", "TargetDown", "TargetMissing",
    "SendsFailing", "Watchdog", "AlertingFailing", "RssFeedFailing", "MastodonHashtagFailing",
    "MastodonAccountFailing", "BlueskyBrandFailing", "RedditBrandFailing", "UnscoredMentionsSurge",
    "WatchlistRefused",
    "ModerationApiStale", "ModerationApiFailing", "ModerationApiRefusing", "MemoryNearLimit",
    "ProcessRestarting", "JetstreamBehind", "YoutubeBrandFailing", "UnknownBrandNamed",
}

#: The alerts of a brand's reputation and moderation, for its team (the watch list's `team`).
BRAND_ALERTS = {
    "ReputationCrisis", "NegativeShareFarAboveNormal", "UnscoredMentionsSurge",
    "ModerationProcessedShareLow", "ModerationRejectionRateHigh", "ModerationBacklogTooOld",
    "ModerationNegativeUnanswered",
}
#: Their `team` label: the brand's team as Prometheus knows it, else none (no label).
TEAM = ('{{ with printf "brand_team:veille_brand_info:max{brand=%q}" $labels.brand | query }}'
        '{{ . | first | label "team" }}{{ end }}')


def tool(name: str) -> str:
    """The binary's path; its absence fails the test (these checks are part of the project)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install the Debian package {DEBIAN_PACKAGES[name]} "
                    f"(apt-get install {' '.join(DEBIAN_PACKAGES.values())}; scripts/bootstrap "
                    "does it when run as root)", pytrace=False)
    return path


def run(*args: str | Path, cwd: Path = ROOT, stderr: bool = True) -> str:
    """The command's output (stdout, and stderr unless told); a non-zero exit fails the test."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout}{proc.stderr}"
    return proc.stdout + (proc.stderr if stderr else "")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [r for f in RULE_FILES for g in load(f)["groups"] for r in g["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def contract() -> dict[str, tuple[str, frozenset[str], bool]]:
    """name -> (type, labels, planned) from deploy/metrics-contract.txt."""
    out = {}
    for line in CONTRACT.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, labels, *rest = line.split()
        out[name] = (kind, frozenset() if labels == "-" else frozenset(labels.split(",")),
                     rest == ["planned"])
    return out


def series_names() -> set[str]:
    """Every series name a query may read: contract names, with _bucket/_sum/_count on histograms."""
    names = set()
    for name, (kind, _, _) in contract().items():
        names.add(name)
        if kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


IDENT = re.compile(r"(?<![\w:.\"'])([a-zA-Z_:][\w:]*)")


def veille_identifiers(expr: str) -> set[str]:
    """Identifiers of an expression that name veille series (recorded ones included)."""
    expr = re.sub(r'"[^"]*"', '""', expr)  # label values are not names
    return {m for m in IDENT.findall(expr) if "veille_" in m}


# --- promtool ------------------------------------------------------------------------------

def test_prometheus_config_is_valid() -> None:
    out = run(tool("promtool"), "check", "config", PROM / "prometheus.yml")
    assert f"{len(RULE_FILES)} rule files found" in out


def test_rule_files_are_valid() -> None:
    assert RULE_FILES, "no rule file in deploy/prometheus/rules"
    # --lint-fatal: two rules of one alert name and the same labels exit 0 with a lint error
    # otherwise (RssFeedFailing and MastodonHashtagFailing until 2026-12-05).
    run(tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", *RULE_FILES)


def test_rule_unit_tests_pass() -> None:
    assert TEST_FILES, "no promtool test in deploy/prometheus/tests"
    out = run(tool("promtool"), "test", "rules", *TEST_FILES, cwd=PROM)
    assert out.count("SUCCESS") == len(TEST_FILES), out


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for test in load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names == ALERTS
    assert names - firing == set(), "alerts never expected to fire"
    # The Watchdog is never quiet: that is its point (tests/sends.yml expects it at 0m and 3h).
    assert names - quiet == {"Watchdog"}, "alerts never expected to stay quiet (pending or normal)"


def test_rule_tests_name_only_jobs_prometheus_scrapes() -> None:
    """A promtool test of a job prometheus.yml lacks proves nothing of the stack: the tests
    had a `veille-collector-mastodon` job no scrape job (nor compose service) gave."""
    jobs = {job["job_name"] for job in load(PROM / "prometheus.yml")["scrape_configs"]}
    named = set()
    for path in TEST_FILES:
        for test in load(path)["tests"]:
            for series in test.get("input_series", []):
                named.update(re.findall(r'\bjob="([^"]*)"', series["series"]))
            for case in test.get("alert_rule_test", []):
                named.update(a["exp_labels"]["job"] for a in case.get("exp_alerts") or []
                             if "job" in a.get("exp_labels", {}))
    assert named and named <= jobs, f"jobs tested but not scraped: {sorted(named - jobs)}"


def test_every_recording_rule_is_tested() -> None:
    tested = " ".join(case["expr"] for path in TEST_FILES for test in load(path)["tests"]
                      for case in test.get("promql_expr_test", []))
    untested = {r["record"] for r in rules() if "record" in r} - veille_identifiers(tested)
    assert not untested, f"recording rules without a promql_expr_test: {sorted(untested)}"


# --- alert metadata, runbook, metric names --------------------------------------------------

def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings."""
    anchors = set()
    for line in RUNBOOK.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_has_for_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", ""))), "every alert needs `for:`"
    # "none": the always-firing Watchdog only, which no inhibition or severity route may catch.
    assert rule["labels"]["severity"] in SEVERITIES | ({"none"} if rule["alert"] == "Watchdog"
                                                       else set())
    assert set(rule["labels"]) <= {"severity", "cause", "team"}, "static labels stay bounded"
    # The one templated label: the brand's team, one of the watch list's (veille_brand_info).
    assert rule["labels"].get("team", TEAM) == TEAM
    notes = rule["annotations"]
    for key in ("summary", "description", "runbook_url"):
        assert notes.get(key, "").strip(), f"{key} missing"
    url, _, anchor = notes["runbook_url"].partition("#")
    assert url.endswith("/deploy/RUNBOOK.md")
    assert anchor == rule["alert"].lower() and anchor in runbook_anchors(), (
        f"deploy/RUNBOOK.md has no section {rule['alert']}")


def test_every_brand_alert_carries_its_team_and_no_pipeline_alert_does() -> None:
    """Alertmanager routes a brand's alerts to its team by the `team` label: every brand alert
    has it (a new one naming a brand must be listed in BRAND_ALERTS or be the pipeline's), and
    the pipeline's alerts that name a brand (crisis detection blind, Bluesky or Reddit searches
    failing, YouTube channels or Mastodon accounts failing) stay with whoever runs the pipeline."""
    teams = {r["alert"] for r in alert_rules() if "team" in r["labels"]}
    assert teams == BRAND_ALERTS
    naming = {r["alert"] for r in alert_rules() if "$labels.brand" in r["annotations"]["summary"]}
    assert naming - BRAND_ALERTS == {"PipelineStalled", "BlueskyBrandFailing", "RedditBrandFailing",
                                     "YoutubeBrandFailing", "MastodonAccountFailing"}


#: A template's expressions: a `{{ with ... }}...{{ end }}` block whole (a query and its
#: formatting), else one `{{ ... }}`.
TEMPLATE_EXPRESSIONS = re.compile(r"\{\{ with .*?\{\{ end \}\}|\{\{.*?\}\}", re.S)
#: The veille commands an annotation quotes, up to the end of the sentence or quote ("ID..."
#: is part of the command).
COMMANDS = re.compile(r"veille (?:alerts|mentions|moderate \w+)[^.;:()`]*(?:\.\.\.[^.;:()`A-Z]*)?")
#: The French annotations' number formatting after a value: a decimal comma, a space before %.
FRENCH_NUMBER = re.compile(r' \| reReplaceAll "\[\.\]" ","(?: \| reReplaceAll "%" " %")?')
#: An expression that may print a decimal point (humanize's 1.5k, humanizePercentage's 12.5%,
#: printf "%.1f"); humanizeDuration's (a whole number of minutes) and printf "%.0f" do not.
DECIMAL = re.compile(r'humanize \||humanize }}|humanizePercentage|"%\.[1-9]f"')


@pytest.mark.parametrize("rule", [r for r in alert_rules() if r["alert"] in BRAND_ALERTS],
                         ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_every_brand_alert_speaks_french_with_the_same_queries(rule: dict[str, Any]) -> None:
    """A brand's team may be French-speaking (the .fr notification templates): every brand alert
    has `summary_fr` and `description_fr`, translations of `summary` and `description` with the
    same template expressions (queries, values, labels) and the same commands, `--lang fr` added
    to those that take it (since 2026-12-07; the pipeline's alerts stay English), and numbers
    written the French way (0,35, 35 %, 1,5k)."""
    notes = rule["annotations"]
    for key in ("summary", "description"):
        english, french = notes[key], notes.get(f"{key}_fr", "")
        assert french.strip(), f"{key}_fr missing"
        assert french != english
        # French numbers: 0,35 and 35 % (humanizePercentage), 1,5k (humanize), else the same.
        assert sorted(TEMPLATE_EXPRESSIONS.findall(FRENCH_NUMBER.sub("", french))) == sorted(
            TEMPLATE_EXPRESSIONS.findall(english)), key
        for expression in TEMPLATE_EXPRESSIONS.findall(french):
            if DECIMAL.search(expression):
                assert 'reReplaceAll "[.]" ","' in expression, expression
            if "humanizePercentage" in expression:
                assert 'reReplaceAll "%" " %"' in expression, expression
        quoted = [" ".join(c.split()) for c in COMMANDS.findall(TEMPLATE_EXPRESSIONS.sub("X", english))]
        said = [" ".join(c.split()) for c in COMMANDS.findall(TEMPLATE_EXPRESSIONS.sub("X", french))]
        assert [c.replace(" --lang fr", "") for c in said] == quoted, key
        assert all("--lang fr" in c for c in said), key  # alerts, mentions and moderate take it


def test_runbook_has_a_section_per_alert_and_no_other() -> None:
    sections = {line[3:].strip() for line in RUNBOOK.read_text().splitlines()
                if line.startswith("## ")}
    assert sections == ALERTS


@pytest.mark.parametrize(("alert", "series", "op", "constant"), [
    ("ModerationProcessedShareLow", "brand:veille_moderation_processed_share:ratio1d", "<",
     "PROCESSED_SHARE_TARGET"),
    ("ModerationRejectionRateHigh", "brand:veille_moderation_rejection_rate:ratio1d", ">",
     "REJECTION_RATE_CEILING"),
])
def test_the_kpi_alerts_and_the_report_share_their_thresholds(alert: str, series: str, op: str,
                                                              constant: str) -> None:
    """`veille moderation report` rounds the processed share and the rejection rate so that
    neither looks on the right side of its alert's threshold when the alert fires: the rules'
    numbers are veille.moderation.cases' constants (one changed without the other would print
    30.0 % beside a firing alert again)."""
    from veille.moderation import cases

    expr = next(r["expr"] for r in alert_rules() if r["alert"] == alert)
    found = re.search(re.escape(series) + r"\s*" + re.escape(op) + r"\s*([0-9.]+)", expr)
    assert found, expr
    assert float(found.group(1)) == getattr(cases, constant)


def test_rules_read_only_contract_metrics() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    allowed = series_names() | recorded
    unknown = {name for r in rules() for name in veille_identifiers(r["expr"])} - allowed
    assert not unknown, f"metrics unknown to deploy/metrics-contract.txt: {sorted(unknown)}"


def test_contract_matches_veille_metrics() -> None:
    """Names and labels of the metrics veille exports today agree with the contract."""
    from veille.metrics import (
        COLLECTORS,
        BlueskyBrandMetrics,
        BrandTeams,
        CollectorMetrics,
        FeedMetrics,
        HashtagMetrics,
        JetstreamMetrics,
        MastodonAccountMetrics,
        Metrics,
        ModerationApiMetrics,
        ModerationMetrics,
        RedditBrandMetrics,
        SpikeMetrics,
        WatchlistMetrics,
        YoutubeBrandMetrics,
        agents_paused,
    )

    registry = CollectorRegistry()
    WatchlistMetrics(registry, 0.0)
    BrandTeams(registry, {"acme": "telecom"})
    Metrics(registry, ["acme"], ["fr"])
    CollectorMetrics(registry, COLLECTORS)
    FeedMetrics(registry, ["GA acme"])
    HashtagMetrics(registry, ["AcmeDown"])
    MastodonAccountMetrics(registry, ["acme"])
    BlueskyBrandMetrics(registry, ["acme"])
    RedditBrandMetrics(registry, ["acme"])
    YoutubeBrandMetrics(registry, ["acme"])
    JetstreamMetrics(registry, lambda: 0.0)
    agents_paused(registry, lambda: 0.0)
    spikes = SpikeMetrics(registry, ["acme"], 300)
    moderation = ModerationMetrics(registry, ["acme"])
    api = ModerationApiMetrics(registry, sessions=lambda: 0)
    api.observe("/cases", 200, 0.01)  # a requests series: one per route and code answered
    # Per-brand gauges appear once the worker owning the brand's (or the cases') partitions runs.
    for gauge in (*spikes.gauges, *moderation.gauges):
        gauge.labels("acme").set(0)
    exported: dict[str, set[str]] = {}
    for family in registry.collect():
        if not family.samples:  # veille_memory_limit_bytes without a limit (this machine's)
            exported.setdefault(family.name, set())
        for sample in family.samples:
            name = sample.name
            if family.type == "histogram":
                name = family.name
            labels = set(sample.labels) - {"le"}
            exported.setdefault(name, set()).update(labels)
    for name, (_, expected, planned) in contract().items():
        if planned and name not in exported:
            continue
        assert name in exported, f"{name} is in the contract but veille does not export it"
        assert exported[name] == expected, f"{name}: veille has labels {sorted(exported[name])}"
    # And the other way: every metric veille exports is in the contract the rules and dashboards
    # are checked against (a new metric is documented there, or it is an unchecked one).
    undocumented = sorted(n for n in exported if n.startswith("veille_") and n not in contract()
                          and not n.endswith("_created"))
    assert not undocumented, f"exported but missing from deploy/metrics-contract.txt: {undocumented}"


# --- Alertmanager ---------------------------------------------------------------------------

def amtool_version() -> tuple[int, ...]:
    out = run(tool("amtool"), "--version")
    found = re.search(r"version (\d+)\.(\d+)", out)
    assert found, out
    return tuple(int(x) for x in found.groups())


def checkable_alertmanager_config(tmp_path: Path, config: Path = ALERTMANAGER) -> Path:
    """alertmanager.yml (or `config`), or for amtool < 0.26 (Debian 12 has 0.25), which does not
    know webhook `url_file`, a copy with the placeholder URL of webhook_url.example instead."""
    if amtool_version() >= (0, 26):
        return config
    url = (DEPLOY / "alertmanager" / "webhook_url.example").read_text().strip()
    text = re.sub(r"url_file: \S+", f"url: {url}", config.read_text())
    copy = tmp_path / f"checkable-{config.name}"
    copy.write_text(text)
    return copy


def test_alertmanager_config_is_valid(tmp_path: Path) -> None:
    run(tool("amtool"), "check-config", checkable_alertmanager_config(tmp_path))


#: Alertmanager's receiver for an alert's labels (amtool config routes test): at least one case
#: per alert (test_every_alert_has_a_route_case).
ROUTE_CASES = [
    ("alertname=ReputationCrisis severity=critical brand=acme", "veille-brand"),
    ("alertname=ModerationBacklogTooOld severity=warning brand=acme", "veille-brand"),
    ("alertname=ModerationNegativeUnanswered severity=warning brand=acme", "veille-brand"),
    ("alertname=PipelineStalled severity=critical cause=heartbeat", "veille-ops"),
    # A brand's crisis detection blind is the pipeline's problem, not the community managers'.
    ("alertname=PipelineStalled severity=critical cause=no_detection brand=acme", "veille-ops"),
    ("alertname=TargetDown severity=warning", "veille-ops"),
    ("alertname=TargetMissing severity=critical job=veille-agents", "veille-ops"),
    ("alertname=ModerationRejectionRateHigh severity=info brand=acme", "veille-digest"),
    ("alertname=CollectorSilent severity=info collector=rss", "veille-digest"),
    ("alertname=MastodonHashtagFailing severity=warning hashtag=AcmeDown kind=unauthorized "
     "instance=mastodon-1:9465", "veille-ops"),
    # A brand's Mastodon accounts failing: the pipeline's (no team label, as the other
    # collectors' brand alerts).
    ("alertname=MastodonAccountFailing severity=warning brand=acme kind=fetch "
     "instance=mastodon-1:9465", "veille-ops"),
    ("alertname=BlueskyBrandFailing severity=warning brand=acme kind=unauthorized "
     "instance=bluesky-1:9465", "veille-ops"),
    ("alertname=RedditBrandFailing severity=warning brand=acme kind=unauthorized "
     "instance=reddit-1:9465", "veille-ops"),
    ("alertname=YoutubeBrandFailing severity=warning brand=acme kind=rate_limited "
     "instance=youtube-1:9465", "veille-ops"),
    # The Jetstream collector cut off or falling behind: the pipeline's.
    ("alertname=JetstreamBehind severity=warning instance=jetstream-1:9465 "
     "job=veille-collector-jetstream", "veille-ops"),
    ("alertname=SendsFailing severity=critical instance=w1:9464", "veille-ops"),
    # The moderators' tool cannot read its topics: the pipeline's (no brand), not a brand's.
    ("alertname=ModerationApiStale severity=warning job=veille-moderation-api "
     "instance=172.18.0.9:8081", "veille-ops"),
    # Its routes answering 5xx: likewise the pipeline's, whoever runs it.
    ("alertname=ModerationApiFailing severity=warning job=veille-moderation-api "
     "instance=172.18.0.9:8081 route=/cases/{case_id}/decision", "veille-ops"),
    # Its clients locked out by its token or by the proxy in front: whoever runs it.
    ("alertname=ModerationApiRefusing severity=warning cause=token job=veille-moderation-api "
     "instance=172.18.0.9:8081", "veille-ops"),
    ("alertname=ModerationApiRefusing severity=warning cause=proxy reason=unauthenticated_user "
     "job=veille-moderation-api instance=172.18.0.9:8081", "veille-ops"),
    ("alertname=SendsFailing severity=warning collector=webhook", "veille-ops"),
    # A process near its memory limit, or restarting in a loop: whoever runs it.
    ("alertname=MemoryNearLimit severity=warning job=veille-worker instance=172.18.0.5:9464",
     "veille-ops"),
    ("alertname=ProcessRestarting severity=warning job=veille-moderation-api "
     "instance=172.18.0.9:8081", "veille-ops"),
    ("alertname=Watchdog severity=none", "veille-deadman"),
    ("alertname=AlertingFailing severity=critical cause=notifications_failed integration=webhook",
     "veille-ops"),
    # A brand's negative share far above its normal, its moderators behind: its team's.
    ("alertname=NegativeShareFarAboveNormal severity=warning brand=acme", "veille-brand"),
    ("alertname=ModerationProcessedShareLow severity=warning brand=acme", "veille-brand"),
    # Many more mentions in languages no scorer reads: news for the brand's digest.
    ("alertname=UnscoredMentionsSurge severity=info brand=acme", "veille-digest"),
    ("alertname=DeadLettersRising severity=warning reason=invalid_json", "veille-ops"),
    ("alertname=RssFeedFailing severity=warning job=veille-collector-rss instance=rss-1:9465 "
     "feed=feed-1", "veille-ops"),
    ("alertname=RssFeedFailing severity=warning cause=never_worked job=veille-collector-rss "
     "instance=rss-1:9465 feed=feed-2", "veille-ops"),
    ("alertname=WatchlistRefused severity=warning job=veille-worker instance=172.18.0.5:9464",
     "veille-ops"),
    # Sources naming brands the watch list does not have: a Zap or the watch list to mend,
    # whoever runs the pipeline (no brand label: it names none the watch list has).
    ("alertname=UnknownBrandNamed severity=warning", "veille-ops"),
]


@pytest.mark.parametrize(("labels", "receiver"), ROUTE_CASES)
def test_alertmanager_routes(tmp_path: Path, labels: str, receiver: str) -> None:
    config = checkable_alertmanager_config(tmp_path)
    out = run(tool("amtool"), "config", "routes", "test", f"--config.file={config}",
              *labels.split(), stderr=False)
    assert out.strip() == receiver


def test_every_alert_has_a_route_case() -> None:
    """Each alert's receiver is tested: a new alert without a case would go wherever its labels
    happen to lead (a brand label alone sends it to the community managers)."""
    routed = {labels.split()[0].removeprefix("alertname=") for labels, _ in ROUTE_CASES}
    assert {r["alert"] for r in alert_rules()} - routed == set()


def with_teams_example() -> str:
    """alertmanager.yml edited as deploy/alertmanager/teams.example.yml tells the operator: its
    `routes: &teams` list in place of the line `routes: &teams []`, indented as that line, and
    its receivers at the end of `receivers:` (the file's last key)."""
    def block(text: str, first: str) -> list[str]:
        lines = text.splitlines()
        start = lines.index(first)
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start:end]

    example = TEAMS_EXAMPLE.read_text(encoding="utf-8")
    text = ALERTMANAGER.read_text(encoding="utf-8")
    [empty] = [line for line in text.splitlines() if line.strip() == "routes: &teams []"]
    indent = empty[:len(empty) - len(empty.lstrip())]
    routes = "\n".join(indent + line for line in block(example, "routes: &teams"))
    keys = [line for line in text.splitlines() if re.match(r"[a-z_]+:", line)]
    assert keys[-1] == "receivers:", "the example's receivers are added at the end of the file"
    receivers = "\n".join(block(example, "receivers:")[1:])
    return text.replace(empty, routes).rstrip("\n") + "\n" + receivers + "\n"


def test_the_teams_share_one_list_of_routes_under_each_brand_route() -> None:
    """The teams' routes are written once (`&teams`) and taken by the digest, the brand alerts'
    critical route and their other alerts' route (`*teams`), inheriting each one's timing and
    grouping: a team's crisis goes out at once and every hour as veille-brand's did. None by
    default: every brand alert goes to veille-brand or the digest, as before."""
    for text, teams in ((ALERTMANAGER.read_text(), []),
                        (with_teams_example(), [{"matchers": ['team="telecom"'], "receiver": "team-telecom"},
                                                {"matchers": ['team="food"'], "receiver": "team-food"}])):
        routes = yaml.safe_load(text)["route"]["routes"]
        digest = next(r for r in routes if r["matchers"] == ['severity="info"'])
        brand = next(r for r in routes if r["receiver"] == "veille-brand")
        critical, others = brand["routes"]
        assert digest["routes"] == teams and digest["receiver"] == "veille-digest"
        assert critical["matchers"] == ['severity="critical"'] and critical["group_wait"] == "10s"
        assert critical["routes"] is digest["routes"] and others == {"routes": digest["routes"]}


@pytest.mark.parametrize(("labels", "receiver"), [
    ("alertname=ReputationCrisis severity=critical brand=acme team=telecom", "team-telecom"),
    ("alertname=ReputationCrisis severity=warning brand=acme team=telecom", "team-telecom"),
    ("alertname=NegativeShareFarAboveNormal severity=warning brand=acme team=telecom",
     "team-telecom"),
    ("alertname=ModerationBacklogTooOld severity=critical brand=cafe team=food", "team-food"),
    ("alertname=ModerationNegativeUnanswered severity=warning brand=cafe team=food", "team-food"),
    # Information: the team's, at the digest's pace.
    ("alertname=ModerationRejectionRateHigh severity=info brand=cafe team=food", "team-food"),
    # A brand without a team, or of a team with no route: veille-brand, as every brand before.
    ("alertname=ReputationCrisis severity=critical brand=boreal", "veille-brand"),
    ("alertname=ModerationNegativeUnanswered severity=warning brand=dune team=retail",
     "veille-brand"),
    ("alertname=UnscoredMentionsSurge severity=info brand=boreal", "veille-digest"),
    # The pipeline's alerts stay with whoever runs it, brand or not.
    ("alertname=PipelineStalled severity=critical cause=no_detection brand=acme", "veille-ops"),
    ("alertname=BlueskyBrandFailing severity=warning brand=acme kind=unauthorized "
     "instance=bluesky-1:9465", "veille-ops"),
    ("alertname=RedditBrandFailing severity=warning brand=acme kind=unauthorized "
     "instance=reddit-1:9465", "veille-ops"),
    ("alertname=YoutubeBrandFailing severity=warning brand=acme kind=rate_limited "
     "instance=youtube-1:9465", "veille-ops"),
    ("alertname=TargetDown severity=warning", "veille-ops"),
    ("alertname=Watchdog severity=none", "veille-deadman"),
])
def test_the_teams_example_routes_each_team_to_its_receiver(tmp_path: Path, labels: str,
                                                           receiver: str) -> None:
    edited = tmp_path / "alertmanager.yml"
    edited.write_text(with_teams_example())
    config = checkable_alertmanager_config(tmp_path, edited)
    run(tool("amtool"), "check-config", config)
    out = run(tool("amtool"), "config", "routes", "test", f"--config.file={config}",
              *labels.split(), stderr=False)
    assert out.strip() == receiver


def test_real_alertmanager_sends_a_teams_alerts_to_its_receiver(tmp_path: Path) -> None:
    """Debian's Alertmanager with alertmanager.yml edited as teams.example.yml says: each alert
    posted reaches the receiver named (the webhook body's `receiver`), and that one alone."""
    from tests.ops_helpers import Server, WebhookSink, alertmanager_config, require_binary, write_yaml
    from veille.broker import free_port

    binary = require_binary("prometheus-alertmanager")
    sink = WebhookSink()
    port = free_port()
    # Timers divided by 60 (at least 1 s): the digest's first notice after 5 s.
    config = write_yaml(tmp_path / "alertmanager.yml",
                        alertmanager_config(sink.url, 60, with_teams_example()))
    base = f"http://127.0.0.1:{port}"
    server = Server("alertmanager", [
        binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        "--log.level=warn"], tmp_path / "alertmanager.log", f"{base}/-/ready")
    expected = {
        ("ReputationCrisis", "acme"): "team-telecom",
        ("ModerationNegativeUnanswered", "cafe"): "team-food",
        ("ModerationRejectionRateHigh", "cafe"): "team-food",
        ("ReputationCrisis", "boreal"): "veille-brand",
        ("ModerationNegativeUnanswered", "dune"): "veille-brand",
        ("PipelineStalled", "acme"): "veille-ops",
    }
    alerts = [
        {"alertname": "ReputationCrisis", "severity": "critical", "brand": "acme", "team": "telecom"},
        {"alertname": "ModerationNegativeUnanswered", "severity": "warning", "brand": "cafe",
         "team": "food"},
        {"alertname": "ModerationRejectionRateHigh", "severity": "info", "brand": "cafe",
         "team": "food"},
        {"alertname": "ReputationCrisis", "severity": "critical", "brand": "boreal"},
        {"alertname": "ModerationNegativeUnanswered", "severity": "warning", "brand": "dune",
         "team": "retail"},
        {"alertname": "PipelineStalled", "severity": "critical", "cause": "no_detection",
         "brand": "acme"},
    ]
    got: dict[tuple[str, str], set[str]] = {}
    try:
        server.wait_ready(time.monotonic() + 30)
        ends = datetime.fromtimestamp(time.time() + 600, UTC).isoformat()
        body = json.dumps([{"labels": a, "endsAt": ends} for a in alerts]).encode()
        request = urllib.request.Request(f"{base}/api/v2/alerts", body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        deadline = time.monotonic() + 30
        while set(got) != set(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
            got = {}
            for _, post in sink.received():
                for alert in post["alerts"]:
                    key = (alert["labels"]["alertname"], alert["labels"]["brand"])
                    got.setdefault(key, set()).add(post["receiver"])
    finally:
        server.stop()
        sink.close()
    assert got == {key: {receiver} for key, receiver in expected.items()}, server.log()


def test_alertmanager_groups_and_inhibits_by_brand() -> None:
    config = load(ALERTMANAGER)
    # One notification per alert name and brand, and per cause and worker (PipelineStalled's
    # causes and instances are separate problems; brand alerts have neither label).
    assert config["route"]["group_by"] == ["alertname", "brand", "cause", "instance"]
    # Except the digest, and the workers without a heartbeat: a broker outage cuts them all
    # off at once, one notification lists them; likewise a Bluesky collector's failing brands
    # (a revoked app password fails them all), one notification per collector.
    grouped = {tuple(route["matchers"]): route["group_by"] for route in config["route"]["routes"]
               if "group_by" in route and route["receiver"] != "veille-digest"}
    assert grouped == {('alertname="PipelineStalled"', 'cause="heartbeat"'): ["alertname", "cause"],
                       ('alertname="BlueskyBrandFailing"',): ["alertname", "instance"],
                       ('alertname=~"RedditBrandFailing|YoutubeBrandFailing|MastodonAccountFailing"',):
                           ["alertname", "instance"]}
    crisis = [r for r in config["inhibit_rules"]
              if 'alertname="ReputationCrisis"' in r["source_matchers"]]
    assert crisis == [{"source_matchers": ['alertname="ReputationCrisis"', 'severity="critical"'],
                       "target_matchers": ['alertname=~"ReputationCrisis|NegativeShareFarAboveNormal"',
                                           'severity="warning"'],
                       "equal": ["brand"]}]


MATCHER = re.compile(r'(\w+)(=~|!~|!=|=)"(.*)"')


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """Alertmanager's matcher on an alert's labels (a missing label reads as empty)."""
    found = MATCHER.fullmatch(matcher)
    assert found, matcher
    name, op, value = found.groups()
    got = labels.get(name, "")
    if op in ("=", "!="):
        return (got == value) == (op == "=")
    return (re.fullmatch(value, got) is not None) == (op == "=~")


def inhibits(source: str, target: str) -> bool:
    """Whether the firing alert `source` silences `target` (labels as `name=value ...`)."""
    src, dst = (dict(kv.split("=", 1) for kv in labels.split()) for labels in (source, target))
    return any(all(matches(m, src) for m in rule["source_matchers"])
               and all(matches(m, dst) for m in rule["target_matchers"])
               and all(src.get(name, "") == dst.get(name, "") for name in rule.get("equal", []))
               for rule in load(ALERTMANAGER)["inhibit_rules"])


W1_STUCK = "alertname=PipelineStalled severity=critical cause=reader_stuck instance=w1:9464"
CRISIS = "alertname=ReputationCrisis severity=critical brand=acme"
API_STALE = ("alertname=ModerationApiStale severity=warning job=veille-moderation-api "
             "instance=172.18.0.9:8081")
API_FAILING = ("alertname=ModerationApiFailing severity=warning job=veille-moderation-api "
               "instance=172.18.0.9:8081 route=/cases/{case_id}/decision")


#: (firing alert, other firing alert, whether the first silences the second), labels as
#: `name=value ...`: read by the rules' model above and by Debian's real Alertmanager below.
INHIBITIONS = [
    # A worker cut off from the broker: its paused agents and its stopped reader are that.
    ("alertname=PipelineStalled severity=critical cause=heartbeat instance=w1:9464", W1_STUCK, True),
    ("alertname=PipelineStalled severity=critical cause=heartbeat instance=w2:9464", W1_STUCK, False),
    ("alertname=SendsFailing severity=critical instance=w1:9464", W1_STUCK, True),
    ("alertname=SendsFailing severity=warning collector=webhook instance=w1:9464", W1_STUCK, False),
    # A stuck reader is behind too: one page.
    (W1_STUCK, "alertname=PipelineStalled severity=warning cause=backlog instance=w1:9464", True),
    (W1_STUCK, "alertname=PipelineStalled severity=warning cause=lag instance=w1:9464", True),
    (W1_STUCK, "alertname=PipelineStalled severity=warning cause=backlog instance=w2:9464", False),
    # A critical crisis silences the reputation warnings it repeats, never the unanswered
    # complaints nor the waiting cases, which matter most during a crisis.
    (CRISIS, "alertname=ReputationCrisis severity=warning brand=acme", True),
    (CRISIS, "alertname=NegativeShareFarAboveNormal severity=warning brand=acme", True),
    (CRISIS, "alertname=NegativeShareFarAboveNormal severity=warning brand=boreal", False),
    (CRISIS, "alertname=ModerationNegativeUnanswered severity=warning brand=acme", False),
    (CRISIS, "alertname=ModerationBacklogTooOld severity=warning brand=acme", False),
    (CRISIS, "alertname=ModerationProcessedShareLow severity=warning brand=acme", False),
    # The critical level of an alert silences its own warning level...
    ("alertname=ModerationBacklogTooOld severity=critical brand=acme",
     "alertname=ModerationBacklogTooOld severity=warning brand=acme", True),
    ("alertname=ModerationBacklogTooOld severity=critical brand=acme",
     "alertname=ModerationBacklogTooOld severity=warning brand=boreal", False),
    # ...not another cause of PipelineStalled on the worker: paused agents do not explain a
    # reader behind (the enrichment goes on meanwhile).
    ("alertname=PipelineStalled severity=critical cause=agents_paused instance=w1:9464",
     "alertname=PipelineStalled severity=warning cause=backlog instance=w1:9464", False),
    ("alertname=PipelineStalled severity=critical cause=agents_paused instance=w1:9464",
     "alertname=PipelineStalled severity=warning cause=lag instance=w1:9464", False),
    # A worker cut off from the broker does explain them.
    ("alertname=PipelineStalled severity=critical cause=heartbeat instance=w1:9464",
     "alertname=PipelineStalled severity=warning cause=backlog instance=w1:9464", True),
    # The broker out of everyone's reach: the moderation API cannot read its topics either. Any
    # worker's heartbeat (the API is no worker: no instance in common); no other cause of it.
    ("alertname=PipelineStalled severity=critical cause=heartbeat instance=w1:9464",
     API_STALE, True),
    ("alertname=PipelineStalled severity=critical cause=agents_paused instance=w1:9464",
     API_STALE, False),
    ("alertname=PipelineStalled severity=warning cause=backlog instance=w1:9464", API_STALE, False),
    ("alertname=TargetDown severity=warning job=veille-worker instance=w1:9464", API_STALE, False),
    # Its answers are 503s for the same reason: held back by the same heartbeat, and by its own
    # reads failing (ModerationApiStale: the 503s' cause), on that API only.
    ("alertname=PipelineStalled severity=critical cause=heartbeat instance=w1:9464",
     API_FAILING, True),
    ("alertname=PipelineStalled severity=warning cause=lag instance=w1:9464", API_FAILING, False),
    (API_STALE, API_FAILING, True),
    (API_STALE.replace("172.18.0.9", "172.18.0.10"), API_FAILING, False),
    # And never the other way: an API whose routes fail is no reason its reads do.
    (API_FAILING, API_STALE, False),
    # Notifications failing (the chat bridge broken): the Watchdog is held back, so the dead
    # man's switch pages, the one way out that does not go through the chat.
    ("alertname=AlertingFailing severity=critical cause=notifications_failed integration=webhook"
     " receiver_name=veille-ops instance=alertmanager:9093", "alertname=Watchdog severity=none", True),
    ("alertname=AlertingFailing severity=critical cause=rule_evaluation rule_group=g",
     "alertname=Watchdog severity=none", False),
    ("alertname=AlertingFailing severity=critical cause=notifications_dropped",
     "alertname=Watchdog severity=none", False),
]


@pytest.mark.parametrize(("source", "target", "silenced"), INHIBITIONS)
def test_alertmanager_inhibitions(source: str, target: str, silenced: bool) -> None:
    assert inhibits(source, target) is silenced


def test_real_alertmanager_inhibits_as_the_model_says(tmp_path: Path) -> None:
    """Debian's Alertmanager with alertmanager.yml: each pair of INHIBITIONS posted firing, the
    second is suppressed (inhibited by the first) or active exactly as expected, then both are
    resolved before the next pair (an inhibition with no `equal` reaches every alert). The
    model `inhibits` above is a reading of Alertmanager's matchers; this is Alertmanager."""
    from tests.ops_helpers import Server, alertmanager_config, require_binary, write_yaml
    from veille.broker import free_port

    binary = require_binary("prometheus-alertmanager")
    port = free_port()
    config = write_yaml(tmp_path / "alertmanager.yml",
                        alertmanager_config("http://127.0.0.1:9/unused", 1))
    base = f"http://127.0.0.1:{port}"
    server = Server("alertmanager", [
        binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        "--log.level=warn"], tmp_path / "alertmanager.log", f"{base}/-/ready")

    def post(alerts: list[dict[str, str]], ends: float) -> None:
        at = datetime.fromtimestamp(ends, UTC).isoformat()
        body = json.dumps([{"labels": a, "endsAt": at} for a in alerts]).encode()
        request = urllib.request.Request(f"{base}/api/v2/alerts", body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200

    def state(labels: dict[str, str]) -> str | None:
        with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=10) as r:
            found = [a["status"]["state"] for a in json.loads(r.read()) if a["labels"] == labels]
        return found[0] if found else None

    wrong = []
    try:
        server.wait_ready(time.monotonic() + 30)
        for i, (source, target, silenced) in enumerate(INHIBITIONS):
            src, dst = ({**dict(kv.split("=", 1) for kv in labels.split()), "case": str(i)}
                        for labels in (source, target))
            post([src, dst], time.time() + 600)
            expected = "suppressed" if silenced else "active"
            # The inhibitor learns of the source a moment after the API: wait for an inhibition
            # up to 5 s, and give one that must not come 0.3 s to show.
            deadline = time.monotonic() + (5 if silenced else 0.3)
            while True:
                got = state(dst)
                if (got == expected if silenced else got != "active") \
                        or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if got != expected:
                wrong.append(f"{source} -> {target}: {got}, expected {expected}")
            post([src, dst], time.time() - 1)
    finally:
        server.stop()
    assert not wrong, "\n".join(wrong) + "\n" + server.log()


def test_alertmanager_holds_no_webhook_address() -> None:
    """The address comes from a file (a secret); the committed example is a local placeholder."""
    config = load(ALERTMANAGER)
    hooks = [w for r in config["receivers"] for w in r.get("webhook_configs", [])]
    assert hooks and all("url" not in w and w["url_file"].startswith("/run/secrets/")
                         for w in hooks)
    for example in ("webhook_url.example", "deadman_url.example"):
        url = (DEPLOY / "alertmanager" / example).read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\S*", url), example


def test_the_watchdog_always_fires_and_goes_to_the_dead_mans_switch_alone() -> None:
    """Its route comes first, repeats every minute and sends nothing when it resolves (the
    switch pages on silence); one inhibition rule alone silences it, on purpose: Alertmanager
    failing to deliver notifications (the switch then pages)."""
    config = load(ALERTMANAGER)
    first = config["route"]["routes"][0]
    assert first["matchers"] == ['alertname="Watchdog"'] and first["receiver"] == "veille-deadman"
    assert first["repeat_interval"] == "1m" and not first.get("continue")
    deadman = next(r for r in config["receivers"] if r["name"] == "veille-deadman")
    assert [w["send_resolved"] for w in deadman["webhook_configs"]] == [False]
    watchdog = [r for r in alert_rules() if r["alert"] == "Watchdog"]
    assert [(r["expr"], r["labels"]["severity"]) for r in watchdog] == [("vector(1)", "none")]
    holding = [rule for rule in config["inhibit_rules"]
               if any("Watchdog" in m or m == 'severity="none"' for m in rule["target_matchers"])]
    assert holding == [{"source_matchers": ['alertname="AlertingFailing"',
                                            'cause="notifications_failed"'],
                        "target_matchers": ['alertname="Watchdog"']}]
