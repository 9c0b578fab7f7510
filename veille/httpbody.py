"""Request bodies of veille's HTTP servers (webhook collector, moderation API): content codings
and JSON numbers, with the same answers whichever optional modules are installed.

Content codings. The servers run aiohttp with `auto_decompress=False` and undo the coding here:
aiohttp's own decoding depends on the environment (`br` and `zstd` are decoded when the Brotli or
zstd modules are importable, and otherwise fail inside its HTTP parser with a plain-text 400 that
no handler can intercept), and ignores `x-gzip` and every list of codings (`gzip, gzip`): the
bytes pass through still compressed. Here: `identity`, `gzip`, `x-gzip` and `deflate`
(zlib-wrapped, or raw as some clients send it), one coding per request, whole (a truncated stream
or bytes after its end are refused);
anything else is refused from the headers alone (415, before the body is read), and the decoded
size is bounded like the body itself.

Logs. aiohttp's own error lines keep the exception's type alone (aiohttp_errors_by_type).

Idle connections. Both servers pass IDLE_SECONDS to aiohttp as its keep-alive timeout: a
connection that sends no whole request's headers within it is closed.

Listening. `listen` starts either server's aiohttp runner, its own error when it cannot.

`Expect: 100-continue`. A client that sends it waits for `100 Continue` before it sends the body;
aiohttp's own Expect handler sends it whatever the request, and the refusal (401, 413, 415) only
comes after the body was sent. `expect_continue` is the Expect handler of both servers: their
header checks first, the refusal instead of the `100 Continue` (JSON, as every other answer).

Numbers. Python refuses to convert an integer of more than `sys.get_int_max_str_digits()` digits
(4,300 by default): `json.loads` then raises a ValueError that is not a JSONDecodeError, for a body
that is valid JSON. `loads` parses such a body again with each too-long integer replaced by a
`TooLongNumber`, so that the caller can name where it is (`find_too_long`).
"""

from __future__ import annotations

import json
import logging
import sys
import zlib
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

#: A connection is closed this many seconds after it opened, or after its last answer, unless a
#: whole request's headers arrived meanwhile (aiohttp's keep-alive timeout, which also bounds a
#: request still arriving: its headers sent a line at a time, or nothing at all). aiohttp's own
#: default, 3,630 s, let anyone hold a socket of a public server for an hour per connection
#: (found in review, 2026-12-06). The body has its own bound (the webhook's BODY_READ_SECONDS).
IDLE_SECONDS = 60.0
#: The content codings a request body may have, in the order they are named to clients.
SUPPORTED_CODINGS = ("identity", "gzip", "x-gzip", "deflate")
#: At most this many concatenated gzip/deflate members in one body (aiohttp's own bound).
MAX_MEMBERS = 1024
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def json_error(status: int, error: str, detail: str, headers: dict[str, str] | None = None,
               **extra: Any) -> web.Response:
    """The servers' error answer: `{"error": <code>, "detail": <for people>, ...extra}`."""
    return web.json_response({"error": error, "detail": detail, **extra}, status=status,
                             headers=headers)


async def expect_continue(request: web.Request,
                          precheck: Callable[[web.Request], web.StreamResponse | None],
                          log: logging.Logger, server: str) -> web.StreamResponse | None:
    """An aiohttp `expect_handler`: refuse from the headers, before the client sends its body.

    `precheck(request)` is the server's own check of the headers (credentials, size, content
    type and coding): its refusal is the answer, instead of the `100 Continue`, and so is a 417
    for an Expect value other than `100-continue`. A refusal says `Connection: close`: the
    client sends no body on that connection (aiohttp still reads and discards whatever comes
    during its lingering time, then closes it). Otherwise `100 Continue` is sent
    (HTTP/1.1 only, as aiohttp does) and the handler reads the body. The Expect handler runs
    outside the middlewares: an unexpected error is logged on `log` by type and answered with
    a bare 500, like theirs.
    """
    try:
        refused = precheck(request)
        if refused is None and request.headers.get("Expect", "").lower() != "100-continue":
            refused = json_error(417, "expectation_failed", "only Expect: 100-continue is supported")
        if refused is not None:
            refused.force_close()  # Connection: close: the body is not awaited
            return refused
        if request.version >= (1, 1):
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        return None
    except Exception as exc:
        log.error("%s: internal error in the Expect handler (%s)", server, type(exc).__name__)
        return web.json_response({"error": "internal"}, status=500)


async def listen(app: web.Application, host: str, port: int, error: type[Exception],
                 **options: Any) -> web.AppRunner:
    """`app` served on `host` (all addresses when empty) and `port` (0: any free one), its
    runner made with `options`; `error` when it cannot listen there (the port taken...)."""
    runner = web.AppRunner(app, **options)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return runner


