"""One frozen Settings object for every command, read from VEILLE_* environment variables."""

from __future__ import annotations

import functools
import math
import os
import re
import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from veille.timezones import TimezoneError, zone
from veille.timezones import check as check_timezone

ENV_PREFIX = "VEILLE_"
DEFAULT_BROKER_PORT = 9092


def packaged_watchlist() -> Path:
    """The demo watch list shipped inside the package."""
    return Path(str(resources.files("veille") / "data" / "watchlist.toml"))


@dataclass(frozen=True)
class Settings:
    """Every setting of veille. Each field is read from VEILLE_<FIELD NAME IN CAPITALS>.

    Field metadata ``help`` is the text shown in ``--help`` (the README's settings table says the
    same in its own words; tests/unit/test_settings.py checks that it names every setting).
    """

    broker_url: str = field(
        default=f"kafka://127.0.0.1:{DEFAULT_BROKER_PORT}",
        metadata={"help": "Kafka bootstrap servers, `kafka://host:port[;host:port]`."},
    )
    broker_url_set: bool = field(
        default=False,
        metadata={"help": "Internal: true when broker_url came from the environment.", "env": False},
    )
    broker_security_protocol: str = field(
        default="PLAINTEXT",
        metadata={"help": "How every Kafka client of veille connects: `PLAINTEXT`, `SSL` (TLS), "
                  "`SASL_PLAINTEXT` or `SASL_SSL` (a managed Kafka: Confluent Cloud, MSK, "
                  "Aiven...). The embedded broker speaks PLAINTEXT only."},
    )
    broker_sasl_mechanism: str = field(
        default="",
        metadata={"help": "With SASL_*: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`."},
    )
    broker_sasl_username: str = field(
        default="", metadata={"help": "With SASL_*: the user name (an API key on Confluent Cloud)."}
    )
    broker_sasl_password: str = field(
        default="", repr=False,
        metadata={"secret": True, "help": "With SASL_*: the password (an API secret). Secret."},
    )
    broker_ssl_cafile: str = field(
        default="",
        metadata={"help": "With SSL or SASL_SSL: PEM file of the certificate authorities to trust "
                  "(empty: the system's). The broker's host name is always checked."},
    )
    broker_ssl_certfile: str = field(
        default="",
        metadata={"help": "With SSL or SASL_SSL: PEM client certificate, for a broker that "
                  "authenticates clients by certificate (mutual TLS; with its key file)."},
    )
    broker_ssl_keyfile: str = field(
        default="",
        metadata={"help": "With SSL or SASL_SSL: PEM private key of the client certificate "
                  "(unencrypted: mount it as a secret file)."},
    )
    embedded_broker_port: int = field(
        default=DEFAULT_BROKER_PORT,
        metadata={"help": "Port of `veille broker` (the embedded Tansu) on 127.0.0.1."},
    )
    app_id: str = field(
        default="veille",
        metadata={"help": "Application id: the consumer groups and the tables' changelog topics. "
                  "Unset, `veille`, or `<prefix>veille` when VEILLE_TOPIC_PREFIX is set (so "
                  "that two stacks on one cluster share neither groups nor state)."},
    )
    topic_prefix: str = field(
        default="", metadata={"help": "Prefix of every topic name, e.g. `staging.`."}
    )
    topic_partitions: int = field(
        default=4, metadata={"help": "Partitions of every topic veille creates."}
    )
    topic_replication: int = field(
        default=1, metadata={"help": "Replication factor of every topic veille creates."}
    )
    moderation_retention_days: float = field(
        default=400.0,
        metadata={"help": "Retention of the moderation topics veille creates (moderation.queue, "
                  ".decisions, .closed), days; 0 = the broker's default. The moderator tools "
                  "read them from their start: a pending case must outlive its queue item, "
                  "and the report covers up to 366 days."},
    )
    dlq_retention_days: float = field(
        default=30.0,
        metadata={"help": "Retention of mentions.dlq when veille creates it, days (time to fix "
                  "a sender and replay its dead letters); 0 = the broker's default."},
    )
    mentions_retention_days: float = field(
        default=7.0,
        metadata={"help": "Retention of mentions.raw, mentions.enriched and mentions.by_brand "
                  "when veille creates them, days (they hold authors and texts: personal "
                  "data); 0 = the broker's default."},
    )
    data_dir: str = field(
        default=".veille", metadata={"help": "Folder for Faust's local table state."}
    )
    watchlist: str = field(
        default="",
        metadata={"help": "Watch-list TOML file (brands, aliases, keywords, hashtags); "
                  "empty = the packaged demo watch list."},
    )
    watchlist_reload_seconds: float = field(
        default=10.0,
        metadata={"help": "How often workers and collectors look for a changed watch list, "
                  "seconds: a change is taken once saved and settled (2 s), a file that does "
                  "not load leaves the one in use in force; 0: read at start only."},
    )
    metrics_host: str = field(
        default="127.0.0.1",
        metadata={"help": "Address /metrics listens on (the worker's and the polling "
                  "collectors')."}
    )
    metrics_port: int = field(
        default=9464, metadata={"help": "Port of the worker's /metrics (0 = any free port)."}
    )
    max_text_chars: int = field(
        default=20_000, metadata={"help": "Longer texts go to the dead-letter topic."}
    )
    max_future_seconds: float = field(
        default=3600.0,
        metadata={"help": "created_at further ahead of the clock than this is refused."},
    )
    max_age_days: float = field(
        default=365.0, metadata={"help": "created_at older than this many days is refused."}
    )
    broker_rebalance_timeout: float = field(
        default=3.0, metadata={"help": "Consumer group rebalance timeout, seconds."}
    )
    broker_session_timeout: float = field(
        default=6.0, metadata={"help": "Consumer group session timeout, seconds."}
    )
    broker_heartbeat_interval: float = field(
        default=1.0, metadata={"help": "Consumer group heartbeat interval, seconds."}
    )
    consumer_fetch_max_wait_ms: int = field(
        default=100,
        metadata={"help": "Longest a worker's fetch waits for new data, milliseconds."},
    )
    producer_linger_ms: float = field(
        default=5.0, metadata={"help": "Producer linger before sending a batch, milliseconds."}
    )
    producer_request_timeout_ms: int = field(
        default=10_000,
        metadata={"help": "Enrichment stage: a send not acknowledged within this many "
                  "milliseconds counts as a send error and is retried."},
    )
    worker_role: str = field(
        default="all",
        metadata={"help": "What `veille worker` runs: `all` (the enrichment stage and the spike "
                  "and moderation agents), `enrich` (the enrichment stage alone: no Faust, no "
                  "state but its de-duplication window; add these to follow the input rate) or "
                  "`agents` (the spike and moderation agents alone). Run either `all` workers "
                  "or `enrich` and `agents` workers side by side."},
    )
    enrich_batch_max: int = field(
        default=2000,
        metadata={"help": "Enrichment stage: most raw messages handled per batch (one commit "
                  "per batch, after all its outputs are acknowledged)."},
    )
    dedup_ttl_seconds: float = field(
        default=86_400.0,
        metadata={"help": "De-duplication: a mention id enriched less than this long ago is "
                  "dropped as a duplicate."},
    )
    dedup_max_per_partition: int = field(
        default=50_000,
        metadata={"help": "De-duplication: at most this many ids remembered per raw partition, "
                  "at least half of it (two generations, the older forgotten whole); also how "
                  "many enriched records a worker re-reads per partition when it is assigned "
                  "one."},
    )
    collector_state_dir: str = field(
        default=".veille/collectors",
        metadata={"help": "Folder where collectors keep their state (seen ids, feed validators)."},
    )
    collector_metrics_port: int = field(
        default=9465,
        metadata={"help": "Port of /metrics of a polling or Jetstream collector (RSS, Mastodon, "
                  "Bluesky, Reddit, Jetstream; 0 = any free). "
                  "Each collector process on a host needs its own."},
    )
    collector_user_agent: str = field(
        default="veille/0.1 (+https://github.com/veille/veille; e-reputation monitor)",
        metadata={"help": "User-Agent of the RSS, Mastodon and Bluesky collectors (Reddit: "
                  "VEILLE_REDDIT_USER_AGENT)."},
    )
    webhook_host: str = field(
        default="127.0.0.1", metadata={"help": "Address the webhook collector listens on."}
    )
    webhook_port: int = field(default=8080, metadata={"help": "Port of the webhook collector."})
    webhook_token: str = field(
        default="", repr=False,
        metadata={"secret": True,
                  "help": "Bearer token the webhook requires (empty: no bearer check). Secret."},
    )
    webhook_hmac_secret: str = field(
        default="", repr=False,
        metadata={"secret": True,
                  "help": "Key of the X-Veille-Signature HMAC-SHA256 check (empty: off). Secret."},
    )
    webhook_max_body_bytes: int = field(
        default=1_048_576, metadata={"help": "Largest webhook request body, bytes (413 above)."}
    )
    webhook_signature_tolerance_seconds: float = field(
        default=300.0,
        metadata={"help": "Webhook: a signed request carrying X-Veille-Timestamp is refused (401) "
                  "when its timestamp is more than this many seconds from the collector's clock, "
                  "either way, and when its timestamp and signature were accepted already within "
                  "that window (a replay). At most 86,400."},
    )
    webhook_require_timestamp: bool = field(
        default=False,
        metadata={"help": "Webhook: refuse the body-only X-Veille-Signature (no X-Veille-Timestamp), "
                  "which can be replayed for ever; needs VEILLE_WEBHOOK_HMAC_SECRET. Set it once "
                  "every sender signs with a timestamp."},
    )
    webhook_timezone: str = field(
        default="",
        metadata={"help": "Webhook: time zone (IANA name, e.g. `Europe/Paris`) of the times "
                  "pushed without an offset: IFTTT's `December 6, 2026 at 07:00AM` (written in "
                  "the IFTTT account's zone), an RFC 2822 or Twitter time with no zone at all. "
                  "Empty: such a time is refused (400 naming this setting). An ISO 8601 time "
                  "without an offset stays UTC (the record contract). In the hour repeated when "
                  "summer time ends, the first passage (summer time); in the hour skipped when it "
                  "starts, the offset of before the change."},
    )
    mastodon_url: str = field(
        default="",
        metadata={"help": "Mastodon instance base URL, e.g. https://mastodon.social (empty: off)."},
    )
    mastodon_token: str = field(
        default="", repr=False, metadata={"secret": True, "help": "Optional Mastodon access token. Secret."}
    )
    mastodon_interval_seconds: float = field(
        default=60.0, metadata={"help": "Seconds between two polls of each Mastodon hashtag."}
    )
    bluesky_url: str = field(
        default="https://public.api.bsky.app",
        metadata={"help": "Bluesky AppView searched without an account (app.bsky.feed.searchPosts)."},
    )
    bluesky_pds_url: str = field(
        default="https://bsky.social",
        metadata={"help": "With VEILLE_BLUESKY_HANDLE: the account's PDS, where the collector signs "
                  "in (com.atproto.server.createSession) and searches (the PDS forwards to its "
                  "AppView)."},
    )
    bluesky_handle: str = field(
        default="",
        metadata={"help": "Optional Bluesky handle (or DID, or e-mail) to search signed in, with "
                  "VEILLE_BLUESKY_APP_PASSWORD (empty: searches the AppView without an account)."},
    )
    bluesky_app_password: str = field(
        default="", repr=False,
        metadata={"secret": True, "help": "The handle's Bluesky app password (Settings > App "
                  "passwords; never the account's own password). Secret."},
    )
    bluesky_interval_seconds: float = field(
        default=60.0, metadata={"help": "Seconds between two rounds of Bluesky searches."}
    )
    reddit_auth_url: str = field(
        default="https://www.reddit.com",
        metadata={"help": "Reddit's OAuth server: the collector asks {this}/api/v1/access_token "
                  "for an application-only token (client_credentials)."},
    )
    reddit_api_url: str = field(
        default="https://oauth.reddit.com",
        metadata={"help": "Reddit's OAuth API, searched with the token ({this}/search)."},
    )
    reddit_client_id: str = field(
        default="",
        metadata={"help": "The client id of the Reddit app (reddit.com/prefs/apps, type script or "
                  "web app) the collector authenticates as."},
    )
    reddit_client_secret: str = field(
        default="", repr=False,
        metadata={"secret": True, "help": "That Reddit app's secret. Secret."},
    )
    reddit_user_agent: str = field(
        default="python:veille:0.1 (e-reputation monitor; +https://github.com/veille/veille)",
        metadata={"help": "User-Agent of the Reddit collector: Reddit asks for a descriptive one, "
                  "<platform>:<app id>:<version> (by /u/<your reddit username>), and throttles "
                  "generic ones."},
    )
    reddit_interval_seconds: float = field(
        default=120.0, metadata={"help": "Seconds between two rounds of Reddit searches."}
    )
    youtube_api_url: str = field(
        default="https://www.googleapis.com/youtube/v3",
        metadata={"help": "The YouTube Data API v3: the YouTube collector reads "
                  "{this}/commentThreads of each brand's youtube_channels."},
    )
    youtube_api_key: str = field(
        default="", repr=False,
        metadata={"secret": True, "help": "The API key (Google Cloud project with the YouTube "
                  "Data API v3 enabled) the YouTube collector reads with. Secret."},
    )
    youtube_interval_seconds: float = field(
        default=300.0, metadata={"help": "Seconds between two rounds of YouTube channel reads "
                                 "(each page costs a unit of the API key's daily quota)."}
    )
    jetstream_url: str = field(
        default="wss://jetstream2.us-east.bsky.network/subscribe",
        metadata={"help": "Bluesky Jetstream's subscribe endpoint the Jetstream collector follows "
                  "(wss://; ws:// on loopback only), or several separated by commas: the next is "
                  "tried when one gives no event, e.g. wss://jetstream2.us-east.bsky.network/"
                  "subscribe,wss://jetstream1.us-west.bsky.network/subscribe."},
    )
    jetstream_rewind_seconds: float = field(
        default=5.0,
        metadata={"help": "The Jetstream collector resumes this many seconds before its saved "
                  "cursor (the posts of those seconds already sent are not sent again); 0: from "
                  "the cursor itself."},
    )
    spike_bucket_seconds: int = field(
        default=300, metadata={"help": "Crisis detection: event-time bucket size per brand, seconds."}
    )
    spike_lateness_seconds: int = field(
        default=600,
        metadata={"help": "Crisis detection: how far behind its partition's newest event time a "
                  "mention may arrive and still count (later: counted as late, left out)."},
    )
    spike_early_seconds: float = field(
        default=10.0,
        metadata={"help": "Crisis detection: how often (seconds, per brand receiving mentions) "
                  "the open buckets are judged as they stand, so that a surge is alerted while "
                  "its bucket still fills instead of when it closes; 0: only at closing."},
    )
    spike_idle_seconds: float = field(
        default=60.0,
        metadata={"help": "Crisis detection: a raw partition read to its end with no mention "
                  "for this long is quiet; at the live edge it no longer holds buckets open, "
                  "and when all are quiet buckets close on the clock."},
    )
    moderation_api_host: str = field(
        default="127.0.0.1", metadata={"help": "Address the moderation API listens on."}
    )
    moderation_api_port: int = field(
        default=8081, metadata={"help": "Port of the moderation API (0 = any free port)."}
    )
    moderation_api_token: str = field(
        default="", repr=False,
        metadata={"secret": True,
                  "help": "Bearer token the moderation API requires; without it the API only "
                  "listens on loopback. Secret."},
    )
    moderation_api_url: str = field(
        default="",
        metadata={"help": "Base URL of a running moderation API (veille moderate serve), e.g. "
                  "http://127.0.0.1:8081: `veille moderate list|show|closed|decide` then ask it "
                  "(milliseconds) instead of reading the moderation topics from their start "
                  "(minutes at a year's cases), with VEILLE_MODERATION_API_TOKEN; --api overrides "
                  "it. Empty: read the topics."},
    )
    moderation_api_user_header: str = field(
        default="",
        metadata={"help": "Moderation API: the request header in which your single sign-on proxy "
                  "names the logged-in user (e.g. X-Forwarded-User); set, every decision is that "
                  "user's (a request without it 401, a body naming someone else 403). Empty: the "
                  "moderator is what the caller sends."},
    )
    moderation_hold_seconds: float = field(
        default=600.0,
        metadata={"help": "Moderation: how long a decision whose case has not reached the agent "
                  "yet is held (once the queue is read to its end) before it is counted as "
                  "unknown_case and dropped (an answer seen on a platform: "
                  "VEILLE_MODERATION_ANSWER_HOLD_SECONDS)."},
    )
    moderation_answer_hold_seconds: float = field(
        default=21600.0,
        metadata={"help": "Moderation: how long an answer seen on a platform (a collector's "
                  "replied decision with answered_on) whose case has not reached the agent yet is "
                  "held before it is counted as not_a_case and dropped: longer than a moderator's "
                  "decision, as the collector wrote it with the mention it answers, which may "
                  "wait for the enrichment behind a backlog; the longer of the two holds applies. "
                  "Default 6 hours."},
    )
    report_language: str = field(
        default="en",
        metadata={"help": "Language of the moderators' and community managers' text: `veille "
                  "moderation report` (and `veille moderate report`), the tables of `veille "
                  "moderate list`, `show` and `closed`, what `veille moderate decide` and `veille "
                  "erase` say, the alert lines of `veille alerts` and of `veille demo`, the "
                  "headers of `veille mentions`, and `veille report`: `en` or `fr`; `--lang` wins. "
                  "`--json`, the API and errors stay in English."},
    )
    timezone: str = field(
        default="UTC",
        metadata={"help": "Crisis detection: time zone (IANA name, e.g. `Europe/Paris`) of the "
                  "brands' daily rhythm: the detector learns each hour of the day and counts "
                  "days on that zone's clock, across daylight-saving changes. A brand's "
                  "`timezone` in the watch list wins. Also the clock of the moderation page's "
                  "times."},
    )
    log_level: str = field(default="WARNING", metadata={"help": "Log level of every command."})
    log_format: str = field(
        default="text",
        metadata={"help": "Format of the log lines: `text` (as they always were) or `json`: one "
                  "JSON object per line (time, level, logger, message, exc_info, pid, command, "
                  "role), and a long-running process's own status lines as JSON records too, "
                  "for Loki, Elasticsearch or a cloud's log service."},
    )

    def __post_init__(self) -> None:
        """Numbers in their range: a zero partition count, bucket size or de-duplication bound
        would otherwise run, and silently do nothing useful."""
        # One spelling of the log level for every user (" info " passed the CLI's check, then
        # failed Faust's logging set-up with a traceback; found in review, 2026-12-05).
        level = self.log_level.strip().upper() or "WARNING"
        if level not in LOG_LEVELS:
            raise SettingsError(f"{ENV_PREFIX}LOG_LEVEL={self.log_level!r} is not one of "
                                f"{', '.join(LOG_LEVELS)}")
        object.__setattr__(self, "log_level", level)
        log_format = self.log_format.strip().lower() or "text"
        if log_format not in LOG_FORMATS:
            raise SettingsError(f"{ENV_PREFIX}LOG_FORMAT={self.log_format!r} is not one of "
                                f"{', '.join(LOG_FORMATS)}")
        object.__setattr__(self, "log_format", log_format)
        for name in ("collector_user_agent", "reddit_user_agent"):
            agent = getattr(self, name)
            if any(not (" " <= c <= "~" or "\u00a0" <= c <= "\u00ff") for c in agent):
                # A line break would be a header injection, refused by aiohttp at every poll.
                raise SettingsError(f"{ENV_PREFIX}{name.upper()}={agent!r} holds a character "
                                    "an HTTP header cannot carry (a control character, or beyond "
                                    "Latin-1)")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            env = ENV_PREFIX + f.name.upper()
            if not math.isfinite(value):
                raise SettingsError(f"{env}={value!r} must be a finite number")
            if f.name.endswith("_port"):
                low = 1 if f.name == "embedded_broker_port" else 0
                if not low <= value <= 65535:
                    raise SettingsError(f"{env}={value!r} must be a port in {low}..65535")
            elif f.name in _ZERO_ALLOWED:
                if value < 0:
                    raise SettingsError(f"{env}={value!r} must be >= 0")
            elif value <= 0:
                raise SettingsError(f"{env}={value!r} must be > 0")
            bound = _AT_MOST.get(f.name) or _generic_bound(f.name)
            if bound is not None and value > bound[0]:
                raise SettingsError(f"{env}={value!r} must be at most {bound[0]:,.0f} ({bound[1]})")
        if self.broker_heartbeat_interval >= self.broker_session_timeout:
            raise SettingsError(
                f"{ENV_PREFIX}BROKER_HEARTBEAT_INTERVAL={self.broker_heartbeat_interval:g} must be "
                f"less than {ENV_PREFIX}BROKER_SESSION_TIMEOUT={self.broker_session_timeout:g} "
                "(a third of it or less, as Kafka advises): the group would drop the worker "
                "between two heartbeats")
        self._check_names()

    def _check_names(self) -> None:
        """The broker URL, app id and topic prefix: a malformed one failed deep inside a Kafka
        client (an IndexError, or a 30 s wait) or created topics with illegal names."""
        url = ENV_PREFIX + "BROKER_URL"
        servers = self.bootstrap_servers
        if not servers:
            raise SettingsError(f"{url}={self.broker_url!r} names no host:port "
                                "(kafka://host:port[;host:port])")
        for server in servers:
            if "://" in server:
                scheme = server.split("://")[0]
                hint = (f"; set {ENV_PREFIX}BROKER_SECURITY_PROTOCOL={scheme.upper()} for that"
                        if scheme.upper() in SECURITY_PROTOCOLS else "")
                raise SettingsError(f"{url}={self.broker_url!r}: {scheme}:// is not a Kafka URL "
                                    f"(kafka://host:port[;host:port]){hint}")
            found = _SERVER.fullmatch(server)
            if found is None or not 1 <= int(found["port"]) <= 65535:
                raise SettingsError(f"{url}={self.broker_url!r}: {server!r} is not host:port "
                                    "with a port in 1..65535")
            host = server.rpartition(":")[0]
            if not host.startswith("["):
                try:
                    # As each connection resolves it: an empty label ("kafka..example.com"),
                    # one too long, or a character IDNA refuses fails.
                    host.encode("idna")
                except UnicodeError:
                    # Each connection then failed with a UnicodeError: a traceback, or a 500
                    # from the webhook's /readyz (found in review, 2026-12-06).
                    raise SettingsError(f"{url}={self.broker_url!r}: {host!r} is not a host name "
                                        "(an empty label, one of more than 63 characters once "
                                        "IDNA-encoded, or a character IDNA refuses)") from None
        self._check_security()
        if self.report_language not in REPORT_LANGUAGES:
            raise SettingsError(f"{ENV_PREFIX}REPORT_LANGUAGE={self.report_language!r} must be "
                                f"one of {', '.join(REPORT_LANGUAGES)}")
        try:
            check_timezone(self.timezone)
        except TimezoneError as exc:
            raise SettingsError(f"{ENV_PREFIX}TIMEZONE: {exc}") from None
        if self.webhook_timezone:
            try:
                zone(self.webhook_timezone)
            except TimezoneError as exc:
                raise SettingsError(f"{ENV_PREFIX}WEBHOOK_TIMEZONE: {exc} (empty: times without "
                                    "an offset are refused)") from None
        # The prefix first: an app id left unset is derived from it.
        if not _TOPIC_CHARS.fullmatch(self.topic_prefix or "x"):
            raise SettingsError(f"{ENV_PREFIX}TOPIC_PREFIX={self.topic_prefix!r} must be letters, "
                                "digits, '.', '_' or '-' (Kafka's topic name characters)")
        if not _TOPIC_CHARS.fullmatch(self.app_id):
            raise SettingsError(f"{ENV_PREFIX}APP_ID={self.app_id!r} must be letters, digits, "
                                "'.', '_' or '-' (it names consumer groups and topics)")
        for name, value, suffix in (("TOPIC_PREFIX", self.topic_prefix, _LONGEST_TOPIC),
                                    ("APP_ID", self.app_id, _LONGEST_CHANGELOG)):
            if len(value) + len(suffix) > _MAX_TOPIC_NAME:
                derived = (" (unset: VEILLE_TOPIC_PREFIX + 'veille'; set it)"
                           if name == "APP_ID" and self.topic_prefix
                           and value == self.topic_prefix + "veille" else "")
                raise SettingsError(f"{ENV_PREFIX}{name}{derived} is {len(value)} characters "
                                    f"long: topic names (...{suffix}) would pass Kafka's "
                                    f"{_MAX_TOPIC_NAME}")

    def _check_security(self) -> None:
        """TLS and SASL: the protocol names what the other settings must say. A setting the
        protocol does not use is an error, not ignored (SASL credentials with SSL would connect
        without them and fail later, at the broker's ACLs)."""
        protocol = self.broker_security_protocol.strip().upper().replace("-", "_") or "PLAINTEXT"
        if protocol not in SECURITY_PROTOCOLS:
            raise SettingsError(f"{ENV_PREFIX}BROKER_SECURITY_PROTOCOL="
                                f"{self.broker_security_protocol!r} must be one of "
                                f"{', '.join(SECURITY_PROTOCOLS)}")
        object.__setattr__(self, "broker_security_protocol", protocol)
        mechanism = self.broker_sasl_mechanism.strip().upper().replace("_", "-")
        object.__setattr__(self, "broker_sasl_mechanism", mechanism)
        sasl = {"BROKER_SASL_MECHANISM": mechanism, "BROKER_SASL_USERNAME": self.broker_sasl_username,
                "BROKER_SASL_PASSWORD": self.broker_sasl_password}
        tls = {"BROKER_SSL_CAFILE": self.broker_ssl_cafile,
               "BROKER_SSL_CERTFILE": self.broker_ssl_certfile,
               "BROKER_SSL_KEYFILE": self.broker_ssl_keyfile}
        for uses, group in ((protocol.startswith("SASL_"), sasl), (protocol.endswith("SSL"), tls)):
            unused = [ENV_PREFIX + name for name, value in group.items() if value and not uses]
            if unused:
                them = "them" if len(unused) > 1 else "it"
                raise SettingsError(f"{', '.join(unused)} set, but {ENV_PREFIX}BROKER_SECURITY_"
                                    f"PROTOCOL={protocol} does not use {them}: set the protocol "
                                    f"that does, or leave {them} empty")
        if protocol.startswith("SASL_"):
            if mechanism not in SASL_MECHANISMS:
                raise SettingsError(f"{ENV_PREFIX}BROKER_SASL_MECHANISM={mechanism!r} must be one "
                                    f"of {', '.join(SASL_MECHANISMS)} with {protocol}")
            for name in ("BROKER_SASL_USERNAME", "BROKER_SASL_PASSWORD"):
                if not sasl[name].strip():
                    raise SettingsError(f"{ENV_PREFIX}{name} must be set with {protocol}")
        if bool(self.broker_ssl_certfile) != bool(self.broker_ssl_keyfile):
            raise SettingsError(f"{ENV_PREFIX}BROKER_SSL_CERTFILE and {ENV_PREFIX}BROKER_SSL_"
                                "KEYFILE go together (a client certificate and its key)")
        if protocol.endswith("SSL"):
            self.ssl_context()  # a missing or unreadable file is told now, not at a first send

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context every Kafka client shares (None without TLS): the system's trusted
        authorities or VEILLE_BROKER_SSL_CAFILE's, host names checked, and the client
        certificate when one is set."""
        if not self.broker_security_protocol.endswith("SSL"):
            return None
        return _ssl_context(self.broker_ssl_cafile, self.broker_ssl_certfile,
                            self.broker_ssl_keyfile)

    def kafka_client_options(self) -> dict[str, Any]:
        """Where and how a kafka-python or aiokafka client connects: the bootstrap servers and
        the security options."""
        return {"bootstrap_servers": self.bootstrap_servers, **self.kafka_security()}

    def kafka_security(self) -> dict[str, Any]:
        """The security options of a kafka-python or aiokafka client (the same names in both):
        empty for PLAINTEXT, so that a plaintext client is built exactly as before."""
        protocol = self.broker_security_protocol
        if protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol.endswith("SSL"):
            options["ssl_context"] = self.ssl_context()
        if protocol.startswith("SASL_"):
            options.update(sasl_mechanism=self.broker_sasl_mechanism,
                           sasl_plain_username=self.broker_sasl_username,
                           sasl_plain_password=self.broker_sasl_password)
        return options

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read VEILLE_* variables, converting each to the field's type; overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.metadata.get("env", True) is False or f.name in overrides:
                continue  # an override (a flag) wins: its variable, even malformed, is not read
            raw = env.get(ENV_PREFIX + f.name.upper())
            if f.metadata.get("secret"):
                raw = _secret_from_file(f.name, raw, env)
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, type(f.default))
        if "broker_url" in values:
            values["broker_url_set"] = True
        if "broker_url" in overrides:
            overrides.setdefault("broker_url_set", True)
        values.update(overrides)
        # A prefix separates the topics of two stacks on one cluster, but the consumer groups
        # and the tables' changelogs are named by the app id: with the default one, a staging
        # stack read and wrote production's spike and moderation state. Unless set, the app
        # id follows the prefix.
        if values.get("topic_prefix") and not values.get("app_id"):
            values["app_id"] = values["topic_prefix"] + "veille"
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def watchlist_path(self) -> Path:
        return Path(self.watchlist) if self.watchlist else packaged_watchlist()

    @property
    def bootstrap_servers(self) -> list[str]:
        """broker_url as kafka-python / aiokafka bootstrap servers: each server's own scheme
        (kafka://, aiokafka://, tcp://, any case) removed, empty entries dropped. Until
        2026-12-05 "kafka://" was removed anywhere in the text: aiokafka://host became
        "aiohost"."""
        servers = (_SCHEME.sub("", s.strip()) for s in self.broker_url.replace(",", ";").split(";"))
        return [s for s in servers if s]

    @property
    def broker_addresses(self) -> list[tuple[str, int]]:
        """bootstrap_servers as (host, port) pairs, an IPv6 host without its brackets, each once:
        what a probe connects to (the servers were checked as host:port when these settings were
        made)."""
        return list(dict.fromkeys(split_server(server) for server in self.bootstrap_servers))

    @property
    def faust_broker(self) -> str:
        """The broker URL Faust is given: the checked servers, each as kafka://host:port. The
        URL as written went to Faust, which read tcp:// as a transport it does not have (a
        traceback) and an empty entry (a stray ";") as 127.0.0.1:9092."""
        return ";".join(f"kafka://{s}" for s in self.bootstrap_servers)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name

    @property
    def enrich_group(self) -> str:
        """The enrichment stage's consumer group on mentions.raw (its committed offsets say how
        far it has read)."""
        return f"{self.app_id}-enrich"

    @property
    def group_request_timeout(self) -> float:
        """Seconds a group member's request may take: a JoinGroup waits up to the
        rebalance timeout for the other members, and Faust refuses a session timeout above its
        request timeout (90 s by default). Every consumer of a group uses it."""
        return max(90.0, self.broker_session_timeout + 30.0, self.broker_rebalance_timeout + 30.0)


#: VEILLE_BROKER_SECURITY_PROTOCOL's values (Kafka's security.protocol) and the SASL mechanisms
#: both kafka-python and aiokafka speak with a user name and password.
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@functools.lru_cache(maxsize=8)
def _ssl_context(cafile: str, certfile: str, keyfile: str) -> ssl.SSLContext:
    """One context per set of files, shared by every client of the process."""
    files = (("CAFILE", cafile), ("CERTFILE", certfile), ("KEYFILE", keyfile))
    for name, path in files:
        if path and not Path(path).is_file():
            raise SettingsError(f"{ENV_PREFIX}BROKER_SSL_{name}={path!r} is not a file")
    try:
        context = ssl.create_default_context(cafile=cafile or None)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError, ValueError) as exc:
        names = ", ".join(f"{ENV_PREFIX}BROKER_SSL_{n}" for n, v in files if v)
        raise SettingsError(f"TLS: cannot use {names or 'the system trust store'}: {exc}") from None
    return context


#: The languages `veille moderation report` is written in.
REPORT_LANGUAGES = ("en", "fr")

#: Upper bounds, with why: beyond them a time no longer fits a date (an OverflowError at the
#: first mention) or nothing useful happens.
_AT_MOST = {
    "max_future_seconds": (366 * 86400.0, "a year"),
    "max_age_days": (36500.0, "a century"),
    "moderation_retention_days": (36500.0, "a century"),
    "dlq_retention_days": (36500.0, "a century"),
    "mentions_retention_days": (36500.0, "a century"),
    "webhook_max_body_bytes": (64 * 2**20, "64 MiB: a body is held in memory whole"),
    # The collector remembers the signatures accepted within the window (bounded in number):
    # a longer one lets a captured request be replayed for longer once they are forgotten.
    "webhook_signature_tolerance_seconds": (86400.0, "a day: a signed request is fresh for that long"),
    # A text goes into three records (raw, enriched, by-brand signal), up to 6 bytes a
    # character once JSON-escaped (a control character): 100,000 keeps each one under Apache
    # Kafka's default 1 MB message limit. Above, the broker refused a valid mention's records,
    # and a collector answered 503 to it for ever (a webhook sender retrying without end).
    "max_text_chars": (100_000, "a record must fit in Apache Kafka's default 1 MB message limit"),
    # The ids sent in the rewind window are remembered (at most 20,000): a longer rewind would
    # send again what they no longer cover.
    "jetstream_rewind_seconds": (600.0, "10 minutes: the posts sent in the rewind are "
                                 "remembered to be sent once"),
    # A fetch waiting longer than the consumer's request timeout (90 s at the least) timed out
    # every time: the worker read nothing.
    "consumer_fetch_max_wait_ms": (60_000, "a minute: a fetch must answer within the consumer's "
                                   "request timeout"),
}
#: Milliseconds in a Kafka client's 32-bit fields: beyond, aiokafka fails at its first request
#: (a worker never ready, or every send failing).
_MAX_MS = 2**31 - 1


def _generic_bound(name: str) -> tuple[float, str] | None:
    """The upper bound of a numeric setting that `_AT_MOST` does not name, with why."""
    if name.endswith("_ms"):
        return float(_MAX_MS), "about 24.8 days: a Kafka client's 32-bit milliseconds"
    if name == "broker_rebalance_timeout":
        return 3600.0, "an hour: the group waits this long for a slow member at each rebalance"
    if name.startswith("broker_") and name != "broker_url":
        return 1800.0, "30 minutes: Apache Kafka's longest group session by default"
    if name == "spike_bucket_seconds":
        return 86400.0, "a day"
    if name.endswith("_seconds"):
        return 366 * 86400.0, "a year"
    if name == "topic_partitions":
        return 10000.0, ("each topic and changelog gets this many: more is far beyond the "
                         "partitions a broker is advised to hold")
    return None


#: A bootstrap server: host name, IPv4 or [IPv6], then a port.
#: The log levels VEILLE_LOG_LEVEL takes (any case, spaces around ignored).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The log formats VEILLE_LOG_FORMAT takes (any case, spaces around ignored).
LOG_FORMATS = ("text", "json")
#: The largest secret file VEILLE_<NAME>_FILE may name.
MAX_SECRET_FILE_BYTES = 64 * 1024


def split_server(server: str) -> tuple[str, int]:
    """A checked bootstrap server ("host:port", "[v6]:port") as (host, port), brackets removed."""
    host, _, port = server.rpartition(":")
    return host.strip("[]"), int(port)


#: A server's scheme in VEILLE_BROKER_URL: veille's (kafka://) and Faust's transports.
_SCHEME = re.compile(r"^(?:kafka|aiokafka|tcp)://", re.IGNORECASE)
#: host:port; a host name's letters may be any (bücher.example): its IDNA encoding is checked.
_SERVER = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+):(?P<port>\d{1,5})")
#: Characters Kafka allows in a topic name.
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]+")
_MAX_TOPIC_NAME = 249
#: The longest names built on the topic prefix, and on the app id (a Faust table's changelog).
_LONGEST_TOPIC = "moderation.decisions"
_LONGEST_CHANGELOG = "-moderation-cases-changelog"

#: Numeric settings for which 0 means something (no linger, no lateness, no fetch wait).
_ZERO_ALLOWED = frozenset(("producer_linger_ms", "spike_lateness_seconds", "spike_early_seconds",
                           "consumer_fetch_max_wait_ms", "moderation_retention_days",
                           "dlq_retention_days", "mentions_retention_days",
                           "watchlist_reload_seconds", "jetstream_rewind_seconds"))


#: VEILLE_ variables that are not settings but are read (or set by the deployment) elsewhere.
OTHER_VARIABLES = frozenset((
    "VEILLE_REPLAY_RATE",  # veille demo's replay rate
    "VEILLE_TANSU_BIN",  # the embedded broker's binary
    "VEILLE_REVISION",  # the source revision built (veille.build), set in the image
    "VEILLE_WATCHLIST_FILE",  # docker-compose: the watch list mounted in the containers
    "VEILLE_WEBHOOK_HOST_PORT", "VEILLE_MODERATION_API_HOST_PORT",  # docker-compose ports
))


#: What Kubernetes sets for each Service of a namespace (service links): a Service named
#: `veille` gives VEILLE_SERVICE_HOST, VEILLE_SERVICE_PORT[_<PORT NAME>],
#: VEILLE_PORT_9464_TCP[_PROTO|_PORT|_ADDR] and VEILLE_PORT=tcp://...: not typos of a setting.
_SERVICE_LINK = re.compile(r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
                           r"|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)")
_SERVICE_LINK_VALUE = re.compile(r"(tcp|udp|sctp)://", re.IGNORECASE)


def unknown_variables(env: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """(name, the closest known name or None) of each VEILLE_ variable of `env` that veille does
    not read: a misspelt one (VEILLE_TOPICS_PREFIX) is otherwise silently ignored, and the
    default it meant to change is used (the production topics, no webhook secret)."""
    import difflib

    known = {env for env, _, _ in settings_table()}
    known |= {ENV_PREFIX + f.name.upper() + "_FILE" for f in fields(Settings)
              if f.metadata.get("secret")}
    known |= OTHER_VARIABLES
    candidates = sorted(known)
    out = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and name not in known:
            if _SERVICE_LINK.fullmatch(name) or (
                    name.endswith("_PORT") and _SERVICE_LINK_VALUE.match(env[name])):
                continue  # Kubernetes' service links (a setting's own *_PORT is read)
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.8)
            out.append((name, close[0] if close else None))
    return out


def _secret_from_file(name: str, raw: str | None, env: Mapping[str, str]) -> str | None:
    """A secret's value, from VEILLE_<NAME>_FILE when that is set (a Docker or Kubernetes
    secret mounted as a file, kept out of the environment, `docker inspect` and crash reports):
    the file's text without its final line break. Both set, or a file missing, unreadable,
    not UTF-8 or empty, is an error: a secret that silently went empty would switch a check
    off."""
    var = ENV_PREFIX + name.upper()
    path = env.get(var + "_FILE")
    if not path:
        return raw
    if raw:
        raise SettingsError(f"{var} and {var}_FILE are both set: keep one")
    try:
        # A regular file of a secret's size: /dev/zero or a FIFO was read for ever (found in
        # review, 2026-12-05).
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SettingsError(f"{var}_FILE={path!r} is not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_SECRET_FILE_BYTES + 1)
        if len(data) > MAX_SECRET_FILE_BYTES:
            raise SettingsError(f"{var}_FILE={path!r} is larger than a secret "
                                f"({MAX_SECRET_FILE_BYTES // 1024} KiB at most)")
        text = data.decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"{var}_FILE={path!r}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{var}_FILE={path!r} is not UTF-8 text") from None
    value = text.removesuffix("\n").removesuffix("\r")
    if not value.strip():
        raise SettingsError(f"{var}_FILE={path!r} is empty")
    return value


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        hint = ""
        if name.endswith("_port") and _SERVICE_LINK_VALUE.match(raw):
            hint = (": it looks like a Kubernetes service link (a Service named "
                    f"{'veille-' + name[:-5].replace('_', '-')!r} sets it); set enableServiceLinks: false "
                    "in the pod spec, or rename the Service")
        raise SettingsError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}{hint}"
        ) from None


class SettingsError(ValueError):
    """A setting has a value of the wrong type."""


def settings_table() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every public setting, for docs and --help."""
    rows = []
    for f in fields(Settings):
        if f.metadata.get("env", True) is False:
            continue
        text = f.metadata.get("help", "")
        if f.metadata.get("secret"):
            text += f" Or {ENV_PREFIX}{f.name.upper()}_FILE: a file holding it."
        rows.append((ENV_PREFIX + f.name.upper(), repr(f.default), text))
    return rows
