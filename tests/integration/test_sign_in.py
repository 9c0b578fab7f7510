"""A broker that answers but refuses veille's settings is told at once, with the setting to fix.

Kafka clients meeting a refused SASL password, an untrusted certificate or TLS on one side only
retry until their bootstrap wait ends (10-30 s) and then say "Unable to bootstrap"; until
2026-12-06 every command of veille said "cannot reach the broker" then, and the webhook's
/readyz said ready with a wrong password. `veille.broker.sign_in` makes one connection with the
clients' own options and names the cause. The secure endpoints are tests/secure_proxy.py's
(TLS and SASL/PLAIN in front of the embedded broker)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import assert_clear_error, run
from tests.integration.test_secure_proxy import secure_stack
from tests.integration.test_webhook import Served
from tests.secure_proxy import SecureProxy, make_certs
from veille.broker import EmbeddedBroker, free_port, sign_in, sign_in_problem
from veille.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-passw0rd"
NO_SASL = {"broker_sasl_mechanism": "", "broker_sasl_username": "", "broker_sasl_password": ""}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_certs(tmp_path_factory.mktemp("other-ca"))[0]


@pytest.fixture(scope="module")
def sasl_ssl(certs, tmp_path_factory) -> Iterator[SecureProxy]:
    with secure_stack(tmp_path_factory.mktemp("sasl-ssl"), tls=certs[1],
                      users={"veille": PASSWORD}) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def tls_only(certs, tmp_path_factory) -> Iterator[SecureProxy]:
    with secure_stack(tmp_path_factory.mktemp("tls"), tls=certs[1]) as proxy:
        yield proxy


def secure(url: str, ca_file: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "broker_url": url, "broker_security_protocol": "SASL_SSL",
        "broker_sasl_mechanism": "PLAIN", "broker_sasl_username": "veille",
        "broker_sasl_password": PASSWORD, "broker_ssl_cafile": ca_file}
    return Settings.from_env({}, **{**values, **changes})


@pytest.mark.parametrize(("changes", "told"), [
    ({"broker_sasl_password": "not-the-password"},
     ["refused the SASL sign-in of user 'veille'", "Invalid username or password",
      "VEILLE_BROKER_SASL_USERNAME", "VEILLE_BROKER_SASL_PASSWORD"]),
    ({"broker_sasl_username": "mallory"}, ["refused the SASL sign-in of user 'mallory'"]),
    ({"broker_sasl_mechanism": "SCRAM-SHA-256"},
     ["does not take the SASL mechanism SCRAM-SHA-256", "VEILLE_BROKER_SASL_MECHANISM"]),
    ({"broker_ssl_cafile": "OTHER"},
     ["TLS certificate is not trusted", "VEILLE_BROKER_SSL_CAFILE=", "do not vouch for it"]),
    ({"broker_ssl_cafile": ""}, ["not trusted", "the system's authorities do not vouch"]),
    ({"broker_security_protocol": "PLAINTEXT", "broker_ssl_cafile": "", **NO_SASL},
     ["speaks TLS, but VEILLE_BROKER_SECURITY_PROTOCOL=PLAINTEXT: set it to SSL"]),
    ({"broker_security_protocol": "SASL_PLAINTEXT", "broker_ssl_cafile": ""},
     ["speaks TLS, but VEILLE_BROKER_SECURITY_PROTOCOL=SASL_PLAINTEXT: set it to SASL_SSL"]),
    ({"broker_security_protocol": "SSL", **NO_SASL},
     ["closed the connection on a request made without signing in", "may require SASL"]),
], ids=["password", "user", "mechanism", "other-ca", "system-ca", "plaintext", "sasl-plaintext",
        "tls-without-sasl"])
def test_each_refusal_is_told_with_the_setting_to_fix(sasl_ssl, certs, other_ca, changes,
                                                      told) -> None:
    changes = {k: other_ca if v == "OTHER" else v for k, v in changes.items()}
    assert sign_in_problem(secure(sasl_ssl.url, certs[0])) is None  # the right settings pass
    settings = secure(sasl_ssl.url, certs[0], **changes)
    problem = sign_in_problem(settings)
    assert problem is not None
    for words in told:
        assert words in problem, problem
    for secret in {PASSWORD, settings.broker_sasl_password} - {""}:
        assert secret not in problem


def test_tls_without_sasl_passes_where_the_listener_asks_no_sign_in(tls_only, certs) -> None:
    assert sign_in_problem(secure(tls_only.url, certs[0], broker_security_protocol="SSL",
                                  **NO_SASL)) is None
    problem = sign_in_problem(secure(tls_only.url, certs[0]))  # SASL_SSL: no SASL there
    assert problem is not None and "does not take the SASL mechanism PLAIN" in problem, problem


def test_tls_settings_at_a_plaintext_listener(broker: EmbeddedBroker, certs) -> None:
    """The embedded broker speaks plaintext: a TLS client's handshake gets no answer there (it
    waits for the rest of a Kafka frame), the probe's timeout ends it and a plaintext request
    tells why."""
    for protocol, fix in (("SSL", "PLAINTEXT"), ("SASL_SSL", "SASL_PLAINTEXT")):
        settings = secure(broker.url, certs[0], broker_security_protocol=protocol,
                          **(NO_SASL if protocol == "SSL" else {}))
        problem = sign_in_problem(settings, timeout=1.0)
        assert problem is not None
        assert (f"speaks Kafka without TLS, but VEILLE_BROKER_SECURITY_PROTOCOL={protocol}: set it "
                f"to {fix}") in problem, problem
    assert sign_in_problem(Settings.from_env({}, broker_url=broker.url)) is None


def test_no_answer_is_not_a_misconfiguration() -> None:
    """Nobody listening: no diagnosis (a worker waits for its broker; a command says it cannot
    reach it), and no wait for it: refused connections end the check at once, not its timeout
    (made 60 s here, so that the bound, 20 s, is far from both the normal time, milliseconds, and
    a wait, for a loaded machine)."""
    started = time.monotonic()
    settings = Settings.from_env({}, broker_url=f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}",
                                 broker_security_protocol="SSL")
    assert sign_in_problem(settings, timeout=60.0) is None
    assert time.monotonic() - started < 20


@pytest.fixture
def secure_env(sasl_ssl, certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"BROKER_URL": sasl_ssl.url, "BROKER_SECURITY_PROTOCOL": "SASL_SSL",
                        "BROKER_SASL_MECHANISM": "PLAIN", "BROKER_SASL_USERNAME": "veille",
                        "BROKER_SASL_PASSWORD": "not-the-password",
                        "BROKER_SSL_CAFILE": certs[0], "DATA_DIR": str(tmp_path / "state"),
                        "TOPIC_PREFIX": f"signin{free_port()}."}.items():
        monkeypatch.setenv("VEILLE_" + name, value)


@pytest.mark.parametrize("command", [
    ["moderate", "list"], ["topics"], ["alerts"], ["worker"],
    ["collect", "webhook", "--port", "0"], ["moderate", "serve", "--port", "0"],
], ids=lambda c: " ".join(c[:2]))
def test_commands_refuse_a_wrong_password_at_once(secure_env, capsys, command) -> None:
    """One-shot commands (which said "cannot reach the broker" after their client's 10-30 s
    bootstrap wait) and the long-running ones (the worker and the webhook ran on, their clients
    retrying; the moderation API answered each request after 30 s with a 503)."""
    started = time.monotonic()
    status, _, err = run(capsys, *command)
    assert_clear_error(status, err, "cannot sign in to the broker at ")
    assert "refused the SASL sign-in of user 'veille'" in err and "VEILLE_BROKER_SASL_PASSWORD" in err
    assert "not-the-password" not in err
    assert time.monotonic() - started < 8  # not the clients' bootstrap wait


def test_webhook_readyz_signs_in(sasl_ssl, certs) -> None:
    """/readyz made the TLS handshake alone: a wrong password read as ready (until 2026-12-06)."""
    right = secure(sasl_ssl.url, certs[0], topic_prefix=f"signin{free_port()}.")
    served = [Served(right), Served(right.with_(broker_sasl_password="not-the-password"))]
    try:
        assert served[0].client.get("/readyz").json() == {"status": "ready"}
        answer = served[1].client.get("/readyz")
        assert answer.status_code == 503, answer.text
        detail = answer.json()["detail"]
        assert "refused the SASL sign-in" in detail and "not-the-password" not in detail
    finally:
        for s in served:
            s.stop()


def test_a_certificate_for_another_name(tmp_path: Path) -> None:
    ca_file, context = make_certs(tmp_path, "broker.example")
    with secure_stack(tmp_path, tls=context) as proxy:
        problem = sign_in_problem(secure(proxy.url, ca_file, broker_security_protocol="SSL",
                                         **NO_SASL))
    assert problem is not None
    assert "certificate is not valid for the host name '127.0.0.1'" in problem, problem


def test_a_client_certificate_required(tmp_path: Path) -> None:
    """Mutual TLS without a client certificate. With TLS 1.3 the client's handshake completes
    and the server's refusal is an alert met by the first read: a plain OpenSSL server here
    (the proxy's asyncio TLS closes without sending the alert, as a Java broker does not)."""
    ca_file, context = make_certs(tmp_path)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(ca_file)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(16)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        url = f"127.0.0.1:{server.getsockname()[1]}"
        problem = sign_in_problem(secure(url, ca_file, broker_security_protocol="SSL", **NO_SASL),
                                  timeout=2.0)
    finally:
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_RDWR)  # wakes the accept(): close() alone does not
        server.close()
        thread.join(5)
        assert not thread.is_alive()
    assert problem is not None
    assert "the broker requires a client certificate: set VEILLE_BROKER_SSL_CERTFILE" in problem, \
        problem


