"""Generate veille's Grafana dashboards (deploy/grafana/dashboards/*.json) from one description.

Run `python deploy/grafana/build_dashboards.py` after a change and commit the JSON it writes;
`--check` exits 1 when the committed files differ from what this script generates. Standard
library only. Queries use only the metric names veille exports, plus Prometheus' own `up` and
`ALERTS`; the datasource uid is the one provisioned in provisioning/datasources/prometheus.yml.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

DATASOURCE_UID = "veille-prometheus"
DS = {"type": "prometheus", "uid": DATASOURCE_UID}
OUT_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39

Json = dict[str, Any]

# Selectors shared by the panels; Grafana replaces the variables before sending the query.
ENRICHED = 'veille_mentions_enriched_total{brand=~"$brand", platform=~"$platform"}'
NEGATIVE = 'veille_mentions_enriched_total{brand=~"$brand", platform=~"$platform", sentiment="negative"}'
POSITIVE = 'veille_mentions_enriched_total{brand=~"$brand", platform=~"$platform", sentiment="positive"}'
SCORED = ('veille_mentions_enriched_total{brand=~"$brand", platform=~"$platform", '
          'sentiment=~"positive|neutral|negative"}')
# Moderation: the case counters (brand only, a case counted once) feed totals and ratios; the
# item counters (a case counted once per triage category) only the "by category" panels.
MOD = '{brand=~"$brand", category=~"$category"}'
MOD_BRAND = '{brand=~"$brand"}'
# The moderation API's own metrics (no brand: the dashboard's filters do not apply).
API_REQUESTS = "veille_moderation_api_requests_total"
API_DURATION = "veille_moderation_api_request_duration_seconds"
API_DECISIONS = "veille_moderation_api_decisions_total"
API_REFUSALS = "veille_moderation_api_refusals_total"
API_LAST_READ = "veille_moderation_api_last_read_timestamp_seconds"
API_LAST_READ_AGE = "veille_moderation_api_last_read_age_seconds"
#: The users' requests: not the probes' nor Prometheus' (as in ModerationApiFailing).
API_USERS = '{route!~"/healthz|/metrics"}'
API_ERRORS = '{code=~"5..", route!~"/healthz|/metrics"}'


def target(expr: str, legend: str = "", *, instant: bool = False, interval: str = "",
           table: bool = False) -> Json:
    t: Json = {
        "datasource": DS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
    }
    if interval:
        t["interval"] = interval
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps: tuple[str, float | None]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in steps]}


def panel(
    kind: str,
    title: str,
    targets: list[Json],
    *,
    description: str = "",
    unit: str = "short",
    custom: Json | None = None,
    options: Json | None = None,
    steps: Json | None = None,
    mappings: list[Json] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    decimals: int | None = None,
    extra: Json | None = None,
    extra_defaults: Json | None = None,
    overrides: list[Json] | None = None,
) -> Json:
    defaults: Json = {"unit": unit, "mappings": mappings or []}
    defaults["thresholds"] = steps or thresholds(("green", None))
    if custom is not None:
        defaults["custom"] = custom
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if decimals is not None:
        defaults["decimals"] = decimals
    defaults.update(extra_defaults or {})
    p: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    p.update(extra or {})
    return p


def timeseries(title: str, targets: list[Json], *, stack: str = "", bars: bool = False,
               threshold_line: bool = False, **kw: Any) -> Json:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 60 if bars else (30 if stack else 10),
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"mode": stack or "none", "group": "A"},
        "thresholdsStyle": {"mode": "line" if threshold_line else "off"},
    }
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, targets, custom=custom, options=options, **kw)


def stat(title: str, expr: str, legend: str = "", **kw: Any) -> Json:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "none",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    return panel("stat", title, [target(expr, legend, instant=True)], options=options, **kw)


def bargauge(title: str, expr: str, legend: str, **kw: Any) -> Json:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "horizontal",
        "displayMode": "basic",
        "showUnfilled": True,
    }
    return panel("bargauge", title, [target(expr, legend, instant=True)], options=options, **kw)


def brands_table(columns: list[tuple[str, Json]], sort_by: str, **kw: Any) -> Json:
    """A table of one row per brand: each (column title, instant table target) a column, joined
    on the brand label (every brand, where a stat panel's tiles or a time series' lines would
    not scale), sorted by `sort_by`, highest first."""
    titles = [title for title, _ in columns]
    targets = [t for _, t in columns]
    value_of = {f"Value #{chr(ord('A') + i)}": title for i, title in enumerate(titles)}
    units = {"Alert story": "none", "Negative share (1 h)": "percentunit",
             "Net sentiment (1 h)": "percentunit"}
    overrides: list[Json] = []
    for title in titles:
        props: list[Json] = [{"id": "unit", "value": units.get(title, "short")}]
        if title == "Alert story":
            props += [{"id": "mappings", "value": ALERT_STATE_MAPPINGS},
                      {"id": "custom.cellOptions", "value": {"type": "color-background"}}]
        elif title.startswith("Mentions"):
            props.append({"id": "decimals", "value": 0})
        overrides.append({"matcher": {"id": "byName", "options": title}, "properties": props})
    transformations = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {
            "excludeByName": {"Time": True},
            "indexByName": {"brand": 0, **{v: i + 1 for i, v in enumerate(value_of)}},
            "renameByName": {"brand": "Brand", **value_of},
        }},
    ]
    options = {"showHeader": True, "cellHeight": "sm",
               "footer": {"show": False, "reducer": ["sum"], "fields": ""},
               "sortBy": [{"displayName": sort_by, "desc": True}]}
    return panel("table", "Brands", targets, options=options, overrides=overrides,
                 steps=thresholds(("green", None), ("orange", 1), ("red", 2)),
                 extra={"transformations": transformations}, **kw)


ALERT_STATE_MAPPINGS = [
    {"type": "value", "options": {
        "0": {"text": "none", "color": "green", "index": 0},
        "1": {"text": "warning", "color": "orange", "index": 1},
        "2": {"text": "critical", "color": "red", "index": 2},
    }},
]


#: How many brands a brand-grouped panel plots at most (variable $top): an agency's watch list
#: of 300 brands drew 300 tiles per stat panel and 300 lines per time series (found in review,
#: 2026-12-07). The table "Brands" lists every brand; a watch list of $top brands or fewer is
#: shown whole, as before.
TOP = "$top"


def top(expr: str, rank: str, *, bottom: bool = False) -> str:
    """`expr` (a brand-grouped query) for the $top brands of `rank`, highest first (lowest with
    `bottom`). `rank` is a time series panel's ranking: its selectors must carry `@ end()` so
    that it is evaluated once, at the end of the time range, and the same brands are plotted at
    every step (topk(N, expr) in a range query picks its own N brands at each step: a line per
    brand that was ever in the top, up to all of them, with gaps)."""
    return f"({expr}) and on (brand) {'bottomk' if bottom else 'topk'}({TOP}, {rank})"


def at_end(expr: str) -> str:
    """Every range selector of `expr` read at the end of the dashboard's time range (`@ end()`);
    not for an expression holding a subquery (its inner selectors must move with it)."""
    assert ":" not in "".join(re.findall(r"\[[^\]]*\]", expr)), expr
    return re.sub(r"(\[[^\]:]+\])", r"\1 @ end()", expr)


def top_variable() -> Json:
    """$top: how many brands the brand-grouped panels plot (10 at opening)."""
    values = ["5", "10", "20", "50"]
    return {
        "name": "top",
        "label": "Top brands",
        "type": "custom",
        "query": ",".join(values),
        "current": {"selected": True, "text": "10", "value": "10"},
        "options": [{"selected": v == "10", "text": v, "value": v} for v in values],
        "multi": False,
        "includeAll": False,
        "hide": 0,
    }


def variable(name: str, label: str, metric: str, of: str = "", every: bool = True) -> Json:
    """A variable listing the values of label `of` (default: its own name) of `metric`. With
    `every`, multi-valued with "All" selected (sent as `.*`); without, multi-valued without "All" and no value
    chosen: Grafana opens it on its first value (what a repeated row repeats over: with "All", a
    watch list of 300 brands made 300 rows)."""
    query = f"label_values({metric}, {of or name})"
    chosen: Json = ({"current": {"selected": True, "text": ["All"], "value": ["$__all"]}}
                    if every else {})
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,
        "multi": True,
        "includeAll": every,
        # "All" sent as one regex rather than the alternation of every value Grafana lists (300
        # brands: a 4,000-character regex in every query of the dashboard, matched against every
        # series' label); what it selects is the same, the listed values being all there are.
        **({"allValue": ".*"} if every else {}),
        **chosen,
        "sort": 1,
        # Not "none" (mentions of no brand) in a list opened on its first value.
        "regex": "" if every else "/^(?!none$).*/",
        "hide": 0,
        "options": [],
    }


def annotation(name: str, expr: str, title: str, tags: str, color: str) -> Json:
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "expr": expr,
        "step": "1m",
        "titleFormat": title,
        "tagKeys": tags,
        "textFormat": "",
        "useValueForTime": False,
        "iconColor": color,
    }


def row(title: str, repeat: str = "") -> list[tuple[Json, int, int]]:
    """A row header; the panels after it, up to the next row, belong to it (and repeat with it)."""
    r: Json = {"type": "row", "title": title, "collapsed": False, "panels": []}
    if repeat:
        r["repeat"] = repeat
    return [(r, 24, 1)]


def layout(rows: list[list[tuple[Json, int, int]]]) -> list[Json]:
    """Place rows of (panel, width, height) on Grafana's 24-column grid, ids in order."""
    panels: list[Json] = []
    y = 0
    for row in rows:
        x = 0
        for p, w, h in row:
            panels.append(dict(p, id=len(panels) + 1, gridPos={"h": h, "w": w, "x": x, "y": y}))
            x += w
        y += max(h for _, _, h in row)
    return panels


