"""The clients veille uses (kafka-python, aiokafka, Faust) against a real TLS / SASL PLAIN endpoint:
tests/secure_proxy.py's SecureProxy in front of an embedded broker that advertises the proxy.

Each security setting needs a broker of its own: a broker advertises one address, and clients
connect to it after bootstrapping."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.kafka_helpers import start_broker
from tests.secure_proxy import (
    API_VERSIONS,
    SASL_AUTHENTICATE,
    SASL_HANDSHAKE,
    SecureProxy,
    client_context,
    ensure_sasl_versions,
    make_certs,
    parse_api_versions,
)

ROOT = Path(__file__).resolve().parents[2]
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
#: Short enough that a failure is an error within seconds, never a hang.
FAST = dict(request_timeout_ms=5000, bootstrap_timeout_ms=5000)


@contextmanager
def secure_stack(tmp: Path, **proxy_kw: object) -> Iterator[SecureProxy]:
    """Proxy listening first, then a broker advertising it, then the proxy pointed at it."""
    proxy = SecureProxy(**proxy_kw).start()  # type: ignore[arg-type]
    broker = None
    try:
        broker = start_broker(advertised=proxy.address, log_path=tmp / f"tansu-{proxy.port}.log")
        proxy.upstream = (broker.host, broker.port)
        yield proxy
    finally:
        proxy.stop()
        if broker is not None:
            broker.stop()
    assert proxy.open_connections() == 0
    with pytest.raises(ConnectionRefusedError):  # the listener is closed: no leaked port
        socket.create_connection((proxy.host, proxy.port), timeout=2).close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, object]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_proxy(certs, tmp_path_factory) -> Iterator[SecureProxy]:
    with secure_stack(tmp_path_factory.mktemp("tls"), tls=certs[1]) as p:
        yield p


@pytest.fixture(scope="module")
def sasl_ssl_proxy(certs, tmp_path_factory) -> Iterator[SecureProxy]:
    with secure_stack(tmp_path_factory.mktemp("sasl-ssl"), tls=certs[1], users=USERS) as p:
        yield p


@pytest.fixture(scope="module")
def sasl_plain_proxy(tmp_path_factory) -> Iterator[SecureProxy]:
    with secure_stack(tmp_path_factory.mktemp("sasl-plain"), users=USERS) as p:
        yield p


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [t for t in threading.enumerate()
              if t.ident not in before and t.name.startswith("secure-proxy")]
    assert not leaked


def topic_name() -> str:
    return f"secure-{uuid.uuid4().hex[:8]}"


# -- kafka-python ----------------------------------------------------------------------------


def kp_security(proxy: SecureProxy, ca_file: str | None, password: str | None = None) -> dict:
    kw: dict = {"bootstrap_servers": proxy.address, "security_protocol": proxy.security_protocol}
    if ca_file is not None:
        kw["ssl_context"] = client_context(ca_file)
    if password is not None:
        kw.update(sasl_mechanism="PLAIN", sasl_plain_username="alice",
                  sasl_plain_password=password)
    return kw


def kp_create_topic(kw: dict, topic: str) -> list[str]:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(**kw, **FAST)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        return admin.list_topics()
    finally:
        admin.close()


def kp_roundtrip(kw: dict, topic: str, n: int = 10) -> list[bytes]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(**kw, **FAST, acks="all")
    try:
        for i in range(n):
            producer.send(topic, value=f"record-{i}".encode())
        producer.flush(10)
    finally:
        producer.close(5)
    consumer = KafkaConsumer(**kw, **FAST, group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=10000)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got: list[bytes] = []
        for msg in consumer:
            got.append(msg.value)
            if len(got) == n:
                break
        return got
    finally:
        consumer.close()


# -- aiokafka --------------------------------------------------------------------------------


def aio_security(proxy: SecureProxy, ca_file: str | None, password: str) -> dict:
    kw: dict = {"bootstrap_servers": proxy.address, "security_protocol": proxy.security_protocol,
                "sasl_mechanism": "PLAIN", "sasl_plain_username": "alice",
                "sasl_plain_password": password, "request_timeout_ms": 5000}
    if ca_file is not None:
        kw["ssl_context"] = client_context(ca_file)
    return kw


async def aio_roundtrip(kw: dict, topic: str, n: int = 10) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(**kw, acks="all")
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"aio-{i}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **kw, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(15):
            while len(got) < n:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return got


# -- protocol unit checks ----------------------------------------------------------------------


def test_api_versions_rewrite_adds_sasl_apis() -> None:
    """An ApiVersions answer without the SASL APIs gets them, in v0 and flexible v3 encoding;
    a range the broker gives is replaced by the proxy's, and the trailing fields are kept."""
    import struct

    # v0: error, int32 count, (key, min, max); v1+: throttle_time_ms after.
    v1 = struct.pack(">hi", 0, 2) + struct.pack(">hhh", 3, 0, 12) + struct.pack(">hhh", 17, 0, 0)
    v1 += struct.pack(">i", 0)
    out = ensure_sasl_versions(v1, 1)
    assert parse_api_versions(out, 1) == {3: (0, 12), SASL_HANDSHAKE: (0, 1),
                                          SASL_AUTHENTICATE: (0, 2)}
    assert out.endswith(struct.pack(">i", 0))
    # v3: compact array (N + 1), entry tagged fields, throttle, body tagged fields.
    tail = struct.pack(">i", 0) + bytes.fromhex("0100010101")  # one tag (0), 1 byte: 01
    v3 = struct.pack(">h", 0) + b"\x02" + struct.pack(">hhh", API_VERSIONS, 0, 4) + b"\x00" + tail
    out = ensure_sasl_versions(v3, 3)
    assert parse_api_versions(out, 3) == {API_VERSIONS: (0, 4), SASL_HANDSHAKE: (0, 1),
                                          SASL_AUTHENTICATE: (0, 2)}
    assert out.endswith(tail)
    # An error answer (UNSUPPORTED_VERSION, in v0 format) is relayed untouched.
    err = struct.pack(">hi", 35, 1) + struct.pack(">hhh", 18, 0, 3)
    assert ensure_sasl_versions(err, 4) == err


