"""Settings come from VEILLE_* variables, typed, with clear errors."""

from __future__ import annotations

import re

import pytest

from veille.settings import Settings, SettingsError, settings_table


def test_defaults_and_env() -> None:
    s = Settings.from_env({})
    assert s.broker_url == "kafka://127.0.0.1:9092" and not s.broker_url_set
    s = Settings.from_env({"VEILLE_BROKER_URL": "kafka://a:1;b:2", "VEILLE_TOPIC_PARTITIONS": "8",
                           "VEILLE_MAX_AGE_DAYS": "2.5"})
    assert s.broker_url_set and s.bootstrap_servers == ["a:1", "b:2"]
    assert s.topic_partitions == 8 and s.max_age_days == 2.5


def test_overrides_win_and_prefix_topics() -> None:
    s = Settings.from_env({"VEILLE_TOPIC_PREFIX": "x."}, topic_prefix="y.")
    assert s.topic("mentions.raw") == "y.mentions.raw"


def test_the_app_id_follows_the_topic_prefix_unless_it_is_set() -> None:
    """Topics are named by the prefix, consumer groups and table changelogs by the app id: with
    the default app id, a staging stack (prefix `staging.`) on production's cluster shared its
    groups and read and wrote its spike and moderation state."""
    assert Settings.from_env({}).app_id == "veille"
    staging = Settings.from_env({"VEILLE_TOPIC_PREFIX": "staging."})
    assert staging.app_id == "staging.veille" and staging.topic("mentions.raw") == \
        "staging.mentions.raw"
    assert Settings.from_env({"VEILLE_TOPIC_PREFIX": "staging.", "VEILLE_APP_ID": ""}).app_id == \
        "staging.veille"  # compose passes an unset variable as empty
    assert Settings.from_env({"VEILLE_TOPIC_PREFIX": "s.", "VEILLE_APP_ID": "veille"}).app_id == \
        "veille"  # set: kept, even to the default
    assert Settings.from_env({}, topic_prefix="cli.").app_id == "cli.veille"


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="VEILLE_METRICS_PORT='abc'"):
        Settings.from_env({"VEILLE_METRICS_PORT": "abc"})


def test_every_setting_is_documented_in_readme() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    missing = [env for env, _, _ in settings_table() if env not in readme]
    assert not missing, f"README lacks {missing}"


def test_the_readme_topic_map_says_who_writes_and_reads_each_topic() -> None:
    """Each topic of streams.topics.TOPIC_MAP has a README row with the same key, value, writers
    and readers."""
    from streams.topics import TOPIC_MAP
    from tests.conftest import ROOT

    rows = {}
    readme = (ROOT / "README.md").read_text()
    for line in readme[readme.index("\n## Topics\n"):].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows.setdefault(cells[0].split("`")[1], cells)
    for doc in TOPIC_MAP:
        first = doc.name.split(",")[0].strip()
        assert first in rows, f"README topic map lacks {first}"
        key, value, writers, readers = (_unlinked(c) for c in rows[first][1:])
        assert (key, value, writers, readers) == (doc.key, doc.value, doc.writers, doc.readers), first


def _unlinked(cell: str) -> str:
    """A README cell as `veille topics` prints it: a schema link is its file's path."""
    return re.sub(r"\(\[schema\]\(streams/(schemas/[^)]+)\)\)", r"(\1)", cell)