@contextmanager
def metadata_delayed(upstream: EmbeddedBroker, delay: float) -> Iterator[str]:
    """A proxy in front of `upstream` that holds each Metadata request for `delay` seconds (a busy
    broker): "host:port"."""
    ready = threading.Event()
    stop = threading.Event()
    address: list[str] = []

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      hold: bool) -> None:
        try:
            while True:
                head = await reader.readexactly(4)
                frame = await reader.readexactly(struct.unpack(">i", head)[0])
                if hold and frame[:2] == b"\x00\x03":
                    await asyncio.sleep(delay)
                writer.write(head + frame)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream.host, upstream.port)
        await asyncio.gather(forward(reader, up_writer, True), forward(up_reader, writer, False))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        address.append(f"127.0.0.1:{server.sockets[0].getsockname()[1]}")
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield address[0]
    finally:
        stop.set()
        thread.join(5)


def test_a_busy_broker_is_not_refused(broker: EmbeddedBroker) -> None:
    """A broker that signs veille in but answers the Metadata request after the probe's timeout
    is busy, not misconfigured: no diagnosis (found in review: "it may require SASL", and the
    worker refused to start)."""
    with metadata_delayed(broker, 3.0) as url:
        assert sign_in_problem(Settings.from_env({}, broker_url=url), timeout=1.0) is None


