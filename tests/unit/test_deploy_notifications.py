"""Alertmanager's notification templates (deploy/alertmanager/templates/veille.tmpl) and the Slack
and e-mail receivers of slack.example.yml and email.example.yml: amtool renders every template,
and Debian's real Alertmanager posts Slack JSON to a local HTTP server and sends mail to a local
SMTP server, in English and French (the brand alerts' summary_fr and description_fr), firing then
resolved."""

from __future__ import annotations

import html as html_text
import json
import re
import shutil
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.unit.test_deploy_prometheus import (
    ALERTMANAGER,
    BRAND_ALERTS,
    DEPLOY,
    RULE_FILES,
    alert_rules,
    amtool_version,
    run,
    tool,
)

AM_DIR = DEPLOY / "alertmanager"
TEMPLATES = AM_DIR / "templates"
VEILLE_TMPL = TEMPLATES / "veille.tmpl"
GRAFANA_EXAMPLE = TEMPLATES / "grafana.tmpl.example"
SLACK_EXAMPLE = AM_DIR / "slack.example.yml"
EMAIL_EXAMPLE = AM_DIR / "email.example.yml"
LANGUAGES = ("en", "fr")
#: The templates a receiver calls, per language (and the language-neutral colour).
PUBLIC = [f"veille.{kind}.{lang}" for lang in LANGUAGES
          for kind in ("slack.title", "slack.text", "slack.fallback", "email.subject",
                       "email.html", "email.text")] + ["veille.slack.color", "veille.slack.titlelink"]
#: What each language says of a firing and of a resolved notification, and of a critical alert.
WORDS = {"en": {"firing": "[FIRING]", "resolved": "[RESOLVED]", "critical": "Severity: *critical*",
                "brand": "Brand: `acme`", "team": "Team: `telecom`", "runbook": "|Runbook>"},
         "fr": {"firing": "[ALERTE]", "resolved": "[RÉSOLUE]", "critical": "Gravité : *critique*",
                "brand": "Marque : `acme`", "team": "Équipe : `telecom`",
                "runbook": "|Procédure (runbook)>"}}
GREEN, RED = "#2eb67d", "#d62d20"
T = TypeVar("T")


def rule(alert: str, severity: str) -> dict[str, Any]:
    for f in RULE_FILES:
        for group in yaml.safe_load(f.read_text(encoding="utf-8"))["groups"]:
            for r in group["rules"]:
                if r.get("alert") == alert and r["labels"]["severity"] == severity:
                    return dict(r)
    raise AssertionError(f"no rule {alert} {severity}")


def annotations(labels: dict[str, str]) -> dict[str, str]:
    """The annotations of the rule of these labels as Prometheus would render them, roughly:
    each query and value a number."""
    out = {}
    for key, text in rule(labels["alertname"], labels["severity"])["annotations"].items():
        text = re.sub(r"\{\{ with .*?\{\{ end \}\}", "12", text)
        text = re.sub(r"\{\{ \$value[^}]*\}\}", "3", text)
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
        assert "{{" not in text, text
        out[key] = text
    return out


CRISIS = {"alertname": "ReputationCrisis", "severity": "critical", "brand": "acme", "team": "telecom"}
CRISIS_ANNOTATIONS = annotations(CRISIS)


def said(key: str, lang: str, notes: dict[str, str] = CRISIS_ANNOTATIONS) -> str:
    """An annotation as a message in `lang` gives it: the French one (summary_fr,
    description_fr) in French."""
    return notes[f"{key}_fr" if lang == "fr" else key]