def dashboard(uid: str, title: str, description: str, variables: list[Json], panels: list[Json],
              annotations: list[Json] | None = None, time_from: str = "now-6h") -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["veille"],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "links": [{"type": "dashboards", "tags": ["veille"], "asDropdown": False,
                   "title": "veille", "includeVars": False, "keepTime": True}],
        "templating": {"list": variables},
        "annotations": {"list": annotations or []},
        "panels": panels,
    }


def reputation() -> Json:
    per_hour = "mentions/h"
    net = (f"(sum by (brand) (rate({POSITIVE}[1h])) - sum by (brand) (rate({NEGATIVE}[1h])))"
           f" / (sum by (brand) (rate({SCORED}[1h])) > 0)")
    band = 'max by (brand) (veille_reputation_negative_expected{brand=~"$detail"})'
    # What NegativeShareFarAboveNormal compares (brand:veille_mentions_negative_share:ratio1h and
    # :avg7d), from the counters: every platform, as the alert.
    share_1h = ('sum by (brand) (rate(veille_mentions_enriched_total{brand=~"$brand", '
                'sentiment="negative"}[1h])) / (sum by (brand) (rate(veille_mentions_enriched_total'
                '{brand=~"$brand", sentiment=~"positive|neutral|negative"}[1h])) > 0)')
    share_7d = f"avg_over_time(({share_1h})[7d:1h])"
    # The overview plots the $top brands of each panel's ranking (see top()); the table lists
    # every brand. Stat panels are instant queries (one evaluation: topk picks once); the time
    # series rank at the end of the time range (@ end()), so each draws the same brands all along.
    volume = f"sum by (brand) (increase({ENRICHED}[$__range]))"
    share_range = (f"sum by (brand) (increase({NEGATIVE}[$__range])) / "
                   f"(sum by (brand) (increase({SCORED}[$__range])) > 0)")
    state = 'max by (brand) (veille_reputation_alert_state{brand=~"$brand"})'
    # The alert's level, max(mean + 15 points, 1.3 times the mean), as mean + max(0.15, 0.3 mean):
    # two subqueries instead of three.
    level = f"{share_7d} + clamp_min(0.3 * {share_7d}, 0.15)"
    mean_at_end = f"avg_over_time(({share_1h})[7d:1h] @ end())"
    # How far the last hour's share is above (or below) its alert level at the end of the time
    # range; a brand without a weekly mean yet (a new brand, a new Prometheus) ranks after every
    # brand with one, by its share.

    def peak(gauge: str) -> str:
        return at_end(f'max by (brand) (max_over_time({gauge}{{brand=~"$brand"}}[$__range]))')

    above_level = (f"({at_end(share_1h)} - {mean_at_end} - clamp_min(0.3 * {mean_at_end}, 0.15))"
                   f" or ({at_end(share_1h)} - 2)")
    rows = [
        [
            (stat(f"Mentions (top {TOP})", f"topk({TOP}, {volume})", "{{brand}}",
                  description="Mentions enriched over the time range (a mention of two brands "
                              "counts for each): the $top brands with the most; every brand in "
                              "the table \"Brands\".", decimals=0), 6, 4),
            (stat(f"Negative share (top {TOP})", f"topk({TOP}, {share_range})",
                  "{{brand}}", unit="percentunit", description="Negative mentions over scored "
                  "ones (English and French), time range: the $top brands with the highest."),
             6, 4),
            (stat(f"Net sentiment (1 h, lowest {TOP})", f"bottomk({TOP}, {net})", "{{brand}}",
                  unit="percentunit", minimum=-1, maximum=1,
                  description="(positive - negative) / scored mentions, last hour: the $top "
                              "brands with the lowest.",
                  steps=thresholds(("red", None), ("orange", -0.1), ("green", 0.1))), 6, 4),
            (stat("Brands in alert", f"topk({TOP}, {state} > 0)", "{{brand}}",
                  mappings=ALERT_STATE_MAPPINGS, extra_defaults={"noValue": "none"},
                  description="The brands whose spike agent has an alert story open "
                              "(veille_reputation_alert_state: 1 warning, 2 critical, as "
                              "ReputationCrisis), critical first, $top at most; \"none\": "
                              "every brand is quiet.",
                  steps=thresholds(("green", None), ("orange", 1), ("red", 2))), 6, 4),
        ],
        [
            (brands_table([
                ("Alert story", target(state, instant=True, table=True)),
                ("Negative share (1 h)", target(share_1h, instant=True, table=True)),
                ("Net sentiment (1 h)", target(net, instant=True, table=True)),
                ("Mentions (1 h)", target(f"sum by (brand) (increase({ENRICHED}[1h]))",
                                          instant=True, table=True)),
                ("Mentions (time range)", target(volume, instant=True, table=True)),
            ], sort_by="Negative share (1 h)",
                description="Every brand selected, highest negative share first (click a "
                            "column to sort by it): its alert story (ReputationCrisis), the "
                            "negative share of its scored mentions in the last hour on every "
                            "platform (what NegativeShareFarAboveNormal compares, "
                            "brand:veille_mentions_negative_share:ratio1h), its net sentiment "
                            "and its mentions in the last hour and over the time range. The "
                            "panels around plot $top brands each."), 24, 8),
        ],
        [
            (timeseries(f"Volume (top {TOP})", [target(
                top(f"sum by (brand) (rate({ENRICHED}[$__rate_interval])) * 3600",
                    at_end(volume)), "{{brand}}")],
                unit=per_hour, description="Mentions enriched per hour, per brand: the $top "
                                           "brands with the most mentions over the time range "
                                           "(those of the stat \"Mentions\")."), 12, 8),
            (timeseries(f"Reputation score (net sentiment, 1 h, lowest {TOP})",
                        [target(top(net, at_end(net), bottom=True), "{{brand}}")],
                        unit="percentunit", minimum=-1, maximum=1,
                        description="(positive - negative) / scored mentions over the last hour: "
                                    "the recording brand:veille_reputation_score:net_sentiment1h; "
                                    "the $top brands with the lowest at the end of the time "
                                    "range (those of the stat \"Net sentiment\")."),
             12, 8),
        ],
        [
            (timeseries(f"Negative share (1 h) against its weekly mean (top {TOP})", [
                target(top(share_1h, above_level), "{{brand}} last hour"),
                target(top(share_7d, above_level), "{{brand}} weekly mean", interval="1h"),
                target(top(level, above_level), "{{brand}} alert level", interval="1h"),
            ], unit="percentunit", minimum=0, maximum=1,
                description="Negative mentions over scored ones (every platform) in the last "
                            "hour, against its mean over the last 7 days (hourly steps; needs a "
                            "week of retention). Alert NegativeShareFarAboveNormal: above the "
                            "alert level (15 points and 1.3 times the mean) for 30 minutes, on "
                            "at least 20 scored mentions an hour. The $top brands nearest their "
                            "alert level or furthest above it at the end of the time range (a "
                            "brand without a weekly mean yet after them); choose one in "
                            "\"Brand\" to see it whatever its rank."), 24, 8),
        ],
        row("Brand: $detail", repeat="detail"),
        [
            (timeseries(
                "Sentiment mix: $detail",
                [target('sum by (sentiment) (rate(veille_mentions_enriched_total'
                        '{brand=~"$detail", platform=~"$platform"}[$__rate_interval])) * 3600',
                        "{{sentiment}}")],
                stack="percent", unit=per_hour,
                description="Share of positive, neutral, negative and unscored (other languages) "
                            "mentions (the row repeats for each brand chosen in \"Brand detail\", "
                            "the first one at opening)."), 12, 8),
            (timeseries(
                "Negative mentions vs expected: $detail",
                [
                    target('max by (brand) (veille_reputation_negative_observed{brand=~"$detail"})',
                           "observed"),
                    target(band, "expected"),
                    target(f"{band} + 3 * sqrt({band})", "expected + 3 sd"),
                    target(f"clamp_min({band} - 3 * sqrt({band}), 0)", "expected - 3 sd"),
                ],
                description="Negative mentions in the last closed 5-minute bucket against the "
                            "detector's baseline, with a Poisson band of 3 standard deviations."),
             12, 8),
        ],
        row(f"All brands (top {TOP} of each panel)"),
        [
            (timeseries("Anomaly score", [target(top(
                'max by (brand) (veille_reputation_anomaly_score{brand=~"$brand"})',
                peak("veille_reputation_anomaly_score")), "{{brand}}")],
                unit="none", minimum=0, maximum=1, threshold_line=True,
                steps=thresholds(("green", None), ("red", 0.5)),
                description="Score of the last closed bucket (0.5 at the alert threshold): the "
                            "$top brands with the highest over the time range."), 8, 8),
            (timeseries("Negative share (last bucket)", [target(top(
                'max by (brand) (veille_reputation_negative_share{brand=~"$brand"})',
                peak("veille_reputation_negative_share")), "{{brand}}")],
                unit="percentunit", minimum=0, maximum=1,
                description="Share of negative mentions in the brand's last closed bucket: the "
                            "$top brands with the highest over the time range."), 8, 8),
            (panel("state-timeline", "Alert state", [target(top(
                state, peak("veille_reputation_alert_state")), "{{brand}}")],
                mappings=ALERT_STATE_MAPPINGS,
                steps=thresholds(("green", None), ("orange", 1), ("red", 2)),
                custom={"fillOpacity": 80, "lineWidth": 0},
                options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                         "legend": {"showLegend": False, "displayMode": "list",
                                    "placement": "bottom"}},
                description="0 none, 1 warning, 2 critical (veille_reputation_alert_state): the "
                            "$top brands with the highest over the time range, critical first."),
             8, 8),
        ],
        [
            (bargauge("Top platforms", f"topk(10, sum by (platform) (increase({ENRICHED}[$__range])))",
                      "{{platform}}", decimals=0,
                      description="Mentions per platform over the time range."), 8, 9),
            (bargauge("Top platforms of negative mentions",
                      f"topk(10, sum by (platform) (increase({NEGATIVE}[$__range])))", "{{platform}}",
                      decimals=0, steps=thresholds(("red", None)),
                      description="Negative mentions per platform over the time range."), 8, 9),
            (bargauge(f"Alert stories opened (top {TOP})",
                      f'topk({TOP}, sum by (brand, severity) (increase('
                      'veille_reputation_alerts_opened_total{brand=~"$brand"}[$__range])) > 0)',
                      "{{brand}} {{severity}}", decimals=0,
                      description="Alert stories opened or re-opened over the time range, by "
                                  "severity at opening: the $top most (brand and severity)."),
             8, 9),
        ],
    ]
    annotations = [
        annotation("Reputation alerts",
                   'ALERTS{alertname="ReputationCrisis", alertstate="firing", brand=~"$brand"}',
                   "ReputationCrisis {{severity}}: {{brand}}", "brand,severity", "red"),
        annotation("Negative share alerts",
                   'ALERTS{alertname="NegativeShareFarAboveNormal", alertstate="firing", '
                   'brand=~"$brand"}',
                   "NegativeShareFarAboveNormal: {{brand}}", "brand,severity", "orange"),
        annotation("Alert stories",
                   'max by (brand) (veille_reputation_alert_state{brand=~"$brand"}) > 0',
                   "alert story open: {{brand}}", "brand", "orange"),
    ]
    return dashboard(
        "veille-reputation", "veille: reputation",
        "Per brand: volume, sentiment mix, reputation and anomaly scores, negative mentions "
        "against the expected band, alerts, platforms.",
        [variable("brand", "Brand", "veille_mentions_enriched_total"),
         variable("platform", "Platform", "veille_mentions_enriched_total"),
         top_variable(),
         variable("detail", "Brand detail", "veille_mentions_enriched_total", of="brand", every=False)],
        layout(rows), annotations,
    )