class TypeOnly(logging.Filter):
    """Log lines of aiohttp's own error handling keep the exception type, never a traceback:
    its parser's exceptions quote the offending header line (an Authorization header with a
    stray byte: the token), and frames could hold request data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "error"
            record.msg = f"{record.getMessage()} ({kind})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


_TYPE_ONLY = TypeOnly()


def aiohttp_errors_by_type() -> None:
    """Put TypeOnly on aiohttp's server loggers (once: addFilter keeps no duplicate). Both
    servers call it at start: the moderation API did not until 2026-12-06, and a request its
    parser refused was an ERROR traceback quoting the header line, token included."""
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access"):
        logging.getLogger(name).addFilter(_TYPE_ONLY)


class BodyTooLarge(Exception):
    """The body decodes to more bytes than allowed."""


class UndecodableBody(Exception):
    """The body does not decode as its Content-Encoding says (the message says how, briefly)."""


def content_coding(values: Iterable[str]) -> tuple[str, str | None]:
    """The coding of a body from its Content-Encoding header values (all of them, in order).

    Returns (coding, None) for a supported coding ("identity" when there is none), or
    (the value as given, what is wrong) otherwise. `identity` in a list is no coding at all;
    more than one other coding (`gzip, gzip`) is refused.
    """
    given = ", ".join(v.strip() for v in values).strip()
    codings = [t.strip().lower() for t in given.split(",")]
    codings = [t for t in codings if t and t != "identity"]
    if not codings:
        return "identity", None
    supported = ", ".join(SUPPORTED_CODINGS)
    shown = given[:60]
    if len(codings) > 1:
        return shown, (f"Content-Encoding {shown!r} applies {len(codings)} codings; one at most is "
                       f"supported: {supported}")
    if codings[0] not in _WBITS:
        return shown, f"Content-Encoding {shown!r} is not supported; supported: {supported}"
    return codings[0], None


def accept_encoding() -> str:
    """The Accept-Encoding header of a 415 for a content coding (RFC 9110, 15.5.16)."""
    return ", ".join(SUPPORTED_CODINGS)


def decode(body: bytes, coding: str, limit: int) -> bytes:
    """`body` with its content coding undone, at most `limit` bytes once decoded.

    Raises BodyTooLarge beyond `limit`, UndecodableBody when the bytes are not what the coding
    says (including a truncated stream or bytes after the last member). An empty body is empty.
    """
    if coding == "identity" or not body:
        return body
    wbits = _WBITS[coding]
    if coding == "deflate" and body[0] & 0x0F != 8:  # raw deflate, without the zlib header
        wbits = -zlib.MAX_WBITS
    out: list[bytes] = []
    size = 0
    data = body
    for member in range(MAX_MEMBERS):
        after = f"bytes after the end of the {coding} data" if member else None
        inflater = zlib.decompressobj(wbits)
        pending = data
        try:
            while True:
                # max_length > 0 always (size <= limit): 0 would mean "no limit".
                chunk = inflater.decompress(pending, limit + 1 - size)
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(f"the body decodes to more than {limit} bytes")
                out.append(chunk)
                pending = inflater.unconsumed_tail
                if inflater.eof or not pending:
                    break
        except zlib.error:
            raise UndecodableBody(after or f"not valid {coding} data") from None
        if not inflater.eof:
            raise UndecodableBody(after or f"truncated {coding} data")
        data = inflater.unused_data
        if not data:
            return b"".join(out)
    raise UndecodableBody(f"more than {MAX_MEMBERS} {coding} members")


class TooLongNumber:
    """A JSON integer with more digits than Python converts (`sys.get_int_max_str_digits()`)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def describe(self) -> str:
        """`a number too long (5000 digits, at most 4300)`."""
        return f"a number too long ({self.digits} digits, at most {sys.get_int_max_str_digits()})"

    def __repr__(self) -> str:
        return f"TooLongNumber({self.digits} digits)"


def _int_or_marker(text: str) -> int | TooLongNumber:
    try:
        return int(text)
    except ValueError:
        return TooLongNumber(len(text.lstrip("-")))


def loads(text: str, *, strict: bool = True) -> tuple[Any, bool]:
    """`json.loads(text)`, and whether the value holds TooLongNumber markers. `strict=False`
    lets strings hold raw control characters (a newline, a tab), as json.loads's own `strict`.

    Raises what json.loads raises otherwise (JSONDecodeError, RecursionError)."""
    try:
        return json.loads(text, strict=strict), False
    except json.JSONDecodeError:
        raise
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        value = json.loads(text, parse_int=_int_or_marker, strict=strict)
        if find_too_long(value) is None:
            raise
        return value, True


def find_too_long(value: Any) -> tuple[str | None, TooLongNumber] | None:
    """The first TooLongNumber in `value`, in document order, with its path (`audience.likes`,
    `tags[2]`; None for `value` itself), or None. Iterative: the nesting depth is the client's."""
    stack: list[tuple[str | None, Any]] = [(None, value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, TooLongNumber):
            return path, node
        if isinstance(node, dict):
            children = [(str(k) if path is None else f"{path}.{k}", v) for k, v in node.items()]
        elif isinstance(node, list):
            children = [(f"{path or ''}[{i}]", v) for i, v in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
    return None
