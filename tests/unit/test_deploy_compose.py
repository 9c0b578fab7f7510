"""docker-compose.yml: valid against the Compose Specification and consistent with the repository."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from veille.settings import OTHER_VARIABLES, Settings, settings_table

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"
SECRETS = ("VEILLE_WEBHOOK_TOKEN", "VEILLE_WEBHOOK_HMAC_SECRET", "GRAFANA_ADMIN_PASSWORD",
           "VEILLE_MODERATION_API_TOKEN", "VEILLE_MASTODON_TOKEN", "VEILLE_BROKER_SASL_PASSWORD",
           "VEILLE_BLUESKY_APP_PASSWORD", "VEILLE_REDDIT_CLIENT_SECRET", "VEILLE_YOUTUBE_API_KEY")
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not KEY=VALUE"
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, with .env.example as .env (its empty
    secrets replaced by a placeholder, as a filled-in .env would have them)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.groups()
        got = env.get(name)
        if op in (":-", ":?") and not got or op in ("-", "?") and got is None:
            return "placeholder-secret" if op and op.endswith("?") else (arg or "")
        return got or ""

    return VARIABLE.sub(sub, value)


def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def compose() -> dict[str, Any]:
    resolved: dict[str, Any] = interpolate(raw(), env_example())
    return resolved


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts from the repository."""
    out = []
    for v in service.get("volumes", []):
        source, target = (v["source"], v["target"]) if isinstance(v, dict) else v.split(":")[:2]
        if source.startswith((".", "/")):
            out.append((source, target))
    return out


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    for document in (raw(), compose()):
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_stack_is_complete() -> None:
    assert {"kafka", "topics", "worker", "webhook-collector", "rss-collector",
            "mastodon-collector", "prometheus", "alertmanager", "grafana"} <= set(services())


def test_every_mounted_file_exists() -> None:
    s = services()
    for name, service in s.items():
        for source, _ in bind_mounts(service):
            assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()
    for name, secret in compose()["secrets"].items():
        assert (ROOT / secret["file"]).is_file(), f"secret {name}: {secret['file']}"


def test_every_image_is_pinned() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in services().items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{name}: {image} has no version tag"
        if "build" in service or repo == "veille":
            assert image == f"veille:{version}", f"{name}: the veille image is tagged {version}"


def test_published_ports_bind_to_loopback() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"