def moderation() -> Json:
    # Once per case: totals and the KPI ratios (the $category filter does not apply to them).
    received = f"veille_moderation_cases_received_total{MOD_BRAND}"
    processed = f"veille_moderation_cases_processed_total{MOD_BRAND}"
    rejected = f"veille_moderation_cases_rejected_total{MOD_BRAND}"
    # Once per triage category: the "by category" panels only.
    received_items = f"veille_moderation_items_received_total{MOD}"
    rejected_items = f"veille_moderation_items_rejected_total{MOD}"
    # Flows: a day that clears a backlog processes more than it receives; shown at 100 % at
    # most, as the recording rule has it (the README says so; found in review: 300 %).
    share = (f"clamp_max(sum by (brand) (increase({processed}[1d])) "
             f"/ (sum by (brand) (increase({received}[1d])) > 0), 1)")
    rejection = (f"sum by (brand) (increase({rejected}[1d])) "
                 f"/ (sum by (brand) (increase({processed}[1d])) > 0)")
    decision = f"veille_moderation_decision_seconds_bucket{MOD_BRAND}"
    # Closings of negative cases asking for an answer, on time or late (outcome).
    answers = f"veille_moderation_answers_total{MOD_BRAND}"
    on_time = 'veille_moderation_answers_total{brand=~"$brand", outcome="on_time"}'
    answered_on_time = (f"sum by (brand) (increase({on_time}[1d])) "
                        f"/ (sum by (brand) (increase({answers}[1d])) > 0)")
    # Cases closed by the brand's answer seen on its platform by a collector (answered_on).
    on_platform = (f"sum by (brand) (increase(veille_moderation_platform_answers_total"
                   f"{MOD_BRAND}[1d]))")
    # The brand-grouped panels plot $top brands (see top()): the most cases received over the
    # time range, the worst KPI at its end, the highest gauge over the time range.
    received_range = f"sum by (brand) (increase({received}[$__range]))"

    def peak(gauge: str) -> str:
        return at_end(f"max by (brand) (max_over_time({gauge}{MOD_BRAND}[$__range]))")
    rows = [
        [
            (stat("Received", f"sum(increase({received}[$__range]))", "received", decimals=0,
                  description="Cases received for moderation over the time range (each case "
                              "once, whatever its categories)."), 4, 4),
            (stat("Processed share (24 h)",
                  f"clamp_max(sum(increase({processed}[1d])) / (sum(increase({received}[1d])) > 0), 1)",
                  "processed", unit="percentunit",
                  steps=thresholds(("red", None), ("green", 0.9)),
                  description="KPI: processed over received cases, keep above 90 %."), 4, 4),
            (stat("Rejection rate (24 h)",
                  f"sum(increase({rejected}[1d])) / (sum(increase({processed}[1d])) > 0)",
                  "rejected", unit="percentunit",
                  steps=thresholds(("green", None), ("orange", 0.3)),
                  description="Rejected over processed cases; alert ceiling 30 %."), 4, 4),
            (stat("Backlog", f"sum(veille_moderation_backlog_items{MOD_BRAND})", "items",
                  decimals=0, description="Items waiting for a decision."), 4, 4),
            (stat("Oldest pending", f"max(veille_moderation_oldest_pending_age_seconds{MOD_BRAND})",
                  "age", unit="s", steps=thresholds(("green", None), ("orange", 7200),
                                                    ("red", 28800)),
                  description="Age of the oldest item waiting (deadline 2 h, critical 8 h)."), 4, 4),
            (stat("Unanswered negative", f"sum(veille_moderation_unanswered_negative{MOD_BRAND})",
                  "unanswered", decimals=0, steps=thresholds(("green", None), ("orange", 1)),
                  description="Negative mentions asking for an answer, still pending past the "
                              "brand's response deadline (alert ModerationNegativeUnanswered)."),
             4, 4),
        ],
        [
            (timeseries("Received and processed", [
                target(top(f"sum by (brand) (rate({received}[$__rate_interval])) * 3600",
                           at_end(received_range)), "received {{brand}}"),
                target(top(f"sum by (brand) (rate({processed}[$__rate_interval])) * 3600",
                           at_end(received_range)), "processed {{brand}}"),
            ], unit="cases/h", description="Cases per hour (each case once): the $top brands "
                                           "that received the most over the time range."),
             12, 8),
            (timeseries("Received by category", [target(
                f"sum by (category) (rate({received_items}[$__rate_interval])) * 3600",
                "{{category}}")],
                stack="normal", unit="items/h",
                description="insult, threat, hate, spam, aggressive, detractor, needs_answer, "
                            "none (a banned term alone). A case counts in each of its categories: "
                            "the stack adds up to more than the cases received."),
             12, 8),
        ],
        [
            (timeseries("Processed share (24 h) against 90 %",
                        [target(top(share, at_end(share), bottom=True), "{{brand}}")],
                        unit="percentunit", minimum=0, maximum=1, threshold_line=True,
                        steps=thresholds(("red", None), ("green", 0.9)),
                        description="Processed over received cases over a sliding day; the line "
                                    "is the 90 % target (alert ModerationProcessedShareLow). "
                                    "The $top brands with the lowest at the end of the time "
                                    "range."),
             12, 8),
            (timeseries("Rejection rate (24 h)",
                        [target(top(rejection, at_end(rejection)), "{{brand}}")],
                        unit="percentunit", minimum=0, maximum=1, threshold_line=True,
                        steps=thresholds(("green", None), ("orange", 0.3)),
                        description="Rejected over processed cases over a sliding day; the line is "
                                    "the 30 % ceiling (alert ModerationRejectionRateHigh). The "
                                    "$top brands with the highest at the end of the time range."),
             12, 8),
        ],
        [
            (timeseries("Oldest pending item", [target(
                top(f"max by (brand) (veille_moderation_oldest_pending_age_seconds{MOD_BRAND})",
                    peak("veille_moderation_oldest_pending_age_seconds")),
                "{{brand}}")], unit="s", threshold_line=True,
                steps=thresholds(("green", None), ("orange", 7200), ("red", 28800)),
                description="Age of the oldest item waiting (alert ModerationBacklogTooOld): "
                            "the $top brands whose oldest item was the oldest over the time "
                            "range."),
             8, 8),
            (timeseries("Backlog", [
                target(top(f"sum by (brand) (veille_moderation_backlog_items{MOD_BRAND})",
                           peak("veille_moderation_backlog_items")), "{{brand}}"),
                target(top(f"sum by (brand) (veille_moderation_unassigned_items{MOD_BRAND})",
                           peak("veille_moderation_backlog_items")), "{{brand}} unassigned"),
            ], description="Items waiting for a decision, and those of them no moderator has "
                           "taken (assign) or been given (escalate): the $top brands with the "
                           "largest backlog over the time range."), 8, 8),
            (timeseries("Time to decision", [
                target(f"histogram_quantile(0.5, sum by (le) (rate({decision}[1h])))", "p50"),
                target(f"histogram_quantile(0.9, sum by (le) (rate({decision}[1h])))", "p90"),
            ], unit="s", description="From the case entering the moderation queue to the "
                                     "decision that closed it (escalations included), decisions "
                                     "of the last hour."), 8, 8),
        ],
        [
            (timeseries("Busiest hours", [target(
                f"sum(increase({received}[1h]))", "cases received in the hour", interval="1h")],
                bars=True, unit="cases", decimals=0,
                description="Cases received per hour: when moderators are needed most."), 12, 8),
            (timeseries("Unanswered negative mentions", [target(
                top(f"sum by (brand) (veille_moderation_unanswered_negative{MOD_BRAND})",
                    peak("veille_moderation_unanswered_negative")), "{{brand}}")],
                description="Negative mentions asking for an answer, still pending past the "
                            "brand's response deadline (alert ModerationNegativeUnanswered): the "
                            "$top brands with the most over the time range."),
             6, 8),
            (timeseries("Decisions ignored", [target(
                "sum by (reason) (increase(veille_moderation_decisions_ignored_total"
                "[$__rate_interval]))", "{{reason}}")],
                bars=True, unit="decisions",
                description="Decisions the moderation agent did not apply, by reason; "
                            "not_a_case is the normal fate of the brand's answers, seen on a "
                            "platform, to comments that never became cases."), 6, 8),
        ],
        [
            (timeseries("Negative mentions answered on time (24 h)",
                        [target(top(answered_on_time, at_end(answered_on_time), bottom=True),
                                "{{brand}}")],
                        unit="percentunit", minimum=0, maximum=1,
                        description="Of the negative cases asking for an answer (needs_answer) "
                                    "closed over a sliding day, the share replied to by the "
                                    "brand's response deadline; the others were replied to late "
                                    "or closed by approve/reject with no answer. No value: none "
                                    "closed. The $top brands with the lowest at the end of the "
                                    "time range."), 8, 8),
            (timeseries("Answers on time, late and none", [target(
                f"sum by (outcome) (increase({answers}[1h]))", "{{outcome}}", interval="1h")],
                bars=True, stack="normal", unit="cases", decimals=0,
                description="Negative cases asking for an answer closed per hour: replied "
                            "on_time by the brand's response deadline or late after it, or "
                            "closed by approve/reject with no_answer."), 8, 8),
            (timeseries("Answered on the platform (24 h)",
                        [target(top(on_platform, at_end(on_platform)), "{{brand}}")],
                        unit="cases", decimals=0,
                        description="Cases closed over a sliding day by the brand's answer seen "
                                    "on the platform by a collector (a replied decision with "
                                    "answered_on), not recorded by a moderator in veille; they "
                                    "count as replied above, at the answer's time there. The "
                                    "$top brands with the most at the end of the time range."),
             8, 8),
        ],
        [
            (bargauge("Rejected by category",
                      f"sum by (category) (increase({rejected_items}[$__range]))",
                      "{{category}}", decimals=0,
                      description="Rejected cases over the time range, by category: a case "
                                  "counts in each of its categories."), 12, 8),
            (bargauge(f"Received by brand (top {TOP})", f"topk({TOP}, {received_range})",
                      "{{brand}}", decimals=0,
                      description="Cases received over the time range (each case once): the "
                                  "$top brands that received the most."), 12, 8),
        ],
        # The moderators' tool itself (`veille moderate serve`, job veille-moderation-api): no
        # brand label, the filters do not apply.
        row("Moderation API"),
        [
            (timeseries("Moderation API requests", [target(
                f"sum by (route, code) (rate({API_REQUESTS}[$__rate_interval]))",
                "{{route}} {{code}}")], unit="reqps",
                description="Requests the moderation API and its page answered, by route "
                            "(other: no route, 404 or 405) and status code: 401 and 403 are "
                            "credentials or forms refused (401s on /cases and /closed with no "
                            "2xx: alert ModerationApiRefusing, cause token), 500 an error of "
                            "the API, 503 the broker out of its reach."),
             8, 8),
            (timeseries("Moderation API latency (p95)", [target(
                "histogram_quantile(0.95, sum by (route, le) (rate("
                f"{API_DURATION}_bucket[$__rate_interval])))", "{{route}}")], unit="s",
                description="95th percentile of the time to answer, by route (a listing "
                            "reads the topics first; a decision waits for the broker's "
                            "acknowledgement and reads it back)."), 8, 8),
            # The API's own age (its monotonic clock: time() less its timestamp is off by any
            # skew between its clock and Prometheus's); the difference for an API that does
            # not export it (an older version), from its first read.
            (timeseries("Moderation API view age", [
                target(f"max by (instance) ({API_LAST_READ_AGE} or (time() - ({API_LAST_READ} > 0)))",
                       "{{instance}}"),
            ], unit="s", threshold_line=True,
                steps=thresholds(("green", None), ("orange", 300)),
                description="Time since each moderation API last read the moderation topics "
                            "(at each request, by itself after 30 s without one; since it "
                            "started, before its first read), on its own clock: over 5 "
                            "minutes it cannot read them (alert ModerationApiStale)."), 8, 8),
        ],
        [
            # Each route's share of 5xx answers, as ModerationApiFailing compares it (0 for a
            # route without one, rather than no line).
            (timeseries("Moderation API errors (5xx share)", [target(
                f"(sum by (instance, route) (rate({API_REQUESTS}{API_ERRORS}[$__rate_interval])) "
                f"or 0 * sum by (instance, route) (rate({API_REQUESTS}{API_USERS}"
                "[$__rate_interval])))"
                f" / sum by (instance, route) (rate({API_REQUESTS}{API_USERS}[$__rate_interval]))",
                "{{instance}} {{route}}")], unit="percentunit", minimum=0, maximum=1,
                threshold_line=True, steps=thresholds(("green", None), ("orange", 0.1)),
                description="Share of each route's requests answered 5xx (500: an error of the "
                            "API, its log names it; 503: the broker not answering or not "
                            "acknowledging), /healthz and /metrics left out. Over a tenth in "
                            "every 5 minutes for 10 minutes: alert ModerationApiFailing."), 8, 8),
            (timeseries("Decisions written by the moderation API", [target(
                f"sum by (decision, via) (increase({API_DECISIONS}[$__rate_interval]))",
                "{{decision}} ({{via}})")], bars=True, stack="normal", unit="decisions",
                decimals=0,
                description="Decisions the API wrote and the broker acknowledged, by decision "
                            "and by way: the JSON API (api) or the moderation page (page)."),
             8, 8),
            (timeseries("Refused by the moderation API", [
                target(f"sum by (reason, via) (increase({API_REFUSALS}[$__rate_interval]))",
                       "{{reason}} ({{via}})"),
                target("sum(increase(veille_moderation_api_read_failures_total"
                       "[$__rate_interval]))", "topics not read (503)"),
            ], bars=True, unit="requests", decimals=0,
                description="Requests refused (4xx), by reason: unauthorized (a wrong token), "
                            "csrf or expired (a page's form), decision_pending or "
                            "already_closed (decided by another), invalid_query...; and the "
                            "reads of the topics that failed. unauthenticated_user, "
                            "ambiguous_user and misdirected_request are the proxy's "
                            "configuration, nobody's typing (alert ModerationApiRefusing, cause "
                            "proxy)."), 8, 8),
        ],
    ]
    annotations = [
        annotation("Moderation alerts",
                   'ALERTS{alertname=~"Moderation.*", alertstate="firing", brand=~"$brand"}',
                   "{{alertname}} {{severity}}: {{brand}}", "brand,severity", "orange"),
    ]
    return dashboard(
        "veille-moderation", "veille: moderation",
        "Moderation KPIs: cases received, processed share against 90 %, rejection rate, backlog "
        "age, time to decision, negative mentions answered on time, busiest hours; the moderation "
        "API's requests, latency and view age. The category filter applies to the by-category "
        "panels only: totals and ratios count each case once.",
        [variable("brand", "Brand", "veille_moderation_cases_received_total"),
         variable("category", "Category", "veille_moderation_items_received_total"),
         top_variable()],
        layout(rows), annotations, time_from="now-2d",
    )


