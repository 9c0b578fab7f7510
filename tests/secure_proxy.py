"""A real TLS and SASL/PLAIN endpoint in front of the embedded broker, for tests.

Tansu (0.6.0) speaks neither TLS nor SASL, so the Kafka clients' secure settings cannot be
tested against it directly. SecureProxy listens on 127.0.0.1 and forwards to the broker:

* with `tls` (a server ssl.SSLContext, see make_certs()), every accepted connection is TLS;
* with `users` ({username: password}), a connection must authenticate with SASL PLAIN first.
  The proxy reads the client's Kafka frames until then: ApiVersions (key 18) goes to the broker
  and its answer comes back (made to list SaslHandshake and SaslAuthenticate at the versions
  answered here); SaslHandshake (17) and SaslAuthenticate (36) are answered by the proxy
  itself; anything else closes the connection. Once authenticated, bytes go both ways
  unparsed, as through tests/proxy_helpers.py's BrokerProxy.

Tansu 0.6.0 already lists SaslHandshake 0-1 and SaslAuthenticate 0-2 in its ApiVersions answer
(it does not implement them for real here); the rewrite (ensure_sasl_versions) only matters for
a broker that does not, and keeps both entries to exactly what the proxy answers. Seen from the
clients: kafka-python 3.0.12 asks ApiVersions v4 (flexible), SaslHandshake v1, SaslAuthenticate
v2 (flexible); aiokafka 0.14.0 (and Faust over it) ApiVersions v0, SaslHandshake v1,
SaslAuthenticate v1. SaslHandshake v0's raw tokens are handled too, though neither uses them.

Both together are SASL_SSL, `users` alone SASL_PLAINTEXT, `tls` alone SSL.

Kafka clients connect, after bootstrapping, to the address in the broker's metadata, so the
broker must advertise the proxy's address. The listener is bound in the constructor, so the
order is: proxy first, then the broker, then the proxy's upstream:

    proxy = SecureProxy(tls=server_ctx, users={"alice": "secret"}).start()
    broker = EmbeddedBroker(free_port(), advertised=proxy.address).start()
    proxy.upstream = (broker.host, broker.port)

All connections are served by one asyncio loop in one thread (asyncio does TLS properly on
non-blocking sockets, which a selector over ssl.SSLSocket does not); stop() closes every
connection and the listener and joins that thread.

Needs the `trustme` package (a dev dependency; it brings `cryptography`) for make_certs().
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
import socket
import ssl
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

# -- Kafka protocol constants ------------------------------------------------------------------

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36

#: The versions of the two SASL APIs the proxy answers, as it advertises them in ApiVersions.
#: SaslHandshake v0 is followed by raw size-prefixed SASL tokens (no Kafka header), v1 by
#: SaslAuthenticate requests; SaslAuthenticate v1 adds session_lifetime_ms, v2 is flexible.
SASL_VERSIONS = {SASL_HANDSHAKE: (0, 1), SASL_AUTHENTICATE: (0, 2)}

#: First "flexible" version (KIP-482: request header v2 with tagged fields, compact strings and
#: arrays in the body) of the APIs parsed here. SaslHandshake never became flexible.
_FIRST_FLEXIBLE = {API_VERSIONS: 3, SASL_AUTHENTICATE: 2}

NONE = 0
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58

#: Largest frame accepted before authentication (Kafka's sasl.server.max.receive.size).
MAX_UNAUTHENTICATED_FRAME = 512 * 1024


class ProtocolError(Exception):
    """A frame the proxy cannot parse: the connection is closed."""


# -- encoding helpers --------------------------------------------------------------------------


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Reader:
    """Cursor over a frame's bytes, for the few Kafka types parsed here."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ProtocolError("frame too short")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int16(self) -> int:
        return int(struct.unpack(">h", self.take(2))[0])

    def int32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 28:
                raise ProtocolError("varint too long")

    def nullable_string(self) -> str | None:
        n = self.int16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def compact_string(self) -> str | None:
        n = self.uvarint() - 1  # length + 1; 0 is null
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def bytes32(self) -> bytes:
        n = self.int32()
        return b"" if n < 0 else self.take(n)

    def compact_bytes(self) -> bytes:
        n = self.uvarint() - 1
        return b"" if n < 0 else self.take(n)

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.take(self.uvarint())  # size, data

    def rest(self) -> bytes:
        return self.data[self.pos:]


def _string(s: str | None) -> bytes:
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _compact_string(s: str | None) -> bytes:
    if s is None:
        return b"\x00"
    b = s.encode()
    return _uvarint(len(b) + 1) + b


# -- request header ----------------------------------------------------------------------------