# -- (1) TLS only ------------------------------------------------------------------------------


def test_tls_kafka_python_roundtrip(tls_proxy: SecureProxy, certs) -> None:
    kw = kp_security(tls_proxy, certs[0])
    assert kw["security_protocol"] == "SSL"
    topic = topic_name()
    assert topic in kp_create_topic(kw, topic)
    got = kp_roundtrip(kw, topic)
    assert got == [f"record-{i}".encode() for i in range(10)]


def test_tls_refuses_plaintext_client(tls_proxy: SecureProxy) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    before = tls_proxy.tls_failures
    started = time.monotonic()
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=tls_proxy.address, security_protocol="PLAINTEXT",
                         request_timeout_ms=3000, bootstrap_timeout_ms=3000)
    assert time.monotonic() - started < 20
    assert tls_proxy.tls_failures > before


# -- (2) SASL_SSL ------------------------------------------------------------------------------


def test_sasl_ssl_aiokafka_and_admin(sasl_ssl_proxy: SecureProxy, certs) -> None:
    proxy = sasl_ssl_proxy
    before = proxy.authenticated
    topic = topic_name()
    listed = kp_create_topic(kp_security(proxy, certs[0], USERS["alice"]), topic)
    assert topic in listed
    got = asyncio.run(aio_roundtrip(aio_security(proxy, certs[0], USERS["alice"]), topic))
    assert got == [f"aio-{i}".encode() for i in range(10)]
    assert proxy.authenticated > before
    # The versions the clients negotiated, all answered by the proxy itself.
    assert proxy.requests[(SASL_HANDSHAKE, 1)] > 0
    assert proxy.requests[(SASL_AUTHENTICATE, 2)] > 0  # kafka-python: flexible v2
    assert proxy.requests[(SASL_AUTHENTICATE, 1)] > 0  # aiokafka: v1


