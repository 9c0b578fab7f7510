"""form_mention: an application/x-www-form-urlencoded body (Zapier's "Form" payload type) as the
JSON object of one mention, parsed as the URL standard says."""

from __future__ import annotations

import pytest

from streams.records import InvalidMention
from veille.collectors.webhook import form_mention, is_utf8


def test_pairs_are_read_as_the_url_standard_says() -> None:
    body = b"text=a+b%2Bc%26d%3De&&author=&flag&url=100%zz&audience__likes=1%2C234&audience__views=&"
    assert form_mention(body) == {"text": "a b+c&d=e", "author": "", "flag": "", "url": "100%zz",
                                  "audience": {"likes": "1,234", "views": ""}}
    assert form_mention(b"") == {}
    assert form_mention("text=Bor%C3%A9al caf\u00e9".encode()) == {"text": "Boréal café"}


@pytest.mark.parametrize("body, reason, field", [
    (b"text=a&text=b", "invalid_field", "text"),
    (b"text=a&audience__likes=1&audience__likes=2", "invalid_field", "audience__likes"),
    (b"text=a&audience=12&audience__likes=2", "invalid_field", "audience"),
    (b"text=caf%E9", "undecodable_bytes", "text"),
    (b"caf%E9=x", "undecodable_bytes", None),
])
def test_what_cannot_be_one_mention_is_named(body: bytes, reason: str, field: str | None) -> None:
    with pytest.raises(InvalidMention) as caught:
        form_mention(body)
    assert (caught.value.reason, caught.value.field) == (reason, field)


def test_only_utf8_charsets_are_taken() -> None:
    assert all(is_utf8(c) for c in (None, "utf-8", "UTF-8", "utf8", '"utf-8"', "utf_8"))
    assert not any(is_utf8(c) for c in ("iso-8859-1", "windows-1252", "utf-16", ""))
