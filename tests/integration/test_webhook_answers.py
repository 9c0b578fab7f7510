"""POST /answers: the brand's answers seen on a platform, pushed by a no-code tool (Zapier's "New
reply by page"), written as `replied` decisions on moderation.decisions keyed by case id."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from streams.topics import MODERATION_DECISIONS, ensure_topics
from tests.conftest import ROOT
from tests.integration import test_webhook
from tests.integration.test_webhook import SECRET, TOKEN, Served
from tests.kafka_helpers import read_all
from veille.broker import free_port
from veille.collectors.webhook import RETRY_AFTER_SECONDS, sign
from veille.moderation.cases import Decision

pytestmark = pytest.mark.integration

SCHEMA = json.loads((ROOT / "streams/schemas/moderation_decision.v1.json").read_text())
FORM = "application/x-www-form-urlencoded"


serve = test_webhook.serve  # the webhook tests' fixture: a collector served per test


def answer(w: Served, payload: Any = None, *, form: dict[str, str] | None = None,
           token: str | None = TOKEN) -> Any:
    if form is not None:
        return w.post(content=urlencode(form).encode(), content_type=FORM, token=token,
                      path="/answers")
    return w.post(payload, token=token, path="/answers")


def test_answers_become_replied_decisions_keyed_by_case_id(settings, serve) -> None:
    settings = settings.with_(webhook_token=TOKEN, webhook_timezone="Europe/Paris",
                              max_future_seconds=600)
    ensure_topics(settings)
    w = serve(settings)
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)  # IFTTT: minutes
    r = answer(w, {"mention_id": "fb-123", "answered_at": at.isoformat(), "platform": "Facebook",
                   "by": "Acme France", "url": "https://facebook.com/acme/posts/1?comment_id=9"})
    assert r.status_code == 202 and r.json() == {"accepted": 1, "case_ids": ["fb-123"]}, r.text
    # Zapier's default payload type, a form; an IFTTT time read in VEILLE_WEBHOOK_TIMEZONE;
    # no `by` ("<platform> page"); unmapped fields blank.
    paris = at.astimezone(ZoneInfo("Europe/Paris"))
    ifttt = paris.strftime("%B %-d, %Y at %I:%M%p")
    r = answer(w, form={"mention_id": "ig-456", "answered_at": ifttt, "platform": "instagram",
                        "by": "", "url": ""})
    assert r.status_code == 202 and r.json() == {"accepted": 1, "case_ids": ["ig-456"]}, r.text
    r = answer(w, {"answers": [{"mention_id": "li-7", "answered_at": int(at.timestamp()),
                                "platform": "linkedin"}]})
    assert r.status_code == 202 and r.json()["case_ids"] == ["li-7"], r.text

    got = {rec.key.decode(): json.loads(rec.value)
           for rec in read_all(settings, MODERATION_DECISIONS, expect=3)}
    assert set(got) == {"fb-123", "ig-456", "li-7"}
    for value in got.values():
        jsonschema.validate(value, SCHEMA)
        Decision.from_dict(value)
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert got["fb-123"] == {"case_id": "fb-123", "decision": "replied", "moderator": "Acme France",
                             "decided_at": stamp,
                             "reason": "https://facebook.com/acme/posts/1?comment_id=9",
                             "answered_on": "facebook"}
    assert got["ig-456"] == {"case_id": "ig-456", "decision": "replied",
                             "moderator": "instagram page", "decided_at": stamp,
                             "answered_on": "instagram"}
    assert got["li-7"]["decided_at"] == stamp and got["li-7"]["answered_on"] == "linkedin"
    assert w.metric("veille_collector_answers_sent_total") == 3
    assert w.metric("veille_collector_items_sent_total") == 0


def test_answers_refused_name_their_field_and_write_nothing(settings, serve) -> None:
    settings = settings.with_(webhook_token=TOKEN, max_future_seconds=600)
    ensure_topics(settings)
    w = serve(settings)
    now = datetime.now(UTC)
    good = {"mention_id": "fb-1", "answered_at": now.isoformat(), "platform": "facebook"}
    cases = [
        ({k: v for k, v in good.items() if k != "mention_id"}, "missing_field", "mention_id"),
        (dict(good, mention_id=""), "missing_field", "mention_id"),
        (dict(good, platform="Face book"), "invalid_field", "platform"),
        (dict(good, platform="x" * 33), "invalid_field", "platform"),
        (dict(good, text="an unknown field"), "invalid_field", "text"),
        (dict(good, answered_at=(now + timedelta(hours=1)).isoformat()), "invalid_field",
         "answered_at"),
        # Within VEILLE_MAX_FUTURE_SECONDS (600 s here) but past the agent's 5 minutes: it would
        # ignore the decision as `invalid` after a 202 (a tool's clock or time zone off).
        (dict(good, answered_at=(now + timedelta(minutes=8)).isoformat()), "invalid_field",
         "answered_at"),
        (dict(good, answered_at="yesterday"), "invalid_field", "answered_at"),
        (dict(good, answered_at="December 6, 2026 at 07:00AM"), "invalid_field", "answered_at"),
        (dict(good, url="javascript:alert(1)"), "invalid_field", "url"),
        (dict(good, by="\x1b[2J"), "invalid_field", "by"),
        ([good, dict(good, mention_id=None)], "missing_field", "mention_id"),
        ("fb-1", "not_an_object", None),
    ]
    for body, error, field in cases:
        r = answer(w, body)
        assert r.status_code == 400, (body, r.text)
        assert (r.json()["error"], r.json()["field"]) == (error, field), (body, r.json())
        assert r.json()["accepted"] == 0
    assert "'text'" in answer(w, dict(good, text="x")).json()["detail"]
    form = answer(w, form={"mention_id": "fb-1", "platform": "facebook"})
    assert form.status_code == 400 and form.json()["field"] == "answered_at"

    refused = answer(w, good, token=None)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert answer(w, good, token="wrong").status_code == 401
    assert w.metric("veille_collector_items_refused_total", reason="unauthorized") == 2
    assert w.metric("veille_collector_items_refused_total", reason="invalid_field") == 10
    assert w.metric("veille_collector_items_refused_total", reason="missing_field") == 4
    assert w.metric("veille_collector_answers_sent_total") == 0
    assert answer(w, good).status_code == 202  # the one written
    assert [rec.key for rec in read_all(settings, MODERATION_DECISIONS, expect=1)] == [b"fb-1"]


def test_answers_get_503_while_the_broker_does_not_acknowledge(settings, serve) -> None:
    w = serve(settings.with_(broker_url=f"127.0.0.1:{free_port()}"), ack_timeout=1.0)
    r = answer(w, {"mention_id": "fb-1", "answered_at": datetime.now(UTC).isoformat(),
                   "platform": "facebook"}, token=None)
    assert r.status_code == 503, r.text
    assert r.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert r.json()["error"] == "broker_unavailable"
    assert w.metric("veille_collector_answers_sent_total") == 0
    assert w.metric("veille_collector_send_errors_total") == 1


def test_a_signed_answer_is_written_once(settings, serve, caplog) -> None:
    """The HMAC signature and its replay protection are /mentions' own: the same timestamped
    request again is answered 200 `duplicate`, with the answers' `case_ids`, and written once
    (logged as one answer: "1 answers" until 2026-12-07)."""
    caplog.set_level(logging.INFO, logger="veille")
    ensure_topics(settings)
    w = serve(settings.with_(webhook_hmac_secret=SECRET))
    body = json.dumps({"mention_id": "fb-9", "answered_at": datetime.now(UTC).isoformat(),
                       "platform": "facebook"}).encode()
    now = int(time.time())
    h = {"X-Veille-Timestamp": str(now)}
    assert w.post(content=body, path="/answers", headers=h).status_code == 401
    sig = sign(SECRET, body, now)
    first = w.post(content=body, signature=sig, headers=h, path="/answers")
    assert first.status_code == 202 and first.json()["case_ids"] == ["fb-9"], first.text
    again = w.post(content=body, signature=sig, headers=h, path="/answers")
    assert again.status_code == 200 and again.json()["case_ids"] == [] and again.json()["duplicate"]
    assert [rec.key for rec in read_all(settings, MODERATION_DECISIONS, expect=1)] == [b"fb-9"]
    assert [r.getMessage() for r in caplog.records if "sent to" in r.getMessage()] == [
        f"webhook: 1 answer sent to {settings.topic(MODERATION_DECISIONS)}"]
