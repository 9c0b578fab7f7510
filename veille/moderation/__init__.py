"""Moderation vocabulary: the bounded label sets shared by triage, cases and the watch list's charters."""

# Constants only, no imports: veille.rules validates charters against them while
# veille.moderation.triage imports veille.rules, so anything more here would be a cycle.

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

#: Orders of the pending list (CaseView.pending): queue time, or answer deadline.
SORTS = ("queued", "respond_by")

__all__ = ["ACTIONS", "ACTION_RANK", "CATEGORIES", "CLOSING_DECISIONS", "DECISIONS", "METRIC_CATEGORIES",
           "NO_CATEGORY", "SEVERITIES", "SORTS"]