def alert_data(status: str, alerts: list[tuple[dict[str, str], dict[str, str], str]],
               receiver: str = "veille-brand") -> dict[str, Any]:
    """Alertmanager's template data (template.Data) for amtool: (labels, annotations, status)."""
    return {
        "receiver": receiver, "status": status,
        "alerts": [{"status": s, "labels": labels, "annotations": ann,
                    "startsAt": "2026-12-07T03:55:00Z",
                    "endsAt": "2026-12-07T04:10:00Z" if s == "resolved" else "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{i:016x}"}
                   for i, (labels, ann, s) in enumerate(alerts)],
        "groupLabels": {"alertname": alerts[0][0]["alertname"]},
        "commonLabels": {"alertname": alerts[0][0]["alertname"]},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093"}


def render(name: str, data: dict[str, Any], tmp_path: Path, *globs: Path) -> str:
    """amtool's rendering of the template `name` with `data` (html for the e-mail's HTML body,
    escaped as Alertmanager does); a template error fails the test."""
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    kind = "html" if ".html." in name else "text"
    return run(tool("amtool"), "template", "render",
               *[f"--template.glob={g}" for g in (globs or (VEILLE_TMPL,))],
               f"--template.data={path}", f"--template.type={kind}",
               f"--template.text={{{{ template \"{name}\" . }}}}", stderr=False)


# --- amtool template render ----------------------------------------------------------------

def test_the_templates_exist_and_define_what_the_examples_call() -> None:
    defined = set(re.findall(r'define "([^"]+)"', VEILLE_TMPL.read_text(encoding="utf-8")))
    assert set(PUBLIC) <= defined
    for example in (SLACK_EXAMPLE, EMAIL_EXAMPLE):
        called = set(re.findall(r'template "([^"]+)"', example.read_text(encoding="utf-8")))
        assert called and called <= defined, example.name
    # Every define starts with veille. (no clash with Alertmanager's default.tmpl).
    assert all(name.startswith("veille.") for name in defined)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_template_renders_firing_resolved_and_mixed(tmp_path: Path, name: str) -> None:
    warning_labels = {**CRISIS, "severity": "warning"}
    warning = (warning_labels, annotations(warning_labels))
    for status, alerts in (("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing")]),
                           ("resolved", [(CRISIS, CRISIS_ANNOTATIONS, "resolved")]),
                           ("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing"), (*warning, "resolved")])):
        out = render(name, alert_data(status, alerts), tmp_path)
        assert out.strip(), (name, status)
        assert "<no value>" not in out and "ZgotmplZ" not in out, out
        if name == "veille.slack.color":
            assert out.strip() == (RED if status == "firing" else GREEN)
            continue
        if name == "veille.slack.titlelink":
            assert out == CRISIS_ANNOTATIONS["runbook_url"]
            continue
        lang = name.rsplit(".", 1)[1]
        if not name.startswith("veille.slack.text"):
            assert WORDS[lang][status] in out, out
        assert said("summary", lang) in html_text.unescape(out), out
        if lang == "fr":  # the English ones are not there
            assert CRISIS_ANNOTATIONS["summary"] not in out and "negative talk" not in out, out
        if name.startswith("veille.slack.text") or ".email.html" in name or ".email.text" in name:
            assert "acme" in out and "telecom" in out and CRISIS_ANNOTATIONS["runbook_url"] in out, out
            assert "Grafana" not in out, "no Grafana link unless given"


@pytest.mark.parametrize(("severities", "colour"), [
    (["info"], "#3b82c4"), (["info", "warning", "info"], "#f29d0b"),
    (["warning", "critical", "info"], RED), (["critical", "warning"], RED)])
def test_the_colour_is_the_worst_firing_severity(tmp_path: Path, severities: list[str],
                                                 colour: str) -> None:
    alerts = [({**CRISIS, "severity": s, "n": str(i)}, CRISIS_ANNOTATIONS, "firing")
              for i, s in enumerate(severities)]
    alerts.append(({**CRISIS, "n": "resolved"}, CRISIS_ANNOTATIONS, "resolved"))
    assert render("veille.slack.color", alert_data("firing", alerts), tmp_path) == colour


