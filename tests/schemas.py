"""The published JSON Schemas, as consumers read them and as the producer is held to them.

The consumer-facing schemas (mentions.enriched, reputation.alerts) allow fields they do not
name, so that a field added within a version breaks no consumer validating with an older copy.
veille itself must write nothing they do not name: `strict` adds `additionalProperties: false`
to every object schema that lists its properties, and the tests validate what veille writes
against that."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.conftest import ROOT

SCHEMAS = ROOT / "streams" / "schemas"


def published(name: str) -> dict[str, Any]:
    """streams/schemas/`name` as shipped."""
    return json.loads((SCHEMAS / name).read_text())  # type: ignore[no-any-return]


def _close(node: Any) -> None:
    """`additionalProperties: false` on `node` if it lists its properties, and on the object
    schemas inside it: its properties', items', definitions' and alternatives' (oneOf, anyOf);
    not on the partial constraints of allOf, if and then, which name a field or two."""
    if isinstance(node, list):
        for value in node:
            _close(value)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("properties"), dict):
        node.setdefault("additionalProperties", False)
    for key in ("properties", "$defs"):
        for value in (node.get(key) or {}).values():
            _close(value)
    for key in ("items", "oneOf", "anyOf"):
        if key in node:
            _close(node[key])


def strict(name: str) -> dict[str, Any]:
    """streams/schemas/`name` allowing no field it does not name, at any depth: what veille
    must write."""
    schema = copy.deepcopy(published(name))
    _close(schema)
    return schema
