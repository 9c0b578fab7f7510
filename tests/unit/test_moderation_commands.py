"""`veille moderate decide` refuses bad input with a clear message, before asking the broker."""

from __future__ import annotations

import time

import pytest

from veille.broker import free_port
from veille.moderate.commands import ModerateError, decide
from veille.settings import Settings


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"moderator": "al\udcffice"}, "moderator is not valid Unicode text"),  # argv's surrogateescape
    ({"moderator": "alice", "reason": "\ud800"}, "reason is not valid Unicode text"),
    ({"moderator": ""}, "moderator must be a non-empty string"),
])
def test_decide_refuses_bad_text_without_the_broker(kwargs: dict, words: str) -> None:
    nobody = Settings.from_env({}, broker_url=f"kafka://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ModerateError, match=words):
        decide(nobody, "m1", "approve", **kwargs)
    assert time.monotonic() - started < 5  # no broker round trip