@pytest.mark.parametrize("lang", LANGUAGES)
def test_slack_text_holds_the_brand_team_severity_and_runbook(tmp_path: Path, lang: str) -> None:
    data = alert_data("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing")])
    text = render(f"veille.slack.text.{lang}", data, tmp_path)
    for key in ("brand", "team", "critical", "runbook"):
        assert WORDS[lang][key] in text, text
    assert f"<{CRISIS_ANNOTATIONS['runbook_url']}|" in text
    # The crisis' description whole (it is cut at 700 characters for chat, about 600 here), in
    # French for the French text (English until 2026-12-07).
    assert said("description", lang) in text and "…" not in text
    assert said("summary", lang) in text


#: Label and annotation values that Slack's mrkdwn would format or link if inserted raw: a
#: brand name from the watch list (`_` makes italics), bold, struck, a link, an entity and a
#: channel ping, and a newline (an e-mail header's end).
HOSTILE = "my_brand_fr *star* ~gone~ `code` <http://evil.example|click> <!channel> & co"
HOSTILE_LABELS = {**CRISIS, "brand": "my_brand_fr", "team": "*star*<http://evil.example|team>"}
HOSTILE_ANNOTATIONS = {**CRISIS_ANNOTATIONS, "summary": f"Crisis: {HOSTILE}",
                       "summary_fr": f"Crise : {HOSTILE}", "description": f"Look: {HOSTILE}",
                       "description_fr": f"Voir : {HOSTILE}"}
ZWSP = "\u200b"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_slack_messages_show_values_literally(tmp_path: Path, lang: str) -> None:
    """A value is shown as written, never formatted or linked: `<`, `>` and `&` escaped as
    Slack asks (`&lt;` `&gt;` `&amp;`), `*`, `_`, `~` and the backtick between zero-width
    spaces in text (a marker next to one neither opens nor closes) unless inside a word (where
    Slack formats nothing and a copied `my_brand_fr` must stay whole), brand and team in code."""
    data = alert_data("firing", [(HOSTILE_LABELS, HOSTILE_ANNOTATIONS, "firing")])
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    marked = "".join(f"{ZWSP}{c}{ZWSP}" if c in "*_~`" and not (
        0 < i < len(escaped) - 1 and escaped[i - 1].isalnum() and escaped[i + 1].isalnum()) else c
                     for i, c in enumerate(escaped))
    assert marked.startswith("my_brand_fr \u200b*\u200bstar\u200b*\u200b")  # inside a word: inert
    text = render(f"veille.slack.text.{lang}", data, tmp_path)
    for name in (f"veille.slack.title.{lang}", f"veille.slack.fallback.{lang}"):
        title = render(name, data, tmp_path)
        assert marked in title and "<" not in title.replace(ZWSP, ""), title
    assert text.count(marked) == 2, text  # summary and description
    # The template's own links and markup only: the runbook's link, the bold summary.
    assert re.findall(r"<[^>]*>", text) == [f"<{CRISIS_ANNOTATIONS['runbook_url']}|"
                                            f"{'Runbook' if lang == 'en' else 'Procédure (runbook)'}>"]
    assert "`my_brand_fr`" in text and "`*star*&lt;http://evil.example|team&gt;`" in text, text
    # Nothing lost: without the zero-width spaces and entities, the values as written.
    plain = html_text.unescape(text.replace(ZWSP, ""))
    assert HOSTILE in plain and "*star*<http://evil.example|team>" in plain


def test_french_messages_fall_back_on_the_english_annotations_and_say_so(tmp_path: Path) -> None:
    """A French message gives summary_fr and description_fr where the rule has them (every brand
    alert), else the English ones (a pipeline alert); the French e-mails say some descriptions
    are in English only then (they said it of every message until 2026-12-07)."""
    stalled = {"alertname": "PipelineStalled", "severity": "critical", "cause": "heartbeat",
               "instance": "w1:9464"}
    ops = annotations(stalled)
    assert "summary_fr" not in ops and "description_fr" not in ops
    note = "en anglais pour les alertes que les règles ne traduisent pas"
    crisis_only = alert_data("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing")])
    mixed = alert_data("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing"), (stalled, ops, "firing")])
    for name in ("veille.email.text.fr", "veille.email.html.fr"):
        out = html_text.unescape(render(name, crisis_only, tmp_path))
        assert said("description", "fr") in out and note not in out and 'lang="en"' not in out, out
        out = html_text.unescape(render(name, mixed, tmp_path))
        assert said("description", "fr") in out and ops["description"] in out and note in out, out
        assert ops["summary"] in out
    html = render("veille.email.html.fr", mixed, tmp_path)
    assert html.count('<span lang="en">') == 1  # the English description only
    text = render("veille.slack.text.fr", mixed, tmp_path)
    assert said("description", "fr") in text and ops["description"] in text
    assert render("veille.slack.title.fr", alert_data("firing", [(stalled, ops, "firing")]),
                  tmp_path) == f"[ALERTE] {ops['summary']}"


