"""The brands a push names (a comment posted in the brand's own space, a Zap on the brand's
Facebook page), through real HTTP: a JSON list, or text as no-code tools send every field
("acme", "acme, boreal"; blank: none), in a JSON body or a form; a bad one is a 400 naming
`brands`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.webhook_helpers import post
from veille.settings import Settings


def comment(i: str, **fields: Any) -> dict[str, Any]:
    return {"id": i, "platform": "facebook", "text": "third time my delivery is late",
            "created_at": datetime.now(UTC).isoformat(), **fields}


@pytest.mark.parametrize(("brands", "kept"), [
    (["acme", "boreal", "acme"], ("acme", "boreal")), ("acme", ("acme",)),
    (" acme , boreal,", ("acme", "boreal")), ("", ()), ("  ", ()), (None, ()), ([], ()),
])
def test_the_brands_of_a_push_are_taken_from_json_and_forms(brands: Any, kept: tuple) -> None:
    bodies: list[tuple[str, Any]] = [("json", comment("j", brands=brands))]
    if isinstance(brands, str):
        bodies.append(("form", comment("f", brands=brands)))
    answers, sink = post(Settings.from_env({}), bodies)
    assert [status for status, _ in answers] == [202] * len(bodies)
    assert {m.id: m.brands for m in sink.written.values()} == {i: kept for i, _ in
                                                                zip("jf", bodies, strict=False)}
    written = sink.written["j"].to_dict()
    assert written.get("brands") == (list(kept) or None)


@pytest.mark.parametrize(("brands", "said"), [
    ("Acme", "brands[0] is 'Acme', not a brand id"), ("acme; boreal", "not a brand id"),
    (12, "brands must be a list of brand ids or null, not int"),
    (",".join(f"b{n}" for n in range(21)), "at most 20"),
])
def test_brands_that_are_no_brand_ids_are_a_400_naming_the_field(brands: Any, said: str) -> None:
    bodies: list[tuple[str, Any]] = [("json", {"mentions": [comment("ok"), comment("j", brands=brands)]})]
    if isinstance(brands, str):
        bodies.append(("form", comment("f", brands=brands)))
    answers, sink = post(Settings.from_env({}), bodies)
    for status, answer in answers:
        assert status == 400 and answer["error"] == "invalid_field" and answer["field"] == "brands"
        assert said in answer["detail"]
    assert answers[0][1]["index"] == 1 and sink.written == {}  # all or nothing


def test_brand_list_reads_text_and_leaves_the_rest_to_the_validation() -> None:
    from veille.collectors.flat import brand_list

    assert brand_list("acme") == ["acme"]
    assert brand_list("acme, boreal") == ["acme", "boreal"]
    assert brand_list(" , ") is None and brand_list("") is None
    assert brand_list(["acme"]) == ["acme"] and brand_list(None) is None and brand_list(3) == 3