@pytest.mark.parametrize("env, message", [
    ({"VEILLE_TOPIC_PARTITIONS": "0"}, "VEILLE_TOPIC_PARTITIONS=0 must be > 0"),
    ({"VEILLE_SPIKE_BUCKET_SECONDS": "-300"}, "must be > 0"),
    ({"VEILLE_DEDUP_TTL_SECONDS": "-1"}, "must be > 0"),
    ({"VEILLE_DEDUP_MAX_PER_PARTITION": "0"}, "must be > 0"),
    ({"VEILLE_ENRICH_BATCH_MAX": "0"}, "must be > 0"),
    ({"VEILLE_DEDUP_TTL_SECONDS": "nan"}, "must be a finite number"),
    ({"VEILLE_METRICS_PORT": "70000"}, "must be a port in 0..65535"),
    ({"VEILLE_EMBEDDED_BROKER_PORT": "0"}, "must be a port in 1..65535"),
    ({"VEILLE_PRODUCER_LINGER_MS": "-1"}, "must be >= 0"),
])
def test_numbers_out_of_range_are_refused(env: dict[str, str], message: str) -> None:
    """Accepted, they ran and did nothing useful: 0 partitions created 'successfully', a zero
    bucket size skipped every spike record, a negative ttl turned de-duplication off."""
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_zero_where_it_means_something_is_accepted() -> None:
    s = Settings.from_env({"VEILLE_METRICS_PORT": "0", "VEILLE_PRODUCER_LINGER_MS": "0",
                           "VEILLE_SPIKE_LATENESS_SECONDS": "0"})
    assert (s.metrics_port, s.producer_linger_ms, s.spike_lateness_seconds) == (0, 0.0, 0)