def test_the_grafana_example_links_each_alert_to_its_dashboard(tmp_path: Path) -> None:
    """grafana.tmpl.example copied to grafana.tmpl: its definitions win over veille.tmpl's empty
    ones whichever file is read first; each alert links to its brand's dashboard."""
    cases = [(CRISIS, "/d/veille-reputation/?var-brand=acme"),
             ({"alertname": "ModerationBacklogTooOld", "severity": "warning", "brand": "cafe"},
              "/d/veille-moderation/?var-brand=cafe"),
             ({"alertname": "PipelineStalled", "severity": "critical", "cause": "no_detection",
               "brand": "acme"}, "/d/veille-pipeline/"),
             ({"alertname": "TargetDown", "severity": "warning"}, "/d/veille-pipeline/")]
    uids = {json.loads(p.read_text())["uid"] for p in (DEPLOY / "grafana" / "dashboards").glob("*.json")}
    assert uids >= {"veille-reputation", "veille-moderation", "veille-pipeline"}
    grafana = tmp_path / "grafana.tmpl"
    shutil.copy(GRAFANA_EXAMPLE, grafana)
    for labels, path in cases:
        data = alert_data("firing", [(labels, {"summary": "s", "runbook_url": "https://r"}, "firing")])
        link = "https://grafana.example.org" + path
        for globs in ((VEILLE_TMPL, grafana), (grafana, VEILLE_TMPL)):
            assert f"<{link}|Grafana>" in render("veille.slack.text.fr", data, tmp_path, *globs)
            assert f"Grafana: {link}" in render("veille.email.text.en", data, tmp_path, *globs)
            html = render("veille.email.html.en", data, tmp_path, *globs)
            assert f'<a href="{link.replace("&", "&amp;")}">Grafana</a>' in html, html


def test_every_brand_alert_links_its_brands_dashboard(tmp_path: Path) -> None:
    """A brand alert links the brand's moderation dashboard (the Moderation* KPI alerts) or its
    reputation dashboard; every other alert, brand or not, the pipeline's. A new brand alert
    needs its name in veille.grafana.path (CONTRIBUTING.md, A new alert)."""
    names = sorted({r["alert"] for r in alert_rules()})
    data = alert_data("firing", [({"alertname": n, "severity": "warning", "brand": "acme"}, {}, "firing")
                                 for n in names])
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    out = run(tool("amtool"), "template", "render", f"--template.glob={VEILLE_TMPL}",
              f"--template.data={path}", "--template.text={{ range .Alerts }}{{ .Labels.alertname }} "
              '{{ template "veille.grafana.path" . }}\n{{ end }}', stderr=False)
    got = dict(line.split(" ") for line in out.strip().splitlines())
    expected = {n: ("/d/veille-pipeline/" if n not in BRAND_ALERTS else
                    "/d/veille-moderation/?var-brand=acme" if n.startswith("Moderation") else
                    "/d/veille-reputation/?var-brand=acme") for n in names}
    assert got == expected


