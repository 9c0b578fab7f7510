"""parse_epoch's direct parsing of veille's own times (iso's "...T..:..:..mmmZ") against the
general way (_epoch): the same seconds, and the same errors, on random times and near misses."""

from __future__ import annotations

import random

import pytest

from veille.moderation.cases import DecisionError, _epoch, iso, parse_epoch


def outcome(fn, value):  # type: ignore[no-untyped-def]
    try:
        return ("ok", fn(value, "decided_at"))
    except DecisionError as exc:
        return ("error", exc.reason, exc.detail)


def near_misses(rng: random.Random, text: str) -> list[str]:
    """The text with one character changed, dropped or doubled, padded, or its fields pushed
    out of range: what the direct parser might take otherwise than the general way."""
    out = [f" {text[1:]}", f"{text[:-2]} Z", text.replace("Z", "z"), text[:-1] + "+",
           "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z", "10000-01-01T00:00:00.00Z",
           "2026-02-30T00:00:00.000Z", "2026-12-06T24:00:00.000Z", "2026-12-06t23:19:15.371Z",
           "2026-12-06T23:19:15,371Z", "2026-12-06T23:19:15.3710", "２026-12-06T23:19:15.371Z"]
    for _ in range(20):
        i = rng.randrange(len(text))
        c = rng.choice("0123456789-:.TZ +ë")
        out += [text[:i] + c + text[i + 1:], text[:i] + text[i + 1:], text[:i] + c + text[i:]]
    return out


@pytest.mark.parametrize("seed", range(5))
def test_the_same_as_the_general_way(seed: int) -> None:
    rng = random.Random(seed)
    checked = 0
    for _ in range(400):
        text = iso(rng.uniform(-62135596800.0, 253402300799.0))
        assert len(text) == 24
        for value in [text, *near_misses(rng, text)]:
            assert outcome(parse_epoch, value) == outcome(_epoch, value), value
            checked += 1
    assert checked > 10_000
