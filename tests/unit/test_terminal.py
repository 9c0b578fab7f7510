"""Text from records made safe to print: control characters, bidirectional controls, line
separators and lone surrogates spelt as escapes, everything else as it is."""

from __future__ import annotations

import json

from veille.terminal import printable


def test_what_a_terminal_or_a_line_reader_would_act_on_is_escaped() -> None:
    line = json.dumps({"text": "a\u2028b\u2029c\x1b[2J\u202egnp.exe\x85"}, ensure_ascii=False)
    shown = printable(line)
    assert shown == '{"text": "a\\u2028b\\u2029c\\u001b[2J\\u202egnp.exe\\u0085"}'
    assert len(shown.splitlines()) == 1  # str.splitlines broke the JSON line on U+2028
    assert json.loads(shown) == json.loads(line)  # still the same JSON


def test_ordinary_text_is_left_alone_and_lone_surrogates_do_not_raise() -> None:
    text = "Zoë répond à @acme_fr 😡 — “vraiment” ‹ok› ½"
    assert printable(text) == text
    assert printable("a\ud800b") == "a\\ud800b"


def test_json_safe_writes_nan_and_infinities_as_null_at_any_depth() -> None:
    """`veille alerts --json` prints NaN as null (README): another producer's NaN or infinity
    made Python's json.dumps write NaN/Infinity, which is not JSON (jq refuses the line)."""
    from veille.terminal import json_safe

    def strict(text: str) -> object:
        def refuse(name: str) -> object:
            raise ValueError(f"not standard JSON: {name}")
        return json.loads(text, parse_constant=refuse)

    event = {"expected_negative": float("nan"), "observed_negative": 3,
             "negative_share": float("inf"), "top": [{"score": float("-inf"), "n": 0.5}],
             "nested": {"z": [1, float("nan"), "nan"]}, "ok": True, "none": None}
    assert strict(json.dumps(json_safe(event))) == {
        "expected_negative": None, "observed_negative": 3, "negative_share": None,
        "top": [{"score": None, "n": 0.5}], "nested": {"z": [1, None, "nan"]}, "ok": True,
        "none": None}