@pytest.mark.parametrize(("env", "message"), [
    ({"VEILLE_BROKER_URL": "kafka://"}, "names no host:port"),
    ({"VEILLE_BROKER_URL": ";;;"}, "names no host:port"),
    ({"VEILLE_BROKER_URL": "kafka://127.0.0.1:abc"}, "'127.0.0.1:abc' is not host:port"),
    ({"VEILLE_BROKER_URL": "kafka://[::1"}, "'[::1' is not host:port"),
    ({"VEILLE_BROKER_URL": "kafka://a:9092;b:70000"}, "'b:70000' is not host:port with a port"),
    # Found in review (2026-12-06): each connection failed with a UnicodeError (a traceback).
    ({"VEILLE_BROKER_URL": "kafka://kafka..example.com:9092"}, "'kafka..example.com' is not a host name"),
    ({"VEILLE_BROKER_URL": "kafka://ok:1," + "a" * 64 + ".com:9092"}, "is not a host name (an empty label"),
    ({"VEILLE_BROKER_URL": "http://127.0.0.1:9092"}, "http:// is not a Kafka URL"),
    ({"VEILLE_TOPIC_PREFIX": "bad prefix/"}, "VEILLE_TOPIC_PREFIX='bad prefix/' must be letters"),
    ({"VEILLE_TOPIC_PREFIX": "é."}, "VEILLE_TOPIC_PREFIX='é.' must be letters"),
    ({"VEILLE_TOPIC_PREFIX": "p" * 230}, "VEILLE_TOPIC_PREFIX is 230 characters long"),
    ({"VEILLE_APP_ID": "my app"}, "VEILLE_APP_ID='my app' must be letters"),
    ({"VEILLE_APP_ID": "a" * 223}, "VEILLE_APP_ID is 223 characters long"),
    ({"VEILLE_TOPIC_PREFIX": "p" * 229},
     "VEILLE_APP_ID (unset: VEILLE_TOPIC_PREFIX + 'veille'; set it) is 235 characters long"),
    ({"VEILLE_MAX_FUTURE_SECONDS": "1e20"}, "must be at most 31,622,400 (a year)"),
    ({"VEILLE_MAX_AGE_DAYS": "1e12"}, "must be at most 36,500 (a century)"),
    ({"VEILLE_WEBHOOK_MAX_BODY_BYTES": "99999999999999999999999"}, "must be at most 67,108,864"),
    ({"VEILLE_MAX_TEXT_CHARS": "2000000"}, "must be at most 100,000 (a record must fit"),
    ({"VEILLE_WEBHOOK_TIMEZONE": "Paris"}, "VEILLE_WEBHOOK_TIMEZONE: 'Paris' is not a time zone"),
    ({"VEILLE_WEBHOOK_TIMEZONE": "localtime"}, "VEILLE_WEBHOOK_TIMEZONE: 'localtime' is the machine"),
])
def test_malformed_names_and_urls_are_refused_at_start(env: dict[str, str], message: str) -> None:
    """They used to fail deep inside a Kafka client (an IndexError, a 30 s wait), create topics
    with illegal names, or overflow a date at the first mention."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)


@pytest.mark.parametrize(("url", "servers"), [
    ("aiokafka://127.0.0.1:9", ["127.0.0.1:9"]),  # was "aio127.0.0.1:9"
    ("tcp://a:1", ["a:1"]),  # Faust was given tcp:// as a transport: a traceback
    ("kafka://a:1;", ["a:1"]),  # Faust read the empty entry as 127.0.0.1:9092
    (";kafka://a:1,,KAFKA://b:2", ["a:1", "b:2"]),
])
def test_every_accepted_broker_url_reaches_faust_as_its_servers(url: str, servers: list[str]) -> None:
    """Found in review (2026-12-05): "kafka://" was removed anywhere in the URL, and Faust was
    given the URL as written. Faust now gets the checked servers."""
    from faust.utils.urls import urllist

    settings = Settings.from_env({"VEILLE_BROKER_URL": url})
    assert settings.bootstrap_servers == servers
    given = urllist(settings.faust_broker, default_scheme="kafka")
    assert [f"{u.host}:{u.port}" for u in given] == servers
    assert {u.scheme for u in given} == {"kafka"}


def test_spaces_around_the_log_level_and_a_header_breaking_user_agent() -> None:
    assert Settings.from_env({"VEILLE_LOG_LEVEL": " info "}).log_level == "INFO"
    with pytest.raises(SettingsError, match="VEILLE_LOG_LEVEL='verbose' is not one of DEBUG"):
        Settings.from_env({"VEILLE_LOG_LEVEL": "verbose"})
    with pytest.raises(SettingsError, match="VEILLE_COLLECTOR_USER_AGENT=.* an HTTP header"):
        Settings.from_env({"VEILLE_COLLECTOR_USER_AGENT": "veille\nX-Evil: 1"})


def test_well_formed_broker_urls_names_and_bounds_are_accepted() -> None:
    s = Settings.from_env({"VEILLE_BROKER_URL": "kafka://k1.example:9092;10.0.0.2:9093,[::1]:9094",
                           "VEILLE_TOPIC_PREFIX": "staging-2.", "VEILLE_APP_ID": "veille_eu.1",
                           "VEILLE_MAX_FUTURE_SECONDS": "86400", "VEILLE_MAX_AGE_DAYS": "36500"})
    assert s.bootstrap_servers == ["k1.example:9092", "10.0.0.2:9093", "[::1]:9094"]
    # What the probes connect to: IPv6 without brackets, a server named twice asked once.
    assert s.with_(broker_url=s.broker_url + ";kafka://k1.example:9092").broker_addresses == [
        ("k1.example", 9092), ("10.0.0.2", 9093), ("::1", 9094)]
    assert Settings.from_env({"VEILLE_TOPIC_PREFIX": "p" * 229, "VEILLE_APP_ID": "v"}).topic(
        "moderation.decisions")
    assert Settings.from_env({"VEILLE_APP_ID": "a" * 222}).app_id


@pytest.mark.parametrize("server", ["bücher.example:9092", "BÜCHER.EXAMPLE:9092", "kafka_1:9092",
                                    "kafka.example.com.:9092", "KAFKA:9092"])
def test_a_broker_host_name_the_connection_takes_is_accepted(server: str) -> None:
    """Found in review (2026-12-06): an internationalised name (bücher.example), which the Kafka
    clients resolve through its IDNA encoding as any connection does, was refused as "not
    host:port with a port in 1..65535"; the host name check is that encoding's."""
    assert Settings.from_env({"VEILLE_BROKER_URL": f"kafka://{server}"}).bootstrap_servers == [server]


def test_a_broker_host_name_whose_idna_encoding_fails_is_refused() -> None:
    with pytest.raises(SettingsError, match="'" + "é" * 60 + ".com' is not a host name"):
        Settings.from_env({"VEILLE_BROKER_URL": "kafka://" + "é" * 60 + ".com:9092"})


# --- secrets from files (VEILLE_<NAME>_FILE) -------------------------------------------------

SECRETS = ("webhook_token", "webhook_hmac_secret", "mastodon_token", "bluesky_app_password",
           "reddit_client_secret", "youtube_api_key", "moderation_api_token")


