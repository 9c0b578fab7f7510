"""Request bodies of the HTTP servers: content codings undone here with bounded output, the
unsupported ones named, and JSON integers too long for Python located instead of "not JSON"."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from veille.httpbody import (
    MAX_MEMBERS,
    BodyTooLarge,
    TooLongNumber,
    UndecodableBody,
    content_coding,
    decode,
    find_too_long,
    loads,
)

BODY = b'{"text": "Acme"}' * 50


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()



def gz(data: bytes) -> bytes:
    """gzip with a fixed header time: parameters must be the same in every pytest-xdist worker
    (a compressed body stamped with the current second differed between them, and the run
    stopped at collection)."""
    return gzip.compress(data, mtime=0)

@pytest.mark.parametrize(("values", "coding"), [
    ([], "identity"), ([""], "identity"), (["identity"], "identity"), (["GZip"], "gzip"),
    ([" x-gzip "], "x-gzip"), (["deflate"], "deflate"), (["gzip", "identity"], "gzip"),
    (["identity, deflate"], "deflate"),
])
def test_supported_codings(values: list[str], coding: str) -> None:
    assert content_coding(values) == (coding, None)


@pytest.mark.parametrize(("values", "words"), [
    (["foo"], "'foo' is not supported"), (["br"], "'br' is not supported"),
    (["zstd"], "'zstd' is not supported"), (["compress"], "not supported"),
    (["gzip;q=1"], "not supported"), (["gzip, gzip"], "applies 2 codings"),
    (["gzip", "deflate"], "'gzip, deflate' applies 2 codings"),
])
def test_unsupported_codings_are_named_with_the_supported_ones(values: list[str], words: str) -> None:
    _, problem = content_coding(values)
    assert problem is not None and words in problem
    assert problem.endswith("identity, gzip, x-gzip, deflate")


@pytest.mark.parametrize(("coding", "encoded"), [
    ("identity", BODY), ("gzip", gz(BODY)), ("x-gzip", gz(BODY)),
    ("deflate", zlib.compress(BODY)), ("deflate", raw_deflate(BODY)),
    ("gzip", gz(BODY[:100]) + gz(BODY[100:])),  # two members
])
def test_decode(coding: str, encoded: bytes) -> None:
    assert decode(encoded, coding, len(BODY)) == BODY
    assert decode(b"", coding, 10) == b""


def test_decoded_size_is_bounded_without_inflating_everything() -> None:
    bomb = gz(b"\0" * 50_000_000)  # 48 KiB that inflate to 50 MB
    with pytest.raises(BodyTooLarge, match="more than 1000 bytes"):
        decode(bomb, "gzip", 1000)
    with pytest.raises(BodyTooLarge):
        decode(gz(BODY), "gzip", len(BODY) - 1)
    with pytest.raises(BodyTooLarge):  # the bound spans the members
        decode(gz(BODY) * 2, "gzip", len(BODY) + 1)


@pytest.mark.parametrize(("coding", "encoded", "words"), [
    ("gzip", b"not gzip at all", "not valid gzip data"),
    ("gzip", gz(BODY)[:-6], "truncated gzip data"),
    ("gzip", gz(BODY) + b"trailing", "bytes after the end of the gzip data"),
    ("deflate", b"x\x9cnot deflate", "not valid deflate data"),
    ("deflate", zlib.compress(BODY)[:-3], "truncated deflate data"),
    ("x-gzip", gz(b"") * (MAX_MEMBERS + 1), f"more than {MAX_MEMBERS} x-gzip members"),
])
def test_undecodable_bodies_say_how(coding: str, encoded: bytes, words: str) -> None:
    with pytest.raises(UndecodableBody, match=words):
        decode(encoded, coding, 10_000)


def test_a_too_long_integer_is_located_not_invalid_json() -> None:
    long = "9" * 5000
    with pytest.raises(ValueError, match="Exceeds the limit"):  # what json.loads says
        json.loads(long)
    assert loads('{"a": [1, 2.5, "x"]}') == ({"a": [1, 2.5, "x"]}, False)
    value, marked = loads('[{"a": 1}, {"audience": {"likes": 3, "shares": -' + long + "}}]")
    assert marked
    path, number = find_too_long(value[1]) or (None, None)
    assert path == "audience.shares" and isinstance(number, TooLongNumber)
    assert number.describe() == "a number too long (5000 digits, at most 4300)"
    assert find_too_long(value[0]) is None
    assert find_too_long(loads('{"tags": [0, ' + long + "]}")[0])[0] == "tags[1]"  # type: ignore[index]
    assert find_too_long(loads(long)[0])[0] is None  # type: ignore[index]
    # Invalid JSON stays invalid JSON; floats convert (to inf beyond a float's range).
    with pytest.raises(json.JSONDecodeError):
        loads('{"a": ' + long + ",")
    assert loads("1" * 5000 + ".5") == (float("inf"), False)


def test_find_too_long_does_not_recurse() -> None:
    deep = "[" * 900 + "9" * 5000 + "]" * 900  # json.loads' own recursion allows this much
    value, marked = loads(deep)
    found = find_too_long(value)
    assert marked and found is not None and found[0] == "[0]" * 900
