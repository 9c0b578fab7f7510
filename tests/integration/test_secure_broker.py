"""veille on a broker that takes only TLS and SASL (a managed Kafka: Confluent Cloud, MSK...):
every client of veille connects through VEILLE_BROKER_SECURITY_PROTOCOL and its settings.

The embedded broker speaks plaintext only: tests/secure_proxy.py's SecureProxy stands in front
of it (TLS, then SASL/PLAIN authentication), and the broker advertises the proxy, so that every
connection a client makes after bootstrapping goes through it too. A client of veille left
plaintext or without credentials cannot talk to it: it fails (checked at the end)."""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path

import pytest

from streams.topics import MENTIONS_ENRICHED, MENTIONS_RAW, ensure_topics
from tests.conftest import TEST_SESSION_TIMEOUT
from tests.integration.test_moderation import TEXTS
from tests.integration.test_secure_proxy import secure_stack
from tests.moderation_helpers import WATCHLIST, mention, wait_for
from tests.secure_proxy import make_certs
from veille.broker import free_port, sign_in_problem
from veille.collectors.producer import make_producer
from veille.moderate.commands import list_cases
from veille.settings import Settings

pytestmark = pytest.mark.integration

USERS = {"veille": "s3cret-passw0rd"}


def secure_settings(proxy_url: str, ca_file: str, tmp_path: Path, **changes: object) -> Settings:
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {},
        broker_url=proxy_url,
        broker_security_protocol="SASL_SSL",
        broker_sasl_mechanism="PLAIN",
        broker_sasl_username="veille",
        broker_sasl_password=USERS["veille"],
        broker_ssl_cafile=ca_file,
        app_id=f"veille-secure-{tag}",
        topic_prefix=f"s{tag}.",
        data_dir=str(tmp_path / "state"),
        metrics_port=free_port(),
        broker_session_timeout=TEST_SESSION_TIMEOUT,
        watchlist=WATCHLIST,
        **changes,
    )


def test_every_client_of_veille_speaks_tls_and_sasl(tmp_path: Path, start_worker, caplog) -> None:
    import logging

    from veille.logs import keep_secrets_out_of_logs

    (tmp_path / "certs").mkdir()
    ca_file, server_context = make_certs(tmp_path / "certs")
    with secure_stack(tmp_path, tls=server_context, users=USERS) as proxy:
        settings = secure_settings(proxy.url, ca_file, tmp_path)
        with caplog.at_level(logging.DEBUG):
            # As every command does (thin_client_logs); not the repeat filter, which would stay
            # on pytest's capture handler and hold the next tests' client messages back.
            keep_secrets_out_of_logs()
            ensure_topics(settings)  # kafka-python's admin client
        # kafka-python's admin client logs its whole configuration at DEBUG: not the password
        # (until 2026-12-06, VEILLE_LOG_LEVEL=DEBUG printed it).
        assert "kafka" in caplog.text and USERS["veille"] not in caplog.text
        # The worker (role all): Faust's consumers and producer (its agents), the enrichment
        # stage's aiokafka clients, the tables' recovery reads and the heartbeat.
        worker = start_worker(settings)
        # A collector's producer (kafka-python, idempotent).
        producer = make_producer(settings)
        ids = ["s1", "s2", "s3"]
        for mention_id, text in zip(ids, (TEXTS["m4"], TEXTS["m6"], TEXTS["m5"]), strict=True):
            key, value = mention(mention_id, text)
            producer.send(settings.topic(MENTIONS_RAW), key=key, value=value)
        producer.flush(30)
        producer.close()

        # The enriched records, read back with the same options (aiokafka-compatible names).
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(settings.topic(MENTIONS_ENRICHED), **settings.kafka_client_options(),
                                 group_id=None, auto_offset_reset="earliest",
                                 consumer_timeout_ms=1000)
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while seen != set(ids) and time.monotonic() < deadline:
            seen |= {json.loads(r.value)["id"] for r in consumer}
        consumer.close()
        assert seen == set(ids)

        # The moderation agent (Faust, tables) queued the boycott; the moderator tools read it.
        def pending() -> list[str]:
            out = io.StringIO()
            list_cases(settings, as_json=True, out=out)
            return [json.loads(line)["case_id"] for line in out.getvalue().splitlines()]

        wait_for(lambda: "s1" in pending(), 30, "the boycott case, read by the moderator tools")
        # The heartbeat beats through the secure endpoint (a plaintext one never would).
        beat = worker.metric("veille_heartbeat_timestamp_seconds")
        assert time.time() - beat < 10, beat
        # The start-up and /readyz probe: TLS with the CA's certificate, SASL, a Metadata request.
        assert sign_in_problem(settings) is None
        assert "not trusted" in (sign_in_problem(settings.with_(broker_ssl_cafile="")) or "")
        assert proxy.authenticated > 0 and proxy.failed == 0

        # The same clients without credentials, or with the wrong password, are refused: the
        # settings above are what made them work.
        wrong = settings.with_(broker_sasl_password="not-the-password")
        from streams.topics import TopicError

        with pytest.raises(TopicError):
            ensure_topics(wrong, timeout=5.0)
        assert proxy.failed > 0