def test_webhook_readyz_signs_in_once(sasl_ssl, certs, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once signed in, /readyz asks the broker for the TLS handshake alone: a sign-in per request
    made a TLS connection and a SASL authentication per load balancer hit (found in review)."""
    from veille.collectors import webhook

    calls: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> tuple[bool, str]:
        calls.append(1)
        return await sign_in(*args, **kwargs)

    monkeypatch.setattr(webhook, "sign_in", counted)
    served = Served(secure(sasl_ssl.url, certs[0], topic_prefix=f"signin{free_port()}."))
    try:
        for _ in range(3):
            assert served.client.get("/readyz").json() == {"status": "ready"}
    finally:
        served.stop()
    assert len(calls) == 1


def test_the_moderation_api_tells_a_broker_that_refuses_it(sasl_ssl, certs) -> None:
    """Started with the right settings (the start refuses wrong ones), then refused, as when a
    password is changed on the broker while the API runs: each request's 503 said only "the
    broker did not answer or acknowledge in time", after kafka-python's 30 s bootstrap wait."""
    from tests.moderation_helpers import ServedApi
    from veille.moderate.store import ModerationStore

    wrong = secure(sasl_ssl.url, certs[0], broker_sasl_password="rotated-away",
                   topic_prefix=f"signin{free_port()}.")
    served = ServedApi(wrong, store=ModerationStore(wrong, ack_timeout=2.0, read_timeout=3.0))
    try:
        started = time.monotonic()
        answer = served.client.get("/cases")
        assert (answer.status_code, answer.json()["error"]) == (503, "broker_unavailable")
        detail = answer.json()["detail"]
        assert "the broker refuses the API: the broker refused the SASL sign-in" in detail, detail
        assert "VEILLE_BROKER_SASL_PASSWORD" in detail and "rotated-away" not in detail
        assert time.monotonic() - started < 15  # the store's read timeout, not kafka-python's 30 s
    finally:
        served.close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel completes them) and never answers, as a hung
    broker or a firewall that accepts: "host:port"."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