class RequestHeader:
    """api_key, api_version, correlation_id, client_id of a request frame (without the size),
    and `body`: the position where the request body starts."""

    def __init__(self, frame: bytes) -> None:
        r = _Reader(frame)
        self.api_key = r.int16()
        self.api_version = r.int16()
        self.correlation_id = r.int32()
        # client_id stays a non-compact nullable string even in the flexible header v2.
        self.client_id = r.nullable_string()
        self.flexible = self.api_version >= _FIRST_FLEXIBLE.get(self.api_key, 1 << 15)
        if self.flexible:
            r.skip_tagged_fields()
        self.body = r.pos


def response_frame(correlation_id: int, body: bytes, flexible_header: bool = False) -> bytes:
    """A size-prefixed response: header v0 (correlation id) or v1 (plus empty tagged fields)."""
    head = struct.pack(">i", correlation_id) + (b"\x00" if flexible_header else b"")
    return struct.pack(">i", len(head) + len(body)) + head + body


# -- ApiVersions answer ------------------------------------------------------------------------


def ensure_sasl_versions(body: bytes, version: int) -> bytes:
    """The broker's ApiVersions response body (after the correlation id) made to list the SASL
    APIs at SASL_VERSIONS: the proxy answers them, whatever the broker says of them.

    v0-v2: error_code int16, api_keys int32-counted array of (key, min, max) int16s, then (v1+)
    throttle_time_ms. v3+ (flexible): the array's count is a compact uvarint (N + 1) and each
    entry ends with tagged fields; throttle_time_ms and the body's tagged fields (supported and
    finalized features) follow and are kept byte for byte. An answer with an error (the
    broker answers an ApiVersions version it does not know with UNSUPPORTED_VERSION, in v0
    format) is relayed as is.
    """
    r = _Reader(body)
    if r.int16() != NONE:
        return body
    flexible = version >= _FIRST_FLEXIBLE[API_VERSIONS]
    count = r.uvarint() - 1 if flexible else r.int32()
    entries: list[tuple[int, int, int, bytes]] = []
    for _ in range(max(count, 0)):
        key, lo, hi = struct.unpack(">hhh", r.take(6))
        tags = b""
        if flexible:
            start = r.pos
            r.skip_tagged_fields()
            tags = body[start:r.pos]
        entries.append((key, lo, hi, tags))
    rest = r.rest()
    wanted = dict(SASL_VERSIONS)
    out_entries = []
    for key, lo, hi, tags in entries:
        if key in wanted:
            lo, hi = wanted.pop(key)
        out_entries.append((key, lo, hi, tags))
    for key, (lo, hi) in sorted(wanted.items()):  # those the broker did not list
        out_entries.append((key, lo, hi, b"\x00" if flexible else b""))
    out = bytearray(struct.pack(">h", NONE))
    out += _uvarint(len(out_entries) + 1) if flexible else struct.pack(">i", len(out_entries))
    for key, lo, hi, tags in out_entries:
        out += struct.pack(">hhh", key, lo, hi) + tags
    return bytes(out) + rest


def parse_api_versions(body: bytes, version: int) -> dict[int, tuple[int, int]]:
    """{api_key: (min, max)} of an ApiVersions response body (for tests and checks)."""
    r = _Reader(body)
    r.int16()
    flexible = version >= _FIRST_FLEXIBLE[API_VERSIONS]
    count = r.uvarint() - 1 if flexible else r.int32()
    out = {}
    for _ in range(max(count, 0)):
        key, lo, hi = struct.unpack(">hhh", r.take(6))
        if flexible:
            r.skip_tagged_fields()
        out[key] = (lo, hi)
    return out


# -- SASL answers ------------------------------------------------------------------------------


def sasl_handshake_response(error: int) -> bytes:
    """SaslHandshake response v0/v1 body: error_code, mechanisms (int32-counted strings)."""
    return struct.pack(">hi", error, 1) + _string("PLAIN")


def sasl_authenticate_response(version: int, error: int, message: str | None) -> bytes:
    """SaslAuthenticate response body: error_code, error_message, auth_bytes (empty: PLAIN has
    no server challenge), then session_lifetime_ms (v1+; 0: no re-authentication needed).
    v2 is flexible: compact string and bytes, and tagged fields at the end."""
    if version >= _FIRST_FLEXIBLE[SASL_AUTHENTICATE]:
        return (struct.pack(">h", error) + _compact_string(message) + _uvarint(1)
                + struct.pack(">q", 0) + b"\x00")
    out = struct.pack(">h", error) + _string(message) + struct.pack(">i", 0)
    if version >= 1:
        out += struct.pack(">q", 0)
    return out


def check_plain(token: bytes, users: dict[str, str]) -> str | None:
    """The user a SASL PLAIN token (RFC 4616: authzid NUL authcid NUL passwd) authenticates,
    or None. As Kafka: an authorization id, when given, must be the user itself."""
    parts = token.split(b"\x00")
    if len(parts) != 3:
        return None
    authzid, user, password = (p.decode("utf-8", "replace") for p in parts)
    expected = users.get(user)
    if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
        return None
    if authzid and authzid != user:
        return None
    return user


