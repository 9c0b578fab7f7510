"""Debian's real Prometheus and Alertmanager for tests: configs derived from deploy/, a webhook sink."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socketserver
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROM_DIR = DEPLOY / "prometheus"
ALERTMANAGER_YML = DEPLOY / "alertmanager" / "alertmanager.yml"
#: The notification templates, and where docker-compose.yml mounts them (alertmanager.yml's
#: `templates:` names the container's path).
TEMPLATES = DEPLOY / "alertmanager" / "templates"
TEMPLATES_MOUNT = "/etc/alertmanager/templates"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
DEBIAN_PACKAGES = {"prometheus": "prometheus", "prometheus-alertmanager": "prometheus-alertmanager"}

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def require_binary(name: str) -> str:
    """The binary's path; its absence fails the test (the ops stack is part of the project)."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install the Debian package {DEBIAN_PACKAGES[name]} "
                    "(scripts/ops-tools installs prometheus and prometheus-alertmanager when run "
                    "as root)", pytrace=False)
    return path


def duration_ms(text: str) -> int:
    """Milliseconds of a Prometheus duration such as `1h30m` or `10s`."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


def scaled(text: str, factor: float, floor_ms: int = 1000) -> str:
    """The duration divided by `factor` (at least `floor_ms`), in milliseconds."""
    return f"{max(floor_ms, round(duration_ms(text) / factor))}ms"


# --- configurations derived from deploy/ -------------------------------------------------------

def copy_rules(dst: Path, factor: float) -> dict[str, str]:
    """Copy deploy/prometheus/rules/*.yml to `dst`, each `for:` and `keep_firing_for:` divided
    by `factor`.

    Only those lines are rewritten, so expressions, labels and annotations stay byte for byte
    those of the repository (checked: the parsed rules differ in those two only). Returns
    {"alert static label values": new for} (the templated `team` aside)."""
    dst.mkdir(parents=True, exist_ok=True)
    new_for: dict[str, str] = {}
    for src in sorted((PROM_DIR / "rules").glob("*.yml")):
        text = src.read_text(encoding="utf-8")
        copy = re.sub(r"(?m)^([ \t]+(?:keep_firing_)?for:[ \t]*)(\S+)[ \t]*$",
                      lambda m: m.group(1) + scaled(m.group(2), factor), text)
        (dst / src.name).write_text(copy, encoding="utf-8")
        before = yaml.safe_load(text)["groups"]
        after = yaml.safe_load(copy)["groups"]
        for g0, g1 in zip(before, after, strict=True):
            for r0, r1 in zip(g0["rules"], g1["rules"], strict=True):
                timing = ("for", "keep_firing_for")
                assert {k: v for k, v in r0.items() if k not in timing} == \
                       {k: v for k, v in r1.items() if k not in timing}, (src.name, r0)
                if "for" in r1:
                    key = " ".join([r1["alert"], *sorted(v for k, v in r1["labels"].items()
                                                         if k != "team")])
                    new_for[key] = r1["for"]
    return new_for


def prometheus_config(targets: dict[str, str | None], alertmanager: str,
                      interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with its targets on loopback and a short interval.

    `targets` maps each DNS name and static target of the repository's file to a loopback
    `host:port`, or to None for a service the test does not run (no target, as DNS gives none
    for a compose service that is not up). Jobs, relabelling, rule files and external labels
    are kept as they are."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval=interval, scrape_timeout=interval,
                            evaluation_interval=interval)

    def where(name: str) -> list[str]:
        if name not in targets:
            raise AssertionError(f"prometheus.yml names {name!r}: map it to a test target")
        found = targets[name]
        return [found] if found else []

    for am in config["alerting"]["alertmanagers"]:
        am["static_configs"] = [{"targets": [alertmanager]}]
    for job in config["scrape_configs"]:
        found: list[str] = []
        for sd in job.pop("dns_sd_configs", []):
            for name in sd["names"]:
                found += where(f"{name}:{sd['port']}")
        for sc in job.pop("static_configs", []):
            for t in sc["targets"]:
                found += where(t)
        job["static_configs"] = [{"targets": found}]
    return config


def alertmanager_config(webhook_url: str, factor: float, text: str | None = None,
                        smtp: str | None = None, templates: Path = TEMPLATES) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml (or `text`, a configuration derived from it) with every
    receiver posting to `webhook_url` (instead of the address read from the compose secret; a
    Slack receiver's `api_url_file` too), every e-mail receiver sending to the SMTP server
    `smtp` (host:port, no TLS) if given, the templates read from `templates` (a directory) instead
    of docker-compose.yml's mount, and every timer of the route tree and resolve_timeout divided
    by `factor`; routes, matchers, grouping, inhibition, send_resolved and the receivers'
    templated fields stay as they are."""
    config = yaml.safe_load(text if text is not None else ALERTMANAGER_YML.read_text(encoding="utf-8"))
    config["templates"] = [str(templates / Path(t).relative_to(TEMPLATES_MOUNT))
                           for t in config.get("templates", [])]
    g = config["global"]
    g["resolve_timeout"] = scaled(g["resolve_timeout"], factor)

    def walk(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                route[key] = scaled(route[key], factor)
        for child in route.get("routes", []):
            walk(child)

    walk(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook.pop("url_file", None)
            hook["url"] = webhook_url
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = webhook_url
        for mail in receiver.get("email_configs", []):
            if smtp is not None:
                mail.update(smarthost=smtp, require_tls=False)
    return config


def write_yaml(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# --- processes and HTTP ------------------------------------------------------------------------

def get_json(url: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class Server:
    """A server binary as a subprocess of the test, logging to a file; stops its own PID only."""

    def __init__(self, name: str, args: list[str], log: Path, ready_url: str,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.ready_url = ready_url
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     cwd=str(log.parent), start_new_session=True)

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}:\n{self.log()}")
            if answers(self.ready_url):
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready at {self.ready_url}:\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class WebhookSink:
    """A real HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it, with its time."""

    def __init__(self) -> None:
        self.posts: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.posts.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every message delivered to it, parsed.

    The little Alertmanager's client needs: EHLO (no STARTTLS, no AUTH offered, so none is
    tried), MAIL, RCPT, DATA, RSET, NOOP, QUIT; nothing is relayed."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, list[str], EmailMessage]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode("ascii") + b"\r\n")

            def handle(self) -> None:
                self.reply("220 veille-test-sink ESMTP")
                rcpt: list[str] = []
                while line := self.rfile.readline(65536):
                    command = line.decode("utf-8", "replace").strip()
                    verb = command[:4].upper()
                    if verb == "EHLO":
                        self.reply("250-veille-test-sink")
                        self.reply("250-8BITMIME")
                        self.reply("250 SMTPUTF8")
                    elif verb == "HELO":
                        self.reply("250 veille-test-sink")
                    elif verb in ("MAIL", "RSET"):
                        rcpt = []
                        self.reply("250 OK")
                    elif verb == "NOOP":
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        rcpt.append(command.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = bytearray()
                        while (chunk := self.rfile.readline(1 << 20)) not in (b".\r\n", b""):
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        message = message_from_bytes(bytes(data), policy=policy.default)
                        assert isinstance(message, EmailMessage)
                        with sink._lock:
                            sink.messages.append((time.time(), rcpt, message))
                        rcpt = []
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def received(self) -> list[tuple[float, list[str], EmailMessage]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Prometheus' HTTP API ----------------------------------------------------------------------

class PrometheusAPI:
    def __init__(self, base: str) -> None:
        self.base = base

    def _data(self, path: str, params: dict[str, Any] | None = None) -> Any:
        body = get_json(self.base + path, params)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self._data("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return data["result"] if data["resultType"] in ("vector", "matrix") else [data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[Any]:
        return list(self._data("/api/v1/query_range", {
            "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"})["result"])

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        return list(self._data(f"/api/v1/label/{label}/values",
                               {"match[]": match, "start": f"{start:.3f}", "end": f"{end:.3f}"}))

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._data("/api/v1/alerts")["alerts"])

    def rules(self) -> list[dict[str, Any]]:
        return [r for g in self._data("/api/v1/rules")["groups"] for r in g["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        return list(self._data("/api/v1/targets")["activeTargets"])


# --- Grafana dashboards ----------------------------------------------------------------------

def dashboard_targets() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(dashboard, panel title, target) for every query of every panel (rows' panels included)."""
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for p in board["panels"]:
            for q in [p, *p.get("panels", [])]:
                if q["type"] == "row":
                    continue
                for t in q.get("targets", []):
                    yield path.name, q["title"], t


def dashboard_annotations() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in DASHBOARDS:
        for a in json.loads(path.read_text(encoding="utf-8"))["annotations"]["list"]:
            yield path.name, a


def dashboard_variables() -> Iterator[tuple[str, str, str]]:
    """(dashboard, variable, `label_values(metric, label)` query) of every template variable that
    queries Prometheus (not $top, a custom list of numbers)."""
    for path in DASHBOARDS:
        for v in json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]:
            if v["type"] == "query":
                yield path.name, v["name"], v["query"]["query"]


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's variables replaced by concrete values (longest names first)."""
    for var, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr, f"a Grafana variable is left in {expr!r}"
    return expr


_IDENT = re.compile(r"(?<![\w:.\"'])([a-zA-Z_:][\w:]*)")


def series_names(expr: str) -> set[str]:
    """The veille metric names an expression reads."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    return {m for m in _IDENT.findall(expr) if m.startswith("veille_")}


def exported_names(metrics_text: str) -> set[str]:
    """Sample names of a /metrics page (histograms give their _bucket, _sum and _count)."""
    return {line.split("{")[0].split(" ")[0] for line in metrics_text.splitlines()
            if line and not line.startswith("#")}