def test_sasl_ssl_wrong_password(sasl_ssl_proxy: SecureProxy, certs,
                                 caplog: pytest.LogCaptureFixture) -> None:
    """Both clients get error 58 (SASL_AUTHENTICATION_FAILED) with the proxy's message; each
    reports it wrapped in a bootstrap failure (aiokafka at once, kafka-python after its
    bootstrap_timeout_ms of retries), never a hang."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaTimeoutError

    proxy = sasl_ssl_proxy
    before = proxy.failed

    async def aio() -> None:
        producer = AIOKafkaProducer(**aio_security(proxy, certs[0], "wrong"))
        try:
            await producer.start()
        finally:
            await producer.stop()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        with pytest.raises(KafkaConnectionError, match="Unable to bootstrap"):
            asyncio.run(aio())
        assert "Authentication failed: Invalid username or password" in caplog.text
        assert time.monotonic() - started < 10
        caplog.clear()
        with pytest.raises(KafkaTimeoutError):
            KafkaAdminClient(**kp_security(proxy, certs[0], "wrong"),
                             request_timeout_ms=3000, bootstrap_timeout_ms=3000)
        assert "[Error 58] SaslAuthenticationFailedError" in caplog.text
        assert "Authentication failed: Invalid username or password" in caplog.text
    assert time.monotonic() - started < 20
    assert proxy.failed >= before + 2


def test_sasl_unsupported_mechanism(sasl_ssl_proxy: SecureProxy, certs,
                                    caplog: pytest.LogCaptureFixture) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError

    async def aio() -> None:
        kw = aio_security(sasl_ssl_proxy, certs[0], USERS["alice"])
        kw["sasl_mechanism"] = "SCRAM-SHA-256"
        producer = AIOKafkaProducer(**kw)
        try:
            await producer.start()
        finally:
            await producer.stop()

    with caplog.at_level(logging.WARNING), pytest.raises(KafkaConnectionError):
        asyncio.run(aio())
    assert "UnsupportedSaslMechanism" in caplog.text  # error 33 from the handshake


def _request(api_key: int, version: int, correlation: int, body: bytes = b"") -> bytes:
    import struct

    msg = struct.pack(">hhih", api_key, version, correlation, 4) + b"test" + body
    return struct.pack(">i", len(msg)) + msg


def _answer(sock) -> bytes:
    import struct

    from veille.broker import _recv_exact

    head = _recv_exact(sock, 4)
    assert head is not None, "connection closed"
    data = _recv_exact(sock, struct.unpack(">i", head)[0])
    assert data is not None
    return data


def test_sasl_raw_frames(sasl_plain_proxy: SecureProxy) -> None:
    """What the clients do not exercise: SaslHandshake v0 followed by a raw token (no Kafka
    header; success is an empty token), then bytes piped to the broker; and a request other
    than ApiVersions / SASL before authentication, which closes the connection."""
    import struct

    host, port = sasl_plain_proxy.host, sasl_plain_proxy.port
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(_request(API_VERSIONS, 0, 1))
        answer = _answer(s)
        assert struct.unpack(">i", answer[:4])[0] == 1
        versions = parse_api_versions(answer[4:], 0)
        assert versions[SASL_HANDSHAKE] == (0, 1) and versions[SASL_AUTHENTICATE] == (0, 2)
        s.sendall(_request(SASL_HANDSHAKE, 0, 2, struct.pack(">h", 5) + b"PLAIN"))
        assert _answer(s) == struct.pack(">ihi", 2, 0, 1) + struct.pack(">h", 5) + b"PLAIN"
        token = b"\0alice\0" + USERS["alice"].encode()
        s.sendall(struct.pack(">i", len(token)) + token)
        assert s.recv(4) == b"\0\0\0\0"
        # Authenticated: a Metadata v0 request now reaches the broker, which answers it.
        s.sendall(_request(3, 0, 3, struct.pack(">i", 0)))
        assert struct.unpack(">i", _answer(s)[:4])[0] == 3
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(_request(3, 0, 4, struct.pack(">i", 0)))  # Metadata before SASL
        assert s.recv(4) == b""  # closed, unanswered
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(_request(SASL_HANDSHAKE, 1, 5, struct.pack(">h", 5) + b"PLAIN"))
        _answer(s)
        token = b"alice\0alice\0nope"
        s.sendall(_request(SASL_AUTHENTICATE, 0, 6, struct.pack(">i", len(token)) + token))
        answer = _answer(s)
        assert struct.unpack(">ih", answer[:6]) == (6, 58)
        assert b"Authentication failed" in answer
        assert s.recv(4) == b""  # then closed


# -- (3) SASL_PLAINTEXT ------------------------------------------------------------------------


def test_sasl_plaintext_both_clients(sasl_plain_proxy: SecureProxy) -> None:
    proxy = sasl_plain_proxy
    failed, authenticated = proxy.failed, proxy.authenticated
    kw = kp_security(proxy, None, USERS["alice"])
    assert kw["security_protocol"] == "SASL_PLAINTEXT"
    topic = topic_name()
    assert topic in kp_create_topic(kw, topic)
    assert kp_roundtrip(kw, topic) == [f"record-{i}".encode() for i in range(10)]
    got = asyncio.run(aio_roundtrip(aio_security(proxy, None, USERS["alice"]), topic))
    # The topic holds kafka-python's 10 records, then aiokafka's.
    assert got[:10] == [f"record-{i}".encode() for i in range(10)]
    assert proxy.failed == failed and proxy.authenticated >= authenticated + 4


# -- (4) Faust over SASL_SSL -------------------------------------------------------------------

FAUST_WORKER = textwrap.dedent("""
    import os, ssl, sys
    import faust

    ctx = ssl.create_default_context(cafile=os.environ["CA_FILE"])
    app = faust.App(
        os.environ["APP_ID"],
        broker=f"kafka://{os.environ['PROXY']}",
        broker_credentials=faust.SASLCredentials(
            username="alice", password=os.environ["PASSWORD"], mechanism="PLAIN",
            ssl_context=ctx),
        store="memory://", datadir=os.environ["DATA_DIR"], web_enabled=False,
        topic_partitions=1, topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_rebalance_timeout=3, broker_session_timeout=6, broker_heartbeat_interval=1,
    )
    src = app.topic(os.environ["TOPIC"], value_type=bytes, value_serializer="raw")

    @app.agent(src)
    async def record(stream):
        async for value in stream:
            with open(os.environ["OUT"], "ab") as f:
                f.write(value + b"\\n")

    faust.Worker(app, loglevel="info", quiet=True).execute_from_commandline()