@contextmanager
def dead_server() -> Iterator[str]:
    """A port whose connections are never completed, as a host gone or a firewall that drops:
    a listener whose accept queue is full (Linux drops the SYN then, and the client retries
    until its timeout)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        fill = [socket.socket() for _ in range(4)]
        try:
            for s in fill:
                s.setblocking(False)
                s.connect_ex(server.getsockname())
            time.sleep(0.2)
            with pytest.raises(TimeoutError):  # a dead port indeed, else the tests prove nothing
                socket.create_connection(server.getsockname(), timeout=0.3).close()
            yield f"127.0.0.1:{server.getsockname()[1]}"
        finally:
            for s in fill:
                s.close()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_silent_servers_cost_the_check_its_timeout_at_most(protocol: str) -> None:
    """A server that accepts and never answers is no diagnosis, told within the check's
    timeout: each step of the probe had a timeout of its own, and servers were asked in turn
    (two or three times the timeout per server, until 2026-12-06: a worker waited 15 s, a
    webhook's /readyz 6 s).

    Four silent servers: asked in turn, they cost 4 timeouts at least (8 s), asked at once one
    (2 s); the bound, 5 s, leaves 3 s either way for a loaded machine."""
    sasl = {"broker_sasl_mechanism": "PLAIN", "broker_sasl_username": "veille",
            "broker_sasl_password": PASSWORD} if protocol.startswith("SASL") else NO_SASL
    with contextlib.ExitStack() as stack:
        silent = [stack.enter_context(silent_server()) for _ in range(4)]
        settings = Settings.from_env({}, broker_url=",".join(silent),
                                     broker_security_protocol=protocol, **sasl)
        started = time.monotonic()
        assert asyncio.run(sign_in(settings, timeout=2.0)) == (False, "")
        assert time.monotonic() - started < 2.0 + 3


@pytest.mark.parametrize("first", [dead_server, silent_server], ids=["dead", "silent"])
def test_a_dead_or_silent_server_does_not_delay_a_live_one(
        broker: EmbeddedBroker, first, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's and collectors' check (sign_in_problem) and the one-shot commands' (which
    asks first whether any server accepts a connection): the live broker's answer ends them.
    Until 2026-12-06 a dead first server cost a one-shot command 8 s, a silent one 10 s."""
    from veille import broker as broker_module
    from veille.cli import _reachable

    # The checks' timeouts made 30 s (3 s and 5 s in use): waited out, even once, they are far
    # above the bound (10 s), itself far above the live broker's answer (a fraction of a second)
    # for a loaded machine (six test processes on two cores).
    reachable, signed_in = broker_module.reachable, broker_module.sign_in
    monkeypatch.setattr(broker_module, "reachable",
                        lambda servers, timeout=30.0: reachable(servers, timeout))
    monkeypatch.setattr(broker_module, "sign_in",
                        lambda settings, timeout=30.0: signed_in(settings, timeout))
    with first() as away:
        settings = Settings.from_env({}, broker_url=f"kafka://{away},{broker.bootstrap}")
        for check in (lambda: sign_in_problem(settings, timeout=30.0),
                      lambda: _reachable(settings) and None):
            started = time.monotonic()
            assert check() is None
            assert time.monotonic() - started < 10


def test_a_diagnosis_behind_a_silent_server(broker: EmbeddedBroker, certs) -> None:
    """The live broker's diagnosis is still given, within the check's timeout, when the first
    server of the list never answers.

    Three silent servers first: asked in turn, they cost two timeouts each at least (the TLS
    handshake's, the request's: 12 s), asked at once one (2 s); the bound, 5 s, leaves 3 s for a
    loaded machine."""
    with silent_server() as s1, silent_server() as s2, silent_server() as s3:
        settings = secure(f"kafka://{s1},{s2},{s3},{broker.bootstrap}", certs[0],
                          broker_security_protocol="SSL", **NO_SASL)
        started = time.monotonic()
        problem = sign_in_problem(settings, timeout=2.0)
        assert time.monotonic() - started < 2.0 + 3
    assert problem is not None
    assert f"{broker.bootstrap} speaks Kafka without TLS" in problem, problem


@pytest.mark.parametrize("command", [["alerts"], ["collect", "replay"]], ids=" ".join)
def test_one_shot_commands_refuse_a_silent_broker_within_the_check(capsys, tmp_path, command) -> None:
    """Found in review (2026-12-06): a port that accepts connections and never answers (a hung
    broker, a port that is not Kafka's) passed the checks; the command's Kafka client then
    waited 15-30 s (`collect replay` 35 s), logging its retries, and said "Unable to bootstrap"."""
    if command[-1] == "replay":
        mentions = tmp_path / "one.jsonl"
        mentions.write_text('{"id": "a", "text": "hello", "source": "test"}\n')
        command = [*command, str(mentions)]
    with silent_server() as away:
        started = time.monotonic()
        status, _, err = run(capsys, *command, "--broker-url", f"kafka://{away}")
        elapsed = time.monotonic() - started
    assert_clear_error(status, err, f"the broker at kafka://{away} accepts connections but answered "
                                    "no Kafka request within 5 s")
    assert "Unable to bootstrap" not in err
    # The check's timeout (5 s), not the client's 15-30 s: room for a loaded machine either way.
    assert elapsed < 5 + 6


def test_webhook_readyz_asks_every_server_at_once(
        settings, broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plaintext broker (and a secure one once signed in) is asked by /readyz for a bare answer
    (a Metadata request, a TLS handshake), 1 s at most per server asked in turn until 2026-12-06:
    two silent servers before the live one made every /readyz take 2 s."""
    from veille.collectors import webhook

    # The answer's timeout made 10 s (1 s in use): one silent server waited out, or three in
    # turn (30 s), are far above the bound (5 s), itself far above the live broker's answer.
    monkeypatch.setattr(webhook, "ANSWER_TIMEOUT", 10.0)
    with silent_server() as first, silent_server() as second, silent_server() as third:
        served = Served(settings.with_(broker_url=f"{first},{second},{third},{broker.bootstrap}"))
        try:
            for _ in range(2):
                started = time.monotonic()
                assert served.client.get("/readyz").json() == {"status": "ready"}
                # The live broker's answer, not the silent servers' timeout.
                assert time.monotonic() - started < 5
        finally:
            served.stop()


@contextmanager
def odd_versions_server() -> Iterator[str]:
    """A server that answers every Kafka request with an ApiVersions answer whose versions make
    no sense (a minimum above the maximum): aiokafka's connection raises an AssertionError, no
    OSError or KafkaError. "host:port"."""
    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, struct.error):
            while len(head := conn.recv(4, socket.MSG_WAITALL)) == 4:
                frame = conn.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
                correlation = struct.unpack(">i", frame[4:8])[0]
                body = struct.pack(">ihi", correlation, 0, 1) + struct.pack(">hhh", 18, 3, 0)
                conn.sendall(struct.pack(">i", len(body)) + body)

    def serve(server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=handle, args=(server.accept()[0],), daemon=True).start()

    with socket.create_server(("127.0.0.1", 0)) as server:
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        try:
            yield f"127.0.0.1:{server.getsockname()[1]}"
        finally:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)  # wakes the accept()


def test_a_server_whose_probe_raises_does_not_end_the_check(broker: EmbeddedBroker) -> None:
    """An unexpected error from one server's probe (here aiokafka's AssertionError at absurd API
    versions) is no answer from that server: it raised out of sign_in, and so out of every
    command's check, /readyz and the moderation API's 503, even with a live server first in the
    list (found in review: the servers asked at once, the broken one fails first)."""
    with odd_versions_server() as odd, metadata_delayed(broker, 0.3) as live:
        settings = Settings.from_env({}, broker_url=f"{live},{odd}")
        assert asyncio.run(sign_in(settings, timeout=3.0)) == (True, "")
        alone = Settings.from_env({}, broker_url=odd)
        assert asyncio.run(sign_in(alone, timeout=1.0)) == (False, "")


def test_a_server_whose_bare_probe_raises_is_no_answer_from_it(broker: EmbeddedBroker) -> None:
    """The webhook's /readyz asks every server at once (any_answers) for a bare answer: a probe
    raising what no probe expects (a host name whose IDNA encoding raises UnicodeError, which the
    settings now refuse) ended /readyz with a 500 although the live broker came first in the
    list (found in review, 2026-12-06; asked in turn, the live one answered). It is no answer
    from that server."""
    from veille.broker import any_answers, metadata_answers

    def answers(host: str, port: int, timeout: float) -> bool:
        if host == "kafka..example.com":
            raise UnicodeError("label empty or too long")
        return metadata_answers(host, port, timeout)

    live_host, _, live_port = broker.bootstrap.rpartition(":")
    both = [(live_host, int(live_port)), ("kafka..example.com", 9092)]
    assert asyncio.run(any_answers(both, answers, 1.0)) is True
    assert asyncio.run(any_answers(both[1:], answers, 1.0)) is False


def test_an_ipv6_server_is_named_as_in_its_url() -> None:
    """A diagnosis names the server as VEILLE_BROKER_URL writes it: `[::1]:9093`, not `::1:9093`
    (brackets stripped for the connection were left out of the message; found in review,
    2026-12-06)."""
    from veille.broker import _tls_failure

    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    settings = Settings.from_env({}, broker_url="kafka://[::1]:9093", broker_security_protocol="SSL")
    assert _tls_failure(error, "::1", 9093, settings) == \
        "the TLS handshake with [::1]:9093 failed (WRONG_VERSION_NUMBER)"