def poll_health(name: str, label: str, metric: str, legend: str, failures: str,
                last_good: str) -> list[tuple[Json, int, int]]:
    """A polling collector's two panels (6 wide each) for what it polls, one series per `label`
    (a feed, a hashtag): its failed polls of the last hour by kind (`metric`_failures_total),
    and the seconds since its last good poll (`metric`_last_success_timestamp_seconds), orange
    after an hour. `failures`, `last_good`: the panels' descriptions. Per brand, $top brands
    (see top()): the most failed searches, the stalest, at the end of the time range."""
    failed = f"sum by ({label}, kind) (increase({metric}_failures_total[1h])) > 0"
    age = f"time() - max by ({label}) ({metric}_last_success_timestamp_seconds > 0)"
    if label == "brand":
        failed = top(failed, at_end(f"sum by (brand) (increase({metric}_failures_total[1h]))"))
        age = top(age, at_end(f"max by (brand) (last_over_time("
                              f"{metric}_last_success_timestamp_seconds[$__range]))"), bottom=True)
        failures += " The $top brands with the most at the end of the time range."
        last_good += " The $top stalest brands at the end of the time range."
    return [
        (timeseries(f"{name} failures (1 h)", [target(failed, legend + ": {{kind}}")],
            unit="polls", decimals=0, description=failures), 6, 8),
        (timeseries(f"{name} last good poll", [target(age, legend)],
            unit="s", threshold_line=True, steps=thresholds(("green", None), ("orange", 3600)),
            description=last_good), 6, 8),
    ]


