"""The brand's answers as collectors write them (veille/collectors/answers.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from tests.schemas import published
from veille.collectors.answers import answer, answer_record
from veille.moderation.cases import (
    MAX_CLOCK_SKEW_SECONDS,
    Decision,
    DecisionError,
    apply_decision,
    open_case,
)
from veille.moderation.cases import iso as epoch_iso
from veille.moderation.triage import Triage
from veille.settings import Settings

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()


def test_an_answer_is_a_replied_decision_keyed_by_its_case() -> None:
    decision = answer("yt-1", by="@Acme" + "e" * 200, at=NOW - 60, platform="youtube",
                      reason="https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=Ugx", now=NOW)
    assert decision == {"case_id": "yt-1", "decision": "replied", "moderator": ("@Acme" + "e" * 200)[:128],
                        "decided_at": epoch_iso(NOW - 60), "answered_on": "youtube",
                        "reason": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=Ugx"}
    record = answer_record(Settings.from_env({}, topic_prefix="t."), decision)
    assert (record.topic, record.key) == ("t.moderation.decisions", b"yt-1")
    jsonschema.validate(json.loads(record.value), published("moderation_decision.v1.json"))
    assert "reason" not in answer("x", by="b", at=NOW, platform="reddit", reason=None, now=NOW)


@pytest.mark.parametrize("ahead", [1, MAX_CLOCK_SKEW_SECONDS + 1, 1200, 86400 * 365])
def test_an_answer_is_never_dated_after_it_was_seen(ahead: float) -> None:
    """A reply dated ahead (its poster's clock: a Bluesky post's createdAt is its device's) is
    dated when the collector saw it: past the agent's 5 minutes it was `invalid`, ignored."""
    for at in (NOW + ahead, datetime.fromtimestamp(NOW + ahead, UTC)):
        decision = answer("c", by="@acme", at=at, platform="bluesky", reason=None, now=NOW)
        assert decision["decided_at"] == epoch_iso(NOW)
        # The agent, applying it as soon as it is written, takes it.
        case = open_case("c", "acme", Triage(("needs_answer",), "low", "respond", ()),
                         language="en", negative=True, created_at=NOW - 600, now=NOW - 300)
        assert apply_decision(case, decision, now=NOW).closed
    past = answer("c", by="@acme", at=datetime.fromtimestamp(NOW, UTC) - timedelta(days=2),
                  platform="bluesky", reason=None, now=NOW)
    assert past["decided_at"] == epoch_iso(NOW - 2 * 86400)  # an early time is its own


def test_an_answer_the_agent_would_refuse_is_not_a_record() -> None:
    """What a moderator's name may not hold is taken out of the account's display name (the
    agent refused the whole decision: the answer was lost); a platform name that is none makes
    no record."""
    for by, shown in (("Acme\u202e Support\x1b", "Acme Support"), ("\u2066\n ", "x account")):
        decision = answer("c", by=by, at=NOW, platform="x", reason=None, now=NOW)
        assert decision["moderator"] == shown
        answer_record(Settings.from_env({}), decision)
    with pytest.raises(DecisionError):
        answer_record(Settings.from_env({}), answer("c", by="acme", at=NOW, platform="Face Book",
                                                    reason=None, now=NOW))
    Decision.from_dict(answer("c", by="acme", at=NOW, platform="facebook", reason=None, now=NOW))
