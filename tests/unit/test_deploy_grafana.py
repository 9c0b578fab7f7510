"""Grafana provisioning and dashboards: generated, consistent, and every query valid PromQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_deploy_prometheus import series_names, veille_identifiers

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "veille.yml"
BUILTIN_SERIES = {"up", "ALERTS"}
# Grafana's variables, replaced by concrete values so that promtool can parse the queries.
VARIABLES = {
    "$__rate_interval": "1m", "$__interval": "1m", "$__range": "6h",
    "$brand": "acme", "$platform": "twitter", "$category": "insult", "$detail": "acme",
    "$top": "10",
}
#: Variables named otherwise than the label they list.
VARIABLE_LABELS = {"detail": "brand"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARDS}


def datasource_uid() -> str:
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert source["type"] == "prometheus"
    return str(source["uid"])


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel with queries (row headers left out, their collapsed panels included)."""
    for p in board["panels"]:
        if p["type"] != "row":
            yield p
        yield from p.get("panels", [])


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation of every dashboard."""
    for name, board in dashboards().items():
        for p in panels(board):
            for t in p.get("targets", []):
                yield f"{name}: {p['title']} {t['refId']}", t["expr"]
        for a in board["annotations"]["list"]:
            yield f"{name}: annotation {a['name']}", a["expr"]


def concrete(expr: str, values: dict[str, str] = VARIABLES) -> str:
    for var, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr, f"a Grafana variable is left in {expr!r}"
    return expr


def test_dashboards_are_generated_from_the_script() -> None:
    assert {p.name for p in DASHBOARDS} == {"reputation.json", "moderation.json", "pipeline.json"}
    proc = subprocess.run([sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_every_datasource_is_the_provisioned_one() -> None:
    uid = datasource_uid()
    for name, board in dashboards().items():
        refs = [p["datasource"] for p in panels(board)]
        refs += [t["datasource"] for p in panels(board) for t in p.get("targets", [])]
        refs += [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
        refs += [a["datasource"] for a in board["annotations"]["list"]]
        assert refs and all(r == {"type": "prometheus", "uid": uid} for r in refs), name


def test_dashboard_layout_and_ids() -> None:
    uids = set()
    for name, board in dashboards().items():
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for p in board["panels"]:
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0, f"{name}: {p['title']}"
            assert p["type"] == "row" or p.get("description"), f"{name}: {p['title']}"
    assert len(uids) == len(DASHBOARDS)


def test_template_variables() -> None:
    boards = dashboards()
    variables = {name: {v["name"]: v for v in b["templating"]["list"]} for name, b in boards.items()}
    assert {"brand", "platform"} <= set(variables["reputation.json"])
    assert "brand" in variables["moderation.json"]
    for board_vars in variables.values():
        for var in board_vars.values():
            if var["type"] == "custom":  # $top: a fixed list of numbers
                assert var["name"] == "top" and not var["multi"] and not var["includeAll"], var
                values = [o["value"] for o in var["options"]]
                assert var["query"] == ",".join(values) and all(v.isdigit() for v in values)
                assert var["current"]["value"] in values, var["current"]
                continue
            # "All" is `.*`, not the alternation of every value listed (300 brands: a regex of
            # 4,000 characters in every query).
            assert var.get("allValue") == (".*" if var["includeAll"] else None), var["name"]
            found = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["query"]["query"])
            assert found and found[2] == VARIABLE_LABELS.get(var["name"], var["name"]), var["query"]
            assert found[1] in series_names()


def test_a_repeated_row_opens_on_one_brand_not_all() -> None:
    """A row repeated over a variable with "All" selected is one row per brand: an agency's
    watch list of 300 brands opened the reputation dashboard on 300 rows of two panels (600
    panels, 1,500 queries at each refresh; found in review, 2026-12-07). Repeated rows repeat
    over a variable without "All", which Grafana opens on its first value."""
    repeated = 0
    for name, board in dashboards().items():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        for panel in board["panels"]:
            if panel.get("repeat"):
                repeated += 1
                var = variables[panel["repeat"]]
                assert not var["includeAll"], f"{name}: {panel['title']} repeats over All"
                assert not var.get("current"), f"{name}: {var['name']} starts on {var['current']}"
    assert repeated


def test_every_query_uses_contract_metrics_only() -> None:
    allowed = series_names()
    for where, expr in queries():
        unknown = veille_identifiers(expr) - allowed
        assert not unknown, f"{where}: {sorted(unknown)} not in deploy/metrics-contract.txt"
        names = {m for m in re.findall(r"(?<![\w:.\"'])([a-zA-Z_:][\w:]*)\s*\{", expr)}
        assert names <= allowed | BUILTIN_SERIES, f"{where}: {names}"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus "
                    "(scripts/bootstrap does it when run as root)", pytrace=False)
    found = list(queries())
    rules = [{"record": f"dashboard:query_{i}:check", "expr": concrete(expr)}
             for i, (_, expr) in enumerate(found)]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=120)
    where = "\n".join(f"query_{i}: {w}" for i, (w, _) in enumerate(found))
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{where}"
    assert f"SUCCESS: {len(rules)} rules found" in proc.stdout


def test_provisioning_points_at_the_mounted_dashboards() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    (source,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)", source["url"]).groups()  # type: ignore[union-attr]
    assert host in compose["services"]
    assert any(p.endswith(f":{port}") for p in compose["services"][host]["ports"])


def test_the_processed_share_panels_stop_at_100_percent(tmp_path: Path) -> None:
    """On a day a backlog is cleared, 3 cases processed for 1 received: the recording rule says
    100 %, and so must the dashboards (found in review: the stat showed 300 %)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus", pytrace=False)
    shares = [(where, expr) for where, expr in queries()
              if "Processed share" in where or ("processed" in where.lower() and "share" in where.lower())]
    assert len(shares) >= 2, [w for w, _ in queries()]
    rules = [{"record": f"dashboard:share_{i}:check", "expr": concrete(expr)}
             for i, (_, expr) in enumerate(shares)]
    (tmp_path / "shares.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "shares", "rules": rules}]}))
    labels = 'brand="acme", instance="w1:9464", job="veille-worker"'
    test = {
        "rule_files": ["shares.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "10m",
            "input_series": [
                {"series": f"veille_moderation_cases_received_total{{{labels}}}", "values": "0+1x200"},
                {"series": f"veille_moderation_cases_processed_total{{{labels}}}", "values": "0+3x200"},
            ],
            "promql_expr_test": [
                {"expr": f"max(dashboard:share_{i}:check)", "eval_time": "1d",
                 "exp_samples": [{"labels": "{}", "value": 1}]}
                for i in range(len(rules))
            ],
        }],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n".join(w for w, _ in shares)


def test_every_alert_reads_metrics_a_panel_shows() -> None:
    """The engineer paged by an alert opens the dashboards: every veille metric the alert reads
    (through its recording rules too) is drawn by a panel. Found in review (2026-12-06): no panel
    showed veille_raw_backlog_messages (PipelineStalled backlog and reader_stuck), the spike
    agents' counts (no_detection), nor any feed's or hashtag's health (RssFeedFailing,
    MastodonHashtagFailing)."""
    from tests.unit.test_deploy_prometheus import alert_rules, rules

    recorded: dict[str, set[str]] = {}
    for r in rules():
        if "record" in r:
            recorded.setdefault(r["record"], set()).update(veille_identifiers(r["expr"]))

    def base(names: set[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            out |= base(recorded[name]) if name in recorded else {name}
        return out

    shown = {name for board in dashboards().values() for p in panels(board)
             for t in p.get("targets", []) for name in veille_identifiers(t["expr"])}
    missing = {}
    for rule in alert_rules():
        lacking = base(veille_identifiers(rule["expr"])) - shown
        if lacking:
            missing[f"{rule['alert']} {rule['labels'].get('cause', '')}".strip()] = sorted(lacking)
    assert not missing, f"alerts whose metrics no dashboard panel shows: {missing}"


def test_the_negative_share_panel_draws_what_its_alert_compares(tmp_path: Path) -> None:
    """NegativeShareFarAboveNormal compares the hourly negative share with its weekly mean; until
    2026-12-06 no panel drew either (the Reputation dashboard's shares are over the time range and
    the last bucket). On the week of tests/negative_share.yml, the panel's last hour and weekly
    mean are the recording rules', and its share crosses its alert level when the alert's
    condition holds, not before."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus", pytrace=False)
    (panel_,) = [p for p in panels(dashboards()["reputation.json"])
                 if p["title"].startswith("Negative share (1 h) against its weekly mean")]
    names = ["share_1h", "mean_7d", "level"]
    rules = [{"record": f"panel:{n}:check", "expr": concrete(t["expr"])}
             for n, t in zip(names, panel_["targets"], strict=True)]
    (tmp_path / "panel.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "panel", "rules": rules}]}))
    prom = ROOT / "deploy" / "prometheus"
    (week, *_) = yaml.safe_load((prom / "tests" / "negative_share.yml").read_text())["tests"]

    def close(a: str, b: str, tolerance: float, at: str) -> dict[str, Any]:
        return {"expr": f"abs(panel:{a}:check - {b}) < bool {tolerance}", "eval_time": at,
                "exp_samples": [{"labels": '{brand="acme"}', "value": 1}]}

    checks = []
    for at in ("7d", "7d20m", "7d50m", "7d2h"):
        checks.append(close("share_1h", "brand:veille_mentions_negative_share:ratio1h", 1e-9, at))
        checks.append(close("mean_7d", "brand:veille_mentions_negative_share:avg7d", 0.005, at))
    for at, above in (("7d20m", 0), ("7d50m", 1)):  # the alert: quiet at 7d20m, pending at 7d50m
        checks.append({"expr": "panel:share_1h:check > bool panel:level:check", "eval_time": at,
                       "exp_samples": [{"labels": '{brand="acme"}', "value": above}]})
    test = {"rule_files": [str(prom / "rules" / "reputation.yml"), "panel.yml"],
            "evaluation_interval": "5m",
            "tests": [{"interval": week["interval"], "input_series": week["input_series"],
                       "promql_expr_test": checks}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_api_errors_panel_draws_what_its_alert_compares(tmp_path: Path) -> None:
    """ModerationApiFailing compares each route's share of 5xx answers with a tenth; the
    Moderation dashboard's "Moderation API errors (5xx share)" draws that share, at 5 minutes,
    on the series of tests/moderation_api.yml: the decision route's third, the listing's share
    under a tenth (0 for a route with no error: a line, not a gap), /metrics' errors not at all
    (Prometheus' route is no user's)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus", pytrace=False)
    (panel_,) = [p for p in panels(dashboards()["moderation.json"])
                 if p["title"] == "Moderation API errors (5xx share)"]
    (query,) = [t["expr"] for t in panel_["targets"]]
    assert panel_["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.1
    rule = {"record": "panel:api_errors:check",
            "expr": query.replace("$__rate_interval", "5m")}
    (tmp_path / "panel.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "panel", "rules": [rule]}]}))
    prom = ROOT / "deploy" / "prometheus"
    (failing,) = [t for t in yaml.safe_load((prom / "tests" / "moderation_api.yml").read_text())
                  ["tests"] if any('code="503"' in s["series"] for s in t["input_series"])]
    api = 'instance="172.18.0.9:8081"'

    def share(route: str, value: float, at: str) -> dict[str, Any]:
        return {"expr": f'panel:api_errors:check{{route="{route}"}}', "eval_time": at,
                "exp_samples": [{"labels": f'panel:api_errors:check{{{api}, route="{route}"}}',
                                 "value": value}]}

    checks = [share("/cases/{case_id}/decision", 0, "9m"),
              share("/cases/{case_id}/decision", 2 / 6, "22m"),
              share("/cases", 0.5 / 10.5, "22m"),
              {"expr": 'panel:api_errors:check{route="/metrics"}', "eval_time": "22m",
               "exp_samples": []}]
    test = {"rule_files": [str(prom / "rules" / "pipeline.yml"), "panel.yml"],
            "evaluation_interval": "1m",
            "tests": [{"interval": failing["interval"], "input_series": failing["input_series"],
                       "promql_expr_test": checks,
                       # The alert fires on the route whose share the panel draws over 0.1.
                       "alert_rule_test": failing["alert_rule_test"]}]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


#: An expression of brand series that keeps one series (or more) per brand.
BY_BRAND = re.compile(r"by \((?:[\w, ]*, )?brand\b|\{\{brand\}\}")
#: A range query bounded to $top brands ranked once, at the end of the time range.
RANKED = re.compile(r"\(.*\) and on \(brand\) (?:topk|bottomk)\(\$top, (.*)\)", re.S)


def brand_grouped_targets() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(dashboard, panel, target) of every target plotting a series per brand, outside the
    repeated rows (one brand each, chosen in "Brand detail") and the tables (one row a brand:
    they scale)."""
    for name, board in dashboards().items():
        repeated = False
        for p in board["panels"]:
            if p["type"] == "row":
                repeated = bool(p.get("repeat"))
                continue
            if repeated or p["type"] == "table":
                continue
            for t in p["targets"]:
                if BY_BRAND.search(t["expr"]) or BY_BRAND.search(t["legendFormat"]):
                    yield name, p, t


def without_subqueries(expr: str) -> str:
    """`expr` with each subquery `(...)[range:step]` replaced by SUBQUERY."""
    while found := re.search(r"\)\[\w+:\w*\]", expr):
        depth, i = 0, found.start()
        while True:
            depth += {")": 1, "(": -1}.get(expr[i], 0)
            if depth == 0:
                break
            i -= 1
        expr = expr[:i] + "SUBQUERY" + expr[found.end():]
    return expr


def test_no_panel_plots_every_brand() -> None:
    """An agency watches 300 brands with one deployment: the Reputation overview drew 300 tiles
    per stat panel and 300 lines per time series (900 on the weekly-mean panel), the Moderation
    and Pipeline dashboards as many (found in review, 2026-12-07). Every panel that plots a
    series per brand plots the $top brands of its ranking (a table lists them all). A stat or
    bar gauge (one instant query) takes topk/bottomk of its values; a time series keeps the
    brands of a ranking evaluated once, at the end of the time range (`@ end()`): topk in a range
    query picks its own brands at each step, every brand that was ever in the top drawn with
    gaps."""
    found = list(brand_grouped_targets())
    assert {name for name, _, _ in found} == {"reputation.json", "moderation.json", "pipeline.json"}
    for name, board in dashboards().items():
        assert "top" in {v["name"] for v in board["templating"]["list"]}, name
    for name, p, t in found:
        where = f"{name}: {p['title']} {t['refId']}: {t['expr']}"
        if t["instant"]:
            assert re.match(r"(topk|bottomk)\(\$top, ", t["expr"]), where
            continue
        ranked = RANKED.fullmatch(t["expr"])
        assert ranked, where
        rank = ranked[1]
        assert "@ end()" in rank and "$__rate_interval" not in rank, where
        # Every range selector and subquery of the ranking is read at the end of the range.
        # (A subquery's inner selectors move with it: drop them first.)
        outer = without_subqueries(rank)
        for selector in re.finditer(r"\[[^\]]*\]", outer):
            assert outer[selector.end():].startswith(" @ end()"), where
        assert "SUBQUERY" not in outer.replace("SUBQUERY @ end()", ""), where


def _many_brands_series(brands: int) -> list[dict[str, str]]:
    """Every series the brand-grouped panels read, for `brands` brands b01, b02... (values
    that tell them apart: brand i has i positive mentions a minute, 16 - i negative...)."""
    series = []
    job = 'instance="w1:9464", job="veille-worker"'

    def add(name: str, labels: str, values: str) -> None:
        series.append({"series": f"{name}{{{labels}, {job}}}", "values": values})

    for i in range(1, brands + 1):
        b = f'brand="b{i:02}"'
        for sentiment, rate in (("positive", i), ("neutral", 2), ("negative", 16 - i)):
            add("veille_mentions_enriched_total", f'{b}, platform="twitter", sentiment="{sentiment}"',
                f"0+{rate}x180")
        add("veille_reputation_alert_state", b, f"{2 if i % 2 else 1}x180")
        add("veille_reputation_anomaly_score", b, f"{i / 20}x180")
        add("veille_reputation_negative_share", b, f"{i / 20}x180")
        add("veille_reputation_alerts_opened_total", f'{b}, severity="warning"', "0+1x180")
        add("veille_reputation_mentions_total", b, f"0+{i}x180")
        add("veille_reputation_late_mentions_total", b, "0+1x180")
        for kind in ("received", "processed", "rejected"):
            add(f"veille_moderation_cases_{kind}_total", b, f"0+{i if kind == 'received' else 1}x180")
        for gauge in ("backlog_items", "unassigned_items", "oldest_pending_age_seconds",
                      "unanswered_negative"):
            add(f"veille_moderation_{gauge}", b, f"{i}x180")
        for outcome, rate in (("on_time", 1), ("late", i)):
            add("veille_moderation_answers_total", f'{b}, outcome="{outcome}"', f"0+{rate}x180")
        add("veille_moderation_platform_answers_total", b, f"0+{i}x180")
        add("veille_bluesky_brand_failures_total", f'{b}, kind="fetch"', f"0+{i}x180")
        add("veille_bluesky_brand_last_success_timestamp_seconds", b, f"{1000 + i}x180")
        add("veille_reddit_brand_failures_total", f'{b}, kind="fetch"', f"0+{i}x180")
        add("veille_reddit_brand_last_success_timestamp_seconds", b, f"{1000 + i}x180")
        add("veille_youtube_brand_failures_total", f'{b}, kind="channel"', f"0+{i}x180")
        add("veille_youtube_brand_last_success_timestamp_seconds", b, f"{1000 + i}x180")
        add("veille_mastodon_account_failures_total", f'{b}, kind="fetch"', f"0+{i}x180")
        add("veille_mastodon_account_last_success_timestamp_seconds", b, f"{1000 + i}x180")
    return series


@pytest.mark.parametrize("brands, shown", [(15, 10), (5, 5)])
def test_the_brand_panels_show_top_brands(tmp_path: Path, brands: int, shown: int) -> None:
    """With $top = 10, every brand-grouped panel plots 10 of 15 brands, and all 5 of 5 (a small
    watch list loses nothing), each with data ($brand "All": every brand)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install the Debian package prometheus", pytrace=False)
    found = [(f"{name}: {p['title']} {t['refId']}", t["expr"])
             for name, p, t in brand_grouped_targets()]
    values = dict(VARIABLES, **{"$brand": ".+", "$__range": "1h", "$__rate_interval": "5m"})
    rules = [{"record": f"dashboard:brands_{i}:check", "expr": concrete(expr, values)}
             for i, (_, expr) in enumerate(found)]
    (tmp_path / "brands.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "brands", "rules": rules}]}))
    test = {
        "rule_files": ["brands.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": _many_brands_series(brands),
            "promql_expr_test": [
                {"expr": f"count(count by (brand) (dashboard:brands_{i}:check))", "eval_time": "2h",
                 "exp_samples": [{"labels": "{}", "value": shown}]}
                for i in range(len(rules))
            ],
        }],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    where = "\n".join(f"dashboard:brands_{i}: {w}" for i, (w, _) in enumerate(found))
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + where
