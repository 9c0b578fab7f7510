"""Which addresses a source's server may send a collector to (server-side request forgery).

The operators choose the sources' addresses, and some are internal on purpose (an intranet
feed on 10.x, a test server on 127.0.0.1): the hosts they name are trusted as configured. A
server may also answer with a redirect to any address; a host reached that way must resolve
only to public (global unicast) addresses, or a feed's server could turn the collector against
the cloud metadata service (169.254.169.254), a database on the private network or an admin
page on the collector's own machine (the answer's body becoming mentions).

Names are checked when they are resolved, by `GuardedResolver` (the connector connects to the
addresses it returns: a name that resolves once to a public address and then to an internal one,
DNS rebinding, cannot pass). aiohttp does not resolve an IP literal, so a redirect to one is
checked by `refused_literal` before the request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Shared address space (RFC 6598, carrier-grade NAT); Python's is_global says so only from 3.12.
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
#: NAT64's well-known prefix (RFC 6052): the IPv4 address in its last 32 bits is the one reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class ForbiddenAddress(OSError):
    """A host reached by a redirect is, or resolves to, an address that is not public."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} is not a public address" if host == address
                         else f"{host} resolves to {address}, not a public address")
        self.host = host
        self.address = address


def is_public_address(value: str | IPAddress) -> bool:
    """True for a global unicast address only: not loopback, private (RFC 1918, ULA fc00::/7),
    link-local (169.254.0.0/16: cloud metadata; fe80::/10), multicast, unspecified, reserved,
    shared (100.64.0.0/10), documentation or benchmark ranges, nor an IPv6 form of one of those
    (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:AABB:CCDD::). A string that
    is no address is not public."""
    if isinstance(value, str):
        try:
            address: IPAddress = ipaddress.ip_address(value)
        except ValueError:
            return False
    else:
        address = value
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:  # fe80::1%eth0: a link's own address
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return is_public_address(embedded)
    elif address in _CGNAT:
        return False
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def looks_like_ip_literal(host: str) -> bool:
    """aiohttp's own test of a host it connects to without resolving it (an IPv4 of digits and
    dots, anything with a colon): such a host never reaches the resolver."""
    return ":" in host or host.replace(".", "").isdigit()


def host_key(host: str) -> str:
    """A host as compared with the configured ones: lower case, no trailing dot, an IP literal
    in its normal form (`[0:0::1]` is `::1`)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


class AddressPolicy:
    """The hosts of the configured sources, trusted whatever they resolve to; any other host
    must be public."""

    def __init__(self, trusted_hosts: Iterable[str]) -> None:
        self.trust(trusted_hosts)

    def trust(self, trusted_hosts: Iterable[str]) -> None:
        """The configured hosts, from now on (a changed watch list: a host of a feed taken off is
        no longer trusted)."""
        self.trusted = frozenset(host_key(h) for h in trusted_hosts if h)

    def is_trusted(self, host: str) -> bool:
        return host_key(host) in self.trusted

    def refused_literal(self, host: str | None) -> ForbiddenAddress | None:
        """Why a request to `host` (a URL's raw host) must not be made, when it is an IP literal
        that is neither configured nor public; None otherwise (a name is the resolver's)."""
        if host is None or not looks_like_ip_literal(host) or self.is_trusted(host):
            return None
        if is_public_address(host.strip("[]")):
            return None
        return ForbiddenAddress(host, host)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver, and refuses a host that is not configured
    when any of its addresses is not public (ForbiddenAddress: aiohttp raises it as the
    os_error of a ClientConnectorDNSError). Pass it to the session's TCPConnector: the
    connection is made to the addresses checked here."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self._inner.resolve(host, port, family)
        if not self.policy.is_trusted(host):
            for found in addresses:
                if not is_public_address(found["host"]):
                    raise ForbiddenAddress(host, found["host"])
        return addresses

    async def close(self) -> None:
        await self._inner.close()