def test_a_long_group_stays_short_enough_for_chat(tmp_path: Path) -> None:
    """The digest groups by alert name: 40 brands' alerts list 5 and count the others."""
    alerts = [({"alertname": "ModerationRejectionRateHigh", "severity": "info", "brand": f"brand{i}"},
               {"summary": f"Moderation of brand{i} rejects 45% of cases", "description": "x" * 2000,
                "runbook_url": "https://example.org/r"}, "firing") for i in range(40)]
    for lang, more in (("en", "… and 35 more firing."), ("fr", "… et 35 de plus en cours.")):
        text = render(f"veille.slack.text.{lang}", alert_data("firing", alerts), tmp_path)
        assert more in text and text.count("brand") <= 10 and len(text) < 5000, len(text)
        assert "x" * 700 + "…" in text and "x" * 701 not in text
        title = render(f"veille.slack.title.{lang}", alert_data("firing", alerts), tmp_path)
        assert title.startswith(f"[{'FIRING' if lang == 'en' else 'ALERTE'}] Moderation of brand0")
        assert "(+39 " in title


def test_broken_or_missing_templates_fail_the_render(tmp_path: Path) -> None:
    data = tmp_path / "d.json"
    data.write_text(json.dumps(alert_data("firing", [(CRISIS, CRISIS_ANNOTATIONS, "firing")])))
    broken = tmp_path / "veille.tmpl"
    broken.write_text(VEILLE_TMPL.read_text(encoding="utf-8").replace(
        ".Annotations.summary }}", ".Annotations.summary.Nothing }}", 1))
    for glob, name in ((broken, "veille.email.subject.en"), (tmp_path / "none.tmpl", "veille.slack.title.en"),
                       (VEILLE_TMPL, "veille.slack.title.de")):
        with pytest.raises(AssertionError, match="failed"):
            run(tool("amtool"), "template", "render", f"--template.glob={glob}",
                f"--template.data={data}", f"--template.text={{{{ template \"{name}\" . }}}}")


# --- the examples, copied into alertmanager.yml ----------------------------------------------

def with_receivers_example(example: Path, text: str | None = None) -> str:
    """alertmanager.yml (or `text`) edited as the example's comments say: each receiver of the
    example's `receivers:` in place of the receiver of the same name (its `  - name:` line up to
    the next one, or the end of the file)."""
    lines = (text if text is not None else ALERTMANAGER.read_text(encoding="utf-8")).splitlines()
    example_lines = example.read_text(encoding="utf-8").splitlines()
    start = example_lines.index("receivers:") + 1
    end = next(i for i in range(start, len(example_lines)) if not example_lines[i].strip())
    entries: dict[str, list[str]] = {}
    for line in example_lines[start:end]:
        if line.startswith("  - name: "):
            entries[line.removeprefix("  - name: ")] = []
        entries[list(entries)[-1]].append(line)
    assert entries, example
    for name, entry in entries.items():
        first = lines.index(f"  - name: {name}")
        last = next((i for i in range(first + 1, len(lines)) if lines[i].startswith("  - name: ")
                     or not lines[i].startswith(" ")), len(lines))
        lines[first:last] = entry
    return "\n".join(lines) + "\n"


def checkable(tmp_path: Path, text: str) -> Path:
    """The edited configuration, its templates read from the repository, and for amtool < 0.26
    (no webhook `url_file`) the placeholder URL instead (as test_deploy_prometheus does)."""
    config = yaml.safe_load(text)
    assert config["templates"] == ["/etc/alertmanager/templates/*.tmpl"]
    text = text.replace("/etc/alertmanager/templates/*.tmpl", str(VEILLE_TMPL))
    if amtool_version() < (0, 26):
        url = (AM_DIR / "webhook_url.example").read_text().strip()
        text = re.sub(r"(?<![\w])url_file: \S+", f"url: {url}", text)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("example", [SLACK_EXAMPLE, EMAIL_EXAMPLE], ids=["slack", "email"])