@pytest.mark.parametrize("name", SECRETS)
def test_a_secret_is_read_from_its_file_without_the_final_line_break(tmp_path, name) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"s3cr3t-value-with-enough-chars\r\n")
    var = f"VEILLE_{name.upper()}_FILE"
    assert getattr(Settings.from_env({var: str(path)}), name) == "s3cr3t-value-with-enough-chars"
    # Documented with the setting (the README's table and --help come from settings_table).
    help_text = {env: text for env, _, text in settings_table()}[f"VEILLE_{name.upper()}"]
    assert var in help_text


def test_no_secret_in_the_settings_repr() -> None:
    """A Settings printed (a log line, a traceback's locals, a debugger) shows no secret."""
    from dataclasses import fields

    secrets = [f.name for f in fields(Settings) if f.metadata.get("secret")]
    assert set(SECRETS) | {"broker_sasl_password"} == set(secrets)
    values = {name: f"secret-{name}-0123456789abcdef" for name in secrets}
    settings = Settings.from_env(
        {}, broker_url="kafka.example:9092", broker_security_protocol="SASL_PLAINTEXT",
        broker_sasl_mechanism="PLAIN", broker_sasl_username="veille", **values)
    shown = repr(settings)
    assert "broker_sasl_username='veille'" in shown
    for name, value in values.items():
        assert getattr(settings, name) == value and value not in shown, name


def test_a_secret_file_only_for_secrets(tmp_path) -> None:
    path = tmp_path / "port"
    path.write_text("9999\n")
    assert Settings.from_env({"VEILLE_METRICS_PORT_FILE": str(path)}).metrics_port != 9999


@pytest.mark.parametrize(("setup", "message"), [
    ("both", "VEILLE_WEBHOOK_TOKEN and VEILLE_WEBHOOK_TOKEN_FILE are both set"),
    ("missing", "cannot read it"),
    ("empty", "is empty"),
    ("binary", "is not UTF-8 text"),
    ("directory", "is not a regular file"),
    ("device", "is not a regular file"),  # /dev/zero was read for ever
    ("huge", "is larger than a secret"),
])
def test_a_secret_file_that_cannot_give_a_value_is_an_error(tmp_path, setup, message) -> None:
    """Never a silent empty secret: an empty webhook token switches the bearer check off."""
    path = tmp_path / "token"
    env = {"VEILLE_WEBHOOK_TOKEN_FILE": str(path)}
    if setup == "both":
        path.write_text("from-the-file-0123456789\n")
        env["VEILLE_WEBHOOK_TOKEN"] = "from-the-environment-0123"
    elif setup == "empty":
        path.write_text("\n")
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe token")
    elif setup == "directory":
        path.mkdir()
    elif setup == "device":
        env["VEILLE_WEBHOOK_TOKEN_FILE"] = "/dev/zero"
    elif setup == "huge":
        path.write_text("x" * 100_000)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize("env, message", [
    ({"VEILLE_BROKER_SESSION_TIMEOUT": "1e12"}, "must be at most 1,800 (30 minutes"),
    ({"VEILLE_BROKER_REBALANCE_TIMEOUT": "3000000"}, "must be at most 3,600 (an hour"),
    ({"VEILLE_PRODUCER_REQUEST_TIMEOUT_MS": "99999999999"}, "must be at most 2,147,483,647"),
    ({"VEILLE_CONSUMER_FETCH_MAX_WAIT_MS": "99999999999"}, "must be at most 60,000 (a minute"),
    ({"VEILLE_CONSUMER_FETCH_MAX_WAIT_MS": "95000"}, "request timeout"),
    ({"VEILLE_TOPIC_PARTITIONS": "100000"}, "must be at most 10,000"),
    ({"VEILLE_WEBHOOK_PORT": "tcp://10.0.0.7:8080"},
     "a Kubernetes service link (a Service named 'veille-webhook' sets it); set enableServiceLinks: "
     "false"),
    ({"VEILLE_SPIKE_IDLE_SECONDS": "1e12"}, "(a year)"),
    ({"VEILLE_SPIKE_BUCKET_SECONDS": "172800"}, "(a day)"),
    ({"VEILLE_BROKER_HEARTBEAT_INTERVAL": "10"},
     "VEILLE_BROKER_HEARTBEAT_INTERVAL=10 must be less than VEILLE_BROKER_SESSION_TIMEOUT=6"),
])
def test_values_a_worker_cannot_run_with_are_refused_at_start(env: dict, message: str) -> None:
    """Found in review: these passed the settings, then the worker hung (never ready), failed
    every send, or crashed in aiokafka (32-bit milliseconds), or the broker created 800,000
    partitions."""
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_env(env)


