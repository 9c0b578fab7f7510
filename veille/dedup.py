"""De-duplication window of one partition: the mention ids enriched recently, bounded in size and age.

Pure: the enrichment stage fills it from what it writes and rebuilds it, when it is assigned a
partition, from the tail of that partition of mentions.enriched (the output itself, not a
changelog), so the window always agrees with what other services have read.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DedupWindow:
    """Mention id -> (first enriched at, source offset on mentions.raw), in two generations.

    New ids go to the current generation; when it holds `max_entries // 2` ids it becomes the
    previous one and the one before is dropped whole. So between `max_entries // 2` and
    `max_entries` of the newest ids are remembered, and an id older than `ttl` seconds is
    forgotten: memory is bounded whatever the input rate.

    Why generations rather than one insertion-ordered dict trimmed by one id per insert: such
    a dict, kept at a constant size under that churn, rebuilds its hash tables every so many
    inserts with the old and new tables alive together, and the process's resident memory
    stepped up with each new high-water mark (bench/soak_inprocess.py: +25 MB over an hour of
    300 mentions/s). Two plain dicts filled and dropped whole repeat the same allocations each
    cycle: flat, and 37 MB smaller on that run.
    """

    ttl: float
    max_entries: int
    #: Raw offsets from `replay_from` to `replay_through`: delivered to an earlier owner, which
    #: enriched through `replay_through` but committed only up to `replay_from` (a crash). A
    #: message redelivered from that range is recognised by its offset alone, even once the
    #: window has forgotten its id (a restart later than the ttl, a batch larger than the
    #: window): it must not be enriched twice. Empty (-1, -1) unless the stage sets it.
    replay_from: int = -1
    replay_through: int = -1
    _new: dict[bytes, tuple[float, int]] = field(default_factory=dict, repr=False)
    _old: dict[bytes, tuple[float, int]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def get(self, key: bytes, now: float) -> tuple[float, int] | None:
        """(enriched at, source offset) of `key` if it is still in the window."""
        entry = self._new.get(key)
        if entry is None:
            entry = self._old.get(key)
            if entry is None:
                return None
        if now - entry[0] > self.ttl:
            self.expire(now)
            return None
        return entry

    def replayed(self, offset: int) -> bool:
        """Whether raw `offset` was enriched by an earlier owner and not committed (see
        `replay_from`)."""
        return 0 <= self.replay_from <= offset <= self.replay_through

    def add(self, key: bytes, at: float, offset: int) -> None:
        """Remember `key`, enriched at `at` from raw `offset`. The first sighting wins while it
        is within the ttl; an older one is replaced (the id was enriched again after the window
        forgot it: that copy is the one later copies are duplicates of)."""
        entry = self._new.get(key) or self._old.get(key)
        if entry is not None:
            if at - entry[0] <= self.ttl:
                return
            self._new.pop(key, None)
            self._old.pop(key, None)
        if len(self._new) >= max(1, self.max_entries // 2):
            self._old, self._new = self._new, {}
        self._new[key] = (at, offset)

    def expire(self, now: float) -> int:
        """Forget the generations whose newest id is older than the ttl; return how many went.

        (An older id of a generation that also holds newer ones stays in memory until its
        generation goes, but `get` no longer returns it.)"""
        gone = 0
        if self._old and now - _newest(self._old) > self.ttl:
            gone += len(self._old)
            self._old = {}
        if self._new and now - _newest(self._new) > self.ttl:
            gone += len(self._new) + len(self._old)
            self._new, self._old = {}, {}
        return gone


def _newest(ids: dict[bytes, tuple[float, int]]) -> float:
    """Time of the last id added to a generation (dicts keep insertion order)."""
    return ids[next(reversed(ids))][0]
