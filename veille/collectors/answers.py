"""The brand's answers a collector saw on a platform, as `replied` decisions on
moderation.decisions (the contract's `answered_on`: streams/schemas/moderation_decision.v1.json).

One shape for every collector that sees them (YouTube, Reddit, Jetstream, Mastodon, the
webhook's `/answers`): the decision for the case of the mention answered (case id = its mention
id), by the account that answered as the platform shows it, at the answer's time there, with its
link; checked as the moderation agent checks a decision before it is written, keyed by the case
id."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from streams.topics import MODERATION_DECISIONS
from veille.collectors.base import Record
from veille.moderation.cases import (
    ANSWERING_DECISION,
    MAX_MODERATOR_CHARS,
    NAME_FORBIDDEN,
    Decision,
    iso,
)
from veille.settings import Settings


def answers_noun(count: int) -> str:
    """"answer" or "answers", as a log line counts them ("1 answer of the brand's ... sent";
    "1 answers" until 2026-12-07)."""
    return "answer" if count == 1 else "answers"


def answer(case_id: str, *, by: str, at: float | datetime, platform: str,
           reason: str | None, now: float | None = None) -> dict[str, Any]:
    """The `replied` decision a brand's answer on `platform` is: `by` the account that answered
    (its characters a moderator's name may not hold taken out, a bidirectional override in a
    display name made the decision `invalid`; cut to a moderator's length; blank: `<platform>
    account`), `at` the answer's time there (Unix seconds or an aware
    datetime), never after `now` (default: the clock), `reason` its link or a word on it (None:
    none). An answer is seen after it was posted: a time ahead is the poster's clock (a Bluesky
    post's createdAt is its device's), and past the moderation agent's 5 minutes it made the
    decision `invalid` (found in review, 2026-12-07)."""
    epoch = at.timestamp() if isinstance(at, datetime) else at
    decided = min(epoch, time.time() if now is None else now)
    name = " ".join(NAME_FORBIDDEN.sub("", by).split())[:MAX_MODERATOR_CHARS] or f"{platform} account"
    decision: dict[str, Any] = {"case_id": case_id, "decision": ANSWERING_DECISION,
                                "moderator": name, "decided_at": iso(decided),
                                "answered_on": platform}
    if reason is not None:
        decision["reason"] = reason
    return decision


def answer_record(settings: Settings, decision: dict[str, Any]) -> Record:
    """`decision` as its record on moderation.decisions, keyed by its case id, once it passed the
    moderation agent's own check (Decision.from_dict: DecisionError if not; an answer the agent
    would ignore as `invalid` is not written)."""
    Decision.from_dict(decision)
    return Record(settings.topic(MODERATION_DECISIONS), decision["case_id"].encode("utf-8"),
                  json.dumps(decision, ensure_ascii=False).encode("utf-8"))