def test_a_long_session_timeout_gets_requests_long_enough_for_faust() -> None:
    """Found in review: VEILLE_BROKER_SESSION_TIMEOUT=120 (Apache Kafka allows 30 minutes)
    crashed the worker: Faust refuses a session longer than its 90-second requests."""
    from veille.app import create_app

    app = create_app(Settings.from_env({"VEILLE_BROKER_SESSION_TIMEOUT": "120"}))
    assert app.conf.broker_session_timeout == 120.0
    assert app.conf.broker_request_timeout >= 150.0
    assert create_app(Settings.from_env({})).conf.broker_request_timeout == 90.0


def test_every_group_consumer_waits_for_a_join_as_long_as_the_rebalance_may_take() -> None:
    """Found in review: the enrichment stage's consumer kept aiokafka's 40 s request timeout
    while the rebalance timeout was 60 s (docker-compose) or more: a JoinGroup waiting for a slow
    member timed out on the client, and the stage re-joined, again and again. Faust and the
    stage now share one figure, above the rebalance and session timeouts."""
    from veille.app import create_app

    for env, expected in (({}, 90.0), ({"VEILLE_BROKER_REBALANCE_TIMEOUT": "600"}, 630.0),
                          ({"VEILLE_BROKER_SESSION_TIMEOUT": "300"}, 330.0)):
        s = Settings.from_env(env)
        assert s.group_request_timeout == expected
        assert create_app(s).conf.broker_request_timeout == expected


def test_topic_partitions_up_to_an_existing_big_topic_are_accepted() -> None:
    """Found in review: `veille topics` told a cluster whose topics have 1,100 partitions to
    set VEILLE_TOPIC_PARTITIONS=1100, which the settings refused (at most 1,024)."""
    assert Settings.from_env({"VEILLE_TOPIC_PARTITIONS": "1100"}).topic_partitions == 1100


def test_a_moderation_api_token_too_short_to_protect_it_is_refused() -> None:
    """Found in review: a one-character token served the API on 0.0.0.0 (the webhook already
    wanted 16)."""
    from veille.moderate.api import ApiConfigError, check_config

    exposed = Settings.from_env({"VEILLE_MODERATION_API_HOST": "0.0.0.0"})
    with pytest.raises(ApiConfigError, match="VEILLE_MODERATION_API_TOKEN has 1 characters, at "
                                             "least 16 are needed"):
        check_config(exposed.with_(moderation_api_token="a"))
    check_config(exposed.with_(moderation_api_token="x" * 16))


def test_a_flag_wins_over_its_variable_even_a_malformed_one() -> None:
    """Found in review (2026-12-05): VEILLE_METRICS_PORT=abc refused `--metrics-port 9000`,
    and the error blamed the flag."""
    assert Settings.from_env({"VEILLE_METRICS_PORT": "abc"}, metrics_port=9000).metrics_port == 9000
    assert Settings.from_env({"VEILLE_WEBHOOK_PORT": "tcp://10.0.0.1:8080"},
                             webhook_port=8081).webhook_port == 8081


# --- TLS and SASL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.secure_proxy import make_certs

    ca, _ = make_certs(tmp_path_factory.mktemp("tls"))
    return str(ca)


def test_plaintext_clients_are_built_as_before() -> None:
    s = Settings.from_env({})
    assert s.broker_security_protocol == "PLAINTEXT" and s.kafka_security() == {}
    assert s.kafka_client_options() == {"bootstrap_servers": ["127.0.0.1:9092"]}
    assert s.ssl_context() is None