def test_workers_scale() -> None:
    worker = services()["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert all("container_name" not in s for s in services().values())


def test_long_running_services_have_health_checks() -> None:
    for name, service in services().items():
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_kafka_runs_in_kraft_mode() -> None:
    env = services()["kafka"]["environment"]
    assert services()["kafka"]["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in env)


def test_veille_settings_exist() -> None:
    known = {env for env, _, _ in settings_table()}
    for name, service in services().items():
        env = service.get("environment") or {}
        unknown = {k for k in env if k.startswith("VEILLE_")} - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which veille/settings.py lacks"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    unknown = set(re.findall(r"\b(VEILLE_\w+)=", dockerfile)) - known - OTHER_VARIABLES
    assert not unknown, f"deploy/Dockerfile sets {sorted(unknown)}"


def test_dockerfile_runs_as_non_root() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["python:3.11-slim-bookworm"] * 2
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")


def test_env_example_documents_every_variable_and_holds_no_secret() -> None:
    example = env_example()
    used = {m[0] for m in VARIABLE.findall(COMPOSE.read_text())}
    assert used - set(example) == set(), ".env.example lacks these variables"
    for key in SECRETS:
        assert key in example and example[key] == "", f"{key} must stay empty in .env.example"
    required = {m[0] for m in VARIABLE.findall(COMPOSE.read_text()) if m[1] == ":?"}
    assert required == {"VEILLE_WEBHOOK_TOKEN", "GRAFANA_ADMIN_PASSWORD"}


#: Environment keys that hold a secret, whatever their name (Grafana's admin password...).
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$|CREDENTIAL", re.I)


def test_secrets_come_from_the_environment_only() -> None:
    """Every secret is a variable of the environment with no default written in the file (found
    in review, 2026-12-05: `${VEILLE_MODERATION_API_TOKEN:-s3cret}` passed, and so did a key not
    named in SECRETS, e.g. `GF_SECURITY_SECRET_KEY: hardcoded`)."""
    seen = set()
    for name, service in raw()["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            m = VARIABLE.fullmatch(str(value))
            if not SECRET_KEY.search(key) and not (m and m[1] in SECRETS):
                continue
            assert m is not None, f"{name}: {key} is written in the file"
            assert m[1] in SECRETS, f"{name}: {key} reads {m[1]}, not one of the known secrets"
            default_given = m[2] in ("-", ":-") and m[3] != ""
            assert not default_given, f"{name}: {key} has a default written in the file"
            seen.add(m[1])
    assert seen == set(SECRETS), seen  # each secret is read by some service


def metrics_port(service: dict[str, Any]) -> int:
    """The port the veille process of this service serves /metrics on (settings and defaults)."""
    env = service.get("environment") or {}
    defaults = Settings()
    command = service["command"]
    if command == ["worker"]:
        return int(env.get("VEILLE_METRICS_PORT", defaults.metrics_port))
    if command == ["collect", "webhook"]:
        return int(env.get("VEILLE_WEBHOOK_PORT", defaults.webhook_port))
    if command[:1] == ["collect"]:
        return int(env.get("VEILLE_COLLECTOR_METRICS_PORT", defaults.collector_metrics_port))
    if command == ["moderate", "serve"]:  # /metrics beside /cases and /ui
        return int(env.get("VEILLE_MODERATION_API_PORT", defaults.moderation_api_port))
    raise AssertionError(f"no metrics port known for {command}")


def test_prometheus_scrapes_what_the_services_serve() -> None:
    s = services()
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    discovered = set()
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            assert sd["type"] == "A"
            for host in sd["names"]:
                assert host in s, f"job {job['job_name']}: no service {host}"
                assert sd["port"] == metrics_port(s[host]), f"job {job['job_name']}: port"
                discovered.add(host)
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                if host == "localhost":
                    assert job["job_name"] == "prometheus"
                    continue
                assert host in s and any(str(p).endswith(f":{port}") for p in s[host]["ports"])
    veille_services = {n for n, v in s.items() if v["image"].startswith("veille:")}
    # The one-shot topic creation alone serves no /metrics (the moderation API does since
    # 2026-12-06, unscraped until then).
    assert veille_services - {"topics"} == discovered
    (am,) = config["alerting"]["alertmanagers"]
    assert am["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_prometheus_and_alertmanager_mounts() -> None:
    s = services()
    prom = dict(bind_mounts(s["prometheus"]))
    config_target = prom["./deploy/prometheus/prometheus.yml"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for pattern in config["rule_files"]:
        in_container = PurePosixPath(config_target).parent / pattern
        assert prom["./deploy/prometheus/rules"] == str(in_container.parent)
    assert f"--config.file={config_target}" in s["prometheus"]["command"]
    am = dict(bind_mounts(s["alertmanager"]))
    assert f"--config.file={am['./deploy/alertmanager/alertmanager.yml']}" in s["alertmanager"]["command"]
    am_config = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    files = {w["url_file"] for r in am_config["receivers"] for w in r.get("webhook_configs", [])}
    assert files == {f"/run/secrets/{name}" for name in s["alertmanager"]["secrets"]}


def test_worker_roles() -> None:
    """`worker` replicas run every part by default or the enrichment stage alone; the `agents`
    service (profile split) runs the agents alone, so never beside role-all replicas by default."""
    s = raw()["services"]
    assert s["worker"]["environment"]["VEILLE_WORKER_ROLE"] == "${VEILLE_WORKER_ROLE:-all}"
    assert "profiles" not in s["worker"]
    assert s["agents"]["environment"]["VEILLE_WORKER_ROLE"] == "agents"
    assert s["agents"]["profiles"] == ["split"]
    assert s["agents"]["command"] == s["worker"]["command"] == ["worker"]
    assert env_example()["VEILLE_WORKER_ROLE"] == "all"


@pytest.mark.parametrize("service", ["worker", "agents", "webhook-collector", "rss-collector",
                                     "mastodon-collector"])
def test_watchlist_and_healthcheck_ports(service: str) -> None:
    s = services()[service]
    mounts = dict(bind_mounts(s))
    if service != "webhook-collector":
        assert mounts["./veille/data/watchlist.toml"] == s["environment"]["VEILLE_WATCHLIST"]
    check = " ".join(s["healthcheck"]["test"])
    assert f"127.0.0.1:{metrics_port(s)}/" in check


def test_group_timeouts_are_those_of_apache_kafka_not_the_embedded_brokers() -> None:
    """veille's defaults (3 s rebalance, 6 s session, 1 s heartbeat) are for Tansu; on Kafka a
    worker re-reading its de-duplication windows while it joins would miss a 3 s rebalance and
    be dropped from the group. Every worker service gets production values, consistent with
    each other (heartbeat well under the session timeout), and Kafka keeps its initial delay."""
    from veille.settings import Settings

    defaults = Settings()
    for name in ("worker", "agents"):
        env = services()[name]["environment"]
        rebalance = float(env["VEILLE_BROKER_REBALANCE_TIMEOUT"])
        session = float(env["VEILLE_BROKER_SESSION_TIMEOUT"])
        heartbeat = float(env["VEILLE_BROKER_HEARTBEAT_INTERVAL"])
        assert rebalance >= 30 > defaults.broker_rebalance_timeout, (name, rebalance)
        assert 6 <= session <= 300 and heartbeat * 3 <= session, (name, session, heartbeat)
    assert "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS" not in services()["kafka"]["environment"]


def test_the_moderation_api_service_serves_what_its_healthcheck_and_port_expect() -> None:
    """`docker compose --profile moderation up -d`: the API on its container's every interface,
    published on the host's loopback, and refusing to start while .env leaves its token empty
    (as .env.example does) rather than serve moderation decisions to anyone."""
    from veille.moderate.api import ApiConfigError, check_config

    s = services()["moderation-api"]
    assert s["command"] == ["moderate", "serve"] and raw()["services"]["moderation-api"][
        "profiles"] == ["moderation"]
    env = {k: str(v) for k, v in s["environment"].items()}
    settings = Settings.from_env(env)
    assert settings.moderation_api_host == "0.0.0.0"
    port = settings.moderation_api_port
    assert f"127.0.0.1:{port}/healthz" in " ".join(s["healthcheck"]["test"])
    assert any(str(p).startswith("127.0.0.1:") and str(p).endswith(f":{port}")
               for p in s["ports"]), s["ports"]
    with pytest.raises(ApiConfigError, match="VEILLE_MODERATION_API_TOKEN"):
        check_config(settings)
    check_config(settings.with_(moderation_api_token="x" * 32))


def test_the_mastodon_collector_service_runs_in_its_profile_with_its_settings_from_env() -> None:
    """`docker compose --profile mastodon up -d`: it follows the instance .env names (the
    deploy/prometheus/tests/collectors.yml tested a `veille-collector-mastodon` job no service
    and no scrape job had), keeps its cursors in a volume, takes its token from .env only, and
    refuses to start while .env leaves the instance empty (as .env.example does) rather than
    poll nothing."""
    from veille.collectors.mastodon import MastodonCollector, MastodonConfigError
    from veille.metrics import CollectorMetrics

    declared = raw()["services"]["mastodon-collector"]
    assert declared["profiles"] == ["mastodon"] and declared["command"] == ["collect", "mastodon"]
    assert declared["environment"]["VEILLE_MASTODON_URL"] == "${VEILLE_MASTODON_URL:-}"
    s = services()["mastodon-collector"]
    env = {k: str(v) for k, v in s["environment"].items()}
    settings = Settings.from_env(env)
    volumes = {v.split(":")[0]: v.split(":")[1] for v in s["volumes"]}
    assert volumes["mastodon-state"] == settings.collector_state_dir
    assert "mastodon-state" in compose()["volumes"]
    assert settings.mastodon_interval_seconds == float(env_example()[
        "VEILLE_MASTODON_INTERVAL_SECONDS"]) == Settings().mastodon_interval_seconds

    def collector(settings: Settings) -> MastodonCollector:
        return MastodonCollector(settings, CollectorMetrics(CollectorRegistry()))

    with pytest.raises(MastodonConfigError, match="VEILLE_MASTODON_URL is empty"):
        collector(settings).check_config()
    collector(settings.with_(mastodon_url="https://mastodon.example")).check_config()


def test_settings_that_services_share_reach_every_veille_service() -> None:
    """A setting read by more than one service comes from the shared block: the hold of
    decisions reached only the moderation API (the agent kept 600 s whatever .env said), and the
    topics' retentions reached no service at all (found in review, 2026-12-06)."""
    shared = ("VEILLE_MODERATION_HOLD_SECONDS", "VEILLE_MODERATION_RETENTION_DAYS",
              "VEILLE_DLQ_RETENTION_DAYS")
    env = {**env_example(), "VEILLE_MODERATION_HOLD_SECONDS": "42",
           "VEILLE_MODERATION_RETENTION_DAYS": "500", "VEILLE_DLQ_RETENTION_DAYS": "7"}
    resolved = interpolate(raw(), env)
    veille_services = {name: s for name, s in resolved["services"].items()
                       if "VEILLE_BROKER_URL" in (s.get("environment") or {})}
    assert {"topics", "worker", "agents", "moderation-api"} <= set(veille_services)
    for name, service in veille_services.items():
        got = {k: str(service["environment"].get(k)) for k in shared}
        assert got == {"VEILLE_MODERATION_HOLD_SECONDS": "42",
                       "VEILLE_MODERATION_RETENTION_DAYS": "500",
                       "VEILLE_DLQ_RETENTION_DAYS": "7"}, name


def test_a_managed_kafka_is_configured_from_env_alone() -> None:
    """The broker and its security reach every veille service from .env (a managed Kafka
    without editing the compose file); empty, the compose `kafka` service in plaintext."""
    from veille.settings import Settings as VeilleSettings

    managed = {"VEILLE_BROKER_URL": "kafka://pkc-1.confluent.cloud:9092",
               "VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_SSL", "VEILLE_BROKER_SASL_MECHANISM": "PLAIN",
               "VEILLE_BROKER_SASL_USERNAME": "key", "VEILLE_BROKER_SASL_PASSWORD": "secret"}
    for env, expected in ((env_example(), ("kafka:9092", "PLAINTEXT")),
                          ({**env_example(), **managed}, ("pkc-1.confluent.cloud:9092", "SASL_SSL"))):
        resolved = interpolate(raw(), env)
        veille = [s for s in resolved["services"].values()
                  if str(s.get("image", "")).startswith("veille")]
        assert len(veille) >= 5
        for service in veille:
            variables = {k: str(v) for k, v in service["environment"].items() if v not in ("", None)}
            settings = VeilleSettings.from_env(variables)
            assert (settings.bootstrap_servers[0], settings.broker_security_protocol) == expected


def test_the_brands_time_zone_set_in_env_reaches_the_spike_agents() -> None:
    """Found in review (2026-12-06): the README says to set VEILLE_TIMEZONE for brands whose
    public lives on summer time, and compose takes its settings from .env, but no service was
    given it: set there, the spike agents learnt every brand's daily rhythm on UTC hours
    anyway, silently."""
    for env, expected in ((env_example(), "UTC"),
                          ({**env_example(), "VEILLE_TIMEZONE": "Europe/Paris"}, "Europe/Paris")):
        resolved = interpolate(raw(), env)
        for name in ("worker", "agents"):  # the roles that run the spike agent
            variables = {k: str(v) for k, v in resolved["services"][name]["environment"].items()
                         if v not in ("", None)}
            assert Settings.from_env(variables).timezone == expected, name


#: Settings no compose service is given, and why.
NOT_IN_COMPOSE = {
    "VEILLE_EMBEDDED_BROKER_PORT": "compose runs Apache Kafka, not the embedded broker",
}


def test_every_setting_set_in_env_reaches_a_service() -> None:
    """Found in review (2026-12-06): sixteen settings of the README's table (the validation
    limits, the spike agents' buckets, de-duplication, tuning) reached no service: set in .env,
    they were silently ignored. Each setting is given by compose (from .env), or by the image
    (deploy/Dockerfile), or is listed above with its reason; and one set in .env arrives."""
    given = {k for s in services().values() for k in (s.get("environment") or {})}
    dockerfile = set(re.findall(r"\b(VEILLE_\w+)=", (ROOT / "deploy" / "Dockerfile").read_text()))
    every = {env for env, _, _ in settings_table()}
    missing = every - given - dockerfile - set(NOT_IN_COMPOSE)
    assert not missing, f"set in .env, these reach no compose service: {sorted(missing)}"
    resolved = interpolate(raw(), {**env_example(), "VEILLE_SPIKE_BUCKET_SECONDS": "600",
                                   "VEILLE_MAX_TEXT_CHARS": "5000"})
    for name in ("worker", "agents", "webhook-collector"):
        env = resolved["services"][name]["environment"]
        assert (env["VEILLE_SPIKE_BUCKET_SECONDS"], env["VEILLE_MAX_TEXT_CHARS"]) == ("600", "5000")


def _seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)(s|m)", value)
    assert found, f"unexpected duration {value!r}"
    return int(found[1]) * (60 if found[2] == "m" else 1)


def test_each_collector_is_given_the_time_it_takes_to_stop(tmp_path: Path) -> None:
    """Found in review (2026-12-06): on SIGTERM the RSS collector lets its polls in flight run
    50 s and the Mastodon and Bluesky collectors a round in flight 110 s, then close their
    producer (up to its 10 s acknowledgement timeout), but compose gave them 30 s and 60 s: a
    slow feed or instance at a stop was a SIGKILL (exit 137), its round read and sent again at
    the next start."""
    from veille.collectors.base import MentionSink
    from veille.collectors.bluesky import BlueskyCollector
    from veille.collectors.jetstream import JetstreamCollector
    from veille.collectors.mastodon import MastodonCollector
    from veille.collectors.reddit import RedditCollector
    from veille.collectors.rss import RssCollector
    from veille.collectors.youtube import YoutubeCollector
    from veille.metrics import CollectorMetrics

    settings = Settings.from_env({}, collector_state_dir=str(tmp_path),
                                 mastodon_url="https://mastodon.example")
    for service, kind in (("rss-collector", RssCollector), ("mastodon-collector", MastodonCollector),
                          ("bluesky-collector", BlueskyCollector),
                          ("reddit-collector", RedditCollector),
                          ("youtube-collector", YoutubeCollector),
                          ("jetstream-collector", JetstreamCollector)):
        metrics = CollectorMetrics(CollectorRegistry())
        sink = MentionSink(settings, kind.name, metrics)
        collector: Any = kind(settings, metrics, sink)
        needed = collector.stop_grace + sink.ack_timeout
        given = _seconds(services()[service].get("stop_grace_period", "10s"))
        assert given >= needed, (f"{service}: stop_grace_period {given:g} s, but it may take "
                                 f"{needed:g} s to stop")


def _bytes(limit: str) -> int:
    """A compose memory size ("512m", "2g", "1536m") in bytes."""
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(limit).lower()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** " kmg".index(unit or " ")


def test_every_service_has_a_memory_limit_set_from_env() -> None:
    """No container may take the host's memory from Kafka and the others (compose had no limit
    until 2026-12-06): each has one, veille's services and the third-party ones that grow with
    their data from .env, each at least twice what veille's process was measured to need."""
    raw_services = raw()["services"]
    resolved = services()
    for name, service in resolved.items():
        assert "mem_limit" in service, f"{name} has no mem_limit"
        assert _bytes(service["mem_limit"]) >= 256 * 2**20, name
    for name in ("worker", "agents", "webhook-collector", "rss-collector", "mastodon-collector",
                 "bluesky-collector", "reddit-collector", "youtube-collector", "jetstream-collector",
                 "moderation-api",
                 "kafka", "prometheus",
                 "grafana"):
        assert str(raw_services[name]["mem_limit"]).startswith("${"), name
    # README, Deploy: a worker about 250 MB (+0.6 KB a moderation case), a collector 40-150 MB,
    # the moderation API 0.5 GB at 300,000 cases, Kafka's heap KAFKA_HEAP_OPTS.
    assert _bytes(resolved["worker"]["mem_limit"]) >= 2 * 250 * 2**20
    assert _bytes(resolved["webhook-collector"]["mem_limit"]) >= 2 * 150 * 2**20
    assert _bytes(resolved["moderation-api"]["mem_limit"]) >= 2 * 800 * 2**20
    heap = re.search(r"-Xmx(\d+)m", resolved["kafka"]["environment"]["KAFKA_HEAP_OPTS"])
    assert heap and _bytes(resolved["kafka"]["mem_limit"]) >= 2 * int(heap.group(1)) * 2**20