def test_the_examples_copied_in_are_a_valid_configuration(tmp_path: Path, example: Path) -> None:
    text = with_receivers_example(example)
    out = run(tool("amtool"), "check-config", checkable(tmp_path, text))
    assert " - 1 templates" in out, out
    config = yaml.safe_load(text)
    receivers = {r["name"]: r for r in config["receivers"]}
    kind = "slack_configs" if example == SLACK_EXAMPLE else "email_configs"
    # Languages: French for the community managers, English for ops.
    assert '.fr"' in str(receivers["veille-brand"][kind])
    assert '.en"' in str(receivers["veille-ops"][kind])
    # The secrets from files, never in the example.
    for entry in receivers["veille-brand"][kind] + receivers["veille-ops"][kind]:
        if kind == "slack_configs":
            assert "api_url" not in entry and entry["api_url_file"].startswith("/run/secrets/")
        else:
            assert "auth_password" not in entry
            assert entry["auth_password_file"].startswith("/run/secrets/")
    # The other receivers are as shipped: the digest and the dead man's switch keep their webhook.
    shipped = {r["name"]: r for r in yaml.safe_load(ALERTMANAGER.read_text())["receivers"]}
    assert receivers["veille-digest"] == shipped["veille-digest"]
    assert receivers["veille-deadman"] == shipped["veille-deadman"]


def test_alertmanager_as_shipped_loads_the_templates_and_keeps_its_webhooks() -> None:
    """Users who built a bridge keep it: every shipped receiver posts the webhook JSON alone."""
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["templates"] == ["/etc/alertmanager/templates/*.tmpl"]
    for receiver in config["receivers"]:
        assert set(receiver) == {"name", "webhook_configs"}, receiver["name"]
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    assert "./deploy/alertmanager/templates:/etc/alertmanager/templates:ro" in \
        compose["services"]["alertmanager"]["volumes"]


# --- Debian's Alertmanager -------------------------------------------------------------------