def test_sasl_ssl_gives_every_client_the_same_options(ca_file: str) -> None:
    s = Settings.from_env({"VEILLE_BROKER_URL": "kafka://k1:9093;k2:9093",
                           "VEILLE_BROKER_SECURITY_PROTOCOL": "sasl_ssl",
                           "VEILLE_BROKER_SASL_MECHANISM": "scram_sha_512",
                           "VEILLE_BROKER_SASL_USERNAME": "veille",
                           "VEILLE_BROKER_SASL_PASSWORD": "s3cret",
                           "VEILLE_BROKER_SSL_CAFILE": ca_file})
    options = s.kafka_client_options()
    context = options.pop("ssl_context")
    assert options == {"bootstrap_servers": ["k1:9093", "k2:9093"], "security_protocol": "SASL_SSL",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "veille",
                       "sasl_plain_password": "s3cret"}
    assert context is s.ssl_context() and context.check_hostname  # one context, names checked
    from veille.app import faust_credentials

    creds = faust_credentials(s)
    assert (creds.protocol.value, creds.mechanism.value, creds.username, creds.password,
            creds.ssl_context) == ("SASL_SSL", "SCRAM-SHA-512", "veille", "s3cret", context)
    plain = faust_credentials(s.with_(broker_security_protocol="SASL_PLAINTEXT",
                                      broker_ssl_cafile=""))
    assert plain.protocol.value == "SASL_PLAINTEXT" and plain.ssl_context is None
    tls = faust_credentials(s.with_(broker_security_protocol="SSL", broker_sasl_mechanism="",
                                    broker_sasl_username="", broker_sasl_password=""))
    assert tls.protocol.value == "SSL" and tls.context is context
    assert faust_credentials(Settings.from_env({})) is None


def test_the_sasl_password_may_come_from_a_file(tmp_path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    s = Settings.from_env({"VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                           "VEILLE_BROKER_SASL_MECHANISM": "PLAIN",
                           "VEILLE_BROKER_SASL_USERNAME": "veille",
                           "VEILLE_BROKER_SASL_PASSWORD_FILE": str(secret)})
    assert s.kafka_security()["sasl_plain_password"] == "from-a-file"
    assert "VEILLE_BROKER_SASL_PASSWORD" in {env for env, _, _ in settings_table()}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "tls"}, "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_SSL"}, "VEILLE_BROKER_SASL_MECHANISM='' must be"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "VEILLE_BROKER_SASL_MECHANISM": "GSSAPI",
          "VEILLE_BROKER_SASL_USERNAME": "u", "VEILLE_BROKER_SASL_PASSWORD": "p"},
         "VEILLE_BROKER_SASL_MECHANISM='GSSAPI' must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "VEILLE_BROKER_SASL_MECHANISM": "PLAIN",
          "VEILLE_BROKER_SASL_USERNAME": "u"}, "VEILLE_BROKER_SASL_PASSWORD must be set with SASL_PLAINTEXT"),
        # A setting the protocol does not use would connect without it: refused, not ignored.
        ({"VEILLE_BROKER_SASL_USERNAME": "u"},
         "VEILLE_BROKER_SASL_USERNAME set, but VEILLE_BROKER_SECURITY_PROTOCOL=PLAINTEXT does not use it"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "VEILLE_BROKER_SASL_MECHANISM": "PLAIN",
          "VEILLE_BROKER_SASL_USERNAME": "u", "VEILLE_BROKER_SASL_PASSWORD": "p",
          "VEILLE_BROKER_SSL_CAFILE": "/etc/ssl/ca.pem"},
         "VEILLE_BROKER_SSL_CAFILE set, but VEILLE_BROKER_SECURITY_PROTOCOL=SASL_PLAINTEXT does not"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SSL", "VEILLE_BROKER_SSL_CAFILE": "/nonexistent/ca.pem"},
         "VEILLE_BROKER_SSL_CAFILE='/nonexistent/ca.pem' is not a file"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SSL", "VEILLE_BROKER_SSL_CERTFILE": "{not_pem}"},
         "VEILLE_BROKER_SSL_CERTFILE and VEILLE_BROKER_SSL_KEYFILE go together"),
        ({"VEILLE_BROKER_SECURITY_PROTOCOL": "SSL", "VEILLE_BROKER_SSL_CAFILE": "{not_pem}"},
         "TLS: cannot use VEILLE_BROKER_SSL_CAFILE"),
        ({"VEILLE_BROKER_URL": "SASL_SSL://pkc-1.confluent.cloud:9092"},
         "set VEILLE_BROKER_SECURITY_PROTOCOL=SASL_SSL for that"),
    ],
)
def test_security_settings_are_checked_at_start(env: dict[str, str], message: str, tmp_path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(SettingsError) as err:
        Settings.from_env({k: v.format(not_pem=not_pem) for k, v in env.items()})
    assert message in str(err.value)


# --- The README's Settings section against the dataclass -----------------------------------------


def _readme_settings() -> tuple[str, dict[str, str]]:
    """The README's Settings section, and each variable's row: variable -> its cells."""
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Settings\n"):readme.index("\n## Guarantees and limits\n")]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `VEILLE_"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for name in re.findall(r"`(VEILLE_\w+)`", cells[0]):
                rows[name] = cells
    return section, rows


#: Defaults the table gives in words (the dataclass holds "" for them).
_DEFAULTS_IN_WORDS = {"VEILLE_WATCHLIST": "the packaged demo watch list",
                      "VEILLE_APP_ID": "`veille`, or `<VEILLE_TOPIC_PREFIX>veille` when a prefix is set"}


def test_the_readme_settings_table_gives_every_default() -> None:
    """The second column is the dataclass default (only the variable's presence anywhere in the
    README was checked: a default changed in the code alone went unnoticed)."""
    from dataclasses import fields

    _, rows = _readme_settings()
    for f in fields(Settings):
        env = "VEILLE_" + f.name.upper()
        if f.metadata.get("env", True) is False:
            continue
        default = f.default
        if env in _DEFAULTS_IN_WORDS:
            expected = _DEFAULTS_IN_WORDS[env]
        elif default == "":
            expected = "empty"
        elif isinstance(default, float):
            expected = f"`{default:.15g}`"
        else:
            expected = f"`{default}`"
        assert env in rows, f"the Settings table has no row for {env}"
        assert rows[env][1] == expected, env


def _numeric_settings() -> list[tuple[str, str, float]]:
    """(field name, variable, default) of every numeric setting."""
    from dataclasses import fields

    return [(f.name, "VEILLE_" + f.name.upper(), f.default) for f in fields(Settings)
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool)]