# -- certificates ------------------------------------------------------------------------------


def make_certs(tmp_dir: str | Path, *names: str) -> tuple[str, ssl.SSLContext]:
    """A throwaway CA and a server certificate for `names` (default 127.0.0.1 and localhost).

    Returns the CA's PEM file (in `tmp_dir`; a client's `cafile`, ssl_cafile or
    ssl.create_default_context(cafile=...)) and the server context for SecureProxy(tls=...).
    """
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
    ca_file = Path(tmp_dir) / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    return str(ca_file), server


def client_context(ca_file: str) -> ssl.SSLContext:
    """A client context that trusts only the test CA (hostname checked)."""
    return ssl.create_default_context(cafile=ca_file)


# -- the proxy ---------------------------------------------------------------------------------


class _Closed(Exception):
    """The connection ends here (bad or refused request, failed authentication)."""


class SecureProxy:
    """Forwards 127.0.0.1:port, with TLS and/or SASL PLAIN, to the broker at `upstream`.

    `upstream` may be given later (attribute or set_upstream()), but before clients connect:
    a connection accepted without one is closed. Counters for tests: `accepted` connections,
    `authenticated` and `failed` SASL authentications, `tls_failures` (handshakes that did not
    complete), `upstream_failures`; `requests` counts (api_key, api_version) of every request
    the proxy parsed (what the clients negotiated).
    """

    def __init__(self, upstream_host: str | None = None, upstream_port: int | None = None, *,
                 tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0, handshake_timeout: float = 10.0,
                 auth_timeout: float = 10.0) -> None:
        self.upstream: tuple[str, int] | None = (
            (upstream_host, int(upstream_port))
            if upstream_host is not None and upstream_port is not None else None)
        self.tls = tls
        self.users = dict(users) if users is not None else None
        self.host = host
        self.handshake_timeout = handshake_timeout
        self.auth_timeout = auth_timeout
        # Bound and listening now: the port is known before the broker that advertises it
        # starts, and connections made before start() wait in the backlog.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])
        self.accepted = 0
        self.authenticated = 0
        self.failed = 0
        self.tls_failures = 0
        self.upstream_failures = 0
        self.requests: collections.Counter[tuple[int, int]] = collections.Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # -- public API ----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.address}"

    @property
    def security_protocol(self) -> str:
        """The client setting this proxy asks for: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
        if self.users is not None:
            return "SASL_SSL" if self.tls is not None else "SASL_PLAINTEXT"
        return "SSL" if self.tls is not None else "PLAINTEXT"

    def set_upstream(self, host: str, port: int) -> SecureProxy:
        self.upstream = (host, int(port))
        return self

    def start(self) -> SecureProxy:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name=f"secure-proxy-{self.port}",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("secure proxy did not start")
        if self._start_error is not None:
            raise RuntimeError("secure proxy did not start") from self._start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection (aborted, no TLS close_notify wait) and end
        the proxy's thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                fut.result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError("secure proxy thread did not end")
        self._sock.close()  # when never started (or already closed by the server: no-op)

    def open_connections(self) -> int:
        """Client connections being served (TLS handshake, authentication or piping)."""
        return len(self._tasks)

    def __enter__(self) -> SecureProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the loop's thread ---------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(self._on_loop_error)
        try:
            # Plain TCP here: _serve() upgrades to TLS itself (StreamWriter.start_tls), so that
            # a failed handshake is seen, and counted, rather than only logged by asyncio.
            self._server = loop.run_until_complete(asyncio.start_server(
                self._serve, sock=self._sock))
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @staticmethod
    def _on_loop_error(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # A connection reset during a TLS close is routine here: not worth an error log.
        if isinstance(context.get("exception"), (ssl.SSLError, ConnectionError)):
            log.debug("secure proxy: %s: %r", context.get("message"), context.get("exception"))
            return
        loop.default_exception_handler(context)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._transports):
            t.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- one connection ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.accepted += 1
        mine: list[asyncio.BaseTransport] = []  # this connection's, aborted at its end

        def track(t: asyncio.BaseTransport) -> None:
            mine.append(t)
            self._transports.add(t)

        track(writer.transport)
        try:
            if self.tls is not None:
                try:
                    await writer.start_tls(self.tls, ssl_handshake_timeout=self.handshake_timeout)
                except (ssl.SSLError, OSError, TimeoutError) as exc:
                    # E.g. a PLAINTEXT client: its first request is no ClientHello.
                    self.tls_failures += 1
                    log.debug("secure proxy: TLS handshake failed: %r", exc)
                    return
                track(writer.transport)  # start_tls put the TLS transport on top of the TCP one
            upstream = self.upstream
            if upstream is None:
                self.upstream_failures += 1
                return
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*upstream), 5)
            except (OSError, TimeoutError):
                self.upstream_failures += 1
                return
            track(up_writer.transport)
            if self.users is not None:
                await asyncio.wait_for(self._authenticate(reader, writer, up_reader, up_writer),
                                       self.auth_timeout)
            await self._pipe(reader, writer, up_reader, up_writer)
        except _Closed as exc:
            # Refused: the answer already written (an error code the client reports) must
            # reach it before the close; abort() would drop what TLS has not sent yet.
            log.debug("secure proxy: connection refused: %s", exc)
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (OSError, TimeoutError, ssl.SSLError):
                pass
        except (ProtocolError, ConnectionError, ssl.SSLError, OSError,
                asyncio.IncompleteReadError, TimeoutError) as exc:
            log.debug("secure proxy: connection closed: %r", exc)
        except asyncio.CancelledError:
            pass
        finally:
            for t in reversed(mine):
                t.abort()
                self._transports.discard(t)
            self._tasks.discard(task)  # type: ignore[arg-type]

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        if size < 0 or size > limit:
            raise ProtocolError(f"frame of {size} bytes")
        return await reader.readexactly(size)

    async def _authenticate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            up_reader: asyncio.StreamReader,
                            up_writer: asyncio.StreamWriter) -> None:
        """Read the client's requests until SASL PLAIN succeeds; raise _Closed otherwise."""
        assert self.users is not None
        handshake_version: int | None = None
        while True:
            frame = await self._read_frame(reader, MAX_UNAUTHENTICATED_FRAME)
            if handshake_version == 0:
                # After SaslHandshake v0 the token comes raw: size + bytes, no Kafka header.
                # Success is an empty size-prefixed token; failure, a closed connection.
                if self._check(frame):
                    writer.write(struct.pack(">i", 0))
                    await writer.drain()
                    return
                raise _Closed("SASL PLAIN (raw token) failed")
            hdr = RequestHeader(frame)
            self.requests[(hdr.api_key, hdr.api_version)] += 1
            if hdr.api_key == API_VERSIONS:
                # The broker answers (to the same correlation id); the proxy adjusts the list.
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                await up_writer.drain()
                answer = await self._read_frame(up_reader, 1 << 20)
                if len(answer) < 4:
                    raise ProtocolError("short ApiVersions answer")
                try:
                    body = ensure_sasl_versions(answer[4:], hdr.api_version)
                except ProtocolError:
                    body = answer[4:]
                # ApiVersions' response header stays v0 even in its flexible versions (the
                # client must read it before knowing which versions the broker has).
                writer.write(struct.pack(">i", len(body) + 4) + answer[:4] + body)
                await writer.drain()
            elif hdr.api_key == SASL_HANDSHAKE and hdr.api_version in (0, 1):
                mechanism = _Reader(frame, hdr.body).nullable_string()
                ok = mechanism == "PLAIN"
                writer.write(response_frame(hdr.correlation_id, sasl_handshake_response(
                    NONE if ok else UNSUPPORTED_SASL_MECHANISM)))
                await writer.drain()
                if not ok:
                    self.failed += 1
                    raise _Closed(f"unsupported SASL mechanism {mechanism!r}")
                handshake_version = hdr.api_version
            elif (hdr.api_key == SASL_AUTHENTICATE and handshake_version == 1
                  and hdr.api_version <= SASL_VERSIONS[SASL_AUTHENTICATE][1]):
                r = _Reader(frame, hdr.body)
                token = r.compact_bytes() if hdr.flexible else r.bytes32()
                ok = self._check(token)
                body = sasl_authenticate_response(
                    hdr.api_version, NONE if ok else SASL_AUTHENTICATION_FAILED,
                    None if ok else "Authentication failed: Invalid username or password")
                writer.write(response_frame(hdr.correlation_id, body, hdr.flexible))
                await writer.drain()
                if not ok:
                    raise _Closed("SASL PLAIN failed")
                return
            else:
                # Anything else before authentication (Kafka closes too; an out-of-order
                # SaslAuthenticate would be ILLEGAL_SASL_STATE there).
                raise _Closed(f"request {hdr.api_key} v{hdr.api_version} before authentication")

    def _check(self, token: bytes) -> bool:
        assert self.users is not None
        user = check_plain(token, self.users)
        if user is None:
            self.failed += 1
            return False
        self.authenticated += 1
        return True

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        """Copy both ways until either side closes."""

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while True:
                data = await src.read(65536)
                if not data:
                    return
                dst.write(data)
                await dst.drain()

        tasks = [asyncio.ensure_future(copy(reader, up_writer)),
                 asyncio.ensure_future(copy(up_reader, writer))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                t.exception()  # retrieved: a reset connection ends the pair, quietly
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