class RealAlertmanager:
    """Debian's Alertmanager with alertmanager.yml edited by an example, timers divided by 60."""

    def __init__(self, tmp_path: Path, text: str, url: str, smtp: str | None = None,
                 templates: Path = TEMPLATES) -> None:
        from tests.ops_helpers import Server, alertmanager_config, require_binary, write_yaml
        from veille.broker import free_port

        binary = require_binary("prometheus-alertmanager")
        port = free_port()
        config = alertmanager_config(url, 60, text, smtp=smtp, templates=templates)
        for receiver in config["receivers"]:
            for mail in receiver.get("email_configs", []):
                password = tmp_path / "smtp_password"
                password.write_text("not-a-secret\n")
                mail["auth_password_file"] = str(password)
        path = write_yaml(tmp_path / "alertmanager.yml", config)
        self.base = f"http://127.0.0.1:{port}"
        self.server = Server("alertmanager", [
            binary, f"--config.file={path}", f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=warn"], tmp_path / "alertmanager.log", f"{self.base}/-/ready")
        self.server.wait_ready(time.monotonic() + 30)

    def post(self, labels: dict[str, str], ann: dict[str, str], ends: float) -> None:
        at = datetime.fromtimestamp(ends, UTC).isoformat()
        body = json.dumps([{"labels": labels, "annotations": ann, "endsAt": at}]).encode()
        request = urllib.request.Request(f"{self.base}/api/v2/alerts", body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200

    def await_(self, found: Callable[[], T | None], timeout: float = 30) -> T:
        """What `found` returns once it returns something; a notification Alertmanager failed to
        send (a template error: it logs it and sends nothing) fails at once, with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = found()
            if got is not None:
                return got
            if "Notify for alerts failed" in self.server.log(100_000):
                raise AssertionError(f"Alertmanager failed to notify:\n{self.server.log()}")
            time.sleep(0.2)
        raise AssertionError(f"nothing received in {timeout} s:\n{self.server.log()}")

    def stop(self) -> None:
        self.server.stop()


def slack_example(lang: str) -> str:
    """The Slack example copied in, veille-brand's templates in `lang` (the example's own: fr)."""
    text = with_receivers_example(SLACK_EXAMPLE)
    return text if lang == "fr" else text.replace('.fr" . }}', '.en" . }}')


def slack_post(sink: Any, title_start: str) -> dict[str, Any] | None:
    for _, post in sink.received():
        for attachment in post.get("attachments", []):
            if attachment["title"].startswith(title_start):
                return dict(attachment)
    return None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_real_alertmanager_posts_a_crisis_to_slack_firing_then_resolved(tmp_path: Path,
                                                                        lang: str) -> None:
    """A ReputationCrisis posted to Alertmanager's API reaches the server posing as Slack's
    incoming webhook as Slack JSON (title, text, colour), then its resolution as resolved."""
    from tests.ops_helpers import WebhookSink

    sink = WebhookSink()
    am = RealAlertmanager(tmp_path, slack_example(lang), sink.url)
    words = WORDS[lang]
    try:
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() + 600)
        firing = am.await_(lambda: slack_post(sink, words["firing"]))
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() - 1)
        resolved = am.await_(lambda: slack_post(sink, words["resolved"]))
    finally:
        am.stop()
        sink.close()
    assert firing["title"] == f"{words['firing']} {said('summary', lang)}"
    assert firing["color"] == RED and resolved["color"] == GREEN
    assert firing["fallback"] == firing["title"]
    assert firing["title_link"] == resolved["title_link"] == CRISIS_ANNOTATIONS["runbook_url"]
    for attachment in (firing, resolved):
        text = attachment["text"]
        for key in ("brand", "team", "critical", "runbook"):
            assert words[key] in text, text
        assert said("summary", lang) in text and CRISIS_ANNOTATIONS["runbook_url"] in text
        assert said("description", lang) in text  # in French for a French receiver
    assert ("since " if lang == "en" else "depuis le ") in firing["text"]
    assert ("resolved " if lang == "en" else "résolue le ") in resolved["text"]
    print(json.dumps(firing, indent=1, ensure_ascii=False))


def test_real_alertmanager_links_grafana_when_given(tmp_path: Path) -> None:
    """templates/grafana.tmpl beside veille.tmpl, as grafana.tmpl.example says: the link is in
    the message Alertmanager sends; an ops alert goes to veille-ops in English."""
    from tests.ops_helpers import WebhookSink

    templates = tmp_path / "templates"
    templates.mkdir()
    shutil.copy(VEILLE_TMPL, templates / "veille.tmpl")
    (templates / "grafana.tmpl").write_text(GRAFANA_EXAMPLE.read_text().replace(
        "https://grafana.example.org", "https://grafana.acme.test"))
    sink = WebhookSink()
    am = RealAlertmanager(tmp_path, slack_example("fr"), sink.url, templates=templates)
    stalled = {"alertname": "PipelineStalled", "severity": "critical", "cause": "heartbeat",
               "instance": "w1:9464"}
    try:
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() + 600)
        am.post(stalled, annotations(stalled), time.time() + 600)
        crisis = am.await_(lambda: slack_post(sink, "[ALERTE]"))
        ops = am.await_(lambda: slack_post(sink, "[FIRING] Worker w1:9464"))
    finally:
        am.stop()
        sink.close()
    assert "<https://grafana.acme.test/d/veille-reputation/?var-brand=acme|Grafana>" in crisis["text"]
    assert "<https://grafana.acme.test/d/veille-pipeline/|Grafana>" in ops["text"]
    assert "Severity: *critical*" in ops["text"] and "Brand:" not in ops["text"]


def test_real_alertmanager_sends_nothing_with_a_broken_template_and_the_test_sees_it(
        tmp_path: Path) -> None:
    """A template that fails to render: Alertmanager logs it and sends nothing; await_ fails at
    once with the log instead of waiting out its timeout."""
    from tests.ops_helpers import WebhookSink

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "veille.tmpl").write_text(VEILLE_TMPL.read_text(encoding="utf-8").replace(
        ".Annotations.summary }}", ".Annotations.summary.Nothing }}"))
    sink = WebhookSink()
    am = RealAlertmanager(tmp_path, slack_example("fr"), sink.url, templates=templates)
    try:
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() + 600)
        started = time.monotonic()
        with pytest.raises(AssertionError, match="failed to notify"):
            am.await_(lambda: slack_post(sink, ""), timeout=60)
        assert time.monotonic() - started < 30
    finally:
        am.stop()
        sink.close()
    assert sink.received() == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_real_alertmanager_mails_a_crisis_firing_then_resolved(tmp_path: Path, lang: str) -> None:
    """The e-mail example copied in: the crisis reaches the local SMTP server with its subject,
    a plain-text and an HTML body, then its resolution."""
    from tests.ops_helpers import SmtpSink

    smtp = SmtpSink()
    text = with_receivers_example(EMAIL_EXAMPLE)
    if lang == "en":
        text = text.replace('.fr" . }}', '.en" . }}')
    am = RealAlertmanager(tmp_path, text, "http://127.0.0.1:9/unused", smtp=smtp.address)
    words = WORDS[lang]

    def mail(start: str) -> Any:
        return next((m for m in smtp.received() if m[2]["Subject"].startswith(start)), None)

    try:
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() + 600)
        _, rcpt, firing = am.await_(lambda: mail(f"[veille] {words['firing']}"))
        am.post(CRISIS, CRISIS_ANNOTATIONS, time.time() - 1)
        _, _, resolved = am.await_(lambda: mail(f"[veille] {words['resolved']}"))
    finally:
        am.stop()
        smtp.close()
    assert rcpt == ["community-managers@example.org"]
    assert firing["Subject"] == f"[veille] {words['firing']} {said('summary', lang)}"
    assert firing["To"] == "community-managers@example.org" and firing["From"] == "veille@example.org"
    for message in (firing, resolved):
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for body in (plain, html_text.unescape(html)):
            assert said("summary", lang) in body and "acme" in body and "telecom" in body
            assert CRISIS_ANNOTATIONS["runbook_url"] in body
            # The description in the receiver's language; no note on English text in French.
            assert said("description", lang) in body, body
            assert "en anglais" not in body
        assert ("Severity: critical" if lang == "en" else "Gravité : critique") in plain, plain
        assert f'<html lang="{lang}">' in html
    print(firing["Subject"])
    print(firing.get_body(("plain",)).get_content())


def test_real_alertmanager_mails_hostile_values_escaped_on_one_subject_line(tmp_path: Path) -> None:
    """E-mail: the HTML body escapes every value (Alertmanager renders `html` with Go's
    html/template), the plain-text body gives them as written, and a newline in a summary cannot
    end the Subject header and add one (Bcc:): the subject is one line."""
    from tests.ops_helpers import SmtpSink

    smtp = SmtpSink()
    am = RealAlertmanager(tmp_path, with_receivers_example(EMAIL_EXAMPLE), "http://127.0.0.1:9/unused",
                          smtp=smtp.address)
    summary = f"Crise : <script>alert(1)</script> {HOSTILE}\r\nBcc: victim@example.org\nX-Evil: 1"
    labels = {**HOSTILE_LABELS, "brand": '<img src=x onerror="alert(1)">'}
    try:
        am.post(labels, {**HOSTILE_ANNOTATIONS, "summary_fr": summary}, time.time() + 600)
        rcpt, message = am.await_(lambda: next(((m[1], m[2]) for m in smtp.received()), None))
    finally:
        am.stop()
        smtp.close()
    assert rcpt == ["community-managers@example.org"]
    assert "Bcc" not in message and "X-Evil" not in message, message.keys()
    subject = message["Subject"]
    assert "\n" not in subject and "\r" not in subject, repr(subject)
    one_line = summary.replace("\r\n", " ").replace("\n", " ")
    assert subject == f"[veille] [ALERTE] {one_line}", repr(subject)
    html = message.get_body(("html",)).get_content()
    assert "<script" not in html and "<img" not in html and "<http" not in html, html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x" in html
    assert one_line in html_text.unescape(html)
    plain = message.get_body(("plain",)).get_content()
    assert '<img src=x onerror="alert(1)">' in plain and HOSTILE in plain