def test_the_settings_the_readme_says_may_be_0_are_those_that_take_0() -> None:
    """"numbers must be finite and above 0, except ports ... and <these>, which may be 0": each
    of these takes 0, every other number but a port refuses it."""
    section, _ = _readme_settings()
    start = section.index("numbers must be finite")
    named = set(re.findall(r"`(VEILLE_\w+)`", section[start:section.index("which may be 0", start)]))
    assert named, "the Settings section no longer says which numbers may be 0"
    for name, env, _default in _numeric_settings():
        if name.endswith("_port"):
            continue
        if env in named:
            assert getattr(Settings.from_env({env: "0"}), name) == 0, env
        else:
            with pytest.raises(SettingsError, match="must be > 0"):
                Settings.from_env({env: "0"})
    assert named <= {env for _, env, _ in _numeric_settings()}


def test_each_upper_bound_the_settings_table_gives_is_the_codes() -> None:
    """A row's "at most N" (or "N MiB") for a number: N is taken, a little more is refused at
    start."""
    _, rows = _readme_settings()
    checked = 0
    for name, env, default in _numeric_settings():
        bound = re.search(r"at most ([0-9][0-9,]*)(?![0-9,])( MiB)?", rows[env][2]) if env in rows else None
        if bound is None:
            continue
        value = int(bound[1].replace(",", "")) * (2**20 if bound[2] else 1)
        assert getattr(Settings.from_env({env: str(value)}), name) == value, env
        over = str(value + 1) if isinstance(default, int) else str(value + 0.5)
        with pytest.raises(SettingsError, match=f"must be at most {value:,}"):
            Settings.from_env({env: over})
        checked += 1
    assert checked >= 4  # retentions, age, text length
