"""Checks of the URLs veille sends secrets to (a collector's instance, the moderation API):
light to import (no aiohttp), for the one-shot commands as for the collectors."""

from __future__ import annotations

from urllib.parse import urlsplit


def check_base_url(raw: str, *, name: str, error: type[Exception], example: str,
                   empty_hint: str, credentials_hint: str, api_path: str) -> str:
    """The setting `name` as a service's base URL without a trailing slash, or `error`:
    http(s), a host, a port in 1..65535, no credentials, query, fragment, spaces or API path
    (`api_path`, e.g. "/api/")."""
    url = raw.strip()
    if not url:
        raise error(f"{name} is empty: {empty_hint}, {example}")
    example = f"e.g. {example}"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        if "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            raise error(f"{name} is not a valid URL ({exc})") from None
        raise error(f"{name}={url!r} is not a valid URL ({exc})") from None
    if parts.username is not None or parts.password is not None:
        # Not echoed: it may hold a password.
        raise error(f"{name} must not hold user:password@ (it would be logged and saved in the "
                    f"state files); {credentials_hint}")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise error(f"{name}={url!r} must not contain spaces or control characters")
    if parts.scheme not in ("http", "https") or not url.lower().startswith(parts.scheme + "://"):
        raise error(f"{name}={url!r} must be an http:// or https:// address, {example}")
    if not host:
        raise error(f"{name}={url!r} names no host, {example}")
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise error(f"{name}={url!r}: the port must be in 1..65535")
    if "?" in url or "#" in url:
        raise error(f"{name}={url!r} must not have a query or fragment: give the base URL, "
                    f"{example}")
    path = parts.path.rstrip("/")
    if api_path in path + "/":
        raise error(f"{name}={url!r} holds an API path: give the base URL only, {example}")
    from yarl import URL

    try:
        URL(url)
    except (ValueError, TypeError) as exc:
        raise error(f"{name}={url!r} is not a valid URL ({exc})") from None
    return url.rstrip("/")


def sends_secret_in_clear(base_url: str) -> bool:
    """True when `base_url` is http:// to another machine than this one: a secret sent there
    (a token, a password) is readable by anyone on the way.

    This machine is a loopback address written as such (`127.0.0.1`, `[::1]`) or `localhost`
    (and `*.localhost`, which RFC 6761 keeps for it), never a name looked up in DNS: the check
    is made once, at start, and the requests resolve the name again each time, so a name that
    resolved to 127.0.0.1 then could send the token to another machine later (until 2026-12-06
    any name resolving to loopback at start was taken)."""
    parts = urlsplit(base_url)
    if parts.scheme.lower() != "http":
        return False
    return not names_loopback(parts.hostname or "")


def names_loopback(host: str) -> bool:
    """True when `host` is this machine whatever DNS says: a loopback IP address, `localhost`
    or a name under `.localhost`."""
    import ipaddress

    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
