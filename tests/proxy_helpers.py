"""A TCP proxy in front of the broker whose cut() looks, to every client, like a broker that died.

The embedded broker keeps its data in memory: stopping it for real loses every topic. The proxy
makes the outage real from the clients' side instead: cut() resets every open connection and
stops listening (new connections are refused, ECONNREFUSED, as on a port nobody listens on);
restore() listens again on the same port. The broker must advertise the proxy's address
(EmbeddedBroker(advertised=...)): Kafka clients reconnect to the address in metadata, not to
their bootstrap address.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


def _listen(host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(128)
    return s


def _hold(host: str, port: int) -> socket.socket:
    """A bound socket that does not listen: connections to the port are refused, and no other
    program can take the port (only a SO_REUSEADDR bind, as restore()'s, can)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    return s


@dataclass(eq=False)
class _Pair:
    client: socket.socket
    upstream: socket.socket | None = None
    upstream_port: int = 0  # our local port towards the broker
    reset: bool = False
    done: threading.Event = field(default_factory=threading.Event)


class BrokerProxy:
    """Forwards 127.0.0.1:port to the broker at `upstream`, one thread per connection."""

    def __init__(self, upstream_host: str, upstream_port: int, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self._lock = threading.Lock()
        self._listener: socket.socket | None = _listen(host, port)
        self._holder: socket.socket | None = None
        self.port = int(self._listener.getsockname()[1])
        self._pairs: set[_Pair] = set()
        self._stopped = threading.Event()
        #: Connections accepted, and upstream connections that failed, since start.
        self.accepted = 0
        self.upstream_failures = 0
        self._thread = threading.Thread(target=self._accept_loop, name="broker-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.address}"

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def start(self) -> BrokerProxy:
        self._thread.start()
        return self

    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def upstream_ports(self) -> set[int]:
        """Local ports of the proxy's connections to the broker (to tell them from others)."""
        with self._lock:
            return {p.upstream_port for p in self._pairs if p.upstream_port}

    def cut(self, timeout: float = 10.0) -> None:
        """Refuse new connections and reset every open one; returns once all are closed."""
        with self._lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.close()
                self._holder = _hold(self.host, self.port)
            pairs = list(self._pairs)
            for p in pairs:
                p.reset = True
                for s in (p.client, p.upstream):
                    if s is not None:
                        try:
                            # Wakes the connection's thread, which closes with a reset.
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
        deadline = time.monotonic() + timeout
        for p in pairs:
            if not p.done.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("a proxied connection did not close after cut()")

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        with self._lock:
            if self._listener is not None:
                return
            self._listener = _listen(self.host, self.port)
            if self._holder is not None:
                self._holder.close()
                self._holder = None

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        self._thread.join(5)
        with self._lock:
            if self._holder is not None:
                self._holder.close()
                self._holder = None

    def __enter__(self) -> BrokerProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- threads ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                with selectors.DefaultSelector() as sel:
                    sel.register(listener, selectors.EVENT_READ)
                    if not sel.select(0.1):
                        continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed by cut() meanwhile
                continue
            pair = _Pair(client)
            with self._lock:
                if self._listener is not listener:  # cut() between accept and here
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                    client.close()
                    continue
                self._pairs.add(pair)
                self.accepted += 1
            threading.Thread(target=self._forward, args=(pair,), daemon=True).start()

    def _forward(self, pair: _Pair) -> None:
        try:
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                with self._lock:
                    self.upstream_failures += 1
                pair.reset = True
                return
            up.settimeout(None)
            with self._lock:
                pair.upstream = up
                pair.upstream_port = int(up.getsockname()[1])
                if pair.reset:  # cut() while we connected
                    return
            with selectors.DefaultSelector() as sel:
                sel.register(pair.client, selectors.EVENT_READ, up)
                sel.register(up, selectors.EVENT_READ, pair.client)
                while not pair.reset:
                    for key, _ in sel.select(0.5):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)
        except OSError:
            pass
        finally:
            for s in (pair.client, pair.upstream):
                if s is None:
                    continue
                if pair.reset:
                    try:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                    except OSError:
                        pass
                s.close()
            with self._lock:
                self._pairs.discard(pair)
            pair.done.set()


def established_to(port: int) -> set[int]:
    """Local ports of the established IPv4 TCP connections to 127.0.0.1:`port` on this host
    (from /proc/net/tcp), whatever process holds them."""
    ports: set[int] = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, remote, state = cols[1], cols[2], cols[3]
            rip, rport = remote.split(":")
            if state == "01" and int(rport, 16) == port and rip == "0100007F":
                ports.add(int(local.split(":")[1], 16))
    return ports