""")


def test_faust_agent_over_sasl_ssl(sasl_ssl_proxy: SecureProxy, certs, tmp_path: Path) -> None:
    proxy = sasl_ssl_proxy
    topic = topic_name()
    kp_create_topic(kp_security(proxy, certs[0], USERS["alice"]), topic)
    out = tmp_path / "processed.txt"
    script = tmp_path / "faust_worker.py"
    script.write_text(FAUST_WORKER)
    env = dict(os.environ, CA_FILE=certs[0], PROXY=proxy.address, PASSWORD=USERS["alice"],
               APP_ID=f"secure-faust-{uuid.uuid4().hex[:8]}", TOPIC=topic,
               DATA_DIR=str(tmp_path / "data"), OUT=str(out),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(tmp_path / "worker.log", "wb")
    before = proxy.authenticated
    worker = subprocess.Popen([sys.executable, str(script), "worker"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    try:
        asyncio.run(_produce_aio(aio_security(proxy, certs[0], USERS["alice"]), topic))
        deadline = time.monotonic() + 60
        expected = [f"aio-{i}".encode() for i in range(10)]
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                break
            if out.exists() and out.read_bytes().splitlines() == expected:
                break
            time.sleep(0.2)
        assert out.exists() and out.read_bytes().splitlines() == expected, (
            (tmp_path / "worker.log").read_text(errors="replace")[-4000:])
        assert proxy.authenticated > before
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        log.close()


async def _produce_aio(kw: dict, topic: str, n: int = 10) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**kw, acks="all")
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"aio-{i}".encode())
    finally:
        await producer.stop()