def pipeline() -> Json:
    ri = "[$__rate_interval]"
    latency = "veille_pipeline_latency_seconds_bucket"
    # The per-brand panels plot $top brands (see top()). Enriched against counted: the brands
    # with the most mentions enriched and not counted over the time range (a spike agent that
    # counts none of a brand's: PipelineStalled{cause="no_detection"}) come first.
    enriched_range = 'sum by (brand) (increase(veille_mentions_enriched_total{brand!="none"}[$__range]))'
    counted_range = ("(sum by (brand) (increase(veille_reputation_mentions_total[$__range]))"
                     " + sum by (brand) (increase(veille_reputation_late_mentions_total[$__range])))")
    uncounted = at_end(f"{enriched_range} - ({counted_range} or 0 * {enriched_range})")
    late = at_end("sum by (brand) (increase(veille_reputation_late_mentions_total[$__range]))")
    rows = [
        [
            (stat("Workers up", 'count(up{job=~"veille-worker|veille-agents"} == 1)', "workers",
                  decimals=0, steps=thresholds(("red", None), ("green", 1)),
                  description="Worker targets Prometheus scrapes successfully (the split-mode "
                              "agents included)."), 4, 4),
            (stat("Raw messages read", f"sum(rate(veille_raw_messages_total{ri}))", "read",
                  unit="msg/s", description="Messages read from mentions.raw."), 4, 4),
            (stat("Lag", "max(veille_lag_seconds)", "lag", unit="s",
                  steps=thresholds(("green", None), ("orange", 600)),
                  description="Age of the newest mention processed, worst worker."), 4, 4),
            (stat("Heartbeat age", "max(veille_heartbeat_age_seconds and "
                                   "veille_heartbeat_timestamp_seconds > 0)", "age",
                  unit="s", steps=thresholds(("green", None), ("red", 60)),
                  description="Seconds since the stalest worker's last round trip to the broker "
                              "(a worker yet to make its first one is left out: it exports 0, "
                              "which read as 56 years)."), 4, 4),
            (stat("Dead letters", "sum(increase(veille_dead_letters_total[$__range]))", "dead",
                  decimals=0, steps=thresholds(("green", None), ("orange", 1)),
                  description="Messages sent to mentions.dlq over the time range."), 4, 4),
            (stat("Send errors", "(sum(increase(veille_agent_send_errors_total[$__range])) or vector(0))"
                                 " + (sum(increase(veille_collector_send_errors_total[$__range]))"
                                 " or vector(0))",
                  "errors", decimals=0, steps=thresholds(("green", None), ("orange", 1)),
                  description="Failed sends of the agents (retried) and of the collectors."), 4, 4),
        ],
        [
            (timeseries("Throughput per stage", [
                target(f"sum by (collector) (rate(veille_collector_items_sent_total{ri}))",
                       "collected: {{collector}}"),
                target(f"sum(rate(veille_raw_messages_total{ri}))", "raw read"),
                target(f"sum(rate(veille_mentions_enriched_total{ri}))", "enriched (per brand)"),
                target(f"sum(rate(veille_duplicates_dropped_total{ri}))", "duplicates dropped"),
                target(f"sum(rate(veille_redeliveries_total{ri}))",
                       "redelivered (crash, rebalance)"),
                target(f"sum(rate(veille_dead_letters_total{ri}))", "dead letters"),
                target(f"sum(rate(veille_moderation_cases_received_total{ri}))",
                       "moderation received (cases)"),
                target(f"sum(rate(veille_reputation_buckets_closed_total{ri}))", "buckets closed"),
            ], unit="ops", description="Items per second through each stage."), 12, 9),
            (timeseries("Latency to enrichment", [
                target(f"histogram_quantile({q}, sum by (le, since) (rate({latency}{ri})))",
                       f"p{round(q * 100)} since {{{{since}}}}")
                for q in (0.5, 0.9, 0.99)
            ], unit="s", description="From creation (since=created) or arrival in Kafka "
                                     "(since=received) to enrichment."), 12, 9),
        ],
        [
            (timeseries("Time lag", [target("max by (instance) (veille_lag_seconds)",
                                            "{{instance}}")],
                        unit="s", threshold_line=True, steps=thresholds(("green", None),
                                                                        ("orange", 600)),
                        description="Age of the newest mention each worker processed (grows on "
                                    "a quiet source too)."), 8, 8),
            (timeseries("Heartbeat age", [target(
                "max by (instance) (veille_heartbeat_age_seconds and "
                "veille_heartbeat_timestamp_seconds > 0)",
                "{{instance}}")],
                unit="s", threshold_line=True, steps=thresholds(("green", None), ("red", 60)),
                description="A value that keeps growing is a stuck event loop."), 8, 8),
            (panel("state-timeline", "Targets", [target('up{job=~"veille-.*"}', "{{instance}}")],
                   mappings=[{"type": "value", "options": {
                       "0": {"text": "down", "color": "red", "index": 0},
                       "1": {"text": "up", "color": "green", "index": 1}}}],
                   custom={"fillOpacity": 80, "lineWidth": 0},
                   options={"showValue": "never", "mergeValues": True, "rowHeight": 0.8,
                            "legend": {"showLegend": False, "displayMode": "list",
                                       "placement": "bottom"}},
                   description="Scrape status of every veille target."), 8, 8),
        ],
        [
            (timeseries("Unread raw messages", [target(
                "max by (instance) (veille_raw_backlog_messages)", "{{instance}}")],
                unit="short", decimals=0, threshold_line=True,
                steps=thresholds(("green", None), ("orange", 1000)),
                description="Messages of each worker's mentions.raw partitions not read yet "
                            "(veille_raw_backlog_messages): PipelineStalled{cause=\"backlog\"} "
                            "above 1,000 for 10 minutes, cause=\"reader_stuck\" above 0 while "
                            "the worker reads nothing. NaN (a gap): unknown, the broker out of "
                            "reach for 30 s (no rule fires on it)."), 8, 8),
            (timeseries("Raw messages read per worker", [target(
                f"sum by (instance) (rate(veille_raw_messages_total{ri}))", "{{instance}}")],
                unit="msg/s",
                description="Messages each worker reads from mentions.raw: flat at 0 with unread "
                            "messages is PipelineStalled{cause=\"reader_stuck\"}."), 8, 8),
            (timeseries("Brand mentions: enriched vs counted by the spike agents", [
                target(top(f'sum by (brand) (rate(veille_mentions_enriched_total{{brand!="none"}}{ri}))'
                           " * 60", uncounted), "enriched: {{brand}}"),
                target(top(f"(sum by (brand) (rate(veille_reputation_mentions_total{ri}))"
                           f" + sum by (brand) (rate(veille_reputation_late_mentions_total{ri}))) * 60",
                           uncounted), "counted: {{brand}}"),
            ], unit="mentions/min",
                description="Mentions enriched per brand against those the spike agents counted "
                            "(on time or late): enriched and none counted for 10 minutes is "
                            "PipelineStalled{cause=\"no_detection\"}. The $top brands with the "
                            "most mentions enriched and not counted over the time range."), 8, 8),
        ],
        [
            *poll_health("RSS feed", "feed", "veille_rss_feed", "{{feed}}",
                         "Failed polls of each RSS feed over the last hour, by kind (fetch, "
                         "forbidden_address, not_a_feed, broker): alert RssFeedFailing once "
                         "every poll of an hour failed.",
                         "Seconds since each feed's last good poll (a feed that never worked "
                         "since the collector started has none: see the failures)."),
            *poll_health("Mastodon hashtag", "hashtag", "veille_mastodon_hashtag", "#{{hashtag}}",
                         "Failed polls of each hashtag over the last hour, by kind (fetch, "
                         "rate_limited, unauthorized, broker): alert MastodonHashtagFailing.",
                         "Seconds since each hashtag's last good poll (its timeline read, its "
                         "new statuses acknowledged): one polled well within 6 hours keeps "
                         "CollectorSilent quiet for the Mastodon collector."),
        ],
        [
            (health, 12, height) for health, _, height in poll_health(
                "Mastodon account", "brand", "veille_mastodon_account", "{{brand}}",
                "Failed reads of each brand's own Mastodon accounts (mastodon_accounts) over the "
                "last hour, by kind (fetch: also an account the instance does not know, "
                "rate_limited, unauthorized, broker): alert MastodonAccountFailing. The hashtags' "
                "failures are above, apart.",
                "Seconds since each brand's last round in which every one of its Mastodon accounts "
                "was read and its answers acknowledged (a brand whose accounts never worked since "
                "the collector started has none: see the failures).")
        ],
        [
            (health, 12, height) for health, _, height in poll_health(
                "Bluesky brand", "brand", "veille_bluesky_brand", "{{brand}}",
                "Failed searches of each brand's terms over the last hour, by kind (fetch, "
                "rate_limited, unauthorized: anonymous search refused or the sign-in refused, "
                "broker): alert BlueskyBrandFailing.",
                "Seconds since each brand's last round in which every search of its terms was "
                "read and its new posts acknowledged: one within 6 hours keeps CollectorSilent "
                "quiet for the Bluesky collector.")
        ],
        [
            (health, 12, height) for health, _, height in poll_health(
                "Reddit brand", "brand", "veille_reddit_brand", "{{brand}}",
                "Failed Reddit searches of each brand's terms over the last hour, by kind (fetch, "
                "rate_limited, unauthorized: the app's credentials refused, or a 401/403 on the "
                "search, broker): alert RedditBrandFailing.",
                "Seconds since each brand's last round in which every Reddit search of its terms "
                "was read and its new posts acknowledged: one within 6 hours keeps "
                "CollectorSilent quiet for the Reddit collector.")
        ],
        [
            (health, 12, height) for health, _, height in poll_health(
                "YouTube brand", "brand", "veille_youtube_brand", "{{brand}}",
                "Failed reads of each brand's YouTube channels over the last hour, by kind "
                "(fetch, rate_limited: the API key's daily quota spent or throttling, "
                "unauthorized: the API key refused, channel: comments disabled or no such "
                "channel, broker): alert YoutubeBrandFailing.",
                "Seconds since each brand's last round in which every one of its YouTube "
                "channels was read and its new comments acknowledged: one within 6 hours keeps "
                "CollectorSilent quiet for the YouTube collector.")
        ],
        [
            (timeseries("Jetstream lag", [target(
                "max by (instance) (veille_jetstream_lag_seconds)", "{{instance}}")],
                unit="s", threshold_line=True, steps=thresholds(("green", None), ("orange", 300)),
                description="Seconds between now and the last Jetstream event each Jetstream "
                            "collector read: grows while it is cut off or falls behind (alert "
                            "JetstreamBehind above 5 minutes for 10 minutes)."), 8, 7),
            (timeseries("Jetstream events", [
                target(f"sum by (kind) (rate(veille_jetstream_events_total{ri}))", "{{kind}}"),
                target(f"sum(rate(veille_jetstream_posts_matched_total{ri}))",
                       "posts naming a brand"),
            ], unit="ops",
                description="Jetstream events read per second by kind (post, ignored, refused), "
                            "and the posts whose text names a brand of the watch list."), 8, 7),
            (timeseries("Jetstream connections", [
                target("max by (instance) (veille_jetstream_connected)", "connected: {{instance}}"),
                target(f"sum by (cause) (increase(veille_jetstream_reconnects_total{ri}))",
                       "reconnects: {{cause}}"),
            ], unit="short", decimals=0,
                description="1 while each Jetstream collector is connected; connections made "
                            "again by cause (closed, unreachable, broker, error)."), 8, 7),
        ],
        [
            (timeseries("Watch list in use", [
                target("max by (instance) (veille_watchlist_brands)", "brands: {{instance}}"),
                target("max by (instance) (veille_watchlist_refused)",
                       "changed file refused (1): {{instance}}"),
            ], unit="short", decimals=0,
                description="Brands of the watch list each worker and collector uses, and 1 "
                            "while it refuses a changed file that does not load (the list "
                            "loaded before stays in use; alert WatchlistRefused after 5 "
                            "minutes, the error in its log)."), 6, 7),
            (timeseries("Mentions naming an unknown brand", [target(
                f"sum(increase(veille_mentions_unknown_brand_total{ri}))", "mentions")],
                unit="short", bars=True, decimals=0,
                description="Mentions whose source named a brand (their `brands`: a Zap on a "
                            "brand's own page, an RSS feed's brand) the watch list does not "
                            "have, summed over the workers: that id ignored, such a comment "
                            "reaches no brand (no triage, no moderation case). Alert "
                            "UnknownBrandNamed while any was counted in the last 3 hours; the "
                            "worker's warning names the last mention and its ids."), 6, 7),
            (timeseries("Builds running", [target(
                "count by (version, revision) (veille_build_info)", "{{version}} {{revision}}")],
                unit="short", decimals=0,
                description="Workers, collectors and moderation APIs running each build "
                            "(veille_build_info: the "
                            "release version and the source revision, VEILLE_REVISION at "
                            "`docker compose build`): two lines during a rolling upgrade or a "
                            "rollback, one once every service was recreated."), 6, 7),
            (timeseries("Watch list changes", [target(
                f"sum by (outcome) (increase(veille_watchlist_reloads_total{ri}))",
                "{{outcome}}")], unit="short", bars=True, decimals=0,
                description="Changes of the watch list file taken while running (applied) or "
                            "refused (the file did not load), summed over the instances: each "
                            "worker and collector takes a change on its own."), 6, 7),
        ],
        [
            (timeseries("Dead letters by reason", [target(
                f"sum by (reason) (rate(veille_dead_letters_total{ri})) * 60", "{{reason}}")],
                stack="normal", unit="msg/min",
                description="Messages sent to mentions.dlq per minute, by reason."), 8, 8),
            (timeseries("Send errors", [
                target(f"sum(rate(veille_agent_send_errors_total{ri})) * 60", "agent"),
                target(f"sum by (collector) (rate(veille_collector_send_errors_total{ri})) * 60",
                       "collector: {{collector}}"),
            ], unit="errors/min", description="Writes the broker did not acknowledge in time."),
             8, 8),
            (timeseries("Collector refusals", [target(
                f"sum by (collector, reason) (rate(veille_collector_items_refused_total{ri})) * 60"
                " > 0", "{{collector}}: {{reason}}")],
                stack="normal", unit="items/min", description="Items refused by the collectors."),
             8, 8),
        ],
        [
            (timeseries("Collector last success", [target(
                "time() - max by (collector) (veille_collector_last_success_timestamp_seconds > 0)",
                "{{collector}}")], unit="s", threshold_line=True,
                steps=thresholds(("green", None), ("orange", 21600)),
                description="Seconds since each collector's last acknowledged write "
                            "(alert CollectorSilent above 6 h)."), 8, 8),
            (timeseries("Collected vs fetched", [
                target(f"sum by (collector) (rate(veille_collector_items_fetched_total{ri}))",
                       "fetched: {{collector}}"),
                target(f"sum by (collector) (rate(veille_collector_items_sent_total{ri}))",
                       "sent: {{collector}}"),
                target(f"sum by (collector) (rate(veille_collector_answers_sent_total{ri}))",
                       "answers: {{collector}}"),
            ], unit="ops", description="Items fetched from the sources and written to Kafka; "
                                       "answers: the brand's own replies a collector saw on the "
                                       "platform, written to moderation.decisions."),
             8, 8),
            (timeseries("Late mentions", [target(
                top(f"sum by (brand) (rate(veille_reputation_late_mentions_total{ri})) * 60", late),
                "{{brand}}")], unit="mentions/min",
                description="Mentions that reached the spike agent after their bucket closed: "
                            "the $top brands with the most over the time range."),
             8, 8),
        ],
        [
            (timeseries("Rebalances", [target(
                f"sum by (instance) (increase(veille_rebalances_total{ri}))", "{{instance}}")],
                unit="short", bars=True,
                description="Consumer group rebalances each worker went through (a worker "
                            "joining, leaving or missing heartbeats); processing pauses during "
                            "each."), 8, 7),
            (timeseries("Agents paused", [target(
                "max by (instance) (veille_agents_paused_seconds)", "{{instance}}")],
                unit="s",
                description="How long each worker's spike and moderation agents have been "
                            "paused (joining the group, a rebalance, tables recovering): no "
                            "crisis detected meanwhile. Seconds at most, normally; "
                            "PipelineStalled{cause=\"agents_paused\"} past 4 minutes."), 8, 7),
            (panel("table", "Firing alerts", [target('ALERTS{alertstate="firing", alertname!="Watchdog"}', "",
                                                     instant=True)],
                   options={"showHeader": True},
                   extra={"transformations": [{"id": "labelsToFields", "options": {}}]},
                   description="Every alert Prometheus is firing now (but the Watchdog, "
                               "which always fires: it feeds the dead man's switch)."), 8, 7),
        ],
        [
            (timeseries("CPU per process", [target(
                f'sum by (job, instance) (rate(process_cpu_seconds_total{{job=~"veille-.*"}}{ri}))',
                "{{job}} {{instance}}")], unit="short",
                description="Cores each veille process uses (process_cpu_seconds_total). The "
                            "enrichment is CPU-bound on one core: a worker near 1 is at its "
                            "capacity (the lag grows): add a worker, up to the partitions of "
                            "mentions.raw."), 8, 7),
            (timeseries("Memory against the limit", [
                target('process_resident_memory_bytes{job=~"veille-.*"}', "{{job}} {{instance}}"),
                target('veille_memory_limit_bytes{job=~"veille-.*"}', "limit: {{job}} {{instance}}"),
            ], unit="bytes",
                description="Resident memory of each veille process, and its container's memory "
                            "limit (none drawn without one). MemoryNearLimit above 90 % of it "
                            "for 15 minutes; past it the kernel kills the process."), 8, 7),
            (stat("Process starts", 'sum by (job) (changes(process_start_time_seconds'
                                    '{job=~"veille-.*"}[$__range]))', "{{job}}",
                  decimals=0, steps=thresholds(("green", None), ("orange", 1), ("red", 3)),
                  description="Restarts of each job's processes over the time range (their start "
                              "time changed). ProcessRestarting at 3 in an hour: a crash or "
                              "out-of-memory loop the restart policy hides from TargetDown."),
             8, 7),
        ],
    ]
    annotations = [
        annotation("Pipeline alerts",
                   'ALERTS{alertname=~"PipelineStalled|DeadLettersRising|CollectorSilent|TargetDown|'
                   'TargetMissing|SendsFailing|AlertingFailing|RssFeedFailing|MastodonHashtagFailing|'
                   'MastodonAccountFailing|BlueskyBrandFailing|RedditBrandFailing|YoutubeBrandFailing|'
                   'JetstreamBehind|'
                   'WatchlistRefused|UnknownBrandNamed|'
                   'MemoryNearLimit|'
                   'ProcessRestarting",'
                   ' alertstate="firing"}',
                   "{{alertname}} {{severity}}", "alertname,severity,instance", "red"),
    ]
    return dashboard(
        "veille-pipeline", "veille: pipeline health",
        "Throughput per stage, latency percentiles, time lag, unread raw messages, what the "
        "spike agents count, RSS feeds, Mastodon hashtags, Bluesky, Reddit and YouTube brands, the "
        "Jetstream "
        "stream, dead letters, "
        "send errors, "
        "heartbeats, collectors, rebalances and paused agents, each process's CPU, memory and "
        "restarts.",
        [top_variable()], layout(rows), annotations, time_from="now-3h",
    )


DASHBOARDS = {"reputation.json": reputation, "moderation.json": moderation,
              "pipeline.json": pipeline}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
            for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed JSON differs from what this script generates")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder ({OUT_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run python deploy/grafana/build_dashboards.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
