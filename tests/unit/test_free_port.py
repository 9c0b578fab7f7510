"""free_port: listening ports chosen where outgoing connections never take them."""

from __future__ import annotations

import socket

from veille.broker import ephemeral_ports, free_port, port_is_free


def test_free_ports_are_below_the_kernels_outgoing_range_and_free() -> None:
    low, high = ephemeral_ports()
    assert 1024 <= low < high
    ports = [free_port() for _ in range(50)]
    assert all(low - 16384 <= port < low for port in ports), ports
    assert all(port_is_free("127.0.0.1", port) for port in ports)
    assert len(set(ports)) > 40  # chosen at random, not one port again and again


def test_a_port_some_listener_holds_is_not_free() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", free_port()))
        s.listen()
        assert not port_is_free("127.0.0.1", s.getsockname()[1])
