"""The brands a push names (a comment posted in the brand's own space, a Zap on the brand's
Facebook page), through real HTTP: a JSON list, or text as no-code tools send every field
("acme", "acme, boreal"; blank: none), in a JSON body or a form; a bad one is a 400 naming
`brands`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tests.unit.test_webhook_times import Recorder
from veille.collectors.webhook import WebhookCollector
from veille.metrics import CollectorMetrics
from veille.settings import Settings


def post(bodies: list[tuple[str, Any]]) -> tuple[list[tuple[int, Any]], Recorder]:
    """Each (kind, body) POSTed in turn, kind "json" or "form": (status, JSON answer)."""
    settings = Settings.from_env({})

    async def scenario() -> tuple[list[tuple[int, Any]], Recorder]:
        metrics = CollectorMetrics(CollectorRegistry())
        sink = Recorder(settings, "webhook", metrics, ack_timeout=5.0)
        c = WebhookCollector(settings.with_(webhook_port=0), metrics, sink, ack_timeout=5.0)
        await c.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as http:
                for kind, body in bodies:
                    given = {"json": body} if kind == "json" else {"data": body}
                    async with http.post(c.url + "/mentions", **given) as resp:
                        answers.append((resp.status, await resp.json()))
        finally:
            await c.stop()
            await c.close()
        return answers, sink

    return asyncio.run(scenario())


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
    answers, sink = post(bodies)
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
    answers, sink = post(bodies)
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
