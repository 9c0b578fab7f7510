"""Moderation vocabulary: the bounded label sets shared by triage, cases and the watch list's charters,
and Triage, what triage made of a mention."""

# Constants and one plain record, no import of veille: veille.rules validates charters against
# them while veille.moderation.triage imports veille.rules, so anything more here would be a
# cycle. Triage lives here, not beside the rules, so the moderator tools (cases, the queue's
# records) read triage results without compiling triage's patterns: about 0.19 s at import,
# on every `veille moderate` command (2026-12-06).

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Triage categories, in reporting order (Prometheus label values).
CATEGORIES = ("insult", "threat", "hate", "spam", "aggressive", "detractor", "needs_answer")
#: Severity levels, weakest first.
SEVERITIES = ("none", "low", "medium", "high")
#: What a moderator should do. When several apply the strongest wins: hide > review > respond > none.
ACTIONS = ("none", "review", "respond", "hide")
#: Strength of each action, for picking the strongest.
ACTION_RANK = {"none": 0, "respond": 1, "review": 2, "hide": 3}
#: The category label of a case with no triage category (queued for a banned term of the charter).
NO_CATEGORY = "none"
#: Category label values of the moderation metrics: a case counts once per category, or once
#: under NO_CATEGORY.
METRIC_CATEGORIES = (*CATEGORIES, NO_CATEGORY)
#: A moderator's decisions on a case (veille.moderation.cases): approve, reject and replied close
#: it; escalate, assign (take it, or give it to someone) and unassign keep it pending.
DECISIONS = ("approve", "reject", "escalate", "replied", "assign", "unassign")
#: The decisions that close a case.
CLOSING_DECISIONS = ("approve", "reject", "replied")
#: The most cases one request decides at once (`veille moderate decide ID ID...`, the moderation
#: page's bulk form): a bot wave's hundreds, in one batch the broker acknowledges well within
#: its timeout, and a screenful of lines.
MAX_BULK_IDS = 500

#: Orders of the pending list (CaseView.pending): queue time, or answer deadline.
SORTS = ("queued", "respond_by")


@dataclass(frozen=True, slots=True)
class Triage:
    """What triage made of one mention: categories in CATEGORIES order, why, and what to do."""

    categories: tuple[str, ...]
    severity: str
    action: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"categories": list(self.categories), "severity": self.severity,
                "action": self.action, "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Triage:
        return cls(tuple(d["categories"]), d["severity"], d["action"], tuple(d["reasons"]))


__all__ = ["ACTIONS", "ACTION_RANK", "CATEGORIES", "CLOSING_DECISIONS", "DECISIONS",
           "MAX_BULK_IDS", "METRIC_CATEGORIES",
           "NO_CATEGORY", "SEVERITIES", "SORTS", "Triage"]
